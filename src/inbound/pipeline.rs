//! The pipeline as a short list of stages over one [`Mail`]. Each stage is a small function
//! returning [`Flow`]: `Ok` goes on (with what the stage found), `Err` stops with a
//! [`Disposition`] or a temporary failure. [`Inbound::apply`] then writes the disposition in
//! one store transaction. Adding a policy is adding a stage to [`Inbound::decide`].

use super::authentication::Verdict;
use super::disposition::{Answer, Disposition, Flow, Refusal, Stop, try_again};
use super::mail::{Mail, Vouch};
use super::recipients::KnownOwners;
use super::route::Route;
use super::sender::dmarc;
use super::{Inbound, analyze, no_nul};
use crate::domain::envelope::{Recipient, Transaction};
use crate::domain::{Id, IdKind, InboundOutcome};
use crate::store::{InboundChanges, InboundEffect, InboundRecord, ReplyContext};
use tracing::Instrument;

impl Inbound {
    /// Processes one message for `recipients` (all the envelope recipients for SMTP, one for
    /// each LMTP recipient) and says what to answer.
    /// `known`: what [`Inbound::check_recipient`] found for this transaction's recipients.
    pub async fn deliver(
        &self,
        tx: &Transaction,
        recipients: &[&Recipient],
        peer: &str,
        known: &KnownOwners,
    ) -> Answer {
        self.deliver_checked(tx, recipients, peer, Vouch::No, known)
            .await
    }

    /// [`Inbound::deliver`]; `vouch`: who vouched for the email going through again. Its
    /// inbound record's id is chosen first, and every log line about it carries it.
    pub(super) async fn deliver_checked(
        &self,
        tx: &Transaction,
        recipients: &[&Recipient],
        peer: &str,
        vouch: Vouch,
        known: &KnownOwners,
    ) -> Answer {
        let inbound_id = Id::generate(IdKind::Inbound);
        let span = tracing::info_span!("inbound", inbound_id = %inbound_id);
        self.deliver_as(&inbound_id, tx, recipients, peer, vouch, known)
            .instrument(span)
            .await
    }

    async fn deliver_as(
        &self,
        inbound_id: &str,
        tx: &Transaction,
        recipients: &[&Recipient],
        peer: &str,
        vouch: Vouch,
        known: &KnownOwners,
    ) -> Answer {
        let verdict = match vouch {
            Vouch::No => self.authenticate(tx, peer).await,
            _ => None,
        };
        let auth_results = verdict.as_ref().map(|v| no_nul(v.results.clone()));
        // One view of the domains for the whole email.
        let domains = self.domains.now();
        let ctx = analyze::Context {
            domains: &domains,
            envelope_from: &tx.mail_from,
        };
        let (disposition, message_id) = match super::cpu_bound(tx.data.len(), || {
            analyze::parse_and_classify(&tx.data, &ctx)
        }) {
            None => (
                Disposition::refuse(
                    InboundOutcome::Rejected,
                    None,
                    "not a parseable email",
                    Refusal::NotAnEmail,
                ),
                None,
            ),
            Some((parsed, machine)) => {
                let mail = Mail {
                    inbound_id,
                    tx,
                    domains: &domains,
                    recipients,
                    known,
                    vouch,
                    verdict,
                    parsed,
                    machine,
                };
                match self.decide(&mail).await {
                    Ok(disposition) => (disposition, mail.parsed.message_id),
                    Err(Stop::Decided(disposition)) => (*disposition, mail.parsed.message_id),
                    Err(Stop::TryAgain) => return Answer::TryAgain,
                }
            }
        };
        let Disposition {
            outcome,
            conversation_id,
            detail,
            awaiting,
            start,
            post,
            effects,
            refusal,
        } = disposition;
        let record = InboundRecord {
            envelope_from: no_nul(tx.mail_from.clone()),
            recipients: tx.recipients.iter().map(|r| r.address.clone()).collect(),
            message_id: message_id.map(no_nul),
            outcome,
            conversation_id,
            detail: no_nul(detail),
            peer: peer.to_string(),
            auth_results,
            awaiting,
        };
        let changes = InboundChanges {
            inbound_id: Some(inbound_id.to_string()),
            start,
            post,
            effects,
        };
        self.apply(record, &tx.data, changes, refusal).await
    }

    /// The stages, in order.
    async fn decide(&self, mail: &Mail<'_>) -> Flow<Disposition> {
        self.unsubscribe(mail)?;
        self.bounce(mail).await?;
        self.auto_reply(mail).await?;
        let Some(mut route) = self.route(mail).await? else {
            return self.unrouted(mail).await;
        };
        match &mail.vouch {
            // Staff looked at an unknown sender's email and said whose it is.
            Vouch::Participant => {}
            // Posted as someone else: the context read for the token's owner is not theirs.
            Vouch::Sender(person) => {
                route.owner.person = person.clone();
                route.context = None;
            }
            Vouch::No | Vouch::Admin => self.sender(mail, &route).await?,
        }
        dmarc(mail, Some(&route.owner.conversation_id))?;
        let context = self.loop_breaker(mail, &mut route).await?;
        self.reply(mail, &route, context).await
    }

