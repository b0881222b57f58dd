//! Search: the query, and the index's rebuild. The index is written by `search_index`, in
//! the transaction that writes what it indexes.
//!
//! One document per message (its text and file names; kind `message` or `note`), per
//! conversation subject (`subject`) and per conversation's participants (names and addresses,
//! `people`: staff only). The text is folded and stemmed in Rust (`domain::search_text`), so
//! both backends index and match the same words: SQLite in an FTS5 table (`search_fts`) whose
//! external content is `search_docs` (rowid = `doc_id`, words and stems kept there),
//! PostgreSQL in a tsvector of the `simple` configuration (words weighted A, stems B) under a
//! GIN index. The backends only find documents, newest first; ranking is done here, the same
//! for both (`SearchQuery::score`). Access is the one rule (`store::access`); clients never
//! match notes or participants, and deleted messages leave the index in the deleting
//! transaction.

use super::search_index::{index_doc, message_text, reindex_people};
use super::{Conversation, ConversationStatus, Dialect, Result, Store, on_backend};
use crate::domain::search_text::{ANALYZER_VERSION, Indexed, SearchQuery};
use crate::domain::{ConversationType, MessageKind};
use sqlx::Row;

/// Which conversations a search looks in.
#[derive(Debug, Clone, Default)]
pub struct SearchFilter<'a> {
    /// Only what this person may read (None: everything, for the admin).
    pub reader: Option<&'a str>,
    /// Notes and participants match only for staff (and the admin).
    pub staff: bool,
    pub status: Option<ConversationStatus>,
    pub kind: Option<ConversationType>,
    pub company: Option<&'a str>,
}

/// A conversation a search found, with its best matching documents (at most two), best first:
/// a message's id and kind, or None and `subject`/`people`.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub conversation: Conversation,
    pub documents: Vec<(Option<String>, String)>,
}

/// How many matching documents a search ranks at most: the newest that the reader may read.
/// Ranking every match of a common word means visiting each of them (tens of thousands in a
/// year of mail, ~30 ms for bm25 alone over 20,000 in FTS5, more in PostgreSQL); finding the
/// newest is a walk down the index that stops early. A query matching more ranks the newest
/// ones — for mail, where the recent conversation is the one looked for, the right bias. 500 is
/// 25 per conversation of a first page of 20 (a deeper page ranks more); each candidate costs
/// ~20 µs on PostgreSQL (found, checked, sent, scored), so 1,000 cost staff searches 10 ms more.
pub const SEARCH_WINDOW: i64 = 500;

/// How many of the newest documents a PostgreSQL search for a phrase reads first (~3.5 ms to
/// walk in the search bench), enough for a phrase in one readable document of 20 to fill the
/// window; how often the phrase and its words were found there decides how the rest is read.
const NEWEST_WALKED: i64 = 10_000;

/// What a document the GIN index gives costs a PostgreSQL search against one it walks past:
/// each is looked up on its own page and checked (36,693 in ~46 ms in the search bench,
/// ~1.3 µs), where walking reads documents in order (110,000 in ~38 ms, ~0.35 µs).
const INDEX_COST: i64 = 4;

/// How many lookups walking costs per match against gathering per document (see
/// [`Store::gather_first`]).
const SET_PLAN_FACTOR: i64 = 2;

/// The conditions on a conversation `c` that a search looks in: the one access rule for
/// reader `$1` (none for the admin) after `$narrow` (true, or the rule's index-friendly
/// superset when many conversations are tested), and the filters `$4` status, `$5` type, `$6`
/// company.
macro_rules! searchable_sql {
    ($narrow:expr) => {
        concat!(
            "($1 IS NULL OR (",
            $narrow,
            " AND ",
            crate::store::access::may_read_sql!(),
            "))
             AND ($4 = '' OR c.status = $4)
             AND ($5 = '' OR c.type = $5)
             AND ($6 = '' OR c.company_id = $6)"
        )
    };
}

