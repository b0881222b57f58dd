//! # threadgate-load — inbound SMTP throughput of the threadgate gateway
//!
//! Measures how fast the gateway accepts client replies by email: the number
//! of SMTP transactions per second it answers with 2xx, the latency of each
//! transaction (from `MAIL FROM` to the final reply to `DATA`, i.e. until the
//! server says the message is durably stored), the server's CPU time per
//! message (user + system while the replies are sent), and its peak resident
//! memory (`VmHWM`, plus the largest `VmRSS` sampled every 100 ms).
//!
//! It is a black-box client of the server's external contract (JSON API under
//! `/api/v1`, SMTP, outbox of `.eml` files) and does not link the `threadgate`
//! library, so it stays valid while the server evolves.
//!
//! What one run does:
//! 1. starts `threadgate serve` on free loopback ports with a fresh temporary
//!    data dir and a random admin token (or targets a running server, see
//!    `--api-url`);
//! 2. creates one internal agent, N clients and N conversations (agent + one
//!    client each), posts one agent message in each and waits for the
//!    notifications in the outbox, taking each client's personal reply
//!    address from `Reply-To` and the notification's `Message-ID`;
//! 3. sends M realistic replies (multipart/alternative text + HTML with the
//!    quoted notification, padded to about `--size` bytes, optionally a PDF
//!    attachment) from the clients' own addresses to their reply addresses
//!    over S parallel persistent SMTP sessions (EHLO once, then
//!    MAIL/RCPT/DATA per message);
//! 4. checks through the API that the conversations hold exactly as many
//!    client messages as the server accepted, prints a report (or `--json`),
//!    and stops the server with SIGTERM.
//!
//! The exit status is non-zero on any SMTP error or verification mismatch.
//!
//! Build the server first (`cargo run --bin threadgate-load` builds only the
//! load tool), then run, SQLite (default backend, temporary data dir):
//!
//! ```text
//! cargo build --release --bin threadgate
//! cargo run --release --bin threadgate-load -- --conversations 50 --messages 2000 --sessions 20 --size 4096
//! ```
//!
//! PostgreSQL (server flags are passed through with `--server-arg`):
//!
//! ```text
//! cargo run --release --bin threadgate-load -- --conversations 50 --messages 2000 --sessions 20 --size 4096 \
//!     --server-arg=--database-url=postgres://postgres@127.0.0.1:5432/loadtest
//! ```
//!
//! Against a server that is already running (RSS only with `--server-pid`):
//!
//! ```text
//! cargo run --release --bin threadgate-load -- --api-url http://127.0.0.1:8080 \
//!     --smtp-addr 127.0.0.1:2525 --admin-token "$TOKEN" --outbox-dir ./data/outbox --server-pid 12345
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio::time::{sleep, timeout};

/// Bound on every single network read/write/connect and HTTP request.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the spawned server may take to answer the API and SMTP.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for all notifications to show up in the outbox.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long verification may wait for stored messages to become visible.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest SMTP reply line read at once.
const MAX_SMTP_LINE: u64 = 8192;
/// Most lines accepted in one multi-line SMTP reply.
const MAX_REPLY_LINES: usize = 200;
/// Largest HTTP response read.
const MAX_HTTP_RESPONSE: usize = 64 << 20;
/// How many error replies are kept to print.
const KEEP_ERRORS: usize = 5;
/// Reconnect attempts per session after a broken connection.
const MAX_RECONNECTS: u32 = 3;
const HELO_NAME: &str = "mail.example.test";

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
struct Args {
    /// Number of conversations (each: the agent plus one distinct client) the replies are spread over
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    conversations: u32,

    /// Total number of email replies to send
    #[arg(long, default_value_t = 2000)]
    messages: u64,

    /// Number of parallel SMTP sessions; each is one persistent connection sending its share sequentially
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    sessions: u32,

    /// Approximate size in bytes of each reply (headers, text and HTML parts; attachment not included)
    #[arg(long, default_value_t = 4096, value_name = "BYTES")]
    size: usize,

    /// Size in bytes of a PDF attachment added (base64-encoded) to every reply; 0 = none
    #[arg(long, default_value_t = 0, value_name = "BYTES")]
    attachment_size: usize,

    /// Server binary to spawn [default: `threadgate` next to this executable]
    #[arg(long, value_name = "PATH", conflicts_with = "api_url")]
    server_bin: Option<PathBuf>,

    /// Extra argument passed to `threadgate serve` (repeatable), e.g. --server-arg=--database-url=postgres://…
    #[arg(
        long = "server-arg",
        value_name = "ARG",
        allow_hyphen_values = true,
        conflicts_with = "api_url"
    )]
    server_args: Vec<String>,

    /// Scheduler tick given to the spawned server (like 200ms, 1s)
    #[arg(long, default_value = "200ms", value_name = "DURATION")]
    tick: String,

    /// Reply domain given to the spawned server
    #[arg(long, default_value = "reply.localhost", value_name = "DOMAIN")]
    reply_domain: String,

    /// Keep the spawned server's temporary data dir (database, outbox, server.log) instead of removing it
    #[arg(long, conflicts_with = "api_url")]
    keep_data: bool,

    /// Target an already running server: base URL of its HTTP listener (http://HOST:PORT); needs --smtp-addr, --admin-token, --outbox-dir
    #[arg(long, value_name = "URL", requires_all = ["smtp_addr", "admin_token", "outbox_dir"])]
    api_url: Option<String>,

    /// SMTP listener (HOST:PORT) of the running server (with --api-url)
    #[arg(long, value_name = "HOST:PORT", requires = "api_url")]
    smtp_addr: Option<String>,

    /// Admin bearer token of the running server (with --api-url)
    #[arg(long, value_name = "TOKEN", requires = "api_url")]
    admin_token: Option<String>,

    /// Outbox directory (`<data-dir>/outbox`) of the running server (with --api-url)
    #[arg(long, value_name = "DIR", requires = "api_url")]
    outbox_dir: Option<PathBuf>,

    /// PID of the running server, to report its memory (with --api-url or --peer)
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,

    /// Benchmark any SMTP server at HOST:PORT (Postfix, Haraka, aiosmtpd, smtp-sink, …) with the
    /// same replies, sessions and timing: no API, no verification; every message goes from
    /// --peer-from to --peer-to
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["api_url", "idle"])]
    peer: Option<String>,

    /// Envelope sender and From of the messages sent with --peer
    #[arg(long, default_value = "client@example.test", value_name = "ADDRESS")]
    peer_from: String,

    /// Envelope recipient and To of the messages sent with --peer
    #[arg(long, default_value = "inbox@example.test", value_name = "ADDRESS")]
    peer_to: String,

    /// Skip checking through the API that every accepted reply was stored
    #[arg(long)]
    no_verify: bool,

    /// Print the report as one JSON object on stdout instead of text
    #[arg(long)]
    json: bool,

    /// Memory mode: instead of sending mail, hold this many idle SMTP connections open (each
    /// greeted, then silent) and report the server's RSS with and without them. The spawned
    /// server gets connection caps above it; raise `ulimit -n` past it on both sides
    #[arg(
        long,
        default_value_t = 0,
        value_name = "CONNECTIONS",
        conflicts_with = "api_url"
    )]
    idle: u32,

    /// Seconds to hold the idle connections (with --idle)
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    hold: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("threadgate-load: error: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("threadgate-load: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn progress(msg: impl fmt::Display) {
    eprintln!("threadgate-load: {msg}");
}

// ---------------------------------------------------------------------------
// Orchestration
// ---------------------------------------------------------------------------

/// Where the server is and how to reach it.
struct Target {
    api: Api,
    smtp_addr: String,
    outbox: PathBuf,
    pid: Option<u32>,
    backend: String,
}

async fn run(args: Args) -> Result<bool> {
    if args.idle > 0 {
        return run_idle(args).await;
    }
    let run_id = random_hex(&mut rand::rng(), 8);
    let (target, mut server) = match (&args.api_url, &args.peer) {
        (_, Some(peer)) => {
            let target = Target {
                // Never called in peer mode.
                api: Api::new("http://127.0.0.1:9", "unused")?,
                smtp_addr: peer.clone(),
                outbox: PathBuf::new(),
                pid: args.server_pid,
                backend: format!("peer {peer}"),
            };
            (target, None)
        }
        (Some(url), None) => {
            let (Some(smtp), Some(token), Some(outbox)) =
                (&args.smtp_addr, &args.admin_token, &args.outbox_dir)
            else {
                bail!("--api-url needs --smtp-addr, --admin-token and --outbox-dir");
            };
            let target = Target {
                api: Api::new(url, token)?,
                smtp_addr: smtp.clone(),
                outbox: outbox.clone(),
                pid: args.server_pid,
                backend: "external".to_string(),
            };
            (target, None)
        }
        (None, None) => {
            let (target, server) = Server::spawn(&args, &run_id).await?;
            (target, Some(server))
        }
    };

    // Sample the server's RSS for the whole time it is under our watch.
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = target.pid.map(|pid| {
        let stop = stop_sampling.clone();
        tokio::spawn(async move {
            let mut max = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = proc_status_kib(pid, "VmRSS") {
                    max = max.max(rss);
                }
                sleep(Duration::from_millis(100)).await;
            }
            max
        })
    });

    let outcome = drive(&args, &target, server.as_mut(), &run_id).await;

    stop_sampling.store(true, Ordering::Relaxed);
    let sampled_max_kib = match sampler {
        Some(handle) => handle.await.ok().filter(|&m| m > 0),
        None => None,
    };
    let hwm_kib = target.pid.and_then(|pid| proc_status_kib(pid, "VmHWM"));

    let mut warnings = Vec::new();
    if let Some(server) = server.as_mut() {
        if outcome.is_err() {
            server.print_log_tail(30);
        }
        if let Some(w) = server.shutdown().await {
            warnings.push(w);
        }
        if args.keep_data {
            progress(format_args!(
                "data dir kept: {} (server log: {})",
                server.data_dir.display(),
                server.log_path.display()
            ));
        } else if let Err(e) = std::fs::remove_dir_all(&server.data_dir) {
            warnings.push(format!(
                "could not remove data dir {}: {e}",
                server.data_dir.display()
            ));
        }
    }
    for w in &warnings {
        progress(format_args!("warning: {w}"));
    }

    let mut report = outcome?;
    // VmHWM is the kernel's high-water mark, but its RSS counters are synced
    // lazily, so it can trail a sampled VmRSS slightly: report the larger.
    report.server_peak_rss_bytes = hwm_kib.max(sampled_max_kib).map(|k| k * 1024);
    report.server_max_sampled_rss_bytes = sampled_max_kib.map(|k| k * 1024);
    report.warnings = warnings;
    report.ok = report.errors == 0 && report.verified.as_ref().is_none_or(|v| v.ok);

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render_text());
    }
    Ok(report.ok)
}

