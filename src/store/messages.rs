use super::{Dialect, Result, Store, StoreError, on_backend};
use crate::domain::{MessageKind, Millis, Source};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub seq: i64,
    pub conversation_id: String,
    pub author_id: String,
    pub kind: MessageKind,
    pub body_text: String,
    pub body_html: Option<String>,
    pub trimmed_text: Option<String>,
    pub source: Source,
    pub created_at: Millis,
    /// The inbound email it came from (source `email`): its raw bytes stay downloadable.
    pub inbound_id: Option<String>,
    /// Soft delete: when, and by whom (None: an admin acting as no one). The row stays.
    pub deleted_at: Option<Millis>,
    pub deleted_by: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: String,
    pub author_id: String,
    pub kind: MessageKind,
    pub body_text: String,
    pub body_html: Option<String>,
    pub trimmed_text: Option<String>,
    pub source: Source,
    /// For email: the dedup key (Message-ID header, or a content hash when there is none).
    pub email_message_id: Option<String>,
    pub attachments: Vec<super::NewAttachment>,
}

impl NewMessage {
    /// A message typed by a person (web view or API): text only, no email behind it.
    pub fn typed(
        conversation_id: &str,
        author_id: &str,
        kind: MessageKind,
        body_text: String,
        source: Source,
    ) -> NewMessage {
        NewMessage {
            conversation_id: conversation_id.to_string(),
            author_id: author_id.to_string(),
            kind,
            body_text,
            body_html: None,
            trimmed_text: None,
            source,
            email_message_id: None,
            attachments: Vec::new(),
        }
    }
}

/// What inserting a message did: a new row, or nothing because the same email was already posted.
// Short-lived (one per insert): boxing the message would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Inserted {
    New(Message),
    Duplicate { existing_id: String },
}

/// The one text of a message row's insert; the placeholders (`"$1"`…) are the caller's, so the
/// general path and SQLite's in-place path (`inbound_sqlite`) write the same SQL.
macro_rules! insert_message_sql {
    ($id:literal, $conversation:literal, $author:literal, $kind:literal, $text:literal,
     $html:literal, $trimmed:literal, $source:literal, $email_id:literal, $now:literal,
     $inbound:literal) => {
        concat!(
            "INSERT INTO messages (id, conversation_id, author_id, kind, body_text, body_html,
                                   trimmed_text, source, email_message_id, created_at, inbound_id)
             VALUES (", $id, ", ", $conversation, ", ", $author, ", ", $kind, ", ", $text, ", ",
            $html, ", ", $trimmed, ", ", $source, ", ", $email_id, ", ", $now, ", ", $inbound, ")"
        )
    };
}
pub(super) use insert_message_sql;

/// An email's message is posted once per conversation: a second insert with its Message-ID
/// does nothing.
macro_rules! message_conflict_sql {
    () => {
        " ON CONFLICT (conversation_id, email_message_id) WHERE email_message_id IS NOT NULL
          DO NOTHING"
    };
}
pub(super) use message_conflict_sql;

/// A new message moves its conversation: activity time, `last_seq` (`$seq`: a placeholder or
/// an expression) and the history revision that invalidates rendered histories; an archived
/// conversation comes back to the inbox.
macro_rules! message_moves_conversation_sql {
    ($conversation:literal, $now:literal, $seq:literal) => {
        concat!(
            "UPDATE conversations SET updated_at = ",
            $now,
            ", last_activity_at = ",
            $now,
            ", last_seq = ",
            $seq,
            ", history_rev = history_rev + 1, archived_at = NULL WHERE id = ",
            $conversation
        )
    };
}
pub(super) use message_moves_conversation_sql;

/// The `SET` clauses that move a participant's read mark up to `$seq` at `$now` and log the
/// move (`participants.read_log`, for "seen by"): one UPDATE, nothing more to write. Both
/// backends read the row's old values in every clause, so the log grows only when the mark
/// moves.
macro_rules! read_mark_sql {
    ($seq:literal, $now:literal) => {
        concat!(
            "read_log = CASE WHEN read_up_to < ",
            $seq,
            " THEN (CASE WHEN length(read_log) > 1500
                        THEN '~' || substr(read_log, length(read_log) - 999) ELSE read_log END)
                   || ' ' || CAST(",
            $seq,
            " AS TEXT) || '@' || CAST(",
            $now,
            " AS TEXT) ELSE read_log END,
             read_up_to = CASE WHEN read_up_to < ",
            $seq,
            " THEN ",
            $seq,
            " ELSE read_up_to END"
        )
    };
}
pub(super) use read_mark_sql;

/// Writing in a conversation means having read it, up to one's own message (`$seq`).
macro_rules! author_has_read_sql {
    ($conversation:literal, $author:literal, $seq:literal, $now:literal) => {
        concat!(
            "UPDATE participants
             SET notified_up_to = CASE WHEN notified_up_to < ",
            $seq,
            " THEN ",
            $seq,
            " ELSE notified_up_to END, ",
            $crate::store::messages::read_mark_sql!($seq, $now),
            ", last_emailed_at = NULL
             WHERE conversation_id = ",
            $conversation,
            " AND person_id = ",
            $author
        )
    };
}
pub(super) use author_has_read_sql;

