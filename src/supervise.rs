//! Background loops that never stay down. Each loop (the scheduler, the outbox worker, the
//! domain re-checks, the inbound committers) runs as a task under [`supervise`]: if the task
//! ends before shutdown or panics, the failure is logged at error level, recorded in
//! [`Health`], and the loop is started again after a backoff (1 s, doubling to a minute; back
//! to 1 s once a run has lasted a minute). `/healthz` answers 503 while a loop is down or has
//! restarted [`FLAPPING_RESTARTS`] times within [`FLAPPING_WINDOW`].
//!
//! A leaf module: tokio and the standard library only.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

/// This many restarts within [`FLAPPING_WINDOW`] make a running loop count as failing.
pub const FLAPPING_RESTARTS: usize = 3;
pub const FLAPPING_WINDOW: Duration = Duration::from_secs(10 * 60);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A run that lasted this long was healthy: the next failure starts the backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// The state of every supervised loop. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Health {
    loops: Arc<Mutex<BTreeMap<&'static str, LoopState>>>,
}

#[derive(Default)]
struct LoopState {
    running: bool,
    restarts: u64,
    recent: VecDeque<Instant>,
    last_failure: Option<String>,
    last_failure_at: Option<SystemTime>,
    /// The task running now, so that an operator (or a test) can restart it.
    task: Option<AbortHandle>,
}

/// One loop, as `/healthz` and the API report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopReport {
    pub name: &'static str,
    pub running: bool,
    pub restarts: u64,
    /// Restarted [`FLAPPING_RESTARTS`] times or more within [`FLAPPING_WINDOW`].
    pub flapping: bool,
    pub last_failure: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub last_failure_at: Option<i64>,
}

impl LoopReport {
    pub fn healthy(&self) -> bool {
        self.running && !self.flapping
    }
}

impl Health {
    pub fn new() -> Health {
        Health::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<&'static str, LoopState>> {
        // The map stays consistent whatever a panicking holder did: every update is one
        // field assignment.
        self.loops.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn started(&self, name: &'static str, task: AbortHandle) {
        let mut loops = self.lock();
        let state = loops.entry(name).or_default();
        state.running = true;
        state.task = Some(task);
    }

    fn failed(&self, name: &'static str, reason: String) {
        let mut loops = self.lock();
        let state = loops.entry(name).or_default();
        let now = Instant::now();
        state.running = false;
        state.task = None;
        state.restarts += 1;
        state.recent.push_back(now);
        while state.recent.len() > FLAPPING_RESTARTS {
            state.recent.pop_front();
        }
        state.last_failure = Some(reason);
        state.last_failure_at = Some(SystemTime::now());
    }

    /// The loop is over (shutdown, or its work is done): it is no longer reported.
    fn stopped(&self, name: &'static str) {
        self.lock().remove(name);
    }

    /// Aborts the task of loop `name` now; its supervisor starts it again (after the backoff)
    /// and records the restart. False when no such loop is running.
    pub fn restart(&self, name: &str) -> bool {
        let mut loops = self.lock();
        match loops.get_mut(name) {
            Some(state) if state.task.is_some() => {
                // Down from now on, not from whenever the supervisor notices.
                state.running = false;
                if let Some(task) = state.task.take() {
                    task.abort();
                }
                true
            }
            _ => false,
        }
    }

    /// Every loop registered so far, by name.
    pub fn report(&self) -> Vec<LoopReport> {
        let now = Instant::now();
        self.lock()
            .iter()
            .map(|(name, s)| LoopReport {
                name,
                running: s.running,
                restarts: s.restarts,
                flapping: s.recent.len() >= FLAPPING_RESTARTS
                    && s.recent
                        .front()
                        .is_some_and(|t| now.duration_since(*t) < FLAPPING_WINDOW),
                last_failure: s.last_failure.clone(),
                last_failure_at: s.last_failure_at.map(|t| {
                    t.duration_since(UNIX_EPOCH)
                        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                }),
            })
            .collect()
    }

    /// True when every registered loop is running and none is flapping.
    pub fn healthy(&self) -> bool {
        self.report().iter().all(LoopReport::healthy)
    }
}

/// What a loop's end means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnReturn {
    /// The loop returns only when `shutdown` is cancelled; any other return is a failure.
    RestartUnlessShutdown,
    /// The loop returns when its work is over (its queue closed): it is not restarted.
    Finish,
}

