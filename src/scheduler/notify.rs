//! The notification planner. For every participant with messages they have not seen:
//! - in digest mode (the default) the first unseen message goes out at the next tick, then at
//!   most one email per `--digest-interval` lists everything still unseen; reading or replying
//!   catches them up and resets that window;
//! - in immediate mode everything goes out at the next tick;
//! - notes only ever reach internal participants, and nobody is emailed their own messages;
//! - notifications off, a muted conversation, a blocked person or a suppressed (bounced)
//!   address get nothing; their mark still moves, so nothing piles up for later.
//!
//! - files travel with the messages that carry them, as MIME parts, up to
//!   `--notify-attachments-max` per email; the others are download links.
//!
//! Queueing an email and moving the participant's "notified up to" mark commit together,
//! compared-and-set (see [`Store::enqueue_notifications`]), so nothing is sent twice or skipped,
//! even with several processes planning at once.

use crate::blobs::BlobStore;
use crate::domain::{NotifyMode, Role};
use crate::outbound::compose::{Enclosed, thread_subject};
use crate::outbound::mailer::Mailer;
use crate::store::{DueParticipant, PendingMessage, PlannedEmail, Store, job};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;

/// Messages listed in one email (the latest); older unread ones are counted, not shown.
const MAX_SHOWN: usize = 50;

/// Participants planned per batch (one query for them, one transaction to commit them).
const BATCH: i64 = 500;

/// Planned emails held before they are committed, in bytes: emails carrying files are
/// committed in smaller groups so a batch never holds gigabytes.
const MAX_HELD_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct Planner {
    store: Store,
    mailer: Mailer,
    digest_interval: Duration,
    /// Where files are, and how many bytes of them one email may carry (None: every file is
    /// a link).
    files: Option<(BlobStore, usize)>,
}

/// The files of the conversation being planned, read once for all its participants.
#[derive(Default)]
struct FileCache {
    conversation_id: String,
    bytes: HashMap<String, Option<Arc<Vec<u8>>>>,
}

/// What one pass did, and where its time went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub participants: usize,
    pub emails: usize,
    /// Reading due participants and their messages (each page's read overlaps the composing
    /// of the page before it).
    pub reading: Duration,
    /// Composing the emails (files read included).
    pub composing: Duration,
    /// Committing the batches.
    pub committing: Duration,
}

impl Planner {
    pub fn new(store: Store, mailer: Mailer, digest_interval: Duration) -> Planner {
        Planner {
            store,
            mailer,
            digest_interval,
            files: None,
        }
    }

    /// Emails carry the files of their messages, read from `blobs`, up to `max_bytes` in all.
    pub fn with_attachments(self, blobs: BlobStore, max_bytes: usize) -> Planner {
        Planner {
            files: Some((blobs, max_bytes)),
            ..self
        }
    }

