//! Turns a planned notification into a complete RFC 5322 message. Pure: no I/O.
//!
//! Every recipient gets an individual email (no shared To/Cc, so participants never see each
//! other's addresses), with their own reply address in Reply-To, a Message-ID that names the
//! conversation and recipient and carries a keyed MAC (so it cannot be forged to thread into
//! another conversation), In-Reply-To/References chaining to the previous email of the same
//! conversation sent to that person, and Thread-Topic/Thread-Index for Outlook.

use crate::domain::{EmailAddress, Id, IdKind, Millis};
use crate::inbound::extract::REPLY_MARKER;
use crate::store::{DueParticipant, NewOutboxEmail, PendingMessage};
use askama::Template;
use base64::Engine;
use hmac::{Hmac, Mac};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use sha2::Sha256;
use std::time::{Duration, UNIX_EPOCH};

/// How many earlier Message-IDs the References header keeps (RFC 5322 §3.6.4 allows trimming).
const MAX_REFERENCES: usize = 10;

#[derive(Clone)]
pub struct Composer {
    from_address: EmailAddress,
    reply_domain: String,
    /// Keys the MAC in our Message-IDs; shared by every process using the database.
    secret: Vec<u8>,
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
    pub fn new(from_address: EmailAddress, reply_domain: String, secret: Vec<u8>) -> Composer {
        Composer {
            from_address,
            reply_domain,
            secret,
        }
    }

    fn mac(&self, parts: &[&str]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        let digest = mac.finalize().into_bytes();
        data_encoding::BASE32_NOPAD
            .encode(&digest[..10])
            .to_ascii_lowercase()
    }

    /// `<conversation.person.n.mac@reply-domain>`: stable for the n-th email of a conversation
    /// to a person, verifiable with [`Composer::verify_message_id`].
    pub fn message_id(&self, conversation_id: &str, person_id: &str, n: i64) -> String {
        let n = n.to_string();
        let mac = self.mac(&[conversation_id, person_id, &n]);
        format!(
            "<{conversation_id}.{person_id}.{n}.{mac}@{}>",
            self.reply_domain
        )
    }

    /// The (conversation, person) a Message-ID of ours names, if its MAC is right.
    pub fn verify_message_id(&self, id: &str) -> Option<(String, String)> {
        let id = id.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, domain) = id.rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(&self.reply_domain) {
            return None;
        }
        let mut parts = local.split('.');
        let (conversation, person, n, mac) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expected = self.mac(&[conversation, person, n]);
        let same: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), mac.as_bytes()).into();
        same.then(|| (conversation.to_string(), person.to_string()))
    }

    /// Outlook threads by Thread-Index: 22 bytes naming the thread (a FILETIME and a GUID, here
    /// derived from the conversation) plus 5 bytes per reply.
    fn thread_index(&self, conversation_id: &str, created_at: Millis, n: i64) -> String {
        // FILETIME: 100 ns intervals since 1601-01-01; the header keeps its 6 high bytes.
        let filetime = (created_at.max(0) as u64 + 11_644_473_600_000) * 10_000;
        let mut bytes = filetime.to_be_bytes()[..6].to_vec();
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(b"thread-index\n");
        mac.update(conversation_id.as_bytes());
        bytes.extend_from_slice(&mac.finalize().into_bytes()[..16]);
        for i in 1..n.clamp(1, 64) {
            bytes.extend_from_slice(&[0, 0, 0, (i >> 8) as u8, i as u8]);
        }
        base64::engine::general_purpose::STANDARD.encode(bytes)
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
        let message_id = self.message_id(&due.conversation_id, &due.person.id, n);
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
            self.thread_index(&due.conversation_id, due.conversation_created_at, n),
        ));

        let mut references = due.references.clone();
        references.push(message_id.clone());
        let skip = references.len().saturating_sub(MAX_REFERENCES);
        Ok(NewOutboxEmail {
            id: Id::generate(IdKind::Outbox),
            envelope_from: self.from_address.to_string(),
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
