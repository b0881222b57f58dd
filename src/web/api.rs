//! The JSON API under `/api/v1` (the external contract in DESIGN.md). Handlers parse input into
//! domain types, call the store by intent, and shape the JSON; no SQL here.

use super::AppState;
use super::error::{ApiError, ApiPath};
use crate::domain::text;
use crate::domain::{EmailAddress, Locale, MessageKind, Role, Source, rfc3339};
use crate::store::{
    Attachment, Conversation, InboundEntry, Message, NewMessage, NewPerson, Participant,
};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

type Body<T> = Result<Json<T>, JsonRejection>;
type ApiResult = Result<(StatusCode, Json<Value>), ApiError>;

const MAX_BODY: usize = 1024 * 1024;

fn ok(value: Value) -> ApiResult {
    Ok((StatusCode::OK, Json(value)))
}

fn created(value: Value) -> ApiResult {
    Ok((StatusCode::CREATED, Json(value)))
}

fn participant_json(p: &Participant) -> Value {
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
        "participants": participants.iter().map(participant_json).collect::<Vec<_>>(),
    })
}

fn attachment_json(a: &Attachment) -> Value {
    json!({
        "id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size,
        "inline": a.inline, "content_id": a.content_id, "omitted": a.omitted,
        "url": a.omitted.is_none().then(|| format!("/api/v1/attachments/{}", a.id)),
    })
}

fn message_json(m: &Message, attachments: &[Attachment]) -> Value {
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

fn inbound_json(e: &InboundEntry) -> Value {
    json!({
        "id": e.id, "received_at": rfc3339(e.received_at), "envelope_from": e.envelope_from,
        "recipients": e.recipients, "message_id": e.message_id, "outcome": e.outcome.as_str(),
        "conversation_id": e.conversation_id, "posted_message_id": e.posted_message_id,
        "detail": e.detail, "auth_results": e.auth_results,
    })
}

fn required<'a>(value: &'a Option<String>, field: &str, max: usize) -> Result<&'a str, ApiError> {
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

async fn existing_conversation(state: &AppState, id: &str) -> Result<Conversation, ApiError> {
    state
        .store
        .conversation(id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))
}

#[derive(Deserialize)]
pub struct CreatePerson {
    email: Option<String>,
    name: Option<String>,
    role: Option<String>,
    locale: Option<String>,
}

pub async fn create_person(State(state): State<AppState>, body: Body<CreatePerson>) -> ApiResult {
    let Json(body) = body?;
    let email = EmailAddress::parse(required(&body.email, "email", 254)?)
        .map_err(|e| ApiError::invalid(format!("`email`: {e}")))?;
    // What we accept must also be deliverable by our mail library, or nobody could email them.
    email
        .to_string()
        .parse::<lettre::Address>()
        .map_err(|e| ApiError::invalid(format!("`email`: {e}")))?;
    let name = human_text(&body.name, "name", &text::NAME)?.to_string();
    let role = body.role.as_deref().unwrap_or("client");
    let role = Role::parse(role)
        .ok_or_else(|| ApiError::invalid("`role` must be \"internal\" or \"client\""))?;
    let locale = match body.locale.as_deref() {
        Some(v) => Locale::parse(v)
            .ok_or_else(|| ApiError::invalid("`locale` must be \"en\" or \"fr\""))?,
        None => state.default_locale,
    };
    let person = state
        .store
        .create_person(NewPerson { email, name, role })
        .await?;
    if locale != Locale::En {
        state
            .store
            .update_person_settings(&person.id, None, Some(locale), None)
            .await?;
    }
    created(super::settings::person_with_settings(&state, &person).await?)
}

pub async fn get_person(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult {
    let person = state
        .store
        .person(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))?;
    ok(super::settings::person_with_settings(&state, &person).await?)
}

#[derive(Deserialize)]
pub struct CreateConversation {
    subject: Option<String>,
    created_by: Option<String>,
    #[serde(default)]
    participants: Vec<String>,
}

pub async fn create_conversation(
    State(state): State<AppState>,
    body: Body<CreateConversation>,
) -> ApiResult {
    let Json(body) = body?;
    let subject = human_text(&body.subject, "subject", &text::SUBJECT)?;
    let created_by = required(&body.created_by, "created_by", 64)?;
    if body.participants.len() > 100 {
        return Err(ApiError::invalid("at most 100 participants"));
    }
    let conversation = state
        .store
        .create_conversation(subject, created_by, &body.participants)
        .await?;
    let participants = state.store.participants(&conversation.id).await?;
    created(conversation_json(&conversation, &participants))
}

pub async fn get_conversation(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    let conversation = existing_conversation(&state, &id).await?;
    let participants = state.store.participants(&id).await?;
    ok(conversation_json(&conversation, &participants))
}

#[derive(Deserialize)]
pub struct AddParticipant {
    person_id: Option<String>,
    /// Who adds them (an internal user), for the conversation's events.
    actor_id: Option<String>,
}

