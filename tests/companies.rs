//! Companies, their followers and the three conversation types, on both backends: the API of
//! companies and the contact list; types and companies checked together; and the access rule
//! as one table — each type × each kind of person × every place that decides access (the API's
//! person-scoped list and get, the web list, page and reply, who is emailed), including the
//! moment access is lost. Cc suggestions on company conversations, never on private ones.

mod support;

use serde_json::{Value, json};
use support::web::sign_in_by_code;
use support::*;

async fn company(app: &TestApp, name: &str) -> String {
    let (status, body) = app.post("/companies", json!({"name": name})).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("cmp_"));
    body["id"].as_str().unwrap().to_string()
}

async fn follow(app: &TestApp, company: &str, person: &str) {
    let (status, body) = app
        .post(
            &format!("/companies/{company}/followers"),
            json!({"person_id": person}),
        )
        .await;
    assert!(status == 201 || status == 200, "{status} {body}");
}

async fn create(app: &TestApp, body: Value) -> (u16, Value) {
    app.post("/conversations", body).await
}

#[tokio::test]
async fn companies_followers_and_the_contact_list() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agnes = app.person("agnes@team.test", "Agnes", "internal").await;
        let carl = app.person("carl@acme.test", "Carl Client", "client").await;
        app.person("cora@acme.test", "Cora 50%_off", "client").await;
        let acme = company(&app, "Acme").await;
        let beta = company(&app, "Beta").await;
        company(&app, "Gamma").await;

        // Paged by name with an opaque cursor.
        let (status, page) = app.get("/companies?limit=2").await;
        assert_eq!(status, 200, "{page}");
        let names = |v: &Value, key: &str| -> Vec<String> {
            v[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names(&page, "companies"), ["Acme", "Beta"]);
        let cursor = page["next_cursor"].as_str().unwrap();
        let (_, rest) = app
            .get(&format!("/companies?limit=2&cursor={cursor}"))
            .await;
        assert_eq!(names(&rest, "companies"), ["Gamma"]);
        assert!(rest["next_cursor"].is_null());
        assert_eq!(app.get("/companies?cursor=nonsense").await.0, 422);

        // Following is idempotent; unfollowing says when there was nothing to undo.
        let path = format!("/companies/{acme}/followers");
        let (status, _) = app.post(&path, json!({"person_id": carl})).await;
        assert_eq!(status, 201);
        let (status, view) = app.post(&path, json!({"person_id": carl})).await;
        assert_eq!(status, 200, "already following");
        assert_eq!(view["followers"].as_array().unwrap().len(), 1);
        follow(&app, &acme, &agnes).await;
        follow(&app, &beta, &agnes).await;
        let (status, _) = app.post(&path, json!({"person_id": "per_nobody"})).await;
        assert_eq!(status, 404);
        let (status, _) = app.post(&path, json!({})).await;
        assert_eq!(status, 422);
        let (_, view) = app.get(&format!("/companies/{acme}")).await;
        assert_eq!(names(&view, "followers"), ["Agnes", "Carl Client"]);
        let (_, person) = app.get(&format!("/people/{agnes}")).await;
        assert_eq!(names(&person, "companies"), ["Acme", "Beta"]);

        // Renaming; bad names and unknown companies.
        let (status, view) = app
            .patch(&format!("/companies/{acme}"), json!({"name": "Acme Ltd"}))
            .await;
        assert_eq!((status, view["name"].as_str()), (200, Some("Acme Ltd")));
        for bad in [
            json!({"name": ""}),
            json!({"name": "a\u{0}b"}),
            json!({"name": 7}),
        ] {
            let (status, body) = app.post("/companies", bad.clone()).await;
            assert_eq!(status, 422, "{bad}: {body}");
        }
        assert_eq!(app.get("/companies/cmp_nope").await.0, 404);

        // The contact list: by name, filtered by text, role and company.
        let people = |path: String| {
            let app = &app;
            async move {
                let (status, body) = app.get(&path).await;
                assert_eq!(status, 200, "{path}: {body}");
                body["people"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["name"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            people("/people".into()).await,
            ["Agnes", "Carl Client", "Cora 50%_off"]
        );
        assert_eq!(
            people("/people?q=ACME.test".into()).await,
            ["Carl Client", "Cora 50%_off"]
        );
        assert_eq!(
            people("/people?q=50%25_".into()).await,
            ["Cora 50%_off"],
            "literal % and _"
        );
        assert_eq!(people("/people?q=%25".into()).await, ["Cora 50%_off"]);
        assert_eq!(people("/people?role=internal".into()).await, ["Agnes"]);
        assert_eq!(
            people(format!("/people?company={acme}")).await,
            ["Agnes", "Carl Client"]
        );
        let (_, first) = app.get("/people?limit=1").await;
        let cursor = first["next_cursor"].as_str().unwrap();
        assert_eq!(
            people(format!("/people?limit=5&cursor={cursor}")).await,
            ["Carl Client", "Cora 50%_off"]
        );
        assert_eq!(app.get("/people?role=boss").await.0, 422);

        let status = app
            .delete(&format!("/companies/{acme}/followers/{carl}"))
            .await;
        assert_eq!(status, 204);
        let status = app
            .delete(&format!("/companies/{acme}/followers/{carl}"))
            .await;
        assert_eq!(status, 404);
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn types_and_companies_are_checked_together() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agnes = app.person("agnes@team.test", "Agnes", "internal").await;
        let acme = company(&app, "Acme").await;
        let base = |extra: Value| {
            let mut body = json!({"subject": "S", "created_by": agnes});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        for (extra, field) in [
            (json!({"type": "company"}), "company_id"),
            (json!({"type": "confidential"}), "company_id"),
            (json!({"type": "private", "company_id": acme}), "company_id"),
            (json!({"type": "public", "company_id": acme}), "type"),
            (json!({"company_id": "cmp_unknown"}), "company_id"),
        ] {
            let (status, body) = create(&app, base(extra.clone())).await;
            assert_eq!(status, 422, "{extra}: {body}");
            assert_eq!(body["error"]["field"], field, "{extra}: {body}");
        }
        let (_, private) = create(&app, base(json!({}))).await;
        assert_eq!(
            (private["type"].as_str(), &private["company_id"]),
            (Some("private"), &Value::Null)
        );
        let (_, with_company) = create(&app, base(json!({"company_id": acme}))).await;
        assert_eq!(
            with_company["type"], "company",
            "a company makes it a company conversation"
        );
        let (_, confidential) = create(
            &app,
            base(json!({"type": "confidential", "company_id": acme})),
        )
        .await;
        assert_eq!(confidential["type"], "confidential");

        // PATCH: a company given to a private conversation makes it a company one; taking it
        // away makes it private; the history says so.
        let id = private["id"].as_str().unwrap();
        let (status, body) = app
            .patch(&format!("/conversations/{id}"), json!({"company_id": acme}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["type"].as_str(), body["company_id"].as_str()),
            (Some("company"), Some(acme.as_str()))
        );
        let (status, body) = app
            .patch(
                &format!("/conversations/{id}"),
                json!({"type": "confidential"}),
            )
            .await;
        assert_eq!((status, body["type"].as_str()), (200, Some("confidential")));
        let (status, body) = app
            .patch(&format!("/conversations/{id}"), json!({"company_id": null}))
            .await;
        assert_eq!(
            (status, body["type"].as_str()),
            (200, Some("private")),
            "{body}"
        );
        let (status, body) = app
            .patch(&format!("/conversations/{id}"), json!({"type": "company"}))
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some("company_id"))
        );
        let (_, events) = app.get(&format!("/conversations/{id}/events")).await;
        let changes = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "type_changed")
            .count();
        assert_eq!(changes, 3, "{events}");
        app.stop().await;
        db.cleanup().await;
    }
}

