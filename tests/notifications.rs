//! Who gets which email when: digests on an injected clock, settings, one-click unsubscribe,
//! verification codes, and several processes sharing one database.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use threadgate::domain::ManualClock;

const AGENT: &str = "agnes@team.test";
const CLIENT: &str = "carl@client.test";
const START: i64 = 1_800_000_000_000;

struct Scene {
    app: TestApp,
    clock: ManualClock,
    agent: String,
    client: String,
    conversation: String,
}

async fn scene(db: &TestDb, extra: &[&str]) -> Scene {
    let clock = ManualClock::at(START);
    let app = spawn_app_with_clock(db, extra, Arc::new(clock.clone())).await;
    let agent = app.person(AGENT, "Agnes Agent", "internal").await;
    let client = app.person(CLIENT, "Carl Client", "client").await;
    let conversation = app
        .conversation("Project kickoff", &agent, &[&client])
        .await;
    Scene {
        app,
        clock,
        agent,
        client,
        conversation,
    }
}

impl Scene {
    async fn agent_says(&self, text: &str) {
        self.app
            .say(&self.conversation, &self.agent, text, "message")
            .await;
    }

    async fn client_emails(&self) -> Vec<Email> {
        self.app.settle_and_collect(CLIENT).await
    }
}

#[tokio::test]
async fn three_messages_in_a_minute_give_one_email_at_once_and_one_digest_after_the_interval() {
    for db in test_databases().await {
        let s = scene(&db, &[]).await;
        s.agent_says("First: the kickoff is on Monday.").await;
        let emails = s.app.wait_for_emails(CLIENT, 1).await;
        assert_eq!(emails[0].header("Subject"), Some("Re: Project kickoff"));
        assert!(emails[0].text.contains("New message in Project kickoff"));
        s.clock.advance(Duration::from_secs(20));
        s.agent_says("Second: bring the budget.").await;
        s.clock.advance(Duration::from_secs(20));
        s.agent_says("Third: and the slides.").await;
        assert_eq!(
            s.client_emails().await.len(),
            1,
            "nothing before the digest interval"
        );

        s.clock.advance(Duration::from_secs(30 * 60));
        let emails = s.app.wait_for_emails(CLIENT, 2).await;
        let digest = &emails[1];
        assert_eq!(
            digest.header("Subject"),
            Some("Re: Project kickoff"),
            "one subject for the whole thread ({})",
            db.backend
        );
        assert!(digest.text.contains("2 new messages in Project kickoff"));
        assert!(
            digest.text.contains("Second: bring the budget.")
                && digest.text.contains("Third: and the slides.")
        );
        assert!(
            !digest.text.contains("First:"),
            "never the same message twice"
        );
        let second = digest.text.find("Second").unwrap();
        assert!(second < digest.text.find("Third").unwrap(), "newest last");

        s.clock.advance(Duration::from_secs(3600));
        assert_eq!(s.client_emails().await.len(), 2, "then nothing");
        s.app.stop().await;
    }
}

