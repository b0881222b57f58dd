//! The web view: server-rendered pages (askama), no JavaScript, no external assets, readable
//! on a phone, in English and French. Sessions come from magic links in notification emails,
//! 6-digit codes by email, or the admin token. Every page and form checks what the viewer may
//! see and do (`auth`, `conversation::open`); every form carries a CSRF token.
//!
//! - `auth`: sessions, cookies, CSRF, the `Viewer` and its rights
//! - `login`: magic links, `/login` by code, `/admin`, sign-out
//! - `list`: the conversation list with filters; starting a conversation
//! - `conversation`: the history and every action on it; original emails; download rights
//! - `reply`: the reply form's post (text, note or message, files)
//! - `account`: settings; attachment downloads
//! - `admin`: sending domains; `directory`: people and companies; `mailroom`: the inbound log
//!   and suppressed addresses
//! - `page`: chrome, rendering, HTML errors, extractors, security headers; `text`: EN/FR

pub mod account;
pub mod admin;
pub mod auth;
pub mod confirm;
pub mod conversation;
pub mod directory;
pub mod history;
pub mod list;
pub mod login;
pub mod mailroom;
pub mod page;
pub mod reply;
pub mod status;
pub mod text;

use super::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};

/// The stylesheet, served by us (no CDN, no web font).
const STYLESHEET: &str = include_str!("../../../assets/app.css");
/// The admin domains page's copy buttons (the only script; every other page allows none).
const COPY_SCRIPT: &str = include_str!("../../../assets/copy.js");

async fn copy_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        COPY_SCRIPT,
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

/// Error pages raised before the reader was known (a path that names nothing, a form that is
/// not one) are rendered again in their language: the signed-in person's, else the browser's
/// `Accept-Language`. Only the two headers that decide it are kept from the request.
pub async fn localize_errors(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut deciding = axum::http::HeaderMap::new();
    for name in [header::COOKIE, header::ACCEPT_LANGUAGE] {
        for value in request.headers().get_all(&name) {
            deciding.append(name.clone(), value.clone());
        }
    }
    let response = next.run(request).await;
    let Some(pending) = response.extensions().get::<page::Unlocalized>().cloned() else {
        return response;
    };
    let t = match auth::viewer(&state, &deciding).await {
        Ok(Some(viewer)) => viewer.text(),
        _ => page::visitor_text(&deciding),
    };
    // The same response (status, security headers) with the page in their language.
    let (mut parts, _) = response.into_parts();
    let (localized, body) = pending.in_language(t).into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &localized.headers {
        parts.headers.insert(name.clone(), value.clone());
    }
    axum::response::Response::from_parts(parts, body)
}

