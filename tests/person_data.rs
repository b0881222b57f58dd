//! A person's data export on every backend, through the API and the command line: one zip that
//! Python's `zipfile` opens, with `person.json`, every conversation they may read as JSON and
//! mbox exactly as they may see it, the raw emails they sent and the files they sent.

mod support;

use serde_json::{Value, json};
use std::process::Command;
use support::*;

const AGNES: &str = "agnes@team.test";
const CARL: &str = "carl@client.test";
const DORA: &str = "dora@client.test";

/// The zip's entry names, `person.json`, and the text of its conversations, as Python's
/// `zipfile` reads them.
fn python_reads(path: &std::path::Path) -> (Vec<String>, Value, String) {
    let script = r#"
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
texts = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.startswith("conversations/"))
print(json.dumps({"names": z.namelist(), "person": json.loads(z.read("person.json")), "texts": texts}))
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
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names = out["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    (
        names,
        out["person"].clone(),
        out["texts"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn a_person_s_export_holds_their_profile_conversations_emails_and_files() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agnes = app.person(AGNES, "Agnes Agent", "internal").await;
        let carl = app.person(CARL, "Carl Client", "client").await;
        let dora = app.person(DORA, "Dora Client", "client").await;
        let theirs = app.conversation("Veranda", &agnes, &[&carl]).await;
        let not_theirs = app.conversation("Dora's kitchen", &agnes, &[&dora]).await;
        app.say(&not_theirs, &agnes, "Dora's quote.", "message")
            .await;
        app.say(&theirs, &agnes, "Here is the quote.", "message")
            .await;
        app.say(&theirs, &agnes, "Margin is thin.", "note").await;
        let to_carl = app.wait_for_emails(CARL, 1).await.remove(0);
        let reply = format!(
            "From: Carl Client <{CARL}>\r\nTo: {to}\r\nSubject: Re: Veranda\r\nMessage-ID: <plan@client.test>\r\n\
In-Reply-To: {irt}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere is the floor plan.\r\n\
--m\r\nContent-Type: application/pdf; name=\"plan.pdf\"\r\nContent-Disposition: attachment; filename=\"plan.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcTl8uXrp/Og0MTGCg==\r\n--m--\r\n",
            to = to_carl.reply_to(),
            irt = to_carl.message_id()
        );
        assert_eq!(
            app.deliver(CARL, &[&to_carl.reply_to()], &reply).await.code,
            250
        );
        let (status, _) = app
            .patch(
                &format!("/people/{carl}"),
                json!({"time_zone": "Europe/Paris"}),
            )
            .await;
        assert_eq!(status, 200);

        let response = app
            .http_client
            .get(app.url(&format!("/people/{carl}/export")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "application/zip");
        let bytes = response.bytes().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("carl.zip");
        std::fs::write(&path, &bytes).unwrap();
        let (names, person, texts) = python_reads(&path);
        for expected in [
            "person.json".to_string(),
            format!("conversations/{theirs}.json"),
            format!("conversations/{theirs}.mbox"),
        ] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains(&not_theirs)), "{names:?}");
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("sent/") && n.ends_with(".eml")),
            "{names:?}"
        );
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("files/") && n.ends_with("-plan.pdf")),
            "{names:?}"
        );
        assert_eq!(person["person"]["email"], CARL);
        assert_eq!(person["settings"]["time_zone"], "Europe/Paris");
        assert_eq!(person["conversations"].as_array().unwrap().len(), 1);
        assert_eq!(person["files"][0]["filename"], "plan.pdf");
        // As he may see it: the note is not in his copy, nor anyone else's address.
        assert!(texts.contains("Here is the quote"), "{texts}");
        assert!(
            !texts.contains("Margin is thin") && !texts.contains(AGNES),
            "{texts}"
        );

        // The command line writes the same entries; an unknown person is a 404.
        let out = dir.path().join("cli.zip");
        let status = Command::new(env!("CARGO_BIN_EXE_threadgate"))
            .args(["person", "export", &carl])
            .arg("--output")
            .arg(&out)
            .args(["--database-url", &db.url, "--admin-token", ADMIN_TOKEN])
            .arg("--data-dir")
            .arg(app.data_dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        let (cli_names, _, _) = python_reads(&out);
        assert_eq!(cli_names, names);
        let (status, _) = app.get("/people/per_aaaaaaaaaaaaaaaa/export").await;
        assert_eq!(status, 404);
        app.stop().await;
    }
}
