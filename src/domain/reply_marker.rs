//! The marker line every notification carries above the quoted history: composition writes it,
//! reply extraction cuts everything from it down.

/// The marker line every notification email carries; everything from it down is quoted history.
pub const REPLY_MARKER: &str = "##- Reply above this line -##";

/// The French marker, in emails to people whose locale is French.
pub const REPLY_MARKER_FR: &str = "##- Répondez au-dessus de cette ligne -##";

/// Whether a line carries one of our markers (in any of the languages we write in).
pub fn has_marker(line: &str) -> bool {
    line.contains(REPLY_MARKER) || line.contains(REPLY_MARKER_FR)
}
