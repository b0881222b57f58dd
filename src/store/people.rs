use super::sqlite_in_place::Columns;
use super::{Dialect, Result, Store, StoreError, conflict_on_unique, on_backend};
use crate::domain::{EmailAddress, EmailStatus, Id, IdKind, Locale, Millis, NotifyMode, Role};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: Millis,
    pub email_status: EmailStatus,
}

impl Person {
    /// Erased (`Store::erase_person`): only an erased person has no address.
    pub fn is_erased(&self) -> bool {
        self.email.is_empty()
    }
}

pub struct NewPerson {
    pub email: EmailAddress,
    pub name: String,
    pub role: Role,
}

pub(super) fn person_from_row<R: Columns>(row: &R) -> Result<Person> {
    let role: String = row.column("role")?;
    let email_status: String = row.column("email_status")?;
    Ok(Person {
        id: row.column("id")?,
        email: row.column("email")?,
        name: row.column("name")?,
        role: Role::parse(&role).ok_or(StoreError::Database(sqlx::Error::Decode(
            format!("unknown role {role:?}").into(),
        )))?,
        created_at: row.column("created_at")?,
        email_status: EmailStatus::parse(&email_status).ok_or(StoreError::Database(
            sqlx::Error::Decode(format!("unknown email status {email_status:?}").into()),
        ))?,
    })
}

/// The one text of a person's insert: `$1` id, `$2` email, `$3` its key, `$4` name, `$5` role,
/// `$6` time. The API and the web view create people with it, and so does an inbound email
/// from a stranger who becomes a client (inside its transaction).
macro_rules! insert_person_sql {
    () => {
        "INSERT INTO people (id, email, email_key, name, role, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)"
    };
}
pub(super) use insert_person_sql;

/// Whether an address key is already someone's, primary or other (`person_addresses`), inside the caller's
/// transaction.
macro_rules! address_taken {
    ($tx:ident, $key:expr) => {{
        let taken: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM people WHERE email_key = $1)
                  + (SELECT COUNT(*) FROM person_addresses WHERE email_key = $1)",
        )
        .bind($key)
        .fetch_one(&mut *$tx)
        .await?;
        taken > 0
    }};
}
pub(super) use address_taken;

impl Store {
    /// Fails with `Conflict` when a person with the same address (case-insensitively) exists.
    pub async fn create_person(&self, new: NewPerson) -> Result<Person> {
        let person = Person {
            id: Id::generate(IdKind::Person),
            email: new.email.to_string(),
            name: new.name,
            role: new.role,
            created_at: self.now(),
            email_status: EmailStatus::Ok,
        };
        const TAKEN: &str = "a person with this email address already exists";
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            // Someone's other address is theirs too.
            if address_taken!(tx, new.email.key()) {
                return Err(StoreError::Conflict(TAKEN));
            }
            sqlx::query(insert_person_sql!())
            .bind(&person.id)
            .bind(&person.email)
            .bind(new.email.key())
            .bind(&person.name)
            .bind(person.role.as_str())
            .bind(person.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_on_unique(e, TAKEN))?;
            tx.commit().await?;
        });
        Ok(person)
    }

    pub async fn person(&self, id: &str) -> Result<Option<Person>> {
        on_backend!(self, pool => {
            let row = sqlx::query("SELECT id, email, name, role, created_at, email_status FROM people
                 WHERE id = $1 AND erased_at IS NULL")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(person_from_row).transpose()
        })
    }
}

/// A person whose address receives nothing from us any more (or soon will not): bounced, or
/// with temporary failures counting.
#[derive(Debug, Clone)]
pub struct Suppressed {
    pub person: Person,
    pub soft_bounces: i64,
    pub last_bounce_at: Option<Millis>,
    /// The receiving server's last answer.
    pub detail: Option<String>,
}

impl Store {
    /// Addresses that bounced, most recent first.
    pub async fn suppressed_addresses(&self, limit: i64) -> Result<Vec<Suppressed>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, email, name, role, created_at, email_status, soft_bounces,
                        last_bounce_at, bounce_detail
                 FROM people WHERE email_status <> 'ok'
                 ORDER BY last_bounce_at DESC, id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(Suppressed {
                        person: person_from_row(row)?,
                        soft_bounces: row.try_get("soft_bounces")?,
                        last_bounce_at: row.try_get("last_bounce_at")?,
                        detail: row.try_get("bounce_detail")?,
                    })
                })
                .collect()
        })
    }

    /// Emails this person again: their address is no longer suppressed, its failures are
    /// forgotten (the next permanent one suppresses it again). False when it was not suppressed
    /// or there is no such person.
    pub async fn reactivate_address(&self, id: &str) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "UPDATE people SET email_status = 'ok', soft_bounces = 0, bounce_detail = NULL
                 WHERE id = $1 AND email_status <> 'ok'",
            )
            .bind(id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}

/// After this many temporary failures within [`SOFT_BOUNCE_WINDOW_MS`] an address is treated
/// like a hard bounce.
pub const SOFT_BOUNCE_LIMIT: i64 = 5;
pub const SOFT_BOUNCE_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

impl Store {
    /// Records a delivery failure for the person with this address: a permanent one (5.x.x)
    /// suppresses all further email to it; temporary ones count, and enough of them within a
    /// week suppress too. Returns the person and their new status, or None for an address we
    /// do not know.
    pub async fn record_bounce(
        &self,
        email: &EmailAddress,
        permanent: bool,
        detail: &str,
    ) -> Result<Option<(String, EmailStatus)>> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = record_bounce!(tx, email, permanent, detail, now);
            tx.commit().await?;
            Ok(done)
        })
    }
}

