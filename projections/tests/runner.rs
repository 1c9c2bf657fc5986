//! The projection runner: exactly-once application, catch-up then live,
//! visible failure on an undecodable event, retries of transient failures,
//! leadership hand-over between nodes on PostgreSQL, and several
//! projections in one runner: one far behind, failing or stopped holds back
//! none of the others.

use bomizzel_projections::on_both_backends;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bomizzel_domain::{Priority, TicketCommand};
use bomizzel_projections::testing::{Actor, TestLog, execute};
use bomizzel_projections::{
    ProjectedEvent, Projection, ProjectionError, ReadModelTx, Runner, RunnerSettings, State,
    checkpoint, on_pool, on_tx,
};
use bomizzel_store::{AppendRequest, Database, EventStore, ExpectedVersion, Metadata, NewEvent};
use tokio::sync::watch;
use tokio::time::timeout;
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(30);

on_both_backends!(
    catches_up_then_follows_live_events,
    an_undecodable_event_stops_the_projection_visibly,
    a_failing_batch_is_retried_until_it_succeeds,
    a_second_node_takes_over_when_the_leader_dies,
    projections_run_together_from_their_own_checkpoints,
    a_projection_far_behind_gets_batches_of_its_own,
    a_projection_that_keeps_failing_is_retried_alone,
    a_projection_that_rejects_an_event_stops_alone,
);

/// Orders apply calls across projections (and tests, harmlessly).
static APPLY_CALLS: AtomicU64 = AtomicU64::new(0);

/// Records each applied position once; applying one twice violates the key.
struct AppliedPositions {
    /// Its name, which is also its one table's.
    tables: &'static [&'static str],
    failures_left: AtomicUsize,
    /// Refuses, for good, every batch holding this position.
    rejects: Option<i64>,
    /// Each `apply` call, committed or not: (call order, first position,
    /// last position).
    calls: Mutex<Vec<(u64, i64, i64)>>,
}

impl AppliedPositions {
    fn new() -> Arc<Self> {
        Self::failing(0)
    }

    fn failing(times: usize) -> Arc<Self> {
        Arc::new(Self {
            tables: &["applied_positions"],
            failures_left: AtomicUsize::new(times),
            rejects: None,
            calls: Mutex::default(),
        })
    }

    fn rejecting(position: i64) -> Arc<Self> {
        Arc::new(Self {
            rejects: Some(position),
            ..Self::unwrapped(Self::new())
        })
    }

    /// A second projection of the same kind, with a table of its own.
    fn other() -> Arc<Self> {
        Arc::new(Self {
            tables: &["applied_positions_other"],
            ..Self::unwrapped(Self::new())
        })
    }

    fn unwrapped(this: Arc<Self>) -> Self {
        Arc::into_inner(this).expect("a fresh projection")
    }

    /// Its batches fail no more.
    fn recover(&self) {
        self.failures_left.store(0, Ordering::SeqCst);
    }

    /// The last position of its apply calls made before call `order`.
    fn reached_before(&self, order: u64) -> i64 {
        let calls = self.calls.lock().unwrap();
        let before = calls.iter().filter(|(call, ..)| *call < order);
        before.map(|(_, _, last)| *last).max().unwrap_or(0)
    }

    /// The order of its first apply call holding an event after `position`.
    fn first_call_after(&self, position: i64) -> u64 {
        let calls = self.calls.lock().unwrap();
        let after = calls.iter().find(|(_, _, last)| *last > position);
        after.expect("a call after the position").0
    }
}

#[async_trait]
impl Projection for AppliedPositions {
    fn name(&self) -> &'static str {
        self.tables[0]
    }

    fn tables(&self) -> &'static [&'static str] {
        self.tables
    }

    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[ProjectedEvent],
    ) -> Result<(), ProjectionError> {
        let fail = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if fail {
            // Not an outage, which would hold back the whole runner.
            return Err(ProjectionError::Database(sqlx::Error::RowNotFound));
        }
        if let (Some(first), Some(last)) = (events.first(), events.last()) {
            let call = APPLY_CALLS.fetch_add(1, Ordering::SeqCst);
            let mut calls = self.calls.lock().unwrap();
            calls.push((call, first.position, last.position));
        }
        if let Some(position) = self.rejects
            && events.iter().any(|event| event.position == position)
        {
            return Err(ProjectionError::Rejected {
                position,
                reason: "refused on purpose".into(),
            });
        }
        let insert = format!(
            "INSERT INTO {} (position, stream_id) VALUES ($1, $2)",
            self.tables[0]
        );
        for event in events {
            on_tx!(tx, connection => {
                sqlx::query(&insert)
                    .bind(event.position)
                    .bind(&event.stream_id)
                    .execute(connection)
                    .await?;
            });
        }
        Ok(())
    }
}

