//! What every web page shares: the chrome (navigation, language, CSRF token), rendering, the
//! HTML error page, form and path extractors whose failures are 4xx pages, and the security
//! headers of every response.

use super::text::{Text, negotiate, text};
use crate::web::AppState;
use crate::web::error::{ApiError, is_id_like};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{Html, IntoResponse, Response};

/// The longest message body a form may post (as the JSON API).
pub const MAX_BODY: usize = 1024 * 1024;

/// The frame around every page.
pub struct Chrome {
    pub t: &'static Text,
    pub title: String,
    /// Who is signed in (None on sign-in pages).
    pub who: Option<String>,
    pub csrf: String,
    /// An internal user or an admin: sees notes, participants and management forms.
    pub staff: bool,
    /// May start conversations (internal people).
    pub can_create: bool,
    /// An admin session: sees the sending domains page.
    pub admin: bool,
}

impl Chrome {
    pub fn anonymous(t: &'static Text, title: impl Into<String>, csrf: String) -> Chrome {
        Chrome {
            t,
            title: title.into(),
            who: None,
            csrf,
            staff: false,
            can_create: false,
            admin: false,
        }
    }
}

/// Renders a template, or a 500 page if the template itself fails (our bug, never the input).
pub fn render(status: StatusCode, page: impl askama::Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed").into_response()
        }
    }
}

#[derive(askama::Template)]
#[template(path = "web/error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    message: &'a str,
    detail: &'a str,
}

/// A failed page request: a status and a sentence, shown as an HTML page in the viewer's
/// language. The caller's faults are 4xx; only our own are 5xx, with the detail logged.
pub struct WebError {
    status: StatusCode,
    kind: ErrorKind,
    detail: String,
    /// None: not known where it was raised (a path that names nothing, a form that is not
    /// one); the page is then rendered again in the reader's language on its way out
    /// ([`Unlocalized`], `view::localize_errors`).
    lang: Option<&'static Text>,
}

/// An error page rendered before its reader's language was known: what it needs to be
/// rendered again in it.
#[derive(Debug, Clone)]
pub struct Unlocalized {
    status: StatusCode,
    kind: ErrorKind,
    detail: String,
}

impl Unlocalized {
    pub fn in_language(self, t: &'static Text) -> Response {
        WebError {
            status: self.status,
            kind: self.kind,
            detail: self.detail,
            lang: Some(t),
        }
        .into_response()
    }
}

#[derive(Debug, Clone, Copy)]
enum ErrorKind {
    NotFound,
    Forbidden,
    FormExpired,
    BadForm,
    TooLarge,
    TooSoon,
    Unavailable,
}

impl WebError {
    fn new(status: StatusCode, kind: ErrorKind, detail: impl Into<String>) -> WebError {
        WebError {
            status,
            kind,
            detail: detail.into(),
            lang: None,
        }
    }

    /// Also for things that exist but the viewer may not see: ids never reveal existence.
    pub fn not_found() -> WebError {
        WebError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, "")
    }

    pub fn forbidden() -> WebError {
        WebError::new(StatusCode::FORBIDDEN, ErrorKind::Forbidden, "")
    }

    pub fn form_expired() -> WebError {
        WebError::new(StatusCode::FORBIDDEN, ErrorKind::FormExpired, "")
    }

    pub fn bad_form(detail: impl Into<String>) -> WebError {
        WebError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::BadForm, detail)
    }

    /// A form that is not one (a multipart body without its boundary…): 400.
    pub fn bad_request(detail: impl Into<String>) -> WebError {
        WebError::new(StatusCode::BAD_REQUEST, ErrorKind::BadForm, detail)
    }

    /// A file or a whole form over its limit: 413.
    pub fn too_large(detail: impl Into<String>) -> WebError {
        WebError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorKind::TooLarge, detail)
    }

    /// Asked again too soon (a rate limit): 429.
    pub fn too_soon(detail: impl Into<String>) -> WebError {
        WebError::new(StatusCode::TOO_MANY_REQUESTS, ErrorKind::TooSoon, detail)
    }

    pub fn unavailable() -> WebError {
        WebError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorKind::Unavailable, "")
    }

    /// Shown in this language.
    pub fn in_language(mut self, t: &'static Text) -> WebError {
        self.lang = Some(t);
        self
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let Some(t) = self.lang else {
            let mut response = WebError {
                lang: Some(&super::text::EN),
                detail: self.detail.clone(),
                ..self
            }
            .into_response();
            response.extensions_mut().insert(Unlocalized {
                status: self.status,
                kind: self.kind,
                detail: self.detail,
            });
            return response;
        };
        let message = match self.kind {
            ErrorKind::NotFound => t.not_found,
            ErrorKind::Forbidden => t.forbidden,
            ErrorKind::FormExpired => t.form_expired,
            ErrorKind::BadForm => t.bad_form,
            ErrorKind::TooLarge => t.too_large,
            ErrorKind::TooSoon => t.too_soon,
            ErrorKind::Unavailable => t.unavailable,
        };
        render(
            self.status,
            ErrorPage {
                chrome: Chrome::anonymous(t, t.error, String::new()),
                message,
                detail: &self.detail,
            },
        )
    }
}

