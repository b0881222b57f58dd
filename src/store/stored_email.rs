//! An email's bytes as the outbox keeps them: gzip (RFC 1952) at its fastest level, compressed
//! where emails are composed (in parallel) rather than where they are committed. A planning
//! pass writes one outbox row per participant it emails — 100,000 rows of ~3.5 KiB for a digest
//! to everyone — and PostgreSQL compressed each value over 2 KiB itself (pglz) inside the
//! commits the pass waits on; gzipped here, the rows are two fifths of their size and arrive
//! compressed. The outbox keeps every email sent, so SQLite's file shrinks as much.
//!
//! Rows written raw (before this, or an email gzip would not shrink) read as they are: an
//! RFC 5322 message starts with a header field name, printable ASCII (RFC 5322 §3.6.8), never
//! with gzip's magic bytes 1f 8b (RFC 1952 §2.3.1).

use libdeflater::{CompressionLvl, Compressor};
use std::cell::RefCell;
use std::io::Read;

/// RFC 1952 §2.3.1: ID1, ID2.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// libdeflate's level 1, its fastest that compresses (its `fastest()` is level 0, which stores
/// the bytes as they are).
const FASTEST: CompressionLvl = match CompressionLvl::new(1) {
    Ok(level) => level,
    Err(_) => panic!("libdeflate has a level 1"),
};

thread_local! {
    /// One compressor per thread (libdeflate at its fastest level), reused for every email:
    /// a new one allocates its tables. libdeflate compresses a whole buffer at once, with no
    /// streaming state to reset between emails; on a digest email it takes about half the time
    /// of flate2's `Compress` at its fastest level reset for each email (11 against 20 µs: that
    /// reset zeroes ~230 KiB of window, hash chains and buffers) and writes 2% fewer bytes.
    static DEFLATE: RefCell<Compressor> = RefCell::new(Compressor::new(FASTEST));
}

/// `raw` as one gzip member (RFC 1952 §2.3: header, raw deflate (RFC 1951), CRC-32, ISIZE).
/// None if the compressor reports an error (not seen; the email is then kept raw, which reads
/// back the same).
fn gzip(raw: &[u8]) -> Option<Vec<u8>> {
    DEFLATE.with_borrow_mut(|deflate| {
        let mut out = vec![0; deflate.gzip_compress_bound(raw.len())];
        let written = deflate.gzip_compress(raw, &mut out).ok()?;
        out.truncate(written);
        Some(out)
    })
}

/// The bytes of an email as an outbox row stores them (see the module's comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEmail(Vec<u8>);

impl StoredEmail {
    /// `raw` (an RFC 5322 message) gzipped, or as it is when that is no smaller.
    pub fn pack(raw: Vec<u8>) -> StoredEmail {
        match gzip(&raw) {
            Some(packed) if packed.len() < raw.len() || raw.starts_with(&GZIP_MAGIC) => {
                StoredEmail(packed)
            }
            _ => StoredEmail(raw),
        }
    }

    /// What the row holds.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for StoredEmail {
    fn from(raw: Vec<u8>) -> StoredEmail {
        StoredEmail::pack(raw)
    }
}

/// The email a row's bytes hold: gunzipped, or as they are when not gzip. An error when they
/// are gzip but damaged (its CRC-32 or length does not match, RFC 1952 §2.3.1).
pub(super) fn unpack(stored: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if !stored.starts_with(&GZIP_MAGIC) {
        return Ok(stored);
    }
    let mut raw = Vec::with_capacity(stored.len() * 3);
    flate2::read::GzDecoder::new(&stored[..]).read_to_end(&mut raw)?;
    Ok(raw)
}

/// A sent email read back for what a reply quotes: None, with a warning, when it is damaged —
/// the reply is then cut by its quote markers alone rather than refused.
pub(super) fn unpack_quoted(stored: Option<Vec<u8>>) -> Option<Vec<u8>> {
    match unpack(stored?) {
        Ok(raw) => Some(raw),
        Err(err) => {
            tracing::warn!(error = %err, "the last notification's stored copy is damaged");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_kept_gzipped_and_read_back_whole() -> std::io::Result<()> {
        let raw = "From: a@example.com\r\nSubject: Hello\r\n\r\n"
            .bytes()
            .chain("The parcel was shipped yesterday. ".repeat(60).bytes())
            .collect::<Vec<u8>>();
        let stored = StoredEmail::pack(raw.clone());
        assert!(stored.as_bytes().starts_with(&GZIP_MAGIC));
        assert!(
            stored.as_bytes().len() * 3 < raw.len(),
            "{}",
            stored.as_bytes().len()
        );
        assert_eq!(unpack(stored.as_bytes().to_vec())?, raw);
        Ok(())
    }

    #[test]
    fn one_compressor_packs_email_after_email_as_gzip_any_reader_reads() -> std::io::Result<()> {
        // Noise does not shrink: its gzip is larger than the email.
        let mut noise = Vec::with_capacity(200_000);
        let mut x: u32 = 1;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            noise.push(x.to_le_bytes()[0]);
        }
        let emails = [
            b"Subject: a\r\n\r\nhello\r\n".repeat(300),
            noise,
            "facture ".repeat(20_000).into_bytes(),
            Vec::new(),
            b"Subject: a\r\n\r\nhello\r\n".repeat(300),
        ];
        let mut first = None;
        for raw in emails {
            let packed = gzip(&raw).ok_or_else(|| std::io::Error::other("not compressed"))?;
            // RFC 1952 §2.3: the magic, CM = 8 (deflate), no flags (FLG = 0: no name, no
            // comment, no extra field), then the CRC-32 and ISIZE of the raw bytes last.
            assert_eq!(&packed[..4], &[0x1f, 0x8b, 8, 0]);
            let tail = &packed[packed.len() - 8..];
            assert_eq!(tail[..4], crc32fast::hash(&raw).to_le_bytes());
            assert_eq!(tail[4..], (raw.len() as u32).to_le_bytes());
            // Read back by another implementation (flate2's decoder), whole.
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut back)?;
            assert_eq!(back, raw);
            // The compressor keeps nothing from one email to the next.
            match &first {
                None => first = Some(packed),
                Some(first) if raw.starts_with(b"Subject: a") => assert_eq!(&packed, first),
                Some(_) => {}
            }
        }
        Ok(())
    }

    #[test]
    fn raw_rows_read_as_they_are_and_damage_is_an_error() -> std::io::Result<()> {
        // Too short to shrink: kept raw, and read as a row from before.
        let raw = b"Subject: x\r\n\r\nhi\r\n".to_vec();
        assert_eq!(StoredEmail::pack(raw.clone()).as_bytes(), &raw[..]);
        assert_eq!(unpack(raw.clone())?, raw);
        assert_eq!(unpack(Vec::new())?, Vec::<u8>::new());
        // Bytes that begin like gzip are always gzipped, so that they read back as given.
        let odd = vec![0x1f, 0x8b, 1];
        assert_eq!(
            unpack(StoredEmail::pack(odd.clone()).as_bytes().to_vec())?,
            odd
        );
        // A flipped byte: the CRC-32 says so.
        let mut damaged = StoredEmail::pack("word ".repeat(500).into_bytes())
            .as_bytes()
            .to_vec();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0x55;
        assert!(unpack(damaged).is_err());
        Ok(())
    }
}
