//! One SMTP/LMTP connection: socket I/O, timeouts and shutdown around the pure [`Session`].

use super::replies;
use super::session::{
    Event, Protocol, RecipientVerdict, Reply, Session, SessionConfig, Transaction,
};
use crate::config::SmtpSettings;
use crate::inbound::{Inbound, KnownOwners};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Read buffer while commands are exchanged: idle connections are the common case (and the
/// cheap attack), so each costs little. A command line is at most 512 octets (RFC 5321
/// §4.5.3.1.4); a longer burst of pipelined commands is read in several reads (the session
/// keeps a partial line).
const COMMAND_BUFFER: usize = 512;
/// Read buffer once message data flows: fewer, larger reads.
const READ_BUFFER: usize = 64 * 1024;

#[derive(Clone, Copy)]
pub struct Timeouts {
    pub idle: Duration,
    pub command: Duration,
    pub data: Duration,
}

impl From<&SmtpSettings> for Timeouts {
    fn from(s: &SmtpSettings) -> Self {
        Timeouts {
            idle: s.idle_timeout,
            command: s.command_timeout,
            data: s.data_timeout,
        }
    }
}

/// What ended one stretch of a connection.
enum Ended<S> {
    Done,
    /// STARTTLS was accepted: the plain stream, to hand to the TLS handshake.
    StartTls(S),
}

/// Serves one connection until QUIT, a timeout, the peer leaving, or shutdown (at the next
/// point where no transaction is in flight: an accepted transaction always finishes). With
/// `tls`, STARTTLS (RFC 3207) upgrades the connection in place and the session starts over.
pub async fn serve<S>(
    stream: S,
    peer: String,
    config: SessionConfig,
    timeouts: Timeouts,
    inbound: Inbound,
    shutdown: CancellationToken,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut session = Session::new(config);
    let greeting = session.greeting().as_bytes().to_vec();
    match drive(
        stream,
        &mut session,
        greeting,
        &peer,
        timeouts,
        &inbound,
        &shutdown,
    )
    .await?
    {
        Ended::Done => Ok(()),
        Ended::StartTls(plain) => {
            let Some(acceptor) = tls else {
                // The session offers STARTTLS only with a certificate.
                return Ok(());
            };
            let stream = match tokio::time::timeout(timeouts.command, acceptor.accept(plain)).await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    tracing::info!(error = %err, "TLS handshake failed");
                    return Ok(());
                }
                Err(_) => {
                    tracing::info!("TLS handshake timed out");
                    return Ok(());
                }
            };
            session.tls_started();
            // Boxed: only connections that upgrade pay for the TLS stream's state.
            match Box::pin(drive(
                stream,
                &mut session,
                Vec::new(),
                &peer,
                timeouts,
                &inbound,
                &shutdown,
            ))
            .await?
            {
                Ended::Done | Ended::StartTls(_) => Ok(()),
            }
        }
    }
}

async fn drive<S>(
    stream: S,
    session: &mut Session,
    mut out: Vec<u8>,
    peer: &str,
    timeouts: Timeouts,
    inbound: &Inbound,
    shutdown: &CancellationToken,
) -> std::io::Result<Ended<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buf = vec![0u8; COMMAND_BUFFER];
    let mut clock = Deadlines::default();
    let mut known = KnownOwners::default();

    loop {
        // RFC 2920 §3.2: replies to pipelined commands are flushed once the input is drained.
        flush(&mut writer, &mut out, timeouts.command).await?;
        if session.is_closed() {
            break;
        }
        if session.in_data() && buf.len() < READ_BUFFER {
            buf.resize(READ_BUFFER, 0);
        } else if !session.in_data() && buf.len() > COMMAND_BUFFER {
            // The data is in: a connection kept open between messages goes back to costing
            // little.
            buf.truncate(COMMAND_BUFFER);
            buf.shrink_to_fit();
        }
        let deadline = clock.next(session, &timeouts);
        let idle = !session.in_transaction();
        let n = tokio::select! {
            read = tokio::time::timeout_at(deadline, reader.read(&mut buf)) => match read {
                Err(_) => {
                    let reply = Reply::new(421, "4.4.2", "Timeout, closing connection");
                    writer.write_all(reply.as_bytes()).await?;
                    tracing::info!("closing after timeout");
                    break;
                }
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => n,
                Ok(Err(err)) => return Err(err),
            },
            _ = shutdown.cancelled(), if idle => {
                writer.write_all(Session::shutdown_reply().as_bytes()).await?;
                break;
            }
        };
        let upgrade = answer(session, &buf[..n], &mut out, inbound, peer, &mut known).await;
        if upgrade {
            flush(&mut writer, &mut out, timeouts.command).await?;
            // Whatever else was read with STARTTLS is dropped with `buf` (RFC 3207 §4.2).
            return Ok(Ended::StartTls(reader.unsplit(writer)));
        }
    }
    if !out.is_empty() {
        writer.write_all(&out).await?;
    }
    writer.shutdown().await.ok();
    Ok(Ended::Done)
}

