//! The start-up check that brings text stored before the text rule (see
//! [`crate::domain::text`]) in line with it: names, subjects and file names that would break a
//! header or mislead a reader are cleaned, and each change is logged. It runs once per version
//! of the rule (recorded in `meta`), like a migration, but in Rust, where the rule lives.

use super::{Result, Store, on_backend};
use crate::domain::text::{self, FILE_NAME, NAME, SUBJECT, TextRule};
use sqlx::Row;

/// Bump when the rule changes, so that stored text is checked again at the next start.
const RULE_VERSION: &str = "1";
const META_KEY: &str = "text_rule_version";
const PAGE: i64 = 5000;

/// One column the rule applies to, and what an empty result becomes.
struct Column {
    table: &'static str,
    column: &'static str,
    rule: TextRule,
    select: &'static str,
    update: &'static str,
    empty: &'static str,
}

const COLUMNS: [Column; 3] = [
    Column {
        table: "people",
        column: "name",
        rule: NAME,
        select: "SELECT id, name AS value FROM people WHERE id > $1 ORDER BY id LIMIT $2",
        update: "UPDATE people SET name = $2 WHERE id = $1",
        empty: "(no name)",
    },
    Column {
        table: "conversations",
        column: "subject",
        rule: SUBJECT,
        select: "SELECT id, subject AS value FROM conversations WHERE id > $1 ORDER BY id LIMIT $2",
        update: "UPDATE conversations SET subject = $2 WHERE id = $1",
        empty: "(no subject)",
    },
    Column {
        table: "attachments",
        column: "filename",
        rule: FILE_NAME,
        select: "SELECT id, filename AS value FROM attachments WHERE id > $1 ORDER BY id LIMIT $2",
        update: "UPDATE attachments SET filename = $2 WHERE id = $1",
        empty: "attachment",
    },
];

impl Store {
    /// Cleans stored text that does not follow the rule (once per rule version). Returns how
    /// many values were changed.
    pub async fn clean_stored_text(&self) -> Result<usize> {
        let done: Option<String> = on_backend!(self, pool => {
            sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
                .bind(META_KEY)
                .fetch_optional(pool)
                .await?
        });
        if done.as_deref() == Some(RULE_VERSION) {
            return Ok(0);
        }
        let mut changed = 0;
        for column in &COLUMNS {
            changed += self.clean_column(column).await?;
        }
        on_backend!(write self, pool => {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(META_KEY)
            .bind(RULE_VERSION)
            .execute(pool)
            .await?;
        });
        Ok(changed)
    }

    async fn clean_column(&self, column: &Column) -> Result<usize> {
        let mut changed = 0;
        let mut after = String::new();
        loop {
            let rows: Vec<(String, String)> = on_backend!(self, pool => {
                sqlx::query(column.select)
                    .bind(&after)
                    .bind(PAGE)
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(|r| Ok((r.try_get("id")?, r.try_get("value")?)))
                    .collect::<Result<Vec<_>>>()?
            });
            let Some((last, _)) = rows.last() else { break };
            after = last.clone();
            for (id, value) in &rows {
                if text::follows(value, &column.rule) {
                    continue;
                }
                let mut cleaned = text::clean(value, &column.rule);
                if cleaned.is_empty() {
                    cleaned = column.empty.to_string();
                }
                on_backend!(write self, pool => {
                    sqlx::query(column.update).bind(id).bind(&cleaned).execute(pool).await?;
                });
                tracing::warn!(
                    table = column.table, column = column.column, %id,
                    before = ?value, after = ?cleaned,
                    "stored text cleaned to follow the text rule"
                );
                changed += 1;
            }
            if (rows.len() as i64) < PAGE {
                break;
            }
        }
        Ok(changed)
    }
}
