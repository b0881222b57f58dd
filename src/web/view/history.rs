//! A conversation's history as the web view shows it: messages (with their attachments) and
//! events in time order under day headings, rendered for one audience (staff, or one client)
//! in one language and time zone, and kept rendered until the conversation changes.
//!
//! Each entry is rendered on its own, so one rendering serves every reader's own view of it:
//! where the "New" divider goes (their first unread message) and how much older history is
//! folded behind "Show N earlier messages" are decided per request, by choosing pieces
//! ([`Rendered::layout`]). For gzip responses, the page most readers get — nothing new, the
//! latest messages — is deflated once as one stream and kept; another layout (a reader with
//! new messages, "show everything") is deflated per request, also as one stream: pieces
//! deflated apart could be chosen freely but compress several times worse (measured: 24.7 KB
//! against 3.4 KB for 43 messages), as each would repeat the markup the others share.
//!
//! Cache validity comes from the database, so it holds across processes sharing PostgreSQL:
//! `conversations.history_rev` moves in the same transaction as every change to what the
//! history shows (a message with its attachments, a deletion, a restore, an event), and the
//! names and roles of the people it mentions — and, for staff, everyone's read marks ("seen
//! by") — are fingerprinted on each request. Day headings
//! say "Today" and "Yesterday", so the key holds the reader's day too.
//! The pieces hold nothing tied to a session: the per-message buttons submit forms outside
//! them (the HTML `form` attribute), which carry the CSRF token.

use super::auth::Viewer;
use super::page::WebError;
use super::status::status_label;
use super::text::Text;
use crate::domain::{
    ConversationType, Locale, MessageKind, Millis, Role, Source, TimeZone, redact_sign_in_links,
    rfc3339,
};
use crate::store::{
    Attachment, Conversation, ConversationEvent, ConversationStatus, Message, Person, ReadMark,
};
use crate::web::AppState;
use crate::web::gzip::Deflated;
use askama::Template;
use chrono::NaiveDate;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// How many of the latest messages a page shows before folding the rest behind a link.
pub const SHOWN_MESSAGES: usize = 20;

pub struct AttachmentView {
    pub url: String,
    pub filename: String,
    pub size: String,
    pub omitted: Option<String>,
}

pub struct MessageView {
    pub id: String,
    pub author: String,
    pub author_is_staff: bool,
    /// The reader's own message (a client's): marked "You".
    pub own: bool,
    /// "14:05" in the reader's zone; the day is in the heading above.
    pub time: String,
    pub time_iso: String,
    /// The full date and time, for the tooltip.
    pub time_full: String,
    pub note: bool,
    /// Deleted: clients see only "message deleted"; staff see the content, marked, and may
    /// restore it.
    pub deleted: bool,
    pub show_content: bool,
    /// Sanitized when stored (ammonia, `inbound::html`); shown as is.
    pub html: Option<String>,
    pub text: String,
    /// A forwarded message in a text-only message: its "Forwarded message" line (in the
    /// sender's words) and the rest, shown folded. (HTML bodies carry their fold already.)
    pub forwarded: Option<(String, String)>,
    pub trimmed: Option<String>,
    pub attachments: Vec<AttachmentView>,
    pub original_url: Option<String>,
    pub by_email: bool,
    pub can_delete: bool,
    pub can_restore: bool,
    /// Its author was erased: "Message erased", for everyone.
    pub erased: bool,
    /// The status this message moved the conversation to ("Pending"), shown as a badge
    /// instead of a line of its own.
    pub effect: Option<&'static str>,
    /// Staff: who has seen it and when ("Seen by Carl Client 10:42"), or "Not seen yet".
    pub seen: Option<String>,
}

pub struct EventView {
    pub time: String,
    pub time_iso: String,
    pub time_full: String,
    pub text: String,
}

pub enum Item {
    Message(Box<MessageView>),
    Event(EventView),
}

/// Where the first forwarded message starts in `text` (its "Forwarded message" line).
fn forward_start(text: &str) -> Option<usize> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if crate::inbound::extract::is_forward_header(line.trim_end()) {
            return Some(at);
        }
        at += line.len();
    }
    None
}

