//! Serving a stored file: an attachment's bytes (from the blob store, or extracted again from
//! the raw email), always as a download that no browser renders from our origin. The JSON API
//! and the web view both serve files through here.

use crate::store::Attachment;
use crate::web::AppState;
use crate::web::error::ApiError;
use axum::http::StatusCode;

/// Types a browser could execute or render as a page from our origin: always served as bytes.
const ACTIVE_TYPES: &[&str] = &[
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
];

/// `Content-Disposition: attachment` with an ASCII fallback name and the exact UTF-8 name
/// (RFC 6266 §4.3, RFC 5987 encoding).
fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// An attachment's bytes as a download (the caller has checked who may have it).
pub async fn serve_attachment(
    state: &AppState,
    attachment: &Attachment,
) -> Result<axum::response::Response, ApiError> {
    if let Some(why) = &attachment.omitted {
        return Err(ApiError::new(
            StatusCode::GONE,
            "attachment_omitted",
            format!("this attachment was not kept: {why}"),
        ));
    }
    let content_type = if ACTIVE_TYPES.contains(&attachment.content_type.as_str()) {
        "application/octet-stream".to_string()
    } else {
        attachment.content_type.clone()
    };
    let body = match state.blobs.read(&attachment.sha256).await {
        // Streamed from the store: a large file is never whole in memory.
        Ok(Some(blob)) => {
            use futures::TryStreamExt;
            let id = attachment.id.clone();
            let stream = blob.stream.inspect_err(move |e| {
                // The status is sent already: the download ends short, and the log says why.
                tracing::error!(attachment = %id, error = %e, "reading an attachment failed midway");
            });
            let mut response = download_response(
                axum::body::Body::from_stream(stream),
                &content_type,
                &attachment.filename,
            );
            // Said up front, so a download shows its progress; hyper ends the response with
            // an error if the store hands fewer bytes.
            response
                .headers_mut()
                .insert(axum::http::header::CONTENT_LENGTH, blob.size.into());
            return Ok(response);
        }
        Ok(None) => extracted_again(state, attachment).await?,
        Err(err) => return Err(unavailable(err)),
    };
    Ok(download_response(body, &content_type, &attachment.filename))
}

fn unavailable(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "reading an attachment failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        "attachment storage is unavailable",
    )
}

/// An inbound email's original bytes as a download (`message/rfc822`), or None when there is
/// no such email. Whoever calls it has checked that the viewer may have it.
pub async fn original_email(
    store: &crate::store::Store,
    inbound_id: &str,
) -> Result<Option<axum::response::Response>, crate::store::StoreError> {
    Ok(store
        .raw_email(inbound_id)
        .await?
        .map(|raw| download_response(raw, "message/rfc822", &format!("{inbound_id}.eml"))))
}

pub fn download_response(
    data: impl Into<axum::body::Body>,
    content_type: &str,
    filename: &str,
) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, content_disposition(filename)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".to_string(),
            ),
        ],
        data.into(),
    )
        .into_response()
}

/// The attachment's bytes when its file is gone from the blob store (a restored backup, a
/// removal that raced a writer): extracted again from the raw email, which is the source of
/// truth, and stored again.
async fn extracted_again(state: &AppState, attachment: &Attachment) -> Result<Vec<u8>, ApiError> {
    let raw = match &attachment.inbound_id {
        Some(inbound_id) => state.store.raw_email(inbound_id).await?,
        None => None,
    };
    let part = raw
        .as_deref()
        .and_then(|raw| crate::inbound::parse::parse_email(raw, &|_| false))
        .and_then(|parsed| {
            parsed
                .attachments
                .into_iter()
                .find(|p| crate::store::sha256_hex(&p.data) == attachment.sha256)
        })
        .ok_or_else(|| ApiError::not_found("attachment content"))?;
    state.blobs.put(&part.data).await.map_err(unavailable)?;
    Ok(part.data)
}
