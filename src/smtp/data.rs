//! The DATA payload (RFC 5321 §4.1.1.4, §4.5.2): dot-unstuffing, and the end of the data at
//! exactly `CRLF . CRLF` — nothing else. Every look-alike (a bare LF or bare CR anywhere,
//! `CRLF . CR CR LF`, NUL bytes) is message content: a gateway that ends the data on something
//! its upstream MTA treats as content lets a second, forged message be smuggled in behind the
//! first (SMTP smuggling, SEC Consult 2023). smtp-proto 0.2's receiver ends the data on
//! `CRLF . CR… CR LF`, so the session uses this one.
//!
//! The CRLF before the final dot belongs to the message; the dot and its CRLF do not.

use std::slice::Iter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// At the start of a line (after CRLF, or right after the DATA command).
    LineStart,
    /// A line that began with a dot (not kept: a leading dot is stuffing, or the end).
    Dot,
    /// `.` then CR at the start of a line: the end if LF follows.
    DotCr,
    /// Inside a line.
    Text,
    /// Just after a CR inside a line (or after an unstuffed line start).
    Cr,
}

#[derive(Debug, Clone)]
pub struct DotData {
    at: At,
}

impl Default for DotData {
    fn default() -> Self {
        DotData::new()
    }
}

impl DotData {
    /// Right after `354`: the DATA command's CRLF counts as the line end before a first dot
    /// (an empty message is `.` CRLF at once).
    pub fn new() -> DotData {
        DotData { at: At::LineStart }
    }

    /// Appends the unstuffed content in `bytes` to `buf`, consuming up to the end of the data.
    /// True when the end was reached (`bytes` then holds what follows it).
    pub fn ingest(&mut self, bytes: &mut Iter<'_, u8>, buf: &mut Vec<u8>) -> bool {
        let mut rest = bytes.as_slice();
        while let Some((&ch, tail)) = rest.split_first() {
            match self.at {
                At::Text => {
                    // Fast path: everything up to the next CR is content.
                    match rest.iter().position(|&b| b == b'\r') {
                        Some(cr) => {
                            buf.extend_from_slice(&rest[..=cr]);
                            rest = &rest[cr + 1..];
                            self.at = At::Cr;
                        }
                        None => {
                            buf.extend_from_slice(rest);
                            rest = &[];
                        }
                    }
                    continue;
                }
                At::LineStart => match ch {
                    b'.' => self.at = At::Dot,
                    _ => self.content(ch, buf),
                },
                At::Dot => match ch {
                    b'\r' => self.at = At::DotCr,
                    // Dot-stuffing: the leading dot goes, the rest of the line stays.
                    _ => {
                        self.at = At::Text;
                        self.content(ch, buf);
                    }
                },
                At::DotCr => {
                    if ch == b'\n' {
                        *bytes = tail.iter();
                        self.at = At::LineStart;
                        return true;
                    }
                    // `.` CR then something else: a line `.\r…`, unstuffed.
                    buf.push(b'\r');
                    self.at = At::Cr;
                    self.content(ch, buf);
                }
                At::Cr => self.content(ch, buf),
            }
            rest = tail;
        }
        *bytes = rest.iter();
        false
    }

    /// One content byte after `self.at` (`LineStart`, `Text` or `Cr`).
    fn content(&mut self, ch: u8, buf: &mut Vec<u8>) {
        buf.push(ch);
        self.at = match (self.at, ch) {
            (At::Cr, b'\n') => At::LineStart,
            (_, b'\r') => At::Cr,
            _ => At::Text,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns the content and what followed the end.
    fn run(input: &[u8], step: usize) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut data = DotData::new();
        let mut buf = Vec::new();
        for (i, chunk) in input.chunks(step).enumerate() {
            let mut it = chunk.iter();
            if data.ingest(&mut it, &mut buf) {
                let mut after = it.as_slice().to_vec();
                for rest in input.chunks(step).skip(i + 1) {
                    after.extend_from_slice(rest);
                }
                return (buf, Some(after));
            }
        }
        (buf, None)
    }

    #[test]
    fn only_crlf_dot_crlf_ends_the_data_however_the_bytes_arrive() {
        for step in 1..12 {
            let (content, after) = run(b"Hello\r\n..stuffed\r\n.\r\nQUIT\r\n", step);
            assert_eq!(content, b"Hello\r\n.stuffed\r\n", "step {step}");
            assert_eq!(after.as_deref(), Some(&b"QUIT\r\n"[..]), "step {step}");
        }
        let (content, after) = run(b".\r\nNEXT", 1);
        assert_eq!(content, b"", "an empty message");
        assert_eq!(after.as_deref(), Some(&b"NEXT"[..]));
    }

    #[test]
    fn every_smuggling_look_alike_is_content() {
        for end in [
            &b"\n.\n"[..],
            b"\n.\r\n",
            b"\r\n.\n",
            b"\r.\r",
            b"\r.\r\n",
            b"\r\n.\r",
            b"\n.\r",
            b"\r\n\x00.\r\n",
            b"\r\n.\x00\r\n",
            b"\r\n.\r\r\n",
            b"\r\r\n.\r\r\n",
        ] {
            let mut input = b"A".to_vec();
            input.extend_from_slice(end);
            input.extend_from_slice(b"MAIL FROM:<x@y>\r\n");
            for step in 1..8 {
                let (content, after) = run(&input, step);
                assert_eq!(after, None, "{end:?} ended the data (step {step})");
                assert!(content.ends_with(b"MAIL FROM:<x@y>\r\n"), "{end:?}");
            }
            // Still ended by a real end afterwards.
            input.extend_from_slice(b".\r\n");
            assert!(run(&input, 3).1.is_some(), "{end:?}");
        }
    }

    #[test]
    fn a_dot_cr_line_that_is_not_the_end_keeps_its_cr() {
        let (content, after) = run(b"a\r\n.\rb\r\n.\r\n", 1);
        assert_eq!(content, b"a\r\n\rb\r\n");
        assert_eq!(after.as_deref(), Some(&b""[..]));
        let (content, _) = run(b"a\r\n.\r\r\nb\r\n.\r\n", 2);
        assert_eq!(content, b"a\r\n\r\r\nb\r\n");
    }
}
