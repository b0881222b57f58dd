//! Tests of the load tool: percentiles, dot-stuffing, the generated replies,
//! parsing (notifications, `/proc`, HTTP responses), and the SMTP client
//! and a session against a mock server.

use super::HELO_NAME;
use super::http::{Api, body_json, parse_http_response};
use super::load::{LoadShared, run_session};
use super::message::{ReplySpec, build_reply, wrap};
use super::prepare::{ClientTarget, extract_id, id_path, parse_notification};
use super::procfs::{over_processes, parse_stat_cpu_ticks, parse_status_kib, proc_cpu_seconds};
use super::report::percentile;
use super::smtp::{SmtpClient, TxOutcome, dot_stuff};
use super::verify::count_client_messages;

use std::sync::Arc;

use mail_parser::MimeHeaders;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Barrier;

fn spec<'a>(size: usize, attachment_size: usize, quoted: &'a str) -> ReplySpec<'a> {
    ReplySpec {
        from_name: "Maria Lopez",
        from_email: "client-1-abcd@example.test",
        to: "reply+tok123@reply.localhost",
        subject: "Invoice question (abcd/1)",
        in_reply_to: Some("notif-1@threadgate.localhost"),
        quoted_from: "Alex Agent <agent-abcd@example.test>",
        quoted_date: "Mon, Jun 3, 2024 at 10:15 AM",
        quoted_text: quoted,
        message_id: "load.abcd.1.xyz@mail.example.test",
        date: "Mon, 3 Jun 2024 10:20:00 +0000",
        size,
        attachment_size,
        seq: 1,
    }
}

const QUOTED: &str = "Hello Maria,\n\nthanks for getting in touch.\n.hidden line starting with a dot\n\nBest regards,\nAlex\n\n-- \nReply to this email to answer — threadgate";

#[test]
fn percentile_nearest_rank() {
    assert_eq!(percentile(&[], 50.0), 0.0);
    assert_eq!(percentile(&[7.0], 99.0), 7.0);
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(percentile(&v, 50.0), 50.0);
    assert_eq!(percentile(&v, 95.0), 95.0);
    assert_eq!(percentile(&v, 99.0), 99.0);
    assert_eq!(percentile(&v, 100.0), 100.0);
    assert_eq!(percentile(&v, 0.0), 1.0);
    let w = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(percentile(&w, 50.0), 2.0);
    assert_eq!(percentile(&w, 51.0), 3.0);
}

/// A peer measured without `--server-pid` has no CPU or memory figure: not a zero, which the
/// comparison table printed as if Postfix took no CPU at all.
#[test]
fn figures_over_no_process_are_absent_not_zero() {
    assert_eq!(over_processes(&[], proc_cpu_seconds), None);
    assert_eq!(over_processes(&[], |_| Some(5u64)), None);
    assert_eq!(over_processes(&[1, 2], |pid| Some(u64::from(pid))), Some(3));
    assert_eq!(
        over_processes(&[1, 2], |pid| (pid == 1).then_some(1u64)),
        None
    );
    assert!(over_processes(&[std::process::id()], proc_cpu_seconds).is_some());
}

#[test]
fn dot_stuffing() {
    assert_eq!(
        dot_stuff(b"a\r\n.b\r\n..c\r\n"),
        b"a\r\n..b\r\n...c\r\n.\r\n"
    );
    assert_eq!(dot_stuff(b".x"), b"..x\r\n.\r\n");
    assert_eq!(dot_stuff(b""), b"\r\n.\r\n");
}

fn check_crlf(bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}");
        }
        if b == b'\r' {
            assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
    }
    for line in bytes.split(|&b| b == b'\n') {
        assert!(line.len() <= 998, "line too long: {}", line.len());
    }
}

