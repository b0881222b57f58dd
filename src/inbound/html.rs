//! HTML replies: quote containers removed, sanitized, and rendered as text.
//!
//! Everything here is pure (no I/O) and never panics. The input is first
//! parsed and re-serialized by ammonia (html5ever, so the tree is the one a
//! browser builds, scripts and styles already gone); that output is
//! well-formed, so the small tree reader below is exact on it. Our own
//! passes are linear in the input size (html5ever itself is slower on
//! pathologically deep nesting, tens of thousands of levels).
//!
//! [`reply_html_with`] keeps what the person wrote:
//!
//! 1. Client containers, by structure: Gmail (`div.gmail_quote` and its
//!    `gmail_attr` header, `div.gmail_extra`, `gmail_signature`), Outlook and
//!    OWA (`#appendonsend`, `#divRplyFwdMsg` with the `<hr>` above it,
//!    `#mail-editor-reference-message-container`, the `border-top:solid
//!    #E1E1E1 1.0pt` / `#B5C4DF` header block: each with everything after
//!    it), Apple Mail and Thunderbird (`blockquote type="cite"`,
//!    `div.moz-cite-prefix`, `div.moz-signature`), Yahoo (`yahoo_quoted`),
//!    ProtonMail (`div.protonmail_quote`, `protonmail_signature_block`),
//!    and Outlook mobile's `#ms-outlook-mobile-signature`.
//! 2. What is left is rendered to text ([`html_to_text`]'s rules) and run
//!    through the plain-text extractor; the HTML of the lines it removes
//!    goes too: our own [`REPLY_MARKER`] and what follows it (inline answers
//!    below a quoted marker are kept), quote headers in any of our languages
//!    ("On … wrote:", "-----Original Message-----", `From:`/`Sent:` blocks)
//!    with everything after them, a blockquote below an "On … wrote:"
//!    header (answers between such blockquotes are kept), trailing quotes,
//!    mobile footers ("Sent from my iPhone") and `-- ` signatures; with
//!    [`reply_html_knowing`], our sent text wherever it was pasted. So the
//!    HTML and the text of a reply agree.
//! 3. Forwarded messages ("---------- Forwarded message ---------", Apple's
//!    "Begin forwarded message:", Outlook blocks whose subject starts with
//!    `FW:`/`TR:`/`WG:`/`RV:`) are kept: the person chose to send them.
//! 4. The rest is sanitized by ammonia: formatting tags only, no `class`,
//!    `style` or `id`, links get `rel="noopener noreferrer nofollow"` and
//!    `target="_blank"` and only `http`, `https`, `mailto` and `tel` URLs,
//!    images keep their `src` only when it is one of ours (`/attachments/…`,
//!    which is what `cid:` sources become through `cid_url`): a remote image
//!    (a tracking pixel) never loads.

use super::extract;
#[cfg(doc)]
use super::extract::REPLY_MARKER;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// Readable text of an HTML body: block elements become line breaks,
/// paragraphs blank lines, `<br>` a line break, blockquotes `>`-quoted lines,
/// list items `- ` or `1. `, links `text <url>` when the URL is not the text,
/// entities decoded, scripts and styles dropped. Client signature containers
/// get a `-- ` line above them so the text extractor recognises them.
pub fn html_to_text(html: &str) -> String {
    let tree = Tree::parse(&normalize(html));
    let keep = vec![true; tree.len()];
    Renderer::render(&tree, &keep, ROOT, usize::MAX).text()
}

/// The kept part of an HTML reply, sanitized: safe to show on our origin.
/// Empty when the reply was only quote.
pub fn reply_html(html: &str) -> String {
    reply_html_with(html, &|_| None)
}

/// [`reply_html`], rewriting `cid:` image sources to `cid_url(content_id)`
/// (the Content-ID without angle brackets, percent-decoded). A source
/// survives sanitizing only when it starts with `/attachments/`; `None`
/// drops it.
pub fn reply_html_with(html: &str, cid_url: &dyn Fn(&str) -> Option<String>) -> String {
    reply_html_knowing(html, None, cid_url)
}

/// [`reply_html_with`], also removing `sent` (the text of the notification
/// we sent this person) wherever the reply quotes it, as
/// [`extract::extract_reply_knowing`] does for the text: a client pasting
/// our text without any quote container or marker.
pub fn reply_html_knowing(
    html: &str,
    sent: Option<&str>,
    cid_url: &dyn Fn(&str) -> Option<String>,
) -> String {
    reply_html_with_sent(html, sent.and_then(extract::Sent::new).as_ref(), cid_url)
}

/// [`reply_html_knowing`] with the sent text already prepared (shared with the text part's
/// extraction).
pub fn reply_html_with_sent(
    html: &str,
    sent: Option<&extract::Sent>,
    cid_url: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut tree = Tree::parse(&normalize(html));
    let mut keep = vec![true; tree.len()];
    remove_client_containers(&tree, &mut keep);
    remove_what_the_text_extractor_removes(&mut tree, &mut keep, sent);
    let content = content_flags(&tree, &keep);
    if !content[ROOT] {
        return String::new();
    }
    trim_blank_edges(&tree, &mut keep, &content, true);
    trim_blank_edges(&tree, &mut keep, &content, false);
    let fragment = tree.serialize(&keep, cid_url);
    SANITIZER.clean(&fragment).to_string().trim().to_string()
}

// ---------------------------------------------------------------------------
// ammonia configurations
// ---------------------------------------------------------------------------

/// Tags kept in the final HTML.
#[rustfmt::skip]
const SAFE_TAGS: &[&str] = &[
    "a", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em", "h1",
    "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol", "p", "pre", "s", "small",
    "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "u", "ul",
];

/// Further tags kept through normalization, for their structure (blocks and
/// inline elements the renderer knows); the final pass unwraps them.
#[rustfmt::skip]
const STRUCTURE_TAGS: &[&str] = &[
    "abbr", "acronym", "address", "article", "aside", "bdi", "bdo", "big", "center", "cite", "col",
    "colgroup", "details", "dfn", "figcaption", "figure", "font", "footer", "header", "kbd", "main",
    "mark", "nav", "q", "samp", "section", "summary", "time", "tt", "var", "wbr",
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
        .generic_attributes(["class", "id", "style", "type", "dir", "data-smartmail"].into())
        .tag_attributes(HashMap::from([
            ("a", HashSet::from(["href", "title"])),
            ("img", HashSet::from(["src", "alt", "title"])),
            ("td", HashSet::from(["colspan", "rowspan"])),
            ("th", HashSet::from(["colspan", "rowspan"])),
            ("ol", HashSet::from(["start"])),
        ]))
        .url_schemes(["http", "https", "mailto", "tel", "cid"].into())
        .link_rel(None)
        .strip_comments(true);
    b
});

/// Pass 2: what we show.
static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.tags(SAFE_TAGS.iter().copied().collect())
        .clean_content_tags(["script", "style"].into())
        .generic_attributes(["dir"].into())
        .tag_attributes(HashMap::from([
            ("a", HashSet::from(["href", "title"])),
            ("img", HashSet::from(["src", "alt", "title"])),
            ("td", HashSet::from(["colspan", "rowspan"])),
            ("th", HashSet::from(["colspan", "rowspan"])),
            ("ol", HashSet::from(["start"])),
        ]))
        .url_schemes(["http", "https", "mailto", "tel"].into())
        .link_rel(Some("noopener noreferrer nofollow"))
        .set_tag_attribute_value("a", "target", "_blank")
        .attribute_filter(filter_attribute)
        .strip_comments(true);
    b
});

