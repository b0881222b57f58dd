//! Turns a planned notification into a complete RFC 5322 message. Pure: no I/O.
//!
//! Every recipient gets an individual email (no shared To/Cc, so participants never see each
//! other's addresses), with their own reply address in Reply-To, a Message-ID that names the
//! conversation and recipient and carries a keyed MAC (so it cannot be forged to thread into
//! another conversation), In-Reply-To/References chaining to the previous email of the same
//! conversation sent to that person, and Thread-Topic/Thread-Index for Outlook.

use crate::domain::{EmailAddress, Id, IdKind, MessageIds, Millis};
use crate::inbound::extract::REPLY_MARKER;
use crate::store::{DueParticipant, NewOutboxEmail, PendingMessage};
use askama::Template;
use base64::Engine;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use std::time::{Duration, UNIX_EPOCH};

/// How many earlier Message-IDs the References header keeps (RFC 5322 §3.6.4 allows trimming).
const MAX_REFERENCES: usize = 10;

#[derive(Clone)]
pub struct Composer {
    from_address: EmailAddress,
    reply_domain: String,
    message_ids: MessageIds,
}

/// The loop-detection header on everything we send: mail carrying it that comes back to us is
/// dropped (see `inbound::classify`).
pub const LOOP_HEADER: &str = "X-Threadgate-Loop";

/// The envelope sender (VERP, RFC 5321 §4.5.5 bounce handling) of an outbox email: a bounce to
/// it names the email, and so the recipient, that failed.
pub fn bounce_address(outbox_id: &str, reply_domain: &str) -> String {
    format!("bounces+{outbox_id}@{reply_domain}")
}

struct MessageView<'a> {
    author: &'a str,
    time: String,
    body: &'a str,
}

#[derive(Template)]
#[template(path = "email/notification.txt")]
struct NotificationText<'a> {
    marker: &'a str,
    subject: &'a str,
    messages: &'a [MessageView<'a>],
}

#[derive(Template)]
#[template(path = "email/notification.html")]
struct NotificationHtml<'a> {
    marker: &'a str,
    subject: &'a str,
    messages: &'a [MessageView<'a>],
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("template: {0}")]
    Template(#[from] askama::Error),
    #[error("building the email: {0}")]
    Build(String),
}

impl Composer {
    pub fn new(
        from_address: EmailAddress,
        reply_domain: String,
        message_ids: MessageIds,
    ) -> Composer {
        Composer {
            from_address,
            reply_domain,
            message_ids,
        }
    }

    /// Composes the email for `due`, about `messages` (already filtered to what they may see).
    pub fn notification(
        &self,
        due: &DueParticipant,
        messages: &[&PendingMessage],
        now: Millis,
    ) -> Result<NewOutboxEmail, ComposeError> {
        let views: Vec<MessageView> = messages
            .iter()
            .map(|m| MessageView {
                author: &m.author_name,
                time: human_time(m.created_at),
                body: &m.body_text,
            })
            .collect();
        let text = NotificationText {
            marker: REPLY_MARKER,
            subject: &due.subject,
            messages: &views,
        }
        .render()?;
        let html = NotificationHtml {
            marker: REPLY_MARKER,
            subject: &due.subject,
            messages: &views,
        }
        .render()?;

        let n = due.emails_sent + 1;
        let message_id = self
            .message_ids
            .generate(&due.conversation_id, &due.person.id, n);
        let author = messages
            .last()
            .map(|m| m.author_name.as_str())
            .unwrap_or("threadgate");
        let build_err = |e: &dyn std::fmt::Display| ComposeError::Build(e.to_string());
        let from = Mailbox::new(
            Some(format!("{author} via threadgate")),
            self.from_address
                .to_string()
                .parse()
                .map_err(|e| build_err(&e))?,
        );
        let to = Mailbox::new(
            Some(due.person.name.clone()),
            due.person.email.parse().map_err(|e| build_err(&e))?,
        );
        let reply_to: Mailbox = due
            .reply_token
            .address(&self.reply_domain)
            .parse()
            .map_err(|e| build_err(&e))?;
        let subject = if due.emails_sent == 0 {
            due.subject.clone()
        } else {
            format!("Re: {}", due.subject)
        };

        let mut builder = lettre::Message::builder()
            .from(from)
            .to(to)
            .reply_to(reply_to)
            .subject(subject)
            .message_id(Some(message_id.clone()))
            .date(UNIX_EPOCH + Duration::from_millis(now.max(0) as u64));
        if let Some(previous) = &due.last_email_id {
            builder = builder.in_reply_to(previous.clone());
        }
        if !due.references.is_empty() {
            builder = builder.references(due.references.join(" "));
        }
        let mut email = builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| build_err(&e))?;
        let headers = email.headers_mut();
        // RFC 3834 §5: machine-generated; stops well-behaved auto-responders from answering.
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ));
        // Exchange/Outlook: suppress out-of-office and other automatic responses.
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
            "All".into(),
        ));
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("Thread-Topic"),
            due.subject.clone(),
        ));
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("Thread-Index"),
            base64::engine::general_purpose::STANDARD.encode(self.message_ids.thread_index(
                &due.conversation_id,
                due.conversation_created_at,
                n,
            )),
        ));
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str(LOOP_HEADER),
            self.reply_domain.clone(),
        ));

        let mut references = due.references.clone();
        references.push(message_id.clone());
        let skip = references.len().saturating_sub(MAX_REFERENCES);
        let id = Id::generate(IdKind::Outbox);
        Ok(NewOutboxEmail {
            envelope_from: bounce_address(&id, &self.reply_domain),
            id,
            recipient: due.person.email.clone(),
            message_id,
            references: references[skip..].join(" "),
            data: email.formatted(),
        })
    }
}

/// "2026-11-23 18:34 UTC": readable in any mail client and language.
fn human_time(ms: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M UTC")
        .to_string()
}
