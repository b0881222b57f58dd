//! `threadgate blobs migrate --to URL`: every file of one store copied to another and verified
//! there by its SHA-256 — its name — then every file an attachment refers to checked in the
//! target. Files are copied one at a time (each whole in memory, at most the attachment size
//! limit); running it again copies only what is missing.

use super::BlobStore;
use crate::store::sha256_hex;
use crate::store::{Store, StoreError};
use std::collections::HashSet;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Files written to the target and read back intact.
    pub copied: usize,
    /// Files the target held intact already.
    pub present: usize,
    /// Files attachments refer to, each checked in the target.
    pub referenced: usize,
    /// Files whose bytes do not match their name in the source (not copied).
    pub damaged: Vec<String>,
    /// Files attachments refer to that the target lacks after the copy.
    pub missing: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the blob store: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0} was written to the target but reads back different: stopped")]
    Corrupted(String),
}

/// Whether `to` holds the file `sha` intact.
async fn holds(to: &BlobStore, sha: &str) -> std::io::Result<bool> {
    Ok(to
        .get(sha)
        .await?
        .is_some_and(|data| sha256_hex(&data) == sha))
}

pub async fn migrate(
    store: &Store,
    from: &BlobStore,
    to: &BlobStore,
) -> Result<Report, MigrateError> {
    let mut report = Report::default();
    let mut verified = HashSet::new();
    for file in from.list().await? {
        let sha = file.sha256;
        let Some(data) = from.get(&sha).await? else {
            continue; // removed since the listing
        };
        if sha256_hex(&data) != sha {
            report.damaged.push(sha);
            continue;
        }
        if holds(to, &sha).await? {
            report.present += 1;
        } else {
            // A damaged copy in the target (a local store keeps a file that exists) goes first.
            to.remove(&sha).await?;
            to.put(&data).await?;
            if !holds(to, &sha).await? {
                return Err(MigrateError::Corrupted(sha));
            }
            report.copied += 1;
        }
        verified.insert(sha);
    }
    let (_, referenced) = store.backup_contents().await?;
    for sha in referenced {
        report.referenced += 1;
        if !verified.contains(&sha) && !holds(to, &sha).await? {
            report.missing.push(sha);
        }
    }
    Ok(report)
}
