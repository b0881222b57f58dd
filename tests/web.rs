//! The web view over HTTP: sign-in (magic links, codes, admin token), sessions and their
//! revocation, CSRF, and every authorization rule (client vs agent vs admin vs stranger), on
//! every backend. The browser suite (`tests/browser.rs`) drives the same pages in Chromium.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::web::{Browser, code_in, magic_link, sign_in_by_code};
use support::*;
use threadgate::domain::ManualClock;

const AGENT: &str = "agnes@team.test";
const CLIENT: &str = "carl@client.test";
const OTHER: &str = "olga@other.test";

struct Scene {
    app: TestApp,
    agent: String,
    client: String,
    other: String,
    conversation: String,
}

/// An agent, a client in a conversation with them (with one message from the agent, so the
/// client has a sign-in link), and another client who is not in it.
async fn scene(db: &TestDb) -> Scene {
    scene_on(spawn_app(db, &[]).await).await
}

async fn scene_on(app: TestApp) -> Scene {
    let agent = app.person(AGENT, "Agnes Agent", "internal").await;
    let client = app.person(CLIENT, "Carl Client", "client").await;
    let other = app.person(OTHER, "Olga Other", "client").await;
    let conversation = app.conversation("Your order", &agent, &[&client]).await;
    app.say(
        &conversation,
        &agent,
        "Hello Carl, your order shipped.",
        "message",
    )
    .await;
    app.wait_for_emails(CLIENT, 1).await;
    Scene {
        app,
        agent,
        client,
        other,
        conversation,
    }
}

/// A browser signed in as `email` through the link of the latest email they got.
async fn signed_in(app: &TestApp, email: &str) -> Browser {
    let latest = app.wait_for_emails(email, 1).await.pop().unwrap();
    let mut browser = Browser::new(app);
    browser.sign_in_with(&magic_link(&latest)).await;
    browser
}

/// The agent gets an email (and so a sign-in link) once the client writes.
async fn agent_browser(s: &Scene) -> Browser {
    s.app
        .say(
            &s.conversation,
            &s.client,
            "Thanks, when will it arrive?",
            "message",
        )
        .await;
    signed_in(&s.app, AGENT).await
}

#[tokio::test]
async fn a_magic_link_signs_its_recipient_in_opens_the_conversation_and_verifies_the_address() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let email = s.app.wait_for_emails(CLIENT, 1).await.remove(0);
        let link = magic_link(&email);
        assert!(link.contains(&format!("/m/{}.", s.conversation)), "{link}");
        assert!(email.html.contains(&link), "the HTML part links too");

        let mut browser = Browser::new(&s.app);
        let page = browser.sign_in_with(&link).await;
        assert_eq!(
            page.location(),
            Some(format!("/c/{}#unread", s.conversation).as_str())
        );
        let cookie = page
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("tg_session="))
            .unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        assert!(
            !cookie.contains("Secure"),
            "plain http test server: {cookie}"
        );
        assert_eq!(page.headers["referrer-policy"], "no-referrer");

        let page = browser.get(&format!("/c/{}", s.conversation)).await;
        assert_eq!(page.status, 200, "{}", db.backend);
        assert!(page.body.contains("Hello Carl, your order shipped."));
        // Who is signed in shows in the header, not only on hover, beside their settings.
        assert!(page.body.contains("<a href=\"/settings\">Settings</a>"));
        assert!(
            page.body.contains(
                "<span class=\"who\"><span class=\"visually-hidden\">Signed in as </span>Carl Client</span>"
            ),
            "{}",
            page.body
        );
        assert!(
            page.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'none'")
        );
        let (_, person) = s.app.get(&format!("/people/{}", s.client)).await;
        assert_eq!(person["verified"], true, "{person}");

        // A second click reuses the session.
        let again = browser.get(&link).await;
        assert_eq!(again.status, 303);
        assert!(
            again
                .set_cookies()
                .iter()
                .all(|c| !c.starts_with("tg_session="))
        );
        // Anywhere else, the used link opens nothing: the page points to sign-in by code,
        // then on to the conversation.
        let mut elsewhere = Browser::new(&s.app);
        let page = elsewhere.get(&link).await;
        assert_eq!(page.status, 410);
        assert!(page.body.contains("already been used"), "{}", page.body);
        assert!(page.body.contains(&format!(
            "href=\"/login?next=/c/{}%23unread\"",
            s.conversation
        )));
        assert!(elsewhere.session().is_none());
        s.app.stop().await;
    }
}

