//! A conversation (`/c/{id}`): the full history to every participant, with what each may see,
//! and everything that can be done to it from the web: reply, internal note, participants,
//! status, assignment, snooze, delete, mute, attachments and the original email (the reply
//! form's post: `reply`).
//!
//! Visibility (DESIGN.md): a client never sees internal notes, the participant list, other
//! participants' email addresses, nor the content of deleted messages; staff (internal users
//! and admins) see all of it, deleted content marked. Every route first checks that the viewer
//! takes part in the conversation (admins: any) and that ids in the URL belong to it; anything
//! else is a 404, so ids reveal nothing.

use super::auth::{Viewer, require_form, require_viewer};
use super::history::{self, Rendered};
use super::list::parse_addresses;
use super::login::CsrfOnly;
use super::page::{Chrome, Web, WebError, WebForm, WebPath, field};
use super::status::{shown_status, status_label};
use crate::domain::{InboundOutcome, Role, rfc3339};
use crate::inbound::{Release, ReleaseError};
use crate::store::{
    Attachment, Conversation, ConversationStatus, LifecycleChange, Message, ParticipantState,
    StatusChange,
};
use crate::web::AppState;
use crate::web::gzip::{Deflated, accepts_gzip};
use askama::Template;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

pub struct ParticipantView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: &'static str,
}

pub struct HeldView {
    pub id: String,
    pub from: String,
    pub time: String,
    pub detail: String,
    /// From someone the conversation does not know: posted as the participant or as the
    /// sender, or dropped (else released as it is).
    pub unknown_sender: bool,
    /// Held by a DMARC failure: the From may be forged.
    pub unverified: bool,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "web/conversation.html")]
struct ConversationPage {
    chrome: Chrome,
    id: String,
    subject: String,
    status: &'static str,
    status_label: &'static str,
    assignee: Option<String>,
    /// [`HISTORY_MARK`], replaced by the (cached) history after rendering.
    history: &'static str,
    participants: Vec<ParticipantView>,
    statuses: Vec<Choice>,
    assignees: Vec<Choice>,
    can_write: bool,
    can_note: bool,
    /// Messages folded away before the first one shown, and the link's words.
    folded: usize,
    fold_label: String,
    /// The page shows a "New" divider (`#unread`).
    unread: bool,
    /// Staff: when a snoozed conversation wakes up (local time, RFC 3339).
    snoozed_until: Option<(String, String)>,
    archived: bool,
    /// A transcript was just queued for the viewer.
    transcript_sent: bool,
    muted: bool,
    is_participant: bool,
    /// Emails held by DMARC quarantine, for staff to release.
    held: Vec<HeldView>,
    /// People its emails copied who do not take part (address, name), for staff to add.
    suggested: Vec<(String, String)>,
}

/// The conversation, if the viewer may read it (`store::access`, or an admin); else 404.
pub(super) async fn open(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
) -> Result<(Conversation, Option<ParticipantState>), WebError> {
    let not_found = || WebError::not_found().in_language(viewer.text());
    let person = viewer.person().map(|p| p.id.as_str());
    let (conversation, place) = state
        .store
        .conversation_for(id, person)
        .await?
        .ok_or_else(not_found)?;
    Ok((conversation, place))
}

pub async fn conversation_page(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let viewer = match require_viewer(&state, &headers, &format!("/c/{id}")).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // `?all=1`: "Show N earlier messages" was followed; `?transcript=sent`: one was queued.
    let given = |pair: &str| {
        query
            .as_deref()
            .is_some_and(|q| q.split('&').any(|p| p == pair))
    };
    let shown = Shown {
        everything: given("all=1"),
        transcript_sent: given("transcript=sent"),
    };
    match page(&state, &viewer, &id, shown, accepts_gzip(&headers)).await {
        Ok(r) => r,
        Err(e) => e.in_language(viewer.text()).into_response(),
    }
}

/// What the page's URL asks it to show.
#[derive(Clone, Copy)]
struct Shown {
    everything: bool,
    transcript_sent: bool,
}

