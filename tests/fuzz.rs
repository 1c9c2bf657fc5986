//! Garbage at every route: malformed bodies, wrong types, huge strings, bad
//! ids and bad tokens. Every answer is a 4xx, never a 5xx, and the server
//! keeps serving. Routes come from the server's own OpenAPI document, so a
//! new route is covered without editing this test.

mod common;

use common::app::{Backend, TestApp};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

fn bodies() -> Vec<(&'static str, String)> {
    let huge = "x".repeat(300_000);
    vec![
        ("empty", String::new()),
        ("truncated", "{\"title\": ".into()),
        ("not json", "hello".into()),
        ("array", "[1, 2, 3]".into()),
        ("null", "null".into()),
        ("number", "42".into()),
        ("wrong types", json!({ "title": 5, "queue_id": [], "status": {}, "priority": true, "body": null, "assignee_id": 7, "ticket_ids": "all", "action": 3, "name": [], "id": {}, "role": "wizard", "team_ids": "x" }).to_string()),
        ("huge strings", json!({ "title": huge, "description": huge, "body": huge, "name": huge, "id": huge, "queue_id": huge, "assignee_id": huge, "tags": [huge] }).to_string()),
        ("deep nesting", format!("{}{}", "[".repeat(10_000), "]".repeat(10_000))),
        ("unicode", json!({ "title": "\u{0}\u{202e}💥", "queue_id": "\u{ffff}", "name": "\u{0}" }).to_string()),
    ]
}

fn ids() -> Vec<String> {
    vec![
        "not-a-uuid".into(),
        "00000000-0000-0000-0000-000000000000".into(),
        "%00".into(),
        "x".repeat(5000),
        "..%2F..%2Fetc%2Fpasswd".into(),
    ]
}

/// What one garbage request must not do.
fn check(
    method: &Method,
    path: &str,
    label: &str,
    signed_in: bool,
    outcome: reqwest::Result<reqwest::Response>,
) -> Option<String> {
    let status = match outcome {
        Ok(response) => response.status(),
        Err(error) => {
            let cause = std::error::Error::source(&error)
                .map(ToString::to_string)
                .unwrap_or_default();
            return Some(format!(
                "{method} {} [{label}]: {error}: {cause}",
                shorten(path)
            ));
        }
    };
    let acceptable = if signed_in {
        // A valid caller may legitimately succeed (GET ignores bodies); never a server error.
        !status.is_server_error()
    } else {
        status == 401
    };
    (!acceptable).then(|| format!("{method} {} [{label}]: {status}", shorten(path)))
}

fn shorten(path: &str) -> String {
    path.chars().take(80).collect()
}

#[tokio::test]
async fn no_route_answers_garbage_with_a_server_error() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let document: Value = app
        .client
        .get(app.server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut routes = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let takes_body = operation.get("requestBody").is_some();
            routes.push((
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                path.clone(),
                takes_body,
            ));
        }
    }
    assert!(
        routes.len() >= 19,
        "the document lists the routes: {routes:?}"
    );

    let bad_tokens = [
        None,
        Some("garbage".to_owned()),
        Some(app.token_with("agent-1", |c| c.exp = 1)),
    ];
    let good_tokens = [
        app.token("admin-1"),
        app.token("cust-acme"),
        app.token("agent-2"),
    ];
    let mut attempts = Vec::new();
    for (method, template, takes_body) in &routes {
        for id in ids() {
            let path = template.replace("{id}", &id);
            for token in &bad_tokens {
                attempts.push((
                    method.clone(),
                    path.clone(),
                    token.clone(),
                    "no token or a bad one",
                    "{}".to_owned(),
                ));
            }
            let bodies = if *takes_body {
                bodies()
            } else {
                vec![("no body", String::new())]
            };
            for token in &good_tokens {
                for (label, body) in &bodies {
                    attempts.push((
                        method.clone(),
                        path.clone(),
                        Some(token.clone()),
                        label,
                        body.clone(),
                    ));
                }
            }
        }
    }
    let requests = attempts.len();
    // A fresh connection per request: the server may close a connection whose
    // body it refused unread, and a pooled client would blame the next request.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let failures: Vec<String> = futures::stream::iter(attempts)
        .map(|(method, path, token, label, body)| {
            let signed_in = good_tokens.contains(token.as_ref().unwrap_or(&String::new()));
            let mut request = client
                .request(method.clone(), app.server.url(&path))
                .header("content-type", "application/json")
                .body(body);
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            async move { check(&method, &path, label, signed_in, request.send().await) }
        })
        .buffer_unordered(16)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    let health = app
        .client
        .get(app.server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the server is still up");
    assert!(
        failures.is_empty(),
        "{} of {requests} requests:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
