//! Command line and environment (`THREADGATE_*`), validated once into typed settings.
//! Every error names the flag (and so the variable) it comes from.

use crate::domain::EmailAddress;
use crate::domain::envelope::Protocol;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod commands;
pub use commands::{
    BlobsAction, Cli, Command, DomainAction, ExportWhat, ExtractArgs, PersonAction,
};

/// `--sender-policy`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SenderPolicyArg {
    Hold,
    Strict,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SmtpProtocol {
    Smtp,
    Lmtp,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Where the SQLite database, the admin token and the file outbox live.
    #[arg(long, env = "THREADGATE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: SQLite file `threadgate.db` in the data dir.
    #[arg(long, env = "THREADGATE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where attachment files are kept: `local` (`<data-dir>/attachments/`), `postgres` (rows
    /// in the PostgreSQL database itself) or `s3://bucket[/prefix]` (an S3-compatible object
    /// store; endpoint, region and credentials from the usual `AWS_*` variables). Gateways
    /// on several machines need `postgres` or `s3://…`.
    #[arg(long, env = "THREADGATE_BLOB_STORE", default_value = "local")]
    pub blob_store: String,
    #[arg(long, env = "THREADGATE_SMTP_LISTEN", default_value = "127.0.0.1:2525", value_parser = parse_socket)]
    pub smtp_listen: SocketAddr,
    #[arg(long, env = "THREADGATE_HTTP_LISTEN", default_value = "127.0.0.1:8080", value_parser = parse_socket)]
    pub http_listen: SocketAddr,
    /// A listener of its own for `/metrics`, without the admin token (for a scraper on a
    /// private network); without it, `/metrics` is on the HTTP listener behind the token.
    #[arg(long, env = "THREADGATE_METRICS_LISTEN", value_parser = parse_socket)]
    pub metrics_listen: Option<SocketAddr>,
    /// `/readyz` answers 503 when the oldest email due for delivery has waited longer.
    #[arg(long, env = "THREADGATE_READY_MAX_OUTBOX_LAG", default_value = "10m", value_parser = parse_duration)]
    pub ready_max_outbox_lag: Duration,
    /// Concurrent HTTP connections; more are closed at once.
    #[arg(long, env = "THREADGATE_HTTP_MAX_CONNECTIONS", default_value_t = 1000)]
    pub http_max_connections: usize,
    /// Concurrent HTTP connections from one IP address; more are closed at once.
    #[arg(
        long,
        env = "THREADGATE_HTTP_MAX_CONNECTIONS_PER_IP",
        default_value_t = 64
    )]
    pub http_max_connections_per_ip: usize,
    /// How long an HTTP connection may take to bring a request (after it opens, or after our
    /// last answer); a client trickling its headers is cut off.
    #[arg(long, env = "THREADGATE_HTTP_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub http_request_timeout: Duration,
    /// Base URL of links in emails (one-click unsubscribe, settings); default: http:// and the
    /// bound HTTP address.
    #[arg(long, env = "THREADGATE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Domain of the reply addresses (`reply+<token>@<reply-domain>`); the only domain the SMTP
    /// listener accepts mail for.
    #[arg(
        long,
        env = "THREADGATE_REPLY_DOMAIN",
        default_value = "reply.localhost"
    )]
    pub reply_domain: String,
    /// The From address of notifications (shown with the author's name).
    #[arg(
        long,
        env = "THREADGATE_FROM_ADDRESS",
        default_value = "notifications@localhost"
    )]
    pub from_address: String,
    /// `file` (one .eml per email in <data-dir>/outbox/) or `smtp://[user:password@]host:port`.
    #[arg(long, env = "THREADGATE_OUTBOUND", default_value = "file")]
    pub outbound: String,
    /// Bearer token for /api/v1; generated and stored in the data dir when absent.
    #[arg(long, env = "THREADGATE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Scheduler period.
    #[arg(long, env = "THREADGATE_TICK", default_value = "15s", value_parser = parse_duration)]
    pub tick: Duration,
    /// Shortest time between two digests of one conversation to one person.
    #[arg(long, env = "THREADGATE_DIGEST_INTERVAL", default_value = "30m", value_parser = parse_duration)]
    pub digest_interval: Duration,
    /// Open or pending conversations without activity (a message or note, a reopening, waking
    /// up) for this long close themselves.
    #[arg(long, env = "THREADGATE_AUTO_CLOSE_AFTER", default_value = "30d", value_parser = parse_duration)]
    pub auto_close_after: Duration,
    /// Temporary delivery failures are retried (with backoff) until this long after queueing.
    #[arg(long, env = "THREADGATE_RETRY_HORIZON", default_value = "3d", value_parser = parse_duration)]
    pub retry_horizon: Duration,
    /// How long an email being delivered stays reserved for its worker: after a crash, it is
    /// delivered again once this has passed (longer than the slowest delivery).
    #[arg(long, env = "THREADGATE_OUTBOX_LEASE", default_value = "5m", value_parser = parse_duration)]
    pub outbox_lease: Duration,
    /// Memory for rendered conversation histories in the web view, in MiB (0: render every
    /// page from the database).
    #[arg(long, env = "THREADGATE_WEB_CACHE_MIB", default_value_t = 64)]
    pub web_cache_mib: usize,
    /// Language of emails for people created without one (`en` or `fr`).
    #[arg(long, env = "THREADGATE_DEFAULT_LOCALE", default_value = "en")]
    pub default_locale: String,
    /// Time zone of people who have not chosen one, an IANA name (`Europe/Paris`): times on
    /// their pages and in their emails are shown in it.
    #[arg(long, env = "THREADGATE_DEFAULT_TIME_ZONE", default_value = "UTC")]
    pub default_time_zone: String,
    /// DNS resolver to use instead of the system's (IP or IP:port), for domain checks.
    #[arg(long, env = "THREADGATE_DNS_SERVER")]
    pub dns_server: Option<String>,
    /// The host the MX records of reply domains point to (this gateway); default: --hostname.
    #[arg(long, env = "THREADGATE_MX_HOST")]
    pub mx_host: Option<String>,
    /// What the SPF record of a reply domain authorizes: `include:<relay's SPF domain>` when
    /// mail goes out through a relay; default `a:<mx host>` (this host sends directly).
    #[arg(long, env = "THREADGATE_SPF")]
    pub spf: Option<String>,
    /// Speak SMTP (as the MX) or LMTP (behind Postfix or another MTA).
    #[arg(
        long,
        env = "THREADGATE_SMTP_PROTOCOL",
        value_enum,
        default_value = "smtp"
    )]
    pub smtp_protocol: SmtpProtocol,
    /// A reply through a reply address from someone else than its participant (a forward, a
    /// colleague, another account): `hold` it for staff (post as the participant, add the
    /// sender, or drop), or refuse it (`strict`: 550 5.7.1).
    #[arg(
        long,
        env = "THREADGATE_SENDER_POLICY",
        value_enum,
        default_value = "hold"
    )]
    pub sender_policy: SenderPolicyArg,
    /// Largest accepted message, in bytes (suffixes K, M, KiB, MiB accepted).
    #[arg(long, env = "THREADGATE_MAX_MESSAGE_SIZE", default_value = "25MiB", value_parser = parse_size)]
    pub max_message_size: usize,
    /// Largest attachment: from email, larger ones are listed as omitted (the message is still
    /// posted); uploaded (API, web form), larger ones are refused.
    #[arg(long, env = "THREADGATE_MAX_ATTACHMENT_SIZE", default_value = "20MiB", value_parser = parse_size)]
    pub max_attachment_size: usize,
    /// CPU time one message's body extraction may take (checked between its phases): past it,
    /// its HTML part is given up and the message posted as text (the original email is
    /// kept). A safety net: ordinary emails take milliseconds.
    #[arg(long, env = "THREADGATE_EXTRACTION_CPU_BUDGET", default_value = "2s", value_parser = parse_duration)]
    pub extraction_cpu_budget: Duration,
    /// Files one notification email carries in all, as MIME attachments; the others are
    /// download links (sign-in first). 0: every file is a link. Mind the relay's own limit,
    /// which counts the encoded size, about 4/3 of this (Postfix: message_size_limit).
    #[arg(long, env = "THREADGATE_NOTIFY_ATTACHMENTS_MAX", default_value = "10MiB", value_parser = parse_size)]
    pub notify_attachments_max: usize,
    /// PEM certificate chain for STARTTLS on the SMTP listener (with --tls-key).
    #[arg(long, env = "THREADGATE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "THREADGATE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// `auto` (default): mail from the MTA in front of us (a `--trusted-relay` address, by
    /// default loopback) is judged by its Authentication-Results from the reply domain and its
    /// subdomains; mail from anywhere else is checked here. `verify`: check SPF, DKIM and DMARC
    /// of all inbound mail (as the MX): DMARC failures of `p=reject` domains are refused, of
    /// `p=quarantine` ones held. `trust:<authserv-id>,…`: behind another MTA, act on its
    /// Authentication-Results from these ids only. `off`: believe every From (warned at start).
    #[arg(long, env = "THREADGATE_INBOUND_AUTH", default_value = "auto")]
    pub inbound_auth: String,
    /// Networks of the MTA in front of us, whose Authentication-Results count under `auto`
    /// (comma-separated addresses or CIDR blocks; default: loopback). Mail from elsewhere is
    /// checked here, and Authentication-Results it carries are never believed. Unknown
    /// recipients from these are not throttled (the MTA relays everyone's).
    #[arg(long, env = "THREADGATE_TRUSTED_RELAY")]
    pub trusted_relay: Option<String>,
    /// Longest wait for the DNS lookups of one email's SPF, DKIM and DMARC checks; past it the
    /// email is handled as unauthenticated ("none"), recorded as a temporary error.
    #[arg(long, env = "THREADGATE_AUTH_DNS_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub auth_dns_timeout: Duration,
    /// The port of recipients' MX hosts for `--outbound mx` (25; tests point it elsewhere).
    #[arg(long, env = "THREADGATE_DIRECT_PORT", default_value_t = 25)]
    pub direct_port: u16,
    /// Refuse mail over plain text: MAIL before STARTTLS gets 530 5.7.0.
    #[arg(long, env = "THREADGATE_SMTP_REQUIRE_TLS")]
    pub smtp_require_tls: bool,
    /// Name used in the SMTP greeting and EHLO reply.
    #[arg(long, env = "THREADGATE_HOSTNAME", default_value = "localhost")]
    pub hostname: String,
    /// Concurrent SMTP connections; more get 421 4.7.0.
    #[arg(long, env = "THREADGATE_SMTP_MAX_CONNECTIONS", default_value_t = 1000)]
    pub smtp_max_connections: usize,
    /// Concurrent SMTP connections from one IP address; more get 421 4.7.0.
    #[arg(
        long,
        env = "THREADGATE_SMTP_MAX_CONNECTIONS_PER_IP",
        default_value_t = 50
    )]
    pub smtp_max_connections_per_ip: usize,
    /// Messages per SMTP session before the client must reconnect.
    #[arg(long, env = "THREADGATE_SMTP_MAX_MESSAGES", default_value_t = 1000)]
    pub smtp_max_messages: usize,
    /// Longest wait for the next command (RFC 5321 §4.5.3.2 suggests 5 minutes).
    #[arg(long, env = "THREADGATE_SMTP_IDLE_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub smtp_idle_timeout: Duration,
    /// Longest time one command line may take to arrive once started (slow senders).
    #[arg(long, env = "THREADGATE_SMTP_COMMAND_TIMEOUT", default_value = "1m", value_parser = parse_duration)]
    pub smtp_command_timeout: Duration,
    /// Longest time the message data of one transaction may take.
    #[arg(long, env = "THREADGATE_SMTP_DATA_TIMEOUT", default_value = "10m", value_parser = parse_duration)]
    pub smtp_data_timeout: Duration,
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("{e} (write durations like 30m, 15s, 200ms)"))?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

