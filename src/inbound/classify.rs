//! Mail written by machines never becomes a message nor triggers notifications.
//! A first version: header-based auto-replies (RFC 3834), DSNs (RFC 3464) and null senders
//! (RFC 5321 §4.5.5), and our own notifications coming back (loops).

use super::parse::ParsedEmail;
use crate::domain::EmailAddress;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Machine {
    AutoReply(String),
    Bounce(String),
    Loop(String),
}

pub fn classify(
    parsed: &ParsedEmail,
    envelope_from: &str,
    own_address: &EmailAddress,
) -> Option<Machine> {
    if parsed.is_delivery_report {
        return Some(Machine::Bounce("delivery status notification".into()));
    }
    // RFC 5321 §4.5.5: notifications about a delivery are sent with the null reverse-path.
    if envelope_from.is_empty() {
        return Some(Machine::Bounce("null envelope sender".into()));
    }
    if parsed
        .from
        .as_ref()
        .is_some_and(|f| f.key() == own_address.key())
    {
        return Some(Machine::Loop(
            "sent from our own notification address".into(),
        ));
    }
    for (name, value) in &parsed.auto_markers {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> EmailAddress {
        EmailAddress::parse("notifications@gw.test").unwrap()
    }

    fn with_marker(name: &str, value: &str) -> ParsedEmail {
        ParsedEmail {
            auto_markers: vec![(name.into(), value.into())],
            ..ParsedEmail::default()
        }
    }

    #[test]
    fn auto_submitted_other_than_no_is_an_auto_reply() {
        let p = with_marker("auto-submitted", "auto-replied");
        assert!(matches!(
            classify(&p, "a@x.test", &own()),
            Some(Machine::AutoReply(_))
        ));
        let p = with_marker("auto-submitted", "no");
        assert_eq!(classify(&p, "a@x.test", &own()), None);
        let p = with_marker("precedence", "bulk");
        assert!(matches!(
            classify(&p, "a@x.test", &own()),
            Some(Machine::AutoReply(_))
        ));
    }

    #[test]
    fn null_sender_and_reports_are_bounces() {
        assert!(matches!(
            classify(&ParsedEmail::default(), "", &own()),
            Some(Machine::Bounce(_))
        ));
        let p = ParsedEmail {
            is_delivery_report: true,
            ..ParsedEmail::default()
        };
        assert!(matches!(
            classify(&p, "mailer@x.test", &own()),
            Some(Machine::Bounce(_))
        ));
    }

    #[test]
    fn our_own_notifications_coming_back_are_loops() {
        let p = ParsedEmail {
            from: Some(EmailAddress::parse("Notifications@GW.test").unwrap()),
            ..ParsedEmail::default()
        };
        assert!(matches!(
            classify(&p, "x@y.test", &own()),
            Some(Machine::Loop(_))
        ));
    }

    #[test]
    fn a_person_writing_is_not_a_machine() {
        assert_eq!(classify(&ParsedEmail::default(), "a@x.test", &own()), None);
    }
}
