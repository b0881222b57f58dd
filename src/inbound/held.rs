//! Held email going through again: an admin releases one (DMARC quarantine, a stranger's), or
//! a stranger confirms their address and everything waiting on it is delivered. Either way
//! the email runs the whole pipeline, vouched for.

use super::Inbound;
use super::disposition::Answer;
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

/// Why releasing a held email did not post it.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("no such inbound email")]
    NotFound,
    #[error("this email is not held")]
    NotHeld,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl Inbound {
    /// Posts a held email (DMARC quarantine, or a stranger's) as if it had passed: an admin
    /// vouched for it. Returns the pipeline's answer, and the new inbound record says what
    /// happened.
    pub async fn release(&self, inbound_id: &str) -> Result<Answer, ReleaseError> {
        let entry = self
            .store
            .inbound_entry(inbound_id)
            .await?
            .ok_or(ReleaseError::NotFound)?;
        if entry.outcome != InboundOutcome::Held || !self.store.claim_held(inbound_id).await? {
            return Err(ReleaseError::NotHeld);
        }
        self.redeliver(&entry).await
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
            let answer = self.redeliver(&entry).await?;
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
    /// check; a stranger becomes a client). Not stored (a storage hiccup): held again.
    async fn redeliver(&self, entry: &InboundEntry) -> Result<Answer, ReleaseError> {
        let raw = self
            .store
            .raw_email(&entry.id)
            .await?
            .ok_or(ReleaseError::NotFound)?;
        let own = self.own_address.key();
        let recipients: Vec<Recipient> = entry
            .recipients
            .iter()
            .filter_map(|address| {
                let target = match classify_recipient(address, &self.reply_domain, Some(&own)) {
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
            .deliver_checked(&tx, &refs, "released", true, &KnownOwners::default())
            .await;
        if answer == Answer::TryAgain {
            self.store.unclaim_held(&entry.id).await?;
        }
        Ok(answer)
    }
}
