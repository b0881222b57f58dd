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
//!
//! Files: `headers` reads the header values, `loops` recognizes our own mail, `auto_reply` the
//! responders and other automatic mail, `bounce` the delivery reports; this file holds the
//! types the pipeline reads and the order in which the signs are looked for.

mod auto_reply;
mod bounce;
mod headers;
mod loops;

use super::parse::ParsedEmail;
use crate::domain::sending::SendingDomains;
pub use auto_reply::auto_reply_subject;
use auto_reply::{automatic_sign, responder_sign};
use bounce::{is_null_sender, plain_bounce, plain_bounce_sign, report_bounce};
use headers::{auto_submitted, report_type};
use loops::{is_our_message_id, loop_sign};

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
    ours: &SendingDomains,
) -> Option<Machine> {
    if parsed.is_delivery_report || report_type(parsed).as_deref() == Some("delivery-status") {
        return Some(Machine::Bounce(report_bounce(parsed)));
    }
    if let Some(why) = loop_sign(parsed, ours) {
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

#[cfg(test)]
mod tests;
