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
//! Several gateways on one PostgreSQL database (`--gateways 2`: each its own data directory
//! and ports, the sessions dealt to them in turn, their CPU time and memory added up):
//!
//! ```text
//! cargo run --release --bin threadgate-load -- --gateways 2 --sessions 50 \
//!     --server-arg=--database-url=postgres://postgres@127.0.0.1:5432/loadtest
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
//!
//! The files: `args` (the command line), `server` (the spawned server),
//! `procfs` (its memory and CPU time from `/proc`), `dns` (`--dns`: a loopback DNS server
//! for the server's own SPF/DMARC checks), `prepare` (people,
//! conversations, notifications), `peer` (`--peer`), `message` (the replies
//! sent), `smtp` (the SMTP client), `load` (the parallel sessions), `verify`
//! (counting stored messages through the API), `report` (percentiles and the
//! report), `idle` (`--idle`), `http` (the API client).

mod args;
mod dns;
mod http;
mod idle;
mod load;
mod message;
mod peer;
mod prepare;
mod procfs;
mod report;
mod server;
mod smtp;
mod verify;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Parser;
use rand::Rng;
use tokio::time::sleep;

use args::Args;
use http::Api;
use idle::run_idle;
use load::run_load;
use peer::peer_prepared;
use prepare::prepare;
use procfs::{over_processes, proc_cpu_seconds, proc_status_kib};
use report::{LatencyReport, Report, percentile};
use server::Server;
use verify::verify;

/// Bound on every single network read/write/connect and HTTP request.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const HELO_NAME: &str = "mail.example.test";

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

/// Where the server is and how to reach it: one gateway, or several sharing one database
/// (`--gateways`).
struct Target {
    api: Api,
    /// Every gateway's SMTP listener; sessions are dealt to them in turn.
    smtp_addrs: Vec<String>,
    /// Every gateway's outbox directory (a notification comes out of whichever sent it).
    outboxes: Vec<PathBuf>,
    /// The gateways' processes: their CPU time and memory are added up.
    pids: Vec<u32>,
    backend: String,
}

async fn run(args: Args) -> Result<bool> {
    if args.idle > 0 {
        return run_idle(args).await;
    }
    let run_id = random_hex(&mut rand::rng(), 8);
    let dns = match args.dns {
        true => Some(dns::start("example.test").await?),
        false => None,
    };
    let (target, mut servers) = match (&args.api_url, &args.peer) {
        (_, Some(peer)) => {
            let target = Target {
                // Never called in peer mode.
                api: Api::new("http://127.0.0.1:9", "unused")?,
                smtp_addrs: vec![peer.clone()],
                outboxes: Vec::new(),
                pids: args.server_pid.into_iter().collect(),
                backend: format!("peer {peer}"),
            };
            (target, Vec::new())
        }
        (Some(url), None) => {
            let (Some(smtp), Some(token), Some(outbox)) =
                (&args.smtp_addr, &args.admin_token, &args.outbox_dir)
            else {
                bail!("--api-url needs --smtp-addr, --admin-token and --outbox-dir");
            };
            let target = Target {
                api: Api::new(url, token)?,
                smtp_addrs: vec![smtp.clone()],
                outboxes: vec![outbox.clone()],
                pids: args.server_pid.into_iter().collect(),
                backend: "external".to_string(),
            };
            (target, Vec::new())
        }
        (None, None) => Server::spawn_all(&args, &run_id, dns.as_ref()).await?,
    };

    // Sample the server's RSS for the whole time it is under our watch.
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = (!target.pids.is_empty()).then(|| {
        let (stop, pids) = (stop_sampling.clone(), target.pids.clone());
        tokio::spawn(async move {
            let mut max = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let rss = pids.iter().filter_map(|&pid| proc_status_kib(pid, "VmRSS"));
                max = max.max(rss.sum());
                sleep(Duration::from_millis(100)).await;
            }
            max
        })
    });

    let outcome = drive(&args, &target, &mut servers, &run_id).await;

    stop_sampling.store(true, Ordering::Relaxed);
    let sampled_max_kib = match sampler {
        Some(handle) => handle.await.ok().filter(|&m| m > 0),
        None => None,
    };
    // Each process's own high-water mark, added up (an upper bound when there are several).
    let hwm_kib = over_processes(&target.pids, |pid| proc_status_kib(pid, "VmHWM"));

    let mut warnings = Vec::new();
    for server in &mut servers {
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

/// Prepare, load and verify; the servers are shut down by the caller.
async fn drive(
    args: &Args,
    target: &Target,
    servers: &mut [Server],
    run_id: &str,
) -> Result<Report> {
    for (i, server) in servers.iter_mut().enumerate() {
        server.wait_ready(target, i).await?;
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

    let cpu = || over_processes(&target.pids, proc_cpu_seconds);
    let cpu_before = cpu();
    let load = run_load(args, target, &prepared, run_id).await;
    let server_cpu_s = cpu().zip(cpu_before).map(|(after, before)| after - before);

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
        gateways: target.smtp_addrs.len(),
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