/// The pages and forms; `posting_limit`: the body limit of the routes that take files.
pub fn routes(posting_limit: DefaultBodyLimit) -> Router<AppState> {
    Router::new()
        .route("/", get(list::list_page))
        .route("/new", get(list::new_page).post(list::new_submit))
        .route("/login", get(login::login_page).post(login::login_submit))
        .route("/login/code", post(login::code_submit))
        .route(
            "/m/{token}",
            get(login::magic_link).post(login::magic_link_submit),
        )
        .route("/admin", get(login::admin_page).post(login::admin_submit))
        .route(
            "/confirm/{token}",
            get(confirm::confirm_page).post(confirm::confirm_submit),
        )
        .route(
            "/addresses/confirm/{token}",
            get(confirm::address_page).post(confirm::address_submit),
        )
        .route("/settings/addresses", post(account::add_address))
        .route("/settings/addresses/remove", post(account::remove_address))
        .route("/settings/addresses/primary", post(account::make_primary))
        .route(
            "/admin/domains",
            get(admin::domains_page).post(admin::add_domain),
        )
        .route("/admin/domains/{name}/check", post(admin::check_domain))
        .route("/admin/domains/{name}/rotate", post(admin::rotate_keys))
        .route(
            "/admin/domains/{name}/keys/{selector}/activate",
            post(admin::activate_key),
        )
        .route("/admin/inbound", get(mailroom::inbound_page))
        .route("/admin/inbound/{id}/raw", get(mailroom::original))
        .route("/admin/inbound/{id}/release", post(mailroom::release))
        .route("/admin/inbound/{id}/drop", post(mailroom::drop_held))
        .route("/admin/suppressions", get(mailroom::suppressions_page))
        .route("/admin/people/{id}/reactivate", post(mailroom::reactivate))
        .route("/admin/people/{id}", post(directory::manage_person))
        .route("/people", get(directory::people_page))
        .route("/people/{id}", get(directory::person_page))
        .route(
            "/admin/companies",
            get(directory::companies_page).post(directory::create_company),
        )
        .route(
            "/admin/companies/{id}",
            get(directory::company_page).post(directory::rename_company),
        )
        .route(
            "/admin/companies/{id}/followers",
            post(directory::add_follower),
        )
        .route(
            "/admin/companies/{id}/followers/remove",
            post(directory::remove_follower),
        )
        .route("/admin/domains/{name}/sender", post(admin::sender_settings))
        .route("/logout", post(login::logout))
        .route("/logout/everywhere", post(login::logout_everywhere))
        .route(
            "/settings",
            get(account::settings_page).post(account::settings_submit),
        )
        .route("/attachments/{id}", get(account::attachment))
        .route("/c/{id}", get(conversation::conversation_page))
        .route(
            "/c/{id}/messages",
            post(reply::post_reply).layer(posting_limit),
        )
        .route("/c/{id}/status", post(conversation::post_status))
        .route("/c/{id}/snooze", post(conversation::post_snooze))
        .route("/c/{id}/wake", post(conversation::post_wake))
        .route("/c/{id}/archive", post(conversation::post_archive))
        .route("/c/{id}/transcript", post(conversation::post_transcript))
        .route("/c/{id}/assign", post(conversation::post_assign))
        .route("/c/{id}/mute", post(conversation::post_mute))
        .route(
            "/c/{id}/participants",
            post(conversation::post_add_participant),
        )
        .route(
            "/c/{id}/participants/{person_id}/remove",
            post(conversation::post_remove_participant),
        )
        .route(
            "/c/{id}/messages/{message_id}/delete",
            post(conversation::post_delete_message),
        )
        .route(
            "/c/{id}/messages/{message_id}/restore",
            post(conversation::post_restore_message),
        )
        .route(
            "/c/{id}/messages/{message_id}/original",
            get(conversation::original_email),
        )
        .route(
            "/c/{id}/held/{inbound_id}/release",
            post(conversation::post_release_held),
        )
        .route(
            "/c/{id}/held/{inbound_id}/drop",
            post(conversation::post_drop_held),
        )
        .layer(axum::middleware::map_response(page::security_headers))
        .route("/assets/app.css", get(stylesheet))
        .route("/assets/copy.js", get(copy_script))
}

#[cfg(test)]
mod contrast {
    //! Every text/background pair of the stylesheet meets WCAG 2.1 AA for normal text (4.5:1,
    //! success criterion 1.4.3), computed as WCAG defines it: relative luminance of sRGB
    //! colours, (L1 + 0.05) / (L2 + 0.05).

    use super::STYLESHEET;
    use std::collections::HashMap;

    /// The page's surfaces, where a colour without a background of its own may be drawn: the
    /// body and the white cards.
    const SURFACES: [&str; 2] = ["#f6f8fa", "#fff"];
    /// The body's text colour, which a background without a colour of its own carries.
    const BODY_TEXT: &str = "#1f2328";

    fn rgb(hex: &str) -> Option<[f64; 3]> {
        let h = hex.strip_prefix('#')?;
        let h: String = match h.len() {
            3 => h.chars().flat_map(|c| [c, c]).collect(),
            6 => h.to_string(),
            _ => return None,
        };
        let channel = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
        Some([channel(0)?, channel(2)?, channel(4)?].map(f64::from))
    }

