//! Sending domains: `domain add` creates one with its reply subdomain and DKIM keys (RSA-2048
//! and Ed25519), says exactly which DNS records to publish, and checks them (now, and daily from
//! the scheduler). Shared by the CLI (`threadgate domain …`) and the API (`/api/v1/domains`).
//!
//! Key rotation: `rotate` adds a new pair of selectors as `pending` (publish their records),
//! `activate` switches signing to them and retires the previous keys (their records can be
//! removed once mail signed with them is delivered, a few days later).

use crate::config::DomainSettings;
use crate::dns::check::DnsChecker;
use crate::dns::records::{self, DkimPublic, Record, Status};
use crate::domain::envelope::RESERVED_LOCAL_PARTS;
use crate::domain::sending::{
    DEFAULT_DISPLAY_NAME, DEFAULT_NOTIFICATIONS_LOCAL, LiveDomains, SendingDomain, SendingDomains,
};
use crate::domain::{
    EmailAddress, Locale, Millis, StrangerPolicy, parse_domain_name, rfc3339, text,
};
use crate::outbound::dkim;
use crate::store::{DkimKey, Domain, DomainSettingsChange, KeyStatus, Store, StoreError};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] dkim::DkimError),
}

/// A domain's display name: one line, short enough for a From header.
const DISPLAY_NAME: text::TextRule = text::TextRule {
    max_chars: 64,
    ..text::NAME
};

/// How often the scheduler re-checks a domain.
pub const RECHECK_EVERY_MS: Millis = 24 * 3600 * 1000;

/// An inbox address's local part: what mail clients let people type without quoting
/// (RFC 5322 dot-atom, restricted to the characters every provider accepts), lowercased,
/// without `+` (a `+detail` reaches the same inbox).
pub fn parse_inbox_local(raw: &str) -> Result<String, String> {
    let local = raw.trim().to_ascii_lowercase();
    let ok = !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !ok {
        return Err(format!(
            "{raw:?} is not an inbox address local part (letters, digits, '.', '-', '_')"
        ));
    }
    if RESERVED_LOCAL_PARTS.contains(&local.as_str()) {
        return Err(format!(
            "{local:?} is reserved for the gateway's own addresses"
        ));
    }
    Ok(local)
}

/// A domain's sending settings as asked (`PATCH /domains/{name}`, the admin page): raw, checked
/// by [`Domains::set_sending`]. `Some(None)`: back to the default.
#[derive(Debug, Clone, Default)]
pub struct SendingChange<'a> {
    pub display_name: Option<Option<&'a str>>,
    pub notifications_local: Option<Option<&'a str>>,
    pub default_language: Option<Option<&'a str>>,
}

/// The [`SendingDomains`] of the default domain (`--from-address` on `--reply-domain`) and the
/// domains' rows. The default domain's row, when there is one, gives its display name, local
/// part, language and reply domain (the flag's reply domain is still accepted, so addresses
/// already sent keep working).
pub fn sending_domains(default: &SendingDomain, rows: &[Domain]) -> SendingDomains {
    let mut default = default.clone();
    let mut others = Vec::new();
    for row in rows {
        let local = row.notifications_local.as_deref();
        let display_name = row
            .display_name
            .clone()
            .unwrap_or_else(|| DEFAULT_DISPLAY_NAME.to_string());
        if row.name == default.name {
            if let Some(from) = local.and_then(|l| notifications_address(l, &row.name)) {
                default.from = from;
            }
            if !row.reply_domain.eq_ignore_ascii_case(&default.reply_domain) {
                let flag = std::mem::replace(&mut default.reply_domain, row.reply_domain.clone());
                default.also_accepts.push(flag);
            }
            default.display_name = display_name;
            default.locale = row.default_locale;
            continue;
        }
        let Some(from) =
            notifications_address(local.unwrap_or(DEFAULT_NOTIFICATIONS_LOCAL), &row.name)
        else {
            tracing::error!(domain = %row.name, "a domain's notifications address is not an address; it does not send");
            continue;
        };
        others.push(SendingDomain {
            name: row.name.clone(),
            reply_domain: row.reply_domain.clone(),
            from,
            display_name,
            locale: row.default_locale,
            also_accepts: Vec::new(),
        });
    }
    SendingDomains::new(default, others)
}

