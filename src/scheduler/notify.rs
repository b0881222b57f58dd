//! The notification planner. For every participant with messages they have not seen:
//! - in digest mode (the default) the first unseen message goes out at the next tick, then at
//!   most one email per `--digest-interval` lists everything still unseen; reading or replying
//!   catches them up and resets that window;
//! - in immediate mode everything goes out at the next tick;
//! - notes only ever reach internal participants, and nobody is emailed their own messages;
//! - notifications off, a muted conversation, a blocked person or a suppressed (bounced)
//!   address get nothing; their mark still moves, so nothing piles up for later.
//!
//! Queueing an email and moving the participant's "notified up to" mark commit together,
//! compared-and-set (see [`Store::enqueue_notifications`]), so nothing is sent twice or skipped,
//! even with several processes planning at once.

use crate::domain::{NotifyMode, Role};
use crate::outbound::compose::Composer;
use crate::store::{DueParticipant, PendingMessage, PlannedEmail, Store};
use std::time::Duration;
use tracing::Instrument;

/// Messages listed in one email (the latest); older unread ones are counted, not shown.
const MAX_SHOWN: usize = 50;

/// Participants planned per batch (one query for them, one transaction to commit them).
const BATCH: i64 = 500;

#[derive(Clone)]
pub struct Planner {
    store: Store,
    composer: Composer,
    digest_interval: Duration,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub participants: usize,
    pub emails: usize,
}

impl Planner {
    pub fn new(store: Store, composer: Composer, digest_interval: Duration) -> Planner {
        Planner {
            store,
            composer,
            digest_interval,
        }
    }

    /// Plans and queues everything due now. Returns the number of emails queued.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        Ok(self.run_once_counted().await?.emails)
    }

    pub async fn run_once_counted(&self) -> anyhow::Result<Planned> {
        let span = tracing::info_span!("notify");
        async {
            let mut done = Planned::default();
            let mut after: Option<(String, String)> = None;
            loop {
                let due = self
                    .store
                    .due_notifications_after(
                        after.as_ref().map(|(c, p)| (c.as_str(), p.as_str())),
                        BATCH,
                        self.digest_interval.as_millis() as i64,
                    )
                    .await?;
                after = due
                    .last()
                    .map(|d| (d.conversation_id.clone(), d.person.id.clone()));
                let plans: Vec<PlannedEmail> = due.iter().map(|d| self.plan(d)).collect();
                let committed = self.store.enqueue_notifications(&plans).await?;
                let progressed = committed.iter().filter(|c| **c).count();
                done.participants += progressed;
                done.emails += plans
                    .iter()
                    .zip(&committed)
                    .filter(|(p, c)| **c && p.email.is_some())
                    .count();
                if (due.len() as i64) < BATCH {
                    break;
                }
            }
            if done.emails > 0 {
                tracing::info!(
                    emails = done.emails,
                    participants = done.participants,
                    "notifications queued"
                );
            }
            Ok(done)
        }
        .instrument(span)
        .await
    }

    /// Never fails: an email that cannot be composed (an address our mail library refuses)
    /// is logged and skipped, so one person never blocks everyone else's notifications.
    fn plan(&self, due: &DueParticipant) -> PlannedEmail {
        // Everything up to the conversation's end as planned (deleted messages included) is
        // handled by this plan; a message that arrived since is in `messages` too.
        let up_to = due
            .messages
            .iter()
            .map(|m| m.seq)
            .fold(due.last_seq, i64::max);
        // Filter by visibility first, then keep the latest: hidden notes never push a visible
        // message out, and the counts shown never reveal that notes exist.
        let visible: Vec<&PendingMessage> = due
            .messages
            .iter()
            .filter(|m| m.author_id != due.person.id && m.kind.visible_to(due.person.role))
            .collect();
        let shown = visible.len().min(MAX_SHOWN);
        let mut omitted = visible.len() - shown;
        if due.person.role == Role::Internal {
            // Internal people may see everything, so the unloaded backlog counts for them.
            omitted += due.omitted;
        }
        let silenced = due.mode == NotifyMode::Off
            || due.muted
            || due.blocked
            || !due.person.email_status.may_email();
        let email = if visible.is_empty() || silenced {
            None
        } else {
            match self.composer.notification(
                due,
                &visible[visible.len() - shown..],
                omitted,
                self.store.now(),
            ) {
                Ok(email) => Some(email),
                Err(err) => {
                    tracing::error!(person_id = %due.person.id, error = %err, "cannot compose a notification; skipped");
                    None
                }
            }
        };
        PlannedEmail {
            conversation_id: due.conversation_id.clone(),
            person_id: due.person.id.clone(),
            expected_up_to: due.notified_up_to,
            up_to: up_to.max(due.notified_up_to),
            email,
        }
    }
}
