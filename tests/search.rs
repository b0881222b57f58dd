//! Search over the API on both backends: folding, French and English stemming, phrases,
//! prefixes, ranking on a fixed set, snippets with marks, file names, subjects (renamed too),
//! participants for staff only, hostile queries, and what a client must never find: notes,
//! deleted messages, other participants' addresses, conversations they may not read.

mod support;

use serde_json::{Value, json};
use support::*;

struct Scene {
    app: TestApp,
    agent: String,
    client: String,
    other_client: String,
    /// Conversation ids by subject.
    ids: std::collections::HashMap<&'static str, String>,
}

async fn scene(db: &TestDb) -> Scene {
    let app = spawn_app(db, &[]).await;
    let agent = app
        .person("agnes@team.test", "Agnes Agent", "internal")
        .await;
    let client = app
        .person("carl@client.test", "Carl Client", "client")
        .await;
    let other_client = app.person("olga@other.test", "Olga Other", "client").await;
    let mut ids = std::collections::HashMap::new();
    for (subject, with, messages) in [
        (
            "Réunion d'été",
            &client,
            vec![
                "La réunion est fixée, à très bientôt.",
                "See you next week then",
            ],
        ),
        (
            "Invoices",
            &client,
            vec![
                "Voici les factures du trimestre.",
                "The parcel was shipped yesterday.",
                "facture facture facture: three times the word",
            ],
        ),
        (
            "Facturation",
            &client,
            vec!["Question sur la facturation annuelle."],
        ),
        (
            "Olga's order",
            &other_client,
            vec!["Olga's facture is ready."],
        ),
    ] {
        let id = app.conversation(subject, &agent, &[with]).await;
        for m in messages {
            app.say(&id, &agent, m, "message").await;
        }
        ids.insert(subject, id);
    }
    Scene {
        app,
        agent,
        client,
        other_client,
        ids,
    }
}

/// The subjects found for `q` as `as_` (None: the admin), in order.
async fn found(s: &Scene, q: &str, as_: Option<&str>) -> Vec<String> {
    let (status, body) = search(s, q, as_).await;
    assert_eq!(status, 200, "{q}: {body}");
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["conversation"]["subject"].as_str().unwrap().to_string())
        .collect()
}

async fn search(s: &Scene, q: &str, as_: Option<&str>) -> (u16, Value) {
    let mut url = format!("/search?q={}", urlencode(q));
    if let Some(p) = as_ {
        url.push_str(&format!("&as={p}"));
    }
    s.app.get(&url).await
}

