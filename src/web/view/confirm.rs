//! `/confirm/{token}`: a stranger who wrote to an inbox address (stranger policy `verify`)
//! confirms that the From address is theirs, and their held email is delivered.
//!
//! The link opens a page with a button rather than confirming on GET: mail scanners and
//! link previews fetch every URL in an email, and a fetch must not deliver the message.

use super::auth::check_anonymous_csrf;
use super::login::{CsrfOnly, anonymous_page};
use super::page::{Chrome, Web, WebError, WebForm, WebPath, render};
use crate::inbound::{Confirmed, ReleaseError};
use askama::Template;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

#[derive(Template)]
#[template(path = "web/confirm.html")]
struct ConfirmPage<'a> {
    chrome: Chrome,
    action: &'a str,
}

#[derive(Template)]
#[template(path = "web/confirmed.html")]
struct ConfirmedPage {
    chrome: Chrome,
    valid: bool,
}

fn invalid(state: &Web, headers: &HeaderMap) -> Response {
    anonymous_page(
        headers,
        state.secure_cookies,
        StatusCode::BAD_REQUEST,
        |chrome| {
            render(
                StatusCode::BAD_REQUEST,
                ConfirmedPage {
                    chrome,
                    valid: false,
                },
            )
        },
        |t| t.link_invalid_title,
    )
}

pub async fn confirm_page(
    state: Web,
    headers: HeaderMap,
    WebPath(token): WebPath<String>,
) -> Response {
    if state
        .links
        .verify_confirm(&token, state.store.now())
        .is_none()
    {
        return invalid(&state, &headers);
    }
    let action = format!("/confirm/{token}");
    anonymous_page(
        &headers,
        state.secure_cookies,
        StatusCode::OK,
        |chrome| {
            render(
                StatusCode::OK,
                ConfirmPage {
                    chrome,
                    action: &action,
                },
            )
        },
        |t| t.confirm_title,
    )
}

pub async fn confirm_submit(
    state: Web,
    headers: HeaderMap,
    WebPath(token): WebPath<String>,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    check_anonymous_csrf(&headers, &form.csrf)?;
    let Some(inbound_id) = state.links.verify_confirm(&token, state.store.now()) else {
        return Ok(invalid(&state, &headers));
    };
    match state.inbound.confirm(&inbound_id).await {
        // Confirming twice (a double click, a second device) is fine: it is delivered.
        Ok(Confirmed::Delivered { .. } | Confirmed::AlreadyDone) => Ok(anonymous_page(
            &headers,
            state.secure_cookies,
            StatusCode::OK,
            |chrome| {
                render(
                    StatusCode::OK,
                    ConfirmedPage {
                        chrome,
                        valid: true,
                    },
                )
            },
            |t| t.confirmed_title,
        )),
        Err(ReleaseError::NotFound | ReleaseError::NotHeld) => Ok(invalid(&state, &headers)),
        Err(ReleaseError::Store(err)) => Err(err.into()),
    }
}
