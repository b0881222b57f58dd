//! Conversation exports on every backend, through the API and the command line: an mbox that
//! Python's `mailbox` module reads back with every message and its threading headers (the
//! original email for what came by email, a composed one for web and API posts, `From ` lines
//! escaped), JSON with messages, attachments' metadata and events, each as its reader may see
//! it, and long conversations read a page at a time.

mod support;

use serde_json::{Value, json};
use std::process::Command;
use support::*;

const AGNES: &str = "agnes@team.test";
const CARL: &str = "carl@client.test";
const DORA: &str = "dora@client.test";

/// What Python's `mailbox.mbox` reads from `path`: per message its Message-ID, In-Reply-To,
/// References and the start of its text.
fn python_reads(path: &std::path::Path) -> Vec<Value> {
    let script = r#"
import json, mailbox, sys
out = []
for m in mailbox.mbox(sys.argv[1]):
    body = ""
    for part in m.walk():
        if part.get_content_type() == "text/plain":
            body = part.get_payload(decode=True).decode("utf-8", "replace")
            break
    out.append({"id": m["Message-ID"], "irt": m["In-Reply-To"], "refs": m["References"],
                "from": m["From"], "body": body})
print(json.dumps(out))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn export(app: &TestApp, path: &str) -> (u16, Vec<u8>) {
    let response = app
        .http_client
        .get(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn exports_read_back_as_one_thread_and_show_each_reader_what_they_may_see() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agnes = app.person(AGNES, "Agnes Agent", "internal").await;
        let carl = app.person(CARL, "Carl Client", "client").await;
        let dora = app.person(DORA, "Dora Client", "client").await;
        let conversation = app
            .conversation("Veranda quote", &agnes, &[&carl, &dora])
            .await;
        app.say(
            &conversation,
            &agnes,
            "Here is the quote: 12,400 EUR.",
            "message",
        )
        .await;
        let to_carl = app.wait_for_emails(CARL, 1).await.remove(0);
        let reply = reply_email(
            CARL,
            &to_carl.reply_to(),
            "<carl-answer@client.test>",
            &to_carl.message_id(),
            "Thanks.\r\nFrom the start I wanted oak.\r\n",
        );
        assert_eq!(
            app.deliver(CARL, &[&to_carl.reply_to()], &reply).await.code,
            250
        );
        app.say(&conversation, &agnes, "Oak costs more, careful.", "note")
            .await;
        let oops = app
            .say(&conversation, &agnes, "Wrong figure.", "message")
            .await;
        assert_eq!(app.delete(&format!("/messages/{oops}")).await, 200);
        app.say(&conversation, &dora, "Can we add a door?", "message")
            .await;
        let (status, _) = app
            .patch(
                &format!("/conversations/{conversation}"),
                json!({"status": "closed"}),
            )
            .await;
        assert_eq!(status, 200);
        let dir = tempfile::tempdir().unwrap();

        // The admin's mbox: all five, read back as one thread.
        let (status, mbox) = export(
            &app,
            &format!("/conversations/{conversation}/export?format=mbox"),
        )
        .await;
        assert_eq!(status, 200);
        let path = dir.path().join("all.mbox");
        std::fs::write(&path, &mbox).unwrap();
        let messages = python_reads(&path);
        assert_eq!(messages.len(), 5, "{messages:#?}");
        assert_eq!(
            messages[1]["id"], "<carl-answer@client.test>",
            "the original email"
        );
        assert!(
            messages[1]["body"]
                .as_str()
                .unwrap()
                .contains("From the start I wanted oak"),
            "an escaped From line is not a new message: {messages:#?}"
        );
        for (i, m) in messages.iter().enumerate().skip(2) {
            assert!(
                m["irt"].is_string(),
                "message {i} answers the one before: {m}"
            );
            assert_eq!(m["irt"], messages[i - 1]["id"], "{messages:#?}");
            assert!(
                m["refs"]
                    .as_str()
                    .unwrap()
                    .contains(messages[i - 1]["id"].as_str().unwrap())
            );
        }
        assert!(
            String::from_utf8_lossy(&mbox).contains(AGNES),
            "staff see addresses"
        );

        // As Carl: no note, no deleted message, nobody else's address; his own email whole.
        let (status, mbox) = export(
            &app,
            &format!("/conversations/{conversation}/export?format=mbox&as={carl}"),
        )
        .await;
        assert_eq!(status, 200);
        let text = String::from_utf8_lossy(&mbox).to_string();
        for hidden in ["Oak costs more", "Wrong figure", AGNES, DORA] {
            assert!(!text.contains(hidden), "{hidden:?} in Carl's export");
        }
        let path = dir.path().join("carl.mbox");
        std::fs::write(&path, &mbox).unwrap();
        let messages = python_reads(&path);
        assert_eq!(messages.len(), 3, "{messages:#?}");
        assert_eq!(messages[1]["id"], "<carl-answer@client.test>");

        // JSON as Carl: the same messages, attachments listed, only the closing event.
        let (status, body) = export(
            &app,
            &format!("/conversations/{conversation}/export?format=json&as={carl}"),
        )
        .await;
        assert_eq!(status, 200);
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["conversation"]["subject"], "Veranda quote");
        assert_eq!(json["messages"].as_array().unwrap().len(), 3);
        assert!(
            json["messages"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["kind"] == "message")
        );
        let events: Vec<&str> = json["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert!(events.iter().all(|k| *k == "status_changed"), "{events:?}");
        let (_, body) = export(
            &app,
            &format!("/conversations/{conversation}/export?format=json"),
        )
        .await;
        let all: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(all["messages"].as_array().unwrap().len(), 5);
        assert!(
            all["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["deleted"] == true)
        );

        // Refused: an unknown format, a reader who may not read it.
        let stranger = app
            .person("sam@elsewhere.test", "Sam Stranger", "client")
            .await;
        let (status, _) = export(
            &app,
            &format!("/conversations/{conversation}/export?format=zip"),
        )
        .await;
        assert_eq!(status, 422);
        let (status, _) = export(
            &app,
            &format!("/conversations/{conversation}/export?format=mbox&as={stranger}"),
        )
        .await;
        assert_eq!(status, 404);

        // The command line writes the same.
        let out = dir.path().join("cli.json");
        let data = dir.path().join("cli-data");
        let status = Command::new(env!("CARGO_BIN_EXE_threadgate"))
            .args([
                "export",
                "conversation",
                &conversation,
                "--format",
                "json",
                "--as",
                &carl,
            ])
            .arg("--output")
            .arg(&out)
            .args(["--database-url", &db.url, "--admin-token", ADMIN_TOKEN])
            .arg("--data-dir")
            .arg(&data)
            .status()
            .unwrap();
        assert!(status.success());
        let cli: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(cli["messages"], json["messages"]);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_long_conversation_exports_page_by_page_with_nothing_lost_or_repeated() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agnes = app.person(AGNES, "Agnes Agent", "internal").await;
        let carl = app.person(CARL, "Carl Client", "client").await;
        let conversation = app.conversation("Long", &agnes, &[&carl]).await;
        // 1,001 messages: five full pages and one of one.
        let texts: Vec<(String, String, String)> = (0..1001)
            .map(|i| (conversation.clone(), agnes.clone(), format!("Entry {i}")))
            .collect();
        app.store.import_messages(&texts).await.unwrap();
        let (status, body) = export(
            &app,
            &format!("/conversations/{conversation}/export?format=json"),
        )
        .await;
        assert_eq!(status, 200);
        let json: Value = serde_json::from_slice(&body).unwrap();
        let bodies: Vec<&str> = json["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body_text"].as_str().unwrap())
            .collect();
        assert_eq!(bodies.len(), 1001);
        assert_eq!(bodies[0], "Entry 0");
        assert_eq!(bodies[1000], "Entry 1000");
        let (_, mbox) = export(
            &app,
            &format!("/conversations/{conversation}/export?format=mbox"),
        )
        .await;
        assert_eq!(
            String::from_utf8_lossy(&mbox).matches("\nFrom ").count() + 1,
            1001,
            "one From line per message"
        );
        app.stop().await;
    }
}
