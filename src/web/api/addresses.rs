//! A person's addresses (JSON API): the primary one, where their emails go, and the others,
//! usable once verified — to sign in, and to reply from.

use super::json::{Actor, actor, person_with_settings};
use crate::domain::{EmailAddress, rfc3339};
use crate::store::{Person, PersonAddress};
use crate::web::AppState;
use crate::web::error::{ApiError, ApiPath};
use crate::web::service::addresses;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

type Body<T> = Result<Json<T>, JsonRejection>;
type ApiResult = Result<(StatusCode, Json<Value>), ApiError>;

fn address_json(a: &PersonAddress) -> Value {
    json!({
        "id": a.id, "email": a.email, "verified": a.verified_at.is_some(),
        "verified_at": a.verified_at.map(rfc3339), "verified_by": a.verified_by,
        "created_at": rfc3339(a.created_at),
    })
}

async fn person(state: &AppState, id: &str) -> Result<Person, ApiError> {
    state
        .store
        .person(id)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))
}

fn address(value: &str) -> Result<EmailAddress, ApiError> {
    EmailAddress::parse(value.trim())
        .map_err(|e| ApiError::invalid(format!("`email` is not a valid address: {e}")))
}

/// `GET /people/{id}/addresses`.
pub async fn list_addresses(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    let person = person(&state, &id).await?;
    let addresses = state.store.addresses(&person.id).await?;
    Ok((
        StatusCode::OK,
        Json(json!({
            "primary": person.email,
            "addresses": addresses.iter().map(address_json).collect::<Vec<_>>(),
        })),
    ))
}

#[derive(Deserialize)]
pub struct AddAddress {
    email: Option<String>,
    /// Staff vouch for it: usable at once, recorded with who did it (`actor_id`, else `admin`).
    #[serde(default)]
    verified: bool,
    actor_id: Option<String>,
}

/// `POST /people/{id}/addresses`: `201` the address; unless `verified`, a confirmation link
/// goes to it.
pub async fn add_address(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body<AddAddress>,
) -> ApiResult {
    let Json(body) = body?;
    let email = address(body.email.as_deref().unwrap_or(""))?;
    let person = person(&state, &id).await?;
    let actor_id = actor(&state, body.actor_id.as_deref(), Actor::InternalOnly).await?;
    let verified_by = body
        .verified
        .then(|| actor_id.unwrap_or_else(|| "admin".to_string()));
    let added = addresses::add(&state, &person, &email, verified_by.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(address_json(&added))))
}

/// `DELETE /people/{id}/addresses/{email}`: `204`, `404` when it is not one of theirs.
pub async fn delete_address(
    State(state): State<AppState>,
    ApiPath((id, email)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let email = address(&email)?;
    let person = person(&state, &id).await?;
    match state.store.remove_address(&person.id, &email).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found("address")),
    }
}

#[derive(Deserialize)]
pub struct PatchAddress {
    primary: Option<bool>,
}

/// `PATCH /people/{id}/addresses/{email}` `{"primary": true}`: `200` the person, whose emails
/// now go to it (`409` while it is unverified).
pub async fn patch_address(
    State(state): State<AppState>,
    ApiPath((id, email)): ApiPath<(String, String)>,
    body: Body<PatchAddress>,
) -> ApiResult {
    let Json(body) = body?;
    if body.primary != Some(true) {
        return Err(ApiError::invalid(
            "the only change is `{\"primary\": true}`",
        ));
    }
    let email = address(&email)?;
    let person = person(&state, &id).await?;
    let person = state.store.make_primary(&person.id, &email).await?;
    Ok((
        StatusCode::OK,
        Json(person_with_settings(&state, &person).await?),
    ))
}
