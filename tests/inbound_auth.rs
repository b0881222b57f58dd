//! SPF, DKIM and DMARC of inbound replies (`--inbound-auth verify`), against a real DNS server
//! on loopback started by the test: each case with its outcome — pass (DKIM-aligned or
//! SPF-aligned), `p=reject` failure refused, `p=quarantine` failure held then released, `p=none`
//! failure posted with the failure recorded.

mod support;

use base64::Engine;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use serde_json::{Value, json};
use support::dns::TestDns;
use support::*;

struct Scene {
    app: TestApp,
    dns: TestDns,
    agent: String,
}

async fn scene(db: &TestDb) -> Scene {
    let dns = TestDns::start().await;
    let server = dns.addr.to_string();
    let app = spawn_app(
        db,
        &[
            "--dns-server",
            &server,
            "--inbound-auth",
            "verify",
            "--hostname",
            "mx.gateway.test",
        ],
    )
    .await;
    let agent = app
        .person("agnes@team.test", "Agnes Agent", "internal")
        .await;
    Scene { app, dns, agent }
}

impl Scene {
    /// A client at `email` in a conversation of their own; returns (conversation, Reply-To,
    /// Message-ID of their notification).
    async fn client(&self, email: &str) -> (String, String, String) {
        let client = self.app.person(email, "Client", "client").await;
        let conversation = self
            .app
            .conversation(&format!("About {email}"), &self.agent, &[&client])
            .await;
        self.app
            .say(&conversation, &self.agent, "Hello, any news?", "message")
            .await;
        let notification = self.app.wait_for_emails(email, 1).await.remove(0);
        (
            conversation,
            notification.reply_to(),
            notification.message_id(),
        )
    }

    async fn send(&self, from: &str, data: &str, to: &str) -> SmtpReply {
        self.app.deliver(from, &[to], data).await
    }

    async fn last_inbound(&self) -> Value {
        self.app.inbound().await.remove(0)
    }
}