#[test]
fn reply_is_crlf_sized_and_parseable() {
    for size in [2048usize, 4096, 16384, 65536] {
        let mut rng = StdRng::seed_from_u64(size as u64);
        let msg = build_reply(&spec(size, 0, QUOTED), &mut rng);
        check_crlf(&msg);
        let ratio = msg.len() as f64 / size as f64;
        assert!(
            (0.95..=1.05).contains(&ratio),
            "size {size}: got {}",
            msg.len()
        );

        let data = dot_stuff(&msg);
        assert!(data.ends_with(b"\r\n.\r\n"));
        // Every line of the original that starts with '.' is doubled.
        let text = String::from_utf8(data.clone()).unwrap();
        assert!(text.contains("\r\n..hidden") || !text.contains(".hidden"));
        for line in text.split("\r\n") {
            if line.starts_with('.') && line != "." {
                assert!(line.starts_with(".."), "unstuffed line {line:?}");
            }
        }

        let parsed = mail_parser::MessageParser::default().parse(&msg).unwrap();
        assert_eq!(
            parsed.from().unwrap().first().unwrap().address(),
            Some("client-1-abcd@example.test")
        );
        assert_eq!(
            parsed.to().unwrap().first().unwrap().address(),
            Some("reply+tok123@reply.localhost")
        );
        assert_eq!(parsed.subject(), Some("Re: Invoice question (abcd/1)"));
        assert_eq!(
            parsed.message_id(),
            Some("load.abcd.1.xyz@mail.example.test")
        );
        assert_eq!(
            parsed.in_reply_to().as_text(),
            Some("notif-1@threadgate.localhost")
        );
        assert_eq!(parsed.text_body_count(), 1);
        assert_eq!(parsed.html_body_count(), 1);
        assert_eq!(parsed.attachment_count(), 0);
        let plain = parsed.body_text(0).unwrap();
        assert!(plain.contains("> Hello Maria,"), "{plain}");
        assert!(plain.contains(
            "On Mon, Jun 3, 2024 at 10:15 AM, Alex Agent <agent-abcd@example.test> wrote:"
        ));
        let html = parsed.body_html(0).unwrap();
        assert!(html.contains("<div dir=\"ltr\">"));
        assert!(html.contains("<blockquote"));
        assert!(html.contains("class=\"gmail_quote\""));
    }
}

#[test]
fn reply_with_attachment() {
    let mut rng = StdRng::seed_from_u64(7);
    let msg = build_reply(&spec(4096, 10_000, QUOTED), &mut rng);
    check_crlf(&msg);
    let parsed = mail_parser::MessageParser::default().parse(&msg).unwrap();
    assert_eq!(parsed.attachment_count(), 1);
    let att = parsed.attachment(0).unwrap();
    assert_eq!(att.contents().len(), 10_000);
    assert!(att.contents().starts_with(b"%PDF-1.4"));
    assert_eq!(att.attachment_name(), Some("statement-1.pdf"));
    assert_eq!(parsed.text_body_count(), 1);
    // Size target excludes the attachment (base64: 4/3 plus line breaks).
    let expected = 4096 + 10_000 * 4 / 3 + 10_000 * 4 / 3 / 76 * 2;
    assert!(
        (msg.len() as f64 / expected as f64 - 1.0).abs() < 0.1,
        "{}",
        msg.len()
    );
}

#[test]
fn small_size_and_empty_quote_still_valid() {
    let mut rng = StdRng::seed_from_u64(1);
    let msg = build_reply(&spec(100, 0, ""), &mut rng);
    check_crlf(&msg);
    let parsed = mail_parser::MessageParser::default().parse(&msg).unwrap();
    assert_eq!(parsed.text_body_count(), 1);
}

#[test]
fn wrap_respects_width() {
    let long = "a".repeat(200);
    let lines = wrap(&format!("hello {long} world"), 76);
    assert!(lines.iter().all(|l| l.chars().count() <= 76), "{lines:?}");
    assert_eq!(lines.concat().replace(' ', ""), format!("hello{long}world"));
    assert_eq!(wrap("", 10), vec![String::new()]);
    assert_eq!(wrap("ünï cödé wörds", 7), vec!["ünï", "cödé", "wörds"]);
}

#[test]
fn notification_parsing() {
    let raw =
        b"From: Alex Agent <agent-x@example.test>\r\nTo: Maria Lopez <Client-1-X@example.test>\r\n\
        Reply-To: reply+abc@reply.localhost\r\nMessage-ID: <n1@tg>\r\nSubject: Invoice\r\n\
        Date: Mon, 3 Jun 2024 10:15:00 +0000\r\nContent-Type: text/plain\r\n\r\nHello Maria\r\n";
    let n = parse_notification(raw).unwrap();
    assert_eq!(n.to, "Client-1-X@example.test");
    assert_eq!(n.reply_to, "reply+abc@reply.localhost");
    assert_eq!(n.message_id.as_deref(), Some("n1@tg"));
    assert_eq!(n.from, "Alex Agent <agent-x@example.test>");
    assert_eq!(n.date, "Mon, Jun 3, 2024 at 10:15 AM");
    assert!(n.text.contains("Hello Maria"));
    assert!(parse_notification(b"To: a@b\r\n\r\nno reply-to").is_none());
}

