//! The words mail clients write around the history they quote, read from one data file
//! (`vocabulary.txt`, compiled in): forward separators, "-----Original Message-----"
//! separators, attribution lines ("On … wrote:"), the labels of Outlook-style header blocks and
//! the subjects of forwards, "sent from" footers — in fourteen European languages. Each
//! function looks at one line (or one header block) and knows nothing of where it sits in the
//! reply: the passes in [`super::quote_headers`] and [`super::signature`] decide that, by
//! structure first; these words only confirm. A language is added in the data file alone.

use std::collections::HashSet;
use std::sync::LazyLock;

/// Mobile footers are short; a long line that merely starts with
/// "Sent from my iPhone" is a sentence, not a footer.
const MAX_FOOTER_CHARS: usize = 100;

/// Header field labels are short ("Gesendet", "Envoyé", "Päivämäärä"); bounding how far we
/// look for the colon keeps the check constant-time on very long lines.
pub(super) const MAX_LABEL_CHARS: usize = 24;

/// Separator and forward lines are short.
const MAX_SEPARATOR_CHARS: usize = 80;

/// An attribution pattern: pieces that must appear in order, the first opening the line and
/// the last closing it (`…` in the data file stands between them).
#[derive(Debug)]
struct Pattern {
    pieces: Vec<String>,
}

impl Pattern {
    fn matches(&self, text: &str) -> bool {
        let (Some(first), Some(last)) = (self.pieces.first(), self.pieces.last()) else {
            return false;
        };
        if self.pieces.len() == 1 {
            return text == first;
        }
        let Some(mut rest) = text.strip_prefix(first.as_str()) else {
            return false;
        };
        // Stripped from what follows the first piece: the two never overlap.
        let Some(body) = rest.strip_suffix(last.as_str()) else {
            return false;
        };
        rest = body;
        for piece in &self.pieces[1..self.pieces.len() - 1] {
            match rest.find(piece.as_str()) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
        true
    }

    /// Whether the line must start with a fixed word ("On …") rather than anything ("… wrote:").
    fn anchored(&self) -> bool {
        self.pieces.first().is_some_and(|p| !p.is_empty())
    }
}

/// The data file, read once.
#[derive(Debug, Default)]
struct Vocabulary {
    forward_dashes: HashSet<String>,
    forward_colon: HashSet<String>,
    separator: HashSet<String>,
    attribution: Vec<Pattern>,
    from: HashSet<String>,
    date: HashSet<String>,
    recipient: HashSet<String>,
    other: HashSet<String>,
    subject: HashSet<String>,
    forward_subject: HashSet<String>,
    footers: Vec<String>,
    /// Lines of the file that could not be read: skipped (a unit test requires none).
    errors: Vec<String>,
}

static VOCABULARY: LazyLock<Vocabulary> =
    LazyLock::new(|| Vocabulary::parse(include_str!("vocabulary.txt")));

/// Lowercased, every run of white space (non-breaking ones included) one space, and no space
/// before a final colon: French typography writes "a écrit :", often with U+00A0 or U+202F.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    if out.ends_with(" :") {
        out.truncate(out.len() - 2);
        out.push(':');
    }
    out
}

impl Vocabulary {
    fn parse(data: &str) -> Vocabulary {
        let mut v = Vocabulary::default();
        let mut section = String::new();
        for line in data.lines() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            if let Some(name) = line
                .trim()
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
            {
                section = name.to_string();
                continue;
            }
            let Some((lang, entry)) = line.split_once(": ") else {
                v.errors.push(line.to_string());
                continue;
            };
            if lang.len() != 2 || entry.trim().is_empty() {
                v.errors.push(line.to_string());
                continue;
            }
            // Footers keep a trailing space: it means "any name after it".
            let footer = entry.trim_start().to_lowercase();
            let entry = normalize(entry);
            let set = match section.as_str() {
                "forward_dashes" => &mut v.forward_dashes,
                "forward_colon" => &mut v.forward_colon,
                "separator" => &mut v.separator,
                "from" => &mut v.from,
                "date" => &mut v.date,
                "recipient" => &mut v.recipient,
                "other" => &mut v.other,
                "subject" => &mut v.subject,
                "forward_subject" => &mut v.forward_subject,
                "attribution" => {
                    let pieces: Vec<String> = entry.split('…').map(str::to_string).collect();
                    v.attribution.push(Pattern { pieces });
                    continue;
                }
                "footer" => {
                    v.footers.push(footer);
                    continue;
                }
                _ => {
                    v.errors.push(line.to_string());
                    continue;
                }
            };
            set.insert(entry);
        }
        v
    }
}

