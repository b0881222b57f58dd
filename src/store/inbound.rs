use super::conversations::{NewConversation, insert_conversation};
use super::messages::{Inserted, insert_message};
use super::notifications::insert_outbox;
use super::{Backend, NewMessage, NewOutboxEmail, Result, Store, StoreError, on_backend};
use crate::domain::{Id, IdKind, InboundOutcome, Millis};
use sha2::{Digest, Sha256};
use sqlx::Row;

/// What the inbound pipeline decided about one received email.
#[derive(Debug, Clone)]
pub struct InboundRecord {
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub message_id: Option<String>,
    pub outcome: InboundOutcome,
    pub conversation_id: Option<String>,
    pub detail: String,
    pub peer: String,
    /// SPF/DKIM/DMARC results (an Authentication-Results value), when checked.
    pub auth_results: Option<String>,
    /// Held until this address (a From key) confirms it is theirs (stranger policy `verify`).
    pub awaiting: Option<String>,
}

/// What was committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundStored {
    pub inbound_id: String,
    /// `Posted`, or `Duplicate` when the same email had already been posted.
    pub outcome: InboundOutcome,
    pub posted_message_id: Option<String>,
    /// The conversation it went to (a retried first email finds the one it started).
    pub conversation_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct InboundEntry {
    pub id: String,
    pub received_at: Millis,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub message_id: Option<String>,
    pub outcome: InboundOutcome,
    pub conversation_id: Option<String>,
    pub posted_message_id: Option<String>,
    pub detail: String,
    pub auth_results: Option<String>,
}

pub fn sha256_hex(data: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(data))
}

impl Store {
    /// Stores, in ONE transaction, the raw email, the message to post (if any) and the inbound
    /// record. Only after this returns Ok may the SMTP session answer 250. A message already
    /// posted from the same email (same dedup key, same conversation) is not posted again: the
    /// record says `duplicate` and points at the existing message.
    pub async fn record_inbound(
        &self,
        record: InboundRecord,
        raw: &[u8],
        post: Option<&NewMessage>,
    ) -> Result<InboundStored> {
        self.record_inbound_in(record, raw, None, post, None).await
    }

    /// Stores an email held for its sender's confirmation (`record.awaiting` set) under
    /// `inbound_id`, and queues `email` (the confirmation link, which names that id) ahead of
    /// notifications, in one transaction: the link never points at an email that is not kept.
    pub async fn record_inbound_awaiting(
        &self,
        record: InboundRecord,
        raw: &[u8],
        inbound_id: String,
        email: &NewOutboxEmail,
    ) -> Result<InboundStored> {
        self.record_inbound_in(record, raw, None, None, Some((inbound_id, email)))
            .await
    }

    /// [`Store::record_inbound`] for an email that starts a conversation (`start`, whose id
    /// `post` names), in the same transaction. The same email stored before (a retry after a
    /// lost answer: same author, same dedup key) starts nothing: it is a `duplicate` of the
    /// message it posted then.
    pub async fn record_inbound_starting(
        &self,
        record: InboundRecord,
        raw: &[u8],
        start: &NewConversation,
        post: &NewMessage,
    ) -> Result<InboundStored> {
        self.record_inbound_in(record, raw, Some(start), Some(post), None)
            .await
    }

    async fn record_inbound_in(
        &self,
        record: InboundRecord,
        raw: &[u8],
        start: Option<&NewConversation>,
        post: Option<&NewMessage>,
        queue: Option<(String, &NewOutboxEmail)>,
    ) -> Result<InboundStored> {
        let (inbound_id, queue) = match queue {
            Some((id, email)) => (id, Some(email.clone())),
            None => (Id::generate(IdKind::Inbound), None),
        };
        let write = InboundWrite {
            now: self.now(),
            inbound_id,
            sha256: sha256_hex(raw),
            recipients: serde_json::to_string(&record.recipients).unwrap_or_else(|_| "[]".into()),
            record,
            raw: raw.to_vec(),
            start: start.cloned(),
            post: post.cloned(),
            queue,
        };
        // Many sessions' emails share one transaction (and one fsync): see group_commit.
        match &self.backend {
            Backend::Sqlite { group, .. } | Backend::Postgres { group, .. } => {
                group.commit(write).await
            }
        }
    }

