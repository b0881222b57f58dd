//! Files from the API and the web reply form (`multipart/form-data`, RFC 7578) on the real
//! gateway, on every backend: stored byte for byte with the type their bytes say, refused
//! whole (a JSON error or a 4xx page, never a 500) when too large, empty or malformed.

mod support;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use support::web::{Browser, magic_link};
use support::*;

const AGENT: &str = "agnes@team.test";
const CLIENT: &str = "carl@client.test";
/// A small per-file limit, so the over-size bodies stay small.
const LIMIT: usize = 64 * 1024;

/// A PDF as mail clients and browsers send them: binary after its header.
fn pdf(len: usize) -> Vec<u8> {
    let mut data = b"%PDF-1.4\n%\xc4\xe5\xf2\xe5\xeb\xa7\xf3\xa0\xd0\xc4\xc6\n".to_vec();
    data.extend((0..len.saturating_sub(data.len())).map(|i| (i * 31 % 251) as u8));
    data.truncate(len);
    data
}

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

fn file(name: &str, declared: &str, data: Vec<u8>) -> Part {
    Part::bytes(data)
        .file_name(name.to_string())
        .mime_str(declared)
        .unwrap()
}

struct Scene {
    app: TestApp,
    agent: String,
    client: String,
    conversation: String,
}

async fn scene(db: &TestDb) -> Scene {
    let limit = LIMIT.to_string();
    let app = spawn_app(db, &["--max-attachment-size", &limit]).await;
    let agent = app.person(AGENT, "Agnes Agent", "internal").await;
    let client = app.person(CLIENT, "Carl Client", "client").await;
    let conversation = app.conversation("Your invoice", &agent, &[&client]).await;
    Scene {
        app,
        agent,
        client,
        conversation,
    }
}

impl Scene {
    fn messages_url(&self) -> String {
        self.app
            .url(&format!("/conversations/{}/messages", self.conversation))
    }

    async fn upload(&self, form: Form) -> (u16, Value) {
        let response = self
            .app
            .http_client
            .post(self.messages_url())
            .bearer_auth(ADMIN_TOKEN)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        answer(response).await
    }

    /// A body sent as it is, under `content_type`.
    async fn raw(&self, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .app
            .http_client
            .post(self.messages_url())
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("post");
        answer(response).await
    }

    async fn message_count(&self) -> usize {
        self.app.messages(&self.conversation).await.len()
    }

    async fn download(&self, attachment: &Value) -> Vec<u8> {
        let url = attachment["url"].as_str().expect("a download url");
        let response = self
            .app
            .http_client
            .get(format!("http://{}{url}", self.app.http))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap().to_vec()
    }

    /// How many files the blob store holds.
    fn blob_count(&self) -> usize {
        fn count(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| match e.file_type() {
                        Ok(t) if t.is_dir() => count(&e.path()),
                        _ => 1,
                    })
                    .sum()
            })
        }
        count(&self.app.data_dir.path().join("attachments"))
    }
}

/// The status and the JSON body; a body that is not JSON fails the test.
async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}"));
    (status, value)
}

fn code(v: &Value) -> &str {
    v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {v}"))
}

