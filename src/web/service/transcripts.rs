//! "Email me this conversation": a transcript composed for one person from what they may read
//! (a client: no internal notes; nobody: deleted messages; nobody's address), rate limited
//! and queued in one transaction. The API and the web view share it.

use crate::domain::Role;
use crate::outbound::compose_transcript::{Transcript, TranscriptMessage};
use crate::store::{Person, TranscriptIssue};
use crate::web::AppState;
use crate::web::error::ApiError;
use axum::http::StatusCode;

/// Queues the transcript of `conversation_id` for `person` (who must be able to read it: a
/// `404` otherwise, so ids reveal nothing).
pub async fn send_transcript(
    state: &AppState,
    conversation_id: &str,
    person: &Person,
) -> Result<TranscriptIssue, ApiError> {
    let (conversation, _) = state
        .store
        .conversation_for(conversation_id, Some(&person.id))
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    let (settings, messages, attachments, people) = tokio::try_join!(
        state.store.person_settings(&person.id),
        state.store.messages(conversation_id),
        state.store.attachments_of_conversation(conversation_id),
        state.store.conversation_people(conversation_id),
    )?;
    let settings = settings.ok_or_else(|| ApiError::not_found("person"))?;
    let role = if person.role == Role::Internal {
        Role::Internal
    } else {
        Role::Client
    };
    let shown: Vec<TranscriptMessage> = messages
        .iter()
        .filter(|m| m.kind.visible_to(role) && m.deleted_at.is_none())
        .map(|m| TranscriptMessage {
            author: people
                .get(&m.author_id)
                .map_or_else(String::new, |p| p.name.clone()),
            at: m.created_at,
            text: m.body_text.clone(),
            note: m.kind == crate::domain::MessageKind::Note,
            files: attachments
                .get(&m.id)
                .into_iter()
                .flatten()
                .filter(|a| a.omitted.is_none())
                .map(|a| (a.filename.clone(), a.id.clone()))
                .collect(),
        })
        .collect();
    let email = state
        .mailer
        .compose()
        .transcript(
            &Transcript {
                to_name: &person.name,
                to_email: &person.email,
                locale: settings.locale,
                zone: settings.time_zone,
                conversation_id,
                subject: &conversation.subject,
                domain: conversation.domain.as_deref(),
                messages: &shown,
            },
            state.store.now(),
        )
        .map_err(|e| {
            tracing::error!(error = %e, "composing a transcript failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "compose_failed",
                "could not compose the email",
            )
        })?;
    let issue = state
        .store
        .queue_transcript(conversation_id, &person.id, &email)
        .await?;
    if issue == TranscriptIssue::Queued {
        state.mailer.queued();
    }
    Ok(issue)
}