async fn page(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    shown: Shown,
    gzip: bool,
) -> Result<Response, WebError> {
    let Shown {
        everything,
        transcript_sent,
    } = shown;
    let t = viewer.text();
    let (conversation, place) = open(state, viewer, id).await?;
    let staff = viewer.is_staff();
    let people = state.store.conversation_people(id).await?;
    let history = history::history(state, viewer, &conversation, &people).await?;
    // What is new to this reader: read before this page marks it read below.
    let layout = history.layout(place.map(|p| p.read_up_to), everything);

    // Seen: the newest message shown (the planner will not email it; the list stops counting
    // it). Written only when it moves, so reading a page twice costs no write.
    if let (Some(person), Some(place)) = (viewer.person(), place)
        && conversation.last_seq > place.read_up_to
    {
        state
            .store
            .mark_read(id, &person.id, conversation.last_seq)
            .await?;
    }

    // Read once: the participant list and the assignee picker (team members taking part).
    let members = if staff {
        state.store.participants(id).await?
    } else {
        Vec::new()
    };
    let participants = members
        .iter()
        .map(|p| ParticipantView {
            id: p.person.id.clone(),
            name: p.person.name.clone(),
            email: p.person.email.clone(),
            role: p.person.role.as_str(),
        })
        .collect();
    let statuses = [
        ConversationStatus::Open,
        ConversationStatus::Pending,
        ConversationStatus::Closed,
    ]
    .into_iter()
    .map(|s| Choice {
        value: s.as_str().to_string(),
        label: status_label(t, s).to_string(),
        selected: s == conversation.status,
    })
    .collect();
    let mut assignees = vec![Choice {
        value: String::new(),
        label: t.nobody.to_string(),
        selected: conversation.assignee_id.is_none(),
    }];
    for p in members
        .into_iter()
        .filter(|p| p.person.role == Role::Internal)
    {
        assignees.push(Choice {
            selected: conversation.assignee_id.as_deref() == Some(p.person.id.as_str()),
            value: p.person.id,
            label: p.person.name,
        });
    }
    let held = if staff {
        state
            .store
            .held_inbound(id)
            .await?
            .into_iter()
            .map(|e| HeldView {
                unknown_sender: e.outcome == crate::domain::InboundOutcome::UnknownSender,
                unverified: e.sender_unverified(),
                id: e.id,
                from: e.envelope_from,
                time: viewer.zone().date_time(e.received_at, viewer.locale()),
                detail: e.detail,
            })
            .collect()
    } else {
        Vec::new()
    };
    let suggested = match staff {
        true => state
            .store
            .suggested_participants(id)
            .await?
            .into_iter()
            .map(|(email, name, _)| (email, name.unwrap_or_default()))
            .collect(),
        false => Vec::new(),
    };
    let assignee = conversation
        .assignee_id
        .as_ref()
        .and_then(|a| people.get(a))
        .map(|p| p.name.clone());
    let page = ConversationPage {
        chrome: Chrome::for_viewer(viewer, conversation.subject.clone()),
        id: conversation.id.clone(),
        subject: conversation.subject.clone(),
        status: shown_status(viewer, conversation.status).as_str(),
        status_label: status_label(t, shown_status(viewer, conversation.status)),
        assignee,
        history: HISTORY_MARK,
        participants,
        statuses,
        assignees,
        can_write: viewer.person().is_some(),
        can_note: viewer.internal_person().is_some(),
        folded: layout.folded,
        fold_label: match layout.folded {
            1 => t.show_earlier_one.to_string(),
            n => t.show_earlier.replace("{}", &n.to_string()),
        },
        unread: layout.unread.is_some(),
        archived: conversation.archived_at.is_some(),
        transcript_sent,
        snoozed_until: conversation
            .snoozed_until
            .filter(|_| staff && conversation.status == ConversationStatus::Snoozed)
            .map(|at| (viewer.zone().date_time(at, viewer.locale()), rfc3339(at))),
        muted: place.is_some_and(|p| p.muted),
        is_participant: place.is_some(),
        held,
        suggested,
    };
    let html = page.render().map_err(|err| {
        tracing::error!(error = %err, "rendering a conversation page failed");
        WebError::unavailable()
    })?;
    let Some((head, tail)) = html.split_once(HISTORY_MARK) else {
        tracing::error!("the conversation template lost its history mark");
        return Err(WebError::unavailable());
    };
    Ok(respond(head, &history, &layout, tail, gzip))
}

