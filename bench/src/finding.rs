//! Finding tickets at size: full-text search and filtered lists through
//! the real server, the search projection's rebuild speed, and a streamed
//! export's rows/s and the server's memory while it streams.
//!
//! For each backend: a fresh database with the directory of
//! [`crate::workload`], then `--tickets` tickets appended through the
//! store, each one append of its `TicketCreated` and `--comments` comments
//! (one in four internal), written over the last 30 days, a third of them
//! resolved. Texts are the workload's titles, descriptions and replies
//! with words of a 5,000-word vocabulary drawn by a Zipf-like law, so that
//! words range from everywhere to rare, as in real tickets.
//!
//! Then the `tickets` and `ticket_search` projections are rebuilt from zero
//! (timed: the search projection's events/s is the rebuild figure); the
//! other projections are not part of this benchmark and their checkpoints
//! are set to the head, so the server does not build them while it is
//! measured (their read models stay empty).
//!
//! Building a million tickets takes a while: `--keep-data` keeps the data
//! set (named by its size) and a later run with `--keep-data` measures it
//! again without generating or rebuilding (`--rebuild` times the rebuild
//! again); `--drop-data` deletes it.
//!
//! The `bomizzel` binary is started on the database and measured, one
//! request at a time after a warm-up, `--queries` requests per scenario:
//! - `search`: two common vocabulary words (ranks 10-100) and a status
//!   filter, as an admin (every ticket visible);
//! - `search agent`: the same as an agent (their team's tickets only);
//! - `list`: statuses, a priority and an assignee filter, newest change
//!   first, as an agent;
//! - `list sla`: the SLA-state filter (computed per row) with a queue filter.
//!
//! Last, `GET /api/exports/tickets.csv` as an admin, read to its end:
//! rows/s, and the server's resident memory sampled every 50 ms before and
//! while it streams.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bomizzel_domain::{Status, TicketEvent};
use bomizzel_identity::Role;
use bomizzel_projections::{on_pool, registry};
use bomizzel_store::{AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent};
use clap::Args;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::backend::{Backend, BackendArgs, engine_version, remove_kept};
use crate::harness::{Load, Report, count_bar, on_each_backend_keeping, verdict_from_fields};
use crate::http::{Server, server_binary, token};
use crate::rebuild::{ProjectionResult, rebuild_together};
use crate::report::{Latency, LatencySummary, Table};
use crate::workload::{Directory, text};

/// Days the generated tickets are spread over.
const HISTORY_DAYS: i64 = 30;
/// Distinct words the generated texts draw from.
const VOCABULARY: usize = 5_000;
/// The projections the measured routes read; the others are skipped.
const MEASURED_PROJECTIONS: [&str; 2] = ["tickets", "ticket_search"];
const TARGET_SEARCH_P99_MS: f64 = 50.0;

#[derive(Debug, Clone, Args)]
pub struct FindingArgs {
    #[command(flatten)]
    backends: BackendArgs,
    /// Tickets to generate.
    #[arg(long, default_value_t = 1_000_000)]
    tickets: u64,
    /// Comments per ticket.
    #[arg(long, default_value_t = 3)]
    comments: u64,
    /// Requests measured per scenario.
    #[arg(long, default_value_t = 300)]
    queries: u64,
    /// Concurrent appenders generating the log.
    #[arg(long, default_value_t = 64)]
    appenders: u64,
    /// Events per projection transaction while rebuilding.
    #[arg(long, default_value_t = 1000)]
    batch_size: u32,
    /// The `bomizzel` binary; default: next to this one.
    #[arg(long)]
    server_binary: Option<PathBuf>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/bench/finding.json")]
    out: PathBuf,
    /// Keep the data set after the run, and measure the one kept by an
    /// earlier run of the same size instead of generating it.
    #[arg(long)]
    keep_data: bool,
    /// With a kept data set: rebuild (and time) its projections again.
    #[arg(long, requires = "keep_data")]
    rebuild: bool,
    /// Delete the data set kept for this size and backend(s), and exit.
    #[arg(long, conflicts_with = "keep_data")]
    drop_data: bool,
    /// Measure only these scenarios (default: all).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Leave out the export.
    #[arg(long)]
    skip_export: bool,
}

