//! The whole loop over real TCP, on SQLite and (with TEST_DATABASE_URL) PostgreSQL:
//! API → notification in the outbox → email reply through our SMTP listener → the reply in the
//! conversation, quote stripped → the other participant notified.

mod support;

use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use support::*;

const AGENT: &str = "agnes@team.test";
const CLIENT: &str = "carl@client.test";

struct Scene {
    app: TestApp,
    agent: String,
    client: String,
    conversation: String,
}

async fn scene(db: &TestDb) -> Scene {
    let app = spawn_app(db, &[]).await;
    let agent = app.person(AGENT, "Agnes Agent", "internal").await;
    let client = app
        .person("Carl@Client.test", "Carl Client", "client")
        .await;
    let conversation = app.conversation("Your order", &agent, &[&client]).await;
    Scene {
        app,
        agent,
        client,
        conversation,
    }
}

async fn lettre_send(
    smtp: std::net::SocketAddr,
    from: &str,
    to: &str,
    data: &[u8],
) -> Result<(), String> {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.ip().to_string())
        .port(smtp.port())
        .build();
    let envelope = Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
    transport
        .send_raw(&envelope, data)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_reply_by_email_lands_in_the_conversation_and_notifies_the_others() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let first = s
            .app
            .say(
                &s.conversation,
                &s.agent,
                "Hello Carl, your order shipped today.",
                "message",
            )
            .await;
        s.app
            .say(
                &s.conversation,
                &s.agent,
                "Internal: customer is VIP",
                "note",
            )
            .await;

        // The client's notification: individual, threaded, automatic, with a personal Reply-To.
        let emails = s.app.wait_for_emails(CLIENT, 1).await;
        let email = &emails[0];
        assert_eq!(
            email.header("From").unwrap(),
            "\"Agnes Agent via threadgate\" <notifications@gateway.test>"
        );
        assert!(
            email
                .header("To")
                .unwrap()
                .to_ascii_lowercase()
                .contains(CLIENT)
        );
        assert!(!email.header("To").unwrap().contains(AGENT), "no shared To");
        assert!(email.header("Cc").is_none());
        let reply_to = email.reply_to();
        assert!(
            reply_to.starts_with("reply+") && reply_to.ends_with("@reply.test"),
            "{reply_to}"
        );
        let message_id = email.message_id();
        assert!(
            message_id.contains(&s.conversation) && message_id.contains(&s.client),
            "{message_id}"
        );
        assert_eq!(email.header("Auto-Submitted"), Some("auto-generated"));
        assert_eq!(email.header("X-Auto-Response-Suppress"), Some("All"));
        assert!(
            email.header("Thread-Index").is_some()
                && email.header("Thread-Topic") == Some("Your order")
        );
        assert!(email.text.contains("Hello Carl, your order shipped today."));
        assert!(
            !email.text.contains("VIP") && !email.html.contains("VIP"),
            "a client never sees a note"
        );
        assert!(email.html.contains("Hello Carl"));
        assert_eq!(
            s.app.settle_and_collect(CLIENT).await.len(),
            1,
            "one email for the message, none for the note"
        );

        // The client answers from their mail program (lettre as the SMTP client).
        let reply = reply_email(
            "Carl Client <carl@client.test>",
            &reply_to,
            "<r1@client.test>",
            &message_id,
            "Great, thanks! When will it arrive?\r\n\r\nOn Mon, Nov 23, 2026 at 10:00 AM Agnes Agent via threadgate <notifications@gateway.test> wrote:\r\n> ##- Reply above this line -##\r\n> Hello Carl, your order shipped today.",
        );
        lettre_send(s.app.smtp, CLIENT, &reply_to, reply.as_bytes())
            .await
            .expect("reply accepted");

        let messages = s.app.messages(&s.conversation).await;
        let last = messages.last().unwrap();
        assert_eq!(
            last["body_text"], "Great, thanks! When will it arrive?",
            "quote stripped ({})",
            db.backend
        );
        assert_eq!(last["source"], "email");
        assert_eq!(last["author_id"], s.client.as_str());
        assert!(last["trimmed_text"].as_str().unwrap().contains("wrote:"));
        assert_ne!(last["id"], first.as_str());
        let inbound = s.app.inbound().await;
        assert_eq!(inbound[0]["outcome"], "posted");
        assert_eq!(inbound[0]["posted_message_id"], last["id"]);

        // The agent is notified of the client's reply, threaded in their own chain.
        let agent_emails = s.app.wait_for_emails(AGENT, 1).await;
        assert!(agent_emails[0].text.contains("When will it arrive?"));
        assert_eq!(
            agent_emails[0].header("From").unwrap(),
            "\"Carl Client via threadgate\" <notifications@gateway.test>"
        );

        // A second notification to the client chains to the first.
        s.app
            .say(&s.conversation, &s.agent, "Tomorrow morning.", "message")
            .await;
        let emails = s.app.wait_for_emails(CLIENT, 2).await;
        assert_eq!(emails[1].header("In-Reply-To"), Some(message_id.as_str()));
        assert!(
            emails[1]
                .header("References")
                .unwrap()
                .contains(&message_id)
        );
        assert_eq!(emails[1].header("Subject"), Some("Re: Your order"));
        assert_eq!(
            emails[1].reply_to(),
            reply_to,
            "the reply address is stable"
        );

        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_reply_sent_with_python_smtplib_is_posted() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("python3 is required for this test (the README's test command installs it in CI)");
    }
    for db in test_databases().await {
        let s = scene(&db).await;
        s.app
            .say(&s.conversation, &s.agent, "Bonjour Carl", "message")
            .await;
        let email = s.app.wait_for_emails(CLIENT, 1).await.remove(0);
        let script = r#"
import smtplib, sys
from email.message import EmailMessage
host, port, to, in_reply_to = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
m = EmailMessage()
m["From"] = "Carl Client <CARL@client.test>"
m["To"] = to
m["Subject"] = "Re: Your order"
m["In-Reply-To"] = in_reply_to
m.set_content("Merci beaucoup !\n\nLe lun. 23 nov. 2026 à 10:00, Agnes Agent <notifications@gateway.test> a écrit :\n> Bonjour Carl\n")
with smtplib.SMTP(host, port) as s:
    s.send_message(m)
print("sent")
"#;
        let port = s.app.smtp.port().to_string();
        let out = tokio::process::Command::new("python3")
            .args([
                "-c",
                script,
                "127.0.0.1",
                &port,
                &email.reply_to(),
                &email.message_id(),
            ])
            .output()
            .await
            .expect("run python3");
        assert!(
            out.status.success(),
            "smtplib failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let messages = s.app.messages(&s.conversation).await;
        assert_eq!(
            messages.last().unwrap()["body_text"],
            "Merci beaucoup !",
            "{}",
            db.backend
        );
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn refused_and_machine_mail_is_recorded_and_never_posted() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.app
            .say(&s.conversation, &s.agent, "Hello", "message")
            .await;
        let email = s.app.wait_for_emails(CLIENT, 1).await.remove(0);
        let reply_to = email.reply_to();
        let (mut c, greeting) = SmtpClient::connect(s.app.smtp).await;
        assert_eq!(greeting.code, 220);
        assert_eq!(c.cmd("EHLO client.test").await.code, 250);

        // Someone else using Carl's reply address: kept for staff (unknown_sender), nothing
        // posted.
        let forged = reply_email(
            "Mallory <mallory@evil.test>",
            &reply_to,
            "<f1@evil.test>",
            "<x@y>",
            "I am Carl, refund me",
        );
        let r = c
            .send_mail("mallory@evil.test", &[&reply_to], &forged)
            .await;
        assert_eq!(r.code, 250, "{r:?}");
        let held = &s.app.inbound().await[0];
        assert_eq!(held["outcome"], "unknown_sender", "{held}");

        // An unknown token is refused at RCPT (no backscatter).
        let r = c.cmd("MAIL FROM:<carl@client.test>").await;
        assert_eq!(r.code, 250);
        let r = c
            .cmd("RCPT TO:<reply+aaaaaaaaaaaaaaaaaaaaaaaaaa@reply.test>")
            .await;
        assert_eq!(r.code, 550);
        assert!(r.text.contains("5.1.1"));
        assert_eq!(c.cmd("RSET").await.code, 250);

        // The same email twice (a sender retry): 250 both times, one message.
        let good = reply_email(
            "carl@client.test",
            &reply_to,
            "<same@client.test>",
            "<x@y>",
            "Once only",
        );
        assert_eq!(
            c.send_mail("carl@client.test", &[&reply_to], &good)
                .await
                .code,
            250
        );
        assert_eq!(
            c.send_mail("carl@client.test", &[&reply_to], &good)
                .await
                .code,
            250
        );

        // An out-of-office reply: accepted, recorded, not posted.
        let ooo = format!(
            "From: carl@client.test\r\nTo: {reply_to}\r\nSubject: Automatic reply: Your order\r\nAuto-Submitted: auto-replied\r\n\r\nI am away.\r\n"
        );
        assert_eq!(
            c.send_mail("carl@client.test", &[&reply_to], &ooo)
                .await
                .code,
            250
        );

        // A reply that is only quote: recorded as empty.
        let empty = reply_email(
            "carl@client.test",
            &reply_to,
            "<e1@client.test>",
            "<x@y>",
            "On Mon, Nov 23, 2026 at 10:00 AM Agnes <a@b.test> wrote:\r\n> Hello",
        );
        assert_eq!(
            c.send_mail("carl@client.test", &[&reply_to], &empty)
                .await
                .code,
            250
        );

        // Malformed MIME (broken boundary, garbage headers): stored raw, recorded, no crash.
        let broken = format!(
            "From: carl@client.test\r\nTo: {reply_to}\r\nMessage-ID: <broken@client.test>\r\nContent-Type: multipart/mixed; boundary=\"nope\r\n\r\n--nope\r\nContent-Type: text/plain\r\n\r\nStill readable\r\n--nope"
        );
        let r = c.send_mail("carl@client.test", &[&reply_to], &broken).await;
        assert!(r.code == 250 || r.code == 550, "{r:?}");
        assert_eq!(c.cmd("QUIT").await.code, 221);

        let messages = s.app.messages(&s.conversation).await;
        let bodies: Vec<&str> = messages
            .iter()
            .map(|m| m["body_text"].as_str().unwrap())
            .collect();
        assert_eq!(
            bodies.iter().filter(|b| **b == "Once only").count(),
            1,
            "{bodies:?}"
        );
        assert!(
            !bodies
                .iter()
                .any(|b| b.contains("refund") || b.contains("away")),
            "{bodies:?}"
        );
        let outcomes: Vec<String> = s
            .app
            .inbound()
            .await
            .iter()
            .map(|e| e["outcome"].as_str().unwrap().to_string())
            .collect();
        for expected in [
            "unknown_sender",
            "posted",
            "duplicate",
            "auto_reply",
            "empty",
        ] {
            assert!(
                outcomes.iter().any(|o| o == expected),
                "{expected} missing from {outcomes:?} ({})",
                db.backend
            );
        }
        assert_eq!(
            outcomes.len(),
            6,
            "every received email is recorded: {outcomes:?}"
        );
        // Every recorded email keeps its raw bytes.
        for entry in s.app.inbound().await {
            let raw = s
                .app
                .store
                .raw_email(entry["id"].as_str().unwrap())
                .await
                .unwrap();
            assert!(raw.is_some_and(|r| !r.is_empty()));
        }
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_removed_participant_s_reply_address_stops_working() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.app
            .say(&s.conversation, &s.agent, "Hello", "message")
            .await;
        let reply_to = s.app.wait_for_emails(CLIENT, 1).await.remove(0).reply_to();
        let response = s
            .app
            .http_client
            .delete(s.app.url(&format!(
                "/conversations/{}/participants/{}",
                s.conversation, s.client
            )))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 204);
        let (mut c, _) = SmtpClient::connect(s.app.smtp).await;
        c.cmd("EHLO c").await;
        c.cmd("MAIL FROM:<carl@client.test>").await;
        assert_eq!(c.cmd(&format!("RCPT TO:<{reply_to}>")).await.code, 550);
        assert_eq!(c.cmd("QUIT").await.code, 221);
        s.app.stop().await;
        db.cleanup().await;
    }
}