async fn create_table(database: &Database) {
    create_named_table(database, "applied_positions").await;
}

async fn create_named_table(database: &Database, table: &str) {
    let sql =
        format!("CREATE TABLE {table} (position BIGINT PRIMARY KEY, stream_id TEXT NOT NULL)");
    on_pool!(database, pool => {
        sqlx::query(&sql).execute(pool).await.unwrap();
    });
}

async fn applied(database: &Database) -> Vec<i64> {
    applied_in(database, "applied_positions").await
}

async fn applied_in(database: &Database, table: &str) -> Vec<i64> {
    let sql = format!("SELECT position FROM {table} ORDER BY position");
    on_pool!(database, pool => {
        sqlx::query_scalar(&sql).fetch_all(pool).await.unwrap()
    })
}

fn settings() -> RunnerSettings {
    RunnerSettings {
        batch_size: 7,
        poll_interval: Duration::from_millis(100),
        max_backoff: Duration::from_millis(200),
        ..RunnerSettings::default()
    }
}

/// Creates `tickets` tickets and changes each one's priority: two events each.
async fn write_tickets(store: &EventStore, tickets: usize) {
    let actor = Actor::new("agent-1", "agent");
    for n in 0..tickets {
        let id = Uuid::now_v7();
        let create = TicketCommand::Create {
            id,
            number: n as u64 + 1,
            title: format!("Ticket {n}"),
            description: "Printer on fire".into(),
            company_id: "acme".into(),
            requester_id: "cust-1".into(),
            queue_id: "q1".into(),
            team_id: "t1".into(),
            priority: Priority::Medium,
            tags: vec![],
        };
        execute(store, id, create, &actor).await.unwrap();
        let urgent = TicketCommand::ChangePriority {
            priority: Priority::Urgent,
        };
        execute(store, id, urgent, &actor).await.unwrap();
    }
}

/// Waits until the runner has committed `position`.
async fn wait_committed(committed: &mut watch::Receiver<i64>, position: i64) {
    timeout(DEADLINE, committed.wait_for(|at| *at >= position))
        .await
        .expect("the runner reaches the position in time")
        .unwrap();
}

/// Waits for `committed` to reach the 20 events of the first 10 tickets,
/// writes 5 more and waits for it to reach their 30.
async fn follows_to_30(log: &TestLog, committed: &mut watch::Receiver<i64>) {
    wait_committed(committed, 20).await;
    write_tickets(&log.store, 5).await;
    wait_committed(committed, 30).await;
}

async fn catches_up_then_follows_live_events(log: TestLog) {
    create_table(log.database()).await;
    write_tickets(&log.store, 10).await;
    let runner = Runner::new(log.store.clone(), AppliedPositions::new(), settings());
    let mut committed = runner.committed_by("applied_positions").unwrap();
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(runner.run(shutdown));

    follows_to_30(&log, &mut committed).await;
    stop.send_replace(true);
    timeout(DEADLINE, task)
        .await
        .expect("stops on shutdown")
        .unwrap();

    assert_eq!(applied(log.database()).await, (1..=30).collect::<Vec<_>>());
    let checkpoint = checkpoint::load(log.database(), "applied_positions")
        .await
        .unwrap();
    assert_eq!((checkpoint.position, checkpoint.state), (30, State::Live));
}

async fn an_undecodable_event_stops_the_projection_visibly(log: TestLog) {
    create_table(log.database()).await;
    write_tickets(&log.store, 2).await;
    let broken = NewEvent {
        event_type: "TicketTeleported".into(),
        schema_version: 1,
        payload: serde_json::json!({}),
    };
    log.store
        .append(AppendRequest {
            stream_id: "broken-stream".into(),
            expected_version: ExpectedVersion::Any,
            events: vec![broken],
            metadata: Metadata::new("agent-1", "agent"),
        })
        .await
        .unwrap();
    write_tickets(&log.store, 1).await;

    let runner = Runner::new(log.store.clone(), AppliedPositions::new(), settings());
    let error = runner.catch_up(|_, _| {}).await.unwrap_err();
    assert!(error.is_permanent(), "{error}");

    assert_eq!(
        applied(log.database()).await,
        vec![1, 2, 3, 4],
        "events before it are applied, none after"
    );
    let checkpoint = checkpoint::load(log.database(), "applied_positions")
        .await
        .unwrap();
    assert_eq!(checkpoint.state, State::Failed);
    assert_eq!(checkpoint.position, 4);
    let reason = checkpoint.error.unwrap_or_default();
    assert!(
        reason.contains("position 5") && reason.contains("broken-stream"),
        "the failure names the event: {reason}"
    );
}

