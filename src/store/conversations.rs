use super::lifecycle::{EventKind, decode_status, record_event};
use super::people::person_from_row;
use super::sqlite_in_place::Columns;
use super::{ConversationStatus, Dialect, Person, Result, Store, StoreError, on_backend};
use crate::domain::{ConversationType, Id, IdKind, Millis, ReplyToken};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: String,
    pub subject: String,
    pub created_by: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub status: ConversationStatus,
    /// An internal user responsible for it.
    pub assignee_id: Option<String>,
    /// Set while `snoozed`: when it wakes up.
    pub snoozed_until: Option<Millis>,
    /// Moves with every change to what the history shows (messages, deletions, events), in
    /// the transaction that makes it: the web view's rendered-history cache key.
    pub history_rev: i64,
    /// The seq of its newest message (0: none yet).
    pub last_seq: i64,
    /// The sending domain its emails go out from (None: the default domain).
    pub domain: Option<String>,
    /// Who reads it beyond its participants (`store::access`).
    pub kind: ConversationType,
    /// Set for `company` and `confidential` conversations.
    pub company_id: Option<String>,
    /// Its last message or lifecycle change: lists are ordered by it.
    pub last_activity_at: Millis,
    /// Put away by staff (None: in the inbox); a new message brings it back.
    pub archived_at: Option<Millis>,
}

/// Which conversations a list shows; each given field narrows it.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter<'a> {
    /// Only what this person may read (None: everything, for the admin).
    pub reader: Option<&'a str>,
    /// Assigned to this person (`Some(None)`: to nobody).
    pub assignee: Option<Option<&'a str>>,
    pub status: Option<ConversationStatus>,
    pub kind: Option<ConversationType>,
    pub company: Option<&'a str>,
    /// Which shelf: the inbox (the default), the archive, or both.
    pub archived: Shelf,
}

/// Where a list looks: archived conversations leave every list but the archive's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Shelf {
    #[default]
    Inbox,
    Archive,
    Both,
}

impl Shelf {
    /// The `$n` of the list queries' `archived_sql!` test.
    pub fn code(self) -> i64 {
        match self {
            Shelf::Inbox => 0,
            Shelf::Archive => 1,
            Shelf::Both => 2,
        }
    }
}

/// The shelf test of the list queries, with the shelf's code in `$p`.
macro_rules! archived_sql {
    ($p:literal) => {
        concat!(
            "(",
            $p,
            " = 2 OR (",
            $p,
            " = 0 AND c.archived_at IS NULL) OR (",
            $p,
            " = 1 AND c.archived_at IS NOT NULL))"
        )
    };
}
pub(crate) use archived_sql;

/// What a new conversation is besides its subject and people.
#[derive(Debug, Clone, Default)]
pub struct ConversationOptions<'a> {
    /// The sending domain its emails go out from (None: the default).
    pub domain: Option<&'a str>,
    /// None: private.
    pub kind: Option<ConversationType>,
    pub company_id: Option<&'a str>,
}

/// The columns [`conversation_from_row`] reads, from `conversations c` (a macro, so queries
/// stay literal strings).
macro_rules! conversation_columns {
    () => {
        "c.id, c.subject, c.created_by, c.created_at, c.updated_at, c.status, c.assignee_id,
         c.snoozed_until, c.history_rev, c.last_seq, c.domain, c.type, c.company_id,
         c.last_activity_at, c.archived_at"
    };
}
pub(super) use conversation_columns;

pub(super) fn conversation_from_row<R: Row>(row: &R) -> Result<Conversation>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let status: String = row.try_get("status")?;
    let kind: String = row.try_get("type")?;
    Ok(Conversation {
        id: row.try_get("id")?,
        subject: row.try_get("subject")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        status: decode_status(&status)?,
        assignee_id: row.try_get("assignee_id")?,
        snoozed_until: row.try_get("snoozed_until")?,
        history_rev: row.try_get("history_rev")?,
        last_seq: row.try_get("last_seq")?,
        domain: row.try_get("domain")?,
        kind: ConversationType::parse(&kind).ok_or_else(|| {
            StoreError::Database(sqlx::Error::Decode(
                format!("unknown conversation type {kind:?}").into(),
            ))
        })?,
        company_id: row.try_get("company_id")?,
        last_activity_at: row.try_get("last_activity_at")?,
        archived_at: row.try_get("archived_at")?,
    })
}