fn normalize(html: &str) -> String {
    NORMALIZER.clean(html).to_string()
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
fn is_attachment_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("/attachments/") else {
        return false;
    };
    // Our attachment ids only: no dots, slashes or percent-escapes (`%2e%2e` is `..` to a
    // browser).
    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// ---------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------

const ROOT: usize = 0;
const NONE: usize = usize::MAX;

/// Elements without an end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

#[derive(Debug)]
enum Data {
    Root,
    Element(Element),
    Text(String),
}

#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_class(&self, class: &str) -> bool {
        self.attr("class").is_some_and(|c| {
            c.split_ascii_whitespace()
                .any(|k| k.eq_ignore_ascii_case(class))
        })
    }

    fn id_contains(&self, needle: &str) -> bool {
        self.attr("id")
            .is_some_and(|id| id.to_ascii_lowercase().contains(needle))
    }

    /// The style attribute, lowercased and without white space, for substring checks.
    fn style(&self) -> String {
        self.attr("style")
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    }
}

/// Nodes in document order (pre-order), so the subtree of node `x` is the
/// index range `x..end[x]`, and "`x` and everything after it" is `x..`.
struct Tree {
    data: Vec<Data>,
    parent: Vec<usize>,
    children: Vec<Vec<usize>>,
    /// Position of each node among its parent's children.
    position: Vec<usize>,
    end: Vec<usize>,
}

impl Tree {
    fn len(&self) -> usize {
        self.data.len()
    }

    fn element(&self, x: usize) -> Option<&Element> {
        match self.data.get(x) {
            Some(Data::Element(e)) => Some(e),
            _ => None,
        }
    }

    fn is(&self, x: usize, name: &str) -> bool {
        self.element(x).is_some_and(|e| e.name == name)
    }

    fn add(&mut self, parent: usize, data: Data) -> usize {
        let id = self.data.len();
        self.data.push(data);
        self.parent.push(parent);
        self.children.push(Vec::new());
        self.position.push(self.children[parent].len());
        self.children[parent].push(id);
        id
    }

