//! The store's behaviour, the same suite on SQLite and (with TEST_DATABASE_URL) PostgreSQL,
//! each test in a fresh database.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use threadgate::domain::{
    EmailAddress, InboundOutcome, ManualClock, MessageKind, ReplyToken, Role, Source,
};
use threadgate::store::{
    InboundChanges, InboundEffect, InboundRecord, NewConversation, NewMessage, NewOutboxEmail,
    NewPerson, PlannedEmail, Store, StoreError,
};

async fn person(store: &Store, email: &str, role: Role) -> String {
    store
        .create_person(NewPerson {
            email: EmailAddress::parse(email).unwrap(),
            name: email.split('@').next().unwrap().to_string(),
            role,
        })
        .await
        .unwrap()
        .id
}

/// An agent and a client (agent@team.test, client@x.test) in a conversation "Hi".
async fn agent_and_client(store: &Store) -> (String, String, threadgate::store::Conversation) {
    let agent = person(store, "agent@team.test", Role::Internal).await;
    let client = person(store, "client@x.test", Role::Client).await;
    let c = store
        .create_conversation("Hi", &agent, std::slice::from_ref(&client))
        .await
        .unwrap();
    (agent, client, c)
}

/// [`agent_and_client`], after the agent has said "hello".
async fn agent_said_hello(store: &Store) -> (String, String, threadgate::store::Conversation) {
    let (agent, client, c) = agent_and_client(store).await;
    store
        .append_message(message(&c.id, &agent, "hello"))
        .await
        .unwrap();
    (agent, client, c)
}

/// A conversation "Hi" of `agent` with `clients`, in which the agent has said "hello".
async fn hello(store: &Store, agent: &str, clients: &[String]) -> threadgate::store::Conversation {
    let c = store
        .create_conversation("Hi", agent, clients)
        .await
        .unwrap();
    store
        .append_message(message(&c.id, agent, "hello"))
        .await
        .unwrap();
    c
}

fn message(conversation: &str, author: &str, body: &str) -> NewMessage {
    NewMessage {
        conversation_id: conversation.to_string(),
        author_id: author.to_string(),
        kind: MessageKind::Message,
        body_text: body.to_string(),
        body_html: None,
        trimmed_text: None,
        source: Source::Api,
        email_message_id: None,
        attachments: Vec::new(),
    }
}

fn record(conversation: Option<&str>) -> InboundRecord {
    InboundRecord {
        envelope_from: "carl@client.test".into(),
        recipients: vec!["reply+x@reply.test".into()],
        message_id: Some("m1@client.test".into()),
        outcome: InboundOutcome::Posted,
        conversation_id: conversation.map(str::to_string),
        detail: String::new(),
        peer: "127.0.0.1:1".into(),
        auth_results: None,
        awaiting: None,
    }
}