    /// Plans and queues everything due now. Returns the number of emails queued.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        Ok(self.run_once_counted().await?.emails)
    }

    /// [`Planner::run_once`], saying how many participants were planned and where the time
    /// went.
    ///
    /// A pipeline: while one batch commits (a database's work: its writes and an fsync), the
    /// next is composed, its emails on the blocking pool, one chunk per core (composing is
    /// pure CPU, and on the runtime it would hold a worker that SMTP sessions need), and the
    /// one after it read. At most three pages are held at once.
    pub async fn run_once_counted(&self) -> anyhow::Result<Planned> {
        let span = tracing::info_span!("notify");
        async {
            let mut done = Planned::default();
            let mut committing: Option<Committing> = None;
            let mut reading = Some(self.read_page(None));
            while let Some(read) = reading.take() {
                let (page, took) = read.await??;
                done.reading += took;
                let last_page = (page.rows as i64) < BATCH;
                if !last_page {
                    // The next page is read while this one is composed: pages are disjoint
                    // ranges of keys, and every mark is compared-and-set at commit anyway.
                    reading = Some(self.read_page(page.last.clone()));
                }
                for (message_id, reason) in &page.broken_messages {
                    tracing::error!(%message_id, %reason, "a message cannot be read; left out of notifications");
                    self.note_failure(message_id, reason).await;
                }
                let mut cache = FileCache::default();
                let mut group: Vec<Prepared> = Vec::new();
                let mut held = 0;
                let mut due = page.due.into_iter().peekable();
                while let Some(next) = due.next() {
                    let compose_started = Instant::now();
                    let prepared = self.prepare(next, &mut cache).await;
                    done.composing += compose_started.elapsed();
                    held += prepared.held_bytes();
                    group.push(prepared);
                    if held > MAX_HELD_BYTES || due.peek().is_none() {
                        let compose_started = Instant::now();
                        let plans = self.compose(std::mem::take(&mut group)).await;
                        done.composing += compose_started.elapsed();
                        self.hand_over(plans, &mut committing, &mut done).await?;
                        held = 0;
                    }
                }
                let mut plans = Vec::new();
                for broken in &page.broken {
                    tracing::error!(item = %broken.item(), reason = %broken.reason, "a participant's row cannot be read; skipped");
                    match broken.marks {
                        // Recorded with the mark's move, so it is recorded once per message.
                        Some((from, to)) => plans.push(PlannedEmail {
                            conversation_id: broken.conversation_id.clone(),
                            person_id: broken.person_id.clone(),
                            expected_up_to: from,
                            up_to: to.max(from),
                            email: None,
                            thread_subject: None,
                            assigned_by: None,
                            failure: Some(broken.reason.clone()),
                        }),
                        None => self.note_failure(&broken.item(), &broken.reason).await,
                    }
                }
                if !plans.is_empty() {
                    self.hand_over(plans, &mut committing, &mut done).await?;
                }
            }
            if let Some(last) = committing.take() {
                last.finish(&mut done).await?;
            }
            if done.emails > 0 {
                self.mailer.queued();
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

    /// Reads the page of due participants after `after` (None: the first), on a task of its
    /// own, saying how long the read took. Dropped with the pass (an error ends it), the read
    /// is aborted rather than left running.
    fn read_page(
        &self,
        after: Option<(String, String)>,
    ) -> AbortOnDropHandle<anyhow::Result<(crate::store::DuePage, Duration)>> {
        let store = self.store.clone();
        let digest_interval_ms = self.digest_interval.as_millis() as i64;
        AbortOnDropHandle::new(tokio::spawn(
            async move {
                let started = Instant::now();
                let page = store
                    .due_notifications_after(
                        after.as_ref().map(|(c, p)| (c.as_str(), p.as_str())),
                        BATCH,
                        digest_interval_ms,
                    )
                    .await?;
                Ok((page, started.elapsed()))
            }
            .instrument(tracing::Span::current()),
        ))
    }

    /// Starts committing `plans` once the batch before them has committed (a failure there
    /// stops the pass: returned, as an outage would be).
    async fn hand_over(
        &self,
        plans: Vec<PlannedEmail>,
        committing: &mut Option<Committing>,
        done: &mut Planned,
    ) -> anyhow::Result<()> {
        if let Some(previous) = committing.take() {
            previous.finish(done).await?;
        }
        let planner = self.clone();
        let commit = async move {
            let started = Instant::now();
            let committed = planner.commit(&plans).await?;
            // The worker starts sending this batch while the next ones are planned.
            if plans
                .iter()
                .zip(&committed)
                .any(|(p, c)| *c && p.email.is_some())
            {
                planner.mailer.queued();
            }
            Ok((plans, committed, started.elapsed()))
        };
        *committing = Some(Committing(tokio::spawn(
            commit.instrument(tracing::Span::current()),
        )));
        Ok(())
    }

    /// Commits a batch of plans in one transaction; if that fails, each plan alone, so one
    /// plan the database refuses is recorded as failed and the others still go out.
    async fn commit(&self, plans: &[PlannedEmail]) -> anyhow::Result<Vec<bool>> {
        let batch_error = match self.store.enqueue_notifications(plans).await {
            Ok(committed) => return Ok(committed),
            Err(err) => err,
        };
        tracing::warn!(error = %batch_error, plans = plans.len(), "queueing a batch of notifications failed; queueing one at a time");
        let mut committed = Vec::with_capacity(plans.len());
        let mut failed = 0;
        for plan in plans {
            match self.store.enqueue_notification(plan).await {
                Ok(done) => committed.push(done),
                Err(err) => {
                    failed += 1;
                    let item = format!("{}/{}", plan.conversation_id, plan.person_id);
                    tracing::error!(%item, error = %err, "cannot queue a notification; skipped");
                    self.note_failure(&item, &format!("queueing the notification: {err}"))
                        .await;
                    committed.push(false);
                }
            }
        }
        if failed == plans.len() && !self.store.is_available().await {
            // Nothing went through and the database does not answer: an outage, not bad data.
            return Err(batch_error.into());
        }
        Ok(committed)
    }

    async fn note_failure(&self, item: &str, reason: &str) {
        if let Err(err) = self.store.record_failure(job::NOTIFY, item, reason).await {
            tracing::error!(%item, error = %err, "cannot record a notification failure");
        }
    }

    /// What `due` gets, short of composing it: the messages to show (filtered by
    /// visibility, then the latest), and the files that travel with them, read.
    async fn prepare(&self, due: DueParticipant, cache: &mut FileCache) -> Prepared {
        // Everything up to the conversation's end as planned (deleted messages included) is
        // handled by this plan; a message that arrived since is in `messages` too.
        let up_to = due
            .messages
            .iter()
            .map(|m| m.seq)
            .fold(due.last_seq, i64::max);
        // Filter by visibility first, then keep the latest: hidden notes never push a visible
        // message out, and the counts shown never reveal that notes exist.
        let visible: Vec<usize> = (0..due.messages.len())
            .filter(|&i| {
                let m = &due.messages[i];
                m.author_id != due.person.id && m.kind.visible_to(due.person.role)
            })
            .collect();
        let shown_count = visible.len().min(MAX_SHOWN);
        let mut omitted = visible.len() - shown_count;
        if due.person.role == Role::Internal {
            // Internal people may see everything, so the unloaded backlog counts for them.
            omitted += due.omitted;
        }
        let silenced = due.mode == NotifyMode::Off
            || due.muted
            || due.blocked
            || !due.person.email_status.may_email();
        // An assignment not yet told is worth an email of its own, even with nothing unread.
        let something_to_say = !visible.is_empty() || due.assigned_by.is_some();
        let emailed = something_to_say && !silenced;
        let mut prepared = Prepared {
            shown: match emailed {
                true => visible[visible.len() - shown_count..].to_vec(),
                false => Vec::new(),
            },
            due,
            up_to,
            emailed,
            omitted,
            enclosed: Enclosed::new(),
        };
        if emailed {
            prepared.enclosed = self
                .enclose(
                    &prepared.due.conversation_id,
                    &prepared.shown_messages(),
                    cache,
                )
                .await;
        }
        prepared
    }

    /// Composes a group of prepared plans on the blocking pool, one contiguous chunk per core,
    /// in their order.
    async fn compose(&self, group: Vec<Prepared>) -> Vec<PlannedEmail> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = group.len().div_ceil(workers).max(1);
        let now = self.store.now();
        let mut group = group.into_iter();
        let mut tasks = Vec::with_capacity(workers);
        loop {
            let part: Vec<Prepared> = group.by_ref().take(chunk).collect();
            if part.is_empty() {
                break;
            }
            let mailer = self.mailer.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                part.into_iter()
                    .map(|prepared| prepared.compose_guarded(&mailer, now))
                    .collect::<Vec<_>>()
            }));
        }
        let mut plans = Vec::new();
        for task in tasks {
            match task.await {
                Ok(part) => plans.extend(part),
                // Only if the runtime is shutting down (a panic is caught per participant):
                // their marks did not move, so they are planned again at the next pass.
                Err(err) => {
                    tracing::error!(error = %err, "composing notifications stopped; planned again at the next pass");
                }
            }
        }
        plans
    }
}

