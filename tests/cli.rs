//! The binary as a user runs it: `threadgate serve` on its defaults in a fresh directory,
//! printing where it listens, generating the admin token once, stopping cleanly on SIGTERM.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::free_port;

fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Starts `threadgate serve` in `dir`, returns the child and the lines it printed up to the
/// admin token line.
fn start(dir: &std::path::Path, smtp: u16, http: u16) -> (std::process::Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_threadgate"))
        .current_dir(dir)
        .args([
            "serve",
            "--smtp-listen",
            &format!("127.0.0.1:{smtp}"),
            "--http-listen",
            &format!("127.0.0.1:{http}"),
        ])
        .env_remove("THREADGATE_ADMIN_TOKEN")
        .env_remove("THREADGATE_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn threadgate");
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.contains("admin token");
        lines.push(line);
        if done {
            break;
        }
    }
    (child, lines)
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "threadgate did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_runs_on_its_embedded_defaults_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (smtp, http) = (free_port(), free_port());
    let (mut child, lines) = start(dir.path(), smtp, http);
    let out = lines.join("\n");
    assert!(out.contains(&format!("127.0.0.1:{smtp}")), "{out}");
    assert!(
        out.contains(&format!("http://127.0.0.1:{http}/api/v1")),
        "{out}"
    );
    assert!(out.contains("sqlite"), "{out}");
    assert!(out.contains("generated"), "{out}");

    // The token is stored in ./data, readable by the owner only, and works.
    let token_path = dir.path().join("data/admin-token");
    let token = std::fs::read_to_string(&token_path)
        .unwrap()
        .trim()
        .to_string();
    assert!(out.contains(&token));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&token_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(dir.path().join("data/threadgate.db").exists());
    let mut smtp_conn = std::net::TcpStream::connect(("127.0.0.1", smtp)).unwrap();
    let mut greeting = String::new();
    BufReader::new(&mut smtp_conn)
        .read_line(&mut greeting)
        .unwrap();
    assert!(greeting.starts_with("220 "), "{greeting}");
    drop(smtp_conn);

    sigterm(child.id());
    assert!(wait_exit(&mut child).success(), "exit code 0 after SIGTERM");

    // Second start: the same token, not printed again.
    let (mut child, lines) = start(dir.path(), free_port(), free_port());
    let out = lines.join("\n");
    assert!(
        !out.contains(&token),
        "the token is printed only once: {out}"
    );
    sigterm(child.id());
    assert!(wait_exit(&mut child).success());
}

#[test]
fn a_bad_setting_is_refused_with_the_name_of_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_threadgate"))
        .current_dir(dir.path())
        .args(["serve", "--outbound", "pigeon://loft"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--outbound"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_threadgate"))
        .current_dir(dir.path())
        .args(["serve"])
        .env("THREADGATE_TICK", "often")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tick"), "{err}");
}

#[test]
fn extract_prints_how_an_email_is_read() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/mail/plain-english-gmail-on-wrote.eml"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_threadgate"))
        .args(["extract", fixture, "--reply-domain", "reply.example.net"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("classification: reply"), "{text}");
    assert!(
        text.contains("--- kept text\nThanks, that works for me.\n"),
        "{text}"
    );
    assert!(text.contains("--- trimmed\nOn Mon, Nov 23, 2026"), "{text}");
    let missing = Command::new(env!("CARGO_BIN_EXE_threadgate"))
        .args(["extract", "/nonexistent.eml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}