#[test]
fn stat_cpu_parsing() {
    // A command name with a space and a parenthesis must not shift the fields.
    let stat = "4242 (thread gate) S 1 4242 4242 0 -1 4194560 900 0 3 0 1234 567 0 0 20 0 9 0";
    assert_eq!(parse_stat_cpu_ticks(stat), Some(1234 + 567));
    assert_eq!(parse_stat_cpu_ticks("garbage"), None);
}

#[test]
fn status_parsing() {
    let s = "Name:\tthreadgate\nVmHWM:\t  41234 kB\nVmRSS:\t   40000 kB\n";
    assert_eq!(parse_status_kib(s, "VmHWM"), Some(41234));
    assert_eq!(parse_status_kib(s, "VmRSS"), Some(40000));
    assert_eq!(parse_status_kib(s, "VmPeak"), None);
}

#[test]
fn id_helpers_and_counting() {
    assert_eq!(extract_id(&json!({"id": 5, "x": 1})), Some(json!(5)));
    assert_eq!(
        extract_id(&json!({"person": {"id": "p1"}})),
        Some(json!("p1"))
    );
    assert_eq!(id_path(&json!("abc")), "abc");
    assert_eq!(id_path(&json!(12)), "12");
    let msgs = vec![
        json!({"id": 1, "author_id": 1}),
        json!({"id": 2, "author_id": 2}),
        json!({"id": 3, "author_id": "2"}),
    ];
    assert_eq!(count_client_messages(&msgs, &json!(2)), 2);
    let anon = vec![json!({"id": 1}), json!({"id": 2})];
    assert_eq!(count_client_messages(&anon, &json!(2)), 1);
}

#[test]
fn http_response_parsing() {
    let r = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"id\":1}";
    let (s, b) = parse_http_response(r, false).unwrap().unwrap();
    assert_eq!((s, body_json(&b)), (201, json!({"id": 1})));
    assert!(
        parse_http_response(&r[..r.len() - 1], false)
            .unwrap()
            .is_none()
    );
    let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n";
    let (s, b) = parse_http_response(c, false).unwrap().unwrap();
    assert_eq!((s, body_json(&b)), (200, json!({"a": 1})));
    assert!(
        parse_http_response(&c[..c.len() - 5], false)
            .unwrap()
            .is_none()
    );
    let no_len = b"HTTP/1.1 401 Unauthorized\r\n\r\nnope";
    assert!(parse_http_response(no_len, false).unwrap().is_none());
    let (s, b) = parse_http_response(no_len, true).unwrap().unwrap();
    assert_eq!((s, body_json(&b)), (401, json!("nope")));
    assert!(parse_http_response(b"garbage\r\n\r\n", true).is_err());
}

#[test]
fn api_url_forms() {
    let a = Api::new("http://127.0.0.1:8080", "t").unwrap();
    assert_eq!(
        (a.authority.as_str(), a.prefix.as_str()),
        ("127.0.0.1:8080", "")
    );
    let a = Api::new("http://h:1/base/api/v1/", "t").unwrap();
    assert_eq!((a.authority.as_str(), a.prefix.as_str()), ("h:1", "/base"));
    assert!(Api::new("https://h:1", "t").is_err());
}

type Received = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

/// A mock SMTP server: accepts everything except RCPT to "bad@…", and
/// answers 421 (then closes) to MAIL FROM after `per_session` messages.
async fn mock_smtp(per_session: usize) -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let received: Received = Arc::default();
    let store = received.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(mock_session(stream, per_session, store.clone()));
        }
    });
    (addr, received)
}

async fn mock_session(stream: TcpStream, per_session: usize, store: Received) {
    let mut io = BufReader::new(stream);
    let mut count = 0;
    io.get_mut().write_all(b"220 mock ESMTP\r\n").await.unwrap();
    loop {
        let mut line = String::new();
        if io.read_line(&mut line).await.unwrap() == 0 {
            break;
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") {
            b"250-mock\r\n250-8BITMIME\r\n250-SIZE 1000000\r\n250 PIPELINING\r\n"
        } else if cmd.starts_with("MAIL") && count >= per_session {
            io.get_mut()
                .write_all(b"421 4.7.0 Too many messages in this session, reconnect\r\n")
                .await
                .unwrap();
            break;
        } else if cmd.starts_with("RCPT TO:<BAD@") {
            b"550 5.7.1 sender not allowed\r\n"
        } else if cmd == "DATA" {
            io.get_mut().write_all(b"354 go ahead\r\n").await.unwrap();
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                io.read_until(b'\n', &mut l).await.unwrap();
                if l == b".\r\n" {
                    break;
                }
                data.extend_from_slice(&l);
            }
            store.lock().unwrap().push(data);
            count += 1;
            b"250 2.0.0 stored\r\n"
        } else if cmd == "QUIT" {
            io.get_mut().write_all(b"221 bye\r\n").await.unwrap();
            break;
        } else {
            b"250 ok\r\n"
        };
        io.get_mut().write_all(reply).await.unwrap();
    }
}

