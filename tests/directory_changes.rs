//! A directory change is in force from the next request. On SQLite the
//! facts every request reads (a caller's teams, the team of a queue) are
//! kept between requests, so each test reads them once before the change.

mod common;

use common::app::{Backend, TestApp};
use reqwest::Method;
use serde_json::json;

/// The team of a ticket the admin opens in `queue`.
async fn team_of_new_ticket(app: &TestApp, queue: &str) -> String {
    let body = json!({ "title": "Printer on fire", "queue_id": queue, "company_id": "acme" });
    let (status, ticket) = app
        .call(Method::POST, "/api/tickets", "admin-1", Some(body))
        .await;
    assert_eq!(status, 201, "{ticket}");
    ticket["team_id"].as_str().expect("a team").to_owned()
}

#[tokio::test]
async fn a_queue_given_to_another_team_routes_the_next_create_there() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    assert_eq!(team_of_new_ticket(&app, "queue-1").await, "team-1");

    let change = json!({ "team_id": "team-2" });
    let (status, queue) = app
        .call(
            Method::PATCH,
            "/api/queues/queue-1",
            "admin-1",
            Some(change),
        )
        .await;
    assert_eq!(status, 200, "{queue}");
    assert_eq!(team_of_new_ticket(&app, "queue-1").await, "team-2");
}

#[tokio::test]
async fn an_agent_moved_to_another_team_sees_its_tickets_from_the_next_request() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let first = app.open_ticket("cust-acme", "queue-1", "acme").await;
    let second = app.open_ticket("cust-acme", "queue-2", "acme").await;
    let status_of = |id: String| {
        let app = &app;
        async move {
            let path = format!("/api/tickets/{id}");
            app.call(Method::GET, &path, "agent-1", None).await.0
        }
    };
    assert_eq!(status_of(first.clone()).await, 200);
    assert_eq!(status_of(second.clone()).await, 404);

    app.set_teams("agent-1", &["team-2"]).await;
    assert_eq!(status_of(first).await, 404);
    assert_eq!(status_of(second).await, 200);
}
