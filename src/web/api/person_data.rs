//! `GET /people/{id}/export`: everything threadgate holds about a person, as one zip
//! (`crate::person_data`), written to a temporary file and streamed from it.
//! `POST /people/{id}/erase`: nothing of them is kept; `GET /erasures`: the record of erasures.

use crate::domain::rfc3339;
use crate::store::{ErasedBy, Erasure};
use crate::web::AppState;
use crate::web::error::{ApiError, ApiPath};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub async fn export_person(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let person = state
        .store
        .person(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))?;
    let unavailable = |what: &str, err: &dyn std::fmt::Display| {
        tracing::error!(error = %err, person = %person.id, "{what}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "export_failed",
            "the export could not be written, try again",
        )
    };
    let path = std::env::temp_dir().join(format!(
        "threadgate-export-{}.zip",
        crate::domain::random_base32(12)
    ));
    let file = std::fs::File::create(&path)
        .map_err(|e| unavailable("creating an export file failed", &e))?;
    let compose = state.mailer.compose().clone();
    let written = crate::person_data::export_person(
        &state.store,
        &state.blobs,
        &person,
        |domain| compose.reply_domain_of(domain),
        file,
    )
    .await;
    let opened = match written {
        Ok(()) => tokio::fs::File::open(&path).await,
        Err(err) => {
            let _ = std::fs::remove_file(&path);
            return Err(unavailable("writing an export failed", &err));
        }
    };
    // Unlinked now: the open file is read to the end, and nothing is left behind.
    let _ = std::fs::remove_file(&path);
    let file = opened.map_err(|e| unavailable("reading an export file failed", &e))?;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.zip\"", person.id),
            ),
        ],
        body,
    )
        .into_response())
}

fn erasure_json(e: &Erasure) -> serde_json::Value {
    serde_json::json!({
        "id": e.id,
        "person_id": e.person_id,
        "name": e.pseudonym,
        "erased_by": e.erased_by,
        "erased_at": rfc3339(e.erased_at),
    })
}

/// `POST /people/{id}/erase`: `200` the erasure's record with what it removed (counts); `404`
/// for an unknown person or one erased already.
pub async fn erase_person(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let erasure =
        crate::person_data::erase_person(&state.store, &state.blobs, &id, ErasedBy::Admin).await?;
    let r = &erasure.removed;
    let mut body = erasure_json(&erasure);
    body["removed"] = serde_json::json!({
        "messages": r.messages, "attachments": r.attachments,
        "inbound_emails": r.inbound_emails, "raw_emails": r.raw_emails,
        "outbox_emails": r.outbox_emails, "outbox_copies_emptied": r.outbox_copies_emptied,
        "addresses": r.addresses, "sessions": r.sessions, "conversations": r.conversations,
    });
    Ok(Json(body))
}

/// `GET /erasures`: the newest thousand erasures (who asked, when; no data of the person).
pub async fn list_erasures(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let erasures = state.store.erasures(1000).await?;
    Ok(Json(serde_json::json!({
        "erasures": erasures.iter().map(erasure_json).collect::<Vec<_>>(),
    })))
}