/// Prepare, load and verify; the server is shut down by the caller.
/// `--idle N`: the server's memory with N idle connections, each greeted and then silent
/// (what a botnet holding connections open costs), and per connection.
async fn run_idle(mut args: Args) -> Result<bool> {
    let n = args.idle as usize;
    let cap = (n + 100).to_string();
    args.server_args
        .push(format!("--smtp-max-connections={cap}"));
    args.server_args
        .push(format!("--smtp-max-connections-per-ip={cap}"));
    // Long enough that no idle timeout fires while they are held.
    args.server_args.push("--smtp-idle-timeout=1h".to_string());
    let run_id = random_hex(&mut rand::rng(), 8);
    let (target, mut server) = Server::spawn(&args, &run_id).await?;
    server.wait_ready(&target).await?;
    let pid = target.pid.context("the spawned server has no pid")?;
    sleep(Duration::from_millis(300)).await;
    let before_kib = proc_status_kib(pid, "VmRSS").unwrap_or(0);

    let started = Instant::now();
    let mut held = Vec::with_capacity(n);
    let mut failures = 0usize;
    let mut first_error = None;
    // A few hundred handshakes at a time: the listen backlog is finite.
    let mut pending = tokio::task::JoinSet::new();
    let mut next = 0usize;
    while next < n || !pending.is_empty() {
        while next < n && pending.len() < 256 {
            let addr = target.smtp_addr.clone();
            pending.spawn(async move {
                let stream =
                    tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&addr))
                        .await
                        .map_err(|_| anyhow::anyhow!("connect timed out"))??;
                let mut reader = BufReader::new(stream);
                let mut greeting = String::new();
                tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut greeting))
                    .await
                    .map_err(|_| anyhow::anyhow!("no greeting within 10 s"))??;
                anyhow::ensure!(greeting.starts_with("220"), "greeted with {greeting:?}");
                Ok::<_, anyhow::Error>(reader)
            });
            next += 1;
        }
        if let Some(done) = pending.join_next().await {
            match done {
                Ok(Ok(conn)) => held.push(conn),
                Ok(Err(e)) => {
                    failures += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
                Err(e) => {
                    failures += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
    let open_s = started.elapsed().as_secs_f64();
    let mut peak_kib = 0;
    let hold_until = Instant::now() + Duration::from_secs(args.hold);
    while Instant::now() < hold_until {
        peak_kib = peak_kib.max(proc_status_kib(pid, "VmRSS").unwrap_or(0));
        sleep(Duration::from_millis(200)).await;
    }
    // Still there? A closed connection reads EOF at once.
    let mut alive = 0usize;
    for conn in held.iter_mut() {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(1), conn.get_mut().peek(&mut byte)).await {
            Err(_) => alive += 1,
            Ok(Ok(n)) if n > 0 => alive += 1,
            _ => {}
        }
    }
    drop(held);
    let hwm_kib = proc_status_kib(pid, "VmHWM").unwrap_or(0);
    if let Some(w) = server.shutdown().await {
        progress(format_args!("warning: {w}"));
    }
    let _ = std::fs::remove_dir_all(&server.data_dir);
    let per_conn = (peak_kib.saturating_sub(before_kib)) as f64 / n.max(1) as f64;
    let ok = failures == 0 && alive == n;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "ok": ok, "idle_connections": n, "opened_in_s": open_s, "failures": failures,
                "alive_after_hold": alive, "server_rss_before_bytes": before_kib * 1024,
                "server_rss_with_idle_bytes": peak_kib * 1024, "server_peak_rss_bytes": hwm_kib.max(peak_kib) * 1024,
                "per_connection_bytes": (per_conn * 1024.0) as u64, "first_error": first_error,
            })
        );
    } else {
        println!(
            "threadgate-load: {n} idle SMTP connections, backend {}",
            target.backend
        );
        println!(
            "  opened and greeted in {open_s:.2} s, failures: {failures}, still open after {} s: {alive}",
            args.hold
        );
        println!(
            "  server RSS: {:.1} MiB before, {:.1} MiB with them ({per_conn:.1} KiB per connection), peak {:.1} MiB",
            before_kib as f64 / 1024.0,
            peak_kib as f64 / 1024.0,
            hwm_kib.max(peak_kib) as f64 / 1024.0
        );
        if let Some(e) = &first_error {
            println!("  first error: {e}");
        }
    }
    Ok(ok)
}

async fn drive(
    args: &Args,
    target: &Target,
    server: Option<&mut Server>,
    run_id: &str,
) -> Result<Report> {
    if let Some(server) = server {
        server.wait_ready(target).await?;
    }

    let prep_start = Instant::now();
    let prepared = match &args.peer {
        Some(_) => peer_prepared(args),
        None => prepare(args, target, run_id).await?,
    };
    let prepare_s = prep_start.elapsed().as_secs_f64();
    progress(format_args!(
        "prepared {} conversations in {prepare_s:.2} s; sending {} replies over {} sessions",
        prepared.convs.len(),
        args.messages,
        (args.sessions as u64).min(args.messages).max(1)
    ));

    let cpu_before = target.pid.and_then(proc_cpu_seconds);
    let load = run_load(args, target, &prepared, run_id).await;
    let server_cpu_s = target
        .pid
        .and_then(proc_cpu_seconds)
        .zip(cpu_before)
        .map(|(after, before)| after - before);

    let verified = if args.no_verify || args.peer.is_some() {
        None
    } else {
        Some(verify(&target.api, &prepared, &load.accepted_per_conv, run_id).await?)
    };

    let mut latencies: Vec<f64> = load
        .latencies
        .iter()
        .map(|d| d.as_secs_f64() * 1e3)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let elapsed_s = load.elapsed.as_secs_f64();
    let mean = if latencies.is_empty() {
        0.0
    } else {
        latencies.iter().sum::<f64>() / latencies.len() as f64
    };
    Ok(Report {
        ok: false,
        backend: target.backend.clone(),
        conversations: args.conversations,
        messages: args.messages,
        sessions: load.sessions,
        size: args.size,
        attachment_size: args.attachment_size,
        accepted: load.accepted,
        errors: load.errors,
        reconnects: load.reconnects,
        prepare_s,
        elapsed_s,
        throughput_per_s: if elapsed_s > 0.0 {
            load.accepted as f64 / elapsed_s
        } else {
            0.0
        },
        latency_ms: LatencyReport {
            p50: percentile(&latencies, 50.0),
            p95: percentile(&latencies, 95.0),
            p99: percentile(&latencies, 99.0),
            max: latencies.last().copied().unwrap_or(0.0),
            mean,
        },
        server_cpu_ms_per_message: server_cpu_s
            .filter(|_| load.accepted > 0)
            .map(|cpu| cpu * 1e3 / load.accepted as f64),
        server_peak_rss_bytes: None,
        server_max_sampled_rss_bytes: None,
        verified,
        first_errors: load.first_errors,
        warnings: Vec::new(),
    })
}

// ---------------------------------------------------------------------------
// Spawned server
// ---------------------------------------------------------------------------

struct Server {
    child: tokio::process::Child,
    pid: u32,
    data_dir: PathBuf,
    log_path: PathBuf,
    stopped: bool,
}

impl Server {
    async fn spawn(args: &Args, run_id: &str) -> Result<(Target, Server)> {
        let bin = match &args.server_bin {
            Some(p) => p.clone(),
            None => std::env::current_exe()
                .context("cannot locate the running executable")?
                .with_file_name("threadgate"),
        };
        if !bin.is_file() {
            bail!(
                "server binary not found at {} — build it with `cargo build --release --bin threadgate` or pass --server-bin",
                bin.display()
            );
        }
        let data_dir = std::env::temp_dir().join(format!("threadgate-load-{run_id}"));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        let log_path = data_dir.join("server.log");
        let (smtp_port, http_port) = free_ports()?;
        let token = random_hex(&mut rand::rng(), 32);

        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let log_err = log.try_clone()?;
        let mut cmd = tokio::process::Command::new(&bin);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--smtp-listen")
            .arg(format!("127.0.0.1:{smtp_port}"))
            .arg("--http-listen")
            .arg(format!("127.0.0.1:{http_port}"))
            .arg("--admin-token")
            .arg(&token)
            .arg("--reply-domain")
            .arg(&args.reply_domain)
            .arg("--tick")
            .arg(&args.tick)
            .args(&args.server_args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true);
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&data_dir);
                return Err(e).with_context(|| format!("cannot start {}", bin.display()));
            }
        };
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("server exited immediately"))?;
        progress(format_args!(
            "started {} (pid {pid}) smtp 127.0.0.1:{smtp_port} http 127.0.0.1:{http_port} data {}",
            bin.display(),
            data_dir.display()
        ));

        // The server also reads its database URL from the environment.
        let env_url = std::env::var("THREADGATE_DATABASE_URL").unwrap_or_default();
        let backend = if args.server_args.iter().any(|a| a.contains("postgres"))
            || env_url.starts_with("postgres")
        {
            "postgres"
        } else {
            "sqlite"
        };
        let target = Target {
            api: Api::new(&format!("http://127.0.0.1:{http_port}"), &token)?,
            smtp_addr: format!("127.0.0.1:{smtp_port}"),
            outbox: data_dir.join("outbox"),
            pid: Some(pid),
            backend: backend.to_string(),
        };
        let server = Server {
            child,
            pid,
            data_dir,
            log_path,
            stopped: false,
        };
        Ok((target, server))
    }

    /// Poll the API (`GET /inbound?limit=1` → 200) and the SMTP greeting.
    async fn wait_ready(&mut self, target: &Target) -> Result<()> {
        let start = Instant::now();
        let mut last_err = String::from("no attempt");
        let mut api_ok = false;
        while start.elapsed() < READY_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                self.stopped = true;
                bail!("server exited during startup with {status} (its log is printed above)");
            }
            if !api_ok {
                match timeout(
                    Duration::from_secs(2),
                    target.api.call("GET", "/inbound?limit=1", None),
                )
                .await
                {
                    Ok(Ok((200, _))) => api_ok = true,
                    Ok(Ok((status, body))) => {
                        last_err = format!("API answered {status}: {}", short(&body.to_string()))
                    }
                    Ok(Err(e)) => last_err = format!("API: {e:#}"),
                    Err(_) => last_err = "API: no answer within 2 s".into(),
                }
            }
            if api_ok {
                match SmtpClient::connect(&target.smtp_addr, HELO_NAME).await {
                    Ok(c) => {
                        c.quit().await;
                        progress(format_args!(
                            "server ready after {:.2} s",
                            start.elapsed().as_secs_f64()
                        ));
                        return Ok(());
                    }
                    Err(e) => last_err = format!("SMTP: {e:#}"),
                }
            }
            sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "server not ready within {} s ({last_err})",
            READY_TIMEOUT.as_secs()
        )
    }

    /// SIGTERM, wait up to 10 s, then SIGKILL. Returns a warning if unclean.
    async fn shutdown(&mut self) -> Option<String> {
        if self.stopped {
            return None;
        }
        self.stopped = true;
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(format!("server had already exited ({status})"));
        }
        let kill = tokio::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if !matches!(kill, Ok(s) if s.success()) {
            let _ = self.child.kill().await;
            return Some("could not send SIGTERM to the server; killed it".into());
        }
        match timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(Ok(status)) if status.success() => None,
            Ok(Ok(status)) => Some(format!("server exited with {status} after SIGTERM")),
            Ok(Err(e)) => Some(format!("waiting for server: {e}")),
            Err(_) => {
                let _ = self.child.kill().await;
                Some("server did not exit within 10 s of SIGTERM; killed it".into())
            }
        }
    }

    fn print_log_tail(&self, lines: usize) {
        let Ok(text) = std::fs::read(&self.log_path) else {
            return;
        };
        let text = String::from_utf8_lossy(&text);
        let all: Vec<&str> = text.lines().collect();
        let from = all.len().saturating_sub(lines);
        eprintln!(
            "--- last {} lines of {} ---",
            all.len() - from,
            self.log_path.display()
        );
        for l in &all[from..] {
            eprintln!("{l}");
        }
        eprintln!("---");
    }
}

