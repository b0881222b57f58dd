//! The API's error type: every failure is JSON `{error: {code, message}}`. The caller's faults
//! map to 4xx here, in one place; only our own failures are 5xx, and their detail is logged,
//! not shown.

use crate::store::StoreError;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The request field at fault, when there is one (`{"error": {…, "field": "name"}}`).
    field: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A 422 for one field that breaks the text rule ([`crate::domain::text`]).
    pub fn invalid_text(field: &'static str, err: crate::domain::text::TextError) -> ApiError {
        ApiError::invalid_field(field, format!("`{field}` {err}"))
    }

    /// A 422 naming the request field at fault.
    pub fn invalid_field(field: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field),
            ..ApiError::invalid(message)
        }
    }

    /// The same error under another status and code.
    pub fn with(self, status: StatusCode, code: &'static str) -> ApiError {
        ApiError {
            status,
            code,
            ..self
        }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }

    /// A `429` with `Retry-After` in whole seconds (RFC 9110 §10.2.3), at least one.
    pub fn rate_limited(retry_after_ms: i64, what: &str) -> axum::response::Response {
        let seconds = (retry_after_ms / 1000).max(1);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("{what}; try again in {seconds} s"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds.into());
        response
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.field {
            Some(field) => {
                json!({"error": {"code": self.code, "message": self.message, "field": field}})
            }
            None => json!({"error": {"code": self.code, "message": self.message}}),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(what) => ApiError::new(StatusCode::CONFLICT, "conflict", what),
            other => {
                tracing::error!(error = %other, "storage failure in a request");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "storage is temporarily unavailable, try again",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let status = match rejection {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
            JsonRejection::BytesRejection(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, "bad_json", rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_query", rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_path", rejection.body_text())
    }
}

/// `Path` whose rejection is a JSON error like every other API error.
pub struct ApiPath<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        // Ids are short ASCII; anything else names nothing (and a NUL would make PostgreSQL
        // answer with an error instead of "not found").
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("resource"))?;
        if !raw.iter().all(|(_, v)| is_id_like(v)) {
            return Err(ApiError::not_found("resource"));
        }
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(value))
    }
}

/// Ids, tokens and addresses in our URLs are short ASCII (`cnv_…`,
/// `conversation.person.expiry.mac`, `carl+phone@example.com`); anything else (a NUL, a
/// megabyte) cannot name anything, and PostgreSQL would refuse a NUL with an error instead of
/// "not found".
pub fn is_id_like(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 300
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-=@+".contains(&b))
}

/// A held email that could not be released or dropped, as the API and the pages answer it.
impl From<crate::inbound::ReleaseError> for ApiError {
    fn from(e: crate::inbound::ReleaseError) -> ApiError {
        use crate::inbound::ReleaseError;
        match e {
            ReleaseError::NotFound => ApiError::not_found("inbound email"),
            ReleaseError::NotHeld => ApiError::new(StatusCode::CONFLICT, "not_held", e.to_string()),
            ReleaseError::UnknownSender | ReleaseError::NotUnknownSender => {
                ApiError::invalid(e.to_string())
            }
            ReleaseError::NoSender => {
                ApiError::new(StatusCode::CONFLICT, "no_sender", e.to_string())
            }
            ReleaseError::Store(e) => e.into(),
        }
    }
}
