pub mod domain;
pub mod inbound;
pub mod smtp;
pub mod store;
