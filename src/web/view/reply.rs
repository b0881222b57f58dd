//! The reply form of a conversation page (`POST /c/{id}/messages`): text, a note or a message,
//! and files. The page posts `multipart/form-data` (RFC 7578); an urlencoded post (an older
//! page, a form without files) is read as before.

use super::auth::require_poster;
use super::conversation::{back, open};
use super::history::human_size;
use super::page::{MAX_BODY, Web, WebError, WebForm, WebPath, field};
use super::text::Text;
use crate::domain::{MessageKind, Source};
use crate::web::AppState;
use crate::web::service::messages::{self, Draft, PostError};
use crate::web::service::uploads::{self, BodyKind, FormError, FormShape, MAX_SHORT_FIELD, Upload};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
    kind: Option<String>,
}

pub async fn post_reply(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    request: Request,
) -> Result<Response, WebError> {
    // The session first: a body (files and all) is read only for a signed-in viewer.
    let viewer = require_poster(&state, &headers).await?;
    let t = viewer.text();
    let (form, files) = read(&state, &headers, request, t)
        .await
        .map_err(|e| e.in_language(t))?;
    viewer.check_csrf(&form.csrf)?;
    open(&state, &viewer, &id).await?;
    let person = viewer
        .person()
        .ok_or_else(|| WebError::bad_form(t.admin_cannot_write).in_language(t))?;
    let kind = match form.kind.as_deref().unwrap_or("message") {
        "message" => MessageKind::Message,
        "note" => MessageKind::Note,
        other => return Err(WebError::bad_form(format!("kind: {other:?}")).in_language(t)),
    };
    // Files may come without text; without files the reply is required as it always was.
    let text = match form.body.trim() {
        "" if !files.is_empty() => String::new(),
        _ => field(&form.body, t.reply, MAX_BODY)
            .map_err(|e| e.in_language(t))?
            .replace("\r\n", "\n"),
    };
    let draft = Draft { kind, text, files };
    let posted = messages::post(&state, &id, person, draft, Source::Web)
        .await
        .map_err(|e| post_error(e, t).in_language(t))?;
    // No read mark here: the page this redirects to marks what it shows, including anything
    // that arrived while the reply was being typed.
    Ok(back(&id, &format!("#{}", posted.message.id)))
}

/// The form and its files, by the request's Content-Type.
async fn read(
    state: &AppState,
    headers: &HeaderMap,
    request: Request,
    t: &Text,
) -> Result<(ReplyForm, Vec<Upload>), WebError> {
    if BodyKind::of(headers) != BodyKind::Multipart {
        let request = uploads::text_only(request);
        let WebForm(form) = WebForm::<ReplyForm>::from_request(request, state).await?;
        return Ok((form, Vec::new()));
    }
    let multipart = Multipart::from_request(request, state)
        .await
        .map_err(|r| WebError::bad_request(r.body_text()))?;
    let shape = FormShape {
        fields: &[
            ("csrf", MAX_SHORT_FIELD),
            ("body", MAX_BODY),
            ("kind", MAX_SHORT_FIELD),
        ],
        max_file: state.max_attachment_size,
    };
    let form = uploads::read_form(multipart, &shape)
        .await
        .map_err(|e| form_error(e, t))?;
    let reply = ReplyForm {
        csrf: form.field("csrf").unwrap_or("").to_string(),
        body: form.field("body").unwrap_or("").to_string(),
        kind: form.field("kind").map(str::to_string),
    };
    Ok((reply, form.files))
}

fn form_error(err: FormError, t: &Text) -> WebError {
    match err {
        FormError::FileTooLarge { name, limit } => {
            WebError::too_large(format!("{name}: {} {}", t.at_most, human(limit)))
        }
        FormError::TooLarge(limit) => {
            WebError::too_large(format!("{} {}", t.at_most, human(limit)))
        }
        FormError::Malformed(why) => WebError::bad_request(why),
        FormError::Field { field, why } => {
            let label = if field == "body" { t.reply } else { field };
            WebError::bad_form(format!("{label}: {why}"))
        }
    }
}

fn human(bytes: usize) -> String {
    human_size(i64::try_from(bytes).unwrap_or(i64::MAX))
}

fn post_error(err: PostError, t: &Text) -> WebError {
    match err {
        PostError::NoteByClient => WebError::forbidden(),
        // `open` found them a participant; removed since.
        PostError::NotAParticipant => WebError::not_found(),
        PostError::Empty => WebError::bad_form(format!("{}: required", t.reply)),
        PostError::Files(e) => {
            tracing::error!(error = %e, "storing an uploaded file failed");
            WebError::unavailable()
        }
        PostError::Store(other) => other.into(),
    }
}