/// A forwarded message (from its "Forwarded message" line on): that line without its dashes
/// or colon, in the sender's words, and what follows it.
fn forwarded_part(forward: &str) -> (&str, &str) {
    let (line, body) = forward.split_once('\n').unwrap_or((forward, ""));
    let label = line
        .trim()
        .trim_matches('-')
        .trim()
        .trim_end_matches(':')
        .trim();
    (label, body.trim_matches('\n'))
}

pub(super) fn human_size(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

fn type_label(t: &Text, kind: Option<&str>) -> &'static str {
    match kind.and_then(ConversationType::parse) {
        Some(ConversationType::Company) => t.type_company,
        Some(ConversationType::Confidential) => t.type_confidential,
        _ => t.type_private,
    }
}

fn event_text(t: &Text, e: &ConversationEvent, people: &HashMap<String, Person>) -> Option<String> {
    let name = |id: Option<&str>| {
        id.and_then(|id| people.get(id))
            .map_or(t.someone.to_string(), |p| p.name.clone())
    };
    // No person: the admin, on the admin pages or through the API (which only the admin
    // token opens).
    let actor = match e.actor_id.as_deref() {
        Some(id) => name(Some(id)),
        None => t.the_admin.to_string(),
    };
    let field = |k: &str| e.data.get(k).and_then(|v| v.as_str());
    let status = |k: &str| {
        field(k)
            .and_then(ConversationStatus::parse)
            .map(|s| status_label(t, s).to_lowercase())
            .unwrap_or_default()
    };
    Some(match e.kind.as_str() {
        "status_changed" => format!("{actor} {} {}", t.ev_status, status("to")),
        "assigned" => format!("{actor} {} {}", t.ev_assigned, name(field("assignee_id"))),
        "unassigned" => format!("{actor} {}", t.ev_unassigned),
        "participant_added" => format!("{actor} {} {}", t.ev_added, name(field("person_id"))),
        "participant_removed" => format!("{actor} {} {}", t.ev_removed, name(field("person_id"))),
        "message_deleted" => format!("{actor} {}", t.ev_deleted),
        "message_restored" => format!("{actor} {}", t.ev_restored),
        "archived" => format!("{actor} {}", t.ev_archived),
        "unarchived" => format!("{actor} {}", t.ev_unarchived),
        "snoozed" => format!("{actor} {}", t.ev_snoozed),
        "woke_up" => match e.actor_id {
            Some(_) => format!("{actor} {}", t.ev_woken),
            None => t.ev_woke.to_string(),
        },
        "auto_closed" => t.ev_auto_closed.to_string(),
        "subject_changed" => format!("{actor} {} {}", t.ev_subject, field("to").unwrap_or("")),
        "type_changed" => format!("{actor} {} {}", t.ev_type, type_label(t, field("to"))),
        _ => return None,
    })
}

/// A status change that a message made by being written (a client's reply reopens, an agent's
/// answer makes it pending): recorded with the message's id since it was tracked, and before
/// that at the very millisecond of a message by the same person. Shown on the message.
fn caused_by_message<'m>(
    e: &ConversationEvent,
    by_time: &HashMap<(Millis, &str), &'m Message>,
    by_id: &HashMap<&str, &'m Message>,
) -> Option<&'m Message> {
    if e.kind != "status_changed" {
        return None;
    }
    match e.data.get("message_id").and_then(|v| v.as_str()) {
        Some(id) => by_id.get(id).copied(),
        None => by_time
            .get(&(e.created_at, e.actor_id.as_deref()?))
            .copied(),
    }
}

struct Reading<'a> {
    t: &'static Text,
    locale: Locale,
    zone: TimeZone,
    now: Millis,
    staff: bool,
    /// The client reading it (their messages say "You"); None for staff.
    own: Option<&'a str>,
    /// Staff: everyone's read marks, for "seen by".
    marks: &'a [ReadMark],
}

/// "Seen by Carl Client 10:42, Dora Client" (a time when the log knows it), or "Not seen yet":
/// everyone but the author whose read mark passed the message.
fn seen_by(r: &Reading, m: &Message, people: &HashMap<String, Person>) -> String {
    let mut seen: Vec<(Option<Millis>, &str)> = r
        .marks
        .iter()
        .filter(|mark| mark.person_id != m.author_id)
        .filter_map(|mark| {
            let at = mark.seen(m.seq)?;
            let name = people
                .get(&mark.person_id)
                .map_or(r.t.someone, |p| p.name.as_str());
            Some((at, name))
        })
        .collect();
    // First seen first; those whose time is unknown last.
    seen.sort_by_key(|&(at, name)| (at.is_none(), at, name));
    let seen: Vec<String> = seen
        .into_iter()
        .map(|(at, name)| match at {
            Some(at) => format!("{name} {}", r.zone.short(at, r.now, r.locale)),
            None => name.to_string(),
        })
        .collect();
    match seen.is_empty() {
        true => r.t.not_seen.to_string(),
        false => format!("{} {}", r.t.seen_by, seen.join(", ")),
    }
}

