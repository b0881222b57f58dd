//! Signed, expiring tokens for links that act without a login: RFC 8058 one-click
//! unsubscribe, and the web view's magic sign-in links. A token names what it acts on and when it expires, with a keyed MAC over both
//! and over its purpose, so it cannot be altered, reused for another purpose, or guessed.

use super::Millis;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct LinkSigner {
    secret: Vec<u8>,
}

/// How long an unsubscribe link in an email keeps working.
pub const UNSUBSCRIBE_LINK_LIFETIME_MS: Millis = 90 * 24 * 3600 * 1000;

/// How long the "open in the browser" link of a notification email signs its recipient in.
/// Shorter than the unsubscribe link: it grants reading and writing, not just muting.
pub const MAGIC_LINK_LIFETIME_MS: Millis = 14 * 24 * 3600 * 1000;
/// How long a stranger has to confirm the email they sent to an inbox address (7 days).
pub const CONFIRM_LINK_LIFETIME_MS: Millis = 7 * 24 * 3600 * 1000;

impl LinkSigner {
    pub fn new(secret: Vec<u8>) -> LinkSigner {
        LinkSigner { secret }
    }

    fn mac(
        &self,
        purpose: &str,
        conversation_id: &str,
        person_id: &str,
        expires_s: &str,
    ) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        for part in [purpose, conversation_id, person_id, expires_s] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        data_encoding::BASE32_NOPAD
            .encode(&mac.finalize().into_bytes()[..15])
            .to_ascii_lowercase()
    }

    /// What is stored for a verification code: a keyed hash, so a database leak does not
    /// reveal live codes (6 digits are too few to store with a plain hash).
    pub fn code_hash(&self, email_key: &str, code: &str) -> String {
        self.mac("verification-code", email_key, code, "")
    }

    /// `conversation.person.expires.mac`: URL- and subject-safe (ids are `[a-z0-9_]`).
    fn sign(
        &self,
        purpose: &str,
        conversation_id: &str,
        person_id: &str,
        expires_at: Millis,
    ) -> String {
        let expires_s = (expires_at / 1000).to_string();
        let mac = self.mac(purpose, conversation_id, person_id, &expires_s);
        format!("{conversation_id}.{person_id}.{expires_s}.{mac}")
    }

    /// The (conversation, person) a valid, unexpired token for `purpose` names.
    fn verify(&self, purpose: &str, token: &str, now: Millis) -> Option<(String, String)> {
        let mut parts = token.trim().split('.');
        let (conversation, person, expires_s, mac) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expected = self.mac(purpose, conversation, person, expires_s);
        let same: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), mac.as_bytes()).into();
        let expires: i64 = expires_s.parse().ok()?;
        (same && expires.saturating_mul(1000) > now)
            .then(|| (conversation.to_string(), person.to_string()))
    }

    pub fn unsubscribe_token(
        &self,
        conversation_id: &str,
        person_id: &str,
        expires_at: Millis,
    ) -> String {
        self.sign("unsubscribe", conversation_id, person_id, expires_at)
    }

    /// The (conversation, person) a valid, unexpired unsubscribe token names.
    pub fn verify_unsubscribe(&self, token: &str, now: Millis) -> Option<(String, String)> {
        self.verify("unsubscribe", token, now)
    }

    /// The sign-in link of a notification email: opens a web session for that recipient and
    /// shows that conversation. Bound to both by the MAC; useless after `expires_at`.
    pub fn magic_token(
        &self,
        conversation_id: &str,
        person_id: &str,
        expires_at: Millis,
    ) -> String {
        self.sign("magic-link", conversation_id, person_id, expires_at)
    }

    /// The link a stranger follows to confirm that the email held for them (inbound record
    /// `inbound_id`) is theirs: proves they read the From address.
    pub fn confirm_token(&self, inbound_id: &str, expires_at: Millis) -> String {
        self.sign("inbox-confirm", inbound_id, "sender", expires_at)
    }

    /// The inbound record a valid, unexpired confirmation token names.
    pub fn verify_confirm(&self, token: &str, now: Millis) -> Option<String> {
        self.verify("inbox-confirm", token, now)
            .filter(|(_, slot)| slot == "sender")
            .map(|(inbound_id, _)| inbound_id)
    }

    /// The link emailed to a person's new address: following it proves they read it.
    pub fn address_token(&self, address_id: &str, person_id: &str, expires_at: Millis) -> String {
        self.sign("address-confirm", address_id, person_id, expires_at)
    }

    /// The (address id, person id) a valid, unexpired address token names.
    pub fn verify_address(&self, token: &str, now: Millis) -> Option<(String, String)> {
        self.verify("address-confirm", token, now)
    }

    /// Whom a genuine sign-in link was for, expired or not, so that the page saying it no
    /// longer works speaks their language. Signs no one in; a forged token names no one.
    pub fn magic_link_recipient(&self, token: &str) -> Option<String> {
        self.verify("magic-link", token, Millis::MIN)
            .map(|(_, person)| person)
    }

    /// What a valid, unexpired magic-link token names, and when it was issued.
    pub fn verify_magic(&self, token: &str, now: Millis) -> Option<MagicLink> {
        let (conversation_id, person_id) = self.verify("magic-link", token, now)?;
        let expires_s: i64 = token.trim().split('.').nth(2)?.parse().ok()?;
        let expires_at = expires_s.saturating_mul(1000);
        Some(MagicLink {
            conversation_id,
            person_id,
            issued_at: expires_at - MAGIC_LINK_LIFETIME_MS,
            expires_at,
            digest: link_digest(token),
        })
    }
}

