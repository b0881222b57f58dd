use super::people::person_from_row;
use super::sqlite_in_place::Columns;
use super::{Backend, Dialect, Person, Result, Store, StoreError, StoredEmail, on_backend};
use crate::domain::{Locale, MessageKind, Millis, NotifyMode, ReplyToken};
use sqlx::Row;
use std::collections::{HashMap, HashSet};

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
    /// The email, as the outbox row keeps it.
    pub data: StoredEmail,
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
        let since = self.now() - digest_interval_ms;
        let pool = match &self.backend {
            // In place, on a blocking thread: through sqlx every row of the page (500) and of
            // each conversation's history was a hand-off from the connection's thread.
            Backend::Sqlite { readers, .. } => {
                let readers = readers.clone();
                let after = (after_conversation.to_string(), after_person.to_string());
                return tokio::task::spawn_blocking(move || {
                    readers.read(|conn| due_page_in_place(conn, &after, limit, since))
                })
                .await
                .map_err(|e| StoreError::Batch(format!("reading due participants: {e}")))?;
            }
            Backend::Postgres { pool, .. } => pool,
        };
        let rows = sqlx::query(DUE_PAGE)
            .bind(limit)
            .bind(since)
            .bind(after_conversation)
            .bind(after_person)
            .fetch_all(pool)
            .await?;
        let mut page = DuePage::default();
        let mut due = Vec::with_capacity(rows.len());
        for row in &rows {
            page.take(row, &mut due)?;
        }
        for d in &mut due {
            if let Some((by, name)) = &mut d.assigned_by
                && !by.is_empty()
            {
                *name = sqlx::query_scalar(ASSIGNER_NAME)
                    .bind(&*by)
                    .fetch_optional(pool)
                    .await?;
            }
        }
        let mut history = HashMap::new();
        for (conversation_id, from) in lowest_marks(&due) {
            let rows = sqlx::query(PENDING_MESSAGES)
                .bind(&conversation_id)
                .bind(from)
                .fetch_all(pool)
                .await?;
            let mut messages = Vec::with_capacity(rows.len());
            for m in &rows {
                page.take_message(m, &conversation_id, &mut messages);
            }
            let files = sqlx::query(PENDING_FILES)
                .bind(&conversation_id)
                .bind(from)
                .fetch_all(pool)
                .await?;
            for f in &files {
                take_file(f, &mut messages);
            }
            history.insert(conversation_id, messages);
        }
        page.due = with_pending(due, &history);
        Ok(page)
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
    ///
    /// Set-oriented: the marks of the whole batch move in one statement (the plans as one JSON
    /// argument) that returns those it moved, and their emails go in by multi-row inserts, so a
    /// batch of 500 is a dozen statements rather than a thousand round trips.
    pub async fn enqueue_notifications(&self, plans: &[PlannedEmail]) -> Result<Vec<bool>> {
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let marks = marks_json(plans);
        let pool = match &self.backend {
            Backend::Sqlite {
                write,
                batch_writer,
                ..
            } => {
                // The writer pool's one connection is held while the batch writes in place:
                // no other writer of this process starts meanwhile.
                let _writer = write.acquire().await?;
                let writer = batch_writer.clone();
                let plans = plans.to_vec();
                return tokio::task::spawn_blocking(move || {
                    writer.write(|conn| enqueue_in_place(conn, &plans, &marks, now))
                })
                .await
                .map_err(|e| StoreError::Batch(format!("the notifications' commit: {e}")))?;
            }
            Backend::Postgres { pool, .. } => pool,
        };
        let mut tx = pool.begin_write().await?;
        let rows = sqlx::query(MOVE_MARKS_POSTGRES)
            .bind(&marks)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
        let mut moved = HashSet::with_capacity(rows.len());
        for row in &rows {
            moved.insert((row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?));
        }
        let committed = committed_of(plans, &moved);
        let moved = || {
            plans
                .iter()
                .zip(&committed)
                .filter(|(_, c)| **c)
                .map(|(p, _)| p)
        };
        for plan in moved() {
            // Recorded with the mark's move, so a failure is recorded once per message.
            if let Some(reason) = &plan.failure {
                let item = format!("{}/{}", plan.conversation_id, plan.person_id);
                super::failures::upsert_failure!(
                    &mut *tx,
                    super::failures::job::NOTIFY,
                    &item,
                    reason,
                    now
                )?;
            }
        }
        let emails: Vec<(&PlannedEmail, &NewOutboxEmail)> = moved()
            .filter_map(|plan| Some((plan, plan.email.as_ref()?)))
            .collect();
        let mut rest = &emails[..];
        while !rest.is_empty() {
            let (sql, rows) = insert_outbox_rows_sql(rest.len());
            let (chunk, after) = rest.split_at(rows);
            let mut query = sqlx::query(sql).bind(now).bind(NOTIFICATION_PRIORITY);
            for (plan, email) in chunk {
                query = query
                    .bind(&email.id)
                    .bind(&plan.conversation_id)
                    .bind(&plan.person_id)
                    .bind(&email.envelope_from)
                    .bind(&email.recipient)
                    .bind(&email.message_id)
                    .bind(email.data.as_bytes());
            }
            query.execute(&mut *tx).await?;
            rest = after;
        }
        tx.commit().await?;
        Ok(committed)
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

/// Due participants after a key (`$3`, `$4`), at most `$1`: those with unseen messages who may
/// be emailed now — a digest reader only when their last email is older than `$2` — and
/// those with an assignment to be told; in key order.
const DUE_PAGE: &str =
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
 LIMIT $1";

/// The name of who assigned a participant (`$1`).
const ASSIGNER_NAME: &str = "SELECT name FROM people WHERE id = $1";

/// A conversation's (`$1`) messages after seq `$2`, not deleted, in order, with their authors'
/// names: everyone of the conversation in a page reads from this one slice of its history.
const PENDING_MESSAGES: &str =
    "SELECT m.id, m.seq, m.kind, m.body_text, m.author_id, a.name AS author_name, m.created_at
 FROM messages m JOIN people a ON a.id = m.author_id
 WHERE m.conversation_id = $1 AND m.seq > $2 AND m.deleted_at IS NULL
 ORDER BY m.seq";

/// The files of [`PENDING_MESSAGES`]'s slice.
const PENDING_FILES: &str =
    "SELECT t.message_id, t.id, t.filename, t.content_type, t.size, t.sha256, t.inline, t.omitted
 FROM attachments t JOIN messages m ON m.id = t.message_id
 WHERE m.conversation_id = $1 AND m.seq > $2 AND m.deleted_at IS NULL
 ORDER BY m.seq, t.position";

/// [`Store::due_notifications_after`] on SQLite, on the calling thread: the same statements,
/// the same decoding.
fn due_page_in_place(
    conn: &rusqlite::Connection,
    (after_conversation, after_person): &(String, String),
    limit: i64,
    since: i64,
) -> Result<DuePage> {
    use super::sqlite_in_place::{for_each_row, read_row};
    use rusqlite::types::{Null, ToSql};
    let mut page = DuePage::default();
    let mut due = Vec::new();
    let args: [&dyn ToSql; 5] = [&Null, &limit, &since, after_conversation, after_person];
    for_each_row(conn, DUE_PAGE, &args, |row| page.take(row, &mut due))?;
    for d in &mut due {
        if let Some((by, name)) = &mut d.assigned_by
            && !by.is_empty()
        {
            *name = read_row(conn, ASSIGNER_NAME, &[&Null, by], |row| row.column("name"))?;
        }
    }
    let mut history = HashMap::new();
    for (conversation_id, from) in lowest_marks(&due) {
        let args: [&dyn ToSql; 3] = [&Null, &conversation_id, &from];
        let mut messages = Vec::new();
        for_each_row(conn, PENDING_MESSAGES, &args, |row| {
            page.take_message(row, &conversation_id, &mut messages);
            Ok(())
        })?;
        for_each_row(conn, PENDING_FILES, &args, |row| {
            take_file(row, &mut messages);
            Ok(())
        })?;
        history.insert(conversation_id, messages);
    }
    page.due = with_pending(due, &history);
    Ok(page)
}

impl DuePage {
    /// Reads one row of [`DUE_PAGE`] into `due`, or into `broken` when it cannot be read (one
    /// bad row never hides the others). Errs only when even its key cannot be read.
    fn take<R: Columns>(&mut self, row: &R, due: &mut Vec<DueParticipant>) -> Result<()> {
        self.rows += 1;
        // The key pages on: both are primary-key text columns.
        let conversation_id: String = row.column("conversation_id")?;
        let person_id: String = row.column("person_id")?;
        let read = || -> Result<DueParticipant> {
            let token: String = row.column("reply_token")?;
            let references: String = row.column("email_references")?;
            let mode: String = row.column("notifications")?;
            let locale: String = row.column("locale")?;
            let time_zone: Option<String> = row.column("time_zone")?;
            let muted: i64 = row.column("muted")?;
            let blocked: i64 = row.column("blocked")?;
            Ok(DueParticipant {
                conversation_id: conversation_id.clone(),
                domain: row.column("domain")?,
                subject: row.column("subject")?,
                conversation_created_at: row.column("conversation_created_at")?,
                person: person_from_row(row)?,
                mode: NotifyMode::parse(&mode).unwrap_or(NotifyMode::Digest),
                locale: Locale::parse(&locale).unwrap_or(Locale::En),
                time_zone: time_zone
                    .as_deref()
                    .and_then(crate::domain::TimeZone::parse),
                blocked: blocked != 0,
                muted: muted != 0,
                reply_token: ReplyToken::parse(&token).ok_or_else(|| malformed("reply token"))?,
                notified_up_to: row.column("notified_up_to")?,
                last_email_id: row.column("last_email_id")?,
                references: references.split_whitespace().map(str::to_string).collect(),
                emails_sent: row.column("emails_sent")?,
                messages: Vec::new(),
                omitted: 0,
                last_seq: row.column("last_seq")?,
                thread_subject: row.column("thread_subject")?,
                // The name of who assigned them is read after, for these few rows only.
                assigned_by: row
                    .column::<Option<String>>("assigned_by")?
                    .map(|by| (by, None)),
            })
        };
        match read() {
            Ok(d) => due.push(d),
            Err(err) => self.broken.push(BrokenDue {
                // Where the mark would move to, when those columns at least are readable.
                marks: row
                    .column::<i64>("notified_up_to")
                    .and_then(|from| Ok((from, row.column::<i64>("last_seq")?)))
                    .ok(),
                conversation_id: conversation_id.clone(),
                person_id: person_id.clone(),
                reason: format!("reading the participant: {err}"),
            }),
        }
        self.last = Some((conversation_id, person_id));
        Ok(())
    }

    /// Reads one row of [`PENDING_MESSAGES`] into `messages`; one that cannot be read is left
    /// out of every email (its visibility is unknown, so it is shown to nobody) and named in
    /// `broken_messages`, and the others in the conversation still go out.
    fn take_message<R: Columns>(
        &mut self,
        m: &R,
        conversation_id: &str,
        messages: &mut Vec<PendingMessage>,
    ) {
        let read = || -> Result<PendingMessage> {
            let kind: String = m.column("kind")?;
            Ok(PendingMessage {
                id: m.column("id")?,
                seq: m.column("seq")?,
                kind: MessageKind::parse(&kind).ok_or_else(|| malformed("message kind"))?,
                body_text: m.column("body_text")?,
                author_id: m.column("author_id")?,
                author_name: m.column("author_name")?,
                created_at: m.column("created_at")?,
                files: Vec::new(),
            })
        };
        match read() {
            Ok(message) => messages.push(message),
            Err(err) => self.broken_messages.push((
                m.column::<String>("id")
                    .unwrap_or_else(|_| format!("{conversation_id}/?")),
                format!("reading the message: {err}"),
            )),
        }
    }
}

/// Reads one row of [`PENDING_FILES`] onto its message. A file row that cannot be read is only
/// not named: the email still goes.
fn take_file<R: Columns>(f: &R, messages: &mut [PendingMessage]) {
    let read = || -> Result<(String, PendingFile)> {
        Ok((
            f.column("message_id")?,
            PendingFile {
                id: f.column("id")?,
                filename: f.column("filename")?,
                content_type: f.column("content_type")?,
                size: f.column("size")?,
                sha256: f.column("sha256")?,
                inline: f.column::<i64>("inline")? != 0,
                omitted: f.column("omitted")?,
            },
        ))
    };
    let Ok((message_id, file)) = read() else {
        return;
    };
    if let Some(message) = messages.iter_mut().find(|m| m.id == message_id) {
        message.files.push(file);
    }
}

/// The lowest mark of each conversation among `due`: one read of its history per conversation
/// (not per participant) serves them all.
fn lowest_marks(due: &[DueParticipant]) -> HashMap<String, i64> {
    let mut lowest: HashMap<String, i64> = HashMap::new();
    for d in due {
        let entry = lowest
            .entry(d.conversation_id.clone())
            .or_insert(d.notified_up_to);
        *entry = (*entry).min(d.notified_up_to);
    }
    lowest
}

/// Each participant with the messages of `history` after their mark (the latest
/// [`MAX_PENDING`], the rest counted). Deleted messages alone can leave nothing pending: the
/// mark moves past them.
fn with_pending(
    mut due: Vec<DueParticipant>,
    history: &HashMap<String, Vec<PendingMessage>>,
) -> Vec<DueParticipant> {
    for d in &mut due {
        let all = history
            .get(&d.conversation_id)
            .map_or(&[][..], Vec::as_slice);
        let pending: Vec<PendingMessage> = all
            .iter()
            .filter(|m| m.seq > d.notified_up_to)
            .cloned()
            .collect();
        d.omitted = pending.len().saturating_sub(MAX_PENDING);
        d.messages = pending.into_iter().skip(d.omitted).collect();
    }
    due
}

/// Moves the marks of a batch of plans (`$1`, see [`marks_json`]) compared-and-set, at time
/// `$2`, and returns the participants whose mark moved. A plan with an email (`m`, its
/// Message-ID) also records it for threading and counts it; an assignment notice (`a`) is
/// consumed only if it is still the one pending (not unassigned or reassigned since), so it is
/// told once or not at all; a removed participant's mark moves but gets no email.
macro_rules! move_marks_sql {
    ($plans:literal) => {
        concat!(
            "UPDATE participants
             SET notified_up_to = j.u,
                 last_email_id = CASE WHEN j.m IS NULL THEN last_email_id ELSE j.m END,
                 email_references = CASE WHEN j.m IS NULL THEN email_references ELSE j.r END,
                 emails_sent = emails_sent + CASE WHEN j.m IS NULL THEN 0 ELSE 1 END,
                 last_emailed_at = CASE WHEN j.m IS NULL THEN last_emailed_at ELSE $2 END,
                 assigned_by = CASE WHEN j.a IS NULL THEN assigned_by END,
                 thread_subject = COALESCE(thread_subject, j.s)
             FROM ",
            $plans,
            " WHERE participants.conversation_id = j.c AND participants.person_id = j.p
               AND participants.notified_up_to = j.e
               AND (j.m IS NULL OR participants.removed_at IS NULL)
               AND (j.a IS NULL OR participants.assigned_by = j.a)
             RETURNING participants.conversation_id, participants.person_id"
        )
    };
}

/// `jsonb_each` (SQLite 3.45+) hands each plan over in SQLite's binary JSON, which `->>` reads
/// directly; `json_each` turned each back into text for every one of the eight `->>` to parse.
const MOVE_MARKS_SQLITE: &str = move_marks_sql!(
    "(SELECT value ->> 'c' AS c, value ->> 'p' AS p, value ->> 'e' AS e, value ->> 'u' AS u,
             value ->> 'm' AS m, value ->> 'r' AS r, value ->> 'a' AS a, value ->> 's' AS s
      FROM jsonb_each($1)) AS j"
);
const MOVE_MARKS_POSTGRES: &str = move_marks_sql!(
    "jsonb_to_recordset($1::jsonb)
       AS j(c TEXT, p TEXT, e BIGINT, u BIGINT, m TEXT, r TEXT, a TEXT, s TEXT)"
);