    /// Reads ammonia's serialization (well-formed, attributes double-quoted,
    /// `<`, `>`, `&` escaped in text); lenient on anything else.
    fn parse(html: &str) -> Tree {
        let mut tree = Tree {
            data: vec![Data::Root],
            parent: vec![NONE],
            children: vec![Vec::new()],
            position: vec![0],
            end: Vec::new(),
        };
        let bytes = html.as_bytes();
        let mut stack = vec![ROOT];
        let mut open: HashMap<String, usize> = HashMap::new();
        let mut text_start = 0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'<' {
                i += 1;
                continue;
            }
            let Some((tag, next)) = read_tag(html, i) else {
                i += 1;
                continue;
            };
            let top = *stack.last().unwrap_or(&ROOT);
            if let Some(text) = html.get(text_start..i).filter(|t| !t.is_empty()) {
                tree.add(top, Data::Text(decode_entities(text)));
            }
            match tag {
                Tag::Start {
                    name,
                    attrs,
                    self_closing,
                } => {
                    let void = self_closing || VOID.contains(&name.as_str());
                    let key = name.clone();
                    let id = tree.add(top, Data::Element(Element { name, attrs }));
                    if !void {
                        stack.push(id);
                        *open.entry(key).or_default() += 1;
                    }
                }
                Tag::End(name) => {
                    if open.get(&name).is_some_and(|&n| n > 0) {
                        while stack.len() > 1 {
                            let Some(x) = stack.pop() else { break };
                            let Some(e) = tree.element(x) else { continue };
                            if let Some(n) = open.get_mut(&e.name) {
                                *n = n.saturating_sub(1);
                            }
                            if e.name == name {
                                break;
                            }
                        }
                    }
                }
                Tag::Other => {}
            }
            i = next;
            text_start = next;
        }
        let top = *stack.last().unwrap_or(&ROOT);
        if let Some(text) = html.get(text_start..).filter(|t| !t.is_empty()) {
            tree.add(top, Data::Text(decode_entities(text)));
        }
        let n = tree.len();
        tree.end = vec![0; n];
        for x in (0..n).rev() {
            tree.end[x] = tree.children[x].last().map_or(x + 1, |&c| tree.end[c]);
        }
        tree
    }

    /// HTML of the kept nodes, `cid:` image sources rewritten.
    fn serialize(&self, keep: &[bool], cid_url: &dyn Fn(&str) -> Option<String>) -> String {
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
                    }
                }
                (Data::Element(e), false) => {
                    out.push_str("</");
                    out.push_str(serialized_name(e));
                    out.push('>');
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
fn cid_of(src: &str) -> Option<String> {
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

enum Tag {
    Start {
        name: String,
        attrs: Vec<(String, String)>,
        self_closing: bool,
    },
    End(String),
    /// Comments, doctypes, processing instructions: skipped.
    Other,
}

/// The tag starting at `html[i] == '<'` and the index just after it, or
/// `None` when this `<` does not open a tag (it is then text). All indices
/// are positions of ASCII bytes, so every slice is on a char boundary.
fn read_tag(html: &str, i: usize) -> Option<(Tag, usize)> {
    let b = html.as_bytes();
    let find = |from: usize, byte: u8| {
        b.get(from..)?
            .iter()
            .position(|&c| c == byte)
            .map(|p| from + p)
    };
    let is_name = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b':' || c == b'_';
    match b.get(i + 1)? {
        b'/' => {
            let start = i + 2;
            let mut j = start;
            while j < b.len() && is_name(b[j]) {
                j += 1;
            }
            if j == start {
                return None;
            }
            let close = find(j, b'>')?;
            Some((Tag::End(html[start..j].to_ascii_lowercase()), close + 1))
        }
        b'!' if b.get(i + 2..i + 4) == Some(b"--") => {
            let close = html
                .get(i + 4..)?
                .find("-->")
                .map_or(b.len(), |p| i + 4 + p + 3);
            Some((Tag::Other, close))
        }
        b'!' | b'?' => Some((Tag::Other, find(i, b'>').map_or(b.len(), |p| p + 1))),
        c if c.is_ascii_alphabetic() => {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && is_name(b[j]) {
                j += 1;
            }
            let name = html[start..j].to_ascii_lowercase();
            let mut attrs = Vec::new();
            let mut self_closing = false;
            loop {
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                match b.get(j) {
                    None => return None,
                    Some(b'>') => {
                        j += 1;
                        break;
                    }
                    Some(b'/') => {
                        self_closing = true;
                        j += 1;
                        continue;
                    }
                    Some(_) => {}
                }
                let name_start = j;
                while j < b.len()
                    && !b[j].is_ascii_whitespace()
                    && !matches!(b[j], b'=' | b'>' | b'/')
                {
                    j += 1;
                }
                let attr_name = html[name_start..j].to_ascii_lowercase();
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let mut value = String::new();
                if b.get(j) == Some(&b'=') {
                    j += 1;
                    while j < b.len() && b[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    match b.get(j) {
                        Some(&q @ (b'"' | b'\'')) => {
                            let close = find(j + 1, q)?;
                            value = decode_entities(&html[j + 1..close]);
                            j = close + 1;
                        }
                        _ => {
                            let v_start = j;
                            while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                                j += 1;
                            }
                            value = decode_entities(&html[v_start..j]);
                        }
                    }
                }
                self_closing = false;
                if !attr_name.is_empty() {
                    attrs.push((attr_name, value));
                }
            }
            Some((
                Tag::Start {
                    name,
                    attrs,
                    self_closing,
                },
                j,
            ))
        }
        _ => None,
    }
}

/// Decodes character references; ammonia's output only has `&amp;`, `&lt;`,
/// `&gt;`, `&quot;` and `&nbsp;`, others are decoded for leniency.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let name_len = after
            .bytes()
            .take(32)
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'#')
            .count();
        let decoded = (after.as_bytes().get(name_len) == Some(&b';'))
            .then(|| decode_entity(&after[..name_len]))
            .flatten();
        match decoded {
            Some(text) => {
                out.push_str(&text);
                rest = &after[name_len + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(name: &str) -> Option<String> {
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        _ => {
            if let Some(num) = name.strip_prefix('#') {
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => num.parse().ok()?,
                };
                char::from_u32(code).filter(|&c| c != '\0')?
            } else {
                let mut out = String::new();
                let token = format!("&{name};");
                mail_parser::decoders::html::add_html_token(&mut out, token.as_bytes(), false);
                return (out != token).then_some(out);
            }
        }
    };
    Some(c.to_string())
}

// ---------------------------------------------------------------------------
// 1. Client containers
// ---------------------------------------------------------------------------

/// Wrappers holding a header and a quote blockquote; what the person typed
/// after the blockquote inside them (inline answers) is kept.
fn is_quote_wrapper(e: &Element) -> bool {
    e.name == "div" && (e.has_class("gmail_quote") || e.has_class("protonmail_quote"))
}

/// A blockquote the client made to quote history.
fn is_cite_blockquote(e: &Element, in_wrapper: bool) -> bool {
    e.name == "blockquote"
        && (in_wrapper
            || e.attr("type")
                .is_some_and(|t| t.eq_ignore_ascii_case("cite"))
            || e.has_class("gmail_quote")
            || e.has_class("protonmail_quote"))
}

/// Yahoo's quote: `class="yahoo_quoted"`, or prefixed as in
/// `id="ydp8b2e7f1fyahoo_quoted_2043577431" class="ydp8b2e7f1fyahoo_quoted"`.
fn is_yahoo_quoted(e: &Element) -> bool {
    e.id_contains("yahoo_quoted")
        || e.attr("class").is_some_and(|c| {
            c.split_ascii_whitespace()
                .any(|k| k.to_ascii_lowercase().ends_with("yahoo_quoted"))
        })
}

fn is_signature_container(e: &Element) -> bool {
    e.has_class("gmail_signature")
        || e.attr("data-smartmail")
            .is_some_and(|v| v.eq_ignore_ascii_case("gmail_signature"))
        || e.has_class("moz-signature")
        || e.has_class("protonmail_signature_block")
        || e.id_contains("ms-outlook-mobile-signature")
        || e.id_contains("ymail_android_signature")
        || e.id_contains("ymail_ios_signature")
}

/// Outlook's header block: a div with a grey or blue top border.
fn is_outlook_header_div(e: &Element) -> bool {
    if e.name != "div" {
        return false;
    }
    let style = e.style();
    style.contains("border-top:solid#e1e1e11.0pt") || style.contains("border-top:solid#b5c4df1.0pt")
}

/// Budget (characters and nodes) for reading the first line of a container.
const FIRST_LINE_BUDGET: usize = 400;

/// Budget (characters and nodes) for looking at the start of a container.
const PEEK_BUDGET: usize = 2_000;

/// The first lines of the text of `x`'s subtree.
fn peek_text(tree: &Tree, keep: &[bool], x: usize) -> String {
    Renderer::peek(tree, keep, x).text()
}

/// The first non-blank line of `x`'s subtree introduces a forwarded message.
fn starts_with_forward(tree: &Tree, keep: &[bool], x: usize) -> bool {
    Renderer::render_with(tree, keep, x, FIRST_LINE_BUDGET, true)
        .lines
        .iter()
        .find(|l| !l.is_blank())
        .is_some_and(|l| extract::is_forward_header(&l.text))
}

/// Marks client quote containers, signatures and our marker (see the
/// module documentation) as not kept.
fn remove_client_containers(tree: &Tree, keep: &mut [bool]) {
    let n = tree.len();
    // Inside a Gmail/ProtonMail wrapper.
    let mut in_wrapper = vec![false; n];
    for x in 1..n {
        in_wrapper[x] = in_wrapper[tree.parent[x]] || tree.element(x).is_some_and(is_quote_wrapper);
    }
    // first_blockquote[x]: the first blockquote at or after x;
    // forwards_before[x]: forward headers among the text nodes before x.
    let mut first_blockquote = vec![n; n + 1];
    for x in (0..n).rev() {
        first_blockquote[x] = if tree.is(x, "blockquote") {
            x
        } else {
            first_blockquote[x + 1]
        };
    }
    let mut forwards_before = vec![0usize; n + 1];
    for x in 0..n {
        let forward = matches!(&tree.data[x], Data::Text(t) if extract::is_forward_header(t));
        forwards_before[x + 1] = forwards_before[x] + usize::from(forward);
    }

    let last_marker = (0..n)
        .rev()
        .find(|&x| matches!(&tree.data[x], Data::Text(t) if extract::has_marker(t)));

    let mut cut = n;
    let mut keep_from = n;
    let skip = |keep: &mut [bool], from: usize, to: usize| {
        for k in &mut keep[from..to.min(n)] {
            *k = false;
        }
    };
    let mut x = 1;
    while x < n.min(cut).min(keep_from) {
        if !keep[x] {
            x = tree.end[x];
            continue;
        }
        let e = match &tree.data[x] {
            Data::Text(t) => {
                // Our marker is left to the text pass: in a client's quote
                // container it goes with the container; elsewhere the text
                // rules apply (with the header above it, inline answers
                // below a quoted one).
                if extract::is_forward_header(t) {
                    keep_from = x;
                }
                x += 1;
                continue;
            }
            Data::Element(e) => e,
            Data::Root => {
                x += 1;
                continue;
            }
        };
        let p = tree.parent[x];

        // Outlook and Yahoo: the container and everything after it.
        let outlook = e.id_contains("appendonsend")
            || e.id_contains("divrplyfwdmsg")
            || e.id_contains("mail-editor-reference-message-container")
            || is_outlook_header_div(e);
        if outlook {
            let header = if e.id_contains("appendonsend") {
                // The header block follows: an <hr> then #divRplyFwdMsg.
                (x + 1..tree.len().min(x + 64)).find(|&y| {
                    tree.element(y)
                        .is_some_and(|e| e.id_contains("divrplyfwdmsg") || is_outlook_header_div(e))
                })
            } else {
                Some(x)
            };
            // A forward, unless our marker is below it (then it quotes our
            // notification, whatever the subject says).
            if last_marker.is_none_or(|m| m < x)
                && header
                    .is_some_and(|h| extract::header_block_is_forward(&peek_text(tree, keep, h)))
            {
                keep_from = x;
                break;
            }
            let mut at = x;
            if e.id_contains("divrplyfwdmsg")
                && let Some(hr) = previous_sibling(tree, x).filter(|&s| tree.is(s, "hr"))
            {
                at = hr;
            }
            cut = cut.min(at);
            break;
        }
        if is_yahoo_quoted(e) || e.has_class("gmail_extra") {
            cut = cut.min(x);
            break;
        }

        if is_signature_container(e) {
            skip(keep, x, tree.end[x]);
            x = tree.end[x];
            continue;
        }
        if is_cite_blockquote(e, in_wrapper[p]) {
            if starts_with_forward(tree, keep, x) {
                // Apple Mail forwards inside a cite blockquote.
                keep_from = x;
                break;
            }
            skip(keep, x, tree.end[x]);
            x = tree.end[x];
            continue;
        }
        if e.has_class("moz-cite-prefix")
            && next_sibling(tree, x)
                .is_some_and(|s| tree.element(s).is_some_and(|b| b.name == "blockquote"))
        {
            skip(keep, x, tree.end[x]);
            x = tree.end[x];
            continue;
        }
        if is_quote_wrapper(e) {
            // Everything before the first quote blockquote is the header.
            let q = first_blockquote[x + 1];
            if q < tree.end[x] {
                let header_has_forward = forwards_before[q] > forwards_before[x + 1];
                if !header_has_forward {
                    for (y, k) in keep.iter_mut().enumerate().take(q).skip(x + 1) {
                        if tree.end[y] <= q {
                            *k = false;
                        }
                    }
                    x = q;
                    continue;
                }
            }
        }
        x += 1;
    }
    if cut < keep_from {
        skip(keep, cut, n);
    }
}

/// The sibling before `x`, white space aside.
fn previous_sibling(tree: &Tree, x: usize) -> Option<usize> {
    let siblings = &tree.children[*tree.parent.get(x)?];
    siblings[..tree.position[x]]
        .iter()
        .rev()
        .copied()
        .find(|&s| !matches!(&tree.data[s], Data::Text(t) if t.trim().is_empty()))
}

/// The sibling after `x`, white space aside.
fn next_sibling(tree: &Tree, x: usize) -> Option<usize> {
    let siblings = &tree.children[*tree.parent.get(x)?];
    siblings[tree.position[x] + 1..]
        .iter()
        .copied()
        .find(|&s| !matches!(&tree.data[s], Data::Text(t) if t.trim().is_empty()))
}

// ---------------------------------------------------------------------------
// 2. What the text extractor removes
// ---------------------------------------------------------------------------

/// Renders what is kept, runs the plain-text extractor on it and removes
/// the HTML of the lines it drops: a dropped tail from its first node on,
/// dropped quoted lines with their blockquote, dropped header lines between
/// kept ones (an "On … wrote:" above inline answers) node by node.
fn remove_what_the_text_extractor_removes(
    tree: &mut Tree,
    keep: &mut [bool],
    sent: Option<&extract::Sent>,
) {
    let rendered = Renderer::render(tree, keep, ROOT, usize::MAX);
    let kept = extract::kept_lines(&rendered.text(), sent);
    let lines = &rendered.lines;
    if kept.len() != lines.len() {
        return;
    }
    let n = tree.len();
    let mut tail = lines.len();
    for i in (0..lines.len()).rev() {
        if lines[i].is_blank() {
            continue;
        }
        if kept[i] {
            break;
        }
        tail = i;
    }
    for i in 0..tail {
        if kept[i] || lines[i].is_blank() {
            continue;
        }
        let line = &lines[i];
        if line.quote != NONE {
            for k in &mut keep[line.quote..tree.end[line.quote]] {
                *k = false;
            }
        } else {
            let next = lines.get(i + 1).map_or(n, |l| l.node);
            for (y, k) in keep
                .iter_mut()
                .enumerate()
                .take(next.min(n))
                .skip(line.node)
            {
                if tree.end[y] <= next {
                    *k = false;
                }
            }
        }
    }
    if let Some(line) = lines.get(tail) {
        let mut from = line.node;
        if line.offset > 0
            && let Some(Data::Text(t)) = tree.data.get_mut(line.node)
        {
            t.truncate(line.offset);
            from += 1;
        }
        for k in &mut keep[from.min(n)..] {
            *k = false;
        }
    }
}

/// `content[x]`: the kept subtree of `x` shows something (text other than
/// white space, or an image).
fn content_flags(tree: &Tree, keep: &[bool]) -> Vec<bool> {
    let n = tree.len();
    let mut content = vec![false; n];
    for x in (0..n).rev() {
        if !keep[x] {
            continue;
        }
        let own = match &tree.data[x] {
            Data::Text(t) => t.chars().any(|c| !c.is_whitespace()),
            Data::Element(e) => e.name == "img",
            Data::Root => false,
        };
        content[x] = own || tree.children[x].iter().any(|&c| content[c]);
    }
    content
}

/// Drops blank nodes (white space, `<br>`, empty elements, `<hr>`) at the
/// end (or the start) of what is kept, at every depth: the line breaks that
/// separated the reply from the removed quote.
fn trim_blank_edges(tree: &Tree, keep: &mut [bool], content: &[bool], at_end: bool) {
    let mut node = ROOT;
    loop {
        let mut descend = None;
        let children = &tree.children[node];
        let mut order: Box<dyn Iterator<Item = &usize>> = if at_end {
            Box::new(children.iter().rev())
        } else {
            Box::new(children.iter())
        };
        for &c in &mut order {
            if !keep[c] {
                continue;
            }
            if content[c] {
                descend = Some(c);
                break;
            }
            for k in &mut keep[c..tree.end[c]] {
                *k = false;
            }
        }
        match descend {
            Some(c) if tree.element(c).is_some_and(|e| e.name != "img") => node = c,
            _ => return,
        }
    }
}

// ---------------------------------------------------------------------------
// Rendering to text
// ---------------------------------------------------------------------------

/// A rendered line and where it comes from.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    /// Quote depth (number of `>`).
    depth: usize,
    /// The node of the first thing on the line (for a blank line, the node
    /// of the line after it), and the byte offset in it when it is a text
    /// node (`<pre>` text spans lines).
    node: usize,
    offset: usize,
    /// The outermost quote blockquote around the line, or [`NONE`].
    quote: usize,
    /// Written as is (our `-- ` line): not trimmed.
    raw: bool,
    /// From `<pre>`: only trailing white space is trimmed.
    pre: bool,
}

impl Line {
    fn is_blank(&self) -> bool {
        self.text.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// Starts and ends a line.
    Line,
    /// Also separated from its neighbours by a blank line.
    Paragraph,
}

struct Renderer<'t> {
    tree: &'t Tree,
    keep: &'t [bool],
    lines: Vec<Line>,
    cur: String,
    cur_node: usize,
    cur_offset: usize,
    cur_depth: usize,
    cur_quote: usize,
    /// Collapsed white space waiting for the next character.
    space: bool,
    /// A blank line is due before the next line.
    blank: bool,
    /// Blockquotes entered: whether each is rendered as a quote.
    quotes: Vec<bool>,
    /// Quote depth, and the outermost quote blockquote while it is > 0.
    depth: usize,
    outer_quote: usize,
    pre: usize,
    lists: Vec<Option<u64>>,
    bullet: Option<String>,
    /// Open link: line breaks so far, byte length of the line, href.
    link: Option<(usize, usize, String)>,
    /// Lines ended by content or `<br>` (not blank lines inserted between
    /// paragraphs): a link still on the same line has the same count.
    breaks: usize,
    budget: usize,
    /// A look at the start of a container: blockquotes are not examined.
    peek: bool,
}

/// Outlook's paragraphs (`class="MsoNormal"` and friends) and paragraphs
/// styled without margins are lines, not paragraphs: once their class and
/// style are gone they are written as `<div>` so they keep looking like lines.
fn paragraph_is_a_line(e: &Element) -> bool {
    e.attr("class")
        .is_some_and(|c| c.split_ascii_whitespace().any(|k| k.starts_with("Mso")))
        || {
            let s = e.style();
            s.contains("margin:0") || (s.contains("margin-top:0") && s.contains("margin-bottom:0"))
        }
}

/// Deeper quotes are written with this many `>`: the text of a pathological
/// nest of blockquotes stays linear in the input size.
const MAX_QUOTE_MARKS: usize = 16;

/// What `<hr>` becomes: Outlook's rule above its header block.
const HR_LINE: &str = "________________________________";

impl<'t> Renderer<'t> {
    /// Renders the kept nodes of `start`'s subtree; stops after about
    /// `budget` characters and nodes.
    fn render(tree: &'t Tree, keep: &'t [bool], start: usize, budget: usize) -> Rendered {
        Self::render_with(tree, keep, start, budget, false)
    }

    fn peek(tree: &'t Tree, keep: &'t [bool], start: usize) -> Rendered {
        Self::render_with(tree, keep, start, PEEK_BUDGET, true)
    }

    fn render_with(
        tree: &'t Tree,
        keep: &'t [bool],
        start: usize,
        budget: usize,
        peek: bool,
    ) -> Rendered {
        let mut r = Renderer {
            tree,
            keep,
            lines: Vec::new(),
            cur: String::new(),
            cur_node: start,
            cur_offset: 0,
            cur_depth: 0,
            cur_quote: NONE,
            space: false,
            blank: false,
            quotes: Vec::new(),
            depth: 0,
            outer_quote: NONE,
            pre: 0,
            lists: Vec::new(),
            bullet: None,
            link: None,
            breaks: 0,
            budget,
            peek,
        };
        let mut stack: Vec<(usize, bool)> = vec![(start, true)];
        while let Some((x, enter)) = stack.pop() {
            if r.budget == 0 {
                break;
            }
            r.budget -= 1;
            if !enter {
                r.exit(x);
                continue;
            }
            if !keep.get(x).copied().unwrap_or(false) {
                continue;
            }
            match &tree.data[x] {
                Data::Text(t) => r.text(x, t),
                Data::Element(e) => {
                    r.enter(x, e);
                    if !VOID.contains(&e.name.as_str()) {
                        stack.push((x, false));
                    }
                    stack.extend(tree.children[x].iter().rev().map(|&c| (c, true)));
                }
                Data::Root => stack.extend(tree.children[x].iter().rev().map(|&c| (c, true))),
            }
        }
        r.finish_line();
        Rendered::new(r.lines)
    }

    fn outer_quote(&self) -> usize {
        self.outer_quote
    }

    fn text(&mut self, node: usize, text: &str) {
        for (offset, c) in text.char_indices() {
            if self.budget == 0 {
                return;
            }
            self.budget -= 1;
            if self.pre > 0 {
                match c {
                    '\n' => self.line_break(node, offset + 1),
                    '\r' => {}
                    c => self.put(c, node, offset),
                }
            } else if matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c') {
                self.space = true;
            } else {
                self.put(c, node, offset);
            }
        }
    }

    fn put(&mut self, c: char, node: usize, offset: usize) {
        if self.cur.is_empty() {
            self.begin_line(node, offset);
        } else if self.space {
            self.cur.push(' ');
        }
        self.space = false;
        self.cur.push(c);
    }

    fn put_str(&mut self, s: &str, node: usize) {
        for c in s.chars() {
            self.put(c, node, 0);
        }
    }

    fn begin_line(&mut self, node: usize, offset: usize) {
        if self.blank {
            self.blank = false;
            if self.lines.last().is_some_and(|l| !l.is_blank()) {
                let depth = self.lines.last().map_or(0, |l| l.depth).min(self.depth);
                self.push_line(String::new(), depth, node, 0, NONE, false);
            }
        }
        self.cur_node = node;
        self.cur_offset = offset;
        self.cur_depth = self.depth;
        self.cur_quote = self.outer_quote();
        if let Some(bullet) = self.bullet.take() {
            self.cur.push_str(&bullet);
        }
    }

    fn push_line(
        &mut self,
        text: String,
        depth: usize,
        node: usize,
        offset: usize,
        quote: usize,
        raw: bool,
    ) {
        let pre = self.pre > 0;
        self.lines.push(Line {
            text,
            depth,
            node,
            offset,
            quote,
            raw,
            pre,
        });
    }

    fn finish_line(&mut self) {
        if !self.cur.is_empty() {
            self.breaks += 1;
            let text = std::mem::take(&mut self.cur);
            self.push_line(
                text,
                self.cur_depth,
                self.cur_node,
                self.cur_offset,
                self.cur_quote,
                false,
            );
        }
        self.space = false;
    }

    /// `<br>` (and a newline in `<pre>`): ends the line, or makes an empty one.
    fn line_break(&mut self, node: usize, offset: usize) {
        if self.cur.is_empty() {
            self.breaks += 1;
            self.blank = false;
            let quote = self.outer_quote();
            self.push_line(String::new(), self.depth, node, offset, quote, false);
        } else {
            self.finish_line();
        }
    }

    fn boundary(&mut self, block: Block) {
        self.finish_line();
        if block == Block::Paragraph {
            self.blank = true;
        }
    }

    fn block_of(&self, e: &Element) -> Option<Block> {
        let block = match e.name.as_str() {
            "p" if paragraph_is_a_line(e) => Block::Line,
            "p" => Block::Paragraph,
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "pre" => Block::Paragraph,
            "ul" | "ol" | "dl" if self.lists.is_empty() => Block::Paragraph,
            "div" | "li" | "ul" | "ol" | "dl" | "dt" | "dd" | "tr" | "table" | "tbody"
            | "thead" | "tfoot" | "caption" | "section" | "article" | "header" | "footer"
            | "address" | "center" | "figure" | "figcaption" | "main" | "aside" | "nav"
            | "details" | "summary" => Block::Line,
            _ => return None,
        };
        Some(block)
    }

    /// Whether a blockquote is rendered as a quote: not Gmail's indent
    /// (`border:none`), not an Apple Mail forward.
    fn quotes_blockquote(&self, x: usize, e: &Element) -> bool {
        if e.style().contains("border:none") && e.attr("type").is_none() {
            return false;
        }
        // Only Apple Mail puts forwards in (cite) blockquotes.
        let cite = e
            .attr("type")
            .is_some_and(|t| t.eq_ignore_ascii_case("cite"));
        self.peek || !cite || !starts_with_forward(self.tree, self.keep, x)
    }

    fn enter(&mut self, x: usize, e: &Element) {
        match e.name.as_str() {
            "br" => self.line_break(x, 0),
            "hr" => {
                self.finish_line();
                self.begin_line(x, 0);
                self.cur.push_str(HR_LINE);
                self.finish_line();
            }
            "img" => {
                let alt = e.attr("alt").map(str::trim).unwrap_or("");
                if !alt.is_empty() {
                    self.put_str(&format!("[image: {alt}]"), x);
                } else if e.attr("src").and_then(cid_of).is_some() {
                    self.put_str("[image]", x);
                }
            }
            "td" | "th" => {
                if !self.cur.is_empty() {
                    self.space = true;
                }
            }
            "a" => {
                let href = e.attr("href").unwrap_or("").trim().to_string();
                self.link = Some((self.breaks, self.cur.len(), href));
            }
            "blockquote" => {
                let quoted = self.quotes_blockquote(x, e);
                self.boundary(if quoted {
                    Block::Paragraph
                } else {
                    Block::Line
                });
                self.quotes.push(quoted);
                if quoted {
                    if self.depth == 0 {
                        self.outer_quote = x;
                    }
                    self.depth += 1;
                }
            }
            "pre" => {
                self.boundary(Block::Paragraph);
                self.pre += 1;
            }
            name => {
                if let Some(block) = self.block_of(e) {
                    self.boundary(block);
                }
                match name {
                    "ul" => self.lists.push(None),
                    "ol" => {
                        let start = e
                            .attr("start")
                            .and_then(|s| s.trim().parse().ok())
                            .unwrap_or(1);
                        self.lists.push(Some(start));
                    }
                    "li" => {
                        let indent = "  ".repeat(self.lists.len().saturating_sub(1));
                        let mark = match self.lists.last_mut() {
                            Some(Some(n)) => {
                                let m = format!("{n}. ");
                                *n += 1;
                                m
                            }
                            _ => "- ".to_string(),
                        };
                        self.bullet = Some(format!("{indent}{mark}"));
                    }
                    _ => {}
                }
                if is_signature_container(e) && !e.has_class("moz-signature") {
                    // What Gmail and ProtonMail write in their text part.
                    self.finish_line();
                    let quote = self.outer_quote();
                    self.push_line("-- ".to_string(), self.depth, x, 0, quote, true);
                }
            }
        }
    }

    fn exit(&mut self, x: usize) {
        let Some(e) = self.tree.element(x) else {
            return;
        };
        match e.name.as_str() {
            "a" => {
                if let Some((line_count, start, href)) = self.link.take()
                    && line_count == self.breaks
                    && let Some(label) = self.cur.get(start..)
                {
                    let lower = href.to_ascii_lowercase();
                    let bare = |s: &str| {
                        s.trim()
                            .trim_start_matches("https://")
                            .trim_start_matches("http://")
                            .trim_end_matches('/')
                            .to_lowercase()
                    };
                    if (lower.starts_with("http://") || lower.starts_with("https://"))
                        && !label.trim().is_empty()
                        && bare(label) != bare(&href)
                    {
                        self.put_str(&format!(" <{href}>"), x);
                    }
                }
            }
            "blockquote" => {
                if let Some(quoted) = self.quotes.pop() {
                    self.boundary(if quoted {
                        Block::Paragraph
                    } else {
                        Block::Line
                    });
                    if quoted {
                        self.depth = self.depth.saturating_sub(1);
                        if self.depth == 0 {
                            self.outer_quote = NONE;
                        }
                    }
                }
            }
            "pre" => {
                self.boundary(Block::Paragraph);
                self.pre = self.pre.saturating_sub(1);
            }
            name => {
                if matches!(name, "ul" | "ol") {
                    self.lists.pop();
                }
                if let Some(block) = self.block_of(e) {
                    self.boundary(block);
                }
                if name == "li" {
                    self.bullet = None;
                }
            }
        }
    }
}