fn notifications_address(local: &str, domain: &str) -> Option<EmailAddress> {
    EmailAddress::parse(&format!("{local}@{domain}")).ok()
}

#[derive(Clone)]
pub struct Domains {
    store: Store,
    checker: DnsChecker,
    settings: DomainSettings,
    /// `--from-address` on `--reply-domain`, before its row (if any) is merged in.
    default: SendingDomain,
    live: LiveDomains,
}

impl Domains {
    /// `live` starts as the default domain alone; [`Domains::reload`] merges the rows.
    pub fn new(
        store: Store,
        checker: DnsChecker,
        settings: DomainSettings,
        live: LiveDomains,
    ) -> Domains {
        let default = live.now().default_domain().clone();
        Domains {
            store,
            checker,
            settings,
            default,
            live,
        }
    }

    /// The sending domains every part of the process reads.
    pub fn live(&self) -> &LiveDomains {
        &self.live
    }

    /// Reads the domains again (after a change here, and periodically for changes made by
    /// another process). True when something changed.
    pub async fn reload(&self) -> Result<bool, DomainError> {
        let rows = self.store.domains().await?;
        Ok(self.live.replace(sending_domains(&self.default, &rows)))
    }

    /// Changes a domain's display name, notifications local part and default language.
    pub async fn set_sending(
        &self,
        name: &str,
        change: SendingChange<'_>,
    ) -> Result<Option<Value>, DomainError> {
        let name = name.to_ascii_lowercase();
        let Some(domain) = self.store.domain(&name).await? else {
            return Ok(None);
        };
        let display_name = match change.display_name {
            Some(Some(raw)) => Some(Some(
                text::check(raw, &DISPLAY_NAME)
                    .map_err(|e| DomainError::Invalid(format!("display_name: {e}")))?
                    .to_string(),
            )),
            other => other.map(|_| None),
        };
        let notifications_local = match change.notifications_local {
            Some(Some(raw)) => {
                let local = parse_inbox_local(raw)
                    .map_err(|e| DomainError::Invalid(format!("notifications_local: {e}")))?;
                if domain.inbox_local.as_deref() == Some(local.as_str()) {
                    return Err(DomainError::Invalid(format!(
                        "notifications_local: {local}@{name} is the domain's inbox address"
                    )));
                }
                Some(Some(local))
            }
            other => other.map(|_| None),
        };
        let default_locale = match change.default_language {
            Some(Some(raw)) => Some(Some(
                Locale::parse(raw)
                    .filter(|_| raw.len() <= 5)
                    .ok_or_else(|| {
                        DomainError::Invalid(format!(
                            "default_language: expected en or fr, got {raw:?}"
                        ))
                    })?,
            )),
            other => other.map(|_| None),
        };
        let change = DomainSettingsChange {
            display_name,
            notifications_local,
            default_locale,
        };
        self.store.set_domain_settings(&name, &change).await?;
        self.reload().await?;
        self.get(&name).await
    }

    /// Creates `name` (reply domain `reply.<name>` unless given) with fresh keys.
    pub async fn add(&self, name: &str, reply_domain: Option<&str>) -> Result<Value, DomainError> {
        let name = parse_domain_name(name).map_err(DomainError::Invalid)?;
        let reply_domain = match reply_domain {
            Some(r) => parse_domain_name(r).map_err(DomainError::Invalid)?,
            None => format!("reply.{name}"),
        };
        if reply_domain != name && !reply_domain.ends_with(&format!(".{name}")) {
            // Relaxed SPF alignment (RFC 7489 §3.1.2) needs the return path under the domain.
            return Err(DomainError::Invalid(format!(
                "the reply domain {reply_domain} must be {name} or a subdomain of it"
            )));
        }
        let keys = generate_pair(&name, 1, KeyStatus::Active).await?;
        let domain = self
            .store
            .create_domain(&name, &reply_domain, &keys)
            .await?;
        self.reload().await?;
        self.view_of(&domain).await
    }

