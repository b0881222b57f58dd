use super::conversations::{NewConversation, insert_conversation};
use super::lifecycle::apply_lifecycle;
use super::messages::{Inserted, insert_message};
use super::notifications::{SET_MUTED, insert_outbox};
use super::people::{insert_person_sql, record_bounce};
use super::sessions::MARK_VERIFIED;
use super::sqlite_in_place::Columns;
use super::{
    Backend, LifecycleChange, NewMessage, NewOutboxEmail, Result, Store, StoreError, on_backend,
};
use crate::domain::{EmailAddress, Id, IdKind, InboundOutcome, MessageKind, Millis, Role};
use sha2::{Digest, Sha256};
use sqlx::Row;

/// What the inbound pipeline decided about one received email.
#[derive(Debug, Clone)]
pub struct InboundRecord {
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub message_id: Option<String>,
    pub outcome: InboundOutcome,
    pub conversation_id: Option<String>,
    pub detail: String,
    pub peer: String,
    /// SPF/DKIM/DMARC results (an Authentication-Results value), when checked.
    pub auth_results: Option<String>,
    /// Held until this address (a From key) confirms it is theirs (stranger policy `verify`).
    pub awaiting: Option<String>,
}

/// What was committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundStored {
    pub inbound_id: String,
    /// `Posted`, or `Duplicate` when the same email had already been posted.
    pub outcome: InboundOutcome,
    pub posted_message_id: Option<String>,
    /// The conversation it went to (a retried first email finds the one it started).
    pub conversation_id: Option<String>,
    /// How many emails were committed in its transaction (the group commit's batch).
    pub batch: usize,
}

#[derive(Debug, Clone)]
pub struct InboundEntry {
    pub id: String,
    pub received_at: Millis,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub message_id: Option<String>,
    pub outcome: InboundOutcome,
    pub conversation_id: Option<String>,
    pub posted_message_id: Option<String>,
    pub detail: String,
    pub auth_results: Option<String>,
}

impl InboundEntry {
    /// Held, and the From's domain disowns it (DMARC failed, by our checks or the trusted
    /// MTA's, whatever its policy): staff see "unverified sender" — the From may be forged.
    /// Read from the results' own `dmarc=` method (RFC 8601 §2.2), not from anywhere in them
    /// (a sender's address may hold "dmarc=fail").
    pub fn sender_unverified(&self) -> bool {
        self.outcome.is_held()
            && self.auth_results.as_deref().is_some_and(|results| {
                results
                    .split([';', ' ', '\t', '\r', '\n'])
                    .any(|token| token.eq_ignore_ascii_case("dmarc=fail"))
            })
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(data))
}

/// What one inbound email changes besides its record: all of it written in the record's
/// transaction.
#[derive(Debug, Clone, Default)]
pub struct InboundChanges {
    /// The record's id, when an effect (a queued confirmation link) names it in advance.
    pub inbound_id: Option<String>,
    /// A conversation the email starts (then `post` is its first message).
    pub start: Option<NewConversation>,
    pub post: Option<NewMessage>,
    pub effects: Vec<InboundEffect>,
}

/// A change an inbound email makes besides posting.
#[derive(Debug, Clone)]
pub enum InboundEffect {
    /// A `mailto:` unsubscribe (RFC 2369): the participant stops getting notifications.
    Mute {
        conversation_id: String,
        person_id: String,
    },
    /// A delivery failure against an address we emailed (a person's email status moves on;
    /// the record's detail says to what).
    Bounce {
        address: EmailAddress,
        permanent: bool,
    },
    /// A stranger becomes a client under the id the post and the started conversation name.
    /// When a concurrent email created them first, that person is the author instead.
    NewClient {
        person_id: String,
        email: EmailAddress,
        name: String,
        /// They proved they read this address (a confirmation link).
        verified: bool,
        /// Their language: that of the sending domain they wrote to, when it sets one.
        locale: Option<crate::domain::Locale>,
    },
    /// An email queued ahead of notifications (a confirmation link naming the record, a
    /// reply to an agent's commands).
    Queue(NewOutboxEmail),
    /// A staff member's commands by email: status, snooze, assignment, after the message
    /// their reply posts, with them as the actor of each event.
    Lifecycle {
        conversation_id: String,
        change: LifecycleChange,
    },
    /// People the email copied (To, Cc), offered to staff to add when the conversation is an
    /// inbox conversation and the address is not of one of our sending domains.
    Suggest {
        conversation_id: String,
        people: Vec<(EmailAddress, Option<String>)>,
    },
}

