//! The conversation page as a workspace, over HTTP on every backend: it opens where the reader
//! left off (the "New" divider, `#unread` links, older history folded), a timeline without
//! automatic status lines and with day headings, local times on pages and in emails, deleting
//! that asks first and can be undone, a snooze that says when it ends, and "You". The browser
//! suite drives the same pages in Chromium at phone and desktop sizes.

mod support;

use serde_json::json;
use std::sync::Arc;
use support::web::{Browser, magic_link};
use support::*;
use threadgate::domain::ManualClock;

const AGENT: &str = "agnes@team.test";
const CLIENT: &str = "carl@client.test";

/// 2026-11-03 13:05 UTC, a Tuesday: 14:05 in Paris.
const TUESDAY: i64 = 1_793_711_100_000;

async fn signed_in(app: &TestApp, email: &str) -> Browser {
    let latest = app.wait_for_emails(email, 1).await.pop().unwrap();
    let mut browser = Browser::new(app);
    browser.sign_in_with(&magic_link(&latest)).await;
    browser
}

/// Where `needle` first occurs in `page`, or a failure naming it.
fn at(page: &str, needle: &str) -> usize {
    page.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is not on the page:\n{page}"))
}

#[tokio::test]
async fn the_page_opens_at_the_first_unread_message_and_folds_older_history() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agent = app.person(AGENT, "Agnes Agent", "internal").await;
        let client = app.person(CLIENT, "Carl Client", "client").await;
        let conversation = app.conversation("Long thread", &agent, &[&client]).await;
        let mut ids = Vec::new();
        for i in 1..=30 {
            ids.push(
                app.say(
                    &conversation,
                    &agent,
                    &format!("Update number {i}."),
                    "message",
                )
                .await,
            );
        }
        let email = app.wait_for_emails(CLIENT, 1).await.pop().unwrap();
        // The email's link to the conversation lands on what is new.
        let link = magic_link(&email);
        assert!(link.ends_with("#unread"), "{link}");
        let mut client_web = Browser::new(&app);
        client_web.sign_in_with(&link).await;
        let path = format!("/c/{conversation}");

        // Nothing read yet: the first message is the first unread; nothing folded before it.
        let page = client_web.get(&path).await.body;
        assert!(!page.contains("?all=1"), "nothing folded: {page}");
        assert!(at(&page, "id=\"unread\"") < at(&page, &format!("id=\"{}\"", ids[0])));
        assert_eq!(page.matches("<li id=\"msg_").count(), 30);

        // Opened: read. Three more; the page shows the latest 20 and the divider before #31.
        for i in 31..=33 {
            ids.push(
                app.say(
                    &conversation,
                    &agent,
                    &format!("Update number {i}."),
                    "message",
                )
                .await,
            );
        }
        let page = client_web.get(&path).await.body;
        assert!(
            page.contains("Show 13 earlier messages"),
            "older history folded: {page}"
        );
        assert!(page.contains(&format!("href=\"/c/{conversation}?all=1#history\"")));
        assert_eq!(page.matches("<li id=\"msg_").count(), 20);
        assert!(!page.contains(&format!("id=\"{}\"", ids[12])));
        assert!(page.contains(&format!("id=\"{}\"", ids[13])));
        let divider = at(&page, "id=\"unread\"");
        assert!(at(&page, &format!("id=\"{}\"", ids[29])) < divider);
        assert!(divider < at(&page, &format!("id=\"{}\"", ids[30])));
        assert!(page.contains("href=\"#unread\""), "a link to what is new");
        assert!(page.contains("href=\"#reply\""), "a link to the reply box");

        // Read now: no divider; "Show earlier" shows everything.
        let page = client_web.get(&path).await.body;
        assert!(!page.contains("id=\"unread\""));
        let all = client_web.get(&format!("{path}?all=1")).await.body;
        assert_eq!(all.matches("<li id=\"msg_").count(), 33);
        assert!(!all.contains("earlier messages"));

        // Gzip responses hold the same page (the pieces are deflated apart).
        let (status, _, plain) = client_web.get_raw(&path, &[]).await;
        let (_, _, gzipped) = client_web
            .get_raw(&path, &[("accept-encoding", "gzip")])
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            strip_csrf(&String::from_utf8(plain).unwrap()),
            strip_csrf(&gunzip(&gzipped)),
        );
        app.stop().await;
    }
}

