//! The conversation lifecycle: statuses driven by messages, PATCH (status, assignment,
//! snooze), the events history, soft delete, and the scheduler step that closes inactive
//! conversations and wakes snoozed ones — on SQLite and (with TEST_DATABASE_URL) PostgreSQL.
//! Time-driven tests run the step directly on a store with a `ManualClock`; nothing sleeps.

mod support;

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use threadgate::domain::{
    Clock, EmailAddress, InboundOutcome, ManualClock, MessageKind, Role, Source,
};
use threadgate::scheduler::lifecycle::{Lifecycle, LifecycleRun};
use threadgate::store::{
    ConversationStatus, InboundRecord, LifecycleChange, NewMessage, NewPerson, StatusChange, Store,
};

const START: i64 = 1_800_000_000_000;
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
const THIRTY_DAYS: Duration = Duration::from_secs(30 * 24 * 3600);

// ---- API helpers ----------------------------------------------------------------------------

async fn send(app: &TestApp, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut request = app
        .http_client
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("http request");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}"))
    };
    (status, value)
}

async fn patch(app: &TestApp, conversation: &str, body: Value) -> (u16, Value) {
    send(
        app,
        "PATCH",
        &format!("/conversations/{conversation}"),
        Some(&body.to_string()),
    )
    .await
}

/// PATCH that must succeed; returns the conversation.
async fn patch_ok(app: &TestApp, conversation: &str, body: Value) -> Value {
    let (status, value) = patch(app, conversation, body.clone()).await;
    assert_eq!(status, 200, "PATCH {body}: {value}");
    value
}

async fn status_of(app: &TestApp, conversation: &str) -> String {
    let (status, value) = app.get(&format!("/conversations/{conversation}")).await;
    assert_eq!(status, 200, "{value}");
    value["status"].as_str().unwrap().to_string()
}

async fn events(app: &TestApp, conversation: &str) -> Vec<Value> {
    let (status, value) = app
        .get(&format!("/conversations/{conversation}/events"))
        .await;
    assert_eq!(status, 200, "{value}");
    value["events"].as_array().unwrap().clone()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

fn code(value: &Value) -> &str {
    value["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {value}"))
}

/// An agent, a client, and a conversation between them, through the API.
struct Scene {
    app: TestApp,
    agent: String,
    client: String,
    conversation: String,
}

async fn scene(db: &TestDb) -> Scene {
    let app = spawn_app(db, &[]).await;
    let agent = app
        .person("agnes@team.test", "Agnes Agent", "internal")
        .await;
    let client = app
        .person("carl@client.test", "Carl Client", "client")
        .await;
    let conversation = app
        .conversation("Project kickoff", &agent, &[&client])
        .await;
    Scene {
        app,
        agent,
        client,
        conversation,
    }
}

// ---- store helpers (time-driven tests) ------------------------------------------------------

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

fn message(conversation: &str, author: &str, kind: MessageKind) -> NewMessage {
    NewMessage {
        conversation_id: conversation.to_string(),
        author_id: author.to_string(),
        kind,
        body_text: "hello".to_string(),
        body_html: None,
        trimmed_text: None,
        source: Source::Api,
        email_message_id: None,
        attachments: Vec::new(),
    }
}

async fn status(store: &Store, conversation: &str) -> ConversationStatus {
    store
        .conversation(conversation)
        .await
        .unwrap()
        .unwrap()
        .status
}

