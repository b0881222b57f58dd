//! Who is looking: sessions from the `tg_session` cookie, and the checks every page and form
//! makes. The cookie holds 128 random bits; the database holds only their SHA-256, so a leaked
//! database yields no session. Cookies are HttpOnly, SameSite=Lax, and Secure when the public
//! URL is https. Every form carries the session's synchronizer token (CSRF); forms shown before
//! sign-in carry a double-submit token tied to a `tg_csrf` cookie.

use super::page::{Chrome, WebError};
use super::text::{Text, text};
use crate::domain::{Locale, Millis, Role, TimeZone, random_base32};
use crate::store::{Person, SessionVia, WebSession, sha256_hex};
use crate::web::AppState;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "tg_session";
pub const CSRF_COOKIE: &str = "tg_csrf";
/// How long a web session lasts.
pub const SESSION_LIFETIME_MS: Millis = 30 * 24 * 3600 * 1000;
/// Admin sessions are shorter: they see everything.
pub const ADMIN_SESSION_LIFETIME_MS: Millis = 12 * 3600 * 1000;

/// What an admin session remembers of the token it was opened with: a new admin token ends
/// every admin session opened with the old one.
pub fn admin_key(admin_token: &str) -> String {
    sha256_hex(format!("threadgate-admin-session\n{admin_token}").as_bytes())
}

/// A signed-in viewer.
#[derive(Debug, Clone)]
pub enum Viewer {
    Person {
        session: WebSession,
        person: Person,
        locale: Locale,
        zone: TimeZone,
    },
    /// Opened with the admin token: sees and manages every conversation, writes as no one.
    Admin {
        session: WebSession,
        /// The default time zone (`--default-time-zone`).
        zone: TimeZone,
    },
}

/// The chrome of a signed-in viewer's page (here, so that `page` knows nothing of viewers).
impl Chrome {
    pub fn for_viewer(viewer: &Viewer, title: impl Into<String>) -> Chrome {
        Chrome {
            t: viewer.text(),
            title: title.into(),
            who: Some(viewer.display_name()),
            csrf: viewer.csrf().to_string(),
            staff: viewer.is_staff(),
            can_create: viewer.internal_person().is_some(),
            admin: matches!(viewer, Viewer::Admin { .. }),
        }
    }
}

impl Viewer {
    pub fn session(&self) -> &WebSession {
        match self {
            Viewer::Person { session, .. } | Viewer::Admin { session, .. } => session,
        }
    }

    pub fn csrf(&self) -> &str {
        &self.session().csrf
    }

    pub fn person(&self) -> Option<&Person> {
        match self {
            Viewer::Person { person, .. } => Some(person),
            Viewer::Admin { .. } => None,
        }
    }

    pub fn internal_person(&self) -> Option<&Person> {
        self.person().filter(|p| p.role == Role::Internal)
    }

    /// Sees notes, participants and deleted content, and manages conversations.
    pub fn is_staff(&self) -> bool {
        match self {
            Viewer::Person { person, .. } => person.role == Role::Internal,
            Viewer::Admin { .. } => true,
        }
    }

    /// The role whose visibility rules apply (admins see what the team sees).
    pub fn role(&self) -> Role {
        if self.is_staff() {
            Role::Internal
        } else {
            Role::Client
        }
    }

    pub fn locale(&self) -> Locale {
        match self {
            Viewer::Person { locale, .. } => *locale,
            Viewer::Admin { .. } => Locale::En,
        }
    }

    /// Where the viewer reads times: their own zone, else the default.
    pub fn zone(&self) -> TimeZone {
        match self {
            Viewer::Person { zone, .. } | Viewer::Admin { zone, .. } => *zone,
        }
    }

    pub fn text(&self) -> &'static Text {
        text(self.locale())
    }

    pub fn display_name(&self) -> String {
        match self {
            Viewer::Person { person, .. } => person.name.clone(),
            Viewer::Admin { .. } => text(self.locale()).admin.to_string(),
        }
    }

    /// Who acts, for the conversation's events (None: an admin).
    pub fn actor_id(&self) -> Option<&str> {
        self.person().map(|p| p.id.as_str())
    }

    /// Checks a form's CSRF token against this session's, in constant time.
    pub fn check_csrf(&self, presented: &str) -> Result<(), WebError> {
        let same: bool = self
            .csrf()
            .as_bytes()
            .ct_eq(presented.trim().as_bytes())
            .into();
        if same {
            Ok(())
        } else {
            Err(WebError::form_expired().in_language(self.text()))
        }
    }

    /// Staff only (internal users and admins).
    pub fn require_staff(&self) -> Result<(), WebError> {
        if self.is_staff() {
            Ok(())
        } else {
            Err(WebError::forbidden().in_language(self.text()))
        }
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The signed-in viewer, or None (no cookie, an unknown, expired or revoked session).
pub async fn viewer(state: &AppState, headers: &HeaderMap) -> Result<Option<Viewer>, WebError> {
    let Some(token) = cookie(headers, SESSION_COOKIE).filter(|t| !t.is_empty() && t.len() < 100)
    else {
        return Ok(None);
    };
    let Some(session) = state
        .store
        .session_by_hash(&sha256_hex(token.as_bytes()))
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(match session.person.clone() {
        None if session.admin_key.as_deref() != Some(admin_key(&state.admin_token).as_str()) => {
            return Ok(None);
        }
        Some(person) => {
            let locale = session.locale.unwrap_or(state.default_locale);
            let zone = session.time_zone.unwrap_or(state.default_time_zone);
            Viewer::Person {
                session,
                person,
                locale,
                zone,
            }
        }
        None => Viewer::Admin {
            session,
            zone: state.default_time_zone,
        },
    }))
}