/// Rendered lines, cleaned: trimmed, non-breaking spaces made plain,
/// runs of blank lines made one, no blank lines at either end.
struct Rendered {
    lines: Vec<Line>,
}

impl Rendered {
    fn new(raw: Vec<Line>) -> Rendered {
        let mut lines: Vec<Line> = Vec::with_capacity(raw.len());
        for mut line in raw {
            if !line.raw {
                let text: String = line
                    .text
                    .chars()
                    .map(|c| if c == '\u{a0}' { ' ' } else { c })
                    .collect();
                line.text = if line.pre {
                    text.trim_end()
                } else {
                    text.trim()
                }
                .to_string();
            }
            if line.is_blank() {
                match lines.last_mut() {
                    None => continue,
                    Some(last) if last.is_blank() => {
                        last.depth = last.depth.min(line.depth);
                        continue;
                    }
                    Some(_) => {}
                }
            }
            lines.push(line);
        }
        while lines.last().is_some_and(Line::is_blank) {
            lines.pop();
        }
        Rendered { lines }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            if line.depth > 0 {
                out.push_str(&">".repeat(line.depth.min(MAX_QUOTE_MARKS)));
                if !line.is_blank() {
                    out.push(' ');
                }
            }
            out.push_str(&line.text);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // --- text rendering --------------------------------------------------------

    #[test]
    fn blocks_breaks_and_paragraphs_become_lines() {
        let html = "<div>Hi Agnes,</div><div><br></div><div>Yes, <b>Tuesday</b> works.</div><p>See you</p><p>Carl</p>";
        assert_eq!(
            html_to_text(html),
            "Hi Agnes,\n\nYes, Tuesday works.\n\nSee you\n\nCarl"
        );
    }

    #[test]
    fn outlook_paragraphs_are_lines_and_nbsp_lines_are_blank() {
        let html = "<p class=MsoNormal>Hello<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p><p class=MsoNormal>Fine&nbsp;by me.</p>";
        assert_eq!(html_to_text(html), "Hello\n\nFine by me.");
    }

    #[test]
    fn blockquotes_are_quoted_and_gmail_indent_is_not() {
        let html = "<div>Answer</div><blockquote type=\"cite\">Question<br><blockquote>Older</blockquote></blockquote><blockquote style=\"margin:0 0 0 40px;border:none;padding:0px\">Indented</blockquote>";
        assert_eq!(
            html_to_text(html),
            "Answer\n\n> Question\n>\n>> Older\n\nIndented"
        );
    }

    #[test]
    fn scripts_styles_head_and_comments_are_not_text() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head><body><!-- c --><script>alert(1)</script><p>Only this</p></body></html>";
        assert_eq!(html_to_text(html), "Only this");
    }

