//! The accept loop: a connection cap (a semaphore permit is taken before a connection is
//! served), one task per connection, tracked so shutdown can wait for them.

use super::connection::{self, Timeouts};
use super::session::{Reply, SessionConfig};
use crate::conn_limits::PerIp;
use crate::inbound::Inbound;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub struct SmtpListener {
    pub listener: TcpListener,
    pub session: SessionConfig,
    pub timeouts: Timeouts,
    pub max_connections: usize,
    /// Concurrent connections from one IP address (one host must not take every slot).
    pub max_connections_per_ip: usize,
    pub inbound: Inbound,
    /// The certificate for STARTTLS, if one is configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Connections open, served and refused.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Counts a connection as open while it is served.
struct Open(Arc<crate::metrics::Metrics>);

impl Open {
    fn new(metrics: &Arc<crate::metrics::Metrics>) -> Open {
        metrics.smtp_connections.inc();
        metrics.smtp_connections_open.inc();
        Open(metrics.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.smtp_connections_open.dec();
    }
}

impl SmtpListener {
    /// Accepts until `shutdown`; connection tasks are spawned on `tracker`.
    pub async fn run(self, shutdown: CancellationToken, tracker: TaskTracker) {
        let permits = Arc::new(Semaphore::new(self.max_connections));
        let per_ip = PerIp::default();
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = shutdown.cancelled() => break,
            };
            let (mut stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let slot = per_ip.claim(peer.ip(), self.max_connections_per_ip);
            let permit = permits.clone().try_acquire_owned().ok();
            let (Some(slot), Some(permit)) = (slot, permit) else {
                self.metrics.smtp_connections_refused.inc();
                // RFC 5321 §3.8: 421 and close when the service cannot take the connection.
                tracker.spawn(async move {
                    let reply = Reply::new(421, "4.7.0", "Too many connections, try again later");
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
                continue;
            };
            let config = self.session.clone();
            let inbound = self.inbound.clone();
            let shutdown = shutdown.clone();
            let timeouts = self.timeouts;
            let tls = self.tls.clone();
            let span = tracing::info_span!("smtp", peer = %peer);
            let open = Open::new(&self.metrics);
            tracker.spawn(
                async move {
                    let _permit = permit;
                    let _slot = slot;
                    let _open = open;
                    if let Err(err) = connection::serve(
                        stream,
                        peer.to_string(),
                        config,
                        timeouts,
                        inbound,
                        shutdown,
                        tls,
                    )
                    .await
                    {
                        tracing::debug!(error = %err, "connection ended with an I/O error");
                    }
                }
                .instrument(span),
            );
        }
    }
}
