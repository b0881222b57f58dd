//! The notification planner's commits on SQLite, run in place.
//!
//! A planning batch (500 participants: their marks and up to 500 emails) is one transaction
//! on the one writer. Through sqlx each of its statements was handed to the writer
//! connection's worker thread and back, and its multi-row inserts bound 448 parameters each,
//! sqlx looking every one up by name among all of them (quadratic in the parameters). Here the
//! batch runs on a blocking thread of the runtime, on a rusqlite connection called directly
//! (`sqlite_in_place`): the marks move in the same one statement as on PostgreSQL
//! (`MOVE_MARKS_SQLITE`, compared-and-set, `RETURNING` those that moved), then each email goes
//! in by the one-row insert every other email of the outbox uses (`insert_outbox_sql!`),
//! prepared once for the connection's life, and each failure by the same upsert as through
//! sqlx (`failures::UPSERT_FAILURE_SQL`).
//!
//! The caller holds the writer pool's one connection meanwhile, so no other writer of the
//! process starts and `BEGIN IMMEDIATE` does not wait (another process would be waited for by
//! the busy timeout, as any SQLite writer is).

use super::Result;
use super::failures::{UPSERT_FAILURE_SQL, bounded_reason, job};
use super::notifications::{
    MOVE_MARKS_SQLITE, NOTIFICATION_PRIORITY, PlannedEmail, committed_of, insert_outbox_sql,
};
use super::sqlite_in_place::{bind, execute};
use rusqlite::types::{Null, ToSql};
use rusqlite::{Connection, TransactionBehavior};
use std::collections::HashSet;

/// An email of the planner, one row (`$1` id, `$2` time, `$3`–`$8`, `$9` priority).
const INSERT_OUTBOX: &str = insert_outbox_sql!();

/// Commits `plans` in one transaction, as `Store::enqueue_notifications` says: `marks` is
/// their JSON for [`MOVE_MARKS_SQLITE`], `now` the time. Returns, for each plan, whether its
/// mark moved (and so its email and failure were written).
pub(super) fn enqueue(
    conn: &mut Connection,
    plans: &[PlannedEmail],
    marks: &str,
    now: i64,
) -> Result<Vec<bool>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut moved = HashSet::with_capacity(plans.len());
    {
        let mut stmt = tx.prepare_cached(MOVE_MARKS_SQLITE)?;
        bind(&mut stmt, &[&Null, &marks, &now])?;
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            moved.insert((row.get::<_, String>(0)?, row.get::<_, String>(1)?));
        }
    }
    let committed = committed_of(plans, &moved);
    for (plan, _) in plans.iter().zip(&committed).filter(|(_, c)| **c) {
        // Recorded with the mark's move, so a failure is recorded once per message.
        if let Some(reason) = &plan.failure {
            let item = format!("{}/{}", plan.conversation_id, plan.person_id);
            let args: [&dyn ToSql; 5] = [&Null, &job::NOTIFY, &item, &bounded_reason(reason), &now];
            execute(&tx, UPSERT_FAILURE_SQL, &args)?;
        }
        if let Some(email) = &plan.email {
            let args: [&dyn ToSql; 10] = [
                &Null,
                &email.id, // $1
                &now,
                &plan.conversation_id,
                &plan.person_id,
                &email.envelope_from, // $5
                &email.recipient,
                &email.message_id,
                &email.data.as_bytes(),
                &NOTIFICATION_PRIORITY, // $9
            ];
            execute(&tx, INSERT_OUTBOX, &args)?;
        }
    }
    tx.commit()?;
    Ok(committed)
}
