//! The lifecycle step: snoozed conversations whose time has come wake up to the status they
//! had, and open or pending conversations without activity for `--auto-close-after` close
//! themselves. Time comes from the store's clock. Each transition is claimed and made with a
//! compare-and-set in the store (see [`Store::wake_snoozed`], [`Store::close_inactive`]), so
//! several processes running this step at once make each transition, and record its event,
//! once.

use crate::store::{Store, Sweep};
use std::time::Duration;
use tracing::Instrument;

/// Conversations handled per transaction; the step continues while a batch is full.
const BATCH: i64 = 200;

#[derive(Clone)]
pub struct Lifecycle {
    store: Store,
    auto_close_after: Duration,
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifecycleRun {
    pub woken: usize,
    pub auto_closed: usize,
}

impl Lifecycle {
    pub fn new(store: Store, auto_close_after: Duration) -> Lifecycle {
        Lifecycle {
            store,
            auto_close_after,
        }
    }

    /// Makes every transition due now. Waking comes first, and restarts the auto-close clock,
    /// so a conversation that wakes up is not closed in the same run.
    pub async fn run_once(&self) -> anyhow::Result<LifecycleRun> {
        let span = tracing::info_span!("lifecycle");
        async {
            let inactive_ms = i64::try_from(self.auto_close_after.as_millis()).unwrap_or(i64::MAX);
            let woken = drain(|| self.store.wake_snoozed(BATCH)).await?;
            let auto_closed = drain(|| self.store.close_inactive(inactive_ms, BATCH)).await?;
            if woken + auto_closed > 0 {
                tracing::info!(woken, auto_closed, "conversation lifecycle");
            }
            Ok(LifecycleRun { woken, auto_closed })
        }
        .instrument(span)
        .await
    }
}

/// Runs `pass` until a batch is not full, or makes no progress (another process holds the
/// rest, or took it first).
async fn drain<F, Fut>(mut pass: F) -> anyhow::Result<usize>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = crate::store::Result<Sweep>>,
{
    let mut changed = 0;
    loop {
        let sweep = pass().await?;
        changed += sweep.changed;
        // Failed rows were recorded and are not claimed again for a while: they count as
        // progress.
        if sweep.claimed < BATCH as usize || sweep.changed + sweep.failed == 0 {
            return Ok(changed);
        }
    }
}
