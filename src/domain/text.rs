//! Human text fields: names, subjects, file names. One rule for every place such a text
//! enters (the API, web forms, email headers), so nothing stored can break a header we write
//! later or mislead a reader.
//!
//! - No control characters: C0 (U+0000–U+001F, tab allowed only where a field says so), DEL,
//!   C1 (U+0080–U+009F, NEL among them) and the Unicode line and paragraph separators
//!   (U+2028, U+2029). A CR or LF in a display name is a header injection (RFC 5322 §2.2: a
//!   header field ends at CRLF), and some mail libraries refuse to write one at all.
//! - No bidirectional embeddings, overrides or isolates (U+202A–U+202E, U+2066–U+2069) in
//!   names and file names: they make "Bob" + U+202E + "gnp.exe" read as another name or another extension
//!   (CVE-2021-42574, "Trojan Source"). Subjects keep the isolates a right-to-left title may
//!   need, never the overrides.
//! - Trimmed, not empty where required, at most `max` characters.
//!
//! [`check`] refuses (a person typed it: they are told what to fix); [`clean`] repairs (it came
//! in an email: the email is still delivered, with controls made spaces, runs of whitespace
//! folded, bidi controls dropped and the text cut to length).

/// The rule one kind of field follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    /// Longest allowed value, in characters (not bytes: a name in Greek is as long as one in
    /// English).
    pub max_chars: usize,
    /// A tab may stand inside the text (subjects); elsewhere it is a control character.
    pub allow_tab: bool,
    /// Bidi isolates (U+2066–U+2069) allowed; overrides and embeddings never are.
    pub allow_isolates: bool,
}

/// A person's display name.
pub const NAME: TextRule = TextRule {
    max_chars: 200,
    allow_tab: false,
    allow_isolates: false,
};

/// A conversation subject.
pub const SUBJECT: TextRule = TextRule {
    max_chars: 500,
    allow_tab: true,
    allow_isolates: true,
};

/// An attachment's file name.
pub const FILE_NAME: TextRule = TextRule {
    max_chars: 255,
    allow_tab: false,
    allow_isolates: false,
};

/// What is wrong with a text, in words a person can act on (the caller adds the field name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("is required")]
    Empty,
    #[error("is longer than {0} characters")]
    TooLong(usize),
    #[error("contains a control character (U+{0:04X})")]
    Control(u32),
    #[error("contains a bidirectional formatting character (U+{0:04X})")]
    Bidi(u32),
}

/// C0, DEL, C1, and the Unicode line/paragraph separators.
pub fn is_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Embeddings and overrides (U+202A–U+202E).
fn is_bidi_override(c: char) -> bool {
    ('\u{202A}'..='\u{202E}').contains(&c)
}

/// Isolates (U+2066–U+2069).
fn is_bidi_isolate(c: char) -> bool {
    ('\u{2066}'..='\u{2069}').contains(&c)
}

impl TextRule {
    fn forbidden_bidi(&self, c: char) -> bool {
        is_bidi_override(c) || (!self.allow_isolates && is_bidi_isolate(c))
    }

    fn forbidden_control(&self, c: char) -> bool {
        is_control(c) && !(self.allow_tab && c == '\t')
    }
}

/// The trimmed text when it follows `rule`; refuses an empty one.
pub fn check<'a>(value: &'a str, rule: &TextRule) -> Result<&'a str, TextError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(TextError::Empty);
    }
    check_optional(v, rule)
}

/// [`check`] where an empty text is allowed (it stays empty).
pub fn check_optional<'a>(value: &'a str, rule: &TextRule) -> Result<&'a str, TextError> {
    let v = value.trim();
    if let Some(c) = v.chars().find(|c| rule.forbidden_control(*c)) {
        return Err(TextError::Control(c as u32));
    }
    if let Some(c) = v.chars().find(|c| rule.forbidden_bidi(*c)) {
        return Err(TextError::Bidi(c as u32));
    }
    if v.chars().count() > rule.max_chars {
        return Err(TextError::TooLong(rule.max_chars));
    }
    Ok(v)
}

