//! What the rest of the inbound pipeline needs from a raw email, read once with mail-parser.

use crate::domain::{EmailAddress, ReplyToken};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

#[derive(Debug, Clone, Default)]
pub struct ParsedEmail {
    /// The first From mailbox, when it is a valid address.
    pub from: Option<EmailAddress>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    /// Reply tokens found in To, Cc and Delivered-To (in that order, no duplicates).
    pub header_tokens: Vec<ReplyToken>,
    /// Message-IDs in In-Reply-To then References.
    pub in_reply_to: Vec<String>,
    /// The readable text: text/plain, else the HTML part converted to text.
    pub text: String,
    /// `Auto-Submitted`, `X-Autoreply`, `Precedence` and friends (RFC 3834), lowercased.
    pub auto_markers: Vec<(String, String)>,
    /// `Content-Type: multipart/report; report-type=delivery-status` (RFC 3464 DSN).
    pub is_delivery_report: bool,
}

/// None when the bytes are not an email at all (no header could be read).
pub fn parse_email(raw: &[u8], reply_domain: &str) -> Option<ParsedEmail> {
    let message = MessageParser::default().parse(raw)?;
    if message.root_part().headers.is_empty() {
        return None;
    }
    let mut parsed = ParsedEmail {
        from: message
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .and_then(|a| EmailAddress::parse(a).ok()),
        message_id: message
            .message_id()
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty()),
        subject: message.subject().map(str::to_string),
        text: message
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
        ..ParsedEmail::default()
    };
    let mut consider = |addr: &str| {
        if let Ok(a) = EmailAddress::parse(addr)
            && a.domain().eq_ignore_ascii_case(reply_domain)
            && let Some(token) = ReplyToken::from_local_part(a.local())
            && !parsed.header_tokens.contains(&token)
        {
            parsed.header_tokens.push(token);
        }
    };
    for list in [message.to(), message.cc()].into_iter().flatten() {
        for addr in list.iter() {
            if let Some(a) = addr.address() {
                consider(a);
            }
        }
    }
    for value in message.header_values("Delivered-To") {
        if let Some(text) = value.as_text() {
            consider(text);
        }
    }
    for value in [message.in_reply_to(), message.references()] {
        match value {
            HeaderValue::Text(id) => parsed.in_reply_to.push(id.to_string()),
            HeaderValue::TextList(ids) => parsed
                .in_reply_to
                .extend(ids.iter().map(|id| id.to_string())),
            _ => {}
        }
    }
    for (name, value) in message.headers_raw() {
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "auto-submitted"
                | "x-autoreply"
                | "x-autorespond"
                | "x-auto-response-suppress"
                | "precedence"
        ) {
            parsed
                .auto_markers
                .push((lower, value.trim().to_ascii_lowercase()));
        }
    }
    if let Some(ct) = message.root_part().content_type() {
        parsed.is_delivery_report = ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"));
    }
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_in_to_cc_and_delivered_to() {
        let raw = b"From: Alice <ALICE@example.com>\r\nTo: reply+abcdefghijklmnopqrstuvwxyz@reply.test\r\n\
Cc: Bob <reply+ZZZZZZZZZZZZZZZZZZZZZZZZZZ@Reply.Test>, other@example.com\r\n\
Delivered-To: reply+bbbbbbbbbbbbbbbbbbbbbbbbbb@reply.test\r\nMessage-ID: <m1@example.com>\r\n\
Subject: Re: hi\r\n\r\nHello\r\n";
        let p = parse_email(raw, "reply.test").unwrap();
        assert_eq!(p.from.unwrap().key(), "alice@example.com");
        assert_eq!(p.message_id.as_deref(), Some("m1@example.com"));
        let tokens: Vec<&str> = p.header_tokens.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            tokens,
            [
                "abcdefghijklmnopqrstuvwxyz",
                "zzzzzzzzzzzzzzzzzzzzzzzzzz",
                "bbbbbbbbbbbbbbbbbbbbbbbbbb"
            ]
        );
        assert_eq!(p.text.trim(), "Hello");
    }

    #[test]
    fn html_only_mail_becomes_text() {
        let raw = b"From: a@example.com\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Bonjour <b>monde</b></p>";
        let p = parse_email(raw, "reply.test").unwrap();
        assert!(
            p.text.contains("Bonjour") && p.text.contains("monde"),
            "{:?}",
            p.text
        );
        assert!(!p.text.contains('<'));
    }

    #[test]
    fn auto_reply_headers_and_reports_are_noticed() {
        let raw = b"From: a@example.com\r\nAuto-Submitted: auto-replied\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x--\r\n";
        let p = parse_email(raw, "reply.test").unwrap();
        assert_eq!(
            p.auto_markers,
            vec![("auto-submitted".to_string(), "auto-replied".to_string())]
        );
        assert!(p.is_delivery_report);
    }

    #[test]
    fn bytes_that_are_not_an_email_give_none() {
        assert!(parse_email(b"", "reply.test").is_none());
    }
}
