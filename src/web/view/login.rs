//! Getting in without a password: the magic link of a notification email, a 6-digit code by
//! email (`/login`), or the admin token (`/admin`); and signing out.
//!
//! `/login` answers the same for an unknown address as for a known one, so it reveals nothing
//! about who is here.

use super::auth::{
    Viewer, anonymous_csrf, check_anonymous_csrf, csrf_cookie, require_form, set_cookie, sign_in,
    viewer,
};
use super::page::{Chrome, Web, WebError, WebForm, WebPath, render, safe_next, visitor_text};
use super::text::Text;
use crate::domain::EmailAddress;
use crate::store::{CodeCheck, SessionVia};
use crate::web::listener::Peer;
use crate::web::service::codes::{send_code, verify_code};
use askama::Template;
use axum::extract::{ConnectInfo, Query, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "web/login.html")]
struct LoginPage<'a> {
    chrome: Chrome,
    next: &'a str,
    email: &'a str,
    error: &'a str,
}

#[derive(Template)]
#[template(path = "web/code.html")]
struct CodePage<'a> {
    chrome: Chrome,
    next: &'a str,
    email: &'a str,
    error: &'a str,
}

#[derive(Template)]
#[template(path = "web/switch.html")]
struct SwitchPage<'a> {
    chrome: Chrome,
    name: &'a str,
    action: &'a str,
}

#[derive(Template)]
#[template(path = "web/admin_login.html")]
struct AdminLoginPage<'a> {
    chrome: Chrome,
    error: &'a str,
}

#[derive(Template)]
#[template(path = "web/link_invalid.html")]
struct LinkInvalidPage {
    chrome: Chrome,
}

/// A pre-sign-in page, with the visitor's CSRF cookie set when it is new.
pub(super) fn anonymous_page(
    headers: &HeaderMap,
    secure: bool,
    status: StatusCode,
    build: impl FnOnce(Chrome) -> Response,
    title: fn(&Text) -> &'static str,
) -> Response {
    anonymous_page_in(visitor_text(headers), headers, secure, status, build, title)
}

/// [`anonymous_page`] in a language known otherwise (the person a link was for).
pub(super) fn anonymous_page_in(
    t: &'static Text,
    headers: &HeaderMap,
    secure: bool,
    status: StatusCode,
    build: impl FnOnce(Chrome) -> Response,
    title: fn(&Text) -> &'static str,
) -> Response {
    let (csrf, fresh) = anonymous_csrf(headers);
    let mut response = build(Chrome::anonymous(t, title(t), csrf.clone()));
    *response.status_mut() = status;
    if fresh {
        set_cookie(&mut response, &csrf_cookie(&csrf, secure));
    }
    response
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_page(
    state: Web,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    if let Ok(Some(_)) = viewer(&state, &headers).await {
        return Redirect::to(&next).into_response();
    }
    anonymous_page(
        &headers,
        state.secure_cookies,
        StatusCode::OK,
        |chrome| {
            render(
                StatusCode::OK,
                LoginPage {
                    chrome,
                    next: &next,
                    email: "",
                    error: "",
                },
            )
        },
        |t| t.sign_in,
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    next: Option<String>,
}

/// Sends a code when the address is someone's; answers the same page either way.
pub async fn login_submit(
    state: Web,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    WebForm(form): WebForm<LoginForm>,
) -> Result<Response, WebError> {
    check_anonymous_csrf(&headers, &form.csrf)?;
    let next = safe_next(form.next.as_deref());
    let t = visitor_text(&headers);
    let address = match EmailAddress::parse(form.email.trim()) {
        Ok(address) => address,
        Err(e) => {
            let email = form.email.trim().to_string();
            let error = format!("{}: {e}", t.email);
            return Ok(anonymous_page(
                &headers,
                state.secure_cookies,
                StatusCode::UNPROCESSABLE_ENTITY,
                |chrome| {
                    render(
                        StatusCode::OK,
                        LoginPage {
                            chrome,
                            next: &next,
                            email: &email,
                            error: &error,
                        },
                    )
                },
                |t| t.sign_in,
            ));
        }
    };
    // Looked up and sent in the background, so the answer comes as fast, and the same, for an
    // unknown address as for a known one (failures are logged, never shown).
    let background = state.0.clone();
    let ip = peer.ip().to_string();
    let lookup = address.clone();
    tokio::spawn(async move {
        let result: Result<(), crate::web::error::ApiError> = async {
            if let Some(person) = background.store.person_by_email(&lookup).await?
                && !background
                    .store
                    .link_policy(&person.id)
                    .await?
                    .is_some_and(|p| p.blocked)
            {
                // Sent or rate limited: the page says codes are limited either way.
                send_code(&background, &person, Some(&lookup), &ip).await?;
            }
            Ok(())
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(error = err.message(), "sending a sign-in code failed");
        }
    });
    Ok(code_page(
        &state,
        &headers,
        StatusCode::OK,
        &next,
        &address.to_string(),
        "",
    ))
}

/// The page that asks for the code (after `/login`, or again after a wrong one).
fn code_page(
    state: &crate::web::AppState,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    email: &str,
    error: &str,
) -> Response {
    anonymous_page(
        headers,
        state.secure_cookies,
        status,
        |chrome| {
            render(
                StatusCode::OK,
                CodePage {
                    chrome,
                    next,
                    email,
                    error,
                },
            )
        },
        |t| t.sign_in,
    )
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    code: String,
    next: Option<String>,
}

pub async fn code_submit(
    state: Web,
    headers: HeaderMap,
    WebForm(form): WebForm<CodeForm>,
) -> Result<Response, WebError> {
    check_anonymous_csrf(&headers, &form.csrf)?;
    let next = safe_next(form.next.as_deref());
    let t = visitor_text(&headers);
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).collect();
    let email = form.email.trim().to_string();
    // One answer for every failure (wrong, expired, used, unknown address): how many attempts
    // are left would tell whether the address is known.
    let again = |error: &str| {
        code_page(
            &state,
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            &next,
            &email,
            error,
        )
    };
    let Ok(address) = EmailAddress::parse(&email) else {
        return Ok(again(t.wrong_code));
    };
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(again(t.code_hint));
    }
    match verify_code(&state, &address, &code).await? {
        CodeCheck::Verified { person_id, .. } => {
            if state
                .store
                .link_policy(&person_id)
                .await?
                .is_none_or(|p| p.blocked)
            {
                return Ok(again(t.wrong_code));
            }
            sign_in(&state, Some(&person_id), SessionVia::Code, &next).await
        }
        CodeCheck::Wrong { .. } | CodeCheck::NoCode => Ok(again(t.wrong_code)),
    }
}

