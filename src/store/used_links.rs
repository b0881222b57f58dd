//! Sign-in links that have opened a session. A notification's link is a bearer credential for
//! 14 days; once its recipient has used it, a replay (the email forwarded, the URL in a proxy
//! log or a browser history) must not open a second session. Kept by digest, shared by every
//! gateway process through the database; a row goes once its link has expired anyway.

use super::{Dialect, Result, Store, on_backend};
use crate::domain::Millis;

impl Store {
    /// Marks the link with `digest` (valid until `expires_at`) as used: true the first time,
    /// false when it already was. One statement, so two concurrent uses cannot both win.
    pub async fn use_link(&self, digest: &str, expires_at: Millis) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM used_links WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let inserted = sqlx::query(
                "INSERT INTO used_links (digest, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (digest) DO NOTHING",
            )
            .bind(digest)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(inserted == 1)
        })
    }

    /// Whether the link with `digest` has already opened a session.
    pub async fn link_used(&self, digest: &str) -> Result<bool> {
        on_backend!(self, pool => {
            let found: Option<i64> =
                sqlx::query_scalar("SELECT expires_at FROM used_links WHERE digest = $1")
                    .bind(digest)
                    .fetch_optional(pool)
                    .await?;
            Ok(found.is_some())
        })
    }
}
