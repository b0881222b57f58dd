//! Turns planned emails into complete RFC 5322 messages. Pure: no I/O.
//!
//! Every recipient gets an individual email (no shared To/Cc, so participants never see each
//! other's addresses), with their own reply address in Reply-To, a Message-ID that names the
//! conversation and recipient and carries a keyed MAC (so it cannot be forged to thread into
//! another conversation), In-Reply-To/References chaining to the previous email of the same
//! conversation sent to that person, Thread-Topic/Thread-Index for Outlook, and RFC 8058
//! one-click unsubscribe. Text and HTML, in the person's language (English or French).

use super::compose_text::{Strings, strings};
use crate::domain::envelope::{ReplyKind, bounce_address, unsubscribe_address};
use crate::domain::sending::{LiveDomains, SendingDomain};
use crate::domain::{
    Id, IdKind, LinkSigner, Locale, MAGIC_LINK_LIFETIME_MS, MessageIds, Millis, TimeZone,
    UNSUBSCRIBE_LINK_LIFETIME_MS,
};
use crate::store::{DueParticipant, NewOutboxEmail, PendingFile, PendingMessage, StoredEmail};
use askama::Template;
use base64::Engine;
use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// How many of the latest Message-IDs the References header keeps after the first one (RFC
/// 5322 §3.6.4 allows trimming; the first is kept, as it names the thread's root).
const MAX_REFERENCES: usize = 10;

/// The loop-detection header on everything we send: mail carrying it that comes back to us is
/// dropped (see `inbound::classify`).
pub const LOOP_HEADER: &str = "X-Threadgate-Loop";

/// The bytes a notification carries, by attachment id: the planner loads the files that fit
/// under `--notify-attachments-max`; every other kept file of the email is a download link.
pub type Enclosed = HashMap<String, Arc<Vec<u8>>>;

#[derive(Clone)]
pub struct Composer {
    /// Each email goes out from its conversation's sending domain: its From, display name,
    /// reply domain (Reply-To, bounces, unsubscribe, Message-ID).
    domains: LiveDomains,
    public_url: String,
    message_ids: MessageIds,
    links: LinkSigner,
    /// The time zone of recipients who have not chosen one (`--default-time-zone`).
    default_zone: TimeZone,
}

/// The subject a participant's thread has: the one of their first email, or the
/// conversation's now if this is the first.
pub fn thread_subject(due: &DueParticipant) -> &str {
    due.thread_subject.as_deref().unwrap_or(&due.subject)
}

/// The subject of every notification of a conversation: its subject as a reply, the same in
/// every email, so that clients threading by subject (Gmail: the subject without `Re:`, plus a
/// referenced Message-ID) keep one thread. What happened goes in the body.
pub fn reply_subject(subject: &str) -> String {
    let lower = subject.trim_start().to_ascii_lowercase();
    match lower.starts_with("re:") {
        true => subject.trim_start().to_string(),
        false => format!("Re: {subject}"),
    }
}

/// The first line of a notification's body: "2 new messages in Project kickoff" /
/// "2 nouveaux messages dans Project kickoff".
pub fn notification_headline(locale: Locale, count: usize, subject: &str) -> String {
    match (locale, count) {
        (Locale::En, 1) => format!("New message in {subject}"),
        (Locale::En, n) => format!("{n} new messages in {subject}"),
        (Locale::Fr, 1) => format!("Nouveau message dans {subject}"),
        (Locale::Fr, n) => format!("{n} nouveaux messages dans {subject}"),
    }
}

/// "Conversation Kickoff was assigned to you by Bruno Agent." in the assignee's language;
/// `by` is None when an admin or the API assigned it.
pub fn assignment_line(locale: Locale, subject: &str, by: Option<&str>) -> String {
    match (locale, by) {
        (Locale::En, Some(by)) => format!("Conversation {subject} was assigned to you by {by}."),
        (Locale::En, None) => {
            format!("Conversation {subject} was assigned to you by an administrator.")
        }
        (Locale::Fr, Some(by)) => {
            format!("La conversation {subject} vous a été assignée par {by}.")
        }
        (Locale::Fr, None) => {
            format!("La conversation {subject} vous a été assignée par un administrateur.")
        }
    }
}

