//! The admin's mail room: the inbound log (`/admin/inbound`, filtered by outcome, each email's
//! original downloadable, held ones released or dropped right there) and the addresses we no
//! longer email (`/admin/suppressions`, with "reactivate"). Admin sessions only; the same as
//! `GET /api/v1/inbound`, `/suppressions` and their actions.

use super::admin::admin_only;
use super::auth::{require_form, require_viewer};
use super::login::CsrfOnly;
use super::page::{Chrome, Web, WebError, WebForm, WebPath, render};
use crate::domain::{InboundOutcome, rfc3339};
use crate::inbound::Release;
use crate::web::error::ApiError;
use askama::Template;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Entries per page of the log.
const LOG_LIMIT: i64 = 200;

pub struct Filter {
    pub value: &'static str,
    pub active: bool,
}

pub struct InboundRow {
    pub id: String,
    pub time: String,
    pub time_iso: String,
    pub from: String,
    pub to: String,
    pub outcome: &'static str,
    pub detail: String,
    pub conversation_id: Option<String>,
    /// Kept for review: release (or, from an unknown sender, post as who) or drop.
    pub held: bool,
    pub unknown_sender: bool,
    /// Held by a DMARC failure: the From may be forged.
    pub unverified: bool,
}

#[derive(Template)]
#[template(path = "web/inbound.html")]
struct InboundPage {
    chrome: Chrome,
    filters: Vec<Filter>,
    /// The outcome shown ("" for all).
    outcome: &'static str,
    rows: Vec<InboundRow>,
}

#[derive(Deserialize)]
pub struct OutcomeQuery {
    outcome: Option<String>,
}

pub async fn inbound_page(
    state: Web,
    headers: HeaderMap,
    query: Result<Query<OutcomeQuery>, QueryRejection>,
) -> Response {
    let viewer = match require_viewer(&state, &headers, "/admin/inbound").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        admin_only(&viewer)?;
        let Query(query) = query.map_err(|r| WebError::bad_request(r.body_text()))?;
        let outcome = match query.outcome.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(o) => Some(
                InboundOutcome::parse(o)
                    .ok_or_else(|| WebError::bad_form(format!("outcome: {o:?}")))?,
            ),
        };
        let zone = viewer.zone();
        let rows = state
            .store
            .inbound_log(outcome, LOG_LIMIT)
            .await?
            .into_iter()
            .map(|e| InboundRow {
                unverified: e.sender_unverified(),
                time: zone.date_time(e.received_at, viewer.locale()),
                time_iso: rfc3339(e.received_at),
                from: e.envelope_from,
                to: e.recipients.join(", "),
                outcome: e.outcome.as_str(),
                held: e.outcome.is_held(),
                unknown_sender: e.outcome == InboundOutcome::UnknownSender,
                detail: e.detail,
                conversation_id: e.conversation_id,
                id: e.id,
            })
            .collect();
        Ok::<_, WebError>(render(
            StatusCode::OK,
            InboundPage {
                chrome: Chrome::for_viewer(&viewer, "Inbound log"),
                filters: InboundOutcome::ALL
                    .into_iter()
                    .map(|o| Filter {
                        value: o.as_str(),
                        active: Some(o) == outcome,
                    })
                    .collect(),
                outcome: outcome.map_or("", InboundOutcome::as_str),
                rows,
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| e.in_language(viewer.text()).into_response())
}

#[derive(Deserialize)]
pub struct ReleaseForm {
    #[serde(default)]
    csrf: String,
    /// For an unknown sender's reply: `participant` or `sender`.
    #[serde(default, rename = "as")]
    release_as: String,
    /// The filter to come back to.
    #[serde(default)]
    outcome: String,
}

/// Where a form on the log goes back to: the same filter.
fn back_to_log(outcome: &str) -> Response {
    match InboundOutcome::parse(outcome.trim()) {
        Some(o) => Redirect::to(&format!("/admin/inbound?outcome={}", o.as_str())),
        None => Redirect::to("/admin/inbound"),
    }
    .into_response()
}

/// Releases a held email from the log: as it is, or an unknown sender's as the participant or
/// as its sender (added to the conversation first).
pub async fn release(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<ReleaseForm>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    admin_only(&viewer)?;
    let how = match form.release_as.as_str() {
        "" => Release::Vouched,
        "participant" => Release::AsParticipant,
        "sender" => Release::AsSender { actor_id: None },
        other => return Err(WebError::bad_form(format!("as: {other:?}"))),
    };
    match state.inbound.release(&id, how).await {
        Ok(answer) if answer.is_stored() => Ok(back_to_log(&form.outcome)),
        Ok(_) => Err(WebError::unavailable()),
        Err(e) => Err(ApiError::from(e).into()),
    }
}

/// Drops a held email from the log: kept for the record, never posted.
pub async fn drop_held(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<ReleaseForm>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    admin_only(&viewer)?;
    state
        .inbound
        .drop_held(&id)
        .await
        .map_err(|e| WebError::from(ApiError::from(e)))?;
    Ok(back_to_log(&form.outcome))
}

/// The original of any logged email, as received.
pub async fn original(state: Web, headers: HeaderMap, WebPath(id): WebPath<String>) -> Response {
    let viewer = match require_viewer(&state, &headers, "/admin/inbound").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        admin_only(&viewer)?;
        crate::web::service::files::original_email(&state.store, &id)
            .await?
            .ok_or_else(WebError::not_found)
    }
    .await;
    result.unwrap_or_else(|e| e.in_language(viewer.text()).into_response())
}

pub struct SuppressedRow {
    pub person_id: String,
    pub name: String,
    pub email: String,
    /// `bounced` (nothing is sent) or `soft_bounce` (failing, still sent).
    pub status: &'static str,
    pub soft_bounces: i64,
    pub last: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "web/suppressions.html")]
struct SuppressionsPage {
    chrome: Chrome,
    rows: Vec<SuppressedRow>,
}

pub async fn suppressions_page(state: Web, headers: HeaderMap) -> Response {
    let viewer = match require_viewer(&state, &headers, "/admin/suppressions").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        admin_only(&viewer)?;
        let zone = viewer.zone();
        let rows = state
            .store
            .suppressed_addresses(LOG_LIMIT)
            .await?
            .into_iter()
            .map(|s| SuppressedRow {
                status: s.person.email_status.as_str(),
                person_id: s.person.id,
                name: s.person.name,
                email: s.person.email,
                soft_bounces: s.soft_bounces,
                last: s
                    .last_bounce_at
                    .map(|at| zone.date_time(at, viewer.locale()))
                    .unwrap_or_default(),
                detail: s.detail.unwrap_or_default(),
            })
            .collect();
        Ok::<_, WebError>(render(
            StatusCode::OK,
            SuppressionsPage {
                chrome: Chrome::for_viewer(&viewer, "Suppressed addresses"),
                rows,
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| e.in_language(viewer.text()).into_response())
}

/// "Reactivate": the address is emailed again.
pub async fn reactivate(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    admin_only(&viewer)?;
    if state.store.person(&id).await?.is_none() {
        return Err(WebError::not_found());
    }
    // Already reactivated (a second click): nothing to do.
    state.store.reactivate_address(&id).await?;
    Ok(Redirect::to("/admin/suppressions").into_response())
}
