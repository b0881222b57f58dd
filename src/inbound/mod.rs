//! The inbound pipeline: a received email becomes a message in the right conversation, or a
//! recorded refusal.
//!
//! [`Inbound::deliver`] runs the stages of `pipeline` in order — parse, authenticate, machine
//! mail (unsubscribe, bounces, auto-replies), route, the inbox policy for mail no route
//! found, sender, DMARC, loop breaker, extract — each of which lets the email go on or stops
//! it with a [`Disposition`]. One store call applies the disposition (record, post, effects)
//! in ONE transaction, and the answer is positive only once it has committed. The SMTP layer
//! turns the [`Answer`] into a reply code; nothing here speaks SMTP.

mod actions;
pub mod analyze;
pub mod authentication;
pub mod budget;
pub mod classify;
mod commands;
mod disposition;
pub mod extract;
mod held;
pub mod html;
mod inbox;
mod machine;
mod mail;
pub mod parse;
mod pipeline;
mod post;
mod recipients;
mod route;
mod sender;

pub use disposition::{Answer, Disposition, Refusal};
pub use held::{Confirmations, Confirmed, Release, ReleaseError};
pub use recipients::KnownOwners;

/// Emails up to this size are parsed and extracted in place on the runtime's worker. Handing
/// the worker's other tasks to another thread (`block_in_place`) wakes a thread and switches
/// twice — measured under load, more CPU than the work itself saves the others: in place, 4 KiB
/// replies at 50 sessions took 10% less server CPU per email (0.85 against 0.95 ms, medians of
/// four) and 64 KiB ones 5% less; the worker is held for at most a few milliseconds (~4 ms of
/// CPU for a whole 64 KiB email). Larger emails, and the parse bombs an attacker sends, are
/// still moved off the worker, so the runtime keeps serving everyone else meanwhile.
const IN_PLACE_UP_TO: usize = 128 * 1024;

/// Runs CPU-bound work on an email of `size` bytes (MIME parsing, HTML sanitizing, reply
/// extraction): in place when small ([`IN_PLACE_UP_TO`]); otherwise, on the server's
/// multi-threaded runtime, tokio moves the worker's other tasks to another thread meanwhile
/// (`block_in_place`); elsewhere (a test's single-threaded runtime) it runs inline.
fn cpu_bound<T>(size: usize, work: impl FnOnce() -> T) -> T {
    let multi_threaded = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    match multi_threaded && size > IN_PLACE_UP_TO {
        true => tokio::task::block_in_place(work),
        false => work(),
    }
}

use crate::blobs::BlobStore;
use crate::domain::sending::LiveDomains;
use crate::domain::{LinkSigner, MessageIds};
use crate::outbound::mailer::Mailer;
use crate::store::Store;

/// Limits on what one inbound email may carry.
#[derive(Debug, Clone, Copy)]
pub struct InboundLimits {
    /// Larger attachments are listed as omitted, not kept.
    pub max_attachment_size: usize,
    /// The loop circuit breaker: more emails than this from one sender into one conversation
    /// within `burst_window_ms` are held (recorded, not posted).
    pub burst_limit: i64,
    pub burst_window_ms: i64,
    /// The CPU time one email's body extraction may take before its HTML part is given up
    /// (`budget`).
    pub extraction_cpu_budget: std::time::Duration,
}

impl Default for InboundLimits {
    fn default() -> Self {
        InboundLimits {
            max_attachment_size: 20 * 1024 * 1024,
            burst_limit: 30,
            burst_window_ms: 10 * 60 * 1000,
            extraction_cpu_budget: std::time::Duration::from_secs(2),
        }
    }
}

#[derive(Clone)]
pub struct Inbound {
    store: Store,
    blobs: BlobStore,
    /// Our reply domains and notifications addresses.
    domains: LiveDomains,
    message_ids: MessageIds,
    links: LinkSigner,
    limits: InboundLimits,
    /// SPF/DKIM/DMARC of every inbound email (`--inbound-auth verify`).
    auth: Option<authentication::InboundAuth>,
    /// Confirmation emails to strangers writing to an inbox address (policy `verify`).
    confirmations: Option<Confirmations>,
    /// What the pipeline emails: confirmation links, answers to staff commands not understood.
    mailer: Option<Mailer>,
    /// What a reply from someone else than its address's participant does.
    sender_policy: crate::domain::SenderPolicy,
    /// Unknown recipients per client IP: clients guessing reply addresses are throttled.
    guesses: crate::conn_limits::Guesses,
    /// The MTA in front: never throttled (it relays everyone's unknown recipients).
    trusted_relays: Vec<crate::config::Network>,
    /// Emails by outcome, commit latency and batch sizes.
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl Inbound {
    pub fn new(
        store: Store,
        blobs: BlobStore,
        domains: LiveDomains,
        message_ids: MessageIds,
        links: LinkSigner,
        limits: InboundLimits,
    ) -> Inbound {
        Inbound {
            store,
            blobs,
            domains,
            message_ids,
            links,
            limits,
            auth: None,
            confirmations: None,
            mailer: None,
            sender_policy: crate::domain::SenderPolicy::default(),
            guesses: crate::conn_limits::Guesses::default(),
            trusted_relays: Vec::new(),
            metrics: std::sync::Arc::default(),
        }
    }

    /// Counts into `metrics` (the process's, served at `/metrics`).
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Inbound {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    pub fn with_trusted_relays(mut self, relays: Vec<crate::config::Network>) -> Inbound {
        self.trusted_relays = relays;
        self
    }

    /// Whether `ip` may not have its recipients looked up now: it sent too many unknown ones
    /// lately, and it is not the MTA in front.
    pub fn throttled(&self, ip: std::net::IpAddr) -> bool {
        !self.trusted_relays.iter().any(|n| n.contains(ip)) && self.guesses.throttled(ip)
    }

    /// The unknown recipients each client IP sent lately (RCPT throttling).
    pub fn guesses(&self) -> &crate::conn_limits::Guesses {
        &self.guesses
    }

    pub fn with_sender_policy(mut self, policy: crate::domain::SenderPolicy) -> Inbound {
        self.sender_policy = policy;
        self
    }

    pub fn with_auth(mut self, auth: authentication::InboundAuth) -> Inbound {
        self.auth = Some(auth);
        self
    }

    pub fn with_confirmations(mut self, confirmations: Confirmations) -> Inbound {
        self.confirmations = Some(confirmations);
        self
    }

    pub fn with_mailer(mut self, mailer: Mailer) -> Inbound {
        self.mailer = Some(mailer);
        self
    }
}

/// Mail can carry NUL characters (`=00` in quoted-printable); PostgreSQL text cannot, and a
/// store error would make the sender retry forever. They carry no meaning in text: drop them.
fn no_nul(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s
    }
}
