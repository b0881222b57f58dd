//! The kept nodes written back as HTML for the final sanitizing pass:
//! text escaped, Outlook's line paragraphs written as `<div>`, and `cid:`
//! image sources (RFC 2392) rewritten to our attachment URLs; any other
//! image source is dropped.

use super::clients::paragraph_is_a_line;
use super::sanitize::is_attachment_url;
use super::tree::{Data, Element, ROOT, Tree, VOID};

use std::borrow::Cow;

/// An element written inside `<details>` with `label` as its summary (a forwarded message).
pub(super) struct Fold {
    pub element: usize,
    pub label: String,
}

impl Tree {
    /// HTML of the kept nodes, `cid:` image sources rewritten, `fold`'s element folded.
    pub(super) fn serialize(
        &self,
        keep: &[bool],
        cid_url: &dyn Fn(&str) -> Option<String>,
        fold: Option<&Fold>,
    ) -> String {
        let mut out = String::new();
        let mut stack: Vec<(usize, bool)> = self.children[ROOT]
            .iter()
            .rev()
            .map(|&c| (c, true))
            .collect();
        while let Some((x, enter)) = stack.pop() {
            match (&self.data[x], enter) {
                (_, true) if !keep[x] => {}
                (Data::Text(t), _) => escape_into(&mut out, t, false),
                (Data::Element(e), true) => {
                    // An image keeps its source only when it is one of our
                    // attachments; without a source and without alternative
                    // text (a tracking pixel) it goes entirely.
                    let src = (e.name == "img")
                        .then(|| e.attr("src"))
                        .flatten()
                        // Only sources we produced from the email's own cid: parts: a
                        // sender-written `/attachments/…` could point anywhere on our origin.
                        .and_then(|src| cid_of(src).and_then(|cid| cid_url(&cid)))
                        .filter(|src| is_attachment_url(src));
                    if e.name == "img"
                        && src.is_none()
                        && e.attr("alt").is_none_or(|a| a.trim().is_empty())
                    {
                        continue;
                    }
                    if let Some(f) = fold.filter(|f| f.element == x) {
                        out.push_str("<details class=\"forwarded\"><summary>");
                        escape_into(&mut out, &f.label, false);
                        out.push_str("</summary>");
                    }
                    out.push('<');
                    out.push_str(serialized_name(e));
                    for (name, value) in &e.attrs {
                        let value = if e.name == "img" && name == "src" {
                            match &src {
                                Some(url) => Cow::Borrowed(url.as_str()),
                                None => continue,
                            }
                        } else {
                            Cow::Borrowed(value.as_str())
                        };
                        out.push(' ');
                        out.push_str(name);
                        out.push_str("=\"");
                        escape_into(&mut out, &value, true);
                        out.push('"');
                    }
                    out.push('>');
                    if !VOID.contains(&e.name.as_str()) {
                        stack.push((x, false));
                        stack.extend(self.children[x].iter().rev().map(|&c| (c, true)));
                    } else if fold.is_some_and(|f| f.element == x) {
                        out.push_str("</details>");
                    }
                }
                (Data::Element(e), false) => {
                    out.push_str("</");
                    out.push_str(serialized_name(e));
                    out.push('>');
                    if fold.is_some_and(|f| f.element == x) {
                        out.push_str("</details>");
                    }
                }
                (Data::Root, _) => {}
            }
        }
        out
    }
}

fn serialized_name(e: &Element) -> &str {
    if e.name == "p" && paragraph_is_a_line(e) {
        "div"
    } else {
        &e.name
    }
}

/// The Content-ID of a `cid:` URL (RFC 2392: percent-encoded).
pub(super) fn cid_of(src: &str) -> Option<String> {
    let s = src.trim();
    let rest = s
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("cid:"))
        .and(s.get(4..))?;
    let rest = rest.trim_start_matches('<').trim_end_matches('>');
    if rest.is_empty() {
        return None;
    }
    Some(percent_decode(rest))
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

fn escape_into(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\u{a0}' => out.push_str("&nbsp;"),
            c => out.push(c),
        }
    }
}