    pub async fn get(&self, name: &str) -> Result<Option<Value>, DomainError> {
        match self.store.domain(&name.to_ascii_lowercase()).await? {
            Some(domain) => Ok(Some(self.view_of(&domain).await?)),
            None => Ok(None),
        }
    }

    pub async fn list(&self) -> Result<Vec<Value>, DomainError> {
        let mut out = Vec::new();
        for domain in self.store.domains().await? {
            out.push(self.view_of(&domain).await?);
        }
        Ok(out)
    }

    /// Checks every record now and records the result.
    pub async fn check(&self, name: &str) -> Result<Option<Value>, DomainError> {
        let Some(domain) = self.store.domain(&name.to_ascii_lowercase()).await? else {
            return Ok(None);
        };
        let records = self.records(&domain).await?;
        let checked = self.checker.check(&records).await;
        let before = domain.check_results.clone();
        let results = serde_json::to_value(&checked).unwrap_or(Value::Array(Vec::new()));
        if statuses(&before) != statuses(&results) && domain.last_checked_at.is_some() {
            tracing::warn!(domain = %domain.name, before = %statuses(&before), now = %statuses(&results), "DNS records of a domain changed");
        }
        self.store
            .record_domain_check(&domain.name, &results)
            .await?;
        let domain = self.store.domain(&domain.name).await?.unwrap_or(domain);
        Ok(Some(self.view_of(&domain).await?))
    }

    /// The scheduler's daily re-check: domains not checked for a day, claimed so that one
    /// process checks each.
    pub async fn recheck_due(&self) -> Result<usize, DomainError> {
        let before = self.store.now() - RECHECK_EVERY_MS;
        let claimed = self.store.claim_domains_to_check(before, 20).await?;
        for name in &claimed {
            // One domain that cannot be checked (its row, the resolver) is recorded and the
            // others are still checked; the claim moved its next check a day on.
            if let Err(err) = self.check(name).await {
                tracing::error!(domain = %name, error = %err, "re-checking a domain failed");
                self.store
                    .record_failure(crate::store::job::DOMAIN_CHECK, name, &err.to_string())
                    .await?;
            }
        }
        Ok(claimed.len())
    }

    /// Adds the next pair of selectors as `pending`: publish them, then `activate`.
    pub async fn rotate(&self, name: &str) -> Result<Option<Value>, DomainError> {
        let Some(domain) = self.store.domain(&name.to_ascii_lowercase()).await? else {
            return Ok(None);
        };
        let keys = self.store.dkim_keys(&domain.name).await?;
        let next = keys
            .iter()
            .filter_map(|k| selector_number(&k.selector))
            .max()
            .unwrap_or(0)
            + 1;
        let pair = generate_pair(&domain.name, next, KeyStatus::Pending).await?;
        self.store.add_dkim_keys(&domain.name, &pair).await?;
        Ok(Some(self.view_of(&domain).await?))
    }

    /// Signs with the keys of `selector`'s generation from now on; the other active keys are
    /// retired.
    pub async fn activate(&self, name: &str, selector: &str) -> Result<Option<Value>, DomainError> {
        let Some(domain) = self.store.domain(&name.to_ascii_lowercase()).await? else {
            return Ok(None);
        };
        let keys = self.store.dkim_keys(&domain.name).await?;
        let Some(generation) = keys
            .iter()
            .find(|k| k.selector == selector && k.status != KeyStatus::Retired)
            .and_then(|k| selector_number(&k.selector))
        else {
            return Err(DomainError::Invalid(format!(
                "no pending or active key with selector {selector:?}"
            )));
        };
        for key in &keys {
            let status = if selector_number(&key.selector) == Some(generation) {
                KeyStatus::Active
            } else if key.status == KeyStatus::Active {
                KeyStatus::Retired
            } else {
                key.status
            };
            if status != key.status {
                self.store
                    .set_dkim_key_status(&domain.name, &key.selector, status)
                    .await?;
            }
        }
        Ok(Some(self.view_of(&domain).await?))
    }