async fn event_kinds(store: &Store, conversation: &str) -> Vec<String> {
    store
        .conversation_events(conversation)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

async fn snooze(store: &Store, conversation: &str, until: i64) {
    store
        .change_lifecycle(
            conversation,
            &LifecycleChange {
                status: Some(StatusChange::SnoozeUntil(until)),
                ..LifecycleChange::default()
            },
        )
        .await
        .unwrap();
}

/// A store on a manual clock, an agent and a client.
async fn clocked(db: &TestDb) -> (Store, ManualClock, String, String) {
    let clock = ManualClock::at(START);
    let store = store_with_clock(db, Arc::new(clock.clone())).await;
    let agent = person(&store, "agnes@team.test", Role::Internal).await;
    let client = person(&store, "carl@client.test", Role::Client).await;
    (store, clock, agent, client)
}

// ---- statuses driven by messages ------------------------------------------------------------

#[tokio::test]
async fn a_client_message_reopens_a_closed_conversation() {
    for db in test_databases().await {
        let s = scene(&db).await;
        assert_eq!(status_of(&s.app, &s.conversation).await, "open");

        patch_ok(
            &s.app,
            &s.conversation,
            json!({"status": "closed", "actor_id": s.agent}),
        )
        .await;
        assert_eq!(status_of(&s.app, &s.conversation).await, "closed");

        s.app
            .say(&s.conversation, &s.client, "One more question", "message")
            .await;
        assert_eq!(status_of(&s.app, &s.conversation).await, "open");

        let history = events(&s.app, &s.conversation).await;
        assert_eq!(kinds(&history), ["status_changed", "status_changed"]);
        assert_eq!(history[0]["actor_id"], json!(s.agent));
        assert_eq!(history[0]["data"], json!({"from": "open", "to": "closed"}));
        assert_eq!(
            history[1]["actor_id"],
            json!(s.client),
            "the author reopened it"
        );
        assert_eq!(
            without_message(&history[1]["data"]),
            json!({"from": "closed", "to": "open"})
        );

        // A client writing in an open conversation changes nothing.
        s.app
            .say(&s.conversation, &s.client, "And another", "message")
            .await;
        assert_eq!(events(&s.app, &s.conversation).await.len(), 2);
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn an_agent_reply_makes_the_conversation_pending_and_notes_change_nothing() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.app
            .say(&s.conversation, &s.agent, "internal thought", "note")
            .await;
        assert_eq!(status_of(&s.app, &s.conversation).await, "open");
        assert!(events(&s.app, &s.conversation).await.is_empty());

        s.app
            .say(&s.conversation, &s.agent, "Here is the answer", "message")
            .await;
        assert_eq!(status_of(&s.app, &s.conversation).await, "pending");
        s.app
            .say(&s.conversation, &s.agent, "another note", "note")
            .await;
        s.app
            .say(&s.conversation, &s.agent, "And a follow-up", "message")
            .await;
        assert_eq!(status_of(&s.app, &s.conversation).await, "pending");

        // The client answers: open again; the agent answers: pending again.
        s.app
            .say(&s.conversation, &s.client, "Thanks, but…", "message")
            .await;
        assert_eq!(status_of(&s.app, &s.conversation).await, "open");
        s.app
            .say(&s.conversation, &s.agent, "Let me check", "message")
            .await;
        assert_eq!(status_of(&s.app, &s.conversation).await, "pending");

        // An agent writing in a closed conversation makes it pending too; a note does not.
        patch_ok(&s.app, &s.conversation, json!({"status": "closed"})).await;
        s.app.say(&s.conversation, &s.agent, "fyi", "note").await;
        assert_eq!(status_of(&s.app, &s.conversation).await, "closed");
        s.app
            .say(&s.conversation, &s.agent, "One last thing", "message")
            .await;
        assert_eq!(status_of(&s.app, &s.conversation).await, "pending");

        let history = events(&s.app, &s.conversation).await;
        let changes: Vec<(String, String, Value)> = history
            .iter()
            .map(|e| {
                (
                    e["data"]["from"].as_str().unwrap().to_string(),
                    e["data"]["to"].as_str().unwrap().to_string(),
                    e["actor_id"].clone(),
                )
            })
            .collect();
        let agent = json!(s.agent);
        let client = json!(s.client);
        assert_eq!(
            changes,
            [
                ("open".into(), "pending".into(), agent.clone()),
                ("pending".into(), "open".into(), client),
                ("open".into(), "pending".into(), agent.clone()),
                ("pending".into(), "closed".into(), Value::Null),
                ("closed".into(), "pending".into(), agent),
            ]
        );
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_client_reply_by_email_reopens_the_conversation_in_the_same_transaction() {
    for db in test_databases().await {
        let (store, _clock, agent, client) = clocked(&db).await;
        let c = store
            .create_conversation("Invoice", &agent, std::slice::from_ref(&client))
            .await
            .unwrap();
        store
            .append_message(message(&c.id, &agent, MessageKind::Message))
            .await
            .unwrap();
        assert_eq!(status(&store, &c.id).await, ConversationStatus::Pending);

        let mut reply = message(&c.id, &client, MessageKind::Message);
        reply.source = Source::Email;
        reply.email_message_id = Some("<r1@client.test>".into());
        let record = InboundRecord {
            envelope_from: "carl@client.test".into(),
            recipients: vec!["reply+x@reply.test".into()],
            message_id: Some("<r1@client.test>".into()),
            outcome: InboundOutcome::Posted,
            conversation_id: Some(c.id.clone()),
            detail: String::new(),
            peer: "127.0.0.1:1".into(),
            auth_results: None,
            awaiting: None,
        };
        let stored = store
            .record_inbound(record.clone(), b"raw", Some(&reply))
            .await
            .unwrap();
        assert_eq!(stored.outcome, InboundOutcome::Posted);
        assert_eq!(status(&store, &c.id).await, ConversationStatus::Open);

        // The same email again is a duplicate: no second transition.
        let again = store
            .record_inbound(record, b"raw", Some(&reply))
            .await
            .unwrap();
        assert_eq!(again.outcome, InboundOutcome::Duplicate);
        assert_eq!(
            event_kinds(&store, &c.id).await,
            ["status_changed", "status_changed"]
        );
        store.close().await;
        db.cleanup().await;
    }
}

// ---- PATCH ----------------------------------------------------------------------------------

#[tokio::test]
async fn patch_sets_the_status_and_assigns_and_unassigns_an_internal_user() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let bea = s.app.person("bea@team.test", "Bea Agent", "internal").await;
        let created = s
            .app
            .get(&format!("/conversations/{}", s.conversation))
            .await
            .1;
        assert_eq!(created["status"], "open");
        assert_eq!(created["assignee_id"], Value::Null);
        assert_eq!(created["snoozed_until"], Value::Null);

        let c = patch_ok(
            &s.app,
            &s.conversation,
            json!({"status": "pending", "actor_id": s.agent}),
        )
        .await;
        assert_eq!(c["status"], "pending");
        assert_eq!(c["id"], json!(s.conversation));
        assert!(c["participants"].is_array());

        let c = patch_ok(
            &s.app,
            &s.conversation,
            json!({"assignee_id": s.agent, "actor_id": s.agent}),
        )
        .await;
        assert_eq!(c["assignee_id"], json!(s.agent));
        assert_eq!(c["status"], "pending", "an absent status stays as it is");

        // Reassigning, then unassigning with an explicit null.
        let c = patch_ok(&s.app, &s.conversation, json!({"assignee_id": bea})).await;
        assert_eq!(c["assignee_id"], json!(bea));
        let c = patch_ok(
            &s.app,
            &s.conversation,
            json!({"assignee_id": null, "actor_id": bea}),
        )
        .await;
        assert_eq!(c["assignee_id"], Value::Null);

        // Both at once, and a request that changes nothing records nothing.
        let c = patch_ok(
            &s.app,
            &s.conversation,
            json!({"status": "closed", "assignee_id": bea}),
        )
        .await;
        assert_eq!(
            (c["status"].as_str(), &c["assignee_id"]),
            (Some("closed"), &json!(bea))
        );
        let before = events(&s.app, &s.conversation).await.len();
        patch_ok(
            &s.app,
            &s.conversation,
            json!({"status": "closed", "assignee_id": bea}),
        )
        .await;
        patch_ok(&s.app, &s.conversation, json!({})).await;
        assert_eq!(events(&s.app, &s.conversation).await.len(), before);

        let got = s
            .app
            .get(&format!("/conversations/{}", s.conversation))
            .await
            .1;
        assert_eq!(got["status"], "closed");
        assert_eq!(got["assignee_id"], json!(bea));

        let history = events(&s.app, &s.conversation).await;
        assert_eq!(
            kinds(&history),
            [
                "status_changed",
                "assigned",
                "assigned",
                "participant_added",
                "unassigned",
                "status_changed",
                "assigned"
            ]
        );
        assert_eq!(
            history[3]["data"],
            json!({"person_id": bea}),
            "the assignee takes part"
        );
        assert_eq!(
            history[1]["data"],
            json!({"assignee_id": s.agent, "previous_assignee_id": null})
        );
        assert_eq!(
            history[2]["data"],
            json!({"assignee_id": bea, "previous_assignee_id": s.agent})
        );
        assert_eq!(history[2]["actor_id"], Value::Null);
        assert_eq!(history[4]["data"], json!({"assignee_id": bea}));
        assert_eq!(history[4]["actor_id"], json!(bea));
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn snoozing_remembers_the_status_to_wake_to_and_a_client_message_ends_it() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.app
            .say(&s.conversation, &s.agent, "Answer", "message")
            .await;
        let until = chrono::Utc::now() + chrono::Duration::days(2);
        let until_text = until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let c = patch_ok(
            &s.app,
            &s.conversation,
            json!({"snoozed_until": until_text, "actor_id": s.agent}),
        )
        .await;
        assert_eq!(c["status"], "snoozed");
        assert_eq!(c["snoozed_until"], json!(until_text));

        // Snoozing again (with `status` too) moves the time; it still wakes to `pending`.
        let later = (until + chrono::Duration::days(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let c = patch_ok(
            &s.app,
            &s.conversation,
            json!({"status": "snoozed", "snoozed_until": later}),
        )
        .await;
        assert_eq!(c["snoozed_until"], json!(later));

        // An agent message leaves it snoozed; a client message opens it.
        s.app
            .say(&s.conversation, &s.agent, "Reminder", "message")
            .await;
        assert_eq!(status_of(&s.app, &s.conversation).await, "snoozed");
        s.app
            .say(&s.conversation, &s.client, "I'm back", "message")
            .await;
        let c = s
            .app
            .get(&format!("/conversations/{}", s.conversation))
            .await
            .1;
        assert_eq!(c["status"], "open");
        assert_eq!(c["snoozed_until"], Value::Null);

        let history = events(&s.app, &s.conversation).await;
        assert_eq!(
            kinds(&history),
            ["status_changed", "snoozed", "snoozed", "status_changed"]
        );
        assert_eq!(
            history[1]["data"],
            json!({"from": "pending", "until": until_text, "wake_to": "pending"})
        );
        assert_eq!(
            history[2]["data"],
            json!({"from": "snoozed", "until": later, "wake_to": "pending"})
        );
        assert_eq!(
            without_message(&history[3]["data"]),
            json!({"from": "snoozed", "to": "open"})
        );

        // Setting a status by hand ends a snooze too.
        patch_ok(&s.app, &s.conversation, json!({"snoozed_until": later})).await;
        let c = patch_ok(&s.app, &s.conversation, json!({"status": "pending"})).await;
        assert_eq!(
            (c["status"].as_str(), &c["snoozed_until"]),
            (Some("pending"), &Value::Null)
        );
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn patch_rejects_bad_values_with_a_json_4xx_and_changes_nothing() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let (app, cnv) = (&s.app, s.conversation.as_str());
        let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
        let future = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();

        let cases: Vec<(Value, u16, &str)> = vec![
            (json!({"status": "archived"}), 422, "invalid_request"),
            (json!({"status": 5}), 422, "bad_json"),
            (json!({"stauts": "closed"}), 422, "bad_json"),
            (
                json!({"assignee_id": s.client}),
                422,
                "assignee_not_internal",
            ),
            (json!({"assignee_id": "per_nobody"}), 404, "not_found"),
            (json!({"assignee_id": ""}), 422, "invalid_request"),
            (
                json!({"status": "closed", "actor_id": "per_nobody"}),
                404,
                "not_found",
            ),
            (
                json!({"status": "closed", "actor_id": s.client}),
                422,
                "actor_not_internal",
            ),
            (json!({"snoozed_until": past}), 422, "invalid_request"),
            (
                json!({"snoozed_until": "next tuesday"}),
                422,
                "invalid_request",
            ),
            (json!({"snoozed_until": 1_900_000_000}), 422, "bad_json"),
            (json!({"status": "snoozed"}), 422, "invalid_request"),
            (
                json!({"status": "closed", "snoozed_until": future}),
                422,
                "invalid_request",
            ),
        ];
        for (body, want_status, want_code) in cases {
            let (status, value) = patch(app, cnv, body.clone()).await;
            assert_eq!(
                (status, code(&value)),
                (want_status, want_code),
                "{body}: {value}"
            );
        }
        let (status, value) = send(
            app,
            "PATCH",
            &format!("/conversations/{cnv}"),
            Some("{nope"),
        )
        .await;
        assert_eq!((status, code(&value)), (400, "bad_json"));
        let (status, value) = patch(app, "cnv_missing", json!({"status": "closed"})).await;
        assert_eq!((status, code(&value)), (404, "not_found"));
        let (status, value) = app.get("/conversations/cnv_missing/events").await;
        assert_eq!((status, code(&value)), (404, "not_found"));

        let c = app.get(&format!("/conversations/{cnv}")).await.1;
        assert_eq!(c["status"], "open");
        assert_eq!(c["assignee_id"], Value::Null);
        assert!(events(app, cnv).await.is_empty());
        s.app.stop().await;
        db.cleanup().await;
    }
}

// ---- events and soft delete -----------------------------------------------------------------

#[tokio::test]
async fn the_events_list_tells_every_change_with_its_actor_oldest_first() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let (app, cnv) = (&s.app, s.conversation.as_str());
        let dora = app
            .person("dora@client.test", "Dora Client", "client")
            .await;

        let (status, body) = app
            .post(
                &format!("/conversations/{cnv}/participants"),
                json!({"person_id": dora, "actor_id": s.agent}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        patch_ok(
            app,
            cnv,
            json!({"assignee_id": s.agent, "actor_id": s.agent}),
        )
        .await;
        app.say(cnv, &s.agent, "Welcome", "message").await;
        let hello = app.say(cnv, &dora, "Hello!", "message").await;
        let (status, body) = send(
            app,
            "DELETE",
            &format!("/messages/{hello}"),
            Some(&json!({"actor_id": s.agent}).to_string()),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, _) = send(
            app,
            "DELETE",
            &format!(
                "/conversations/{cnv}/participants/{dora}?actor_id={}",
                s.agent
            ),
            None,
        )
        .await;
        assert_eq!(status, 204);
        // Added without naming anyone: recorded with no actor.
        let (status, _) = app
            .post(
                &format!("/conversations/{cnv}/participants"),
                json!({"person_id": dora}),
            )
            .await;
        assert_eq!(status, 201);
        patch_ok(app, cnv, json!({"status": "closed", "actor_id": s.agent})).await;

        let history = events(app, cnv).await;
        assert_eq!(
            kinds(&history),
            [
                "participant_added",
                "assigned",
                "status_changed",
                "status_changed",
                "message_deleted",
                "participant_removed",
                "participant_added",
                "status_changed",
            ]
        );
        let actors: Vec<Value> = history.iter().map(|e| e["actor_id"].clone()).collect();
        let (agent, dora_id) = (json!(s.agent), json!(dora));
        assert_eq!(
            actors,
            [
                agent.clone(),
                agent.clone(),
                agent.clone(),
                dora_id.clone(),
                agent.clone(),
                agent.clone(),
                Value::Null,
                agent,
            ]
        );
        assert_eq!(history[0]["data"], json!({"person_id": dora}));
        assert_eq!(history[4]["data"], json!({"message_id": hello}));
        assert_eq!(history[5]["data"], json!({"person_id": dora}));
        for e in &history {
            assert!(e["id"].as_str().unwrap().starts_with("evt_"), "{e}");
            assert!(e["created_at"].as_str().unwrap().ends_with('Z'), "{e}");
        }

        // Participant routes check their actor like PATCH does.
        let (status, body) = app
            .post(
                &format!("/conversations/{cnv}/participants"),
                json!({"person_id": s.client, "actor_id": "per_nobody"}),
            )
            .await;
        assert_eq!((status, code(&body)), (404, "not_found"));
        let (status, body) = send(
            app,
            "DELETE",
            &format!(
                "/conversations/{cnv}/participants/{dora}?actor_id={}",
                s.client
            ),
            None,
        )
        .await;
        assert_eq!((status, code(&body)), (422, "actor_not_internal"));
        assert_eq!(events(app, cnv).await.len(), history.len());
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_deleted_message_stays_in_the_history_marked_deleted_with_an_event() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let (app, cnv) = (&s.app, s.conversation.as_str());
        let keep = app.say(cnv, &s.client, "Keep me", "message").await;
        let oops = app
            .say(cnv, &s.client, "Oops, my password", "message")
            .await;
        let status_before = status_of(app, cnv).await;

        let (status, body) = send(
            app,
            "DELETE",
            &format!("/messages/{oops}"),
            Some(&json!({"actor_id": s.agent}).to_string()),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["deleted"], true);
        assert_eq!(body["deleted_by"], json!(s.agent));
        assert_eq!(body["conversation_id"], json!(cnv));

        let messages = app.messages(cnv).await;
        assert_eq!(messages.len(), 2, "a soft-deleted message stays listed");
        let kept = messages.iter().find(|m| m["id"] == json!(keep)).unwrap();
        assert_eq!(kept["deleted"], false);
        assert_eq!(kept["deleted_at"], Value::Null);
        let deleted = messages.iter().find(|m| m["id"] == json!(oops)).unwrap();
        assert_eq!(deleted["deleted"], true);
        assert_eq!(deleted["deleted_at"], body["deleted_at"]);
        assert_eq!(deleted["deleted_by"], json!(s.agent));
        assert_eq!(
            deleted["body_text"], "Oops, my password",
            "admins still see it"
        );

        // Twice: 409, and the first deletion stays. Unknown: 404.
        let (status, body) = send(app, "DELETE", &format!("/messages/{oops}"), None).await;
        assert_eq!((status, code(&body)), (409, "conflict"));
        let (status, body) = send(app, "DELETE", "/messages/msg_missing", None).await;
        assert_eq!((status, code(&body)), (404, "not_found"));
        let (status, body) = send(app, "DELETE", &format!("/messages/{keep}"), Some("{nope")).await;
        assert_eq!((status, code(&body)), (400, "bad_json"));
        let (status, body) = send(
            app,
            "DELETE",
            &format!("/messages/{keep}?actor_id=per_nobody"),
            None,
        )
        .await;
        assert_eq!((status, code(&body)), (404, "not_found"));

        // The actor may also come in the query.
        let (status, body) = send(
            app,
            "DELETE",
            &format!("/messages/{keep}?actor_id={}", s.client),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["deleted_by"], json!(s.client));

        let history = events(app, cnv).await;
        assert_eq!(kinds(&history), ["message_deleted", "message_deleted"]);
        assert_eq!(history[0]["data"], json!({"message_id": oops}));
        assert_eq!(history[0]["actor_id"], json!(s.agent));
        assert_eq!(history[1]["data"], json!({"message_id": keep}));
        assert_eq!(
            status_of(app, cnv).await,
            status_before,
            "deleting changes no status"
        );
        s.app.stop().await;
        db.cleanup().await;
    }
}

// ---- the scheduler step ---------------------------------------------------------------------

#[tokio::test]
async fn conversations_without_activity_for_30_days_close_themselves() {
    for db in test_databases().await {
        let (store, clock, agent, client) = clocked(&db).await;
        let step = Lifecycle::new(store.clone(), THIRTY_DAYS);
        let clients = std::slice::from_ref(&client);
        let open = store
            .create_conversation("Open", &agent, clients)
            .await
            .unwrap();
        store
            .append_message(message(&open.id, &client, MessageKind::Message))
            .await
            .unwrap();
        let pending = store
            .create_conversation("Pending", &agent, clients)
            .await
            .unwrap();
        let closed = store
            .create_conversation("Closed", &agent, clients)
            .await
            .unwrap();
        store
            .change_lifecycle(
                &closed.id,
                &LifecycleChange {
                    status: Some(StatusChange::To(ConversationStatus::Closed)),
                    ..LifecycleChange::default()
                },
            )
            .await
            .unwrap();
        // A note is activity too.
        let noted = store
            .create_conversation("Noted", &agent, clients)
            .await
            .unwrap();

        clock.advance(10 * DAY);
        store
            .append_message(message(&pending.id, &agent, MessageKind::Message))
            .await
            .unwrap();
        clock.advance(15 * DAY);
        store
            .append_message(message(&noted.id, &agent, MessageKind::Note))
            .await
            .unwrap();

        // Day 30 minus a second: nothing yet.
        clock.advance(5 * DAY - Duration::from_secs(1));
        assert_eq!(step.run_once().await.unwrap(), LifecycleRun::default());
        assert_eq!(status(&store, &open.id).await, ConversationStatus::Open);

        clock.advance(Duration::from_secs(1));
        let run = step.run_once().await.unwrap();
        assert_eq!(
            run,
            LifecycleRun {
                woken: 0,
                auto_closed: 1
            }
        );
        assert_eq!(status(&store, &open.id).await, ConversationStatus::Closed);
        let history = store.conversation_events(&open.id).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].kind, "auto_closed");
        assert_eq!(history[0].actor_id, None);
        assert_eq!(history[0].data["from"], "open");
        assert_eq!(history[0].data["to"], "closed");
        assert_eq!(history[0].created_at, clock.now_millis());
        assert_eq!(step.run_once().await.unwrap(), LifecycleRun::default());

        clock.advance(10 * DAY);
        assert_eq!(step.run_once().await.unwrap().auto_closed, 1);
        assert_eq!(
            status(&store, &pending.id).await,
            ConversationStatus::Closed
        );
        assert_eq!(
            event_kinds(&store, &pending.id).await,
            ["status_changed", "auto_closed"]
        );
        assert_eq!(event_kinds(&store, &closed.id).await, ["status_changed"]);

        clock.advance(15 * DAY);
        assert_eq!(step.run_once().await.unwrap().auto_closed, 1);
        assert_eq!(status(&store, &noted.id).await, ConversationStatus::Closed);

        // Reopening by hand restarts the clock: not closed again at the next tick.
        store
            .change_lifecycle(
                &open.id,
                &LifecycleChange {
                    status: Some(StatusChange::To(ConversationStatus::Open)),
                    ..LifecycleChange::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(step.run_once().await.unwrap(), LifecycleRun::default());
        assert_eq!(status(&store, &open.id).await, ConversationStatus::Open);
        clock.advance(THIRTY_DAYS);
        assert_eq!(step.run_once().await.unwrap().auto_closed, 1);

        // The period is the step's setting (`--auto-close-after`).
        let quick = Lifecycle::new(store.clone(), 2 * HOUR);
        let fresh = store
            .create_conversation("Fresh", &agent, clients)
            .await
            .unwrap();
        clock.advance(2 * HOUR);
        assert_eq!(quick.run_once().await.unwrap().auto_closed, 1);
        assert_eq!(status(&store, &fresh.id).await, ConversationStatus::Closed);
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn snoozed_conversations_wake_up_on_time_to_the_status_they_had() {
    for db in test_databases().await {
        let (store, clock, agent, client) = clocked(&db).await;
        let step = Lifecycle::new(store.clone(), THIRTY_DAYS);
        let clients = std::slice::from_ref(&client);

        let pending = store
            .create_conversation("Pending", &agent, clients)
            .await
            .unwrap();
        store
            .append_message(message(&pending.id, &agent, MessageKind::Message))
            .await
            .unwrap();
        snooze(&store, &pending.id, START + 2 * 3_600_000).await;
        assert_eq!(
            status(&store, &pending.id).await,
            ConversationStatus::Snoozed
        );

        // Open when snoozed; an agent writes meanwhile: it wakes up pending.
        let answered = store
            .create_conversation("Answered", &agent, clients)
            .await
            .unwrap();
        snooze(&store, &answered.id, START + 2 * 3_600_000).await;
        store
            .append_message(message(&answered.id, &agent, MessageKind::Message))
            .await
            .unwrap();
        assert_eq!(
            status(&store, &answered.id).await,
            ConversationStatus::Snoozed
        );

        // Snoozed for longer than the auto-close period.
        let long = store
            .create_conversation("Long", &agent, clients)
            .await
            .unwrap();
        snooze(&store, &long.id, START + 40 * 24 * 3_600_000).await;

        clock.advance(2 * HOUR - Duration::from_millis(1));
        assert_eq!(step.run_once().await.unwrap(), LifecycleRun::default());
        clock.advance(Duration::from_millis(1));
        let run = step.run_once().await.unwrap();
        assert_eq!(
            run,
            LifecycleRun {
                woken: 2,
                auto_closed: 0
            }
        );
        let woke = store.conversation(&pending.id).await.unwrap().unwrap();
        assert_eq!(woke.status, ConversationStatus::Pending);
        assert_eq!(woke.snoozed_until, None);
        assert_eq!(
            status(&store, &answered.id).await,
            ConversationStatus::Pending
        );
        let history = store.conversation_events(&pending.id).await.unwrap();
        let last = history.last().unwrap();
        assert_eq!(last.kind, "woke_up");
        assert_eq!(last.actor_id, None);
        assert_eq!(last.data, json!({"from": "snoozed", "to": "pending"}));
        assert_eq!(
            event_kinds(&store, &pending.id).await,
            ["status_changed", "snoozed", "woke_up"]
        );

        // A snoozed conversation is never auto-closed; it wakes (to open), and its 30 days
        // start then.
        clock.advance(31 * DAY);
        let run = step.run_once().await.unwrap();
        assert_eq!(run.auto_closed, 2, "the two woken ones, idle for 31 days");
        assert_eq!(status(&store, &long.id).await, ConversationStatus::Snoozed);
        clock.advance(9 * DAY);
        assert_eq!(
            step.run_once().await.unwrap(),
            LifecycleRun {
                woken: 1,
                auto_closed: 0
            }
        );
        assert_eq!(status(&store, &long.id).await, ConversationStatus::Open);
        clock.advance(THIRTY_DAYS);
        assert_eq!(step.run_once().await.unwrap().auto_closed, 1);
        assert_eq!(
            event_kinds(&store, &long.id).await,
            ["snoozed", "woke_up", "auto_closed"]
        );
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_lifecycle_steps_racing_make_each_transition_once() {
    for db in test_databases().await {
        let (store, clock, agent, client) = clocked(&db).await;
        // A second process: its own connections to the same database, the same time.
        let other = store_with_clock(&db, Arc::new(clock.clone())).await;
        let clients = std::slice::from_ref(&client);
        let mut to_close = Vec::new();
        let mut to_wake = Vec::new();
        for i in 0..20 {
            let c = store
                .create_conversation(&format!("c{i}"), &agent, clients)
                .await
                .unwrap();
            if i % 2 == 0 {
                to_close.push(c.id);
            } else {
                snooze(&store, &c.id, START + 3_600_000).await;
                to_wake.push(c.id);
            }
        }
        clock.advance(THIRTY_DAYS);

        for round in 0..3 {
            let a = Lifecycle::new(store.clone(), THIRTY_DAYS);
            let b = Lifecycle::new(other.clone(), THIRTY_DAYS);
            let (ra, rb) = tokio::join!(
                tokio::spawn(async move { a.run_once().await.unwrap() }),
                tokio::spawn(async move { b.run_once().await.unwrap() }),
            );
            let (ra, rb) = (ra.unwrap(), rb.unwrap());
            // Both steps may run a round in either order; together they do everything due
            // in the first round and nothing after.
            if round == 0 {
                assert_eq!(ra.woken + rb.woken, 10, "{ra:?} {rb:?}");
                assert_eq!(ra.auto_closed + rb.auto_closed, 10, "{ra:?} {rb:?}");
            } else {
                assert_eq!((ra, rb), (LifecycleRun::default(), LifecycleRun::default()));
            }
        }
        for id in &to_close {
            assert_eq!(status(&store, id).await, ConversationStatus::Closed);
            assert_eq!(event_kinds(&store, id).await, ["auto_closed"]);
        }
        for id in &to_wake {
            assert_eq!(status(&store, id).await, ConversationStatus::Open);
            assert_eq!(event_kinds(&store, id).await, ["snoozed", "woke_up"]);
        }
        other.close().await;
        store.close().await;
        db.cleanup().await;
    }
}

/// An automatic status change's data without the id of the message that made it (checked to
/// be there).
fn without_message(data: &Value) -> Value {
    let mut data = data.clone();
    let id = data
        .as_object_mut()
        .and_then(|d| d.remove("message_id"))
        .unwrap_or_else(|| panic!("no message_id in {data}"));
    assert!(id.as_str().is_some_and(|id| id.starts_with("msg_")), "{id}");
    data
}
