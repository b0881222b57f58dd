//! Our Message-IDs: `<conversation.person.n.mac@reply-domain>` (the conversation's sending
//! domain's reply domain; any domain verifies, the MAC decides). They name the conversation and
//! the recipient, and carry a keyed MAC so a Message-ID cannot be forged to thread a reply
//! into another conversation (the inbound router trusts only verified ones). An email that
//! carried only internal notes has `n-note` for `n`, under the MAC: a reply to it is a note.

use super::envelope::ReplyKind;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct MessageIds {
    /// Shared by every process using the database.
    secret: Vec<u8>,
}

/// What a verified Message-ID of ours names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurMessageId {
    pub conversation_id: String,
    pub person_id: String,
    /// What a reply to that email is.
    pub kind: ReplyKind,
}

/// The mark of a notes-only email in the `n` part.
const NOTE_MARK: &str = "-note";

impl MessageIds {
    pub fn new(secret: Vec<u8>) -> MessageIds {
        MessageIds { secret }
    }

    fn mac(&self, parts: &[&str]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        let digest = mac.finalize().into_bytes();
        data_encoding::BASE32_NOPAD
            .encode(&digest[..10])
            .to_ascii_lowercase()
    }

    /// The Message-ID (with angle brackets) of the `n`-th email of a conversation to a person,
    /// on `domain`.
    pub fn generate(&self, conversation_id: &str, person_id: &str, n: i64, domain: &str) -> String {
        self.generate_for(conversation_id, person_id, n, ReplyKind::Message, domain)
    }

    /// [`MessageIds::generate`] for an email whose replies are `kind`.
    pub fn generate_for(
        &self,
        conversation_id: &str,
        person_id: &str,
        n: i64,
        kind: ReplyKind,
        domain: &str,
    ) -> String {
        let n = match kind {
            ReplyKind::Message => n.to_string(),
            ReplyKind::Note => format!("{n}{NOTE_MARK}"),
        };
        let mac = self.mac(&[conversation_id, person_id, &n]);
        format!("<{conversation_id}.{person_id}.{n}.{mac}@{domain}>")
    }

    /// The (conversation, person) a Message-ID of ours names, if its MAC is right.
    pub fn verify(&self, id: &str) -> Option<OurMessageId> {
        let id = id.trim().trim_start_matches('<').trim_end_matches('>');
        // Each sending domain writes its own right-hand side; only the MAC says it is ours.
        let (local, _domain) = id.rsplit_once('@')?;
        let mut parts = local.split('.');
        let (conversation, person, n, mac) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expected = self.mac(&[conversation, person, n]);
        let same: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), mac.as_bytes()).into();
        same.then(|| OurMessageId {
            conversation_id: conversation.to_string(),
            person_id: person.to_string(),
            kind: match n.ends_with(NOTE_MARK) {
                true => ReplyKind::Note,
                false => ReplyKind::Message,
            },
        })
    }

    /// Outlook threads by Thread-Index: 22 bytes naming the thread (a FILETIME and a GUID, here
    /// derived from the conversation) plus 5 bytes per reply.
    pub fn thread_index(&self, conversation_id: &str, created_at_ms: i64, n: i64) -> Vec<u8> {
        // FILETIME: 100 ns intervals since 1601-01-01; the header keeps its 6 high bytes.
        let filetime = (created_at_ms.max(0) as u64 + 11_644_473_600_000) * 10_000;
        let mut bytes = filetime.to_be_bytes()[..6].to_vec();
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(b"thread-index\n");
        mac.update(conversation_id.as_bytes());
        bytes.extend_from_slice(&mac.finalize().into_bytes()[..16]);
        for i in 1..n.clamp(1, 64) {
            bytes.extend_from_slice(&[0, 0, 0, (i >> 8) as u8, i as u8]);
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_message_ids_verify_and_forgeries_do_not() {
        let ids = MessageIds::new(b"secret".to_vec());
        let id = ids.generate("cnv_a", "per_b", 3, "reply.test");
        let ours = ids.verify(&id).unwrap();
        assert_eq!(
            (ours.conversation_id.as_str(), ours.person_id.as_str()),
            ("cnv_a", "per_b")
        );
        assert!(
            ids.verify(&id.replace("cnv_a", "cnv_x")).is_none(),
            "another conversation"
        );
        // Another of our domains verifies the same (the MAC is over what it names).
        assert!(
            ids.verify(&id.replace("reply.test", "reply.other.test"))
                .is_some()
        );
        let other_key = MessageIds::new(b"other".to_vec());
        assert!(other_key.verify(&id).is_none());
        assert!(ids.verify("<random@reply.test>").is_none());
        assert_eq!(ours.kind, ReplyKind::Message);
    }

    #[test]
    fn a_notes_only_email_says_so_under_the_mac() {
        let ids = MessageIds::new(b"secret".to_vec());
        let id = ids.generate_for("cnv_a", "per_b", 4, ReplyKind::Note, "reply.test");
        assert_eq!(ids.verify(&id).unwrap().kind, ReplyKind::Note);
        // Making a message's id a note's (or back) breaks the MAC.
        let message = ids.generate("cnv_a", "per_b", 4, "reply.test");
        assert!(ids.verify(&message.replace(".4.", ".4-note.")).is_none());
        assert!(ids.verify(&id.replace("4-note", "4")).is_none());
    }

    #[test]
    fn thread_index_keeps_the_thread_header_and_grows_per_reply() {
        let ids = MessageIds::new(b"secret".to_vec());
        let first = ids.thread_index("cnv_a", 1_700_000_000_000, 1);
        let third = ids.thread_index("cnv_a", 1_700_000_000_000, 3);
        assert_eq!(first.len(), 22);
        assert_eq!(third.len(), 32);
        assert_eq!(&third[..22], &first[..]);
    }
}
