//! Domain types: parsed once at the edge, trusted after. No I/O here.

mod address;
pub mod envelope;
pub mod file_type;
mod ids;
mod links;
mod local_time;
mod message_id;
mod reply_marker;
pub mod search_text;
pub mod sending;
pub mod text;
mod token;

pub use address::{EmailAddress, InvalidEmail, parse_domain_name};
pub use ids::{Id, IdKind};
pub use links::{
    CONFIRM_LINK_LIFETIME_MS, LinkSigner, MAGIC_LINK_LIFETIME_MS, MagicLink,
    UNSUBSCRIBE_LINK_LIFETIME_MS, redact_sign_in_links,
};
pub use local_time::TimeZone;
pub use message_id::{MessageIds, OurMessageId};
pub use reply_marker::{REPLY_MARKER, REPLY_MARKER_FR, has_marker};
pub use token::{ReplyToken, random_base32};

use serde::{Deserialize, Serialize};

/// Who a person is to the team. Internal users (agents) see notes and the participant list;
/// clients never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Internal,
    Client,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Internal => "internal",
            Role::Client => "client",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "internal" => Some(Role::Internal),
            "client" => Some(Role::Client),
            _ => None,
        }
    }
}

/// A message is visible to every participant; a note only to internal ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Message,
    Note,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Message => "message",
            MessageKind::Note => "note",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "message" => Some(MessageKind::Message),
            "note" => Some(MessageKind::Note),
            _ => None,
        }
    }

    /// The visibility rule, in one place: notes never reach a client.
    pub fn visible_to(self, role: Role) -> bool {
        matches!(
            (self, role),
            (MessageKind::Message, _) | (MessageKind::Note, Role::Internal)
        )
    }
}

/// Where a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Email,
    Web,
    Api,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Email => "email",
            Source::Web => "web",
            Source::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Source::Email),
            "web" => Some(Source::Web),
            "api" => Some(Source::Api),
            _ => None,
        }
    }
}

/// Whether we may email a person: bounces move an address from `ok` to `soft_bounce` (recent
/// temporary failures, still mailed) or `bounced` (suppressed: nothing is sent to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    Ok,
    SoftBounce,
    Bounced,
}

impl EmailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Ok => "ok",
            EmailStatus::SoftBounce => "soft_bounce",
            EmailStatus::Bounced => "bounced",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(EmailStatus::Ok),
            "soft_bounce" => Some(EmailStatus::SoftBounce),
            "bounced" => Some(EmailStatus::Bounced),
            _ => None,
        }
    }

    pub fn may_email(self) -> bool {
        self != EmailStatus::Bounced
    }
}

/// How a person wants to hear about new messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyMode {
    /// The first unseen message at the next tick, then at most one email per digest interval.
    Digest,
    /// Every message at the next tick (agents who work from their mail client).
    Immediate,
    /// Nothing.
    Off,
}

impl NotifyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyMode::Digest => "digest",
            NotifyMode::Immediate => "immediate",
            NotifyMode::Off => "off",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "digest" => Some(NotifyMode::Digest),
            "immediate" => Some(NotifyMode::Immediate),
            "off" => Some(NotifyMode::Off),
            _ => None,
        }
    }
}

/// Who a conversation is for beyond its participants (see `store::access` for the rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationType {
    /// Its participants only.
    Private,
    /// A company's: its followers, staff and (while a client follower takes part) clients.
    Company,
    /// A company's, for its staff followers; among clients, participants only.
    Confidential,
}

impl ConversationType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationType::Private => "private",
            ConversationType::Company => "company",
            ConversationType::Confidential => "confidential",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "private" => Some(ConversationType::Private),
            "company" => Some(ConversationType::Company),
            "confidential" => Some(ConversationType::Confidential),
            _ => None,
        }
    }

    /// Whether this type goes with a company (company, confidential) or without (private).
    pub fn has_company(self) -> bool {
        self != ConversationType::Private
    }
}

/// The languages emails are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Locale {
    En,
    Fr,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Fr => "fr",
        }
    }

    /// `fr`, `fr-CA`, `FR_fr` → French; anything else we do not write in → None.
    pub fn parse(s: &str) -> Option<Self> {
        let lang = s
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match lang.as_str() {
            "en" => Some(Locale::En),
            "fr" => Some(Locale::Fr),
            _ => None,
        }
    }
}

