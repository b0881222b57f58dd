//! Postfix in front of threadgate, as docs/postfix.md sets it up: Debian's `postfix`, started
//! with a configuration directory of its own on loopback ports (no system service touched),
//! receives mail for the reply domain and hands it to threadgate's LMTP listener. A reply
//! arrives in its conversation; an unknown reply address is refused at Postfix's RCPT (address
//! verification asks threadgate; no bounce is ever made); while threadgate is down Postfix
//! keeps the mail and delivers it once threadgate is back. Needs Postfix and root (CI installs
//! it; elsewhere the test says so and passes).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::process::Gateway;
use support::*;

/// A Postfix instance of our own.
struct Postfix {
    dir: tempfile::TempDir,
    smtp: std::net::SocketAddr,
}

impl Postfix {
    /// Started with the main.cf lines of docs/postfix.md, relaying the reply domain to
    /// threadgate's LMTP listener at `lmtp`.
    fn start(lmtp: std::net::SocketAddr) -> Postfix {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let port = free_port();
        for sub in ["conf", "queue", "data"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let r = root.display();
        std::fs::write(
            root.join("conf/main.cf"),
            format!(
                "compatibility_level = 3.6\nqueue_directory = {r}/queue\ndata_directory = {r}/data\n\
mail_owner = postfix\nsetgid_group = postdrop\nmaillog_file_prefixes = {r}\nmaillog_file = {r}/maillog\n\
inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmyhostname = mx.reply.test\nmydestination =\n\
local_recipient_maps =\nmynetworks = 127.0.0.0/8\n\
# From docs/postfix.md (without permit_mynetworks: the test client is on loopback):\n\
relay_domains = reply.test\n\
transport_maps = inline:{{ reply.test=lmtp:inet:{lmtp} }}\n\
smtpd_recipient_restrictions = reject_unauth_destination, \
check_recipient_access inline:{{ reply.test=reject_unverified_recipient }}\n\
address_verify_positive_refresh_time = 1h\naddress_verify_positive_expire_time = 1d\n\
unverified_recipient_reject_code = 550\naddress_verify_poll_count = 10\naddress_verify_poll_delay = 1s\n\
lmtp_destination_recipient_limit = 1\n\
# Quick retries for the test (a production queue keeps its defaults):\n\
minimal_backoff_time = 1s\nmaximal_backoff_time = 2s\nqueue_run_delay = 1s\n"
            ),
        )
        .unwrap();
        let services = [
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "lmtp unix - - n - - lmtp",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ];
        std::fs::write(
            root.join("conf/master.cf"),
            format!(
                "127.0.0.1:{port} inet n - n - - smtpd\n{}\n",
                services.join("\n")
            ),
        )
        .unwrap();
        let status = Command::new("chown")
            .args(["postfix", &format!("{r}/data")])
            .status()
            .unwrap();
        assert!(status.success());
        let out = Command::new("postfix")
            .args(["-c", &format!("{r}/conf"), "start"])
            .output()
            .unwrap();
        let postfix = Postfix {
            smtp: format!("127.0.0.1:{port}").parse().unwrap(),
            dir,
        };
        assert!(
            out.status.success(),
            "postfix start failed:\n{}",
            postfix.log()
        );
        postfix
    }

    fn conf(&self) -> String {
        self.dir.path().join("conf").display().to_string()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// `postqueue -p`: what waits in the queue.
    fn queue(&self) -> String {
        let out = Command::new("postqueue")
            .args(["-c", &self.conf(), "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn flush(&self) {
        Command::new("postqueue")
            .args(["-c", &self.conf(), "-f"])
            .status()
            .unwrap();
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .args(["-c", &self.conf(), "abort"])
            .output();
    }
}

fn postfix_available() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    root && Path::new("/usr/sbin/postfix").exists()
}

async fn texts(gateway: &Gateway, conversation: &str) -> Vec<String> {
    gateway
        .messages(conversation)
        .await
        .iter()
        .map(|m| m["body_text"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Waits (up to 30 s) until `text` is in the conversation.
async fn arrives(gateway: &Gateway, postfix: &Postfix, conversation: &str, text: &str) {
    for _ in 0..300 {
        if texts(gateway, conversation).await.iter().any(|t| t == text) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{text:?} never arrived; queue:\n{}\nlog:\n{}",
        postfix.queue(),
        postfix.log()
    );
}

async fn send(postfix: &Postfix, from: &str, to: &str, data: &str) -> Vec<u16> {
    let (mut c, greeting) = SmtpClient::connect(postfix.smtp).await;
    assert_eq!(greeting.code, 220);
    assert_eq!(c.cmd("EHLO client.test").await.code, 250);
    let mut codes = vec![c.cmd(&format!("MAIL FROM:<{from}>")).await.code];
    let rcpt = c.cmd(&format!("RCPT TO:<{to}>")).await;
    codes.push(rcpt.code);
    if rcpt.code == 250 {
        assert_eq!(c.cmd("DATA").await.code, 354);
        c.send_raw(dot_stuffed(data).as_bytes()).await;
        codes.push(c.read_reply().await.unwrap().code);
    }
    c.cmd("QUIT").await;
    codes
}

#[tokio::test]
async fn behind_postfix_replies_arrive_unknown_addresses_are_refused_and_nothing_is_lost() {
    if !postfix_available() {
        eprintln!("skipped: needs Postfix (apt-get install postfix) and root");
        return;
    }
    let db = TestDb::sqlite().await;
    let mut gateway = Gateway::new(&db, &["--smtp-protocol", "lmtp"]);
    gateway.start().await;
    let postfix = Postfix::start(gateway.smtp);
    let thread = gateway.first_thread("carl@client.test", "Order").await;
    let (conversation, notification) = (thread.conversation, thread.notification);
    let (to, irt) = (notification.reply_to(), notification.message_id());
    let reply = |id: &str, text: &str| reply_email("carl@client.test", &to, id, &irt, text);

    // Through Postfix into the conversation.
    let codes = send(
        &postfix,
        "carl@client.test",
        &to,
        &reply("<p1@client.test>", "Thanks!"),
    )
    .await;
    assert_eq!(codes, [250, 250, 250], "{}", postfix.log());
    arrives(&gateway, &postfix, &conversation, "Thanks!").await;

    // An unknown reply address: refused at RCPT, so the sending server tells its user; Postfix
    // never accepts it, so it never bounces it (no backscatter).
    let unknown = "reply+abcdefghijklmnopqrstuvwxyz@reply.test";
    let codes = send(
        &postfix,
        "eve@elsewhere.test",
        unknown,
        "Subject: x\r\n\r\nx\r\n",
    )
    .await;
    assert_eq!(codes, [250, 550], "{}", postfix.log());
    assert!(
        postfix.queue().contains("Mail queue is empty"),
        "{}",
        postfix.queue()
    );

    // threadgate down: Postfix keeps the reply (4xx from LMTP, or no connection) and delivers
    // it once threadgate is back.
    gateway.kill();
    let codes = send(
        &postfix,
        "carl@client.test",
        &to,
        &reply("<p2@client.test>", "Paid too."),
    )
    .await;
    assert_eq!(codes, [250, 250, 250], "{}", postfix.log());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        postfix.queue().contains("carl@client.test"),
        "queued: {}",
        postfix.queue()
    );
    gateway.start().await;
    postfix.flush();
    arrives(&gateway, &postfix, &conversation, "Paid too.").await;
    let delivered = texts(&gateway, &conversation).await;
    assert_eq!(
        delivered.iter().filter(|t| *t == "Paid too.").count(),
        1,
        "once: {delivered:?}"
    );
}
