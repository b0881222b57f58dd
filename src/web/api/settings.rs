//! Notification settings, read marks, mutes, verification codes (JSON API), and the RFC 8058
//! one-click unsubscribe page (no login: the signed link is the authority).

use super::json::person_with_settings;
use crate::domain::{EmailAddress, Locale, NotifyMode, rfc3339};
use crate::store::{CodeCheck, CodeIssue};
use crate::web::AppState;
use crate::web::error::{ApiError, ApiPath};
use crate::web::listener::Peer;
use crate::web::service::codes::{send_code, verify_code};
use askama::Template;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

type Body<T> = Result<Json<T>, JsonRejection>;

#[derive(Deserialize)]
pub struct PatchPerson {
    /// A new display name (the text rule applies).
    name: Option<String>,
    notifications: Option<String>,
    locale: Option<String>,
    blocked: Option<bool>,
    /// An IANA name (`Europe/Paris`); "" goes back to the gateway's default.
    time_zone: Option<String>,
}

pub async fn patch_person(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body<PatchPerson>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let notifications = body
        .notifications
        .as_deref()
        .map(|v| {
            NotifyMode::parse(v).ok_or_else(|| {
                ApiError::invalid("`notifications` must be \"digest\", \"immediate\" or \"off\"")
            })
        })
        .transpose()?;
    let locale = body
        .locale
        .as_deref()
        .map(|v| {
            Locale::parse(v).ok_or_else(|| ApiError::invalid("`locale` must be \"en\" or \"fr\""))
        })
        .transpose()?;
    let time_zone = body
        .time_zone
        .as_deref()
        .map(|v| match v.trim() {
            "" => Ok(None),
            v => crate::domain::TimeZone::parse(v).map(Some).ok_or_else(|| {
                ApiError::invalid(
                    "`time_zone` must be an IANA time zone such as \"Europe/Paris\" or \"UTC\" (\"\" for the default)",
                )
            }),
        })
        .transpose()?;
    let name = match &body.name {
        Some(_) => Some(super::json::human_text(
            &body.name,
            "name",
            &crate::domain::text::NAME,
        )?),
        None => None,
    };
    if !state
        .store
        .update_person_settings(&id, notifications, locale, body.blocked)
        .await?
    {
        return Err(ApiError::not_found("person"));
    }
    if let Some(name) = name {
        state.store.rename_person(&id, name).await?;
    }
    if let Some(zone) = time_zone {
        state.store.set_time_zone(&id, zone).await?;
    }
    if body.blocked == Some(true) {
        // Blocked people lose the web view at once: sessions and sign-in links already sent.
        state.store.revoke_sessions_of(&id).await?;
    }
    let person = state
        .store
        .person(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))?;
    Ok(Json(person_with_settings(&state, &person).await?))
}

#[derive(Deserialize)]
pub struct PersonRef {
    person_id: Option<String>,
    muted: Option<bool>,
}

pub(super) fn person_id(body: &PersonRef) -> Result<&str, ApiError> {
    body.person_id
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid("`person_id` is required"))
}

/// The person has read the conversation (the web view calls this when a page is opened).
pub async fn mark_read(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body<PersonRef>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body?;
    if state.store.mark_caught_up(&id, person_id(&body)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("participant"))
    }
}

pub async fn mute(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body<PersonRef>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body?;
    if state
        .store
        .set_muted(&id, person_id(&body)?, body.muted.unwrap_or(true))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("participant"))
    }
}

/// Signs a person out of the web view everywhere (server-side revocation of their sessions).
pub async fn revoke_sessions(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .store
        .person(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))?;
    let revoked = state.store.revoke_sessions_of(&id).await?;
    Ok(Json(json!({"revoked": revoked})))
}

/// Emails a 6-digit code to the person (ahead of any queued notification).
pub async fn request_code(
    State(state): State<AppState>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let person = state
        .store
        .person(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))?;
    match send_code(&state, &person, None, &peer.ip().to_string()).await? {
        CodeIssue::Issued { expires_at } => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"sent": true, "expires_at": rfc3339(expires_at)})),
        )
            .into_response()),
        CodeIssue::RateLimited { retry_after_ms } => Ok(ApiError::rate_limited(
            retry_after_ms,
            "too many codes requested",
        )),
    }
}

#[derive(Deserialize)]
pub struct CheckCode {
    email: Option<String>,
    code: Option<String>,
}

pub async fn check_code(
    State(state): State<AppState>,
    body: Body<CheckCode>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let address = EmailAddress::parse(body.email.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::invalid(format!("`email`: {e}")))?;
    let code = body.code.as_deref().unwrap_or("").trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid("`code` must be 6 digits"));
    }
    match verify_code(&state, &address, code).await? {
        CodeCheck::Verified {
            person_id,
            verified_at,
        } => Ok(Json(json!({
            "verified": true, "person_id": person_id, "verified_at": rfc3339(verified_at),
        }))),
        CodeCheck::Wrong { attempts_left } => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_code",
            format!("wrong code; {attempts_left} attempt(s) left"),
        )),
        CodeCheck::NoCode => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_code",
            "no valid code for this address: it expired, was used, or had too many wrong attempts",
        )),
    }
}

#[derive(Template)]
#[template(path = "web/unsubscribe.html")]
struct UnsubscribePage<'a> {
    lang: &'a str,
    title: &'a str,
    text: &'a str,
    button: &'a str,
    action: &'a str,
    show_form: bool,
}

fn page(status: StatusCode, page: UnsubscribePage) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "rendering the unsubscribe page failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn invalid_link() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        UnsubscribePage {
            lang: "en",
            title: "This link has expired",
            text: "This unsubscribe link is not valid any more. Use the link in a more recent email.",
            button: "",
            action: "",
            show_form: false,
        },
    )
}

/// GET shows a confirmation button and changes nothing: link scanners and previews follow
/// GETs, so only a POST acts (RFC 8058 §3.2).
pub async fn unsubscribe_page(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Response {
    if state
        .links
        .verify_unsubscribe(&token, state.store.now())
        .is_none()
    {
        return invalid_link();
    }
    let action = format!("/unsubscribe/{token}");
    page(
        StatusCode::OK,
        UnsubscribePage {
            lang: "en",
            title: "Stop emails about this conversation?",
            text: "You will no longer receive emails about this conversation. Other conversations are not affected.",
            button: "Stop these emails",
            action: &action,
            show_form: true,
        },
    )
}

/// RFC 8058 one-click: a POST to the List-Unsubscribe URL mutes the conversation for that
/// person, without login.
pub async fn unsubscribe(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Response {
    let Some((conversation_id, person_id)) =
        state.links.verify_unsubscribe(&token, state.store.now())
    else {
        return invalid_link();
    };
    match state
        .store
        .set_muted(&conversation_id, &person_id, true)
        .await
    {
        Ok(_) => page(
            StatusCode::OK,
            UnsubscribePage {
                lang: "en",
                title: "Done",
                text: "You will no longer receive emails about this conversation.",
                button: "",
                action: "",
                show_form: false,
            },
        ),
        Err(err) => {
            tracing::error!(error = %err, "muting failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily unavailable, try again",
            )
                .into_response()
        }
    }
}
