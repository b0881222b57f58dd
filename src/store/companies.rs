//! Companies (the client file) and their followers: the people, staff or client, who keep a
//! company among their favourites; and the contact list. Paged by an opaque cursor over a
//! stable order (name, then id).

use super::people::person_from_row;
use super::{Dialect, EventKind, Person, Result, Store, StoreError, on_backend};
use crate::domain::{ConversationType, Id, IdKind, Millis, Role};
use base64::Engine;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    pub id: String,
    pub name: String,
    pub created_at: Millis,
}

/// Where a page starts: after this (sort key, id) — a name, or a time for conversations.
/// Opaque to clients (base64url of both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: String,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}\n{}", self.id, self.key))
    }

    /// None for anything we did not write.
    pub fn decode(raw: &str) -> Option<Cursor> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw.trim())
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (id, key) = text.split_once('\n')?;
        Some(Cursor {
            key: key.to_string(),
            id: id.to_string(),
        })
    }
}

/// What the contact list shows: people matching all that is given.
#[derive(Debug, Clone, Default)]
pub struct PeopleFilter<'a> {
    /// Part of a name or an address, case-insensitive.
    pub query: Option<&'a str>,
    pub role: Option<Role>,
    /// Followers of this company.
    pub company: Option<&'a str>,
}

