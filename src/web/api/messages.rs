//! A conversation's messages: listing them, and posting one as JSON (text) or as
//! `multipart/form-data` (RFC 7578: text and files), told apart by the Content-Type.

use super::json::{
    ApiResult, MAX_BODY, created, existing_conversation, message_json, ok, required,
};
use crate::domain::{MessageKind, Source, rfc3339};
use crate::web::AppState;
use crate::web::error::{ApiError, ApiPath};
use crate::web::service::messages::{self, Draft, PostError};
use crate::web::service::uploads::{self, BodyKind, FormError, FormShape, MAX_SHORT_FIELD};
use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct PostMessage {
    author_id: Option<String>,
    body: Option<String>,
    kind: Option<String>,
}

/// `POST /conversations/{id}/messages`: JSON `{author_id, body, kind}`, or a multipart form
/// with the same fields (`body` optional when a file comes) and any number of `file` parts.
pub async fn post_message(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    request: Request,
) -> ApiResult {
    let form = BodyKind::of(request.headers());
    let (fields, files) = match form {
        BodyKind::Json => (json_fields(request).await?, Vec::new()),
        BodyKind::Multipart => multipart_fields(&state, request).await?,
        BodyKind::UrlEncoded | BodyKind::Other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send `Content-Type: application/json` or `multipart/form-data`",
            ));
        }
    };
    let author_id = required(&fields.author_id, "author_id", 64)?;
    let text = match (form, fields.body.as_deref().map(str::trim)) {
        // A form's text is optional (files may come alone; neither is `empty_message`); JSON
        // always carries its text.
        (BodyKind::Multipart, None | Some("")) => String::new(),
        _ => required(&fields.body, "body", MAX_BODY)?.to_string(),
    };
    let kind = MessageKind::parse(fields.kind.as_deref().unwrap_or("message"))
        .ok_or_else(|| ApiError::invalid("`kind` must be \"message\" or \"note\""))?;
    existing_conversation(&state, &id).await?;
    let author = state
        .store
        .person(author_id)
        .await?
        .ok_or_else(|| ApiError::not_found("author"))?;
    let draft = Draft { kind, text, files };
    let posted = messages::post(&state, &id, &author, draft, Source::Api)
        .await
        .map_err(post_error)?;
    created(message_json(&posted.message, &posted.attachments))
}

async fn json_fields(request: Request) -> Result<PostMessage, ApiError> {
    let Json(fields) = Json::from_request(uploads::text_only(request), &()).await?;
    Ok(fields)
}

async fn multipart_fields(
    state: &AppState,
    request: Request,
) -> Result<(PostMessage, Vec<uploads::Upload>), ApiError> {
    let multipart = Multipart::from_request(request, &())
        .await
        .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "bad_multipart", r.body_text()))?;
    let shape = FormShape {
        fields: &[
            ("author_id", MAX_SHORT_FIELD),
            ("body", MAX_BODY),
            ("kind", MAX_SHORT_FIELD),
        ],
        max_file: state.max_attachment_size,
    };
    let form = uploads::read_form(multipart, &shape)
        .await
        .map_err(form_error)?;
    let field = |name| form.field(name).map(str::to_string);
    let fields = PostMessage {
        author_id: field("author_id"),
        body: field("body"),
        kind: field("kind"),
    };
    Ok((fields, form.files))
}

fn form_error(err: FormError) -> ApiError {
    let status = err.status();
    match err {
        FormError::FileTooLarge { .. } => {
            ApiError::invalid_field("file", err.to_string()).with(status, "file_too_large")
        }
        FormError::TooLarge(_) => ApiError::new(status, "request_too_large", err.to_string()),
        FormError::Malformed(_) => ApiError::new(status, "bad_multipart", err.to_string()),
        FormError::Field { field, .. } => ApiError::invalid_field(field, err.to_string()),
    }
}

fn post_error(err: PostError) -> ApiError {
    match err {
        PostError::NoteByClient => {
            ApiError::new(StatusCode::FORBIDDEN, "notes_are_internal", err.to_string())
        }
        PostError::NotAParticipant => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_a_participant",
            err.to_string(),
        ),
        PostError::Empty => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_message",
            err.to_string(),
        ),
        PostError::Files(e) => {
            tracing::error!(error = %e, "storing an uploaded file failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "file storage is temporarily unavailable, try again",
            )
        }
        PostError::Store(other) => other.into(),
    }
}

pub async fn list_messages(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    existing_conversation(&state, &id).await?;
    let (messages, attachments, marks) = tokio::try_join!(
        state.store.messages(&id),
        state.store.attachments_of_conversation(&id),
        state.store.read_marks(&id),
    )?;
    let items: Vec<Value> = messages
        .iter()
        .map(|m| {
            let mut json = message_json(m, attachments.get(&m.id).map_or(&[][..], Vec::as_slice));
            // Who has seen it (their read mark passed it), and when when known.
            let seen_by: Vec<Value> = marks
                .iter()
                .filter(|mark| mark.person_id != m.author_id)
                .filter_map(|mark| {
                    let at = mark.seen(m.seq)?;
                    Some(json!({"person_id": mark.person_id, "at": at.map(rfc3339)}))
                })
                .collect();
            json["seen_by"] = Value::Array(seen_by);
            json
        })
        .collect();
    ok(json!({ "messages": items }))
}
