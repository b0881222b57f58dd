//! Automatic answers: a person's responder (out of office, vacation), known by
//! `Auto-Submitted: auto-replied` (RFC 3834 §5), vendor headers (`X-Autoreply`, `Precedence:
//! auto_reply`, Exchange inbox rules) or a localized subject ("Automatic reply:", "Réponse
//! automatique :"…); and other automatic mail: generated notices, bulk mail and lists, reports.

use super::headers::{affirmative, auto_submitted, has_header, headers, precedence, report_type};
use crate::inbound::parse::ParsedEmail;

/// Signs of a person's responder (out of office, vacation).
pub(super) fn responder_sign(parsed: &ParsedEmail) -> Option<String> {
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
pub(super) fn automatic_sign(parsed: &ParsedEmail) -> Option<String> {
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
