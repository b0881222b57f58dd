//! Separating what a person newly wrote in a plain-text email reply from the
//! quoted history and signature their mail client appended.
//!
//! [`extract_reply`] and [`extract_reply_knowing`] are pure functions: no
//! I/O, no async, no regular expressions, no dependencies; their time and
//! memory are linear in the input size (a few per-line vectors besides the
//! output, and a suffix automaton of the sent text's words).
//! They work line by line, in order of how strong the evidence is:
//!
//! 1. Our own [`REPLY_MARKER`] (quoted or not): everything from it down is
//!    history, plus a quote header ("On … wrote:") sitting just above it.
//!    When the client `>`-quoted it, unquoted lines below it are the
//!    person's inline (or bottom-posted) answers and are kept.
//! 2. Quote headers written by mail clients: "On … wrote:" and its forms in
//!    fourteen languages (also when wrapped over two or three lines),
//!    "-----Original Message-----" style separators, and Outlook header
//!    blocks (`From:` / `Sent:` / `To:` …, in the same languages). Everything from the header down is history, *except* inline
//!    answers: below an "On … wrote:" header the history is `>`-quoted, and
//!    unquoted lines the person typed between the quoted ones are kept (see
//!    below). Below a separator or Outlook block the history is not quoted
//!    at all, so everything goes.
//! 3. Forwarded messages ("---------- Forwarded message ---------",
//!    "Begin forwarded message:", their translations, and Outlook blocks
//!    whose subject starts with `FW:`/`TR:`/`WG:`/`RV:` when our marker is
//!    not below them): a forward is
//!    something the person chose to send into the conversation, so when one
//!    comes before any quote header, it and everything below it is kept
//!    verbatim; the passes below only look above it.
//! 4. With [`extract_reply_knowing`], the text of the notification we sent
//!    this person, wherever it is quoted: `>`-quoted or not, re-wrapped by
//!    the client or not (runs of eight words of ours, fewer when `>`-quoted).
//! 5. Signatures: the RFC 3676 §4.3 delimiter `"-- "` and mobile footers
//!    ("Sent from my iPhone", "Envoyé de mon iPhone", "Get Outlook for iOS"…),
//!    only when nothing new follows them.
//! 6. A run of `>`-quoted lines at the very end of the message.
//!
//! Inline (interleaved) answers: below an "On … wrote:" header followed by
//! `>`-quoted history, the quoted lines and the header are removed and the
//! person's unquoted lines are kept. When the answers are interleaved (several of them, or
//! quoted history going on below one), each gets the end of the quoted paragraph right above
//! it back as `> ` context (up to three lines; the history stays whole in `trimmed`), so
//! "Yes." still says what it answers; a single answer below the whole quote (bottom-posting)
//! gets none. Where a removed quote separated two kept
//! paragraphs, the kept text gets exactly one blank line between them so
//! that consecutive answers stay readable. Quoted lines that are *not* below
//! a quote header and not at the end (a person quoting one sentence to
//! answer it, with no header) are kept as written, unless they are our own
//! sent text.
//!
//! HTML replies are rendered to text by [`super::html::html_to_text`]
//! (blockquotes become `>`-quoted lines, Outlook's header block becomes
//! `From:`/`Sent:` lines) and then go through the same rules; the HTML
//! itself is trimmed by [`super::html::reply_html`].
//!
//! Languages: the words of fourteen (`vocabulary.txt`) only confirm what structure shows.
//! An attribution is a paragraph's first line (or two, wrapped) ending with a colon, with a
//! date or time and an address, right above a quote — in any language; and right above our own
//! text found by diff, a line ending with a colon that names a date, time or address is one,
//! as is a short block of `Label: value` lines (a header block whatever its labels).
//!
//! Inline answers inside a history copied unquoted (Outlook) are told by the initials the
//! person starts them with (`[MH] Yes.`): each is kept with the history line it answers as
//! `> ` context (the email's HTML, whose Outlook container goes whole, is then not kept, so
//! the page shows the text: `analyze::reply_body_sent`). Below a forward, our own
//! notification still goes (clear runs of it only).
//!
//! Not done: clients that re-wrap quoted lines without repeating the `>` prefix when the sent
//! text is not known (such continuation lines look like new text and are kept: we prefer
//! keeping history to losing words the person wrote); inline answers inside Outlook's
//! unquoted history marked only by colour (the text has no colour: the HTML pass keeps them,
//! `html::answers`, and its text is used then); and an Outlook forward
//! whose header block does not say `FW:` (only the email's own Subject would tell it from a
//! reply).
//!
//! The passes live in one file each: `marker` (our marker), `quote_headers` (client quote
//! headers, Outlook blocks, forwards), `sent_text` (the text we sent), `signature` (signatures
//! and mobile footers), with the words of each language in `languages`. This file holds the
//! entry points, the per-line facts every pass reads (`Lines`), the trailing quote pass and
//! the assembly of the output.

