//! Inbox addresses (`support@<domain>`, or the same local part on its reply subdomain): mail
//! that answers nothing of ours. A person we know starts a conversation, or continues their
//! open one from the same inbox; a stranger meets the domain's policy — refused, held until
//! they confirm their address through a link we email them, or accepted as a new client.
//! Each outcome is one store transaction, like every other inbound email.

use super::{
    EMPTY_DETAIL, Inbound, ReleaseError, accepted, auth, no_nul, parse::ParsedEmail,
    temporary_failure, with_omitted,
};
use crate::domain::text::{self, TextRule};
use crate::domain::{
    CONFIRM_LINK_LIFETIME_MS, EmailAddress, Id, IdKind, InboundOutcome, Locale, Role,
    StrangerPolicy,
};
use crate::outbound::compose::Composer;
use crate::smtp::session::{Reply, Transaction};
use crate::store::{InboundRecord, InboxAddress, NewConversation, NewPerson, Person, StoreError};
use std::sync::Arc;
use tokio::sync::Notify;

/// A stranger gets at most one confirmation email a day, however many emails they send (and
/// whoever forges their address): the rest wait on the same confirmation.
const CONFIRMATION_INTERVAL_MS: i64 = 24 * 3600 * 1000;
/// Subjects of conversations started by email are cut to this many characters.
const MAX_SUBJECT_CHARS: usize = 200;

/// What sends confirmation links to strangers (policy `verify`).
#[derive(Clone)]
pub struct Confirmations {
    pub composer: Composer,
    /// The language of a confirmation when the email does not say (`Content-Language`).
    pub default_locale: Locale,
    /// Rung when a confirmation is queued, so the outbox sends it now.
    pub outbox_wake: Arc<Notify>,
}

/// One email to an inbox address, with what the pipeline already knows of it.
pub(super) struct InboxMail<'a> {
    pub tx: &'a Transaction,
    pub parsed: &'a ParsedEmail,
    /// The inbox address it was sent to, lowercased.
    pub address: &'a str,
    pub verdict: Option<&'a auth::Verdict>,
    /// The inbound record so far (envelope, Message-ID, peer, auth results).
    pub base: InboundRecord,
    /// An admin or the sender's confirmation vouched for it: no stranger policy applies.
    pub vouched: bool,
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

impl InboxMail<'_> {
    fn record(
        &self,
        outcome: InboundOutcome,
        conversation: Option<String>,
        detail: &str,
    ) -> InboundRecord {
        InboundRecord {
            outcome,
            conversation_id: conversation,
            detail: no_nul(detail.to_string()),
            ..self.base.clone()
        }
    }
}

