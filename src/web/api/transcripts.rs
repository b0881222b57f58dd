//! What a conversation gives out: `POST /conversations/{id}/transcript {"person_id"}` emails
//! it to a person as they may read it (`202`; `429` with `Retry-After` within ten minutes of
//! the last one; `404` when they may not read it).

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
