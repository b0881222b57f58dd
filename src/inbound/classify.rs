//! Mail written by machines never becomes a message nor triggers notifications.
//!
//! [`classify`] looks, in this order, for:
//!
//! 1. **Delivery status notifications** (RFC 3464 `multipart/report;
//!    report-type=delivery-status`): a [`Bounce`] with the failed recipient, status, diagnostic
//!    and the Message-ID of the returned original.
//! 2. **Loops**: our own notification address in From, an `X-Threadgate-Loop` header (any
//!    value), or one of our own Message-IDs as the message's Message-ID (our notification
//!    reflected back to us).
//! 3. **Plain-text bounces** (no `multipart/report`): an `X-Failed-Recipients` header (Exim),
//!    From `MAILER-DAEMON`, From `postmaster` or the null sender together with a bounce subject
//!    or a bounce body (qmail's "This is the qmail-send program…", Sendmail's "permanent fatal
//!    errors"…). Fields are read from the text of the report.
//! 4. **Responders** (out of office, vacation): `Auto-Submitted: auto-replied` (RFC 3834 §5),
//!    `X-Autoreply`, `X-Autorespond`, `X-Autoresponder`, `Precedence`/`X-Precedence:
//!    auto_reply`, Exchange inbox rules (`X-MS-Exchange-Inbox-Rules-Loop`,
//!    `X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent`) and localized subjects
//!    ("Automatic reply:", "Réponse automatique :", "Abwesenheitsnotiz:"…, see
//!    [`auto_reply_subject`]).
//! 5. **A machine answering our machine**: `Auto-Submitted: auto-generated` in answer to one of
//!    our Message-IDs (In-Reply-To/References) is a [`Machine::Loop`].
//! 6. **Other automatic mail**: any other `Auto-Submitted` value but `no`, `Precedence:
//!    bulk|junk|list`, `List-Id`/`List-Unsubscribe` (a newsletter is not a reply), other Exchange
//!    generated messages, and non-delivery reports such as read receipts
//!    (`report-type=disposition-notification`).
//! 7. **The null envelope sender** (RFC 5321 §4.5.5) with none of the above: a bounce.
//!
//! Deliberately *not* signs of a machine: `X-Auto-Response-Suppress` (Outlook sets it on
//! ordinary mail), `X-Mailer` (no autoresponder product name is reliable enough, and people
//! write from every client), other `X-MS-Exchange-*` transport headers, and words in the body
//! (people write "I was out of office last week").

use super::parse::ParsedEmail;
use crate::domain::EmailAddress;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Machine {
    /// An automatic answer (out of office, vacation, "we received your request"), a newsletter
    /// or another automatic report.
    AutoReply(String),
    Bounce(Bounce),
    /// Our own mail coming back to us, or a machine answering our notification.
    Loop(String),
}

/// What a delivery failure report says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bounce {
    /// The address that failed, lowercased: Original-Recipient (what we sent to) when the
    /// report has it, else Final-Recipient, else `X-Failed-Recipients` or the report's text.
    pub recipient: Option<String>,
    /// RFC 3463 status, e.g. `5.1.1`; derived from the diagnostic when the report has no Status
    /// (`550 5.1.1 …` gives `5.1.1`; a bare `552 …` gives `5.0.0`).
    pub status: Option<String>,
    pub diagnostic: Option<String>,
    /// 5.x.x (or a 5xx SMTP reply when there is no status): the address will never work.
    /// 4.x.x, delayed, or unknown: it may work later.
    pub permanent: bool,
    /// Why we think this is a bounce (for the inbound record).
    pub reason: String,
    /// The RFC 3464 Action of the recipient reported on (`failed`, `delayed`, `delivered`,
    /// `relayed`, `expanded`), lowercased, when the report says.
    pub action: Option<String>,
    /// The Message-ID (without angle brackets) of the returned original: one of ours when the
    /// report is about a notification we sent.
    pub original_message_id: Option<String>,
}

impl Bounce {
    /// False for reports that say the mail was delivered, relayed or expanded (RFC 3464 §2.3.3
    /// success notifications): nothing failed, so no address should be marked.
    pub fn is_delivery_failure(&self) -> bool {
        !matches!(
            self.action.as_deref(),
            Some("delivered" | "relayed" | "expanded")
        )
    }
}

impl Machine {
    /// A one-line description for the inbound record.
    pub fn detail(&self) -> String {
        match self {
            Machine::AutoReply(why) | Machine::Loop(why) => why.clone(),
            Machine::Bounce(b) => {
                let mut parts = vec![b.reason.clone()];
                if let Some(a) = &b.action {
                    parts.push(format!("action {a}"));
                }
                if let Some(r) = &b.recipient {
                    parts.push(format!("recipient {r}"));
                }
                if let Some(s) = &b.status {
                    parts.push(format!("status {s}"));
                }
                if let Some(d) = &b.diagnostic {
                    parts.push(format!("diagnostic: {d}"));
                }
                if let Some(id) = &b.original_message_id {
                    parts.push(format!("original <{id}>"));
                }
                parts.join("; ")
            }
        }
    }
}

pub fn classify(
    parsed: &ParsedEmail,
    envelope_from: &str,
    own_address: &EmailAddress,
) -> Option<Machine> {
    if parsed.is_delivery_report || report_type(parsed).as_deref() == Some("delivery-status") {
        return Some(Machine::Bounce(report_bounce(parsed)));
    }
    if let Some(why) = loop_sign(parsed, own_address) {
        return Some(Machine::Loop(why));
    }
    let null_sender = is_null_sender(envelope_from);
    if let Some(reason) = plain_bounce_sign(parsed, null_sender) {
        return Some(Machine::Bounce(plain_bounce(parsed, reason)));
    }
    if let Some(why) = responder_sign(parsed) {
        return Some(Machine::AutoReply(why));
    }
    if auto_submitted(parsed).any(|v| v == "auto-generated")
        && parsed.in_reply_to.iter().any(|id| is_our_message_id(id))
    {
        return Some(Machine::Loop(
            "auto-generated answer to one of our notifications".into(),
        ));
    }
    if let Some(why) = automatic_sign(parsed) {
        return Some(Machine::AutoReply(why));
    }
    if null_sender {
        return Some(Machine::Bounce(plain_bounce(
            parsed,
            "null envelope sender".into(),
        )));
    }
    None
}

// ---------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------

fn is_null_sender(envelope_from: &str) -> bool {
    matches!(envelope_from.trim(), "" | "<>")
}

/// Values of every top-level header named `name` (lowercase).
fn headers<'a>(parsed: &'a ParsedEmail, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    parsed
        .headers
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn has_header(parsed: &ParsedEmail, name: &str) -> bool {
    headers(parsed, name).next().is_some()
}

/// The keyword of a structured header value, lowercased: `auto-replied; owner-email="…"` and
/// `auto-replied (vacation)` both give `auto-replied`.
fn keyword(value: &str) -> String {
    value
        .trim()
        .split([';', '(', ' ', '\t', ','])
        .next()
        .unwrap_or("")
        .trim_matches('"')
        .to_lowercase()
}

