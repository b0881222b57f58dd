//! Settings (`/settings`): email notifications (digest, immediate, off), language, one's
//! addresses (add with a confirmation link, remove, make primary), muted conversations,
//! signing out everywhere. And attachment downloads for signed-in viewers.

use super::auth::{require_form, require_viewer, viewer};
use super::conversation::may_download;
use super::page::{Chrome, Web, WebError, WebForm, WebPath, render};
use crate::domain::{EmailAddress, Locale, NotifyMode};
use crate::store::ListScope;
use askama::Template;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

pub struct Muted {
    pub id: String,
    pub subject: String,
}

/// One of the viewer's other addresses, as the settings page lists it.
pub struct AddressRow {
    pub email: String,
    pub verified: bool,
}

#[derive(Template)]
#[template(path = "web/settings.html")]
struct SettingsPage {
    chrome: Chrome,
    is_person: bool,
    mode: &'static str,
    locale: &'static str,
    /// The person's time zone, and the names to choose from.
    zone: &'static str,
    zones: Vec<&'static str>,
    muted: Vec<Muted>,
    primary: String,
    addresses: Vec<AddressRow>,
    saved: bool,
    sent: bool,
}

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
    sent: Option<String>,
}

pub async fn settings_page(
    state: Web,
    headers: HeaderMap,
    query: Result<axum::extract::Query<SavedQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let viewer = match require_viewer(&state, &headers, "/settings").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let t = viewer.text();
    let result = async {
        let (primary, addresses) = match viewer.person() {
            Some(person) => (
                person.email.clone(),
                state
                    .store
                    .addresses(&person.id)
                    .await?
                    .into_iter()
                    .map(|a| AddressRow {
                        email: a.email,
                        verified: a.verified_at.is_some(),
                    })
                    .collect(),
            ),
            None => (String::new(), Vec::new()),
        };
        let (mode, muted, zone) = match viewer.person() {
            Some(person) => {
                let settings = state
                    .store
                    .person_settings(&person.id)
                    .await?
                    .ok_or_else(WebError::not_found)?;
                let muted = state
                    .store
                    .conversation_list(
                        ListScope::Person {
                            person_id: &person.id,
                            internal: viewer.is_staff(),
                        },
                        crate::store::Shelf::Both,
                        500,
                    )
                    .await?
                    .into_iter()
                    .filter(|c| c.muted)
                    .map(|c| Muted {
                        id: c.id,
                        subject: c.subject,
                    })
                    .collect();
                let zone = settings.time_zone.unwrap_or(state.default_time_zone);
                (settings.notifications.as_str(), muted, zone.name())
            }
            None => ("off", Vec::new(), state.default_time_zone.name()),
        };
        Ok::<_, WebError>(render(
            StatusCode::OK,
            SettingsPage {
                chrome: Chrome::for_viewer(&viewer, t.settings),
                is_person: viewer.person().is_some(),
                mode,
                locale: viewer.locale().as_str(),
                zone,
                zones: crate::domain::TimeZone::choices(),
                muted,
                primary,
                addresses,
                saved: query.as_ref().is_ok_and(|q| q.saved.is_some()),
                sent: query.as_ref().is_ok_and(|q| q.sent.is_some()),
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| e.in_language(t).into_response())
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    notifications: String,
    #[serde(default)]
    locale: String,
    #[serde(default)]
    time_zone: String,
}

pub async fn settings_submit(
    state: Web,
    headers: HeaderMap,
    WebForm(form): WebForm<SettingsForm>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    let t = viewer.text();
    let person = viewer
        .person()
        .ok_or_else(|| WebError::forbidden().in_language(t))?;
    let mode = NotifyMode::parse(form.notifications.trim()).ok_or_else(|| {
        WebError::bad_form(format!("{}: {:?}", t.notifications, form.notifications)).in_language(t)
    })?;
    let locale = Locale::parse(form.locale.trim()).ok_or_else(|| {
        WebError::bad_form(format!("{}: {:?}", t.language, form.locale)).in_language(t)
    })?;
    // Absent from the form (an older page): left as it is.
    let zone = match form.time_zone.trim() {
        "" => None,
        name => Some(
            crate::domain::TimeZone::parse(name)
                .ok_or_else(|| WebError::bad_form(t.bad_time_zone).in_language(t))?,
        ),
    };
    state
        .store
        .update_person_settings(&person.id, Some(mode), Some(locale), None)
        .await?;
    if let Some(zone) = zone {
        state.store.set_time_zone(&person.id, Some(zone)).await?;
    }
    Ok(Redirect::to("/settings?saved=1").into_response())
}

#[derive(Deserialize)]
pub struct AddressForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// The signed-in person and the address a settings form names.
async fn address_form(
    state: &Web,
    headers: &HeaderMap,
    form: &AddressForm,
) -> Result<(crate::store::Person, EmailAddress), WebError> {
    let viewer = require_form(state, headers, &form.csrf).await?;
    let t = viewer.text();
    let person = viewer
        .person()
        .cloned()
        .ok_or_else(|| WebError::forbidden().in_language(t))?;
    let email = EmailAddress::parse(form.email.trim())
        .map_err(|e| WebError::bad_form(format!("{}: {e}", t.add_address)).in_language(t))?;
    Ok((person, email))
}

/// Adds an address to the signed-in person's, unverified: a confirmation link goes to it.
pub async fn add_address(
    state: Web,
    headers: HeaderMap,
    WebForm(form): WebForm<AddressForm>,
) -> Result<Response, WebError> {
    let (person, email) = address_form(&state, &headers, &form).await?;
    crate::web::service::addresses::add(&state, &person, &email, None).await?;
    Ok(Redirect::to("/settings?sent=1").into_response())
}

pub async fn remove_address(
    state: Web,
    headers: HeaderMap,
    WebForm(form): WebForm<AddressForm>,
) -> Result<Response, WebError> {
    let (person, email) = address_form(&state, &headers, &form).await?;
    if !state.store.remove_address(&person.id, &email).await? {
        return Err(WebError::not_found());
    }
    Ok(Redirect::to("/settings?saved=1").into_response())
}

pub async fn make_primary(
    state: Web,
    headers: HeaderMap,
    WebForm(form): WebForm<AddressForm>,
) -> Result<Response, WebError> {
    let (person, email) = address_form(&state, &headers, &form).await?;
    state.store.make_primary(&person.id, &email).await?;
    Ok(Redirect::to("/settings?saved=1").into_response())
}

/// `/attachments/{id}`: for a signed-in viewer who may see its message, or with the admin
/// bearer token (the JSON API's clients). Inline images in sanitized HTML point here.
pub async fn attachment(state: Web, headers: HeaderMap, WebPath(id): WebPath<String>) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let result = async {
        let attachment = state.store.attachment(&id).await?;
        if let Some(presented) = bearer {
            let expected = state.admin_token.as_bytes();
            let same: bool = subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), expected).into();
            if !same || expected.is_empty() {
                return Ok(crate::web::error::ApiError::unauthorized().into_response());
            }
            return Ok(match attachment {
                Some(a) => crate::web::service::files::serve_attachment(&state, &a)
                    .await
                    .into_response(),
                None => crate::web::error::ApiError::not_found("attachment").into_response(),
            });
        }
        let Some(viewer) = viewer(&state, &headers).await? else {
            return Ok(crate::web::error::ApiError::unauthorized().into_response());
        };
        match attachment {
            Some(a) if may_download(&state, &viewer, &a).await? => {
                Ok(crate::web::service::files::serve_attachment(&state, &a)
                    .await
                    .map_err(WebError::from)
                    .into_response())
            }
            _ => Err(WebError::not_found().in_language(viewer.text())),
        }
    }
    .await;
    result.unwrap_or_else(|e: WebError| e.into_response())
}