    /// The inbound log, newest first.
    pub async fn recent_inbound(&self, limit: i64) -> Result<Vec<InboundEntry>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, received_at, envelope_from, recipients, message_id, outcome,
                        conversation_id, posted_message_id, detail, auth_results
                 FROM inbound ORDER BY seq DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(entry_from_row).collect()
        })
    }

    /// One inbound record.
    pub async fn inbound_entry(&self, id: &str) -> Result<Option<InboundEntry>> {
        on_backend!(self, pool => {
            let row = sqlx::query(
                "SELECT id, received_at, envelope_from, recipients, message_id, outcome,
                        conversation_id, posted_message_id, detail, auth_results
                 FROM inbound WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(entry_from_row).transpose()
        })
    }

    /// Emails held for review in a conversation (DMARC quarantine), oldest first.
    pub async fn held_inbound(&self, conversation_id: &str) -> Result<Vec<InboundEntry>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, received_at, envelope_from, recipients, message_id, outcome,
                        conversation_id, posted_message_id, detail, auth_results
                 FROM inbound WHERE conversation_id = $1 AND outcome = 'held' ORDER BY seq LIMIT 100",
            )
            .bind(conversation_id)
            .fetch_all(pool)
            .await?;
            rows.iter().map(entry_from_row).collect()
        })
    }

    /// Emails held for `awaiting` (a From key) received since `since`: a stranger gets one
    /// confirmation email a day however many emails they send.
    pub async fn awaiting_since(&self, awaiting: &str, since: Millis) -> Result<i64> {
        on_backend!(self, pool => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM inbound WHERE awaiting = $1 AND received_at >= $2",
            )
            .bind(awaiting)
            .bind(since)
            .fetch_one(pool)
            .await?;
            Ok(n)
        })
    }

    /// Claims every email still held for `awaiting` (the sender confirmed their address), in
    /// arrival order; compare-and-set like [`Store::claim_held`], so each is released once.
    pub async fn claim_awaiting(&self, awaiting: &str) -> Result<Vec<String>> {
        on_backend!(write self, pool => {
            // One statement: a concurrent claimer's UPDATE waits for this one, then finds the
            // rows no longer held (PostgreSQL re-checks the WHERE after the row lock).
            let rows = sqlx::query(
                "UPDATE inbound SET outcome = 'released', detail = detail || '; the sender confirmed their address'
                 WHERE awaiting = $1 AND outcome = 'held'
                 RETURNING id, seq",
            )
            .bind(awaiting)
            .fetch_all(pool)
            .await?;
            let mut claimed = rows
                .iter()
                .map(|row| Ok((row.try_get::<i64, _>("seq")?, row.try_get::<String, _>("id")?)))
                .collect::<Result<Vec<_>>>()?;
            claimed.sort();
            Ok(claimed.into_iter().map(|(_, id)| id).collect())
        })
    }

    /// The address a held email waits on, if it waits on its sender's confirmation.
    pub async fn inbound_awaiting(&self, id: &str) -> Result<Option<String>> {
        on_backend!(self, pool => {
            let awaiting: Option<Option<String>> =
                sqlx::query_scalar("SELECT awaiting FROM inbound WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
            Ok(awaiting.flatten())
        })
    }

    /// Puts a claimed email back on hold (its release could not be stored: try again later).
    pub async fn unclaim_held(&self, id: &str) -> Result<()> {
        on_backend!(write self, pool => {
            sqlx::query("UPDATE inbound SET outcome = 'held' WHERE id = $1 AND outcome = 'released'")
                .bind(id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Claims a held email for release (compare-and-set: two admins clicking at once release
    /// it once). False when it is not held (any more).
    pub async fn claim_held(&self, id: &str) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "UPDATE inbound SET outcome = 'released', detail = detail || '; released by an admin'
                 WHERE id = $1 AND outcome = 'held'",
            )
            .bind(id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}

/// One email's writes, owned so that it can wait in the group-commit queue.
pub(super) struct InboundWrite {
    pub now: Millis,
    pub inbound_id: String,
    pub sha256: String,
    /// `record.recipients` as JSON.
    pub recipients: String,
    pub record: InboundRecord,
    pub raw: Vec<u8>,
    pub start: Option<NewConversation>,
    pub post: Option<NewMessage>,
    pub queue: Option<NewOutboxEmail>,
}

/// The statements of one inbound email, inside the caller's transaction (expanded per
/// backend): the raw bytes (once per content), the conversation it starts, the message it
/// posts (or the duplicate it is), the inbound record, the queued email.
macro_rules! write_inbound {
    ($conn:ident, $w:expr) => {{
        let w: &InboundWrite = $w;
        let now = w.now;
        sqlx::query(
            "INSERT INTO raw_emails (sha256, data, size, received_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&w.sha256)
        .bind(&w.raw)
        .bind(w.raw.len() as i64)
        .bind(now)
        .execute(&mut *$conn)
        .await?;
        let earlier = match (&w.start, &w.post) {
            (Some(_), Some(new)) => {
                let row = sqlx::query(
                    "SELECT id, conversation_id FROM messages
                     WHERE email_message_id = $1 AND author_id = $2 ORDER BY seq LIMIT 1",
                )
                .bind(&new.email_message_id)
                .bind(&new.author_id)
                .fetch_optional(&mut *$conn)
                .await?;
                row.map(|row| -> Result<(String, String)> {
                    Ok((row.try_get("id")?, row.try_get("conversation_id")?))
                })
                .transpose()?
            }
            _ => None,
        };
        let mut conversation_id = w.record.conversation_id.clone();
        let (outcome, posted) = match (&w.post, earlier) {
            (_, Some((existing_id, existing_conversation))) => {
                conversation_id = Some(existing_conversation);
                (InboundOutcome::Duplicate, Some(existing_id))
            }
            (None, None) => (w.record.outcome, None),
            (Some(new), None) => {
                if let Some(start) = &w.start {
                    insert_conversation!($conn, start, now);
                }
                match insert_message!($conn, new, now, Some(w.inbound_id.as_str()))? {
                    Inserted::New(message) => (InboundOutcome::Posted, Some(message.id)),
                    Inserted::Duplicate { existing_id } => (InboundOutcome::Duplicate, Some(existing_id)),
                }
            }
        };
        let record = &w.record;
        sqlx::query(
            "INSERT INTO inbound (id, received_at, envelope_from, recipients, message_id, outcome,
                                  conversation_id, posted_message_id, detail, raw_sha256, peer, auth_results,
                                  awaiting)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&w.inbound_id)
        .bind(now)
        .bind(&record.envelope_from)
        .bind(&w.recipients)
        .bind(&record.message_id)
        .bind(outcome.as_str())
        .bind(&conversation_id)
        .bind(&posted)
        .bind(&record.detail)
        .bind(&w.sha256)
        .bind(&record.peer)
        .bind(&record.auth_results)
        .bind(&record.awaiting)
        .execute(&mut *$conn)
        .await?;
        if let Some(email) = &w.queue {
            insert_outbox!($conn, email, None, 0i64, now);
        }
        Ok(InboundStored {
            inbound_id: w.inbound_id.clone(),
            outcome,
            posted_message_id: posted,
            conversation_id,
        })
    }};
}

pub(super) async fn write_inbound_sqlite(
    conn: &mut sqlx::SqliteConnection,
    w: &InboundWrite,
) -> Result<InboundStored> {
    // The common cases in two round trips; the rest statement by statement.
    if let Some(stored) = super::inbound_sqlite::write(conn, w).await? {
        return Ok(stored);
    }
    write_inbound!(conn, w)
}

pub(super) async fn write_inbound_pg(
    conn: &mut sqlx::PgConnection,
    w: &InboundWrite,
) -> Result<InboundStored> {
    write_inbound!(conn, w)
}

fn entry_from_row<R: Row>(row: &R) -> Result<InboundEntry>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let outcome: String = row.try_get("outcome")?;
    let recipients: String = row.try_get("recipients")?;
    Ok(InboundEntry {
        id: row.try_get("id")?,
        received_at: row.try_get("received_at")?,
        envelope_from: row.try_get("envelope_from")?,
        recipients: serde_json::from_str(&recipients).map_err(|e| {
            StoreError::Database(sqlx::Error::Decode(format!("recipients: {e}").into()))
        })?,
        message_id: row.try_get("message_id")?,
        outcome: InboundOutcome::parse(&outcome).ok_or(StoreError::Database(
            sqlx::Error::Decode("unknown outcome".into()),
        ))?,
        conversation_id: row.try_get("conversation_id")?,
        posted_message_id: row.try_get("posted_message_id")?,
        detail: row.try_get("detail")?,
        auth_results: row.try_get("auth_results")?,
    })
}

impl Store {
    /// The raw bytes of a received email, by inbound record id.
    pub async fn raw_email(&self, inbound_id: &str) -> Result<Option<Vec<u8>>> {
        on_backend!(self, pool => {
            let data: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT r.data FROM inbound i JOIN raw_emails r ON r.sha256 = i.raw_sha256 WHERE i.id = $1",
            )
            .bind(inbound_id)
            .fetch_optional(pool)
            .await?;
            Ok(data)
        })
    }
}

/// The last notification emailed to person `$4` in conversation `$2` (its raw bytes), as a
/// scalar subquery: [`Store::reply_context`] and [`Store::last_notification`] read it.
macro_rules! last_notification_sql {
    () => {
        "(SELECT data FROM outbox WHERE conversation_id = $2 AND person_id = $4
           ORDER BY seq DESC LIMIT 1)"
    };
}

/// What the pipeline reads before extracting a reply, in one query.
#[derive(Debug, Clone, Default)]
pub struct ReplyContext {
    /// How many emails this envelope sender got into this conversation since `since` (posted,
    /// duplicates, and ones already held): the loop circuit breaker's measure. Refused mail
    /// (a forged sender, say) does not count against the real participant.
    pub recent_emails: i64,
    /// The last notification we emailed this person in this conversation (raw bytes): their
    /// reply quotes it.
    pub last_notification: Option<Vec<u8>>,
}

impl Store {
    /// The [`ReplyContext`] of a reply from `envelope_from`, participant `person_id` of
    /// `conversation_id`: both indexed lookups in one round trip.
    pub async fn reply_context(
        &self,
        envelope_from: &str,
        conversation_id: &str,
        person_id: &str,
        since: Millis,
    ) -> Result<ReplyContext> {
        on_backend!(self, pool => {
            let row = sqlx::query(concat!(
                "SELECT
                   (SELECT COUNT(*) FROM inbound
                     WHERE envelope_from = $1 AND conversation_id = $2 AND received_at >= $3
                       AND outcome IN ('posted', 'duplicate', 'rejected')) AS recent, ",
                last_notification_sql!(),
                " AS last_notification"
            ))
            .bind(envelope_from)
            .bind(conversation_id)
            .bind(since)
            .bind(person_id)
            .fetch_one(pool)
            .await?;
            Ok(ReplyContext {
                recent_emails: row.try_get("recent")?,
                last_notification: row.try_get("last_notification")?,
            })
        })
    }
}

impl Store {
    /// The last notification emailed to a person in a conversation (the bytes we sent), for a
    /// reply that needs no loop-breaker count (an email to an inbox address).
    pub async fn last_notification(
        &self,
        conversation_id: &str,
        person_id: &str,
    ) -> Result<Option<Vec<u8>>> {
        on_backend!(self, pool => {
            // $1 and $3 of the shared subquery's numbering are unused here.
            let data: Option<Vec<u8>> = sqlx::query_scalar(concat!("SELECT ", last_notification_sql!()))
                .bind(String::new())
                .bind(conversation_id)
                .bind(0i64)
                .bind(person_id)
                .fetch_one(pool)
                .await?;
            Ok(data)
        })
    }
}
