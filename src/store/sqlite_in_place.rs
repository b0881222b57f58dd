//! SQLite statements run in place, on the calling thread.
//!
//! sqlx gives each SQLite connection a worker thread and hands it every statement: a switch to
//! that thread and one back, and under load each waits for a core. For the statements every
//! inbound email runs — RCPT's read of its reply address (`Store::token_recipient`) and the
//! commit thread's writes (`inbound_sqlite`) — those switches cost more than SQLite's work, and
//! so they did for the digest planner, whose pages of 500 due participants came back a row per
//! hand-off and whose batches were sqlx's multi-row inserts (`notifications`). These run on
//! rusqlite connections called directly, statements prepared once per connection
//! (`prepare_cached`) with the same SQL texts as the rest of the store: `$N` placeholders,
//! bound by name ([`bind`]), and rows read by column name through [`Columns`], the decoders
//! shared with sqlx's rows.

use super::{Result, StoreError};
use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags, Statement};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Binds each `$N` placeholder of `stmt` to `args[N]` (SQLite numbers a statement's named
/// parameters in order of appearance, so `$5` alone in a statement is its parameter 1).
pub(super) fn bind(stmt: &mut Statement<'_>, args: &[&dyn ToSql]) -> rusqlite::Result<()> {
    for index in 1..=stmt.parameter_count() {
        // A nameless parameter (`?`) is refused like a number out of range: our texts have none.
        let name = stmt.parameter_name(index);
        let arg = name
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| args.get(n))
            .ok_or_else(|| {
                rusqlite::Error::InvalidParameterName(name.unwrap_or("?").to_string())
            })?;
        stmt.raw_bind_parameter(index, *arg)?;
    }
    Ok(())
}

/// Runs the cached statement `sql` with its `$N` placeholders taken from `args`.
pub(super) fn execute(conn: &Connection, sql: &str, args: &[&dyn ToSql]) -> Result<()> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, args)?;
    stmt.raw_execute()?;
    Ok(())
}

/// Reads `sql`'s first row (`$N` from `args`) and decodes it, or None when there is none.
pub(super) fn read_row<T>(
    conn: &Connection,
    sql: &str,
    args: &[&dyn ToSql],
    decode: impl FnOnce(&InPlaceRow<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    match rows.next()? {
        Some(row) => decode(&InPlaceRow(row)).map(Some),
        None => Ok(None),
    }
}

/// Runs `sql` (`$N` from `args`) and hands each row to `each`, in order, stopping at its first
/// error.
pub(super) fn for_each_row(
    conn: &Connection,
    sql: &str,
    args: &[&dyn ToSql],
    mut each: impl FnMut(&InPlaceRow<'_>) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        each(&InPlaceRow(row))?;
    }
    Ok(())
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 32;

/// Idle reading connections kept; more are opened when more readers come at once (each
/// read holds one only while it runs, on the caller's thread).
const IDLE_READERS: usize = 8;

/// Connections for reads made in place, by the calling thread: a read holds one only while it
/// runs (tens of microseconds; a runtime worker blocks on it as on any in-place work).
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on an idle connection, or on a new one when none is idle.
    pub(super) fn read<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_WRITE,
                &[("query_only", "ON")],
            )?,
        };
        let result = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

/// One connection for a writer's work done in place, opened when first needed. Its user holds
/// the writer pool's one connection meanwhile (SQLite has one writer at a time), so it is never
/// contended; the lock only makes it shareable between the tasks that take turns.
pub(super) struct Writer {
    path: PathBuf,
    pragmas: Vec<(&'static str, String)>,
    conn: Mutex<Option<Connection>>,
}

impl Writer {
    pub(super) fn new(path: PathBuf, pragmas: Vec<(&'static str, String)>) -> Writer {
        Writer {
            path,
            pragmas,
            conn: Mutex::new(None),
        }
    }

    /// Runs `write` on the connection, opening it first if it is not open.
    pub(super) fn write<T>(&self, write: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = match slot.as_mut() {
            Some(conn) => conn,
            None => {
                let pragmas: Vec<(&str, &str)> =
                    self.pragmas.iter().map(|(p, v)| (*p, v.as_str())).collect();
                slot.insert(open(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE,
                    &pragmas,
                )?)
            }
        };
        write(conn)
    }
}

/// A connection to the database the migrations created (never creating one), with `pragmas`.
pub(super) fn open(path: &Path, flags: OpenFlags, pragmas: &[(&str, &str)]) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    for (pragma, value) in pragmas {
        conn.pragma_update(None, pragma, value)?;
    }
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// A row read in place.
pub(super) struct InPlaceRow<'a>(&'a rusqlite::Row<'a>);

/// A row's columns by name, whichever driver read it: the decoders of rows both paths read
/// (`people::person_from_row`, …) take any of them.
pub(super) trait Columns {
    fn column<T: Column>(&self, name: &str) -> Result<T>;
}

/// A Rust type every driver here decodes.
pub(super) trait Column:
    rusqlite::types::FromSql
    + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
{
}

impl<T> Column for T where
    T: rusqlite::types::FromSql
        + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
{
}

impl Columns for sqlx::sqlite::SqliteRow {
    fn column<T: Column>(&self, name: &str) -> Result<T> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
}

impl Columns for sqlx::postgres::PgRow {
    fn column<T: Column>(&self, name: &str) -> Result<T> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
}

impl Columns for InPlaceRow<'_> {
    fn column<T: Column>(&self, name: &str) -> Result<T> {
        self.0.get(name).map_err(StoreError::from)
    }
}
