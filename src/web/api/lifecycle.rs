//! Conversation lifecycle routes:
//! - `PATCH /conversations/{id}` `{status?, assignee_id?, snoozed_until?, archived?, actor_id?}`: status
//!   `open` / `pending` / `closed`, or snoozed until an RFC 3339 time in the future (`status:
//!   "snoozed"` may be given with it, never without it); `assignee_id` an internal user, `null`
//!   to unassign. Answers the conversation. Unknown fields are refused (a typo never silently
//!   does nothing).
//! - `GET /conversations/{id}/events`: the history of changes, oldest first.
//! - `POST /messages/{id}/restore` (actor as for deletion, an internal user): brings a deleted
//!   message back; `409 conflict` when it is not deleted.
//! - `DELETE /messages/{id}` (actor in an optional JSON body `{actor_id}` or the query): soft
//!   delete. The message stays in the admin history marked `deleted: true`; deleting it again
//!   is `409 conflict` (an unknown id is `404`), and the first deletion's time and actor stay.
//!
//! `actor_id` names who did it (recorded in the events); without it the change is recorded
//! with no actor (an admin acting through the API). Status and assignment changes, and
//! participant changes, are made by internal users: a client actor is a 422.

use super::json::{Actor, actor, conversation_json, human_text, parse_status};
use crate::domain::{ConversationType, Millis, Role, rfc3339, text};
use crate::store::{ConversationEvent, ConversationStatus, LifecycleChange, StatusChange};
use crate::web::AppState;
use crate::web::error::{ApiError, ApiPath};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

type Body<T> = Result<Json<T>, JsonRejection>;
type ApiResult = Result<(StatusCode, Json<Value>), ApiError>;

/// Tells an absent field (None) from an explicit `null` (Some(None)).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchConversation {
    status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    assignee_id: Option<Option<String>>,
    snoozed_until: Option<String>,
    /// A new subject (staff): the history shows the change; emails already in someone's
    /// mailbox keep their thread's subject.
    subject: Option<String>,
    actor_id: Option<String>,
    /// `private`, `company` or `confidential`: who reads it besides its participants.
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "present")]
    company_id: Option<Option<String>>,
    /// Put away (or back in the inbox); a new message brings it back too.
    archived: Option<bool>,
}

fn future_time(state: &AppState, value: &str) -> Result<Millis, ApiError> {
    let time = chrono::DateTime::parse_from_rfc3339(value.trim()).map_err(|_| {
        ApiError::invalid("`snoozed_until` must be an RFC 3339 time, e.g. 2026-12-01T09:00:00Z")
    })?;
    let ms = time.timestamp_millis();
    if ms <= state.store.now() {
        return Err(ApiError::invalid("`snoozed_until` must be in the future"));
    }
    Ok(ms)
}

