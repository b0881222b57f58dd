//! The outbox worker against real transports: a scripted SMTP relay on TCP (temporary and
//! permanent rejections, an unreachable relay, two workers racing) and the file transport.
//! Every test runs on a store with a `ManualClock`, so backoff is checked to the millisecond.

mod support;

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use threadgate::config::Outbound;
use threadgate::domain::{EmailAddress, ManualClock, Role, random_base32};
use threadgate::outbound::transport::Transport;
use threadgate::outbound::worker::{
    Delivered, LEASE_MS, MAX_ATTEMPTS, OutboxWorker, backoff, retry_delay,
};
use threadgate::store::{NewOutboxEmail, NewPerson, OutboxStatus, PlannedEmail, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// 2027-01-15T08:00:00Z: any fixed instant will do, the clock only moves when told to.
const START: i64 = 1_800_000_000_000;

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

// ---------------------------------------------------------------------------------------------
// A scripted SMTP relay
// ---------------------------------------------------------------------------------------------

/// One message whose data was fully received (up to the terminating `.`), with the code the
/// relay answered it with.
#[derive(Debug, Clone)]
struct Received {
    mail_from: String,
    rcpt_to: Vec<String>,
    /// The message as the client meant it: dot-unstuffed, without the terminating `.` line.
    data: Vec<u8>,
    code: u16,
}

/// One scripted answer to the end of DATA.
#[derive(Debug, Clone, Copy)]
struct Step {
    code: u16,
    /// Wait for [`Relay::release`] before answering: a relay that is slow to answer.
    hold: bool,
}

/// A tiny SMTP relay on 127.0.0.1: it answers every command with success, except the reply to
/// the end of DATA, which is the next step of its script (250 once the script is used up).
/// It offers no STARTTLS, so lettre's opportunistic TLS stays plain.
struct Relay {
    addr: SocketAddr,
    script: Arc<Mutex<VecDeque<Step>>>,
    received: Arc<Mutex<Vec<Received>>>,
    release: Arc<tokio::sync::Semaphore>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl Relay {
    async fn start(codes: &[u16]) -> Relay {
        let steps: Vec<Step> = codes
            .iter()
            .map(|&code| Step { code, hold: false })
            .collect();
        Relay::start_steps(&steps).await
    }

    async fn start_steps(script: &[Step]) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(
            script.iter().copied().collect::<VecDeque<Step>>(),
        ));
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let accept_task = {
            let (script, received, release) = (script.clone(), received.clone(), release.clone());
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (script, received, release) =
                        (script.clone(), received.clone(), release.clone());
                    tokio::spawn(async move {
                        let _ = serve_connection(stream, script, received, release).await;
                    });
                }
            })
        };
        Relay {
            addr,
            script,
            received,
            release,
            accept_task,
        }
    }

    /// Lets one held answer go out.
    fn release(&self) {
        self.release.add_permits(1);
    }

    /// Waits (up to 10 s) until the data of `count` messages has arrived.
    async fn wait_for_data(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.received().len() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the relay got {} messages, expected {count}",
                self.received().len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn outbound(&self) -> Outbound {
        Outbound::Relay {
            host: self.addr.ip().to_string(),
            port: self.addr.port(),
            credentials: None,
        }
    }

    fn transport(&self) -> Transport {
        Transport::new(&self.outbound(), std::env::temp_dir()).expect("relay transport")
    }

    /// Every message whose data arrived, whatever the answer.
    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The messages the relay took responsibility for (answered 250).
    fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.code == 250)
            .collect()
    }

    fn script_left(&self) -> usize {
        self.script.lock().unwrap().len()
    }
}