fn parse_socket(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse().map_err(|_| {
        format!("expected host:port with an IP address, e.g. 127.0.0.1:2525, got {s:?}")
    })
}

pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("expected a size like 25MiB, got {s:?}"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => return Err(format!("unknown size unit {unit:?} (use K or M)")),
    };
    n.checked_mul(factor)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("size {s:?} out of range"))
}

/// Where attachment files are kept (`--blob-store`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobStoreSetting {
    /// `<data-dir>/attachments/`: one machine.
    Local,
    /// Rows of the PostgreSQL database (`--database-url` must be PostgreSQL).
    Postgres,
    /// An S3-compatible bucket, objects under `prefix` (empty, or ending in `/`).
    S3 { bucket: String, prefix: String },
}

impl BlobStoreSetting {
    /// Reads a store's URL given as `--{key}` (`blob-store`, or `blobs migrate --to`) against
    /// the database it will share; errors name the flag.
    pub fn parse(
        key: &'static str,
        text: &str,
        database_url: &str,
    ) -> Result<BlobStoreSetting, ConfigError> {
        match text.trim() {
            "local" => Ok(BlobStoreSetting::Local),
            "postgres" if database_url.starts_with("postgres") => Ok(BlobStoreSetting::Postgres),
            "postgres" => Err(invalid(
                key,
                "`postgres` keeps the files in the PostgreSQL database: --database-url must be \
                 postgres://…",
            )),
            url if url.starts_with("s3://") => {
                let rest = &url["s3://".len()..];
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                // S3 bucket names (docs.aws.amazon.com, "Bucket naming rules"): 3-63 of
                // lowercase letters, digits, dots and hyphens.
                let valid_bucket = (3..=63).contains(&bucket.len())
                    && bucket.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                    });
                if !valid_bucket {
                    return Err(invalid(key, format!("not an S3 bucket name: {bucket:?}")));
                }
                let prefix = prefix.trim_matches('/');
                let valid_prefix = prefix.split('/').all(|segment| {
                    !segment.is_empty() && segment != "." && segment != ".." || prefix.is_empty()
                }) && !prefix.chars().any(|c| c.is_control());
                if !valid_prefix {
                    return Err(invalid(key, format!("not a key prefix: {prefix:?}")));
                }
                Ok(BlobStoreSetting::S3 {
                    bucket: bucket.to_string(),
                    prefix: if prefix.is_empty() {
                        String::new()
                    } else {
                        format!("{prefix}/")
                    },
                })
            }
            other => Err(invalid(
                key,
                format!("expected local, postgres or s3://bucket[/prefix], got {other:?}"),
            )),
        }
    }
}

