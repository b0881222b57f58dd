//! Sending domains and their DKIM keys; the last DNS check of each.

use super::{Dialect, Result, Store, StoreError, conflict_on_unique, on_backend};
use crate::domain::{Locale, Millis, StrangerPolicy};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub name: String,
    pub reply_domain: String,
    pub created_at: Millis,
    pub last_checked_at: Option<Millis>,
    /// JSON array of the last check (`[{type, host, status, found}]`).
    pub check_results: serde_json::Value,
    /// The local part of the inbox address (`support` → `support@<name>`); None: no inbox.
    pub inbox_local: Option<String>,
    pub stranger_policy: StrangerPolicy,
    /// After "via" in its emails' From display name (None: `threadgate`).
    pub display_name: Option<String>,
    /// The local part of its notifications address (None: `notifications`, or
    /// `--from-address`'s for the default domain).
    pub notifications_local: Option<String>,
    /// The language of people who first write to its inbox (None: `--default-locale`).
    pub default_locale: Option<Locale>,
}

/// A change to a domain's sending settings: `Some(None)` clears one (back to its default).
#[derive(Debug, Clone, Default)]
pub struct DomainSettingsChange {
    pub display_name: Option<Option<String>>,
    pub notifications_local: Option<Option<String>>,
    pub default_locale: Option<Option<Locale>>,
}

/// The inbox an address leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxAddress {
    /// The sending domain it belongs to.
    pub domain: String,
    pub stranger_policy: StrangerPolicy,
}

/// Default local part of a new domain's inbox address.
pub const DEFAULT_INBOX_LOCAL: &str = "support";

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
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let results: String = row.try_get("check_results")?;
    let policy: String = row.try_get("stranger_policy")?;
    let locale: Option<String> = row.try_get("default_locale")?;
    Ok(Domain {
        name: row.try_get("name")?,
        reply_domain: row.try_get("reply_domain")?,
        created_at: row.try_get("created_at")?,
        last_checked_at: row.try_get("last_checked_at")?,
        check_results: serde_json::from_str(&results)
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(e.into())))?,
        inbox_local: row.try_get("inbox_local")?,
        stranger_policy: StrangerPolicy::parse(&policy).ok_or(StoreError::Database(
            sqlx::Error::Decode(format!("unknown stranger policy {policy:?}").into()),
        ))?,
        display_name: row.try_get("display_name")?,
        notifications_local: row.try_get("notifications_local")?,
        // A language we no longer write in is the default one, not an unreadable row.
        default_locale: locale.as_deref().and_then(Locale::parse),
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

const DOMAIN_COLUMNS: &str = "name, reply_domain, created_at, last_checked_at, check_results, \
     inbox_local, stranger_policy, display_name, notifications_local, default_locale";
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
            inbox_local: Some(DEFAULT_INBOX_LOCAL.to_string()),
            stranger_policy: StrangerPolicy::Verify,
            display_name: None,
            notifications_local: None,
            default_locale: None,
        })
    }

    /// Changes a domain's sending settings (those `change` names). False when there is no
    /// such domain.
    pub async fn set_domain_settings(
        &self,
        name: &str,
        change: &DomainSettingsChange,
    ) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "UPDATE domains SET
                   display_name = CASE WHEN $2 = 1 THEN $3 ELSE display_name END,
                   notifications_local = CASE WHEN $4 = 1 THEN $5 ELSE notifications_local END,
                   default_locale = CASE WHEN $6 = 1 THEN $7 ELSE default_locale END
                 WHERE name = $1",
            )
            .bind(name)
            .bind(i64::from(change.display_name.is_some()))
            .bind(change.display_name.clone().flatten())
            .bind(i64::from(change.notifications_local.is_some()))
            .bind(change.notifications_local.clone().flatten())
            .bind(i64::from(change.default_locale.is_some()))
            .bind(change.default_locale.flatten().map(Locale::as_str))
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Changes a domain's inbox address (`Some(None)`: none) and stranger policy. False when
    /// there is no such domain. `Conflict` when another domain's inbox has the same address.
    pub async fn set_inbox(
        &self,
        name: &str,
        inbox_local: Option<Option<&str>>,
        policy: Option<StrangerPolicy>,
    ) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "UPDATE domains SET inbox_local = CASE WHEN $2 = 1 THEN $3 ELSE inbox_local END,
                                    stranger_policy = COALESCE($4, stranger_policy)
                 WHERE name = $1",
            )
            .bind(name)
            .bind(i64::from(inbox_local.is_some()))
            .bind(inbox_local.flatten())
            .bind(policy.map(StrangerPolicy::as_str))
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// The inbox `local@domain` is, if any: `domain` is the sending domain itself or its reply
    /// subdomain (where a provider's forwarding rule can send `support@` mail, since its MX is
    /// ours). `local` is lowercase, without any `+detail`.
    pub async fn inbox_address(&self, local: &str, domain: &str) -> Result<Option<InboxAddress>> {
        on_backend!(self, pool => {
            let row = sqlx::query(
                "SELECT name, stranger_policy FROM domains
                 WHERE inbox_local = $1 AND (name = $2 OR reply_domain = $2)
                 ORDER BY name LIMIT 1",
            )
            .bind(local)
            .bind(domain)
            .fetch_optional(pool)
            .await?;
            row.map(|row| -> Result<InboxAddress> {
                let policy: String = row.try_get("stranger_policy")?;
                Ok(InboxAddress {
                    domain: row.try_get("name")?,
                    stranger_policy: StrangerPolicy::parse(&policy).ok_or(StoreError::Database(
                        sqlx::Error::Decode(format!("unknown stranger policy {policy:?}").into()),
                    ))?,
                })
            })
            .transpose()
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
