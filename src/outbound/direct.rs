//! Direct delivery (`--outbound mx`): the recipient domain's MX records, most preferred first
//! (RFC 5321 §5.1; the domain itself when it has none, and no delivery at all for a null MX,
//! RFC 7505), each host's addresses in turn, STARTTLS whenever offered (opportunistic, RFC 7435:
//! a certificate that does not verify still beats plain text), and one pooled connection set
//! per destination address, reused across emails. A 5xx is permanent (the outbox fails the
//! email and records the bounce); a 4xx or a host that cannot be reached moves on to the next
//! host, and after the last one the outbox retries later.

use super::delivery::DeliveryError;
use crate::dns::check::{DnsChecker, Found};
use crate::store::OutboxEmail;
use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct Direct {
    resolver: DnsChecker,
    /// Our name in EHLO.
    hostname: String,
    /// 25, except in tests.
    port: u16,
    /// Reused connections, by destination address and MX name.
    transports: Arc<Mutex<Pools>>,
}

/// One pooled transport per (destination address, MX name).
type Pools = HashMap<(IpAddr, String), AsyncSmtpTransport<Tokio1Executor>>;

impl Direct {
    pub fn new(resolver: DnsChecker, hostname: String, port: u16) -> Direct {
        Direct {
            resolver,
            hostname,
            port,
            transports: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn transport(
        &self,
        ip: IpAddr,
        host: &str,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
        let mut cache = self
            .transports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = cache.get(&(ip, host.to_string())) {
            return Ok(t.clone());
        }
        // Opportunistic TLS (RFC 7435): without DANE or MTA-STS nothing says which name the
        // certificate must carry, and most MX certificates are self-signed or for another
        // name; encryption without authentication still beats plain text.
        let tls = TlsParameters::builder(host.to_string())
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true)
            .build()
            .map_err(|e| DeliveryError::Transient(format!("TLS setup for {host}: {e}")))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(ip.to_string())
            .port(self.port)
            .hello_name(ClientId::Domain(self.hostname.clone()))
            .tls(Tls::Opportunistic(tls))
            .timeout(Some(Duration::from_secs(60)))
            .pool_config(PoolConfig::new().max_size(4))
            .build();
        cache.insert((ip, host.to_string()), transport.clone());
        Ok(transport)
    }

    pub async fn deliver(&self, email: &OutboxEmail) -> Result<(), DeliveryError> {
        let from = if email.envelope_from.is_empty() {
            None
        } else {
            Some(
                email
                    .envelope_from
                    .parse()
                    .map_err(|e| DeliveryError::Permanent(format!("bad envelope sender: {e}")))?,
            )
        };
        let to: lettre::Address = email
            .recipient
            .parse()
            .map_err(|e| DeliveryError::Permanent(format!("bad recipient address: {e}")))?;
        let domain = to.domain().to_ascii_lowercase();
        let envelope = Envelope::new(from, vec![to])
            .map_err(|e| DeliveryError::Permanent(format!("bad envelope: {e}")))?;
        let hosts = match self.resolver.mx(&domain).await {
            Found::Values(hosts) if hosts.iter().any(|h| h.is_empty()) => {
                return Err(DeliveryError::Permanent(format!(
                    "550 5.1.10 {domain} accepts no mail (null MX, RFC 7505)"
                )));
            }
            Found::Values(hosts) if hosts.is_empty() => vec![domain.clone()],
            Found::Values(hosts) => hosts,
            Found::Failed(e) => {
                return Err(DeliveryError::Transient(format!(
                    "MX lookup for {domain}: {e}"
                )));
            }
        };
        let mut last = format!("no address found for any MX host of {domain}");
        for host in &hosts {
            for ip in self.resolver.ips(host).await {
                let transport = self.transport(ip, host)?;
                match transport.send_raw(&envelope, &email.data).await {
                    Ok(_) => {
                        tracing::info!(%host, %ip, "delivered to the recipient's MX");
                        return Ok(());
                    }
                    Err(e) if e.is_permanent() => {
                        return Err(DeliveryError::Permanent(format!("{host}: {e}")));
                    }
                    Err(e) => {
                        tracing::info!(%host, %ip, error = %e, "MX host failed; trying the next one");
                        last = format!("{host} ({ip}): {e}");
                    }
                }
            }
        }
        Err(DeliveryError::Transient(last))
    }
}
