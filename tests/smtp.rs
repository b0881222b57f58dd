//! SMTP and LMTP transcripts against the real listener over TCP.
//!
//! The pure session has its own byte-level unit tests (src/smtp/session/tests.rs); these check
//! the same behaviours through a socket, plus what only the connection and the listener do:
//! pipelined and trickled input, the connection cap, timeouts, LMTP per-recipient replies and
//! graceful shutdown. Every reply is checked by its code and its enhanced status code.
//!
//! SQLite only, to stay fast, except the last test, which loops over every configured backend.

mod support;

use std::net::SocketAddr;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::{Instant, sleep, timeout};

const AGENT: &str = "agnes@team.test";
const CLIENT: &str = "carl@client.test";
const OTHER_CLIENT: &str = "olga@client.test";
/// The deadline for anything that should happen "soon": generous, never a tight timing.
const WITHIN: Duration = Duration::from_secs(10);
/// A well-formed reply address whose token belongs to nobody.
const UNKNOWN_ADDRESS: &str = "reply+aaaaaaaaaaaaaaaaaaaaaaaaaa@reply.test";

// ---------------------------------------------------------------------------------------------
// Scene and helpers
// ---------------------------------------------------------------------------------------------

/// A running gateway with one conversation (agent + client), one posted message, and the
/// client's personal reply address taken from the notification in the outbox.
struct Scene {
    app: TestApp,
    client: String,
    conversation: String,
    /// The Reply-To of the client's notification: a live `reply+<token>@reply.test`.
    reply_to: String,
    /// The notification's Message-ID, for In-Reply-To.
    notification_id: String,
}

async fn scene(db: &TestDb, flags: &[&str]) -> Scene {
    let app = spawn_app(db, flags).await;
    let agent = app.person(AGENT, "Agnes Agent", "internal").await;
    let client = app.person(CLIENT, "Carl Client", "client").await;
    let conversation = app.conversation("Your order", &agent, &[&client]).await;
    app.say(
        &conversation,
        &agent,
        "Hello Carl, your order shipped today.",
        "message",
    )
    .await;
    let (reply_to, notification_id) = reply_address(&app, CLIENT).await;
    Scene {
        app,
        client,
        conversation,
        reply_to,
        notification_id,
    }
}

/// The Reply-To and Message-ID of the first notification sent to `recipient`.
async fn reply_address(app: &TestApp, recipient: &str) -> (String, String) {
    let email = app.wait_for_emails(recipient, 1).await.remove(0);
    let reply_to = email.reply_to();
    assert!(
        reply_to.starts_with("reply+") && reply_to.ends_with("@reply.test"),
        "{reply_to}"
    );
    (reply_to, email.message_id())
}

impl Scene {
    /// A reply from the client to their own reply address; `id` makes the Message-ID unique.
    fn reply(&self, id: &str, body: &str) -> String {
        reply_email(
            "Carl Client <carl@client.test>",
            &self.reply_to,
            &format!("<{id}@client.test>"),
            &self.notification_id,
            body,
        )
    }

