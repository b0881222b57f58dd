//! Understanding replies end to end through SMTP: HTML with inline images and attachments,
//! machines (auto-replies, bounces) that never post nor trigger mail, hard bounces that stop
//! email to an address, replies routed by our Message-ID, hostile HTML, bursts.

mod support;

use serde_json::Value;
use support::*;

const AGENT: &str = "agnes@team.test";
const CLIENT: &str = "carl@client.test";

struct Scene {
    app: TestApp,
    agent: String,
    client: String,
    conversation: String,
    /// The client's notification.
    email: Email,
}

async fn scene(db: &TestDb) -> Scene {
    let app = spawn_app(db, &[]).await;
    let agent = app.person(AGENT, "Agnes Agent", "internal").await;
    let client = app.person(CLIENT, "Carl Client", "client").await;
    let conversation = app.conversation("Your order", &agent, &[&client]).await;
    app.say(
        &conversation,
        &agent,
        "Hello Carl, your order shipped today.",
        "message",
    )
    .await;
    let email = app.wait_for_emails(CLIENT, 1).await.remove(0);
    Scene {
        app,
        agent,
        client,
        conversation,
        email,
    }
}

async fn send(app: &TestApp, from: &str, to: &str, data: &str) -> SmtpReply {
    let (mut c, _) = SmtpClient::connect(app.smtp).await;
    c.cmd("EHLO client.test").await;
    let reply = c.send_mail(from, &[to], data).await;
    c.cmd("QUIT").await;
    reply
}

fn html_reply_with_image_and_pdf(to: &str, in_reply_to: &str) -> String {
    format!(
        "From: Carl Client <carl@client.test>\r\nTo: {to}\r\nSubject: Re: Your order\r\n\
Message-ID: <html-1@client.test>\r\nIn-Reply-To: {in_reply_to}\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"mixed\"\r\n\r\n\
--mixed\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere is the photo of the damaged box and the invoice.\r\n\r\n\
On Mon, Nov 23, 2026 at 10:00 AM Agnes Agent <notifications@gateway.test> wrote:\r\n> Hello Carl\r\n\
--alt\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n\
--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<div dir=\"ltr\"><p>Here is the <b>photo</b> of the damaged box and the invoice.</p>\
<img src=\"cid:box@client.test\" alt=\"box\"><img src=\"https://tracker.example/pixel.gif\" width=1 height=1>\
<script>alert('x')</script><a href=\"javascript:alert(1)\" onclick=\"steal()\">click</a></div>\
<div class=\"gmail_quote\"><div class=\"gmail_attr\">On Mon, Nov 23, 2026 Agnes wrote:</div>\
<blockquote class=\"gmail_quote\">Hello Carl</blockquote></div>\r\n\
--rel\r\nContent-Type: image/png\r\nContent-ID: <box@client.test>\r\nContent-Disposition: inline; filename=\"box.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgoAAAANSUhEUg==\r\n--rel--\r\n\r\n--alt--\r\n\
--mixed\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcTl8uXrp/Og0MTGCg==\r\n--mixed--\r\n"
    )
}

