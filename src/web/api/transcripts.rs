//! What a conversation gives out: `POST /conversations/{id}/transcript {"person_id"}` emails
//! it to a person as they may read it (`202`; `429` with `Retry-After` within ten minutes of
//! the last one; `404` when they may not read it), and
//! `GET /conversations/{id}/export?format=mbox|json&as=per_…` streams it (`crate::export`).

use super::settings::{PersonRef, person_id};
use crate::store::TranscriptIssue;
use crate::web::AppState;
use crate::web::error::{ApiError, ApiPath};
use crate::web::service::transcripts::send_transcript;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub async fn email_transcript(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Result<Json<PersonRef>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let person = state
        .store
        .person(person_id(&body)?)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))?;
    Ok(match send_transcript(&state, &id, &person).await? {
        TranscriptIssue::Queued => (
            StatusCode::ACCEPTED,
            Json(json!({"queued": true, "to": person.email})),
        )
            .into_response(),
        TranscriptIssue::TooSoon { retry_after_ms } => ApiError::rate_limited(
            retry_after_ms,
            "a transcript of this conversation was sent to this person less than 10 minutes ago",
        ),
    })
}

#[derive(serde::Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
    #[serde(rename = "as")]
    reader: Option<String>,
}

/// Streams the export: checked first (`404` for a reader who may not read it, `422` for a
/// format we do not write), then written a page at a time through a pipe.
pub async fn export(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    query: Result<axum::extract::Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(query) = query?;
    let format = crate::export::Format::parse(query.format.as_deref().unwrap_or("mbox"))
        .ok_or_else(|| ApiError::invalid_field("format", "`format` must be mbox or json"))?;
    let reader = super::json::reader(&state, query.reader.as_deref()).await?;
    let (conversation, _) = state
        .store
        .conversation_for(&id, reader.as_ref().map(|p| p.id.as_str()))
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    let reply_domain = state
        .mailer
        .compose()
        .reply_domain_of(conversation.domain.as_deref());
    let (mut tx, rx) = tokio::io::duplex(64 * 1024);
    let store = state.store.clone();
    tokio::spawn(async move {
        let export = crate::export::Export {
            store: &store,
            conversation: &conversation,
            reader: reader.as_ref(),
            reply_domain: &reply_domain,
        };
        // The status is sent: a failure now can only cut the body short (and is logged).
        if let Err(err) = export.write(format, &mut tx).await {
            tracing::error!(error = %err, conversation = %conversation.id, "an export stopped");
        }
    });
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(rx));
    Ok((
        StatusCode::OK,
        [
            (
                axum::http::header::CONTENT_TYPE,
                format.content_type().to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.{}\"", format.extension()),
            ),
        ],
        body,
    )
        .into_response())
}
