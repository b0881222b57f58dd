//! `/confirm/{token}`: a stranger who wrote to an inbox address (stranger policy `verify`)
//! confirms that the From address is theirs, and their held email is delivered.
//!
//! The link opens a page with a button rather than confirming on GET: mail scanners and
//! link previews fetch every URL in an email, and a fetch must not deliver the message.

use super::auth::check_anonymous_csrf;
use super::login::{CsrfOnly, anonymous_page};
use super::page::{Chrome, Web, WebError, WebForm, WebPath, render};
use super::text::Text;
use crate::inbound::{Confirmed, ReleaseError};
use askama::Template;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

/// A page with one button that does what an emailed link asks (a GET never acts).
#[derive(Template)]
#[template(path = "web/confirm.html")]
pub(super) struct ConfirmPage<'a> {
    pub chrome: Chrome,
    pub action: &'a str,
    pub title: &'a str,
    pub intro: &'a str,
    pub button: &'a str,
}

/// What the button did, or why the link no longer works.
#[derive(Template)]
#[template(path = "web/confirmed.html")]
pub(super) struct ConfirmedPage<'a> {
    pub chrome: Chrome,
    pub valid: bool,
    pub title: &'a str,
    pub message: &'a str,
}

/// The page for a link that is invalid or expired, saying `why` in the visitor's language.
pub(super) fn invalid(
    state: &Web,
    headers: &HeaderMap,
    why: fn(&Text) -> &'static str,
) -> Response {
    anonymous_page(
        headers,
        state.secure_cookies,
        StatusCode::BAD_REQUEST,
        |chrome| {
            let message = why(chrome.t);
            render(
                StatusCode::BAD_REQUEST,
                ConfirmedPage {
                    chrome,
                    valid: false,
                    title: "",
                    message,
                },
            )
        },
        |t| t.link_invalid_title,
    )
}

/// The page of an emailed link: what it does (its title, then intro and button, in the
/// visitor's language) and one button that posts to `action`.
fn button_page(
    state: &Web,
    headers: &HeaderMap,
    action: &str,
    title: fn(&Text) -> &'static str,
    words: fn(&Text) -> (&'static str, &'static str),
) -> Response {
    anonymous_page(
        headers,
        state.secure_cookies,
        StatusCode::OK,
        |chrome| {
            let (title, (intro, button)) = (title(chrome.t), words(chrome.t));
            render(
                StatusCode::OK,
                ConfirmPage {
                    chrome,
                    action,
                    title,
                    intro,
                    button,
                },
            )
        },
        title,
    )
}

/// The page after the button worked.
pub(super) fn done(
    state: &Web,
    headers: &HeaderMap,
    title: fn(&Text) -> &'static str,
    message: fn(&Text) -> &'static str,
) -> Response {
    anonymous_page(
        headers,
        state.secure_cookies,
        StatusCode::OK,
        |chrome| {
            let (title, message) = (title(chrome.t), message(chrome.t));
            render(
                StatusCode::OK,
                ConfirmedPage {
                    chrome,
                    valid: true,
                    title,
                    message,
                },
            )
        },
        title,
    )
}

pub async fn confirm_page(
    state: Web,
    headers: HeaderMap,
    WebPath(token): WebPath<String>,
) -> Response {
    let live = state.links.verify_confirm(&token, state.store.now());
    match live {
        None => invalid(&state, &headers, |t| t.confirm_invalid),
        Some(_) => button_page(
            &state,
            &headers,
            &format!("/confirm/{token}"),
            |t| t.confirm_title,
            |t| (t.confirm_intro, t.confirm_button),
        ),
    }
}

pub async fn confirm_submit(
    state: Web,
    headers: HeaderMap,
    WebPath(token): WebPath<String>,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    check_anonymous_csrf(&headers, &form.csrf)?;
    let Some(inbound_id) = state.links.verify_confirm(&token, state.store.now()) else {
        return Ok(invalid(&state, &headers, |t| t.confirm_invalid));
    };
    match state.inbound.confirm(&inbound_id).await {
        // Confirming twice (a double click, a second device) is fine: it is delivered.
        Ok(Confirmed::Delivered { .. } | Confirmed::AlreadyDone) => Ok(done(
            &state,
            &headers,
            |t| t.confirmed_title,
            |t| t.confirmed,
        )),
        Err(
            ReleaseError::NotFound
            | ReleaseError::NotHeld
            | ReleaseError::UnknownSender
            | ReleaseError::NotUnknownSender
            | ReleaseError::NoSender,
        ) => Ok(invalid(&state, &headers, |t| t.confirm_invalid)),
        Err(ReleaseError::Store(err)) => Err(err.into()),
    }
}

/// `/addresses/confirm/{token}`: the link emailed to a person's new address. A page with a
/// button, like the stranger's confirmation (a GET never acts).
pub async fn address_page(
    state: Web,
    headers: HeaderMap,
    WebPath(token): WebPath<String>,
) -> Response {
    let live = state.links.verify_address(&token, state.store.now());
    match live {
        None => invalid(&state, &headers, |t| t.address_invalid),
        Some(_) => button_page(
            &state,
            &headers,
            &format!("/addresses/confirm/{token}"),
            |t| t.address_title,
            |t| (t.address_intro, t.address_button),
        ),
    }
}

pub async fn address_submit(
    state: Web,
    headers: HeaderMap,
    WebPath(token): WebPath<String>,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    check_anonymous_csrf(&headers, &form.csrf)?;
    match crate::web::service::addresses::confirm(&state, &token).await? {
        true => Ok(done(
            &state,
            &headers,
            |t| t.address_confirmed_title,
            |t| t.address_confirmed,
        )),
        false => Ok(invalid(&state, &headers, |t| t.address_invalid)),
    }
}