impl Store {
    /// Stores, in ONE transaction, the raw email, the message to post (if any) and the inbound
    /// record. Only after this returns Ok may the SMTP session answer 250. A message already
    /// posted from the same email (same dedup key, same conversation) is not posted again: the
    /// record says `duplicate` and points at the existing message.
    pub async fn record_inbound(
        &self,
        record: InboundRecord,
        raw: &[u8],
        post: Option<&NewMessage>,
    ) -> Result<InboundStored> {
        let changes = InboundChanges {
            post: post.cloned(),
            ..InboundChanges::default()
        };
        self.apply_inbound(record, raw, changes).await
    }

    /// [`Store::record_inbound`] with everything the email changes: a conversation it starts
    /// (the same email stored before — a retry after a lost answer: same author, same dedup
    /// key — starts nothing: it is a `duplicate` of the message it posted then), its effects
    /// (a mute, a bounce, a new client, a queued email), all in the record's transaction.
    pub async fn apply_inbound(
        &self,
        record: InboundRecord,
        raw: &[u8],
        changes: InboundChanges,
    ) -> Result<InboundStored> {
        let write = InboundWrite {
            now: self.now(),
            inbound_id: changes
                .inbound_id
                .unwrap_or_else(|| Id::generate(IdKind::Inbound)),
            sha256: sha256_hex(raw),
            recipients: serde_json::to_string(&record.recipients).unwrap_or_else(|_| "[]".into()),
            record,
            raw: raw.to_vec(),
            // Folded and stemmed here, in the email's own task: the commit task that writes
            // a batch's emails one after the other only inserts it.
            indexed: changes.post.as_ref().map(|p| {
                crate::domain::search_text::index_text(&super::search_index::message_text(
                    &p.body_text,
                    p.attachments.iter().map(|a| a.filename.as_str()),
                ))
            }),
            start: changes.start,
            post: changes.post,
            effects: changes.effects,
        };
        // Many sessions' emails share one transaction (and one fsync): see group_commit.
        match &self.backend {
            Backend::Sqlite { group, .. } | Backend::Postgres { group, .. } => {
                group.commit(write).await
            }
        }
    }

    /// The inbound log, newest first.
    pub async fn recent_inbound(&self, limit: i64) -> Result<Vec<InboundEntry>> {
        self.inbound_log(None, limit).await
    }

