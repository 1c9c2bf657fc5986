//! Projection lag: how long after an append returns each read model has
//! it, with every projection following the log live.
//!
//! For each backend: a fresh database with the directory of
//! [`crate::workload`] inserted, the registry's projections (or only those
//! named by `--projections`, to see one without the others) run live with
//! default settings as `bomizzel serve` runs them: one runner for all on
//! SQLite, one per projection on PostgreSQL, or as `--runners` says, to
//! compare the two on either backend; and commands
//! of the workload's ticket lifecycles appended on an open-loop schedule of
//! `--rate` per second: a pacer releases the i-th command at
//! `start + i / rate` whether or not earlier ones have finished, and one of
//! `--lanes` concurrent lanes (each working through its own tickets) sends
//! it. A lane busy for longer than the schedule allows delays a command;
//! the report counts those left unsent at the end and the rate achieved.
//!
//! For each append the instant `store.append` returned is kept with its
//! position; for each projection a watcher records the instant its
//! committed watch (`Runner::committed_by`) reached each position. The lag of an append in a
//! projection is the time from the append's return to the first commit at
//! or past its position (zero when the projection committed it before the
//! append's answer reached the caller). Appends returning in the warm-up
//! are not measured. p50/p99/max per projection; the append latency is
//! reported too.
//!
//! Verified: every projection's committed watch and stored checkpoint reach
//! the head once the schedule ends (within 30 s), and the head equals the
//! appends acknowledged.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bomizzel_projections::checkpoint::{self, State};
use bomizzel_projections::{Grouping, Projection, RunnerSettings, live_runners, registry};
use bomizzel_store::EventStore;
use clap::Args;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::append::database_pids;
use crate::backend::{Backend, BackendArgs, engine_version};
use crate::harness::{Load, Report, Window, on_each_backend, time_bar, verdict_from_fields};
use crate::report::{CpuSampler, CpuUsage, Latency, LatencySummary, Table};
use crate::workload::{Clock, Directory, Lane};

/// Longest wait for the projections to reach the head after the schedule.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The p99 lag every projection should stay within.
const TARGET_P99_MS: f64 = 20.0;

#[derive(Debug, Clone, Args)]
pub struct LagArgs {
    #[command(flatten)]
    backends: BackendArgs,
    /// Commands appended per second (open loop).
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Warm-up before the measured window, in seconds.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Concurrent lanes sending the scheduled commands.
    #[arg(long, default_value_t = 64)]
    lanes: usize,
    /// Run only these projections (default: all), to see one's lag without
    /// the others competing for the database.
    #[arg(long, value_delimiter = ',')]
    projections: Vec<String>,
    /// How the projections share runners (default: as `bomizzel serve` on
    /// the backend, together on SQLite, separate on PostgreSQL).
    #[arg(long, value_enum)]
    runners: Option<Runners>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/bench/lag.json")]
    out: PathBuf,
}

/// `--runners`: [`Grouping`] on the command line.
#[derive(Debug, Clone, Copy, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
enum Runners {
    /// One runner for all projections.
    Together,
    /// One runner per projection.
    Separate,
}

impl From<Runners> for Grouping {
    fn from(runners: Runners) -> Self {
        match runners {
            Runners::Together => Self::Together,
            Runners::Separate => Self::Separate,
        }
    }
}

#[derive(Debug, Serialize)]
struct Config {
    backends: Vec<Backend>,
    rate: u32,
    warmup_secs: u64,
    duration_secs: u64,
    lanes: usize,
    projections: Vec<&'static str>,
    /// Unset: as `bomizzel serve` runs them on each backend.
    runners: Option<Runners>,
    runner_batch_size: u32,
    target_p99_ms: f64,
}

verdict_from_fields!(RunResult);

#[derive(Debug, Serialize)]
struct RunResult {
    backend: Backend,
    engine: String,
    load: Load,
    /// Appends returning within the measured window.
    measured_appends: u64,
    achieved_rate: f64,
    /// Scheduled commands no lane had sent when the schedule ended.
    unsent: u64,
    append_latency: LatencySummary,
    projections: Vec<ProjectionLag>,
    head: i64,
    verified: bool,
    problems: Vec<String>,
    cpu: Option<CpuUsage>,
}

#[derive(Debug, Serialize)]
struct ProjectionLag {
    name: &'static str,
    lag: LatencySummary,
    /// Commits the watcher saw (a commit covers a batch of events).
    commits: usize,
}

/// One acknowledged append.
#[derive(Debug, Clone, Copy)]
struct Acked {
    position: i64,
    sent: Instant,
    returned: Instant,
}

