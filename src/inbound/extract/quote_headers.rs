//! Quote headers mail clients write above the history they copy: "On … wrote:" and its
//! translations (wrapped over up to three lines), "-----Original Message-----" style separators,
//! Outlook header blocks (`From:` / `Sent:` / `To:` …, with the underscore rule Outlook draws
//! above them), and forwarded messages. This file decides where a header stands, how far it
//! reaches and what goes with it; the words of each language are in [`super::languages`].

use super::languages::{
    Field, block_is_forward, field_kind, is_forward_separator, is_separator, is_wrote_header,
};
use super::{Fate, Lines, mark};

/// Longest quote header we accept once its wrapped lines are joined. Real
/// client headers ("On Mon, Jan 1, 2024 at 10:00 AM Name <addr> wrote:") are
/// well under this; the bound stops a long paragraph that happens to start
/// with "On" and end with "wrote:" from being taken for one.
const MAX_HEADER_CHARS: usize = 300;

/// Gmail and Apple Mail wrap a long "On … wrote:" header over two lines,
/// sometimes three when the display name is long.
const MAX_HEADER_LINES: usize = 3;

/// How many lines below `From:` we look for the `Sent:`/`To:` lines of an
/// Outlook header block.
const OUTLOOK_WINDOW: usize = 4;

/// Outlook's plain-text rule above the header block is 32 underscores; a
/// shorter run of underscores is more likely a form blank ("Name: ____").
const MIN_UNDERSCORE_RULE: usize = 20;

/// How the history below a quote header is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    /// "On … wrote:" and its translations: the history below is `>`-quoted
    /// by the client, so unquoted lines typed among it are inline answers.
    Wrote,
    /// Separators and Outlook header blocks: Outlook copies the history below
    /// them unquoted, so nothing below can be told apart from the history.
    Block,
    /// A forwarded message: what follows is something the person chose to
    /// send, kept verbatim.
    Forward,
}

/// Walks the lines above `end` looking for quote headers. Everything from
/// a header down to `end` is history, except below a [`Header::Wrote`]
/// header whose next non-blank line is `>`-quoted: there the quoted lines
/// and the header are dropped and unquoted lines are kept as inline answers.
///
/// Returns the first line of a forwarded message met before any other
/// header: the later passes must not look below it.
pub(super) fn cut_at_quote_headers(lines: &Lines, fate: &mut [Fate], end: usize) -> Option<usize> {
    let mut in_quoted_history = false;
    let mut i = 0;
    while i < end {
        if lines.is_plain(i) {
            if let Some((kind, len)) = quote_header_at(lines, i, end) {
                let after = i + len;
                let next = lines.next_nonblank[after];
                match kind {
                    // An Outlook block is only a forward when our marker is
                    // not below it: a reply to our notification quotes our
                    // notification there, whatever its subject says.
                    Header::Forward if len == 1 || end == lines.len() => return Some(i),
                    Header::Forward => {
                        mark(fate, i, end);
                        return None;
                    }
                    Header::Wrote if next < end && lines.quoted[next] => {
                        mark(fate, i, after);
                        in_quoted_history = true;
                        i = after;
                        continue;
                    }
                    Header::Wrote | Header::Block => {
                        mark(fate, i, end);
                        return None;
                    }
                }
            }
        } else if in_quoted_history && lines.quoted[i] {
            fate[i] = Fate::Drop;
        }
        i += 1;
    }
    None
}

/// If a quote header starts at line `i` (which is plain), its kind and
/// length in lines.
fn quote_header_at(lines: &Lines, i: usize, end: usize) -> Option<(Header, usize)> {
    let line = lines.text[i];
    if is_forward_separator(line) {
        return Some((Header::Forward, 1));
    }
    if is_separator(line) || is_underscore_rule(line) {
        // Outlook draws the rule above its `From:` block; on its own it is
        // just a line someone drew, so require the block below it. The
        // "Original Message" separator needs no block, but when one follows
        // its subject tells a forward from a reply.
        let next = lines.next_nonblank[i + 1];
        let block = (next < end && !lines.quoted[next])
            .then(|| outlook_block_at(lines, next, end).map(|len| (next, len)))
            .flatten();
        if let Some((start, len)) = block {
            let kind = if block_is_forward(&lines.text[start..start + len]) {
                Header::Forward
            } else {
                Header::Block
            };
            // Length of the header: the rule or separator, up to the block.
            return Some((kind, start + len - i));
        }
        let rule_above_from = is_underscore_rule(line)
            && next < end
            && !lines.quoted[next]
            && field_kind(lines.text[next]) == Some(Field::From);
        return (is_separator(line) || rule_above_from).then_some((Header::Block, 1));
    }
    if let Some(len) = outlook_block_at(lines, i, end) {
        let kind = if block_is_forward(&lines.text[i..i + len]) {
            Header::Forward
        } else {
            Header::Block
        };
        return Some((kind, len));
    }
    wrote_header_at(lines, i, end).map(|len| (Header::Wrote, len))
}