fn message_view(
    r: &Reading,
    conversation_id: &str,
    m: &Message,
    attachments: &[Attachment],
    people: &HashMap<String, Person>,
    effect: Option<&'static str>,
) -> MessageView {
    let t = r.t;
    let staff = r.staff;
    let author = people.get(&m.author_id);
    let own = r.own == Some(m.author_id.as_str());
    let deleted = m.deleted_at.is_some();
    // What an erased person wrote is gone for everyone: there is nothing to show or restore.
    let erased = author.is_some_and(Person::is_erased);
    let show_content = !deleted || (staff && !erased);
    let (body, forwarded) = match forward_start(&m.body_text) {
        Some(at) if m.body_html.is_none() => (
            m.body_text[..at].trim_end(),
            Some(forwarded_part(&m.body_text[at..])),
        ),
        _ => (m.body_text.as_str(), None),
    };
    let attachments = if show_content {
        let referenced = |a: &Attachment| {
            m.body_html
                .as_deref()
                .is_some_and(|h| h.contains(&format!("/attachments/{}", a.id)))
        };
        attachments
            .iter()
            .filter(|a| !referenced(a))
            .map(|a| AttachmentView {
                url: format!("/attachments/{}", a.id),
                filename: a.filename.clone(),
                size: human_size(a.size),
                omitted: a
                    .omitted
                    .as_ref()
                    .map(|why| format!("{} ({why})", t.omitted_attachment)),
            })
            .collect()
    } else {
        Vec::new()
    };
    MessageView {
        id: m.id.clone(),
        author: match own {
            true => t.you.to_string(),
            false => author.map_or(t.someone.to_string(), |p| p.name.clone()),
        },
        author_is_staff: author.is_some_and(|p| p.role == Role::Internal),
        own,
        time: r.zone.clock(m.created_at),
        time_iso: rfc3339(m.created_at),
        time_full: r.zone.date_time(m.created_at, r.locale),
        note: m.kind == MessageKind::Note,
        deleted,
        show_content,
        html: show_content
            .then(|| {
                m.body_html
                    .as_deref()
                    .map(|h| redact_sign_in_links(h).into_owned())
            })
            .flatten(),
        forwarded: forwarded
            .map(|(label, rest)| (label.to_string(), redact_sign_in_links(rest).into_owned())),
        text: if show_content {
            redact_sign_in_links(body).into_owned()
        } else {
            String::new()
        },
        trimmed: show_content
            .then(|| m.trimmed_text.as_deref().filter(|t| !t.trim().is_empty()))
            .flatten()
            .map(|t| redact_sign_in_links(t).into_owned()),
        attachments,
        original_url: (staff && m.inbound_id.is_some())
            .then(|| format!("/c/{conversation_id}/messages/{}/original", m.id)),
        by_email: m.source == Source::Email,
        can_delete: staff && !deleted,
        can_restore: staff && deleted && !erased,
        erased,
        effect,
        seen: staff.then(|| seen_by(r, m, people)),
    }
}

/// One entry of the history, rendered on its own.
#[derive(Template)]
#[template(path = "web/history.html")]
struct EntryFragment<'a> {
    t: &'static Text,
    staff: bool,
    id: &'a str,
    item: &'a Item,
}

struct Entry {
    html: String,
    /// Index into [`Rendered::days`].
    day: usize,
    /// A message's sequence number (an event: None).
    seq: Option<i64>,
}

/// A history rendered for one reading (audience, language, zone, day), in pieces.
pub struct Rendered {
    entries: Vec<Entry>,
    /// Day headings, each shown before the first entry of its day on the page.
    days: Vec<String>,
    /// The "New" divider (`id="unread"`), before the reader's first unread message.
    divider: String,
    /// The usual page ([`Rendered::usual`]) deflated, when kept.
    usual: Option<Deflated>,
}

