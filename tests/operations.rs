//! What an operator's tools read: `/metrics` (Prometheus text format, behind the admin token
//! or on `--metrics-listen`) counting what the gateway did without naming anyone, and
//! `/readyz` failing for what makes a process unfit for traffic.

mod support;

use serde_json::json;
use support::*;

const CARL: &str = "carl@client.test";

/// A conversation with one notification to Carl: his reply address and its Message-ID.
async fn thread(app: &TestApp) -> (String, String) {
    let agent = app.person("agnes@team.test", "Agnes", "internal").await;
    let client = app.person(CARL, "Carl Client", "client").await;
    let conversation = app.conversation("Invoice", &agent, &[&client]).await;
    app.say(&conversation, &agent, "Your invoice.", "message")
        .await;
    let email = app.wait_for_emails(CARL, 1).await.remove(0);
    (email.reply_to(), email.message_id())
}

async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String, String) {
    let mut request = app.http_client.get(format!("http://{}/metrics", app.http));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

/// The value of one sample line (`name{labels} value`), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn metrics_count_what_happened_and_name_no_one() {
    let dns = support::dns::TestDns::start().await;
    for db in test_databases().await {
        let app = spawn_app(&db, &["--dns-server", &dns.addr.to_string()]).await;
        let (reply_to, irt) = thread(&app).await;
        // A sending domain, checked (nothing published: its records are missing), and a
        // sign-in code.
        let (status, _) = app.post("/domains", json!({"name": "brand.test"})).await;
        assert_eq!(status, 201);
        let (status, _) = app.post("/domains/brand.test/check", json!({})).await;
        assert_eq!(status, 200);
        let page = support::web::Browser::new(&app)
            .submit("/login", "/login", &[("email", CARL)])
            .await;
        assert_eq!(page.status, 200);
        let reply = reply_email(CARL, &reply_to, "<r1@client.test>", &irt, "Thanks!");
        assert_eq!(app.deliver(CARL, &[&reply_to], &reply).await.code, 250);
        assert_eq!(app.deliver(CARL, &[&reply_to], &reply).await.code, 250);
        let stranger = reply_email("eve@elsewhere.test", &reply_to, "<e1@x.test>", &irt, "Hi");
        app.deliver("eve@elsewhere.test", &[&reply_to], &stranger)
            .await;

        assert_eq!(scrape(&app, None).await.0, 401, "behind the admin token");
        let (status, kind, text) = scrape(&app, Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 200, "{}", db.backend);
        assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            text.contains(&format!("threadgate_build_info{{version=\"{version}\"}} 1")),
            "{text}"
        );
        let expected = [
            ("threadgate_smtp_connections_total", 3.0),
            (
                "threadgate_smtp_transactions_total{outcome=\"stored\",class=\"2xx\"}",
                3.0,
            ),
            (
                "threadgate_inbound_emails_total{outcome=\"posted\",reason=\"none\"}",
                1.0,
            ),
            (
                "threadgate_inbound_emails_total{outcome=\"duplicate\",reason=\"none\"}",
                1.0,
            ),
            (
                "threadgate_inbound_emails_total{outcome=\"unknown_sender\",reason=\"none\"}",
                1.0,
            ),
            ("threadgate_inbound_commit_seconds_count", 3.0),
            ("threadgate_group_commit_batch_size_count", 3.0),
            ("threadgate_outbox_sent_total", 1.0),
            ("threadgate_notifications_planned_total", 1.0),
            ("threadgate_scheduler_tick_duration_seconds_count", 1.0),
            ("threadgate_verification_codes_sent_total", 1.0),
            (
                "threadgate_domain_records{domain=\"brand.test\",result=\"missing\"}",
                1.0,
            ),
            (
                "threadgate_http_requests_total{method=\"POST\",route=\"/api/v1/people\",status=\"201\"}",
                2.0,
            ),
            (
                "threadgate_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"401\"}",
                1.0,
            ),
        ];
        // Counters move when the work is done — a planning pass or a delivery pass counts at its
        // end —, so the scrape is repeated until they all show it (or a deadline passes).
        let mut text = text;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let short: Vec<&str> = expected
                .iter()
                .filter(|(series, at_least)| sample(&text, series) < *at_least)
                .map(|(series, _)| *series)
                .collect();
            if short.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: {short:?} in\n{text}",
                db.backend
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            text = scrape(&app, Some(ADMIN_TOKEN)).await.2;
        }
        assert!(text.contains("# TYPE threadgate_smtp_connections_open gauge"));
        assert!(
            text.contains("threadgate_outbox_emails{state=\"failed\"} 0"),
            "{text}"
        );
        assert!(text.contains("# TYPE threadgate_http_request_duration_seconds histogram"));
        // Labels name outcomes, classes and routes: never an address, a token or an id.
        let token = reply_token(&reply_to);
        for secret in ["@", token, "cnv_", "per_", "msg_", "inb_", ADMIN_TOKEN] {
            assert!(!text.contains(secret), "{secret:?} in\n{text}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn metrics_on_their_own_listener_need_no_token() {
    let db = TestDb::sqlite().await;
    let port = free_port();
    let app = spawn_app(&db, &["--metrics-listen", &format!("127.0.0.1:{port}")]).await;
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("threadgate_build_info")
    );
    // Only the metrics there.
    let other = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/people"))
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn ready_until_the_outbox_lags_or_the_schema_is_not_ours() {
    for db in test_databases().await {
        let app = spawn_app(&db, &["--ready-max-outbox-lag", "10m"]).await;
        let ready = || async {
            let response = app
                .http_client
                .get(format!("http://{}/readyz", app.http))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        };
        let (status, body) = ready().await;
        assert_eq!((status, &body["status"]), (200, &json!("ready")), "{body}");

        // An email due 20 minutes ago that a worker claimed and never finished.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        raw_sql(
            &db,
            &format!(
                "INSERT INTO outbox (id, created_at, envelope_from, recipient, message_id, data, \
                 status, next_attempt_at, lease_until) VALUES ('out_stuck', {due}, 'b@x.test', \
                 'r@x.test', '<m@x.test>', 'x', 'sending', {due}, {lease})",
                due = now - 20 * 60 * 1000,
                lease = now + 3600 * 1000
            ),
        )
        .await;
        let (status, body) = ready().await;
        assert_eq!(status, 503, "{body}");
        let failing = body["failing"].to_string();
        assert!(
            failing.contains("oldest email due for delivery has waited"),
            "{failing}"
        );
        raw_sql(&db, "DELETE FROM outbox WHERE id = 'out_stuck'").await;
        assert_eq!(ready().await.0, 200);

        // A newer binary migrated the database: this one is not fit for it.
        let checksum = match db.url.starts_with("sqlite:") {
            true => "X'00'",
            false => "decode('00', 'hex')",
        };
        raw_sql(
            &db,
            &format!(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                 execution_time) VALUES (9999, 'from a newer binary', TRUE, {checksum}, 0)"
            ),
        )
        .await;
        let (status, body) = ready().await;
        assert_eq!(status, 503, "{body}");
        assert!(
            body["failing"]
                .to_string()
                .contains("schema is at version 9999"),
            "{body}"
        );
        app.stop().await;
    }
}