    async fn last_message_text(&self) -> String {
        let messages = self.app.messages(&self.conversation).await;
        messages.last().expect("a message")["body_text"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// Asserts the code and the RFC 3463 enhanced status code of the (last line of the) reply.
#[track_caller]
fn assert_reply(reply: &SmtpReply, code: u16, esc: &str) {
    let expected = format!("{code} {esc} ");
    let last = reply.text.lines().last().unwrap_or_default();
    assert!(
        reply.code == code && last.starts_with(&expected),
        "expected `{expected}…`, got {:?}",
        reply.text
    );
}

/// The next reply, which must exist (the connection is still open).
async fn next_reply(c: &mut SmtpClient) -> SmtpReply {
    timeout(WITHIN, c.read_reply())
        .await
        .expect("a reply within 10 s")
        .expect("a reply, not a closed connection")
}

/// The server closed the connection (nothing more to read) within 10 s.
async fn assert_closed(c: &mut SmtpClient) {
    let rest = timeout(WITHIN, c.read_reply())
        .await
        .expect("the server closes within 10 s");
    assert!(
        rest.is_none(),
        "expected the connection to be closed, got {rest:?}"
    );
}

/// Connects, checks the 220 greeting and says EHLO.
async fn connect_ehlo(addr: SocketAddr) -> SmtpClient {
    let (mut c, greeting) = SmtpClient::connect(addr).await;
    assert_eq!(greeting.code, 220, "{greeting:?}");
    let ehlo = c.cmd("EHLO client.test").await;
    assert_eq!(ehlo.code, 250, "{ehlo:?}");
    c
}

/// The inbound record id from a `250 2.0.0 Stored as <id>` reply.
#[track_caller]
fn stored_id(reply: &SmtpReply) -> String {
    let text = reply.text.trim_end();
    let (_, id) = text
        .rsplit_once("Stored as ")
        .unwrap_or_else(|| panic!("no inbound id in {text:?}"));
    id.trim().to_string()
}

async fn raw_email(app: &TestApp, inbound_id: &str) -> String {
    let raw = app
        .store
        .raw_email(inbound_id)
        .await
        .expect("raw email query")
        .expect("raw email stored");
    String::from_utf8(raw).expect("utf-8 test email")
}

/// A connection with Nagle's algorithm off, so that each write reaches the server as its own
/// segment (byte-by-byte senders).
struct RawConnection {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl RawConnection {
    async fn connect(addr: SocketAddr) -> RawConnection {
        let stream = TcpStream::connect(addr).await.expect("connect to SMTP");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let (r, w) = stream.into_split();
        RawConnection {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    /// Writes one byte at a time, flushing and pausing after each.
    async fn trickle(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.writer
                .write_all(std::slice::from_ref(byte))
                .await
                .expect("write a byte");
            self.writer.flush().await.expect("flush");
            sleep(Duration::from_millis(1)).await;
        }
    }

    async fn read_reply(&mut self) -> SmtpReply {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = timeout(WITHIN, self.reader.read_line(&mut line))
                .await
                .expect("a reply within 10 s")
                .expect("read from SMTP");
            assert!(n > 0, "connection closed; read so far: {text:?}");
            text.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                let code = line[..3].parse().expect("reply code");
                return SmtpReply { code, text };
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Greeting and simple commands
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_greeting_is_220_and_ehlo_advertises_every_extension_we_implement() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let (mut c, greeting) = SmtpClient::connect(app.smtp).await;
    assert_eq!(greeting.code, 220, "{greeting:?}");
    assert!(
        greeting.text.starts_with("220 ") && greeting.text.contains("ESMTP"),
        "{greeting:?}"
    );

    let ehlo = c.cmd("EHLO client.test").await;
    assert_eq!(ehlo.code, 250, "{ehlo:?}");
    let lines: Vec<&str> = ehlo.text.lines().collect();
    assert!(lines.len() > 1, "a multi-line EHLO reply: {lines:?}");
    let (last, rest) = lines.split_last().unwrap();
    assert!(
        rest.iter().all(|l| l.starts_with("250-")) && last.starts_with("250 "),
        "{lines:?}"
    );
    let keywords: Vec<&str> = lines[1..].iter().map(|l| &l[4..]).collect();
    for expected in [
        "PIPELINING",
        "SIZE 26214400",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
    ] {
        assert!(
            keywords.contains(&expected),
            "{expected} missing from {keywords:?}"
        );
    }
    assert!(
        !keywords
            .iter()
            .any(|k| k.starts_with("STARTTLS") || k.starts_with("AUTH")),
        "{keywords:?}"
    );

    assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
    assert_closed(&mut c).await;
    app.stop().await;
}

#[tokio::test]
async fn helo_noop_vrfy_help_and_quit_answer_with_their_codes_and_quit_closes_the_socket() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let (mut c, greeting) = SmtpClient::connect(app.smtp).await;
    assert_eq!(greeting.code, 220);

    assert_reply(&c.cmd("HELO client.test").await, 250, "2.0.0");
    assert_reply(&c.cmd("NOOP").await, 250, "2.0.0");
    assert_reply(&c.cmd("VRFY carl").await, 252, "2.5.0");
    assert_reply(&c.cmd("HELP").await, 214, "2.0.0");
    // HELO is enough to start a transaction.
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 250, "2.1.0");
    assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
    assert_closed(&mut c).await;
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_command_gets_500_5_5_2_and_the_session_goes_on() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let mut c = connect_ehlo(app.smtp).await;
    assert_reply(&c.cmd("FROBNICATE now").await, 500, "5.5.2");
    assert_reply(&c.cmd("XYZZY").await, 500, "5.5.2");
    assert_reply(&c.cmd("NOOP").await, 250, "2.0.0");
    assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
    app.stop().await;
}

#[tokio::test]
async fn a_command_line_over_4096_octets_gets_500_5_5_2_however_it_arrives() {
    // smtp-proto's line limit is 4096 octets; the session refuses longer lines (and skips to
    // their end). The verdict must not depend on how TCP happens to cut the line into reads.
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let mut c = RawConnection::connect(app.smtp).await;
    assert_eq!(c.read_reply().await.code, 220);
    c.writer.write_all(b"EHLO client.test\r\n").await.unwrap();
    assert_eq!(c.read_reply().await.code, 250);
    let long = format!("NOOP {}\r\n", "x".repeat(5000));

    // In two reads.
    let (head, tail) = long.as_bytes().split_at(3000);
    c.writer.write_all(head).await.unwrap();
    sleep(Duration::from_millis(200)).await;
    c.writer.write_all(tail).await.unwrap();
    assert_reply(&c.read_reply().await, 500, "5.5.2");
    c.writer.write_all(b"NOOP\r\n").await.unwrap();
    assert_reply(&c.read_reply().await, 250, "2.0.0");

    // In one read.
    c.writer.write_all(long.as_bytes()).await.unwrap();
    assert_reply(&c.read_reply().await, 500, "5.5.2");
    c.writer.write_all(b"NOOP\r\n").await.unwrap();
    assert_reply(&c.read_reply().await, 250, "2.0.0");
    app.stop().await;
}

#[tokio::test]
async fn commands_out_of_order_get_503_5_5_1() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let (mut c, greeting) = SmtpClient::connect(app.smtp).await;
    assert_eq!(greeting.code, 220);

    // MAIL before EHLO.
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 503, "5.5.1");
    assert_eq!(c.cmd("EHLO client.test").await.code, 250);
    // RCPT and DATA before MAIL.
    assert_reply(
        &c.cmd(&format!("RCPT TO:<{UNKNOWN_ADDRESS}>")).await,
        503,
        "5.5.1",
    );
    assert_reply(&c.cmd("DATA").await, 503, "5.5.1");
    // DATA and BDAT before any accepted RCPT (the BDAT chunk is read and discarded).
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 250, "2.1.0");
    assert_reply(&c.cmd("DATA").await, 503, "5.5.1");
    c.send_raw(b"BDAT 5 LAST\r\nhello").await;
    assert_reply(&next_reply(&mut c).await, 503, "5.5.1");
    // A second MAIL inside a transaction.
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 503, "5.5.1");
    // None of this broke the session.
    assert_reply(&c.cmd("NOOP").await, 250, "2.0.0");
    assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Recipients
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rcpt_accepts_a_live_reply_address_and_refuses_unknown_tokens_and_other_domains() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    let mut c = connect_ehlo(s.app.smtp).await;
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 250, "2.1.0");

    assert_reply(
        &c.cmd(&format!("RCPT TO:<{}>", s.reply_to)).await,
        250,
        "2.1.5",
    );
    assert_reply(
        &c.cmd(&format!("RCPT TO:<{UNKNOWN_ADDRESS}>")).await,
        550,
        "5.1.1",
    );
    // Our domain, but not a reply address at all.
    assert_reply(
        &c.cmd("RCPT TO:<postmaster@reply.test>").await,
        550,
        "5.1.1",
    );
    // Never a relay.
    assert_reply(
        &c.cmd("RCPT TO:<someone@elsewhere.test>").await,
        550,
        "5.7.1",
    );
    assert_reply(&c.cmd("RCPT TO:<carl@client.test>").await, 550, "5.7.1");

    assert_reply(&c.cmd("RSET").await, 250, "2.0.0");
    assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
    s.app.stop().await;
}

