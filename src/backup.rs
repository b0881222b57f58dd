//! `threadgate backup` and `threadgate restore`: one zip that holds everything an installation
//! needs back — a consistent copy of the SQLite database taken while the gateway runs
//! (`store::backup`), the attachment files it refers to, the admin token — and a manifest
//! (format, version, schema version, row counts, each file's size and SHA-256) that a restore
//! checks before anything is used. On PostgreSQL the zip holds the files and the token; the
//! database is dumped with `pg_dump` (README).
//!
//! The copy is taken first and the files it refers to are read after: attachment files are
//! content-addressed and never change, so whatever the copy refers to is the file on disk —
//! unless an erasure removed it meanwhile, which fails the backup (run it again).

use crate::blobs::BlobStore;
use crate::store::Store;
use crate::store::backup::{RowCounts, sqlite_file_contents};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Bumped when the layout changes; a restore refuses formats it does not know.
const FORMAT: u32 = 1;
const DATABASE: &str = "threadgate.db";
const ADMIN_TOKEN: &str = "admin-token";
const MANIFEST: &str = "manifest.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    pub created_at: String,
    pub threadgate_version: String,
    /// `sqlite` (the database is in the zip) or `postgres` (it is not).
    pub backend: String,
    pub schema_version: i64,
    pub counts: RowCounts,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("the database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the manifest: {0}")]
    Manifest(#[from] serde_json::Error),
    #[error("{0}")]
    Refused(String),
}

/// Writes a backup of the installation (`store`, its attachment files in `blobs`, the admin
/// token in `data_dir`) to `output`, readable by its owner only; returns its manifest.
pub async fn backup(
    store: &Store,
    blobs: &BlobStore,
    data_dir: &Path,
    output: &Path,
) -> Result<Manifest, BackupError> {
    if output.exists() {
        return Err(BackupError::Refused(format!(
            "{} exists already: choose another name",
            output.display()
        )));
    }
    // Beside the output (one file system: the rename at the end is atomic), removed however
    // this ends.
    let snapshot = Partial(sibling(output, "db.partial"));
    let partial = Partial(sibling(output, "partial"));
    let written = write(store, blobs, data_dir, &snapshot.0, &partial.0).await?;
    std::fs::rename(&partial.0, output)?;
    Ok(written)
}

async fn write(
    store: &Store,
    blobs: &BlobStore,
    data_dir: &Path,
    snapshot: &Path,
    partial: &Path,
) -> Result<Manifest, BackupError> {
    // Created empty and private first: `VACUUM INTO` fills an empty file as it finds it (else
    // it would make one readable by anyone while the backup runs).
    drop(create_private(snapshot)?);
    let (backend, (counts, referenced)) = match store.snapshot_into(snapshot).await? {
        true => ("sqlite", sqlite_file_contents(snapshot).await?),
        false => ("postgres", store.backup_contents().await?),
    };
    let schema_version = match backend {
        "sqlite" => crate::store::backup::sqlite_schema_version(snapshot).await?,
        _ => store.schema_versions().await?.0,
    };
    let file = create_private(partial)?;
    let mut zip = zip::ZipWriter::new(file);
    let mut files = Vec::new();
    if backend == "sqlite" {
        let mut db = std::fs::File::open(snapshot)?;
        files.push(add(
            &mut zip,
            DATABASE,
            &mut db,
            zip::CompressionMethod::Deflated,
        )?);
    }
    if let Ok(token) = std::fs::read(data_dir.join(ADMIN_TOKEN)) {
        files.push(add(
            &mut zip,
            ADMIN_TOKEN,
            &mut token.as_slice(),
            zip::CompressionMethod::Stored,
        )?);
    }
    for sha in referenced {
        let Some(bytes) = blobs.get(&sha).await? else {
            return Err(BackupError::Refused(format!(
                "the attachment file {sha} the database refers to is gone (erased while the \
                 backup ran?): run the backup again"
            )));
        };
        let entry = add(
            &mut zip,
            &format!("attachments/{sha}"),
            &mut bytes.as_slice(),
            zip::CompressionMethod::Stored,
        )?;
        if entry.sha256 != sha {
            return Err(BackupError::Refused(format!(
                "the attachment file {sha} is damaged on disk (its bytes hash to {})",
                entry.sha256
            )));
        }
        files.push(entry);
    }
    let manifest = Manifest {
        format: FORMAT,
        created_at: chrono::Utc::now().to_rfc3339(),
        threadgate_version: env!("CARGO_PKG_VERSION").to_string(),
        backend: backend.to_string(),
        schema_version,
        counts,
        files,
    };
    zip.start_file(MANIFEST, options(zip::CompressionMethod::Deflated))?;
    zip.write_all(&serde_json::to_vec_pretty(&manifest)?)?;
    zip.finish()?.sync_all()?;
    Ok(manifest)
}

