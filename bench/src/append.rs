//! Append throughput and latency of the event store.
//!
//! For each backend and each concurrency level N: a fresh database, an
//! `EventStore` on it, and N appender tasks, each appending to its own ticket
//! stream one event per command (`ExpectedVersion::Exact(v)` with v
//! increasing, so every append is also a version check) with a ~300-byte
//! payload shaped like `CommentAdded` / `TicketStatusChanged`. Nothing else
//! runs: this measures the group-commit writer with N commands in flight.
//! By default an appender keeps its stream for the whole run, so streams grow
//! to thousands of events; `--stream-length K` moves it to a new ticket
//! every K events, as real tickets (tens of events) would.
//!
//! Appends completing during the warm-up are not measured. Each append's
//! latency (the `store.append` call, request already built) goes into an
//! HdrHistogram; throughput is the appends completed in the measured window
//! divided by its length. Appends in flight when the window closes still
//! finish and count as acknowledged.
//!
//! After each run the store's head must equal the number of acknowledged
//! events (nothing lost, nothing extra), or the benchmark fails. The events
//! of one group-commit batch share their `recorded_at`, which gives the batch
//! sizes of the measured window. CPU use over the window comes from `/proc`:
//! this process (the client, and for SQLite the database too) and its
//! busiest threads, the run's PostgreSQL backends, and everything else on
//! the machine. CPU µs per event stays meaningful when other work competes
//! for the CPUs; events/s does not.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bomizzel_store::{
    AppendRequest, Chaining, Database, EventStore, ExpectedVersion, Metadata, NewEvent,
};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::backend::{Backend, BackendArgs, FreshDatabase, engine_version};
use crate::report::{CpuSampler, CpuUsage, Latency, LatencySummary, Machine, Table, write_json};

/// Events per append command.
const EVENTS_PER_APPEND: u64 = 1;

#[derive(Debug, Clone, Args)]
pub struct AppendArgs {
    #[command(flatten)]
    backends: BackendArgs,
    /// Length of the measured window of each run, in seconds.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Warm-up before the measured window, in seconds.
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// Numbers of concurrent appenders, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    concurrency: Vec<usize>,
    /// Events per ticket stream before an appender moves on to a new
    /// ticket; 0 keeps one stream per appender for the whole run.
    #[arg(long, default_value_t = 0)]
    stream_length: u64,
    /// Whether the writer computes the hash chains, one run each, in this
    /// order: `on,off` measures what hashing costs in one invocation
    /// (`on,off,on,off` alternates, against drift on a busy machine).
    #[arg(long, value_delimiter = ',', default_value = "on")]
    hashing: Vec<Hashing>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/bench/append.json")]
    out: PathBuf,
}

/// Whether a run's store hashes its appends ([`Chaining`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Hashing {
    On,
    Off,
}

