//! Reply tokens: the secret part of `reply+<token>@<reply-domain>`.

use rand::RngCore;
use std::fmt;

/// 128 bits of randomness, lowercase base32 (RFC 4648 alphabet, no padding): 26 characters.
/// Lowercase because some MTAs and clients change the case of the local part; matching is
/// case-insensitive (we lowercase before lookup).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ReplyToken(String);

pub const TOKEN_LEN: usize = 26;

/// `bytes` random bytes, lowercase base32 without padding.
pub fn random_base32(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    data_encoding::BASE32_NOPAD
        .encode(&buf)
        .to_ascii_lowercase()
}

impl ReplyToken {
    pub fn generate() -> Self {
        ReplyToken(random_base32(16))
    }

    /// Accepts any letter case; anything that is not 26 base32 characters is not a token.
    pub fn parse(s: &str) -> Option<Self> {
        let lower = s.to_ascii_lowercase();
        let valid = lower.len() == TOKEN_LEN
            && lower
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
        valid.then_some(ReplyToken(lower))
    }

    /// Finds the token in a reply address local part: `reply+<token>`.
    pub fn from_local_part(local: &str) -> Option<Self> {
        let (prefix, token) = local.split_once('+')?;
        if !prefix.eq_ignore_ascii_case("reply") {
            return None;
        }
        Self::parse(token)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn address(&self, reply_domain: &str) -> String {
        format!("reply+{}@{}", self.0, reply_domain)
    }
}

/// Tokens are secrets: never print them in logs.
impl fmt::Debug for ReplyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_26_lowercase_base32_chars_and_differ() {
        let a = ReplyToken::generate();
        let b = ReplyToken::generate();
        assert_eq!(a.as_str().len(), TOKEN_LEN);
        assert!(ReplyToken::parse(a.as_str()).is_some());
        assert_ne!(a, b);
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
}