async fn a_failing_batch_is_retried_until_it_succeeds(log: TestLog) {
    create_table(log.database()).await;
    write_tickets(&log.store, 3).await;
    let runner = Runner::new(log.store.clone(), AppliedPositions::failing(3), settings());
    let mut committed = runner.committed_by("applied_positions").unwrap();
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(runner.run(shutdown));
    wait_committed(&mut committed, 6).await;
    stop.send_replace(true);
    task.await.unwrap();
    assert_eq!(applied(log.database()).await, (1..=6).collect::<Vec<_>>());
}

/// Two nodes run the same projection; on PostgreSQL one leads, and when its
/// connection is killed the other takes over from the checkpoint. On SQLite
/// both run and the conditional checkpoint keeps them from applying twice.
async fn a_second_node_takes_over_when_the_leader_dies(log: TestLog) {
    create_table(log.database()).await;
    write_tickets(&log.store, 20).await;
    let other_store = EventStore::open(&log.url).await.unwrap();
    let first = Runner::new(log.store.clone(), AppliedPositions::new(), settings());
    let second = Runner::new(other_store, AppliedPositions::new(), settings());
    let (mut first_committed, mut second_committed) = (
        first.committed_by("applied_positions").unwrap(),
        second.committed_by("applied_positions").unwrap(),
    );
    let (stop, shutdown) = watch::channel(false);
    let tasks = [
        tokio::spawn(first.run(shutdown.clone())),
        tokio::spawn(second.run(shutdown)),
    ];
    let mut either_reaches = async |position: i64| {
        timeout(DEADLINE, async {
            tokio::select! {
                _ = first_committed.wait_for(|at| *at >= position) => {},
                _ = second_committed.wait_for(|at| *at >= position) => {},
            }
        })
        .await
        .expect("a node reaches the position in time");
    };
    either_reaches(40).await;

    if let Database::Postgres(pool) = log.database() {
        let killed: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks \
             WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND objid::bigint = \
             (hashtext('bomizzel-projection:applied_positions')::bigint & 4294967295)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(killed, 1, "exactly one node held the leadership");
    }
    write_tickets(&log.store, 10).await;
    either_reaches(60).await;
    stop.send_replace(true);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        applied(log.database()).await,
        (1..=60).collect::<Vec<_>>(),
        "each event applied once"
    );
}

/// Creates both projections' tables and writes `tickets` tickets.
async fn two_tables(log: &TestLog, tickets: usize) {
    create_table(log.database()).await;
    create_named_table(log.database(), "applied_positions_other").await;
    write_tickets(&log.store, tickets).await;
}

/// [`two_tables`], then `ahead` alone brought to the head.
async fn one_at_the_head(log: &TestLog, ahead: &Arc<AppliedPositions>, tickets: usize) {
    two_tables(log, tickets).await;
    let alone = Runner::new(log.store.clone(), ahead.clone(), settings());
    let head = 2 * tickets as i64;
    assert_eq!(alone.catch_up(|_, _| {}).await.unwrap(), head);
}

/// Both projections hold every event up to `head`, each once, and are live
/// there.
async fn both_live_at(log: &TestLog, head: i64) {
    for table in ["applied_positions", "applied_positions_other"] {
        let expected: Vec<i64> = (1..=head).collect();
        assert_eq!(applied_in(log.database(), table).await, expected, "{table}");
        let checkpoint = checkpoint::load(log.database(), table).await.unwrap();
        assert_eq!(
            (checkpoint.position, checkpoint.state),
            (head, State::Live),
            "{table}"
        );
    }
}

