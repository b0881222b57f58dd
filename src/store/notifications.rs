use super::people::person_from_row;
use super::{Dialect, Person, Result, Store, StoreError, on_backend};
use crate::domain::{Locale, MessageKind, Millis, NotifyMode, ReplyToken};
use sqlx::Row;
use std::collections::HashMap;

/// A participant with messages they have not been notified about, and may be now.
#[derive(Debug, Clone)]
pub struct DueParticipant {
    pub conversation_id: String,
    /// The sending domain the conversation's emails go out from (None: the default).
    pub domain: Option<String>,
    pub subject: String,
    pub conversation_created_at: Millis,
    pub person: Person,
    pub mode: NotifyMode,
    pub locale: Locale,
    /// Their time zone (None: the gateway's default).
    pub time_zone: Option<crate::domain::TimeZone>,
    /// Blocked people and muted conversations get nothing.
    pub blocked: bool,
    pub muted: bool,
    pub reply_token: ReplyToken,
    /// The mark the plan was made from; enqueueing succeeds only if it is unchanged.
    pub notified_up_to: i64,
    pub last_email_id: Option<String>,
    /// Message-IDs of the recent notifications to this person in this conversation, oldest first.
    pub references: Vec<String>,
    pub emails_sent: i64,
    /// Messages past the mark, oldest first (the latest [`MAX_PENDING`] of them).
    pub messages: Vec<PendingMessage>,
    /// Unseen messages older than those, not loaded.
    pub omitted: usize,
    /// The conversation's last message seq when planned: where the mark moves to.
    pub last_seq: i64,
    /// The subject of the first email they got about it: later ones keep it (None before the
    /// first), so a subject changed since never splits their thread.
    pub thread_subject: Option<String>,
    /// They were assigned the conversation and not yet told: by whom (a person's id, or ''
    /// for an admin or the API) and that person's name.
    pub assigned_by: Option<(String, Option<String>)>,
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
    /// The files it carries, inline images included, in order.
    pub files: Vec<PendingFile>,
}

/// A file of a pending message: what its notification attaches, shows inline or links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingFile {
    /// The attachment's id (download links name it).
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// Where its bytes are in the blob store.
    pub sha256: String,
    /// An image the message showed in its text (`cid:`), not a file it carried.
    pub inline: bool,
    /// Not kept (too big when it came in), and why: named, never attached or linked.
    pub omitted: Option<String>,
}

/// One page of [`Store::due_notifications_after`].
#[derive(Debug, Default)]
pub struct DuePage {
    pub due: Vec<DueParticipant>,
    /// Participants whose row could not be read.
    pub broken: Vec<BrokenDue>,
    /// Messages that could not be read (id, reason): left out of every email.
    pub broken_messages: Vec<(String, String)>,
    /// The key of the last row read (the next page starts after it).
    pub last: Option<(String, String)>,
    /// Rows read, broken ones included: a page shorter than the limit is the last.
    pub rows: usize,
}

/// A due participant whose row could not be read.
#[derive(Debug, Clone)]
pub struct BrokenDue {
    pub conversation_id: String,
    pub person_id: String,
    pub reason: String,
    /// The mark and the conversation's last seq, when those could be read.
    pub marks: Option<(i64, i64)>,
}

impl BrokenDue {
    /// `<conversation id>/<person id>`, as failures are recorded.
    pub fn item(&self) -> String {
        format!("{}/{}", self.conversation_id, self.person_id)
    }
}

fn malformed(what: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(format!("malformed {what}").into()))
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
    /// The subject the email was written with: kept for their later emails if it is the first.
    pub thread_subject: Option<String>,
    /// The assignment notice this plan consumes (told by `email`, or not to be told: they get
    /// no email): committed only if it is still the one pending.
    pub assigned_by: Option<String>,
    /// Why nothing could be planned for them (recorded with the mark's move, in the same
    /// transaction): the email could not be composed, or their row not read.
    pub failure: Option<String>,
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

/// At most this many unseen messages are loaded per participant (the planner filters them by
/// visibility and shows the latest).
pub const MAX_PENDING: usize = 1000;

impl Store {
    /// Participants with unseen messages who may be emailed now, up to `limit` of them: digest
    /// readers only when their last email is at least `digest_interval_ms` old (or they have
    /// caught up since), everyone else at once (including people who get nothing, so their
    /// mark moves on).
    pub async fn due_notifications(
        &self,
        limit: i64,
        digest_interval_ms: i64,
    ) -> Result<Vec<DueParticipant>> {
        Ok(self
            .due_notifications_after(None, limit, digest_interval_ms)
            .await?
            .due)
    }