/// A matching document, as the index gave it.
struct Candidate {
    doc_id: i64,
    conversation_id: String,
    message_id: Option<String>,
    kind: String,
    document: Indexed,
}

impl Store {
    /// Conversations matching `query` in `filter`, best first (the newer matching text breaks
    /// ties), `limit` from `offset`, each with its best matching documents.
    ///
    /// Three steps: the conversations the reader may read (the one rule, `store::access`);
    /// the newest [`SEARCH_WINDOW`] documents of theirs that the backend's index matches (more
    /// for deep pages); and their ranking, here, by [`SearchQuery::score`] — the same on both
    /// backends.
    pub async fn search(
        &self,
        query: &SearchQuery,
        filter: &SearchFilter<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<SearchHit>> {
        // A deeper page ranks more (25 documents per conversation to show), up to the first
        // 1,000 conversations' worth: an offset in a forged cursor cannot make a query walk
        // the whole index.
        let window = offset
            .saturating_add(limit)
            .saturating_mul(25)
            .clamp(SEARCH_WINDOW, 25 * 1_000);
        let candidates = self.search_candidates(query, filter, window).await?;
        let tokens: Vec<_> = candidates.iter().map(|c| c.document.tokens()).collect();
        let average = tokens.iter().map(|t| t.words.len() as f64).sum::<f64>()
            / candidates.len().max(1) as f64;
        // Each conversation's documents, best first; the conversations by their best.
        let mut by_conversation: std::collections::HashMap<&str, Vec<(f64, &Candidate)>> =
            std::collections::HashMap::new();
        for (c, tokens) in candidates.iter().zip(&tokens) {
            let score = query.score(tokens, average);
            by_conversation
                .entry(&c.conversation_id)
                .or_default()
                .push((score, c));
        }
        let mut ranked: Vec<Vec<(f64, &Candidate)>> = by_conversation.into_values().collect();
        let best_first = |a: &(f64, &Candidate), b: &(f64, &Candidate)| {
            b.0.total_cmp(&a.0).then(b.1.doc_id.cmp(&a.1.doc_id))
        };
        for documents in &mut ranked {
            documents.sort_by(best_first);
        }
        ranked.sort_by(|a, b| best_first(&a[0], &b[0]));
        let page: Vec<&Vec<(f64, &Candidate)>> = ranked
            .iter()
            .skip(usize::try_from(offset).unwrap_or(0))
            .take(usize::try_from(limit).unwrap_or(0))
            .collect();
        let ids: Vec<String> = page
            .iter()
            .map(|d| d[0].1.conversation_id.clone())
            .collect();
        let mut conversations = self.conversations_by_id(&ids).await?;
        Ok(page
            .into_iter()
            .filter_map(|documents| {
                let conversation = conversations.remove(&documents[0].1.conversation_id)?;
                Some(SearchHit {
                    conversation,
                    documents: documents
                        .iter()
                        .take(2)
                        .map(|(_, c)| (c.message_id.clone(), c.kind.clone()))
                        .collect(),
                })
            })
            .collect())
    }

    /// The newest `window` documents matching `query` in `filter` (notes and participants only
    /// for staff), newest first.
    async fn search_candidates(
        &self,
        query: &SearchQuery,
        filter: &SearchFilter<'_>,
        window: i64,
    ) -> Result<Vec<Candidate>> {
        let (status, kind, company) = (
            filter.status.map_or("", ConversationStatus::as_str),
            filter.kind.map_or("", ConversationType::as_str),
            filter.company.unwrap_or(""),
        );
        match &self.backend {
            super::Backend::Sqlite { read, .. } => {
                // FTS5 walks a query's matches newest first without reading them; the cost is
                // in checking each against what the reader may read (`gather_first`): `SET`
                // gathers the documents of the reader's conversations once and looks every
                // match up in that set, `WALK` follows each match to its document and
                // conversation and tests the rule there, stopping when the window is full.
                const SET: &str = concat!(
                    "SELECT json_group_array(json_array(doc_id, conversation_id, message_id,
                                                          kind, words, stems)) FROM (",
                    "SELECT d.doc_id, d.conversation_id, d.message_id, d.kind, d.words, d.stems
                       FROM search_fts f CROSS JOIN search_docs d ON d.doc_id = f.rowid
                      WHERE search_fts MATCH $2 ",
                    // `+` keeps FTS5 from being asked for each id in turn (it would run the
                    // whole query once per id).
                    "AND +f.rowid IN (
                           SELECT sd.doc_id FROM search_docs sd
                            WHERE sd.conversation_id IN (SELECT c.id FROM conversations c WHERE ",
                    searchable_sql!(crate::store::access::readable_candidates_sql!()),
                    ") AND ($3 = 1 OR sd.kind IN ('message', 'subject')))
                      ORDER BY f.rowid DESC LIMIT $7)"
                );
                const WALK: &str = concat!(
                    "SELECT json_group_array(json_array(doc_id, conversation_id, message_id,
                                                          kind, words, stems)) FROM (",
                    "SELECT d.doc_id, d.conversation_id, d.message_id, d.kind, d.words, d.stems
                       FROM search_fts f CROSS JOIN search_docs d ON d.doc_id = f.rowid
                            CROSS JOIN conversations c ON c.id = d.conversation_id
                      WHERE search_fts MATCH $2 AND ($3 = 1 OR d.kind IN ('message', 'subject'))
                        AND ",
                    searchable_sql!("1 = 1"),
                    " ORDER BY f.rowid DESC LIMIT $7)"
                );
                let set = self.gather_first(filter, window).await?;
                // One row of JSON rather than a row per document: rows cross from SQLite's
                // thread one by one, which cost more than the query for a thousand of them.
                let json: String = sqlx::query_scalar(if set { SET } else { WALK })
                    .bind(filter.reader)
                    .bind(query.fts5())
                    .bind(i64::from(filter.staff))
                    .bind(status)
                    .bind(kind)
                    .bind(company)
                    .bind(window)
                    .fetch_one(read)
                    .await?;
                let rows: Vec<(i64, String, Option<String>, String, String, String)> =
                    serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                Ok(rows
                    .into_iter()
                    .map(
                        |(doc_id, conversation_id, message_id, kind, words, stems)| Candidate {
                            doc_id,
                            conversation_id,
                            message_id,
                            kind,
                            document: Indexed { words, stems },
                        },
                    )
                    .collect())
            }
            super::Backend::Postgres { pool, .. } => {
                // The same two plans, each one statement (a walk for a phrase has its own,
                // `WALK_PHRASE`, below). `SET`: the documents of the
                // conversations the reader may read, gathered first (MATERIALIZED: a few
                // thousand at most, each tested with `@@` — cheaper than letting the planner
                // weigh the GIN index, whose estimate of a prefix reads the index itself);
                // `WALK`: down `doc_id` (or through the GIN index for a rare word, as the
                // planner sees fit), each match's conversation probed in the set of those the
                // reader may read (`readable`) — a set PostgreSQL hashes once (the rule tested on each
                // conversation, ~1 µs with its own subqueries hashed): the rule tested per
                // document instead, a few index lookups each, cost ten times more. It stands
                // under an `OR` (false for a reader) so that it is not made a join, which
                // would lose the walk's order. Neither is a prepared statement: each is planned
                // for its words, which a generic plan cannot know (it walked every document
                // for a rare word).
                // The scope's conversations, `$conversations` (for a reader: the rule behind
                // its index-friendly superset; for the admin: the filters alone), must stand
                // alone in the `WHERE`, where PostgreSQL makes `IN` a join: under an `OR` it
                // would test every document against them.
                macro_rules! set_sql {
                    ($conversations:expr) => {
                        concat!(
                            "WITH scope AS MATERIALIZED (
                               SELECT d.doc_id, d.conversation_id, d.message_id, d.kind, d.document
                                 FROM search_docs d
                                WHERE d.conversation_id IN (SELECT c.id FROM conversations c
                                                             WHERE ",
                            $conversations,
                            " AND ($4 = '' OR c.status = $4) AND ($5 = '' OR c.type = $5)
                                   AND ($6 = '' OR c.company_id = $6))
                                  AND ($3 = 1 OR d.kind IN ('message', 'subject')))
                             SELECT doc_id, conversation_id, message_id, kind, document::text
                               FROM scope
                              WHERE document @@ to_tsquery('simple', $2)
                              ORDER BY doc_id DESC LIMIT $7"
                        )
                    };
                }
                const SET_READER: &str = set_sql!(concat!(
                    crate::store::access::readable_candidates_sql!(),
                    " AND ",
                    crate::store::access::may_read_sql!()
                ));
                const SET_ADMIN: &str = set_sql!("$1::text IS NULL");
                // `WALK`: the matches newest first, cast to text once the window is chosen (a
                // sort's input is projected first: casting the thousands of matches a bitmap
                // of common words gives cost as much as finding them).
                macro_rules! readable_sql {
                    () => {
                        concat!(
                            "WITH readable AS MATERIALIZED (SELECT c.id FROM conversations c WHERE ",
                            searchable_sql!("1 = 1"),
                            ")"
                        )
                    };
                }
                // The matches of `$matches` among the documents `$range`, newest first, the
                // first `$limit`.
                macro_rules! walk_part_sql {
                    ($range:expr, $matches:expr, $limit:literal) => {
                        concat!(
                            "SELECT d.doc_id, d.conversation_id, d.message_id, d.kind, d.document
                               FROM search_docs d
                              WHERE ",
                            $range,
                            " AND ",
                            $matches,
                            " AND ($3 = 1 OR d.kind IN ('message', 'subject'))
                                AND (($1 IS NULL AND $4 = '' AND $5 = '' AND $6 = '')
                                     OR d.conversation_id IN (SELECT id FROM readable))
                              ORDER BY d.doc_id DESC LIMIT ",
                            $limit
                        )
                    };
                }
                const WALK: &str = concat!(
                    readable_sql!(),
                    " SELECT doc_id, conversation_id, message_id, kind, document::text FROM (",
                    walk_part_sql!("true", "d.document @@ to_tsquery('simple', $2)", "$7"),
                    ") found ORDER BY doc_id DESC"
                );
                // `WALK_PHRASE`: the planner cannot tell a rare phrase of common words from a
                // common one. It estimates `a <-> b` as common as `a & b`, but in the search
                // bench such phrases were 4 to 35 times rarer than their words together
                // ("parcel thanks" in 363 documents, parcel & thanks in 7,586). Estimated too
                // common, a rare phrase was walked through all 110,000 documents for a window
                // that never filled (~40 ms) rather than checked in the 7,586 the GIN index
                // gives (~15 ms); estimated rarer, a common one was checked in 36,000 (~46 ms)
                // rather than walked until the window filled (~6 ms). So the newest
                // `NEWEST_WALKED` ($8) documents holding the phrase's words ($9) are read first,
                // and what they held decides how the rest is searched: `hits` of them hold
                // the phrase, `candidates` its words. Walking on costs a document for each
                // `NEWEST_WALKED / hits` still missing from the window, or the whole rest (the
                // table's rows as ANALYZE last counted them, less the newest: `doc_id`s run
                // ahead after a rebuild); the GIN index, `INDEX_COST` ($10) for each of the
                // rest's candidates at the newest's rate. The cheaper part runs (the other's
                // one-time filter is false), and only if the window is still short: an
                // `Append` under a `LIMIT` runs its parts in order and stops when it is full.
                // The index's part says the words and then the phrase, two conditions the
                // planner takes for rarer than either, so that it does take the index.
                const WALK_PHRASE: &str = concat!(
                    readable_sql!(),
                    ", bound AS MATERIALIZED (
                         SELECT coalesce(max(doc_id), 0) - $8 AS doc_id FROM search_docs),
                       newest AS MATERIALIZED (
                         SELECT doc_id, conversation_id, message_id, kind, document,
                                document @@ to_tsquery('simple', $2) AS hit
                           FROM (",
                    walk_part_sql!(
                        "d.doc_id > (SELECT doc_id FROM bound)",
                        "d.document @@ to_tsquery('simple', $9)",
                        "ALL"
                    ),
                    ") candidate),
                       seen AS MATERIALIZED (
                         SELECT count(*) FILTER (WHERE hit) AS hits, count(*) AS candidates,
                                greatest((SELECT reltuples::bigint FROM pg_class
                                           WHERE oid = 'search_docs'::regclass) - $8, 0) AS rest
                           FROM newest),
                       walk_on AS MATERIALIZED (
                         SELECT least(rest, ($7 - hits) * $8 / greatest(hits, 1))
                                <= $10 * candidates * rest / $8 AS cheaper
                           FROM seen)
                     SELECT doc_id, conversation_id, message_id, kind, document::text FROM (
                       (SELECT doc_id, conversation_id, message_id, kind, document FROM newest
                         WHERE hit ORDER BY doc_id DESC LIMIT $7)
                       UNION ALL (",
                    walk_part_sql!(
                        "d.doc_id <= (SELECT doc_id FROM bound)
                         AND (SELECT cheaper FROM walk_on)",
                        "d.document @@ to_tsquery('simple', $2)",
                        "$7"
                    ),
                    ") UNION ALL (",
                    walk_part_sql!(
                        "d.doc_id <= (SELECT doc_id FROM bound)
                         AND NOT (SELECT cheaper FROM walk_on)",
                        "d.document @@ to_tsquery('simple', $9)
                         AND d.document @@ to_tsquery('simple', $2)",
                        "$7"
                    ),
                    ") LIMIT $7) found ORDER BY doc_id DESC"
                );
                let set = self.gather_first(filter, window).await?;
                let phrase_walk = !set && query.has_phrase();
                let statement = sqlx::query_as(match (set, filter.reader) {
                    (false, _) if phrase_walk => WALK_PHRASE,
                    (false, _) => WALK,
                    (true, Some(_)) => SET_READER,
                    (true, None) => SET_ADMIN,
                })
                .persistent(false)
                .bind(filter.reader)
                .bind(query.tsquery())
                .bind(i64::from(filter.staff))
                .bind(status)
                .bind(kind)
                .bind(company)
                .bind(window);
                let rows: Vec<(i64, String, Option<String>, String, String)> = if phrase_walk {
                    statement
                        .bind(NEWEST_WALKED)
                        .bind(query.tsquery_words())
                        .bind(INDEX_COST)
                        .fetch_all(pool)
                        .await?
                } else {
                    statement.fetch_all(pool).await?
                };
                Ok(rows
                    .into_iter()
                    .map(
                        |(doc_id, conversation_id, message_id, kind, vector)| Candidate {
                            doc_id,
                            conversation_id,
                            message_id,
                            kind,
                            document: document_of_tsvector(&vector),
                        },
                    )
                    .collect())
            }
        }
    }

    /// Whether a search should gather the documents of the conversations it may look in
    /// first (`SET`) rather than check each match as it walks (`WALK`). Gathering costs about
    /// one lookup per document in scope (n of the N indexed); walking, a few per match walked
    /// until the window w is full, about w·N/n matches. Gathering is cheaper while n² < 2·w·N:
    /// a client's few conversations, or one company's; staff who follow many companies walk.
    /// n is [`Store::reader_share`]'s conversations times the documents a conversation has
    /// on average.
    async fn gather_first(&self, filter: &SearchFilter<'_>, window: i64) -> Result<bool> {
        let share = self
            .reader_share(filter.reader, filter.company.unwrap_or(""))
            .await?;
        let documents = share.documents;
        Ok(share.conversations.is_some_and(|n| {
            let n = n.saturating_mul(documents) / share.all_conversations.max(1);
            n.saturating_mul(n) < SET_PLAN_FACTOR * window.saturating_mul(documents)
        }))
    }

    /// Conversations by id.
    async fn conversations_by_id(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, Conversation>> {
        const SQLITE: &str = concat!(
            "SELECT ",
            crate::store::conversations::conversation_columns!(),
            " FROM conversations c WHERE c.id IN (SELECT value FROM json_each($1))"
        );
        const POSTGRES: &str = concat!(
            "SELECT ",
            crate::store::conversations::conversation_columns!(),
            " FROM conversations c WHERE c.id IN (SELECT jsonb_array_elements_text($1::jsonb))"
        );
        let list = super::json_list(ids);
        on_backend!(self, pool => {
            let rows = sqlx::query(crate::store::Dialect::pick(pool, SQLITE, POSTGRES))
                .bind(&list)
                .fetch_all(pool)
                .await?;
            let mut out = std::collections::HashMap::new();
            for row in &rows {
                let conversation = super::conversations::conversation_from_row(row)?;
                out.insert(conversation.id.clone(), conversation);
            }
            Ok(out)
        })
    }

    /// The texts messages are found by (their text, then their files' names), by id; deleted
    /// ones are not there.
    pub async fn message_texts(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>> {
        let mut out = std::collections::HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let list = super::json_list(ids);
        const SQLITE: &str = "SELECT m.id, m.body_text,
                   (SELECT GROUP_CONCAT(a.filename, char(10)) FROM attachments a
                     WHERE a.message_id = m.id) AS files
              FROM messages m
             WHERE m.id IN (SELECT value FROM json_each($1)) AND m.deleted_at IS NULL";
        const POSTGRES: &str = "SELECT m.id, m.body_text,
                   (SELECT STRING_AGG(a.filename, chr(10)) FROM attachments a
                     WHERE a.message_id = m.id) AS files
              FROM messages m
             WHERE m.id IN (SELECT jsonb_array_elements_text($1::jsonb)) AND m.deleted_at IS NULL";
        on_backend!(self, pool => {
            let rows = sqlx::query(crate::store::Dialect::pick(pool, SQLITE, POSTGRES))
                .bind(&list)
                .fetch_all(pool)
                .await?;
            for row in &rows {
                let id: String = row.try_get("id")?;
                let body: String = row.try_get("body_text")?;
                let files: Option<String> = row.try_get("files")?;
                out.insert(id, message_text(&body, files.iter()));
            }
            Ok(out)
        })
    }

    /// Writes many messages (conversation, author, text) in one transaction, each indexed, as
    /// an import does: no notifications for them (the participants' marks move past them).
    /// The search benchmark fills its database so.
    pub async fn import_messages(&self, messages: &[(String, String, String)]) -> Result<()> {
        let now = self.now();
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            for (conversation, author, text) in messages {
                let id = crate::domain::Id::generate(crate::domain::IdKind::Message);
                sqlx::query(
                    "INSERT INTO messages (id, conversation_id, author_id, kind, body_text, source, created_at)
                     VALUES ($1, $2, $3, 'message', $4, 'api', $5)",
                )
                .bind(&id)
                .bind(conversation)
                .bind(author)
                .bind(text)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                index_doc!(tx, Some(id.as_str()), conversation, "message", text);
            }
            sqlx::query(
                "UPDATE conversations SET
                   last_seq = COALESCE((SELECT MAX(seq) FROM messages m WHERE m.conversation_id = conversations.id), 0),
                   last_activity_at = $1, history_rev = history_rev + 1",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE participants SET notified_up_to = (SELECT last_seq FROM conversations c WHERE c.id = participants.conversation_id),
                                         read_up_to = (SELECT last_seq FROM conversations c WHERE c.id = participants.conversation_id)",
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The names and addresses of a conversation's participants, as its `people` document
    /// holds them (for a staff snippet).
    pub async fn people_text(&self, conversation_id: &str) -> Result<String> {
        on_backend!(self, pool => {
            let people: Vec<(String, String)> = sqlx::query_as(
                "SELECT pe.name, pe.email FROM participants p JOIN people pe ON pe.id = p.person_id
                 WHERE p.conversation_id = $1 AND p.removed_at IS NULL ORDER BY pe.name",
            )
            .bind(conversation_id)
            .fetch_all(pool)
            .await?;
            Ok(people
                .iter()
                .map(|(n, e)| format!("{n} <{e}>"))
                .collect::<Vec<_>>()
                .join(", "))
        })
    }

    /// Indexes every message, subject and participant list again when the index was made by
    /// an older analyzer version (or never: a database from before search). At start, before
    /// serving; returns how many documents were written (0 when the index is current). With
    /// several processes starting at once, one rebuilds and the others find it done; a process
    /// older than the index (a rolling upgrade) leaves it alone rather than rebuild it
    /// backwards.
    pub async fn rebuild_search_index_if_stale(&self) -> Result<usize> {
        let version: i64 = on_backend!(self, pool => {
            sqlx::query_scalar("SELECT analyzer_version FROM search_state WHERE id = 1")
                .fetch_one(pool)
                .await?
        });
        if version > ANALYZER_VERSION {
            tracing::warn!(
                index = version,
                ours = ANALYZER_VERSION,
                "the search index was built by a newer version: upgrade this process too"
            );
        }
        if version >= ANALYZER_VERSION {
            return Ok(0);
        }
        self.rebuild_search_index_from(Some(version)).await
    }

    /// Indexes everything again, in one transaction; how many documents were written.
    pub async fn rebuild_search_index(&self) -> Result<usize> {
        self.rebuild_search_index_from(None).await
    }

    /// The rebuild; with `seen`, only if the index is still at that version once its row is
    /// locked (another process may have rebuilt it meanwhile).
    async fn rebuild_search_index_from(&self, seen: Option<i64>) -> Result<usize> {
        on_backend!(write self, pool => {
            let mut tx = pool.begin_write().await?;
            // The state row locked first (SQLite's write transaction holds the whole database):
            // two processes starting together rebuild one after the other, the second finding
            // the work done.
            let version: i64 = sqlx::query_scalar(crate::store::Dialect::pick(
                pool,
                "SELECT analyzer_version FROM search_state WHERE id = 1",
                "SELECT analyzer_version FROM search_state WHERE id = 1 FOR UPDATE",
            ))
            .fetch_one(&mut *tx)
            .await?;
            if seen.is_some_and(|seen| seen != version) {
                return Ok(0);
            }
            sqlx::query(crate::store::Dialect::pick(
                pool,
                "INSERT INTO search_fts (search_fts) VALUES ('delete-all'); DELETE FROM search_docs",
                "DELETE FROM search_docs",
            ))
            .execute(&mut *tx)
            .await?;
            // Documents are written in the order of time, as they are when indexed as they
            // come: a search walks the newest first, and a subject or a participant list is
            // as old as its conversation, not newer than every message.
            let messages: Vec<(String, String, String, String, i64)> = sqlx::query_as(
                "SELECT id, conversation_id, kind, body_text, created_at FROM messages
                  WHERE deleted_at IS NULL ORDER BY created_at, conversation_id, seq",
            )
            .fetch_all(&mut *tx)
            .await?;
            let files: Vec<(String, String)> =
                sqlx::query_as("SELECT message_id, filename FROM attachments")
                    .fetch_all(&mut *tx)
                    .await?;
            let mut by_message: std::collections::HashMap<&str, Vec<&str>> =
                std::collections::HashMap::new();
            for (message, name) in &files {
                by_message.entry(message.as_str()).or_default().push(name.as_str());
            }
            let conversations: Vec<(String, String, i64)> =
                sqlx::query_as("SELECT id, subject, created_at FROM conversations ORDER BY created_at, id")
                    .fetch_all(&mut *tx)
                    .await?;
            // Both lists are in the order of time; a conversation goes before the messages
            // written at or after its creation.
            let mut written = 0;
            let (mut c, mut m) = (conversations.iter().peekable(), messages.iter().peekable());
            loop {
                if let Some((id, subject, _)) =
                    c.next_if(|conversation| m.peek().is_none_or(|message| conversation.2 <= message.4))
                {
                    index_doc!(tx, None, id, "subject", subject);
                    reindex_people!(tx, id);
                    written += 2;
                    continue;
                }
                let Some((id, conversation, kind, body, _)) = m.next() else {
                    break;
                };
                let names = by_message.get(id.as_str()).cloned().unwrap_or_default();
                let text = message_text(body, names.iter());
                let kind = MessageKind::parse(kind).unwrap_or(MessageKind::Message).as_str();
                index_doc!(tx, Some(id.as_str()), conversation, kind, &text);
                written += 1;
            }
            sqlx::query("UPDATE search_state SET analyzer_version = $1 WHERE id = 1")
                .bind(ANALYZER_VERSION)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            // Every row was rewritten: PostgreSQL's planner needs the index's new statistics
            // (how common each word is) to pick between walking and the GIN index, and every
            // old row is dead — until vacuumed, each match the GIN index gives is looked up
            // twice in a table twice its size (a phrase's check 16 → 40 ms in the search
            // bench). VACUUM takes no lock that stops reads or writes.
            if let super::Backend::Postgres { pool, .. } = &self.backend {
                sqlx::query("VACUUM (ANALYZE) search_docs").execute(pool).await?;
            }
            Ok(written)
        })
    }
}

/// A PostgreSQL document's words (weight A, at their positions) and stems (weight B), from
/// the tsvector's text form (`'word':1A,4A 'stem':2B`): what SQLite keeps in `search_docs`.
/// Read bytewise (a quote or backslash is never part of a multi-byte character), borrowing
/// each lexeme unless it holds an escape: a search reads a thousand of these.
fn document_of_tsvector(text: &str) -> Indexed {
    use std::borrow::Cow;
    let bytes = text.as_bytes();
    let mut words: Vec<(u32, Cow<'_, str>)> = Vec::new();
    let mut stems: Vec<Cow<'_, str>> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\'' {
            i += 1;
            continue;
        }
        // The lexeme, quoted: a quote inside is doubled, a backslash escapes the next byte.
        let start = i + 1;
        let (mut j, mut escaped) = (start, false);
        while j < bytes.len() {
            match bytes[j] {
                b'\\' => (j, escaped) = (j + 2, true),
                b'\'' if bytes.get(j + 1) == Some(&b'\'') => (j, escaped) = (j + 2, true),
                b'\'' => break,
                _ => j += 1,
            }
        }
        let raw = &text[start..j.min(bytes.len())];
        let lexeme: Cow<'_, str> = match escaped {
            false => Cow::Borrowed(raw),
            true => {
                let mut out = String::with_capacity(raw.len());
                let mut chars = raw.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' | '\'' => out.extend(chars.next()),
                        c => out.push(c),
                    }
                }
                Cow::Owned(out)
            }
        };
        i = j + 1;
        if bytes.get(i) != Some(&b':') {
            continue;
        }
        let end = text[i..].find(' ').map_or(text.len(), |e| i + e);
        for position in text[i + 1..end].split(',') {
            let digits = position.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            match (&position[digits.len()..], digits.parse::<u32>()) {
                ("A", Ok(at)) => words.push((at, lexeme.clone())),
                _ => stems.push(lexeme.clone()),
            }
        }
        i = end;
    }
    words.sort_unstable_by_key(|(at, _)| *at);
    Indexed {
        words: words
            .iter()
            .map(|(_, w)| &**w)
            .collect::<Vec<_>>()
            .join(" "),
        stems: stems.iter().map(|s| &**s).collect::<Vec<_>>().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tsvector_gives_back_its_words_in_order_and_its_stems() {
        let d = document_of_tsvector("'factur':4B 'facture':1A,3A 'l''eau':2A 'x':5 'a\\\\b':6A");
        assert_eq!(d.words, "facture l'eau facture a\\b");
        assert_eq!(d.stems, "factur x");
        // Without positions (a stripped vector) a lexeme is neither.
        assert_eq!(document_of_tsvector("'été' 'x':1A").words, "x");
        assert_eq!(document_of_tsvector("").words, "");
    }
}
