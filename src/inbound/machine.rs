//! The stages for mail that is not a person's reply: a `mailto:` unsubscribe (RFC 2369), a
//! delivery report about an email we sent (RFC 3464, VERP per RFC 5321 §4.5.5), and other
//! machine mail (RFC 3834 auto-replies, loops). Each is recorded and accepted, never posted.

use super::Inbound;
use super::classify::{Bounce, Machine};
use super::disposition::{Disposition, Flow, try_again};
use super::mail::Mail;
use crate::domain::envelope::Target;
use crate::domain::{EmailAddress, InboundOutcome};
use crate::store::InboundEffect;

impl Inbound {
    /// Mail to `unsubscribe@<reply-domain>`: the signed token in the subject mutes its
    /// participant.
    pub(super) fn unsubscribe(&self, mail: &Mail<'_>) -> Flow<()> {
        if !mail
            .recipients
            .iter()
            .any(|r| r.target == Target::Unsubscribe)
        {
            return Ok(());
        }
        let subject = mail.parsed.subject.as_deref().unwrap_or("");
        let token = subject.split_whitespace().last().unwrap_or("");
        let disposition = match self.links.verify_unsubscribe(token, self.store.now()) {
            Some((conversation_id, person_id)) => Disposition::accept(
                InboundOutcome::Unsubscribe,
                Some(conversation_id.clone()),
                "conversation muted by mail",
            )
            .with_effect(InboundEffect::Mute {
                conversation_id,
                person_id,
            }),
            None => Disposition::accept(
                InboundOutcome::Rejected,
                None,
                "unsubscribe request without a valid token",
            ),
        };
        Err(disposition.into())
    }

    /// A delivery report: recorded against the address it is about.
    pub(super) async fn bounce(&self, mail: &Mail<'_>) -> Flow<()> {
        let Some(Machine::Bounce(bounce)) = &mail.machine else {
            return Ok(());
        };
        let (failed, conversation) = self.bounced_address(mail, bounce).await?;
        let mut detail = Machine::Bounce(bounce.clone()).detail();
        if failed.is_none() {
            detail.push_str("; not matched to an email we sent: no address suppressed");
        }
        // A 5.7.x refusal is usually about our sending (policy, reputation, authentication),
        // not about the address: count it as a temporary failure instead of suppressing.
        let permanent = bounce.permanent
            && !bounce
                .status
                .as_deref()
                .is_some_and(|s| s.starts_with("5.7"));
        let address = failed
            .as_deref()
            .and_then(|a| EmailAddress::parse(a).ok())
            // "delayed" reports: the mail is usually delivered later.
            .filter(|_| {
                bounce.is_delivery_failure() && bounce.action.as_deref() != Some("delayed")
            });
        let mut disposition = Disposition::accept(InboundOutcome::Bounce, conversation, detail);
        if let Some(address) = address {
            disposition = disposition.with_effect(InboundEffect::Bounce { address, permanent });
        }
        Err(disposition.into())
    }

    /// Which address a report is about, and its conversation. Only evidence we issued ourselves
    /// says: the VERP address of the email (its outbox row), or our signed Message-ID in the
    /// returned headers naming that very person. A report's own Final-Recipient is
    /// attacker-controlled: anyone can send a "bounce" for any address.
    async fn bounced_address(
        &self,
        mail: &Mail<'_>,
        bounce: &Bounce,
    ) -> Flow<(Option<String>, Option<String>)> {
        for target in mail.recipients.iter().map(|r| &r.target) {
            let Target::Bounce(outbox_id) = target else {
                continue;
            };
            let sent = self
                .store
                .outbox_recipient(outbox_id)
                .await
                .map_err(try_again("bounce lookup"))?;
            if let Some(sent) = sent {
                // The VERP address names exactly which email failed: trust it over the
                // report's text.
                return Ok((Some(sent.recipient), sent.conversation_id));
            }
        }
        let Some(ours) = bounce
            .original_message_id
            .as_deref()
            .and_then(|id| self.message_ids.verify(id))
        else {
            return Ok((None, None));
        };
        let person = self
            .store
            .person(&ours.person_id)
            .await
            .map_err(try_again("bounce lookup"))?;
        let Some(person) = person else {
            return Ok((None, None));
        };
        let reported = bounce
            .recipient
            .as_deref()
            .and_then(|r| EmailAddress::parse(r).ok());
        let named = EmailAddress::parse(&person.email).ok();
        if reported.is_some() && reported.map(|r| r.key()) == named.map(|n| n.key()) {
            return Ok((Some(person.email), Some(ours.conversation_id)));
        }
        Ok((None, None))
    }

    /// Other machine mail — and anything else sent to a return path (RFC 3834 responders
    /// answer the envelope sender), which says nothing about whether the address works.
    pub(super) async fn auto_reply(&self, mail: &Mail<'_>) -> Flow<()> {
        let to_return_path = mail
            .recipients
            .iter()
            .any(|r| matches!(r.target, Target::Bounce(_)));
        let detail = match &mail.machine {
            Some(machine) => machine.detail(),
            None if to_return_path => {
                Machine::AutoReply("mail to a bounce address that is not a delivery report".into())
                    .detail()
            }
            None => return Ok(()),
        };
        let conversation = self
            .route(mail)
            .await?
            .map(|route| route.owner.conversation_id);
        Err(Disposition::accept(InboundOutcome::AutoReply, conversation, detail).into())
    }
}
