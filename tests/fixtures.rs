//! The reply corpus: every `fixtures/{mail,replies}/NAME.eml` is analysed exactly as the SMTP
//! pipeline would, and compared with `NAME.expect` beside it. Failing fixtures are named; the share
//! handled exactly is printed (the README's Quality section quotes it).
//!
//! `.expect` format: `key: value` lines, then a line `--- kept` and the exact kept text.
//! Keys: `class` (reply | empty | auto_reply | bounce | loop), `envelope-from` (default: the
//! From address; `<>` for the null sender), `sent` (a file in fixtures/mail/ holding the text
//! of the notification we sent, removed wherever quoted), `bounce-recipient`, `bounce-status`,
//! `bounce-permanent` (true/false), `html-contains` / `html-lacks` (repeatable substrings of the
//! sanitized HTML), `html: none` (no HTML kept: the text is shown), `attachments` (count),
//! `inline` (count of inline parts).

use std::path::{Path, PathBuf};
use threadgate::domain::EmailAddress;
use threadgate::domain::sending::SendingDomains;
use threadgate::inbound::analyze::{self, Context};
use threadgate::inbound::classify::Machine;

const REPLY_DOMAIN: &str = "reply.example.net";

#[derive(Default, Debug)]
struct Expect {
    class: String,
    envelope_from: Option<String>,
    sent: Option<String>,
    bounce_recipient: Option<String>,
    bounce_status: Option<String>,
    bounce_permanent: Option<bool>,
    html_contains: Vec<String>,
    html_lacks: Vec<String>,
    /// `html: none`: no HTML is kept (the text is shown).
    html_none: bool,
    attachments: Option<usize>,
    inline: Option<usize>,
    kept: Option<String>,
}

fn read_expect(path: &Path) -> Result<Expect, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = text.replace("\r\n", "\n");
    let (head, kept) = match text.split_once("--- kept\n") {
        Some((head, kept)) => (
            head.to_string(),
            Some(kept.trim_end_matches('\n').to_string()),
        ),
        None => (text.clone(), None),
    };
    let mut e = Expect {
        kept,
        ..Expect::default()
    };
    for line in head
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| format!("{}: bad line {line:?}", path.display()))?;
        let value = value.trim().to_string();
        match key.trim() {
            "class" => e.class = value,
            "envelope-from" => e.envelope_from = Some(value),
            "sent" => e.sent = Some(value),
            "bounce-recipient" => e.bounce_recipient = Some(value),
            "bounce-status" => e.bounce_status = Some(value),
            "bounce-permanent" => e.bounce_permanent = Some(value == "true"),
            "html-contains" => e.html_contains.push(value),
            "html-lacks" => e.html_lacks.push(value),
            "html" if value == "none" => e.html_none = true,
            "attachments" => e.attachments = value.parse().ok(),
            "inline" => e.inline = value.parse().ok(),
            other => return Err(format!("{}: unknown key {other:?}", path.display())),
        }
    }
    if e.class.is_empty() {
        return Err(format!("{}: missing class", path.display()));
    }
    Ok(e)
}

/// Checks one fixture; Err explains the first difference.
fn check(eml: &Path) -> Result<(), String> {
    let dir = eml.parent().unwrap();
    let expect = read_expect(&eml.with_extension("expect"))?;
    let raw = std::fs::read(eml).map_err(|e| e.to_string())?;
    let own = SendingDomains::single(
        EmailAddress::parse("notifications@example.net").unwrap(),
        REPLY_DOMAIN,
    );
    let from_header = threadgate::inbound::parse::parse_email(&raw, &|d| d == REPLY_DOMAIN)
        .and_then(|p| p.from.map(|f| f.to_string()))
        .unwrap_or_default();
    let envelope_from = match expect.envelope_from.as_deref() {
        Some("<>") => String::new(),
        Some(v) => v.to_string(),
        None => from_header,
    };
    let ctx = Context {
        domains: &own,
        envelope_from: &envelope_from,
    };
    let (parsed, machine) =
        analyze::parse_and_classify(&raw, &ctx).ok_or("not parseable as an email")?;
    let sent = match &expect.sent {
        Some(file) => Some(
            std::fs::read_to_string(dir.join(file))
                .map_err(|e| format!("sent file {file}: {e}"))?,
        ),
        None => None,
    };
    let body = analyze::reply_body(&parsed, sent.as_deref());
    let class = match &machine {
        Some(Machine::AutoReply(_)) => "auto_reply",
        Some(Machine::Bounce(_)) => "bounce",
        Some(Machine::Loop(_)) => "loop",
        None if body.text.trim().is_empty() => "empty",
        None => "reply",
    };
    if class != expect.class {
        return Err(format!(
            "class {class}, expected {} ({machine:?})",
            expect.class
        ));
    }
    if let Some(Machine::Bounce(b)) = &machine {
        if expect.bounce_recipient.is_some() && b.recipient != expect.bounce_recipient {
            return Err(format!(
                "bounce recipient {:?}, expected {:?}",
                b.recipient, expect.bounce_recipient
            ));
        }
        if expect.bounce_status.is_some() && b.status != expect.bounce_status {
            return Err(format!(
                "bounce status {:?}, expected {:?}",
                b.status, expect.bounce_status
            ));
        }
        if let Some(p) = expect.bounce_permanent
            && b.permanent != p
        {
            return Err(format!("bounce permanent {}, expected {p}", b.permanent));
        }
    }
    if let Some(kept) = &expect.kept
        && body.text != *kept
    {
        return Err(format!(
            "kept text differs:\n--- got\n{}\n--- expected\n{kept}\n---",
            body.text
        ));
    }
    if expect.html_none && body.html.is_some() {
        return Err(format!("HTML kept, expected none:\n{:?}", body.html));
    }
    let html = body.html.clone().unwrap_or_default();
    for needle in &expect.html_contains {
        if !html.contains(needle.as_str()) {
            return Err(format!("sanitized HTML lacks {needle:?}:\n{html}"));
        }
    }
    for needle in &expect.html_lacks {
        if html.contains(needle.as_str()) {
            return Err(format!("sanitized HTML still contains {needle:?}:\n{html}"));
        }
    }
    if let Some(n) = expect.attachments
        && parsed.attachments.len() != n
    {
        return Err(format!(
            "{} attachments, expected {n}",
            parsed.attachments.len()
        ));
    }
    if let Some(n) = expect.inline {
        let inline = parsed.attachments.iter().filter(|a| a.inline).count();
        if inline != n {
            return Err(format!("{inline} inline parts, expected {n}"));
        }
    }
    Ok(())
}

/// `fixtures/mail/` (the first corpus: every kind of mail) and `fixtures/replies/` (replies
/// per client and language: attributions, header blocks, separators, footers, forwards).
fn fixtures() -> Vec<PathBuf> {
    let mut all = Vec::new();
    for corpus in ["fixtures/mail", "fixtures/replies"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(corpus);
        all.extend(
            std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "eml")),
        );
    }
    all.sort();
    all
}

#[test]
fn every_fixture_is_handled_exactly() {
    let all = fixtures();
    assert!(!all.is_empty(), "no fixtures found");
    let mut failures = Vec::new();
    for eml in &all {
        if let Err(why) = check(eml) {
            failures.push(format!(
                "{}: {why}",
                eml.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    let exact = all.len() - failures.len();
    println!(
        "fixtures: {exact} of {} handled exactly ({:.1}%)",
        all.len(),
        100.0 * exact as f64 / all.len() as f64
    );
    assert!(
        failures.is_empty(),
        "{} failing fixture(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