/// Two distinct free loopback ports (both listeners held at once, then dropped).
fn free_ports() -> Result<(u16, u16)> {
    let a = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    let b = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// A `kB` field (VmRSS, VmHWM) of `/proc/<pid>/status`, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, field)
}

/// User + system CPU time of a process, all its threads, in seconds (`/proc/<pid>/stat`
/// fields 14 and 15, in clock ticks: 100 per second on Linux).
fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu_ticks(&stat).map(|ticks| ticks as f64 / 100.0)
}

fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first after ')'
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

// ---------------------------------------------------------------------------
// Preparation: people, conversations, notifications
// ---------------------------------------------------------------------------

/// What a client needs to reply to its notification.
#[derive(Debug, Clone)]
struct ClientTarget {
    name: String,
    email: String,
    reply_addr: String,
    notif_message_id: Option<String>,
    subject: String,
    quoted_from: String,
    quoted_date: String,
    quoted_text: String,
}

struct Conv {
    id: Value,
    client_id: Value,
}

struct Prepared {
    convs: Vec<Conv>,
    clients: Vec<ClientTarget>,
}

const FIRST_NAMES: &[&str] = &[
    "Maria", "James", "Aiko", "Lukas", "Fatima", "Chen", "Olga", "Diego", "Priya", "Tom", "Amara",
    "Henrik", "Sofia", "Kwame", "Elena", "Ravi",
];
const LAST_NAMES: &[&str] = &[
    "Lopez", "Smith", "Tanaka", "Müller", "Haddad", "Wei", "Ivanova", "Garcia", "Sharma", "Brown",
    "Okafor", "Larsen", "Rossi", "Mensah", "Popescu", "Nair",
];
const TOPICS: &[&str] = &[
    "Invoice 2024-117 question",
    "Delivery date for the spring order",
    "Contract renewal",
    "Access to the reporting portal",
    "Updated shipping address",
    "Quote for additional licences",
    "Onboarding call next week",
    "Refund for duplicate payment",
];

/// `--peer`: the same realistic replies (quoted history, HTML alternative), all from
/// --peer-from to --peer-to, as if answering one notification per conversation.
fn peer_prepared(args: &Args) -> Prepared {
    let clients = (0..args.conversations as usize)
        .map(|i| ClientTarget {
            name: format!(
                "{} {}",
                FIRST_NAMES[i % FIRST_NAMES.len()],
                LAST_NAMES[i % LAST_NAMES.len()]
            ),
            email: args.peer_from.clone(),
            reply_addr: args.peer_to.clone(),
            notif_message_id: Some(format!("notification.{i}@example.test")),
            subject: TOPICS[i % TOPICS.len()].to_string(),
            quoted_from: "Alex Agent".to_string(),
            quoted_date: "Mon, 23 Nov 2026 10:00:00 +0000".to_string(),
            quoted_text: "Thanks for your message. Could you send us the details of the order, \
                          the invoice number and the delivery address?"
                .to_string(),
        })
        .collect();
    Prepared {
        convs: Vec::new(),
        clients,
    }
}

async fn prepare(args: &Args, target: &Target, run_id: &str) -> Result<Prepared> {
    let api = &target.api;
    let agent_email = format!("agent-{run_id}@example.test");
    let agent = api
        .post(
            "/people",
            &json!({"email": agent_email, "name": "Alex Agent", "role": "internal"}),
        )
        .await
        .context("creating the agent")?;
    let agent_id =
        extract_id(&agent).ok_or_else(|| anyhow!("no id in POST /people answer: {agent}"))?;

    let n = args.conversations as usize;
    let mut convs = Vec::with_capacity(n);
    let mut by_email: HashMap<String, (usize, String)> = HashMap::new();
    for i in 0..n {
        let name = format!(
            "{} {}",
            FIRST_NAMES[i % FIRST_NAMES.len()],
            LAST_NAMES[(i / FIRST_NAMES.len() + i) % LAST_NAMES.len()]
        );
        let email = format!("client-{i}-{run_id}@example.test");
        let person = api
            .post(
                "/people",
                &json!({"email": email, "name": name, "role": "client"}),
            )
            .await
            .with_context(|| format!("creating client {i}"))?;
        let client_id =
            extract_id(&person).ok_or_else(|| anyhow!("no id in POST /people answer: {person}"))?;
        let subject = format!("{} ({run_id}/{i})", TOPICS[i % TOPICS.len()]);
        let conv = api
            .post(
                "/conversations",
                &json!({
                    "subject": subject,
                    "created_by": agent_id,
                    "participants": [agent_id, client_id],
                }),
            )
            .await
            .with_context(|| format!("creating conversation {i}"))?;
        let conv_id = extract_id(&conv)
            .ok_or_else(|| anyhow!("no id in POST /conversations answer: {conv}"))?;
        let body = format!(
            "Hello {first},\n\nthanks for getting in touch. I have looked into your request and \
             need a couple of details before I can move forward: could you confirm the order \
             number and the billing contact on your side?\n\nBest regards,\nAlex",
            first = name.split_whitespace().next().unwrap_or("there")
        );
        api.post(
            &format!("/conversations/{}/messages", id_path(&conv_id)),
            &json!({"author_id": agent_id, "body": body, "kind": "message"}),
        )
        .await
        .with_context(|| format!("posting the agent message in conversation {i}"))?;
        by_email.insert(email.to_ascii_lowercase(), (i, name));
        convs.push(Conv {
            id: conv_id,
            client_id,
        });
    }

    let found = collect_notifications(&target.outbox, &by_email, n).await?;
    let clients = found
        .into_iter()
        .enumerate()
        .map(|(i, c)| c.ok_or_else(|| anyhow!("internal: client {i} missing")))
        .collect::<Result<Vec<_>>>()?;
    Ok(Prepared { convs, clients })
}

/// Poll the outbox until every client has its notification (or time out).
async fn collect_notifications(
    outbox: &Path,
    by_email: &HashMap<String, (usize, String)>,
    n: usize,
) -> Result<Vec<Option<ClientTarget>>> {
    let start = Instant::now();
    let mut found: Vec<Option<ClientTarget>> = vec![None; n];
    let mut missing = n;
    let mut done_files: HashSet<PathBuf> = HashSet::new();
    loop {
        if let Ok(entries) = std::fs::read_dir(outbox) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().and_then(|e| e.to_str()) != Some("eml")
                    || done_files.contains(&path)
                {
                    continue;
                }
                let Ok(raw) = std::fs::read(&path) else {
                    continue;
                };
                // A file that does not parse (yet) may still be being written: retry later.
                let Some(note) = parse_notification(&raw) else {
                    continue;
                };
                done_files.insert(path);
                if let Some((i, name)) = by_email.get(&note.to.to_ascii_lowercase())
                    && found[*i].is_none()
                {
                    found[*i] = Some(ClientTarget {
                        name: name.clone(),
                        email: note.to.clone(),
                        reply_addr: note.reply_to,
                        notif_message_id: note.message_id,
                        subject: note.subject,
                        quoted_from: note.from,
                        quoted_date: note.date,
                        quoted_text: note.text,
                    });
                    missing -= 1;
                }
            }
        }
        if missing == 0 {
            progress(format_args!(
                "all {n} notifications in the outbox after {:.2} s",
                start.elapsed().as_secs_f64()
            ));
            return Ok(found);
        }
        if start.elapsed() >= NOTIFY_TIMEOUT {
            let example = found
                .iter()
                .position(Option::is_none)
                .and_then(|i| by_email.iter().find(|(_, (j, _))| *j == i))
                .map(|(e, _)| e.clone())
                .unwrap_or_default();
            bail!(
                "only {} of {n} client notifications (with To and Reply-To) appeared in {} within {} s (e.g. none for {example}); {} .eml files seen",
                n - missing,
                outbox.display(),
                NOTIFY_TIMEOUT.as_secs(),
                done_files.len()
            );
        }
        sleep(Duration::from_millis(200)).await;
    }
}

#[derive(Debug)]
struct Notification {
    to: String,
    reply_to: String,
    message_id: Option<String>,
    subject: String,
    from: String,
    date: String,
    text: String,
}