    /// The inbound log, newest first, of one outcome only when given.
    pub async fn inbound_log(
        &self,
        outcome: Option<InboundOutcome>,
        limit: i64,
    ) -> Result<Vec<InboundEntry>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, received_at, envelope_from, recipients, message_id, outcome,
                        conversation_id, posted_message_id, detail, auth_results
                 FROM inbound WHERE ($2 IS NULL OR outcome = $2) ORDER BY seq DESC LIMIT $1",
            )
            .bind(limit)
            .bind(outcome.map(InboundOutcome::as_str))
            .fetch_all(pool)
            .await?;
            rows.iter().map(entry_from_row).collect()
        })
    }

    /// One inbound record.
    pub async fn inbound_entry(&self, id: &str) -> Result<Option<InboundEntry>> {
        on_backend!(self, pool => {
            let row = sqlx::query(
                "SELECT id, received_at, envelope_from, recipients, message_id, outcome,
                        conversation_id, posted_message_id, detail, auth_results
                 FROM inbound WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(entry_from_row).transpose()
        })
    }

    /// Emails held for review in a conversation (DMARC quarantine, an unknown sender), oldest
    /// first.
    pub async fn held_inbound(&self, conversation_id: &str) -> Result<Vec<InboundEntry>> {
        on_backend!(self, pool => {
            // Two selects, so each uses its partial index.
            let rows = sqlx::query(
                "SELECT id, received_at, envelope_from, recipients, message_id, outcome,
                        conversation_id, posted_message_id, detail, auth_results, seq
                 FROM inbound WHERE conversation_id = $1 AND outcome = 'held'
                 UNION ALL
                 SELECT id, received_at, envelope_from, recipients, message_id, outcome,
                        conversation_id, posted_message_id, detail, auth_results, seq
                 FROM inbound WHERE conversation_id = $1 AND outcome = 'unknown_sender'
                 ORDER BY seq LIMIT 100",
            )
            .bind(conversation_id)
            .fetch_all(pool)
            .await?;
            rows.iter().map(entry_from_row).collect()
        })
    }

    /// Emails held for `awaiting` (a From key) received since `since`: a stranger gets one
    /// confirmation email a day however many emails they send.
    pub async fn awaiting_since(&self, awaiting: &str, since: Millis) -> Result<i64> {
        on_backend!(self, pool => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM inbound WHERE awaiting = $1 AND received_at >= $2",
            )
            .bind(awaiting)
            .bind(since)
            .fetch_one(pool)
            .await?;
            Ok(n)
        })
    }

    /// Claims every email still held for `awaiting` (the sender confirmed their address), in
    /// arrival order; compare-and-set like [`Store::claim_held`], so each is released once.
    pub async fn claim_awaiting(&self, awaiting: &str) -> Result<Vec<String>> {
        on_backend!(write self, pool => {
            // One statement: a concurrent claimer's UPDATE waits for this one, then finds the
            // rows no longer held (PostgreSQL re-checks the WHERE after the row lock).
            let rows = sqlx::query(
                "UPDATE inbound SET outcome = 'released', detail = detail || '; the sender confirmed their address'
                 WHERE awaiting = $1 AND outcome = 'held'
                 RETURNING id, seq",
            )
            .bind(awaiting)
            .fetch_all(pool)
            .await?;
            let mut claimed = rows
                .iter()
                .map(|row| Ok((row.try_get::<i64, _>("seq")?, row.try_get::<String, _>("id")?)))
                .collect::<Result<Vec<_>>>()?;
            claimed.sort();
            Ok(claimed.into_iter().map(|(_, id)| id).collect())
        })
    }

    /// The address a held email waits on, if it waits on its sender's confirmation.
    pub async fn inbound_awaiting(&self, id: &str) -> Result<Option<String>> {
        on_backend!(self, pool => {
            let awaiting: Option<Option<String>> =
                sqlx::query_scalar("SELECT awaiting FROM inbound WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
            Ok(awaiting.flatten())
        })
    }

    /// Puts a claimed email back on hold as `held` (`held` or `unknown_sender`): its release
    /// could not be stored, try again later.
    pub async fn unclaim_held(&self, id: &str, held: InboundOutcome) -> Result<()> {
        on_backend!(write self, pool => {
            sqlx::query("UPDATE inbound SET outcome = $2 WHERE id = $1 AND outcome = 'released'")
                .bind(id)
                .bind(held.as_str())
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Moves an email held as `held` (`held` or `unknown_sender`) to `to` (`released` or
    /// `dropped`), noting `why` (compare-and-set: two admins clicking at once act once). False
    /// when it is not held so (any more).
    pub async fn claim_held(
        &self,
        id: &str,
        held: InboundOutcome,
        to: InboundOutcome,
        why: &str,
    ) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "UPDATE inbound SET outcome = $3, detail = detail || '; ' || $4
                 WHERE id = $1 AND outcome = $2",
            )
            .bind(id)
            .bind(held.as_str())
            .bind(to.as_str())
            .bind(why)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}

/// One email's writes, owned so that it can wait in the group-commit queue.
pub(super) struct InboundWrite {
    pub now: Millis,
    pub inbound_id: String,
    pub sha256: String,
    /// `record.recipients` as JSON.
    pub recipients: String,
    pub record: InboundRecord,
    pub raw: Vec<u8>,
    pub start: Option<NewConversation>,
    pub post: Option<NewMessage>,
    /// The search document of `post`.
    pub indexed: Option<crate::domain::search_text::Indexed>,
    pub effects: Vec<InboundEffect>,
}

impl InboundWrite {
    /// The conversation the email writes to (whose row its transaction locks on PostgreSQL),
    /// if it names one: the one it starts, posts to, or was recorded against.
    pub(super) fn conversation(&self) -> Option<&str> {
        match (&self.start, &self.post) {
            (Some(start), _) => Some(start.id.as_str()),
            (None, Some(post)) => Some(post.conversation_id.as_str()),
            (None, None) => self.record.conversation_id.as_deref(),
        }
    }
}

/// The one text of the raw bytes' insert (kept once per content); placeholders are the
/// caller's, as for every statement SQLite's in-place path (`inbound_sqlite`) shares with the
/// general path.
macro_rules! insert_raw_sql {
    ($sha256:literal, $data:literal, $size:literal, $now:literal) => {
        concat!(
            "INSERT INTO raw_emails (sha256, data, size, received_at) VALUES (",
            $sha256,
            ", ",
            $data,
            ", ",
            $size,
            ", ",
            $now,
            ") ON CONFLICT (sha256) DO NOTHING"
        )
    };
}
pub(super) use insert_raw_sql;

/// The one text of the inbound record's insert.
macro_rules! insert_record_sql {
    ($id:literal, $now:literal, $from:literal, $recipients:literal, $message_id:literal,
     $outcome:literal, $conversation:literal, $posted:literal, $detail:literal, $sha256:literal,
     $peer:literal, $auth:literal, $awaiting:literal) => {
        concat!(
            "INSERT INTO inbound (id, received_at, envelope_from, recipients, message_id, outcome,
                                  conversation_id, posted_message_id, detail, raw_sha256, peer,
                                  auth_results, awaiting)
             VALUES (",
            $id,
            ", ",
            $now,
            ", ",
            $from,
            ", ",
            $recipients,
            ", ",
            $message_id,
            ", ",
            $outcome,
            ", ",
            $conversation,
            ", ",
            $posted,
            ", ",
            $detail,
            ", ",
            $sha256,
            ", ",
            $peer,
            ", ",
            $auth,
            ", ",
            $awaiting,
            ")"
        )
    };
}
pub(super) use insert_record_sql;

/// Offers `$2` (`$3`, named `$4`) to staff as a participant of `$1`: only in an inbox or a
/// company conversation (never a private or confidential one the team started), never an
/// address of one of our sending domains (`$6`), once.
const SUGGEST_PARTICIPANT: &str =
    "INSERT INTO participant_suggestions (conversation_id, email_key, email, name, suggested_at)
     SELECT $1, $2, $3, $4, $5
     WHERE EXISTS (SELECT 1 FROM conversations
                    WHERE id = $1 AND (inbox_domain IS NOT NULL OR type = 'company'))
       AND NOT EXISTS (SELECT 1 FROM domains WHERE name = $6)
     ON CONFLICT (conversation_id, email_key) DO NOTHING";

/// The effects of one inbound email, inside its transaction. Evaluates to the record's detail
/// (a bounce says what the address became) and, when a new client already existed, the id
/// the pipeline chose for them and theirs.
macro_rules! write_effects {
    ($conn:ident, $w:expr) => {{
        let w: &InboundWrite = $w;
        let now = w.now;
        let mut detail = w.record.detail.clone();
        let mut client: Option<(&str, String)> = None;
        for effect in &w.effects {
            match effect {
                InboundEffect::Mute { conversation_id, person_id } => {
                    sqlx::query(SET_MUTED)
                        .bind(conversation_id)
                        .bind(person_id)
                        .bind(1i64)
                        .execute(&mut *$conn)
                        .await?;
                }
                InboundEffect::Bounce { address, permanent } => {
                    match record_bounce!($conn, address, *permanent, &w.record.detail, now) {
                        Some((person_id, status)) => {
                            tracing::info!(%person_id, status = status.as_str(), "bounce recorded");
                            detail.push_str(&format!("; {address} is now {}", status.as_str()));
                        }
                        None => detail.push_str(&format!("; {address} is not a known person")),
                    }
                }
                InboundEffect::NewClient { person_id, email, name, verified, locale } => {
                    sqlx::query(concat!(insert_person_sql!(), " ON CONFLICT (email_key) DO NOTHING"))
                    .bind(person_id)
                    .bind(email.to_string())
                    .bind(email.key())
                    .bind(name)
                    .bind(crate::domain::Role::Client.as_str())
                    .bind(now)
                    .execute(&mut *$conn)
                    .await?;
                    let id: String = sqlx::query_scalar("SELECT id FROM people WHERE email_key = $1")
                        .bind(email.key())
                        .fetch_one(&mut *$conn)
                        .await?;
                    if *verified {
                        sqlx::query(MARK_VERIFIED)
                            .bind(&id)
                            .bind(now)
                            .execute(&mut *$conn)
                            .await?;
                    }
                    // Only a person this email created: someone known keeps their choice.
                    if let Some(locale) = locale.filter(|_| id == *person_id) {
                        sqlx::query("UPDATE people SET locale = $2 WHERE id = $1")
                            .bind(&id)
                            .bind(locale.as_str())
                            .execute(&mut *$conn)
                            .await?;
                    }
                    client = (id != *person_id).then_some((person_id.as_str(), id));
                }
                // After the record, which it names; after the message, which they follow.
                InboundEffect::Queue(_) | InboundEffect::Lifecycle { .. } | InboundEffect::Suggest { .. } => {}
            }
        }
        (detail, client)
    }};
}

/// The statements of one inbound email, inside the caller's transaction (expanded per
/// backend): the raw bytes (once per content), its effects, the conversation it starts, the
/// message it posts (or the duplicate it is), the inbound record, the queued email.
macro_rules! write_inbound {
    ($conn:ident, $w:expr) => {{
        let w: &InboundWrite = $w;
        let now = w.now;
        sqlx::query(insert_raw_sql!("$1", "$2", "$3", "$4"))
            .bind(&w.sha256)
            .bind(&w.raw)
            .bind(w.raw.len() as i64)
            .bind(now)
            .execute(&mut *$conn)
            .await?;
        let (detail, client) = write_effects!($conn, w);
        // A concurrent email made the new client first: they are the author.
        let substituted;
        let (start, post) = match &client {
            None => (w.start.as_ref(), w.post.as_ref()),
            Some((chosen, id)) => {
                substituted = (
                    w.start.clone().map(|mut s| {
                        for member in s.members.iter_mut().chain([&mut s.created_by]) {
                            if member == chosen {
                                *member = id.clone();
                            }
                        }
                        let mut seen: Vec<String> = Vec::with_capacity(s.members.len());
                        s.members.retain(|m| {
                            !seen.contains(m) && {
                                seen.push(m.clone());
                                true
                            }
                        });
                        s
                    }),
                    w.post.clone().map(|mut p| {
                        p.author_id = id.clone();
                        p
                    }),
                );
                (substituted.0.as_ref(), substituted.1.as_ref())
            }
        };
        let earlier = match (start, post) {
            (Some(_), Some(new)) => {
                let row = sqlx::query(
                    "SELECT id, conversation_id FROM messages
                     WHERE email_message_id = $1 AND author_id = $2 ORDER BY seq LIMIT 1",
                )
                .bind(&new.email_message_id)
                .bind(&new.author_id)
                .fetch_optional(&mut *$conn)
                .await?;
                row.map(|row| -> Result<(String, String)> {
                    Ok((row.try_get("id")?, row.try_get("conversation_id")?))
                })
                .transpose()?
            }
            _ => None,
        };
        let mut conversation_id = w.record.conversation_id.clone();
        let (outcome, posted) = match (post, earlier) {
            (_, Some((existing_id, existing_conversation))) => {
                conversation_id = Some(existing_conversation);
                (InboundOutcome::Duplicate, Some(existing_id))
            }
            (None, None) => (w.record.outcome, None),
            (Some(new), None) => {
                if let Some(start) = start {
                    insert_conversation!($conn, start, now);
                    // Our first email to its author answers theirs: their client threads it
                    // with what they sent (In-Reply-To and References, RFC 5322 §3.6.4).
                    if let Some(theirs) = new
                        .email_message_id
                        .as_deref()
                        .filter(|id| !id.starts_with("sha256:"))
                    {
                        sqlx::query(
                            "UPDATE participants SET last_email_id = $3, email_references = $3
                             WHERE conversation_id = $1 AND person_id = $2",
                        )
                        .bind(&start.id)
                        .bind(&new.author_id)
                        .bind(format!("<{theirs}>"))
                        .execute(&mut *$conn)
                        .await?;
                    }
                }
                match insert_message!($conn, new, now, Some(w.inbound_id.as_str()))? {
                    Inserted::New(message) => (InboundOutcome::Posted, Some(message.id)),
                    Inserted::Duplicate { existing_id } => {
                        (InboundOutcome::Duplicate, Some(existing_id))
                    }
                }
            }
        };
        for effect in &w.effects {
            match effect {
                InboundEffect::Lifecycle {
                    conversation_id,
                    change,
                } => {
                    apply_lifecycle!($conn, conversation_id, change, now);
                }
                // After the message: a conversation it starts exists by now.
                InboundEffect::Suggest {
                    conversation_id,
                    people,
                } => {
                    for (address, name) in people {
                        sqlx::query(SUGGEST_PARTICIPANT)
                            .bind(conversation_id)
                            .bind(address.key())
                            .bind(address.to_string())
                            .bind(name)
                            .bind(now)
                            .bind(address.domain().to_ascii_lowercase())
                            .execute(&mut *$conn)
                            .await?;
                    }
                }
                _ => {}
            }
        }
        let record = &w.record;
        sqlx::query(insert_record_sql!(
            "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13"
        ))
        .bind(&w.inbound_id)
        .bind(now)
        .bind(&record.envelope_from)
        .bind(&w.recipients)
        .bind(&record.message_id)
        .bind(outcome.as_str())
        .bind(&conversation_id)
        .bind(&posted)
        .bind(&detail)
        .bind(&w.sha256)
        .bind(&record.peer)
        .bind(&record.auth_results)
        .bind(&record.awaiting)
        .execute(&mut *$conn)
        .await?;
        for effect in &w.effects {
            if let InboundEffect::Queue(email) = effect {
                insert_outbox!($conn, email, None, 0i64, now);
            }
        }
        Ok(InboundStored {
            inbound_id: w.inbound_id.clone(),
            outcome,
            posted_message_id: posted,
            conversation_id,
            batch: 1,
        })
    }};
}

/// Whether posting `new` by an author of `role` leaves the conversation's `status` as it is
/// (`lifecycle`'s rule): the common-case paths (`inbound_sqlite`, `inbound_pg`) take only
/// those; a status change is written by the general path.
pub(super) fn leaves_status(new: &NewMessage, role: &str, status: &str) -> Result<bool> {
    let role = Role::parse(role).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Decode(format!("unknown role {role:?}").into()))
    })?;
    Ok(new.kind != MessageKind::Message
        || super::lifecycle::decode_status(status)?.after_message(role)
            == super::MessageEffect::Unchanged)
}

