//! The conversation list (`/`): the conversations the viewer takes part in (admins: all),
//! newest visible activity first, with excerpt, time, unread count and status; staff filter by
//! mine / unassigned / all and by status, with counts. And starting a conversation (`/new`).

use super::auth::{Viewer, require_form, require_viewer};
use super::page::{Chrome, MAX_BODY, Web, WebError, WebForm, check_field, check_text, render};
use super::status::{shown_status, status_label};
use super::text::Text;
use crate::domain::{ConversationType, EmailAddress, MessageKind, Role, Source};
use crate::store::{
    Company, ConversationOptions, ConversationStatus, ConversationSummary, ListScope, NewMessage,
};
use askama::Template;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// How many conversations the list reads (newest first); counts are over these.
const LIST_LIMIT: i64 = 500;
/// How many characters of the last message a row shows.
const EXCERPT: usize = 140;

pub struct Row {
    pub id: String,
    pub subject: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub excerpt: String,
    pub time: String,
    pub time_iso: String,
    pub unread: i64,
    pub muted: bool,
}

pub struct Tab {
    pub label: &'static str,
    pub href: String,
    pub count: usize,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "web/list.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    views: Vec<Tab>,
    statuses: Vec<Tab>,
    /// What the search box holds.
    q: String,
    /// A search's results, instead of the list.
    results: Option<Vec<Found>>,
    /// Why a search could not run.
    search_error: String,
    /// Showing the archived conversations.
    archived: bool,
}

/// One conversation a search found, with its snippets as runs of text, marked or not.
pub struct Found {
    pub id: String,
    pub subject: String,
    pub snippets: Vec<SnippetView>,
}

/// A snippet as runs of text, marked or not, and whether the text goes on around it.
pub struct SnippetView {
    pub runs: Vec<(String, bool)>,
    pub cut_before: bool,
    pub cut_after: bool,
}

#[derive(Deserialize)]
pub struct Filter {
    view: Option<String>,
    status: Option<String>,
    /// A search: results instead of the list.
    q: Option<String>,
    /// `1`: the archived conversations.
    archived: Option<String>,
}

/// The runs of a snippet: text between marks, and the marked words.
fn runs(snippet: &crate::domain::search_text::Snippet) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut at = 0;
    for &(start, end) in &snippet.marks {
        if start < at || end > snippet.text.len() {
            continue;
        }
        if start > at {
            out.push((snippet.text[at..start].to_string(), false));
        }
        out.push((snippet.text[start..end].to_string(), true));
        at = end;
    }
    if at < snippet.text.len() {
        out.push((snippet.text[at..].to_string(), false));
    }
    out
}