#[tokio::test]
async fn the_101st_recipient_gets_452_4_5_3_and_the_first_100_still_get_the_message() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    let mut c = connect_ehlo(s.app.smtp).await;
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 250, "2.1.0");

    let rcpts: String = (0..101)
        .map(|_| format!("RCPT TO:<{}>\r\n", s.reply_to))
        .collect();
    c.send_raw(rcpts.as_bytes()).await;
    for i in 1..=100 {
        let r = next_reply(&mut c).await;
        assert!(
            r.code == 250 && r.text.starts_with("250 2.1.5 "),
            "recipient {i}: {r:?}"
        );
    }
    assert_reply(&next_reply(&mut c).await, 452, "4.5.3");

    // 452 is temporary and per recipient: the transaction goes on with the first 100.
    assert_eq!(c.cmd("DATA").await.code, 354);
    c.send_raw(dot_stuffed(&s.reply("many", "To a hundred copies of me")).as_bytes())
        .await;
    assert_reply(&next_reply(&mut c).await, 250, "2.0.0");
    assert_eq!(s.last_message_text().await, "To a hundred copies of me");
    assert_eq!(
        s.app.inbound().await.len(),
        1,
        "one message, however many recipients"
    );
    assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
    s.app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Pipelining, trickled input, RSET, BDAT
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn pipelined_commands_are_answered_in_order_even_a_whole_transaction_in_one_write() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    let (mut c, greeting) = SmtpClient::connect(s.app.smtp).await;
    assert_eq!(greeting.code, 220);

    // EHLO, MAIL, RCPT and DATA in one write (RFC 2920: DATA ends the group).
    let group = format!(
        "EHLO client.test\r\nMAIL FROM:<carl@client.test>\r\nRCPT TO:<{}>\r\nDATA\r\n",
        s.reply_to
    );
    c.send_raw(group.as_bytes()).await;
    let ehlo = next_reply(&mut c).await;
    assert!(
        ehlo.code == 250 && ehlo.text.contains("PIPELINING"),
        "{ehlo:?}"
    );
    assert_reply(&next_reply(&mut c).await, 250, "2.1.0");
    assert_reply(&next_reply(&mut c).await, 250, "2.1.5");
    let go_ahead = next_reply(&mut c).await;
    assert!(
        go_ahead.code == 354 && go_ahead.text.starts_with("354 "),
        "{go_ahead:?}"
    );
    c.send_raw(dot_stuffed(&s.reply("p1", "First, pipelined")).as_bytes())
        .await;
    assert_reply(&next_reply(&mut c).await, 250, "2.0.0");
    assert_eq!(s.last_message_text().await, "First, pipelined");

    // A second transaction without DATA's group in the same write, and the data with QUIT
    // behind it once the 354 came (the data itself may not come before it: tests/attacks.rs).
    let group = format!(
        "RSET\r\nMAIL FROM:<carl@client.test>\r\nRCPT TO:<{}>\r\nDATA\r\n",
        s.reply_to
    );
    c.send_raw(group.as_bytes()).await;
    assert_reply(&next_reply(&mut c).await, 250, "2.0.0");
    assert_reply(&next_reply(&mut c).await, 250, "2.1.0");
    assert_reply(&next_reply(&mut c).await, 250, "2.1.5");
    assert_eq!(next_reply(&mut c).await.code, 354);
    let rest = format!(
        "{}QUIT\r\n",
        dot_stuffed(&s.reply(
            "p2",
            "Second, data and QUIT in one write\r\n.leading dot survives"
        ))
    );
    c.send_raw(rest.as_bytes()).await;
    assert_reply(&next_reply(&mut c).await, 250, "2.0.0");
    assert_reply(&next_reply(&mut c).await, 221, "2.0.0");
    assert_closed(&mut c).await;

    assert_eq!(
        s.last_message_text().await,
        "Second, data and QUIT in one write\n.leading dot survives"
    );
    assert_eq!(s.app.inbound().await.len(), 2);
    s.app.stop().await;
}

#[tokio::test]
async fn a_transaction_written_one_byte_at_a_time_is_delivered() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    let mut c = RawConnection::connect(s.app.smtp).await;
    assert_eq!(c.read_reply().await.code, 220);

    let steps: [(String, u16, &str); 4] = [
        ("EHLO client.test\r\n".into(), 250, ""),
        ("MAIL FROM:<carl@client.test>\r\n".into(), 250, "2.1.0"),
        (format!("RCPT TO:<{}>\r\n", s.reply_to), 250, "2.1.5"),
        ("DATA\r\n".into(), 354, ""),
    ];
    for (line, code, esc) in &steps {
        c.trickle(line.as_bytes()).await;
        let r = c.read_reply().await;
        if esc.is_empty() {
            assert_eq!(r.code, *code, "{line:?}: {r:?}");
        } else {
            assert_reply(&r, *code, esc);
        }
    }
    c.trickle(dot_stuffed(&s.reply("slow", "Typed very slowly\r\n..two dots")).as_bytes())
        .await;
    assert_reply(&c.read_reply().await, 250, "2.0.0");
    c.trickle(b"QUIT\r\n").await;
    assert_reply(&c.read_reply().await, 221, "2.0.0");

    assert_eq!(s.last_message_text().await, "Typed very slowly\n..two dots");
    s.app.stop().await;
}

