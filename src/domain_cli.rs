//! `threadgate domain …`: the admin's command line for sending domains, on the same database
//! (and flags) as `serve`.

use crate::config::{DomainAction, ServeArgs};
use crate::dns::check::DnsChecker;
use crate::domain::sending::{LiveDomains, SendingDomains};
use crate::domain::{StrangerPolicy, SystemClock};
use crate::sending_domains::{DomainError, Domains, SendingChange};
use crate::store::Store;
use serde_json::Value;
use std::process::ExitCode;
use std::sync::Arc;

async fn domains(serve: ServeArgs) -> Result<Domains, String> {
    let config = serve.into_config().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("creating {}: {e}", config.data_dir.display()))?;
    let store = Store::connect(&config.database_url, Arc::new(SystemClock))
        .await
        .map_err(|e| format!("opening the database: {e}"))?;
    let checker = DnsChecker::new(config.dns_server).map_err(|e| e.to_string())?;
    let live = LiveDomains::new(SendingDomains::single(
        config.from_address.clone(),
        &config.reply_domain,
    ));
    let domains = Domains::new(store, checker, config.domains, live);
    domains
        .reload()
        .await
        .map_err(|e| format!("reading the domains: {e}"))?;
    Ok(domains)
}

/// The records as a table a person can copy from.
pub fn table(view: &Value) -> String {
    let mut out = format!(
        "{} (replies and bounces: {}){}\n",
        view["name"].as_str().unwrap_or(""),
        view["reply_domain"].as_str().unwrap_or(""),
        match view["last_checked_at"].as_str() {
            Some(at) => format!(", checked {at}"),
            None => ", not checked yet".to_string(),
        }
    );
    for r in view["records"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n  [{}] {} {}\n    {}\n    purpose: {}\n",
            r["status"].as_str().unwrap_or(""),
            r["type"].as_str().unwrap_or(""),
            r["host"].as_str().unwrap_or(""),
            r["value"].as_str().unwrap_or(""),
            r["purpose"].as_str().unwrap_or(""),
        ));
        let found: Vec<&str> = r["found"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if r["status"] == "wrong" {
            out.push_str(&format!("    found instead: {}\n", found.join(" | ")));
        }
    }
    let keys: Vec<String> = view["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            format!(
                "{} ({}, {})",
                k["selector"].as_str().unwrap_or(""),
                k["algorithm"].as_str().unwrap_or(""),
                k["status"].as_str().unwrap_or("")
            )
        })
        .collect();
    out.push_str(&format!("\n  DKIM keys: {}\n", keys.join(", ")));
    out.push_str(&format!(
        "  Sends as: \"… via {}\" <{}>{}{}\n",
        view["display_name"].as_str().unwrap_or(""),
        view["notifications_address"].as_str().unwrap_or(""),
        match view["default_language"].as_str() {
            Some(lang) => format!(", new people in {lang}"),
            None => String::new(),
        },
        if view["default"] == true {
            " (the default domain)"
        } else {
            ""
        },
    ));
    let reasons: Vec<&str> = view["deliverability"]["reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !reasons.is_empty() {
        out.push_str("  WARNING: its mail will land in spam:\n");
        for reason in reasons {
            out.push_str(&format!("    - {reason}\n"));
        }
    }
    match view["inbox"].as_object() {
        Some(inbox) => out.push_str(&format!(
            "  Inbox: {} (or forward it to {}), strangers: {}\n",
            inbox["address"].as_str().unwrap_or(""),
            inbox["forward_to"].as_str().unwrap_or(""),
            inbox["strangers"].as_str().unwrap_or(""),
        )),
        None => out.push_str("  Inbox: none\n"),
    }
    out
}

fn print(view: &Value, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(view).unwrap_or_default());
    } else {
        print!("{}", table(view));
    }
}

fn fail(err: impl std::fmt::Display) -> ExitCode {
    eprintln!("threadgate: {err}");
    ExitCode::from(2)
}