async fn download(app: &TestApp, path: &str) -> reqwest::Response {
    app.http_client
        .get(format!("http://{}{}", app.http, path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_html_reply_keeps_its_formatting_inline_image_and_pdf_and_loses_its_scripts() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let data = html_reply_with_image_and_pdf(&s.email.reply_to(), &s.email.message_id());
        assert_eq!(
            send(&s.app, CLIENT, &s.email.reply_to(), &data).await.code,
            250
        );

        let messages = s.app.messages(&s.conversation).await;
        let m = messages.last().unwrap();
        assert_eq!(
            m["body_text"], "Here is the photo of the damaged box and the invoice.",
            "{}",
            db.backend
        );
        let html = m["body_html"].as_str().expect("HTML kept");
        assert!(html.contains("<b>photo</b>"), "{html}");
        for payload in [
            "<script",
            "alert",
            "javascript:",
            "onclick",
            "tracker.example",
            "gmail_quote",
            "Hello Carl",
        ] {
            assert!(!html.contains(payload), "{payload} survived: {html}");
        }
        let attachments = m["attachments"].as_array().unwrap();
        assert_eq!(attachments.len(), 2, "{attachments:?}");
        let image = attachments
            .iter()
            .find(|a| a["inline"] == true)
            .expect("inline image");
        let pdf = attachments
            .iter()
            .find(|a| a["filename"] == "invoice.pdf")
            .expect("pdf");
        assert_eq!(pdf["content_type"], "application/pdf");
        assert_eq!(pdf["inline"], false);
        let image_id = image["id"].as_str().unwrap();
        assert!(
            html.contains(&format!("src=\"/attachments/{image_id}\"")),
            "cid rewritten: {html}"
        );

        let response = download(&s.app, pdf["url"].as_str().unwrap()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/pdf");
        assert!(
            response.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert!(response.bytes().await.unwrap().starts_with(b"%PDF-1.4"));
        let response = download(&s.app, &format!("/attachments/{image_id}")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "image/png");
        assert!(response.bytes().await.unwrap().starts_with(b"\x89PNG"));
        // Without the token: nothing.
        let anonymous = s
            .app
            .http_client
            .get(format!("http://{}/attachments/{image_id}", s.app.http))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401);

        // The original email stays downloadable.
        let raw = download(&s.app, m["raw_url"].as_str().unwrap()).await;
        assert_eq!(raw.status(), 200);
        assert_eq!(raw.headers()["content-type"], "message/rfc822");
        let raw = raw.bytes().await.unwrap();
        let raw = String::from_utf8_lossy(&raw);
        assert_eq!(
            raw.trim_end(),
            data.trim_end(),
            "the bytes we received, unchanged"
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_missing_attachment_file_is_extracted_again_from_the_raw_email() {
    let db = TestDb::sqlite().await;
    let s = scene(&db).await;
    let data = html_reply_with_image_and_pdf(&s.email.reply_to(), &s.email.message_id());
    assert_eq!(
        send(&s.app, CLIENT, &s.email.reply_to(), &data).await.code,
        250
    );
    std::fs::remove_dir_all(s.app.data_dir.path().join("attachments")).unwrap();
    let messages = s.app.messages(&s.conversation).await;
    let pdf = &messages.last().unwrap()["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["filename"] == "invoice.pdf")
        .unwrap()
        .clone();
    let response = download(&s.app, pdf["url"].as_str().unwrap()).await;
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.unwrap().starts_with(b"%PDF-1.4"));
    s.app.stop().await;
}

#[tokio::test]
async fn auto_replies_and_bounces_are_recorded_post_nothing_and_send_nothing() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let before = s.app.messages(&s.conversation).await.len();
        let ooo = format!(
            "From: Carl Client <carl@client.test>\r\nTo: {}\r\nSubject: Réponse automatique : Your order\r\n\
Auto-Submitted: auto-replied\r\nMessage-ID: <ooo-1@client.test>\r\n\r\nJe suis absent jusqu'au 2 décembre.\r\n",
            s.email.reply_to()
        );
        assert_eq!(
            send(&s.app, CLIENT, &s.email.reply_to(), &ooo).await.code,
            250
        );

        // A DSN to the VERP address of Carl's notification (named by its outbox id).
        let bounce_to = format!("bounces+{}@reply.test", outbox_id_of(&s.email));
        let dsn = dsn_for(
            CLIENT,
            &bounce_to,
            "5.1.1",
            "550 5.1.1 <carl@client.test>: Recipient address rejected: User unknown",
        );
        assert_eq!(send(&s.app, "", &bounce_to, &dsn).await.code, 250);

        let inbound = s.app.inbound().await;
        assert_eq!(inbound[0]["outcome"], "bounce", "{}", inbound[0]);
        assert!(inbound[0]["detail"].as_str().unwrap().contains("5.1.1"));
        assert_eq!(inbound[0]["conversation_id"], s.conversation.as_str());
        assert_eq!(inbound[1]["outcome"], "auto_reply");
        assert_eq!(
            s.app.messages(&s.conversation).await.len(),
            before,
            "nothing posted"
        );
        assert!(
            s.app.settle_and_collect(AGENT).await.is_empty(),
            "nothing notified"
        );

        // The hard bounce suppresses Carl's address: the next message is not emailed to him.
        let (status, person) = s.app.get(&format!("/people/{}", s.client)).await;
        assert_eq!(status, 200);
        assert_eq!(person["email_status"], "bounced", "{person}");
        s.app
            .say(&s.conversation, &s.agent, "Did you get this?", "message")
            .await;
        assert_eq!(
            s.app.settle_and_collect(CLIENT).await.len(),
            1,
            "no second email to a bounced address"
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn soft_bounces_count_and_enough_of_them_suppress() {
    let db = TestDb::sqlite().await;
    let s = scene(&db).await;
    let bounce_to = format!("bounces+{}@reply.test", outbox_id_of(&s.email));
    for i in 0..threadgate::store::SOFT_BOUNCE_LIMIT {
        let dsn = dsn_for(CLIENT, &bounce_to, "4.2.2", "452 4.2.2 Mailbox full");
        assert_eq!(send(&s.app, "", &bounce_to, &dsn).await.code, 250);
        let (_, person) = s.app.get(&format!("/people/{}", s.client)).await;
        let expected = if i + 1 < threadgate::store::SOFT_BOUNCE_LIMIT {
            "soft_bounce"
        } else {
            "bounced"
        };
        assert_eq!(
            person["email_status"],
            expected,
            "after {} soft bounces",
            i + 1
        );
    }
    s.app.stop().await;
}

#[tokio::test]
async fn a_reply_to_our_from_address_is_routed_by_the_message_id_it_answers() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let own = "notifications@gateway.test";
        let good = reply_email(
            "carl@client.test",
            own,
            "<mid-1@client.test>",
            &s.email.message_id(),
            "Replying to the From address.",
        );
        assert_eq!(send(&s.app, CLIENT, own, &good).await.code, 250);
        let messages = s.app.messages(&s.conversation).await;
        assert_eq!(
            messages.last().unwrap()["body_text"],
            "Replying to the From address."
        );

        // A forged Message-ID (right shape, wrong MAC) threads nowhere.
        let forged_id = s.email.message_id().replacen(".1.", ".2.", 1);
        let forged = reply_email(
            "carl@client.test",
            own,
            "<mid-2@client.test>",
            &forged_id,
            "Forged thread.",
        );
        assert_eq!(send(&s.app, CLIENT, own, &forged).await.code, 250);
        assert_eq!(s.app.inbound().await[0]["outcome"], "unmatched");
        // Subject alone never threads.
        let by_subject = reply_email(
            "carl@client.test",
            own,
            "<mid-3@client.test>",
            "<other@elsewhere>",
            "Same subject only.",
        );
        assert_eq!(send(&s.app, CLIENT, own, &by_subject).await.code, 250);
        assert_eq!(s.app.inbound().await[0]["outcome"], "unmatched");
        assert_eq!(s.app.messages(&s.conversation).await.len(), messages.len());
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_burst_from_one_sender_trips_the_circuit_breaker() {
    let db = TestDb::sqlite().await;
    let s = scene(&db).await;
    let (mut c, _) = SmtpClient::connect(s.app.smtp).await;
    c.cmd("EHLO client.test").await;
    for i in 0..32 {
        let mail = reply_email(
            "carl@client.test",
            &s.email.reply_to(),
            &format!("<burst-{i}@client.test>"),
            "<x@y>",
            &format!("message {i}"),
        );
        assert_eq!(
            c.send_mail(CLIENT, &[&s.email.reply_to()], &mail)
                .await
                .code,
            250
        );
    }
    c.cmd("QUIT").await;
    let inbound = s.app.inbound().await;
    let held: Vec<&Value> = inbound
        .iter()
        .filter(|e| e["outcome"] == "rejected")
        .collect();
    assert_eq!(held.len(), 2, "the 31st and 32nd are held");
    assert!(
        held[0]["detail"]
            .as_str()
            .unwrap()
            .contains("circuit breaker")
    );
    let posted = s
        .app
        .messages(&s.conversation)
        .await
        .iter()
        .filter(|m| m["source"] == "email")
        .count();
    assert_eq!(posted, 30);
    s.app.stop().await;
}

fn outbox_id_of(email: &Email) -> String {
    // The file transport names each file after its outbox id.
    email.file_stem.clone()
}

fn dsn_for(recipient: &str, to: &str, status: &str, diagnostic: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.client.test>\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <dsn-{status}-{}@mx.client.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n\
--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.client.test\r\n\r\n\
Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\nDiagnostic-Code: smtp; {diagnostic}\r\n\r\n\
--b--\r\n",
        threadgate::domain::random_base32(5)
    )
}

#[tokio::test]
async fn an_attachment_over_the_limit_is_listed_as_omitted_and_the_message_still_posts() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &["--max-attachment-size", "8"]).await;
    let agent = app.person(AGENT, "Agnes Agent", "internal").await;
    let client = app.person(CLIENT, "Carl Client", "client").await;
    let conversation = app.conversation("Your order", &agent, &[&client]).await;
    app.say(&conversation, &agent, "Hello", "message").await;
    let email = app.wait_for_emails(CLIENT, 1).await.remove(0);
    let data = html_reply_with_image_and_pdf(&email.reply_to(), &email.message_id());
    assert_eq!(send(&app, CLIENT, &email.reply_to(), &data).await.code, 250);
    let messages = app.messages(&conversation).await;
    let m = messages.last().unwrap();
    assert_eq!(
        m["body_text"],
        "Here is the photo of the damaged box and the invoice."
    );
    let pdf = m["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["filename"] == "invoice.pdf")
        .unwrap()
        .clone();
    assert!(
        pdf["omitted"]
            .as_str()
            .unwrap()
            .contains("larger than 8 bytes"),
        "{pdf}"
    );
    assert!(pdf["url"].is_null());
    let response = download(
        &app,
        &format!("/api/v1/attachments/{}", pdf["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(response.status(), 410);
    let detail = app.inbound().await[0]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("attachments not kept")
            && detail.contains("invoice.pdf (larger than 8 bytes)"),
        "{detail}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_forged_bounce_or_an_auto_reply_to_the_return_path_suppresses_nobody() {
    let db = TestDb::sqlite().await;
    let s = scene(&db).await;
    // Anyone can send a "delivery failure" for any address to our From address.
    let forged = dsn_for(
        CLIENT,
        "notifications@gateway.test",
        "5.1.1",
        "550 5.1.1 user unknown",
    );
    assert_eq!(
        send(&s.app, "", "notifications@gateway.test", &forged)
            .await
            .code,
        250
    );
    // RFC 3834 responders answer the envelope sender, which is our VERP return path.
    let bounce_to = format!("bounces+{}@reply.test", outbox_id_of(&s.email));
    let ooo = format!(
        "From: carl@client.test\r\nTo: {bounce_to}\r\nSubject: Out of Office: Your order\r\nAuto-Submitted: auto-replied\r\n\r\nAway.\r\n"
    );
    for _ in 0..6 {
        assert_eq!(send(&s.app, CLIENT, &bounce_to, &ooo).await.code, 250);
    }
    let inbound = s.app.inbound().await;
    assert_eq!(inbound.last().unwrap()["outcome"], "bounce");
    assert!(
        inbound.last().unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("no address suppressed")
    );
    assert!(
        inbound[..6].iter().all(|e| e["outcome"] == "auto_reply"),
        "{inbound:?}"
    );
    let (_, person) = s.app.get(&format!("/people/{}", s.client)).await;
    assert_eq!(person["email_status"], "ok", "{person}");
    s.app.stop().await;
}