fn urlencode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn words_are_found_folded_stemmed_as_phrases_and_prefixes() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let c = Some(s.client.as_str());
        // Case and accents folded.
        assert_eq!(found(&s, "reunion", c).await, ["Réunion d'été"]);
        assert_eq!(found(&s, "ETE", c).await, ["Réunion d'été"]);
        // Stemming, French and English.
        // "factures", "facture" and "facturation" share a French stem; the literal form ranks first.
        assert_eq!(found(&s, "factures", c).await, ["Invoices", "Facturation"]);
        assert_eq!(found(&s, "shipping", c).await, ["Invoices"]);
        // Phrases: in a row, in order.
        assert_eq!(found(&s, "\"next week\"", c).await, ["Réunion d'été"]);
        assert!(found(&s, "\"week next\"", c).await.is_empty());
        // A phrase is of the words written, not of a word and the stem indexed after the last
        // one ("shipping" is indexed with its stem "ship").
        s.app
            .say(&s.ids["Facturation"], &s.agent, "Shipping", "message")
            .await;
        assert_eq!(found(&s, "shipping", c).await, ["Facturation", "Invoices"]);
        assert!(
            found(&s, "\"shipping ship\"", c).await.is_empty(),
            "{}",
            db.backend
        );
        // Prefixes.
        let mut prefixed = found(&s, "factur*", c).await;
        prefixed.sort();
        assert_eq!(prefixed, ["Facturation", "Invoices"]);
        // All words must match.
        assert!(found(&s, "reunion shipped", c).await.is_empty());
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn results_are_ranked_with_snippets_and_marks() {
    for db in test_databases().await {
        let s = scene(&db).await;
        // The admin reads everything: three conversations say "facture" in some form; the one
        // saying it most ranks first.
        let all = found(&s, "facture", None).await;
        assert_eq!(all[0], "Invoices", "{all:?}");
        assert!(all.contains(&"Olga's order".to_string()));
        let (_, body) = search(&s, "factures", Some(&s.client)).await;
        let first = &body["results"][0];
        let snippet = &first["snippets"][0];
        let text = snippet["text"].as_str().unwrap();
        let marks = snippet["marks"].as_array().unwrap();
        assert!(!marks.is_empty(), "{body}");
        for m in marks {
            let (a, b) = (
                m[0].as_u64().unwrap() as usize,
                m[1].as_u64().unwrap() as usize,
            );
            assert!(
                text[a..b].to_lowercase().starts_with("factur"),
                "{text}: {a}..{b}"
            );
        }
        // Paging.
        let (_, page) = s.app.get("/search?q=facture&limit=1").await;
        assert_eq!(page["results"].as_array().unwrap().len(), 1);
        let cursor = page["next_cursor"].as_str().unwrap();
        let (_, next) = s
            .app
            .get(&format!("/search?q=facture&limit=1&cursor={cursor}"))
            .await;
        assert_ne!(
            next["results"][0]["conversation"]["id"],
            page["results"][0]["conversation"]["id"]
        );
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_client_finds_only_what_they_may_read() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let invoices = s.ids["Invoices"].clone();
        s.app
            .say(&invoices, &s.agent, "Internal: the margin is thin", "note")
            .await;
        let doomed = s
            .app
            .say(
                &invoices,
                &s.agent,
                "A secret discount code ZEBRA42",
                "message",
            )
            .await;
        let c = Some(s.client.as_str());
        let staff = Some(s.agent.as_str());
        assert!(found(&s, "margin", c).await.is_empty(), "a note");
        assert_eq!(found(&s, "margin", staff).await, ["Invoices"]);
        assert_eq!(found(&s, "zebra42", c).await, ["Invoices"]);
        assert_eq!(s.app.delete(&format!("/messages/{doomed}")).await, 200);
        assert!(found(&s, "zebra42", c).await.is_empty(), "deleted");
        assert!(
            found(&s, "zebra42", staff).await.is_empty(),
            "deleted, for staff too"
        );
        // Participants' names and addresses: for staff only, renamed at once.
        assert_eq!(found(&s, "olga@other.test", staff).await, ["Olga's order"]);
        let (status, _) = s
            .app
            .patch(
                &format!("/people/{}", s.other_client),
                json!({"name": "Olga Petrovna"}),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(found(&s, "petrovna", staff).await, ["Olga's order"]);
        assert!(found(&s, "other.test", c).await.is_empty());
        assert!(
            found(&s, "carl", Some(s.other_client.as_str()))
                .await
                .is_empty(),
            "another participant's name"
        );
        // Not a participant: nothing of that conversation.
        assert_eq!(found(&s, "facture", c).await, ["Invoices", "Facturation"]);
        assert_eq!(
            found(&s, "facture", Some(&s.other_client)).await,
            ["Olga's order"]
        );
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn subjects_and_file_names_are_found_and_renames_follow() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let id = s.ids["Facturation"].clone();
        let c = Some(s.client.as_str());
        let (status, _) = s
            .app
            .patch(
                &format!("/conversations/{id}"),
                json!({"subject": "Abonnement 2027"}),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(found(&s, "abonnement", c).await, ["Abonnement 2027"]);
        // The old subject is gone; its message still says "facturation".
        let (_, body) = search(&s, "2027", c).await;
        assert_eq!(body["results"][0]["snippets"][0]["kind"], "subject");
        // A file's name.
        let client = reqwest::Client::new();
        let form = reqwest::multipart::Form::new()
            .text("author_id", s.agent.clone())
            .text("body_text", "Attached.")
            .part(
                "file",
                reqwest::multipart::Part::bytes(b"%PDF-1.4 x".to_vec())
                    .file_name("Relevé-bancaire.pdf")
                    .mime_str("application/pdf")
                    .unwrap(),
            );
        let response = client
            .post(s.app.url(&format!("/conversations/{id}/messages")))
            .bearer_auth(ADMIN_TOKEN)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(found(&s, "releve bancaire", c).await, ["Abonnement 2027"]);
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn hostile_queries_are_text_or_a_422_never_a_500() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let long = "facture ".repeat(1000);
        let many = (0..1000)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        for q in [
            "\"unclosed facture",
            "NEAR(facture shipped)",
            "facture:shipped",
            "-facture",
            "*",
            "\"\"",
            "' OR 1=1; DROP TABLE messages; --",
            "words : \"x\" OR stems : *",
            "a & b | !c <-> d:*",
            "\u{0}facture",
            long.as_str(),
            many.as_str(),
            "",
            "   ",
        ] {
            let (status, body) = search(&s, q, Some(&s.client)).await;
            assert!(
                status == 200 || status == 422,
                "{:?} answered {status}: {body}",
                q.chars().take(40).collect::<String>()
            );
            if status == 422 {
                assert_eq!(body["error"]["field"], "q");
            }
        }
        let (status, _) = search(&s, "", None).await;
        assert_eq!(status, 422, "an empty query");
        let (status, _) = s.app.get("/search?q=x&cursor=bogus").await;
        assert_eq!(status, 422);
        // An offset no cursor of ours carries, forged: an empty page, not a walk of the index.
        let forged = {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("search\n{}", i64::MAX))
        };
        let (status, body) = s
            .app
            .get(&format!("/search?q=facture&cursor={forged}"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["results"], json!([]));
        let (status, _) = s.app.get("/search?q=x&as=per_nobody").await;
        assert_eq!(status, 422);
        // A quote left open closes at the end.
        assert_eq!(
            found(&s, "\"les factures", Some(&s.client)).await,
            ["Invoices"]
        );
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn the_search_box_shows_marked_snippets_of_what_the_viewer_may_read() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let invoices = s.ids["Invoices"].clone();
        s.app
            .say(
                &invoices,
                &s.agent,
                "<script>alert(1)</script> facture piège",
                "message",
            )
            .await;
        let mut carl = support::web::sign_in_by_code(&s.app, "carl@client.test").await;
        let page = carl.get("/?q=factures").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("role=\"search\""));
        assert!(
            page.body.contains("Invoices") && !page.body.contains("Olga"),
            "{}",
            page.body
        );
        assert!(page.body.contains("<mark>"), "{}", page.body);
        assert!(!page.body.contains("<script>alert"), "escaped");
        let page = carl.get("/?q=%2A").await;
        assert_eq!(page.status, 422, "a query of no words");
        assert!(page.body.contains("role=\"alert\""));
        let page = carl.get("/?q=zzzzzz").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Nothing found."));
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_database_from_before_search_is_indexed_at_start() {
    for db in test_databases().await {
        let s = scene(&db).await;
        // A message as short as the first conversation's subject and saying the same word:
        // the two score the same, and the newer (the message) comes first, before the rebuild
        // and after it (which writes the documents in the order of time, a subject as old as
        // its conversation).
        s.app
            .say(&s.ids["Olga's order"], &s.agent, "Invoices", "message")
            .await;
        let tie = ["Olga's order", "Invoices"];
        assert_eq!(found(&s, "invoices", Some(&s.agent)).await, tie);
        // As a database migrated from before search: empty index, no analyzer version.
        let empty = match db.backend {
            "sqlite" => {
                "DELETE FROM search_fts; DELETE FROM search_docs; UPDATE search_state SET analyzer_version = 0"
            }
            _ => "DELETE FROM search_docs; UPDATE search_state SET analyzer_version = 0",
        };
        raw_sql(&db, empty).await;
        assert!(found(&s, "reunion", Some(&s.client)).await.is_empty());
        let written = s.app.store.rebuild_search_index_if_stale().await.unwrap();
        assert_eq!(
            written,
            8 + 4 * 2,
            "eight messages, four subjects and participant lists"
        );
        assert_eq!(found(&s, "invoices", Some(&s.agent)).await, tie);
        assert_eq!(
            found(&s, "reunion", Some(&s.client)).await,
            ["Réunion d'été"]
        );
        assert_eq!(found(&s, "olga", Some(&s.agent)).await, ["Olga's order"]);
        assert_eq!(
            s.app.store.rebuild_search_index_if_stale().await.unwrap(),
            0,
            "once"
        );
        s.app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_reply_by_email_is_found_the_moment_it_is_stored() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let email = s.app.wait_for_emails("carl@client.test", 1).await.remove(0);
        let reply_to = email.reply_to();
        let raw = reply_email(
            "carl@client.test",
            &reply_to,
            "<r1@client.test>",
            &email.message_id(),
            "Le colis Colissimo est arrivé, merci.",
        );
        assert_eq!(
            s.app
                .deliver("carl@client.test", &[&reply_to], &raw)
                .await
                .code,
            250
        );
        let found = found(&s, "colissimo arrive", Some(&s.client)).await;
        assert_eq!(found.len(), 1, "{found:?}");
        s.app.stop().await;
        db.cleanup().await;
    }
}

/// A reply of 200,000 distinct words: PostgreSQL refuses a tsvector over 1 MiB, and the index
/// is written in the email's transaction — it was answered 451 at every retry. Its first
/// 128 KiB of words are indexed, the same on both backends; the email is stored whole.
#[tokio::test]
async fn a_reply_of_two_hundred_thousand_distinct_words_is_stored_and_found_by_its_first() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let email = s.app.wait_for_emails("carl@client.test", 1).await.remove(0);
        let reply_to = email.reply_to();
        let mut body = String::from("Zanzibar quokka\r\n");
        for line in 0..20_000 {
            let words: Vec<String> = (0..10).map(|i| format!("w{:x}", line * 10 + i)).collect();
            body.push_str(&words.join(" "));
            body.push_str("\r\n");
        }
        body.push_str("Ocelot\r\n");
        let raw = reply_email(
            "carl@client.test",
            &reply_to,
            "<long@client.test>",
            &email.message_id(),
            &body,
        );
        let reply = s.app.deliver("carl@client.test", &[&reply_to], &raw).await;
        assert_eq!(reply.code, 250, "{} {}", db.backend, reply.text);
        let subjects = found(&s, "\"zanzibar quokka\"", Some(&s.client)).await;
        assert_eq!(subjects.len(), 1, "{} {subjects:?}", db.backend);
        assert!(
            found(&s, "ocelot", Some(&s.client)).await.is_empty(),
            "past the budget"
        );
        let messages = s.app.messages(&s.ids[subjects[0].as_str()]).await;
        assert!(
            messages.iter().any(|m| m["body_text"]
                .as_str()
                .is_some_and(|t| t.contains("Ocelot"))),
            "{} stored whole",
            db.backend
        );
        s.app.stop().await;
        db.cleanup().await;
    }
}

/// More documents than a PostgreSQL search walks first (10,000): a phrase found there too
/// rarely to fill the window is searched on through the rest — walking on, when the
/// documents holding its words are everywhere, or through the GIN index, when they are few —
/// and either way finds what only the older documents hold. Every document says the phrases'
/// words in the other order, so only the order tells them apart.
#[tokio::test]
async fn a_phrase_is_found_in_the_older_documents_either_way_the_rest_is_searched() {
    for db in test_databases().await {
        let app = spawn_app(&db, &[]).await;
        let agent = app.person("agnes@team.test", "Agnes", "internal").await;
        let client = app.person("carl@client.test", "Carl", "client").await;
        let mut conversations = Vec::new();
        for n in 0..50 {
            let subject = format!("Thread {n}");
            conversations.push((
                app.conversation(&subject, &agent, &[&client]).await,
                subject,
            ));
        }
        let messages: Vec<(String, String, String)> = (0..12_500)
            .map(|i| {
                // "kettle copper" everywhere, "copper kettle" in one of 30 (a third of the
                // window in the newest) and in one old message of Thread 7; "falcon amber" in
                // one of 100, "amber falcon" only in two old messages.
                let mut text = format!("kettle copper filler{i}");
                if i % 30 == 0 || i == 57 {
                    text.push_str(" copper kettle");
                }
                if i % 100 == 0 {
                    text.push_str(" falcon amber");
                }
                if i == 101 || i == 202 {
                    text.push_str(" amber falcon");
                }
                (conversations[i % 50].0.clone(), agent.clone(), text)
            })
            .collect();
        // Indexed in this order, the newest last.
        app.store.import_messages(&messages).await.unwrap();
        // The table's size as autovacuum would have counted it.
        raw_sql(&db, "ANALYZE").await;
        let subjects = |found: &Value| {
            let mut s: Vec<String> = found["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["conversation"]["subject"].as_str().unwrap().to_string())
                .collect();
            s.sort();
            s
        };
        for as_ in ["", &format!("&as={agent}")] {
            let (status, body) = app
                .get(&format!("/search?q=%22copper%20kettle%22&limit=20{as_}"))
                .await;
            assert_eq!(status, 200, "{body}");
            let mut expected: Vec<String> = [0, 10, 20, 30, 40, 7]
                .iter()
                .map(|n| format!("Thread {n}"))
                .collect();
            expected.sort();
            assert_eq!(subjects(&body), expected, "{} as {as_:?}", db.backend);
            let (status, body) = app
                .get(&format!("/search?q=%22amber%20falcon%22&limit=20{as_}"))
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                subjects(&body),
                ["Thread 1", "Thread 2"],
                "{} as {as_:?}",
                db.backend
            );
        }
        app.stop().await;
        db.cleanup().await;
    }
}
