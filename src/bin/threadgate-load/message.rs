//! The replies sent: realistic multipart/alternative emails (text and HTML
//! with the quoted notification, as Gmail writes them), padded to about
//! `--size` bytes, optionally with a PDF attachment; CRLF line endings.

use base64::Engine as _;
use rand::Rng;

use super::random_hex;

pub(super) struct ReplySpec<'a> {
    pub(super) from_name: &'a str,
    pub(super) from_email: &'a str,
    pub(super) to: &'a str,
    pub(super) subject: &'a str,
    pub(super) in_reply_to: Option<&'a str>,
    pub(super) quoted_from: &'a str,
    pub(super) quoted_date: &'a str,
    pub(super) quoted_text: &'a str,
    pub(super) message_id: &'a str,
    pub(super) date: &'a str,
    pub(super) size: usize,
    pub(super) attachment_size: usize,
    pub(super) seq: u64,
}

const OPENERS: &[&str] = &[
    "Hi Alex,",
    "Hello Alex,",
    "Hi,",
    "Dear Alex,",
    "Good morning,",
];
const INTROS: &[&str] = &[
    "Thanks for the quick answer, here are the details you asked for.",
    "Sorry for the delay, I had to check with our accounting team first.",
    "Please find my answers below, and let me know if anything is missing.",
    "Following up on your message from earlier today.",
];
const CLOSERS: &[&str] = &[
    "Best regards",
    "Thanks",
    "Kind regards",
    "Cheers",
    "Many thanks",
];
const WORDS: &[&str] = &[
    "the",
    "order",
    "invoice",
    "we",
    "received",
    "last",
    "week",
    "and",
    "our",
    "team",
    "would",
    "like",
    "to",
    "confirm",
    "that",
    "payment",
    "was",
    "made",
    "on",
    "time",
    "please",
    "check",
    "attached",
    "number",
    "account",
    "for",
    "delivery",
    "address",
    "changed",
    "since",
    "March",
    "contract",
    "renewal",
    "includes",
    "two",
    "additional",
    "licences",
    "support",
    "hours",
    "could",
    "you",
    "send",
    "an",
    "updated",
    "quote",
    "before",
    "Friday",
    "meeting",
    "with",
    "finance",
    "department",
    "is",
    "scheduled",
    "next",
    "Tuesday",
    "morning",
    "it",
    "seems",
    "shipment",
    "arrived",
    "damaged",
    "box",
    "missing",
    "items",
    "replacement",
    "as",
    "soon",
    "possible",
    "thank",
    "your",
    "help",
    "colleague",
    "will",
    "join",
    "call",
    "reference",
    "customer",
    "portal",
    "login",
    "does",
    "not",
    "work",
    "anymore",
    "reset",
    "password",
    "billing",
    "contact",
    "is",
    "Maria",
    "from",
    "procurement",
    "VAT",
    "ID",
    "remains",
    "same",
    "previous",
    "statement",
    "shows",
    "duplicate",
    "charge",
    "refund",
    "expected",
    "within",
    "days",
    "project",
    "timeline",
    "milestone",
    "approval",
    "signed",
    "copy",
    "document",
];

/// A realistic reply (CRLF line endings, not dot-stuffed) of about `spec.size`
/// bytes plus the optional base64 PDF attachment.
pub(super) fn build_reply(spec: &ReplySpec<'_>, rng: &mut impl Rng) -> Vec<u8> {
    let first_name = spec.from_name.split_whitespace().next().unwrap_or("Me");
    let parts = Fixed {
        opener: OPENERS[rng.random_range(0..OPENERS.len())],
        intro: INTROS[rng.random_range(0..INTROS.len())],
        closer: CLOSERS[rng.random_range(0..CLOSERS.len())],
        first_name,
        alt_boundary: format!("000000000000{}", random_hex(rng, 12)),
        mixed_boundary: format!("000000000000{}", random_hex(rng, 12)),
        quoted: quote_lines(spec.quoted_text, (spec.size / 4).max(256)),
        attachment: (spec.attachment_size > 0).then(|| fake_pdf_base64(rng, spec.attachment_size)),
        attachment_id: format!("f_{}", random_hex(rng, 9)),
    };
    let attach_len = parts.attachment.as_ref().map_or(0, String::len);
    let filler = random_prose(rng, spec.size + 200);

    // Padding appears in both the text and the HTML part: adjust its length
    // until the message (without attachment) is close to the target size.
    let mut pad = 0usize;
    let mut msg = render_reply(spec, &parts, cut_prose(&filler, pad));
    for _ in 0..8 {
        let cur = msg.len().saturating_sub(attach_len);
        let diff = spec.size as i64 - cur as i64;
        if diff.abs() < 48 || (diff < 0 && pad == 0) {
            break;
        }
        let next = (pad as i64 + diff / 2).clamp(0, filler.len() as i64) as usize;
        if next == pad {
            break;
        }
        pad = next;
        msg = render_reply(spec, &parts, cut_prose(&filler, pad));
    }
    msg.into_bytes()
}