fn gunzip(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut out)
        .expect("a gzip body");
    out
}

/// The page without its per-session tokens.
fn strip_csrf(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .map(|part| part.split_once('"').map_or(part, |(_, rest)| rest))
        .collect()
}

#[tokio::test]
async fn status_changes_made_by_replies_are_badges_and_changes_without_a_person_name_the_admin() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agent = app.person(AGENT, "Agnes Agent", "internal").await;
        let client = app.person(CLIENT, "Carl Client", "client").await;
        let conversation = app.conversation("Badges", &agent, &[&client]).await;
        for _ in 0..3 {
            app.say(&conversation, &client, "Any news?", "message")
                .await;
            app.say(&conversation, &agent, "Working on it.", "message")
                .await;
        }
        // The agent is emailed (and so gets a sign-in link) once the client writes last.
        app.say(&conversation, &client, "Thanks.", "message").await;
        let (_, events) = app
            .get(&format!("/conversations/{conversation}/events"))
            .await;
        let automatic: Vec<&serde_json::Value> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "status_changed")
            .collect();
        assert!(automatic.len() >= 5, "{events}");
        assert!(
            automatic
                .iter()
                .all(|e| e["data"]["message_id"].is_string()),
            "each names the message that made it: {events}"
        );
        let mut agent_web = signed_in(&app, AGENT).await;
        let path = format!("/c/{conversation}");
        let page = agent_web.get(&path).await.body;
        assert!(
            !page.contains("changed the status to"),
            "no line per reply: {page}"
        );
        assert!(page.contains("→ Pending") && page.contains("→ Open"));

        // Through the API, with no person: the admin did it.
        let (status, _) = app
            .patch(
                &format!("/conversations/{conversation}"),
                json!({"status": "closed"}),
            )
            .await;
        assert_eq!(status, 200);
        let page = agent_web.get(&path).await.body;
        assert!(
            page.contains("The administrator changed the status to closed"),
            "{page}"
        );
        assert!(!page.contains("Someone"));
        // A day heading above the first entry of the day.
        assert!(page.contains("<li class=\"day\"><span>Today</span></li>"));
        app.stop().await;
    }
}

#[tokio::test]
async fn deleting_asks_first_and_restoring_brings_the_message_back_without_emailing_it_again() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agent = app.person(AGENT, "Agnes Agent", "internal").await;
        let client = app.person(CLIENT, "Carl Client", "client").await;
        let conversation = app.conversation("Oops", &agent, &[&client]).await;
        let message = app
            .say(&conversation, &agent, "The code is 4711.", "message")
            .await;
        app.wait_for_emails(CLIENT, 1).await;
        app.say(&conversation, &client, "Thanks!", "message").await;
        let mut agent_web = signed_in(&app, AGENT).await;
        let mut client_web = signed_in(&app, CLIENT).await;
        let path = format!("/c/{conversation}");

        // The delete button is inside a disclosure that says what will happen.
        let page = agent_web.get(&path).await.body;
        let confirm = at(&page, "<details class=\"confirm\">");
        assert!(
            confirm
                < at(
                    &page,
                    &format!("/c/{conversation}/messages/{message}/delete")
                ),
            "{page}"
        );
        assert!(page.contains("Yes, delete"));

        let done = agent_web
            .submit(&path, &format!("{path}/messages/{message}/delete"), &[])
            .await;
        assert_eq!(done.status, 303);
        assert!(!client_web.get(&path).await.body.contains("4711"));
        let page = agent_web.get(&path).await.body;
        assert!(page.contains(&format!("/c/{conversation}/messages/{message}/restore")));

        let emails_before = app.settle_and_collect(CLIENT).await.len();
        let done = agent_web
            .submit(&path, &format!("{path}/messages/{message}/restore"), &[])
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert!(client_web.get(&path).await.body.contains("4711"));
        let page = agent_web.get(&path).await.body;
        assert!(page.contains("Agnes Agent restored a message"), "{page}");
        assert_eq!(
            app.settle_and_collect(CLIENT).await.len(),
            emails_before,
            "a restored message is not emailed again"
        );
        let messages = app.messages(&conversation).await;
        assert!(
            messages
                .iter()
                .any(|m| m["id"] == message.as_str() && m["deleted"] == false)
        );
        // Search finds it again.
        let (_, found) = app.get(&format!("/search?q=4711&as={agent}")).await;
        assert_eq!(
            found["results"].as_array().map(Vec::len),
            Some(1),
            "{found}"
        );

        // The API: restoring what is not deleted is a conflict, an unknown id not found.
        let (status, body) = app
            .post(&format!("/messages/{message}/restore"), json!({}))
            .await;
        assert_eq!(status, 409, "{body}");
        let (status, _) = app
            .post("/messages/msg_aaaaaaaaaaaaaaaa/restore", json!({}))
            .await;
        assert_eq!(status, 404);
        assert_eq!(app.delete(&format!("/messages/{message}")).await, 200);
        let (status, body) = app
            .post(
                &format!("/messages/{message}/restore"),
                json!({"actor_id": client}),
            )
            .await;
        assert_eq!(status, 422, "a client restores nothing: {body}");
        let (status, body) = app
            .post(
                &format!("/messages/{message}/restore"),
                json!({"actor_id": agent}),
            )
            .await;
        assert_eq!((status, body["deleted"].clone()), (200, json!(false)));
        app.stop().await;
    }
}