/// A verified sign-in link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MagicLink {
    pub conversation_id: String,
    pub person_id: String,
    /// When it was issued (to the second): links issued before a revocation stop working.
    pub issued_at: Millis,
    pub expires_at: Millis,
    /// What marks it used (`store::used_links`): a SHA-256 of the token, naming no one.
    pub digest: String,
}

/// The SHA-256 of a link's token, in hex: what is kept of a link once it has been used.
fn link_digest(token: &str) -> String {
    use sha2::Digest;
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.trim().as_bytes()))
}

/// Our own sign-in links (`…/m/<token>`) in a text, made useless: when a reply quotes our
/// notification, whoever reads the quote (an agent, another participant's email) must not be
/// able to sign in as the person who replied.
pub fn redact_sign_in_links(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("/m/") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("/m/") {
        out.push_str(&rest[..at + 3]);
        rest = &rest[at + 3..];
        let token_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '='))
            .unwrap_or(rest.len());
        if token_len > 20 {
            out.push('…');
            rest = &rest[token_len..];
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsubscribe_tokens_verify_until_they_expire_and_cannot_be_altered() {
        let signer = LinkSigner::new(b"k".to_vec());
        let token = signer.unsubscribe_token("cnv_a", "per_b", 10_000_000);
        assert_eq!(
            signer.verify_unsubscribe(&token, 9_000_000),
            Some(("cnv_a".to_string(), "per_b".to_string()))
        );
        assert_eq!(
            signer.verify_unsubscribe(&token, 10_000_000),
            None,
            "expired"
        );
        assert_eq!(
            signer.verify_unsubscribe(&token.replace("per_b", "per_c"), 0),
            None
        );
        assert_eq!(
            signer.verify_unsubscribe(&token.replace(".10000.", ".99999."), 0),
            None
        );
        assert_eq!(
            LinkSigner::new(b"other".to_vec()).verify_unsubscribe(&token, 0),
            None
        );
        assert_eq!(signer.verify_unsubscribe("garbage", 0), None);
    }

    #[test]
    fn confirmation_links_name_their_email_and_nothing_else() {
        let signer = LinkSigner::new(b"k".to_vec());
        let token = signer.confirm_token("inb_x", 10_000_000);
        assert_eq!(signer.verify_confirm(&token, 0).as_deref(), Some("inb_x"));
        assert_eq!(signer.verify_confirm(&token, 10_000_000), None, "expired");
        assert_eq!(
            signer.verify_confirm(&token.replace("inb_x", "inb_y"), 0),
            None
        );
        // Other links are no confirmation, and a confirmation signs nobody in.
        let magic = signer.magic_token("inb_x", "sender", 10_000_000);
        assert_eq!(signer.verify_confirm(&magic, 0), None);
        assert!(signer.verify_magic(&token, 0).is_none());
        assert!(signer.verify_unsubscribe(&token, 0).is_none());
    }

    #[test]
    fn magic_links_and_unsubscribe_links_are_not_interchangeable() {
        let signer = LinkSigner::new(b"k".to_vec());
        let magic = signer.magic_token("cnv_a", "per_b", 10_000_000);
        let unsubscribe = signer.unsubscribe_token("cnv_a", "per_b", 10_000_000);
        let link = signer.verify_magic(&magic, 0).expect("valid");
        assert_eq!(
            (link.conversation_id.as_str(), link.person_id.as_str()),
            ("cnv_a", "per_b")
        );
        assert_eq!(link.issued_at, 10_000_000 - MAGIC_LINK_LIFETIME_MS);
        assert_eq!(signer.verify_magic(&unsubscribe, 0), None);
        assert_eq!(signer.verify_unsubscribe(&magic, 0), None);
        assert_eq!(signer.verify_magic(&magic, 10_000_000), None, "expired");
    }

    #[test]
    fn quoted_sign_in_links_are_redacted_and_other_text_is_kept() {
        let quoted = "> Open: https://gw.example/m/cnv_abc.per_def.1799999999.abcdefghijklmnopqrstuvwx\n> bye";
        let shown = redact_sign_in_links(quoted);
        assert!(!shown.contains("abcdefghijklmnop"), "{shown}");
        assert!(shown.contains("https://gw.example/m/…") && shown.ends_with("> bye"));
        assert_eq!(redact_sign_in_links("a/m/b c"), "a/m/b c");
        assert_eq!(redact_sign_in_links("no links"), "no links");
    }
}
