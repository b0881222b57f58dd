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
//! 2. Quote headers written by mail clients: "On … wrote:" and its French,
//!    German and Spanish forms (also when wrapped over two or three lines),
//!    "-----Original Message-----" style separators, and Outlook header
//!    blocks (`From:` / `Sent:` / `To:` …, in English, French, German and
//!    Spanish). Everything from the header down is history, *except* inline
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
//! person's unquoted lines are kept. Where a removed quote separated two kept
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
//! Not done: languages other than English/French/German/Spanish; clients
//! that re-wrap quoted lines without repeating the `>` prefix when the sent
//! text is not known (such continuation lines look like new text and are
//! kept: we prefer keeping history to losing words the person wrote);
//! answers typed inside Outlook's unquoted history (lost with it); and an
//! Outlook forward whose header block does not say `FW:` (only the email's
//! own Subject would tell it from a reply).

// foldhash, seeded per process: the matcher hashes every word of a reply (a 64 KiB reply is
// ~10,000 words), and SipHash was a tenth of its time.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

/// The marker line every notification email carries; everything from it down is quoted history.
pub const REPLY_MARKER: &str = "##- Reply above this line -##";

/// The French marker, in emails to people whose locale is French.
pub const REPLY_MARKER_FR: &str = "##- Répondez au-dessus de cette ligne -##";

/// Whether a line carries one of our markers (in any of the languages we write in).
pub fn has_marker(line: &str) -> bool {
    line.contains(REPLY_MARKER) || line.contains(REPLY_MARKER_FR)
}

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
        .map(|f| f == Fate::Keep)
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
    let fate = fates(lines, sent, true);
    if sent.is_some() && !keeps_text(&fate) {
        let without_weak = fates(lines, sent, false);
        if keeps_text(&without_weak) {
            return without_weak;
        }
    }
    fate
}

