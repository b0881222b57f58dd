//! No poison pills: one bad record never stops email for everyone else.
//!
//! - Arbitrary Unicode (every control character, lone CR and LF, bidi controls, very long
//!   strings, RFC 2047 words that decode to a CR LF) through the API's person and conversation
//!   fields and through inbound email (From display names, subjects, file names): the API
//!   answers 201 or a 422 naming the field, SMTP answers 250, and a well-formed participant
//!   still gets their notification at the next tick. A panic hook counts panics: none.
//! - Fault injection for each loop: one item made invalid under the store while others are due;
//!   the others are handled in the same tick and the failure is listed by the API.
//! - Supervision: a loop's task killed is restarted, `/healthz` says so meanwhile, and mail
//!   flows again.
//!
//! Every test runs on SQLite, and on PostgreSQL too when `TEST_DATABASE_URL` is set.

mod support;

use base64::Engine;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::*;

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts every panic in the gateway's own threads (it runs in this test's process: tokio's
/// workers and the commit thread; a test's assertions panic on the test's thread, named after
/// it, and are not counted), then lets the default hook print it.
fn count_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("");
            if name.is_empty()
                || name.starts_with("tokio-runtime-worker")
                || name.starts_with("threadgate")
            {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            default(info);
        }));
    });
}

/// Texts a hostile or careless user would send: any Unicode, strings dense in control and
/// bidi characters, and very long ones.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\x7f-\\x9f\u{2028}\u{2029}\u{202a}-\u{202e}\u{2066}-\u{2069} a-zA-Zé山\"<>@,;:\\\\]{0,40}",
        "(Eve|\r|\n|\r\n|Bcc: spy@evil.test|\u{202e}|\t|=?utf-8?q?x=0D=0Ay?=){1,8}",
        ".{300,700}",
    ]
}

