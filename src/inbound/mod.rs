//! The inbound pipeline: a received email becomes a message in the right conversation, or a
//! recorded refusal.
//!
//! parse (mail-parser) → classify (auto-reply / bounce / loop) → route (reply token in the
//! envelope, then To/Cc/Delivered-To) → check the sender is the token's participant →
//! extract the new text → ONE store transaction (raw email + message + inbound record) →
//! the SMTP reply. The reply is positive only once that transaction has committed.

pub mod analyze;
pub mod classify;
pub mod extract;
pub mod html;
pub mod parse;

use crate::domain::{EmailAddress, InboundOutcome, MessageKind, ReplyToken, Source};
use crate::smtp::session::{RecipientVerdict, Reply, Transaction};
use crate::store::{InboundRecord, NewMessage, Store, TokenOwner, sha256_hex};
use classify::Machine;
use parse::ParsedEmail;

#[derive(Clone)]
pub struct Inbound {
    store: Store,
    reply_domain: String,
    own_address: EmailAddress,
}

impl Inbound {
    pub fn new(store: Store, reply_domain: String, own_address: EmailAddress) -> Inbound {
        Inbound {
            store,
            reply_domain,
            own_address,
        }
    }

    /// RCPT-time check: is this a live token?
    pub async fn check_recipient(&self, token: &ReplyToken) -> RecipientVerdict {
        match self.store.participant_by_token(token).await {
            Ok(Some(_)) => RecipientVerdict::Live,
            Ok(None) => RecipientVerdict::Unknown,
            Err(err) => {
                tracing::error!(error = %err, "recipient lookup failed");
                RecipientVerdict::TemporaryFailure
            }
        }
    }

    /// Processes one message routed by `tokens` (all the envelope recipients for SMTP, one for
    /// each LMTP recipient) and says what to answer.
    pub async fn deliver(&self, tx: &Transaction, tokens: &[&ReplyToken], peer: &str) -> Reply {
        let recipients: Vec<String> = tx.recipients.iter().map(|r| r.address.clone()).collect();
        let record = |outcome,
                      conversation_id: Option<String>,
                      detail: &str,
                      message_id: Option<String>| InboundRecord {
            envelope_from: tx.mail_from.clone(),
            recipients: recipients.clone(),
            message_id,
            outcome,
            conversation_id,
            detail: detail.to_string(),
            peer: peer.to_string(),
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

        if let Some(machine) = machine {
            let outcome = match machine {
                Machine::AutoReply(_) | Machine::Loop(_) => InboundOutcome::AutoReply,
                Machine::Bounce(_) => InboundOutcome::Bounce,
            };
            let detail = machine.detail();
            let owner = self.route(&parsed, tokens).await;
            let conversation = owner.ok().flatten().map(|o| o.conversation_id);
            let rec = record(outcome, conversation, &detail, message_id);
            return self.commit(rec, &tx.data, None, accepted()).await;
        }

        let owner = match self.route(&parsed, tokens).await {
            Ok(Some(owner)) => owner,
            Ok(None) => {
                let rec = record(
                    InboundOutcome::Unmatched,
                    None,
                    "no live reply address",
                    message_id,
                );
                return self
                    .commit(
                        rec,
                        &tx.data,
                        None,
                        Reply::new(
                            550,
                            "5.1.1",
                            "No such recipient: unknown or expired reply address",
                        ),
                    )
                    .await;
            }
            Err(reply) => return reply,
        };

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

        let body = analyze::reply_body(&parsed, None);
        if body.text.trim().is_empty() {
            let rec = record(
                InboundOutcome::Empty,
                Some(owner.conversation_id),
                "the reply contained only quoted text or a signature",
                message_id,
            );
            return self.commit(rec, &tx.data, None, accepted()).await;
        }

        let dedup_key = message_id
            .clone()
            .unwrap_or_else(|| format!("sha256:{}", sha256_hex(&tx.data)));
        let new = NewMessage {
            conversation_id: owner.conversation_id.clone(),
            author_id: owner.person.id.clone(),
            kind: MessageKind::Message,
            body_text: body.text,
            body_html: body.html,
            trimmed_text: body.trimmed,
            source: Source::Email,
            email_message_id: Some(dedup_key),
        };
        let rec = record(
            InboundOutcome::Posted,
            Some(owner.conversation_id),
            "",
            message_id,
        );
        self.commit(rec, &tx.data, Some(&new), accepted()).await
    }

    /// The first live participant among the envelope tokens, then the header tokens.
    async fn route(
        &self,
        parsed: &ParsedEmail,
        tokens: &[&ReplyToken],
    ) -> Result<Option<TokenOwner>, Reply> {
        for token in tokens.iter().copied().chain(parsed.header_tokens.iter()) {
            match self.store.participant_by_token(token).await {
                Ok(Some(owner)) => return Ok(Some(owner)),
                Ok(None) => continue,
                Err(err) => {
                    tracing::error!(error = %err, "routing lookup failed");
                    return Err(temporary_failure());
                }
            }
        }
        Ok(None)
    }

    /// Stores and turns the result into the SMTP reply: `reply` once committed, 451 otherwise.
    async fn commit(
        &self,
        record: InboundRecord,
        raw: &[u8],
        post: Option<&NewMessage>,
        reply: Reply,
    ) -> Reply {
        match self.store.record_inbound(record, raw, post).await {
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