/// Which pieces one page shows: from `from` on, the divider before entry `unread`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub from: usize,
    pub unread: Option<usize>,
    /// Messages folded away before `from` ("Show N earlier messages").
    pub folded: usize,
}

impl Rendered {
    fn size(&self) -> usize {
        self.entries.iter().map(|e| e.html.len()).sum::<usize>()
            + self.days.iter().map(String::len).sum::<usize>()
            + self.divider.len()
            + self.usual.as_ref().map_or(0, Deflated::compressed_len)
    }

    /// What most readers get: nothing new to them, the latest messages.
    fn usual(&self) -> Layout {
        self.layout(None, false)
    }

    /// The pieces of `layout` deflated as one stream: the kept copy for the usual page, else
    /// now (fast). None when deflating fails: the page goes uncompressed.
    pub fn deflated(&self, layout: &Layout) -> Option<std::borrow::Cow<'_, Deflated>> {
        if *layout == self.usual()
            && let Some(kept) = &self.usual
        {
            return Some(std::borrow::Cow::Borrowed(kept));
        }
        Deflated::fast(self.pieces(layout).concat().as_bytes())
            .inspect_err(|err| tracing::warn!(error = %err, "deflating a history failed"))
            .ok()
            .map(std::borrow::Cow::Owned)
    }

    /// The page of a reader who has read up to message `read_up_to` (None: not a participant,
    /// nothing is new to them): the latest [`SHOWN_MESSAGES`] messages, or from their first
    /// unread message when it is older, or everything when `everything`.
    pub fn layout(&self, read_up_to: Option<i64>, everything: bool) -> Layout {
        let unread = read_up_to.and_then(|read| {
            self.entries
                .iter()
                .position(|e| e.seq.is_some_and(|seq| seq > read))
        });
        let messages: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].seq.is_some())
            .collect();
        let mut from = match messages.len().checked_sub(SHOWN_MESSAGES) {
            Some(first) if first > 0 && !everything => messages[first],
            _ => 0,
        };
        if let Some(unread) = unread {
            from = from.min(unread);
        }
        let folded = messages.iter().take_while(|&&i| i < from).count();
        if folded == 0 {
            from = 0;
        }
        Layout {
            from,
            unread,
            folded,
        }
    }

    /// The pieces of `layout` in page order: a day's heading before the first entry shown of
    /// that day, the divider before the first unread message.
    pub fn pieces(&self, layout: &Layout) -> Vec<&str> {
        let mut out = Vec::with_capacity(self.entries.len() + self.days.len() + 1);
        let mut day = None;
        for (i, entry) in self.entries.iter().enumerate().skip(layout.from) {
            if day != Some(entry.day) {
                day = Some(entry.day);
                out.push(self.days[entry.day].as_str());
            }
            if layout.unread == Some(i) {
                out.push(self.divider.as_str());
            }
            out.push(entry.html.as_str());
        }
        out
    }
}

/// Rendered histories, bounded in bytes; the least recently used go first.
#[derive(Clone)]
pub struct HistoryCache {
    state: Arc<Mutex<CacheState>>,
    budget: usize,
}

#[derive(Default)]
struct CacheState {
    entries: HashMap<Key, CacheEntry>,
    bytes: usize,
    clock: u64,
}

/// What a rendering depends on besides the conversation's revision and the people it names.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    conversation: String,
    staff: bool,
    /// The client whose messages say "You" (staff share one rendering).
    own: Option<String>,
    lang: &'static str,
    zone: TimeZone,
    /// The reader's today, for "Today" and "Yesterday".
    today: NaiveDate,
}

struct CacheEntry {
    rev: i64,
    people: u64,
    rendered: Arc<Rendered>,
    used: u64,
}