/// A page that needs a viewer: signed in, or sent to sign in and brought back here.
pub async fn require_viewer(
    state: &AppState,
    headers: &HeaderMap,
    back_to: &str,
) -> Result<Viewer, Response> {
    match viewer(state, headers).await {
        Ok(Some(viewer)) => Ok(viewer),
        Ok(None) => {
            Err(Redirect::to(&format!("/login?next={}", percent_encode(back_to))).into_response())
        }
        Err(err) => Err(err.into_response()),
    }
}

/// A form post that needs a viewer: without one, the form has expired (403), never a redirect
/// that would lose what was typed silently.
pub async fn require_poster(state: &AppState, headers: &HeaderMap) -> Result<Viewer, WebError> {
    match viewer(state, headers).await? {
        Some(viewer) => Ok(viewer),
        None => Err(WebError::form_expired().in_language(super::page::visitor_text(headers))),
    }
}

/// A form post by a signed-in viewer carrying this session's CSRF token: the check every
/// state-changing route starts with.
pub async fn require_form(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Viewer, WebError> {
    let viewer = require_poster(state, headers).await?;
    viewer.check_csrf(csrf)?;
    Ok(viewer)
}

/// Opens a session (a fresh cookie value every time: no session fixation) and answers with
/// its cookie and a redirect to `to`. `person_id` None: an admin session.
pub async fn sign_in(
    state: &AppState,
    person_id: Option<&str>,
    via: SessionVia,
    to: &str,
) -> Result<Response, WebError> {
    let token = random_base32(16);
    let csrf = random_base32(16);
    let (admin, lifetime) = match person_id {
        Some(_) => (None, SESSION_LIFETIME_MS),
        None => (
            Some(admin_key(&state.admin_token)),
            ADMIN_SESSION_LIFETIME_MS,
        ),
    };
    state
        .store
        .create_session(
            person_id,
            admin.as_deref(),
            via,
            &sha256_hex(token.as_bytes()),
            &csrf,
            lifetime,
        )
        .await?;
    let mut response = Redirect::to(to).into_response();
    set_cookie(
        &mut response,
        &session_cookie(&token, lifetime / 1000, state.secure_cookies),
    );
    // The sign-in form's token has done its job.
    set_cookie(
        &mut response,
        &format!("{CSRF_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"),
    );
    Ok(response)
}

pub fn session_cookie(value: &str, max_age_s: i64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

pub fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The double-submit token for a form shown before sign-in: the one already in the visitor's
/// cookie, or a new one (to be set with [`csrf_cookie`]).
pub fn anonymous_csrf(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, CSRF_COOKIE).filter(|v| v.len() >= 16 && v.len() < 100) {
        Some(v) => (v.to_string(), false),
        None => (random_base32(16), true),
    }
}

pub fn csrf_cookie(value: &str, secure: bool) -> String {
    format!(
        "{CSRF_COOKIE}={value}; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Checks a pre-sign-in form: its token must equal the visitor's `tg_csrf` cookie. A
/// cross-site page can neither read nor set that cookie, so it cannot forge the field.
pub fn check_anonymous_csrf(headers: &HeaderMap, presented: &str) -> Result<(), WebError> {
    let expired = || WebError::form_expired().in_language(super::page::visitor_text(headers));
    let cookie = cookie(headers, CSRF_COOKIE).ok_or_else(expired)?;
    let same: bool = cookie.as_bytes().ct_eq(presented.trim().as_bytes()).into();
    if same && cookie.len() >= 16 {
        Ok(())
    } else {
        Err(expired())
    }
}

/// Percent-encodes a value for a query string.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others_and_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; tg_session=abc"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("tg_csrf=xyz"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, CSRF_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "tg"), None);
    }

    #[test]
    fn session_cookies_are_http_only_lax_and_secure_under_https() {
        let c = session_cookie("v", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("; Secure"));
        assert!(!session_cookie("v", 60, false).contains("Secure"));
    }
}