mod explain;
mod languages;
mod marker;
mod quote_headers;
mod sent_text;
mod signature;

use languages::{block_is_forward, is_forward_separator};
use marker::cut_at_marker;
use quote_headers::cut_at_quote_headers;
use sent_text::{SentText, cut_sent_text};
use signature::cut_signature;

pub use explain::{Cut, explain};

// Composition writes the marker, extraction cuts at it: it lives below both.
pub use crate::domain::{REPLY_MARKER, REPLY_MARKER_FR, has_marker};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// What the person wrote, trimmed of surrounding blank lines. Empty when the reply was only quote/signature.
    pub kept: String,
    /// The part removed (quote header, quoted lines, signature), verbatim, or None when nothing was removed.
    pub trimmed: Option<String>,
}

/// Separates the new text of a plain-text reply from quoted history and
/// signature. Never panics; see the module documentation for the rules.
#[must_use]
pub fn extract_reply(text: &str) -> Extracted {
    extract_reply_knowing(text, None)
}

/// Like [`extract_reply`], also removing `sent` (the text of the
/// notification we sent this person) wherever it is quoted in the reply:
/// with or without `>` prefixes, re-wrapped by the client or not. Never
/// panics; linear in the sizes of `text` and `sent`.
#[must_use]
pub fn extract_reply_knowing(text: &str, sent: Option<&str>) -> Extracted {
    extract_reply_with(text, sent.and_then(Sent::new).as_ref())
}

/// The text of the notification we sent, prepared once for matching (its words and their
/// automaton): the text and the HTML of one reply are both cut against it.
pub struct Sent(SentText);

impl Sent {
    /// None when it has no words to match.
    #[must_use]
    pub fn new(sent: &str) -> Option<Sent> {
        Some(SentText::new(sent))
            .filter(|s| !s.is_empty())
            .map(Sent)
    }
}

/// [`extract_reply_knowing`] with the sent text already prepared.
#[must_use]
pub fn extract_reply_with(text: &str, sent: Option<&Sent>) -> Extracted {
    let normalized = normalize_newlines(text);
    let lines = Lines::new(&normalized);
    assemble(&lines, &fates_knowing(&lines, sent.map(|s| &s.0)))
}

/// For callers that rendered a reply to text themselves (HTML replies):
/// for each line of `text` (split on `\n`), whether
/// [`extract_reply_knowing`] keeps it. Blank lines count as kept unless they
/// lie inside removed text.
pub(crate) fn kept_lines(text: &str, sent: Option<&Sent>) -> Vec<bool> {
    let normalized = normalize_newlines(text);
    let lines = Lines::new(&normalized);
    fates_knowing(&lines, sent.map(|s| &s.0))
        .into_iter()
        .map(|f| f != Fate::Drop)
        .collect()
}

/// Headers that introduce a forwarded message ("Begin forwarded message:",
/// "---------- Forwarded message ---------" and translations).
pub(crate) fn is_forward_header(line: &str) -> bool {
    is_forward_separator(line)
}

/// Whether `text` (the rendering of an Outlook header block) holds a
/// `Subject:` line saying the message is a forward (`FW:`, `TR:`, `WG:`…).
pub(crate) fn header_block_is_forward(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().take(16).collect();
    block_is_forward(&lines)
}