/// "invoice.pdf (240 KB)" in the recipient's language.
fn file_label(s: &Strings, file: &PendingFile) -> String {
    let size = file.size.max(0);
    let size = match size {
        0..1024 => format!("{size} {}", s.bytes),
        1024..1_048_576 => format!("{} {}", (size + 512) / 1024, s.kb),
        _ => format!("{:.1} {}", size as f64 / 1_048_576.0, s.mb),
    };
    format!("{} ({size})", file.filename)
}

/// The References of an email answering `earlier` (ours): the first, then the last
/// [`MAX_REFERENCES`], ending with `message_id`.
fn bounded_references(earlier: &[String], message_id: &str) -> String {
    let mut all: Vec<&str> = earlier.iter().map(String::as_str).collect();
    all.push(message_id);
    if all.len() > MAX_REFERENCES + 1 {
        let tail = all.split_off(all.len() - MAX_REFERENCES);
        all.truncate(1);
        all.extend(tail);
    }
    all.join(" ")
}

struct MessageView<'a> {
    author: &'a str,
    time: String,
    body: std::borrow::Cow<'a, str>,
    /// "invoice.pdf (240 KB)": the files this email carries, and those not kept, when the
    /// message has text besides (a message that is only files says so in `body`).
    files: Vec<String>,
    /// Files too big for the email (label, sign-in link that downloads it).
    links: Vec<(String, String)>,
    /// Inline images this email carries (`cid:` references for the HTML part).
    images: Vec<String>,
    /// An internal note (only internal people ever get these): labelled, so an agent does
    /// not quote it in a reply that a client will read.
    note: bool,
}

#[derive(Template)]
#[template(path = "email/notification.txt")]
struct NotificationText<'a> {
    s: &'a Strings,
    marker: &'a str,
    /// What a reply will be, when the email carries notes (only staff get those).
    reply_kind_hint: Option<&'a str>,
    /// "Conversation X was assigned to you by Y", once, in the first email after it.
    assigned: Option<&'a str>,
    /// "2 new messages in …": the subject stays the same in every email of the thread.
    headline: &'a str,
    subject: &'a str,
    omitted: usize,
    messages: &'a [MessageView<'a>],
    mute_url: &'a str,
    manage_url: &'a str,
    open_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/notification.html")]
struct NotificationHtml<'a> {
    s: &'a Strings,
    lang: &'a str,
    marker: &'a str,
    reply_kind_hint: Option<&'a str>,
    assigned: Option<&'a str>,
    headline: &'a str,
    subject: &'a str,
    omitted: usize,
    messages: &'a [MessageView<'a>],
    mute_url: &'a str,
    manage_url: &'a str,
    open_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/commands.txt")]
struct CommandsText<'a> {
    s: &'a Strings,
    subject: &'a str,
    lines: &'a [(String, &'a str)],
}

#[derive(Template)]
#[template(path = "email/commands.html")]
struct CommandsHtml<'a> {
    s: &'a Strings,
    lang: &'a str,
    subject: &'a str,
    lines: &'a [(String, &'a str)],
}

#[derive(Template)]
#[template(path = "email/waiting.txt")]
struct WaitingText<'a> {
    s: &'a Strings,
    received: &'a str,
}

#[derive(Template)]
#[template(path = "email/waiting.html")]
struct WaitingHtml<'a> {
    s: &'a Strings,
    lang: &'a str,
    received: &'a str,
}

#[derive(Template)]
#[template(path = "email/address.txt")]
struct AddressText<'a> {
    s: &'a Strings,
    name: &'a str,
    address: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/address.html")]
struct AddressHtml<'a> {
    s: &'a Strings,
    lang: &'a str,
    name: &'a str,
    address: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/code.txt")]
struct CodeText<'a> {
    s: &'a Strings,
    code: &'a str,
}

#[derive(Template)]
#[template(path = "email/code.html")]
struct CodeHtml<'a> {
    s: &'a Strings,
    lang: &'a str,
    code: &'a str,
}