impl HistoryCache {
    /// `budget` bytes of rendered HTML and its deflated copy; 0 keeps nothing.
    pub fn new(budget: usize) -> HistoryCache {
        HistoryCache {
            state: Arc::default(),
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // A panic while holding the lock leaves the map consistent (every update is a single
        // insert or remove), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, key: &Key, rev: i64, people: u64) -> Option<Arc<Rendered>> {
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        let entry = state.entries.get_mut(key)?;
        if entry.rev != rev || entry.people != people {
            return None;
        }
        entry.used = now;
        Some(entry.rendered.clone())
    }

    fn put(&self, key: Key, rev: i64, people: u64, rendered: Arc<Rendered>) {
        let size = rendered.size();
        if size > self.budget {
            return;
        }
        let mut state = self.lock();
        if let Some(old) = state.entries.remove(&key) {
            state.bytes -= old.rendered.size();
        }
        while state.bytes + size > self.budget {
            let Some(oldest) = state
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = state.entries.remove(&oldest) {
                state.bytes -= gone.rendered.size();
            }
        }
        state.clock += 1;
        let used = state.clock;
        state.bytes += size;
        state.entries.insert(
            key,
            CacheEntry {
                rev,
                people,
                rendered,
                used,
            },
        );
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// What the history shows of people: their names and whether they are on the team.
fn people_fingerprint(people: &HashMap<String, Person>) -> u64 {
    let mut sorted: Vec<&Person> = people.values().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in sorted {
        (&p.id, &p.name, p.role.as_str()).hash(&mut h);
    }
    h.finish()
}

/// The conversation's history for this viewer: from the cache when nothing it shows changed
/// since it was rendered, else read, rendered, deflated and kept.
pub async fn history(
    state: &AppState,
    viewer: &Viewer,
    conversation: &Conversation,
    people: &HashMap<String, Person>,
) -> Result<Arc<Rendered>, WebError> {
    let t = viewer.text();
    let now = state.store.now();
    let staff = viewer.is_staff();
    let zone = viewer.zone();
    let key = Key {
        conversation: conversation.id.clone(),
        staff,
        own: (!staff)
            .then(|| viewer.actor_id().map(str::to_string))
            .flatten(),
        lang: t.lang,
        zone,
        today: zone.day(now),
    };
    // Staff see who has seen each message: the rendering follows everyone's read marks.
    let marks = match staff {
        true => state.store.read_marks(&conversation.id).await?,
        false => Vec::new(),
    };
    let fingerprint = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (people_fingerprint(people), &marks).hash(&mut h);
        h.finish()
    };
    let cache = &state.histories;
    if let Some(hit) = cache.get(&key, conversation.history_rev, fingerprint) {
        return Ok(hit);
    }
    let id = conversation.id.as_str();
    let (messages, attachments, events) = tokio::try_join!(
        state.store.messages(id),
        state.store.attachments_of_conversation(id),
        state.store.conversation_events(id),
    )?;
    let reading = Reading {
        t,
        locale: viewer.locale(),
        zone,
        now,
        staff,
        own: key.own.as_deref(),
        marks: &marks,
    };
    let items = items(&reading, id, &messages, &attachments, &events, people);
    let failed = |err: askama::Error| {
        tracing::error!(error = %err, "rendering a conversation history failed");
        WebError::unavailable()
    };
    let mut days: Vec<(NaiveDate, String)> = Vec::new();
    let mut entries = Vec::with_capacity(items.len());
    for (at, seq, item) in &items {
        let day = zone.day(*at);
        if days.last().is_none_or(|(d, _)| *d != day) {
            let heading = zone.day_heading(day, now, reading.locale);
            days.push((
                day,
                format!("<li class=\"day\"><span>{heading}</span></li>\n"),
            ));
        }
        let html = EntryFragment { t, staff, id, item }
            .render()
            .map_err(failed)?;
        entries.push((html, days.len() - 1, *seq));
    }
    let divider = format!(
        "<li class=\"new-divider\" id=\"unread\"><span>{}</span></li>\n",
        t.new_divider
    );
    let keep = cache.budget > 0;
    // Deflating a long history takes milliseconds of CPU: off the I/O threads. Without it the
    // page is still served, uncompressed.
    let rendered = tokio::task::spawn_blocking(move || {
        let mut rendered = Rendered {
            entries: entries
                .into_iter()
                .map(|(html, day, seq)| Entry { html, day, seq })
                .collect(),
            days: days.into_iter().map(|(_, html)| html).collect(),
            divider,
            usual: None,
        };
        if keep {
            let usual = rendered.pieces(&rendered.usual()).concat();
            rendered.usual = Deflated::new(usual.as_bytes(), flate2::Compression::default())
                .inspect_err(|err| tracing::warn!(error = %err, "deflating a history failed; served uncompressed"))
                .ok();
        }
        rendered
    })
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "deflating a conversation history failed");
        WebError::unavailable()
    })?;
    let rendered = Arc::new(rendered);
    if keep {
        cache.put(key, conversation.history_rev, fingerprint, rendered.clone());
    }
    Ok(rendered)
}

