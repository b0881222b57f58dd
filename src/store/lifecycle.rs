//! The conversation lifecycle: status (`open` / `pending` / `closed` / `snoozed`), assignment,
//! soft-deleted messages, and every such change as an event in the conversation's history.
//!
//! Rules, in one place:
//! - a message (not a note) by a client opens the conversation (reopens it when pending, closed
//!   or snoozed); a message by an internal user makes an open or closed conversation `pending`,
//!   and a snoozed one stays snoozed but will wake up `pending`. Notes change no status. This
//!   runs inside the transaction that inserts the message ([`status_after_message!`]).
//! - a snoozed conversation remembers the status it had (`wake_status`) and goes back to it at
//!   `snoozed_until` ([`Store::wake_snoozed`]).
//! - an `open` or `pending` conversation without activity for the auto-close period is closed
//!   ([`Store::close_inactive`]). Activity is a message or a note, a reopening (to `open` or
//!   `pending` by hand) or waking up; creation starts the clock.
//!
//! The periodic transitions claim their rows (`FOR NO KEY UPDATE SKIP LOCKED` on PostgreSQL,
//! `BEGIN IMMEDIATE` on SQLite) and change each one with a compare-and-set on its status, so two
//! processes never perform (nor record) the same transition twice.

use super::{Conversation, Dialect, Result, Store, StoreError, on_backend};
use crate::domain::{Millis, Role, random_base32, rfc3339};
use serde_json::{Value, json};
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationStatus {
    /// Waiting on the team (a client wrote last).
    Open,
    /// Waiting on the client (the team answered).
    Pending,
    Closed,
    /// Out of sight until `snoozed_until`, then back to the status it had.
    Snoozed,
}

impl ConversationStatus {
    pub const ALL: [ConversationStatus; 4] = [
        ConversationStatus::Open,
        ConversationStatus::Pending,
        ConversationStatus::Closed,
        ConversationStatus::Snoozed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::Pending => "pending",
            ConversationStatus::Closed => "closed",
            ConversationStatus::Snoozed => "snoozed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// What a message (not a note) written by someone with `role` does to a conversation in
    /// this status.
    pub fn after_message(self, role: Role) -> MessageEffect {
        use ConversationStatus::*;
        match (role, self) {
            (Role::Client, Open) => MessageEffect::Unchanged,
            (Role::Client, _) => MessageEffect::Become(Open),
            (Role::Internal, Open | Closed) => MessageEffect::Become(Pending),
            (Role::Internal, Pending) => MessageEffect::Unchanged,
            // The snooze was deliberate ("wait until Monday"): it stays, but the conversation
            // now waits on the client when it wakes.
            (Role::Internal, Snoozed) => MessageEffect::WakeTo(Pending),
        }
    }
}

/// See [`ConversationStatus::after_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageEffect {
    Unchanged,
    /// The status changes (an event is recorded; a snooze ends).
    Become(ConversationStatus),
    /// Stays snoozed; will wake up to this status.
    WakeTo(ConversationStatus),
}

pub(super) fn decode_status(s: &str) -> Result<ConversationStatus> {
    ConversationStatus::parse(s).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Decode(
            format!("unknown conversation status {s:?}").into(),
        ))
    })
}

/// The vocabulary of `GET /api/v1/conversations/{id}/events`. `data` by kind:
/// `status_changed` `{from, to, message_id?}` (`message_id`: the message whose writing made the
/// change); `assigned` `{assignee_id, previous_assignee_id}`;
/// `unassigned` `{assignee_id}` (the one who was assigned); `participant_added` /
/// `participant_removed` `{person_id}`; `message_deleted` and `message_restored` `{message_id}`; `snoozed`
/// `{from, until, wake_to}`; `woke_up` `{from: "snoozed", to}`; `auto_closed`
/// `{from, to: "closed", last_activity_at}`; `subject_changed` `{from, to}`; `archived` and
/// `unarchived` `{}` (a new message unarchives without an event: the message says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    StatusChanged,
    Assigned,
    Unassigned,
    ParticipantAdded,
    ParticipantRemoved,
    MessageDeleted,
    /// A deleted message brought back by staff: `{message_id}`.
    MessageRestored,
    /// Put away by staff, and brought back: `{}`.
    Archived,
    Unarchived,
    Snoozed,
    WokeUp,
    AutoClosed,
    SubjectChanged,
    /// Its type or company changed: who may read it changed with it.
    TypeChanged,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::StatusChanged => "status_changed",
            EventKind::Assigned => "assigned",
            EventKind::Unassigned => "unassigned",
            EventKind::ParticipantAdded => "participant_added",
            EventKind::ParticipantRemoved => "participant_removed",
            EventKind::MessageDeleted => "message_deleted",
            EventKind::MessageRestored => "message_restored",
            EventKind::Archived => "archived",
            EventKind::Unarchived => "unarchived",
            EventKind::Snoozed => "snoozed",
            EventKind::WokeUp => "woke_up",
            EventKind::AutoClosed => "auto_closed",
            EventKind::SubjectChanged => "subject_changed",
            EventKind::TypeChanged => "type_changed",
        }
    }
}