/// When the current read must have finished: the data timeout runs from the start of the data,
/// the command timeout from the start of a command line, the idle timeout between commands.
#[derive(Default)]
struct Deadlines {
    command_started: Option<Instant>,
    data_started: Option<Instant>,
}

impl Deadlines {
    fn next(&mut self, session: &Session, timeouts: &Timeouts) -> Instant {
        let now = Instant::now();
        if session.in_data() {
            self.command_started = None;
            *self.data_started.get_or_insert(now) + timeouts.data
        } else if session.partial_command() {
            self.data_started = None;
            *self.command_started.get_or_insert(now) + timeouts.command
        } else {
            self.command_started = None;
            self.data_started = None;
            now + timeouts.idle
        }
    }
}

/// Writes the pending replies. A client that pipelines but never reads must not hold its slot
/// forever: the write has the command timeout.
async fn flush<W: AsyncWrite + Unpin>(
    writer: &mut W,
    out: &mut Vec<u8>,
    timeout: Duration,
) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    tokio::time::timeout(timeout, async {
        writer.write_all(out).await?;
        writer.flush().await
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "client stopped reading"))??;
    out.clear();
    Ok(())
}

/// Feeds what was read to the session and answers its events into `out`. True when STARTTLS
/// was accepted: the rest of the input is dropped.
async fn answer(
    session: &mut Session,
    read: &[u8],
    out: &mut Vec<u8>,
    inbound: &Inbound,
    peer: &str,
    known: &mut KnownOwners,
) -> bool {
    let mut input = read.iter();
    while let Some(event) = session.ingest(&mut input) {
        match event {
            Event::Reply(reply) => out.extend_from_slice(reply.as_bytes()),
            Event::CheckRecipient(recipient) => {
                let sender = session.mail_from().unwrap_or_default();
                // A client that sent too many unknown recipients lately is not looked up
                // (guessing reply addresses): `450 4.7.1` until its window passes.
                let ip = peer.parse::<std::net::SocketAddr>().map(|a| a.ip()).ok();
                let verdict = if ip.is_some_and(|ip| inbound.throttled(ip)) {
                    RecipientVerdict::Throttled
                } else {
                    // Boxed, like the delivery below: a task's future is allocated whole when
                    // the connection starts, so the pipeline's state machines would otherwise
                    // make every idle connection as big as the busiest moment of a delivery.
                    let verdict =
                        Box::pin(inbound.check_recipient(&recipient, sender, known)).await;
                    if let (RecipientVerdict::Unknown, Some(ip)) = (&verdict, ip) {
                        inbound.guesses().record(ip);
                    }
                    verdict
                };
                out.extend_from_slice(session.recipient_verdict(verdict).as_bytes());
            }
            Event::Deliver(transaction) => {
                let protocol = session.protocol();
                let replies = deliver(inbound, protocol, &transaction, peer, known).await;
                known.clear();
                for reply in session.delivered(replies) {
                    out.extend_from_slice(reply.as_bytes());
                }
            }
            Event::Close => {}
            Event::StartTls => return true,
        }
    }
    false
}

/// Hands a complete transaction to the pipeline: one answer for SMTP, one per accepted
/// recipient in RCPT order for LMTP (RFC 2033 §4.2).
async fn deliver(
    inbound: &Inbound,
    protocol: Protocol,
    transaction: &Transaction,
    peer: &str,
    known: &KnownOwners,
) -> Vec<Reply> {
    match protocol {
        Protocol::Smtp => {
            let recipients: Vec<_> = transaction.recipients.iter().collect();
            let answer = Box::pin(inbound.deliver(transaction, &recipients, peer, known)).await;
            vec![counted(inbound, &answer)]
        }
        Protocol::Lmtp => {
            let mut replies = Vec::with_capacity(transaction.recipients.len());
            for recipient in &transaction.recipients {
                let answer =
                    Box::pin(inbound.deliver(transaction, &[recipient], peer, known)).await;
                replies.push(counted(inbound, &answer));
            }
            replies
        }
    }
}

/// The reply to an answer, counted by outcome and reply class.
fn counted(inbound: &Inbound, answer: &crate::inbound::Answer) -> Reply {
    let reply = replies::answer(answer);
    let outcome = match answer {
        crate::inbound::Answer::Stored { .. } => "stored",
        crate::inbound::Answer::Refused(_) => "refused",
        crate::inbound::Answer::TryAgain => "deferred",
    };
    inbound.metrics().transaction(outcome, reply.code);
    reply
}
