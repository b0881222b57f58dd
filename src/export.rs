//! Conversation exports, as a reader may see them: an mbox (RFC 4155, the "mboxrd" escaping of
//! `From ` lines) that Thunderbird or mutt open as one thread — the original raw email for
//! messages that came by email, a composed one (Message-ID, In-Reply-To, References to the
//! message before) for web and API posts —, or JSON with the same messages, their attachments'
//! metadata and the events. Written a page of messages at a time to any `AsyncWrite`, so a
//! 10,000-message conversation exports in constant memory; the API streams it, the command line
//! writes a file.
//!
//! What a reader may see is the web view's rule: a client gets no internal notes, no deleted
//! messages, no other person's address (their raw emails are composed again, without headers
//! naming anyone), and of the events only closing and reopening; staff and the admin get all,
//! deleted messages marked.

use crate::domain::{Millis, Role, rfc3339};
use crate::store::{Attachment, Conversation, Message, Person, Store, StoreError};
use serde_json::{Value, json};
use std::collections::HashMap;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Messages read per page.
const PAGE: i64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Mbox,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim() {
            "mbox" => Some(Format::Mbox),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Mbox => "application/mbox",
            Format::Json => "application/json",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Mbox => "mbox",
            Format::Json => "json",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

/// One page of messages and their attachments, by message id.
struct Page {
    messages: Vec<Message>,
    files: HashMap<String, Vec<Attachment>>,
}

/// Whom an export is for: None is the admin (everything).
pub struct Export<'a> {
    pub store: &'a Store,
    pub conversation: &'a Conversation,
    pub reader: Option<&'a Person>,
    /// The conversation's reply domain: composed Message-IDs and addresses are under it.
    pub reply_domain: &'a str,
}