/// The search results page for `q`, as this viewer may see them.
async fn search_page(
    state: &crate::web::AppState,
    viewer: &Viewer,
    q: &str,
) -> Result<Response, WebError> {
    use crate::web::service::search::{self, Search, SearchError};
    let t = viewer.text();
    let request = Search {
        q,
        reader: viewer.person(),
        status: None,
        kind: None,
        company: None,
        offset: 0,
        limit: 50,
    };
    let (results, error, status) = match search::search(state, &request).await {
        Ok(hits) => (
            hits.into_iter()
                .map(|hit| Found {
                    id: hit.conversation.id,
                    subject: hit.conversation.subject,
                    snippets: hit
                        .found
                        .iter()
                        .map(|f| SnippetView {
                            runs: runs(&f.snippet),
                            cut_before: f.snippet.cut_before,
                            cut_after: f.snippet.cut_after,
                        })
                        .collect(),
                })
                .collect(),
            String::new(),
            StatusCode::OK,
        ),
        Err(SearchError::Query(e)) => (Vec::new(), e.to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        Err(SearchError::Store(e)) => return Err(e.into()),
    };
    Ok(render(
        status,
        ListPage {
            chrome: Chrome::for_viewer(viewer, t.search),
            rows: Vec::new(),
            views: Vec::new(),
            statuses: Vec::new(),
            q: q.to_string(),
            results: Some(results),
            search_error: error,
            archived: false,
        },
    ))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Mine,
    Unassigned,
    All,
}

fn excerpt(s: &ConversationSummary, t: &Text) -> String {
    match (&s.excerpt, &s.last_author) {
        (Some(text), author) => {
            let text = crate::domain::redact_sign_in_links(text);
            let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let mut cut: String = flat.chars().take(EXCERPT).collect();
            if flat.chars().count() > EXCERPT {
                cut.push('…');
            }
            match author {
                Some(a) => format!("{a}: {cut}"),
                None => cut,
            }
        }
        (None, _) => t.no_messages_yet.to_string(),
    }
}

pub async fn list_page(
    state: Web,
    headers: HeaderMap,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Response {
    let back = "/";
    let viewer = match require_viewer(&state, &headers, back).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match list(&state, &viewer, filter.ok().map(|Query(f)| f)).await {
        Ok(r) => r,
        Err(e) => e.in_language(viewer.text()).into_response(),
    }
}

async fn list(
    state: &crate::web::AppState,
    viewer: &Viewer,
    filter: Option<Filter>,
) -> Result<Response, WebError> {
    let t = viewer.text();
    if let Some(q) = filter.as_ref().and_then(|f| f.q.as_deref())
        && !q.trim().is_empty()
    {
        return search_page(state, viewer, q.trim()).await;
    }
    let scope = match viewer.person() {
        Some(p) => ListScope::Person {
            person_id: &p.id,
            internal: p.role == Role::Internal,
        },
        None => ListScope::All,
    };
    let filter = filter.unwrap_or(Filter {
        view: None,
        status: None,
        q: None,
        archived: None,
    });
    let archived = filter.archived.as_deref() == Some("1");
    let shelf = match archived {
        true => crate::store::Shelf::Archive,
        false => crate::store::Shelf::Inbox,
    };
    let all = state
        .store
        .conversation_list(scope, shelf, LIST_LIMIT)
        .await?;
    let view = match filter.view.as_deref() {
        Some("mine") => View::Mine,
        Some("unassigned") => View::Unassigned,
        _ => View::All,
    };
    let status = filter.status.as_deref().and_then(ConversationStatus::parse);
    let me = viewer.person().map(|p| p.id.as_str());
    let in_view = |s: &ConversationSummary, v: View| match v {
        View::Mine => me.is_some() && s.assignee_id.as_deref() == me,
        View::Unassigned => s.assignee_id.is_none(),
        View::All => true,
    };
    let staff = viewer.is_staff();
    let (view, status) = if staff {
        (view, status)
    } else {
        (View::All, None)
    };
    let query = |v: View, st: Option<ConversationStatus>| {
        let v = match v {
            View::Mine => "mine",
            View::Unassigned => "unassigned",
            View::All => "all",
        };
        let shelf = if archived { "&archived=1" } else { "" };
        match st {
            Some(st) => format!("/?view={v}&status={}{shelf}", st.as_str()),
            None => format!("/?view={v}{shelf}"),
        }
    };
    let mut views = Vec::new();
    let mut statuses = Vec::new();
    if staff {
        for (v, label) in [
            (View::Mine, t.mine),
            (View::Unassigned, t.unassigned),
            (View::All, t.all),
        ] {
            views.push(Tab {
                label,
                href: query(v, status),
                count: all
                    .iter()
                    .filter(|s| in_view(s, v) && status.is_none_or(|st| s.status == st))
                    .count(),
                active: v == view,
            });
        }
        statuses.push(Tab {
            label: t.any_status,
            href: query(view, None),
            count: all.iter().filter(|s| in_view(s, view)).count(),
            active: status.is_none(),
        });
        for st in [
            ConversationStatus::Open,
            ConversationStatus::Pending,
            ConversationStatus::Snoozed,
            ConversationStatus::Closed,
        ] {
            statuses.push(Tab {
                label: status_label(t, st),
                href: query(view, Some(st)),
                count: all
                    .iter()
                    .filter(|s| in_view(s, view) && s.status == st)
                    .count(),
                active: status == Some(st),
            });
        }
    }
    let now = state.store.now();
    let rows = all
        .iter()
        .filter(|s| in_view(s, view) && status.is_none_or(|st| s.status == st))
        .map(|s| {
            let at = s.last_at.unwrap_or(s.created_at);
            let status = shown_status(viewer, s.status);
            Row {
                id: s.id.clone(),
                subject: s.subject.clone(),
                status: status.as_str(),
                status_label: status_label(t, status),
                excerpt: excerpt(s, t),
                time: viewer.zone().short(at, now, viewer.locale()),
                time_iso: crate::domain::rfc3339(at),
                unread: s.unread,
                muted: s.muted,
            }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        ListPage {
            chrome: Chrome::for_viewer(viewer, t.conversations),
            rows,
            views,
            statuses,
            q: String::new(),
            results: None,
            search_error: String::new(),
            archived,
        },
    ))
}

#[derive(Template)]
#[template(path = "web/new.html")]
struct NewPage<'a> {
    chrome: Chrome,
    subject: &'a str,
    participants: &'a str,
    body: &'a str,
    error: &'a str,
    /// The companies to file it under.
    companies: Vec<Company>,
    company: &'a str,
    kind: &'a str,
}

pub async fn new_page(state: Web, headers: HeaderMap) -> Response {
    let viewer = match require_viewer(&state, &headers, "/new").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if viewer.internal_person().is_none() {
        return WebError::forbidden()
            .in_language(viewer.text())
            .into_response();
    }
    let companies = match state.store.companies(None, 1000).await {
        Ok(c) => c,
        Err(e) => return WebError::from(e).in_language(viewer.text()).into_response(),
    };
    render(
        StatusCode::OK,
        NewPage {
            chrome: Chrome::for_viewer(&viewer, viewer.text().new_conversation),
            subject: "",
            participants: "",
            body: "",
            error: "",
            companies,
            company: "",
            kind: "",
        },
    )
}

#[derive(Deserialize)]
pub struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    participants: String,
    #[serde(default)]
    body: String,
    /// A company's id, or empty.
    #[serde(default)]
    company: String,
    /// private, company or confidential; empty: company with a company, else private.
    #[serde(default)]
    kind: String,
}