/// [`write_inbound!`] on SQLite: the general path, for what the commit thread's in-place path
/// (`inbound_sqlite`) does not take.
pub(super) async fn write_inbound_sqlite_general(
    conn: &mut sqlx::SqliteConnection,
    w: &InboundWrite,
) -> Result<InboundStored> {
    write_inbound!(conn, w)
}

/// [`write_inbound!`] on PostgreSQL: the general path, for what the two-round-trip fast path
/// (`inbound_pg`) does not take.
pub(super) async fn write_inbound_pg_general(
    conn: &mut sqlx::PgConnection,
    w: &InboundWrite,
) -> Result<InboundStored> {
    write_inbound!(conn, w)
}

fn entry_from_row<R: Row>(row: &R) -> Result<InboundEntry>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let outcome: String = row.try_get("outcome")?;
    let recipients: String = row.try_get("recipients")?;
    Ok(InboundEntry {
        id: row.try_get("id")?,
        received_at: row.try_get("received_at")?,
        envelope_from: row.try_get("envelope_from")?,
        recipients: serde_json::from_str(&recipients).map_err(|e| {
            StoreError::Database(sqlx::Error::Decode(format!("recipients: {e}").into()))
        })?,
        message_id: row.try_get("message_id")?,
        outcome: InboundOutcome::parse(&outcome).ok_or(StoreError::Database(
            sqlx::Error::Decode("unknown outcome".into()),
        ))?,
        conversation_id: row.try_get("conversation_id")?,
        posted_message_id: row.try_get("posted_message_id")?,
        detail: row.try_get("detail")?,
        auth_results: row.try_get("auth_results")?,
    })
}