pub async fn patch_conversation(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body<PatchConversation>,
) -> ApiResult {
    let Json(body) = body?;
    let Some(current) = state.store.conversation(&id).await? else {
        return Err(ApiError::not_found("conversation"));
    };
    // Type and company are checked together against what they become.
    let access = match (&body.kind, &body.company_id) {
        (None, None) => None,
        (kind, company) => {
            let company = match company {
                Some(c) => c.as_deref(),
                None => current.company_id.as_deref(),
            };
            let kind = match kind.as_deref() {
                Some(kind) => Some(kind),
                // A company given to a private conversation makes it a company one; taking
                // the company away makes it private.
                None if company.is_none() => Some("private"),
                None if current.kind == ConversationType::Private => Some("company"),
                None => Some(current.kind.as_str()),
            };
            Some(super::conversations::type_and_company(&state, kind, company).await?)
        }
    };
    let status = parse_status(body.status.as_deref())?;
    let until = body
        .snoozed_until
        .as_deref()
        .map(|t| future_time(&state, t))
        .transpose()?;
    let status = match (status, until) {
        (None, None) => None,
        (None | Some(ConversationStatus::Snoozed), Some(until)) => {
            Some(StatusChange::SnoozeUntil(until))
        }
        (Some(ConversationStatus::Snoozed), None) => {
            return Err(ApiError::invalid(
                "`status: \"snoozed\"` needs `snoozed_until`, the time to wake up",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "`snoozed_until` goes with `status: \"snoozed\"` only",
            ));
        }
        (Some(status), None) => Some(StatusChange::To(status)),
    };
    let assignee = match body.assignee_id {
        None => None,
        Some(None) => Some(None),
        Some(Some(assignee_id)) => {
            let assignee_id = assignee_id.trim();
            if assignee_id.is_empty() {
                return Err(ApiError::invalid(
                    "`assignee_id` must be a person's id, or null to unassign",
                ));
            }
            let person = state
                .store
                .person(assignee_id)
                .await?
                .ok_or_else(|| ApiError::not_found("assignee"))?;
            if person.role != Role::Internal {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "assignee_not_internal",
                    "conversations are assigned to internal users only",
                ));
            }
            Some(Some(person.id))
        }
    };
    let subject = match &body.subject {
        Some(_) => Some(human_text(&body.subject, "subject", &text::SUBJECT)?.to_string()),
        None => None,
    };
    let actor_id = actor(&state, body.actor_id.as_deref(), Actor::InternalOnly).await?;
    if let Some(archived) = body.archived {
        state
            .store
            .set_archived(&id, archived, actor_id.as_deref())
            .await?;
    }
    if let Some((kind, company)) = &access {
        state
            .store
            .set_conversation_type(&id, *kind, company.as_deref(), actor_id.as_deref())
            .await?;
    }
    let conversation = state
        .store
        .change_lifecycle(
            &id,
            &LifecycleChange {
                status,
                assignee,
                subject,
                actor_id,
            },
        )
        .await?;
    let participants = state.store.participants(&id).await?;
    Ok((
        StatusCode::OK,
        Json(conversation_json(&conversation, &participants)),
    ))
}

fn event_json(e: &ConversationEvent) -> Value {
    json!({
        "id": e.id, "kind": e.kind, "actor_id": e.actor_id, "data": e.data,
        "created_at": rfc3339(e.created_at),
    })
}

pub async fn list_events(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult {
    if state.store.conversation(&id).await?.is_none() {
        return Err(ApiError::not_found("conversation"));
    }
    let events = state.store.conversation_events(&id).await?;
    Ok((
        StatusCode::OK,
        Json(json!({"events": events.iter().map(event_json).collect::<Vec<_>>()})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorBody {
    actor_id: Option<String>,
}

#[derive(Deserialize)]
pub struct ActorQuery {
    actor_id: Option<String>,
}

/// The actor of a message deletion or restore: in an optional JSON body `{actor_id}` or the
/// query (both: they must agree).
fn actor_of(
    query: Result<Query<ActorQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Option<String>, ApiError> {
    let Query(query) = query?;
    let body = body.map_err(|e| ApiError::new(e.status(), "bad_body", e.body_text()))?;
    let in_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let parsed: ActorBody = serde_json::from_slice(&body).map_err(|e| {
            let status = if e.is_data() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_REQUEST
            };
            ApiError::new(status, "bad_json", format!("the body is not valid: {e}"))
        })?;
        parsed.actor_id
    };
    match (in_body, query.actor_id) {
        (Some(a), Some(b)) if a.trim() != b.trim() => Err(ApiError::invalid(
            "`actor_id` differs between the body and the query",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

pub async fn delete_message(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    query: Result<Query<ActorQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let actor_id = actor_of(query, body)?;
    let actor_id = actor(&state, actor_id.as_deref(), Actor::Anyone).await?;
    let deleted = state.store.delete_message(&id, actor_id.as_deref()).await?;
    Ok((
        StatusCode::OK,
        Json(json!({
            "id": deleted.id, "conversation_id": deleted.conversation_id, "deleted": true,
            "deleted_at": rfc3339(deleted.deleted_at), "deleted_by": deleted.deleted_by,
        })),
    ))
}

/// `POST /messages/{id}/restore`: a deleted message comes back (an internal user or the admin;
/// nothing is emailed again). `409` when it is not deleted.
pub async fn restore_message(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    query: Result<Query<ActorQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let actor_id = actor_of(query, body)?;
    let actor_id = actor(&state, actor_id.as_deref(), Actor::InternalOnly).await?;
    let conversation_id = state
        .store
        .restore_message(&id, actor_id.as_deref())
        .await?;
    Ok((
        StatusCode::OK,
        Json(json!({"id": id, "conversation_id": conversation_id, "deleted": false})),
    ))
}
