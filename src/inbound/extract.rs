//! Separating what a person newly wrote in a plain-text email reply from the
//! quoted history and signature their mail client appended.
//!
//! [`extract_reply`] is a pure function: no I/O, no async, no regular
//! expressions, no dependencies; its time and memory are linear in the input
//! size (a few per-line vectors besides the output).
//! It works line by line, in order of how strong the evidence is:
//!
//! 1. Our own [`REPLY_MARKER`] (quoted or not): everything from it down is
//!    history, plus a quote header ("On … wrote:") sitting just above it.
//! 2. Quote headers written by mail clients: "On … wrote:" and its French,
//!    German and Spanish forms (also when wrapped over two or three lines),
//!    "-----Original Message-----" style separators, and Outlook header
//!    blocks (`From:` / `Sent:` / `To:` …, in English, French and German).
//!    Everything from the header down is history, *except* inline answers:
//!    below an "On … wrote:" header the history is `>`-quoted, and unquoted
//!    lines the person typed between the quoted ones are kept (see below).
//!    Below a separator or Outlook block the history is not quoted at all,
//!    so everything goes.
//! 3. Signatures: the RFC 3676 §4.3 delimiter `"-- "` and mobile footers
//!    ("Sent from my iPhone", "Envoyé de mon iPhone", "Get Outlook for iOS"…),
//!    only when nothing new follows them.
//! 4. A run of `>`-quoted lines at the very end of the message.
//!
//! Inline (interleaved) answers: below an "On … wrote:" header followed by
//! `>`-quoted history, the quoted lines and the header are removed and the
//! person's unquoted lines are kept. Where a removed quote separated two kept
//! paragraphs, the kept text gets exactly one blank line between them so
//! that consecutive answers stay readable. Quoted lines that are *not* below
//! a quote header and not at the end (a person quoting one sentence to
//! answer it, with no header) are kept as written.
//!
//! Not done yet (a later version will): HTML quote containers
//! (`<blockquote>`, `gmail_quote`, `divRplyFwdMsg`…), languages other than
//! English/French/German/Spanish, forwarded-message blocks, and clients that
//! re-wrap quoted lines without repeating the `>` prefix (such continuation
//! lines look like new text and are kept: we prefer keeping history to
//! losing words the person wrote).

/// The marker line every notification email carries; everything from it down is quoted history.
pub const REPLY_MARKER: &str = "##- Reply above this line -##";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// What the person wrote, trimmed of surrounding blank lines. Empty when the reply was only quote/signature.
    pub kept: String,
    /// The part removed (quote header, quoted lines, signature), verbatim, or None when nothing was removed.
    pub trimmed: Option<String>,
}

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

/// A bare `--` (the trailing space of the RFC 3676 delimiter stripped by some
/// editor) is weaker evidence than `-- `, so it only counts when at most this
/// many non-blank lines follow it. Six covers the usual name / title /
/// company / phone / address / website signature.
const LOOSE_SIGNATURE_MAX_LINES: usize = 6;

/// Mobile footers are short; a long line that merely starts with
/// "Sent from my iPhone" is a sentence, not a footer.
const MAX_FOOTER_CHARS: usize = 100;

/// Outlook's plain-text rule above the header block is 32 underscores; a
/// shorter run of underscores is more likely a form blank ("Name: ____").
const MIN_UNDERSCORE_RULE: usize = 20;

/// Header field labels are short ("Gesendet", "Envoyé"); bounding how far we
/// look for the colon keeps the check constant-time on very long lines.
const MAX_LABEL_CHARS: usize = 24;

/// Separates the new text of a plain-text reply from quoted history and
/// signature. Never panics; see the module documentation for the rules.
#[must_use]
pub fn extract_reply(text: &str) -> Extracted {
    let normalized = normalize_newlines(text);
    let lines = Lines::new(&normalized);
    let mut fate = vec![Fate::Keep; lines.len()];

    let end = cut_at_marker(&lines, &mut fate);
    cut_at_quote_headers(&lines, &mut fate, end);
    cut_signature(&lines, &mut fate);
    cut_trailing_quotes(&lines, &mut fate);
    absorb_blank_lines(&lines, &mut fate);
    assemble(&lines, &fate)
}

/// What happens to one input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Keep,
    Drop,
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
// 1. Our reply marker
// ---------------------------------------------------------------------------

/// Drops everything from the first line containing [`REPLY_MARKER`] (clients
/// may have quoted it as `> ##- … -##`), plus the quote header just above it.
/// Returns the index where the remaining passes must stop looking.
///
/// Everything below the marker goes, even unquoted text: the notification
/// asks people to reply above it, so below it is by contract history.
fn cut_at_marker(lines: &Lines, fate: &mut [Fate]) -> usize {
    let Some(marker) = lines.text.iter().position(|l| l.contains(REPLY_MARKER)) else {
        return lines.len();
    };
    mark(fate, marker, lines.len());

    // Clients put blank lines or empty quote lines (">") between their quote
    // header and the quoted marker; look past those.
    let mut above = marker;
    while above > 0 && unquoted_content(lines.text[above - 1]).is_empty() {
        above -= 1;
    }
    if above == 0 {
        return marker;
    }
    match header_ending_at(lines, above - 1) {
        Some(start) => {
            mark(fate, start, marker);
            start
        }
        None => marker,
    }
}