/// Runs `make()`'s future as a task named `name` until it returns as `on_return` expects,
/// starting it again after each failure (a panic, an abort, an unexpected return). Returns
/// when the loop is over or `shutdown` is cancelled.
pub async fn supervise<F, Fut>(
    name: &'static str,
    health: Health,
    shutdown: CancellationToken,
    on_return: OnReturn,
    mut make: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        let task = tokio::spawn(make());
        health.started(name, task.abort_handle());
        let reason = match task.await {
            Ok(()) if shutdown.is_cancelled() || on_return == OnReturn::Finish => {
                health.stopped(name);
                return;
            }
            Ok(()) => "the loop returned before shutdown".to_string(),
            Err(err) if err.is_panic() => format!("panicked: {}", panic_message(err.into_panic())),
            Err(_) => "the task was aborted".to_string(),
        };
        if shutdown.is_cancelled() {
            health.stopped(name);
            return;
        }
        if started.elapsed() >= HEALTHY_RUN {
            backoff = FIRST_BACKOFF;
        }
        tracing::error!(task = name, %reason, restart_in_ms = backoff.as_millis() as u64, "a background loop failed; restarting it");
        health.failed(name, reason);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-text panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_panicking_loop_is_restarted_with_backoff_and_reported() {
        let health = Health::new();
        let shutdown = CancellationToken::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let stop = shutdown.clone();
        let supervisor = tokio::spawn(supervise(
            "flaky",
            health.clone(),
            shutdown.clone(),
            OnReturn::RestartUnlessShutdown,
            move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let stop = stop.clone();
                async move {
                    if n < 3 {
                        panic!("run {n} fails");
                    }
                    stop.cancelled().await;
                }
            },
        ));
        // 1 s + 2 s + 4 s of backoff: the fourth run is up after 7 s.
        tokio::time::sleep(Duration::from_millis(7_500)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 4);
        let report = &health.report()[0];
        assert_eq!(report.name, "flaky");
        assert!(report.running);
        assert_eq!(report.restarts, 3);
        assert!(report.flapping, "three restarts within ten minutes");
        assert!(!health.healthy());
        assert_eq!(
            report.last_failure.as_deref(),
            Some("panicked: run 2 fails")
        );

        // Restarted from outside: counted, started again.
        assert!(health.restart("flaky"));
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 5);
        assert_eq!(health.report()[0].restarts, 4);

        shutdown.cancel();
        supervisor.await.unwrap();
        assert!(health.report().is_empty(), "a loop over is not reported");
    }

    #[tokio::test(start_paused = true)]
    async fn a_loop_that_returns_early_is_a_failure_unless_it_may_finish() {
        let health = Health::new();
        let shutdown = CancellationToken::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let supervisor = tokio::spawn(supervise(
            "returns",
            health.clone(),
            shutdown.clone(),
            OnReturn::RestartUnlessShutdown,
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async {}
            },
        ));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(
            health.report()[0].last_failure.as_deref(),
            Some("the loop returned before shutdown")
        );
        shutdown.cancel();
        supervisor.await.unwrap();

        // A loop allowed to finish is not restarted, and is not "failing" either.
        let finished = Health::new();
        supervise(
            "queue",
            finished.clone(),
            CancellationToken::new(),
            OnReturn::Finish,
            || async {},
        )
        .await;
        assert!(finished.report().is_empty());
        assert!(finished.healthy());
    }
}
