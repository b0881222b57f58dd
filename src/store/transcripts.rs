//! Transcripts emailed on request: the rate limit (one per conversation and person every
//! [`TRANSCRIPT_INTERVAL_MS`]) and the queued email in one transaction, and the recipient's
//! read mark moved — a transcript they asked for is a reading.

use super::notifications::insert_outbox;
use super::{Dialect, NewOutboxEmail, Result, Store, on_backend};
use crate::domain::Millis;

/// At most one transcript of a conversation to a person this often.
pub const TRANSCRIPT_INTERVAL_MS: Millis = 10 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptIssue {
    Queued,
    /// One was sent less than [`TRANSCRIPT_INTERVAL_MS`] ago.
    TooSoon {
        retry_after_ms: Millis,
    },
}

impl Store {
    /// Queues `email`, the transcript of `conversation_id` for `person_id`, unless one went
    /// out less than ten minutes ago; moves their read mark to the conversation's last message
    /// (when they take part) — what the transcript shows, they have seen.
    pub async fn queue_transcript(
        &self,
        conversation_id: &str,
        person_id: &str,
        email: &NewOutboxEmail,
    ) -> Result<TranscriptIssue> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            // Compared and set at once: two requests racing queue one email.
            let claimed: Option<i64> = sqlx::query_scalar(
                "INSERT INTO transcript_requests (conversation_id, person_id, requested_at)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (conversation_id, person_id) DO UPDATE SET requested_at = $3
                 WHERE transcript_requests.requested_at <= $4
                 RETURNING requested_at",
            )
            .bind(conversation_id)
            .bind(person_id)
            .bind(now)
            .bind(now - TRANSCRIPT_INTERVAL_MS)
            .fetch_optional(&mut *tx)
            .await?;
            if claimed.is_none() {
                let last: Option<i64> = sqlx::query_scalar(
                    "SELECT requested_at FROM transcript_requests
                     WHERE conversation_id = $1 AND person_id = $2",
                )
                .bind(conversation_id)
                .bind(person_id)
                .fetch_optional(&mut *tx)
                .await?;
                tx.rollback().await?;
                let retry_after_ms = last.map_or(TRANSCRIPT_INTERVAL_MS, |at| {
                    (at + TRANSCRIPT_INTERVAL_MS - now).max(1000)
                });
                return Ok(TranscriptIssue::TooSoon { retry_after_ms });
            }
            insert_outbox!(tx, email, None, 0i64, now);
            sqlx::query(concat!(
                "UPDATE participants SET ",
                super::messages::read_mark_sql!(
                    "(SELECT last_seq FROM conversations WHERE id = $1)",
                    "$3"
                ),
                " WHERE conversation_id = $1 AND person_id = $2 AND removed_at IS NULL",
            ))
            .bind(conversation_id)
            .bind(person_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(TranscriptIssue::Queued)
        })
    }
}
