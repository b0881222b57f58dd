//! Crash safety, on both backends: the real `threadgate` binary takes replies from several
//! concurrent SMTP clients while it is killed with SIGKILL again and again and restarted. The
//! clients keep their own log: a message answered `250` must be stored exactly once; a message
//! whose answer was lost is sent again (same Message-ID) until it gets its `250`, and is still
//! stored once. Then the outbox: every stored reply reaches the agent in exactly one
//! notification email, however the kills fell between planning, queueing and delivery.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::process::{Attempt, Gateway, attempt};
use support::*;

const CONVERSATIONS: usize = 20;
const PER_CONVERSATION: usize = 20;
const SENDERS: usize = 6;
const KILLS: usize = 5;

/// What the client saw of one message, across all its attempts.
#[derive(Debug, Default, Clone)]
struct Outcome {
    attempts: u32,
    /// Attempts whose data was sent but whose answer never came (the connection was cut):
    /// stored or not, the client cannot know, and sends it again.
    lost: u32,
    /// Attempts that failed before the data (connection refused or cut early).
    failed: u32,
    accepted: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_mail_survives_sigkill_exactly_once_and_so_do_notifications() {
    for db in test_databases().await {
        // A crash leaves claimed emails reserved this long before they go out again.
        let mut gateway = Gateway::new(&db, &["--outbox-lease", "2s"]);
        gateway.start().await;
        // Every message reaches the agent at the next tick, not in a 30-minute digest.
        let (_, threads) = gateway.agent_and_clients(CONVERSATIONS).await;
        let mut reply_to = HashMap::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while reply_to.len() < CONVERSATIONS {
            for (email, _) in &threads {
                if let Some(found) = outbox_emails(&gateway.outbox, email).first() {
                    reply_to.insert(email.clone(), found.reply_to());
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "notifications");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // The messages, dealt to the senders round-robin.
        let mut work: Vec<Vec<(String, String, String, String)>> = vec![Vec::new(); SENDERS];
        let mut n = 0;
        for round in 0..PER_CONVERSATION {
            for (email, _) in &threads {
                let marker = format!("crashmark{n:05}");
                let data = format!(
                    "From: {email}\r\nTo: {to}\r\nSubject: Re: case\r\nMessage-ID: <{marker}@client.test>\r\n\
Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Update {round}: {marker} is the word.\r\n",
                    to = reply_to[email]
                );
                work[n % SENDERS].push((marker, email.clone(), reply_to[email].clone(), data));
                n += 1;
            }
        }
        let log: Arc<Mutex<HashMap<String, Outcome>>> = Arc::default();
        let smtp = gateway.smtp;
        let mut senders = Vec::new();
        for batch in work {
            let log = log.clone();
            senders.push(tokio::spawn(async move {
                for (marker, from, to, data) in batch {
                    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
                    loop {
                        let result = attempt(smtp, &from, &to, &data).await;
                        let accepted = {
                            let mut log = log.lock().unwrap();
                            let outcome = log.entry(marker.clone()).or_default();
                            outcome.attempts += 1;
                            match result {
                                Attempt::Answered(250) => outcome.accepted = true,
                                Attempt::Answered(code) if code >= 500 => {
                                    panic!("{marker} refused with {code}")
                                }
                                // 4xx (shutting down, storage): send it again.
                                Attempt::Answered(_) => {}
                                Attempt::Failed => outcome.failed += 1,
                                Attempt::Lost => outcome.lost += 1,
                            }
                            outcome.accepted
                        };
                        if accepted {
                            break;
                        }
                        assert!(
                            tokio::time::Instant::now() < give_up,
                            "{marker} never got in"
                        );
                        tokio::time::sleep(Duration::from_millis(30)).await;
                    }
                }
            }));
        }
        // Kill the gateway in the middle, several times.
        for _ in 0..KILLS {
            tokio::time::sleep(Duration::from_millis(120)).await;
            gateway.kill();
            tokio::time::sleep(Duration::from_millis(100)).await;
            gateway.start().await;
        }
        for sender in senders {
            sender.await.expect("sender");
        }
        let log = log.lock().unwrap().clone();
        let total = CONVERSATIONS * PER_CONVERSATION;
        assert_eq!(log.len(), total);
        assert!(log.values().all(|o| o.accepted));
        let lost: u32 = log.values().map(|o| o.lost).sum();
        let failed: u32 = log.values().map(|o| o.failed).sum();

        // Every message is stored exactly once (retries of stored ones were duplicates).
        let mut stored: HashMap<String, usize> = HashMap::new();
        for (_, conversation) in &threads {
            for m in gateway.messages(conversation).await {
                let body = m["body_text"].as_str().unwrap_or("");
                if let Some(at) = body.find("crashmark") {
                    *stored.entry(body[at..at + 14].to_string()).or_default() += 1;
                }
            }
        }
        for marker in log.keys() {
            assert_eq!(
                stored.get(marker),
                Some(&1),
                "{}: {marker} stored {:?} times (client log {:?})",
                db.backend,
                stored.get(marker),
                log[marker]
            );
        }
        assert_eq!(stored.len(), total);

        // Every stored reply reaches the agent in exactly one notification email.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let counts = loop {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for email in outbox_emails(&gateway.outbox, "agent@team.test") {
                for word in email.text.split_whitespace() {
                    if let Some(at) = word.find("crashmark") {
                        let marker: String = word[at..].chars().take(14).collect();
                        *counts.entry(marker).or_default() += 1;
                    }
                }
            }
            if counts.len() == total || tokio::time::Instant::now() > deadline {
                break counts;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let missing: Vec<&String> = log.keys().filter(|m| !counts.contains_key(*m)).collect();
        let twice: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            missing.is_empty() && twice.is_empty(),
            "{}: notifications missing for {missing:?}, sent more than once for {twice:?}",
            db.backend
        );
        eprintln!(
            "{}: {total} messages, {KILLS} SIGKILLs, {lost} answers lost after the data and {failed} \
             attempts refused while down, all retried; every message stored once and notified once",
            db.backend
        );
        gateway.kill();
        drop(gateway);
        db.cleanup().await;
    }
}
