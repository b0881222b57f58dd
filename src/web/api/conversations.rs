//! People, conversations, participants, the inbound and outbox logs, held email, attachments
//! and health: the JSON handlers of `/api/v1` for them (messages: `messages`).

use super::json::{
    Actor, ApiResult, Body, actor, conversation_json, created, existing_conversation, human_text,
    inbound_json, ok, parse_limit, parse_status, participant_json, person_with_settings, required,
};
use crate::domain::text;
use crate::domain::{ConversationType, EmailAddress, Locale, Role, rfc3339};
use crate::store::{ConversationFilter, ConversationOptions, Cursor, NewPerson};
use crate::web::AppState;
use crate::web::error::{ApiError, ApiPath};
use crate::web::service::files::serve_attachment;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

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
    created(person_with_settings(&state, &person).await?)
}

pub async fn get_person(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult {
    let person = state
        .store
        .person(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))?;
    ok(person_with_settings(&state, &person).await?)
}

#[derive(Deserialize)]
pub struct CreateConversation {
    subject: Option<String>,
    created_by: Option<String>,
    #[serde(default)]
    participants: Vec<String>,
    /// The sending domain its emails go out from (default: the default domain).
    domain: Option<String>,
    /// `private` (the default without `company_id`), `company` (the default with one) or
    /// `confidential`.
    #[serde(rename = "type")]
    kind: Option<String>,
    company_id: Option<String>,
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
    let domain = match body.domain.as_deref() {
        None => None,
        Some(name) => {
            let name_given = name.trim().trim_end_matches('.');
            let mut domains = state.domains.live().now();
            if domains.named(name_given).is_none() {
                // Added by another process since this one last read the domains.
                state.domains.reload().await.map_err(|e| {
                    tracing::error!(error = %e, "reading the sending domains failed");
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "storage_unavailable",
                        "the sending domains could not be read",
                    )
                })?;
                domains = state.domains.live().now();
            }
            let Some(domain) = domains.named(name_given) else {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown_domain",
                    format!("{name:?} is not one of our sending domains (threadgate domain add)"),
                ));
            };
            Some(domain.name.clone())
        }
    };
    let (kind, company_id) =
        type_and_company(&state, body.kind.as_deref(), body.company_id.as_deref()).await?;
    let options = ConversationOptions {
        domain: domain.as_deref(),
        kind: Some(kind),
        company_id: company_id.as_deref(),
    };
    let conversation = state
        .store
        .create_conversation_with(subject, created_by, &body.participants, &options)
        .await?;
    let participants = state.store.participants(&conversation.id).await?;
    created(conversation_json(&conversation, &participants))
}

/// A conversation's type and company, checked together: `company` and `confidential` need a
/// company that exists, `private` has none; without a type, a company makes it `company`.
pub(super) async fn type_and_company(
    state: &AppState,
    kind: Option<&str>,
    company_id: Option<&str>,
) -> Result<(ConversationType, Option<String>), ApiError> {
    let kind = match kind {
        None if company_id.is_some() => ConversationType::Company,
        None => ConversationType::Private,
        Some(raw) => ConversationType::parse(raw).ok_or_else(|| {
            ApiError::invalid_field(
                "type",
                format!("`type` must be \"private\", \"company\" or \"confidential\", not {raw:?}"),
            )
        })?,
    };
    match (kind.has_company(), company_id) {
        (true, None) => Err(ApiError::invalid_field(
            "company_id",
            format!("a {} conversation needs `company_id`", kind.as_str()),
        )),
        (false, Some(_)) => Err(ApiError::invalid_field(
            "company_id",
            "a private conversation has no company: give `type` \"company\" or \"confidential\"",
        )),
        (false, None) => Ok((kind, None)),
        (true, Some(id)) => match state.store.company(id.trim()).await? {
            Some(company) => Ok((kind, Some(company.id))),
            None => Err(ApiError::invalid_field(
                "company_id",
                format!("no company {id:?}"),
            )),
        },
    }
}

#[derive(Deserialize)]
pub struct AsQuery {
    /// Answer as this person would see it: 404 unless they may read it.
    #[serde(rename = "as")]
    reader: Option<String>,
}

pub async fn get_conversation(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    query: Result<Query<AsQuery>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query?;
    let conversation = existing_conversation(&state, &id).await?;
    if let Some(reader) = query.reader.as_deref().map(str::trim)
        && !state.store.may_read(&id, reader).await?
    {
        return Err(ApiError::not_found("conversation"));
    }
    let participants = state.store.participants(&id).await?;
    ok(conversation_json(&conversation, &participants))
}

