//! The tag reader under [`super::tree`]: one tag at a time from ammonia's
//! serialization (well-formed, attributes double-quoted), lenient on anything
//! else, and character references decoded.

pub(super) enum Tag {
    Start {
        name: String,
        attrs: Vec<(String, String)>,
        self_closing: bool,
    },
    End(String),
    /// Comments, doctypes, processing instructions: skipped.
    Other,
}

/// The tag starting at `html[i] == '<'` and the index just after it, or
/// `None` when this `<` does not open a tag (it is then text). All indices
/// are positions of ASCII bytes, so every slice is on a char boundary.
pub(super) fn read_tag(html: &str, i: usize) -> Option<(Tag, usize)> {
    let b = html.as_bytes();
    match b.get(i + 1)? {
        b'/' => read_end_tag(html, i + 2),
        b'!' if b.get(i + 2..i + 4) == Some(b"--") => {
            let close = html
                .get(i + 4..)?
                .find("-->")
                .map_or(b.len(), |p| i + 4 + p + 3);
            Some((Tag::Other, close))
        }
        b'!' | b'?' => Some((Tag::Other, find(b, i, b'>').map_or(b.len(), |p| p + 1))),
        c if c.is_ascii_alphabetic() => read_start_tag(html, i + 1),
        _ => None,
    }
}

/// The first `byte` at or after `from`.
fn find(b: &[u8], from: usize, byte: u8) -> Option<usize> {
    b.get(from..)?
        .iter()
        .position(|&c| c == byte)
        .map(|p| from + p)
}

fn is_name(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b':' || c == b'_'
}

/// An end tag whose name starts at `start` (just after `</`).
fn read_end_tag(html: &str, start: usize) -> Option<(Tag, usize)> {
    let b = html.as_bytes();
    let mut j = start;
    while j < b.len() && is_name(b[j]) {
        j += 1;
    }
    if j == start {
        return None;
    }
    let close = find(b, j, b'>')?;
    Some((Tag::End(html[start..j].to_ascii_lowercase()), close + 1))
}

/// A start tag whose name starts at `start` (just after `<`), with its
/// attributes.
fn read_start_tag(html: &str, start: usize) -> Option<(Tag, usize)> {
    let b = html.as_bytes();
    let mut j = start;
    while j < b.len() && is_name(b[j]) {
        j += 1;
    }
    let name = html[start..j].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut self_closing = false;
    loop {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        match b.get(j) {
            None => return None,
            Some(b'>') => {
                j += 1;
                break;
            }
            Some(b'/') => {
                self_closing = true;
                j += 1;
                continue;
            }
            Some(_) => {}
        }
        let (attr_name, value, next) = read_attribute(html, j)?;
        j = next;
        self_closing = false;
        if !attr_name.is_empty() {
            attrs.push((attr_name, value));
        }
    }
    Some((
        Tag::Start {
            name,
            attrs,
            self_closing,
        },
        j,
    ))
}

/// The attribute starting at `j`: its name (lowercased), its value (entities
/// decoded; empty without `=`) and the index just after it, or `None` when a
/// quoted value is never closed.
fn read_attribute(html: &str, mut j: usize) -> Option<(String, String, usize)> {
    let b = html.as_bytes();
    let name_start = j;
    while j < b.len() && !b[j].is_ascii_whitespace() && !matches!(b[j], b'=' | b'>' | b'/') {
        j += 1;
    }
    let attr_name = html[name_start..j].to_ascii_lowercase();
    while j < b.len() && b[j].is_ascii_whitespace() {
        j += 1;
    }
    let mut value = String::new();
    if b.get(j) == Some(&b'=') {
        j += 1;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        match b.get(j) {
            Some(&q @ (b'"' | b'\'')) => {
                let close = find(b, j + 1, q)?;
                value = decode_entities(&html[j + 1..close]);
                j = close + 1;
            }
            _ => {
                let v_start = j;
                while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                    j += 1;
                }
                value = decode_entities(&html[v_start..j]);
            }
        }
    }
    Some((attr_name, value, j))
}

/// Decodes character references; ammonia's output only has `&amp;`, `&lt;`,
/// `&gt;`, `&quot;` and `&nbsp;`, others are decoded for leniency.
pub(super) fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let name_len = after
            .bytes()
            .take(32)
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'#')
            .count();
        let decoded = (after.as_bytes().get(name_len) == Some(&b';'))
            .then(|| decode_entity(&after[..name_len]))
            .flatten();
        match decoded {
            Some(text) => {
                out.push_str(&text);
                rest = &after[name_len + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(name: &str) -> Option<String> {
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        _ => {
            if let Some(num) = name.strip_prefix('#') {
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => num.parse().ok()?,
                };
                char::from_u32(code).filter(|&c| c != '\0')?
            } else {
                let mut out = String::new();
                let token = format!("&{name};");
                mail_parser::decoders::html::add_html_token(&mut out, token.as_bytes(), false);
                return (out != token).then_some(out);
            }
        }
    };
    Some(c.to_string())
}
