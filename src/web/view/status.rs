//! A conversation's status as a page shows it: the label in the viewer's language, and what a
//! client is told (open or closed).

use super::auth::Viewer;
use super::text::Text;
use crate::store::ConversationStatus;

/// The status's word in the viewer's language.
pub fn status_label(t: &Text, status: ConversationStatus) -> &'static str {
    match status {
        ConversationStatus::Open => t.open,
        ConversationStatus::Pending => t.pending,
        ConversationStatus::Closed => t.closed,
        ConversationStatus::Snoozed => t.snoozed,
    }
}

/// What a client is told of the status: open or closed. Pending and snoozed are the team's
/// workflow.
pub fn shown_status(viewer: &Viewer, status: ConversationStatus) -> ConversationStatus {
    match status {
        ConversationStatus::Pending | ConversationStatus::Snoozed if !viewer.is_staff() => {
            ConversationStatus::Open
        }
        other => other,
    }
}
