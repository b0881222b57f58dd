//! Several addresses per person, over real SMTP and HTTP on every backend: another address is
//! usable once its owner follows the link emailed to it (or staff vouch for it), a reply from
//! it posts as its person while their emails still go to the primary one, a sign-in code works
//! with it, it can be made primary or removed, and an address belongs to one person at most.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::web::Browser;
use support::*;
use threadgate::domain::ManualClock;

const START: i64 = 1_790_000_000_000;
const AGNES: &str = "agnes@team.test";
const CARL: &str = "carl@client.test";
const PHONE: &str = "carl.phone@mobile.test";

struct Scene {
    app: TestApp,
    clock: ManualClock,
    agnes: String,
    carl: String,
    conversation: String,
}

async fn scene(db: &TestDb) -> Scene {
    let clock = ManualClock::at(START);
    let app = spawn_app_with_clock(db, &[], Arc::new(clock.clone())).await;
    let agnes = app.person(AGNES, "Agnes Agent", "internal").await;
    let carl = app.person(CARL, "Carl Client", "client").await;
    let conversation = app.conversation("Delivery", &agnes, &[&carl]).await;
    Scene {
        app,
        clock,
        agnes,
        carl,
        conversation,
    }
}

impl Scene {
    /// `from` answers `email` by its Reply-To; the SMTP reply code.
    async fn reply_from(&self, from: &str, email: &Email, n: u32, body: &str) -> SmtpReply {
        let to = email.reply_to();
        let data = reply_email(
            from,
            &to,
            &format!("<alias{n}@mobile.test>"),
            &email.message_id(),
            body,
        );
        self.app.deliver(from, &[&to], &data).await
    }

    async fn last_author_and_body(&self) -> (String, String) {
        let messages = self.app.messages(&self.conversation).await;
        let m = messages.last().unwrap();
        (
            m["author_id"].as_str().unwrap().to_string(),
            m["body_text"].as_str().unwrap().trim().to_string(),
        )
    }
}

/// The confirmation link of an address email.
fn address_link(email: &Email) -> String {
    email
        .text
        .split_whitespace()
        .find(|w| w.contains("/addresses/confirm/"))
        .unwrap_or_else(|| panic!("no confirmation link in:\n{}", email.text))
        .to_string()
}

#[tokio::test]
async fn another_address_posts_as_its_person_once_its_owner_confirms_it() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.app
            .say(&s.conversation, &s.agnes, "Your parcel left.", "message")
            .await;
        let to_carl = s.app.wait_for_emails(CARL, 1).await.remove(0);

        let (status, added) = s
            .app
            .post(
                &format!("/people/{}/addresses", s.carl),
                json!({"email": "Carl.Phone@Mobile.test"}),
            )
            .await;
        assert_eq!(status, 201, "{}: {added}", db.backend);
        assert_eq!(added["verified"], false);
        let confirmation = s.app.wait_for_emails(PHONE, 1).await.remove(0);
        assert!(
            confirmation.text.contains("Carl Client"),
            "{}",
            confirmation.text
        );
        let link = address_link(&confirmation);

        // Not yet theirs: kept for staff like anyone else's, not posted.
        let reply = s.reply_from(PHONE, &to_carl, 1, "From my phone.").await;
        assert_eq!(reply.code, 250, "{reply:?}");
        assert_eq!(s.app.inbound().await[0]["outcome"], "unknown_sender");

        // The link shows a button; the button confirms.
        let mut browser = Browser::new(&s.app);
        let path = link
            .split_once("/addresses/")
            .map(|(_, p)| format!("/addresses/{p}"))
            .unwrap();
        let page = browser.submit(&path, &path, &[]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains("Your address is confirmed"),
            "{}",
            page.body
        );
        let forged = browser.submit(&path, &format!("{path}x"), &[]).await;
        assert_eq!(forged.status, 400, "an altered link confirms nothing");

        let reply = s.reply_from(PHONE, &to_carl, 2, "From my phone.").await;
        assert_eq!(reply.code, 250, "{reply:?}");
        assert_eq!(
            s.last_author_and_body().await,
            (s.carl.clone(), "From my phone.".to_string())
        );

        // Emails still go to the primary address.
        s.app
            .say(&s.conversation, &s.agnes, "It arrives tomorrow.", "message")
            .await;
        s.clock.advance(Duration::from_secs(3600));
        let to_carl = s.app.wait_for_emails(CARL, 2).await;
        assert!(to_carl.last().unwrap().text.contains("arrives tomorrow"));
        let to_phone = s.app.settle_and_collect(PHONE).await;
        assert!(
            to_phone
                .iter()
                .all(|e| !e.text.contains("arrives tomorrow")),
            "the link and the held reply's answer only"
        );

        let (_, listed) = s.app.get(&format!("/people/{}/addresses", s.carl)).await;
        assert_eq!(listed["primary"], CARL);
        assert_eq!(listed["addresses"][0]["verified"], true, "{listed}");
        assert_eq!(listed["addresses"][0]["verified_by"], "link");
        s.app.stop().await;
    }
}