#[tokio::test]
async fn reading_or_replying_in_between_means_no_digest_and_the_next_message_goes_out_at_once() {
    for db in test_databases().await {
        let s = scene(&db, &[]).await;
        s.agent_says("One").await;
        s.app.wait_for_emails(CLIENT, 1).await;
        s.agent_says("Two").await;
        let (status, _) = s
            .app
            .post(
                &format!("/conversations/{}/read", s.conversation),
                json!({"person_id": s.client}),
            )
            .await;
        assert_eq!(status, 204);
        s.clock.advance(Duration::from_secs(31 * 60));
        assert_eq!(
            s.client_emails().await.len(),
            1,
            "read on the web: no digest"
        );

        // Caught up: the next message is the first unseen one again, emailed at the next tick.
        s.clock.advance(Duration::from_secs(60));
        s.agent_says("Three").await;
        let emails = s.app.wait_for_emails(CLIENT, 2).await;
        assert!(emails[1].text.contains("Three") && !emails[1].text.contains("Two"));

        // Replying catches up too.
        s.agent_says("Four").await;
        s.app
            .say(&s.conversation, &s.client, "My answer", "message")
            .await;
        s.clock.advance(Duration::from_secs(31 * 60));
        assert_eq!(
            s.client_emails().await.len(),
            2,
            "replied: no digest of what came before"
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn settings_off_mute_immediate_and_blocked_are_honoured() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    // Immediate: every message at the next tick, no digest window.
    let (status, person) = s
        .app
        .patch(
            &format!("/people/{}", s.client),
            json!({"notifications": "immediate"}),
        )
        .await;
    assert_eq!(status, 200, "{person}");
    assert_eq!(person["notifications"], "immediate");
    s.agent_says("a").await;
    s.app.wait_for_emails(CLIENT, 1).await;
    s.agent_says("b").await;
    s.app.wait_for_emails(CLIENT, 2).await;

    // Muted conversation: nothing.
    let (status, _) = s
        .app
        .post(
            &format!("/conversations/{}/mute", s.conversation),
            json!({"person_id": s.client}),
        )
        .await;
    assert_eq!(status, 204);
    s.agent_says("c").await;
    assert_eq!(s.client_emails().await.len(), 2);
    let (status, _) = s
        .app
        .post(
            &format!("/conversations/{}/mute", s.conversation),
            json!({"person_id": s.client, "muted": false}),
        )
        .await;
    assert_eq!(status, 204);

    // Off: nothing; and nothing piles up for later.
    let (status, _) = s
        .app
        .patch(
            &format!("/people/{}", s.client),
            json!({"notifications": "off"}),
        )
        .await;
    assert_eq!(status, 200);
    s.agent_says("d").await;
    assert_eq!(s.client_emails().await.len(), 2);
    s.app
        .patch(
            &format!("/people/{}", s.client),
            json!({"notifications": "immediate"}),
        )
        .await;
    s.agent_says("e").await;
    let emails = s.app.wait_for_emails(CLIENT, 3).await;
    let lines: Vec<&str> = emails[2].text.lines().map(str::trim).collect();
    assert!(
        lines.contains(&"e") && !lines.contains(&"d"),
        "{}",
        emails[2].text
    );

    // Blocked: nothing.
    s.app
        .patch(&format!("/people/{}", s.client), json!({"blocked": true}))
        .await;
    s.agent_says("f").await;
    assert_eq!(s.client_emails().await.len(), 3);

    // Bad settings are refused.
    let (status, body) = s
        .app
        .patch(
            &format!("/people/{}", s.client),
            json!({"notifications": "sometimes"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = s
        .app
        .patch("/people/per_nobody", json!({"locale": "fr"}))
        .await;
    assert_eq!(status, 404);
    s.app.stop().await;
}

#[tokio::test]
async fn emails_are_written_in_the_person_s_language() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    s.app
        .patch(&format!("/people/{}", s.client), json!({"locale": "fr"}))
        .await;
    s.agent_says("Bonjour").await;
    let email = s.app.wait_for_emails(CLIENT, 1).await.remove(0);
    assert_eq!(email.header("Subject"), Some("Re: Project kickoff"));
    assert!(email.text.contains("Nouveau message dans Project kickoff"));
    assert!(
        email.text.contains("Agnes Agent a écrit le"),
        "{}",
        email.text
    );
    assert!(email.html.contains("lang=\"fr\""));
    s.app.stop().await;
}

#[tokio::test]
async fn one_click_unsubscribe_mutes_the_conversation_without_login() {
    for db in test_databases().await {
        let s = scene(&db, &[]).await;
        s.agent_says("Hello").await;
        let email = s.app.wait_for_emails(CLIENT, 1).await.remove(0);
        assert_eq!(
            email.header("List-Unsubscribe-Post"),
            Some("List-Unsubscribe=One-Click")
        );
        let header = email.header("List-Unsubscribe").expect("List-Unsubscribe");
        assert!(header.contains("mailto:unsubscribe@reply.test"), "{header}");
        let url = header
            .split(['<', '>'])
            .find(|p| p.starts_with("http"))
            .expect("https URL")
            .to_string();

        // A GET (link scanners, previews) shows a button and changes nothing.
        let page = s.app.http_client.get(&url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("<form method=\"post\""));
        s.clock.advance(Duration::from_secs(31 * 60));
        s.agent_says("Still subscribed").await;
        s.app.wait_for_emails(CLIENT, 2).await;

        // RFC 8058: the one-click POST.
        let done = s
            .app
            .http_client
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 200);
        s.clock.advance(Duration::from_secs(31 * 60));
        s.agent_says("After unsubscribing").await;
        assert_eq!(s.client_emails().await.len(), 2, "muted ({})", db.backend);

        // A tampered link does nothing.
        let tampered = url.replace(&s.client, &s.agent);
        let response = s.app.http_client.post(&tampered).send().await.unwrap();
        assert_eq!(response.status(), 400);
        s.app.stop().await;
    }
}

/// `POST /verification/check`.
async fn check_code(app: &TestApp, email: &str, code: &str) -> (u16, serde_json::Value) {
    app.post("/verification/check", json!({"email": email, "code": code}))
        .await
}

/// The 6-digit code in the newest code email to `to`.
fn code_in(app: &TestApp, to: &str) -> String {
    let emails: Vec<Email> = outbox_emails(&app.outbox_dir(), to)
        .into_iter()
        .filter(|e| {
            e.header("Subject")
                .is_some_and(|s| s.starts_with("Your code"))
        })
        .collect();
    let subject = emails
        .last()
        .expect("a code email")
        .header("Subject")
        .unwrap()
        .to_string();
    subject.rsplit(' ').next().unwrap().to_string()
}

async fn wait_for_code_email(app: &TestApp, to: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = outbox_emails(&app.outbox_dir(), to)
            .iter()
            .filter(|e| {
                e.header("Subject")
                    .is_some_and(|s| s.starts_with("Your code"))
            })
            .count();
        if n >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "code email {count} did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn verification_codes_verify_once_expire_and_allow_five_tries() {
    for db in test_databases().await {
        let s = scene(&db, &["--tick", "1h"]).await;
        let path = format!("/people/{}/verification", s.client);
        let (status, body) = s.app.post(&path, json!({})).await;
        assert_eq!(status, 202, "{body}");
        // Sent at once, not at the next (hour-long) tick.
        wait_for_code_email(&s.app, CLIENT, 1).await;
        let code = code_in(&s.app, CLIENT);
        assert_eq!(code.len(), 6);

        let wrong = if code == "000000" { "111111" } else { "000000" };
        let (status, body) = check_code(&s.app, CLIENT, wrong).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("wrong_code"))
        );
        let (status, body) = check_code(&s.app, "Carl@Client.test", &code).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["verified"], true);
        let (_, person) = s.app.get(&format!("/people/{}", s.client)).await;
        assert_eq!(person["verified"], true);
        assert!(person["verified_at"].is_string());
        // Reuse fails.
        let (status, body) = check_code(&s.app, CLIENT, &code).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("no_code"))
        );

        // Expiry.
        s.app.post(&path, json!({})).await;
        wait_for_code_email(&s.app, CLIENT, 2).await;
        let code = code_in(&s.app, CLIENT);
        s.clock.advance(Duration::from_secs(11 * 60));
        let (status, body) = check_code(&s.app, CLIENT, &code).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("no_code")),
            "expired"
        );

        // Five wrong tries burn the code, even the right one after.
        s.app.post(&path, json!({})).await;
        wait_for_code_email(&s.app, CLIENT, 3).await;
        let code = code_in(&s.app, CLIENT);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for left in (0..5).rev() {
            let (_, body) = check_code(&s.app, CLIENT, wrong).await;
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("{left} attempt")),
                "{body}"
            );
        }
        let (status, body) = check_code(&s.app, CLIENT, &code).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("no_code"))
        );

        // Malformed input is a 422, not a 500.
        let (status, _) = check_code(&s.app, CLIENT, "12ab").await;
        assert_eq!(status, 422);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn verification_codes_are_rate_limited_per_address() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &["--tick", "1h"]).await;
    let path = format!("/people/{}/verification", s.client);
    for _ in 0..threadgate::store::CODES_PER_ADDRESS {
        assert_eq!(s.app.post(&path, json!({})).await.0, 202);
    }
    let response = s
        .app
        .http_client
        .post(s.app.url(&path))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    s.clock.advance(Duration::from_secs(11 * 60));
    assert_eq!(
        s.app.post(&path, json!({})).await.0,
        202,
        "the window passed"
    );
    s.app.stop().await;
}

