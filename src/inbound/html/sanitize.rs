//! The ammonia configurations: pass 1 normalizes any HTML into the browser's
//! tree (html5ever), well-formed, keeping the attributes quote detection needs
//! and nothing executable; pass 2 is what we show on our origin (formatting
//! tags only, safe links, images only from our own attachments).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// Tags kept in the final HTML.
#[rustfmt::skip]
const SAFE_TAGS: &[&str] = &[
    "a", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol", "p", "pre", "s",
    "small", "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "u", "ul",
];

/// Further tags kept through normalization, for their structure (blocks and
/// inline elements the renderer knows); the final pass unwraps them.
#[rustfmt::skip]
const STRUCTURE_TAGS: &[&str] = &[
    "abbr", "acronym", "address", "article", "aside", "bdi", "bdo", "big", "center", "cite", "col",
    "colgroup", "dfn", "figcaption", "figure", "font", "footer", "header", "kbd", "main",
    "mark", "nav", "q", "samp", "section", "time", "tt", "var", "wbr",
];

/// Removed with their content at normalization.
const CONTENT_FREE_TAGS: &[&str] = &[
    "applet", "frameset", "iframe", "math", "noembed", "noframes", "object", "script", "select",
    "style", "svg", "template", "textarea", "title", "xml",
];

/// Pass 1: the browser's tree, well-formed, with the attributes quote
/// detection needs; nothing executable.
static NORMALIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.tags(SAFE_TAGS.iter().chain(STRUCTURE_TAGS).copied().collect())
        .clean_content_tags(CONTENT_FREE_TAGS.iter().copied().collect())
        // `name`: GMX's and Web.de's quote is `<div name="quote">`.
        .generic_attributes(
            [
                "class",
                "id",
                "style",
                "type",
                "dir",
                "data-smartmail",
                "name",
            ]
            .into(),
        )
        .tag_attributes(tag_attributes())
        .url_schemes(["http", "https", "mailto", "tel", "cid"].into())
        .link_rel(None)
        .strip_comments(true);
    b
});

/// The attributes kept on each tag, in both passes.
fn tag_attributes() -> HashMap<&'static str, HashSet<&'static str>> {
    HashMap::from([
        ("a", HashSet::from(["href", "title"])),
        ("img", HashSet::from(["src", "alt", "title"])),
        ("td", HashSet::from(["colspan", "rowspan"])),
        ("th", HashSet::from(["colspan", "rowspan"])),
        ("ol", HashSet::from(["start"])),
    ])
}

/// Pass 2: what we show.
pub(super) static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.tags(SAFE_TAGS.iter().copied().collect())
        .clean_content_tags(["script", "style"].into())
        .generic_attributes(["dir"].into())
        .tag_attributes(tag_attributes())
        .url_schemes(["http", "https", "mailto", "tel"].into())
        .link_rel(Some("noopener noreferrer nofollow"))
        .set_tag_attribute_value("a", "target", "_blank")
        .attribute_filter(filter_attribute)
        .strip_comments(true);
    b
});

/// Pass 1 on an email's HTML, nesting bounded first (`depth`: the parser's work would
/// otherwise grow with the square of it).
pub(super) fn normalize(html: &str) -> String {
    NORMALIZER.clean(&super::depth::flatten(html)).to_string()
}

/// Links only to absolute URLs of the allowed schemes (a relative link would
/// point into our own site); images only from our attachments.
fn filter_attribute<'u>(element: &str, attribute: &str, value: &'u str) -> Option<Cow<'u, str>> {
    let keep = match (element, attribute) {
        ("img", "src") => is_attachment_url(value),
        ("a", "href") => {
            let v = value.trim().to_ascii_lowercase();
            ["http://", "https://", "mailto:", "tel:"]
                .iter()
                .any(|scheme| v.starts_with(scheme))
        }
        _ => true,
    };
    keep.then_some(Cow::Borrowed(value))
}

/// `/attachments/…` on our own origin, without a way out of that path.
pub(super) fn is_attachment_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("/attachments/") else {
        return false;
    };
    // Our attachment ids only: no dots, slashes or percent-escapes (`%2e%2e` is `..` to a
    // browser).
    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
