//! Failed attempts at the admin token, by client IP, with exponential backoff: the first
//! [`FREE_FAILURES`] in an hour cost nothing, then each attempt must wait twice as long after
//! the last failure as the one before (1 s, 2 s, 4 s… up to [`MAX_WAIT_MS`]). Counted in the
//! database, so several gateway processes share the count; rows older than the window go as
//! new ones come.

use super::{Dialect, Result, Store, on_backend};
use crate::domain::Millis;

/// Failures within the window that cost nothing.
pub const FREE_FAILURES: i64 = 5;
/// How long a failure counts.
const WINDOW_MS: Millis = 60 * 60 * 1000;
/// The longest wait between two attempts.
pub const MAX_WAIT_MS: Millis = 15 * 60 * 1000;

impl Store {
    /// How long `client_ip` must still wait before its next attempt at the admin token; None
    /// when it may try now.
    pub async fn sign_in_wait(&self, client_ip: &str) -> Result<Option<Millis>> {
        let now = self.now();
        on_backend!(self, pool => {
            let (failures, last): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MAX(at) FROM sign_in_failures WHERE client_ip = $1 AND at > $2",
            )
            .bind(client_ip)
            .bind(now - WINDOW_MS)
            .fetch_one(pool)
            .await?;
            Ok(wait_after(failures, last, now))
        })
    }

    /// Records a failed attempt by `client_ip` (and forgets failures older than the window).
    pub async fn record_sign_in_failure(&self, client_ip: &str) -> Result<()> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM sign_in_failures WHERE at <= $1")
                .bind(now - WINDOW_MS)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO sign_in_failures (client_ip, at) VALUES ($1, $2)")
                .bind(client_ip)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

/// The wait after `failures` failures in the window, the last at `last`.
fn wait_after(failures: i64, last: Option<Millis>, now: Millis) -> Option<Millis> {
    let over = failures - FREE_FAILURES;
    let last = last?;
    if over < 0 {
        return None;
    }
    let wait = 1000i64
        .checked_shl(u32::try_from(over).unwrap_or(u32::MAX).min(30))
        .unwrap_or(MAX_WAIT_MS)
        .min(MAX_WAIT_MS);
    let left = last + wait - now;
    (left > 0).then_some(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_after_the_free_failures_and_is_bounded() {
        assert_eq!(wait_after(0, None, 10_000), None);
        assert_eq!(wait_after(4, Some(10_000), 10_000), None);
        assert_eq!(wait_after(5, Some(10_000), 10_000), Some(1000));
        assert_eq!(wait_after(6, Some(10_000), 10_000), Some(2000));
        assert_eq!(wait_after(7, Some(10_000), 10_500), Some(3500));
        assert_eq!(wait_after(5, Some(10_000), 11_000), None);
        assert_eq!(wait_after(400, Some(10_000), 10_000), Some(MAX_WAIT_MS));
    }
}
