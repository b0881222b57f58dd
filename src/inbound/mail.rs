//! The email the stages look at: the envelope, what parsing and classifying found, and the
//! authentication verdict.

use super::authentication::Verdict;
use super::classify::Machine;
use super::parse::ParsedEmail;
use super::recipients::KnownOwners;
use crate::domain::envelope::{Recipient, Transaction};
use crate::domain::sending::SendingDomains;

/// One email going through the stages, with what the first ones found.
pub(super) struct Mail<'a> {
    /// The id its inbound record will have (chosen first: every log line about the email
    /// carries it, and a confirmation link names it).
    pub inbound_id: &'a str,
    pub tx: &'a Transaction,
    /// Our sending domains as they were when it arrived.
    pub domains: &'a SendingDomains,
    /// All the envelope recipients for SMTP, one for each LMTP recipient.
    pub recipients: &'a [&'a Recipient],
    pub known: &'a KnownOwners,
    /// Who vouched for it, and for what.
    pub vouch: Vouch,
    /// SPF/DKIM/DMARC, when checked.
    pub verdict: Option<Verdict>,
    pub parsed: ParsedEmail,
    /// An auto-reply, a bounce or a loop: mail from a machine.
    pub machine: Option<Machine>,
}

/// Who vouched for an email going through again, and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vouch {
    /// No one: it just arrived.
    No,
    /// An admin released it, or its sender confirmed their address: no authentication check,
    /// no stranger policy.
    Admin,
    /// Staff say an unknown sender's email is really from the participant its reply address
    /// belongs to: posted as them.
    Participant,
    /// Staff added an unknown sender to the conversation: posted as them.
    Sender(crate::store::Person),
}

impl Mail<'_> {
    /// Vouched for by anyone: no authentication check, no stranger policy.
    pub fn vouched(&self) -> bool {
        self.vouch != Vouch::No
    }

    /// The first inbox address among the recipients, lowercased.
    pub fn inbox_address(&self) -> Option<&str> {
        self.recipients.iter().find_map(|r| r.target.inbox())
    }
}
