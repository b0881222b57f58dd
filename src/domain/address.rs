//! A normalised email address.

use std::fmt;

/// An addr-spec (RFC 5321 §4.1.2 `Mailbox`), trimmed, with the domain lowercased.
///
/// The local part keeps its case for display but comparisons use [`EmailAddress::key`], which is
/// fully lowercased: in practice every mailbox provider treats local parts case-insensitively,
/// and a participant replying as `Alice@Example.com` must match `alice@example.com`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress {
    local: String,
    domain: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid email address: {0}")]
pub struct InvalidEmail(pub &'static str);

const MAX_LEN: usize = 254; // RFC 5321 §4.5.3.1.3 path limit minus the angle brackets

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let s = raw.trim();
        let s = s
            .strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(s);
        if s.is_empty() {
            return Err(InvalidEmail("empty"));
        }
        if s.len() > MAX_LEN {
            return Err(InvalidEmail("too long"));
        }
        let (local, domain) = s.rsplit_once('@').ok_or(InvalidEmail("missing @"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(InvalidEmail("bad local part"));
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
        {
            return Err(InvalidEmail("bad character in local part"));
        }
        let domain = domain.trim_end_matches('.');
        if domain.is_empty()
            || domain.starts_with('.')
            || domain.contains("..")
            || !domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        {
            return Err(InvalidEmail("bad domain"));
        }
        Ok(EmailAddress {
            local: local.to_string(),
            domain: domain.to_lowercase(),
        })
    }

    pub fn local(&self) -> &str {
        &self.local
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The comparison key: whole address lowercased.
    pub fn key(&self) -> String {
        format!("{}@{}", self.local.to_lowercase(), self.domain)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({self})")
    }
}

/// A domain name as DNS allows it (RFC 1035 §2.3.1, RFC 5890 A-labels), lowercased, without
/// the trailing dot.
pub fn parse_domain_name(raw: &str) -> Result<String, String> {
    let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() || name.len() > 253 {
        return Err(format!("{raw:?} is not a domain name"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(format!("{raw:?} needs at least two labels (example.com)"));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("{raw:?} has an invalid label {label:?}"));
        }
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_compare_case_insensitively() {
        let a = EmailAddress::parse("Alice@Example.COM").unwrap();
        let b = EmailAddress::parse("<alice@example.com>").unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.domain(), "example.com");
    }

    #[test]
    fn garbage_is_rejected_with_a_reason() {
        for bad in [
            "",
            "no-at",
            "@x.com",
            "a@",
            "a b@x.com",
            "a@x..com",
            "a@-x!.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