impl Inbound {
    pub fn with_confirmations(mut self, confirmations: Confirmations) -> Inbound {
        self.confirmations = Some(confirmations);
        self
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

    /// Mail to an inbox address that no reply token or Message-ID of ours routed.
    pub(super) async fn inbox_email(&self, mail: InboxMail<'_>) -> Reply {
        let raw = &mail.tx.data;
        let inbox = match self.inbox_of(mail.address).await {
            Ok(Some(inbox)) => inbox,
            // Removed since RCPT.
            Ok(None) => {
                let rec = mail.record(InboundOutcome::Unmatched, None, "no inbox at this address");
                return self
                    .commit(
                        rec,
                        raw,
                        None,
                        Reply::new(550, "5.1.1", "No such recipient"),
                    )
                    .await;
            }
            Err(err) => {
                tracing::error!(error = %err, "inbox lookup failed");
                return temporary_failure();
            }
        };
        let Some(from) = &mail.parsed.from else {
            let rec = mail.record(InboundOutcome::Rejected, None, "no valid From address");
            let reply = Reply::new(550, "5.1.7", "A valid From address is required");
            return self.commit(rec, raw, None, reply).await;
        };
        // The envelope sender was checked at RCPT; the From is who we would post as.
        match self.store.sender_block(from).await {
            Ok(None) => {}
            Ok(Some(block)) => {
                let detail = format!("From {} is blocked ({block:?})", from.key());
                let rec = mail.record(InboundOutcome::Rejected, None, &detail);
                let reply = Reply::new(550, "5.7.1", "Mail from this sender is not accepted");
                return self.commit(rec, raw, None, reply).await;
            }
            Err(err) => {
                tracing::error!(error = %err, "sender lookup failed");
                return temporary_failure();
            }
        }
        match mail.verdict.map(|v| &v.action) {
            Some(auth::Action::Reject(why)) => {
                let rec = mail.record(InboundOutcome::Rejected, None, why);
                let reply = Reply::new(
                    550,
                    "5.7.1",
                    "Rejected by the sender domain's DMARC policy (SPF and DKIM failed)",
                );
                return self.commit(rec, raw, None, reply).await;
            }
            Some(auth::Action::Quarantine(why)) => {
                let rec = mail.record(InboundOutcome::Held, None, why);
                return self.commit(rec, raw, None, accepted()).await;
            }
            Some(auth::Action::Accept) | None => {}
        }

        let known = match self.store.person_by_email(from).await {
            Ok(person) => person,
            Err(err) => {
                tracing::error!(error = %err, "person lookup failed");
                return temporary_failure();
            }
        };
        let (person, open) = match known {
            Some(person) => {
                match self
                    .store
                    .open_inbox_conversation(&person.id, &inbox.domain)
                    .await
                {
                    Ok(open) => (person, open),
                    Err(err) => {
                        tracing::error!(error = %err, "conversation lookup failed");
                        return temporary_failure();
                    }
                }
            }
            None => match (inbox.stranger_policy, mail.vouched) {
                (StrangerPolicy::Refuse, false) => {
                    let detail = format!(
                        "{} is not a known person and {}'s inbox refuses strangers",
                        from.key(),
                        inbox.domain
                    );
                    let rec = mail.record(InboundOutcome::Rejected, None, &detail);
                    let reply = Reply::new(
                        550,
                        "5.7.1",
                        "This address only accepts email from people it already knows",
                    );
                    return self.commit(rec, raw, None, reply).await;
                }
                (StrangerPolicy::Verify, false) => {
                    return self.hold_for_confirmation(&mail, from).await;
                }
                _ => match self.new_client(from, mail.parsed, mail.vouched).await {
                    Ok(person) => (person, None),
                    Err(reply) => return reply,
                },
            },
        };

        let (conversation_id, start) = match open {
            Some(id) => (id, None),
            None => {
                let id = Id::generate(IdKind::Conversation);
                let team = match self.store.team_ids().await {
                    Ok(team) => team,
                    Err(err) => {
                        tracing::error!(error = %err, "loading the team failed");
                        return temporary_failure();
                    }
                };
                let mut members = vec![person.id.clone()];
                members.extend(team.into_iter().filter(|t| *t != person.id));
                // From a header: cleaned (controls made spaces, cut), never refused.
                let subject = Some(text::clean(
                    mail.parsed.subject.as_deref().unwrap_or(""),
                    &TextRule {
                        max_chars: MAX_SUBJECT_CHARS,
                        ..text::SUBJECT
                    },
                ))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "(no subject)".to_string());
                let start = NewConversation {
                    id: id.clone(),
                    subject: no_nul(subject),
                    created_by: person.id.clone(),
                    members,
                    inbox_domain: Some(inbox.domain.clone()),
                };
                (id, Some(start))
            }
        };
        let sent_text = if start.is_none() {
            match self
                .store
                .last_notification(&conversation_id, &person.id)
                .await
            {
                Ok(raw) => self.sent_text(raw),
                Err(err) => {
                    tracing::error!(error = %err, "loading the last notification failed");
                    return temporary_failure();
                }
            }
        } else {
            None
        };
        let (new, omitted) = match self
            .message_from(
                mail.parsed,
                raw,
                &conversation_id,
                &person.id,
                sent_text.as_deref(),
            )
            .await
        {
            Ok(Some(post)) => post,
            Ok(None) => {
                let conversation = start.is_none().then_some(conversation_id);
                let rec = mail.record(InboundOutcome::Empty, conversation, EMPTY_DETAIL);
                return self.commit(rec, raw, None, accepted()).await;
            }
            Err(reply) => return reply,
        };
        let how = if start.is_some() {
            format!("started a conversation at {}'s inbox", inbox.domain)
        } else {
            format!(
                "continued the sender's open conversation at {}'s inbox",
                inbox.domain
            )
        };
        let rec = mail.record(
            InboundOutcome::Posted,
            Some(conversation_id),
            &with_omitted(how, &omitted),
        );
        match start {
            Some(start) => {
                let stored = self
                    .store
                    .record_inbound_starting(rec, raw, &start, &new)
                    .await;
                self.committed(stored, accepted())
            }
            None => self.commit(rec, raw, Some(&new), accepted()).await,
        }
    }