#[tokio::test]
async fn rset_mid_transaction_forgets_the_recipients_so_data_gets_503() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    let mut c = connect_ehlo(s.app.smtp).await;
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 250, "2.1.0");
    assert_reply(
        &c.cmd(&format!("RCPT TO:<{}>", s.reply_to)).await,
        250,
        "2.1.5",
    );
    assert_reply(&c.cmd("RSET").await, 250, "2.0.0");
    assert_reply(&c.cmd("DATA").await, 503, "5.5.1");
    // And a new transaction can start (RSET also cleared MAIL).
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 250, "2.1.0");
    assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
    assert!(s.app.inbound().await.is_empty());
    s.app.stop().await;
}

#[tokio::test]
async fn bdat_chunks_deliver_a_message_that_is_posted_in_the_conversation() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    let mut c = connect_ehlo(s.app.smtp).await;
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 250, "2.1.0");
    assert_reply(
        &c.cmd(&format!("RCPT TO:<{}>", s.reply_to)).await,
        250,
        "2.1.5",
    );

    // BDAT data is sent as is: no dot-stuffing, CRLF line ends.
    let email = s.reply("chunked", "Sent in three chunks");
    let bytes = email.as_bytes();
    let (first, rest) = bytes.split_at(bytes.len() / 3);
    let (second, third) = rest.split_at(rest.len() / 2);
    for chunk in [first, second] {
        let mut wire = format!("BDAT {}\r\n", chunk.len()).into_bytes();
        wire.extend_from_slice(chunk);
        c.send_raw(&wire).await;
        assert_reply(&next_reply(&mut c).await, 250, "2.0.0");
    }
    let mut wire = format!("BDAT {} LAST\r\n", third.len()).into_bytes();
    wire.extend_from_slice(third);
    c.send_raw(&wire).await;
    let stored = next_reply(&mut c).await;
    assert_reply(&stored, 250, "2.0.0");

    assert_eq!(s.last_message_text().await, "Sent in three chunks");
    assert_eq!(
        raw_email(&s.app, &stored_id(&stored)).await,
        email,
        "stored byte for byte"
    );
    assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
    s.app.stop().await;
}

#[tokio::test]
async fn data_after_bdat_in_the_same_transaction_gets_503_5_5_1() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    let mut c = connect_ehlo(s.app.smtp).await;
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 250, "2.1.0");
    assert_reply(
        &c.cmd(&format!("RCPT TO:<{}>", s.reply_to)).await,
        250,
        "2.1.5",
    );
    c.send_raw(b"BDAT 10\r\nFrom: carl").await;
    assert_reply(&next_reply(&mut c).await, 250, "2.0.0");
    assert_reply(&c.cmd("DATA").await, 503, "5.5.1");

    // The half-chunked message is abandoned with RSET; DATA works in a fresh transaction.
    assert_reply(&c.cmd("RSET").await, 250, "2.0.0");
    let r = c
        .send_mail(
            CLIENT,
            &[&s.reply_to],
            &s.reply("after-bdat", "Plain DATA again"),
        )
        .await;
    assert_reply(&r, 250, "2.0.0");
    assert_eq!(s.last_message_text().await, "Plain DATA again");
    assert_eq!(
        s.app.inbound().await.len(),
        1,
        "the abandoned BDAT message is not stored"
    );
    s.app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Message data: smuggling, sizes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_bare_lf_before_the_dot_cannot_smuggle_a_second_message() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    let mut c = connect_ehlo(s.app.smtp).await;
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 250, "2.1.0");
    assert_reply(
        &c.cmd(&format!("RCPT TO:<{}>", s.reply_to)).await,
        250,
        "2.1.5",
    );
    assert_eq!(c.cmd("DATA").await.code, 354);

    let smuggled = format!(
        "MAIL FROM:<carl@client.test>\r\nRCPT TO:<{to}>\r\nDATA\r\nFrom: carl@client.test\r\nTo: {to}\r\n\
Subject: smuggled\r\nMessage-ID: <smuggled@client.test>\r\n\r\nSmuggled message\r\n",
        to = s.reply_to
    );
    let data = format!(
        "From: carl@client.test\r\nTo: {to}\r\nSubject: Re: Your order\r\nMessage-ID: <outer@client.test>\r\n\r\n\
Outer message\n.\r\n{smuggled}.\r\n",
        to = s.reply_to
    );
    c.send_raw(data.as_bytes()).await;
    let stored = next_reply(&mut c).await;
    assert_reply(&stored, 250, "2.0.0");
    // Had `\n.\r\n` ended the data, the next replies would be the smuggled MAIL/RCPT/DATA.
    assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
    assert_closed(&mut c).await;

    let inbound = s.app.inbound().await;
    assert_eq!(inbound.len(), 1, "one message: {inbound:?}");
    let id = stored_id(&stored);
    assert_eq!(inbound[0]["id"], id.as_str());
    let raw = raw_email(&s.app, &id).await;
    assert!(
        raw.contains("Outer message\n.\r\nMAIL FROM:<carl@client.test>\r\n"),
        "{raw}"
    );
    assert!(raw.contains("Smuggled message"), "{raw}");
    let messages = s.app.messages(&s.conversation).await;
    assert!(
        !messages
            .iter()
            .any(|m| m["body_text"] == "Smuggled message"),
        "the smuggled text was not posted on its own: {messages:?}"
    );
    s.app.stop().await;
}

#[tokio::test]
async fn a_declared_size_over_the_limit_gets_552_5_3_4_at_mail_from() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &["--max-message-size", "64K"]).await;
    let (mut c, greeting) = SmtpClient::connect(app.smtp).await;
    assert_eq!(greeting.code, 220);
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(ehlo.text.contains("SIZE 65536\r\n"), "{ehlo:?}");

    assert_reply(
        &c.cmd("MAIL FROM:<carl@client.test> SIZE=65537").await,
        552,
        "5.3.4",
    );
    // No transaction was started: a declared size within the limit is fine.
    assert_reply(
        &c.cmd("MAIL FROM:<carl@client.test> SIZE=65536").await,
        250,
        "2.1.0",
    );
    assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
    app.stop().await;
}

