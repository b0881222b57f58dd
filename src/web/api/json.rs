//! What the JSON handlers share: the result types, the JSON shape of each resource, the
//! required-field and text-rule checks, and the actor rule of lifecycle changes.

use crate::domain::text;
use crate::domain::{Role, rfc3339};
use crate::store::{
    Attachment, Conversation, ConversationStatus, InboundEntry, Message, Participant, Person,
};
use crate::web::AppState;
use crate::web::error::ApiError;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde_json::{Value, json};

pub(super) type Body<T> = Result<Json<T>, JsonRejection>;
pub(super) type ApiResult = Result<(StatusCode, Json<Value>), ApiError>;

pub(super) const MAX_BODY: usize = 1024 * 1024;

pub(super) fn ok(value: Value) -> ApiResult {
    Ok((StatusCode::OK, Json(value)))
}

pub(super) fn created(value: Value) -> ApiResult {
    Ok((StatusCode::CREATED, Json(value)))
}

pub(super) fn participant_json(p: &Participant) -> Value {
    json!({
        "person_id": p.person.id, "name": p.person.name, "email": p.person.email,
        "role": p.person.role.as_str(), "added_at": rfc3339(p.added_at),
    })
}

pub(super) fn conversation_json(c: &Conversation, participants: &[Participant]) -> Value {
    json!({
        "id": c.id, "subject": c.subject, "created_by": c.created_by,
        "created_at": rfc3339(c.created_at), "updated_at": rfc3339(c.updated_at),
        "status": c.status.as_str(), "assignee_id": c.assignee_id,
        "snoozed_until": c.snoozed_until.map(rfc3339),
        // The sending domain its emails go out from; null: the default one.
        "domain": c.domain,
        "type": c.kind.as_str(), "company_id": c.company_id,
        "archived": c.archived_at.is_some(), "archived_at": c.archived_at.map(rfc3339),
        "participants": participants.iter().map(participant_json).collect::<Vec<_>>(),
    })
}

pub(super) fn attachment_json(a: &Attachment) -> Value {
    json!({
        "id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size,
        "inline": a.inline, "content_id": a.content_id, "omitted": a.omitted,
        "url": a.omitted.is_none().then(|| format!("/api/v1/attachments/{}", a.id)),
    })
}

pub(super) fn message_json(m: &Message, attachments: &[Attachment]) -> Value {
    json!({
        "id": m.id, "conversation_id": m.conversation_id, "author_id": m.author_id,
        "kind": m.kind.as_str(), "body_text": m.body_text, "body_html": m.body_html,
        "trimmed_text": m.trimmed_text, "source": m.source.as_str(),
        "created_at": rfc3339(m.created_at), "inbound_id": m.inbound_id,
        // Soft-deleted messages stay in this admin history, bodies included; the web view
        // hides them from clients.
        "deleted": m.deleted_at.is_some(), "deleted_at": m.deleted_at.map(rfc3339),
        "deleted_by": m.deleted_by,
        "raw_url": m.inbound_id.as_ref().map(|id| format!("/api/v1/inbound/{id}/raw")),
        "attachments": attachments.iter().map(attachment_json).collect::<Vec<_>>(),
    })
}

pub(super) fn inbound_json(e: &InboundEntry) -> Value {
    json!({
        "id": e.id, "received_at": rfc3339(e.received_at), "envelope_from": e.envelope_from,
        "recipients": e.recipients, "message_id": e.message_id, "outcome": e.outcome.as_str(),
        "conversation_id": e.conversation_id, "posted_message_id": e.posted_message_id,
        "detail": e.detail, "auth_results": e.auth_results,
        "unverified_sender": e.sender_unverified(),
    })
}

pub(super) fn required<'a>(
    value: &'a Option<String>,
    field: &str,
    max: usize,
) -> Result<&'a str, ApiError> {
    let v = value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid(format!("`{field}` is required")))?;
    if v.len() > max {
        return Err(ApiError::invalid(format!(
            "`{field}` is longer than {max} bytes"
        )));
    }
    if v.contains('\0') {
        return Err(ApiError::invalid(format!(
            "`{field}` contains a NUL character"
        )));
    }
    Ok(v)
}

