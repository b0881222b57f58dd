//! The admin's page of sending domains (`/admin/domains`): every record to publish with its
//! status in colour and a copy button, "check now", adding a domain, how each one's emails
//! present themselves (display name, notifications address, language), and why its mail will
//! land in spam while its records are not right. Admin sessions only.

use super::auth::{Viewer, require_form, require_viewer};
use super::login::CsrfOnly;
use super::page::{Chrome, Web, WebError, WebForm, WebPath, render};
use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

pub struct RecordRow {
    pub kind: String,
    pub host: String,
    pub value: String,
    pub purpose: String,
    pub status: String,
    pub found: String,
}

pub struct DomainRow {
    pub name: String,
    pub reply_domain: String,
    pub checked: Option<String>,
    pub verified: bool,
    pub records: Vec<RecordRow>,
    /// "support@example.com (or forwarded to support@reply.example.com), strangers: verify".
    pub inbox: Option<String>,
    pub default: bool,
    pub display_name: String,
    /// The local part of its notifications address.
    pub notifications_local: String,
    pub notifications_address: String,
    /// "" (the default language), "en" or "fr".
    pub language: String,
    /// Why its mail will land in spam (empty: it will not).
    pub spam_reasons: Vec<String>,
    /// What can never verify as configured (an MX to `localhost`).
    pub problems: Vec<String>,
    /// Its DKIM keys, newest generation last.
    pub keys: Vec<KeyRow>,
}

pub struct KeyRow {
    pub selector: String,
    pub algorithm: String,
    /// `active`, `pending` (published, then activated) or `retired`.
    pub status: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "web/domains.html")]
struct DomainsPage<'a> {
    chrome: Chrome,
    domains: Vec<DomainRow>,
    error: &'a str,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn row(view: &Value) -> DomainRow {
    DomainRow {
        name: text(&view["name"]),
        reply_domain: text(&view["reply_domain"]),
        checked: view["last_checked_at"].as_str().map(str::to_string),
        verified: view["verified"] == true,
        default: view["default"] == true,
        display_name: text(&view["display_name"]),
        notifications_local: text(&view["notifications_address"])
            .split('@')
            .next()
            .unwrap_or("")
            .to_string(),
        notifications_address: text(&view["notifications_address"]),
        language: text(&view["default_language"]),
        spam_reasons: strings(&view["deliverability"]["reasons"]),
        problems: strings(&view["problems"]),
        keys: view["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| KeyRow {
                selector: text(&k["selector"]),
                algorithm: text(&k["algorithm"]),
                status: text(&k["status"]),
                created: text(&k["created_at"]),
            })
            .collect(),
        inbox: view["inbox"].as_object().map(|inbox| {
            format!(
                "{} (or forwarded to {}), strangers: {}",
                text(&inbox["address"]),
                text(&inbox["forward_to"]),
                text(&inbox["strangers"])
            )
        }),
        records: view["records"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| RecordRow {
                kind: text(&r["type"]),
                host: text(&r["host"]),
                value: text(&r["value"]),
                purpose: text(&r["purpose"]),
                status: text(&r["status"]),
                found: r["found"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" | "),
            })
            .collect(),
    }
}

/// Admin sessions only: a person is refused (403), in their language.
pub(super) fn admin_only(viewer: &Viewer) -> Result<(), WebError> {
    match viewer {
        Viewer::Admin { .. } => Ok(()),
        Viewer::Person { .. } => Err(WebError::forbidden().in_language(viewer.text())),
    }
}

async fn page(
    state: &crate::web::AppState,
    viewer: &Viewer,
    status: StatusCode,
    error: &str,
) -> Result<Response, WebError> {
    let domains = state
        .domains
        .list()
        .await
        .map_err(crate::web::error::ApiError::from)?
        .iter()
        .map(row)
        .collect();
    let mut response = render(
        status,
        DomainsPage {
            chrome: Chrome::for_viewer(viewer, "Sending domains"),
            domains,
            error,
        },
    );
    // This page alone runs a script: our own copy.js, nothing inline.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    Ok(response)
}

