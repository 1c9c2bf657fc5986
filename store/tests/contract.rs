//! The event store's contract, run unchanged against SQLite and, when there
//! is a server (`bomizzel_store::testing`), PostgreSQL. Each test gets its own
//! database. Where a test opens two `EventStore`s on one database they stand
//! for two processes or nodes appending at once.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use bomizzel_store::{
    AppendRequest, Database, EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent,
    StoreError,
};
use rand::Rng;
use serde_json::json;
use tokio::time::{Instant, timeout};

const DEADLINE: Duration = Duration::from_secs(60);

bomizzel_store::each_backend!(
    appends_and_reads_a_stream,
    concurrent_writers_never_let_a_tailer_skip_or_repeat,
    same_expected_version_lets_exactly_one_append_win,
    an_idempotency_key_appends_once_and_returns_the_first_answer,
    a_keys_first_answer_keeps_the_request_fingerprint,
    an_undecodable_row_is_reported_with_its_stream_and_position,
    stored_events_cannot_be_updated_or_deleted,
    acknowledged_appends_survive_sigkill,
    wakeups_reach_tailers_of_other_store_instances,
    cqrs_framework_runs_on_the_store,
);

async fn open(url: &str) -> EventStore {
    EventStore::open(url).await.expect("store opens")
}

fn event(n: u64) -> NewEvent {
    NewEvent {
        event_type: "Counted".into(),
        schema_version: 1,
        payload: json!({ "n": n, "note": "x".repeat(200) }),
    }
}

fn request(stream: &str, expected: ExpectedVersion, events: Vec<NewEvent>) -> AppendRequest {
    AppendRequest {
        stream_id: stream.into(),
        expected_version: expected,
        events,
        metadata: Metadata::new("u-1", "agent"),
    }
}

