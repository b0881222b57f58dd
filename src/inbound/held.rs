//! Held email going through again: an admin releases one (DMARC quarantine, a stranger's),
//! staff say whose an unknown sender's reply is (the participant's, or the sender's once added
//! to the conversation) or drop it, or a stranger confirms their address and everything waiting
//! on it is delivered. Either way the email runs the whole pipeline, vouched for.

use super::Inbound;
use super::disposition::Answer;
use super::mail::Vouch;
use super::recipients::KnownOwners;
use crate::domain::envelope::{Classified, Recipient, Target, Transaction, classify_recipient};
use crate::domain::{EmailAddress, InboundOutcome, Locale};
use crate::store::InboundEntry;

/// Confirmation links to strangers (policy `verify`), sent through the pipeline's mailer.
#[derive(Clone)]
pub struct Confirmations {
    /// The language of a confirmation when the email does not say (`Content-Language`).
    pub default_locale: Locale,
}

/// What confirming a held email did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// The emails waiting on this address went through the pipeline: this many were stored
    /// (the others are held again, after a storage hiccup, or refused).
    Delivered { emails: usize },
    /// Nothing waits any more (confirmed before, or released by an admin).
    AlreadyDone,
}

/// How staff release a held email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// As if it had passed (DMARC quarantine, a stranger's email).
    Vouched,
    /// An unknown sender's reply, posted as the participant its reply address belongs to ("it
    /// was really them").
    AsParticipant,
    /// An unknown sender's reply, posted as its sender, added to the conversation first (by
    /// `actor_id`), as a new client if we did not know them.
    AsSender { actor_id: Option<String> },
}

