//! Who really sent it: SPF (RFC 7208, the connecting IP against the HELO and MAIL FROM
//! domains), DKIM (RFC 6376) and DMARC (RFC 7489) of every inbound email, with mail-auth, when
//! threadgate is the MX (`--inbound-auth verify`). A sender whose domain publishes `p=reject`
//! and fails DMARC is refused; `p=quarantine` failures are held for an admin to release, never
//! posted as that participant. The results are recorded on the inbound record, as an
//! Authentication-Results header value (RFC 8601).

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

#[derive(Clone)]
pub struct InboundAuth {
    authenticator: Arc<MessageAuthenticator>,
    hostname: String,
}

impl InboundAuth {
    /// Resolving through `dns_server`, or the system's resolver.
    pub fn new(dns_server: Option<SocketAddr>, hostname: String) -> anyhow::Result<InboundAuth> {
        let mut options = ResolverOpts::default();
        options.timeout = Duration::from_secs(3);
        options.attempts = 2;
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
        Ok(InboundAuth {
            authenticator: Arc::new(authenticator),
            hostname,
        })
    }

    pub async fn check(&self, raw: &[u8], ip: IpAddr, helo: &str, mail_from: &str) -> Verdict {
        let Some(message) = AuthenticatedMessage::parse(raw) else {
            return Verdict {
                action: Action::Accept,
                results: format!("{}; none (unparseable)", self.hostname),
            };
        };
        let helo = if helo.is_empty() { "unknown" } else { helo };
        let dkim = self.authenticator.verify_dkim(&message).await;
        let spf = if mail_from.is_empty() {
            self.authenticator
                .verify_spf(SpfParameters::verify_ehlo(ip, helo, &self.hostname))
                .await
        } else {
            self.authenticator
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
        let dmarc = self
            .authenticator
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