fn reply_text(code: u16) -> &'static str {
    match code {
        250 => "250 2.0.0 Ok: queued",
        421 => "421 4.3.2 Service shutting down",
        450 => "450 4.2.0 Mailbox busy",
        451 => "451 4.3.0 Temporary local problem, try again later",
        452 => "452 4.3.1 Insufficient system storage",
        550 => "550 5.7.1 Message rejected by policy",
        552 => "552 5.3.4 Message too big",
        554 => "554 5.6.0 Transaction failed",
        _ => "500 5.5.0 Scripted failure",
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    script: Arc<Mutex<VecDeque<Step>>>,
    received: Arc<Mutex<Vec<Received>>>,
    release: Arc<tokio::sync::Semaphore>,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    w.write_all(b"220 relay.test ESMTP\r\n").await?;
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let verb = text
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let argument = |prefix: &str| {
            text.get(prefix.len()..)
                .unwrap_or("")
                .trim()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or("")
                .to_string()
        };
        match verb.as_str() {
            "EHLO" => w.write_all(b"250-relay.test\r\n250 PIPELINING\r\n").await?,
            "HELO" => w.write_all(b"250 relay.test\r\n").await?,
            "MAIL" => {
                mail_from = argument("MAIL FROM:");
                rcpt_to.clear();
                w.write_all(b"250 2.1.0 Ok\r\n").await?;
            }
            "RCPT" => {
                rcpt_to.push(argument("RCPT TO:"));
                w.write_all(b"250 2.1.5 Ok\r\n").await?;
            }
            "DATA" => {
                w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = Vec::new();
                loop {
                    let mut line = Vec::new();
                    if reader.read_until(b'\n', &mut line).await? == 0 {
                        // The client went away mid-message: nothing was received.
                        return Ok(());
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    // Transparency (RFC 5321 §4.5.2): a leading dot was doubled by the client.
                    let line = if line.starts_with(b"..") {
                        &line[1..]
                    } else {
                        &line[..]
                    };
                    data.extend_from_slice(line);
                }
                let step = script.lock().unwrap().pop_front().unwrap_or(Step {
                    code: 250,
                    hold: false,
                });
                let code = step.code;
                received.lock().unwrap().push(Received {
                    mail_from: std::mem::take(&mut mail_from),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                    code,
                });
                if step.hold {
                    release.acquire().await.expect("relay semaphore").forget();
                }
                w.write_all(format!("{}\r\n", reply_text(code)).as_bytes())
                    .await?;
            }
            "RSET" => {
                mail_from.clear();
                rcpt_to.clear();
                w.write_all(b"250 2.0.0 Ok\r\n").await?;
            }
            "NOOP" => w.write_all(b"250 2.0.0 Ok\r\n").await?,
            "QUIT" => {
                w.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => w.write_all(b"502 5.5.2 Command not recognized\r\n").await?,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Queueing realistic emails
// ---------------------------------------------------------------------------------------------

/// What the test queued, to compare with what came out.
#[derive(Debug, Clone)]
struct Queued {
    id: String,
    recipient: String,
    message_id: String,
    data: Vec<u8>,
}

/// A small RFC 5322 message with a unique Message-ID; one body line starts with a dot, so
/// SMTP transparency (dot-stuffing) is exercised too.
fn rfc5322(recipient: &str, message_id: &str, n: usize) -> Vec<u8> {
    format!(
        "From: \"Agnes Agent via threadgate\" <notifications@gateway.test>\r\n\
To: {recipient}\r\n\
Subject: Your order #{n}\r\n\
Date: Fri, 15 Jan 2027 08:00:00 +0000\r\n\
Message-ID: {message_id}\r\n\
Reply-To: reply+{token}@reply.test\r\n\
Auto-Submitted: auto-generated\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 7bit\r\n\
\r\n\
Hello, your order #{n} shipped today.\r\n\
.this line starts with a dot\r\n\
\r\n\
-- \r\n\
threadgate\r\n",
        token = random_base32(16),
    )
    .into_bytes()
}

/// Creates a person and a conversation for them, then queues one notification the way the
/// scheduler does: through `enqueue_notification`, which moves the participant's mark.
async fn queue_email(store: &Store, n: usize) -> Queued {
    let recipient = format!("client{n}.{}@client.test", random_base32(4));
    let person = store
        .create_person(NewPerson {
            email: EmailAddress::parse(&recipient).expect("valid address"),
            name: format!("Client {n}"),
            role: Role::Client,
        })
        .await
        .expect("create person");
    let conversation = store
        .create_conversation(&format!("Your order #{n}"), &person.id, &[])
        .await
        .expect("create conversation");
    let id = format!("out_{}", random_base32(10));
    let message_id = format!(
        "<{}.{}.1.{}@reply.test>",
        conversation.id,
        person.id,
        random_base32(6)
    );
    let data = rfc5322(&recipient, &message_id, n);
    let plan = PlannedEmail {
        failure: None,
        thread_subject: None,
        assigned_by: None,
        conversation_id: conversation.id.clone(),
        person_id: person.id.clone(),
        expected_up_to: 0,
        up_to: 1,
        email: Some(NewOutboxEmail {
            id: id.clone(),
            envelope_from: "notifications@gateway.test".to_string(),
            recipient: recipient.clone(),
            message_id: message_id.clone(),
            references: message_id.clone(),
            data: data.clone().into(),
        }),
    };
    assert!(
        store.enqueue_notification(&plan).await.expect("enqueue"),
        "the mark moved"
    );
    Queued {
        id,
        recipient,
        message_id,
        data,
    }
}

async fn status_of(store: &Store, id: &str) -> OutboxStatus {
    store
        .outbox_statuses(1000)
        .await
        .expect("outbox statuses")
        .into_iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("{id} is in the outbox"))
}

/// A worker whose retry horizon is far away, so `MAX_ATTEMPTS` alone decides when to give up.
fn worker(store: &Store, transport: Transport) -> OutboxWorker {
    OutboxWorker::new(store.clone(), transport, Arc::new(Notify::new()))
        .with_retry_horizon(Duration::from_secs(365 * 24 * 3600))
}

#[tokio::test]
async fn a_temporary_failure_is_given_up_past_the_retry_horizon() {
    install_crypto();
    let db = TestDb::sqlite().await;
    let clock = ManualClock::at(START);
    let store = store_with_clock(&db, Arc::new(clock.clone())).await;
    let email = queue_email(&store, 0).await;
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().unwrap().port()
    };
    let outbound = Outbound::Relay {
        host: "127.0.0.1".to_string(),
        port: closed,
        credentials: None,
    };
    let transport = Transport::new(&outbound, std::env::temp_dir()).unwrap();
    let worker = OutboxWorker::new(store.clone(), transport, Arc::new(Notify::new()))
        .with_retry_horizon(Duration::from_secs(3600));
    let mut passes = 0;
    loop {
        passes += 1;
        assert!(passes < 50, "never gave up");
        let done = worker.run_once().await.unwrap();
        if done.failed == 1 {
            break;
        }
        clock.advance(Duration::from_secs(3600));
    }
    let status = status_of(&store, &email.id).await;
    assert_eq!(status.status, "failed");
    assert!(
        status.attempts < MAX_ATTEMPTS,
        "the horizon, not the attempt count, ended it"
    );
    assert!(status.last_error.unwrap().contains("gave up"));
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn header_value(data: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// What a relay received equals what was queued. lettre ends DATA with `\r\n.\r\n` even when
/// the message already ends with CRLF, so the relay may see one empty line more.
fn assert_same_message(got: &[u8], queued: &Queued) {
    let extra_line = [queued.data.as_slice(), b"\r\n"].concat();
    assert!(
        got == queued.data.as_slice() || got == extra_line.as_slice(),
        "the relay got the queued bytes (dot-unstuffed)\n--- got:\n{}\n--- queued:\n{}",
        String::from_utf8_lossy(got),
        String::from_utf8_lossy(&queued.data)
    );
}

const NOTHING: Delivered = Delivered {
    sent: 0,
    retried: 0,
    failed: 0,
    errors: 0,
};

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_relay_that_answers_451_then_250_gets_the_mail_once() {
    install_crypto();
    let db = TestDb::sqlite().await;
    let clock = ManualClock::at(START);
    let store = store_with_clock(&db, Arc::new(clock.clone())).await;
    let relay = Relay::start(&[451, 250]).await;
    let worker = worker(&store, relay.transport());
    let email = queue_email(&store, 1).await;

    let first = worker.run_once().await.expect("first pass");
    assert_eq!(
        first,
        Delivered {
            sent: 0,
            retried: 1,
            failed: 0,
            errors: 0,
        }
    );
    let status = status_of(&store, &email.id).await;
    assert_eq!(status.status, "pending", "{status:?}");
    assert_eq!(status.attempts, 1, "{status:?}");
    assert_eq!(status.recipient, email.recipient);
    let error = status.last_error.clone().expect("the 451 is recorded");
    assert!(
        error.contains("451"),
        "last_error mentions the 451: {error}"
    );
    assert_eq!(
        status.next_attempt_at,
        START + ms(retry_delay(&email.id, 1)),
        "{status:?}"
    );
    assert_eq!(relay.received().len(), 1, "the data was sent once");
    assert!(relay.accepted().is_empty(), "…and refused");

    // Not due yet: neither right away nor one millisecond before the backoff ends.
    assert_eq!(worker.run_once().await.expect("second pass"), NOTHING);
    clock.advance(retry_delay(&email.id, 1) - Duration::from_millis(1));
    assert_eq!(worker.run_once().await.expect("early pass"), NOTHING);
    assert_eq!(
        relay.received().len(),
        1,
        "no attempt before the backoff ran out"
    );

    clock.advance(Duration::from_secs(1));
    let retry = worker.run_once().await.expect("retry pass");
    assert_eq!(
        retry,
        Delivered {
            sent: 1,
            retried: 0,
            failed: 0,
            errors: 0,
        }
    );
    let status = status_of(&store, &email.id).await;
    assert_eq!(status.status, "sent", "{status:?}");
    assert_eq!(status.attempts, 2, "{status:?}");
    assert_eq!(
        status.last_error, None,
        "a delivered email carries no error: {status:?}"
    );

    let accepted = relay.accepted();
    assert_eq!(
        accepted.len(),
        1,
        "exactly one accepted message: {accepted:?}"
    );
    assert!(
        contains(&accepted[0].data, &email.message_id),
        "the accepted bytes carry the Message-ID"
    );
    assert_same_message(&accepted[0].data, &email);
    assert_eq!(accepted[0].mail_from, "notifications@gateway.test");
    assert_eq!(accepted[0].rcpt_to, vec![email.recipient.clone()]);
    assert_eq!(relay.script_left(), 0);

    // Delivered is final: later passes (even much later) send nothing.
    for _ in 0..3 {
        assert_eq!(worker.run_once().await.expect("later pass"), NOTHING);
        clock.advance(Duration::from_secs(3600));
    }
    assert_eq!(
        relay.received().len(),
        2,
        "451 once, 250 once, nothing more"
    );
    assert_eq!(relay.accepted().len(), 1);
}

#[tokio::test]
async fn a_relay_that_answers_550_marks_the_mail_failed() {
    install_crypto();
    let db = TestDb::sqlite().await;
    let clock = ManualClock::at(START);
    let store = store_with_clock(&db, Arc::new(clock.clone())).await;
    let relay = Relay::start(&[550]).await;
    let worker = worker(&store, relay.transport());
    let email = queue_email(&store, 1).await;

    let first = worker.run_once().await.expect("first pass");
    assert_eq!(
        first,
        Delivered {
            sent: 0,
            retried: 0,
            failed: 1,
            errors: 0,
        }
    );
    let status = status_of(&store, &email.id).await;
    assert_eq!(status.status, "failed", "{status:?}");
    assert_eq!(status.attempts, 1, "{status:?}");
    let error = status.last_error.clone().expect("the 550 is recorded");
    assert!(
        error.contains("550"),
        "last_error mentions the 550: {error}"
    );

    // Never retried: not right away, not after the longest backoff, not a day later.
    assert_eq!(worker.run_once().await.expect("second pass"), NOTHING);
    clock.advance(backoff(MAX_ATTEMPTS) + Duration::from_secs(1));
    assert_eq!(
        worker
            .run_once()
            .await
            .expect("pass after the longest backoff"),
        NOTHING
    );
    clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(worker.run_once().await.expect("pass a day later"), NOTHING);

    let status = status_of(&store, &email.id).await;
    assert_eq!(status.status, "failed", "{status:?}");
    assert_eq!(status.attempts, 1, "{status:?}");
    assert_eq!(
        relay.received().len(),
        1,
        "the data was offered exactly once"
    );
    assert!(relay.accepted().is_empty());
    assert_eq!(relay.script_left(), 0);
}

#[tokio::test]
async fn an_unreachable_relay_is_retried_with_backoff() {
    install_crypto();
    let db = TestDb::sqlite().await;
    let clock = ManualClock::at(START);
    let store = store_with_clock(&db, Arc::new(clock.clone())).await;
    // A port that was just free and that nobody listens on any more.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().unwrap().port()
    };
    let outbound = Outbound::Relay {
        host: "127.0.0.1".to_string(),
        port: closed,
        credentials: None,
    };
    let worker = worker(
        &store,
        Transport::new(&outbound, std::env::temp_dir()).expect("transport"),
    );
    let email = queue_email(&store, 1).await;

    let mut previous_wait = Duration::ZERO;
    for attempt in 1..MAX_ATTEMPTS {
        let now = store.now();
        let pass = tokio::time::timeout(Duration::from_secs(30), worker.run_once())
            .await
            .expect("a refused connection fails fast")
            .expect("pass");
        assert_eq!(
            pass,
            Delivered {
                sent: 0,
                retried: 1,
                failed: 0,
                errors: 0,
            },
            "attempt {attempt}"
        );
        let status = status_of(&store, &email.id).await;
        assert_eq!(status.status, "pending", "attempt {attempt}: {status:?}");
        assert_eq!(
            status.attempts, attempt,
            "attempts grow by one per try: {status:?}"
        );
        assert!(
            status.last_error.as_deref().is_some_and(|e| !e.is_empty()),
            "{status:?}"
        );

        // next_attempt_at moves by the doubling backoff (30 s, 1 min, 2 min, … capped at 6 h).
        let wait = Duration::from_millis((status.next_attempt_at - now) as u64);
        assert_eq!(
            wait,
            retry_delay(&email.id, attempt),
            "attempt {attempt}: {status:?}"
        );
        // The doubling backoff plus at most a fifth of jitter.
        assert!(
            wait >= backoff(attempt)
                && wait <= backoff(attempt) + backoff(attempt) / 5 + Duration::from_millis(1)
        );
        if attempt > 1 {
            assert_eq!(
                backoff(attempt),
                (backoff(attempt - 1) * 2).min(Duration::from_secs(6 * 3600)),
                "attempt {attempt}: the base doubles after {previous_wait:?}"
            );
        }
        previous_wait = wait;

        // Not due a millisecond early; due exactly when the backoff runs out.
        clock.advance(wait - Duration::from_millis(1));
        assert_eq!(
            worker.run_once().await.expect("early pass"),
            NOTHING,
            "attempt {attempt}"
        );
        clock.advance(Duration::from_millis(1));
    }

    // The last allowed attempt fails too: given up.
    let last = worker.run_once().await.expect("last pass");
    assert_eq!(
        last,
        Delivered {
            sent: 0,
            retried: 0,
            failed: 1,
            errors: 0,
        }
    );
    let status = status_of(&store, &email.id).await;
    assert_eq!(status.status, "failed", "{status:?}");
    assert_eq!(status.attempts, MAX_ATTEMPTS, "{status:?}");
    let error = status.last_error.clone().unwrap_or_default();
    assert!(
        error.contains(&format!("{MAX_ATTEMPTS} attempts")),
        "{error}"
    );

    clock.advance(Duration::from_secs(7 * 24 * 3600));
    assert_eq!(worker.run_once().await.expect("pass a week later"), NOTHING);
    assert_eq!(status_of(&store, &email.id).await.attempts, MAX_ATTEMPTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_never_deliver_the_same_email_twice() {
    install_crypto();
    for db in test_databases().await {
        let backend = db.backend;
        let clock = ManualClock::at(START);
        let store = store_with_clock(&db, Arc::new(clock.clone())).await;
        let relay = Relay::start(&[]).await;
        let mut queued = Vec::new();
        for n in 0..20 {
            queued.push(queue_email(&store, n).await);
        }

        // Two workers, as two gateway processes would have: own transports, own pools.
        let (a, b) = (
            worker(&store, relay.transport()),
            worker(&store, relay.transport()),
        );
        let mut sent = 0;
        for _ in 0..5 {
            let (wa, wb) = tokio::join!(a.run_once(), b.run_once());
            let (wa, wb) = (wa.expect("worker a"), wb.expect("worker b"));
            assert_eq!(
                wa.retried + wa.failed + wb.retried + wb.failed,
                0,
                "{backend}: {wa:?} {wb:?}"
            );
            sent += wa.sent + wb.sent;
            if wa == NOTHING && wb == NOTHING {
                break;
            }
        }
        assert_eq!(
            sent, 20,
            "{backend}: the workers together sent every email once"
        );

        let accepted = relay.accepted();
        assert_eq!(
            accepted.len(),
            20,
            "{backend}: exactly 20 messages reached the relay"
        );
        let mut seen = HashSet::new();
        for message in &accepted {
            let id = header_value(&message.data, "Message-ID").expect("a Message-ID header");
            assert!(
                seen.insert(id.clone()),
                "{backend}: {id} was delivered twice"
            );
        }
        for email in &queued {
            assert!(
                seen.contains(&email.message_id),
                "{backend}: {} never arrived",
                email.message_id
            );
            let got = accepted
                .iter()
                .find(|m| contains(&m.data, &email.message_id))
                .expect("delivered");
            assert_same_message(&got.data, email);
            assert_eq!(got.rcpt_to, vec![email.recipient.clone()], "{backend}");
            assert_eq!(
                status_of(&store, &email.id).await.status,
                "sent",
                "{backend}"
            );
        }

        // And nothing is left for a later pass, even after the leases would have expired.
        clock.advance(Duration::from_secs(3600));
        let (wa, wb) = tokio::join!(a.run_once(), b.run_once());
        assert_eq!((wa.unwrap(), wb.unwrap()), (NOTHING, NOTHING), "{backend}");
        assert_eq!(relay.received().len(), 20, "{backend}");

        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn the_file_transport_writes_one_eml_per_email_atomically() {
    install_crypto();
    let db = TestDb::sqlite().await;
    let clock = ManualClock::at(START);
    let store = store_with_clock(&db, Arc::new(clock.clone())).await;
    let dir = tempfile::tempdir().expect("temp dir");
    // A directory that does not exist yet: the transport creates it.
    let outbox = dir.path().join("outbox");
    let transport = Transport::new(&Outbound::File, outbox.clone()).expect("file transport");
    let worker = worker(&store, transport);
    let mut queued = Vec::new();
    for n in 0..3 {
        queued.push(queue_email(&store, n).await);
    }

    assert_eq!(
        worker.run_once().await.expect("first pass"),
        Delivered {
            sent: 3,
            retried: 0,
            failed: 0,
            errors: 0,
        }
    );
    assert_eq!(worker.run_once().await.expect("second pass"), NOTHING);
    clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(worker.run_once().await.expect("a day later"), NOTHING);

    let names = file_names(&outbox);
    let mut expected: Vec<String> = queued.iter().map(|q| format!("{}.eml", q.id)).collect();
    expected.sort();
    assert_eq!(
        names, expected,
        "exactly one <outbox id>.eml per email and nothing else"
    );
    assert!(
        !names.iter().any(|n| n.ends_with(".tmp")),
        "no leftover temp file: {names:?}"
    );
    for email in &queued {
        let written = std::fs::read(outbox.join(format!("{}.eml", email.id))).expect("read .eml");
        assert!(
            written == email.data,
            "{}.eml holds exactly the queued bytes",
            email.id
        );
        assert_eq!(status_of(&store, &email.id).await.status, "sent");
    }
}

/// Every entry of `dir` (hidden ones included), sorted.
fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("outbox dir exists")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// How long a claim protects an email from other workers.
const LEASE: Duration = Duration::from_millis(LEASE_MS as u64);

/// One pass of `worker` running in the background (it will block on a held relay answer).
fn spawn_pass(worker: &OutboxWorker) -> tokio::task::JoinHandle<Delivered> {
    let worker = worker.clone();
    tokio::spawn(async move { worker.run_once().await.expect("background pass") })
}

/// A worker claims a whole batch with one lease and then delivers it one email after another.
/// When the relay is slow, the lease of the emails still waiting in the batch runs out before
/// the worker even starts on them; another worker (another gateway process) then claims and
/// sends them, and the first worker, unaware, sends them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_that_outlasts_its_lease_is_not_sent_again_by_another_worker() {
    install_crypto();
    let mut problems = Vec::new();
    for db in test_databases().await {
        let backend = db.backend;
        let clock = ManualClock::at(START);
        let store = store_with_clock(&db, Arc::new(clock.clone())).await;
        // Worker A's first answer is slow; everything else is accepted at once.
        let relay = Relay::start_steps(&[Step {
            code: 250,
            hold: true,
        }])
        .await;
        let queued = [
            queue_email(&store, 0).await,
            queue_email(&store, 1).await,
            queue_email(&store, 2).await,
        ];
        let (a, b) = (
            worker(&store, relay.transport()),
            worker(&store, relay.transport()),
        );

        // A claims all three and is stuck waiting for the relay's answer to one of them.
        let pass_a = spawn_pass(&a);
        relay.wait_for_data(1).await;
        let stuck = queued
            .iter()
            .position(|q| contains(&relay.received()[0].data, &q.message_id))
            .expect("A is delivering one of the queued emails");

        // The relay is slow enough for A's lease to run out; B finds the emails due again.
        clock.advance(LEASE + Duration::from_secs(1));
        let pass_b = b.run_once().await.expect("worker b");
        relay.release();
        let pass_a = pass_a.await.expect("worker a task");

        // The email A was in the middle of may arrive twice (A cannot know it stalled), but
        // the two A had not started on yet must not: B has delivered them.
        let accepted = relay.accepted();
        let counts: Vec<usize> = queued
            .iter()
            .map(|q| {
                accepted
                    .iter()
                    .filter(|m| contains(&m.data, &q.message_id))
                    .count()
            })
            .collect();
        let not_started: Vec<usize> = (0..queued.len()).filter(|&n| n != stuck).collect();
        if not_started.iter().any(|&n| counts[n] != 1) {
            problems.push(format!(
                "{backend}: A was stuck on email #{stuck}; the emails of its batch it had not \
                 started on yet (#{not_started:?}) were delivered {:?} times (A sent {}, B sent \
                 {}; deliveries per email: {counts:?})",
                not_started.iter().map(|&n| counts[n]).collect::<Vec<_>>(),
                pass_a.sent,
                pass_b.sent,
            ));
        }
        store.close().await;
        db.cleanup().await;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A late answer for a claim that has expired (and was taken over and delivered by another
/// worker) must not undo that delivery: here the stale worker's 451 puts the delivered email
/// back to `pending`, and it is sent once more after the backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_answer_from_an_expired_claim_does_not_undo_a_delivery() {
    install_crypto();
    let mut problems = Vec::new();
    for db in test_databases().await {
        let backend = db.backend;
        let clock = ManualClock::at(START);
        let store = store_with_clock(&db, Arc::new(clock.clone())).await;
        // A's attempt is answered late, with a 451; B's attempt is accepted.
        let relay = Relay::start_steps(&[
            Step {
                code: 451,
                hold: true,
            },
            Step {
                code: 250,
                hold: false,
            },
        ])
        .await;
        let email = queue_email(&store, 0).await;
        let (a, b) = (
            worker(&store, relay.transport()),
            worker(&store, relay.transport()),
        );

        let pass_a = spawn_pass(&a);
        relay.wait_for_data(1).await;
        clock.advance(LEASE + Duration::from_secs(1));
        let pass_b = b.run_once().await.expect("worker b");
        assert_eq!(
            pass_b,
            Delivered {
                sent: 1,
                retried: 0,
                failed: 0,
                errors: 0,
            },
            "{backend}"
        );
        assert_eq!(
            status_of(&store, &email.id).await.status,
            "sent",
            "{backend}"
        );

        relay.release();
        pass_a.await.expect("worker a task");
        let status = status_of(&store, &email.id).await;
        if status.status != "sent" {
            problems.push(format!(
                "{backend}: the stale 451 undid the delivery: {status:?}"
            ));
        }

        clock.advance(backoff(MAX_ATTEMPTS) * 2 + LEASE);
        let later = b.run_once().await.expect("later pass");
        let accepted = relay.accepted().len();
        if later != NOTHING || accepted != 1 {
            problems.push(format!(
                "{backend}: the delivered email was sent again ({later:?}); the relay accepted it \
                 {accepted} times"
            ));
        }
        store.close().await;
        db.cleanup().await;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Fault injection: the relay refuses one email of a batch (temporarily) and another is
/// refused for good; the others of the same pass are delivered, and each failure is on its
/// row, as the API's outbox list shows it.
#[tokio::test]
async fn one_failing_email_never_holds_back_the_rest_of_its_batch() {
    install_crypto();
    for db in test_databases().await {
        let clock = ManualClock::at(START);
        let store = store_with_clock(&db, Arc::new(clock.clone())).await;
        let relay = Relay::start(&[250, 451, 550, 250]).await;
        let worker = worker(&store, relay.transport());
        let mut queued = Vec::new();
        for n in 1..=4 {
            queued.push(queue_email(&store, n).await);
        }
        let done = worker.run_once().await.expect("one pass");
        assert_eq!(
            done,
            Delivered {
                sent: 2,
                retried: 1,
                failed: 1,
                errors: 0,
            }
        );
        let statuses: Vec<String> = {
            let mut out = Vec::new();
            for q in &queued {
                out.push(status_of(&store, &q.id).await.status);
            }
            out
        };
        assert_eq!(statuses, ["sent", "pending", "failed", "sent"]);
        assert!(
            status_of(&store, &queued[1].id)
                .await
                .last_error
                .unwrap()
                .contains("451")
        );
        assert_eq!(relay.accepted().len(), 2);
        store.close().await;
        db.cleanup().await;
    }
}

/// Queued emails are kept gzipped (`StoredEmail`) and delivered whole; one whose stored copy
/// was damaged is failed, saying so, and the rest of its batch is delivered.
#[tokio::test]
async fn a_damaged_stored_copy_fails_its_email_and_the_rest_are_delivered() {
    install_crypto();
    for db in test_databases().await {
        let clock = ManualClock::at(START);
        let store = store_with_clock(&db, Arc::new(clock.clone())).await;
        let relay = Relay::start(&[250, 250]).await;
        let worker = worker(&store, relay.transport());
        let mut queued = Vec::new();
        for n in 1..=3 {
            queued.push(queue_email(&store, n).await);
        }
        // Kept gzipped (RFC 1952's magic bytes first): marked so through a column the test
        // can read back.
        let (gzipped, damage) = match db.backend {
            "sqlite" => (
                "substr(data, 1, 2) = X'1F8B'",
                "X'1F8B08000000000000FF7A7A7A'",
            ),
            _ => (
                "substring(data from 1 for 2) = '\\x1f8b'::bytea",
                "'\\x1f8b08000000000000ff7a7a7a'::bytea",
            ),
        };
        raw_sql(
            &db,
            &format!("UPDATE outbox SET last_error = 'gzipped' WHERE {gzipped}"),
        )
        .await;
        for q in &queued {
            assert_eq!(
                status_of(&store, &q.id).await.last_error.as_deref(),
                Some("gzipped"),
                "{}",
                db.backend
            );
        }
        raw_sql(
            &db,
            &format!(
                "UPDATE outbox SET data = {damage}, last_error = NULL WHERE id = '{}';
                 UPDATE outbox SET last_error = NULL",
                queued[1].id
            ),
        )
        .await;
        let done = worker.run_once().await.expect("one pass");
        assert_eq!(done.sent, 2, "{}", db.backend);
        let damaged = status_of(&store, &queued[1].id).await;
        assert_eq!(damaged.status, "failed");
        assert!(
            damaged
                .last_error
                .as_deref()
                .unwrap_or("")
                .contains("damaged"),
            "{damaged:?}"
        );
        let accepted = relay.accepted();
        assert_eq!(accepted.len(), 2);
        for q in [&queued[0], &queued[2]] {
            let got = accepted
                .iter()
                .find(|r| r.rcpt_to.contains(&q.recipient))
                .expect("delivered");
            assert_same_message(&got.data, q);
        }
        store.close().await;
        db.cleanup().await;
    }
}

/// A claim takes the urgent first, then what became due earliest, and emails whose lease ran
/// out; never one not yet due or still leased by another worker. It reads the queue in that
/// order through the index and stops at its limit, so this order is also what a long queue
/// (a digest's 100,000 emails) is drained in.
#[tokio::test]
async fn a_claim_takes_the_urgent_then_the_longest_due_then_expired_leases() {
    for db in test_databases().await {
        let clock = ManualClock::at(START);
        let store = store_with_clock(&db, Arc::new(clock.clone())).await;
        let mut queued = Vec::new();
        for n in 1..=6 {
            queued.push(queue_email(&store, n).await);
        }
        let id = |n: usize| queued[n - 1].id.clone();
        raw_sql(
            &db,
            &format!(
                "UPDATE outbox SET next_attempt_at = {later} WHERE id = '{}';
                 UPDATE outbox SET next_attempt_at = {earlier} WHERE id = '{}';
                 UPDATE outbox SET priority = 0 WHERE id = '{}';
                 UPDATE outbox SET status = 'sending', lease_until = {expired} WHERE id = '{}';
                 UPDATE outbox SET status = 'sending', lease_until = {later} WHERE id = '{}'",
                id(1),
                id(6),
                id(3),
                id(4),
                id(5),
                later = START + 60_000,
                earlier = START - 5_000,
                expired = START - 1,
            ),
        )
        .await;
        let ids = |claimed: Vec<threadgate::store::OutboxEmail>| -> Vec<String> {
            claimed.into_iter().map(|e| e.id).collect()
        };
        // The urgent one; the one due five seconds before the others, queued last; then, of
        // two due at the same time, the older. Handed over by priority and age.
        let first = ids(store.claim_outbox(3, LEASE_MS).await.expect("claim"));
        assert_eq!(first, [id(3), id(2), id(6)], "{}", db.backend);
        let second = ids(store.claim_outbox(10, LEASE_MS).await.expect("claim"));
        assert_eq!(second, [id(4)], "{}", db.backend);
        // A minute on: the email not yet due is, and the other worker's lease has run out.
        clock.advance(Duration::from_millis(60_001));
        let third = ids(store.claim_outbox(10, LEASE_MS).await.expect("claim"));
        assert_eq!(third, [id(1), id(5)], "{}", db.backend);
        assert!(
            store
                .claim_outbox(10, LEASE_MS)
                .await
                .expect("claim")
                .is_empty()
        );
        store.close().await;
        db.cleanup().await;
    }
}