/// Why releasing a held email did not post it.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("no such inbound email")]
    NotFound,
    #[error("this email is not held")]
    NotHeld,
    #[error("an email from an unknown sender is posted as the participant or as its sender")]
    UnknownSender,
    #[error("only an email from an unknown sender is posted as its participant or its sender")]
    NotUnknownSender,
    #[error("the sender's address cannot be read")]
    NoSender,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl Inbound {
    /// Posts a held email `how` staff say: a held one (DMARC quarantine, a stranger's) as if it
    /// had passed, an unknown sender's as the participant or as its sender. Returns the
    /// pipeline's answer, and the new inbound record says what happened.
    pub async fn release(&self, inbound_id: &str, how: Release) -> Result<Answer, ReleaseError> {
        let entry = self
            .store
            .inbound_entry(inbound_id)
            .await?
            .ok_or(ReleaseError::NotFound)?;
        let vouch = match (entry.outcome, &how) {
            (InboundOutcome::Held, Release::Vouched) => Vouch::Admin,
            (InboundOutcome::Held, _) => return Err(ReleaseError::NotUnknownSender),
            (InboundOutcome::UnknownSender, Release::Vouched) => {
                return Err(ReleaseError::UnknownSender);
            }
            (InboundOutcome::UnknownSender, Release::AsParticipant) => Vouch::Participant,
            (InboundOutcome::UnknownSender, Release::AsSender { actor_id }) => {
                Vouch::Sender(self.join_sender(&entry, actor_id.as_deref()).await?)
            }
            _ => return Err(ReleaseError::NotHeld),
        };
        let why = match how {
            Release::Vouched => "released by an admin",
            Release::AsParticipant => "posted by staff as the participant",
            Release::AsSender { .. } => "posted by staff as its sender",
        };
        let claimed = self
            .store
            .claim_held(inbound_id, entry.outcome, InboundOutcome::Released, why)
            .await?;
        if !claimed {
            return Err(ReleaseError::NotHeld);
        }
        self.redeliver(&entry, entry.outcome, vouch).await
    }

    /// Staff drop a held email (an unknown sender's reply, one whose From its domain
    /// disowns, a stranger's awaiting confirmation): kept for the record, never posted.
    pub async fn drop_held(&self, inbound_id: &str) -> Result<(), ReleaseError> {
        let entry = self
            .store
            .inbound_entry(inbound_id)
            .await?
            .ok_or(ReleaseError::NotFound)?;
        if !entry.outcome.is_held() {
            return Err(ReleaseError::NotHeld);
        }
        let dropped = self
            .store
            .claim_held(
                inbound_id,
                entry.outcome,
                InboundOutcome::Dropped,
                "dropped by staff",
            )
            .await?;
        match dropped {
            true => Ok(()),
            false => Err(ReleaseError::NotHeld),
        }
    }

    /// The sender of an unknown sender's reply, made a participant of its conversation (a new
    /// client when we did not know them; an address of someone's is theirs).
    async fn join_sender(
        &self,
        entry: &InboundEntry,
        actor_id: Option<&str>,
    ) -> Result<crate::store::Person, ReleaseError> {
        let conversation_id = entry
            .conversation_id
            .as_deref()
            .ok_or(ReleaseError::NotHeld)?;
        let raw = self
            .store
            .raw_email(&entry.id)
            .await?
            .ok_or(ReleaseError::NotFound)?;
        let parsed = super::parse::parse_email(&raw, &|_| false).ok_or(ReleaseError::NoSender)?;
        let from = parsed.from.ok_or(ReleaseError::NoSender)?;
        let person = self
            .store
            .find_or_create_client(&from, parsed.from_name.as_deref())
            .await?;
        match self
            .store
            .add_participant_by(conversation_id, &person.id, actor_id)
            .await
        {
            Ok(_) | Err(crate::store::StoreError::Conflict(_)) => Ok(person),
            Err(err) => Err(err.into()),
        }
    }

    /// The sender followed the confirmation link of held email `inbound_id`: every email
    /// waiting on their address is delivered (the first starts their conversation, the others
    /// continue it) and the address is verified.
    pub async fn confirm(&self, inbound_id: &str) -> Result<Confirmed, ReleaseError> {
        let awaiting = self
            .store
            .inbound_awaiting(inbound_id)
            .await?
            .ok_or(ReleaseError::NotFound)?;
        let ids = self.store.claim_awaiting(&awaiting).await?;
        if ids.is_empty() {
            return Ok(Confirmed::AlreadyDone);
        }
        let mut delivered = 0;
        for id in &ids {
            let Some(entry) = self.store.inbound_entry(id).await? else {
                continue;
            };
            let answer = self
                .redeliver(&entry, InboundOutcome::Held, Vouch::Admin)
                .await?;
            tracing::info!(inbound_id = %id, ?answer, "confirmed email delivered");
            delivered += usize::from(answer.is_stored());
        }
        if let Ok(address) = EmailAddress::parse(&awaiting)
            && let Some(person) = self.store.person_by_email(&address).await?
        {
            self.store.mark_verified(&person.id).await?;
        }
        Ok(Confirmed::Delivered { emails: delivered })
    }

    /// Runs a claimed held email through the pipeline again, vouched for (no authentication
    /// check; a stranger becomes a client). Not stored (a storage hiccup): back to `held`.
    async fn redeliver(
        &self,
        entry: &InboundEntry,
        held: InboundOutcome,
        vouch: Vouch,
    ) -> Result<Answer, ReleaseError> {
        let raw = self
            .store
            .raw_email(&entry.id)
            .await?
            .ok_or(ReleaseError::NotFound)?;
        let domains = self.domains.now();
        let recipients: Vec<Recipient> = entry
            .recipients
            .iter()
            .filter_map(|address| {
                let target = match classify_recipient(address, &domains) {
                    Classified::Target(target) => target,
                    Classified::OtherDomain | Classified::Unknown => {
                        Target::Inbox(address.to_ascii_lowercase())
                    }
                    Classified::BadSyntax => return None,
                };
                Some(Recipient {
                    address: address.clone(),
                    target,
                })
            })
            .collect();
        let tx = Transaction {
            helo: String::new(),
            mail_from: entry.envelope_from.clone(),
            recipients: recipients.clone(),
            data: raw,
        };
        let refs: Vec<&Recipient> = recipients.iter().collect();
        let answer = self
            .deliver_checked(&tx, &refs, "released", vouch, &KnownOwners::default())
            .await;
        if answer == Answer::TryAgain {
            self.store.unclaim_held(&entry.id, held).await?;
        }
        Ok(answer)
    }
}