#[tokio::test]
async fn files_posted_with_text_are_stored_with_the_type_their_bytes_say_and_download_identical() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let invoice = pdf(40_000);
        let form = Form::new()
            .text("author_id", s.agent.clone())
            .text("body", "Here is your invoice.")
            .text("kind", "message")
            .part(
                "file",
                file("invoice.pdf", "application/octet-stream", invoice.clone()),
            )
            .part("file", file("photo.jpg", "image/jpeg", PNG.to_vec()))
            .part(
                "file",
                file("\u{202e}fdp.exe", "text/plain", b"just text".to_vec()),
            );
        let (status, posted) = s.upload(form).await;
        assert_eq!(status, 201, "{}: {posted}", db.backend);
        assert_eq!(posted["body_text"], "Here is your invoice.");
        assert_eq!(posted["source"], "api");
        let files = posted["attachments"].as_array().unwrap();
        assert_eq!(files.len(), 3, "{posted}");
        assert_eq!(files[0]["filename"], "invoice.pdf");
        assert_eq!(files[0]["content_type"], "application/pdf");
        assert_eq!(files[0]["size"], 40_000);
        assert_eq!(files[1]["content_type"], "image/png", "the bytes win");
        assert_eq!(files[2]["filename"], "fdp.exe", "bidi override cleaned");
        assert_eq!(files[2]["content_type"], "text/plain");

        // The listing shows what the answer showed, and each file comes back byte for byte.
        let listed = s.app.messages(&s.conversation).await;
        let last = listed.last().unwrap();
        assert_eq!(last["id"], posted["id"]);
        assert_eq!(last["attachments"], posted["attachments"]);
        assert_eq!(s.download(&files[0]).await, invoice, "{}", db.backend);
        assert_eq!(s.download(&files[1]).await, PNG);

        // The agent's files reach the client's inbox as attachments.
        let to_client = s.app.wait_for_emails(CLIENT, 1).await.remove(0);
        let carried = to_client.attachments();
        let names: Vec<&str> = carried.iter().map(|c| c.filename.as_str()).collect();
        assert_eq!(
            names,
            ["invoice.pdf", "photo.jpg", "fdp.exe"],
            "{}",
            db.backend
        );
        assert_eq!(carried[0].data, invoice);
        assert_eq!(carried[0].content_type, "application/pdf");
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_message_of_files_only_is_posted_without_text() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let form = Form::new()
            .text("author_id", s.client.clone())
            .part("file", file("scan.pdf", "application/pdf", pdf(1000)))
            .part("file", file("", "application/octet-stream", pdf(2000)));
        let (status, posted) = s.upload(form).await;
        assert_eq!(status, 201, "{}: {posted}", db.backend);
        assert_eq!(posted["body_text"], "");
        assert_eq!(posted["kind"], "message");
        let files = posted["attachments"].as_array().unwrap();
        assert_eq!(files[0]["filename"], "scan.pdf");
        assert_eq!(
            files[1]["filename"], "attachment-2",
            "a nameless file is numbered"
        );
        assert_eq!(files[1]["content_type"], "application/pdf");
        // An empty body field beside a file is no text either.
        let form = Form::new()
            .text("author_id", s.client.clone())
            .text("body", "  ")
            .part("file", file("more.pdf", "application/pdf", pdf(500)));
        let (status, posted) = s.upload(form).await;
        assert_eq!((status, posted["body_text"].as_str()), (201, Some("")));
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_file_over_the_limit_is_a_413_naming_it_and_nothing_is_posted_or_stored() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let before = s.message_count().await;
        let form = Form::new()
            .text("author_id", s.agent.clone())
            .text("body", "Two files, one too big.")
            .part("file", file("small.pdf", "application/pdf", pdf(1000)))
            .part("file", file("huge.pdf", "application/pdf", pdf(LIMIT + 1)));
        let (status, v) = s.upload(form).await;
        assert_eq!(
            (status, code(&v)),
            (413, "file_too_large"),
            "{}",
            db.backend
        );
        assert_eq!(v["error"]["field"], "file");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains("huge.pdf"), "{message}");
        assert_eq!(s.message_count().await, before, "nothing posted");
        assert_eq!(s.blob_count(), 0, "nothing stored");

        // Exactly at the limit is fine.
        let form = Form::new()
            .text("author_id", s.agent.clone())
            .part("file", file("fits.pdf", "application/pdf", pdf(LIMIT)));
        let (status, v) = s.upload(form).await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["attachments"][0]["size"], LIMIT);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_request_over_the_whole_limit_is_a_413_json_error() {
    for db in test_databases().await {
        let s = scene(&db).await;
        // Each file within the limit; all of them beyond 4 files and 1 MiB.
        let mut form = Form::new().text("author_id", s.agent.clone());
        for i in 0..21 {
            form = form.part(
                "file",
                file(&format!("{i}.pdf"), "application/pdf", pdf(LIMIT)),
            );
        }
        let (status, v) = s.upload(form).await;
        assert_eq!(
            (status, code(&v)),
            (413, "request_too_large"),
            "{}",
            db.backend
        );
        assert_eq!(s.message_count().await, 0);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_form_with_neither_text_nor_file_is_refused() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let forms = [
            Form::new().text("author_id", s.agent.clone()),
            Form::new()
                .text("author_id", s.agent.clone())
                .text("body", " \r\n "),
            // What a browser sends for a file input left empty.
            Form::new()
                .text("author_id", s.agent.clone())
                .part("file", file("", "application/octet-stream", Vec::new())),
        ];
        for form in forms {
            let (status, v) = s.upload(form).await;
            assert_eq!((status, code(&v)), (422, "empty_message"), "{}", db.backend);
        }
        assert_eq!(s.message_count().await, 0);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_body_that_is_not_a_readable_form_is_a_400_json_error() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let author = s.agent.clone();
        let body = |boundary: &str| {
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"author_id\"\r\n\r\n{author}\r\n\
--{boundary}\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nhello\r\n--{boundary}--\r\n"
            )
            .into_bytes()
        };
        // The body is good under its own boundary…
        let (status, v) = s
            .raw("multipart/form-data; boundary=right", body("right"))
            .await;
        assert_eq!(status, 201, "{v}");
        // …but not under another one, nor without one.
        let cases = [
            ("multipart/form-data; boundary=X", body("right")),
            ("multipart/form-data", body("right")),
            ("multipart/form-data; boundary=", body("right")),
            // Cut off before its closing boundary.
            ("multipart/form-data; boundary=right", {
                let mut b = body("right");
                b.truncate(b.len() - 12);
                b
            }),
            // A file under another name than `file`.
            (
                "multipart/form-data; boundary=b",
                b"--b\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"a.pdf\"\r\n\r\n%PDF\r\n--b--\r\n".to_vec(),
            ),
            // Part headers that never end.
            (
                "multipart/form-data; boundary=b",
                b"--b\r\nContent-Disposition: form-data; name=\"body\"\r\n".to_vec(),
            ),
        ];
        for (content_type, body) in cases {
            let (status, v) = s.raw(content_type, body).await;
            assert_eq!(
                (status, code(&v)),
                (400, "bad_multipart"),
                "{content_type}: {v}"
            );
        }
        assert_eq!(s.message_count().await, 1, "only the good one");
        s.app.stop().await;
    }
}