#[tokio::test]
async fn staff_vouch_for_an_address_which_then_signs_in_becomes_primary_or_goes() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let (status, added) = s
            .app
            .post(
                &format!("/people/{}/addresses", s.carl),
                json!({"email": PHONE, "verified": true, "actor_id": s.agnes}),
            )
            .await;
        assert_eq!(status, 201, "{}: {added}", db.backend);
        assert_eq!(added["verified"], true);
        assert_eq!(
            added["verified_by"],
            s.agnes.as_str(),
            "who vouched is recorded"
        );
        assert!(
            s.app.settle_and_collect(PHONE).await.is_empty(),
            "no link for a vouched address"
        );

        // One person per address, primary or not.
        let dana = s.app.person("dana@client.test", "Dana", "client").await;
        for (email, why) in [
            (PHONE, "someone's other address"),
            (AGNES, "someone's primary"),
        ] {
            let (status, body) = s
                .app
                .post(
                    &format!("/people/{dana}/addresses"),
                    json!({"email": email}),
                )
                .await;
            assert_eq!(status, 409, "{why}: {body}");
        }
        let (status, _) = s
            .app
            .post(
                "/people",
                json!({"email": PHONE, "name": "Copy", "role": "client"}),
            )
            .await;
        assert_eq!(status, 409, "a new person cannot take it either");
        let (status, _) = s
            .app
            .post(
                &format!("/people/{dana}/addresses"),
                json!({"email": "not an address"}),
            )
            .await;
        assert_eq!(status, 422);
        let (status, _) = s
            .app
            .post(
                "/people/per_unknown/addresses",
                json!({"email": "x@y.test"}),
            )
            .await;
        assert_eq!(status, 404);

        // A sign-in code goes to the address typed, and signs Carl in.
        let mut browser = Browser::new(&s.app);
        let page = browser
            .submit("/login", "/login", &[("email", PHONE)])
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let code = support::web::code_in(&s.app.wait_for_emails(PHONE, 1).await.remove(0));
        let csrf = page.csrf();
        let page = browser
            .post(
                "/login/code",
                &[("csrf", &csrf), ("email", PHONE), ("code", &code)],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let settings = browser.get("/settings").await;
        assert!(settings.body.contains(CARL) && settings.body.contains(PHONE));

        // Primary: an unverified address cannot be; a verified one can, and the old primary
        // stays theirs.
        let (status, _) = s
            .app
            .post(
                &format!("/people/{}/addresses", s.carl),
                json!({"email": "carl.work@office.test"}),
            )
            .await;
        assert_eq!(status, 201);
        let (status, _) = s
            .app
            .patch(
                &format!("/people/{}/addresses/carl.work@office.test", s.carl),
                json!({"primary": true}),
            )
            .await;
        assert_eq!(status, 409);
        let (status, person) = s
            .app
            .patch(
                &format!("/people/{}/addresses/{PHONE}", s.carl),
                json!({"primary": true}),
            )
            .await;
        assert_eq!(status, 200, "{person}");
        assert_eq!(person["email"], PHONE);
        let (_, listed) = s.app.get(&format!("/people/{}/addresses", s.carl)).await;
        let others: Vec<&str> = listed["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["email"].as_str().unwrap())
            .collect();
        assert!(others.contains(&CARL), "{listed}");

        // Removing: once, then 404.
        let path = format!("/people/{}/addresses/carl.work@office.test", s.carl);
        let status = s.app.delete(&path).await;
        assert_eq!(status, 204);
        assert_eq!(s.app.delete(&path).await, 404);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn the_settings_page_adds_and_removes_addresses() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.app
            .say(&s.conversation, &s.agnes, "Hello Carl.", "message")
            .await;
        let email = s.app.wait_for_emails(CARL, 1).await.remove(0);
        let mut browser = Browser::new(&s.app);
        browser
            .sign_in_with(&support::web::magic_link(&email))
            .await;
        let page = browser
            .submit("/settings", "/settings/addresses", &[("email", PHONE)])
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(page.location(), Some("/settings?sent=1"));
        let settings = browser.get("/settings?sent=1").await;
        assert!(
            settings.body.contains("waiting for confirmation"),
            "{}",
            settings.body
        );
        assert!(settings.body.contains("We sent a confirmation link"));
        assert_eq!(s.app.wait_for_emails(PHONE, 1).await.len(), 1);

        let page = browser
            .submit("/settings", "/settings/addresses", &[("email", AGNES)])
            .await;
        assert_eq!(page.status, 422, "someone else's address");
        assert!(
            page.body.contains("belongs to someone already"),
            "{}",
            page.body
        );

        let page = browser
            .submit(
                "/settings",
                "/settings/addresses/remove",
                &[("email", PHONE)],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let (_, listed) = s.app.get(&format!("/people/{}/addresses", s.carl)).await;
        assert!(
            listed["addresses"].as_array().unwrap().is_empty(),
            "{listed}"
        );
        s.app.stop().await;
    }
}

const CECILE: &str = "cecile@client.test";

/// The inbound record of the email with this Message-ID.
async fn inbound_of(app: &TestApp, message_id: &str) -> serde_json::Value {
    app.inbound()
        .await
        .into_iter()
        .find(|e| {
            e["message_id"]
                .as_str()
                .map(|m| m.trim_matches(|c| c == '<' || c == '>'))
                == Some(message_id.trim_matches(|c| c == '<' || c == '>'))
        })
        .unwrap_or_else(|| panic!("no inbound record for {message_id}"))
}

#[tokio::test]
async fn a_reply_from_someone_else_waits_for_staff_who_post_it_as_the_participant_or_the_sender_or_drop_it()
 {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.app
            .say(&s.conversation, &s.agnes, "Your parcel left.", "message")
            .await;
        let to_carl = s.app.wait_for_emails(CARL, 1).await.remove(0);
        let to = to_carl.reply_to();
        let before = s.app.messages(&s.conversation).await.len();

        // A colleague answers three times through Carl's address: kept, never posted.
        for n in 1..=3 {
            let data = reply_email(
                "Cécile <cecile@client.test>",
                &to,
                &format!("<c{n}@client.test>"),
                &to_carl.message_id(),
                &format!("Colleague's answer {n}."),
            );
            let reply = s.app.deliver(CECILE, &[&to], &data).await;
            assert_eq!(reply.code, 250, "{}: {reply:?}", db.backend);
            assert_eq!(
                inbound_of(&s.app, "<c1@client.test>").await["outcome"],
                "unknown_sender"
            );
        }
        assert_eq!(s.app.messages(&s.conversation).await.len(), before);
        // Told once a day at most that it waits for the team.
        let waiting = s.app.wait_for_emails(CECILE, 1).await;
        assert!(waiting[0].text.contains("waiting") || waiting[0].text.contains("looks at it"));
        assert_eq!(
            waiting[0].header("Subject"),
            Some("Your message is waiting for the team")
        );
        assert_eq!(s.app.settle_and_collect(CECILE).await.len(), 1);
        // Never to a null sender, never to a machine.
        let data = reply_email(
            "dave@client.test",
            &to,
            "<d1@client.test>",
            "<x@y>",
            "Null sender.",
        );
        assert_eq!(s.app.deliver("", &[&to], &data).await.code, 250);
        // (A null sender is a delivery report's: a machine, never answered.)
        assert_eq!(
            inbound_of(&s.app, "<d1@client.test>").await["outcome"],
            "bounce"
        );
        let ooo = format!(
            "From: erin@client.test\r\nTo: {to}\r\nSubject: Out of office\r\nMessage-ID: <e1@client.test>\r\n\
Auto-Submitted: auto-replied\r\n\r\nI am away.\r\n"
        );
        assert_eq!(
            s.app.deliver("erin@client.test", &[&to], &ooo).await.code,
            250
        );
        assert_eq!(
            inbound_of(&s.app, "<e1@client.test>").await["outcome"],
            "auto_reply"
        );
        s.clock.advance(Duration::from_secs(60));
        assert!(
            s.app
                .settle_and_collect("dave@client.test")
                .await
                .is_empty()
        );
        assert!(
            s.app
                .settle_and_collect("erin@client.test")
                .await
                .is_empty()
        );

        // It was really Carl.
        let c1 = inbound_of(&s.app, "<c1@client.test>").await;
        let id = c1["id"].as_str().unwrap();
        let (status, body) = s
            .app
            .post(&format!("/inbound/{id}/release"), json!({}))
            .await;
        let malformed = s
            .app
            .http_client
            .post(s.app.url(&format!("/inbound/{id}/release")))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body("{\"as\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status().as_u16(), 400);
        let error: serde_json::Value = malformed.json().await.expect("a JSON error");
        assert_eq!(error["error"]["code"], "bad_json", "{error}");
        assert_eq!(status, 422, "say whose it is: {body}");
        let (status, body) = s
            .app
            .post(
                &format!("/inbound/{id}/release"),
                json!({"as": "participant"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["released"], true);
        assert_eq!(
            s.last_author_and_body().await,
            (s.carl.clone(), "Colleague's answer 1.".to_string())
        );

        // Cécile joins and her answer is hers.
        let c2 = inbound_of(&s.app, "<c2@client.test>").await;
        let id = c2["id"].as_str().unwrap();
        let (status, body) = s
            .app
            .post(
                &format!("/inbound/{id}/release"),
                json!({"as": "sender", "actor_id": s.agnes}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (author, text) = s.last_author_and_body().await;
        assert_eq!(text, "Colleague's answer 2.");
        let (_, cecile) = s.app.get(&format!("/people/{author}")).await;
        assert_eq!(
            (cecile["email"].as_str(), cecile["role"].as_str()),
            (Some(CECILE), Some("client"))
        );
        assert_eq!(cecile["name"], "Cécile");
        let (_, c) = s
            .app
            .get(&format!("/conversations/{}", s.conversation))
            .await;
        assert!(
            c["participants"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["person_id"] == author.as_str())
        );
        let (status, _) = s
            .app
            .post(
                &format!("/inbound/{id}/release"),
                json!({"as": "participant"}),
            )
            .await;
        assert_eq!(status, 409, "released once");

        // Dropped: kept for the record, never posted.
        let c3 = inbound_of(&s.app, "<c3@client.test>").await;
        let id = c3["id"].as_str().unwrap();
        let status = s.app.post_status(&format!("/inbound/{id}/drop")).await;
        assert_eq!(status, 204);
        assert_eq!(
            inbound_of(&s.app, "<c3@client.test>").await["outcome"],
            "dropped"
        );
        assert_eq!(s.app.post_status(&format!("/inbound/{id}/drop")).await, 409);
        let texts: Vec<String> = s
            .app
            .messages(&s.conversation)
            .await
            .iter()
            .map(|m| m["body_text"].as_str().unwrap().trim().to_string())
            .collect();
        assert!(!texts.iter().any(|t| t == "Colleague's answer 3."));

        // On the page, staff get the three actions.
        let to_agnes = s.app.wait_for_emails(AGNES, 1).await.remove(0);
        let mut browser = Browser::new(&s.app);
        browser
            .sign_in_with(&support::web::magic_link(&to_agnes))
            .await;
        let data = reply_email(
            CECILE,
            &to,
            "<c4@client.test>",
            &to_carl.message_id(),
            "One more.",
        );
        assert_eq!(s.app.deliver(CECILE, &[&to], &data).await.code, 250);
        let d1 = inbound_of(&s.app, "<c4@client.test>").await;
        let page = browser.get(&format!("/c/{}", s.conversation)).await;
        assert!(
            page.body.contains("Add the sender and post"),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains(&format!("/held/{}/drop", d1["id"].as_str().unwrap()))
        );
        let path = format!("/c/{}", s.conversation);
        let page = browser
            .submit(
                &path,
                &format!("{path}/held/{}/drop", d1["id"].as_str().unwrap()),
                &[],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(
            inbound_of(&s.app, "<c4@client.test>").await["outcome"],
            "dropped"
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn people_copied_on_an_inbox_conversation_are_offered_to_staff_never_added_silently() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let (status, body) = s
            .app
            .post("/domains", json!({"name": "example.test"}))
            .await;
        assert_eq!(status, 201, "{body}");
        s.app
            .patch("/domains/example.test", json!({"strangers": "accept"}))
            .await;
        // Nina writes to the inbox with a colleague in Cc (and the inbox itself in To).
        let email = "From: Nina <nina@shop.test>\r\nTo: support@example.test\r\n\
Cc: \"Oscar Ops\" <oscar@shop.test>, nina@shop.test\r\nSubject: Broken order\r\n\
Message-ID: <n1@shop.test>\r\n\r\nThe order arrived broken.\r\n";
        let reply = s
            .app
            .deliver("nina@shop.test", &["support@example.test"], email)
            .await;
        assert_eq!(reply.code, 250, "{reply:?}");
        let conversation = s.app.inbound().await[0]["conversation_id"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, suggested) = s
            .app
            .get(&format!(
                "/conversations/{conversation}/suggested-participants"
            ))
            .await;
        assert_eq!(status, 200, "{suggested}");
        let listed: Vec<(&str, &str)> = suggested["suggested"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["email"].as_str().unwrap(),
                    p["name"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [("oscar@shop.test", "Oscar Ops")],
            "{}: not the sender, not our inbox",
            db.backend
        );
        let (_, c) = s.app.get(&format!("/conversations/{conversation}")).await;
        assert!(
            !c["participants"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["email"] == "oscar@shop.test"),
            "never added silently"
        );

        // The page offers one click; the participants API takes the address.
        let to_agnes = s.app.wait_for_emails(AGNES, 1).await;
        let mut browser = Browser::new(&s.app);
        browser
            .sign_in_with(&support::web::magic_link(to_agnes.last().unwrap()))
            .await;
        let page = browser.get(&format!("/c/{conversation}")).await;
        assert!(page.body.contains("Copied on emails"), "{}", page.body);
        assert!(page.body.contains("oscar@shop.test"));
        let (status, added) = s
            .app
            .post(
                &format!("/conversations/{conversation}/participants"),
                json!({"email": "oscar@shop.test", "name": "Oscar Ops", "actor_id": s.agnes}),
            )
            .await;
        assert_eq!(status, 201, "{added}");
        assert_eq!(added["name"], "Oscar Ops");
        let (_, suggested) = s
            .app
            .get(&format!(
                "/conversations/{conversation}/suggested-participants"
            ))
            .await;
        assert!(suggested["suggested"].as_array().unwrap().is_empty());

        // A conversation started by the team is not an inbox's: a Cc there suggests nothing.
        s.app
            .say(&s.conversation, &s.agnes, "Private matter.", "message")
            .await;
        let to_carl = s.app.wait_for_emails(CARL, 1).await.remove(0);
        let to = to_carl.reply_to();
        let data = format!(
            "From: {CARL}\r\nTo: {to}\r\nCc: boss@client.test\r\nSubject: Re: Delivery\r\n\
Message-ID: <p1@client.test>\r\nIn-Reply-To: {}\r\n\r\nNoted.\r\n",
            to_carl.message_id()
        );
        assert_eq!(s.app.deliver(CARL, &[&to], &data).await.code, 250);
        let (_, suggested) = s
            .app
            .get(&format!(
                "/conversations/{}/suggested-participants",
                s.conversation
            ))
            .await;
        assert!(
            suggested["suggested"].as_array().unwrap().is_empty(),
            "{suggested}"
        );
        s.app.stop().await;
    }
}
