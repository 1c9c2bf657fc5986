//! The handoff from an HTTP snapshot to the live stream, as the README
//! tells a client to do it: reload from `GET /api/tickets`, subscribe from
//! its `Bomizzel-Feed-Offset` in its `Bomizzel-Feed-Epoch`. With one read
//! model held behind the others, over many seeds of writes and reconnects,
//! the client must never miss a ticket's change nor see one twice: each
//! change it gets is exactly the next version of a ticket it holds, or the
//! first of a new one.

mod common;

use std::collections::HashMap;

use common::app::{Backend, TestApp};
use common::ws::WsClient;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};

const SEEDS: u64 = 8;
const COMMANDS_PER_SEED: usize = 40;

/// What the client holds: each ticket's version.
type Versions = HashMap<String, u64>;

/// The documented reload: the list and the feed point it is consistent with.
async fn reload(app: &TestApp) -> (Versions, i64, String) {
    let response = app
        .request(Method::GET, "/api/tickets?limit=200", Some("agent-1"))
        .send()
        .await
        .expect("the list answers");
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        let value = response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{name} is set"));
        value.to_str().unwrap().to_owned()
    };
    let offset: i64 = header("bomizzel-feed-offset").parse().unwrap();
    let epoch = header("bomizzel-feed-epoch");
    let list: Value = response.json().await.unwrap();
    assert!(list["next_cursor"].is_null(), "one page holds every ticket");
    let versions = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["version"].as_u64().unwrap(),
            )
        })
        .collect();
    (versions, offset, epoch)
}

/// Applies one live change; a gap or a repeat fails the test.
fn apply(versions: &mut Versions, change: &Value) {
    let ticket = change["data"]["ticket_id"].as_str().unwrap().to_owned();
    let version = change["data"]["version"].as_u64().unwrap();
    let expected = versions.get(&ticket).map_or(1, |held| held + 1);
    assert_eq!(version, expected, "ticket {ticket}: {change}");
    versions.insert(ticket, version);
}

/// One random command on the board (some change nothing or are refused:
/// they append nothing and send nothing).
async fn random_command(app: &TestApp, rng: &mut StdRng, tickets: &mut Vec<String>) {
    if tickets.is_empty() || rng.random_ratio(1, 4) {
        tickets.push(app.open_ticket("agent-1", "queue-1", "acme").await);
        return;
    }
    let id = tickets[rng.random_range(0..tickets.len())].clone();
    let (path, body) = match rng.random_range(0..3) {
        0 => {
            let priority = ["low", "medium", "high", "urgent"][rng.random_range(0..4)];
            ("priority", json!({ "priority": priority }))
        }
        1 => {
            let status = ["open", "in_progress", "waiting"][rng.random_range(0..3)];
            ("status", json!({ "status": status }))
        }
        _ => {
            let internal = rng.random_bool(0.5);
            ("comments", json!({ "body": "on it", "internal": internal }))
        }
    };
    let path = format!("/api/tickets/{id}/{path}");
    app.call(Method::POST, &path, "agent-1", Some(body)).await;
}

/// The version of each of `tickets` in the log (the stream, not a read
/// model).
async fn logged_versions(app: &TestApp, tickets: &[String]) -> Versions {
    let mut versions = Versions::new();
    for id in tickets {
        let (status, ticket) = app
            .call(Method::GET, &format!("/api/tickets/{id}"), "agent-1", None)
            .await;
        assert_eq!(status, 200, "{ticket}");
        versions.insert(id.clone(), ticket["version"].as_u64().unwrap());
    }
    versions
}

/// Whether `held` with `changes` applied reaches `target`.
fn reaches(held: &Versions, changes: &[Value], target: &Versions) -> bool {
    let mut newest = held.clone();
    for change in changes {
        let ticket = change["data"]["ticket_id"].as_str().unwrap_or_default();
        let version = change["data"]["version"].as_u64().unwrap_or_default();
        let entry = newest.entry(ticket.to_owned()).or_default();
        *entry = (*entry).max(version);
    }
    target
        .iter()
        .all(|(ticket, version)| newest.get(ticket) == Some(version))
}

/// Every seed: commands run while the client, at a random point among
/// them, reloads, subscribes from the list's feed point and follows until
/// it holds what the log holds; then it drops and the next seed reloads.
async fn snapshot_then_stream_is_exact(delayed: &str) -> bool {
    let delay = format!("{delayed}=30ms");
    let args = ["--projection-delay", delay.as_str()];
    let app = TestApp::start(Backend::Sqlite, &args).await;
    let mut tickets = Vec::new();
    let mut snapshot_behind_head = false;
    for seed in 0..SEEDS {
        let mut rng = StdRng::seed_from_u64(seed);
        let join_after = rng.random_range(0..COMMANDS_PER_SEED);
        let mut client = None;
        for done in 0..COMMANDS_PER_SEED {
            if done == join_after {
                let (mut ws, ready) =
                    WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
                let (mut versions, offset, epoch) = reload(&app).await;
                snapshot_behind_head |= offset < ready["offset"].as_i64().unwrap();
                let (replayed, subscribed) = ws
                    .subscribe_in_epoch("queue:queue-1", Some(offset), Some(&epoch))
                    .await;
                assert_eq!(subscribed["recovered"], true, "{subscribed}");
                for change in &replayed {
                    apply(&mut versions, change);
                }
                client = Some((ws, versions));
            }
            random_command(&app, &mut rng, &mut tickets).await;
        }
        let (mut ws, mut versions) = client.expect("the client joined");
        let logged = logged_versions(&app, &tickets).await;
        let changes = ws
            .events_until(|changes| reaches(&versions, changes, &logged))
            .await;
        for change in &changes {
            apply(&mut versions, change);
        }
        assert_eq!(versions, logged, "seed {seed}");
        ws.close().await;
    }
    snapshot_behind_head
}

#[tokio::test]
async fn a_client_resumes_exactly_from_a_list_behind_the_feed() {
    let behind = snapshot_then_stream_is_exact("tickets").await;
    assert!(
        behind,
        "in some seed the list was behind the feed's head: resuming from `ready` would have lost changes"
    );
}

#[tokio::test]
async fn a_client_resumes_exactly_from_a_list_ahead_of_the_feed() {
    snapshot_then_stream_is_exact("room_feed").await;
}
