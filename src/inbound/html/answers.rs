//! Answers a person typed inside the history Outlook copies below its header block, told by
//! their colour: Outlook writes one's comments in a colour of their own (and may preface them
//! with one's initials, which the text rules read). The history itself goes; each answer stays,
//! with the block right above it — what it answers — as its context.

use super::tree::{Data, Tree};

/// Colours that are not a person's comments: text and link defaults of mail clients, and the
/// palette of our own notifications (templates/email/), which the quoted history carries.
const NOT_ANSWER_COLOURS: &[&str] = &[
    "black",
    "#000",
    "#000000",
    "windowtext",
    "auto",
    "inherit",
    "initial",
    "currentcolor",
    "rgb(0,0,0)",
    "#1f497d",
    "#212121",
    "#222",
    "#222222",
    "#333",
    "#333333",
    "#444444",
    "#0563c1",
    "#954f72",
    "blue",
    "purple",
    "#0969da",
    "#1f2328",
    "#57606a",
    "#8b949e",
    "#9a6700",
    "#ffffff",
    "white",
];

/// What [`find`] keeps of a removed history: the answers and their context.
#[derive(Debug, Default)]
pub(super) struct Answers {
    /// Elements whose subtree is an answer.
    pub roots: Vec<usize>,
    /// Blocks shown above an answer: what it answers.
    pub context: Vec<usize>,
}

impl Answers {
    pub(super) fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Keeps the answers and their context (their subtrees and their ancestors: the rest of
    /// the history stays removed).
    pub(super) fn keep(&self, tree: &Tree, keep: &mut [bool]) {
        for &x in self.roots.iter().chain(&self.context) {
            keep[x..tree.end[x]].iter_mut().for_each(|k| *k = true);
            let mut up = tree.parent[x];
            while up != super::tree::ROOT && up != super::tree::NONE {
                keep[up] = true;
                up = tree.parent[up];
            }
        }
    }
}

/// The colour a style sets for text (`color:`, not `background-color:` or `border-color:`).
fn text_colour(style: &str) -> Option<&str> {
    style.split(';').find_map(|declaration| {
        declaration
            .strip_prefix("color:")
            .map(|v| v.trim_end_matches("!important"))
    })
}

/// Elements that hold lines of their own: an answer's block.
fn is_block(tree: &Tree, x: usize) -> bool {
    tree.element(x).is_some_and(|e| {
        matches!(
            e.name.as_str(),
            "p" | "div"
                | "li"
                | "td"
                | "tr"
                | "table"
                | "blockquote"
                | "pre"
                | "h1"
                | "h2"
                | "h3"
                | "h4"
                | "h5"
                | "h6"
        )
    })
}

fn has_text(tree: &Tree, x: usize) -> bool {
    (x..tree.end[x]).any(|y| matches!(&tree.data[y], Data::Text(t) if !t.trim().is_empty()))
}

/// The answers in the history from node `from` to the end: elements with text in a colour of
/// the person's own, each with the block above the block it sits in as context.
pub(super) fn find(tree: &Tree, from: usize) -> Answers {
    let mut answers = Answers::default();
    let mut x = from;
    while x < tree.len() {
        let Some(e) = tree.element(x) else {
            x += 1;
            continue;
        };
        let style = e.style();
        let coloured =
            text_colour(&style).is_some_and(|c| !c.is_empty() && !NOT_ANSWER_COLOURS.contains(&c));
        if !coloured || !has_text(tree, x) {
            x += 1;
            continue;
        }
        answers.roots.push(x);
        // The block holding the answer, and the one before it with text: what it answers.
        let mut block = x;
        while !is_block(tree, block) && tree.parent[block] >= from {
            block = tree.parent[block];
        }
        let siblings = &tree.children[tree.parent[block]];
        if let Some(&above) = siblings[..tree.position[block]]
            .iter()
            .rev()
            .find(|&&s| has_text(tree, s))
            .filter(|&&s| s >= from && !answers.roots.contains(&s))
        {
            answers.context.push(above);
        }
        x = tree.end[x];
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_text_colour_of_the_person_s_own_marks_an_answer() {
        assert_eq!(text_colour("color:#c00000"), Some("#c00000"));
        assert_eq!(
            text_colour("font-size:8pt;color:red!important"),
            Some("red")
        );
        assert_eq!(text_colour("background-color:#c00000"), None);
        assert_eq!(text_colour("border-color:#c00000;font-size:8pt"), None);
        // Our own palette (the quoted notification) and client defaults are not answers.
        for colour in ["#57606a", "windowtext", "#1f497d", "black"] {
            assert!(NOT_ANSWER_COLOURS.contains(&colour), "{colour}");
        }
    }

    #[test]
    fn answers_are_found_with_the_block_above_them() {
        let tree = Tree::parse(
            "<div><p>Question one?</p><p><span style=\"color:#c00000\">Answer one.</span></p><p><span style=\"color:#57606a\">Our footer</span></p></div>",
        );
        let answers = find(&tree, 1);
        assert_eq!(answers.roots.len(), 1, "{answers:?}");
        assert_eq!(answers.context.len(), 1, "{answers:?}");
        let mut keep = vec![false; tree.len()];
        answers.keep(&tree, &mut keep);
        let kept: String = (0..tree.len())
            .filter(|&x| keep[x])
            .filter_map(|x| match &tree.data[x] {
                Data::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("|");
        assert_eq!(kept, "Question one?|Answer one.");
    }
}
