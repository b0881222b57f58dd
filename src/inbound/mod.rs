//! The inbound pipeline: a received email becomes a message in the right conversation, or a
//! recorded refusal.
//!
//! parse (mail-parser) → classify (auto-reply / bounce / loop) → route (reply token in the
//! envelope, then To/Cc/Delivered-To, then our own Message-ID in In-Reply-To/References) →
//! check the sender is that participant → loop circuit breaker → extract the new text and
//! sanitized HTML (cutting the notification we sent them wherever it is quoted) → store
//! attachments → ONE store transaction (raw email + message + attachments + inbound record) →
//! the SMTP reply. The reply is positive only once that transaction has committed.

pub mod analyze;
pub mod auth;
pub mod classify;
pub mod extract;
pub mod html;
mod inbox;
pub use inbox::{Confirmations, Confirmed};
pub mod parse;

use crate::blobs::BlobStore;
use crate::domain::{
    EmailAddress, Id, IdKind, InboundOutcome, LinkSigner, MessageIds, MessageKind, ReplyToken,
    Source,
};
use crate::smtp::session::{Classified, Recipient, RecipientVerdict, Reply, Target, Transaction};
use crate::store::{
    InboundEntry, InboundRecord, NewAttachment, NewMessage, Store, TokenOwner, sha256_hex,
};
use classify::Machine;
use parse::ParsedEmail;
use std::collections::HashMap;

/// Limits on what one inbound email may carry.
#[derive(Debug, Clone, Copy)]
pub struct InboundLimits {
    /// Larger attachments are listed as omitted, not kept.
    pub max_attachment_size: usize,
    /// The loop circuit breaker: more emails than this from one sender into one conversation
    /// within `burst_window_ms` are held (recorded, not posted).
    pub burst_limit: i64,
    pub burst_window_ms: i64,
}

impl Default for InboundLimits {
    fn default() -> Self {
        InboundLimits {
            max_attachment_size: 20 * 1024 * 1024,
            burst_limit: 30,
            burst_window_ms: 10 * 60 * 1000,
        }
    }
}

#[derive(Clone)]
pub struct Inbound {
    store: Store,
    blobs: BlobStore,
    reply_domain: String,
    own_address: EmailAddress,
    message_ids: MessageIds,
    links: LinkSigner,
    limits: InboundLimits,
    /// SPF/DKIM/DMARC of every inbound email (`--inbound-auth verify`).
    auth: Option<auth::InboundAuth>,
    /// Confirmation emails to strangers writing to an inbox address (policy `verify`).
    confirmations: Option<inbox::Confirmations>,
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

/// Where a routed email goes, and how we found it.
struct Route {
    owner: TokenOwner,
    via: &'static str,
}

/// The participants behind the reply addresses a connection's RCPT commands named, so that
/// DATA routes by them without looking each up again. Only a hint: the transaction that posts
/// the message checks again that its author is a live participant.
#[derive(Default)]
pub struct KnownOwners(Vec<(ReplyToken, TokenOwner)>);

impl KnownOwners {
    /// A transaction has at most `--max-recipients` of them; more than this are looked up
    /// again rather than kept.
    const MAX: usize = 100;

    fn remember(&mut self, token: &ReplyToken, owner: &TokenOwner) {
        if self.0.len() < Self::MAX && self.get(token).is_none() {
            self.0.push((token.clone(), owner.clone()));
        }
    }

