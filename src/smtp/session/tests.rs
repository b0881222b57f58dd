//! Transcript tests for the pure session: no sockets, bytes split at every boundary.

use super::*;
use crate::domain::ReplyToken;

const LIVE: &str = "abcdefghijklmnopqrstuvwxyz";
const REVOKED: &str = "zzzzzzzzzzzzzzzzzzzzzzzzzz";

fn config(protocol: Protocol) -> SessionConfig {
    SessionConfig {
        hostname: "mx.test".into(),
        domains: LiveDomains::new(SendingDomains::single(
            EmailAddress::parse("notifications@gw.test").unwrap(),
            "reply.test",
        )),
        max_message_size: 1000,
        max_recipients: 3,
        max_messages: 2,
        max_errors: 20,
        protocol,
        tls_available: false,
        tls_required: false,
    }
}

#[derive(Default, Debug)]
struct Transcript {
    codes: Vec<u16>,
    text: String,
    delivered: Vec<Transaction>,
    closed: bool,
}

/// Feeds `chunks` one at a time, as separate reads, answering lookups and deliveries the way
/// the connection would: `LIVE` is a live token, everything else unknown; deliveries get 250.
fn run_chunks(protocol: Protocol, chunks: &[&[u8]]) -> Transcript {
    run_with(config(protocol), chunks)
}

/// As [`run_chunks`] with a given configuration; a STARTTLS "handshake" discards the rest of
/// the chunk it came in, as the connection does.
fn run_with(config: SessionConfig, chunks: &[&[u8]]) -> Transcript {
    let protocol = config.protocol;
    let mut session = Session::new(config);
    let mut t = Transcript::default();
    let push = |t: &mut Transcript, r: Reply| {
        t.codes.push(r.code);
        t.text.push_str(std::str::from_utf8(r.as_bytes()).unwrap());
    };
    // A client waits for the 354 before sending the data: a read ends at the end of each
    // DATA line, however the chunks were cut.
    for chunk in after_data_lines(chunks) {
        let mut it = chunk.iter();
        while let Some(event) = session.ingest(&mut it) {
            match event {
                Event::Reply(r) => push(&mut t, r),
                Event::CheckRecipient(rcpt) => {
                    let verdict = if rcpt.target == Target::Token(ReplyToken::parse(LIVE).unwrap())
                    {
                        RecipientVerdict::Live
                    } else {
                        RecipientVerdict::Unknown
                    };
                    let r = session.recipient_verdict(verdict);
                    push(&mut t, r);
                }
                Event::Deliver(tx) => {
                    let n = match protocol {
                        Protocol::Smtp => 1,
                        Protocol::Lmtp => tx.recipients.len(),
                    };
                    t.delivered.push(tx);
                    let replies = vec![Reply::new(250, "2.0.0", "Stored"); n];
                    for r in session.delivered(replies) {
                        push(&mut t, r);
                    }
                }
                Event::Close => t.closed = true,
                Event::StartTls => {
                    session.tls_started();
                    t.text.push_str("<TLS>\n");
                    break;
                }
            }
        }
    }
    t
}

/// `chunks` cut again after each `DATA` line of the stream they make.
fn after_data_lines<'a>(chunks: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let stream: Vec<u8> = chunks.concat();
    let ends: Vec<usize> = (0..stream.len())
        .filter(|&i| (i == 0 || stream[i - 1] == b'\n') && stream[i..].starts_with(b"DATA\r\n"))
        .map(|i| i + 6)
        .collect();
    let mut reads = Vec::new();
    let mut offset = 0;
    for chunk in chunks {
        let mut from = 0;
        for &end in &ends {
            if end > offset + from && end < offset + chunk.len() {
                reads.push(&chunk[from..end - offset]);
                from = end - offset;
            }
        }
        reads.push(&chunk[from..]);
        offset += chunk.len();
    }
    reads
}

fn tls_config(required: bool) -> SessionConfig {
    SessionConfig {
        tls_available: true,
        tls_required: required,
        ..config(Protocol::Smtp)
    }
}