struct Fixed<'a> {
    opener: &'a str,
    intro: &'a str,
    closer: &'a str,
    first_name: &'a str,
    alt_boundary: String,
    mixed_boundary: String,
    quoted: Vec<String>,
    attachment: Option<String>,
    attachment_id: String,
}

fn render_reply(spec: &ReplySpec<'_>, p: &Fixed<'_>, padding: &str) -> String {
    const CRLF: &str = "\r\n";
    let mut paragraphs: Vec<String> = padding
        .split("\n\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    // The padding is cut at a word boundary: end its last sentence.
    if let Some(last) = paragraphs.last_mut()
        && !last.ends_with('.')
    {
        last.push('.');
    }
    let attribution = format!("On {}, {} wrote:", spec.quoted_date, spec.quoted_from);

    // text/plain
    let mut text = String::new();
    for para in [p.opener, "", p.intro, ""] {
        text.push_str(para);
        text.push_str(CRLF);
    }
    for para in &paragraphs {
        for line in wrap(para, 72) {
            text.push_str(&line);
            text.push_str(CRLF);
        }
        text.push_str(CRLF);
    }
    text.push_str(&format!("{},{CRLF}{}{CRLF}{CRLF}", p.closer, p.first_name));
    let attribution_width = if attribution.len() > 900 { 76 } else { 900 };
    for line in wrap(&attribution, attribution_width) {
        text.push_str(&line);
        text.push_str(CRLF);
    }
    text.push_str(CRLF);
    for q in &p.quoted {
        if q.is_empty() {
            text.push('>');
        } else {
            text.push_str("> ");
            text.push_str(q);
        }
        text.push_str(CRLF);
    }

    // text/html
    let mut html = String::from("<div dir=\"ltr\">");
    html.push_str(&format!(
        "<div>{}</div><div><br></div><div>{}</div><div><br></div>{CRLF}",
        html_escape(p.opener),
        html_escape(p.intro)
    ));
    for para in &paragraphs {
        html.push_str("<div>");
        html.push_str(&wrap(&html_escape(para), 76).join(CRLF));
        html.push_str(&format!("</div><div><br></div>{CRLF}"));
    }
    html.push_str(&format!(
        "<div>{},</div><div>{}</div></div><br>{CRLF}<div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">{}<br></div>{CRLF}\
         <blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex\">{CRLF}",
        html_escape(p.closer),
        html_escape(p.first_name),
        html_escape(&attribution)
    ));
    for q in &p.quoted {
        html.push_str(&html_escape(q));
        html.push_str("<br>");
        html.push_str(CRLF);
    }
    html.push_str(&format!("</blockquote></div>{CRLF}"));

    let cte = |s: &str| if s.is_ascii() { "7bit" } else { "8bit" };
    let subject = if spec.subject.len() >= 3 && spec.subject[..3].eq_ignore_ascii_case("re:") {
        spec.subject.to_string()
    } else {
        format!("Re: {}", spec.subject)
    };

    let mut m = String::with_capacity(spec.size + spec.attachment_size * 2 + 1024);
    m.push_str(&format!("MIME-Version: 1.0{CRLF}Date: {}{CRLF}", spec.date));
    if let Some(irt) = spec.in_reply_to {
        m.push_str(&format!(
            "References: <{irt}>{CRLF}In-Reply-To: <{irt}>{CRLF}"
        ));
    }
    m.push_str(&format!(
        "Message-ID: <{}>{CRLF}Subject: {}{CRLF}From: {} <{}>{CRLF}To: {}{CRLF}",
        spec.message_id,
        encode_header(&subject),
        encode_header(spec.from_name),
        spec.from_email,
        spec.to
    ));
    let alternative = format!(
        "--{b}{CRLF}Content-Type: text/plain; charset=\"UTF-8\"{CRLF}Content-Transfer-Encoding: {}{CRLF}{CRLF}{text}{CRLF}\
         --{b}{CRLF}Content-Type: text/html; charset=\"UTF-8\"{CRLF}Content-Transfer-Encoding: {}{CRLF}{CRLF}{html}{CRLF}--{b}--{CRLF}",
        cte(&text),
        cte(&html),
        b = p.alt_boundary
    );
    match &p.attachment {
        None => {
            m.push_str(&format!(
                "Content-Type: multipart/alternative; boundary=\"{}\"{CRLF}{CRLF}",
                p.alt_boundary
            ));
            m.push_str(&alternative);
        }
        Some(b64) => {
            let name = format!("statement-{}.pdf", spec.seq);
            m.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"{mb}\"{CRLF}{CRLF}--{mb}{CRLF}\
                 Content-Type: multipart/alternative; boundary=\"{}\"{CRLF}{CRLF}{alternative}{CRLF}\
                 --{mb}{CRLF}Content-Type: application/pdf; name=\"{name}\"{CRLF}\
                 Content-Disposition: attachment; filename=\"{name}\"{CRLF}\
                 Content-Transfer-Encoding: base64{CRLF}Content-ID: <{id}>{CRLF}X-Attachment-Id: {id}{CRLF}{CRLF}",
                p.alt_boundary,
                mb = p.mixed_boundary,
                id = p.attachment_id
            ));
            m.push_str(b64);
            m.push_str(&format!("--{}--{CRLF}", p.mixed_boundary));
        }
    }
    m
}

