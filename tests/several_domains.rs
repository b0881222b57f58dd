//! Several sending domains in one process, on both backends, over SMTP and a loopback DNS
//! server: each conversation's emails go out from its own domain (From, display name, reply
//! domain, Message-ID, unsubscribe address) and are DKIM-signed with that domain's keys, which
//! dkimpy verifies against that domain's published records; a reply token works only on its
//! own domain's reply domain; a second domain's inbox starts conversations there, in its
//! language; and nothing is relayed with two domains either.

mod support;

use serde_json::{Value, json};
use support::dkim::{dkimpy_available, dkimpy_verifies};
use support::dns::TestDns;
use support::*;

const MX_HOST: &str = "mx.gateway.test";

async fn app_with_dns(db: &TestDb, dns: &TestDns) -> TestApp {
    let server = dns.addr.to_string();
    spawn_app(db, &["--dns-server", &server, "--mx-host", MX_HOST]).await
}

/// The default domain (`--from-address notifications@gateway.test`) and `brand.test`, both
/// published in the test DNS and checked. Returns their views.
async fn two_domains(app: &TestApp, dns: &TestDns) -> (Value, Value) {
    let (status, a) = app.post("/domains", json!({"name": "gateway.test"})).await;
    assert_eq!(status, 201, "{a}");
    let (status, b) = app.post("/domains", json!({"name": "brand.test"})).await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(a["default"], true);
    assert_eq!(b["default"], false);
    assert_eq!(b["notifications_address"], "notifications@brand.test");
    assert_eq!(b["display_name"], "threadgate");
    // Not checked yet: it would still send, but the admin is told where its mail will land.
    assert_eq!(b["deliverability"]["lands_in_spam"], true, "{b}");
    assert!(
        b["deliverability"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("never checked"),
        "{b}"
    );
    dns.publish_all(&a).await;
    dns.publish_all(&b).await;
    for name in ["gateway.test", "brand.test"] {
        let (status, view) = app.post(&format!("/domains/{name}/check"), json!({})).await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["deliverability"]["lands_in_spam"], false, "{view}");
    }
    (a, b)
}

fn signatures(email: &Email) -> Vec<String> {
    email
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("DKIM-Signature"))
        .map(|(_, v)| v.split_whitespace().collect::<String>())
        .collect()
}

