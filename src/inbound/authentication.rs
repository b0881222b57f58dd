//! Who really sent it: SPF (RFC 7208, the connecting IP against the HELO and MAIL FROM
//! domains), DKIM (RFC 6376) and DMARC (RFC 7489) of an inbound email, with mail-auth, when
//! threadgate faces the sender (`--inbound-auth verify`, or `auto` for a client that is not a
//! trusted relay); or the Authentication-Results of the MTA in front, only under authserv-ids
//! we trust (`trust:`, or `auto` for a trusted relay; RFC 8601 §5 has that MTA strip any the
//! sender wrote). A sender whose domain publishes `p=reject` and fails DMARC is refused; other
//! failures are held for an admin to release, never posted as that participant. The results
//! are recorded on the inbound record, as an Authentication-Results header value (RFC 8601).

use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, AuthenticationResults, DmarcResult, MessageAuthenticator};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// What to do with an email after authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Accept,
    /// Hold it (DMARC fail, `p=quarantine`).
    Quarantine(String),
    /// Refuse it (DMARC fail, `p=reject`): `550 5.7.1`.
    Reject(String),
}

#[derive(Debug, Clone)]
pub struct Verdict {
    pub action: Action,
    /// The Authentication-Results value (without the header name).
    pub results: String,
}

impl Verdict {
    /// The results say, for some method, `method=value`.
    fn says(&self, method: &str, values: &[&str]) -> bool {
        self.results
            .split([';', ' ', '\t'])
            .filter_map(|token| {
                token
                    .to_ascii_lowercase()
                    .strip_prefix(method)
                    .map(str::to_string)
            })
            .filter_map(|rest| rest.strip_prefix('=').map(str::to_string))
            .any(|value| values.contains(&value.as_str()))
    }

    /// Nothing vouches for the From: DMARC failed, or SPF failed and no DKIM signature
    /// passed. Such a sender is not sent anything that could help a forger (a confirmation).
    pub fn sender_unproven(&self) -> bool {
        self.says("dmarc", &["fail"])
            || (self.says("spf", &["fail", "softfail"]) && !self.says("dkim", &["pass"]))
    }
}

#[derive(Clone)]
pub struct InboundAuth {
    how: How,
    hostname: String,
    timeout: Duration,
}

#[derive(Clone)]
enum How {
    Verify(Arc<MessageAuthenticator>),
    /// Read the Authentication-Results of the MTA in front of us, from these authserv-ids.
    Trust(Vec<String>),
    /// Trust the MTA in front (these networks) for these ids; verify mail from anywhere else.
    Auto {
        verify: Arc<MessageAuthenticator>,
        relays: Vec<crate::config::Network>,
        ids: Vec<String>,
    },
}

/// Whether authserv-id `id` is one of `trusted` (an entry with a leading dot: any subdomain of
/// what follows it).
fn is_trusted(id: &str, trusted: &[String]) -> bool {
    trusted.iter().any(|t| match t.strip_prefix('.') {
        Some(parent) => id.ends_with(t.as_str()) && id.len() > parent.len() + 1,
        None => id == t,
    })
}

/// The DMARC verdict in the topmost Authentication-Results header (RFC 8601 §2.2) whose
/// authserv-id is trusted: `(result, policy.dmarc if given, the header value)`. Headers from
/// other ids are ignored: anyone can write one.
pub fn trusted_dmarc(raw: &[u8], trusted: &[String]) -> Option<(String, Option<String>, String)> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..end]);
    // Unfold (RFC 5322 §2.2.3), then look at each Authentication-Results field.
    let unfolded = head
        .replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ");
    for line in unfolded.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("authentication-results") {
            continue;
        }
        let mut parts = value.split(';');
        let id = parts
            .next()
            .unwrap_or("")
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if !is_trusted(&id, trusted) {
            continue;
        }
        for resinfo in parts {
            let mut words = resinfo.split_whitespace();
            let Some(result) = words.next().and_then(|w| {
                w.to_ascii_lowercase()
                    .strip_prefix("dmarc=")
                    .map(str::to_string)
            }) else {
                continue;
            };
            let policy = resinfo.split_whitespace().find_map(|w| {
                w.to_ascii_lowercase()
                    .strip_prefix("policy.dmarc=")
                    .map(str::to_string)
            });
            return Some((
                result,
                policy,
                value.split_whitespace().collect::<Vec<_>>().join(" "),
            ));
        }
        return Some((
            "none".into(),
            None,
            value.split_whitespace().collect::<Vec<_>>().join(" "),
        ));
    }
    None
}