/// Parses "a@x, Bea <b@y>\nc@z" into addresses with their names, if given (at most 100).
pub fn parse_addresses(raw: &str) -> Result<Vec<(EmailAddress, Option<String>)>, String> {
    let mut out: Vec<(EmailAddress, Option<String>)> = Vec::new();
    for part in raw.split([',', ';', '\n', '\r']).map(str::trim) {
        if part.is_empty() {
            continue;
        }
        let (name, addr) = match (part.rfind('<'), part.ends_with('>')) {
            (Some(open), true) => {
                let name = part[..open].trim().trim_matches('"').trim();
                let name = crate::domain::text::check_optional(name, &crate::domain::text::NAME)
                    .map_err(|e| format!("{part}: the name {e}"))?;
                (
                    (!name.is_empty()).then(|| name.to_string()),
                    &part[open + 1..part.len() - 1],
                )
            }
            _ => (None, part),
        };
        let address = EmailAddress::parse(addr).map_err(|e| format!("{part}: {e}"))?;
        addr.parse::<lettre::Address>()
            .map_err(|e| format!("{part}: {e}"))?;
        if !out.iter().any(|(a, _)| a.key() == address.key()) {
            out.push((address, name));
        }
    }
    if out.len() > 100 {
        return Err("at most 100 participants".into());
    }
    Ok(out)
}

pub async fn new_submit(
    state: Web,
    headers: HeaderMap,
    WebForm(form): WebForm<NewForm>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    let t = viewer.text();
    let me = viewer
        .internal_person()
        .ok_or_else(|| WebError::forbidden().in_language(t))?
        .clone();
    let companies = state.store.companies(None, 1000).await?;
    let fail = |error: String| {
        render(
            StatusCode::UNPROCESSABLE_ENTITY,
            NewPage {
                chrome: Chrome::for_viewer(&viewer, t.new_conversation),
                subject: &form.subject,
                participants: &form.participants,
                body: &form.body,
                error: &error,
                companies: companies.clone(),
                company: &form.company,
                kind: &form.kind,
            },
        )
    };
    // The same pairing as the API's: a company goes with company and confidential only.
    let company = Some(form.company.trim()).filter(|c| !c.is_empty());
    let kind = match (form.kind.trim(), company) {
        ("", Some(_)) => ConversationType::Company,
        ("", None) => ConversationType::Private,
        (raw, _) => match ConversationType::parse(raw) {
            Some(kind) => kind,
            None => return Ok(fail(format!("{}: {raw:?}", t.conversation_type))),
        },
    };
    if kind.has_company() != company.is_some()
        || company.is_some_and(|c| !companies.iter().any(|k| k.id == c))
    {
        return Ok(fail(format!("{}: {}", t.conversation_type, t.company)));
    }
    let subject = match check_text(&form.subject, t.subject, &crate::domain::text::SUBJECT) {
        Ok(s) => s.to_string(),
        Err(e) => return Ok(fail(e)),
    };
    let addresses = match parse_addresses(&form.participants) {
        Ok(a) => a,
        Err(e) => return Ok(fail(e)),
    };
    if !form.body.trim().is_empty()
        && let Err(e) = check_field(&form.body, t.first_message, MAX_BODY)
    {
        return Ok(fail(e));
    }
    let mut ids = Vec::new();
    for (address, name) in &addresses {
        ids.push(
            state
                .store
                .find_or_create_client(address, name.as_deref())
                .await?
                .id,
        );
    }
    let options = ConversationOptions {
        domain: None,
        kind: Some(kind),
        company_id: company,
    };
    let conversation = state
        .store
        .create_conversation_with(&subject, &me.id, &ids, &options)
        .await?;
    if !form.body.trim().is_empty() {
        state
            .store
            .append_message(NewMessage::typed(
                &conversation.id,
                &me.id,
                MessageKind::Message,
                form.body.trim_end().to_string(),
                Source::Web,
            ))
            .await?;
    }
    Ok(Redirect::to(&format!("/c/{}", conversation.id)).into_response())
}
