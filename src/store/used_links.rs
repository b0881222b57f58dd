//! Sign-in links that have opened a session. A notification's link is a bearer credential for
//! 14 days; once its recipient has used it, a replay (the email forwarded, the URL in a proxy
//! log or a browser history) must not open a second session. Kept by digest, shared by every
//! gateway process through the database; a row goes a day after its link has expired anyway.
//!
//! The browser that used a link (a digest of its form token) may press again for a few
//! minutes: a double tap, or an answer lost on a phone's connection, must not leave its
//! recipient locked out.

use super::{Dialect, Result, Store, on_backend};
use crate::domain::Millis;

/// How long the browser that used a link may use it again.
const SAME_BROWSER_MS: Millis = 10 * 60 * 1000;
/// Rows outlive their link by this much, so that no use can race the purge.
const PURGE_MARGIN_MS: Millis = 24 * 3600 * 1000;

/// What a sign-in link's use finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkUse {
    /// Never used: this use is the one.
    First,
    /// Used by this same browser a moment ago: it may again.
    SameBrowser,
    /// Used by another browser, or long ago: refused.
    Used,
}

impl Store {
    /// Marks the link with `digest` (valid until `expires_at`) used by `browser`, and says
    /// whether this use may open a session. The insert decides: of two uses at once, one is
    /// `First`, the other finds its row.
    pub async fn use_link(
        &self,
        digest: &str,
        expires_at: Millis,
        browser: &str,
    ) -> Result<LinkUse> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM used_links WHERE expires_at <= $1 AND digest <> $2")
                .bind(now - PURGE_MARGIN_MS)
                .bind(digest)
                .execute(&mut *tx)
                .await?;
            let inserted = sqlx::query(
                "INSERT INTO used_links (digest, expires_at, browser, used_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO NOTHING",
            )
            .bind(digest)
            .bind(expires_at)
            .bind(browser)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let found = match inserted {
                1 => LinkUse::First,
                _ => {
                    let row: Option<(String, i64)> = sqlx::query_as(
                        "SELECT browser, used_at FROM used_links WHERE digest = $1",
                    )
                    .bind(digest)
                    .fetch_optional(&mut *tx)
                    .await?;
                    judge(row, browser, now)
                }
            };
            tx.commit().await?;
            Ok(found)
        })
    }

    /// What using the link with `digest` from `browser` would find, changing nothing.
    pub async fn link_use(&self, digest: &str, browser: &str) -> Result<LinkUse> {
        let now = self.now();
        on_backend!(self, pool => {
            let row: Option<(String, i64)> =
                sqlx::query_as("SELECT browser, used_at FROM used_links WHERE digest = $1")
                    .bind(digest)
                    .fetch_optional(pool)
                    .await?;
            Ok(match row {
                None => LinkUse::First,
                found => judge(found, browser, now),
            })
        })
    }
}

/// A used link's row against this browser, now.
fn judge(row: Option<(String, Millis)>, browser: &str, now: Millis) -> LinkUse {
    match row {
        Some((by, at)) if by == browser && now - at < SAME_BROWSER_MS => LinkUse::SameBrowser,
        _ => LinkUse::Used,
    }
}
