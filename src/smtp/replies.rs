//! The one table from the pipeline's [`Answer`] to an SMTP reply (RFC 5321 §4.2 codes,
//! RFC 3463 enhanced status codes). The pipeline decides; only this says it in SMTP.

use super::session::Reply;
use crate::inbound::{Answer, Refusal};

/// The reply to the DATA (or, under LMTP, to one recipient) that carried this email.
pub fn answer(answer: &Answer) -> Reply {
    match answer {
        Answer::Stored { inbound_id } => {
            Reply::new(250, "2.0.0", format!("Stored as {inbound_id}"))
        }
        Answer::TryAgain => Reply::new(451, "4.3.0", "Temporary storage failure, try again later"),
        Answer::Refused(why) => refusal(*why),
    }
}

fn refusal(why: Refusal) -> Reply {
    match why {
        Refusal::NotAnEmail => Reply::new(550, "5.6.0", "Message is not a valid email"),
        Refusal::UnknownReplyAddress => Reply::new(
            550,
            "5.1.1",
            "No such recipient: unknown or expired reply address",
        ),
        Refusal::NoSuchInbox => Reply::new(550, "5.1.1", "No such recipient"),
        Refusal::SenderMismatch => Reply::new(
            550,
            "5.7.1",
            "This reply address belongs to another participant; reply from the address the notification was sent to",
        ),
        Refusal::DmarcReject => Reply::new(
            550,
            "5.7.1",
            "Rejected by the sender domain's DMARC policy (SPF and DKIM failed)",
        ),
        Refusal::NoFrom => Reply::new(550, "5.1.7", "A valid From address is required"),
        Refusal::SenderBlocked => Reply::new(550, "5.7.1", "Mail from this sender is not accepted"),
        Refusal::StrangersRefused => Reply::new(
            550,
            "5.7.1",
            "This address only accepts email from people it already knows",
        ),
    }
}
