//! The HTTP API end to end: the real binary, its own database, reqwest.

#[macro_use]
mod common;

use bomizzel_store::testing::fresh_postgres_database;
use common::app::{Backend, TestApp, split};
use reqwest::Method;
use serde_json::{Value, json};

on_both!(
    a_ticket_lives_through_its_commands,
    an_idempotent_retry_returns_the_first_answer_and_appends_once,
    an_idempotency_key_is_bound_to_its_route_ticket_and_body,
    an_idempotent_retry_is_authorized_against_the_ticket_as_it_is_now,
    a_stale_if_match_is_a_conflict,
);

async fn a_ticket_lives_through_its_commands(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    let path = |tail: &str| format!("/api/tickets/{id}{tail}");

    let (status, ticket) = app
        .call(
            Method::POST,
            &path("/assign"),
            "agent-1",
            Some(json!({ "assignee_id": "agent-1" })),
        )
        .await;
    assert_eq!(status, 200, "{ticket}");
    assert_eq!(ticket["assignee_id"], "agent-1");
    assert_eq!(ticket["version"], 2);
    assert!(ticket["position"].as_i64().unwrap() >= 2);

    for (tail, body) in [
        ("/status", json!({ "status": "in_progress" })),
        ("/priority", json!({ "priority": "urgent" })),
        (
            "/comments",
            json!({ "body": "Looking into it", "internal": true }),
        ),
        ("/move", json!({ "queue_id": "queue-2" })),
    ] {
        let (status, answer) = app
            .call(Method::POST, &path(tail), "admin-1", Some(body))
            .await;
        assert_eq!(status, 200, "{tail}: {answer}");
    }
    let (status, edited) = app
        .call(
            Method::PATCH,
            &path(""),
            "admin-1",
            Some(json!({ "title": "Printer fixed", "tags": ["Hardware"] })),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["team_id"], "team-2", "moving changed the team");
    assert_eq!(edited["tags"], json!(["hardware"]));
    assert_eq!(edited["version"], 7);

    // A command that changes nothing appends nothing.
    let (status, same) = app
        .call(
            Method::POST,
            &path("/priority"),
            "admin-1",
            Some(json!({ "priority": "urgent" })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(same["version"], 7);
    assert!(
        same.get("position").is_none(),
        "no event, no position: {same}"
    );

    let response = app
        .request(Method::GET, &path(""), Some("admin-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"7\"");
    let (_, at_two) = app
        .call(Method::GET, &path("?version=2"), "admin-1", None)
        .await;
    assert_eq!(
        (at_two["version"].as_u64(), at_two["status"].as_str()),
        (Some(2), Some("open"))
    );
    let (status, _) = app
        .call(Method::GET, &path("?version=8"), "admin-1", None)
        .await;
    assert_eq!(status, 404);

    let (_, history) = app
        .call(Method::GET, &path("/history"), "analyst-1", None)
        .await;
    let types: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "TicketCreated",
            "TicketAssigned",
            "TicketStatusChanged",
            "TicketPriorityChanged",
            "CommentAdded",
            "TicketMoved",
            "TicketUpdated"
        ]
    );
    assert_eq!(history[0]["actor"], "agent-1");
    assert!(
        history[0]["correlation_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "request id recorded"
    );
    let positions: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));

    // Invalid transitions and rules are explained.
    let (status, problem) = app
        .call(
            Method::POST,
            &path("/status"),
            "admin-1",
            Some(json!({ "status": "closed" })),
        )
        .await;
    assert_eq!(status, 200, "{problem}");
    let (status, problem) = app
        .call(
            Method::POST,
            &path("/status"),
            "admin-1",
            Some(json!({ "status": "in_progress" })),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(problem["code"], "invalid_transition");
    assert!(
        problem["detail"].as_str().unwrap().contains("closed"),
        "{problem}"
    );
}

async fn an_idempotent_retry_returns_the_first_answer_and_appends_once(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    let create = || {
        app.request(Method::POST, "/api/tickets", Some("agent-1"))
            .header("Idempotency-Key", "create-1")
            .json(&json!({ "title": "Once", "queue_id": "queue-1", "company_id": "acme" }))
    };
    let (first_status, first) = split(create().send().await.unwrap()).await;
    let (again_status, again) = split(create().send().await.unwrap()).await;
    assert_eq!((first_status, again_status), (201, 201));
    assert_eq!(first, again, "the retry gets the first answer");
    let id = first["id"].as_str().unwrap();

    let comment = || {
        app.request(
            Method::POST,
            &format!("/api/tickets/{id}/comments"),
            Some("agent-1"),
        )
        .header("Idempotency-Key", "comment-1")
        .json(&json!({ "body": "Only once" }))
    };
    let (_, first) = split(comment().send().await.unwrap()).await;
    let (_, again) = split(comment().send().await.unwrap()).await;
    assert_eq!(first, again);
    let (_, history) = app
        .call(
            Method::GET,
            &format!("/api/tickets/{id}/history"),
            "agent-1",
            None,
        )
        .await;
    assert_eq!(
        history.as_array().unwrap().len(),
        2,
        "created once, commented once: {history}"
    );

    // The same key from another user is another key.
    let (status, other) = split(
        app.request(Method::POST, "/api/tickets", Some("admin-1"))
            .header("Idempotency-Key", "create-1")
            .json(&json!({ "title": "Twice", "queue_id": "queue-1", "company_id": "acme" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    assert_ne!(other["id"], first["id"]);
}

/// Sends `body` to `path` as `user` with `Idempotency-Key: key`.
async fn keyed(app: &TestApp, path: &str, user: &str, key: &str, body: Value) -> (u16, Value) {
    let request = app
        .request(Method::POST, path, Some(user))
        .header("Idempotency-Key", key)
        .json(&body);
    split(request.send().await.expect("answered")).await
}

fn assert_key_reused((status, problem): (u16, Value), mentions: &str) {
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "idempotency_key_reused", "{problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(mentions), "{mentions:?} not in {detail:?}");
}

async fn history_len(app: &TestApp, id: &str) -> usize {
    let path = format!("/api/tickets/{id}/history");
    let (status, history) = app.call(Method::GET, &path, "admin-1", None).await;
    assert_eq!(status, 200, "{history}");
    history.as_array().expect("a list").len()
}

async fn an_idempotency_key_is_bound_to_its_route_ticket_and_body(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    let ticket = json!({ "title": "Once", "queue_id": "queue-1", "company_id": "acme" });
    let (status, created) = keyed(&app, "/api/tickets", "agent-1", "c", ticket.clone()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let other = app.open_ticket("agent-1", "queue-1", "acme").await;
    let changed = json!({ "title": "Twice", "queue_id": "queue-1", "company_id": "acme" });
    assert_key_reused(
        keyed(&app, "/api/tickets", "agent-1", "c", changed).await,
        "another request body",
    );

    let comments = format!("/api/tickets/{id}/comments");
    let (status, first) = keyed(&app, &comments, "agent-1", "m", json!({ "body": "x" })).await;
    assert_eq!(status, 200, "{first}");
    // The same request spelled differently is a retry.
    let spelled = json!({ "internal": false, "body": "x" });
    assert_eq!(
        keyed(&app, &comments, "agent-1", "m", spelled).await,
        (200, first)
    );
    let changed = json!({ "body": "y" });
    assert_key_reused(
        keyed(&app, &comments, "agent-1", "m", changed).await,
        "another request body",
    );
    let priority = format!("/api/tickets/{id}/priority");
    assert_key_reused(
        keyed(
            &app,
            &priority,
            "agent-1",
            "m",
            json!({ "priority": "high" }),
        )
        .await,
        "POST /api/tickets/{id}/comments",
    );
    assert_key_reused(
        keyed(&app, &comments, "agent-1", "c", json!({ "body": "x" })).await,
        "POST /api/tickets,",
    );
    let elsewhere = format!("/api/tickets/{other}/comments");
    assert_key_reused(
        keyed(&app, &elsewhere, "agent-1", "m", json!({ "body": "x" })).await,
        &format!("ticket {id}"),
    );
    assert_eq!(
        history_len(&app, &id).await,
        2,
        "created and commented once"
    );
    assert_eq!(history_len(&app, &other).await, 1);
}

async fn an_idempotent_retry_is_authorized_against_the_ticket_as_it_is_now(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    let ticket = json!({ "title": "Moving", "queue_id": "queue-1", "company_id": "acme" });
    let (status, created) = keyed(&app, "/api/tickets", "agent-1", "c", ticket.clone()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let comments = format!("/api/tickets/{id}/comments");
    let comment = json!({ "body": "before the move" });
    let (status, _) = keyed(&app, &comments, "agent-1", "m", comment.clone()).await;
    assert_eq!(status, 200);

    let moved = app
        .call(
            Method::POST,
            &format!("/api/tickets/{id}/move"),
            "admin-1",
            Some(json!({ "queue_id": "queue-2" })),
        )
        .await;
    assert_eq!(moved.0, 200, "{}", moved.1);
    // Team 1 no longer sees the ticket: its retries are answered as fresh
    // requests would be, not with the first answer.
    let (status, problem) = keyed(&app, &comments, "agent-1", "m", comment).await;
    assert_eq!(
        (status, &problem["code"]),
        (404, &json!("not_found")),
        "{problem}"
    );
    let (status, problem) = keyed(&app, "/api/tickets", "agent-1", "c", ticket).await;
    assert_eq!(
        (status, &problem["code"]),
        (404, &json!("not_found")),
        "{problem}"
    );
    assert_eq!(history_len(&app, &id).await, 3, "created, commented, moved");
}

async fn a_stale_if_match_is_a_conflict(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    let priority = |version: &str, priority: &str| {
        app.request(
            Method::POST,
            &format!("/api/tickets/{id}/priority"),
            Some("agent-1"),
        )
        .header("If-Match", version)
        .json(&json!({ "priority": priority }))
        .send()
    };
    let (status, ticket) = split(priority("\"1\"", "high").await.unwrap()).await;
    assert_eq!(status, 200, "{ticket}");
    let (status, problem) = split(priority("\"1\"", "low").await.unwrap()).await;
    assert_eq!(status, 409);
    assert_eq!(problem["code"], "version_conflict");
    let (status, _) = split(priority("not-a-version", "low").await.unwrap()).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn errors_are_problem_json_with_stable_codes() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    let send = |tail: &str, body: &'static str| {
        app.request(
            Method::POST,
            &format!("/api/tickets/{id}{tail}"),
            Some("agent-1"),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
    };
    let cases = [
        ("/status", "{", 400, "malformed_json"),
        ("/comments", r#"{"body": 5}"#, 400, "invalid_field"),
        ("/status", r#"{"status": "sleeping"}"#, 400, "invalid_field"),
        (
            "/status",
            r#"{"status": "waiting", "colour": "red"}"#,
            400,
            "invalid_field",
        ),
    ];
    for (tail, body, status, code) in cases {
        let response = send(tail, body).await.unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{body}"
        );
        let (got, problem) = split(response).await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{body}: {problem}"
        );
    }
    let (_, problem) = split(
        send("/status", r#"{"status": "waiting", "colour": "red"}"#)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(problem["field"], "colour", "the unknown field is named");

    let huge = "x".repeat(2 * 1024 * 1024);
    // Its own connection: the server closes a connection whose body it refused unread.
    let response = reqwest::Client::new()
        .post(app.server.url("/api/tickets"))
        .bearer_auth(app.token("agent-1"))
        .json(&json!({ "title": huge, "queue_id": "queue-1", "company_id": "acme" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    let (status, problem) = app
        .call(
            Method::POST,
            "/api/tickets",
            "agent-1",
            Some(json!({ "title": "", "queue_id": "queue-1", "company_id": "acme" })),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str(), problem["field"].as_str()),
        (422, Some("validation_failed"), Some("title"))
    );
    let (status, problem) = app
        .call(Method::GET, "/api/tickets/not-a-uuid", "agent-1", None)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_id"))
    );
}

#[tokio::test]
async fn bad_expired_and_revoked_tokens_are_refused() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let get = |token: Option<String>| {
        let request = app.client.get(app.server.url("/api/queues"));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
        .send()
    };
    let code = |(status, body): (u16, Value)| {
        (status, body["code"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(
        code(split(get(None).await.unwrap()).await),
        (401, "missing_token".into())
    );
    assert_eq!(
        code(split(get(Some("garbage".into())).await.unwrap()).await),
        (401, "invalid_token".into())
    );
    let expired = app.token_with("agent-1", |claims| claims.exp = claims.iat.unwrap() - 3600);
    assert_eq!(
        code(split(get(Some(expired)).await.unwrap()).await),
        (401, "token_expired".into())
    );
    let forged = bomizzel_identity::TokenKeys::shared_secret(
        b"another-secret-entirely!",
        &Default::default(),
    )
    .mint(&bomizzel_identity::auth::claims_for(
        "admin-1",
        bomizzel_identity::Role::Admin,
        None,
        time::Duration::hours(1),
    ))
    .unwrap();
    assert_eq!(
        code(split(get(Some(forged)).await.unwrap()).await),
        (401, "invalid_token".into())
    );
    let no_company = app.token_with("cust-acme", |claims| claims.company = None);
    assert_eq!(
        code(split(get(Some(no_company)).await.unwrap()).await),
        (401, "invalid_token".into())
    );

    // Logout ends every session issued before it; a later token works.
    let before = app.token("agent-1");
    assert_eq!(split(get(Some(before.clone())).await.unwrap()).await.0, 200);
    let response = app
        .client
        .post(app.server.url("/api/auth/logout"))
        .bearer_auth(&before)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        code(split(get(Some(before)).await.unwrap()).await),
        (401, "token_revoked".into())
    );
    let after = app.token_with("agent-1", |claims| {
        claims.iat = claims.iat.map(|iat| iat + 2);
    });
    assert_eq!(split(get(Some(after)).await.unwrap()).await.0, 200);
}

#[tokio::test]
async fn commands_over_the_rate_limit_get_429_with_retry_after() {
    let app = TestApp::start(
        Backend::Sqlite,
        &["--rate-limit-per-second", "1", "--rate-limit-burst", "2"],
    )
    .await;
    let body = json!({ "title": "Flood", "queue_id": "queue-1", "company_id": "acme" });
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let response = app
            .request(Method::POST, "/api/tickets", Some("agent-1"))
            .json(&body)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..2], [201, 201]);
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    // Another user has their own budget.
    let (status, _) = app
        .call(Method::POST, "/api/tickets", "admin-1", Some(body))
        .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn cors_allows_only_the_frontend_origin() {
    let app = TestApp::start(
        Backend::Sqlite,
        &["--frontend-url", "http://localhost:3000"],
    )
    .await;
    let preflight = |origin: &str| {
        app.client
            .request(Method::OPTIONS, app.server.url("/api/tickets"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight("http://localhost:3000").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let refused = preflight("http://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    app.open_ticket("agent-1", "queue-1", "acme").await;
    let text = app
        .client
        .get(app.server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total")
            && l.contains("route=\"/api/tickets\"")
            && l.contains("status=\"201\"")),
        "{text}"
    );
}

/// Every route of the public contract is in the OpenAPI document.
#[tokio::test]
async fn openapi_lists_every_route() {
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
    let paths = document["paths"].as_object().expect("paths");
    let expected = [
        ("post", "/api/tickets"),
        ("get", "/api/tickets/{id}"),
        ("patch", "/api/tickets/{id}"),
        ("get", "/api/tickets/{id}/history"),
        ("post", "/api/tickets/{id}/assign"),
        ("post", "/api/tickets/{id}/status"),
        ("post", "/api/tickets/{id}/priority"),
        ("post", "/api/tickets/{id}/comments"),
        ("post", "/api/tickets/{id}/move"),
        ("post", "/api/tickets/bulk"),
        ("post", "/api/companies"),
        ("get", "/api/companies"),
        ("post", "/api/teams"),
        ("get", "/api/teams"),
        ("post", "/api/queues"),
        ("get", "/api/queues"),
        ("post", "/api/users"),
        ("get", "/api/users"),
        ("post", "/api/auth/logout"),
    ];
    let missing: Vec<_> = expected
        .iter()
        .filter(|(method, path)| paths.get(*path).and_then(|p| p.get(*method)).is_none())
        .collect();
    assert!(missing.is_empty(), "missing from openapi.json: {missing:?}");
    let documented = paths
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum::<usize>();
    assert!(documented >= expected.len());
}

#[tokio::test]
async fn me_says_who_the_token_belongs_to() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (status, agent) = app.call(Method::GET, "/api/me", "agent-1", None).await;
    assert_eq!(status, 200, "{agent}");
    assert_eq!(
        agent,
        json!({"id": "agent-1", "name": "agent-1", "role": "agent", "company_id": null,
               "team_ids": ["team-1"], "queue_ids": ["queue-1"]})
    );
    let (_, customer) = app.call(Method::GET, "/api/me", "cust-acme", None).await;
    assert_eq!(customer["company_id"], "acme");
    assert_eq!(customer["queue_ids"], json!([]));

    let stranger = app.token_with("analyst-1", |claims| claims.sub = "nobody".to_owned());
    let response = app
        .client
        .get(app.server.url("/api/me"))
        .bearer_auth(stranger)
        .send()
        .await
        .unwrap();
    let (status, body) = split(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["name"],
        Value::Null,
        "a subject the directory does not know"
    );
}

/// Status, `code` and `field` of a refused call.
async fn refusal(app: &TestApp, method: Method, path: &str, user: &str, body: Value) -> Value {
    let (status, answer) = app.call(method, path, user, Some(body)).await;
    json!([status, answer["code"], answer["field"]])
}

#[tokio::test]
async fn control_characters_are_refused_naming_the_field() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let ticket = |title: &str, description: &str| json!({ "title": title, "description": description, "queue_id": "queue-1", "company_id": "acme" });
    let create = |body| refusal(&app, Method::POST, "/api/tickets", "agent-1", body);
    let invalid = |field: &str| json!([422, "validation_failed", field]);
    assert_eq!(create(ticket("nul\u{0}title", "")).await, invalid("title"));
    assert_eq!(create(ticket("two\nlines", "")).await, invalid("title"));
    assert_eq!(
        create(ticket("ok", "bell\u{7}")).await,
        invalid("description")
    );
    let mut tagged = ticket("ok", "");
    tagged["tags"] = json!(["esc\u{1b}"]);
    assert_eq!(create(tagged).await, invalid("tags"));

    let (status, opened) = app
        .call(
            Method::POST,
            "/api/tickets",
            "agent-1",
            Some(ticket("ok", "line one\r\nline two\tindented")),
        )
        .await;
    assert_eq!(
        status, 201,
        "line breaks and tabs are fine in a description: {opened}"
    );
    let comments = format!("/api/tickets/{}/comments", opened["id"].as_str().unwrap());
    assert_eq!(
        refusal(
            &app,
            Method::POST,
            &comments,
            "agent-1",
            json!({ "body": "a\u{0}b" })
        )
        .await,
        invalid("body")
    );
    assert_eq!(
        refusal(
            &app,
            Method::POST,
            "/api/teams",
            "admin-1",
            json!({ "name": "Sup\u{0}port" })
        )
        .await,
        invalid("name")
    );
}

#[tokio::test]
async fn customers_cannot_open_tickets_with_staff_only_fields() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let open = |extra: Value| {
        let mut body = json!({ "title": "Printer on fire", "queue_id": "queue-1" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        refusal(&app, Method::POST, "/api/tickets", "cust-acme", body)
    };
    assert_eq!(
        open(json!({ "tags": ["vip"] })).await,
        json!([422, "validation_failed", "tags"])
    );
    assert_eq!(
        open(json!({ "priority": "urgent" })).await,
        json!([422, "validation_failed", "priority"])
    );
    assert_eq!(open(json!({ "priority": "high" })).await[0], 201);
    let staff = json!({ "title": "t", "queue_id": "queue-1", "company_id": "acme",
                        "tags": ["vip"], "priority": "urgent" });
    assert_eq!(
        refusal(&app, Method::POST, "/api/tickets", "agent-1", staff).await[0],
        201
    );
}

#[tokio::test]
async fn bad_query_strings_and_path_parameters_are_problems() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    for (path, code, field) in [
        (
            format!("/api/tickets/{id}?version=-1"),
            "invalid_query",
            "version",
        ),
        (
            "/api/tickets?colour=red".to_owned(),
            "invalid_query",
            "colour",
        ),
        ("/api/tickets/%FF".to_owned(), "invalid_path", "id"),
    ] {
        let response = app
            .request(Method::GET, &path, Some("agent-1"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let (status, problem) = split(response).await;
        assert_eq!(status, 400, "{path}: {problem}");
        assert_eq!(problem["code"], code, "{path}: {problem}");
        assert_eq!(problem["field"], field, "{path}: {problem}");
    }
}