#[tokio::test]
async fn data_over_the_size_limit_is_drained_then_refused_and_the_connection_still_works() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &["--max-message-size", "64K"]).await;
    let mut c = connect_ehlo(s.app.smtp).await;
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 250, "2.1.0");
    assert_reply(
        &c.cmd(&format!("RCPT TO:<{}>", s.reply_to)).await,
        250,
        "2.1.5",
    );
    assert_eq!(c.cmd("DATA").await.code, 354);
    let filler: String = (0..1000)
        .map(|i| format!("{i:04} {}\n", "y".repeat(95)))
        .collect();
    let big = s.reply("big", &filler);
    assert!(big.len() > 100_000);
    c.send_raw(dot_stuffed(&big).as_bytes()).await;
    assert_reply(&next_reply(&mut c).await, 552, "5.3.4");

    // The whole body was drained: the next line is read as a command.
    assert_reply(&c.cmd("NOOP").await, 250, "2.0.0");
    assert!(
        s.app.inbound().await.is_empty(),
        "nothing stored for a refused message"
    );
    let r = c
        .send_mail(CLIENT, &[&s.reply_to], &s.reply("small", "Short and sweet"))
        .await;
    assert_reply(&r, 250, "2.0.0");
    assert_eq!(s.last_message_text().await, "Short and sweet");
    s.app.stop().await;
}

#[tokio::test]
async fn a_data_line_longer_than_1000_octets_is_accepted_and_stored() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    let mut c = connect_ehlo(s.app.smtp).await;
    let long_line = format!("Start {} end", "L".repeat(2000));
    let r = c
        .send_mail(CLIENT, &[&s.reply_to], &s.reply("long", &long_line))
        .await;
    assert_reply(&r, 250, "2.0.0");
    let raw = raw_email(&s.app, &stored_id(&r)).await;
    assert!(
        raw.contains(&format!("\r\n{long_line}\r\n")),
        "the long line is stored whole"
    );
    assert_eq!(s.app.inbound().await[0]["outcome"], "posted");
    assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
    s.app.stop().await;
}

#[tokio::test]
async fn an_empty_message_ends_at_the_dot_right_after_the_data_command() {
    // RFC 5321 §4.1.1.4: the CRLF that ends the DATA command is the first CRLF of the
    // terminating CRLF.CRLF when there is no mail data.
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let agent = app.person(AGENT, "Agnes Agent", "internal").await;
    let client = app.person(CLIENT, "Carl Client", "client").await;
    let conversation = app.conversation("Your order", &agent, &[&client]).await;
    app.say(&conversation, &agent, "Hello", "message").await;
    let (reply_to, _) = reply_address(&app, CLIENT).await;

    let mut c = connect_ehlo(app.smtp).await;
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 250, "2.1.0");
    assert_reply(&c.cmd(&format!("RCPT TO:<{reply_to}>")).await, 250, "2.1.5");
    assert_eq!(c.cmd("DATA").await.code, 354);
    c.send_raw(b".\r\n").await;
    let r = timeout(WITHIN, c.read_reply())
        .await
        .expect("the lone dot ends the (empty) data: a reply within 10 s")
        .expect("a reply");
    // Not an email at all: recorded and refused.
    assert_reply(&r, 550, "5.6.0");
    assert_reply(&c.cmd("NOOP").await, 250, "2.0.0");
    app.stop().await;
}

#[tokio::test]
async fn a_dot_stuffed_first_data_line_is_unstuffed() {
    // RFC 5321 §4.5.2: transparency applies to every line of the data, the first one included.
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    let mut c = connect_ehlo(s.app.smtp).await;
    let email = format!(
        ".X-Leading-Dot: yes\r\n{}",
        s.reply("first-dot", "A dot in front")
    );
    let r = c.send_mail(CLIENT, &[&s.reply_to], &email).await;
    assert!(r.code == 250 || r.code == 550, "{r:?}");
    let inbound = s.app.inbound().await;
    assert_eq!(inbound.len(), 1, "{inbound:?}");
    let raw = raw_email(&s.app, inbound[0]["id"].as_str().unwrap()).await;
    assert!(
        raw.starts_with(".X-Leading-Dot: yes\r\n"),
        "the stuffing dot was kept: {:?}",
        &raw[..40]
    );
    assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
    s.app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Connection and session limits, timeouts
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_connection_over_the_cap_gets_421_4_7_0_until_one_closes() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &["--smtp-max-connections", "2"]).await;
    let (mut first, greeting) = SmtpClient::connect(app.smtp).await;
    assert_eq!(greeting.code, 220);
    let (mut second, greeting) = SmtpClient::connect(app.smtp).await;
    assert_eq!(greeting.code, 220);

    let (mut third, refusal) = SmtpClient::connect(app.smtp).await;
    assert_reply(&refusal, 421, "4.7.0");
    assert_closed(&mut third).await;

    // The two served connections are unaffected.
    assert_reply(&second.cmd("NOOP").await, 250, "2.0.0");
    assert_reply(&first.cmd("QUIT").await, 221, "2.0.0");
    assert_closed(&mut first).await;
    drop(first);

    // The permit is released when the connection task ends: soon, not necessarily at once.
    let deadline = Instant::now() + WITHIN;
    let mut fourth = loop {
        let (c, greeting) = SmtpClient::connect(app.smtp).await;
        if greeting.code == 220 {
            break c;
        }
        assert_reply(&greeting, 421, "4.7.0");
        assert!(
            Instant::now() < deadline,
            "no free connection slot within 10 s"
        );
        sleep(Duration::from_millis(100)).await;
    };
    assert_reply(&fourth.cmd("NOOP").await, 250, "2.0.0");
    assert_reply(&fourth.cmd("QUIT").await, 221, "2.0.0");
    assert_reply(&second.cmd("QUIT").await, 221, "2.0.0");
    app.stop().await;
}

