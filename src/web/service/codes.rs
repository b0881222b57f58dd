//! Verification codes: composed, rate limited and queued for a person, and checked in
//! constant time. The JSON API and the web view's sign-in share them.

use crate::domain::EmailAddress;
use crate::store::{CodeCheck, CodeIssue, Person};
use crate::web::AppState;
use crate::web::error::ApiError;
use axum::http::StatusCode;
use rand::Rng;

/// Composes and queues a 6-digit code for `person` to `to` (their primary address, or the
/// verified other address they signed in with; rate limited per address and per client IP);
/// the API's `verification` route and the web view's sign-in share it.
pub async fn send_code(
    state: &AppState,
    person: &Person,
    to: Option<&EmailAddress>,
    client_ip: &str,
) -> Result<CodeIssue, ApiError> {
    let settings = state
        .store
        .person_settings(&person.id)
        .await?
        .ok_or_else(|| ApiError::not_found("person"))?;
    let address = match to {
        Some(to) => to.clone(),
        None => EmailAddress::parse(&person.email).map_err(|e| ApiError::invalid(e.to_string()))?,
    };
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let email = state
        .mailer
        .compose()
        .verification_code(
            &person.name,
            &address.to_string(),
            settings.locale,
            &code,
            state.store.now(),
        )
        .map_err(|e| {
            tracing::error!(error = %e, "composing a verification code failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "compose_failed",
                "could not compose the email",
            )
        })?;
    let hash = state.links.code_hash(&address.key(), &code);
    let issued = state
        .store
        .issue_verification_code(&person.id, &address.key(), &hash, client_ip, &email)
        .await?;
    if matches!(issued, CodeIssue::Issued { .. }) {
        state.metrics.codes_sent.inc();
        state.mailer.queued();
    }
    Ok(issued)
}

/// Checks a code for `email` in constant time; spends an attempt.
pub async fn verify_code(
    state: &AppState,
    address: &EmailAddress,
    code: &str,
) -> Result<CodeCheck, ApiError> {
    let expected = state.links.code_hash(&address.key(), code);
    let matches = |stored: &str| -> bool {
        subtle::ConstantTimeEq::ct_eq(stored.as_bytes(), expected.as_bytes()).into()
    };
    Ok(state
        .store
        .check_verification_code(&address.key(), matches)
        .await?)
}