#[test]
fn starttls_is_offered_until_tls_is_active_and_the_session_starts_over_after_it() {
    let t = run_with(
        tls_config(false),
        &[
            b"EHLO c\r\n",
            b"STARTTLS\r\n",
            b"MAIL FROM:<a@b.test>\r\n",
            b"EHLO c\r\n",
            b"STARTTLS\r\n",
        ],
    );
    assert_eq!(t.codes, [250, 220, 503, 250, 503], "{}", t.text);
    let (before, after) = t.text.split_once("<TLS>").unwrap();
    assert!(before.contains("STARTTLS"), "advertised before: {before}");
    assert!(
        !after.contains("250-STARTTLS") && !after.contains("250 STARTTLS"),
        "not after: {after}"
    );
    assert!(
        after.contains("503 5.5.1 Say EHLO first"),
        "EHLO again after TLS: {after}"
    );
}

#[test]
fn commands_pipelined_behind_starttls_are_never_acted_on() {
    // RFC 3207 §4.2 (the 2011 command-injection attacks): RSET and MAIL arrive in the same
    // packet as STARTTLS, before the handshake; they must be thrown away, not answered.
    let t = run_with(
        tls_config(false),
        &[
            b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@b.test>\r\nRSET\r\n",
            b"EHLO c\r\n",
        ],
    );
    assert_eq!(t.codes, [250, 220, 250], "{}", t.text);
}

#[test]
fn with_tls_required_mail_before_starttls_is_refused_with_530() {
    let t = run_with(
        tls_config(true),
        &[
            b"EHLO c\r\nMAIL FROM:<a@b.test>\r\n",
            b"STARTTLS\r\n",
            b"EHLO c\r\nMAIL FROM:<a@b.test>\r\n",
        ],
    );
    assert_eq!(t.codes, [250, 530, 220, 250, 250], "{}", t.text);
    assert!(
        t.text
            .contains("530 5.7.0 Must issue a STARTTLS command first")
    );
}

#[test]
fn starttls_without_a_certificate_is_not_offered_and_refused() {
    let t = run("EHLO c\r\nSTARTTLS\r\n");
    assert_eq!(t.codes, [250, 502], "{}", t.text);
    assert!(!t.text.contains("STARTTLS\r\n250"));
}

fn run(input: &str) -> Transcript {
    run_chunks(Protocol::Smtp, &[input.as_bytes()])
}

fn rcpt(token: &str) -> String {
    format!("RCPT TO:<reply+{token}@reply.test>\r\n")
}

fn happy_path() -> String {
    format!(
        "EHLO client.test\r\nMAIL FROM:<alice@example.com>\r\n{}DATA\r\nSubject: hi\r\n\r\nHello\r\n..dot\r\n.\r\nQUIT\r\n",
        rcpt(LIVE)
    )
}

#[test]
fn ehlo_advertises_the_extensions_we_support() {
    let t = run("EHLO client.test\r\n");
    for ext in [
        "PIPELINING",
        "SIZE 1000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
    ] {
        assert!(t.text.contains(ext), "{ext} missing from {}", t.text);
    }
    assert!(!t.text.contains("STARTTLS"));
}

#[test]
fn a_complete_pipelined_transaction_is_delivered_dot_unstuffed() {
    let t = run(&happy_path());
    assert_eq!(t.codes, vec![250, 250, 250, 354, 250, 221]);
    assert_eq!(t.delivered.len(), 1);
    let tx = &t.delivered[0];
    assert_eq!(tx.mail_from, "alice@example.com");
    assert_eq!(
        tx.recipients[0].target,
        Target::Token(ReplyToken::parse(LIVE).unwrap())
    );
    assert_eq!(tx.data, b"Subject: hi\r\n\r\nHello\r\n.dot\r\n");
    assert!(t.closed);
}

#[test]
fn commands_split_at_every_byte_boundary_give_the_same_transcript() {
    let input = happy_path();
    let whole = run(&input);
    let bytes = input.as_bytes();
    for cut in 1..bytes.len() {
        let t = run_chunks(Protocol::Smtp, &[&bytes[..cut], &bytes[cut..]]);
        assert_eq!(t.codes, whole.codes, "split at {cut}");
        assert_eq!(
            t.delivered[0].data, whole.delivered[0].data,
            "split at {cut}"
        );
    }
    // One byte per read, too.
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    let t = run_chunks(Protocol::Smtp, &singles);
    assert_eq!(t.codes, whole.codes);
}

