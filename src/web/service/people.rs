//! People by address: the web view adds participants by email address, creating clients as
//! they come.

use crate::domain::{EmailAddress, Role};
use crate::store::{NewPerson, Person, StoreError};
use crate::web::AppState;

/// The person with this address, created as a client when new (named `name`, or the address's
/// local part). Created meanwhile by someone else: theirs.
pub async fn find_or_create_client(
    state: &AppState,
    address: &EmailAddress,
    name: Option<&str>,
) -> Result<Person, StoreError> {
    if let Some(p) = state.store.person_by_email(address).await? {
        return Ok(p);
    }
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(address.local())
        .to_string();
    let new = NewPerson {
        email: address.clone(),
        name,
        role: Role::Client,
    };
    match state.store.create_person(new).await {
        Ok(p) => Ok(p),
        Err(StoreError::Conflict(_)) => state
            .store
            .person_by_email(address)
            .await?
            .ok_or(StoreError::NotFound("person")),
        Err(e) => Err(e),
    }
}
