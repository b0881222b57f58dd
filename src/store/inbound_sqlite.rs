//! Inbound emails' writes on SQLite, run in place on the commit thread.
//!
//! sqlx runs each SQLite statement on its connection's own worker thread: every statement is
//! a hand-off between threads and back, and under load each hand-off waits for a core. The
//! group-commit task ran a batch's emails one after the other, so those waits added up to the
//! batch's length and then to every session's latency. Here the commit thread owns a
//! connection of its own (rusqlite, a plain call into SQLite, `sqlite_in_place`) and runs a
//! batch's transaction itself: no statement crosses a thread, and each statement is prepared
//! once for the connection's life (`prepare_cached`). Measured with RCPT's read made in place
//! too (README, *SQLite in place*): 8% less server CPU per 4 KiB email at 50 sessions, 15% at
//! one.
//!
//! Only the common case is written here, per email:
//!
//! 1. one read of what the general path would learn statement by statement: is the author a
//!    live participant, their role, the conversation's status, an earlier message from the
//!    same email;
//! 2. the writes: the raw bytes, the message, the conversation's marks, the author's read
//!    marks, the search document, the attachments, the inbound record.
//!
//! Anything less common — a conversation started by the email, an effect (a mute, a bounce, a
//! new client, a queued email), a status that changes — is left to the general path
//! (`write_inbound!`, through sqlx), which the commit loop runs after this transaction on the
//! writer pool's connection. Both write the same SQL: each statement's text comes from one
//! macro (`insert_raw_sql!`, `insert_record_sql!`, `insert_message_sql!`, …) given each path's
//! placeholders, and `tests/store.rs` runs both.
//!
//! The commit loop holds the writer pool's one connection while this connection writes, so no
//! other writer of the process starts meanwhile and `BEGIN IMMEDIATE` does not wait (another
//! process would be waited for by the busy timeout, as any SQLite writer is).

use super::inbound::{
    InboundStored, InboundWrite, insert_raw_sql, insert_record_sql, leaves_status,
};
use super::messages::{author_has_read_sql, insert_message_sql, message_moves_conversation_sql};
use super::sqlite_in_place::{Columns, execute, open, read_row};
use super::{Result, StoreError};
use crate::domain::{Id, IdKind, InboundOutcome};
use rusqlite::types::{Null, ToSql};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::collections::HashSet;
use std::path::Path;

/// What the general path would learn about the author and the conversation, in one read.
const READ: &str = "SELECT pe.role, c.status,
        (SELECT m.id FROM messages m
          WHERE m.conversation_id = $1 AND m.email_message_id = $3) AS earlier
 FROM participants p JOIN people pe ON pe.id = p.person_id
                     JOIN conversations c ON c.id = p.conversation_id
 WHERE p.conversation_id = $1 AND p.person_id = $2 AND p.removed_at IS NULL";

/// The raw bytes (`$1`–`$4`; `$4` is the time).
const RAW: &str = insert_raw_sql!("$1", "$2", "$3", "$4");

/// The inbound record (`$20`–`$30`, with `$4` and `$1`).
const RECORD: &str = insert_record_sql!(
    "$20", "$4", "$21", "$22", "$23", "$24", "$25", "$26", "$27", "$1", "$28", "$29", "$30"
);

/// Posting a message (`$5`–`$13`, `$20`): the statements of `insert_message!` when the status
/// does not change, the seq read back from the row just inserted, then its search document
/// (`store::search_index::index_doc!`; words and stems in `$14`, `$15`).
const POST: [&str; 5] = [
    insert_message_sql!(
        "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$4", "$20"
    ),
    message_moves_conversation_sql!("$6", "$4", "(SELECT seq FROM messages WHERE id = $5)"),
    author_has_read_sql!("$6", "$7", "(SELECT seq FROM messages WHERE id = $5)", "$4"),
    "INSERT INTO search_docs (message_id, conversation_id, kind, words, stems)
     VALUES ($5, $6, $8, $14, $15)",
    "INSERT INTO search_fts (rowid, words, stems) VALUES (last_insert_rowid(), $14, $15)",
];

/// One attachment of the posted message (`$5`), its own numbering.
const ATTACHMENT: &str = super::attachments::insert_attachment_sql!();

/// The commit thread's own connection to the database.
pub(super) struct InPlaceWriter {
    conn: Connection,
}

/// What [`InPlaceWriter::commit`] did with a batch.
pub(super) struct InPlaceBatch {
    /// Each email written here (by its index in the batch) and its result, known once the
    /// transaction has committed.
    pub done: Vec<(usize, Result<InboundStored>)>,
    /// The emails left to the general path, in batch order.
    pub general: Vec<usize>,
}

