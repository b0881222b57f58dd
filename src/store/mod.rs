//! Storage: the only module that speaks SQL.
//!
//! One [`Store`] API named by intent, two backends chosen at run time from the database URL:
//! SQLite (embedded default; WAL, foreign keys, busy timeout, `synchronous=FULL`) and PostgreSQL
//! (several gateway processes sharing one database).
//!
//! Each query is written once, in SQL both engines accept (`$1` placeholders, `ON CONFLICT`,
//! `RETURNING`), and the [`on_backend!`] macro instantiates the calling code once per backend so
//! it is type-checked against each driver; where the dialects differ (`FOR UPDATE SKIP LOCKED`,
//! `BEGIN IMMEDIATE`) the [`Dialect`] trait says so explicitly. Migrations are parallel histories
//! in `migrations/sqlite/` and `migrations/postgres/` with the same numbering.

// One bad record never stops the work for everyone: no unwrap or expect on paths that
// handle data (a panic here would stop a loop); errors are returned and recorded instead.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod access;
mod addresses;
mod attachments;
pub mod backup;
mod blob_rows;
mod companies;
mod conversations;
mod domains;
mod erasure;
pub(crate) mod failures;
mod group_commit;
mod inbound;
mod inbound_pg;
mod inbound_sqlite;
mod lifecycle;
mod listing;
mod messages;
mod notifications;
mod outbox;
mod people;
mod readiness;
pub(crate) mod search;
mod search_index;
mod senders;
mod sessions;
mod sign_in_failures;
mod sqlite_in_place;
mod stored_email;
mod stored_text;
mod transcripts;
mod used_links;
pub use readiness::OutboxSummary;
pub use used_links::LinkUse;
mod verification;

pub use addresses::PersonAddress;
pub use attachments::{Attachment, NewAttachment};
pub use companies::{Company, Cursor, PeopleFilter};
pub use conversations::{
    Conversation, ConversationFilter, ConversationOptions, NewConversation, Participant, Shelf,
    TokenOwner,
};
pub use domains::{
    DEFAULT_INBOX_LOCAL, DkimKey, Domain, DomainSettingsChange, InboxAddress, KeyStatus,
};
pub use erasure::{ErasedBy, Erasure, ErasureCounts};
pub use failures::{WorkFailure, job};
pub use inbound::{
    InboundChanges, InboundEffect, InboundEntry, InboundRecord, InboundStored, ReplyContext,
    sha256_hex,
};
pub use lifecycle::{
    ConversationEvent, ConversationStatus, DeletedMessage, EventKind, LifecycleChange,
    MessageEffect, StatusChange, Sweep,
};
pub use listing::{ConversationSummary, ListScope, ParticipantState, ReadMark, ReadMoves};
pub use messages::{Message, NewMessage};
pub use notifications::{
    BrokenDue, DuePage, DueParticipant, NewOutboxEmail, PendingFile, PendingMessage, PlannedEmail,
};
pub use outbox::{OutboxEmail, OutboxRecipient, OutboxStatus};
pub use people::{NewPerson, Person, PersonSettings, SOFT_BOUNCE_LIMIT, Suppressed};
pub use search::{SearchFilter, SearchHit};
pub use senders::{BlockedDomain, SenderBlock, TokenRecipient};
pub use sessions::{LinkPolicy, SessionVia, WebSession};
pub use stored_email::StoredEmail;
pub use transcripts::{TRANSCRIPT_INTERVAL_MS, TranscriptIssue};
pub use verification::{
    CODE_LIFETIME_MS, CODE_MAX_ATTEMPTS, CODES_PER_ADDRESS, CODES_PER_IP, CodeCheck, CodeIssue,
};

use crate::config::redact_url;
use crate::domain::{Clock, Millis};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The caller referred to something that does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller tried to create something that already exists.
    #[error("{0}")]
    Conflict(&'static str),
    /// Our fault or the database's: never shown to a client in detail.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The same, from the SQLite connection the commit thread writes on (`inbound_sqlite`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A grouped commit failed (the whole batch was rolled back).
    #[error("database error: {0}")]
    Batch(String),
    #[error("invalid database URL {url:?}: {reason}")]
    Url { url: String, reason: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
enum Backend {
    /// SQLite allows one writer at a time. Writes go through a pool of ONE connection, so
    /// in-process writers queue fairly on the pool instead of spinning in SQLite's busy handler
    /// (which let unlucky writers wait for up to a second under load); reads use their own pool.
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        /// Reads run in place on the caller's thread (`sqlite_in_place`): RCPT's.
        readers: Arc<sqlite_in_place::Readers>,
        /// Inbound emails, committed in batches on `write`.
        group: group_commit::GroupCommit,
        /// The notification planner's batches, written in place (`notifications::enqueue_in_place`)
        /// while `write`'s connection is held.
        batch_writer: Arc<sqlite_in_place::Writer>,
    },
    Postgres {
        pool: PgPool,
        /// Inbound emails, committed in batches.
        group: group_commit::GroupCommit,
    },
}

/// Cheap to clone: pools are reference-counted.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    clock: Arc<dyn Clock>,
}