/// The passes with the sent text. Short unquoted matches are weak
/// evidence: when they are all that stood between the reply and nothing,
/// the person was echoing our words rather than quoting them, and they stay.
fn fates_knowing(lines: &Lines, sent: Option<&SentText>) -> Vec<Fate> {
    let keeps_text =
        |fate: &[Fate]| (0..lines.len()).any(|j| fate[j] == Fate::Keep && !lines.blank[j]);
    let fate = fates(lines, sent, true, &mut |_, _| {});
    if sent.is_some() && !keeps_text(&fate) {
        let without_weak = fates(lines, sent, false, &mut |_, _| {});
        if keeps_text(&without_weak) {
            return without_weak;
        }
    }
    fate
}

/// Whether [`fates_knowing`] counts short runs of our text (for `explain`, which replays
/// the passes it chose).
fn use_weak_runs(lines: &Lines, sent: Option<&SentText>) -> bool {
    let keeps_text =
        |fate: &[Fate]| (0..lines.len()).any(|j| fate[j] == Fate::Keep && !lines.blank[j]);
    let noop = &mut |_: Pass, _: &[Fate]| {};
    sent.is_none()
        || keeps_text(&fates(lines, sent, true, noop))
        || !keeps_text(&fates(lines, sent, false, noop))
}

/// The passes, in order: what `observe` is told after each (`explain` replays them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Marker,
    QuoteHeaders,
    SentText,
    Signature,
    TrailingQuote,
    TaggedAnswers,
    BlankLines,
}

fn fates(
    lines: &Lines,
    sent: Option<&SentText>,
    weak_runs: bool,
    observe: &mut dyn FnMut(Pass, &[Fate]),
) -> Vec<Fate> {
    let mut fate = vec![Fate::Keep; lines.len()];
    let end = cut_at_marker(lines, &mut fate);
    observe(Pass::Marker, &fate);
    // Everything from a forwarded message down is kept verbatim: the later
    // passes only look above it.
    let forward = cut_at_quote_headers(lines, &mut fate, end);
    observe(Pass::QuoteHeaders, &fate);
    if let Some(sent) = sent {
        // Our own notification goes wherever it is quoted, below a forward too (the forward
        // stays: the person chose to send it); there only clear runs of our text count.
        cut_sent_text(lines, &mut fate, sent, end, weak_runs && forward.is_none());
        observe(Pass::SentText, &fate);
    }
    let end = forward.unwrap_or(end);
    cut_signature(lines, &mut fate, end);
    observe(Pass::Signature, &fate);
    if forward.is_none() {
        cut_trailing_quotes(lines, &mut fate);
        observe(Pass::TrailingQuote, &fate);
    }
    keep_tagged_answers(lines, &mut fate);
    observe(Pass::TaggedAnswers, &fate);
    absorb_blank_lines(lines, &mut fate);
    observe(Pass::BlankLines, &fate);
    fate
}

/// The longest tag of initials (`[MH]`, `<<MH>>`) an inline answer starts with.
const MAX_INITIALS: usize = 4;

/// How many lines of the paragraph an inline answer answers are shown above it.
const MAX_CONTEXT_LINES: usize = 3;

/// The answers in `kept` marked with the person's initials (their text after the tag).
pub fn tagged_answers(kept: &str) -> impl Iterator<Item = &str> {
    kept.lines()
        .filter(|l| starts_with_initials(l))
        .filter_map(|l| {
            l.split_once([']', '>'])
                .map(|(_, rest)| rest.trim_start_matches('>').trim())
        })
}

/// Whether `line` starts with the person's initials in brackets, as Outlook users mark the
/// answers they type inside the history it copies unquoted: `[MH] Yes.`, `<<MH>> Yes.`.
fn starts_with_initials(line: &str) -> bool {
    let t = line.trim_start();
    let (open, close) = if t.starts_with('[') {
        ("[", "]")
    } else if t.starts_with("<<") {
        ("<<", ">>")
    } else {
        return false;
    };
    let Some((tag, rest)) = t[open.len()..].split_once(close) else {
        return false;
    };
    let letters = tag.chars().count();
    (1..=MAX_INITIALS).contains(&letters)
        && tag.chars().all(char::is_alphabetic)
        && tag.chars().any(char::is_uppercase)
        && rest.starts_with(char::is_whitespace)
        && !rest.trim().is_empty()
}

