//! Web view sign-in sessions. The cookie carries a random value; only its SHA-256 is stored,
//! so reading the database never yields a usable session. Sessions expire, and are revoked
//! server-side (sign out, sign out everywhere, an admin revoking a person's sessions).

use super::people::person_from_row;
use super::{Dialect, Person, Result, Store, on_backend};
use crate::domain::{Millis, random_base32};
use sqlx::Row;

/// How a session was opened: kept for the person's list of sessions and for audits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionVia {
    MagicLink,
    Code,
    AdminToken,
}

impl SessionVia {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionVia::MagicLink => "magic_link",
            SessionVia::Code => "code",
            SessionVia::AdminToken => "admin_token",
        }
    }
}

/// A live session and who it belongs to.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub id: String,
    /// None: an admin session (opened with the admin token), acting as no one.
    pub person: Option<Person>,
    /// The synchronizer token every form of this session must carry.
    pub csrf: String,
    pub expires_at: Millis,
    /// The person's language (`people.locale`), read with the session.
    pub locale: Option<crate::domain::Locale>,
    /// The person's time zone (`people.time_zone`), read with the session; None: the default.
    pub time_zone: Option<crate::domain::TimeZone>,
    /// Admin sessions: the hash of the admin token they were opened with (a new token ends
    /// them).
    pub admin_key: Option<String>,
}

/// What decides whether a person's sign-in link still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkPolicy {
    pub blocked: bool,
    /// Links issued before this were revoked (sign out everywhere, blocking).
    pub valid_after: Millis,
}

/// A person proved they read their address (`$1` the person, `$2` the time): a magic link, a
/// code, or a stranger's confirmation link.
pub(super) const MARK_VERIFIED: &str =
    "UPDATE people SET verified_at = $2 WHERE id = $1 AND verified_at IS NULL";

impl Store {
    /// Opens a session for `person_id` (None: admin, with the hash of the admin token).
    /// Returns its id.
    pub async fn create_session(
        &self,
        person_id: Option<&str>,
        admin_key: Option<&str>,
        via: SessionVia,
        token_hash: &str,
        csrf: &str,
        lifetime_ms: Millis,
    ) -> Result<String> {
        let now = self.now();
        let id = format!("ses_{}", random_base32(10));
        on_backend!(write self, pool => {
            sqlx::query(
                "INSERT INTO web_sessions (id, token_hash, person_id, csrf, via, created_at, expires_at, admin_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(token_hash)
            .bind(person_id)
            .bind(csrf)
            .bind(via.as_str())
            .bind(now)
            .bind(now.saturating_add(lifetime_ms))
            .bind(admin_key)
            .execute(pool)
            .await?;
        });
        Ok(id)
    }

    /// The unexpired, unrevoked session whose cookie hashes to `token_hash` (never one of a
    /// blocked person).
    pub async fn session_by_hash(&self, token_hash: &str) -> Result<Option<WebSession>> {
        let now = self.now();
        on_backend!(self, pool => {
            let row = sqlx::query(
                "SELECT s.id AS session_id, s.csrf, s.expires_at, s.person_id, s.admin_key,
                        p.id, p.email, p.name, p.role, p.created_at, p.email_status, p.locale,
                        p.time_zone
                 FROM web_sessions s LEFT JOIN people p ON p.id = s.person_id
                 WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
                   AND (s.person_id IS NULL OR p.blocked = 0)",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let person_id: Option<String> = row.try_get("person_id")?;
            let locale: Option<String> = row.try_get("locale")?;
            let time_zone: Option<String> = row.try_get("time_zone")?;
            Ok(Some(WebSession {
                id: row.try_get("session_id")?,
                person: match person_id {
                    Some(_) => Some(person_from_row(&row)?),
                    None => None,
                },
                csrf: row.try_get("csrf")?,
                expires_at: row.try_get("expires_at")?,
                locale: locale.as_deref().and_then(crate::domain::Locale::parse),
                time_zone: time_zone.as_deref().and_then(crate::domain::TimeZone::parse),
                admin_key: row.try_get("admin_key")?,
            }))
        })
    }

    /// Signs one session out. False when it was already gone.
    pub async fn revoke_session(&self, id: &str) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "UPDATE web_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Signs a person out everywhere: their sessions, and the sign-in links already emailed
    /// to them. Returns how many sessions were live.
    pub async fn revoke_sessions_of(&self, person_id: &str) -> Result<u64> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(
                "UPDATE web_sessions SET revoked_at = $2
                 WHERE person_id = $1 AND revoked_at IS NULL AND expires_at > $2",
            )
            .bind(person_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE people SET sessions_valid_after = $2 WHERE id = $1")
                .bind(person_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        })
    }

    /// Signs every admin session out.
    pub async fn revoke_admin_sessions(&self) -> Result<u64> {
        let now = self.now();
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "UPDATE web_sessions SET revoked_at = $1
                 WHERE person_id IS NULL AND revoked_at IS NULL AND expires_at > $1",
            )
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected())
        })
    }

    /// Whether links to this person may sign them in, and since when. None: no such person.
    pub async fn link_policy(&self, person_id: &str) -> Result<Option<LinkPolicy>> {
        on_backend!(self, pool => {
            let row = sqlx::query("SELECT blocked, sessions_valid_after FROM people WHERE id = $1")
                .bind(person_id)
                .fetch_optional(pool)
                .await?;
            row.map(|row| -> Result<LinkPolicy> {
                let blocked: i64 = row.try_get("blocked")?;
                Ok(LinkPolicy { blocked: blocked != 0, valid_after: row.try_get("sessions_valid_after")? })
            })
            .transpose()
        })
    }

    /// Following a magic link proves the person reads this address: mark it verified (once).
    pub async fn mark_verified(&self, person_id: &str) -> Result<()> {
        let now = self.now();
        on_backend!(write self, pool => {
            sqlx::query(MARK_VERIFIED)
                .bind(person_id)
                .bind(now)
                .execute(pool)
                .await?;
            Ok(())
        })
    }
}