#[derive(Template)]
#[template(path = "email/confirm.txt")]
struct ConfirmText<'a> {
    s: &'a Strings,
    inbox: &'a str,
    received: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/confirm.html")]
struct ConfirmHtml<'a> {
    s: &'a Strings,
    lang: &'a str,
    inbox: &'a str,
    received: &'a str,
    link: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("template: {0}")]
    Template(#[from] askama::Error),
    #[error("building the email: {0}")]
    Build(String),
    /// Stored text that cannot stand in a header (a control character: CR or LF would end the
    /// header, RFC 5322 §2.2). Input checks keep such text out; this is the last line.
    #[error("the {what} cannot be written in a header: {reason}")]
    Header { what: &'static str, reason: String },
}

/// Text from the store, checked before it goes into a header: no control character (a tab
/// only where `allow_tab`), whatever the field. Header values are then encoded by lettre
/// (RFC 2047), which never fails on checked text.
fn header_text<'a>(
    what: &'static str,
    value: &'a str,
    allow_tab: bool,
) -> Result<&'a str, ComposeError> {
    match value
        .chars()
        .find(|c| crate::domain::text::is_control(*c) && !(allow_tab && *c == '\t'))
    {
        Some(c) => Err(ComposeError::Header {
            what,
            reason: format!("control character U+{:04X}", c as u32),
        }),
        None => Ok(value),
    }
}

/// A mailbox (`"Name" <address>`) from stored text: the name checked (lettre's display of a
/// mailbox panics on CR or LF), the address parsed.
fn mailbox(what: &'static str, name: &str, address: &str) -> Result<Mailbox, ComposeError> {
    let name = header_text(what, name.trim(), false)?;
    Ok(Mailbox::new(
        (!name.is_empty()).then(|| name.to_string()),
        address.parse().map_err(build_err)?,
    ))
}

fn build_err(e: impl std::fmt::Display) -> ComposeError {
    ComposeError::Build(e.to_string())
}

fn raw_header(email: &mut lettre::Message, name: &'static str, value: String) {
    email.headers_mut().insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str(name),
        value,
    ));
}

/// Whom an email is for, as far as its words and times go.
struct Reader<'a> {
    s: &'a Strings,
    zone: TimeZone,
    locale: Locale,
}

impl Composer {
    pub fn new(
        domains: LiveDomains,
        public_url: String,
        message_ids: MessageIds,
        links: LinkSigner,
    ) -> Composer {
        Composer {
            domains,
            public_url,
            message_ids,
            links,
            default_zone: TimeZone::UTC,
        }
    }

    /// Times in emails to people without a time zone of their own are shown in `zone`.
    pub fn with_default_time_zone(mut self, zone: TimeZone) -> Composer {
        self.default_zone = zone;
        self
    }

    /// Where links in our emails point (the web view).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The time zone of recipients without one of their own.
    pub(super) fn default_zone(&self) -> TimeZone {
        self.default_zone
    }

    /// The reply domain of the sending domain called `name` (None: the default's).
    pub fn reply_domain_of(&self, name: Option<&str>) -> String {
        self.domain(name).reply_domain
    }

    /// The sending domain called `name` (None, or one no longer known: the default).
    pub(super) fn domain(&self, name: Option<&str>) -> SendingDomain {
        self.domains.now().of(name).clone()
    }

    /// `"<who> via <display name>" <notifications@domain>`.
    fn sender(&self, domain: &SendingDomain, who: &str) -> Result<Mailbox, ComposeError> {
        let display = format!("{who} via {}", domain.display_name);
        mailbox("sender name", &display, &domain.from.to_string())
    }

    /// Headers on everything we send.
    fn machine_headers(&self, email: &mut lettre::Message, domain: &SendingDomain) {
        // RFC 3834 §5: machine-generated; stops well-behaved auto-responders from answering.
        raw_header(email, "Auto-Submitted", "auto-generated".into());
        // Exchange/Outlook: suppress out-of-office and other automatic responses.
        raw_header(email, "X-Auto-Response-Suppress", "All".into());
        raw_header(email, LOOP_HEADER, domain.reply_domain.clone());
    }

