//! `GET /ws` end to end: the real binary, a real WebSocket client.

mod common;

use std::time::Duration;

use bomizzel_store::testing::fresh_postgres_database;
use common::app::{Backend, TestApp};
use common::ws::{Ended, WsClient};
use reqwest::Method;
use serde_json::{Value, json};

fn offsets(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e["offset"].as_i64().expect("an offset"))
        .collect()
}

fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

async fn priority(app: &TestApp, id: &str, priority: &str) {
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/tickets/{id}/priority"),
            "agent-1",
            Some(json!({ "priority": priority })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn live_changes_reach_a_subscribed_room() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (mut client, ready) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    assert_eq!(ready["user"], "agent-1");
    assert!(
        ready["offset"].is_i64() && ready["epoch"].is_string(),
        "{ready}"
    );
    let (replayed, subscribed) = client.subscribe("queue:queue-1", None).await;
    assert!(replayed.is_empty());
    assert_eq!(
        (
            subscribed["recovered"].as_bool(),
            subscribed["reason"].as_str()
        ),
        (Some(false), Some("no_offset"))
    );

    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    let events = client.events_until(|events| !events.is_empty()).await;
    assert_eq!(events[0]["event"], "ticket:created");
    assert_eq!(events[0]["data"]["ticket_id"], id.as_str());
    assert_eq!(events[0]["data"]["version"], 1);
    assert!(
        events[0]["rooms"]
            .as_array()
            .unwrap()
            .contains(&json!("queue:queue-1"))
    );
}

/// The headline in small: drop, miss changes, resume with the last offset,
/// get exactly the missed ones, then live ones, nothing twice.
#[tokio::test]
async fn a_resumed_room_gets_exactly_what_it_missed() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    let (mut client, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    let (replayed, subscribed) = client.subscribe(&format!("ticket:{id}"), Some(0)).await;
    assert_eq!(subscribed["recovered"], true);
    // The feed is a projection: the change comes in the replay or right after, live.
    let seen = client
        .more_events(replayed, |events| !events.is_empty())
        .await;
    assert_eq!(names(&seen), ["ticket:created"]);
    let last = offsets(&seen)[0];
    client.close().await;

    for level in ["high", "urgent", "low"] {
        priority(&app, &id, level).await;
    }
    let (mut client, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    let (missed, subscribed) = client.subscribe(&format!("ticket:{id}"), Some(last)).await;
    assert_eq!(subscribed["recovered"], true);
    let missed = client.more_events(missed, |events| events.len() >= 3).await;
    assert_eq!(names(&missed), ["ticket:priority_changed"; 3]);
    let got: Vec<&str> = missed
        .iter()
        .map(|e| e["data"]["to"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(got, ["high", "urgent", "low"], "{missed:?}");
    let missed_offsets = offsets(&missed);
    assert!(missed_offsets.windows(2).all(|w| w[0] < w[1]) && missed_offsets[0] > last);

    priority(&app, &id, "medium").await;
    let live = client.events_until(|events| !events.is_empty()).await;
    assert!(
        offsets(&live)[0] > *missed_offsets.last().unwrap(),
        "live continues after the replay"
    );
}

/// A client that connected before the feed had its first change holds the
/// feed's real epoch, so it resumes from offset 0 without a reload.
#[tokio::test]
async fn an_offset_read_from_an_empty_feed_resumes() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (client, ready) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    assert_eq!(ready["offset"], 0);
    let epoch = ready["epoch"].as_str().unwrap().to_owned();
    assert!(!epoch.is_empty(), "{ready}");
    client.close().await;

    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    let (mut client, ready) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    assert_eq!(
        ready["epoch"],
        epoch.as_str(),
        "the first change keeps the epoch"
    );
    let (replayed, subscribed) = client
        .subscribe_in_epoch(&format!("ticket:{id}"), Some(0), Some(&epoch))
        .await;
    assert_eq!(subscribed["recovered"], true, "{subscribed}");
    let seen = client
        .more_events(replayed, |events| !events.is_empty())
        .await;
    assert_eq!(names(&seen), ["ticket:created"]);

    let (_, elsewhere) = client
        .subscribe_in_epoch("queue:queue-1", Some(0), Some("another-epoch"))
        .await;
    assert_eq!(elsewhere["reason"], "epoch_changed", "{elsewhere}");
}

#[tokio::test]
async fn bad_frames_and_forbidden_rooms_get_error_frames_and_the_connection_stays() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (mut client, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    for (frame, code) in [
        (
            json!({ "type": "subscribe", "room": "queue:queue-2" }),
            "forbidden",
        ),
        (
            json!({ "type": "subscribe", "room": "lobby:1" }),
            "invalid_room",
        ),
        (
            json!({ "type": "subscribe", "room": "queue:queue-1", "since": "yesterday" }),
            "invalid_offset",
        ),
        (
            json!({ "type": "subscribe", "room": "queue:queue-1", "since": -4 }),
            "invalid_offset",
        ),
        (
            json!({ "type": "subscribe", "room": "queue:queue-1", "since": 999_999 }),
            "offset_ahead",
        ),
        (json!({ "type": "dance" }), "malformed_frame"),
    ] {
        client.send(frame.clone()).await;
        let error = client.next_of("error").await;
        assert_eq!(error["code"], code, "{frame}: {error}");
    }
    client.send_text("{not json").await;
    assert_eq!(client.next_of("error").await["code"], "malformed_frame");
    client.send(json!({ "type": "ping" })).await;
    client.next_of("pong").await;
}

#[tokio::test]
async fn repeated_abuse_closes_with_1008() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (mut client, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    for _ in 0..12 {
        client.send_text("garbage").await;
    }
    assert_eq!(client.ended().await, Ended::Closed(1008));
}

#[tokio::test]
async fn a_frame_over_64_kib_closes_with_1009() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (mut client, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    let room = "x".repeat(70 * 1024);
    client
        .send(json!({ "type": "subscribe", "room": room }))
        .await;
    assert_eq!(client.ended().await, Ended::Closed(1009));
}

#[tokio::test]
async fn connections_per_user_are_capped_until_one_closes() {
    let app = TestApp::start(Backend::Sqlite, &["--ws-max-connections-per-user", "2"]).await;
    let base = &app.server.base_url;
    let token = app.token("agent-1");
    let (first, _) = WsClient::connect(base, &token).await;
    let (_second, _) = WsClient::connect(base, &token).await;

    let refused = WsClient::try_connect(base, &token).await.unwrap_err();
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.content_type, "application/problem+json");
    assert_eq!(refused.body["code"], "too_many_connections", "{refused:?}");

    let mut by_frame = WsClient::connect_bare(base).await;
    by_frame
        .send(json!({ "type": "auth", "token": token }))
        .await;
    assert_eq!(
        by_frame.next_of("error").await["code"],
        "too_many_connections"
    );
    assert_eq!(by_frame.ended().await, Ended::Closed(4029));

    let (_other_user, ready) = WsClient::connect(base, &app.token("agent-2")).await;
    assert_eq!(ready["user"], "agent-2", "the cap is per user");

    first.close().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while let Err(refused) = WsClient::try_connect(base, &token).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the closed connection's slot was never freed: {refused:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn authentication_by_first_frame_and_its_failures() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let mut client = WsClient::connect_bare(&app.server.base_url).await;
    client
        .send(json!({ "type": "auth", "token": app.token("agent-1") }))
        .await;
    assert_eq!(client.next_of("ready").await["user"], "agent-1");

    let mut bad = WsClient::connect_bare(&app.server.base_url).await;
    bad.send(json!({ "type": "auth", "token": "nonsense" }))
        .await;
    assert_eq!(bad.next_of("error").await["code"], "invalid_token");
    assert_eq!(bad.ended().await, Ended::Closed(4003));

    let mut expired = WsClient::connect_bare(&app.server.base_url).await;
    expired
        .send(json!({ "type": "auth", "token": app.token_with("agent-1", |c| c.exp = 1) }))
        .await;
    assert_eq!(expired.next_of("error").await["code"], "token_expired");
    assert_eq!(expired.ended().await, Ended::Closed(4001));

    let mut silent = WsClient::connect_bare(&app.server.base_url).await;
    silent
        .send(json!({ "type": "subscribe", "room": "queue:queue-1" }))
        .await;
    assert_eq!(silent.ended().await, Ended::Closed(4003));
}

#[tokio::test]
async fn a_token_expiring_without_refresh_closes_with_4001_and_a_refresh_keeps_it() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let soon = |app: &TestApp| app.token_with("agent-1", |c| c.exp = c.iat.unwrap() + 2);
    let (mut refreshed, _) = WsClient::connect(&app.server.base_url, &soon(&app)).await;
    refreshed
        .send(json!({ "type": "auth", "token": app.token("agent-1") }))
        .await;
    refreshed.next_of("ready").await;
    let (mut lapsing, _) = WsClient::connect(&app.server.base_url, &soon(&app)).await;
    assert_eq!(lapsing.ended().await, Ended::Closed(4001));
    refreshed.send(json!({ "type": "ping" })).await;
    refreshed.next_of("pong").await;
}

#[tokio::test]
async fn customers_get_only_customer_changes_of_their_company() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (mut customer, _) = WsClient::connect(&app.server.base_url, &app.token("cust-acme")).await;
    customer.subscribe("company:acme", None).await;
    customer
        .send(json!({ "type": "subscribe", "room": "company:globex" }))
        .await;
    assert_eq!(customer.next_of("error").await["code"], "forbidden");

    let id = app.open_ticket("cust-acme", "queue-1", "acme").await;
    app.open_ticket("cust-globex", "queue-2", "globex").await;
    for (body, internal) in [
        ("We are on it", false),
        ("Customer is difficult", true),
        ("Fixed", false),
    ] {
        app.comment("agent-1", &id, body, internal).await;
    }
    let events = customer
        .events_until(|events| {
            events
                .iter()
                .filter(|e| e["event"] == "ticket:commented")
                .count()
                == 2
        })
        .await;
    let text = serde_json::to_string(&events).unwrap();
    assert!(
        !text.contains("difficult"),
        "an internal comment leaked: {text}"
    );
    assert!(
        !text.contains("globex"),
        "another company's change leaked: {text}"
    );
    assert!(events.iter().all(|e| e["data"]["ticket_id"] == id.as_str()));
}