/// What a projection's watcher saw: positions committed and when, in order.
type Commits = Vec<(i64, Instant)>;

pub async fn run(args: LagArgs) -> Result<()> {
    let chosen = chosen(&args.projections)?;
    let runs = on_each_backend("lag", &args.backends, |backend, url| {
        run_once(&args, &chosen, backend, url)
    })
    .await?;
    println!();
    print!("{}", table(&runs));
    let config = Config {
        backends: args.backends.backends(),
        rate: args.rate,
        warmup_secs: args.warmup_secs,
        duration_secs: args.duration_secs,
        lanes: args.lanes,
        projections: chosen.iter().map(|p| p.name()).collect(),
        runners: args.runners,
        runner_batch_size: RunnerSettings::default().batch_size,
        target_p99_ms: TARGET_P99_MS,
    };
    Report::new("lag", config, runs).conclude(&args.out)
}

/// The projections named in `names`, or all of them.
fn chosen(names: &[String]) -> Result<Vec<Arc<dyn Projection>>> {
    if names.is_empty() {
        return Ok(registry::all());
    }
    names
        .iter()
        .map(|name| {
            registry::by_name(name).with_context(|| {
                format!(
                    "no projection {name:?}; there are {}",
                    registry::names().join(", ")
                )
            })
        })
        .collect()
}

async fn run_once(
    args: &LagArgs,
    chosen: &[Arc<dyn Projection>],
    backend: Backend,
    url: String,
) -> Result<RunResult> {
    let store = EventStore::open(&url)
        .await
        .with_context(|| format!("cannot open the {backend} store"))?;
    let engine = engine_version(store.database()).await?;
    let directory = Arc::new(Directory::standard());
    directory.insert(store.database()).await?;

    let (stop, shutdown) = watch::channel(false);
    let mut runners = JoinSet::new();
    let mut watchers = Vec::new();
    let mut committed = Vec::new();
    let grouping = args
        .runners
        .map_or_else(|| Grouping::for_database(store.database()), Grouping::from);
    let paced = chosen
        .iter()
        .map(|projection| (Arc::clone(projection), RunnerSettings::default()))
        .collect();
    for runner in live_runners(&store, paced, grouping) {
        for projection in chosen {
            if let Some(receiver) = runner.committed_by(projection.name()) {
                committed.push((projection.name(), receiver.clone()));
                watchers.push((projection.name(), tokio::spawn(watch_commits(receiver))));
            }
        }
        runners.spawn(runner.run(shutdown.clone()));
    }

    let load = Load::start();
    let window = Window::new(
        Duration::from_secs(args.warmup_secs),
        Duration::from_secs(args.duration_secs),
    );
    let schedule = Arc::new(Semaphore::new(0));
    let mut lanes = JoinSet::new();
    for index in 0..args.lanes {
        let mut lane = Lane::new(Arc::clone(&directory), Clock::Live, index as u64);
        let (store, schedule) = (store.clone(), Arc::clone(&schedule));
        lanes.spawn(async move {
            let mut acked = Vec::new();
            while let Ok(permit) = schedule.acquire().await {
                permit.forget();
                let sent = Instant::now();
                let appended = lane.append_next(&store).await?;
                acked.push(Acked {
                    position: appended.last_position,
                    sent,
                    returned: Instant::now(),
                });
            }
            anyhow::Ok(acked)
        });
    }
    let (cpu, unsent) = pace(&schedule, args.rate, window, &store, backend).await;
    let mut acked = Vec::new();
    while let Some(outcome) = lanes.join_next().await {
        acked.extend(outcome.context("a lane panicked")??);
    }
    let load = load.finish();

    let head = store.head().await?;
    let mut problems = Vec::new();
    if usize::try_from(head).ok() != Some(acked.len()) {
        problems.push(format!(
            "head {head} for {} acknowledged appends",
            acked.len()
        ));
    }
    for (name, receiver) in &mut committed {
        let reached = tokio::time::timeout(SETTLE_TIMEOUT, receiver.wait_for(|p| *p >= head))
            .await
            .is_ok_and(|r| r.is_ok());
        if !reached {
            problems.push(format!(
                "{name} committed {} of head {head} {SETTLE_TIMEOUT:?} after the schedule ended",
                *receiver.borrow()
            ));
        }
    }
    for stored in checkpoint::all(store.database()).await? {
        if stored.position != head || stored.state != State::Live {
            problems.push(format!(
                "{} checkpoint at {} ({}), head {head}",
                stored.name, stored.position, stored.state
            ));
        }
    }
    stop.send_replace(true);
    while let Some(outcome) = runners.join_next().await {
        outcome.context("a runner panicked")?;
    }

    let measured: Vec<Acked> = acked
        .into_iter()
        .filter(|a| window.measures(a.returned))
        .collect();
    let mut append_latency = Latency::default();
    for a in &measured {
        append_latency.record(a.returned - a.sent);
    }
    let mut projections = Vec::new();
    for (name, watcher) in watchers {
        let commits = watcher.await.context("a watcher panicked")?;
        projections.push(ProjectionLag {
            name,
            lag: lag(&measured, &commits).summary(),
            commits: commits.len(),
        });
    }
    Ok(RunResult {
        backend,
        engine,
        load,
        measured_appends: measured.len() as u64,
        achieved_rate: measured.len() as f64 / window.measured().as_secs_f64(),
        unsent,
        append_latency: append_latency.summary(),
        projections,
        head,
        verified: problems.is_empty(),
        problems,
        cpu,
    })
}

