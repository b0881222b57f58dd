//! `/api/v1/domains`: sending domains, the DNS records to publish, checks, key rotation.
//! - `POST /domains {name, reply_domain?}` → 201 `{name, reply_domain, records: [{type, host,
//!   value, purpose, status, found}], keys, verified, last_checked_at}`
//! - `GET /domains`, `GET /domains/{name}`; `POST /domains/{name}/check` checks now
//! - `POST /domains/{name}/keys`: a new pair of selectors, pending (publish, then activate)
//! - `POST /domains/{name}/keys/{selector}/activate`: sign with it, retire the previous keys

use super::AppState;
use super::error::{ApiError, ApiPath};
use crate::domains::DomainError;
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
