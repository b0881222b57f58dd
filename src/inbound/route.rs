//! Routing: which participant of which conversation an email answers. Only evidence we issued
//! ourselves routes: a reply token (in the envelope, then in To/Cc/Delivered-To), then our own
//! signed Message-ID in In-Reply-To/References. Subject matching never threads.

use super::Inbound;
use super::disposition::{Flow, try_again};
use super::mail::Mail;
use crate::domain::envelope::Target;
use crate::store::TokenOwner;

/// Where a routed email goes, and how we found it.
pub(super) struct Route {
    pub owner: TokenOwner,
    pub via: &'static str,
}

impl Inbound {
    /// The first live participant among the envelope tokens, then the header tokens, then our
    /// own (verified) Message-IDs in In-Reply-To/References.
    pub(super) async fn route(&self, mail: &Mail<'_>) -> Flow<Option<Route>> {
        let envelope = mail.recipients.iter().filter_map(|r| match &r.target {
            Target::Token(token) => Some(("envelope recipient", token)),
            _ => None,
        });
        let headers = mail
            .parsed
            .header_tokens
            .iter()
            .map(|t| ("To/Cc/Delivered-To", t));
        for (via, token) in envelope.chain(headers) {
            if let Some(owner) = mail.known.get(token) {
                let owner = owner.clone();
                return Ok(Some(Route { owner, via }));
            }
            let found = self
                .store
                .participant_by_token(token)
                .await
                .map_err(try_again("routing lookup"))?;
            if let Some(owner) = found {
                return Ok(Some(Route { owner, via }));
            }
        }
        for id in &mail.parsed.in_reply_to {
            let Some(ours) = self.message_ids.verify(id) else {
                continue;
            };
            let found = self
                .store
                .live_participant(&ours.conversation_id, &ours.person_id)
                .await
                .map_err(try_again("routing lookup"))?;
            if let Some(owner) = found {
                let via = "In-Reply-To/References";
                return Ok(Some(Route { owner, via }));
            }
        }
        Ok(None)
    }
}
