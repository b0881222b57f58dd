//! Group commit of inbound emails.
//!
//! Every commit waits for an fsync (SQLite `synchronous=FULL`; PostgreSQL's WAL flush), and
//! SQLite has one writer besides. One transaction per email makes the fsync the ceiling (and
//! the queue behind the writer the p99); on PostgreSQL each email's dozen statements would
//! also wait on each other's row locks and round trips in separate transactions.
//! Instead, every SMTP session hands its email's writes to this task and waits; the task takes
//! whatever has queued up while the previous batch was committing, runs each email's writes
//! inside a savepoint of ONE transaction (an email that fails is undone alone), commits once,
//! and only then answers each session. Nothing is acknowledged before its own commit, and an
//! idle gateway commits a lone email at once: batching costs no added delay.

use super::inbound::InboundWrite;
use super::inbound_pg::write_inbound_pg;
use super::inbound_sqlite::write_inbound_sqlite;
use super::{Dialect, InboundStored, Result, StoreError};
use crate::supervise::{Health, OnReturn, supervise};
use sqlx::{PgPool, SqlitePool};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Emails per transaction at most: bounds the time the writer connection is held, so other
/// writers (the scheduler, the web view) wait at most one batch.
const MAX_BATCH: usize = 64;

type Job = (InboundWrite, oneshot::Sender<Result<InboundStored>>);

#[derive(Clone)]
pub(super) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

/// Committing tasks on PostgreSQL. Each statement is a round trip to the server: while one
/// batch waits on them (and on its commit's WAL flush), others go on. SQLite has one writer.
const PG_COMMITTERS: usize = 3;

/// The conversation an email writes to (whose row its transaction locks), if any.
fn conversation_of(write: &InboundWrite) -> Option<&str> {
    match (&write.start, &write.post) {
        (Some(start), _) => Some(start.id.as_str()),
        (None, Some(post)) => Some(post.conversation_id.as_str()),
        (None, None) => write.record.conversation_id.as_deref(),
    }
}

/// Each session has at most one email in flight: the bound is never the limit in practice, it
/// only keeps memory finite.
const QUEUE: usize = 1024;

impl GroupCommit {
    /// Starts the committing task on `write` (SQLite's one-connection writer pool), on a
    /// thread of its own, supervised: a panic answers that batch's sessions `451` (their
    /// senders were dropped) and the task starts again on the same queue.
    pub(super) fn start_sqlite(write: SqlitePool, health: Health) -> Result<GroupCommit> {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        // Its own thread: each statement is a hand-off to sqlx's worker thread and back, and on
        // the shared runtime every "back" waited behind whatever parsing and extraction the
        // workers were busy with. The runtime lives as long as the loop, that is as long as
        // the Store, so the tasks sqlx spawns on it (returning the connection to the pool)
        // always run.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Batch(format!("a runtime for the commit thread: {e}")))?;
        std::thread::Builder::new()
            .name("threadgate-commit".into())
            .spawn(move || {
                runtime.block_on(supervise(
                    "inbound-commit",
                    health,
                    CancellationToken::new(),
                    // The loop ends when every sender is gone, that is with the Store.
                    OnReturn::Finish,
                    move || run_sqlite(write.clone(), rx.clone()),
                ))
            })
            .map_err(|e| StoreError::Batch(format!("the commit thread: {e}")))?;
        Ok(GroupCommit { jobs })
    }

    /// Starts [`PG_COMMITTERS`] committing tasks on `pool`, taking batches in turn, each
    /// supervised like SQLite's.
    pub(super) fn start_pg(pool: PgPool, health: Health) -> GroupCommit {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for name in ["inbound-commit-1", "inbound-commit-2", "inbound-commit-3"]
            .into_iter()
            .take(PG_COMMITTERS)
        {
            let (pool, rx) = (pool.clone(), rx.clone());
            tokio::spawn(supervise(
                name,
                health.clone(),
                CancellationToken::new(),
                OnReturn::Finish,
                move || run_pg(pool.clone(), rx.clone()),
            ));
        }
        GroupCommit { jobs }
    }