#[test]
fn helo_works_without_extensions() {
    let t = run("HELO old.client\r\nMAIL FROM:<a@example.com>\r\n");
    assert_eq!(t.codes, vec![250, 250]);
}

#[test]
fn commands_out_of_order_get_503_5_5_1() {
    let t = run(&format!(
        "MAIL FROM:<a@example.com>\r\nEHLO c\r\n{}DATA\r\n",
        rcpt(LIVE)
    ));
    assert_eq!(t.codes, vec![503, 250, 503, 503]);
    assert!(t.text.contains("503 5.5.1"));
    let t = run("EHLO c\r\nMAIL FROM:<a@example.com>\r\nMAIL FROM:<a@example.com>\r\nDATA\r\n");
    assert_eq!(t.codes, vec![250, 250, 503, 503]);
}

#[test]
fn unknown_or_revoked_token_is_rejected_at_rcpt_with_550_5_1_1() {
    let t = run(&format!(
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\n{}",
        rcpt(REVOKED)
    ));
    assert_eq!(t.codes, vec![250, 250, 550]);
    assert!(t.text.contains("550 5.1.1"));
    let t = run("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<support@reply.test>\r\n");
    assert!(t.text.contains("550 5.1.1"));
}

#[test]
fn foreign_domains_are_refused_so_we_are_never_an_open_relay() {
    let t = run("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<victim@gmail.com>\r\n");
    assert_eq!(t.codes, vec![250, 250, 550]);
    assert!(t.text.contains("550 5.7.1"));
    // A token-looking address on another domain is still a relay attempt.
    let t = run(&format!(
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<reply+{LIVE}@elsewhere.test>\r\n"
    ));
    assert!(t.text.contains("550 5.7.1"));
}