impl Hashing {
    fn chaining(self) -> Chaining {
        match self {
            Self::On => Chaining::Hashed,
            Self::Off => Chaining::Unhashed,
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    benchmark: &'static str,
    machine: Machine,
    config: Config,
    runs: Vec<RunResult>,
}

#[derive(Debug, Serialize)]
struct Config {
    backends: Vec<Backend>,
    concurrency: Vec<usize>,
    warmup_secs: u64,
    duration_secs: u64,
    events_per_append: u64,
    /// 0: one stream per appender for the whole run.
    stream_length: u64,
    payload_bytes: Vec<usize>,
    hashing: Vec<Hashing>,
}

#[derive(Debug, Clone, Serialize)]
struct RunResult {
    backend: Backend,
    engine: String,
    appenders: usize,
    hashing: Hashing,
    measured_secs: f64,
    /// Events acknowledged within the measured window.
    measured_events: u64,
    events_per_sec: f64,
    latency: LatencySummary,
    /// Every acknowledged append, warm-up and stragglers included.
    acknowledged_appends: u64,
    /// The store's head after the run.
    head: i64,
    /// `head == acknowledged_appends * events_per_append`.
    verified: bool,
    batches: Option<BatchStats>,
    cpu: Option<CpuUsage>,
    /// Events acknowledged in each second of the measured window.
    timeline: Vec<u64>,
}

/// Group-commit batches of the measured window, told apart by `recorded_at`.
#[derive(Debug, Clone, Serialize)]
struct BatchStats {
    batches: i64,
    events: i64,
    mean_events: f64,
    max_events: i64,
    batches_per_sec: f64,
}

pub async fn run(args: AppendArgs) -> Result<()> {
    ensure!(args.duration_secs > 0, "--duration-secs must be at least 1");
    ensure!(
        !args.concurrency.is_empty() && !args.concurrency.contains(&0),
        "--concurrency needs appender counts of at least 1"
    );
    let backends = args.backends.backends();
    let mut runs = Vec::new();
    let mut failure = None;
    'all: for &backend in &backends {
        for &appenders in &args.concurrency {
            for &hashing in &args.hashing {
                match run_fresh(&args, backend, appenders, hashing).await {
                    Ok(result) => {
                        let verified = result.verified;
                        runs.push(result);
                        if !verified {
                            failure = Some(anyhow::anyhow!(
                                "{backend} with {appenders} appenders lost or invented events"
                            ));
                        }
                    }
                    Err(error) => {
                        failure = Some(error.context(format!("{backend}, {appenders} appenders")));
                        break 'all;
                    }
                }
            }
        }
    }
    println!();
    println!("{}", table(&runs));
    println!("{}", cpu_table(&runs));
    let report = Report {
        benchmark: "append",
        machine: Machine::describe(),
        config: Config {
            backends,
            concurrency: args.concurrency.clone(),
            warmup_secs: args.warmup_secs,
            duration_secs: args.duration_secs,
            events_per_append: EVENTS_PER_APPEND,
            stream_length: args.stream_length,
            payload_bytes: Payloads::new(Uuid::nil()).sizes(),
            hashing: args.hashing.clone(),
        },
        runs,
    };
    write_json(&args.out, &report)?;
    println!("wrote {}", args.out.display());
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The headline figures, one row per run.
fn table(runs: &[RunResult]) -> Table {
    let mut table = Table::new(&[
        "backend",
        "appenders",
        "hashing",
        "events/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "total events",
        "verified",
    ]);
    for run in runs {
        table.row(vec![
            run.backend.to_string(),
            run.appenders.to_string(),
            format!("{:?}", run.hashing).to_lowercase(),
            format!("{:.0}", run.events_per_sec),
            format!("{:.2}", run.latency.p50_ms),
            format!("{:.2}", run.latency.p99_ms),
            format!("{:.2}", run.latency.max_ms),
            run.measured_events.to_string(),
            if run.verified { "yes" } else { "NO" }.to_owned(),
        ]);
    }
    table
}

/// Where the time went: group-commit batches and CPU use (in cores) over
/// the measured window. "other" is everything else on the machine: when it
/// is high the figures above are disturbed.
fn cpu_table(runs: &[RunResult]) -> Table {
    let mut table = Table::new(&[
        "backend",
        "appenders",
        "batches/s",
        "events/batch",
        "bench CPU",
        "busiest thread",
        "pg backends",
        "other",
        "iowait",
        "CPU µs/event",
    ]);
    let dash = || "-".to_owned();
    for run in runs {
        let cpu = |f: fn(&CpuUsage) -> f64| {
            run.cpu
                .as_ref()
                .map_or_else(dash, |c| format!("{:.2}", f(c)))
        };
        table.row(vec![
            run.backend.to_string(),
            run.appenders.to_string(),
            run.batches
                .as_ref()
                .map_or_else(dash, |b| format!("{:.0}", b.batches_per_sec)),
            run.batches
                .as_ref()
                .map_or_else(dash, |b| format!("{:.1}", b.mean_events)),
            cpu(|c| c.bench_process_cores),
            run.cpu
                .as_ref()
                .and_then(|c| c.bench_threads.first())
                .map_or_else(dash, |t| format!("{} {:.2}", t.name, t.cores)),
            match run.backend {
                Backend::Postgres => cpu(|c| c.database_cores),
                Backend::Sqlite => dash(),
            },
            cpu(|c| c.other_cores),
            cpu(|c| c.system_iowait_cores),
            run.cpu.as_ref().map_or_else(dash, |c| {
                let cores = c.bench_process_cores + c.database_cores;
                format!("{:.0}", cores * 1e6 / run.events_per_sec.max(1.0))
            }),
        ]);
    }
    table
}

/// One run on a database of its own, removed afterwards whatever happens
/// (Ctrl-C included).
async fn run_fresh(
    args: &AppendArgs,
    backend: Backend,
    appenders: usize,
    hashing: Hashing,
) -> Result<RunResult> {
    let database = FreshDatabase::create(backend, &args.backends.postgres_url).await?;
    let outcome = tokio::select! {
        outcome = run_once(args, backend, appenders, hashing, database.url()) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let removed = database.remove().await;
    let result = outcome?;
    removed?;
    Ok(result)
}

async fn run_once(
    args: &AppendArgs,
    backend: Backend,
    appenders: usize,
    hashing: Hashing,
    url: &str,
) -> Result<RunResult> {
    let store = EventStore::open_with(url, hashing.chaining())
        .await
        .with_context(|| format!("cannot open the {backend} store"))?;
    let engine = engine_version(store.database()).await?;

    let warmup = Duration::from_secs(args.warmup_secs);
    let duration = Duration::from_secs(args.duration_secs);
    let start = Instant::now();
    let clock = Clock {
        start,
        warmup_end: start + warmup,
        measure_end: start + warmup + duration,
    };
    let acknowledged = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..appenders)
        .map(|i| {
            tokio::spawn(appender(
                store.clone(),
                i,
                args.stream_length,
                clock,
                Arc::clone(&acknowledged),
            ))
        })
        .collect();

    let progress = progress_bar(backend, appenders, warmup + duration);
    let ticker = tokio::time::interval(Duration::from_millis(250));
    let window = watch_window(&store, &progress, ticker, clock, &acknowledged).await;
    progress.finish_and_clear();

    let mut latency = Latency::default();
    let mut measured = 0;
    let mut errors = Vec::new();
    for task in tasks {
        match task.await.context("an appender panicked")? {
            Ok(outcome) => {
                latency.merge(&outcome.latency);
                measured += outcome.measured;
            }
            Err(error) => errors.push(error),
        }
    }
    if let Some(error) = errors.into_iter().next() {
        return Err(error.context("an append failed"));
    }

    let acknowledged = acknowledged.load(Ordering::SeqCst);
    let head = store.head().await?;
    let verified = u64::try_from(head).ok() == Some(acknowledged * EVENTS_PER_APPEND);
    let batches = batch_stats(store.database(), window.head_before, window.head_after)
        .await
        .map(|mut stats| {
            stats.batches_per_sec = stats.batches as f64 / window.elapsed.as_secs_f64();
            stats
        })
        .ok();
    let measured_secs = duration.as_secs_f64();
    let result = RunResult {
        backend,
        engine,
        appenders,
        hashing,
        measured_secs,
        measured_events: measured * EVENTS_PER_APPEND,
        events_per_sec: (measured * EVENTS_PER_APPEND) as f64 / measured_secs,
        latency: latency.summary(),
        acknowledged_appends: acknowledged,
        head,
        verified,
        batches,
        cpu: window.cpu,
        timeline: window.timeline,
    };
    println!(
        "{backend:>8} {appenders:>5} appenders: {:>8.0} events/s  p50 {:.2} ms  p99 {:.2} ms  \
         head {head} / acknowledged {acknowledged}: {}",
        result.events_per_sec,
        result.latency.p50_ms,
        result.latency.p99_ms,
        if verified { "verified" } else { "MISMATCH" },
    );
    Ok(result)
}

#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
    warmup_end: Instant,
    measure_end: Instant,
}

/// What one appender saw.
#[derive(Debug)]
struct AppenderOutcome {
    latency: Latency,
    /// Appends completed within the measured window.
    measured: u64,
}

async fn appender(
    store: EventStore,
    index: usize,
    stream_length: u64,
    clock: Clock,
    acknowledged: Arc<AtomicU64>,
) -> Result<AppenderOutcome> {
    let actor = format!("agent-{index}");
    let mut ticket_id = Uuid::new_v4();
    let mut stream_id = format!("ticket-{ticket_id}");
    let mut payloads = Payloads::new(ticket_id);
    let mut latency = Latency::default();
    let mut measured = 0;
    let mut version = 0;
    loop {
        if stream_length > 0 && version >= stream_length {
            ticket_id = Uuid::new_v4();
            stream_id = format!("ticket-{ticket_id}");
            payloads = Payloads::new(ticket_id);
            version = 0;
        }
        let request = AppendRequest {
            stream_id: stream_id.clone(),
            expected_version: ExpectedVersion::Exact(version),
            events: vec![payloads.event(version)],
            metadata: Metadata::new(actor.as_str(), "agent"),
        };
        let started = Instant::now();
        if started >= clock.measure_end {
            break;
        }
        let appended = store
            .append(request)
            .await
            .with_context(|| format!("append to {stream_id} at version {version}"))?;
        let done = Instant::now();
        version += EVENTS_PER_APPEND;
        ensure!(
            appended.version == version && !appended.duplicate,
            "{stream_id}: expected version {version}, store answered {appended:?}"
        );
        acknowledged.fetch_add(1, Ordering::Relaxed);
        if done >= clock.warmup_end && done < clock.measure_end {
            latency.record(done - started);
            measured += 1;
        }
    }
    Ok(AppenderOutcome { latency, measured })
}

/// The two event shapes appenders alternate between, as the domain would
/// store them (payload without the type tag).
#[derive(Debug)]
struct Payloads {
    comment: Value,
    status_changed: Value,
}

impl Payloads {
    fn new(ticket_id: Uuid) -> Self {
        let route = |payload: &mut Value| {
            let fields = payload.as_object_mut().expect("an object");
            fields.insert("company_id".into(), json!("company-0042"));
            fields.insert("requester_id".into(), json!("customer-7f3a9c"));
            fields.insert("queue_id".into(), json!("queue-billing"));
            fields.insert("team_id".into(), json!("team-tier-1"));
            fields.insert("assignee_id".into(), json!("agent-0017"));
        };
        let mut comment = json!({
            "ticket_id": ticket_id,
            "comment_id": Uuid::nil(),
            "author_id": "agent-0017",
            "body": "Reset the billing contact; the next invoice goes there.",
            "internal": false,
        });
        route(&mut comment);
        let mut status_changed = json!({
            "ticket_id": ticket_id,
            "from": "in_progress",
            "to": "waiting",
        });
        route(&mut status_changed);
        Self {
            comment,
            status_changed,
        }
    }

