//! What `/readyz` and `/metrics` read of the database: that it answers, that its schema is the
//! one this binary migrates to, and the outbox's backlog.

use super::{Result, Store, on_backend};
use crate::domain::Millis;

/// The outbox at a glance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxSummary {
    /// Waiting to be delivered (due or not, being delivered included).
    pub queued: i64,
    /// Among them, those that failed at least once and wait for their next attempt.
    pub retrying: i64,
    /// Given up on.
    pub failed: i64,
    /// How long the oldest email due for delivery, and not delivered, has been due — waiting
    /// for a worker, or claimed by one and not done (None: nothing is due).
    pub oldest_due_ms: Option<Millis>,
}

impl Store {
    /// One round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        on_backend!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }

    /// The schema version applied to the database against the one this binary migrates to:
    /// (applied, ours).
    pub async fn schema_versions(&self) -> Result<(i64, i64)> {
        on_backend!(self, pool => {
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(pool)
                    .await?;
            let ours = match &self.backend {
                super::Backend::Sqlite { .. } => sqlx::migrate!("migrations/sqlite"),
                super::Backend::Postgres { .. } => sqlx::migrate!("migrations/postgres"),
            }
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
            Ok((applied.unwrap_or(0), ours))
        })
    }

    /// Read through the `outbox_claim` index (status first): sent emails, which pile up, are
    /// never visited.
    pub async fn outbox_summary(&self) -> Result<OutboxSummary> {
        let now = self.now();
        on_backend!(self, pool => {
            let (queued, retrying, failed, oldest): (i64, i64, i64, Option<i64>) = sqlx::query_as(
                "SELECT
                    COALESCE(SUM(CASE WHEN status IN ('pending', 'sending') THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN status = 'pending' AND attempts > 0 THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0),
                    MIN(CASE WHEN status = 'sending'
                               OR (status = 'pending' AND next_attempt_at <= $1)
                             THEN next_attempt_at END)
                 FROM outbox WHERE status IN ('pending', 'sending', 'failed')",
            )
            .bind(now)
            .fetch_one(pool)
            .await?;
            Ok(OutboxSummary {
                queued,
                retrying,
                failed,
                oldest_due_ms: oldest.map(|due| now - due),
            })
        })
    }
}
