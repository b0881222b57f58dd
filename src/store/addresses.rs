//! A person's other addresses: added unverified (a link is emailed to the address) or vouched
//! for by staff, confirmed, removed, or made primary (the primary stays in `people.email`, where
//! notifications go). One address belongs to one person at most, primary or not.

use super::notifications::insert_outbox;
use super::people::{address_taken, person_from_row};
use super::{Dialect, NewOutboxEmail, Person, Result, Store, StoreError, on_backend};
use crate::domain::{EmailAddress, Id, IdKind, Millis};
use sqlx::Row;

/// One of a person's other addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonAddress {
    pub id: String,
    pub person_id: String,
    pub email: String,
    pub created_at: Millis,
    /// None until confirmed: an unverified address neither signs in nor posts.
    pub verified_at: Option<Millis>,
    /// `link` (its owner followed the emailed link), a staff member's person id, or `admin`.
    pub verified_by: Option<String>,
}

fn address_from_row<R: Row>(row: &R) -> Result<PersonAddress>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    Ok(PersonAddress {
        id: row.try_get("id")?,
        person_id: row.try_get("person_id")?,
        email: row.try_get("email")?,
        created_at: row.try_get("created_at")?,
        verified_at: row.try_get("verified_at")?,
        verified_by: row.try_get("verified_by")?,
    })
}

const COLUMNS: &str = "id, person_id, email, created_at, verified_at, verified_by";

impl Store {
    /// A new address's id (its confirmation link names it before it is stored).
    pub fn new_address_id() -> String {
        Id::generate(IdKind::Address)
    }