#[derive(Deserialize)]
pub struct AddParticipant {
    person_id: Option<String>,
    /// Instead of `person_id`: someone by address (a suggested participant), created as a
    /// client when new, named `name`.
    email: Option<String>,
    name: Option<String>,
    /// Who adds them (an internal user), for the conversation's events.
    actor_id: Option<String>,
}

pub async fn add_participant(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body<AddParticipant>,
) -> ApiResult {
    let Json(body) = body?;
    let actor = actor(&state, body.actor_id.as_deref(), Actor::InternalOnly).await?;
    let person_id = match (&body.person_id, &body.email) {
        (_, Some(email)) if body.person_id.is_none() => {
            let address = EmailAddress::parse(email.trim())
                .map_err(|e| ApiError::invalid(format!("`email` is not a valid address: {e}")))?;
            existing_conversation(&state, &id).await?;
            let name = match &body.name {
                Some(_) => Some(human_text(&body.name, "name", &text::NAME)?),
                None => None,
            };
            state.store.find_or_create_client(&address, name).await?.id
        }
        _ => required(&body.person_id, "person_id", 64)?.to_string(),
    };
    let participant = state
        .store
        .add_participant_by(&id, &person_id, actor.as_deref())
        .await?;
    created(participant_json(&participant))
}

/// `GET /conversations/{id}/suggested-participants`: people its emails copied (To, Cc) who do
/// not take part, for staff to add (`POST …/participants {"email"}`). Inbox conversations only.
pub async fn suggested_participants(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    existing_conversation(&state, &id).await?;
    let suggested = state.store.suggested_participants(&id).await?;
    let items: Vec<Value> = suggested
        .iter()
        .map(
            |(email, name, at)| json!({"email": email, "name": name, "suggested_at": rfc3339(*at)}),
        )
        .collect();
    ok(json!({"suggested": items}))
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
    let actor = actor(&state, query.actor_id.as_deref(), Actor::InternalOnly).await?;
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
pub struct Limit {
    limit: Option<String>,
}

#[derive(Deserialize)]
pub struct InboundQuery {
    limit: Option<String>,
    outcome: Option<String>,
}

/// `GET /inbound?outcome=held&limit=50`: the inbound log, newest first.
pub async fn list_inbound(
    State(state): State<AppState>,
    query: Result<Query<InboundQuery>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query?;
    let outcome = match query.outcome.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(o) => Some(crate::domain::InboundOutcome::parse(o).ok_or_else(|| {
            ApiError::invalid(format!("`outcome` {o:?} is not an inbound outcome"))
        })?),
    };
    let entries = state
        .store
        .inbound_log(outcome, parse_limit(&query.limit)?)
        .await?;
    ok(json!({"inbound": entries.iter().map(inbound_json).collect::<Vec<_>>()}))
}

/// `GET /suppressions?limit=`: addresses we no longer email (bounced) or that are failing,
/// most recent failure first.
pub async fn list_suppressions(
    State(state): State<AppState>,
    query: Result<Query<Limit>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query?;
    let suppressed = state
        .store
        .suppressed_addresses(parse_limit(&query.limit)?)
        .await?;
    let rows: Vec<Value> = suppressed
        .iter()
        .map(|s| {
            json!({
                "person_id": s.person.id, "email": s.person.email, "name": s.person.name,
                "email_status": s.person.email_status.as_str(), "soft_bounces": s.soft_bounces,
                "last_bounce_at": s.last_bounce_at.map(rfc3339), "detail": s.detail,
            })
        })
        .collect();
    ok(json!({"suppressions": rows}))
}

/// `POST /people/{id}/reactivate`: their address is emailed again. `409` when it was not
/// suppressed.
pub async fn reactivate_person(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    let person = state
        .store
        .person(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))?;
    if !state.store.reactivate_address(&person.id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "this address is not suppressed",
        ));
    }
    let person = state
        .store
        .person(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))?;
    ok(super::json::person_with_settings(&state, &person).await?)
}

#[derive(Deserialize)]
pub struct ConversationQuery {
    /// A person's id, or `none` for unassigned conversations.
    assignee: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    /// Only what this person may read, with their unread counts.
    #[serde(rename = "as")]
    reader: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    company: Option<String>,
    cursor: Option<String>,
    /// `true`: the archived ones only; `all`: both; absent or `false`: the inbox.
    archived: Option<String>,
}

