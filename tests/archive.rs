//! Archiving, over real SMTP and HTTP on every backend: an archived conversation leaves every
//! list but the archive's (web and API), stays searchable, and an email reply to it is stored
//! like any other and brings it back to the inbox — never lost, never bounced.

mod support;

use serde_json::json;
use support::web::{Browser, magic_link};
use support::*;

const AGNES: &str = "agnes@team.test";
const CARL: &str = "carl@client.test";

/// The ids of a list API answer.
fn ids(list: &serde_json::Value) -> Vec<String> {
    list["conversations"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_archived_conversation_leaves_the_lists_stays_searchable_and_a_reply_brings_it_back() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agnes = app.person(AGNES, "Agnes Agent", "internal").await;
        let carl = app.person(CARL, "Carl Client", "client").await;
        let old = app.conversation("Old quote", &agnes, &[&carl]).await;
        let current = app.conversation("Current order", &agnes, &[&carl]).await;
        app.say(
            &old,
            &agnes,
            "Here is the quote for the veranda.",
            "message",
        )
        .await;
        let to_carl = app.wait_for_emails(CARL, 1).await.remove(0);
        app.say(&current, &agnes, "Your order is confirmed.", "message")
            .await;

        let (status, c) = app
            .patch(
                &format!("/conversations/{old}"),
                json!({"archived": true, "actor_id": agnes}),
            )
            .await;
        assert_eq!(status, 200, "{c}");
        assert_eq!(c["archived"], true);
        assert!(c["archived_at"].is_string());

        // Out of the lists, in the archive's.
        let (_, inbox) = app.get(&format!("/conversations?as={agnes}")).await;
        assert_eq!(ids(&inbox), std::slice::from_ref(&current));
        let (_, archive) = app
            .get(&format!("/conversations?as={agnes}&archived=true"))
            .await;
        assert_eq!(ids(&archive), std::slice::from_ref(&old));
        let (_, both) = app.get("/conversations?archived=all").await;
        assert_eq!(ids(&both).len(), 2);
        let (status, _) = app.get("/conversations?archived=maybe").await;
        assert_eq!(status, 422);

        let mut carl_web = Browser::new(&app);
        carl_web.sign_in_with(&magic_link(&to_carl)).await;
        let list = carl_web.get("/").await.body;
        assert!(
            !list.contains(&format!("/c/{old}\"")) && list.contains(&format!("/c/{current}\""))
        );
        let archived = carl_web.get("/?archived=1").await.body;
        assert!(archived.contains(&format!("/c/{old}\"")), "{archived}");
        assert!(!archived.contains(&format!("/c/{current}\"")));

        // Still found by search.
        let (_, found) = app.get(&format!("/search?q=veranda&as={agnes}")).await;
        assert_eq!(
            found["results"][0]["conversation"]["id"],
            old.as_str(),
            "{found}"
        );

        // An email reply to it is stored and brings it back.
        let reply = reply_email(
            CARL,
            &to_carl.reply_to(),
            "<back@client.test>",
            &to_carl.message_id(),
            "Is the quote still valid?",
        );
        assert_eq!(
            app.deliver(CARL, &[&to_carl.reply_to()], &reply).await.code,
            250
        );
        let messages = app.messages(&old).await;
        assert!(
            messages.last().unwrap()["body_text"]
                .as_str()
                .unwrap()
                .contains("still valid")
        );
        let (_, c) = app.get(&format!("/conversations/{old}")).await;
        assert_eq!(c["archived"], false, "back in the inbox: {c}");
        let (_, inbox) = app.get(&format!("/conversations?as={agnes}")).await;
        assert_eq!(ids(&inbox).len(), 2);

        // The agent archives and unarchives on the page; the history says who did it.
        let to_agnes = app.wait_for_emails(AGNES, 1).await.pop().unwrap();
        let mut agnes_web = Browser::new(&app);
        agnes_web.sign_in_with(&magic_link(&to_agnes)).await;
        let path = format!("/c/{old}");
        let done = agnes_web
            .submit(&path, &format!("{path}/archive"), &[("archived", "1")])
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert!(
            !agnes_web
                .get("/")
                .await
                .body
                .contains(&format!("/c/{old}\""))
        );
        let page = agnes_web.get(&path).await.body;
        assert!(
            page.contains("Agnes Agent archived the conversation"),
            "{page}"
        );
        assert!(page.contains("Move back to the inbox"));
        let done = agnes_web
            .submit(&path, &format!("{path}/archive"), &[("archived", "0")])
            .await;
        assert_eq!(done.status, 303);
        assert!(
            agnes_web
                .get("/")
                .await
                .body
                .contains(&format!("/c/{old}\""))
        );
        let bad = agnes_web
            .submit(
                &path,
                &format!("{path}/archive"),
                &[("archived", "sometimes")],
            )
            .await;
        assert_eq!(bad.status, 422);
        // A client cannot archive.
        let refused = carl_web
            .submit(&path, &format!("{path}/archive"), &[("archived", "1")])
            .await;
        assert_eq!(refused.status, 403);
        let (status, _) = app
            .patch(
                &format!("/conversations/{old}"),
                json!({"archived": true, "actor_id": carl}),
            )
            .await;
        assert_eq!(status, 422, "a client actor is refused");
        app.stop().await;
    }
}
