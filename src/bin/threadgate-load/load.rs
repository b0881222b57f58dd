//! The load: messages spread over S parallel persistent SMTP sessions
//! (message k to session k % S and conversation k % N), all started
//! together once connected; a session reconnects after a 421 or a broken
//! connection, up to a limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::Barrier;

use super::args::Args;
use super::message::{ReplySpec, build_reply};
use super::prepare::{ClientTarget, Prepared};
use super::smtp::{SmtpClient, TxOutcome, dot_stuff};
use super::{HELO_NAME, Target, random_hex};

/// How many error replies are kept to print.
const KEEP_ERRORS: usize = 5;
/// Reconnect attempts per session after a broken connection.
const MAX_RECONNECTS: u32 = 3;

pub(super) struct LoadShared {
    pub(super) clients: Vec<ClientTarget>,
    pub(super) run_id: String,
    pub(super) seed: u64,
    pub(super) size: usize,
    pub(super) attachment_size: usize,
}

#[derive(Default)]
pub(super) struct SessionResult {
    pub(super) latencies: Vec<Duration>,
    pub(super) reconnects: u64,
    pub(super) accepted_per_conv: Vec<u64>,
    pub(super) errors: u64,
    pub(super) first_errors: Vec<String>,
}

impl SessionResult {
    fn error(&mut self, msg: String) {
        self.errors += 1;
        if self.first_errors.len() < KEEP_ERRORS {
            self.first_errors.push(msg);
        }
    }
}

pub(super) struct LoadResult {
    pub(super) sessions: u32,
    pub(super) reconnects: u64,
    pub(super) accepted: u64,
    pub(super) errors: u64,
    pub(super) elapsed: Duration,
    pub(super) latencies: Vec<Duration>,
    pub(super) accepted_per_conv: Vec<u64>,
    pub(super) first_errors: Vec<String>,
}

pub(super) async fn run_load(
    args: &Args,
    target: &Target,
    prepared: &Prepared,
    run_id: &str,
) -> LoadResult {
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
            target.smtp_addrs[idx % target.smtp_addrs.len()].clone(),
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

pub(super) async fn run_session(
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
