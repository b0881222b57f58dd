//! Several gateways on several "machines": real `threadgate` processes, each with a data
//! directory of its own, sharing one PostgreSQL database and one blob store — a real
//! S3-compatible server (moto, a process of its own; `tests/support/s3.rs`) or PostgreSQL
//! itself. A file one gateway received is served, emailed, exported and erased by the other;
//! one is killed under load while the other keeps accepting; files move between stores with
//! `threadgate blobs migrate` and unreferenced ones are swept.
//!
//! Needs `TEST_DATABASE_URL` (PostgreSQL: two processes cannot share SQLite across machines);
//! without it the suite has nothing to run. CI runs it in its PostgreSQL list.

mod support;

use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::process::{Attempt, Gateway, attempt};
use support::s3::S3Server;
use support::web::{Browser, magic_link};
use support::*;
use threadgate::store::sha256_hex;

fn postgres() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
}

/// A PDF of its own for reply `n`.
fn pdf(n: usize) -> Vec<u8> {
    format!("%PDF-1.4\n% reply {n} of the scale-out suite\n%%EOF\n").into_bytes()
}

/// A reply carrying `file` as `invoice-{n}.pdf`.
fn reply_with_file(from: &str, to: &str, irt: &str, n: usize, file: &[u8]) -> String {
    let encoded = data_encoding::BASE64.encode(file);
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: Invoice\r\nMessage-ID: <scale-{n}@client.test>\r\n\
In-Reply-To: {irt}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nHere it is: scalemark{n:05}.\r\n--b\r\nContent-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=\"invoice-{n}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
{encoded}\r\n--b--\r\n"
    )
}

/// Where the files go: a bucket on the S3 server, or the database.
enum Files {
    S3(S3Server),
    Postgres(sqlx::PgPool),
}

impl Files {
    fn flag(&self) -> &'static str {
        match self {
            Files::S3(_) => "s3://attachments/tg",
            Files::Postgres(_) => "postgres",
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        match self {
            Files::S3(s3) => s3.env(),
            Files::Postgres(_) => Vec::new(),
        }
    }

    /// The stored bytes of the file `sha`, looked at without the gateway.
    async fn object(&self, sha: &str) -> Option<Vec<u8>> {
        match self {
            Files::S3(s3) => s3.object(&format!("tg/{}/{sha}", &sha[..2])).await,
            Files::Postgres(pool) => {
                sqlx::query_scalar("SELECT content FROM blob_contents WHERE sha256 = $1")
                    .bind(sha)
                    .fetch_optional(pool)
                    .await
                    .unwrap()
            }
        }
    }

    /// The names of every stored file.
    async fn names(&self) -> HashSet<String> {
        match self {
            Files::S3(s3) => s3
                .keys()
                .await
                .into_iter()
                .filter_map(|k| k.rsplit('/').next().map(str::to_string))
                .collect(),
            Files::Postgres(pool) => sqlx::query_scalar("SELECT sha256 FROM blob_contents")
                .fetch_all(pool)
                .await
                .unwrap()
                .into_iter()
                .collect(),
        }
    }
}

async fn files_for(kind: &str, db: &TestDb) -> Files {
    match kind {
        "s3" => Files::S3(S3Server::start("attachments").await),
        _ => Files::Postgres(sqlx::PgPool::connect(&db.url).await.unwrap()),
    }
}

/// A gateway on `db` storing files in `files`, with `extra` flags.
fn gateway(db: &TestDb, files: &Files, extra: &[&str]) -> Gateway {
    let mut flags = vec!["--blob-store", files.flag()];
    flags.extend_from_slice(extra);
    let mut gateway = Gateway::new(db, &flags);
    gateway.env = files.env();
    gateway
}