/// Where the cached history goes in the rendered page. Only the template can produce it: every
/// value the page shows is escaped, so `<!--` from a subject or a name arrives as `&lt;!--`.
const HISTORY_MARK: &str = "<!--threadgate:history-->";

/// The page around its history: gzip (the history deflated once when it is the usual page,
/// the rest now) when the client accepts it, else plain HTML.
fn respond(
    head: &str,
    history: &Rendered,
    layout: &history::Layout,
    tail: &str,
    gzip: bool,
) -> Response {
    let html_type = (header::CONTENT_TYPE, "text/html; charset=utf-8");
    let vary = (header::VARY, "accept-encoding");
    if gzip
        && let Some(middle) = history.deflated(layout)
        && let (Ok(head), Ok(tail)) = (
            Deflated::fast(head.as_bytes()),
            Deflated::fast(tail.as_bytes()),
        )
    {
        let body = crate::web::gzip::gzip(&[&head, &middle, &tail]);
        return (
            StatusCode::OK,
            [html_type, vary, (header::CONTENT_ENCODING, "gzip")],
            body,
        )
            .into_response();
    }
    let pieces = history.pieces(layout);
    let size = head.len() + pieces.iter().map(|p| p.len()).sum::<usize>() + tail.len();
    let mut body = String::with_capacity(size);
    body.push_str(head);
    for piece in pieces {
        body.push_str(piece);
    }
    body.push_str(tail);
    (StatusCode::OK, [html_type, vary], body).into_response()
}

/// A form post on a conversation: a viewer who may see it, with a valid CSRF token.
async fn posting(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    csrf: &str,
) -> Result<(Viewer, Conversation, Option<ParticipantState>), WebError> {
    let viewer = require_form(state, headers, csrf).await?;
    let (conversation, place) = open(state, &viewer, id).await?;
    Ok((viewer, conversation, place))
}

pub(super) fn back(id: &str, anchor: &str) -> Response {
    Redirect::to(&format!("/c/{id}{anchor}")).into_response()
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
}

pub async fn post_status(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<StatusForm>,
) -> Result<Response, WebError> {
    let (viewer, _, _) = posting(&state, &headers, &id, &form.csrf).await?;
    viewer.require_staff()?;
    let status = match ConversationStatus::parse(form.status.trim()) {
        Some(s) if s != ConversationStatus::Snoozed => s,
        _ => {
            return Err(
                WebError::bad_form(format!("status: {:?}", form.status)).in_language(viewer.text())
            );
        }
    };
    change(&state, &viewer, &id, Some(StatusChange::To(status)), None).await
}

#[derive(Deserialize)]
pub struct SnoozeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    duration: String,
}

