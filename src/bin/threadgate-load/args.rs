//! The command line (clap): the load's shape (conversations, messages,
//! sessions, sizes), the spawned server's flags, a running server to target
//! (`--api-url`), `--peer` for any SMTP server, and `--idle` for memory.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "threadgate-load",
    version,
    about = "Load generator measuring threadgate's inbound SMTP throughput, latency and memory",
    long_about = "Load generator measuring threadgate's inbound SMTP throughput, latency and memory.\n\n\
        By default it starts `threadgate serve` itself (fresh temporary data dir, free loopback \
        ports, random admin token), creates conversations through the API, collects each \
        client's reply address from the notification emails in the outbox, then sends realistic \
        email replies over parallel persistent SMTP sessions, verifies they were stored and \
        prints throughput, latency percentiles, the server's CPU time per message and its peak RSS.\n\n\
        Build the server first: `cargo build --release --bin threadgate`.\n\
        Example: threadgate-load --conversations 50 --messages 2000 --sessions 20 --size 4096"
)]
pub(super) struct Args {
    /// Number of conversations (each: the agent plus one distinct client) the replies are spread over
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) conversations: u32,

    /// Total number of email replies to send
    #[arg(long, default_value_t = 2000)]
    pub(super) messages: u64,

    /// Number of parallel SMTP sessions; each is one persistent connection sending its share sequentially
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) sessions: u32,

    /// Approximate size in bytes of each reply (headers, text and HTML parts; attachment not included)
    #[arg(long, default_value_t = 4096, value_name = "BYTES")]
    pub(super) size: usize,

    /// Size in bytes of a PDF attachment added (base64-encoded) to every reply; 0 = none
    #[arg(long, default_value_t = 0, value_name = "BYTES")]
    pub(super) attachment_size: usize,

    /// Gateways to spawn on the one database given with --server-arg=--database-url=postgres://…
    /// (each with its own data directory and ports); sessions are dealt to them in turn and
    /// their CPU time and memory added up
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8), conflicts_with_all = ["api_url", "peer", "idle"])]
    pub(super) gateways: u32,

    /// Server binary to spawn [default: `threadgate` next to this executable]
    #[arg(long, value_name = "PATH", conflicts_with = "api_url")]
    pub(super) server_bin: Option<PathBuf>,

    /// Extra argument passed to `threadgate serve` (repeatable), e.g. --server-arg=--database-url=postgres://…
    #[arg(
        long = "server-arg",
        value_name = "ARG",
        allow_hyphen_values = true,
        conflicts_with = "api_url"
    )]
    pub(super) server_args: Vec<String>,

    /// Make the spawned server check every reply's SPF and DMARC itself, as when it faces the
    /// internet, against a DNS server on loopback that answers every query at once
    #[arg(long, conflicts_with_all = ["api_url", "peer"])]
    pub(super) dns: bool,

    /// Scheduler tick given to the spawned server (like 200ms, 1s)
    #[arg(long, default_value = "200ms", value_name = "DURATION")]
    pub(super) tick: String,

    /// Reply domain given to the spawned server
    #[arg(long, default_value = "reply.localhost", value_name = "DOMAIN")]
    pub(super) reply_domain: String,

    /// Keep the spawned server's temporary data dir (database, outbox, server.log) instead of removing it
    #[arg(long, conflicts_with = "api_url")]
    pub(super) keep_data: bool,

    /// Target an already running server: base URL of its HTTP listener (http://HOST:PORT); needs --smtp-addr, --admin-token, --outbox-dir
    #[arg(long, value_name = "URL", requires_all = ["smtp_addr", "admin_token", "outbox_dir"])]
    pub(super) api_url: Option<String>,

    /// SMTP listener (HOST:PORT) of the running server (with --api-url)
    #[arg(long, value_name = "HOST:PORT", requires = "api_url")]
    pub(super) smtp_addr: Option<String>,

    /// Admin bearer token of the running server (with --api-url)
    #[arg(long, value_name = "TOKEN", requires = "api_url")]
    pub(super) admin_token: Option<String>,

    /// Outbox directory (`<data-dir>/outbox`) of the running server (with --api-url)
    #[arg(long, value_name = "DIR", requires = "api_url")]
    pub(super) outbox_dir: Option<PathBuf>,

    /// PID of the running server, to report its memory (with --api-url or --peer)
    #[arg(long, value_name = "PID")]
    pub(super) server_pid: Option<u32>,

    /// Benchmark any SMTP server at HOST:PORT (Postfix, Haraka, aiosmtpd, smtp-sink, …) with the
    /// same replies, sessions and timing: no API, no verification; every message goes from
    /// --peer-from to --peer-to
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["api_url", "idle"])]
    pub(super) peer: Option<String>,

    /// Envelope sender and From of the messages sent with --peer
    #[arg(long, default_value = "client@example.test", value_name = "ADDRESS")]
    pub(super) peer_from: String,

    /// Envelope recipient and To of the messages sent with --peer
    #[arg(long, default_value = "inbox@example.test", value_name = "ADDRESS")]
    pub(super) peer_to: String,

    /// Skip checking through the API that every accepted reply was stored
    #[arg(long)]
    pub(super) no_verify: bool,

    /// Print the report as one JSON object on stdout instead of text
    #[arg(long)]
    pub(super) json: bool,

    /// Memory mode: instead of sending mail, hold this many idle SMTP connections open (each
    /// greeted, then silent) and report the server's RSS with and without them. The spawned
    /// server gets connection caps above it; raise `ulimit -n` past it on both sides
    #[arg(
        long,
        default_value_t = 0,
        value_name = "CONNECTIONS",
        conflicts_with = "api_url"
    )]
    pub(super) idle: u32,

    /// Seconds to hold the idle connections (with --idle)
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub(super) hold: u64,
}