    /// [`Store::due_notifications`], in (conversation, person) order after `after` — a pass
    /// pages through with this, so each batch reads only new rows. Rows that cannot be read
    /// (a participant, or one message) come back in [`DuePage::broken`]: one bad row never
    /// hides the others.
    pub async fn due_notifications_after(
        &self,
        after: Option<(&str, &str)>,
        limit: i64,
        digest_interval_ms: i64,
    ) -> Result<DuePage> {
        let (after_conversation, after_person) = after.unwrap_or(("", ""));
        let now = self.now();
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT p.conversation_id, p.person_id, p.reply_token, p.notified_up_to, p.last_email_id,
                        p.email_references, p.emails_sent, p.muted, c.subject,
                        p.thread_subject, p.assigned_by,
                        c.created_at AS conversation_created_at, c.domain,
                        pe.id, pe.email, pe.name, pe.role, pe.created_at, pe.email_status,
                        pe.notifications, pe.locale, pe.time_zone, pe.blocked, c.last_seq
                 FROM participants p
                 JOIN conversations c ON c.id = p.conversation_id
                 JOIN people pe ON pe.id = p.person_id
                 WHERE (p.conversation_id, p.person_id) > ($3, $4)
                   AND p.removed_at IS NULL
                   AND ((p.notified_up_to < c.last_seq
                         AND (pe.notifications <> 'digest' OR p.last_emailed_at IS NULL
                              OR p.last_emailed_at <= $2))
                        OR p.assigned_by IS NOT NULL)
                 ORDER BY p.conversation_id, p.person_id
                 LIMIT $1",
            )
            .bind(limit)
            .bind(now - digest_interval_ms)
            .bind(after_conversation)
            .bind(after_person)
            .fetch_all(pool)
            .await?;
            let mut page = DuePage { rows: rows.len(), ..DuePage::default() };
            let mut due = Vec::with_capacity(rows.len());
            for row in &rows {
                // The key pages on: both are primary-key text columns.
                let conversation_id: String = row.try_get("conversation_id")?;
                let person_id: String = row.try_get("person_id")?;
                let read = || -> Result<DueParticipant> {
                    let token: String = row.try_get("reply_token")?;
                    let references: String = row.try_get("email_references")?;
                    let mode: String = row.try_get("notifications")?;
                    let locale: String = row.try_get("locale")?;
                    let time_zone: Option<String> = row.try_get("time_zone")?;
                    let muted: i64 = row.try_get("muted")?;
                    let blocked: i64 = row.try_get("blocked")?;
                    Ok(DueParticipant {
                        conversation_id: conversation_id.clone(),
                        domain: row.try_get("domain")?,
                        subject: row.try_get("subject")?,
                        conversation_created_at: row.try_get("conversation_created_at")?,
                        person: person_from_row(row)?,
                        mode: NotifyMode::parse(&mode).unwrap_or(NotifyMode::Digest),
                        locale: Locale::parse(&locale).unwrap_or(Locale::En),
                        time_zone: time_zone.as_deref().and_then(crate::domain::TimeZone::parse),
                        blocked: blocked != 0,
                        muted: muted != 0,
                        reply_token: ReplyToken::parse(&token).ok_or_else(|| malformed("reply token"))?,
                        notified_up_to: row.try_get("notified_up_to")?,
                        last_email_id: row.try_get("last_email_id")?,
                        references: references.split_whitespace().map(str::to_string).collect(),
                        emails_sent: row.try_get("emails_sent")?,
                        messages: Vec::new(),
                        omitted: 0,
                        last_seq: row.try_get("last_seq")?,
                        thread_subject: row.try_get("thread_subject")?,
                        // The name of who assigned them is read below, for these few rows only.
                        assigned_by: row
                            .try_get::<Option<String>, _>("assigned_by")?
                            .map(|by| (by, None)),
                    })
                };
                match read() {
                    Ok(d) => due.push(d),
                    Err(err) => page.broken.push(BrokenDue {
                        // Where the mark would move to, when those columns at least are readable.
                        marks: row
                            .try_get::<i64, _>("notified_up_to")
                            .and_then(|from| Ok((from, row.try_get::<i64, _>("last_seq")?)))
                            .ok(),
                        conversation_id: conversation_id.clone(),
                        person_id: person_id.clone(),
                        reason: format!("reading the participant: {err}"),
                    }),
                }
                page.last = Some((conversation_id, person_id));
            }

