//! Rebuild speed of the projections: how fast every read model is rebuilt
//! from a large log.
//!
//! For each backend: a fresh database with the directory of
//! [`crate::workload`] inserted, then `--events` events of realistic ticket
//! lifecycles (about one ticket per ten events, over the last 30 days)
//! appended through the store by `--appenders` concurrent lanes, one command
//! per append as the API does; the group-commit writer batches them. The log
//! is built first and not measured beyond a note of its speed.
//!
//! Then every projection of the registry from zero the way
//! `bomizzel projections rebuild all` does it: `checkpoint::reset` of each
//! (empty its tables, new generation), then one `Runner::together` reading
//! the log once and applying each batch of `--batch-size` events to every
//! projection in one transaction, timed from the first reset to the last
//! commit, with CPU use over that time (this process, which for SQLite is
//! the database too, and the run's PostgreSQL backends). Reported: events /
//! total time (how fast the whole set of read models comes back) and
//! events × projections / total time (events applied per second). With
//! `--each`, every projection is then also rebuilt alone, one after
//! another, for what each costs.
//!
//! Before the projections, the whole log is read and decoded once the way
//! a runner reads it (`read_all` in batches, `ProjectedEvent::decode`),
//! applying nothing: the part of each projection's time that is not its
//! own work.
//!
//! Verified: the head equals the events appended; afterwards every
//! projection's checkpoint equals the head and is `live`, and the tickets
//! read model holds one row per ticket opened. Rows per read-model table
//! are reported.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bomizzel_projections::checkpoint::{self, State};
use bomizzel_projections::{ProjectedEvent, REBUILD_BATCH_SIZE, Runner, RunnerSettings, registry};
use bomizzel_store::{Database, EventStore};
use clap::Args;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::append::database_pids;
use crate::backend::{Backend, BackendArgs, engine_version};
use crate::harness::{Load, Report, count_bar, on_each_backend, verdict_from_fields};
use crate::report::{CpuSampler, CpuUsage, Table};
use crate::workload::{Clock, Directory, Lane};

/// Days of history the generated tickets are spread over.
const HISTORY_DAYS: i64 = 30;

#[derive(Debug, Clone, Args)]
pub struct RebuildArgs {
    #[command(flatten)]
    backends: BackendArgs,
    /// Events to generate before rebuilding.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Events per projection transaction (the rebuild's batch size).
    #[arg(long, default_value_t = REBUILD_BATCH_SIZE)]
    batch_size: u32,
    /// Also rebuild each projection alone afterwards, for its own cost.
    #[arg(long)]
    each: bool,
    /// Concurrent lanes appending the generated log.
    #[arg(long, default_value_t = 512)]
    appenders: usize,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/bench/rebuild.json")]
    out: PathBuf,
}

#[derive(Debug, Serialize)]
struct Config {
    backends: Vec<Backend>,
    events: u64,
    batch_size: u32,
    appenders: usize,
    history_days: i64,
}

verdict_from_fields!(RunResult);

#[derive(Debug, Serialize)]
struct RunResult {
    backend: Backend,
    engine: String,
    load: Load,
    generation: Generation,
    /// Reading and decoding the log alone, no projection.
    scan: ProjectionResult,
    /// Every projection together, reading the log once.
    all: ProjectionResult,
    /// Each projection alone (`--each`).
    projections: Vec<ProjectionResult>,
    /// From the first reset to the last commit of the rebuild of all.
    total_secs: f64,
    /// events × projections / total time.
    applied_events_per_sec: f64,
    /// events / total time.
    events_per_sec: f64,
    head: i64,
    verified: bool,
    /// What did not verify, if anything.
    problems: Vec<String>,
}