    #[test]
    fn entities_are_decoded() {
        assert_eq!(
            html_to_text("<p>caf&eacute; &amp; th&#233; &lt;ok&gt; &#x1F44D;</p>"),
            "café & thé <ok> 👍"
        );
    }

    #[test]
    fn lists_links_and_images_are_readable() {
        let html = "<p>Options:</p><ul><li>one</li><li>two</li></ul><ol><li>first</li><li>second</li></ol><p><a href=\"https://example.org/x\">the doc</a>, <a href=\"https://example.org/\">example.org</a>, <a href=\"mailto:a@b.c\">a@b.c</a> <img src=\"cid:p1\" alt=\"photo.png\"></p>";
        assert_eq!(
            html_to_text(html),
            "Options:\n\n- one\n- two\n\n1. first\n2. second\n\nthe doc <https://example.org/x>, example.org, a@b.c [image: photo.png]"
        );
    }

    #[test]
    fn pre_keeps_its_lines_and_spaces() {
        assert_eq!(html_to_text("<pre>a  b\n  c\n</pre>"), "a  b\n  c");
    }

    #[test]
    fn signature_containers_get_a_delimiter_line() {
        let html = "<div>Thanks</div><div class=\"gmail_signature\" data-smartmail=\"gmail_signature\">Carl<br>ACME</div>";
        assert_eq!(html_to_text(html), "Thanks\n-- \nCarl\nACME");
    }

