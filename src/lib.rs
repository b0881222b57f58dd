//! threadgate: an email-first conversation gateway.
//!
//! Code map (see ARCHITECTURE.md for the full picture):
//! - [`domain`]: addresses, reply tokens, ids, roles, visibility rules, signed Message-IDs and
//!   links. No I/O.
//! - [`config`]: CLI flags and `THREADGATE_*` variables, validated once.
//! - [`dns`]: the DNS records a sending domain publishes, and checking them.
//! - [`domains`]: sending domains: setup, DKIM keys and rotation, record checks.
//! - [`store`]: the only module with SQL; SQLite and PostgreSQL behind one API.
//! - [`smtp`]: the listener, connections, and the pure session state machine.
//! - [`inbound`]: parse, classify, route, extract, and store received mail; bounces.
//! - [`blobs`]: content-addressed attachment files.
//! - [`backup`]: `threadgate backup` / `restore`: one checked zip of an installation.
//! - [`extract_cli`]: `threadgate extract FILE.eml`.
//! - [`outbound`]: compose notifications, DKIM signing, the outbox worker, transports (file,
//!   relay, direct MX).
//! - [`scheduler`]: the tick loop and its step functions (digest planning, conversation
//!   lifecycle).
//! - [`web`]: the web view (`web::view`: sessions, magic links, codes, pages), the JSON API,
//!   settings and verification codes, the one-click unsubscribe page.
//! - [`supervise`]: background loops restarted when they fail, and their health.
//! - [`metrics`]: the counters, gauges and histograms served at `/metrics`.
//! - [`app`]: wiring; the only module that knows every other.
//!
//! Invariants: "250" only after the message is committed; no SQL outside `store`; the SMTP
//! session and the reply extractor are pure; a client never receives notes or other
//! participants' addresses.

pub mod app;
pub mod backup;
pub mod blobs;
pub mod config;
pub mod conn_limits;
pub mod dns;
pub mod domain;
pub mod domain_cli;
pub mod export;
pub mod export_cli;
pub mod extract_cli;
pub mod inbound;
pub mod metrics;
pub mod outbound;
pub mod person_data;
pub mod scheduler;
pub mod sending_domains;
pub mod smtp;
pub mod store;
pub mod supervise;
pub mod web;
