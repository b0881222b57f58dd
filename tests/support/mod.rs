//! Shared test harness: fresh databases on every backend, a running gateway on random ports,
//! API and SMTP clients, and the outbox as files.
#![allow(dead_code)]

pub mod dkim;
pub mod dns;
pub mod process;
pub mod s3;
pub mod web;

use clap::Parser;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use threadgate::app::App;
use threadgate::config::{Cli, Command, Config};
use threadgate::domain::{Clock, SystemClock};
use threadgate::store::Store;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A database for one test: a SQLite file in a temp dir, or a new PostgreSQL database.
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        TestDb {
            url: format!("sqlite://{}", dir.path().join("test.db").display()),
            backend: "sqlite",
            _dir: Some(dir),
            pg_admin: None,
        }
    }

    /// A fresh database on the server named by `TEST_DATABASE_URL`.
    pub async fn postgres(admin_url: &str) -> TestDb {
        let name = format!("tg_test_{}", threadgate::domain::random_base32(8));
        let pool = sqlx::PgPool::connect(admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .expect("create test database");
        pool.close().await;
        let base = match admin_url.rfind('/') {
            Some(i) if i > "postgres://".len() => &admin_url[..i],
            _ => admin_url,
        };
        TestDb {
            url: format!("{base}/{name}"),
            backend: "postgres",
            _dir: None,
            pg_admin: Some((admin_url.to_string(), name)),
        }
    }

    /// Another fresh database on the same backend (a second gateway in the same test).
    pub async fn sibling(&self) -> TestDb {
        match &self.pg_admin {
            Some((admin, _)) => TestDb::postgres(admin).await,
            None => TestDb::sqlite().await,
        }
    }

    /// Drops the PostgreSQL database now (SQLite files go with their temp dir). Dropping a
    /// `TestDb` does the same, also when a test panics.
    pub async fn cleanup(mut self) {
        if let Some((admin, name)) = self.pg_admin.take() {
            drop_pg_database(&admin, &name).await;
        }
    }
}

async fn drop_pg_database(admin: &str, name: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(admin).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&pool)
        .await;
        pool.close().await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_admin.take() {
            // Drop may run inside a runtime (or while unwinding): use a thread of its own.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(drop_pg_database(&admin, &name));
                }
            })
            .join();
        }
    }
}

/// SQLite always; PostgreSQL too when `TEST_DATABASE_URL` is set.
pub async fn test_databases() -> Vec<TestDb> {
    let mut dbs = vec![TestDb::sqlite().await];
    if let Ok(url) = std::env::var("TEST_DATABASE_URL")
        && !url.is_empty()
    {
        dbs.push(TestDb::postgres(&url).await);
    }
    dbs
}

/// Runs SQL on the test database behind the application's back (to make a row invalid the
/// way a bug, an older version or a hand edit would). On SQLite, CHECK constraints are not
/// enforced for these statements.
pub async fn raw_sql(db: &TestDb, sql: &str) {
    if db.url.starts_with("sqlite:") {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&db.url)
            .await
            .expect("sqlite");
        sqlx::raw_sql("PRAGMA ignore_check_constraints = ON")
            .execute(&mut conn)
            .await
            .expect("pragma");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .expect("raw sql");
    } else {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url)
            .await
            .expect("postgres");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .expect("raw sql");
    }
}

/// Drops the CHECK constraints of `table` on PostgreSQL (SQLite's are ignored by
/// [`raw_sql`]), so a test can store a value no code path would.
pub async fn drop_checks(db: &TestDb, table: &str) {
    if db.url.starts_with("postgres") {
        raw_sql(
            db,
            &format!(
                "DO $$ DECLARE r record; BEGIN
                   FOR r IN SELECT conname FROM pg_constraint
                            WHERE conrelid = '{table}'::regclass AND contype = 'c' LOOP
                     EXECUTE 'ALTER TABLE {table} DROP CONSTRAINT ' || quote_ident(r.conname);
                   END LOOP;
                 END $$;"
            ),
        )
        .await;
    }
}