/// Inline answers and what each answers. Inside a history the passes removed and that was
/// copied unquoted (Outlook), only the person's initials tell an answer from the history:
/// each tagged line is kept. Then every answer interleaved with the removed history — a kept
/// line with removed history lines above and below it, `>`-quoted or not — gets the end of the
/// history paragraph right above it (the sentence it answers, up to [`MAX_CONTEXT_LINES`]
/// lines) shown again as its `> ` context; the history itself stays whole in `trimmed`.
fn keep_tagged_answers(lines: &Lines, fate: &mut [Fate]) {
    let mut tagged = vec![false; lines.len()];
    for j in 0..lines.len() {
        if fate[j] == Fate::Drop && !lines.quoted[j] && starts_with_initials(lines.text[j]) {
            fate[j] = Fate::Keep;
            tagged[j] = true;
        }
    }
    // History the person answered: removed lines with text, not our marker nor a header.
    let history = |fate: &[Fate], k: usize| {
        let line = lines.text[k];
        fate[k] == Fate::Drop
            && !unquoted_content(line).is_empty()
            && !has_marker(line)
            && !line.trim_end().ends_with(':')
    };
    // Answers right below removed `>`-quoted history. They are interleaved — each shown with
    // what it answers — when there are several, or when quoted history goes on below one; a
    // single answer below the whole quote is a bottom-posted reply and needs no context.
    let answers: Vec<usize> = (0..lines.len())
        .filter(|&j| fate[j] == Fate::Keep && !lines.blank[j])
        .filter(|&j| {
            (0..j)
                .rev()
                .find(|&k| !lines.blank[k])
                .is_some_and(|k| lines.quoted[k] && history(fate, k))
        })
        .collect();
    let last_quoted = (0..lines.len())
        .rev()
        .find(|&k| lines.quoted[k] && history(fate, k));
    let interleaved = answers.len() > 1
        || answers
            .first()
            .is_some_and(|&j| last_quoted.is_some_and(|q| j < q));
    for (j, &tag) in tagged.iter().enumerate() {
        if tag || (interleaved && answers.binary_search(&j).is_ok()) {
            add_context(lines, fate, j, tag, &history);
        }
    }
}

/// Marks as [`Fate::Context`] the history right above answer `j`: one line above a tagged
/// answer (an unquoted history has no paragraphs to trust), the end of the quoted paragraph
/// above an interleaved one.
fn add_context(
    lines: &Lines,
    fate: &mut [Fate],
    j: usize,
    tagged: bool,
    history: &impl Fn(&[Fate], usize) -> bool,
) {
    let Some(above) = (0..j).rev().find(|&k| !lines.blank[k]) else {
        return;
    };
    if !history(fate, above) {
        return;
    }
    let most = if tagged { 1 } else { MAX_CONTEXT_LINES };
    let mut top = above;
    while top > 0 && above - top + 1 < most && lines.quoted[top - 1] && history(fate, top - 1) {
        top -= 1;
    }
    for f in &mut fate[top..=above] {
        *f = Fate::Context;
    }
}

/// What happens to one input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Keep,
    Drop,
    /// A line of the history an inline answer answers: kept as a `> ` quote above it.
    Context,
}

/// The input split into lines, with per-line facts computed once so every
/// later pass is a constant-time lookup (this is what keeps the whole thing
/// linear even on adversarial input such as thousands of header-like lines).
struct Lines<'a> {
    text: Vec<&'a str>,
    blank: Vec<bool>,
    quoted: Vec<bool>,
    /// `next_nonblank[j]` is the index of the first non-blank line at or after
    /// `j`, or `len()` when there is none. Has `len() + 1` entries.
    next_nonblank: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let text: Vec<&str> = text.split('\n').collect();
        let blank: Vec<bool> = text.iter().map(|l| is_blank(l)).collect();
        let quoted: Vec<bool> = text.iter().map(|l| is_quoted(l)).collect();
        let mut next_nonblank = vec![text.len(); text.len() + 1];
        for j in (0..text.len()).rev() {
            next_nonblank[j] = if blank[j] { next_nonblank[j + 1] } else { j };
        }
        Lines {
            text,
            blank,
            quoted,
            next_nonblank,
        }
    }

    fn len(&self) -> usize {
        self.text.len()
    }

    /// Neither blank nor `>`-quoted: a line that could be a header or new text.
    fn is_plain(&self, j: usize) -> bool {
        !self.blank[j] && !self.quoted[j]
    }
}

