//! Gzip responses assembled from pieces compressed separately, so the large part of a page that
//! does not change between requests (a conversation's history) is compressed once and each
//! response compresses only its own small head and tail.
//!
//! Why this is valid: a gzip member (RFC 1952) is one deflate stream (RFC 1951) between a
//! header and a CRC-32/length trailer. A piece compressed by a fresh compressor and ended with
//! a full flush is a run of non-final deflate blocks ending on a byte boundary (the flush
//! appends an empty stored block), and none of its back-references reach before its start. Runs
//! like that concatenate into one stream; a final empty block ends it. The trailer's CRC-32 is
//! combined from the pieces' own (zlib's `crc32_combine`, via crc32fast).

use flate2::{Compress, Compression, FlushCompress};

/// One piece of a response body, deflated on its own.
#[derive(Clone)]
pub struct Deflated {
    data: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
}

/// The fixed gzip header: deflate, no flags, no modification time, unknown OS (RFC 1952 §2.3).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// An empty final block with fixed Huffman codes: BFINAL=1, BTYPE=01, end-of-block (RFC 1951
/// §3.2.3, §3.2.6).
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

impl Deflated {
    /// For pieces compressed once and kept.
    pub fn new(input: &[u8], level: Compression) -> Result<Deflated, flate2::CompressError> {
        Deflated::with(&mut Compress::new(level, false), input)
    }

    /// For per-request pieces: fast, with this thread's compressor (a new one costs an
    /// allocation and clearing of its ~300 KB of tables).
    pub fn fast(input: &[u8]) -> Result<Deflated, flate2::CompressError> {
        thread_local! {
            static FAST: std::cell::RefCell<Compress> =
                std::cell::RefCell::new(Compress::new(Compression::fast(), false));
        }
        FAST.with(|compressor| {
            let mut compressor = compressor.borrow_mut();
            compressor.reset();
            Deflated::with(&mut compressor, input)
        })
    }

    /// `compressor` fresh or reset: nothing before `input` may be referred to.
    fn with(compressor: &mut Compress, input: &[u8]) -> Result<Deflated, flate2::CompressError> {
        let mut data = Vec::with_capacity(input.len() / 3 + 64);
        loop {
            let consumed = compressor.total_in() as usize;
            compressor.compress_vec(&input[consumed..], &mut data, FlushCompress::Full)?;
            // Done when every byte went in and the flush did not fill the buffer (a full
            // buffer may hold back the rest of the flush).
            if compressor.total_in() as usize == input.len() && data.len() < data.capacity() {
                break;
            }
            data.reserve(data.capacity().max(4096));
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(input);
        Ok(Deflated {
            data,
            crc,
            len: input.len() as u64,
        })
    }

    /// Bytes held (for cache accounting).
    pub fn compressed_len(&self) -> usize {
        self.data.len()
    }
}

/// One gzip member holding the pieces' input, in order.
pub fn gzip(pieces: &[&Deflated]) -> Vec<u8> {
    let size = pieces.iter().map(|p| p.data.len()).sum::<usize>();
    let mut out = Vec::with_capacity(HEADER.len() + size + FINAL_BLOCK.len() + 8);
    out.extend_from_slice(&HEADER);
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    for piece in pieces {
        out.extend_from_slice(&piece.data);
        crc.combine(&piece.crc);
        len += piece.len;
    }
    out.extend_from_slice(&FINAL_BLOCK);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    // ISIZE is the input length modulo 2^32 (RFC 1952 §2.3.1).
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out
}

/// Whether the request's `Accept-Encoding` allows gzip (RFC 9110 §12.5.3): listed, or `*`,
/// with a quality above zero.
pub fn accepts_gzip(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("a valid gzip member");
        out
    }

    #[test]
    fn pieces_concatenate_into_one_valid_member() {
        // Repetitive text so back-references are used inside each piece, and a piece larger
        // than the compressor's first buffer.
        let head = b"<html><head><title>t</title></head><body>".repeat(3);
        let middle: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("<li>message {} body {}</li>", i % 97, i % 13).into_bytes())
            .collect();
        let tail = b"</body></html>".to_vec();
        let pieces = [
            Deflated::fast(&head).unwrap(),
            Deflated::new(&middle, Compression::best()).unwrap(),
            Deflated::fast(&tail).unwrap(),
        ];
        let body = gzip(&pieces.iter().collect::<Vec<_>>());
        let expected = [head.clone(), middle.clone(), tail.clone()].concat();
        assert_eq!(gunzip(&body), expected);
        assert!(
            body.len() < expected.len() / 5,
            "compressed: {}",
            body.len()
        );
        // The same cached middle with other heads and tails.
        // The thread's fast compressor again, reset: it must not refer back into `head`.
        let other_head = Deflated::fast(b"<p>another viewer</p>").unwrap();
        let body = gzip(&[&other_head, &pieces[1]]);
        assert_eq!(
            gunzip(&body),
            [b"<p>another viewer</p>".to_vec(), middle].concat()
        );
    }

    #[test]
    fn empty_pieces_and_no_pieces() {
        let empty = Deflated::new(b"", Compression::fast()).unwrap();
        assert_eq!(gunzip(&gzip(&[])), b"");
        assert_eq!(gunzip(&gzip(&[&empty, &empty])), b"");
        let x = Deflated::new(b"x", Compression::fast()).unwrap();
        assert_eq!(gunzip(&gzip(&[&empty, &x, &empty])), b"x");
    }

    #[test]
    fn accept_encoding() {
        let with = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(axum::http::header::ACCEPT_ENCODING, v.parse().unwrap());
            accepts_gzip(&h)
        };
        assert!(with("gzip, deflate, br, zstd"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br, deflate"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&axum::http::HeaderMap::new()));
    }
}