            for d in &mut due {
                if let Some((by, name)) = &mut d.assigned_by
                    && !by.is_empty()
                {
                    *name = sqlx::query_scalar("SELECT name FROM people WHERE id = $1")
                        .bind(&*by)
                        .fetch_optional(pool)
                        .await?;
                }
            }
            // One query per conversation in the batch (not per participant): everyone in a
            // conversation reads from the same slice of its history.
            let mut lowest: HashMap<String, i64> = HashMap::new();
            for d in &due {
                let entry = lowest.entry(d.conversation_id.clone()).or_insert(d.notified_up_to);
                *entry = (*entry).min(d.notified_up_to);
            }
            let mut history: HashMap<String, Vec<PendingMessage>> = HashMap::with_capacity(lowest.len());
            for (conversation_id, from) in lowest {
                let rows = sqlx::query(
                    "SELECT m.id, m.seq, m.kind, m.body_text, m.author_id, a.name AS author_name, m.created_at
                     FROM messages m JOIN people a ON a.id = m.author_id
                     WHERE m.conversation_id = $1 AND m.seq > $2 AND m.deleted_at IS NULL
                     ORDER BY m.seq",
                )
                .bind(&conversation_id)
                .bind(from)
                .fetch_all(pool)
                .await?;
                let mut messages = Vec::with_capacity(rows.len());
                for m in &rows {
                    let read = || -> Result<PendingMessage> {
                        let kind: String = m.try_get("kind")?;
                        Ok(PendingMessage {
                            id: m.try_get("id")?,
                            seq: m.try_get("seq")?,
                            kind: MessageKind::parse(&kind).ok_or_else(|| malformed("message kind"))?,
                            body_text: m.try_get("body_text")?,
                            author_id: m.try_get("author_id")?,
                            author_name: m.try_get("author_name")?,
                            created_at: m.try_get("created_at")?,
                            files: Vec::new(),
                        })
                    };
                    match read() {
                        Ok(message) => messages.push(message),
                        // Left out of every email (its visibility is unknown, so it is shown
                        // to nobody); the others in the conversation still go out.
                        Err(err) => page.broken_messages.push((
                            m.try_get::<String, _>("id").unwrap_or_else(|_| format!("{conversation_id}/?")),
                            format!("reading the message: {err}"),
                        )),
                    }
                }
                // Their files, in one more query for the same slice.
                let files = sqlx::query(
                    "SELECT t.message_id, t.id, t.filename, t.content_type, t.size, t.sha256, t.inline, t.omitted
                     FROM attachments t JOIN messages m ON m.id = t.message_id
                     WHERE m.conversation_id = $1 AND m.seq > $2 AND m.deleted_at IS NULL
                     ORDER BY m.seq, t.position",
                )
                .bind(&conversation_id)
                .bind(from)
                .fetch_all(pool)
                .await?;
                for f in &files {
                    let read = || -> Result<(String, PendingFile)> {
                        Ok((f.try_get("message_id")?, PendingFile {
                            id: f.try_get("id")?,
                            filename: f.try_get("filename")?,
                            content_type: f.try_get("content_type")?,
                            size: f.try_get("size")?,
                            sha256: f.try_get("sha256")?,
                            inline: f.try_get::<i64, _>("inline")? != 0,
                            omitted: f.try_get("omitted")?,
                        }))
                    };
                    // A file row that cannot be read is only not named: the email still goes.
                    let Ok((message_id, file)) = read() else {
                        continue;
                    };
                    if let Some(message) = messages.iter_mut().find(|m| m.id == message_id) {
                        message.files.push(file);
                    }
                }
                history.insert(conversation_id, messages);
            }
            for d in &mut due {
                let all = history.get(&d.conversation_id).map_or(&[][..], Vec::as_slice);
                let pending: Vec<PendingMessage> = all.iter().filter(|m| m.seq > d.notified_up_to).cloned().collect();
                d.omitted = pending.len().saturating_sub(MAX_PENDING);
                d.messages = pending.into_iter().skip(d.omitted).collect();
            }
            // Deleted messages alone can leave nothing pending: the mark moves past them.
            page.due = due;
            Ok(page)
        })
    }

    /// The highest message seq of a conversation (deleted messages included).
    pub async fn last_seq(&self, conversation_id: &str) -> Result<i64> {
        on_backend!(self, pool => {
            let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = $1")
                .bind(conversation_id)
                .fetch_one(pool)
                .await?;
            Ok(seq)
        })
    }

    /// Commits plans in ONE transaction: each moves its participant's "notified up to" mark
    /// and queues its email together, so a crash neither loses nor repeats a notification. Each
    /// mark is compared-and-set: a plan whose mark moved meanwhile (another process, a read)
    /// queues nothing. Returns, for each plan, whether it was committed.
    pub async fn enqueue_notifications(&self, plans: &[PlannedEmail]) -> Result<Vec<bool>> {
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut committed = Vec::with_capacity(plans.len());
            for plan in plans {
                let moved = match &plan.email {
                    // An assignment notice ($8) is consumed only if it is still the pending one
                    // (not unassigned or reassigned since): it is told once, or not at all.
                    Some(email) => sqlx::query(
                        "UPDATE participants
                         SET notified_up_to = $4, last_email_id = $5, email_references = $6,
                             emails_sent = emails_sent + 1, last_emailed_at = $7,
                             assigned_by = CASE WHEN CAST($8 AS TEXT) IS NULL THEN assigned_by END,
                             thread_subject = COALESCE(thread_subject, $9)
                         WHERE conversation_id = $1 AND person_id = $2 AND notified_up_to = $3
                           AND removed_at IS NULL
                           AND (CAST($8 AS TEXT) IS NULL OR assigned_by = $8)",
                    )
                    .bind(&plan.conversation_id)
                    .bind(&plan.person_id)
                    .bind(plan.expected_up_to)
                    .bind(plan.up_to)
                    .bind(&email.message_id)
                    .bind(&email.references)
                    .bind(now)
                    .bind(&plan.assigned_by)
                    .bind(&plan.thread_subject)
                    .execute(&mut *tx)
                    .await?,
                    None => sqlx::query(
                        "UPDATE participants
                         SET notified_up_to = $4,
                             assigned_by = CASE WHEN CAST($5 AS TEXT) IS NULL THEN assigned_by END
                         WHERE conversation_id = $1 AND person_id = $2 AND notified_up_to = $3
                           AND (CAST($5 AS TEXT) IS NULL OR assigned_by = $5)",
                    )
                    .bind(&plan.conversation_id)
                    .bind(&plan.person_id)
                    .bind(plan.expected_up_to)
                    .bind(plan.up_to)
                    .bind(&plan.assigned_by)
                    .execute(&mut *tx)
                    .await?,
                };
                let moved = moved.rows_affected() > 0;
                if moved && let Some(reason) = &plan.failure {
                    let item = format!("{}/{}", plan.conversation_id, plan.person_id);
                    super::failures::upsert_failure!(&mut *tx, super::failures::job::NOTIFY, &item, reason, now)?;
                }
                if moved && let Some(email) = &plan.email {
                    insert_outbox!(tx, email, Some((plan.conversation_id.as_str(), plan.person_id.as_str())), 1i64, now);
                }
                committed.push(moved);
            }
            tx.commit().await?;
            Ok(committed)
        })
    }

    /// One plan; true when it was committed (see [`Store::enqueue_notifications`]).
    pub async fn enqueue_notification(&self, plan: &PlannedEmail) -> Result<bool> {
        Ok(self
            .enqueue_notifications(std::slice::from_ref(plan))
            .await?[0])
    }

    /// The person has seen everything in the conversation (read it on the web, or replied):
    /// nothing already there is emailed, and their next new message goes out at the next tick.
    pub async fn mark_caught_up(&self, conversation_id: &str, person_id: &str) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            // Read through the API: seen, as opening the page.
            let done = sqlx::query(concat!(
                "UPDATE participants
                 SET notified_up_to = (SELECT last_seq FROM conversations WHERE id = $1), ",
                super::messages::read_mark_sql!(
                    "(SELECT last_seq FROM conversations WHERE id = $1)",
                    "$3"
                ),
                ", last_emailed_at = NULL
                 WHERE conversation_id = $1 AND person_id = $2 AND removed_at IS NULL",
            ))
            .bind(conversation_id)
            .bind(person_id)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Mutes (or unmutes) a conversation for one participant.
    pub async fn set_muted(
        &self,
        conversation_id: &str,
        person_id: &str,
        muted: bool,
    ) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query(SET_MUTED)
            .bind(conversation_id)
            .bind(person_id)
            .bind(i64::from(muted))
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}

/// Mutes (`$3` = 1) or unmutes a participant: the web view, the API and an unsubscribe email
/// (inside its record's transaction) all write this.
pub(super) const SET_MUTED: &str =
    "UPDATE participants SET muted = $3 WHERE conversation_id = $1 AND person_id = $2";

/// Inserts an outbox row inside the caller's transaction (expanded per backend, like every
/// query here).
macro_rules! insert_outbox {
    ($tx:expr, $email:expr, $about:expr, $priority:expr, $now:expr) => {{
        let email: &$crate::store::NewOutboxEmail = $email;
        let about: Option<(&str, &str)> = $about;
        sqlx::query(
            "INSERT INTO outbox (id, created_at, conversation_id, person_id, envelope_from,
                                 recipient, message_id, data, next_attempt_at, priority)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $2, $9)",
        )
        .bind(&email.id)
        .bind($now)
        .bind(about.map(|(c, _)| c))
        .bind(about.map(|(_, p)| p))
        .bind(&email.envelope_from)
        .bind(&email.recipient)
        .bind(&email.message_id)
        .bind(&email.data)
        .bind($priority)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(super) use insert_outbox;
