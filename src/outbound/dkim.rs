//! DKIM (RFC 6376) for everything we send from a domain that has keys: each email is signed
//! with every active key of the From domain, an RSA-2048 key and an Ed25519 key (RFC 8463 dual
//! signing: verifiers that know Ed25519 use it, the others RSA). Relaxed/relaxed
//! canonicalization, and the headers that matter, absent ones included (over-signed, so they
//! cannot be added after signing).
//!
//! Keys are generated here (RSA with mail-auth's `generate` feature, since ring cannot
//! generate RSA keys; Ed25519 with ring) and kept in the database, so every process sharing it
//! signs alike.

use crate::store::{DkimKey, KeyStatus, Store};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::generate::DkimKeyPair;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The headers we sign (RFC 6376 §5.4.1: those that carry meaning for the reader, plus our
/// threading and unsubscribe headers).
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Auto-Submitted",
];

/// How long loaded keys are trusted before the database is asked again (a rotation reaches
/// every process within this).
const KEY_CACHE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("bad key {selector}: {reason}")]
    Key { selector: String, reason: String },
}

/// SubjectPublicKeyInfo DER around a PKCS#1 RSAPublicKey: what DKIM records carry in `p=`
/// for RSA (RFC 6376 §3.6.1, as `openssl rsa -pubout` writes it).
pub fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    fn len(out: &mut Vec<u8>, n: usize) {
        if n < 0x80 {
            out.push(n as u8);
        } else if n < 0x100 {
            out.extend([0x81, n as u8]);
        } else {
            out.extend([0x82, (n >> 8) as u8, n as u8]);
        }
    }
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
    const RSA_ENCRYPTION: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0x03];
    len(&mut bits, pkcs1.len() + 1);
    bits.push(0);
    bits.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    len(&mut out, RSA_ENCRYPTION.len() + bits.len());
    out.extend_from_slice(RSA_ENCRYPTION);
    out.extend(bits);
    out
}

/// A new key pair for `selector`: `rsa` (2048 bits) or `ed25519`.
pub fn generate(
    domain: &str,
    selector: &str,
    algorithm: &str,
    status: KeyStatus,
) -> Result<DkimKey, DkimError> {
    let (private_key, public_key) = match algorithm {
        "rsa" => {
            let pair =
                DkimKeyPair::generate_rsa(2048).map_err(|e| DkimError::Generate(e.to_string()))?;
            let (private, public) = pair.into_inner();
            (B64.encode(private), B64.encode(rsa_spki(&public)))
        }
        "ed25519" => {
            let pair =
                DkimKeyPair::generate_ed25519().map_err(|e| DkimError::Generate(e.to_string()))?;
            let (private, public) = pair.into_inner();
            (B64.encode(private), B64.encode(public))
        }
        other => return Err(DkimError::Generate(format!("unknown algorithm {other:?}"))),
    };
    Ok(DkimKey {
        domain: domain.to_string(),
        selector: selector.to_string(),
        algorithm: algorithm.to_string(),
        private_key,
        public_key,
        status,
        created_at: 0,
    })
}

/// A key ready to sign: its signer, built once (domain, selector, headers, canonicalization).
enum Loaded {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

fn signer<K: mail_auth::common::crypto::SigningKey>(
    key: K,
    domain: &str,
    selector: &str,
) -> DkimSigner<K, Done> {
    DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(SIGNED_HEADERS.iter().copied())
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
}

fn load(key: &DkimKey) -> Result<Loaded, DkimError> {
    let bad = |reason: String| DkimError::Key {
        selector: key.selector.clone(),
        reason,
    };
    let der = B64
        .decode(key.private_key.as_bytes())
        .map_err(|e| bad(e.to_string()))?;
    match key.algorithm.as_str() {
        "rsa" => {
            let key_der = PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der));
            Ok(Loaded::Rsa(signer(
                RsaKey::<Sha256>::from_key_der(key_der).map_err(|e| bad(e.to_string()))?,
                &key.domain,
                &key.selector,
            )))
        }
        "ed25519" => Ok(Loaded::Ed25519(signer(
            Ed25519Key::from_pkcs8_der(&der).map_err(|e| bad(e.to_string()))?,
            &key.domain,
            &key.selector,
        ))),
        other => Err(bad(format!("unknown algorithm {other:?}"))),
    }
}

/// Loaded keys and when they were read.
type Cached = (Instant, Arc<Vec<Loaded>>);

