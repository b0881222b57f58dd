//! Erasing a person (GDPR article 17) on every backend, through the API and the command line:
//! afterwards the conversations read with a pseudonym, nothing of the person is found (on
//! SQLite: not one byte of their address, name, text or file in the database file, its WAL or
//! the attachments directory), their address is a stranger's again, and a process killed
//! between the erasure's commit and the unlinking of its files leaves nothing behind once it
//! starts again.

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

const AGNES: &str = "agnes@team.test";
const CARL: &str = "carl.quillfeather@client.test";
const CARL_PHONE: &str = "quillfeather.mobile@phone.test";
const CARL_NAME: &str = "Carl Quillfeather";
const DORA: &str = "dora@client.test";
/// What Carl writes: words found nowhere else.
const CARL_EMAIL_TEXT: &str = "Zanzibar marmalade shipment is late again";
const CARL_WEB_TEXT: &str = "Xylophonic gazebo measurements attached";
/// The file Carl sends.
const CARL_FILE: &[u8] = b"%PDF-1.4 quillfeather private floor plan 7741";

struct Scene {
    app: TestApp,
    agnes: String,
    carl: String,
    dora: String,
    conversation: String,
}

async fn scene(db: &TestDb) -> Scene {
    let app = spawn_app(db, &[]).await;
    let agnes = app.person(AGNES, "Agnes Agent", "internal").await;
    let carl = app.person(CARL, CARL_NAME, "client").await;
    let dora = app.person(DORA, "Dora Client", "client").await;
    for who in [&agnes, &dora] {
        let (status, _) = app
            .patch(
                &format!("/people/{who}"),
                json!({"notifications": "immediate"}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = app
        .post(
            &format!("/people/{carl}/addresses"),
            json!({"email": CARL_PHONE, "verified": true}),
        )
        .await;
    assert_eq!(status, 201);
    let conversation = app
        .conversation("Veranda works", &agnes, &[&carl, &dora])
        .await;
    app.say(&conversation, &agnes, "When can we come by?", "message")
        .await;
    let to_carl = app.wait_for_emails(CARL, 1).await.remove(0);
    let reply = format!(
        "From: {CARL_NAME} <{CARL}>\r\nTo: {to}\r\nSubject: Re: Veranda works\r\n\
Message-ID: <q1@client.test>\r\nIn-Reply-To: {irt}\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{CARL_EMAIL_TEXT}\r\n\r\n-- \r\n{CARL_NAME}\r\n\
--m\r\nContent-Type: application/pdf; name=\"plan.pdf\"\r\nContent-Disposition: attachment; filename=\"plan.pdf\"\r\n\
\r\n{file}\r\n--m--\r\n",
        to = to_carl.reply_to(),
        irt = to_carl.message_id(),
        file = String::from_utf8_lossy(CARL_FILE),
    );
    assert_eq!(
        app.deliver(CARL, &[&to_carl.reply_to()], &reply).await.code,
        250
    );
    app.say(&conversation, &carl, CARL_WEB_TEXT, "message")
        .await;
    app.say(&conversation, &agnes, "Thanks, noted.", "message")
        .await;
    // Dora and Agnes are emailed what Carl wrote: the outbox keeps copies that quote him.
    hears(&app, DORA, CARL_WEB_TEXT).await;
    hears(&app, DORA, "Thanks, noted.").await;
    app.settle_and_collect(AGNES).await;
    Scene {
        app,
        agnes,
        carl,
        dora,
        conversation,
    }
}

/// Agnes's message with a file whose content is `sha` (a row committed by a writer).
async fn refer_to(app: &TestApp, conversation: &str, agnes: &str, sha: &str, size: usize) {
    use threadgate::store::{NewAttachment, NewMessage};
    let mut message = NewMessage::typed(
        conversation,
        agnes,
        threadgate::domain::MessageKind::Message,
        "The same plan again".to_string(),
        threadgate::domain::Source::Api,
    );
    message.attachments = vec![NewAttachment {
        id: threadgate::domain::Id::generate(threadgate::domain::IdKind::Attachment),
        filename: "plan.pdf".to_string(),
        content_type: "application/pdf".to_string(),
        size: size as i64,
        sha256: sha.to_string(),
        content_id: None,
        inline: false,
        omitted: None,
    }];
    app.store.append_message(message).await.unwrap();
}

/// The removal protocol of `blobs::removal`, with the interleavings a concurrent writer of the
/// same content can meet: a file is listed for removal, then removed; a writer stores the same
/// bytes and commits a row referring to them at any point in between.
#[tokio::test]
async fn a_file_removed_while_a_writer_refers_to_the_same_content_again_is_kept_or_written_again() {
    use threadgate::blobs::{BlobStore, removal};
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agnes = app.person(AGNES, "Agnes Agent", "internal").await;
        let conversation = app.conversation("Plans", &agnes, &[]).await;
        let blobs = BlobStore::local(app.data_dir.path().join("attachments"));
        let file = b"%PDF-1.4 the plan everyone sends".to_vec();

        // 1. The writer stored the file before the removal, commits after the remover's check:
        //    its question after the commit finds the removal and it writes the file again.
        let sha = blobs.put(&file).await.unwrap();
        assert!(app.store.queue_blob_removal(&sha).await.unwrap());
        assert_eq!(
            removal::remove_pending(&app.store, &blobs).await.unwrap(),
            1
        );
        assert_eq!(blobs.get(&sha).await.unwrap(), None);
        refer_to(&app, &conversation, &agnes, &sha, file.len()).await;
        let again = removal::to_write_again(&app.store, std::slice::from_ref(&sha))
            .await
            .unwrap();
        assert_eq!(again, vec![sha.clone()], "{}", db.backend);
        blobs.put(&file).await.unwrap();
        // Referred to now: a removal listed later keeps it.
        assert!(!app.store.queue_blob_removal(&sha).await.unwrap());
        assert_eq!(
            removal::remove_pending(&app.store, &blobs).await.unwrap(),
            0
        );
        assert_eq!(blobs.get(&sha).await.unwrap(), Some(file.clone()));

        // 2. A remover holds the file (claimed, checked: nothing referred to it) when the
        //    writer commits: the writer waits for the end of the claim, then writes the file
        //    again. A second remover meanwhile cannot take the file from the first.
        let other = b"%PDF-1.4 another plan".to_vec();
        let sha = blobs.put(&other).await.unwrap();
        assert!(app.store.queue_blob_removal(&sha).await.unwrap());
        assert!(app.store.claim_blob_removal(&sha, 30_000).await.unwrap());
        assert!(!app.store.blob_referenced(&sha).await.unwrap());
        refer_to(&app, &conversation, &agnes, &sha, other.len()).await;
        let store = app.store.clone();
        let shas = vec![sha.clone()];
        let writer = tokio::spawn(async move { removal::to_write_again(&store, &shas).await });
        assert_eq!(
            removal::remove_pending(&app.store, &blobs).await.unwrap(),
            0
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!writer.is_finished(), "the writer waits for the remover");
        // The holder deletes the file (as `removal::remove_pending` does) and says so.
        let path = app
            .data_dir
            .path()
            .join("attachments")
            .join(&sha[..2])
            .join(&sha);
        std::fs::remove_file(path).unwrap();
        app.store.blob_removal_done(&sha, true, 0).await.unwrap();
        assert_eq!(
            writer.await.unwrap().unwrap(),
            vec![sha.clone()],
            "{}",
            db.backend
        );
        blobs.put(&other).await.unwrap();
        assert_eq!(blobs.get(&sha).await.unwrap(), Some(other));

        // 2b. Listed again after a removal, with a writer's reference landing before the new
        //     check: the file is kept, and the earlier removal still tells the writer.
        let third = b"%PDF-1.4 a third plan".to_vec();
        let sha = blobs.put(&third).await.unwrap();
        assert!(app.store.queue_blob_removal(&sha).await.unwrap());
        assert_eq!(
            removal::remove_pending(&app.store, &blobs).await.unwrap(),
            1
        );
        assert!(app.store.queue_blob_removal(&sha).await.unwrap());
        refer_to(&app, &conversation, &agnes, &sha, third.len()).await;
        assert_eq!(
            removal::remove_pending(&app.store, &blobs).await.unwrap(),
            0
        );
        let again = removal::to_write_again(&app.store, std::slice::from_ref(&sha))
            .await
            .unwrap();
        assert_eq!(again, vec![sha.clone()], "{}", db.backend);

        // 3. Nothing listed: a writer's question costs one read and asks for nothing.
        let fresh = blobs.put(b"%PDF-1.4 fresh").await.unwrap();
        assert!(
            removal::to_write_again(&app.store, &[fresh])
                .await
                .unwrap()
                .is_empty()
        );
        app.stop().await;
        db.cleanup().await;
    }
}

/// Waits until an email to `who` holds `text`.
async fn hears(app: &TestApp, who: &str, text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !outbox_emails(&app.outbox_dir(), who)
        .iter()
        .any(|e| e.text.contains(text))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{who} hears {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The marks of Carl that must be gone, as bytes (and lowercased, as keys are stored).
fn carl_marks() -> Vec<Vec<u8>> {
    let mut marks: Vec<Vec<u8>> = [
        CARL,
        CARL_PHONE,
        CARL_NAME,
        "Quillfeather",
        "quillfeather",
        CARL_EMAIL_TEXT,
        CARL_WEB_TEXT,
        "Zanzibar",
        "zanzibar",
        "xylophonic",
        "gazebo",
        "marmalade",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    marks.push(CARL_FILE.to_vec());
    marks
}

#[tokio::test]
async fn an_erased_person_leaves_a_pseudonym_and_nothing_else() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let app = &s.app;
        let before = app.messages(&s.conversation).await;
        assert_eq!(before.len(), 4, "{}", db.backend);
        let attachments_dir = app.data_dir.path().join("attachments");
        assert_eq!(files_under(&attachments_dir).len(), 1);
        let emailed_to_carl = app.settle_and_collect(CARL).await.len();

        let (status, erased) = app
            .post(&format!("/people/{}/erase", s.carl), json!({}))
            .await;
        assert_eq!(status, 200, "{}: {erased}", db.backend);
        assert_eq!(erased["person_id"], s.carl.as_str());
        assert_eq!(erased["name"], "Erased person 1");
        assert_eq!(erased["erased_by"], "admin");
        assert_eq!(erased["removed"]["messages"], 2, "{erased}");
        assert_eq!(erased["removed"]["attachments"], 1, "{erased}");
        assert_eq!(erased["removed"]["addresses"], 1, "{erased}");
        assert!(erased["removed"]["inbound_emails"].as_u64().unwrap() >= 1);
        assert!(erased["removed"]["outbox_emails"].as_u64().unwrap() >= 1);

        // Twice, or an unknown id: 404 with a JSON error. The person is unknown to the API.
        for id in [s.carl.as_str(), "per_aaaaaaaaaaaaaaaa"] {
            let (status, body) = app.post(&format!("/people/{id}/erase"), json!({})).await;
            assert_eq!(status, 404, "{body}");
            assert_eq!(body["error"]["code"], "not_found", "{body}");
        }
        assert_eq!(app.get(&format!("/people/{}", s.carl)).await.0, 404);
        let (_, listed) = app.get("/people?q=quill").await;
        assert_eq!(listed["people"].as_array().unwrap().len(), 0, "{listed}");

        // The conversation stays readable: the others' messages as they were, Carl's as
        // erased under the pseudonym, the same number of entries.
        let after = app.messages(&s.conversation).await;
        assert_eq!(after.len(), before.len());
        let text = serde_json::to_string(&after).unwrap();
        assert!(text.contains("When can we come by?") && text.contains("Thanks, noted."));
        for mark in carl_marks() {
            let mark = String::from_utf8_lossy(&mark).to_string();
            assert!(!text.contains(&mark), "{mark} in {text}");
        }
        let (_, conversation) = app.get(&format!("/conversations/{}", s.conversation)).await;
        assert!(!conversation.to_string().contains(CARL), "{conversation}");
        // Nothing of his is found; his erased messages cannot be restored.
        let (_, found) = app.get("/search?q=zanzibar").await;
        assert_eq!(found["results"].as_array().unwrap().len(), 0, "{found}");
        let (_, found) = app.get("/search?q=quillfeather").await;
        assert_eq!(found["results"].as_array().unwrap().len(), 0, "{found}");
        let carls: Vec<&Value> = after
            .iter()
            .filter(|m| m["author_id"] == s.carl.as_str())
            .collect();
        assert_eq!(carls.len(), 2);
        let (status, body) = app
            .post(
                &format!("/messages/{}/restore", carls[0]["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert_eq!(status, 409, "{body}");

        // One record says it happened: when, by whom, nothing of him.
        let (_, record) = app.get("/erasures").await;
        assert_eq!(record["erasures"].as_array().unwrap().len(), 1, "{record}");
        assert_eq!(record["erasures"][0]["person_id"], s.carl.as_str());
        assert_eq!(record["erasures"][0]["erased_by"], "admin");
        assert!(!record.to_string().contains("uillfeather"), "{record}");

        // His file is gone from disk; the others are still emailed, he is not.
        assert_eq!(files_under(&attachments_dir).len(), 0);
        app.say(&s.conversation, &s.agnes, "Anyone still here?", "message")
            .await;
        hears(app, DORA, "Anyone still here?").await;
        assert_eq!(
            app.settle_and_collect(CARL).await.len(),
            emailed_to_carl,
            "nothing is emailed to him any more"
        );

        // An email from his address is a stranger's: his old reply address leads nowhere and
        // his address is free to be someone new.
        let old = app.settle_and_collect(CARL).await.remove(0);
        let again = reply_email(
            CARL,
            &old.reply_to(),
            "<q2@client.test>",
            &old.message_id(),
            "It is me again",
        );
        app.deliver(CARL, &[&old.reply_to()], &again).await;
        let messages = app.messages(&s.conversation).await;
        assert!(
            !messages
                .iter()
                .any(|m| m.to_string().contains("It is me again")),
            "{messages:?}"
        );
        let (status, someone) = app
            .post(
                "/people",
                json!({"email": CARL, "name": "Someone New", "role": "client"}),
            )
            .await;
        assert_eq!(status, 201, "{someone}");
        assert_ne!(someone["id"], s.carl.as_str());
        assert_ne!(someone["id"], s.dora.as_str());

        // An export of the conversation names the pseudonym, never him.
        let exported = app
            .http_client
            .get(app.url(&format!(
                "/conversations/{}/export?format=json",
                s.conversation
            )))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(exported.contains("Erased person 1"), "{exported}");
        for mark in [CARL, CARL_NAME, CARL_EMAIL_TEXT, CARL_WEB_TEXT] {
            assert!(!exported.contains(mark), "{mark} in {exported}");
        }
        s.app.stop().await;
    }
}

/// SQLite: no byte of Carl in the database file, its WAL or the attachments directory.
#[tokio::test]
async fn on_sqlite_no_byte_of_the_person_is_left_on_disk() {
    let db = TestDb::sqlite().await;
    let s = scene(&db).await;
    let db_path = PathBuf::from(db.url.trim_start_matches("sqlite://"));
    let attachments_dir = s.app.data_dir.path().join("attachments");
    let read_all = || {
        let mut files = vec![
            db_path.clone(),
            PathBuf::from(format!("{}-wal", db_path.display())),
        ];
        files.extend(files_under(&attachments_dir));
        files
            .into_iter()
            .map(|f| (f.clone(), std::fs::read(&f).unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    // Before: he is there (the test would prove nothing otherwise).
    let before = read_all();
    for mark in [CARL.as_bytes(), CARL_NAME.as_bytes(), CARL_FILE] {
        assert!(
            before.iter().any(|(_, bytes)| contains(bytes, mark)),
            "{} is on disk before",
            String::from_utf8_lossy(mark)
        );
    }
    let (status, body) = s
        .app
        .post(&format!("/people/{}/erase", s.carl), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    for (file, bytes) in read_all() {
        for mark in carl_marks() {
            assert!(
                !contains(&bytes, &mark),
                "{} still holds {:?}",
                file.display(),
                String::from_utf8_lossy(&mark)
            );
        }
    }
    s.app.stop().await;
}

/// The command line asks to confirm (unless --yes); a process killed between the erasure's
/// commit and the unlinking of its files leaves the files listed, and the next start removes
/// them. The kill lands in that window for certain: a reader holding an older snapshot
/// (SQLite) or a lock on a vacuumed table (PostgreSQL) keeps the process in the step between.
#[tokio::test]
async fn a_kill_between_commit_and_unlinking_leaves_nothing_after_the_next_start() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let data_dir = s.app.data_dir.path().to_path_buf();
        let attachments_dir = data_dir.join("attachments");
        assert_eq!(files_under(&attachments_dir).len(), 1);
        let cli = |extra: &[&str]| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_threadgate"));
            command
                .args(["person", "erase", &s.carl])
                .args(extra)
                .args(["--database-url", &db.url, "--admin-token", ADMIN_TOKEN])
                .arg("--data-dir")
                .arg(&data_dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            command
        };

        // Not confirmed: nothing happens.
        let mut asked = cli(&[]).spawn().unwrap();
        {
            use std::io::Write;
            asked.stdin.take().unwrap().write_all(b"no\n").unwrap();
        }
        let out = asked.wait_with_output().unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was erased"));
        assert_eq!(s.app.get(&format!("/people/{}", s.carl)).await.0, 200);

        // Hold the step after the commit, confirm, and kill the process inside it.
        let blocker = Blocker::hold(&db).await;
        let mut erasing = cli(&[]).spawn().unwrap();
        {
            use std::io::Write;
            erasing.stdin.take().unwrap().write_all(b"yes\n").unwrap();
        }
        let committed = async {
            loop {
                if erased_at(&db, &s.carl).await.is_some() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), committed)
            .await
            .expect("the erasure commits");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            erasing.try_wait().unwrap().is_none(),
            "the process is held between commit and unlinking"
        );
        erasing.kill().unwrap();
        erasing.wait().unwrap();
        blocker.release().await;
        assert_eq!(
            files_under(&attachments_dir).len(),
            1,
            "{}: killed before unlinking",
            db.backend
        );

        // The next start unlinks it.
        let restarted = threadgate::app::App::build(config(&data_dir, &db.url, &[]))
            .await
            .expect("the gateway starts again");
        assert_eq!(files_under(&attachments_dir).len(), 0, "{}", db.backend);
        drop(restarted);
        assert_eq!(s.app.get(&format!("/people/{}", s.carl)).await.0, 404);
        s.app.stop().await;
    }
}

async fn erased_at(db: &TestDb, id: &str) -> Option<i64> {
    let query = "SELECT erased_at FROM people WHERE id = $1";
    if db.backend == "sqlite" {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        let at: Option<i64> = sqlx::query_scalar(query)
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        at
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let at: Option<i64> = sqlx::query_scalar(query)
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        at
    }
}

/// Keeps an erasure between its commit and its files: on SQLite a read transaction on an
/// older snapshot (the WAL cannot be truncated under it), on PostgreSQL a lock that VACUUM of
/// `people` waits for.
enum Blocker {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl Blocker {
    async fn hold(db: &TestDb) -> Blocker {
        if db.backend == "sqlite" {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let mut conn = pool.acquire().await.unwrap();
            sqlx::raw_sql("BEGIN").execute(&mut *conn).await.unwrap();
            let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM people")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            Blocker::Sqlite(conn)
        } else {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let mut conn = pool.acquire().await.unwrap();
            sqlx::raw_sql("BEGIN; LOCK TABLE people IN SHARE UPDATE EXCLUSIVE MODE")
                .execute(&mut *conn)
                .await
                .unwrap();
            Blocker::Postgres(conn)
        }
    }

    async fn release(self) {
        match self {
            Blocker::Sqlite(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.unwrap();
            }
            Blocker::Postgres(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.unwrap();
            }
        }
    }
}