impl std::fmt::Display for BlobStoreSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobStoreSetting::Local => f.write_str("local"),
            BlobStoreSetting::Postgres => f.write_str("postgres"),
            BlobStoreSetting::S3 { bucket, prefix } => {
                write!(f, "s3://{bucket}/{}", prefix.trim_end_matches('/'))
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid --{key}: {message}")]
pub struct ConfigError {
    pub key: &'static str,
    pub message: String,
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        message: message.into(),
    }
}

/// Where outbound mail goes.
#[derive(Clone, PartialEq, Eq)]
pub enum Outbound {
    File,
    /// Direct delivery to each recipient domain's MX hosts.
    Mx,
    Relay {
        host: String,
        port: u16,
        credentials: Option<(String, String)>,
    },
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outbound::File => f.write_str("file"),
            Outbound::Mx => f.write_str("mx"),
            Outbound::Relay { host, port, .. } => write!(f, "smtp://{host}:{port}"),
        }
    }
}

impl Outbound {
    pub fn parse(s: &str) -> Result<Outbound, ConfigError> {
        if s == "file" {
            return Ok(Outbound::File);
        }
        if s == "mx" {
            return Ok(Outbound::Mx);
        }
        let rest = s.strip_prefix("smtp://").ok_or_else(|| {
            invalid(
                "outbound",
                "expected `file`, `mx` or `smtp://[user:password@]host:port`",
            )
        })?;
        let rest = rest.trim_end_matches('/');
        let (credentials, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hostport)) => {
                let (user, pass) = userinfo
                    .split_once(':')
                    .ok_or_else(|| invalid("outbound", "credentials must be user:password"))?;
                (Some((user.to_string(), pass.to_string())), hostport)
            }
            None => (None, rest),
        };
        let (host, port) = hostport.rsplit_once(':').ok_or_else(|| {
            invalid(
                "outbound",
                "the relay needs a port, e.g. smtp://127.0.0.1:25",
            )
        })?;
        let port = port
            .parse()
            .map_err(|_| invalid("outbound", format!("bad port {port:?}")))?;
        if host.is_empty() {
            return Err(invalid("outbound", "missing relay host"));
        }
        Ok(Outbound::Relay {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            credentials,
        })
    }
}

