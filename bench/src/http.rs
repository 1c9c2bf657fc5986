//! HTTP command throughput and latency of the real server.
//!
//! For each backend: a fresh database, and the `bomizzel` binary started as
//! a child process on it (`serve --listen 127.0.0.1:0`, rate limits out of
//! the way, a known HS256 secret, a temporary data directory); its address
//! comes from its "listening on http://" log line. The directory of
//! [`crate::workload`] is created through the API as an admin. Then
//! `--connections` workers, each with a client of its own (one keep-alive
//! connection) and the token of one agent, send commands back to back on
//! tickets they opened themselves, in their team's queues: create 30 %,
//! assign 20 % (to another agent of the team), status 20 % (a transition the
//! status machine allows; closed tickets are dropped), priority 15 % (a
//! different one), comment 15 % (a third internal). Each worker keeps its
//! 20 newest tickets, so streams stay short. Every command is one that
//! changes the ticket, so every 2xx answer carries the position of one new
//! event.
//!
//! A command's latency runs from sending the request to having read the
//! whole answer; commands finishing in the warm-up are not measured. CPU
//! over the measured window: this process (the load client), the server
//! (which for SQLite is the database too), the run's PostgreSQL backends,
//! and the rest of the machine.
//!
//! Verified: no non-2xx answer and no transport error (none is expected:
//! every command is valid for the ticket as its worker last saw it, and
//! nobody else touches that ticket), every 2xx answer has a position, and
//! after the server is killed the events appended since the seed equal
//! the commands acknowledged.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bomizzel_domain::{Priority, Status, can_transition};
use bomizzel_identity::Role;
use bomizzel_identity::auth::claims_for;
use bomizzel_store::EventStore;
use clap::Args;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::append::database_pids;
use crate::backend::{Backend, BackendArgs, engine_version};
use crate::harness::{Load, Report, Window, on_each_backend, time_bar, verdict_from_fields};
use crate::report::{CpuSampler, Latency, LatencySummary, Table};
use crate::workload::{Directory, text};

/// The HS256 secret the server is started with and tokens are minted for.
const SECRET: &str = "bomizzel-bench-secret-not-for-production";
/// Longest wait for the server's "listening" line (migrations included).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Tickets a worker keeps working on; older ones are left alone.
const TICKETS_PER_WORKER: usize = 20;
/// Log lines of the server kept for the report.
const LOG_TAIL: usize = 20;
const TARGET_COMMANDS_PER_SEC: f64 = 15_000.0;
const TARGET_P99_MS: f64 = 25.0;

#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    #[command(flatten)]
    backends: BackendArgs,
    /// Concurrent keep-alive connections, one worker each.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Warm-up before the measured window, in seconds.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// The `bomizzel` binary; default: next to this one.
    #[arg(long)]
    server_binary: Option<PathBuf>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/bench/http.json")]
    out: PathBuf,
}

#[derive(Debug, Serialize)]
struct Config {
    backends: Vec<Backend>,
    connections: usize,
    warmup_secs: u64,
    duration_secs: u64,
    server_binary: PathBuf,
    mix_percent: BTreeMap<&'static str, u32>,
    target_commands_per_sec: f64,
    target_p99_ms: f64,
}

verdict_from_fields!(RunResult);

#[derive(Debug, Serialize)]
struct RunResult {
    backend: Backend,
    engine: String,
    load: Load,
    /// Commands answered 2xx within the measured window.
    measured_commands: u64,
    commands_per_sec: f64,
    latency: LatencySummary,
    by_kind: BTreeMap<&'static str, LatencySummary>,
    /// Every 2xx answer, warm-up and stragglers included.
    acknowledged: u64,
    /// Non-2xx answers and transport errors, by kind, status and code.
    failures: BTreeMap<String, u64>,
    /// Events appended after the seed (the directory's own events).
    appended: i64,
    verified: bool,
    problems: Vec<String>,
    cpu: Option<Cpu>,
    /// The server's last log lines.
    server_log_tail: Vec<String>,
}