    /// One message as the email shows it: its text, the files it carries (their parts added
    /// to `carried`), links for those that do not fit, and the files not kept named.
    fn message_view<'m>(
        &self,
        reader: &Reader,
        m: &'m PendingMessage,
        enclosed: &Enclosed,
        open_url: &str,
        reply_domain: &str,
        carried: &mut Carried,
    ) -> Result<MessageView<'m>, ComposeError> {
        let s = reader.s;
        let mut files = Vec::new();
        let mut links = Vec::new();
        let mut images = Vec::new();
        for file in &m.files {
            let label = file_label(s, file);
            if let Some(why) = &file.omitted {
                tracing::debug!(file = %file.id, %why, "named only: not kept");
                files.push(format!("{label}, {}", s.not_kept));
            } else if let Some(bytes) = enclosed.get(&file.id) {
                match file.inline {
                    true => images.push(carried.image(file, bytes, reply_domain)?),
                    false => {
                        carried.file(file, bytes)?;
                        files.push(label);
                    }
                }
            } else {
                links.push((label, format!("{open_url}?file={}", file.id)));
            }
        }
        // A reply that quoted its author's sign-in link must not hand it to others.
        let body = crate::domain::redact_sign_in_links(&m.body_text);
        // The files a message that is only files is said to have sent: the attached ones, or
        // its images when it has nothing else.
        let attached = m.files.iter().any(|f| !f.inline);
        let (body, files) = match (body.trim().is_empty(), m.files.is_empty()) {
            // Never an empty body: a message that is only files says what they are.
            (true, false) => {
                let names: Vec<String> = m
                    .files
                    .iter()
                    .filter(|f| !attached || !f.inline)
                    .map(|f| file_label(s, f))
                    .collect();
                let sent = format!("{} {} {}", m.author_name, s.sent, names.join(", "));
                (std::borrow::Cow::Owned(sent), Vec::new())
            }
            _ => (body, files),
        };
        Ok(MessageView {
            author: &m.author_name,
            time: reader.zone.date_time(m.created_at, reader.locale),
            body,
            files,
            links,
            images,
            note: m.kind == crate::domain::MessageKind::Note,
        })
    }

    /// Composes the email for `due` about `messages` (already filtered to what they may see,
    /// oldest first; `omitted` older unread ones are not shown). The files in `enclosed` travel
    /// as MIME parts; the others are links.
    pub fn notification(
        &self,
        due: &DueParticipant,
        messages: &[&PendingMessage],
        omitted: usize,
        enclosed: &Enclosed,
        now: Millis,
    ) -> Result<NewOutboxEmail, ComposeError> {
        let s = strings(due.locale);
        let domain = self.domain(due.domain.as_deref());
        let reply_domain = domain.reply_domain.as_str();
        // The sign-in link for this recipient and conversation (web view); it expires sooner
        // than the unsubscribe link because it grants reading and writing. File links are the
        // same link, opening the file once signed in.
        let magic = self.links.magic_token(
            &due.conversation_id,
            &due.person.id,
            now + MAGIC_LINK_LIFETIME_MS,
        );
        let open_url = format!("{}/m/{magic}", self.public_url);
        let mut carried = Carried::default();
        let reader = Reader {
            s,
            zone: due.time_zone.unwrap_or(self.default_zone),
            locale: due.locale,
        };
        // "Open the conversation" lands on the first message they have not read (the page
        // marks it `id="unread"`); the sign-in button's redirect says it again (a fragment
        // never reaches the server: `web::view::login`).
        let conversation_url = format!("{open_url}#unread");
        let views: Vec<MessageView> = messages
            .iter()
            .map(|m| self.message_view(&reader, m, enclosed, &open_url, reply_domain, &mut carried))
            .collect::<Result<_, _>>()?;
        // A reply to an email of notes is a note: its Reply-To and Message-ID say so (under the
        // token and the MAC), whichever one the reply comes back by. An email mixing notes and
        // messages says that its reply reaches the client.
        let notes = messages
            .iter()
            .filter(|m| m.kind == crate::domain::MessageKind::Note)
            .count();
        let (kind, reply_kind_hint) = match notes {
            0 => (ReplyKind::Message, None),
            n if n == messages.len() => (ReplyKind::Note, Some(s.reply_is_note)),
            _ => (ReplyKind::Message, Some(s.reply_is_message)),
        };
        let token = self.links.unsubscribe_token(
            &due.conversation_id,
            &due.person.id,
            now + UNSUBSCRIBE_LINK_LIFETIME_MS,
        );
        let mute_url = format!("{}/unsubscribe/{token}", self.public_url);
        let manage_url = format!("{}/settings", self.public_url);
        let headline = notification_headline(due.locale, messages.len() + omitted, &due.subject);
        let assigned = due
            .assigned_by
            .as_ref()
            .map(|(_, name)| assignment_line(due.locale, &due.subject, name.as_deref()));
        let text = NotificationText {
            s,
            marker: s.marker,
            reply_kind_hint,
            assigned: assigned.as_deref(),
            headline: &headline,
            subject: &due.subject,
            omitted,
            messages: &views,
            mute_url: &mute_url,
            manage_url: &manage_url,
            open_url: &conversation_url,
        }
        .render()?;
        let html = NotificationHtml {
            s,
            lang: due.locale.as_str(),
            marker: s.marker,
            reply_kind_hint,
            assigned: assigned.as_deref(),
            headline: &headline,
            subject: &due.subject,
            omitted,
            messages: &views,
            mute_url: &mute_url,
            manage_url: &manage_url,
            open_url: &conversation_url,
        }
        .render()?;

        let n = due.emails_sent + 1;
        let message_id = self.message_ids.generate_for(
            &due.conversation_id,
            &due.person.id,
            n,
            kind,
            reply_domain,
        );
        // The latest author, or whoever assigned the conversation in an email that only says so.
        let author = messages
            .last()
            .map(|m| m.author_name.as_str())
            .or_else(|| {
                due.assigned_by
                    .as_ref()
                    .and_then(|(_, name)| name.as_deref())
            })
            .unwrap_or("threadgate");
        let to = mailbox("recipient's name", &due.person.name, &due.person.email)?;
        let subject = header_text("subject", thread_subject(due), true)?;
        let reply_address = match kind {
            ReplyKind::Message => due.reply_token.address(reply_domain),
            ReplyKind::Note => due.reply_token.note_address(reply_domain),
        };
        let reply_to: Mailbox = reply_address.parse().map_err(build_err)?;

        let mut builder = lettre::Message::builder()
            .from(self.sender(&domain, author)?)
            .to(to)
            .reply_to(reply_to)
            .subject(reply_subject(subject))
            .message_id(Some(message_id.clone()))
            .date(UNIX_EPOCH + Duration::from_millis(now.max(0) as u64));
        if let Some(previous) = &due.last_email_id {
            builder = builder.in_reply_to(previous.clone());
        }
        if !due.references.is_empty() {
            builder = builder.references(due.references.join(" "));
        }
        let mut email = builder
            .multipart(carried.around(MultiPart::alternative_plain_html(text, html)))
            .map_err(build_err)?;
        self.machine_headers(&mut email, &domain);
        raw_header(&mut email, "Thread-Topic", subject.to_string());
        raw_header(
            &mut email,
            "Thread-Index",
            base64::engine::general_purpose::STANDARD.encode(self.message_ids.thread_index(
                &due.conversation_id,
                due.conversation_created_at,
                n,
            )),
        );
        // RFC 2369 + RFC 8058: one click mutes this conversation for this person, no login.
        raw_header(
            &mut email,
            "List-Unsubscribe",
            format!(
                "<{mute_url}>, <mailto:{}?subject=unsubscribe%20{token}>",
                unsubscribe_address(reply_domain)
            ),
        );
        raw_header(
            &mut email,
            "List-Unsubscribe-Post",
            "List-Unsubscribe=One-Click".into(),
        );

        let references = bounded_references(&due.references, &message_id);
        let id = Id::generate(IdKind::Outbox);
        Ok(NewOutboxEmail {
            envelope_from: bounce_address(&id, reply_domain),
            id,
            recipient: due.person.email.clone(),
            message_id,
            references,
            data: StoredEmail::pack(email.formatted()),
        })
    }

    /// A verification code email.
    pub fn verification_code(
        &self,
        to_name: &str,
        to_email: &str,
        locale: Locale,
        code: &str,
        now: Millis,
    ) -> Result<NewOutboxEmail, ComposeError> {
        let s = strings(locale);
        let text = CodeText { s, code }.render()?;
        let html = CodeHtml {
            s,
            lang: locale.as_str(),
            code,
        }
        .render()?;
        let subject = match locale {
            Locale::En => format!("Your code: {code}"),
            Locale::Fr => format!("Votre code : {code}"),
        };
        self.machine_email(
            MachineMail::new(to_name, to_email, subject, text, html),
            &self.domain(None),
            now,
        )
    }

    /// The email asking a stranger who wrote to `inbox` (of sending domain `domain`) to
    /// confirm their address (stranger policy `verify`); following the link delivers the held
    /// email. It quotes nothing the sender wrote — the From may be forged, and our signed email
    /// must not carry a forger's text (a phishing subject) to its owner — only when it came.
    pub fn inbox_confirmation(
        &self,
        domain: &str,
        to_email: &str,
        locale: Locale,
        inbox: &str,
        token: &str,
        now: Millis,
    ) -> Result<NewOutboxEmail, ComposeError> {
        let s = strings(locale);
        let link = format!("{}/confirm/{token}", self.public_url);
        let received = self.default_zone.date_time(now, locale);
        let text = ConfirmText {
            s,
            inbox,
            received: &received,
            link: &link,
        }
        .render()?;
        let html = ConfirmHtml {
            s,
            lang: locale.as_str(),
            inbox,
            received: &received,
            link: &link,
        }
        .render()?;
        let subject = s.confirm_subject.to_string();
        let mail = MachineMail::new("", to_email, subject, text, html);
        self.machine_email(mail, &self.domain(Some(domain)), now)
    }

    /// The one answer to an unknown sender's reply (held for staff): it waits for the team.
    /// Its Message-ID starts with [`WAITING_ID_PREFIX`] so that they are counted (one a day
    /// per address at most). Like the confirmation, it quotes nothing the sender wrote.
    pub fn waiting_for_team(
        &self,
        domain: Option<&str>,
        to_email: &str,
        locale: Locale,
        now: Millis,
    ) -> Result<NewOutboxEmail, ComposeError> {
        let s = strings(locale);
        let received = self.default_zone.date_time(now, locale);
        let text = WaitingText {
            s,
            received: &received,
        }
        .render()?;
        let html = WaitingHtml {
            s,
            lang: locale.as_str(),
            received: &received,
        }
        .render()?;
        let mail = MachineMail::new("", to_email, s.waiting_subject.to_string(), text, html);
        self.machine_email(
            MachineMail {
                id_prefix: WAITING_ID_PREFIX,
                ..mail
            },
            &self.domain(domain),
            now,
        )
    }

    /// The email asking the owner of a person's new address (`to_email`, added to `name`'s
    /// account) to confirm it through `token`'s link.
    pub fn address_confirmation(
        &self,
        name: &str,
        to_email: &str,
        locale: Locale,
        token: &str,
        now: Millis,
    ) -> Result<NewOutboxEmail, ComposeError> {
        let s = strings(locale);
        let link = format!("{}/addresses/confirm/{token}", self.public_url);
        let text = AddressText {
            s,
            name,
            address: to_email,
            link: &link,
        }
        .render()?;
        let html = AddressHtml {
            s,
            lang: locale.as_str(),
            name,
            address: to_email,
            link: &link,
        }
        .render()?;
        let subject = s.address_subject.to_string();
        let mail = MachineMail::new(name, to_email, subject, text, html);
        self.machine_email(mail, &self.domain(None), now)
    }

    /// The short answer to a staff reply whose command lines (`lines`: each with why) were
    /// not understood, in conversation `subject`. Its Message-ID starts with
    /// [`COMMANDS_ID_PREFIX`] so that they are counted (one an hour at most).
    #[allow(clippy::too_many_arguments)]
    pub fn commands_not_understood(
        &self,
        domain: Option<&str>,
        to_name: &str,
        to_email: &str,
        locale: Locale,
        subject: &str,
        lines: &[(String, &str)],
        now: Millis,
    ) -> Result<NewOutboxEmail, ComposeError> {
        let s = strings(locale);
        let subject: String = subject.chars().take(200).collect();
        let text = CommandsText {
            s,
            subject: &subject,
            lines,
        }
        .render()?;
        let html = CommandsHtml {
            s,
            lang: locale.as_str(),
            subject: &subject,
            lines,
        }
        .render()?;
        let subject = s.commands_subject.to_string();
        let mail = MachineMail::new(to_name, to_email, subject, text, html);
        self.machine_email(
            MachineMail {
                id_prefix: COMMANDS_ID_PREFIX,
                ..mail
            },
            &self.domain(domain),
            now,
        )
    }

    /// A one-off email from us (no conversation): verification codes, confirmations, the
    /// answer to commands not understood.
    pub(super) fn machine_email(
        &self,
        mail: MachineMail,
        domain: &SendingDomain,
        now: Millis,
    ) -> Result<NewOutboxEmail, ComposeError> {
        let MachineMail {
            to_name,
            to_email,
            subject,
            text,
            html,
            id_prefix,
        } = mail;
        let id = Id::generate(IdKind::Outbox);
        let message_id = format!("<{id_prefix}{id}@{}>", domain.reply_domain);
        let mut email = lettre::Message::builder()
            .from(mailbox(
                "sender name",
                &domain.display_name,
                &domain.from.to_string(),
            )?)
            .to(mailbox("recipient's name", to_name, to_email)?)
            .subject(header_text("subject", &subject, true)?)
            .message_id(Some(message_id.clone()))
            .date(UNIX_EPOCH + Duration::from_millis(now.max(0) as u64))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(build_err)?;
        self.machine_headers(&mut email, domain);
        Ok(NewOutboxEmail {
            envelope_from: bounce_address(&id, &domain.reply_domain),
            id,
            recipient: to_email.to_string(),
            message_id,
            references: String::new(),
            data: StoredEmail::pack(email.formatted()),
        })
    }
}