/// The HTTP listener's limits (`web::listener`).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// How long a connection may take to bring a request.
    pub request_timeout: Duration,
}

/// The validated settings the application runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub blob_store: BlobStoreSetting,
    pub smtp_listen: SocketAddr,
    pub http_listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub ready_max_outbox_lag: Duration,
    pub http_limits: HttpLimits,
    /// None: `http://<the bound HTTP address>`.
    pub public_url: Option<String>,
    pub reply_domain: String,
    pub from_address: EmailAddress,
    pub outbound: Outbound,
    pub admin_token: Option<String>,
    pub tick: Duration,
    pub digest_interval: Duration,
    pub auto_close_after: Duration,
    pub retry_horizon: Duration,
    pub outbox_lease: Duration,
    /// Bytes of rendered conversation histories the web view keeps.
    pub web_cache_bytes: usize,
    pub default_locale: crate::domain::Locale,
    pub default_time_zone: crate::domain::TimeZone,
    pub dns_server: Option<SocketAddr>,
    /// The port of recipients' MX hosts (`--outbound mx`).
    pub direct_port: u16,
    /// Whether and how inbound mail is authenticated.
    pub inbound_auth: InboundAuthMode,
    /// Longest wait for one email's authentication lookups.
    pub auth_dns_timeout: Duration,
    /// The MTA in front of us (`--trusted-relay`): its Authentication-Results count under
    /// `auto`, and its unknown recipients are not throttled (it relays everyone's).
    pub trusted_relays: Vec<Network>,
    pub domains: DomainSettings,
    pub max_attachment_size: usize,
    /// CPU time one email's body extraction may take before its HTML part is given up.
    pub extraction_cpu_budget: Duration,
    pub notify_attachments_max: usize,
    pub sender_policy: crate::domain::SenderPolicy,
    pub smtp: SmtpSettings,
}

