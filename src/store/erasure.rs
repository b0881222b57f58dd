//! Erasing a person (GDPR article 17), in one transaction: afterwards nothing of them remains
//! but a row named "Erased person N" that keeps the conversations they took part in readable.
//!
//! What goes, and where (the closing list README's "Erasure" section repeats):
//! - `people`: name → the pseudonym, address and its key → none (the key becomes
//!   `erased:<id>`, which no parsed address equals), settings and bounce state reset, blocked,
//!   `erased_at` set; `person_addresses`, `company_followers`, `web_sessions`,
//!   `verification_codes`, `transcript_requests` rows: deleted; their `participants` rows
//!   stay (the history names them) with the reply token replaced, read marks and mutes cleared
//!   and the participation ended;
//! - `messages` they wrote: text, HTML, trimmed text and Message-ID emptied, marked deleted;
//!   their `attachments` rows deleted and the files nothing else refers to queued in
//!   `blob_removals` (unlinked after the commit by the caller, which holds the blob store);
//! - `inbound`: the rows of the emails they sent (posted, held, refused, duplicates), the
//!   emails waiting for their confirmation, the delivery reports about their address, and the
//!   `raw_emails` no remaining row refers to;
//! - `outbox`: everything addressed to them (sent or not) deleted; in their conversations the
//!   kept copies of notifications to others (which quote them) emptied, and the ones not yet
//!   sent cancelled: the recipients' "notified up to" mark goes back to what they have read, so
//!   the planner emails them again without the erased text;
//! - the search index: their messages' documents, and each conversation's people document
//!   written again without them; `participant_suggestions` and `work_failures` naming them.
//!
//! One `erasures` row records that it happened (when, by whom). After the commit
//! [`Store::compact_after_erasure`] makes the deletion physical: SQLite runs with
//! `secure_delete` (deleted content is overwritten with zeros), merges the full-text index
//! (FTS5 keeps deleted terms in old segments until then) and truncates its WAL (which holds
//! earlier copies of the pages); PostgreSQL vacuums the tables it touched.

use super::search_index::{reindex_people, unindex_messages_by};
use super::{Dialect, Result, Store, StoreError, on_backend};

/// Lists file `$1` for removal at `$2` unless an attachment refers to it. Listed again, it is
/// pending again, and the time of an earlier removal stays (a writer may still need it).
const LIST_FOR_REMOVAL: &str = "INSERT INTO blob_removals (sha256, queued_at)
     SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM attachments WHERE sha256 = $1)
     ON CONFLICT (sha256) DO UPDATE SET pending = 1, queued_at = excluded.queued_at";
use crate::domain::{Id, IdKind, Millis};
use std::time::Duration;

/// Who asked for an erasure, as the record keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasedBy {
    /// The API, with the admin token.
    Admin,
    /// `threadgate person erase`, by whoever runs the server.
    CommandLine,
}

impl ErasedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ErasedBy::Admin => "admin",
            ErasedBy::CommandLine => "command line",
        }
    }
}

/// What an erasure removed: counts only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErasureCounts {
    pub messages: u64,
    pub attachments: u64,
    pub inbound_emails: u64,
    pub raw_emails: u64,
    pub outbox_emails: u64,
    pub outbox_copies_emptied: u64,
    pub addresses: u64,
    pub sessions: u64,
    pub conversations: u64,
}

/// The record of an erasure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub id: String,
    pub person_id: String,
    pub pseudonym: String,
    pub erased_by: String,
    pub erased_at: Millis,
    pub removed: ErasureCounts,
}

/// The reason a notification not yet sent when its conversation's participant was erased is
/// not sent (it is composed again without them).
const CANCELLED: &str = "cancelled: it quoted a person who was erased since";

/// The tables an erasure changes: what PostgreSQL vacuums after it.
const TOUCHED: &[&str] = &[
    "people",
    "person_addresses",
    "participants",
    "participant_suggestions",
    "messages",
    "attachments",
    "inbound",
    "raw_emails",
    "outbox",
    "search_docs",
    "web_sessions",
    "verification_codes",
    "transcript_requests",
    "company_followers",
    "work_failures",
];

