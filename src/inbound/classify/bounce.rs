//! Delivery failure reports. RFC 3464 delivery status notifications are read from their
//! `message/delivery-status` part and completed from their human-readable text; plain-text
//! bounces (qmail, old Exim, Sendmail without DSN…) are recognized by their sender, subject or
//! text and read from that text; the null envelope sender (RFC 5321 §4.5.5) marks a bounce too.
//! Statuses are RFC 3463 enhanced codes, derived from the SMTP reply when the report has none.

use super::Bounce;
use super::headers::{from_local_part, has_header, headers, keyword};
use crate::inbound::parse::ParsedEmail;

pub(super) fn is_null_sender(envelope_from: &str) -> bool {
    matches!(envelope_from.trim(), "" | "<>")
}

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

pub(super) fn plain_bounce_sign(parsed: &ParsedEmail, null_sender: bool) -> Option<String> {
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
pub(super) fn report_bounce(parsed: &ParsedEmail) -> Bounce {
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
pub(super) fn plain_bounce(parsed: &ParsedEmail, reason: String) -> Bounce {
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
pub(super) fn smtp_code_position(line: &str) -> Option<usize> {
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
pub(super) fn enhanced_status(text: &str) -> Option<String> {
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

fn strip_brackets(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}