impl FindingArgs {
    /// The name a kept data set of this size goes by.
    fn data_set(&self) -> String {
        format!("finding_{}t_{}c", self.tickets, self.comments)
    }
}

#[derive(Debug, Serialize)]
struct Config {
    backends: Vec<Backend>,
    tickets: u64,
    comments_per_ticket: u64,
    queries: u64,
    vocabulary: usize,
    target_search_p99_ms: f64,
}

verdict_from_fields!(RunResult);

#[derive(Debug, Serialize)]
struct RunResult {
    backend: Backend,
    engine: String,
    load: Load,
    events: i64,
    /// `None` when a kept data set was measured.
    generation_secs: Option<f64>,
    projections: Vec<ProjectionResult>,
    scenarios: Vec<Scenario>,
    export: Option<Export>,
    verified: bool,
    problems: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Scenario {
    name: &'static str,
    example: String,
    latency: LatencySummary,
    /// Mean items per answer (a page holds at most 50).
    mean_items: f64,
}

#[derive(Debug, Serialize)]
struct Export {
    rows: u64,
    bytes: u64,
    secs: f64,
    rows_per_sec: f64,
    rss_before_mib: f64,
    rss_max_mib: f64,
}

pub async fn run(args: FindingArgs) -> Result<()> {
    if args.drop_data {
        for backend in args.backends.backends() {
            remove_kept(backend, &args.backends.postgres_url, &args.data_set()).await?;
            println!("{backend:>8}: removed the data set {}", args.data_set());
        }
        return Ok(());
    }
    let binary = server_binary(args.server_binary.as_deref())?;
    let keep = args.keep_data.then(|| args.data_set());
    let runs = on_each_backend_keeping(
        "finding",
        &args.backends,
        keep.as_deref(),
        |backend, url| run_once(&args, &binary, backend, url),
    )
    .await?;
    println!();
    print!("{}", table(&runs));
    let config = Config {
        backends: args.backends.backends(),
        tickets: args.tickets,
        comments_per_ticket: args.comments,
        queries: args.queries,
        vocabulary: VOCABULARY,
        target_search_p99_ms: TARGET_SEARCH_P99_MS,
    };
    Report::new("finding", config, runs).conclude(&args.out)
}

async fn run_once(
    args: &FindingArgs,
    binary: &Path,
    backend: Backend,
    url: String,
) -> Result<RunResult> {
    let store = EventStore::open(&url).await?;
    let engine = engine_version(store.database()).await?;
    let load = Load::start();
    let kept = kept_data_set(&store).await?;
    let generation_secs = match kept {
        true => None,
        false => Some(generate_data_set(&store, args, backend).await?),
    };
    let head = store.head().await?;
    let projections = if !kept || args.rebuild {
        rebuild(&store, args.batch_size, backend, head).await?
    } else {
        println!("{backend:>8}: measuring the kept data set of {head} events");
        Vec::new()
    };

    let data_dir = tempfile::Builder::new()
        .prefix("bomizzel-bench-data-")
        .tempdir()?;
    let server = Server::start(binary, &url, data_dir.path()).await?;
    let base = format!("http://{}", server.address);
    let client = reqwest::Client::new();
    let mut scenarios = Vec::new();
    let chosen = SCENARIOS.iter().filter(|scenario| {
        args.scenarios.is_empty() || args.scenarios.iter().any(|name| name == scenario.name)
    });
    for scenario in chosen {
        let measured = measure(&client, &base, scenario, args.queries).await?;
        println!(
            "{backend:>8}: {:<12} p50 {:>7.2} ms  p99 {:>7.2} ms  ({:.1} items)",
            measured.name, measured.latency.p50_ms, measured.latency.p99_ms, measured.mean_items
        );
        scenarios.push(measured);
    }
    let export = match args.skip_export {
        true => None,
        false => Some(export(&client, &base, server.pid).await?),
    };
    server.stop().await;

    let mut problems = Vec::new();
    if let Some(export) = &export {
        println!(
            "{backend:>8}: exported {} rows in {:.1} s ({:.0} rows/s), server RSS {:.0} -> max {:.0} MiB",
            export.rows,
            export.secs,
            export.rows_per_sec,
            export.rss_before_mib,
            export.rss_max_mib
        );
        if export.rows != args.tickets {
            problems.push(format!(
                "the export has {} rows for {} tickets",
                export.rows, args.tickets
            ));
        }
    }
    Ok(RunResult {
        backend,
        engine,
        load: load.finish(),
        events: head,
        generation_secs,
        projections,
        scenarios,
        export,
        verified: problems.is_empty(),
        problems,
    })
}

/// Whether the database holds a data set built by an earlier run (its
/// measured projections at the log's head); `false` when it is empty, an
/// error for what an interrupted run left.
async fn kept_data_set(store: &EventStore) -> Result<bool> {
    let head = store.head().await?;
    if head == 0 {
        return Ok(false);
    }
    for name in MEASURED_PROJECTIONS {
        let checkpoint = bomizzel_projections::checkpoint::load(store.database(), name).await?;
        if checkpoint.position != head {
            bail!(
                "the kept data set is incomplete ({name} at {} of {head}): delete it with --drop-data",
                checkpoint.position
            );
        }
    }
    Ok(true)
}

/// Writes the directory and the tickets; the seconds it took.
async fn generate_data_set(
    store: &EventStore,
    args: &FindingArgs,
    backend: Backend,
) -> Result<f64> {
    let directory = Arc::new(Directory::standard());
    directory.insert(store.database()).await?;
    let started = Instant::now();
    generate(store, &directory, args, backend).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{backend:>8}: generated {} events in {secs:.1} s",
        store.head().await?
    );
    Ok(secs)
}

