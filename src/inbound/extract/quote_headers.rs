//! Quote headers mail clients write above the history they copy: "On … wrote:" and its
//! translations (wrapped over up to three lines), "-----Original Message-----" style separators,
//! Outlook header blocks (`From:` / `Sent:` / `To:` …, with the underscore rule Outlook draws
//! above them), and forwarded messages. This file decides where a header stands, how far it
//! reaches and what goes with it; the words of each language are in [`super::languages`].

use super::languages::{
    Attribution, Field, attribution, block_is_forward, field_kind, field_label,
    is_forward_separator, is_separator,
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
    // An anchored pattern ("On … wrote:") over the wrapped lines wins over an unanchored
    // one ("… wrote:") matching only the last of them.
    let mut unanchored = None;
    for n in 1..=MAX_HEADER_LINES.min(last + 1) {
        let first = last + 1 - n;
        if !lines.is_plain(first) {
            break;
        }
        let Some(joined) = join_header_lines(&lines.text[first..=last]) else {
            break;
        };
        match attribution(&joined) {
            Some(Attribution::Anchored) => return Some(first),
            Some(Attribution::Unanchored) if first == 0 || lines.blank[first - 1] => {
                unanchored = unanchored.or(Some(first));
            }
            _ => {}
        }
    }
    unanchored
}

fn is_underscore_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= MIN_UNDERSCORE_RULE && t.bytes().all(|b| b == b'_')
}

/// An Outlook header block: a `From:` line followed within
/// [`OUTLOOK_WINDOW`] lines by a date line (`Sent:`/`Date:`…) and a
/// recipient line (`To:`/`Subject:`…); or the date line first, the `From:` line within the
/// window below it (GMX and Web.de write `Gesendet:` above `Von:`). Returns the block
/// length, including any further field lines directly below (Cc, Subject…).
fn outlook_block_at(lines: &Lines, i: usize, end: usize) -> Option<usize> {
    let first = field_kind(lines.text[i]);
    if !matches!(first, Some(Field::From | Field::Date)) {
        return None;
    }
    let mut from = (first == Some(Field::From)).then_some(i);
    let mut date = (first == Some(Field::Date)).then_some(i);
    let mut recipient = None;
    let window_end = end.min(i + 1 + OUTLOOK_WINDOW);
    for j in i + 1..window_end {
        if lines.quoted[j] {
            break;
        }
        match field_kind(lines.text[j]) {
            Some(Field::From) => from = from.or(Some(j)),
            Some(Field::Date) => date = date.or(Some(j)),
            Some(Field::Recipient) => recipient = recipient.or(Some(j)),
            _ => {}
        }
    }
    let mut last = from?.max(date?).max(recipient?);
    while last + 1 < end && !lines.quoted[last + 1] && field_kind(lines.text[last + 1]).is_some() {
        last += 1;
    }
    Some(last - i + 1)
}

/// An attribution line ("On … wrote:", in any of our languages or none) starting at line
/// `i`, possibly wrapped over up to [`MAX_HEADER_LINES`] lines.
///
/// Being wrong here loses words the person wrote, so beyond the shape we require what every
/// client-generated attribution has: it ends with a colon, holds a digit (a date or a time),
/// and either quoted lines come right below it (or nothing at all) or an email address is
/// inside it. "On Monday Bob wrote:" followed by the person's own paragraph is therefore kept.
/// A pattern that fixes only the end ("… napisał(a):") must start a paragraph, and a wrapped
/// line never ends a sentence. Without any known words, the same evidence — a paragraph's
/// first line, ending with a colon, with a date or time *and* an address, above quoted lines —
/// makes it an attribution in a language we have no words for.
fn wrote_header_at(lines: &Lines, i: usize, end: usize) -> Option<usize> {
    let starts_paragraph = i == 0 || lines.blank[i - 1] || lines.quoted[i - 1];
    for n in 1..=MAX_HEADER_LINES {
        let last = i + n - 1;
        if last >= end || !lines.is_plain(last) {
            return None;
        }
        if n > 1 && lines.text[last - 1].trim_end().ends_with(['.', '!', '?']) {
            return None;
        }
        // Only a line ending with a colon can close one: others are never joined.
        if !lines.text[last].trim_end().ends_with(':') {
            continue;
        }
        let joined = join_header_lines(&lines.text[i..=last])?;
        if !joined.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        let next = lines.next_nonblank[last + 1];
        let followed_by_quote = next >= end || lines.quoted[next];
        let has_address = joined.contains('@');
        return match attribution(&joined) {
            Some(Attribution::Anchored) => (followed_by_quote || has_address).then_some(n),
            Some(Attribution::Unanchored) => {
                (starts_paragraph && (followed_by_quote || has_address)).then_some(n)
            }
            // Any language: the structure alone, with both a date or time and an address.
            None => (starts_paragraph && n <= 2 && followed_by_quote && has_address).then_some(n),
        };
    }
    None
}

/// After the text we sent was found quoted (by diff, whatever the language): the line right
/// above it that ends with a colon and names a date, a time or an address is its attribution,
/// and a short block of `Label: value` lines right above it is its header block — both
/// whatever their words. Returns how many lines above `quote` (the first dropped line of our
/// text) belong to it, or 0.
pub(super) fn header_above_sent_quote(lines: &Lines, quote: usize) -> usize {
    let Some(above) = (0..quote).rev().find(|&j| !lines.blank[j]) else {
        return 0;
    };
    if !lines.is_plain(above) {
        return 0;
    }
    // A block of `Label: value` lines (Outlook's, in any language), with the rule above it.
    let mut top = above + 1;
    while top > 0 && lines.is_plain(top - 1) && is_label_line(lines.text[top - 1]) {
        top -= 1;
    }
    let block = above + 1 - top;
    if block >= 2 {
        let rule = (0..top)
            .rev()
            .find(|&j| !lines.blank[j])
            .filter(|&j| is_underscore_rule(lines.text[j]) || is_separator(lines.text[j]));
        return quote - rule.unwrap_or(top);
    }
    // An attribution: one line, or two when the client wrapped it.
    let line = lines.text[above].trim_end();
    let names_someone = |s: &str| s.bytes().any(|b| b.is_ascii_digit() || b == b'@');
    if line.ends_with(':') && line.chars().count() <= MAX_HEADER_CHARS {
        let first = match above.checked_sub(1) {
            Some(prev)
                if lines.is_plain(prev)
                    && !lines.text[prev].trim_end().ends_with(['.', '!', '?', ':'])
                    && (prev == 0 || lines.blank[prev - 1])
                    && names_someone(lines.text[prev]) =>
            {
                prev
            }
            _ => above,
        };
        if names_someone(line) || first < above {
            return quote - first;
        }
    }
    0
}

/// `Label: value`: a short label of letters (one to three words) before the colon, and a value.
fn is_label_line(line: &str) -> bool {
    let Some(label) = field_label(line) else {
        return false;
    };
    let value = line.split_once(':').map_or("", |(_, v)| v.trim());
    !value.is_empty()
        && label.split(' ').count() <= 3
        && label
            .chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '.')
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
