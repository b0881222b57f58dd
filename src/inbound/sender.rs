//! Who sent it: the From must be the participant the reply address belongs to, and its
//! domain must not disown it (DMARC, RFC 7489).

use super::Inbound;
use super::authentication as auth;
use super::disposition::{Disposition, Flow, Refusal, try_again};
use super::mail::Mail;
use super::route::Route;
use crate::domain::InboundOutcome;

impl Inbound {
    /// The sender must be the participant the reply address belongs to: their primary address
    /// or one of their verified other addresses (From, compared case-insensitively).
    pub(super) async fn sender(&self, mail: &Mail<'_>, route: &Route) -> Flow<()> {
        let person = &route.owner.person;
        let primary = crate::domain::EmailAddress::parse(&person.email)
            .map(|a| a.key())
            .ok();
        let Some(from) = &mail.parsed.from else {
            return mismatch(route, "no valid From address".into());
        };
        if Some(from.key()) == primary
            || self
                .store
                .is_verified_address(&person.id, from)
                .await
                .map_err(try_again("looking up the sender's other addresses"))?
        {
            return Ok(());
        }
        mismatch(
            route,
            format!(
                "From {} is not the participant this reply address belongs to",
                from.key()
            ),
        )
    }
}

fn mismatch(route: &Route, detail: String) -> Flow<()> {
    let conversation = Some(route.owner.conversation_id.clone());
    Err(Disposition::refuse(
        InboundOutcome::SenderMismatch,
        conversation,
        detail,
        Refusal::SenderMismatch,
    )
    .into())
}

/// The From is whom we would post as; DMARC says whether its domain vouches for it: refused
/// on `p=reject`, held on `p=quarantine` until an admin releases it.
pub(super) fn dmarc(mail: &Mail<'_>, conversation_id: Option<&String>) -> Flow<()> {
    let conversation = conversation_id.cloned();
    match mail.verdict.as_ref().map(|v| &v.action) {
        Some(auth::Action::Reject(why)) => Err(Disposition::refuse(
            InboundOutcome::Rejected,
            conversation,
            why.clone(),
            Refusal::DmarcReject,
        )
        .into()),
        Some(auth::Action::Quarantine(why)) => {
            if let Some(id) = &conversation {
                tracing::warn!(conversation_id = %id, "inbound email held by DMARC quarantine");
            }
            Err(Disposition::accept(InboundOutcome::Held, conversation, why.clone()).into())
        }
        Some(auth::Action::Accept) | None => Ok(()),
    }
}