/// Where a sign-in link leads: the conversation, or with `?file=<attachment id>` (a file too
/// big for the email) that file, which the download checks the person may have. Only our own
/// id characters go into the path, so the link never redirects elsewhere.
fn link_target(conversation_id: &str, query: Option<&str>) -> String {
    let file = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("file="))
        .filter(|id| crate::web::error::is_id_like(id));
    match file {
        Some(id) => format!("/attachments/{id}"),
        None => format!("/c/{conversation_id}"),
    }
}

/// `/m/{token}` from a notification email: signs its recipient in and opens the
/// conversation (or a file of it). The address is verified by following it.
pub async fn magic_link(
    state: Web,
    headers: HeaderMap,
    WebPath(token): WebPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    // In the language of the person the link was for when it is genuine (expired, or
    // revoked), else the browser's.
    let language = async {
        let person = state.links.magic_link_recipient(&token)?;
        let settings = state.store.person_settings(&person).await.ok()??;
        Some(super::text::text(settings.locale))
    };
    let t = language.await.unwrap_or_else(|| visitor_text(&headers));
    let invalid = || {
        anonymous_page_in(
            t,
            &headers,
            state.secure_cookies,
            StatusCode::BAD_REQUEST,
            |chrome| render(StatusCode::BAD_REQUEST, LinkInvalidPage { chrome }),
            |t| t.link_invalid_title,
        )
    };
    let Some(person) = live_link(&state, &token).await? else {
        return Ok(invalid());
    };
    let to = link_target(&person.1, query.as_deref());
    let person = person.0;
    match viewer(&state, &headers).await? {
        // Already signed in as this person (a second click): no new session.
        Some(Viewer::Person {
            person: current, ..
        }) if current.id == person.id => Ok(Redirect::to(&to).into_response()),
        // Signed in as someone else (a link someone forwarded, say): ask before switching.
        Some(current) => Ok(render(
            StatusCode::OK,
            SwitchPage {
                chrome: Chrome::for_viewer(&current, current.text().switch_title),
                name: &person.name,
                action: &match &query {
                    Some(q) => format!("/m/{token}?{q}"),
                    None => format!("/m/{token}"),
                },
            },
        )),
        None => {
            state.store.mark_verified(&person.id).await?;
            sign_in(&state, Some(&person.id), SessionVia::MagicLink, &to).await
        }
    }
}

