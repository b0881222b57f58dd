//! The words mail clients write, in each language we read (English, French, German, Spanish):
//! forward separators, "-----Original Message-----" separators, the "On … wrote:" verbs,
//! Outlook's header labels and forward subjects, mobile footers. Each function looks at one line
//! (or one header block) and knows nothing of where it sits in the reply: the passes in
//! [`super::quote_headers`] and [`super::signature`] decide that. A new language is added here,
//! and to the opening words `quote_headers::wrote_header_at` accepts.

/// Mobile footers are short; a long line that merely starts with
/// "Sent from my iPhone" is a sentence, not a footer.
const MAX_FOOTER_CHARS: usize = 100;

/// Header field labels are short ("Gesendet", "Envoyé"); bounding how far we
/// look for the colon keeps the check constant-time on very long lines.
const MAX_LABEL_CHARS: usize = 24;

/// Headers that introduce a forwarded message (Gmail, Thunderbird, Apple
/// Mail, Outlook on the web), in English, French, German and Spanish.
pub(super) fn is_forward_separator(line: &str) -> bool {
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
pub(super) fn block_is_forward(block: &[&str]) -> bool {
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
pub(super) fn is_separator(line: &str) -> bool {
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

/// The shape of a localized "X wrote:" header: it starts with the
/// language's opening word and ends with its verb and a colon. A sentence
/// that merely contains "wrote:" in the middle, or ends with a colon after
/// some other word ("Here are the numbers:"), does not match.
pub(super) fn is_wrote_header(text: &str) -> bool {
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

/// The role of an Outlook header field line such as `Sent: Monday…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    From,
    Date,
    Recipient,
    Other,
}

/// Classifies `Label: value` lines of an Outlook header block. Outlook
/// writes "De :" with a (sometimes non-breaking) space before the colon in
/// French, and HTML-to-text conversion turns bold labels into `*From:*`;
/// both are accepted.
pub(super) fn field_kind(line: &str) -> Option<Field> {
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

pub(super) fn is_mobile_footer(line: &str) -> bool {
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
