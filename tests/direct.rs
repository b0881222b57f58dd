//! Direct delivery (`--outbound mx`) to a test MX on loopback found through the test DNS
//! server: MX preference order with fallback past a dead host, connection reuse, 5xx as a
//! permanent failure, and the null MX (RFC 7505).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::dns::TestDns;
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A minimal receiving MTA: accepts everything except RCPT to `bad@…` (550 5.1.1).
#[derive(Clone, Default)]
struct Sink {
    messages: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<usize>>,
}

impl Sink {
    async fn start() -> (Sink, u16) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = Sink::default();
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                *s.connections.lock().unwrap() += 1;
                let s = s.clone();
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut lines = BufReader::new(r);
                    w.write_all(b"220 sink.test ESMTP\r\n").await.ok();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO")
                        {
                            b"250-sink.test\r\n250 PIPELINING\r\n"
                        } else if upper.starts_with("RCPT") && upper.contains("<BAD@") {
                            b"550 5.1.1 No such user\r\n"
                        } else if upper.starts_with("DATA") {
                            w.write_all(b"354 go ahead\r\n").await.ok();
                            let mut data = String::new();
                            loop {
                                let mut l = String::new();
                                if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if l == ".\r\n" {
                                    break;
                                }
                                data.push_str(&l);
                            }
                            s.messages.lock().unwrap().push(data);
                            b"250 2.0.0 queued\r\n"
                        } else if upper.starts_with("QUIT") {
                            w.write_all(b"221 bye\r\n").await.ok();
                            return;
                        } else {
                            b"250 2.0.0 ok\r\n"
                        };
                        if w.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (sink, port)
    }

    fn count(&self) -> usize {
        self.messages.lock().unwrap().len()
    }
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn mail_goes_to_the_recipient_mx_in_preference_order_over_reused_connections() {
    for db in test_databases().await {
        let dns = TestDns::start().await;
        let (sink, port) = Sink::start().await;
        // The preferred MX has an address where nothing listens: the next one is tried.
        dns.mx("dest.test", 10, "mx1.dest.test").await;
        dns.a("mx1.dest.test", std::net::Ipv4Addr::new(127, 0, 0, 2))
            .await;
        dns.mx("dest.test", 20, "mx2.dest.test").await;
        dns.a("mx2.dest.test", std::net::Ipv4Addr::LOCALHOST).await;
        dns.mx("nomail.test", 0, ".").await;
        let server = dns.addr.to_string();
        let port_arg = port.to_string();
        let app = spawn_app(
            &db,
            &[
                "--outbound",
                "mx",
                "--direct-port",
                &port_arg,
                "--dns-server",
                &server,
            ],
        )
        .await;
        let agent = app
            .person("agnes@team.test", "Agnes Agent", "internal")
            .await;
        let carl = app.person("carl@dest.test", "Carl Client", "client").await;
        let conversation = app.conversation("Direct", &agent, &[&carl]).await;
        app.say(&conversation, &agent, "Hello by direct delivery", "message")
            .await;
        wait_until("the first email at the MX", || sink.count() == 1).await;
        assert!(
            sink.messages.lock().unwrap()[0].contains("Hello by direct delivery"),
            "{}",
            db.backend
        );
        // Reading catches Carl up, so the next message goes out at once (not in a digest),
        // over the same connection.
        app.post(
            &format!("/conversations/{conversation}/read"),
            serde_json::json!({"person_id": carl}),
        )
        .await;
        app.say(&conversation, &agent, "And a second one", "message")
            .await;
        wait_until("the second email at the MX", || sink.count() == 2).await;
        assert_eq!(
            *sink.connections.lock().unwrap(),
            1,
            "one connection for both emails"
        );

        // A 5xx from the MX: failed for good, and the address is marked bounced.
        let bad = app.person("bad@dest.test", "Bad Address", "client").await;
        let nomail = app.person("someone@nomail.test", "No Mail", "client").await;
        let other = app.conversation("Refused", &agent, &[&bad, &nomail]).await;
        app.say(&other, &agent, "Will bounce", "message").await;
        let mut statuses = Vec::new();
        for _ in 0..300 {
            let (_, outbox) = app.get("/outbox?limit=50").await;
            statuses = outbox["outbox"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| {
                    e["recipient"] == "bad@dest.test" || e["recipient"] == "someone@nomail.test"
                })
                .map(|e| {
                    (
                        e["recipient"].as_str().unwrap().to_string(),
                        e["status"].as_str().unwrap().to_string(),
                        e["last_error"].to_string(),
                    )
                })
                .collect::<Vec<_>>();
            if statuses.len() == 2 && statuses.iter().all(|(_, s, _)| s == "failed") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            statuses.len() == 2 && statuses.iter().all(|(_, s, _)| s == "failed"),
            "{statuses:?}"
        );
        assert!(
            statuses
                .iter()
                .any(|(r, _, e)| r == "bad@dest.test" && e.contains("5.1.1")),
            "{statuses:?}"
        );
        assert!(
            statuses
                .iter()
                .any(|(r, _, e)| r == "someone@nomail.test" && e.contains("null MX")),
            "{statuses:?}"
        );
        let (_, person) = app.get(&format!("/people/{bad}")).await;
        assert_eq!(person["email_status"], "bounced", "{person}");
        assert_eq!(sink.count(), 2);
        app.stop().await;
    }
}

