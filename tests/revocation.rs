//! Admins end a user's sessions or disable the user: tokens are refused
//! and the user's open sockets close with 4001, on every node.

mod common;

use common::app::{Backend, TestApp, split};
use common::ws::{Ended, WsClient};
use reqwest::Method;
use serde_json::{Value, json};

/// `POST path` as `user`; status and body.
async fn post(app: &TestApp, path: &str, user: &str) -> (u16, Value) {
    app.call(Method::POST, path, user, None).await
}

/// `GET /api/me` with `token`: status and problem code (if any).
async fn me(app: &TestApp, token: &str) -> (u16, String) {
    let request = app.request(Method::GET, "/api/me", None).bearer_auth(token);
    let (status, body) = split(request.send().await.expect("answered")).await;
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// A token of `user` issued after a revocation that happened just now
/// (revocations hold until the start of the next second).
fn issued_later(app: &TestApp, user: &str) -> String {
    app.token_with(user, |claims| claims.iat = claims.iat.map(|iat| iat + 2))
}

#[tokio::test]
async fn only_admins_end_sessions_and_disable_users() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    for route in ["sessions/revoke", "disable", "enable"] {
        for user in ["agent-1", "analyst-1", "cust-acme"] {
            let (status, body) = post(&app, &format!("/api/users/agent-2/{route}"), user).await;
            assert_eq!(status, 403, "{user} {route}: {body}");
        }
        let (status, body) = post(&app, &format!("/api/users/nobody/{route}"), "admin-1").await;
        assert_eq!(status, 404, "{route}: {body}");
    }
    let (status, body) = post(&app, "/api/users/admin-1/disable", "admin-1").await;
    assert_eq!(
        (status, &body["code"]),
        (422, &json!("cannot_disable_self"))
    );
    assert_eq!(me(&app, &app.token("agent-2")).await, (200, String::new()));
}

#[tokio::test]
async fn a_disabled_user_is_refused_and_their_socket_closes_until_enabled() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let old = app.token("agent-1");
    let (mut socket, _) = WsClient::connect(&app.server.base_url, &old).await;
    socket.subscribe("team:team-1", None).await;

    assert_eq!(
        post(&app, "/api/users/agent-1/disable", "admin-1").await.0,
        204
    );
    assert_eq!(socket.ended().await, Ended::Closed(4001));
    let disabled = (401, "user_disabled".to_owned());
    assert_eq!(me(&app, &old).await, disabled);
    assert_eq!(me(&app, &issued_later(&app, "agent-1")).await, disabled);
    assert_eq!(me(&app, &app.token("agent-2")).await.0, 200, "others go on");

    assert_eq!(
        post(&app, "/api/users/agent-1/enable", "admin-1").await.0,
        204
    );
    let new = issued_later(&app, "agent-1");
    assert_eq!(me(&app, &new).await.0, 200);
    WsClient::connect(&app.server.base_url, &new).await;
    assert_eq!(me(&app, &old).await, (401, "token_revoked".to_owned()));
}

#[tokio::test]
async fn revoking_sessions_refuses_old_tokens_and_accepts_new_ones() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let old = app.token("agent-1");
    let (mut socket, _) = WsClient::connect(&app.server.base_url, &old).await;
    let (status, body) = post(&app, "/api/users/agent-1/sessions/revoke", "admin-1").await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(socket.ended().await, Ended::Closed(4001));
    assert_eq!(me(&app, &old).await, (401, "token_revoked".to_owned()));
    assert_eq!(me(&app, &issued_later(&app, "agent-1")).await.0, 200);
}

/// Two nodes on one PostgreSQL database; the second joins the first's
/// directory.

#[tokio::test]
async fn disabling_a_user_on_one_node_closes_their_socket_on_another() {
    let Some((first, second)) =
        TestApp::two_nodes("disabling_a_user_on_one_node_closes_their_socket_on_another").await
    else {
        return;
    };
    let (mut socket, _) =
        WsClient::connect(&second.server.base_url, &second.token("agent-1")).await;
    assert_eq!(
        post(&first, "/api/users/agent-1/disable", "admin-1")
            .await
            .0,
        204
    );
    assert_eq!(socket.ended().await, Ended::Closed(4001));
}

#[tokio::test]
async fn a_membership_removed_on_one_node_evicts_a_room_on_another() {
    let Some((first, second)) =
        TestApp::two_nodes("a_membership_removed_on_one_node_evicts_a_room_on_another").await
    else {
        return;
    };
    let (mut socket, _) =
        WsClient::connect(&second.server.base_url, &second.token("agent-1")).await;
    socket.subscribe("team:team-1", None).await;
    let (status, body) = first
        .call(
            Method::PATCH,
            "/api/users/agent-1",
            "admin-1",
            Some(json!({ "team_ids": ["team-2"] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let evicted = socket.next_of("unsubscribed").await;
    assert_eq!(
        (evicted["room"].as_str(), evicted["reason"].as_str()),
        (Some("team:team-1"), Some("forbidden"))
    );
}
