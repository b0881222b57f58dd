//! Pass 2: what is left is rendered to text and run through the plain-text
//! extractor; the HTML of the lines it drops goes too. Then the blank nodes
//! at either edge of what is kept (the line breaks that separated the reply
//! from the removed quote).

use super::render::Renderer;
use super::tree::{Data, NONE, ROOT, Tree};
use crate::inbound::extract;

/// Renders what is kept, runs the plain-text extractor on it and removes
/// the HTML of the lines it drops: a dropped tail from its first node on,
/// dropped quoted lines with their blockquote, dropped header lines between
/// kept ones (an "On … wrote:" above inline answers) node by node.
pub(super) fn remove_what_the_text_extractor_removes(
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
pub(super) fn content_flags(tree: &Tree, keep: &[bool]) -> Vec<bool> {
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
pub(super) fn trim_blank_edges(tree: &Tree, keep: &mut [bool], content: &[bool], at_end: bool) {
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