    /// Sets a domain's inbox address (`Some(None)`: none) and stranger policy.
    pub async fn set_inbox(
        &self,
        name: &str,
        local: Option<Option<&str>>,
        strangers: Option<StrangerPolicy>,
    ) -> Result<Option<Value>, DomainError> {
        let local = match local {
            Some(Some(raw)) => Some(Some(parse_inbox_local(raw).map_err(DomainError::Invalid)?)),
            Some(None) => Some(None),
            None => None,
        };
        let name = name.to_ascii_lowercase();
        // Mail to the notifications address is a reply to our From, not a new conversation.
        if let Some(Some(local)) = &local
            && let Some(sending) = self.live.now().named(&name)
            && sending.from.local().eq_ignore_ascii_case(local)
        {
            return Err(DomainError::Invalid(format!(
                "{local}@{name} is the domain's notifications address"
            )));
        }
        if !self
            .store
            .set_inbox(&name, local.as_ref().map(|l| l.as_deref()), strangers)
            .await?
        {
            return Ok(None);
        }
        self.get(&name).await
    }

    /// Refuses mail from `domain` and its subdomains (at RCPT, `550 5.7.1`). False when it
    /// already was.
    pub async fn block(&self, domain: &str) -> Result<bool, DomainError> {
        let domain = parse_blocked_name(domain)?;
        Ok(self.store.block_domain(&domain).await?)
    }

    /// False when it was not blocked.
    pub async fn unblock(&self, domain: &str) -> Result<bool, DomainError> {
        let domain = parse_blocked_name(domain)?;
        Ok(self.store.unblock_domain(&domain).await?)
    }

    /// `[{domain, created_at}]`.
    pub async fn blocked(&self) -> Result<Vec<Value>, DomainError> {
        Ok(self
            .store
            .blocked_domains()
            .await?
            .into_iter()
            .map(|b| json!({"domain": b.domain, "created_at": rfc3339(b.created_at)}))
            .collect())
    }

    /// The records to publish: MX, SPF, one DKIM record per published key (pending and
    /// active), DMARC.
    async fn records(&self, domain: &Domain) -> Result<Vec<Record>, DomainError> {
        let keys: Vec<DkimPublic> = self
            .store
            .dkim_keys(&domain.name)
            .await?
            .into_iter()
            .filter(|k| k.status != KeyStatus::Retired)
            .map(|k| DkimPublic {
                selector: k.selector,
                algorithm: if k.algorithm == "rsa" {
                    "rsa"
                } else {
                    "ed25519"
                },
                public_key: k.public_key,
            })
            .collect();
        Ok(records::expected(
            &domain.name,
            &domain.reply_domain,
            &self.settings.mx_host,
            &self.settings.spf_mechanism,
            &keys,
        ))
    }

    /// `{name, reply_domain, records: [{type, host, value, purpose, status, found}], keys,
    /// last_checked_at}`; statuses from the last check of the same record.
    async fn view_of(&self, domain: &Domain) -> Result<Value, DomainError> {
        let records = self.records(domain).await?;
        let previous = domain.check_results.as_array().cloned().unwrap_or_default();
        let records: Vec<Value> = records
            .iter()
            .map(|r| {
                let seen = previous.iter().find(|p| {
                    p["type"] == r.kind && p["host"] == r.host.as_str() && p["value"] == r.value.as_str()
                });
                json!({
                    "type": r.kind, "host": r.host, "value": r.value, "purpose": r.purpose,
                    "status": seen.and_then(|s| s["status"].as_str()).unwrap_or(Status::Unknown.as_str()),
                    "found": seen.map(|s| s["found"].clone()).unwrap_or(json!([])),
                })
            })
            .collect();
        let keys: Vec<Value> = self
            .store
            .dkim_keys(&domain.name)
            .await?
            .iter()
            .map(|k| {
                json!({"selector": k.selector, "algorithm": k.algorithm, "status": k.status.as_str(),
                       "created_at": rfc3339(k.created_at)})
            })
            .collect();
        let all_ok = !records.is_empty() && records.iter().all(|r| r["status"] == "ok");
        // The inbox address is reachable directly when the domain's MX is ours, or through a
        // forwarding rule at the domain's mail provider to the same local part on the reply
        // domain (whose MX is ours).
        let inbox = domain.inbox_local.as_ref().map(|local| {
            json!({
                "address": format!("{local}@{}", domain.name),
                "forward_to": format!("{local}@{}", domain.reply_domain),
                "strangers": domain.stranger_policy,
            })
        });
        let live = self.live.now();
        let sending = live.named(&domain.name);
        let spam_reasons = spam_reasons(domain, &records, &keys);
        Ok(json!({
            "name": domain.name, "reply_domain": domain.reply_domain, "records": records,
            "keys": keys, "verified": all_ok,
            "last_checked_at": domain.last_checked_at.map(rfc3339),
            "inbox": inbox,
            "default": live.default_domain().name == domain.name,
            "display_name": sending.map_or(DEFAULT_DISPLAY_NAME, |s| s.display_name.as_str()),
            "notifications_address": sending.map(|s| s.from.to_string()),
            "default_language": domain.default_locale.map(Locale::as_str),
            "deliverability": {
                "lands_in_spam": !spam_reasons.is_empty(),
                "reasons": spam_reasons,
            },
            "problems": never_verify(&self.settings.mx_host)
                .into_iter()
                .chain(misplaced_reply_domain(&domain.name, &domain.reply_domain))
                .collect::<Vec<_>>(),
        }))
    }
}

