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

use super::inbound::{InboundWrite, write_inbound_pg, write_inbound_sqlite};
use super::{Dialect, InboundStored, Result, StoreError};
use sqlx::{PgPool, SqlitePool};
use tokio::sync::{mpsc, oneshot};

/// Emails per transaction at most: bounds the time the writer connection is held, so other
/// writers (the scheduler, the web view) wait at most one batch.
const MAX_BATCH: usize = 64;

type Job = (InboundWrite, oneshot::Sender<Result<InboundStored>>);

#[derive(Clone)]
pub(super) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

/// Each session has at most one email in flight: the bound is never the limit in practice, it
/// only keeps memory finite.
const QUEUE: usize = 1024;

impl GroupCommit {
    /// Starts the committing task on `write` (SQLite's one-connection writer pool).
    pub(super) fn start_sqlite(write: SqlitePool) -> GroupCommit {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run_sqlite(write, rx));
        GroupCommit { jobs }
    }

    /// Starts the committing task on one connection at a time of `pool`.
    pub(super) fn start_pg(pool: PgPool) -> GroupCommit {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run_pg(pool, rx));
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
        async fn $run(pool: $pool, mut rx: mpsc::Receiver<Job>) {
            let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let results = $commit(&pool, &batch).await;
                for ((_, done), result) in batch.drain(..).zip(results) {
                    // The session may have gone (client disconnected): its email is stored.
                    let _ = done.send(result);
                }
            }
        }

        /// One transaction for the whole batch; one result per email, in order.
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
            match tx.commit().await {
                Ok(()) => results,
                Err(err) => failed(format!("committing: {err}")),
            }
        }
    };
}

batch_committer!(run_sqlite, commit_sqlite, SqlitePool, write_inbound_sqlite);
batch_committer!(run_pg, commit_pg, PgPool, write_inbound_pg);