#[tokio::test]
async fn a_snoozed_conversation_says_when_it_wakes_and_can_be_woken_now() {
    for db in test_databases().await {
        let clock = ManualClock::at(TUESDAY);
        let app = spawn_app_with_clock(&db, &[], Arc::new(clock.clone())).await;
        let agent = app.person(AGENT, "Agnes Agent", "internal").await;
        let client = app.person(CLIENT, "Carl Client", "client").await;
        let conversation = app.conversation("Later", &agent, &[&client]).await;
        app.say(&conversation, &client, "Call me next week.", "message")
            .await;
        let (status, _) = app
            .patch(
                &format!("/people/{agent}"),
                json!({"time_zone": "Europe/Paris"}),
            )
            .await;
        assert_eq!(status, 200);
        let mut agent_web = signed_in(&app, AGENT).await;
        let path = format!("/c/{conversation}");
        let done = agent_web
            .submit(&path, &format!("{path}/snooze"), &[("duration", "1d")])
            .await;
        assert_eq!(done.status, 303);
        let page = agent_web.get(&path).await.body;
        // A day from Tuesday 14:05 in Paris.
        assert!(
            page.contains("Snoozed until <time datetime=\"2026-11-04T13:05:00")
                && page.contains("Wednesday 4 November 2026, 14:05 CET</time>"),
            "{page}"
        );
        let done = agent_web.submit(&path, &format!("{path}/wake"), &[]).await;
        assert_eq!(done.status, 303);
        let (_, conversation_json) = app.get(&format!("/conversations/{conversation}")).await;
        assert_eq!(conversation_json["status"], "open", "back to what it was");
        let page = agent_web.get(&path).await.body;
        assert!(!page.contains("Snoozed until"));
        assert!(
            page.contains("Agnes Agent woke the conversation up"),
            "{page}"
        );
        // Waking what is awake changes nothing.
        let again = agent_web.submit(&path, &format!("{path}/wake"), &[]).await;
        assert_eq!(again.status, 303);
        app.stop().await;
    }
}

