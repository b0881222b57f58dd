//! The JSON API under `/api/v1` (the external contract in DESIGN.md). Handlers parse input into
//! domain types, call the store (or the application layer in `web::service`) by intent, and
//! shape the JSON; no SQL here, and nothing of the HTML view.

pub mod addresses;
pub mod companies;
pub mod conversations;
pub mod domains;
mod json;
pub mod lifecycle;
pub mod messages;
pub mod person_data;
pub mod search;
pub mod settings;
pub mod transcripts;

pub use conversations::*;
pub use messages::{list_messages, post_message};