#[tokio::test]
async fn losing_a_team_evicts_from_its_rooms_and_logout_closes() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (mut agent, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    agent.subscribe("team:team-1", None).await;
    agent.subscribe("user:agent-1", None).await;
    let (status, _) = app
        .call(
            Method::PATCH,
            "/api/users/agent-1",
            "admin-1",
            Some(json!({ "team_ids": ["team-2"] })),
        )
        .await;
    assert_eq!(status, 200);
    let evicted = agent.next_of("unsubscribed").await;
    assert_eq!(
        (evicted["room"].as_str(), evicted["reason"].as_str()),
        (Some("team:team-1"), Some("forbidden"))
    );

    let response = app
        .request(Method::POST, "/api/auth/logout", Some("agent-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(agent.ended().await, Ended::Closed(4001));
}

#[tokio::test]
async fn a_change_in_several_of_my_rooms_comes_once() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (mut agent, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    agent.subscribe("queue:queue-1", None).await;
    agent.subscribe("team:team-1", None).await;
    let first = app.open_ticket("agent-1", "queue-1", "acme").await;
    let second = app.open_ticket("agent-1", "queue-1", "acme").await;
    let events = agent
        .events_until(|events| {
            events
                .iter()
                .any(|e| e["data"]["ticket_id"] == second.as_str())
        })
        .await;
    let created: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "ticket:created")
        .collect();
    assert_eq!(created.len(), 2, "{events:?}");
    assert_eq!(created[0]["data"]["ticket_id"], first.as_str());
}

#[tokio::test]
async fn subscribing_to_a_queue_sends_its_current_metrics_first() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    app.open_ticket("agent-1", "queue-1", "acme").await;
    let (mut agent, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    agent
        .send(json!({ "type": "subscribe", "room": "queue:queue-1" }))
        .await;
    let first = agent.next().await.unwrap();
    assert_eq!(first["event"], "queue:metrics_updated", "{first}");
    assert!(first["offset"].is_null());
    assert_eq!(first["data"]["queue_id"], "queue-1");
}

/// Skips frames until queue metrics that `wanted` accepts come.
async fn metrics_until(client: &mut WsClient, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(std::time::Instant::now() < deadline, "no wanted metrics");
        let frame = client.next().await.expect("the connection stays");
        if frame["event"] == "queue:metrics_updated" && wanted(&frame["data"]) {
            return frame["data"].clone();
        }
    }
}