/// The person (and conversation) a sign-in link still works for: valid, unexpired, not
/// issued before their last "sign out everywhere", and not blocked.
async fn live_link(
    state: &crate::web::AppState,
    token: &str,
) -> Result<Option<(crate::store::Person, String)>, WebError> {
    let Some(link) = state.links.verify_magic(token, state.store.now()) else {
        return Ok(None);
    };
    let Some(policy) = state.store.link_policy(&link.person_id).await? else {
        return Ok(None);
    };
    if policy.blocked || link.issued_at < policy.valid_after {
        return Ok(None);
    }
    Ok(state
        .store
        .person(&link.person_id)
        .await?
        .map(|p| (p, link.conversation_id)))
}

/// "Continue as …" after a link for someone else than who is signed in (a form of the current
/// session, so another site cannot switch people behind their back).
pub async fn magic_link_switch(
    state: Web,
    headers: HeaderMap,
    WebPath(token): WebPath<String>,
    RawQuery(query): RawQuery,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    let current = require_form(&state, &headers, &form.csrf).await?;
    let Some((person, conversation_id)) = live_link(&state, &token).await? else {
        return Err(WebError::not_found().in_language(current.text()));
    };
    state.store.revoke_session(&current.session().id).await?;
    state.store.mark_verified(&person.id).await?;
    sign_in(
        &state,
        Some(&person.id),
        SessionVia::MagicLink,
        &link_target(&conversation_id, query.as_deref()),
    )
    .await
}

pub async fn admin_page(state: Web, headers: HeaderMap) -> Response {
    anonymous_page(
        &headers,
        state.secure_cookies,
        StatusCode::OK,
        |chrome| render(StatusCode::OK, AdminLoginPage { chrome, error: "" }),
        |t| t.admin_sign_in,
    )
}

#[derive(Deserialize)]
pub struct AdminForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

/// Signs in with the admin token. Failures are counted per client IP: after a few, each
/// attempt must wait twice as long as the one before (`429` with `Retry-After`), whatever it
/// holds — so guessing stays slow even across several gateway processes.
pub async fn admin_submit(
    state: Web,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    WebForm(form): WebForm<AdminForm>,
) -> Result<Response, WebError> {
    check_anonymous_csrf(&headers, &form.csrf)?;
    let ip = peer.ip().to_string();
    let t = visitor_text(&headers);
    let page = |status: StatusCode, error: &str| {
        anonymous_page(
            &headers,
            state.secure_cookies,
            status,
            |chrome| render(StatusCode::OK, AdminLoginPage { chrome, error }),
            |t| t.admin_sign_in,
        )
    };
    if let Some(wait) = state.store.sign_in_wait(&ip).await? {
        let seconds = (wait + 999) / 1000;
        let mut response = page(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("{} {seconds} s.", t.too_many_attempts),
        );
        if let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string()) {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        return Ok(response);
    }
    let expected = state.admin_token.as_bytes();
    let same: bool = subtle::ConstantTimeEq::ct_eq(form.token.trim().as_bytes(), expected).into();
    if !same || expected.is_empty() {
        state.store.record_sign_in_failure(&ip).await?;
        tracing::warn!(client = %ip, "a wrong admin token on /admin");
        return Ok(page(StatusCode::UNAUTHORIZED, t.wrong_admin_token));
    }
    sign_in(&state, None, SessionVia::AdminToken, "/").await
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

/// Signs this session out (server-side: the cookie stops working everywhere it was copied).
pub async fn logout(
    state: Web,
    headers: HeaderMap,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    state.store.revoke_session(&viewer.session().id).await?;
    signed_out(&state)
}

/// Signs the person out on every device.
pub async fn logout_everywhere(
    state: Web,
    headers: HeaderMap,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    match viewer.person() {
        Some(person) => {
            state.store.revoke_sessions_of(&person.id).await?;
        }
        None => {
            state.store.revoke_admin_sessions().await?;
        }
    }
    signed_out(&state)
}

fn signed_out(state: &crate::web::AppState) -> Result<Response, WebError> {
    let mut response = Redirect::to("/login").into_response();
    set_cookie(
        &mut response,
        &super::auth::session_cookie("", 0, state.secure_cookies),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::link_target;

    #[test]
    fn a_sign_in_link_opens_its_conversation_or_one_of_our_files_never_elsewhere() {
        assert_eq!(link_target("cnv_1", None), "/c/cnv_1");
        assert_eq!(
            link_target("cnv_1", Some("file=att_2")),
            "/attachments/att_2"
        );
        assert_eq!(
            link_target("cnv_1", Some("x=1&file=att_2")),
            "/attachments/att_2"
        );
        assert_eq!(
            link_target("cnv_1", Some("file=..%2F..%2Fadmin")),
            "/c/cnv_1"
        );
        assert_eq!(link_target("cnv_1", Some("file=//evil.test")), "/c/cnv_1");
        assert_eq!(link_target("cnv_1", Some("file=")), "/c/cnv_1");
    }
}