fn company_from_row<R: Row>(row: &R) -> Result<Company>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    Ok(Company {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

/// `%`, `_` and `\` taken literally in a LIKE pattern (with `ESCAPE '\'`).
fn like_pattern(query: &str) -> String {
    let mut out = String::from("%");
    for c in query.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl Store {
    pub async fn create_company(&self, name: &str) -> Result<Company> {
        let company = Company {
            id: Id::generate(IdKind::Company),
            name: name.to_string(),
            created_at: self.now(),
        };
        on_backend!(write self, pool => {
            sqlx::query("INSERT INTO companies (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&company.id)
                .bind(&company.name)
                .bind(company.created_at)
                .execute(pool)
                .await?;
        });
        Ok(company)
    }

    pub async fn company(&self, id: &str) -> Result<Option<Company>> {
        on_backend!(self, pool => {
            let row = sqlx::query("SELECT id, name, created_at FROM companies WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(company_from_row).transpose()
        })
    }

    /// Companies by name, `limit` after `after`.
    pub async fn companies(&self, after: Option<&Cursor>, limit: i64) -> Result<Vec<Company>> {
        let (name, id) = after.map_or(("", ""), |c| (c.key.as_str(), c.id.as_str()));
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, name, created_at FROM companies
                 WHERE (name, id) > ($1, $2) ORDER BY name, id LIMIT $3",
            )
            .bind(name)
            .bind(id)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(company_from_row).collect()
        })
    }

    /// False when there is no such company.
    pub async fn rename_company(&self, id: &str, name: &str) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query("UPDATE companies SET name = $2 WHERE id = $1")
                .bind(id)
                .bind(name)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// The people following a company, by name.
    pub async fn company_followers(&self, company_id: &str) -> Result<Vec<Person>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT pe.id, pe.email, pe.name, pe.role, pe.created_at, pe.email_status
                 FROM company_followers f JOIN people pe ON pe.id = f.person_id
                 WHERE f.company_id = $1 ORDER BY pe.name, pe.id",
            )
            .bind(company_id)
            .fetch_all(pool)
            .await?;
            rows.iter().map(person_from_row).collect()
        })
    }

    /// Makes `person_id` follow `company_id`; false when they already did. `NotFound` for an
    /// unknown company or person.
    pub async fn follow_company(&self, company_id: &str, person_id: &str) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            for (sql, what, id) in [
                ("SELECT id FROM companies WHERE id = $1", "company", company_id),
                ("SELECT id FROM people WHERE id = $1 AND erased_at IS NULL", "person", person_id),
            ] {
                let found: Option<String> = sqlx::query_scalar(sql)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound(what));
                }
            }
            let done = sqlx::query(
                "INSERT INTO company_followers (company_id, person_id, created_at)
                 VALUES ($1, $2, $3) ON CONFLICT (company_id, person_id) DO NOTHING",
            )
            .bind(company_id)
            .bind(person_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// False when they did not follow it.
    pub async fn unfollow_company(&self, company_id: &str, person_id: &str) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "DELETE FROM company_followers WHERE company_id = $1 AND person_id = $2",
            )
            .bind(company_id)
            .bind(person_id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// The companies a person follows, by name.
    pub async fn followed_companies(&self, person_id: &str) -> Result<Vec<Company>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT c.id, c.name, c.created_at
                 FROM company_followers f JOIN companies c ON c.id = f.company_id
                 WHERE f.person_id = $1 ORDER BY c.name, c.id",
            )
            .bind(person_id)
            .fetch_all(pool)
            .await?;
            rows.iter().map(company_from_row).collect()
        })
    }

    /// Changes who a conversation is for (checked by the caller: a company with `company` and
    /// `confidential`, none with `private`), recording a `type_changed` event when something
    /// changed. The rule applies from the next request. False when there is no such
    /// conversation; `NotFound("company")` for an unknown company.
    pub async fn set_conversation_type(
        &self,
        conversation_id: &str,
        kind: ConversationType,
        company_id: Option<&str>,
        actor_id: Option<&str>,
    ) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let current: Option<(String, Option<String>)> = sqlx::query_as(
                "SELECT type, company_id FROM conversations WHERE id = $1",
            )
            .bind(conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((from, from_company)) = current else {
                return Ok(false);
            };
            if let Some(company) = company_id {
                let found: Option<String> = sqlx::query_scalar("SELECT id FROM companies WHERE id = $1")
                    .bind(company)
                    .fetch_optional(&mut *tx)
                    .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound("company"));
                }
            }
            if from != kind.as_str() || from_company.as_deref() != company_id {
                sqlx::query("UPDATE conversations SET type = $2, company_id = $3 WHERE id = $1")
                    .bind(conversation_id)
                    .bind(kind.as_str())
                    .bind(company_id)
                    .execute(&mut *tx)
                    .await?;
                crate::store::lifecycle::record_event!(
                    tx,
                    conversation_id,
                    EventKind::TypeChanged,
                    actor_id,
                    serde_json::json!({"from": from, "to": kind.as_str(),
                                       "from_company": from_company, "company_id": company_id}),
                    now
                );
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The contact list: people matching `filter`, by name, `limit` after `after`.
    pub async fn people_page(
        &self,
        filter: &PeopleFilter<'_>,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<Vec<Person>> {
        let (name, id) = after.map_or(("", ""), |c| (c.key.as_str(), c.id.as_str()));
        let pattern = filter.query.map(like_pattern);
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT pe.id, pe.email, pe.name, pe.role, pe.created_at, pe.email_status
                 FROM people pe
                 WHERE (pe.name, pe.id) > ($1, $2) AND pe.erased_at IS NULL
                   AND ($3 IS NULL OR LOWER(pe.name) LIKE $3 ESCAPE '\\' OR pe.email_key LIKE $3 ESCAPE '\\')
                   AND ($4 IS NULL OR pe.role = $4)
                   AND ($5 IS NULL OR EXISTS (SELECT 1 FROM company_followers f
                                               WHERE f.person_id = pe.id AND f.company_id = $5))
                 ORDER BY pe.name, pe.id LIMIT $6",
            )
            .bind(name)
            .bind(id)
            .bind(pattern.as_deref())
            .bind(filter.role.map(Role::as_str))
            .bind(filter.company)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(person_from_row).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_we_did_not_write() {
        let c = Cursor {
            key: "Acme\nCorp".into(),
            id: "cmp_x".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("%%%"), None);
        assert_eq!(Cursor::decode(""), None);
    }

    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(like_pattern("A_b%"), "%a\\_b\\%%");
    }
}
