//! What the rest of the inbound pipeline needs from a raw email, read once with mail-parser.
//! mail-parser decodes charsets (UTF-8, ISO-8859-x, Windows-125x, …), quoted-printable, base64
//! and RFC 2047 encoded words; format=flowed text is joined here (RFC 3676 §4.2).

use crate::domain::envelope::{ReplyKind, reply_local_part};
use crate::domain::{EmailAddress, ReplyToken};
use mail_parser::{HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType};

#[derive(Debug, Clone, Default)]
pub struct ParsedEmail {
    /// The first From mailbox, when it is a valid address.
    pub from: Option<EmailAddress>,
    /// The display name of that From mailbox, if it has one.
    pub from_name: Option<String>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    /// The other mailboxes in To and Cc (not on one of our reply domains), each once: people the sender
    /// copied, whom staff may add to the conversation. At most [`MAX_COPIED`].
    pub copied: Vec<(EmailAddress, Option<String>)>,
    /// Reply tokens found in To, Cc and Delivered-To (in that order, no duplicates), each with
    /// the reply domain it was written on (lowercased): a token is valid only on its own
    /// domain's.
    pub header_tokens: Vec<(ReplyToken, String)>,
    /// Those of them written as note addresses (`reply+<token>+note`).
    pub note_tokens: Vec<ReplyToken>,
    /// Message-IDs in In-Reply-To then References, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// The email this one answers: the first Message-ID of In-Reply-To.
    pub parent: Option<String>,
    /// Every top-level header: lowercased name, raw (unfolded, trimmed) value.
    pub headers: Vec<(String, String)>,
    /// The first text/plain body part, decoded.
    pub text_body: Option<String>,
    /// The first text/html body part, decoded (not sanitized: never show it as is).
    pub html_body: Option<String>,
    /// Attachments and inline parts (images referenced by `cid:`), decoded.
    pub attachments: Vec<AttachmentPart>,
    /// `Content-Type: multipart/report; report-type=delivery-status` (RFC 3464 DSN).
    pub is_delivery_report: bool,
    /// The text of the `message/delivery-status` part of a DSN (RFC 3464 §2), if any.
    pub delivery_status: Option<String>,
    /// Headers of the returned original message in a DSN (`message/rfc822` or
    /// `text/rfc822-headers` part), lowercased names.
    pub returned_headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentPart {
    pub filename: String,
    /// `type/subtype`, lowercased.
    pub content_type: String,
    /// Without angle brackets.
    pub content_id: Option<String>,
    /// Shown in the body (Content-Disposition: inline with a Content-ID) rather than listed.
    pub inline: bool,
    pub data: Vec<u8>,
}

impl ParsedEmail {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The readable text: the text/plain part, else the HTML part as text.
    pub fn text(&self) -> String {
        match (&self.text_body, &self.html_body) {
            (Some(text), _) => text.clone(),
            (None, Some(html)) => super::html::html_to_text(html),
            (None, None) => String::new(),
        }
    }
}

fn strip_brackets(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

fn headers_of(part: &mail_parser::MessagePart<'_>, raw: &[u8]) -> Vec<(String, String)> {
    part.headers
        .iter()
        .filter_map(|h| {
            let value = raw.get(h.offset_start as usize..h.offset_end as usize)?;
            let value = String::from_utf8_lossy(value);
            // Unfold (RFC 5322 §2.2.3): CRLF followed by white space is not a line break.
            let unfolded = value.replace("\r\n", "").replace('\n', "");
            Some((
                h.name.as_str().to_ascii_lowercase(),
                unfolded.trim().to_string(),
            ))
        })
        .collect()
}

/// RFC 3676 §4.2: in format=flowed text a line ending in a space continues on the next line
/// (unless it is the signature separator); quoted lines only join lines of the same depth.
fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending = String::new();
    let mut pending_depth: Option<usize> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let depth = line.bytes().take_while(|&b| b == b'>').count();
        let content = &line[depth..];
        let content = content.strip_prefix(' ').unwrap_or(content); // space-stuffing
        if pending_depth.is_some_and(|d| d != depth) {
            out.push_str(&pending);
            out.push('\n');
            pending.clear();
            pending_depth = None;
        }
        if pending_depth.is_none() {
            pending.push_str(&line[..depth]);
            if depth > 0 {
                pending.push(' ');
            }
        }
        let flowed = content.ends_with(' ') && content != "-- ";
        if flowed {
            let piece = if delsp {
                &content[..content.len() - 1]
            } else {
                content
            };
            pending.push_str(piece);
            pending_depth = Some(depth);
        } else {
            pending.push_str(content);
            out.push_str(&pending);
            out.push('\n');
            pending.clear();
            pending_depth = None;
        }
    }
    out.push_str(&pending);
    if !text.ends_with('\n') && out.ends_with('\n') {
        out.pop();
    }
    out
}