fn reply(from: &str, to: &str, irt: &str, id: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: news\r\nMessage-ID: <{id}>\r\nIn-Reply-To: {irt}\r\n\
Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

#[tokio::test]
async fn each_authentication_outcome_is_applied_and_recorded() {
    for db in test_databases().await {
        let s = scene(&db).await;

        // signed.test: DKIM-signed (Ed25519) and aligned; SPF does not list us; p=reject.
        let pkcs8 = Ed25519Key::generate_pkcs8().unwrap();
        let key = Ed25519Key::from_pkcs8_der(&pkcs8).unwrap();
        let public = base64::engine::general_purpose::STANDARD.encode(key.public_key());
        s.dns
            .txt(
                "s1._domainkey.signed.test",
                &format!("v=DKIM1; k=ed25519; p={public}"),
            )
            .await;
        s.dns.txt("signed.test", "v=spf1 ip4:192.0.2.1 -all").await;
        s.dns.txt("_dmarc.signed.test", "v=DMARC1; p=reject").await;
        let (conversation, to, irt) = s.client("carl@signed.test").await;
        let unsigned = reply(
            "carl@signed.test",
            &to,
            &irt,
            "dkim-1@signed.test",
            "Signed and sound.",
        );
        let signature = DkimSigner::from_key(key)
            .domain("signed.test")
            .selector("s1")
            .headers(["From", "To", "Subject", "Message-ID", "Date"])
            .sign(unsigned.as_bytes())
            .unwrap()
            .to_header();
        let signed = format!("{signature}{unsigned}");
        assert_eq!(s.send("carl@signed.test", &signed, &to).await.code, 250);
        let entry = s.last_inbound().await;
        assert_eq!(entry["outcome"], "posted", "{entry} ({})", db.backend);
        let results = entry["auth_results"].as_str().unwrap();
        assert!(
            results.contains("dkim=pass") && results.contains("dmarc=pass"),
            "{results}"
        );
        assert!(results.contains("spf=fail"), "{results}");
        assert_eq!(
            s.app.messages(&conversation).await.last().unwrap()["body_text"],
            "Signed and sound."
        );

        // spf.test: unsigned but sent from a listed IP, MAIL FROM aligned; p=reject.
        s.dns.txt("spf.test", "v=spf1 ip4:127.0.0.1 -all").await;
        s.dns.txt("_dmarc.spf.test", "v=DMARC1; p=reject").await;
        let (conversation, to, irt) = s.client("sam@spf.test").await;
        let data = reply(
            "sam@spf.test",
            &to,
            &irt,
            "spf-1@spf.test",
            "SPF is enough.",
        );
        assert_eq!(s.send("sam@spf.test", &data, &to).await.code, 250);
        let entry = s.last_inbound().await;
        assert_eq!(entry["outcome"], "posted", "{entry}");
        assert!(entry["auth_results"].as_str().unwrap().contains("spf=pass"));
        assert_eq!(s.app.messages(&conversation).await.len(), 2);

        // strict.test: nothing passes, p=reject: refused at the end of DATA, nothing posted.
        s.dns.txt("strict.test", "v=spf1 ip4:192.0.2.1 -all").await;
        s.dns.txt("_dmarc.strict.test", "v=DMARC1; p=reject").await;
        let (conversation, to, irt) = s.client("rita@strict.test").await;
        let data = reply(
            "rita@strict.test",
            &to,
            &irt,
            "forged-1@strict.test",
            "Forged!",
        );
        let answer = s.send("rita@strict.test", &data, &to).await;
        assert_eq!(answer.code, 550, "{}", answer.text);
        assert!(answer.text.contains("5.7.1"), "{}", answer.text);
        let entry = s.last_inbound().await;
        assert_eq!(entry["outcome"], "rejected");
        assert!(entry["detail"].as_str().unwrap().contains("reject"));
        assert!(
            entry["auth_results"]
                .as_str()
                .unwrap()
                .contains("dmarc=fail")
        );
        assert_eq!(s.app.messages(&conversation).await.len(), 1, "never posted");

        // loose.test: nothing passes, p=quarantine: accepted, held, posted only when released.
        s.dns.txt("loose.test", "v=spf1 ip4:192.0.2.1 -all").await;
        s.dns
            .txt("_dmarc.loose.test", "v=DMARC1; p=quarantine")
            .await;
        let (conversation, to, irt) = s.client("quinn@loose.test").await;
        let data = reply(
            "quinn@loose.test",
            &to,
            &irt,
            "held-1@loose.test",
            "Please hold.",
        );
        assert_eq!(s.send("quinn@loose.test", &data, &to).await.code, 250);
        let held = s.last_inbound().await;
        assert_eq!(held["outcome"], "held", "{held}");
        assert_eq!(
            s.app.messages(&conversation).await.len(),
            1,
            "not posted while held"
        );
        let held_id = held["id"].as_str().unwrap();
        let (status, released) = s
            .app
            .post(&format!("/inbound/{held_id}/release"), json!({}))
            .await;
        assert_eq!(status, 200, "{released}");
        assert_eq!(released["released"], true);
        let messages = s.app.messages(&conversation).await;
        assert_eq!(messages.last().unwrap()["body_text"], "Please hold.");
        let (status, _) = s
            .app
            .post(&format!("/inbound/{held_id}/release"), json!({}))
            .await;
        assert_eq!(status, 409, "released once");
        let entries = s.app.inbound().await;
        let original = entries.iter().find(|e| e["id"] == held_id).unwrap();
        assert_eq!(original["outcome"], "released");
        let (status, _) = s
            .app
            .post("/inbound/inb_doesnotexist/release", json!({}))
            .await;
        assert_eq!(status, 404);

        // none.test: nothing passes, p=none: posted, the failure on record.
        s.dns.txt("_dmarc.none.test", "v=DMARC1; p=none").await;
        let (conversation, to, irt) = s.client("nora@none.test").await;
        let data = reply(
            "nora@none.test",
            &to,
            &irt,
            "none-1@none.test",
            "Monitoring only.",
        );
        assert_eq!(s.send("nora@none.test", &data, &to).await.code, 250);
        let entry = s.last_inbound().await;
        assert_eq!(entry["outcome"], "posted");
        assert!(
            entry["auth_results"]
                .as_str()
                .unwrap()
                .contains("dmarc=fail")
        );
        assert_eq!(s.app.messages(&conversation).await.len(), 2);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn behind_another_mta_only_its_authentication_results_are_trusted() {
    for db in test_databases().await {
        let app = spawn_app(&db, &["--inbound-auth", "trust:mx.upstream.test"]).await;
        let agent = app
            .person("agnes@team.test", "Agnes Agent", "internal")
            .await;
        let mut cases = Vec::new();
        for (n, header, expect_code, expect_outcome) in [
            (
                1,
                "Authentication-Results: mx.upstream.test; dkim=pass; dmarc=pass header.from=a.test",
                250,
                "posted",
            ),
            (
                2,
                "Authentication-Results: mx.upstream.test; dmarc=fail header.from=a.test policy.dmarc=reject",
                550,
                "rejected",
            ),
            // A forged "pass" from an untrusted host above the trusted failure changes nothing.
            (
                3,
                "Authentication-Results: attacker.test; dmarc=pass\r\nAuthentication-Results: mx.upstream.test; dmarc=fail policy.dmarc=quarantine",
                250,
                "held",
            ),
        ] {
            let email = format!("client{n}@a.test");
            let client = app.person(&email, "Client", "client").await;
            let conversation = app.conversation("Upstream", &agent, &[&client]).await;
            app.say(&conversation, &agent, "Hello", "message").await;
            let notification = app.wait_for_emails(&email, 1).await.remove(0);
            let to = notification.reply_to();
            let data = format!(
                "{header}\r\n{}",
                reply(
                    &email,
                    &to,
                    &notification.message_id(),
                    &format!("up-{n}@a.test"),
                    "Via the upstream MTA."
                )
            );
            let answer = app.deliver(&email, &[&to], &data).await;
            cases.push((n, answer.code, expect_code));
            let entry = app.inbound().await.remove(0);
            assert_eq!(
                entry["outcome"], expect_outcome,
                "case {n}: {entry} ({})",
                db.backend
            );
            assert!(
                entry["auth_results"]
                    .as_str()
                    .unwrap()
                    .starts_with("mx.upstream.test"),
                "{entry}"
            );
        }
        for (n, code, expected) in cases {
            assert_eq!(code, expected, "case {n}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn staff_release_held_emails_from_the_conversation_page_and_clients_never_see_them() {
    for db in test_databases().await {
        let s = scene(&db).await;
        s.dns.txt("loose.test", "v=spf1 ip4:192.0.2.1 -all").await;
        s.dns
            .txt("_dmarc.loose.test", "v=DMARC1; p=quarantine")
            .await;
        let (conversation, to, irt) = s.client("quinn@loose.test").await;
        let data = reply(
            "quinn@loose.test",
            &to,
            &irt,
            "held-web@loose.test",
            "Held, then released.",
        );
        assert_eq!(s.send("quinn@loose.test", &data, &to).await.code, 250);
        let held = s.last_inbound().await;
        assert_eq!(held["outcome"], "held");
        let path = format!("/c/{conversation}");

        let link =
            support::web::magic_link(&s.app.wait_for_emails("quinn@loose.test", 1).await.remove(0));
        let mut client = support::web::Browser::new(&s.app);
        client.sign_in_with(&link).await;
        let page = client.get(&path).await;
        assert!(
            !page.body.contains("Held emails") && !page.body.contains("Held, then released."),
            "{}",
            db.backend
        );

        let mut admin = support::web::Browser::new(&s.app);
        admin
            .submit("/admin", "/admin", &[("token", ADMIN_TOKEN)])
            .await;
        let page = admin.get(&path).await;
        assert!(
            page.body.contains("Held emails") && page.body.contains("quinn@loose.test"),
            "{}",
            page.body
        );
        let held_id = held["id"].as_str().unwrap();
        // Ids from elsewhere do not work here.
        let page = admin
            .submit(&path, &format!("{path}/held/inb_elsewhere000/release"), &[])
            .await;
        assert_eq!(page.status, 404);
        let page = client
            .submit(&path, &format!("{path}/held/{held_id}/release"), &[])
            .await;
        assert_eq!(page.status, 403, "clients cannot release");
        let page = admin
            .submit(&path, &format!("{path}/held/{held_id}/release"), &[])
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let messages = s.app.messages(&conversation).await;
        assert_eq!(
            messages.last().unwrap()["body_text"],
            "Held, then released."
        );
        assert!(!admin.get(&path).await.body.contains("Held emails"));
        s.app.stop().await;
    }
}

#[tokio::test]
async fn dmarc_comes_before_an_unknown_sender_is_offered_to_staff() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let (conversation, to, irt) = s.client("carl@client.test").await;
        let before = s.app.messages(&conversation).await.len();
        // Someone else, whose domain disowns what does not pass: refused, never "really them".
        s.dns.txt("strict.test", "v=spf1 ip4:192.0.2.1 -all").await;
        s.dns.txt("_dmarc.strict.test", "v=DMARC1; p=reject").await;
        let data = reply("olga@strict.test", &to, &irt, "o1@strict.test", "Forged.");
        let answer = s.send("olga@strict.test", &data, &to).await;
        assert_eq!(answer.code, 550, "{} ({})", answer.text, db.backend);
        assert_eq!(s.last_inbound().await["outcome"], "rejected");
        // p=quarantine: held for a DMARC release, not offered as an unknown sender.
        s.dns.txt("loose.test", "v=spf1 ip4:192.0.2.1 -all").await;
        s.dns
            .txt("_dmarc.loose.test", "v=DMARC1; p=quarantine")
            .await;
        let data = reply(
            "lou@loose.test",
            &to,
            &irt,
            "l1@loose.test",
            "Maybe forged.",
        );
        assert_eq!(s.send("lou@loose.test", &data, &to).await.code, 250);
        assert_eq!(s.last_inbound().await["outcome"], "held");
        // A colleague whose domain vouches for them (SPF-aligned): kept for staff.
        s.dns.txt("spf.test", "v=spf1 ip4:127.0.0.1 -all").await;
        s.dns.txt("_dmarc.spf.test", "v=DMARC1; p=reject").await;
        let data = reply(
            "cecile@spf.test",
            &to,
            &irt,
            "c1@spf.test",
            "Colleague here.",
        );
        assert_eq!(s.send("cecile@spf.test", &data, &to).await.code, 250);
        assert_eq!(s.last_inbound().await["outcome"], "unknown_sender");
        assert_eq!(s.app.messages(&conversation).await.len(), before);
        s.app.stop().await;
    }
}