#[tokio::test]
async fn each_conversation_mails_from_its_own_domain_signed_with_its_keys() {
    for db in test_databases().await {
        let dns = TestDns::start().await;
        let app = app_with_dns(&db, &dns).await;
        let (a, _) = two_domains(&app, &dns).await;

        // How brand.test presents itself; bad values change nothing.
        for bad in [
            json!({"default_language": "de"}),
            json!({"display_name": "Brand\u{7}"}),
            json!({"notifications_local": "reply"}),
            json!({"notifications_local": "support"}),
            json!({"display_name": 3}),
        ] {
            let (status, body) = app.patch("/domains/brand.test", bad.clone()).await;
            assert_eq!(status, 422, "{bad} → {body}");
        }
        let (status, b) = app
            .patch(
                "/domains/brand.test",
                json!({"display_name": "Brand Support", "notifications_local": "Hello",
                       "default_language": "fr"}),
            )
            .await;
        assert_eq!(status, 200, "{b}");
        assert_eq!(b["display_name"], "Brand Support");
        assert_eq!(b["notifications_address"], "hello@brand.test");
        assert_eq!(b["default_language"], "fr");

        let agent = app
            .person("agnes@team.test", "Agnes Agent", "internal")
            .await;
        let ann = app.person("ann@client.test", "Ann", "client").await;
        let bob = app.person("bob@client.test", "Bob", "client").await;
        let plain = app.conversation("Plain", &agent, &[&ann]).await;
        let (status, branded) = app
            .post(
                "/conversations",
                json!({"subject": "Branded", "created_by": agent, "participants": [bob],
                       "domain": "Brand.Test"}),
            )
            .await;
        assert_eq!(status, 201, "{branded}");
        assert_eq!(branded["domain"], "brand.test");
        let branded = branded["id"].as_str().unwrap().to_string();
        let (status, body) = app
            .post(
                "/conversations",
                json!({"subject": "X", "created_by": agent, "domain": "elsewhere.test"}),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "unknown_domain");

        app.say(&plain, &agent, "From the default domain.", "message")
            .await;
        app.say(&branded, &agent, "From the brand.", "message")
            .await;
        let to_ann = app.wait_for_emails("ann@client.test", 1).await.remove(0);
        let to_bob = app.wait_for_emails("bob@client.test", 1).await.remove(0);

        let from = to_ann.header("From").unwrap();
        assert!(
            from.contains("Agnes Agent via threadgate")
                && from.contains("<notifications@gateway.test>"),
            "{from}"
        );
        // The default domain's row names its reply domain.
        assert!(
            to_ann.reply_to().ends_with("@reply.gateway.test"),
            "{}",
            to_ann.reply_to()
        );
        assert!(to_ann.message_id().ends_with("@reply.gateway.test>"));

        let from = to_bob.header("From").unwrap();
        assert!(
            from.contains("Agnes Agent via Brand Support") && from.contains("<hello@brand.test>"),
            "{from}"
        );
        assert!(
            to_bob.reply_to().ends_with("@reply.brand.test"),
            "{}",
            to_bob.reply_to()
        );
        assert!(to_bob.message_id().ends_with("@reply.brand.test>"));
        assert!(
            to_bob
                .header("List-Unsubscribe")
                .unwrap()
                .contains("mailto:unsubscribe@reply.brand.test"),
        );
        assert!(!String::from_utf8_lossy(&to_bob.raw).contains("gateway.test"));

        // Each signed by its own domain's keys, and only those verify it.
        for (email, domain) in [(&to_ann, "gateway.test"), (&to_bob, "brand.test")] {
            let sigs = signatures(email);
            assert_eq!(sigs.len(), 2, "{sigs:?}");
            assert!(
                sigs.iter().all(|s| s.contains(&format!("d={domain};"))),
                "{sigs:?}"
            );
        }
        if dkimpy_available() {
            assert_eq!(dkimpy_verifies(&to_bob.raw, &b), Ok(2), "brand.test's keys");
            assert_eq!(
                dkimpy_verifies(&to_ann.raw, &a),
                Ok(2),
                "gateway.test's keys"
            );
            assert!(dkimpy_verifies(&to_bob.raw, &a).is_err(), "not the other's");
        } else {
            eprintln!("skipping dkimpy: pip install dkimpy pynacl");
        }

        // A token is valid on its own domain's reply domain only.
        let bob_token = to_bob.reply_to();
        let ann_token = to_ann.reply_to();
        for (from, address) in [
            (
                "bob@client.test",
                bob_token.replace("@reply.brand.test", "@reply.gateway.test"),
            ),
            (
                "bob@client.test",
                bob_token.replace("@reply.brand.test", "@reply.test"),
            ),
            (
                "ann@client.test",
                ann_token.replace("@reply.gateway.test", "@reply.brand.test"),
            ),
        ] {
            let (mut smtp, _) = SmtpClient::connect(app.smtp).await;
            smtp.cmd("EHLO client.test").await;
            smtp.cmd(&format!("MAIL FROM:<{from}>")).await;
            let reply = smtp.cmd(&format!("RCPT TO:<{address}>")).await;
            smtp.cmd("QUIT").await;
            assert_eq!(reply.code, 550, "{address}: {}", reply.text);
            assert!(reply.text.contains("5.1.1"), "{}", reply.text);
        }
        // Addresses sent on the flag's reply domain before the row named another still work.
        let old = ann_token.replace("@reply.gateway.test", "@reply.test");
        let email = reply_email(
            "ann@client.test",
            &old,
            "<a1@client.test>",
            "",
            "Still here.",
        );
        assert_eq!(
            app.deliver("ann@client.test", &[&old], &email).await.code,
            250
        );
        let email = reply_email(
            "bob@client.test",
            &bob_token,
            "<b1@client.test>",
            &to_bob.message_id(),
            "Thanks, brand.",
        );
        assert_eq!(
            app.deliver("bob@client.test", &[&bob_token], &email)
                .await
                .code,
            250
        );
        let texts = |messages: Vec<Value>| -> Vec<String> {
            messages
                .iter()
                .map(|m| m["body_text"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            texts(app.messages(&branded).await),
            ["From the brand.", "Thanks, brand."]
        );
        assert_eq!(
            texts(app.messages(&plain).await),
            ["From the default domain.", "Still here."]
        );
        // The agent's own notification of Bob's reply comes from the brand too (Ann's, from the
        // default domain, may come first: wait until Bob's is there, or fail after 10 s).
        let mut expected = 1;
        loop {
            let to_agent = app.wait_for_emails("agnes@team.test", expected).await;
            if to_agent
                .iter()
                .any(|e| e.header("From").unwrap().contains("Bob via Brand Support"))
            {
                break;
            }
            expected = to_agent.len() + 1;
        }
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_second_domain_s_inbox_starts_its_conversations_there_in_its_language() {
    for db in test_databases().await {
        let dns = TestDns::start().await;
        let app = app_with_dns(&db, &dns).await;
        two_domains(&app, &dns).await;
        let (status, b) = app
            .patch(
                "/domains/brand.test",
                json!({"strangers": "accept", "default_language": "fr",
                       "display_name": "Marque"}),
            )
            .await;
        assert_eq!(status, 200, "{b}");
        assert_eq!(b["inbox"]["address"], "support@brand.test");
        app.person("agnes@team.test", "Agnes", "internal").await;

        let email = "From: Nina <nina@new.test>\r\nTo: support@brand.test\r\nSubject: Devis\r\n\
Message-ID: <n1@new.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nBonjour, un devis ?\r\n";
        let reply = app
            .deliver("nina@new.test", &["support@brand.test"], email)
            .await;
        assert_eq!(reply.code, 250, "{}", reply.text);
        let record = app.inbound().await[0].clone();
        assert_eq!(record["outcome"], "posted", "{record}");
        let id = record["conversation_id"].as_str().unwrap();
        let (_, conversation) = app.get(&format!("/conversations/{id}")).await;
        assert_eq!(conversation["domain"], "brand.test");
        let nina = conversation["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["email"] == "nina@new.test")
            .unwrap_or_else(|| panic!("{conversation}"))["person_id"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, person) = app.get(&format!("/people/{nina}")).await;
        assert_eq!(person["locale"], "fr", "the brand's language: {person}");

        // The team hears of it from the brand, and answers through the brand's reply domain.
        let to_agent = app.wait_for_emails("agnes@team.test", 1).await.remove(0);
        assert!(to_agent.header("From").unwrap().contains("via Marque"));
        assert!(
            to_agent
                .header("From")
                .unwrap()
                .contains("<notifications@brand.test>")
        );
        let reply_to = to_agent.reply_to();
        assert!(reply_to.ends_with("@reply.brand.test"), "{reply_to}");
        let answer = reply_email(
            "agnes@team.test",
            &reply_to,
            "<ag1@team.test>",
            &to_agent.message_id(),
            "Bien sûr, voici le devis.",
        );
        assert_eq!(
            app.deliver("agnes@team.test", &[&reply_to], &answer)
                .await
                .code,
            250
        );
        let to_nina = app.wait_for_emails("nina@new.test", 1).await.remove(0);
        assert!(to_nina.html.contains("lang=\"fr\""), "in French");
        assert!(
            to_nina
                .header("From")
                .unwrap()
                .contains("<notifications@brand.test>")
        );
        app.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn nothing_is_relayed_with_two_domains_either() {
    for db in test_databases().await {
        let dns = TestDns::start().await;
        let app = app_with_dns(&db, &dns).await;
        two_domains(&app, &dns).await;
        let (status, _) = app
            .patch("/domains/brand.test", json!({"inbox": null}))
            .await;
        assert_eq!(status, 200);
        let (mut smtp, _) = SmtpClient::connect(app.smtp).await;
        smtp.cmd("EHLO evil.test").await;
        assert_eq!(smtp.cmd("MAIL FROM:<spammer@evil.test>").await.code, 250);
        let refused = [
            ("victim@elsewhere.test", "5.7.1"),
            // A sending domain itself is not a reply domain, and brand.test has no inbox.
            ("someone@brand.test", "5.7.1"),
            ("support@brand.test", "5.7.1"),
            ("victim@reply.brand.test.evil.test", "5.7.1"),
            ("victim%evil.test@reply.brand.test", "5.1.1"),
            ("postmaster@reply.brand.test", "5.1.1"),
            ("POSTMASTER@REPLY.GATEWAY.TEST", "5.1.1"),
            ("reply+abcdefghijklmnopqrstuvwxyz@reply.brand.test", "5.1.1"),
            (
                "reply+abcdefghijklmnopqrstuvwxyz@reply.gateway.test",
                "5.1.1",
            ),
            ("bounces+out_abcdefghijklmnop@reply.brand.test", "5.1.1"),
        ];
        for (address, code) in refused {
            let reply = smtp.cmd(&format!("RCPT TO:<{address}>")).await;
            assert_eq!(reply.code, 550, "{address}: {}", reply.text);
            assert!(reply.text.contains(code), "{address}: {}", reply.text);
        }
        // Forms no relay may be tricked by: refused, whatever the reason given.
        for address in [
            "<victim@evil.test@reply.brand.test>",
            "<\"victim@evil.test\"@reply.brand.test>",
            "<@reply.brand.test:victim@evil.test>",
            "<victim@evil.test>\tNOTIFY=NEVER",
        ] {
            let reply = smtp.cmd(&format!("RCPT TO:{address}")).await;
            assert!(reply.code >= 500, "{address}: {}", reply.text);
        }
        // Our own notifications addresses are ours: a client may answer them.
        assert_eq!(
            smtp.cmd("RCPT TO:<notifications@brand.test>").await.code,
            250
        );
        smtp.cmd("QUIT").await;
        // Nothing went out to anyone outside.
        assert!(outbox_emails(&app.outbox_dir(), "victim@elsewhere.test").is_empty());
        assert!(outbox_emails(&app.outbox_dir(), "victim@evil.test").is_empty());
        app.stop().await;
        db.cleanup().await;
    }
}