impl Store {
    /// The raw bytes of a received email, by inbound record id.
    pub async fn raw_email(&self, inbound_id: &str) -> Result<Option<Vec<u8>>> {
        on_backend!(self, pool => {
            let data: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT r.data FROM inbound i JOIN raw_emails r ON r.sha256 = i.raw_sha256 WHERE i.id = $1",
            )
            .bind(inbound_id)
            .fetch_optional(pool)
            .await?;
            Ok(data)
        })
    }
}

/// The last notification emailed to person `$person` in conversation `$conversation` (its raw
/// bytes), as a scalar subquery.
macro_rules! last_notification_sql {
    ($conversation:literal, $person:literal) => {
        concat!(
            "(SELECT data FROM outbox WHERE conversation_id = ",
            $conversation,
            " AND person_id = ",
            $person,
            " ORDER BY seq DESC LIMIT 1)"
        )
    };
}
pub(super) use last_notification_sql;

/// A [`ReplyContext`] as two select-list items, `recent` and `last_notification`, for a reply
/// from envelope sender `$from` by participant `$person` of `$conversation` (placeholders or
/// columns): [`Store::reply_context`] reads them alone, [`Store::token_recipient`] with the
/// participant its token names.
macro_rules! reply_context_sql {
    ($from:literal, $conversation:literal, $since:literal, $person:literal) => {
        concat!(
            "(SELECT COUNT(*) FROM inbound
               WHERE envelope_from = ",
            $from,
            " AND conversation_id = ",
            $conversation,
            " AND received_at >= ",
            $since,
            " AND outcome IN ('posted', 'duplicate', 'rejected')) AS recent, ",
            $crate::store::inbound::last_notification_sql!($conversation, $person),
            " AS last_notification"
        )
    };
}
pub(super) use reply_context_sql;

