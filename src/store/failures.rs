//! Failed items of background work (see migrations/*/0012): recorded by the loop that met
//! them, listed by the API. A loop never stops for one item; this is where that item shows.

use super::{Result, Store, on_backend};
use crate::domain::Millis;
use sqlx::Row;

/// The loops that record failures here, by the name they are recorded under.
pub mod job {
    /// The notification planner: `item` is `<conversation id>/<person id>`.
    pub const NOTIFY: &str = "notify";
    /// The lifecycle step (snooze wake-up, auto-close): `item` is a conversation id.
    pub const LIFECYCLE: &str = "lifecycle";
    /// The daily DNS re-check of sending domains: `item` is a domain name.
    pub const DOMAIN_CHECK: &str = "domain_check";
    /// The outbox worker, for what fails before the transport (signing, recording): `item` is
    /// an outbox id. Delivery failures are on the outbox row itself.
    pub const OUTBOX: &str = "outbox";
}

/// Reasons are bounded: an error may quote the data that caused it.
const MAX_REASON: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkFailure {
    pub job: String,
    pub item: String,
    pub reason: String,
    /// How many times this item has failed.
    pub failures: i64,
    pub first_failed_at: Millis,
    pub last_failed_at: Millis,
}

/// Records a failure of `$1` (the job) on `$2` (the item): `$3` the reason, `$4` the time; a
/// second failure of the same item counts up and keeps the first time.
pub(super) const UPSERT_FAILURE_SQL: &str =
    "INSERT INTO work_failures (job, item, reason, failures, first_failed_at, last_failed_at)
     VALUES ($1, $2, $3, 1, $4, $4)
     ON CONFLICT (job, item) DO UPDATE
     SET reason = excluded.reason, failures = work_failures.failures + 1,
         last_failed_at = excluded.last_failed_at";

/// Upserts one failure inside the caller's transaction or on a pool (expanded per backend).
macro_rules! upsert_failure {
    ($executor:expr, $job:expr, $item:expr, $reason:expr, $now:expr) => {
        sqlx::query($crate::store::failures::UPSERT_FAILURE_SQL)
            .bind($job)
            .bind($item)
            .bind($crate::store::failures::bounded_reason($reason))
            .bind($now)
            .execute($executor)
            .await
    };
}
pub(super) use upsert_failure;

pub(super) fn bounded_reason(reason: &str) -> String {
    crate::domain::text::clean(
        reason,
        &crate::domain::text::TextRule {
            max_chars: MAX_REASON,
            allow_tab: false,
            allow_isolates: false,
        },
    )
}

impl Store {
    /// Records that `item` of `job` failed with `reason` (and counts it).
    pub async fn record_failure(&self, job: &str, item: &str, reason: &str) -> Result<()> {
        let now = self.now();
        on_backend!(write self, pool => {
            upsert_failure!(pool, job, item, reason, now)?;
            Ok(())
        })
    }

    /// The failures recorded, latest first; of one job when `job` is given.
    pub async fn work_failures(&self, job: Option<&str>, limit: i64) -> Result<Vec<WorkFailure>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT job, item, reason, failures, first_failed_at, last_failed_at
                 FROM work_failures WHERE ($1 IS NULL OR job = $1)
                 ORDER BY last_failed_at DESC, job, item LIMIT $2",
            )
            .bind(job)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(WorkFailure {
                        job: r.try_get("job")?,
                        item: r.try_get("item")?,
                        reason: r.try_get("reason")?,
                        failures: r.try_get("failures")?,
                        first_failed_at: r.try_get("first_failed_at")?,
                        last_failed_at: r.try_get("last_failed_at")?,
                    })
                })
                .collect()
        })
    }
}