    #[test]
    fn malformed_and_hostile_markup_never_panics() {
        for html in [
            "",
            "<",
            "<<<>>>",
            "<div",
            "<a href='x",
            "</div></div></p>",
            "<p><div><span></p></div>",
            "&",
            "&#xFFFFFFFF;&#0;&#;&bogus;",
            "<table><td>a<td>b</table>",
            "\u{0}<b>\u{0}</b>",
            "<blockquote type=cite><blockquote type=cite>",
        ] {
            let _ = html_to_text(html);
            let _ = reply_html(html);
        }
    }

    #[test]
    fn deep_nesting_is_handled() {
        let html = format!(
            "{}deep{}",
            "<div><blockquote>".repeat(5_000),
            "</blockquote></div>".repeat(5_000)
        );
        let _ = html_to_text(&html);
        let _ = reply_html(&html);
    }

    // --- sanitizing ------------------------------------------------------------

    fn clean(html: &str) -> String {
        reply_html(html)
    }

    #[test]
    fn scripts_are_removed_with_their_content() {
        let got = clean("<p>Hi</p><script>alert('x')</script>");
        assert_eq!(got, "<p>Hi</p>");
    }

    #[test]
    fn event_handlers_are_removed() {
        let got = clean(
            "<p onclick=\"alert(1)\">Hi <img src=\"x\" onerror=\"alert(2)\" alt=\"pic\"></p>",
        );
        assert!(
            !got.contains("onclick") && !got.contains("onerror") && !got.contains("alert"),
            "{got}"
        );
        assert!(got.contains("Hi"), "{got}");
    }