async fn get(gateway: &Gateway, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("http://{}/api/v1{path}", gateway.http))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_taken_by_one_gateway_is_served_emailed_exported_and_erased_by_the_other() {
    let Some(url) = postgres() else { return };
    for kind in ["s3", "postgres"] {
        let db = TestDb::postgres(&url).await;
        let files = files_for(kind, &db).await;
        // B plans and sends; A only takes email (its scheduler would not tick in this test).
        let mut b = gateway(&db, &files, &[]);
        b.start().await;
        let mut a = gateway(&db, &files, &["--tick", "1h"]);
        a.start().await;
        let thread = b.first_thread("carl@client.test", "Invoice").await;
        b.api(
            reqwest::Method::PATCH,
            &format!("/people/{}", thread.agent),
            Some(json!({"notifications": "immediate"})),
        )
        .await;

        // The client's reply with a PDF reaches machine A.
        let file = pdf(1);
        let sha = sha256_hex(&file);
        let irt = thread
            .notification
            .header("Message-ID")
            .unwrap()
            .to_string();
        let data = reply_with_file(
            "carl@client.test",
            &thread.notification.reply_to(),
            &irt,
            1,
            &file,
        );
        let answer = attempt(
            a.smtp,
            "carl@client.test",
            &thread.notification.reply_to(),
            &data,
        )
        .await;
        assert!(
            matches!(answer, Attempt::Answered(250)),
            "{kind}: not accepted"
        );
        a.kill();
        assert_eq!(
            files.object(&sha).await.as_deref(),
            Some(&file[..]),
            "{kind}: stored"
        );
        assert!(
            !a.data_dir.join("attachments").exists() && !b.data_dir.join("attachments").exists(),
            "{kind}: nothing on a local disk"
        );

        // Machine B serves it through the API, A being gone.
        let messages = b.messages(&thread.conversation).await;
        let attachment = messages
            .iter()
            .flat_map(|m| m["attachments"].as_array().cloned().unwrap_or_default())
            .find(|a| a["filename"] == "invoice-1.pdf")
            .unwrap_or_else(|| panic!("{kind}: no attachment in {messages:?}"));
        let id = attachment["id"].as_str().unwrap();
        let response = get(&b, &format!("/attachments/{id}")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-length"],
            file.len().to_string().as_str()
        );
        assert_eq!(response.bytes().await.unwrap(), file);

        // B emails it to the agent, and the agent downloads it from B's web view.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let notification = loop {
            let found = outbox_emails(&b.outbox, "agnes@team.test")
                .into_iter()
                .find(|e| {
                    e.attachments()
                        .iter()
                        .any(|c| c.filename == "invoice-1.pdf")
                });
            if let Some(found) = found {
                break found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{kind}: B sent no notification with the file"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let carried = notification.attachments();
        assert_eq!(
            carried
                .iter()
                .find(|c| c.filename == "invoice-1.pdf")
                .unwrap()
                .data,
            file
        );
        let link = magic_link(&notification);
        let path = &link[link.find("/m/").unwrap()..];
        let mut browser = Browser::at(b.http);
        browser.sign_in_with(path).await;
        let page = browser.get(&format!("/attachments/{id}")).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.body.as_bytes(), &file[..]);

        // B exports the client's data with the file in it.
        let response = get(&b, &format!("/people/{}/export", thread.client)).await;
        assert_eq!(response.status(), 200);
        let zip = response.bytes().await.unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
        let name = archive
            .file_names()
            .find(|n| n.starts_with("files/") && n.ends_with("invoice-1.pdf"))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{kind}: the file is not in the export"));
        let mut exported = Vec::new();
        archive
            .by_name(&name)
            .unwrap()
            .read_to_end(&mut exported)
            .unwrap();
        assert_eq!(exported, file);

        // B erases the client: the object is gone from the store.
        b.api(
            reqwest::Method::POST,
            &format!("/people/{}/erase", thread.client),
            None,
        )
        .await;
        assert_eq!(files.object(&sha).await, None, "{kind}: erased");
        b.kill();
        drop(files);
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_under_load_loses_nothing_while_the_other_keeps_accepting() {
    const CONVERSATIONS: usize = 8;
    const PER_CONVERSATION: usize = 8;
    const SENDERS: usize = 4;
    let Some(url) = postgres() else { return };
    let db = TestDb::postgres(&url).await;
    let files = files_for("s3", &db).await;
    let mut a = gateway(&db, &files, &[]);
    a.start().await;
    let mut b = gateway(&db, &files, &[]);
    b.start().await;
    let mut threads = Vec::new();
    for (email, conversation) in b.agent_and_clients(CONVERSATIONS).await.1 {
        let reply_to = reply_address(&email, &[&a, &b]).await;
        threads.push((email, reply_to, conversation));
    }

    // Replies with a file each, dealt to senders; each sender starts on A or B and moves to the
    // other gateway when its connection fails (as an MTA tries the next MX host).
    let mut work: Vec<Vec<(String, String, String, String)>> = vec![Vec::new(); SENDERS];
    let mut n = 0;
    for _ in 0..PER_CONVERSATION {
        for (email, reply_to, _) in &threads {
            let marker = format!("scalemark{n:05}");
            let data = reply_with_file(email, reply_to, "<none@client.test>", n, &pdf(n));
            work[n % SENDERS].push((marker, email.clone(), reply_to.clone(), data));
            n += 1;
        }
    }
    let accepted: Arc<Mutex<HashMap<String, &'static str>>> = Arc::default();
    let b_after_kill = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for (i, batch) in work.into_iter().enumerate() {
        let (accepted, b_after_kill, killed) =
            (accepted.clone(), b_after_kill.clone(), killed.clone());
        let hosts = [(a.smtp, "A"), (b.smtp, "B")];
        senders.push(tokio::spawn(async move {
            let mut host = i % 2;
            for (marker, from, to, data) in batch {
                let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
                loop {
                    let (addr, name) = hosts[host];
                    match attempt(addr, &from, &to, &data).await {
                        Attempt::Answered(250) => {
                            accepted.lock().unwrap().insert(marker.clone(), name);
                            if name == "B" && killed.load(std::sync::atomic::Ordering::SeqCst) {
                                b_after_kill.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                            break;
                        }
                        Attempt::Answered(code) if code >= 500 => {
                            panic!("{marker} refused with {code}")
                        }
                        Attempt::Answered(_) => {}
                        // Down, or cut after the data: the next host (the same Message-ID:
                        // a copy stored before the cut is recognised).
                        Attempt::Failed | Attempt::Lost => host = 1 - host,
                    }
                    assert!(
                        tokio::time::Instant::now() < give_up,
                        "{marker} never got in"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    a.kill();
    killed.store(true, std::sync::atomic::Ordering::SeqCst);
    for sender in senders {
        sender.await.expect("sender");
    }
    let accepted = accepted.lock().unwrap().clone();
    let total = CONVERSATIONS * PER_CONVERSATION;
    assert_eq!(accepted.len(), total);
    let by_a = accepted.values().filter(|h| **h == "A").count();
    assert!(by_a > 0, "A took nothing before it was killed");
    assert!(
        b_after_kill.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "B took nothing after A was killed"
    );

    // Every acknowledged email stored once, and every file it refers to in the store.
    let stored_files = files.names().await;
    let mut stored: HashMap<String, usize> = HashMap::new();
    for (_, _, conversation) in &threads {
        for m in b.messages(conversation).await {
            let body = m["body_text"].as_str().unwrap_or("");
            if let Some(at) = body.find("scalemark") {
                *stored.entry(body[at..at + 14].to_string()).or_default() += 1;
                for file in m["attachments"].as_array().unwrap() {
                    let id = file["id"].as_str().unwrap();
                    let bytes = get(&b, &format!("/attachments/{id}"))
                        .await
                        .bytes()
                        .await
                        .unwrap();
                    assert!(
                        stored_files.contains(&sha256_hex(&bytes)),
                        "{id}: its file is not in the store"
                    );
                }
            }
        }
    }
    for marker in accepted.keys() {
        assert_eq!(
            stored.get(marker),
            Some(&1),
            "{marker} stored {:?} times",
            stored.get(marker)
        );
    }
    eprintln!(
        "{total} emails with a file each: {by_a} taken by A before its SIGKILL, the rest by B \
         ({} after the kill); each stored once with its file in the store",
        b_after_kill.load(std::sync::atomic::Ordering::SeqCst)
    );
    b.kill();
    drop(files);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_whose_file_cannot_be_stored_is_answered_451_and_nothing_is_kept() {
    let Some(url) = postgres() else { return };
    let db = TestDb::postgres(&url).await;
    let files = files_for("s3", &db).await;
    let mut gateway = gateway(&db, &files, &[]);
    gateway.start().await;
    let thread = gateway.first_thread("carl@client.test", "Invoice").await;
    drop(files); // the object store goes away
    let to = thread.notification.reply_to();
    let irt = thread
        .notification
        .header("Message-ID")
        .unwrap()
        .to_string();
    let data = reply_with_file("carl@client.test", &to, &irt, 7, &pdf(7));
    let started = std::time::Instant::now();
    let answer = attempt(gateway.smtp, "carl@client.test", &to, &data).await;
    assert!(matches!(answer, Attempt::Answered(451)), "not a 451");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let messages = gateway.messages(&thread.conversation).await;
    let texts: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["body_text"].as_str())
        .collect();
    assert!(!texts.iter().any(|t| t.contains("scalemark")), "{texts:?}");
    gateway.kill();
    db.cleanup().await;
}

/// The reply address of the first notification `client` got, from whichever gateway sent it.
async fn reply_address(client: &str, gateways: &[&Gateway]) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        for gateway in gateways {
            if let Some(email) = outbox_emails(&gateway.outbox, client).first() {
                return email.reply_to();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no notification to {client}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_and_a_domain_added_on_one_gateway_hold_on_the_other_at_once() {
    let Some(url) = postgres() else { return };
    let db = TestDb::postgres(&url).await;
    // No --admin-token: the first gateway makes one, the second takes the same.
    let mut a = Gateway::new(&db, &["--tick", "1h"]);
    a.without_flag("--admin-token");
    a.start().await;
    let mut b = Gateway::new(&db, &["--tick", "1h"]);
    b.without_flag("--admin-token");
    b.start().await;
    let token = std::fs::read_to_string(a.data_dir.join("admin-token")).unwrap();
    let token = token.trim();
    assert_eq!(
        std::fs::read_to_string(b.data_dir.join("admin-token"))
            .unwrap()
            .trim(),
        token
    );
    let (status, agent) = b
        .api_as(
            token,
            reqwest::Method::POST,
            "/people",
            Some(json!({"email": "agnes@team.test", "name": "Agnes", "role": "internal"})),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    let (status, _) = a
        .api_as(ADMIN_TOKEN, reqwest::Method::GET, "/domains", None)
        .await;
    assert_eq!(status, 401, "a wrong token is still wrong");

    // A domain added through A, used through B at once (B reads the domains again on a miss;
    // its scheduler, which would re-read them every tick, is idle here).
    let (status, domain) = a
        .api_as(
            token,
            reqwest::Method::POST,
            "/domains",
            Some(json!({"name": "brand.test"})),
        )
        .await;
    assert_eq!(status, 201, "{domain}");
    let (status, conversation) = b
        .api_as(
            token,
            reqwest::Method::POST,
            "/conversations",
            Some(json!({"subject": "Hello", "created_by": agent["id"], "domain": "brand.test"})),
        )
        .await;
    assert_eq!(status, 201, "{conversation}");
    let (status, _) = b
        .api_as(
            token,
            reqwest::Method::POST,
            "/conversations",
            Some(json!({"subject": "Hello", "created_by": agent["id"], "domain": "nowhere.test"})),
        )
        .await;
    assert_eq!(status, 422);
    a.kill();
    b.kill();
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_starting_together_on_a_stale_search_index_rebuild_it_once_and_never_backwards() {
    let Some(url) = postgres() else { return };
    let db = TestDb::postgres(&url).await;
    let mut first = Gateway::new(&db, &[]);
    first.start().await;
    let thread = first
        .first_thread("carl@client.test", "Quarterly flamingo audit")
        .await;
    first.kill();
    // An index from an older analyzer: both processes see it stale at once, and both reach
    // the rebuild while the index's rows are held, so that their rebuilds would overlap.
    raw_sql(&db, "UPDATE search_state SET analyzer_version = 0").await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let mut hold = pool.begin().await.unwrap();
    sqlx::query("SELECT doc_id FROM search_docs FOR UPDATE")
        .fetch_all(&mut *hold)
        .await
        .unwrap();
    let (mut a, mut b) = (Gateway::new(&db, &[]), Gateway::new(&db, &[]));
    let release = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        hold.commit().await.unwrap();
    };
    tokio::join!(a.start(), b.start(), release);
    for gateway in [&a, &b] {
        let found = gateway
            .api(reqwest::Method::GET, "/search?q=flamingo", None)
            .await;
        let ids: Vec<&str> = found["results"]
            .as_array()
            .unwrap_or_else(|| panic!("{found}"))
            .iter()
            .filter_map(|r| r["conversation"]["id"].as_str())
            .collect();
        assert_eq!(ids, vec![thread.conversation.as_str()], "{found}");
    }
    a.kill();
    b.kill();
    // An index from a newer version (a rolling upgrade half done): an older process leaves it.
    raw_sql(&db, "UPDATE search_state SET analyzer_version = 999").await;
    let mut old = Gateway::new(&db, &[]);
    old.start().await;
    let version: i64 = sqlx::query_scalar("SELECT analyzer_version FROM search_state")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(version, 999);
    pool.close().await;
    old.kill();
    db.cleanup().await;
}

fn threadgate(args: &[&str], env: &[(String, String)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_threadgate"))
        .args(args)
        .envs(env.iter().cloned())
        .env("THREADGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("run threadgate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_migrate_from_a_local_directory_to_s3_verified_and_unreferenced_ones_are_swept() {
    let Some(url) = postgres() else { return };
    let db = TestDb::postgres(&url).await;
    let s3 = S3Server::start("moved").await;
    // One machine with local files, as installations start.
    let mut local = Gateway::new(&db, &[]);
    local.start().await;
    let thread = local.first_thread("carl@client.test", "Invoice").await;
    let irt = thread
        .notification
        .header("Message-ID")
        .unwrap()
        .to_string();
    let to = thread.notification.reply_to();
    for n in 1..=2 {
        let data = reply_with_file("carl@client.test", &to, &irt, n, &pdf(n));
        let answer = attempt(local.smtp, "carl@client.test", &to, &data).await;
        assert!(matches!(answer, Attempt::Answered(250)));
    }
    local.kill();
    let data_dir = local.data_dir.display().to_string();
    let base = [
        "--data-dir",
        data_dir.as_str(),
        "--database-url",
        db.url.as_str(),
    ];
    let damaged = sha256_hex(&pdf(2));
    let damaged_path = local
        .data_dir
        .join("attachments")
        .join(&damaged[..2])
        .join(&damaged);
    std::fs::write(&damaged_path, b"bit rot").unwrap();

    // A damaged file is named, not copied, and the migration fails.
    let mut args = vec!["blobs", "migrate", "--to", "s3://moved/files"];
    args.extend_from_slice(&base);
    let out = threadgate(&args, &s3.env());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("damaged in local") && stderr.contains(&damaged),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("missing: {damaged}")), "{stderr}");
    assert_eq!(
        s3.object(&format!("files/{}/{damaged}", &damaged[..2]))
            .await,
        None
    );

    // Mended, it copies what is missing and verifies everything.
    std::fs::write(&damaged_path, pdf(2)).unwrap();
    let out = threadgate(&args, &s3.env());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 files copied, 1 there already, 2 referenced"),
        "{stdout}"
    );
    for n in 1..=2 {
        let sha = sha256_hex(&pdf(n));
        assert_eq!(
            s3.object(&format!("files/{}/{sha}", &sha[..2])).await,
            Some(pdf(n))
        );
    }
    // An unknown store is refused, naming the flag.
    let mut bad = vec!["blobs", "migrate", "--to", "ftp://x"];
    bad.extend_from_slice(&base);
    let out = threadgate(&bad, &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--to"));

    // The gateway on the bucket serves the files, with the local directory gone.
    std::fs::remove_dir_all(local.data_dir.join("attachments")).unwrap();
    let mut moved = Gateway::at(
        &local.data_dir,
        &db.url,
        &["--blob-store", "s3://moved/files"],
    );
    moved.env = s3.env();
    moved.start().await;
    let ids: Vec<String> = moved
        .messages(&thread.conversation)
        .await
        .iter()
        .flat_map(|m| m["attachments"].as_array().cloned().unwrap_or_default())
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    for id in &ids {
        assert_eq!(
            get(&moved, &format!("/attachments/{id}")).await.status(),
            200
        );
    }

    // A backup reads the files from the bucket.
    let zip_path = tempfile::tempdir().unwrap();
    let output = zip_path.path().join("backup.zip");
    let mut backup = vec![
        "backup",
        "--output",
        output.to_str().unwrap(),
        "--blob-store",
        "s3://moved/files",
    ];
    backup.extend_from_slice(&base);
    let out = threadgate(&backup, &s3.env());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&output).unwrap()).unwrap();
    for n in 1..=2 {
        let mut kept = Vec::new();
        archive
            .by_name(&format!("attachments/{}", sha256_hex(&pdf(n))))
            .unwrap()
            .read_to_end(&mut kept)
            .unwrap();
        assert_eq!(kept, pdf(n));
    }

    // A file nothing refers to (left by hand, or by an email that failed after its files were
    // stored) is swept once older than --older-than; referenced ones stay.
    let stray = b"%PDF-1.4\n% nobody refers to me\n".to_vec();
    let stray_sha = sha256_hex(&stray);
    let stray_key = format!("files/{}/{stray_sha}", &stray_sha[..2]);
    s3.put_object(&stray_key, stray.clone()).await;
    let mut sweep = vec!["blobs", "sweep", "--blob-store", "s3://moved/files"];
    sweep.extend_from_slice(&base);
    let mut young = sweep.clone();
    young.extend_from_slice(&["--older-than", "1h"]);
    let out = threadgate(&young, &s3.env());
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 unreferenced files removed"));
    assert_eq!(s3.object(&stray_key).await, Some(stray));
    tokio::time::sleep(Duration::from_millis(50)).await;
    sweep.extend_from_slice(&["--older-than", "1ms"]);
    let out = threadgate(&sweep, &s3.env());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 unreferenced files removed"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s3.object(&stray_key).await, None);
    for id in &ids {
        assert_eq!(
            get(&moved, &format!("/attachments/{id}")).await.status(),
            200
        );
    }
    moved.kill();
    db.cleanup().await;
}
