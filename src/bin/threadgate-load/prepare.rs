//! Preparation: one agent, N clients and N conversations created through
//! the API, one agent message posted in each, and each client's
//! notification read from the outbox (its personal reply address from
//! `Reply-To`, its `Message-ID`, the text a reply quotes).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use tokio::time::sleep;

use super::args::Args;
use super::{Target, progress};

/// How long to wait for all notifications to show up in the outbox.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(60);

/// What a client needs to reply to its notification.
#[derive(Debug, Clone)]
pub(super) struct ClientTarget {
    pub(super) name: String,
    pub(super) email: String,
    pub(super) reply_addr: String,
    pub(super) notif_message_id: Option<String>,
    pub(super) subject: String,
    pub(super) quoted_from: String,
    pub(super) quoted_date: String,
    pub(super) quoted_text: String,
}

pub(super) struct Conv {
    pub(super) id: Value,
    pub(super) client_id: Value,
}

pub(super) struct Prepared {
    pub(super) convs: Vec<Conv>,
    pub(super) clients: Vec<ClientTarget>,
}

pub(super) const FIRST_NAMES: &[&str] = &[
    "Maria", "James", "Aiko", "Lukas", "Fatima", "Chen", "Olga", "Diego", "Priya", "Tom", "Amara",
    "Henrik", "Sofia", "Kwame", "Elena", "Ravi",
];
pub(super) const LAST_NAMES: &[&str] = &[
    "Lopez", "Smith", "Tanaka", "Müller", "Haddad", "Wei", "Ivanova", "Garcia", "Sharma", "Brown",
    "Okafor", "Larsen", "Rossi", "Mensah", "Popescu", "Nair",
];
pub(super) const TOPICS: &[&str] = &[
    "Invoice 2024-117 question",
    "Delivery date for the spring order",
    "Contract renewal",
    "Access to the reporting portal",
    "Updated shipping address",
    "Quote for additional licences",
    "Onboarding call next week",
    "Refund for duplicate payment",
];

pub(super) async fn prepare(args: &Args, target: &Target, run_id: &str) -> Result<Prepared> {
    let api = &target.api;
    let agent_email = format!("agent-{run_id}@example.test");
    let agent = api
        .post(
            "/people",
            &json!({"email": agent_email, "name": "Alex Agent", "role": "internal"}),
        )
        .await
        .context("creating the agent")?;
    let agent_id =
        extract_id(&agent).ok_or_else(|| anyhow!("no id in POST /people answer: {agent}"))?;

    let n = args.conversations as usize;
    let mut convs = Vec::with_capacity(n);
    let mut by_email: HashMap<String, (usize, String)> = HashMap::new();
    for i in 0..n {
        let name = format!(
            "{} {}",
            FIRST_NAMES[i % FIRST_NAMES.len()],
            LAST_NAMES[(i / FIRST_NAMES.len() + i) % LAST_NAMES.len()]
        );
        let email = format!("client-{i}-{run_id}@example.test");
        let person = api
            .post(
                "/people",
                &json!({"email": email, "name": name, "role": "client"}),
            )
            .await
            .with_context(|| format!("creating client {i}"))?;
        let client_id =
            extract_id(&person).ok_or_else(|| anyhow!("no id in POST /people answer: {person}"))?;
        let subject = format!("{} ({run_id}/{i})", TOPICS[i % TOPICS.len()]);
        let conv = api
            .post(
                "/conversations",
                &json!({
                    "subject": subject,
                    "created_by": agent_id,
                    "participants": [agent_id, client_id],
                }),
            )
            .await
            .with_context(|| format!("creating conversation {i}"))?;
        let conv_id = extract_id(&conv)
            .ok_or_else(|| anyhow!("no id in POST /conversations answer: {conv}"))?;
        let body = format!(
            "Hello {first},\n\nthanks for getting in touch. I have looked into your request and \
             need a couple of details before I can move forward: could you confirm the order \
             number and the billing contact on your side?\n\nBest regards,\nAlex",
            first = name.split_whitespace().next().unwrap_or("there")
        );
        api.post(
            &format!("/conversations/{}/messages", id_path(&conv_id)),
            &json!({"author_id": agent_id, "body": body, "kind": "message"}),
        )
        .await
        .with_context(|| format!("posting the agent message in conversation {i}"))?;
        by_email.insert(email.to_ascii_lowercase(), (i, name));
        convs.push(Conv {
            id: conv_id,
            client_id,
        });
    }

    let found = collect_notifications(&target.outboxes, &by_email, n).await?;
    let clients = found
        .into_iter()
        .enumerate()
        .map(|(i, c)| c.ok_or_else(|| anyhow!("internal: client {i} missing")))
        .collect::<Result<Vec<_>>>()?;
    Ok(Prepared { convs, clients })
}