/// Fixed cases from the report, then `n` generated ones (deterministic: the same run every
/// time, so a failure reproduces).
fn texts(n: usize) -> Vec<String> {
    let mut out: Vec<String> = [
        "Eve\r\nBcc: spy@evil.test",
        "Eve\rX-Injected: yes",
        "Eve\nX-Injected: yes",
        "\r\n",
        "Bob\u{202e}gnp.exe",
        "\u{0}",
        "",
        "   ",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let strategy = hostile_text();
    for _ in 0..n {
        out.push(strategy.new_tree(&mut runner).expect("a value").current());
    }
    out
}

fn b64_word(s: &str) -> String {
    format!(
        "=?utf-8?b?{}?=",
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
    )
}

/// An email from a stranger to the inbox whose From name, subject and attachment file name
/// are `text` (as RFC 2047 words, as a hostile sender writes them).
fn hostile_email(i: usize, text: &str) -> String {
    let word = b64_word(text);
    format!(
        "From: {word} <stranger{i}@strangers.test>\r\n\
         To: support@example.test\r\n\
         Subject: {word}\r\n\
         Message-ID: <hostile{i}@strangers.test>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\
         \r\n\
         --b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Hello, here is the file.\r\n\
         --b\r\n\
         Content-Type: application/octet-stream; name=\"{word}\"\r\n\
         Content-Disposition: attachment; filename=\"{word}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         aGVsbG8=\r\n\
         --b--\r\n"
    )
}

async fn failures(app: &TestApp, job: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/failures?job={job}")).await;
    assert_eq!(status, 200, "{body}");
    body["failures"].as_array().unwrap().clone()
}

async fn healthz(app: &TestApp) -> (u16, String) {
    let response = app
        .http_client
        .get(format!("http://{}/healthz", app.http))
        .send()
        .await
        .expect("healthz");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_text_from_the_api_and_email_never_stops_notifications() {
    count_panics();
    let cases = texts(40);
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let (status, body) = app.post("/domains", json!({"name": "example.test"})).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = app
            .patch("/domains/example.test", json!({"strangers": "accept"}))
            .await;
        assert_eq!(status, 200, "{body}");
        let agent = app.person("agent@team.test", "Agent", "internal").await;
        let wendy = app.person("wendy@client.test", "Wendy", "client").await;

        let mut refused = 0;
        for (i, text) in cases.iter().enumerate() {
            // A person named `text`: created, or refused naming the field.
            let (status, body) = app
                .post(
                    "/people",
                    json!({"email": format!("p{i}@client.test"), "name": text, "role": "client"}),
                )
                .await;
            let mut members = vec![wendy.clone()];
            match status {
                201 => members.push(body["id"].as_str().unwrap().to_string()),
                422 => {
                    assert_eq!(body["error"]["field"], "name", "{text:?}: {body}");
                    refused += 1;
                }
                other => panic!("{text:?}: POST /people answered {other}: {body}"),
            }
            // Renaming a well-formed person to `text`: the same rule.
            let (status, body) = app
                .patch(&format!("/people/{wendy}"), json!({"name": text}))
                .await;
            assert!(status == 200 || status == 422, "{text:?}: {status} {body}");
            if status == 422 {
                assert_eq!(body["error"]["field"], "name", "{body}");
            }
            // A conversation about `text`.
            let (status, body) = app
                .post(
                    "/conversations",
                    json!({"subject": text, "created_by": agent, "participants": members}),
                )
                .await;
            let conversation = match status {
                201 => body["id"].as_str().unwrap().to_string(),
                422 => {
                    assert_eq!(body["error"]["field"], "subject", "{text:?}: {body}");
                    let members: Vec<&str> = members.iter().map(String::as_str).collect();
                    app.conversation("Fallback subject", &agent, &members).await
                }
                other => panic!("{text:?}: POST /conversations answered {other}: {body}"),
            };
            app.say(&conversation, &agent, "Hello from the team", "message")
                .await;
            // A stranger whose name, subject and file name are `text`, to the inbox.
            let reply = app
                .deliver(
                    &format!("stranger{i}@strangers.test"),
                    &["support@example.test"],
                    &hostile_email(i, text),
                )
                .await;
            assert_eq!(reply.code, 250, "{text:?}: {reply:?}");
        }
        assert!(refused > 0, "some generated names break the rule");

        // Wendy, well-formed, hears about every conversation; the agent about every stranger.
        app.wait_for_emails("wendy@client.test", cases.len()).await;
        app.wait_for_emails("agent@team.test", cases.len()).await;
        // Every email written is one a mail client reads: no bare CR or LF, no control
        // character in a header.
        for email in outbox_emails(&app.outbox_dir(), "agent@team.test") {
            let raw = String::from_utf8_lossy(&email.raw);
            let head = raw.split("\r\n\r\n").next().unwrap_or("");
            for line in head.split("\r\n") {
                assert!(
                    !line.chars().any(|c| c.is_control() && c != '\t'),
                    "a control character in a header line: {line:?}"
                );
            }
        }
        assert!(failures(&app, "notify").await.is_empty());
        assert_eq!(healthz(&app).await, (200, "ok".to_string()));
        app.stop().await;
        db.cleanup().await;
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "nothing panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_already_stored_are_cleaned_at_start() {
    for db in test_databases().await {
        let store = store(&db).await;
        let eve = store
            .create_person(threadgate::store::NewPerson {
                email: threadgate::domain::EmailAddress::parse("eve@client.test").unwrap(),
                name: "Eve\r\nBcc: spy@evil.test".into(),
                role: threadgate::domain::Role::Client,
            })
            .await
            .unwrap();
        let ok = store
            .create_person(threadgate::store::NewPerson {
                email: threadgate::domain::EmailAddress::parse("ok@client.test").unwrap(),
                name: "Zoë Ångström".into(),
                role: threadgate::domain::Role::Client,
            })
            .await
            .unwrap();
        let conversation = store
            .create_conversation(
                "Order\r\n#1 \u{202e}fdp",
                &eve.id,
                std::slice::from_ref(&ok.id),
            )
            .await
            .unwrap();
        store.close().await;

        let app = spawn_app(&db, &[]).await;
        let (_, body) = app.get(&format!("/people/{}", eve.id)).await;
        assert_eq!(body["name"], "Eve Bcc: spy@evil.test");
        let (_, body) = app.get(&format!("/people/{}", ok.id)).await;
        assert_eq!(body["name"], "Zoë Ångström", "good names are untouched");
        let (_, body) = app
            .get(&format!("/conversations/{}", conversation.id))
            .await;
        assert_eq!(body["subject"], "Order #1 fdp");
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_web_forms_name_the_field_they_refuse() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agent = app.person("agent@team.test", "Agent", "internal").await;
        for name in [
            "Eve\r\nBcc: spy@evil.test",
            "Eve\rBcc: x",
            "Eve\nBcc: x",
            "Bob\u{202e}x",
            "",
        ] {
            let (status, body) = app
                .post(
                    "/people",
                    json!({"email": "eve@client.test", "name": name, "role": "client"}),
                )
                .await;
            assert_eq!(status, 422, "{name:?}: {body}");
            assert_eq!(body["error"]["field"], "name");
        }
        let (status, body) = app
            .post(
                "/conversations",
                json!({"subject": "a\r\nb", "created_by": agent, "participants": []}),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], "subject");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("U+000D"),
            "{body}"
        );
        let (status, body) = app
            .patch(&format!("/people/{agent}"), json!({"name": "  Agnes  "}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["name"], "Agnes");
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planner_goes_on_past_a_row_it_cannot_read() {
    for db in test_databases().await {
        // A tick of an hour: the planner runs at start, then when the test restarts it, after
        // the rows are broken.
        let app = spawn_app(&db, &["--tick", "1h"]).await;
        let agent = app.person("agent@team.test", "Agent", "internal").await;
        let bad = app.person("bad@client.test", "Bad Row", "client").await;
        let good = app.person("good@client.test", "Good Row", "client").await;
        let conversation = app.conversation("Order", &agent, &[&bad, &good]).await;
        // Wait until the creation settled, then break one participant's row and one message.
        raw_sql(
            &db,
            &format!(
                "UPDATE participants SET reply_token = 'not a token'
                 WHERE conversation_id = '{conversation}' AND person_id = '{bad}'"
            ),
        )
        .await;
        let broken = app.say(&conversation, &agent, "first", "message").await;
        drop_checks(&db, "messages").await;
        raw_sql(
            &db,
            &format!("UPDATE messages SET kind = 'bogus' WHERE id = '{broken}'"),
        )
        .await;
        app.say(&conversation, &agent, "second", "message").await;
        assert!(app.health.restart("scheduler"));

        let emails = app.wait_for_emails("good@client.test", 1).await;
        let text = String::from_utf8_lossy(&emails[0].raw).to_string();
        assert!(text.contains("second"), "the readable message went out");
        assert!(
            !text.contains("first"),
            "the unreadable one is shown to nobody"
        );
        let mut items: Vec<String> = Vec::new();
        wait_until("both failures recorded", || {
            let app = &app;
            async move { failures(app, "notify").await.len() >= 2 }
        })
        .await;
        for f in failures(&app, "notify").await {
            assert!(f["reason"].as_str().unwrap().contains("malformed"), "{f}");
            items.push(f["item"].as_str().unwrap().to_string());
        }
        items.sort();
        let mut expected = vec![format!("{conversation}/{bad}"), broken.clone()];
        expected.sort();
        assert_eq!(items, expected);
        assert!(outbox_emails(&app.outbox_dir(), "bad@client.test").is_empty());
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_step_goes_on_past_a_conversation_it_cannot_read() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agent = app.person("agent@team.test", "Agent", "internal").await;
        let good = app.conversation("Good", &agent, &[]).await;
        let bad = app.conversation("Bad", &agent, &[]).await;
        drop_checks(&db, "conversations").await;
        raw_sql(
            &db,
            &format!(
                "UPDATE conversations SET status = 'snoozed', snoozed_until = 1,
                        wake_status = CASE id WHEN '{good}' THEN 'pending' ELSE 'bogus' END
                 WHERE id IN ('{good}', '{bad}')"
            ),
        )
        .await;
        wait_until("the good conversation wakes up", || {
            let (app, good) = (&app, &good);
            async move {
                let (_, body) = app.get(&format!("/conversations/{good}")).await;
                body["status"] == "pending"
            }
        })
        .await;
        wait_until("the failure is listed", || {
            let app = &app;
            async move { !failures(app, "lifecycle").await.is_empty() }
        })
        .await;
        let listed = failures(&app, "lifecycle").await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["item"], bad.as_str());
        let (_, body) = app.get(&format!("/conversations/{bad}")).await;
        assert_eq!(body["status"], "snoozed", "left as it was");
        // Not claimed again at every tick: it waits out its quarantine.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(failures(&app, "lifecycle").await[0]["failures"], 1);
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_rechecks_go_on_past_a_domain_they_cannot_read() {
    for db in test_databases().await {
        let dns = support::dns::TestDns::start().await;
        let server = dns.addr.to_string();
        let app = spawn_app(&db, &["--dns-server", &server]).await;
        for name in ["bad.test", "good.test"] {
            let (status, body) = app.post("/domains", json!({"name": name})).await;
            assert_eq!(status, 201, "{body}");
        }
        raw_sql(
            &db,
            "UPDATE domains SET last_checked_at = 1;
             UPDATE domains SET check_results = 'not json' WHERE name = 'bad.test'",
        )
        .await;
        // The daily loop runs at start and then every minute: restart it to run now.
        assert!(app.health.restart("domain-checks"));
        wait_until("the good domain is re-checked", || {
            let app = &app;
            async move {
                let (_, body) = app.get("/domains/good.test").await;
                body["last_checked_at"].is_string()
            }
        })
        .await;
        wait_until("the bad one is listed", || {
            let app = &app;
            async move { !failures(app, "domain_check").await.is_empty() }
        })
        .await;
        let listed = failures(&app, "domain_check").await;
        assert_eq!(listed[0]["item"], "bad.test");
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_loop_is_restarted_and_mail_flows_again() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agent = app.person("agent@team.test", "Agent", "internal").await;
        let client = app.person("carl@client.test", "Carl", "client").await;
        let conversation = app.conversation("Order", &agent, &[&client]).await;
        assert_eq!(healthz(&app).await.0, 200);

        for name in ["scheduler", "outbox", "inbound-commit"] {
            let name = if name == "inbound-commit" && db.url.starts_with("postgres") {
                "inbound-commit-1"
            } else {
                name
            };
            assert!(app.health.restart(name), "{name} runs");
            // Down until its backoff is over: /healthz says which loop.
            let (status, text) = healthz(&app).await;
            assert_eq!(status, 503, "{text}");
            assert!(text.contains(name), "{text}");
            wait_until("the loop is back", || {
                let app = &app;
                async move { healthz(app).await.0 == 200 }
            })
            .await;
        }
        let (status, body) = app.get("/health").await;
        assert_eq!(status, 200, "{body}");
        let restarted: Vec<&Value> = body["loops"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["restarts"] == 1)
            .collect();
        assert_eq!(restarted.len(), 3, "{body}");
        assert!(
            restarted
                .iter()
                .all(|l| l["last_failure"] == "the task was aborted"),
            "{body}"
        );

        // Notifications flow again, and so does inbound mail.
        app.say(&conversation, &agent, "Still there?", "message")
            .await;
        let emails = app.wait_for_emails("carl@client.test", 1).await;
        let reply = reply_email(
            "carl@client.test",
            &emails[0].reply_to(),
            "<yes@client.test>",
            &emails[0].message_id(),
            "Yes!",
        );
        let answer = app
            .deliver("carl@client.test", &[&emails[0].reply_to()], &reply)
            .await;
        assert_eq!(answer.code, 250, "{answer:?}");
        assert_eq!(app.messages(&conversation).await.len(), 2);
        app.stop().await;
        db.cleanup().await;
    }
}

/// Header values that reach an index as they are: a Message-ID (the duplicate key of a posted
/// message), an In-Reply-To and a References thousands of bytes long. PostgreSQL refuses an
/// index entry over 2,704 bytes, so each would fail its email's write at every retry; they are
/// posted, and a second delivery of the same email is still recognised as the same.
#[tokio::test]
async fn header_values_of_any_length_never_fail_an_emails_write() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agent = app.person("agnes@team.test", "Agnes", "internal").await;
        let client = app.person("carl@client.test", "Carl", "client").await;
        let conversation = app.conversation("Order", &agent, &[&client]).await;
        app.say(&conversation, &agent, "Hello Carl", "message")
            .await;
        let emails = app.wait_for_emails("carl@client.test", 1).await;
        let reply_to = emails[0].reply_to();
        // Random, so that nothing compresses it under the limit.
        let long = threadgate::domain::random_base32(6_000);
        let raw = format!(
            "From: carl@client.test\r\nTo: {reply_to}\r\nSubject: Re: Order\r\n\
             Message-ID: <{long}@client.test>\r\nIn-Reply-To: <{long}@a.test>\r\n\
             References: <{long}@b.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIt came.\r\n"
        );
        for _ in 0..2 {
            let answer = app.deliver("carl@client.test", &[&reply_to], &raw).await;
            assert_eq!(answer.code, 250, "{} {answer:?}", db.backend);
        }
        let messages = app.messages(&conversation).await;
        assert_eq!(
            messages.len(),
            2,
            "{} posted once: {messages:?}",
            db.backend
        );
        app.stop().await;
        db.cleanup().await;
    }
}