/// CPU over the measured window, in cores.
#[derive(Debug, Serialize)]
struct Cpu {
    bench_client: f64,
    server: f64,
    postgres_backends: f64,
    /// Busy with none of the above: other work on the machine, the kernel,
    /// PostgreSQL's background processes.
    other: f64,
    iowait: f64,
    bench_threads: Vec<crate::report::ThreadUsage>,
}

/// The commands of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Assign,
    Status,
    Priority,
    Comment,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Create,
        Kind::Assign,
        Kind::Status,
        Kind::Priority,
        Kind::Comment,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Assign => "assign",
            Kind::Status => "status",
            Kind::Priority => "priority",
            Kind::Comment => "comment",
        }
    }

    /// Share of the mix, in percent.
    fn percent(self) -> u32 {
        match self {
            Kind::Create => 30,
            Kind::Assign | Kind::Status => 20,
            Kind::Priority | Kind::Comment => 15,
        }
    }

    fn draw(rng: &mut impl Rng) -> Kind {
        let mut roll = rng.random_range(0..100);
        for kind in Kind::ALL {
            if roll < kind.percent() {
                return kind;
            }
            roll -= kind.percent();
        }
        Kind::Comment
    }
}

/// The server binary: `given`, or `bomizzel` next to this one; it must exist.
pub(crate) fn server_binary(given: Option<&Path>) -> Result<PathBuf> {
    let server_binary = match given {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()?.with_file_name("bomizzel"),
    };
    if !server_binary.is_file() {
        bail!(
            "no server binary at {}: build it with `cargo build --release -p bomizzel` \
             or pass --server-binary",
            server_binary.display()
        );
    }
    Ok(server_binary)
}

pub async fn run(args: HttpArgs) -> Result<()> {
    let server_binary = server_binary(args.server_binary.as_deref())?;
    let runs = on_each_backend("http", &args.backends, |backend, url| {
        run_once(&args, &server_binary, backend, url)
    })
    .await?;
    println!();
    print!("{}", table(&runs));
    println!();
    print!("{}", kind_table(&runs));
    let config = Config {
        backends: args.backends.backends(),
        connections: args.connections,
        warmup_secs: args.warmup_secs,
        duration_secs: args.duration_secs,
        server_binary,
        mix_percent: Kind::ALL.iter().map(|k| (k.name(), k.percent())).collect(),
        target_commands_per_sec: TARGET_COMMANDS_PER_SEC,
        target_p99_ms: TARGET_P99_MS,
    };
    Report::new("http", config, runs).conclude(&args.out)
}

