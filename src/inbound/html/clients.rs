//! How each mail client marks its quote containers and signatures (Gmail,
//! Outlook and OWA, Apple Mail, Thunderbird, Yahoo, ProtonMail, Outlook
//! mobile, GMX/Web.de, Zimbra), and Outlook's paragraphs that are lines: predicates on one
//! element, shared by the container pass, the renderer and the serializer.

use super::tree::Element;

/// Wrappers holding a header and a quote blockquote; what the person typed
/// after the blockquote inside them (inline answers) is kept.
pub(super) fn is_quote_wrapper(e: &Element) -> bool {
    e.name == "div" && (e.has_class("gmail_quote") || e.has_class("protonmail_quote"))
}

/// A blockquote the client made to quote history.
pub(super) fn is_cite_blockquote(e: &Element, in_wrapper: bool) -> bool {
    e.name == "blockquote"
        && (in_wrapper
            || e.attr("type")
                .is_some_and(|t| t.eq_ignore_ascii_case("cite"))
            || e.has_class("gmail_quote")
            || e.has_class("protonmail_quote"))
}

/// Webmails' quote containers holding the header lines and the quoted message: GMX, Web.de
/// and mail.com write `<div name="quote">`.
pub(super) fn is_webmail_quote(e: &Element) -> bool {
    e.name == "div"
        && e.attr("name")
            .is_some_and(|n| n.eq_ignore_ascii_case("quote"))
}

/// Zimbra (behind several national webmails) draws `<hr id="zwchr">` above the header block
/// of the quoted message: everything from it down is history.
pub(super) fn is_zimbra_rule(e: &Element) -> bool {
    e.name == "hr" && e.id_contains("zwchr")
}

/// Yahoo's quote: `class="yahoo_quoted"`, or prefixed as in
/// `id="ydp8b2e7f1fyahoo_quoted_2043577431" class="ydp8b2e7f1fyahoo_quoted"`.
pub(super) fn is_yahoo_quoted(e: &Element) -> bool {
    e.id_contains("yahoo_quoted")
        || e.attr("class").is_some_and(|c| {
            c.split_ascii_whitespace()
                .any(|k| k.to_ascii_lowercase().ends_with("yahoo_quoted"))
        })
}

pub(super) fn is_signature_container(e: &Element) -> bool {
    e.has_class("gmail_signature")
        || e.attr("data-smartmail")
            .is_some_and(|v| v.eq_ignore_ascii_case("gmail_signature"))
        || e.has_class("moz-signature")
        || e.has_class("protonmail_signature_block")
        || e.id_contains("ms-outlook-mobile-signature")
        || e.id_contains("ymail_android_signature")
        || e.id_contains("ymail_ios_signature")
}

/// Outlook's header block: a div with a grey or blue top border.
pub(super) fn is_outlook_header_div(e: &Element) -> bool {
    if e.name != "div" {
        return false;
    }
    let style = e.style();
    style.contains("border-top:solid#e1e1e11.0pt") || style.contains("border-top:solid#b5c4df1.0pt")
}

/// Outlook's paragraphs (`class="MsoNormal"` and friends) and paragraphs
/// styled without margins are lines, not paragraphs: once their class and
/// style are gone they are written as `<div>` so they keep looking like lines.
pub(super) fn paragraph_is_a_line(e: &Element) -> bool {
    e.attr("class")
        .is_some_and(|c| c.split_ascii_whitespace().any(|k| k.starts_with("Mso")))
        || {
            let s = e.style();
            s.contains("margin:0") || (s.contains("margin-top:0") && s.contains("margin-bottom:0"))
        }
}