/// `--inbound-auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundAuthMode {
    /// Trust the MTA in front (`Config::trusted_relays`) for these authserv-ids (a leading dot:
    /// any subdomain); check everything else ourselves.
    Auto {
        ids: Vec<String>,
    },
    Off,
    /// Check SPF, DKIM and DMARC ourselves (we are the MX).
    Verify,
    /// Behind another MTA: read its Authentication-Results (RFC 8601), only from these
    /// authserv-ids.
    Trust(Vec<String>),
}

/// An address block (`--trusted-relay`): an address and how many leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl Network {
    /// `192.0.2.0/24`, `2001:db8::/32`, or one address.
    pub fn parse(s: &str) -> Result<Network, String> {
        let (addr, prefix) = s.trim().split_once('/').unwrap_or((s.trim(), ""));
        let addr: std::net::IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            "" => max,
            p => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("{s:?}: a prefix length up to {max}"))?,
        };
        Ok(Network { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let bits = |ip: std::net::IpAddr| -> (u128, u32) {
            match ip {
                std::net::IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => (u128::from(u32::from(v4)), 32),
                    None => (u128::from(v6), 128),
                },
            }
        };
        let (net, width) = bits(self.addr);
        let (addr, addr_width) = bits(ip);
        if width != addr_width {
            return false;
        }
        let shift = width - u32::from(self.prefix);
        shift >= width || (net >> shift) == (addr >> shift)
    }
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub protocol: Protocol,
    /// Certificate chain and key files for STARTTLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub require_tls: bool,
    pub hostname: String,
    pub max_message_size: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_messages: usize,
    pub idle_timeout: Duration,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
}

