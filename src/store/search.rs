//! Search: the query, and the index's rebuild. The index is written by `search_index`, in
//! the transaction that writes what it indexes.
//!
//! One document per message (its text and file names; kind `message` or `note`), per
//! conversation subject (`subject`) and per conversation's participants (names and addresses,
//! `people`: staff only). The text is folded and stemmed in Rust (`domain::search_text`), so
//! both backends index and match the same words: SQLite in an FTS5 table (`search_fts`, rowid =
//! `search_docs.doc_id`), PostgreSQL in a tsvector of the `simple` configuration (words
//! weighted A, stems B) under a GIN index. Access is the one rule (`store::access`); clients
//! never match notes or participants, and deleted messages leave the index in the deleting
//! transaction.

use super::search_index::{index_doc, message_text, reindex_people};
use super::{Conversation, ConversationStatus, Dialect, Result, Store, on_backend};
use crate::domain::search_text::{ANALYZER_VERSION, SearchQuery};
use crate::domain::{ConversationType, MessageKind};
use sqlx::Row;

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

/// A conversation a search found, with its best matching documents (at most two), best first:
/// a message's id and kind, or None and `subject`/`people`.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub conversation: Conversation,
    pub documents: Vec<(Option<String>, String)>,
}

/// The ranked search over `hits` (each backend's matching documents of the `readable`
/// conversations, scored only there: conversation, message, kind, score — lower is better):
/// the conversations the reader may read (`readable`, the predicate evaluated once per
/// conversation, not per document), each document ranked within
/// its conversation, a page of conversations by their best document, and their two best
/// documents.
macro_rules! search_sql {
    ($hits:expr) => {
        concat!(
            "WITH readable AS MATERIALIZED (
               SELECT c.id FROM conversations c
                WHERE ($1 IS NULL OR (",
            crate::store::access::readable_candidates_sql!(),
            " AND ",
            crate::store::access::may_read_sql!(),
            "))
                  AND ($4 = '' OR c.status = $4)
                  AND ($5 = '' OR c.type = $5)
                  AND ($6 = '' OR c.company_id = $6)
             ),
             hits AS MATERIALIZED (",
            $hits,
            "),
             ranked AS MATERIALIZED (
               SELECT h.conversation_id, h.message_id, h.kind, h.score,
                      ROW_NUMBER() OVER (PARTITION BY h.conversation_id
                                         ORDER BY h.score, h.message_id) AS n
                 FROM hits h
             ),
             page AS MATERIALIZED (
               SELECT k.conversation_id, k.score AS best, pc.last_activity_at AS at
                 FROM ranked k JOIN conversations pc ON pc.id = k.conversation_id
                WHERE k.n = 1
                ORDER BY k.score, pc.last_activity_at DESC, pc.id
                LIMIT $7 OFFSET $8
             )
             SELECT ",
            crate::store::conversations::conversation_columns!(),
            ", p.best, k.message_id AS doc_message_id, k.kind AS doc_kind
             FROM page p JOIN conversations c ON c.id = p.conversation_id
             JOIN ranked k ON k.conversation_id = p.conversation_id AND k.n <= 2
             ORDER BY p.best, p.at DESC, c.id, k.n"
        )
    };
}

impl Store {
    /// Conversations matching `query` in `filter`, best first (recency breaks ties), `limit`
    /// from `offset`, each with its best matching documents.
    pub async fn search(
        &self,
        query: &SearchQuery,
        filter: &SearchFilter<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<SearchHit>> {
        const SQLITE: &str = search_sql!(
            "SELECT d.conversation_id, d.message_id, d.kind, bm25(search_fts) AS score
               FROM search_fts JOIN search_docs d ON d.doc_id = search_fts.rowid
               JOIN readable r ON r.id = d.conversation_id
              WHERE search_fts MATCH $2 AND ($3 = 1 OR d.kind IN ('message', 'subject'))"
        );
        const POSTGRES: &str = search_sql!(
            "SELECT d.conversation_id, d.message_id, d.kind,
                    -ts_rank(d.document, to_tsquery('simple', $2))::float8 AS score
               FROM search_docs d JOIN readable r ON r.id = d.conversation_id
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
            let mut hits: Vec<SearchHit> = Vec::new();
            for row in &rows {
                let conversation = super::conversations::conversation_from_row(row)?;
                let document = (row.try_get("doc_message_id")?, row.try_get("doc_kind")?);
                match hits.last_mut() {
                    Some(last) if last.conversation.id == conversation.id => {
                        last.documents.push(document)
                    }
                    _ => hits.push(SearchHit {
                        conversation,
                        documents: vec![document],
                    }),
                }
            }
            Ok(hits)
        })
    }

    /// The texts messages are found by (their text, then their files' names), by id; deleted
    /// ones are not there.
    pub async fn message_texts(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>> {
        let mut out = std::collections::HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        const SQLITE: &str = "SELECT m.id, m.body_text,
                   (SELECT GROUP_CONCAT(a.filename, char(10)) FROM attachments a
                     WHERE a.message_id = m.id) AS files
              FROM messages m
             WHERE m.id IN (SELECT value FROM json_each($1)) AND m.deleted_at IS NULL";
        const POSTGRES: &str = "SELECT m.id, m.body_text,
                   (SELECT STRING_AGG(a.filename, chr(10)) FROM attachments a
                     WHERE a.message_id = m.id) AS files
              FROM messages m
             WHERE m.id IN (SELECT jsonb_array_elements_text($1::jsonb)) AND m.deleted_at IS NULL";
        on_backend!(self, pool => {
            let rows = sqlx::query(crate::store::Dialect::pick(pool, SQLITE, POSTGRES))
                .bind(&list)
                .fetch_all(pool)
                .await?;
            for row in &rows {
                let id: String = row.try_get("id")?;
                let body: String = row.try_get("body_text")?;
                let files: Option<String> = row.try_get("files")?;
                out.insert(id, message_text(&body, files.iter()));
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