/// For each plan, whether its participant is among those whose mark `moved` (conversation,
/// person), as [`move_marks_sql!`] returned them.
fn committed_of(plans: &[PlannedEmail], moved: &HashSet<(String, String)>) -> Vec<bool> {
    plans
        .iter()
        .map(|plan| moved.contains(&(plan.conversation_id.clone(), plan.person_id.clone())))
        .collect()
}

/// [`Store::enqueue_notifications`] on SQLite, in place: `plans` committed in one transaction
/// (`marks` their JSON for [`MOVE_MARKS_SQLITE`], `now` the time); for each plan, whether its
/// mark moved (and so its email and failure were written).
///
/// Through sqlx each statement of a batch (500 participants, up to 500 emails) was handed to
/// the writer connection's worker thread and back, and each multi-row insert bound 448
/// parameters, sqlx looking every one up by name among all of them. Here the batch runs on the
/// caller's (blocking) thread on a rusqlite connection (`sqlite_in_place::Writer`): the marks
/// move in the same one statement, then each email goes in by the one-row insert every other
/// email of the outbox uses ([`insert_outbox_sql!`]) and each failure by the upsert sqlx runs
/// (`failures::UPSERT_FAILURE_SQL`), each prepared once for the connection's life. The caller
/// holds the writer pool's one connection meanwhile, so no other writer of the process starts
/// and `BEGIN IMMEDIATE` does not wait (another process is waited for by the busy timeout, as
/// by any SQLite writer).
fn enqueue_in_place(
    conn: &mut rusqlite::Connection,
    plans: &[PlannedEmail],
    marks: &str,
    now: i64,
) -> Result<Vec<bool>> {
    use super::sqlite_in_place::{bind, execute};
    use rusqlite::types::{Null, ToSql};
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut moved = HashSet::with_capacity(plans.len());
    {
        let mut stmt = tx.prepare_cached(MOVE_MARKS_SQLITE)?;
        bind(&mut stmt, &[&Null, &marks, &now])?;
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            moved.insert((row.get::<_, String>(0)?, row.get::<_, String>(1)?));
        }
    }
    let committed = committed_of(plans, &moved);
    for (plan, _) in plans.iter().zip(&committed).filter(|(_, c)| **c) {
        // Recorded with the mark's move, so a failure is recorded once per message.
        if let Some(reason) = &plan.failure {
            let item = format!("{}/{}", plan.conversation_id, plan.person_id);
            let reason = super::failures::bounded_reason(reason);
            let args: [&dyn ToSql; 5] =
                [&Null, &super::failures::job::NOTIFY, &item, &reason, &now];
            execute(&tx, super::failures::UPSERT_FAILURE_SQL, &args)?;
        }
        if let Some(email) = &plan.email {
            let args: [&dyn ToSql; 10] = [
                &Null,
                &email.id, // $1
                &now,
                &plan.conversation_id,
                &plan.person_id,
                &email.envelope_from, // $5
                &email.recipient,
                &email.message_id,
                &email.data.as_bytes(),
                &NOTIFICATION_PRIORITY, // $9
            ];
            execute(&tx, INSERT_OUTBOX_ONE, &args)?;
        }
    }
    tx.commit()?;
    Ok(committed)
}