/// Inserts inside the caller's transaction so an inbound email, its raw copy and its record
/// commit together. The author must be a live participant. `$inbound_id`: the inbound record
/// the message is posted from, written in the same transaction.
macro_rules! insert_message {
    ($tx:expr, $new:expr, $now:expr) => {
        $crate::store::messages::insert_message!($tx, $new, $now, None::<&str>)
    };
    ($tx:expr, $new:expr, $now:expr, $inbound_id:expr) => {{
        let new: &$crate::store::NewMessage = $new;
        let inbound_id: Option<&str> = $inbound_id;
        // One statement checks that the author is a live participant, reads their role (for
        // the status rule) and, on PostgreSQL, takes the conversation's row lock BEFORE a seq
        // is drawn: messages of one conversation then get their seqs in commit order, so
        // `last_seq` only grows and the planner, which marks people up to it, can never skip a
        // message committed late with a lower seq. SQLite already holds the database's write
        // lock (`BEGIN IMMEDIATE`).
        let role: Option<String> = sqlx::query_scalar($crate::store::ConnDialect::pick(
            &*$tx,
            "SELECT pe.role FROM participants p JOIN people pe ON pe.id = p.person_id
             WHERE p.conversation_id = $1 AND p.person_id = $2 AND p.removed_at IS NULL",
            "SELECT pe.role FROM participants p JOIN people pe ON pe.id = p.person_id
                                             JOIN conversations c ON c.id = p.conversation_id
             WHERE p.conversation_id = $1 AND p.person_id = $2 AND p.removed_at IS NULL
             FOR NO KEY UPDATE OF c",
        ))
        .bind(&new.conversation_id)
        .bind(&new.author_id)
        .fetch_optional(&mut *$tx)
        .await?;
        if let Some(role) = role {
            let role = $crate::domain::Role::parse(&role).ok_or_else(|| {
                $crate::store::StoreError::Database(sqlx::Error::Decode(
                    format!("unknown role {role:?}").into(),
                ))
            })?;
            let id = $crate::domain::Id::generate($crate::domain::IdKind::Message);
            let seq: Option<i64> = sqlx::query_scalar(concat!(
                $crate::store::messages::insert_message_sql!(
                    "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11"
                ),
                $crate::store::messages::message_conflict_sql!(),
                " RETURNING seq",
            ))
            .bind(&id)
            .bind(&new.conversation_id)
            .bind(&new.author_id)
            .bind(new.kind.as_str())
            .bind(&new.body_text)
            .bind(&new.body_html)
            .bind(&new.trimmed_text)
            .bind(new.source.as_str())
            .bind(&new.email_message_id)
            .bind($now)
            .bind(inbound_id)
            .fetch_optional(&mut *$tx)
            .await?;
            match seq {
                Some(seq) => {
                    $crate::store::attachments::insert_attachments!($tx, &id, &new.attachments, $now);
                    let text = $crate::store::search_index::message_text(
                        &new.body_text,
                        new.attachments.iter().map(|a| a.filename.as_str()),
                    );
                    $crate::store::search_index::index_doc!($tx, Some(id.as_str()), &new.conversation_id, new.kind.as_str(), &text);
                    // Locks the conversation row (PostgreSQL), so the status it returns is the
                    // latest even with concurrent writers; the transition commits with the message.
                    let status: String = sqlx::query_scalar(concat!(
                        $crate::store::messages::message_moves_conversation_sql!("$1", "$2", "$3"),
                        " RETURNING status"
                    ))
                    .bind(&new.conversation_id)
                    .bind($now)
                    .bind(seq)
                    .fetch_one(&mut *$tx)
                    .await?;
                    $crate::store::lifecycle::status_after_message!($tx, new, id.as_str(), role, &status, $now);
                    // Writing in a conversation means having read it: what came before is not
                    // emailed to the author, nor counted unread in their web list, and their
                    // next new message goes out at once. In this transaction, and only up to
                    // their own message: a message someone else commits meanwhile is still
                    // emailed to them.
                    sqlx::query($crate::store::messages::author_has_read_sql!("$1", "$2", "$3", "$4"))
                    .bind(&new.conversation_id)
                    .bind(&new.author_id)
                    .bind(seq)
                    .bind($now)
                    .execute(&mut *$tx)
                    .await?;
                    Ok($crate::store::messages::Inserted::New($crate::store::Message {
                        id,
                        seq,
                        conversation_id: new.conversation_id.clone(),
                        author_id: new.author_id.clone(),
                        kind: new.kind,
                        body_text: new.body_text.clone(),
                        body_html: new.body_html.clone(),
                        trimmed_text: new.trimmed_text.clone(),
                        source: new.source,
                        created_at: $now,
                        inbound_id: inbound_id.map(str::to_string),
                        deleted_at: None,
                        deleted_by: None,
                    }))
                }
                None => {
                    let existing_id: String = sqlx::query_scalar(
                        "SELECT id FROM messages WHERE conversation_id = $1 AND email_message_id = $2",
                    )
                    .bind(&new.conversation_id)
                    .bind(&new.email_message_id)
                    .fetch_one(&mut *$tx)
                    .await?;
                    Ok($crate::store::messages::Inserted::Duplicate { existing_id })
                }
            }
        } else {
            Err($crate::store::StoreError::NotFound("participant"))
        }
    }};
}
pub(super) use insert_message;

