//! The application layer under the JSON API and the web view: domain work both need (files,
//! verification codes, posting and its rules, a person's addresses, transcripts), so that neither calls the
//! other's handlers.

pub mod addresses;
pub mod codes;
pub mod files;
pub mod messages;
pub mod search;
pub mod transcripts;
pub mod uploads;