/// A participant's plan before its email is composed.
struct Prepared {
    due: DueParticipant,
    /// Where the mark moves to.
    up_to: i64,
    /// They get an email (something to read or an assignment, and not silenced).
    emailed: bool,
    /// Indexes into `due.messages` of those shown, oldest first.
    shown: Vec<usize>,
    /// Unread messages counted, not shown.
    omitted: usize,
    enclosed: Enclosed,
}

impl Prepared {
    /// The messages its email shows, oldest first.
    fn shown_messages(&self) -> Vec<&PendingMessage> {
        self.shown.iter().map(|&i| &self.due.messages[i]).collect()
    }

    /// About what its email will hold in memory: the files it carries, base64-encoded.
    fn held_bytes(&self) -> usize {
        let files: usize = self.enclosed.values().map(|bytes| bytes.len()).sum();
        4096 + files / 3 * 4
    }

    /// [`Prepared::compose`], with a panic (a bug in a template or our mail library, for one
    /// person's data) recorded as that participant's failure, like any other, rather than
    /// stopping the others.
    fn compose_guarded(self, mailer: &Mailer, now: crate::domain::Millis) -> PlannedEmail {
        let conversation_id = self.due.conversation_id.clone();
        let person_id = self.due.person.id.clone();
        let (expected_up_to, up_to) = (self.due.notified_up_to, self.up_to);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.compose(mailer, now)))
            .unwrap_or_else(|_| PlannedEmail {
                conversation_id,
                person_id,
                expected_up_to,
                up_to: up_to.max(expected_up_to),
                email: None,
                thread_subject: None,
                assigned_by: None,
                failure: Some("composing the notification failed unexpectedly".into()),
            })
    }

    /// Never fails: an email that cannot be composed (an address our mail library refuses,
    /// a name it cannot write) is logged, recorded as this participant's failure with the
    /// mark's move, and skipped, so one person never blocks everyone else's notifications.
    fn compose(self, mailer: &Mailer, now: crate::domain::Millis) -> PlannedEmail {
        let due = &self.due;
        let (email, failure) = match self.emailed {
            false => (None, None),
            true => {
                let shown = self.shown_messages();
                match mailer
                    .compose()
                    .notification(due, &shown, self.omitted, &self.enclosed, now)
                {
                    Ok(email) => (Some(email), None),
                    Err(err) => {
                        tracing::error!(conversation_id = %due.conversation_id, person_id = %due.person.id, error = %err, "cannot compose a notification; skipped");
                        (None, Some(format!("composing the notification: {err}")))
                    }
                }
            }
        };
        PlannedEmail {
            thread_subject: email.as_ref().map(|_| thread_subject(due).to_string()),
            email,
            assigned_by: due.assigned_by.as_ref().map(|(by, _)| by.clone()),
            failure,
            expected_up_to: due.notified_up_to,
            up_to: self.up_to.max(due.notified_up_to),
            conversation_id: self.due.conversation_id,
            person_id: self.due.person.id,
        }
    }
}

