//! `--dns`: a DNS server on loopback that answers every query at once, so the spawned gateway
//! runs its own SPF and DMARC checks on every reply (as when it faces the internet) against a
//! resolver that never makes it wait. The clients' domain publishes an SPF record that passes
//! loopback senders and a DMARC record (`p=none`); any other name is NXDOMAIN.

use anyhow::{Context, Result};
use mail_auth::hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use mail_auth::hickory_resolver::proto::rr::rdata::TXT;
use mail_auth::hickory_resolver::proto::rr::{RData, Record, RecordType};
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// The running server; it stops when dropped.
pub(super) struct LoopbackDns {
    pub(super) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LoopbackDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts answering for `domain` (the clients' addresses' domain).
pub(super) async fn start(domain: &str) -> Result<LoopbackDns> {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .context("binding the loopback DNS server")?;
    let addr = socket.local_addr()?;
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            if let Some(answer) = answer(&buf[..n], &domain) {
                let _ = socket.send_to(&answer, from).await;
            }
        }
    });
    Ok(LoopbackDns { addr, task })
}

/// The response to one query, None for what is not a query.
fn answer(query: &[u8], domain: &str) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.metadata.authoritative = true;
    for question in &request.queries {
        response.add_query(question.clone());
        let name = question.name().to_ascii().to_ascii_lowercase();
        let name = name.trim_end_matches('.');
        let text = match question.query_type() {
            RecordType::TXT if name == domain => Some("v=spf1 ip4:127.0.0.0/8 -all".to_string()),
            RecordType::TXT if name == format!("_dmarc.{domain}") => {
                Some("v=DMARC1; p=none".to_string())
            }
            _ => None,
        };
        match text {
            Some(text) => {
                response.add_answer(Record::from_rdata(
                    question.name().clone(),
                    300,
                    RData::TXT(TXT::new(vec![text])),
                ));
            }
            None if name == domain || name.ends_with(&format!(".{domain}")) => {}
            None => response.metadata.response_code = ResponseCode::NXDomain,
        }
    }
    response.to_vec().ok()
}