impl ServeArgs {
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let reply_domain = self
            .reply_domain
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if reply_domain.is_empty()
            || !reply_domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(invalid(
                "reply-domain",
                format!("not a domain name: {:?}", self.reply_domain),
            ));
        }
        let from_address = EmailAddress::parse(&self.from_address)
            .map_err(|e| invalid("from-address", e.to_string()))?;
        let database_url = match self.database_url {
            Some(url)
                if url.starts_with("sqlite:")
                    || url.starts_with("postgres:")
                    || url.starts_with("postgresql:") =>
            {
                url
            }
            Some(url) => {
                return Err(invalid(
                    "database-url",
                    format!(
                        "expected sqlite:… or postgres://…, got {:?}",
                        redact_url(&url)
                    ),
                ));
            }
            None => format!("sqlite://{}", self.data_dir.join("threadgate.db").display()),
        };
        let blob_store = BlobStoreSetting::parse("blob-store", &self.blob_store, &database_url)?;
        let public_url = match self.public_url {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Some(url.trim_end_matches('/').to_string())
            }
            Some(url) => {
                return Err(invalid(
                    "public-url",
                    format!("expected an http(s) URL, got {url:?}"),
                ));
            }
            None => None,
        };
        if let Some(token) = &self.admin_token
            && token.len() < 16
        {
            return Err(invalid("admin-token", "must be at least 16 characters"));
        }
        if self.smtp_require_tls && self.tls_cert.is_none() {
            return Err(invalid(
                "smtp-require-tls",
                "needs a certificate: --tls-cert and --tls-key",
            ));
        }
        if self.smtp_max_connections == 0 {
            return Err(invalid("smtp-max-connections", "must be at least 1"));
        }
        if self.smtp_max_connections_per_ip == 0 {
            return Err(invalid("smtp-max-connections-per-ip", "must be at least 1"));
        }
        if self.smtp_max_messages == 0 {
            return Err(invalid("smtp-max-messages", "must be at least 1"));
        }
        if self.http_max_connections == 0 {
            return Err(invalid("http-max-connections", "must be at least 1"));
        }
        if self.http_max_connections_per_ip == 0 {
            return Err(invalid("http-max-connections-per-ip", "must be at least 1"));
        }
        if self.http_request_timeout.is_zero() {
            return Err(invalid("http-request-timeout", "must be longer than 0"));
        }
        // Authentication-Results from the reply domain and its subdomains: the MTA in front
        // writes them under its own name there, and strips any a sender wrote (RFC 8601 §5).
        let auth_ids = vec![reply_domain.clone(), format!(".{reply_domain}")];
        let trusted_relays = match self.trusted_relay.as_deref() {
            None => vec![
                Network::parse("127.0.0.0/8").map_err(|e| invalid("trusted-relay", e))?,
                Network::parse("::1").map_err(|e| invalid("trusted-relay", e))?,
            ],
            Some(list) => list
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(Network::parse)
                .collect::<Result<_, _>>()
                .map_err(|e| invalid("trusted-relay", e))?,
        };
        Ok(Config {
            data_dir: self.data_dir,
            database_url,
            blob_store,
            smtp_listen: self.smtp_listen,
            http_listen: self.http_listen,
            metrics_listen: self.metrics_listen,
            ready_max_outbox_lag: self.ready_max_outbox_lag,
            http_limits: HttpLimits {
                max_connections: self.http_max_connections,
                max_connections_per_ip: self.http_max_connections_per_ip,
                request_timeout: self.http_request_timeout,
            },
            public_url,
            reply_domain,
            from_address,
            outbound: Outbound::parse(&self.outbound)?,
            admin_token: self.admin_token,
            tick: self.tick,
            digest_interval: self.digest_interval,
            auto_close_after: self.auto_close_after,
            retry_horizon: self.retry_horizon,
            outbox_lease: self.outbox_lease,
            web_cache_bytes: self
                .web_cache_mib
                .checked_mul(1024 * 1024)
                .ok_or_else(|| invalid("web-cache-mib", "too large"))?,
            default_locale: crate::domain::Locale::parse(&self.default_locale).ok_or_else(
                || {
                    invalid(
                        "default-locale",
                        format!("expected en or fr, got {:?}", self.default_locale),
                    )
                },
            )?,
            default_time_zone: crate::domain::TimeZone::parse(&self.default_time_zone).ok_or_else(
                || {
                    invalid(
                        "default-time-zone",
                        format!(
                            "expected an IANA time zone such as Europe/Paris or UTC, got {:?}",
                            self.default_time_zone
                        ),
                    )
                },
            )?,
            dns_server: self
                .dns_server
                .as_deref()
                .map(parse_dns_server)
                .transpose()
                .map_err(|e| invalid("dns-server", e))?,
            direct_port: self.direct_port,
            auth_dns_timeout: self.auth_dns_timeout,
            trusted_relays,
            inbound_auth: match self.inbound_auth.as_str() {
                "auto" => InboundAuthMode::Auto { ids: auth_ids },
                "verify" => InboundAuthMode::Verify,
                "off" => InboundAuthMode::Off,
                other => match other.strip_prefix("trust:") {
                    Some(ids) if ids.split(',').all(|id| !id.trim().is_empty()) => {
                        InboundAuthMode::Trust(
                            ids.split(',')
                                .map(|id| id.trim().to_ascii_lowercase())
                                .collect(),
                        )
                    }
                    _ => {
                        return Err(invalid(
                            "inbound-auth",
                            format!(
                                "expected auto, verify, off or trust:<authserv-id>[,<authserv-id>…], got {other:?}"
                            ),
                        ));
                    }
                },
            },
            domains: {
                let mx_host = match self.mx_host.as_deref() {
                    Some(h) => {
                        crate::domain::parse_domain_name(h).map_err(|e| invalid("mx-host", e))?
                    }
                    None => self.hostname.trim_end_matches('.').to_ascii_lowercase(),
                };
                let spf_mechanism = match self.spf {
                    Some(s)
                        if s.starts_with("include:")
                            || s.starts_with("a:")
                            || s.starts_with("ip4:")
                            || s.starts_with("ip6:")
                            || s == "mx"
                            || s == "a" =>
                    {
                        s
                    }
                    Some(s) => {
                        return Err(invalid(
                            "spf",
                            format!(
                                "expected an SPF mechanism (include:…, a:…, ip4:…, ip6:…), got {s:?}"
                            ),
                        ));
                    }
                    None => format!("a:{mx_host}"),
                };
                DomainSettings {
                    mx_host,
                    spf_mechanism,
                }
            },
            max_attachment_size: self.max_attachment_size,
            extraction_cpu_budget: self.extraction_cpu_budget,
            notify_attachments_max: self.notify_attachments_max,
            sender_policy: match self.sender_policy {
                SenderPolicyArg::Hold => crate::domain::SenderPolicy::Hold,
                SenderPolicyArg::Strict => crate::domain::SenderPolicy::Strict,
            },
            smtp: SmtpSettings {
                protocol: match self.smtp_protocol {
                    SmtpProtocol::Smtp => Protocol::Smtp,
                    SmtpProtocol::Lmtp => Protocol::Lmtp,
                },
                tls: match (self.tls_cert, self.tls_key) {
                    (Some(cert), Some(key)) => Some((cert, key)),
                    (None, None) => None,
                    (Some(_), None) => {
                        return Err(invalid("tls-key", "--tls-cert needs --tls-key"));
                    }
                    (None, Some(_)) => {
                        return Err(invalid("tls-cert", "--tls-key needs --tls-cert"));
                    }
                },
                require_tls: self.smtp_require_tls,
                hostname: self.hostname,
                max_message_size: self.max_message_size,
                max_connections: self.smtp_max_connections,
                max_connections_per_ip: self.smtp_max_connections_per_ip,
                max_messages: self.smtp_max_messages,
                idle_timeout: self.smtp_idle_timeout,
                command_timeout: self.smtp_command_timeout,
                data_timeout: self.smtp_data_timeout,
            },
        })
    }
}