/// Runs `$body` with `$pool` bound to the concrete pool of whichever backend is in use. The body
/// is expanded once per backend, so the same SQL is checked against both drivers' types.
/// `on_backend!(write store, pool => …)` picks the pool for statements that write.
macro_rules! on_backend {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { read: $pool, .. } => $body,
            $crate::store::Backend::Postgres { pool: $pool, .. } => $body,
        }
    };
    (write $store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { write: $pool, .. } => $body,
            $crate::store::Backend::Postgres { pool: $pool, .. } => $body,
        }
    };
}
pub(crate) use on_backend;

/// The few places where the SQL dialects differ.
pub(crate) trait Dialect {
    type Db: sqlx::Database;
    /// A transaction that will write. SQLite takes the write lock up front (`BEGIN IMMEDIATE`)
    /// so two writers never deadlock upgrading a read lock (they would get SQLITE_BUSY at once
    /// instead of waiting for the busy timeout).
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
    /// Chooses the statement text for this backend.
    fn pick(&self, sqlite: &'static str, postgres: &'static str) -> &'static str;
}

impl Dialect for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
    fn pick(&self, sqlite: &'static str, _postgres: &'static str) -> &'static str {
        sqlite
    }
}

impl Dialect for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
    fn pick(&self, _sqlite: &'static str, postgres: &'static str) -> &'static str {
        postgres
    }
}

/// [`Dialect::pick`] for statements run on a connection (inside a transaction) rather than a
/// pool.
pub(crate) trait ConnDialect {
    fn pick(&self, sqlite: &'static str, postgres: &'static str) -> &'static str;
}

impl ConnDialect for sqlx::SqliteConnection {
    fn pick(&self, sqlite: &'static str, _postgres: &'static str) -> &'static str {
        sqlite
    }
}

impl ConnDialect for sqlx::PgConnection {
    fn pick(&self, _sqlite: &'static str, postgres: &'static str) -> &'static str {
        postgres
    }
}

/// A SQLite writing connection's page cache, at most (KiB; `PRAGMA cache_size` takes a negative
/// number as KiB, <https://sqlite.org/pragma.html#pragma_cache_size>). Allocated as pages are
/// used. SQLite's default (2 MiB) is smaller than one planning batch's dirty pages (500
/// outbox rows, their indexes, the participants' pages), which then spilled into the log before
/// the commit and were read back; an inbound batch dirties a few thousand pages at most (64
/// emails of 64 KiB). A larger cache (64 MiB until the planner wrote on a connection of its
/// own) held memory, and SQLite walks the cache at the end of every write transaction
/// (`pcache1Truncate`: 4.4% of a planning pass's samples at 64 MiB, 3.8% at 16).
const WRITER_CACHE_KIB: u32 = 16 * 1024;

/// How long a SQLite connection waits for another's write lock before it gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings of every SQLite connection that writes — the writer pool's and the commit
/// thread's own (`inbound_sqlite`) —, each explained where [`Store::connect`] sets them.
fn writer_pragmas() -> [(&'static str, String); 5] {
    [
        ("synchronous", "FULL".into()),
        ("foreign_keys", "ON".into()),
        ("secure_delete", "on".into()),
        ("wal_autocheckpoint", "0".into()),
        ("cache_size", format!("-{WRITER_CACHE_KIB}")),
    ]
}

/// How often the write-ahead log is copied back into the database (SQLite), at most.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Copies what the log holds back into the database file, without waiting for readers or the
/// writer (a passive checkpoint, <https://sqlite.org/wal.html#checkpointing>), until the pool
/// closes. When everything has been copied, the next write starts the log over, so it stays
/// about as large as what is written between two passes.
async fn checkpoints(read: SqlitePool) {
    let mut interval = tokio::time::interval(CHECKPOINT_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if read.is_closed() {
            return;
        }
        if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&read)
            .await
        {
            if read.is_closed() {
                return;
            }
            tracing::warn!(error = %err, "copying the write-ahead log into the database failed");
        }
    }
}

impl Store {
    /// Connects and applies pending migrations. `sqlite://path` (created if missing) or
    /// `postgres://…`/`postgresql://…`.
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> Result<Store> {
        Self::connect_supervised(url, clock, crate::supervise::Health::new()).await
    }

