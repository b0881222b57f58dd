//! Outbound mail: compose (templates + threading headers), DKIM signing, the outbox worker,
//! transports.

pub mod compose;
pub mod direct;
pub mod dkim;
pub mod transport;
pub mod worker;
