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
    pub archived: bool,
}

/// Whose list: a person's (the conversations they take part in) or an admin's (all).
#[derive(Debug, Clone, Copy)]
pub enum ListScope<'a> {
    Person { person_id: &'a str, internal: bool },
    All,
}

/// A participant's read mark and the moves that brought it there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReadMark {
    pub person_id: String,
    pub read_up_to: i64,
    pub moves: ReadMoves,
}

impl ReadMark {
    /// Whether they have seen message `seq`, and when if known: the move that passed it.
    pub fn seen(&self, seq: i64) -> Option<Option<Millis>> {
        (self.read_up_to >= seq).then(|| self.moves.passing(seq))
    }
}

/// When a read mark moved, oldest first: `(up to seq, at)`. `complete` unless the log was
/// trimmed (its oldest moves are gone).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ReadMoves {
    pub moves: Vec<(i64, Millis)>,
    pub complete: bool,
}

impl ReadMoves {
    /// `" 3@1793711100000 7@1793711160000"`; a trimmed log starts with `~` and its first entry
    /// may be cut, so it is skipped. Anything that does not parse is skipped too.
    pub fn parse(log: &str) -> ReadMoves {
        let trimmed = log.starts_with('~');
        let moves = log
            .split_whitespace()
            .skip(usize::from(trimmed))
            .filter_map(|entry| {
                let (seq, at) = entry.split_once('@')?;
                Some((seq.parse().ok()?, at.parse().ok()?))
            })
            .collect();
        ReadMoves {
            moves,
            complete: !trimmed,
        }
    }

    /// When the mark moved past `seq`: the first move reaching it, if the log shows that move
    /// started below `seq` (an earlier move stopped short of it, or the log is complete).
    pub fn passing(&self, seq: i64) -> Option<Millis> {
        let i = self.moves.iter().position(|&(up_to, _)| up_to >= seq)?;
        (i > 0 || self.complete).then(|| self.moves[i].1)
    }
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
        shelf: crate::store::Shelf,
        limit: i64,
    ) -> Result<Vec<ConversationSummary>> {
        // The same visibility rule as `MessageKind::visible_to`, in SQL: `$2` is true for
        // internal viewers. The conversations are those the person may read (`store::access`):
        // those they take part in, and their companies' they follow; unread counts only where
        // they take part (a follower has no read mark until they write).
        const PERSON: &str = concat!(
            "
            SELECT c.id, c.subject, c.status, c.assignee_id, c.created_at, COALESCE(p.muted, 0) AS muted,
                   c.archived_at,
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
            " AND ",
            crate::store::conversations::archived_sql!("$5"),
            "
            ORDER BY COALESCE(lm.created_at, c.created_at) DESC, c.id
            LIMIT $3"
        );
        const ALL: &str = concat!(
            "
            SELECT c.id, c.subject, c.status, c.assignee_id, c.created_at, CAST(0 AS BIGINT) AS muted,
                   lm.created_at AS last_at, SUBSTR(lm.body_text, 1, $4) AS excerpt, a.name AS last_author,
                   CAST(0 AS BIGINT) AS unread, c.archived_at
            FROM conversations c
            LEFT JOIN messages lm ON lm.seq = (
                SELECT MAX(m.seq) FROM messages m
                 WHERE m.conversation_id = c.id AND m.deleted_at IS NULL AND ($1 = '' OR $2))
            LEFT JOIN people a ON a.id = lm.author_id
            WHERE ",
            crate::store::conversations::archived_sql!("$5"),
            "
            ORDER BY COALESCE(lm.created_at, c.created_at) DESC, c.id
            LIMIT $3"
        );
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
                .bind(shelf.code())
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
                        archived: row.try_get::<Option<i64>, _>("archived_at")?.is_some(),
                    })
                })
                .collect()
        })
    }

    /// Everyone's read marks in a conversation, with when each moved (`read_log`): who has
    /// seen which message, and when. Past participants too: what they saw, they saw.
    pub async fn read_marks(&self, conversation_id: &str) -> Result<Vec<ReadMark>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT person_id, read_up_to, read_log FROM participants
                 WHERE conversation_id = $1 ORDER BY person_id",
            )
            .bind(conversation_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let log: String = row.try_get("read_log")?;
                    Ok(ReadMark {
                        person_id: row.try_get("person_id")?,
                        read_up_to: row.try_get("read_up_to")?,
                        moves: ReadMoves::parse(&log),
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
        let now = self.now();
        on_backend!(write self, pool => {
            let done = sqlx::query(concat!(
                "UPDATE participants SET ",
                super::messages::read_mark_sql!("$3", "$4"),
                ", notified_up_to = CASE WHEN notified_up_to < $3 THEN $3 ELSE notified_up_to END,
                   last_emailed_at = NULL
                 WHERE conversation_id = $1 AND person_id = $2 AND removed_at IS NULL",
            ))
            .bind(conversation_id)
            .bind(person_id)
            .bind(seq)
            .bind(now)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_moves_say_when_a_mark_passed_a_message() {
        let m = ReadMoves::parse(" 3@100 7@200 12@300");
        assert!(m.complete);
        assert_eq!(m.passing(1), Some(100));
        assert_eq!(m.passing(3), Some(100));
        assert_eq!(m.passing(4), Some(200));
        assert_eq!(m.passing(12), Some(300));
        assert_eq!(m.passing(13), None);
        // Trimmed: the first entry may be cut ("23@…" of "123@…"), so it is skipped, and what
        // came before the oldest kept move is unknown.
        let t = ReadMoves::parse("~23@100 130@200 140@300");
        assert!(!t.complete);
        assert_eq!(t.moves, [(130, 200), (140, 300)]);
        assert_eq!(
            t.passing(125),
            None,
            "passed before the log begins, or at 200: unknown"
        );
        assert_eq!(t.passing(135), Some(300));
        assert_eq!(
            ReadMoves::parse("junk 5@x 6@60"),
            ReadMoves {
                moves: vec![(6, 60)],
                complete: true
            }
        );
        let mark = ReadMark {
            person_id: "p".into(),
            read_up_to: 7,
            moves: m,
        };
        assert_eq!(mark.seen(5), Some(Some(200)));
        assert_eq!(mark.seen(8), None, "not seen yet");
        let before_the_log = ReadMark {
            person_id: "p".into(),
            read_up_to: 7,
            moves: ReadMoves::default(),
        };
        assert_eq!(before_the_log.seen(5), Some(None), "seen, when unknown");
    }
}
