//! Removing files no attachment refers to, safely while other writers — other processes,
//! other machines — may be storing the same content at the same moment.
//!
//! The danger: a writer stores file F (already there, or written again), then commits a row
//! referring to F; meanwhile a remover saw no reference to F and deletes it. Content
//! addressing makes this real: the same PDF arrives again the day after an erasure.
//!
//! The protocol, over `blob_removals` (one row per file):
//! 1. A file is listed (`pending`, committed) before anyone checks it: by an erasure, in its
//!    transaction, or by a sweep. Listing it again keeps the time of an earlier removal.
//! 2. A remover claims a pending file for [`LEASE_MS`] (one atomic update: two removers never
//!    work on the same file), then checks for references: referenced, it stays; else it is
//!    deleted (within [`DELETE_WITHIN`], less than the lease) and `removed_at` is set. Either
//!    way the claim ends and the row stops being pending; a removal's time stays an hour.
//! 3. Every writer, after committing rows that refer to files, asks which of them a remover
//!    holds now or removed within the hour ([`to_write_again`]), waits for the holders, and
//!    writes those files again with the bytes it holds (or extracts them from the raw email).
//!
//! Why it holds: if the writer's commit comes before the holder's reference check, the check
//! sees the reference and the file stays. If it comes after, the claim was taken before that
//! check, so the writer's question after its commit sees the row — still claimed (it waits for
//! the end of the claim) or removed within the hour — and writes the file again before
//! answering. A listed file no remover holds needs nothing: whoever claims it later checks
//! after the writer's commit. The hour covers a writer's commit-to-question gap, one round
//! trip. Left open: a store that carries out a delete after our client gave up on it (past
//! [`DELETE_WITHIN`]) and after a writer wrote the file again.

use super::BlobStore;
use crate::store::{Store, StoreError};
use std::time::Duration;

/// How long a removed file's row is kept for writers that committed meanwhile.
const KEEP_REMOVED_MS: i64 = 60 * 60 * 1000;

/// How long a remover holds a file: longer than a delete may take ([`DELETE_WITHIN`]).
const LEASE_MS: i64 = 30_000;

/// How long one delete may take before the remover gives up on it (the file stays listed).
const DELETE_WITHIN: Duration = Duration::from_secs(20);

/// Removes the listed files that nothing refers to (after an erasure, a sweep, and at every
/// start for a process that died in between), each under a claim. Returns how many it removed.
pub async fn remove_pending(store: &Store, blobs: &BlobStore) -> Result<usize, RemovalError> {
    let mut removed = 0;
    for sha in store.pending_blob_removals().await? {
        if !store.claim_blob_removal(&sha, LEASE_MS).await? {
            continue; // another remover holds it
        }
        let forget_before = store.now() - KEEP_REMOVED_MS;
        if store.blob_referenced(&sha).await? {
            store.blob_removal_done(&sha, false, forget_before).await?;
            continue;
        }
        match tokio::time::timeout(DELETE_WITHIN, blobs.remove(&sha)).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(RemovalError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the blob store did not delete a file in time (it stays listed)",
                )));
            }
        }
        store.blob_removal_done(&sha, true, forget_before).await?;
        removed += 1;
    }
    Ok(removed)
}

/// After a commit that referred to `shas`: the ones a removal may have taken away, to be
/// written again by the caller. Waits for the removers holding any of them (at most a lease).
pub async fn to_write_again(store: &Store, shas: &[String]) -> Result<Vec<String>, StoreError> {
    if shas.is_empty() {
        return Ok(Vec::new());
    }
    let started = std::time::Instant::now();
    loop {
        let since = store.now() - KEEP_REMOVED_MS;
        let listed = store.blobs_under_removal(shas, since).await?;
        let held = listed.iter().any(|(_, claimed)| *claimed);
        let waited_out = started.elapsed() >= Duration::from_millis(LEASE_MS as u64);
        if !held || waited_out {
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