/// The Message-IDs of answers to commands not understood start with this (after `<`): the
/// store counts them to send one an hour at most.
pub const COMMANDS_ID_PREFIX: &str = "help-";

/// The Message-IDs of "your message is waiting for the team" answers start with this.
pub const WAITING_ID_PREFIX: &str = "wait-";

/// A one-off email's parts.
pub(super) struct MachineMail<'a> {
    to_name: &'a str,
    to_email: &'a str,
    subject: String,
    text: String,
    html: String,
    /// Before the outbox id in the Message-ID.
    id_prefix: &'static str,
}

impl<'a> MachineMail<'a> {
    pub(super) fn new(
        to_name: &'a str,
        to_email: &'a str,
        subject: String,
        text: String,
        html: String,
    ) -> MachineMail<'a> {
        MachineMail {
            to_name,
            to_email,
            subject,
            text,
            html,
            id_prefix: "",
        }
    }
}

/// The MIME parts a notification carries besides its text: files as attachments, inline images
/// in a multipart/related beside the HTML that shows them (RFC 2387, `cid:` URLs RFC 2392).
#[derive(Default)]
struct Carried {
    files: Vec<lettre::message::SinglePart>,
    images: Vec<lettre::message::SinglePart>,
}

/// A stored content type as a MIME header, or octet-stream if it does not parse.
fn content_type(file: &PendingFile) -> Result<ContentType, ComposeError> {
    ContentType::parse(&file.content_type)
        .or_else(|_| ContentType::parse("application/octet-stream"))
        .map_err(build_err)
}