#[tokio::test]
async fn mail_after_the_per_session_message_limit_gets_421_4_7_0_and_the_socket_closes() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &["--smtp-max-messages", "2"]).await;
    let mut c = connect_ehlo(s.app.smtp).await;
    for n in 1..=2 {
        let r = c
            .send_mail(
                CLIENT,
                &[&s.reply_to],
                &s.reply(&format!("m{n}"), &format!("Message {n}")),
            )
            .await;
        assert_reply(&r, 250, "2.0.0");
    }
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 421, "4.7.0");
    assert_closed(&mut c).await;
    assert_eq!(s.app.inbound().await.len(), 2);

    // The limit is per session: a new connection may send again.
    let mut again = connect_ehlo(s.app.smtp).await;
    let r = again
        .send_mail(CLIENT, &[&s.reply_to], &s.reply("m3", "Message 3"))
        .await;
    assert_reply(&r, 250, "2.0.0");
    s.app.stop().await;
}

#[tokio::test]
async fn an_idle_connection_gets_421_4_4_2_and_is_closed() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &["--smtp-idle-timeout", "1s"]).await;
    let (mut c, greeting) = SmtpClient::connect(app.smtp).await;
    assert_eq!(greeting.code, 220);
    let started = Instant::now();
    let r = next_reply(&mut c).await;
    assert_reply(&r, 421, "4.4.2");
    assert_closed(&mut c).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "not before the idle timeout: {waited:?}"
    );
    assert!(waited < WITHIN, "{waited:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_command_trickled_one_byte_every_300_ms_times_out_with_421_4_4_2() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(
        &db,
        &["--smtp-command-timeout", "1s", "--smtp-idle-timeout", "1h"],
    )
    .await;
    let stream = TcpStream::connect(app.smtp).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut greeting = String::new();
    reader.read_line(&mut greeting).await.unwrap();
    assert!(greeting.starts_with("220 "), "{greeting:?}");

    // A slow-loris: a line that never ends, one byte every 300 ms, for up to 30 s.
    let started = Instant::now();
    let loris = tokio::spawn(async move {
        let line = format!("NOOP {}", "z".repeat(95));
        for byte in line.as_bytes() {
            if writer.write_all(std::slice::from_ref(byte)).await.is_err() {
                break;
            }
            sleep(Duration::from_millis(300)).await;
        }
    });
    let mut answer = Vec::new();
    timeout(WITHIN, reader.read_to_end(&mut answer))
        .await
        .expect("the server gives up on the slow command within 10 s")
        .ok();
    let waited = started.elapsed();
    loris.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("421 4.4.2 "), "{answer:?}");
    assert_eq!(
        answer.lines().count(),
        1,
        "only the timeout reply: {answer:?}"
    );
    assert!(
        waited >= Duration::from_millis(800),
        "not before the command timeout: {waited:?}"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// LMTP
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn lmtp_wants_lhlo_and_answers_after_data_once_per_recipient_in_rcpt_order() {
    let db = TestDb::sqlite().await;
    // Strict: a reply from someone else than its address's participant is refused, so the
    // two recipients get different answers.
    let app = spawn_app(
        &db,
        &["--smtp-protocol", "lmtp", "--sender-policy", "strict"],
    )
    .await;
    let agent = app.person(AGENT, "Agnes Agent", "internal").await;
    let carl = app.person(CLIENT, "Carl Client", "client").await;
    let olga = app.person(OTHER_CLIENT, "Olga Other", "client").await;
    let conversation = app
        .conversation("Your order", &agent, &[&carl, &olga])
        .await;
    app.say(&conversation, &agent, "Hello both", "message")
        .await;
    let (carl_reply_to, carl_notification) = reply_address(&app, CLIENT).await;
    let (olga_reply_to, _) = reply_address(&app, OTHER_CLIENT).await;
    assert_ne!(
        carl_reply_to, olga_reply_to,
        "each participant has their own reply address"
    );

    let (mut c, greeting) = SmtpClient::connect(app.smtp).await;
    assert_eq!(greeting.code, 220);
    assert!(greeting.text.contains(" LMTP "), "{greeting:?}");
    assert_reply(&c.cmd("EHLO client.test").await, 500, "5.5.1");
    assert_reply(&c.cmd("HELO client.test").await, 500, "5.5.1");
    let lhlo = c.cmd("LHLO client.test").await;
    assert!(
        lhlo.code == 250 && lhlo.text.contains("PIPELINING"),
        "{lhlo:?}"
    );

    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 250, "2.1.0");
    assert_reply(
        &c.cmd(&format!("RCPT TO:<{carl_reply_to}>")).await,
        250,
        "2.1.5",
    );
    assert_reply(
        &c.cmd(&format!("RCPT TO:<{olga_reply_to}>")).await,
        250,
        "2.1.5",
    );
    assert_eq!(c.cmd("DATA").await.code, 354);
    // From Carl: fine for Carl's address, a forgery for Olga's (the sender check is per token).
    let email = reply_email(
        CLIENT,
        &carl_reply_to,
        "<lmtp@client.test>",
        &carl_notification,
        "Via LMTP",
    );
    c.send_raw(dot_stuffed(&email).as_bytes()).await;
    assert_reply(&next_reply(&mut c).await, 250, "2.0.0");
    assert_reply(&next_reply(&mut c).await, 550, "5.7.1");
    // Exactly two: the next reply is QUIT's.
    assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
    assert_closed(&mut c).await;

    let messages = app.messages(&conversation).await;
    let posted: Vec<&serde_json::Value> = messages
        .iter()
        .filter(|m| m["body_text"] == "Via LMTP")
        .collect();
    assert_eq!(posted.len(), 1, "{messages:?}");
    assert_eq!(posted[0]["author_id"], carl.as_str());
    let mut outcomes: Vec<String> = app
        .inbound()
        .await
        .iter()
        .map(|e| e["outcome"].as_str().unwrap().to_string())
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["posted", "sender_mismatch"]);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn stopping_the_server_sends_421_4_3_2_to_an_idle_session_and_closes_it() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let mut c = connect_ehlo(app.smtp).await;
    let stop = tokio::spawn(app.stop());
    assert_reply(&next_reply(&mut c).await, 421, "4.3.2");
    assert_closed(&mut c).await;
    timeout(WITHIN, stop)
        .await
        .expect("the server stops within 10 s")
        .expect("stop task");
}

