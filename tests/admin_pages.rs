//! The admin's pages over HTTP on every backend, each with its actions: the inbound log
//! (filters by outcome, originals, held emails released or dropped), suppressed addresses
//! (reactivate), a person's page (language, time zone, blocking) and the domains page's key
//! rotation and warnings. Only an admin session reaches them.

mod support;

use serde_json::json;
use support::web::{Browser, magic_link};
use support::*;
use threadgate::domain::EmailAddress;

const AGNES: &str = "agnes@team.test";
const CARL: &str = "carl@client.test";
const PHONE: &str = "carl.phone@mobile.test";

async fn admin(app: &TestApp) -> Browser {
    let mut admin = Browser::new(app);
    let page = admin
        .submit("/admin", "/admin", &[("token", ADMIN_TOKEN)])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    admin
}

#[tokio::test]
async fn the_inbound_log_filters_by_outcome_and_releases_or_drops_held_emails() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agnes = app.person(AGNES, "Agnes Agent", "internal").await;
        let carl = app.person(CARL, "Carl Client", "client").await;
        let conversation = app.conversation("Delivery", &agnes, &[&carl]).await;
        app.say(&conversation, &agnes, "Your parcel left.", "message")
            .await;
        let to_carl = app.wait_for_emails(CARL, 1).await.remove(0);
        // Two replies from an address the conversation does not know: held.
        for n in 1..=2 {
            let data = reply_email(
                PHONE,
                &to_carl.reply_to(),
                &format!("<phone{n}@mobile.test>"),
                &to_carl.message_id(),
                &format!("Reply number {n} from my phone."),
            );
            assert_eq!(
                app.deliver(PHONE, &[&to_carl.reply_to()], &data).await.code,
                250
            );
        }
        let mut admin = admin(&app).await;

        let all = admin.get("/admin/inbound").await;
        assert_eq!(all.status, 200);
        assert_eq!(
            all.body.matches("class=\"log-entry").count(),
            2,
            "{}",
            all.body
        );
        let held = admin
            .get("/admin/inbound?outcome=unknown_sender")
            .await
            .body;
        assert_eq!(held.matches("Post as the participant").count(), 2, "{held}");
        assert!(held.contains("Drop"));
        let posted = admin.get("/admin/inbound?outcome=posted").await.body;
        assert!(posted.contains("Nothing here."), "{posted}");
        assert_eq!(admin.get("/admin/inbound?outcome=lost").await.status, 422);

        let entries = app.inbound().await;
        let (second, first) = (
            entries[0]["id"].as_str().unwrap().to_string(),
            entries[1]["id"].as_str().unwrap().to_string(),
        );
        // The original, as received.
        let (status, headers, raw) = admin
            .get_raw(&format!("/admin/inbound/{first}/raw"), &[])
            .await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "message/rfc822");
        assert!(String::from_utf8_lossy(&raw).contains("Reply number 1"));

        // Release the first as Carl's, drop the second.
        let done = admin
            .submit(
                "/admin/inbound?outcome=unknown_sender",
                &format!("/admin/inbound/{first}/release"),
                &[("as", "participant"), ("outcome", "unknown_sender")],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(
            done.location(),
            Some("/admin/inbound?outcome=unknown_sender")
        );
        let messages = app.messages(&conversation).await;
        let last = messages.last().unwrap();
        assert_eq!(last["author_id"], carl.as_str());
        assert!(
            last["body_text"]
                .as_str()
                .unwrap()
                .contains("Reply number 1")
        );
        let done = admin
            .submit(
                "/admin/inbound",
                &format!("/admin/inbound/{second}/drop"),
                &[],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        let (_, dropped) = app.get("/inbound?outcome=dropped").await;
        let dropped = dropped["inbound"].as_array().unwrap();
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0]["id"], second.as_str());
        let held = admin
            .get("/admin/inbound?outcome=unknown_sender")
            .await
            .body;
        assert!(
            !held.contains("Post as the participant"),
            "nothing left held: {held}"
        );
        // Dropping again: it is not held any more.
        let again = admin
            .submit(
                "/admin/inbound",
                &format!("/admin/inbound/{second}/drop"),
                &[],
            )
            .await;
        assert_eq!(again.status, 422, "{}", again.body);
        let (status, _) = app.get("/inbound?outcome=lost").await;
        assert_eq!(status, 422);

        // Not for anyone else.
        app.say(&conversation, &agnes, "Got it.", "message").await;
        let mut carl_web = Browser::new(&app);
        carl_web
            .sign_in_with(&magic_link(
                &app.wait_for_emails(CARL, 2).await.pop().unwrap(),
            ))
            .await;
        for path in ["/admin/inbound", "/admin/suppressions"] {
            assert_eq!(carl_web.get(path).await.status, 403, "{path}");
        }
        let forbidden = carl_web
            .submit("/", &format!("/admin/inbound/{second}/drop"), &[])
            .await;
        assert_eq!(forbidden.status, 403);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_suppressed_address_is_listed_and_reactivated_then_emailed_again() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agnes = app.person(AGNES, "Agnes Agent", "internal").await;
        let carl = app.person(CARL, "Carl Client", "client").await;
        let conversation = app.conversation("Invoices", &agnes, &[&carl]).await;
        app.store
            .record_bounce(
                &EmailAddress::parse(CARL).unwrap(),
                true,
                "550 5.1.1 <carl@client.test>: mailbox unavailable",
            )
            .await
            .unwrap();
        let mut admin = admin(&app).await;
        let page = admin.get("/admin/suppressions").await.body;
        assert!(
            page.contains(CARL) && page.contains("mailbox unavailable"),
            "{page}"
        );
        assert!(page.contains(&format!("/admin/people/{carl}/reactivate")));
        let (_, list) = app.get("/suppressions").await;
        assert_eq!(list["suppressions"][0]["email_status"], "bounced", "{list}");

        // Suppressed: a new message is not emailed to him.
        app.say(&conversation, &agnes, "Invoice 1 attached.", "message")
            .await;
        assert!(app.settle_and_collect(CARL).await.is_empty());

        let done = admin
            .submit(
                "/admin/suppressions",
                &format!("/admin/people/{carl}/reactivate"),
                &[],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert!(
            admin
                .get("/admin/suppressions")
                .await
                .body
                .contains("No address is suppressed")
        );
        let (_, person) = app.get(&format!("/people/{carl}")).await;
        assert_eq!(person["email_status"], "ok");
        app.say(&conversation, &agnes, "Invoice 2 attached.", "message")
            .await;
        let emails = app.wait_for_emails(CARL, 1).await;
        assert!(emails.iter().any(|e| e.text.contains("Invoice 2")));

        let (status, _) = app
            .post(&format!("/people/{carl}/reactivate"), json!({}))
            .await;
        assert_eq!(status, 409, "not suppressed any more");
        let (status, _) = app
            .post("/people/per_aaaaaaaaaaaaaaaa/reactivate", json!({}))
            .await;
        assert_eq!(status, 404);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_admin_sets_a_person_s_language_time_zone_and_blocks_them() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agnes = app.person(AGNES, "Agnes Agent", "internal").await;
        let carl = app.person(CARL, "Carl Client", "client").await;
        let conversation = app.conversation("Access", &agnes, &[&carl]).await;
        app.say(&conversation, &agnes, "Welcome.", "message").await;
        let mut carl_web = Browser::new(&app);
        carl_web
            .sign_in_with(&magic_link(&app.wait_for_emails(CARL, 1).await.remove(0)))
            .await;
        assert_eq!(carl_web.get("/").await.status, 200);

        let mut admin = admin(&app).await;
        let path = format!("/people/{carl}");
        let page = admin.get(&path).await.body;
        assert!(
            page.contains(&format!("action=\"/admin/people/{carl}\"")),
            "{page}"
        );
        assert!(page.contains("<option selected>UTC</option>"));
        let done = admin
            .submit(
                &path,
                &format!("/admin/people/{carl}"),
                &[
                    ("locale", "fr"),
                    ("time_zone", "Europe/Paris"),
                    ("blocked", "1"),
                ],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        let (_, person) = app.get(&path).await;
        assert_eq!(
            (&person["locale"], &person["time_zone"], &person["blocked"]),
            (&json!("fr"), &json!("Europe/Paris"), &json!(true))
        );
        // Blocked: signed out at once.
        let after = carl_web.get("/").await;
        assert_eq!(after.status, 303, "{}", after.body);

        // Unblocked (the box unticked); a bad zone is a 422 that changes nothing.
        let bad = admin
            .submit(
                &path,
                &format!("/admin/people/{carl}"),
                &[("locale", "en"), ("time_zone", "Moon/Base")],
            )
            .await;
        assert_eq!(bad.status, 422);
        let done = admin
            .submit(
                &path,
                &format!("/admin/people/{carl}"),
                &[("locale", "fr"), ("time_zone", "Europe/Paris")],
            )
            .await;
        assert_eq!(done.status, 303);
        let (_, person) = app.get(&path).await;
        assert_eq!(person["blocked"], false);
        assert!(
            admin
                .get(&path)
                .await
                .body
                .contains("<option selected>Europe/Paris</option>")
        );

        // A staff member sees the page without the admin's forms.
        app.say(&conversation, &carl, "Merci.", "message").await;
        let mut agnes_web = Browser::new(&app);
        agnes_web
            .sign_in_with(&magic_link(&app.wait_for_emails(AGNES, 1).await.remove(0)))
            .await;
        let page = agnes_web.get(&path).await.body;
        assert!(
            page.contains("Carl Client") && !page.contains("/admin/people/"),
            "{page}"
        );
        let refused = agnes_web
            .submit(
                &path,
                &format!("/admin/people/{carl}"),
                &[("locale", "en"), ("time_zone", "UTC")],
            )
            .await;
        assert_eq!(refused.status, 403);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_domains_page_rotates_and_activates_keys_and_flags_a_reply_domain_outside_its_domain() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let (status, _) = app.post("/domains", json!({"name": "shop.test"})).await;
        assert_eq!(status, 201);
        let mut admin = admin(&app).await;
        let page = admin.get("/admin/domains").await.body;
        assert!(
            page.contains("<code>tg1r</code>") && page.contains("key-active"),
            "{page}"
        );
        assert!(!page.contains("key-pending"));

        let done = admin
            .submit("/admin/domains", "/admin/domains/shop.test/rotate", &[])
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        let page = admin.get("/admin/domains").await.body;
        assert!(
            page.contains("<code>tg2r</code>") && page.contains("key-pending"),
            "{page}"
        );
        assert!(page.contains("/admin/domains/shop.test/keys/tg2r/activate"));
        let done = admin
            .submit(
                "/admin/domains",
                "/admin/domains/shop.test/keys/tg2r/activate",
                &[],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        let (_, view) = app.get("/domains/shop.test").await;
        let status_of = |selector: &str| {
            view["keys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["selector"] == selector)
                .map(|k| k["status"].as_str().unwrap().to_string())
        };
        assert_eq!(status_of("tg2r").as_deref(), Some("active"), "{view}");
        assert_eq!(status_of("tg1r").as_deref(), Some("retired"));
        let again = admin
            .submit(
                "/admin/domains",
                "/admin/domains/shop.test/keys/tg1r/activate",
                &[],
            )
            .await;
        assert_eq!(again.status, 422, "a retired key cannot come back");
        assert_eq!(
            admin
                .submit("/admin/domains", "/admin/domains/nowhere.test/rotate", &[])
                .await
                .status,
            404
        );

        // A reply domain outside the domain (stored before it was refused, or by hand).
        raw_sql(
            &db,
            "UPDATE domains SET reply_domain = 'reply.elsewhere.test' WHERE name = 'shop.test'",
        )
        .await;
        let (_, view) = app.get("/domains/shop.test").await;
        assert!(
            view["problems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p.as_str().unwrap().contains("not under shop.test")),
            "{view}"
        );
        let page = admin.get("/admin/domains").await.body;
        assert!(page.contains("is not under shop.test"), "{page}");
        app.stop().await;
    }
}
