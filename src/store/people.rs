use super::{Result, Store, StoreError, conflict_on_unique, on_backend};
use crate::domain::{EmailAddress, Id, IdKind, Millis, Role};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: Millis,
}

pub struct NewPerson {
    pub email: EmailAddress,
    pub name: String,
    pub role: Role,
}

pub(super) fn person_from_row<R: Row>(row: &R) -> Result<Person>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let role: String = row.try_get("role")?;
    Ok(Person {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: Role::parse(&role).ok_or(StoreError::Database(sqlx::Error::Decode(
            format!("unknown role {role:?}").into(),
        )))?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Fails with `Conflict` when a person with the same address (case-insensitively) exists.
    pub async fn create_person(&self, new: NewPerson) -> Result<Person> {
        let person = Person {
            id: Id::generate(IdKind::Person),
            email: new.email.to_string(),
            name: new.name,
            role: new.role,
            created_at: self.now(),
        };
        on_backend!(write self, pool => {
            sqlx::query(
                "INSERT INTO people (id, email, email_key, name, role, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&person.id)
            .bind(&person.email)
            .bind(new.email.key())
            .bind(&person.name)
            .bind(person.role.as_str())
            .bind(person.created_at)
            .execute(pool)
            .await
            .map_err(|e| conflict_on_unique(e, "a person with this email address already exists"))?;
        });
        Ok(person)
    }

    pub async fn person(&self, id: &str) -> Result<Option<Person>> {
        on_backend!(self, pool => {
            let row = sqlx::query("SELECT id, email, name, role, created_at FROM people WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(person_from_row).transpose()
        })
    }

    pub async fn person_by_email(&self, email: &EmailAddress) -> Result<Option<Person>> {
        on_backend!(self, pool => {
            let row = sqlx::query("SELECT id, email, name, role, created_at FROM people WHERE email_key = $1")
                .bind(email.key())
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(person_from_row).transpose()
        })
    }
}
