//! Threads that hold, in every mailbox, on both backends: a conversation started at an inbox
//! address goes on for more than twenty emails (immediate ones, digests, replies by email from
//! both sides, a subject changed by staff), and each participant's mailbox — what they received
//! and what they sent — is one thread by the JWZ algorithm (References / In-Reply-To, as
//! Thunderbird, Apple Mail and mutt thread) and by Gmail's rule (the same subject without
//! `Re:`, and a referenced Message-ID).

mod support;

use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use threadgate::domain::ManualClock;

const START: i64 = 1_790_000_000_000;
const INBOX: &str = "support@example.test";
const AGENT: &str = "agent@team.test";
const CARL: &str = "carl@client.test";

/// One email in a mailbox: its id, the ids it answers, its subject.
#[derive(Debug, Clone)]
struct Mail {
    id: String,
    references: Vec<String>,
    in_reply_to: Option<String>,
    subject: String,
}

impl Mail {
    fn received(email: &Email) -> Mail {
        Mail {
            id: email.message_id(),
            references: email
                .header("References")
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            in_reply_to: email.header("In-Reply-To").map(|v| v.trim().to_string()),
            subject: email.header("Subject").unwrap_or("").to_string(),
        }
    }

    /// What a mail client writes when answering `parent`.
    fn answering(parent: &Mail, id: String) -> Mail {
        let mut references = parent.references.clone();
        references.push(parent.id.clone());
        Mail {
            id,
            references,
            in_reply_to: Some(parent.id.clone()),
            subject: format!("Re: {}", normalized(&parent.subject)),
        }
    }