/// A quote header (separator or "On … wrote:", possibly wrapped) whose last
/// line is `last`; returns its first line. Directly above our marker the
/// marker itself is the evidence, so the date and follow-up checks of
/// [`wrote_header_at`] are not required here.
fn header_ending_at(lines: &Lines, last: usize) -> Option<usize> {
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

// ---------------------------------------------------------------------------
// 2. Quote headers written by mail clients
// ---------------------------------------------------------------------------

/// How the history below a quote header is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    /// "On … wrote:" and its translations: the history below is `>`-quoted
    /// by the client, so unquoted lines typed among it are inline answers.
    Wrote,
    /// Separators and Outlook header blocks: Outlook copies the history below
    /// them unquoted, so nothing below can be told apart from the history.
    Block,
}

/// Walks the lines above `end` looking for quote headers. Everything from
/// a header down to `end` is history, except below a [`Header::Wrote`]
/// header whose next non-blank line is `>`-quoted: there the quoted lines
/// and the header are dropped and unquoted lines are kept as inline answers.
fn cut_at_quote_headers(lines: &Lines, fate: &mut [Fate], end: usize) {
    let mut in_quoted_history = false;
    let mut i = 0;
    while i < end {
        if lines.is_plain(i) {
            if let Some((kind, len)) = quote_header_at(lines, i, end) {
                let after = i + len;
                let next = lines.next_nonblank[after];
                if kind == Header::Wrote && next < end && lines.quoted[next] {
                    mark(fate, i, after);
                    in_quoted_history = true;
                    i = after;
                    continue;
                }
                mark(fate, i, end);
                return;
            }
        } else if in_quoted_history && lines.quoted[i] {
            fate[i] = Fate::Drop;
        }
        i += 1;
    }
}

/// If a quote header starts at line `i` (which is plain), its kind and
/// length in lines.
fn quote_header_at(lines: &Lines, i: usize, end: usize) -> Option<(Header, usize)> {
    let line = lines.text[i];
    if is_separator(line) {
        return Some((Header::Block, 1));
    }
    if is_underscore_rule(line) {
        // Outlook draws this rule above its `From:` block; on its own it is
        // just a line someone drew, so require the block below it.
        let next = lines.next_nonblank[i + 1];
        let is_rule =
            next < end && !lines.quoted[next] && field_kind(lines.text[next]) == Some(Field::From);
        return is_rule.then_some((Header::Block, 1));
    }
    if let Some(len) = outlook_block_at(lines, i, end) {
        return Some((Header::Block, len));
    }
    wrote_header_at(lines, i, end).map(|len| (Header::Wrote, len))
}

/// "-----Original Message-----" and its translations (Outlook, Lotus, older
/// clients). The dashes must surround the words: a line like "--- original
/// message follows" written by a person is not a separator.
fn is_separator(line: &str) -> bool {
    let t = line.trim();
    if t.len() > 80 || !t.starts_with("---") || !t.ends_with("---") {
        return false;
    }
    let inner = t.trim_matches('-').trim().to_lowercase();
    matches!(
        inner.as_str(),
        "original message"
            | "message d'origine"
            | "message d\u{2019}origine"
            | "ursprüngliche nachricht"
            | "mensaje original"
    )
}

fn is_underscore_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= MIN_UNDERSCORE_RULE && t.bytes().all(|b| b == b'_')
}

/// The role of an Outlook header field line such as `Sent: Monday…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    Date,
    Recipient,
    Other,
}