/// Connections joining a queue's room share one computed metrics frame
/// until the queue changes: after a change, the members from before it and
/// those who join after it all come to the new figures.
#[tokio::test]
async fn a_change_refreshes_the_metrics_that_joining_connections_share() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let token = app.token("agent-1");
    let (mut before, _) = WsClient::connect(&app.server.base_url, &token).await;
    before.subscribe("queue:queue-1", None).await;
    app.open_ticket("agent-1", "queue-1", "acme").await;
    app.eventually("/api/queues/queue-1/metrics", "agent-1", |status, body| {
        status == 200 && body["open_total"] == 1
    })
    .await;
    let (mut after, _) = WsClient::connect(&app.server.base_url, &token).await;
    after
        .send(json!({ "type": "subscribe", "room": "queue:queue-1" }))
        .await;
    for client in [&mut before, &mut after] {
        metrics_until(client, |figures| figures["open_total"] == 1).await;
    }
}

/// Two nodes on one PostgreSQL database: a command through one reaches a
/// subscriber of the other.
#[tokio::test]
async fn a_command_on_one_node_reaches_subscribers_of_another() {
    let Some((first, second)) =
        TestApp::two_nodes("a_command_on_one_node_reaches_subscribers_of_another").await
    else {
        return;
    };
    let (mut client, _) =
        WsClient::connect(&second.server.base_url, &second.token("agent-1")).await;
    client.subscribe("queue:queue-1", None).await;
    let id = first.open_ticket("agent-1", "queue-1", "acme").await;
    let events = client
        .events_until(|events| events.iter().any(|e| e["event"] == "ticket:created"))
        .await;
    assert!(events.iter().any(|e| e["data"]["ticket_id"] == id.as_str()));
}

