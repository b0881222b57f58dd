//! Attachment files, content-addressed: named by the SHA-256 of their bytes, so the same file
//! sent twice is stored once. Three places to keep them, chosen by `--blob-store`: a local
//! directory (`local`, `<data-dir>/attachments/`, one machine), the PostgreSQL database itself
//! (`postgres`, rows of `blob_contents`; the SQL is in `store::blob_rows`), or an S3-compatible
//! bucket (`s3://…`). Every writer stores a file before the commit that refers to it, so a
//! committed row always has its file; reads are streamed. Removing a file that another writer
//! may be referring again at the same moment follows [`removal`]'s protocol. The raw email in
//! the database stays the source of truth: a missing file can be extracted from it again.

mod local;
pub mod migrate;
pub mod removal;
mod s3;

use crate::config::BlobStoreSetting;
use crate::store::Store;
use crate::store::sha256_hex;
use futures::{StreamExt, TryStreamExt};
use std::path::{Path, PathBuf};

/// How much of a file a read hands on at a time (and a database read fetches).
const SLICE: usize = 256 * 1024;

/// A file's bytes as they are read, and how many there are.
pub struct Blob {
    pub size: u64,
    pub stream: futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>,
}

/// A stored file and, where the store knows, when it was written (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub sha256: String,
    pub written_at: Option<i64>,
}

#[derive(Clone)]
enum Backend {
    Local(local::LocalDir),
    Database(Store),
    S3(s3::Bucket),
}

#[derive(Clone)]
pub struct BlobStore {
    backend: Backend,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Only our own lowercase hex names: never a path or key from outside.
fn is_name(sha256: &str) -> bool {
    sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl BlobStore {
    /// Files in `dir` (`<data-dir>/attachments/` by default).
    pub fn local(dir: PathBuf) -> BlobStore {
        BlobStore {
            backend: Backend::Local(local::LocalDir::new(dir)),
        }
    }

    /// The store `--blob-store` names: `store` is the database for `postgres`.
    pub fn from_setting(
        setting: &BlobStoreSetting,
        data_dir: &Path,
        store: &Store,
    ) -> std::io::Result<BlobStore> {
        let backend = match setting {
            BlobStoreSetting::Local => {
                Backend::Local(local::LocalDir::new(data_dir.join("attachments")))
            }
            BlobStoreSetting::Postgres => Backend::Database(store.clone()),
            BlobStoreSetting::S3 { bucket, prefix } => {
                Backend::S3(s3::Bucket::new(bucket, prefix)?)
            }
        };
        Ok(BlobStore { backend })
    }

    /// Where the files are, for logs and messages (no credentials).
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Local(dir) => format!("local {}", dir.dir().display()),
            Backend::Database(_) => "postgres (in the database)".to_string(),
            Backend::S3(bucket) => bucket.describe(),
        }
    }

    /// Stores `data` durably and returns its SHA-256 (hex).
    pub async fn put(&self, data: &[u8]) -> std::io::Result<String> {
        let sha = sha256_hex(data);
        match &self.backend {
            Backend::Local(dir) => dir.put(&sha, data).await?,
            Backend::Database(store) => store
                .put_blob_row(&sha, data)
                .await
                .map_err(std::io::Error::other)?,
            Backend::S3(bucket) => bucket.put(&sha, data).await?,
        }
        Ok(sha)
    }

    /// The file stored under `sha256`, to be read as a stream; None when there is none.
    pub async fn read(&self, sha256: &str) -> std::io::Result<Option<Blob>> {
        if !is_name(sha256) {
            return Ok(None);
        }
        match &self.backend {
            Backend::Local(dir) => dir.read(sha256).await,
            Backend::Database(store) => database_read(store, sha256).await,
            Backend::S3(bucket) => bucket.read(sha256).await,
        }
    }

    /// The bytes stored under `sha256`, whole; None when there is no such file.
    pub async fn get(&self, sha256: &str) -> std::io::Result<Option<Vec<u8>>> {
        let Some(blob) = self.read(sha256).await? else {
            return Ok(None);
        };
        // The size is the store's word, not trusted for more than a first allocation.
        let mut data = Vec::with_capacity((blob.size as usize).min(64 << 20));
        let mut stream = blob.stream;
        while let Some(chunk) = stream.try_next().await? {
            data.extend_from_slice(&chunk);
        }
        Ok(Some(data))
    }

