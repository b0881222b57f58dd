//! Files under `<data-dir>/attachments/`: `ab/abcdef…`, named by the SHA-256 of their bytes.
//! Written to a temporary name, synced, then renamed, so a reader never sees half a file.

use super::{Blob, Listed, is_name};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub(super) struct LocalDir {
    dir: PathBuf,
}

impl LocalDir {
    pub(super) fn new(dir: PathBuf) -> LocalDir {
        LocalDir { dir }
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(&sha256[..2]).join(sha256)
    }

    /// Stores `data` under `sha256` (its digest) unless the file is there already.
    pub(super) async fn put(&self, sha256: &str, data: &[u8]) -> std::io::Result<()> {
        let path = self.path(sha256);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(());
        }
        let parent = path.parent().expect("blob paths have a parent");
        tokio::fs::create_dir_all(parent).await?;
        let tmp = parent.join(format!(".{sha256}.{}.tmp", crate::domain::random_base32(5)));
        tokio::fs::write(&tmp, data).await?;
        tokio::fs::File::open(&tmp).await?.sync_all().await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }

    pub(super) async fn read(&self, sha256: &str) -> std::io::Result<Option<Blob>> {
        let file = match tokio::fs::File::open(self.path(sha256)).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let size = file.metadata().await?.len();
        let stream = tokio_util::io::ReaderStream::with_capacity(file, super::SLICE);
        Ok(Some(Blob {
            size,
            stream: Box::pin(stream),
        }))
    }

    /// Unlinks the file (one already gone is not an error).
    pub(super) async fn remove(&self, sha256: &str) -> std::io::Result<()> {
        match tokio::fs::remove_file(self.path(sha256)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every file, with when it was last written (temporary files and anything not named by
    /// a digest are left out).
    pub(super) async fn list(&self) -> std::io::Result<Vec<Listed>> {
        let mut found = Vec::new();
        let mut dirs = match tokio::fs::read_dir(&self.dir).await {
            Ok(dirs) => dirs,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(e),
        };
        while let Some(dir) = dirs.next_entry().await? {
            if !dir.file_type().await?.is_dir() {
                continue;
            }
            let mut files = tokio::fs::read_dir(dir.path()).await?;
            while let Some(file) = files.next_entry().await? {
                let name = file.file_name().to_string_lossy().into_owned();
                if !is_name(&name) {
                    continue;
                }
                let written = file
                    .metadata()
                    .await?
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_millis() as i64);
                found.push(Listed {
                    sha256: name,
                    written_at: written,
                });
            }
        }
        found.sort_by(|a, b| a.sha256.cmp(&b.sha256));
        Ok(found)
    }
}