/// `--log-format json`: one JSON object per line, each about an inbound email carrying its
/// id; and nothing secret in the log of a whole run — reply tokens, sign-in links, codes, the
/// admin token, what people wrote.
#[tokio::test]
async fn json_logs_name_each_inbound_email_and_nothing_secret() {
    let db = TestDb::sqlite().await;
    let mut gateway = support::process::Gateway::new(&db, &["--log-format", "json"]);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("threadgate.log");
    gateway.log = Some(log.clone());
    gateway.start().await;
    let post = async |path: &str, body: serde_json::Value| {
        gateway.api(reqwest::Method::POST, path, Some(body)).await
    };
    let thread = gateway.first_thread(CARL, "Invoice").await;
    let notification = thread.notification;
    let conversation = &thread.conversation;
    post(
        &format!("/conversations/{conversation}/messages"),
        json!({"author_id": thread.agent, "body": "Your invoice, secret-figure 4711.", "kind": "message"}),
    )
    .await;
    let reply_to = notification.reply_to();
    let (mut smtp, _) = SmtpClient::connect(gateway.smtp).await;
    smtp.cmd("EHLO client.test").await;
    let body = "Paid today, private-words 0815.";
    let reply = reply_email(
        CARL,
        &reply_to,
        "<paid@client.test>",
        &notification.message_id(),
        body,
    );
    assert_eq!(smtp.send_mail(CARL, &[&reply_to], &reply).await.code, 250);
    let stranger = reply_email(
        "eve@x.test",
        &reply_to,
        "<eve@x.test>",
        &notification.message_id(),
        body,
    );
    assert_eq!(
        smtp.send_mail("eve@x.test", &[&reply_to], &stranger)
            .await
            .code,
        250
    );
    let unknown = smtp.cmd("MAIL FROM:<eve@x.test>").await;
    assert_eq!(unknown.code, 250);
    assert_eq!(
        smtp.cmd("RCPT TO:<reply+abcdefghijklmnopqrstuvwxyz@reply.test>")
            .await
            .code,
        550
    );
    smtp.cmd("QUIT").await;
    // A sign-in link followed, and a code asked for.
    let link = support::web::magic_link(&notification);
    let local = link.replace(
        link.split("/m/").next().unwrap(),
        &format!("http://{}", gateway.http),
    );
    let http = reqwest::Client::new();
    assert_eq!(http.get(&local).send().await.unwrap().status(), 200);
    let client_id = &thread.client;
    post(&format!("/people/{client_id}/verification"), json!({})).await;
    let code = loop {
        let emails = outbox_emails(&gateway.outbox, CARL);
        if let Some(email) = emails
            .iter()
            .find(|e| e.header("Subject").is_some_and(|s| s.contains("code")))
        {
            break support::web::code_in(email);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    post("/verification/check", json!({"email": CARL, "code": code})).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    gateway.kill();

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let recorded: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "inbound email recorded")
        .collect();
    assert_eq!(recorded.len(), 2, "{text}");
    for line in &lines {
        assert!(
            line["timestamp"].is_string()
                && line["level"].is_string()
                && line["target"].is_string(),
            "{line}"
        );
    }
    for line in recorded {
        let spans = line["spans"].as_array().expect("spans");
        let id = spans
            .iter()
            .find_map(|s| s["inbound_id"].as_str())
            .unwrap_or_else(|| panic!("no inbound id: {line}"));
        assert!(id.starts_with("inb_"), "{line}");
    }
    let token = reply_token(&reply_to);
    let link_token = local
        .split("/m/")
        .nth(1)
        .unwrap()
        .split('#')
        .next()
        .unwrap();
    for secret in [
        token,
        link_token,
        "abcdefghijklmnopqrstuvwxyz",
        ADMIN_TOKEN,
        "secret-figure",
        "private-words",
    ] {
        assert!(!text.contains(secret), "{secret:?} in the log:\n{text}");
    }
    // Six digits could be found in a timestamp's fraction by chance: looked for elsewhere.
    for mut line in lines {
        line["timestamp"] = json!(null);
        assert!(!line.to_string().contains(&code), "the code in {line}");
    }
}

/// Shutting down, the process says so at once (`/readyz` 503, so a load balancer takes it out)
/// while the mail in flight is finished and answered.
#[tokio::test]
async fn during_shutdown_readyz_says_503_while_mail_in_flight_finishes() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let (reply_to, irt) = thread(&app).await;
    let (http, client) = (app.http, app.http_client.clone());
    let ready = async || {
        let response = client
            .get(format!("http://{http}/readyz"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    };
    assert_eq!(ready().await.0, 200);
    // A transaction in flight: the data not sent yet.
    let (mut c, _) = SmtpClient::connect(app.smtp).await;
    assert_eq!(c.cmd("EHLO client.test").await.code, 250);
    assert_eq!(c.cmd(&format!("MAIL FROM:<{CARL}>")).await.code, 250);
    assert_eq!(c.cmd(&format!("RCPT TO:<{reply_to}>")).await.code, 250);
    let stopping = tokio::spawn(app.stop());
    let mut seen = None;
    for _ in 0..100 {
        let (status, body) = ready().await;
        if status == 503 {
            seen = Some(body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let body = seen.expect("503 once shutting down");
    assert!(body.contains("shutting down"), "{body}");
    assert_eq!(c.cmd("DATA").await.code, 354);
    let reply = reply_email(CARL, &reply_to, "<late@client.test>", &irt, "Just in time.");
    c.send_raw(dot_stuffed(&reply).as_bytes()).await;
    assert_eq!(
        c.read_reply().await.unwrap().code,
        250,
        "answered, then the process ends"
    );
    stopping.await.unwrap();
}