    /// The event for stream version `version + 1`: mostly comments, a status
    /// change every fourth.
    fn event(&self, version: u64) -> NewEvent {
        if version % 4 == 3 {
            NewEvent {
                event_type: "TicketStatusChanged".into(),
                schema_version: 1,
                payload: self.status_changed.clone(),
            }
        } else {
            let mut payload = self.comment.clone();
            payload["comment_id"] = json!(Uuid::now_v7());
            NewEvent {
                event_type: "CommentAdded".into(),
                schema_version: 1,
                payload,
            }
        }
    }

    fn sizes(&self) -> Vec<usize> {
        [&self.comment, &self.status_changed]
            .iter()
            .map(|p| p.to_string().len())
            .collect()
    }
}

/// What was observed at the edges of the measured window.
#[derive(Debug)]
struct Window {
    head_before: i64,
    head_after: i64,
    elapsed: Duration,
    cpu: Option<CpuUsage>,
    timeline: Vec<u64>,
}

/// Updates the progress bar until the run ends, sampling the head and CPU
/// counters when the measured window opens and closes.
async fn watch_window(
    store: &EventStore,
    progress: &ProgressBar,
    mut ticker: tokio::time::Interval,
    clock: Clock,
    acknowledged: &AtomicU64,
) -> Window {
    let wakeups = store.wakeups();
    let head = || *wakeups.borrow();
    let mut last = (Instant::now(), acknowledged.load(Ordering::Relaxed));
    let mut tick = |phase: &str| {
        let now = Instant::now();
        let count = acknowledged.load(Ordering::Relaxed);
        let rate = (count - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-3);
        last = (now, count);
        progress.set_position(now.duration_since(clock.start).as_millis() as u64);
        progress.set_message(format!(
            "{phase}  {rate:>8.0} events/s  {count} acknowledged"
        ));
    };
    while Instant::now() < clock.warmup_end {
        tokio::select! {
            _ = ticker.tick() => tick("warm-up"),
            _ = tokio::time::sleep_until(clock.warmup_end.into()) => {}
        }
    }
    let cpu = CpuSampler::start(database_pids(store.database()).await);
    let head_before = head();
    let opened = Instant::now();
    let mut timeline = Vec::new();
    let mut counted = acknowledged.load(Ordering::Relaxed);
    let second = Duration::from_secs(1);
    let mut seconds = tokio::time::interval_at((clock.warmup_end + second).into(), second);
    while Instant::now() < clock.measure_end {
        tokio::select! {
            _ = ticker.tick() => tick("measuring"),
            _ = seconds.tick() => {
                let count = acknowledged.load(Ordering::Relaxed);
                timeline.push(count - counted);
                counted = count;
            }
            _ = tokio::time::sleep_until(clock.measure_end.into()) => {}
        }
    }
    Window {
        head_before,
        head_after: head(),
        elapsed: opened.elapsed(),
        cpu: cpu.finish(),
        timeline,
    }
}

fn progress_bar(backend: Backend, appenders: usize, total: Duration) -> ProgressBar {
    let progress = ProgressBar::new(total.as_millis() as u64);
    progress.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {elapsed:>3} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    progress.set_prefix(format!("{backend:>8} {appenders:>5} appenders"));
    progress
}

/// The PostgreSQL backends serving this run's database (the store's pool
/// and listener), whose CPU use is the database's share of the run.
pub(crate) async fn database_pids(database: &Database) -> Vec<u32> {
    let Database::Postgres(pool) = database else {
        return Vec::new();
    };
    sqlx::query_scalar::<_, i32>(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_default()
    .into_iter()
    .filter_map(|pid| u32::try_from(pid).ok())
    .collect()
}

/// Sizes of the batches that wrote positions `(after, until]`.
async fn batch_stats(database: &Database, after: i64, until: i64) -> Result<BatchStats> {
    const SQL: &str = "SELECT COUNT(*), COALESCE(SUM(n), 0), COALESCE(MAX(n), 0) FROM \
         (SELECT COUNT(*) AS n FROM events WHERE position > $1 AND position <= $2 \
          GROUP BY recorded_at) AS batches";
    let (batches, events, max_events): (i64, i64, i64) = match database {
        Database::Sqlite(pool) => {
            sqlx::query_as(&SQL.replace('$', "?"))
                .bind(after)
                .bind(until)
                .fetch_one(pool)
                .await?
        }
        Database::Postgres(pool) => {
            sqlx::query_as(&SQL.replace("SUM(n)", "SUM(n)::bigint"))
                .bind(after)
                .bind(until)
                .fetch_one(pool)
                .await?
        }
    };
    if batches == 0 {
        bail!("no batches in the measured window");
    }
    Ok(BatchStats {
        batches,
        events,
        mean_events: events as f64 / batches as f64,
        max_events,
        batches_per_sec: 0.0,
    })
}
