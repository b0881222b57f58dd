use super::{Result, Store, on_backend};
use crate::domain::Millis;
use sqlx::Row;

/// An email claimed for delivery by this process until `lease_until`.
#[derive(Debug, Clone)]
pub struct OutboxEmail {
    pub id: String,
    pub envelope_from: String,
    pub recipient: String,
    pub message_id: String,
    pub data: Vec<u8>,
    /// Including the attempt now being made. Also the claim's fencing token: only the holder
    /// of the latest claim (same `attempts`) can renew it or record its result.
    pub attempts: i64,
    seq: i64,
    priority: i64,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStatus {
    pub id: String,
    pub recipient: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: Millis,
}

/// Claims up to `$3` emails at time `$1`, leased until `$2`: those due, then those whose lease
/// ran out, by priority, then the time they became due, then age. Each kind is read on its own
/// through `outbox_claim (status, priority, next_attempt_at)` in that order and stops at `$3`
/// rows. One query with `OR` between the kinds could not use the index's order: it read and
/// sorted every queued email at each claim — with a digest's 100,000 emails queued, 19–31 ms on
/// SQLite and 115 ms on PostgreSQL per claim of 16, 6,250 claims to send them all; this way
/// 1–2 ms and 3.7 ms (README, *Draining the queue*). `$lock` takes PostgreSQL's row locks (`FOR UPDATE SKIP LOCKED`, not
/// allowed on a `UNION`, hence one per kind).
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "WITH due AS (
                 SELECT id, priority, next_attempt_at, seq FROM outbox
                 WHERE status = 'pending' AND next_attempt_at <= $1
                 ORDER BY priority, next_attempt_at, seq LIMIT $3 ",
            $lock,
            "), expired AS (
                 SELECT id, priority, next_attempt_at, seq FROM outbox
                 WHERE status = 'sending' AND lease_until < $1
                 ORDER BY priority, next_attempt_at, seq LIMIT $3 ",
            $lock,
            ")
             UPDATE outbox SET status = 'sending', lease_until = $2, attempts = attempts + 1
             WHERE id IN (SELECT id FROM (SELECT * FROM due UNION ALL SELECT * FROM expired) AS claimable
                          ORDER BY priority, next_attempt_at, seq LIMIT $3)
             RETURNING seq, priority, created_at, id, envelope_from, recipient, message_id, data, attempts"
        )
    };
}

const CLAIM_SQLITE: &str = claim_sql!("");
const CLAIM_POSTGRES: &str = claim_sql!("FOR UPDATE SKIP LOCKED");

impl Store {
    /// Claims up to `limit` due emails for `lease_ms`. A claim whose lease ran out (the process
    /// that held it died mid-delivery) is due again. On PostgreSQL the row locks are taken with
    /// `FOR UPDATE SKIP LOCKED`, so several processes never claim the same email. An email
    /// whose stored copy is damaged (`StoredEmail`) is failed, and the others are delivered.
    /// Reads as many rows as it claims, however long the queue (see [`claim_sql!`]).
    pub async fn claim_outbox(&self, limit: i64, lease_ms: i64) -> Result<Vec<OutboxEmail>> {
        let now = self.now();
        let (mut claimed, damaged) = on_backend!(write self, pool => {
            let sql = super::Dialect::pick(pool, CLAIM_SQLITE, CLAIM_POSTGRES);
            let rows = sqlx::query(sql)
                .bind(now)
                .bind(now + lease_ms)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            let (mut claimed, mut damaged) = (Vec::with_capacity(rows.len()), Vec::new());
            for row in &rows {
                let mut email = OutboxEmail {
                    seq: row.try_get("seq")?,
                    priority: row.try_get("priority")?,
                    created_at: row.try_get("created_at")?,
                    id: row.try_get("id")?,
                    envelope_from: row.try_get("envelope_from")?,
                    recipient: row.try_get("recipient")?,
                    message_id: row.try_get("message_id")?,
                    data: Vec::new(),
                    attempts: row.try_get("attempts")?,
                };
                match super::stored_email::unpack(row.try_get("data")?) {
                    Ok(raw) => {
                        email.data = raw;
                        claimed.push(email);
                    }
                    Err(err) => damaged.push((email, err)),
                }
            }
            (claimed, damaged)
        });
        for (email, err) in damaged {
            tracing::error!(outbox_id = %email.id, error = %err, "a queued email's stored copy is damaged");
            self.outbox_failed(&email, &format!("the stored email is damaged: {err}"))
                .await?;
        }
        // UPDATE … RETURNING has no order: verification codes first, then oldest first, so a
        // follow-up never overtakes the email it answers.
        claimed.sort_by_key(|e| (e.priority, e.seq));
        Ok(claimed)
    }

