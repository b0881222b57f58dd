//! The outbox worker: claims due emails, hands them to the transport, records the result.
//! Temporary failures are retried with exponential backoff; permanent ones are marked failed.

use super::transport::{DeliveryError, Transport};
use crate::store::{OutboxEmail, Store, job};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// After this many attempts (or past the retry horizon, whichever comes first) a temporarily
/// failing email is given up: the waits in between (see [`backoff`]) add up to 2.6–3.1 days.
pub const MAX_ATTEMPTS: i64 = 20;
/// The default retry horizon: 3 days after the email was queued.
pub const RETRY_HORIZON: Duration = Duration::from_secs(3 * 24 * 3600);
const BATCH: i64 = 16;
/// How long a claim protects an email from other workers. The claim is renewed right before
/// each delivery, so this bounds one delivery, not a whole batch.
pub const LEASE_MS: i64 = 5 * 60 * 1000;

#[derive(Clone)]
pub struct OutboxWorker {
    store: Store,
    transport: Transport,
    /// Rung when new mail is queued, so delivery does not wait for the next poll.
    wake: Arc<Notify>,
    /// Temporary failures are retried until this long after the email was queued.
    retry_horizon: Duration,
    /// DKIM: every email is signed with the From domain's active keys right before delivery.
    signer: Option<super::dkim::Signer>,
    /// How long a claim reserves an email (`--outbox-lease`; [`LEASE_MS`] by default).
    lease_ms: i64,
}

/// Whether a permanent failure names the recipient's mailbox as bad: RFC 3463 status
/// 5.1.x (bad address) or 5.2.1 (mailbox disabled) in the server's answer.
pub fn address_is_dead(reason: &str) -> bool {
    reason
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .any(|code| {
            code == "5.2.1"
                || (code.starts_with("5.1.")
                    && code.len() >= 5
                    && code[4..].bytes().all(|b| b.is_ascii_digit()))
        })
}

/// 30 s, 1 min, 2 min, … capped at 6 hours.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 20) as u32 - 1;
    Duration::from_secs(30u64.saturating_mul(1 << exp).min(6 * 3600))
}

/// The wait before the next attempt: [`backoff`] plus up to a fifth more, so emails that failed
/// together (a relay outage) do not all come back at the same instant. The jitter is derived
/// from the email and the attempt: spread, yet reproducible.
pub fn retry_delay(outbox_id: &str, attempts: i64) -> Duration {
    use sha2::{Digest, Sha256};
    let base = backoff(attempts);
    let digest = Sha256::digest(format!("{outbox_id}/{attempts}").as_bytes());
    let spread = base.as_millis() as u64 / 5 + 1;
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let jitter = u64::from_be_bytes(first) % spread;
    base + Duration::from_millis(jitter)
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    /// Emails whose result could not be recorded (see [`crate::store::job::OUTBOX`]).
    pub errors: usize,
}

impl OutboxWorker {
    pub fn new(store: Store, transport: Transport, wake: Arc<Notify>) -> OutboxWorker {
        OutboxWorker {
            store,
            transport,
            wake,
            retry_horizon: RETRY_HORIZON,
            signer: None,
            lease_ms: LEASE_MS,
        }
    }

    pub fn with_signer(mut self, signer: super::dkim::Signer) -> OutboxWorker {
        self.signer = Some(signer);
        self
    }

    pub fn with_retry_horizon(mut self, horizon: Duration) -> OutboxWorker {
        self.retry_horizon = horizon;
        self
    }

    pub fn with_lease(mut self, lease: Duration) -> OutboxWorker {
        self.lease_ms = i64::try_from(lease.as_millis())
            .unwrap_or(LEASE_MS)
            .max(1000);
        self
    }

    /// One pass: claim a batch and deliver it. Returns what happened.
    pub async fn run_once(&self) -> anyhow::Result<Delivered> {
        let claimed = self.store.claim_outbox(BATCH, self.lease_ms).await?;
        let mut done = Delivered::default();
        for email in claimed {
            match self.deliver(&email).await {
                Ok(Outcome::Sent) => done.sent += 1,
                Ok(Outcome::Retry) => done.retried += 1,
                Ok(Outcome::Failed) => done.failed += 1,
                Ok(Outcome::Lost) => {}
                // One email's trouble (its result could not be recorded) is that email's: it
                // is logged and recorded, its claim runs out and it comes back; the rest of
                // the batch is delivered.
                Err(err) => {
                    done.errors += 1;
                    tracing::error!(outbox_id = %email.id, error = %err, "delivering an email failed");
                    if let Err(record) = self
                        .store
                        .record_failure(job::OUTBOX, &email.id, &err.to_string())
                        .await
                    {
                        tracing::error!(outbox_id = %email.id, error = %record, "cannot record an outbox failure");
                    }
                }
            }
        }
        Ok(done)
    }