/// Classifies `Label: value` lines of an Outlook header block. Outlook
/// writes "De :" with a (sometimes non-breaking) space before the colon in
/// French, and HTML-to-text conversion turns bold labels into `*From:*`;
/// both are accepted.
fn field_kind(line: &str) -> Option<Field> {
    let s = line.trim_start().trim_start_matches('*');
    let (colon, _) = s
        .char_indices()
        .take(MAX_LABEL_CHARS)
        .find(|&(_, c)| c == ':')?;
    let label = s[..colon].trim().to_lowercase();
    let kind = match label.as_str() {
        "from" | "de" | "von" => Field::From,
        "sent" | "date" | "envoyé" | "gesendet" | "datum" | "enviado" | "enviado el" | "fecha" => {
            Field::Date
        }
        "to" | "subject" | "à" | "a" | "objet" | "an" | "betreff" | "para" | "asunto" => {
            Field::Recipient
        }
        "cc" | "bcc" | "cci" | "kopie" | "importance" | "wichtigkeit" => Field::Other,
        _ => return None,
    };
    Some(kind)
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

/// The shape of a localized "X wrote:" header: it starts with the
/// language's opening word and ends with its verb and a colon. A sentence
/// that merely contains "wrote:" in the middle, or ends with a colon after
/// some other word ("Here are the numbers:"), does not match.
fn is_wrote_header(text: &str) -> bool {
    let t = text.trim();
    let Some(first_word) = t.split_whitespace().next() else {
        return false;
    };
    // French typography puts a (often non-breaking, U+00A0 or U+202F) space
    // before the colon; `trim_end` removes all of those.
    let Some(body) = t.strip_suffix(':').map(str::trim_end) else {
        return false;
    };
    match first_word {
        "On" => ends_with_word(body, "wrote"),
        "Le" => ["écrit", "ecrit"].iter().any(|verb| {
            body.strip_suffix(verb)
                .is_some_and(|rest| ends_with_word(rest.trim_end(), "a"))
        }),
        "El" => ends_with_word(body, "escribió") || ends_with_word(body, "escribio"),
        // "Am 01.01.2024 um 10:00 schrieb Alice <a@b.de>:": the verb comes
        // before the name.
        "Am" => body.split_whitespace().skip(1).any(|w| w == "schrieb"),
        _ => false,
    }
}

/// `s` ends with `word` preceded by whitespace (so "rewrote" is not "wrote").
fn ends_with_word(s: &str, word: &str) -> bool {
    s.strip_suffix(word)
        .is_some_and(|rest| rest.ends_with(char::is_whitespace))
}

// ---------------------------------------------------------------------------
// 3. Signatures
// ---------------------------------------------------------------------------

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

/// Footers mobile clients append. Matched case-insensitively as a prefix of
/// the line, as long as the prefix ends at a word boundary ("Sent from my
/// iPhone 15", "Get Outlook for iOS<https://aka.ms/…>"). Entries ending with
/// a space accept any device name after them.
const MOBILE_FOOTERS: &[&str] = &[
    "sent from my iphone",
    "sent from my ipad",
    "sent from my android",
    "sent from my samsung",
    "sent from mail for windows",
    "sent from outlook",
    "sent from yahoo mail",
    "envoyé de mon iphone",
    "envoyé de mon ipad",
    "envoyé depuis mon ",
    "von meinem iphone gesendet",
    "von meinem ipad gesendet",
    "enviado desde mi iphone",
    "enviado desde mi ipad",
    "get outlook for ios",
    "get outlook for android",
    "obtenir outlook pour ios",
    "obtenir outlook pour android",
];

fn is_mobile_footer(line: &str) -> bool {
    let t = line.trim();
    if t.is_empty() || t.len() > MAX_FOOTER_CHARS {
        return false;
    }
    let lower = t.to_lowercase();
    MOBILE_FOOTERS.iter().any(|footer| {
        lower.strip_prefix(footer).is_some_and(|rest| {
            footer.ends_with(' ') || !rest.starts_with(|c: char| c.is_alphanumeric())
        })
    })
}

/// Drops the signature: from the first signature line such that, after the
/// signature block, no new (kept, unquoted, non-blank) text follows, down to
/// the end. The block after a delimiter runs until the next removed or
/// quoted line; a footer is a single line. So a signature placed above the
/// quote header is removed, but one followed by inline answers is kept
/// rather than losing those answers.
fn cut_signature(lines: &Lines, fate: &mut [Fate]) {
    let n = lines.len();
    let new_text = |j: usize| fate[j] == Fate::Keep && lines.is_plain(j);
    // new_text_from[j]: is there new text at index >= j?
    let mut new_text_from = vec![false; n + 1];
    // run_end[j]: first index >= j that is removed or quoted.
    let mut run_end = vec![n; n + 1];
    // nonblank_before[j]: number of non-blank lines before j.
    let mut nonblank_before = vec![0usize; n + 1];
    for j in (0..n).rev() {
        new_text_from[j] = new_text_from[j + 1] || new_text(j);
        run_end[j] = if fate[j] == Fate::Keep && !lines.quoted[j] {
            run_end[j + 1]
        } else {
            j
        };
    }
    for j in 0..n {
        nonblank_before[j + 1] = nonblank_before[j] + usize::from(!lines.blank[j]);
    }

    for i in 0..n {
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
        mark(fate, i, n);
        return;
    }
}

// ---------------------------------------------------------------------------
// 4. Trailing quote
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
    let mut kept: Vec<&str> = Vec::new();
    let mut trimmed: Vec<&str> = Vec::new();
    // Set once something was removed after the last kept non-blank line:
    // the kept text on either side is then separated by exactly one blank
    // line (inline answers would otherwise run together or be separated by
    // the blank lines that used to surround the quote).
    let mut seam = false;
    for (j, &line) in lines.text.iter().enumerate() {
        match fate[j] {
            Fate::Drop => {
                trimmed.push(line);
                seam = true;
            }
            Fate::Keep if !seam => kept.push(line),
            Fate::Keep => {
                let last_is_text = kept.last().is_some_and(|l| !is_blank(l));
                if lines.blank[j] {
                    if last_is_text {
                        kept.push(line);
                    }
                } else {
                    if last_is_text {
                        kept.push("");
                    }
                    kept.push(line);
                    seam = false;
                }
            }
        }
    }
    let kept = join_without_blank_edges(&kept).unwrap_or_default();
    let trimmed = join_without_blank_edges(&trimmed);
    Extracted { kept, trimmed }
}

