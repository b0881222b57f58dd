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
    bruno: String,
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
        bruno,
        conversation,
    }
}

impl Scene {
    /// Agnes posts through the API (`kind`: "message" or "note").
    async fn agnes_says(&self, text: &str, kind: &str) {
        self.app
            .say(&self.conversation, &self.agnes, text, kind)
            .await;
    }

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
        s.agnes_says("Refund or not?", "note").await;
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
        s.agnes_says("We are looking into it.", "message").await;
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
        s.agnes_says("First answer.", "message").await;
        s.app.wait_for_emails(BRUNO, 1).await;
        s.clock.advance(Duration::from_secs(20));
        s.agnes_says("Between us: VIP.", "note").await;
        s.clock.advance(Duration::from_secs(20));
        s.agnes_says("Second answer.", "message").await;
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

impl Scene {
    /// The conversation's status and assignee's id.
    async fn state(&self) -> (String, Option<String>) {
        let (_, c) = self
            .app
            .get(&format!("/conversations/{}", self.conversation))
            .await;
        (
            c["status"].as_str().unwrap().to_string(),
            c["assignee_id"].as_str().map(str::to_string),
        )
    }

    async fn message_count(&self) -> usize {
        self.app.messages(&self.conversation).await.len()
    }
}

#[tokio::test]
async fn staff_steer_a_conversation_from_their_mail_client_in_english_and_in_french() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.agnes_says("We are on it.", "message").await;
        let to_bruno = s.app.wait_for_emails(BRUNO, 1).await.remove(0);
        let bruno = s.bruno.clone();

        // With text: the message is posted without the command, then the command applies.
        s.answer(BRUNO, &to_bruno, None, 1, "#close\nRefund sent, closing.")
            .await;
        assert_eq!(
            s.last().await,
            (
                "message".into(),
                BRUNO.into(),
                "Refund sent, closing.".into()
            ),
            "{}",
            db.backend
        );
        assert_eq!(s.state().await, ("closed".into(), None));

        // Alone: nothing is posted.
        let before = s.message_count().await;
        let steps: [(&str, (&str, Option<&str>)); 10] = [
            ("#rouvrir", ("open", None)),
            ("#attente", ("pending", None)),
            ("#fermer", ("closed", None)),
            ("#reopen\n#assign me", ("open", Some(bruno.as_str()))),
            (
                "#assigner agnes@team.test",
                ("open", Some(s.agnes.as_str())),
            ),
            ("#unassign", ("open", None)),
            ("#assigner moi", ("open", Some(bruno.as_str()))),
            ("#désassigner", ("open", None)),
            ("#pending", ("pending", None)),
            ("#snooze 2h", ("snoozed", None)),
        ];
        for (n, (commands, (status, assignee))) in steps.into_iter().enumerate() {
            s.answer(BRUNO, &to_bruno, None, 10 + n as u32, commands)
                .await;
            let (got_status, got_assignee) = s.state().await;
            assert_eq!(
                (got_status.as_str(), got_assignee.as_deref()),
                (status, assignee),
                "{commands:?}"
            );
        }
        s.answer(BRUNO, &to_bruno, None, 30, "#reporter demain")
            .await;
        let (_, c) = s
            .app
            .get(&format!("/conversations/{}", s.conversation))
            .await;
        assert_eq!(c["status"], "snoozed");
        assert_eq!(c["snoozed_until"], "2026-09-22T08:00:00.000Z", "{c}");
        assert_eq!(
            s.message_count().await,
            before,
            "commands alone post nothing"
        );
        let inbound = s.app.inbound().await;
        assert_eq!(inbound[0]["outcome"], "commands", "{}", inbound[0]);
        assert!(inbound[0]["detail"].as_str().unwrap().contains("#snooze"));

        // Each change is an event with Bruno as its actor.
        let (_, events) = s
            .app
            .get(&format!("/conversations/{}/events", s.conversation))
            .await;
        let events = events["events"].as_array().unwrap();
        let by_bruno = events
            .iter()
            .filter(|e| e["actor_id"] == bruno.as_str())
            .count();
        assert!(by_bruno >= 13, "{events:?}");