/// Rebuilds the measured projections from zero, timed, and sets the others
/// at `head`.
async fn rebuild(
    store: &EventStore,
    batch_size: u32,
    backend: Backend,
    head: i64,
) -> Result<Vec<ProjectionResult>> {
    let mut projections = Vec::new();
    for projection in registry::all() {
        if MEASURED_PROJECTIONS.contains(&projection.name()) {
            let result =
                rebuild_together(store, vec![projection], batch_size, backend, head).await?;
            println!(
                "{backend:>8}: rebuilt {:<14} in {:>6.1} s ({:>7.0} events/s)",
                result.name, result.secs, result.events_per_sec
            );
            projections.push(result);
        } else {
            skip(store, projection.name(), head).await?;
        }
    }
    // PostgreSQL's autovacuum visits a bulk load within a minute or so:
    // statistics (the search's window is sized from the planner's estimate),
    // the GIN index's pending list merged (every search scans it), pages
    // marked visible (index-only lookups of candidates). The measurement
    // starts at once, so do it here. (SQLite keeps no statistics unless
    // asked, and its plans here need none.)
    if let bomizzel_store::Database::Postgres(pool) = store.database() {
        sqlx::raw_sql("VACUUM (ANALYZE)").execute(pool).await?;
    }
    Ok(projections)
}

/// Sets projection `name` at `head` without building it: this benchmark
/// does not read it, and the server would otherwise build it meanwhile.
async fn skip(store: &EventStore, name: &str, head: i64) -> Result<()> {
    bomizzel_projections::checkpoint::load(store.database(), name).await?;
    on_pool!(store.database(), pool => {
        sqlx::query(
            "UPDATE projection_checkpoints SET position = $1, state = 'live', error = NULL WHERE name = $2",
        )
        .bind(head)
        .bind(name)
        .execute(pool)
        .await?;
    });
    Ok(())
}

// ---- the log -----------------------------------------------------------------

/// A word of the vocabulary, by rank: rank 0 is the most frequent.
fn word(rank: usize) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "pe", "da", "gu", "fi", "zo", "be", "ha",
        "ny",
    ];
    let mut word = String::from("w");
    let mut n = rank;
    loop {
        word.push_str(SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
        if n == 0 {
            break word;
        }
    }
}

/// A rank drawn by a Zipf-like law (frequency about 1/rank).
fn zipf_rank(rng: &mut impl Rng) -> usize {
    let u: f64 = rng.random();
    ((VOCABULARY as f64).powf(u) as usize).saturating_sub(1)
}

/// `base` followed by a few vocabulary words.
fn with_words(rng: &mut impl Rng, base: String, words: usize) -> String {
    let mut text = base;
    for _ in 0..words {
        text.push(' ');
        text.push_str(&word(zipf_rank(rng)));
    }
    text
}

