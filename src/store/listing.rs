//! What the web view reads: a person's conversation list (excerpts and unread counts filtered
//! by what they may see), their place in a conversation (read mark, mute), and the people a
//! conversation's history names.

use super::lifecycle::decode_status;
use super::people::person_from_row;
use super::{ConversationStatus, Person, Result, Store, on_backend};
use crate::domain::Millis;
use sqlx::Row;
use std::collections::HashMap;

/// One row of the conversation list.
#[derive(Debug, Clone)]
pub struct ConversationSummary {
    pub id: String,
    pub subject: String,
    pub status: ConversationStatus,
    pub assignee_id: Option<String>,
    pub created_at: Millis,
    /// The latest message this viewer may see (notes only for internal viewers; deleted
    /// messages never).
    pub last_at: Option<Millis>,
    pub last_author: Option<String>,
    pub excerpt: Option<String>,
    /// Messages by others after the viewer's read mark, among those they may see.
    pub unread: i64,
    pub muted: bool,
}

/// Whose list: a person's (the conversations they take part in) or an admin's (all).
#[derive(Debug, Clone, Copy)]
pub enum ListScope<'a> {
    Person { person_id: &'a str, internal: bool },
    All,
}

/// A participant's own state in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParticipantState {
    pub read_up_to: i64,
    pub muted: bool,
}

/// How many characters of the last message the list shows (cut again for display).
const EXCERPT_CHARS: i32 = 240;

impl Store {
    /// Conversations in `scope`, most recent visible activity first, at most `limit`.
    pub async fn conversation_list(
        &self,
        scope: ListScope<'_>,
        limit: i64,
    ) -> Result<Vec<ConversationSummary>> {
        // The same visibility rule as `MessageKind::visible_to`, in SQL: `$2` is true for
        // internal viewers. The conversations are those the person may read (`store::access`):
        // those they take part in, and their companies' they follow; unread counts only where
        // they take part (a follower has no read mark until they write).
        const PERSON: &str = concat!(
            "
            SELECT c.id, c.subject, c.status, c.assignee_id, c.created_at, COALESCE(p.muted, 0) AS muted,
                   lm.created_at AS last_at, SUBSTR(lm.body_text, 1, $4) AS excerpt, a.name AS last_author,
                   CASE WHEN p.person_id IS NULL THEN 0 ELSE
                   (SELECT COUNT(*) FROM messages u
                     WHERE u.conversation_id = c.id AND u.seq > p.read_up_to AND u.author_id <> p.person_id
                       AND u.deleted_at IS NULL AND (u.kind = 'message' OR $2)) END AS unread
            FROM conversations c
            LEFT JOIN participants p ON p.conversation_id = c.id AND p.person_id = $1 AND p.removed_at IS NULL
            LEFT JOIN messages lm ON lm.seq = (
                SELECT MAX(m.seq) FROM messages m
                 WHERE m.conversation_id = c.id AND m.deleted_at IS NULL AND (m.kind = 'message' OR $2))
            LEFT JOIN people a ON a.id = lm.author_id
            WHERE ",
            crate::store::access::readable_candidates_sql!(),
            " AND ",
            crate::store::access::may_read_sql!(),
            "
            ORDER BY COALESCE(lm.created_at, c.created_at) DESC, c.id
            LIMIT $3"
        );
        const ALL: &str = "
            SELECT c.id, c.subject, c.status, c.assignee_id, c.created_at, CAST(0 AS BIGINT) AS muted,
                   lm.created_at AS last_at, SUBSTR(lm.body_text, 1, $4) AS excerpt, a.name AS last_author,
                   CAST(0 AS BIGINT) AS unread
            FROM conversations c
            LEFT JOIN messages lm ON lm.seq = (
                SELECT MAX(m.seq) FROM messages m
                 WHERE m.conversation_id = c.id AND m.deleted_at IS NULL AND ($1 = '' OR $2))
            LEFT JOIN people a ON a.id = lm.author_id
            ORDER BY COALESCE(lm.created_at, c.created_at) DESC, c.id
            LIMIT $3";
        let (sql, person_id, internal) = match scope {
            ListScope::Person {
                person_id,
                internal,
            } => (PERSON, person_id, internal),
            ListScope::All => (ALL, "", true),
        };
        on_backend!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(person_id)
                .bind(internal)
                .bind(limit)
                .bind(EXCERPT_CHARS)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    let status: String = row.try_get("status")?;
                    let muted: i64 = row.try_get("muted")?;
                    Ok(ConversationSummary {
                        id: row.try_get("id")?,
                        subject: row.try_get("subject")?,
                        status: decode_status(&status)?,
                        assignee_id: row.try_get("assignee_id")?,
                        created_at: row.try_get("created_at")?,
                        last_at: row.try_get("last_at")?,
                        last_author: row.try_get("last_author")?,
                        excerpt: row.try_get("excerpt")?,
                        unread: row.try_get("unread")?,
                        muted: muted != 0,
                    })
                })
                .collect()
        })
    }

    /// The person's read mark and mute in the conversation; None unless they take part in it.
    pub async fn participant_state(
        &self,
        conversation_id: &str,
        person_id: &str,
    ) -> Result<Option<ParticipantState>> {
        on_backend!(self, pool => {
            let row = sqlx::query(
                "SELECT read_up_to, muted FROM participants
                 WHERE conversation_id = $1 AND person_id = $2 AND removed_at IS NULL",
            )
            .bind(conversation_id)
            .bind(person_id)
            .fetch_optional(pool)
            .await?;
            row.map(|row| -> Result<ParticipantState> {
                let muted: i64 = row.try_get("muted")?;
                Ok(ParticipantState { read_up_to: row.try_get("read_up_to")?, muted: muted != 0 })
            })
            .transpose()
        })
    }

    /// The person has seen the conversation up to message `seq` (the newest one the page
    /// showed): the list stops counting those as unread, and, as for
    /// [`Store::mark_caught_up`], nothing up to there is emailed and the digest window restarts.
    pub async fn mark_read(
        &self,
        conversation_id: &str,
        person_id: &str,
        seq: i64,
    ) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "UPDATE participants
                 SET read_up_to = CASE WHEN read_up_to < $3 THEN $3 ELSE read_up_to END,
                     notified_up_to = CASE WHEN notified_up_to < $3 THEN $3 ELSE notified_up_to END,
                     last_emailed_at = NULL
                 WHERE conversation_id = $1 AND person_id = $2 AND removed_at IS NULL",
            )
            .bind(conversation_id)
            .bind(person_id)
            .bind(seq)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Everyone a conversation's history can name: participants (current and past), actors
    /// and the assignee, by id. Authors are among the participants: a message is only written
    /// by a live participant (`insert_message!`) and participant rows are never deleted (a
    /// removal sets `removed_at`), so the messages are not scanned — this runs on every page.
    pub async fn conversation_people(
        &self,
        conversation_id: &str,
    ) -> Result<HashMap<String, Person>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, email, name, role, created_at, email_status FROM people WHERE id IN (
                     SELECT person_id FROM participants WHERE conversation_id = $1
                     UNION SELECT actor_id FROM conversation_events WHERE conversation_id = $1 AND actor_id IS NOT NULL
                     UNION SELECT assignee_id FROM conversations WHERE id = $1 AND assignee_id IS NOT NULL)",
            )
            .bind(conversation_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| person_from_row(row).map(|p| (p.id.clone(), p)))
                .collect()
        })
    }
}