        // Muting by email, in both languages.
        s.answer(BRUNO, &to_bruno, None, 31, "#mute").await;
        let to_agnes = s.app.wait_for_emails(AGNES, 1).await.remove(0);
        s.answer(AGNES, &to_agnes, None, 32, "#silence").await;
        for id in [&bruno, &s.agnes] {
            let state = s.app.store.participant_state(&s.conversation, id).await;
            assert!(state.unwrap().unwrap().muted, "{id}");
        }

        // A client's commands are plain text.
        let to_carl = s.app.wait_for_emails(CARL, 1).await.remove(0);
        s.answer(CARL, &to_carl, None, 33, "#close\nPlease close my account.")
            .await;
        let (kind, author, body) = s.last().await;
        assert_eq!((kind.as_str(), author.as_str()), ("message", CARL));
        assert!(body.starts_with("#close"), "{body}");
        assert_ne!(s.state().await.0, "closed");
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_command_not_understood_is_told_back_once_an_hour_and_the_rest_is_posted() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.agnes_says("We are on it.", "message").await;
        let to_bruno = s.app.wait_for_emails(BRUNO, 1).await.remove(0);
        let to_carl = s.app.wait_for_emails(CARL, 1).await.remove(0);

        s.answer(
            BRUNO,
            &to_bruno,
            None,
            1,
            "#clsoe\nThe refund is on its way.",
        )
        .await;
        assert_eq!(
            s.last().await,
            (
                "message".into(),
                BRUNO.into(),
                "The refund is on its way.".into()
            ),
            "{}",
            db.backend
        );
        let emails = s.app.wait_for_emails(BRUNO, 2).await;
        let help = emails
            .iter()
            .find(|e| e.header("Subject") == Some("Commands not understood"))
            .expect("the answer to the commands");
        assert!(help.text.contains("#clsoe") && help.text.contains("is not a command"));
        assert!(help.text.contains("Refund request"), "{}", help.text);
        assert_eq!(help.header("Auto-Submitted"), Some("auto-generated"));

        // Within the hour: posted, not told again.
        s.answer(
            BRUNO,
            &to_bruno,
            None,
            2,
            "#assign nobody@team.test\nStill on it.",
        )
        .await;
        assert_eq!(s.last().await.2, "Still on it.");
        s.clock.advance(Duration::from_secs(30 * 60));
        let helps = s
            .app
            .settle_and_collect(BRUNO)
            .await
            .into_iter()
            .filter(|e| e.header("Subject") == Some("Commands not understood"))
            .count();
        assert_eq!(helps, 1);

        // Never to a client.
        s.answer(CARL, &to_carl, None, 3, "#clsoe\nThanks!").await;
        s.clock.advance(Duration::from_secs(3600));
        assert!(
            s.app
                .settle_and_collect(CARL)
                .await
                .iter()
                .all(|e| e.header("Subject") != Some("Commands not understood"))
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_reply_that_is_only_a_file_is_posted_with_it_and_its_notification_names_it() {
    use base64::Engine;
    for db in test_databases().await {
        let s = scene(&db).await;
        s.agnes_says("Please send the invoice.", "message").await;
        let to_carl = s.app.wait_for_emails(CARL, 1).await.remove(0);
        let pdf = base64::engine::general_purpose::STANDARD.encode(vec![b'%'; 3000]);
        let to = to_carl.reply_to();
        let data = format!(
            "From: {CARL}\r\nTo: {to}\r\nSubject: Re: Refund request\r\nMessage-ID: <file1@client.test>\r\n\
In-Reply-To: {}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\r\n\
--b1\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n\
Content-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n--b1--\r\n",
            to_carl.message_id()
        );
        let reply = s.app.deliver(CARL, &[&to], &data).await;
        assert_eq!(reply.code, 250, "{reply:?}");
        let messages = s.app.messages(&s.conversation).await;
        let posted = messages.last().unwrap();
        assert_eq!(
            posted["attachments"][0]["filename"], "invoice.pdf",
            "{posted}"
        );
        assert_eq!(posted["attachments"][0]["size"], 3000);

        let to_agnes = s.app.wait_for_emails(AGNES, 1).await.remove(0);
        assert!(
            to_agnes
                .text
                .contains("Carl Client sent invoice.pdf (3 KB)"),
            "never an empty body ({}): {}",
            db.backend,
            to_agnes.text
        );
        assert!(
            to_agnes
                .html
                .contains("Carl Client sent invoice.pdf (3 KB)")
        );
        s.app.stop().await;
    }
}