/// A subscribe that cannot read the feed's head (its database fails) gets
/// a retryable error frame, not a verdict on the client's offset, and the
/// connection stays however often the client retries.
#[tokio::test]
async fn a_feed_that_cannot_be_read_is_a_retryable_error_not_a_bad_offset() {
    let Some(url) = fresh_postgres_database("a_feed_that_cannot_be_read_is_retryable").await else {
        return;
    };
    let app = TestApp::start(Backend::Postgres(url.clone()), &[]).await;
    let (mut client, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    client.subscribe("queue:queue-1", None).await;
    app.open_ticket("agent-1", "queue-1", "acme").await;
    let events = client.events_until(|events| !events.is_empty()).await;
    let since = events[0]["offset"].as_i64().unwrap();
    client
        .send(json!({ "type": "unsubscribe", "room": "queue:queue-1" }))
        .await;
    client.next_of("unsubscribed").await;
    let database = sqlx::PgPool::connect(&url)
        .await
        .expect("the test connects");
    let rename = |from: &str, to: &str| format!("ALTER TABLE read_models.{from} RENAME TO {to}");
    sqlx::query(&rename("room_feed_meta", "room_feed_meta_away"))
        .execute(&database)
        .await
        .expect("the table is renamed");

    let subscribe = json!({ "type": "subscribe", "room": "queue:queue-1", "since": since });
    // More retries than the bad-frame allowance (10 a minute): the server's
    // failure is not the client's, so the connection stays.
    for _ in 0..12 {
        client.send(subscribe.clone()).await;
        let refused = client.next_of("error").await;
        assert_eq!(refused["code"], "feed_unavailable", "{refused}");
    }

    sqlx::query(&rename("room_feed_meta_away", "room_feed_meta"))
        .execute(&database)
        .await
        .expect("the table is renamed back");
    client.send(subscribe).await;
    let subscribed = client.next_of("subscribed").await;
    assert_eq!(subscribed["recovered"], true, "{subscribed}");
}

/// A reconnect storm on `/ws`: 300 clients at once, each subscribing as
/// soon as it is ready; every one is answered.
#[tokio::test]
async fn a_reconnect_storm_is_served_to_the_last_client() {
    const CLIENTS: usize = 300;
    let cap = CLIENTS.to_string();
    let app = TestApp::start(
        Backend::Sqlite,
        &["--ws-max-connections-per-user", cap.as_str()],
    )
    .await;
    let token = app.token("agent-1");
    let storm = (0..CLIENTS).map(|_| {
        let (base, token) = (app.server.base_url.clone(), token.clone());
        tokio::spawn(async move {
            let (mut client, _) = WsClient::connect(&base, &token).await;
            let (_, subscribed) = client.subscribe("queue:queue-1", None).await;
            (client, subscribed)
        })
    });
    let clients = futures::future::join_all(storm).await;
    let subscribed = clients
        .iter()
        .filter(|joined| {
            joined
                .as_ref()
                .is_ok_and(|(_, frame)| frame["type"] == "subscribed")
        })
        .count();
    assert_eq!(subscribed, CLIENTS);
}

/// After a restart all of a team's connections come back at once, and
/// each arrival changes the team room's online list: sent to every member
/// each time, that is quadratic in the team's connections. A team room's
/// list is sent at most once a second.
#[tokio::test]
async fn a_team_rooms_list_goes_out_at_most_once_a_second() {
    const JOINING: usize = 100;
    let cap = (JOINING + 1).to_string();
    let app = TestApp::start(
        Backend::Sqlite,
        &["--ws-max-connections-per-user", cap.as_str()],
    )
    .await;
    let token = app.token("agent-1");
    let (mut first, _) = WsClient::connect(&app.server.base_url, &token).await;
    first.subscribe("team:team-1", None).await;
    let started = std::time::Instant::now();
    let joining = (0..JOINING).map(|_| {
        let (base, token) = (app.server.base_url.clone(), token.clone());
        tokio::spawn(async move {
            let (mut client, _) = WsClient::connect(&base, &token).await;
            client.subscribe("team:team-1", None).await;
            client
        })
    });
    let _joined = futures::future::join_all(joining).await;
    let seconds = started.elapsed().as_secs();
    // Lists the connection wrote before the answer come before it.
    first.send(json!({ "type": "ping" })).await;
    let mut lists = 0;
    loop {
        let frame = first.next().await.expect("the connection stays");
        match frame["type"].as_str() {
            Some("pong") => break,
            Some("presence") => lists += 1,
            _ => {}
        }
    }
    assert!(
        lists <= seconds + 2,
        "{lists} lists while {JOINING} connections joined in {seconds} s"
    );
}

/// A client that stops reading fills the socket's buffers, and a write to
/// it never completes. After the write deadline the server closes it as
/// too slow (4008) and lets go of it, although its queue never overflowed;
/// reading again, the client finds its backlog, then resumes from its
/// offset with every change of the room exactly once. Both backends.
#[tokio::test]
async fn a_client_that_stops_reading_is_closed_at_the_write_deadline_and_resumes() {
    let test = "a_client_that_stops_reading_is_closed_at_the_write_deadline";
    stalled_client_is_closed_and_resumes(Backend::Sqlite).await;
    if let Some(url) = fresh_postgres_database(test).await {
        stalled_client_is_closed_and_resumes(Backend::Postgres(url)).await;
    }
}

/// Changes at most before the stalled write is given up: below the send
/// queue (1024), so only the deadline can close the client.
const AT_MOST: usize = 800;

async fn stalled_client_is_closed_and_resumes(backend: Backend) {
    let extra = ["--ws-write-deadline", "1s", "--socket-send-buffer", "16384"];
    let app = TestApp::start(backend, &extra).await;
    let room = "queue:queue-1";
    let reader = follow(&app, room).await;
    let (mut stalled, ready) =
        WsClient::try_connect_reading(&app.server.base_url, &app.token("agent-1"), Some(4096))
            .await
            .expect("connects");
    let since = ready["offset"].as_i64().unwrap();
    let (replayed, _) = stalled.subscribe(room, Some(since)).await;
    assert!(replayed.is_empty(), "{replayed:?}");

    // The stalled client reads nothing while changes pile up.
    let mut changes = 0;
    while !app.server.logged("stopped reading") {
        assert!(changes < AT_MOST, "still open after {changes} changes");
        app.open_ticket("agent-1", "queue-1", "acme").await;
        changes += 1;
    }
    assert!(
        !app.server.logged("slow consumer dropped"),
        "the queue overflowed"
    );
    let closed = app.server.lines_containing("stopped reading").join("\n");
    assert!(closed.contains("4008"), "{closed}");
    // The server let go of it: only the reader is left.
    until_connections(&app, 1).await;

    let mut missed = Vec::new();
    let ended = loop {
        match stalled.next().await {
            Ok(frame) if frame["type"] == "event" && !frame["offset"].is_null() => {
                missed.push(frame)
            }
            Ok(_) => {}
            Err(ended) => break ended,
        }
    };
    // The close frame comes if it passed the backlog in time; either way the connection ended.
    assert!(
        matches!(ended, Ended::Closed(4008) | Ended::Dropped),
        "{ended:?}"
    );
    let resume_from = offsets(&missed).last().copied().unwrap_or(since);
    let (mut resumed, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    let (replayed, subscribed) = resumed.subscribe(room, Some(resume_from)).await;
    assert_eq!(subscribed["recovered"], true, "{subscribed}");
    missed.extend(replayed);
    let seen = resumed
        .more_events(missed, |events| events.len() >= changes)
        .await;
    let every = reader.until(changes).await;
    assert_eq!(
        offsets(&seen),
        offsets(&every),
        "exactly the room's changes, once"
    );
    assert_eq!(every.len(), changes);
    println!("closed after {changes} changes ({ended:?}), resumed with all of them once");
}

/// A client reading `room` all along, in a task of its own.
struct Follower {
    wanted: tokio::sync::watch::Sender<usize>,
    task: tokio::task::JoinHandle<Vec<Value>>,
}

async fn follow(app: &TestApp, room: &str) -> Follower {
    let (mut client, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    client.subscribe(room, None).await;
    let (wanted, mut count) = tokio::sync::watch::channel(usize::MAX);
    let task = tokio::spawn(async move {
        let mut events = Vec::new();
        while events.len() < *count.borrow_and_update() {
            if let Some(frame) = client.next_within(Duration::from_millis(100)).await {
                let frame = frame.expect("the reader stays connected");
                if frame["type"] == "event" && !frame["offset"].is_null() {
                    events.push(frame);
                }
            }
        }
        events
    });
    Follower { wanted, task }
}

impl Follower {
    /// Its first `count` changes, once it has them (within a deadline).
    async fn until(self, count: usize) -> Vec<Value> {
        self.wanted.send_replace(count);
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the reader gets every change in time")
            .expect("the reader's task")
    }
}

/// Waits until the server holds `count` live connections (`ws_connections`).
async fn until_connections(app: &TestApp, count: usize) {
    let wanted = format!("ws_connections {count}\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = app.metrics().await;
        if metrics.contains(&wanted) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still not {count} connections: {}",
            metrics
                .lines()
                .filter(|line| line.starts_with("ws_connections"))
                .collect::<Vec<_>>()
                .join("; ")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