impl Export<'_> {
    fn staff(&self) -> bool {
        self.reader.is_none_or(|p| p.role == Role::Internal)
    }

    fn shows(&self, m: &Message) -> bool {
        let role = if self.staff() {
            Role::Internal
        } else {
            Role::Client
        };
        m.kind.visible_to(role) && (self.staff() || m.deleted_at.is_none())
    }

    /// Writes the whole export to `out`, then flushes it.
    pub async fn write<W: AsyncWrite + Unpin>(
        &self,
        format: Format,
        out: &mut W,
    ) -> Result<(), ExportError> {
        let people = self
            .store
            .conversation_people(&self.conversation.id)
            .await?;
        match format {
            Format::Mbox => self.mbox(&people, out).await?,
            Format::Json => self.json(&people, out).await?,
        }
        out.flush().await?;
        Ok(())
    }

    /// The next page of messages after `after` (moved past it), with their attachments; None
    /// when there are no more.
    async fn next_page(&self, after: &mut Option<i64>) -> Result<Option<Page>, ExportError> {
        let Some(from) = *after else {
            return Ok(None);
        };
        let id = &self.conversation.id;
        let messages = self.store.messages_after(id, from, PAGE).await?;
        let Some(last) = messages.last().map(|m| m.seq) else {
            return Ok(None);
        };
        let files = self.store.attachments_of_range(id, from, last).await?;
        *after = (messages.len() as i64 == PAGE).then_some(last);
        Ok(Some(Page { messages, files }))
    }

    async fn mbox<W: AsyncWrite + Unpin>(
        &self,
        people: &HashMap<String, Person>,
        out: &mut W,
    ) -> Result<(), ExportError> {
        // Composed messages answer the message before (and reference the first).
        let mut previous: Option<String> = None;
        let mut first: Option<String> = None;
        let mut after = Some(0);
        while let Some(page) = self.next_page(&mut after).await? {
            let mut chunk = Vec::new();
            for m in page.messages.iter().filter(|m| self.shows(m)) {
                let own = self.reader.is_some_and(|p| p.id == m.author_id);
                let raw = match (&m.inbound_id, self.staff() || own) {
                    (Some(inbound), true) => self.store.raw_email(inbound).await?,
                    _ => None,
                };
                let (bytes, message_id) = match raw {
                    Some(raw) => {
                        let id =
                            header_value(&raw, "message-id").unwrap_or_else(|| self.message_id(m));
                        (raw, id)
                    }
                    None => self.composed(m, people, &page.files, &previous, &first),
                };
                let sender = people
                    .get(&m.author_id)
                    .filter(|_| self.staff() || own)
                    .map_or("threadgate", |p| p.email.as_str());
                append_mbox(&mut chunk, sender, m.created_at, &bytes);
                first.get_or_insert_with(|| message_id.clone());
                previous = Some(message_id);
            }
            out.write_all(&chunk).await?;
        }
        Ok(())
    }

    fn message_id(&self, m: &Message) -> String {
        format!("<{}@{}>", m.id, self.reply_domain)
    }

    /// A message posted on the web or through the API (or another client's email, for a
    /// client) as an email: its author by name, an address under the reply domain (a client
    /// never sees anyone else's), the conversation's subject, threaded to the message before.
    fn composed(
        &self,
        m: &Message,
        people: &HashMap<String, Person>,
        files: &HashMap<String, Vec<Attachment>>,
        previous: &Option<String>,
        first: &Option<String>,
    ) -> (Vec<u8>, String) {
        let author = people.get(&m.author_id);
        let own = self.reader.is_some_and(|p| p.id == m.author_id);
        let name = author.map_or("", |p| p.name.as_str());
        let address = match author {
            Some(p) if self.staff() || own => p.email.clone(),
            _ => format!("{}@{}", m.author_id, self.reply_domain),
        };
        let message_id = self.message_id(m);
        let subject = match previous {
            Some(_) => format!("Re: {}", self.conversation.subject),
            None => self.conversation.subject.clone(),
        };
        let mut body = m.body_text.clone();
        let listed: Vec<String> = files
            .get(&m.id)
            .into_iter()
            .flatten()
            .map(|a| format!("  {} ({} bytes)", a.filename, a.size))
            .collect();
        if !listed.is_empty() {
            body.push_str("\n\nFiles:\n");
            body.push_str(&listed.join("\n"));
        }
        let mut headers = format!(
            "From: {}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: {message_id}\r\n",
            mailbox(name, &address),
            encode_word(&subject),
            rfc2822(m.created_at),
        );
        if let Some(previous) = previous {
            let references = match first {
                Some(first) if first != previous => format!("{first} {previous}"),
                _ => previous.clone(),
            };
            headers.push_str(&format!(
                "In-Reply-To: {previous}\r\nReferences: {references}\r\n"
            ));
        }
        if m.kind == crate::domain::MessageKind::Note {
            headers.push_str("X-Threadgate-Kind: note\r\n");
        }
        if m.deleted_at.is_some() {
            headers.push_str("X-Threadgate-Deleted: yes\r\n");
        }
        headers.push_str(
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n",
        );
        let encoded = base64_lines(body.as_bytes());
        let mut bytes = headers.into_bytes();
        bytes.extend_from_slice(encoded.as_bytes());
        (bytes, message_id)
    }

    async fn json<W: AsyncWrite + Unpin>(
        &self,
        people: &HashMap<String, Person>,
        out: &mut W,
    ) -> Result<(), ExportError> {
        let c = self.conversation;
        let head = json!({
            "id": c.id, "subject": c.subject, "status": c.status.as_str(),
            "type": c.kind.as_str(), "company_id": c.company_id,
            "created_at": rfc3339(c.created_at),
        });
        out.write_all(format!("{{\"conversation\":{head},\"messages\":[").as_bytes())
            .await?;
        let mut written = 0usize;
        let mut after = Some(0);
        while let Some(page) = self.next_page(&mut after).await? {
            let mut chunk = String::new();
            for m in page.messages.iter().filter(|m| self.shows(m)) {
                if written > 0 {
                    chunk.push(',');
                }
                written += 1;
                chunk.push_str(&self.message_json(m, people, &page.files).to_string());
            }
            out.write_all(chunk.as_bytes()).await?;
        }
        let events: Vec<Value> = self
            .store
            .conversation_events(&c.id)
            .await?
            .iter()
            .filter(|e| self.staff() || e.seen_by_clients())
            .map(|e| {
                json!({"kind": e.kind, "actor_id": e.actor_id, "data": e.data,
                       "created_at": rfc3339(e.created_at)})
            })
            .collect();
        out.write_all(format!("],\"events\":{}}}\n", Value::Array(events)).as_bytes())
            .await?;
        Ok(())
    }

    fn message_json(
        &self,
        m: &Message,
        people: &HashMap<String, Person>,
        files: &HashMap<String, Vec<Attachment>>,
    ) -> Value {
        json!({
            "id": m.id, "author_id": m.author_id,
            "author": people.get(&m.author_id).map(|p| p.name.as_str()),
            "kind": m.kind.as_str(), "source": m.source.as_str(),
            "created_at": rfc3339(m.created_at), "body_text": m.body_text,
            "body_html": m.body_html, "deleted": m.deleted_at.is_some(),
            "attachments": files.get(&m.id).into_iter().flatten().map(|a| json!({
                "id": a.id, "filename": a.filename, "content_type": a.content_type,
                "size": a.size, "omitted": a.omitted,
            })).collect::<Vec<_>>(),
        })
    }
}

