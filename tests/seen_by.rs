//! "Seen by", over real SMTP and HTTP on every backend: a message is seen when its reader opens
//! the conversation's page, answers it (by email or on the web), or marks it read through the
//! API — never by a tracking pixel. Staff see who and when under each message, the API's
//! messages carry `seen_by`, and clients never see anyone's reads.

mod support;

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::web::{Browser, magic_link};
use support::*;
use threadgate::domain::ManualClock;

/// 2026-11-03 13:05 UTC.
const TUESDAY: i64 = 1_793_711_100_000;
const AGNES: &str = "agnes@team.test";
const CARL: &str = "carl@client.test";
const DORA: &str = "dora@client.test";

/// `seen_by` of the message with this text: (person, when).
async fn seen_by(app: &TestApp, conversation: &str, text: &str) -> Vec<(String, Value)> {
    let messages = app.messages(conversation).await;
    let m = messages
        .iter()
        .find(|m| m["body_text"].as_str().unwrap().contains(text))
        .unwrap_or_else(|| panic!("no message {text:?}"));
    m["seen_by"]
        .as_array()
        .unwrap_or_else(|| panic!("no seen_by in {m}"))
        .iter()
        .map(|s| {
            (
                s["person_id"].as_str().unwrap().to_string(),
                s["at"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_message_is_seen_by_opening_the_page_answering_it_or_the_read_api_and_only_staff_see_it()
{
    for db in test_databases().await {
        let clock = ManualClock::at(TUESDAY);
        let app = spawn_app_with_clock(&db, &[], Arc::new(clock.clone())).await;
        let agnes = app.person(AGNES, "Agnes Agent", "internal").await;
        let carl = app.person(CARL, "Carl Client", "client").await;
        let dora = app.person(DORA, "Dora Client", "client").await;
        let conversation = app.conversation("Kitchen", &agnes, &[&carl, &dora]).await;
        app.say(&conversation, &agnes, "The tiles arrive Friday.", "message")
            .await;
        let to_carl = app.wait_for_emails(CARL, 1).await.remove(0);
        assert!(
            seen_by(&app, &conversation, "tiles").await.is_empty(),
            "an email sent is not an email seen"
        );

        // Carl opens the page ten minutes later.
        clock.advance(Duration::from_secs(600));
        let mut carl_web = Browser::new(&app);
        carl_web.sign_in_with(&magic_link(&to_carl)).await;
        let page = carl_web.get(&format!("/c/{conversation}")).await.body;
        assert!(!page.contains("Seen by") && !page.contains("Not seen yet"));
        assert_eq!(
            seen_by(&app, &conversation, "tiles").await,
            [(carl.clone(), json!("2026-11-03T13:15:00.000Z"))]
        );

        // Dora through the read API at 13:25.
        clock.advance(Duration::from_secs(600));
        let (status, _) = app
            .post(
                &format!("/conversations/{conversation}/read"),
                json!({"person_id": dora}),
            )
            .await;
        assert_eq!(status, 204);
        let seen = seen_by(&app, &conversation, "tiles").await;
        assert!(
            seen.contains(&(dora.clone(), json!("2026-11-03T13:25:00.000Z"))),
            "{seen:?}"
        );

        // A second message, answered by email by Carl at 13:45: seen when answered.
        clock.advance(Duration::from_secs(600));
        app.say(&conversation, &agnes, "The fitter comes Monday.", "message")
            .await;
        let to_carl = app.wait_for_emails(CARL, 2).await.pop().unwrap();
        clock.advance(Duration::from_secs(600));
        let reply = reply_email(
            CARL,
            &to_carl.reply_to(),
            "<answer@client.test>",
            &to_carl.message_id(),
            "Monday is fine.",
        );
        assert_eq!(
            app.deliver(CARL, &[&to_carl.reply_to()], &reply).await.code,
            250
        );
        assert_eq!(
            seen_by(&app, &conversation, "fitter").await,
            [(carl.clone(), json!("2026-11-03T13:45:00.000Z"))]
        );
        assert!(
            seen_by(&app, &conversation, "Monday is fine")
                .await
                .is_empty(),
            "its author does not count"
        );

        // Staff see it under each message; the newest, nobody has seen.
        let to_agnes = app.wait_for_emails(AGNES, 1).await.pop().unwrap();
        let mut agnes_web = Browser::new(&app);
        agnes_web.sign_in_with(&magic_link(&to_agnes)).await;
        let page = agnes_web.get(&format!("/c/{conversation}")).await.body;
        assert!(
            page.contains("Seen by Carl Client 13:15, Dora Client 13:25"),
            "{page}"
        );
        assert!(page.contains("Seen by Carl Client 13:45"), "{page}");
        assert!(
            page.contains("Not seen yet"),
            "the reply, by nobody else yet"
        );

        // Agnes's visit is a read too: the next page shows it.
        let page = agnes_web.get(&format!("/c/{conversation}")).await.body;
        assert!(page.contains("Seen by Agnes Agent 13:45"), "{page}");
        let page = carl_web.get(&format!("/c/{conversation}")).await.body;
        assert!(!page.contains("Seen by") && !page.contains("Agnes Agent 13"));
        app.stop().await;
    }
}
