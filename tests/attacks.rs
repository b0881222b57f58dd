//! What an outside attacker tries against the running gateway, over its real SMTP and HTTP
//! listeners, each case asserting the safe outcome. README's Security section keeps the table
//! of attempts and outcomes.

mod support;

use serde_json::json;
use support::*;

const INBOX: &str = "support@example.test";

/// The gateway with domain `example.test`, whose inbox asks strangers to confirm.
async fn with_inbox(db: &TestDb) -> TestApp {
    let app = spawn_app(db, &[]).await;
    let (status, body) = app.post("/domains", json!({"name": "example.test"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["inbox"]["strangers"], "verify");
    app
}

/// A stranger forging a victim's From to an inbox address must not make us send the victim a
/// signed email carrying the forger's words (a phishing link in the subject or the body).
#[tokio::test]
async fn a_forged_stranger_s_text_never_reaches_the_victim_in_our_confirmation() {
    for db in test_databases().await {
        let app = with_inbox(&db).await;
        let lure = "Your account is locked: https://evil.example/unlock";
        let forged = format!(
            "From: Victim <victim@bank.example>\r\nTo: {INBOX}\r\nSubject: {lure}\r\n\
Message-ID: <forged-1@evil.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nClick {lure}\r\n"
        );
        let reply = app.deliver("victim@bank.example", &[INBOX], &forged).await;
        assert_eq!(reply.code, 250, "{}", reply.text);
        let sent = app.wait_for_emails("victim@bank.example", 1).await;
        let email = &sent[0];
        // Decoded: the text, the HTML and every header.
        let headers: String = email
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\n"))
            .collect();
        for part in [&email.text, &email.html, &headers] {
            for needle in ["evil.example", "account is locked", "unlock"] {
                assert!(
                    !part.contains(needle),
                    "{}: {needle} in\n{part}",
                    db.backend
                );
            }
        }
        assert!(email.text.contains(INBOX), "{}", email.text);
        app.stop().await;
    }
}

/// RFC 6531 §3.3: an address is ASCII, or UTF-8 under SMTPUTF8. Bytes that are neither never
/// reach the pipeline as a sender or recipient.
#[tokio::test]
async fn addresses_that_are_not_utf8_are_refused_with_enhanced_codes() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let (mut smtp, greeting) = SmtpClient::connect(app.smtp).await;
    assert_eq!(greeting.code, 220);
    assert_eq!(smtp.cmd("EHLO attacker.test").await.code, 250);
    smtp.send_raw(b"MAIL FROM:<caf\xe9@attacker.test>\r\n")
        .await;
    let reply = smtp.read_reply().await.unwrap();
    assert_eq!(
        (reply.code, reply.text.contains("5.1.7")),
        (553, true),
        "{}",
        reply.text
    );
    assert_eq!(smtp.cmd("MAIL FROM:<ok@attacker.test>").await.code, 250);
    smtp.send_raw(b"RCPT TO:<reply+\xff\xfe@reply.test>\r\n")
        .await;
    let reply = smtp.read_reply().await.unwrap();
    assert_eq!(
        (reply.code, reply.text.contains("5.1.3")),
        (553, true),
        "{}",
        reply.text
    );
    assert_eq!(smtp.cmd("QUIT").await.code, 221);
    app.stop().await;
}

/// Guessing the admin token on `/admin`: the first five wrong attempts from an address cost
/// nothing, then each attempt waits twice as long as the one before (`429` with
/// `Retry-After`) — even one holding the right token — and the count is kept in the database.
#[tokio::test]
async fn admin_token_guessing_is_slowed_per_client_address() {
    for db in test_databases().await {
        let clock = threadgate::domain::ManualClock::at(1_795_000_000_000);
        let app = spawn_app_with_clock(&db, &[], std::sync::Arc::new(clock.clone())).await;
        let mut browser = support::web::Browser::new(&app);
        for guess in 0..5 {
            let page = browser
                .submit("/admin", "/admin", &[("token", &format!("guess-{guess}"))])
                .await;
            assert_eq!(page.status, 401, "{}: attempt {guess}", db.backend);
        }
        // The sixth waits a second; once it has, it is answered.
        let page = browser
            .submit("/admin", "/admin", &[("token", "guess-5")])
            .await;
        assert_eq!(page.status, 429, "{}", db.backend);
        assert_eq!(page.headers["retry-after"], "1");
        clock.advance(std::time::Duration::from_millis(1100));
        let page = browser
            .submit("/admin", "/admin", &[("token", "guess-5")])
            .await;
        assert_eq!(page.status, 401, "{}", db.backend);
        // Then twice as long, for every attempt, the right token too.
        let page = browser
            .submit("/admin", "/admin", &[("token", ADMIN_TOKEN)])
            .await;
        assert_eq!(page.status, 429, "{}", db.backend);
        assert_eq!(page.headers["retry-after"], "2");
        assert!(
            page.body.contains("Too many wrong attempts"),
            "{}",
            page.body
        );
        clock.advance(std::time::Duration::from_millis(2100));
        let page = browser
            .submit("/admin", "/admin", &[("token", ADMIN_TOKEN)])
            .await;
        assert_eq!(
            page.status, 303,
            "{}: signed in once the wait is over",
            db.backend
        );
        app.stop().await;
    }
}

/// HTML nested 40,000 levels deep (~440 KB) cost the parser seconds of CPU (its work grew with
/// the square of the depth): nesting is flattened beyond 100 levels before parsing, so the
/// email is answered as fast as any other and its text kept.
#[tokio::test]
async fn deeply_nested_html_is_answered_at_once_and_its_text_kept() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let agnes = app.person("agnes@team.test", "Agnes", "internal").await;
    let carl = app.person("carl@client.test", "Carl", "client").await;
    let conversation = app.conversation("Nested", &agnes, &[&carl]).await;
    app.say(&conversation, &agnes, "Hello Carl", "message")
        .await;
    let to_carl = app.wait_for_emails("carl@client.test", 1).await.remove(0);
    let n = 40_000;
    let html = format!("{}Deep answer.{}", "<div>".repeat(n), "</div>".repeat(n));
    let email = format!(
        "From: carl@client.test\r\nTo: {to}\r\nSubject: Re: Nested\r\nMessage-ID: <nested@client.test>\r\n\
In-Reply-To: {irt}\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n",
        to = to_carl.reply_to(),
        irt = to_carl.message_id()
    );
    let started = std::time::Instant::now();
    let reply = app
        .deliver("carl@client.test", &[&to_carl.reply_to()], &email)
        .await;
    // Bounded generously for a debug build on a busy machine; before the fix this email
    // took 8.5 s of CPU in a release build.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply.code, 250, "{}", reply.text);
    let messages = app.messages(&conversation).await;
    assert!(
        messages.iter().any(|m| m["body_text"] == "Deep answer."),
        "{messages:?}"
    );
    app.stop().await;
}