fn fates(lines: &Lines, sent: Option<&SentText>, weak_runs: bool) -> Vec<Fate> {
    let mut fate = vec![Fate::Keep; lines.len()];
    let end = cut_at_marker(lines, &mut fate);
    // Everything from a forwarded message down is kept verbatim: the later
    // passes only look above it.
    let forward = cut_at_quote_headers(lines, &mut fate, end);
    let end = forward.unwrap_or(end);
    if let Some(sent) = sent {
        cut_sent_text(lines, &mut fate, sent, end, weak_runs);
    }
    cut_signature(lines, &mut fate, end);
    if forward.is_none() {
        cut_trailing_quotes(lines, &mut fate);
    }
    absorb_blank_lines(lines, &mut fate);
    fate
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
fn cut_at_marker(lines: &Lines, fate: &mut [Fate]) -> usize {
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
fn cut_at_quote_headers(lines: &Lines, fate: &mut [Fate], end: usize) -> Option<usize> {
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

/// Headers that introduce a forwarded message (Gmail, Thunderbird, Apple
/// Mail, Outlook on the web), in English, French, German and Spanish.
fn is_forward_separator(line: &str) -> bool {
    let t = line.trim();
    // Every form starts with dashes or ends with a colon: look no further at other lines
    // (lowercasing would allocate for each of them).
    if t.is_empty() || t.len() > 80 || !(t.starts_with("--") || t.ends_with(':')) {
        return false;
    }
    let lower = t.to_lowercase();
    if lower.starts_with("--") && lower.ends_with("--") {
        let inner = lower.trim_matches('-').trim();
        return matches!(
            inner,
            "forwarded message"
                | "forwarded e-mail"
                | "message transféré"
                | "message transfere"
                | "weitergeleitete nachricht"
                | "mensaje reenviado"
        );
    }
    let Some(body) = lower.strip_suffix(':').map(str::trim_end) else {
        return false;
    };
    matches!(
        body,
        "begin forwarded message"
            | "début du message réexpédié"
            | "début du message transféré"
            | "anfang der weitergeleiteten nachricht"
            | "anfang der weitergeleiteten e-mail"
            | "inicio del mensaje reenviado"
            | "comienzo del mensaje reenviado"
    )
}

/// An Outlook header block (its lines) whose subject says it is a forward:
/// `FW:`, `Fwd:`, `TR:` (French), `WG:` (German), `RV:`/`Reenviado:` (Spanish).
fn block_is_forward(block: &[&str]) -> bool {
    block.iter().any(|line| {
        let s = line.trim_start().trim_start_matches('*');
        let Some((label, value)) = s.split_once(':') else {
            return false;
        };
        let label = label.trim().trim_end_matches('*').to_lowercase();
        if !matches!(label.as_str(), "subject" | "objet" | "betreff" | "asunto") {
            return false;
        }
        let value = value
            .trim_start_matches(['*', ' ', '\u{a0}'])
            .to_lowercase();
        let prefix = value
            .split_once(':')
            .map_or("", |(p, _)| p)
            .trim_end_matches([' ', '\u{a0}']);
        matches!(prefix, "fw" | "fwd" | "tr" | "wg" | "rv" | "reenviado")
    })
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
// 3. The text we sent
// ---------------------------------------------------------------------------

/// A `>`-quoted run (its first line is quoted) matching our sent text is
/// removed from this many words on: the quote marks are evidence already,
/// the match says whose text it is.
const MIN_QUOTED_SENT_RUN_WORDS: usize = 3;

/// Without quote marks, one line needs this many of our words in our order
/// and nothing else: a person may well close with the same eight-word
/// courtesy sentence as ours, not with sixteen words of it.
const MIN_SENT_LINE_WORDS: usize = 16;

/// Without quote marks, a run over several lines (our text re-wrapped by
/// the client: line breaks that are not the person's) is removed from this
/// many words on…
const MIN_SENT_RUN_WORDS: usize = 8;

/// …or when it is a whole paragraph of ours standing as a whole paragraph
/// of the reply, from this many words on.
const MIN_SENT_PARAGRAPH_WORDS: usize = 4;

// The unquoted runs of fewer than MIN_SENT_LINE_WORDS words are weak
// evidence: when removing them would leave nothing, the person was echoing
// our words, not quoting them, and they stay (see `fates_knowing`).

/// Notifications are short; this bounds the automaton's memory when one is
/// not (a digest of a long conversation).
const MAX_SENT_WORDS: usize = 200_000;

/// The text of the notification we sent, as a sequence of normalized words
/// (see [`normalize_word_into`]) with a suffix automaton that recognizes every
/// contiguous run of them.
struct SentText {
    vocab: HashMap<String, u32>,
    automaton: Automaton,
    /// Paragraphs of [`MIN_SENT_PARAGRAPH_WORDS`] to [`MIN_SENT_RUN_WORDS`]
    /// words, as word ids.
    short_paragraphs: HashSet<Vec<u32>>,
    /// Non-blank lines without any word ("--"): transparent in a match.
    wordless_lines: HashSet<String>,
}

impl SentText {
    fn new(sent: &str) -> SentText {
        let sent = normalize_newlines(sent);
        let mut vocab: HashMap<String, u32> = HashMap::new();
        let mut words: Vec<u32> = Vec::new();
        let mut short_paragraphs = HashSet::new();
        let mut wordless_lines = HashSet::new();
        let mut paragraph: Vec<u32> = Vec::new();
        let mut word = String::new();
        let mut end_paragraph = |paragraph: &mut Vec<u32>| {
            if (MIN_SENT_PARAGRAPH_WORDS..MIN_SENT_RUN_WORDS).contains(&paragraph.len()) {
                short_paragraphs.insert(std::mem::take(paragraph));
            }
            paragraph.clear();
        };
        'lines: for line in sent.split('\n') {
            let content = unquoted_content(line);
            let mut any = false;
            for raw_word in content.split_whitespace() {
                if !normalize_word_into(raw_word, &mut word) {
                    continue;
                }
                if words.len() >= MAX_SENT_WORDS {
                    break 'lines;
                }
                let id = match vocab.get(word.as_str()) {
                    Some(&id) => id,
                    None => {
                        let id = u32::try_from(vocab.len()).unwrap_or(u32::MAX);
                        vocab.insert(word.clone(), id);
                        id
                    }
                };
                words.push(id);
                paragraph.push(id);
                any = true;
            }
            if !any {
                end_paragraph(&mut paragraph);
                if !content.is_empty() {
                    wordless_lines.insert(content.to_owned());
                }
            }
        }
        end_paragraph(&mut paragraph);
        SentText {
            vocab,
            automaton: Automaton::new(&words),
            short_paragraphs,
            wordless_lines,
        }
    }

    fn is_empty(&self) -> bool {
        self.vocab.is_empty()
    }
}

/// A word lowercased, without the punctuation around it (quotes, brackets, trailing commas,
/// `*bold*` marks), so that a client re-rendering our text does not hide it; written into
/// `out` (cleared first), so that matching a long reply allocates nothing per word. False
/// when nothing alphanumeric is left.
fn normalize_word_into(word: &str, out: &mut String) -> bool {
    out.clear();
    let core = word.trim_matches(|c: char| !c.is_alphanumeric());
    if core.is_ascii() {
        out.push_str(core);
        out.make_ascii_lowercase();
    } else {
        // Unicode's rules (a final sigma, say) as `str::to_lowercase` has them.
        out.push_str(&core.to_lowercase());
    }
    !out.is_empty()
}

/// A suffix automaton over word ids: it accepts exactly the contiguous
/// runs of the sent text, and matching a stream against it gives, at every
/// word, the longest run ending there that the sent text contains
/// (Blumer et al.), in time linear in both lengths.
struct Automaton {
    len: Vec<usize>,
    link: Vec<usize>,
    next: Vec<Edges>,
}

const NO_STATE: usize = usize::MAX;

/// A state's transitions (word id → state). Most states of a suffix automaton over prose have
/// one, so that case allocates nothing; a map only for states with more.
#[derive(Clone, Default)]
enum Edges {
    #[default]
    None,
    One(u32, usize),
    Many(HashMap<u32, usize>),
}

impl Edges {
    fn get(&self, word: u32) -> Option<usize> {
        match self {
            Edges::None => None,
            Edges::One(w, to) => (*w == word).then_some(*to),
            Edges::Many(map) => map.get(&word).copied(),
        }
    }

    /// Adds or replaces the transition on `word`.
    fn set(&mut self, word: u32, to: usize) {
        match self {
            Edges::None => *self = Edges::One(word, to),
            Edges::One(w, t) if *w == word => *t = to,
            Edges::One(w, t) => {
                let mut map = HashMap::with_capacity(2);
                map.insert(*w, *t);
                map.insert(word, to);
                *self = Edges::Many(map);
            }
            Edges::Many(map) => {
                map.insert(word, to);
            }
        }
    }
}

impl Automaton {
    fn new(words: &[u32]) -> Automaton {
        let mut a = Automaton {
            len: vec![0],
            link: vec![NO_STATE],
            next: vec![Edges::None],
        };
        let mut last = 0;
        for &w in words {
            let cur = a.push(a.len[last] + 1, NO_STATE, Edges::None);
            let mut p = last;
            while p != NO_STATE && a.next[p].get(w).is_none() {
                a.next[p].set(w, cur);
                p = a.link[p];
            }
            if p == NO_STATE {
                a.link[cur] = 0;
            } else if let Some(q) = a.next[p].get(w) {
                if a.len[p] + 1 == a.len[q] {
                    a.link[cur] = q;
                } else {
                    let clone = a.push(a.len[p] + 1, a.link[q], a.next[q].clone());
                    while p != NO_STATE && a.next[p].get(w) == Some(q) {
                        a.next[p].set(w, clone);
                        p = a.link[p];
                    }
                    a.link[q] = clone;
                    a.link[cur] = clone;
                }
            }
            last = cur;
        }
        a
    }

    fn push(&mut self, len: usize, link: usize, next: Edges) -> usize {
        self.len.push(len);
        self.link.push(link);
        self.next.push(next);
        self.len.len() - 1
    }
}

/// Walks a word stream through an [`Automaton`], tracking the longest
/// suffix of the stream that is a run of the sent text.
struct Matcher<'a> {
    automaton: &'a Automaton,
    state: usize,
    matched: usize,
}

impl Matcher<'_> {
    fn reset(&mut self) {
        self.state = 0;
        self.matched = 0;
    }

    fn step(&mut self, word: Option<u32>) {
        let Some(w) = word else {
            self.reset();
            return;
        };
        let a = self.automaton;
        loop {
            if let Some(next) = a.next[self.state].get(w) {
                self.state = next;
                self.matched += 1;
                return;
            }
            if self.state == 0 {
                self.matched = 0;
                return;
            }
            self.state = a.link[self.state];
            self.matched = a.len[self.state];
        }
    }
}

/// Drops, above `end`, every maximal run of lines whose words (quote marks
/// and punctuation aside) are a contiguous run of the sent text's words, when
/// the run is evidence enough (see the constants above), plus a quote header
/// directly above such a run. Lines must match whole: a line mixing the
/// person's words with ours is kept. Blank lines, empty quote lines and
/// wordless lines that our text also has ("--") do not interrupt a run; any
/// other line does.
fn cut_sent_text(lines: &Lines, fate: &mut [Fate], sent: &SentText, end: usize, weak_runs: bool) {
    let end = end.min(lines.len());
    let mut matcher = Matcher {
        automaton: &sent.automaton,
        state: 0,
        matched: 0,
    };
    // Word positions in the reply's stream of words.
    let mut stream: Vec<Option<u32>> = Vec::new();
    let mut line_start = vec![0usize; end];
    let mut line_end = vec![0usize; end];
    let mut matched_at_end = vec![0usize; end];
    let mut worded: Vec<usize> = Vec::new();
    let mut word = String::new();
    for j in 0..end {
        let content = unquoted_content(lines.text[j]);
        line_start[j] = stream.len();
        let mut any = false;
        for raw_word in content.split_whitespace() {
            if !normalize_word_into(raw_word, &mut word) {
                continue;
            }
            let id = sent.vocab.get(word.as_str()).copied();
            matcher.step(id);
            stream.push(id);
            any = true;
        }
        if any {
            worded.push(j);
        } else if !content.is_empty() && !sent.wordless_lines.contains(content) {
            matcher.reset();
        }
        line_end[j] = stream.len();
        matched_at_end[j] = matcher.matched;
    }

    let is_gap = |j: usize| unquoted_content(lines.text[j]).is_empty() || fate[j] == Fate::Drop;
    let mut runs: Vec<(usize, usize)> = Vec::new();
    // The start of the longest match never moves backwards (a suffix of a
    // run is a run), so one pointer over the worded lines finds, for each
    // line, the first whole line of the match ending there.
    let mut k = 0;
    for (idx, &j) in worded.iter().enumerate() {
        let match_start = line_end[j] - matched_at_end[j];
        while k < worded.len() && line_start[worded[k]] < match_start {
            k += 1;
        }
        if k > idx {
            continue;
        }
        let first = worded[k];
        let count = line_end[j] - line_start[first];
        let several_lines = idx > k;
        let strong = (lines.quoted[first] && count >= MIN_QUOTED_SENT_RUN_WORDS)
            || count >= MIN_SENT_LINE_WORDS;
        let weak = || {
            several_lines
                && (count >= MIN_SENT_RUN_WORDS
                    || (count >= MIN_SENT_PARAGRAPH_WORDS
                        && (first == 0 || is_gap(first - 1))
                        && (j + 1 >= end || is_gap(j + 1))
                        && stream[line_start[first]..line_end[j]]
                            .iter()
                            .map(|w| w.ok_or(()))
                            .collect::<Result<Vec<u32>, ()>>()
                            .is_ok_and(|ids| sent.short_paragraphs.contains(&ids))))
        };
        let qualifies = strong || (weak_runs && weak());
        if !qualifies {
            continue;
        }
        match runs.last_mut() {
            Some((_, last)) if first <= *last + 1 => *last = j,
            _ => runs.push((first, j)),
        }
    }

    for (first, last) in runs {
        mark(fate, first, last + 1);
        // A quote header the client put directly above our text.
        let mut above = first;
        while above > 0 && unquoted_content(lines.text[above - 1]).is_empty() {
            above -= 1;
        }
        if above > 0
            && let Some(start) = header_ending_at(lines, above - 1)
        {
            mark(fate, start, first);
        }
    }
}

// ---------------------------------------------------------------------------
// 4. Signatures
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
    "sent from my galaxy",
    "sent from my pixel",
    "sent from my huawei",
    "sent from my xiaomi",
    "sent from my blackberry",
    "sent from mail for windows",
    "sent from outlook",
    "sent from yahoo mail",
    "envoyé depuis yahoo mail",
    "envoyé de yahoo mail",
    "gesendet von yahoo mail",
    "von yahoo mail gesendet",
    "enviado desde yahoo mail",
    "sent from the all new aol app",
    "sent with proton mail",
    "sent with protonmail",
    "sent from proton mail",
    "envoyé de mon iphone",
    "envoyé de mon ipad",
    "envoyé de mon appareil ",
    "envoyé depuis mon ",
    "envoyé de l'application mail",
    "envoyé à partir de outlook",
    "envoyé avec proton mail",
    "envoyé avec la messagerie sécurisée proton mail",
    "von meinem iphone gesendet",
    "von meinem ipad gesendet",
    "von meinem samsung galaxy",
    "von meinem android",
    "gesendet von outlook",
    "gesendet mit proton mail",
    "gesendet mit der sicheren e-mail-app proton mail",
    "enviado desde mi iphone",
    "enviado desde mi ipad",
    "enviado desde mi ",
    "enviado con proton mail",
    "enviado con el correo electrónico seguro de proton mail",
    "get outlook for ios",
    "get outlook for android",
    "obtenir outlook pour ios",
    "obtenir outlook pour android",
    "outlook für ios beziehen",
    "outlook für android beziehen",
    "obtener outlook para ios",
    "obtener outlook para android",
];