/// Appends `args.tickets` tickets, one append each, from
/// `args.appenders` concurrent lanes.
async fn generate(
    store: &EventStore,
    directory: &Arc<Directory>,
    args: &FindingArgs,
    backend: Backend,
) -> Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let now = OffsetDateTime::now_utc();
    let mut lanes = JoinSet::new();
    for lane in 0..args.appenders {
        let (store, directory, next) = (store.clone(), Arc::clone(directory), Arc::clone(&next));
        let (tickets, comments) = (args.tickets, args.comments);
        lanes.spawn(async move {
            let mut rng = SmallRng::seed_from_u64(lane);
            loop {
                let number = next.fetch_add(1, Ordering::Relaxed) + 1;
                if number > tickets {
                    return anyhow::Ok(());
                }
                let request = ticket(&mut rng, &directory, number, comments, now)?;
                store.append(request).await?;
            }
        });
    }
    let progress = count_bar(format!("{backend:>8} generating"), args.tickets);
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            joined = lanes.join_next() => match joined {
                Some(outcome) => outcome.context("a lane panicked")??,
                None => break,
            },
            _ = ticker.tick() => progress.set_position(next.load(Ordering::Relaxed).min(args.tickets)),
        }
    }
    progress.finish_and_clear();
    Ok(())
}

/// Ticket `number`: its creation, `comments` comments and, for a third of
/// them, its resolution, as one append.
fn ticket(
    rng: &mut SmallRng,
    directory: &Directory,
    number: u64,
    comments: u64,
    now: OffsetDateTime,
) -> Result<AppendRequest> {
    let id = Uuid::now_v7();
    let queue = text::pick(rng, &directory.queues);
    let team = &directory.teams[queue.team];
    let company = text::pick(rng, &directory.companies);
    let requester = text::pick(rng, &company.customers).clone();
    let agent = text::pick(rng, &team.agents).clone();
    let route = bomizzel_domain::TicketRoute {
        company_id: company.id.clone(),
        requester_id: requester.clone(),
        queue_id: queue.id.clone(),
        team_id: team.id.clone(),
        assignee_id: None,
    };
    let (title, description) = (text::title(rng), text::description(rng));
    let mut events = vec![TicketEvent::TicketCreated {
        ticket_id: id,
        number,
        title: with_words(rng, title, 2),
        description: with_words(rng, description, 8),
        company_id: route.company_id.clone(),
        requester_id: requester.clone(),
        queue_id: route.queue_id.clone(),
        team_id: route.team_id.clone(),
        priority: text::priority(rng),
        status: Status::Open,
        tags: text::tags(rng),
    }];
    for _ in 0..comments {
        let internal = rng.random_bool(0.25);
        let (author, base) = if internal {
            (agent.clone(), text::note(rng))
        } else {
            (requester.clone(), text::reply(rng))
        };
        let body = with_words(rng, base, 6);
        events.push(TicketEvent::CommentAdded {
            ticket_id: id,
            comment_id: Uuid::now_v7(),
            author_id: author,
            body,
            internal,
            route: route.clone(),
        });
    }
    if rng.random_bool(1.0 / 3.0) {
        events.push(TicketEvent::TicketStatusChanged {
            ticket_id: id,
            from: Status::Open,
            to: Status::Resolved,
            route,
        });
    }
    let mut metadata = Metadata::new(agent, "agent");
    metadata.occurred_at =
        now - time::Duration::seconds(rng.random_range(0..HISTORY_DAYS * 86_400));
    Ok(AppendRequest {
        stream_id: id.to_string(),
        expected_version: ExpectedVersion::Exact(0),
        events: events
            .iter()
            .map(|event| NewEvent {
                event_type: event.event_type_name().to_owned(),
                schema_version: event.schema_version(),
                payload: event.to_payload(),
            })
            .collect(),
        metadata,
    })
}

// ---- measuring -----------------------------------------------------------------

