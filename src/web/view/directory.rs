//! The directory: the contact list (`/people`, staff and admins: by name, filtered by text,
//! role and company, paged) with each person's page (`/people/{id}`: the companies they
//! follow), and the admin's company pages (`/admin/companies`: create, rename, followers).

use super::admin::admin_only;
use super::auth::{Viewer, require_form, require_viewer};
use super::page::{Chrome, Web, WebError, WebForm, WebPath, render};
use crate::domain::{EmailAddress, Role, text};
use crate::store::{Company, Cursor, PeopleFilter, Person};
use askama::Template;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// People per page of the contact list.
const PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "web/people.html")]
struct PeoplePage {
    chrome: Chrome,
    people: Vec<Person>,
    companies: Vec<Company>,
    q: String,
    role: String,
    company: String,
    /// The link to the next page, with the same filters.
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct PeopleQuery {
    q: Option<String>,
    role: Option<String>,
    company: Option<String>,
    cursor: Option<String>,
}

pub async fn people_page(
    state: Web,
    headers: HeaderMap,
    query: Result<Query<PeopleQuery>, QueryRejection>,
) -> Response {
    let viewer = match require_viewer(&state, &headers, "/people").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        viewer.require_staff()?;
        let Query(query) = query.map_err(|r| WebError::bad_request(r.body_text()))?;
        let q: String = query
            .q
            .as_deref()
            .unwrap_or("")
            .trim()
            .chars()
            .take(200)
            .collect();
        let role = query.role.as_deref().and_then(Role::parse);
        let company = query
            .company
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let after = query.cursor.as_deref().and_then(Cursor::decode);
        let filter = PeopleFilter {
            query: Some(q.as_str()).filter(|q| !q.is_empty()),
            role,
            company,
        };
        let people = state
            .store
            .people_page(&filter, after.as_ref(), PAGE)
            .await?;
        let next = (people.len() as i64 == PAGE)
            .then(|| people.last())
            .flatten()
            .map(|last| {
                let cursor = Cursor {
                    key: last.name.clone(),
                    id: last.id.clone(),
                };
                format!(
                    "/people?q={}&role={}&company={}&cursor={}",
                    super::auth::percent_encode(&q),
                    role.map_or("", Role::as_str),
                    super::auth::percent_encode(company.unwrap_or("")),
                    cursor.encode()
                )
            });
        let companies = state.store.companies(None, 500).await?;
        Ok::<_, WebError>(render(
            StatusCode::OK,
            PeoplePage {
                chrome: Chrome::for_viewer(&viewer, viewer.text().people),
                people,
                companies,
                role: role.map_or("", Role::as_str).to_string(),
                company: company.unwrap_or("").to_string(),
                q,
                next,
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| e.in_language(viewer.text()).into_response())
}

/// What the admin manages of a person on their page.
pub struct PersonAdmin {
    pub blocked: bool,
    pub locale: &'static str,
    pub zone: &'static str,
    pub zones: Vec<&'static str>,
    /// Their other addresses (email, confirmed).
    pub addresses: Vec<(String, bool)>,
    /// Bounced or failing: can be reactivated.
    pub suppressed: bool,
}

#[derive(Template)]
#[template(path = "web/person.html")]
struct PersonPage {
    chrome: Chrome,
    person: Person,
    companies: Vec<Company>,
    /// For an admin session.
    manage: Option<PersonAdmin>,
    saved: bool,
}

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn person_page(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    query: Result<Query<SavedQuery>, QueryRejection>,
) -> Response {
    let viewer = match require_viewer(&state, &headers, &format!("/people/{id}")).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        viewer.require_staff()?;
        let person = state
            .store
            .person(&id)
            .await?
            .ok_or_else(WebError::not_found)?;
        let companies = state.store.followed_companies(&person.id).await?;
        let manage = match admin_only(&viewer) {
            Ok(()) => {
                let settings = state
                    .store
                    .person_settings(&person.id)
                    .await?
                    .ok_or_else(WebError::not_found)?;
                let addresses = state
                    .store
                    .addresses(&person.id)
                    .await?
                    .into_iter()
                    .map(|a| (a.email, a.verified_at.is_some()))
                    .collect();
                Some(PersonAdmin {
                    blocked: settings.blocked,
                    locale: settings.locale.as_str(),
                    zone: settings.time_zone.unwrap_or(state.default_time_zone).name(),
                    zones: crate::domain::TimeZone::choices(),
                    addresses,
                    suppressed: person.email_status != crate::domain::EmailStatus::Ok,
                })
            }
            Err(_) => None,
        };
        Ok::<_, WebError>(render(
            StatusCode::OK,
            PersonPage {
                chrome: Chrome::for_viewer(&viewer, person.name.clone()),
                person,
                companies,
                manage,
                saved: query.is_ok_and(|Query(q)| q.saved.is_some()),
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| e.in_language(viewer.text()).into_response())
}

#[derive(Deserialize)]
pub struct PersonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    locale: String,
    #[serde(default)]
    time_zone: String,
    /// A checkbox: present when ticked.
    blocked: Option<String>,
}

/// The admin changes a person's language, time zone, and whether they are blocked (a blocked
/// person loses the web view at once and gets no email).
pub async fn manage_person(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<PersonForm>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    admin_only(&viewer)?;
    let locale = crate::domain::Locale::parse(form.locale.trim())
        .ok_or_else(|| WebError::bad_form(format!("language: {:?}", form.locale)))?;
    let zone = crate::domain::TimeZone::parse(&form.time_zone)
        .ok_or_else(|| WebError::bad_form(format!("time zone: {:?}", form.time_zone)))?;
    let blocked = form.blocked.is_some();
    if !state
        .store
        .update_person_settings(&id, None, Some(locale), Some(blocked))
        .await?
    {
        return Err(WebError::not_found());
    }
    state.store.set_time_zone(&id, Some(zone)).await?;
    if blocked {
        state.store.revoke_sessions_of(&id).await?;
    }
    Ok(Redirect::to(&format!("/people/{id}?saved=1")).into_response())
}

#[derive(Template)]
#[template(path = "web/companies.html")]
struct CompaniesPage<'a> {
    chrome: Chrome,
    companies: Vec<Company>,
    error: &'a str,
}

async fn companies(
    state: &crate::web::AppState,
    viewer: &Viewer,
    status: StatusCode,
    error: &str,
) -> Result<Response, WebError> {
    Ok(render(
        status,
        CompaniesPage {
            chrome: Chrome::for_viewer(viewer, "Companies"),
            companies: state.store.companies(None, 1000).await?,
            error,
        },
    ))
}

pub async fn companies_page(state: Web, headers: HeaderMap) -> Response {
    let viewer = match require_viewer(&state, &headers, "/admin/companies").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        admin_only(&viewer)?;
        companies(&state, &viewer, StatusCode::OK, "").await
    }
    .await;
    result.unwrap_or_else(|e| e.into_response())
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn create_company(
    state: Web,
    headers: HeaderMap,
    WebForm(form): WebForm<NameForm>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    admin_only(&viewer)?;
    match text::check(&form.name, &text::NAME) {
        Ok(name) => {
            let company = state.store.create_company(name).await?;
            Ok(Redirect::to(&format!("/admin/companies/{}", company.id)).into_response())
        }
        Err(e) => {
            let message = format!("name: {e}");
            companies(&state, &viewer, StatusCode::UNPROCESSABLE_ENTITY, &message).await
        }
    }
}

#[derive(Template)]
#[template(path = "web/company.html")]
struct CompanyPage<'a> {
    chrome: Chrome,
    company: Company,
    followers: Vec<Person>,
    error: &'a str,
}

async fn company(
    state: &crate::web::AppState,
    viewer: &Viewer,
    id: &str,
    status: StatusCode,
    error: &str,
) -> Result<Response, WebError> {
    let company = state
        .store
        .company(id)
        .await?
        .ok_or_else(WebError::not_found)?;
    let followers = state.store.company_followers(&company.id).await?;
    Ok(render(
        status,
        CompanyPage {
            chrome: Chrome::for_viewer(viewer, company.name.clone()),
            company,
            followers,
            error,
        },
    ))
}

pub async fn company_page(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
) -> Response {
    let viewer = match require_viewer(&state, &headers, &format!("/admin/companies/{id}")).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        admin_only(&viewer)?;
        company(&state, &viewer, &id, StatusCode::OK, "").await
    }
    .await;
    result.unwrap_or_else(|e| e.into_response())
}

pub async fn rename_company(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<NameForm>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    admin_only(&viewer)?;
    match text::check(&form.name, &text::NAME) {
        Ok(name) => {
            if !state.store.rename_company(&id, name).await? {
                return Err(WebError::not_found());
            }
            Ok(Redirect::to(&format!("/admin/companies/{id}")).into_response())
        }
        Err(e) => {
            let message = format!("name: {e}");
            company(
                &state,
                &viewer,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                &message,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct FollowerForm {
    #[serde(default)]
    csrf: String,
    /// Adding: someone by address.
    #[serde(default)]
    email: String,
    /// Removing: someone by id.
    #[serde(default)]
    person_id: String,
}

pub async fn add_follower(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<FollowerForm>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    admin_only(&viewer)?;
    let email = form.email.trim();
    let person = match EmailAddress::parse(email) {
        Ok(address) => state.store.person_by_email(&address).await?,
        Err(_) => None,
    };
    let Some(person) = person else {
        let message = format!("nobody has the address {email:?}: add them first");
        return company(
            &state,
            &viewer,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            &message,
        )
        .await;
    };
    state.store.follow_company(&id, &person.id).await?;
    Ok(Redirect::to(&format!("/admin/companies/{id}")).into_response())
}

pub async fn remove_follower(
    state: Web,
    headers: HeaderMap,
    WebPath(id): WebPath<String>,
    WebForm(form): WebForm<FollowerForm>,
) -> Result<Response, WebError> {
    let viewer = require_form(&state, &headers, &form.csrf).await?;
    admin_only(&viewer)?;
    state
        .store
        .unfollow_company(&id, form.person_id.trim())
        .await?;
    Ok(Redirect::to(&format!("/admin/companies/{id}")).into_response())
}
