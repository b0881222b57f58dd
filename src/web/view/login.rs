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
use crate::store::{CodeCheck, LinkUse, SessionVia};
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
struct LinkInvalidPage<'a> {
    chrome: Chrome,
    title: &'a str,
    message: &'a str,
    login: &'a str,
}

#[derive(Template)]
#[template(path = "web/magic_link.html")]
struct MagicLinkPage<'a> {
    chrome: Chrome,
    name: &'a str,
    action: &'a str,
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
        // The emailed link ends in `#unread`; a fragment never reaches the server, and the
        // redirect after the sign-in button would lose it (RFC 9110 §10.2.2 carries a
        // fragment over only from the request it answers), so it is said again.
        None => format!("/c/{conversation_id}#unread"),
    }
}

/// `/m/{token}` from a notification email: opens the conversation (or a file of it) for its
/// recipient. Signed in as them already (a second click): straight there. Otherwise a page
/// with one button, which signs in ([`magic_link_submit`]): mail scanners and link previews
/// fetch every URL in an email, and such a fetch must neither use the link up nor sign a
/// browser in (nor can another site sign a visitor in as someone else: the button's form
/// carries the visitor's CSRF token).
pub async fn magic_link(
    state: Web,
    headers: HeaderMap,
    WebPath(token): WebPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    let t = link_language(&state, &headers, &token).await;
    let Some(live) = live_link(&state, &token).await? else {
        return Ok(link_refused(
            &state,
            &headers,
            t,
            LinkRefusal::Invalid,
            None,
        ));
    };
    let to = link_target(&live.link.conversation_id, query.as_deref());
    let action = link_action(&token, query.as_deref());
    match viewer(&state, &headers).await? {
        Some(Viewer::Person {
            person: current, ..
        }) if current.id == live.person.id => Ok(Redirect::to(&to).into_response()),
        // Signed in as someone else (a link someone forwarded, say): ask before switching.
        Some(current) => Ok(render(
            StatusCode::OK,
            SwitchPage {
                chrome: Chrome::for_viewer(&current, current.text().switch_title),
                name: &live.person.name,
                action: &action,
            },
        )),
        None if state
            .store
            .link_use(&live.link.digest, &browser_key(&anonymous_csrf(&headers).0))
            .await?
            == LinkUse::Used =>
        {
            Ok(link_refused(
                &state,
                &headers,
                t,
                LinkRefusal::Used,
                Some(&to),
            ))
        }
        None => Ok(anonymous_page_in(
            t,
            &headers,
            state.secure_cookies,
            StatusCode::OK,
            |chrome| {
                render(
                    StatusCode::OK,
                    MagicLinkPage {
                        chrome,
                        name: &live.person.name,
                        action: &action,
                    },
                )
            },
            |t| t.link_open_title,
        )),
    }
}

/// The button of a sign-in link ("Continue as …"), anonymous or from another person's session
/// (which it ends). The link opens one session: used once, a replay signs no one in.
pub async fn magic_link_submit(
    state: Web,
    headers: HeaderMap,
    WebPath(token): WebPath<String>,
    RawQuery(query): RawQuery,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    let t = link_language(&state, &headers, &token).await;
    let current = match viewer(&state, &headers).await? {
        Some(current) => {
            current.check_csrf(&form.csrf)?;
            Some(current)
        }
        None => {
            check_anonymous_csrf(&headers, &form.csrf)?;
            None
        }
    };
    let Some(live) = live_link(&state, &token).await? else {
        return Ok(link_refused(
            &state,
            &headers,
            t,
            LinkRefusal::Invalid,
            None,
        ));
    };
    let to = link_target(&live.link.conversation_id, query.as_deref());
    if let Some(Viewer::Person { person, .. }) = &current
        && person.id == live.person.id
    {
        return Ok(Redirect::to(&to).into_response());
    }
    let used = state
        .store
        .use_link(
            &live.link.digest,
            live.link.expires_at,
            &browser_key(&form.csrf),
        )
        .await?;
    if used == LinkUse::Used {
        return Ok(link_refused(
            &state,
            &headers,
            t,
            LinkRefusal::Used,
            Some(&to),
        ));
    }
    if let Some(current) = current {
        state.store.revoke_session(&current.session().id).await?;
    }
    state.store.mark_verified(&live.person.id).await?;
    sign_in(&state, Some(&live.person.id), SessionVia::MagicLink, &to).await
}

/// The language of the person a genuine link was for (even expired or used), else the
/// browser's.
async fn link_language(state: &Web, headers: &HeaderMap, token: &str) -> &'static Text {
    let person = async {
        let person = state.links.magic_link_recipient(token)?;
        let settings = state.store.person_settings(&person).await.ok()??;
        Some(super::text::text(settings.locale))
    };
    person.await.unwrap_or_else(|| visitor_text(headers))
}

/// What names this browser to `store::used_links`: a digest of the form token it posts (its
/// CSRF cookie's value, or its session's token), never the token itself.
fn browser_key(form_token: &str) -> String {
    crate::store::sha256_hex(form_token.trim().as_bytes())
}

fn link_action(token: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("/m/{token}?{q}"),
        None => format!("/m/{token}"),
    }
}

/// Why a sign-in link opens nothing.
enum LinkRefusal {
    /// Forged, expired, revoked by "sign out everywhere", or its person blocked.
    Invalid,
    /// It has already opened a session.
    Used,
}

/// The page of a link that opens nothing, pointing to sign-in by code (then on to `to`).
fn link_refused(
    state: &Web,
    headers: &HeaderMap,
    t: &'static Text,
    why: LinkRefusal,
    to: Option<&str>,
) -> Response {
    // 410: the link was genuine and is gone; 400: it never was, or no longer is.
    let (title, message, status): (fn(&Text) -> &'static str, _, _) = match why {
        LinkRefusal::Invalid => (
            |t| t.link_invalid_title,
            t.link_invalid,
            StatusCode::BAD_REQUEST,
        ),
        LinkRefusal::Used => (|t| t.link_used_title, t.link_used, StatusCode::GONE),
    };
    let login = match to {
        Some(to) => format!("/login?next={}", super::auth::percent_encode(to)),
        None => "/login".to_string(),
    };
    anonymous_page_in(
        t,
        headers,
        state.secure_cookies,
        status,
        |chrome| {
            let title = title(chrome.t);
            render(
                status,
                LinkInvalidPage {
                    chrome,
                    title,
                    message,
                    login: &login,
                },
            )
        },
        title,
    )
}

/// A sign-in link that still works, and whom it is for.
struct LiveLink {
    link: crate::domain::MagicLink,
    person: crate::store::Person,
}

/// The person (and conversation) a sign-in link still works for: valid, unexpired, not
/// issued before their last "sign out everywhere", and not blocked. Whether it was used
/// already is the caller's question (a second click in the browser it signed in is fine).
async fn live_link(
    state: &crate::web::AppState,
    token: &str,
) -> Result<Option<LiveLink>, WebError> {
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
        .map(|person| LiveLink { link, person }))
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
        assert_eq!(link_target("cnv_1", None), "/c/cnv_1#unread");
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
            "/c/cnv_1#unread"
        );
        assert_eq!(
            link_target("cnv_1", Some("file=//evil.test")),
            "/c/cnv_1#unread"
        );
        assert_eq!(link_target("cnv_1", Some("file=")), "/c/cnv_1#unread");
    }
}