/// None when the bytes are not an email at all (no header could be read). `is_reply_domain`
/// says which domains are ours (where reply tokens live).
pub fn parse_email(raw: &[u8], is_reply_domain: &dyn Fn(&str) -> bool) -> Option<ParsedEmail> {
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
        from_name: from_name(&message),
        message_id: message
            .message_id()
            .map(strip_brackets)
            .filter(|id| !id.is_empty()),
        subject: message.subject().map(str::to_string),
        headers: headers_of(message.root_part(), raw),
        ..ParsedEmail::default()
    };
    (parsed.header_tokens, parsed.note_tokens) = header_tokens(&message, is_reply_domain);
    parsed.copied = copied(&message, is_reply_domain);
    parsed.parent = match message.in_reply_to() {
        HeaderValue::Text(id) => Some(strip_brackets(id)),
        HeaderValue::TextList(ids) => ids.first().map(|id| strip_brackets(id)),
        _ => None,
    };
    for value in [message.in_reply_to(), message.references()] {
        match value {
            HeaderValue::Text(id) => parsed.in_reply_to.push(strip_brackets(id)),
            HeaderValue::TextList(ids) => parsed
                .in_reply_to
                .extend(ids.iter().map(|id| strip_brackets(id))),
            _ => {}
        }
    }
    parsed.text_body = text_body(&message);
    parsed.html_body = message
        .html_body
        .iter()
        .find_map(|&id| match &message.part(id)?.body {
            PartType::Html(html) => Some(html.to_string()),
            _ => None,
        });
    if let Some(ct) = message.root_part().content_type() {
        parsed.is_delivery_report = ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"));
    }
    let roles = PartRoles::of(&message);
    for (index, part) in message.parts.iter().enumerate() {
        if let Some(attachment) = part_of(&roles, index, part, &mut parsed) {
            parsed.attachments.push(attachment);
        }
    }
    Some(parsed)
}

/// The From display name. Decoded from RFC 2047 words, it may hold anything (a CR LF among
/// them): cleaned, never refused, so the email is still delivered.
fn from_name(message: &Message<'_>) -> Option<String> {
    let name = message.from()?.first()?.name()?;
    let rule = crate::domain::text::TextRule {
        max_chars: 100,
        ..crate::domain::text::NAME
    };
    Some(crate::domain::text::clean(name, &rule)).filter(|n| !n.is_empty())
}

/// Mailboxes of To and Cc kept as people the sender copied (a long list is a newsletter's, not
/// colleagues').
pub const MAX_COPIED: usize = 20;

/// The mailboxes of To and Cc that are not on our reply domains, each once, with their cleaned
/// display names.
fn copied(
    message: &Message<'_>,
    is_reply_domain: &dyn Fn(&str) -> bool,
) -> Vec<(EmailAddress, Option<String>)> {
    let mut out: Vec<(EmailAddress, Option<String>)> = Vec::new();
    let rule = crate::domain::text::TextRule {
        max_chars: 100,
        ..crate::domain::text::NAME
    };
    for list in [message.to(), message.cc()].into_iter().flatten() {
        for addr in list.iter() {
            let Some(address) = addr.address().and_then(|a| EmailAddress::parse(a).ok()) else {
                continue;
            };
            if is_reply_domain(address.domain())
                || out.iter().any(|(a, _)| a.key() == address.key())
            {
                continue;
            }
            let name = addr
                .name()
                .map(|n| crate::domain::text::clean(n, &rule))
                .filter(|n| !n.is_empty());
            out.push((address, name));
            if out.len() == MAX_COPIED {
                return out;
            }
        }
    }
    out
}

/// The reply tokens of our reply domains in To, Cc and Delivered-To, each once with its
/// domain, and those written as note addresses.
type HeaderTokens = (Vec<(ReplyToken, String)>, Vec<ReplyToken>);