/// The receiving MX is another threadgate that requires STARTTLS (a self-signed certificate,
/// as most MX hosts on the internet have for opportunistic TLS): the email arrives, so the
/// `mx` transport upgraded the connection; plain text would get `530 5.7.0`.
#[tokio::test]
async fn direct_delivery_uses_starttls_when_the_mx_offers_it() {
    for db in test_databases().await {
        let dns = TestDns::start().await;
        let certs = tempfile::tempdir().unwrap();
        let (cert, key, _) = certificate(certs.path());
        let receiving_db = db.sibling().await;
        let receiver = spawn_app(
            &receiving_db,
            &[
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
                "--smtp-require-tls",
                "--reply-domain",
                "reply.dest.test",
            ],
        )
        .await;
        let (status, body) = receiver
            .post("/domains", serde_json::json!({"name": "dest.test"}))
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = receiver
            .patch(
                "/domains/dest.test",
                serde_json::json!({"strangers": "accept"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        receiver.person("dana@team.test", "Dana", "internal").await;

        dns.mx("dest.test", 10, "mx.dest.test").await;
        dns.a("mx.dest.test", std::net::Ipv4Addr::LOCALHOST).await;
        let server = dns.addr.to_string();
        let port = receiver.smtp.port().to_string();
        let sender = spawn_app(
            &db,
            &[
                "--outbound",
                "mx",
                "--direct-port",
                &port,
                "--dns-server",
                &server,
            ],
        )
        .await;
        let agent = sender.person("agnes@team.test", "Agnes", "internal").await;
        let support = sender
            .person("support@dest.test", "Dest support", "client")
            .await;
        let conversation = sender.conversation("Over TLS", &agent, &[&support]).await;
        sender
            .say(&conversation, &agent, "Sent over STARTTLS", "message")
            .await;

        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let record = loop {
            if let Some(record) = receiver.inbound().await.into_iter().next() {
                break record;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: nothing arrived at the TLS-only MX; sender outbox: {:?}",
                db.backend,
                sender.get("/outbox").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(record["recipients"][0], "support@dest.test", "{record}");
        // Our notifications say Auto-Submitted (RFC 3834): the receiving gateway keeps them as
        // machine mail rather than posting them.
        assert_eq!(record["outcome"], "auto_reply", "{record}");
        let (status, raw) = {
            let response = receiver
                .http_client
                .get(receiver.url(&format!("/inbound/{}/raw", record["id"].as_str().unwrap())))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap())
        };
        assert_eq!(status, 200);
        assert!(raw.contains("Sent over STARTTLS"), "{raw}");
        sender.stop().await;
        receiver.stop().await;
        receiving_db.cleanup().await;
        db.cleanup().await;
    }
}
