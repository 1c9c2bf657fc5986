//! Reading a ticket's notifications together (`POST
//! /api/notifications/tickets/{id}/read`), on both backends: only the
//! caller's notifications about that ticket are marked, every other
//! ticket's and every other user's stay unread.

#[macro_use]
mod common;

use bomizzel_store::testing::fresh_postgres_database;
use common::app::{Backend, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

on_both!(a_tickets_notifications_are_read_together_and_no_others);

async fn unread(app: &TestApp, user: &str) -> Vec<Value> {
    let (status, items) = app
        .call(
            Method::GET,
            "/api/notifications?unread=true&limit=200",
            user,
            None,
        )
        .await;
    assert_eq!(status, 200, "{items}");
    items.as_array().cloned().unwrap_or_default()
}

async fn assign(app: &TestApp, ticket: &str, assignee: &str) {
    let (status, answer) = app
        .call(
            Method::POST,
            &format!("/api/tickets/{ticket}/assign"),
            "admin-1",
            Some(json!({ "assignee_id": assignee })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

async fn a_tickets_notifications_are_read_together_and_no_others(backend: Backend) {
    let app = TestApp::start(backend, &[]).await;
    let busy = app.open_ticket("cust-acme", "queue-1", "acme").await;
    let other = app.open_ticket("cust-acme", "queue-1", "acme").await;
    assign(&app, &busy, "agent-1").await;
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/tickets/{busy}/priority"),
            "admin-1",
            Some(json!({ "priority": "urgent" })),
        )
        .await;
    assert_eq!(status, 200);
    assign(&app, &other, "agent-1").await;
    // agent-1: the two tickets' openings, both assignments and the priority change.
    app.eventually(
        "/api/notifications?unread=true&limit=200",
        "agent-1",
        |_, body| {
            let items = body.as_array().map(Vec::as_slice).unwrap_or_default();
            items.iter().filter(|n| n["ticket_id"] == busy).count() >= 3
                && items.iter().any(|n| n["ticket_id"] == other)
        },
    )
    .await;
    // The requester is told of the priority change too.
    let requesters = app
        .eventually("/api/notifications?unread=true", "cust-acme", |_, body| {
            body.as_array().is_some_and(|items| !items.is_empty())
        })
        .await;
    let about_busy = unread(&app, "agent-1")
        .await
        .iter()
        .filter(|n| n["ticket_id"] == busy)
        .count();

    let path = format!("/api/notifications/tickets/{busy}/read");
    let (status, answer) = app.call(Method::POST, &path, "agent-1", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["marked"], about_busy, "{answer}");
    let left = unread(&app, "agent-1").await;
    assert!(left.iter().all(|n| n["ticket_id"] != busy), "{left:?}");
    assert!(
        left.iter().any(|n| n["ticket_id"] == other),
        "the other ticket's stay unread"
    );
    assert_eq!(
        unread(&app, "cust-acme").await.len(),
        requesters.as_array().unwrap().len(),
        "another user's stay unread"
    );

    let (status, again) = app.call(Method::POST, &path, "agent-1", None).await;
    assert_eq!(
        (status, again["marked"].as_u64()),
        (200, Some(0)),
        "nothing left to mark"
    );
    let (status, problem) = app
        .call(
            Method::POST,
            "/api/notifications/tickets/not-a-ticket/read",
            "agent-1",
            None,
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["code"], "invalid_id");
}
