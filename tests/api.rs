//! The JSON API's contract for bad input: a JSON error with a fitting 4xx, never a 500.

mod support;

use serde_json::{Value, json};
use support::*;

async fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut request = app
        .http_client
        .request(
            method.parse().unwrap(),
            format!("http://{}{}", app.http, path),
        )
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(ct) = content_type {
        request = request.header("Content-Type", ct);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}"));
    (status, value)
}

fn code(v: &Value) -> &str {
    v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {v}"))
}

#[tokio::test]
async fn bad_input_gets_a_json_error_with_a_fitting_4xx() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(&db, &[]).await;
    let json_ct = Some("application/json");
    let t = Some(ADMIN_TOKEN);

    let (s, v) = raw(&app, "GET", "/api/v1/inbound", None, None, "").await;
    assert_eq!((s, code(&v)), (401, "unauthorized"));
    let (s, _) = raw(
        &app,
        "GET",
        "/api/v1/inbound",
        Some("wrong-token-wrong-token"),
        None,
        "",
    )
    .await;
    assert_eq!(s, 401);

    let (s, v) = raw(&app, "POST", "/api/v1/people", t, json_ct, "{not json").await;
    assert_eq!((s, code(&v)), (400, "bad_json"));
    let (s, v) = raw(
        &app,
        "POST",
        "/api/v1/people",
        t,
        None,
        r#"{"email":"a@b.test","name":"A"}"#,
    )
    .await;
    assert_eq!((s, code(&v)), (415, "bad_json"));
    let (s, v) = raw(
        &app,
        "POST",
        "/api/v1/people",
        t,
        json_ct,
        r#"{"email": 42}"#,
    )
    .await;
    assert_eq!((s, code(&v)), (422, "bad_json"));
    let (s, v) = raw(
        &app,
        "POST",
        "/api/v1/people",
        t,
        json_ct,
        r#"{"email":"not-an-address","name":"A"}"#,
    )
    .await;
    assert_eq!((s, code(&v)), (422, "invalid_request"));
    assert!(v["error"]["message"].as_str().unwrap().contains("email"));
    let (s, v) = raw(
        &app,
        "POST",
        "/api/v1/people",
        t,
        json_ct,
        r#"{"email":"a@b.test","name":"A","role":"boss"}"#,
    )
    .await;
    assert_eq!((s, code(&v)), (422, "invalid_request"));
    let (s, v) = raw(
        &app,
        "POST",
        "/api/v1/people",
        t,
        json_ct,
        r#"{"email":"a@b.test"}"#,
    )
    .await;
    assert_eq!((s, code(&v)), (422, "invalid_request"));

    let agent = app.person("agent@team.test", "Agent", "internal").await;
    let client = app.person("client@x.test", "Client", "client").await;
    let outsider = app.person("out@x.test", "Out", "client").await;
    let (s, v) = app
        .post(
            "/people",
            json!({"email": "AGENT@team.test", "name": "Again", "role": "client"}),
        )
        .await;
    assert_eq!((s, code(&v)), (409, "conflict"));

    let (s, v) = app
        .post(
            "/conversations",
            json!({"subject": "x", "created_by": agent, "participants": ["per_nobody"]}),
        )
        .await;
    assert_eq!((s, code(&v)), (404, "not_found"));
    let (s, v) = app
        .post(
            "/conversations",
            json!({"subject": "", "created_by": agent}),
        )
        .await;
    assert_eq!((s, code(&v)), (422, "invalid_request"));
    let conversation = app.conversation("Hi", &agent, &[&client]).await;

    let path = format!("/conversations/{conversation}/messages");
    let (s, v) = app
        .post(
            &path,
            json!({"author_id": client, "body": "psst", "kind": "note"}),
        )
        .await;
    assert_eq!((s, code(&v)), (403, "notes_are_internal"));
    let (s, v) = app
        .post(
            &path,
            json!({"author_id": outsider, "body": "hi", "kind": "message"}),
        )
        .await;
    assert_eq!((s, code(&v)), (422, "not_a_participant"));
    let (s, v) = app
        .post(
            &path,
            json!({"author_id": agent, "body": "hi", "kind": "shout"}),
        )
        .await;
    assert_eq!((s, code(&v)), (422, "invalid_request"));
    let (s, v) = app
        .post(&path, json!({"author_id": "per_ghost", "body": "hi"}))
        .await;
    assert_eq!((s, code(&v)), (404, "not_found"));
    let (s, v) = app
        .post(
            "/conversations/cnv_nothere/messages",
            json!({"author_id": agent, "body": "hi"}),
        )
        .await;
    assert_eq!((s, code(&v)), (404, "not_found"));
    let (s, v) = app.get("/conversations/cnv_nothere/messages").await;
    assert_eq!((s, code(&v)), (404, "not_found"));
    let (s, v) = app
        .post(
            &format!("/conversations/{conversation}/participants"),
            json!({"person_id": client}),
        )
        .await;
    assert_eq!((s, code(&v)), (409, "conflict"));
    let (s, v) = app
        .post(
            &format!("/conversations/{conversation}/participants"),
            json!({"person_id": outsider}),
        )
        .await;
    assert_eq!(s, 201, "{v}");

    let (s, v) = app.get("/inbound?limit=0").await;
    assert_eq!((s, code(&v)), (400, "bad_query"));
    let (s, v) = app.get("/inbound?limit=lots").await;
    assert_eq!((s, code(&v)), (400, "bad_query"));
    let (s, v) = raw(&app, "GET", "/api/v1/no/such/route", t, None, "").await;
    assert_eq!((s, code(&v)), (404, "not_found"));
    let (s, v) = raw(&app, "DELETE", "/api/v1/people", t, None, "").await;
    assert_eq!((s, code(&v)), (405, "method_not_allowed"));
    let (s, v) = raw(&app, "GET", "/api/v1/people/%FF%FE", t, None, "").await;
    assert!(s == 400 || s == 404, "{s} {v}");
    let big = format!(
        r#"{{"author_id":"{agent}","body":"{}"}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let (s, v) = raw(&app, "POST", &format!("/api/v1{path}"), t, json_ct, &big).await;
    assert_eq!((s, code(&v)), (413, "bad_json"));

    // And a good request still works after all that.
    let (s, v) = app
        .post(
            &path,
            json!({"author_id": agent, "body": "still fine", "kind": "message"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    app.stop().await;
}