/// What makes a record impossible to verify however it is published, and what to do instead:
/// an MX pointing to a host no other server can reach — `localhost` and the `.localhost` and
/// `.invalid` names (RFC 6761 §6.3–6.4), a name of one label, an address (an MX names a host,
/// RFC 5321 §5.1). Replies could never arrive.
fn never_verify(mx_host: &str) -> Vec<String> {
    let host = mx_host.trim_end_matches('.').to_ascii_lowercase();
    let unreachable = host == "localhost"
        || host.ends_with(".localhost")
        || host.ends_with(".invalid")
        || !host.contains('.')
        || host.parse::<std::net::IpAddr>().is_ok();
    if !unreachable {
        return Vec::new();
    }
    vec![format!(
        "the MX record points to {host}, which other mail servers cannot reach: replies and \
         bounces can never arrive and the record cannot be verified. Start threadgate with \
         --mx-host (THREADGATE_MX_HOST) set to this server's public name."
    )]
}

/// A reply domain outside its domain: the envelope sender (bounces) is on the reply domain, so
/// SPF passes for a name that does not align with the From domain (DMARC, RFC 7489 §3.1.2,
/// relaxed alignment needs the same organizational domain), and receivers rely on DKIM alone.
fn misplaced_reply_domain(domain: &str, reply_domain: &str) -> Option<String> {
    let (domain, reply) = (
        domain.trim_end_matches('.').to_ascii_lowercase(),
        reply_domain.trim_end_matches('.').to_ascii_lowercase(),
    );
    let under = reply == domain || reply.ends_with(&format!(".{domain}"));
    (!under).then(|| {
        format!(
            "the reply domain {reply} is not under {domain}: bounces and SPF use it, and SPF can              never align with the From domain for DMARC. Use a name such as reply.{domain}."
        )
    })
}

/// Why mail from `domain` will land in spam (or be refused) until its records are right: it
/// still sends, signed with its keys, but receivers check what DNS says. Empty when all is well.
fn spam_reasons(domain: &Domain, records: &[Value], keys: &[Value]) -> Vec<String> {
    let mut reasons = Vec::new();
    if domain.last_checked_at.is_none() {
        reasons.push(format!(
            "its DNS records were never checked: publish them, then `threadgate domain check {}`",
            domain.name
        ));
    } else {
        for record in records.iter().filter(|r| r["status"] != "ok") {
            let status = record["status"].as_str().unwrap_or("unknown");
            let purpose = record["purpose"].as_str().unwrap_or("");
            reasons.push(format!(
                "{} record at {} is {status} ({purpose})",
                record["type"].as_str().unwrap_or("?"),
                record["host"].as_str().unwrap_or("?"),
            ));
        }
    }
    if !keys.iter().any(|k| k["status"] == "active") {
        reasons.push("no active DKIM key: its mail goes out unsigned".to_string());
    }
    reasons
}

/// A sender domain to block: a domain name, or a single label (a whole TLD).
fn parse_blocked_name(raw: &str) -> Result<String, DomainError> {
    let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let single_label = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if single_label {
        return Ok(name);
    }
    parse_domain_name(&name).map_err(DomainError::Invalid)
}

