//! `/api/v1/companies` and the contact list:
//! - `POST /companies {name}` → 201 `{id: "cmp_…", name, created_at}`
//! - `GET /companies?limit=&cursor=` → `{companies: […], next_cursor}` (by name)
//! - `GET /companies/{id}` → the company with its `followers`; `PATCH /companies/{id} {name}`
//! - `POST /companies/{id}/followers {person_id}` → 201, or 200 when they already followed it;
//!   `DELETE /companies/{id}/followers/{person_id}` → 204
//! - `GET /people?q=&role=&company=&limit=&cursor=` → `{people: […], next_cursor}` (by name)

use super::json::{ApiResult, Body, created, human_text, ok, parse_limit, required};
use crate::domain::{Role, rfc3339, text};
use crate::store::{Company, Cursor, PeopleFilter, Person};
use crate::web::AppState;
use crate::web::error::{ApiError, ApiPath};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// A company's name: one line, like a person's.
const COMPANY_NAME: text::TextRule = text::NAME;

pub(super) fn company_json(c: &Company) -> Value {
    json!({"id": c.id, "name": c.name, "created_at": rfc3339(c.created_at)})
}

fn person_json(p: &Person) -> Value {
    json!({"id": p.id, "name": p.name, "email": p.email, "role": p.role.as_str()})
}

fn cursor(raw: &Option<String>) -> Result<Option<Cursor>, ApiError> {
    raw.as_deref()
        .map(|raw| {
            Cursor::decode(raw)
                .ok_or_else(|| ApiError::invalid_field("cursor", "not a cursor we gave"))
        })
        .transpose()
}

/// The cursor of the page after this one, when it was full.
fn next<T>(page: &[T], limit: i64, key: impl Fn(&T) -> Cursor) -> Option<String> {
    (page.len() as i64 == limit)
        .then(|| page.last().map(|last| key(last).encode()))
        .flatten()
}

#[derive(Deserialize)]
pub struct CompanyBody {
    name: Option<String>,
}

pub async fn create_company(State(state): State<AppState>, body: Body<CompanyBody>) -> ApiResult {
    let Json(body) = body?;
    let name = human_text(&body.name, "name", &COMPANY_NAME)?;
    created(company_json(&state.store.create_company(name).await?))
}

#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list_companies(
    State(state): State<AppState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query?;
    let limit = parse_limit(&query.limit)?;
    let page = state
        .store
        .companies(cursor(&query.cursor)?.as_ref(), limit)
        .await?;
    let next_cursor = next(&page, limit, |c| Cursor {
        key: c.name.clone(),
        id: c.id.clone(),
    });
    ok(json!({
        "companies": page.iter().map(company_json).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    }))
}

async fn existing(state: &AppState, id: &str) -> Result<Company, ApiError> {
    state
        .store
        .company(id)
        .await?
        .ok_or_else(|| ApiError::not_found("company"))
}

async fn with_followers(state: &AppState, company: &Company) -> Result<Value, ApiError> {
    let followers = state.store.company_followers(&company.id).await?;
    let mut view = company_json(company);
    view["followers"] = followers.iter().map(person_json).collect();
    Ok(view)
}

pub async fn get_company(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult {
    let company = existing(&state, &id).await?;
    ok(with_followers(&state, &company).await?)
}

pub async fn patch_company(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body<CompanyBody>,
) -> ApiResult {
    let Json(body) = body?;
    let name = human_text(&body.name, "name", &COMPANY_NAME)?;
    if !state.store.rename_company(&id, name).await? {
        return Err(ApiError::not_found("company"));
    }
    let company = existing(&state, &id).await?;
    ok(with_followers(&state, &company).await?)
}

#[derive(Deserialize)]
pub struct FollowerBody {
    person_id: Option<String>,
}

pub async fn add_follower(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body<FollowerBody>,
) -> ApiResult {
    let Json(body) = body?;
    let person_id = required(&body.person_id, "person_id", 64)?;
    existing(&state, &id).await?;
    let added = state.store.follow_company(&id, person_id).await?;
    let company = existing(&state, &id).await?;
    let view = with_followers(&state, &company).await?;
    match added {
        true => created(view),
        false => ok(view),
    }
}

pub async fn remove_follower(
    State(state): State<AppState>,
    ApiPath((id, person_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    existing(&state, &id).await?;
    match state.store.unfollow_company(&id, &person_id).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found("follower")),
    }
}

#[derive(Deserialize)]
pub struct PeopleQuery {
    q: Option<String>,
    role: Option<String>,
    company: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list_people(
    State(state): State<AppState>,
    query: Result<Query<PeopleQuery>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query?;
    let limit = parse_limit(&query.limit)?;
    let role = query
        .role
        .as_deref()
        .map(|r| {
            Role::parse(r.trim())
                .ok_or_else(|| ApiError::invalid_field("role", "`role` must be internal or client"))
        })
        .transpose()?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::invalid_field(
            "q",
            "`q` is longer than 200 characters",
        ));
    }
    let filter = PeopleFilter {
        query: q,
        role,
        company: query.company.as_deref().map(str::trim),
    };
    let page = state
        .store
        .people_page(&filter, cursor(&query.cursor)?.as_ref(), limit)
        .await?;
    let next_cursor = next(&page, limit, |p| Cursor {
        key: p.name.clone(),
        id: p.id.clone(),
    });
    ok(json!({
        "people": page.iter().map(person_json).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    }))
}