impl Store {
    /// Appends a message written through the API or the web view.
    pub async fn append_message(&self, new: NewMessage) -> Result<Message> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let inserted = insert_message!(tx, &new, now)?;
            tx.commit().await?;
            match inserted {
                Inserted::New(message) => Ok(message),
                Inserted::Duplicate { .. } => Err(StoreError::Conflict("message already posted")),
            }
        })
    }

    /// [`Store::append_message`] by someone who may read the conversation (`store::access`),
    /// taking part or not: a company's follower who writes joins it first, in the same
    /// transaction, so that later messages reach them by email. `NotFound("participant")` when
    /// they may not read it.
    pub async fn append_message_as_reader(&self, new: NewMessage) -> Result<Message> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let readable: Option<String> = sqlx::query_scalar(concat!(
                "SELECT c.id FROM conversations c WHERE c.id = $2 AND ",
                crate::store::access::may_read_sql!()
            ))
            .bind(&new.author_id)
            .bind(&new.conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
            if readable.is_none() {
                return Err(StoreError::NotFound("participant"));
            }
            let token = crate::domain::ReplyToken::generate();
            let _joined = crate::store::conversations::join_participant!(
                tx,
                &new.conversation_id,
                &new.author_id,
                token.as_str(),
                now
            );
            let inserted = insert_message!(tx, &new, now)?;
            tx.commit().await?;
            match inserted {
                Inserted::New(message) => Ok(message),
                Inserted::Duplicate { .. } => Err(StoreError::Conflict("message already posted")),
            }
        })
    }

    /// The whole history of a conversation, oldest first.
    pub async fn messages(&self, conversation_id: &str) -> Result<Vec<Message>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, seq, conversation_id, author_id, kind, body_text, body_html, trimmed_text,
                        source, created_at, inbound_id, deleted_at, deleted_by
                 FROM messages WHERE conversation_id = $1 ORDER BY seq",
            )
            .bind(conversation_id)
            .fetch_all(pool)
            .await?;
            rows.iter().map(message_from_row).collect()
        })
    }
}

impl Store {
    /// At most `limit` of a conversation's messages after `after_seq`, in order: an export
    /// reads a long conversation a page at a time.
    pub async fn messages_after(
        &self,
        conversation_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<Message>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, seq, conversation_id, author_id, kind, body_text, body_html, trimmed_text,
                        source, created_at, inbound_id, deleted_at, deleted_by
                 FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(conversation_id)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(message_from_row).collect()
        })
    }

    /// The inbound records of the emails a person sent that became messages, oldest first:
    /// their data export holds the raw emails.
    pub async fn sent_emails(&self, person_id: &str) -> Result<Vec<String>> {
        on_backend!(self, pool => {
            Ok(sqlx::query_scalar(
                "SELECT inbound_id FROM messages
                 WHERE author_id = $1 AND inbound_id IS NOT NULL ORDER BY created_at, id",
            )
            .bind(person_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// One message by id, whichever conversation it is in (callers check it is the one they
    /// were asked about).
    pub async fn message(&self, id: &str) -> Result<Option<Message>> {
        on_backend!(self, pool => {
            let row = sqlx::query(
                "SELECT id, seq, conversation_id, author_id, kind, body_text, body_html, trimmed_text,
                        source, created_at, inbound_id, deleted_at, deleted_by
                 FROM messages WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(message_from_row).transpose()
        })
    }
}

fn message_from_row<R: Row>(row: &R) -> Result<Message>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let kind: String = row.try_get("kind")?;
    let source: String = row.try_get("source")?;
    Ok(Message {
        id: row.try_get("id")?,
        seq: row.try_get("seq")?,
        conversation_id: row.try_get("conversation_id")?,
        author_id: row.try_get("author_id")?,
        kind: MessageKind::parse(&kind).ok_or(StoreError::Database(sqlx::Error::Decode(
            "unknown kind".into(),
        )))?,
        body_text: row.try_get("body_text")?,
        body_html: row.try_get("body_html")?,
        trimmed_text: row.try_get("trimmed_text")?,
        source: Source::parse(&source).ok_or(StoreError::Database(sqlx::Error::Decode(
            "unknown source".into(),
        )))?,
        created_at: row.try_get("created_at")?,
        inbound_id: row.try_get("inbound_id")?,
        deleted_at: row.try_get("deleted_at")?,
        deleted_by: row.try_get("deleted_by")?,
    })
}