    /// [`Store::connect`], with the inbound committers reporting to `health`.
    pub async fn connect_supervised(
        url: &str,
        clock: Arc<dyn Clock>,
        health: crate::supervise::Health,
    ) -> Result<Store> {
        let bad = |reason: String| StoreError::Url {
            url: redact_url(url),
            reason,
        };
        let backend = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| bad(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before we answer 250, even across power loss.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                // Deleted content is overwritten with zeros, not left in free space: an erasure
                // leaves no byte of the person in the file (`store::erasure`).
                .pragma("secure_delete", "on")
                .busy_timeout(BUSY_TIMEOUT);
            // The writer never copies the log back into the database itself (SQLite's
            // automatic checkpoint runs inside the commit that crosses 1,000 pages, so one
            // batch in a thousand pages waited for it); a task on the read pool does, on the
            // other core (`checkpoints`). Durability is unchanged: a commit is durable once in
            // the log.
            // No ping before each acquire (sqlx's default): an in-process SQLite connection has
            // no network to lose, and the ping is a hand-off to the connection's thread and
            // back before every statement run on the pool.
            // The writer's page cache holds up to WRITER_CACHE_KIB, as do the connections that
            // write in place (the commit thread's, `inbound_sqlite`, and the planner's,
            // `notifications`), all with these settings.
            let write_options = writer_pragmas()
                .into_iter()
                .fold(options.clone(), |options, (pragma, value)| {
                    options.pragma(pragma, value)
                });
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(write_options)
                .await?;
            sqlx::migrate!("migrations/sqlite").run(&write).await?;
            let path = options.get_filename().to_path_buf();
            let read = SqlitePoolOptions::new()
                .max_connections(8)
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            let readers = Arc::new(sqlite_in_place::Readers::new(path.clone()));
            let batch_writer = Arc::new(sqlite_in_place::Writer::new(
                path.clone(),
                writer_pragmas().into_iter().collect(),
            ));
            let group = group_commit::GroupCommit::start_sqlite(write.clone(), path, health)?;
            tokio::spawn(checkpoints(read.clone()));
            Backend::Sqlite {
                read,
                write,
                readers,
                group,
                batch_writer,
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| bad(e.to_string()))?
                // Every query here is short; PostgreSQL's JIT compiles any whose estimated
                // cost passes `jit_above_cost`, and the access rule's subplans are costed high
                // enough to pass it: ~50 ms of compiling for a query that runs in 10. Nor
                // parallel workers: starting them costs milliseconds that a query of tens of
                // milliseconds does not win back, and the requests of many users already keep
                // the cores busy.
                .options([("jit", "off"), ("max_parallel_workers_per_gather", "0")]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            let group = group_commit::GroupCommit::start_pg(pool.clone(), health);
            Backend::Postgres { pool, group }
        } else {
            return Err(bad("expected a sqlite: or postgres: URL".into()));
        };
        Ok(Store { backend, clock })
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    pub fn now(&self) -> Millis {
        self.clock.now_millis()
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Whether the database answers a trivial write-side query now (within 5 s): tells an
    /// outage from one bad row, and feeds the readiness check.
    pub async fn is_available(&self) -> bool {
        let probe = async {
            on_backend!(write self, pool => {
                sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
            })
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(5), probe).await,
            Ok(Ok(()))
        )
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { read, write, .. } => {
                read.close().await;
                write.close().await;
            }
            Backend::Postgres { pool, .. } => pool.close().await,
        }
    }

    /// Refreshes the query planner's statistics (`ANALYZE`), e.g. after a bulk import: plans
    /// chosen on stale statistics can turn a keyset page into a scan of the whole table.
    pub async fn refresh_statistics(&self) -> Result<()> {
        on_backend!(write self, pool => {
            sqlx::query("ANALYZE").execute(pool).await?;
            Ok(())
        })
    }

    /// A value shared by every process using this database (e.g. the key that signs our
    /// Message-IDs), created on first use. Concurrent first uses agree on one value.
    pub async fn shared_secret(
        &self,
        key: &str,
        generate: impl FnOnce() -> String,
    ) -> Result<String> {
        let candidate = generate();
        on_backend!(write self, pool => {
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .bind(&candidate)
                .execute(pool)
                .await?;
            let value: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
                .bind(key)
                .fetch_one(pool)
                .await?;
            Ok(value)
        })
    }
}

/// A list of ids as the JSON array a statement unpacks (`json_each($1)` on SQLite,
/// `jsonb_array_elements_text($1::jsonb)` on PostgreSQL): one bind for any number of them.
pub(crate) fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// Maps a unique-constraint violation to a caller-facing conflict.
pub(crate) fn conflict_on_unique(err: sqlx::Error, what: &'static str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/tg"),
            "postgres://app:***@db:5432/tg"
        );
        assert_eq!(
            redact_url("sqlite://./data/threadgate.db"),
            "sqlite://./data/threadgate.db"
        );
    }
}