/// Where our records point: the host that receives replies (MX) and the SPF mechanism that
/// authorizes our senders.
#[derive(Debug, Clone)]
pub struct DomainSettings {
    pub mx_host: String,
    pub spf_mechanism: String,
}

/// `host:port` or an IP (port 53) of the resolver to use.
pub fn parse_dns_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    s.parse::<std::net::IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{s:?} is not an IP address or IP:port"))
}

/// Database URLs may carry passwords; errors and logs show them without.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> Result<ServeArgs, clap::Error> {
        let mut argv = vec!["threadgate", "serve"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Serve(a) => a,
            _ => unreachable!("serve was parsed"),
        })
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let c = args(&[]).unwrap().into_config().unwrap();
        assert_eq!(c.smtp_listen.to_string(), "127.0.0.1:2525");
        assert_eq!(c.http_listen.to_string(), "127.0.0.1:8080");
        assert!(
            c.database_url.starts_with("sqlite://") && c.database_url.ends_with("threadgate.db")
        );
        assert_eq!(c.outbound, Outbound::File);
        assert_eq!(c.tick, Duration::from_secs(15));
        assert_eq!(c.digest_interval, Duration::from_secs(1800));
        assert_eq!(c.auto_close_after, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(c.smtp.max_message_size, 25 * 1024 * 1024);
        assert_eq!(c.reply_domain, "reply.localhost");
        assert_eq!(c.blob_store, BlobStoreSetting::Local);
    }

    #[test]
    fn blob_stores_are_read_and_bad_ones_named() {
        let pg = "postgres://localhost/x";
        let parse = |text: &str, db: &str| BlobStoreSetting::parse("blob-store", text, db);
        assert_eq!(parse("postgres", pg).unwrap(), BlobStoreSetting::Postgres);
        assert_eq!(
            parse("s3://my-bucket/attach/ments/", pg).unwrap(),
            BlobStoreSetting::S3 {
                bucket: "my-bucket".into(),
                prefix: "attach/ments/".into()
            }
        );
        let bare = parse("s3://my.bucket", "sqlite://x").unwrap();
        assert_eq!(bare.to_string(), "s3://my.bucket/");
        for (text, db) in [
            ("postgres", "sqlite://x.db"),
            ("s3://", pg),
            ("s3://Upper", pg),
            ("s3://ok-bucket/a/../b", pg),
            ("s3://ok-bucket/a//b", pg),
            ("file:///tmp", pg),
            ("", pg),
        ] {
            let err = parse(text, db).unwrap_err();
            assert_eq!(err.key, "blob-store", "{text}");
        }
        let err = args(&["--blob-store", "postgres"])
            .unwrap()
            .into_config()
            .unwrap_err();
        assert!(err.to_string().contains("blob-store"), "{err}");
    }

    #[test]
    fn bad_values_name_their_flag() {
        let err = args(&["--tick", "soon"]).unwrap_err().to_string();
        assert!(err.contains("--tick"), "{err}");
        let err = args(&["--smtp-listen", "nowhere"]).unwrap_err().to_string();
        assert!(err.contains("--smtp-listen"), "{err}");
        let err = args(&["--outbound", "carrier-pigeon"])
            .unwrap()
            .into_config()
            .unwrap_err();
        assert_eq!(err.key, "outbound");
        let err = args(&["--from-address", "nope"])
            .unwrap()
            .into_config()
            .unwrap_err();
        assert_eq!(err.key, "from-address");
        let err = args(&["--database-url", "mysql://x"])
            .unwrap()
            .into_config()
            .unwrap_err();
        assert_eq!(err.key, "database-url");
        let err = args(&["--default-time-zone", "Europe/Paname"])
            .unwrap()
            .into_config()
            .unwrap_err();
        assert_eq!(err.key, "default-time-zone");
        let ok = args(&["--default-time-zone", "Europe/Paris"])
            .unwrap()
            .into_config()
            .unwrap();
        assert_eq!(ok.default_time_zone.name(), "Europe/Paris");
    }

    #[test]
    fn relay_urls_carry_optional_credentials() {
        assert_eq!(
            Outbound::parse("smtp://u:p@relay.example:587").unwrap(),
            Outbound::Relay {
                host: "relay.example".into(),
                port: 587,
                credentials: Some(("u".into(), "p".into()))
            }
        );
        assert!(
            !format!("{:?}", Outbound::parse("smtp://u:secret@h:25").unwrap()).contains("secret")
        );
        assert!(Outbound::parse("smtp://host").is_err());
    }

    #[test]
    fn auto_close_after_takes_a_duration() {
        let c = args(&["--auto-close-after", "2h"])
            .unwrap()
            .into_config()
            .unwrap();
        assert_eq!(c.auto_close_after, Duration::from_secs(7200));
        let err = args(&["--auto-close-after", "never"]).unwrap_err();
        assert!(err.to_string().contains("--auto-close-after"), "{err}");
    }

    #[test]
    fn sizes_and_durations_parse_with_units() {
        assert_eq!(parse_size("64K").unwrap(), 65536);
        assert_eq!(parse_size("2MiB").unwrap(), 2 * 1024 * 1024);
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn trusted_relays_are_address_blocks() {
        let net = Network::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.9.9.9".parse().unwrap()));
        let one = Network::parse("::1").unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains("192.0.2.1".parse().unwrap())
        );
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("example.com").is_err());
    }
}