impl Store {
    /// Erases person `id` (see the module's list), by `by`. `NotFound` when there is no such
    /// person or they were erased already.
    pub async fn erase_person(&self, id: &str, by: ErasedBy) -> Result<Erasure> {
        let now = self.now();
        let empty: Vec<u8> = Vec::new();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let primary: Option<String> = sqlx::query_scalar(
                "SELECT email_key FROM people WHERE id = $1 AND erased_at IS NULL",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(primary) = primary else {
                return Err(StoreError::NotFound("person"));
            };
            let mut keys: Vec<String> =
                sqlx::query_scalar("SELECT email_key FROM person_addresses WHERE person_id = $1")
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?;
            keys.push(primary);
            let conversations: Vec<String> = sqlx::query_scalar(
                "SELECT conversation_id FROM participants WHERE person_id = $1
                 UNION SELECT conversation_id FROM messages WHERE author_id = $1",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            let mut removed = ErasureCounts {
                conversations: conversations.len() as u64,
                ..ErasureCounts::default()
            };

            // What they wrote: out of the index, files and text gone, the rows kept as
            // deleted so the history keeps its order and the threads their references.
            unindex_messages_by!(tx, id);
            let files: Vec<String> = sqlx::query_scalar(
                "DELETE FROM attachments
                 WHERE message_id IN (SELECT id FROM messages WHERE author_id = $1)
                 RETURNING sha256",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            removed.attachments = files.len() as u64;
            let mut unreferenced = files;
            unreferenced.sort();
            unreferenced.dedup();
            for sha in &unreferenced {
                sqlx::query(LIST_FOR_REMOVAL)
                .bind(sha)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }

            // The emails they sent, and the ones about their address.
            let mut inbound: Vec<(String, Option<String>)> = sqlx::query_as(
                "SELECT id, raw_sha256 FROM inbound
                 WHERE posted_message_id IN (SELECT id FROM messages WHERE author_id = $1)
                    OR id IN (SELECT inbound_id FROM messages
                              WHERE author_id = $1 AND inbound_id IS NOT NULL)",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            for key in &keys {
                let about: Vec<(String, Option<String>)> = sqlx::query_as(pool.pick(
                    "SELECT id, raw_sha256 FROM inbound
                     WHERE LOWER(envelope_from) = $1 OR awaiting = $1
                        OR instr(LOWER(detail), $1) > 0",
                    "SELECT id, raw_sha256 FROM inbound
                     WHERE LOWER(envelope_from) = $1 OR awaiting = $1
                        OR strpos(LOWER(detail), $1) > 0",
                ))
                .bind(key)
                .fetch_all(&mut *tx)
                .await?;
                inbound.extend(about);
            }
            inbound.sort();
            inbound.dedup();
            let mut raws: Vec<String> = Vec::new();
            for (inbound_id, raw) in &inbound {
                removed.inbound_emails += sqlx::query("DELETE FROM inbound WHERE id = $1")
                    .bind(inbound_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                raws.extend(raw.clone());
            }
            raws.sort();
            raws.dedup();
            for sha in &raws {
                removed.raw_emails += sqlx::query(
                    "DELETE FROM raw_emails
                     WHERE sha256 = $1 AND NOT EXISTS (SELECT 1 FROM inbound WHERE raw_sha256 = $1)",
                )
                .bind(sha)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            removed.messages = sqlx::query(
                "UPDATE messages SET body_text = '', body_html = NULL, trimmed_text = NULL,
                        email_message_id = NULL, inbound_id = NULL,
                        deleted_at = COALESCE(deleted_at, $2)
                 WHERE author_id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();

            // Mail to them goes; the copies we kept of mail to others that quote them are
            // emptied, and what has not gone out yet is composed again without them.
            removed.outbox_emails += sqlx::query("DELETE FROM outbox WHERE person_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            for key in &keys {
                removed.outbox_emails += sqlx::query("DELETE FROM outbox WHERE LOWER(recipient) = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query("DELETE FROM participant_suggestions WHERE email_key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM verification_codes WHERE email_key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            for conversation in &conversations {
                sqlx::query(
                    "UPDATE participants
                        SET notified_up_to = CASE WHEN read_up_to < notified_up_to
                                                  THEN read_up_to ELSE notified_up_to END
                      WHERE conversation_id = $1
                        AND person_id IN (SELECT person_id FROM outbox
                                           WHERE conversation_id = $1
                                             AND status IN ('pending', 'sending'))",
                )
                .bind(conversation)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE outbox SET status = 'failed', last_error = $2, lease_until = NULL
                     WHERE conversation_id = $1 AND status IN ('pending', 'sending')",
                )
                .bind(conversation)
                .bind(CANCELLED)
                .execute(&mut *tx)
                .await?;
                removed.outbox_copies_emptied += sqlx::query(
                    "UPDATE outbox SET data = $2 WHERE conversation_id = $1",
                )
                .bind(conversation)
                .bind(&empty)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }

            // Their place in each conversation: kept, but no way in and nothing of theirs.
            sqlx::query(
                "UPDATE participants
                    SET reply_token = 'erased:' || conversation_id || ':' || person_id,
                        removed_at = COALESCE(removed_at, $2), read_up_to = 0, read_log = '',
                        muted = 0, last_email_id = NULL, email_references = '',
                        thread_subject = NULL
                  WHERE person_id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE conversations SET assignee_id = NULL WHERE assignee_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for conversation in &conversations {
                // Kept rendered histories are validated by `history_rev`: none survives.
                sqlx::query("UPDATE conversations SET history_rev = history_rev + 1 WHERE id = $1")
                    .bind(conversation)
                    .execute(&mut *tx)
                    .await?;
            }

            removed.addresses = sqlx::query("DELETE FROM person_addresses WHERE person_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            removed.sessions = sqlx::query("DELETE FROM web_sessions WHERE person_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            // (One statement each: PostgreSQL prepares one at a time.)
            sqlx::query("DELETE FROM verification_codes WHERE person_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM transcript_requests WHERE person_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM company_followers WHERE person_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(pool.pick(
                "DELETE FROM work_failures WHERE instr(item, $1) > 0",
                "DELETE FROM work_failures WHERE strpos(item, $1) > 0",
            ))
            .bind(id)
            .execute(&mut *tx)
            .await?;

            // The pseudonym's number: a counter, so two erasures never share one.
            let number: String = sqlx::query_scalar(
                "INSERT INTO meta (key, value) VALUES ('erased_people', '1')
                 ON CONFLICT (key) DO UPDATE
                    SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)
                 RETURNING value",
            )
            .fetch_one(&mut *tx)
            .await?;
            let pseudonym = format!("Erased person {number}");
            sqlx::query(
                "UPDATE people
                    SET name = $2, email = '', email_key = 'erased:' || id, erased_at = $3,
                        blocked = 1, sessions_valid_after = $3, verified_at = NULL,
                        time_zone = NULL, email_status = 'ok', soft_bounces = 0,
                        last_bounce_at = NULL, bounce_detail = NULL
                  WHERE id = $1",
            )
            .bind(id)
            .bind(&pseudonym)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for conversation in &conversations {
                reindex_people!(tx, conversation);
            }
            let erasure = Erasure {
                id: Id::generate(IdKind::Erasure),
                person_id: id.to_string(),
                pseudonym,
                erased_by: by.as_str().to_string(),
                erased_at: now,
                removed,
            };
            sqlx::query(
                "INSERT INTO erasures (id, person_id, erased_by, erased_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&erasure.id)
            .bind(id)
            .bind(&erasure.erased_by)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(erasure)
        })
    }

    /// Makes a committed erasure physical (see the module). On SQLite the WAL is truncated
    /// once no reader holds an older snapshot: it waits for them (the busy timeout) and tries
    /// again a few times. Returns whether every step completed.
    pub async fn compact_after_erasure(&self) -> Result<bool> {
        match &self.backend {
            super::Backend::Sqlite { write, .. } => {
                sqlx::query("INSERT INTO search_fts (search_fts) VALUES ('optimize')")
                    .execute(write)
                    .await?;
                for _ in 0..20 {
                    // (busy, frames in the WAL, frames checkpointed): busy 0 means the WAL
                    // was copied back and truncated to nothing.
                    let (busy, _, _): (i64, i64, i64) =
                        sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                            .fetch_one(write)
                            .await?;
                    if busy == 0 {
                        return Ok(true);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(false)
            }
            super::Backend::Postgres { pool, .. } => {
                for table in TOUCHED {
                    // VACUUM runs outside a transaction; the table names are ours.
                    sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM {table}")))
                        .execute(pool)
                        .await?;
                }
                Ok(true)
            }
        }
    }

    /// Files listed for removal and not handled yet, oldest first.
    pub async fn pending_blob_removals(&self) -> Result<Vec<String>> {
        on_backend!(self, pool => {
            let shas: Vec<String> = sqlx::query_scalar(
                "SELECT sha256 FROM blob_removals WHERE pending = 1 ORDER BY queued_at, sha256",
            )
            .fetch_all(pool)
            .await?;
            Ok(shas)
        })
    }

    /// Lists the file `sha256` for removal unless an attachment refers to it; true when it
    /// is listed (now or already).
    pub async fn queue_blob_removal(&self, sha256: &str) -> Result<bool> {
        on_backend!(write self, pool => {
            sqlx::query(LIST_FOR_REMOVAL)
                .bind(sha256)
                .bind(self.now())
                .execute(pool)
                .await?;
            let listed: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM blob_removals WHERE sha256 = $1 AND pending = 1",
            )
            .bind(sha256)
            .fetch_one(pool)
            .await?;
            Ok(listed > 0)
        })
    }

    /// Claims the listed file `sha256` for `lease_ms`: only the remover holding the claim checks
    /// and removes it (two at once would let one delete what the other found referenced).
    /// False when it is not pending or another remover holds it.
    pub async fn claim_blob_removal(&self, sha256: &str, lease_ms: i64) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            let claimed = sqlx::query(
                "UPDATE blob_removals SET claimed_until = $2
                  WHERE sha256 = $1 AND pending = 1
                    AND (claimed_until IS NULL OR claimed_until < $3)",
            )
            .bind(sha256)
            .bind(now + lease_ms)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(claimed.rows_affected() == 1)
        })
    }

    /// Whether an attachment refers to the file `sha256` (the same content arrived since):
    /// then it stays.
    pub async fn blob_referenced(&self, sha256: &str) -> Result<bool> {
        on_backend!(self, pool => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT 1 FROM attachments WHERE sha256 = $1 LIMIT 1) AS r",
            )
            .bind(sha256)
            .fetch_one(pool)
            .await?;
            Ok(n > 0)
        })
    }

