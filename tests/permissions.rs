//! docs/permissions.md, cell by cell: every role against every route, on a
//! ticket of their own company or team ("own") and of another ("other").

mod common;

use common::app::{Backend, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

/// One cell: `user` calls `method path` (with `{own}` / `{other}` standing
/// for fresh tickets) and must get `status`.
struct Case {
    user: &'static str,
    method: Method,
    path: &'static str,
    body: Value,
    status: u16,
}

fn case(user: &'static str, method: Method, path: &'static str, body: Value, status: u16) -> Case {
    Case {
        user,
        method,
        path,
        body,
        status,
    }
}

/// Per route: the expected status for each user, on their own ticket and on the other one.
fn ticket_route_cases() -> Vec<Case> {
    // (user, own, other): "own" is acme's ticket in team-1's queue, requested by cust-acme.
    type Row = (&'static str, u16, u16);
    let manage: [Row; 7] = [
        ("admin-1", 200, 200),
        ("agent-1", 200, 404),
        ("agent-2", 404, 200),
        ("analyst-1", 403, 403),
        ("auditor-1", 403, 403),
        ("cust-acme", 403, 404),
        ("cust-globex", 404, 403),
    ];
    let read: [Row; 7] = [
        ("admin-1", 200, 200),
        ("agent-1", 200, 404),
        ("agent-2", 404, 200),
        ("analyst-1", 200, 200),
        ("auditor-1", 200, 200),
        ("cust-acme", 200, 404),
        ("cust-globex", 404, 200),
    ];
    let close: [Row; 8] = [
        ("admin-1", 200, 200),
        ("agent-1", 200, 404),
        ("analyst-1", 403, 403),
        ("auditor-1", 403, 403),
        ("cust-acme", 200, 404),
        // Same company, but not the requester.
        ("cust-acme-2", 403, 404),
        ("cust-globex", 404, 200),
        ("agent-2", 404, 200),
    ];
    let public_comment: [Row; 5] = [
        ("agent-1", 200, 404),
        ("analyst-1", 403, 403),
        ("auditor-1", 403, 403),
        ("cust-acme", 200, 404),
        ("cust-globex", 404, 200),
    ];
    let internal_comment: [Row; 5] = [
        ("admin-1", 200, 200),
        ("auditor-1", 403, 403),
        ("agent-1", 200, 404),
        ("cust-acme", 403, 404),
        ("cust-globex", 404, 403),
    ];
    // The audit trail: auditors only, every ticket.
    let audit: [Row; 5] = [
        ("auditor-1", 200, 200),
        ("admin-1", 403, 403),
        ("analyst-1", 403, 403),
        ("agent-1", 403, 403),
        ("cust-acme", 403, 403),
    ];
    let routes: Vec<(Method, &'static str, &'static str, Value, &[Row])> = vec![
        (
            Method::GET,
            "/api/audit/tickets/{own}",
            "/api/audit/tickets/{other}",
            Value::Null,
            &audit,
        ),
        (
            Method::GET,
            "/api/audit/directory",
            "/api/audit/head",
            Value::Null,
            &audit,
        ),
        (
            Method::GET,
            "/api/tickets/{own}",
            "/api/tickets/{other}",
            Value::Null,
            &read,
        ),
        (
            Method::GET,
            "/api/tickets/{own}/history",
            "/api/tickets/{other}/history",
            Value::Null,
            &read,
        ),
        (
            Method::POST,
            "/api/tickets/{own}/assign",
            "/api/tickets/{other}/assign",
            json!({ "assignee_id": null }),
            &manage,
        ),
        (
            Method::POST,
            "/api/tickets/{own}/priority",
            "/api/tickets/{other}/priority",
            json!({ "priority": "high" }),
            &manage,
        ),
        (
            Method::POST,
            "/api/tickets/{own}/move",
            "/api/tickets/{other}/move",
            json!({ "queue_id": "queue-2" }),
            &manage,
        ),
        (
            Method::PATCH,
            "/api/tickets/{own}",
            "/api/tickets/{other}",
            json!({ "title": "Renamed" }),
            &manage,
        ),
        (
            Method::POST,
            "/api/tickets/{own}/status",
            "/api/tickets/{other}/status",
            json!({ "status": "closed" }),
            &close,
        ),
        (
            Method::POST,
            "/api/tickets/{own}/comments",
            "/api/tickets/{other}/comments",
            json!({ "body": "Hi" }),
            &public_comment,
        ),
        (
            Method::POST,
            "/api/tickets/{own}/comments",
            "/api/tickets/{other}/comments",
            json!({ "body": "Staff only", "internal": true }),
            &internal_comment,
        ),
    ];
    let mut cases = Vec::new();
    for (method, own, other, body, rows) in routes {
        for (user, own_status, other_status) in rows {
            cases.push(case(user, method.clone(), own, body.clone(), *own_status));
            cases.push(case(
                user,
                method.clone(),
                other,
                body.clone(),
                *other_status,
            ));
        }
    }
    cases
}

fn create_and_directory_cases() -> Vec<Case> {
    let in_queue = |queue: &str| json!({ "title": "New", "queue_id": queue, "company_id": "acme" });
    let mut cases = vec![
        case(
            "admin-1",
            Method::POST,
            "/api/tickets",
            in_queue("queue-2"),
            201,
        ),
        case(
            "agent-1",
            Method::POST,
            "/api/tickets",
            in_queue("queue-1"),
            201,
        ),
        case(
            "agent-1",
            Method::POST,
            "/api/tickets",
            in_queue("queue-2"),
            403,
        ),
        case(
            "analyst-1",
            Method::POST,
            "/api/tickets",
            in_queue("queue-1"),
            403,
        ),
        case(
            "auditor-1",
            Method::POST,
            "/api/tickets",
            in_queue("queue-1"),
            403,
        ),
        // Customers open tickets for their own company whatever they claim.
        case(
            "cust-globex",
            Method::POST,
            "/api/tickets",
            in_queue("queue-1"),
            201,
        ),
    ];
    for user in ["agent-1", "analyst-1", "auditor-1", "cust-acme"] {
        for (path, body) in [
            ("/api/companies", json!({ "name": "Initech" })),
            ("/api/teams", json!({ "name": "Night shift" })),
            (
                "/api/queues",
                json!({ "name": "Spam", "team_id": "team-1" }),
            ),
            (
                "/api/users",
                json!({ "id": "new-user", "name": "New", "role": "agent" }),
            ),
        ] {
            cases.push(case(user, Method::POST, path, body, 403));
        }
        for path in ["/api/companies", "/api/teams"] {
            cases.push(case(user, Method::GET, path, Value::Null, 403));
        }
        // Agents list their teams' staff (with ?team=, below).
        let all_users = if user == "agent-1" { 400 } else { 403 };
        cases.push(case(
            user,
            Method::GET,
            "/api/users",
            Value::Null,
            all_users,
        ));
        cases.push(case(user, Method::GET, "/api/queues", Value::Null, 200));
    }
    cases.push(case(
        "admin-1",
        Method::POST,
        "/api/companies",
        json!({ "name": "Initech" }),
        201,
    ));
    cases.push(case("admin-1", Method::GET, "/api/users", Value::Null, 200));
    cases.extend(customer_limits_cases());
    cases.extend(session_admin_cases());
    cases
}

/// What customers may not set or filter by (the visibility policy keeps
/// tags and routing from them); staff may.
fn customer_limits_cases() -> Vec<Case> {
    let opening = |extra: Value| {
        let mut body = json!({ "title": "New", "queue_id": "queue-1", "company_id": "acme" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let mut cases = Vec::new();
    for (user, status) in [("cust-acme", 422), ("agent-1", 201)] {
        for extra in [json!({ "tags": ["vip"] }), json!({ "priority": "urgent" })] {
            cases.push(case(
                user,
                Method::POST,
                "/api/tickets",
                opening(extra),
                status,
            ));
        }
    }
    cases.push(case(
        "cust-acme",
        Method::POST,
        "/api/tickets",
        opening(json!({ "priority": "high" })),
        201,
    ));
    for path in [
        "/api/tickets?tag=vip",
        "/api/tickets?queue=queue-1",
        "/api/tickets?team=team-1",
    ] {
        cases.push(case("cust-acme", Method::GET, path, Value::Null, 400));
        cases.push(case("agent-1", Method::GET, path, Value::Null, 200));
    }
    cases
}

/// Colleagues, saved views and exports. `{view}` is a view of agent-1's
/// shared with team-1; its deletion comes last.
fn finding_cases() -> Vec<Case> {
    type Row = (&'static str, u16);
    let mut cases = Vec::new();
    let mut add = |method: Method, path: &'static str, body: Value, rows: &[Row]| {
        for (user, status) in rows {
            cases.push(case(user, method.clone(), path, body.clone(), *status));
        }
    };
    let everyone = |status| -> [Row; 6] {
        [
            "admin-1",
            "agent-1",
            "agent-2",
            "analyst-1",
            "auditor-1",
            "cust-acme",
        ]
        .map(|user| (user, status))
    };
    let owner_only = |status| -> [Row; 6] {
        [
            ("agent-1", status),
            ("agent-2", 404),
            ("admin-1", 404),
            ("analyst-1", 404),
            ("auditor-1", 404),
            ("cust-acme", 404),
        ]
    };
    let staff = |customers| -> [Row; 5] {
        [
            ("admin-1", 200),
            ("agent-1", 200),
            ("analyst-1", 200),
            ("auditor-1", 200),
            ("cust-acme", customers),
        ]
    };
    let team_one = [
        ("admin-1", 200),
        ("agent-1", 200),
        ("agent-2", 403),
        ("analyst-1", 403),
        ("auditor-1", 403),
        ("cust-acme", 403),
    ];
    add(
        Method::GET,
        "/api/users?team=team-1",
        Value::Null,
        &team_one,
    );
    add(
        Method::POST,
        "/api/views",
        json!({ "name": "Mine" }),
        &everyone(201),
    );
    add(Method::GET, "/api/views", Value::Null, &everyone(200));
    add(
        Method::GET,
        "/api/views/counts",
        Value::Null,
        &everyone(200),
    );
    add(
        Method::GET,
        "/api/views/{view}",
        Value::Null,
        &owner_only(200),
    );
    add(
        Method::GET,
        "/api/views/{view}/tickets",
        Value::Null,
        &owner_only(200),
    );
    add(
        Method::PATCH,
        "/api/views/{view}",
        json!({ "name": "Renamed" }),
        &owner_only(200),
    );
    add(
        Method::GET,
        "/api/exports/tickets.csv",
        Value::Null,
        &staff(403),
    );
    add(
        Method::GET,
        "/api/exports/queue_hourly.csv",
        Value::Null,
        &staff(403),
    );
    add(
        Method::GET,
        "/api/exports/queue_hourly.csv?queue=queue-1",
        Value::Null,
        &[("agent-2", 403), ("agent-1", 200)],
    );
    add(
        Method::GET,
        "/api/exports/history.csv?ticket={own}",
        Value::Null,
        &[("agent-2", 404), ("cust-acme", 403)],
    );
    add(
        Method::GET,
        "/api/exports/history.csv?ticket={own}",
        Value::Null,
        &staff(403),
    );
    for path in ["/api/tickets?sla=breached", "/api/tickets?sort=sla_due"] {
        add(
            Method::GET,
            path,
            Value::Null,
            &[("cust-acme", 400), ("agent-1", 200)],
        );
    }
    add(
        Method::DELETE,
        "/api/views/{view}",
        Value::Null,
        &[("agent-2", 404), ("agent-1", 204)],
    );
    cases
}

/// Ending a user's sessions and disabling users is for admins.
fn session_admin_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for user in ["agent-1", "analyst-1", "auditor-1", "cust-acme"] {
        for path in [
            "/api/users/agent-2/sessions/revoke",
            "/api/users/agent-2/disable",
            "/api/users/agent-2/enable",
        ] {
            cases.push(case(user, Method::POST, path, Value::Null, 403));
        }
    }
    cases.push(case(
        "admin-1",
        Method::POST,
        "/api/users/nobody/disable",
        Value::Null,
        404,
    ));
    // Last: it ends cust-acme-2's sessions, which no later cell uses.
    cases.push(case(
        "admin-1",
        Method::POST,
        "/api/users/cust-acme-2/sessions/revoke",
        Value::Null,
        204,
    ));
    cases
}

#[tokio::test]
async fn every_role_gets_what_the_matrix_says_on_every_route() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let shared = json!({ "name": "Shared", "team_id": "team-1", "query": { "status": "open" } });
    let (status, view) = app
        .call(Method::POST, "/api/views", "agent-1", Some(shared))
        .await;
    assert_eq!(status, 201, "{view}");
    let view = view["id"].as_str().expect("a view id").to_owned();
    let mut failures = Vec::new();
    for case in ticket_route_cases()
        .into_iter()
        .chain(create_and_directory_cases())
        .chain(finding_cases())
    {
        // Fresh tickets for every cell, so cells do not change each other's state.
        let own = app.open_ticket("cust-acme", "queue-1", "acme").await;
        let other = app.open_ticket("cust-globex", "queue-2", "globex").await;
        let path = case
            .path
            .replace("{own}", &own)
            .replace("{other}", &other)
            .replace("{view}", &view);
        let body = (!case.body.is_null()).then(|| case.body.clone());
        let (status, answer) = app.call(case.method.clone(), &path, case.user, body).await;
        if status != case.status {
            failures.push(format!(
                "{} {} {} ({}): expected {}, got {status} {answer}",
                case.user, case.method, case.path, case.body, case.status
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_api_route_needs_a_token() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    let routes = [
        (Method::POST, "/api/tickets".to_owned()),
        (Method::GET, format!("/api/tickets/{id}")),
        (Method::GET, format!("/api/tickets/{id}/history")),
        (Method::POST, format!("/api/tickets/{id}/assign")),
        (Method::POST, "/api/tickets/bulk".to_owned()),
        (Method::GET, "/api/queues".to_owned()),
        (Method::GET, "/api/users".to_owned()),
        (Method::POST, "/api/auth/logout".to_owned()),
        (Method::GET, "/api/me".to_owned()),
        (Method::GET, "/api/views".to_owned()),
        (Method::GET, "/api/views/counts".to_owned()),
        (Method::GET, "/api/exports/tickets.csv".to_owned()),
    ];
    for (method, path) in routes {
        let response = app
            .request(method.clone(), &path, None)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
    }
}

#[tokio::test]
async fn customers_never_see_internal_comments() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = app.open_ticket("cust-acme", "queue-1", "acme").await;
    for (body, internal) in [("Public answer", false), ("Customer is difficult", true)] {
        app.comment("agent-1", &id, body, internal).await;
    }
    let (_, staff) = app
        .call(
            Method::GET,
            &format!("/api/tickets/{id}/history"),
            "agent-1",
            None,
        )
        .await;
    let (_, customer) = app
        .call(
            Method::GET,
            &format!("/api/tickets/{id}/history"),
            "cust-acme",
            None,
        )
        .await;
    assert_eq!(staff.as_array().unwrap().len(), 3);
    assert_eq!(customer.as_array().unwrap().len(), 2);
    assert!(!customer.to_string().contains("difficult"));
    let (_, ticket) = app
        .call(
            Method::GET,
            &format!("/api/tickets/{id}"),
            "cust-acme",
            None,
        )
        .await;
    assert!(ticket.get("comment_count").is_none(), "{ticket}");
}

#[tokio::test]
async fn bulk_reports_each_ticket_on_its_own() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let own = app.open_ticket("agent-1", "queue-1", "acme").await;
    let other = app.open_ticket("admin-1", "queue-2", "globex").await;
    let body = json!({ "ticket_ids": [own, other, "not-a-uuid"], "action": { "type": "priority", "priority": "urgent" } });
    let (status, answer) = app
        .call(Method::POST, "/api/tickets/bulk", "agent-1", Some(body))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["succeeded"].as_u64(), answer["failed"].as_u64()),
        (Some(1), Some(2))
    );
    let statuses: Vec<Value> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, [Value::Null, json!(404), json!(400)]);
    assert_eq!(answer["results"][0]["version"], 2);

    let too_many: Vec<String> = (0..1001).map(|_| own.clone()).collect();
    let (status, _) = app
        .call(Method::POST, "/api/tickets/bulk", "agent-1", Some(json!({ "ticket_ids": too_many, "action": { "type": "status", "status": "waiting" } })))
        .await;
    assert_eq!(status, 400);
}

/// The room feed keeps a ticket's routing and tags from customers; so does
/// every HTTP answer.
#[tokio::test]
async fn customers_never_see_routing_or_tags() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = app.open_ticket("cust-acme", "queue-1", "acme").await;
    let ticket_path = format!("/api/tickets/{id}");
    for (path, body) in [
        (
            ticket_path.clone(),
            json!({ "tags": ["difficult-customer"] }),
        ),
        (
            ticket_path.clone(),
            json!({ "title": "Printer still on fire" }),
        ),
    ] {
        let (status, answer) = app.call(Method::PATCH, &path, "admin-1", Some(body)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) = app
        .call(
            Method::POST,
            &format!("{ticket_path}/move"),
            "admin-1",
            Some(json!({ "queue_id": "queue-2" })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    let hidden = [
        "queue_id",
        "team_id",
        "tags",
        "from_queue_id",
        "from_team_id",
    ];
    let staff_only_fields = |value: &Value| -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::Object(object) => {
                    found.extend(
                        hidden
                            .iter()
                            .filter(|f| object.contains_key(**f))
                            .map(|f| f.to_string()),
                    );
                    stack.extend(object.values());
                }
                Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        found
    };
    let (_, ticket) = app.call(Method::GET, &ticket_path, "cust-acme", None).await;
    let (_, list) = app
        .call(Method::GET, "/api/tickets", "cust-acme", None)
        .await;
    let (_, history) = app
        .call(
            Method::GET,
            &format!("{ticket_path}/history"),
            "cust-acme",
            None,
        )
        .await;
    for answer in [&ticket, &list, &history] {
        assert_eq!(staff_only_fields(answer), Vec::<String>::new(), "{answer}");
    }
    assert!(
        !history.to_string().contains("difficult-customer"),
        "{history}"
    );
    let kinds: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["TicketCreated", "TicketUpdated"],
        "the tags-only edit and the move are staff-only"
    );

    let (_, staff_ticket) = app.call(Method::GET, &ticket_path, "admin-1", None).await;
    assert_eq!(staff_ticket["queue_id"], "queue-2");
    assert_eq!(staff_ticket["tags"], json!(["difficult-customer"]));
    let (_, staff_history) = app
        .call(
            Method::GET,
            &format!("{ticket_path}/history"),
            "admin-1",
            None,
        )
        .await;
    assert_eq!(staff_history.as_array().unwrap().len(), 4);
}