#[derive(Debug, Clone)]
pub struct Participant {
    pub person: Person,
    pub added_at: Millis,
    pub reply_token: ReplyToken,
}

/// The select list a [`TokenOwner`] is read from ([`token_owner_from_row`]); `p` is
/// participants, `pe` people, `c` conversations.
macro_rules! token_owner_columns {
    () => {
        "p.conversation_id, c.domain AS conversation_domain, pe.id, pe.email, pe.name, pe.role, \
         pe.created_at, pe.email_status"
    };
}
pub(super) use token_owner_columns;

/// The [`TokenOwner`] of a row with [`token_owner_columns!`]; None when its participant
/// columns are NULL (a LEFT JOIN that found no one).
pub(super) fn token_owner_from_row<R: Columns>(row: &R) -> Result<Option<TokenOwner>> {
    let conversation_id: Option<String> = row.column("conversation_id")?;
    conversation_id
        .map(|conversation_id| {
            Ok(TokenOwner {
                conversation_id,
                domain: row.column("conversation_domain")?,
                person: person_from_row(row)?,
            })
        })
        .transpose()
}

/// Who a live reply token belongs to, and where it leads.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub conversation_id: String,
    /// The conversation's sending domain (None: the default): its tokens are valid only on
    /// that domain's reply domain.
    pub domain: Option<String>,
    pub person: Person,
}

/// A conversation to create inside another transaction (an email to an inbox address starts
/// one in the transaction that stores the email).
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub id: String,
    pub subject: String,
    pub created_by: String,
    /// Everyone taking part, the creator included; each gets a fresh reply token.
    pub members: Vec<String>,
    /// The sending domain whose inbox address it came to.
    pub inbox_domain: Option<String>,
    /// The sending domain its emails go out from (None: the default).
    pub domain: Option<String>,
    pub kind: ConversationType,
    pub company_id: Option<String>,
}

/// Inserts a [`NewConversation`] in the caller's transaction (expanded per backend). Unknown
/// people fail it with `NotFound`.
macro_rules! insert_conversation {
    ($tx:expr, $new:expr, $now:expr) => {{
        let new: &$crate::store::conversations::NewConversation = $new;
        for member in &new.members {
            let exists: Option<String> = sqlx::query_scalar("SELECT id FROM people WHERE id = $1 AND erased_at IS NULL")
                .bind(member)
                .fetch_optional(&mut *$tx)
                .await?;
            if exists.is_none() {
                return Err($crate::store::StoreError::NotFound("person"));
            }
        }
        sqlx::query(
            "INSERT INTO conversations (id, subject, created_by, created_at, updated_at, last_activity_at, inbox_domain, domain, type, company_id)
             VALUES ($1, $2, $3, $4, $4, $4, $5, $6, $7, $8)",
        )
        .bind(&new.id)
        .bind(&new.subject)
        .bind(&new.created_by)
        .bind($now)
        .bind(&new.inbox_domain)
        .bind(&new.domain)
        .bind(new.kind.as_str())
        .bind(&new.company_id)
        .execute(&mut *$tx)
        .await?;
        for member in &new.members {
            sqlx::query(
                "INSERT INTO participants (conversation_id, person_id, reply_token, added_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&new.id)
            .bind(member)
            .bind($crate::domain::ReplyToken::generate().as_str())
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        }
        $crate::store::search_index::index_doc!($tx, None, &new.id, "subject", &new.subject);
        $crate::store::search_index::reindex_people!($tx, &new.id);
    }};
}
pub(super) use insert_conversation;

/// Makes `person_id` a participant inside the caller's transaction (again, if they had been
/// removed: with the new token `token`, the old one stays revoked), not emailed the history
/// from before they joined. False when they already take part.
macro_rules! join_participant {
    ($tx:ident, $conversation_id:expr, $person_id:expr, $token:expr, $now:expr) => {{
        let conversation_id: &str = $conversation_id;
        let person_id: &str = $person_id;
        let current: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT removed_at FROM participants WHERE conversation_id = $1 AND person_id = $2",
        )
        .bind(conversation_id)
        .bind(person_id)
        .fetch_optional(&mut *$tx)
        .await?;
        let last_seq: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = $1",
        )
        .bind(conversation_id)
        .fetch_one(&mut *$tx)
        .await?;
        let sql = match current {
            Some(None) => None,
            Some(Some(_)) => Some(
                "UPDATE participants SET removed_at = NULL, reply_token = $3, added_at = $4,
                        notified_up_to = $5
                 WHERE conversation_id = $1 AND person_id = $2",
            ),
            None => Some(
                "INSERT INTO participants (conversation_id, person_id, reply_token, added_at, notified_up_to)
                 VALUES ($1, $2, $3, $4, $5)",
            ),
        };
        if let Some(sql) = sql {
            sqlx::query(sql)
                .bind(conversation_id)
                .bind(person_id)
                .bind($token)
                .bind($now)
                .bind(last_seq)
                .execute(&mut *$tx)
                .await?;
            $crate::store::search_index::reindex_people!($tx, conversation_id);
        }
        sql.is_some()
    }};
}
pub(super) use join_participant;

