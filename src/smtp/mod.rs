//! The SMTP/LMTP listener: accept loop, per-connection I/O, and the pure session.

pub mod connection;
pub mod data;
pub mod listener;
pub mod replies;
pub mod session;
