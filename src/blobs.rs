//! Content-addressed files under `<data-dir>/attachments/`: `ab/abcdef…` named by the SHA-256
//! of their bytes, so the same attachment sent twice is stored once. Files are written to a
//! temporary name, synced, then renamed, so a reader never sees half a file. The raw email in
//! the database stays the source of truth: a missing file can be extracted from it again.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    pub fn new(dir: PathBuf) -> BlobStore {
        BlobStore { dir }
    }

    fn path(&self, sha256: &str) -> Option<PathBuf> {
        // Only our own lowercase hex names: never a path from outside.
        let valid = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| self.dir.join(&sha256[..2]).join(sha256))
    }

    /// Stores `data` durably and returns its SHA-256 (hex).
    pub async fn put(&self, data: &[u8]) -> std::io::Result<String> {
        let sha = data_encoding::HEXLOWER.encode(&Sha256::digest(data));
        let path = self.path(&sha).expect("a hex digest is a valid name");
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(sha);
        }
        let parent = path.parent().expect("blob paths have a parent");
        tokio::fs::create_dir_all(parent).await?;
        let tmp = parent.join(format!(".{sha}.{}.tmp", crate::domain::random_base32(5)));
        tokio::fs::write(&tmp, data).await?;
        tokio::fs::File::open(&tmp).await?.sync_all().await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(sha)
    }

    /// The bytes stored under `sha256`; None when there is no such file.
    pub async fn get(&self, sha256: &str) -> std::io::Result<Option<Vec<u8>>> {
        let Some(path) = self.path(sha256) else {
            return Ok(None);
        };
        match tokio::fs::read(&path).await {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Unlinks the file stored under `sha256` (an erasure left it unreferenced). A file that
    /// is already gone is not an error.
    pub async fn remove(&self, sha256: &str) -> std::io::Result<()> {
        let Some(path) = self.path(sha256) else {
            return Ok(());
        };
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_are_stored_once_by_content_and_read_back() {
        let dir = tempfile_dir();
        let blobs = BlobStore::new(dir.clone());
        let a = blobs.put(b"hello").await.unwrap();
        let b = blobs.put(b"hello").await.unwrap();
        assert_eq!(a, b);
        assert_eq!(blobs.get(&a).await.unwrap().unwrap(), b"hello");
        assert!(blobs.get("../../etc/passwd").await.unwrap().is_none());
        assert!(blobs.get(&"0".repeat(64)).await.unwrap().is_none());
        blobs.remove(&a).await.unwrap();
        assert!(blobs.get(&a).await.unwrap().is_none());
        blobs.remove(&a).await.unwrap();
        blobs.remove("../../etc/passwd").await.unwrap();
        std::fs::remove_dir_all(dir).ok();
    }

    fn tempfile_dir() -> PathBuf {
        std::env::temp_dir().join(format!("tg-blobs-{}", crate::domain::random_base32(8)))
    }
}
