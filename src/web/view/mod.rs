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

/// The pages and forms; `posting_limit`: the body limit of the routes that take files.
pub fn routes(posting_limit: DefaultBodyLimit) -> Router<AppState> {
    Router::new()
        .route("/", get(list::list_page))
        .route("/new", get(list::new_page).post(list::new_submit))
        .route("/login", get(login::login_page).post(login::login_submit))
        .route("/login/code", post(login::code_submit))
        .route(
            "/m/{token}",
            get(login::magic_link).post(login::magic_link_switch),
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
