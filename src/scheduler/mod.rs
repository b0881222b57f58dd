//! The scheduler: one tick loop on the application's runtime; each job is a step function that
//! tests call directly instead of sleeping.

// One bad record never stops the work for everyone: no unwrap or expect on paths that
// handle data (a panic here would stop a loop); errors are returned and recorded instead.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod lifecycle;
pub mod notify;

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs the notification planner, then the conversation lifecycle step, every `tick` until
/// `shutdown`; the planner wakes the outbox worker when it queued mail.
pub async fn run(
    planner: notify::Planner,
    lifecycle: lifecycle::Lifecycle,
    tick: Duration,
    shutdown: CancellationToken,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = interval.tick() => {}
        }
        let started = std::time::Instant::now();
        match planner.run_once().await {
            Ok(emails) => {
                metrics.planned.inc_by(emails as u64);
            }
            Err(err) => tracing::error!(error = %err, "notification planning failed"),
        }
        if let Err(err) = lifecycle.run_once().await {
            tracing::error!(error = %err, "conversation lifecycle step failed");
        }
        metrics.tick.observe(started.elapsed().as_secs_f64());
    }
}

/// Reads the sending domains again every `tick`, for changes another process made (a domain
/// added on one machine is known to the others within a tick: its reply domain accepted at
/// RCPT, its From used in notifications); and re-checks their DNS records once a day (those
/// checked before: a domain is first checked by its admin), every `period`, in a loop of its
/// own so that a slow resolver never delays notifications.
pub async fn domain_checks(
    domains: crate::sending_domains::Domains,
    tick: Duration,
    period: Duration,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_check: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = interval.tick() => {}
        }
        if let Err(err) = domains.reload().await {
            tracing::error!(error = %err, "reading the sending domains failed");
        }
        if last_check.is_some_and(|at| at.elapsed() < period) {
            continue;
        }
        last_check = Some(tokio::time::Instant::now());
        tokio::select! {
            _ = shutdown.cancelled() => break,
            result = domains.recheck_due() => {
                if let Err(err) = result {
                    tracing::error!(error = %err, "re-checking sending domains failed");
                }
            }
        }
    }
}
