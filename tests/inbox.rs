//! Inbox addresses (`support@<domain>`) over real SMTP, on both backends: known people start
//! and continue conversations, strangers meet the domain's policy (refuse, verify by a
//! confirmation link, accept), blocked people and domains are refused at RCPT, and nothing
//! else is ever relayed.

mod support;

use serde_json::{Value, json};
use support::web::Browser;
use support::*;

const INBOX: &str = "support@example.test";

/// A first email (no In-Reply-To: it answers nothing of ours).
fn new_email(from: &str, to: &str, message_id: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\
Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

/// The gateway with domain `example.test` (inbox `support`, strangers: `policy`), an agent
/// and a known client. Returns (app, agent id, client id).
async fn scene(db: &TestDb, policy: &str) -> (TestApp, String, String) {
    let app = spawn_app(db, &[]).await;
    let (status, body) = app.post("/domains", json!({"name": "example.test"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["inbox"]["address"], INBOX);
    assert_eq!(body["inbox"]["forward_to"], "support@reply.example.test");
    assert_eq!(body["inbox"]["strangers"], "verify", "the default");
    let (status, body) = app
        .patch("/domains/example.test", json!({"strangers": policy}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["inbox"]["strangers"], policy);
    let agent = app.person("agent@team.test", "Agent", "internal").await;
    let client = app.person("carl@client.test", "Carl", "client").await;
    (app, agent, client)
}

/// The newest inbound records first.
async fn last_inbound(app: &TestApp) -> Value {
    app.inbound().await[0].clone()
}

async fn conversation(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/conversations/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn participant_emails(conversation: &Value) -> Vec<String> {
    let mut emails: Vec<String> = conversation["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["email"].as_str().unwrap().to_string())
        .collect();
    emails.sort();
    emails
}

#[tokio::test]
async fn a_known_client_starts_a_conversation_and_continues_it_until_it_is_closed() {
    for db in test_databases().await {
        let (app, _agent, _client) = scene(&db, "refuse").await;
        let first = new_email(
            "Carl <carl@client.test>",
            INBOX,
            "<c1@client.test>",
            "Invoice 42 is wrong",
            "Hello, the amount on invoice 42 is wrong.",
        );
        let reply = app.deliver("carl@client.test", &[INBOX], &first).await;
        assert_eq!(reply.code, 250, "{} {}", db.backend, reply.text);
        let record = last_inbound(&app).await;
        assert_eq!(record["outcome"], "posted", "{record}");
        let id = record["conversation_id"].as_str().unwrap().to_string();
        let c = conversation(&app, &id).await;
        assert_eq!(c["subject"], "Invoice 42 is wrong");
        assert_eq!(c["status"], "open");
        assert_eq!(
            participant_emails(&c),
            ["agent@team.test", "carl@client.test"],
            "the client and the team"
        );
        let messages = app.messages(&id).await;
        assert_eq!(messages.len(), 1);
        assert!(
            messages[0]["body_text"]
                .as_str()
                .unwrap()
                .contains("invoice 42 is wrong")
        );

        // The agent is told, with a reply address of their own in that conversation.
        let to_agent = app.wait_for_emails("agent@team.test", 1).await;
        assert!(to_agent[0].text.contains("invoice 42 is wrong"));
        assert!(to_agent[0].reply_to().starts_with("reply+"));

        // A retry of the same email (its 250 was lost) starts nothing new.
        let reply = app.deliver("carl@client.test", &[INBOX], &first).await;
        assert_eq!(reply.code, 250, "{}", reply.text);
        let record = last_inbound(&app).await;
        assert_eq!(record["outcome"], "duplicate", "{record}");
        assert_eq!(record["conversation_id"], id.as_str());
        assert_eq!(app.messages(&id).await.len(), 1);

        // Another email, to the forwarding address with a +detail, continues the open one.
        let second = new_email(
            "carl@client.test",
            "support+billing@reply.example.test",
            "<c2@client.test>",
            "Any news?",
            "Any news about the invoice?",
        );
        let reply = app
            .deliver(
                "carl@client.test",
                &["support+billing@reply.example.test"],
                &second,
            )
            .await;
        assert_eq!(reply.code, 250, "{}", reply.text);
        assert_eq!(last_inbound(&app).await["conversation_id"], id.as_str());
        assert_eq!(app.messages(&id).await.len(), 2);

        // Closed, it stays closed: the next email starts a new conversation.
        let (status, body) = app
            .patch(&format!("/conversations/{id}"), json!({"status": "closed"}))
            .await;
        assert_eq!(status, 200, "{body}");
        let third = new_email(
            "carl@client.test",
            INBOX,
            "<c3@client.test>",
            "New question",
            "Something else entirely.",
        );
        let reply = app.deliver("carl@client.test", &[INBOX], &third).await;
        assert_eq!(reply.code, 250, "{}", reply.text);
        let record = last_inbound(&app).await;
        let new_id = record["conversation_id"].as_str().unwrap();
        assert_ne!(new_id, id);
        assert_eq!(conversation(&app, new_id).await["subject"], "New question");
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn strangers_are_refused_or_accepted_as_the_domain_says() {
    for db in test_databases().await {
        let (app, _, _) = scene(&db, "refuse").await;
        let email = new_email(
            "Nina <nina@new.test>",
            INBOX,
            "<n1@new.test>",
            "Hello",
            "I would like a quote.",
        );
        let reply = app.deliver("nina@new.test", &[INBOX], &email).await;
        assert_eq!(reply.code, 550, "{} {}", db.backend, reply.text);
        assert!(reply.text.contains("5.7.1"), "{}", reply.text);
        assert_eq!(last_inbound(&app).await["outcome"], "rejected");
        let nina = threadgate::domain::EmailAddress::parse("nina@new.test").unwrap();
        assert!(app.store.person_by_email(&nina).await.unwrap().is_none());

        let (status, body) = app
            .patch("/domains/example.test", json!({"strangers": "accept"}))
            .await;
        assert_eq!(status, 200, "{body}");
        let reply = app.deliver("nina@new.test", &[INBOX], &email).await;
        assert_eq!(reply.code, 250, "{}", reply.text);
        let record = last_inbound(&app).await;
        assert_eq!(record["outcome"], "posted", "{record}");
        let c = conversation(&app, record["conversation_id"].as_str().unwrap()).await;
        assert_eq!(participant_emails(&c), ["agent@team.test", "nina@new.test"]);
        let nina = c["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["email"] == "nina@new.test")
            .unwrap()
            .clone();
        assert_eq!(nina["role"], "client");
        assert_eq!(nina["name"], "Nina", "named from the From header");

        // No inbox at all: the address is refused like any other on that domain.
        let (status, body) = app
            .patch("/domains/example.test", json!({"inbox": null}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["inbox"], Value::Null);
        let (mut smtp, _) = SmtpClient::connect(app.smtp).await;
        smtp.cmd("EHLO client.test").await;
        smtp.cmd("MAIL FROM:<nina@new.test>").await;
        let refused = smtp.cmd(&format!("RCPT TO:<{INBOX}>")).await;
        assert_eq!(refused.code, 550, "{}", refused.text);
        assert!(
            refused.text.contains("5.7.1 Relaying denied"),
            "{}",
            refused.text
        );
        smtp.cmd("QUIT").await;
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_stranger_confirms_their_address_and_every_held_email_is_delivered_once() {
    for db in test_databases().await {
        let (app, _, _) = scene(&db, "verify").await;
        let first = new_email(
            "Nina <nina@new.test>",
            INBOX,
            "<n1@new.test>",
            "Quote please",
            "I would like a quote for 10 licences.",
        );
        let reply = app.deliver("nina@new.test", &[INBOX], &first).await;
        assert_eq!(reply.code, 250, "{} {}", db.backend, reply.text);
        let held = last_inbound(&app).await;
        assert_eq!(held["outcome"], "held", "{held}");
        assert!(held["conversation_id"].is_null());

        // She is asked to confirm, once however many emails she sends.
        let asked = app.wait_for_emails("nina@new.test", 1).await;
        // It quotes nothing she wrote (the From could be forged: our signed email never
        // carries a stranger's text to the address's owner), only when it came.
        assert!(!asked[0].text.contains("Quote please"), "{}", asked[0].text);
        assert!(!asked[0].html.contains("Quote please"), "{}", asked[0].html);
        assert!(asked[0].text.contains(INBOX), "{}", asked[0].text);
        let link = asked[0]
            .text
            .split_whitespace()
            .find(|w| w.contains("/confirm/"))
            .expect("a confirmation link")
            .to_string();
        let second = new_email(
            "nina@new.test",
            INBOX,
            "<n2@new.test>",
            "Also",
            "And a support contract.",
        );
        let reply = app.deliver("nina@new.test", &[INBOX], &second).await;
        assert_eq!(reply.code, 250, "{}", reply.text);
        assert_eq!(last_inbound(&app).await["outcome"], "held");
        assert_eq!(app.settle_and_collect("nina@new.test").await.len(), 1);
        assert!(
            app.store
                .person_by_email(&threadgate::domain::EmailAddress::parse("nina@new.test").unwrap())
                .await
                .unwrap()
                .is_none(),
            "a stranger is nobody until confirmed"
        );

        // Opening the link (as a mail scanner would) delivers nothing; the button does.
        let mut browser = Browser::new(&app);
        let path = link
            .split_once("/confirm/")
            .map(|(_, t)| format!("/confirm/{t}"))
            .unwrap();
        let page = browser.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Confirm"), "{}", page.body);
        assert_eq!(last_inbound(&app).await["outcome"], "held");
        let forged = browser.post(&path, &[("csrf", "wrong")]).await;
        assert_eq!(forged.status, 403, "{}", forged.body);
        let done = browser.submit(&path, &path, &[]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("delivered"), "{}", done.body);

        let records = app.inbound().await;
        let posted: Vec<&Value> = records
            .iter()
            .filter(|r| r["outcome"] == "posted")
            .collect();
        assert_eq!(posted.len(), 2, "{records:?}");
        let id = posted[0]["conversation_id"].as_str().unwrap();
        assert_eq!(posted[1]["conversation_id"], id, "one conversation");
        let messages = app.messages(id).await;
        assert_eq!(messages.len(), 2);
        assert!(
            messages[0]["body_text"]
                .as_str()
                .unwrap()
                .contains("10 licences")
        );
        assert!(
            messages[1]["body_text"]
                .as_str()
                .unwrap()
                .contains("support contract")
        );
        assert_eq!(conversation(&app, id).await["subject"], "Quote please");
        let nina = app
            .store
            .person_by_email(&threadgate::domain::EmailAddress::parse("nina@new.test").unwrap())
            .await
            .unwrap()
            .expect("now a client");
        let (_, person) = app.get(&format!("/people/{}", nina.id)).await;
        assert_eq!(person["verified"], true, "{person}");

        // A second click is harmless, and changes nothing.
        let again = browser.submit(&path, &path, &[]).await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(app.messages(id).await.len(), 2);
        // A tampered link is refused.
        let bad = browser.get(&format!("{path}x")).await;
        assert_eq!(bad.status, 400);

        // She is known now: her next email goes straight in.
        let third = new_email(
            "nina@new.test",
            INBOX,
            "<n3@new.test>",
            "Thanks",
            "Thank you!",
        );
        let reply = app.deliver("nina@new.test", &[INBOX], &third).await;
        assert_eq!(reply.code, 250, "{}", reply.text);
        assert_eq!(last_inbound(&app).await["outcome"], "posted");
        assert_eq!(app.messages(id).await.len(), 3);
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn blocked_people_and_domains_are_refused_at_rcpt_and_in_the_from() {
    for db in test_databases().await {
        let (app, agent, client) = scene(&db, "accept").await;
        let c = app.conversation("Order", &agent, &[&client]).await;
        app.say(&c, &agent, "Your order shipped", "message").await;
        let token_address = app.wait_for_emails("carl@client.test", 1).await[0].reply_to();

        let (status, body) = app
            .post("/blocked-domains", json!({"domain": "Spam.Test."}))
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, _) = app
            .post("/blocked-domains", json!({"domain": "spam.test"}))
            .await;
        assert_eq!(status, 200, "blocking twice is fine");
        let (_, list) = app.get("/blocked-domains").await;
        assert_eq!(list["domains"][0]["domain"], "spam.test");

        let (mut smtp, _) = SmtpClient::connect(app.smtp).await;
        smtp.cmd("EHLO client.test").await;
        smtp.cmd("MAIL FROM:<x@mail.spam.test>").await;
        let refused = smtp.cmd(&format!("RCPT TO:<{INBOX}>")).await;
        assert_eq!(refused.code, 550, "{} {}", db.backend, refused.text);
        assert!(refused.text.contains("5.7.1"), "{}", refused.text);
        smtp.cmd("RSET").await;

        // A blocked person, even at their own reply address.
        let (status, body) = app
            .patch(&format!("/people/{client}"), json!({"blocked": true}))
            .await;
        assert_eq!(status, 200, "{body}");
        smtp.cmd("MAIL FROM:<carl@client.test>").await;
        let refused = smtp.cmd(&format!("RCPT TO:<{token_address}>")).await;
        assert_eq!(refused.code, 550, "{}", refused.text);
        assert!(refused.text.contains("5.7.1"), "{}", refused.text);
        let refused = smtp.cmd(&format!("RCPT TO:<{INBOX}>")).await;
        assert_eq!(refused.code, 550, "{}", refused.text);
        smtp.cmd("QUIT").await;

        // A clean envelope with a blocked From is refused at the data, and recorded.
        let email = new_email("boss@spam.test", INBOX, "<s1@spam.test>", "Win", "Buy now");
        let reply = app.deliver("bounce@clean.test", &[INBOX], &email).await;
        assert_eq!(reply.code, 550, "{}", reply.text);
        assert!(reply.text.contains("5.7.1"), "{}", reply.text);
        let record = last_inbound(&app).await;
        assert_eq!(record["outcome"], "rejected");
        assert!(
            record["detail"].as_str().unwrap().contains("blocked"),
            "{record}"
        );

        // Lifting the block lets them in again.
        let response = app
            .http_client
            .delete(app.url("/blocked-domains/spam.test"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        let reply = app.deliver("boss@spam.test", &[INBOX], &email).await;
        assert_eq!(reply.code, 250, "{}", reply.text);
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn inbox_settings_and_blocks_refuse_bad_input_with_clear_errors() {
    for db in test_databases().await {
        let (app, _, _) = scene(&db, "verify").await;
        for (body, needle) in [
            (json!({"inbox": "reply"}), "reserved"),
            (json!({"inbox": "a b"}), "local part"),
            (json!({"inbox": 5}), "string or null"),
            (json!({"strangers": "maybe"}), "strangers"),
            (json!({"colour": "red"}), "unknown field `colour`"),
            (json!([1]), "JSON object"),
        ] {
            let (status, answer) = app.patch("/domains/example.test", body.clone()).await;
            assert_eq!(status, 422, "{body} → {answer}");
            assert!(
                answer.to_string().contains(needle),
                "{body} → {answer} lacks {needle:?}"
            );
        }
        let (status, _) = app
            .patch("/domains/nowhere.test", json!({"strangers": "accept"}))
            .await;
        assert_eq!(status, 404);
        for body in [json!({}), json!({"domain": "a b"}), json!({"domain": 3})] {
            let (status, answer) = app.post("/blocked-domains", body.clone()).await;
            assert!([400, 422].contains(&status), "{body} → {status} {answer}");
            assert!(answer["error"]["message"].is_string(), "{answer}");
        }
        let response = app
            .http_client
            .delete(app.url("/blocked-domains/never.test"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        // The settings held.
        let (_, view) = app.get("/domains/example.test").await;
        assert_eq!(view["inbox"]["address"], INBOX);
        app.stop().await;
        db.cleanup().await;
    }
}