pub async fn add_participant(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body<AddParticipant>,
) -> ApiResult {
    let Json(body) = body?;
    let person_id = required(&body.person_id, "person_id", 64)?;
    let actor = super::lifecycle::actor(
        &state,
        body.actor_id.as_deref(),
        super::lifecycle::Actor::InternalOnly,
    )
    .await?;
    let participant = state
        .store
        .add_participant_by(&id, person_id, actor.as_deref())
        .await?;
    created(participant_json(&participant))
}

/// `?actor_id=` (an internal user) says who removes them, for the conversation's events.
#[derive(Deserialize)]
pub struct RemoveParticipant {
    actor_id: Option<String>,
}

pub async fn remove_participant(
    State(state): State<AppState>,
    ApiPath((id, person_id)): ApiPath<(String, String)>,
    query: Result<Query<RemoveParticipant>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let Query(query) = query?;
    let actor = super::lifecycle::actor(
        &state,
        query.actor_id.as_deref(),
        super::lifecycle::Actor::InternalOnly,
    )
    .await?;
    if state
        .store
        .remove_participant_by(&id, &person_id, actor.as_deref())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("participant"))
    }
}

#[derive(Deserialize)]
pub struct PostMessage {
    author_id: Option<String>,
    body: Option<String>,
    kind: Option<String>,
}

pub async fn post_message(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body<PostMessage>,
) -> ApiResult {
    let Json(body) = body?;
    let author_id = required(&body.author_id, "author_id", 64)?;
    let text = required(&body.body, "body", MAX_BODY)?.to_string();
    let kind = MessageKind::parse(body.kind.as_deref().unwrap_or("message"))
        .ok_or_else(|| ApiError::invalid("`kind` must be \"message\" or \"note\""))?;
    existing_conversation(&state, &id).await?;
    let author = state
        .store
        .person(author_id)
        .await?
        .ok_or_else(|| ApiError::not_found("author"))?;
    if kind == MessageKind::Note && author.role == Role::Client {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "notes_are_internal",
            "clients cannot write internal notes",
        ));
    }
    let message = state
        .store
        .append_message(NewMessage::typed(&id, &author.id, kind, text, Source::Api))
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound("participant") => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_a_participant",
                "the author does not take part in this conversation",
            ),
            other => other.into(),
        })?;
    created(message_json(&message, &[]))
}

pub async fn list_messages(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    existing_conversation(&state, &id).await?;
    let messages = state.store.messages(&id).await?;
    let attachments = state.store.attachments_of_conversation(&id).await?;
    let items: Vec<Value> = messages
        .iter()
        .map(|m| message_json(m, attachments.get(&m.id).map_or(&[][..], Vec::as_slice)))
        .collect();
    ok(json!({ "messages": items }))
}

#[derive(Deserialize)]
pub struct Limit {
    limit: Option<String>,
}

fn parse_limit(limit: &Option<String>) -> Result<i64, ApiError> {
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

pub async fn list_inbound(
    State(state): State<AppState>,
    query: Result<Query<Limit>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query?;
    let entries = state
        .store
        .recent_inbound(parse_limit(&query.limit)?)
        .await?;
    ok(json!({"inbound": entries.iter().map(inbound_json).collect::<Vec<_>>()}))
}

pub async fn list_outbox(
    State(state): State<AppState>,
    query: Result<Query<Limit>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query?;
    let entries = state
        .store
        .outbox_statuses(parse_limit(&query.limit)?)
        .await?;
    let items: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "recipient": e.recipient, "status": e.status, "attempts": e.attempts,
                "last_error": e.last_error, "next_attempt_at": rfc3339(e.next_attempt_at),
            })
        })
        .collect();
    ok(json!({"outbox": items}))
}

/// Types a browser could execute or render as a page from our origin: always served as bytes.
const ACTIVE_TYPES: &[&str] = &[
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
];

/// `Content-Disposition: attachment` with an ASCII fallback name and the exact UTF-8 name
/// (RFC 6266 §4.3, RFC 5987 encoding).
fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Downloads an attachment: its bytes with its type (active types as bytes), never rendered
/// as a page from our origin (`Content-Disposition: attachment`, `nosniff`, a sandbox CSP).
pub async fn download_attachment(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::response::Response, ApiError> {
    let attachment = state
        .store
        .attachment(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("attachment"))?;
    serve_attachment(&state, &attachment).await
}

/// An attachment's bytes as a download (the caller has checked who may have it).
pub(crate) async fn serve_attachment(
    state: &AppState,
    attachment: &Attachment,
) -> Result<axum::response::Response, ApiError> {
    if let Some(why) = &attachment.omitted {
        return Err(ApiError::new(
            StatusCode::GONE,
            "attachment_omitted",
            format!("this attachment was not kept: {why}"),
        ));
    }
    let data = attachment_bytes(state, attachment).await?;
    let content_type = if ACTIVE_TYPES.contains(&attachment.content_type.as_str()) {
        "application/octet-stream".to_string()
    } else {
        attachment.content_type.clone()
    };
    Ok(download_response(data, &content_type, &attachment.filename))
}

pub(crate) fn download_response(
    data: Vec<u8>,
    content_type: &str,
    filename: &str,
) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, content_disposition(filename)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".to_string(),
            ),
        ],
        data,
    )
        .into_response()
}