#[tokio::test]
async fn text_fields_that_are_not_utf8_or_too_long_are_refused_by_name() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let form = Form::new()
            .text("author_id", s.agent.clone())
            .part("body", Part::bytes(b"caf\xe9".to_vec()));
        let (status, v) = s.upload(form).await;
        assert_eq!((status, code(&v)), (422, "invalid_request"), "{v}");
        assert_eq!(v["error"]["field"], "body");
        let form = Form::new()
            .text("author_id", "x".repeat(5000))
            .text("body", "hello");
        let (status, v) = s.upload(form).await;
        assert_eq!((status, code(&v)), (422, "invalid_request"), "{v}");
        assert_eq!(v["error"]["field"], "author_id");
        let form = Form::new()
            .text("author_id", s.agent.clone())
            .text("body", "x".repeat(1024 * 1024 + 1));
        let (status, v) = s.upload(form).await;
        assert_eq!((status, v["error"]["field"].as_str()), (422, Some("body")));
        let form = Form::new()
            .text("author_id", s.agent.clone())
            .text("kind", "memo")
            .text("body", "hello");
        let (status, v) = s.upload(form).await;
        assert_eq!((status, code(&v)), (422, "invalid_request"), "{v}");
        assert_eq!(s.message_count().await, 0);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn other_content_types_are_415_and_json_posts_as_before() {
    for db in test_databases().await {
        let s = scene(&db).await;
        for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
            let (status, v) = s.raw(content_type, b"body=hello".to_vec()).await;
            assert_eq!(
                (status, code(&v)),
                (415, "unsupported_media_type"),
                "{content_type:?}"
            );
        }
        let (status, v) = s
            .app
            .post(
                &format!("/conversations/{}/messages", s.conversation),
                json!({"author_id": s.agent, "body": "plain JSON", "kind": "note"}),
            )
            .await;
        assert_eq!(status, 201, "{}: {v}", db.backend);
        assert_eq!(v["kind"], "note");
        assert_eq!(v["attachments"], json!([]));
        let (status, v) = s
            .app
            .post(
                &format!("/conversations/{}/messages", s.conversation),
                json!({"author_id": s.agent}),
            )
            .await;
        assert_eq!(
            (status, code(&v)),
            (422, "invalid_request"),
            "JSON still needs its body"
        );
        s.app.stop().await;
    }
}

#[tokio::test]
async fn a_client_cannot_post_a_note_even_with_a_file() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let form = Form::new()
            .text("author_id", s.client.clone())
            .text("kind", "note")
            .part("file", file("secret.pdf", "application/pdf", pdf(1000)));
        let (status, v) = s.upload(form).await;
        assert_eq!(
            (status, code(&v)),
            (403, "notes_are_internal"),
            "{}",
            db.backend
        );
        assert_eq!(s.message_count().await, 0);
        assert_eq!(s.blob_count(), 0, "refused before any file is stored");
        s.app.stop().await;
    }
}

/// The agent, signed in through the email the client's message sent them.
async fn agent_browser(s: &Scene) -> Browser {
    s.app
        .say(
            &s.conversation,
            &s.client,
            "Where is my invoice?",
            "message",
        )
        .await;
    let email = s.app.wait_for_emails(AGENT, 1).await.pop().unwrap();
    let mut browser = Browser::new(&s.app);
    browser.sign_in_with(&magic_link(&email)).await;
    browser
}