/// Through [`ApiError`]: one place maps errors to statuses; a page only renders them.
impl From<crate::store::StoreError> for WebError {
    fn from(err: crate::store::StoreError) -> WebError {
        WebError::from(ApiError::from(err))
    }
}

impl From<ApiError> for WebError {
    fn from(err: ApiError) -> WebError {
        match err.status() {
            StatusCode::NOT_FOUND => WebError::not_found(),
            s if s.is_client_error() => WebError::bad_form(err.message().to_string()),
            _ => WebError::unavailable(),
        }
    }
}

/// `Form<T>` whose rejection (wrong content type, missing field, too large) is a 4xx page.
pub struct WebForm<T>(pub T);

impl<T, S> FromRequest<S> for WebForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request(request: Request, state: &S) -> Result<Self, WebError> {
        match axum::Form::<T>::from_request(request, state).await {
            Ok(axum::Form(value)) => Ok(WebForm(value)),
            Err(rejection) => {
                let mut error = WebError::bad_form(rejection.body_text());
                error.status = rejection.status();
                if error.status.is_server_error() {
                    error.status = StatusCode::BAD_REQUEST;
                }
                Err(error)
            }
        }
    }
}

/// `Path<T>` whose rejection is a 4xx page.
pub struct WebPath<T>(pub T);

impl<T, S> FromRequestParts<S> for WebPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| WebError::not_found())?;
        if !raw.iter().all(|(_, v)| is_id_like(v)) {
            return Err(WebError::not_found());
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(WebPath(value)),
            Err(_) => Err(WebError::not_found()),
        }
    }
}

/// The language of a visitor who is not signed in.
pub fn visitor_text(headers: &HeaderMap) -> &'static Text {
    text(negotiate(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    ))
}

/// A value from a form, trimmed, required, bounded, without NUL; or what is wrong with it.
pub fn check_field<'a>(value: &'a str, name: &str, max: usize) -> Result<&'a str, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("{name}: required"));
    }
    if v.len() > max {
        return Err(format!("{name}: longer than {max} bytes"));
    }
    if v.contains('\0') {
        return Err(format!("{name}: contains a NUL character"));
    }
    Ok(v)
}

/// A human text field (a subject, a name) by the one text rule ([`crate::domain::text`]):
/// trimmed, required, no control or bidi-override characters, bounded; or what is wrong.
pub fn check_text<'a>(
    value: &'a str,
    name: &str,
    rule: &crate::domain::text::TextRule,
) -> Result<&'a str, String> {
    crate::domain::text::check(value, rule).map_err(|e| format!("{name}: {e}"))
}

/// [`check_field`] as a 422 page.
pub fn field<'a>(value: &'a str, name: &str, max: usize) -> Result<&'a str, WebError> {
    check_field(value, name, max).map_err(WebError::bad_form)
}

/// A local path to go back to after signing in: only our own absolute paths, never
/// `//host` or a URL (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() < 500
                && n.chars().all(|c| c.is_ascii_graphic()) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// Security headers for every page: no script runs at all (the view works without
/// JavaScript), styles and images only from us, never framed, no referrer (a magic-link URL
/// must not leak to another site).
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The state the web handlers need, for handlers that only take `State<AppState>`.
pub type Web = axum::extract::State<AppState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_paths_never_leave_the_site() {
        assert_eq!(safe_next(Some("/c/cnv_1")), "/c/cnv_1");
        assert_eq!(safe_next(Some("//evil.example/x")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