/// The plans as [`move_marks_sql!`] reads them: one bind for the whole batch.
fn marks_json(plans: &[PlannedEmail]) -> String {
    let rows: Vec<serde_json::Value> = plans
        .iter()
        .map(|plan| {
            serde_json::json!({
                "c": plan.conversation_id,
                "p": plan.person_id,
                "e": plan.expected_up_to,
                "u": plan.up_to,
                "m": plan.email.as_ref().map(|e| &e.message_id),
                "r": plan.email.as_ref().map(|e| &e.references),
                "a": plan.assigned_by,
                "s": plan.thread_subject,
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// The outbox's columns, in the order both inserts bind them.
macro_rules! outbox_columns {
    () => {
        "id, created_at, conversation_id, person_id, envelope_from, recipient, message_id, data,
         next_attempt_at, priority"
    };
}

/// The outbox's priority of notifications (the gateway's own emails — codes, confirmations —
/// go first, at 0).
const NOTIFICATION_PRIORITY: i64 = 1;

/// Emails inserted per statement at most, on PostgreSQL (seven parameters each: well within its
/// limit; SQLite inserts one row at a time, in place).
const OUTBOX_ROWS: usize = 64;

/// `INSERT INTO outbox` of the largest power of two of rows (≤ [`OUTBOX_ROWS`]) not above
/// `wanted`, and that count: `$1` the time, `$2` the priority, then per email its id,
/// conversation, person, envelope sender, recipient, Message-ID and data. Powers of two keep
/// the statement texts (each prepared once per connection) to seven.
fn insert_outbox_rows_sql(wanted: usize) -> (&'static str, usize) {
    static TEXTS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        (0..=OUTBOX_ROWS.trailing_zeros())
            .map(|power| {
                let rows: Vec<String> = (0..1usize << power)
                    .map(|row| {
                        let n = 3 + row * 7;
                        format!(
                            "(${n}, $1, ${}, ${}, ${}, ${}, ${}, ${}, $1, $2)",
                            n + 1,
                            n + 2,
                            n + 3,
                            n + 4,
                            n + 5,
                            n + 6
                        )
                    })
                    .collect();
                format!(
                    concat!("INSERT INTO outbox (", outbox_columns!(), ") VALUES {}"),
                    rows.join(", ")
                )
            })
            .collect()
    });
    let rows = wanted.clamp(1, OUTBOX_ROWS);
    let power = usize::BITS - 1 - rows.leading_zeros();
    (&TEXTS[power as usize], 1 << power)
}

/// Mutes (`$3` = 1) or unmutes a participant: the web view, the API and an unsubscribe email
/// (inside its record's transaction) all write this.
pub(super) const SET_MUTED: &str =
    "UPDATE participants SET muted = $3 WHERE conversation_id = $1 AND person_id = $2";

/// One outbox row: `$1` its id, `$2` the time (created, and due), `$3` the conversation and
/// `$4` the person it is about (or NULL), `$5` the envelope sender, `$6` the recipient, `$7`
/// the Message-ID, `$8` the stored email, `$9` the priority.
macro_rules! insert_outbox_sql {
    () => {
        concat!(
            "INSERT INTO outbox (",
            $crate::store::notifications::outbox_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $2, $9)"
        )
    };
}
pub(super) use insert_outbox_sql;

/// Inserts an outbox row inside the caller's transaction (expanded per backend, like every
/// query here).
macro_rules! insert_outbox {
    ($tx:expr, $email:expr, $about:expr, $priority:expr, $now:expr) => {{
        let email: &$crate::store::NewOutboxEmail = $email;
        let about: Option<(&str, &str)> = $about;
        sqlx::query($crate::store::notifications::insert_outbox_sql!())
            .bind(&email.id)
            .bind($now)
            .bind(about.map(|(c, _)| c))
            .bind(about.map(|(_, p)| p))
            .bind(&email.envelope_from)
            .bind(&email.recipient)
            .bind(&email.message_id)
            .bind(email.data.as_bytes())
            .bind($priority)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(super) use insert_outbox;
pub(super) use outbox_columns;

/// An email of the planner, one row (`$1` id, `$2` time, `$3`–`$8`, `$9` priority).
const INSERT_OUTBOX_ONE: &str = insert_outbox_sql!();