#[test]
fn other_addresses_are_looked_up_as_inbox_addresses_and_blocked_senders_refused() {
    let mut session = Session::new(config(Protocol::Smtp));
    let bytes = b"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<Support@Example.COM>\r\nRCPT TO:<help@example.com>\r\n";
    let mut input = bytes.iter();
    let mut replies = Vec::new();
    let mut verdicts = [RecipientVerdict::SenderBlocked, RecipientVerdict::Live].into_iter();
    while let Some(event) = session.ingest(&mut input) {
        match event {
            Event::Reply(r) => replies.push(r),
            Event::CheckRecipient(rcpt) => {
                assert!(matches!(rcpt.target, Target::Inbox(ref a) if a.ends_with("@example.com")));
                assert_eq!(session.mail_from(), Some("a@example.com"));
                replies.push(session.recipient_verdict(verdicts.next().unwrap()));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
    assert_eq!(codes, vec![250, 250, 550, 250]);
    assert!(format!("{:?}", replies[2]).starts_with("550 5.7.1 Mail from this sender"));
}

#[test]
fn token_addresses_match_in_any_letter_case() {
    let upper = format!(
        "RCPT TO:<REPLY+{}@REPLY.TEST>\r\n",
        LIVE.to_ascii_uppercase()
    );
    let t = run(&format!("EHLO c\r\nMAIL FROM:<a@example.com>\r\n{upper}"));
    assert_eq!(t.codes, vec![250, 250, 250]);
}

#[test]
fn more_recipients_than_the_cap_get_452_4_5_3() {
    let r = rcpt(LIVE);
    let t = run(&format!(
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\n{r}{r}{r}{r}"
    ));
    assert_eq!(t.codes, vec![250, 250, 250, 250, 250, 452]);
    assert!(t.text.contains("452 4.5.3"));
}

#[test]
fn declared_size_over_the_limit_is_refused_before_any_data() {
    let t = run("EHLO c\r\nMAIL FROM:<a@example.com> SIZE=5000\r\n");
    assert_eq!(t.codes, vec![250, 552]);
    assert!(t.text.contains("552 5.3.4"));
}

#[test]
fn data_over_the_limit_is_drained_then_refused_with_552() {
    let body = "x".repeat(100);
    let mut input = format!(
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\n{}DATA\r\n",
        rcpt(LIVE)
    );
    for _ in 0..30 {
        input.push_str(&body);
        input.push_str("\r\n");
    }
    input.push_str(".\r\nNOOP\r\n");
    let t = run(&input);
    assert_eq!(t.codes, vec![250, 250, 250, 354, 552, 250]);
    assert!(t.delivered.is_empty());
}

#[test]
fn a_bare_lf_before_the_dot_never_ends_data() {
    // SMTP smuggling: "\n.\r\n" or "\r\n.\n" must not end the message, so the smuggled
    // MAIL/RCPT/DATA stay inside the first message's content.
    let smuggled = format!(
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\n{r}DATA\r\nfirst\n.\r\nMAIL FROM:<evil@example.com>\r\n{r}DATA\r\nsecond\r\n.\n\r\nthird\r\n.\r\n",
        r = rcpt(LIVE)
    );
    let t = run(&smuggled);
    assert_eq!(t.delivered.len(), 1, "{:?}", t.codes);
    let data = String::from_utf8_lossy(&t.delivered[0].data);
    assert!(
        data.contains("evil@example.com") && data.contains("third"),
        "{data}"
    );
    assert_eq!(t.codes, vec![250, 250, 250, 354, 250]);
}

#[test]
fn rset_mid_transaction_forgets_the_envelope() {
    let t = run(&format!(
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\n{}RSET\r\nDATA\r\nMAIL FROM:<b@example.com>\r\n",
        rcpt(LIVE)
    ));
    assert_eq!(t.codes, vec![250, 250, 250, 250, 503, 250]);
}

#[test]
fn bdat_chunks_are_assembled_into_one_message() {
    let t = run_chunks(
        Protocol::Smtp,
        &[
            format!(
                "EHLO c\r\nMAIL FROM:<a@example.com>\r\n{}BDAT 12\r\nSubject",
                rcpt(LIVE)
            )
            .as_bytes(),
            b": x\r\nBDAT 11 LAST\r\n\r\nbody\r\n.\r\nQUIT\r\n",
        ],
    );
    assert_eq!(t.codes, vec![250, 250, 250, 250, 250, 221]);
    // BDAT data is binary-exact: no dot-unstuffing, the lone dot line is content.
    assert_eq!(t.delivered[0].data, b"Subject: x\r\n\r\nbody\r\n.\r\n");
}

#[test]
fn bdat_without_a_transaction_is_drained_and_refused() {
    let t = run("EHLO c\r\nBDAT 5 LAST\r\nNOOP\r\nNOOP\r\n");
    // The 5 bytes "NOOP\r" are chunk data, then "\nNOOP\r\n"... the chunk is exactly 5 bytes.
    assert_eq!(t.codes[..2], [250, 503]);
    assert!(t.delivered.is_empty());
}

#[test]
fn data_after_bdat_is_refused() {
    let t = run(&format!(
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\n{}BDAT 3\r\nabcDATA\r\n",
        rcpt(LIVE)
    ));
    assert_eq!(t.codes, vec![250, 250, 250, 250, 503]);
}

#[test]
fn bdat_over_the_limit_is_refused_at_last() {
    let big = "y".repeat(1200);
    let t = run(&format!(
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\n{}BDAT 1200 LAST\r\n{big}NOOP\r\n",
        rcpt(LIVE)
    ));
    assert_eq!(t.codes, vec![250, 250, 250, 552, 250]);
    assert!(t.delivered.is_empty());
}

#[test]
fn vrfy_help_noop_and_unknown_commands_answer_with_enhanced_codes() {
    let t = run("EHLO c\r\nVRFY bob\r\nHELP\r\nNOOP\r\nFOO bar\r\nEXPN list\r\nSTARTTLS\r\n");
    assert_eq!(t.codes, vec![250, 252, 214, 250, 500, 502, 502]);
    assert!(t.text.contains("252 2.5.0") && t.text.contains("500 5.5.2"));
}

#[test]
fn bad_addresses_get_501() {
    let t = run(
        "EHLO c\r\nMAIL FROM:<not an address>\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<@@>\r\n",
    );
    assert_eq!(t.codes[0], 250);
    assert_eq!(t.codes[1], 501);
    assert_eq!(t.codes[2], 250);
    assert_eq!(t.codes[3], 501);
}

#[test]
fn the_null_sender_is_accepted_for_bounces() {
    let t = run("EHLO c\r\nMAIL FROM:<>\r\n");
    assert_eq!(t.codes, vec![250, 250]);
}

#[test]
fn over_long_command_lines_are_answered_not_crashed_on() {
    let long = "x".repeat(10_000);
    let t = run(&format!("EHLO c\r\nNOOP {long}\r\nNOOP\r\n"));
    assert_eq!(t.codes, vec![250, 500, 250]);
    // The same, arriving in small pieces.
    let input = format!("EHLO c\r\nNOOP {long}\r\nNOOP\r\n");
    let pieces: Vec<&[u8]> = input.as_bytes().chunks(100).collect();
    let t = run_chunks(Protocol::Smtp, &pieces);
    assert_eq!(t.codes, vec![250, 500, 250]);
}

#[test]
fn long_data_lines_are_kept_whole() {
    let line = "z".repeat(900);
    let t = run(&format!(
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\n{}DATA\r\n{line}\r\n.\r\n",
        rcpt(LIVE)
    ));
    assert_eq!(t.delivered[0].data.len(), 902);
}

#[test]
fn the_message_cap_per_session_closes_with_421() {
    let one = format!(
        "MAIL FROM:<a@example.com>\r\n{}DATA\r\nx\r\n.\r\n",
        rcpt(LIVE)
    );
    let t = run(&format!("EHLO c\r\n{one}{one}{one}"));
    assert_eq!(t.delivered.len(), 2);
    assert_eq!(*t.codes.last().unwrap(), 421);
    assert!(t.closed);
}

#[test]
fn too_many_errors_close_the_session() {
    let t = run(&"BOGUS\r\n".repeat(30));
    assert_eq!(*t.codes.last().unwrap(), 421);
    assert_eq!(t.codes.len(), 21);
    assert!(t.closed);
}

#[test]
fn lmtp_requires_lhlo_and_answers_once_per_recipient() {
    let r = rcpt(LIVE);
    let t = run_chunks(
        Protocol::Lmtp,
        &[
            format!("EHLO c\r\nLHLO c\r\nMAIL FROM:<a@example.com>\r\n{r}{r}DATA\r\nx\r\n.\r\n")
                .as_bytes(),
        ],
    );
    assert_eq!(t.codes, vec![500, 250, 250, 250, 250, 354, 250, 250]);
}

#[test]
fn transaction_state_is_visible_to_the_connection() {
    let mut s = Session::new(config(Protocol::Smtp));
    assert!(!s.in_transaction());
    let input = b"EHLO c\r\nMAIL FROM:<a@example.com>\r\nNOO";
    let mut it = input.iter();
    while s.ingest(&mut it).is_some() {}
    assert!(s.in_transaction());
    assert!(s.partial_command());
}

#[test]
fn an_empty_message_ends_at_a_dot_right_after_data_and_a_leading_dot_is_unstuffed() {
    let t = run(&format!(
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\n{}DATA\r\n.\r\n",
        rcpt(LIVE)
    ));
    assert_eq!(t.codes, vec![250, 250, 250, 354, 250]);
    assert_eq!(t.delivered[0].data, b"");
    let t = run(&format!(
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\n{}DATA\r\n..lead\r\n.\r\n",
        rcpt(LIVE)
    ));
    assert_eq!(t.delivered[0].data, b".lead\r\n");
}

#[test]
fn the_line_limit_does_not_depend_on_how_the_line_was_split() {
    let line = format!("NOOP {}\r\n", "x".repeat(MAX_COMMAND_LINE));
    let input = format!("EHLO c\r\n{line}NOOP\r\n");
    let bytes = input.as_bytes();
    for cut in [1, 10, 100, 1000, 2000, 2060, bytes.len() - 3] {
        let t = run_chunks(Protocol::Smtp, &[&bytes[..cut], &bytes[cut..]]);
        assert_eq!(t.codes, vec![250, 500, 250], "split at {cut}");
    }
    let ok = format!("EHLO c\r\nNOOP {}\r\n", "x".repeat(MAX_COMMAND_LINE - 10));
    assert_eq!(run(&ok).codes, vec![250, 250]);
}

#[test]
fn bounce_addresses_and_our_own_address_are_recipients_too() {
    let t = run(
        "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bounces+out_abcdefghijklmnop@reply.test>\r\nRCPT TO:<Notifications@GW.test>\r\nRCPT TO:<bounces+nope@reply.test>\r\n",
    );
    // The bounce address is looked up (unknown here), our own address is accepted at once.
    assert_eq!(t.codes, vec![250, 250, 550, 250, 550]);
}

#[test]
fn lmtp_refuses_oversized_data_once_per_recipient() {
    let r = rcpt(LIVE);
    let big = "x".repeat(1200);
    let t = run_chunks(
        Protocol::Lmtp,
        &[
            format!("LHLO c\r\nMAIL FROM:<a@example.com>\r\n{r}{r}DATA\r\n{big}\r\n.\r\nNOOP\r\n")
                .as_bytes(),
        ],
    );
    assert_eq!(t.text.matches("552 5.3.4").count(), 2, "{}", t.text);
    assert_eq!(*t.codes.last().unwrap(), 250);
}

#[test]
fn probing_unknown_recipients_ends_the_session() {
    let probes = rcpt(REVOKED).repeat(30);
    let t = run(&format!("EHLO c\r\nMAIL FROM:<a@example.com>\r\n{probes}"));
    assert!(t.closed);
    assert_eq!(*t.codes.last().unwrap(), 421);
}

#[test]
fn a_sender_address_that_is_not_utf8_is_refused() {
    // RFC 6531 §3.3: a mailbox of non-ASCII characters must be UTF-8 (under SMTPUTF8); bytes
    // that are not (Latin-1 "é", a lone continuation byte) are a bad sender address.
    for from in [
        &b"MAIL FROM:<caf\xe9@example.com>\r\n"[..],
        b"MAIL FROM:<a\x80b@example.com> SMTPUTF8\r\n",
    ] {
        let t = run_chunks(Protocol::Smtp, &[b"EHLO client.test\r\n", from]);
        assert_eq!(t.codes.last(), Some(&553), "{}", t.text);
        assert!(t.text.contains("5.1.7"), "{}", t.text);
    }
    let t = run_chunks(
        Protocol::Smtp,
        &[
            b"EHLO client.test\r\n",
            b"MAIL FROM:<a@example.com>\r\n",
            b"RCPT TO:<reply+\xff@reply.test>\r\n",
        ],
    );
    assert_eq!(t.codes.last(), Some(&553), "{}", t.text);
    assert!(t.text.contains("5.1.3"), "{}", t.text);
    // UTF-8 under SMTPUTF8 is a sender like any other.
    let t = run_chunks(
        Protocol::Smtp,
        &[
            b"EHLO client.test\r\n",
            "MAIL FROM:<café@example.com> SMTPUTF8\r\n".as_bytes(),
        ],
    );
    assert_eq!(t.codes.last(), Some(&250), "{}", t.text);
}

#[test]
fn data_sent_before_the_354_answer_ends_the_session_unread() {
    // Accepted DATA: the content that came with it is not taken as the message.
    let mut session = Session::new(config(Protocol::Smtp));
    let script = format!(
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\n{}DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n",
        rcpt(LIVE)
    );
    let mut it = script.as_bytes().iter();
    let mut codes = Vec::new();
    let mut closed = false;
    while let Some(event) = session.ingest(&mut it) {
        match event {
            Event::Reply(r) => codes.push(r.code),
            Event::CheckRecipient(_) => {
                codes.push(session.recipient_verdict(RecipientVerdict::Live).code)
            }
            Event::Deliver(_) => panic!("nothing is delivered"),
            Event::Close => closed = true,
            Event::StartTls => unreachable!(),
        }
    }
    assert_eq!(codes, [250, 250, 250, 554]);
    assert!(closed && session.is_closed());
    assert!(
        it.as_slice().is_empty(),
        "the rest is dropped, never parsed"
    );

    // Refused DATA (no recipient): the "message" behind it is never read as commands.
    let t = run_with_raw(
        "EHLO c\r\nMAIL FROM:<a@example.com>\r\nDATA\r\nMAIL FROM:<b@example.com>\r\nNOOP\r\n",
    );
    assert_eq!(t, [250, 250, 554]);
}

/// The reply codes of `script` fed as one read, exactly as sent (not split at DATA).
fn run_with_raw(script: &str) -> Vec<u16> {
    let mut session = Session::new(config(Protocol::Smtp));
    let mut it = script.as_bytes().iter();
    let mut codes = Vec::new();
    while let Some(event) = session.ingest(&mut it) {
        if let Event::Reply(r) = event {
            codes.push(r.code);
        }
    }
    codes
}