async fn run_once(
    args: &HttpArgs,
    server_binary: &Path,
    backend: Backend,
    url: String,
) -> Result<RunResult> {
    let data_dir = tempfile::Builder::new()
        .prefix("bomizzel-bench-data-")
        .tempdir()?;
    let server = Server::start(server_binary, &url, data_dir.path()).await?;
    let base = format!("http://{}", server.address);
    // Migrated by the server; this store only reads.
    let store = EventStore::connect(&url).await?;
    let engine = engine_version(store.database()).await?;
    let directory = Arc::new(Directory::standard());
    seed(&base, &directory).await?;
    // The directory's own events (companies, teams, users) are in the log too.
    let seeded = store.head().await?;

    let window = Window::new(
        Duration::from_secs(args.warmup_secs),
        Duration::from_secs(args.duration_secs),
    );
    let load = Load::start();
    let agents: Vec<(usize, String)> = directory
        .agents()
        .map(|(team, agent)| (team, agent.to_owned()))
        .collect();
    let mut workers = JoinSet::new();
    for index in 0..args.connections {
        let (team, agent) = &agents[index % agents.len()];
        let worker = Worker::new(&base, agent, *team, Arc::clone(&directory), index as u64)?;
        workers.spawn(worker.run(window));
    }
    let cpu = watch_window(window, server.pid, &store, backend).await;
    let mut outcome = Outcome::default();
    while let Some(joined) = workers.join_next().await {
        outcome.merge(joined.context("a worker panicked")?);
    }
    let load = load.finish();
    let server_log_tail = server.stop().await;
    let appended = store.head().await? - seeded;

    let mut problems = Vec::new();
    if !outcome.failures.is_empty() {
        problems.push(format!("unexpected answers: {:?}", outcome.failures));
    }
    if u64::try_from(appended).ok() != Some(outcome.acknowledged) {
        problems.push(format!(
            "{appended} events appended after the seed for {} acknowledged commands",
            outcome.acknowledged
        ));
    }
    let mut latency = Latency::default();
    for kind_latency in &outcome.latency {
        latency.merge(kind_latency);
    }
    let measured = latency.summary().samples;
    Ok(RunResult {
        backend,
        engine,
        load,
        measured_commands: measured,
        commands_per_sec: measured as f64 / window.measured().as_secs_f64(),
        latency: latency.summary(),
        by_kind: Kind::ALL
            .iter()
            .map(|k| (k.name(), outcome.latency[*k as usize].summary()))
            .collect(),
        acknowledged: outcome.acknowledged,
        failures: outcome.failures,
        appended,
        verified: problems.is_empty(),
        problems,
        cpu,
        server_log_tail,
    })
}

/// Shows progress until the window closes; CPU use over the measured part.
async fn watch_window(
    window: Window,
    server_pid: Option<u32>,
    store: &EventStore,
    backend: Backend,
) -> Option<Cpu> {
    let progress = time_bar(format!("{backend:>8} http"), window.end - window.start);
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut samplers = None;
    while Instant::now() < window.end {
        tokio::select! {
            _ = ticker.tick() => {
                progress.set_position(window.start.elapsed().as_millis() as u64);
                progress.set_message(format!("head {}", store.head().await.unwrap_or(-1)));
            }
            _ = tokio::time::sleep_until(window.warmup_end.into()), if samplers.is_none() => {
                samplers = Some((
                    CpuSampler::start(server_pid.into_iter().collect()),
                    CpuSampler::start(database_pids(store.database()).await),
                ));
            }
            _ = tokio::time::sleep_until(window.end.into()) => {}
        }
    }
    progress.finish_and_clear();
    let (server, postgres) = samplers?;
    let (server, postgres) = (server.finish()?, postgres.finish()?);
    let bench = server.bench_process_cores;
    let busy = bench + server.database_cores + postgres.database_cores;
    Some(Cpu {
        bench_client: bench,
        server: server.database_cores,
        postgres_backends: postgres.database_cores,
        other: ((server.system_busy_cores - busy).max(0.0) * 100.0).round() / 100.0,
        iowait: server.system_iowait_cores,
        bench_threads: server.bench_threads.into_iter().take(4).collect(),
    })
}

/// The server child process; killed when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    pub(crate) pid: Option<u32>,
    pub(crate) address: SocketAddr,
    /// Collects the rest of the log, returning its last lines.
    log: tokio::task::JoinHandle<VecDeque<String>>,
}