/// The attachment's bytes from the blob store; if the file is gone (another machine's data
/// dir, a restored backup), extracted again from the raw email, which is the source of truth.
async fn attachment_bytes(state: &AppState, attachment: &Attachment) -> Result<Vec<u8>, ApiError> {
    let unavailable = |e: std::io::Error| {
        tracing::error!(error = %e, "reading an attachment failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "attachment storage is unavailable",
        )
    };
    if let Some(data) = state
        .blobs
        .get(&attachment.sha256)
        .await
        .map_err(unavailable)?
    {
        return Ok(data);
    }
    let raw = match &attachment.inbound_id {
        Some(inbound_id) => state.store.raw_email(inbound_id).await?,
        None => None,
    };
    let part = raw
        .as_deref()
        .and_then(|raw| crate::inbound::parse::parse_email(raw, ""))
        .and_then(|parsed| {
            parsed
                .attachments
                .into_iter()
                .find(|p| crate::store::sha256_hex(&p.data) == attachment.sha256)
        })
        .ok_or_else(|| ApiError::not_found("attachment content"))?;
    state.blobs.put(&part.data).await.map_err(unavailable)?;
    Ok(part.data)
}

/// Releases a held email (DMARC quarantine): it goes through the pipeline again, without the
/// authentication check, and is posted if nothing else stops it.
pub async fn release_inbound(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    use crate::inbound::ReleaseError;
    match state.inbound.release(&id).await {
        Ok(answer) => ok(json!({
            "released": answer.is_stored(),
            // The reply the pipeline would have given over SMTP.
            "reply": String::from_utf8_lossy(crate::smtp::replies::answer(&answer).as_bytes()).trim_end(),
        })),
        Err(ReleaseError::NotFound) => Err(ApiError::not_found("inbound email")),
        Err(ReleaseError::NotHeld) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_held",
            "only held emails can be released",
        )),
        Err(ReleaseError::Store(e)) => Err(e.into()),
    }
}

/// The original email as received, for "view original".
pub async fn download_raw(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::response::Response, ApiError> {
    let raw = state
        .store
        .raw_email(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("inbound email"))?;
    Ok(download_response(
        raw,
        "message/rfc822",
        &format!("{id}.eml"),
    ))
}

fn loop_json(l: &crate::supervise::LoopReport) -> Value {
    json!({
        "name": l.name, "running": l.running, "restarts": l.restarts, "flapping": l.flapping,
        "healthy": l.healthy(), "last_failure": l.last_failure,
        "last_failure_at": l.last_failure_at.map(rfc3339),
    })
}

/// `GET /healthz` (no token): `ok`, or 503 naming each background loop that is down or keeps
/// restarting (see [`crate::supervise`]).
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, String) {
    let failing: Vec<String> = state
        .health
        .report()
        .iter()
        .filter(|l| !l.healthy())
        .map(|l| {
            let what = if l.running {
                "restarting repeatedly"
            } else {
                "down"
            };
            format!("{}: {what} ({} restarts)", l.name, l.restarts)
        })
        .collect();
    if failing.is_empty() {
        (StatusCode::OK, "ok".into())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("failing: {}", failing.join("; ")),
        )
    }
}

/// `GET /api/v1/health`: every background loop, with its restarts and last failure.
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let loops = state.health.report();
    let healthy = loops.iter().all(crate::supervise::LoopReport::healthy);
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "healthy": healthy,
            "loops": loops.iter().map(loop_json).collect::<Vec<_>>(),
        })),
    )
}

#[derive(Deserialize)]
pub struct FailureQuery {
    job: Option<String>,
    limit: Option<String>,
}

/// `GET /api/v1/failures[?job=&limit=]`: items of background work that failed (latest
/// first); each loop went on with the others.
pub async fn list_failures(
    State(state): State<AppState>,
    query: Result<Query<FailureQuery>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query?;
    let known = [
        crate::store::job::NOTIFY,
        crate::store::job::LIFECYCLE,
        crate::store::job::DOMAIN_CHECK,
        crate::store::job::OUTBOX,
    ];
    if let Some(job) = query.job.as_deref()
        && !known.contains(&job)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("`job` must be one of {}", known.join(", ")),
        ));
    }
    let failures = state
        .store
        .work_failures(query.job.as_deref(), parse_limit(&query.limit)?)
        .await?;
    let items: Vec<Value> = failures
        .iter()
        .map(|f| {
            json!({
                "job": f.job, "item": f.item, "reason": f.reason, "failures": f.failures,
                "first_failed_at": rfc3339(f.first_failed_at),
                "last_failed_at": rfc3339(f.last_failed_at),
            })
        })
        .collect();
    ok(json!({"failures": items}))
}