    #[test]
    fn javascript_data_and_vbscript_links_lose_their_href() {
        for url in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            " javascript:alert(1)",
            "/admin/delete",
        ] {
            let got = clean(&format!("<p><a href=\"{url}\">click</a></p>"));
            assert!(!got.contains("href"), "{url}: {got}");
            assert!(got.contains("click"), "{url}: {got}");
        }
    }

    #[test]
    fn links_open_safely_in_a_new_tab() {
        let got = clean(
            "<p><a href=\"https://example.org/doc\" target=\"_self\" rel=\"opener\">doc</a></p>",
        );
        assert!(got.contains("href=\"https://example.org/doc\""), "{got}");
        assert!(
            got.contains("rel=\"noopener noreferrer nofollow\""),
            "{got}"
        );
        assert!(got.contains("target=\"_blank\""), "{got}");
        assert!(
            !got.contains("_self") && !got.contains("\"opener\""),
            "{got}"
        );
    }

    #[test]
    fn iframes_objects_embeds_and_forms_are_removed() {
        let got = clean(
            "<p>Hi</p><iframe src=\"https://evil.example/\">x</iframe><object data=\"evil.swf\"></object><embed src=\"evil.swf\"><form action=\"https://evil.example/\"><input name=\"q\"><button>Go</button></form>",
        );
        for bad in [
            "<iframe", "<object", "<embed", "<form", "<input", "<button", "evil",
        ] {
            assert!(!got.contains(bad), "{bad}: {got}");
        }
    }

    #[test]
    fn style_class_and_id_attributes_and_style_elements_are_removed() {
        let got = clean(
            "<style>body{display:none}</style><p class=\"x\" id=\"y\" style=\"background:url(https://t.example/p.gif)\">Hi</p>",
        );
        assert_eq!(got, "<p>Hi</p>");
    }

    #[test]
    fn remote_images_lose_their_source() {
        for src in [
            "https://tracker.example/p.gif",
            "http://tracker.example/p.gif",
            "//tracker.example/p.gif",
            "data:image/png;base64,AAAA",
            "/attachments/../api/x",
            "/attachmentsx/1",
        ] {
            let got = clean(&format!(
                "<p>Hi<img src=\"{src}\" alt=\"logo\" width=\"1\" height=\"1\"></p>"
            ));
            assert!(!got.contains("src="), "{src}: {got}");
            assert!(got.contains("alt=\"logo\""), "{src}: {got}");
            assert!(!got.contains("tracker"), "{src}: {got}");
        }
    }

    #[test]
    fn cid_images_are_rewritten_to_attachment_urls() {
        let html = "<p>Look:<img src=\"cid:photo%401@client.example\" alt=\"photo\"><img src=\"cid:unknown\" alt=\"other\"></p>";
        let got = reply_html_with(html, &|cid| {
            (cid == "photo@1@client.example").then(|| "/attachments/att_1".to_string())
        });
        assert!(
            got.contains("<img src=\"/attachments/att_1\" alt=\"photo\">"),
            "{got}"
        );
        assert!(got.contains("<img alt=\"other\">"), "{got}");
        // Without a resolver, cid: sources go.
        assert!(!reply_html(html).contains("src="));
    }

    #[test]
    fn a_resolver_cannot_smuggle_a_remote_url() {
        let got = reply_html_with("<p>x<img src=\"cid:a\"></p>", &|_| {
            Some("https://evil.example/p.gif".into())
        });
        assert!(!got.contains("evil"), "{got}");
    }

    #[test]
    fn formatting_is_kept() {
        let html = "<div><b>bold</b> <i>it</i> <u>u</u> <s>s</s> <em>em</em> <strong>st</strong> <code>c</code></div><ul><li>a</li></ul><table><tbody><tr><td>1</td></tr></tbody></table><h2>T</h2><pre>p</pre><hr>";
        let got = clean(html);
        for tag in [
            "<b>", "<i>", "<u>", "<s>", "<em>", "<strong>", "<code>", "<ul>", "<li>", "<table>",
            "<td>", "<h2>", "<pre>",
        ] {
            assert!(got.contains(tag), "{tag}: {got}");
        }
    }

    #[test]
    fn sanitized_output_is_trimmed_and_empty_bodies_are_empty() {
        assert_eq!(clean("  <p>Hi</p>\n\n"), "<p>Hi</p>");
        assert_eq!(clean("<div><br></div><p>&nbsp;</p>"), "");
        assert_eq!(clean(""), "");
    }

    // --- containers ------------------------------------------------------------

    const MARKER_HTML: &str = "<div style=\"color:#8b949e\">##- Reply above this line -##</div><div>Agnes Agent · 2026-11-23 09:00 UTC</div><div>Your order shipped.</div>";

    #[test]
    fn gmail_quote_is_removed() {
        let html = format!(
            "<div dir=\"ltr\">Thanks, that works.</div><br><div class=\"gmail_quote gmail_quote_container\"><div dir=\"ltr\" class=\"gmail_attr\">On Mon, Nov 23, 2026 at 9:00 AM Agnes Agent via threadgate &lt;<a href=\"mailto:notifications@example.net\">notifications@example.net</a>&gt; wrote:<br></div><blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex\">{MARKER_HTML}</blockquote></div>"
        );
        assert_eq!(clean(&html), "<div dir=\"ltr\">Thanks, that works.</div>");
    }

    #[test]
    fn gmail_inline_answers_inside_the_quote_are_kept() {
        let html = "<div dir=\"ltr\">See below.</div><div class=\"gmail_quote\"><div class=\"gmail_attr\">On Mon, Nov 23, 2026 at 9:00 AM Agnes &lt;a@example.net&gt; wrote:<br></div><blockquote class=\"gmail_quote\">Tuesday?</blockquote><div>Yes, Tuesday.</div><blockquote class=\"gmail_quote\">Docs?</blockquote><div>Bringing them.</div></div>";
        let got = clean(html);
        assert!(
            got.contains("See below.")
                && got.contains("Yes, Tuesday.")
                && got.contains("Bringing them."),
            "{got}"
        );
        assert!(
            !got.contains("Tuesday?") && !got.contains("Docs?") && !got.contains("wrote"),
            "{got}"
        );
    }

    #[test]
    fn gmail_signature_and_extra_are_removed() {
        let html = "<div>Ok</div><div><div dir=\"ltr\" class=\"gmail_signature\" data-smartmail=\"gmail_signature\">Carl Client<br>ACME</div></div><div class=\"gmail_extra\"><br><div class=\"gmail_quote\">On Mon wrote:<blockquote>old</blockquote></div></div>";
        assert_eq!(clean(html), "<div>Ok</div>");
    }

    #[test]
    fn outlook_appendonsend_and_everything_after_is_removed() {
        let html = "<div>Approved.</div><div id=\"appendonsend\"></div><hr style=\"display:inline-block;width:98%\"><div id=\"divRplyFwdMsg\" dir=\"ltr\"><font><b>From:</b> Agnes<br><b>Sent:</b> Monday<br><b>To:</b> Carl<br><b>Subject:</b> Order</font><div>&nbsp;</div></div><div>old text</div>";
        assert_eq!(clean(html), "<div>Approved.</div>");
    }

    #[test]
    fn outlook_divrplyfwdmsg_takes_the_rule_above_it() {
        let html = "<div>Approved.</div><hr><div id=\"divRplyFwdMsg\"><b>De :</b> Agnes<br><b>Envoyé :</b> lundi<br><b>À :</b> Carl<br><b>Objet :</b> Commande</div><div>old</div>";
        assert_eq!(clean(html), "<div>Approved.</div>");
    }

    #[test]
    fn outlook_desktop_border_top_block_is_removed() {
        for color in ["#E1E1E1", "#B5C4DF"] {
            let html = format!(
                "<div class=WordSection1><p class=MsoNormal>Approved.<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p><div><div style='border:none;border-top:solid {color} 1.0pt;padding:3.0pt 0cm 0cm 0cm'><p class=MsoNormal><b>Von:</b> Agnes<br><b>Gesendet:</b> Montag<br><b>An:</b> Carl<br><b>Betreff:</b> Bestellung</p></div></div><p class=MsoNormal>old</p></div>"
            );
            assert_eq!(clean(&html), "<div><div>Approved.</div></div>", "{color}");
        }
    }

    #[test]
    fn outlook_reference_message_container_is_removed() {
        let html = "<div>Yes.</div><div id=\"mail-editor-reference-message-container\"><div><b>From: </b>Agnes<br><b>Date: </b>Monday<br><b>To: </b>Carl<br><b>Subject: </b>Order<br></div>old</div>";
        assert_eq!(clean(html), "<div>Yes.</div>");
    }

    #[test]
    fn outlook_forward_block_is_kept() {
        let html = "<div>FYI, see below.</div><hr><div id=\"divRplyFwdMsg\"><b>From:</b> Dora<br><b>Sent:</b> Monday<br><b>To:</b> Carl<br><b>Subject:</b> FW: Invoice 42</div><div>Invoice attached.</div>";
        let got = clean(html);
        assert!(
            got.contains("FYI")
                && got.contains("Invoice attached.")
                && got.contains("FW: Invoice 42"),
            "{got}"
        );
    }

    #[test]
    fn apple_mail_cite_blockquote_and_iphone_footer_are_removed() {
        let html = format!(
            "<html><body dir=\"auto\">Sounds good<br><br><div dir=\"ltr\">Sent from my iPhone</div><div dir=\"ltr\"><br><blockquote type=\"cite\">On Nov 23, 2026, at 10:00, Agnes Agent via threadgate &lt;notifications@example.net&gt; wrote:<br><br></blockquote></div><blockquote type=\"cite\"><div dir=\"ltr\">{MARKER_HTML}</div></blockquote></body></html>"
        );
        assert_eq!(clean(&html), "Sounds good");
    }

    #[test]
    fn apple_mail_macos_header_inside_the_blockquote_is_removed() {
        let html = "<div>Merci !</div><div><br><blockquote type=\"cite\"><div>Le 23 nov. 2026 à 10:00, Agnes &lt;a@example.net&gt; a écrit :</div><br><div>old</div></blockquote></div><br>";
        assert_eq!(clean(html), "<div>Merci !</div>");
    }

    #[test]
    fn apple_mail_forward_is_kept() {
        let html = "<div>For the file.</div><div><br><blockquote type=\"cite\"><div>Begin forwarded message:</div><br><div><b>From: </b>Dora</div><div>Invoice text</div></blockquote></div>";
        let got = clean(html);
        assert!(
            got.contains("Begin forwarded message:") && got.contains("Invoice text"),
            "{got}"
        );
    }

    #[test]
    fn thunderbird_cite_prefix_blockquote_and_signature_are_removed() {
        let html = "<p>Fine.</p><div class=\"moz-signature\">-- <br>Carl</div><div class=\"moz-cite-prefix\">On 23/11/2026 10:00, Agnes Agent via threadgate wrote:<br></div><blockquote type=\"cite\" cite=\"mid:n1@example.net\">old</blockquote>";
        assert_eq!(clean(html), "<p>Fine.</p>");
    }

    #[test]
    fn thunderbird_inline_answers_between_quotes_are_kept() {
        let html = "<div class=\"moz-cite-prefix\">On 23/11/2026 10:00, Agnes wrote:<br></div><blockquote type=\"cite\">Tuesday?</blockquote><p>Yes.</p><blockquote type=\"cite\">Docs?</blockquote><p>Sure.</p>";
        assert_eq!(clean(html), "<p>Yes.</p><p>Sure.</p>");
    }

    #[test]
    fn yahoo_quoted_is_removed() {
        for attr in [
            "class=\"yahoo_quoted\"",
            "id=\"ydp1a2b3yahoo_quoted_4567\" class=\"ydp1a2b3yahoo_quoted\"",
        ] {
            let html = format!(
                "<div class=\"ydp1\"><div>Got it.</div></div><div {attr}><div>On Monday, November 23, 2026, 10:00 AM GMT+1, Agnes &lt;a@example.net&gt; wrote:</div><div><br></div><div>old</div></div>"
            );
            assert_eq!(clean(&html), "<div><div>Got it.</div></div>", "{attr}");
        }
    }

    #[test]
    fn protonmail_quote_and_signature_are_removed() {
        let html = "<div>Confirmed.</div><div class=\"protonmail_signature_block\"><div class=\"protonmail_signature_block-proton\">Sent with Proton Mail secure email.</div></div><div class=\"protonmail_quote\">On Monday, November 23rd, 2026 at 10:00, Agnes &lt;a@example.net&gt; wrote:<br><blockquote class=\"protonmail_quote\" type=\"cite\">old</blockquote><br></div>";
        assert_eq!(clean(html), "<div>Confirmed.</div>");
    }

    #[test]
    fn our_marker_and_the_header_above_it_are_removed() {
        let html = format!("<div>Yes please.</div><div>On Monday, Agnes wrote:</div>{MARKER_HTML}");
        assert_eq!(clean(&html), "<div>Yes please.</div>");
    }

    #[test]
    fn generic_blockquote_after_a_quote_header_is_removed() {
        let html = "<p>Agreed.</p><p>On 23 Nov 2026, at 10:00, Agnes &lt;a@example.net&gt; wrote:</p><blockquote>old</blockquote>";
        assert_eq!(clean(html), "<p>Agreed.</p>");
    }

    #[test]
    fn blockquote_the_person_wrote_in_the_middle_is_kept() {
        let html = "<p>You said:</p><blockquote>ship on Friday</blockquote><p>I agree.</p>";
        let got = clean(html);
        assert!(
            got.contains("ship on Friday") && got.contains("I agree."),
            "{got}"
        );
    }

    #[test]
    fn original_message_separator_in_html_cuts_the_rest() {
        let html = "<div>Done.<br><br>-----Original Message-----<br>From: Agnes<br>Sent: Monday<br>To: Carl<br>Subject: Task<br><br>old</div>";
        assert_eq!(clean(html), "<div>Done.</div>");
    }

    #[test]
    fn gmail_forward_is_kept() {
        let html = "<div dir=\"ltr\">Here is Dora's mail.<br><br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">---------- Forwarded message ---------<br>From: <b>Dora</b><br>Date: Mon, Nov 23, 2026<br>Subject: Invoice<br>To: Carl<br></div><br><br><div dir=\"ltr\">Invoice attached.</div></div></div>";
        let got = clean(html);
        assert!(
            got.contains("Forwarded message") && got.contains("Invoice attached."),
            "{got}"
        );
    }

    #[test]
    fn our_sent_text_pasted_without_any_container_is_removed_when_known() {
        let sent = "##- Reply above this line -##\n\nAgnes Agent wrote on 2026-11-23 09:00 UTC:\n\nYour order left our warehouse this morning and arrives on Thursday.\n\n--\nReply to this email to answer in the conversation \"Order\".";
        let html = "<div>Thanks!</div><div><br></div><div>On Monday, Agnes wrote:</div><div>Agnes Agent wrote on 2026-11-23 09:00 UTC:</div><div>Your order left our warehouse this morning and</div><div>arrives on Thursday.</div>";
        assert_eq!(
            reply_html_knowing(html, Some(sent), &|_| None),
            "<div>Thanks!</div>"
        );
        assert!(reply_html(html).contains("warehouse"));
    }

    #[test]
    fn only_quote_gives_an_empty_string() {
        let html = "<div dir=\"ltr\"><br></div><div class=\"gmail_quote\"><div class=\"gmail_attr\">On Mon, Agnes &lt;a@example.net&gt; wrote:</div><blockquote class=\"gmail_quote\">##- Reply above this line -##<br>old</blockquote></div>";
        assert_eq!(clean(html), "");
    }

    #[test]
    fn outlook_mobile_footer_is_removed() {
        let html = "<div dir=\"ltr\">On my way</div><div dir=\"ltr\"><br></div><div id=\"ms-outlook-mobile-signature\"><div>Get <a href=\"https://aka.ms/o0ukef\">Outlook for iOS</a></div></div><div id=\"appendonsend\"></div><hr><div id=\"divRplyFwdMsg\"><b>From:</b> A<br><b>Sent:</b> B<br><b>To:</b> C<br><b>Subject:</b> D</div>";
        assert_eq!(clean(html), "<div dir=\"ltr\">On my way</div>");
    }
}