pub async fn post_snooze(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<SnoozeForm>,
) -> Result<Response, WebError> {
    let (viewer, _, _) = posting(&state, &headers, &id, &form.csrf).await?;
    viewer.require_staff()?;
    let hours: i64 = match form.duration.as_str() {
        "1h" => 1,
        "4h" => 4,
        "1d" => 24,
        "3d" => 72,
        "1w" => 168,
        other => {
            return Err(
                WebError::bad_form(format!("duration: {other:?}")).in_language(viewer.text())
            );
        }
    };
    let until = state.store.now() + hours * 3600 * 1000;
    change(
        &state,
        &viewer,
        &id,
        Some(StatusChange::SnoozeUntil(until)),
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    assignee: String,
}

pub async fn post_assign(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<AssignForm>,
) -> Result<Response, WebError> {
    let (viewer, _, _) = posting(&state, &headers, &id, &form.csrf).await?;
    viewer.require_staff()?;
    // Only a team member taking part in the conversation: the assignee must be able to open it.
    let assignee = match form.assignee.trim() {
        "" => None,
        a => {
            let member = state
                .store
                .participants(&id)
                .await?
                .into_iter()
                .find(|p| p.person.id == a && p.person.role == Role::Internal);
            match member {
                Some(p) => Some(p.person.id),
                None => {
                    return Err(WebError::bad_form(
                        "assignee: not a team member taking part in this conversation",
                    )
                    .in_language(viewer.text()));
                }
            }
        }
    };
    change(&state, &viewer, &id, None, Some(assignee)).await
}

async fn change(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    status: Option<StatusChange>,
    assignee: Option<Option<String>>,
) -> Result<Response, WebError> {
    state
        .store
        .change_lifecycle(
            id,
            &LifecycleChange {
                status,
                assignee,
                subject: None,
                actor_id: viewer.actor_id().map(str::to_string),
            },
        )
        .await
        .map_err(|e| WebError::from(e).in_language(viewer.text()))?;
    Ok(back(id, ""))
}

#[derive(Deserialize)]
pub struct AddParticipantForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    name: Option<String>,
}

/// Staff add people by address; a new address becomes a client (nobody becomes a team member
/// from a form).
pub async fn post_add_participant(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<AddParticipantForm>,
) -> Result<Response, WebError> {
    let (viewer, _, _) = posting(&state, &headers, &id, &form.csrf).await?;
    viewer.require_staff()?;
    let t = viewer.text();
    let addresses =
        parse_addresses(&form.email).map_err(|e| WebError::bad_form(e).in_language(t))?;
    if addresses.is_empty() {
        return Err(WebError::bad_form(format!("{}: required", t.email)).in_language(t));
    }
    let name = form
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if let Some(name) = name {
        field(name, t.name, 200).map_err(|e| e.in_language(t))?;
    }
    for (address, typed_name) in &addresses {
        // The name field names one person; with several addresses, each keeps its own.
        let name = typed_name
            .as_deref()
            .or(if addresses.len() == 1 { name } else { None });
        let person = state.store.find_or_create_client(address, name).await?;
        state
            .store
            .add_participant_by(&id, &person.id, viewer.actor_id())
            .await
            .map_err(|e| WebError::from(e).in_language(t))?;
    }
    Ok(back(&id, "#participants"))
}

pub async fn post_remove_participant(
    state: Web,
    headers: HeaderMap,
    WebPath((id, person_id)): WebPath<(String, String)>,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    let (viewer, _, _) = posting(&state, &headers, &id, &form.csrf).await?;
    viewer.require_staff()?;
    if !state
        .store
        .remove_participant_by(&id, &person_id, viewer.actor_id())
        .await?
    {
        return Err(WebError::not_found().in_language(viewer.text()));
    }
    // Removing oneself leaves nothing to come back to.
    if viewer.person().is_some_and(|p| p.id == person_id) {
        return Ok(Redirect::to("/").into_response());
    }
    Ok(back(&id, "#participants"))
}

/// A message of this conversation, or 404 (an id from another conversation is not found).
async fn message_in(
    state: &AppState,
    viewer: &Viewer,
    conversation_id: &str,
    message_id: &str,
) -> Result<Message, WebError> {
    match state.store.message(message_id).await? {
        Some(m) if m.conversation_id == conversation_id && m.kind.visible_to(viewer.role()) => {
            Ok(m)
        }
        _ => Err(WebError::not_found().in_language(viewer.text())),
    }
}

pub async fn post_delete_message(
    state: Web,
    headers: HeaderMap,
    WebPath((id, message_id)): WebPath<(String, String)>,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    set_deleted(&state, &headers, &id, &message_id, &form.csrf, true).await
}

/// Brings a deleted message back (staff): its clients see it again; nothing is re-sent.
pub async fn post_restore_message(
    state: Web,
    headers: HeaderMap,
    WebPath((id, message_id)): WebPath<(String, String)>,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    set_deleted(&state, &headers, &id, &message_id, &form.csrf, false).await
}