/// The fields of an outbox email a reply needs; `None` if To/Reply-To are missing.
fn parse_notification(raw: &[u8]) -> Option<Notification> {
    let msg = mail_parser::MessageParser::default().parse(raw)?;
    let to = msg.to()?.first()?.address()?.to_string();
    let reply_to = msg.reply_to()?.first()?.address()?.to_string();
    if !reply_to.contains('@') {
        return None;
    }
    let from = match msg.from().and_then(|a| a.first()) {
        Some(addr) => match (addr.name(), addr.address()) {
            (Some(name), Some(email)) => format!("{name} <{email}>"),
            (None, Some(email)) => format!("<{email}>"),
            _ => "Agent".to_string(),
        },
        None => "Agent".to_string(),
    };
    let date = msg
        .date()
        .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0))
        .unwrap_or_else(chrono::Utc::now);
    Some(Notification {
        to,
        reply_to,
        message_id: msg.message_id().map(str::to_string),
        subject: msg.subject().unwrap_or("(no subject)").to_string(),
        from,
        date: date.format("%a, %b %-d, %Y at %-I:%M %p").to_string(),
        text: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
    })
}

/// The id of a created object: `{"id": …}` or `{"<something>": {"id": …}}`.
fn extract_id(v: &Value) -> Option<Value> {
    if let Some(id) = v.get("id") {
        return Some(id.clone());
    }
    v.as_object()?
        .values()
        .find_map(|inner| inner.get("id").cloned())
}

/// An id as it appears in a URL path.
fn id_path(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------

struct LoadShared {
    clients: Vec<ClientTarget>,
    run_id: String,
    seed: u64,
    size: usize,
    attachment_size: usize,
}

#[derive(Default)]
struct SessionResult {
    latencies: Vec<Duration>,
    reconnects: u64,
    accepted_per_conv: Vec<u64>,
    errors: u64,
    first_errors: Vec<String>,
}

impl SessionResult {
    fn error(&mut self, msg: String) {
        self.errors += 1;
        if self.first_errors.len() < KEEP_ERRORS {
            self.first_errors.push(msg);
        }
    }
}

struct LoadResult {
    sessions: u32,
    reconnects: u64,
    accepted: u64,
    errors: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    accepted_per_conv: Vec<u64>,
    first_errors: Vec<String>,
}

async fn run_load(args: &Args, target: &Target, prepared: &Prepared, run_id: &str) -> LoadResult {
    let n = prepared.clients.len();
    let sessions = (args.sessions as u64).min(args.messages).max(1) as usize;
    let shared = Arc::new(LoadShared {
        clients: prepared.clients.clone(),
        run_id: run_id.to_string(),
        seed: rand::random(),
        size: args.size,
        attachment_size: args.attachment_size,
    });
    // Message k goes to session k % S and conversation k % N.
    let mut jobs: Vec<Vec<u64>> = vec![Vec::new(); sessions];
    for k in 0..args.messages {
        jobs[(k % sessions as u64) as usize].push(k);
    }
    let barrier = Arc::new(Barrier::new(sessions + 1));
    let mut handles = Vec::with_capacity(sessions);
    for (idx, jobs) in jobs.into_iter().enumerate() {
        handles.push(tokio::spawn(run_session(
            idx,
            target.smtp_addr.clone(),
            jobs,
            shared.clone(),
            barrier.clone(),
            n,
        )));
    }
    // All sessions are connected (EHLO done) when the barrier opens.
    barrier.wait().await;
    let start = Instant::now();
    let mut total = LoadResult {
        sessions: sessions as u32,
        reconnects: 0,
        accepted: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(args.messages as usize),
        accepted_per_conv: vec![0; n],
        first_errors: Vec::new(),
    };
    for h in handles {
        match h.await {
            Ok(r) => {
                total.accepted += r.latencies.len() as u64;
                total.latencies.extend(r.latencies);
                for (t, a) in total.accepted_per_conv.iter_mut().zip(r.accepted_per_conv) {
                    *t += a;
                }
                total.errors += r.errors;
                total.reconnects += r.reconnects;
                for e in r.first_errors {
                    if total.first_errors.len() < KEEP_ERRORS {
                        total.first_errors.push(e);
                    }
                }
            }
            Err(e) => {
                total.errors += 1;
                total.first_errors.push(format!("session task failed: {e}"));
            }
        }
    }
    total.elapsed = start.elapsed();
    total
}

async fn run_session(
    idx: usize,
    smtp_addr: String,
    jobs: Vec<u64>,
    shared: Arc<LoadShared>,
    barrier: Arc<Barrier>,
    n: usize,
) -> SessionResult {
    let mut res = SessionResult {
        accepted_per_conv: vec![0; n],
        ..SessionResult::default()
    };
    let mut rng =
        StdRng::seed_from_u64(shared.seed ^ (idx as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let first = SmtpClient::connect(&smtp_addr, HELO_NAME).await;
    barrier.wait().await;
    let mut conn = match first {
        Ok(c) => Some(c),
        Err(e) => {
            res.error(format!("session {idx}: connect: {e:#}"));
            None
        }
    };
    // Connection failures (broken connection, failed connect) so far; past
    // MAX_RECONNECTS the session gives up and counts its remaining messages
    // as errors. A 421 "reconnect" at MAIL FROM is not a failure: like an
    // MTA, the session reconnects and retries that message once.
    let mut failures = u32::from(conn.is_none());
    for k in jobs {
        let ci = (k % n as u64) as usize;
        let client = &shared.clients[ci];
        let message_id = format!(
            "load.{}.{k}.{}@mail.example.test",
            shared.run_id,
            random_hex(&mut rng, 10)
        );
        let date = chrono::Utc::now().to_rfc2822();
        let spec = ReplySpec {
            from_name: &client.name,
            from_email: &client.email,
            to: &client.reply_addr,
            subject: &client.subject,
            in_reply_to: client.notif_message_id.as_deref(),
            quoted_from: &client.quoted_from,
            quoted_date: &client.quoted_date,
            quoted_text: &client.quoted_text,
            message_id: &message_id,
            date: &date,
            size: shared.size,
            attachment_size: shared.attachment_size,
            seq: k,
        };
        let data = dot_stuff(&build_reply(&spec, &mut rng));
        let mut attempts = 0;
        loop {
            attempts += 1;
            if conn.is_none() {
                if failures > MAX_RECONNECTS {
                    res.error(format!(
                        "session {idx}: message {k} not sent (session gave up after {failures} connection failures)"
                    ));
                    break;
                }
                match SmtpClient::connect(&smtp_addr, HELO_NAME).await {
                    Ok(c) => {
                        res.reconnects += 1;
                        conn = Some(c);
                    }
                    Err(e) => {
                        failures += 1;
                        res.error(format!("session {idx}: reconnect: {e:#}"));
                        break;
                    }
                }
            }
            let Some(c) = conn.as_mut() else {
                break;
            };
            match c.send_mail(&client.email, &client.reply_addr, &data).await {
                Ok(TxOutcome::Accepted(latency)) => {
                    res.latencies.push(latency);
                    res.accepted_per_conv[ci] += 1;
                }
                Ok(TxOutcome::Reconnect(reply)) => {
                    conn = None;
                    if attempts < 2 {
                        continue;
                    }
                    res.error(format!("MAIL FROM: {reply} (again after reconnecting)"));
                }
                Ok(TxOutcome::Rejected { stage, reply }) => {
                    res.error(format!("{stage}: {reply}"));
                }
                Err(e) => {
                    failures += 1;
                    res.error(format!("session {idx}: {e:#}"));
                    conn = None;
                }
            }
            break;
        }
    }
    if let Some(c) = conn {
        c.quit().await;
    }
    res
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

#[derive(Serialize, Debug)]
struct VerifyReport {
    expected: u64,
    stored: u64,
    ok: bool,
    detail: Option<String>,
}

async fn verify(
    api: &Api,
    prepared: &Prepared,
    expected: &[u64],
    run_id: &str,
) -> Result<VerifyReport> {
    let start = Instant::now();
    let want: u64 = expected.iter().sum();
    loop {
        let mut stored = Vec::with_capacity(prepared.convs.len());
        for conv in &prepared.convs {
            let v = api
                .get(&format!("/conversations/{}/messages", id_path(&conv.id)))
                .await?;
            let msgs = v
                .get("messages")
                .and_then(Value::as_array)
                .or_else(|| v.as_array())
                .ok_or_else(|| {
                    anyhow!(
                        "GET /conversations/…/messages: no messages array in {}",
                        short(&v.to_string())
                    )
                })?;
            stored.push(count_client_messages(msgs, &conv.client_id));
        }
        let got: u64 = stored.iter().sum();
        let equal = stored.as_slice() == expected;
        if equal || got > want || start.elapsed() >= VERIFY_TIMEOUT {
            let detail = if equal {
                None
            } else {
                let bad = stored.iter().zip(expected).filter(|(s, e)| s != e).count();
                let inbound = count_inbound(api, run_id, want).await;
                Some(format!(
                    "{bad} conversations differ; inbound log entries of this run: {}",
                    inbound.map_or_else(|e| format!("unknown ({e:#})"), |c| c.to_string())
                ))
            };
            return Ok(VerifyReport {
                expected: want,
                stored: got,
                ok: equal,
                detail,
            });
        }
        sleep(Duration::from_millis(500)).await;
    }
}

/// Client-authored messages in a conversation, matched by `author_id` (or
/// `author.id`); when no message carries an author id, all but the agent's one.
fn count_client_messages(msgs: &[Value], client_id: &Value) -> u64 {
    let author = |m: &Value| -> Option<String> {
        m.get("author_id")
            .or_else(|| m.get("author").and_then(|a| a.get("id")))
            .filter(|v| !v.is_null())
            .map(id_path)
    };
    if msgs.iter().all(|m| author(m).is_none()) {
        return msgs.len().saturating_sub(1) as u64;
    }
    let client = id_path(client_id);
    msgs.iter()
        .filter(|m| author(m).is_some_and(|a| a == client))
        .count() as u64
}

/// Diagnostic only: inbound records that mention this run.
async fn count_inbound(api: &Api, run_id: &str, want: u64) -> Result<usize> {
    // The API serves at most 1000 entries per call.
    let v = api
        .get(&format!("/inbound?limit={}", (want + 100).min(1000)))
        .await?;
    let items = v
        .get("inbound")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("no inbound array"))?;
    Ok(items
        .iter()
        .filter(|i| i.to_string().contains(run_id))
        .count())
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

#[derive(Serialize, Debug)]
struct LatencyReport {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

#[derive(Serialize, Debug)]
struct Report {
    ok: bool,
    backend: String,
    conversations: u32,
    messages: u64,
    sessions: u32,
    size: usize,
    attachment_size: usize,
    accepted: u64,
    errors: u64,
    /// SMTP sessions re-opened during the load (after a 421 or a broken connection).
    reconnects: u64,
    prepare_s: f64,
    elapsed_s: f64,
    throughput_per_s: f64,
    latency_ms: LatencyReport,
    /// The server's CPU time (user + system, all threads) while the replies were sent, per
    /// accepted message: steadier than throughput on a shared machine, where other load
    /// moves wall-clock figures but not the work each message costs
    server_cpu_ms_per_message: Option<f64>,
    /// max(VmHWM at the end, largest sampled VmRSS)
    server_peak_rss_bytes: Option<u64>,
    /// Largest VmRSS seen sampling every 100 ms
    server_max_sampled_rss_bytes: Option<u64>,
    verified: Option<VerifyReport>,
    first_errors: Vec<String>,
    warnings: Vec<String>,
}

impl Report {
    fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let attach = if self.attachment_size > 0 {
            format!(" + {} B attachment", self.attachment_size)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "threadgate-load: {} messages ({} B{attach}) over {} sessions, backend {}",
            self.messages, self.size, self.sessions, self.backend
        );
        let _ = writeln!(
            s,
            "  accepted: {}   errors: {}   elapsed: {:.2} s",
            self.accepted, self.errors, self.elapsed_s
        );
        if self.reconnects > 0 {
            let _ = writeln!(s, "  reconnects: {}", self.reconnects);
        }
        let _ = writeln!(s, "  throughput: {:.1} messages/s", self.throughput_per_s);
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "  latency: p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            l.p50, l.p95, l.p99, l.max
        );
        if let Some(cpu) = self.server_cpu_ms_per_message {
            let _ = writeln!(s, "  server CPU: {cpu:.3} ms per message");
        }
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        match (
            self.server_peak_rss_bytes,
            self.server_max_sampled_rss_bytes,
        ) {
            (Some(h), Some(m)) => {
                let _ = writeln!(
                    s,
                    "  server peak RSS: {:.1} MiB (max sampled {:.1} MiB)",
                    mib(h),
                    mib(m)
                );
            }
            (Some(h), None) => {
                let _ = writeln!(s, "  server peak RSS: {:.1} MiB", mib(h));
            }
            (None, Some(m)) => {
                let _ = writeln!(s, "  server peak RSS: max sampled {:.1} MiB", mib(m));
            }
            (None, None) => {
                let _ = writeln!(s, "  server peak RSS: n/a (no server pid)");
            }
        }
        match &self.verified {
            None => {
                let _ = writeln!(s, "  verified: skipped (--no-verify)");
            }
            Some(v) if v.ok => {
                let _ = writeln!(s, "  verified: {} stored messages", v.stored);
            }
            Some(v) => {
                let _ = writeln!(
                    s,
                    "  verify FAILED: {} stored messages, {} accepted{}",
                    v.stored,
                    v.expected,
                    v.detail
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                );
            }
        }
        if !self.first_errors.is_empty() {
            let _ = writeln!(s, "  first errors:");
            for e in &self.first_errors {
                let _ = writeln!(s, "    {e}");
            }
        }
        s
    }
}

/// Nearest-rank percentile of ascending `sorted`; 0 when empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------
// SMTP client
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, short(&self.lines.join(" / ")))
    }
}

