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
    scene_with(db, &[]).await
}

/// [`scene`] on a gateway started with `extra` options.
async fn scene_with(db: &TestDb, extra: &[&str]) -> Scene {
    let clock = ManualClock::at(START);
    let app = spawn_app_with_clock(db, extra, Arc::new(clock.clone())).await;
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

/// A PDF's first bytes, then `size` bytes in all.
fn pdf(size: usize) -> Vec<u8> {
    let mut data = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    data.resize(size, b'x');
    data
}

/// A 1x1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0d, 0x49, 0x44, 0x41, 0x54,
    0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0d, 0x0a, 0x2d, 0xb4, 0, 0, 0, 0, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A reply from `from` to `email` with `text` (HTML, showing `image` inline when given) and
/// `files` attached.
fn reply_with_files(
    from: &str,
    email: &Email,
    n: u32,
    text: &str,
    image: Option<&[u8]>,
    files: &[(&str, &[u8])],
) -> (String, String) {
    use base64::Engine;
    let b64 = |data: &[u8]| {
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        let lines: Vec<String> = encoded
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        lines.join("\r\n")
    };
    let to = email.reply_to();
    let domain = from.split('@').nth(1).unwrap();
    let mut data = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: Refund request\r\nMessage-ID: <files{n}@{domain}>\r\n\
In-Reply-To: {}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n",
        email.message_id()
    );
    match image {
        Some(png) => data.push_str(&format!(
            "--outer\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n\
--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{text}</p><img src=\"cid:photo{n}@{domain}\">\r\n\
--rel\r\nContent-Type: image/png; name=\"photo.png\"\r\nContent-ID: <photo{n}@{domain}>\r\n\
Content-Disposition: inline; filename=\"photo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--rel--\r\n",
            b64(png)
        )),
        None => data.push_str(&format!(
            "--outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        )),
    }
    for (name, bytes) in files {
        data.push_str(&format!(
            "--outer\r\nContent-Type: application/pdf; name=\"{name}\"\r\n\
Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(bytes)
        ));
    }
    data.push_str("--outer--\r\n");
    (to, data)
}

impl Scene {
    async fn send_files(
        &self,
        from: &str,
        email: &Email,
        n: u32,
        text: &str,
        image: Option<&[u8]>,
        files: &[(&str, &[u8])],
    ) {
        let (to, data) = reply_with_files(from, email, n, text, image, files);
        let reply = self.app.deliver(from, &[&to], &data).await;
        assert_eq!(reply.code, 250, "{reply:?}");
    }
}

#[tokio::test]
async fn files_travel_as_attachments_both_ways_and_inline_images_stay_inline() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.agnes_says("Please send the invoice.", "message").await;
        let to_carl = s.app.wait_for_emails(CARL, 1).await.remove(0);
        let to_bruno = s.app.wait_for_emails(BRUNO, 1).await.remove(0);

        // The client's PDF and inline photo reach the agent's inbox as MIME parts.
        let invoice = pdf(3000);
        s.send_files(
            CARL,
            &to_carl,
            1,
            "Here it is, and a photo of the parcel.",
            Some(PNG),
            &[("invoice.pdf", &invoice)],
        )
        .await;
        let to_agnes = s.app.wait_for_emails(AGNES, 1).await.remove(0);
        let carried = to_agnes.attachments();
        let file = carried
            .iter()
            .find(|c| c.filename == "invoice.pdf")
            .unwrap_or_else(|| panic!("{}: {carried:?}", db.backend));
        assert_eq!(file.data, invoice, "byte for byte");
        assert_eq!(file.content_type, "application/pdf");
        assert!(!file.inline);
        let photo = carried.iter().find(|c| c.filename == "photo.png").unwrap();
        assert_eq!(photo.data, PNG);
        assert!(photo.inline, "{photo:?}");
        let cid = photo.content_id.as_deref().expect("a Content-ID");
        assert!(
            cid.ends_with("@reply.test"),
            "ours, not the sender's: {cid}"
        );
        assert!(
            to_agnes.html.contains(&format!("cid:{cid}")),
            "{}",
            to_agnes.html
        );
        assert!(
            to_agnes.text.contains("Attached: invoice.pdf (3 KB)"),
            "{}",
            to_agnes.text
        );

        // An agent's file sent from their mail client reaches the client; a file in a note
        // does not.
        s.send_files(
            BRUNO,
            &to_bruno,
            2,
            "#note\nOur own copy.",
            None,
            &[("internal.pdf", &pdf(500))],
        )
        .await;
        let quote = pdf(2000);
        s.send_files(
            BRUNO,
            &to_bruno,
            3,
            "Here is the corrected quote.",
            None,
            &[("quote.pdf", &quote)],
        )
        .await;
        let messages = s.app.messages(&s.conversation).await;
        assert_eq!(
            messages.last().unwrap()["attachments"][0]["filename"],
            "quote.pdf"
        );
        s.clock.advance(Duration::from_secs(3600));
        let to_carl = s.app.wait_for_emails(CARL, 2).await;
        let last = to_carl.last().unwrap();
        assert!(last.text.contains("corrected quote"), "{}", last.text);
        let carried = last.attachments();
        assert_eq!(carried.len(), 1, "{carried:?}");
        assert_eq!(
            (carried[0].filename.as_str(), &carried[0].data),
            ("quote.pdf", &quote)
        );
        assert!(to_carl.iter().all(|e| !e.text.contains("internal.pdf")
            && e.attachments().iter().all(|c| c.filename != "internal.pdf")));
        s.app.stop().await;
    }
}

