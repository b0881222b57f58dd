//! HTTP: the web view (`view`: sessions, pages), the JSON API (bearer admin token) and a
//! health check. Thin adapters over the store.

pub mod api;
pub mod error;
pub mod gzip;
pub mod listener;
pub mod operations;
pub mod service;
pub mod view;

use api::{domains, lifecycle, settings};

use crate::blobs::BlobStore;
use crate::domain::LinkSigner;
use crate::outbound::mailer::Mailer;
use crate::store::Store;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use error::ApiError;
use std::sync::Arc;
use tower_http::trace::TraceLayer;
pub use view::history::HistoryCache;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub blobs: BlobStore,
    pub admin_token: Arc<str>,
    /// Verification codes are sent through it.
    pub mailer: Mailer,
    pub links: LinkSigner,
    /// The language of people created without one.
    pub default_locale: crate::domain::Locale,
    /// The time zone of people who have not chosen one.
    pub default_time_zone: crate::domain::TimeZone,
    /// Session cookies carry `Secure` (the public URL is https).
    pub secure_cookies: bool,
    pub domains: crate::sending_domains::Domains,
    /// The inbound pipeline, for releasing held emails.
    pub inbound: crate::inbound::Inbound,
    /// The outbox's DKIM signer, told when keys change here.
    pub signer: crate::outbound::dkim::Signer,
    /// Rendered conversation histories, re-rendered when their conversation changes.
    pub histories: HistoryCache,
    /// The background loops, for `/healthz`.
    pub health: crate::supervise::Health,
    /// The largest file a message may carry (`--max-attachment-size`): uploads over it are
    /// refused, as email attachments over it are kept only by name.
    pub max_attachment_size: usize,
    /// Counted into; served at `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What `/readyz` checks besides the database.
    pub readiness: operations::Readiness,
}

impl AppState {
    /// Keys changed in this process: sign with the new ones from the next email on.
    pub fn signer_reload(&self) {
        self.signer.reload();
    }
}

pub fn router(state: AppState) -> Router {
    // Posting routes take files: their body limit allows several (axum's default is 2 MB).
    let posting_limit =
        DefaultBodyLimit::max(service::uploads::request_limit(state.max_attachment_size));
    let api = Router::new()
        .route(
            "/people",
            get(api::companies::list_people).post(api::create_person),
        )
        .route("/search", get(api::search::search))
        .route(
            "/companies",
            get(api::companies::list_companies).post(api::companies::create_company),
        )
        .route(
            "/companies/{id}",
            get(api::companies::get_company).patch(api::companies::patch_company),
        )
        .route(
            "/companies/{id}/followers",
            post(api::companies::add_follower),
        )
        .route(
            "/companies/{id}/followers/{person_id}",
            delete(api::companies::remove_follower),
        )
        .route(
            "/people/{id}",
            get(api::get_person).patch(settings::patch_person),
        )
        .route(
            "/people/{id}/addresses",
            get(api::addresses::list_addresses).post(api::addresses::add_address),
        )
        .route(
            "/people/{id}/addresses/{email}",
            delete(api::addresses::delete_address).patch(api::addresses::patch_address),
        )
        .route("/people/{id}/erase", post(api::person_data::erase_person))
        .route("/erasures", get(api::person_data::list_erasures))
        .route("/people/{id}/verification", post(settings::request_code))
        .route("/people/{id}/sessions", delete(settings::revoke_sessions))
        .route("/verification/check", post(settings::check_code))
        .route("/conversations/{id}/read", post(settings::mark_read))
        .route("/conversations/{id}/mute", post(settings::mute))
        .route(
            "/conversations",
            post(api::create_conversation).get(api::list_conversations),
        )
        .route(
            "/conversations/{id}",
            get(api::get_conversation).patch(lifecycle::patch_conversation),
        )
        .route("/conversations/{id}/events", get(lifecycle::list_events))
        .route(
            "/conversations/{id}/transcript",
            post(api::transcripts::email_transcript),
        )
        .route("/conversations/{id}/export", get(api::transcripts::export))
        .route(
            "/conversations/{id}/suggested-participants",
            get(api::suggested_participants),
        )
        .route("/messages/{id}", delete(lifecycle::delete_message))
        .route("/messages/{id}/restore", post(lifecycle::restore_message))
        .route(
            "/conversations/{id}/participants",
            post(api::add_participant),
        )
        .route(
            "/conversations/{id}/participants/{person_id}",
            delete(api::remove_participant),
        )
        .route(
            "/conversations/{id}/messages",
            post(api::post_message)
                .layer(posting_limit)
                .get(api::list_messages),
        )
        .route(
            "/domains",
            post(domains::add_domain).get(domains::list_domains),
        )
        .route(
            "/domains/{name}",
            get(domains::get_domain).patch(domains::update_domain),
        )
        .route(
            "/blocked-domains",
            get(domains::list_blocked).post(domains::block_domain),
        )
        .route("/blocked-domains/{domain}", delete(domains::unblock_domain))
        .route("/domains/{name}/check", post(domains::check_domain))
        .route("/domains/{name}/keys", post(domains::rotate_keys))
        .route(
            "/domains/{name}/keys/{selector}/activate",
            post(domains::activate_key),
        )
        .route("/inbound", get(api::list_inbound))
        .route("/suppressions", get(api::list_suppressions))
        .route("/people/{id}/export", get(api::person_data::export_person))
        .route("/people/{id}/reactivate", post(api::reactivate_person))
        .route("/inbound/{id}/raw", get(api::download_raw))
        .route("/inbound/{id}/release", post(api::release_inbound))
        .route("/inbound/{id}/drop", post(api::drop_inbound))
        .route("/attachments/{id}", get(api::download_attachment))
        .route("/outbox", get(api::list_outbox))
        .route("/failures", get(api::list_failures))
        .route("/health", get(api::health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(operations::readyz))
        .route(
            "/metrics",
            get(operations::metrics)
                .route_layer(middleware::from_fn_with_state(state.clone(), require_admin)),
        )
        .route(
            "/unsubscribe/{token}",
            get(settings::unsubscribe_page)
                .post(settings::unsubscribe)
                .layer(middleware::map_response(view::page::security_headers)),
        )
        .nest("/api/v1", api)
        .merge(
            view::routes(posting_limit).layer(middleware::from_fn_with_state(
                state.clone(),
                view::localize_errors,
            )),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            operations::count_request,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// One span per request, with the path but never a token: `/unsubscribe/<token>` and the
/// magic links `/m/<token>` are logged without their token.
fn request_span(request: &Request) -> tracing::Span {
    let path = request.uri().path();
    let path = if path.starts_with("/unsubscribe/") {
        "/unsubscribe/…"
    } else if path.starts_with("/m/") {
        "/m/…"
    } else {
        path
    };
    tracing::info_span!("http", method = %request.method(), path = %path)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// `Authorization: Bearer <admin token>`, compared in constant time.
async fn require_admin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let expected = state.admin_token.as_bytes();
    let same: bool = subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), expected).into();
    if !same || expected.is_empty() {
        return ApiError::unauthorized().into_response();
    }
    next.run(request).await
}
