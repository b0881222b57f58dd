//! Pass 1: client quote containers, signatures and the header of a quote
//! wrapper removed by structure (see the module documentation of
//! [`super`]); forwarded messages are kept.

use super::answers::Answers;
use super::clients::{
    is_cite_blockquote, is_outlook_header_div, is_quote_wrapper, is_signature_container,
    is_webmail_quote, is_yahoo_quoted, is_zimbra_rule,
};
use super::render::{Renderer, starts_with_forward};
use super::tree::{Data, Element, Tree};
use crate::inbound::extract;

/// The first lines of the text of `x`'s subtree.
fn peek_text(tree: &Tree, keep: &[bool], x: usize) -> String {
    Renderer::peek(tree, keep, x).text()
}

/// What [`remove_client_containers`] found besides what it removed.
pub(super) struct Found {
    /// The node a forwarded message starts at (kept, and shown folded).
    pub forward: Option<usize>,
    /// Answers typed in colour inside a removed Outlook history, to keep with their context
    /// once the text rules have run.
    pub answers: Answers,
}

/// Marks client quote containers, signatures and our marker (see the
/// module documentation) as not kept.
pub(super) fn remove_client_containers(tree: &Tree, keep: &mut [bool]) -> Found {
    let n = tree.len();
    let facts = NodeFacts::new(tree);

    let last_marker = (0..n)
        .rev()
        .find(|&x| matches!(&tree.data[x], Data::Text(t) if extract::has_marker(t)));

    let mut cut = n;
    let mut cut_by_outlook = false;
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
        match container_step(tree, keep, x, e, &facts, last_marker) {
            Step::Enter => x += 1,
            Step::Remove => {
                skip(keep, x, tree.end[x]);
                x = tree.end[x];
            }
            Step::Resume(q) => x = q,
            Step::KeepFrom => {
                keep_from = x;
                break;
            }
            Step::CutFrom(at) => {
                cut = cut.min(at);
                cut_by_outlook = tree.element(x).is_some_and(is_outlook_container);
                break;
            }
        }
    }
    let mut answers = Answers::default();
    if cut < keep_from {
        skip(keep, cut, n);
        if cut_by_outlook {
            answers = super::answers::find(tree, cut);
        }
    }
    Found {
        forward: (keep_from < n && keep_from < cut).then_some(keep_from),
        answers,
    }
}

/// What [`remove_client_containers`] looks up about every node, each
/// computed in one linear pass before the walk.
struct NodeFacts {
    in_wrapper: Vec<bool>,
    first_blockquote: Vec<usize>,
    forwards_before: Vec<usize>,
}

impl NodeFacts {
    fn new(tree: &Tree) -> NodeFacts {
        let n = tree.len();
        // Inside a Gmail/ProtonMail wrapper.
        let mut in_wrapper = vec![false; n];
        for x in 1..n {
            in_wrapper[x] =
                in_wrapper[tree.parent[x]] || tree.element(x).is_some_and(is_quote_wrapper);
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
        NodeFacts {
            in_wrapper,
            first_blockquote,
            forwards_before,
        }
    }
}

/// What the walk of [`remove_client_containers`] does at an element.
enum Step {
    /// Not a container: go on inside it.
    Enter,
    /// Not kept, with its subtree: go on after it.
    Remove,
    /// A quote wrapper whose header is no longer kept: go on at its quote.
    Resume(usize),
    /// A forwarded message: it and everything after it are kept.
    KeepFrom,
    /// Quote: everything from this node on goes (unless a forward comes first).
    CutFrom(usize),
}

/// The rules for element `x`, client by client.
fn container_step(
    tree: &Tree,
    keep: &mut [bool],
    x: usize,
    e: &Element,
    facts: &NodeFacts,
    last_marker: Option<usize>,
) -> Step {
    let p = tree.parent[x];

    // Outlook and Yahoo: the container and everything after it.
    if is_outlook_container(e) {
        return outlook_step(tree, keep, x, e, last_marker);
    }
    if is_yahoo_quoted(e) || e.has_class("gmail_extra") || is_zimbra_rule(e) {
        return Step::CutFrom(x);
    }

    if is_signature_container(e) {
        return Step::Remove;
    }
    if is_cite_blockquote(e, facts.in_wrapper[p]) || is_webmail_quote(e) {
        if starts_with_forward(tree, keep, x) {
            // Apple Mail forwards inside a cite blockquote.
            return Step::KeepFrom;
        }
        return Step::Remove;
    }
    if e.has_class("moz-cite-prefix")
        && next_sibling(tree, x)
            .is_some_and(|s| tree.element(s).is_some_and(|b| b.name == "blockquote"))
    {
        return Step::Remove;
    }
    if is_quote_wrapper(e) {
        return wrapper_step(tree, keep, x, facts);
    }
    Step::Enter
}

fn is_outlook_container(e: &Element) -> bool {
    e.id_contains("appendonsend")
        || e.id_contains("divrplyfwdmsg")
        || e.id_contains("mail-editor-reference-message-container")
        || is_outlook_header_div(e)
}

/// An Outlook container: a forward is kept, anything else goes with
/// everything after it (from the `<hr>` above `#divRplyFwdMsg`).
fn outlook_step(
    tree: &Tree,
    keep: &[bool],
    x: usize,
    e: &Element,
    last_marker: Option<usize>,
) -> Step {
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
        && header.is_some_and(|h| extract::header_block_is_forward(&peek_text(tree, keep, h)))
    {
        return Step::KeepFrom;
    }
    let mut at = x;
    if e.id_contains("divrplyfwdmsg")
        && let Some(hr) = previous_sibling(tree, x).filter(|&s| tree.is(s, "hr"))
    {
        at = hr;
    }
    Step::CutFrom(at)
}

/// A Gmail/ProtonMail wrapper: its header (what comes before its first
/// quote blockquote) is not kept unless it introduces a forward.
fn wrapper_step(tree: &Tree, keep: &mut [bool], x: usize, facts: &NodeFacts) -> Step {
    // Everything before the first quote blockquote is the header.
    let q = facts.first_blockquote[x + 1];
    if q < tree.end[x] {
        let header_has_forward = facts.forwards_before[q] > facts.forwards_before[x + 1];
        if !header_has_forward {
            for (y, k) in keep.iter_mut().enumerate().take(q).skip(x + 1) {
                if tree.end[y] <= q {
                    *k = false;
                }
            }
            return Step::Resume(q);
        }
    }
    Step::Enter
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