/// A committed batch: its plans, which of them committed, and how long the commit took.
type Committed = (Vec<PlannedEmail>, Vec<bool>, Duration);

/// A batch being committed.
struct Committing(tokio::task::JoinHandle<anyhow::Result<Committed>>);

impl Committing {
    /// Waits for the commit and counts what went through into `done`.
    async fn finish(self, done: &mut Planned) -> anyhow::Result<()> {
        let (plans, committed, took) = self.0.await??;
        done.committing += took;
        done.participants += committed.iter().filter(|c| **c).count();
        done.emails += plans
            .iter()
            .zip(&committed)
            .filter(|(p, c)| **c && p.email.is_some())
            .count();
        Ok(())
    }
}

impl Planner {
    /// The files of `messages` that travel in the email, in the order shown, as long as they
    /// fit in what is left of the per-email total; a file that does not fit leaves room for
    /// smaller ones after it. A file whose bytes cannot be read is a link instead (the web
    /// view extracts it again from the raw email).
    async fn enclose(
        &self,
        conversation_id: &str,
        messages: &[&PendingMessage],
        cache: &mut FileCache,
    ) -> Enclosed {
        let mut enclosed = Enclosed::new();
        let Some((blobs, max_bytes)) = &self.files else {
            return enclosed;
        };
        if cache.conversation_id != conversation_id {
            cache.conversation_id = conversation_id.to_string();
            cache.bytes.clear();
        }
        let mut left = *max_bytes;
        let files = messages.iter().flat_map(|m| &m.files);
        for file in files.filter(|f| f.omitted.is_none()) {
            let size = usize::try_from(file.size).unwrap_or(usize::MAX);
            if size > left {
                continue;
            }
            if !cache.bytes.contains_key(&file.sha256) {
                let bytes = match blobs.get(&file.sha256).await {
                    Ok(bytes) => bytes.map(Arc::new),
                    Err(err) => {
                        tracing::warn!(file = %file.id, error = %err, "cannot read a file; linked instead");
                        None
                    }
                };
                cache.bytes.insert(file.sha256.clone(), bytes);
            }
            if let Some(Some(bytes)) = cache.bytes.get(&file.sha256) {
                left -= bytes.len().min(left);
                enclosed.insert(file.id.clone(), bytes.clone());
            }
        }
        enclosed
    }
}