#[tokio::test]
async fn times_are_shown_in_the_reader_s_time_zone_on_pages_and_in_emails() {
    for db in test_databases().await {
        let clock = ManualClock::at(TUESDAY);
        let app = spawn_app_with_clock(&db, &[], Arc::new(clock.clone())).await;
        let agent = app.person(AGENT, "Agnes Agent", "internal").await;
        let client = app.person(CLIENT, "Carl Client", "client").await;
        let conversation = app.conversation("Zones", &agent, &[&client]).await;

        // Validated IANA names; "" is the default again.
        for bad in ["Paris", "CET+1", "Europe/Atlantis", ""] {
            let (status, body) = app
                .patch(&format!("/people/{client}"), json!({"time_zone": bad}))
                .await;
            if bad.is_empty() {
                assert_eq!((status, body["time_zone"].clone()), (200, json!("UTC")));
            } else {
                assert_eq!(status, 422, "{bad}: {body}");
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("time_zone")
                );
            }
        }
        let (status, body) = app
            .patch(
                &format!("/people/{client}"),
                json!({"time_zone": "europe/paris", "locale": "fr"}),
            )
            .await;
        assert_eq!(
            (status, body["time_zone"].clone()),
            (200, json!("Europe/Paris"))
        );

        app.say(&conversation, &agent, "Le colis part demain.", "message")
            .await;
        let email = app.wait_for_emails(CLIENT, 1).await.pop().unwrap();
        assert!(
            email.text.contains("mardi 3 novembre 2026, 14:05 CET"),
            "Paris time in French: {}",
            email.text
        );
        app.say(&conversation, &client, "Merci !", "message").await;
        let agent_email = app.wait_for_emails(AGENT, 1).await.pop().unwrap();
        assert!(
            agent_email
                .text
                .contains("Tuesday 3 November 2026, 13:05 UTC"),
            "the default zone: {}",
            agent_email.text
        );

        let mut client_web = signed_in(&app, CLIENT).await;
        let page = client_web.get(&format!("/c/{conversation}")).await.body;
        assert!(
            page.contains("<li class=\"day\"><span>Aujourd'hui</span></li>"),
            "{page}"
        );
        assert!(
            page.contains("datetime=\"2026-11-03T13:05:00") && page.contains(">14:05</time>"),
            "{page}"
        );
        // Their own message says "Vous"; the agent's has the agent's name.
        assert!(
            page.contains("<strong class=\"author\">Vous</strong>"),
            "{page}"
        );
        assert!(page.contains("<strong class=\"author\">Agnes Agent</strong>"));

        // The next day, today's heading says "Hier" (the kept rendering follows the day).
        clock.advance(std::time::Duration::from_secs(24 * 3600));
        let page = client_web.get(&format!("/c/{conversation}")).await.body;
        assert!(
            page.contains("<li class=\"day\"><span>Hier</span></li>"),
            "{page}"
        );

        // The settings page sets it too.
        let page = client_web.get("/settings").await.body;
        assert!(
            page.contains("<option selected>Europe/Paris</option>"),
            "{page}"
        );
        let saved = client_web
            .submit(
                "/settings",
                "/settings",
                &[
                    ("notifications", "digest"),
                    ("locale", "fr"),
                    ("time_zone", "America/New_York"),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let (_, person) = app.get(&format!("/people/{client}")).await;
        assert_eq!(person["time_zone"], "America/New_York");
        let bad = client_web
            .submit(
                "/settings",
                "/settings",
                &[
                    ("notifications", "digest"),
                    ("locale", "fr"),
                    ("time_zone", "Mars/Olympus"),
                ],
            )
            .await;
        assert_eq!(bad.status, 422);
        app.stop().await;
    }
}

#[tokio::test]
async fn error_and_expired_link_pages_speak_the_reader_s_language() {
    for db in test_databases().await {
        let clock = ManualClock::at(TUESDAY);
        let app = spawn_app_with_clock(&db, &[], Arc::new(clock.clone())).await;
        let agent = app.person(AGENT, "Agnes Agent", "internal").await;
        let client = app.person(CLIENT, "Carl Client", "client").await;
        let (status, _) = app
            .patch(&format!("/people/{client}"), json!({"locale": "fr"}))
            .await;
        assert_eq!(status, 200);
        let conversation = app.conversation("Langues", &agent, &[&client]).await;
        app.say(&conversation, &agent, "Bonjour Carl.", "message")
            .await;
        let link = magic_link(&app.wait_for_emails(CLIENT, 1).await.pop().unwrap());

        // Expired: the page is in the language of the person the link was for, whatever the
        // browser says.
        clock.advance(std::time::Duration::from_secs(15 * 24 * 3600));
        let mut browser = Browser::new(&app);
        let (status, _, body) = browser
            .get_raw(&link, &[("accept-language", "en-US,en;q=0.9")])
            .await;
        let body = String::from_utf8(body).unwrap();
        assert_eq!(status, 400);
        assert!(body.contains("Ce lien ne fonctionne plus"), "{body}");
        assert!(body.contains("<html lang=\"fr\""), "{body}");

        // Forged: nobody is known; the browser's language decides.
        let forged = format!("{}x", link.split('#').next().unwrap());
        for (accept, expected) in [
            ("fr-FR,fr;q=0.9,en;q=0.5", "Ce lien ne fonctionne plus"),
            ("en-GB", "This link does not work any more"),
        ] {
            let (status, _, body) = browser
                .get_raw(&forged, &[("accept-language", accept)])
                .await;
            let body = String::from_utf8(body).unwrap();
            assert_eq!(status, 400);
            assert!(body.contains(expected), "{accept}: {body}");
        }

        // A path that names nothing, signed out: the browser's language; the security
        // headers stay.
        let (status, headers, body) = browser
            .get_raw("/c/not*an*id", &[("accept-language", "fr")])
            .await;
        let body = String::from_utf8(body).unwrap();
        assert_eq!(status, 404);
        assert!(body.contains("y a rien ici"), "{body}");
        assert!(headers.contains_key("content-security-policy"));

        // Signed in: their language, whatever the browser says.
        app.say(&conversation, &agent, "Encore un message.", "message")
            .await;
        let fresh = app.wait_for_emails(CLIENT, 2).await.pop().unwrap();
        let mut client_web = Browser::new(&app);
        client_web.sign_in_with(&magic_link(&fresh)).await;
        let (status, _, body) = client_web
            .get_raw("/c/not*an*id", &[("accept-language", "en")])
            .await;
        let body = String::from_utf8(body).unwrap();
        assert_eq!(status, 404);
        assert!(body.contains("rien ici"), "{body}");
        app.stop().await;
    }
}

/// A forwarded message is kept, folded under its own line in the sender's words: in a
/// text-only email (folded by the page) and in an HTML one (folded when stored).
#[tokio::test]
async fn a_forwarded_message_is_shown_folded_under_its_own_line() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agent = app.person(AGENT, "Agnes Agent", "internal").await;
        let client = app.person(CLIENT, "Carl Client", "client").await;
        let conversation = app.conversation("Delivery", &agent, &[&client]).await;
        app.say(
            &conversation,
            &agent,
            "Any news from the supplier?",
            "message",
        )
        .await;
        let to_client = app.wait_for_emails(CLIENT, 1).await.remove(0);
        let text = reply_email(
            CLIENT,
            &to_client.reply_to(),
            "<fwd-text@client.test>",
            &to_client.message_id(),
            "Here is what they wrote.\r\n\r\n---------- Messaggio inoltrato ---------\r\nDa: Fornitore <ordini@fornitore.example>\r\nSubject: Consegna\r\n\r\nLa consegna e prevista per il 7 dicembre.",
        );
        assert_eq!(
            app.deliver(CLIENT, &[&to_client.reply_to()], &text)
                .await
                .code,
            250
        );
        let html = format!(
            "From: {CLIENT}\r\nTo: {to}\r\nSubject: Fwd: Consegna\r\nMessage-ID: <fwd-html@client.test>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<div dir=\"ltr\">And the second one.<br><br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">---------- Doorgestuurd bericht ---------<br>Van: Leverancier &lt;info@leverancier.example&gt;<br></div><br><div>Levering op 9 december.</div></div></div>\r\n",
            to = to_client.reply_to()
        );
        assert_eq!(
            app.deliver(CLIENT, &[&to_client.reply_to()], &html)
                .await
                .code,
            250
        );
        let mut staff = signed_in(&app, AGENT).await;
        let page = staff.get(&format!("/c/{conversation}")).await.body;
        let fold = at(
            &page,
            "<details class=\"forwarded\"><summary>Messaggio inoltrato</summary>",
        );
        assert!(at(&page, "Here is what they wrote.") < fold);
        assert!(at(&page, "La consegna e prevista per il 7 dicembre.") > fold);
        let html_fold = at(&page, "<details><summary>Doorgestuurd bericht</summary>");
        assert!(at(&page, "And the second one.") < html_fold);
        assert!(at(&page, "Levering op 9 december.") > html_fold);
        app.stop().await;
    }
}