impl Carried {
    fn file(&mut self, file: &PendingFile, bytes: &[u8]) -> Result<(), ComposeError> {
        let part = Attachment::new(file.filename.clone()).body(bytes.to_vec(), content_type(file)?);
        self.files.push(part);
        Ok(())
    }

    /// Adds an inline image; returns its Content-ID. Ours, not the sender's: theirs could
    /// clash with another message's in the same email.
    fn image(
        &mut self,
        file: &PendingFile,
        bytes: &[u8],
        domain: &str,
    ) -> Result<String, ComposeError> {
        let cid = format!("{}@{domain}", file.id);
        self.images.push(
            Attachment::new_inline_with_name(cid.clone(), file.filename.clone())
                .body(bytes.to_vec(), content_type(file)?),
        );
        Ok(cid)
    }

    /// The email's body: `alternative` alone, or wrapped in related (images) and mixed (files).
    fn around(self, alternative: MultiPart) -> MultiPart {
        let mut body = alternative;
        if !self.images.is_empty() {
            body = self
                .images
                .into_iter()
                .fold(MultiPart::related().multipart(body), MultiPart::singlepart);
        }
        if !self.files.is_empty() {
            body = self
                .files
                .into_iter()
                .fold(MultiPart::mixed().multipart(body), MultiPart::singlepart);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headlines_say_what_happened_in_the_person_s_language() {
        assert_eq!(
            notification_headline(Locale::En, 1, "Kickoff"),
            "New message in Kickoff"
        );
        assert_eq!(
            notification_headline(Locale::En, 2, "Kickoff"),
            "2 new messages in Kickoff"
        );
        assert_eq!(
            notification_headline(Locale::Fr, 2, "Kickoff"),
            "2 nouveaux messages dans Kickoff"
        );
    }

    #[test]
    fn every_email_of_a_conversation_has_its_subject_as_a_reply() {
        assert_eq!(reply_subject("Kickoff"), "Re: Kickoff");
        assert_eq!(reply_subject("Re: Kickoff"), "Re: Kickoff");
        assert_eq!(reply_subject("RE: Kickoff"), "RE: Kickoff");
    }

    #[test]
    fn files_are_named_with_a_readable_size_in_the_recipient_s_language() {
        let file = |size| PendingFile {
            id: "att_1".into(),
            filename: "invoice.pdf".into(),
            content_type: "application/pdf".into(),
            size,
            sha256: String::new(),
            inline: false,
            omitted: None,
        };
        assert_eq!(
            file_label(strings(Locale::En), &file(240 * 1024)),
            "invoice.pdf (240 KB)"
        );
        assert_eq!(
            file_label(strings(Locale::Fr), &file(240 * 1024)),
            "invoice.pdf (240 Ko)"
        );
        assert_eq!(
            file_label(strings(Locale::En), &file(900)),
            "invoice.pdf (900 bytes)"
        );
        assert_eq!(
            file_label(strings(Locale::En), &file(3_500_000)),
            "invoice.pdf (3.3 MB)"
        );
    }

    #[test]
    fn an_assignment_says_who_did_it_in_the_assignee_s_language() {
        assert_eq!(
            assignment_line(Locale::En, "Kickoff", Some("Agnes")),
            "Conversation Kickoff was assigned to you by Agnes."
        );
        assert_eq!(
            assignment_line(Locale::Fr, "Kickoff", None),
            "La conversation Kickoff vous a été assignée par un administrateur."
        );
    }

    #[test]
    fn references_keep_the_first_and_the_last_ten() {
        let earlier: Vec<String> = (0..15).map(|i| format!("<{i}@x>")).collect();
        let kept = bounded_references(&earlier, "<new@x>");
        let kept: Vec<&str> = kept.split(' ').collect();
        assert_eq!(kept.len(), 11);
        assert_eq!(kept[0], "<0@x>", "the root stays");
        assert_eq!(kept[1], "<6@x>");
        assert_eq!(kept[10], "<new@x>");
        assert_eq!(bounded_references(&[], "<a@x>"), "<a@x>");
    }
}
