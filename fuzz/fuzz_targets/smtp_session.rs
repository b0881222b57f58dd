//! The SMTP session state machine, bytes in → replies out. The input is split into reads at
//! positions taken from its first byte, so command, DATA and BDAT boundaries fall anywhere.
//! Every reply must be a well-formed reply line (three digits, CRLF-terminated), the session
//! must never hand over more data than the size limit, and nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threadgate::domain::EmailAddress;
use threadgate::domain::sending::{LiveDomains, SendingDomains};
use threadgate::smtp::session::{Event, Protocol, RecipientVerdict, Reply, Session, SessionConfig};

const MAX_SIZE: usize = 4096;

fn check(reply: &Reply) {
    let bytes = reply.as_bytes();
    assert!(bytes.ends_with(b"\r\n"), "unterminated reply {reply:?}");
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        assert!(line.len() >= 4, "short reply line {reply:?}");
        assert!(
            line[..3].iter().all(u8::is_ascii_digit),
            "bad code {reply:?}"
        );
        assert!(
            matches!(line[3], b' ' | b'-' | b'\r'),
            "bad separator {reply:?}"
        );
    }
    assert!((200..600).contains(&reply.code), "code {}", reply.code);
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, input)) = data.split_first() else {
        return;
    };
    let protocol = if shape & 1 == 0 {
        Protocol::Smtp
    } else {
        Protocol::Lmtp
    };
    let mut session = Session::new(SessionConfig {
        hostname: "mx.fuzz".into(),
        domains: LiveDomains::new(SendingDomains::single(
            EmailAddress::parse("notifications@fuzz.test").expect("a valid address"),
            "reply.fuzz",
        )),
        max_message_size: MAX_SIZE,
        max_recipients: 5,
        max_messages: 3,
        max_errors: 10,
        protocol,
        tls_available: shape & 2 != 0,
        tls_required: shape & 4 != 0,
    });
    let step = usize::from(shape >> 3) + 1;
    let mut verdict = 0u8;
    for chunk in input.chunks(step) {
        let mut bytes = chunk.iter();
        while let Some(event) = session.ingest(&mut bytes) {
            match event {
                Event::Reply(reply) => check(&reply),
                Event::CheckRecipient(_) => {
                    verdict = verdict.wrapping_add(1);
                    let answer = match verdict % 4 {
                        0 => RecipientVerdict::Unknown,
                        1 => RecipientVerdict::SenderBlocked,
                        2 => RecipientVerdict::TemporaryFailure,
                        _ => RecipientVerdict::Live,
                    };
                    check(&session.recipient_verdict(answer));
                }
                Event::Deliver(tx) => {
                    assert!(
                        tx.data.len() <= MAX_SIZE,
                        "{} bytes delivered",
                        tx.data.len()
                    );
                    assert!(!tx.recipients.is_empty(), "delivery without a recipient");
                    let n = match protocol {
                        Protocol::Smtp => 1,
                        Protocol::Lmtp => tx.recipients.len(),
                    };
                    for reply in session.delivered(vec![Reply::new(250, "2.0.0", "Stored"); n]) {
                        check(&reply);
                    }
                }
                Event::StartTls => {
                    session.tls_started();
                    break;
                }
                Event::Close => return,
            }
        }
    }
});