/// Messages and events the reader may see, in time order (an event after a message of the
/// same millisecond), with each message's time and sequence number. A status change a message
/// made by being written is shown on that message, not as a line of its own.
fn items(
    r: &Reading,
    id: &str,
    messages: &[Message],
    attachments: &HashMap<String, Vec<Attachment>>,
    events: &[ConversationEvent],
    people: &HashMap<String, Person>,
) -> Vec<(Millis, Option<i64>, Item)> {
    let t = r.t;
    let role = if r.staff {
        Role::Internal
    } else {
        Role::Client
    };
    let by_id: HashMap<&str, &Message> = messages.iter().map(|m| (m.id.as_str(), m)).collect();
    let by_time: HashMap<(Millis, &str), &Message> = messages
        .iter()
        .map(|m| ((m.created_at, m.author_id.as_str()), m))
        .collect();
    let mut effects: HashMap<&str, &'static str> = HashMap::new();
    let mut items: Vec<(Millis, u8, Option<i64>, Item)> =
        Vec::with_capacity(messages.len() + events.len());
    for e in events {
        let seen = r.staff || e.seen_by_clients();
        if let Some(m) = caused_by_message(e, &by_time, &by_id) {
            if seen
                && let Some(to) = e
                    .data
                    .get("to")
                    .and_then(|v| v.as_str())
                    .and_then(ConversationStatus::parse)
            {
                effects.insert(m.id.as_str(), status_label(t, to));
            }
            continue;
        }
        if !seen {
            continue;
        }
        if let Some(text) = event_text(t, e, people) {
            items.push((
                e.created_at,
                1,
                None,
                Item::Event(EventView {
                    time: r.zone.clock(e.created_at),
                    time_iso: rfc3339(e.created_at),
                    time_full: r.zone.date_time(e.created_at, r.locale),
                    text,
                }),
            ));
        }
    }
    for m in messages {
        if !m.kind.visible_to(role) {
            continue;
        }
        let files = attachments.get(&m.id).map_or(&[][..], Vec::as_slice);
        let effect = effects.get(m.id.as_str()).copied();
        items.push((
            m.created_at,
            0,
            Some(m.seq),
            Item::Message(Box::new(message_view(r, id, m, files, people, effect))),
        ));
    }
    items.sort_by_key(|(at, order, seq, _)| (*at, *order, *seq));
    items
        .into_iter()
        .map(|(at, _, seq, item)| (at, seq, item))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(conversation: &str) -> Key {
        Key {
            conversation: conversation.to_string(),
            staff: true,
            own: None,
            lang: "en",
            zone: TimeZone::UTC,
            today: NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
        }
    }

    fn rendered(bytes: usize) -> Arc<Rendered> {
        Arc::new(Rendered {
            entries: vec![Entry {
                html: "x".repeat(bytes),
                day: 0,
                seq: Some(1),
            }],
            days: Vec::new(),
            divider: String::new(),
            usual: None,
        })
    }

    /// `n` messages (seq 1..=n), an event after every tenth, a new day every 15 entries.
    fn history_of(n: i64) -> Rendered {
        let mut entries = Vec::new();
        for seq in 1..=n {
            entries.push(Entry {
                html: format!("m{seq} "),
                day: entries.len() / 15,
                seq: Some(seq),
            });
            if seq % 10 == 0 {
                entries.push(Entry {
                    html: format!("e{seq} "),
                    day: entries.len() / 15,
                    seq: None,
                });
            }
        }
        let days = (0..=entries.len() / 15).map(|d| format!("D{d} ")).collect();
        Rendered {
            entries,
            days,
            divider: "NEW ".to_string(),
            usual: None,
        }
    }

    fn page(r: &Rendered, layout: &Layout) -> String {
        r.pieces(layout).concat()
    }

    #[test]
    fn a_short_history_is_shown_whole_with_the_divider_at_the_first_unread() {
        let r = history_of(12);
        let all_read = r.layout(Some(12), false);
        assert_eq!(
            all_read,
            Layout {
                from: 0,
                unread: None,
                folded: 0
            }
        );
        assert_eq!(
            page(&r, &all_read),
            "D0 m1 m2 m3 m4 m5 m6 m7 m8 m9 m10 e10 m11 m12 "
        );
        let some_new = r.layout(Some(10), false);
        assert!(page(&r, &some_new).ends_with("m10 e10 NEW m11 m12 "));
        // Not a participant: nothing is new to them.
        assert_eq!(r.layout(None, false).unread, None);
    }

    #[test]
    fn the_usual_page_is_deflated_once_and_any_other_layout_on_demand_to_the_same_html() {
        use std::io::Read;
        let mut r = history_of(43);
        let usual = r.pieces(&r.usual()).concat();
        r.usual = Some(Deflated::new(usual.as_bytes(), flate2::Compression::default()).unwrap());
        let inflate = |layout: &Layout| {
            let d = r.deflated(layout).unwrap();
            let is_kept = matches!(d, std::borrow::Cow::Borrowed(_));
            let gz = crate::web::gzip::gzip(&[&d]);
            let mut out = String::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut out)
                .unwrap();
            (out, is_kept)
        };
        for (layout, kept) in [
            (r.layout(Some(43), false), true),
            (r.layout(None, false), true),
            (r.layout(Some(40), false), false),
            (r.layout(Some(43), true), false),
        ] {
            let (html, is_kept) = inflate(&layout);
            assert_eq!(html, page(&r, &layout), "{layout:?}");
            assert_eq!(is_kept, kept, "{layout:?}");
        }
    }

    #[test]
    fn a_long_history_folds_all_but_the_latest_messages_unless_the_first_unread_is_older() {
        let r = history_of(43);
        let read = r.layout(Some(43), false);
        assert_eq!(read.folded, 43 - SHOWN_MESSAGES);
        let shown = page(&r, &read);
        assert!(shown.starts_with("D1 m24 "), "{shown}");
        assert_eq!(shown.matches('m').count(), SHOWN_MESSAGES);
        assert!(shown.contains("D2 ") && shown.ends_with("m43 "));
        // The first unread is inside what would be folded: shown from there.
        let behind = r.layout(Some(5), false);
        assert_eq!(behind.folded, 5);
        assert!(page(&r, &behind).starts_with("D0 NEW m6 "));
        // Asked for everything.
        let all = r.layout(Some(43), true);
        assert_eq!((all.from, all.folded), (0, 0));
        assert!(page(&r, &all).starts_with("D0 m1 "));
    }

    #[test]
    fn an_entry_serves_only_its_revision_and_people() {
        let cache = HistoryCache::new(1000);
        cache.put(key("a"), 3, 7, rendered(10));
        assert!(cache.get(&key("a"), 3, 7).is_some());
        assert!(cache.get(&key("a"), 4, 7).is_none(), "the history moved");
        assert!(cache.get(&key("a"), 3, 8).is_none(), "someone was renamed");
        let client = Key {
            staff: false,
            ..key("a")
        };
        assert!(cache.get(&client, 3, 7).is_none(), "another audience");
        cache.put(key("a"), 4, 7, rendered(20));
        assert_eq!(cache.bytes(), 20, "the old revision's bytes are given back");
    }

    #[test]
    fn the_budget_holds_and_the_least_recently_used_go_first() {
        let cache = HistoryCache::new(100);
        cache.put(key("a"), 1, 0, rendered(40));
        cache.put(key("b"), 1, 0, rendered(40));
        assert!(cache.get(&key("a"), 1, 0).is_some()); // a is now the more recent
        cache.put(key("c"), 1, 0, rendered(40));
        assert!(cache.bytes() <= 100);
        assert!(
            cache.get(&key("b"), 1, 0).is_none(),
            "b was the least recently used"
        );
        assert!(cache.get(&key("a"), 1, 0).is_some());
        assert!(cache.get(&key("c"), 1, 0).is_some());
        cache.put(key("huge"), 1, 0, rendered(101));
        assert!(
            cache.get(&key("huge"), 1, 0).is_none(),
            "larger than the budget: not kept"
        );
        assert!(
            cache.get(&key("a"), 1, 0).is_some(),
            "and nothing evicted for it"
        );
        let off = HistoryCache::new(0);
        off.put(key("a"), 1, 0, rendered(1));
        assert_eq!(off.bytes(), 0);
    }
}