#[tokio::test]
async fn files_beyond_the_per_email_total_are_links_that_open_after_sign_in() {
    for db in test_databases().await {
        let s = scene_with(&db, &["--notify-attachments-max", "4KiB"]).await;
        s.agnes_says("Please send the documents.", "message").await;
        let to_carl = s.app.wait_for_emails(CARL, 1).await.remove(0);
        let (small, big) = (pdf(1000), pdf(10_000));
        s.send_files(
            CARL,
            &to_carl,
            1,
            "Both documents.",
            None,
            &[("big.pdf", &big), ("small.pdf", &small)],
        )
        .await;
        let to_agnes = s.app.wait_for_emails(AGNES, 1).await.remove(0);
        let carried = to_agnes.attachments();
        assert_eq!(carried.len(), 1, "{}: {carried:?}", db.backend);
        assert_eq!(
            (carried[0].filename.as_str(), &carried[0].data),
            ("small.pdf", &small)
        );
        assert!(
            to_agnes.text.contains("Download after signing in"),
            "{}",
            to_agnes.text
        );
        assert!(
            to_agnes.text.contains("big.pdf (10 KB)"),
            "{}",
            to_agnes.text
        );
        let links = support::web::file_links(&to_agnes);
        assert_eq!(links.len(), 1, "{}", to_agnes.text);
        assert!(to_agnes.html.contains(&links[0].replace('&', "&amp;")));

        // The link signs its recipient in and downloads the file.
        let mut browser = support::web::Browser::new(&s.app);
        let page = browser.sign_in_with(&links[0]).await;
        let location = page.location().expect("a redirect").to_string();
        assert!(location.starts_with("/attachments/att_"), "{location}");
        let (status, _, body) = browser.get_raw(&location, &[]).await;
        assert_eq!((status, body), (200, big.clone()));
        // Followed again while signed in: straight to the file.
        let page = browser.get(&links[0]).await;
        assert_eq!(page.location(), Some(location.as_str()));
        // A link whose file is not an id of ours opens the conversation instead.
        let (base, _) = links[0].split_once("?file=").unwrap();
        let page = browser.get(&format!("{base}?file=..%2F..%2Fetc")).await;
        assert_eq!(
            page.location(),
            Some(format!("/c/{}#unread", s.conversation).as_str())
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn assigning_someone_makes_them_a_participant_and_tells_them_once_in_their_language() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let dana = s
            .app
            .person("dana@team.test", "Dana Dupont", "internal")
            .await;
        let (status, _) = s
            .app
            .patch(
                &format!("/people/{dana}"),
                serde_json::json!({"locale": "fr"}),
            )
            .await;
        assert_eq!(status, 200);
        s.agnes_says("Who takes this one?", "message").await;
        s.app.wait_for_emails(BRUNO, 1).await;

        let (status, c) = s
            .app
            .patch(
                &format!("/conversations/{}", s.conversation),
                serde_json::json!({"assignee_id": dana, "actor_id": s.agnes}),
            )
            .await;
        assert_eq!(status, 200, "{c}");
        assert!(
            c["participants"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["person_id"] == dana.as_str()),
            "the assignee takes part: {c}"
        );
        let told = s.app.wait_for_emails("dana@team.test", 1).await.remove(0);
        assert!(
            told.text
                .contains("La conversation Refund request vous a été assignée par Agnes Agent."),
            "{}: {}",
            db.backend,
            told.text
        );
        assert!(told.html.contains("vous a été assignée par Agnes Agent"));
        assert_eq!(told.header("Subject"), Some("Re: Refund request"));
        assert!(
            told.reply_to().starts_with("reply+"),
            "they can answer at once"
        );
        // Her list's "Mine" has it.
        let mut browser = support::web::Browser::new(&s.app);
        browser.sign_in_with(&support::web::magic_link(&told)).await;
        let mine = browser.get("/?view=mine").await;
        assert_eq!(mine.status, 200);
        assert!(mine.body.contains("Refund request"), "{}", mine.body);

        // Told once: later ticks send nothing more, and unassigning tells no one.
        s.clock.advance(Duration::from_secs(3600));
        assert_eq!(s.app.settle_and_collect("dana@team.test").await.len(), 1);
        let (status, _) = s
            .app
            .patch(
                &format!("/conversations/{}", s.conversation),
                serde_json::json!({"assignee_id": null, "actor_id": s.agnes}),
            )
            .await;
        assert_eq!(status, 200);
        s.clock.advance(Duration::from_secs(3600));
        assert_eq!(s.app.settle_and_collect("dana@team.test").await.len(), 1);
        let mine = browser.get("/?view=mine").await;
        assert!(!mine.body.contains("Refund request"), "{}", mine.body);

        // Her answer to it is posted at once.
        s.answer("dana@team.test", &told, None, 1, "Je m'en occupe.")
            .await;
        assert_eq!(
            s.last().await,
            (
                "message".into(),
                "dana@team.test".into(),
                "Je m'en occupe.".into()
            )
        );

        // By email: Agnes assigns Bruno, who hears it from her; assigning oneself tells no one.
        let to_agnes = s.app.wait_for_emails(AGNES, 1).await.remove(0);
        let before = s.app.settle_and_collect(BRUNO).await.len();
        s.answer(AGNES, &to_agnes, None, 2, "#assign bruno@team.test")
            .await;
        let to_bruno = s.app.wait_for_emails(BRUNO, before + 1).await;
        assert!(
            to_bruno
                .last()
                .unwrap()
                .text
                .contains("Conversation Refund request was assigned to you by Agnes Agent."),
            "{}",
            to_bruno.last().unwrap().text
        );
        s.answer(AGNES, &to_agnes, None, 3, "#assign me").await;
        s.clock.advance(Duration::from_secs(3600));
        assert!(
            s.app
                .settle_and_collect(AGNES)
                .await
                .iter()
                .all(|e| !e.text.contains("assigned to you")),
            "no email for assigning oneself"
        );

        // The history shows it, and the API lists by assignee.
        let (_, events) = s
            .app
            .get(&format!("/conversations/{}/events", s.conversation))
            .await;
        let kinds: Vec<&str> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert!(
            kinds.contains(&"assigned") && kinds.contains(&"participant_added"),
            "{kinds:?}"
        );
        let (status, list) = s
            .app
            .get(&format!("/conversations?assignee={}", s.agnes))
            .await;
        assert_eq!(status, 200, "{list}");
        let ids: Vec<&str> = list["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [s.conversation.as_str()]);
        let (_, list) = s.app.get(&format!("/conversations?assignee={dana}")).await;
        assert!(list["conversations"].as_array().unwrap().is_empty());
        let (status, body) = s.app.get("/conversations?assignee=a%2Fb").await;
        assert_eq!(status, 422, "{body}");
        s.app.stop().await;
    }
}