async fn appends_and_reads_a_stream(url: String) {
    let store = open(&url).await;
    assert_eq!(store.head().await.unwrap(), 0);
    let mut metadata = Metadata::new("agent-7", "agent");
    metadata.correlation_id = Some("req-1".into());
    metadata.causation_id = Some("cmd-1".into());
    let appended = store
        .append(AppendRequest {
            metadata: metadata.clone(),
            ..request(
                "t-1",
                ExpectedVersion::Exact(0),
                vec![event(1), event(2), event(3)],
            )
        })
        .await
        .unwrap();
    assert_eq!(
        (
            appended.first_position,
            appended.last_position,
            appended.version
        ),
        (1, 3, 3)
    );

    let all = store.read_stream("t-1", 1).await.unwrap();
    assert_eq!(all.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(all[1].payload, event(2).payload);
    assert_eq!(all[0].metadata.actor, "agent-7");
    assert_eq!(all[0].metadata.correlation_id.as_deref(), Some("req-1"));
    assert_eq!(
        all[0].metadata.occurred_at.unix_timestamp(),
        metadata.occurred_at.unix_timestamp()
    );
    let tail = store.read_stream("t-1", 3).await.unwrap();
    assert_eq!(tail.len(), 1);
    assert!(store.read_stream("missing", 1).await.unwrap().is_empty());
    assert_eq!(store.read_all(1, 10).await.unwrap().len(), 2);
    assert_eq!(store.head().await.unwrap(), 3);
}

/// 16 writers on two store instances append with random pauses and sizes,
/// some on shared streams with optimistic concurrency; a reader tails by
/// position meanwhile. What it saw must be the table in position order.
async fn concurrent_writers_never_let_a_tailer_skip_or_repeat(url: String) {
    const WRITERS: usize = 16;
    const COMMANDS_PER_WRITER: usize = 60;
    let nodes = [open(&url).await, open(&url).await];
    let reader_store = open(&url).await;

    // Told how many events to expect once the writers are done.
    let (finished, mut total_written) = tokio::sync::watch::channel(None::<usize>);
    let tailer = tokio::spawn(async move {
        let mut seen: Vec<RecordedEvent> = Vec::new();
        let mut wakeups = reader_store.wakeups();
        loop {
            let after = seen.last().map_or(0, |e| e.position);
            let batch = reader_store.read_all(after, 37).await.unwrap();
            if !batch.is_empty() {
                seen.extend(batch);
                continue;
            }
            if total_written
                .borrow_and_update()
                .is_some_and(|total| seen.len() >= total)
            {
                return seen;
            }
            // Caught up: sleep until a wake-up, the writers finish, or the polling interval.
            tokio::select! {
                _ = wakeups.changed() => {}
                _ = total_written.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    });

    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let store = nodes[writer % 2].clone();
        writers.push(tokio::spawn(async move {
            let mut appended = 0;
            for command in 0..COMMANDS_PER_WRITER {
                let (pause, size, shared) = {
                    let mut rng = rand::rng();
                    (
                        rng.random_range(0..3),
                        rng.random_range(1..4),
                        rng.random_bool(0.3),
                    )
                };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let events = (0..size).map(|n| event(n as u64)).collect::<Vec<_>>();
                if shared {
                    appended +=
                        append_with_retry(&store, &format!("shared-{}", command % 3), events).await;
                } else {
                    let stream = format!("w{writer}-{command}");
                    store
                        .append(request(&stream, ExpectedVersion::Exact(0), events))
                        .await
                        .unwrap();
                    appended += size;
                }
            }
            appended
        }));
    }
    let mut total = 0;
    for writer in writers {
        total += writer.await.unwrap();
    }
    finished.send_replace(Some(total));
    let seen = timeout(DEADLINE, tailer)
        .await
        .expect("tailer finishes")
        .unwrap();

    let table = open(&url).await.read_all(0, u32::MAX).await.unwrap();
    assert_eq!(
        table.len(),
        total,
        "every acknowledged event is in the table"
    );
    assert_eq!(
        table.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=total as i64).collect::<Vec<_>>(),
        "positions are dense"
    );
    let ids = |events: &[RecordedEvent]| {
        events
            .iter()
            .map(|e| (e.position, e.event_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&seen),
        ids(&table),
        "the tailer saw exactly the table, in order"
    );
}

/// Appends to a shared stream at its current version, retrying conflicts.
async fn append_with_retry(store: &EventStore, stream: &str, events: Vec<NewEvent>) -> usize {
    loop {
        let version = store.read_stream(stream, 1).await.unwrap().len() as u64;
        match store
            .append(request(
                stream,
                ExpectedVersion::Exact(version),
                events.clone(),
            ))
            .await
        {
            Ok(_) => return events.len(),
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => panic!("append failed: {other}"),
        }
    }
}

async fn same_expected_version_lets_exactly_one_append_win(url: String) {
    let (one, two) = (open(&url).await, open(&url).await);
    one.append(request("t", ExpectedVersion::Exact(0), vec![event(0)]))
        .await
        .unwrap();
    let (first, second) = tokio::join!(
        one.append(request("t", ExpectedVersion::Exact(1), vec![event(1)])),
        two.append(request("t", ExpectedVersion::Exact(1), vec![event(2)])),
    );
    let (winner, loser) = match (first, second) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        other => panic!("exactly one append must win, got {other:?}"),
    };
    assert_eq!(winner.version, 2);
    assert!(matches!(
        loser,
        StoreError::Conflict {
            expected: 1,
            actual: 2,
            ..
        }
    ));
    assert_eq!(
        loser.to_string(),
        "version conflict on stream t: expected version 1, but it is at 2"
    );
    assert_eq!(one.read_stream("t", 1).await.unwrap().len(), 2);
}

async fn an_idempotency_key_appends_once_and_returns_the_first_answer(url: String) {
    let (one, two) = (open(&url).await, open(&url).await);
    let keyed = |key: &str| {
        let mut request = request("t", ExpectedVersion::Any, vec![event(1), event(2)]);
        request.metadata.idempotency_key = Some(key.into());
        request
    };
    let first = one.append(keyed("k-1")).await.unwrap();
    let again = two.append(keyed("k-1")).await.unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(
        (again.first_position, again.last_position, again.version),
        (first.first_position, first.last_position, first.version)
    );
    // The same key raced from two nodes still appends once.
    let (a, b) = tokio::join!(one.append(keyed("k-2")), two.append(keyed("k-2")));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.duplicate, b.duplicate, "one of the two is the repeat");
    assert_eq!(a.last_position, b.last_position);
    assert_eq!(one.read_stream("t", 1).await.unwrap().len(), 4);
    let mut other_stream = keyed("k-1");
    other_stream.stream_id = "u".into();
    assert!(matches!(
        one.append(other_stream).await,
        Err(StoreError::IdempotencyKeyReused { .. })
    ));
}