impl InboundAuth {
    /// Resolving through `dns_server`, or the system's resolver.
    pub fn new(dns_server: Option<SocketAddr>, hostname: String) -> anyhow::Result<InboundAuth> {
        Ok(InboundAuth {
            how: How::Verify(Arc::new(authenticator(dns_server)?)),
            hostname,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// `--inbound-auth auto`: mail from `relays` (the MTA in front) judged by its
    /// Authentication-Results from `ids`, mail from elsewhere checked here.
    pub fn auto(
        dns_server: Option<SocketAddr>,
        hostname: String,
        relays: Vec<crate::config::Network>,
        ids: Vec<String>,
    ) -> anyhow::Result<InboundAuth> {
        Ok(InboundAuth {
            how: How::Auto {
                verify: Arc::new(authenticator(dns_server)?),
                relays,
                ids,
            },
            hostname,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The longest wait for one email's lookups: past it the email is handled as
    /// unauthenticated, recorded as a temporary error.
    pub fn with_timeout(mut self, timeout: Duration) -> InboundAuth {
        self.timeout = timeout;
        self
    }
}

/// The longest wait for one email's lookups unless configured.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The resolver-backed checker, through `dns_server` or the system's resolver.
fn authenticator(dns_server: Option<SocketAddr>) -> anyhow::Result<MessageAuthenticator> {
    {
        let mut options = ResolverOpts::default();
        options.timeout = Duration::from_secs(2);
        options.attempts = 1;
        let authenticator = match dns_server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                MessageAuthenticator::new(
                    ResolverConfig::from_name_servers(vec![NameServerConfig::new(
                        addr.ip(),
                        true,
                        vec![udp, tcp],
                    )]),
                    options,
                )?
            }
            None => MessageAuthenticator::new_system_conf()?,
        };
        Ok(authenticator)
    }
}

impl InboundAuth {
    /// Behind another MTA: its Authentication-Results, from `ids` only.
    pub fn trusting(ids: Vec<String>, hostname: String) -> InboundAuth {
        InboundAuth {
            how: How::Trust(ids),
            hostname,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub async fn check(&self, raw: &[u8], ip: IpAddr, helo: &str, mail_from: &str) -> Verdict {
        let authenticator = match &self.how {
            How::Verify(a) => a,
            How::Trust(ids) => return trusted_verdict(raw, ids, &self.hostname),
            How::Auto { relays, ids, .. } if relays.iter().any(|n| n.contains(ip)) => {
                return trusted_verdict(raw, ids, &self.hostname);
            }
            How::Auto { verify, .. } => verify,
        };
        let checked = tokio::time::timeout(
            self.timeout,
            self.verify(authenticator, raw, ip, helo, mail_from),
        )
        .await;
        checked.unwrap_or_else(|_| Verdict {
            action: Action::Accept,
            results: format!(
                "{}; dkim=temperror; spf=temperror; dmarc=temperror (DNS did not answer within {} ms)",
                self.hostname,
                self.timeout.as_millis()
            ),
        })
    }

    async fn verify(
        &self,
        authenticator: &MessageAuthenticator,
        raw: &[u8],
        ip: IpAddr,
        helo: &str,
        mail_from: &str,
    ) -> Verdict {
        let Some(message) = AuthenticatedMessage::parse(raw) else {
            return Verdict {
                action: Action::Accept,
                results: format!("{}; none (unparseable)", self.hostname),
            };
        };
        let helo = if helo.is_empty() { "unknown" } else { helo };
        let dkim = authenticator.verify_dkim(&message).await;
        let spf = if mail_from.is_empty() {
            authenticator
                .verify_spf(SpfParameters::verify_ehlo(ip, helo, &self.hostname))
                .await
        } else {
            authenticator
                .verify_spf(SpfParameters::verify_mail_from(
                    ip,
                    helo,
                    &self.hostname,
                    mail_from,
                ))
                .await
        };
        let mail_from_domain = mail_from
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or(helo)
            .to_string();
        let dmarc = authenticator
            .verify_dmarc(DmarcParameters::new(
                &message,
                &dkim,
                &mail_from_domain,
                &spf,
            ))
            .await;
        let header = AuthenticationResults::new(&self.hostname)
            .with_dkim_results(&dkim, message.from())
            .with_spf_mailfrom_result(&spf, ip, mail_from, helo)
            .with_dmarc_result(&dmarc)
            .to_header();
        let results = header
            .trim_start_matches("Authentication-Results:")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        // Act on the policy only when DMARC actually failed (RFC 7489 §6.6.2).
        let action = match (dmarc.result(), dmarc.policy()) {
            (DmarcResult::Fail(_), Policy::Reject) => Action::Reject(format!(
                "DMARC failed for {} and its policy is reject",
                dmarc.domain()
            )),
            (DmarcResult::Fail(_), Policy::Quarantine) => Action::Quarantine(format!(
                "DMARC failed for {} and its policy is quarantine: held for review",
                dmarc.domain()
            )),
            _ => Action::Accept,
        };
        Verdict { action, results }
    }
}

/// The action an upstream MTA's verdict calls for: a DMARC failure is refused or held as its
/// policy says, and held when the header does not say (we cannot tell it is harmless).
fn trusted_verdict(raw: &[u8], ids: &[String], hostname: &str) -> Verdict {
    match trusted_dmarc(raw, ids) {
        None => Verdict {
            action: Action::Accept,
            results: format!("{hostname}; none (no Authentication-Results from a trusted host)"),
        },
        Some((result, policy, value)) => {
            let action = match (result.as_str(), policy.as_deref()) {
                ("fail", Some("reject")) => {
                    Action::Reject("the upstream MTA reports a DMARC failure, policy reject".into())
                }
                ("fail", Some("none")) => Action::Accept,
                ("fail", _) => Action::Quarantine(
                    "the upstream MTA reports a DMARC failure: held for review".into(),
                ),
                _ => Action::Accept,
            };
            Verdict {
                action,
                results: value,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        vec!["mx.example.com".into()]
    }

    #[test]
    fn only_authentication_results_from_a_trusted_host_count() {
        let raw = b"Authentication-Results: evil.example; dmarc=pass header.from=bank.test\r\n\
Authentication-Results: mx.example.com 1;\r\n\tspf=fail smtp.mailfrom=bank.test;\r\n\
\tdmarc=fail (p=reject) header.from=bank.test policy.dmarc=reject\r\nFrom: x@bank.test\r\n\r\nbody";
        let (result, policy, value) = trusted_dmarc(raw, &ids()).unwrap();
        assert_eq!(
            (result.as_str(), policy.as_deref()),
            ("fail", Some("reject"))
        );
        assert!(value.starts_with("mx.example.com 1;"), "{value}");
        assert_eq!(
            trusted_verdict(raw, &ids(), "gw").action,
            Action::Reject("the upstream MTA reports a DMARC failure, policy reject".into())
        );
        assert!(trusted_dmarc(raw, &["other.example".into()]).is_none());
    }

    #[test]
    fn a_sender_is_unproven_when_dmarc_fails_or_spf_fails_without_dkim() {
        let verdict = |results: &str| Verdict {
            action: Action::Accept,
            results: results.into(),
        };
        assert!(
            verdict("mx; spf=fail smtp.mailfrom=a.test; dkim=none; dmarc=none").sender_unproven()
        );
        assert!(verdict("mx; spf=softfail; dkim=fail header.d=a.test").sender_unproven());
        assert!(verdict("mx; dmarc=fail header.from=a.test").sender_unproven());
        assert!(!verdict("mx; spf=fail; dkim=pass header.d=a.test").sender_unproven());
        assert!(!verdict("mx; spf=pass; dkim=none").sender_unproven());
        assert!(
            !verdict("mx; none (no Authentication-Results from a trusted host)").sender_unproven()
        );
    }

    #[test]
    fn a_failure_without_a_stated_policy_is_held_and_a_pass_accepted() {
        let fail = b"Authentication-Results: MX.example.com; dmarc=fail header.from=x.test\r\n\r\n";
        assert!(matches!(
            trusted_verdict(fail, &ids(), "gw").action,
            Action::Quarantine(_)
        ));
        let pass = b"Authentication-Results: mx.example.com; dkim=pass; dmarc=pass\r\n\r\n";
        assert_eq!(trusted_verdict(pass, &ids(), "gw").action, Action::Accept);
        let none = b"Subject: hi\r\n\r\nAuthentication-Results: mx.example.com; dmarc=fail\r\n";
        assert_eq!(
            trusted_verdict(none, &ids(), "gw").action,
            Action::Accept,
            "headers only"
        );
    }
}
