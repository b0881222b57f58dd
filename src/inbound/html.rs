//! HTML replies: quote containers removed, sanitized, and rendered as text.

/// Readable text of an HTML body (block elements become line breaks, entities decoded).
pub fn html_to_text(html: &str) -> String {
    mail_parser::decoders::html::html_to_text(html)
}

/// The kept part of an HTML reply, sanitized: safe to show on our origin.
pub fn reply_html(html: &str) -> String {
    ammonia::clean(html)
}
