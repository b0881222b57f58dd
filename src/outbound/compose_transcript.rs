//! The transcript email: a conversation's whole history as its recipient may see it (the
//! caller chose the messages), each with author and local time, files as links that need
//! signing in, and no sign-in link (a transcript may be forwarded).

use super::compose::{ComposeError, Composer, MachineMail};
use super::compose_text::{Strings, strings};
use crate::domain::{Locale, Millis, TimeZone};
use crate::store::NewOutboxEmail;
use askama::Template;

/// One message of a transcript, as its recipient may see it.
pub struct TranscriptMessage {
    pub author: String,
    pub at: Millis,
    pub text: String,
    pub note: bool,
    /// (file name, attachment id): linked, downloaded once signed in.
    pub files: Vec<(String, String)>,
}

/// A transcript to compose: for whom, of what.
pub struct Transcript<'a> {
    pub to_name: &'a str,
    pub to_email: &'a str,
    pub locale: Locale,
    /// None: the default time zone.
    pub zone: Option<TimeZone>,
    pub conversation_id: &'a str,
    pub subject: &'a str,
    /// The conversation's sending domain (None: the default).
    pub domain: Option<&'a str>,
    pub messages: &'a [TranscriptMessage],
}

pub(super) struct TranscriptView {
    author: String,
    time: String,
    text: String,
    note: bool,
    files: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "email/transcript.txt")]
struct TranscriptText<'a> {
    s: &'a Strings,
    subject: &'a str,
    messages: &'a [TranscriptView],
    open_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/transcript.html")]
struct TranscriptHtml<'a> {
    s: &'a Strings,
    lang: &'a str,
    subject: &'a str,
    messages: &'a [TranscriptView],
    open_url: &'a str,
}

impl Composer {
    /// A conversation's whole history as its recipient may see it (the caller chose the
    /// messages), each with author and local time, files as links that need signing in. No
    /// sign-in link: a transcript may be forwarded.
    pub fn transcript(&self, t: &Transcript, now: Millis) -> Result<NewOutboxEmail, ComposeError> {
        let s = strings(t.locale);
        let zone = t.zone.unwrap_or(self.default_zone());
        let messages: Vec<TranscriptView> = t
            .messages
            .iter()
            .map(|m| TranscriptView {
                author: m.author.clone(),
                time: zone.date_time(m.at, t.locale),
                text: crate::domain::redact_sign_in_links(&m.text).into_owned(),
                note: m.note,
                files: m
                    .files
                    .iter()
                    .map(|(name, id)| {
                        (
                            name.clone(),
                            format!("{}/attachments/{id}", self.public_url()),
                        )
                    })
                    .collect(),
            })
            .collect();
        let subject = format!("{} {}", s.transcript_subject, t.subject);
        let open_url = format!("{}/c/{}", self.public_url(), t.conversation_id);
        let text = TranscriptText {
            s,
            subject: &subject,
            messages: &messages,
            open_url: &open_url,
        }
        .render()?;
        let html = TranscriptHtml {
            s,
            lang: t.locale.as_str(),
            subject: &subject,
            messages: &messages,
            open_url: &open_url,
        }
        .render()?;
        let mail = MachineMail::new(t.to_name, t.to_email, subject, text, html);
        self.machine_email(mail, &self.domain(t.domain), now)
    }
}