/// How the log was built.
#[derive(Debug, Serialize)]
struct Generation {
    events: u64,
    tickets: u64,
    secs: f64,
    events_per_sec: f64,
    cpu: Option<CpuUsage>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ProjectionResult {
    pub(crate) name: String,
    pub(crate) secs: f64,
    pub(crate) events_per_sec: f64,
    /// Transactions (for the scan: reads) of up to `batch_size` events.
    transactions: u64,
    cpu: Option<CpuUsage>,
    /// Rows per table of the read model after the rebuild.
    rows: BTreeMap<String, i64>,
}

pub async fn run(args: RebuildArgs) -> Result<()> {
    let runs = on_each_backend("rebuild", &args.backends, |backend, url| {
        run_once(&args, backend, url)
    })
    .await?;
    println!();
    print!("{}", projection_table(&runs));
    println!();
    print!("{}", total_table(&runs));
    let config = Config {
        backends: args.backends.backends(),
        events: args.events,
        batch_size: args.batch_size,
        appenders: args.appenders,
        history_days: HISTORY_DAYS,
    };
    Report::new("rebuild", config, runs).conclude(&args.out)
}

async fn run_once(args: &RebuildArgs, backend: Backend, url: String) -> Result<RunResult> {
    let store = EventStore::open(&url)
        .await
        .with_context(|| format!("cannot open the {backend} store"))?;
    let engine = engine_version(store.database()).await?;
    let directory = Arc::new(Directory::standard());
    directory.insert(store.database()).await?;
    let load = Load::start();

    let generation = generate(&store, &directory, args, backend).await?;
    let head = store.head().await?;
    let mut problems = Vec::new();
    if u64::try_from(head).ok() != Some(generation.events) {
        problems.push(format!(
            "head {head} after appending {} events",
            generation.events
        ));
    }
    println!(
        "{backend:>8}: generated {} events of {} tickets in {:.1} s ({:.0} events/s)",
        generation.events, generation.tickets, generation.secs, generation.events_per_sec
    );

    let scan = scan(&store, args.batch_size).await?;
    println!(
        "{backend:>8}: read and decoded the log in {:.1} s ({:.0} events/s)",
        scan.secs, scan.events_per_sec
    );

    let all = rebuild_together(&store, registry::all(), args.batch_size, backend, head).await?;
    println!(
        "{backend:>8}: rebuilt all together in {:.1} s ({:.0} events/s)",
        all.secs, all.events_per_sec
    );
    problems.extend(verify(&store, head, &generation, &all).await?);
    let mut projections = Vec::new();
    for projection in registry::all().into_iter().filter(|_| args.each) {
        let result =
            rebuild_together(&store, vec![projection], args.batch_size, backend, head).await?;
        println!(
            "{backend:>8}: rebuilt {:<14} in {:>6.1} s ({:>7.0} events/s)",
            result.name, result.secs, result.events_per_sec
        );
        projections.push(result);
    }

    let events = generation.events as f64;
    let total = all.secs;
    Ok(RunResult {
        backend,
        engine,
        load: load.finish(),
        generation,
        scan,
        total_secs: total,
        applied_events_per_sec: events * registry::all().len() as f64 / total,
        events_per_sec: events / total,
        all,
        projections,
        head,
        verified: problems.is_empty(),
        problems,
    })
}

/// Appends `args.events` events of ticket lifecycles with
/// `args.appenders` lanes.
async fn generate(
    store: &EventStore,
    directory: &Arc<Directory>,
    args: &RebuildArgs,
    backend: Backend,
) -> Result<Generation> {
    let budget = Arc::new(AtomicU64::new(args.events));
    let appended = Arc::new(AtomicU64::new(0));
    let clock = Clock::past_days(HISTORY_DAYS);
    let cpu = CpuSampler::start(database_pids(store.database()).await);
    let started = Instant::now();
    let mut lanes = JoinSet::new();
    for index in 0..args.appenders {
        let store = store.clone();
        let budget = Arc::clone(&budget);
        let appended = Arc::clone(&appended);
        let mut lane = Lane::new(Arc::clone(directory), clock, index as u64);
        lanes.spawn(async move {
            while budget
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                lane.append_next(&store).await?;
                appended.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(lane.tickets_opened())
        });
    }
    let progress = count_bar(format!("{backend:>8} generating"), args.events);
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut tickets = 0;
    loop {
        tokio::select! {
            joined = lanes.join_next() => match joined {
                Some(outcome) => tickets += outcome.context("a lane panicked")??,
                None => break,
            },
            _ = ticker.tick() => progress.set_position(appended.load(Ordering::Relaxed)),
        }
    }
    progress.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let events = appended.load(Ordering::Relaxed);
    Ok(Generation {
        events,
        tickets,
        secs,
        events_per_sec: events as f64 / secs,
        cpu: cpu.finish(),
    })
}

/// Reads and decodes the whole log in batches as a runner does.
async fn scan(store: &EventStore, batch_size: u32) -> Result<ProjectionResult> {
    let cpu = CpuSampler::start(database_pids(store.database()).await);
    let started = Instant::now();
    let mut after = 0;
    let mut transactions = 0;
    loop {
        let batch = store.read_all(after, batch_size).await?;
        let Some(last) = batch.last().map(|event| event.position) else {
            break;
        };
        transactions += 1;
        for event in batch {
            ProjectedEvent::decode(event)?;
        }
        after = last;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(ProjectionResult {
        name: "(read+decode)".to_owned(),
        secs,
        events_per_sec: after as f64 / secs,
        transactions,
        cpu: cpu.finish(),
        rows: BTreeMap::new(),
    })
}

/// Rebuilds `projections` from zero with one runner, reading the log once.
pub(crate) async fn rebuild_together(
    store: &EventStore,
    projections: Vec<Arc<dyn bomizzel_projections::Projection>>,
    batch_size: u32,
    backend: Backend,
    head: i64,
) -> Result<ProjectionResult> {
    let tables: Vec<&str> = projections
        .iter()
        .flat_map(|p| p.tables())
        .copied()
        .collect();
    let settings = RunnerSettings {
        batch_size,
        ..RunnerSettings::default()
    };
    let cpu = CpuSampler::start(database_pids(store.database()).await);
    let started = Instant::now();
    for projection in &projections {
        checkpoint::reset(store.database(), projection.as_ref())
            .await
            .with_context(|| format!("cannot reset {}", projection.name()))?;
    }
    let runner = Runner::together(store.clone(), projections, settings);
    let name = runner.name().to_owned();
    let progress = count_bar(format!("{backend:>8} {name:<14}"), head.max(0) as u64);
    let mut transactions = 0;
    runner
        .catch_up(|position, _| {
            transactions += 1;
            progress.set_position(position.max(0) as u64);
        })
        .await
        .with_context(|| format!("rebuild of {name} stopped"))?;
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu.finish();
    progress.finish_and_clear();
    let mut rows = BTreeMap::new();
    for table in tables {
        rows.insert(table.to_owned(), count_rows(store.database(), table).await?);
    }
    Ok(ProjectionResult {
        name,
        secs,
        events_per_sec: head as f64 / secs,
        transactions,
        cpu,
        rows,
    })
}

/// Every checkpoint at the head and live; one tickets row per ticket.
async fn verify(
    store: &EventStore,
    head: i64,
    generation: &Generation,
    all: &ProjectionResult,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let checkpoints = checkpoint::all(store.database()).await?;
    for name in registry::names() {
        match checkpoints.iter().find(|c| c.name == name) {
            Some(c) if c.position == head && c.state == State::Live => {}
            Some(c) => problems.push(format!(
                "{} checkpoint at {} ({}), head {head}",
                c.name, c.position, c.state
            )),
            None => problems.push(format!("{name} has no checkpoint")),
        }
    }
    let tickets = all.rows.get("tickets").copied();
    if tickets != i64::try_from(generation.tickets).ok() {
        problems.push(format!(
            "the tickets read model has {tickets:?} rows for {} tickets opened",
            generation.tickets
        ));
    }
    Ok(problems)
}

async fn count_rows(database: &Database, table: &str) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    Ok(bomizzel_projections::on_pool!(database, pool => {
        sqlx::query_scalar(&sql).fetch_one(pool).await?
    }))
}

/// One row per projection and backend.
fn projection_table(runs: &[RunResult]) -> Table {
    let mut table = Table::new(&[
        "backend",
        "projection",
        "seconds",
        "events/s",
        "transactions",
        "bench CPU",
        "pg backends",
        "CPU s",
        "other",
        "rows",
    ]);
    for run in runs {
        let rows = [&run.scan, &run.all].into_iter().chain(&run.projections);
        for projection in rows {
            let cpu = |f: fn(&CpuUsage) -> f64| {
                projection
                    .cpu
                    .as_ref()
                    .map_or("-".to_owned(), |c| format!("{:.2}", f(c)))
            };
            table.row(vec![
                run.backend.to_string(),
                projection.name.clone(),
                format!("{:.1}", projection.secs),
                format!("{:.0}", projection.events_per_sec),
                projection.transactions.to_string(),
                cpu(|c| c.bench_process_cores),
                match run.backend {
                    Backend::Postgres => cpu(|c| c.database_cores),
                    Backend::Sqlite => "-".to_owned(),
                },
                projection.cpu.as_ref().map_or("-".to_owned(), |c| {
                    format!("{:.1}", cpu_seconds(c, projection.secs))
                }),
                cpu(|c| c.other_cores),
                projection.rows.values().sum::<i64>().to_string(),
            ]);
        }
    }
    table
}

/// CPU time the rebuild cost: this process and the run's PostgreSQL
/// backends. On a machine shared with other work this is the figure that
/// compares across runs; seconds follow from the cores it was given.
fn cpu_seconds(cpu: &CpuUsage, secs: f64) -> f64 {
    (cpu.bench_process_cores + cpu.database_cores) * secs
}

/// One row per backend: the whole rebuild, and how the log was built.
fn total_table(runs: &[RunResult]) -> Table {
    let mut table = Table::new(&[
        "backend",
        "events",
        "tickets",
        "generated/s",
        "rebuild s",
        "events x proj/s",
        "events/s",
        "load 1m",
        "verified",
    ]);
    for run in runs {
        table.row(vec![
            run.backend.to_string(),
            run.generation.events.to_string(),
            run.generation.tickets.to_string(),
            format!("{:.0}", run.generation.events_per_sec),
            format!("{:.1}", run.total_secs),
            format!("{:.0}", run.applied_events_per_sec),
            format!("{:.0}", run.events_per_sec),
            run.load.brief(),
            if run.verified { "yes" } else { "NO" }.to_owned(),
        ]);
    }
    table
}
