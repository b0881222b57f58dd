//! The email the stages look at: the envelope, what parsing and classifying found, and the
//! authentication verdict.

use super::authentication::Verdict;
use super::classify::Machine;
use super::parse::ParsedEmail;
use super::recipients::KnownOwners;
use crate::domain::envelope::{Recipient, Transaction};

/// One email going through the stages, with what the first ones found.
pub(super) struct Mail<'a> {
    pub tx: &'a Transaction,
    /// All the envelope recipients for SMTP, one for each LMTP recipient.
    pub recipients: &'a [&'a Recipient],
    pub known: &'a KnownOwners,
    /// An admin or the sender's confirmation vouched for it: no authentication check, no
    /// stranger policy.
    pub vouched: bool,
    /// SPF/DKIM/DMARC, when checked.
    pub verdict: Option<Verdict>,
    pub parsed: ParsedEmail,
    /// An auto-reply, a bounce or a loop: mail from a machine.
    pub machine: Option<Machine>,
}

impl Mail<'_> {
    /// The first inbox address among the recipients, lowercased.
    pub fn inbox_address(&self) -> Option<&str> {
        self.recipients.iter().find_map(|r| r.target.inbox())
    }
}
