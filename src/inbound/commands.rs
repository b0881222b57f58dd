//! What staff put on the first line of an email reply to steer it. `#note` keeps the reply
//! internal. A client's reply is never read for it: their `#note` is plain text.

use crate::store::NewMessage;

/// The tag that makes a reply an internal note.
const NOTE_TAG: &str = "#note";

/// Removes a first line `#note` (any letter case, blank lines around it) from the message's
/// text, and that tag from its HTML. True when there was one.
pub(super) fn take_note_tag(message: &mut NewMessage) -> bool {
    let text = message.body_text.trim_start();
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    if !first.trim().eq_ignore_ascii_case(NOTE_TAG) {
        return false;
    }
    message.body_text = rest.trim_start_matches(['\r', '\n']).to_string();
    if let Some(html) = &mut message.body_html
        && let Some(at) = html.to_ascii_lowercase().find(NOTE_TAG)
    {
        html.replace_range(at..at + NOTE_TAG.len(), "");
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageKind, Source};

    fn message(text: &str, html: Option<&str>) -> NewMessage {
        let mut m = NewMessage::typed(
            "cnv_a",
            "per_b",
            MessageKind::Message,
            text.into(),
            Source::Email,
        );
        m.body_html = html.map(str::to_string);
        m
    }

    #[test]
    fn a_first_line_note_tag_is_taken_off_text_and_html() {
        let mut m = message(
            "#Note\n\nKeep this between us.",
            Some("<div>#NOTE</div><div>Keep this between us.</div>"),
        );
        assert!(take_note_tag(&mut m));
        assert_eq!(m.body_text, "Keep this between us.");
        assert_eq!(
            m.body_html.as_deref(),
            Some("<div></div><div>Keep this between us.</div>")
        );
        let mut m = message("  #note  \r\nOK", None);
        assert!(take_note_tag(&mut m));
        assert_eq!(m.body_text, "OK");
    }

    #[test]
    fn a_tag_anywhere_else_is_text() {
        for text in ["Hello\n#note", "#notes are fine", "see #note", ""] {
            let mut m = message(text, None);
            assert!(!take_note_tag(&mut m), "{text:?}");
            assert_eq!(m.body_text, text);
        }
    }
}
