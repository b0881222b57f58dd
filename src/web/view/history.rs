//! A conversation's history as the web view shows it: messages (with their attachments) and
//! events in time order, rendered for one audience (staff or client) in one language, and kept
//! rendered (HTML, and deflated once for gzip responses) until the conversation changes.
//!
//! Cache validity comes from the database, so it holds across processes sharing PostgreSQL:
//! `conversations.history_rev` moves in the same transaction as every change to what the
//! history shows (a message with its attachments, a deletion, an event), and the names and
//! roles of the people it mentions are fingerprinted on each request (nothing renames people
//! today; should something, its page shows the new name at once).
//! The fragment holds nothing tied to a session: the per-message delete buttons submit one
//! form outside it (the HTML `form` attribute), which carries the CSRF token.

use super::auth::Viewer;
use super::page::{WebError, human_time};
use super::status::status_label;
use super::text::Text;
use crate::domain::{ConversationType, MessageKind, Role, Source, redact_sign_in_links, rfc3339};
use crate::store::{
    Attachment, Conversation, ConversationEvent, ConversationStatus, Message, Person,
};
use crate::web::AppState;
use crate::web::gzip::Deflated;
use askama::Template;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

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
    pub time: String,
    pub time_iso: String,
    pub note: bool,
    /// Deleted: clients see only "message deleted"; staff see the content, marked.
    pub deleted: bool,
    pub show_content: bool,
    /// Sanitized when stored (ammonia, `inbound::html`); shown as is.
    pub html: Option<String>,
    pub text: String,
    pub trimmed: Option<String>,
    pub attachments: Vec<AttachmentView>,
    pub original_url: Option<String>,
    pub by_email: bool,
    pub can_delete: bool,
}

pub struct EventView {
    pub time: String,
    pub time_iso: String,
    pub text: String,
}

pub enum Item {
    Message(MessageView),
    Event(EventView),
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
    let actor = name(e.actor_id.as_deref());
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
        "snoozed" => format!("{actor} {}", t.ev_snoozed),
        "woke_up" => t.ev_woke.to_string(),
        "auto_closed" => t.ev_auto_closed.to_string(),
        "subject_changed" => format!("{actor} {} {}", t.ev_subject, field("to").unwrap_or("")),
        "type_changed" => format!("{actor} {} {}", t.ev_type, type_label(t, field("to"))),
        _ => return None,
    })
}

/// Which events a client sees: the conversation closing and reopening. Everything else
/// (participants, assignment, snoozes, deletions) is the team's business.
fn client_sees_event(e: &ConversationEvent) -> bool {
    let touches_closed = |k: &str| e.data.get(k).and_then(|v| v.as_str()) == Some("closed");
    match e.kind.as_str() {
        "status_changed" => touches_closed("to") || touches_closed("from"),
        "auto_closed" => true,
        _ => false,
    }
}

fn message_view(
    t: &Text,
    viewer: &Viewer,
    conversation_id: &str,
    m: &Message,
    attachments: &[Attachment],
    people: &HashMap<String, Person>,
) -> MessageView {
    let staff = viewer.is_staff();
    let author = people.get(&m.author_id);
    let deleted = m.deleted_at.is_some();
    let show_content = !deleted || staff;
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
        author: author.map_or(t.someone.to_string(), |p| p.name.clone()),
        author_is_staff: author.is_some_and(|p| p.role == Role::Internal),
        time: human_time(m.created_at),
        time_iso: rfc3339(m.created_at),
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
        text: if show_content {
            redact_sign_in_links(&m.body_text).into_owned()
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
    }
}

#[derive(Template)]
#[template(path = "web/history.html")]
struct HistoryFragment<'a> {
    t: &'static Text,
    staff: bool,
    id: &'a str,
    items: Vec<Item>,
}

/// A history rendered for one audience and language.
pub struct Rendered {
    pub html: String,
    /// The HTML deflated once (`gzip`), spliced into each gzip response.
    pub deflated: Option<Deflated>,
}

impl Rendered {
    fn size(&self) -> usize {
        self.html.len() + self.deflated.as_ref().map_or(0, Deflated::compressed_len)
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
    entries: HashMap<Key, Entry>,
    bytes: usize,
    clock: u64,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    conversation: String,
    staff: bool,
    lang: &'static str,
}

struct Entry {
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
            Entry {
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
    let key = Key {
        conversation: conversation.id.clone(),
        staff: viewer.is_staff(),
        lang: t.lang,
    };
    let fingerprint = people_fingerprint(people);
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
    let items = items(viewer, id, &messages, &attachments, &events, people);
    let html = HistoryFragment {
        t,
        staff: key.staff,
        id,
        items,
    }
    .render()
    .map_err(|err| {
        tracing::error!(error = %err, "rendering a conversation history failed");
        WebError::unavailable()
    })?;
    if cache.budget == 0 {
        return Ok(Arc::new(Rendered {
            html,
            deflated: None,
        }));
    }
    // Deflating a long history takes milliseconds of CPU: off the I/O threads. Without it the
    // page is still served, uncompressed.
    let rendered = tokio::task::spawn_blocking(move || {
        let deflated = Deflated::new(html.as_bytes(), flate2::Compression::default())
            .inspect_err(|err| tracing::warn!(error = %err, "deflating a history failed; served uncompressed"))
            .ok();
        Rendered { html, deflated }
    })
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "deflating a conversation history failed");
        WebError::unavailable()
    })?;
    let rendered = Arc::new(rendered);
    cache.put(key, conversation.history_rev, fingerprint, rendered.clone());
    Ok(rendered)
}

/// Messages and events the viewer may see, in time order (an event after a message of the
/// same millisecond).
fn items(
    viewer: &Viewer,
    id: &str,
    messages: &[Message],
    attachments: &HashMap<String, Vec<Attachment>>,
    events: &[ConversationEvent],
    people: &HashMap<String, Person>,
) -> Vec<Item> {
    let t = viewer.text();
    let role = viewer.role();
    let mut items: Vec<(i64, u8, Item)> = Vec::with_capacity(messages.len() + events.len());
    for m in messages {
        if !m.kind.visible_to(role) {
            continue;
        }
        let files = attachments.get(&m.id).map_or(&[][..], Vec::as_slice);
        items.push((
            m.created_at,
            0,
            Item::Message(message_view(t, viewer, id, m, files, people)),
        ));
    }
    for e in events {
        if !viewer.is_staff() && !client_sees_event(e) {
            continue;
        }
        if let Some(text) = event_text(t, e, people) {
            items.push((
                e.created_at,
                1,
                Item::Event(EventView {
                    time: human_time(e.created_at),
                    time_iso: rfc3339(e.created_at),
                    text,
                }),
            ));
        }
    }
    items.sort_by_key(|(at, order, _)| (*at, *order));
    items.into_iter().map(|(_, _, item)| item).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(conversation: &str) -> Key {
        Key {
            conversation: conversation.to_string(),
            staff: true,
            lang: "en",
        }
    }

    fn rendered(bytes: usize) -> Arc<Rendered> {
        Arc::new(Rendered {
            html: "x".repeat(bytes),
            deflated: None,
        })
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
