//! Everything decided from an email's content alone: pure, so the fixture corpus, the fuzzer
//! and `threadgate extract` run exactly what the SMTP pipeline runs.

use super::budget::CpuBudget;
use super::classify::{self, Machine};
use super::extract::{self, Extracted};
use super::html;
use super::parse::{self, ParsedEmail};
use crate::domain::sending::SendingDomains;

pub struct Context<'a> {
    /// Our reply domains (where tokens live) and notifications addresses (our own mail).
    pub domains: &'a SendingDomains,
    /// The envelope sender (MAIL FROM); empty for the null reverse-path.
    pub envelope_from: &'a str,
}

/// The part of a reply the person wrote, in text and (sanitized) HTML, and what was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub text: String,
    /// Sanitized HTML of the kept part, when the email had an HTML body.
    pub html: Option<String>,
    /// What was removed from the text (quoted history, signature), verbatim.
    pub trimmed: Option<String>,
    /// The HTML part was given up: its extraction ran over the CPU budget ([`CpuBudget`]).
    pub html_over_budget: bool,
}

/// Parses and classifies. None: not an email at all.
pub fn parse_and_classify(raw: &[u8], ctx: &Context) -> Option<(ParsedEmail, Option<Machine>)> {
    let parsed = parse::parse_email(raw, &|d| ctx.domains.is_reply_domain(d))?;
    let machine = classify::classify(&parsed, ctx.envelope_from, ctx.domains);
    Some((parsed, machine))
}

/// Separates what the person wrote from quoted history and signatures. `sent_text` is the text
/// of the last notification we sent this person in this conversation, when known: wherever it
/// is quoted, it goes.
pub fn reply_body(parsed: &ParsedEmail, sent_text: Option<&str>) -> Body {
    reply_body_with(parsed, sent_text, &|_| None, &CpuBudget::unlimited())
}

/// [`reply_body`], with inline `cid:` images pointed at `cid_url(content_id)`.
pub fn reply_body_with(
    parsed: &ParsedEmail,
    sent_text: Option<&str>,
    cid_url: &dyn Fn(&str) -> Option<String>,
    budget: &CpuBudget,
) -> Body {
    // Prepared once for both parts: for a long notification it costs as much as the matching.
    let sent = sent_text.and_then(extract::Sent::new);
    reply_body_sent(parsed, sent.as_ref(), cid_url, budget)
}

/// [`reply_body_with`] with the sent text already prepared (`threadgate extract` also explains
/// the cuts against it).
pub fn reply_body_sent(
    parsed: &ParsedEmail,
    sent: Option<&extract::Sent>,
    cid_url: &dyn Fn(&str) -> Option<String>,
    budget: &CpuBudget,
) -> Body {
    let Extracted { mut kept, trimmed } = extract::extract_reply_with(&parsed.text(), sent);
    let mut html_over_budget = false;
    let html = match parsed.html_body.as_deref() {
        Some(h) => {
            let Some(reply) = html::reply_html_parts(h, sent, cid_url, budget) else {
                html_over_budget = true;
                return Body {
                    text: kept,
                    html: None,
                    trimmed,
                    html_over_budget,
                };
            };
            if reply.answers_in_history && extract::tagged_answers(&kept).next().is_none() {
                // Answers typed in colour inside Outlook's history, which the text part could
                // not tell (no initials): the text is what the HTML kept.
                kept = html::html_to_text(&reply.html).trim().to_string();
            }
            Some(reply.html)
        }
        None => None,
    }
    // Answers typed inside the history Outlook copies, marked with initials, are found in
    // the text; when its HTML container went whole, the text is shown, so no answer is lost.
    .filter(|h| {
        let mut answers = extract::tagged_answers(&kept).peekable();
        answers.peek().is_none() || {
            let shown = html::html_to_text(h);
            answers.all(|a| shown.contains(a))
        }
    });
    Body {
        text: kept,
        html: html.filter(|h| !h.trim().is_empty()),
        trimmed,
        html_over_budget,
    }
}