/// A raw HTTP/1.1 GET from `local` (a loopback address of the test's choosing) to `server`:
/// the status code, or None when the connection was closed without an answer.
async fn raw_get(local: &str, server: std::net::SocketAddr, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(server).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .ok()?
    .ok()?;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the server closes `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 256];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// HTTP connection limits: idle and slowloris connections are cut off after the request
/// timeout (they stayed open over 70 s), and one address cannot hold more than its share of
/// connections — another address is served meanwhile.
#[tokio::test]
async fn idle_slow_and_too_many_http_connections_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    let db = TestDb::sqlite().await;
    let app = spawn_app(
        &db,
        &[
            "--http-request-timeout",
            "1s",
            "--http-max-connections-per-ip",
            "5",
        ],
    )
    .await;
    let second = std::time::Duration::from_secs(1);
    // An idle connection: closed after the request timeout.
    let mut idle = tokio::net::TcpStream::connect(app.http).await.unwrap();
    assert!(
        closed_within(&mut idle, 4 * second).await,
        "idle connection"
    );
    // Slowloris: headers a byte at a time never make a request in time.
    let mut slow = tokio::net::TcpStream::connect(app.http).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let trickle = async {
        for _ in 0..40 {
            if slow.write_all(b"X").await.is_err() {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    };
    assert!(trickle.await, "the trickling client was cut off within 4 s");
    // Five connections from 127.0.0.1 take its share; a sixth is closed at once, while
    // another address is served.
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(tokio::net::TcpStream::connect(app.http).await.unwrap());
    }
    let mut sixth = tokio::net::TcpStream::connect(app.http).await.unwrap();
    assert!(
        closed_within(&mut sixth, second / 2).await,
        "the sixth connection"
    );
    assert_eq!(raw_get("127.0.0.2", app.http, "/healthz").await, Some(200));
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(raw_get("127.0.0.1", app.http, "/healthz").await, Some(200));
    app.stop().await;
}

/// A client, a conversation with an agent and the notification the client got: (reply
/// address, its Message-ID, the conversation).
async fn client_thread(app: &TestApp, email: &str) -> (String, String, String) {
    let agent = app.person("agnes@team.test", "Agnes", "internal").await;
    let client = app.person(email, "Carl Client", "client").await;
    let conversation = app.conversation("Bank details", &agent, &[&client]).await;
    app.say(
        &conversation,
        &agent,
        "Please confirm your IBAN.",
        "message",
    )
    .await;
    let notification = app.wait_for_emails(email, 1).await.remove(0);
    (
        notification.reply_to(),
        notification.message_id(),
        conversation,
    )
}

fn forged_reply(to: &str, irt: &str, id: &str, extra_headers: &str) -> String {
    format!(
        "{extra_headers}From: Carl Client <carl@bank.test>\r\nTo: {to}\r\nSubject: Re: Bank details\r\n\
Message-ID: <{id}@evil.example>\r\nIn-Reply-To: {irt}\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nOur bank details changed: pay to XX00 EVIL 0000.\r\n"
    )
}

/// The default configuration behind the MTA in front (a loopback client): its
/// Authentication-Results under the reply domain (or a subdomain) decide; a DMARC failure is
/// refused (`p=reject`) or held, never posted as the client; results under any other
/// authserv-id are anyone's words and change nothing.
#[tokio::test]
async fn by_default_the_mta_in_front_judges_forged_senders() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let (to, irt, conversation) = client_thread(&app, "carl@bank.test").await;
        let reject = forged_reply(
            &to,
            &irt,
            "f1",
            "Authentication-Results: reply.test; spf=fail smtp.mailfrom=bank.test;\r\n dmarc=fail (p=reject) header.from=bank.test policy.dmarc=reject\r\n",
        );
        let answer = app.deliver("carl@bank.test", &[&to], &reject).await;
        assert_eq!(
            (answer.code, answer.text.contains("5.7.1")),
            (550, true),
            "{}",
            answer.text
        );
        let held = forged_reply(
            &to,
            &irt,
            "f2",
            "Authentication-Results: mx1.reply.test; dmarc=fail header.from=bank.test\r\n",
        );
        assert_eq!(app.deliver("carl@bank.test", &[&to], &held).await.code, 250);
        let entry = app.inbound().await.remove(0);
        assert_eq!(entry["outcome"], "held", "{}", db.backend);
        assert_eq!(entry["unverified_sender"], true, "{entry}");
        // Staff see it on the conversation's page as an unverified sender, to release or drop.
        let mut staff = support::web::Browser::new(&app);
        let signed_in = staff
            .submit("/admin", "/admin", &[("token", ADMIN_TOKEN)])
            .await;
        assert_eq!(signed_in.status, 303);
        let page = staff.get(&format!("/c/{conversation}")).await;
        let held_section = page.body.split("id=\"held\"").nth(1).expect("held emails");
        assert!(held_section.contains("Unverified sender"), "{held_section}");
        let drop = format!(
            "/c/{conversation}/held/{}/drop",
            entry["id"].as_str().unwrap()
        );
        assert!(held_section.contains(&drop), "{held_section}");
        let path = format!("/c/{conversation}");
        assert_eq!(staff.submit(&path, &drop, &[]).await.status, 303);
        assert_eq!(app.inbound().await[0]["outcome"], "dropped");
        let messages = app.messages(&conversation).await;
        assert!(
            !messages
                .iter()
                .any(|m| m["body_text"].as_str().unwrap_or("").contains("EVIL")),
            "{messages:?}"
        );
        // A header under someone else's name is ignored: the email is judged as unchecked.
        let other = forged_reply(
            &to,
            &irt,
            "f3",
            "Authentication-Results: reply.test.evil.example; dmarc=pass\r\n",
        );
        assert_eq!(
            app.deliver("carl@bank.test", &[&to], &other).await.code,
            250
        );
        let entry = &app.inbound().await[0];
        assert!(
            entry["auth_results"]
                .as_str()
                .unwrap()
                .contains("no Authentication-Results from a trusted host"),
            "{entry}"
        );
        app.stop().await;
    }
}

/// Facing the internet (the client is not a trusted relay): threadgate checks SPF, DKIM and
/// DMARC itself (a loopback DNS server answers), and Authentication-Results the client wrote
/// under our own name are never believed. A DNS server that does not answer delays the answer
/// by at most the configured timeout; the email is then handled as unchecked.
#[tokio::test]
async fn facing_the_internet_forged_senders_are_checked_here_and_dns_silence_is_bounded() {
    let db = TestDb::sqlite().await;
    let dns = support::dns::TestDns::start().await;
    dns.txt("bank.test", "v=spf1 ip4:192.0.2.1 -all").await;
    dns.txt("_dmarc.bank.test", "v=DMARC1; p=reject").await;
    let server = dns.addr.to_string();
    let app = spawn_app(
        &db,
        &["--trusted-relay", "10.0.0.0/8", "--dns-server", &server],
    )
    .await;
    let (to, irt, _) = client_thread(&app, "carl@bank.test").await;
    let lying = forged_reply(
        &to,
        &irt,
        "f4",
        "Authentication-Results: reply.test; dmarc=pass\r\n",
    );
    let answer = app.deliver("carl@bank.test", &[&to], &lying).await;
    assert_eq!(
        (answer.code, answer.text.contains("5.7.1")),
        (550, true),
        "{}",
        answer.text
    );
    app.stop().await;

    // A resolver that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let db = TestDb::sqlite().await;
    let app = spawn_app(
        &db,
        &[
            "--trusted-relay",
            "10.0.0.0/8",
            "--dns-server",
            &silent_addr,
            "--auth-dns-timeout",
            "500ms",
        ],
    )
    .await;
    let (to, irt, _) = client_thread(&app, "carl@bank.test").await;
    let started = std::time::Instant::now();
    let answer = app
        .deliver("carl@bank.test", &[&to], &forged_reply(&to, &irt, "f5", ""))
        .await;
    assert_eq!(answer.code, 250, "{}", answer.text);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let entry = &app.inbound().await[0];
    assert!(
        entry["auth_results"]
            .as_str()
            .unwrap()
            .contains("temperror"),
        "{entry}"
    );
    drop(silent);
    app.stop().await;
}

/// A stranger's email to an inbox whose From domain disowns the sending host (SPF fails) and
/// carries no valid DKIM signature: held, and no confirmation goes to the address's owner.
#[tokio::test]
async fn no_confirmation_goes_to_an_address_spf_and_dkim_both_disown() {
    let db = TestDb::sqlite().await;
    let dns = support::dns::TestDns::start().await;
    dns.txt("bank.test", "v=spf1 ip4:192.0.2.1 -all").await;
    let server = dns.addr.to_string();
    let app = spawn_app(
        &db,
        &["--trusted-relay", "10.0.0.0/8", "--dns-server", &server],
    )
    .await;
    let (status, body) = app.post("/domains", json!({"name": "example.test"})).await;
    assert_eq!(status, 201, "{body}");
    let forged = format!(
        "From: Victim <victim@bank.test>\r\nTo: {INBOX}\r\nSubject: Hello\r\n\
Message-ID: <forged-2@evil.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi\r\n"
    );
    assert_eq!(
        app.deliver("victim@bank.test", &[INBOX], &forged)
            .await
            .code,
        250
    );
    let entry = &app.inbound().await[0];
    assert_eq!(entry["outcome"], "held", "{entry}");
    assert!(
        entry["detail"]
            .as_str()
            .unwrap()
            .contains("no confirmation sent"),
        "{entry}"
    );
    assert!(app.settle_and_collect("victim@bank.test").await.is_empty());
    app.stop().await;
}

/// Relaying through us, every way the grammar allows: each recipient is refused (a `5xx`),
/// and nothing is ever sent to it.
#[tokio::test]
async fn open_relay_attempts_are_all_refused() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let (mut smtp, greeting) = SmtpClient::connect(app.smtp).await;
    assert_eq!(greeting.code, 220);
    assert_eq!(smtp.cmd("EHLO attacker.test").await.code, 250);
    let attempts = [
        "<victim@elsewhere.example>",
        "<victim%elsewhere.example@reply.test>",
        "<victim%elsewhere.example@gateway.test>",
        "<@reply.test,@relay.example:victim@elsewhere.example>",
        "<@reply.test:victim@elsewhere.example>",
        "<\"victim@elsewhere.example\"@reply.test>",
        "<\"victim@elsewhere.example\">",
        "<victim@[192.0.2.1]>",
        "<victim@[IPv6:2001:db8::1]>",
        "<victim@exämple.example>",
        "<victim@elsewhere.example.>",
        "<reply+victim@elsewhere.example>",
        "<victim!elsewhere.example@reply.test>",
    ];
    for rcpt in attempts {
        assert_eq!(
            smtp.cmd("MAIL FROM:<a@attacker.test> SMTPUTF8").await.code,
            250
        );
        let reply = smtp.cmd(&format!("RCPT TO:{rcpt}")).await;
        assert!(
            (500..600).contains(&reply.code),
            "{rcpt}: {} {}",
            reply.code,
            reply.text
        );
        assert_eq!(smtp.cmd("RSET").await.code, 250);
    }
    assert_eq!(smtp.cmd("QUIT").await.code, 221);
    assert!(
        app.settle_and_collect("victim@elsewhere.example")
            .await
            .is_empty(),
        "nothing relayed"
    );
    app.stop().await;
}

/// Line breaks and NUL smuggled into names, subjects and file names of an inbound email, as
/// RFC 2047 encoded-words and RFC 2231 parameters, never become header lines or MIME parts of
/// the emails we send.
#[tokio::test]
async fn header_injection_through_names_subjects_and_file_names_never_reaches_our_emails() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    // (Through the API such names are refused with a 422 naming the field: tests/poison.rs.)
    // Through an email: a stranger starts a conversation at an inbox that accepts strangers.
    let (status, body) = app.post("/domains", json!({"name": "example.test"})).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .patch("/domains/example.test", json!({"strangers": "accept"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let agent = app.person("agnes@team.test", "Agnes", "internal").await;
    let (status, _) = app
        .patch(
            &format!("/people/{agent}"),
            json!({"notifications": "immediate"}),
        )
        .await;
    assert_eq!(status, 200);
    let email = format!(
        "From: =?utf-8?q?Eve=0D=0ABcc:_victim@evil.example?= <eve@client.test>\r\nTo: {INBOX}\r\n\
Subject: =?utf-8?q?Order=0D=0ABcc:_victim@evil.example=0D=0A=0D=0A<html>?=\r\n\
Message-ID: <inject@client.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHi\r\n\
--b\r\nContent-Type: application/pdf\r\n\
Content-Disposition: attachment; filename*=utf-8''a%0D%0AContent-Type%3A%20text%2Fhtml%00.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    );
    assert_eq!(
        app.deliver("eve@client.test", &[INBOX], &email).await.code,
        250
    );
    let entry = &app.inbound().await[0];
    let conversation = entry["conversation_id"].as_str().unwrap().to_string();
    // The agent is told of Eve's email (her name, subject and file in it), then answers.
    let told = app.wait_for_emails("agnes@team.test", 1).await;
    assert!(
        !told[0].attachments().is_empty() || told[0].text.contains(".pdf"),
        "{}",
        told[0].text
    );
    app.say(&conversation, &agent, "Thanks, here it is.", "message")
        .await;
    for to in ["eve@client.test", "agnes@team.test"] {
        let emails = app.settle_and_collect(to).await;
        assert!(!emails.is_empty(), "{to} was emailed");
        for sent in emails {
            let raw = String::from_utf8_lossy(&sent.raw).to_string();
            let head = raw.split("\r\n\r\n").next().unwrap();
            for line in head.lines() {
                assert!(
                    !line.to_ascii_lowercase().starts_with("bcc:"),
                    "{to}: a Bcc line in\n{head}"
                );
            }
            assert!(!raw.contains('\0'), "{to}: NUL in {raw}");
            assert!(
                !raw.contains("\r\nContent-Type: text/html\r\n\r\n<html>"),
                "{to}: an injected part in {raw}"
            );
            let bccs = sent
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("bcc"))
                .count();
            assert_eq!(bccs, 0, "{to}");
        }
    }
    app.stop().await;
}

/// Guessing reply addresses: 1,000 random tokens from one client address. The first 30 unknown
/// recipients in ten minutes are refused as unknown (`550 5.1.1`, the session cut after 20
/// errors as ever); after them the client's recipients are not even looked up (`450 4.7.1`,
/// so a real server behind that address retries later). Another client is unaffected, and so
/// is the MTA in front (`--trusted-relay`), which relays everyone's mistakes.
#[tokio::test]
async fn guessing_reply_addresses_is_throttled_per_client_address() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &["--trusted-relay", "10.0.0.0/8"]).await;
    let guesser: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let mut codes: Vec<u16> = Vec::new();
    let mut sent = 0;
    while sent < 1000 {
        let (mut smtp, greeting) = SmtpClient::connect_from(guesser, app.smtp).await;
        assert_eq!(greeting.code, 220);
        assert_eq!(smtp.cmd("EHLO guesser.test").await.code, 250);
        assert_eq!(smtp.cmd("MAIL FROM:<g@guesser.test>").await.code, 250);
        loop {
            let token = threadgate::domain::random_base32(26);
            let Some(reply) = ({
                smtp.send_raw(format!("RCPT TO:<reply+{token}@reply.test>\r\n").as_bytes())
                    .await;
                smtp.read_reply().await
            }) else {
                break;
            };
            sent += 1;
            codes.push(reply.code);
            match reply.code {
                550 | 450 => {}
                // The session's own limit: 20 errors, then closed (the 21st answer).
                421 => break,
                other => panic!("{other} {}", reply.text),
            }
            if sent >= 1000 {
                break;
            }
        }
    }
    // 30 looked up (each refused: 550, or 421 when it was a session's 21st error), then
    // nothing but 450 (and the sessions' closing 421s).
    let first_throttled = codes.iter().position(|&c| c == 450).unwrap();
    assert_eq!(first_throttled, 30, "{:?}", &codes[..40]);
    assert!(
        codes[30..].iter().all(|&c| c == 450 || c == 421),
        "{codes:?}"
    );
    assert!(codes.iter().filter(|&&c| c == 450).count() >= 900);
    // Another client address is looked up as usual.
    let (mut smtp, _) = SmtpClient::connect_from("127.0.0.2".parse().unwrap(), app.smtp).await;
    assert_eq!(smtp.cmd("EHLO other.test").await.code, 250);
    assert_eq!(smtp.cmd("MAIL FROM:<o@other.test>").await.code, 250);
    let reply = smtp
        .cmd("RCPT TO:<reply+aaaaaaaaaaaaaaaaaaaaaaaaaa@reply.test>")
        .await;
    assert_eq!(
        (reply.code, reply.text.contains("5.1.1")),
        (550, true),
        "{}",
        reply.text
    );
    // (A session in a transaction would hold the shutdown until it ends.)
    assert_eq!(smtp.cmd("QUIT").await.code, 221);
    app.stop().await;

    // The MTA in front (loopback, by default) is never throttled.
    let app = spawn_app(&db, &[]).await;
    let (mut smtp, _) = SmtpClient::connect(app.smtp).await;
    assert_eq!(smtp.cmd("EHLO mta.test").await.code, 250);
    for round in 0..3 {
        assert_eq!(smtp.cmd("RSET").await.code, 250);
        assert_eq!(smtp.cmd("MAIL FROM:<m@mta.test>").await.code, 250);
        for _ in 0..15 {
            let token = threadgate::domain::random_base32(26);
            let reply = smtp
                .cmd(&format!("RCPT TO:<reply+{token}@reply.test>"))
                .await;
            assert_ne!(reply.code, 450, "round {round}: {}", reply.text);
            if reply.code == 421 {
                break;
            }
        }
        assert_eq!(smtp.cmd("QUIT").await.code, 221);
        let (next, _) = SmtpClient::connect(app.smtp).await;
        smtp = next;
        assert_eq!(smtp.cmd("EHLO mta.test").await.code, 250);
    }
    assert_eq!(smtp.cmd("QUIT").await.code, 221);
    app.stop().await;
}

/// Stored XSS through a subject, names and a message's text, and open redirects through
/// `next=`: the pages escape what people wrote, and `next` only ever leads into our own site.
#[tokio::test]
async fn stored_xss_and_open_redirects_go_nowhere() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agent = app
            .person(
                "agnes@team.test",
                "<img src=x onerror=alert(1)>",
                "internal",
            )
            .await;
        let client = app
            .person(
                "carl@client.test",
                "Carl <script>alert(2)</script>",
                "client",
            )
            .await;
        let conversation = app
            .conversation("<script>alert(3)</script>", &agent, &[&client])
            .await;
        app.say(
            &conversation,
            &client,
            "<b onmouseover=alert(4)>hi</b><script>alert(5)</script>",
            "message",
        )
        .await;
        app.say(&conversation, &agent, "Noted.", "message").await;
        let email = app.wait_for_emails("carl@client.test", 1).await.remove(0);
        let mut browser = support::web::Browser::new(&app);
        browser
            .sign_in_with(&support::web::magic_link(&email))
            .await;
        for path in [format!("/c/{conversation}"), "/".to_string()] {
            let page = browser.get(&path).await;
            assert_eq!(page.status, 200, "{path}");
            for live in [
                "<script>alert",
                "<img src=x onerror",
                "<b onmouseover",
                "onerror=alert(1)>",
            ] {
                assert!(
                    !page.body.contains(live),
                    "{}: {path} holds {live:?}",
                    db.backend
                );
            }
            // What they wrote is on the page, as text.
            assert!(
                page.body
                    .contains("&#60;script&#62;alert(3)&#60;/script&#62;"),
                "{path}: the subject, escaped"
            );
        }
        // `next` never leads off the site.
        let mut visitor = support::web::Browser::new(&app);
        for next in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
            "/%0d%0aLocation:%20https://evil.example",
        ] {
            let page = visitor
                .get(&format!(
                    "/login?next={}",
                    next.replace('&', "%26").replace(' ', "%20")
                ))
                .await;
            assert_eq!(page.status, 200, "{next}");
            assert!(!page.body.contains("evil.example"), "{next}: {}", page.body);
            assert!(!page.body.contains("javascript:"), "{next}");
        }
        app.stop().await;
    }
}

/// An SVG with a script, attached and inline (`cid:`), and an HTML file: each is served as a
/// download no browser renders from our origin — `Content-Disposition: attachment`,
/// `nosniff`, a sandboxing CSP, never as `image/svg+xml` or `text/html`.
#[tokio::test]
async fn active_files_are_only_ever_downloads() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let (to, irt, conversation) = client_thread(&app, "carl@client.test").await;
    let svg =
        "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(document.cookie)</script></svg>";
    let email = format!(
        "From: carl@client.test\r\nTo: {to}\r\nSubject: Re: Bank details\r\nMessage-ID: <svg@client.test>\r\n\
In-Reply-To: {irt}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
--m\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n\
--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>See <img src=\"cid:logo@c\"></p>\r\n\
--r\r\nContent-Type: image/svg+xml\r\nContent-ID: <logo@c>\r\nContent-Disposition: inline; filename=\"logo.svg\"\r\n\r\n{svg}\r\n\
--r--\r\n\
--m\r\nContent-Type: image/svg+xml; name=\"chart.svg\"\r\nContent-Disposition: attachment; filename=\"chart.svg\"\r\n\r\n{svg}\r\n\
--m\r\nContent-Type: text/html; name=\"page.html\"\r\nContent-Disposition: attachment; filename=\"page.html\"\r\n\r\n<script>alert(1)</script>\r\n\
--m--\r\n"
    );
    assert_eq!(
        app.deliver("carl@client.test", &[&to], &email).await.code,
        250
    );
    let messages = app.messages(&conversation).await;
    let files: Vec<String> = messages
        .iter()
        .flat_map(|m| m["attachments"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["url"].as_str().map(str::to_string))
        .collect();
    assert_eq!(files.len(), 3, "{messages:?}");
    for url in files {
        let response = app
            .http_client
            .get(format!("http://{}{url}", app.http))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{url}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        assert!(
            header("content-disposition").starts_with("attachment"),
            "{url}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{url}");
        assert!(
            header("content-security-policy").contains("sandbox"),
            "{url}"
        );
        let kind = header("content-type");
        assert!(
            !kind.contains("svg") && !kind.contains("html"),
            "{url}: served as {kind}"
        );
    }
    app.stop().await;
}

/// Session fixation: a session cookie planted before signing in is never adopted — signing in
/// issues a new one, and the planted value opens nothing.
#[tokio::test]
async fn a_planted_session_cookie_is_never_adopted() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let (_, _, conversation) = client_thread(&app, "carl@client.test").await;
    let email = app.wait_for_emails("carl@client.test", 1).await.remove(0);
    let planted = "fixedbyattacker0000000000000000000000000000000000000000";
    let mut victim = support::web::Browser::new(&app);
    victim
        .cookies
        .insert("tg_session".to_string(), planted.to_string());
    victim.sign_in_with(&support::web::magic_link(&email)).await;
    let issued = victim.session().unwrap().to_string();
    assert_ne!(issued, planted, "a new session is issued");
    assert_eq!(victim.get(&format!("/c/{conversation}")).await.status, 200);
    // The attacker, holding the planted value, is still nobody.
    let mut attacker = support::web::Browser::new(&app);
    attacker
        .cookies
        .insert("tg_session".to_string(), planted.to_string());
    assert_eq!(
        attacker.get(&format!("/c/{conversation}")).await.status,
        303
    );
    app.stop().await;
}

/// Sign-in links replayed: by a mail scanner's fetch, by another site posting the button for a
/// visitor (login CSRF), after use (a forwarded email), by two browsers at once, after "sign
/// out everywhere" and after expiry.
#[tokio::test]
async fn a_sign_in_link_opens_one_session_and_only_through_its_button() {
    use std::sync::Arc;
    use std::time::Duration;
    use support::web::{Browser, magic_link};
    const CARL: &str = "carl@client.test";
    for db in test_databases().await {
        let clock = threadgate::domain::ManualClock::at(1_800_000_000_000);
        let app = spawn_app_with_clock(&db, &[], Arc::new(clock.clone())).await;
        let agent = app.person("agnes@team.test", "Agnes", "internal").await;
        let client = app.person(CARL, "Carl Client", "client").await;
        let conversation = app.conversation("Bank details", &agent, &[&client]).await;
        app.say(&conversation, &agent, "Your statement.", "message")
            .await;
        let path = format!("/c/{conversation}");
        let mut emailed = 1;
        let mut next_link = async || {
            clock.advance(Duration::from_secs(31 * 60));
            app.say(&conversation, &agent, "One more thing.", "message")
                .await;
            emailed += 1;
            magic_link(&app.wait_for_emails(CARL, emailed).await.pop().unwrap())
        };
        let link = magic_link(&app.wait_for_emails(CARL, 1).await.remove(0));

        // Scanners and previews fetch it: nobody is signed in, nothing is used up.
        for _ in 0..3 {
            let mut scanner = Browser::new(&app);
            let page = scanner.get(&link).await;
            assert_eq!(page.status, 200, "{}", db.backend);
            assert!(page.body.contains("Continue as Carl Client"));
            assert!(scanner.session().is_none());
        }
        // Another site posts the button for its visitor: no form token of ours, no session.
        let mut visitor = Browser::new(&app);
        assert_eq!(
            visitor.post(&link, &[("csrf", "guessed")]).await.status,
            403
        );
        assert!(visitor.session().is_none());

        // Carl taps twice, the first answer lost (his browser never saw its cookie): the
        // second tap signs him in all the same.
        let mut carl = Browser::new(&app);
        let csrf = carl.get(&link).await.csrf();
        let before = carl.cookies.clone();
        assert_eq!(
            carl.post(&link, &[("csrf", csrf.as_str())]).await.status,
            303
        );
        carl.cookies = before;
        assert_eq!(
            carl.post(&link, &[("csrf", csrf.as_str())]).await.status,
            303
        );
        assert_eq!(carl.get(&path).await.status, 200);
        // The email forwarded: the link opens nothing more, button pressed or not.
        let mut thief = Browser::new(&app);
        let page = thief.get(&link).await;
        assert_eq!(page.status, 410);
        assert!(page.body.contains("already been used"), "{}", page.body);
        let csrf = thief.get("/login").await.csrf();
        let page = thief.post(&link, &[("csrf", csrf.as_str())]).await;
        assert_eq!(page.status, 410);
        assert!(thief.session().is_none());
        assert_eq!(thief.get(&path).await.status, 303, "to sign-in");

        // Two browsers press the button of a fresh link at the same moment: one session.
        let link = next_link().await;
        let (mut one, mut two) = (Browser::new(&app), Browser::new(&app));
        let csrf_one = one.get(&link).await.csrf();
        let csrf_two = two.get(&link).await.csrf();
        let (form_one, form_two) = ([("csrf", csrf_one.as_str())], [("csrf", csrf_two.as_str())]);
        let (a, b) = tokio::join!(one.post(&link, &form_one), two.post(&link, &form_two));
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [303, 410], "{}", db.backend);

        // Issued before "sign out everywhere": opens nothing.
        let unused = next_link().await;
        clock.advance(Duration::from_secs(5));
        assert_eq!(
            carl.submit("/settings", "/logout/everywhere", &[])
                .await
                .status,
            303
        );
        let mut later = Browser::new(&app);
        let page = later.follow_link(&unused).await;
        assert_eq!(page.status, 400);
        assert!(page.body.contains("does not work any more"));
        assert!(later.session().is_none());

        // Expired (14 days): opens nothing.
        let unused = next_link().await;
        clock.advance(Duration::from_secs(15 * 24 * 3600));
        let page = later.follow_link(&unused).await;
        assert_eq!(page.status, 400);
        assert!(later.session().is_none());
        app.stop().await;
    }
}

/// Out-of-step clients: the data sent with DATA before our `354` (RFC 2920 §3.1 makes DATA the
/// last command of a group), also behind a refused DATA where the "message" would otherwise be
/// read as commands; BDAT and DATA mixed in one transaction (RFC 3030 §2); a refused BDAT
/// chunk full of commands; a BDAT chunk that holds an end of data and a second transaction.
/// Every SMTP-smuggling end-of-data look-alike: tests/smtp.rs.
#[tokio::test]
async fn pipelining_past_data_and_bdat_data_mixes_smuggle_nothing() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let (reply_to, irt, conversation) = client_thread(&app, "carl@client.test").await;
    let email = |id: &str, text: &str| {
        format!(
            "From: carl@client.test\r\nTo: {reply_to}\r\nSubject: Re: Bank details\r\n\
Message-ID: <{id}@client.test>\r\nIn-Reply-To: {irt}\r\n\r\n{text}\r\n"
        )
    };
    let smuggled = format!(
        "MAIL FROM:<carl@client.test>\r\nRCPT TO:<{reply_to}>\r\nDATA\r\n{}",
        dot_stuffed(&email("smuggled", "New IBAN: XX00 EVIL"))
    );
    let session = async || {
        let (mut c, _) = SmtpClient::connect(app.smtp).await;
        assert_eq!(c.cmd("EHLO attacker.test").await.code, 250);
        c
    };
    let closed = async |c: &mut SmtpClient| c.read_reply().await.is_none();

    // The data with DATA, before the 354: hung up on, nothing kept.
    let mut c = session().await;
    c.send_raw(
        format!(
            "MAIL FROM:<carl@client.test>\r\nRCPT TO:<{reply_to}>\r\nDATA\r\n{}QUIT\r\n",
            dot_stuffed(&email("early", "Sent before the go-ahead"))
        )
        .as_bytes(),
    )
    .await;
    let codes = [
        c.read_reply().await.unwrap(),
        c.read_reply().await.unwrap(),
        c.read_reply().await.unwrap(),
    ];
    assert_eq!(codes.each_ref().map(|r| r.code), [250, 250, 554]);
    assert!(codes[2].text.starts_with("554 5.5.0"), "{}", codes[2].text);
    assert!(closed(&mut c).await);

    // Behind a DATA refused for want of a recipient, a whole transaction: never read.
    let mut c = session().await;
    c.send_raw(
        format!("MAIL FROM:<eve@attacker.test>\r\nRCPT TO:<victim@elsewhere.example>\r\nDATA\r\n{smuggled}")
            .as_bytes(),
    )
    .await;
    let codes = [
        c.read_reply().await.unwrap().code,
        c.read_reply().await.unwrap().code,
        c.read_reply().await.unwrap().code,
    ];
    assert_eq!(codes, [250, 550, 554]);
    assert!(closed(&mut c).await);

    // BDAT then DATA in one transaction: DATA refused; the chunks make one message.
    let mut c = session().await;
    assert_eq!(c.cmd("MAIL FROM:<carl@client.test>").await.code, 250);
    assert_eq!(c.cmd(&format!("RCPT TO:<{reply_to}>")).await.code, 250);
    let first = email("chunked", "In chunks\r\n.\r\n");
    let first = format!("{first}{smuggled}");
    c.send_raw(format!("BDAT {}\r\n{first}", first.len()).as_bytes())
        .await;
    assert_eq!(c.read_reply().await.unwrap().code, 250, "the chunk");
    let data = c.cmd("DATA").await;
    assert!(data.text.starts_with("503 5.5.1"), "{}", data.text);
    let last = c.cmd("BDAT 0 LAST").await;
    assert_eq!(last.code, 250, "{}", last.text);
    // A BDAT refused (no transaction): its chunk is read and thrown away, never parsed.
    let chunk = smuggled.clone();
    c.send_raw(format!("BDAT {} LAST\r\n{chunk}", chunk.len()).as_bytes())
        .await;
    assert!(c.read_reply().await.unwrap().text.starts_with("503 5.5.1"));
    assert_eq!(c.cmd("NOOP").await.code, 250, "in step again");
    assert_eq!(c.cmd("QUIT").await.code, 221);

    let inbound = app.inbound().await;
    assert_eq!(inbound.len(), 1, "only the chunked message: {inbound:?}");
    let texts: Vec<String> = app
        .messages(&conversation)
        .await
        .iter()
        .map(|m| m["body_text"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        texts
            .iter()
            .all(|t| !t.contains("Sent before") && !t.starts_with("New IBAN")),
        "{texts:?}"
    );
    app.stop().await;
}

/// Envelope addresses that try to carry header lines (quoted local parts holding a header, a
/// `>` or a tab, escaped quotes, NUL) are refused at `MAIL FROM` (`501 5.1.7`): nothing of
/// them is recorded or reaches any email. (A CR/LF cannot be inside a command line: it ends
/// it, and what follows is another, unknown command.)
#[tokio::test]
async fn envelope_addresses_carrying_header_lines_are_refused() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let (reply_to, _, _) = client_thread(&app, "carl@client.test").await;
    let senders = [
        "\"Bcc: victim@evil.example\"@client.test",
        "\"x> Bcc: victim@evil.example\"@client.test",
        "\"x>\tBcc: victim@evil.example\"@client.test",
        "\"x\\\"\\r\\nBcc: victim@evil.example\"@client.test",
        "carl\u{0}Bcc:victim@client.test",
    ];
    let (mut c, _) = SmtpClient::connect(app.smtp).await;
    assert_eq!(c.cmd("EHLO attacker.test").await.code, 250);
    for sender in senders {
        let reply = c.cmd(&format!("MAIL FROM:<{sender}>")).await;
        assert!(
            reply.text.starts_with("501 5.1.7"),
            "{sender:?}: {}",
            reply.text
        );
        assert_eq!(c.cmd(&format!("RCPT TO:<{reply_to}>")).await.code, 503);
    }
    assert_eq!(c.cmd("QUIT").await.code, 221);
    assert!(app.inbound().await.is_empty());
    assert!(
        app.settle_and_collect("victim@evil.example")
            .await
            .is_empty()
    );
    app.stop().await;
}

/// Every form of the web view, as the router in `src/web/view/mod.rs` lists them (a new one is
/// covered the day it is added): posted with a forged or missing CSRF token, by the admin who
/// may do anything, each is refused `403` and changes nothing. Then the ids of another
/// conversation in every conversation URL, and another conversation's message and held email
/// under one's own: `404`, nothing changed.
#[tokio::test]
async fn every_form_wants_its_csrf_token_and_no_url_reaches_another_conversation() {
    use support::web::{Browser, sign_in_by_code};
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let (status, body) = app.post("/domains", json!({"name": "example.test"})).await;
    assert_eq!(status, 201, "{body}");
    let agnes = app.person("agnes@team.test", "Agnes", "internal").await;
    let carl = app
        .person("carl@client.test", "Carl Client", "client")
        .await;
    let bruno = app.person("bruno@team.test", "Bruno", "internal").await;
    let dora = app.person("dora@other.test", "Dora", "client").await;
    let ours = app.conversation("Ours", &agnes, &[&carl]).await;
    app.say(&ours, &agnes, "For Carl.", "message").await;
    let theirs = app.conversation("Theirs", &bruno, &[&dora]).await;
    app.say(&theirs, &bruno, "For Dora only.", "message").await;
    let to_dora = app.wait_for_emails("dora@other.test", 1).await.remove(0);
    let from_stranger = reply_email(
        "eve@elsewhere.test",
        &to_dora.reply_to(),
        "<eve-1@elsewhere.test>",
        &to_dora.message_id(),
        "Hi",
    );
    assert_eq!(
        app.deliver("eve@elsewhere.test", &[&to_dora.reply_to()], &from_stranger)
            .await
            .code,
        250
    );
    let held_theirs = app.inbound().await[0]["id"].as_str().unwrap().to_string();
    let their_message = app.messages(&theirs).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, company) = app.post("/companies", json!({"name": "Acme"})).await;
    assert_eq!(status, 201);
    let company = company["id"].as_str().unwrap().to_string();
    let link =
        support::web::magic_link(&app.wait_for_emails("carl@client.test", 1).await.remove(0));
    let token = link
        .split("/m/")
        .nth(1)
        .unwrap()
        .split('#')
        .next()
        .unwrap()
        .to_string();

    let router =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/view/mod.rs"))
            .unwrap();
    let routes = router.split("pub fn routes(").nth(1).unwrap();
    let forms: Vec<String> = routes
        .split(".route(")
        .skip(1)
        .filter(|route| route.split(".route(").next().unwrap().contains("post("))
        .map(|route| route.split('"').nth(1).unwrap().to_string())
        .collect();
    assert!(forms.len() >= 40, "{forms:?}");
    let fill = |form: &str, conversation: &str, message: &str, held: &str| {
        let path = form
            .replace("{id}", conversation)
            .replace("{token}", &token)
            .replace("{name}", "example.test")
            .replace("{selector}", "tg1r")
            .replace("{person_id}", &dora)
            .replace("{message_id}", message)
            .replace("{inbound_id}", held);
        let path = match form {
            f if f.starts_with("/admin/people/") => path.replace(conversation, &carl),
            f if f.starts_with("/admin/companies/") => path.replace(conversation, &company),
            f if f.starts_with("/admin/inbound/") => path.replace(conversation, &held_theirs),
            _ => path,
        };
        assert!(
            !path.contains('{'),
            "a placeholder this test does not know: {form}"
        );
        path
    };

    let mut admin = Browser::new(&app);
    assert_eq!(
        admin
            .submit("/admin", "/admin", &[("token", ADMIN_TOKEN)])
            .await
            .status,
        303
    );
    let before = (
        app.inbound().await,
        app.messages(&theirs).await,
        app.messages(&ours).await,
    );
    for form in &forms {
        let path = fill(form, &theirs, &their_message, &held_theirs);
        for csrf in [None, Some("forged-forged-forged-forged")] {
            let fields: Vec<(&str, &str)> = csrf.map(|c| ("csrf", c)).into_iter().collect();
            let page = admin.post(&path, &fields).await;
            assert_eq!(page.status, 403, "{path} with csrf {csrf:?}: {}", page.body);
        }
    }
    assert_eq!(
        (
            app.inbound().await,
            app.messages(&theirs).await,
            app.messages(&ours).await
        ),
        before,
        "nothing changed"
    );
    assert!(admin.get("/").await.status == 200, "still signed in");

    // Carl (a client) and Agnes (staff), each with a valid token, at the other conversation.
    let mut carl_web = sign_in_by_code(&app, "carl@client.test").await;
    let mut agnes_web = sign_in_by_code(&app, "agnes@team.test").await;
    for (who, browser) in [("carl", &mut carl_web), ("agnes", &mut agnes_web)] {
        let csrf = browser.get("/").await.csrf();
        for form in forms.iter().filter(|f| f.starts_with("/c/{id}")) {
            let path = fill(form, &theirs, &their_message, &held_theirs);
            let page = browser
                .post(
                    &path,
                    &[
                        ("csrf", csrf.as_str()),
                        ("body", "intrusion"),
                        ("person_id", &carl),
                        ("email", "x@y.test"),
                    ],
                )
                .await;
            assert_eq!(page.status, 404, "{who} at {path}: {}", page.body);
        }
    }
    // Another conversation's message and held email under Agnes's own conversation.
    let csrf = agnes_web.get("/").await.csrf();
    for form in forms
        .iter()
        .filter(|f| f.contains("{message_id}") || f.contains("{inbound_id}"))
    {
        let path = fill(form, &ours, &their_message, &held_theirs);
        let page = agnes_web.post(&path, &[("csrf", csrf.as_str())]).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
    }
    assert_eq!(
        (app.inbound().await, app.messages(&theirs).await),
        (before.0, before.1),
        "nothing changed"
    );
    app.stop().await;
}

/// Guessing a 6-digit sign-in code on `/login`: five wrong tries kill the code (the right one
/// then opens nothing either); an address gets three codes per ten minutes, a client address
/// ten across all the addresses it asks for — beyond, the page answers the same and nothing
/// is sent (so it tells nobody whether an address is known).
#[tokio::test]
async fn sign_in_codes_die_after_five_guesses_and_are_rationed() {
    use support::web::{Browser, code_in};
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    const CARL: &str = "carl@client.test";
    app.person(CARL, "Carl Client", "client").await;
    let codes_to = |to: &str| {
        outbox_emails(&app.outbox_dir(), to)
            .into_iter()
            .filter(|e| e.header("Subject").is_some_and(|s| s.contains("code")))
            .collect::<Vec<_>>()
    };
    let mut guesser = Browser::new(&app);
    let page = guesser.submit("/login", "/login", &[("email", CARL)]).await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    let code = loop {
        if let Some(email) = codes_to(CARL).pop() {
            break code_in(&email);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let try_code = async |browser: &mut Browser, guess: &str| {
        browser
            .post(
                "/login/code",
                &[("csrf", csrf.as_str()), ("email", CARL), ("code", guess)],
            )
            .await
            .status
    };
    let mut wrong = (0..)
        .map(|n: u32| format!("{:06}", (n * 7919 + 1) % 1_000_000))
        .filter(|g| *g != code);
    for _ in 0..5 {
        assert_eq!(try_code(&mut guesser, &wrong.next().unwrap()).await, 422);
    }
    assert_eq!(try_code(&mut guesser, &code).await, 422, "the code is dead");
    assert!(guesser.session().is_none());

    // Two more codes for Carl, then none however often he (or a guesser) asks.
    for _ in 0..5 {
        let page = Browser::new(&app)
            .submit("/login", "/login", &[("email", CARL)])
            .await;
        assert_eq!(page.status, 200);
    }
    app.settle_and_collect(CARL).await;
    assert_eq!(codes_to(CARL).len(), 3, "three codes per address");

    // One client address asking for codes for many addresses: ten, then nothing.
    for i in 0..12 {
        let who = format!("person{i}@client.test");
        app.person(&who, "Someone", "client").await;
        let page = Browser::new(&app)
            .submit("/login", "/login", &[("email", who.as_str())])
            .await;
        assert_eq!(page.status, 200);
    }
    for i in 0..12 {
        app.settle_and_collect(&format!("person{i}@client.test"))
            .await;
    }
    let sent: usize = (0..12)
        .map(|i| codes_to(&format!("person{i}@client.test")).len())
        .sum();
    // Carl's three asked from this client address too.
    assert_eq!(sent, 10 - 3, "ten codes per client address");
    app.stop().await;
}

/// An email whose body extraction runs over the CPU budget is posted as text: the HTML part
/// is given up, nothing else (`--extraction-cpu-budget`; here 1 ms, to see it).
#[tokio::test]
async fn an_email_over_the_extraction_budget_is_posted_as_text() {
    let db = TestDb::sqlite().await;
    // A page of HTML takes well over a millisecond to parse, match and sanitize.
    let page = "<p>Here it <b>is</b>, with the details.</p>".repeat(2_000);
    for (budget, html_kept) in [("1ms", false), ("2s", true)] {
        let db = db.sibling().await;
        let app = spawn_app(&db, &["--extraction-cpu-budget", budget]).await;
        let (reply_to, irt, conversation) = client_thread(&app, "carl@client.test").await;
        let email = format!(
            "From: carl@client.test\r\nTo: {reply_to}\r\nSubject: Re: Bank details\r\n\
Message-ID: <budget@client.test>\r\nIn-Reply-To: {irt}\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"a\"\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\n\
Here it is.\r\n--a\r\nContent-Type: text/html\r\n\r\n{page}\r\n--a--\r\n"
        );
        assert_eq!(
            app.deliver("carl@client.test", &[&reply_to], &email)
                .await
                .code,
            250
        );
        let message = app.messages(&conversation).await.pop().unwrap();
        assert_eq!(message["body_text"], "Here it is.", "{budget}");
        assert_eq!(
            message["body_html"].is_string(),
            html_kept,
            "{budget}: {message}"
        );
        app.stop().await;
    }
}

/// One well-behaved client's latencies (SMTP transactions, HTTP requests) while an attack
/// runs, and its 99th percentile.
#[derive(Default)]
struct Latencies {
    smtp: Vec<std::time::Duration>,
    http: Vec<std::time::Duration>,
}

impl Latencies {
    fn p99(samples: &[std::time::Duration]) -> std::time::Duration {
        let mut sorted = samples.to_vec();
        sorted.sort();
        sorted[(sorted.len() * 99).div_ceil(100) - 1]
    }
}

/// A well-behaved client at its own address (127.0.0.2): `samples` replies, each over a new
/// SMTP connection, and as many page loads over new HTTP connections, all of which must
/// succeed.
async fn well_behaved(
    gateway: &support::process::Gateway,
    reply_to: &str,
    irt: &str,
    tag: &str,
    samples: usize,
) -> Latencies {
    use std::time::Instant;
    let me: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let http = reqwest::Client::builder()
        .local_address(me)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut latencies = Latencies::default();
    for i in 0..samples {
        let started = Instant::now();
        let (mut c, greeting) = SmtpClient::connect_from(me, gateway.smtp).await;
        assert_eq!(greeting.code, 220, "{tag}: {}", greeting.text);
        assert_eq!(c.cmd("EHLO good.client.test").await.code, 250);
        let email = reply_email(
            "carl@client.test",
            reply_to,
            &format!("<{tag}-{i}@client.test>"),
            irt,
            &format!("Still fine during {tag}, {i}."),
        );
        let answer = c.send_mail("carl@client.test", &[reply_to], &email).await;
        assert_eq!(answer.code, 250, "{tag}: {}", answer.text);
        c.cmd("QUIT").await;
        latencies.smtp.push(started.elapsed());
        let started = Instant::now();
        let page = http
            .get(format!("http://{}/healthz", gateway.http))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{tag}: {e}"));
        assert!(page.status().is_success(), "{tag}: {}", page.status());
        latencies.http.push(started.elapsed());
    }
    latencies
}

/// The emails of the MIME attacks: 25 levels of base64-encoded messages inside each other,
/// a 10 MB header on one line, 100,000 tiny parts.
fn mime_bombs(reply_to: &str) -> Vec<(&'static str, String)> {
    let head = |id: &str| {
        format!(
            "From: carl@client.test\r\nTo: {reply_to}\r\nSubject: Re: Bank details\r\n\
Message-ID: <{id}@client.test>\r\nMIME-Version: 1.0\r\n"
        )
    };
    let mut entity = "Content-Type: text/plain\r\n\r\nDeep down\r\n".to_string();
    for _ in 0..25 {
        let encoded = data_encoding::BASE64.encode(entity.as_bytes());
        let mut wrapped =
            "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_string();
        for line in encoded.as_bytes().chunks(76) {
            wrapped.push_str(std::str::from_utf8(line).unwrap());
            wrapped.push_str("\r\n");
        }
        entity = wrapped;
    }
    let nested = format!("{}{entity}", head("nested-encodings"));
    let long_header = format!(
        "{}X-Long: {}\r\nContent-Type: text/plain\r\n\r\nUnder a long header\r\n",
        head("long-header"),
        "a".repeat(10 * 1024 * 1024)
    );
    let mut parts = format!(
        "{}Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n",
        head("many-parts")
    );
    for i in 0..100_000 {
        parts.push_str(&format!("--p\r\nContent-Type: text/plain\r\n\r\n{i}\r\n"));
    }
    parts.push_str("--p--\r\n");
    vec![
        ("nested encodings", nested),
        ("10 MB header line", long_header),
        ("100,000 parts", parts),
    ]
}

/// Resource attacks against the real binary, each while a well-behaved client at another
/// address keeps sending replies and loading a page: 10,000 connections from one address to
/// each listener, slowloris on both, and the MIME bombs sent over and over. The client is
/// served throughout; the gateway's memory and file handles stay bounded. The p99 of the
/// client's SMTP transactions and HTTP requests during each attack is printed (README's
/// Security table quotes a release build: `THREADGATE_BIN=target/release/threadgate`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_attacks_leave_other_clients_served_with_bounded_memory() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let db = TestDb::sqlite().await;
    let dns = support::dns::TestDns::start().await;
    let mut gateway = support::process::Gateway::new(
        &db,
        &[
            // Mail from loopback is checked like the internet's (nothing is trusted).
            "--trusted-relay",
            "192.0.2.1/32",
            "--dns-server",
            &dns.addr.to_string(),
        ],
    );
    gateway.start().await;
    let notification = gateway
        .first_thread("carl@client.test", "Bank details")
        .await
        .notification;
    let (reply_to, irt) = (notification.reply_to(), notification.message_id());
    const SAMPLES: usize = 20;
    let baseline = well_behaved(&gateway, &reply_to, &irt, "baseline", SAMPLES).await;
    let rss_before = gateway.memory("VmRSS");
    let mut report = vec![("none", baseline)];
    let phase = Instant::now();

    // 10,000 connections from one address to each listener, held open.
    for (listener, addr) in [("SMTP", gateway.smtp), ("HTTP", gateway.http)] {
        let flood = tokio::spawn(async move {
            let mut held = Vec::with_capacity(10_000);
            for _ in 0..10_000 {
                if let Ok(stream) = TcpStream::connect(addr).await {
                    held.push(stream);
                }
            }
            held
        });
        let during = well_behaved(&gateway, &reply_to, &irt, listener, SAMPLES).await;
        let held = flood.await.unwrap();
        assert!(held.len() > 9_000, "{listener}: {} connected", held.len());
        let files = gateway.open_files();
        assert!(
            files < 1_500,
            "{listener}: the gateway holds {files} file handles"
        );
        eprintln!("{listener} flood done at {:?}", phase.elapsed());
        report.push((
            if listener == "SMTP" {
                "10,000 SMTP connections"
            } else {
                "10,000 HTTP connections"
            },
            during,
        ));
    }

    // Slowloris: 300 connections to each listener, a byte every 200 ms.
    let stop = Arc::new(AtomicBool::new(false));
    let mut trickles = Vec::new();
    for i in 0..600 {
        let (addr, line): (_, &[u8]) = match i % 2 {
            0 => (
                gateway.smtp,
                b"EHLO slow.attacker.test\r\nMAIL FROM:<a@b.test>\r\n",
            ),
            _ => (
                gateway.http,
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            ),
        };
        let stop = stop.clone();
        trickles.push(tokio::spawn(async move {
            let Ok(mut stream) = TcpStream::connect(addr).await else {
                return;
            };
            for byte in line.iter().cycle() {
                if stop.load(Ordering::Relaxed) || stream.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }
    report.push((
        "slowloris, 300 connections to each listener",
        well_behaved(&gateway, &reply_to, &irt, "slowloris", SAMPLES).await,
    ));
    stop.store(true, Ordering::Relaxed);
    for trickle in trickles {
        trickle.await.unwrap();
    }
    eprintln!("slowloris done at {:?}", phase.elapsed());

    // The MIME bombs, sent over and over by two attackers.
    for (name, bomb) in mime_bombs(&reply_to) {
        let stop = Arc::new(AtomicBool::new(false));
        let bomb = Arc::new(bomb);
        let mut attackers = Vec::new();
        for _ in 0..2 {
            let (stop, bomb, reply_to, smtp) =
                (stop.clone(), bomb.clone(), reply_to.clone(), gateway.smtp);
            attackers.push(tokio::spawn(async move {
                let mut slowest = Duration::ZERO;
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let (mut c, _) = SmtpClient::connect(smtp).await;
                    c.cmd("EHLO attacker.test").await;
                    let answer = c.send_mail("carl@client.test", &[&reply_to], &bomb).await;
                    assert!(answer.code == 250 || answer.code >= 500, "{}", answer.text);
                    slowest = slowest.max(started.elapsed());
                    sent += 1;
                }
                (sent, slowest)
            }));
        }
        let during = well_behaved(&gateway, &reply_to, &irt, name, SAMPLES).await;
        stop.store(true, Ordering::Relaxed);
        for attacker in attackers {
            let (sent, slowest) = attacker.await.unwrap();
            assert!(
                sent > 0 && slowest < Duration::from_secs(60),
                "{name}: {sent} sent, slowest {slowest:?}"
            );
            eprintln!("{name}: {sent} answered, the slowest in {slowest:?}");
        }
        eprintln!("{name} done at {:?}", phase.elapsed());
        report.push((name, during));
    }

    let peak = gateway.memory("VmHWM");
    eprintln!(
        "gateway memory: {} MiB before the attacks, peak {} MiB",
        rss_before >> 20,
        peak >> 20
    );
    for (attack, latencies) in &report {
        eprintln!(
            "{attack}: p99 SMTP {:?}, HTTP {:?} ({} each)",
            Latencies::p99(&latencies.smtp),
            Latencies::p99(&latencies.http),
            latencies.smtp.len()
        );
        assert!(
            Latencies::p99(&latencies.smtp) < Duration::from_secs(10)
                && Latencies::p99(&latencies.http) < Duration::from_secs(5),
            "{attack}"
        );
    }
    assert!(peak < 1024 * 1024 * 1024, "peak memory {} MiB", peak >> 20);
}
