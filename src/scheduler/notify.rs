//! The notification planner: every participant with messages they have not been emailed about
//! gets one email listing them (notes only for internal participants; never their own
//! messages). Queueing the email and moving their "notified up to" mark is one transaction
//! (see [`Store::enqueue_notification`]), so nothing is sent twice or skipped, even with several
//! processes planning at once. Addresses suppressed by bounces get nothing.

use crate::outbound::compose::Composer;
use crate::store::{DueParticipant, PendingMessage, PlannedEmail, Store};
use tracing::Instrument;

/// Participants planned per pass; the loop continues while a pass is full.
const BATCH: i64 = 200;

#[derive(Clone)]
pub struct Planner {
    store: Store,
    composer: Composer,
}

impl Planner {
    pub fn new(store: Store, composer: Composer) -> Planner {
        Planner { store, composer }
    }

    /// Plans and queues everything due now. Returns the number of emails queued.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let span = tracing::info_span!("notify");
        async {
            let mut queued = 0;
            loop {
                let due = self.store.due_notifications(BATCH).await?;
                let full = due.len() as i64 == BATCH;
                let mut progressed = false;
                for participant in &due {
                    let plan = self.plan(participant)?;
                    let has_email = plan.email.is_some();
                    if self.store.enqueue_notification(&plan).await? {
                        progressed = true;
                        queued += usize::from(has_email);
                    }
                }
                if !full || !progressed {
                    break;
                }
            }
            if queued > 0 {
                tracing::info!(queued, "notifications queued");
            }
            Ok(queued)
        }
        .instrument(span)
        .await
    }

    fn plan(&self, due: &DueParticipant) -> anyhow::Result<PlannedEmail> {
        let up_to = due
            .messages
            .iter()
            .map(|m| m.seq)
            .max()
            .unwrap_or(due.notified_up_to);
        let visible: Vec<&PendingMessage> = due
            .messages
            .iter()
            .filter(|m| m.author_id != due.person.id && m.kind.visible_to(due.person.role))
            .collect();
        // A suppressed address (hard bounce) gets nothing; its mark still moves so the backlog
        // does not pile up into one huge email if it is ever cleared.
        let email = if visible.is_empty() || !due.person.email_status.may_email() {
            None
        } else {
            Some(
                self.composer
                    .notification(due, &visible, self.store.now())?,
            )
        };
        Ok(PlannedEmail {
            conversation_id: due.conversation_id.clone(),
            person_id: due.person.id.clone(),
            expected_up_to: due.notified_up_to,
            up_to,
            email,
        })
    }
}
