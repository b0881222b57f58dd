//! Sending domains against a real DNS server on loopback (hickory-server, started by the test;
//! never the internet): the records to publish, checks reporting `ok`, `missing` and `wrong` in
//! each way, the CLI, DKIM signatures verified by independent verifiers (Python's dkimpy and
//! mail-auth through the test DNS), and key rotation.

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

fn record<'a>(view: &'a Value, kind: &str, host: &str) -> &'a Value {
    view["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == kind && r["host"] == host)
        .unwrap_or_else(|| panic!("no {kind} {host} in {view}"))
}

fn statuses(view: &Value) -> Vec<String> {
    view["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn domain_add_returns_every_record_to_publish() {
    for db in test_databases().await {
        let dns = TestDns::start().await;
        let app = app_with_dns(&db, &dns).await;
        let (status, view) = app.post("/domains", json!({"name": "Example.COM"})).await;
        assert_eq!(status, 201, "{view}");
        assert_eq!(view["name"], "example.com");
        assert_eq!(view["reply_domain"], "reply.example.com");
        let hosts: Vec<(String, String)> = view["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["type"].as_str().unwrap().into(),
                    r["host"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            hosts,
            [
                ("MX", "reply.example.com"),
                ("TXT", "reply.example.com"),
                ("TXT", "tg1r._domainkey.example.com"),
                ("TXT", "tg1e._domainkey.example.com"),
                ("TXT", "_dmarc.example.com"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string())),
            "{}",
            db.backend
        );
        assert_eq!(
            record(&view, "MX", "reply.example.com")["value"],
            "10 mx.gateway.test."
        );
        assert_eq!(
            record(&view, "TXT", "reply.example.com")["value"],
            "v=spf1 a:mx.gateway.test ~all"
        );
        let rsa = record(&view, "TXT", "tg1r._domainkey.example.com")["value"]
            .as_str()
            .unwrap();
        assert!(
            rsa.starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"),
            "{rsa}"
        );
        let ed = record(&view, "TXT", "tg1e._domainkey.example.com")["value"]
            .as_str()
            .unwrap();
        assert!(
            ed.starts_with("v=DKIM1; k=ed25519; p=") && ed.len() < 80,
            "{ed}"
        );
        assert!(
            record(&view, "TXT", "_dmarc.example.com")["value"]
                .as_str()
                .unwrap()
                .starts_with("v=DMARC1; p=none;")
        );
        for r in view["records"].as_array().unwrap() {
            assert_eq!(r["status"], "unknown", "not checked yet");
            assert!(r["purpose"].as_str().is_some_and(|p| !p.is_empty()));
        }
        assert!(
            !view.to_string().contains("private"),
            "private keys never leave the database"
        );

        let (status, same) = app.get("/domains/example.com").await;
        assert_eq!(status, 200);
        assert_eq!(same["records"], view["records"]);
        let (_, list) = app.get("/domains").await;
        assert_eq!(list["domains"].as_array().unwrap().len(), 1);

        for (body, code) in [
            (json!({"name": "example.com"}), 409),
            (json!({"name": "not a domain"}), 422),
            (json!({"name": "localhost"}), 422),
            (
                json!({"name": "other.test", "reply_domain": "reply.elsewhere.test"}),
                422,
            ),
            (json!({}), 422),
        ] {
            let (status, err) = app.post("/domains", body.clone()).await;
            assert_eq!(status, code, "{body} → {err}");
            assert!(err["error"]["code"].is_string());
        }
        assert_eq!(app.get("/domains/nowhere.test").await.0, 404);
        assert_eq!(
            app.post("/domains/nowhere.test/check", json!({})).await.0,
            404
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn checks_report_ok_missing_and_wrong_in_each_way() {
    for db in test_databases().await {
        let dns = TestDns::start().await;
        let app = app_with_dns(&db, &dns).await;

        let (_, good) = app.post("/domains", json!({"name": "good.test"})).await;
        dns.publish_all(&good).await;
        // Noise the checks must see past: another TXT record beside SPF and a second MX.
        dns.txt("reply.good.test", "google-site-verification=abc")
            .await;
        dns.mx("reply.good.test", 20, "backup.other.test").await;
        let (status, good) = app.post("/domains/good.test/check", json!({})).await;
        assert_eq!(status, 200, "{good}");
        assert_eq!(statuses(&good), ["ok"; 5], "{good} ({})", db.backend);
        assert_eq!(good["verified"], true);
        assert!(good["last_checked_at"].is_string());

        let (_, _) = app.post("/domains", json!({"name": "missing.test"})).await;
        let (_, missing) = app.post("/domains/missing.test/check", json!({})).await;
        assert_eq!(statuses(&missing), ["missing"; 5], "{missing}");
        assert_eq!(missing["verified"], false);

        let (_, _) = app.post("/domains", json!({"name": "wrong.test"})).await;
        dns.mx("reply.wrong.test", 10, "mx.other-provider.test")
            .await;
        dns.txt(
            "reply.wrong.test",
            "v=spf1 include:_spf.other-provider.test ~all",
        )
        .await;
        dns.txt(
            "tg1r._domainkey.wrong.test",
            "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnotourkey",
        )
        .await;
        dns.txt("tg1e._domainkey.wrong.test", "v=DKIM1; k=ed25519; p=")
            .await;
        dns.txt(
            "_dmarc.wrong.test",
            "v=DMARC1; rua=mailto:reports@wrong.test",
        )
        .await;
        let (_, wrong) = app.post("/domains/wrong.test/check", json!({})).await;
        assert_eq!(statuses(&wrong), ["wrong"; 5], "{wrong}");
        assert_eq!(
            record(&wrong, "MX", "reply.wrong.test")["found"],
            json!(["mx.other-provider.test"])
        );
        assert_eq!(
            record(&wrong, "TXT", "reply.wrong.test")["found"],
            json!(["v=spf1 include:_spf.other-provider.test ~all"])
        );
        assert!(
            record(&wrong, "TXT", "tg1r._domainkey.wrong.test")["found"][0]
                .as_str()
                .unwrap()
                .ends_with("notourkey")
        );
        assert_eq!(
            record(&wrong, "TXT", "_dmarc.wrong.test")["found"],
            json!(["v=DMARC1; rua=mailto:reports@wrong.test"])
        );

        // Two SPF policies are an error (RFC 7208 §4.5), even if one is right.
        let (_, twice) = app.post("/domains", json!({"name": "twice.test"})).await;
        dns.publish_all(&twice).await;
        dns.txt("reply.twice.test", "v=spf1 -all").await;
        let (_, twice) = app.post("/domains/twice.test/check", json!({})).await;
        assert_eq!(record(&twice, "TXT", "reply.twice.test")["status"], "wrong");

        // The last check is kept with the domain.
        let (_, again) = app.get("/domains/good.test").await;
        assert_eq!(statuses(&again), ["ok"; 5]);
        app.stop().await;
    }
}

fn signatures(email: &Email) -> Vec<String> {
    email
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("DKIM-Signature"))
        .map(|(_, v)| v.split_whitespace().collect::<String>())
        .collect()
}

async fn scene_email(app: &TestApp, n: usize) -> Email {
    let agent = app
        .person(&format!("agent{n}@team.test"), "Agnes Agent", "internal")
        .await;
    let client = app
        .person(&format!("client{n}@client.test"), "Carl Client", "client")
        .await;
    let conversation = app.conversation("Signed mail", &agent, &[&client]).await;
    app.say(
        &conversation,
        &agent,
        "This email is DKIM-signed.",
        "message",
    )
    .await;
    app.wait_for_emails(&format!("client{n}@client.test"), 1)
        .await
        .remove(0)
}

#[tokio::test]
async fn outbound_mail_is_dkim_signed_and_verifies_with_independent_verifiers() {
    for db in test_databases().await {
        let dns = TestDns::start().await;
        let app = app_with_dns(&db, &dns).await;
        // Before the From domain has keys: unsigned.
        let unsigned = scene_email(&app, 0).await;
        assert!(signatures(&unsigned).is_empty());

        let (status, view) = app.post("/domains", json!({"name": "gateway.test"})).await;
        assert_eq!(status, 201, "{view}");
        dns.publish_all(&view).await;
        let email = scene_email(&app, 1).await;
        let sigs = signatures(&email);
        assert_eq!(sigs.len(), 2, "RSA and Ed25519: {sigs:?} ({})", db.backend);
        assert!(
            sigs.iter()
                .any(|s| s.contains("a=rsa-sha256") && s.contains("s=tg1r"))
        );
        assert!(
            sigs.iter()
                .any(|s| s.contains("a=ed25519-sha256") && s.contains("s=tg1e"))
        );
        for s in &sigs {
            assert!(
                s.contains("d=gateway.test") && s.contains("c=relaxed/relaxed"),
                "{s}"
            );
            let h = s
                .split("h=")
                .nth(1)
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_ascii_lowercase();
            for header in [
                "from",
                "subject",
                "date",
                "message-id",
                "reply-to",
                "list-unsubscribe",
            ] {
                assert!(
                    h.split(':').any(|x| x == header),
                    "{header} not signed: {h}"
                );
            }
        }

        if dkimpy_available() {
            assert_eq!(dkimpy_verifies(&email.raw, &view), Ok(2), "dkimpy");
        } else {
            eprintln!("skipping dkimpy: pip install dkimpy pynacl");
        }

        // mail-auth, resolving the published records through the test DNS server.
        let authenticator = mail_auth::MessageAuthenticator::new(
            {
                let mut udp = mail_auth::hickory_resolver::config::ConnectionConfig::udp();
                udp.port = dns.addr.port();
                mail_auth::hickory_resolver::config::ResolverConfig::from_name_servers(vec![
                    mail_auth::hickory_resolver::config::NameServerConfig::new(
                        dns.addr.ip(),
                        true,
                        vec![udp],
                    ),
                ])
            },
            mail_auth::hickory_resolver::config::ResolverOpts::default(),
        )
        .unwrap();
        let message = mail_auth::AuthenticatedMessage::parse(&email.raw).unwrap();
        let results = authenticator.verify_dkim(&message).await;
        assert_eq!(results.len(), 2);
        for r in &results {
            assert_eq!(r.result(), &mail_auth::DkimResult::Pass, "{:?}", r.result());
        }
        // A changed body no longer verifies.
        let tampered = String::from_utf8_lossy(&email.raw).replace("DKIM-signed", "DKIM-forged");
        if dkimpy_available() {
            assert!(dkimpy_verifies(tampered.as_bytes(), &view).is_err());
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn keys_rotate_publish_first_then_switch_then_retire() {
    for db in test_databases().await {
        let dns = TestDns::start().await;
        let app = app_with_dns(&db, &dns).await;
        app.post("/domains", json!({"name": "gateway.test"})).await;
        let (status, view) = app.post("/domains/gateway.test/keys", json!({})).await;
        assert_eq!(status, 201, "{view}");
        let keys: Vec<(String, String)> = view["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["selector"].as_str().unwrap().into(),
                    k["status"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("tg1r", "active"),
                ("tg1e", "active"),
                ("tg2r", "pending"),
                ("tg2e", "pending")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string())),
            "{}",
            db.backend
        );
        record(&view, "TXT", "tg2r._domainkey.gateway.test");
        let email = scene_email(&app, 1).await;
        assert!(
            signatures(&email).iter().all(|s| s.contains("s=tg1")),
            "pending keys do not sign yet"
        );

        let (status, view) = app
            .post("/domains/gateway.test/keys/tg2r/activate", json!({}))
            .await;
        assert_eq!(status, 200, "{view}");
        let retired: Vec<&str> = view["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["status"] == "retired")
            .map(|k| k["selector"].as_str().unwrap())
            .collect();
        assert_eq!(retired, ["tg1r", "tg1e"]);
        assert!(
            !view.to_string().contains("tg1r._domainkey"),
            "retired records are not listed"
        );
        let email = scene_email(&app, 2).await;
        let sigs = signatures(&email);
        assert_eq!(sigs.len(), 2);
        assert!(sigs.iter().all(|s| s.contains("s=tg2")), "{sigs:?}");
        if dkimpy_available() {
            assert_eq!(dkimpy_verifies(&email.raw, &view), Ok(2));
        }
        let (status, _) = app
            .post("/domains/gateway.test/keys/tg1r/activate", json!({}))
            .await;
        assert_eq!(status, 422, "a retired key cannot come back");
        app.stop().await;
    }
}

// The DNS server runs in this process while the command blocks a thread: two workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_domain_command_adds_lists_and_checks() {
    let dns = TestDns::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let dns_server = dns.addr.to_string();
    let run = |args: &[&str]| {
        let mut argv = vec!["domain"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&[
            "--data-dir",
            &data,
            "--dns-server",
            &dns_server,
            "--mx-host",
            MX_HOST,
        ]);
        std::process::Command::new(env!("CARGO_BIN_EXE_threadgate"))
            .args(&argv)
            .output()
            .expect("run threadgate")
    };
    let out = run(&["add", "cli.test"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "MX reply.cli.test",
        "10 mx.gateway.test.",
        "TXT tg1r._domainkey.cli.test",
        "TXT _dmarc.cli.test",
        "threadgate domain check cli.test",
    ] {
        assert!(stdout.contains(line), "{line:?} in:\n{stdout}");
    }
    let out = run(&["check", "cli.test"]);
    assert_eq!(out.status.code(), Some(1), "not all ok yet");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("[missing] MX reply.cli.test"));
    // It would still send, and says where its mail would land.
    assert!(
        stdout.contains("WARNING: its mail will land in spam")
            && stdout.contains("MX record at reply.cli.test is missing"),
        "{stdout}"
    );

    let out = run(&["list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    dns.publish_all(&list[0]).await;
    let out = run(&["check", "cli.test"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.matches("[ok]").count(), 5, "{stdout}");
    assert!(!stdout.contains("WARNING"), "{stdout}");

    // How its emails present themselves.
    let out = run(&[
        "sender",
        "cli.test",
        "--display-name",
        "CLI Team",
        "--notifications-local",
        "news",
        "--language",
        "fr",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("Sends as: \"… via CLI Team\" <news@cli.test>, new people in fr"),
        "{stdout}"
    );
    let out = run(&["sender", "cli.test", "--language", "de"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("default_language"));
    let out = run(&["sender", "cli.test", "--display-name", ""]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("via threadgate"));

    // The inbox address and its stranger policy; sender blocks.
    let out = run(&[
        "inbox",
        "cli.test",
        "--address",
        "Help",
        "--strangers",
        "refuse",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "Inbox: help@cli.test (or forward it to help@reply.cli.test), strangers: refuse"
        ),
        "{stdout}"
    );
    let out = run(&["inbox", "cli.test", "--address", "bounces"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reserved"));
    let out = run(&["inbox", "cli.test", "--none"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Inbox: none"));
    let out = run(&["block", "spam.test"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "spam.test: blocked"
    );
    let out = run(&["block"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "spam.test");
    let out = run(&["block", "spam.test", "--remove"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "spam.test: not blocked"
    );

    let out = run(&["add", "not a domain"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a domain"));
    let out = run(&["check", "unknown.test"]);
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn the_admin_page_lists_records_by_status_for_admins_only() {
    for db in test_databases().await {
        let dns = TestDns::start().await;
        let app = app_with_dns(&db, &dns).await;
        let mut admin = support::web::Browser::new(&app);
        let page = admin
            .submit("/admin", "/admin", &[("token", ADMIN_TOKEN)])
            .await;
        assert_eq!(page.status, 303);
        let page = admin
            .submit("/admin/domains", "/admin/domains", &[("name", "shop.test")])
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = admin
            .submit(
                "/admin/domains",
                "/admin/domains",
                &[("name", "not a domain")],
            )
            .await;
        assert_eq!(page.status, 422);
        let (_, view) = app.get("/domains/shop.test").await;
        dns.mx("reply.shop.test", 10, MX_HOST).await;
        dns.txt("_dmarc.shop.test", "v=DMARC1; p=reject").await;
        dns.txt("tg1r._domainkey.shop.test", "v=DKIM1; k=rsa; p=MIIBnotours")
            .await;
        let page = admin
            .submit("/admin/domains", "/admin/domains/shop.test/check", &[])
            .await;
        assert_eq!(page.status, 303);
        let page = admin.get("/admin/domains").await;
        assert_eq!(page.status, 200, "{}", db.backend);
        assert_eq!(
            page.body.matches("record record-ok").count(),
            2,
            "MX and DMARC"
        );
        assert_eq!(
            page.body.matches("record record-missing").count(),
            2,
            "SPF and Ed25519 key"
        );
        assert_eq!(
            page.body.matches("record record-wrong").count(),
            1,
            "the RSA key"
        );
        assert!(
            page.body
                .contains("Found instead: <code>v=DKIM1; k=rsa; p=MIIBnotours</code>")
        );
        assert!(
            page.body.contains(
                "Inbox: support@shop.test (or forwarded to support@reply.shop.test), strangers: verify"
            ),
            "{}",
            page.body
        );
        let rsa_value = record(&view, "TXT", "tg1r._domainkey.shop.test")["value"]
            .as_str()
            .unwrap();
        assert!(page.body.contains(rsa_value), "the exact value to publish");
        assert!(page.body.contains("data-copy="), "copy buttons");
        assert!(
            page.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );

        // A person, even an agent, gets no admin page.
        let agent = app
            .person("agent@team.test", "Agnes Agent", "internal")
            .await;
        let client = app
            .person("client@client.test", "Carl Client", "client")
            .await;
        let conversation = app.conversation("Hi", &client, &[&agent]).await;
        app.say(&conversation, &client, "Hello", "message").await;
        let email = app.wait_for_emails("agent@team.test", 1).await.remove(0);
        let mut agent_browser = support::web::Browser::new(&app);
        agent_browser
            .sign_in_with(&support::web::magic_link(&email))
            .await;
        assert_eq!(agent_browser.get("/admin/domains").await.status, 403);
        let csrf = agent_browser.get("/").await.csrf();
        let page = agent_browser
            .post("/admin/domains", &[("csrf", &csrf), ("name", "evil.test")])
            .await;
        assert_eq!(page.status, 403);
        assert_eq!(app.get("/domains/evil.test").await.0, 404);
        app.stop().await;
    }
}

#[tokio::test]
async fn an_mx_no_server_can_reach_is_flagged_on_the_api_and_the_page() {
    for db in test_databases().await {
        // No --mx-host: the MX records point to --hostname, `localhost` by default.
        let app = spawn_app(&db, &[]).await;
        let (status, view) = app.post("/domains", json!({"name": "shop.test"})).await;
        assert_eq!(status, 201, "{view}");
        assert_eq!(
            record(&view, "MX", "reply.shop.test")["value"],
            "10 localhost."
        );
        let problems = view["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1, "{view}");
        assert!(
            problems[0].as_str().unwrap().contains("--mx-host"),
            "{view}"
        );
        let mut admin = support::web::Browser::new(&app);
        admin
            .submit("/admin", "/admin", &[("token", ADMIN_TOKEN)])
            .await;
        let page = admin.get("/admin/domains").await;
        assert!(
            page.body
                .contains("These records cannot work as configured"),
            "{}",
            page.body
        );
        assert!(page.body.contains("points to localhost"));
        app.stop().await;

        // With a public name, nothing to flag.
        let dns = TestDns::start().await;
        let app = app_with_dns(&db, &dns).await;
        let (_, view) = app.get("/domains/shop.test").await;
        assert_eq!(view["problems"], json!([]), "{view}");
        let mut admin = support::web::Browser::new(&app);
        admin
            .submit("/admin", "/admin", &[("token", ADMIN_TOKEN)])
            .await;
        let page = admin.get("/admin/domains").await;
        assert!(!page.body.contains("cannot work as configured"));
        app.stop().await;
        db.cleanup().await;
    }
}