fn is_mobile_footer(line: &str) -> bool {
    let t = line.trim();
    if t.is_empty() || t.len() > MAX_FOOTER_CHARS {
        return false;
    }
    // Only lines starting like some footer are lowercased and compared.
    let Some(first) = t.chars().next().and_then(|c| c.to_lowercase().next()) else {
        return false;
    };
    if !MOBILE_FOOTERS
        .iter()
        .any(|footer| footer.starts_with(first))
    {
        return false;
    }
    let lower = t.to_lowercase();
    MOBILE_FOOTERS.iter().any(|footer| {
        lower.strip_prefix(footer).is_some_and(|rest| {
            footer.ends_with(' ') || !rest.starts_with(|c: char| c.is_alphanumeric())
        })
    })
}

/// Drops the signature: from the first signature line above `end` such
/// that, after the signature block, no new (kept, unquoted, non-blank) text
/// follows, down to `end`. The block after a delimiter runs until the next
/// removed or quoted line; a footer is a single line. So a signature placed
/// above the quote header is removed, but one followed by inline answers is
/// kept rather than losing those answers.
fn cut_signature(lines: &Lines, fate: &mut [Fate], end: usize) {
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

// ---------------------------------------------------------------------------
// 5. Trailing quote
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

    // --- inline answers below our quoted marker -----------------------------

    #[test]
    fn answers_between_our_quoted_lines_are_kept() {
        let text = "Hi Agnes, answers below.\n\nOn Mon, Nov 23, 2026 at 10:02 AM Agnes <\nnotifications@example.net> wrote:\n\n> ##- Reply above this line -##\n>\n> Can you come on Tuesday?\n\nYes, in the morning.\n\n> Do you need the invoice?\n\nNo, thanks.\n\n> --\n> Reply to this email to answer.\n";
        let got = extract_reply(text);
        assert_eq!(
            got.kept,
            "Hi Agnes, answers below.\n\nYes, in the morning.\n\nNo, thanks."
        );
        let trimmed = got.trimmed.unwrap();
        assert!(trimmed.starts_with("On Mon, Nov 23"), "{trimmed}");
        assert!(trimmed.contains("> Do you need the invoice?"), "{trimmed}");
    }

    #[test]
    fn bottom_posted_answer_below_our_quoted_marker_is_kept() {
        let text = "> On 23 Nov 2026, at 10:00, Agnes <a@example.net> wrote:\n> \n> ##- Reply above this line -##\n> Can you come on Tuesday?\n\nYes.\n\nCarl";
        assert_eq!(kept(text), "Yes.\n\nCarl");
    }

    #[test]
    fn text_after_our_quote_is_dropped_when_the_person_wrote_above_it() {
        // A server disclaimer, not an answer: nothing sits between quoted lines.
        let text = "Yes, Tuesday.\n\n> ##- Reply above this line -##\n> Can you come?\n\nThis e-mail is confidential.";
        assert_eq!(kept(text), "Yes, Tuesday.");
    }

    #[test]
    fn inline_answers_below_our_marker_lose_their_signature() {
        let text = "> ##- Reply above this line -##\n> Can you come?\nYes.\n> Bring the docs?\nSure.\n\n-- \nCarl\nACME";
        assert_eq!(kept(text), "Yes.\n\nSure.");
    }

    #[test]
    fn an_unquoted_marker_still_takes_everything_below_it() {
        let text = "Ok.\n\nFrom: Agnes <a@example.net>\nSent: Monday\nTo: Carl\nSubject: Order\n\n##- Reply above this line -##\nCan you come?\nunquoted text";
        assert_eq!(kept(text), "Ok.");
    }

    // --- forwarded messages -------------------------------------------------------

    #[test]
    fn forwarded_messages_are_kept_whole() {
        for separator in [
            "---------- Forwarded message ---------",
            "-------- Forwarded Message --------",
            "---------- Message transféré ---------",
            "-------- Weitergeleitete Nachricht --------",
            "---------- Mensaje reenviado ---------",
            "Begin forwarded message:",
            "Début du message réexpédié :",
            "Anfang der weitergeleiteten Nachricht:",
            "Inicio del mensaje reenviado:",
        ] {
            let text = format!(
                "See below.\n\n{separator}\nFrom: Dora <dora@example.org>\nDate: Mon, 23 Nov 2026\nSubject: Invoice\nTo: Carl <carl@example.com>\n\nInvoice attached.\n\nOn 1 Jan 2026, Eve <eve@example.org> wrote:\n> old\n-- \nDora"
            );
            let got = extract_reply(&text);
            assert_eq!(got.kept, text, "separator: {separator}");
            assert_eq!(got.trimmed, None, "separator: {separator}");
        }
    }

    #[test]
    fn a_forward_below_a_reply_header_is_history() {
        let text = "Thanks.\n\nOn 1 Jan 2026, Agnes <a@example.net> wrote:\n> ---------- Forwarded message ---------\n> From: Dora\n> Invoice.";
        assert_eq!(kept(text), "Thanks.");
    }

    #[test]
    fn a_signature_above_a_forward_goes_but_the_forward_stays() {
        let text = "FYI.\n-- \nCarl\n\n---------- Forwarded message ---------\nFrom: Dora <dora@example.org>\n\nHello.\n> quoted by Dora\n";
        let got = extract_reply(text);
        assert_eq!(
            got.kept,
            "FYI.\n\n---------- Forwarded message ---------\nFrom: Dora <dora@example.org>\n\nHello.\n> quoted by Dora"
        );
        assert_eq!(got.trimmed.as_deref(), Some("-- \nCarl"));
    }

    #[test]
    fn outlook_block_of_a_forwarded_forward_is_kept_unless_our_marker_is_below() {
        let block = "From: Dana <dana@example.com>\nSent: Monday, November 23, 2026 11:12 AM\nTo: Carl <carl@example.com>\nSubject: FW: Delivery slot\n\nThe carrier comes after 11:00.";
        let text = format!("See below.\n\n{block}");
        assert_eq!(kept(&text), text);
        let text = format!("Ok.\n\n{block}\n\n##- Reply above this line -##\nold");
        assert_eq!(kept(&text), "Ok.");
        for subject in ["TR: Créneau", "WG: Lieferung", "RV: Entrega", "Fwd: slot"] {
            let text = format!(
                "Voir ci-dessous.\n\n________________________________\nDe : Dana\nEnvoyé : lundi\nÀ : Carl\nObjet : {subject}\n\nTexte."
            );
            assert_eq!(kept(&text), text, "subject: {subject}");
        }
    }

    #[test]
    fn outlook_reply_block_is_not_a_forward() {
        let text = "Ok.\n\nFrom: Dana <dana@example.com>\nSent: Monday\nTo: Carl\nSubject: RE: FW: Delivery slot\n\nold";
        assert_eq!(kept(text), "Ok.");
    }

    // --- more footers -------------------------------------------------------------

    #[test]
    fn more_mobile_and_webmail_footers_are_trimmed() {
        for footer in [
            "Sent from my Galaxy",
            "Sent from Yahoo Mail on Android",
            "Envoyé depuis Yahoo Mail pour Android",
            "Sent with Proton Mail secure email.",
            "Envoyé avec la messagerie sécurisée Proton Mail.",
            "Von meinem Samsung Galaxy Smartphone gesendet.",
            "Enviado desde mi Samsung Galaxy",
            "Outlook für iOS beziehen<https://aka.ms/o0ukef>",
            "Obtener Outlook para Android<https://aka.ms/AAb9ysg>",
        ] {
            assert_eq!(
                kept(&format!("Fine.\n\n{footer}")),
                "Fine.",
                "footer: {footer}"
            );
        }
    }

    // --- the text we sent ---------------------------------------------------------

    const SENT: &str = "##- Reply above this line -##\n\nAgnes Agent wrote on 2026-11-23 09:00 UTC:\n\nHello Carl,\n\nyour order #1042 left our warehouse this morning. The carrier expects to deliver it on Thursday between 9:00 and 13:00.\n\nCould you confirm that someone will be at 12 Harbour Street to sign for it?\n\n--\nReply to this email to answer in the conversation \"Your order #1042\".\nYou receive this because you take part in it.";

    fn kept_knowing(text: &str) -> String {
        extract_reply_knowing(text, Some(SENT)).kept
    }

    #[test]
    fn without_sent_text_knowing_is_extract_reply() {
        let text = "Yes.\n\nOn 1 Jan 2026, Agnes <a@example.net> wrote:\n> Can you?\nInline.";
        assert_eq!(extract_reply_knowing(text, None), extract_reply(text));
        assert_eq!(extract_reply_knowing(text, Some("")), extract_reply(text));
        assert_eq!(
            extract_reply_knowing(text, Some(" \n-- \n")),
            extract_reply(text)
        );
    }

    #[test]
    fn our_text_rewrapped_without_quote_marks_is_removed() {
        let text = "Thursday works.\n\nCarl\n\nAgnes Agent wrote on 2026-11-23 09:00 UTC:\n\nHello Carl,\n\nyour order #1042 left our warehouse this morning. The\ncarrier expects to deliver it on Thursday between 9:00 and\n13:00.\n\nCould you confirm that someone will be at 12 Harbour\nStreet to sign for it?";
        let got = extract_reply_knowing(text, Some(SENT));
        assert_eq!(got.kept, "Thursday works.\n\nCarl");
        assert!(got.trimmed.unwrap().ends_with("Street to sign for it?"));
        // Without the sent text, nothing says it is a quote.
        assert!(kept(text).contains("Harbour"));
    }

    #[test]
    fn our_text_with_collapsed_whitespace_and_other_punctuation_is_removed() {
        let text = "Ok!\n\n> *Agnes Agent* wrote on 2026-11-23   09:00 UTC:\n> Hello Carl, your order #1042 left our warehouse this morning.\n> The carrier expects to deliver it on Thursday between 9:00 and 13:00.\n> Reply to this email to answer in the conversation “Your order #1042”.\n\nCarl";
        assert_eq!(kept_knowing(text), "Ok!\n\nCarl");
        assert!(kept(text).contains("warehouse"));
    }

    #[test]
    fn quote_header_directly_above_our_text_goes_with_it() {
        // No address and no quoted line below it: only the match makes it a header.
        let text = "Yes.\n\nOn Monday, Agnes Agent via threadgate wrote:\nHello Carl,\n\nyour order #1042 left our warehouse this morning. The carrier expects to deliver it on Thursday between 9:00 and 13:00.";
        let got = extract_reply_knowing(text, Some(SENT));
        assert_eq!(got.kept, "Yes.");
        assert!(got.trimmed.unwrap().starts_with("On Monday, Agnes Agent"));
    }

    #[test]
    fn a_short_quoted_sentence_of_ours_goes_a_repeated_phrase_stays() {
        let text = "Hi Agnes,\n\n> Could you confirm that someone will be at 12 Harbour Street to sign for it?\n\nYes, someone will be at 12 Harbour Street all day.\n\nCarl";
        assert_eq!(
            kept_knowing(text),
            "Hi Agnes,\n\nYes, someone will be at 12 Harbour Street all day.\n\nCarl"
        );
    }

    #[test]
    fn a_line_mixing_our_words_with_new_ones_is_kept() {
        let text = "your order #1042 left our warehouse this morning, and it is still not here!";
        assert_eq!(kept_knowing(text), text);
    }

    #[test]
    fn fewer_than_eight_unquoted_words_of_ours_are_kept() {
        // "the carrier expects to deliver it" is ours, but six words on their
        // own line are not evidence of a quote.
        let text =
            "About your message:\nthe carrier expects to deliver it\non Friday, not Thursday.";
        assert_eq!(kept_knowing(text), text);
    }

    #[test]
    fn inline_answers_between_rewrapped_pieces_of_our_text_are_kept() {
        let text = "> your order #1042 left our warehouse this morning. The carrier expects to\ndeliver it on Thursday between 9:00 and 13:00.\n\nGreat.\n\n> Could you confirm that someone will be at 12 Harbour Street to sign for\nit?\n\nYes: Dana.";
        assert_eq!(kept_knowing(text), "Great.\n\nYes: Dana.");
    }

    #[test]
    fn a_whole_short_paragraph_of_ours_rewrapped_goes_unless_it_is_all_there_is() {
        let sent = "Agnes wrote:\n\nSee you on Thursday at the warehouse.\n\nAgnes";
        let text = "Perfect, thanks.\n\nSee you on Thursday\nat the warehouse.";
        assert_eq!(
            extract_reply_knowing(text, Some(sent)).kept,
            "Perfect, thanks."
        );
        // The whole reply: the person echoing us.
        let text = "See you on Thursday\nat the warehouse.";
        assert_eq!(extract_reply_knowing(text, Some(sent)).kept, text);
        // On one line of their own it is theirs.
        let text = "Perfect, thanks.\n\nSee you on Thursday at the warehouse.";
        assert_eq!(extract_reply_knowing(text, Some(sent)).kept, text);
        // Inside a paragraph of theirs too.
        let text = "Perfect, thanks.\nSee you on Thursday\nat the warehouse.";
        assert_eq!(extract_reply_knowing(text, Some(sent)).kept, text);
    }

    #[test]
    fn a_courtesy_sentence_the_person_shares_with_us_stays() {
        let sent = "Agnes Agent wrote on 2026-11-23 09:00 UTC:\n\nYour invoice is attached.\n\nPlease let me know if you have any questions.";
        let text = "Paid today.\n\nPlease let me know if you have any questions.\n\nCarl";
        assert_eq!(extract_reply_knowing(text, Some(sent)).kept, text);
    }

    #[test]
    fn our_text_quoted_twice_is_removed_twice() {
        let body = "your order #1042 left our warehouse this morning. The carrier expects to deliver it on Thursday between 9:00 and 13:00.";
        let text = format!("First.\n\n{body}\n\nSecond.\n\n> {body}\n\nThird.");
        assert_eq!(kept_knowing(&text), "First.\n\nSecond.\n\nThird.");
    }

    #[test]
    fn sent_text_removal_is_linear_on_large_and_repetitive_inputs() {
        let sent = "the the the the\n".repeat(50_000);
        let reply = format!("Mine.\n\n{}", "> the the the the\n".repeat(50_000));
        assert_eq!(extract_reply_knowing(&reply, Some(&sent)).kept, "Mine.");
        let sent: String = (0..100_000).map(|i| format!("w{} ", i % 1000)).collect();
        let reply: String = (0..100_000)
            .map(|i| format!("w{}\n", (i * 7) % 1000))
            .collect();
        let _ = extract_reply_knowing(&reply, Some(&sent));
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
    fn pseudo_random_inputs_with_sent_text_never_lose_a_line() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for round in 0..400 {
            let mut make = |pieces: usize| {
                let mut text = String::new();
                for _ in 0..pieces {
                    text.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
                    if rng.below(3) == 0 {
                        text.push(' ');
                    }
                }
                text
            };
            let sent = make(40);
            let text = format!("{}{}", make(30), sent.replace('\n', "\n> "));
            let got = extract_reply_knowing(&text, Some(&sent));
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
            assert_eq!(got.kept.trim_matches('\n'), got.kept, "round {round}");
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

#[cfg(test)]
mod marker_tests {
    use super::*;

    #[test]
    fn the_french_marker_cuts_like_the_english_one() {
        let text = format!("Merci !\n\n> {REPLY_MARKER_FR}\n> Bonjour Carl\n");
        let e = extract_reply(&text);
        assert_eq!(e.kept, "Merci !");
        assert!(e.trimmed.unwrap().contains("Bonjour Carl"));
    }
}