/// The [`ReplyContext`] of a row with [`reply_context_sql!`]'s columns.
pub(super) fn reply_context_from_row<R: Columns>(row: &R) -> Result<ReplyContext> {
    Ok(ReplyContext {
        recent_emails: row.column("recent")?,
        last_notification: super::stored_email::unpack_quoted(row.column("last_notification")?),
    })
}

/// What the pipeline reads before extracting a reply, in one query.
#[derive(Debug, Clone, Default)]
pub struct ReplyContext {
    /// How many emails this envelope sender got into this conversation since `since` (posted,
    /// duplicates, and ones already held): the loop circuit breaker's measure. Refused mail
    /// (a forged sender, say) does not count against the real participant.
    pub recent_emails: i64,
    /// The last notification we emailed this person in this conversation (raw bytes): their
    /// reply quotes it.
    pub last_notification: Option<Vec<u8>>,
}

impl Store {
    /// The [`ReplyContext`] of a reply from `envelope_from`, participant `person_id` of
    /// `conversation_id`: both indexed lookups in one round trip.
    pub async fn reply_context(
        &self,
        envelope_from: &str,
        conversation_id: &str,
        person_id: &str,
        since: Millis,
    ) -> Result<ReplyContext> {
        on_backend!(self, pool => {
            let row = sqlx::query(concat!(
                "SELECT ",
                reply_context_sql!("$1", "$2", "$3", "$4")
            ))
            .bind(envelope_from)
            .bind(conversation_id)
            .bind(since)
            .bind(person_id)
            .fetch_one(pool)
            .await?;
            reply_context_from_row(&row)
        })
    }
}

impl Store {
    /// The last notification emailed to a person in a conversation (the bytes we sent), for a
    /// reply that needs no loop-breaker count (an email to an inbox address).
    pub async fn last_notification(
        &self,
        conversation_id: &str,
        person_id: &str,
    ) -> Result<Option<Vec<u8>>> {
        on_backend!(self, pool => {
            let data: Option<Vec<u8>> =
                sqlx::query_scalar(concat!("SELECT ", last_notification_sql!("$1", "$2")))
                .bind(conversation_id)
                .bind(person_id)
                .fetch_one(pool)
                .await?;
            Ok(super::stored_email::unpack_quoted(data))
        })
    }
}