/// Store-level setup: an agent and a client in one conversation, and one agent message in it.
struct StoreScene {
    store: threadgate::store::Store,
    agent: threadgate::store::Person,
    client: threadgate::store::Person,
    conversation: String,
    message: threadgate::store::Message,
}

async fn person_in(
    store: &threadgate::store::Store,
    email: &str,
    role: threadgate::domain::Role,
) -> threadgate::store::Person {
    store
        .create_person(threadgate::store::NewPerson {
            email: threadgate::domain::EmailAddress::parse(email).unwrap(),
            name: "x".into(),
            role,
        })
        .await
        .unwrap()
}

async fn post_message(
    store: &threadgate::store::Store,
    conversation: &str,
    author: &str,
    body: &str,
) -> threadgate::store::Message {
    store
        .append_message(threadgate::store::NewMessage {
            conversation_id: conversation.to_string(),
            author_id: author.to_string(),
            kind: threadgate::domain::MessageKind::Message,
            body_text: body.into(),
            body_html: None,
            trimmed_text: None,
            source: threadgate::domain::Source::Api,
            email_message_id: None,
            attachments: Vec::new(),
        })
        .await
        .unwrap()
}

async fn store_scene(store: threadgate::store::Store) -> StoreScene {
    use threadgate::domain::Role;
    let agent = person_in(&store, AGENT, Role::Internal).await;
    let client = person_in(&store, CLIENT, Role::Client).await;
    let conversation = store
        .create_conversation("Hi", &agent.id, std::slice::from_ref(&client.id))
        .await
        .unwrap()
        .id;
    let message = post_message(&store, &conversation, &agent.id, "hello").await;
    StoreScene {
        store,
        agent,
        client,
        conversation,
        message,
    }
}

