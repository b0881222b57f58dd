//! `--peer`: any SMTP server (Postfix, Haraka, aiosmtpd, smtp-sink, …)
//! benchmarked with the same replies, without the API: the clients are
//! made up instead of read from notifications.

use super::args::Args;
use super::prepare::{ClientTarget, FIRST_NAMES, LAST_NAMES, Prepared, TOPICS};

/// `--peer`: the same realistic replies (quoted history, HTML alternative), all from
/// --peer-from to --peer-to, as if answering one notification per conversation.
pub(super) fn peer_prepared(args: &Args) -> Prepared {
    let clients = (0..args.conversations as usize)
        .map(|i| ClientTarget {
            name: format!(
                "{} {}",
                FIRST_NAMES[i % FIRST_NAMES.len()],
                LAST_NAMES[i % LAST_NAMES.len()]
            ),
            email: args.peer_from.clone(),
            reply_addr: args.peer_to.clone(),
            notif_message_id: Some(format!("notification.{i}@example.test")),
            subject: TOPICS[i % TOPICS.len()].to_string(),
            quoted_from: "Alex Agent".to_string(),
            quoted_date: "Mon, 23 Nov 2026 10:00:00 +0000".to_string(),
            quoted_text: "Thanks for your message. Could you send us the details of the order, \
                          the invoice number and the delivery address?"
                .to_string(),
        })
        .collect();
    Prepared {
        convs: Vec::new(),
        clients,
    }
}