/// A quote header (separator or "On … wrote:", possibly wrapped) whose last
/// line is `last`; returns its first line. Directly above our marker the
/// marker itself is the evidence, so the date and follow-up checks of
/// [`wrote_header_at`] are not required here.
pub(super) fn header_ending_at(lines: &Lines, last: usize) -> Option<usize> {
    if !lines.is_plain(last) {
        return None;
    }
    if is_separator(lines.text[last]) {
        return Some(last);
    }
    for n in 1..=MAX_HEADER_LINES.min(last + 1) {
        let first = last + 1 - n;
        if !lines.is_plain(first) {
            break;
        }
        let Some(joined) = join_header_lines(&lines.text[first..=last]) else {
            break;
        };
        if is_wrote_header(&joined) {
            return Some(first);
        }
    }
    None
}

fn is_underscore_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= MIN_UNDERSCORE_RULE && t.bytes().all(|b| b == b'_')
}

/// An Outlook header block: a `From:` line followed within
/// [`OUTLOOK_WINDOW`] lines by a date line (`Sent:`/`Date:`…) and a
/// recipient line (`To:`/`Subject:`…). Returns the block length, including
/// any further field lines directly below (Cc, Subject…).
fn outlook_block_at(lines: &Lines, i: usize, end: usize) -> Option<usize> {
    if field_kind(lines.text[i]) != Some(Field::From) {
        return None;
    }
    let mut date = None;
    let mut recipient = None;
    let window_end = end.min(i + 1 + OUTLOOK_WINDOW);
    for j in i + 1..window_end {
        if lines.quoted[j] {
            break;
        }
        match field_kind(lines.text[j]) {
            Some(Field::Date) => date = date.or(Some(j)),
            Some(Field::Recipient) => recipient = recipient.or(Some(j)),
            _ => {}
        }
    }
    let mut last = date?.max(recipient?);
    while last + 1 < end && !lines.quoted[last + 1] && field_kind(lines.text[last + 1]).is_some() {
        last += 1;
    }
    Some(last - i + 1)
}

/// An "On … wrote:" header (or its French/German/Spanish form) starting at
/// line `i`, possibly wrapped over up to [`MAX_HEADER_LINES`] lines.
///
/// Being wrong here loses words the person wrote, so beyond the shape we
/// require what every client-generated header has: a digit (date or time),
/// and either quoted lines right below it (or nothing at all below it) or an
/// email address inside it. "On Monday Bob wrote:" followed by the person's
/// own paragraph is therefore kept.
fn wrote_header_at(lines: &Lines, i: usize, end: usize) -> Option<usize> {
    let first_word = lines.text[i].split_whitespace().next()?;
    if !matches!(first_word, "On" | "Le" | "Am" | "El") {
        return None;
    }
    for n in 1..=MAX_HEADER_LINES {
        let last = i + n - 1;
        if last >= end || !lines.is_plain(last) {
            return None;
        }
        let joined = join_header_lines(&lines.text[i..=last])?;
        if !is_wrote_header(&joined) {
            continue;
        }
        if !joined.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        let next = lines.next_nonblank[last + 1];
        let followed_by_quote = next >= end || lines.quoted[next];
        return (followed_by_quote || joined.contains('@')).then_some(n);
    }
    None
}

/// Joins wrapped header lines with single spaces, or `None` when the result
/// would exceed [`MAX_HEADER_CHARS`] (checked on bytes first so a huge line
/// is rejected without walking its characters).
fn join_header_lines(parts: &[&str]) -> Option<String> {
    let bytes: usize = parts.iter().map(|p| p.len() + 1).sum();
    if bytes > MAX_HEADER_CHARS * 4 {
        return None;
    }
    let joined = parts.iter().map(|p| p.trim()).collect::<Vec<_>>().join(" ");
    (joined.chars().count() <= MAX_HEADER_CHARS).then_some(joined)
}
