//! Outbound mail: the `mailer` (the one way the application sends email), compose (templates
//! + threading headers), DKIM signing, the outbox worker, transports.

// One bad record never stops the work for everyone: no unwrap or expect on paths that
// handle data (a panic here would stop a loop); errors are returned and recorded instead.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod compose;
mod compose_text;
pub mod compose_transcript;
pub mod delivery;
pub mod direct;
pub mod dkim;
pub mod mailer;
pub mod transport;
pub mod worker;
