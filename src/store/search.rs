//! Search: the index, written in the transaction that writes what it indexes, and the query.
//!
//! One document per message (its text and file names; kind `message` or `note`), per
//! conversation subject (`subject`) and per conversation's participants (names and addresses,
//! `people`: staff only). The text is folded and stemmed in Rust (`domain::search_text`), so
//! both backends index and match the same words: SQLite in an FTS5 table (`search_fts`, rowid =
//! `search_docs.doc_id`), PostgreSQL in a tsvector of the `simple` configuration (words
//! weighted A, stems B) under a GIN index. Access is the one rule (`store::access`); clients
//! never match notes or participants, and deleted messages leave the index in the deleting
//! transaction.

use super::{Conversation, ConversationStatus, Dialect, Result, Store, on_backend};
use crate::domain::search_text::{ANALYZER_VERSION, SearchQuery};
use crate::domain::{ConversationType, MessageKind};
use sqlx::Row;

/// Indexes one document inside the caller's transaction: `$message_id` (None for a subject or
/// the people), of `$conversation_id`, of kind `$kind`, for `$text`.
macro_rules! index_doc {
    ($tx:expr, $message_id:expr, $conversation_id:expr, $kind:expr, $text:expr) => {{
        let indexed = $crate::domain::search_text::index_text($text);
        let message_id: Option<&str> = $message_id;
        sqlx::query($crate::store::ConnDialect::pick(
            &*$tx,
            "INSERT INTO search_docs (message_id, conversation_id, kind) VALUES ($1, $2, $3);
             INSERT INTO search_fts (rowid, words, stems) VALUES (last_insert_rowid(), $4, $5)",
            "INSERT INTO search_docs (message_id, conversation_id, kind, document)
             VALUES ($1, $2, $3, setweight(to_tsvector('simple', $4), 'A')
                                 || setweight(to_tsvector('simple', $5), 'B'))",
        ))
        .bind(message_id)
        .bind($conversation_id)
        .bind($kind)
        .bind(&indexed.words)
        .bind(&indexed.stems)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(super) use index_doc;

/// The text a message is found by: its text and its files' names.
pub(super) fn message_text(body: &str, filenames: impl Iterator<Item = impl AsRef<str>>) -> String {
    let mut text = body.to_string();
    for name in filenames {
        text.push('\n');
        text.push_str(name.as_ref());
    }
    text
}

/// Removes the documents of `$conversation_id` of kind `$kind` (a subject, the people).
macro_rules! unindex_kind {
    ($tx:expr, $conversation_id:expr, $kind:expr) => {{
        sqlx::query($crate::store::ConnDialect::pick(
            &*$tx,
            "DELETE FROM search_fts WHERE rowid IN
               (SELECT doc_id FROM search_docs WHERE conversation_id = $1 AND kind = $2);
             DELETE FROM search_docs WHERE conversation_id = $1 AND kind = $2",
            "DELETE FROM search_docs WHERE conversation_id = $1 AND kind = $2",
        ))
        .bind($conversation_id)
        .bind($kind)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(super) use unindex_kind;

/// Removes a message's document (it was deleted).
macro_rules! unindex_message {
    ($tx:expr, $message_id:expr) => {{
        sqlx::query($crate::store::ConnDialect::pick(
            &*$tx,
            "DELETE FROM search_fts WHERE rowid IN (SELECT doc_id FROM search_docs WHERE message_id = $1);
             DELETE FROM search_docs WHERE message_id = $1",
            "DELETE FROM search_docs WHERE message_id = $1",
        ))
        .bind($message_id)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(super) use unindex_message;

/// Indexes a conversation's subject again (after a rename, or when it is created).
macro_rules! reindex_subject {
    ($tx:expr, $conversation_id:expr, $subject:expr) => {{
        $crate::store::search::unindex_kind!($tx, $conversation_id, "subject");
        $crate::store::search::index_doc!($tx, None, $conversation_id, "subject", $subject);
    }};
}
pub(super) use reindex_subject;

/// Indexes a conversation's live participants again (names and addresses, for staff).
macro_rules! reindex_people {
    ($tx:expr, $conversation_id:expr) => {{
        let people: Vec<(String, String)> = sqlx::query_as(
            "SELECT pe.name, pe.email FROM participants p JOIN people pe ON pe.id = p.person_id
             WHERE p.conversation_id = $1 AND p.removed_at IS NULL",
        )
        .bind($conversation_id)
        .fetch_all(&mut *$tx)
        .await?;
        let text: String = people
            .iter()
            .map(|(name, email)| format!("{name} {email}"))
            .collect::<Vec<_>>()
            .join("\n");
        $crate::store::search::unindex_kind!($tx, $conversation_id, "people");
        $crate::store::search::index_doc!($tx, None, $conversation_id, "people", &text);
    }};
}
pub(super) use reindex_people;

/// Which conversations a search looks in.
#[derive(Debug, Clone, Default)]
pub struct SearchFilter<'a> {
    /// Only what this person may read (None: everything, for the admin).
    pub reader: Option<&'a str>,
    /// Notes and participants match only for staff (and the admin).
    pub staff: bool,
    pub status: Option<ConversationStatus>,
    pub kind: Option<ConversationType>,
    pub company: Option<&'a str>,
}

/// One matching document of a result.
#[derive(Debug, Clone)]
pub struct SearchMatch {
    pub conversation_id: String,
    /// None for the subject or the people.
    pub message_id: Option<String>,
    pub kind: String,
    /// The text it was found by: the message's text (file names after it), the subject, the
    /// people.
    pub text: String,
}

/// The documents of `c`onversations a search matches, best first, as `hits`.
macro_rules! hits_sql {
    ($sqlite:expr) => {
        concat!(
            "WITH hits AS MATERIALIZED (",
            $sqlite,
            ")
             SELECT ",
            crate::store::conversations::conversation_columns!(),
            ", MIN(h.score) AS best
             FROM hits h JOIN conversations c ON c.id = h.conversation_id
             WHERE ($1 IS NULL OR (",
            crate::store::access::readable_candidates_sql!(),
            " AND ",
            crate::store::access::may_read_sql!(),
            "))
               AND ($4 = '' OR c.status = $4)
               AND ($5 = '' OR c.type = $5)
               AND ($6 = '' OR c.company_id = $6)
             GROUP BY c.id
             ORDER BY best, c.last_activity_at DESC, c.id
             LIMIT $7 OFFSET $8"
        )
    };
}

impl Store {
    /// Conversations matching `query` in `filter`, best first (recency breaks ties), `limit`
    /// from `offset`.
    pub async fn search(
        &self,
        query: &SearchQuery,
        filter: &SearchFilter<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Conversation>> {
        const SQLITE: &str = hits_sql!(
            "SELECT d.conversation_id, bm25(search_fts) AS score
               FROM search_fts JOIN search_docs d ON d.doc_id = search_fts.rowid
              WHERE search_fts MATCH $2 AND ($3 = 1 OR d.kind IN ('message', 'subject'))"
        );
        const POSTGRES: &str = hits_sql!(
            "SELECT d.conversation_id,
                    -ts_rank(d.document, to_tsquery('simple', $2))::float8 AS score
               FROM search_docs d
              WHERE d.document @@ to_tsquery('simple', $2)
                AND ($3 = 1 OR d.kind IN ('message', 'subject'))"
        );
        on_backend!(self, pool => {
            let sql = crate::store::Dialect::pick(pool, SQLITE, POSTGRES);
            let text = match sql == SQLITE {
                true => query.fts5(),
                false => query.tsquery(),
            };
            let rows = sqlx::query(sql)
                .bind(filter.reader)
                .bind(&text)
                .bind(i64::from(filter.staff))
                .bind(filter.status.map_or("", ConversationStatus::as_str))
                .bind(filter.kind.map_or("", ConversationType::as_str))
                .bind(filter.company.unwrap_or(""))
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(super::conversations::conversation_from_row)
                .collect()
        })
    }

    /// The documents of `conversations` that `query` matches, best first, with their text:
    /// for snippets. Notes and people only for `staff`; deleted messages are not indexed.
    pub async fn search_matches(
        &self,
        query: &SearchQuery,
        conversations: &[String],
        staff: bool,
    ) -> Result<Vec<SearchMatch>> {
        if conversations.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(conversations).unwrap_or_else(|_| "[]".into());
        const SQLITE: &str =
            "SELECT d.conversation_id, d.message_id, d.kind, bm25(search_fts) AS score,
                    COALESCE(m.body_text, c.subject, '') AS body,
                    (SELECT GROUP_CONCAT(a.filename, char(10)) FROM attachments a
                      WHERE a.message_id = d.message_id) AS files
               FROM search_fts JOIN search_docs d ON d.doc_id = search_fts.rowid
               LEFT JOIN messages m ON m.id = d.message_id
               LEFT JOIN conversations c ON c.id = d.conversation_id AND d.kind = 'subject'
              WHERE search_fts MATCH $1
                AND d.conversation_id IN (SELECT value FROM json_each($2))
                AND ($3 = 1 OR d.kind IN ('message', 'subject'))
              ORDER BY score LIMIT 200";
        const POSTGRES: &str = "SELECT d.conversation_id, d.message_id, d.kind,
                    -ts_rank(d.document, to_tsquery('simple', $1))::float8 AS score,
                    COALESCE(m.body_text, c.subject, '') AS body,
                    (SELECT STRING_AGG(a.filename, chr(10)) FROM attachments a
                      WHERE a.message_id = d.message_id) AS files
               FROM search_docs d
               LEFT JOIN messages m ON m.id = d.message_id
               LEFT JOIN conversations c ON c.id = d.conversation_id AND d.kind = 'subject'
              WHERE d.document @@ to_tsquery('simple', $1)
                AND d.conversation_id IN (SELECT jsonb_array_elements_text($2::jsonb))
                AND ($3 = 1 OR d.kind IN ('message', 'subject'))
              ORDER BY score LIMIT 200";
        on_backend!(self, pool => {
            let sql = crate::store::Dialect::pick(pool, SQLITE, POSTGRES);
            let text = match sql == SQLITE {
                true => query.fts5(),
                false => query.tsquery(),
            };
            let rows = sqlx::query(sql)
                .bind(&text)
                .bind(&list)
                .bind(i64::from(staff))
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let kind: String = row.try_get("kind")?;
                let body: String = row.try_get("body")?;
                let files: Option<String> = row.try_get("files")?;
                let text = match (kind.as_str(), files) {
                    ("people", _) => String::new(),
                    (_, Some(files)) => format!("{body}\n{files}"),
                    (_, None) => body,
                };
                out.push(SearchMatch {
                    conversation_id: row.try_get("conversation_id")?,
                    message_id: row.try_get("message_id")?,
                    kind,
                    text,
                });
            }
            Ok(out)
        })
    }

    /// Writes many messages (conversation, author, text) in one transaction, each indexed, as
    /// an import does: no notifications for them (the participants' marks move past them).
    /// The search benchmark fills its database so.
    pub async fn import_messages(&self, messages: &[(String, String, String)]) -> Result<()> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            for (conversation, author, text) in messages {
                let id = crate::domain::Id::generate(crate::domain::IdKind::Message);
                sqlx::query(
                    "INSERT INTO messages (id, conversation_id, author_id, kind, body_text, source, created_at)
                     VALUES ($1, $2, $3, 'message', $4, 'api', $5)",
                )
                .bind(&id)
                .bind(conversation)
                .bind(author)
                .bind(text)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                index_doc!(tx, Some(id.as_str()), conversation, "message", text);
            }
            sqlx::query(
                "UPDATE conversations SET
                   last_seq = COALESCE((SELECT MAX(seq) FROM messages m WHERE m.conversation_id = conversations.id), 0),
                   last_activity_at = $1, history_rev = history_rev + 1",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE participants SET notified_up_to = (SELECT last_seq FROM conversations c WHERE c.id = participants.conversation_id),
                                         read_up_to = (SELECT last_seq FROM conversations c WHERE c.id = participants.conversation_id)",
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The names and addresses of a conversation's participants, as its `people` document
    /// holds them (for a staff snippet).
    pub async fn people_text(&self, conversation_id: &str) -> Result<String> {
        on_backend!(self, pool => {
            let people: Vec<(String, String)> = sqlx::query_as(
                "SELECT pe.name, pe.email FROM participants p JOIN people pe ON pe.id = p.person_id
                 WHERE p.conversation_id = $1 AND p.removed_at IS NULL ORDER BY pe.name",
            )
            .bind(conversation_id)
            .fetch_all(pool)
            .await?;
            Ok(people
                .iter()
                .map(|(n, e)| format!("{n} <{e}>"))
                .collect::<Vec<_>>()
                .join(", "))
        })
    }

    /// Indexes every message, subject and participant list again when the index was made by
    /// another analyzer version (or never: a database from before search). At start, before
    /// serving; returns how many documents were written (0 when the index is current).
    pub async fn rebuild_search_index_if_stale(&self) -> Result<usize> {
        let version: i64 = on_backend!(self, pool => {
            sqlx::query_scalar("SELECT analyzer_version FROM search_state WHERE id = 1")
                .fetch_one(pool)
                .await?
        });
        if version == ANALYZER_VERSION {
            return Ok(0);
        }
        self.rebuild_search_index().await
    }

    /// Indexes everything again, in one transaction; how many documents were written.
    pub async fn rebuild_search_index(&self) -> Result<usize> {
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(crate::store::Dialect::pick(
                pool,
                "DELETE FROM search_fts; DELETE FROM search_docs",
                "DELETE FROM search_docs",
            ))
            .execute(&mut *tx)
            .await?;
            let messages: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT id, conversation_id, kind, body_text FROM messages WHERE deleted_at IS NULL",
            )
            .fetch_all(&mut *tx)
            .await?;
            let files: Vec<(String, String)> =
                sqlx::query_as("SELECT message_id, filename FROM attachments")
                    .fetch_all(&mut *tx)
                    .await?;
            let mut by_message: std::collections::HashMap<&str, Vec<&str>> =
                std::collections::HashMap::new();
            for (message, name) in &files {
                by_message.entry(message.as_str()).or_default().push(name.as_str());
            }
            let mut written = 0;
            for (id, conversation, kind, body) in &messages {
                let names = by_message.get(id.as_str()).cloned().unwrap_or_default();
                let text = message_text(body, names.iter());
                let kind = MessageKind::parse(kind).unwrap_or(MessageKind::Message).as_str();
                index_doc!(tx, Some(id.as_str()), conversation, kind, &text);
                written += 1;
            }
            let conversations: Vec<(String, String)> =
                sqlx::query_as("SELECT id, subject FROM conversations")
                    .fetch_all(&mut *tx)
                    .await?;
            for (id, subject) in &conversations {
                index_doc!(tx, None, id, "subject", subject);
                reindex_people!(tx, id);
                written += 2;
            }
            sqlx::query("UPDATE search_state SET analyzer_version = $1 WHERE id = 1")
                .bind(ANALYZER_VERSION)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(written)
        })
    }
}