/// A required human text field (name, subject), checked by the one text rule: 422 naming the
/// field otherwise.
pub(super) fn human_text<'a>(
    value: &'a Option<String>,
    field: &'static str,
    rule: &text::TextRule,
) -> Result<&'a str, ApiError> {
    text::check(value.as_deref().unwrap_or(""), rule).map_err(|e| ApiError::invalid_text(field, e))
}

pub(super) async fn existing_conversation(
    state: &AppState,
    id: &str,
) -> Result<Conversation, ApiError> {
    state
        .store
        .conversation(id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))
}

pub(super) fn parse_limit(limit: &Option<String>) -> Result<i64, ApiError> {
    match limit.as_deref() {
        None => Ok(50),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_query",
                    "`limit` must be between 1 and 1000",
                )
            }),
    }
}

/// A person with their settings, as the API shows them.
pub(super) async fn person_with_settings(
    state: &AppState,
    person: &Person,
) -> Result<Value, ApiError> {
    let settings = state
        .store
        .person_settings(&person.id)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))?;
    let companies: Vec<Value> = state
        .store
        .followed_companies(&person.id)
        .await?
        .iter()
        .map(|c| json!({"id": c.id, "name": c.name}))
        .collect();
    Ok(json!({
        "id": person.id, "email": person.email, "name": person.name, "role": person.role.as_str(),
        "created_at": rfc3339(person.created_at), "email_status": person.email_status.as_str(),
        "notifications": settings.notifications.as_str(), "locale": settings.locale.as_str(),
        "blocked": settings.blocked, "verified": settings.verified_at.is_some(),
        "verified_at": settings.verified_at.map(rfc3339),
        "time_zone": settings.time_zone.unwrap_or(state.default_time_zone).name(),
        "companies": companies,
    }))
}

/// Who may be named as the actor of a change.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Actor {
    Anyone,
    InternalOnly,
}

/// The actor named by a request, checked: unknown → 404; a client where only internal users
/// may act → 422. None when the request names no one.
pub(super) async fn actor(
    state: &AppState,
    actor_id: Option<&str>,
    who: Actor,
) -> Result<Option<String>, ApiError> {
    let Some(actor_id) = actor_id.map(str::trim) else {
        return Ok(None);
    };
    if actor_id.is_empty() {
        return Err(ApiError::invalid("`actor_id` must not be empty"));
    }
    let person = state
        .store
        .person(actor_id)
        .await?
        .ok_or_else(|| ApiError::not_found("actor"))?;
    if who == Actor::InternalOnly && person.role != Role::Internal {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "actor_not_internal",
            "only internal users make this change",
        ));
    }
    Ok(Some(person.id))
}

/// A `status` field or parameter: one of the four, or a 422 naming them.
pub(super) fn parse_status(value: Option<&str>) -> Result<Option<ConversationStatus>, ApiError> {
    value
        .map(|s| {
            ConversationStatus::parse(s.trim()).ok_or_else(|| {
                ApiError::invalid("`status` must be one of open, pending, closed, snoozed")
            })
        })
        .transpose()
}

/// `as=per_…`: the person whose rights a list or search applies; 422 naming `as` when unknown.
pub(super) async fn reader(
    state: &AppState,
    raw: Option<&str>,
) -> Result<Option<Person>, ApiError> {
    match raw.map(str::trim) {
        None => Ok(None),
        Some(id) => state
            .store
            .person(id)
            .await?
            .map(Some)
            .ok_or_else(|| ApiError::invalid_field("as", format!("no person {id:?}"))),
    }
}

/// `type=`: a conversation type, or a 422 naming `type`.
pub(super) fn parse_type(
    raw: Option<&str>,
) -> Result<Option<crate::domain::ConversationType>, ApiError> {
    raw.map(|raw| {
        crate::domain::ConversationType::parse(raw.trim()).ok_or_else(|| {
            ApiError::invalid_field("type", "`type` must be private, company or confidential")
        })
    })
    .transpose()
}