    fn get(&self, token: &ReplyToken) -> Option<&TokenOwner> {
        self.0
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, owner)| owner)
    }

    /// Forgets them all (after each delivered transaction).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl Inbound {
    pub fn new(
        store: Store,
        blobs: BlobStore,
        reply_domain: String,
        own_address: EmailAddress,
        message_ids: MessageIds,
        links: LinkSigner,
        limits: InboundLimits,
    ) -> Inbound {
        Inbound {
            store,
            blobs,
            reply_domain,
            own_address,
            message_ids,
            links,
            limits,
            auth: None,
            confirmations: None,
        }
    }

    pub fn with_auth(mut self, auth: auth::InboundAuth) -> Inbound {
        self.auth = Some(auth);
        self
    }

    /// Posts a held email (DMARC quarantine, or a stranger's) as if it had passed: an admin
    /// vouched for it. Returns the reply the pipeline gave, and the new inbound record says
    /// what happened.
    pub async fn release(&self, inbound_id: &str) -> Result<Reply, ReleaseError> {
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

    /// Runs a claimed held email through the pipeline again, vouched for (no authentication
    /// check; a stranger becomes a client). Not stored (a storage hiccup): held again.
    async fn redeliver(&self, entry: &InboundEntry) -> Result<Reply, ReleaseError> {
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
                let target = match crate::smtp::session::classify_recipient(
                    address,
                    &self.reply_domain,
                    Some(&own),
                ) {
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
        let reply = self
            .deliver_checked(&tx, &refs, "released", false, &KnownOwners::default())
            .await;
        if (400..500).contains(&reply.code) {
            self.store.unclaim_held(&entry.id).await?;
        }
        Ok(reply)
    }

    /// RCPT-time check: does this address lead anywhere, and may `sender` (the envelope
    /// sender, "" for bounces) write to it? Blocked people and domains are refused here,
    /// before any data.
    pub async fn check_recipient(
        &self,
        target: &Target,
        sender: &str,
        known: &mut KnownOwners,
    ) -> RecipientVerdict {
        let sender_address = EmailAddress::parse(sender).ok();
        let found = match (target, &sender_address) {
            // The common case, in one query: the participant and the sender's standing.
            (Target::Token(token), Some(sender)) => {
                return match self.store.token_recipient(token, sender).await {
                    Ok((None, _)) => RecipientVerdict::Unknown,
                    Ok((Some(_), Some(_))) => RecipientVerdict::SenderBlocked,
                    Ok((Some(owner), None)) => {
                        known.remember(token, &owner);
                        RecipientVerdict::Live
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "recipient lookup failed");
                        RecipientVerdict::TemporaryFailure
                    }
                };
            }
            (Target::Token(token), None) => self.store.participant_by_token(token).await.map(|o| {
                if let Some(owner) = &o {
                    known.remember(token, owner);
                }
                o.is_some()
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

    /// Processes one message for `recipients` (all the envelope recipients for SMTP, one for
    /// each LMTP recipient) and says what to answer.
    /// `known`: what [`Inbound::check_recipient`] found for this transaction's recipients.
    pub async fn deliver(
        &self,
        tx: &Transaction,
        recipients: &[&Recipient],
        peer: &str,
        known: &KnownOwners,
    ) -> Reply {
        self.deliver_checked(tx, recipients, peer, true, known)
            .await
    }

    async fn deliver_checked(
        &self,
        tx: &Transaction,
        recipients: &[&Recipient],
        peer: &str,
        authenticate: bool,
        known: &KnownOwners,
    ) -> Reply {
        let verdict = match (&self.auth, authenticate) {
            (Some(auth), true) => {
                let ip = peer
                    .parse::<std::net::SocketAddr>()
                    .map(|a| a.ip())
                    .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                Some(auth.check(&tx.data, ip, &tx.helo, &tx.mail_from).await)
            }
            _ => None,
        };
        let auth_results = verdict.as_ref().map(|v| no_nul(v.results.clone()));
        let addresses: Vec<String> = tx.recipients.iter().map(|r| r.address.clone()).collect();
        let record = |outcome,
                      conversation_id: Option<String>,
                      detail: &str,
                      message_id: Option<String>| InboundRecord {
            envelope_from: no_nul(tx.mail_from.clone()),
            recipients: addresses.clone(),
            message_id: message_id.map(no_nul),
            outcome,
            conversation_id,
            detail: no_nul(detail.to_string()),
            peer: peer.to_string(),
            auth_results: auth_results.clone(),
            awaiting: None,
        };

        let ctx = analyze::Context {
            reply_domain: &self.reply_domain,
            own_address: &self.own_address,
            envelope_from: &tx.mail_from,
        };
        let Some((parsed, machine)) = analyze::parse_and_classify(&tx.data, &ctx) else {
            let rec = record(
                InboundOutcome::Rejected,
                None,
                "not a parseable email",
                None,
            );
            return self
                .commit(
                    rec,
                    &tx.data,
                    None,
                    Reply::new(550, "5.6.0", "Message is not a valid email"),
                )
                .await;
        };
        let message_id = parsed.message_id.clone();

        if recipients.iter().any(|r| r.target == Target::Unsubscribe) {
            let token = parsed
                .subject
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .last()
                .unwrap_or("")
                .to_string();
            let (outcome, conversation, detail) =
                match self.links.verify_unsubscribe(&token, self.store.now()) {
                    Some((conversation_id, person_id)) => match self
                        .store
                        .set_muted(&conversation_id, &person_id, true)
                        .await
                    {
                        Ok(_) => (
                            InboundOutcome::Unsubscribe,
                            Some(conversation_id),
                            "conversation muted by mail".to_string(),
                        ),
                        Err(err) => {
                            tracing::error!(error = %err, "muting failed");
                            return temporary_failure();
                        }
                    },
                    None => (
                        InboundOutcome::Rejected,
                        None,
                        "unsubscribe request without a valid token".to_string(),
                    ),
                };
            let rec = record(outcome, conversation, &detail, message_id);
            return self.commit(rec, &tx.data, None, accepted()).await;
        }

        let bounce_ids: Vec<&str> = recipients
            .iter()
            .filter_map(|r| match &r.target {
                Target::Bounce(id) => Some(id.as_str()),
                _ => None,
            })
            .collect();
        if let Some(Machine::Bounce(bounce)) = &machine {
            return match self.bounce(bounce, &bounce_ids).await {
                Ok((conversation, detail)) => {
                    let rec = record(InboundOutcome::Bounce, conversation, &detail, message_id);
                    self.commit(rec, &tx.data, None, accepted()).await
                }
                Err(reply) => reply,
            };
        }

        // Anything else sent to a return path (RFC 3834 responders answer the envelope sender)
        // is machine mail too, but says nothing about whether the address works.
        let machine = machine.or_else(|| {
            (!bounce_ids.is_empty()).then(|| {
                Machine::AutoReply("mail to a bounce address that is not a delivery report".into())
            })
        });
        if let Some(machine) = machine {
            let conversation = match self.route(&parsed, recipients, known).await {
                Ok(route) => route.map(|r| r.owner.conversation_id),
                Err(reply) => return reply,
            };
            let rec = record(
                InboundOutcome::AutoReply,
                conversation,
                &machine.detail(),
                message_id,
            );
            return self.commit(rec, &tx.data, None, accepted()).await;
        }

        let route = match self.route(&parsed, recipients, known).await {
            Ok(Some(route)) => route,
            Ok(None) => {
                if let Some(address) = recipients.iter().find_map(|r| match &r.target {
                    Target::Inbox(address) => Some(address),
                    _ => None,
                }) {
                    let base = record(InboundOutcome::Rejected, None, "", message_id);
                    let mail = inbox::InboxMail {
                        tx,
                        parsed: &parsed,
                        address,
                        verdict: verdict.as_ref(),
                        base,
                        vouched: !authenticate,
                    };
                    return self.inbox_email(mail).await;
                }
                let rec = record(
                    InboundOutcome::Unmatched,
                    None,
                    "no live reply address or known thread",
                    message_id,
                );
                // Mail to our own address that threads nowhere is kept for inspection; a reply
                // address revoked since RCPT is refused like at RCPT.
                let reply = if recipients.iter().all(|r| r.target == Target::Own) {
                    accepted()
                } else {
                    Reply::new(
                        550,
                        "5.1.1",
                        "No such recipient: unknown or expired reply address",
                    )
                };
                return self.commit(rec, &tx.data, None, reply).await;
            }
            Err(reply) => return reply,
        };
        let owner = route.owner;

        if let Err(detail) = sender_matches(&parsed, &owner) {
            let rec = record(
                InboundOutcome::SenderMismatch,
                Some(owner.conversation_id),
                &detail,
                message_id,
            );
            let reply = Reply::new(
                550,
                "5.7.1",
                "This reply address belongs to another participant; reply from the address the notification was sent to",
            );
            return self.commit(rec, &tx.data, None, reply).await;
        }

        // The From is the participant's; DMARC says whether that domain vouches for it.
        match verdict.as_ref().map(|v| &v.action) {
            Some(auth::Action::Reject(why)) => {
                let rec = record(
                    InboundOutcome::Rejected,
                    Some(owner.conversation_id),
                    why,
                    message_id,
                );
                let reply = Reply::new(
                    550,
                    "5.7.1",
                    "Rejected by the sender domain's DMARC policy (SPF and DKIM failed)",
                );
                return self.commit(rec, &tx.data, None, reply).await;
            }
            Some(auth::Action::Quarantine(why)) => {
                tracing::warn!(conversation_id = %owner.conversation_id, "inbound email held by DMARC quarantine");
                let rec = record(
                    InboundOutcome::Held,
                    Some(owner.conversation_id),
                    why,
                    message_id,
                );
                return self.commit(rec, &tx.data, None, accepted()).await;
            }
            Some(auth::Action::Accept) | None => {}
        }

        let since = self.store.now() - self.limits.burst_window_ms;
        let context = match self
            .store
            .reply_context(
                &tx.mail_from,
                &owner.conversation_id,
                &owner.person.id,
                since,
            )
            .await
        {
            Ok(context) => context,
            Err(err) => {
                tracing::error!(error = %err, "reading the reply's context failed");
                return temporary_failure();
            }
        };
        let count = context.recent_emails;
        if count >= self.limits.burst_limit {
            let detail = format!(
                "held by the loop circuit breaker: {count} emails from this sender in {} minutes",
                self.limits.burst_window_ms / 60_000
            );
            tracing::warn!(conversation_id = %owner.conversation_id, count, "inbound burst held");
            let rec = record(
                InboundOutcome::Rejected,
                Some(owner.conversation_id),
                &detail,
                message_id,
            );
            return self.commit(rec, &tx.data, None, accepted()).await;
        }

        let sent_text = self.sent_text(context.last_notification);
        let (new, omitted) = match self
            .message_from(
                &parsed,
                &tx.data,
                &owner.conversation_id,
                &owner.person.id,
                sent_text.as_deref(),
            )
            .await
        {
            Ok(Some(post)) => post,
            Ok(None) => {
                let rec = record(
                    InboundOutcome::Empty,
                    Some(owner.conversation_id),
                    EMPTY_DETAIL,
                    message_id,
                );
                return self.commit(rec, &tx.data, None, accepted()).await;
            }
            Err(reply) => return reply,
        };
        let detail = with_omitted(format!("routed by {}", route.via), &omitted);
        let rec = record(
            InboundOutcome::Posted,
            Some(owner.conversation_id.clone()),
            &detail,
            message_id,
        );
        self.commit(rec, &tx.data, Some(&new), accepted()).await
    }

    /// The text of the last notification we emailed someone in a conversation (its raw
    /// bytes): their reply quotes it, and it is cut wherever it appears.
    fn sent_text(&self, last_notification: Option<Vec<u8>>) -> Option<String> {
        last_notification
            .and_then(|raw| parse::parse_email(&raw, &self.reply_domain))
            .map(|p| p.text())
    }

    /// The message an email posts into `conversation_id` by `author_id`: attachments written
    /// to the blob store, the new text and sanitized HTML extracted (cutting `sent_text`), and
    /// the attachments too large to keep. None when nothing new is left (only quoted text or a
    /// signature).
    async fn message_from(
        &self,
        parsed: &ParsedEmail,
        raw: &[u8],
        conversation_id: &str,
        author_id: &str,
        sent_text: Option<&str>,
    ) -> Result<Option<(NewMessage, Vec<String>)>, Reply> {
        let attachments = match self.store_attachments(parsed).await {
            Ok(attachments) => attachments,
            Err(err) => {
                tracing::error!(error = %err, "storing attachments failed");
                return Err(temporary_failure());
            }
        };
        let cid_urls: HashMap<String, String> = attachments
            .iter()
            .filter(|a| a.omitted.is_none())
            .filter_map(|a| Some((a.content_id.clone()?, format!("/attachments/{}", a.id))))
            .collect();
        let body = analyze::reply_body_with(parsed, sent_text, &|cid| cid_urls.get(cid).cloned());
        if body.text.trim().is_empty() && attachments.iter().all(|a| a.inline) {
            return Ok(None);
        }
        let dedup_key = parsed
            .message_id
            .clone()
            .unwrap_or_else(|| format!("sha256:{}", sha256_hex(raw)));
        let omitted: Vec<String> = attachments
            .iter()
            .filter_map(|a| {
                a.omitted
                    .as_ref()
                    .map(|why| format!("{} ({why})", a.filename))
            })
            .collect();
        let new = NewMessage {
            conversation_id: conversation_id.to_string(),
            author_id: author_id.to_string(),
            kind: MessageKind::Message,
            body_text: no_nul(body.text),
            body_html: body.html.map(no_nul),
            trimmed_text: body.trimmed.map(no_nul),
            source: Source::Email,
            email_message_id: Some(no_nul(dedup_key)),
            attachments,
        };
        Ok(Some((new, omitted)))
    }

    /// The first live participant among the envelope tokens, then the header tokens, then our
    /// own (verified) Message-IDs in In-Reply-To/References. Subject matching never threads.
    async fn route(
        &self,
        parsed: &ParsedEmail,
        recipients: &[&Recipient],
        known: &KnownOwners,
    ) -> Result<Option<Route>, Reply> {
        let envelope = recipients.iter().filter_map(|r| match &r.target {
            Target::Token(token) => Some(("envelope recipient", token)),
            _ => None,
        });
        let headers = parsed
            .header_tokens
            .iter()
            .map(|t| ("To/Cc/Delivered-To", t));
        for (via, token) in envelope.chain(headers) {
            if let Some(owner) = known.get(token) {
                let owner = owner.clone();
                return Ok(Some(Route { owner, via }));
            }
            match self.store.participant_by_token(token).await {
                Ok(Some(owner)) => return Ok(Some(Route { owner, via })),
                Ok(None) => continue,
                Err(err) => {
                    tracing::error!(error = %err, "routing lookup failed");
                    return Err(temporary_failure());
                }
            }
        }
        for id in &parsed.in_reply_to {
            let Some(ours) = self.message_ids.verify(id) else {
                continue;
            };
            match self
                .store
                .live_participant(&ours.conversation_id, &ours.person_id)
                .await
            {
                Ok(Some(owner)) => {
                    return Ok(Some(Route {
                        owner,
                        via: "In-Reply-To/References",
                    }));
                }
                Ok(None) => continue,
                Err(err) => {
                    tracing::error!(error = %err, "routing lookup failed");
                    return Err(temporary_failure());
                }
            }
        }
        Ok(None)
    }

    /// Records a delivery failure against the address it is about. Returns the conversation
    /// (when known) and the inbound record's detail.
    async fn bounce(
        &self,
        bounce: &classify::Bounce,
        outbox_ids: &[&str],
    ) -> Result<(Option<String>, String), Reply> {
        // Only evidence we issued ourselves says which address failed: the VERP address of the
        // email (its outbox row), or our signed Message-ID in the returned headers naming that
        // very person. A report's own Final-Recipient is attacker-controlled: anyone can send
        // a "bounce" for any address.
        let mut failed = None;
        let mut conversation = None;
        for id in outbox_ids {
            match self.store.outbox_recipient(id).await {
                Ok(Some(sent)) => {
                    // The VERP address names exactly which email failed: trust it over the
                    // report's text.
                    failed = Some(sent.recipient);
                    conversation = sent.conversation_id;
                    break;
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::error!(error = %err, "bounce lookup failed");
                    return Err(temporary_failure());
                }
            }
        }
        if failed.is_none()
            && let Some(ours) = bounce
                .original_message_id
                .as_deref()
                .and_then(|id| self.message_ids.verify(id))
        {
            match self.store.person(&ours.person_id).await {
                Ok(Some(person)) => {
                    let reported = bounce
                        .recipient
                        .as_deref()
                        .and_then(|r| EmailAddress::parse(r).ok());
                    let named = EmailAddress::parse(&person.email).ok();
                    if reported.is_some() && reported.map(|r| r.key()) == named.map(|n| n.key()) {
                        failed = Some(person.email);
                        conversation = Some(ours.conversation_id);
                    }
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::error!(error = %err, "bounce lookup failed");
                    return Err(temporary_failure());
                }
            }
        }
        let mut detail = classify::Machine::Bounce(bounce.clone()).detail();
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
        if let Some(address) = address {
            match self.store.record_bounce(&address, permanent, &detail).await {
                Ok(Some((person_id, status))) => {
                    tracing::info!(%person_id, status = status.as_str(), "bounce recorded");
                    detail.push_str(&format!("; {address} is now {}", status.as_str()));
                }
                Ok(None) => detail.push_str(&format!("; {address} is not a known person")),
                Err(err) => {
                    tracing::error!(error = %err, "recording the bounce failed");
                    return Err(temporary_failure());
                }
            }
        }
        Ok((conversation, detail))
    }

    /// Writes every attachment's bytes to the blob store (before the database commit, so a
    /// committed row always has its file) and returns their metadata.
    async fn store_attachments(&self, parsed: &ParsedEmail) -> std::io::Result<Vec<NewAttachment>> {
        let mut stored = Vec::with_capacity(parsed.attachments.len());
        for part in &parsed.attachments {
            let too_big = part.data.len() > self.limits.max_attachment_size;
            let sha256 = if too_big {
                sha256_hex(&part.data)
            } else {
                self.blobs.put(&part.data).await?
            };
            stored.push(NewAttachment {
                id: Id::generate(IdKind::Attachment),
                filename: no_nul(part.filename.clone()),
                content_type: no_nul(part.content_type.clone()),
                size: part.data.len() as i64,
                sha256,
                content_id: part.content_id.clone(),
                inline: part.inline,
                omitted: too_big
                    .then(|| format!("larger than {} bytes", self.limits.max_attachment_size)),
            });
        }
        Ok(stored)
    }

    /// Stores and turns the result into the SMTP reply: `reply` once committed, 451 otherwise.
    async fn commit(
        &self,
        record: InboundRecord,
        raw: &[u8],
        post: Option<&NewMessage>,
        reply: Reply,
    ) -> Reply {
        let stored = self.store.record_inbound(record, raw, post).await;
        self.committed(stored, reply)
    }

    /// The SMTP reply once the store has answered: `reply` (a positive one naming the record)
    /// after a commit, 451 after an error.
    fn committed(
        &self,
        stored: Result<crate::store::InboundStored, crate::store::StoreError>,
        reply: Reply,
    ) -> Reply {
        match stored {
            Ok(stored) => {
                tracing::info!(
                    inbound_id = %stored.inbound_id,
                    outcome = stored.outcome.as_str(),
                    message_id = stored.posted_message_id.as_deref().unwrap_or(""),
                    "inbound email recorded"
                );
                if reply.is_positive() {
                    Reply::new(250, "2.0.0", format!("Stored as {}", stored.inbound_id))
                } else {
                    reply
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "storing inbound email failed");
                temporary_failure()
            }
        }
    }
}

/// Mail can carry NUL characters (`=00` in quoted-printable); PostgreSQL text cannot, and a
/// store error would make the sender retry forever. They carry no meaning in text: drop them.
fn no_nul(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s
    }
}

const EMPTY_DETAIL: &str = "the reply contained only quoted text or a signature";

/// An inbound record's detail, naming the attachments that were too large to keep.
fn with_omitted(mut detail: String, omitted: &[String]) -> String {
    if !omitted.is_empty() {
        detail.push_str(&format!("; attachments not kept: {}", omitted.join(", ")));
    }
    detail
}

fn accepted() -> Reply {
    Reply::new(250, "2.0.0", "Accepted")
}

fn temporary_failure() -> Reply {
    Reply::new(451, "4.3.0", "Temporary storage failure, try again later")
}

/// The sender must be the participant the token belongs to (From, compared case-insensitively).
fn sender_matches(parsed: &ParsedEmail, owner: &TokenOwner) -> Result<(), String> {
    let expected = EmailAddress::parse(&owner.person.email)
        .map(|a| a.key())
        .ok();
    match &parsed.from {
        Some(from) if Some(from.key()) == expected => Ok(()),
        Some(from) => Err(format!(
            "From {} is not the participant this reply address belongs to",
            from.key()
        )),
        None => Err("no valid From address".to_string()),
    }
}
