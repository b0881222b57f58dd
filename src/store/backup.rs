//! What a backup reads of the database: a consistent copy of a SQLite database taken while the
//! gateway writes (`VACUUM INTO`, one read transaction), and, from such a copy or from
//! PostgreSQL, the files its attachments refer to and the counts a manifest records.

use super::{Backend, Result, Store, StoreError, on_backend};
use std::path::Path;

/// Rows a backup's manifest records, to check a restore against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowCounts {
    pub people: i64,
    pub conversations: i64,
    pub messages: i64,
    pub attachments: i64,
    pub inbound: i64,
}

/// The statements both readers share.
const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM people), (SELECT COUNT(*) FROM conversations),
    (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM attachments),
    (SELECT COUNT(*) FROM inbound)";
const BLOBS: &str = "SELECT DISTINCT sha256 FROM attachments WHERE omitted IS NULL ORDER BY sha256";

impl Store {
    /// SQLite: writes a consistent copy of the database to `path` (which must not exist),
    /// while writers go on. None on PostgreSQL (its own tools back it up).
    pub async fn snapshot_into(&self, path: &Path) -> Result<bool> {
        let Backend::Sqlite { read, .. } = &self.backend else {
            return Ok(false);
        };
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Batch("the backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(read)
            .await?;
        Ok(true)
    }

    /// The live database's counts and referenced files (PostgreSQL, where the backup holds the
    /// files only).
    pub async fn backup_contents(&self) -> Result<(RowCounts, Vec<String>)> {
        on_backend!(self, pool => {
            let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(COUNTS).fetch_one(pool).await?;
            let blobs: Vec<String> = sqlx::query_scalar(BLOBS).fetch_all(pool).await?;
            Ok((counts_of(counts), blobs))
        })
    }
}

/// The counts and referenced files of a SQLite database file (a snapshot, or a restored one).
pub async fn sqlite_file_contents(path: &Path) -> Result<(RowCounts, Vec<String>)> {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await?;
    let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(COUNTS).fetch_one(&mut conn).await?;
    let blobs: Vec<String> = sqlx::query_scalar(BLOBS).fetch_all(&mut conn).await?;
    Ok((counts_of(counts), blobs))
}

fn counts_of(
    (people, conversations, messages, attachments, inbound): (i64, i64, i64, i64, i64),
) -> RowCounts {
    RowCounts {
        people,
        conversations,
        messages,
        attachments,
        inbound,
    }
}

/// The schema version of a SQLite database file.
pub async fn sqlite_schema_version(path: &Path) -> Result<i64> {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await?;
    let version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await?;
    Ok(version.unwrap_or(0))
}