    /// The claimed file `sha256` was handled: `removed` (deleted now: `removed_at` set, kept an
    /// hour for writers that committed a reference meanwhile) or kept (referenced again; an
    /// earlier removal's time stays). Rows handled more than `forget_before` ago are dropped.
    pub async fn blob_removal_done(
        &self,
        sha256: &str,
        removed: bool,
        forget_before: i64,
    ) -> Result<()> {
        let now = self.now();
        on_backend!(write self, pool => {
            sqlx::query(
                "UPDATE blob_removals
                    SET pending = 0, claimed_until = NULL,
                        removed_at = CASE WHEN $2 = 1 THEN $3 ELSE removed_at END
                  WHERE sha256 = $1",
            )
            .bind(sha256)
            .bind(i64::from(removed))
            .bind(now)
            .execute(pool)
            .await?;
            sqlx::query(
                "DELETE FROM blob_removals
                  WHERE pending = 0 AND (removed_at IS NULL OR removed_at < $1)",
            )
            .bind(forget_before)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Among `shas`, those a removal may have taken from a writer that just committed a
    /// reference: each with whether a remover holds it now (`claimed`, wait) — else it was
    /// removed after `since`.
    pub async fn blobs_under_removal(
        &self,
        shas: &[String],
        since: i64,
    ) -> Result<Vec<(String, bool)>> {
        if shas.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        on_backend!(self, pool => {
            let rows: Vec<(String, i64)> = sqlx::query_as(Dialect::pick(
                pool,
                "SELECT sha256, CAST(CASE WHEN claimed_until > $3 THEN 1 ELSE 0 END AS BIGINT) FROM blob_removals
                  WHERE sha256 IN (SELECT value FROM json_each($1))
                    AND (claimed_until > $3 OR removed_at > $2)",
                "SELECT sha256, CAST(CASE WHEN claimed_until > $3 THEN 1 ELSE 0 END AS BIGINT) FROM blob_removals
                  WHERE sha256 IN (SELECT jsonb_array_elements_text($1::jsonb))
                    AND (claimed_until > $3 OR removed_at > $2)",
            ))
            .bind(super::json_list(shas))
            .bind(since)
            .bind(now)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(sha, claimed)| (sha, claimed == 1)).collect())
        })
    }

    /// The newest `limit` erasures (the record: who, when; no data of the person).
    pub async fn erasures(&self, limit: i64) -> Result<Vec<Erasure>> {
        on_backend!(self, pool => {
            let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
                "SELECT e.id, e.person_id, p.name, e.erased_by, e.erased_at
                 FROM erasures e JOIN people p ON p.id = e.person_id
                 ORDER BY e.erased_at DESC, e.id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(id, person_id, pseudonym, erased_by, erased_at)| Erasure {
                    id,
                    person_id,
                    pseudonym,
                    erased_by,
                    erased_at,
                    removed: ErasureCounts::default(),
                })
                .collect())
        })
    }
}