pub async fn domains_page(state: Web, headers: HeaderMap) -> Response {
    let viewer = match require_viewer(&state, &headers, "/admin/domains").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        admin_only(&viewer)?;
        page(&state, &viewer, StatusCode::OK, "").await
    }
    .await;
    result.unwrap_or_else(|e| e.into_response())
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn add_domain(
    state: Web,
    headers: HeaderMap,
    WebForm(form): WebForm<AddForm>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    admin_only(&viewer)?;
    match state.domains.add(&form.name, None).await {
        Ok(view) => {
            state.signer_reload();
            Ok(Redirect::to(&format!("/admin/domains#{}", text(&view["name"]))).into_response())
        }
        Err(crate::sending_domains::DomainError::Invalid(message)) => {
            page(&state, &viewer, StatusCode::UNPROCESSABLE_ENTITY, &message).await
        }
        Err(crate::sending_domains::DomainError::Store(crate::store::StoreError::Conflict(
            message,
        ))) => page(&state, &viewer, StatusCode::CONFLICT, message).await,
        Err(other) => Err(crate::web::error::ApiError::from(other).into()),
    }
}

#[derive(Deserialize)]
pub struct SenderForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    notifications_local: String,
    #[serde(default)]
    language: String,
}

/// How a domain's emails present themselves; an empty field goes back to the default.
pub async fn sender_settings(
    state: Web,
    headers: HeaderMap,
    WebPath(name): WebPath<String>,
    WebForm(form): WebForm<SenderForm>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    admin_only(&viewer)?;
    fn given(v: &str) -> Option<Option<&str>> {
        Some(Some(v.trim()).filter(|v| !v.is_empty()))
    }
    let change = crate::sending_domains::SendingChange {
        display_name: given(&form.display_name),
        notifications_local: given(&form.notifications_local),
        default_language: given(&form.language),
    };
    match state.domains.set_sending(&name, change).await {
        Ok(Some(view)) => {
            Ok(Redirect::to(&format!("/admin/domains#{}", text(&view["name"]))).into_response())
        }
        Ok(None) => Err(WebError::not_found()),
        Err(crate::sending_domains::DomainError::Invalid(message)) => {
            page(&state, &viewer, StatusCode::UNPROCESSABLE_ENTITY, &message).await
        }
        Err(other) => Err(crate::web::error::ApiError::from(other).into()),
    }
}

pub async fn check_domain(
    state: Web,
    headers: HeaderMap,
    WebPath(name): WebPath<String>,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    admin_only(&viewer)?;
    match state
        .domains
        .check(&name)
        .await
        .map_err(crate::web::error::ApiError::from)?
    {
        Some(view) => {
            Ok(Redirect::to(&format!("/admin/domains#{}", text(&view["name"]))).into_response())
        }
        None => Err(WebError::not_found()),
    }
}

/// "Rotate keys": a new generation of DKIM keys, pending until its records are published and
/// it is activated.
pub async fn rotate_keys(
    state: Web,
    headers: HeaderMap,
    WebPath(name): WebPath<String>,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    admin_only(&viewer)?;
    let view = state
        .domains
        .rotate(&name)
        .await
        .map_err(crate::web::error::ApiError::from)?
        .ok_or_else(WebError::not_found)?;
    state.signer_reload();
    Ok(Redirect::to(&format!("/admin/domains#{}", text(&view["name"]))).into_response())
}

/// Signs with a pending generation from now on (the older active one is retired).
pub async fn activate_key(
    state: Web,
    headers: HeaderMap,
    WebPath((name, selector)): WebPath<(String, String)>,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    admin_only(&viewer)?;
    match state.domains.activate(&name, &selector).await {
        Ok(Some(view)) => {
            state.signer_reload();
            Ok(Redirect::to(&format!("/admin/domains#{}", text(&view["name"]))).into_response())
        }
        Ok(None) => Err(WebError::not_found()),
        Err(crate::sending_domains::DomainError::Invalid(message)) => {
            page(&state, &viewer, StatusCode::UNPROCESSABLE_ENTITY, &message).await
        }
        Err(other) => Err(crate::web::error::ApiError::from(other).into()),
    }
}