#[tokio::test]
async fn people_are_unique_by_address_case_insensitively() {
    for db in test_databases().await {
        let store = store(&db).await;
        let id = person(&store, "Alice@Example.com", Role::Internal).await;
        let again = store
            .create_person(NewPerson {
                email: EmailAddress::parse("alice@EXAMPLE.com").unwrap(),
                name: "Other".into(),
                role: Role::Client,
            })
            .await;
        assert!(
            matches!(again, Err(StoreError::Conflict(_))),
            "{} {again:?}",
            db.backend
        );
        let found = store.person(&id).await.unwrap().unwrap();
        assert_eq!(found.email, "Alice@example.com");
        assert_eq!(found.role, Role::Internal);
        assert!(store.person("per_missing").await.unwrap().is_none());
        let by_email = store
            .person_by_email(&EmailAddress::parse("ALICE@example.com").unwrap())
            .await
            .unwrap();
        assert_eq!(by_email.map(|p| p.id), Some(id));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn conversations_give_each_participant_a_distinct_live_token() {
    for db in test_databases().await {
        let store = store(&db).await;
        let agent = person(&store, "agent@team.test", Role::Internal).await;
        let client = person(&store, "client@x.test", Role::Client).await;
        let missing = store
            .create_conversation("Hi", &agent, &[client.clone(), "per_nobody".into()])
            .await;
        assert!(matches!(missing, Err(StoreError::NotFound("person"))));
        let c = store
            .create_conversation("Hi", &agent, &[client.clone(), client.clone()])
            .await
            .unwrap();
        let participants = store.participants(&c.id).await.unwrap();
        assert_eq!(
            participants.len(),
            2,
            "creator included, duplicates ignored"
        );
        let tokens: HashSet<&str> = participants
            .iter()
            .map(|p| p.reply_token.as_str())
            .collect();
        assert_eq!(tokens.len(), 2);
        for p in &participants {
            let owner = store
                .participant_by_token(&p.reply_token)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(owner.person.id, p.person.id);
            assert_eq!(owner.conversation_id, c.id);
        }
        assert!(
            store
                .participant_by_token(&ReplyToken::generate())
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            store.add_participant(&c.id, &client).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.add_participant("cnv_missing", &client).await,
            Err(StoreError::NotFound("conversation"))
        ));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn removing_a_participant_revokes_their_token_and_readding_issues_a_new_one() {
    for db in test_databases().await {
        let store = store(&db).await;
        let (_agent, client, c) = agent_and_client(&store).await;
        let old = store
            .participants(&c.id)
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.person.id == client)
            .unwrap()
            .reply_token;
        // RCPT's read (on SQLite in place, on a connection of its own) sees each change at once.
        let sender = EmailAddress::parse("client@x.test").unwrap();
        let at_rcpt = store
            .token_recipient(&old, &sender, "client@x.test", 0)
            .await
            .unwrap();
        assert_eq!(at_rcpt.owner.map(|o| o.person.id), Some(client.clone()));
        assert_eq!(at_rcpt.block, None);
        assert!(store.remove_participant(&c.id, &client).await.unwrap());
        assert!(!store.remove_participant(&c.id, &client).await.unwrap());
        assert!(store.participant_by_token(&old).await.unwrap().is_none());
        let at_rcpt = store
            .token_recipient(&old, &sender, "client@x.test", 0)
            .await
            .unwrap();
        assert!(at_rcpt.owner.is_none() && at_rcpt.context.is_none());
        let readded = store.add_participant(&c.id, &client).await.unwrap();
        assert_ne!(readded.reply_token, old);
        assert!(
            store.participant_by_token(&old).await.unwrap().is_none(),
            "old token stays revoked"
        );
        assert!(
            store
                .participant_by_token(&readded.reply_token)
                .await
                .unwrap()
                .is_some()
        );
        assert!(store.block_domain("x.test").await.unwrap());
        let at_rcpt = store
            .token_recipient(&readded.reply_token, &sender, "client@x.test", 0)
            .await
            .unwrap();
        assert_eq!(at_rcpt.owner.map(|o| o.person.id), Some(client.clone()));
        assert_eq!(at_rcpt.block, Some(threadgate::store::SenderBlock::Domain));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn only_participants_can_post_and_history_is_ordered() {
    for db in test_databases().await {
        let store = store(&db).await;
        let agent = person(&store, "agent@team.test", Role::Internal).await;
        let outsider = person(&store, "out@x.test", Role::Client).await;
        let c = store.create_conversation("Hi", &agent, &[]).await.unwrap();
        assert!(matches!(
            store
                .append_message(message(&c.id, &outsider, "let me in"))
                .await,
            Err(StoreError::NotFound("participant"))
        ));
        for i in 0..5 {
            store
                .append_message(message(&c.id, &agent, &format!("m{i}")))
                .await
                .unwrap();
        }
        let history = store.messages(&c.id).await.unwrap();
        let bodies: Vec<&str> = history.iter().map(|m| m.body_text.as_str()).collect();
        assert_eq!(bodies, ["m0", "m1", "m2", "m3", "m4"]);
        assert!(history.windows(2).all(|w| w[0].seq < w[1].seq));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn an_inbound_email_is_stored_with_its_raw_bytes_once_even_when_delivered_twice() {
    for db in test_databases().await {
        let store = store(&db).await;
        let (_agent, client, c) = agent_and_client(&store).await;
        let mut reply = message(&c.id, &client, "thanks");
        reply.source = Source::Email;
        reply.email_message_id = Some("m1@client.test".into());
        let raw = b"From: client@x.test\r\n\r\nthanks\r\n";

        let first = store
            .record_inbound(record(Some(&c.id)), raw, Some(&reply))
            .await
            .unwrap();
        assert_eq!(first.outcome, InboundOutcome::Posted);
        let second = store
            .record_inbound(record(Some(&c.id)), raw, Some(&reply))
            .await
            .unwrap();
        assert_eq!(second.outcome, InboundOutcome::Duplicate);
        assert_eq!(second.posted_message_id, first.posted_message_id);
        assert_eq!(store.messages(&c.id).await.unwrap().len(), 1);

        let log = store.recent_inbound(10).await.unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].id, second.inbound_id, "newest first");
        assert_eq!(
            store.raw_email(&first.inbound_id).await.unwrap().unwrap(),
            raw
        );
        assert_eq!(
            store.raw_email(&second.inbound_id).await.unwrap().unwrap(),
            raw
        );

        // A refusal is recorded too, with its raw bytes, and posts nothing.
        let mut refused = record(Some(&c.id));
        refused.outcome = InboundOutcome::SenderMismatch;
        let stored = store
            .record_inbound(refused, b"From: x\r\n\r\nforged", None)
            .await
            .unwrap();
        assert_eq!(stored.outcome, InboundOutcome::SenderMismatch);
        assert!(stored.posted_message_id.is_none());
        assert_eq!(store.messages(&c.id).await.unwrap().len(), 1);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_failed_inbound_transaction_stores_nothing() {
    for db in test_databases().await {
        let store = store(&db).await;
        let agent = person(&store, "agent@team.test", Role::Internal).await;
        let c = store.create_conversation("Hi", &agent, &[]).await.unwrap();
        // The author is not a participant: the whole transaction rolls back.
        let bad = message(&c.id, "per_ghost", "boo");
        let err = store
            .record_inbound(record(Some(&c.id)), b"raw", Some(&bad))
            .await;
        assert!(err.is_err());
        assert!(store.recent_inbound(10).await.unwrap().is_empty());
        db.cleanup().await;
    }
}

#[tokio::test]
async fn an_inbound_emails_effects_commit_with_its_record_or_not_at_all() {
    for db in test_databases().await {
        let store = store(&db).await;
        let (_, client, c) = agent_and_client(&store).await;
        let effects = vec![
            InboundEffect::Mute {
                conversation_id: c.id.clone(),
                person_id: client.clone(),
            },
            InboundEffect::Bounce {
                address: EmailAddress::parse("Client@X.test").unwrap(),
                permanent: true,
            },
        ];
        // A post by someone who takes no part fails the transaction: no effect survives it.
        let failing = InboundChanges {
            post: Some(message(&c.id, "per_ghost", "boo")),
            effects: effects.clone(),
            ..InboundChanges::default()
        };
        let refused = store
            .apply_inbound(record(Some(&c.id)), b"raw", failing)
            .await;
        assert!(refused.is_err());
        assert!(store.recent_inbound(10).await.unwrap().is_empty());
        let state = store.participant_state(&c.id, &client).await.unwrap();
        assert!(!state.unwrap().muted, "the mute was rolled back");
        let person = store.person(&client).await.unwrap().unwrap();
        assert_eq!(
            person.email_status.as_str(),
            "ok",
            "the bounce was rolled back"
        );

        let changes = InboundChanges {
            effects,
            ..InboundChanges::default()
        };
        let mut rec = record(Some(&c.id));
        rec.outcome = InboundOutcome::Bounce;
        rec.detail = "delivery failed".into();
        let stored = store.apply_inbound(rec, b"raw", changes).await.unwrap();
        assert_eq!(stored.outcome, InboundOutcome::Bounce);
        let state = store.participant_state(&c.id, &client).await.unwrap();
        assert!(state.unwrap().muted);
        let person = store.person(&client).await.unwrap().unwrap();
        assert_eq!(person.email_status.as_str(), "bounced");
        let entry = store
            .inbound_entry(&stored.inbound_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            entry.detail, "delivery failed; Client@x.test is now bounced",
            "the record says what the bounce did"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_new_client_is_created_in_their_emails_transaction_and_one_created_meanwhile_is_the_author()
 {
    for db in test_databases().await {
        let store = store(&db).await;
        let agent = person(&store, "agent@team.test", Role::Internal).await;
        let start = |id: &str, author: &str| NewConversation {
            id: id.to_string(),
            subject: "Help".into(),
            created_by: author.to_string(),
            members: vec![author.to_string(), agent.clone()],
            inbox_domain: Some("team.test".into()),
            domain: Some("team.test".into()),
            kind: threadgate::domain::ConversationType::Private,
            company_id: None,
        };
        let new_client = |id: &str, email: &str| InboundEffect::NewClient {
            person_id: id.to_string(),
            email: EmailAddress::parse(email).unwrap(),
            name: "Nora".into(),
            verified: true,
            locale: None,
        };
        let mut post = message("cnv_first", "per_chosen1", "hello");
        post.email_message_id = Some("first@x.test".into());
        let first = InboundChanges {
            start: Some(start("cnv_first", "per_chosen1")),
            post: Some(post),
            effects: vec![new_client("per_chosen1", "nora@x.test")],
            ..InboundChanges::default()
        };
        let stored = store
            .apply_inbound(record(Some("cnv_first")), b"one", first)
            .await
            .unwrap();
        assert_eq!(stored.outcome, InboundOutcome::Posted);
        let nora = store.person("per_chosen1").await.unwrap().unwrap();
        assert_eq!(
            (nora.email.as_str(), nora.role),
            ("nora@x.test", Role::Client)
        );
        let settings = store.person_settings("per_chosen1").await.unwrap().unwrap();
        assert!(
            settings.verified_at.is_some(),
            "a confirmed address is verified"
        );

        // A second email chose another id for the same stranger (both were read as unknown):
        // the person who exists by then is the author and a member, once.
        let mut post = message("cnv_second", "per_chosen2", "again");
        post.email_message_id = Some("second@x.test".into());
        let mut second_start = start("cnv_second", "per_chosen2");
        second_start.members.push("per_chosen2".into());
        let second = InboundChanges {
            start: Some(second_start),
            post: Some(post),
            effects: vec![new_client("per_chosen2", "NORA@x.test")],
            ..InboundChanges::default()
        };
        let stored = store
            .apply_inbound(record(Some("cnv_second")), b"two", second)
            .await
            .unwrap();
        assert_eq!(stored.outcome, InboundOutcome::Posted);
        assert!(store.person("per_chosen2").await.unwrap().is_none());
        let messages = store.messages("cnv_second").await.unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].author_id, "per_chosen1");
        let mut members: Vec<String> = store
            .participants("cnv_second")
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.person.id)
            .collect();
        members.sort();
        let mut expected = vec![agent.clone(), "per_chosen1".to_string()];
        expected.sort();
        assert_eq!(members, expected);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn an_inbound_reply_leaves_the_same_marks_whether_or_not_it_changes_the_status() {
    // The first client reply reopens the conversation (a status change, written statement by
    // statement); the next ones leave it open (written in two round trips on either backend).
    // Both must move the same marks, and index the message for search.
    for db in test_databases().await {
        let store = store(&db).await;
        let (agent, client, c) = agent_said_hello(&store).await;
        let mut revs = vec![
            store
                .conversation(&c.id)
                .await
                .unwrap()
                .unwrap()
                .history_rev,
        ];
        let changes = |events: Vec<threadgate::store::ConversationEvent>| {
            events.iter().filter(|e| e.kind == "status_changed").count()
        };
        let changes_before = changes(store.conversation_events(&c.id).await.unwrap());
        let words = ["alpha", "bravo", "charlie"];
        let mut posted_ids = Vec::new();
        for (i, status_after) in [(0, "open"), (1, "open"), (2, "open")] {
            let body = format!("reply {i} {}", words[i]);
            let mut reply = message(&c.id, &client, &body);
            reply.source = Source::Email;
            reply.email_message_id = Some(format!("r{i}@client.test"));
            let mut rec = record(Some(&c.id));
            rec.message_id = reply.email_message_id.clone();
            let raw = format!("From: client@x.test\r\n\r\n{body}\r\n");
            let stored = store
                .record_inbound(rec, raw.as_bytes(), Some(&reply))
                .await
                .unwrap();
            assert_eq!(stored.outcome, InboundOutcome::Posted, "{}", db.backend);
            assert_eq!(stored.conversation_id.as_deref(), Some(c.id.as_str()));
            let posted = stored.posted_message_id.clone().unwrap();

            let history = store.messages(&c.id).await.unwrap();
            let m = history.last().unwrap();
            assert_eq!(m.id, posted, "{}", db.backend);
            assert_eq!(m.body_text, body);
            assert_eq!(m.source, Source::Email);
            assert_eq!(m.inbound_id.as_deref(), Some(stored.inbound_id.as_str()));
            let conversation = store.conversation(&c.id).await.unwrap().unwrap();
            assert_eq!(conversation.last_seq, m.seq, "{} reply {i}", db.backend);
            assert_eq!(conversation.status.as_str(), status_after);
            revs.push(conversation.history_rev);
            assert!(
                revs[revs.len() - 1] > revs[revs.len() - 2],
                "{} reply {i}",
                db.backend
            );
            // Writing means having read: the author's marks are at their own message…
            let state = store
                .participant_state(&c.id, &client)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(state.read_up_to, m.seq, "{} reply {i}", db.backend);
            let due = store.due_notifications(100, 0).await.unwrap();
            assert!(
                due.iter().all(|d| d.person.id != client),
                "{} reply {i}: the author is not emailed their own reply",
                db.backend
            );
            // …and the agent's are not.
            let agent_due = due
                .iter()
                .find(|d| d.person.id == agent)
                .expect("agent due");
            assert!(agent_due.notified_up_to < m.seq);
            let entry = store
                .inbound_entry(&stored.inbound_id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(entry.outcome, InboundOutcome::Posted);
            assert_eq!(entry.posted_message_id.as_deref(), Some(posted.as_str()));
            assert_eq!(
                entry.message_id.as_deref(),
                Some(format!("r{i}@client.test").as_str())
            );
            assert_eq!(
                store.raw_email(&stored.inbound_id).await.unwrap().unwrap(),
                raw.as_bytes()
            );
            posted_ids.push(posted);
        }
        // One status change, recorded once: by the first reply.
        let after = changes(store.conversation_events(&c.id).await.unwrap());
        assert_eq!(after, changes_before + 1, "{}", db.backend);
        // Each reply is found by its own word.
        let everything = threadgate::store::SearchFilter {
            reader: None,
            staff: true,
            status: None,
            kind: None,
            company: None,
        };
        for (word, posted) in words.iter().zip(&posted_ids) {
            let query = threadgate::domain::search_text::parse_query(word).unwrap();
            let hits = store.search(&query, &everything, 0, 20).await.unwrap();
            assert_eq!(hits.len(), 1, "{} {word}", db.backend);
            assert_eq!(
                hits[0].documents[0].0.as_deref(),
                Some(posted.as_str()),
                "{} {word}",
                db.backend
            );
        }
        // The last reply delivered again: a duplicate naming the message it posted, and
        // nothing moves.
        let before = store.conversation(&c.id).await.unwrap().unwrap();
        let mut again = message(&c.id, &client, "reply 2 charlie");
        again.source = Source::Email;
        again.email_message_id = Some("r2@client.test".into());
        let mut rec = record(Some(&c.id));
        rec.message_id = again.email_message_id.clone();
        let stored = store
            .record_inbound(rec, b"From: client@x.test\r\n\r\nagain\r\n", Some(&again))
            .await
            .unwrap();
        assert_eq!(stored.outcome, InboundOutcome::Duplicate, "{}", db.backend);
        assert_eq!(stored.posted_message_id.as_ref(), posted_ids.last());
        let entry = store
            .inbound_entry(&stored.inbound_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(entry.outcome, InboundOutcome::Duplicate);
        assert_eq!(entry.posted_message_id.as_ref(), posted_ids.last());
        let after = store.conversation(&c.id).await.unwrap().unwrap();
        assert_eq!(
            (after.last_seq, after.history_rev),
            (before.last_seq, before.history_rev),
            "{}",
            db.backend
        );
        assert_eq!(store.messages(&c.id).await.unwrap().len(), 4);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn concurrent_inbound_emails_commit_together_and_a_failing_one_is_undone_alone() {
    for db in test_databases().await {
        let store = store(&db).await;
        let (_agent, client, c) = agent_and_client(&store).await;
        // 60 emails at once queue up behind each other's commits, so they share transactions;
        // every seventh is from someone who is not a participant and must fail alone, as must
        // a second copy of the same email posted in the same batch (a duplicate, not an error).
        let mut tasks = Vec::new();
        for i in 0..60 {
            let store = store.clone();
            let conversation = c.id.clone();
            let author = if i % 7 == 3 {
                "per_ghost".to_string()
            } else {
                client.clone()
            };
            tasks.push(tokio::spawn(async move {
                let key = if i == 57 { 56 } else { i };
                let mut reply = message(&conversation, &author, &format!("reply {key}"));
                reply.source = Source::Email;
                reply.email_message_id = Some(format!("m{key}@client.test"));
                let mut rec = record(Some(&conversation));
                rec.message_id = reply.email_message_id.clone();
                let raw = format!("From: client@x.test\r\n\r\nreply {i}\r\n");
                store
                    .record_inbound(rec, raw.as_bytes(), Some(&reply))
                    .await
            }));
        }
        let mut posted = HashSet::new();
        let mut failed = 0;
        let mut duplicates = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(stored) if stored.outcome == InboundOutcome::Posted => {
                    assert!(posted.insert(stored.posted_message_id.unwrap()));
                }
                Ok(stored) => {
                    assert_eq!(stored.outcome, InboundOutcome::Duplicate, "{}", db.backend);
                    duplicates += 1;
                }
                Err(_) => failed += 1,
            }
        }
        assert_eq!(failed, 9, "{}", db.backend);
        assert_eq!(duplicates, 1, "{}", db.backend);
        assert_eq!(posted.len(), 50, "{}", db.backend);
        let messages = store.messages(&c.id).await.unwrap();
        assert_eq!(messages.len(), 50, "{}", db.backend);
        assert!(messages.iter().all(|m| m.author_id == client));
        let log = store.recent_inbound(100).await.unwrap();
        assert_eq!(log.len(), 51, "only the emails that committed are recorded");
        // Each posted message points back at its own inbound record.
        for m in &messages {
            let inbound = m
                .inbound_id
                .as_deref()
                .expect("posted from an inbound email");
            let entry = store.inbound_entry(inbound).await.unwrap().unwrap();
            assert_eq!(entry.posted_message_id.as_deref(), Some(m.id.as_str()));
        }
        db.cleanup().await;
    }
}

/// An email from `author` posting `body` into `conversation`, its Message-ID made of `body`.
async fn emailed(
    store: &Store,
    conversation: &str,
    author: &str,
    body: String,
) -> Result<threadgate::store::InboundStored, StoreError> {
    let mut reply = message(conversation, author, &body);
    reply.source = Source::Email;
    reply.email_message_id = Some(format!("{}@client.test", body.replace(' ', "-")));
    let mut rec = record(Some(conversation));
    rec.message_id = reply.email_message_id.clone();
    let raw = format!("From: someone@x.test\r\n\r\n{body}\r\n");
    store
        .record_inbound(rec, raw.as_bytes(), Some(&reply))
        .await
}

#[tokio::test]
async fn emails_to_one_conversation_commit_in_their_order_whichever_path_writes_them() {
    for db in test_databases().await {
        let store = store(&db).await;
        let (agent, client, c) = agent_said_hello(&store).await;
        let other = hello(&store, &agent, std::slice::from_ref(&client)).await;
        store
            .append_message(message(&c.id, &client, "hi back"))
            .await
            .unwrap();
        // All queued in one poll: the committer takes the first filler at once, the rest wait
        // and share batches. "turn 0", the agent's, makes the open conversation wait on the
        // client again: a status change, which on SQLite the general path writes after the
        // commit thread's in-place transaction. The client's "turn 1" and "turn 2", read
        // against the conversation as it was (open: no change), are the kind written in
        // place — and must still come after "turn 0", and open the conversation again.
        let mut emails = Vec::new();
        for i in 0..20 {
            emails.push(emailed(&store, &other.id, &client, format!("filler {i}")));
        }
        for (i, author) in [&agent, &client, &client].into_iter().enumerate() {
            emails.push(emailed(&store, &c.id, author, format!("turn {i}")));
        }
        let stored: Vec<_> = futures::future::join_all(emails)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert!(
            stored.iter().all(|s| s.outcome == InboundOutcome::Posted),
            "{}",
            db.backend
        );
        assert!(
            stored.iter().any(|s| s.batch > 1),
            "{}: the emails shared no transaction",
            db.backend
        );
        let turns: Vec<String> = store
            .messages(&c.id)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.body_text)
            .filter(|b| b.starts_with("turn"))
            .collect();
        assert_eq!(turns, ["turn 0", "turn 1", "turn 2"], "{}", db.backend);
        let after = store.conversation(&c.id).await.unwrap().unwrap();
        assert_eq!(
            after.status,
            threadgate::store::ConversationStatus::Open,
            "{}",
            db.backend
        );
        assert_eq!(store.messages(&other.id).await.unwrap().len(), 21);
        db.cleanup().await;
    }
}

fn planned(due: &threadgate::store::DueParticipant, with_email: bool) -> PlannedEmail {
    PlannedEmail {
        failure: None,
        thread_subject: None,
        assigned_by: None,
        conversation_id: due.conversation_id.clone(),
        person_id: due.person.id.clone(),
        expected_up_to: due.notified_up_to,
        up_to: due.messages.iter().map(|m| m.seq).max().unwrap(),
        email: with_email.then(|| NewOutboxEmail {
            id: threadgate::domain::Id::generate(threadgate::domain::IdKind::Outbox),
            envelope_from: "n@gw.test".into(),
            recipient: due.person.email.clone(),
            message_id: format!("<{}@gw.test>", due.person.id),
            references: format!("<{}@gw.test>", due.person.id),
            data: b"Subject: x\r\n\r\nbody\r\n".to_vec().into(),
        }),
    }
}

#[tokio::test]
async fn notifications_are_queued_exactly_once_even_when_planned_twice_concurrently() {
    for db in test_databases().await {
        let store = store(&db).await;
        let (agent, client, c) = agent_and_client(&store).await;
        assert!(store.due_notifications(10, 0).await.unwrap().is_empty());
        store
            .append_message(message(&c.id, &agent, "hello"))
            .await
            .unwrap();

        let due = store.due_notifications(10, 0).await.unwrap();
        assert_eq!(
            due.len(),
            1,
            "only the client: writing a message marks it seen for its author"
        );
        let client_due = due.iter().find(|d| d.person.id == client).unwrap();
        assert_eq!(client_due.messages.len(), 1);
        assert_eq!(client_due.messages[0].author_name, "agent");
        assert_eq!(client_due.subject, "Hi");

        // Two planners race with the same plan: one wins.
        let plan = planned(client_due, true);
        let (a, b) = tokio::join!(
            store.enqueue_notification(&plan),
            store.enqueue_notification(&plan)
        );
        assert_eq!(
            [a.unwrap(), b.unwrap()].iter().filter(|x| **x).count(),
            1,
            "{}",
            db.backend
        );
        assert_eq!(store.outbox_statuses(10).await.unwrap().len(), 1);

        assert!(
            store.due_notifications(10, 0).await.unwrap().is_empty(),
            "everyone caught up"
        );

        // The next plan chains from the stored threading state.
        store
            .append_message(message(&c.id, &agent, "again"))
            .await
            .unwrap();
        let due = store.due_notifications(10, 0).await.unwrap();
        let client_due = due.iter().find(|d| d.person.id == client).unwrap();
        assert_eq!(client_due.emails_sent, 1);
        assert_eq!(
            client_due.last_email_id.as_deref(),
            Some(format!("<{client}@gw.test>").as_str())
        );
        assert_eq!(client_due.references.len(), 1);
        db.cleanup().await;
    }
}

/// RCPT looks a reply address up with the reply context DATA will need (the loop breaker's
/// count, the last notification): the same as `reply_context` reads, counted per envelope
/// sender and conversation within the window, and none for a token of no one.
#[tokio::test]
async fn a_reply_address_is_found_with_the_reply_context_of_its_participant() {
    for db in test_databases().await {
        let store = store(&db).await;
        let (agent, client, c) = agent_said_hello(&store).await;
        let due = store.due_notifications(10, 0).await.unwrap();
        let plan = planned(due.iter().find(|d| d.person.id == client).unwrap(), true);
        assert!(store.enqueue_notification(&plan).await.unwrap());
        // carl@client.test's emails into the conversation: one recorded, one refused (a
        // refusal does not count against the participant).
        store
            .record_inbound(record(Some(&c.id)), b"one", None)
            .await
            .unwrap();
        let mut refused = record(Some(&c.id));
        refused.outcome = InboundOutcome::SenderMismatch;
        store.record_inbound(refused, b"two", None).await.unwrap();

        let participants = store.participants(&c.id).await.unwrap();
        let token_of = |id: &str| {
            participants
                .iter()
                .find(|p| p.person.id == id)
                .unwrap()
                .reply_token
                .clone()
        };
        let sender = EmailAddress::parse("carl@client.test").unwrap();
        let rcpt = |token: ReplyToken, from: &'static str, since: i64| {
            let (store, sender) = (&store, &sender);
            async move {
                store
                    .token_recipient(&token, sender, from, since)
                    .await
                    .unwrap()
            }
        };
        let found = rcpt(token_of(&client), "carl@client.test", 0).await;
        assert_eq!(found.owner.as_ref().unwrap().person.id, client);
        assert!(found.block.is_none());
        let context = found.context.unwrap();
        assert_eq!(context.recent_emails, 1, "{}", db.backend);
        assert_eq!(
            context.last_notification.as_deref(),
            Some(&b"Subject: x\r\n\r\nbody\r\n"[..])
        );
        let at_data = store
            .reply_context("carl@client.test", &c.id, &client, 0)
            .await
            .unwrap();
        assert_eq!(at_data.recent_emails, context.recent_emails);
        assert_eq!(at_data.last_notification, context.last_notification);

        let later = rcpt(token_of(&client), "carl@client.test", store.now() + 1).await;
        assert_eq!(
            later.context.unwrap().recent_emails,
            0,
            "outside the window"
        );
        let other = rcpt(token_of(&client), "someone@else.test", 0).await;
        assert_eq!(other.context.unwrap().recent_emails, 0, "another sender");
        // The agent's address: the same count (per sender and conversation), and their own
        // last notification, of which there is none.
        let agents = rcpt(token_of(&agent), "carl@client.test", 0).await;
        let agents = agents.context.unwrap();
        assert_eq!(agents.recent_emails, 1);
        assert!(agents.last_notification.is_none());

        let nobody = rcpt(ReplyToken::generate(), "carl@client.test", 0).await;
        assert!(nobody.owner.is_none() && nobody.context.is_none());
        db.cleanup().await;
    }
}

/// The planner commits a page of plans at once: the marks that still hold move together, in
/// one statement, and their emails go in (on PostgreSQL by multi-row inserts of any length, on
/// SQLite one prepared insert each, in place); a plan whose mark
/// moved meanwhile, or whose participant left, commits nothing, and the others are unaffected.
#[tokio::test]
async fn a_batch_of_plans_commits_exactly_the_ones_whose_marks_still_hold() {
    for db in test_databases().await {
        let store = store(&db).await;
        let agent = person(&store, "agent@team.test", Role::Internal).await;
        let mut clients = Vec::new();
        for i in 0..150 {
            clients.push(person(&store, &format!("c{i:03}@x.test"), Role::Client).await);
        }
        let c = hello(&store, &agent, &clients).await;
        let mut due = store.due_notifications(1000, 0).await.unwrap();
        due.sort_by(|a, b| a.person.email.cmp(&b.person.email));
        assert_eq!(due.len(), 150, "{}", db.backend);
        let mut plans: Vec<PlannedEmail> = due.iter().map(|d| planned(d, true)).collect();
        for (i, plan) in plans.iter_mut().enumerate() {
            if let Some(email) = &mut plan.email {
                email.data = format!("Subject: {i}\r\n\r\nfor client {i}\r\n")
                    .into_bytes()
                    .into();
                plan.thread_subject = Some(format!("Hi {i}"));
            }
        }
        // c000: nothing to read (its mark moves, no email); c001: could not be composed (its
        // mark moves, the failure is recorded); c002: planned from a mark that has moved since;
        // c003: left the conversation before the commit.
        plans[0].email = None;
        plans[0].thread_subject = None;
        plans[1].email = None;
        plans[1].thread_subject = None;
        plans[1].failure = Some("composing the notification: bad name".into());
        plans[2].expected_up_to -= 1;
        assert!(store.remove_participant(&c.id, &clients[3]).await.unwrap());

        let committed = store.enqueue_notifications(&plans).await.unwrap();
        let expected: Vec<bool> = (0..150).map(|i| i != 2 && i != 3).collect();
        assert_eq!(committed, expected, "{}", db.backend);

        // Every committed email is queued once, with its own bytes (146: on PostgreSQL chunks
        // of 64, 64, 16 and 2).
        let queued = store.claim_outbox(1000, 60_000).await.unwrap();
        assert_eq!(queued.len(), 146, "{}", db.backend);
        let mut seen = HashSet::new();
        for email in &queued {
            let i: usize = email.recipient[1..4].parse().unwrap();
            assert!(i >= 4, "{} got an email ({})", email.recipient, db.backend);
            assert!(seen.insert(i), "{} queued twice", email.recipient);
            assert_eq!(
                email.data,
                format!("Subject: {i}\r\n\r\nfor client {i}\r\n").into_bytes()
            );
            assert_eq!(
                email.message_id,
                plans[i].email.as_ref().unwrap().message_id
            );
        }
        // Only the stale plan's participant is still due, from the mark it really has.
        let again = store.due_notifications(1000, 0).await.unwrap();
        assert_eq!(
            again
                .iter()
                .map(|d| d.person.id.as_str())
                .collect::<Vec<_>>(),
            vec![clients[2].as_str()],
            "{}",
            db.backend
        );
        assert_eq!(again[0].notified_up_to, due[2].notified_up_to);
        // The failure is recorded with its mark's move, once.
        let failures = store.work_failures(Some("notify"), 10).await.unwrap();
        assert_eq!(failures.len(), 1, "{}", db.backend);
        assert_eq!(failures[0].item, format!("{}/{}", c.id, clients[1]));
        // An emailed participant's threading state moved with the email; the others' did not.
        store
            .append_message(message(&c.id, &agent, "again"))
            .await
            .unwrap();
        let next = store.due_notifications(1000, 0).await.unwrap();
        let of = |i: usize| next.iter().find(|d| d.person.id == clients[i]).unwrap();
        assert_eq!(of(5).emails_sent, 1);
        assert_eq!(
            of(5).last_email_id,
            Some(plans[5].email.as_ref().unwrap().message_id.clone())
        );
        assert_eq!(of(5).thread_subject.as_deref(), Some("Hi 5"));
        assert_eq!(of(0).emails_sent, 0);
        assert_eq!(of(0).last_email_id, None);
        assert_eq!(of(0).thread_subject, None);
        assert!(
            next.iter().all(|d| d.person.id != clients[3]),
            "{}",
            db.backend
        );
        db.cleanup().await;
    }
}

/// On SQLite the writer never checkpoints (its commits only append to the log); the store's
/// own task copies the log back into the database file while writes go on, so the file holds
/// what was written and the log does not grow without end.
#[tokio::test]
async fn sqlite_s_log_is_copied_into_the_database_file_while_writes_go_on() {
    let db = TestDb::sqlite().await;
    let store = store(&db).await;
    let file = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
    let (agent, _, c) = agent_and_client(&store).await;
    let before = std::fs::metadata(&file).unwrap().len();
    // 8 MiB of text that does not compress: two thousand pages, twice what SQLite's own
    // automatic checkpoint would wait for.
    for _ in 0..128 {
        let body: Vec<String> = (0..1000)
            .map(|_| threadgate::domain::random_base32(60))
            .collect();
        store
            .append_message(message(&c.id, &agent, &body.join(" ")))
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let size = std::fs::metadata(&file).unwrap().len();
        if size > before + 4 * 1024 * 1024 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database file is still {size} bytes (from {before}): the log was never copied in"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.close().await;
}

#[tokio::test]
async fn outbox_claims_are_exclusive_and_expire_with_their_lease() {
    for db in test_databases().await {
        let clock = ManualClock::at(1_800_000_000_000);
        let store = store_with_clock(&db, Arc::new(clock.clone())).await;
        let agent = person(&store, "agent@team.test", Role::Internal).await;
        for i in 0..10 {
            let client = person(&store, &format!("c{i}@x.test"), Role::Client).await;
            hello(&store, &agent, &[client]).await;
        }
        for due in store.due_notifications(100, 0).await.unwrap() {
            let with_email = due.person.id != agent;
            assert!(
                store
                    .enqueue_notification(&planned(&due, with_email))
                    .await
                    .unwrap()
            );
        }
        let (a, b) = tokio::join!(store.claim_outbox(7, 60_000), store.claim_outbox(7, 60_000));
        let (a, b) = (a.unwrap(), b.unwrap());
        let ids: HashSet<String> = a.iter().chain(b.iter()).map(|e| e.id.clone()).collect();
        assert_eq!(
            ids.len(),
            a.len() + b.len(),
            "no email claimed twice ({})",
            db.backend
        );
        assert_eq!(ids.len(), 10);
        assert!(store.claim_outbox(10, 60_000).await.unwrap().is_empty());

        // Sent stays sent; a retry comes back when due; an expired lease comes back.
        store.outbox_sent(&a[0]).await.unwrap();
        store
            .outbox_retry(&a[1], "451 try later", store.now() + 30_000)
            .await
            .unwrap();
        store
            .outbox_failed(&a[2], "550 no such user")
            .await
            .unwrap();
        clock.advance(Duration::from_secs(31));
        let again: Vec<String> = store
            .claim_outbox(10, 60_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(again, vec![a[1].id.clone()]);
        clock.advance(Duration::from_secs(61));
        let expired = store.claim_outbox(20, 60_000).await.unwrap();
        assert_eq!(
            expired.len(),
            8,
            "all leases ran out except the sent and failed ones"
        );
        assert!(expired.iter().all(|e| e.attempts >= 2));
        let statuses = store.outbox_statuses(20).await.unwrap();
        let failed = statuses.iter().find(|s| s.id == a[2].id).unwrap();
        assert_eq!(failed.status, "failed");
        assert_eq!(failed.last_error.as_deref(), Some("550 no such user"));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_shared_secret_is_created_once_and_agreed_on() {
    for db in test_databases().await {
        let store = store(&db).await;
        let other = support::store(&db).await;
        let (a, b) = tokio::join!(
            store.shared_secret("k", || "first".into()),
            other.shared_secret("k", || "second".into())
        );
        let agreed = a.unwrap();
        assert_eq!(agreed, b.unwrap());
        assert!(agreed == "first" || agreed == "second");
        assert_eq!(
            store.shared_secret("k", || "third".into()).await.unwrap(),
            agreed
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn migrations_apply_once_and_reconnecting_keeps_the_data() {
    for db in test_databases().await {
        let store = store(&db).await;
        let id = person(&store, "keep@x.test", Role::Client).await;
        store.close().await;
        let again = support::store(&db).await;
        assert!(again.person(&id).await.unwrap().is_some());
        assert_eq!(again.backend_name(), db.backend);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn blocks_cover_subdomains_and_held_emails_are_claimed_once() {
    for db in test_databases().await {
        let store = store(&db).await;
        let carl = person(&store, "carl@client.test", Role::Client).await;
        let address = |a: &str| EmailAddress::parse(a).unwrap();
        assert_eq!(
            store
                .sender_block(&address("x@mail.spam.test"))
                .await
                .unwrap(),
            None
        );
        assert!(store.block_domain("spam.test").await.unwrap());
        assert!(!store.block_domain("spam.test").await.unwrap(), "once");
        for sender in ["x@spam.test", "x@mail.spam.test", "x@a.b.c.spam.test"] {
            assert_eq!(
                store.sender_block(&address(sender)).await.unwrap(),
                Some(threadgate::store::SenderBlock::Domain),
                "{sender}"
            );
        }
        for sender in ["x@notspam.test", "x@spam.test.example"] {
            assert_eq!(
                store.sender_block(&address(sender)).await.unwrap(),
                None,
                "{sender}"
            );
        }
        store
            .update_person_settings(&carl, None, None, Some(true))
            .await
            .unwrap();
        assert_eq!(
            store
                .sender_block(&address("CARL@client.test"))
                .await
                .unwrap(),
            Some(threadgate::store::SenderBlock::Person)
        );
        assert!(store.unblock_domain("spam.test").await.unwrap());
        assert!(!store.unblock_domain("spam.test").await.unwrap());

        // Two emails wait on one address; claiming releases both, once.
        for _ in 0..2 {
            let mut held = record(None);
            held.outcome = InboundOutcome::Held;
            held.awaiting = Some("nina@new.test".into());
            store.record_inbound(held, b"raw", None).await.unwrap();
        }
        let since = store.now() - 1000;
        assert_eq!(
            store.awaiting_since("nina@new.test", since).await.unwrap(),
            2
        );
        let (a, b) = tokio::join!(
            store.claim_awaiting("nina@new.test"),
            store.claim_awaiting("nina@new.test")
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.len() + b.len(), 2, "{a:?} {b:?}");
        assert!(
            a.is_empty() || b.is_empty(),
            "one claimer wins: {a:?} {b:?}"
        );
        db.cleanup().await;
    }
}
