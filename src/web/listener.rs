//! The HTTP listener's limits, which `axum::serve` has none of: a global and a per-client-IP
//! cap on open connections (connections beyond them are closed at once, so one host cannot
//! exhaust the file descriptors the SMTP listener needs too), and a request deadline — a
//! connection must bring a request within `request_timeout` of being accepted or of our last
//! write. Only reads that carry a good amount of data move the deadline, so a client trickling
//! its headers a byte at a time (slowloris) is cut off, an idle keep-alive connection is closed,
//! and an upload that streams data is not.

use crate::config::HttpLimits;
use crate::conn_limits::{IpSlot, PerIp};
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// A read of at least this much counts as progress (a request's headers usually arrive in one
/// read; an upload in many large ones).
const PROGRESS_BYTES: usize = 1024;

pub struct LimitedListener {
    inner: TcpListener,
    limits: HttpLimits,
    permits: Arc<Semaphore>,
    per_ip: PerIp,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, limits: HttpLimits) -> LimitedListener {
        LimitedListener {
            inner,
            limits,
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            per_ip: PerIp::default(),
        }
    }
}

/// The client's address, as handlers read it (`ConnectInfo<Peer>`).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, LimitedListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, LimitedListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (LimitedStream, SocketAddr) {
        loop {
            let (stream, peer) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let slot = self
                .per_ip
                .claim(peer.ip(), self.limits.max_connections_per_ip);
            let permit = self.permits.clone().try_acquire_owned().ok();
            let (Some(slot), Some(permit)) = (slot, permit) else {
                // Closed at once (dropped): the client may try again later.
                tracing::debug!(peer = %peer, "HTTP connection over the cap, closed");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let timeout = self.limits.request_timeout;
            return (
                LimitedStream {
                    inner: stream,
                    _slot: slot,
                    _permit: permit,
                    timeout,
                    deadline: Box::pin(tokio::time::sleep(timeout)),
                },
                peer,
            );
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted connection holding its places under both caps, with its request deadline.
pub struct LimitedStream {
    inner: TcpStream,
    _slot: IpSlot,
    _permit: OwnedSemaphorePermit,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl LimitedStream {
    fn push_deadline(&mut self) {
        let next = Instant::now() + self.timeout;
        self.deadline.as_mut().reset(next);
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() - before >= PROGRESS_BYTES {
                    self.push_deadline();
                }
                Poll::Ready(result)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no request in time",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = written
            && n > 0
        {
            self.push_deadline();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = written
            && n > 0
        {
            self.push_deadline();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