/// `GET /conversations?as=per_…&assignee=<person id>|none&status=open&type=company&company=cmp_…
/// &archived=true&limit=50&cursor=…`: the newest activity first; `next_cursor` fetches the
/// next page.
pub async fn list_conversations(
    State(state): State<AppState>,
    query: Result<Query<ConversationQuery>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query?;
    let assignee = match query.assignee.as_deref().map(str::trim) {
        None => None,
        Some("none") => Some(None),
        Some(id) if crate::web::error::is_id_like(id) => Some(Some(id)),
        Some(_) => {
            return Err(ApiError::invalid(
                "`assignee` must be a person's id or `none`",
            ));
        }
    };
    let status = parse_status(query.status.as_deref())?;
    let reader = super::json::reader(&state, query.reader.as_deref())
        .await?
        .map(|p| p.id);
    let kind = super::json::parse_type(query.kind.as_deref())?;
    let after = query
        .cursor
        .as_deref()
        .map(|raw| {
            Cursor::decode(raw)
                .ok_or_else(|| ApiError::invalid_field("cursor", "not a cursor we gave"))
        })
        .transpose()?;
    let limit = parse_limit(&query.limit)?;
    let archived = match query.archived.as_deref().map(str::trim) {
        None | Some("" | "false") => crate::store::Shelf::Inbox,
        Some("true") => crate::store::Shelf::Archive,
        Some("all") => crate::store::Shelf::Both,
        Some(other) => {
            return Err(ApiError::invalid_field(
                "archived",
                format!("`archived` must be true, false or all, not {other:?}"),
            ));
        }
    };
    let filter = ConversationFilter {
        reader: reader.as_deref(),
        assignee,
        status,
        kind,
        company: query.company.as_deref().map(str::trim),
        archived,
    };
    let page = state
        .store
        .conversation_page(&filter, after.as_ref(), limit)
        .await?;
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last())
        .flatten()
        .map(|(c, _)| {
            Cursor {
                key: c.last_activity_at.to_string(),
                id: c.id.clone(),
            }
            .encode()
        });
    let items: Vec<Value> = page
        .iter()
        .map(|(c, unread)| {
            let mut item = conversation_json(c, &[]);
            if reader.is_some() {
                item["unread"] = json!(unread);
            }
            item
        })
        .collect();
    ok(json!({"conversations": items, "next_cursor": next_cursor}))
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

#[derive(Deserialize, Default)]
pub struct ReleaseBody {
    /// For an unknown sender's reply: `participant` or `sender`.
    #[serde(rename = "as")]
    release_as: Option<String>,
    actor_id: Option<String>,
}

/// Releases a held email: one held by DMARC quarantine or for a stranger as it is (no body),
/// an unknown sender's reply `{"as": "participant"}` or `{"as": "sender", "actor_id"}` (the
/// sender is added to the conversation first). It goes through the pipeline again, without the
/// authentication check, and is posted if nothing else stops it.
pub async fn release_inbound(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Result<Option<Json<ReleaseBody>>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    use crate::inbound::Release;
    // No body (or not JSON) releases as it is; a JSON body that does not parse is a 4xx.
    let body = body?.map(|Json(b)| b).unwrap_or_default();
    let actor_id = actor(&state, body.actor_id.as_deref(), Actor::InternalOnly).await?;
    let how = match body.release_as.as_deref() {
        None => Release::Vouched,
        Some("participant") => Release::AsParticipant,
        Some("sender") => Release::AsSender { actor_id },
        Some(_) => {
            return Err(ApiError::invalid(
                "`as` must be \"participant\" or \"sender\"",
            ));
        }
    };
    let answer = state
        .inbound
        .release(&id, how)
        .await
        .map_err(ApiError::from)?;
    ok(json!({
        "released": answer.is_stored(),
        // The reply the pipeline would have given over SMTP.
        "reply": String::from_utf8_lossy(crate::smtp::replies::answer(&answer).as_bytes()).trim_end(),
    }))
}

/// Drops a held email (an unknown sender's reply, a DMARC failure, a stranger's awaiting
/// confirmation): kept for the record (`dropped`), never posted.
pub async fn drop_inbound(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.inbound.drop_held(&id).await.map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The original email as received, for "view original".
pub async fn download_raw(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::response::Response, ApiError> {
    crate::web::service::files::original_email(&state.store, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("inbound email"))
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