pub async fn store(db: &TestDb) -> Store {
    store_with_clock(db, Arc::new(SystemClock)).await
}

pub async fn store_with_clock(db: &TestDb, clock: Arc<dyn Clock>) -> Store {
    Store::connect(&db.url, clock).await.expect("connect store")
}

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub fn config(data_dir: &Path, database_url: &str, extra: &[&str]) -> Config {
    let data_dir = data_dir.display().to_string();
    let defaults: [(&str, &str); 8] = [
        ("--data-dir", &data_dir),
        ("--database-url", database_url),
        ("--smtp-listen", "127.0.0.1:0"),
        ("--http-listen", "127.0.0.1:0"),
        ("--admin-token", ADMIN_TOKEN),
        ("--tick", "100ms"),
        ("--reply-domain", "reply.test"),
        ("--from-address", "notifications@gateway.test"),
    ];
    let mut argv = vec!["threadgate", "serve"];
    // A flag given in `extra` replaces its default (clap refuses a flag given twice).
    for (flag, value) in defaults {
        if !extra
            .iter()
            .any(|e| *e == flag || e.starts_with(&format!("{flag}=")))
        {
            argv.push(flag);
            argv.push(value);
        }
    }
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).expect("test flags parse").command {
        Command::Serve(args) => args.into_config().expect("test config is valid"),
        _ => unreachable!("serve was parsed"),
    }
}

/// A gateway running in this process on random ports.
pub struct TestApp {
    pub smtp: std::net::SocketAddr,
    pub http: std::net::SocketAddr,
    pub data_dir: tempfile::TempDir,
    pub store: Store,
    pub http_client: reqwest::Client,
    /// The supervised background loops (restart one by name).
    pub health: threadgate::supervise::Health,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app(db: &TestDb, extra: &[&str]) -> TestApp {
    spawn_app_with_clock(db, extra, Arc::new(SystemClock)).await
}

/// A gateway whose store (and so scheduler and outbox) reads time from `clock`.
pub async fn spawn_app_with_clock(db: &TestDb, extra: &[&str], clock: Arc<dyn Clock>) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let app = App::build_with_clock(config(data_dir.path(), &db.url, extra), clock)
        .await
        .expect("app builds");
    let (smtp, http, store) = (app.smtp_addr(), app.http_addr(), app.store().clone());
    let health = app.health().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        smtp,
        http,
        data_dir,
        store,
        http_client: reqwest::Client::new(),
        health,
        stop: Some(tx),
        task: Some(task),
    }
}

