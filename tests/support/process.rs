//! The real `threadgate` binary as a process of its own: killed and restarted by the crash
//! suite, watched (memory, file handles) by the attack suite. `THREADGATE_BIN` runs another
//! build of it (a release build, to measure).

use super::{ADMIN_TOKEN, TestDb, free_port};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Gateway {
    args: Vec<String>,
    child: Option<Child>,
    pub smtp: SocketAddr,
    pub http: SocketAddr,
    pub outbox: std::path::PathBuf,
    pub data_dir: std::path::PathBuf,
    /// Where its stderr (the log) goes; nowhere unless set.
    pub log: Option<std::path::PathBuf>,
    /// Variables set for it (the S3 settings of the scale-out suite).
    pub env: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// A gateway on `db` with its own data directory and ports, and `extra` flags.
    pub fn new(db: &TestDb, extra: &[&str]) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_path_buf();
        Gateway::in_dir(dir, data_dir, &db.url, extra)
    }

    /// A gateway whose data directory is `data_dir`, on `database_url`.
    pub fn at(data_dir: &std::path::Path, database_url: &str, extra: &[&str]) -> Gateway {
        Gateway::in_dir(
            tempfile::tempdir().unwrap(),
            data_dir.to_path_buf(),
            database_url,
            extra,
        )
    }

    fn in_dir(
        dir: tempfile::TempDir,
        data_dir: std::path::PathBuf,
        database_url: &str,
        extra: &[&str],
    ) -> Gateway {
        let smtp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let (data, smtp_at, http_at) = (
            data_dir.display().to_string(),
            smtp.to_string(),
            http.to_string(),
        );
        let defaults: [(&str, &str); 8] = [
            ("--data-dir", &data),
            ("--database-url", database_url),
            ("--smtp-listen", &smtp_at),
            ("--http-listen", &http_at),
            ("--admin-token", ADMIN_TOKEN),
            ("--tick", "100ms"),
            ("--reply-domain", "reply.test"),
            ("--from-address", "notifications@gateway.test"),
        ];
        let mut args = vec!["serve".to_string()];
        // A flag given in `extra` replaces its default (clap refuses a flag given twice).
        for (flag, value) in defaults {
            if !extra.contains(&flag) {
                args.extend([flag.to_string(), value.to_string()]);
            }
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Gateway {
            args,
            child: None,
            smtp,
            http,
            outbox: data_dir.join("outbox"),
            log: None,
            env: Vec::new(),
            data_dir,
            _dir: dir,
        }
    }

    /// Leaves out one of the default flags (and its value): `--admin-token`, to have the
    /// gateway make or share one.
    pub fn without_flag(&mut self, flag: &str) {
        if let Some(at) = self.args.iter().position(|a| a == flag) {
            self.args.drain(at..at + 2);
        }
    }

    /// An API call with the admin token `token`; the status and the body.
    pub async fn api_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("http://{}/api/v1{path}", self.http))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("API request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Starts it and waits until both listeners answer.
    pub async fn start(&mut self) {
        let binary = std::env::var("THREADGATE_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_threadgate").to_string());
        let stderr = match &self.log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("the log file"),
            ),
            None => Stdio::null(),
        };
        let child = Command::new(binary)
            .args(&self.args)
            .env("THREADGATE_LOG", "info")
            .envs(self.env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start threadgate");
        self.child = Some(child);
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let up = client
                .get(format!("http://{}/healthz", self.http))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up && TcpStream::connect(self.smtp).await.is_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gateway did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush, whatever was in flight is cut.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// A line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`…), in bytes.
    pub fn memory(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// The file handles it holds open.
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    /// The agent Agnes and `client` (a new client), a conversation between them with a first
    /// message from Agnes, and the notification it sent the client.
    pub async fn first_thread(&self, client: &str, subject: &str) -> FirstThread {
        let post =
            async |path: &str, body: Value| self.api(reqwest::Method::POST, path, Some(body)).await;
        let agent = post(
            "/people",
            serde_json::json!({"email": "agnes@team.test", "name": "Agnes", "role": "internal"}),
        )
        .await;
        let person = post(
            "/people",
            serde_json::json!({"email": client, "name": "Carl Client", "role": "client"}),
        )
        .await;
        let conversation = post(
            "/conversations",
            serde_json::json!({"subject": subject, "created_by": agent["id"], "participants": [person["id"]]}),
        )
        .await;
        let conversation = conversation["id"].as_str().unwrap().to_string();
        post(
            &format!("/conversations/{conversation}/messages"),
            serde_json::json!({"author_id": agent["id"], "body": "How can we help?", "kind": "message"}),
        )
        .await;
        let notification = loop {
            if let Some(found) = super::outbox_emails(&self.outbox, client).pop() {
                break found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        FirstThread {
            agent: agent["id"].as_str().unwrap().to_string(),
            client: person["id"].as_str().unwrap().to_string(),
            conversation,
            notification,
        }
    }

    /// An agent notified of every message at the next tick, and `n` clients
    /// (`client<i>@client.test`), each in a conversation of their own ("Case <i>") with a first
    /// message from the agent: the agent's id and each client's address and conversation.
    pub async fn agent_and_clients(&self, n: usize) -> (String, Vec<(String, String)>) {
        let id = |v: Value| v["id"].as_str().unwrap().to_string();
        let post =
            async |path: &str, body: Value| self.api(reqwest::Method::POST, path, Some(body)).await;
        let agent = id(post(
            "/people",
            serde_json::json!({"email": "agent@team.test", "name": "Agent", "role": "internal"}),
        )
        .await);
        self.api(
            reqwest::Method::PATCH,
            &format!("/people/{agent}"),
            Some(serde_json::json!({"notifications": "immediate"})),
        )
        .await;
        let mut threads = Vec::new();
        for i in 0..n {
            let email = format!("client{i}@client.test");
            let client = id(post(
                "/people",
                serde_json::json!({"email": email, "name": format!("Client {i}"), "role": "client"}),
            )
            .await);
            let conversation = id(post(
                "/conversations",
                serde_json::json!({"subject": format!("Case {i}"), "created_by": agent, "participants": [client]}),
            )
            .await);
            post(
                &format!("/conversations/{conversation}/messages"),
                serde_json::json!({"author_id": agent, "body": "How can we help?", "kind": "message"}),
            )
            .await;
            threads.push((email, conversation));
        }
        (agent, threads)
    }

    /// The messages of `conversation`, as the admin reads them through the API.
    pub async fn messages(&self, conversation: &str) -> Vec<Value> {
        let page = self
            .api(
                reqwest::Method::GET,
                &format!("/conversations/{conversation}/messages"),
                None,
            )
            .await;
        page["messages"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("not a page of messages: {page}"))
    }

    /// An API call as the admin; panics unless it succeeds.
    pub async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let client = reqwest::Client::new();
        let mut request = client
            .request(method, format!("http://{}/api/v1{path}", self.http))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("API request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }
}

/// What [`Gateway::first_thread`] made.
pub struct FirstThread {
    pub agent: String,
    pub client: String,
    pub conversation: String,
    pub notification: super::Email,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One attempt over a fresh connection: the reply to the data (or the first refusal), or
/// how far it got before the connection failed.
pub enum Attempt {
    Answered(u16),
    /// Failed before the data was sent.
    Failed,
    /// The data was sent, the answer never came.
    Lost,
}

pub async fn attempt(smtp: SocketAddr, from: &str, to: &str, data: &str) -> Attempt {
    let mut data_sent = false;
    match try_attempt(smtp, from, to, data, &mut data_sent).await {
        Ok(code) => Attempt::Answered(code),
        Err(_) if data_sent => Attempt::Lost,
        Err(_) => Attempt::Failed,
    }
}

async fn try_attempt(
    smtp: SocketAddr,
    from: &str,
    to: &str,
    data: &str,
    data_sent: &mut bool,
) -> std::io::Result<u16> {
    let stream = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(smtp))
        .await
        .map_err(|_| std::io::Error::other("connect timeout"))??;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<u16> {
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line))
                .await
                .map_err(|_| std::io::Error::other("reply timeout"))??;
            if n == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            if line.len() >= 4 && line.as_bytes()[3] == b'-' {
                continue;
            }
            return line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| std::io::Error::other(format!("bad reply {line:?}")));
        }
    }
    reply(&mut r).await?;
    for command in [
        "EHLO crash.test".to_string(),
        format!("MAIL FROM:<{from}>"),
        format!("RCPT TO:<{to}>"),
        "DATA".to_string(),
    ] {
        w.write_all(format!("{command}\r\n").as_bytes()).await?;
        let code = reply(&mut r).await?;
        if code >= 400 {
            return Ok(code);
        }
    }
    *data_sent = true;
    w.write_all(super::dot_stuffed(data).as_bytes()).await?;
    let code = reply(&mut r).await?;
    let _ = w.write_all(b"QUIT\r\n").await;
    Ok(code)
}
