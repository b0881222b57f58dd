//! The envelope vocabulary shared by the SMTP listener (which reads it off the wire), the
//! inbound pipeline (which routes by it) and outbound composition (which writes it): what a
//! recipient address on our side is, a received transaction, and the address grammar of the
//! reply domain. Each address form is spelled here and nowhere else:
//!
//! - `reply+<token>@<reply-domain>`: one participant of one conversation;
//! - `reply+<token>+note@<reply-domain>`: the same participant, answering an email that carried
//!   only internal notes: what they write is a note too;
//! - `bounces+<outbox id>@<reply-domain>`: the VERP return path of one email we sent
//!   (RFC 5321 §4.5.5);
//! - `unsubscribe@<reply-domain>`: the `mailto:` List-Unsubscribe method (RFC 2369).

use super::address::EmailAddress;
use super::sending::SendingDomains;
use super::token::ReplyToken;

/// The local-part prefix of reply addresses.
const REPLY_PREFIX: &str = "reply";
/// The local-part prefix of VERP return paths.
const BOUNCE_PREFIX: &str = "bounces";
/// The suffix of a reply address whose replies are internal notes.
const NOTE_SUFFIX: &str = "note";
/// The local part of the `mailto:` unsubscribe address.
const UNSUBSCRIBE_LOCAL: &str = "unsubscribe";

/// Local parts the reply domain uses for itself: an inbox address may not take one.
pub const RESERVED_LOCAL_PARTS: [&str; 4] =
    [REPLY_PREFIX, BOUNCE_PREFIX, UNSUBSCRIBE_LOCAL, "postmaster"];

/// What a reply to a reply address becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Message,
    /// The email answered carried only internal notes: the reply is one (from staff).
    Note,
}

/// The token and kind of a reply address local part: `reply+<token>` or
/// `reply+<token>+note`, any letter case.
pub fn reply_local_part(local: &str) -> Option<(ReplyToken, ReplyKind)> {
    let (prefix, rest) = local.split_once('+')?;
    if !prefix.eq_ignore_ascii_case(REPLY_PREFIX) {
        return None;
    }
    let (token, kind) = match rest.split_once('+') {
        None => (rest, ReplyKind::Message),
        Some((token, suffix)) if suffix.eq_ignore_ascii_case(NOTE_SUFFIX) => {
            (token, ReplyKind::Note)
        }
        Some(_) => return None,
    };
    Some((ReplyToken::parse(token)?, kind))
}

/// The kind of reply an address of ours asks for (a message unless it is a note address).
pub fn reply_kind(address: &str) -> ReplyKind {
    address
        .rsplit_once('@')
        .and_then(|(local, _)| reply_local_part(local))
        .map_or(ReplyKind::Message, |(_, kind)| kind)
}

impl ReplyToken {
    /// Finds the token in a reply address local part (either kind).
    pub fn from_local_part(local: &str) -> Option<Self> {
        reply_local_part(local).map(|(token, _)| token)
    }

    /// `reply+<token>@<reply_domain>`.
    pub fn address(&self, reply_domain: &str) -> String {
        reply_address(self.as_str(), reply_domain)
    }

    /// `reply+<token>+note@<reply_domain>`: where a reply to an email of notes goes.
    pub fn note_address(&self, reply_domain: &str) -> String {
        format!(
            "{REPLY_PREFIX}+{}+{NOTE_SUFFIX}@{reply_domain}",
            self.as_str()
        )
    }
}

/// A reply address for `token` — or for a shortened token shown in a report, which is why
/// this takes text rather than a [`ReplyToken`].
pub fn reply_address(token: &str, reply_domain: &str) -> String {
    format!("{REPLY_PREFIX}+{token}@{reply_domain}")
}

/// The envelope sender (VERP, RFC 5321 §4.5.5 bounce handling) of an outbox email: a bounce to
/// it names the email, and so the recipient, that failed.
pub fn bounce_address(outbox_id: &str, reply_domain: &str) -> String {
    format!("{BOUNCE_PREFIX}+{outbox_id}@{reply_domain}")
}

/// The address the `mailto:` List-Unsubscribe method writes to (the token is in the subject).
pub fn unsubscribe_address(reply_domain: &str) -> String {
    format!("{UNSUBSCRIBE_LOCAL}@{reply_domain}")
}

/// `bounces+<outbox id>` local parts (ids are `out_` and 25 base32 characters, `domain::ids`;
/// 16 for emails queued by versions before ids carried their time, whose bounces still come).
fn bounce_from_local_part(local: &str) -> Option<String> {
    let (prefix, id) = local.split_once('+')?;
    let id = id.to_ascii_lowercase();
    let valid = prefix.eq_ignore_ascii_case(BOUNCE_PREFIX)
        && (id.len() == 4 + 25 || id.len() == 4 + 16)
        && id.starts_with("out_")
        && id[4..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
    valid.then_some(id)
}

/// SMTP, or LMTP behind another MTA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Smtp,
    /// RFC 2033: LHLO instead of EHLO, and one reply per recipient after the data.
    Lmtp,
}

/// An envelope recipient that passed the RCPT checks.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub address: String,
    pub target: Target,
}

/// What a recipient address on our side leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `reply+<token>@<reply-domain>`: a participant in a conversation.
    Token(ReplyToken),
    /// `bounces+<outbox id>@<reply-domain>`: the VERP return path of one email we sent.
    Bounce(String),
    /// Our From address: a client who replied to it instead of Reply-To (routed by the
    /// Message-ID they answer).
    Own,
    /// `unsubscribe@<reply-domain>`: the `mailto:` List-Unsubscribe method (RFC 2369); the
    /// signed token is in the subject.
    Unsubscribe,
    /// Any other address (lowercased): perhaps a domain's inbox address (`support@<domain>`);
    /// if the lookup finds none, it is refused — on another domain as relaying.
    Inbox(String),
}

