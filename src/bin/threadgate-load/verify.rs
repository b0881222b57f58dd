//! Verification through the API: every conversation holds exactly as many
//! client messages as the server accepted (waiting a while for them to
//! become visible).

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use serde::Serialize;
use serde_json::Value;
use tokio::time::sleep;

use super::http::Api;
use super::prepare::{Prepared, id_path};
use super::short;

/// How long verification may wait for stored messages to become visible.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Serialize, Debug)]
pub(super) struct VerifyReport {
    pub(super) expected: u64,
    pub(super) stored: u64,
    pub(super) ok: bool,
    pub(super) detail: Option<String>,
}

pub(super) async fn verify(
    api: &Api,
    prepared: &Prepared,
    expected: &[u64],
    run_id: &str,
) -> Result<VerifyReport> {
    let start = Instant::now();
    let want: u64 = expected.iter().sum();
    loop {
        let mut stored = Vec::with_capacity(prepared.convs.len());
        for conv in &prepared.convs {
            let v = api
                .get(&format!("/conversations/{}/messages", id_path(&conv.id)))
                .await?;
            let msgs = v
                .get("messages")
                .and_then(Value::as_array)
                .or_else(|| v.as_array())
                .ok_or_else(|| {
                    anyhow!(
                        "GET /conversations/…/messages: no messages array in {}",
                        short(&v.to_string())
                    )
                })?;
            stored.push(count_client_messages(msgs, &conv.client_id));
        }
        let got: u64 = stored.iter().sum();
        let equal = stored.as_slice() == expected;
        if equal || got > want || start.elapsed() >= VERIFY_TIMEOUT {
            let detail = if equal {
                None
            } else {
                let bad = stored.iter().zip(expected).filter(|(s, e)| s != e).count();
                let inbound = count_inbound(api, run_id, want).await;
                Some(format!(
                    "{bad} conversations differ; inbound log entries of this run: {}",
                    inbound.map_or_else(|e| format!("unknown ({e:#})"), |c| c.to_string())
                ))
            };
            return Ok(VerifyReport {
                expected: want,
                stored: got,
                ok: equal,
                detail,
            });
        }
        sleep(Duration::from_millis(500)).await;
    }
}

/// Client-authored messages in a conversation, matched by `author_id` (or
/// `author.id`); when no message carries an author id, all but the agent's one.
pub(super) fn count_client_messages(msgs: &[Value], client_id: &Value) -> u64 {
    let author = |m: &Value| -> Option<String> {
        m.get("author_id")
            .or_else(|| m.get("author").and_then(|a| a.get("id")))
            .filter(|v| !v.is_null())
            .map(id_path)
    };
    if msgs.iter().all(|m| author(m).is_none()) {
        return msgs.len().saturating_sub(1) as u64;
    }
    let client = id_path(client_id);
    msgs.iter()
        .filter(|m| author(m).is_some_and(|a| a == client))
        .count() as u64
}

/// Diagnostic only: inbound records that mention this run.
async fn count_inbound(api: &Api, run_id: &str, want: u64) -> Result<usize> {
    // The API serves at most 1000 entries per call.
    let v = api
        .get(&format!("/inbound?limit={}", (want + 100).min(1000)))
        .await?;
    let items = v
        .get("inbound")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("no inbound array"))?;
    Ok(items
        .iter()
        .filter(|i| i.to_string().contains(run_id))
        .count())
}
