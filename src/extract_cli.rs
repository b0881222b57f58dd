//! `threadgate extract FILE.eml`: shows how the inbound pipeline reads one email — its
//! classification, the route it would take, the kept text and the trimmed part — for people
//! debugging a reply that was split wrongly. Pure: no database, no network.

use crate::domain::EmailAddress;
use crate::domain::envelope::reply_address;
use crate::domain::sending::SendingDomains;
use crate::inbound::analyze::{self, Context};
use crate::inbound::classify::Machine;
use std::fmt::Write;

/// Renders the report for `raw`. `sent` is the text of the notification the person answered,
/// when known (it is then cut wherever it is quoted, as in the live pipeline).
pub fn report(
    raw: &[u8],
    reply_domain: &str,
    own_address: &EmailAddress,
    envelope_from: Option<&str>,
    sent: Option<&str>,
) -> String {
    let mut out = String::new();
    let domains = SendingDomains::single(own_address.clone(), reply_domain);
    let from_header = crate::inbound::parse::parse_email(raw, &|d| domains.is_reply_domain(d))
        .and_then(|p| p.from.map(|f| f.to_string()))
        .unwrap_or_default();
    let envelope_from = envelope_from.unwrap_or(&from_header);
    let ctx = Context {
        domains: &domains,
        envelope_from,
    };
    let Some((parsed, machine)) = analyze::parse_and_classify(raw, &ctx) else {
        return "classification: rejected (not a parseable email: no headers)\n".to_string();
    };
    let _ = writeln!(
        out,
        "from:           {}",
        parsed
            .from
            .as_ref()
            .map_or("(none)".to_string(), |f| f.to_string())
    );
    let _ = writeln!(
        out,
        "subject:        {}",
        parsed.subject.as_deref().unwrap_or("(none)")
    );
    let _ = writeln!(
        out,
        "message-id:     {}",
        parsed.message_id.as_deref().unwrap_or("(none)")
    );
    // Prepared once: the extraction and the explanation of its cuts both match against it.
    let sent = sent.and_then(crate::inbound::extract::Sent::new);
    let body = analyze::reply_body_sent(
        &parsed,
        sent.as_ref(),
        &|_| None,
        &crate::inbound::budget::CpuBudget::unlimited(),
    );
    let classification = match &machine {
        Some(Machine::AutoReply(why)) => format!("auto_reply ({why})"),
        Some(Machine::Loop(why)) => format!("auto_reply, loop ({why})"),
        Some(m @ Machine::Bounce(_)) => format!("bounce ({})", m.detail()),
        None if body.text.trim().is_empty() => {
            "empty (only quoted text or a signature)".to_string()
        }
        None => "reply".to_string(),
    };
    let _ = writeln!(out, "classification: {classification}");
    // Tokens are secrets: show enough to recognise one, not enough to use it.
    let tokens: Vec<String> = parsed
        .header_tokens
        .iter()
        .map(|(t, domain)| reply_address(&format!("{}…", &t.as_str()[..4]), domain))
        .collect();
    let _ = writeln!(
        out,
        "route:          reply addresses in To/Cc/Delivered-To: {}; Message-IDs in In-Reply-To/References: {}",
        if tokens.is_empty() {
            "none".to_string()
        } else {
            tokens.join(", ")
        },
        if parsed.in_reply_to.is_empty() {
            "none".to_string()
        } else {
            parsed.in_reply_to.join(" ")
        },
    );
    let _ = writeln!(
        out,
        "                (the envelope recipient, when it is a reply address, comes first)"
    );
    let _ = writeln!(out, "attachments:    {}", parsed.attachments.len());
    for a in &parsed.attachments {
        let _ = writeln!(
            out,
            "  - {} ({}, {} bytes{})",
            a.filename,
            a.content_type,
            a.data.len(),
            if a.inline { ", inline" } else { "" }
        );
    }
    let _ = writeln!(out, "--- kept text");
    let _ = writeln!(out, "{}", body.text);
    let _ = writeln!(out, "--- trimmed");
    let _ = writeln!(out, "{}", body.trimmed.as_deref().unwrap_or("(nothing)"));
    // Each cut with the rule that made it (lines of the text above, as the pipeline read it).
    let cuts = crate::inbound::extract::explain(&parsed.text(), sent.as_ref());
    let _ = writeln!(out, "--- why (lines of the email's text)");
    if cuts.is_empty() {
        let _ = writeln!(out, "(nothing was cut)");
    }
    for cut in &cuts {
        let lines = match cut.first == cut.last {
            true => format!("line {}", cut.first),
            false => format!("lines {}-{}", cut.first, cut.last),
        };
        let _ = writeln!(out, "{lines}: {}", cut.rule);
    }
    if let Some(html) = &body.html {
        let _ = writeln!(out, "--- kept HTML (sanitized)");
        let _ = writeln!(out, "{html}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_shows_classification_route_kept_and_trimmed_parts() {
        let raw = b"From: carl@client.test\r\nTo: reply+abcdefghijklmnopqrstuvwxyz@reply.test\r\n\
In-Reply-To: <n1@reply.test>\r\nSubject: Re: hi\r\n\r\nYes please.\r\n\r\nOn Mon, 23 Nov 2026 at 10:00, Agnes <a@b.test> wrote:\r\n> Shall we?\r\n";
        let own = EmailAddress::parse("notifications@gw.test").unwrap();
        let out = report(raw, "reply.test", &own, None, None);
        assert!(out.contains("classification: reply"), "{out}");
        assert!(out.contains("reply+abcd…@reply.test"), "{out}");
        assert!(
            !out.contains("abcdefghijklmnopqrstuvwxyz"),
            "tokens are masked: {out}"
        );
        assert!(out.contains("n1@reply.test"), "{out}");
        assert!(out.contains("--- kept text\nYes please.\n"), "{out}");
        assert!(out.contains("> Shall we?"), "{out}");
        assert!(
            out.contains("lines 3-4: an attribution line (\"On Mon, 23 Nov 2026"),
            "{out}"
        );
    }

    #[test]
    fn garbage_is_reported_as_rejected() {
        let own = EmailAddress::parse("notifications@gw.test").unwrap();
        assert!(report(b"", "reply.test", &own, None, None).contains("rejected"));
    }
}
