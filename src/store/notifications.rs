use super::people::person_from_row;
use super::{Dialect, Person, Result, Store, StoreError, on_backend};
use crate::domain::{MessageKind, Millis, ReplyToken};
use sqlx::Row;

/// A participant with messages they have not been notified about.
#[derive(Debug, Clone)]
pub struct DueParticipant {
    pub conversation_id: String,
    pub subject: String,
    pub conversation_created_at: Millis,
    pub person: Person,
    pub reply_token: ReplyToken,
    /// The mark the plan was made from; enqueueing succeeds only if it is unchanged.
    pub notified_up_to: i64,
    pub last_email_id: Option<String>,
    /// Message-IDs of the recent notifications to this person in this conversation, oldest first.
    pub references: Vec<String>,
    pub emails_sent: i64,
    pub messages: Vec<PendingMessage>,
}

#[derive(Debug, Clone)]
pub struct PendingMessage {
    pub id: String,
    pub seq: i64,
    pub kind: MessageKind,
    pub body_text: String,
    pub author_id: String,
    pub author_name: String,
    pub created_at: Millis,
}

/// The planner's decision for one participant: advance the mark to `up_to` and, when there is
/// something for them to read, queue `email`.
#[derive(Debug, Clone)]
pub struct PlannedEmail {
    pub conversation_id: String,
    pub person_id: String,
    pub expected_up_to: i64,
    pub up_to: i64,
    pub email: Option<NewOutboxEmail>,
}

#[derive(Debug, Clone)]
pub struct NewOutboxEmail {
    pub id: String,
    pub envelope_from: String,
    pub recipient: String,
    pub message_id: String,
    /// Space-separated Message-IDs to remember for the next email's References.
    pub references: String,
    pub data: Vec<u8>,
}

impl Store {
    /// Participants with unseen messages, up to `limit` of them, each with its pending messages
    /// (at most 200, oldest first).
    pub async fn due_notifications(&self, limit: i64) -> Result<Vec<DueParticipant>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT p.conversation_id, p.reply_token, p.notified_up_to, p.last_email_id,
                        p.email_references, p.emails_sent, c.subject, c.created_at AS conversation_created_at,
                        pe.id, pe.email, pe.name, pe.role, pe.created_at, pe.email_status
                 FROM participants p
                 JOIN conversations c ON c.id = p.conversation_id
                 JOIN people pe ON pe.id = p.person_id
                 WHERE p.removed_at IS NULL
                   AND p.notified_up_to < (SELECT COALESCE(MAX(m.seq), 0) FROM messages m
                                           WHERE m.conversation_id = p.conversation_id)
                 LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let mut due = Vec::with_capacity(rows.len());
            for row in &rows {
                let token: String = row.try_get("reply_token")?;
                let references: String = row.try_get("email_references")?;
                let conversation_id: String = row.try_get("conversation_id")?;
                let notified_up_to: i64 = row.try_get("notified_up_to")?;
                let messages = sqlx::query(
                    "SELECT m.id, m.seq, m.kind, m.body_text, m.author_id, a.name AS author_name, m.created_at
                     FROM messages m JOIN people a ON a.id = m.author_id
                     WHERE m.conversation_id = $1 AND m.seq > $2
                     ORDER BY m.seq LIMIT 200",
                )
                .bind(&conversation_id)
                .bind(notified_up_to)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|m| {
                    let kind: String = m.try_get("kind")?;
                    Ok(PendingMessage {
                        id: m.try_get("id")?,
                        seq: m.try_get("seq")?,
                        kind: MessageKind::parse(&kind)
                            .ok_or(StoreError::Database(sqlx::Error::Decode("unknown kind".into())))?,
                        body_text: m.try_get("body_text")?,
                        author_id: m.try_get("author_id")?,
                        author_name: m.try_get("author_name")?,
                        created_at: m.try_get("created_at")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
                due.push(DueParticipant {
                    conversation_id,
                    subject: row.try_get("subject")?,
                    conversation_created_at: row.try_get("conversation_created_at")?,
                    person: person_from_row(row)?,
                    reply_token: ReplyToken::parse(&token)
                        .ok_or(StoreError::Database(sqlx::Error::Decode("malformed reply token".into())))?,
                    notified_up_to,
                    last_email_id: row.try_get("last_email_id")?,
                    references: references.split_whitespace().map(str::to_string).collect(),
                    emails_sent: row.try_get("emails_sent")?,
                    messages,
                });
            }
            Ok(due)
        })
    }

    /// Commits a plan: in ONE transaction, moves the participant's "notified up to" mark and
    /// queues the email, so a crash neither loses nor repeats a notification. The mark is
    /// compared-and-set: when another process (or an earlier tick) already moved it, nothing
    /// is queued and this returns false.
    pub async fn enqueue_notification(&self, plan: &PlannedEmail) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let moved = match &plan.email {
                Some(email) => sqlx::query(
                    "UPDATE participants
                     SET notified_up_to = $4, last_email_id = $5, email_references = $6,
                         emails_sent = emails_sent + 1
                     WHERE conversation_id = $1 AND person_id = $2 AND notified_up_to = $3
                       AND removed_at IS NULL",
                )
                .bind(&plan.conversation_id)
                .bind(&plan.person_id)
                .bind(plan.expected_up_to)
                .bind(plan.up_to)
                .bind(&email.message_id)
                .bind(&email.references)
                .execute(&mut *tx)
                .await?,
                None => sqlx::query(
                    "UPDATE participants SET notified_up_to = $4
                     WHERE conversation_id = $1 AND person_id = $2 AND notified_up_to = $3",
                )
                .bind(&plan.conversation_id)
                .bind(&plan.person_id)
                .bind(plan.expected_up_to)
                .bind(plan.up_to)
                .execute(&mut *tx)
                .await?,
            };
            if moved.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            if let Some(email) = &plan.email {
                sqlx::query(
                    "INSERT INTO outbox (id, created_at, conversation_id, person_id, envelope_from,
                                         recipient, message_id, data, next_attempt_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $2)",
                )
                .bind(&email.id)
                .bind(now)
                .bind(&plan.conversation_id)
                .bind(&plan.person_id)
                .bind(&email.envelope_from)
                .bind(&email.recipient)
                .bind(&email.message_id)
                .bind(&email.data)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }
}