    /// Returns once the email's transaction has committed (or failed).
    pub(super) async fn commit(&self, write: InboundWrite) -> Result<InboundStored> {
        let (done, answer) = oneshot::channel();
        self.jobs
            .send((write, done))
            .await
            .map_err(|_| StoreError::Batch("the commit task has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Batch("the commit task has stopped".into()))?
    }
}

/// The committing loop and one batch's transaction, expanded per backend.
macro_rules! batch_committer {
    ($run:ident, $commit:ident, $pool:ty, $write:ident) => {
        async fn $run(pool: $pool, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
            let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
            // The lock is held only while waiting: another committer takes the next batch
            // while this one's commits.
            while rx.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
                // Concurrent batches take conversation row locks in one order, so they wait
                // for each other instead of deadlocking; the sort is stable, so emails to one
                // conversation keep their order of arrival.
                batch.sort_by(|(a, _), (b, _)| conversation_of(a).cmp(&conversation_of(b)));
                let started = std::time::Instant::now();
                let results = $commit(&pool, &batch).await;
                tracing::debug!(
                    emails = batch.len(),
                    micros = started.elapsed().as_micros() as u64,
                    "inbound batch committed"
                );
                let size = batch.len();
                for ((_, done), result) in batch.drain(..).zip(results) {
                    let result = result.map(|stored| InboundStored {
                        batch: size,
                        ..stored
                    });
                    // The session may have gone (client disconnected): its email is stored.
                    let _ = done.send(result);
                }
            }
        }

        /// One transaction for the whole batch; one result per email, in order. Emails almost
        /// never fail alone (their writes are inserts guarded by the checks made before), so
        /// the batch first runs without savepoints — two statements fewer per email; only if
        /// one fails is the transaction rolled back and the batch run again with each email in
        /// a savepoint of its own, so that the failing one is undone alone.
        async fn $commit(pool: &$pool, batch: &[Job]) -> Vec<Result<InboundStored>> {
            let failed = |why: String| -> Vec<Result<InboundStored>> {
                batch
                    .iter()
                    .map(|_| Err(StoreError::Batch(why.clone())))
                    .collect()
            };
            let mut tx = match pool.begin_write().await {
                Ok(tx) => tx,
                Err(err) => return failed(format!("beginning the transaction: {err}")),
            };
            let mut results = Vec::with_capacity(batch.len());
            for (write, _) in batch {
                match $write(&mut tx, write).await {
                    Ok(stored) => results.push(Ok(stored)),
                    Err(err) => {
                        // The run with savepoints below answers the email with its own error.
                        tracing::debug!(error = %err, "an email failed in its batch; again with savepoints");
                        break;
                    }
                }
            }
            if results.len() < batch.len() {
                if let Err(err) = tx.rollback().await {
                    return failed(format!("rolling back: {err}"));
                }
                tx = match pool.begin_write().await {
                    Ok(tx) => tx,
                    Err(err) => return failed(format!("beginning the transaction: {err}")),
                };
                results.clear();
                for (write, _) in batch {
                    if let Err(err) = sqlx::query("SAVEPOINT email").execute(&mut *tx).await {
                        return failed(format!("savepoint: {err}"));
                    }
                    let result = $write(&mut tx, write).await;
                    let end = if result.is_ok() {
                        "RELEASE SAVEPOINT email"
                    } else {
                        "ROLLBACK TO SAVEPOINT email"
                    };
                    if let Err(err) = sqlx::query(end).execute(&mut *tx).await {
                        return failed(format!("{end}: {err}"));
                    }
                    if result.is_err()
                        && let Err(err) = sqlx::query("RELEASE SAVEPOINT email")
                            .execute(&mut *tx)
                            .await
                    {
                        return failed(format!("releasing a rolled-back savepoint: {err}"));
                    }
                    results.push(result);
                }
            }
            match tx.commit().await {
                Ok(()) => results,
                Err(err) => failed(format!("committing: {err}")),
            }
        }
    };
}

batch_committer!(run_sqlite, commit_sqlite, SqlitePool, write_inbound_sqlite);
batch_committer!(run_pg, commit_pg, PgPool, write_inbound_pg);
