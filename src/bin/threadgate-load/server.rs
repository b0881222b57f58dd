//! The spawned server: `threadgate serve` on free loopback ports with a
//! fresh temporary data dir and a random admin token, waited for (API and
//! SMTP greeting), stopped with SIGTERM (SIGKILL after 10 s).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tokio::time::{sleep, timeout};

use super::args::Args;
use super::http::Api;
use super::smtp::SmtpClient;
use super::{HELO_NAME, Target, progress, random_hex, short};

/// How long the spawned server may take to answer the API and SMTP.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct Server {
    child: tokio::process::Child,
    pid: u32,
    pub(super) data_dir: PathBuf,
    pub(super) log_path: PathBuf,
    stopped: bool,
}

impl Server {
    /// Starts the server; with `dns`, it checks replies itself against that DNS server (no
    /// trusted relay: loopback is the internet to it).
    pub(super) async fn spawn(
        args: &Args,
        run_id: &str,
        dns: Option<&super::dns::LoopbackDns>,
    ) -> Result<(Target, Server)> {
        let token = random_hex(&mut rand::rng(), 32);
        Server::spawn_one(args, run_id, dns, &token).await
    }

    /// Starts `--gateways` servers on the one database (each with its own data directory
    /// and ports, one admin token), as one target.
    pub(super) async fn spawn_all(
        args: &Args,
        run_id: &str,
        dns: Option<&super::dns::LoopbackDns>,
    ) -> Result<(Target, Vec<Server>)> {
        if args.gateways > 1
            && !args.server_args.iter().any(|a| a.contains("postgres"))
            && !std::env::var("THREADGATE_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
        {
            bail!(
                "--gateways {} shares one database: pass --server-arg=--database-url=postgres://…",
                args.gateways
            );
        }
        let token = random_hex(&mut rand::rng(), 32);
        let (mut target, first) = Server::spawn_one(args, run_id, dns, &token).await?;
        let mut servers = vec![first];
        for i in 1..args.gateways {
            let (other, server) =
                Server::spawn_one(args, &format!("{run_id}-{i}"), dns, &token).await?;
            servers.push(server);
            target.smtp_addrs.extend(other.smtp_addrs);
            target.outboxes.extend(other.outboxes);
            target.pids.extend(other.pids);
        }
        Ok((target, servers))
    }

    async fn spawn_one(
        args: &Args,
        run_id: &str,
        dns: Option<&super::dns::LoopbackDns>,
        token: &str,
    ) -> Result<(Target, Server)> {
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
            .arg(token)
            .arg("--reply-domain")
            .arg(&args.reply_domain)
            .arg("--tick")
            .arg(&args.tick)
            .args(&args.server_args);
        if let Some(dns) = dns {
            cmd.arg(format!("--dns-server={}", dns.addr))
                // TEST-NET-1: no client of ours.
                .arg("--trusted-relay=192.0.2.1/32");
        }
        cmd.stdin(Stdio::null())
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
            api: Api::new(&format!("http://127.0.0.1:{http_port}"), token)?,
            smtp_addrs: vec![format!("127.0.0.1:{smtp_port}")],
            outboxes: vec![data_dir.join("outbox")],
            pids: vec![pid],
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

    /// Poll the API (`GET /inbound?limit=1` → 200) and the SMTP greeting of gateway `index`
    /// (the API is asked of the first: they share the database).
    pub(super) async fn wait_ready(&mut self, target: &Target, index: usize) -> Result<()> {
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
                match SmtpClient::connect(&target.smtp_addrs[index], HELO_NAME).await {
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
    pub(super) async fn shutdown(&mut self) -> Option<String> {
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

    pub(super) fn print_log_tail(&self, lines: usize) {
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
