//! One inbound email's writes on PostgreSQL in two round trips instead of seven.
//!
//! Every statement is a round trip to the server, and a committer runs a batch's emails one
//! after the other: a reply that posts into a conversation was the raw bytes, the author's
//! role under the conversation's row lock, the message, its search document, the
//! conversation's marks, the author's read marks and the inbound record — seven waits, and as
//! many statements for the server to bind and run. The common case is written as:
//!
//! 1. one read that takes the conversation's row lock (as `insert_message!` does, before a seq
//!    is drawn, so that `last_seq` only grows) and returns the author's role and the
//!    conversation's status;
//! 2. one statement whose data-modifying CTEs write all the rest. PostgreSQL runs each once, in
//!    one snapshot, the later ones reading what the message insert returns. A message this
//!    email posted already (its Message-ID, in this conversation) makes that insert do nothing:
//!    nothing moves, and the record says `duplicate` and names the earlier message.
//!
//! Anything less common — a conversation started by the email, an effect, a status that
//! changes, nothing to post — goes through the general path (`write_inbound!`). Each
//! statement's text is the one the general path runs (`insert_raw_sql!`, `insert_message_sql!`,
//! …) with this statement's placeholders, and `tests/store.rs` runs both on PostgreSQL.

use super::inbound::{
    InboundStored, InboundWrite, insert_raw_sql, insert_record_sql, leaves_status,
    write_inbound_pg_general,
};
use super::messages::{
    author_has_read_sql, insert_message_sql, message_conflict_sql, message_moves_conversation_sql,
};
use super::search_index::pg_document_sql;
use super::{Result, StoreError};
use crate::domain::{Id, IdKind, InboundOutcome};
use sqlx::Row;

/// The raw bytes `$1`–`$4` (`$4` is the time), the message `$5`–`$13`, its search document
/// `$14`, `$15`, the record `$16`–`$24`. The statements that follow the message's insert run
/// only when it inserted (`EXISTS (SELECT 1 FROM msg)`); otherwise the record names the message
/// this email posted before.
const POST: &str = concat!(
    "WITH raw AS (",
    insert_raw_sql!("$1", "$2", "$3", "$4"),
    "), msg AS (",
    insert_message_sql!(
        "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$4", "$16"
    ),
    message_conflict_sql!(),
    " RETURNING id, seq), moved AS (",
    message_moves_conversation_sql!("$6", "$4", "(SELECT seq FROM msg)"),
    " AND EXISTS (SELECT 1 FROM msg)), author AS (",
    author_has_read_sql!("$6", "$7", "(SELECT seq FROM msg)", "$4"),
    " AND EXISTS (SELECT 1 FROM msg)), doc AS (
      INSERT INTO search_docs (message_id, conversation_id, kind, document)
      SELECT id, $6, $8, ",
    pg_document_sql!("$14", "$15"),
    " FROM msg ON CONFLICT (message_id) DO NOTHING), rec AS (",
    insert_record_sql!(
        "$16",
        "$4",
        "$17",
        "$18",
        "$19",
        "CASE WHEN EXISTS (SELECT 1 FROM msg) THEN 'posted' ELSE 'duplicate' END",
        "$20",
        "COALESCE((SELECT id FROM msg),
                  (SELECT id FROM messages WHERE conversation_id = $6 AND email_message_id = $13))",
        "$21",
        "$1",
        "$22",
        "$23",
        "$24"
    ),
    " RETURNING posted_message_id)
     SELECT (SELECT id FROM msg) AS posted, (SELECT posted_message_id FROM rec) AS earlier"
);

/// One inbound email's writes on PostgreSQL: the two-round-trip path when it applies, the
/// general path otherwise.
pub(super) async fn write_inbound_pg(
    conn: &mut sqlx::PgConnection,
    w: &InboundWrite,
) -> Result<InboundStored> {
    if let Some(stored) = write(conn, w).await? {
        return Ok(stored);
    }
    write_inbound_pg_general(conn, w).await
}

/// Writes `w` in two round trips, or returns None (having written nothing but, maybe, taken the
/// conversation's row lock, which the general path takes anyway) when it needs the general
/// path.
async fn write(conn: &mut sqlx::PgConnection, w: &InboundWrite) -> Result<Option<InboundStored>> {
    // A posted message's search document is always folded before the commit
    // (`apply_inbound`); without one, the general path indexes the text itself.
    let (Some(new), Some(indexed), None, true) =
        (&w.post, &w.indexed, &w.start, w.effects.is_empty())
    else {
        return Ok(None);
    };
    let row = sqlx::query(
        "SELECT pe.role, c.status
         FROM participants p JOIN people pe ON pe.id = p.person_id
                             JOIN conversations c ON c.id = p.conversation_id
         WHERE p.conversation_id = $1 AND p.person_id = $2 AND p.removed_at IS NULL
         FOR NO KEY UPDATE OF c",
    )
    .bind(&new.conversation_id)
    .bind(&new.author_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Err(StoreError::NotFound("participant"));
    };
    let (role, status): (String, String) = (row.try_get("role")?, row.try_get("status")?);
    if !leaves_status(new, &role, &status)? {
        return Ok(None);
    }
    let id = Id::generate(IdKind::Message);
    let record = &w.record;
    let row = sqlx::query(POST)
        .bind(&w.sha256) // $1
        .bind(&w.raw)
        .bind(w.raw.len() as i64)
        .bind(w.now)
        .bind(&id) // $5
        .bind(&new.conversation_id)
        .bind(&new.author_id)
        .bind(new.kind.as_str())
        .bind(&new.body_text)
        .bind(&new.body_html) // $10
        .bind(&new.trimmed_text)
        .bind(new.source.as_str())
        .bind(&new.email_message_id)
        .bind(&indexed.words)
        .bind(&indexed.stems) // $15
        .bind(&w.inbound_id)
        .bind(&record.envelope_from)
        .bind(&w.recipients)
        .bind(&record.message_id)
        .bind(&record.conversation_id) // $20
        .bind(&record.detail)
        .bind(&record.peer)
        .bind(&record.auth_results)
        .bind(&record.awaiting)
        .fetch_one(&mut *conn)
        .await?;
    let posted: Option<String> = row.try_get("posted")?;
    let (outcome, posted_message_id) = match posted {
        Some(id) => {
            let now = w.now;
            super::attachments::insert_attachments!(conn, &id, &new.attachments, now);
            (InboundOutcome::Posted, Some(id))
        }
        None => (InboundOutcome::Duplicate, row.try_get("earlier")?),
    };
    Ok(Some(InboundStored {
        inbound_id: w.inbound_id.clone(),
        outcome,
        posted_message_id,
        conversation_id: record.conversation_id.clone(),
        batch: 1,
    }))
}
