//! RCPT time: does an address lead anywhere, and may this sender write to it? What the lookups
//! find is kept for the connection's DATA to route by ([`KnownOwners`]).

use super::Inbound;
use crate::domain::envelope::{Recipient, RecipientVerdict, Target, domain_of};
use crate::domain::{EmailAddress, ReplyToken};
use crate::store::{InboxAddress, ReplyContext, StoreError, TokenOwner, TokenRecipient};

/// The participants behind the reply addresses a connection's RCPT commands named, and the
/// reply context read with each, so that DATA routes by them without looking each up again.
/// Only a hint: the transaction that posts the message checks again that its author is a live
/// participant.
#[derive(Default)]
pub struct KnownOwners(Vec<(ReplyToken, TokenOwner, Option<ReplyContext>)>);

impl KnownOwners {
    /// A transaction has at most `--max-recipients` of them; more than this are looked up
    /// again rather than kept.
    const MAX: usize = 100;

    fn remember(&mut self, token: &ReplyToken, owner: &TokenOwner, context: Option<ReplyContext>) {
        if self.0.len() < Self::MAX && self.get(token).is_none() {
            self.0.push((token.clone(), owner.clone(), context));
        }
    }

    /// The participant behind `token`, and their reply context when RCPT read it.
    pub(super) fn get(&self, token: &ReplyToken) -> Option<(&TokenOwner, Option<&ReplyContext>)> {
        self.0
            .iter()
            .find(|(t, _, _)| t == token)
            .map(|(_, owner, context)| (owner, context.as_ref()))
    }

    /// Forgets them all (after each delivered transaction).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl Inbound {
    /// RCPT-time check: does this address lead anywhere, and may `sender` (the envelope
    /// sender, "" for bounces) write to it? Blocked people and domains are refused here,
    /// before any data.
    pub async fn check_recipient(
        &self,
        recipient: &Recipient,
        sender: &str,
        known: &mut KnownOwners,
    ) -> RecipientVerdict {
        let target = &recipient.target;
        let sender_address = EmailAddress::parse(sender).ok();
        let found = match (target, &sender_address) {
            (Target::Token(token), Some(sender_address)) => {
                return self
                    .reply_address(token, recipient, sender_address, sender, known)
                    .await;
            }
            (Target::Token(token), None) => self.store.participant_by_token(token).await.map(|o| {
                match o.filter(|owner| self.on_its_domain(owner, recipient)) {
                    Some(owner) => {
                        known.remember(token, &owner, None);
                        true
                    }
                    None => false,
                }
            }),
            (Target::Bounce(outbox_id), _) => self
                .store
                .outbox_recipient(outbox_id)
                .await
                .map(|o| o.is_some()),
            (Target::Own | Target::Unsubscribe, _) => Ok(true),
            (Target::Inbox(address), _) => self.inbox_of(address).await.map(|i| i.is_some()),
        };
        match found {
            Ok(true) => {}
            Ok(false) => return RecipientVerdict::Unknown,
            Err(err) => {
                tracing::error!(error = %err, "recipient lookup failed");
                return RecipientVerdict::TemporaryFailure;
            }
        }
        // A bounce is about mail we sent: whoever reports it, it is ours to read.
        if matches!(target, Target::Bounce(_)) {
            return RecipientVerdict::Live;
        }
        let Some(sender) = sender_address else {
            return RecipientVerdict::Live;
        };
        match self.store.sender_block(&sender).await {
            Ok(None) => RecipientVerdict::Live,
            Ok(Some(_)) => RecipientVerdict::SenderBlocked,
            Err(err) => {
                tracing::error!(error = %err, "sender lookup failed");
                RecipientVerdict::TemporaryFailure
            }
        }
    }

    /// The common case, in one query: the participant behind a reply address, the sender's
    /// standing, and the loop breaker's count and last notification DATA will need.
    async fn reply_address(
        &self,
        token: &ReplyToken,
        recipient: &Recipient,
        sender_address: &EmailAddress,
        sender: &str,
        known: &mut KnownOwners,
    ) -> RecipientVerdict {
        let since = self.store.now() - self.limits.burst_window_ms;
        let found = self
            .store
            .token_recipient(token, sender_address, sender, since)
            .await;
        match found {
            Ok(TokenRecipient {
                owner: Some(owner),
                block,
                context,
            }) if self.on_its_domain(&owner, recipient) => match block {
                Some(_) => RecipientVerdict::SenderBlocked,
                None => {
                    known.remember(token, &owner, context);
                    RecipientVerdict::Live
                }
            },
            Ok(_) => RecipientVerdict::Unknown,
            Err(err) => {
                tracing::error!(error = %err, "recipient lookup failed");
                RecipientVerdict::TemporaryFailure
            }
        }
    }

    /// A token is valid only on its own conversation's reply domain: on another of ours it is
    /// unknown, like a token that never existed.
    fn on_its_domain(&self, owner: &TokenOwner, recipient: &Recipient) -> bool {
        self.domains
            .now()
            .token_valid_on(owner.domain.as_deref(), domain_of(&recipient.address))
    }

    /// The inbox `address` (lowercased) is, if any. A `+detail` after the local part is
    /// ignored (`support+billing@` is `support@`).
    pub(super) async fn inbox_of(&self, address: &str) -> Result<Option<InboxAddress>, StoreError> {
        let Some((local, domain)) = address.rsplit_once('@') else {
            return Ok(None);
        };
        let local = local
            .split('+')
            .next()
            .unwrap_or(local)
            .to_ascii_lowercase();
        self.store
            .inbox_address(&local, &domain.to_ascii_lowercase())
            .await
    }
}