#[tokio::test]
async fn a_transaction_mid_data_when_the_server_stops_still_completes_and_is_stored() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    let mut c = connect_ehlo(s.app.smtp).await;
    assert_reply(&c.cmd("MAIL FROM:<carl@client.test>").await, 250, "2.1.0");
    assert_reply(
        &c.cmd(&format!("RCPT TO:<{}>", s.reply_to)).await,
        250,
        "2.1.5",
    );
    assert_eq!(c.cmd("DATA").await.code, 354);
    let wire = dot_stuffed(&s.reply("inflight", "Sent while the server was stopping"));
    let (first_half, second_half) = wire.split_at(wire.len() / 2);
    c.send_raw(first_half.as_bytes()).await;

    let Scene {
        app,
        conversation,
        client,
        ..
    } = s;
    let addr = app.smtp;
    let stop = tokio::spawn(app.stop());
    // The stop is under way once the listener is gone (new connections are refused).
    let deadline = Instant::now() + WITHIN;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the listener still accepts 10 s after stop"
        );
        sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !stop.is_finished(),
        "stop waits for the transaction in flight"
    );

    c.send_raw(second_half.as_bytes()).await;
    let stored = next_reply(&mut c).await;
    assert_reply(&stored, 250, "2.0.0");
    // Between transactions now: the shutdown reaches this session too.
    assert_reply(&next_reply(&mut c).await, 421, "4.3.2");
    assert_closed(&mut c).await;
    timeout(WITHIN, stop)
        .await
        .expect("the server stops within 10 s")
        .expect("stop task");

    // Committed before the 250: visible to a fresh store after the server is gone.
    let store = store(&db).await;
    let raw = store
        .raw_email(&stored_id(&stored))
        .await
        .unwrap()
        .expect("raw email stored");
    assert!(String::from_utf8_lossy(&raw).contains("Sent while the server was stopping"));
    let messages = store.messages(&conversation).await.unwrap();
    let last = messages.last().expect("the reply was posted");
    assert_eq!(last.body_text, "Sent while the server was stopping");
    assert_eq!(last.author_id, client);
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// Every backend
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_accepted_reply_over_the_listener_is_posted_on_every_backend() {
    for db in test_databases().await {
        let s = scene(&db, &[]).await;
        let mut c = connect_ehlo(s.app.smtp).await;
        let r = c
            .send_mail(
                CLIENT,
                &[&s.reply_to],
                &s.reply("backend", "Thanks, received!"),
            )
            .await;
        assert_reply(&r, 250, "2.0.0");
        assert_reply(&c.cmd("QUIT").await, 221, "2.0.0");
        assert_closed(&mut c).await;

        let messages = s.app.messages(&s.conversation).await;
        let last = messages.last().unwrap();
        assert_eq!(last["body_text"], "Thanks, received!", "{}", db.backend);
        assert_eq!(last["source"], "email");
        assert_eq!(last["author_id"], s.client.as_str());
        let inbound = s.app.inbound().await;
        assert_eq!(inbound.len(), 1, "{}", db.backend);
        assert_eq!(inbound[0]["id"], stored_id(&r).as_str());
        assert_eq!(inbound[0]["outcome"], "posted");
        assert_eq!(inbound[0]["posted_message_id"], last["id"]);
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn connections_beyond_the_per_ip_cap_get_421_4_7_0() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &["--smtp-max-connections-per-ip", "1"]).await;
    let (mut first, greeting) = SmtpClient::connect(app.smtp).await;
    assert_eq!(greeting.code, 220);
    let (_, refused) = SmtpClient::connect(app.smtp).await;
    assert_eq!(refused.code, 421, "{refused:?}");
    assert!(refused.text.contains("4.7.0"));
    assert_eq!(first.cmd("QUIT").await.code, 221);
    // The slot is released when the connection ends.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (mut again, greeting) = SmtpClient::connect(app.smtp).await;
        if greeting.code == 220 {
            assert_eq!(again.cmd("QUIT").await.code, 221);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was never released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Abuse
// ---------------------------------------------------------------------------------------------

/// Every end-of-data look-alike from the SMTP smuggling reports (SEC Consult, 2023: bare LF,
/// bare CR, mixed, and NUL variants) stays inside the one message; only CRLF.CRLF ends it.
#[tokio::test]
async fn no_smuggling_variant_splits_a_message() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &[]).await;
    let variants: [&[u8]; 10] = [
        b"\n.\n",
        b"\n.\r\n",
        b"\r\n.\n",
        b"\r.\r",
        b"\r.\r\n",
        b"\r\n.\r",
        b"\n.\r",
        b"\r\n\x00.\r\n",
        b"\r\n.\x00\r\n",
        b"\r\r\n.\r\r\n",
    ];
    for (i, end) in variants.iter().enumerate() {
        let before = s.app.inbound().await.len();
        let mut c = connect_ehlo(s.app.smtp).await;
        c.cmd("MAIL FROM:<carl@client.test>").await;
        c.cmd(&format!("RCPT TO:<{}>", s.reply_to)).await;
        assert_eq!(c.cmd("DATA").await.code, 354);
        let mut data = format!(
            "From: carl@client.test\r\nTo: {to}\r\nSubject: Re: Your order\r\nMessage-ID: <outer{i}@client.test>\r\n\r\nOuter"
            , to = s.reply_to
        )
        .into_bytes();
        data.extend_from_slice(end);
        data.extend_from_slice(
            format!(
                "MAIL FROM:<carl@client.test>\r\nRCPT TO:<{to}>\r\nDATA\r\nSubject: smuggled\r\n\r\nSmuggled\r\n.\r\n",
                to = s.reply_to
            )
            .as_bytes(),
        );
        c.send_raw(&data).await;
        let stored = next_reply(&mut c).await;
        assert!(stored.code == 250, "variant {i} ({end:?}): {stored:?}");
        // Had the look-alike ended the data, the next replies would belong to MAIL/RCPT/DATA.
        let quit = c.cmd("QUIT").await;
        assert!(
            quit.code == 221,
            "variant {i} ({end:?}) split the message: {quit:?}"
        );
        assert_eq!(
            s.app.inbound().await.len(),
            before + 1,
            "variant {i} ({end:?}) made one message"
        );
    }
    s.app.stop().await;
}