    /// Adds `email` to `person_id`'s addresses as `id`, verified at once when `verified_by`
    /// names who vouches for it, else with its `confirmation` email queued in the same
    /// transaction. `Conflict` when the address is anyone's already; `NotFound("person")`.
    pub async fn add_address(
        &self,
        id: &str,
        person_id: &str,
        email: &EmailAddress,
        verified_by: Option<&str>,
        confirmation: Option<&NewOutboxEmail>,
    ) -> Result<PersonAddress> {
        let now = self.now();
        let address = PersonAddress {
            id: id.to_string(),
            person_id: person_id.to_string(),
            email: email.to_string(),
            created_at: now,
            verified_at: verified_by.map(|_| now),
            verified_by: verified_by.map(str::to_string),
        };
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let exists: Option<String> = sqlx::query_scalar("SELECT id FROM people WHERE id = $1 AND erased_at IS NULL")
                .bind(person_id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound("person"));
            }
            if address_taken!(tx, email.key()) {
                return Err(StoreError::Conflict("this address belongs to someone already"));
            }
            sqlx::query(
                "INSERT INTO person_addresses (id, person_id, email, email_key, created_at, verified_at, verified_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&address.id)
            .bind(person_id)
            .bind(&address.email)
            .bind(email.key())
            .bind(now)
            .bind(address.verified_at)
            .bind(&address.verified_by)
            .execute(&mut *tx)
            .await?;
            if let Some(email) = confirmation {
                insert_outbox!(tx, email, None, 0i64, now);
            }
            tx.commit().await?;
        });
        Ok(address)
    }

    /// `person_id`'s other addresses, oldest first.
    pub async fn addresses(&self, person_id: &str) -> Result<Vec<PersonAddress>> {
        on_backend!(self, pool => {
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM person_addresses WHERE person_id = $1 ORDER BY created_at, id"
            ));
            let rows = sqlx::query(sql).bind(person_id).fetch_all(pool).await?;
            rows.iter().map(address_from_row).collect()
        })
    }

    /// One address by its id.
    pub async fn address(&self, id: &str) -> Result<Option<PersonAddress>> {
        on_backend!(self, pool => {
            let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM person_addresses WHERE id = $1"));
            let row = sqlx::query(sql).bind(id).fetch_optional(pool).await?;
            row.as_ref().map(address_from_row).transpose()
        })
    }

    /// Its owner followed the emailed link: the address `id` of `person_id` is verified. False
    /// when there is no such address (removed since); true again when it already was.
    pub async fn confirm_address(&self, id: &str, person_id: &str) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "UPDATE person_addresses SET verified_at = COALESCE(verified_at, $3),
                        verified_by = COALESCE(verified_by, 'link')
                 WHERE id = $1 AND person_id = $2",
            )
            .bind(id)
            .bind(person_id)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Removes one of `person_id`'s other addresses. False when they have no such address (the
    /// primary one cannot be removed: make another primary first).
    pub async fn remove_address(&self, person_id: &str, email: &EmailAddress) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query("DELETE FROM person_addresses WHERE person_id = $1 AND email_key = $2")
                .bind(person_id)
                .bind(email.key())
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Makes the verified address `email` of `person_id` their primary one (where their emails
    /// go); the primary until now becomes one of their other addresses, verified. `NotFound`
    /// when it is not theirs, `Conflict` when it is not verified yet.
    pub async fn make_primary(&self, person_id: &str, email: &EmailAddress) -> Result<Person> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query("SELECT verified_at FROM person_addresses WHERE person_id = $1 AND email_key = $2")
                .bind(person_id)
                .bind(email.key())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound("address"))?;
            let verified: Option<i64> = row.try_get("verified_at")?;
            if verified.is_none() {
                return Err(StoreError::Conflict("only a verified address can be made primary"));
            }
            let old = sqlx::query("SELECT email, email_key FROM people WHERE id = $1")
                .bind(person_id)
                .fetch_one(&mut *tx)
                .await?;
            let (old_email, old_key): (String, String) = (old.try_get("email")?, old.try_get("email_key")?);
            sqlx::query("DELETE FROM person_addresses WHERE person_id = $1 AND email_key = $2")
                .bind(person_id)
                .bind(email.key())
                .execute(&mut *tx)
                .await?;
            // A new address has not bounced: its delivery status starts afresh.
            sqlx::query(
                "UPDATE people SET email = $2, email_key = $3, email_status = 'ok', soft_bounces = 0
                 WHERE id = $1",
            )
            .bind(person_id)
            .bind(email.to_string())
            .bind(email.key())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO person_addresses (id, person_id, email, email_key, created_at, verified_at, verified_by)
                 VALUES ($1, $2, $3, $4, $5, $5, 'primary')",
            )
            .bind(Id::generate(IdKind::Address))
            .bind(person_id)
            .bind(old_email)
            .bind(old_key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        self.person(person_id)
            .await?
            .ok_or(StoreError::NotFound("person"))
    }

    /// Whether `email` is a verified other address of `person_id` (a reply from it posts as
    /// them).
    pub async fn is_verified_address(&self, person_id: &str, email: &EmailAddress) -> Result<bool> {
        on_backend!(self, pool => {
            let found: Option<String> = sqlx::query_scalar(
                "SELECT id FROM person_addresses
                 WHERE person_id = $1 AND email_key = $2 AND verified_at IS NOT NULL",
            )
            .bind(person_id)
            .bind(email.key())
            .fetch_optional(pool)
            .await?;
            Ok(found.is_some())
        })
    }

    /// The person whose primary or verified other address `email` is.
    pub async fn person_by_email(&self, email: &EmailAddress) -> Result<Option<Person>> {
        on_backend!(self, pool => {
            let row = sqlx::query(
                "SELECT id, email, name, role, created_at, email_status FROM people WHERE email_key = $1
                 UNION ALL
                 SELECT pe.id, pe.email, pe.name, pe.role, pe.created_at, pe.email_status
                 FROM person_addresses a JOIN people pe ON pe.id = a.person_id
                 WHERE a.email_key = $1 AND a.verified_at IS NOT NULL",
            )
            .bind(email.key())
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(person_from_row).transpose()
        })
    }

    /// The person with this address, created as a client when new (named `name`, or the
    /// address's local part). Created meanwhile by someone else: theirs.
    pub async fn find_or_create_client(
        &self,
        address: &EmailAddress,
        name: Option<&str>,
    ) -> Result<Person> {
        if let Some(p) = self.person_by_email(address).await? {
            return Ok(p);
        }
        let name = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(address.local())
            .to_string();
        let new = super::NewPerson {
            email: address.clone(),
            name,
            role: crate::domain::Role::Client,
        };
        match self.create_person(new).await {
            Ok(p) => Ok(p),
            Err(StoreError::Conflict(_)) => self
                .person_by_email(address)
                .await?
                .ok_or(StoreError::NotFound("person")),
            Err(e) => Err(e),
        }
    }

    /// People emails to the inbox conversation `conversation_id` copied who do not take part
    /// (by none of their addresses): staff may add them. Oldest first.
    pub async fn suggested_participants(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<(String, Option<String>, Millis)>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT s.email, s.name, s.suggested_at FROM participant_suggestions s
                 WHERE s.conversation_id = $1
                   AND NOT EXISTS (
                     SELECT 1 FROM participants p JOIN people pe ON pe.id = p.person_id
                     WHERE p.conversation_id = $1 AND p.removed_at IS NULL
                       AND (pe.email_key = s.email_key
                            OR EXISTS (SELECT 1 FROM person_addresses a
                                       WHERE a.person_id = pe.id AND a.email_key = s.email_key
                                         AND a.verified_at IS NOT NULL)))
                 ORDER BY s.suggested_at, s.email_key LIMIT 100",
            )
            .bind(conversation_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("email")?, r.try_get("name")?, r.try_get("suggested_at")?)))
                .collect()
        })
    }
}
