//! The checks every fault scenario ends with, and the crash and resume
//! tests share: what was acknowledged is in the log exactly once, read
//! models equal a rebuild from the log, and clients that kept their offsets
//! have, per room, exactly the room feed's changes after their first one.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bomizzel_projections::testing::dump_table;
use bomizzel_projections::{checkpoint, feed, registry};
use bomizzel_store::EventStore;
use serde_json::Value;

use super::app::TestApp;
use super::ws::WsClient;

const DEADLINE: Duration = Duration::from_secs(90);

/// What one client saw: per room, the offsets it received, in order.
#[derive(Debug, Default)]
pub struct Seen {
    pub first: BTreeMap<String, i64>,
    pub offsets: BTreeMap<String, Vec<i64>>,
}

impl Seen {
    /// Starts following `room` from `offset` (the first `ready` offset).
    pub fn follow(&mut self, room: &str, offset: i64) {
        if !self.first.contains_key(room) {
            self.first.insert(room.to_owned(), offset);
            self.offsets.insert(room.to_owned(), Vec::new());
        }
    }

    /// Counts a change for every followed room it lists.
    pub fn record(&mut self, event: &Value) {
        let offset = event["offset"].as_i64().expect("an offset");
        for room in event["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
        {
            if let Some(offsets) = self.offsets.get_mut(room) {
                offsets.push(offset);
            }
        }
    }

    /// The offset to resume `room` from.
    pub fn since(&self, room: &str) -> i64 {
        self.offsets[room]
            .last()
            .copied()
            .unwrap_or(self.first[room])
    }
}

/// The room's changes after `after` that `user` may see, from the feed.
pub async fn expected(store: &EventStore, user: &str, room: &str, after: i64) -> Vec<i64> {
    let customer = user.starts_with("cust-");
    feed::replay(store.database(), &[room.to_owned()], after, u32::MAX)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| {
            if customer {
                c.audience.reaches_customers()
            } else {
                c.audience.reaches_staff()
            }
        })
        .map(|c| c.offset)
        .collect()
}

/// Waits until the projection `name` has applied the whole log.
pub async fn caught_up(store: &EventStore, name: &str) {
    let head = store.head().await.unwrap();
    let started = Instant::now();
    while checkpoint::load(store.database(), name)
        .await
        .unwrap()
        .position
        < head
    {
        assert!(started.elapsed() < DEADLINE, "{name} never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Resumes `user`'s rooms once more, reads until each has what the feed
/// holds, and asserts that per room the client got exactly the feed's
/// changes after its first offset: no gap, no duplicate, in order. Returns
/// how many changes were checked. The feed must have caught up.
pub async fn assert_exactly_once(
    app: &TestApp,
    store: &EventStore,
    user: &str,
    seen: &mut Seen,
) -> usize {
    let (mut ws, _) = WsClient::connect(&app.server.base_url, &app.token(user)).await;
    let mut wanted = HashMap::new();
    for room in seen.first.keys().cloned().collect::<Vec<_>>() {
        let (replayed, _) = ws.subscribe(&room, Some(seen.since(&room))).await;
        replayed.iter().for_each(|event| seen.record(event));
        wanted.insert(
            room.clone(),
            expected(store, user, &room, seen.first[&room]).await,
        );
    }
    let started = Instant::now();
    while wanted.iter().any(|(room, offsets)| {
        offsets
            .last()
            .is_some_and(|last| seen.offsets[room].last() < Some(last))
    }) {
        assert!(started.elapsed() < DEADLINE, "{user} never caught up");
        if let Some(Ok(frame)) = ws.next_within(Duration::from_millis(200)).await
            && frame["type"] == "event"
            && !frame["offset"].is_null()
        {
            seen.record(&frame);
        }
    }
    let mut checked = 0;
    for (room, offsets) in &wanted {
        assert_eq!(
            &seen.offsets[room], offsets,
            "{user} in {room}: received vs the feed"
        );
        checked += offsets.len();
    }
    checked
}

/// Every read-model table's rows, sorted (the feed's epoch and users' read
/// marks are not the projections' to compare).
pub async fn read_models(store: &EventStore) -> Vec<(String, Vec<String>)> {
    let mut dumps = Vec::new();
    for projection in registry::all() {
        for table in projection
            .tables()
            .iter()
            .filter(|t| **t != "room_feed_meta")
        {
            let mut rows = dump_table(store.database(), table, "1").await;
            rows.sort();
            dumps.push((table.to_string(), rows));
        }
    }
    dumps
}

/// Rebuilds every read model from the log with the CLI (no server may be
/// running on `url`) and asserts each equals, row by row, what it was.
pub async fn assert_read_models_equal_rebuild(store: &EventStore, url: &str, workdir: &Path) {
    let incremental = read_models(store).await;
    let rebuild = Command::new(env!("CARGO_BIN_EXE_bomizzel"))
        .args(["projections", "rebuild", "all", "--database-url", url])
        .current_dir(workdir)
        .output()
        .unwrap();
    assert!(
        rebuild.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuild.stderr)
    );
    assert!(String::from_utf8_lossy(&rebuild.stdout).contains("events/s"));
    let rebuilt = read_models(store).await;
    for ((table, before), (_, from_zero)) in incremental.iter().zip(&rebuilt) {
        assert!(!from_zero.is_empty(), "{table} has rows");
        assert_eq!(before.len(), from_zero.len(), "{table}: row count");
        assert!(before == from_zero, "{table}: rows differ from a rebuild");
    }
}

/// Asserts that each of `keys` (idempotency keys as a user sent them) is
/// in the log exactly once: one event carries it, whatever the answers
/// and retries were.
pub async fn assert_each_key_once(store: &EventStore, keys: &[String]) {
    let mut found: HashMap<String, usize> = HashMap::new();
    let mut after = 0;
    loop {
        let events = store.read_all(after, 10_000).await.unwrap();
        let Some(last) = events.last() else { break };
        after = last.position;
        for event in &events {
            if let Some(key) = &event.metadata.idempotency_key {
                // Stored namespaced by user: "user:key".
                let key = key.split_once(':').map_or(key.as_str(), |(_, k)| k);
                *found.entry(key.to_owned()).or_default() += 1;
            }
        }
    }
    for key in keys {
        assert_eq!(found.get(key), Some(&1), "command {key} in the log");
    }
}
