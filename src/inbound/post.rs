//! The last stage: what a person wrote becomes a message. Attachments go to the blob store
//! first (a committed row always has its file), then the new text and sanitized HTML are
//! extracted, cutting the notification we sent them wherever it is quoted.

use super::actions::Staff;
use super::disposition::{Disposition, Flow, Stop};
use super::mail::Mail;
use super::parse::{self, ParsedEmail};
use super::route::Route;
use super::{Inbound, analyze, no_nul};
use crate::domain::file_type;
use crate::domain::{Id, IdKind, InboundOutcome, MessageKind, Role, Source};
use crate::store::{InboundEffect, NewAttachment, NewMessage, ReplyContext, sha256_hex};
use std::collections::HashMap;

/// The longest Message-ID kept as a posted message's duplicate key as it is (RFC 5322 §2.1.1:
/// a line is at most 998 characters). A longer one is kept as its SHA-256: PostgreSQL refuses an
/// index entry over 2,704 bytes, and the key is indexed — such an email's write failed at every
/// retry.
const MAX_MESSAGE_ID_KEY: usize = 998;

pub(super) const EMPTY_DETAIL: &str = "the reply contained only quoted text or a signature";

/// A message to post, and the attachments too large to keep (named in the record).
pub(super) struct Post {
    pub message: NewMessage,
    pub omitted: Vec<String>,
}

impl Post {
    /// Nothing left to show: no text and no file (only quoted text or a signature, or a staff
    /// reply that was only commands).
    fn is_empty(&self) -> bool {
        self.message.body_text.trim().is_empty()
            && self.message.attachments.iter().all(|a| a.inline)
    }

    /// An inbound record's detail: `how` it was routed, naming the attachments not kept.
    pub fn detail(&self, how: String) -> String {
        let mut detail = how;
        if !self.omitted.is_empty() {
            detail.push_str(&format!(
                "; attachments not kept: {}",
                self.omitted.join(", ")
            ));
        }
        detail
    }
}

impl Inbound {
    /// A reply to a routed conversation: posted, or recorded as empty.
    pub(super) async fn reply(
        &self,
        mail: &Mail<'_>,
        route: &Route,
        context: ReplyContext,
    ) -> Flow<Disposition> {
        let owner = &route.owner;
        let conversation = Some(owner.conversation_id.clone());
        let sent_text = self.sent_text(context.last_notification);
        let post = self
            .post_of(mail, &owner.conversation_id, &owner.person.id, sent_text)
            .await?;
        // Staff steer the conversation from the first lines of their reply (`#note`,
        // `#close`…); answering an email of notes writes a note. A client's reply is a message
        // whatever it says or wherever it goes.
        let mut post = post;
        let mut staff = Staff::default();
        if owner.person.role == Role::Internal {
            staff = self
                .staff_commands(mail, route, post.as_mut().map(|p| &mut p.message))
                .await?;
        }
        let mut effects = staff.effects;
        effects.extend(self.copied_people(mail, &owner.conversation_id));
        let Some(post) = post.filter(|p| !p.is_empty()) else {
            let (outcome, detail) = match staff.applied.is_empty() {
                true => (InboundOutcome::Empty, EMPTY_DETAIL.to_string()),
                false => (
                    InboundOutcome::Commands,
                    format!("commands applied: {}", staff.applied.join(" ")),
                ),
            };
            return Ok(Disposition {
                effects,
                ..Disposition::accept(outcome, conversation, detail)
            });
        };
        let mut how = format!("routed by {}", route.via);
        if post.message.kind == MessageKind::Note {
            how.push_str("; an internal note");
        }
        if !staff.applied.is_empty() {
            how.push_str(&format!("; commands applied: {}", staff.applied.join(" ")));
        }
        let detail = post.detail(how);
        Ok(Disposition {
            post: Some(post.message),
            effects,
            ..Disposition::accept(InboundOutcome::Posted, conversation, detail)
        })
    }

    /// The people the email copied (To, Cc), but its sender and our own address, to offer to
    /// staff (the store keeps them for inbox conversations only).
    pub(super) fn copied_people(
        &self,
        mail: &Mail<'_>,
        conversation_id: &str,
    ) -> Option<InboundEffect> {
        let sender = mail.parsed.from.as_ref().map(|f| f.key());
        let people: Vec<_> = mail
            .parsed
            .copied
            .iter()
            .filter(|(a, _)| Some(a.key()) != sender && !mail.domains.is_own_address(&a.key()))
            .cloned()
            .collect();
        (!people.is_empty()).then(|| InboundEffect::Suggest {
            conversation_id: conversation_id.to_string(),
            people,
        })
    }

    /// The text of the last notification we emailed someone in a conversation (its raw
    /// bytes): their reply quotes it, and it is cut wherever it appears.
    pub(super) fn sent_text(&self, last_notification: Option<Vec<u8>>) -> Option<String> {
        // Only its text is read: which domains are ours does not matter.
        last_notification
            .and_then(|raw| parse::parse_email(&raw, &|_| false))
            .map(|p| p.text())
    }

    /// The message an email posts into `conversation_id` by `author_id`: attachments written
    /// to the blob store, the new text and sanitized HTML extracted (cutting `sent_text`).
    /// None when nothing new is left (only quoted text or a signature).
    pub(super) async fn post_of(
        &self,
        mail: &Mail<'_>,
        conversation_id: &str,
        author_id: &str,
        sent_text: Option<String>,
    ) -> Flow<Option<Post>> {
        let parsed = &mail.parsed;
        let attachments = self.store_attachments(parsed).await.map_err(|err| {
            tracing::error!(error = %err, "storing attachments failed");
            Stop::TryAgain
        })?;
        let cid_urls: HashMap<String, String> = attachments
            .iter()
            .filter(|a| a.omitted.is_none())
            .filter_map(|a| Some((a.content_id.clone()?, format!("/attachments/{}", a.id))))
            .collect();
        let budget = self.limits.extraction_cpu_budget;
        let body = super::cpu_bound(mail.tx.data.len(), || {
            let budget = super::budget::CpuBudget::start(budget);
            let body = analyze::reply_body_with(
                parsed,
                sent_text.as_deref(),
                &|cid| cid_urls.get(cid).cloned(),
                &budget,
            );
            if body.html_over_budget {
                tracing::warn!(
                    conversation_id = %conversation_id,
                    cpu_ms = budget.spent().as_millis() as u64,
                    "the HTML part is not kept: its extraction ran over the CPU budget (posted as text; the original email is kept)"
                );
            }
            body
        });
        let dedup_key = match parsed.message_id.as_deref() {
            Some(id) if id.len() <= MAX_MESSAGE_ID_KEY => id.to_string(),
            // Still the same key at every delivery of this email; too long to be one as it is.
            Some(id) => format!("sha256:{}", sha256_hex(id.as_bytes())),
            None => format!("sha256:{}", sha256_hex(&mail.tx.data)),
        };
        let omitted = attachments
            .iter()
            .filter_map(|a| {
                a.omitted
                    .as_ref()
                    .map(|why| format!("{} ({why})", a.filename))
            })
            .collect();
        let message = NewMessage {
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
        Ok(Some(Post { message, omitted }).filter(|post| !post.is_empty()))
    }

    /// Writes every attachment's bytes to the blob store (before the database commit, so a
    /// committed row always has its file) and returns their metadata, each with the type its
    /// bytes say (the rule uploads follow too).
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
                content_type: file_type::stored_type(&part.content_type, &part.data),
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
}