    fn luminance(hex: &str) -> f64 {
        let [r, g, b] = rgb(hex)
            .unwrap_or_else(|| panic!("not a colour: {hex}"))
            .map(|c| {
                let c = c / 255.0;
                if c <= 0.04045 {
                    c / 12.92
                } else {
                    ((c + 0.055) / 1.055).powf(2.4)
                }
            });
        0.2126 * r + 0.7152 * g + 0.0722 * b
    }

    fn ratio(a: &str, b: &str) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    /// Each selector's `color` and `background`, as declared (media queries read as plain
    /// rules: they only move things about).
    fn rules() -> Vec<(String, Option<String>, Option<String>)> {
        let mut out = Vec::new();
        for block in STYLESHEET.split('}') {
            let Some((selectors, declarations)) = block.split_once('{') else {
                continue;
            };
            let selectors = selectors.rsplit('{').next().unwrap_or(selectors);
            let (mut color, mut background) = (None, None);
            for declaration in declarations.split(';') {
                let Some((property, value)) = declaration.split_once(':') else {
                    continue;
                };
                let value = value.split_whitespace().next().unwrap_or("").to_string();
                match property.trim() {
                    "color" => color = Some(value),
                    "background" | "background-color" => background = Some(value),
                    _ => {}
                }
            }
            for selector in selectors.split(',') {
                let selector = selector.trim();
                if !selector.is_empty() && !selector.starts_with('@') {
                    out.push((selector.to_string(), color.clone(), background.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn every_text_colour_meets_wcag_aa_on_its_background() {
        let rules = rules();
        let declared: HashMap<&str, (Option<&str>, Option<&str>)> = rules
            .iter()
            .map(|(s, c, b)| (s.as_str(), (c.as_deref(), b.as_deref())))
            .collect();
        let is_colour = |v: &&str| v.starts_with('#');
        let mut pairs: Vec<(String, String, String)> = Vec::new();
        for (selector, color, background) in &rules {
            // The context a descendant selector draws in: its ancestor's rule, when declared.
            let ancestor = selector
                .rsplit_once(' ')
                .and_then(|(a, _)| declared.get(a.trim()).copied());
            // Only a rule that sets a colour or a background makes a pair; the other is the
            // context's (the ancestor's, else the body's text or the page's surfaces).
            let own_color = color.as_deref().filter(is_colour);
            let own_background = background.as_deref().filter(is_colour);
            if own_color.is_none() && own_background.is_none() {
                continue;
            }
            let color = own_color
                .or_else(|| ancestor.and_then(|(c, _)| c).filter(is_colour))
                .unwrap_or(BODY_TEXT);
            let backgrounds: Vec<&str> =
                match own_background.or_else(|| ancestor.and_then(|(_, b)| b).filter(is_colour)) {
                    Some(b) => vec![b],
                    None => SURFACES.to_vec(),
                };
            for b in backgrounds {
                pairs.push((selector.clone(), color.into(), b.into()));
            }
        }
        assert!(
            pairs.len() > 40,
            "the stylesheet's pairs were not found: {pairs:?}"
        );
        let failing: Vec<String> = pairs
            .iter()
            .filter(|(_, c, b)| ratio(c, b) < 4.5)
            .map(|(s, c, b)| format!("{s}: {c} on {b} is {:.2}:1", ratio(c, b)))
            .collect();
        assert!(failing.is_empty(), "below 4.5:1:\n{}", failing.join("\n"));
    }

    #[test]
    fn the_contrast_ratio_is_wcags() {
        assert!((ratio("#000", "#fff") - 21.0).abs() < 1e-9);
        assert!((ratio("#fff", "#fff") - 1.0).abs() < 1e-9);
        // The pair that failed: white on the note label's old yellow.
        assert!(ratio("#fff", "#d4a72c") < 2.5);
    }
}