/// The notification text as quoted lines (without "> "), at most `budget` bytes.
fn quote_lines(text: &str, budget: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut used = 0;
    let trimmed = text.trim_end();
    'outer: for raw in trimmed.lines() {
        let raw = raw.trim_end_matches('\r');
        let pieces = if raw.len() > 150 {
            wrap(raw, 76)
        } else {
            vec![raw.to_string()]
        };
        for piece in pieces {
            used += piece.len() + 4;
            if used > budget {
                break 'outer;
            }
            out.push(piece);
        }
    }
    out
}

/// Word-wrap to `width` characters; longer words are split.
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut line_chars = 0usize;
    for word in text.split_whitespace() {
        let mut word = word;
        loop {
            let wchars = word.chars().count();
            if line_chars > 0 && line_chars + 1 + wchars > width {
                lines.push(std::mem::take(&mut line));
                line_chars = 0;
            }
            if line_chars == 0 && wchars > width {
                let split = word
                    .char_indices()
                    .nth(width)
                    .map_or(word.len(), |(i, _)| i);
                lines.push(word[..split].to_string());
                word = &word[split..];
                if word.is_empty() {
                    break;
                }
                continue;
            }
            if line_chars > 0 {
                line.push(' ');
                line_chars += 1;
            }
            line.push_str(word);
            line_chars += wchars;
            break;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Random sentences and paragraphs of ASCII words, about `len` bytes.
fn random_prose(rng: &mut impl Rng, len: usize) -> String {
    let mut s = String::with_capacity(len + 128);
    let mut sentences_in_para = 0;
    while s.len() < len {
        let words = rng.random_range(8..18);
        for w in 0..words {
            let word = WORDS[rng.random_range(0..WORDS.len())];
            if w == 0 {
                let mut c = word.chars();
                if let Some(f) = c.next() {
                    s.push(f.to_ascii_uppercase());
                    s.push_str(c.as_str());
                }
            } else {
                s.push(' ');
                s.push_str(word);
            }
        }
        s.push('.');
        sentences_in_para += 1;
        if sentences_in_para >= rng.random_range(3..6) {
            s.push_str("\n\n");
            sentences_in_para = 0;
        } else {
            s.push(' ');
        }
    }
    s
}

/// Prefix of `prose` (ASCII) of at most `len` bytes, cut at a word boundary.
fn cut_prose(prose: &str, len: usize) -> &str {
    if len >= prose.len() {
        return prose;
    }
    match prose[..len].rfind([' ', '\n']) {
        Some(i) => &prose[..i],
        None => "",
    }
}

/// A fake PDF of exactly `size` bytes, base64 in 76-column CRLF lines.
fn fake_pdf_base64(rng: &mut impl Rng, size: usize) -> String {
    let mut bytes =
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
    let trailer = b"\n%%EOF\n";
    let mut noise = vec![0u8; size.saturating_sub(bytes.len() + trailer.len())];
    rng.fill(&mut noise[..]);
    bytes.extend_from_slice(&noise);
    bytes.extend_from_slice(trailer);
    bytes.truncate(size);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let mut out = String::with_capacity(b64.len() + b64.len() / 76 * 2 + 2);
    for chunk in b64.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// RFC 2047 encoded-word for non-ASCII header text.
fn encode_header(s: &str) -> String {
    if s.is_ascii() {
        s.to_string()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
        )
    }
}