/// Posts the reply form as the page does (multipart), with the browser's session cookie.
async fn post_reply(s: &Scene, browser: &Browser, form: Form) -> (u16, String, String) {
    let cookie = format!("tg_session={}", browser.session().unwrap());
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!(
            "http://{}/c/{}/messages",
            s.app.http, s.conversation
        ))
        .header("cookie", cookie)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, response.text().await.unwrap())
}

#[tokio::test]
async fn an_agent_attaches_files_from_the_reply_form() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let mut agent = agent_browser(&s).await;
        let path = format!("/c/{}", s.conversation);
        let page = agent.get(&path).await;
        assert!(
            page.body.contains(r#"enctype="multipart/form-data""#)
                && page.body.contains(r#"type="file""#)
                && page.body.contains("Attach files"),
            "{}",
            page.body
        );
        let csrf = page.csrf();
        let invoice = pdf(5000);
        let form = Form::new()
            .text("csrf", csrf.clone())
            .text("body", "Attached, for the team.")
            .text("kind", "note")
            .part(
                "file",
                file("invoice.pdf", "application/octet-stream", invoice.clone()),
            )
            // The empty part a browser sends for nothing chosen in a second input.
            .part("file", file("", "application/octet-stream", Vec::new()));
        let (status, location, body) = post_reply(&s, &agent, form).await;
        assert_eq!(status, 303, "{}: {body}", db.backend);
        let last = s.app.messages(&s.conversation).await.pop().unwrap();
        assert_eq!(location, format!("{path}#{}", last["id"].as_str().unwrap()));
        assert_eq!(
            (last["kind"].as_str(), last["source"].as_str()),
            (Some("note"), Some("web"))
        );
        assert_eq!(last["body_text"], "Attached, for the team.");
        let files = last["attachments"].as_array().unwrap();
        assert_eq!(files.len(), 1, "{last}");
        assert_eq!(files[0]["content_type"], "application/pdf");
        assert_eq!(s.download(&files[0]).await, invoice);
        assert!(agent.get(&path).await.body.contains("invoice.pdf"));

        // Files alone, as a message.
        let form = Form::new()
            .text("csrf", csrf.clone())
            .part("file", file("photo.png", "image/png", PNG.to_vec()));
        let (status, _, body) = post_reply(&s, &agent, form).await;
        assert_eq!(status, 303, "{body}");
        let last = s.app.messages(&s.conversation).await.pop().unwrap();
        assert_eq!(
            (last["kind"].as_str(), last["body_text"].as_str()),
            (Some("message"), Some(""))
        );

        // The urlencoded form of older pages still posts.
        let page = agent
            .submit(
                &path,
                &format!("{path}/messages"),
                &[("body", "Plain text.")],
            )
            .await;
        assert_eq!(page.status, 303);
        s.app.stop().await;
    }
}

#[tokio::test]
async fn the_reply_form_refuses_big_files_empty_replies_and_forged_posts_with_pages() {
    for db in test_databases().await {
        let s = scene(&db).await;
        let agent = agent_browser(&s).await;
        let before = s.message_count().await;
        let mut page_browser = Browser::new(&s.app);
        page_browser.cookies = agent.cookies.clone();
        let csrf = page_browser
            .get(&format!("/c/{}", s.conversation))
            .await
            .csrf();

        let form = Form::new()
            .text("csrf", csrf.clone())
            .text("body", "Too big")
            .part("file", file("huge.pdf", "application/pdf", pdf(LIMIT + 1)));
        let (status, _, body) = post_reply(&s, &agent, form).await;
        assert_eq!(status, 413, "{}: {body}", db.backend);
        assert!(
            body.contains("huge.pdf") && body.contains("<html"),
            "{body}"
        );

        let form = Form::new()
            .text("csrf", csrf.clone())
            .part("file", file("", "application/octet-stream", Vec::new()));
        let (status, _, body) = post_reply(&s, &agent, form).await;
        assert_eq!(status, 422, "{body}");

        let form = Form::new()
            .text("csrf", "forged")
            .part("file", file("a.pdf", "application/pdf", pdf(100)));
        let (status, _, _) = post_reply(&s, &agent, form).await;
        assert_eq!(status, 403);

        let response = reqwest::Client::new()
            .post(format!(
                "http://{}/c/{}/messages",
                s.app.http, s.conversation
            ))
            .header("cookie", format!("tg_session={}", agent.session().unwrap()))
            .header("content-type", "multipart/form-data")
            .body("--b\r\n")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);

        assert_eq!(s.message_count().await, before, "nothing posted");
        assert_eq!(s.blob_count(), 0, "nothing stored");
        s.app.stop().await;
    }
}
