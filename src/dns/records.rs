//! The DNS records a sending domain must publish, and the verdict on what DNS answers. Pure:
//! the lookups live in `dns::check`, so every way a record can be missing or wrong is
//! unit-tested here without a server.
//!
//! For a domain `example.com` with reply domain `reply.example.com`:
//! - MX `reply.example.com` → this gateway: replies (and bounces, RFC 5321 §4.5.5: our
//!   envelope sender is `bounces+<id>@reply.example.com`) reach us.
//! - SPF TXT `reply.example.com` (RFC 7208): the envelope sender's domain authorizes the hosts
//!   that send for it; relaxed DMARC alignment (RFC 7489 §3.1.2) then holds because the
//!   reply domain is a subdomain of the From domain.
//! - DKIM TXT `<selector>._domainkey.example.com` (RFC 6376 §3.6.1), one per key (RSA-2048
//!   and Ed25519, RFC 8463): `d=example.com` aligns with the From domain.
//! - DMARC TXT `_dmarc.example.com` (RFC 7489 §6.3): a starting policy of `p=none` with
//!   aggregate reports, to tighten once everything shows `ok`.

use serde::Serialize;

/// What a record is checked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// An MX whose exchange is this host.
    MxTo(String),
    /// One SPF policy that contains this mechanism (`a:host`, `include:relay`…).
    SpfWith(String),
    /// A DKIM key record whose `p=` is this public key (base64).
    DkimKey(String),
    /// A DMARC record with a policy.
    Dmarc,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// `MX` or `TXT`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The fully qualified name to publish it at.
    pub host: String,
    /// What to publish (for MX: `preference exchange`).
    pub value: String,
    pub purpose: String,
    #[serde(skip)]
    pub expect: Expect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Missing,
    Wrong,
    /// Not checked yet, or the lookup itself failed (timeout, SERVFAIL).
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Missing => "missing",
            Status::Wrong => "wrong",
            Status::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Status {
        match s {
            "ok" => Status::Ok,
            "missing" => Status::Missing,
            "wrong" => Status::Wrong,
            _ => Status::Unknown,
        }
    }
}

/// One DKIM key's DNS side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimPublic {
    pub selector: String,
    /// `rsa` or `ed25519` (the `k=` tag).
    pub algorithm: &'static str,
    /// Base64 of the public key as DKIM wants it: SubjectPublicKeyInfo for RSA, the raw 32
    /// bytes for Ed25519 (RFC 8463 §4.2).
    pub public_key: String,
}

/// The records for `domain`, given where replies go and what sends for it.
pub fn expected(
    domain: &str,
    reply_domain: &str,
    mx_host: &str,
    spf_mechanism: &str,
    keys: &[DkimPublic],
) -> Vec<Record> {
    let mut records = vec![
        Record {
            kind: "MX",
            host: reply_domain.to_string(),
            value: format!("10 {mx_host}."),
            purpose: "Routes replies and bounces to this gateway".into(),
            expect: Expect::MxTo(mx_host.to_string()),
        },
        Record {
            kind: "TXT",
            host: reply_domain.to_string(),
            value: format!("v=spf1 {spf_mechanism} ~all"),
            purpose:
                "SPF for the return-path (bounce) domain: authorizes the hosts that send our mail"
                    .into(),
            expect: Expect::SpfWith(spf_mechanism.to_string()),
        },
    ];
    for key in keys {
        records.push(Record {
            kind: "TXT",
            host: format!("{}._domainkey.{domain}", key.selector),
            value: format!("v=DKIM1; k={}; p={}", key.algorithm, key.public_key),
            purpose: format!(
                "DKIM public key ({}, selector {}) that verifies our signatures",
                if key.algorithm == "rsa" {
                    "RSA-2048"
                } else {
                    "Ed25519"
                },
                key.selector
            ),
            expect: Expect::DkimKey(key.public_key.clone()),
        });
    }
    records.push(Record {
        kind: "TXT",
        host: format!("_dmarc.{domain}"),
        value: format!(
            "v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}; adkim=r; aspf=r; pct=100"
        ),
        purpose:
            "DMARC policy: start with p=none and reports, move to quarantine/reject once all is ok"
                .into(),
        expect: Expect::Dmarc,
    });
    records
}

fn normalize_host(h: &str) -> String {
    h.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// DKIM/DMARC tag lists (RFC 6376 §3.2): `tag=value; …`, whitespace folded out of values.
fn tag<'a>(record: &'a str, name: &str) -> Option<&'a str> {
    record.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim())
    })
}