fn normalize_newlines(text: &str) -> String {
    if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.to_owned()
    }
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// Clients quote with `>` (nested as `>>` or `> >`); some indent first.
fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// The text of a line with all quote marks and surrounding spaces removed.
fn unquoted_content(line: &str) -> &str {
    line.trim_start_matches(|c: char| c == '>' || c.is_whitespace())
        .trim_end()
}

fn mark(fate: &mut [Fate], from: usize, to: usize) {
    for f in &mut fate[from..to] {
        *f = Fate::Drop;
    }
}

// ---------------------------------------------------------------------------
// Trailing quote
// ---------------------------------------------------------------------------

/// Drops a run of `>`-quoted lines (with the blank lines among and after
/// them) at the end of what is still kept: a bottom quote without a header,
/// as iOS Mail produces when it quotes its own "On … wrote:" line.
fn cut_trailing_quotes(lines: &Lines, fate: &mut [Fate]) {
    let mut start = None;
    for j in (0..lines.len()).rev() {
        if fate[j] == Fate::Drop || lines.blank[j] {
            continue;
        }
        if !lines.quoted[j] {
            break;
        }
        start = Some(j);
    }
    if let Some(start) = start {
        for f in &mut fate[start..] {
            *f = Fate::Drop;
        }
    }
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// A blank line lying between removed lines (or after the last removed line)
/// belongs to the removed text, so `trimmed` reproduces the history's own
/// paragraph breaks.
fn absorb_blank_lines(lines: &Lines, fate: &mut [Fate]) {
    let n = lines.len();
    let mut next_nonblank_dropped = vec![true; n + 1];
    for j in (0..n).rev() {
        next_nonblank_dropped[j] = if lines.blank[j] {
            next_nonblank_dropped[j + 1]
        } else {
            fate[j] == Fate::Drop
        };
    }
    let mut prev_nonblank_dropped = false;
    for j in 0..n {
        if !lines.blank[j] {
            prev_nonblank_dropped = fate[j] == Fate::Drop;
        } else if prev_nonblank_dropped && next_nonblank_dropped[j] {
            fate[j] = Fate::Drop;
        }
    }
}

fn assemble(lines: &Lines, fate: &[Fate]) -> Extracted {
    let mut kept: Vec<std::borrow::Cow<str>> = Vec::new();
    let mut trimmed: Vec<&str> = Vec::new();
    // Set once something was removed after the last kept non-blank line:
    // the kept text on either side is then separated by exactly one blank
    // line (inline answers would otherwise run together or be separated by
    // the blank lines that used to surround the quote).
    let mut seam = false;
    let mut in_context = false;
    for (j, &line) in lines.text.iter().enumerate() {
        let line: std::borrow::Cow<str> = match fate[j] {
            Fate::Drop => {
                trimmed.push(line);
                seam = true;
                continue;
            }
            Fate::Context => {
                // Shown again above its answer, a blank line above it; the history stays
                // whole in `trimmed`.
                trimmed.push(line);
                if !in_context && kept.last().is_some_and(|l| !is_blank(l)) {
                    kept.push("".into());
                }
                in_context = true;
                kept.push(format!("> {}", unquoted_content(line)).into());
                seam = false;
                continue;
            }
            Fate::Keep => line.into(),
        };
        in_context = false;
        if !seam {
            kept.push(line);
            continue;
        }
        let last_is_text = kept.last().is_some_and(|l| !is_blank(l));
        if lines.blank[j] {
            if last_is_text {
                kept.push(line);
            }
        } else {
            if last_is_text {
                kept.push("".into());
            }
            kept.push(line);
            seam = false;
        }
    }
    let kept = join_without_blank_edges(&kept).unwrap_or_default();
    let trimmed = join_without_blank_edges(&trimmed);
    Extracted { kept, trimmed }
}

/// Joins lines with "\n" after dropping leading and trailing blank lines;
/// `None` when nothing but blank lines remains.
fn join_without_blank_edges<S: AsRef<str>>(lines: &[S]) -> Option<String> {
    let first = lines.iter().position(|l| !is_blank(l.as_ref()))?;
    let last = lines.iter().rposition(|l| !is_blank(l.as_ref()))?;
    Some(
        lines[first..=last]
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<&str>>()
            .join("\n"),
    )
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_sent;

#[cfg(test)]
mod tests_robustness;