/// The API binds a key to its request by a fingerprint in the metadata; the
/// store hands back the first append's, even when asked from another node.
async fn a_keys_first_answer_keeps_the_request_fingerprint(url: String) {
    let (one, two) = (open(&url).await, open(&url).await);
    let mut keyed = request("t", ExpectedVersion::Any, vec![event(1), event(2)]);
    keyed.metadata.idempotency_key = Some("k".into());
    keyed.metadata.request_fingerprint = Some("POST /things body=1".into());
    let first = one.append(keyed.clone()).await.unwrap();
    keyed.metadata.request_fingerprint = Some("POST /things body=2".into());
    assert!(two.append(keyed).await.unwrap().duplicate);
    let recorded = two
        .recorded_answer("k")
        .await
        .unwrap()
        .expect("k is recorded");
    assert_eq!(recorded.stream_id, "t");
    assert_eq!(
        (recorded.appended.first_position, recorded.appended.version),
        (first.first_position, first.version)
    );
    assert_eq!(
        recorded.metadata.request_fingerprint.as_deref(),
        Some("POST /things body=1")
    );
    assert!(two.recorded_answer("unknown").await.unwrap().is_none());
}

async fn an_undecodable_row_is_reported_with_its_stream_and_position(url: String) {
    let store = open(&url).await;
    store
        .append(request("good", ExpectedVersion::Any, vec![event(1)]))
        .await
        .unwrap();
    let insert_broken = "INSERT INTO events (position, stream_id, version, event_type, event_version, \
        payload, metadata, event_id, recorded_at) VALUES \
        (2, 'broken', 1, 'Counted', 1, '{}', '{\"actor\": 5}', \
        '00000000-0000-0000-0000-000000000002', '2026-01-01T00:00:00Z')";
    match store.database() {
        Database::Sqlite(pool) => sqlx::query(insert_broken).execute(pool).await.map(drop),
        Database::Postgres(pool) => sqlx::query(insert_broken).execute(pool).await.map(drop),
    }
    .unwrap();
    let error = store.read_all(0, 10).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::Corrupt { stream_id, position: 2, .. } if stream_id == "broken"),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("position 2 of stream broken"),
        "{error}"
    );
    // The good event before it is still readable on its own.
    assert_eq!(store.read_all(0, 1).await.unwrap().len(), 1);
}

async fn stored_events_cannot_be_updated_or_deleted(url: String) {
    let store = open(&url).await;
    store
        .append(request("t", ExpectedVersion::Any, vec![event(1)]))
        .await
        .unwrap();
    for statement in [
        "UPDATE events SET event_type = 'Forged' WHERE position = 1",
        "DELETE FROM events WHERE position = 1",
    ] {
        let refused = match store.database() {
            Database::Sqlite(pool) => sqlx::query(statement).execute(pool).await.map(drop),
            Database::Postgres(pool) => sqlx::query(statement).execute(pool).await.map(drop),
        };
        let message = refused.expect_err(statement).to_string();
        assert!(message.contains("append-only"), "{statement}: {message}");
    }
    if let Database::Postgres(pool) = store.database() {
        let refused = sqlx::query("TRUNCATE events").execute(pool).await;
        assert!(refused.is_err(), "TRUNCATE must be refused");
    }
    assert_eq!(
        store.read_all(0, 10).await.unwrap()[0].event_type,
        "Counted"
    );
}

const CHILD_URL: &str = "BOMIZZEL_DURABILITY_CHILD_URL";

/// Runs in a child process started by `acknowledged_appends_survive_sigkill`:
/// appends from eight tasks and prints each acknowledged position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by acknowledged_appends_survive_sigkill"]
async fn durability_child() {
    let url = std::env::var(CHILD_URL).expect("started by the durability test");
    let store = open(&url).await;
    let mut tasks = Vec::new();
    for task in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let appended = store
                    .append(request(
                        &format!("d{task}-{n}"),
                        ExpectedVersion::Exact(0),
                        vec![event(n)],
                    ))
                    .await
                    .unwrap();
                println!("ack {} d{task}-{n}", appended.last_position);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

async fn acknowledged_appends_survive_sigkill(url: String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "durability_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_URL, &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let acknowledged = tokio::task::spawn_blocking(move || {
        let mut acknowledged = Vec::new();
        let started = Instant::now();
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(ack) = line.strip_prefix("ack ") {
                let (position, stream) = ack.split_once(' ').unwrap();
                acknowledged.push((position.parse::<i64>().unwrap(), stream.to_owned()));
            }
            if acknowledged.len() >= 500 || started.elapsed() > DEADLINE {
                break;
            }
        }
        acknowledged
    })
    .await
    .unwrap();
    child.kill().unwrap(); // SIGKILL: no chance to flush anything.
    child.wait().unwrap();
    assert!(
        acknowledged.len() >= 500,
        "child acknowledged {} appends",
        acknowledged.len()
    );

    let store = open(&url).await;
    let stored: HashSet<(i64, String)> = store
        .read_all(0, u32::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.position, e.stream_id))
        .collect();
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|a| !stored.contains(a))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
}