/// The keywords of every `Auto-Submitted` header but `no` (RFC 3834 §5) and empty ones.
fn auto_submitted(parsed: &ParsedEmail) -> impl Iterator<Item = String> + '_ {
    headers(parsed, "auto-submitted")
        .map(keyword)
        .filter(|k| !k.is_empty() && k != "no")
}

/// `X-Autoreply: yes` and friends; `no`/`false`/`0`/`off` say the opposite.
fn affirmative(value: &str) -> bool {
    !matches!(keyword(value).as_str(), "no" | "false" | "0" | "off")
}

fn precedence(parsed: &ParsedEmail) -> impl Iterator<Item = (&'static str, String)> + '_ {
    let p = headers(parsed, "precedence").map(|v| ("precedence", keyword(v)));
    let x = headers(parsed, "x-precedence").map(|v| ("x-precedence", keyword(v)));
    p.chain(x)
}

/// The local part of the first address in a From header value, lowercased. Works on
/// unqualified addresses (`From: Mail Delivery Subsystem <MAILER-DAEMON>`), which do not
/// parse as an [`EmailAddress`].
fn from_local_part(parsed: &ParsedEmail) -> Option<String> {
    if let Some(from) = &parsed.from {
        return Some(from.local().to_lowercase());
    }
    let raw = parsed.header("from")?;
    let addr = match (raw.rfind('<'), raw.rfind('>')) {
        (Some(open), Some(close)) if open < close => &raw[open + 1..close],
        _ => raw,
    };
    let local = addr.trim().split('@').next()?.trim();
    (!local.is_empty()).then(|| local.to_lowercase())
}

/// Our Message-IDs are `<cnv_….per_….n.mac@reply-domain>` (see `domain::MessageIds`). The
/// shape alone is enough here: nobody else writes ids like these, and no decision trusts it
/// beyond "do not answer, do not post".
fn is_our_message_id(id: &str) -> bool {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    let Some((local, domain)) = id.rsplit_once('@') else {
        return false;
    };
    let parts: Vec<&str> = local.split('.').collect();
    let base32 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    !domain.is_empty()
        && parts.len() == 4
        && parts[0].strip_prefix("cnv_").is_some_and(base32)
        && parts[1].strip_prefix("per_").is_some_and(base32)
        && !parts[2].is_empty()
        && parts[2].bytes().all(|b| b.is_ascii_digit())
        && base32(parts[3])
}

fn strip_brackets(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

// ---------------------------------------------------------------------------
// Loops, responders, other automatic mail
// ---------------------------------------------------------------------------

fn loop_sign(parsed: &ParsedEmail, own_address: &EmailAddress) -> Option<String> {
    if parsed
        .from
        .as_ref()
        .is_some_and(|f| f.key() == own_address.key())
    {
        return Some("sent from our own notification address".into());
    }
    if let Some(host) = headers(parsed, "x-threadgate-loop").next() {
        return Some(format!("x-threadgate-loop: {host}"));
    }
    if parsed.message_id.as_deref().is_some_and(is_our_message_id) {
        return Some("carries the Message-ID of one of our notifications".into());
    }
    None
}

/// Signs of a person's responder (out of office, vacation).
fn responder_sign(parsed: &ParsedEmail) -> Option<String> {
    if let Some(k) = auto_submitted(parsed).find(|k| k == "auto-replied") {
        return Some(format!("auto-submitted: {k}"));
    }
    for name in ["x-autoreply", "x-autorespond", "x-autoresponder"] {
        if let Some(v) = headers(parsed, name).find(|v| affirmative(v)) {
            return Some(format!("{name}: {v}"));
        }
    }
    if let Some((name, v)) = precedence(parsed).find(|(_, v)| v == "auto_reply") {
        return Some(format!("{name}: {v}"));
    }
    if let Some(v) = headers(parsed, "x-ms-exchange-inbox-rules-loop").next() {
        return Some(format!(
            "x-ms-exchange-inbox-rules-loop: {v} (Exchange inbox rule)"
        ));
    }
    if let Some(v) = headers(parsed, "x-ms-exchange-generated-message-source")
        .find(|v| v.to_lowercase().contains("mailbox rules agent"))
    {
        return Some(format!("x-ms-exchange-generated-message-source: {v}"));
    }
    let subject = parsed.subject.as_deref().unwrap_or("");
    if let Some(phrase) = auto_reply_subject(subject) {
        return Some(format!("subject starts with {phrase:?}"));
    }
    None
}

/// Other automatic mail: generated notices, bulk mail and lists, reports.
fn automatic_sign(parsed: &ParsedEmail) -> Option<String> {
    if let Some(k) = auto_submitted(parsed).next() {
        return Some(format!("auto-submitted: {k}"));
    }
    if let Some((name, v)) =
        precedence(parsed).find(|(_, v)| matches!(v.as_str(), "bulk" | "junk" | "list"))
    {
        return Some(format!("{name}: {v}"));
    }
    for name in ["list-id", "list-unsubscribe", "list-unsubscribe-post"] {
        if has_header(parsed, name) {
            return Some(format!("{name} header: mailing list or newsletter"));
        }
    }
    if let Some(v) = headers(parsed, "x-ms-exchange-generated-message-source").next() {
        return Some(format!("x-ms-exchange-generated-message-source: {v}"));
    }
    if let Some(report) = report_type(parsed) {
        return Some(format!("automatic report ({report})"));
    }
    None
}

/// The `report-type` of a top-level `multipart/report` (read receipts are
/// `disposition-notification`, abuse reports `feedback-report`).
fn report_type(parsed: &ParsedEmail) -> Option<String> {
    let ct = parsed.header("content-type")?.to_lowercase();
    if !ct.trim_start().starts_with("multipart/report") {
        return None;
    }
    let at = ct.find("report-type")?;
    let value = ct[at + "report-type".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start()
        .trim_start_matches('"');
    let end = value
        .find(|c: char| c == '"' || c == ';' || c.is_whitespace())
        .unwrap_or(value.len());
    let value = &value[..end];
    (!value.is_empty()).then(|| value.to_string())
}

/// Subject prefixes written by responders, lowercased, in the languages our participants use.
/// Each counts only at the very start of the subject, followed by a colon or nothing else
/// (see [`auto_reply_subject`]).
const AUTO_REPLY_PHRASES: &[&str] = &[
    // English (Outlook, Exchange, Lotus Notes, Zimbra, cPanel…)
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "automatic response",
    "out of office",
    "out of office autoreply",
    "out of office reply",
    "out of the office",
    // French
    "réponse automatique",
    "réponse automatique d'absence",
    "absence du bureau",
    "absent du bureau",
    "absence",
    // German
    "abwesenheitsnotiz",
    "automatische antwort",
    // Spanish
    "respuesta automática",
    "fuera de la oficina",
    // Italian
    "risposta automatica",
    "fuori sede",
    // Dutch, Portuguese (Outlook)
    "automatisch antwoord",
    "resposta automática",
];

/// The responder phrase a subject starts with, if any.
///
/// The rule: after lowercasing and collapsing white space (non-breaking spaces included, as
/// in French "Réponse automatique :"), the subject must *start* with a phrase of
/// [`AUTO_REPLY_PHRASES`] (optionally inside `[…]` or `(…)`), and the phrase must be followed
/// by a colon, the closing bracket, or the end of the subject. So:
///
/// - "Automatic reply: Re: Your order", "Abwesenheitsnotiz: AW: …", "Absence", "[Auto-Reply]
///   Re: …" are responders;
/// - "Re: Absence next week", "Absence next week" and "Out of office last week, sorry" are not
///   (the phrase is not followed by a colon);
/// - "Re: Automatic reply: Your order" is not: a responder puts its prefix *before* the
///   original subject, so a "Re:" in front means a person answered an automatic reply. People
///   do that rarely, but when they do they wrote something, and losing it is worse than
///   posting it (responders are also caught by their headers, which a person's reply lacks).
pub fn auto_reply_subject(subject: &str) -> Option<&'static str> {
    let normalized: String = subject
        .to_lowercase()
        .split(|c: char| c.is_whitespace() || matches!(c, '\u{a0}' | '\u{202f}' | '\u{2007}'))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let (text, close) = match normalized.chars().next() {
        Some('[') => (&normalized[1..], Some(']')),
        Some('(') => (&normalized[1..], Some(')')),
        _ => (normalized.as_str(), None),
    };
    let text = text.trim_start();
    AUTO_REPLY_PHRASES.iter().copied().find(|phrase| {
        let Some(rest) = text.strip_prefix(phrase) else {
            return false;
        };
        let rest = rest.trim_start();
        rest.is_empty() || rest.starts_with(':') || close.is_some_and(|c| rest.starts_with(c))
    })
}

// ---------------------------------------------------------------------------
// Bounces
// ---------------------------------------------------------------------------

/// Subjects of delivery reports (only trusted together with the null sender or From
/// postmaster).
const BOUNCE_SUBJECTS: &[&str] = &[
    "undeliverable",
    "undelivered mail",
    "undelivered message",
    "delivery status notification",
    "delivery failure",
    "delivery has failed",
    "delivery notification",
    "mail delivery failed",
    "mail delivery failure",
    "returned mail",
    "failure notice",
    "non-delivery",
    "nondeliverable",
    "message not delivered",
    "warning: message",
    "unzustellbar",
    "nicht zustellbar",
    "non remis",
    "échec de la remise",
    "no se puede entregar",
];

/// Sentences of delivery reports' text.
const BOUNCE_BODY_MARKERS: &[&str] = &[
    "this is the qmail-send program",
    "i wasn't able to deliver your message",
    "could not be delivered to one or more",
    "following address(es) failed",
    "following addresses had permanent fatal errors",
    "following addresses had transient non-fatal errors",
    "delivery to the following recipient",
    "this is the mail system at host",
    "your message couldn't be delivered",
    "your message wasn't delivered",
    "message could not be delivered",
    "delivery has failed to these recipients",
];

/// Where a plain-text report ends and the copy of the returned message begins.
const COPY_MARKERS: &[&str] = &[
    "below this line is a copy of the message",
    "this is a copy of the message",
    "original message follows",
    "unsent message follows",
    "----- original message -----",
    "------ this is a copy of your message",
];

/// Lines introducing the failed addresses in a plain-text report.
const RECIPIENT_INTROS: &[&str] = &[
    "following address(es) failed",
    "following addresses had permanent fatal errors",
    "following addresses had transient non-fatal errors",
    "delivery to the following recipient",
    "could not be delivered to the following",
    "delivery has failed to these recipients",
];

fn plain_bounce_sign(parsed: &ParsedEmail, null_sender: bool) -> Option<String> {
    if has_header(parsed, "x-failed-recipients") {
        return Some("x-failed-recipients header".into());
    }
    let local = from_local_part(parsed).unwrap_or_default();
    if matches!(
        local.as_str(),
        "mailer-daemon" | "mailer_daemon" | "mailerdaemon" | "mail-daemon"
    ) {
        return Some("sent by the mailer-daemon".into());
    }
    let subject = parsed.subject.as_deref().unwrap_or("").to_lowercase();
    let bounce_subject = BOUNCE_SUBJECTS.iter().any(|s| subject.contains(s));
    if local == "postmaster" && (null_sender || bounce_subject) {
        return Some("delivery report from postmaster".into());
    }
    if null_sender {
        if bounce_subject {
            return Some("null envelope sender, delivery report subject".into());
        }
        let text = parsed.text().to_lowercase();
        if BOUNCE_BODY_MARKERS.iter().any(|m| text.contains(m)) {
            return Some("null envelope sender, delivery report text".into());
        }
    }
    None
}

/// A bounce from an RFC 3464 report, completed from the human-readable part when the
/// machine-readable one lacks something.
fn report_bounce(parsed: &ParsedEmail) -> Bounce {
    let mut bounce = dsn_fields(parsed.delivery_status.as_deref().unwrap_or(""));
    bounce.reason = "delivery status notification".into();
    let text = parsed.text();
    let report = report_section(&text);
    if bounce.recipient.is_none() {
        bounce.recipient = failed_recipients_header(parsed).or_else(|| text_recipient(report));
    }
    if bounce.diagnostic.is_none() && bounce.status.is_none() {
        bounce.diagnostic = text_diagnostic(report);
    }
    bounce.original_message_id = parsed
        .returned_headers
        .iter()
        .find(|(n, _)| n == "message-id")
        .map(|(_, v)| strip_brackets(v))
        .filter(|id| !id.is_empty())
        .or_else(|| copied_message_id(&text));
    finish(&mut bounce, report);
    bounce
}

/// A bounce read from a plain-text report (qmail, old Exim, Sendmail without DSN…).
fn plain_bounce(parsed: &ParsedEmail, reason: String) -> Bounce {
    let text = parsed.text();
    let report = report_section(&text);
    let mut bounce = Bounce {
        reason,
        recipient: failed_recipients_header(parsed).or_else(|| text_recipient(report)),
        diagnostic: text_diagnostic(report),
        original_message_id: copied_message_id(&text),
        ..Bounce::default()
    };
    finish(&mut bounce, report);
    bounce
}

/// Derives the status from the diagnostic when there is none (or only the generic `X.0.0`
/// Exim reports while the remote server said `X.1.1`), and decides `permanent`.
fn finish(bounce: &mut Bounce, report: &str) {
    let from_diagnostic = bounce.diagnostic.as_deref().and_then(|d| {
        enhanced_status(d).or_else(|| smtp_code(d).map(|code| format!("{}.0.0", code / 100)))
    });
    match (&bounce.status, from_diagnostic) {
        (None, derived) => bounce.status = derived,
        (Some(generic), Some(specific))
            if generic.ends_with(".0.0") && specific.get(..2) == generic.get(..2) =>
        {
            bounce.status = Some(specific);
        }
        _ => {}
    }
    let transient_action = matches!(
        bounce.action.as_deref(),
        Some("delayed" | "delivered" | "relayed" | "expanded")
    );
    bounce.permanent = !transient_action
        && match &bounce.status {
            Some(status) => status.starts_with('5'),
            // No code at all: the report's own words.
            None => {
                let report = report.to_lowercase();
                report.contains("permanent error") || report.contains("permanent fatal error")
            }
        };
}

/// Reads the per-recipient fields of an RFC 3464 `message/delivery-status` body: the first
/// recipient whose Action is `failed`, else the first `delayed` one, else the first one.
fn dsn_fields(status: &str) -> Bounce {
    // Unfold (continuation lines start with white space) and split into field groups.
    let mut groups: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in status.lines() {
        if line.trim().is_empty() {
            if !groups.last().is_some_and(Vec::is_empty) {
                groups.push(Vec::new());
            }
            continue;
        }
        let group = groups.last_mut().expect("never empty");
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = group.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        group.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let field = |group: &[(String, String)], name: &str| {
        group
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let recipients: Vec<&Vec<(String, String)>> = groups
        .iter()
        .filter(|g| {
            g.iter().any(|(n, _)| {
                matches!(
                    n.as_str(),
                    "final-recipient" | "original-recipient" | "action" | "status"
                )
            })
        })
        .collect();
    let action_is =
        |g: &&Vec<(String, String)>, a: &str| field(g, "action").is_some_and(|v| keyword(&v) == a);
    let Some(group) = recipients
        .iter()
        .find(|g| action_is(g, "failed"))
        .or_else(|| recipients.iter().find(|g| action_is(g, "delayed")))
        .or_else(|| recipients.first())
    else {
        return Bounce::default();
    };
    // "rfc822; carl@client.test": the address type comes first (RFC 3464 §2.3.2).
    let typed = |v: String| {
        v.split_once(';')
            .map_or(v.as_str(), |(_, rest)| rest)
            .trim()
            .to_string()
    };
    let address = |name: &str| {
        field(group, name)
            .map(typed)
            .map(|a| clean_address(&a))
            .filter(|a| a.contains('@'))
    };
    Bounce {
        recipient: address("original-recipient").or_else(|| address("final-recipient")),
        status: field(group, "status").and_then(|s| enhanced_status(&s)),
        diagnostic: field(group, "diagnostic-code")
            .map(typed)
            .map(|d| tidy_smtp_reply(&d))
            .filter(|d| !d.is_empty()),
        action: field(group, "action")
            .map(|a| keyword(&a))
            .filter(|a| !a.is_empty()),
        ..Bounce::default()
    }
}

/// `<Carl@Client.test>` → `carl@client.test`.
fn clean_address(raw: &str) -> String {
    raw.trim()
        .trim_matches(|c: char| matches!(c, '<' | '>' | '"' | '\'' | '(' | ')' | ',' | ';' | ':'))
        .trim()
        .to_lowercase()
}

fn failed_recipients_header(parsed: &ParsedEmail) -> Option<String> {
    headers(parsed, "x-failed-recipients")
        .flat_map(|v| v.split(','))
        .map(clean_address)
        .find(|a| a.contains('@'))
}

/// The report part of a plain-text bounce: everything before the copy of the message.
fn report_section(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let lower = line.to_lowercase();
        if COPY_MARKERS.iter().any(|m| lower.contains(m)) {
            return &text[..offset];
        }
        offset += line.len();
    }
    text
}

/// The failed address of a plain-text report: qmail's `<addr>:` line, or the first address
/// below a line introducing them ("The following address(es) failed:").
fn text_recipient(report: &str) -> Option<String> {
    let lines: Vec<&str> = report.lines().collect();
    for line in &lines {
        let line = line.trim();
        if let Some(inner) = line.strip_prefix('<').and_then(|l| l.strip_suffix(">:"))
            && inner.contains('@')
            && !inner.contains(char::is_whitespace)
        {
            return Some(clean_address(inner));
        }
    }
    for (i, line) in lines.iter().enumerate() {
        let lower = line.to_lowercase();
        if !RECIPIENT_INTROS.iter().any(|m| lower.contains(m)) {
            continue;
        }
        let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty())?;
        return next
            .split_whitespace()
            .map(clean_address)
            .find(|w| w.contains('@') && w.contains('.'));
    }
    None
}

/// The SMTP reply quoted in a plain-text report ("Remote host said: 550 5.1.1 …", Exim's
/// indented "550 …" line, Sendmail's "(reason: 550 …)"), with its continuation lines; else
/// the explanation below qmail's `<addr>:` line.
fn text_diagnostic(report: &str) -> Option<String> {
    let lines: Vec<&str> = report.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(at) = smtp_code_position(line) else {
            continue;
        };
        let mut diagnostic = line[at..].trim().to_string();
        if line[..at].contains('(') && diagnostic.ends_with(')') {
            diagnostic.pop();
        }
        // Multi-line replies: "550-5.1.1 …" lines followed by more coded lines.
        for next in &lines[i + 1..] {
            let next = next.trim();
            if smtp_code(next).is_none() {
                break;
            }
            diagnostic.push(' ');
            diagnostic.push_str(next);
        }
        return Some(tidy_smtp_reply(&diagnostic)).filter(|d| !d.is_empty());
    }
    // qmail without an SMTP reply: "<carl@x>:\nSorry, no mailbox here by that name. (#5.1.1)"
    let start = lines.iter().position(|l| {
        let l = l.trim();
        l.starts_with('<') && l.ends_with(">:") && l.contains('@')
    })?;
    let explanation: Vec<&str> = lines[start + 1..]
        .iter()
        .map(|l| l.trim())
        .take_while(|l| !l.is_empty())
        .collect();
    Some(tidy_smtp_reply(&explanation.join(" "))).filter(|d| !d.is_empty())
}

/// The Message-ID of the copy of the original in a plain-text report.
fn copied_message_id(text: &str) -> Option<String> {
    let report_len = report_section(text).len();
    let copy = text.get(report_len..).unwrap_or("");
    let mut lines = copy.lines();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("message-id") || name.starts_with([' ', '\t']) {
            continue;
        }
        let value = if value.trim().is_empty() {
            lines.next().unwrap_or("")
        } else {
            value
        };
        let id = strip_brackets(value);
        return (!id.is_empty()).then_some(id);
    }
    None
}