    /// A stranger becomes a client (a concurrent email from them may have done it first).
    async fn new_client(
        &self,
        from: &EmailAddress,
        parsed: &ParsedEmail,
        verified: bool,
    ) -> Result<Person, Reply> {
        // `from_name` was cleaned when the email was parsed; the local part follows the
        // address grammar, which has no control characters.
        let name = parsed
            .from_name
            .clone()
            .unwrap_or_else(|| text::clean(from.local(), &text::NAME));
        let created = self
            .store
            .create_person(NewPerson {
                email: from.clone(),
                name: no_nul(name),
                role: Role::Client,
            })
            .await;
        let person = match created {
            Ok(person) => person,
            Err(StoreError::Conflict(_)) => match self.store.person_by_email(from).await {
                Ok(Some(person)) => person,
                Ok(None) | Err(_) => return Err(temporary_failure()),
            },
            Err(err) => {
                tracing::error!(error = %err, "creating a person failed");
                return Err(temporary_failure());
            }
        };
        // A confirmation proved they read this address, like a magic link does.
        if verified && let Err(err) = self.store.mark_verified(&person.id).await {
            tracing::error!(error = %err, "marking a person verified failed");
        }
        Ok(person)
    }

    /// Stranger policy `verify`: keep the email (held, waiting on its From address) and email
    /// that address a confirmation link, at most once a day. No link when DMARC says the From
    /// is forged (it would go to someone who never wrote: backscatter); an admin can still
    /// release it.
    async fn hold_for_confirmation(&self, mail: &InboxMail<'_>, from: &EmailAddress) -> Reply {
        let raw = &mail.tx.data;
        let key = from.key();
        let mut rec = mail.record(
            InboundOutcome::Held,
            None,
            &format!("awaiting the sender's confirmation of {key}"),
        );
        rec.awaiting = Some(key.clone());
        let now = self.store.now();
        let recent = match self
            .store
            .awaiting_since(&key, now - CONFIRMATION_INTERVAL_MS)
            .await
        {
            Ok(n) => n,
            Err(err) => {
                tracing::error!(error = %err, "confirmation lookup failed");
                return temporary_failure();
            }
        };
        let forged = mail
            .verdict
            .is_some_and(|v| v.results.contains("dmarc=fail"));
        let Some(confirmations) = self
            .confirmations
            .as_ref()
            .filter(|_| recent == 0 && !forged)
        else {
            rec.detail.push_str(match (forged, recent) {
                (true, _) => "; no confirmation sent: DMARC failed",
                (false, 0) => "; no confirmation sent: confirmations are off",
                (false, _) => "; a confirmation was sent in the last 24 hours",
            });
            return self.commit(rec, raw, None, accepted()).await;
        };
        let inbound_id = Id::generate(IdKind::Inbound);
        let token = self
            .links
            .confirm_token(&inbound_id, now + CONFIRM_LINK_LIFETIME_MS);
        let locale = match mail.parsed.header("Content-Language") {
            Some(lang) if lang.trim().to_ascii_lowercase().starts_with("fr") => Locale::Fr,
            Some(lang) if lang.trim().to_ascii_lowercase().starts_with("en") => Locale::En,
            _ => confirmations.default_locale,
        };
        let subject = mail.parsed.subject.as_deref().unwrap_or("");
        let email = match confirmations.composer.inbox_confirmation(
            &from.to_string(),
            locale,
            mail.address,
            &no_nul(subject.to_string()),
            &token,
            now,
        ) {
            Ok(email) => email,
            Err(err) => {
                tracing::error!(error = %err, "composing a confirmation failed");
                rec.detail
                    .push_str("; the confirmation could not be composed");
                return self.commit(rec, raw, None, accepted()).await;
            }
        };
        rec.detail.push_str("; confirmation sent");
        let stored = self
            .store
            .record_inbound_awaiting(rec, raw, inbound_id, &email)
            .await;
        let reply = self.committed(stored, accepted());
        if reply.is_positive() {
            confirmations.outbox_wake.notify_one();
        }
        reply
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
            let reply = self.redeliver(&entry).await?;
            tracing::info!(inbound_id = %id, code = reply.code, "confirmed email delivered");
            delivered += usize::from(reply.is_positive());
        }
        if let Ok(address) = EmailAddress::parse(&awaiting)
            && let Some(person) = self.store.person_by_email(&address).await?
        {
            self.store.mark_verified(&person.id).await?;
        }
        Ok(Confirmed::Delivered { emails: delivered })
    }
}
