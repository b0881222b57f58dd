//! Who may not write to us at all: blocked people and blocked sender domains. Checked at RCPT
//! time against the envelope sender, and again against the From of the email.

use super::conversations::{token_owner_columns, token_owner_from_row};
use super::inbound::{ReplyContext, reply_context_from_row, reply_context_sql};
use super::sqlite_in_place::{Columns, read_row};
use super::{Backend, Result, Store, StoreError, TokenOwner, on_backend};
use crate::domain::{EmailAddress, Millis, ReplyToken};
use rusqlite::types::{Null, ToSql};
use sqlx::Row;

/// Why a sender is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderBlock {
    Person,
    Domain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedDomain {
    pub domain: String,
    pub created_at: Millis,
}

/// The two counts behind [`SenderBlock`], as select-list items: `$2` the sender's address
/// key, `$3`–`$10` its domain and parents ([`block_domains`]). `$1` is the caller's.
macro_rules! block_counts {
    () => {
        "(SELECT COUNT(*) FROM people WHERE email_key = $2 AND blocked = 1) AS blocked_person,
         (SELECT COUNT(*) FROM blocked_domains
           WHERE domain IN ($3, $4, $5, $6, $7, $8, $9, $10)) AS blocked_domain"
    };
}

/// `mail.spam.example` → `mail.spam.example`, `spam.example`, `example`: a block on a domain
/// covers its subdomains. At most 8 labels deep (deeper names are matched on their last 8).
fn suffixes(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.split('.').collect();
    let start = labels.len().saturating_sub(8);
    (start..labels.len())
        .map(|i| labels[i..].join("."))
        .collect()
}