impl Store {
    /// The people every conversation started at an inbox address includes: the team (internal,
    /// not blocked), oldest first.
    pub async fn team_ids(&self) -> Result<Vec<String>> {
        on_backend!(self, pool => {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM people WHERE role = 'internal' AND blocked = 0 ORDER BY created_at, id",
            )
            .fetch_all(pool)
            .await?;
            Ok(ids)
        })
    }

    /// The most recently active conversation, not closed, that `person_id` started (or takes
    /// part in) through `domain`'s inbox address.
    pub async fn open_inbox_conversation(
        &self,
        person_id: &str,
        domain: &str,
    ) -> Result<Option<String>> {
        on_backend!(self, pool => {
            let id: Option<String> = sqlx::query_scalar(
                "SELECT c.id FROM conversations c
                 JOIN participants p ON p.conversation_id = c.id
                 WHERE p.person_id = $1 AND p.removed_at IS NULL
                   AND c.inbox_domain = $2 AND c.status <> 'closed'
                 ORDER BY c.last_activity_at DESC, c.id LIMIT 1",
            )
            .bind(person_id)
            .bind(domain)
            .fetch_optional(pool)
            .await?;
            Ok(id)
        })
    }

    /// Creates the conversation with its creator and `participants` (duplicates ignored), each
    /// with a fresh reply token. Unknown people fail the whole creation.
    pub async fn create_conversation(
        &self,
        subject: &str,
        created_by: &str,
        participants: &[String],
    ) -> Result<Conversation> {
        self.create_conversation_with(
            subject,
            created_by,
            participants,
            &ConversationOptions::default(),
        )
        .await
    }

    /// [`Store::create_conversation`] with its sending domain, type and company. An unknown
    /// company fails it with `NotFound("company")`.
    pub async fn create_conversation_with(
        &self,
        subject: &str,
        created_by: &str,
        participants: &[String],
        options: &ConversationOptions<'_>,
    ) -> Result<Conversation> {
        let domain = options.domain;
        let kind = options.kind.unwrap_or(ConversationType::Private);
        let company_id = options.company_id.map(str::to_string);
        let now = self.now();
        let conversation = Conversation {
            id: Id::generate(IdKind::Conversation),
            subject: subject.to_string(),
            created_by: created_by.to_string(),
            created_at: now,
            updated_at: now,
            status: ConversationStatus::Open,
            assignee_id: None,
            snoozed_until: None,
            history_rev: 0,
            last_seq: 0,
            domain: domain.map(str::to_string),
            kind,
            company_id: company_id.clone(),
            last_activity_at: now,
            archived_at: None,
        };
        let mut members: Vec<&str> = vec![created_by];
        for p in participants {
            if !members.contains(&p.as_str()) {
                members.push(p);
            }
        }
        let new = NewConversation {
            id: conversation.id.clone(),
            subject: conversation.subject.clone(),
            created_by: created_by.to_string(),
            members: members.iter().map(|m| m.to_string()).collect(),
            inbox_domain: None,
            domain: domain.map(str::to_string),
            kind,
            company_id,
        };
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            if let Some(company) = &new.company_id {
                let found: Option<String> = sqlx::query_scalar("SELECT id FROM companies WHERE id = $1")
                    .bind(company)
                    .fetch_optional(&mut *tx)
                    .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound("company"));
                }
            }
            insert_conversation!(tx, &new, now);
            tx.commit().await?;
        });
        Ok(conversation)
    }

    pub async fn conversation(&self, id: &str) -> Result<Option<Conversation>> {
        on_backend!(self, pool => {
            let row = sqlx::query(concat!(
                "SELECT ",
                conversation_columns!(),
                " FROM conversations c WHERE c.id = $1"
            ))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.map(|row| conversation_from_row(&row)).transpose()
        })
    }

    /// Conversations matching `filter`, newest activity first, at most `limit` after `after`
    /// (a cursor of this order: last activity, id). With `filter.reader`, only those that person
    /// may read (`store::access`), each with their unread count where they take part.
    pub async fn conversation_page(
        &self,
        filter: &ConversationFilter<'_>,
        after: Option<&super::Cursor>,
        limit: i64,
    ) -> Result<Vec<(Conversation, Option<i64>)>> {
        let (after_at, after_id) = match after {
            Some(c) => (c.key.parse::<i64>().unwrap_or(i64::MAX), c.id.as_str()),
            None => (i64::MAX, ""),
        };
        // Who reads many conversations walks them by activity, status by status (the index on
        // status and last activity), testing the rule until the page is full; who reads few
        // has the rule tested on each of theirs (found through indexes) and sorted. Walking
        // tests about limit·N/n conversations of N for a reader of n, gathering n: walk while
        // n² > limit·N.
        let walk = match filter.reader {
            Some(reader) => {
                let share = self.reader_share(Some(reader), "").await?;
                let n = share.conversations.unwrap_or(i64::MAX);
                n.saturating_mul(n) > limit.saturating_mul(share.all_conversations)
            }
            None => false,
        };
        /// One status's conversations the reader may read, newest activity first: a walk
        /// down `conversations_by_activity` that stops at the page's size.
        macro_rules! by_status {
            ($status:literal) => {
                concat!(
                    "SELECT * FROM (SELECT c.id, c.last_activity_at FROM conversations c
                      WHERE c.status = '",
                    $status,
                    "' AND ",
                    crate::store::access::may_read_sql!(),
                    " AND ($2 = 0 OR ($3 = '' AND c.assignee_id IS NULL) OR c.assignee_id = $3)
                      AND ($4 = '' OR c.status = $4)
                      AND ($5 = '' OR c.type = $5)
                      AND ($6 = '' OR c.company_id = $6)
                      AND ",
                    archived_sql!("$10"),
                    "
                      AND (c.last_activity_at < $7 OR (c.last_activity_at = $7 AND c.id < $8))
                    ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $9) s"
                )
            };
        }
        macro_rules! page_sql {
            ($page:expr) => {
                concat!(
                    "WITH page AS MATERIALIZED (",
                    $page,
                    ")
                 SELECT ",
                    conversation_columns!(),
                    ",
                   CASE WHEN p.person_id IS NULL THEN NULL ELSE
                   (SELECT COUNT(*) FROM messages u
                     WHERE u.conversation_id = c.id AND u.seq > p.read_up_to AND u.author_id <> p.person_id
                       AND u.deleted_at IS NULL AND (u.kind = 'message' OR r.role = 'internal')) END AS unread
                 FROM page pg
                 JOIN conversations c ON c.id = pg.id
                 LEFT JOIN participants p ON p.conversation_id = c.id AND p.person_id = $1 AND p.removed_at IS NULL
                 LEFT JOIN people r ON r.id = $1
                 ORDER BY c.last_activity_at DESC, c.id DESC"
                )
            };
        }
        const GATHER: &str = page_sql!(concat!(
            "SELECT c.id FROM conversations c
              WHERE ($1 IS NULL OR (",
            crate::store::access::readable_candidates_sql!(),
            " AND ",
            crate::store::access::may_read_sql!(),
            "))
                AND ($2 = 0 OR ($3 = '' AND c.assignee_id IS NULL) OR c.assignee_id = $3)
                AND ($4 = '' OR c.status = $4)
                AND ($5 = '' OR c.type = $5)
                AND ($6 = '' OR c.company_id = $6)
                AND ",
            archived_sql!("$10"),
            "
                AND (c.last_activity_at < $7 OR (c.last_activity_at = $7 AND c.id < $8))
              ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $9"
        ));
        // One branch per status: a status added to `ConversationStatus` must be added here.
        const _: () = assert!(ConversationStatus::ALL.len() == 4);
        const WALK: &str = page_sql!(concat!(
            "SELECT id FROM (",
            by_status!("open"),
            " UNION ALL ",
            by_status!("pending"),
            " UNION ALL ",
            by_status!("snoozed"),
            " UNION ALL ",
            by_status!("closed"),
            ") w ORDER BY last_activity_at DESC, id DESC LIMIT $9"
        ));
        on_backend!(self, pool => {
            let rows = sqlx::query(if walk { WALK } else { GATHER })
            .bind(filter.reader)
            .bind(i64::from(filter.assignee.is_some()))
            .bind(filter.assignee.flatten().unwrap_or(""))
            .bind(filter.status.map_or("", ConversationStatus::as_str))
            .bind(filter.kind.map_or("", ConversationType::as_str))
            .bind(filter.company.unwrap_or(""))
            .bind(after_at)
            .bind(after_id)
            .bind(limit)
            .bind(filter.archived.code())
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| Ok((conversation_from_row(row)?, row.try_get("unread")?)))
                .collect()
        })
    }

    /// The conversation and, when `person_id` takes part in it, their read mark and mute: one
    /// query for what every web page of a conversation starts with. None when `person_id` may
    /// not read it (`store::access`); without a person (the admin), any conversation.
    pub async fn conversation_for(
        &self,
        id: &str,
        person_id: Option<&str>,
    ) -> Result<Option<(Conversation, Option<super::ParticipantState>)>> {
        on_backend!(self, pool => {
            // Without a person (the admin): every conversation; with one: what they may read.
            let row = sqlx::query(concat!(
                "SELECT ",
                conversation_columns!(),
                ", p.read_up_to, p.muted
                 FROM conversations c
                 LEFT JOIN participants p
                   ON p.conversation_id = c.id AND p.person_id = $1 AND p.removed_at IS NULL
                 WHERE c.id = $2 AND ($1 IS NULL OR ",
                crate::store::access::may_read_sql!(),
                ")"
            ))
            .bind(person_id)
            .bind(id)
            .fetch_optional(pool)
            .await?;
            row.map(|row| -> Result<_> {
                let conversation = conversation_from_row(&row)?;
                let read_up_to: Option<i64> = row.try_get("read_up_to")?;
                let muted: Option<i64> = row.try_get("muted")?;
                let place = read_up_to.map(|read_up_to| super::ParticipantState {
                    read_up_to,
                    muted: muted.unwrap_or(0) != 0,
                });
                Ok((conversation, place))
            })
            .transpose()
        })
    }

    /// Adds a person (again, if they had been removed: with a new token, the old one stays
    /// revoked). They are not emailed the history from before they joined.
    pub async fn add_participant(
        &self,
        conversation_id: &str,
        person_id: &str,
    ) -> Result<Participant> {
        self.add_participant_by(conversation_id, person_id, None)
            .await
    }

    /// [`Store::add_participant`], recording who did it in the conversation's events.
    pub async fn add_participant_by(
        &self,
        conversation_id: &str,
        person_id: &str,
        actor_id: Option<&str>,
    ) -> Result<Participant> {
        let now = self.now();
        let token = ReplyToken::generate();
        let person = self
            .person(person_id)
            .await?
            .ok_or(StoreError::NotFound("person"))?;
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let exists: Option<String> = sqlx::query_scalar("SELECT id FROM conversations WHERE id = $1")
                .bind(conversation_id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound("conversation"));
            }
            if !join_participant!(tx, conversation_id, person_id, token.as_str(), now) {
                return Err(StoreError::Conflict("this person already takes part in the conversation"));
            }
            record_event!(tx, conversation_id, EventKind::ParticipantAdded, actor_id,
                serde_json::json!({"person_id": person_id}), now);
            tx.commit().await?;
        });
        Ok(Participant {
            person,
            added_at: now,
            reply_token: token,
        })
    }

    /// Removes a participant and revokes their reply token. Returns false when they were not a
    /// (live) participant.
    pub async fn remove_participant(&self, conversation_id: &str, person_id: &str) -> Result<bool> {
        self.remove_participant_by(conversation_id, person_id, None)
            .await
    }

    /// [`Store::remove_participant`], recording who did it in the conversation's events.
    pub async fn remove_participant_by(
        &self,
        conversation_id: &str,
        person_id: &str,
        actor_id: Option<&str>,
    ) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(
                "UPDATE participants SET removed_at = $3
                 WHERE conversation_id = $1 AND person_id = $2 AND removed_at IS NULL",
            )
            .bind(conversation_id)
            .bind(person_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let removed = done.rows_affected() > 0;
            if removed {
                record_event!(tx, conversation_id, EventKind::ParticipantRemoved, actor_id,
                    serde_json::json!({"person_id": person_id}), now);
                crate::store::search_index::reindex_people!(tx, conversation_id);
            }
            tx.commit().await?;
            Ok(removed)
        })
    }

    /// Live participants, in the order they joined.
    pub async fn participants(&self, conversation_id: &str) -> Result<Vec<Participant>> {
        on_backend!(self, pool => {
            let rows = sqlx::query(
                "SELECT pe.id, pe.email, pe.name, pe.role, pe.created_at, pe.email_status, p.added_at, p.reply_token
                 FROM participants p JOIN people pe ON pe.id = p.person_id
                 WHERE p.conversation_id = $1 AND p.removed_at IS NULL
                 ORDER BY p.added_at, pe.id",
            )
            .bind(conversation_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let token: String = row.try_get("reply_token")?;
                    Ok(Participant {
                        person: person_from_row(row)?,
                        added_at: row.try_get("added_at")?,
                        reply_token: ReplyToken::parse(&token)
                            .ok_or(StoreError::Database(sqlx::Error::Decode("malformed reply token".into())))?,
                    })
                })
                .collect()
        })
    }

    /// The live participant a reply token belongs to; None for unknown or revoked tokens.
    pub async fn participant_by_token(&self, token: &ReplyToken) -> Result<Option<TokenOwner>> {
        on_backend!(self, pool => {
            let row = sqlx::query(concat!(
                "SELECT ", token_owner_columns!(),
                " FROM participants p JOIN people pe ON pe.id = p.person_id
                  JOIN conversations c ON c.id = p.conversation_id
                  WHERE p.reply_token = $1 AND p.removed_at IS NULL"
            ))
            .bind(token.as_str())
            .fetch_optional(pool)
            .await?;
            Ok(row.as_ref().map(token_owner_from_row).transpose()?.flatten())
        })
    }
}

impl Store {
    /// A live participant by conversation and person (for replies routed by Message-ID).
    pub async fn live_participant(
        &self,
        conversation_id: &str,
        person_id: &str,
    ) -> Result<Option<TokenOwner>> {
        on_backend!(self, pool => {
            let row = sqlx::query(concat!(
                "SELECT ", token_owner_columns!(),
                " FROM participants p JOIN people pe ON pe.id = p.person_id
                  JOIN conversations c ON c.id = p.conversation_id
                  WHERE p.conversation_id = $1 AND p.person_id = $2 AND p.removed_at IS NULL"
            ))
            .bind(conversation_id)
            .bind(person_id)
            .fetch_optional(pool)
            .await?;
            Ok(row.as_ref().map(token_owner_from_row).transpose()?.flatten())
        })
    }
}