/// The verdict on what DNS returned for `expect` (`found`: MX exchanges, or TXT strings with
/// each record's character-strings already joined).
pub fn judge(expect: &Expect, found: &[String]) -> Status {
    match expect {
        Expect::MxTo(host) => {
            if found.is_empty() {
                Status::Missing
            } else if found
                .iter()
                .any(|f| normalize_host(f) == normalize_host(host))
            {
                Status::Ok
            } else {
                Status::Wrong
            }
        }
        Expect::SpfWith(mechanism) => {
            let policies: Vec<&String> = found
                .iter()
                .filter(|t| {
                    let t = t.trim_start().to_ascii_lowercase();
                    t == "v=spf1" || t.starts_with("v=spf1 ")
                })
                .collect();
            match policies.as_slice() {
                [] => Status::Missing,
                // RFC 7208 §4.5: more than one SPF record is a permanent error.
                [policy] => {
                    let wanted = mechanism.to_ascii_lowercase();
                    let has = policy.split_whitespace().any(|term| {
                        let term = term.to_ascii_lowercase();
                        term.trim_start_matches(['+', '~', '?']) == wanted
                    });
                    if has { Status::Ok } else { Status::Wrong }
                }
                _ => Status::Wrong,
            }
        }
        Expect::DkimKey(key) => {
            let keys: Vec<String> = found
                .iter()
                .filter_map(|t| tag(t, "p"))
                .map(|p| p.chars().filter(|c| !c.is_whitespace()).collect())
                .collect();
            if found.is_empty() {
                Status::Missing
            } else if keys.iter().any(|p| p == key) {
                Status::Ok
            } else {
                Status::Wrong
            }
        }
        Expect::Dmarc => {
            let dmarc: Vec<&String> = found
                .iter()
                .filter(|t| tag(t, "v").is_some_and(|v| v.eq_ignore_ascii_case("DMARC1")))
                .collect();
            match dmarc.as_slice() {
                [] => Status::Missing,
                [record] => match tag(record, "p").map(str::to_ascii_lowercase).as_deref() {
                    Some("none" | "quarantine" | "reject") => Status::Ok,
                    _ => Status::Wrong,
                },
                // RFC 7489 §6.6.3: several records means no policy.
                _ => Status::Wrong,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_record_set_names_every_host_and_value_to_publish() {
        let keys = [
            DkimPublic {
                selector: "tg1r".into(),
                algorithm: "rsa",
                public_key: "MIIB".into(),
            },
            DkimPublic {
                selector: "tg1e".into(),
                algorithm: "ed25519",
                public_key: "11qY".into(),
            },
        ];
        let r = expected(
            "example.com",
            "reply.example.com",
            "mx.gw.test",
            "a:mx.gw.test",
            &keys,
        );
        let hosts: Vec<(&str, &str)> = r.iter().map(|r| (r.kind, r.host.as_str())).collect();
        assert_eq!(
            hosts,
            [
                ("MX", "reply.example.com"),
                ("TXT", "reply.example.com"),
                ("TXT", "tg1r._domainkey.example.com"),
                ("TXT", "tg1e._domainkey.example.com"),
                ("TXT", "_dmarc.example.com"),
            ]
        );
        assert_eq!(r[0].value, "10 mx.gw.test.");
        assert_eq!(r[1].value, "v=spf1 a:mx.gw.test ~all");
        assert_eq!(r[2].value, "v=DKIM1; k=rsa; p=MIIB");
        assert_eq!(r[3].value, "v=DKIM1; k=ed25519; p=11qY");
        assert!(r[4].value.starts_with("v=DMARC1; p=none;"));
    }

    #[test]
    fn mx_is_ok_when_one_exchange_is_ours() {
        let e = Expect::MxTo("mx.gw.test".into());
        assert_eq!(judge(&e, &s(&["MX.GW.test."])), Status::Ok);
        assert_eq!(judge(&e, &s(&["other.example.", "mx.gw.test"])), Status::Ok);
        assert_eq!(judge(&e, &s(&["other.example."])), Status::Wrong);
        assert_eq!(judge(&e, &[]), Status::Missing);
    }

    #[test]
    fn spf_needs_exactly_one_policy_with_our_mechanism() {
        let e = Expect::SpfWith("a:mx.gw.test".into());
        assert_eq!(judge(&e, &s(&["v=spf1 a:mx.gw.test ~all"])), Status::Ok);
        assert_eq!(
            judge(
                &e,
                &s(&["google-site-verification=x", "v=spf1 +a:MX.gw.test -all"])
            ),
            Status::Ok
        );
        assert_eq!(
            judge(&e, &s(&["v=spf1 include:_spf.other.test ~all"])),
            Status::Wrong
        );
        assert_eq!(
            judge(&e, &s(&["v=spf1 a:mx.gw.test ~all", "v=spf1 -all"])),
            Status::Wrong,
            "two policies"
        );
        assert_eq!(judge(&e, &s(&["v=spf10 a:mx.gw.test"])), Status::Missing);
        assert_eq!(judge(&e, &[]), Status::Missing);
    }

    #[test]
    fn dkim_is_ok_only_with_our_public_key() {
        let e = Expect::DkimKey("MIIBkey".into());
        assert_eq!(
            judge(&e, &s(&["v=DKIM1; k=rsa; p=MIIB key"])),
            Status::Ok,
            "whitespace in p= is folded"
        );
        assert_eq!(
            judge(&e, &s(&["v=DKIM1; k=rsa; p=MIIBother"])),
            Status::Wrong
        );
        assert_eq!(
            judge(&e, &s(&["v=DKIM1; k=rsa; p="])),
            Status::Wrong,
            "revoked key"
        );
        assert_eq!(judge(&e, &[]), Status::Missing);
    }

    #[test]
    fn dmarc_is_ok_with_one_record_and_a_policy() {
        let e = Expect::Dmarc;
        assert_eq!(judge(&e, &s(&["v=DMARC1; p=reject"])), Status::Ok);
        assert_eq!(
            judge(&e, &s(&["v=DMARC1; rua=mailto:x@y"])),
            Status::Wrong,
            "no policy"
        );
        assert_eq!(judge(&e, &s(&["v=DMARC1; p=sometimes"])), Status::Wrong);
        assert_eq!(
            judge(&e, &s(&["v=DMARC1; p=none", "v=DMARC1; p=reject"])),
            Status::Wrong
        );
        assert_eq!(judge(&e, &s(&["unrelated"])), Status::Missing);
    }
}
