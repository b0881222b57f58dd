//! Reply tokens: the secret part of a reply address (its grammar is `envelope`'s).

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

    pub fn as_str(&self) -> &str {
        &self.0
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
}
