//! Exactly-once effect of the projections: the real server is killed with
//! SIGKILL in the middle of catching up, restarted, and when it has caught
//! up every read model equals, row by row, a rebuild from zero.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bomizzel_domain::{Priority, Status, Ticket, TicketCommand};
use bomizzel_projections::{State, checkpoint};
use bomizzel_store::{AppendRequest, Database, EventStore, ExpectedVersion, Metadata, NewEvent};
use common::Server;
use common::checks;
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

/// The directory rows the notifications projection reads.
async fn seed_directory(store: &EventStore) {
    const TEAM: &str =
        "INSERT INTO teams (id, name, created_at) VALUES ($1, $1, '2026-01-01T00:00:00Z')";
    const AGENT: &str = "INSERT INTO users (id, name, role, created_at) \
         VALUES ($1, $1, 'agent', '2026-01-01T00:00:00Z')";
    const MEMBER: &str = "INSERT INTO team_members (user_id, team_id) VALUES ($1, $2)";
    for team in 0..3 {
        execute(store, TEAM, &[&format!("team-{team}")]).await;
    }
    for agent in 0..5 {
        let id = format!("agent-{agent}");
        execute(store, AGENT, &[&id]).await;
        execute(store, MEMBER, &[&id, &format!("team-{}", agent % 3)]).await;
    }
}

async fn execute(store: &EventStore, sql: &str, values: &[&str]) {
    match store.database() {
        Database::Sqlite(pool) => {
            let query = values.iter().fold(sqlx::query(sql), |q, v| q.bind(*v));
            query.execute(pool).await.unwrap();
        }
        Database::Postgres(pool) => {
            let query = values.iter().fold(sqlx::query(sql), |q, v| q.bind(*v));
            query.execute(pool).await.unwrap();
        }
    }
}

async fn write_history(store: &EventStore) -> i64 {
    seed_directory(store).await;
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

async fn checkpoints(store: &EventStore) -> Vec<i64> {
    checkpoint::all(store.database())
        .await
        .unwrap()
        .iter()
        .map(|c| c.position)
        .collect()
}

/// A long history in a database of the test's own, and the server's
/// working directory.
struct History {
    url: String,
    store: EventStore,
    head: i64,
    workdir: tempfile::TempDir,
}

impl History {
    /// `None` when the PostgreSQL tests are skipped.
    async fn write(backend: &str, test: &str) -> Option<Self> {
        let workdir = tempfile::tempdir().unwrap();
        let url = match backend {
            "sqlite" => format!(
                "sqlite://{}",
                workdir.path().join("data/bomizzel.db").display()
            ),
            _ => bomizzel_store::testing::fresh_postgres_database(test).await?,
        };
        let store = EventStore::open(&url).await.unwrap();
        let head = write_history(&store).await;
        assert!(head > 10_000, "a long history: {head} events");
        Some(Self {
            url,
            store,
            head,
            workdir,
        })
    }

    fn start(&self, extra: &[&str]) -> Server {
        Server::start_with(
            self.workdir.path(),
            &[("BOMIZZEL_DATABASE_URL", &self.url)],
            extra,
        )
    }

    fn rebuild(&self) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_bomizzel"))
            .args(["projections", "rebuild", "all", "--database-url", &self.url])
            .current_dir(self.workdir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Waits until `reached` holds of the checkpoints' positions.
    async fn until(&self, what: &str, reached: impl Fn(&[i64]) -> bool) {
        let started = Instant::now();
        loop {
            let positions = checkpoints(&self.store).await;
            if reached(&positions) {
                return;
            }
            assert!(started.elapsed() < DEADLINE, "{what}: {positions:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn part_way(&self) -> impl Fn(&[i64]) -> bool {
        let head = self.head;
        move |positions| positions.iter().any(|p| *p > 0 && *p < head)
    }

    /// Starts the server again, lets every projection catch up, stops it,
    /// and compares every read model with a rebuild from zero.
    async fn recover_and_compare(self) {
        let server = self.start(&[]);
        let head = self.head;
        self.until("projections never caught up", |positions| {
            positions.iter().all(|p| *p == head)
        })
        .await;
        assert!(server.terminate().success());
        checks::assert_read_models_equal_rebuild(&self.store, &self.url, self.workdir.path()).await;
    }
}

/// SIGKILL while the projections catch up on a long history.
async fn killed_mid_catch_up(backend: &str, test: &str) {
    let Some(history) = History::write(backend, test).await else {
        return;
    };
    let server = history.start(&[]);
    history
        .until("caught up before it could be killed", history.part_way())
        .await;
    drop(server); // SIGKILL
    let at_kill = checkpoints(&history.store).await;
    assert!(
        at_kill.iter().any(|p| *p < history.head),
        "killed mid catch-up: {at_kill:?}"
    );
    history.recover_and_compare().await;
}

/// The process aborts after a batch is applied to the read model and
/// before its checkpoint moves, in the same transaction.
async fn crashed_between_apply_and_checkpoint(backend: &str, test: &str) {
    let Some(history) = History::write(backend, test).await else {
        return;
    };
    let server = history.start(&["--projection-crash-after", "tickets=3"]);
    let status = server.wait_exit(DEADLINE);
    assert!(!status.success(), "the server crashed: {status}");
    assert!(server.logged("crashing on purpose"));
    let tickets = checkpoint::load(history.store.database(), "tickets")
        .await
        .unwrap();
    assert!(
        tickets.position > 0 && tickets.position < history.head,
        "two batches were checkpointed, not the third: {tickets:?}"
    );
    history.recover_and_compare().await;
}

/// SIGKILL of `projections rebuild all` part-way; the server then finishes
/// the rebuild.
async fn killed_mid_rebuild(backend: &str, test: &str) {
    let Some(history) = History::write(backend, test).await else {
        return;
    };
    let server = history.start(&[]);
    let head = history.head;
    history
        .until("never caught up", |positions| {
            positions.iter().all(|p| *p == head)
        })
        .await;
    assert!(server.terminate().success());
    let mut rebuild = history.rebuild();
    history
        .until("the rebuild never started", history.part_way())
        .await;
    rebuild.kill().unwrap();
    rebuild.wait().unwrap();
    let states = checkpoint::all(history.store.database()).await.unwrap();
    assert!(
        states.iter().any(|c| c.state == State::Rebuilding),
        "killed mid-rebuild: {states:?}"
    );
    history.recover_and_compare().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_mid_catch_up_the_read_models_still_equal_a_rebuild() {
    killed_mid_catch_up("sqlite", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_mid_catch_up_the_read_models_still_equal_a_rebuild() {
    killed_mid_catch_up("postgres", "postgres_killed_mid_catch_up").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_crashed_between_apply_and_checkpoint_the_read_models_still_equal_a_rebuild() {
    crashed_between_apply_and_checkpoint("sqlite", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crashed_between_apply_and_checkpoint_the_read_models_still_equal_a_rebuild() {
    crashed_between_apply_and_checkpoint("postgres", "postgres_crashed_between_apply").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_mid_rebuild_the_read_models_still_equal_a_rebuild() {
    killed_mid_rebuild("sqlite", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_mid_rebuild_the_read_models_still_equal_a_rebuild() {
    killed_mid_rebuild("postgres", "postgres_killed_mid_rebuild").await;
}
