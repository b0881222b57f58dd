//! One inbound email's writes on SQLite in two round trips instead of seven.
//!
//! sqlx runs each SQLite statement on the connection's worker thread: every statement is a
//! hand-off between threads, and under load each hand-off waits for a core. The group-commit
//! task runs the emails of a batch one after the other, so those waits add up to the batch's
//! length and then to every session's latency (measured: ~0.9 ms of wall time per email for
//! ~0.2 ms of SQLite work). SQLite runs every statement of a multi-statement query in one
//! hand-off, binding `$N` to the same argument in each, so the common cases are written as:
//!
//! 1. one read of what the general path would learn statement by statement: is the author a
//!    live participant, their role, the conversation's status, an earlier message from the
//!    same email;
//! 2. one multi-statement write: the raw bytes, the message, the conversation's marks, the
//!    author's read marks, the inbound record.
//!
//! Anything less common — a conversation started by the email, an effect (a mute, a bounce,
//! a new client, a queued email), a status that changes — goes through the general path
//! (`write_inbound!`). Both write the same SQL: each statement's text comes from one macro
//! (`insert_raw_sql!`, `insert_record_sql!`, `insert_message_sql!`, …) given each path's
//! placeholders, and `tests/store.rs` runs both. The writer already holds SQLite's write lock
//! (`BEGIN IMMEDIATE`), so what the read finds cannot change before the write.

use super::inbound::{
    InboundStored, InboundWrite, insert_raw_sql, insert_record_sql, leaves_status,
    write_inbound_sqlite_general,
};
use super::messages::{author_has_read_sql, insert_message_sql, message_moves_conversation_sql};
use super::{Result, StoreError};
use crate::domain::{Id, IdKind, InboundOutcome};
use sqlx::Row;

/// The raw bytes (`$1`–`$4`) and the inbound record (`$4`, `$20`–`$30`); `$4` is the time.
macro_rules! raw_and_record {
    () => {
        concat!(
            insert_raw_sql!("$1", "$2", "$3", "$4"),
            ";\n",
            insert_record_sql!(
                "$20", "$4", "$21", "$22", "$23", "$24", "$25", "$26", "$27", "$1", "$28", "$29",
                "$30"
            ),
            ";\n"
        )
    };
}

/// Posting a message (`$5`–`$13`, `$20`) besides: the same statements as `insert_message!`
/// when the status does not change, the seq read back from the row just inserted.
const POST: &str = concat!(
    raw_and_record!(),
    insert_message_sql!(
        "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$4", "$20"
    ),
    ";\n",
    message_moves_conversation_sql!("$6", "$4", "(SELECT seq FROM messages WHERE id = $5)"),
    ";\n",
    author_has_read_sql!("$6", "$7", "(SELECT seq FROM messages WHERE id = $5)", "$4"),
    ";\n",
    // Its search document (`store::search_index::index_doc!`), words and stems in `$14`, `$15`.
    "INSERT INTO search_docs (message_id, conversation_id, kind, words, stems)
     VALUES ($5, $6, $8, $14, $15);
     INSERT INTO search_fts (rowid, words, stems) VALUES (last_insert_rowid(), $14, $15);"
);

/// Only the raw bytes and the record (nothing posted, or a duplicate of an earlier message).
const RECORD: &str = raw_and_record!();

/// One inbound email's writes on SQLite: the fast path when it applies, the general path
/// otherwise.
pub(super) async fn write_inbound_sqlite(
    conn: &mut sqlx::SqliteConnection,
    w: &InboundWrite,
) -> Result<InboundStored> {
    if let Some(stored) = write(conn, w).await? {
        return Ok(stored);
    }
    write_inbound_sqlite_general(conn, w).await
}

/// Writes `w` in two round trips, or returns None (having written nothing) when it needs the
/// general path.
async fn write(
    conn: &mut sqlx::SqliteConnection,
    w: &InboundWrite,
) -> Result<Option<InboundStored>> {
    // A posted message's search document is always folded before the commit
    // (`apply_inbound`); without one, the general path indexes the text itself.
    if w.start.is_some() || !w.effects.is_empty() || (w.post.is_some() && w.indexed.is_none()) {
        return Ok(None);
    }
    let conversation_id = w.record.conversation_id.clone();
    let (outcome, posted, sql) = match &w.post {
        None => (w.record.outcome, None, RECORD),
        Some(new) => {
            let row = sqlx::query(
                "SELECT pe.role, c.status,
                        (SELECT m.id FROM messages m
                          WHERE m.conversation_id = $1 AND m.email_message_id = $3) AS earlier
                 FROM participants p JOIN people pe ON pe.id = p.person_id
                                     JOIN conversations c ON c.id = p.conversation_id
                 WHERE p.conversation_id = $1 AND p.person_id = $2 AND p.removed_at IS NULL",
            )
            .bind(&new.conversation_id)
            .bind(&new.author_id)
            .bind(&new.email_message_id)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound("participant"));
            };
            let earlier: Option<String> = row.try_get("earlier")?;
            match earlier {
                // `= $3` never matches a NULL key: a message without one always posts.
                Some(existing) => (InboundOutcome::Duplicate, Some(existing), RECORD),
                _ => {
                    let (role, status): (String, String) =
                        (row.try_get("role")?, row.try_get("status")?);
                    if !leaves_status(new, &role, &status)? {
                        return Ok(None);
                    }
                    (
                        InboundOutcome::Posted,
                        Some(Id::generate(IdKind::Message)),
                        POST,
                    )
                }
            }
        }
    };
    let record = &w.record;
    let mut query = sqlx::query(sql)
        .bind(&w.sha256) // $1
        .bind(&w.raw)
        .bind(w.raw.len() as i64)
        .bind(w.now); // $4
    query = match (&w.post, outcome) {
        (Some(new), InboundOutcome::Posted) => query
            .bind(&posted) // $5
            .bind(&new.conversation_id)
            .bind(&new.author_id)
            .bind(new.kind.as_str())
            .bind(&new.body_text)
            .bind(&new.body_html) // $10
            .bind(&new.trimmed_text)
            .bind(new.source.as_str())
            .bind(&new.email_message_id),
        _ => query
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>),
    };
    // $14, $15: the message's search document; $16–$19 are unused: the record starts at $20.
    let indexed = w
        .indexed
        .as_ref()
        .filter(|_| outcome == InboundOutcome::Posted);
    query = query
        .bind(indexed.map(|i| i.words.as_str()))
        .bind(indexed.map(|i| i.stems.as_str()));
    for _ in 16..20 {
        query = query.bind(None::<String>);
    }
    query
        .bind(&w.inbound_id) // $20
        .bind(&record.envelope_from)
        .bind(&w.recipients)
        .bind(&record.message_id)
        .bind(outcome.as_str())
        .bind(&conversation_id) // $25
        .bind(&posted)
        .bind(&record.detail)
        .bind(&record.peer)
        .bind(&record.auth_results)
        .bind(&record.awaiting) // $30
        .execute(&mut *conn)
        .await?;
    if let (Some(new), InboundOutcome::Posted, Some(id)) = (&w.post, outcome, &posted) {
        let now = w.now;
        super::attachments::insert_attachments!(conn, id, &new.attachments, now);
    }
    Ok(Some(InboundStored {
        inbound_id: w.inbound_id.clone(),
        outcome,
        posted_message_id: posted,
        conversation_id,
        batch: 1,
    }))
}