    async fn deliver(&self, email: &OutboxEmail) -> anyhow::Result<Outcome> {
        let span = tracing::info_span!("outbox", id = %email.id, attempt = email.attempts);
        self.deliver_in_span(email).instrument(span).await
    }

    async fn deliver_in_span(&self, email: &OutboxEmail) -> anyhow::Result<Outcome> {
        // Fencing: the batch was claimed at once, and an earlier delivery may have outlasted
        // this email's lease; if another worker has claimed it since, leave it to them.
        if !self.store.renew_outbox_claim(email, self.lease_ms).await? {
            tracing::info!("claim lost to another worker; skipping");
            return Ok(Outcome::Lost);
        }
        let signed;
        let delivery = match &self.signer {
            Some(signer) => match signer.sign(&email.data).await {
                Ok(data) => {
                    let mut copy = email.clone();
                    copy.data = data;
                    signed = copy;
                    self.transport.deliver(&signed).await
                }
                // Never sent unsigned: a key that cannot be read now is retried like a relay
                // that does not answer.
                Err(err) => Err(DeliveryError::Transient(format!("DKIM signing: {err}"))),
            },
            None => self.transport.deliver(email).await,
        };
        let (outcome, recorded) = match delivery {
            Ok(()) => {
                tracing::info!("delivered");
                (Outcome::Sent, self.store.outbox_sent(email).await?)
            }
            Err(DeliveryError::Permanent(reason)) => {
                tracing::warn!(%reason, "delivery failed permanently");
                // A refusal that says the address does not exist (or is disabled) is a hard
                // bounce: stop emailing it. Other 5xx (authentication, policy, size) are about
                // our sending, not the recipient: the email fails, the person stays reachable.
                if address_is_dead(&reason)
                    && let Ok(address) = crate::domain::EmailAddress::parse(&email.recipient)
                {
                    self.store.record_bounce(&address, true, &reason).await?;
                }
                (
                    Outcome::Failed,
                    self.store.outbox_failed(email, &reason).await?,
                )
            }
            Err(DeliveryError::Transient(reason)) if self.give_up(email) => {
                let reason = format!("gave up after {} attempts: {reason}", email.attempts);
                tracing::warn!(%reason, "delivery failed permanently");
                (
                    Outcome::Failed,
                    self.store.outbox_failed(email, &reason).await?,
                )
            }
            Err(DeliveryError::Transient(reason)) => {
                let next =
                    self.store.now() + retry_delay(&email.id, email.attempts).as_millis() as i64;
                tracing::info!(%reason, "delivery will be retried");
                (
                    Outcome::Retry,
                    self.store.outbox_retry(email, &reason, next).await?,
                )
            }
        };
        if !recorded {
            tracing::warn!("claim expired during delivery; a newer claim's result stands");
        }
        Ok(outcome)
    }

    /// Out of attempts, or the next one would come after the retry horizon.
    fn give_up(&self, email: &OutboxEmail) -> bool {
        let next = self.store.now() + retry_delay(&email.id, email.attempts).as_millis() as i64;
        email.attempts >= MAX_ATTEMPTS
            || next > email.created_at + self.retry_horizon.as_millis() as i64
    }

    /// Delivers until `shutdown`; a batch in progress is finished first.
    pub async fn run(
        self,
        poll: Duration,
        shutdown: CancellationToken,
        metrics: Arc<crate::metrics::Metrics>,
    ) {
        while !shutdown.is_cancelled() {
            let pass = self.run_once().await;
            if let Ok(done) = &pass {
                metrics.outbox_sent.inc_by(done.sent as u64);
                metrics
                    .outbox_attempts_failed
                    .inc_by((done.retried + done.failed) as u64);
            }
            match pass {
                Ok(done) if done.sent + done.retried + done.failed > 0 => continue,
                Ok(_) => {}
                Err(err) => tracing::error!(error = %err, "outbox pass failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}

enum Outcome {
    Sent,
    Retry,
    Failed,
    /// Another worker holds the claim now.
    Lost,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mailbox_errors_suppress_an_address() {
        assert!(address_is_dead(
            "permanent error (550): 5.1.1 <x@y>: user unknown"
        ));
        assert!(address_is_dead("550 5.2.1 mailbox disabled"));
        assert!(!address_is_dead(
            "permanent error (535): 5.7.8 authentication failed"
        ));
        assert!(!address_is_dead("550 5.7.1 relaying denied"));
        assert!(!address_is_dead("552 5.3.4 message too big"));
        assert!(!address_is_dead("550 no reason given"));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(5), Duration::from_secs(480));
        assert_eq!(backoff(40), Duration::from_secs(6 * 3600));
    }
}