enum TxOutcome {
    Accepted(Duration),
    /// 421 to MAIL FROM (e.g. too many messages in this session): the server
    /// closes the connection; reconnect and send the message again.
    Reconnect(Reply),
    Rejected {
        stage: &'static str,
        reply: Reply,
    },
}

/// A minimal SMTP client on one persistent connection.
struct SmtpClient {
    io: BufReader<TcpStream>,
    /// EHLO advertised 8BITMIME: 8-bit bodies are declared with BODY=8BITMIME.
    eightbitmime: bool,
    /// EHLO advertised SIZE: MAIL FROM declares the message size, as MTAs do.
    size_ext: bool,
}

impl SmtpClient {
    async fn connect(addr: &str, helo: &str) -> Result<Self> {
        let stream = timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow!("connect to {addr} timed out"))?
            .with_context(|| format!("connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let mut c = SmtpClient {
            io: BufReader::new(stream),
            eightbitmime: false,
            size_ext: false,
        };
        let greeting = c.read_reply().await?;
        if greeting.code != 220 {
            bail!("greeting: {greeting}");
        }
        let ehlo = c.command(&format!("EHLO {helo}")).await?;
        if ehlo.code == 250 {
            for ext in ehlo.lines.iter().skip(1) {
                let keyword = ext.split_whitespace().next().unwrap_or("");
                c.eightbitmime |= keyword.eq_ignore_ascii_case("8BITMIME");
                c.size_ext |= keyword.eq_ignore_ascii_case("SIZE");
            }
        } else {
            let r = c.command(&format!("HELO {helo}")).await?;
            if r.code != 250 {
                bail!("EHLO: {ehlo}; HELO: {r}");
            }
        }
        Ok(c)
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let stream = self.io.get_mut();
        timeout(IO_TIMEOUT, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| anyhow!("write timed out after {} s", IO_TIMEOUT.as_secs()))?
        .context("write")
    }

    async fn read_reply(&mut self) -> Result<Reply> {
        let mut lines = Vec::new();
        let mut code = 0u16;
        loop {
            let mut buf = Vec::new();
            let n = timeout(
                IO_TIMEOUT,
                (&mut self.io)
                    .take(MAX_SMTP_LINE)
                    .read_until(b'\n', &mut buf),
            )
            .await
            .map_err(|_| anyhow!("no SMTP reply within {} s", IO_TIMEOUT.as_secs()))?
            .context("read")?;
            if n == 0 {
                bail!("connection closed by server");
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\r', '\n']);
            let this_code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .unwrap_or(0);
            if lines.is_empty() {
                code = this_code;
            }
            lines.push(line.get(4..).unwrap_or("").to_string());
            let more = line.as_bytes().get(3) == Some(&b'-');
            if !more || lines.len() >= MAX_REPLY_LINES {
                break;
            }
        }
        Ok(Reply { code, lines })
    }

    async fn command(&mut self, cmd: &str) -> Result<Reply> {
        self.write(format!("{cmd}\r\n").as_bytes()).await?;
        self.read_reply().await
    }

    /// One transaction. `data` is already dot-stuffed and ends with CRLF.CRLF.
    /// The latency runs from sending MAIL FROM to the final reply to DATA.
    async fn send_mail(&mut self, from: &str, to: &str, data: &[u8]) -> Result<TxOutcome> {
        let mut params = String::new();
        if self.size_ext {
            params.push_str(&format!(" SIZE={}", data.len()));
        }
        if self.eightbitmime && !data.is_ascii() {
            params.push_str(" BODY=8BITMIME");
        }
        let start = Instant::now();
        let r = self.command(&format!("MAIL FROM:<{from}>{params}")).await?;
        if r.code == 421 {
            return Ok(TxOutcome::Reconnect(r));
        }
        if r.code != 250 {
            self.rset().await?;
            return Ok(TxOutcome::Rejected {
                stage: "MAIL FROM",
                reply: r,
            });
        }
        let r = self.command(&format!("RCPT TO:<{to}>")).await?;
        if r.code != 250 && r.code != 251 {
            self.rset().await?;
            return Ok(TxOutcome::Rejected {
                stage: "RCPT TO",
                reply: r,
            });
        }
        let r = self.command("DATA").await?;
        if r.code != 354 {
            self.rset().await?;
            return Ok(TxOutcome::Rejected {
                stage: "DATA",
                reply: r,
            });
        }
        self.write(data).await?;
        let r = self.read_reply().await?;
        let latency = start.elapsed();
        if (200..300).contains(&r.code) {
            Ok(TxOutcome::Accepted(latency))
        } else {
            Ok(TxOutcome::Rejected {
                stage: "end of DATA",
                reply: r,
            })
        }
    }

    async fn rset(&mut self) -> Result<()> {
        self.command("RSET").await.map(|_| ())
    }

    async fn quit(mut self) {
        let _ = timeout(Duration::from_secs(5), self.command("QUIT")).await;
    }
}

/// Dot-stuff a CRLF message for DATA and append the terminating CRLF.CRLF.
fn dot_stuff(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + msg.len() / 64 + 8);
    let mut at_line_start = true;
    for &b in msg {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

// ---------------------------------------------------------------------------
// Message builder
// ---------------------------------------------------------------------------

struct ReplySpec<'a> {
    from_name: &'a str,
    from_email: &'a str,
    to: &'a str,
    subject: &'a str,
    in_reply_to: Option<&'a str>,
    quoted_from: &'a str,
    quoted_date: &'a str,
    quoted_text: &'a str,
    message_id: &'a str,
    date: &'a str,
    size: usize,
    attachment_size: usize,
    seq: u64,
}

const OPENERS: &[&str] = &[
    "Hi Alex,",
    "Hello Alex,",
    "Hi,",
    "Dear Alex,",
    "Good morning,",
];
const INTROS: &[&str] = &[
    "Thanks for the quick answer, here are the details you asked for.",
    "Sorry for the delay, I had to check with our accounting team first.",
    "Please find my answers below, and let me know if anything is missing.",
    "Following up on your message from earlier today.",
];
const CLOSERS: &[&str] = &[
    "Best regards",
    "Thanks",
    "Kind regards",
    "Cheers",
    "Many thanks",
];
const WORDS: &[&str] = &[
    "the",
    "order",
    "invoice",
    "we",
    "received",
    "last",
    "week",
    "and",
    "our",
    "team",
    "would",
    "like",
    "to",
    "confirm",
    "that",
    "payment",
    "was",
    "made",
    "on",
    "time",
    "please",
    "check",
    "attached",
    "number",
    "account",
    "for",
    "delivery",
    "address",
    "changed",
    "since",
    "March",
    "contract",
    "renewal",
    "includes",
    "two",
    "additional",
    "licences",
    "support",
    "hours",
    "could",
    "you",
    "send",
    "an",
    "updated",
    "quote",
    "before",
    "Friday",
    "meeting",
    "with",
    "finance",
    "department",
    "is",
    "scheduled",
    "next",
    "Tuesday",
    "morning",
    "it",
    "seems",
    "shipment",
    "arrived",
    "damaged",
    "box",
    "missing",
    "items",
    "replacement",
    "as",
    "soon",
    "possible",
    "thank",
    "your",
    "help",
    "colleague",
    "will",
    "join",
    "call",
    "reference",
    "customer",
    "portal",
    "login",
    "does",
    "not",
    "work",
    "anymore",
    "reset",
    "password",
    "billing",
    "contact",
    "is",
    "Maria",
    "from",
    "procurement",
    "VAT",
    "ID",
    "remains",
    "same",
    "previous",
    "statement",
    "shows",
    "duplicate",
    "charge",
    "refund",
    "expected",
    "within",
    "days",
    "project",
    "timeline",
    "milestone",
    "approval",
    "signed",
    "copy",
    "document",
];

/// A realistic reply (CRLF line endings, not dot-stuffed) of about `spec.size`
/// bytes plus the optional base64 PDF attachment.
fn build_reply(spec: &ReplySpec<'_>, rng: &mut impl Rng) -> Vec<u8> {
    let first_name = spec.from_name.split_whitespace().next().unwrap_or("Me");
    let parts = Fixed {
        opener: OPENERS[rng.random_range(0..OPENERS.len())],
        intro: INTROS[rng.random_range(0..INTROS.len())],
        closer: CLOSERS[rng.random_range(0..CLOSERS.len())],
        first_name,
        alt_boundary: format!("000000000000{}", random_hex(rng, 12)),
        mixed_boundary: format!("000000000000{}", random_hex(rng, 12)),
        quoted: quote_lines(spec.quoted_text, (spec.size / 4).max(256)),
        attachment: (spec.attachment_size > 0).then(|| fake_pdf_base64(rng, spec.attachment_size)),
        attachment_id: format!("f_{}", random_hex(rng, 9)),
    };
    let attach_len = parts.attachment.as_ref().map_or(0, String::len);
    let filler = random_prose(rng, spec.size + 200);

    // Padding appears in both the text and the HTML part: adjust its length
    // until the message (without attachment) is close to the target size.
    let mut pad = 0usize;
    let mut msg = render_reply(spec, &parts, cut_prose(&filler, pad));
    for _ in 0..8 {
        let cur = msg.len().saturating_sub(attach_len);
        let diff = spec.size as i64 - cur as i64;
        if diff.abs() < 48 || (diff < 0 && pad == 0) {
            break;
        }
        let next = (pad as i64 + diff / 2).clamp(0, filler.len() as i64) as usize;
        if next == pad {
            break;
        }
        pad = next;
        msg = render_reply(spec, &parts, cut_prose(&filler, pad));
    }
    msg.into_bytes()
}

struct Fixed<'a> {
    opener: &'a str,
    intro: &'a str,
    closer: &'a str,
    first_name: &'a str,
    alt_boundary: String,
    mixed_boundary: String,
    quoted: Vec<String>,
    attachment: Option<String>,
    attachment_id: String,
}

