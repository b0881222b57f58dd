//! Bounds how deeply elements nest before html5ever sees the markup. Its tree builder looks
//! through the stack of open elements for many start tags (the HTML standard's "has an element
//! in scope" checks), so n nested `<div>`s cost n² steps: 16,000 of them (190 KB) took 4 s of
//! CPU. Start tags beyond [`MAX_DEPTH`] open elements are dropped together with their end
//! tags; what they held stays, flattened into the element at the limit. One linear scan: text,
//! comments, and the content of raw-text elements pass through untouched, and nothing is
//! trusted — the result still goes through the sanitizer.

use std::borrow::Cow;

/// Deeper than any mail client nests (a long Outlook thread nests a few dozen levels).
pub(super) const MAX_DEPTH: usize = 100;

/// How far down the stack an end tag looks for its start tag: a stray end tag must not cost a
/// walk of the whole stack.
const END_TAG_REACH: usize = 32;

/// Elements without content or end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Elements whose content is text up to their own end tag.
const RAW_TEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript",
];

/// Elements a start tag of the same kind closes (HTML's optional end tags), so that a list of
/// unclosed paragraphs is not taken for nesting.
fn closes_same(name: &str) -> bool {
    matches!(
        name,
        "p" | "li" | "dt" | "dd" | "option" | "tr" | "td" | "th"
    )
}

/// A tag name held without allocating (longer names are cut: they only have to tell
/// neighbours apart).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Name([u8; 15], u8);

impl Name {
    fn of(lowercase: &str) -> Name {
        let mut bytes = [0u8; 15];
        let len = lowercase.len().min(15);
        bytes[..len].copy_from_slice(&lowercase.as_bytes()[..len]);
        Name(bytes, len as u8)
    }
}

/// `html` with elements nested deeper than [`MAX_DEPTH`] flattened (borrowed when none are).
pub(super) fn flatten(html: &str) -> Cow<'_, str> {
    let bytes = html.as_bytes();
    let mut f = Flattener {
        html,
        stack: Vec::new(),
        kept_depth: 0,
        out: None,
        copied: 0,
    };
    let mut i = 0usize;
    while let Some(offset) = memchr(b'<', &bytes[i..]) {
        let start = i + offset;
        let rest = &html[start..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            i = comment
                .find("-->")
                .map_or(html.len(), |e| start + 4 + e + 3);
            continue;
        }
        let end_tag = rest.starts_with("</");
        let name_from = start + if end_tag { 2 } else { 1 };
        let name_len = bytes[name_from..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
            .count();
        if name_len == 0 || !bytes[name_from].is_ascii_alphabetic() {
            i = start + 1;
            continue;
        }
        let name = html[name_from..name_from + name_len].to_ascii_lowercase();
        let Some(close) = tag_end(bytes, name_from + name_len) else {
            break;
        };
        let tag = start..close + 1;
        i = match end_tag {
            true => f.end_tag(&name, tag),
            false => f.start_tag(&name, tag, bytes[close - 1] == b'/'),
        };
    }
    match f.out {
        None => Cow::Borrowed(html),
        Some(mut o) => {
            o.push_str(&html[f.copied..]);
            Cow::Owned(o)
        }
    }
}

/// The scan's state: the open elements and the output, built only once a tag is dropped.
struct Flattener<'a> {
    html: &'a str,
    /// Open elements: (name, dropped).
    stack: Vec<(Name, bool)>,
    /// How many open elements are kept.
    kept_depth: usize,
    out: Option<String>,
    /// Everything before `copied` is already in `out` (when it exists).
    copied: usize,
}

impl Flattener<'_> {
    /// Leaves the tag at `range` out of the output.
    fn drop_tag(&mut self, range: std::ops::Range<usize>) {
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(self.html.len()));
        out.push_str(&self.html[self.copied..range.start]);
        self.copied = range.end;
    }

    /// An end tag: closes its element (and those opened inside it), dropped with it. Returns
    /// where the scan goes on.
    fn end_tag(&mut self, name: &str, tag: std::ops::Range<usize>) -> usize {
        let key = Name::of(name);
        let found = self
            .stack
            .iter()
            .rev()
            .take(END_TAG_REACH)
            .position(|(n, _)| *n == key);
        if let Some(up) = found {
            let at = self.stack.len() - 1 - up;
            let dropped = self.stack[at].1;
            for (_, was_dropped) in self.stack.drain(at..) {
                if !was_dropped {
                    self.kept_depth -= 1;
                }
            }
            if dropped {
                self.drop_tag(tag.clone());
            }
        }
        tag.end
    }

    /// A start tag: kept while the depth allows, dropped beyond it. Returns where the scan
    /// goes on (past a raw-text element's content).
    fn start_tag(&mut self, name: &str, tag: std::ops::Range<usize>, self_closing: bool) -> usize {
        if VOID.contains(&name) || self_closing {
            return tag.end;
        }
        let key = Name::of(name);
        if closes_same(name)
            && self.stack.last().is_some_and(|(n, _)| *n == key)
            && let Some((_, false)) = self.stack.pop()
        {
            self.kept_depth -= 1;
        }
        let drop = self.kept_depth >= MAX_DEPTH;
        if drop {
            self.drop_tag(tag.clone());
        } else {
            self.kept_depth += 1;
        }
        self.stack.push((key, drop));
        if RAW_TEXT.contains(&name) {
            // Its content is text up to `</name`: no tags inside.
            let closing = format!("</{name}");
            return find_ascii_ci(&self.html[tag.end..], &closing)
                .map_or(self.html.len(), |e| tag.end + e);
        }
        tag.end
    }
}

/// The `>` that ends the tag whose attributes start at `from` (quoted values may hold `>`).
fn tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    for (k, &b) in bytes.iter().enumerate().skip(from) {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return Some(k),
            _ => {}
        }
    }
    None
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// Where `needle` (ASCII) first occurs in `haystack`, ignoring ASCII case.
fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&k| h[k..k + n.len()].eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shallow_markup_is_left_as_it_is() {
        let html = "<div><p>One<p>Two</div><!-- <div> --><script>if (a<b) {}</script><br/>";
        assert!(matches!(flatten(html), Cow::Borrowed(_)));
    }

    #[test]
    fn nesting_beyond_the_limit_is_flattened_and_the_text_kept() {
        let n = 1000;
        let html = format!("{}deep{}after", "<div>".repeat(n), "</div>".repeat(n));
        let flat = flatten(&html);
        assert_eq!(flat.matches("<div>").count(), MAX_DEPTH);
        assert_eq!(flat.matches("</div>").count(), MAX_DEPTH);
        assert!(flat.contains("deep") && flat.ends_with("after"));
        // Unclosed paragraphs and list items are siblings, not nesting.
        let list = "<p>x".repeat(5000);
        assert!(matches!(flatten(&list), Cow::Borrowed(_)));
    }

    #[test]
    fn attributes_with_angle_brackets_and_stray_end_tags_do_not_confuse_it() {
        let html = format!(
            "<span title=\"a>b\">t</span></nope>{}x{}",
            "<blockquote>".repeat(300),
            "</blockquote>".repeat(300)
        );
        let flat = flatten(&html);
        assert_eq!(flat.matches("<blockquote>").count(), MAX_DEPTH);
        assert_eq!(flat.matches("</blockquote>").count(), MAX_DEPTH);
        assert!(flat.starts_with("<span title=\"a>b\">t</span></nope>"));
    }
}
