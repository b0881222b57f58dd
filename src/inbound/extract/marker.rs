//! Our own reply marker, the strongest evidence there is: by contract everything below it is
//! history, and a quote header just above it goes with it. When the client `>`-quoted it, the
//! person's unquoted lines below it are inline or bottom-posted answers.

use super::quote_headers::header_ending_at;
use super::{Fate, Lines, has_marker, mark, unquoted_content};

/// Drops everything from the first line containing
/// [`REPLY_MARKER`](super::REPLY_MARKER) (clients may have quoted it as
/// `> ##- … -##`), plus the quote header just above it.
/// Returns the index where the remaining passes must stop looking.
///
/// When the marker is not quoted (Outlook copies the history unquoted),
/// everything below it goes: the notification asks people to reply above
/// it, so below it is by contract history.
///
/// When the marker is `>`-quoted, the client quoted our notification, and
/// unquoted lines below it were typed by the person: inline answers between
/// our quoted lines, or a bottom-posted answer. They are kept, the quoted
/// lines dropped; the passes below then run over the whole text (so a
/// signature after the answers still goes). One exception keeps the old
/// contract where it protects top-posters: when the person wrote above the
/// marker and nothing unquoted sits *between* quoted lines below it,
/// unquoted text after the quote is a server disclaimer or a mailing-list
/// footer, not an answer, and goes.
pub(super) fn cut_at_marker(lines: &Lines, fate: &mut [Fate]) -> usize {
    let Some(marker) = lines.text.iter().position(|l| has_marker(l)) else {
        return lines.len();
    };
    let quoted_marker = lines.quoted[marker];

    // Clients put blank lines or empty quote lines (">") between their quote
    // header and the quoted marker; look past those. Quoted lines directly
    // above a quoted marker belong to the same quote (Apple Mail quotes its
    // own "On … wrote:" line).
    let mut above = marker;
    while above > 0
        && (unquoted_content(lines.text[above - 1]).is_empty()
            || (quoted_marker && lines.quoted[above - 1]))
    {
        above -= 1;
    }
    let start = match above
        .checked_sub(1)
        .and_then(|last| header_ending_at(lines, last))
    {
        Some(start) => start,
        None if quoted_marker => above,
        None => marker,
    };
    mark(fate, start, marker);
    if !quoted_marker {
        mark(fate, marker, lines.len());
        return start;
    }

    fate[marker] = Fate::Drop;
    let mut answers = Vec::new();
    let mut interleaved = false;
    for (j, f) in fate.iter_mut().enumerate().skip(marker + 1) {
        if lines.quoted[j] {
            *f = Fate::Drop;
            interleaved |= !answers.is_empty();
        } else if !lines.blank[j] {
            answers.push(j);
        }
    }
    let wrote_above = (0..start).any(|j| lines.is_plain(j));
    if answers.is_empty() || (wrote_above && !interleaved) {
        mark(fate, marker, lines.len());
        return start;
    }
    lines.len()
}