/// Poll the outboxes until every client has its notification (or time out).
async fn collect_notifications(
    outboxes: &[PathBuf],
    by_email: &HashMap<String, (usize, String)>,
    n: usize,
) -> Result<Vec<Option<ClientTarget>>> {
    let start = Instant::now();
    let mut found: Vec<Option<ClientTarget>> = vec![None; n];
    let mut missing = n;
    let mut done_files: HashSet<PathBuf> = HashSet::new();
    loop {
        for entries in outboxes
            .iter()
            .filter_map(|outbox| std::fs::read_dir(outbox).ok())
        {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().and_then(|e| e.to_str()) != Some("eml")
                    || done_files.contains(&path)
                {
                    continue;
                }
                let Ok(raw) = std::fs::read(&path) else {
                    continue;
                };
                // A file that does not parse (yet) may still be being written: retry later.
                let Some(note) = parse_notification(&raw) else {
                    continue;
                };
                done_files.insert(path);
                if let Some((i, name)) = by_email.get(&note.to.to_ascii_lowercase())
                    && found[*i].is_none()
                {
                    found[*i] = Some(ClientTarget {
                        name: name.clone(),
                        email: note.to.clone(),
                        reply_addr: note.reply_to,
                        notif_message_id: note.message_id,
                        subject: note.subject,
                        quoted_from: note.from,
                        quoted_date: note.date,
                        quoted_text: note.text,
                    });
                    missing -= 1;
                }
            }
        }
        if missing == 0 {
            progress(format_args!(
                "all {n} notifications in the outbox after {:.2} s",
                start.elapsed().as_secs_f64()
            ));
            return Ok(found);
        }
        if start.elapsed() >= NOTIFY_TIMEOUT {
            let example = found
                .iter()
                .position(Option::is_none)
                .and_then(|i| by_email.iter().find(|(_, (j, _))| *j == i))
                .map(|(e, _)| e.clone())
                .unwrap_or_default();
            bail!(
                "only {} of {n} client notifications (with To and Reply-To) appeared in {} within {} s (e.g. none for {example}); {} .eml files seen",
                n - missing,
                outboxes
                    .iter()
                    .map(|o| o.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                NOTIFY_TIMEOUT.as_secs(),
                done_files.len()
            );
        }
        sleep(Duration::from_millis(200)).await;
    }
}

#[derive(Debug)]
pub(super) struct Notification {
    pub(super) to: String,
    pub(super) reply_to: String,
    pub(super) message_id: Option<String>,
    pub(super) subject: String,
    pub(super) from: String,
    pub(super) date: String,
    pub(super) text: String,
}

/// The fields of an outbox email a reply needs; `None` if To/Reply-To are missing.
pub(super) fn parse_notification(raw: &[u8]) -> Option<Notification> {
    let msg = mail_parser::MessageParser::default().parse(raw)?;
    let to = msg.to()?.first()?.address()?.to_string();
    let reply_to = msg.reply_to()?.first()?.address()?.to_string();
    if !reply_to.contains('@') {
        return None;
    }
    let from = match msg.from().and_then(|a| a.first()) {
        Some(addr) => match (addr.name(), addr.address()) {
            (Some(name), Some(email)) => format!("{name} <{email}>"),
            (None, Some(email)) => format!("<{email}>"),
            _ => "Agent".to_string(),
        },
        None => "Agent".to_string(),
    };
    let date = msg
        .date()
        .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0))
        .unwrap_or_else(chrono::Utc::now);
    Some(Notification {
        to,
        reply_to,
        message_id: msg.message_id().map(str::to_string),
        subject: msg.subject().unwrap_or("(no subject)").to_string(),
        from,
        date: date.format("%a, %b %-d, %Y at %-I:%M %p").to_string(),
        text: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
    })
}

/// The id of a created object: `{"id": …}` or `{"<something>": {"id": …}}`.
pub(super) fn extract_id(v: &Value) -> Option<Value> {
    if let Some(id) = v.get("id") {
        return Some(id.clone());
    }
    v.as_object()?
        .values()
        .find_map(|inner| inner.get("id").cloned())
}

/// An id as it appears in a URL path.
pub(super) fn id_path(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