    /// Extends a claim just before delivering; false when the claim was lost (its lease ran
    /// out and another worker claimed the email again), and the email must be left alone.
    pub async fn renew_outbox_claim(&self, email: &OutboxEmail, lease_ms: i64) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "UPDATE outbox SET lease_until = $3
                 WHERE id = $1 AND status = 'sending' AND attempts = $2",
            )
            .bind(&email.id)
            .bind(email.attempts)
            .bind(now + lease_ms)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Records a delivery. Like the other results, it only applies to the current claim: a late
    /// answer from a claim that expired never overwrites a newer outcome. Returns false then.
    pub async fn outbox_sent(&self, email: &OutboxEmail) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            let done = sqlx::query(
                // A sent verification code (priority 0) is not kept: the code would otherwise
                // sit in plain text in the database, defeating its hashed storage.
                "UPDATE outbox SET status = 'sent', sent_at = $3, lease_until = NULL, last_error = NULL,
                                   data = CASE WHEN priority = 0 THEN $4 ELSE data END
                 WHERE id = $1 AND status = 'sending' AND attempts = $2",
            )
            .bind(&email.id)
            .bind(email.attempts)
            .bind(now)
            .bind(Vec::<u8>::new())
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// A temporary failure: try again at `next_attempt_at`.
    pub async fn outbox_retry(
        &self,
        email: &OutboxEmail,
        error: &str,
        next_attempt_at: Millis,
    ) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "UPDATE outbox SET status = 'pending', next_attempt_at = $4, last_error = $3,
                        lease_until = NULL
                 WHERE id = $1 AND status = 'sending' AND attempts = $2",
            )
            .bind(&email.id)
            .bind(email.attempts)
            .bind(error)
            .bind(next_attempt_at)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// A permanent failure: never tried again.
    pub async fn outbox_failed(&self, email: &OutboxEmail, error: &str) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "UPDATE outbox SET status = 'failed', last_error = $3, lease_until = NULL
                 WHERE id = $1 AND status = 'sending' AND attempts = $2",
            )
            .bind(&email.id)
            .bind(email.attempts)
            .bind(error)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Delivery state of queued emails, oldest first (for operators and tests).
    pub async fn outbox_statuses(&self, limit: i64) -> Result<Vec<OutboxStatus>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, recipient, status, attempts, last_error, next_attempt_at
                 FROM outbox ORDER BY seq DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(OutboxStatus {
                        id: row.try_get("id")?,
                        recipient: row.try_get("recipient")?,
                        status: row.try_get("status")?,
                        attempts: row.try_get("attempts")?,
                        last_error: row.try_get("last_error")?,
                        next_attempt_at: row.try_get("next_attempt_at")?,
                    })
                })
                .rev()
                .collect()
        })
    }
}

/// Who an outbox email went to (for bounces to its VERP address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecipient {
    pub recipient: String,
    pub conversation_id: Option<String>,
    pub person_id: Option<String>,
}

impl Store {
    pub async fn outbox_recipient(&self, outbox_id: &str) -> Result<Option<OutboxRecipient>> {
        on_backend!(self, pool => {
            let row = sqlx::query("SELECT recipient, conversation_id, person_id FROM outbox WHERE id = $1")
                .bind(outbox_id)
                .fetch_optional(pool)
                .await?;
            row.map(|row| -> Result<OutboxRecipient> {
                Ok(OutboxRecipient {
                    recipient: row.try_get("recipient")?,
                    conversation_id: row.try_get("conversation_id")?,
                    person_id: row.try_get("person_id")?,
                })
            })
            .transpose()
        })
    }
}

impl Store {
    /// How many emails the gateway wrote on its own (priority 0: not notifications) whose
    /// Message-ID starts with `<prefix` were queued to `recipient` since `since`: the answers
    /// to commands not understood are one an hour at most. Read through the partial index
    /// `outbox_recipient`, which holds those emails only.
    pub async fn queued_since(&self, recipient: &str, prefix: &str, since: Millis) -> Result<i64> {
        let pattern = format!("<{prefix}%");
        on_backend!(self, pool => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM outbox
                 WHERE recipient = $1 AND created_at >= $2 AND message_id LIKE $3 AND priority = 0",
            )
            .bind(recipient)
            .bind(since)
            .bind(&pattern)
            .fetch_one(pool)
            .await?;
            Ok(n)
        })
    }
}
