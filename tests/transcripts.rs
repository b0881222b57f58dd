//! Transcripts by email, over real SMTP and HTTP on every backend: one email with the whole
//! history as its recipient may see it (a client: no internal notes, no deleted messages, no
//! other participants' addresses), each message with author and local time, files as links
//! that need signing in; at most one per conversation and person every 10 minutes (`429` with
//! `Retry-After`); asked for on the web page or by staff through the API; and it counts as
//! having seen the conversation.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::web::{Browser, magic_link};
use support::*;
use threadgate::domain::ManualClock;

/// 2026-11-03 13:05 UTC: 14:05 in Paris.
const TUESDAY: i64 = 1_793_711_100_000;
const AGNES: &str = "agnes@team.test";
const CARL: &str = "carl@client.test";
const DORA: &str = "dora@client.test";

fn with_attachment(to: &str, in_reply_to: &str) -> String {
    format!(
        "From: Carl Client <{CARL}>\r\nTo: {to}\r\nSubject: Re: Veranda\r\nMessage-ID: <plan@client.test>\r\n\
In-Reply-To: {in_reply_to}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere is the floor plan.\r\n\
--m\r\nContent-Type: application/pdf; name=\"plan.pdf\"\r\nContent-Disposition: attachment; filename=\"plan.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcTl8uXrp/Og0MTGCg==\r\n--m--\r\n"
    )
}

#[tokio::test]
async fn a_transcript_shows_each_person_what_they_may_read_once_every_ten_minutes() {
    for db in test_databases().await {
        let clock = ManualClock::at(TUESDAY);
        let app = spawn_app_with_clock(&db, &[], Arc::new(clock.clone())).await;
        let agnes = app.person(AGNES, "Agnes Agent", "internal").await;
        let carl = app.person(CARL, "Carl Client", "client").await;
        let dora = app.person(DORA, "Dora Client", "client").await;
        let stranger = app
            .person("sam@elsewhere.test", "Sam Stranger", "client")
            .await;
        let (status, _) = app
            .patch(
                &format!("/people/{carl}"),
                json!({"locale": "fr", "time_zone": "Europe/Paris"}),
            )
            .await;
        assert_eq!(status, 200);
        let conversation = app.conversation("Veranda", &agnes, &[&carl, &dora]).await;
        app.say(
            &conversation,
            &agnes,
            "Here is our quote: 12,400 EUR.",
            "message",
        )
        .await;
        let to_carl = app.wait_for_emails(CARL, 1).await.remove(0);
        let reply = with_attachment(&to_carl.reply_to(), &to_carl.message_id());
        assert_eq!(
            app.deliver(CARL, &[&to_carl.reply_to()], &reply).await.code,
            250
        );
        app.say(&conversation, &agnes, "Margin is thin on this one.", "note")
            .await;
        let oops = app
            .say(&conversation, &agnes, "Wrong price, sorry.", "message")
            .await;
        assert_eq!(app.delete(&format!("/messages/{oops}")).await, 200);
        let before = app.settle_and_collect(CARL).await.len();

        // Staff send one to Carl.
        let (status, body) = app
            .post(
                &format!("/conversations/{conversation}/transcript"),
                json!({"person_id": carl}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["to"], CARL);
        let emails = app.wait_for_emails(CARL, before + 1).await;
        let transcript = emails.last().unwrap();
        assert!(
            transcript
                .header("Subject")
                .unwrap()
                .contains("Transcription : Veranda"),
            "{:?}",
            transcript.header("Subject")
        );
        let text = &transcript.text;
        assert!(text.contains("Here is our quote") && text.contains("Here is the floor plan"));
        assert!(text.contains("mardi 3 novembre 2026, 14:05 CET"), "{text}");
        assert!(
            text.contains("plan.pdf: http://") && text.contains("/attachments/att_"),
            "{text}"
        );
        for hidden in ["Margin is thin", "Wrong price", DORA, AGNES, "/m/"] {
            assert!(
                !text.contains(hidden),
                "{hidden:?} in a client's transcript:\n{text}"
            );
            assert!(!transcript.html.contains(hidden), "{hidden:?} in its HTML");
        }
        // Reading it counts: Carl has seen everything.
        let messages = app.messages(&conversation).await;
        let note = messages.iter().find(|m| m["kind"] == "note").unwrap();
        assert!(
            note["seen_by"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["person_id"] == carl.as_str()),
            "{note}"
        );

        // Again within ten minutes: refused, with when to come back.
        clock.advance(Duration::from_secs(4 * 60));
        let response = app
            .http_client
            .post(app.url(&format!("/conversations/{conversation}/transcript")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"person_id": carl}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 429);
        assert_eq!(response.headers()["retry-after"], "360");
        clock.advance(Duration::from_secs(6 * 60));
        let (status, _) = app
            .post(
                &format!("/conversations/{conversation}/transcript"),
                json!({"person_id": carl}),
            )
            .await;
        assert_eq!(status, 202, "ten minutes later");

        // Staff's own transcript has the note (and still not the deleted message).
        let (status, _) = app
            .post(
                &format!("/conversations/{conversation}/transcript"),
                json!({"person_id": agnes}),
            )
            .await;
        assert_eq!(status, 202);
        let to_agnes = app.wait_for_emails(AGNES, 1).await;
        let staff = to_agnes
            .iter()
            .find(|e| e.header("Subject").unwrap().starts_with("Transcript: "))
            .expect("a transcript for Agnes");
        assert!(staff.text.contains("Margin is thin") && staff.text.contains("(Internal note)"));
        assert!(!staff.text.contains("Wrong price"));

        // Someone who may not read it: not found, nothing sent.
        let (status, _) = app
            .post(
                &format!("/conversations/{conversation}/transcript"),
                json!({"person_id": stranger}),
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = app
            .post(
                &format!("/conversations/{conversation}/transcript"),
                json!({}),
            )
            .await;
        assert_eq!(status, 422);

        // Dora asks on the web page; a second click is a French "too soon" page for Carl.
        app.say(&conversation, &agnes, "Installation next week.", "message")
            .await;
        let to_dora = app.wait_for_emails(DORA, 1).await.pop().unwrap();
        let mut dora_web = Browser::new(&app);
        dora_web.sign_in_with(&magic_link(&to_dora)).await;
        let path = format!("/c/{conversation}");
        assert!(
            dora_web
                .get(&path)
                .await
                .body
                .contains("Email me this conversation")
        );
        let done = dora_web
            .submit(&path, &format!("{path}/transcript"), &[])
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(
            done.location(),
            Some(format!("{path}?transcript=sent").as_str())
        );
        let page = dora_web.get(&format!("{path}?transcript=sent")).await.body;
        assert!(page.contains("on its way to your mailbox"));
        let again = dora_web
            .submit(&path, &format!("{path}/transcript"), &[])
            .await;
        assert_eq!(again.status, 429);
        let dora_transcript = app
            .wait_for_emails(DORA, 2)
            .await
            .into_iter()
            .find(|e| e.header("Subject").unwrap().starts_with("Transcript: "))
            .expect("Dora's transcript");
        assert!(
            !dora_transcript.text.contains(CARL),
            "no other participant's address"
        );
        app.stop().await;
    }
}
