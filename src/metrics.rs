//! The numbers an operator graphs and alerts on, served at `/metrics` in the Prometheus text
//! format (0.0.4) by prometheus-client. One [`Metrics`] per gateway process (each process is
//! its own scrape target); every part that counts holds an `Arc<Metrics>`. Counting is a
//! relaxed atomic add. Labels are closed sets — outcomes, reply classes, route templates,
//! statuses, our own domains' names — never a token, an address or an id.
//!
//! Gauges that describe the database (the outbox) are read when scraped, by the web layer,
//! and set here just before encoding.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Transaction {
    /// `stored`, `refused` or `deferred`.
    pub outcome: &'static str,
    /// `2xx`, `4xx` or `5xx`.
    pub class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Inbound {
    pub outcome: &'static str,
    /// Why a refused email was refused (`none` otherwise).
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Request {
    pub method: String,
    /// The route's template (`/api/v1/conversations/{id}`), `other` when none matched.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutboxState {
    /// `queued` (due or waiting), `retrying`, `failed`.
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DomainCheck {
    /// One of our sending domains (a name we publish, never a person's).
    pub domain: String,
    /// A record's status at the last check: `ok`, `missing`, `wrong`…
    pub result: String,
}

pub struct Metrics {
    registry: Registry,
    pub smtp_connections_open: Gauge,
    pub smtp_connections: Counter,
    pub smtp_connections_refused: Counter,
    pub smtp_transactions: Family<Transaction, Counter>,
    pub inbound_emails: Family<Inbound, Counter>,
    pub inbound_commit: Histogram,
    pub group_commit_batch: Histogram,
    pub outbox: Family<OutboxState, Gauge>,
    pub outbox_oldest_due: Gauge<f64, AtomicU64>,
    pub outbox_sent: Counter,
    pub outbox_attempts_failed: Counter,
    pub planned: Counter,
    pub tick: Histogram,
    pub codes_sent: Counter,
    pub http_requests: Family<Request, Counter>,
    pub http_request_duration: Family<Route, Histogram>,
    pub domain_checks: Family<DomainCheck, Gauge>,
    /// Held while a scrape refreshes the gauges read from the database.
    pub refreshing: tokio::sync::Mutex<()>,
}

/// Latency buckets from 0.5 ms to about 16 s, doubling.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("threadgate"),
            smtp_connections_open: Gauge::default(),
            smtp_connections: Counter::default(),
            smtp_connections_refused: Counter::default(),
            smtp_transactions: Family::default(),
            inbound_emails: Family::default(),
            inbound_commit: latency(),
            group_commit_batch: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            outbox: Family::default(),
            outbox_oldest_due: Gauge::default(),
            outbox_sent: Counter::default(),
            outbox_attempts_failed: Counter::default(),
            planned: Counter::default(),
            tick: latency(),
            codes_sent: Counter::default(),
            http_requests: Family::default(),
            http_request_duration: Family::new_with_constructor(latency),
            domain_checks: Family::default(),
            refreshing: tokio::sync::Mutex::new(()),
        };
        let r = &mut m.registry;
        r.register(
            "build",
            "The running build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        r.register(
            "smtp_connections_open",
            "SMTP connections being served",
            m.smtp_connections_open.clone(),
        );
        r.register(
            "smtp_connections",
            "SMTP connections accepted and served",
            m.smtp_connections.clone(),
        );
        r.register(
            "smtp_connections_refused",
            "SMTP connections refused at once (421: too many, globally or from one address)",
            m.smtp_connections_refused.clone(),
        );
        r.register(
            "smtp_transactions",
            "SMTP transactions (or LMTP recipients) by outcome and reply class",
            m.smtp_transactions.clone(),
        );
        r.register(
            "inbound_emails",
            "Inbound emails recorded, by outcome (and the reason of a refusal)",
            m.inbound_emails.clone(),
        );
        r.register_with_unit("inbound_commit", "Time from an inbound email's hand-over to the group commit until its transaction is on disk", Unit::Seconds, m.inbound_commit.clone());
        r.register(
            "group_commit_batch_size",
            "Inbound emails committed together in one transaction",
            m.group_commit_batch.clone(),
        );
        r.register(
            "outbox_emails",
            "Emails in the outbox, by state (read when scraped)",
            m.outbox.clone(),
        );
        r.register_with_unit(
            "outbox_oldest_due_age",
            "Age of the oldest email due for delivery (0 when none; read when scraped)",
            Unit::Seconds,
            m.outbox_oldest_due.clone(),
        );
        r.register(
            "outbox_sent",
            "Emails delivered by the outbox workers",
            m.outbox_sent.clone(),
        );
        r.register(
            "outbox_attempts_failed",
            "Delivery attempts that failed (each retried or, at the end, failed)",
            m.outbox_attempts_failed.clone(),
        );
        r.register(
            "notifications_planned",
            "Notification emails (a first one or a digest) planned by the scheduler",
            m.planned.clone(),
        );
        r.register_with_unit(
            "scheduler_tick_duration",
            "Time one scheduler tick took",
            Unit::Seconds,
            m.tick.clone(),
        );
        r.register(
            "verification_codes_sent",
            "Verification codes issued and queued",
            m.codes_sent.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests by method, route template and status",
            m.http_requests.clone(),
        );
        r.register_with_unit(
            "http_request_duration",
            "HTTP request latency by route template",
            Unit::Seconds,
            m.http_request_duration.clone(),
        );
        r.register("domain_records", "The records of each sending domain by their status at its last DNS check (read when scraped)", m.domain_checks.clone());
        m
    }

    /// Counts an SMTP transaction's (or LMTP recipient's) final reply.
    pub fn transaction(&self, outcome: &'static str, code: u16) {
        let class = match code {
            200..=299 => "2xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.smtp_transactions
            .get_or_create(&Transaction { outcome, class })
            .inc();
    }

    pub fn observe_commit(&self, waited: Duration, batch: usize) {
        self.inbound_commit.observe(waited.as_secs_f64());
        self.group_commit_batch.observe(batch as f64);
    }

    /// The text served at `/metrics`.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