impl TestApp {
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("app task").expect("app stops cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/api/v1{}", self.http, path)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http_client
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("http request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http_client
            .patch(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("http request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A POST without a body; the status.
    pub async fn post_status(&self, path: &str) -> u16 {
        self.bodyless(reqwest::Method::POST, path).await
    }

    pub async fn delete(&self, path: &str) -> u16 {
        self.bodyless(reqwest::Method::DELETE, path).await
    }

    async fn bodyless(&self, method: reqwest::Method, path: &str) -> u16 {
        self.http_client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("http request")
            .status()
            .as_u16()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http_client
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("http request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn person(&self, email: &str, name: &str, role: &str) -> String {
        let (status, body) = self
            .post(
                "/people",
                json!({"email": email, "name": name, "role": role}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    pub async fn conversation(
        &self,
        subject: &str,
        created_by: &str,
        participants: &[&str],
    ) -> String {
        let (status, body) = self
            .post(
                "/conversations",
                json!({"subject": subject, "created_by": created_by, "participants": participants}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    pub async fn say(&self, conversation: &str, author: &str, body: &str, kind: &str) -> String {
        let (status, resp) = self
            .post(
                &format!("/conversations/{conversation}/messages"),
                json!({"author_id": author, "body": body, "kind": kind}),
            )
            .await;
        assert_eq!(status, 201, "{resp}");
        resp["id"].as_str().unwrap().to_string()
    }

    pub async fn messages(&self, conversation: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/conversations/{conversation}/messages"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["messages"].as_array().unwrap().clone()
    }

    pub async fn inbound(&self) -> Vec<Value> {
        let (status, body) = self.get("/inbound?limit=100").await;
        assert_eq!(status, 200, "{body}");
        body["inbound"].as_array().unwrap().clone()
    }

    /// Sends one email over a fresh SMTP session (EHLO, the transaction, QUIT) and returns the
    /// reply to its data (or to the first refused command).
    pub async fn deliver(&self, from: &str, to: &[&str], data: &str) -> SmtpReply {
        let (mut client, _) = SmtpClient::connect(self.smtp).await;
        client.cmd("EHLO client.test").await;
        let reply = client.send_mail(from, to, data).await;
        client.cmd("QUIT").await;
        reply
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.path().join("outbox")
    }

    /// Waits (up to 10 s) until `count` emails to `recipient` are in the outbox; returns them
    /// oldest first.
    pub async fn wait_for_emails(&self, recipient: &str, count: usize) -> Vec<Email> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let found = outbox_emails(&self.outbox_dir(), recipient);
            if found.len() >= count {
                return found;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "expected {count} emails to {recipient}, found {}",
                    found.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Lets the scheduler and outbox run a few rounds, then returns what `recipient` got.
    pub async fn settle_and_collect(&self, recipient: &str) -> Vec<Email> {
        tokio::time::sleep(Duration::from_millis(600)).await;
        outbox_emails(&self.outbox_dir(), recipient)
    }
}

/// One email found in the file outbox.
#[derive(Debug, Clone)]
pub struct Email {
    pub raw: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub html: String,
    pub modified: std::time::SystemTime,
    /// The file name without `.eml`: the outbox id.
    pub file_stem: String,
}

impl Email {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn reply_to(&self) -> String {
        let value = self.header("Reply-To").expect("Reply-To header");
        value
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string()
    }

    pub fn message_id(&self) -> String {
        self.header("Message-ID")
            .expect("Message-ID header")
            .trim()
            .to_string()
    }

    /// The MIME parts it carries besides its text and HTML bodies, as a mail client sees them.
    pub fn attachments(&self) -> Vec<Carried> {
        use mail_parser::MimeHeaders;
        let parsed = mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("our emails parse");
        parsed
            .attachments()
            .map(|part| Carried {
                filename: part.attachment_name().unwrap_or_default().to_string(),
                content_type: part
                    .content_type()
                    .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")))
                    .unwrap_or_default(),
                content_id: part.content_id().map(str::to_string),
                inline: part
                    .content_disposition()
                    .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline")),
                data: part.contents().to_vec(),
            })
            .collect()
    }
}

/// A file an email carries.
#[derive(Debug, Clone)]
pub struct Carried {
    pub filename: String,
    pub content_type: String,
    pub content_id: Option<String>,
    pub inline: bool,
    pub data: Vec<u8>,
}

pub fn outbox_emails(dir: &Path, recipient: &str) -> Vec<Email> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut emails: Vec<Email> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| {
            let raw = std::fs::read(e.path()).ok()?;
            let modified = e.metadata().ok()?.modified().ok()?;
            let parsed = mail_parser::MessageParser::default().parse(&raw)?;
            let headers = parsed
                .headers_raw()
                .map(|(n, v)| (n.to_string(), v.trim().to_string()))
                .collect();
            let text = parsed
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let html = parsed
                .body_html(0)
                .map(|t| t.into_owned())
                .unwrap_or_default();
            Some(Email {
                file_stem: e.path().file_stem()?.to_string_lossy().into_owned(),
                raw,
                headers,
                text,
                html,
                modified,
            })
        })
        .filter(|e| {
            e.header("To").is_some_and(|to| {
                to.to_ascii_lowercase()
                    .contains(&recipient.to_ascii_lowercase())
            })
        })
        .collect();
    emails.sort_by_key(|e| e.modified);
    emails
}

/// A minimal SMTP client that records every reply, for transcripts.
pub struct SmtpClient {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

/// One reply: its code and full text (all lines).
#[derive(Debug, Clone)]
pub struct SmtpReply {
    pub code: u16,
    pub text: String,
}

impl SmtpClient {
    pub async fn connect(addr: std::net::SocketAddr) -> (SmtpClient, SmtpReply) {
        let stream = TcpStream::connect(addr).await.expect("connect to SMTP");
        SmtpClient::over(stream).await
    }

    /// Connects from local address `local` (another loopback address: another client).
    pub async fn connect_from(
        local: std::net::IpAddr,
        addr: std::net::SocketAddr,
    ) -> (SmtpClient, SmtpReply) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(std::net::SocketAddr::new(local, 0))
            .expect("bind the client");
        let stream = socket.connect(addr).await.expect("connect to SMTP");
        SmtpClient::over(stream).await
    }

    async fn over(stream: TcpStream) -> (SmtpClient, SmtpReply) {
        let (r, w) = stream.into_split();
        let mut client = SmtpClient {
            reader: BufReader::new(r),
            writer: w,
        };
        let greeting = client.read_reply().await.expect("greeting");
        (client, greeting)
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write to SMTP");
    }

    /// Reads one (possibly multi-line) reply; None when the server closed the connection.
    pub async fn read_reply(&mut self) -> Option<SmtpReply> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(20), self.reader.read_line(&mut line))
                .await
                .expect("SMTP reply within 20 s")
                .ok()?;
            if n == 0 {
                return None;
            }
            text.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                let code = line.get(..3)?.parse().ok()?;
                return Some(SmtpReply { code, text });
            }
        }
    }

    pub async fn cmd(&mut self, line: &str) -> SmtpReply {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
        self.read_reply()
            .await
            .unwrap_or_else(|| panic!("no reply to {line:?}"))
    }

    /// Sends a whole message with DATA (dot-stuffed here) and returns the final reply.
    pub async fn send_mail(&mut self, from: &str, to: &[&str], data: &str) -> SmtpReply {
        let r = self.cmd(&format!("MAIL FROM:<{from}>")).await;
        if r.code != 250 {
            return r;
        }
        let mut accepted = 0;
        for rcpt in to {
            if self.cmd(&format!("RCPT TO:<{rcpt}>")).await.code == 250 {
                accepted += 1;
            }
        }
        if accepted == 0 {
            return self.cmd("RSET").await;
        }
        let r = self.cmd("DATA").await;
        if r.code != 354 {
            return r;
        }
        self.send_raw(dot_stuffed(data).as_bytes()).await;
        self.read_reply().await.expect("reply to the data")
    }
}

/// The token of a reply address (`reply+<token>@…`, also `reply+<token>+note@…`).
pub fn reply_token(address: &str) -> &str {
    let local = address.split('@').next().unwrap_or("");
    local.split('+').nth(1).unwrap_or("")
}

/// `data` as it goes on the wire after DATA: CRLF lines, dot-stuffed (RFC 5321 §4.5.2), ended
/// by the lone dot.
pub fn dot_stuffed(data: &str) -> String {
    let mut wire = String::new();
    for line in data.replace("\r\n", "\n").split('\n') {
        if line.starts_with('.') {
            wire.push('.');
        }
        wire.push_str(line);
        wire.push_str("\r\n");
    }
    wire.push_str(".\r\n");
    wire
}

/// A plain reply email, as a client's mail program would write it.
pub fn reply_email(
    from: &str,
    to: &str,
    message_id: &str,
    in_reply_to: &str,
    body: &str,
) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: test\r\nMessage-ID: {message_id}\r\nIn-Reply-To: {in_reply_to}\r\n\
Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

/// A self-signed certificate for `localhost`, as PEM files in `dir`.
pub fn certificate(dir: &std::path::Path) -> (String, String, String) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    (
        cert.display().to_string(),
        key.display().to_string(),
        generated.cert.pem(),
    )
}

/// A loopback port free right now (for a gateway started as a separate process).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