/// Who is who in the access table.
struct Cast {
    staff_follower: String,
    staff_participant: String,
    client_participant: String,
    client_follower: String,
    client_follower_participant: String,
    client_other_company: String,
}

const PEOPLE: [(&str, &str); 8] = [
    ("sf@team.test", "internal"),
    ("so@team.test", "internal"),
    ("sp@team.test", "internal"),
    ("cp@client.test", "client"),
    ("cf@acme.test", "client"),
    ("cfp@acme.test", "client"),
    ("co@other.test", "client"),
    ("x@stranger.test", "client"),
];

/// Whether each person (in [`PEOPLE`] order) may read: private, company without a client
/// follower taking part, company with one, confidential.
const EXPECTED: [[bool; 4]; 8] = [
    [false, true, true, true],    // staff follower
    [false, false, false, false], // staff, not a follower
    [true, true, true, true],     // staff participant
    [true, true, true, true],     // client participant
    [false, false, true, false],  // client follower
    [false, false, true, false],  // client follower, participant of the third only
    [false, false, false, false], // client of another company
    [false, false, false, false], // stranger
];

#[tokio::test]
async fn who_may_read_each_type_everywhere() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let mut ids = Vec::new();
        for (email, role) in PEOPLE {
            ids.push(app.person(email, email, role).await);
        }
        let cast = Cast {
            staff_follower: ids[0].clone(),
            staff_participant: ids[2].clone(),
            client_participant: ids[3].clone(),
            client_follower: ids[4].clone(),
            client_follower_participant: ids[5].clone(),
            client_other_company: ids[6].clone(),
        };
        let acme = company(&app, "Acme").await;
        let other = company(&app, "Other").await;
        follow(&app, &acme, &cast.staff_follower).await;
        follow(&app, &acme, &cast.client_follower).await;
        follow(&app, &acme, &cast.client_follower_participant).await;
        follow(&app, &other, &cast.client_other_company).await;

        let mut conversations = Vec::new();
        for (subject, kind, extra) in [
            ("Private", "private", None),
            ("Company", "company", None),
            (
                "Company with client",
                "company",
                Some(&cast.client_follower_participant),
            ),
            ("Confidential", "confidential", None),
        ] {
            let mut participants = vec![cast.client_participant.clone()];
            participants.extend(extra.cloned());
            let mut body = json!({"subject": subject, "created_by": cast.staff_participant,
                                  "participants": participants, "type": kind});
            if kind != "private" {
                body["company_id"] = json!(acme);
            }
            let (status, c) = create(&app, body).await;
            assert_eq!(status, 201, "{c}");
            let id = c["id"].as_str().unwrap().to_string();
            app.say(
                &id,
                &cast.staff_participant,
                &format!("About {subject}"),
                "message",
            )
            .await;
            conversations.push(id);
        }

        // Only participants are emailed.
        for (i, (email, _)) in PEOPLE.iter().enumerate() {
            let expected = match i {
                3 => 4, // the client participant: all four
                5 => 1, // the client follower who takes part in the third
                _ => 0,
            };
            assert_eq!(
                app.settle_and_collect(email).await.len(),
                expected,
                "emails to {email}"
            );
        }

        for (i, (email, _)) in PEOPLE.iter().enumerate() {
            let person = &ids[i];
            let (status, list) = app
                .get(&format!("/conversations?as={person}&limit=100"))
                .await;
            assert_eq!(status, 200, "{list}");
            let listed: Vec<&str> = list["conversations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap())
                .collect();
            let mut browser = sign_in_by_code(&app, email).await;
            let home = browser.get("/").await;
            assert_eq!(home.status, 200);
            for (j, id) in conversations.iter().enumerate() {
                let may = EXPECTED[i][j];
                let what = format!("{email} on conversation {j}");
                assert_eq!(listed.contains(&id.as_str()), may, "API list: {what}");
                let (status, _) = app.get(&format!("/conversations/{id}?as={person}")).await;
                assert_eq!(status == 200, may, "API get: {what} ({status})");
                assert_eq!(status == 404, !may, "API get: {what} ({status})");
                assert_eq!(
                    home.body.contains(&format!("/c/{id}")),
                    may,
                    "web list: {what}"
                );
                let page = browser.get(&format!("/c/{id}")).await;
                assert_eq!(page.status, if may { 200 } else { 404 }, "web page: {what}");
                let csrf = home.csrf();
                let reply = browser
                    .post(
                        &format!("/c/{id}/messages"),
                        &[("csrf", csrf.as_str()), ("body", "Hello from me")],
                    )
                    .await;
                assert_eq!(
                    reply.status,
                    if may { 303 } else { 404 },
                    "web reply: {what}"
                );
            }
        }

        // A follower who wrote now takes part: later messages reach them by email.
        let company_conversation = &conversations[1];
        let (_, c) = app
            .get(&format!("/conversations/{company_conversation}"))
            .await;
        let participants: Vec<&str> = c["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["person_id"].as_str().unwrap())
            .collect();
        assert!(participants.contains(&cast.staff_follower.as_str()), "{c}");
        app.say(
            company_conversation,
            &cast.staff_participant,
            "Everyone?",
            "message",
        )
        .await;
        // Emailed now (never before writing: see above), about the conversations they wrote in.
        let codes = 1;
        let to_follower = app.wait_for_emails("sf@team.test", codes + 1).await;
        let subjects: Vec<&str> = to_follower
            .iter()
            .map(|e| e.header("Subject").unwrap())
            .filter(|s| !s.contains("code"))
            .collect();
        assert!(subjects.contains(&"Re: Company"), "{subjects:?}");
        assert!(!subjects.contains(&"Re: Private"), "{subjects:?}");

        // Access is lost at the next request: the third conversation made confidential, the
        // client follower (not a participant) no longer reads it — though they wrote in it
        // and so now take part: a participant always reads. Unfollowing, then, for a
        // conversation they never wrote in.
        let (_, fresh) = create(
            &app,
            json!({"subject": "Fresh", "created_by": cast.staff_participant,
                   "participants": [cast.client_follower_participant], "company_id": acme}),
        )
        .await;
        let fresh = fresh["id"].as_str().unwrap().to_string();
        let mut follower = sign_in_by_code(&app, "cf@acme.test").await;
        assert_eq!(follower.get(&format!("/c/{fresh}")).await.status, 200);
        let (status, _) = app
            .patch(
                &format!("/conversations/{fresh}"),
                json!({"type": "confidential"}),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(follower.get(&format!("/c/{fresh}")).await.status, 404);
        app.patch(
            &format!("/conversations/{fresh}"),
            json!({"type": "company"}),
        )
        .await;
        assert_eq!(follower.get(&format!("/c/{fresh}")).await.status, 200);
        let status = app
            .delete(&format!(
                "/companies/{acme}/followers/{}",
                cast.client_follower
            ))
            .await;
        assert_eq!(status, 204);
        assert_eq!(follower.get(&format!("/c/{fresh}")).await.status, 404);
        let (status, _) = app
            .get(&format!(
                "/conversations/{fresh}?as={}",
                cast.client_follower
            ))
            .await;
        assert_eq!(status, 404);
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn copied_colleagues_are_offered_on_company_conversations_never_on_private_ones() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agnes = app.person("agnes@team.test", "Agnes", "internal").await;
        let carl = app.person("carl@acme.test", "Carl", "client").await;
        let acme = company(&app, "Acme").await;
        let mut tokens = Vec::new();
        for (subject, company_id) in [("Company", Some(&acme)), ("Private", None)] {
            let mut body = json!({"subject": subject, "created_by": agnes, "participants": [carl]});
            if let Some(c) = company_id {
                body["company_id"] = json!(c);
            }
            let (_, c) = create(&app, body).await;
            let id = c["id"].as_str().unwrap().to_string();
            app.say(&id, &agnes, subject, "message").await;
            tokens.push(id);
        }
        let emails = app.wait_for_emails("carl@acme.test", 2).await;
        for (n, email) in emails.iter().enumerate() {
            let reply_to = email.reply_to();
            let raw = format!(
                "From: carl@acme.test\r\nTo: {reply_to}\r\nCc: Dora <dora@acme.test>\r\n\
Subject: Re: x\r\nMessage-ID: <reply{n}@acme.test>\r\nIn-Reply-To: {}\r\n\r\nAdding Dora.\r\n",
                email.message_id()
            );
            assert_eq!(
                app.deliver("carl@acme.test", &[&reply_to], &raw).await.code,
                250
            );
        }
        let suggested = |id: &str| {
            let app = &app;
            let id = id.to_string();
            async move {
                let (status, body) = app
                    .get(&format!("/conversations/{id}/suggested-participants"))
                    .await;
                assert_eq!(status, 200, "{body}");
                body["suggested"].as_array().unwrap().len()
            }
        };
        // Each reply went to its own conversation (by its token), whichever email came first.
        assert_eq!(app.messages(&tokens[0]).await.len(), 2);
        assert_eq!(app.messages(&tokens[1]).await.len(), 2);
        assert_eq!(suggested(&tokens[0]).await, 1, "a company conversation");
        assert_eq!(suggested(&tokens[1]).await, 0, "never a private one");
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn the_directory_pages_manage_companies_and_list_people() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        app.person("agnes@team.test", "Agnes", "internal").await;
        let carl = app.person("carl@acme.test", "Carl Client", "client").await;
        app.person("dora@beta.test", "Dora", "client").await;

        // The admin files companies and their followers.
        let mut admin = support::web::Browser::new(&app);
        let page = admin
            .submit("/admin", "/admin", &[("token", ADMIN_TOKEN)])
            .await;
        assert_eq!(page.status, 303);
        let page = admin
            .submit("/admin/companies", "/admin/companies", &[("name", "Acme")])
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let company_path = page.location().unwrap().to_string();
        let acme = company_path.rsplit('/').next().unwrap().to_string();
        let page = admin
            .submit("/admin/companies", "/admin/companies", &[("name", "")])
            .await;
        assert_eq!(page.status, 422);
        let page = admin
            .submit(
                &company_path,
                &format!("{company_path}/followers"),
                &[("email", "Carl@ACME.test")],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = admin
            .submit(
                &company_path,
                &format!("{company_path}/followers"),
                &[("email", "nobody@acme.test")],
            )
            .await;
        assert_eq!(page.status, 422);
        assert!(page.body.contains("add them first"), "{}", page.body);
        let page = admin
            .submit(&company_path, &company_path, &[("name", "Acme Ltd")])
            .await;
        assert_eq!(page.status, 303);
        let page = admin.get(&company_path).await;
        assert!(page.body.contains("Acme Ltd") && page.body.contains("Carl Client"));
        let (_, view) = app.get(&format!("/companies/{acme}")).await;
        assert_eq!(view["followers"][0]["id"], carl.as_str());

        // Staff find people by name, role and company, and see what each follows.
        let mut agnes = sign_in_by_code(&app, "agnes@team.test").await;
        let page = agnes.get("/people?q=acme").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Carl Client") && !page.body.contains("Dora"));
        let page = agnes
            .get(&format!("/people?company={acme}&role=client"))
            .await;
        assert!(page.body.contains("Carl Client") && !page.body.contains("Agnes</a>"));
        let page = agnes.get(&format!("/people/{carl}")).await;
        assert!(page.body.contains("Acme Ltd"), "{}", page.body);
        assert_eq!(agnes.get("/admin/companies").await.status, 403);

        // A new conversation filed under the company, from the form.
        let page = agnes
            .submit(
                "/new",
                "/new",
                &[
                    ("subject", "Q3 invoices"),
                    ("participants", "carl@acme.test"),
                    ("company", &acme),
                    ("kind", "confidential"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let id = page
            .location()
            .unwrap()
            .trim_start_matches("/c/")
            .to_string();
        let (_, c) = app.get(&format!("/conversations/{id}")).await;
        assert_eq!(
            (c["type"].as_str(), c["company_id"].as_str()),
            (Some("confidential"), Some(acme.as_str()))
        );
        let page = agnes
            .submit("/new", "/new", &[("subject", "X"), ("kind", "company")])
            .await;
        assert_eq!(page.status, 422, "a company conversation needs a company");

        // Clients have no directory; removing a follower from the page.
        let mut carl_browser = sign_in_by_code(&app, "carl@acme.test").await;
        assert_eq!(carl_browser.get("/people").await.status, 403);
        let page = admin
            .submit(
                &company_path,
                &format!("{company_path}/followers/remove"),
                &[("person_id", &carl)],
            )
            .await;
        assert_eq!(page.status, 303);
        let (_, view) = app.get(&format!("/companies/{acme}")).await;
        assert_eq!(view["followers"].as_array().unwrap().len(), 0);
        app.stop().await;
        db.cleanup().await;
    }
}

/// A person's conversation list, `limit` at a time, following `next_cursor` to the end.
async fn list_paged(app: &TestApp, person: &str, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut url = format!("/conversations?as={person}&limit={limit}");
    loop {
        let (status, page) = app.get(&url).await;
        assert_eq!(status, 200, "{page}");
        ids.extend(
            page["conversations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                url = format!("/conversations?as={person}&limit={limit}&cursor={cursor}")
            }
            None => return ids,
        }
        assert!(ids.len() < 100, "paging does not end");
    }
}

#[tokio::test]
async fn a_list_walked_by_status_pages_as_the_gathered_one() {
    // Small pages make a reader of most conversations walk them status by status; a page of
    // 100 gathers them: the same conversations in the same order either way, across statuses.
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let staff = app.person("sam@team.test", "Sam Staff", "internal").await;
        let writer = app.person("wes@team.test", "Wes Writer", "internal").await;
        let client = app
            .person("cleo@client.test", "Cleo Client", "client")
            .await;
        let acme = company(&app, "Acme").await;
        follow(&app, &acme, &staff).await;
        follow(&app, &acme, &client).await;
        let mut all = Vec::new();
        for (i, kind) in [
            "company",
            "confidential",
            "company",
            "private",
            "company",
            "company",
        ]
        .into_iter()
        .enumerate()
        {
            let mut body = json!({"subject": format!("Topic {i}"), "created_by": writer,
                                  "participants": [client], "type": kind});
            if kind != "private" {
                body["company_id"] = json!(acme);
            }
            let (status, c) = create(&app, body).await;
            assert_eq!(status, 201, "{c}");
            let id = c["id"].as_str().unwrap().to_string();
            app.say(&id, &writer, &format!("About topic {i}"), "message")
                .await;
            all.push(id);
        }
        for (id, status) in [(&all[0], "closed"), (&all[2], "open"), (&all[4], "closed")] {
            let (code, body) = app
                .patch(&format!("/conversations/{id}"), json!({"status": status}))
                .await;
            assert_eq!(code, 200, "{body}");
        }
        for person in [&staff, &client] {
            let gathered = list_paged(&app, person, 100).await;
            assert!(!gathered.is_empty());
            for limit in [1, 2, 3] {
                assert_eq!(
                    list_paged(&app, person, limit).await,
                    gathered,
                    "limit {limit}"
                );
            }
        }
        // The staff follower reads all but the private one; nothing is listed twice.
        let staff_list = list_paged(&app, &staff, 1).await;
        assert_eq!(staff_list.len(), 5, "{staff_list:?}");
        assert!(!staff_list.contains(&all[3]));
        app.stop().await;
        db.cleanup().await;
    }
}
