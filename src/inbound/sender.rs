//! Who sent it: the From must be the participant the reply address belongs to, and its
//! domain must not disown it (DMARC, RFC 7489).

use super::Inbound;
use super::authentication as auth;
use super::disposition::{Disposition, Flow, Refusal, try_again};
use super::mail::Mail;
use super::route::Route;
use crate::domain::InboundOutcome;
use crate::domain::SenderPolicy;
use crate::outbound::compose::WAITING_ID_PREFIX;
use crate::store::InboundEffect;

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
        let detail = format!(
            "From {} is not the participant this reply address belongs to",
            from.key()
        );
        match self.sender_policy {
            SenderPolicy::Strict => mismatch(route, detail),
            SenderPolicy::Hold => self.hold_unknown(mail, route, from, detail).await,
        }
    }

    /// Keeps an unknown sender's reply for staff (`unknown_sender`), and tells the sender, once
    /// a day at most, that it waits for the team. DMARC comes first: a sender whose domain
    /// disowns them is refused or held as any other, never offered as "really them". Never
    /// an answer to a null sender (`MAIL FROM:<>`); machines were stopped by earlier stages.
    async fn hold_unknown(
        &self,
        mail: &Mail<'_>,
        route: &Route,
        from: &crate::domain::EmailAddress,
        detail: String,
    ) -> Flow<()> {
        let conversation = &route.owner.conversation_id;
        dmarc(mail, Some(conversation))?;
        let held = Disposition::accept(
            InboundOutcome::UnknownSender,
            Some(conversation.clone()),
            detail,
        );
        let mailer = self
            .mailer
            .as_ref()
            .filter(|_| !mail.tx.mail_from.is_empty());
        let Some(mailer) = mailer else {
            return Err(held.into());
        };
        let now = self.store.now();
        let recent = self
            .store
            .queued_since(
                &from.to_string(),
                WAITING_ID_PREFIX,
                now - WAITING_INTERVAL_MS,
            )
            .await
            .map_err(try_again("waiting-answer lookup"))?;
        if recent > 0 {
            return Err(held.into());
        }
        // A stranger to us: the conversation's domain's language, else the default one.
        let domain = route.owner.domain.as_deref();
        let locale = mail.domains.of(domain).locale.unwrap_or_else(|| {
            self.confirmations
                .as_ref()
                .map_or(crate::domain::Locale::En, |c| c.default_locale)
        });
        match mailer
            .compose()
            .waiting_for_team(domain, &from.to_string(), locale, now)
        {
            Ok(email) => Err(held.with_effect(InboundEffect::Queue(email)).into()),
            Err(err) => {
                tracing::error!(error = %err, "composing a waiting answer failed");
                Err(held.into())
            }
        }
    }
}

/// An unknown sender is told their email waits for the team once in this long at most.
const WAITING_INTERVAL_MS: i64 = 24 * 3600 * 1000;

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
