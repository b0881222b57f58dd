//! Rendering the tree to text: lines, each knowing the node (and offset)
//! it starts at and the quote blockquote around it, so the passes can map
//! the text extractor's decisions back onto the HTML; [`super::html_to_text`]
//! is this rendering of the whole tree.

use super::clients::{is_signature_container, paragraph_is_a_line};
use super::serialize::cid_of;
use super::tree::{Data, Element, NONE, Tree, VOID};
use crate::inbound::extract;

/// Budget (characters and nodes) for reading the first line of a container.
const FIRST_LINE_BUDGET: usize = 400;

/// Budget (characters and nodes) for looking at the start of a container.
const PEEK_BUDGET: usize = 2_000;

/// The first non-blank line of `x`'s subtree introduces a forwarded message.
pub(super) fn starts_with_forward(tree: &Tree, keep: &[bool], x: usize) -> bool {
    Renderer::render_with(tree, keep, x, FIRST_LINE_BUDGET, true)
        .lines
        .iter()
        .find(|l| !l.is_blank())
        .is_some_and(|l| extract::is_forward_header(&l.text))
}

/// A rendered line and where it comes from.
#[derive(Debug, Clone)]
pub(super) struct Line {
    text: String,
    /// Quote depth (number of `>`).
    depth: usize,
    /// The node of the first thing on the line (for a blank line, the node
    /// of the line after it), and the byte offset in it when it is a text
    /// node (`<pre>` text spans lines).
    pub(super) node: usize,
    pub(super) offset: usize,
    /// The outermost quote blockquote around the line, or [`NONE`].
    pub(super) quote: usize,
    /// Written as is (our `-- ` line): not trimmed.
    raw: bool,
    /// From `<pre>`: only trailing white space is trimmed.
    pre: bool,
}

impl Line {
    pub(super) fn is_blank(&self) -> bool {
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

pub(super) struct Renderer<'t> {
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

/// Deeper quotes are written with this many `>`: the text of a pathological
/// nest of blockquotes stays linear in the input size.
const MAX_QUOTE_MARKS: usize = 16;

/// What `<hr>` becomes: Outlook's rule above its header block.
const HR_LINE: &str = "________________________________";

impl<'t> Renderer<'t> {
    /// Renders the kept nodes of `start`'s subtree; stops after about
    /// `budget` characters and nodes.
    pub(super) fn render(
        tree: &'t Tree,
        keep: &'t [bool],
        start: usize,
        budget: usize,
    ) -> Rendered {
        Self::render_with(tree, keep, start, budget, false)
    }

    pub(super) fn peek(tree: &'t Tree, keep: &'t [bool], start: usize) -> Rendered {
        Self::render_with(tree, keep, start, PEEK_BUDGET, true)
    }

    pub(super) fn render_with(
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
            "blockquote" => self.enter_blockquote(x, e),
            "pre" => {
                self.boundary(Block::Paragraph);
                self.pre += 1;
            }
            name => self.enter_other(x, name, e),
        }
    }

    fn enter_blockquote(&mut self, x: usize, e: &Element) {
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

    /// Blocks, lists and list items, signature containers.
    fn enter_other(&mut self, x: usize, name: &str, e: &Element) {
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
pub(super) struct Rendered {
    pub(super) lines: Vec<Line>,
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

    pub(super) fn text(&self) -> String {
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