impl Server {
    pub(crate) async fn start(binary: &Path, database_url: &str, data_dir: &Path) -> Result<Self> {
        let mut child = tokio::process::Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--rate-limit-per-second", "1000000"])
            .args(["--rate-limit-burst", "1000000"])
            .arg("--data-dir")
            .arg(data_dir)
            .env("BOMIZZEL_JWT_SECRET", SECRET)
            .env("BOMIZZEL_DATABASE_URL", database_url)
            .env_remove("BOMIZZEL_JWT_PUBLIC_KEY")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stderr = child
            .stderr
            .take()
            .context("the server's stderr is piped")?;
        let mut lines = BufReader::new(stderr).lines();
        let mut tail = VecDeque::new();
        let address =
            tokio::time::timeout(STARTUP_TIMEOUT, listening_address(&mut lines, &mut tail))
                .await
                .map_err(|_| anyhow!("the server did not listen within {STARTUP_TIMEOUT:?}"))
                .and_then(|found| found)
                .with_context(|| format!("server log:\n{}", Vec::from(tail.clone()).join("\n")))?;
        let log = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                keep(&mut tail, line);
            }
            tail
        });
        Ok(Self {
            pid: child.id(),
            child,
            address,
            log,
        })
    }

    /// Kills the server; its last log lines.
    pub(crate) async fn stop(mut self) -> Vec<String> {
        // Already gone is fine: the log tail then says why.
        let _ = self.child.kill().await;
        self.log.await.map(Vec::from).unwrap_or_default()
    }
}

async fn listening_address(
    lines: &mut Lines<BufReader<ChildStderr>>,
    tail: &mut VecDeque<String>,
) -> Result<SocketAddr> {
    while let Some(line) = lines.next_line().await? {
        let found = line.split_once("listening on http://").map(|(_, rest)| {
            rest.split(|c: char| c.is_whitespace() || c == '"' || c == '\u{1b}')
                .next()
                .unwrap_or_default()
                .parse::<SocketAddr>()
        });
        keep(tail, line);
        if let Some(address) = found {
            return address.context("cannot parse the server's address");
        }
    }
    bail!("the server exited before listening")
}

fn keep(tail: &mut VecDeque<String>, line: String) {
    if tail.len() == LOG_TAIL {
        tail.pop_front();
    }
    tail.push_back(line);
}

pub(crate) fn token(sub: &str, role: Role, company: Option<String>) -> Result<String> {
    bomizzel_identity::TokenKeys::shared_secret(SECRET.as_bytes(), &Default::default())
        .mint(&claims_for(sub, role, company, time::Duration::hours(2)))
        .map_err(|e| anyhow!("cannot mint a token: {e}"))
}

/// Creates the directory through the API, as an admin.
async fn seed(base: &str, directory: &Directory) -> Result<()> {
    let client = reqwest::Client::new();
    let bearer = format!("Bearer {}", token("bench-admin", Role::Admin, None)?);
    let post = |path: &str, body: Value| {
        let request = client
            .post(format!("{base}{path}"))
            .header("authorization", &bearer)
            .json(&body);
        async move {
            let response = request.send().await?;
            let status = response.status();
            if status != reqwest::StatusCode::CREATED {
                bail!("{status}: {}", response.text().await.unwrap_or_default());
            }
            Ok(())
        }
    };
    for company in &directory.companies {
        post(
            "/api/companies",
            json!({"id": company.id, "name": company.id}),
        )
        .await?;
        for customer in &company.customers {
            let body = json!({"id": customer, "name": customer, "role": "customer", "company_id": company.id});
            post("/api/users", body).await?;
        }
    }
    for team in &directory.teams {
        post("/api/teams", json!({"id": team.id, "name": team.id})).await?;
    }
    for queue in &directory.queues {
        let team = &directory.teams[queue.team].id;
        post(
            "/api/queues",
            json!({"id": queue.id, "name": queue.id, "team_id": team}),
        )
        .await?;
    }
    for (team, agent) in directory.agents() {
        let team = &directory.teams[team].id;
        let body = json!({"id": agent, "name": agent, "role": "agent", "team_ids": [team]});
        post("/api/users", body).await?;
    }
    Ok(())
}

/// The fields of a command's answer the worker keeps.
#[derive(Debug, Deserialize)]
struct Answer {
    id: Uuid,
    status: Status,
    priority: Priority,
    assignee_id: Option<String>,
    position: Option<i64>,
}

