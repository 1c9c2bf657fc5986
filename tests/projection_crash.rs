//! Exactly-once effect of the projections: the real server is killed with
//! SIGKILL in the middle of catching up, restarted, and when it has caught
//! up every read model equals, row by row, a rebuild from zero.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use bomizzel_domain::{Priority, Status, Ticket, TicketCommand};
use bomizzel_projections::testing::dump_table;
use bomizzel_projections::{checkpoint, registry};
use bomizzel_store::{AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent};
use common::Server;
use uuid::Uuid;

const TICKETS: usize = 2500;
const DEADLINE: Duration = Duration::from_secs(120);

/// One ticket's lifecycle, decided by the aggregate, appended at once.
fn lifecycle(n: usize) -> (String, Vec<NewEvent>) {
    let id = Uuid::now_v7();
    let queue = n % 3;
    let commands = [
        TicketCommand::Create {
            id,
            number: n as u64 + 1,
            title: format!("Ticket {n}"),
            description: "It broke".into(),
            company_id: "acme".into(),
            requester_id: "cust-1".into(),
            queue_id: format!("queue-{queue}"),
            team_id: format!("team-{queue}"),
            priority: Priority::Medium,
            tags: vec!["printer".into()],
        },
        TicketCommand::Assign {
            assignee_id: format!("agent-{}", n % 5),
        },
        TicketCommand::ChangePriority {
            priority: if n.is_multiple_of(4) {
                Priority::Urgent
            } else {
                Priority::High
            },
        },
        TicketCommand::AddComment {
            comment_id: Uuid::now_v7(),
            author_id: "agent-1".into(),
            body: "On it".into(),
            internal: n.is_multiple_of(2),
        },
        TicketCommand::ChangeStatus {
            status: Status::InProgress,
        },
        TicketCommand::ChangeStatus {
            status: Status::Resolved,
        },
        TicketCommand::ChangeStatus {
            status: if n.is_multiple_of(3) {
                Status::Open
            } else {
                Status::Closed
            },
        },
    ];
    let mut ticket = Ticket::default();
    let mut events = Vec::new();
    for command in commands {
        if let Some(event) = ticket.decide(command).expect("a valid lifecycle") {
            events.push(NewEvent {
                event_type: event.event_type_name().into(),
                schema_version: event.schema_version(),
                payload: event.to_payload(),
            });
            cqrs_es::Aggregate::apply(&mut ticket, event);
        }
    }
    (id.to_string(), events)
}

async fn write_history(store: &EventStore) -> i64 {
    if let bomizzel_store::Database::Sqlite(pool) = store.database() {
        for team in 0..3 {
            sqlx::query(
                "INSERT INTO teams (id, name, created_at) VALUES ($1, $1, '2026-01-01T00:00:00Z')",
            )
            .bind(format!("team-{team}"))
            .execute(pool)
            .await
            .unwrap();
        }
        for agent in 0..5 {
            sqlx::query("INSERT INTO users (id, name, role, created_at) VALUES ($1, $1, 'agent', '2026-01-01T00:00:00Z')")
                .bind(format!("agent-{agent}"))
                .execute(pool)
                .await
                .unwrap();
            sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)")
                .bind(format!("team-{}", agent % 3))
                .bind(format!("agent-{agent}"))
                .execute(pool)
                .await
                .unwrap();
        }
    }
    let appends = (0..TICKETS).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            let (stream_id, events) = lifecycle(n);
            let request = AppendRequest {
                stream_id,
                expected_version: ExpectedVersion::Exact(0),
                events,
                metadata: Metadata::new(format!("agent-{}", n % 5), "agent"),
            };
            store.append(request).await.unwrap()
        })
    });
    let mut head = 0;
    for append in appends.collect::<Vec<_>>() {
        head = head.max(append.await.unwrap().last_position);
    }
    head
}

/// Every read-model table's rows, sorted (the feed's epoch and users' read
/// marks are not the projections' to compare).
async fn read_models(store: &EventStore) -> Vec<(String, Vec<String>)> {
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

async fn checkpoints(store: &EventStore) -> Vec<i64> {
    checkpoint::all(store.database())
        .await
        .unwrap()
        .iter()
        .map(|c| c.position)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_catch_up_the_read_models_still_equal_a_rebuild() {
    let workdir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        workdir.path().join("data/bomizzel.db").display()
    );
    let store = EventStore::open(&url).await.unwrap();
    let head = write_history(&store).await;
    assert!(head > 10_000, "a long history: {head} events");

    // Start the server and kill it as soon as some projection is part-way.
    let server = Server::start(workdir.path(), &[]);
    let started = Instant::now();
    loop {
        let positions = checkpoints(&store).await;
        if positions.iter().any(|p| *p > 0 && *p < head) {
            break;
        }
        assert!(
            positions.iter().all(|p| *p < head),
            "caught up before it could be killed: {positions:?}"
        );
        assert!(started.elapsed() < DEADLINE, "projections never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(server); // SIGKILL
    let at_kill = checkpoints(&store).await;
    assert!(
        at_kill.iter().any(|p| *p < head),
        "killed mid catch-up: {at_kill:?}"
    );

    // Restart and let it catch up.
    let server = Server::start(workdir.path(), &[]);
    let started = Instant::now();
    while checkpoints(&store)
        .await
        .iter()
        .filter(|p| **p == head)
        .count()
        < registry::all().len()
    {
        assert!(started.elapsed() < DEADLINE, "projections never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.terminate().success());
    let incremental = read_models(&store).await;

    let rebuild = Command::new(env!("CARGO_BIN_EXE_bomizzel"))
        .args(["projections", "rebuild", "all", "--database-url", &url])
        .current_dir(workdir.path())
        .output()
        .unwrap();
    assert!(
        rebuild.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuild.stderr)
    );
    assert!(String::from_utf8_lossy(&rebuild.stdout).contains("events/s"));
    let rebuilt = read_models(&store).await;

    for ((table, after_crash), (_, from_zero)) in incremental.iter().zip(&rebuilt) {
        assert!(!from_zero.is_empty(), "{table} has rows");
        assert_eq!(after_crash.len(), from_zero.len(), "{table}: row count");
        assert!(
            after_crash == from_zero,
            "{table}: rows differ after the crash"
        );
    }
}
