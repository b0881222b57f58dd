//! What an operator's tools read: `/readyz` (may this process take traffic now?), `/metrics`
//! (Prometheus text format; behind the admin token on the HTTP listener, or unauthenticated on
//! `--metrics-listen`), and the counting of every HTTP request by route template and status.

use super::AppState;
use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What readiness depends on besides the database.
#[derive(Clone)]
pub struct Readiness {
    /// Cancelled when the process starts shutting down: not ready from that moment.
    pub shutdown: CancellationToken,
    /// Set once the SMTP listener accepts.
    pub smtp_listening: Arc<AtomicBool>,
    /// The oldest email due for delivery may wait this long (`--ready-max-outbox-lag`).
    pub max_outbox_lag: Duration,
}

/// The longest a readiness check waits for the database.
const DATABASE_WITHIN: Duration = Duration::from_secs(1);

/// `GET /readyz`: 200 when the database answers within a second, its schema is this binary's,
/// both listeners accept and the outbox keeps up; else 503 naming each failing check. During
/// shutdown, 503 at once.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let ready = &state.readiness;
    if ready.shutdown.is_cancelled() {
        return not_ready(vec!["shutting down".to_string()]);
    }
    let mut failing = Vec::new();
    if !ready.smtp_listening.load(Ordering::Relaxed) {
        failing.push("the SMTP listener is not accepting yet".to_string());
    }
    let store = &state.store;
    let checks = async {
        store.ping().await?;
        let schema = store.schema_versions().await?;
        let outbox = store.outbox_summary().await?;
        Ok::<_, crate::store::StoreError>((schema, outbox))
    };
    match tokio::time::timeout(DATABASE_WITHIN, checks).await {
        Err(_) => failing.push("the database did not answer within 1 s".to_string()),
        Ok(Err(err)) => {
            // The details go to the log, not to whoever asks.
            tracing::warn!(error = %err, "readiness check: the database failed");
            failing.push("the database failed (see the log)".to_string());
        }
        Ok(Ok(((applied, ours), outbox))) => {
            if applied != ours {
                failing.push(format!(
                    "the database schema is at version {applied}, this binary's is {ours}"
                ));
            }
            let lag = Duration::from_millis(outbox.oldest_due_ms.unwrap_or(0).max(0) as u64);
            if lag > ready.max_outbox_lag {
                failing.push(format!(
                    "the oldest email due for delivery has waited {} s (more than {} s)",
                    lag.as_secs(),
                    ready.max_outbox_lag.as_secs()
                ));
            }
        }
    }
    if failing.is_empty() {
        (StatusCode::OK, Json(json!({"status": "ready"}))).into_response()
    } else {
        not_ready(failing)
    }
}

fn not_ready(failing: Vec<String>) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "not ready", "failing": failing})),
    )
        .into_response()
}

/// `GET /metrics`: the process's metrics, the outbox's read now.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let metrics = &state.metrics;
    // A gauge the database could not give keeps its last value; the log says why.
    match state.store.outbox_summary().await {
        Err(err) => tracing::warn!(error = %err, "metrics: reading the outbox failed"),
        Ok(outbox) => {
            for (name, count) in [
                ("queued", outbox.queued),
                ("retrying", outbox.retrying),
                ("failed", outbox.failed),
            ] {
                metrics
                    .outbox
                    .get_or_create(&crate::metrics::OutboxState { state: name })
                    .set(count);
            }
            metrics
                .outbox_oldest_due
                .set(outbox.oldest_due_ms.unwrap_or(0).max(0) as f64 / 1000.0);
        }
    }
    // One scrape at a time refreshes the gauges read from the database (two would interleave
    // the clearing and counting below).
    let _refreshing = metrics.refreshing.lock().await;
    match state.store.domains().await {
        Err(err) => tracing::warn!(error = %err, "metrics: reading the domains failed"),
        Ok(domains) => {
            // Read whole each time: a removed domain or status leaves no stale series.
            metrics.domain_checks.clear();
            for domain in domains {
                for record in domain.check_results.as_array().into_iter().flatten() {
                    let result = record["status"].as_str().unwrap_or("unknown").to_string();
                    metrics
                        .domain_checks
                        .get_or_create(&crate::metrics::DomainCheck {
                            domain: domain.name.clone(),
                            result,
                        })
                        .inc();
                }
            }
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.encode(),
    )
        .into_response()
}

/// Counts every request by method, route template and status, and times it by route.
pub async fn count_request(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    // Any token is a method to HTTP: only the standard ones become a label, or anyone could
    // grow the metrics without end.
    let method = match request.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
        _ => "other",
    }
    .to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", MatchedPath::as_str)
        .to_string();
    let response = next.run(request).await;
    let metrics = &state.metrics;
    metrics
        .http_request_duration
        .get_or_create(&crate::metrics::Route {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .http_requests
        .get_or_create(&crate::metrics::Request {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// `--metrics-listen`: a listener of its own serving `/metrics` only, without the admin token
/// (for a scraper on a private network).
pub fn metrics_router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .with_state(state)
}
