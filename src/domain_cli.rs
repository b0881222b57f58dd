//! `threadgate domain …`: the admin's command line for sending domains, on the same database
//! (and flags) as `serve`.

use crate::config::{DomainAction, ServeArgs};
use crate::dns::check::DnsChecker;
use crate::domain::SystemClock;
use crate::domains::{DomainError, Domains};
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
    Ok(Domains::new(store, checker, config.domains))
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
        | DomainAction::Activate { serve, json, .. } => (serve.clone(), *json),
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