impl Store {
    /// Blocks a sender domain (and its subdomains). False when it already was.
    pub async fn block_domain(&self, domain: &str) -> Result<bool> {
        let now = self.now();
        on_backend!(write self, pool => {
            let done = sqlx::query(
                "INSERT INTO blocked_domains (domain, created_at) VALUES ($1, $2)
                 ON CONFLICT (domain) DO NOTHING",
            )
            .bind(domain)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// False when it was not blocked.
    pub async fn unblock_domain(&self, domain: &str) -> Result<bool> {
        on_backend!(write self, pool => {
            let done = sqlx::query("DELETE FROM blocked_domains WHERE domain = $1")
                .bind(domain)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    pub async fn blocked_domains(&self) -> Result<Vec<BlockedDomain>> {
        on_backend!(self, pool => {
            let rows = sqlx::query("SELECT domain, created_at FROM blocked_domains ORDER BY domain")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| Ok(BlockedDomain { domain: row.try_get("domain")?, created_at: row.try_get("created_at")? }))
                .collect()
        })
    }

    /// Whether mail from `address` is refused: a blocked person, or a blocked domain (or a
    /// parent of its domain). One query.
    pub async fn sender_block(&self, address: &EmailAddress) -> Result<Option<SenderBlock>> {
        let domains = block_domains(address);
        on_backend!(self, pool => {
            let mut query = sqlx::query(concat!("SELECT ", block_counts!()))
                .bind(String::new()) // $1: the token in `token_recipient`; unused here
                .bind(address.key());
            for domain in &domains {
                query = query.bind(domain);
            }
            let row = query.fetch_one(pool).await?;
            block_from_row(&row)
        })
    }

    /// RCPT to a reply address: the participant behind `token` (if live), whether mail from
    /// `sender` is refused, and the [`ReplyContext`] DATA will need (the loop breaker's count
    /// of emails from `envelope_from` since `since`, the participant's last notification), in
    /// one query: each is a round trip to the database (on SQLite, to its thread) and a read
    /// transaction that starts on a cold page cache after every commit.
    pub async fn token_recipient(
        &self,
        token: &ReplyToken,
        sender: &EmailAddress,
        envelope_from: &str,
        since: Millis,
    ) -> Result<TokenRecipient> {
        let domains = block_domains(sender);
        let (token, key) = (token.as_str(), sender.key());
        match &self.backend {
            // In place on this thread (`sqlite_in_place`): every email makes this read, and
            // through sqlx it was a switch to the connection's thread and back.
            Backend::Sqlite { readers, .. } => readers.read(|conn| {
                let mut args: Vec<&dyn ToSql> = vec![&Null, &token, &key];
                args.extend(domains.iter().map(|d| d as &dyn ToSql));
                args.extend([&envelope_from as &dyn ToSql, &since]);
                read_row(conn, TOKEN_RECIPIENT, &args, |row| {
                    token_recipient_from_row(row)
                })?
                .ok_or(StoreError::NotFound("the reply address's row"))
            }),
            Backend::Postgres { pool, .. } => {
                let mut query = sqlx::query(TOKEN_RECIPIENT).bind(token).bind(&key);
                for domain in &domains {
                    query = query.bind(domain);
                }
                let row = query
                    .bind(envelope_from)
                    .bind(since)
                    .fetch_one(pool)
                    .await?;
                token_recipient_from_row(&row)
            }
        }
    }
}

/// [`Store::token_recipient`]'s read: `$1` the token, `$2`–`$10` [`block_counts!`]'s, `$11`
/// the envelope sender, `$12` since when its emails count. One row, whoever the token is.
const TOKEN_RECIPIENT: &str = concat!(
    "SELECT ",
    token_owner_columns!(),
    ", ",
    block_counts!(),
    ", ",
    reply_context_sql!("$11", "p.conversation_id", "$12", "p.person_id"),
    " FROM (SELECT 1 AS one) AS one
      LEFT JOIN participants p ON p.reply_token = $1 AND p.removed_at IS NULL
      LEFT JOIN people pe ON pe.id = p.person_id
      LEFT JOIN conversations c ON c.id = p.conversation_id"
);

fn token_recipient_from_row<R: Columns>(row: &R) -> Result<TokenRecipient> {
    let owner = token_owner_from_row(row)?;
    Ok(TokenRecipient {
        context: match owner {
            Some(_) => Some(reply_context_from_row(row)?),
            None => None,
        },
        owner,
        block: block_from_row(row)?,
    })
}

/// What RCPT learns of a reply address ([`Store::token_recipient`]).
#[derive(Debug, Clone)]
pub struct TokenRecipient {
    /// The live participant the token belongs to.
    pub owner: Option<TokenOwner>,
    /// Whether the envelope sender is refused.
    pub block: Option<SenderBlock>,
    /// The owner's reply context, for DATA (with the owner).
    pub context: Option<ReplyContext>,
}

/// Exactly 8 domains to check `address` against: its domain's suffixes, padded with the first
/// (a repeat matches nothing new).
fn block_domains(address: &EmailAddress) -> Vec<String> {
    let mut domains = suffixes(&address.domain().to_ascii_lowercase());
    let first = domains[0].clone();
    domains.resize(8, first);
    domains
}

fn block_from_row<R: Columns>(row: &R) -> Result<Option<SenderBlock>> {
    let person: i64 = row.column("blocked_person")?;
    let domain: i64 = row.column("blocked_domain")?;
    Ok(if person > 0 {
        Some(SenderBlock::Person)
    } else if domain > 0 {
        Some(SenderBlock::Domain)
    } else {
        None
    })
}

#[cfg(test)]
mod tests {
    use super::suffixes;

    #[test]
    fn a_block_covers_the_domain_and_its_parents_only() {
        assert_eq!(
            suffixes("mail.spam.example"),
            ["mail.spam.example", "spam.example", "example"]
        );
        assert_eq!(suffixes("a.b.c.d.e.f.g.h.i.j").len(), 8);
        assert_eq!(suffixes("a.b.c.d.e.f.g.h.i.j")[0], "c.d.e.f.g.h.i.j");
    }
}
