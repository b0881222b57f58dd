//! `threadgate backup` while the gateway takes replies, `threadgate restore` into a new
//! directory, and a gateway started there: every reply acknowledged before the backup began is
//! in it, with its attachment. Damaged or misplaced restores are refused.

mod support;

use serde_json::{Value, json};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::process::Gateway;
use support::*;

const CONVERSATIONS: usize = 8;

fn threadgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_threadgate"))
        .args(args)
        .env("THREADGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("run threadgate")
}

/// A reply with a small PDF of its own.
fn reply_with_file(from: &str, to: &str, irt: &str, n: usize) -> String {
    let pdf = data_encoding::BASE64.encode(format!("%PDF-1.4\n% reply {n}\n").as_bytes());
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: Case\r\nMessage-ID: <reply-{n}@client.test>\r\n\
In-Reply-To: {irt}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nReply number {n}.\r\n--b\r\nContent-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=\"r{n}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n--b--\r\n"
    )
}

async fn get(gateway: &Gateway, path: &str) -> Value {
    gateway.api(reqwest::Method::GET, path, None).await
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_every_acknowledged_reply_and_its_file() {
    let db = TestDb::sqlite().await;
    let mut gateway = Gateway::new(&db, &[]);
    gateway.start().await;
    let post =
        async |path: &str, body: Value| gateway.api(reqwest::Method::POST, path, Some(body)).await;
    let agent = post(
        "/people",
        json!({"email": "agnes@team.test", "name": "Agnes", "role": "internal"}),
    )
    .await;
    let mut threads = Vec::new();
    for i in 0..CONVERSATIONS {
        let email = format!("client{i}@client.test");
        let client = post(
            "/people",
            json!({"email": email, "name": format!("Client {i}"), "role": "client"}),
        )
        .await;
        let conversation = post(
            "/conversations",
            json!({"subject": format!("Case {i}"), "created_by": agent["id"], "participants": [client["id"]]}),
        )
        .await;
        let id = conversation["id"].as_str().unwrap().to_string();
        post(
            &format!("/conversations/{id}/messages"),
            json!({"author_id": agent["id"], "body": "How can we help?", "kind": "message"}),
        )
        .await;
        threads.push((email, id));
    }
    let mut addresses = Vec::new();
    for (email, id) in &threads {
        let notification = loop {
            if let Some(found) = outbox_emails(&gateway.outbox, email).pop() {
                break found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        addresses.push((
            email.clone(),
            id.clone(),
            notification.reply_to(),
            notification.message_id(),
        ));
    }

    // Replies keep coming, one at a time, while the backup runs.
    let acknowledged: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (acknowledged, stop, smtp, addresses) = (
            acknowledged.clone(),
            stop.clone(),
            gateway.smtp,
            addresses.clone(),
        );
        tokio::spawn(async move {
            let (mut c, _) = SmtpClient::connect(smtp).await;
            c.cmd("EHLO client.test").await;
            let mut n = 0;
            // At most 25 per conversation: under the loop breaker's 30.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 25 * CONVERSATIONS {
                let (email, _, to, irt) = &addresses[n % CONVERSATIONS];
                let answer = c
                    .send_mail(email, &[to], &reply_with_file(email, to, irt, n))
                    .await;
                assert_eq!(answer.code, 250, "{}", answer.text);
                acknowledged.lock().unwrap().push((n, Instant::now()));
                n += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("backup.zip");
    let began = Instant::now();
    let data_dir = gateway.data_dir.display().to_string();
    let out = tokio::task::spawn_blocking({
        let (zip, data_dir, url) = (zip.clone(), data_dir.clone(), db.url.clone());
        move || {
            threadgate(&[
                "backup",
                "--output",
                zip.to_str().unwrap(),
                "--data-dir",
                &data_dir,
                "--database-url",
                &url,
            ])
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sender.await.unwrap();
    let before: Vec<usize> = acknowledged
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at < began)
        .map(|(n, _)| *n)
        .collect();
    let total = acknowledged.lock().unwrap().len();
    assert!(
        before.len() >= 20 && total > before.len(),
        "{} before, {total} in all",
        before.len()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&zip).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Restored into a new directory; not into one in use.
    let restored = dir.path().join("restored");
    let refused = threadgate(&["restore", zip.to_str().unwrap(), "--data-dir", &data_dir]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not empty"));
    let out = threadgate(&[
        "restore",
        zip.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&restored), 0o700, "the restored directory is private");
    assert_eq!(mode(&restored.join("threadgate.db")), 0o600);
    gateway.kill();

    let url = format!("sqlite://{}/threadgate.db", restored.display());
    let mut again = Gateway::at(&restored, &url, &[]);
    again.start().await;
    let mut found = std::collections::HashMap::new();
    for (_, id, _, _) in &addresses {
        let page = get(&again, &format!("/conversations/{id}/messages")).await;
        for message in page["messages"].as_array().unwrap() {
            let text = message["body_text"].as_str().unwrap_or("");
            if let Some(n) = text
                .strip_prefix("Reply number ")
                .and_then(|t| t.strip_suffix('.'))
            {
                found.insert(
                    n.parse::<usize>().unwrap(),
                    message["attachments"][0].clone(),
                );
            }
        }
    }
    for n in &before {
        let file = found
            .get(n)
            .unwrap_or_else(|| panic!("reply {n}, acknowledged before the backup, is missing"));
        let url = format!("http://{}{}", again.http, file["url"].as_str().unwrap());
        let bytes = reqwest::Client::new()
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(
            &bytes[..],
            format!("%PDF-1.4\n% reply {n}\n").as_bytes(),
            "{url}"
        );
    }
    // The admin token came back with it (the database's secrets too: old reply addresses work).
    assert_eq!(
        std::fs::read_to_string(restored.join("admin-token")).ok(),
        std::fs::read_to_string(gateway.data_dir.join("admin-token")).ok()
    );
    let (email, _, to, irt) = &addresses[0];
    let (mut c, _) = SmtpClient::connect(again.smtp).await;
    c.cmd("EHLO client.test").await;
    let late = reply_with_file(email, to, irt, 9999);
    assert_eq!(c.send_mail(email, &[to], &late).await.code, 250);
    again.kill();

    // A damaged backup is refused before anything is used.
    let mut bytes = std::fs::read(&zip).unwrap();
    let at = bytes
        .windows(10)
        .position(|w| w == b"% reply 3\n")
        .expect("a stored (uncompressed) attachment");
    bytes[at + 2] ^= 0x20;
    let damaged = dir.path().join("damaged.zip");
    std::fs::write(&damaged, &bytes).unwrap();
    let out = threadgate(&[
        "restore",
        damaged.to_str().unwrap(),
        "--data-dir",
        dir.path().join("r2").to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "a damaged backup restored");

    // A manifest that does not match a file (the zip itself intact): refused, and nothing is
    // left where the restore was going.
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let mut manifest: Value =
        serde_json::from_reader(archive.by_name("manifest.json").unwrap()).unwrap();
    let files = manifest["files"].as_array_mut().unwrap();
    let file = files
        .iter_mut()
        .find(|f| f["path"].as_str().unwrap().starts_with("attachments/"))
        .unwrap();
    file["sha256"] = json!("0".repeat(64));
    let forged = dir.path().join("forged.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&forged).unwrap());
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).unwrap();
        if entry.name() != "manifest.json" {
            writer.raw_copy_file(entry).unwrap();
        }
    }
    writer
        .start_file("manifest.json", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut writer, manifest.to_string().as_bytes()).unwrap();
    writer.finish().unwrap();
    let target = dir.path().join("r3");
    let out = threadgate(&[
        "restore",
        forged.to_str().unwrap(),
        "--data-dir",
        target.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not match its manifest"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!target.exists() && !dir.path().join("r3.restoring").exists());
}

/// On PostgreSQL the backup holds the attachment files and the admin token, and says the
/// database is not in it (pg_dump backs it up).
#[tokio::test]
async fn on_postgres_the_backup_holds_the_files() {
    for db in test_databases().await {
        if db.url.starts_with("sqlite:") {
            continue;
        }
        let mut gateway = Gateway::new(&db, &[]);
        gateway.start().await;
        let notification = gateway
            .first_thread("carl@client.test", "Case")
            .await
            .notification;
        let to = notification.reply_to();
        let (mut c, _) = SmtpClient::connect(gateway.smtp).await;
        c.cmd("EHLO client.test").await;
        let reply = reply_with_file("carl@client.test", &to, &notification.message_id(), 1);
        assert_eq!(
            c.send_mail("carl@client.test", &[&to], &reply).await.code,
            250
        );

        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("backup.zip");
        let out = threadgate(&[
            "backup",
            "--output",
            zip.to_str().unwrap(),
            "--data-dir",
            gateway.data_dir.to_str().unwrap(),
            "--database-url",
            &db.url,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("pg_dump"));
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
        let manifest: Value =
            serde_json::from_reader(archive.by_name("manifest.json").unwrap()).unwrap();
        assert_eq!(manifest["backend"], "postgres");
        assert_eq!(manifest["counts"]["attachments"], 1, "{manifest}");
        let names: Vec<String> = archive.file_names().map(str::to_string).collect();
        assert!(
            names.iter().any(|n| n.starts_with("attachments/")),
            "{names:?}"
        );
        assert!(!names.iter().any(|n| n == "threadgate.db"), "{names:?}");
    }
}
