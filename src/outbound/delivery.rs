//! How a delivery attempt failed: what the worker retries and what it gives up on (RFC 5321
//! §4.2.1: 4xx is transient, 5xx permanent). Every transport reports in these terms.

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Try again later (4xx, connection refused, timeout).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Never try again (5xx, invalid address).
    #[error("permanent failure: {0}")]
    Permanent(String),
}
