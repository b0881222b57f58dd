//! MIME parsing, classification and reply extraction: whatever bytes arrive, the pure
//! pipeline (`inbound::analyze`, what the SMTP path runs) returns, and what it keeps is
//! sanitized HTML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use threadgate::domain::EmailAddress;
use threadgate::domain::sending::SendingDomains;
use threadgate::inbound::analyze::{self, Context};

fn own() -> &'static SendingDomains {
    static OWN: OnceLock<SendingDomains> = OnceLock::new();
    OWN.get_or_init(|| {
        SendingDomains::single(
            EmailAddress::parse("notifications@fuzz.test").unwrap(),
            "reply.fuzz.test",
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let ctx = Context {
        domains: own(),
        envelope_from: "someone@client.test",
    };
    let Some((parsed, _machine)) = analyze::parse_and_classify(data, &ctx) else {
        return;
    };
    // Also with a "sent" text taken from the input itself, so quoted-history cutting runs.
    let sent = parsed.text();
    let sent = sent.get(..sent.len().min(512)).unwrap_or("");
    for known in [None, Some(sent)] {
        let body = analyze::reply_body(&parsed, known);
        if let Some(html) = &body.html {
            threadgate_fuzz::assert_inert(html);
        }
    }
});