/// Deletes or restores a message of this conversation (staff); already so, nothing to do (a
/// second click).
async fn set_deleted(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    message_id: &str,
    csrf: &str,
    deleted: bool,
) -> Result<Response, WebError> {
    let (viewer, _, _) = posting(state, headers, id, csrf).await?;
    viewer.require_staff()?;
    let message = message_in(state, &viewer, id, message_id).await?;
    let changed = match (message.deleted_at.is_some(), deleted) {
        (false, true) => state
            .store
            .delete_message(&message.id, viewer.actor_id())
            .await
            .map(drop),
        (true, false) => state
            .store
            .restore_message(&message.id, viewer.actor_id())
            .await
            .map(drop),
        _ => Ok(()),
    };
    changed.map_err(|e| WebError::from(e).in_language(viewer.text()))?;
    Ok(back(id, &format!("#{}", message.id)))
}

#[derive(Deserialize)]
pub struct ArchiveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    archived: String,
}

/// Archives a conversation, or moves it back to the inbox (staff).
pub async fn post_archive(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<ArchiveForm>,
) -> Result<Response, WebError> {
    let (viewer, _, _) = posting(&state, &headers, &id, &form.csrf).await?;
    viewer.require_staff()?;
    let archived = match form.archived.as_str() {
        "1" => true,
        "0" => false,
        other => {
            return Err(
                WebError::bad_form(format!("archived: {other:?}")).in_language(viewer.text())
            );
        }
    };
    state
        .store
        .set_archived(&id, archived, viewer.actor_id())
        .await?;
    Ok(back(&id, ""))
}

/// "Email me this conversation": a transcript to the viewer, as they may read it.
pub async fn post_transcript(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    let (viewer, _, _) = posting(&state, &headers, &id, &form.csrf).await?;
    let t = viewer.text();
    let person = viewer
        .person()
        .ok_or_else(|| WebError::forbidden().in_language(t))?;
    match crate::web::service::transcripts::send_transcript(&state, &id, person).await {
        Ok(crate::store::TranscriptIssue::Queued) => {
            Ok(Redirect::to(&format!("/c/{id}?transcript=sent")).into_response())
        }
        Ok(crate::store::TranscriptIssue::TooSoon { retry_after_ms }) => {
            let minutes = (retry_after_ms + 59_999) / 60_000;
            Err(WebError::too_soon(format!("{minutes} min")).in_language(t))
        }
        Err(e) => Err(WebError::from(e).in_language(t)),
    }
}

/// "Wake now" on a snoozed conversation (staff): back to the status it had.
pub async fn post_wake(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    let (viewer, _, _) = posting(&state, &headers, &id, &form.csrf).await?;
    viewer.require_staff()?;
    // Already awake (woken by its time, or a second click): nothing to do.
    state.store.wake_now(&id, viewer.actor_id()).await?;
    Ok(back(&id, ""))
}

#[derive(Deserialize)]
pub struct MuteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    muted: String,
    back: Option<String>,
}

pub async fn post_mute(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<MuteForm>,
) -> Result<Response, WebError> {
    let (viewer, _, place) = posting(&state, &headers, &id, &form.csrf).await?;
    let (Some(person), Some(_)) = (viewer.person(), place) else {
        return Err(WebError::forbidden().in_language(viewer.text()));
    };
    let muted = form.muted == "1";
    state.store.set_muted(&id, &person.id, muted).await?;
    if form.back.as_deref() == Some("settings") {
        return Ok(Redirect::to("/settings").into_response());
    }
    Ok(back(&id, ""))
}

#[derive(Deserialize)]
pub struct ReleaseForm {
    #[serde(default)]
    csrf: String,
    /// For an unknown sender's reply: `participant` or `sender`.
    #[serde(default, rename = "as")]
    release_as: String,
}

