//! Removing files no attachment refers to, safely while other writers — other processes,
//! other machines — may be storing the same content at the same moment.
//!
//! The danger: a writer stores file F (already there, or written again), then commits a row
//! referring to F; meanwhile a remover saw no reference to F and deletes it. Content
//! addressing makes this real: the same PDF arrives again the day after an erasure.
//!
//! The protocol, over `blob_removals` (one row per file being removed):
//! 1. A remover first lists F (`queue_blob_removal`, committed), and only then checks for
//!    references and deletes the file (`remove_pending`). A file referenced by then stays (the
//!    row is dropped); a removed file's row stays an hour with `removed_at` set.
//! 2. Every writer, after committing rows that refer to files, asks which of them are listed
//!    ([`to_write_again`]): one being removed is waited for, then written again with the bytes
//!    the writer still holds (or extracts again from the raw email).
//!
//! Why it holds: if the writer's commit comes before the remover's reference check, the check
//! sees the reference and F stays. If it comes after, F's row was committed before that check
//! (step 1), so the writer's question after its commit sees it — still listed, or removed
//! within the hour — and the writer writes F again before answering. Either way a committed
//! reference ends with its file. The hour covers a writer's commit-to-question gap, which is
//! one round trip.

use super::BlobStore;
use crate::store::{Store, StoreError};
use std::time::Duration;

/// How long a removed file's row is kept for writers that committed meanwhile.
const KEEP_REMOVED_MS: i64 = 60 * 60 * 1000;

/// How long a writer waits for a removal in progress (a remover deletes one file in one
/// request) before writing the file again anyway: a remover that died leaves its row listed,
/// and a later one will find the writer's reference and keep the file.
const WAIT_FOR_REMOVER: Duration = Duration::from_secs(30);

/// Removes the files listed for removal that nothing refers to (after an erasure, a sweep, and
/// at every start for a process that died in between). Returns how many were removed.
pub async fn remove_pending(store: &Store, blobs: &BlobStore) -> Result<usize, RemovalError> {
    let mut removed = 0;
    for sha in store.pending_blob_removals().await? {
        if store.blob_referenced(&sha).await? {
            store.blob_removal_cancelled(&sha).await?;
            continue;
        }
        blobs.remove(&sha).await?;
        store
            .blob_removed(&sha, store.now() - KEEP_REMOVED_MS)
            .await?;
        removed += 1;
    }
    Ok(removed)
}

/// After a commit that referred to `shas`: the ones a removal may have taken away, to be
/// written again by the caller. Waits (at most [`WAIT_FOR_REMOVER`]) for removals in progress.
pub async fn to_write_again(store: &Store, shas: &[String]) -> Result<Vec<String>, StoreError> {
    if shas.is_empty() {
        return Ok(Vec::new());
    }
    let started = std::time::Instant::now();
    loop {
        let listed = store.blobs_under_removal(shas).await?;
        let in_progress = listed.iter().any(|(_, done)| !done);
        if listed.is_empty() || !in_progress || started.elapsed() >= WAIT_FOR_REMOVER {
            if !listed.is_empty() {
                tracing::info!(
                    files = listed.len(),
                    "files removed meanwhile are written again"
                );
            }
            return Ok(listed.into_iter().map(|(sha, _)| sha).collect());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Files nothing refers to that were written more than `grace_ms` ago (an email that failed
/// after its files were stored, a store filled by hand): listed and removed by the protocol.
/// Returns how many were removed.
pub async fn sweep(store: &Store, blobs: &BlobStore, grace_ms: i64) -> Result<usize, RemovalError> {
    let before = store.now() - grace_ms;
    for file in blobs.list().await? {
        if file.written_at.is_some_and(|at| at > before) {
            continue;
        }
        store.queue_blob_removal(&file.sha256).await?;
    }
    remove_pending(store, blobs).await
}

#[derive(Debug, thiserror::Error)]
pub enum RemovalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the blob store: {0}")]
    Io(#[from] std::io::Error),
}