fn outcome(r: TxOutcome) -> String {
    match r {
        TxOutcome::Accepted(_) => "accepted".into(),
        TxOutcome::Reconnect(reply) => format!("reconnect {reply}"),
        TxOutcome::Rejected { stage, reply } => format!("{stage}: {reply}"),
    }
}

#[tokio::test]
async fn smtp_client_reuses_one_connection() {
    let (addr, received) = mock_smtp(100).await;
    let mut c = SmtpClient::connect(&addr, HELO_NAME).await.unwrap();
    assert!(c.eightbitmime && c.size_ext);
    let mut rng = StdRng::seed_from_u64(3);
    let msg = build_reply(&spec(4096, 0, QUOTED), &mut rng);
    let data = dot_stuff(&msg);
    for _ in 0..2 {
        let r = c
            .send_mail("client@example.test", "reply+x@reply.localhost", &data)
            .await
            .unwrap();
        assert_eq!(outcome(r), "accepted");
    }
    let r = c
        .send_mail("client@example.test", "bad@reply.localhost", &data)
        .await
        .unwrap();
    assert_eq!(outcome(r), "RCPT TO: 550 5.7.1 sender not allowed");
    // The connection is still usable after the rejection (RSET was sent).
    let r = c
        .send_mail("client@example.test", "reply+x@reply.localhost", &data)
        .await
        .unwrap();
    assert_eq!(outcome(r), "accepted");
    c.quit().await;
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    // The server sees the dot-stuffed lines; un-stuffing gives the original.
    let unstuffed: Vec<u8> = String::from_utf8(received[0].clone())
        .unwrap()
        .split_inclusive("\r\n")
        .map(|l| l.strip_prefix('.').unwrap_or(l))
        .collect::<String>()
        .into_bytes();
    assert_eq!(unstuffed, msg);
}

#[tokio::test]
async fn session_reconnects_after_421() {
    let (addr, received) = mock_smtp(3).await;
    let clients = (0..2)
        .map(|i| ClientTarget {
            name: format!("Client {i}"),
            email: format!("client-{i}@example.test"),
            reply_addr: format!("reply+t{i}@reply.localhost"),
            notif_message_id: Some(format!("n{i}@tg")),
            subject: "Hello".into(),
            quoted_from: "Alex Agent <agent@example.test>".into(),
            quoted_date: "Mon, Jun 3, 2024 at 10:15 AM".into(),
            quoted_text: QUOTED.into(),
        })
        .collect();
    let shared = Arc::new(LoadShared {
        clients,
        run_id: "test".into(),
        seed: 1,
        size: 2000,
        attachment_size: 0,
    });
    let barrier = Arc::new(Barrier::new(2));
    let session = tokio::spawn(run_session(
        0,
        addr,
        (0..10).collect(),
        shared,
        barrier.clone(),
        2,
    ));
    barrier.wait().await;
    let res = session.await.unwrap();
    assert_eq!(res.errors, 0, "{:?}", res.first_errors);
    assert_eq!(res.latencies.len(), 10);
    assert_eq!(res.accepted_per_conv, vec![5, 5]);
    assert_eq!(res.reconnects, 3);
    assert_eq!(received.lock().unwrap().len(), 10);
}

#[tokio::test]
async fn smtp_reply_multiline_and_garbage() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(b"220-first\r\n220-second\r\n220 last\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf).await;
        s.write_all(b"what is this\r\n").await.unwrap();
    });
    let stream = TcpStream::connect(&addr).await.unwrap();
    let mut c = SmtpClient {
        io: BufReader::new(stream),
        eightbitmime: false,
        size_ext: false,
    };
    let r = c.read_reply().await.unwrap();
    assert_eq!(r.code, 220);
    assert_eq!(r.lines, vec!["first", "second", "last"]);
    let r = c.command("EHLO x").await.unwrap();
    assert_eq!(r.code, 0);
    assert!(c.read_reply().await.is_err());
}