/// One entry of a conversation's history of changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationEvent {
    pub id: String,
    pub conversation_id: String,
    /// One of [`EventKind`]'s names.
    pub kind: String,
    /// Who did it; None for the scheduler (auto-close, wake-up) or an admin acting as no one.
    pub actor_id: Option<String>,
    pub data: Value,
    pub created_at: Millis,
}

impl ConversationEvent {
    /// Whether a client sees it: the conversation closing and reopening. Everything else
    /// (participants, assignment, snoozes, deletions, archiving) is the team's business.
    pub fn seen_by_clients(&self) -> bool {
        let touches_closed = |k: &str| self.data.get(k).and_then(|v| v.as_str()) == Some("closed");
        match self.kind.as_str() {
            "status_changed" => touches_closed("to") || touches_closed("from"),
            "auto_closed" => true,
            _ => false,
        }
    }
}

/// Event ids look like every other id: a kind prefix and 80 random bits.
pub(super) fn event_id() -> String {
    format!("evt_{}", random_base32(10))
}

/// Appends an event inside the caller's transaction.
macro_rules! record_event {
    ($tx:expr, $conversation_id:expr, $kind:expr, $actor:expr, $data:expr, $now:expr) => {{
        let kind: $crate::store::EventKind = $kind;
        let actor: Option<&str> = $actor;
        let data: serde_json::Value = $data;
        sqlx::query(
            "INSERT INTO conversation_events (id, conversation_id, kind, actor_id, data, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($crate::store::lifecycle::event_id())
        .bind($conversation_id)
        .bind(kind.as_str())
        .bind(actor)
        .bind(data.to_string())
        .bind($now)
        .execute(&mut *$tx)
        .await?;
        // The history shows events: the web view's cached rendering is stale from here.
        sqlx::query("UPDATE conversations SET history_rev = history_rev + 1 WHERE id = $1")
            .bind($conversation_id)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(super) use record_event;

/// The status rule for a new message, inside `insert_message!`'s transaction. `$role` is the
/// author's; `$current` is the conversation's status read AFTER the statement that locked its
/// row, so concurrent writers on PostgreSQL see each other's transitions.
macro_rules! status_after_message {
    ($tx:expr, $new:expr, $message_id:expr, $role:expr, $current:expr, $now:expr) => {{
        let new: &$crate::store::NewMessage = $new;
        if new.kind == $crate::domain::MessageKind::Message {
            let role: $crate::domain::Role = $role;
            let current = $crate::store::lifecycle::decode_status($current)?;
            match current.after_message(role) {
                $crate::store::MessageEffect::Unchanged => {}
                $crate::store::MessageEffect::Become(next) => {
                    sqlx::query(
                        "UPDATE conversations SET status = $2, snoozed_until = NULL, wake_status = NULL
                         WHERE id = $1",
                    )
                    .bind(&new.conversation_id)
                    .bind(next.as_str())
                    .execute(&mut *$tx)
                    .await?;
                    $crate::store::lifecycle::record_event!(
                        $tx,
                        &new.conversation_id,
                        $crate::store::EventKind::StatusChanged,
                        Some(new.author_id.as_str()),
                        // The message that caused it: the web view shows the change on it.
                        serde_json::json!({
                            "from": current.as_str(), "to": next.as_str(), "message_id": $message_id,
                        }),
                        $now
                    );
                }
                $crate::store::MessageEffect::WakeTo(next) => {
                    sqlx::query("UPDATE conversations SET wake_status = $2 WHERE id = $1")
                        .bind(&new.conversation_id)
                        .bind(next.as_str())
                        .execute(&mut *$tx)
                        .await?;
                }
            }
        }
    }};
}
pub(super) use status_after_message;

/// A requested status change (`PATCH /conversations/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// To `open`, `pending` or `closed` (`snoozed` is [`StatusChange::SnoozeUntil`]); ends a
    /// snooze. Reopening (to `open` or `pending`) restarts the auto-close clock.
    To(ConversationStatus),
    /// Snoozed until this time, then back to the status it has now (or, when it is already
    /// snoozed, the one it had before).
    SnoozeUntil(Millis),
}

/// What `PATCH /conversations/{id}` asks for; every part optional.
#[derive(Debug, Clone, Default)]
pub struct LifecycleChange {
    pub status: Option<StatusChange>,
    /// `Some(None)` unassigns. The assignee must be an internal user (checked by the caller).
    pub assignee: Option<Option<String>>,
    /// A new subject (checked by the caller).
    pub subject: Option<String>,
    /// Who does it, for the events.
    pub actor_id: Option<String>,
}

/// A message was soft-deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedMessage {
    pub id: String,
    pub conversation_id: String,
    pub deleted_at: Millis,
    pub deleted_by: Option<String>,
}

/// What one pass of a periodic transition did: rows it claimed, and transitions it made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    pub claimed: usize,
    pub changed: usize,
    /// Conversations whose row could not be read: recorded as failures (job `lifecycle`), left
    /// as they are, and not claimed again for [`QUARANTINE_MS`].
    pub failed: usize,
}

/// The value read from a sweep's row, or — when the row cannot be read — the failure recorded
/// in the sweep's transaction, counted, and `continue` to the next row.
macro_rules! readable_or_skip {
    ($read:expr, $tx:ident, $id:ident, $sweep:ident, $now:ident, $doing:literal) => {
        match $read {
            Ok(value) => value,
            Err(err) => {
                let reason = format!("{}: {err}", $doing);
                tracing::error!(conversation_id = %$id, %reason, "lifecycle: skipped");
                super::failures::upsert_failure!(
                    &mut *$tx,
                    super::failures::job::LIFECYCLE,
                    &$id,
                    &reason,
                    $now
                )?;
                $sweep.failed += 1;
                continue;
            }
        }
    };
}

/// A conversation the lifecycle step failed on waits this long before it is tried again, so a
/// run of bad rows never fills every batch.
pub const QUARANTINE_MS: i64 = 60 * 60 * 1000;

/// A status and/or assignment change inside the caller's transaction (`PATCH
/// /conversations/{id}`, or an agent's `#close` by email in their reply's transaction),
/// recording an event for each actual change with the change's actor.
macro_rules! apply_lifecycle {
    ($tx:ident, $conversation_id:expr, $change:expr, $now:expr) => {{
        let conversation_id: &str = $conversation_id;
        let change: &$crate::store::LifecycleChange = $change;
        let now: i64 = $now;
        let actor = change.actor_id.as_deref();
            let row = sqlx::query($crate::store::ConnDialect::pick(
                &*$tx,
                "SELECT status, assignee_id, snoozed_until, wake_status, subject FROM conversations WHERE id = $1",
                "SELECT status, assignee_id, snoozed_until, wake_status, subject FROM conversations WHERE id = $1
                 FOR NO KEY UPDATE",
            ))
            .bind(conversation_id)
            .fetch_optional(&mut *$tx)
            .await?
            .ok_or($crate::store::StoreError::NotFound("conversation"))?;
            let status: String = row.try_get("status")?;
            let status = $crate::store::lifecycle::decode_status(&status)?;
            let assignee: Option<String> = row.try_get("assignee_id")?;
            let snoozed_until: Option<i64> = row.try_get("snoozed_until")?;
            let wake_status: Option<String> = row.try_get("wake_status")?;
            let subject: String = row.try_get("subject")?;
            if let Some(next) = change.subject.as_deref().filter(|next| *next != subject) {
                sqlx::query("UPDATE conversations SET subject = $2, updated_at = $3 WHERE id = $1")
                    .bind(conversation_id)
                    .bind(next)
                    .bind(now)
                    .execute(&mut *$tx)
                    .await?;
                $crate::store::lifecycle::record_event!($tx, conversation_id, $crate::store::EventKind::SubjectChanged, actor,
                    serde_json::json!({"from": subject, "to": next}), now);
                $crate::store::search_index::reindex_subject!($tx, conversation_id, next);
            }

            match change.status {
                None => {}
                Some($crate::store::StatusChange::To($crate::store::ConversationStatus::Snoozed)) => {
                    return Err($crate::store::StoreError::Conflict("snoozing needs a time to wake up"));
                }
                Some($crate::store::StatusChange::To(next)) if next != status => {
                    sqlx::query(
                        "UPDATE conversations
                         SET status = $2, snoozed_until = NULL, wake_status = NULL, updated_at = $3,
                             last_activity_at = CASE WHEN $2 = 'closed' THEN last_activity_at ELSE $3 END
                         WHERE id = $1",
                    )
                    .bind(conversation_id)
                    .bind(next.as_str())
                    .bind(now)
                    .execute(&mut *$tx)
                    .await?;
                    $crate::store::lifecycle::record_event!($tx, conversation_id, $crate::store::EventKind::StatusChanged, actor,
                        serde_json::json!({"from": status.as_str(), "to": next.as_str()}), now);
                }
                Some($crate::store::StatusChange::To(_)) => {}
                Some($crate::store::StatusChange::SnoozeUntil(until)) if snoozed_until != Some(until) => {
                    // Re-snoozing keeps the status it had before the first snooze.
                    let wake_to = match status {
                        $crate::store::ConversationStatus::Snoozed => match wake_status.as_deref() {
                            Some(s) => $crate::store::lifecycle::decode_status(s)?,
                            None => $crate::store::ConversationStatus::Open,
                        },
                        other => other,
                    };
                    sqlx::query(
                        "UPDATE conversations
                         SET status = 'snoozed', snoozed_until = $2, wake_status = $3, updated_at = $4
                         WHERE id = $1",
                    )
                    .bind(conversation_id)
                    .bind(until)
                    .bind(wake_to.as_str())
                    .bind(now)
                    .execute(&mut *$tx)
                    .await?;
                    $crate::store::lifecycle::record_event!($tx, conversation_id, $crate::store::EventKind::Snoozed, actor,
                        serde_json::json!({"from": status.as_str(), "until": $crate::domain::rfc3339(until), "wake_to": wake_to.as_str()}),
                        now);
                }
                Some($crate::store::StatusChange::SnoozeUntil(_)) => {}
            }

            match &change.assignee {
                Some(Some(next)) if assignee.as_ref() != Some(next) => {
                    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM people WHERE id = $1 AND erased_at IS NULL")
                        .bind(next)
                        .fetch_optional(&mut *$tx)
                        .await?;
                    if exists.is_none() {
                        return Err($crate::store::StoreError::NotFound("assignee"));
                    }
                    sqlx::query("UPDATE conversations SET assignee_id = $2, updated_at = $3 WHERE id = $1")
                        .bind(conversation_id)
                        .bind(next)
                        .bind(now)
                        .execute(&mut *$tx)
                        .await?;
                    $crate::store::lifecycle::record_event!($tx, conversation_id, $crate::store::EventKind::Assigned, actor,
                        serde_json::json!({"assignee_id": next, "previous_assignee_id": assignee}), now);
                    // The assignee takes part from now on (the list's "Mine" is theirs, replies
                    // by email work) and is told once, unless they assigned themselves.
                    let token = $crate::domain::ReplyToken::generate();
                    if $crate::store::conversations::join_participant!($tx, conversation_id, next, token.as_str(), now) {
                        $crate::store::lifecycle::record_event!($tx, conversation_id, $crate::store::EventKind::ParticipantAdded, actor,
                            serde_json::json!({"person_id": next}), now);
                    }
                    sqlx::query($crate::store::lifecycle::CLEAR_ASSIGNMENT_NOTICES).bind(conversation_id).execute(&mut *$tx).await?;
                    if actor != Some(next.as_str()) {
                        sqlx::query("UPDATE participants SET assigned_by = $3 WHERE conversation_id = $1 AND person_id = $2")
                            .bind(conversation_id)
                            .bind(next)
                            .bind(actor.unwrap_or(""))
                            .execute(&mut *$tx)
                            .await?;
                    }
                }
                Some(None) if assignee.is_some() => {
                    sqlx::query("UPDATE conversations SET assignee_id = NULL, updated_at = $2 WHERE id = $1")
                        .bind(conversation_id)
                        .bind(now)
                        .execute(&mut *$tx)
                        .await?;
                    // Unassigning tells no one, not even an assignment not yet told.
                    sqlx::query($crate::store::lifecycle::CLEAR_ASSIGNMENT_NOTICES).bind(conversation_id).execute(&mut *$tx).await?;
                    $crate::store::lifecycle::record_event!($tx, conversation_id, $crate::store::EventKind::Unassigned, actor,
                        serde_json::json!({"assignee_id": assignee}), now);
                }
                _ => {}
            }
    }};
}
pub(super) use apply_lifecycle;

/// Forgets the conversation's assignment not yet told (it was unassigned or reassigned).
pub(super) const CLEAR_ASSIGNMENT_NOTICES: &str = "UPDATE participants SET assigned_by = NULL WHERE conversation_id = $1 AND assigned_by IS NOT NULL";

impl Store {
    /// Applies a status and/or assignment change in one transaction, recording an event for
    /// each actual change (none when the conversation already is as asked). Returns the
    /// conversation as it is now. `NotFound("conversation")` or `NotFound("assignee")`.
    pub async fn change_lifecycle(
        &self,
        conversation_id: &str,
        change: &LifecycleChange,
    ) -> Result<Conversation> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            apply_lifecycle!(tx, conversation_id, change, now);
            tx.commit().await?;
        });
        self.conversation(conversation_id)
            .await?
            .ok_or(StoreError::NotFound("conversation"))
    }

    /// Soft-deletes a message: it stays in the history, marked with when and by whom, and an
    /// event is recorded. `NotFound("message")` for an unknown id; `Conflict` when it already
    /// was deleted (the first deletion's time and author stay).
    pub async fn delete_message(
        &self,
        message_id: &str,
        actor_id: Option<&str>,
    ) -> Result<DeletedMessage> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let conversation_id: Option<String> = sqlx::query_scalar(
                "UPDATE messages SET deleted_at = $2, deleted_by = $3
                 WHERE id = $1 AND deleted_at IS NULL
                 RETURNING conversation_id",
            )
            .bind(message_id)
            .bind(now)
            .bind(actor_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(conversation_id) = conversation_id else {
                let exists: Option<String> = sqlx::query_scalar("SELECT id FROM messages WHERE id = $1")
                    .bind(message_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                return Err(match exists {
                    Some(_) => StoreError::Conflict("this message was already deleted"),
                    None => StoreError::NotFound("message"),
                });
            };
            // A deleted message is found by no one from this transaction on.
            crate::store::search_index::unindex_message!(tx, message_id);
            record_event!(tx, &conversation_id, EventKind::MessageDeleted, actor_id,
                json!({"message_id": message_id}), now);
            tx.commit().await?;
            Ok(DeletedMessage {
                id: message_id.to_string(),
                conversation_id,
                deleted_at: now,
                deleted_by: actor_id.map(str::to_string),
            })
        })
    }

    /// Brings a deleted message back (staff): everyone who may see its kind sees it again and
    /// search finds it again; nothing is emailed anew (it keeps its place and sequence number,
    /// which the planner has already passed). Returns its conversation; `Conflict` when it
    /// is not deleted, `NotFound` when there is no such message.
    pub async fn restore_message(
        &self,
        message_id: &str,
        actor_id: Option<&str>,
    ) -> Result<String> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query(
                "UPDATE messages SET deleted_at = NULL, deleted_by = NULL
                 WHERE id = $1 AND deleted_at IS NOT NULL
                   AND author_id NOT IN (SELECT id FROM people WHERE erased_at IS NOT NULL)
                 RETURNING conversation_id, kind, body_text",
            )
            .bind(message_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                let author_erased: Option<bool> = sqlx::query_scalar(
                    "SELECT p.erased_at IS NOT NULL FROM messages m JOIN people p ON p.id = m.author_id
                     WHERE m.id = $1",
                )
                .bind(message_id)
                .fetch_optional(&mut *tx)
                .await?;
                return Err(match author_erased {
                    Some(true) => StoreError::Conflict("its author was erased: nothing is left to restore"),
                    Some(false) => StoreError::Conflict("this message is not deleted"),
                    None => StoreError::NotFound("message"),
                });
            };
            let conversation_id: String = row.try_get("conversation_id")?;
            let kind: String = row.try_get("kind")?;
            let body: String = row.try_get("body_text")?;
            let files: Vec<String> = sqlx::query_scalar(
                "SELECT filename FROM attachments WHERE message_id = $1 ORDER BY id",
            )
            .bind(message_id)
            .fetch_all(&mut *tx)
            .await?;
            let text = crate::store::search_index::message_text(&body, files.iter().map(String::as_str));
            crate::store::search_index::index_doc!(tx, Some(message_id), &conversation_id, kind.as_str(), &text);
            record_event!(tx, &conversation_id, EventKind::MessageRestored, actor_id,
                json!({"message_id": message_id}), now);
            tx.commit().await?;
            Ok(conversation_id)
        })
    }

    /// A conversation's history of changes, oldest first.
    pub async fn conversation_events(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<ConversationEvent>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, conversation_id, kind, actor_id, data, created_at
                 FROM conversation_events WHERE conversation_id = $1 ORDER BY seq",
            )
            .bind(conversation_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let data: String = row.try_get("data")?;
                    Ok(ConversationEvent {
                        id: row.try_get("id")?,
                        conversation_id: row.try_get("conversation_id")?,
                        kind: row.try_get("kind")?,
                        actor_id: row.try_get("actor_id")?,
                        data: serde_json::from_str(&data).map_err(|e| {
                            StoreError::Database(sqlx::Error::Decode(e.into()))
                        })?,
                        created_at: row.try_get("created_at")?,
                    })
                })
                .collect()
        })
    }

    /// Wakes up to `limit` snoozed conversations whose time has come, each to the status it had
    /// (event `woke_up`, no actor). Waking restarts the auto-close clock.
    pub async fn wake_snoozed(&self, limit: i64) -> Result<Sweep> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let due = sqlx::query(pool.pick(
                "SELECT id, wake_status FROM conversations
                 WHERE status = 'snoozed' AND snoozed_until <= $1
                   AND id NOT IN (SELECT item FROM work_failures
                                  WHERE job = 'lifecycle' AND last_failed_at > $3)
                 ORDER BY snoozed_until LIMIT $2",
                "SELECT id, wake_status FROM conversations
                 WHERE status = 'snoozed' AND snoozed_until <= $1
                   AND id NOT IN (SELECT item FROM work_failures
                                  WHERE job = 'lifecycle' AND last_failed_at > $3)
                 ORDER BY snoozed_until LIMIT $2
                 FOR NO KEY UPDATE SKIP LOCKED",
            ))
            .bind(now)
            .bind(limit)
            .bind(now - QUARANTINE_MS)
            .fetch_all(&mut *tx)
            .await?;
            let mut sweep = Sweep { claimed: due.len(), changed: 0, failed: 0 };
            for row in &due {
                let id: String = row.try_get("id")?;
                let read = || -> Result<ConversationStatus> {
                    let wake_status: Option<String> = row.try_get("wake_status")?;
                    Ok(match wake_status.as_deref() {
                        Some(s) => decode_status(s)?,
                        None => ConversationStatus::Open,
                    })
                };
                let to = readable_or_skip!(read(), tx, id, sweep, now, "waking a snoozed conversation");
                let done = sqlx::query(
                    "UPDATE conversations
                     SET status = $2, snoozed_until = NULL, wake_status = NULL,
                         last_activity_at = $3, updated_at = $3
                     WHERE id = $1 AND status = 'snoozed' AND snoozed_until <= $3",
                )
                .bind(&id)
                .bind(to.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    record_event!(tx, &id, EventKind::WokeUp, None,
                        json!({"from": "snoozed", "to": to.as_str()}), now);
                    sweep.changed += 1;
                }
            }
            tx.commit().await?;
            Ok(sweep)
        })
    }

    /// Archives (or unarchives) a conversation: it leaves (or comes back to) every list but
    /// the archive's. False when it already was so; `NotFound` for no such conversation.
    pub async fn set_archived(
        &self,
        id: &str,
        archived: bool,
        actor_id: Option<&str>,
    ) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(
                "UPDATE conversations SET archived_at = CASE WHEN $2 THEN $3 ELSE NULL END,
                        updated_at = $3
                 WHERE id = $1 AND (archived_at IS NULL) = $2",
            )
            .bind(id)
            .bind(archived)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                let exists: Option<String> = sqlx::query_scalar("SELECT id FROM conversations WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                return match exists {
                    Some(_) => Ok(false),
                    None => Err(StoreError::NotFound("conversation")),
                };
            }
            let kind = if archived { EventKind::Archived } else { EventKind::Unarchived };
            record_event!(tx, id, kind, actor_id, json!({}), now);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// "Wake now": a snoozed conversation goes back to the status it had before its time
    /// (event `woke_up` with the actor). False when it is not snoozed (already woken).
    pub async fn wake_now(&self, id: &str, actor_id: Option<&str>) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let to: Option<String> = sqlx::query_scalar(
                "UPDATE conversations
                 SET status = COALESCE(wake_status, 'open'), snoozed_until = NULL,
                     wake_status = NULL, last_activity_at = $2, updated_at = $2
                 WHERE id = $1 AND status = 'snoozed'
                 RETURNING status",
            )
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(to) = to else { return Ok(false) };
            record_event!(tx, id, EventKind::WokeUp, actor_id,
                json!({"from": "snoozed", "to": to}), now);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Closes up to `limit` open or pending conversations without activity for
    /// `inactive_for_ms` (event `auto_closed`, no actor).
    pub async fn close_inactive(&self, inactive_for_ms: i64, limit: i64) -> Result<Sweep> {
        let now = self.now();
        let cutoff = now.saturating_sub(inactive_for_ms);
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let due = sqlx::query(pool.pick(
                "SELECT id, status, last_activity_at FROM conversations
                 WHERE status IN ('open', 'pending') AND last_activity_at <= $1
                   AND id NOT IN (SELECT item FROM work_failures
                                  WHERE job = 'lifecycle' AND last_failed_at > $3)
                 ORDER BY last_activity_at LIMIT $2",
                "SELECT id, status, last_activity_at FROM conversations
                 WHERE status IN ('open', 'pending') AND last_activity_at <= $1
                   AND id NOT IN (SELECT item FROM work_failures
                                  WHERE job = 'lifecycle' AND last_failed_at > $3)
                 ORDER BY last_activity_at LIMIT $2
                 FOR NO KEY UPDATE SKIP LOCKED",
            ))
            .bind(cutoff)
            .bind(limit)
            .bind(now - QUARANTINE_MS)
            .fetch_all(&mut *tx)
            .await?;
            let mut sweep = Sweep { claimed: due.len(), changed: 0, failed: 0 };
            for row in &due {
                let id: String = row.try_get("id")?;
                let read = || -> Result<(String, i64)> {
                    Ok((row.try_get("status")?, row.try_get("last_activity_at")?))
                };
                let (from, last_activity_at) =
                    readable_or_skip!(read(), tx, id, sweep, now, "closing an inactive conversation");
                let done = sqlx::query(
                    "UPDATE conversations SET status = 'closed', updated_at = $3
                     WHERE id = $1 AND status = $2 AND last_activity_at <= $4",
                )
                .bind(&id)
                .bind(&from)
                .bind(now)
                .bind(cutoff)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    record_event!(tx, &id, EventKind::AutoClosed, None,
                        json!({"from": from, "to": "closed", "last_activity_at": rfc3339(last_activity_at)}),
                        now);
                    sweep.changed += 1;
                }
            }
            tx.commit().await?;
            Ok(sweep)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for status in ConversationStatus::ALL {
            assert_eq!(ConversationStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ConversationStatus::parse("archived"), None);
    }

    #[test]
    fn clients_open_and_agents_make_pending() {
        use ConversationStatus::*;
        use MessageEffect::*;
        assert_eq!(Open.after_message(Role::Client), Unchanged);
        assert_eq!(Closed.after_message(Role::Client), Become(Open));
        assert_eq!(Pending.after_message(Role::Client), Become(Open));
        assert_eq!(Snoozed.after_message(Role::Client), Become(Open));
        assert_eq!(Open.after_message(Role::Internal), Become(Pending));
        assert_eq!(Closed.after_message(Role::Internal), Become(Pending));
        assert_eq!(Pending.after_message(Role::Internal), Unchanged);
        assert_eq!(Snoozed.after_message(Role::Internal), WakeTo(Pending));
    }
}
