//! Signatures: the RFC 3676 §4.3 delimiter `"-- "` (or a bare `--` whose space an editor
//! stripped) and the one-line footers of mobile clients ("Sent from my iPhone"…, listed in
//! [`super::languages`]), removed only when nothing new follows them.

use super::languages::is_mobile_footer;
use super::{Fate, Lines, mark};

/// A bare `--` (the trailing space of the RFC 3676 delimiter stripped by some
/// editor) is weaker evidence than `-- `, so it only counts when at most this
/// many non-blank lines follow it. Six covers the usual name / title /
/// company / phone / address / website signature.
const LOOSE_SIGNATURE_MAX_LINES: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signature {
    /// RFC 3676 §4.3: the signature separator is a line of exactly
    /// dash-dash-space, and everything below it is the signature.
    Delimiter,
    /// `--` alone: the same delimiter with its space stripped by an editor.
    LooseDelimiter,
    /// A one-line mobile client footer.
    Footer,
}

fn signature_kind(line: &str) -> Option<Signature> {
    if line == "-- " {
        Some(Signature::Delimiter)
    } else if line.trim() == "--" {
        Some(Signature::LooseDelimiter)
    } else if is_mobile_footer(line) {
        Some(Signature::Footer)
    } else {
        None
    }
}

/// Drops the signature: from the first signature line above `end` such
/// that, after the signature block, no new (kept, unquoted, non-blank) text
/// follows, down to `end`. The block after a delimiter runs until the next
/// removed or quoted line; a footer is a single line. So a signature placed
/// above the quote header is removed, but one followed by inline answers is
/// kept rather than losing those answers.
pub(super) fn cut_signature(lines: &Lines, fate: &mut [Fate], end: usize) {
    let end = end.min(lines.len());
    let new_text = |j: usize| fate[j] == Fate::Keep && lines.is_plain(j);
    // new_text_from[j]: is there new text at index >= j (and < end)?
    let mut new_text_from = vec![false; end + 1];
    // run_end[j]: first index >= j that is removed or quoted (or `end`).
    let mut run_end = vec![end; end + 1];
    // nonblank_before[j]: number of non-blank lines before j.
    let mut nonblank_before = vec![0usize; end + 1];
    for j in (0..end).rev() {
        new_text_from[j] = new_text_from[j + 1] || new_text(j);
        run_end[j] = if fate[j] == Fate::Keep && !lines.quoted[j] {
            run_end[j + 1]
        } else {
            j
        };
    }
    for j in 0..end {
        nonblank_before[j + 1] = nonblank_before[j] + usize::from(!lines.blank[j]);
    }

    for i in 0..end {
        if !new_text(i) {
            continue;
        }
        let Some(kind) = signature_kind(lines.text[i]) else {
            continue;
        };
        let block_end = match kind {
            Signature::Footer => i + 1,
            Signature::Delimiter | Signature::LooseDelimiter => run_end[i + 1],
        };
        if new_text_from[block_end] {
            continue;
        }
        let block_lines = nonblank_before[block_end] - nonblank_before[i + 1];
        if kind == Signature::LooseDelimiter && block_lines > LOOSE_SIGNATURE_MAX_LINES {
            continue;
        }
        mark(fate, i, end);
        return;
    }
}
