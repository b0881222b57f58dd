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
//!
//! The files:
//!
//! - `sanitize`: the two ammonia configurations (normalizing, then what we show)
//! - `tag`, `tree`: reading ammonia's output into a tree of nodes in document order
//! - `clients`: how each mail client marks its quote containers and signatures
//! - `containers`: pass 1, client containers removed
//! - `render`: the tree rendered to lines of text, each knowing its node
//! - `text_lines`: pass 2, the HTML of the lines the text extractor drops, blank edges
//! - `serialize`: the kept nodes written back as HTML, `cid:` images rewritten

mod answers;
mod clients;
mod containers;
mod depth;
mod render;
mod sanitize;
mod serialize;
mod tag;
mod text_lines;
mod tree;

#[cfg(test)]
mod tests;

use super::budget::CpuBudget;
use super::extract;
#[cfg(doc)]
use crate::domain::REPLY_MARKER;

use containers::remove_client_containers;
use render::Renderer;
use sanitize::{SANITIZER, normalize};
use text_lines::{content_flags, remove_what_the_text_extractor_removes, trim_blank_edges};
use tree::{ROOT, Tree};

/// A forwarded message is kept, folded: the element that holds it goes inside `<details>`,
/// summarised by its first line in the sender's words ("Messaggio inoltrato"). That element
/// is the forward's own (Apple's blockquote) or the one around its "Forwarded message" line,
/// widened while it is the first thing with content in its parent (Gmail's `gmail_quote`
/// holds the header and the forwarded body; the person's words before it stay outside).
fn forward_fold(tree: &Tree, keep: &[bool], content: &[bool], x: usize) -> Option<serialize::Fold> {
    let mut element = match &tree.data[x] {
        tree::Data::Element(_) => x,
        _ => tree.parent[x],
    };
    while element != ROOT && tree.parent[element] != ROOT {
        let parent = tree.parent[element];
        let first_with_content = tree.children[parent]
            .iter()
            .find(|&&c| keep[c] && content[c]);
        if first_with_content != Some(&element) {
            break;
        }
        element = parent;
    }
    if element == ROOT || !keep[element] {
        return None;
    }
    let first_line = Renderer::peek(tree, keep, element).text();
    let label = first_line
        .lines()
        .map(|l| {
            l.trim()
                .trim_matches(['-', '>', ' '])
                .trim_end_matches(':')
                .trim()
        })
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(80)
        .collect::<String>();
    Some(serialize::Fold { element, label })
}

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
    // Never given up without a budget: the default is unreachable.
    reply_html_parts(html, sent, cid_url, &CpuBudget::unlimited())
        .map(|reply| reply.html)
        .unwrap_or_default()
}

/// The kept part of an HTML reply, and whether it keeps answers typed inside a removed
/// history (Outlook's, in colour): the text part, which has no colour, lost them then.
pub struct HtmlReply {
    pub html: String,
    pub answers_in_history: bool,
}

/// [`reply_html_with_sent`], saying whether answers were kept inside a removed history.
pub fn reply_html_parts(
    html: &str,
    sent: Option<&extract::Sent>,
    cid_url: &dyn Fn(&str) -> Option<String>,
    budget: &CpuBudget,
) -> Option<HtmlReply> {
    if budget.exhausted() {
        return None;
    }
    let mut tree = Tree::parse(&normalize(html));
    let mut keep = vec![true; tree.len()];
    let found = remove_client_containers(&tree, &mut keep);
    if budget.exhausted() {
        return None;
    }
    remove_what_the_text_extractor_removes(&mut tree, &mut keep, sent);
    // After the text rules, which would take our quoted lines above them for history.
    found.answers.keep(&tree, &mut keep);
    let content = content_flags(&tree, &keep);
    if !content[ROOT] {
        return Some(HtmlReply {
            html: String::new(),
            answers_in_history: false,
        });
    }
    trim_blank_edges(&tree, &mut keep, &content, true);
    trim_blank_edges(&tree, &mut keep, &content, false);
    let fold = found
        .forward
        .and_then(|x| forward_fold(&tree, &keep, &content, x));
    let fragment = tree.serialize(&keep, cid_url, fold.as_ref());
    if budget.exhausted() {
        return None;
    }
    Some(HtmlReply {
        html: SANITIZER.clean(&fragment).to_string().trim().to_string(),
        answers_in_history: !found.answers.is_empty(),
    })
}
