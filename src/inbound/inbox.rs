//! Inbox addresses (`support@<domain>`, or the same local part on its reply subdomain): mail
//! that answers nothing of ours. A person we know starts a conversation, or continues their
//! open one from the same inbox; a stranger meets the domain's policy — refused, held until
//! they confirm their address through a link we email them, or accepted as a new client.
//! Every outcome, the new client included, is one store transaction like any other email.

use super::disposition::{Disposition, Flow, Refusal, try_again};
use super::mail::Mail;
use super::post::EMPTY_DETAIL;
use super::sender::dmarc;
use super::{Inbound, no_nul};
use crate::domain::text::{self, TextRule};
use crate::domain::{
    CONFIRM_LINK_LIFETIME_MS, ConversationType, EmailAddress, Id, IdKind, InboundOutcome, Locale,
    StrangerPolicy,
};
use crate::store::{InboundEffect, InboxAddress, NewConversation};

/// A stranger gets at most one confirmation email a day, however many emails they send (and
/// whoever forges their address): the rest wait on the same confirmation.
const CONFIRMATION_INTERVAL_MS: i64 = 24 * 3600 * 1000;
/// Subjects of conversations started by email are cut to this many characters.
const MAX_SUBJECT_CHARS: usize = 200;

/// Who an inbox email is from, once the policy let them in.
struct Author {
    person_id: String,
    /// They become a client in the email's transaction.
    new_client: Option<InboundEffect>,
}

impl Inbound {
    /// Mail to an inbox address that no reply token or Message-ID of ours routed.
    pub(super) async fn inbox(&self, mail: &Mail<'_>, address: &str) -> Flow<Disposition> {
        let inbox = self
            .inbox_of(address)
            .await
            .map_err(try_again("inbox lookup"))?;
        // Removed since RCPT.
        let Some(inbox) = inbox else {
            return Ok(Disposition::refuse(
                InboundOutcome::Unmatched,
                None,
                "no inbox at this address",
                Refusal::NoSuchInbox,
            ));
        };
        let Some(from) = &mail.parsed.from else {
            return Ok(Disposition::refuse(
                InboundOutcome::Rejected,
                None,
                "no valid From address",
                Refusal::NoFrom,
            ));
        };
        self.blocked_from(from).await?;
        dmarc(mail, None)?;
        let author = self.author(mail, &inbox, address, from).await?;
        self.inbox_post(mail, &inbox, author).await
    }

    /// The envelope sender was checked at RCPT; the From is who we would post as.
    async fn blocked_from(&self, from: &EmailAddress) -> Flow<()> {
        let block = self
            .store
            .sender_block(from)
            .await
            .map_err(try_again("sender lookup"))?;
        let Some(block) = block else {
            return Ok(());
        };
        let detail = format!("From {} is blocked ({block:?})", from.key());
        Err(Disposition::refuse(
            InboundOutcome::Rejected,
            None,
            detail,
            Refusal::SenderBlocked,
        )
        .into())
    }

    /// The person we know by this From, or the stranger policy's answer: refused, held for
    /// confirmation, or a new client (vouched-for email always becomes one).
    async fn author(
        &self,
        mail: &Mail<'_>,
        inbox: &InboxAddress,
        address: &str,
        from: &EmailAddress,
    ) -> Flow<Author> {
        let known = self
            .store
            .person_by_email(from)
            .await
            .map_err(try_again("person lookup"))?;
        if let Some(person) = known {
            return Ok(Author {
                person_id: person.id,
                new_client: None,
            });
        }
        match (inbox.stranger_policy, mail.vouched()) {
            (StrangerPolicy::Refuse, false) => {
                let detail = format!(
                    "{} is not a known person and {}'s inbox refuses strangers",
                    from.key(),
                    inbox.domain
                );
                Err(Disposition::refuse(
                    InboundOutcome::Rejected,
                    None,
                    detail,
                    Refusal::StrangersRefused,
                )
                .into())
            }
            (StrangerPolicy::Verify, false) => {
                Err(self.hold(mail, inbox, address, from).await?.into())
            }
            _ => {
                let person_id = Id::generate(IdKind::Person);
                // `from_name` was cleaned when the email was parsed; the local part follows
                // the address grammar, which has no control characters.
                let name = mail
                    .parsed
                    .from_name
                    .clone()
                    .unwrap_or_else(|| text::clean(from.local(), &text::NAME));
                let new_client = InboundEffect::NewClient {
                    person_id: person_id.clone(),
                    email: from.clone(),
                    name: no_nul(name),
                    // A confirmation proved they read this address, like a magic link does.
                    verified: mail.vouched(),
                    locale: mail.domains.of(Some(&inbox.domain)).locale,
                };
                Ok(Author {
                    person_id,
                    new_client: Some(new_client),
                })
            }
        }
    }