pub async fn run(action: DomainAction) -> ExitCode {
    let (serve, json) = match &action {
        DomainAction::Add { serve, json, .. }
        | DomainAction::List { serve, json }
        | DomainAction::Check { serve, json, .. }
        | DomainAction::Rotate { serve, json, .. }
        | DomainAction::Activate { serve, json, .. }
        | DomainAction::Inbox { serve, json, .. }
        | DomainAction::Sender { serve, json, .. }
        | DomainAction::Block { serve, json, .. } => (serve.clone(), *json),
    };
    let domains = match domains(serve).await {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let missing = |name: &str| fail(format!("no domain {name:?} (threadgate domain add {name})"));
    let result: Result<ExitCode, DomainError> = async {
        Ok(match &action {
            DomainAction::Add {
                name, reply_domain, ..
            } => {
                let view = domains.add(name, reply_domain.as_deref()).await?;
                print(&view, json);
                if !json {
                    println!(
                        "\nPublish these records, then: threadgate domain check {}",
                        view["name"].as_str().unwrap_or(name)
                    );
                }
                ExitCode::SUCCESS
            }
            DomainAction::List { .. } => {
                let all = domains.list().await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
                } else if all.is_empty() {
                    println!("no sending domains yet: threadgate domain add <name>");
                } else {
                    for view in &all {
                        println!("{}", table(view));
                    }
                }
                ExitCode::SUCCESS
            }
            DomainAction::Check { name, .. } => match domains.check(name).await? {
                Some(view) => {
                    print(&view, json);
                    if view["verified"] == true {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                None => missing(name),
            },
            DomainAction::Rotate { name, .. } => match domains.rotate(name).await? {
                Some(view) => {
                    print(&view, json);
                    ExitCode::SUCCESS
                }
                None => missing(name),
            },
            DomainAction::Inbox {
                name,
                address,
                none,
                strangers,
                ..
            } => {
                let local = match (address, none) {
                    (_, true) => Some(None),
                    (Some(address), false) => Some(Some(address.as_str())),
                    (None, false) => None,
                };
                let strangers = strangers.as_deref().and_then(StrangerPolicy::parse);
                match domains.set_inbox(name, local, strangers).await? {
                    Some(view) => {
                        print(&view, json);
                        ExitCode::SUCCESS
                    }
                    None => missing(name),
                }
            }
            DomainAction::Sender {
                name,
                display_name,
                notifications_local,
                language,
                ..
            } => {
                // An empty value goes back to the default.
                fn given(v: &Option<String>) -> Option<Option<&str>> {
                    v.as_deref().map(|v| Some(v).filter(|v| !v.trim().is_empty()))
                }
                let change = SendingChange {
                    display_name: given(display_name),
                    notifications_local: given(notifications_local),
                    default_language: given(language),
                };
                match domains.set_sending(name, change).await? {
                    Some(view) => {
                        print(&view, json);
                        ExitCode::SUCCESS
                    }
                    None => missing(name),
                }
            }
            DomainAction::Block {
                domain: None, ..
            } => {
                let blocked = domains.blocked().await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&blocked).unwrap_or_default());
                } else if blocked.is_empty() {
                    println!("no blocked sender domains");
                } else {
                    for b in &blocked {
                        println!("{}", b["domain"].as_str().unwrap_or(""));
                    }
                }
                ExitCode::SUCCESS
            }
            DomainAction::Block {
                domain: Some(domain),
                remove,
                ..
            } => {
                let changed = if *remove {
                    domains.unblock(domain).await?
                } else {
                    domains.block(domain).await?
                };
                let state = if *remove { "not blocked" } else { "blocked" };
                if json {
                    println!("{}", serde_json::json!({"domain": domain, "blocked": !remove, "changed": changed}));
                } else {
                    println!("{domain}: {state}{}", if changed { "" } else { " (no change)" });
                }
                ExitCode::SUCCESS
            }
            DomainAction::Activate { name, selector, .. } => {
                match domains.activate(name, selector).await? {
                    Some(view) => {
                        print(&view, json);
                        ExitCode::SUCCESS
                    }
                    None => missing(name),
                }
            }
        })
    }
    .await;
    result.unwrap_or_else(fail)
}