/// Headers that introduce a forwarded message ("---------- Forwarded message ---------",
/// "Begin forwarded message:" and their translations).
pub(super) fn is_forward_separator(line: &str) -> bool {
    let t = line.trim();
    // Every form starts with dashes or ends with a colon: look no further at other lines
    // (lowercasing would allocate for each of them).
    if t.is_empty() || t.len() > MAX_SEPARATOR_CHARS || !(t.starts_with("--") || t.ends_with(':')) {
        return false;
    }
    if t.starts_with("--") && t.ends_with("--") {
        let inner = normalize(t.trim_matches('-'));
        return VOCABULARY.forward_dashes.contains(&inner);
    }
    let lower = normalize(t);
    lower
        .strip_suffix(':')
        .is_some_and(|body| VOCABULARY.forward_colon.contains(body.trim_end()))
}

/// An Outlook header block (its lines) whose subject says it is a forward: `FW:`, `Fwd:`,
/// `TR:` (French), `WG:` (German), `RV:` (Spanish), `I:` (Italian), `Doorst:` (Dutch)…
pub(super) fn block_is_forward(block: &[&str]) -> bool {
    block.iter().any(|line| {
        let s = line.trim_start().trim_start_matches('*');
        let Some((label, value)) = s.split_once(':') else {
            return false;
        };
        if label.chars().count() > MAX_LABEL_CHARS {
            return false;
        }
        let label = normalize(label.trim_end_matches('*'));
        if !VOCABULARY.subject.contains(&label) {
            return false;
        }
        let value = value
            .trim_start_matches(['*', ' ', '\u{a0}'])
            .to_lowercase();
        let prefix = value
            .split_once(':')
            .map_or("", |(p, _)| p)
            .trim_end_matches([' ', '\u{a0}']);
        VOCABULARY.forward_subject.contains(prefix)
    })
}

/// "-----Original Message-----" and its translations (Outlook, Lotus, webmails; some draw
/// `=` instead of `-`). The marks must surround the words: a line like "--- original message
/// follows" written by a person is not a separator.
pub(super) fn is_separator(line: &str) -> bool {
    let t = line.trim();
    if t.len() > MAX_SEPARATOR_CHARS {
        return false;
    }
    let framed = |c: &str| t.starts_with(&c.repeat(3)) && t.ends_with(&c.repeat(3));
    if !framed("-") && !framed("=") {
        return false;
    }
    let inner = normalize(t.trim_matches(['-', '=']));
    VOCABULARY.separator.contains(&inner)
}

/// How an attribution line ("On … wrote:") was recognized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attribution {
    /// By a pattern that fixes its first word ("On …", "Il giorno …").
    Anchored,
    /// By a pattern that fixes only its end ("… napisał(a):"): it must start a paragraph.
    Unanchored,
}

/// Whether `text` (a header's lines joined) is an attribution line in one of our languages.
pub(super) fn attribution(text: &str) -> Option<Attribution> {
    let t = text.trim();
    if !t.ends_with(':') {
        return None;
    }
    let lower = normalize(t);
    let mut found = None;
    for pattern in &VOCABULARY.attribution {
        if pattern.matches(&lower) {
            if pattern.anchored() {
                return Some(Attribution::Anchored);
            }
            found = Some(Attribution::Unanchored);
        }
    }
    found
}

/// The role of an Outlook header field line such as `Sent: Monday…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    From,
    Date,
    Recipient,
    Other,
}