/// A runner of two projections, one of them ahead of the other: each gets
/// only the events after its own checkpoint, so every event is applied once
/// to each, and both end live at the head.
async fn projections_run_together_from_their_own_checkpoints(log: TestLog) {
    let (ahead, behind) = (AppliedPositions::new(), AppliedPositions::other());
    one_at_the_head(&log, &ahead, 10).await;
    write_tickets(&log.store, 5).await;

    let both: Vec<Arc<dyn Projection>> = vec![ahead, behind];
    let together = Runner::together(log.store.clone(), both, settings());
    assert_eq!(together.name(), "applied_positions+applied_positions_other");
    assert_eq!(together.catch_up(|_, _| {}).await.unwrap(), 30);
    both_live_at(&log, 30).await;
}

/// Runs `runner` live until both tables hold every event up to `head`.
async fn run_until_both_reach(
    runner: Runner,
    head: i64,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let mut receivers: Vec<_> = ["applied_positions", "applied_positions_other"]
        .into_iter()
        .map(|name| {
            runner
                .committed_by(name)
                .expect("a projection of the runner")
        })
        .collect();
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(runner.run(shutdown));
    for committed in &mut receivers {
        wait_committed(committed, head).await;
    }
    (stop, task)
}

/// A projection reset to 0 (a rebuild) next to one at the head, in one
/// runner: the one at the head gets the new events after at most one batch
/// of the other's, not after the other has caught up.
async fn a_projection_far_behind_gets_batches_of_its_own(log: TestLog) {
    let (behind, ahead) = (AppliedPositions::new(), AppliedPositions::other());
    one_at_the_head(&log, &ahead, 15).await;
    checkpoint::reset(log.database(), behind.as_ref())
        .await
        .unwrap();
    write_tickets(&log.store, 5).await;

    let both: Vec<Arc<dyn Projection>> = vec![behind.clone(), ahead.clone()];
    let runner = Runner::together(log.store.clone(), both, settings());
    let (stop, task) = run_until_both_reach(runner, 40).await;
    stop.send_replace(true);
    task.await.unwrap();

    let reached = behind.reached_before(ahead.first_call_after(30));
    assert!(
        reached <= i64::from(settings().batch_size),
        "the projection at the head waited for the other to reach {reached}"
    );
    both_live_at(&log, 40).await;
}

/// In one runner, a projection whose batches keep failing is retried on
/// its own: the other one follows the log meanwhile, and the failing one
/// catches up once its batches succeed, each event applied once to each.
async fn a_projection_that_keeps_failing_is_retried_alone(log: TestLog) {
    let (failing, healthy) = (
        AppliedPositions::failing(usize::MAX),
        AppliedPositions::other(),
    );
    two_tables(&log, 10).await;
    let both: Vec<Arc<dyn Projection>> = vec![failing.clone(), healthy.clone()];
    let runner = Runner::together(log.store.clone(), both, settings());
    let mut failing_committed = runner.committed_by(failing.name()).unwrap();
    let mut healthy_committed = runner.committed_by(healthy.name()).unwrap();
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(runner.run(shutdown));

    wait_committed(&mut healthy_committed, 20).await;
    assert_eq!(applied(log.database()).await, Vec::<i64>::new());
    failing.recover();
    wait_committed(&mut failing_committed, 20).await;
    write_tickets(&log.store, 5).await;
    wait_committed(&mut failing_committed, 30).await;
    wait_committed(&mut healthy_committed, 30).await;
    stop.send_replace(true);
    task.await.unwrap();
    both_live_at(&log, 30).await;
}

/// In one runner, a projection that rejects an event stops there, visibly,
/// and the other one goes on following the log.
async fn a_projection_that_rejects_an_event_stops_alone(log: TestLog) {
    let (rejecting, healthy) = (AppliedPositions::rejecting(5), AppliedPositions::other());
    two_tables(&log, 10).await;
    let both: Vec<Arc<dyn Projection>> = vec![rejecting.clone(), healthy.clone()];
    let runner = Runner::together(log.store.clone(), both, settings());
    let mut healthy_committed = runner.committed_by(healthy.name()).unwrap();
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(runner.run(shutdown));

    follows_to_30(&log, &mut healthy_committed).await;
    stop.send_replace(true);
    task.await.unwrap();

    let expected: Vec<i64> = (1..=30).collect();
    assert_eq!(applied_in(log.database(), healthy.name()).await, expected);
    let stopped = checkpoint::load(log.database(), rejecting.name())
        .await
        .unwrap();
    assert_eq!((stopped.position, stopped.state), (0, State::Failed));
    let reason = stopped.error.unwrap_or_default();
    assert!(
        reason.contains("position 5"),
        "the failure names the event: {reason}"
    );
    assert_eq!(applied(log.database()).await, Vec::<i64>::new());
}