/// A ticket as its worker last saw it.
#[derive(Debug, Clone)]
struct Open {
    id: Uuid,
    status: Status,
    priority: Priority,
    assignee: Option<String>,
}

/// What the workers saw.
#[derive(Debug)]
struct Outcome {
    /// Per [`Kind`], commands finished within the measured window.
    latency: Vec<Latency>,
    acknowledged: u64,
    failures: BTreeMap<String, u64>,
}

impl Default for Outcome {
    fn default() -> Self {
        Self {
            latency: vec![Latency::default(); Kind::ALL.len()],
            acknowledged: 0,
            failures: BTreeMap::new(),
        }
    }
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            mine.merge(theirs);
        }
        self.acknowledged += other.acknowledged;
        for (failure, count) in other.failures {
            *self.failures.entry(failure).or_default() += count;
        }
    }
}

/// One connection, one agent, its own tickets.
#[derive(Debug)]
struct Worker {
    client: reqwest::Client,
    base: String,
    bearer: String,
    team: usize,
    directory: Arc<Directory>,
    rng: SmallRng,
    tickets: VecDeque<Open>,
}

impl Worker {
    fn new(
        base: &str,
        agent: &str,
        team: usize,
        directory: Arc<Directory>,
        seed: u64,
    ) -> Result<Self> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            client,
            base: base.to_owned(),
            bearer: format!("Bearer {}", token(agent, Role::Agent, None)?),
            team,
            directory,
            rng: SmallRng::seed_from_u64(seed),
            tickets: VecDeque::new(),
        })
    }

    async fn run(mut self, window: Window) -> Outcome {
        let mut outcome = Outcome::default();
        while Instant::now() < window.end {
            let kind = match self.tickets.is_empty() {
                true => Kind::Create,
                false => Kind::draw(&mut self.rng),
            };
            let index = self.rng.random_range(0..self.tickets.len().max(1));
            let (path, body) = self.command(kind, index);
            let started = Instant::now();
            let answer = self.send(&path, &body).await;
            let done = Instant::now();
            match answer {
                Ok(answer) if answer.position.is_some() => {
                    outcome.acknowledged += 1;
                    if window.measures(done) {
                        outcome.latency[kind as usize].record(done - started);
                    }
                    self.remember(kind, index, answer);
                }
                Ok(_) => {
                    let failure = format!("{}: 2xx without an event", kind.name());
                    *outcome.failures.entry(failure).or_default() += 1;
                }
                Err(error) => {
                    *outcome
                        .failures
                        .entry(format!("{}: {error}", kind.name()))
                        .or_default() += 1;
                    // Do not spin on a server that is gone.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        outcome
    }

    /// The path and body of a `kind` command on ticket `index`.
    fn command(&mut self, kind: Kind, index: usize) -> (String, Value) {
        let rng = &mut self.rng;
        let ticket = self.tickets.get(index);
        let path = |action: &str| match ticket {
            Some(t) => format!("/api/tickets/{}/{action}", t.id),
            None => "/api/tickets".to_owned(),
        };
        match (kind, ticket) {
            (Kind::Create, _) | (_, None) => {
                let queues: Vec<_> = self
                    .directory
                    .queues
                    .iter()
                    .filter(|q| q.team == self.team)
                    .collect();
                let company = text::pick(rng, &self.directory.companies);
                let body = json!({
                    "title": text::title(rng),
                    "description": text::description(rng),
                    "queue_id": text::pick(rng, &queues).id,
                    "priority": text::priority(rng),
                    "tags": text::tags(rng),
                    "company_id": company.id,
                    "requester_id": text::pick(rng, &company.customers),
                });
                ("/api/tickets".to_owned(), body)
            }
            (Kind::Assign, Some(t)) => {
                let others: Vec<&String> = self.directory.teams[self.team]
                    .agents
                    .iter()
                    .filter(|a| t.assignee.as_ref() != Some(*a))
                    .collect();
                (
                    path("assign"),
                    json!({"assignee_id": text::pick(rng, &others)}),
                )
            }
            (Kind::Status, Some(t)) => {
                let next: Vec<Status> = Status::ALL
                    .into_iter()
                    .filter(|s| can_transition(t.status, *s))
                    .collect();
                (path("status"), json!({"status": text::pick(rng, &next)}))
            }
            (Kind::Priority, Some(t)) => {
                let other: Vec<Priority> = Priority::ALL
                    .into_iter()
                    .filter(|p| *p != t.priority)
                    .collect();
                (
                    path("priority"),
                    json!({"priority": text::pick(rng, &other)}),
                )
            }
            (Kind::Comment, Some(_)) => {
                let internal = rng.random_bool(0.3);
                let body = if internal {
                    text::note(rng)
                } else {
                    text::reply(rng)
                };
                (
                    path("comments"),
                    json!({"body": body, "internal": internal}),
                )
            }
        }
    }

    /// Sends one command; the answer of a 2xx, else an error naming the
    /// status and the problem's code.
    async fn send(&self, path: &str, body: &Value) -> Result<Answer> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("authorization", &self.bearer)
            .json(body)
            .send()
            .await
            .map_err(|e| anyhow!("transport: {e}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| anyhow!("transport: {e}"))?;
        if !status.is_success() {
            let code = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            bail!("{} {code}", status.as_u16());
        }
        serde_json::from_slice(&bytes).context("an answer that is not a ticket")
    }

    /// Keeps the ticket as the answer shows it; closed tickets are left
    /// alone from then on.
    fn remember(&mut self, kind: Kind, index: usize, answer: Answer) {
        let open = Open {
            id: answer.id,
            status: answer.status,
            priority: answer.priority,
            assignee: answer.assignee_id,
        };
        let closed = open.status == Status::Closed;
        match kind {
            Kind::Create => {
                if self.tickets.len() == TICKETS_PER_WORKER {
                    self.tickets.pop_front();
                }
                self.tickets.push_back(open);
            }
            _ if closed => {
                self.tickets.remove(index);
            }
            _ => self.tickets[index] = open,
        }
    }
}

fn table(runs: &[RunResult]) -> Table {
    let mut table = Table::new(&[
        "backend",
        "commands/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "failures",
        "server CPU",
        "pg CPU",
        "client CPU",
        "other",
        "load 1m",
        "target",
    ]);
    for run in runs {
        let cpu = |f: fn(&Cpu) -> f64| {
            run.cpu
                .as_ref()
                .map_or("-".to_owned(), |c| format!("{:.2}", f(c)))
        };
        let met =
            run.commands_per_sec >= TARGET_COMMANDS_PER_SEC && run.latency.p99_ms <= TARGET_P99_MS;
        table.row(vec![
            run.backend.to_string(),
            format!("{:.0}", run.commands_per_sec),
            format!("{:.2}", run.latency.p50_ms),
            format!("{:.2}", run.latency.p99_ms),
            format!("{:.2}", run.latency.max_ms),
            run.failures.values().sum::<u64>().to_string(),
            cpu(|c| c.server),
            cpu(|c| c.postgres_backends),
            cpu(|c| c.bench_client),
            cpu(|c| c.other),
            run.load.brief(),
            if met { "met" } else { "MISSED" }.to_owned(),
        ]);
    }
    table
}

fn kind_table(runs: &[RunResult]) -> Table {
    let mut table = Table::new(&["backend", "command", "count", "p50 ms", "p99 ms", "max ms"]);
    for run in runs {
        for (kind, latency) in &run.by_kind {
            table.row(vec![
                run.backend.to_string(),
                (*kind).to_owned(),
                latency.samples.to_string(),
                format!("{:.2}", latency.p50_ms),
                format!("{:.2}", latency.p99_ms),
                format!("{:.2}", latency.max_ms),
            ]);
        }
    }
    table
}
