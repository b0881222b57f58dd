//! Our own mail coming back to us: sent from our notification address, carrying an
//! `X-Threadgate-Loop` header, or bearing one of our own Message-IDs, whose shape alone tells
//! they are ours.

use super::headers::headers;
use crate::domain::sending::SendingDomains;
use crate::inbound::parse::ParsedEmail;

pub(super) fn loop_sign(parsed: &ParsedEmail, ours: &SendingDomains) -> Option<String> {
    if parsed
        .from
        .as_ref()
        .is_some_and(|f| ours.is_own_address(&f.key()))
    {
        return Some("sent from one of our own notification addresses".into());
    }
    if let Some(host) = headers(parsed, "x-threadgate-loop").next() {
        return Some(format!("x-threadgate-loop: {host}"));
    }
    if parsed.message_id.as_deref().is_some_and(is_our_message_id) {
        return Some("carries the Message-ID of one of our notifications".into());
    }
    None
}

/// Our Message-IDs are `<cnv_….per_….n.mac@reply-domain>` (see `domain::MessageIds`). The
/// shape alone is enough here: nobody else writes ids like these, and no decision trusts it
/// beyond "do not answer, do not post".
pub(super) fn is_our_message_id(id: &str) -> bool {
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