#[tokio::test]
async fn verification_codes_go_out_ahead_of_queued_notifications() {
    use threadgate::store::{CodeIssue, NewOutboxEmail, PlannedEmail};
    for db in test_databases().await {
        let StoreScene {
            store,
            client,
            conversation: c,
            ..
        } = store_scene(store(&db).await).await;
        let email = |id: &str| NewOutboxEmail {
            id: id.to_string(),
            envelope_from: "b@gw.test".into(),
            recipient: CLIENT.into(),
            message_id: format!("<{id}@gw.test>"),
            references: String::new(),
            data: id.as_bytes().to_vec().into(),
        };
        let due = store.due_notifications(10, 0).await.unwrap();
        let d = due.iter().find(|d| d.person.id == client.id).unwrap();
        let plan = PlannedEmail {
            failure: None,
            thread_subject: None,
            assigned_by: None,
            conversation_id: c.clone(),
            person_id: client.id.clone(),
            expected_up_to: d.notified_up_to,
            up_to: d.last_seq,
            email: Some(email("out_digestaaaaaaaaaaaa")),
        };
        assert!(store.enqueue_notification(&plan).await.unwrap());
        let issued = store
            .issue_verification_code(
                &client.id,
                CLIENT,
                "hash",
                "127.0.0.1",
                &email("out_codeaaaaaaaaaaaaaa"),
            )
            .await
            .unwrap();
        assert!(matches!(issued, CodeIssue::Issued { .. }));
        let claimed = store.claim_outbox(10, 60_000).await.unwrap();
        let order: Vec<&str> = claimed.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            order,
            ["out_codeaaaaaaaaaaaaaa", "out_digestaaaaaaaaaaaa"],
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn two_gateway_processes_on_one_database_send_every_email_exactly_once() {
    for db in test_databases().await {
        let first = spawn_app(&db, &["--tick", "50ms"]).await;
        let second = spawn_app(&db, &["--tick", "50ms"]).await;
        let agent = first.person(AGENT, "Agnes Agent", "internal").await;
        let mut clients = Vec::new();
        for i in 0..20 {
            let email = format!("client{i}@client.test");
            let id = first.person(&email, &format!("Client {i}"), "client").await;
            let conversation = first
                .conversation(&format!("Topic {i}"), &agent, &[&id])
                .await;
            clients.push((email, conversation));
        }
        // A burst of messages, posted through both processes.
        for (i, (_, conversation)) in clients.iter().enumerate() {
            let app = if i % 2 == 0 { &first } else { &second };
            app.say(
                conversation,
                &agent,
                &format!("Message for topic {i}"),
                "message",
            )
            .await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let total: usize = clients
                .iter()
                .map(|(email, _)| {
                    outbox_emails(&first.outbox_dir(), email).len()
                        + outbox_emails(&second.outbox_dir(), email).len()
                })
                .sum();
            if total >= clients.len() || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        for (email, _) in &clients {
            let n = outbox_emails(&first.outbox_dir(), email).len()
                + outbox_emails(&second.outbox_dir(), email).len();
            assert_eq!(n, 1, "{email} got {n} emails ({})", db.backend);
        }
        first.stop().await;
        second.stop().await;
    }
}

#[tokio::test]
async fn the_mailto_unsubscribe_method_mutes_the_conversation_too() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    s.agent_says("Hello").await;
    let email = s.app.wait_for_emails(CLIENT, 1).await.remove(0);
    let header = email.header("List-Unsubscribe").unwrap().to_string();
    let mailto = header
        .split(['<', '>'])
        .find(|p| p.starts_with("mailto:"))
        .unwrap();
    let (address, query) = mailto
        .trim_start_matches("mailto:")
        .split_once('?')
        .unwrap();
    let subject = query.trim_start_matches("subject=").replace("%20", " ");
    let request =
        format!("From: carl@client.test\r\nTo: {address}\r\nSubject: {subject}\r\n\r\n\r\n");
    let (mut c, _) = SmtpClient::connect(s.app.smtp).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.send_mail(CLIENT, &[address], &request).await.code, 250);
    // A forged token is recorded and changes nothing.
    let forged = "From: x@evil.test\r\nTo: unsubscribe@reply.test\r\nSubject: unsubscribe cnv_x.per_y.9999999999.aaaa\r\n\r\n\r\n";
    assert_eq!(
        c.send_mail("x@evil.test", &["unsubscribe@reply.test"], forged)
            .await
            .code,
        250
    );
    c.cmd("QUIT").await;
    let inbound = s.app.inbound().await;
    assert_eq!(inbound[1]["outcome"], "unsubscribe", "{inbound:?}");
    assert_eq!(inbound[0]["outcome"], "rejected");
    s.clock.advance(Duration::from_secs(31 * 60));
    s.agent_says("After unsubscribing by mail").await;
    assert_eq!(s.client_emails().await.len(), 1);
    s.app.stop().await;
}

#[tokio::test]
async fn a_deleted_message_is_never_emailed_and_the_mark_moves_past_it() {
    for db in test_databases().await {
        let StoreScene {
            store,
            agent,
            client,
            message,
            ..
        } = store_scene(store(&db).await).await;
        store
            .delete_message(&message.id, Some(&agent.id))
            .await
            .unwrap();
        let due = store.due_notifications(10, 0).await.unwrap();
        let d = due
            .iter()
            .find(|d| d.person.id == client.id)
            .expect("still due: the mark must move");
        assert!(
            d.messages.is_empty(),
            "{} ({})",
            d.messages.len(),
            db.backend
        );
        assert_eq!(d.last_seq, message.seq);
    }
}

/// A `threadgate serve` child process on free ports.
struct Serve {
    child: std::process::Child,
    http: String,
    outbox: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn serve(database_url: &str) -> Serve {
    let dir = tempfile::tempdir().unwrap();
    let http = format!("127.0.0.1:{}", free_port());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_threadgate"))
        .args([
            "serve",
            "--data-dir",
            &dir.path().display().to_string(),
            "--database-url",
            database_url,
            "--smtp-listen",
            &format!("127.0.0.1:{}", free_port()),
            "--http-listen",
            &http,
            "--admin-token",
            ADMIN_TOKEN,
            "--tick",
            "100ms",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn threadgate serve");
    Serve {
        child,
        http,
        outbox: dir.path().join("outbox"),
        _dir: dir,
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

async fn api(
    client: &reqwest::Client,
    http: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match client
            .post(format!("http://{http}/api/v1{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
        {
            Ok(response) => {
                assert_eq!(response.status(), 201, "{path}");
                return response.json().await.unwrap();
            }
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(err) => panic!("{path}: {err}"),
        }
    }
}

#[tokio::test]
async fn two_serve_processes_on_one_database_queue_and_send_every_email_once() {
    for db in test_databases().await {
        // Migrations run once, before either process starts planning.
        store(&db).await.close().await;
        let (a, b) = (serve(&db.url), serve(&db.url));
        let client = reqwest::Client::new();
        let agent = api(
            &client,
            &a.http,
            "/people",
            json!({"email": AGENT, "name": "Agnes", "role": "internal"}),
        )
        .await;
        let agent = agent["id"].as_str().unwrap().to_string();
        let mut expected = Vec::new();
        for i in 0..15 {
            let email = format!("proc{i}@client.test");
            let person = api(
                &client,
                &b.http,
                "/people",
                json!({"email": email, "name": "C", "role": "client"}),
            )
            .await;
            let conversation = api(
                &client,
                &a.http,
                "/conversations",
                json!({"subject": format!("T{i}"), "created_by": agent, "participants": [person["id"]]}),
            )
            .await;
            let id = conversation["id"].as_str().unwrap().to_string();
            for (n, via) in [(1, &a.http), (2, &b.http)] {
                api(
                    &client,
                    via,
                    &format!("/conversations/{id}/messages"),
                    json!({"author_id": agent, "body": format!("burst {n}"), "kind": "message"}),
                )
                .await;
            }
            expected.push(email);
        }
        let count = |email: &str| {
            outbox_emails(&a.outbox, email).len() + outbox_emails(&b.outbox, email).len()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while expected.iter().any(|e| count(e) == 0) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        for email in &expected {
            // Both burst messages are in one email (the digest window holds the second) or in
            // two; never the same message twice.
            let mut bodies = Vec::new();
            for dir in [&a.outbox, &b.outbox] {
                for e in outbox_emails(dir, email) {
                    bodies.push(e.text.clone());
                }
            }
            let first = bodies.iter().filter(|t| t.contains("burst 1")).count();
            let second = bodies.iter().filter(|t| t.contains("burst 2")).count();
            assert_eq!(
                first, 1,
                "{email}: burst 1 emailed {first} times ({})",
                db.backend
            );
            assert!(
                second <= 1,
                "{email}: burst 2 emailed {second} times ({})",
                db.backend
            );
        }
    }
}

/// The real planner on `store` (a 30-minute digest interval), and the outbox worker's bell it
/// rings.
fn planner_on(
    store: &threadgate::store::Store,
) -> (
    threadgate::scheduler::notify::Planner,
    Arc<tokio::sync::Notify>,
) {
    let composer = threadgate::outbound::compose::Composer::new(
        threadgate::domain::sending::LiveDomains::new(
            threadgate::domain::sending::SendingDomains::single(
                threadgate::domain::EmailAddress::parse("n@gateway.test").unwrap(),
                "reply.test",
            ),
        ),
        "http://gw.test".into(),
        threadgate::domain::MessageIds::new(b"k".to_vec()),
        threadgate::domain::LinkSigner::new(b"k".to_vec()),
    );
    let wake = Arc::new(tokio::sync::Notify::new());
    let mailer = threadgate::outbound::mailer::Mailer::new(composer, wake.clone());
    let planner = threadgate::scheduler::notify::Planner::new(
        store.clone(),
        mailer,
        Duration::from_secs(1800),
    );
    (planner, wake)
}

/// One pass over more participants than a page holds: the pages are read, composed and
/// committed overlapping one another, and still everyone gets exactly one email, with the
/// messages they may see, and the next pass has nothing to do.
#[tokio::test]
async fn a_pass_over_many_pages_emails_everyone_once() {
    for db in test_databases().await {
        let store = store(&db).await;
        let agent = person_in(&store, AGENT, threadgate::domain::Role::Internal).await;
        let mut everyone = Vec::new();
        for c in 0..3 {
            let people = store
                .create_people(
                    (0..400)
                        .map(|i| threadgate::store::NewPerson {
                            email: threadgate::domain::EmailAddress::parse(&format!(
                                "p{c}-{i}@client.test"
                            ))
                            .unwrap(),
                            name: format!("Client {c}-{i}"),
                            role: threadgate::domain::Role::Client,
                        })
                        .collect(),
                )
                .await
                .unwrap();
            let ids: Vec<String> = people.iter().map(|p| p.id.clone()).collect();
            let conversation = store
                .create_conversation(&format!("Topic {c}"), &agent.id, &ids)
                .await
                .unwrap();
            post_message(&store, &conversation.id, &agent.id, &format!("News {c}")).await;
            everyone.extend(people.into_iter().map(|p| (p.email, c)));
        }
        let (planner, _) = planner_on(&store);
        let planned = planner.run_once_counted().await.unwrap();
        assert_eq!(planned.emails, 1200, "{}", db.backend);
        let queued = store.claim_outbox(2000, 60_000).await.unwrap();
        assert_eq!(queued.len(), 1200, "{}", db.backend);
        let by_recipient: std::collections::HashMap<&str, &threadgate::store::OutboxEmail> =
            queued.iter().map(|e| (e.recipient.as_str(), e)).collect();
        for (email, c) in &everyone {
            let queued = by_recipient
                .get(email.as_str())
                .unwrap_or_else(|| panic!("{email} got nothing ({})", db.backend));
            let text = String::from_utf8_lossy(&queued.data);
            assert!(text.contains(&format!("News {c}")), "{email}: {text}");
        }
        assert_eq!(planner.run_once().await.unwrap(), 0, "{}", db.backend);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_worker_that_dies_mid_batch_is_replaced_without_losing_or_repeating_mail() {
    use threadgate::outbound::transport::Transport;
    use threadgate::outbound::worker::{LEASE_MS, OutboxWorker};
    for db in test_databases().await {
        let clock = ManualClock::at(START);
        let store = store_with_clock(&db, Arc::new(clock.clone())).await;
        // Queue ten emails through the real planner path.
        let agent = person_in(&store, AGENT, threadgate::domain::Role::Internal).await;
        let mut recipients = Vec::new();
        for i in 0..10 {
            let email = format!("crash{i}@client.test");
            let person = person_in(&store, &email, threadgate::domain::Role::Client).await;
            let c = store
                .create_conversation("T", &agent.id, std::slice::from_ref(&person.id))
                .await
                .unwrap();
            post_message(&store, &c.id, &agent.id, &format!("hello {i}")).await;
            recipients.push(email);
        }
        let (planner, wake) = planner_on(&store);
        assert!(planner.run_once().await.unwrap() >= 10);
        // What it queued is sent now, not at the worker's next poll.
        tokio::time::timeout(Duration::from_secs(1), wake.notified())
            .await
            .expect("the planner wakes the outbox worker once it has queued email");

        // A first worker claims a batch and dies before recording anything.
        let claimed = store.claim_outbox(6, LEASE_MS).await.unwrap();
        assert_eq!(claimed.len(), 6);
        // After its lease, a fresh worker (a restarted process) delivers everything once.
        clock.advance(Duration::from_millis(LEASE_MS as u64 + 1000));
        let dir = tempfile::tempdir().unwrap();
        let worker = OutboxWorker::new(
            store.clone(),
            Transport::File {
                dir: dir.path().to_path_buf(),
            },
            Arc::new(tokio::sync::Notify::new()),
        );
        while worker.run_once().await.unwrap().sent > 0 {}
        for email in &recipients {
            assert_eq!(
                outbox_emails(dir.path(), email).len(),
                1,
                "{email} ({})",
                db.backend
            );
        }
        let statuses = store.outbox_statuses(100).await.unwrap();
        assert!(
            statuses
                .iter()
                .filter(|s| recipients.contains(&s.recipient))
                .all(|s| s.status == "sent")
        );
    }
}

#[tokio::test]
async fn verification_codes_are_rate_limited_per_client_ip_across_addresses() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &["--tick", "1h"]).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let person = s
            .app
            .person(&format!("ip{i}@client.test"), "C", "client")
            .await;
        for _ in 0..threadgate::store::CODES_PER_ADDRESS {
            statuses.push(
                s.app
                    .post(&format!("/people/{person}/verification"), json!({}))
                    .await
                    .0,
            );
        }
    }
    // 12 requests from one IP, no address over its own limit: the 11th and 12th are refused.
    let accepted = statuses.iter().filter(|s| **s == 202).count() as i64;
    assert_eq!(accepted, threadgate::store::CODES_PER_IP, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
    s.app.stop().await;
}