/// A delivery failure against `$email` inside the caller's transaction (the outbox worker's
/// own, or an inbound bounce report's): a permanent one, or too many soft ones within the
/// window, makes the address `bounced`. Evaluates to the person and their new status, or None
/// when no person has the address.
macro_rules! record_bounce {
    ($conn:ident, $email:expr, $permanent:expr, $detail:expr, $now:expr) => {{
        let email: &$crate::domain::EmailAddress = $email;
        let (permanent, detail, now): (bool, &str, i64) = ($permanent, $detail, $now);
        let row = sqlx::query(
            "SELECT id, email_status, soft_bounces, last_bounce_at FROM people WHERE email_key = $1",
        )
        .bind(email.key())
        .fetch_optional(&mut *$conn)
        .await?;
        match row {
            None => None,
            Some(row) => {
                let id: String = row.try_get("id")?;
                let current: String = row.try_get("email_status")?;
                let last: Option<i64> = row.try_get("last_bounce_at")?;
                let mut soft: i64 = row.try_get("soft_bounces")?;
                if last.is_none_or(|t| now - t > $crate::store::people::SOFT_BOUNCE_WINDOW_MS) {
                    soft = 0;
                }
                let status = if permanent || current == $crate::domain::EmailStatus::Bounced.as_str() {
                    $crate::domain::EmailStatus::Bounced
                } else {
                    soft += 1;
                    if soft >= $crate::store::people::SOFT_BOUNCE_LIMIT {
                        $crate::domain::EmailStatus::Bounced
                    } else {
                        $crate::domain::EmailStatus::SoftBounce
                    }
                };
                sqlx::query(
                    "UPDATE people SET email_status = $2, soft_bounces = $3, last_bounce_at = $4, bounce_detail = $5
                     WHERE id = $1",
                )
                .bind(&id)
                .bind(status.as_str())
                .bind(soft)
                .bind(now)
                .bind(detail)
                .execute(&mut *$conn)
                .await?;
                Some((id, status))
            }
        }
    }};
}
pub(crate) use record_bounce;

/// A person's notification settings and verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonSettings {
    pub notifications: NotifyMode,
    pub locale: Locale,
    pub blocked: bool,
    pub verified_at: Option<Millis>,
    /// None: the gateway's default (`--default-time-zone`).
    pub time_zone: Option<crate::domain::TimeZone>,
}

impl Store {
    pub async fn person_settings(&self, id: &str) -> Result<Option<PersonSettings>> {
        on_backend!(self, pool => {
            let row = sqlx::query("SELECT notifications, locale, blocked, verified_at, time_zone FROM people WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.map(|row| -> Result<PersonSettings> {
                let mode: String = row.try_get("notifications")?;
                let locale: String = row.try_get("locale")?;
                let blocked: i64 = row.try_get("blocked")?;
                let time_zone: Option<String> = row.try_get("time_zone")?;
                Ok(PersonSettings {
                    notifications: NotifyMode::parse(&mode).unwrap_or(NotifyMode::Digest),
                    locale: Locale::parse(&locale).unwrap_or(Locale::En),
                    blocked: blocked != 0,
                    verified_at: row.try_get("verified_at")?,
                    time_zone: time_zone.as_deref().and_then(crate::domain::TimeZone::parse),
                })
            })
            .transpose()
        })
    }

    /// Changes what is given (None leaves a setting as it is). False for an unknown person.
    pub async fn update_person_settings(
        &self,
        id: &str,
        notifications: Option<NotifyMode>,
        locale: Option<Locale>,
        blocked: Option<bool>,
    ) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "UPDATE people SET notifications = COALESCE($2, notifications),
                                   locale = COALESCE($3, locale),
                                   blocked = COALESCE($4, blocked)
                 WHERE id = $1",
            )
            .bind(id)
            .bind(notifications.map(NotifyMode::as_str))
            .bind(locale.map(Locale::as_str))
            .bind(blocked.map(i64::from))
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}

impl Store {
    /// Sets a person's time zone (None: back to the default). False for an unknown person.
    pub async fn set_time_zone(
        &self,
        id: &str,
        zone: Option<crate::domain::TimeZone>,
    ) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query("UPDATE people SET time_zone = $2 WHERE id = $1")
                .bind(id)
                .bind(zone.map(crate::domain::TimeZone::name))
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Changes a person's display name (checked by the caller against the text rule). False
    /// for an unknown person.
    pub async fn rename_person(&self, id: &str, name: &str) -> Result<bool> {
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE people SET name = $2 WHERE id = $1")
                .bind(id)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            // Staff find conversations by their participants' names: the new one from now.
            let conversations: Vec<String> = sqlx::query_scalar(
                "SELECT conversation_id FROM participants WHERE person_id = $1 AND removed_at IS NULL",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            for conversation_id in &conversations {
                crate::store::search_index::reindex_people!(tx, conversation_id);
            }
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Creates many people in one transaction (imports). Fails whole on a duplicate address.
    pub async fn create_people(&self, new: Vec<NewPerson>) -> Result<Vec<Person>> {
        let now = self.now();
        let people: Vec<(Person, String)> = new
            .into_iter()
            .map(|n| {
                let key = n.email.key();
                (
                    Person {
                        id: Id::generate(IdKind::Person),
                        email: n.email.to_string(),
                        name: n.name,
                        role: n.role,
                        created_at: now,
                        email_status: EmailStatus::Ok,
                    },
                    key,
                )
            })
            .collect();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            for (person, key) in &people {
                sqlx::query(
                    "INSERT INTO people (id, email, email_key, name, role, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&person.id)
                .bind(&person.email)
                .bind(key)
                .bind(&person.name)
                .bind(person.role.as_str())
                .bind(person.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_on_unique(e, "a person with this email address already exists"))?;
            }
            tx.commit().await?;
        });
        Ok(people.into_iter().map(|(p, _)| p).collect())
    }
}
