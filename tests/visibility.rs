//! The visibility policy end to end, through the real binary: what a
//! customer learns over HTTP and `/ws` of what is hidden from them, and an
//! agent's live view of a ticket that moved out of their team.

mod common;

use common::app::{Backend, TestApp};
use common::ws::WsClient;
use reqwest::Method;
use serde_json::{Value, json};

async fn must(app: &TestApp, method: Method, path: &str, user: &str, body: Value) -> Value {
    let (status, answer) = app.call(method, path, user, Some(body)).await;
    assert_eq!(status, 200, "{path}: {answer}");
    answer
}

async fn get(app: &TestApp, path: &str, user: &str) -> (u16, Value) {
    app.call(Method::GET, path, user, None).await
}

/// A ticket of acme's in team-1's queue, opened by its customer, then given
/// three events customers are not shown (an internal comment, a tags-only
/// edit, a move to team-2 and back) around two they are.
async fn ticket_with_hidden_events(app: &TestApp) -> String {
    let id = app.open_ticket("cust-acme", "queue-1", "acme").await;
    app.comment("agent-1", &id, "customer is wrong", true).await;
    let path = |action: &str| format!("/api/tickets/{id}{action}");
    let tags = json!({ "tags": ["vip-secret"] });
    must(app, Method::PATCH, &path(""), "agent-1", tags).await;
    let status = json!({ "status": "in_progress" });
    must(app, Method::POST, &path("/status"), "agent-1", status).await;
    let away = json!({ "queue_id": "queue-2" });
    must(app, Method::POST, &path("/move"), "agent-1", away).await;
    let back = json!({ "queue_id": "queue-1" });
    must(app, Method::POST, &path("/move"), "agent-2", back).await;
    app.comment("agent-1", &id, "on our way", false).await;
    id
}

#[tokio::test]
async fn customers_count_only_the_events_they_are_shown() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = ticket_with_hidden_events(&app).await;
    let ticket = format!("/api/tickets/{id}");

    let (_, staff_view) = get(&app, &ticket, "agent-1").await;
    assert_eq!(staff_view["version"], 7);
    let (status, customer_view) = get(&app, &ticket, "cust-acme").await;
    assert_eq!(status, 200);
    assert_eq!(customer_view["version"], 3, "{customer_view}");
    for hidden in ["queue_id", "team_id", "tags", "comment_count"] {
        assert!(
            customer_view.get(hidden).is_none(),
            "{hidden}: {customer_view}"
        );
    }

    let (_, history) = get(&app, &format!("{ticket}/history"), "cust-acme").await;
    let versions: Vec<&Value> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["version"])
        .collect();
    assert_eq!(versions, [&json!(1), &json!(2), &json!(3)], "{history}");
    let (_, history) = get(&app, &format!("{ticket}/history"), "agent-1").await;
    assert_eq!(history.as_array().unwrap().len(), 7);

    // `?version=N` is the customer's N-th version; past it there is nothing.
    let (status, at_2) = get(&app, &format!("{ticket}?version=2"), "cust-acme").await;
    assert_eq!((status, &at_2["status"]), (200, &json!("in_progress")));
    assert_eq!(at_2["version"], 2);
    let (status, _) = get(&app, &format!("{ticket}?version=4"), "cust-acme").await;
    assert_eq!(status, 404, "version 4 would tell of hidden events");

    // The ticket list counts the same.
    let app_list = app
        .eventually("/api/tickets", "cust-acme", |_, list| {
            list["items"][0]["version"] == 3
        })
        .await;
    assert!(app_list["items"][0].get("customer_version").is_none());
    assert!(app_list["items"][0].get("internal_comment_count").is_none());
}

#[tokio::test]
async fn if_match_works_with_the_version_a_customer_sees() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = ticket_with_hidden_events(&app).await;
    let close = |version: &str| {
        app.request(
            Method::POST,
            &format!("/api/tickets/{id}/status"),
            Some("cust-acme"),
        )
        .header("if-match", format!("\"{version}\""))
        .json(&json!({ "status": "closed" }))
        .send()
    };
    let stale = close("7").await.unwrap();
    assert_eq!(stale.status(), 409, "7 is the staff's count");
    let closed = close("3").await.unwrap();
    assert_eq!(closed.status(), 200);
    assert_eq!(closed.headers()["etag"], "\"4\"");
    let body: Value = closed.json().await.unwrap();
    assert_eq!(body["version"], 4);
}

