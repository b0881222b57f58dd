//! Outbound mail: compose (templates + threading headers), the outbox worker, transports.

pub mod compose;
pub mod transport;
pub mod worker;
