//! Routing: which participant of which conversation an email answers. Only evidence we issued
//! ourselves routes: a reply token (in the envelope, then in To/Cc/Delivered-To), then our own
//! signed Message-ID in In-Reply-To/References. Subject matching never threads.

use super::Inbound;
use super::disposition::{Flow, try_again};
use super::mail::Mail;
use crate::domain::envelope::{ReplyKind, Target, domain_of, reply_kind};
use crate::store::{ReplyContext, TokenOwner};

/// Where a routed email goes, how we found it, and what the address or the email it answers
/// asks the reply to be.
pub(super) struct Route {
    pub owner: TokenOwner,
    pub via: &'static str,
    /// A note when it answers an email of notes (its note address, or its Message-ID): only
    /// staff get those, and their reply stays internal.
    pub kind: ReplyKind,
    /// The owner's reply context, when RCPT read it with them (`KnownOwners`).
    pub context: Option<ReplyContext>,
}

impl Inbound {
    /// The first live participant among the envelope tokens, then the header tokens, then our
    /// own (verified) Message-IDs in In-Reply-To/References.
    pub(super) async fn route(&self, mail: &Mail<'_>) -> Flow<Option<Route>> {
        let Some(mut route) = self.find_route(mail).await? else {
            return Ok(None);
        };
        // The email it answers may say it carried only notes, whatever address it came by.
        let parent = mail.parsed.parent.as_deref();
        if let Some(ours) = parent.and_then(|id| self.message_ids.verify(id))
            && ours.kind == ReplyKind::Note
            && ours.conversation_id == route.owner.conversation_id
            && ours.person_id == route.owner.person.id
        {
            route.kind = ReplyKind::Note;
        }
        Ok(Some(route))
    }

    async fn find_route(&self, mail: &Mail<'_>) -> Flow<Option<Route>> {
        let envelope = mail.recipients.iter().filter_map(|r| match &r.target {
            Target::Token(token) => Some((
                "envelope recipient",
                token,
                domain_of(&r.address),
                reply_kind(&r.address),
            )),
            _ => None,
        });
        let headers = mail.parsed.header_tokens.iter().map(|(t, domain)| {
            let kind = match mail.parsed.note_tokens.contains(t) {
                true => ReplyKind::Note,
                false => ReplyKind::Message,
            };
            ("To/Cc/Delivered-To", t, domain.as_str(), kind)
        });
        for (via, token, domain, kind) in envelope.chain(headers) {
            let (owner, context) = match mail.known.get(token) {
                Some((owner, context)) => (Some(owner.clone()), context.cloned()),
                None => (
                    self.store
                        .participant_by_token(token)
                        .await
                        .map_err(try_again("routing lookup"))?,
                    None,
                ),
            };
            // A token is valid only on its own conversation's reply domain.
            if let Some(owner) = owner
                && mail.domains.token_valid_on(owner.domain.as_deref(), domain)
            {
                return Ok(Some(Route {
                    owner,
                    via,
                    kind,
                    context,
                }));
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
                let kind = ours.kind;
                return Ok(Some(Route {
                    owner,
                    via,
                    kind,
                    context: None,
                }));
            }
        }
        Ok(None)
    }
}
