//! Runs projections: read a batch after the checkpoint, apply it and move
//! the checkpoint in one transaction, repeat; when caught up, sleep until a
//! wake-up or the polling interval. On PostgreSQL a session advisory lock
//! elects one node per projection; the others wait and take over when the
//! leader's connection goes away.
//!
//! A runner may drive several projections together ([`Runner::together`]):
//! it reads and decodes each batch once and applies it to every one of them
//! in one transaction that moves each one's checkpoint. A rebuild of all
//! read models reads the log once this way instead of once per read model
//! (on SQLite their transactions would serialise on the file's write lock
//! anyway). Each projection is given only the events after its own
//! checkpoint, so projections that stand at different positions (a rebuild
//! resumed next to a running server's runners) still apply each event once.
//!
//! Live, such a runner keeps its projections apart where sharing would
//! hurt ([`lanes`]): those within a batch of each other share each read and
//! transaction; one far behind (being rebuilt) gets batches of its own, so
//! it holds back nobody; one whose batch failed is retried alone with
//! backoff, and one that cannot apply an event stops alone, the others
//! going on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bomizzel_domain::directory::is_directory_stream;
use bomizzel_store::health::outage_of;
use bomizzel_store::{Database, EventStore, StoreError};
use sqlx::sqlite::{SqliteConnection, SqliteSynchronous};
use sqlx::{Acquire, PgConnection};
use tokio::sync::watch;

use crate::checkpoint::{self, Checkpoint, State};
use crate::db::{self, ReadModelTx};
use crate::error::ProjectionError;
use crate::event::ProjectedEvent;
use crate::projection::Projection;

/// How often a runner retries while the database is away.
const OUTAGE_RETRY: Duration = Duration::from_millis(250);

/// First pause before a failed batch is retried; it doubles with each
/// further failure up to [`RunnerSettings::max_backoff`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Events per transaction of a rebuild: larger than a live batch, as a
/// rebuild has no reader waiting on each commit, and a ticket's events then
/// more often fall into one batch and are written once (measured on SQLite
/// at 100,000 events: a fifth less CPU than batches of 1,000).
pub const REBUILD_BATCH_SIZE: u32 = 5000;

/// Page cache of a runner's own SQLite connection, in KiB.
const SQLITE_CACHE_KIB: u32 = 64 * 1024;

/// NOTIFY channel on which runners announce `name:position` after a commit,
/// so followers on other nodes (the gateway) wake up.
pub const PROJECTION_CHANNEL: &str = "bomizzel_projections";

/// How a runner paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerSettings {
    /// Events per transaction.
    pub batch_size: u32,
    /// Longest sleep between looks at the log when no wake-up comes, and
    /// between attempts to take over leadership.
    pub poll_interval: Duration,
    /// Longest pause between retries of a failing batch.
    pub max_backoff: Duration,
    /// A pause after a round over the log that applied something, before
    /// the next. Under load the commits of those milliseconds then share
    /// a batch: a batch costs a few dozen statements whatever its size,
    /// each a hop to SQLite's thread or a round trip to PostgreSQL, and
    /// without the pause every commit or two paid for a batch of its own.
    /// A runner that was idle applies the next commit at once.
    pub pace: Duration,
    /// A pause before each batch: none in service. Tests and experiments
    /// use it to hold one read model behind the others, as a slow disk or
    /// a busy node would.
    pub batch_delay: Duration,
    /// Aborts the process after applying its Nth batch (counted in this
    /// process), before the checkpoint moves: none in service. Crash tests
    /// use it to stop a runner at the one point its transaction protects.
    pub crash_after_batch: Option<u64>,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            poll_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            pace: Duration::from_millis(2),
            batch_delay: Duration::ZERO,
            crash_after_batch: None,
        }
    }
}

/// Drives one projection, or several together. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    store: EventStore,
    projections: Arc<[Arc<dyn Projection>]>,
    /// The projections' names joined by `+`, for logs.
    name: Arc<str>,
    settings: RunnerSettings,
    /// Per projection, in the runner's order: its last committed position.
    committed: Arc<[watch::Sender<i64>]>,
    /// Batches applied in this process, for `crash_after_batch`.
    applied: Arc<AtomicU64>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("projections", &self.name)
            .finish()
    }
}