/// `path` with `.suffix` added to its name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{suffix}"));
    PathBuf::from(name)
}

/// A file removed when this goes out of scope (after a rename, there is nothing to remove).
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Restores the backup `file` into `data_dir`, which must not exist or be empty; every file is
/// checked against the manifest, and the database's rows against its counts.
pub async fn restore(file: &Path, data_dir: &Path) -> Result<Manifest, BackupError> {
    let occupied = std::fs::read_dir(data_dir).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(BackupError::Refused(format!(
            "{} is not empty: restore into a new directory",
            data_dir.display()
        )));
    }
    let mut zip = zip::ZipArchive::new(std::fs::File::open(file)?)?;
    let manifest: Manifest = serde_json::from_reader(zip.by_name(MANIFEST)?)?;
    if manifest.format != FORMAT {
        return Err(BackupError::Refused(format!(
            "backup format {} is not one this threadgate reads ({FORMAT})",
            manifest.format
        )));
    }
    // Restored beside the target, private, and moved into place only once whole and checked:
    // a failure leaves nothing behind, and the target stays free for another try.
    let staging = sibling(data_dir, "restoring");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&staging)?;
    let cleanup = Staging(staging.clone());
    unpack(&mut zip, &manifest, &staging).await?;
    if data_dir.exists() {
        std::fs::remove_dir(data_dir)?;
    }
    std::fs::rename(&staging, data_dir)?;
    std::mem::forget(cleanup);
    Ok(manifest)
}

/// Writes the backup's files into `data_dir`, each checked against the manifest, then checks
/// the database's rows and files.
async fn unpack(
    zip: &mut zip::ZipArchive<std::fs::File>,
    manifest: &Manifest,
    data_dir: &Path,
) -> Result<(), BackupError> {
    let blobs = BlobStore::local(data_dir.join("attachments"));
    for entry in &manifest.files {
        // The manifest's size is not trusted for an allocation; reading stops past it.
        let mut bytes = Vec::with_capacity((entry.size as usize).min(64 << 20));
        zip.by_name(&entry.path)?
            .take(entry.size + 1)
            .read_to_end(&mut bytes)?;
        let sha = hex_sha256(&bytes);
        if sha != entry.sha256 || bytes.len() as u64 != entry.size {
            return Err(BackupError::Refused(format!(
                "{} in the backup does not match its manifest: the file is damaged",
                entry.path
            )));
        }
        match entry.path.as_str() {
            DATABASE => create_private(&data_dir.join(DATABASE))?.write_all(&bytes)?,
            ADMIN_TOKEN => create_private(&data_dir.join(ADMIN_TOKEN))?.write_all(&bytes)?,
            path if path.starts_with("attachments/") => {
                blobs.put(&bytes).await?;
            }
            other => {
                return Err(BackupError::Refused(format!(
                    "unknown file {other} in the backup"
                )));
            }
        }
    }
    if manifest.backend == "sqlite" {
        let (counts, referenced) = sqlite_file_contents(&data_dir.join(DATABASE)).await?;
        if counts != manifest.counts {
            return Err(BackupError::Refused(format!(
                "the restored database holds {counts:?}, the manifest says {:?}",
                manifest.counts
            )));
        }
        for sha in referenced {
            if blobs.get(&sha).await?.is_none() {
                return Err(BackupError::Refused(format!(
                    "attachment file {sha} is missing"
                )));
            }
        }
    }
    Ok(())
}

/// A restore's staging directory, removed unless the restore completed.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options(method: zip::CompressionMethod) -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
        .compression_method(method)
        .large_file(true)
}

/// Adds `name` with the bytes of `from`, hashing them on the way.
fn add(
    zip: &mut zip::ZipWriter<std::fs::File>,
    name: &str,
    from: &mut impl Read,
    method: zip::CompressionMethod,
) -> Result<FileEntry, BackupError> {
    zip.start_file(name, options(method))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        zip.write_all(&buf[..n])?;
        size += n as u64;
    }
    Ok(FileEntry {
        path: name.to_string(),
        size,
        sha256: data_encoding::HEXLOWER.encode(&hasher.finalize()),
    })
}

fn hex_sha256(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(bytes))
}

/// A new file only its owner may read (a backup holds the admin token and everyone's mail).
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}
