//! The headline: clients that keep dropping and resuming with their last
//! offsets miss nothing and see nothing twice. 50 clients subscribe to
//! random rooms they may join and keep disconnecting (abruptly, cleanly, or
//! after reading slowly) while commands flow through the API. At the end
//! each client's changes, per room, equal the room feed's changes for that
//! room after the client's first offset, in order, and no client got a
//! change it may not see.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bomizzel_projections::feed;
use bomizzel_store::EventStore;
use common::app::{Backend, TestApp};
use common::checks::{self, Seen};
use common::ws::WsClient;
use rand::Rng;
use rand::seq::IndexedRandom;
use reqwest::Method;
use serde_json::{Value, json};

const CLIENTS: usize = 50;
const TRAFFIC: Duration = Duration::from_secs(30);

/// The rooms `user` may join, from the fixture and the tickets opened so far.
fn permitted(user: &str, tickets: &[(String, &str, &str)]) -> Vec<String> {
    let mut rooms = vec![format!("user:{user}")];
    match user {
        "agent-1" | "agent-2" => {
            let team = if user == "agent-1" { "1" } else { "2" };
            rooms.push(format!("team:team-{team}"));
            rooms.push(format!("queue:queue-{team}"));
            rooms.extend(
                tickets
                    .iter()
                    .filter(|(_, queue, _)| queue.ends_with(team))
                    .map(|(id, ..)| format!("ticket:{id}")),
            );
        }
        "cust-acme" | "cust-globex" => {
            let company = user.trim_start_matches("cust-");
            rooms.push(format!("company:{company}"));
            rooms.extend(
                tickets
                    .iter()
                    .filter(|(.., c)| *c == company)
                    .map(|(id, ..)| format!("ticket:{id}")),
            );
        }
        _ => rooms.extend(["queue:queue-1", "team:team-2", "company:acme"].map(String::from)),
    }
    rooms
}

fn pick<T: Clone>(choices: &[T]) -> T {
    choices.choose(&mut rand::rng()).expect("a choice").clone()
}

/// Drives a realistic command mix until `stop`.
async fn traffic(
    app: Arc<TestApp>,
    tickets: Vec<(String, &'static str, &'static str)>,
    stop: Arc<AtomicBool>,
) -> usize {
    let mut sent = 0;
    while !stop.load(Ordering::SeqCst) {
        let (id, queue, _) = tickets.choose(&mut rand::rng()).unwrap().clone();
        let (path, body) = match rand::rng().random_range(0..6) {
            0 => (
                format!("/api/tickets/{id}/priority"),
                json!({ "priority": pick(&["low", "medium", "high", "urgent"]) }),
            ),
            1 => (
                format!("/api/tickets/{id}/comments"),
                json!({ "body": "Update", "internal": rand::rng().random_bool(0.5) }),
            ),
            2 => (
                format!("/api/tickets/{id}/assign"),
                // The agent of the ticket's team, or nobody.
                json!({ "assignee_id": pick(&[json!(queue.replace("queue", "agent")), Value::Null]) }),
            ),
            3 => (
                format!("/api/tickets/{id}/status"),
                json!({ "status": pick(&["open", "in_progress", "waiting"]) }),
            ),
            4 => (
                format!("/api/tickets/{id}"),
                json!({ "title": format!("Title {sent}") }),
            ),
            _ => (
                format!("/api/tickets/{id}/comments"),
                json!({ "body": format!("From {queue}") }),
            ),
        };
        let method = if path.ends_with(&id) {
            Method::PATCH
        } else {
            Method::POST
        };
        let (status, answer) = app.call(method, &path, "admin-1", Some(body)).await;
        assert!(status == 200 || status == 409, "{path}: {status} {answer}");
        sent += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sent
}

/// One client's life: connect, resume every room, read for a while, drop in
/// one of three ways; again and again until `stop`.
async fn client(
    app: Arc<TestApp>,
    user: &'static str,
    rooms: Vec<String>,
    stop: Arc<AtomicBool>,
) -> (Seen, usize) {
    let mut seen = Seen::default();
    let mut sessions = 0;
    while !stop.load(Ordering::SeqCst) {
        sessions += 1;
        let (mut ws, ready) = WsClient::connect(&app.server.base_url, &app.token(user)).await;
        // A change counts for each of the client's rooms it lists, including
        // rooms about to be subscribed: the server sends it once.
        for room in &rooms {
            seen.follow(room, ready["offset"].as_i64().unwrap());
        }
        for room in &rooms {
            let (replayed, subscribed) = ws.subscribe(room, Some(seen.since(room))).await;
            assert_eq!(subscribed["recovered"], true, "{user} {room}: {subscribed}");
            replayed.iter().for_each(|event| seen.record(event));
        }
        let style = rand::rng().random_range(0..3);
        let reading = Duration::from_millis(rand::rng().random_range(100..1500));
        let until = Instant::now() + reading;
        if style == 2 {
            // A slow consumer: stop reading for a while, then catch up.
            tokio::time::sleep(reading).await;
        }
        while Instant::now() < until || style == 2 {
            match ws.next_within(Duration::from_millis(100)).await {
                Some(Ok(frame)) if frame["type"] == "event" && !frame["offset"].is_null() => {
                    seen.record(&frame)
                }
                Some(Ok(_)) => {}
                Some(Err(_)) => break,
                None if style == 2 => break,
                None => {}
            }
        }
        match style {
            0 => ws.close().await,
            _ => drop(ws),
        }
    }
    (seen, sessions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_that_keep_dropping_miss_nothing_and_see_nothing_twice() {
    let app = Arc::new(TestApp::start(Backend::Sqlite, &["--ws-send-queue", "8"]).await);
    let mut tickets = Vec::new();
    for n in 0..12 {
        let (queue, company) = [
            ("queue-1", "acme"),
            ("queue-2", "globex"),
            ("queue-1", "globex"),
        ][n % 3];
        tickets.push((
            app.open_ticket("admin-1", queue, company).await,
            queue,
            company,
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let users = [
        "agent-1",
        "agent-2",
        "cust-acme",
        "cust-globex",
        "admin-1",
        "analyst-1",
    ];
    let mut clients = Vec::new();
    for n in 0..CLIENTS {
        let user = users[n % users.len()];
        let mut rooms = permitted(user, &tickets);
        let keep = rand::rng().random_range(1..=rooms.len().min(4));
        rooms.truncate(keep.max(1));
        let (app, stop) = (Arc::clone(&app), Arc::clone(&stop));
        clients.push((
            user,
            tokio::spawn(async move { client(app, user, rooms, stop).await }),
        ));
    }
    let commands = tokio::spawn(traffic(
        Arc::clone(&app),
        tickets.clone(),
        Arc::clone(&stop),
    ));
    tokio::time::sleep(TRAFFIC).await;
    stop.store(true, Ordering::SeqCst);
    let sent = commands.await.unwrap();
    assert!(sent > 200, "commands flowed: {sent}");

    let url = format!(
        "sqlite://{}",
        app.workdir().join("data/bomizzel.db").display()
    );
    let store = EventStore::connect(&url).await.unwrap();
    checks::caught_up(&store, feed::NAME).await;

    let mut sessions = 0;
    let mut checked = 0;
    for (user, handle) in clients {
        let (mut seen, count) = handle.await.unwrap();
        sessions += count;
        checked += checks::assert_exactly_once(&app, &store, user, &mut seen).await;
    }
    assert!(
        sessions > CLIENTS * 5,
        "clients reconnected often: {sessions} sessions"
    );
    assert!(checked > 1000, "enough changes were checked: {checked}");
}