fn render_reply(spec: &ReplySpec<'_>, p: &Fixed<'_>, padding: &str) -> String {
    const CRLF: &str = "\r\n";
    let mut paragraphs: Vec<String> = padding
        .split("\n\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    // The padding is cut at a word boundary: end its last sentence.
    if let Some(last) = paragraphs.last_mut()
        && !last.ends_with('.')
    {
        last.push('.');
    }
    let attribution = format!("On {}, {} wrote:", spec.quoted_date, spec.quoted_from);

    // text/plain
    let mut text = String::new();
    for para in [p.opener, "", p.intro, ""] {
        text.push_str(para);
        text.push_str(CRLF);
    }
    for para in &paragraphs {
        for line in wrap(para, 72) {
            text.push_str(&line);
            text.push_str(CRLF);
        }
        text.push_str(CRLF);
    }
    text.push_str(&format!("{},{CRLF}{}{CRLF}{CRLF}", p.closer, p.first_name));
    let attribution_width = if attribution.len() > 900 { 76 } else { 900 };
    for line in wrap(&attribution, attribution_width) {
        text.push_str(&line);
        text.push_str(CRLF);
    }
    text.push_str(CRLF);
    for q in &p.quoted {
        if q.is_empty() {
            text.push('>');
        } else {
            text.push_str("> ");
            text.push_str(q);
        }
        text.push_str(CRLF);
    }

    // text/html
    let mut html = String::from("<div dir=\"ltr\">");
    html.push_str(&format!(
        "<div>{}</div><div><br></div><div>{}</div><div><br></div>{CRLF}",
        html_escape(p.opener),
        html_escape(p.intro)
    ));
    for para in &paragraphs {
        html.push_str("<div>");
        html.push_str(&wrap(&html_escape(para), 76).join(CRLF));
        html.push_str(&format!("</div><div><br></div>{CRLF}"));
    }
    html.push_str(&format!(
        "<div>{},</div><div>{}</div></div><br>{CRLF}<div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">{}<br></div>{CRLF}\
         <blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex\">{CRLF}",
        html_escape(p.closer),
        html_escape(p.first_name),
        html_escape(&attribution)
    ));
    for q in &p.quoted {
        html.push_str(&html_escape(q));
        html.push_str("<br>");
        html.push_str(CRLF);
    }
    html.push_str(&format!("</blockquote></div>{CRLF}"));

    let cte = |s: &str| if s.is_ascii() { "7bit" } else { "8bit" };
    let subject = if spec.subject.len() >= 3 && spec.subject[..3].eq_ignore_ascii_case("re:") {
        spec.subject.to_string()
    } else {
        format!("Re: {}", spec.subject)
    };

    let mut m = String::with_capacity(spec.size + spec.attachment_size * 2 + 1024);
    m.push_str(&format!("MIME-Version: 1.0{CRLF}Date: {}{CRLF}", spec.date));
    if let Some(irt) = spec.in_reply_to {
        m.push_str(&format!(
            "References: <{irt}>{CRLF}In-Reply-To: <{irt}>{CRLF}"
        ));
    }
    m.push_str(&format!(
        "Message-ID: <{}>{CRLF}Subject: {}{CRLF}From: {} <{}>{CRLF}To: {}{CRLF}",
        spec.message_id,
        encode_header(&subject),
        encode_header(spec.from_name),
        spec.from_email,
        spec.to
    ));
    let alternative = format!(
        "--{b}{CRLF}Content-Type: text/plain; charset=\"UTF-8\"{CRLF}Content-Transfer-Encoding: {}{CRLF}{CRLF}{text}{CRLF}\
         --{b}{CRLF}Content-Type: text/html; charset=\"UTF-8\"{CRLF}Content-Transfer-Encoding: {}{CRLF}{CRLF}{html}{CRLF}--{b}--{CRLF}",
        cte(&text),
        cte(&html),
        b = p.alt_boundary
    );
    match &p.attachment {
        None => {
            m.push_str(&format!(
                "Content-Type: multipart/alternative; boundary=\"{}\"{CRLF}{CRLF}",
                p.alt_boundary
            ));
            m.push_str(&alternative);
        }
        Some(b64) => {
            let name = format!("statement-{}.pdf", spec.seq);
            m.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"{mb}\"{CRLF}{CRLF}--{mb}{CRLF}\
                 Content-Type: multipart/alternative; boundary=\"{}\"{CRLF}{CRLF}{alternative}{CRLF}\
                 --{mb}{CRLF}Content-Type: application/pdf; name=\"{name}\"{CRLF}\
                 Content-Disposition: attachment; filename=\"{name}\"{CRLF}\
                 Content-Transfer-Encoding: base64{CRLF}Content-ID: <{id}>{CRLF}X-Attachment-Id: {id}{CRLF}{CRLF}",
                p.alt_boundary,
                mb = p.mixed_boundary,
                id = p.attachment_id
            ));
            m.push_str(b64);
            m.push_str(&format!("--{}--{CRLF}", p.mixed_boundary));
        }
    }
    m
}

/// The notification text as quoted lines (without "> "), at most `budget` bytes.
fn quote_lines(text: &str, budget: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut used = 0;
    let trimmed = text.trim_end();
    'outer: for raw in trimmed.lines() {
        let raw = raw.trim_end_matches('\r');
        let pieces = if raw.len() > 150 {
            wrap(raw, 76)
        } else {
            vec![raw.to_string()]
        };
        for piece in pieces {
            used += piece.len() + 4;
            if used > budget {
                break 'outer;
            }
            out.push(piece);
        }
    }
    out
}