/// A measured request: who sends it and its query string, given a random
/// source (the words of a search vary from request to request).
struct ScenarioSpec {
    name: &'static str,
    user: (&'static str, Role),
    query: fn(&mut SmallRng) -> String,
}

/// Two words ranked 10-100: each is in 1-7 % of the documents, both
/// together in some tens to some hundreds of documents per 100,000 tickets.
fn two_words(rng: &mut SmallRng) -> String {
    format!(
        "{}+{}",
        word(rng.random_range(10..100)),
        word(rng.random_range(10..100))
    )
}

const SCENARIOS: [ScenarioSpec; 4] = [
    ScenarioSpec {
        name: "search",
        user: ("admin-1", Role::Admin),
        query: |rng| format!("q={}&status=open", two_words(rng)),
    },
    ScenarioSpec {
        name: "search agent",
        user: ("agent-00-0", Role::Agent),
        query: |rng| format!("q={}&status=open", two_words(rng)),
    },
    ScenarioSpec {
        name: "list",
        user: ("agent-00-0", Role::Agent),
        query: |rng| {
            let priority = ["low", "medium", "high", "urgent"][rng.random_range(0..4)];
            format!("status=open,in_progress&priority={priority}&assignee=none&sort=-updated")
        },
    },
    ScenarioSpec {
        name: "list sla",
        user: ("agent-00-0", Role::Agent),
        query: |rng| {
            format!(
                "sla=breached&queue=queue-{:02}&sort=sla_due",
                rng.random_range(0..5) * 10
            )
        },
    },
];

async fn measure(
    client: &reqwest::Client,
    base: &str,
    spec: &ScenarioSpec,
    queries: u64,
) -> Result<Scenario> {
    let (user, role) = spec.user;
    let token = token(user, role, None)?;
    let mut rng = SmallRng::seed_from_u64(7);
    let mut latency = Latency::default();
    let mut items = 0u64;
    let warmup = queries / 10;
    let mut example = String::new();
    for n in 0..warmup + queries {
        let query = (spec.query)(&mut rng);
        let started = Instant::now();
        let answer = client
            .get(format!("{base}/api/tickets?{query}"))
            .bearer_auth(&token)
            .send()
            .await?;
        let status = answer.status();
        let body: serde_json::Value = answer.json().await?;
        if !status.is_success() {
            bail!("{} {query}: {status} {body}", spec.name);
        }
        if n >= warmup {
            latency.record(started.elapsed());
            items += body["items"]
                .as_array()
                .map_or(0, |items| items.len() as u64);
        }
        example = query;
    }
    Ok(Scenario {
        name: spec.name,
        example,
        latency: latency.summary(),
        mean_items: items as f64 / queries.max(1) as f64,
    })
}

/// The resident memory of process `pid`, in MiB.
fn rss_mib(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return 0.0 };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

async fn export(client: &reqwest::Client, base: &str, pid: Option<u32>) -> Result<Export> {
    let token = token("admin-1", Role::Admin, None)?;
    let rss_before_mib = rss_mib(pid);
    // The highest resident memory seen, in KiB, sampled while the export runs.
    let max_kib = Arc::new(AtomicU64::new(0));
    let sampler = {
        let max_kib = Arc::clone(&max_kib);
        tokio::spawn(async move {
            loop {
                max_kib.fetch_max((rss_mib(pid) * 1024.0) as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let started = Instant::now();
    let answer = client
        .get(format!("{base}/api/exports/tickets.csv"))
        .bearer_auth(&token)
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!("export: {}", answer.status());
    }
    let mut answer = answer;
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(chunk) = answer.chunk().await? {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|byte| **byte == b'\n').count() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    sampler.abort();
    // CSV records end with CRLF; generated titles never hold a line break.
    let rows = lines.saturating_sub(1);
    Ok(Export {
        rows,
        bytes,
        secs,
        rows_per_sec: rows as f64 / secs,
        rss_before_mib,
        rss_max_mib: max_kib.load(Ordering::Relaxed) as f64 / 1024.0,
    })
}

fn table(runs: &[RunResult]) -> Table {
    let mut table = Table::new(&["backend", "scenario", "p50 ms", "p99 ms", "items"]);
    for run in runs {
        for scenario in &run.scenarios {
            table.row(vec![
                run.backend.to_string(),
                scenario.name.to_owned(),
                format!("{:.2}", scenario.latency.p50_ms),
                format!("{:.2}", scenario.latency.p99_ms),
                format!("{:.1}", scenario.mean_items),
            ]);
        }
    }
    table
}
