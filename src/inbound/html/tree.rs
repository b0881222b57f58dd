//! The tree the passes work on: ammonia's output read back into nodes in
//! document order, so a subtree is an index range and "a node and everything
//! after it" is a suffix.

use super::tag::{Tag, decode_entities, read_tag};

use std::collections::HashMap;

pub(super) const ROOT: usize = 0;
pub(super) const NONE: usize = usize::MAX;

/// Elements without an end tag.
pub(super) const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

#[derive(Debug)]
pub(super) enum Data {
    Root,
    Element(Element),
    Text(String),
}

#[derive(Debug)]
pub(super) struct Element {
    pub(super) name: String,
    pub(super) attrs: Vec<(String, String)>,
}

impl Element {
    pub(super) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn has_class(&self, class: &str) -> bool {
        self.attr("class").is_some_and(|c| {
            c.split_ascii_whitespace()
                .any(|k| k.eq_ignore_ascii_case(class))
        })
    }

    pub(super) fn id_contains(&self, needle: &str) -> bool {
        self.attr("id")
            .is_some_and(|id| id.to_ascii_lowercase().contains(needle))
    }

    /// The style attribute, lowercased and without white space, for substring checks.
    pub(super) fn style(&self) -> String {
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
pub(super) struct Tree {
    pub(super) data: Vec<Data>,
    pub(super) parent: Vec<usize>,
    pub(super) children: Vec<Vec<usize>>,
    /// Position of each node among its parent's children.
    pub(super) position: Vec<usize>,
    pub(super) end: Vec<usize>,
}

impl Tree {
    pub(super) fn len(&self) -> usize {
        self.data.len()
    }

    pub(super) fn element(&self, x: usize) -> Option<&Element> {
        match self.data.get(x) {
            Some(Data::Element(e)) => Some(e),
            _ => None,
        }
    }

    pub(super) fn is(&self, x: usize, name: &str) -> bool {
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
    pub(super) fn parse(html: &str) -> Tree {
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
}