    /// SPF, DKIM and DMARC (`--inbound-auth`), when configured.
    async fn authenticate(&self, tx: &Transaction, peer: &str) -> Option<Verdict> {
        let auth = self.auth.as_ref()?;
        let ip = peer
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        Some(auth.check(&tx.data, ip, &tx.helo, &tx.mail_from).await)
    }

    /// Nothing routed it: an inbox address's policy decides, or it is unmatched. Mail to our
    /// own address that threads nowhere is kept for inspection; a reply address revoked since
    /// RCPT is refused like at RCPT.
    async fn unrouted(&self, mail: &Mail<'_>) -> Flow<Disposition> {
        if let Some(address) = mail.inbox_address() {
            return self.inbox(mail, address).await;
        }
        let detail = "no live reply address or known thread";
        let own = mail.recipients.iter().all(|r| r.target.is_own());
        Ok(match own {
            true => Disposition::accept(InboundOutcome::Unmatched, None, detail),
            false => Disposition::refuse(
                InboundOutcome::Unmatched,
                None,
                detail,
                Refusal::UnknownReplyAddress,
            ),
        })
    }

    /// The loop circuit breaker: too many emails from this sender into this conversation
    /// lately are held. Goes on with what the reply's extraction needs: read at RCPT with the
    /// participant when the route came from there, else now. (Counted at RCPT, the emails that
    /// commit while this one's data is sent are not counted: a loop's emails follow each
    /// other, each sent after the last one's answer.)
    async fn loop_breaker(&self, mail: &Mail<'_>, route: &mut Route) -> Flow<ReplyContext> {
        let context = match route.context.take() {
            Some(context) => context,
            None => {
                let owner = &route.owner;
                let since = self.store.now() - self.limits.burst_window_ms;
                self.store
                    .reply_context(
                        &mail.tx.mail_from,
                        &owner.conversation_id,
                        &owner.person.id,
                        since,
                    )
                    .await
                    .map_err(try_again("reading the reply's context"))?
            }
        };
        let count = context.recent_emails;
        if count < self.limits.burst_limit {
            return Ok(context);
        }
        let owner = &route.owner;
        let detail = format!(
            "held by the loop circuit breaker: {count} emails from this sender in {} minutes",
            self.limits.burst_window_ms / 60_000
        );
        tracing::warn!(conversation_id = %owner.conversation_id, count, "inbound burst held");
        let conversation = Some(owner.conversation_id.clone());
        Err(Disposition::accept(InboundOutcome::Rejected, conversation, detail).into())
    }

    /// After the commit: the email's `files` that a removal took meanwhile (the same content
    /// erased elsewhere, `blobs::removal`) are written again from the raw email.
    async fn files_kept(&self, raw: &[u8], files: &[String]) -> std::io::Result<()> {
        let again = crate::blobs::removal::to_write_again(&self.store, files)
            .await
            .map_err(std::io::Error::other)?;
        if again.is_empty() {
            return Ok(());
        }
        let parsed = super::parse::parse_email(raw, &|_| false)
            .ok_or_else(|| std::io::Error::other("the stored email no longer parses"))?;
        for part in parsed.attachments {
            if again.contains(&crate::store::sha256_hex(&part.data)) {
                self.blobs.put(&part.data).await?;
            }
        }
        Ok(())
    }

    /// Writes a disposition — its `record` and `changes` — in one transaction and says what to
    /// answer: its `refusal`, or stored once committed; a temporary failure when the store fails.
    pub(super) async fn apply(
        &self,
        record: InboundRecord,
        raw: &[u8],
        changes: InboundChanges,
        refusal: Option<Refusal>,
    ) -> Answer {
        let queues = changes
            .effects
            .iter()
            .any(|e| matches!(e, InboundEffect::Queue(_)));
        let files: Vec<String> = changes
            .post
            .iter()
            .flat_map(|post| &post.attachments)
            .filter(|a| a.omitted.is_none())
            .map(|a| a.sha256.clone())
            .collect();
        let started = std::time::Instant::now();
        let stored = match self.store.apply_inbound(record, raw, changes).await {
            Ok(stored) => stored,
            Err(err) => {
                tracing::error!(error = %err, "storing inbound email failed");
                return Answer::TryAgain;
            }
        };
        if let Err(err) = self.files_kept(raw, &files).await {
            // Committed: the raw email keeps the files, and a download extracts a missing one
            // again (`web::service::files`).
            tracing::error!(error = %err, "writing again files removed meanwhile failed");
        }
        self.metrics.observe_commit(started.elapsed(), stored.batch);
        self.metrics
            .inbound_emails
            .get_or_create(&crate::metrics::Inbound {
                outcome: stored.outcome.as_str(),
                reason: refusal.map_or("none", Refusal::as_str),
            })
            .inc();
        tracing::info!(
            outcome = stored.outcome.as_str(),
            message_id = stored.posted_message_id.as_deref().unwrap_or(""),
            "inbound email recorded"
        );
        if queues && let Some(mailer) = &self.mailer {
            // A confirmation link or an answer to commands is queued: send it now.
            mailer.queued();
        }
        match refusal {
            Some(why) => Answer::Refused(why),
            None => Answer::Stored {
                inbound_id: stored.inbound_id,
            },
        }
    }
}