/// Word-wrap to `width` characters; longer words are split.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut line_chars = 0usize;
    for word in text.split_whitespace() {
        let mut word = word;
        loop {
            let wchars = word.chars().count();
            if line_chars > 0 && line_chars + 1 + wchars > width {
                lines.push(std::mem::take(&mut line));
                line_chars = 0;
            }
            if line_chars == 0 && wchars > width {
                let split = word
                    .char_indices()
                    .nth(width)
                    .map_or(word.len(), |(i, _)| i);
                lines.push(word[..split].to_string());
                word = &word[split..];
                if word.is_empty() {
                    break;
                }
                continue;
            }
            if line_chars > 0 {
                line.push(' ');
                line_chars += 1;
            }
            line.push_str(word);
            line_chars += wchars;
            break;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Random sentences and paragraphs of ASCII words, about `len` bytes.
fn random_prose(rng: &mut impl Rng, len: usize) -> String {
    let mut s = String::with_capacity(len + 128);
    let mut sentences_in_para = 0;
    while s.len() < len {
        let words = rng.random_range(8..18);
        for w in 0..words {
            let word = WORDS[rng.random_range(0..WORDS.len())];
            if w == 0 {
                let mut c = word.chars();
                if let Some(f) = c.next() {
                    s.push(f.to_ascii_uppercase());
                    s.push_str(c.as_str());
                }
            } else {
                s.push(' ');
                s.push_str(word);
            }
        }
        s.push('.');
        sentences_in_para += 1;
        if sentences_in_para >= rng.random_range(3..6) {
            s.push_str("\n\n");
            sentences_in_para = 0;
        } else {
            s.push(' ');
        }
    }
    s
}

/// Prefix of `prose` (ASCII) of at most `len` bytes, cut at a word boundary.
fn cut_prose(prose: &str, len: usize) -> &str {
    if len >= prose.len() {
        return prose;
    }
    match prose[..len].rfind([' ', '\n']) {
        Some(i) => &prose[..i],
        None => "",
    }
}

/// A fake PDF of exactly `size` bytes, base64 in 76-column CRLF lines.
fn fake_pdf_base64(rng: &mut impl Rng, size: usize) -> String {
    let mut bytes =
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
    let trailer = b"\n%%EOF\n";
    let mut noise = vec![0u8; size.saturating_sub(bytes.len() + trailer.len())];
    rng.fill(&mut noise[..]);
    bytes.extend_from_slice(&noise);
    bytes.extend_from_slice(trailer);
    bytes.truncate(size);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let mut out = String::with_capacity(b64.len() + b64.len() / 76 * 2 + 2);
    for chunk in b64.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// RFC 2047 encoded-word for non-ASCII header text.
fn encode_header(s: &str) -> String {
    if s.is_ascii() {
        s.to_string()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
        )
    }
}

fn random_hex(rng: &mut impl Rng, len: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    (0..len)
        .map(|_| HEX[rng.random_range(0..16)] as char)
        .collect()
}

fn short(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

// ---------------------------------------------------------------------------
// HTTP client (HTTP/1.1, one connection per request, JSON bodies)
// ---------------------------------------------------------------------------

struct Api {
    authority: String,
    prefix: String,
    token: String,
}

impl Api {
    /// `url` is the server's base URL, `http://HOST:PORT` (a trailing `/api/v1` is accepted).
    fn new(url: &str, token: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("API URL must start with http:// (got {url})"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("API URL has no host: {url}");
        }
        let mut prefix = path.trim_end_matches('/');
        if let Some(p) = prefix.strip_suffix("/api/v1") {
            prefix = p;
        }
        Ok(Api {
            authority: authority.to_string(),
            prefix: prefix.to_string(),
            token: token.to_string(),
        })
    }

    /// One request to `/api/v1{path}`; returns the status and the JSON body
    /// (Null when empty, a string when not JSON).
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let full = format!("{}/api/v1{path}", self.prefix);
        timeout(IO_TIMEOUT, self.call_inner(method, &full, body))
            .await
            .map_err(|_| {
                anyhow!(
                    "{method} {full}: no response within {} s",
                    IO_TIMEOUT.as_secs()
                )
            })?
            .with_context(|| format!("{method} {full}"))
    }

    async fn call_inner(
        &self,
        method: &str,
        full: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let mut stream = TcpStream::connect(&self.authority).await?;
        let payload = match body {
            Some(b) => serde_json::to_vec(b)?,
            None => Vec::new(),
        };
        let mut req = format!(
            "{method} {full} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\n\
             User-Agent: threadgate-load\r\nConnection: close\r\n",
            self.authority, self.token
        );
        if body.is_some() {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                payload.len()
            ));
        }
        req.push_str("\r\n");
        let mut out = req.into_bytes();
        out.extend_from_slice(&payload);
        stream.write_all(&out).await?;
        stream.flush().await?;

        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                let (status, body) = parse_http_response(&buf, true)?
                    .ok_or_else(|| anyhow!("truncated HTTP response"))?;
                return Ok((status, body_json(&body)));
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_HTTP_RESPONSE {
                bail!("HTTP response larger than {MAX_HTTP_RESPONSE} bytes");
            }
            if let Some((status, body)) = parse_http_response(&buf, false)? {
                return Ok((status, body_json(&body)));
            }
        }
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let (status, v) = self.call("POST", path, Some(body)).await?;
        if !(200..300).contains(&status) {
            bail!(
                "POST /api/v1{path} answered {status}: {}",
                short(&v.to_string())
            );
        }
        Ok(v)
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let (status, v) = self.call("GET", path, None).await?;
        if status != 200 {
            bail!(
                "GET /api/v1{path} answered {status}: {}",
                short(&v.to_string())
            );
        }
        Ok(v)
    }
}

fn body_json(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// Parse a buffered HTTP/1.1 response: `Ok(None)` while incomplete; at `eof`
/// a body without length runs to the end.
fn parse_http_response(buf: &[u8], eof: bool) -> Result<Option<(u16, Vec<u8>)>> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if eof {
            bail!("incomplete HTTP response head");
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad HTTP status line: {}", short(status_line)))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    let body = &buf[head_end + 4..];
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Some((status, Vec::new())));
    }
    if chunked {
        return match decode_chunked(body)? {
            Some(b) => Ok(Some((status, b))),
            None if eof => bail!("truncated chunked HTTP body"),
            None => Ok(None),
        };
    }
    if let Some(len) = content_length {
        if body.len() >= len {
            return Ok(Some((status, body[..len].to_vec())));
        }
        if eof {
            bail!("HTTP body shorter than Content-Length");
        }
        return Ok(None);
    }
    Ok(eof.then(|| (status, body.to_vec())))
}