impl Target {
    /// Our own From address.
    pub fn is_own(&self) -> bool {
        *self == Target::Own
    }

    /// The address, when this may be a domain's inbox address.
    pub fn inbox(&self) -> Option<&str> {
        match self {
            Target::Inbox(address) => Some(address),
            _ => None,
        }
    }
}

/// A complete message as received: the envelope and the data.
#[derive(Debug)]
pub struct Transaction {
    pub helo: String,
    /// The envelope sender; empty for the null reverse-path (bounces).
    pub mail_from: String,
    pub recipients: Vec<Recipient>,
    pub data: Vec<u8>,
}

/// What the recipient lookup found for an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientVerdict {
    Live,
    /// No such address here (for an [`Target::Inbox`] on another domain: not ours to relay).
    Unknown,
    /// The envelope sender is a blocked person or on a blocked domain.
    SenderBlocked,
    /// The lookup failed (database down): ask the client to retry later.
    TemporaryFailure,
    /// Not looked up: this client has sent too many unknown recipients lately (guessing reply
    /// addresses). Temporary, so a real server behind that address retries later.
    Throttled,
}

/// What a recipient address is to us, by its form alone (RCPT then looks tokens up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    Target(Target),
    BadSyntax,
    /// Not our reply domain nor our own address: we are not a relay.
    OtherDomain,
    /// On our reply domain, but no form we know.
    Unknown,
}

/// Classifies `address` against our `domains`' reply domains and notifications addresses.
pub fn classify_recipient(address: &str, domains: &SendingDomains) -> Classified {
    let Ok(parsed) = EmailAddress::parse(address) else {
        return Classified::BadSyntax;
    };
    if domains.is_own_address(&parsed.key()) {
        return Classified::Target(Target::Own);
    }
    if !domains.is_reply_domain(parsed.domain()) {
        return Classified::OtherDomain;
    }
    if parsed.local().eq_ignore_ascii_case(UNSUBSCRIBE_LOCAL) {
        return Classified::Target(Target::Unsubscribe);
    }
    if let Some(token) = ReplyToken::from_local_part(parsed.local()) {
        Classified::Target(Target::Token(token))
    } else if let Some(outbox_id) = bounce_from_local_part(parsed.local()) {
        Classified::Target(Target::Bounce(outbox_id))
    } else {
        Classified::Unknown
    }
}

/// The domain of an address as written (after the last `@`), or "".
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r_test() -> SendingDomains {
        SendingDomains::single(EmailAddress::parse("us@own.test").unwrap(), "r.test")
    }

    #[test]
    fn token_matching_ignores_letter_case() {
        let t = ReplyToken::generate();
        let upper = format!("REPLY+{}", t.as_str().to_ascii_uppercase());
        assert_eq!(ReplyToken::from_local_part(&upper), Some(t));
    }

    #[test]
    fn malformed_local_parts_are_not_tokens() {
        assert!(ReplyToken::from_local_part("support").is_none());
        assert!(ReplyToken::from_local_part("reply+short").is_none());
        assert!(ReplyToken::from_local_part("other+abcdefghijklmnopqrstuvwxyz").is_none());
        assert!(ReplyToken::from_local_part("reply+abcdefghijklmnopqrstuvwxy1").is_none());
        assert!(!format!("{:?}", ReplyToken::generate()).contains("reply"));
    }

    #[test]
    fn a_note_address_names_the_same_participant_and_asks_for_a_note() {
        let t = ReplyToken::generate();
        let note = t.note_address("r.test");
        assert_eq!(
            classify_recipient(&note, &r_test()),
            Classified::Target(Target::Token(t.clone()))
        );
        assert_eq!(reply_kind(&note), ReplyKind::Note);
        assert_eq!(reply_kind(&note.to_ascii_uppercase()), ReplyKind::Note);
        assert_eq!(reply_kind(&t.address("r.test")), ReplyKind::Message);
        assert_eq!(reply_kind("support@r.test"), ReplyKind::Message);
        let other = format!("reply+{}+other@r.test", t.as_str());
        assert_eq!(classify_recipient(&other, &r_test()), Classified::Unknown);
    }

    #[test]
    fn every_address_we_write_is_classified_back_to_its_target() {
        let token = ReplyToken::generate();
        assert_eq!(
            classify_recipient(&token.address("r.test"), &r_test()),
            Classified::Target(Target::Token(token))
        );
        // Today's ids, and those queued before ids carried their time.
        let new = crate::domain::Id::generate(crate::domain::IdKind::Outbox);
        for id in [new.as_str(), "out_abcdefghijklmnop"] {
            assert_eq!(
                classify_recipient(&bounce_address(id, "R.TEST"), &r_test()),
                Classified::Target(Target::Bounce(id.to_string()))
            );
        }
        assert_eq!(
            classify_recipient(&unsubscribe_address("r.test"), &r_test()),
            Classified::Target(Target::Unsubscribe)
        );
        assert_eq!(
            classify_recipient("bounces+out_short@r.test", &r_test()),
            Classified::Unknown
        );
        assert_eq!(
            classify_recipient("us@own.test", &r_test()),
            Classified::Target(Target::Own)
        );
        assert_eq!(
            classify_recipient("x@else.test", &r_test()),
            Classified::OtherDomain
        );
        assert_eq!(
            classify_recipient("not an address", &r_test()),
            Classified::BadSyntax
        );
    }
}