/// Whether `value` already follows `rule` exactly as stored (trimmed, bounded; may be empty).
pub fn follows(value: &str, rule: &TextRule) -> bool {
    value.trim().len() == value.len() && check_optional(value, rule).is_ok()
}

/// The text repaired to follow `rule`: controls become spaces, bidi controls are dropped,
/// whitespace runs fold to one space, the ends are trimmed and the text is cut to length.
/// The result may be empty; [`check_optional`] accepts whatever this returns.
pub fn clean(value: &str, rule: &TextRule) -> String {
    let mut out = String::with_capacity(value.len().min(rule.max_chars * 4));
    let mut chars = 0;
    let mut pending_space = false;
    for c in value.chars() {
        if rule.forbidden_bidi(c) {
            continue;
        }
        let c = if is_control(c) { ' ' } else { c };
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            if chars + 2 > rule.max_chars {
                break;
            }
            out.push(' ');
            chars += 1;
            pending_space = false;
        }
        if chars + 1 > rule.max_chars {
            break;
        }
        out.push(c);
        chars += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_controls_and_bidi_and_say_which() {
        assert_eq!(check("  Eve  ", &NAME), Ok("Eve"));
        assert_eq!(check("Eve\r\nBcc: x", &NAME), Err(TextError::Control(0x0d)));
        assert_eq!(check("Eve\nx", &NAME), Err(TextError::Control(0x0a)));
        assert_eq!(check("Eve\tx", &NAME), Err(TextError::Control(0x09)));
        assert_eq!(check("Eve\u{85}x", &NAME), Err(TextError::Control(0x85)));
        assert_eq!(
            check("Eve\u{2028}x", &NAME),
            Err(TextError::Control(0x2028))
        );
        assert_eq!(check("Bob\u{202E}gnp", &NAME), Err(TextError::Bidi(0x202E)));
        assert_eq!(check("Bob\u{2067}x", &NAME), Err(TextError::Bidi(0x2067)));
        assert_eq!(check("   ", &NAME), Err(TextError::Empty));
        assert_eq!(check(&"é".repeat(200), &NAME).map(str::len), Ok(400));
        assert_eq!(check(&"é".repeat(201), &NAME), Err(TextError::TooLong(200)));
        assert_eq!(
            check("Zoë Ångström-Łukasz 山田", &NAME),
            Ok("Zoë Ångström-Łukasz 山田")
        );
    }

    #[test]
    fn subjects_keep_tabs_and_isolates_but_not_overrides() {
        assert_eq!(check("a\tb", &SUBJECT), Ok("a\tb"));
        assert_eq!(
            check("\u{2067}שלום\u{2069}", &SUBJECT),
            Ok("\u{2067}שלום\u{2069}")
        );
        assert_eq!(check("x\u{202D}y", &SUBJECT), Err(TextError::Bidi(0x202D)));
        assert_eq!(check("x\ry", &SUBJECT), Err(TextError::Control(0x0d)));
    }

    #[test]
    fn cleaning_repairs_what_checking_refuses() {
        assert_eq!(
            clean("Eve\r\nX-Injected: yes", &NAME),
            "Eve X-Injected: yes"
        );
        assert_eq!(clean("  a \t\u{0}\u{1b} b  ", &NAME), "a b");
        assert_eq!(clean("Bob\u{202E}gnp.exe", &FILE_NAME), "Bobgnp.exe");
        assert_eq!(clean("\r\n", &NAME), "");
        assert_eq!(clean(&"x".repeat(1000), &NAME).chars().count(), 200);
        let cut = clean(&format!("{} y", "x".repeat(199)), &NAME);
        assert_eq!(cut, "x".repeat(199), "no trailing space after a cut");
        for s in ["a\u{2028}b", "\u{85}", "é\u{9f}é", "a\u{2066}b\u{2069}"] {
            for rule in [NAME, SUBJECT, FILE_NAME] {
                assert!(follows(&clean(s, &rule), &rule), "{s:?}");
            }
        }
    }
}