/// What one look at the log did, with the checkpoints (one per projection,
/// in the runner's order) after it.
enum Step {
    /// Applied a batch.
    Applied(Vec<Checkpoint>),
    /// Nothing new; the projections are live.
    Idle(Vec<Checkpoint>),
}

/// A batch's failure, with the projection (its index in the runner) whose
/// `apply` failed, or none when the batch as a whole did (reading,
/// decoding, committing).
struct Failure {
    member: Option<usize>,
    error: ProjectionError,
}

impl From<ProjectionError> for Failure {
    fn from(error: ProjectionError) -> Self {
        Self {
            member: None,
            error,
        }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        ProjectionError::from(error).into()
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        ProjectionError::from(error).into()
    }
}

/// How one projection of a live runner fares.
#[derive(Debug, Clone, Copy)]
enum Standing {
    /// Applied together with the others near its position.
    Healthy,
    /// Its last batch failed: retried alone at `at`, so its failures hold
    /// back none of the others.
    Retrying { at: Instant, backoff: Duration },
    /// Stopped at an event it cannot apply (recorded in its checkpoint),
    /// until the process restarts.
    Stopped,
}

/// Where a runner's transactions come from: the shared pool, or on
/// PostgreSQL the one connection that holds the projection's leadership.
enum Lease {
    /// PostgreSQL without leadership (rebuilds): the shared pool.
    Shared(Database),
    /// PostgreSQL: the connection holding this projection's advisory lock.
    Leader(PgConnection),
    /// SQLite: a connection of the runner's own; see [`unled_lease`].
    SqliteWriter {
        connection: SqliteConnection,
        write_lock: Arc<tokio::sync::Mutex<()>>,
    },
}

/// A lease for a runner that needs no leadership (SQLite, where one process
/// owns the file, and rebuilds).
///
/// On SQLite the runner writes through its own connection with
/// `synchronous=NORMAL`: its commits reach the WAL without waiting for the
/// disk. A process crash loses nothing; a power cut may lose the last
/// commits, and since the checkpoint commits with the read model, they are
/// applied again from the log. The event log and the directory keep
/// `synchronous=FULL`.
///
/// Its page cache holds [`SQLITE_CACHE_KIB`]: a batch of several read
/// models dirties more pages than SQLite's default 2 MiB, and a transaction
/// whose dirty pages do not fit spills them to the WAL and writes them again.
async fn unled_lease(database: &Database) -> Result<Lease, sqlx::Error> {
    match database {
        Database::Sqlite(pool) => {
            let options = (*pool.connect_options())
                .clone()
                .synchronous(SqliteSynchronous::Normal)
                .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
                .thread_name(|id| format!("sqlite-proj-{id}"));
            Ok(Lease::SqliteWriter {
                connection: sqlx::Connection::connect_with(&options).await?,
                write_lock: bomizzel_store::sqlite_write_lock(pool),
            })
        }
        Database::Postgres(_) => Ok(Lease::Shared(database.clone())),
    }
}

impl Runner {
    pub fn new(
        store: EventStore,
        projection: Arc<dyn Projection>,
        settings: RunnerSettings,
    ) -> Self {
        Self::together(store, vec![projection], settings)
    }

    /// A runner that reads each batch once for all of `projections` and
    /// applies it to each of them in one transaction.
    pub fn together(
        store: EventStore,
        projections: Vec<Arc<dyn Projection>>,
        settings: RunnerSettings,
    ) -> Self {
        let committed = projections.iter().map(|_| watch::channel(0).0).collect();
        let name = projections
            .iter()
            .map(|projection| projection.name())
            .collect::<Vec<_>>()
            .join("+");
        Self {
            store,
            projections: projections.into(),
            name: name.into(),
            settings,
            committed,
            applied: Arc::default(),
        }
    }

    /// The projection's name; for a runner of several, their names joined
    /// by `+`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The position projection `name` of this runner has committed; `None`
    /// when the runner does not drive it.
    pub fn committed_by(&self, name: &str) -> Option<watch::Receiver<i64>> {
        let member = self.projections.iter().position(|p| p.name() == name)?;
        Some(self.committed[member].subscribe())
    }

