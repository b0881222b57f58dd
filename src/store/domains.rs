//! Sending domains and their DKIM keys; the last DNS check of each.

use super::{Dialect, Result, Store, StoreError, conflict_on_unique, on_backend};
use crate::domain::Millis;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub name: String,
    pub reply_domain: String,
    pub created_at: Millis,
    pub last_checked_at: Option<Millis>,
    /// JSON array of the last check (`[{type, host, status, found}]`).
    pub check_results: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Published, not signing yet (a rotation in progress).
    Pending,
    Active,
    Retired,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Pending => "pending",
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<KeyStatus> {
        match s {
            "pending" => Some(KeyStatus::Pending),
            "active" => Some(KeyStatus::Active),
            "retired" => Some(KeyStatus::Retired),
            _ => None,
        }
    }
}

/// One DKIM key. `private_key` is base64 DER; never shown by the API.
#[derive(Clone, PartialEq, Eq)]
pub struct DkimKey {
    pub domain: String,
    pub selector: String,
    /// `rsa` or `ed25519`.
    pub algorithm: String,
    pub private_key: String,
    pub public_key: String,
    pub status: KeyStatus,
    pub created_at: Millis,
}

impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

fn domain_from_row<R: Row>(row: &R) -> Result<Domain>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let results: String = row.try_get("check_results")?;
    Ok(Domain {
        name: row.try_get("name")?,
        reply_domain: row.try_get("reply_domain")?,
        created_at: row.try_get("created_at")?,
        last_checked_at: row.try_get("last_checked_at")?,
        check_results: serde_json::from_str(&results)
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(e.into())))?,
    })
}

fn key_from_row<R: Row>(row: &R) -> Result<DkimKey>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let status: String = row.try_get("status")?;
    Ok(DkimKey {
        domain: row.try_get("domain")?,
        selector: row.try_get("selector")?,
        algorithm: row.try_get("algorithm")?,
        private_key: row.try_get("private_key")?,
        public_key: row.try_get("public_key")?,
        status: KeyStatus::parse(&status).ok_or(StoreError::Database(sqlx::Error::Decode(
            format!("unknown key status {status:?}").into(),
        )))?,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts `keys` of `domain` inside the caller's transaction (expanded per backend).
macro_rules! insert_keys {
    ($tx:expr, $domain:expr, $keys:expr, $now:expr) => {
        for key in $keys {
            sqlx::query(
                "INSERT INTO dkim_keys (domain, selector, algorithm, private_key, public_key, status, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind($domain)
            .bind(&key.selector)
            .bind(&key.algorithm)
            .bind(&key.private_key)
            .bind(&key.public_key)
            .bind(key.status.as_str())
            .bind($now)
            .execute(&mut *$tx)
            .await
            .map_err(|e| conflict_on_unique(e, "this selector already exists"))?;
        }
    };
}

const DOMAIN_COLUMNS: &str = "name, reply_domain, created_at, last_checked_at, check_results";
const KEY_COLUMNS: &str =
    "domain, selector, algorithm, private_key, public_key, status, created_at";

impl Store {
    /// Creates a domain with its first keys, in one transaction. `Conflict` when it exists.
    pub async fn create_domain(
        &self,
        name: &str,
        reply_domain: &str,
        keys: &[DkimKey],
    ) -> Result<Domain> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("INSERT INTO domains (name, reply_domain, created_at) VALUES ($1, $2, $3)")
                .bind(name)
                .bind(reply_domain)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_on_unique(e, "this domain already exists"))?;
            insert_keys!(tx, name, keys, now);
            tx.commit().await?;
        });
        Ok(Domain {
            name: name.to_string(),
            reply_domain: reply_domain.to_string(),
            created_at: now,
            last_checked_at: None,
            check_results: serde_json::Value::Array(Vec::new()),
        })
    }

    pub async fn domain(&self, name: &str) -> Result<Option<Domain>> {
        let sql = format!("SELECT {DOMAIN_COLUMNS} FROM domains WHERE name = $1");
        on_backend!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(name)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(domain_from_row).transpose()
        })
    }

    pub async fn domains(&self) -> Result<Vec<Domain>> {
        let sql = format!("SELECT {DOMAIN_COLUMNS} FROM domains ORDER BY name");
        on_backend!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).fetch_all(pool).await?;
            rows.iter().map(domain_from_row).collect()
        })
    }

    /// Every key of a domain, oldest first (retired ones too).
    pub async fn dkim_keys(&self, domain: &str) -> Result<Vec<DkimKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM dkim_keys WHERE domain = $1 ORDER BY created_at, algorithm DESC, selector"
        );
        on_backend!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(domain)
                .fetch_all(pool)
                .await?;
            rows.iter().map(key_from_row).collect()
        })
    }

    /// Adds keys (a rotation: new selectors, `pending` until switched to).
    pub async fn add_dkim_keys(&self, domain: &str, keys: &[DkimKey]) -> Result<()> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            insert_keys!(tx, domain, keys, now);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Sets the status of one key. False when there is no such key.
    pub async fn set_dkim_key_status(
        &self,
        domain: &str,
        selector: &str,
        status: KeyStatus,
    ) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query("UPDATE dkim_keys SET status = $3 WHERE domain = $1 AND selector = $2")
                .bind(domain)
                .bind(selector)
                .bind(status.as_str())
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Records a check's results (a JSON array) and its time.
    pub async fn record_domain_check(&self, name: &str, results: &serde_json::Value) -> Result<()> {
        let now = self.now();
        on_backend!(write self, pool => {
            sqlx::query("UPDATE domains SET last_checked_at = $2, check_results = $3 WHERE name = $1")
                .bind(name)
                .bind(now)
                .bind(results.to_string())
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Claims up to `limit` domains last checked before `before` (never-checked ones wait for
    /// their admin's first check) for a re-check:
    /// moves their check time to now, compare-and-set, so two processes never both take one.
    pub async fn claim_domains_to_check(&self, before: Millis, limit: i64) -> Result<Vec<String>> {
        let now = self.now();
        on_backend!(write self, pool => {
            let candidates: Vec<(String, i64)> = sqlx::query_as(
                "SELECT name, last_checked_at FROM domains
                 WHERE last_checked_at < $1 ORDER BY name LIMIT $2",
            )
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let mut claimed = Vec::new();
            for (name, seen) in candidates {
                let done = sqlx::query(
                    "UPDATE domains SET last_checked_at = $2
                     WHERE name = $1 AND last_checked_at = $3",
                )
                .bind(&name)
                .bind(now)
                .bind(seen)
                .execute(pool)
                .await?;
                if done.rows_affected() > 0 {
                    claimed.push(name);
                }
            }
            Ok(claimed)
        })
    }
}