#[tokio::test]
async fn customers_cannot_filter_by_routing_or_tags() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = ticket_with_hidden_events(&app).await;
    app.eventually("/api/tickets?tag=vip-secret", "agent-1", |_, list| {
        list["items"][0]["id"] == id.as_str()
    })
    .await;
    for filter in ["tag=vip-secret", "tag=nope", "queue=queue-1", "team=team-1"] {
        let (status, problem) = get(&app, &format!("/api/tickets?{filter}"), "cust-acme").await;
        assert_eq!(
            (status, &problem["code"]),
            (400, &json!("invalid_query")),
            "{filter}"
        );
    }
    let (status, _) = get(&app, "/api/tickets?status=open", "cust-acme").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_hidden_ticket_is_answered_like_a_missing_one() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = app.open_ticket("cust-acme", "queue-1", "acme").await;
    let missing = "0190a5c4-0000-7000-8000-000000000001";
    for path in ["", "/history", "/comments"] {
        let hidden = get(&app, &format!("/api/tickets/{id}{path}"), "cust-globex").await;
        let absent = get(
            &app,
            &format!("/api/tickets/{missing}{path}"),
            "cust-globex",
        )
        .await;
        assert_eq!(hidden.0, 404);
        assert_eq!(hidden, absent, "{path}");
        assert!(!hidden.1.to_string().contains(&id));
    }
}

#[tokio::test]
async fn customers_are_not_notified_of_what_is_hidden_from_them() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = app.open_ticket("cust-acme", "queue-1", "acme").await;
    must(
        &app,
        Method::POST,
        &format!("/api/tickets/{id}/move"),
        "agent-1",
        json!({ "queue_id": "queue-2" }),
    )
    .await;
    let tags = json!({ "tags": ["vip"] });
    must(
        &app,
        Method::PATCH,
        &format!("/api/tickets/{id}"),
        "agent-2",
        tags,
    )
    .await;
    app.comment("agent-2", &id, "internal only", true).await;
    app.comment("agent-2", &id, "we are on it", false).await;
    let inbox = app
        .eventually("/api/notifications", "cust-acme", |_, inbox| {
            inbox.to_string().contains("ticket_commented")
        })
        .await;
    let kinds: Vec<&Value> = inbox
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["kind"])
        .collect();
    assert_eq!(kinds, [&json!("ticket_commented")], "{inbox}");
}

#[tokio::test]
async fn customers_are_listed_only_their_rooms_and_their_versions_live() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = app.open_ticket("cust-acme", "queue-1", "acme").await;
    let (mut customer, _) = WsClient::connect(&app.server.base_url, &app.token("cust-acme")).await;
    customer.subscribe("company:acme", Some(0)).await;
    app.comment("agent-1", &id, "hidden", true).await;
    let status = json!({ "status": "in_progress" });
    must(
        &app,
        Method::POST,
        &format!("/api/tickets/{id}/status"),
        "agent-1",
        status,
    )
    .await;
    let events = customer
        .events_until(|events| events.iter().any(|e| e["event"] == "ticket:status_changed"))
        .await;
    for event in &events {
        let rooms = event["rooms"].as_array().unwrap();
        assert!(
            rooms.iter().all(|room| {
                let room = room.as_str().unwrap();
                room.starts_with("ticket:") || room.starts_with("company:")
            }),
            "{event}"
        );
        assert_ne!(event["data"]["body"], "hidden");
    }
    let status_change = events.last().unwrap();
    assert_eq!(status_change["data"]["version"], 2, "{status_change}");
}

/// An agent watching `ticket:X` stops receiving X's changes the moment X
/// moves to another team's queue, while `watch` (the node the agent is on)
/// and `act` (the node commands go through) may differ.
async fn a_moved_ticket_stops_reaching_the_old_team(act: &TestApp, watch: &TestApp) {
    let id = act.open_ticket("agent-1", "queue-1", "acme").await;
    let (mut agent, _) = WsClient::connect(&watch.server.base_url, &watch.token("agent-1")).await;
    agent.subscribe(&format!("ticket:{id}"), None).await;
    agent.subscribe("queue:queue-1", None).await;
    act.comment("agent-1", &id, "before the move", true).await;
    let move_away = json!({ "queue_id": "queue-2" });
    let path = format!("/api/tickets/{id}/move");
    must(act, Method::POST, &path, "agent-1", move_away).await;
    act.comment("agent-2", &id, "after the move: team-2 only", true)
        .await;
    // A later change agent-1 may see: once it arrives, the comment before it
    // was dispatched too.
    let later = act.open_ticket("agent-1", "queue-1", "acme").await;
    let events = agent
        .events_until(|events| {
            events
                .iter()
                .any(|e| e["data"]["ticket_id"] == later.as_str())
        })
        .await;
    let bodies: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "ticket:commented")
        .map(|e| &e["data"]["body"])
        .collect();
    assert_eq!(bodies, [&json!("before the move")], "{events:?}");
    assert!(
        events.iter().any(|e| e["data"]["from_team_id"] == "team-1"),
        "the move itself tells the old team: {events:?}"
    );
}

#[tokio::test]
async fn a_moved_ticket_stops_reaching_the_old_team_at_once() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    a_moved_ticket_stops_reaching_the_old_team(&app, &app).await;
}

#[tokio::test]
async fn a_moved_ticket_stops_reaching_the_old_team_on_every_node() {
    let Some((first, second)) =
        TestApp::two_nodes("a_moved_ticket_stops_reaching_every_node").await
    else {
        return;
    };
    a_moved_ticket_stops_reaching_the_old_team(&first, &second).await;
}
