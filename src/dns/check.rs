//! Looking records up and judging them. The resolver is hickory (the same one mail-auth uses),
//! pointed at `--dns-server` when given (tests start their own authoritative server on
//! loopback; production may pin a validating resolver), else the system's configuration.

use super::records::{Expect, Record, Status, judge};
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::net::runtime::TokioRuntimeProvider;
use mail_auth::hickory_resolver::proto::rr::RData;
use mail_auth::hickory_resolver::{Resolver, TokioResolver};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

/// What a lookup gave: the values found, or that the lookup itself failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Values(Vec<String>),
    /// Timeout, SERVFAIL, refused: nothing can be concluded.
    Failed(String),
}

/// One record with its verdict, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checked {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub host: String,
    pub value: String,
    pub purpose: String,
    pub status: Status,
    /// What DNS answers there now (for `wrong`: to compare with `value`).
    pub found: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone)]
pub struct DnsChecker {
    resolver: TokioResolver,
}

#[derive(Debug, thiserror::Error)]
#[error("DNS resolver: {0}")]
pub struct ResolverError(String);

impl DnsChecker {
    pub fn new(server: Option<SocketAddr>) -> Result<DnsChecker, ResolverError> {
        let mut options = ResolverOpts::default();
        options.timeout = Duration::from_secs(3);
        options.attempts = 2;
        // A check must see what DNS says now, not what it said a minute ago.
        options.cache_size = 0;
        let builder = match server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
                    addr.ip(),
                    true,
                    vec![udp, tcp],
                )]);
                Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            }
            None => match Resolver::builder(TokioRuntimeProvider::default()) {
                Ok(builder) => builder,
                // No usable system configuration (no /etc/resolv.conf, say): the gateway still
                // starts; checks answer `unknown` until --dns-server is given.
                Err(err) => {
                    tracing::warn!(error = %err, "no system DNS configuration; domain checks need --dns-server");
                    Resolver::builder_with_config(
                        ResolverConfig::from_name_servers(Vec::new()),
                        TokioRuntimeProvider::default(),
                    )
                }
            },
        };
        let resolver = builder
            .with_options(options)
            .build()
            .map_err(|e| ResolverError(e.to_string()))?;
        Ok(DnsChecker { resolver })
    }

    fn fqdn(name: &str) -> String {
        format!("{}.", name.trim_end_matches('.'))
    }

    /// MX exchanges of `name` (without the trailing dot), most preferred first; the null MX
    /// (RFC 7505, exchange `.`) is an empty name.
    pub async fn mx(&self, name: &str) -> Found {
        match self.resolver.mx_lookup(Self::fqdn(name)).await {
            Ok(lookup) => {
                let mut hosts: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => Some((
                            mx.preference,
                            mx.exchange.to_ascii().trim_end_matches('.').to_string(),
                        )),
                        _ => None,
                    })
                    .collect();
                hosts.sort();
                Found::Values(hosts.into_iter().map(|(_, h)| h).collect())
            }
            Err(e) if e.is_no_records_found() => Found::Values(Vec::new()),
            Err(e) => Found::Failed(e.to_string()),
        }
    }

    /// The addresses (A and AAAA) of `name`; empty when there are none or the lookup failed.
    pub async fn ips(&self, name: &str) -> Vec<std::net::IpAddr> {
        match self.resolver.lookup_ip(Self::fqdn(name)).await {
            Ok(lookup) => lookup.iter().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// TXT records of `name`, each record's character-strings joined (RFC 7208 §3.3).
    pub async fn txt(&self, name: &str) -> Found {
        match self.resolver.txt_lookup(Self::fqdn(name)).await {
            Ok(lookup) => Found::Values(
                lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::TXT(txt) => Some(
                            txt.txt_data
                                .iter()
                                .map(|part| String::from_utf8_lossy(part).into_owned())
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .collect(),
            ),
            Err(e) if e.is_no_records_found() => Found::Values(Vec::new()),
            Err(e) => Found::Failed(e.to_string()),
        }
    }

    /// Looks every record up (all at once: a slow or dead resolver costs one timeout, not
    /// one per record) and judges it.
    pub async fn check(&self, records: &[Record]) -> Vec<Checked> {
        let mut lookups = tokio::task::JoinSet::new();
        for (i, record) in records.iter().enumerate() {
            let checker = self.clone();
            let (host, mx) = (
                record.host.clone(),
                matches!(record.expect, Expect::MxTo(_)),
            );
            lookups.spawn(async move {
                let found = if mx {
                    checker.mx(&host).await
                } else {
                    checker.txt(&host).await
                };
                (i, found)
            });
        }
        let mut answers: Vec<Option<Found>> = vec![None; records.len()];
        while let Some(done) = lookups.join_next().await {
            if let Ok((i, found)) = done {
                answers[i] = Some(found);
            }
        }
        let mut out = Vec::with_capacity(records.len());
        for (record, found) in records.iter().zip(answers) {
            let found = found.unwrap_or_else(|| Found::Failed("the lookup did not finish".into()));
            let (status, found, error) = match found {
                Found::Values(values) => (judge(&record.expect, &values), values, None),
                Found::Failed(e) => (Status::Unknown, Vec::new(), Some(e)),
            };
            // Only the record that concerns us: for SPF and DMARC, other TXT records at the
            // same name (site verifications) are noise.
            let found = match &record.expect {
                Expect::SpfWith(_) => found
                    .into_iter()
                    .filter(|f| f.to_ascii_lowercase().starts_with("v=spf1"))
                    .collect(),
                Expect::Dmarc => found
                    .into_iter()
                    .filter(|f| f.to_ascii_lowercase().starts_with("v=dmarc1"))
                    .collect(),
                _ => found,
            };
            out.push(Checked {
                kind: record.kind,
                host: record.host.clone(),
                value: record.value.clone(),
                purpose: record.purpose.clone(),
                status,
                found,
                error,
            });
        }
        out
    }
}
