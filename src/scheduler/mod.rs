//! The scheduler: one tick loop on the application's runtime; each job is a step function that
//! tests call directly instead of sleeping.

pub mod lifecycle;
pub mod notify;

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Runs the notification planner, then the conversation lifecycle step, every `tick` until
/// `shutdown`; rings `outbox_wake` when the planner queued mail.
pub async fn run(
    planner: notify::Planner,
    lifecycle: lifecycle::Lifecycle,
    tick: Duration,
    outbox_wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = interval.tick() => {}
        }
        match planner.run_once().await {
            Ok(n) if n > 0 => outbox_wake.notify_one(),
            Ok(_) => {}
            Err(err) => tracing::error!(error = %err, "notification planning failed"),
        }
        if let Err(err) = lifecycle.run_once().await {
            tracing::error!(error = %err, "conversation lifecycle step failed");
        }
    }
}
