//! Posting a message from the web view or the API: the rules both apply before the store
//! (which checks again, in its transaction, that the author takes part), and the files written
//! to the blob store before the message that lists them is committed.

use super::uploads::{self, Upload};
use crate::domain::{MessageKind, Role, Source};
use crate::store::{Attachment, Message, NewAttachment, NewMessage, Person, StoreError};
use crate::web::AppState;

/// What a person wrote: the text (possibly empty when files come with it) and the files.
pub struct Draft {
    pub kind: MessageKind,
    pub text: String,
    pub files: Vec<Upload>,
}

/// Why a post was refused.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// Notes are the team's: a client's note would be shown and emailed to staff only, behind
    /// the back of the client who believes they answered.
    #[error("clients cannot write internal notes")]
    NoteByClient,
    #[error("the author does not take part in this conversation")]
    NotAParticipant,
    /// Neither text nor a file: nothing to show anyone.
    #[error("a message needs text or at least one file")]
    Empty,
    /// The blob store could not take a file.
    #[error("storing a file failed: {0}")]
    Files(std::io::Error),
    #[error(transparent)]
    Store(StoreError),
}

/// A posted message and the files it lists.
pub struct Posted {
    pub message: Message,
    pub attachments: Vec<Attachment>,
}

/// Posts `draft` by `author` into `conversation_id`: its files stored first, then the message
/// with their rows, in one transaction.
pub async fn post(
    state: &AppState,
    conversation_id: &str,
    author: &Person,
    draft: Draft,
    source: Source,
) -> Result<Posted, PostError> {
    if draft.kind == MessageKind::Note && author.role == Role::Client {
        return Err(PostError::NoteByClient);
    }
    if draft.text.trim().is_empty() && draft.files.is_empty() {
        return Err(PostError::Empty);
    }
    let files = uploads::store(&state.blobs, &draft.files)
        .await
        .map_err(PostError::Files)?;
    let mut new = NewMessage::typed(conversation_id, &author.id, draft.kind, draft.text, source);
    new.attachments = files.clone();
    // Whoever may read it may write in it: a company's follower joins it by writing.
    let message = state
        .store
        .append_message_as_reader(new)
        .await
        .map_err(|e| match e {
            StoreError::NotFound("participant") => PostError::NotAParticipant,
            other => PostError::Store(other),
        })?;
    // A file removed meanwhile (the same content erased elsewhere, `blobs::removal`) is
    // written again from the bytes still held. The message is committed: a failure here is
    // logged, not answered (a retry would post it twice).
    let shas: Vec<String> = files.iter().map(|f| f.sha256.clone()).collect();
    match crate::blobs::removal::to_write_again(&state.store, &shas).await {
        Ok(again) => {
            // `files` are the rows of `draft.files`, in order.
            let uploads = files.iter().zip(&draft.files);
            for (_, upload) in uploads.filter(|(file, _)| again.contains(&file.sha256)) {
                if let Err(err) = state.blobs.put(&upload.data).await {
                    tracing::error!(message = %message.id, error = %err, "writing a removed file again failed");
                }
            }
        }
        Err(err) => {
            tracing::error!(message = %message.id, error = %err, "checking for removed files failed")
        }
    }
    let attachments = files
        .into_iter()
        .map(|file| stored(&message, file))
        .collect();
    Ok(Posted {
        message,
        attachments,
    })
}

/// The row a file became, as the message's insert wrote it.
fn stored(message: &Message, file: NewAttachment) -> Attachment {
    Attachment {
        id: file.id,
        message_id: message.id.clone(),
        conversation_id: message.conversation_id.clone(),
        filename: file.filename,
        content_type: file.content_type,
        size: file.size,
        sha256: file.sha256,
        content_id: file.content_id,
        inline: file.inline,
        omitted: file.omitted,
        created_at: message.created_at,
        inbound_id: None,
    }
}