/// Where a 3-digit SMTP reply code (2xx, 4xx, 5xx followed by a space, `-` or the end) starts
/// in a line: at its beginning or after white space, `:`, `;` or `(`.
fn smtp_code_position(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    (0..bytes.len()).find(|&i| {
        let boundary = i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b':' | b';' | b'(');
        boundary && bytes[i].is_ascii_digit() && smtp_code(&line[i..]).is_some()
    })
}

/// The SMTP reply code a text starts with (after white space).
fn smtp_code(text: &str) -> Option<u16> {
    let bytes = text.trim_start().as_bytes();
    let digits = bytes.get(..3)?;
    let terminated = bytes
        .get(3)
        .is_none_or(|b| matches!(b, b' ' | b'-' | b'\t'));
    let valid = matches!(digits[0], b'2' | b'4' | b'5')
        && digits[1..].iter().all(u8::is_ascii_digit)
        && terminated;
    valid.then(|| {
        digits
            .iter()
            .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'))
    })
}

/// The first RFC 3463 enhanced status code (`class.subject.detail`, class 2, 4 or 5) in a text.
fn enhanced_status(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|t| t.trim_matches('.'))
        .find(|t| {
            let parts: Vec<&str> = t.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && parts[1..]
                    .iter()
                    .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// One line of an SMTP reply: white space collapsed and the code prefixes of multi-line
/// replies ("550-5.1.1 … 550-5.1.1 … 550 5.1.1 …", RFC 5321 §4.2.1) kept only once.
fn tidy_smtp_reply(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some(first) = words.first() else {
        return String::new();
    };
    let code = smtp_code(first).map(|_| &first[..3]);
    let mut out: Vec<&str> = Vec::with_capacity(words.len() + 1);
    if let Some(code) = code
        && let Some(rest) = first[3..].strip_prefix('-')
    {
        // "550-5.1.1" reads "550 5.1.1".
        out.push(code);
        if !rest.is_empty() {
            out.push(rest);
        }
    } else {
        out.push(first);
    }
    let mut i = 1;
    while i < words.len() {
        let word = words[i];
        if let Some(code) = code
            && let Some(rest) = word.strip_prefix(code)
        {
            let rest = rest.strip_prefix('-').unwrap_or(rest);
            let is_enhanced = |w: &str| enhanced_status(w).as_deref() == Some(w);
            if rest.is_empty() {
                // "550" alone, maybe followed by its enhanced code.
                i += if words.get(i + 1).is_some_and(|w| is_enhanced(w)) {
                    2
                } else {
                    1
                };
                continue;
            }
            if is_enhanced(rest) {
                i += 1;
                continue;
            }
        }
        out.push(word);
        i += 1;
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> EmailAddress {
        EmailAddress::parse("notifications@gw.test").unwrap()
    }

    const OURS: &str = "cnv_7q2mfa3ktgnhxl4w.per_c4rlz6fkq3vm2xyp.3.k2j5n7q4xw6tr3ma@reply.gw.test";

    fn person() -> ParsedEmail {
        ParsedEmail {
            from: Some(EmailAddress::parse("carl@client.test").unwrap()),
            subject: Some("Re: Your order".into()),
            text_body: Some("Thanks!".into()),
            ..ParsedEmail::default()
        }
    }

    fn with_header(name: &str, value: &str) -> ParsedEmail {
        let mut p = person();
        p.headers.push((name.into(), value.into()));
        p
    }

    fn with_subject(subject: &str) -> ParsedEmail {
        ParsedEmail {
            subject: Some(subject.into()),
            ..person()
        }
    }

    fn class(p: &ParsedEmail) -> &'static str {
        class_from(p, "carl@client.test")
    }

    fn class_from(p: &ParsedEmail, envelope_from: &str) -> &'static str {
        match classify(p, envelope_from, &own()) {
            None => "human",
            Some(Machine::AutoReply(_)) => "auto_reply",
            Some(Machine::Bounce(_)) => "bounce",
            Some(Machine::Loop(_)) => "loop",
        }
    }

    fn bounce_of(p: &ParsedEmail, envelope_from: &str) -> Bounce {
        match classify(p, envelope_from, &own()) {
            Some(Machine::Bounce(b)) => b,
            other => panic!("not a bounce: {other:?}"),
        }
    }

    fn dsn(status: &str) -> ParsedEmail {
        ParsedEmail {
            is_delivery_report: true,
            delivery_status: Some(status.into()),
            ..ParsedEmail::default()
        }
    }

    // --- auto-replies: headers -------------------------------------------------------------

    #[test]
    fn auto_submitted_other_than_no_is_an_auto_reply() {
        for value in [
            "auto-replied",
            "Auto-Replied",
            "auto-generated",
            "auto-notified",
        ] {
            assert_eq!(
                class(&with_header("auto-submitted", value)),
                "auto_reply",
                "{value}"
            );
        }
        assert_eq!(class(&with_header("auto-submitted", "no")), "human");
        assert_eq!(class(&with_header("auto-submitted", "No")), "human");
        assert_eq!(
            class(&with_header("auto-submitted", "no (sent by a person)")),
            "human"
        );
    }

    #[test]
    fn auto_submitted_parameters_and_comments_are_ignored() {
        let p = with_header(
            "auto-submitted",
            "auto-replied; owner-email=\"dana@client.test\"",
        );
        assert_eq!(
            classify(&p, "dana@client.test", &own()),
            Some(Machine::AutoReply("auto-submitted: auto-replied".into()))
        );
        assert_eq!(
            class(&with_header("auto-submitted", "auto-replied (vacation)")),
            "auto_reply"
        );
    }

    #[test]
    fn x_autoreply_x_autorespond_and_x_autoresponder_are_auto_replies_unless_they_say_no() {
        for name in ["x-autoreply", "x-autorespond", "x-autoresponder"] {
            assert_eq!(class(&with_header(name, "yes")), "auto_reply", "{name}");
            assert_eq!(class(&with_header(name, "")), "auto_reply", "{name} empty");
            assert_eq!(class(&with_header(name, "no")), "human", "{name}: no");
            assert_eq!(class(&with_header(name, "false")), "human", "{name}: false");
        }
    }

    #[test]
    fn precedence_auto_reply_bulk_junk_and_list_are_automatic_and_first_class_is_not() {
        for value in ["auto_reply", "bulk", "junk", "list", "Bulk", "\"bulk\""] {
            assert_eq!(
                class(&with_header("precedence", value)),
                "auto_reply",
                "{value}"
            );
            assert_eq!(
                class(&with_header("x-precedence", value)),
                "auto_reply",
                "x- {value}"
            );
        }
        assert_eq!(class(&with_header("precedence", "first-class")), "human");
        assert_eq!(class(&with_header("precedence", "normal")), "human");
    }

    #[test]
    fn exchange_inbox_rules_and_mailbox_rules_agent_are_auto_replies() {
        assert_eq!(
            class(&with_header(
                "x-ms-exchange-inbox-rules-loop",
                "dana@client.test"
            )),
            "auto_reply"
        );
        assert_eq!(
            class(&with_header(
                "x-ms-exchange-generated-message-source",
                "Mailbox Rules Agent"
            )),
            "auto_reply"
        );
        assert_eq!(
            class(&with_header(
                "x-ms-exchange-generated-message-source",
                "Transport Rule Agent"
            )),
            "auto_reply"
        );
    }

    #[test]
    fn x_auto_response_suppress_alone_is_not_an_auto_reply() {
        assert_eq!(
            class(&with_header("x-auto-response-suppress", "All")),
            "human"
        );
        assert_eq!(
            class(&with_header(
                "x-auto-response-suppress",
                "DR, RN, NRN, OOF, AutoReply"
            )),
            "human"
        );
    }

    #[test]
    fn exchange_transport_headers_of_ordinary_mail_are_not_auto_replies() {
        let mut p = person();
        for (n, v) in [
            ("x-ms-exchange-organization-authas", "Internal"),
            ("x-ms-exchange-crosstenant-fromentityheader", "Hosted"),
            (
                "x-ms-exchange-transport-crosstenantheadersstamped",
                "AM0PR05MB1234",
            ),
            ("x-ms-has-attach", ""),
            ("x-ms-tnef-correlator", ""),
            ("thread-topic", "Your order"),
        ] {
            p.headers.push((n.into(), v.into()));
        }
        assert_eq!(class(&p), "human");
    }

    #[test]
    fn x_mailer_is_never_a_sign_of_a_machine() {
        for mailer in [
            "Microsoft Outlook 16.0",
            "Zimbra 10.0",
            "Autoresponder 2.0",
            "vacation",
        ] {
            assert_eq!(class(&with_header("x-mailer", mailer)), "human", "{mailer}");
        }
    }

    #[test]
    fn list_id_and_list_unsubscribe_make_a_newsletter_an_auto_reply() {
        assert_eq!(
            class(&with_header("list-id", "<news.shop.test>")),
            "auto_reply"
        );
        assert_eq!(
            class(&with_header("list-unsubscribe", "<mailto:unsub@shop.test>")),
            "auto_reply"
        );
    }

    #[test]
    fn read_receipts_and_other_reports_are_automatic_but_not_bounces() {
        let p = with_header(
            "content-type",
            "multipart/report; report-type=\"disposition-notification\"; boundary=\"b\"",
        );
        assert_eq!(
            classify(&p, "carl@client.test", &own()),
            Some(Machine::AutoReply(
                "automatic report (disposition-notification)".into()
            ))
        );
        assert_eq!(
            class(&with_header("content-type", "multipart/mixed; boundary=x")),
            "human"
        );
    }

    // --- auto-replies: subjects ------------------------------------------------------------

    #[test]
    fn localized_responder_subjects_are_auto_replies() {
        for subject in [
            "Automatic reply: Re: Your order",
            "Auto Reply: Your order",
            "Autoreply: Your order",
            "Auto-Reply: Your order",
            "Out of Office: Re: Your order",
            "Out of Office AutoReply: Re: Your order",
            "Out of the office",
            "Réponse automatique : Re: Votre commande",
            "Réponse\u{a0}automatique\u{a0}: Re: Votre commande",
            "Absence du bureau",
            "Absent du bureau : Re: Votre commande",
            "Abwesenheitsnotiz: AW: Ihre Bestellung",
            "Automatische Antwort: AW: Ihre Bestellung",
            "Respuesta automática: RE: Su pedido",
            "Fuera de la oficina",
            "Risposta automatica: R: Il suo ordine",
            "Absence",
            "Absence: Re: Votre commande",
            "ABSENCE : du 1er au 15 août",
            "[Auto-Reply] Re: Your order",
            "  automatic   reply:Re: Your order",
        ] {
            assert!(auto_reply_subject(subject).is_some(), "{subject:?}");
            assert_eq!(class(&with_subject(subject)), "auto_reply", "{subject:?}");
        }
    }

    #[test]
    fn absence_is_a_responder_subject_only_as_a_prefix_with_a_colon_or_the_whole_subject() {
        for subject in [
            "Re: absence next week",
            "Re: Absence next week",
            "Absence next week",
            "Absences",
            "Absenteeism report",
        ] {
            assert_eq!(auto_reply_subject(subject), None, "{subject:?}");
            assert_eq!(class(&with_subject(subject)), "human", "{subject:?}");
        }
    }

    #[test]
    fn a_person_answering_an_automatic_reply_is_not_an_auto_reply() {
        for subject in [
            "Re: Automatic reply: Your order",
            "AW: Abwesenheitsnotiz: Ihre Bestellung",
            "Re: Out of Office: Your order",
        ] {
            assert_eq!(class(&with_subject(subject)), "human", "{subject:?}");
        }
    }

    #[test]
    fn responder_words_inside_a_subject_or_without_a_colon_are_human() {
        for subject in [
            "Re: Your order",
            "Out of office last week, sorry",
            "Re: I was out of office",
            "Automatic replies are annoying",
            "",
        ] {
            assert_eq!(class(&with_subject(subject)), "human", "{subject:?}");
        }
    }

    #[test]
    fn a_body_saying_out_of_office_is_human() {
        let p = ParsedEmail {
            text_body: Some("I was out of office last week. Automatic reply: sorry!".into()),
            ..person()
        };
        assert_eq!(class(&p), "human");
    }

    // --- loops ------------------------------------------------------------------------------

    #[test]
    fn our_own_notifications_coming_back_are_loops() {
        let p = ParsedEmail {
            from: Some(EmailAddress::parse("Notifications@GW.test").unwrap()),
            ..ParsedEmail::default()
        };
        assert!(matches!(
            classify(&p, "x@y.test", &own()),
            Some(Machine::Loop(_))
        ));
    }

    #[test]
    fn any_x_threadgate_loop_header_is_a_loop() {
        assert_eq!(
            class(&with_header("x-threadgate-loop", "gw1.example.net")),
            "loop"
        );
        assert_eq!(class(&with_header("x-threadgate-loop", "")), "loop");
    }

    #[test]
    fn mail_carrying_our_own_message_id_is_a_loop() {
        let p = ParsedEmail {
            message_id: Some(OURS.into()),
            ..person()
        };
        assert_eq!(class(&p), "loop");
    }

    #[test]
    fn an_auto_generated_answer_to_our_notification_is_a_loop() {
        let mut p = with_header("auto-submitted", "auto-generated");
        p.in_reply_to = vec![OURS.into()];
        assert_eq!(class(&p), "loop");
        // Not an answer to our mail: an ordinary automatic message.
        p.in_reply_to = vec!["abc@client.test".into()];
        assert_eq!(class(&p), "auto_reply");
    }

    #[test]
    fn an_out_of_office_answering_our_notification_stays_an_auto_reply() {
        let mut p = with_header("auto-submitted", "auto-generated");
        p.headers.push((
            "x-ms-exchange-generated-message-source".into(),
            "Mailbox Rules Agent".into(),
        ));
        p.in_reply_to = vec![OURS.into()];
        assert_eq!(class(&p), "auto_reply");
        let mut p = with_header("auto-submitted", "auto-replied");
        p.in_reply_to = vec![OURS.into()];
        assert_eq!(class(&p), "auto_reply");
    }

    #[test]
    fn a_person_replying_to_our_notification_is_not_a_loop() {
        let mut p = person();
        p.in_reply_to = vec![OURS.into()];
        assert_eq!(class(&p), "human");
    }

    #[test]
    fn only_our_message_id_shape_counts_as_ours() {
        assert!(is_our_message_id(OURS));
        assert!(is_our_message_id(&format!("<{OURS}>")));
        assert!(is_our_message_id("cnv_a.per_b.1.mac@reply.test"));
        for other in [
            "CAF1@mail.gmail.com",
            "cnv_a.per_b.x.mac@reply.test",
            "cnv_a.per_b.1@reply.test",
            "msg_a.per_b.1.mac@reply.test",
            "cnv_a.per_b.1.mac.extra@reply.test",
            "cnv_a.per_b.1.mac@",
            "",
        ] {
            assert!(!is_our_message_id(other), "{other}");
        }
    }

    // --- bounces ----------------------------------------------------------------------------

    #[test]
    fn null_sender_and_reports_are_bounces() {
        assert!(matches!(
            classify(&ParsedEmail::default(), "", &own()),
            Some(Machine::Bounce(_))
        ));
        assert_eq!(class_from(&person(), "<>"), "bounce");
        let p = dsn(
            "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; Carl@Client.test\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 no such user\n",
        );
        let b = bounce_of(&p, "mailer@x.test");
        assert_eq!(b.recipient.as_deref(), Some("carl@client.test"));
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert_eq!(b.diagnostic.as_deref(), Some("550 5.1.1 no such user"));
        assert_eq!(b.action.as_deref(), Some("failed"));
        assert!(b.permanent);
        assert!(b.is_delivery_failure());
    }

    #[test]
    fn a_vacation_reply_sent_with_the_null_sender_is_an_auto_reply_not_a_bounce() {
        let p = with_header("auto-submitted", "auto-replied (vacation)");
        assert_eq!(class_from(&p, ""), "auto_reply");
        assert_eq!(
            class_from(&with_subject("Automatic reply: Re: Your order"), "<>"),
            "auto_reply"
        );
    }

    #[test]
    fn a_delivery_status_report_type_is_a_bounce_even_without_the_parsed_flag() {
        let mut p = with_header(
            "content-type",
            "multipart/report; report-type=\"Delivery-Status\"; boundary=b",
        );
        p.delivery_status = Some(
            "Final-Recipient: rfc822; carl@client.test\nAction: failed\nStatus: 5.1.1\n".into(),
        );
        let b = bounce_of(&p, "");
        assert_eq!(b.recipient.as_deref(), Some("carl@client.test"));
        assert!(b.permanent);
    }

    #[test]
    fn the_original_recipient_is_preferred_to_the_final_one() {
        let p = dsn(
            "Reporting-MTA: dns; mx\n\nOriginal-Recipient: rfc822;carl@client.test\nFinal-Recipient: rfc822; carl.c@internal.client.test\nAction: failed\nStatus: 5.1.1\n",
        );
        assert_eq!(
            bounce_of(&p, "").recipient.as_deref(),
            Some("carl@client.test")
        );
        let p = dsn("Final-Recipient: rfc822; <Carl@Client.test>\nAction: failed\nStatus: 5.1.1\n");
        assert_eq!(
            bounce_of(&p, "").recipient.as_deref(),
            Some("carl@client.test")
        );
    }

    #[test]
    fn the_failed_recipient_of_a_multi_recipient_report_is_reported() {
        let p = dsn(
            "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; ok@client.test\nAction: delivered\nStatus: 2.0.0\n\nFinal-Recipient: rfc822; later@client.test\nAction: delayed\nStatus: 4.4.1\n\nFinal-Recipient: rfc822; gone@client.test\nAction: failed\nStatus: 5.1.1\n",
        );
        let b = bounce_of(&p, "");
        assert_eq!(b.recipient.as_deref(), Some("gone@client.test"));
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert!(b.permanent);
    }

    #[test]
    fn a_delayed_delivery_report_is_a_temporary_bounce() {
        let p = dsn(
            "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; carl@client.test\nAction: delayed\nStatus: 4.4.1\nDiagnostic-Code: X-Postfix; connect to mx.client.test[192.0.2.7]:25: Connection timed out\nWill-Retry-Until: Wed, 25 Nov 2026 10:00:00 +0000\n",
        );
        let b = bounce_of(&p, "");
        assert_eq!(b.action.as_deref(), Some("delayed"));
        assert_eq!(b.status.as_deref(), Some("4.4.1"));
        assert!(!b.permanent);
        assert!(b.is_delivery_failure());
    }

    #[test]
    fn delayed_is_never_permanent_even_with_a_class_5_status() {
        let p = dsn("Final-Recipient: rfc822; carl@client.test\nAction: delayed\nStatus: 5.0.0\n");
        assert!(!bounce_of(&p, "").permanent);
    }

    #[test]
    fn success_notifications_are_bounces_that_are_not_failures() {
        let p = dsn("Final-Recipient: rfc822; carl@client.test\nAction: relayed\nStatus: 2.0.0\n");
        let b = bounce_of(&p, "");
        assert!(!b.permanent);
        assert!(!b.is_delivery_failure());
    }

    #[test]
    fn folded_multi_line_diagnostics_are_joined_and_tidied() {
        let p = dsn(
            "Final-Recipient: rfc822; nobody@gmail.test\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does\n    not exist. Please try\n 550-5.1.1 double-checking the recipient's email address for typos or\n 550 5.1.1 unnecessary spaces. - gsmtp\n",
        );
        assert_eq!(
            bounce_of(&p, "").diagnostic.as_deref(),
            Some(
                "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. - gsmtp"
            )
        );
    }

    #[test]
    fn the_status_is_derived_from_the_diagnostic_when_the_report_has_none() {
        let p = dsn(
            "Final-Recipient: rfc822; carl@client.test\nAction: failed\nDiagnostic-Code: smtp; 452 4.2.2 Mailbox over quota\n",
        );
        let b = bounce_of(&p, "");
        assert_eq!(b.status.as_deref(), Some("4.2.2"));
        assert!(!b.permanent);
        let p = dsn(
            "Final-Recipient: rfc822; carl@client.test\nAction: failed\nDiagnostic-Code: smtp; 552 Mailbox full\n",
        );
        let b = bounce_of(&p, "");
        assert_eq!(b.status.as_deref(), Some("5.0.0"));
        assert!(b.permanent);
        let p = dsn(
            "Final-Recipient: rfc822; carl@client.test\nAction: failed\nStatus: 5.2.2 (mailbox full)\n",
        );
        assert_eq!(bounce_of(&p, "").status.as_deref(), Some("5.2.2"));
    }

    #[test]
    fn a_generic_x_0_0_status_gives_way_to_the_remote_servers_code_of_the_same_class() {
        let p = dsn(
            "Final-Recipient: rfc822; carl@client.test\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 550 5.1.1 <carl@client.test>: User unknown\n",
        );
        assert_eq!(bounce_of(&p, "").status.as_deref(), Some("5.1.1"));
        let p = dsn(
            "Final-Recipient: rfc822; carl@client.test\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 452 4.2.2 over quota\n",
        );
        assert_eq!(bounce_of(&p, "").status.as_deref(), Some("5.0.0"));
    }

    #[test]
    fn a_report_about_our_notification_names_its_message_id() {
        let mut p =
            dsn("Final-Recipient: rfc822; carl@client.test\nAction: failed\nStatus: 5.1.1\n");
        p.returned_headers = vec![
            (
                "return-path".into(),
                "<bounces+out_m3k7vq2xbdn4tzaf@reply.gw.test>".into(),
            ),
            ("message-id".into(), format!("<{OURS}>")),
        ];
        let b = bounce_of(&p, "");
        assert_eq!(b.original_message_id.as_deref(), Some(OURS));
        assert!(
            b.original_message_id
                .as_deref()
                .is_some_and(is_our_message_id)
        );
        assert!(Machine::Bounce(b).detail().contains(OURS));
    }

    #[test]
    fn bounces_of_our_notifications_name_our_message_id_from_the_returned_copy() {
        let fixtures: [(&[u8], &str); 3] = [
            (
                include_bytes!("../../fixtures/mail/machine-bounce-our-message-id.eml"),
                "cnv_7q2mfa3ktgnhxl4w.per_r7kq2vx4mz3bn6da.5.h2vq7kx4mz3bn6ta@reply.example.net",
            ),
            (
                include_bytes!("../../fixtures/mail/machine-bounce-office365-ndr.eml"),
                "cnv_k4vq7xz2mb3dn6ta.per_f3nx7kb2qz4vm6ta.2.w2kq7vx4mz3bn5da@reply.example.net",
            ),
            (
                include_bytes!("../../fixtures/mail/machine-bounce-qmail-user-unknown.eml"),
                "cnv_7q2mfa3ktgnhxl4w.per_k2vq7xz4mb3dn6ta.1.d4kq7vx2zm3bn6ta@reply.example.net",
            ),
        ];
        for (raw, ours) in fixtures {
            let parsed = super::super::parse::parse_email(raw, "reply.example.net").unwrap();
            let b = bounce_of(&parsed, "");
            assert_eq!(b.original_message_id.as_deref(), Some(ours));
            assert!(is_our_message_id(ours));
        }
    }

    #[test]
    fn x_failed_recipients_makes_a_bounce_and_names_the_recipient() {
        let mut p = with_header("x-failed-recipients", "Carl@Client.test, dana@client.test");
        p.headers
            .push(("auto-submitted".into(), "auto-replied".into()));
        p.text_body = Some("A message that you sent could not be delivered to one or more of its\nrecipients. This is a permanent error. The following address(es) failed:\n\n  carl@client.test\n    host mx.client.test [192.0.2.7]\n    SMTP error from remote mail server after RCPT TO:<carl@client.test>:\n    550 5.1.1 <carl@client.test>: Recipient address rejected: User unknown\n\n------ This is a copy of the message, including all the headers. ------\n\nMessage-ID: <abc@gw.test>\nSubject: Your order\n".into());
        let b = bounce_of(&p, "");
        assert_eq!(b.reason, "x-failed-recipients header");
        assert_eq!(b.recipient.as_deref(), Some("carl@client.test"));
        assert_eq!(
            b.diagnostic.as_deref(),
            Some("550 5.1.1 <carl@client.test>: Recipient address rejected: User unknown")
        );
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert!(b.permanent);
        assert_eq!(b.original_message_id.as_deref(), Some("abc@gw.test"));
    }

    #[test]
    fn a_qmail_plain_text_bounce_is_read_from_its_text() {
        let p = ParsedEmail {
            from: Some(EmailAddress::parse("MAILER-DAEMON@mx.client.test").unwrap()),
            subject: Some("failure notice".into()),
            text_body: Some("Hi. This is the qmail-send program at mx.client.test.\nI'm afraid I wasn't able to deliver your message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n<Carl@client.test>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n--- Below this line is a copy of the message.\n\nReturn-Path: <notifications@gw.test>\nMessage-ID:\n <n1@gw.test>\n".into()),
            ..ParsedEmail::default()
        };
        let b = bounce_of(&p, "");
        assert_eq!(b.recipient.as_deref(), Some("carl@client.test"));
        assert_eq!(
            b.diagnostic.as_deref(),
            Some("Sorry, no mailbox here by that name. (#5.1.1)")
        );
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert!(b.permanent);
        assert_eq!(b.original_message_id.as_deref(), Some("n1@gw.test"));
    }

    #[test]
    fn a_qmail_bounce_quoting_a_bare_smtp_code_gets_a_class_status() {
        let p = ParsedEmail {
            text_body: Some("Hi. This is the qmail-send program at mx.client.test.\n\n<carl@client.test>:\n192.0.2.7 does not like recipient.\nRemote host said: 552 sorry, mailbox full\nGiving up on 192.0.2.7.\n".into()),
            ..ParsedEmail::default()
        };
        let b = bounce_of(&p, "");
        assert_eq!(b.reason, "null envelope sender, delivery report text");
        assert_eq!(b.diagnostic.as_deref(), Some("552 sorry, mailbox full"));
        assert_eq!(b.status.as_deref(), Some("5.0.0"));
        assert!(b.permanent);
    }

    #[test]
    fn sendmail_reasons_in_parentheses_are_diagnostics() {
        let p = ParsedEmail {
            from: Some(EmailAddress::parse("MAILER-DAEMON@mx.client.test").unwrap()),
            text_body: Some("The original message was received at Mon, 23 Nov 2026 10:00:02 +0000\n\n   ----- The following addresses had permanent fatal errors -----\n<carl@client.test>\n    (reason: 550 5.1.1 <carl@client.test>... User unknown)\n".into()),
            ..ParsedEmail::default()
        };
        let b = bounce_of(&p, "");
        assert_eq!(b.recipient.as_deref(), Some("carl@client.test"));
        assert_eq!(
            b.diagnostic.as_deref(),
            Some("550 5.1.1 <carl@client.test>... User unknown")
        );
        assert!(b.permanent);
    }

    #[test]
    fn an_unqualified_mailer_daemon_from_is_a_bounce() {
        let p = ParsedEmail {
            headers: vec![(
                "from".into(),
                "Mail Delivery Subsystem <MAILER-DAEMON>".into(),
            )],
            ..ParsedEmail::default()
        };
        assert_eq!(class_from(&p, "mailer-daemon@mx.test"), "bounce");
    }

    #[test]
    fn postmaster_counts_only_with_a_bounce_subject_or_the_null_sender() {
        let mut p = ParsedEmail {
            from: Some(EmailAddress::parse("postmaster@client.test").unwrap()),
            subject: Some("Undeliverable: Your order".into()),
            ..ParsedEmail::default()
        };
        assert_eq!(class_from(&p, "postmaster@client.test"), "bounce");
        p.subject = Some("Re: Your order".into());
        assert_eq!(class_from(&p, "postmaster@client.test"), "human");
    }

    #[test]
    fn a_bounce_without_any_code_is_permanent_only_when_it_says_so() {
        let p = ParsedEmail {
            text_body: Some("I'm afraid I wasn't able to deliver your message.\nThis is a permanent error; I've given up.\n".into()),
            ..ParsedEmail::default()
        };
        let b = bounce_of(&p, "");
        assert_eq!(b.status, None);
        assert!(b.permanent);
        assert!(!bounce_of(&ParsedEmail::default(), "").permanent);
    }

    #[test]
    fn ip_addresses_dates_and_versions_are_not_status_codes() {
        assert_eq!(enhanced_status("host 192.0.2.1 said"), None);
        assert_eq!(enhanced_status("version 1.2.3"), None);
        assert_eq!(enhanced_status("550-5.1.1 x"), Some("5.1.1".into()));
        assert_eq!(enhanced_status("(#5.1.1)."), Some("5.1.1".into()));
        assert_eq!(
            smtp_code_position("at Mon, 23 Nov 2026 10:00:00 +0000"),
            None
        );
        assert_eq!(
            smtp_code_position("mx.client.test[203.0.113.25] said"),
            None
        );
        assert_eq!(smtp_code_position("said: 550 5.1.1 nope"), Some(6));
    }

    #[test]
    fn a_person_writing_is_not_a_machine() {
        assert_eq!(classify(&ParsedEmail::default(), "a@x.test", &own()), None);
        assert_eq!(class(&person()), "human");
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "<",
            "<@>:",
            "550",
            "550-",
            "5.",
            "...",
            "\u{e9}<\u{e9}@\u{e9}>:",
            "(reason: 550)",
        ] {
            let p = ParsedEmail {
                text_body: Some(text.into()),
                delivery_status: Some(text.into()),
                is_delivery_report: true,
                headers: vec![
                    (
                        "content-type".into(),
                        format!("multipart/report; report-type={text}"),
                    ),
                    ("from".into(), text.into()),
                ],
                subject: Some(text.into()),
                ..ParsedEmail::default()
            };
            let _ = classify(&p, "", &own());
            let p = ParsedEmail {
                is_delivery_report: false,
                ..p
            };
            let _ = classify(&p, "", &own());
        }
    }
}