/// One message in an mbox (RFC 4155): a `From ` line with the sender and the time in
/// asctime form, the message with LF line ends and every `>*From ` line escaped with one more
/// `>` (mboxrd, so readers can undo it), and a blank line.
fn append_mbox(out: &mut Vec<u8>, sender: &str, at: Millis, message: &[u8]) {
    let when = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at).unwrap_or_default();
    let sender: String = sender
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect();
    out.extend_from_slice(
        format!("From {sender} {}\n", when.format("%a %b %e %H:%M:%S %Y")).as_bytes(),
    );
    // Every line ends with LF, the last one too; a final line end is not an empty line.
    let body = message.strip_suffix(b"\n").unwrap_or(message);
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let quoted = line.iter().take_while(|&&b| b == b'>').count();
        if line[quoted..].starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// A header's value from raw bytes (the first occurrence, unfolded).
fn header_value(raw: &[u8], name: &str) -> Option<String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..head_end]).replace("\r\n", "\n");
    let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
    unfolded.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

/// `"Name" <address>`, the name as an RFC 2047 word when it is not plain ASCII.
fn mailbox(name: &str, address: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    if clean.is_empty() {
        return format!("<{address}>");
    }
    if clean.is_ascii() {
        let quoted = clean.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\" <{address}>")
    } else {
        format!("{} <{address}>", encode_word(&clean))
    }
}

/// RFC 2047 base64 encoded-word when needed; control characters dropped.
fn encode_word(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.is_ascii() {
        return clean;
    }
    use base64::Engine;
    format!(
        "=?utf-8?b?{}?=",
        base64::engine::general_purpose::STANDARD.encode(clean.as_bytes())
    )
}

fn rfc2822(at: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at)
        .unwrap_or_default()
        .to_rfc2822()
}

/// Base64 in lines of 76 characters (RFC 2045 §6.8).
fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 * 2 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        // Base64 is ASCII: every byte is a character.
        out.extend(chunk.iter().map(|&b| char::from(b)));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_lines_are_escaped_and_line_ends_made_lf() {
        let mut out = Vec::new();
        append_mbox(
            &mut out,
            "carl@client.test",
            1_793_711_100_000,
            b"Subject: x\r\n\r\nFrom here on\r\n>From quoted\r\nFromage\r\n",
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "From carl@client.test Tue Nov  3 13:05:00 2026\nSubject: x\n\n>From here on\n>>From quoted\nFromage\n\n"
        );
    }

    #[test]
    fn headers_are_read_unfolded_and_names_encoded() {
        let raw = b"Subject: hi\r\nMessage-ID:\r\n <a@b>\r\n\r\nMessage-ID: <not@this>";
        assert_eq!(header_value(raw, "message-id").as_deref(), Some("<a@b>"));
        assert_eq!(mailbox("Carl \"C\"", "c@x"), "\"Carl \\\"C\\\"\" <c@x>");
        assert!(mailbox("Zoë", "z@x").starts_with("=?utf-8?b?"));
    }
}