fn statuses(results: &Value) -> String {
    results
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    format!(
                        "{}:{}",
                        r["host"].as_str().unwrap_or(""),
                        r["status"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// `tg3r` → 3.
fn selector_number(selector: &str) -> Option<u32> {
    selector
        .strip_prefix("tg")?
        .trim_end_matches(['r', 'e'])
        .parse()
        .ok()
}

/// An RSA-2048 key (`tg<n>r`) and an Ed25519 key (`tg<n>e`). RSA generation takes a moment of
/// CPU: off the async threads.
async fn generate_pair(
    domain: &str,
    generation: u32,
    status: KeyStatus,
) -> Result<Vec<DkimKey>, DomainError> {
    let domain = domain.to_string();
    let keys = tokio::task::spawn_blocking(move || -> Result<Vec<DkimKey>, dkim::DkimError> {
        Ok(vec![
            dkim::generate(&domain, &format!("tg{generation}r"), "rsa", status)?,
            dkim::generate(&domain, &format!("tg{generation}e"), "ed25519", status)?,
        ])
    })
    .await
    .map_err(|e| DomainError::Invalid(format!("key generation stopped: {e}")))??;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_domain_outside_its_domain_is_flagged() {
        assert!(misplaced_reply_domain("example.com", "reply.example.com").is_none());
        assert!(misplaced_reply_domain("example.com", "Reply.Example.com.").is_none());
        assert!(misplaced_reply_domain("example.com", "example.com").is_none());
        for outside in ["reply.other.com", "badexample.com", "example.com.evil.test"] {
            let problem = misplaced_reply_domain("example.com", outside);
            assert!(
                problem
                    .as_deref()
                    .is_some_and(|p| p.contains("not under example.com")),
                "{outside}: {problem:?}"
            );
        }
    }

    #[test]
    fn an_mx_no_other_server_can_reach_can_never_verify() {
        for host in [
            "localhost",
            "LOCALHOST.",
            "mx.localhost",
            "gw.invalid",
            "gateway",
            "192.0.2.1",
            "::1",
        ] {
            assert_eq!(never_verify(host).len(), 1, "{host}");
        }
        for host in ["mx.example.com", "mx.gateway.test", "mail.example.fr."] {
            assert!(never_verify(host).is_empty(), "{host}");
        }
    }

    #[test]
    fn domain_names_are_checked_and_normalized() {
        assert_eq!(parse_domain_name("Example.COM.").unwrap(), "example.com");
        assert_eq!(
            parse_domain_name("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
        for bad in [
            "",
            "localhost",
            "a..b",
            "-a.com",
            "a-.com",
            "a_b.com",
            "a b.com",
            "bücher.de",
        ] {
            assert!(parse_domain_name(bad).is_err(), "{bad:?}");
        }
        assert!(parse_domain_name(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn inbox_local_parts_are_plain_and_not_ours() {
        assert_eq!(parse_inbox_local(" Support ").unwrap(), "support");
        assert_eq!(
            parse_inbox_local("help.desk-fr_1").unwrap(),
            "help.desk-fr_1"
        );
        for bad in [
            "",
            "a+b",
            "a b",
            ".a",
            "a.",
            "a..b",
            "reply",
            "Bounces",
            "unsubscribe",
            "é",
            "a@b",
            "\"a\"",
        ] {
            assert!(parse_inbox_local(bad).is_err(), "{bad:?}");
        }
        assert!(parse_inbox_local(&"a".repeat(65)).is_err());
    }

    #[test]
    fn blocked_names_are_domains_or_top_level_labels() {
        assert_eq!(parse_blocked_name("Spam.Example.").unwrap(), "spam.example");
        assert_eq!(parse_blocked_name("zip").unwrap(), "zip");
        for bad in ["", "a b", "a..b", "*.example"] {
            assert!(parse_blocked_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn selectors_count_generations() {
        assert_eq!(selector_number("tg1r"), Some(1));
        assert_eq!(selector_number("tg12e"), Some(12));
        assert_eq!(selector_number("default"), None);
    }
}
