//! Staff working from their own mail client, over real SMTP on both backends: a reply to an
//! email of internal notes stays a note (by its reply address, or by the Message-ID it
//! answers), `#note` turns a reply into one, a client never writes one, and an email mixing
//! notes and messages says where its reply goes.

mod support;

use std::sync::Arc;
use std::time::Duration;
use support::*;
use threadgate::domain::ManualClock;

const START: i64 = 1_790_000_000_000;
const AGNES: &str = "agnes@team.test";
const BRUNO: &str = "bruno@team.test";
const CARL: &str = "carl@client.test";

struct Scene {
    app: TestApp,
    clock: ManualClock,
    agnes: String,
    conversation: String,
}

/// Agnes and Bruno (staff) and Carl (a client) in one conversation.
async fn scene(db: &TestDb) -> Scene {
    let clock = ManualClock::at(START);
    let app = spawn_app_with_clock(db, &[], Arc::new(clock.clone())).await;
    let agnes = app.person(AGNES, "Agnes Agent", "internal").await;
    let bruno = app.person(BRUNO, "Bruno Backoffice", "internal").await;
    let carl = app.person(CARL, "Carl Client", "client").await;
    let conversation = app
        .conversation("Refund request", &agnes, &[&bruno, &carl])
        .await;
    Scene {
        app,
        clock,
        agnes,
        conversation,
    }
}

impl Scene {
    /// The last message of the conversation: (kind, author's email, body).
    async fn last(&self) -> (String, String, String) {
        let messages = self.app.messages(&self.conversation).await;
        let m = messages.last().expect("a message");
        let author = m["author_id"].as_str().unwrap();
        let (_, person) = self.app.get(&format!("/people/{author}")).await;
        (
            m["kind"].as_str().unwrap().to_string(),
            person["email"].as_str().unwrap().to_string(),
            m["body_text"].as_str().unwrap().trim().to_string(),
        )
    }

    /// `from` answers `email` (by its Reply-To unless `to` is given).
    async fn answer(&self, from: &str, email: &Email, to: Option<&str>, n: u32, body: &str) {
        let to = to.map_or_else(|| email.reply_to(), str::to_string);
        let data = reply_email(
            from,
            &to,
            &format!("<answer{n}@{}>", from.split('@').nth(1).unwrap()),
            &email.message_id(),
            body,
        );
        let reply = self.app.deliver(from, &[&to], &data).await;
        assert_eq!(reply.code, 250, "{reply:?}");
    }
}

#[tokio::test]
async fn a_reply_to_an_email_of_notes_is_a_note_whether_it_comes_by_its_address_or_its_message_id()
{
    for db in test_databases().await {
        let s = scene(&db).await;
        s.app
            .say(&s.conversation, &s.agnes, "Refund or not?", "note")
            .await;
        let emails = s.app.wait_for_emails(BRUNO, 1).await;
        let notes = &emails[0];
        assert!(
            notes.reply_to().ends_with("+note@reply.test"),
            "{}",
            notes.reply_to()
        );
        assert!(
            notes.message_id().contains("-note."),
            "{}",
            notes.message_id()
        );
        assert!(
            notes
                .text
                .contains("Your reply to this email is an internal note"),
            "{}",
            notes.text
        );

        // By its reply address.
        s.answer(BRUNO, notes, None, 1, "Refund them.").await;
        assert_eq!(
            s.last().await,
            ("note".into(), BRUNO.into(), "Refund them.".into()),
            "{}",
            db.backend
        );
        // To our From address instead, routed by the Message-ID it answers.
        s.answer(
            BRUNO,
            notes,
            Some("notifications@gateway.test"),
            2,
            "And say sorry.",
        )
        .await;
        assert_eq!(
            s.last().await,
            ("note".into(), BRUNO.into(), "And say sorry.".into())
        );

        s.clock.advance(Duration::from_secs(3600));
        assert!(
            s.app.settle_and_collect(CARL).await.is_empty(),
            "the client hears nothing of it"
        );
        let to_agnes = s.app.wait_for_emails(AGNES, 1).await;
        assert!(to_agnes.iter().any(|e| e.text.contains("Refund them.")));
        s.app.stop().await;
    }
}

#[tokio::test]
async fn staff_make_any_reply_a_note_with_a_first_line_note_tag_and_a_client_never_writes_one() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.app
            .say(
                &s.conversation,
                &s.agnes,
                "We are looking into it.",
                "message",
            )
            .await;
        let to_carl = s.app.wait_for_emails(CARL, 1).await;
        let to_bruno = s.app.wait_for_emails(BRUNO, 1).await;
        assert!(!to_bruno[0].reply_to().contains("+note"));
        assert!(!to_bruno[0].text.contains("#note"), "no hint without notes");

        s.answer(
            BRUNO,
            &to_bruno[0],
            None,
            1,
            "#note\n\nHis order shipped twice.",
        )
        .await;
        assert_eq!(
            s.last().await,
            (
                "note".into(),
                BRUNO.into(),
                "His order shipped twice.".into()
            ),
            "{}",
            db.backend
        );

        // A client writing to a note address, or starting with #note, writes a message.
        let forged = to_carl[0]
            .reply_to()
            .replace("@reply.test", "+note@reply.test");
        s.answer(
            CARL,
            &to_carl[0],
            Some(&forged),
            2,
            "#note\nWhere is my refund?",
        )
        .await;
        let (kind, author, body) = s.last().await;
        assert_eq!((kind.as_str(), author.as_str()), ("message", CARL));
        assert!(body.starts_with("#note"), "{body}");

        s.clock.advance(Duration::from_secs(3600));
        let to_carl = s.app.settle_and_collect(CARL).await;
        assert!(
            to_carl.iter().all(|e| !e.text.contains("shipped twice")),
            "the note never reaches the client"
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn an_email_mixing_notes_and_messages_says_its_reply_reaches_the_client() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.app
            .say(&s.conversation, &s.agnes, "First answer.", "message")
            .await;
        s.app.wait_for_emails(BRUNO, 1).await;
        s.clock.advance(Duration::from_secs(20));
        s.app
            .say(&s.conversation, &s.agnes, "Between us: VIP.", "note")
            .await;
        s.clock.advance(Duration::from_secs(20));
        s.app
            .say(&s.conversation, &s.agnes, "Second answer.", "message")
            .await;
        s.clock.advance(Duration::from_secs(30 * 60));
        let digest = &s.app.wait_for_emails(BRUNO, 2).await[1];
        assert!(digest.text.contains("Between us: VIP.") && digest.text.contains("Second answer."));
        assert!(
            digest
                .text
                .contains("start it with #note to keep it internal"),
            "{}",
            digest.text
        );
        assert!(!digest.reply_to().contains("+note"));
        assert!(digest.html.contains("start it with #note"));

        let to_carl = s.app.wait_for_emails(CARL, 2).await;
        assert!(!to_carl[1].text.contains("VIP") && !to_carl[1].text.contains("#note"));
        s.app.stop().await;
    }
}
