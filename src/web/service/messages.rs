//! Posting a message from the web view or the API: the rules both apply before the store
//! (which checks again, in its transaction, that the author takes part).

use crate::domain::{MessageKind, Role, Source};
use crate::store::{Message, NewMessage, Person, StoreError};
use crate::web::AppState;

/// Why a post was refused.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// Notes are the team's: a client's note would be shown and emailed to staff only, behind
    /// the back of the client who believes they answered.
    #[error("clients cannot write internal notes")]
    NoteByClient,
    #[error("the author does not take part in this conversation")]
    NotAParticipant,
    #[error(transparent)]
    Store(StoreError),
}

/// Posts `text` as `kind` by `author` into `conversation_id`.
pub async fn post(
    state: &AppState,
    conversation_id: &str,
    author: &Person,
    kind: MessageKind,
    text: String,
    source: Source,
) -> Result<Message, PostError> {
    if kind == MessageKind::Note && author.role == Role::Client {
        return Err(PostError::NoteByClient);
    }
    let new = NewMessage::typed(conversation_id, &author.id, kind, text, source);
    state.store.append_message(new).await.map_err(|e| match e {
        StoreError::NotFound("participant") => PostError::NotAParticipant,
        other => PostError::Store(other),
    })
}
