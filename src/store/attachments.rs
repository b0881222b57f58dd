use super::{Result, Store, on_backend};
use crate::domain::Millis;
use sqlx::Row;
use std::collections::HashMap;

/// An attachment to store with a message (its bytes are already in the blob directory).
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub content_id: Option<String>,
    pub inline: bool,
    /// Not kept, and why.
    pub omitted: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: String,
    pub message_id: String,
    pub conversation_id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub content_id: Option<String>,
    pub inline: bool,
    pub omitted: Option<String>,
    pub created_at: Millis,
    /// The inbound email it came from: the source of truth if the file is missing.
    pub inbound_id: Option<String>,
}

fn attachment_from_row<R: Row>(row: &R) -> Result<Attachment>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let inline: i64 = row.try_get("inline")?;
    Ok(Attachment {
        id: row.try_get("id")?,
        message_id: row.try_get("message_id")?,
        conversation_id: row.try_get("conversation_id")?,
        filename: row.try_get("filename")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get("size")?,
        sha256: row.try_get("sha256")?,
        content_id: row.try_get("content_id")?,
        inline: inline != 0,
        omitted: row.try_get("omitted")?,
        created_at: row.try_get("created_at")?,
        inbound_id: row.try_get("inbound_id")?,
    })
}

const SELECT: &str =
    "SELECT a.id, a.message_id, m.conversation_id, a.filename, a.content_type, a.size,
        a.sha256, a.content_id, a.inline, a.omitted, a.created_at, m.inbound_id
 FROM attachments a JOIN messages m ON m.id = a.message_id";

/// The one text of an attachment's insert (`$1` its id, `$2` its message, then position,
/// file name, type, size, hash, content id, inline, why omitted, `$11` the time).
macro_rules! insert_attachment_sql {
    () => {
        "INSERT INTO attachments (id, message_id, position, filename, content_type, size, sha256,
                                  content_id, inline, omitted, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    };
}
pub(super) use insert_attachment_sql;

/// Inserts inside the caller's transaction (the one that inserts the message).
macro_rules! insert_attachments {
    ($tx:expr, $message_id:expr, $attachments:expr, $now:expr) => {{
        for (position, a) in $attachments.iter().enumerate() {
            sqlx::query($crate::store::attachments::insert_attachment_sql!())
                .bind(&a.id)
                .bind($message_id)
                .bind(position as i64)
                .bind(&a.filename)
                .bind(&a.content_type)
                .bind(a.size)
                .bind(&a.sha256)
                .bind(&a.content_id)
                .bind(i64::from(a.inline))
                .bind(&a.omitted)
                .bind($now)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}
pub(super) use insert_attachments;

impl Store {
    pub async fn attachment(&self, id: &str) -> Result<Option<Attachment>> {
        on_backend!(self, pool => {
            let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE a.id = $1"));
            let row = sqlx::query(sql).bind(id).fetch_optional(pool).await?;
            row.as_ref().map(attachment_from_row).transpose()
        })
    }

    /// Attachments of every message in a conversation, by message id, in email order.
    pub async fn attachments_of_conversation(
        &self,
        conversation_id: &str,
    ) -> Result<HashMap<String, Vec<Attachment>>> {
        on_backend!(self, pool => {
            let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE m.conversation_id = $1 ORDER BY a.message_id, a.position"));
            let rows = sqlx::query(sql).bind(conversation_id).fetch_all(pool).await?;
            let mut by_message: HashMap<String, Vec<Attachment>> = HashMap::new();
            for row in &rows {
                let a = attachment_from_row(row)?;
                by_message.entry(a.message_id.clone()).or_default().push(a);
            }
            Ok(by_message)
        })
    }

    /// The attachments of a conversation's messages with `seq` in `(after, up_to]`, by message:
    /// one page of an export at a time.
    pub async fn attachments_of_range(
        &self,
        conversation_id: &str,
        after: i64,
        up_to: i64,
    ) -> Result<HashMap<String, Vec<Attachment>>> {
        on_backend!(self, pool => {
            let sql = sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE m.conversation_id = $1 AND m.seq > $2 AND m.seq <= $3
                 ORDER BY a.message_id, a.position"
            ));
            let rows = sqlx::query(sql)
                .bind(conversation_id)
                .bind(after)
                .bind(up_to)
                .fetch_all(pool)
                .await?;
            let mut by_message: HashMap<String, Vec<Attachment>> = HashMap::new();
            for row in &rows {
                let a = attachment_from_row(row)?;
                by_message.entry(a.message_id.clone()).or_default().push(a);
            }
            Ok(by_message)
        })
    }

    /// The files a person sent (attached to their messages), oldest first: their data export.
    pub async fn attachments_by_author(&self, person_id: &str) -> Result<Vec<Attachment>> {
        on_backend!(self, pool => {
            let sql = sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE m.author_id = $1 ORDER BY a.created_at, a.id"
            ));
            let rows = sqlx::query(sql).bind(person_id).fetch_all(pool).await?;
            rows.iter().map(attachment_from_row).collect()
        })
    }
}
