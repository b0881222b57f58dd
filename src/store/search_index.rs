//! Writing the search index (read by `store::search`), inside the transaction of whoever
//! writes what it indexes: a message, a subject, a conversation's participants. Imports
//! nothing else of the store, so every writer may call it.

/// A document on PostgreSQL: its words (weight A) and their stems (weight B), each a
/// placeholder or an expression.
macro_rules! pg_document_sql {
    ($words:literal, $stems:literal) => {
        concat!(
            "setweight(to_tsvector('simple', ",
            $words,
            "), 'A') || setweight(to_tsvector('simple', ",
            $stems,
            "), 'B')"
        )
    };
}
pub(super) use pg_document_sql;

/// Indexes one document inside the caller's transaction: `$message_id` (None for a subject or
/// the people), of `$conversation_id`, of kind `$kind`, for `$text`. On SQLite the words and
/// stems are kept in `search_docs`, the external content of `search_fts`, which must be told
/// the same tokens again to forget them (the FTS5 'delete' command, below).
macro_rules! index_doc {
    ($tx:expr, $message_id:expr, $conversation_id:expr, $kind:expr, $text:expr) => {{
        let indexed = $crate::domain::search_text::index_text($text);
        let message_id: Option<&str> = $message_id;
        sqlx::query($crate::store::ConnDialect::pick(
            &*$tx,
            "INSERT INTO search_docs (message_id, conversation_id, kind, words, stems)
             VALUES ($1, $2, $3, $4, $5);
             INSERT INTO search_fts (rowid, words, stems) VALUES (last_insert_rowid(), $4, $5)",
            // A message indexed already is left as it is: the rebuild at start reads messages
            // that other processes committed (and indexed) after its delete.
            concat!(
                "INSERT INTO search_docs (message_id, conversation_id, kind, document)
                 VALUES ($1, $2, $3, ",
                $crate::store::search_index::pg_document_sql!("$4", "$5"),
                ") ON CONFLICT (message_id) DO NOTHING"
            ),
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
            "INSERT INTO search_fts (search_fts, rowid, words, stems)
               SELECT 'delete', doc_id, words, stems FROM search_docs
                WHERE conversation_id = $1 AND kind = $2;
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
            "INSERT INTO search_fts (search_fts, rowid, words, stems)
               SELECT 'delete', doc_id, words, stems FROM search_docs WHERE message_id = $1;
             DELETE FROM search_docs WHERE message_id = $1",
            "DELETE FROM search_docs WHERE message_id = $1",
        ))
        .bind($message_id)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(super) use unindex_message;

/// Removes the documents of every message `$author_id` wrote (they were erased).
macro_rules! unindex_messages_by {
    ($tx:expr, $author_id:expr) => {{
        sqlx::query($crate::store::ConnDialect::pick(
            &*$tx,
            "INSERT INTO search_fts (search_fts, rowid, words, stems)
               SELECT 'delete', doc_id, words, stems FROM search_docs
                WHERE message_id IN (SELECT id FROM messages WHERE author_id = $1);
             DELETE FROM search_docs
              WHERE message_id IN (SELECT id FROM messages WHERE author_id = $1)",
            "DELETE FROM search_docs
              WHERE message_id IN (SELECT id FROM messages WHERE author_id = $1)",
        ))
        .bind($author_id)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(super) use unindex_messages_by;

/// Indexes a conversation's subject again (after a rename, or when it is created).
macro_rules! reindex_subject {
    ($tx:expr, $conversation_id:expr, $subject:expr) => {{
        $crate::store::search_index::unindex_kind!($tx, $conversation_id, "subject");
        $crate::store::search_index::index_doc!($tx, None, $conversation_id, "subject", $subject);
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
        $crate::store::search_index::unindex_kind!($tx, $conversation_id, "people");
        $crate::store::search_index::index_doc!($tx, None, $conversation_id, "people", &text);
    }};
}
pub(super) use reindex_people;