    fn wire(&self, from: &str, to: &str, body: &str) -> String {
        let mut headers = format!(
            "From: {from}\r\nTo: {to}\r\nSubject: {}\r\nMessage-ID: {}\r\n",
            self.subject, self.id
        );
        if let Some(parent) = &self.in_reply_to {
            headers.push_str(&format!("In-Reply-To: {parent}\r\n"));
        }
        if !self.references.is_empty() {
            headers.push_str(&format!("References: {}\r\n", self.references.join(" ")));
        }
        format!(
            "{headers}Date: Mon, 21 Sep 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        )
    }

    /// Every Message-ID this one points at, parents first (RFC 5322 §3.6.4).
    fn ancestry(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.references.iter().map(String::as_str).collect();
        if let Some(parent) = &self.in_reply_to
            && ids.last() != Some(&parent.as_str())
        {
            ids.push(parent);
        }
        ids
    }
}

/// The subject a thread is known by: without `Re:` / `RE:` / `Fwd:` prefixes.
fn normalized(subject: &str) -> String {
    let mut s = subject.trim();
    loop {
        let lower = s.to_ascii_lowercase();
        let Some(prefix) = ["re:", "fwd:", "fw:"]
            .iter()
            .find(|p| lower.starts_with(**p))
        else {
            return s.to_string();
        };
        s = s[prefix.len()..].trim_start();
    }
}

/// JWZ threading (https://www.jwz.org/doc/threading.html), steps 1 and 2: each message's
/// container is linked under the containers of its references, in order, without loops and
/// without moving a container that already has a parent; the thread roots are the containers
/// without a parent. Returns how many roots hold a message of the mailbox.
fn jwz_threads(mailbox: &[Mail]) -> usize {
    let mut parent: HashMap<String, String> = HashMap::new();
    let ancestors = |parent: &HashMap<String, String>, id: &str| {
        let mut seen = vec![id.to_string()];
        let mut at = id.to_string();
        while let Some(p) = parent.get(&at) {
            seen.push(p.clone());
            at = p.clone();
        }
        seen
    };
    for mail in mailbox {
        let chain = mail.ancestry();
        for pair in chain.windows(2) {
            let (up, down) = (pair[0], pair[1]);
            if !parent.contains_key(down) && !ancestors(&parent, up).iter().any(|a| a == down) {
                parent.insert(down.to_string(), up.to_string());
            }
        }
        if let Some(last) = chain.last()
            && !ancestors(&parent, last).contains(&mail.id)
        {
            parent.insert(mail.id.clone(), last.to_string());
        }
    }
    let roots: HashSet<String> = mailbox
        .iter()
        .map(|m| ancestors(&parent, &m.id).pop().unwrap())
        .collect();
    roots.len()
}

/// Gmail's rule: two emails are in one thread when they have the same subject (without
/// prefixes) and one references the other. Returns the number of threads.
fn gmail_threads(mailbox: &[Mail]) -> usize {
    let index: HashMap<&str, usize> = mailbox
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let mut group: Vec<usize> = (0..mailbox.len()).collect();
    fn find(group: &mut [usize], i: usize) -> usize {
        if group[i] != i {
            let root = find(group, group[i]);
            group[i] = root;
        }
        group[i]
    }
    for (i, mail) in mailbox.iter().enumerate() {
        for referenced in mail.ancestry() {
            if let Some(&j) = index.get(referenced)
                && normalized(&mailbox[j].subject) == normalized(&mail.subject)
            {
                let (a, b) = (find(&mut group, i), find(&mut group, j));
                group[a] = b;
            }
        }
    }
    (0..mailbox.len())
        .map(|i| find(&mut group, i))
        .collect::<HashSet<_>>()
        .len()
}

#[tokio::test]
async fn every_participant_s_mailbox_is_one_thread_by_jwz_and_by_gmail_s_rule() {
    for db in test_databases().await {
        let clock = ManualClock::at(START);
        let app = spawn_app_with_clock(&db, &[], Arc::new(clock.clone())).await;
        let (status, body) = app.post("/domains", json!({"name": "example.test"})).await;
        assert_eq!(status, 201, "{body}");
        app.patch("/domains/example.test", json!({"strangers": "accept"}))
            .await;
        let agent = app.person(AGENT, "Agnes Agent", "internal").await;
        let mut sent: HashMap<&str, Vec<Mail>> = HashMap::new();

        // Carl starts at the inbox address.
        let first = Mail {
            id: "<start@client.test>".into(),
            references: Vec::new(),
            in_reply_to: None,
            subject: "Broken invoice".into(),
        };
        let reply = app
            .deliver(
                CARL,
                &[INBOX],
                &first.wire(CARL, INBOX, "My invoice is wrong."),
            )
            .await;
        assert_eq!(reply.code, 250, "{reply:?}");
        sent.entry(CARL).or_default().push(first);
        let conversation = app.inbound().await[0]["conversation_id"]
            .as_str()
            .unwrap()
            .to_string();

        let mut seen: HashMap<&str, usize> = HashMap::new();
        for round in 0..6 {
            if round == 3 {
                // Staff rename the conversation: every mailbox keeps its thread's subject, and
                // the emails' first line says the new one.
                let (status, body) = app
                    .patch(
                        &format!("/conversations/{conversation}"),
                        json!({"subject": "Broken invoice (order 1234)", "actor_id": agent}),
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["subject"], "Broken invoice (order 1234)");
            }
            // The agent writes twice: at once, then in a digest half an hour later.
            app.say(
                &conversation,
                &agent,
                &format!("Looking, step {round}."),
                "message",
            )
            .await;
            clock.advance(Duration::from_secs(20));
            app.say(
                &conversation,
                &agent,
                &format!("Still looking {round}."),
                "message",
            )
            .await;
            clock.advance(Duration::from_secs(31 * 60));
            // Each side answers the newest email it got, as its mail client would.
            for (who, to_whom) in [(CARL, "carl"), (AGENT, "agent")] {
                let emails = app.settle_and_collect(who).await;
                let Some(newest) = emails
                    .last()
                    .filter(|_| emails.len() > seen.get(who).copied().unwrap_or(0))
                else {
                    continue;
                };
                seen.insert(who, emails.len());
                let parent = Mail::received(newest);
                let answer = Mail::answering(&parent, format!("<{to_whom}{round}@mail.test>"));
                let to = newest.reply_to();
                let text = format!("Answer {round} from {to_whom}.");
                let reply = app
                    .deliver(who, &[&to], &answer.wire(who, &to, &text))
                    .await;
                assert_eq!(reply.code, 250, "{reply:?}");
                sent.entry(who).or_default().push(answer);
            }
            clock.advance(Duration::from_secs(31 * 60));
        }

        let mut total = 0;
        for who in [CARL, AGENT] {
            let mut mailbox: Vec<Mail> = app
                .settle_and_collect(who)
                .await
                .iter()
                .map(Mail::received)
                .collect();
            assert!(
                mailbox.iter().all(|m| m.subject == "Re: Broken invoice"),
                "one subject, even after the conversation was renamed: {mailbox:?}"
            );
            assert!(
                app.settle_and_collect(who)
                    .await
                    .last()
                    .unwrap()
                    .text
                    .contains("in Broken invoice (order 1234)"),
                "the body says the new subject"
            );
            mailbox.extend(sent.remove(who).unwrap_or_default());
            total += mailbox.len();
            assert_eq!(
                jwz_threads(&mailbox),
                1,
                "{who} by JWZ ({}): {mailbox:#?}",
                db.backend
            );
            assert_eq!(
                gmail_threads(&mailbox),
                1,
                "{who} by Gmail's rule: {mailbox:#?}"
            );
        }
        assert!(total >= 20, "{total} emails");

        // Carl's first email from us answers his own.
        let to_carl = app.settle_and_collect(CARL).await;
        assert_eq!(
            to_carl[0].header("In-Reply-To"),
            Some("<start@client.test>")
        );
        let references = to_carl
            .last()
            .unwrap()
            .header("References")
            .unwrap()
            .to_string();
        let references: Vec<&str> = references.split_whitespace().collect();
        assert_eq!(references[0], "<start@client.test>", "the root stays");
        assert!(references.len() <= 11, "{references:?}");
        app.stop().await;
    }
}

#[test]
fn the_threading_checks_tell_two_threads_apart() {
    let a = Mail {
        id: "<a@x>".into(),
        references: vec![],
        in_reply_to: None,
        subject: "One".into(),
    };
    let b = Mail::answering(&a, "<b@x>".into());
    let c = Mail {
        id: "<c@x>".into(),
        references: vec!["<zz@x>".into()],
        in_reply_to: None,
        subject: "Re: One".into(),
    };
    assert_eq!(jwz_threads(&[a.clone(), b.clone()]), 1);
    assert_eq!(jwz_threads(&[a.clone(), b.clone(), c.clone()]), 2);
    let renamed = Mail {
        subject: "Two".into(),
        ..Mail::answering(&a, "<d@x>".into())
    };
    assert_eq!(gmail_threads(&[a.clone(), b]), 1);
    assert_eq!(
        gmail_threads(&[a, renamed]),
        2,
        "Gmail splits on a new subject"
    );
}
