//! A person's other addresses: adding one (verified at once when staff vouch for it, else with
//! a confirmation link emailed to it, queued in the same transaction), and following that link.
//! The JSON API and the settings page share this.

use crate::domain::{CONFIRM_LINK_LIFETIME_MS, EmailAddress};
use crate::store::{Person, PersonAddress, Store};
use crate::web::AppState;
use crate::web::error::ApiError;
use axum::http::StatusCode;

/// Adds `email` to `person`'s addresses: verified at once when `verified_by` names who vouches
/// for it (a staff member's id, or `admin`), else unverified with a confirmation link emailed
/// to it (in the person's language).
pub async fn add(
    state: &AppState,
    person: &Person,
    email: &EmailAddress,
    verified_by: Option<&str>,
) -> Result<PersonAddress, ApiError> {
    let id = Store::new_address_id();
    let confirmation = match verified_by {
        Some(_) => None,
        None => {
            let now = state.store.now();
            let locale = state
                .store
                .person_settings(&person.id)
                .await?
                .ok_or_else(|| ApiError::not_found("person"))?
                .locale;
            let token = state
                .links
                .address_token(&id, &person.id, now + CONFIRM_LINK_LIFETIME_MS);
            let mail = state
                .mailer
                .compose()
                .address_confirmation(&person.name, &email.to_string(), locale, &token, now)
                .map_err(|e| {
                    tracing::error!(error = %e, "composing an address confirmation failed");
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "compose_failed",
                        "could not compose the email",
                    )
                })?;
            Some(mail)
        }
    };
    let address = state
        .store
        .add_address(&id, &person.id, email, verified_by, confirmation.as_ref())
        .await?;
    if confirmation.is_some() {
        state.mailer.queued();
    }
    Ok(address)
}

/// Follows an address's confirmation link: true when it named a live address (now verified).
pub async fn confirm(state: &AppState, token: &str) -> Result<bool, ApiError> {
    let Some((address_id, person_id)) = state.links.verify_address(token, state.store.now()) else {
        return Ok(false);
    };
    Ok(state.store.confirm_address(&address_id, &person_id).await?)
}
