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
//!
//! On SQLite the task runs on a thread of its own and writes the common emails there, in
//! place, on a connection of its own (`inbound_sqlite`): one transaction for those, then one
//! through sqlx for the rest of the batch (a conversation started, an effect, a status that
//! changes), which are rarer.

use super::inbound::{InboundWrite, write_inbound_sqlite_general};
use super::inbound_pg::write_inbound_pg;
use super::inbound_sqlite::InPlaceWriter;
use super::{InboundStored, Result, StoreError};
use crate::supervise::{Health, OnReturn, supervise};
use sqlx::{Connection, PgPool, SqlitePool};
use std::path::PathBuf;
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

/// Each session has at most one email in flight: the bound is never the limit in practice, it
/// only keeps memory finite.
const QUEUE: usize = 1024;

impl GroupCommit {
    /// Starts the committing task on its own thread, writing on its own connection to the
    /// database at `path` (`inbound_sqlite`) while it holds `write`'s (SQLite's one-connection
    /// writer pool), supervised: a panic answers that batch's sessions `451` (their senders
    /// were dropped) and the task starts again on the same queue.
    pub(super) fn start_sqlite(
        write: SqlitePool,
        path: PathBuf,
        health: Health,
    ) -> Result<GroupCommit> {
        // Opened once here, so that a database the commit thread cannot write fails the start
        // rather than every email.
        InPlaceWriter::open(&path)?;
        let (jobs, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        // Its own thread: the batch's statements run on it, and on the shared runtime they
        // would wait behind whatever parsing and extraction the workers are busy with (and
        // hold a worker meanwhile). The runtime lives as long as the loop, that is as long as
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
                    move || run_sqlite(write.clone(), path.clone(), rx.clone()),
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

/// SQLite's committing loop. Each batch: the writer pool's connection is taken (so no other
/// writer of the process starts meanwhile), the emails the in-place path takes are written and
/// committed on the thread's own connection and answered, then the rest go through the general
/// path in one transaction on the pool's connection.
async fn run_sqlite(pool: SqlitePool, path: PathBuf, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut writer: Option<InPlaceWriter> = None;
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Emails to one conversation stay in their order of arrival (the sort is stable).
        batch.sort_by(|(a, _), (b, _)| a.conversation().cmp(&b.conversation()));
        let started = std::time::Instant::now();
        let (writes, dones): (Vec<InboundWrite>, Vec<_>) = batch.drain(..).unzip();
        let mut dones: Vec<Option<oneshot::Sender<Result<InboundStored>>>> =
            dones.into_iter().map(Some).collect();
        let mut answer = |i: usize, result: Result<InboundStored>| {
            // The session may have gone (client disconnected): its email is stored.
            if let Some(done) = dones.get_mut(i).and_then(Option::take) {
                let _ = done.send(result);
            }
        };
        let mut conn = match pool.acquire().await {
            Ok(conn) => conn,
            Err(err) => {
                for i in 0..writes.len() {
                    answer(i, Err(StoreError::Batch(format!("the writer: {err}"))));
                }
                continue;
            }
        };
        if writer.is_none() {
            match InPlaceWriter::open(&path) {
                Ok(opened) => writer = Some(opened),
                // The whole batch goes through the general path meanwhile.
                Err(err) => {
                    tracing::warn!(error = %err, "opening the commit thread's connection failed")
                }
            }
        }
        let general = match writer.as_mut() {
            Some(in_place) => {
                let done = in_place.commit(&writes);
                for (i, result) in done.done {
                    answer(i, result);
                }
                done.general
            }
            None => (0..writes.len()).collect(),
        };
        if !general.is_empty() {
            let rest: Vec<&InboundWrite> = general.iter().map(|&i| &writes[i]).collect();
            let results = commit_sqlite(&mut conn, &rest).await;
            for (i, result) in general.into_iter().zip(results) {
                answer(
                    i,
                    result.map(|stored| InboundStored {
                        batch: rest.len(),
                        ..stored
                    }),
                );
            }
        }
        tracing::debug!(
            emails = writes.len(),
            micros = started.elapsed().as_micros() as u64,
            "inbound batch committed"
        );
    }
}

/// PostgreSQL's committing loop: a batch in one transaction on a connection of the pool.
async fn run_pg(pool: PgPool, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    // The lock is held only while waiting: another committer takes the next batch while this
    // one's commits.
    while rx.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Concurrent batches take conversation row locks in one order, so they wait for each
        // other instead of deadlocking; the sort is stable, so emails to one conversation keep
        // their order of arrival.
        batch.sort_by(|(a, _), (b, _)| a.conversation().cmp(&b.conversation()));
        let started = std::time::Instant::now();
        let writes: Vec<&InboundWrite> = batch.iter().map(|(write, _)| write).collect();
        let results = match pool.acquire().await {
            Ok(mut conn) => commit_pg(&mut conn, &writes).await,
            Err(err) => failed(writes.len(), &format!("the pool: {err}")),
        };
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

/// `n` emails refused with the same error.
fn failed(n: usize, why: &str) -> Vec<Result<InboundStored>> {
    (0..n)
        .map(|_| Err(StoreError::Batch(why.to_string())))
        .collect()
}

/// One batch's transaction through sqlx, expanded per backend.
macro_rules! batch_transaction {
    ($commit:ident, $conn:ty, $begin:literal, $write:ident) => {
        /// One transaction for the whole batch; one result per email, in order. Emails almost
        /// never fail alone (their writes are inserts guarded by the checks made before), so
        /// the batch first runs without savepoints — two statements fewer per email; only if
        /// one fails is the transaction rolled back and the batch run again with each email in
        /// a savepoint of its own, so that the failing one is undone alone.
        async fn $commit(conn: &mut $conn, batch: &[&InboundWrite]) -> Vec<Result<InboundStored>> {
            let failed = |why: String| failed(batch.len(), &why);
            let mut tx = match conn.begin_with($begin).await {
                Ok(tx) => tx,
                Err(err) => return failed(format!("beginning the transaction: {err}")),
            };
            let mut results = Vec::with_capacity(batch.len());
            for write in batch {
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
                tx = match conn.begin_with($begin).await {
                    Ok(tx) => tx,
                    Err(err) => return failed(format!("beginning the transaction: {err}")),
                };
                results.clear();
                for write in batch {
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

// SQLite's writer takes the write lock at once: a deferred transaction that reads first could
// fail with SQLITE_BUSY when it comes to write, not wait (https://sqlite.org/lang_transaction.html).
batch_transaction!(
    commit_sqlite,
    sqlx::SqliteConnection,
    "BEGIN IMMEDIATE",
    write_inbound_sqlite_general
);
batch_transaction!(commit_pg, sqlx::PgConnection, "BEGIN", write_inbound_pg);