#[tokio::test]
async fn tampered_and_expired_magic_links_open_no_session() {
    for db in test_databases().await {
        let clock = ManualClock::at(1_800_000_000_000);
        let app = spawn_app_with_clock(&db, &[], Arc::new(clock.clone())).await;
        let s = scene_on(app).await;
        let link = magic_link(&s.app.wait_for_emails(CLIENT, 1).await.remove(0));
        // The token without the link's `#unread` (a fragment never reaches the server).
        let (base, token) = link.split('#').next().unwrap().split_once("/m/").unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut last = parts[3].to_string();
        let flipped = if last.ends_with('a') { 'b' } else { 'a' };
        last.pop();
        last.push(flipped);
        let forged = [
            format!("{base}/m/{}.{}.{}.{last}", parts[0], parts[1], parts[2]),
            format!(
                "{base}/m/{}.{}.{}.{}",
                parts[0], s.other, parts[2], parts[3]
            ),
            format!("{base}/m/{}.{}.9999999999.{}", parts[0], parts[1], parts[3]),
            format!("{base}/m/garbage"),
            format!("{base}/m/{}", "x".repeat(5000)),
        ];
        for link in &forged {
            let mut browser = Browser::new(&s.app);
            let page = browser.get(link).await;
            // A token that cannot even be an id is a plain 404; the others get the page that
            // offers to sign in by code.
            assert!(
                page.status == 400 || page.status == 404,
                "{}: {}",
                page.status,
                db.backend
            );
            assert!(browser.session().is_none());
            assert!(page.status == 404 || page.body.contains("does not work any more"));
        }
        clock.advance(Duration::from_secs(15 * 24 * 3600));
        let mut browser = Browser::new(&s.app);
        let page = browser.get(&link).await;
        assert_eq!(page.status, 400, "expired after 14 days");
        assert!(browser.session().is_none());
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_client_never_sees_notes_participants_other_addresses_or_deleted_content() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let second = s
            .app
            .person("dora@client.test", "Dora Second", "client")
            .await;
        s.app
            .post(
                &format!("/conversations/{}/participants", s.conversation),
                json!({"person_id": second}),
            )
            .await;
        s.app
            .say(
                &s.conversation,
                &s.agent,
                "Internal: refund approved",
                "note",
            )
            .await;
        let gone = s
            .app
            .say(
                &s.conversation,
                &s.agent,
                "Wrong customer, sorry",
                "message",
            )
            .await;
        let response = s
            .app
            .http_client
            .delete(s.app.url(&format!("/messages/{gone}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);

        let mut client = signed_in(&s.app, CLIENT).await;
        let page = client.get(&format!("/c/{}", s.conversation)).await;
        assert_eq!(page.status, 200);
        for hidden in [
            "Internal: refund approved",
            "Internal note",
            "Wrong customer",
            "dora@client.test",
            AGENT,
            "Participants",
            "/participants",
            "/status",
            "/delete",
            "View original",
        ] {
            assert!(
                !page.body.contains(hidden),
                "client sees {hidden:?} ({})",
                db.backend
            );
        }
        assert!(page.body.contains("Message deleted"));
        assert!(
            page.body.contains("Agnes Agent"),
            "authors' names are shown"
        );

        let mut agent = agent_browser(&s).await;
        let page = agent.get(&format!("/c/{}", s.conversation)).await;
        for shown in [
            "Internal: refund approved",
            "Internal note",
            "Wrong customer",
            "dora@client.test",
            CLIENT,
            "Participants",
        ] {
            assert!(page.body.contains(shown), "agent misses {shown:?}");
        }
        assert!(
            page.body.contains("class=\"message deleted"),
            "deleted content is marked"
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn strangers_and_the_signed_out_can_neither_see_nor_act() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let path = format!("/c/{}", s.conversation);

        let mut anonymous = Browser::new(&s.app);
        let page = anonymous.get(&path).await;
        assert_eq!(page.status, 303);
        assert_eq!(
            page.location(),
            Some(format!("/login?next=/c/{}", s.conversation).as_str())
        );
        for action in ["messages", "status", "assign", "participants", "mute"] {
            let page = anonymous
                .post(
                    &format!("{path}/{action}"),
                    &[("csrf", "x"), ("body", "hi")],
                )
                .await;
            assert_eq!(page.status, 403, "{action} without a session");
        }
        assert_eq!(anonymous.get("/").await.status, 303);
        assert_eq!(anonymous.get("/settings").await.status, 303);

        // Olga signs in (by code) but takes no part in the conversation.
        let mut olga = sign_in_by_code(&s.app, OTHER).await;
        let page = olga.get(&path).await;
        assert_eq!(page.status, 404, "{}", db.backend);
        assert!(!page.body.contains("Your order"));
        let csrf = olga.get("/").await.csrf();
        let page = olga
            .post(
                &format!("{path}/messages"),
                &[("csrf", &csrf), ("body", "intrusion")],
            )
            .await;
        assert_eq!(page.status, 404);
        let page = olga
            .post(&format!("{path}/mute"), &[("csrf", &csrf), ("muted", "1")])
            .await;
        assert_eq!(page.status, 404);
        assert!(!olga.get("/").await.body.contains("Your order"));
        let messages = s.app.messages(&s.conversation).await;
        assert!(messages.iter().all(|m| m["body_text"] != "intrusion"));
        assert_eq!(olga.get("/c/cnv_doesnotexist00").await.status, 404);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn clients_write_messages_but_never_notes_nor_manage_the_conversation() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let path = format!("/c/{}", s.conversation);
        let mut client = signed_in(&s.app, CLIENT).await;
        let page = client
            .submit(
                &path,
                &format!("{path}/messages"),
                &[("body", "It arrived, thanks!")],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = client
            .submit(
                &path,
                &format!("{path}/messages"),
                &[("body", "sneaky"), ("kind", "note")],
            )
            .await;
        assert_eq!(page.status, 403);
        let first = s.app.messages(&s.conversation).await[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        for (action, form) in [
            ("status", vec![("status", "closed")]),
            ("snooze", vec![("duration", "1d")]),
            ("assign", vec![("assignee", s.agent.as_str())]),
            ("participants", vec![("email", "mallory@evil.test")]),
            (&*format!("participants/{}/remove", s.agent), vec![]),
            (&*format!("messages/{first}/delete"), vec![]),
        ] {
            let page = client
                .submit(&path, &format!("{path}/{action}"), &form)
                .await;
            assert_eq!(page.status, 403, "client {action} ({})", db.backend);
        }
        let messages = s.app.messages(&s.conversation).await;
        let bodies: Vec<&str> = messages
            .iter()
            .map(|m| m["body_text"].as_str().unwrap())
            .collect();
        assert_eq!(
            bodies,
            ["Hello Carl, your order shipped.", "It arrived, thanks!"]
        );
        assert_eq!(messages[1]["source"], "web");
        let (_, conversation) = s
            .app
            .get(&format!("/conversations/{}", s.conversation))
            .await;
        assert_eq!(
            conversation["status"], "open",
            "the client's message reopened it"
        );
        assert_eq!(conversation["participants"].as_array().unwrap().len(), 2);
        assert!(conversation["assignee_id"].is_null());
        s.app.stop().await;
    }
}

#[tokio::test]
async fn agents_manage_participants_status_assignment_snoozes_and_deletions() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let path = format!("/c/{}", s.conversation);
        let mut agent = agent_browser(&s).await;
        let ok = |page: &support::web::Page, what: &str| {
            assert_eq!(page.status, 303, "{what}: {}", page.body);
        };
        ok(
            &agent
                .submit(
                    &path,
                    &format!("{path}/messages"),
                    &[("body", "Refund ok"), ("kind", "note")],
                )
                .await,
            "note",
        );
        ok(
            &agent
                .submit(
                    &path,
                    &format!("{path}/participants"),
                    &[("email", "nina@new.test"), ("name", "Nina New")],
                )
                .await,
            "add",
        );
        ok(
            &agent
                .submit(&path, &format!("{path}/assign"), &[("assignee", &s.agent)])
                .await,
            "assign",
        );
        ok(
            &agent
                .submit(&path, &format!("{path}/status"), &[("status", "pending")])
                .await,
            "status",
        );
        let (_, conversation) = s
            .app
            .get(&format!("/conversations/{}", s.conversation))
            .await;
        assert_eq!(conversation["status"], "pending", "{}", db.backend);
        assert_eq!(conversation["assignee_id"], s.agent.as_str());
        let nina = conversation["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["email"] == "nina@new.test")
            .expect("new participant")
            .clone();
        assert_eq!(nina["role"], "client", "new addresses become clients");
        assert_eq!(nina["name"], "Nina New");

        ok(
            &agent
                .submit(
                    &path,
                    &format!(
                        "{path}/participants/{}/remove",
                        nina["person_id"].as_str().unwrap()
                    ),
                    &[],
                )
                .await,
            "remove",
        );
        ok(
            &agent
                .submit(&path, &format!("{path}/snooze"), &[("duration", "4h")])
                .await,
            "snooze",
        );
        let messages = s.app.messages(&s.conversation).await;
        let note = messages.iter().find(|m| m["kind"] == "note").unwrap();
        ok(
            &agent
                .submit(
                    &path,
                    &format!("{path}/messages/{}/delete", note["id"].as_str().unwrap()),
                    &[],
                )
                .await,
            "delete",
        );

        let (_, conversation) = s
            .app
            .get(&format!("/conversations/{}", s.conversation))
            .await;
        assert_eq!(conversation["status"], "snoozed");
        assert_eq!(conversation["participants"].as_array().unwrap().len(), 2);
        let messages = s.app.messages(&s.conversation).await;
        assert!(
            messages
                .iter()
                .any(|m| m["kind"] == "note" && m["deleted"] == true)
        );
        let (_, events) = s
            .app
            .get(&format!("/conversations/{}/events", s.conversation))
            .await;
        let kinds: Vec<&str> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        for kind in [
            "participant_added",
            "assigned",
            "status_changed",
            "participant_removed",
            "snoozed",
            "message_deleted",
        ] {
            assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
        }
        let page = agent.get(&path).await;
        assert!(
            page.body.contains("added Nina New") && page.body.contains("removed Nina New"),
            "events are shown"
        );

        // Bad values are 422 pages, never 500s.
        for (action, form) in [
            ("status", vec![("status", "exploded")]),
            ("snooze", vec![("duration", "forever")]),
            ("assign", vec![("assignee", s.client.as_str())]),
            ("participants", vec![("email", "not an address")]),
            ("messages", vec![("body", "   ")]),
            ("messages", vec![("body", "x"), ("kind", "shout")]),
        ] {
            let page = agent
                .submit(&path, &format!("{path}/{action}"), &form)
                .await;
            assert_eq!(page.status, 422, "{action} {form:?}: {}", page.body);
        }
        s.app.stop().await;
    }
}

#[tokio::test]
async fn ids_from_another_conversation_do_not_work_in_this_one() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let elsewhere = s.app.conversation("Elsewhere", &s.agent, &[&s.other]).await;
        let foreign = s
            .app
            .say(&elsewhere, &s.agent, "Private to Olga", "message")
            .await;
        let mut agent = agent_browser(&s).await;
        let path = format!("/c/{}", s.conversation);
        let page = agent
            .submit(&path, &format!("{path}/messages/{foreign}/delete"), &[])
            .await;
        assert_eq!(page.status, 404, "{}", db.backend);
        assert_eq!(
            agent
                .get(&format!("{path}/messages/{foreign}/original"))
                .await
                .status,
            404
        );
        let messages = s.app.messages(&elsewhere).await;
        assert_eq!(messages[0]["deleted"], false);

        // The client of this conversation cannot reach the other one at all.
        let mut client = signed_in(&s.app, CLIENT).await;
        assert_eq!(client.get(&format!("/c/{elsewhere}")).await.status, 404);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn forms_without_the_session_s_csrf_token_change_nothing() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let path = format!("/c/{}", s.conversation);
        let mut client = signed_in(&s.app, CLIENT).await;
        for csrf in ["", "wrong-token-wrong-token", "a"] {
            let page = client
                .post(
                    &format!("{path}/messages"),
                    &[("csrf", csrf), ("body", "forged")],
                )
                .await;
            assert_eq!(page.status, 403, "csrf {csrf:?} ({})", db.backend);
        }
        let page = client
            .post(&format!("{path}/messages"), &[("body", "forged")])
            .await;
        assert_eq!(page.status, 403);
        assert!(
            s.app
                .messages(&s.conversation)
                .await
                .iter()
                .all(|m| m["body_text"] != "forged")
        );
        let page = client.post("/logout", &[("csrf", "nope")]).await;
        assert_eq!(page.status, 403);
        assert_eq!(client.get(&path).await.status, 200, "still signed in");

        // Pre-sign-in forms: the token must match the visitor's own cookie.
        let mut visitor = Browser::new(&s.app);
        let page = visitor.get("/login").await;
        let csrf = page.csrf();
        let mut other = Browser::new(&s.app);
        let page = other
            .post("/login", &[("csrf", &csrf), ("email", CLIENT)])
            .await;
        assert_eq!(page.status, 403, "a token without its cookie");
        let page = visitor
            .post(
                "/login",
                &[("csrf", "forged-forged-forged"), ("email", CLIENT)],
            )
            .await;
        assert_eq!(page.status, 403);
        assert_eq!(
            outbox_emails(&s.app.outbox_dir(), CLIENT)
                .iter()
                .filter(|e| e.header("Subject").is_some_and(|s| s.contains("code")))
                .count(),
            0,
            "no code was sent"
        );
        // Not a form at all.
        let response = reqwest::Client::new()
            .post(format!("http://{}{path}/messages", s.app.http))
            .header(
                "cookie",
                format!("tg_session={}", client.session().unwrap()),
            )
            .header("content-type", "application/json")
            .body("{\"body\":\"json\"}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn signing_out_revokes_the_session_on_the_server() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let path = format!("/c/{}", s.conversation);
        let mut client = signed_in(&s.app, CLIENT).await;
        let stolen = client.session().unwrap().to_string();
        let page = client.submit(&path, "/logout", &[]).await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), Some("/login"));
        let mut thief = Browser::new(&s.app);
        thief.cookies.insert("tg_session".into(), stolen);
        assert_eq!(
            thief.get(&path).await.status,
            303,
            "a revoked cookie is no session"
        );

        let link = magic_link(&s.app.wait_for_emails(CLIENT, 1).await.remove(0));
        // An admin revokes a person's sessions through the API.
        let mut again = sign_in_by_code(&s.app, CLIENT).await;
        let response = s
            .app
            .http_client
            .delete(s.app.url(&format!("/people/{}/sessions", s.client)))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.json::<serde_json::Value>().await.unwrap()["revoked"],
            1
        );
        assert_eq!(again.get(&path).await.status, 303);
        let page = Browser::new(&s.app).get(&link).await;
        assert_eq!(
            (page.status, page.body.contains("does not work any more")),
            (400, true),
            "links emailed before the revocation stop working too ({})",
            db.backend
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn signing_in_by_code_works_and_an_unknown_address_learns_nothing() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let mut known = Browser::new(&s.app);
        let known_page = known.submit("/login", "/login", &[("email", CLIENT)]).await;
        let mut unknown = Browser::new(&s.app);
        let unknown_page = unknown
            .submit("/login", "/login", &[("email", "nobody@nowhere.test")])
            .await;
        assert_eq!(known_page.status, unknown_page.status);
        let strip = |p: &support::web::Page, email: &str| {
            p.body.replace(&p.csrf(), "CSRF").replace(email, "EMAIL")
        };
        assert_eq!(
            strip(&known_page, CLIENT),
            strip(&unknown_page, "nobody@nowhere.test"),
            "the same answer for known and unknown addresses"
        );
        assert!(outbox_emails(&s.app.outbox_dir(), "nobody@nowhere.test").is_empty());

        let code_email = s.app.wait_for_emails(CLIENT, 2).await.pop().unwrap();
        let code = code_in(&code_email);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let csrf = known_page.csrf();
        let page = known
            .post(
                "/login/code",
                &[
                    ("csrf", &csrf),
                    ("email", CLIENT),
                    ("code", wrong),
                    ("next", "/settings"),
                ],
            )
            .await;
        assert_eq!(page.status, 422, "{}", db.backend);
        let wrong_known = page
            .body
            .replace(&page.csrf(), "CSRF")
            .replace(CLIENT, "EMAIL");
        assert!(
            wrong_known.contains("That code does not work"),
            "{}",
            page.body
        );
        // The same answer for an address nobody has: attempts left would tell who is known.
        let other = unknown
            .post(
                "/login/code",
                &[
                    ("csrf", &unknown_page.csrf()),
                    ("email", "nobody@nowhere.test"),
                    ("code", wrong),
                    ("next", "/settings"),
                ],
            )
            .await;
        assert_eq!(other.status, 422);
        assert_eq!(
            other
                .body
                .replace(&other.csrf(), "CSRF")
                .replace("nobody@nowhere.test", "EMAIL"),
            wrong_known
        );
        let csrf = page.csrf();
        let page = known
            .post(
                "/login/code",
                &[
                    ("csrf", &csrf),
                    ("email", CLIENT),
                    ("code", &code),
                    ("next", "/settings"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(page.location(), Some("/settings"));
        assert!(known.get("/").await.body.contains("Your order"));
        // A code works once.
        let mut replay = Browser::new(&s.app);
        let page = replay.get("/login").await;
        let csrf = page.csrf();
        let page = replay
            .post(
                "/login/code",
                &[("csrf", &csrf), ("email", CLIENT), ("code", &code)],
            )
            .await;
        assert_eq!(page.status, 422);
        assert!(replay.session().is_none());
        // Never an open redirect.
        let page = unknown
            .post(
                "/login/code",
                &[
                    ("csrf", &unknown_page.csrf()),
                    ("email", "x@y.test"),
                    ("code", "12345"),
                ],
            )
            .await;
        assert_eq!(page.status, 422);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn an_admin_session_sees_every_conversation_and_manages_without_writing() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let elsewhere = s.app.conversation("Elsewhere", &s.agent, &[&s.other]).await;
        let mut admin = Browser::new(&s.app);
        let page = admin
            .submit("/admin", "/admin", &[("token", "wrong")])
            .await;
        assert_eq!(page.status, 401);
        assert!(admin.session().is_none());
        let page = admin
            .submit("/admin", "/admin", &[("token", ADMIN_TOKEN)])
            .await;
        assert_eq!(page.status, 303);
        let list = admin.get("/").await;
        assert!(
            list.body.contains("Your order") && list.body.contains("Elsewhere"),
            "{}",
            db.backend
        );
        let path = format!("/c/{elsewhere}");
        let page = admin
            .submit(&path, &format!("{path}/status"), &[("status", "closed")])
            .await;
        assert_eq!(page.status, 303);
        let page = admin
            .submit(&path, &format!("{path}/messages"), &[("body", "as whom?")])
            .await;
        assert_eq!(page.status, 422);
        let (_, conversation) = s.app.get(&format!("/conversations/{elsewhere}")).await;
        assert_eq!(conversation["status"], "closed");
        s.app.stop().await;
    }
}

#[tokio::test]
async fn the_list_counts_unread_until_the_page_is_opened_and_agents_filter_it() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.app
            .say(&s.conversation, &s.agent, "A second message", "message")
            .await;
        s.app
            .say(&s.conversation, &s.agent, "Team only", "note")
            .await;
        let mut client = signed_in(&s.app, CLIENT).await;
        let list = client.get("/").await;
        assert!(
            list.body.contains("unread-count\" title=\"unread\">2<"),
            "notes are not counted for clients: {}",
            list.body
        );
        assert!(
            list.body.contains("Agnes Agent: A second message"),
            "excerpt of the last visible message"
        );
        client.get(&format!("/c/{}", s.conversation)).await;
        let list = client.get("/").await;
        assert!(!list.body.contains("unread-count"), "{}", db.backend);

        let mut agent = agent_browser(&s).await;
        let other = s
            .app
            .conversation("Assigned to me", &s.agent, &[&s.other])
            .await;
        s.app
            .patch(
                &format!("/conversations/{other}"),
                json!({"assignee_id": s.agent}),
            )
            .await;
        let mine = agent.get("/?view=mine").await;
        assert!(mine.body.contains("Assigned to me") && !mine.body.contains("Your order"));
        let unassigned = agent.get("/?view=unassigned").await;
        assert!(
            unassigned.body.contains("Your order") && !unassigned.body.contains("Assigned to me")
        );
        let all = agent.get("/?view=all&status=open").await;
        assert!(all.body.contains("Your order") && all.body.contains("Assigned to me"));
        assert!(
            all.body.contains(">Mine <span class=\"count\">1</span>"),
            "{}",
            all.body
        );
        let closed = agent.get("/?view=all&status=closed").await;
        assert!(!closed.body.contains("/c/cnv_"));
        assert_eq!(agent.get("/?view=%00&status=bogus").await.status, 200);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_reply_written_on_the_web_is_emailed_to_the_other_participants() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let path = format!("/c/{}", s.conversation);
        let mut client = signed_in(&s.app, CLIENT).await;
        let page = client
            .submit(
                &path,
                &format!("{path}/messages"),
                &[("body", "Could you resend the invoice?")],
            )
            .await;
        assert_eq!(page.status, 303);
        let email = s.app.wait_for_emails(AGENT, 1).await.remove(0);
        assert!(
            email.text.contains("Could you resend the invoice?"),
            "{}",
            db.backend
        );
        assert!(
            outbox_emails(&s.app.outbox_dir(), CLIENT).len() == 1,
            "the author is not emailed their own message"
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn attachments_download_only_for_those_who_may_see_their_message() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let email = s.app.wait_for_emails(CLIENT, 1).await.remove(0);
        let data = format!(
            "From: Carl Client <{CLIENT}>\r\nTo: {to}\r\nSubject: Re: Your order\r\nMessage-ID: <att-1@client.test>\r\n\
In-Reply-To: {irt}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nThe invoice is attached.\r\n\
--b\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcTl8uXrp/Og0MTGCg==\r\n--b--\r\n",
            to = email.reply_to(),
            irt = email.message_id()
        );
        assert_eq!(
            s.app
                .deliver(CLIENT, &[&email.reply_to()], &data)
                .await
                .code,
            250
        );
        let messages = s.app.messages(&s.conversation).await;
        let attachment = messages.last().unwrap()["attachments"][0]["url"]
            .as_str()
            .unwrap()
            .trim_start_matches("/api/v1")
            .to_string();

        let mut client = signed_in(&s.app, CLIENT).await;
        let page = client.get(&format!("/c/{}", s.conversation)).await;
        assert!(page.body.contains(&attachment) && page.body.contains("invoice.pdf"));
        let file = client.get(&attachment).await;
        assert_eq!(file.status, 200, "{}", db.backend);
        assert!(file.body.starts_with("%PDF"));
        let mut agent = agent_browser(&s).await;
        assert_eq!(agent.get(&attachment).await.status, 200);
        let page = agent.get(&format!("/c/{}", s.conversation)).await;
        let original = format!(
            "/c/{}/messages/{}/original",
            s.conversation,
            messages.last().unwrap()["id"].as_str().unwrap()
        );
        assert!(page.body.contains(&original));
        let raw = agent.get(&original).await;
        assert_eq!(raw.status, 200);
        assert!(raw.body.contains("Message-ID: <att-1@client.test>"));
        assert_eq!(
            client.get(&original).await.status,
            403,
            "clients get no original emails"
        );

        let mut olga = sign_in_by_code(&s.app, OTHER).await;
        assert_eq!(olga.get(&attachment).await.status, 404);
        assert_eq!(Browser::new(&s.app).get(&attachment).await.status, 401);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn settings_change_notifications_and_language_and_list_muted_conversations() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let path = format!("/c/{}", s.conversation);
        let mut client = signed_in(&s.app, CLIENT).await;
        let page = client
            .submit(
                "/settings",
                "/settings",
                &[("notifications", "immediate"), ("locale", "fr")],
            )
            .await;
        assert_eq!(page.status, 303);
        let (_, person) = s.app.get(&format!("/people/{}", s.client)).await;
        assert_eq!(person["notifications"], "immediate", "{}", db.backend);
        assert_eq!(person["locale"], "fr");
        let page = client.get("/settings").await;
        assert!(page.body.contains("Réglages") && page.body.contains("lang=\"fr\""));

        let page = client
            .submit(&path, &format!("{path}/mute"), &[("muted", "1")])
            .await;
        assert_eq!(page.status, 303);
        let page = client.get("/settings").await;
        assert!(page.body.contains("Your order"), "listed as muted");
        let page = client
            .submit(
                &path,
                &format!("{path}/mute"),
                &[("muted", "0"), ("back", "settings")],
            )
            .await;
        assert_eq!(page.location(), Some("/settings"));

        let page = client
            .submit(
                "/settings",
                "/settings",
                &[("notifications", "loud"), ("locale", "fr")],
            )
            .await;
        assert_eq!(page.status, 422);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn opening_the_page_means_no_digest_repeats_it_and_the_next_message_goes_out_at_once() {
    for db in test_databases().await {
        let clock = ManualClock::at(1_800_000_000_000);
        let app = spawn_app_with_clock(&db, &[], Arc::new(clock.clone())).await;
        let s = scene_on(app).await;
        s.app
            .say(&s.conversation, &s.agent, "Two: the invoice", "message")
            .await;
        let mut client = signed_in(&s.app, CLIENT).await;
        assert_eq!(
            client.get(&format!("/c/{}", s.conversation)).await.status,
            200
        );
        clock.advance(Duration::from_secs(31 * 60));
        assert_eq!(
            s.app.settle_and_collect(CLIENT).await.len(),
            1,
            "read on the web: no digest ({})",
            db.backend
        );
        s.app
            .say(
                &s.conversation,
                &s.agent,
                "Three: the delivery date",
                "message",
            )
            .await;
        let emails = s.app.wait_for_emails(CLIENT, 2).await;
        assert!(emails[1].text.contains("Three: the delivery date"));
        assert!(!emails[1].text.contains("Two: the invoice"), "already read");
        s.app.stop().await;
    }
}

#[tokio::test]
async fn agents_start_conversations_from_the_web_and_clients_cannot() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let mut agent = agent_browser(&s).await;
        let page = agent
            .submit(
                "/new",
                "/new",
                &[
                    ("subject", "Welcome aboard"),
                    ("participants", "carl@client.test, newbie@client.test\nbad"),
                    ("body", "Hello both!"),
                ],
            )
            .await;
        assert_eq!(page.status, 422, "one address is not an address");
        assert!(
            page.body.contains("bad") && page.body.contains("Welcome aboard"),
            "the form is kept"
        );
        let page = agent
            .submit(
                "/new",
                "/new",
                &[
                    ("subject", "Welcome aboard"),
                    ("participants", "carl@client.test, newbie@client.test"),
                    ("body", "Hello both!"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let id = page
            .location()
            .unwrap()
            .trim_start_matches("/c/")
            .to_string();
        let (_, conversation) = s.app.get(&format!("/conversations/{id}")).await;
        assert_eq!(conversation["subject"], "Welcome aboard", "{}", db.backend);
        assert_eq!(conversation["created_by"], s.agent.as_str());
        assert_eq!(conversation["participants"].as_array().unwrap().len(), 3);
        assert_eq!(s.app.messages(&id).await[0]["body_text"], "Hello both!");
        let email = s
            .app
            .wait_for_emails("newbie@client.test", 1)
            .await
            .remove(0);
        assert!(email.text.contains("Hello both!"));

        let mut client = signed_in(&s.app, CLIENT).await;
        assert_eq!(client.get("/new").await.status, 403);
        let csrf = client.get("/").await.csrf();
        let page = client
            .post(
                "/new",
                &[("csrf", &csrf), ("subject", "Mine"), ("participants", "")],
            )
            .await;
        assert_eq!(page.status, 403);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn under_https_the_session_cookie_is_secure_and_inline_images_are_served_to_the_page() {
    for db in test_databases().await {
        let app = spawn_app(&db, &["--public-url", "https://gateway.test"]).await;
        let s = scene_on(app).await;
        let email = s.app.wait_for_emails(CLIENT, 1).await.remove(0);
        let link = magic_link(&email);
        assert!(link.starts_with("https://gateway.test/m/"), "{link}");
        let local = link.replace("https://gateway.test", &format!("http://{}", s.app.http));
        let mut client = Browser::new(&s.app);
        let page = client.sign_in_with(&local).await;
        let cookie = page
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("tg_session="))
            .unwrap();
        assert!(cookie.ends_with("; Secure"), "{cookie} ({})", db.backend);

        let data = format!(
            "From: Carl Client <{CLIENT}>\r\nTo: {to}\r\nSubject: Re: Your order\r\nMessage-ID: <img-1@client.test>\r\n\
In-Reply-To: {irt}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n\
--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>See the box:</p><img src=\"cid:box@client.test\" alt=\"box\">\r\n\
--r\r\nContent-Type: image/png\r\nContent-ID: <box@client.test>\r\nContent-Disposition: inline; filename=\"box.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==\r\n--r--\r\n",
            to = email.reply_to(),
            irt = email.message_id()
        );
        assert_eq!(
            s.app
                .deliver(CLIENT, &[&email.reply_to()], &data)
                .await
                .code,
            250
        );
        let page = client.get(&format!("/c/{}", s.conversation)).await;
        let at = page
            .body
            .find("<img src=\"/attachments/")
            .expect("the inline image")
            + 10;
        let src = page.body[at..].split('"').next().unwrap().to_string();
        let image = client.get(&src).await;
        assert_eq!(image.status, 200, "{src}");
        assert_eq!(image.headers["content-type"], "image/png");
        let mut olga = sign_in_by_code(&s.app, OTHER).await;
        assert_eq!(
            olga.get(&src).await.status,
            404,
            "only for those who see the message"
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_and_old_links_but_not_new_ones() {
    for db in test_databases().await {
        let clock = ManualClock::at(1_800_000_000_000);
        let app = spawn_app_with_clock(&db, &[], Arc::new(clock.clone())).await;
        let s = scene_on(app).await;
        let path = format!("/c/{}", s.conversation);
        let old_link = magic_link(&s.app.wait_for_emails(CLIENT, 1).await.remove(0));
        let mut phone = Browser::new(&s.app);
        phone.sign_in_with(&old_link).await;
        // A link opens one session; the laptop signs in with a code.
        let mut laptop = sign_in_by_code(&s.app, CLIENT).await;
        clock.advance(Duration::from_secs(5));
        let page = laptop.submit("/settings", "/logout/everywhere", &[]).await;
        assert_eq!(page.status, 303);
        assert_eq!(phone.get(&path).await.status, 303, "{}", db.backend);
        assert_eq!(laptop.get(&path).await.status, 303);
        assert_eq!(Browser::new(&s.app).get(&old_link).await.status, 400);

        clock.advance(Duration::from_secs(31 * 60));
        s.app
            .say(&s.conversation, &s.agent, "Any news?", "message")
            .await;
        // The first notification, the laptop's code, this one.
        let emails = s.app.wait_for_emails(CLIENT, 3).await;
        let mut fresh = Browser::new(&s.app);
        fresh
            .sign_in_with(&magic_link(emails.last().unwrap()))
            .await;
        assert_eq!(
            fresh.get(&path).await.status,
            200,
            "a link sent afterwards works"
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn blocking_a_person_ends_their_web_access_at_once() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let path = format!("/c/{}", s.conversation);
        let link = magic_link(&s.app.wait_for_emails(CLIENT, 1).await.remove(0));
        let mut client = signed_in(&s.app, CLIENT).await;
        let (status, _) = s
            .app
            .patch(&format!("/people/{}", s.client), json!({"blocked": true}))
            .await;
        assert_eq!(status, 200);
        assert_eq!(client.get(&path).await.status, 303, "{}", db.backend);
        assert_eq!(Browser::new(&s.app).get(&link).await.status, 400);
        let before = outbox_emails(&s.app.outbox_dir(), CLIENT).len();
        let page = Browser::new(&s.app)
            .submit("/login", "/login", &[("email", CLIENT)])
            .await;
        assert_eq!(page.status, 200, "the same answer as for anyone");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            outbox_emails(&s.app.outbox_dir(), CLIENT).len(),
            before,
            "no code for the blocked"
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_link_for_someone_else_asks_before_switching_people() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let mut agent = agent_browser(&s).await;
        let client_link = magic_link(&s.app.wait_for_emails(CLIENT, 1).await.remove(0));
        let page = agent.get(&client_link).await;
        assert_eq!(page.status, 200, "{}", db.backend);
        assert!(
            page.body.contains("Continue as Carl Client"),
            "{}",
            page.body
        );
        assert!(
            agent.get("/").await.body.contains("New conversation"),
            "still the agent"
        );
        let token_path = client_link
            .split_once("/m/")
            .map(|(_, t)| format!("/m/{t}"))
            .unwrap();
        let page = agent.post(&token_path, &[("csrf", "forged")]).await;
        assert_eq!(page.status, 403);
        let page = agent.submit(&token_path, &token_path, &[]).await;
        assert_eq!(page.status, 303);
        assert_eq!(
            page.location(),
            Some(format!("/c/{}#unread", s.conversation).as_str())
        );
        assert!(
            !agent.get("/").await.body.contains("New conversation"),
            "now the client"
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_new_admin_token_ends_the_admin_sessions_opened_with_the_old_one() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let mut admin = Browser::new(&app);
        let page = admin
            .submit("/admin", "/admin", &[("token", ADMIN_TOKEN)])
            .await;
        assert_eq!(page.status, 303);
        assert_eq!(admin.get("/").await.status, 200);
        let cookie = admin.session().unwrap().to_string();
        app.stop().await;

        let app = spawn_app(&db, &["--admin-token", "a-brand-new-admin-token-42"]).await;
        let mut stale = Browser::new(&app);
        stale.cookies.insert("tg_session".into(), cookie);
        assert_eq!(stale.get("/").await.status, 303, "{}", db.backend);
        app.stop().await;
    }
}

#[tokio::test]
async fn ids_that_cannot_name_anything_are_404s_on_every_backend() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let mut agent = agent_browser(&s).await;
        for path in [
            "/c/%00".to_string(),
            "/c/cnv_%00x".to_string(),
            format!("/c/{}/messages/%00/original", s.conversation),
            "/attachments/%00".to_string(),
            format!("/m/{}", "%00".repeat(3)),
        ] {
            let page = agent.get(&path).await;
            assert_eq!(page.status, 404, "{path} ({})", db.backend);
        }
        let (status, body) = s.app.get("/people/per_%00").await;
        assert_eq!(status, 404, "{body}");
        let path = format!("/c/{}", s.conversation);
        let page = agent
            .submit(&path, &format!("{path}/assign"), &[("assignee", "per_\0x")])
            .await;
        assert_eq!(page.status, 422);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn clients_see_open_or_closed_and_only_participating_agents_can_be_assigned() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let outsider = s
            .app
            .person("ivan@team.test", "Ivan Insider", "internal")
            .await;
        let path = format!("/c/{}", s.conversation);
        let mut agent = agent_browser(&s).await;
        let page = agent
            .submit(&path, &format!("{path}/assign"), &[("assignee", &outsider)])
            .await;
        assert_eq!(page.status, 422, "not in the conversation ({})", db.backend);
        assert!(
            !agent.get(&path).await.body.contains("Ivan Insider"),
            "not offered either"
        );
        let page = agent
            .submit(&path, &format!("{path}/status"), &[("status", "pending")])
            .await;
        assert_eq!(page.status, 303);
        let mut client = signed_in(&s.app, CLIENT).await;
        let page = client.get(&path).await;
        assert!(page.body.contains("status-open") && !page.body.contains("status-pending"));
        let list = client.get("/").await;
        assert!(list.body.contains("status-open") && !list.body.contains("Pending"));
        s.app.stop().await;
    }
}

#[tokio::test]
async fn replying_by_email_leaves_nothing_unread_in_the_web_list() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.app
            .say(&s.conversation, &s.agent, "Second update", "message")
            .await;
        let email = s.app.wait_for_emails(CLIENT, 1).await.remove(0);
        let mut client = Browser::new(&s.app);
        client.sign_in_with(&magic_link(&email)).await;
        assert!(
            client.get("/").await.body.contains("unread-count"),
            "two unread first"
        );
        let data = reply_email(
            CLIENT,
            &email.reply_to(),
            "<by-mail-1@client.test>",
            &email.message_id(),
            "Answered from my phone.",
        );
        assert_eq!(
            s.app
                .deliver(CLIENT, &[&email.reply_to()], &data)
                .await
                .code,
            250
        );
        let list = client.get("/").await;
        assert!(
            !list.body.contains("unread-count"),
            "{} ({})",
            list.body,
            db.backend
        );
        s.app.stop().await;
    }
}

/// The web view keeps each conversation's rendered history between requests: every change to
/// what it shows is on the next page, whichever audience rendered it first, and the gzip
/// answer (history deflated once, spliced) is the same page.
#[tokio::test]
async fn the_kept_history_follows_every_change_and_never_crosses_audiences() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let path = format!("/c/{}", s.conversation);
        let mut agent = agent_browser(&s).await;
        let mut client = signed_in(&s.app, CLIENT).await;
        let write = |kind: &'static str, body: &'static str| [("body", body), ("kind", kind)];
        let page = agent
            .submit(
                &path,
                &format!("{path}/messages"),
                &write("note", "Refund approved internally"),
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);

        // Staff render first, with the note; the client's page, rendered next, has none.
        let staff = agent.get(&path).await;
        assert!(
            staff.body.contains("Refund approved internally"),
            "{}",
            db.backend
        );
        for _ in 0..2 {
            let page = client.get(&path).await;
            assert_eq!(page.status, 200);
            assert!(page.body.contains("when will it arrive?"));
            assert!(
                !page.body.contains("Refund approved"),
                "a note reached the client"
            );
            assert!(!page.body.contains(AGENT), "an address reached the client");
        }

        // A new message, from outside the web view, is on both pages.
        let wrong = s
            .app
            .say(
                &s.conversation,
                &s.agent,
                "Tracking number 4711, arriving Tuesday.",
                "message",
            )
            .await;
        assert!(agent.get(&path).await.body.contains("Tracking number 4711"));
        assert!(
            client
                .get(&path)
                .await
                .body
                .contains("Tracking number 4711")
        );

        // Deleted: gone for the client, marked for staff; the event only for staff.
        let page = agent
            .submit(&path, &format!("{path}/messages/{wrong}/delete"), &[])
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = client.get(&path).await;
        assert!(
            !page.body.contains("Tracking number 4711"),
            "{}",
            db.backend
        );
        assert!(page.body.contains("Message deleted"));
        let staff = agent.get(&path).await;
        assert!(staff.body.contains("Tracking number 4711"));
        assert!(staff.body.contains("deleted a message"));
        assert!(!client.get(&path).await.body.contains("deleted a message"));

        // Closing is an event the client sees too.
        let page = agent
            .submit(&path, &format!("{path}/status"), &[("status", "closed")])
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert!(
            client
                .get(&path)
                .await
                .body
                .contains("changed the status to closed")
        );

        // gzip: the same page, decoded by an independent decoder (flate2's reader).
        let plain = agent.get(&path).await.body;
        let (status, headers, body) = agent
            .get_raw(&path, &[("accept-encoding", "gzip, deflate, br")])
            .await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-encoding"], "gzip");
        assert_eq!(headers["vary"], "accept-encoding");
        let mut decoded = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut decoded)
            .expect("a valid gzip member");
        assert_eq!(decoded, plain);
        assert!(body.len() < plain.len(), "{} ≥ {}", body.len(), plain.len());
        let (_, headers, body) = agent
            .get_raw(&path, &[("accept-encoding", "gzip;q=0")])
            .await;
        assert!(headers.get("content-encoding").is_none());
        assert_eq!(String::from_utf8(body).unwrap(), plain);

        // A French reader gets the history in French (the cache is per language).
        let page = client
            .submit(
                "/settings",
                "/settings",
                &[("notifications", "immediate"), ("locale", "fr")],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = client.get(&path).await;
        assert!(page.body.contains("Message supprimé"), "{}", page.body);
        s.app.stop().await;
    }
}
