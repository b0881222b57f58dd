//! Who may read (and so reply to) a conversation: the one rule, in one SQL predicate that every
//! query deciding access includes — the web list and page, the API's person-scoped views,
//! posting, and search and exports as they come. Reading and replying are the same right.
//!
//! - a participant always may;
//! - `company`: the company's followers — staff always, clients only while at least one client
//!   who follows the company takes part;
//! - `confidential`: the company's staff followers; among clients, participants only;
//! - `private`: participants only.
//!
//! The admin (the API token, or an admin web session) reads everything and is not a person:
//! callers skip the rule for it. Clients never see notes, deleted content or other participants'
//! addresses whatever the type (`MessageKind::visible_to`, the views).

use super::{Dialect, Result, Store, on_backend};

/// The predicate "person `$1` may read conversation `c`" (a macro, so queries stay literal
/// strings). Every query that includes it binds the person's id as `$1` and names the
/// conversation `c`.
macro_rules! may_read_sql {
    () => {
        "(EXISTS (SELECT 1 FROM participants ap
                   WHERE ap.conversation_id = c.id AND ap.person_id = $1 AND ap.removed_at IS NULL)
          OR (c.type <> 'private' AND c.company_id IS NOT NULL
              AND EXISTS (SELECT 1 FROM company_followers af
                           WHERE af.company_id = c.company_id AND af.person_id = $1)
              AND (EXISTS (SELECT 1 FROM people ar WHERE ar.id = $1 AND ar.role = 'internal')
                   OR (c.type = 'company'
                       AND EXISTS (SELECT 1 FROM participants cp
                                     JOIN people cpe ON cpe.id = cp.person_id
                                     JOIN company_followers cf
                                       ON cf.person_id = cp.person_id AND cf.company_id = c.company_id
                                    WHERE cp.conversation_id = c.id AND cp.removed_at IS NULL
                                      AND cpe.role = 'client')))))"
    };
}
pub(crate) use may_read_sql;

/// A superset of what person `$1` may read, found through indexes (their participations and
/// their companies' conversations): lists put it before [`may_read_sql!`] so that they do not
/// test the rule on every conversation. Not a second copy of the rule: it only narrows.
macro_rules! readable_candidates_sql {
    () => {
        "c.id IN (SELECT rp.conversation_id FROM participants rp
                   WHERE rp.person_id = $1 AND rp.removed_at IS NULL
                  UNION
                  SELECT rc.id FROM conversations rc
                   WHERE rc.company_id IN (SELECT rf.company_id FROM company_followers rf
                                            WHERE rf.person_id = $1))"
    };
}
pub(crate) use readable_candidates_sql;

impl Store {
    /// Whether `person_id` may read (and reply to) conversation `conversation_id`. False for
    /// an unknown conversation or person.
    pub async fn may_read(&self, conversation_id: &str, person_id: &str) -> Result<bool> {
        on_backend!(self, pool => {
            let found: Option<String> = sqlx::query_scalar(concat!(
                "SELECT c.id FROM conversations c WHERE c.id = $2 AND ",
                may_read_sql!()
            ))
            .bind(person_id)
            .bind(conversation_id)
            .fetch_optional(pool)
            .await?;
            Ok(found.is_some())
        })
    }

    /// How much of the database `reader` may read, from indexes and table sizes alone (no
    /// rule evaluated): queries use it to choose between gathering the reader's conversations
    /// and walking everything while testing the rule. `conversations` is the reader's
    /// participations plus their companies' conversations (an upper bound), or with no reader
    /// the conversations of `company` when one is given (else None: everything).
    pub(crate) async fn reader_share(
        &self,
        reader: Option<&str>,
        company: &str,
    ) -> Result<ReaderShare> {
        macro_rules! scope_sql {
            () => {
                "SELECT CASE
                   WHEN $1 IS NOT NULL THEN
                     (SELECT COUNT(*) FROM participants WHERE person_id = $1)
                     + (SELECT COUNT(*) FROM conversations WHERE company_id IN
                         (SELECT company_id FROM company_followers WHERE person_id = $1))
                   WHEN $2 <> '' THEN (SELECT COUNT(*) FROM conversations WHERE company_id = $2)
                 END, "
            };
        }
        // The tables' sizes, cheaply: SQLite's largest rowids, PostgreSQL's statistics
        // (counted when the table was never analysed).
        const SQLITE: &str = concat!(
            scope_sql!(),
            "COALESCE((SELECT MAX(rowid) FROM conversations), 0),
             COALESCE((SELECT MAX(doc_id) FROM search_docs), 0)
               - COALESCE((SELECT MIN(doc_id) FROM search_docs), 0) + 1"
        );
        const POSTGRES: &str = concat!(
            scope_sql!(),
            "(SELECT CASE WHEN reltuples >= 0 THEN reltuples::bigint
                          ELSE (SELECT COUNT(*) FROM conversations) END
                FROM pg_class WHERE oid = 'conversations'::regclass),
             (SELECT CASE WHEN reltuples >= 0 THEN reltuples::bigint
                          ELSE (SELECT COUNT(*) FROM search_docs) END
                FROM pg_class WHERE oid = 'search_docs'::regclass)"
        );
        let (conversations, all_conversations, documents) = on_backend!(self, pool => {
            sqlx::query_as(Dialect::pick(pool, SQLITE, POSTGRES))
                .bind(reader)
                .bind(company)
                .fetch_one(pool)
                .await?
        });
        Ok(ReaderShare {
            conversations,
            all_conversations,
            documents,
        })
    }
}

/// What [`Store::reader_share`] estimates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReaderShare {
    /// The conversations in scope (None: all of them).
    pub conversations: Option<i64>,
    pub all_conversations: i64,
    /// Search documents indexed.
    pub documents: i64,
}