/// The label of a `Label: value` line: short, before the first colon. Outlook writes "De :"
/// with a (sometimes non-breaking) space before the colon in French, and HTML-to-text
/// conversion turns bold labels into `*From:*`; both are accepted.
pub(super) fn field_label(line: &str) -> Option<String> {
    let s = line.trim_start().trim_start_matches('*');
    let (colon, _) = s
        .char_indices()
        .take(MAX_LABEL_CHARS)
        .find(|&(_, c)| c == ':')?;
    let label = normalize(s[..colon].trim_end_matches('*'));
    (!label.is_empty()).then_some(label)
}

/// Classifies `Label: value` lines of an Outlook header block.
pub(super) fn field_kind(line: &str) -> Option<Field> {
    let label = field_label(line)?;
    let v = &*VOCABULARY;
    if v.from.contains(&label) {
        Some(Field::From)
    } else if v.date.contains(&label) {
        Some(Field::Date)
    } else if v.recipient.contains(&label) {
        Some(Field::Recipient)
    } else if v.other.contains(&label) {
        Some(Field::Other)
    } else {
        None
    }
}

/// "Sent from my iPhone", "Inviato da iPhone", "Get Outlook for Android"… Matched
/// case-insensitively as a prefix of the line, as long as the prefix ends at a word boundary
/// ("Sent from my iPhone 15", "Get Outlook for iOS<https://aka.ms/…>"). Entries ending with a
/// space accept any device name after them.
pub(super) fn is_mobile_footer(line: &str) -> bool {
    let t = line.trim();
    if t.is_empty() || t.len() > MAX_FOOTER_CHARS {
        return false;
    }
    // Only lines starting like some footer are lowercased and compared.
    let Some(first) = t.chars().next().and_then(|c| c.to_lowercase().next()) else {
        return false;
    };
    let footers = &VOCABULARY.footers;
    if !footers.iter().any(|footer| footer.starts_with(first)) {
        return false;
    }
    let lower = t.to_lowercase();
    footers.iter().any(|footer| {
        lower.strip_prefix(footer.as_str()).is_some_and(|rest| {
            footer.ends_with(' ') || !rest.starts_with(|c: char| c.is_alphanumeric())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_file_reads_without_a_bad_line() {
        let v = &*VOCABULARY;
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        assert!(v.attribution.len() > 40);
        // Fourteen languages in every table that has words of its own per language.
        let data = include_str!("vocabulary.txt");
        for section in [
            "separator",
            "attribution",
            "from",
            "date",
            "recipient",
            "footer",
        ] {
            let start = data.find(&format!("[{section}]")).unwrap();
            let body = &data[start..];
            let body = &body[..body[1..].find("\n[").map_or(body.len(), |e| e + 1)];
            let mut langs: Vec<&str> = body
                .lines()
                .filter_map(|l| l.split_once(": ").map(|(lang, _)| lang))
                .filter(|l| l.len() == 2)
                .collect();
            langs.sort_unstable();
            langs.dedup();
            assert_eq!(langs.len(), 14, "{section}: {langs:?}");
        }
    }

    #[test]
    fn attributions_in_every_language() {
        for line in [
            "On Mon, Nov 3, 2026 at 10:42 AM John Smith <john@example.com> wrote:",
            "Le lun. 3 nov. 2026 à 10:42, Jean <jean@example.fr> a écrit\u{a0}:",
            "Am Mo., 3. Nov. 2026 um 10:42 Uhr schrieb Hans <hans@example.de>:",
            "Hans Müller <hans@example.de> schrieb am Mo., 3. Nov. 2026, 10:42:",
            "El lun, 3 nov 2026 a las 10:42, Ana (<ana@example.es>) escribió:",
            "Il giorno lun 3 nov 2026 alle ore 10:42 Mario Rossi <mario@example.it> ha scritto:",
            "Op ma 3 nov 2026 om 10:42 schreef Jan Jansen <jan@example.nl>:",
            "Op 3 nov. 2026 om 10:42 heeft Jan <jan@example.nl> het volgende geschreven:",
            "Em seg., 3 de nov. de 2026 às 10:42, Maria <maria@example.com.br> escreveu:",
            "Maria <maria@example.pt> escreveu (segunda, 3/11/2026 à(s) 10:42):",
            "W dniu 3.11.2026 o 10:42, Jan Kowalski pisze:",
            "pon., 3 lis 2026 o 10:42 Jan Kowalski <jan@example.pl> napisał(a):",
            "Den mån 3 nov. 2026 kl 10:42 skrev Anna <anna@example.se>:",
            "Den man. 3. nov. 2026 kl. 10.42 skrev Anna <anna@example.dk>:",
            "man. 3. nov. 2026 kl. 10:42 skrev Ola <ola@example.no>:",
            "ma 3. marrask. 2026 klo 10.42 Matti <matti@example.fi> kirjoitti:",
            "Dne 03.11.2026 v 10:42 Jan Novák napsal(a):",
            "Pe lun., 3 nov. 2026 la 10:42, Ion <ion@example.ro> a scris:",
        ] {
            assert!(attribution(line).is_some(), "{line}");
        }
        assert_eq!(
            attribution("On Monday Bob wrote:"),
            Some(Attribution::Anchored)
        );
        assert_eq!(attribution("Here are the numbers:"), None);
        assert_eq!(attribution("Bob wrote: hello"), None);
    }

    #[test]
    fn separators_forwards_labels_and_footers_in_new_languages() {
        for line in [
            "----Messaggio originale----",
            "-----Oorspronkelijk bericht-----",
            "-------- Wiadomość oryginalna --------",
            "-------- Original-Nachricht --------",
            "---------- Původní e-mail ----------",
            "========== Message original ==========",
        ] {
            assert!(is_separator(line), "{line}");
        }
        assert!(!is_separator("--- original message follows"));
        for line in [
            "---------- Messaggio inoltrato ---------",
            "---------- Doorgestuurd bericht ---------",
            "---------- Mensagem encaminhada ---------",
            "---------- Wiadomość przekazana dalej ---------",
            "Inizio messaggio inoltrato:",
            "Início da mensagem reencaminhada:",
        ] {
            assert!(is_forward_separator(line), "{line}");
        }
        assert_eq!(field_kind("Da: Mario Rossi"), Some(Field::From));
        assert_eq!(field_kind("Inviato: lunedì 3 novembre"), Some(Field::Date));
        assert_eq!(field_kind("Verzonden: maandag"), Some(Field::Date));
        assert_eq!(field_kind("Onderwerp: Re: x"), Some(Field::Recipient));
        assert_eq!(field_kind("Wysłane: poniedziałek"), Some(Field::Date));
        assert_eq!(field_kind("Temat: Re: x"), Some(Field::Recipient));
        assert_eq!(field_kind("*Från:* Anna"), Some(Field::From));
        assert_eq!(field_kind("Hello: there"), None);
        assert!(block_is_forward(&["Da: x", "Oggetto: I: Preventivo"]));
        assert!(block_is_forward(&["Van: x", "Onderwerp: Doorst: offerte"]));
        assert!(!block_is_forward(&["Da: x", "Oggetto: R: Preventivo"]));
        for line in [
            "Inviato da iPhone",
            "Verzonden vanaf mijn iPhone",
            "Enviado do meu iPhone",
            "Get Outlook for Android",
            "Sent with Spark",
            "Enviado desde mi Galaxy",
            "Envoyé depuis Yahoo Mail pour Android",
            "Wysłane z mojego Galaxy",
            "Skickat från min iPhone",
            "Lähetetty iPhonesta",
            "Odesláno z iPhonu",
            "Trimis de pe iPhone-ul meu",
        ] {
            assert!(is_mobile_footer(line), "{line}");
        }
        assert!(!is_mobile_footer(
            "Sent with love and a long explanation of everything that happened today, really long"
        ));
    }
}