impl InPlaceWriter {
    /// Opens the database the migrations have created, with the writer's settings
    /// (`super::writer_pragmas`).
    pub(super) fn open(path: &Path) -> Result<InPlaceWriter> {
        let pragmas = super::writer_pragmas();
        let pragmas: Vec<(&str, &str)> = pragmas.iter().map(|(p, v)| (*p, v.as_str())).collect();
        let conn = open(path, OpenFlags::SQLITE_OPEN_READ_WRITE, &pragmas)?;
        Ok(InPlaceWriter { conn })
    }

    /// Writes the emails of `batch` this path takes in one transaction and commits it; the
    /// others are left to the general path. Emails to one conversation keep their order: once
    /// one of them is left to the general path (which runs after this transaction), so are the
    /// ones after it. As in the general path's transaction, the batch first runs without
    /// savepoints; if an email fails, the transaction is rolled back and run again with each
    /// email in a savepoint of its own, so that the failing one is refused alone.
    pub(super) fn commit(&mut self, batch: &[InboundWrite]) -> InPlaceBatch {
        let run = match self.run(batch, false) {
            Ok(None) => self.run(batch, true),
            first => first,
        };
        match run {
            Ok(Some(done)) => done,
            // With savepoints every email's error is its own: never None.
            Ok(None) => failed_batch(batch, &StoreError::Batch("an email failed".into())),
            Err(err) => failed_batch(batch, &err),
        }
    }

    /// One transaction over `batch`. Without savepoints, None when an email failed (everything
    /// rolled back); with them, each email's own result.
    fn run(&mut self, batch: &[InboundWrite], savepoints: bool) -> Result<Option<InPlaceBatch>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut written = Vec::with_capacity(batch.len());
        let mut general = Vec::new();
        // Conversations with an email left to the general path: their later emails follow it.
        let mut deferred: HashSet<&str> = HashSet::new();
        for (i, w) in batch.iter().enumerate() {
            let conversation = w.conversation();
            if conversation.is_some_and(|c| deferred.contains(c)) || !takes(w) {
                general.push(i);
                deferred.extend(conversation);
                continue;
            }
            if savepoints {
                tx.execute_batch("SAVEPOINT email")?;
            }
            let result = write(&tx, w);
            if savepoints {
                tx.execute_batch(match result {
                    Err(_) => "ROLLBACK TO SAVEPOINT email; RELEASE SAVEPOINT email",
                    _ => "RELEASE SAVEPOINT email",
                })?;
            }
            match result {
                Ok(Some(stored)) => written.push((i, Ok(stored))),
                Ok(None) => {
                    general.push(i);
                    deferred.extend(conversation);
                }
                Err(err) if savepoints => written.push((i, Err(err))),
                Err(err) => {
                    // The run with savepoints answers the email with its own error.
                    tracing::debug!(error = %err, "an email failed in its batch; again with savepoints");
                    return Ok(None);
                }
            }
        }
        if written.is_empty() {
            // Nothing written: no commit to wait for (the transaction ends on drop).
            return Ok(Some(InPlaceBatch {
                done: written,
                general,
            }));
        }
        tx.commit()?;
        let size = written.len();
        let done = written
            .into_iter()
            .map(|(i, r)| (i, r.map(|s| InboundStored { batch: size, ..s })))
            .collect();
        Ok(Some(InPlaceBatch { done, general }))
    }
}

/// Whether this path may take `w` before reading anything: no conversation started, no effect,
/// and a posted message's search document already folded (`apply_inbound` always folds it;
/// without one the general path indexes the text itself).
fn takes(w: &InboundWrite) -> bool {
    w.start.is_none() && w.effects.is_empty() && (w.post.is_none() || w.indexed.is_some())
}

/// Every email of the batch refused with the transaction's error (nothing of it is written).
fn failed_batch(batch: &[InboundWrite], err: &StoreError) -> InPlaceBatch {
    InPlaceBatch {
        done: (0..batch.len())
            .map(|i| (i, Err(StoreError::Batch(err.to_string()))))
            .collect(),
        general: Vec::new(),
    }
}

