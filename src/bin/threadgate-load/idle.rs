//! `--idle N`: the spawned server's memory with N idle SMTP connections
//! held open (each greeted, then silent), and per connection.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::sleep;

use super::args::Args;
use super::procfs::proc_status_kib;
use super::server::Server;
use super::{progress, random_hex};

/// `--idle N`: the server's memory with N idle connections, each greeted and then silent
/// (what a botnet holding connections open costs), and per connection.
pub(super) async fn run_idle(mut args: Args) -> Result<bool> {
    let n = args.idle as usize;
    let cap = (n + 100).to_string();
    args.server_args
        .push(format!("--smtp-max-connections={cap}"));
    args.server_args
        .push(format!("--smtp-max-connections-per-ip={cap}"));
    // Long enough that no idle timeout fires while they are held.
    args.server_args.push("--smtp-idle-timeout=1h".to_string());
    let run_id = random_hex(&mut rand::rng(), 8);
    let (target, mut server) = Server::spawn(&args, &run_id, None).await?;
    server.wait_ready(&target, 0).await?;
    let pid = *target
        .pids
        .first()
        .context("the spawned server has no pid")?;
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
            let addr = target.smtp_addrs[0].clone();
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