/// What happened to one received email; the vocabulary of `GET /api/v1/inbound`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundOutcome {
    Posted,
    Duplicate,
    AutoReply,
    Bounce,
    SenderMismatch,
    Unmatched,
    Empty,
    Rejected,
    /// A `mailto:` unsubscribe request (RFC 2369 List-Unsubscribe) that muted a conversation.
    Unsubscribe,
    /// Failed DMARC where the sender's domain says `p=quarantine`: kept, not posted, until an
    /// admin releases it.
    Held,
    /// A held email an admin released (its post has an inbound record of its own).
    Released,
    /// A staff reply made only of commands (`#close`…): applied, nothing posted.
    Commands,
    /// A reply through a live reply address from someone who is not its participant (a
    /// forward, a colleague, another account): kept, not posted, until staff post it as the
    /// participant, add the sender and post it as theirs, or drop it.
    UnknownSender,
    /// A held email staff dropped: kept for the record, never posted.
    Dropped,
}

impl InboundOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            InboundOutcome::Posted => "posted",
            InboundOutcome::Duplicate => "duplicate",
            InboundOutcome::AutoReply => "auto_reply",
            InboundOutcome::Bounce => "bounce",
            InboundOutcome::SenderMismatch => "sender_mismatch",
            InboundOutcome::Unmatched => "unmatched",
            InboundOutcome::Empty => "empty",
            InboundOutcome::Rejected => "rejected",
            InboundOutcome::Unsubscribe => "unsubscribe",
            InboundOutcome::Held => "held",
            InboundOutcome::Released => "released",
            InboundOutcome::Commands => "commands",
            InboundOutcome::UnknownSender => "unknown_sender",
            InboundOutcome::Dropped => "dropped",
        }
    }

    /// Every outcome, in the order the admin's inbound log offers them as filters.
    pub const ALL: [InboundOutcome; 14] = [
        InboundOutcome::Posted,
        InboundOutcome::Held,
        InboundOutcome::UnknownSender,
        InboundOutcome::Released,
        InboundOutcome::Dropped,
        InboundOutcome::Duplicate,
        InboundOutcome::AutoReply,
        InboundOutcome::Bounce,
        InboundOutcome::SenderMismatch,
        InboundOutcome::Unmatched,
        InboundOutcome::Empty,
        InboundOutcome::Rejected,
        InboundOutcome::Unsubscribe,
        InboundOutcome::Commands,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        InboundOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Kept for staff to release or drop.
    pub fn is_held(self) -> bool {
        matches!(self, InboundOutcome::Held | InboundOutcome::UnknownSender)
    }
}

/// What a reply through a live reply address does when its From is not the participant the
/// address belongs to (nor one of their verified addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SenderPolicy {
    /// Kept as `unknown_sender` for staff to post (as the participant, or as the sender once
    /// added) or drop; the sender is told it waits for the team.
    #[default]
    Hold,
    /// `550 5.7.1`, as a reply address belongs to one person.
    Strict,
}

/// What an inbox address (`support@<domain>`) does with mail from someone who is not a person
/// we know yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrangerPolicy {
    /// `550 5.7.1`: only known people may write.
    Refuse,
    /// Held until the sender follows the confirmation link we email them (proving they own
    /// the address), then posted as a new client.
    Verify,
    /// Posted at once as a new client.
    Accept,
}

impl StrangerPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            StrangerPolicy::Refuse => "refuse",
            StrangerPolicy::Verify => "verify",
            StrangerPolicy::Accept => "accept",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            StrangerPolicy::Refuse,
            StrangerPolicy::Verify,
            StrangerPolicy::Accept,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// Milliseconds since the Unix epoch: the one time representation stored in both backends.
pub type Millis = i64;

/// The clock is passed in, never read globally, so tests control time.
pub trait Clock: Send + Sync + 'static {
    fn now_millis(&self) -> Millis;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> Millis {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that only moves when told to: lets tests make retries and expiries come due.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl ManualClock {
    pub fn at(ms: Millis) -> Self {
        ManualClock(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(ms)))
    }

    pub fn advance(&self, by: std::time::Duration) {
        self.0
            .fetch_add(by.as_millis() as i64, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> Millis {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// RFC 3339 rendering used by the JSON API.
pub fn rfc3339(ms: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_visible_to_internal_people_only() {
        assert!(MessageKind::Note.visible_to(Role::Internal));
        assert!(!MessageKind::Note.visible_to(Role::Client));
        assert!(MessageKind::Message.visible_to(Role::Client));
    }

    #[test]
    fn outcome_vocabulary_round_trips() {
        for s in [
            "posted",
            "duplicate",
            "auto_reply",
            "bounce",
            "sender_mismatch",
            "unmatched",
            "empty",
            "rejected",
        ] {
            assert_eq!(InboundOutcome::parse(s).map(|o| o.as_str()), Some(s));
        }
    }
}