/// Writes `w`, or returns None (having written nothing) when it needs the general path.
fn write(conn: &Connection, w: &InboundWrite) -> Result<Option<InboundStored>> {
    let conversation_id = w.record.conversation_id.clone();
    let (outcome, posted) = match &w.post {
        None => (w.record.outcome, None),
        Some(new) => {
            let args: [&dyn ToSql; 4] = [
                &Null,
                &new.conversation_id,
                &new.author_id,
                &new.email_message_id,
            ];
            let found = read_row(conn, READ, &args, |row| {
                Ok((
                    row.column::<String>("role")?,
                    row.column::<String>("status")?,
                    row.column::<Option<String>>("earlier")?,
                ))
            })?;
            let Some((role, status, earlier)) = found else {
                return Err(StoreError::NotFound("participant"));
            };
            match earlier {
                // `= $3` never matches a NULL key: a message without one always posts.
                Some(existing) => (InboundOutcome::Duplicate, Some(existing)),
                None if !leaves_status(new, &role, &status)? => return Ok(None),
                None => (InboundOutcome::Posted, Some(Id::generate(IdKind::Message))),
            }
        }
    };
    let record = &w.record;
    let message = w
        .post
        .as_ref()
        .filter(|_| outcome == InboundOutcome::Posted);
    let indexed = w.indexed.as_ref().filter(|_| message.is_some());
    let size = w.raw.len() as i64;
    let kind = message.map(|m| m.kind.as_str());
    let source = message.map(|m| m.source.as_str());
    let outcome_text = outcome.as_str();
    let args: [&dyn ToSql; 31] = [
        &Null,
        &w.sha256, // $1
        &w.raw,
        &size,
        &w.now,  // $4
        &posted, // $5
        &message.map(|m| m.conversation_id.as_str()),
        &message.map(|m| m.author_id.as_str()),
        &kind,
        &message.map(|m| m.body_text.as_str()),
        &message.and_then(|m| m.body_html.as_deref()), // $10
        &message.and_then(|m| m.trimmed_text.as_deref()),
        &source,
        &message.and_then(|m| m.email_message_id.as_deref()),
        &indexed.map(|i| i.words.as_str()), // $14
        &indexed.map(|i| i.stems.as_str()),
        &Null, // $16–$19 unused: the record starts at $20
        &Null,
        &Null,
        &Null,
        &w.inbound_id, // $20
        &record.envelope_from,
        &w.recipients,
        &record.message_id,
        &outcome_text,
        &conversation_id, // $25
        &posted,
        &record.detail,
        &record.peer,
        &record.auth_results,
        &record.awaiting, // $30
    ];
    execute(conn, RAW, &args)?;
    execute(conn, RECORD, &args)?;
    if let (Some(new), Some(id)) = (message, &posted) {
        for sql in POST {
            execute(conn, sql, &args)?;
        }
        for (position, a) in new.attachments.iter().enumerate() {
            let position = position as i64;
            let inline = i64::from(a.inline);
            let args: [&dyn ToSql; 12] = [
                &Null,
                &a.id,
                id,
                &position,
                &a.filename,
                &a.content_type,
                &a.size,
                &a.sha256,
                &a.content_id,
                &inline,
                &a.omitted,
                &w.now,
            ];
            execute(conn, ATTACHMENT, &args)?;
        }
    }
    Ok(Some(InboundStored {
        inbound_id: w.inbound_id.clone(),
        outcome,
        posted_message_id: posted,
        conversation_id,
        batch: 1,
    }))
}

#[cfg(test)]
mod tests {
    use super::InPlaceWriter;
    use crate::domain::SystemClock;
    use crate::store::{Backend, Store, StoreError, writer_pragmas};
    use std::sync::Arc;

    /// A setting the commit thread's connection or the planner's lacked (a `synchronous` below
    /// FULL, foreign keys off, deleted bytes left in free space) would hold only for most of
    /// the emails.
    #[tokio::test]
    async fn the_in_place_writers_write_as_the_writer_pool_does() -> crate::store::Result<()> {
        let dir = std::env::temp_dir().join(format!(
            "threadgate-in-place-{}",
            crate::domain::Id::generate(crate::domain::IdKind::Inbound)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Batch(e.to_string()))?;
        let path = dir.join("t.db");
        let url = format!("sqlite://{}", path.display());
        let store = Store::connect(&url, Arc::new(SystemClock)).await?;
        let Backend::Sqlite {
            write,
            batch_writer,
            ..
        } = &store.backend
        else {
            panic!("a SQLite URL gives a SQLite store");
        };
        let writer = InPlaceWriter::open(&path)?;
        let mut pragmas: Vec<&str> = writer_pragmas().iter().map(|(p, _)| *p).collect();
        pragmas.extend(["journal_mode", "busy_timeout"]);
        for pragma in pragmas {
            let sql = format!("PRAGMA {pragma}");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .fetch_one(write)
                .await?;
            let pool = sqlx::Row::try_get::<i64, _>(&row, 0)
                .map(|v| v.to_string())
                .or_else(|_| sqlx::Row::try_get::<String, _>(&row, 0))?;
            let read = |conn: &rusqlite::Connection| -> crate::store::Result<String> {
                Ok(
                    match conn.query_row(&sql, [], |row| row.get::<_, rusqlite::types::Value>(0))? {
                        rusqlite::types::Value::Integer(v) => v.to_string(),
                        rusqlite::types::Value::Text(v) => v,
                        other => panic!("PRAGMA {pragma}: {other:?}"),
                    },
                )
            };
            assert_eq!(pool, read(&writer.conn)?, "PRAGMA {pragma}, commit thread");
            let planner = batch_writer.write(|conn| read(conn))?;
            assert_eq!(pool, planner, "PRAGMA {pragma}, planner");
        }
        let synchronous: i64 = writer
            .conn
            .query_row("PRAGMA synchronous", [], |row| row.get(0))?;
        assert_eq!(synchronous, 2, "FULL: a commit is on disk before the 250");
        drop(writer);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
        Ok(())
    }
}
