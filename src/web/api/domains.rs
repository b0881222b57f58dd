//! `/api/v1/domains`: sending domains, the DNS records to publish, checks, key rotation.
//! - `POST /domains {name, reply_domain?}` → 201 `{name, reply_domain, records: [{type, host,
//!   value, purpose, status, found}], keys, verified, last_checked_at}`
//! - `GET /domains`, `GET /domains/{name}`; `POST /domains/{name}/check` checks now
//! - `POST /domains/{name}/keys`: a new pair of selectors, pending (publish, then activate)
//! - `POST /domains/{name}/keys/{selector}/activate`: sign with it, retire the previous keys
//! - `PATCH /domains/{name} {inbox?: "support" | null, strangers?: "refuse" | "verify" |
//!   "accept", display_name?, notifications_local?, default_language?: "en" | "fr"}`: the
//!   inbox address and what it does with mail from strangers; how its emails present
//!   themselves (`null`: back to the default)
//! - `GET /blocked-domains`, `POST /blocked-domains {domain}`, `DELETE /blocked-domains/{domain}`

use crate::domain::StrangerPolicy;
use crate::sending_domains::{DomainError, SendingChange};
use crate::web::AppState;
use crate::web::error::{ApiError, ApiPath};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

type ApiResult = Result<(StatusCode, Json<Value>), ApiError>;

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> ApiError {
        match err {
            DomainError::Invalid(message) => ApiError::invalid(message),
            DomainError::Store(e) => e.into(),
            DomainError::Key(e) => {
                tracing::error!(error = %e, "DKIM key failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "key_failure",
                    "could not generate or load the DKIM keys",
                )
            }
        }
    }
}

fn found(value: Option<Value>) -> ApiResult {
    value
        .map(|v| (StatusCode::OK, Json(v)))
        .ok_or_else(|| ApiError::not_found("domain"))
}

#[derive(Deserialize)]
pub struct AddDomain {
    name: Option<String>,
    reply_domain: Option<String>,
}

pub async fn add_domain(
    State(state): State<AppState>,
    body: Result<Json<AddDomain>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let name = body
        .name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("`name` is required"))?;
    let view = state
        .domains
        .add(name, body.reply_domain.as_deref())
        .await?;
    state.signer_reload();
    Ok((StatusCode::CREATED, Json(view)))
}

pub async fn list_domains(State(state): State<AppState>) -> ApiResult {
    Ok((
        StatusCode::OK,
        Json(json!({"domains": state.domains.list().await?})),
    ))
}

pub async fn get_domain(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult {
    found(state.domains.get(&name).await?)
}

pub async fn check_domain(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult {
    found(state.domains.check(&name).await?)
}

pub async fn rotate_keys(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult {
    let (_, Json(view)) = found(state.domains.rotate(&name).await?)?;
    state.signer_reload();
    Ok((StatusCode::CREATED, Json(view)))
}

pub async fn activate_key(
    State(state): State<AppState>,
    ApiPath((name, selector)): ApiPath<(String, String)>,
) -> ApiResult {
    let result = found(state.domains.activate(&name, &selector).await?);
    state.signer_reload();
    result
}

/// `{inbox?, strangers?}`: an absent key changes nothing, `"inbox": null` removes the inbox.
pub async fn update_domain(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let fields = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("the body must be a JSON object"))?;
    const FIELDS: [&str; 5] = [
        "inbox",
        "strangers",
        "display_name",
        "notifications_local",
        "default_language",
    ];
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid(format!(
            "unknown field `{unknown}` (expected one of {})",
            FIELDS.map(|f| format!("`{f}`")).join(", ")
        )));
    }
    let text = |key: &'static str| -> Result<Option<Option<&str>>, ApiError> {
        match fields.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s.as_str()))),
            Some(_) => Err(ApiError::invalid(format!(
                "`{key}` must be a string or null"
            ))),
        }
    };
    let sending = SendingChange {
        display_name: text("display_name")?,
        notifications_local: text("notifications_local")?,
        default_language: text("default_language")?,
    };
    let inbox = match fields.get("inbox") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(local)) => Some(Some(local.as_str())),
        Some(_) => return Err(ApiError::invalid("`inbox` must be a string or null")),
    };
    let strangers =
        match fields.get("strangers") {
            None => None,
            Some(value) => Some(value.as_str().and_then(StrangerPolicy::parse).ok_or_else(
                || ApiError::invalid("`strangers` must be \"refuse\", \"verify\" or \"accept\""),
            )?),
        };
    if sending.display_name.is_some()
        || sending.notifications_local.is_some()
        || sending.default_language.is_some()
    {
        // The inbox address is checked first, so a bad one changes nothing.
        if let Some(Some(local)) = inbox {
            crate::sending_domains::parse_inbox_local(local).map_err(ApiError::invalid)?;
        }
        if state.domains.set_sending(&name, sending).await?.is_none() {
            return Err(ApiError::not_found("domain"));
        }
    }
    found(state.domains.set_inbox(&name, inbox, strangers).await?)
}

#[derive(Deserialize)]
pub struct BlockDomain {
    domain: Option<String>,
}

pub async fn list_blocked(State(state): State<AppState>) -> ApiResult {
    Ok((
        StatusCode::OK,
        Json(json!({"domains": state.domains.blocked().await?})),
    ))
}

/// 201 when newly blocked, 200 when it already was.
pub async fn block_domain(
    State(state): State<AppState>,
    body: Result<Json<BlockDomain>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let domain = body
        .domain
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("`domain` is required"))?;
    let created = state.domains.block(domain).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(
            json!({"domain": domain.trim().trim_end_matches('.').to_ascii_lowercase(), "blocked": true}),
        ),
    ))
}

pub async fn unblock_domain(
    State(state): State<AppState>,
    ApiPath(domain): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if state.domains.unblock(&domain).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("blocked domain"))
    }
}