    /// Removes the file stored under `sha256`; one already gone is not an error. Callers
    /// outside [`removal`] must know that no writer may be referring to it again.
    pub(crate) async fn remove(&self, sha256: &str) -> std::io::Result<()> {
        if !is_name(sha256) {
            return Ok(());
        }
        match &self.backend {
            Backend::Local(dir) => dir.remove(sha256).await,
            Backend::Database(store) => store
                .delete_blob_row(sha256)
                .await
                .map_err(std::io::Error::other),
            Backend::S3(bucket) => bucket.remove(sha256).await,
        }
    }

    /// Every stored file, in name order.
    pub async fn list(&self) -> std::io::Result<Vec<Listed>> {
        match &self.backend {
            Backend::Local(dir) => dir.list().await,
            Backend::S3(bucket) => bucket.list().await,
            Backend::Database(store) => {
                let mut found = Vec::new();
                let mut after = String::new();
                loop {
                    let page = store
                        .blob_rows_after(&after, 1000)
                        .await
                        .map_err(std::io::Error::other)?;
                    let Some((last, _)) = page.last() else {
                        return Ok(found);
                    };
                    after = last.clone();
                    found.extend(page.into_iter().map(|(sha256, at)| Listed {
                        sha256,
                        written_at: Some(at),
                    }));
                }
            }
        }
    }
}

/// A file kept in the database, read a slice at a time (one query each), so a large file is
/// never whole in memory on its way to a download.
async fn database_read(store: &Store, sha256: &str) -> std::io::Result<Option<Blob>> {
    let Some(size) = store
        .blob_row_size(sha256)
        .await
        .map_err(std::io::Error::other)?
    else {
        return Ok(None);
    };
    let (store, sha) = (store.clone(), sha256.to_string());
    let stream = futures::stream::try_unfold(0i64, move |offset| {
        let (store, sha) = (store.clone(), sha.clone());
        async move {
            if offset >= size {
                return Ok(None);
            }
            let slice = store
                .blob_row_slice(&sha, offset, SLICE as i64)
                .await
                .map_err(std::io::Error::other)?
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "the file was removed")
                })?;
            if slice.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file is shorter than its size",
                ));
            }
            let next = offset + slice.len() as i64;
            Ok(Some((bytes::Bytes::from(slice), next)))
        }
    });
    Ok(Some(Blob {
        size: size as u64,
        stream: stream.boxed(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_are_stored_once_by_content_and_read_back() {
        let dir = tempfile_dir();
        let blobs = BlobStore::local(dir.clone());
        let a = blobs.put(b"hello").await.unwrap();
        let b = blobs.put(b"hello").await.unwrap();
        assert_eq!(a, b);
        assert_eq!(blobs.get(&a).await.unwrap().unwrap(), b"hello");
        assert!(blobs.get("../../etc/passwd").await.unwrap().is_none());
        assert!(blobs.get(&"0".repeat(64)).await.unwrap().is_none());
        let listed = blobs.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].sha256, a);
        assert!(listed[0].written_at.is_some());
        blobs.remove(&a).await.unwrap();
        assert!(blobs.get(&a).await.unwrap().is_none());
        blobs.remove(&a).await.unwrap();
        blobs.remove("../../etc/passwd").await.unwrap();
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn a_large_file_streams_in_slices() {
        let dir = tempfile_dir();
        let blobs = BlobStore::local(dir.clone());
        let data: Vec<u8> = (0..SLICE * 2 + 17).map(|i| (i % 251) as u8).collect();
        let sha = blobs.put(&data).await.unwrap();
        let blob = blobs.read(&sha).await.unwrap().unwrap();
        assert_eq!(blob.size, data.len() as u64);
        let chunks: Vec<bytes::Bytes> = blob.stream.try_collect().await.unwrap();
        assert!(chunks.len() >= 3, "{} chunks", chunks.len());
        assert_eq!(chunks.concat(), data);
        std::fs::remove_dir_all(dir).ok();
    }

    fn tempfile_dir() -> PathBuf {
        std::env::temp_dir().join(format!("tg-blobs-{}", crate::domain::random_base32(8)))
    }
}