/// Releases commands on schedule until the window ends, then closes the
/// schedule; returns the CPU use over the measured window and the commands
/// released but not taken by a lane.
async fn pace(
    schedule: &Semaphore,
    rate: u32,
    window: Window,
    store: &EventStore,
    backend: Backend,
) -> (Option<CpuUsage>, u64) {
    let progress = time_bar(format!("{backend:>8} {rate}/s"), window.end - window.start);
    let mut released = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut sampler = None;
    loop {
        tick.tick().await;
        let now = Instant::now();
        if now >= window.end {
            break;
        }
        if sampler.is_none() && now >= window.warmup_end {
            sampler = Some(CpuSampler::start(database_pids(store.database()).await));
        }
        let due = ((now - window.start).as_secs_f64() * f64::from(rate)) as u64;
        if due > released {
            schedule.add_permits((due - released) as usize);
            released = due;
            progress.set_position((now - window.start).as_millis() as u64);
            progress.set_message(format!(
                "{released} released, {} waiting for a lane",
                schedule.available_permits()
            ));
        }
    }
    let unsent = schedule.available_permits() as u64;
    schedule.close();
    progress.finish_and_clear();
    (sampler.and_then(|s| s.finish()), unsent)
}

/// Records each position the projection commits and when, until its
/// runner stops.
async fn watch_commits(mut committed: watch::Receiver<i64>) -> Commits {
    let mut commits = Vec::new();
    while committed.changed().await.is_ok() {
        let position = *committed.borrow_and_update();
        commits.push((position, Instant::now()));
    }
    commits
}

/// The lag of each append: from its return to the first commit at or past
/// its position. Appends never committed are left out (verification
/// reports them).
fn lag(acked: &[Acked], commits: &Commits) -> Latency {
    let mut latency = Latency::default();
    for a in acked {
        let first = commits.partition_point(|(position, _)| *position < a.position);
        if let Some((_, at)) = commits.get(first) {
            latency.record(at.saturating_duration_since(a.returned));
        }
    }
    latency
}

fn table(runs: &[RunResult]) -> Table {
    let mut table = Table::new(&[
        "backend",
        "projection",
        "rate/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "commits",
        "append p99",
        "load 1m",
        "target",
    ]);
    for run in runs {
        for projection in &run.projections {
            table.row(vec![
                run.backend.to_string(),
                projection.name.to_owned(),
                format!("{:.0}", run.achieved_rate),
                format!("{:.2}", projection.lag.p50_ms),
                format!("{:.2}", projection.lag.p99_ms),
                format!("{:.2}", projection.lag.max_ms),
                projection.commits.to_string(),
                format!("{:.2}", run.append_latency.p99_ms),
                run.load.brief(),
                if projection.lag.p99_ms <= TARGET_P99_MS {
                    "met"
                } else {
                    "MISSED"
                }
                .to_owned(),
            ]);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_runs_from_the_return_to_the_first_commit_covering_the_position() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let acked = [
            Acked {
                position: 1,
                sent: t0,
                returned: at(10),
            },
            Acked {
                position: 2,
                sent: t0,
                returned: at(10),
            },
            Acked {
                position: 3,
                sent: t0,
                returned: at(20),
            },
            Acked {
                position: 9,
                sent: t0,
                returned: at(20),
            },
        ];
        // Position 1 was committed before its append returned: no lag.
        let commits = vec![(1, at(5)), (3, at(25))];
        let summary = lag(&acked, &commits).summary();
        assert_eq!(summary.samples, 3, "position 9 was never committed");
        assert!((summary.max_ms - 15.0).abs() < 0.1, "{summary:?}");
    }
}