    /// The author's open conversation at this inbox continues, or a new one starts with the
    /// whole team.
    async fn inbox_post(
        &self,
        mail: &Mail<'_>,
        inbox: &InboxAddress,
        author: Author,
    ) -> Flow<Disposition> {
        let open = match author.new_client {
            Some(_) => None,
            None => self
                .store
                .open_inbox_conversation(&author.person_id, &inbox.domain)
                .await
                .map_err(try_again("conversation lookup"))?,
        };
        let (conversation_id, start, sent_text) = match open {
            Some(id) => {
                let raw = self
                    .store
                    .last_notification(&id, &author.person_id)
                    .await
                    .map_err(try_again("loading the last notification"))?;
                (id, None, self.sent_text(raw))
            }
            None => {
                let start = self.start(mail, inbox, &author.person_id).await?;
                (start.id.clone(), Some(start), None)
            }
        };
        let post = self
            .post_of(mail, &conversation_id, &author.person_id, sent_text)
            .await?;
        let effects: Vec<InboundEffect> = author.new_client.into_iter().collect();
        let Some(post) = post else {
            let conversation = start.is_none().then_some(conversation_id);
            return Ok(Disposition {
                effects,
                ..Disposition::accept(InboundOutcome::Empty, conversation, EMPTY_DETAIL)
            });
        };
        let mut effects = effects;
        effects.extend(self.copied_people(mail, &conversation_id));
        let how = match start {
            Some(_) => format!("started a conversation at {}'s inbox", inbox.domain),
            None => format!(
                "continued the sender's open conversation at {}'s inbox",
                inbox.domain
            ),
        };
        let detail = post.detail(how);
        Ok(Disposition {
            start,
            post: Some(post.message),
            effects,
            ..Disposition::accept(InboundOutcome::Posted, Some(conversation_id), detail)
        })
    }

    /// A new conversation at `inbox` by `author_id`, with the whole team.
    async fn start(
        &self,
        mail: &Mail<'_>,
        inbox: &InboxAddress,
        author_id: &str,
    ) -> Flow<NewConversation> {
        let team = self
            .store
            .team_ids()
            .await
            .map_err(try_again("loading the team"))?;
        let mut members = vec![author_id.to_string()];
        members.extend(team.into_iter().filter(|t| t != author_id));
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
        Ok(NewConversation {
            id: Id::generate(IdKind::Conversation),
            subject: no_nul(subject),
            created_by: author_id.to_string(),
            members,
            inbox_domain: Some(inbox.domain.clone()),
            domain: Some(inbox.domain.clone()),
            kind: ConversationType::Private,
            company_id: None,
        })
    }

    /// Stranger policy `verify`: keep the email (held, waiting on its From address) and email
    /// that address a confirmation link, at most once a day. No link when DMARC says the From
    /// is forged (it would go to someone who never wrote: backscatter); an admin can still
    /// release it.
    async fn hold(
        &self,
        mail: &Mail<'_>,
        inbox: &InboxAddress,
        address: &str,
        from: &EmailAddress,
    ) -> Flow<Disposition> {
        let key = from.key();
        let mut held = Disposition::accept(
            InboundOutcome::Held,
            None,
            format!("awaiting the sender's confirmation of {key}"),
        );
        held.awaiting = Some(key.clone());
        let now = self.store.now();
        let recent = self
            .store
            .awaiting_since(&key, now - CONFIRMATION_INTERVAL_MS)
            .await
            .map_err(try_again("confirmation lookup"))?;
        let forged = mail.verdict.as_ref().is_some_and(|v| v.sender_unproven());
        let sending = self.confirmations.as_ref().zip(self.mailer.as_ref());
        let Some((confirmations, mailer)) = sending.filter(|_| recent == 0 && !forged) else {
            held.detail.push_str(match (forged, recent) {
                (true, _) => {
                    "; no confirmation sent: DMARC failed, or SPF failed with no DKIM pass"
                }
                (false, 0) => "; no confirmation sent: confirmations are off",
                (false, _) => "; a confirmation was sent in the last 24 hours",
            });
            return Ok(held);
        };
        let token = self
            .links
            .confirm_token(mail.inbound_id, now + CONFIRM_LINK_LIFETIME_MS);
        let locale = match mail.parsed.header("Content-Language") {
            Some(lang) if lang.trim().to_ascii_lowercase().starts_with("fr") => Locale::Fr,
            Some(lang) if lang.trim().to_ascii_lowercase().starts_with("en") => Locale::En,
            _ => mail
                .domains
                .of(Some(&inbox.domain))
                .locale
                .unwrap_or(confirmations.default_locale),
        };
        let email = mailer.compose().inbox_confirmation(
            &inbox.domain,
            &from.to_string(),
            locale,
            address,
            &token,
            now,
        );
        match email {
            Ok(email) => {
                held.detail.push_str("; confirmation sent");
                Ok(held.with_effect(InboundEffect::Queue(email)))
            }
            Err(err) => {
                tracing::error!(error = %err, "composing a confirmation failed");
                held.detail
                    .push_str("; the confirmation could not be composed");
                Ok(held)
            }
        }
    }
}
