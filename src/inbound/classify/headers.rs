//! Reading the top-level headers the classifier decides on: every value of a header, the
//! keyword of a structured value (`auto-replied; owner-email="…"` gives `auto-replied`),
//! `Auto-Submitted` (RFC 3834 §5), `Precedence`, the local part of From, and the `report-type`
//! of a `multipart/report`.

use crate::inbound::parse::ParsedEmail;

/// Values of every top-level header named `name` (lowercase).
pub(super) fn headers<'a>(
    parsed: &'a ParsedEmail,
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    parsed
        .headers
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

pub(super) fn has_header(parsed: &ParsedEmail, name: &str) -> bool {
    headers(parsed, name).next().is_some()
}

/// The keyword of a structured header value, lowercased: `auto-replied; owner-email="…"` and
/// `auto-replied (vacation)` both give `auto-replied`.
pub(super) fn keyword(value: &str) -> String {
    value
        .trim()
        .split([';', '(', ' ', '\t', ','])
        .next()
        .unwrap_or("")
        .trim_matches('"')
        .to_lowercase()
}

/// The keywords of every `Auto-Submitted` header but `no` (RFC 3834 §5) and empty ones.
pub(super) fn auto_submitted(parsed: &ParsedEmail) -> impl Iterator<Item = String> + '_ {
    headers(parsed, "auto-submitted")
        .map(keyword)
        .filter(|k| !k.is_empty() && k != "no")
}

/// `X-Autoreply: yes` and friends; `no`/`false`/`0`/`off` say the opposite.
pub(super) fn affirmative(value: &str) -> bool {
    !matches!(keyword(value).as_str(), "no" | "false" | "0" | "off")
}

pub(super) fn precedence(
    parsed: &ParsedEmail,
) -> impl Iterator<Item = (&'static str, String)> + '_ {
    let p = headers(parsed, "precedence").map(|v| ("precedence", keyword(v)));
    let x = headers(parsed, "x-precedence").map(|v| ("x-precedence", keyword(v)));
    p.chain(x)
}

/// The local part of the first address in a From header value, lowercased. Works on
/// unqualified addresses (`From: Mail Delivery Subsystem <MAILER-DAEMON>`), which do not
/// parse as an [`EmailAddress`](crate::domain::EmailAddress).
pub(super) fn from_local_part(parsed: &ParsedEmail) -> Option<String> {
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

/// The `report-type` of a top-level `multipart/report` (read receipts are
/// `disposition-notification`, abuse reports `feedback-report`).
pub(super) fn report_type(parsed: &ParsedEmail) -> Option<String> {
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