/// Joins lines with "\n" after dropping leading and trailing blank lines;
/// `None` when nothing but blank lines remains.
fn join_without_blank_edges(lines: &[&str]) -> Option<String> {
    let first = lines.iter().position(|l| !is_blank(l))?;
    let last = lines.iter().rposition(|l| !is_blank(l))?;
    Some(lines[first..=last].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(text: &str) -> String {
        extract_reply(text).kept
    }

    // --- plain replies ------------------------------------------------------

    #[test]
    fn plain_reply_without_history_is_untouched() {
        let text = "Hi Alice,\n\nSounds good to me.\n\nBob";
        let got = extract_reply(text);
        assert_eq!(got.kept, text);
        assert_eq!(got.trimmed, None);
    }

    #[test]
    fn surrounding_blank_lines_are_trimmed_but_trailing_spaces_kept() {
        let got = extract_reply("\n\n  \nFirst line  \nSecond line\t\n\n\n");
        assert_eq!(got.kept, "First line  \nSecond line\t");
        assert_eq!(got.trimmed, None);
    }

    #[test]
    fn empty_input_gives_empty_kept_and_nothing_trimmed() {
        let got = extract_reply("");
        assert_eq!(got.kept, "");
        assert_eq!(got.trimmed, None);
    }

    #[test]
    fn whitespace_only_input_gives_empty_kept_and_nothing_trimmed() {
        let got = extract_reply(" \n\t\r\n\u{a0}\r");
        assert_eq!(got.kept, "");
        assert_eq!(got.trimmed, None);
    }

    #[test]
    fn crlf_input_is_normalised_before_extraction() {
        let text = "Thanks!\r\n\r\nOn Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\r\n> Can you come?\r\n";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Thanks!");
        assert_eq!(
            got.trimmed.as_deref(),
            Some(
                "On Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n> Can you come?"
            )
        );
        assert!(!got.kept.contains('\r'));
    }

    #[test]
    fn lone_cr_line_endings_are_normalised_too() {
        let got = extract_reply("Yes.\rSecond line.\r\r> old quote\r");
        assert_eq!(got.kept, "Yes.\nSecond line.");
        assert_eq!(got.trimmed.as_deref(), Some("> old quote"));
    }

    #[test]
    fn unicode_text_is_preserved_exactly() {
        let text = "Ça marche 👍 — 日本語もOK.\nZeile mit Ümlaut.";
        assert_eq!(kept(text), text);
    }

    // --- our marker -----------------------------------------------------------

    #[test]
    fn reply_marker_trims_everything_below_it() {
        let text = "I'll be there.\n\n##- Reply above this line -##\nAlice commented on \"Launch\":\nSee you Friday.";
        let got = extract_reply(text);
        assert_eq!(got.kept, "I'll be there.");
        assert_eq!(
            got.trimmed.as_deref(),
            Some("##- Reply above this line -##\nAlice commented on \"Launch\":\nSee you Friday.")
        );
    }

    #[test]
    fn quoted_reply_marker_and_the_header_above_it_are_trimmed() {
        let text = "I'll be there.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Threadgate <\nnotify@threadgate.example> wrote:\n\n> ##- Reply above this line -##\n> Alice commented:\n> See you Friday.\n";
        let got = extract_reply(text);
        assert_eq!(got.kept, "I'll be there.");
        let trimmed = got.trimmed.unwrap();
        assert!(trimmed.starts_with("On Mon, Jan 1, 2024 at 10:00 AM Threadgate <"));
        assert!(trimmed.ends_with("> See you Friday."));
    }

    #[test]
    fn nested_quoted_reply_marker_is_found() {
        let text = "Agreed.\n>> ##- Reply above this line -##\n>> old";
        assert_eq!(kept(text), "Agreed.");
    }

    #[test]
    fn header_without_date_directly_above_the_marker_is_trimmed() {
        // Without the marker this header would be kept (no digit); the marker
        // is evidence enough that the line above it is the client's header.
        let text = "Works for me.\n\nOn Monday, Threadgate wrote:\n>\n> ##- Reply above this line -##\n> Alice: ok?";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Works for me.");
        assert!(
            got.trimmed
                .unwrap()
                .starts_with("On Monday, Threadgate wrote:")
        );
    }

    #[test]
    fn text_directly_above_the_marker_that_is_not_a_header_is_kept() {
        let text = "Here are the numbers:\n12, 14, 15\n##- Reply above this line -##\nold";
        assert_eq!(kept(text), "Here are the numbers:\n12, 14, 15");
    }

    #[test]
    fn reply_marker_at_the_top_gives_empty_kept() {
        let got = extract_reply("> ##- Reply above this line -##\n> Alice commented.");
        assert_eq!(got.kept, "");
        assert!(got.trimmed.is_some());
    }

    #[test]
    fn unquoted_text_below_the_marker_is_trimmed_too() {
        // By contract everything below the marker is history, even unquoted
        // lines (the notification asked people to reply above).
        let text = "Top.\n> ##- Reply above this line -##\n> Alice: ok?\nBottom answer.";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Top.");
        assert!(got.trimmed.unwrap().ends_with("Bottom answer."));
    }

    // --- localized "wrote:" headers ---------------------------------------

    #[test]
    fn english_on_wrote_header_is_trimmed() {
        let text = "Sounds good.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n\n> Shall we meet?\n> Alice\n";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Sounds good.");
        assert_eq!(
            got.trimmed.as_deref(),
            Some(
                "On Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n\n> Shall we meet?\n> Alice"
            )
        );
    }

    #[test]
    fn thunderbird_header_without_address_followed_by_quote_is_trimmed() {
        let text = "Yes.\n\nOn 1/1/24 10:00, Alice Example wrote:\n> Shall we meet?";
        assert_eq!(kept(text), "Yes.");
    }

    #[test]
    fn french_le_a_ecrit_header_with_nbsp_before_colon_is_trimmed() {
        let text = "D'accord.\n\nLe lun. 1 janv. 2024 à 10:00, Alice <alice@example.com> a écrit\u{a0}:\n> On se voit ?";
        assert_eq!(kept(text), "D'accord.");
    }

    #[test]
    fn french_header_with_plain_space_or_no_space_before_colon_is_trimmed() {
        for header in [
            "Le 1 janv. 2024 à 10:00, Alice <alice@example.com> a écrit :",
            "Le 1 janv. 2024 à 10:00, Alice <alice@example.com> a écrit:",
            "Le 1 janv. 2024 à 10:00, Alice <alice@example.com> a écrit\u{202f}:",
        ] {
            let text = format!("D'accord.\n\n{header}\n> On se voit ?");
            assert_eq!(kept(&text), "D'accord.", "header: {header}");
        }
    }

    #[test]
    fn german_am_schrieb_header_is_trimmed() {
        let text = "Passt.\n\nAm 01.01.2024 um 10:00 schrieb Alice <alice@example.com>:\n> Treffen wir uns?";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Passt.");
        assert!(got.trimmed.unwrap().starts_with("Am 01.01.2024"));
    }

    #[test]
    fn spanish_el_escribio_header_is_trimmed() {
        let text = "Perfecto.\n\nEl lun, 1 ene 2024 a las 10:00, Alice (<alice@example.com>) escribió:\n> ¿Nos vemos?";
        assert_eq!(kept(text), "Perfecto.");
    }

    #[test]
    fn gmail_wrapped_on_wrote_header_is_trimmed() {
        let text = "Sounds good.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Alice Example <\nalice@example.com> wrote:\n\n> Shall we meet?\n";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Sounds good.");
        assert!(got.trimmed.unwrap().starts_with("On Mon, Jan 1, 2024"));
    }

    #[test]
    fn header_wrapped_over_three_lines_is_trimmed() {
        let text = "Sounds good.\n\nOn Mon, Jan 1, 2024 at 10:00 AM\nAlice Example from the Department of Long Names <\nalice@example.com> wrote:\n> Shall we meet?";
        assert_eq!(kept(text), "Sounds good.");
    }

    #[test]
    fn french_header_wrapped_over_two_lines_is_trimmed() {
        let text = "D'accord.\n\nLe lun. 1 janv. 2024 à 10:00, Alice Example <alice@example.com> a\nécrit :\n> On se voit ?";
        assert_eq!(kept(text), "D'accord.");
    }

    #[test]
    fn header_longer_than_the_limit_is_not_a_header() {
        let long_name = "very ".repeat(80);
        let text = format!("On 1 Jan 2024 {long_name}long Alice wrote:\n> quote\nMy answer.");
        let got = extract_reply(&text);
        assert!(got.kept.starts_with("On 1 Jan 2024 very"));
        assert!(got.kept.ends_with("My answer."));
    }

    // --- never lose the person's words ---------------------------------------

    #[test]
    fn text_ending_with_a_colon_is_kept() {
        let text = "Here are the numbers:\n\n12, 14, 15";
        let got = extract_reply(text);
        assert_eq!(got.kept, text);
        assert_eq!(got.trimmed, None);
    }

    #[test]
    fn line_ending_with_colon_followed_by_a_quote_and_more_text_is_kept() {
        let text = "You said:\n> ship on Friday\nI agree.";
        assert_eq!(kept(text), text);
    }

    #[test]
    fn wrote_in_the_middle_of_a_sentence_is_kept() {
        let text = "On reflection, what you wrote: is fine by me.\nThanks for the 2 drafts.";
        let got = extract_reply(text);
        assert_eq!(got.kept, text);
        assert_eq!(got.trimmed, None);
    }

    #[test]
    fn sentence_shaped_like_a_header_without_a_date_is_kept() {
        let text = "On the other hand, as my colleague wrote:\nwe should wait for the audit.";
        assert_eq!(kept(text), text);
    }

    #[test]
    fn dated_sentence_followed_by_own_paragraph_is_not_a_header() {
        // A digit and the right shape, but no quote below and no address: the
        // person is talking, not their mail client.
        let text = "On 3 March the CEO wrote:\n\"We ship in May.\"\nI doubt it.";
        assert_eq!(kept(text), text);
    }

    #[test]
    fn wrapped_paragraph_shaped_like_a_header_is_kept() {
        let text = "On the 2nd day I read what\nthe board wrote:\nnothing useful.";
        assert_eq!(kept(text), text);
    }

    #[test]
    fn rewrote_is_not_wrote() {
        let text = "On 2 May Bob rewrote:\n> text";
        // Not a header, so the trailing quote goes but the line stays.
        assert_eq!(kept(text), "On 2 May Bob rewrote:");
    }

    // --- Outlook and separators ---------------------------------------------

    #[test]
    fn outlook_english_header_block_is_trimmed() {
        let text = "Approved.\n\nFrom: Alice Example <alice@example.com>\nSent: Monday, January 1, 2024 10:00 AM\nTo: Bob <bob@example.com>\nSubject: Budget\n\nPlease approve the budget.\n";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Approved.");
        assert_eq!(
            got.trimmed.as_deref(),
            Some(
                "From: Alice Example <alice@example.com>\nSent: Monday, January 1, 2024 10:00 AM\nTo: Bob <bob@example.com>\nSubject: Budget\n\nPlease approve the budget."
            )
        );
    }

    #[test]
    fn outlook_french_header_block_is_trimmed_with_or_without_space_before_colon() {
        for (de, envoye, a, objet) in [
            ("De :", "Envoyé :", "À :", "Objet :"),
            ("De:", "Envoyé:", "À:", "Objet:"),
            ("De\u{a0}:", "Envoyé\u{a0}:", "À\u{a0}:", "Objet\u{a0}:"),
        ] {
            let text = format!(
                "Validé.\n\n{de} Alice <alice@example.com>\n{envoye} lundi 1 janvier 2024 10:00\n{a} Bob\n{objet} Budget\n\nMerci de valider."
            );
            let got = extract_reply(&text);
            assert_eq!(got.kept, "Validé.", "labels: {de}");
            assert!(got.trimmed.unwrap().ends_with("Merci de valider."));
        }
    }

    #[test]
    fn outlook_german_header_block_is_trimmed() {
        let text = "Freigegeben.\n\nVon: Alice <alice@example.com>\nGesendet: Montag, 1. Januar 2024 10:00\nAn: Bob\nBetreff: Budget\n\nBitte freigeben.";
        assert_eq!(kept(text), "Freigegeben.");
    }

    #[test]
    fn outlook_block_with_bold_labels_converted_to_stars_is_trimmed() {
        let text = "Ok.\n\n*From:* Alice <alice@example.com>\n*Sent:* Monday, January 1, 2024 10:00 AM\n*To:* Bob\n*Subject:* Budget\n\nBody";
        assert_eq!(kept(text), "Ok.");
    }

    #[test]
    fn from_line_without_sent_and_to_lines_is_kept() {
        let text = "From: the team\nWe are happy to announce the release.";
        assert_eq!(kept(text), text);
    }

    #[test]
    fn outlook_underscore_rule_and_header_block_are_trimmed() {
        let text = "Approved.\n\n________________________________\nFrom: Alice <alice@example.com>\nSent: Monday, January 1, 2024 10:00 AM\nTo: Bob\nSubject: Budget\n\nPlease approve.";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Approved.");
        assert!(
            got.trimmed
                .unwrap()
                .starts_with("________________________________\nFrom:")
        );
    }

    #[test]
    fn underscore_line_not_followed_by_a_header_is_kept() {
        let text = "Sign here:\n________________________________\nThanks";
        assert_eq!(kept(text), text);
    }

    #[test]
    fn original_message_separator_is_trimmed() {
        let text = "Done.\n\n-----Original Message-----\nFrom: Alice\nSent: Monday\nTo: Bob\nSubject: Task\n\nPlease do it.";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Done.");
        assert!(
            got.trimmed
                .unwrap()
                .starts_with("-----Original Message-----")
        );
    }

    #[test]
    fn french_and_german_original_message_separators_are_trimmed() {
        for sep in [
            "-----Message d'origine-----",
            "-----Ursprüngliche Nachricht-----",
            "-----Mensaje original-----",
        ] {
            let text = format!("Fait.\n\n{sep}\nold text");
            let got = extract_reply(&text);
            assert_eq!(got.kept, "Fait.", "separator: {sep}");
            assert_eq!(got.trimmed, Some(format!("{sep}\nold text")));
        }
    }

    #[test]
    fn dashes_around_other_words_are_kept() {
        let text = "Agenda\n-----Budget-----\nItem one";
        assert_eq!(kept(text), text);
    }

    // --- signatures -----------------------------------------------------------

    #[test]
    fn rfc3676_signature_delimiter_trims_the_signature() {
        let text = "See you then.\n\n-- \nBob Example\nACME Corp.\n+1 555 0100\n";
        let got = extract_reply(text);
        assert_eq!(got.kept, "See you then.");
        assert_eq!(
            got.trimmed.as_deref(),
            Some("-- \nBob Example\nACME Corp.\n+1 555 0100")
        );
    }

    #[test]
    fn long_signature_after_rfc3676_delimiter_is_trimmed_whole() {
        let sig: String = (0..20).map(|k| format!("Disclaimer line {k}\n")).collect();
        let text = format!("Fine.\n-- \n{sig}");
        assert_eq!(kept(&text), "Fine.");
    }

    #[test]
    fn bare_double_dash_near_the_end_trims_the_signature() {
        let text = "See you then.\n--\nBob\nACME";
        let got = extract_reply(text);
        assert_eq!(got.kept, "See you then.");
        assert_eq!(got.trimmed.as_deref(), Some("--\nBob\nACME"));
    }

    #[test]
    fn bare_double_dash_followed_by_a_long_text_is_kept() {
        let body: String = (1..=8).map(|k| format!("Point {k}\n")).collect();
        let text = format!("Intro\n--\n{body}");
        assert_eq!(kept(&text), text.trim_end());
    }

    #[test]
    fn signature_above_the_quote_header_is_trimmed_with_the_history() {
        let text = "Thanks!\n-- \nBob\n\nOn Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n> Can you come?";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Thanks!");
        let trimmed = got.trimmed.unwrap();
        assert!(trimmed.starts_with("-- \nBob"));
        assert!(trimmed.ends_with("> Can you come?"));
    }

    #[test]
    fn signature_followed_by_more_new_text_is_kept() {
        let text = "-- \nThis dash line opens my message, it is not a signature... or is it?\n\nOn Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n> q\nInline answer.";
        let got = extract_reply(text);
        assert!(got.kept.contains("Inline answer."));
        assert!(got.kept.starts_with("-- \nThis dash line"));
    }

    #[test]
    fn english_mobile_footers_are_trimmed() {
        for footer in [
            "Sent from my iPhone",
            "Sent from my iPad",
            "Sent from my Android phone",
            "Sent from my Samsung Galaxy smartphone.",
            "Sent from Mail for Windows",
            "Get Outlook for iOS<https://aka.ms/o0ukef>",
            "Get Outlook for Android",
        ] {
            let got = extract_reply(&format!("On my way.\n\n{footer}\n"));
            assert_eq!(got.kept, "On my way.", "footer: {footer}");
            assert_eq!(got.trimmed.as_deref(), Some(footer));
        }
    }

    #[test]
    fn french_mobile_footers_are_trimmed() {
        for footer in [
            "Envoyé de mon iPhone",
            "Envoyé de mon iPad",
            "Envoyé depuis mon smartphone Samsung Galaxy",
            "Obtenir Outlook pour iOS",
        ] {
            assert_eq!(
                kept(&format!("J'arrive.\n\n{footer}")),
                "J'arrive.",
                "footer: {footer}"
            );
        }
    }

    #[test]
    fn german_and_spanish_mobile_footers_are_trimmed() {
        for footer in ["Von meinem iPhone gesendet", "Enviado desde mi iPhone"] {
            assert_eq!(kept(&format!("Ok.\n\n{footer}")), "Ok.", "footer: {footer}");
        }
    }

    #[test]
    fn mobile_footer_above_a_quoted_bottom_quote_is_trimmed_with_it() {
        // iOS Mail quotes its own header line.
        let text = "Sounds good\n\nSent from my iPhone\n\n> On Jan 1, 2024, at 10:00, Alice <alice@example.com> wrote:\n>\n> Lunch?\n";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Sounds good");
        assert!(got.trimmed.unwrap().starts_with("Sent from my iPhone"));
    }

    #[test]
    fn mobile_footer_followed_by_new_text_is_kept() {
        let text = "Sent from my iPhone\nis how I usually end mails, but not today.";
        assert_eq!(kept(text), text);
    }

    #[test]
    fn sentence_starting_like_a_footer_is_kept() {
        let text = "Sent from my iPhoneography class, attached are the photos.";
        assert_eq!(kept(text), text);
    }

    #[test]
    fn outlook_mobile_reply_with_footer_and_history_is_reduced_to_the_answer() {
        let text = "Sounds good\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n________________________________\nFrom: Alice <alice@example.com>\nSent: Monday, January 1, 2024 10:00:00 AM\nTo: Bob <bob@example.com>\nSubject: Lunch\n\nLunch?";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Sounds good");
        assert!(got.trimmed.unwrap().ends_with("Lunch?"));
    }

    // --- quotes ----------------------------------------------------------------

    #[test]
    fn reply_that_is_only_a_quote_gives_empty_kept() {
        let text =
            "On Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n> Shall we meet?\n";
        let got = extract_reply(text);
        assert_eq!(got.kept, "");
        assert_eq!(got.trimmed.as_deref(), Some(text.trim_end()));
    }

    #[test]
    fn reply_that_is_only_signature_gives_empty_kept() {
        let got = extract_reply("\n-- \nBob\n");
        assert_eq!(got.kept, "");
        assert_eq!(got.trimmed.as_deref(), Some("-- \nBob"));
    }

    #[test]
    fn trailing_quote_run_without_header_is_trimmed() {
        let text = "Yes, Friday.\n\n> Friday or Saturday?\n>\n> Alice\n\n";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Yes, Friday.");
        assert_eq!(
            got.trimmed.as_deref(),
            Some("> Friday or Saturday?\n>\n> Alice")
        );
    }

    #[test]
    fn quote_in_the_middle_without_header_is_kept() {
        let text = "> Friday or Saturday?\n\nFriday.";
        let got = extract_reply(text);
        assert_eq!(got.kept, text);
        assert_eq!(got.trimmed, None);
    }

    #[test]
    fn nested_quotes_below_a_header_are_trimmed() {
        let text = "New.\n\nOn 2 Jan 2024, Bob <bob@example.com> wrote:\n> Reply.\n>\n> On 1 Jan 2024, Alice <alice@example.com> wrote:\n>> Original.";
        let got = extract_reply(text);
        assert_eq!(got.kept, "New.");
        assert!(got.trimmed.unwrap().ends_with(">> Original."));
    }

    // --- inline answers --------------------------------------------------------

    #[test]
    fn interleaved_inline_answers_keep_the_new_lines() {
        let text = "Hi Alice,\n\nOn Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n> Can you do Tuesday?\n\nYes, Tuesday works.\n\n> And bring the docs?\n\nSure, I will.\n\n> Thanks!\n";
        let got = extract_reply(text);
        assert_eq!(
            got.kept,
            "Hi Alice,\n\nYes, Tuesday works.\n\nSure, I will."
        );
        assert_eq!(
            got.trimmed.as_deref(),
            Some(
                "On Mon, Jan 1, 2024 at 10:00 AM Alice <alice@example.com> wrote:\n> Can you do Tuesday?\n> And bring the docs?\n> Thanks!"
            )
        );
    }

    #[test]
    fn inline_answers_directly_under_quotes_are_separated_by_one_blank_line() {
        let text =
            "On 1 Jan 2024, Alice <alice@example.com> wrote:\n> Tuesday?\nYes.\n> Docs?\nSure.";
        assert_eq!(kept(text), "Yes.\n\nSure.");
    }

    #[test]
    fn inline_answers_followed_by_a_signature_drop_the_signature() {
        let text = "On 1 Jan 2024, Alice <alice@example.com> wrote:\n> Tuesday?\n\nYes.\n\n-- \nBob\n\nSent from my iPhone";
        let got = extract_reply(text);
        assert_eq!(got.kept, "Yes.");
        // The blank line inside the removed part is reproduced verbatim.
        assert!(
            got.trimmed
                .unwrap()
                .ends_with("-- \nBob\n\nSent from my iPhone")
        );
    }

    #[test]
    fn only_a_footer_below_the_quote_is_not_an_inline_answer() {
        let text = "Top answer.\n\nOn 1 Jan 2024, Alice <alice@example.com> wrote:\n> Tuesday?\n\nSent from my iPhone\n";
        assert_eq!(kept(text), "Top answer.");
    }

    #[test]
    fn outlook_history_is_never_taken_for_inline_answers() {
        let text = "Done.\n\nFrom: Alice <alice@example.com>\nSent: Monday\nTo: Bob\nSubject: Task\n\n> quoted by Alice\nAlice's own text, unquoted.";
        assert_eq!(kept(text), "Done.");
    }

    // --- robustness -----------------------------------------------------------

    /// Deterministic xorshift64 so the test needs no extra crate and fails
    /// reproducibly.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const FRAGMENTS: &[&str] = &[
        "\n",
        "\n",
        "\n",
        "\r\n",
        "\r",
        " ",
        "> ",
        ">",
        ">> ",
        "-- ",
        "--",
        "---",
        ":",
        " wrote:",
        "On ",
        "On 1 Jan 2024, Alice <a@b.c> wrote:",
        "Le 2 mars 2024, Bob <b@c.d> a écrit\u{a0}:",
        "Am 01.01.2024 schrieb Carl <c@d.e>:",
        "El 1 ene 2024, Dora escribió:",
        "From: Alice",
        "De : Alice",
        "Von: Alice",
        "Sent: Monday",
        "Envoyé : lundi",
        "To: Bob",
        "Subject: Hi",
        "________________________________",
        "-----Original Message-----",
        REPLY_MARKER,
        "Sent from my iPhone",
        "Envoyé de mon iPhone",
        "Get Outlook for iOS",
        "hello",
        "world",
        "Here are the numbers:",
        "é",
        "日本",
        "👍",
        "\u{a0}",
        "\u{202f}",
        "\t",
        "*",
        "_",
        "@",
        "9",
    ];

    #[test]
    fn pseudo_random_inputs_never_panic_and_never_lose_a_line() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for round in 0..600 {
            let pieces = rng.below(60);
            let mut text = String::new();
            for _ in 0..pieces {
                if rng.below(8) == 0 {
                    // Occasionally a random character, any plane.
                    let c = char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('?');
                    text.push(c);
                } else {
                    text.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
                }
            }
            let got = extract_reply(&text);
            let trimmed = got.trimmed.as_deref().unwrap_or("");
            let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
            for line in normalized.split('\n') {
                if line.trim().is_empty() {
                    continue;
                }
                assert!(
                    got.kept.contains(line) || trimmed.contains(line),
                    "round {round}: line {line:?} lost from {text:?} -> {got:?}"
                );
            }
            assert!(!got.kept.contains('\r'), "round {round}");
            assert_eq!(got.kept.trim_matches('\n'), got.kept, "round {round}");
            if let Some(t) = &got.trimmed {
                assert!(!t.trim().is_empty(), "round {round}: empty trimmed");
            }
        }
    }

    #[test]
    fn very_long_and_repetitive_inputs_are_handled() {
        let long_line = "x".repeat(1_000_000);
        assert_eq!(kept(&long_line), long_line);

        let long_header = format!("On 1 Jan 2024 {long_line} wrote:\n> q\nanswer");
        assert!(kept(&long_header).ends_with("answer"));

        for unit in [
            "-- \n",
            "--\n",
            "Sent from my iPhone\n",
            "On 1 Jan 2024, A <a@b.c>\n",
            "From: a\n",
            "> q\nanswer\n",
            "On 1 Jan 2024, A <a@b.c> wrote:\n> q\n",
            "________________________________\n\n",
        ] {
            let text = unit.repeat(20_000);
            let got = extract_reply(&text);
            assert!(got.kept.len() + got.trimmed.map_or(0, |t| t.len()) > 0);
        }
    }
}

/// Like [`extract_reply`], also removing `sent` (the text of the notification we sent this
/// person) wherever it is quoted.
pub fn extract_reply_knowing(text: &str, sent: Option<&str>) -> Extracted {
    let _ = sent;
    extract_reply(text)
}
