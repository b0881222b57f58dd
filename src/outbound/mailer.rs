//! The one way the application sends email. Notifications and digests (the planner),
//! verification codes (sign-in and the API) and confirmation links (strangers writing to an
//! inbox address) are all composed from their templates by the [`Mailer`]'s [`Composer`],
//! queued as a `NewOutboxEmail` inside the caller's own transaction (the store's one
//! `insert_outbox!`: an email exists if and only if what it is about committed), and the
//! outbox worker is woken with [`Mailer::queued`] once that transaction has committed. The
//! worker then signs each email (DKIM, the From domain's active keys) and delivers it.

use super::compose::Composer;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct Mailer {
    composer: Composer,
    wake: Arc<Notify>,
}

impl Mailer {
    /// `wake` is the outbox worker's: rung when email was queued.
    pub fn new(composer: Composer, wake: Arc<Notify>) -> Mailer {
        Mailer { composer, wake }
    }

    /// The templates: every email the application sends is composed by one of its methods.
    pub fn compose(&self) -> &Composer {
        &self.composer
    }

    /// Email was queued and its transaction has committed: the worker sends it now rather than
    /// at its next poll.
    pub fn queued(&self) {
        self.wake.notify_one();
    }
}
