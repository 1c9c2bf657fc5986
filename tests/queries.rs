//! Queries on the read models over HTTP: the ticket list with filters,
//! sorting, paging and visibility; comments; queue metrics; the inbox.

mod common;

use common::app::{Backend, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `user`'s unread notifications, as the API counts them.
async fn unread_count(app: &TestApp, user: &str) -> i64 {
    let (status, count) = app
        .call(Method::GET, "/api/notifications/unread-count", user, None)
        .await;
    assert_eq!(status, 200, "{count}");
    count["unread"].as_i64().expect("a count")
}

#[tokio::test]
async fn the_ticket_list_filters_pages_and_shows_each_caller_only_their_tickets() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let mut acme = Vec::new();
    for _ in 0..5 {
        acme.push(app.open_ticket("cust-acme", "queue-1", "acme").await);
    }
    let globex = app.open_ticket("cust-globex", "queue-2", "globex").await;
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/tickets/{}/assign", acme[0]),
            "agent-1",
            Some(json!({ "assignee_id": "agent-1" })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/tickets/{}/priority", acme[1]),
            "agent-1",
            Some(json!({ "priority": "urgent" })),
        )
        .await;
    assert_eq!(status, 200);

    let all = app
        .eventually("/api/tickets?limit=200", "admin-1", |_, body| {
            body["items"].as_array().is_some_and(|i| i.len() == 6)
        })
        .await;
    assert_eq!(ids(&all)[0], globex, "newest first by default");
    app.eventually("/api/tickets?assignee=agent-1", "admin-1", |_, body| {
        ids(body) == [acme[0].clone()]
    })
    .await;
    // The priority change was the last command: once it shows, every
    // list below reads the final state.
    app.eventually("/api/tickets?priority=urgent", "admin-1", |_, body| {
        ids(body) == [acme[1].clone()]
    })
    .await;

    let (_, mine) = app
        .call(Method::GET, "/api/tickets?limit=200", "agent-1", None)
        .await;
    assert_eq!(ids(&mine).len(), 5, "agent-1 sees team-1's tickets only");
    let (_, customer) = app
        .call(Method::GET, "/api/tickets?limit=200", "cust-globex", None)
        .await;
    assert_eq!(ids(&customer), std::slice::from_ref(&globex));
    assert!(customer["items"][0].get("internal_comment_count").is_none());
    let (_, unassigned) = app
        .call(
            Method::GET,
            "/api/tickets?assignee=unassigned&queue=queue-1",
            "admin-1",
            None,
        )
        .await;
    assert_eq!(ids(&unassigned).len(), 4);
    let (_, by_priority) = app
        .call(
            Method::GET,
            "/api/tickets?sort=-priority&limit=1",
            "admin-1",
            None,
        )
        .await;
    assert_eq!(ids(&by_priority), [acme[1].clone()]);

    // Paging walks every ticket once.
    let mut seen = Vec::new();
    let mut path = "/api/tickets?sort=created&limit=2".to_owned();
    loop {
        let (status, page) = app.call(Method::GET, &path, "admin-1", None).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/tickets?sort=created&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let mut expected = acme.clone();
    expected.push(globex);
    assert_eq!(seen, expected);

    for bad in [
        "/api/tickets?cursor=zzz",
        "/api/tickets?limit=0",
        "/api/tickets?sort=colour",
        "/api/tickets?status=sleeping",
        "/api/tickets?colour=red",
    ] {
        let (status, problem) = app.call(Method::GET, bad, "admin-1", None).await;
        assert_eq!(status, 400, "{bad}: {problem}");
    }
}

#[tokio::test]
async fn notifications_reach_the_right_inbox_and_can_be_marked_read() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = app.open_ticket("cust-acme", "queue-1", "acme").await;
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/tickets/{id}/assign"),
            "admin-1",
            Some(json!({ "assignee_id": "agent-1" })),
        )
        .await;
    assert_eq!(status, 200);
    let inbox = app
        .eventually("/api/notifications", "agent-1", |_, body| {
            body.as_array()
                .is_some_and(|items| items.iter().any(|n| n["kind"] == "ticket_assigned"))
        })
        .await;
    let assigned = inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "ticket_assigned")
        .unwrap()
        .clone();
    assert_eq!(assigned["level"], "high");
    let unread = unread_count(&app, "agent-1").await;
    assert!(unread >= 1);

    let notification = assigned["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/notifications/{notification}/read"),
            "agent-2",
            None,
        )
        .await;
    assert_eq!(
        status, 404,
        "another user's notification is not theirs to mark"
    );
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/notifications/{notification}/read"),
            "agent-1",
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(unread_count(&app, "agent-1").await, unread - 1);
    let (status, _) = app
        .call(Method::POST, "/api/notifications/read-all", "agent-1", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(unread_count(&app, "agent-1").await, 0);
    let (_, admin) = app
        .call(Method::GET, "/api/notifications", "admin-1", None)
        .await;
    assert!(
        admin
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["kind"] != "ticket_assigned"),
        "the actor is not notified: {admin}"
    );
}

#[tokio::test]
async fn queue_metrics_are_for_the_queues_team_and_comments_hide_internal_ones() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = app.open_ticket("cust-acme", "queue-1", "acme").await;
    for (body, internal) in [("Public", false), ("Staff only", true)] {
        app.comment("agent-1", &id, body, internal).await;
    }
    let figures = app
        .eventually("/api/queues/queue-1/metrics", "agent-1", |status, body| {
            status == 200 && body["open_total"] == 1
        })
        .await;
    assert_eq!(figures["queue_id"], "queue-1");
    assert_eq!(figures["unassigned_open"], 1);
    let (status, _) = app
        .call(
            Method::GET,
            "/api/queues/queue-1/metrics",
            "cust-acme",
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(Method::GET, "/api/queues/queue-1/metrics", "agent-2", None)
        .await;
    assert_eq!(status, 403);
    let (status, hourly) = app
        .call(
            Method::GET,
            "/api/queues/queue-1/metrics/hourly",
            "analyst-1",
            None,
        )
        .await;
    assert_eq!(status, 200, "{hourly}");

    let staff = app
        .eventually(
            &format!("/api/tickets/{id}/comments"),
            "agent-1",
            |_, body| body.as_array().is_some_and(|c| c.len() == 2),
        )
        .await;
    assert_eq!(staff.as_array().unwrap().len(), 2);
    let (_, customer) = app
        .call(
            Method::GET,
            &format!("/api/tickets/{id}/comments"),
            "cust-acme",
            None,
        )
        .await;
    assert_eq!(customer.as_array().unwrap().len(), 1);
    assert!(!customer.to_string().contains("Staff only"));
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/tickets/{id}/comments"),
            "cust-globex",
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_read_model_being_rebuilt_answers_503() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    app.open_ticket("agent-1", "queue-1", "acme").await;
    // Wait until the projection has applied the ticket and gone idle.
    app.eventually("/api/tickets", "admin-1", |_, body| {
        body["items"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    let database = format!(
        "sqlite://{}",
        app.workdir().join("data/bomizzel.db").display()
    );
    let pool = sqlx::SqlitePool::connect(&database).await.unwrap();
    // What `projections rebuild` sets while it replays.
    let updated = sqlx::query("UPDATE projection_checkpoints SET state = 'rebuilding', generation = generation + 1 WHERE name = 'tickets'")
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(updated, 1);
    let (status, problem) = app.call(Method::GET, "/api/tickets", "admin-1", None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("read_model_rebuilding"))
    );
}