#[tokio::test]
async fn a_client_sending_junk_is_disconnected_after_twenty_errors() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let mut c = connect_ehlo(app.smtp).await;
    let mut codes = Vec::new();
    for i in 0..40 {
        c.send_raw(format!("XYZZY {i}\r\n").as_bytes()).await;
        match timeout(WITHIN, c.read_reply()).await.expect("a reply") {
            Some(reply) => codes.push(reply.code),
            None => break,
        }
        if codes.last() == Some(&421) {
            break;
        }
    }
    assert_eq!(codes.iter().filter(|&&c| c == 500).count(), 20, "{codes:?}");
    assert_eq!(codes.last(), Some(&421), "{codes:?}");
    assert_closed(&mut c).await;
    app.stop().await;
}

#[tokio::test]
async fn data_trickled_one_byte_every_300_ms_hits_the_data_timeout() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &["--smtp-data-timeout", "1s"]).await;
    let mut c = connect_ehlo(s.app.smtp).await;
    c.cmd("MAIL FROM:<carl@client.test>").await;
    c.cmd(&format!("RCPT TO:<{}>", s.reply_to)).await;
    assert_eq!(c.cmd("DATA").await.code, 354);
    let started = Instant::now();
    let mut answer = None;
    for byte in b"Subject: slow\r\n\r\nThis message never ends".iter() {
        c.send_raw(std::slice::from_ref(byte)).await;
        if let Ok(reply) = timeout(Duration::from_millis(300), c.read_reply()).await {
            answer = reply;
            break;
        }
    }
    let answer = answer.expect("the server gives up on the slow data");
    assert_reply(&answer, 421, "4.4.2");
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert_closed(&mut c).await;
    assert!(
        s.app.inbound().await.is_empty(),
        "nothing half-received is stored"
    );
    s.app.stop().await;
}

/// Peak resident memory of this test process (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// MIME bombs are answered (stored, or refused with a 5xx), quickly and without memory
/// blow-up: 1,000 nested multiparts, 10,000 parts, 50,000 headers, and a base64 attachment
/// larger than the attachment limit (listed as omitted, not kept).
#[tokio::test]
async fn mime_bombs_are_answered_and_bounded() {
    let db = TestDb::sqlite().await;
    let s = scene(&db, &["--max-attachment-size", "1MiB"]).await;
    let head = |id: &str, extra: &str| {
        format!(
            "From: carl@client.test\r\nTo: {to}\r\nSubject: Re: Your order\r\nMessage-ID: <{id}@client.test>\r\n\
MIME-Version: 1.0\r\n{extra}",
            to = s.reply_to
        )
    };
    let mut nested = head(
        "nested",
        "Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n",
    );
    for depth in 1..1000 {
        nested.push_str(&format!(
            "--b{}\r\nContent-Type: multipart/mixed; boundary=\"b{depth}\"\r\n\r\n",
            depth - 1
        ));
    }
    nested.push_str("--b999\r\nContent-Type: text/plain\r\n\r\nDeep down\r\n");
    for depth in (0..1000).rev() {
        nested.push_str(&format!("--b{depth}--\r\n"));
    }
    let mut parts = head(
        "parts",
        "Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n",
    );
    for i in 0..10_000 {
        parts.push_str(&format!(
            "--p\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"
        ));
    }
    parts.push_str("--p--\r\n");
    let mut headers = head("headers", "");
    for i in 0..50_000 {
        headers.push_str(&format!("X-Flood-{i}: v\r\n"));
    }
    headers.push_str("Content-Type: text/plain\r\n\r\nUnder a flood of headers\r\n");
    let blob = data_encoding::BASE64.encode(&vec![7u8; 3 * 1024 * 1024]);
    let mut big = head(
        "big",
        "Content-Type: multipart/mixed; boundary=\"a\"\r\n\r\n",
    );
    big.push_str("--a\r\nContent-Type: text/plain\r\n\r\nSee the attachment\r\n--a\r\n");
    big.push_str("Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    for line in blob.as_bytes().chunks(76) {
        big.push_str(std::str::from_utf8(line).unwrap());
        big.push_str("\r\n");
    }
    big.push_str("--a--\r\n");

    let before = peak_rss();
    for (name, email) in [
        ("nested", &nested),
        ("parts", &parts),
        ("headers", &headers),
        ("big", &big),
    ] {
        let started = Instant::now();
        let reply = s
            .app
            .deliver("carl@client.test", &[&s.reply_to], email)
            .await;
        assert!(
            reply.code == 250 || (500..600).contains(&reply.code),
            "{name}: {reply:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name} took {:?}",
            started.elapsed()
        );
    }
    let grown = peak_rss().saturating_sub(before);
    assert!(
        grown < 300 * 1024 * 1024,
        "peak RSS grew by {} MiB",
        grown >> 20
    );
    // The gateway still works, and the big attachment was listed, not kept.
    let inbound = s.app.inbound().await;
    assert_eq!(inbound.len(), 4, "{inbound:?}");
    let big_record = inbound
        .iter()
        .find(|r| r["message_id"] == "big@client.test")
        .expect("the big one is recorded");
    assert!(
        big_record["detail"]
            .as_str()
            .unwrap()
            .contains("attachments not kept: big.bin"),
        "{big_record}"
    );
    let reply = s
        .app
        .deliver(
            "carl@client.test",
            &[&s.reply_to],
            &s.reply("after", "Still here"),
        )
        .await;
    assert_reply(&reply, 250, "2.0.0");
    s.app.stop().await;
}