/// Signs outbound mail with the active keys of its From domain (if it has any): each sending
/// domain with its own.
#[derive(Clone)]
pub struct Signer {
    store: Store,
    /// By domain: a process sends from a handful of domains.
    cache: Arc<Mutex<HashMap<String, Cached>>>,
}

impl Signer {
    pub fn new(store: Store) -> Signer {
        Signer {
            store,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    async fn keys(&self, domain: &str) -> anyhow::Result<Arc<Vec<Loaded>>> {
        if let Some((at, keys)) = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(domain)
            && at.elapsed() < KEY_CACHE
        {
            return Ok(keys.clone());
        }
        let mut loaded = Vec::new();
        for key in self.store.dkim_keys(domain).await? {
            if key.status != KeyStatus::Active {
                continue;
            }
            match load(&key) {
                Ok(k) => loaded.push(k),
                Err(err) => {
                    tracing::error!(error = %err, "a DKIM key does not load; not signing with it")
                }
            }
        }
        let keys = Arc::new(loaded);
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(domain.to_string(), (Instant::now(), keys.clone()));
        Ok(keys)
    }

    /// Forgets loaded keys (after a rotation in this process).
    pub fn reload(&self) {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// The message with a DKIM-Signature header per active key prepended; unchanged when the
    /// domain has no keys. A signing failure is an error: we never send unsigned what should
    /// be signed (the outbox retries).
    pub async fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        let Some(domain) = from_domain(message) else {
            // Every email we compose has a From; one without cannot be signed for anyone.
            return Ok(message.to_vec());
        };
        let keys = self.keys(&domain).await?;
        if keys.is_empty() {
            return Ok(message.to_vec());
        }
        let mut headers = String::new();
        for key in keys.iter() {
            let signature = match key {
                Loaded::Rsa(s) => s.sign(message),
                Loaded::Ed25519(s) => s.sign(message),
            }
            .map_err(|e| anyhow::anyhow!("DKIM signing failed: {e}"))?;
            headers.push_str(&signature.to_header());
        }
        let mut signed = Vec::with_capacity(headers.len() + message.len());
        signed.extend_from_slice(headers.as_bytes());
        signed.extend_from_slice(message);
        Ok(signed)
    }
}

/// The domain of the From address of an email we composed (lowercased): the header, unfolded
/// (RFC 5322 §2.2.3), ends with `<address>`, or is the bare address.
fn from_domain(message: &[u8]) -> Option<String> {
    let head = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message, |end| &message[..end]);
    let head = std::str::from_utf8(head).ok()?;
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        match &mut value {
            Some(v) if line.starts_with([' ', '\t']) => v.push_str(line),
            Some(_) => break,
            None => {
                if let Some((name, rest)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("from")
                {
                    value = Some(rest.to_string());
                }
            }
        }
    }
    let value = value?;
    let address = match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.trim(),
    };
    let (_, domain) = address.rsplit_once('@')?;
    Some(domain.trim().to_ascii_lowercase()).filter(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_from_domain_is_read_from_our_own_header_folded_or_not() {
        let plain =
            b"Subject: x\r\nFrom: notifications@A.test\r\nTo: y@z\r\n\r\nFrom: no@body.test\r\n";
        assert_eq!(from_domain(plain).as_deref(), Some("a.test"));
        let folded =
            b"From: =?utf-8?q?Ada_=C3=A9?=\r\n via b <notifications@b.test>\r\nTo: y@z\r\n\r\n";
        assert_eq!(from_domain(folded).as_deref(), Some("b.test"));
        assert_eq!(from_domain(b"To: y@z\r\n\r\nFrom: x@c.test\r\n"), None);
    }

    #[test]
    fn the_rsa_public_key_is_wrapped_as_subject_public_key_info() -> anyhow::Result<()> {
        let key = generate("example.com", "s1", "rsa", KeyStatus::Active)?;
        let spki = B64.decode(&key.public_key)?;
        // SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { RSAPublicKey } }
        assert_eq!(
            &spki[..4],
            &[0x30, 0x82, 0x01, 0x22],
            "294-byte SPKI for 2048 bits"
        );
        assert!(
            key.public_key
                .starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
        );
        let ed = generate("example.com", "s2", "ed25519", KeyStatus::Active)?;
        assert_eq!(B64.decode(&ed.public_key)?.len(), 32);
        assert!(load(&key).is_ok() && load(&ed).is_ok());
        Ok(())
    }
}
