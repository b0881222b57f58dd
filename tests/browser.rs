//! The web view in a real browser: Debian's Chromium, headless, driven over WebDriver
//! (chromedriver) with fantoccini. A client follows the sign-in link from their notification
//! email, reads the history and replies, and the agent gets that reply by email; a client never
//! sees an agent's note; hostile HTML from an email runs no script; signing in by code works;
//! pages fit a phone's width; the admin files a company and the search box finds its
//! conversation. Screenshots of the main pages go to `target/screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the suite
//! says so and passes, except under CI (`CI` set), where their absence is a failure.

mod support;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::web::{code_in, magic_link};
use support::*;

const AGENT: &str = "agnes@team.test";
const CLIENT: &str = "carl@client.test";

fn chromedriver() -> Option<PathBuf> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A headless Chromium session; the driver process dies with it.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Starts chromedriver on a free port and a headless Chromium session at `width`×`height`;
/// None (the test is skipped) when they are not installed outside CI.
async fn browser(width: u32, height: u32) -> Option<Browser> {
    let (Some(driver_path), Some(chromium_path)) = (chromedriver(), chromium()) else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium and chromium-driver are required in CI (.ci/run installs them)");
        }
        eprintln!("skipping: install chromium and chromium-driver to run the browser suite");
        return None;
    };
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    let mut options = json!({
            "binary": chromium_path,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                format!("--window-size={width},{height}"),
                format!("--user-data-dir={}", profile.path().display()),
            ],
    });
    // Desktop windows are at least 500 px wide; a phone is emulated (viewport, touch, DPR).
    if width < 500 {
        options["mobileEmulation"] = json!({
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": true},
        });
    }
    caps.insert("goog:chromeOptions".into(), options);
    // A free port is found by binding port 0 and letting it go; another test may take it in
    // between, so a failed start is retried on a new port.
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let mut driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
            && std::time::Instant::now() < deadline
            && driver.try_wait().ok().flatten().is_none()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => {
                return Some(Browser {
                    client,
                    driver,
                    _profile: profile,
                });
            }
            Err(err) => {
                last_error = err.to_string();
                let _ = driver.kill();
                let _ = driver.wait();
            }
        }
    }
    panic!("could not start a WebDriver session: {last_error}");
}
impl Browser {
    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .send_keys(text)
            .await
            .unwrap();
    }

    async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }

    /// Follows an emailed sign-in link as a person does: its page's one button, unless the
    /// browser is signed in as the link's person already (then the link leads straight on).
    async fn follow(&self, link: &str) {
        self.open(link).await;
        if let Ok(button) = self
            .client
            .find(Locator::Css("form[action^='/m/'] button"))
            .await
        {
            button
                .click()
                .await
                .unwrap_or_else(|e| panic!("{link}: {e}"));
        }
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(b: &Browser, name: &str) {
    let png = b.client.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

async fn page_source(b: &Browser) -> String {
    b.client.source().await.expect("page source")
}

/// The page is no wider than the window: nothing scrolls sideways.
async fn assert_fits_width(b: &Browser, what: &str) {
    let dims = b
        .client
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let scroll = dims[0].as_f64().unwrap();
    let client = dims[1].as_f64().unwrap();
    assert!(
        dims[2].as_f64().unwrap() <= 400.0,
        "a phone-sized viewport: {dims}"
    );
    assert!(
        scroll <= client,
        "{what}: {scroll}px of content in a {client}px-wide window ({dims})"
    );
}

async fn send(app: &TestApp, from: &str, to: &str, data: &str) {
    assert_eq!(app.deliver(from, &[to], data).await.code, 250);
}

/// The latest email to `recipient` about the conversation whose subject contains `about`.
async fn email_about(app: &TestApp, recipient: &str, about: &str) -> Email {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(email) = outbox_emails(&app.outbox_dir(), recipient)
            .into_iter()
            .rev()
            .find(|e| e.header("Subject").is_some_and(|s| s.contains(about)))
        {
            return email;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no email to {recipient} about {about:?}: {:?}",
            outbox_emails(&app.outbox_dir(), recipient)
                .iter()
                .map(|e| e.header("Subject").unwrap_or("").to_string())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const ORDER: &str = "Order #1042";

struct Scene {
    app: TestApp,
    agent: String,
    client: String,
    conversation: String,
}

/// A conversation with a little history (a message, an emailed HTML reply with an
/// attachment, an agent's answer) and two more conversations for the list.
async fn scene(db: &TestDb) -> Scene {
    let app = spawn_app(db, &[]).await;
    let agent = app.person(AGENT, "Agnes Agent", "internal").await;
    let client = app.person(CLIENT, "Carl Client", "client").await;
    let conversation = app
        .conversation("Order #1042: damaged box", &agent, &[&client])
        .await;
    app.say(
        &conversation,
        &agent,
        "Hello Carl,\n\nsorry to hear the box arrived damaged. Could you send us a photo?\n\nAgnes",
        "message",
    )
    .await;
    let email = app.wait_for_emails(CLIENT, 1).await.remove(0);
    let reply = format!(
        "From: Carl Client <{CLIENT}>\r\nTo: {to}\r\nSubject: Re: Order #1042\r\nMessage-ID: <photo@client.test>\r\n\
In-Reply-To: {irt}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
--m\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n\
--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere it is. The corner is crushed.\r\n\r\nOn Mon, Agnes Agent wrote:\r\n> Hello Carl\r\n\
--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<div dir=\"ltr\"><p>Here it is. The corner is <b>crushed</b>.</p>\
<p>Tracking: https://carrier.example/track/0123456789012345678901234567890123456789012345678901234567890123456789</p>\
<table width=\"900\"><tr><td>Wide table from a newsletter-style signature</td><td>more columns</td></tr></table></div>\
<div class=\"gmail_quote\"><blockquote class=\"gmail_quote\">Hello Carl</blockquote></div>\r\n--a--\r\n\
--m\r\nContent-Type: application/pdf; name=\"delivery-note.pdf\"\r\nContent-Disposition: attachment; filename=\"delivery-note.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcTl8uXrp/Og0MTGCg==\r\n--m--\r\n",
        to = email.reply_to(),
        irt = email.message_id()
    );
    send(&app, CLIENT, &email.reply_to(), &reply).await;
    app.say(
        &conversation,
        &agent,
        "Thank you! A replacement is on its way; you will get the tracking number tomorrow.",
        "message",
    )
    .await;
    app.say(&conversation, &client, "Perfect, thank you.", "message")
        .await;
    // Agents who work from their mail client get every message at once.
    let (status, _) = app
        .patch(
            &format!("/people/{agent}"),
            json!({"notifications": "immediate"}),
        )
        .await;
    assert_eq!(status, 200);
    let other = app
        .person("dora@client.test", "Dora Client", "client")
        .await;
    let c2 = app
        .conversation("Invoice question", &agent, &[&other])
        .await;
    app.say(
        &c2,
        &other,
        "Is VAT included in the March invoice?",
        "message",
    )
    .await;
    let c3 = app
        .conversation("Onboarding call", &agent, &[&client])
        .await;
    app.say(&c3, &agent, "Does Thursday 10:00 work for you?", "message")
        .await;
    Scene {
        app,
        agent,
        client,
        conversation,
    }
}

#[tokio::test]
async fn a_client_follows_the_emailed_link_reads_the_history_and_replies() {
    for db in test_databases().await {
        let Some(b) = browser(1280, 900).await else {
            return;
        };
        let s = scene(&db).await;
        let agent_before = email_about(&s.app, AGENT, ORDER).await;
        let agent_before = outbox_emails(&s.app.outbox_dir(), AGENT)
            .iter()
            .position(|e| e.file_stem == agent_before.file_stem)
            .unwrap()
            + 1;
        let email = email_about(&s.app, CLIENT, ORDER).await;
        b.follow(&magic_link(&email)).await;
        b.wait_for("ol.history").await;
        let html = page_source(&b).await;
        for shown in [
            "sorry to hear the box arrived damaged",
            "The corner is <b>crushed</b>",
            "delivery-note.pdf",
            "A replacement is on its way",
            "Show trimmed content",
        ] {
            assert!(
                html.contains(shown),
                "{shown:?} not on the page ({})",
                db.backend
            );
        }
        screenshot(&b, "conversation-client").await;

        b.type_into(
            "textarea#body",
            "Great, thanks a lot! I will keep the old box until then.",
        )
        .await;
        b.click("form.reply button[type=submit]").await;
        b.client
            .wait()
            .for_element(Locator::XPath(
                "//div[contains(@class,'text') and contains(., 'I will keep the old box')]",
            ))
            .await
            .expect("the reply shows in the history");
        // The agent gets other emails too (the other conversations): look for this one.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let emails = s.app.wait_for_emails(AGENT, agent_before + 1).await;
            if emails
                .iter()
                .any(|e| e.text.contains("I will keep the old box until then."))
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the agent is emailed the reply"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let messages = s.app.messages(&s.conversation).await;
        assert_eq!(messages.last().unwrap()["source"], "web");
        assert_eq!(messages.last().unwrap()["author_id"], s.client.as_str());

        b.open(&format!("http://{}/", s.app.http)).await;
        b.wait_for("ul.conversations").await;
        screenshot(&b, "list-client").await;
        b.client.clone().close().await.ok();
        s.app.stop().await;
    }
}

#[tokio::test]
async fn an_agent_s_note_never_reaches_the_client_s_page() {
    for db in test_databases().await {
        let Some(b) = browser(1280, 900).await else {
            return;
        };
        let s = scene(&db).await;
        // The agent signs in from their own notification and writes a note.
        let agent_email = email_about(&s.app, AGENT, ORDER).await;
        b.follow(&magic_link(&agent_email)).await;
        b.wait_for("textarea#body").await;
        b.type_into(
            "textarea#body",
            "Internal: approve the replacement, carrier claim #77",
        )
        .await;
        b.click("input[name=kind][value=note]").await;
        b.click("form.reply button[type=submit]").await;
        b.wait_for("li.message.note").await;
        let html = page_source(&b).await;
        assert!(html.contains("carrier claim #77") && html.contains(CLIENT));
        b.open(&format!("http://{}/c/{}", s.app.http, s.conversation))
            .await;
        b.wait_for("aside.manage").await;
        screenshot(&b, "conversation-agent").await;
        b.open(&format!("http://{}/", s.app.http)).await;
        b.wait_for("nav.tabs").await;
        screenshot(&b, "list-agent").await;
        // Sign out, then in as the client.
        b.click("header form button").await;
        b.wait_for("input#email").await;
        let client_email = email_about(&s.app, CLIENT, ORDER).await;
        b.follow(&magic_link(&client_email)).await;
        b.wait_for("ol.history").await;
        let html = page_source(&b).await;
        assert!(
            html.contains("A replacement is on its way"),
            "{}",
            db.backend
        );
        for hidden in ["carrier claim #77", "Internal note", AGENT, "Participants"] {
            assert!(!html.contains(hidden), "the client sees {hidden:?}");
        }
        let _ = (&s.agent, &s.client);
        b.client.clone().close().await.ok();
        s.app.stop().await;
    }
}

#[tokio::test]
async fn hostile_html_in_an_email_runs_no_script_in_the_page() {
    for db in test_databases().await {
        let Some(b) = browser(1280, 900).await else {
            return;
        };
        let s = scene(&db).await;
        let email = email_about(&s.app, CLIENT, ORDER).await;
        let payload = "<p>Hello <b>team</b></p>\
<script>window.pwned = 1; document.title = 'pwned'</script>\
<img src=\"x\" onerror=\"window.pwned = 2\"><svg onload=\"window.pwned = 3\"></svg>\
<a id=\"js\" href=\"javascript:window.pwned = 4\">click me</a>\
<iframe src=\"javascript:parent.pwned = 5\"></iframe><object data=\"javascript:window.pwned=6\"></object>\
<div style=\"background:url(javascript:window.pwned=7)\" onmouseover=\"window.pwned=8\">hover</div>\
<details open ontoggle=\"window.pwned = 9\">toggle</details>\
<form action=\"https://evil.example/steal\"><input name=\"q\"><button>go</button></form>\
<math><mi xlink:href=\"javascript:window.pwned=10\">m</mi></math>\
<noscript><p title=\"</noscript><img src=x onerror=window.pwned=11>\"></noscript>\
<base href=\"https://evil.example/\"><meta http-equiv=\"refresh\" content=\"0;url=https://evil.example\">";
        let data = format!(
            "From: Carl Client <{CLIENT}>\r\nTo: {to}\r\nSubject: Re: hi\r\nMessage-ID: <xss@client.test>\r\n\
In-Reply-To: {irt}\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{payload}\r\n",
            to = email.reply_to(),
            irt = email.message_id()
        );
        send(&s.app, CLIENT, &email.reply_to(), &data).await;
        let agent_email = email_about(&s.app, AGENT, ORDER).await;
        b.follow(&magic_link(&agent_email)).await;
        b.wait_for("ol.history").await;
        let html = page_source(&b).await;
        assert!(
            html.contains("Hello <b>team</b>"),
            "the harmless part is kept ({})",
            db.backend
        );
        if let Ok(link) = b.client.find(Locator::Id("js")).await {
            let _ = link.click().await;
        }
        if let Ok(hover) = b
            .client
            .find(Locator::XPath("//div[contains(., 'hover')]"))
            .await
        {
            let _ = hover.click().await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            b.client.get_alert_text().await.is_err(),
            "no dialog was opened"
        );
        let state = b
            .client
            .execute(
                "return [typeof window.pwned, document.title, location.host, document.querySelectorAll('script, iframe, object, form[action^=http], base, meta[http-equiv]').length];",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(state[0], "undefined", "a payload ran: {state}");
        assert_ne!(state[1], "pwned");
        assert_eq!(
            state[2].as_str().unwrap(),
            s.app.http.to_string(),
            "never navigated away"
        );
        assert_eq!(state[3], 0, "no active elements from the email: {state}");
        b.client.clone().close().await.ok();
        s.app.stop().await;
    }
}

#[tokio::test]
async fn signing_in_with_a_code_by_email_works_in_the_browser() {
    for db in test_databases().await {
        let Some(b) = browser(1280, 900).await else {
            return;
        };
        let s = scene(&db).await;
        let before = s.app.wait_for_emails(CLIENT, 2).await.len();
        b.open(&format!("http://{}/c/{}", s.app.http, s.conversation))
            .await;
        let email_field = b.wait_for("input#email").await;
        screenshot(&b, "login").await;
        email_field.send_keys(CLIENT).await.unwrap();
        b.click("form button[type=submit]").await;
        let code_field = b.wait_for("input#code").await;
        // The code's email, whatever notification arrives around it.
        let mut count = before + 1;
        let code = loop {
            let emails = s.app.wait_for_emails(CLIENT, count).await;
            let sent = emails.iter().rev().find(|e| {
                e.header("Subject")
                    .is_some_and(|subject| subject.starts_with("Your code"))
            });
            if let Some(email) = sent {
                break code_in(email);
            }
            count = emails.len() + 1;
        };
        code_field.send_keys(&code).await.unwrap();
        b.click("main form button[type=submit]").await;
        b.wait_for("ol.history").await;
        let url = b.client.current_url().await.unwrap();
        assert_eq!(
            url.path(),
            format!("/c/{}", s.conversation),
            "{}",
            db.backend
        );
        b.client.clone().close().await.ok();
        s.app.stop().await;
    }
}

#[tokio::test]
async fn pages_fit_a_phone_screen_without_sideways_scrolling() {
    for db in test_databases().await {
        let Some(b) = browser(390, 844).await else {
            return;
        };
        let s = scene(&db).await;
        let agent_email = email_about(&s.app, AGENT, ORDER).await;
        b.open(&format!("http://{}/login", s.app.http)).await;
        assert_fits_width(&b, "login").await;
        b.follow(&magic_link(&agent_email)).await;
        b.wait_for("ol.history").await;
        assert_fits_width(&b, "conversation (agent)").await;
        screenshot(&b, "conversation-phone").await;
        for (path, what) in [
            ("/", "list"),
            ("/settings", "settings"),
            ("/new", "new conversation"),
        ] {
            b.open(&format!("http://{}{path}", s.app.http)).await;
            b.wait_for("main h1").await;
            assert_fits_width(&b, what).await;
        }
        screenshot(&b, "new-phone").await;
        b.open(&format!("http://{}/", s.app.http)).await;
        screenshot(&b, "list-phone").await;
        let _ = &db.backend;
        b.client.clone().close().await.ok();
        s.app.stop().await;
    }
}

#[tokio::test]
async fn the_admin_sees_each_domain_record_coloured_by_status() {
    let Some(b) = browser(1280, 900).await else {
        return;
    };
    let db = TestDb::sqlite().await;
    let dns = support::dns::TestDns::start().await;
    let server = dns.addr.to_string();
    let app = spawn_app(
        &db,
        &["--dns-server", &server, "--mx-host", "mx.example.com"],
    )
    .await;
    let (status, _) = app.post("/domains", json!({"name": "example.com"})).await;
    assert_eq!(status, 201);
    dns.mx("reply.example.com", 10, "mx.example.com").await;
    dns.txt("reply.example.com", "v=spf1 a:mx.example.com ~all")
        .await;
    dns.txt(
        "_dmarc.example.com",
        "v=DMARC1; rua=mailto:reports@example.com",
    )
    .await;
    app.post("/domains/example.com/check", json!({})).await;

    b.open(&format!("http://{}/admin", app.http)).await;
    b.wait_for("input#token").await;
    b.type_into("input#token", ADMIN_TOKEN).await;
    b.click("main form button[type=submit]").await;
    b.wait_for("ul.conversations, p.empty").await;
    b.open(&format!("http://{}/admin/domains", app.http)).await;
    b.wait_for("li.record-ok").await;
    let colours = b
        .client
        .execute(
            "return ['ok','missing','wrong'].map(s => document.querySelectorAll('li.record-' + s).length);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        colours,
        json!([2, 2, 1]),
        "MX and SPF ok, both keys missing, DMARC wrong"
    );
    screenshot(&b, "admin-domains").await;
    b.client.clone().close().await.ok();
    app.stop().await;
}

#[tokio::test]
async fn the_admin_files_a_company_and_the_search_box_finds_its_conversation() {
    let Some(b) = browser(1280, 900).await else {
        return;
    };
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let agent = app.person(AGENT, "Agnes Agent", "internal").await;
    let client = app.person(CLIENT, "Carl Client", "client").await;

    // The admin adds a company and a follower on its pages.
    b.open(&format!("http://{}/admin", app.http)).await;
    b.wait_for("input#token").await;
    b.type_into("input#token", ADMIN_TOKEN).await;
    b.click("main form button[type=submit]").await;
    b.wait_for("ul.conversations, p.empty").await;
    b.open(&format!("http://{}/admin/companies", app.http))
        .await;
    b.type_into("input[name=name]", "Acme Réunions").await;
    b.click("main form button[type=submit]").await;
    b.wait_for("input[name=email]").await;
    b.type_into("input[name=email]", CLIENT).await;
    b.click("form[action$='/followers'] button[type=submit]")
        .await;
    b.wait_for("form[action$='/followers/remove']").await;
    let source = page_source(&b).await;
    assert!(source.contains("Carl Client"), "the follower is listed");
    screenshot(&b, "admin-company").await;
    let url = b.client.current_url().await.unwrap();
    let company = url.path().rsplit('/').next().unwrap().to_string();

    // A company conversation, and the search box finds it by a folded, stemmed word.
    let (status, c) = app
        .post(
            "/conversations",
            json!({"subject": "Réunion d'été", "created_by": agent, "participants": [client],
                   "company_id": company}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let id = c["id"].as_str().unwrap();
    app.say(
        id,
        &agent,
        "Les factures de la réunion sont prêtes.",
        "message",
    )
    .await;
    b.open(&format!("http://{}/", app.http)).await;
    b.type_into("input[name=q]", "reunion facture").await;
    b.click("form[role=search] button[type=submit]").await;
    b.wait_for("ul.results mark").await;
    let marked = b
        .client
        .execute(
            "return Array.from(document.querySelectorAll('ul.results mark')).map(m => m.textContent);",
            vec![],
        )
        .await
        .unwrap();
    let marked: Vec<String> = serde_json::from_value(marked).unwrap();
    assert!(marked.iter().any(|m| m == "réunion"), "{marked:?}");
    assert!(marked.iter().any(|m| m == "factures"), "{marked:?}");
    screenshot(&b, "search").await;
    b.click("ul.results a").await;
    b.wait_for("ol.history").await;
    assert_eq!(
        b.client.current_url().await.unwrap().path(),
        format!("/c/{id}")
    );
    b.client.clone().close().await.ok();
    app.stop().await;
}

/// Both sizes the web view is built for: a phone held upright and a laptop.
const SIZES: [(u32, u32, &str); 2] = [(390, 844, "phone"), (1280, 900, "desktop")];

/// A value computed in the page.
async fn js(b: &Browser, script: &str) -> serde_json::Value {
    b.client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Waits (up to 10 s) until `script` returns `expected` in the page: after a form post, the
/// next page has loaded.
async fn wait_until(b: &Browser, script: &str, expected: serde_json::Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = b.client.execute(script, vec![]).await.ok();
        if now.as_ref() == Some(&expected) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{script}: {now:?}, waiting for {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_notification_link_lands_on_the_first_unread_message_and_earlier_ones_unfold() {
    for db in test_databases().await {
        for (width, height, size) in SIZES {
            let Some(b) = browser(width, height).await else {
                return;
            };
            let db = db.sibling().await;
            let app = spawn_app(&db, &[]).await;
            let agent = app.person(AGENT, "Agnes Agent", "internal").await;
            let client = app.person(CLIENT, "Carl Client", "client").await;
            let (status, _) = app
                .patch(
                    &format!("/people/{client}"),
                    json!({"notifications": "immediate", "time_zone": "Europe/Paris"}),
                )
                .await;
            assert_eq!(status, 200);
            let conversation = app
                .conversation("Kitchen renovation", &agent, &[&client])
                .await;
            for i in 1..=30 {
                app.say(
                    &conversation,
                    &agent,
                    &format!("Site update {i}: the work goes on as planned."),
                    "message",
                )
                .await;
            }
            let first = app.wait_for_emails(CLIENT, 1).await.len();
            // The client reads everything once, then three more arrive by email.
            b.follow(&magic_link(&email_about(&app, CLIENT, "Kitchen").await))
                .await;
            b.wait_for("ol.history").await;
            for i in 31..=33 {
                app.say(
                    &conversation,
                    &agent,
                    &format!("Site update {i}: new tiles arrived."),
                    "message",
                )
                .await;
            }
            let latest = app.wait_for_emails(CLIENT, first + 1).await.pop().unwrap();
            let link = magic_link(&latest);
            assert!(link.ends_with("#unread"), "{link}");
            // The email's times are Paris times too.
            assert!(
                latest.text.contains(" CET") || latest.text.contains(" CEST"),
                "{}",
                latest.text
            );
            b.follow(&link).await;
            b.wait_for("#unread").await;
            let url = b.client.current_url().await.unwrap();
            assert_eq!(url.fragment(), Some("unread"), "{url}");
            // The divider is on screen, and the first new message right under it.
            let place = js(
                &b,
                "const d = document.getElementById('unread').getBoundingClientRect();
                 const m = document.getElementById('unread').nextElementSibling;
                 return [d.top, window.innerHeight, m.textContent.includes('Site update 31')];",
            )
            .await;
            let top = place[0].as_f64().unwrap();
            assert!(
                (0.0..place[1].as_f64().unwrap() / 2.0).contains(&top),
                "{size}: the divider at {top}px ({place})"
            );
            assert_eq!(place[2], json!(true), "{size}");
            // Times are Paris times (the zone the client chose), as the browser computes them.
            let times = js(
                &b,
                "return Array.from(document.querySelectorAll('li.message time')).slice(-3).map(t =>
                   [t.textContent, new Date(t.dateTime).toLocaleTimeString('en-GB',
                     {timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit'})]);",
            )
            .await;
            for pair in times.as_array().unwrap() {
                assert_eq!(pair[0], pair[1], "{size}: {times}");
            }
            screenshot(&b, &format!("unread-{size}")).await;
            if width < 500 {
                assert_fits_width(&b, "a long conversation").await;
            }

            // Older history is folded; the link shows it all.
            let shown = js(&b, "return document.querySelectorAll('li.message').length;").await;
            assert_eq!(shown, json!(20), "{size}");
            b.click("p.fold a").await;
            wait_until(
                &b,
                "return document.querySelectorAll('li.message').length;",
                json!(33),
            )
            .await;

            // The client answers from the top's reply link; their message says "You".
            b.click("nav.jump a[href='#reply']").await;
            b.type_into("textarea#body", "Great, thank you!").await;
            b.click("form.reply button[type=submit]").await;
            b.wait_for("li.message.own").await;
            let author = js(
                &b,
                "return document.querySelector('li.message.own .author').textContent;",
            )
            .await;
            assert_eq!(author, json!("You"), "{size}");

            // "Email me this conversation": a notice, and the transcript in the mailbox.
            let before = app.wait_for_emails(CLIENT, 1).await.len();
            b.click("form[action$='/transcript'] button").await;
            b.wait_for("p.notice#transcript").await;
            let emails = app.wait_for_emails(CLIENT, before + 1).await;
            assert!(
                emails
                    .iter()
                    .any(|e| e.header("Subject").unwrap().starts_with("Transcript: ")),
                "{size}"
            );
            b.client.clone().close().await.ok();
            app.stop().await;
        }
    }
}

#[tokio::test]
async fn agents_find_their_controls_first_on_a_phone_delete_after_confirming_restore_and_wake() {
    for db in test_databases().await {
        for (width, height, size) in SIZES {
            let Some(b) = browser(width, height).await else {
                return;
            };
            let db = db.sibling().await;
            let s = scene(&db).await;
            b.follow(&magic_link(&email_about(&s.app, AGENT, ORDER).await))
                .await;
            b.wait_for("aside#manage").await;
            let layout = js(
                &b,
                "const a = document.getElementById('manage').getBoundingClientRect();
                 const h = document.querySelector('ol.history').getBoundingClientRect();
                 return [a.top + scrollY, h.top + scrollY, a.left, h.left];",
            )
            .await;
            let [aside_top, history_top, aside_left, history_left] =
                [0, 1, 2, 3].map(|i| layout[i].as_f64().unwrap());
            if width < 500 {
                assert!(
                    aside_top < history_top,
                    "{size}: the controls come before the thread ({layout})"
                );
            } else {
                // Beside it (sticky: its top follows the scroll).
                assert!(
                    aside_left > history_left,
                    "{size}: the controls beside the thread ({layout})"
                );
            }

            // Under each message, who has seen it (the client opened nothing here: their
            // answer by email is their reading of what came before).
            let seen = js(
                &b,
                "return Array.from(document.querySelectorAll('p.seen')).map(p => p.textContent);",
            )
            .await;
            let seen: Vec<String> = serde_json::from_value(seen).unwrap();
            assert!(
                seen.iter().any(|s| s.starts_with("Seen by Carl Client")),
                "{size}: {seen:?}"
            );

            // Delete asks first: the real button is behind "Delete".
            let photo = "li.message:has(a[download])";
            b.wait_for(photo).await;
            let hidden = js(
                &b,
                &format!(
                    "return !document.querySelector(\"{photo} details.confirm button\").checkVisibility();"
                ),
            )
            .await;
            assert_eq!(hidden, json!(true), "{size}: not one click away");
            b.click(&format!("{photo} details.confirm summary")).await;
            screenshot(&b, &format!("delete-confirm-{size}")).await;
            b.click(&format!("{photo} details.confirm button")).await;
            b.wait_for("li.message.deleted").await;
            let messages = s.app.messages(&s.conversation).await;
            assert_eq!(
                messages.iter().filter(|m| m["deleted"] == true).count(),
                1,
                "{size}"
            );
            // Restore brings it back.
            b.click("li.message.deleted button[formaction$='/restore']")
                .await;
            wait_until(
                &b,
                "return document.querySelectorAll('li.message.deleted').length;",
                json!(0),
            )
            .await;
            let messages = s.app.messages(&s.conversation).await;
            assert!(messages.iter().all(|m| m["deleted"] == false), "{size}");

            // Snooze for a day: the page says until when, and wakes it on demand.
            b.click("form[action$='/snooze'] button[type=submit]").await;
            b.wait_for("#snoozed time").await;
            let until = js(
                &b,
                "return document.querySelector('#snoozed time').textContent;",
            )
            .await;
            assert!(until.as_str().unwrap().ends_with("UTC"), "{size}: {until}");
            screenshot(&b, &format!("snoozed-{size}")).await;
            b.click("#snoozed button").await;
            wait_until(
                &b,
                "return document.getElementById('snoozed') !== null;",
                json!(false),
            )
            .await;
            let (_, c) = s
                .app
                .get(&format!("/conversations/{}", s.conversation))
                .await;
            assert_ne!(c["status"], "snoozed", "{size}");
            let _ = (&s.agent, &s.client);
            b.client.clone().close().await.ok();
            s.app.stop().await;
        }
    }
}

#[tokio::test]
async fn an_expired_link_shows_a_french_client_a_french_page() {
    let Some(b) = browser(390, 844).await else {
        return;
    };
    let db = TestDb::sqlite().await;
    let clock = threadgate::domain::ManualClock::at(1_800_000_000_000);
    let app = spawn_app_with_clock(&db, &[], std::sync::Arc::new(clock.clone())).await;
    let agent = app.person(AGENT, "Agnes Agent", "internal").await;
    let client = app.person(CLIENT, "Carl Client", "client").await;
    let (status, _) = app
        .patch(&format!("/people/{client}"), json!({"locale": "fr"}))
        .await;
    assert_eq!(status, 200);
    let conversation = app.conversation("Devis", &agent, &[&client]).await;
    app.say(&conversation, &agent, "Voici le devis.", "message")
        .await;
    let link = magic_link(&app.wait_for_emails(CLIENT, 1).await.remove(0));
    clock.advance(Duration::from_secs(15 * 24 * 3600));
    b.open(&link).await;
    b.wait_for("main h1").await;
    let source = page_source(&b).await;
    assert!(source.contains("Ce lien ne fonctionne plus"), "{source}");
    screenshot(&b, "expired-link-fr").await;
    b.client.clone().close().await.ok();
    app.stop().await;
}

#[tokio::test]
async fn the_admin_pages_work_at_phone_and_desktop_sizes() {
    for (width, height, size) in SIZES {
        let Some(b) = browser(width, height).await else {
            return;
        };
        let db = TestDb::sqlite().await;
        let app = spawn_app(&db, &[]).await;
        let agent = app.person(AGENT, "Agnes Agent", "internal").await;
        let client = app.person(CLIENT, "Carl Client", "client").await;
        let conversation = app.conversation("Delivery", &agent, &[&client]).await;
        app.say(&conversation, &agent, "Your parcel left.", "message")
            .await;
        let to_client = app.wait_for_emails(CLIENT, 1).await.remove(0);
        let phone = "carl.phone@mobile.test";
        let data = reply_email(
            phone,
            &to_client.reply_to(),
            "<phone1@mobile.test>",
            &to_client.message_id(),
            "Sent from another address of mine.",
        );
        send(&app, phone, &to_client.reply_to(), &data).await;
        let dora = app
            .person("dora@client.test", "Dora Client", "client")
            .await;
        app.store
            .record_bounce(
                &threadgate::domain::EmailAddress::parse("dora@client.test").unwrap(),
                true,
                "550 5.1.1 mailbox unavailable",
            )
            .await
            .unwrap();
        app.post("/domains", json!({"name": "shop.test"})).await;

        b.open(&format!("http://{}/admin", app.http)).await;
        b.wait_for("input#token").await;
        b.type_into("input#token", ADMIN_TOKEN).await;
        b.click("main form button[type=submit]").await;
        b.wait_for("ul.conversations, p.empty").await;

        // The inbound log: the held reply, posted as the participant from the page.
        b.open(&format!(
            "http://{}/admin/inbound?outcome=unknown_sender",
            app.http
        ))
        .await;
        b.wait_for("li.log-entry").await;
        if width < 500 {
            assert_fits_width(&b, "the inbound log").await;
        }
        screenshot(&b, &format!("admin-inbound-{size}")).await;
        b.click("li.log-entry form input[value=participant] ~ button")
            .await;
        wait_until(
            &b,
            "return document.querySelectorAll('li.log-entry').length;",
            json!(0),
        )
        .await;
        let messages = app.messages(&conversation).await;
        assert_eq!(messages.last().unwrap()["author_id"], client.as_str());

        // Suppressed addresses: reactivated.
        b.open(&format!("http://{}/admin/suppressions", app.http))
            .await;
        b.wait_for("li.log-entry").await;
        if width < 500 {
            assert_fits_width(&b, "suppressed addresses").await;
        }
        screenshot(&b, &format!("admin-suppressions-{size}")).await;
        b.click("li.log-entry form button").await;
        b.wait_for("p.empty").await;
        let (_, person) = app.get(&format!("/people/{dora}")).await;
        assert_eq!(person["email_status"], "ok");

        // A person's page: time zone and language set.
        b.open(&format!("http://{}/people/{client}", app.http))
            .await;
        b.wait_for("select#time_zone").await;
        b.client
            .execute(
                "document.getElementById('time_zone').value = 'Europe/Paris';",
                vec![],
            )
            .await
            .unwrap();
        b.click("input[name=locale][value=fr]").await;
        if width < 500 {
            assert_fits_width(&b, "a person's page").await;
        }
        b.click("form[action^='/admin/people/'] button[type=submit]")
            .await;
        b.wait_for("p.notice").await;
        screenshot(&b, &format!("admin-person-{size}")).await;
        let (_, person) = app.get(&format!("/people/{client}")).await;
        assert_eq!(
            (&person["time_zone"], &person["locale"]),
            (&json!("Europe/Paris"), &json!("fr"))
        );

        // Domains: rotate keys from the page.
        b.open(&format!("http://{}/admin/domains", app.http)).await;
        b.wait_for("form[action$='/rotate'] button").await;
        b.click("form[action$='/rotate'] button").await;
        b.wait_for(".key-pending").await;
        if width < 500 {
            assert_fits_width(&b, "domains").await;
        }
        screenshot(&b, &format!("admin-domains-{size}")).await;
        b.client.clone().close().await.ok();
        app.stop().await;
    }
}