/// Decode a chunked body; `Ok(None)` while incomplete.
fn decode_chunked(mut body: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_str = String::from_utf8_lossy(&body[..line_end]);
        let size_str = size_str.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_str, 16)
            .map_err(|_| anyhow!("bad chunk size {size_str:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if body.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MimeHeaders;
    use tokio::net::TcpListener;

    fn spec<'a>(size: usize, attachment_size: usize, quoted: &'a str) -> ReplySpec<'a> {
        ReplySpec {
            from_name: "Maria Lopez",
            from_email: "client-1-abcd@example.test",
            to: "reply+tok123@reply.localhost",
            subject: "Invoice question (abcd/1)",
            in_reply_to: Some("notif-1@threadgate.localhost"),
            quoted_from: "Alex Agent <agent-abcd@example.test>",
            quoted_date: "Mon, Jun 3, 2024 at 10:15 AM",
            quoted_text: quoted,
            message_id: "load.abcd.1.xyz@mail.example.test",
            date: "Mon, 3 Jun 2024 10:20:00 +0000",
            size,
            attachment_size,
            seq: 1,
        }
    }

    const QUOTED: &str = "Hello Maria,\n\nthanks for getting in touch.\n.hidden line starting with a dot\n\nBest regards,\nAlex\n\n-- \nReply to this email to answer — threadgate";

    #[test]
    fn percentile_nearest_rank() {
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        let w = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&w, 50.0), 2.0);
        assert_eq!(percentile(&w, 51.0), 3.0);
    }

    #[test]
    fn dot_stuffing() {
        assert_eq!(
            dot_stuff(b"a\r\n.b\r\n..c\r\n"),
            b"a\r\n..b\r\n...c\r\n.\r\n"
        );
        assert_eq!(dot_stuff(b".x"), b"..x\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b"\r\n.\r\n");
    }

    fn check_crlf(bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' {
                assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}");
            }
            if b == b'\r' {
                assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}");
            }
        }
        for line in bytes.split(|&b| b == b'\n') {
            assert!(line.len() <= 998, "line too long: {}", line.len());
        }
    }

    #[test]
    fn reply_is_crlf_sized_and_parseable() {
        for size in [2048usize, 4096, 16384, 65536] {
            let mut rng = StdRng::seed_from_u64(size as u64);
            let msg = build_reply(&spec(size, 0, QUOTED), &mut rng);
            check_crlf(&msg);
            let ratio = msg.len() as f64 / size as f64;
            assert!(
                (0.95..=1.05).contains(&ratio),
                "size {size}: got {}",
                msg.len()
            );

            let data = dot_stuff(&msg);
            assert!(data.ends_with(b"\r\n.\r\n"));
            // Every line of the original that starts with '.' is doubled.
            let text = String::from_utf8(data.clone()).unwrap();
            assert!(text.contains("\r\n..hidden") || !text.contains(".hidden"));
            for line in text.split("\r\n") {
                if line.starts_with('.') && line != "." {
                    assert!(line.starts_with(".."), "unstuffed line {line:?}");
                }
            }

            let parsed = mail_parser::MessageParser::default().parse(&msg).unwrap();
            assert_eq!(
                parsed.from().unwrap().first().unwrap().address(),
                Some("client-1-abcd@example.test")
            );
            assert_eq!(
                parsed.to().unwrap().first().unwrap().address(),
                Some("reply+tok123@reply.localhost")
            );
            assert_eq!(parsed.subject(), Some("Re: Invoice question (abcd/1)"));
            assert_eq!(
                parsed.message_id(),
                Some("load.abcd.1.xyz@mail.example.test")
            );
            assert_eq!(
                parsed.in_reply_to().as_text(),
                Some("notif-1@threadgate.localhost")
            );
            assert_eq!(parsed.text_body_count(), 1);
            assert_eq!(parsed.html_body_count(), 1);
            assert_eq!(parsed.attachment_count(), 0);
            let plain = parsed.body_text(0).unwrap();
            assert!(plain.contains("> Hello Maria,"), "{plain}");
            assert!(plain.contains(
                "On Mon, Jun 3, 2024 at 10:15 AM, Alex Agent <agent-abcd@example.test> wrote:"
            ));
            let html = parsed.body_html(0).unwrap();
            assert!(html.contains("<div dir=\"ltr\">"));
            assert!(html.contains("<blockquote"));
            assert!(html.contains("class=\"gmail_quote\""));
        }
    }

    #[test]
    fn reply_with_attachment() {
        let mut rng = StdRng::seed_from_u64(7);
        let msg = build_reply(&spec(4096, 10_000, QUOTED), &mut rng);
        check_crlf(&msg);
        let parsed = mail_parser::MessageParser::default().parse(&msg).unwrap();
        assert_eq!(parsed.attachment_count(), 1);
        let att = parsed.attachment(0).unwrap();
        assert_eq!(att.contents().len(), 10_000);
        assert!(att.contents().starts_with(b"%PDF-1.4"));
        assert_eq!(att.attachment_name(), Some("statement-1.pdf"));
        assert_eq!(parsed.text_body_count(), 1);
        // Size target excludes the attachment (base64: 4/3 plus line breaks).
        let expected = 4096 + 10_000 * 4 / 3 + 10_000 * 4 / 3 / 76 * 2;
        assert!(
            (msg.len() as f64 / expected as f64 - 1.0).abs() < 0.1,
            "{}",
            msg.len()
        );
    }

    #[test]
    fn small_size_and_empty_quote_still_valid() {
        let mut rng = StdRng::seed_from_u64(1);
        let msg = build_reply(&spec(100, 0, ""), &mut rng);
        check_crlf(&msg);
        let parsed = mail_parser::MessageParser::default().parse(&msg).unwrap();
        assert_eq!(parsed.text_body_count(), 1);
    }

    #[test]
    fn wrap_respects_width() {
        let long = "a".repeat(200);
        let lines = wrap(&format!("hello {long} world"), 76);
        assert!(lines.iter().all(|l| l.chars().count() <= 76), "{lines:?}");
        assert_eq!(lines.concat().replace(' ', ""), format!("hello{long}world"));
        assert_eq!(wrap("", 10), vec![String::new()]);
        assert_eq!(wrap("ünï cödé wörds", 7), vec!["ünï", "cödé", "wörds"]);
    }

    #[test]
    fn notification_parsing() {
        let raw = b"From: Alex Agent <agent-x@example.test>\r\nTo: Maria Lopez <Client-1-X@example.test>\r\n\
            Reply-To: reply+abc@reply.localhost\r\nMessage-ID: <n1@tg>\r\nSubject: Invoice\r\n\
            Date: Mon, 3 Jun 2024 10:15:00 +0000\r\nContent-Type: text/plain\r\n\r\nHello Maria\r\n";
        let n = parse_notification(raw).unwrap();
        assert_eq!(n.to, "Client-1-X@example.test");
        assert_eq!(n.reply_to, "reply+abc@reply.localhost");
        assert_eq!(n.message_id.as_deref(), Some("n1@tg"));
        assert_eq!(n.from, "Alex Agent <agent-x@example.test>");
        assert_eq!(n.date, "Mon, Jun 3, 2024 at 10:15 AM");
        assert!(n.text.contains("Hello Maria"));
        assert!(parse_notification(b"To: a@b\r\n\r\nno reply-to").is_none());
    }

    #[test]
    fn stat_cpu_parsing() {
        // A command name with a space and a parenthesis must not shift the fields.
        let stat = "4242 (thread gate) S 1 4242 4242 0 -1 4194560 900 0 3 0 1234 567 0 0 20 0 9 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(1234 + 567));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn status_parsing() {
        let s = "Name:\tthreadgate\nVmHWM:\t  41234 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(parse_status_kib(s, "VmHWM"), Some(41234));
        assert_eq!(parse_status_kib(s, "VmRSS"), Some(40000));
        assert_eq!(parse_status_kib(s, "VmPeak"), None);
    }

    #[test]
    fn id_helpers_and_counting() {
        assert_eq!(extract_id(&json!({"id": 5, "x": 1})), Some(json!(5)));
        assert_eq!(
            extract_id(&json!({"person": {"id": "p1"}})),
            Some(json!("p1"))
        );
        assert_eq!(id_path(&json!("abc")), "abc");
        assert_eq!(id_path(&json!(12)), "12");
        let msgs = vec![
            json!({"id": 1, "author_id": 1}),
            json!({"id": 2, "author_id": 2}),
            json!({"id": 3, "author_id": "2"}),
        ];
        assert_eq!(count_client_messages(&msgs, &json!(2)), 2);
        let anon = vec![json!({"id": 1}), json!({"id": 2})];
        assert_eq!(count_client_messages(&anon, &json!(2)), 1);
    }

    #[test]
    fn http_response_parsing() {
        let r = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"id\":1}";
        let (s, b) = parse_http_response(r, false).unwrap().unwrap();
        assert_eq!((s, body_json(&b)), (201, json!({"id": 1})));
        assert!(
            parse_http_response(&r[..r.len() - 1], false)
                .unwrap()
                .is_none()
        );
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n";
        let (s, b) = parse_http_response(c, false).unwrap().unwrap();
        assert_eq!((s, body_json(&b)), (200, json!({"a": 1})));
        assert!(
            parse_http_response(&c[..c.len() - 5], false)
                .unwrap()
                .is_none()
        );
        let no_len = b"HTTP/1.1 401 Unauthorized\r\n\r\nnope";
        assert!(parse_http_response(no_len, false).unwrap().is_none());
        let (s, b) = parse_http_response(no_len, true).unwrap().unwrap();
        assert_eq!((s, body_json(&b)), (401, json!("nope")));
        assert!(parse_http_response(b"garbage\r\n\r\n", true).is_err());
    }

    #[test]
    fn api_url_forms() {
        let a = Api::new("http://127.0.0.1:8080", "t").unwrap();
        assert_eq!(
            (a.authority.as_str(), a.prefix.as_str()),
            ("127.0.0.1:8080", "")
        );
        let a = Api::new("http://h:1/base/api/v1/", "t").unwrap();
        assert_eq!((a.authority.as_str(), a.prefix.as_str()), ("h:1", "/base"));
        assert!(Api::new("https://h:1", "t").is_err());
    }

    type Received = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

    /// A mock SMTP server: accepts everything except RCPT to "bad@…", and
    /// answers 421 (then closes) to MAIL FROM after `per_session` messages.
    async fn mock_smtp(per_session: usize) -> (String, Received) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let received: Received = Arc::default();
        let store = received.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(mock_session(stream, per_session, store.clone()));
            }
        });
        (addr, received)
    }

    async fn mock_session(stream: TcpStream, per_session: usize, store: Received) {
        let mut io = BufReader::new(stream);
        let mut count = 0;
        io.get_mut().write_all(b"220 mock ESMTP\r\n").await.unwrap();
        loop {
            let mut line = String::new();
            if io.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            let cmd = line.trim_end().to_ascii_uppercase();
            let reply: &[u8] = if cmd.starts_with("EHLO") {
                b"250-mock\r\n250-8BITMIME\r\n250-SIZE 1000000\r\n250 PIPELINING\r\n"
            } else if cmd.starts_with("MAIL") && count >= per_session {
                io.get_mut()
                    .write_all(b"421 4.7.0 Too many messages in this session, reconnect\r\n")
                    .await
                    .unwrap();
                break;
            } else if cmd.starts_with("RCPT TO:<BAD@") {
                b"550 5.7.1 sender not allowed\r\n"
            } else if cmd == "DATA" {
                io.get_mut().write_all(b"354 go ahead\r\n").await.unwrap();
                let mut data = Vec::new();
                loop {
                    let mut l = Vec::new();
                    io.read_until(b'\n', &mut l).await.unwrap();
                    if l == b".\r\n" {
                        break;
                    }
                    data.extend_from_slice(&l);
                }
                store.lock().unwrap().push(data);
                count += 1;
                b"250 2.0.0 stored\r\n"
            } else if cmd == "QUIT" {
                io.get_mut().write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else {
                b"250 ok\r\n"
            };
            io.get_mut().write_all(reply).await.unwrap();
        }
    }

    fn outcome(r: TxOutcome) -> String {
        match r {
            TxOutcome::Accepted(_) => "accepted".into(),
            TxOutcome::Reconnect(reply) => format!("reconnect {reply}"),
            TxOutcome::Rejected { stage, reply } => format!("{stage}: {reply}"),
        }
    }

    #[tokio::test]
    async fn smtp_client_reuses_one_connection() {
        let (addr, received) = mock_smtp(100).await;
        let mut c = SmtpClient::connect(&addr, HELO_NAME).await.unwrap();
        assert!(c.eightbitmime && c.size_ext);
        let mut rng = StdRng::seed_from_u64(3);
        let msg = build_reply(&spec(4096, 0, QUOTED), &mut rng);
        let data = dot_stuff(&msg);
        for _ in 0..2 {
            let r = c
                .send_mail("client@example.test", "reply+x@reply.localhost", &data)
                .await
                .unwrap();
            assert_eq!(outcome(r), "accepted");
        }
        let r = c
            .send_mail("client@example.test", "bad@reply.localhost", &data)
            .await
            .unwrap();
        assert_eq!(outcome(r), "RCPT TO: 550 5.7.1 sender not allowed");
        // The connection is still usable after the rejection (RSET was sent).
        let r = c
            .send_mail("client@example.test", "reply+x@reply.localhost", &data)
            .await
            .unwrap();
        assert_eq!(outcome(r), "accepted");
        c.quit().await;
        let received = received.lock().unwrap().clone();
        assert_eq!(received.len(), 3);
        // The server sees the dot-stuffed lines; un-stuffing gives the original.
        let unstuffed: Vec<u8> = String::from_utf8(received[0].clone())
            .unwrap()
            .split_inclusive("\r\n")
            .map(|l| l.strip_prefix('.').unwrap_or(l))
            .collect::<String>()
            .into_bytes();
        assert_eq!(unstuffed, msg);
    }

    #[tokio::test]
    async fn session_reconnects_after_421() {
        let (addr, received) = mock_smtp(3).await;
        let clients = (0..2)
            .map(|i| ClientTarget {
                name: format!("Client {i}"),
                email: format!("client-{i}@example.test"),
                reply_addr: format!("reply+t{i}@reply.localhost"),
                notif_message_id: Some(format!("n{i}@tg")),
                subject: "Hello".into(),
                quoted_from: "Alex Agent <agent@example.test>".into(),
                quoted_date: "Mon, Jun 3, 2024 at 10:15 AM".into(),
                quoted_text: QUOTED.into(),
            })
            .collect();
        let shared = Arc::new(LoadShared {
            clients,
            run_id: "test".into(),
            seed: 1,
            size: 2000,
            attachment_size: 0,
        });
        let barrier = Arc::new(Barrier::new(2));
        let session = tokio::spawn(run_session(
            0,
            addr,
            (0..10).collect(),
            shared,
            barrier.clone(),
            2,
        ));
        barrier.wait().await;
        let res = session.await.unwrap();
        assert_eq!(res.errors, 0, "{:?}", res.first_errors);
        assert_eq!(res.latencies.len(), 10);
        assert_eq!(res.accepted_per_conv, vec![5, 5]);
        assert_eq!(res.reconnects, 3);
        assert_eq!(received.lock().unwrap().len(), 10);
    }

    #[tokio::test]
    async fn smtp_reply_multiline_and_garbage() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"220-first\r\n220-second\r\n220 last\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await;
            s.write_all(b"what is this\r\n").await.unwrap();
        });
        let stream = TcpStream::connect(&addr).await.unwrap();
        let mut c = SmtpClient {
            io: BufReader::new(stream),
            eightbitmime: false,
            size_ext: false,
        };
        let r = c.read_reply().await.unwrap();
        assert_eq!(r.code, 220);
        assert_eq!(r.lines, vec!["first", "second", "last"]);
        let r = c.command("EHLO x").await.unwrap();
        assert_eq!(r.code, 0);
        assert!(c.read_reply().await.is_err());
    }
}