/// The staff member acting on a held email of this very conversation (held by DMARC
/// quarantine, or from an unknown sender).
async fn held_in(
    state: &Web,
    headers: &HeaderMap,
    id: &str,
    inbound_id: &str,
    csrf: &str,
) -> Result<Viewer, WebError> {
    let (viewer, _, _) = posting(state, headers, id, csrf).await?;
    viewer.require_staff()?;
    let held = matches!(
        state.store.inbound_entry(inbound_id).await?,
        Some(e) if e.conversation_id.as_deref() == Some(id)
            && matches!(e.outcome, InboundOutcome::Held | InboundOutcome::UnknownSender)
    );
    match held {
        true => Ok(viewer),
        false => Err(WebError::not_found().in_language(viewer.text())),
    }
}

/// Releases a held email into this conversation: as it is (DMARC quarantine), or an unknown
/// sender's as the participant or as its sender, added first (staff).
pub async fn post_release_held(
    state: Web,
    headers: HeaderMap,
    WebPath((id, inbound_id)): WebPath<(String, String)>,
    WebForm(form): WebForm<ReleaseForm>,
) -> Result<Response, WebError> {
    let viewer = held_in(&state, &headers, &id, &inbound_id, &form.csrf).await?;
    let t = viewer.text();
    let how = match form.release_as.as_str() {
        "" => Release::Vouched,
        "participant" => Release::AsParticipant,
        "sender" => Release::AsSender {
            actor_id: viewer.actor_id().map(str::to_string),
        },
        other => return Err(WebError::bad_form(format!("as: {other:?}")).in_language(t)),
    };
    match state.inbound.release(&inbound_id, how).await {
        Ok(answer) if answer.is_stored() => Ok(back(&id, "")),
        Ok(_) => Err(WebError::unavailable().in_language(t)),
        Err(ReleaseError::Store(e)) => Err(WebError::from(e).in_language(t)),
        Err(e @ (ReleaseError::UnknownSender | ReleaseError::NotUnknownSender)) => {
            Err(WebError::bad_form(e.to_string()).in_language(t))
        }
        Err(_) => Err(WebError::not_found().in_language(t)),
    }
}

/// Drops an email held in this conversation (staff): kept for the record, never posted.
pub async fn post_drop_held(
    state: Web,
    headers: HeaderMap,
    WebPath((id, inbound_id)): WebPath<(String, String)>,
    WebForm(form): WebForm<CsrfOnly>,
) -> Result<Response, WebError> {
    let viewer = held_in(&state, &headers, &id, &inbound_id, &form.csrf).await?;
    let t = viewer.text();
    match state.inbound.drop_held(&inbound_id).await {
        Ok(()) => Ok(back(&id, "")),
        Err(ReleaseError::Store(e)) => Err(WebError::from(e).in_language(t)),
        Err(_) => Err(WebError::not_found().in_language(t)),
    }
}

/// "View original email": the raw bytes as received, for staff, of a message of this
/// conversation only.
pub async fn original_email(
    state: Web,
    headers: HeaderMap,
    WebPath((id, message_id)): WebPath<(String, String)>,
) -> Response {
    let viewer = match require_viewer(&state, &headers, &format!("/c/{id}")).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        viewer.require_staff()?;
        open(&state, &viewer, &id).await?;
        let message = message_in(&state, &viewer, &id, &message_id).await?;
        let inbound_id = message.inbound_id.ok_or_else(WebError::not_found)?;
        crate::web::service::files::original_email(&state.store, &inbound_id)
            .await?
            .ok_or_else(WebError::not_found)
    }
    .await;
    result.unwrap_or_else(|e| e.in_language(viewer.text()).into_response())
}

/// May this viewer download this attachment? Only if they may see its message: in a
/// conversation they take part in, visible to their role, and (for clients) not deleted.
pub async fn may_download(
    state: &AppState,
    viewer: &Viewer,
    attachment: &Attachment,
) -> Result<bool, WebError> {
    if open(state, viewer, &attachment.conversation_id)
        .await
        .is_err()
    {
        return Ok(false);
    }
    Ok(match state.store.message(&attachment.message_id).await? {
        Some(m) => {
            m.conversation_id == attachment.conversation_id
                && m.kind.visible_to(viewer.role())
                && (m.deleted_at.is_none() || viewer.is_staff())
        }
        None => false,
    })
}