async fn wakeups_reach_tailers_of_other_store_instances(url: String) {
    let writer = open(&url).await;
    let tailer = if url.starts_with("sqlite:") {
        // SQLite is embedded: wake-ups are in-process, from the same store.
        writer.clone()
    } else {
        open(&url).await
    };
    let mut wakeups = tailer.wakeups();
    let appended = writer
        .append(request("t", ExpectedVersion::Any, vec![event(1)]))
        .await
        .unwrap();
    timeout(DEADLINE, async {
        while *wakeups.borrow_and_update() < appended.last_position {
            wakeups.changed().await.unwrap();
        }
    })
    .await
    .expect("the tailer is woken with the new head");
}

/// A minimal aggregate: cqrs-es drives it through the repository adapter.
mod counter {
    use cqrs_es::event_sink::EventSink;
    use cqrs_es::{Aggregate, DomainEvent};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Default, Serialize, Deserialize)]
    pub struct Counter {
        pub value: u64,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub enum CounterEvent {
        Added { amount: u64 },
    }

    impl DomainEvent for CounterEvent {
        fn event_type(&self) -> String {
            "Added".into()
        }
        fn event_version(&self) -> String {
            "1".into()
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("amount must be positive")]
    pub struct ZeroAmount;

    impl Aggregate for Counter {
        const TYPE: &'static str = "counter";
        type Command = u64;
        type Event = CounterEvent;
        type Error = ZeroAmount;
        type Services = ();

        async fn handle(
            &mut self,
            amount: u64,
            _: &(),
            sink: &EventSink<Self>,
        ) -> Result<(), ZeroAmount> {
            if amount == 0 {
                return Err(ZeroAmount);
            }
            sink.write(CounterEvent::Added { amount }, self).await;
            Ok(())
        }

        fn apply(&mut self, CounterEvent::Added { amount }: CounterEvent) {
            self.value += amount;
        }
    }
}

async fn cqrs_framework_runs_on_the_store(url: String) {
    use cqrs_es::CqrsFramework;
    use cqrs_es::persist::PersistedEventStore;
    use std::collections::HashMap;

    let store = open(&url).await;
    let repository = bomizzel_store::CqrsRepository::new(store.clone());
    let cqrs = CqrsFramework::new(
        PersistedEventStore::<_, counter::Counter>::new_event_store(repository),
        vec![],
        (),
    );
    cqrs.execute("c-1", 2).await.unwrap();
    let metadata = HashMap::from([("actor".to_owned(), "agent-9".to_owned())]);
    cqrs.execute_with_metadata("c-1", 3, metadata)
        .await
        .unwrap();
    assert!(cqrs.execute("c-1", 0).await.is_err());

    let events = store.read_stream("c-1", 1).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].event_type, "Added");
    assert_eq!(
        events[1].payload,
        json!({ "amount": 3 }),
        "stored without the enum tag"
    );
    assert_eq!(events[1].metadata.actor, "agent-9");
    let loaded = PersistedEventStore::<_, counter::Counter>::new_event_store(
        bomizzel_store::CqrsRepository::new(store),
    );
    let context = cqrs_es::EventStore::load_aggregate(&loaded, "c-1")
        .await
        .unwrap();
    assert_eq!(context.aggregate.value, 5);
}

/// PostgreSQL only: the writer keeps a connection of its own, and a
/// connection the database dropped between two batches (a restart, a cut
/// socket) is replaced before the next batch writes anything.
#[tokio::test]
async fn postgres_writer_replaces_a_connection_cut_between_batches() {
    let Some(url) =
        bomizzel_store::testing::fresh_postgres_database("writer_replaces_a_cut_connection").await
    else {
        return;
    };
    let store = open(&url).await;
    store
        .append(request("t", ExpectedVersion::Exact(0), vec![event(1)]))
        .await
        .unwrap();
    let Database::Postgres(pool) = store.database() else {
        unreachable!("a postgres:// URL opens PostgreSQL")
    };
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(cut >= 1, "the writer's connection was among those cut");
    let appended = store
        .append(request("t", ExpectedVersion::Exact(1), vec![event(2)]))
        .await
        .expect("the next append goes through on a new connection");
    assert_eq!(appended.version, 2);
    assert_eq!(store.read_stream("t", 1).await.unwrap().len(), 2);
}
