//! Mail written by machines never becomes a message nor triggers notifications.
//! Auto-replies (RFC 3834 headers, vendor headers, localized subjects), bounces (RFC 3464 DSNs,
//! null sender, our VERP return path) and loops (our own notifications coming back).

use super::parse::ParsedEmail;
use crate::domain::EmailAddress;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Machine {
    /// An automatic answer (out of office, vacation, "we received your request").
    AutoReply(String),
    Bounce(Bounce),
    /// Our own mail coming back to us.
    Loop(String),
}

/// What a delivery failure report says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bounce {
    /// The address that failed (Final-Recipient / Original-Recipient), lowercased.
    pub recipient: Option<String>,
    /// RFC 3463 status, e.g. `5.1.1`.
    pub status: Option<String>,
    pub diagnostic: Option<String>,
    /// 5.x.x: the address will never work. 4.x.x (or unknown): it may work later.
    pub permanent: bool,
    /// Why we think this is a bounce (for the inbound record).
    pub reason: String,
}

impl Machine {
    /// A one-line description for the inbound record.
    pub fn detail(&self) -> String {
        match self {
            Machine::AutoReply(why) | Machine::Loop(why) => why.clone(),
            Machine::Bounce(b) => {
                let mut parts = vec![b.reason.clone()];
                if let Some(r) = &b.recipient {
                    parts.push(format!("recipient {r}"));
                }
                if let Some(s) = &b.status {
                    parts.push(format!("status {s}"));
                }
                if let Some(d) = &b.diagnostic {
                    parts.push(format!("diagnostic: {d}"));
                }
                parts.join("; ")
            }
        }
    }
}

pub fn classify(parsed: &ParsedEmail, envelope_from: &str, own_address: &EmailAddress) -> Option<Machine> {
    if parsed.is_delivery_report {
        return Some(Machine::Bounce(Bounce {
            reason: "delivery status notification".into(),
            ..dsn_fields(parsed.delivery_status.as_deref().unwrap_or(""))
        }));
    }
    // RFC 5321 §4.5.5: notifications about a delivery are sent with the null reverse-path.
    if envelope_from.is_empty() || envelope_from == "<>" {
        return Some(Machine::Bounce(Bounce {
            reason: "null envelope sender".into(),
            ..Bounce::default()
        }));
    }
    if parsed.from.as_ref().is_some_and(|f| f.key() == own_address.key()) {
        return Some(Machine::Loop("sent from our own notification address".into()));
    }
    for (name, value) in &parsed.headers {
        let value = value.to_ascii_lowercase();
        let automatic = match name.as_str() {
            // RFC 3834 §5: anything but "no" means automatic.
            "auto-submitted" => value != "no",
            "x-autoreply" | "x-autorespond" => true,
            "precedence" => matches!(value.as_str(), "auto_reply" | "bulk" | "junk" | "list"),
            _ => false,
        };
        if automatic {
            return Some(Machine::AutoReply(format!("{name}: {value}")));
        }
    }
    None
}

/// Reads the per-recipient fields of an RFC 3464 `message/delivery-status` body.
fn dsn_fields(status: &str) -> Bounce {
    let mut bounce = Bounce::default();
    for line in status.lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        // "rfc822; carl@client.test" — the address type comes first (RFC 3464 §2.3.2).
        let typed = value.split_once(';').map_or(value, |(_, v)| v.trim());
        match name.trim().to_ascii_lowercase().as_str() {
            "final-recipient" | "original-recipient" if bounce.recipient.is_none() => {
                bounce.recipient = Some(typed.trim_matches(['<', '>']).to_ascii_lowercase());
            }
            "status" if bounce.status.is_none() => bounce.status = Some(value.to_string()),
            "diagnostic-code" if bounce.diagnostic.is_none() => bounce.diagnostic = Some(typed.to_string()),
            _ => {}
        }
    }
    bounce.permanent = bounce.status.as_deref().is_some_and(|s| s.starts_with('5'));
    bounce
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> EmailAddress {
        EmailAddress::parse("notifications@gw.test").unwrap()
    }

    fn with_header(name: &str, value: &str) -> ParsedEmail {
        ParsedEmail {
            headers: vec![(name.into(), value.into())],
            ..ParsedEmail::default()
        }
    }

    #[test]
    fn auto_submitted_other_than_no_is_an_auto_reply() {
        let p = with_header("auto-submitted", "auto-replied");
        assert!(matches!(classify(&p, "a@x.test", &own()), Some(Machine::AutoReply(_))));
        let p = with_header("auto-submitted", "no");
        assert_eq!(classify(&p, "a@x.test", &own()), None);
        let p = with_header("precedence", "bulk");
        assert!(matches!(classify(&p, "a@x.test", &own()), Some(Machine::AutoReply(_))));
    }

    #[test]
    fn null_sender_and_reports_are_bounces() {
        assert!(matches!(
            classify(&ParsedEmail::default(), "", &own()),
            Some(Machine::Bounce(_))
        ));
        let p = ParsedEmail {
            is_delivery_report: true,
            delivery_status: Some("Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; Carl@Client.test\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 no such user\n".into()),
            ..ParsedEmail::default()
        };
        let Some(Machine::Bounce(b)) = classify(&p, "mailer@x.test", &own()) else { panic!() };
        assert_eq!(b.recipient.as_deref(), Some("carl@client.test"));
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert_eq!(b.diagnostic.as_deref(), Some("550 5.1.1 no such user"));
        assert!(b.permanent);
    }

    #[test]
    fn our_own_notifications_coming_back_are_loops() {
        let p = ParsedEmail {
            from: Some(EmailAddress::parse("Notifications@GW.test").unwrap()),
            ..ParsedEmail::default()
        };
        assert!(matches!(classify(&p, "x@y.test", &own()), Some(Machine::Loop(_))));
    }

    #[test]
    fn a_person_writing_is_not_a_machine() {
        assert_eq!(classify(&ParsedEmail::default(), "a@x.test", &own()), None);
    }
}
