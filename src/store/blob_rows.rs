//! Attachment files kept in the PostgreSQL database (`--blob-store postgres`): `blob_contents`,
//! one row per content (the SHA-256 of its bytes), read back a slice at a time. The blob store
//! (the blobs module) calls these; on SQLite there is no such table and `--blob-store postgres` is
//! refused by the configuration.

use super::{Backend, Result, Store, StoreError};

impl Store {
    fn blob_pool(&self) -> Result<&sqlx::PgPool> {
        match &self.backend {
            Backend::Postgres { pool, .. } => Ok(pool),
            Backend::Sqlite { .. } => Err(StoreError::Conflict(
                "files kept in the database need PostgreSQL",
            )),
        }
    }

    /// Keeps `data` under `sha256` (its own digest, computed by the caller). The same content
    /// written twice at once is one row: the second insert does nothing.
    pub async fn put_blob_row(&self, sha256: &str, data: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO blob_contents (sha256, size, content, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(data.len() as i64)
        .bind(data)
        .bind(self.now())
        .execute(self.blob_pool()?)
        .await?;
        Ok(())
    }

    /// The size of the file `sha256`, None when there is none.
    pub async fn blob_row_size(&self, sha256: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT size FROM blob_contents WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(self.blob_pool()?)
                .await?,
        )
    }

    /// `len` bytes of the file `sha256` from `offset` (0-based); None when the file is gone.
    pub async fn blob_row_slice(
        &self,
        sha256: &str,
        offset: i64,
        len: i64,
    ) -> Result<Option<Vec<u8>>> {
        // substring() counts from 1 and takes int4 (PostgreSQL's "Binary String Functions";
        // a bytea holds at most 1 GB).
        Ok(sqlx::query_scalar(
            "SELECT substring(content FROM $2::int4 FOR $3::int4) FROM blob_contents
              WHERE sha256 = $1",
        )
        .bind(sha256)
        .bind(offset + 1)
        .bind(len)
        .fetch_optional(self.blob_pool()?)
        .await?)
    }

    /// Forgets the file `sha256` (none is not an error).
    pub async fn delete_blob_row(&self, sha256: &str) -> Result<()> {
        sqlx::query("DELETE FROM blob_contents WHERE sha256 = $1")
            .bind(sha256)
            .execute(self.blob_pool()?)
            .await?;
        Ok(())
    }

    /// The files after `after` in name order, at most `limit`, with when each was written.
    pub async fn blob_rows_after(&self, after: &str, limit: i64) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT sha256, created_at FROM blob_contents WHERE sha256 > $1
              ORDER BY sha256 LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.blob_pool()?)
        .await?)
    }
}