    /// Follows the log until `shutdown` turns true, stopping between batches
    /// so the checkpoint always matches the read model.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut standings = vec![Standing::Healthy; self.projections.len()];
        let mut backoff = FIRST_BACKOFF;
        while !*shutdown.borrow() {
            let Some(mut lease) = self.lead(&mut shutdown).await else {
                return;
            };
            match self.follow(&mut lease, &mut standings, &mut shutdown).await {
                Ok(()) => return,
                Err(ProjectionError::Superseded(_)) => continue,
                Err(error) if error.outage().is_some() => {
                    // Retried at a steady pace, so the read model catches up
                    // as soon as the database is back.
                    tracing::debug!(projection = self.name(), %error, "projection batch failed");
                    if sleep_or_shutdown(OUTAGE_RETRY, &mut shutdown).await {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(projection = self.name(), %error, retry_in = ?backoff, "projection batch failed");
                    if sleep_or_shutdown(backoff, &mut shutdown).await {
                        return;
                    }
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
            }
        }
    }

    /// Applies every event up to the head as it is when called, reporting
    /// `(position, head)` after each batch; returns the final position.
    /// Used by rebuilds and tests, without leadership: the conditional
    /// checkpoint still keeps two runners from applying a batch twice.
    pub async fn catch_up(
        &self,
        mut on_progress: impl FnMut(i64, i64),
    ) -> Result<i64, ProjectionError> {
        let head = self.store.head().await?;
        let mut lease = unled_lease(self.store.database()).await?;
        let everyone: Vec<usize> = (0..self.projections.len()).collect();
        loop {
            let checkpoints = self.load_checkpoints().await?;
            match self.apply_next(&mut lease, &everyone, checkpoints).await {
                Ok(Step::Applied(done)) if lowest(&done) < head => on_progress(lowest(&done), head),
                Ok(Step::Applied(done) | Step::Idle(done)) => {
                    on_progress(lowest(&done), head);
                    return Ok(lowest(&done));
                }
                Err(Failure {
                    error: ProjectionError::Superseded(_),
                    ..
                }) => continue,
                Err(Failure { member, error }) => {
                    if error.is_permanent() {
                        for failed in member.map_or_else(|| everyone.clone(), |m| vec![m]) {
                            self.stop(failed, &error).await;
                        }
                    }
                    return Err(error);
                }
            }
        }
    }

    /// Applies batches lane by lane ([`lanes`]) until shutdown; waits for a
    /// wake-up, the polling interval or the next retry when no lane had
    /// anything to do. Returns the errors that concern the whole runner.
    async fn follow(
        &self,
        lease: &mut Lease,
        standings: &mut [Standing],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), ProjectionError> {
        let mut wakeups = self.store.wakeups();
        let mut checkpoints = self.load_checkpoints().await?;
        tracing::info!(
            projection = self.name(),
            position = lowest(&checkpoints),
            "projection started"
        );
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            let mut busy = false;
            let batch_size = self.settings.batch_size;
            for lane in lanes(&checkpoints, standings, batch_size, Instant::now()) {
                busy |= self.step(lease, &lane, &mut checkpoints, standings).await?;
            }
            if busy {
                tokio::time::sleep(self.settings.pace).await;
            } else {
                let pause = next_retry(standings).map_or(self.settings.poll_interval, |at| {
                    at.saturating_duration_since(Instant::now())
                        .min(self.settings.poll_interval)
                });
                tokio::select! {
                    _ = wakeups.changed() => {}
                    _ = shutdown.changed() => {}
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }

    /// Applies the next batch to the projections of `lane`. A projection
    /// whose own `apply` failed is set aside (retried alone, or stopped when
    /// the failure is permanent), as are all of the lane's when the batch
    /// holds an event none can read. True when something happened, so the
    /// runner looks again at once; outages, superseded checkpoints and
    /// other failures of the batch as a whole are returned.
    async fn step(
        &self,
        lease: &mut Lease,
        lane: &[usize],
        checkpoints: &mut [Checkpoint],
        standings: &mut [Standing],
    ) -> Result<bool, ProjectionError> {
        let from = lane.iter().map(|&m| checkpoints[m].clone()).collect();
        let failure = match self.apply_next(lease, lane, from).await {
            Ok(step) => {
                let (applied, done) = match step {
                    Step::Applied(done) => (true, done),
                    Step::Idle(done) => (false, done),
                };
                for (&member, checkpoint) in lane.iter().zip(done) {
                    checkpoints[member] = checkpoint;
                    standings[member] = Standing::Healthy;
                }
                return Ok(applied);
            }
            Err(failure) => failure,
        };
        let Failure { member, error } = failure;
        if matches!(error, ProjectionError::Superseded(_)) || error.outage().is_some() {
            return Err(error);
        }
        match member {
            Some(member) => {
                standings[member] = self.set_aside(member, standings[member], &error).await
            }
            None if error.is_permanent() => {
                for &member in lane {
                    standings[member] = self.stop(member, &error).await;
                }
            }
            None => return Err(error),
        }
        Ok(true)
    }

    /// The standing of projection `member` after its batch failed with
    /// `error`: stopped when the failure is permanent, otherwise retried
    /// alone after a backoff that doubles with each failure in a row.
    async fn set_aside(
        &self,
        member: usize,
        standing: Standing,
        error: &ProjectionError,
    ) -> Standing {
        if error.is_permanent() {
            return self.stop(member, error).await;
        }
        let backoff = match standing {
            Standing::Retrying { backoff, .. } => (backoff * 2).min(self.settings.max_backoff),
            _ => FIRST_BACKOFF,
        };
        let projection = self.projections[member].name();
        tracing::warn!(projection, %error, retry_in = ?backoff, "projection batch failed");
        Standing::Retrying {
            at: Instant::now() + backoff,
            backoff,
        }
    }

    /// Each projection's checkpoint, in the runner's order.
    async fn load_checkpoints(&self) -> Result<Vec<Checkpoint>, ProjectionError> {
        let mut checkpoints = Vec::with_capacity(self.projections.len());
        for projection in self.projections.iter() {
            checkpoints.push(checkpoint::load(self.store.database(), projection.name()).await?);
        }
        Ok(checkpoints)
    }

    /// Applies the next batch after the lowest of `checkpoints` (those of
    /// `lane`'s projections, in its order) to `lane`'s projections, or marks
    /// them live when there is nothing new.
    async fn apply_next(
        &self,
        lease: &mut Lease,
        lane: &[usize],
        checkpoints: Vec<Checkpoint>,
    ) -> Result<Step, Failure> {
        if !self.settings.batch_delay.is_zero() {
            tokio::time::sleep(self.settings.batch_delay).await;
        }
        let recorded = self
            .store
            .read_all(lowest(&checkpoints), self.settings.batch_size)
            .await?;
        // A short batch, or one that reaches the newest head this node knows of.
        let known_head = *self.store.wakeups().borrow();
        let caught_up = recorded.len() < self.settings.batch_size as usize
            || recorded.last().is_some_and(|e| e.position >= known_head);
        let (events, covered, undecodable) = decode_prefix(recorded);
        let Some(last) = covered else {
            if let Some(error) = undecodable {
                return Err(error.into());
            }
            let live = self.mark_live(lease, checkpoints).await?;
            return Ok(Step::Idle(live));
        };
        let caught_up = caught_up && undecodable.is_none();
        let mut tx = lease.begin().await?;
        for (&member, checkpoint) in lane.iter().zip(&checkpoints) {
            let after = events.partition_point(|event| event.position <= checkpoint.position);
            if !events[after..].is_empty() {
                self.projections[member]
                    .apply(&mut tx, &events[after..])
                    .await
                    .map_err(|error| Failure {
                        member: Some(member),
                        error,
                    })?;
            }
        }
        self.crash_point();
        let target = |checkpoint: &Checkpoint| {
            (checkpoint.position < last).then(|| (last, next_state(caught_up, checkpoint.state)))
        };
        let moved: Vec<String> = checkpoints
            .iter()
            .filter(|checkpoint| target(checkpoint).is_some())
            .map(|checkpoint| checkpoint.name.clone())
            .collect();
        let done = checkpoint::advance(&mut tx, checkpoints, target).await?;
        if let ReadModelTx::Postgres(transaction) = &mut tx {
            for name in moved {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(PROJECTION_CHANNEL)
                    .bind(format!("{name}:{last}"))
                    .execute(&mut **transaction)
                    .await?;
            }
        }
        tx.commit().await?;
        self.publish(lane, &done);
        Ok(Step::Applied(done))
    }

    /// Tells the committed watches where `lane`'s projections now stand.
    fn publish(&self, lane: &[usize], done: &[Checkpoint]) {
        for (&member, checkpoint) in lane.iter().zip(done) {
            self.committed[member].send_if_modified(|at| {
                std::mem::replace(at, checkpoint.position) != checkpoint.position
            });
        }
    }

    /// Nothing new: moves every checkpoint that is not live yet to `live`.
    async fn mark_live(
        &self,
        lease: &mut Lease,
        checkpoints: Vec<Checkpoint>,
    ) -> Result<Vec<Checkpoint>, ProjectionError> {
        if checkpoints.iter().all(|c| c.state == State::Live) {
            return Ok(checkpoints);
        }
        let mut tx = lease.begin().await?;
        let live = checkpoint::advance(&mut tx, checkpoints, |checkpoint| {
            (checkpoint.state != State::Live).then_some((checkpoint.position, State::Live))
        })
        .await?;
        tx.commit().await?;
        Ok(live)
    }

    fn crash_point(&self) {
        let Some(crash_after) = self.settings.crash_after_batch else {
            return;
        };
        let applied = self.applied.fetch_add(1, Ordering::SeqCst) + 1;
        if applied == crash_after {
            tracing::error!(
                projection = self.name(),
                applied,
                "crashing on purpose after a batch, before its checkpoint"
            );
            std::process::abort();
        }
    }

    /// Waits until this node may run the projection.
    async fn lead(&self, shutdown: &mut watch::Receiver<bool>) -> Option<Lease> {
        let Database::Postgres(pool) = self.store.database() else {
            loop {
                match unled_lease(self.store.database()).await {
                    Ok(lease) => return Some(lease),
                    Err(error) => {
                        bomizzel_store::warn_unless_outage!(outage_of(&error), projection = self.name(), %error, "cannot open the projection's connection")
                    }
                }
                if sleep_or_shutdown(self.settings.poll_interval, shutdown).await {
                    return None;
                }
            }
        };
        let mut waiting_logged = false;
        loop {
            match try_lock(pool, self.projections.iter().map(|p| p.name())).await {
                Ok(Some(connection)) => {
                    tracing::info!(projection = self.name(), "this node runs the projection");
                    return Some(Lease::Leader(connection));
                }
                Ok(None) if !waiting_logged => {
                    tracing::info!(
                        projection = self.name(),
                        "another node runs the projection; standing by"
                    );
                    waiting_logged = true;
                }
                Ok(None) => {}
                Err(error) => {
                    bomizzel_store::warn_unless_outage!(outage_of(&error), projection = self.name(), %error, "cannot take leadership")
                }
            }
            if sleep_or_shutdown(self.settings.poll_interval, shutdown).await {
                return None;
            }
        }
    }

    /// Records that projection `member` stopped at the event `error` names.
    async fn stop(&self, member: usize, error: &ProjectionError) -> Standing {
        let projection = self.projections[member].name();
        tracing::error!(projection, %error, "projection stopped");
        let database = self.store.database();
        let recorded = match checkpoint::load(database, projection).await {
            Ok(checkpoint) => checkpoint::fail(database, &checkpoint, error).await,
            Err(load_error) => Err(load_error),
        };
        if let Err(record_error) = recorded {
            tracing::error!(projection, %record_error, "cannot record the failure");
        }
        Standing::Stopped
    }
}

/// Groups the projections due for a batch into lanes, each read and
/// applied in one transaction: the healthy ones by position, those within
/// a batch of the lane's lowest together (a batch read from there covers
/// them all, so they end it at one position); each one retrying, once its
/// pause is over, alone. Stopped ones sit out. The lane furthest behind
/// comes first.
fn lanes(
    checkpoints: &[Checkpoint],
    standings: &[Standing],
    batch_size: u32,
    now: Instant,
) -> Vec<Vec<usize>> {
    let mut healthy: Vec<usize> = (0..standings.len())
        .filter(|&m| matches!(standings[m], Standing::Healthy))
        .collect();
    healthy.sort_by_key(|&m| checkpoints[m].position);
    let mut lanes: Vec<Vec<usize>> = Vec::new();
    for member in healthy {
        let position = checkpoints[member].position;
        match lanes.last_mut() {
            Some(lane) if position < checkpoints[lane[0]].position + i64::from(batch_size) => {
                lane.push(member)
            }
            _ => lanes.push(vec![member]),
        }
    }
    let due = (0..standings.len())
        .filter(|&m| matches!(standings[m], Standing::Retrying { at, .. } if at <= now));
    lanes.extend(due.map(|member| vec![member]));
    lanes
}

/// When the soonest retry of a set-aside projection is due.
fn next_retry(standings: &[Standing]) -> Option<Instant> {
    standings
        .iter()
        .filter_map(|standing| match standing {
            Standing::Retrying { at, .. } => Some(*at),
            _ => None,
        })
        .min()
}

/// The position every checkpoint of a runner has reached.
fn lowest(checkpoints: &[Checkpoint]) -> i64 {
    checkpoints.iter().map(|c| c.position).min().unwrap_or(0)
}

/// A checkpoint's state after a batch: live once caught up; a rebuild stays
/// `rebuilding` until then.
fn next_state(caught_up: bool, state: State) -> State {
    match (caught_up, state) {
        (true, _) => State::Live,
        (false, State::Rebuilding) => State::Rebuilding,
        (false, _) => State::CatchingUp,
    }
}

/// Decodes events up to the first that cannot be decoded, so the good ones
/// before it are still applied and the projection then stops at the bad one.
/// Directory changes are passed over: they are not ticket events. Also
/// returns the last position covered (decoded or passed over), where the
/// checkpoint moves to.
fn decode_prefix(
    recorded: Vec<bomizzel_store::RecordedEvent>,
) -> (Vec<ProjectedEvent>, Option<i64>, Option<ProjectionError>) {
    let mut events = Vec::with_capacity(recorded.len());
    let mut covered = None;
    for event in recorded {
        let position = event.position;
        if is_directory_stream(&event.stream_id) {
            covered = Some(position);
            continue;
        }
        match ProjectedEvent::decode(event) {
            Ok(event) => events.push(event),
            Err(error) => return (events, covered, Some(error)),
        }
        covered = Some(position);
    }
    (events, covered, None)
}

/// A dedicated connection holding the advisory lock of every one of
/// `names`, or `None` when another node holds one of them. The locks go
/// with the connection.
async fn try_lock(
    pool: &sqlx::PgPool,
    names: impl Iterator<Item = &'static str>,
) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut connection = pool.acquire().await?.detach();
    for name in names {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(format!("bomizzel-projection:{name}"))
            .fetch_one(&mut connection)
            .await?;
        if !locked {
            return Ok(None);
        }
    }
    Ok(Some(connection))
}

impl Lease {
    async fn begin(&mut self) -> Result<ReadModelTx<'_>, sqlx::Error> {
        match self {
            Self::Shared(database) => db::begin(database).await,
            Self::Leader(connection) => Ok(ReadModelTx::Postgres(connection.begin().await?)),
            Self::SqliteWriter {
                connection,
                write_lock,
            } => {
                let write = Arc::clone(write_lock).lock_owned().await;
                let transaction =
                    sqlx::Connection::begin_with(connection, "BEGIN IMMEDIATE").await?;
                Ok(ReadModelTx::Sqlite(transaction, Some(write)))
            }
        }
    }
}

/// Sleeps for `duration`; true when shutdown was requested meanwhile.
async fn sleep_or_shutdown(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        _ = tokio::time::sleep(duration) => false,
        _ = shutdown.wait_for(|stop| *stop) => true,
    };
    stopped || *shutdown.borrow()
}
