//! What the pipeline decides about one email, as a value: each stage either lets the email go
//! on or stops it with a [`Disposition`]; [`Store::record_inbound`](crate::store::Store) then
//! applies the disposition — record, post, started conversation, effects — in ONE transaction,
//! and the SMTP layer alone turns the resulting [`Answer`] into a reply code.

use crate::domain::InboundOutcome;
use crate::store::{InboundEffect, NewConversation, NewMessage};

/// Why an email is refused (a permanent failure, recorded first). Each maps to one SMTP reply
/// in `smtp::replies`; the pipeline never writes codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// mail-parser could not read it.
    NotAnEmail,
    /// A reply address revoked since RCPT, and nothing else routes it.
    UnknownReplyAddress,
    /// An inbox address removed since RCPT.
    NoSuchInbox,
    /// The From is not the participant the reply address belongs to.
    SenderMismatch,
    /// The From's domain disowns it (DMARC `p=reject`).
    DmarcReject,
    /// No usable From (an inbox address needs someone to post as).
    NoFrom,
    /// The From is a blocked person or on a blocked domain.
    SenderBlocked,
    /// A stranger writing to an inbox address that only knows its people.
    StrangersRefused,
}

impl Refusal {
    /// Its name, as a metric's label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotAnEmail => "not_an_email",
            Refusal::UnknownReplyAddress => "unknown_reply_address",
            Refusal::NoSuchInbox => "no_such_inbox",
            Refusal::SenderMismatch => "sender_mismatch",
            Refusal::DmarcReject => "dmarc_reject",
            Refusal::NoFrom => "no_from",
            Refusal::SenderBlocked => "sender_blocked",
            Refusal::StrangersRefused => "strangers_refused",
        }
    }
}

/// What the pipeline made of one email, for the store to apply at once.
#[derive(Debug, Clone)]
pub struct Disposition {
    pub outcome: InboundOutcome,
    pub conversation_id: Option<String>,
    /// The inbound record's detail: why, in words, for the admin reading the log.
    pub detail: String,
    /// Held until this address (a From key) confirms it is theirs.
    pub awaiting: Option<String>,
    /// The conversation this email starts (then `post` is its first message).
    pub start: Option<NewConversation>,
    pub post: Option<NewMessage>,
    /// Written in the same transaction as the record.
    pub effects: Vec<InboundEffect>,
    /// `None`: accepted (once committed).
    pub refusal: Option<Refusal>,
}

impl Disposition {
    /// Kept and accepted, nothing posted.
    pub fn accept(
        outcome: InboundOutcome,
        conversation_id: Option<String>,
        detail: impl Into<String>,
    ) -> Disposition {
        Disposition {
            outcome,
            conversation_id,
            detail: detail.into(),
            awaiting: None,
            start: None,
            post: None,
            effects: Vec::new(),
            refusal: None,
        }
    }

    /// Recorded, then refused.
    pub fn refuse(
        outcome: InboundOutcome,
        conversation_id: Option<String>,
        detail: impl Into<String>,
        why: Refusal,
    ) -> Disposition {
        Disposition {
            refusal: Some(why),
            ..Disposition::accept(outcome, conversation_id, detail)
        }
    }

    pub fn with_effect(mut self, effect: InboundEffect) -> Disposition {
        self.effects.push(effect);
        self
    }
}

/// Why a stage stopped the email.
#[derive(Debug)]
pub enum Stop {
    /// Decided: record this (and answer by it).
    Decided(Box<Disposition>),
    /// Something we depend on failed (the database, the blob store): nothing is recorded and
    /// the sender retries later.
    TryAgain,
}

impl From<Disposition> for Stop {
    fn from(disposition: Disposition) -> Stop {
        Stop::Decided(Box::new(disposition))
    }
}

/// A stage's result: go on with what it found, or stop.
pub type Flow<T> = Result<T, Stop>;

/// Logs what failed and stops the email with a temporary failure: for `map_err` on a lookup.
pub fn try_again<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> Stop {
    move |err| {
        tracing::error!(error = %err, "{what} failed");
        Stop::TryAgain
    }
}

/// The answer to the sending server once the disposition is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Committed under this inbound record.
    Stored { inbound_id: String },
    /// Recorded, and refused for this reason.
    Refused(Refusal),
    /// Not recorded: try again later.
    TryAgain,
}

impl Answer {
    pub fn is_stored(&self) -> bool {
        matches!(self, Answer::Stored { .. })
    }
}