fn header_tokens(message: &Message<'_>, is_reply_domain: &dyn Fn(&str) -> bool) -> HeaderTokens {
    let mut tokens: Vec<(ReplyToken, String)> = Vec::new();
    let mut notes = Vec::new();
    let mut consider = |addr: &str| {
        if let Ok(a) = EmailAddress::parse(addr)
            && is_reply_domain(a.domain())
            && let Some((token, kind)) = reply_local_part(a.local())
        {
            if kind == ReplyKind::Note && !notes.contains(&token) {
                notes.push(token.clone());
            }
            if !tokens.iter().any(|(t, _)| *t == token) {
                tokens.push((token, a.domain().to_ascii_lowercase()));
            }
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
    (tokens, notes)
}

/// The text/plain body, format=flowed undone (RFC 3676). mail-parser lists the HTML part under
/// text_body too when there is no text part (converted on the fly); only real text/plain
/// counts here.
fn text_body(message: &Message<'_>) -> Option<String> {
    message.text_body.iter().find_map(|&id| {
        let part = message.part(id)?;
        let PartType::Text(text) = &part.body else {
            return None;
        };
        let attribute = |name: &str, value: &str| {
            part.content_type().is_some_and(|ct| {
                ct.attribute(name)
                    .is_some_and(|v| v.eq_ignore_ascii_case(value))
            })
        };
        Some(match attribute("format", "flowed") {
            true => unflow(text, attribute("delsp", "yes")),
            false => text.to_string(),
        })
    })
}

/// One MIME part: a delivery report's status or returned headers (RFC 3464) are noted in
/// `parsed`; an attachment is returned.
fn part_of(
    roles: &PartRoles,
    index: usize,
    part: &MessagePart<'_>,
    parsed: &mut ParsedEmail,
) -> Option<AttachmentPart> {
    let ct = part.content_type()?;
    let mime = format!(
        "{}/{}",
        ct.ctype().to_ascii_lowercase(),
        ct.subtype().unwrap_or("octet-stream").to_ascii_lowercase()
    );
    match (mime.as_str(), &part.body) {
        ("message/delivery-status" | "message/global-delivery-status", body) => {
            let text = match body {
                PartType::Text(t) => t.to_string(),
                PartType::Binary(b) | PartType::InlineBinary(b) => {
                    String::from_utf8_lossy(b).into_owned()
                }
                PartType::Message(m) => String::from_utf8_lossy(&m.raw_message).into_owned(),
                _ => String::new(),
            };
            parsed.delivery_status.get_or_insert(text);
            return None;
        }
        ("message/rfc822" | "message/global", PartType::Message(inner))
            if parsed.is_delivery_report && parsed.returned_headers.is_empty() =>
        {
            parsed.returned_headers = headers_of(inner.root_part(), &inner.raw_message);
        }
        ("text/rfc822-headers", PartType::Text(t)) => {
            if parsed.returned_headers.is_empty()
                && let Some(inner) = MessageParser::default().parse_headers(t.as_bytes())
            {
                parsed.returned_headers = headers_of(inner.root_part(), t.as_bytes());
            }
            return None;
        }
        _ => {}
    }
    attachment(roles, index, part, mime, parsed.attachments.len())
}

/// What the parser made of each part: a body part (text or HTML), an attachment, both or
/// neither. Looked up once per email, not searched per part — an email of 100,000 parts made
/// that search quadratic (40,000 parts: 7 s).
struct PartRoles {
    body: Vec<bool>,
    attachment: Vec<bool>,
}

impl PartRoles {
    fn of(message: &Message<'_>) -> PartRoles {
        let mark = |ids: &[u32]| {
            let mut marks = vec![false; message.parts.len()];
            for &id in ids {
                if let Some(mark) = marks.get_mut(id as usize) {
                    *mark = true;
                }
            }
            marks
        };
        let mut body = mark(&message.text_body);
        for (mark, html) in body.iter_mut().zip(mark(&message.html_body)) {
            *mark |= html;
        }
        PartRoles {
            body,
            attachment: mark(&message.attachments),
        }
    }
}

/// The part as an attachment, unless it is a body part shown inline. `kept`: how many came
/// before (unnamed ones are numbered).
fn attachment(
    roles: &PartRoles,
    index: usize,
    part: &MessagePart<'_>,
    content_type: String,
    kept: usize,
) -> Option<AttachmentPart> {
    let disposition_attachment = part
        .content_disposition()
        .is_some_and(|d| d.is_attachment());
    let is_body = roles.body.get(index).copied().unwrap_or(false);
    let is_attachment = roles.attachment.get(index).copied().unwrap_or(false);
    if !is_attachment || is_body && !disposition_attachment {
        return None;
    }
    let data = match &part.body {
        PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
        PartType::Text(t) | PartType::Html(t) => t.as_bytes().to_vec(),
        PartType::Message(m) => m.raw_message.to_vec(),
        PartType::Multipart(_) => return None,
    };
    let content_id = part
        .content_id()
        .map(strip_brackets)
        .filter(|c| !c.is_empty());
    let inline = content_id.is_some() && !disposition_attachment;
    let filename = part
        .attachment_name()
        .map(|n| crate::domain::text::clean(n, &crate::domain::text::FILE_NAME))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("attachment-{}", kept + 1));
    Some(AttachmentPart {
        filename,
        content_type,
        content_id,
        inline,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_in_to_cc_and_delivered_to() {
        let raw = b"From: Alice <ALICE@example.com>\r\nTo: reply+abcdefghijklmnopqrstuvwxyz@reply.test\r\n\
Cc: Bob <reply+ZZZZZZZZZZZZZZZZZZZZZZZZZZ@Reply.Test>, other@example.com\r\n\
Delivered-To: reply+bbbbbbbbbbbbbbbbbbbbbbbbbb@reply.test\r\nMessage-ID: <m1@example.com>\r\n\
In-Reply-To: <n1@gw.test>\r\nReferences: <n0@gw.test> <n1@gw.test>\r\nSubject: Re: hi\r\n\r\nHello\r\n";
        let p = parse_email(raw, &|d| d == "reply.test").unwrap();
        assert_eq!(p.from.as_ref().unwrap().key(), "alice@example.com");
        assert_eq!(p.message_id.as_deref(), Some("m1@example.com"));
        let tokens: Vec<&str> = p.header_tokens.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            tokens,
            [
                "abcdefghijklmnopqrstuvwxyz",
                "zzzzzzzzzzzzzzzzzzzzzzzzzz",
                "bbbbbbbbbbbbbbbbbbbbbbbbbb"
            ]
        );
        assert_eq!(p.in_reply_to, ["n1@gw.test", "n0@gw.test", "n1@gw.test"]);
        assert_eq!(p.text().trim(), "Hello");
        assert_eq!(p.header("subject"), Some("Re: hi"));
    }

    #[test]
    fn html_only_mail_becomes_text() {
        let raw = b"From: a@example.com\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Bonjour <b>monde</b></p>";
        let p = parse_email(raw, &|d| d == "reply.test").unwrap();
        assert!(p.text_body.is_none());
        assert!(p.html_body.is_some());
        let text = p.text();
        assert!(
            text.contains("Bonjour") && text.contains("monde"),
            "{text:?}"
        );
        assert!(!text.contains('<'));
    }

    #[test]
    fn delivery_reports_expose_their_status_and_returned_headers() {
        let raw = b"From: MAILER-DAEMON@mx.test\r\nTo: bounces+out_abc@reply.test\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n\
--x\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\
--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n\r\n\
Final-Recipient: rfc822; carl@client.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
--x\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <n1@gw.test>\r\nSubject: Your order\r\n\r\n--x--\r\n";
        let p = parse_email(raw, &|d| d == "reply.test").unwrap();
        assert!(p.is_delivery_report);
        assert!(
            p.delivery_status
                .as_deref()
                .unwrap()
                .contains("Status: 5.1.1")
        );
        assert!(
            p.returned_headers
                .iter()
                .any(|(n, v)| n == "message-id" && v == "<n1@gw.test>")
        );
        assert!(p.attachments.is_empty());
    }

    #[test]
    fn attachments_and_inline_images_are_decoded() {
        let raw = b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n\
--m\r\nContent-Type: multipart/related; boundary=r\r\n\r\n\
--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>See <img src=\"cid:pic1@x\"></p>\r\n\
--r\r\nContent-Type: image/png\r\nContent-ID: <pic1@x>\r\nContent-Disposition: inline; filename=pic.png\r\n\
Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--r--\r\n\
--m\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--m--\r\n";
        let p = parse_email(raw, &|d| d == "reply.test").unwrap();
        assert_eq!(p.attachments.len(), 2, "{:?}", p.attachments);
        let pic = &p.attachments[0];
        assert_eq!((pic.filename.as_str(), pic.inline), ("pic.png", true));
        assert_eq!(pic.content_id.as_deref(), Some("pic1@x"));
        assert_eq!(pic.data, b"\x89PNG\r\n\x1a\n");
        let pdf = &p.attachments[1];
        assert_eq!(
            (pdf.filename.as_str(), pdf.content_type.as_str(), pdf.inline),
            ("invoice.pdf", "application/pdf", false)
        );
        assert_eq!(pdf.data, b"%PDF-1.4\n");
    }

    #[test]
    fn format_flowed_lines_are_joined() {
        let raw = b"From: a@example.com\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n\
This is a long line that the client \r\nwrapped for transport.\r\n\r\n> quoted \r\n> part\r\n-- \r\nsig\r\n";
        let p = parse_email(raw, &|d| d == "reply.test").unwrap();
        let text = p.text_body.unwrap();
        assert!(
            text.contains("This is a long line that the client wrapped for transport."),
            "{text:?}"
        );
        assert!(text.contains("> quoted part"), "{text:?}");
        assert!(text.contains("\n-- \n"), "{text:?}");
    }

    #[test]
    fn bytes_that_are_not_an_email_give_none() {
        assert!(parse_email(b"", &|d| d == "reply.test").is_none());
    }
}
