use super::notifications::insert_outbox;
use super::{Dialect, NewOutboxEmail, Result, Store, on_backend};
use crate::domain::{Id, IdKind, Millis};
use sqlx::Row;

/// Codes live this long (10 minutes).
pub const CODE_LIFETIME_MS: Millis = 10 * 60 * 1000;
/// Wrong guesses allowed per code.
pub const CODE_MAX_ATTEMPTS: i64 = 5;
/// Codes per address, and per client IP, within [`CODE_RATE_WINDOW_MS`].
pub const CODES_PER_ADDRESS: i64 = 3;
pub const CODES_PER_IP: i64 = 10;
pub const CODE_RATE_WINDOW_MS: Millis = 10 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeIssue {
    Issued {
        expires_at: Millis,
    },
    /// Too many codes for this address or from this client recently.
    RateLimited {
        retry_after_ms: Millis,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeCheck {
    Verified {
        person_id: String,
        verified_at: Millis,
    },
    Wrong {
        attempts_left: i64,
    },
    /// No live code for this address (never sent, expired, used, or out of attempts).
    NoCode,
}

impl Store {
    /// Records a new code (only its hash) for `person_id` and queues `email` (which carries it)
    /// ahead of notifications, in one transaction; earlier unused codes for the address stop
    /// working. Refused when the address or the client IP asked too often.
    pub async fn issue_verification_code(
        &self,
        person_id: &str,
        email_key: &str,
        code_hash: &str,
        client_ip: &str,
        email: &NewOutboxEmail,
    ) -> Result<CodeIssue> {
        let now = self.now();
        let since = now - CODE_RATE_WINDOW_MS;
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let recent = sqlx::query(
                "SELECT
                   (SELECT COUNT(*) FROM verification_codes WHERE email_key = $1 AND created_at >= $3) AS by_address,
                   (SELECT COUNT(*) FROM verification_codes WHERE client_ip = $2 AND created_at >= $3) AS by_ip,
                   (SELECT MIN(created_at) FROM verification_codes WHERE (email_key = $1 OR client_ip = $2) AND created_at >= $3) AS oldest",
            )
            .bind(email_key)
            .bind(client_ip)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
            let by_address: i64 = recent.try_get("by_address")?;
            let by_ip: i64 = recent.try_get("by_ip")?;
            if by_address >= CODES_PER_ADDRESS || (!client_ip.is_empty() && by_ip >= CODES_PER_IP) {
                let oldest: Option<i64> = recent.try_get("oldest")?;
                tx.rollback().await?;
                return Ok(CodeIssue::RateLimited {
                    retry_after_ms: oldest.map_or(CODE_RATE_WINDOW_MS, |t| (t + CODE_RATE_WINDOW_MS - now).max(1000)),
                });
            }
            sqlx::query("UPDATE verification_codes SET used_at = $2 WHERE email_key = $1 AND used_at IS NULL")
                .bind(email_key)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let expires_at = now + CODE_LIFETIME_MS;
            sqlx::query(
                "INSERT INTO verification_codes (id, person_id, email_key, code_hash, created_at, expires_at, client_ip)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(Id::generate(IdKind::Outbox).replacen("out_", "vc_", 1))
            .bind(person_id)
            .bind(email_key)
            .bind(code_hash)
            .bind(now)
            .bind(expires_at)
            .bind(client_ip)
            .execute(&mut *tx)
            .await?;
            insert_outbox!(tx, email, None, 0i64, now);
            tx.commit().await?;
            Ok(CodeIssue::Issued { expires_at })
        })
    }

    /// Checks a code against the live one for the address. `matches` compares in constant time.
    pub async fn check_verification_code(
        &self,
        email_key: &str,
        matches: impl Fn(&str) -> bool,
    ) -> Result<CodeCheck> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query(
                "SELECT id, person_id, code_hash, attempts FROM verification_codes
                 WHERE email_key = $1 AND used_at IS NULL AND expires_at > $2
                 ORDER BY created_at DESC LIMIT 1",
            )
            .bind(email_key)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(CodeCheck::NoCode);
            };
            let id: String = row.try_get("id")?;
            // Spend an attempt before comparing, atomically (a row lock on PostgreSQL): parallel
            // guesses each cost one, so five attempts mean five guesses.
            let attempts: Option<i64> = sqlx::query_scalar(
                "UPDATE verification_codes SET attempts = attempts + 1
                 WHERE id = $1 AND used_at IS NULL AND attempts < $2
                 RETURNING attempts",
            )
            .bind(&id)
            .bind(CODE_MAX_ATTEMPTS)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(attempts) = attempts else {
                tx.commit().await?;
                return Ok(CodeCheck::NoCode);
            };
            let hash: String = row.try_get("code_hash")?;
            if !matches(&hash) {
                if attempts >= CODE_MAX_ATTEMPTS {
                    // The last allowed wrong guess burns the code.
                    sqlx::query("UPDATE verification_codes SET used_at = $2 WHERE id = $1")
                        .bind(&id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                return Ok(CodeCheck::Wrong {
                    attempts_left: CODE_MAX_ATTEMPTS - attempts,
                });
            }
            let person_id: String = row.try_get("person_id")?;
            sqlx::query("UPDATE verification_codes SET used_at = $2 WHERE id = $1")
                .bind(&id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE people SET verified_at = $2 WHERE id = $1")
                .bind(&person_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(CodeCheck::Verified {
                person_id,
                verified_at: now,
            })
        })
    }
}
