//! Fan-out over WebSocket or Socket.IO: what an open connection costs the
//! server in memory, and how fast and how completely one change reaches
//! thousands of subscribed clients.
//!
//! `--protocol` picks the clients' transport: `websocket` (`GET /ws`, the
//! default), `socketio` (`/socket.io/` over its WebSocket transport, with
//! the small client of [`socketio_client`]) or `both`, one after the other,
//! each on a fresh server, reported side by side. Only the transport
//! differs; the steps below are the same for both.
//!
//! `--peer-dir` adds a run against the Node peer ([`peer`], the Node.js
//! Socket.IO server the project is measured against) after the project's,
//! with the same Socket.IO client, commands, counts and accounting; its
//! tickets go to a fresh PostgreSQL database, so compare it with
//! `--backend postgres`. The peer can only open tickets, so it needs
//! `--command create` (each command opens a ticket; the default,
//! `priority`, changes seeded tickets' priority). Without `--peer-dir` the
//! peer is not measured, and the run says so.
//!
//! A run starts the real `bomizzel serve` (SQLite in a temporary data
//! directory, or a fresh PostgreSQL database), with rate limits out of the
//! way and a 4096-frame send queue per connection, and seeds through the
//! API as an admin: a company, a team with one queue, one agent of that
//! team, and R tickets in the queue. Then, all on 127.0.0.1:
//!
//! 1. Memory. The server's `VmRSS` is read from `/proc` before any
//!    connection, after C idle connections and after all of them
//!    subscribed to `queue:<id>`, each after a short settle; the growth
//!    divided by C is the cost of one idle and one subscribed connection.
//!    Idle over WebSocket: the agent's token in the Authorization header,
//!    `ready` received, no rooms. Idle over Socket.IO: `auth: {token}`,
//!    `ready` received, so already in the agent's default rooms (`user:`,
//!    `team:` and `queue:<id>` itself). Subscribed: a `subscribe` to
//!    `queue:<id>` answered (the `subscribed` frame, or an ack with `ok`);
//!    over Socket.IO that room is joined already, so the subscribe only
//!    re-joins it and its idle reading holds three room memberships to
//!    WebSocket's none. The connections open in two halves with a reading
//!    in between: the second half's growth is the marginal cost, without
//!    what the first connections warm up once (database pool, allocator
//!    arenas). Connections open and subscribe 64 at a time, in groups of
//!    500; between the steps each group is read by a keeper task that
//!    answers heartbeats (the Socket.IO server drops a socket whose ping
//!    goes unanswered for 20 s) and drops anything else.
//! 2. Fan-out. For `--duration-secs`, R commands per second go through the
//!    API on a fixed schedule, in R lanes (round robin, one command in
//!    flight per lane): priority changes of the R seeded tickets (high,
//!    low, high, …, so each changes something), or ticket creations. Each
//!    is one ticket event in the queue's room, so one frame to every
//!    connection. A command's send time is stamped just before its request
//!    goes out; a priority change's ticket and the version it creates are
//!    known beforehand, so its frame names it by `data.ticket_id` and
//!    `data.version`; a created ticket's title is `fan-out command <i>`.
//!    The connections are read by one task per CPU, each polling its share
//!    together; a frame's latency is its receive time minus its command's
//!    send time. Only the commands' ticket events count there; the other
//!    events a command causes (`notification:created`, queue metrics) are
//!    real work too, and are counted by name, per command and connection.
//! 3. Loss. Once the last command is answered, the clients get up to 10 s
//!    for the rest. Every connection must receive every acknowledged
//!    command's change exactly once: missing and duplicate frames are
//!    counted per connection, as are connections that ended.
//!
//! To tell where the time goes, each command also gets its HTTP answer
//! time, its first delivery (command to the first client: append, feed
//! projection, hub) and its spread (first to last client: the fan-out
//! itself); CPU use over the load is split into server, this process and
//! the rest of the machine, next to the load average. The terminal gets
//! one table with a column per run (backend and protocol) and the targets;
//! `--out` gets everything as JSON, the runs in order. Release builds of
//! both:
//!
//! ```text
//! cargo build --release --bin bomizzel
//! cargo run --release -p bomizzel-bench -- fanout --protocol both --connections 1000
//! cargo run --release -p bomizzel-bench -- fanout --protocol both --backend postgres \
//!     --command create --peer-dir ../shared/peers/socketio-node --connections 1000
//! ```

pub(crate) mod client;
pub mod floor;
mod peer;
pub(crate) mod server;
mod socketio_client;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bomizzel_identity::Role;
use clap::{Args, ValueEnum};
use serde::Serialize;
use tokio::sync::watch;

use crate::backend::{Backend, BackendChoice, FreshDatabase};
use crate::harness::Load;
use crate::report::{CpuSampler, CpuUsage, Latency, LatencySummary, Machine, Table, write_json};
use client::{Command, Idle, Plan, Protocol, ReaderLog};
use peer::Peer;
use server::{Api, Memory, Server};

/// Pause before reading the server's memory, for the last connections'
/// allocations to land.
const SETTLE: Duration = Duration::from_secs(2);
/// How long clients may still receive after the last command's answer.
const DRAIN: Duration = Duration::from_secs(10);
/// Open files this process needs besides its WebSocket connections.
const SPARE_FILES: usize = 256;
/// Targets: server memory per idle connection, and delivery p99.
const TARGET_IDLE_KIB: f64 = 8.0;
const TARGET_P99_MS: f64 = 50.0;

#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    /// The server's database.
    #[arg(long, value_enum, default_value_t = BackendChoice::Sqlite)]
    backend: BackendChoice,
    /// A PostgreSQL server URL whose user may CREATE and DROP DATABASE; each
    /// run gets its own database on that server.
    #[arg(
        long,
        env = "BOMIZZEL_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        hide_env_values = true
    )]
    postgres_url: String,
    /// The clients' transport: `/ws`, `/socket.io/`, or one run of each.
    #[arg(long, value_enum, default_value_t = ProtocolChoice::Websocket)]
    protocol: ProtocolChoice,
    /// What each command does: change a seeded ticket's priority, or open
    /// a ticket (the only command the Node peer has).
    #[arg(long, value_enum, default_value_t = Command::Priority)]
    command: Command,
    /// The Node peer's directory (`server.mjs`, `package.json`): one more
    /// run, against the peer, after the project's. Needs `--command create`,
    /// node and npm.
    #[arg(long)]
    peer_dir: Option<PathBuf>,
    #[command(flatten)]
    load: LoadShape,
    /// Percentages of the connections that stop reading after they
    /// subscribed (slow consumers), one run each: `0,10` compares the
    /// readers' latency without and with them. The server should close
    /// the stalled ones (4008) and the others should not notice.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    stalled_percent: Vec<u32>,
    /// Each client socket's receive buffer in bytes (default: the kernel's
    /// autotuning, which lets a stalled client take megabytes on this
    /// machine before the server notices it; a small one is a client on a
    /// poor link).
    #[arg(long)]
    client_receive_buffer: Option<u32>,
    /// The server's `--ws-send-queue` (frames per connection).
    #[arg(long, default_value_t = server::SEND_QUEUE)]
    send_queue: u32,
    /// The server's `--socket-send-buffer` (bytes; default: the kernel's autotuning).
    #[arg(long)]
    socket_send_buffer: Option<usize>,
    /// After each `/ws` run, the same load on a bare tokio-tungstenite
    /// broadcaster (`floor.rs`): the server CPU per frame of the project
    /// over the floor's. Priority changes only.
    #[arg(long)]
    floor: bool,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/bench/fanout.json")]
    out: PathBuf,
}

/// The fan-out load, shared with the `deflate` benchmark.
#[derive(Debug, Clone, Args)]
pub struct LoadShape {
    /// Connections, all subscribed to the one queue.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub connections: u64,
    /// Commands per second; each reaches every connection.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: u32,
    /// How long commands are sent, in seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration_secs: u64,
    /// The `bomizzel` binary to start; by default the one next to this
    /// benchmark's executable (build it with `cargo build --release --bin bomizzel`).
    #[arg(long)]
    pub server_binary: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProtocolChoice {
    Websocket,
    Socketio,
    Both,
}

/// The server a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Target {
    /// `bomizzel serve`.
    Project,
    /// The bare broadcaster (`--floor`, `floor.rs`).
    Floor,
    /// The Node peer (`--peer-dir`, `peer.rs`).
    NodePeer,
}

impl Target {
    /// `backend protocol`, naming a run of this target.
    fn label(self, backend: Backend, protocol: Protocol) -> String {
        match self {
            Self::Project => format!("{backend} {protocol}"),
            Self::Floor => format!("floor {protocol}"),
            Self::NodePeer => format!("node peer {backend} {protocol}"),
        }
    }
}

impl ProtocolChoice {
    fn protocols(self) -> Vec<Protocol> {
        match self {
            Self::Websocket => vec![Protocol::WebSocket],
            Self::Socketio => vec![Protocol::SocketIo],
            Self::Both => vec![Protocol::WebSocket, Protocol::SocketIo],
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    benchmark: &'static str,
    machine: Machine,
    config: Config,
    runs: Vec<RunResult>,
    /// With `--floor`: each `/ws` run's server CPU per frame over the floor's.
    floor_ratios: Vec<FloorRatio>,
}

#[derive(Debug, Serialize)]
struct FloorRatio {
    backend: Backend,
    project_us_per_frame: f64,
    floor_us_per_frame: f64,
    ratio: f64,
}

#[derive(Debug, Serialize)]
struct Config {
    connections: usize,
    command: Command,
    rate: u32,
    duration_secs: u64,
    server_binary: PathBuf,
    reader_tasks: usize,
    send_queue: u32,
}

#[derive(Debug, Serialize)]
struct RunResult {
    backend: Backend,
    protocol: Protocol,
    target: Target,
    /// A change frame the server sent, for the floor to copy.
    #[serde(skip)]
    sample_frame: Option<String>,
    connections: usize,
    connect_secs: f64,
    subscribe_secs: f64,
    memory: MemoryResult,
    load: LoadResult,
    loss: LossResult,
    /// Connections that stopped reading after they subscribed; not
    /// counted in `load` or `loss`.
    stalled: usize,
    /// Of those, closed by the server as too slow (4008) by the end.
    stalled_closed_4008: usize,
    /// Over the load, drain included; `database_cores` is the server process.
    cpu: Option<CpuUsage>,
    /// The machine's load average around the load (it is shared).
    load_average: Load,
}

#[derive(Debug, Serialize)]
struct MemoryResult {
    before: Memory,
    idle: Memory,
    subscribed: Memory,
    after_load: Memory,
    /// After the first half of the connections.
    half_idle: Memory,
    kib_per_idle_connection: f64,
    kib_per_subscribed_connection: f64,
    /// Growth per connection over the second half.
    marginal_kib_per_idle_connection: f64,
}

#[derive(Debug, Serialize)]
struct LoadResult {
    commands_planned: usize,
    commands_acknowledged: usize,
    /// Acknowledged commands per second between the first and last send.
    commands_per_sec: f64,
    /// How far behind its schedule the latest command was sent.
    max_send_delay_ms: f64,
    /// New change frames received, all connections.
    delivered_frames: u64,
    /// `delivered_frames` over first send to last receipt.
    delivered_per_sec: f64,
    /// Every change frame: receive time minus its command's send time.
    delivery: LatencySummary,
    /// Per command: send to its answer.
    command_answer: LatencySummary,
    /// Per command: send to the first connection's receipt.
    first_delivery: LatencySummary,
    /// Per command: first to last connection's receipt.
    spread: LatencySummary,
    /// CPU time per delivered ticket frame (the side events ride along free).
    server_cpu_us_per_frame: Option<f64>,
    bench_cpu_us_per_frame: Option<f64>,
    /// Events other than the commands' ticket events, by name, all
    /// connections.
    side_events: BTreeMap<String, u64>,
    /// `side_events` over acknowledged commands times reading connections.
    side_events_per_command: f64,
}

#[derive(Debug, Serialize)]
struct LossResult {
    /// Acknowledged commands' changes a connection never got, summed.
    missing_frames: u64,
    connections_missing_frames: usize,
    duplicate_frames: u64,
    /// Connections the server closed or that failed during the load.
    connections_ended: usize,
    /// A few distinct reasons why.
    ended_reasons: Vec<String>,
    /// Ticket events naming no command sent, or frames that are not events.
    unexpected_frames: u64,
    /// Commands that failed, with why.
    failed_commands: Vec<String>,
}

impl RunResult {
    /// Names the run in the tables.
    fn label(&self) -> String {
        let label = self.target.label(self.backend, self.protocol);
        match self.stalled {
            0 => label,
            stalled => format!("{label}, {stalled} stalled"),
        }
    }

    fn lossless(&self) -> bool {
        let loss = &self.loss;
        loss.missing_frames == 0
            && loss.duplicate_frames == 0
            && loss.connections_ended == 0
            && loss.failed_commands.is_empty()
    }
}

pub async fn run(args: FanoutArgs) -> Result<()> {
    let connections = usize::try_from(args.load.connections)?;
    let open_files = open_file_limit()?;
    ensure!(
        connections + SPARE_FILES <= open_files,
        "{connections} connections need {} open files, the limit is {open_files} (ulimit -n)",
        connections + SPARE_FILES
    );
    let binary = server_binary(args.load.server_binary.as_deref())?;
    let backends = match args.backend {
        BackendChoice::Sqlite => vec![Backend::Sqlite],
        BackendChoice::Postgres => vec![Backend::Postgres],
        BackendChoice::Both => vec![Backend::Sqlite, Backend::Postgres],
    };
    ensure!(
        !(args.floor && args.command == Command::Create),
        "--floor copies priority changes: use it with --command priority"
    );
    let peer = prepare_peer(&args)?;
    let readers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut runs = Vec::new();
    let mut failure = None;
    let mut variants: Vec<(Target, Backend, Protocol, u32)> = backends
        .iter()
        .flat_map(|backend| {
            let stalled = &args.stalled_percent;
            args.protocol
                .protocols()
                .into_iter()
                .flat_map(move |protocol| {
                    stalled
                        .iter()
                        .map(move |p| (Target::Project, *backend, protocol, *p))
                })
        })
        .collect();
    if peer.is_some() {
        variants.push((
            Target::NodePeer,
            Backend::Postgres,
            Protocol::NodeSocketIo,
            0,
        ));
    }
    'runs: for (target, backend, protocol, stalled_percent) in variants {
        let mut run = Run {
            args: &args,
            target,
            backend,
            protocol,
            connections,
            stalled: connections * stalled_percent as usize / 100,
            readers,
            peer: peer.as_ref(),
            sample_frame: None,
        };
        let with_floor = args.floor
            && target == Target::Project
            && protocol == Protocol::WebSocket
            && stalled_percent == 0;
        loop {
            match run_fresh(run.clone(), &binary).await {
                Ok(result) => {
                    if !result.lossless() {
                        failure = Some(anyhow::anyhow!(
                            "{}: changes were lost, duplicated or refused (see loss)",
                            result.label()
                        ));
                    }
                    runs.push(result);
                }
                Err(error) => {
                    let label = target.label(backend, protocol);
                    failure = Some(error.context(format!("{label}, {connections} connections")));
                    break 'runs;
                }
            }
            if run.target == Target::Floor || !with_floor {
                break;
            }
            run.target = Target::Floor;
            run.sample_frame = runs.last().and_then(|r| r.sample_frame.clone());
        }
    }
    if !runs.is_empty() {
        println!();
        println!("{}", summary_table(&runs));
        println!("{}", targets_table(&runs));
    }
    if peer.is_none() {
        println!("the Node peer was not measured (no --peer-dir)");
    }
    let floor_ratios = floor_ratios(&runs);
    for ratio in &floor_ratios {
        println!(
            "server CPU per frame, {} websocket over the floor: {:.2} / {:.2} µs = {:.2}x",
            ratio.backend, ratio.project_us_per_frame, ratio.floor_us_per_frame, ratio.ratio
        );
    }
    let report = Report {
        benchmark: "fanout",
        machine: Machine::describe(),
        config: Config {
            connections,
            command: args.command,
            rate: args.load.rate,
            duration_secs: args.load.duration_secs,
            server_binary: binary,
            reader_tasks: readers,
            send_queue: args.send_queue,
        },
        runs,
        floor_ratios,
    };
    write_json(&args.out, &report)?;
    println!("wrote {}", args.out.display());
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The Node peer, copied and installed, if `--peer-dir` names it; says so
/// when it does not.
fn prepare_peer(args: &FanoutArgs) -> Result<Option<Peer>> {
    let Some(dir) = &args.peer_dir else {
        eprintln!("no --peer-dir: the Node peer is not measured");
        return Ok(None);
    };
    ensure!(
        args.command == Command::Create,
        "the Node peer can only open tickets: use --peer-dir with --command create"
    );
    Ok(Some(Peer::prepare(dir).context("preparing the Node peer")?))
}

/// Each floor run against the `/ws` run just before it.
fn floor_ratios(runs: &[RunResult]) -> Vec<FloorRatio> {
    runs.windows(2)
        .filter(|pair| pair[1].target == Target::Floor && pair[0].target == Target::Project)
        .filter_map(|pair| {
            let project = pair[0].load.server_cpu_us_per_frame?;
            let floor = pair[1].load.server_cpu_us_per_frame?;
            Some(FloorRatio {
                backend: pair[0].backend,
                project_us_per_frame: project,
                floor_us_per_frame: floor,
                ratio: project / floor,
            })
        })
        .collect()
}

/// The `bomizzel` binary to start: `chosen`, or the one next to this
/// benchmark's executable.
pub(crate) fn server_binary(chosen: Option<&Path>) -> Result<PathBuf> {
    let binary = match chosen {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()?
            .parent()
            .context("the benchmark's executable has a directory")?
            .join("bomizzel"),
    };
    ensure!(
        binary.is_file(),
        "no server binary at {}: build it (cargo build --release --bin bomizzel) or pass --server-binary",
        binary.display()
    );
    Ok(binary)
}

/// One run with a database of its own, removed afterwards whatever happens
/// (Ctrl-C included); the server is killed first.
async fn run_fresh(run: Run<'_>, binary: &Path) -> Result<RunResult> {
    let data_dir = tempfile::Builder::new()
        .prefix("bomizzel-fanout-")
        .tempdir()
        .context("cannot create a temporary data directory")?;
    let database = match run.backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            Some(FreshDatabase::create(run.backend, &run.args.postgres_url).await?)
        }
    };
    let outcome = tokio::select! {
        outcome = run.measure(binary, data_dir.path(), database.as_ref().map(FreshDatabase::url)) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    if let Some(database) = database {
        database.remove().await?;
    }
    outcome
}

#[derive(Debug, Clone)]
struct Run<'a> {
    args: &'a FanoutArgs,
    target: Target,
    /// The project's database; the Node peer's is PostgreSQL.
    backend: Backend,
    protocol: Protocol,
    connections: usize,
    /// Connections that stop reading once subscribed.
    stalled: usize,
    readers: usize,
    /// The Node peer, ready to start (`--peer-dir`).
    peer: Option<&'a Peer>,
    /// For the floor: a change frame the project sent, to copy.
    sample_frame: Option<String>,
}

impl Run<'_> {
    async fn measure(
        self,
        binary: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
    ) -> Result<RunResult> {
        let (protocol, count) = (self.protocol, self.connections);
        let backend = self.target.label(self.backend, self.protocol);
        let (mut server, changes, tickets) = self.start(binary, data_dir, database_url).await?;
        tokio::time::sleep(SETTLE).await;
        server.ensure_running()?;
        let before = server.memory()?;
        eprintln!(
            "{backend}: server at {}, RSS {} KiB; connecting {count}",
            server.base_url, before.rss_kib
        );

        let token = server::token(server::AGENT, Role::Agent)?;
        let half = count / 2;
        let mut connect_secs = 0.0;
        let mut kept = Idle::new(protocol, self.args.client_receive_buffer);
        let mut readings = Vec::with_capacity(2);
        for batch in [half, count - half] {
            let started = Instant::now();
            kept.open(&server.base_url, &token, batch)
                .await
                .with_context(|| {
                    format!("connecting; the server's last words:\n{}", server.log())
                })?;
            connect_secs += started.elapsed().as_secs_f64();
            tokio::time::sleep(SETTLE).await;
            server.ensure_running()?;
            readings.push(server.memory()?);
        }
        let (half_idle, idle) = (readings[0], readings[1]);
        eprintln!(
            "{backend}: {count} connected in {connect_secs:.1} s, RSS {} KiB; subscribing",
            idle.rss_kib
        );

        let started = Instant::now();
        let room = format!("queue:{}", server::QUEUE);
        kept.subscribe(&room)
            .await
            .with_context(|| format!("subscribing; the server's last words:\n{}", server.log()))?;
        let subscribe_secs = started.elapsed().as_secs_f64();
        tokio::time::sleep(SETTLE).await;
        server.ensure_running()?;
        let subscribed = server.memory()?;
        let mut connections = kept.take_all().await.with_context(|| {
            format!(
                "after subscribing; the server's last words:\n{}",
                server.log()
            )
        })?;
        eprintln!(
            "{backend}: {count} subscribed in {subscribe_secs:.1} s, RSS {} KiB; {} commands/s for {} s",
            subscribed.rss_kib, self.args.load.rate, self.args.load.duration_secs
        );

        // Stalled connections are held, unread, until the load is over.
        let stalled: Vec<_> = connections.drain(..self.stalled).collect();
        let readers_count = count - stalled.len();
        let commands = self.args.load.rate as usize * self.args.load.duration_secs as usize;
        let plan = Arc::new(Plan::new(self.args.command, &tickets, commands));
        let (stop, stopped) = watch::channel(false);
        let mut readers = Vec::with_capacity(self.readers);
        let share = readers_count.div_ceil(self.readers);
        while !connections.is_empty() {
            let rest = connections.split_off(share.min(connections.len()));
            readers.push(tokio::spawn(ReaderLog::read(
                Arc::clone(&plan),
                protocol,
                connections,
                stopped.clone(),
            )));
            connections = rest;
        }
        let load_average = Load::start();
        let cpu = CpuSampler::start(vec![server.pid()]);
        let sent = drive(&changes, &plan, &tickets, self.args.load.rate).await;
        let acknowledged: Vec<usize> = (0..commands)
            .filter(|&i| matches!(&sent[i], Some(s) if s.answer.is_ok()))
            .collect();
        let expected = (acknowledged.len() * readers_count) as u64;
        let deadline = Instant::now() + DRAIN;
        while plan.unique_frames.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let cpu = cpu.finish();
        let load_average = load_average.finish();
        stop.send_replace(true);
        let mut logs = Vec::with_capacity(readers.len());
        for reader in readers {
            logs.push(reader.await.context("a reader panicked")?);
        }
        server.ensure_running()?;
        let after_load = server.memory()?;
        let stalled_count = stalled.len();
        let stalled_closed_4008 = closed_as_slow(protocol, stalled).await;

        let per_connection =
            |memory: &Memory| memory.rss_kib.saturating_sub(before.rss_kib) as f64 / count as f64;
        let result = RunResult {
            backend: self.backend,
            protocol,
            target: self.target,
            sample_frame: plan.sample_frame.get().cloned(),
            connections: count,
            connect_secs,
            subscribe_secs,
            memory: MemoryResult {
                kib_per_idle_connection: per_connection(&idle),
                kib_per_subscribed_connection: per_connection(&subscribed),
                marginal_kib_per_idle_connection: idle.rss_kib.saturating_sub(half_idle.rss_kib)
                    as f64
                    / (count - half).max(1) as f64,
                before,
                half_idle,
                idle,
                subscribed,
                after_load,
            },
            stalled: stalled_count,
            stalled_closed_4008,
            load: load_result(&plan, &sent, &acknowledged, &logs, cpu.as_ref()),
            loss: loss_result(&sent, &acknowledged, &logs),
            cpu,
            load_average,
        };
        eprintln!(
            "{backend}: {:.0} frames/s delivered, p99 {:.1} ms, {} missing, {} duplicate, {} ended",
            result.load.delivered_per_sec,
            result.load.delivery.p99_ms,
            result.loss.missing_frames,
            result.loss.duplicate_frames,
            result.loss.connections_ended,
        );
        Ok(result)
    }
}

impl Run<'_> {
    /// The server under load, where its changes come from, and the lanes
    /// of commands: the seeded tickets whose priority changes, or names.
    async fn start(
        &self,
        binary: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
    ) -> Result<(Server, Changes, Vec<String>)> {
        let lanes = self.args.load.rate as usize;
        let names = || (0..lanes).map(|n| format!("lane-{n}")).collect();
        match self.target {
            Target::Floor => {
                let (server, stdin) = Server::start_floor().await?;
                let control = floor::Control::new(stdin, self.sample_frame.as_deref())?;
                Ok((server, Changes::Floor(control), names()))
            }
            Target::NodePeer => {
                let peer = self.peer.context("the Node peer is not prepared")?;
                let url = database_url.context("the Node peer needs PostgreSQL")?;
                let server = peer.start(url).await?;
                let api = Api::new(&server.base_url)?;
                Ok((server, Changes::Api(api), names()))
            }
            Target::Project => {
                let settings = server::Settings {
                    send_queue: self.args.send_queue,
                    socket_send_buffer: self.args.socket_send_buffer,
                    ..server::Settings::default()
                };
                let server = Server::start(binary, data_dir, database_url, settings).await?;
                let api = Api::new(&server.base_url)?;
                let tickets = match self.args.command {
                    Command::Priority => api.seed(lanes).await?,
                    Command::Create => {
                        api.seed_directory().await?;
                        names()
                    }
                };
                Ok((server, Changes::Api(api), tickets))
            }
        }
    }
}

/// Where a run's changes come from.
#[derive(Debug, Clone)]
enum Changes {
    /// Commands through the HTTP API (the project's or the Node peer's).
    Api(Api),
    /// Frames handed to the bare broadcaster.
    Floor(floor::Control),
}

impl Changes {
    /// Makes command `i`, the `round`-th of its lane `ticket`; fails if
    /// the server refuses it or a priority change lands on another version
    /// than planned.
    async fn make(&self, plan: &Plan, i: usize, ticket: &str, round: usize) -> Result<()> {
        match (self, plan.command()) {
            (Self::Api(api), Command::Priority) => {
                let priority = server::alternating_priority(round);
                let version = api.change_priority(ticket, priority).await?;
                let planned = plan.version_of(i);
                ensure!(
                    version == planned,
                    "ticket {ticket} reached version {version}, expected {planned}"
                );
                Ok(())
            }
            (Self::Api(api), Command::Create) => {
                api.create_ticket(&Plan::title_of(i)).await?;
                Ok(())
            }
            (Self::Floor(control), _) => control.publish(i, ticket, plan.version_of(i)),
        }
    }
}

/// How many of `stalled` the server has closed as too slow (4008): each is
/// read (its backlog, then its end) for at most [`DRAIN`] in all.
async fn closed_as_slow(protocol: Protocol, stalled: Vec<client::Ws>) -> usize {
    let deadline = tokio::time::Instant::now() + DRAIN;
    let reads = stalled
        .into_iter()
        .map(|ws| client::read_to_end(protocol, ws, deadline));
    futures::future::join_all(reads)
        .await
        .iter()
        .filter(|why| {
            why.as_deref()
                .is_some_and(|why| why.starts_with("closed 4008"))
        })
        .count()
}

/// One command as sent.
#[derive(Debug)]
struct Sent {
    /// Send time, µs since the plan's base.
    at: u64,
    /// Behind schedule by this much when sent.
    delay: Duration,
    /// Time to the answer, or why the command failed.
    answer: Result<Duration, String>,
}

/// Sends the plan's commands, `rate` per second on a fixed schedule, one
/// task per lane (so each ticket's versions follow one another). A lane
/// whose command fails gets no more: its ticket's next versions are unknown.
async fn drive(
    changes: &Changes,
    plan: &Arc<Plan>,
    tickets: &[String],
    rate: u32,
) -> Vec<Option<Sent>> {
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let period = Duration::from_secs(1) / rate;
    let tasks: Vec<_> = tickets
        .iter()
        .enumerate()
        .map(|(k, ticket)| {
            let (changes, plan, ticket) = (changes.clone(), Arc::clone(plan), ticket.clone());
            let step = tickets.len();
            tokio::spawn(async move {
                let mut sent = Vec::new();
                for (round, i) in (k..plan.commands()).step_by(step).enumerate() {
                    let due = start + period * u32::try_from(i).unwrap_or(u32::MAX);
                    tokio::time::sleep_until(due).await;
                    let at = plan.stamp_sent(i);
                    let delay = due.elapsed();
                    let began = Instant::now();
                    let answer = changes
                        .make(&plan, i, &ticket, round)
                        .await
                        .map(|()| began.elapsed())
                        .map_err(|error| format!("{error:#}"));
                    let failed = answer.is_err();
                    sent.push((i, Sent { at, delay, answer }));
                    if failed {
                        break;
                    }
                }
                sent
            })
        })
        .collect();
    let mut all: Vec<Option<Sent>> = (0..plan.commands()).map(|_| None).collect();
    for task in tasks {
        // A panicked task's commands stay unsent and are reported missing.
        for (i, sent) in task.await.unwrap_or_default() {
            all[i] = Some(sent);
        }
    }
    all
}

fn load_result(
    plan: &Plan,
    sent: &[Option<Sent>],
    acknowledged: &[usize],
    logs: &[ReaderLog],
    cpu: Option<&CpuUsage>,
) -> LoadResult {
    let mut delivery = Latency::default();
    let mut side_events = BTreeMap::new();
    for log in logs {
        delivery.merge(&log.delivery);
        for (name, count) in &log.side_events {
            *side_events.entry(name.clone()).or_insert(0) += count;
        }
    }
    let reading: usize = logs.iter().map(|log| log.connections.len()).sum();
    let side_events_per_command =
        side_events.values().sum::<u64>() as f64 / (acknowledged.len() * reading).max(1) as f64;
    let sent_at: Vec<u64> = sent.iter().flatten().map(|s| s.at).collect();
    let first_sent = sent_at.iter().copied().min().unwrap_or(0);
    let last_sent = sent_at.iter().copied().max().unwrap_or(0);
    let mut answer = Latency::default();
    let mut first_delivery = Latency::default();
    let mut spread = Latency::default();
    let mut last_receipt = 0;
    for &i in acknowledged {
        let Some(Sent {
            at,
            answer: Ok(took),
            ..
        }) = &sent[i]
        else {
            continue;
        };
        answer.record(*took);
        let first = logs
            .iter()
            .map(|log| log.first[i])
            .min()
            .unwrap_or(u64::MAX);
        let last = logs.iter().map(|log| log.last[i]).max().unwrap_or(0);
        if first != u64::MAX {
            first_delivery.record(Duration::from_micros(first.saturating_sub(*at)));
            spread.record(Duration::from_micros(last.saturating_sub(first)));
            last_receipt = last_receipt.max(last);
        }
    }
    let delivered_frames = plan.unique_frames.load(Ordering::Relaxed);
    let secs = |micros: u64| micros as f64 / 1e6;
    let delivered_per_sec =
        delivered_frames as f64 / secs(last_receipt.saturating_sub(first_sent)).max(1e-6);
    let per_frame = |cores: f64| cores * 1e6 / delivered_per_sec.max(1.0);
    LoadResult {
        commands_planned: plan.commands(),
        commands_acknowledged: acknowledged.len(),
        commands_per_sec: acknowledged.len().saturating_sub(1) as f64
            / secs(last_sent.saturating_sub(first_sent)).max(1e-6),
        max_send_delay_ms: sent
            .iter()
            .flatten()
            .map(|s| s.delay.as_secs_f64() * 1000.0)
            .fold(0.0, f64::max),
        delivered_frames,
        delivered_per_sec,
        delivery: delivery.summary(),
        command_answer: answer.summary(),
        first_delivery: first_delivery.summary(),
        spread: spread.summary(),
        server_cpu_us_per_frame: cpu.map(|c| per_frame(c.database_cores)),
        bench_cpu_us_per_frame: cpu.map(|c| per_frame(c.bench_process_cores)),
        side_events,
        side_events_per_command,
    }
}

fn loss_result(sent: &[Option<Sent>], acknowledged: &[usize], logs: &[ReaderLog]) -> LossResult {
    let mut loss = LossResult {
        missing_frames: 0,
        connections_missing_frames: 0,
        duplicate_frames: 0,
        connections_ended: 0,
        ended_reasons: Vec::new(),
        unexpected_frames: 0,
        failed_commands: sent
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Some(Sent { answer: Err(e), .. }) => Some(format!("command {i}: {e}")),
                Some(_) => None,
                None => Some(format!("command {i}: not sent")),
            })
            .collect(),
    };
    for log in logs {
        loss.unexpected_frames += log.unexpected_frames;
        for connection in &log.connections {
            let missing = acknowledged.iter().filter(|&&i| !connection.has(i)).count() as u64;
            loss.missing_frames += missing;
            loss.connections_missing_frames += usize::from(missing > 0);
            loss.duplicate_frames += connection.duplicates;
            if let Some(reason) = &connection.ended {
                loss.connections_ended += 1;
                if loss.ended_reasons.len() < 5 && !loss.ended_reasons.contains(reason) {
                    loss.ended_reasons.push(reason.clone());
                }
            }
        }
    }
    loss
}

/// Every run's figures side by side, a column per run. "Where the time
/// goes": per command, its answer, its first delivery and its spread over
/// the connections (p50 / p99 ms); CPU in cores over the load ("other" is
/// the rest of the machine, PostgreSQL included), and per delivered frame,
/// which other work on the machine disturbs less.
fn summary_table(runs: &[RunResult]) -> Table {
    type Cell = fn(&RunResult) -> String;
    fn mib(kib: u64) -> String {
        format!("{:.1}", kib as f64 / 1024.0)
    }
    fn pair(l: &LatencySummary) -> String {
        format!("{:.1} / {:.1}", l.p50_ms, l.p99_ms)
    }
    fn cpu(run: &RunResult, f: fn(&CpuUsage) -> f64) -> String {
        run.cpu
            .as_ref()
            .map_or_else(|| "-".to_owned(), |c| format!("{:.2}", f(c)))
    }
    fn per_frame(us: Option<f64>) -> String {
        us.map_or_else(|| "-".to_owned(), |us| format!("{us:.2}"))
    }
    let rows: Vec<(&str, Cell)> = vec![
        ("connections", |r| r.connections.to_string()),
        ("stalled / closed 4008", |r| {
            format!("{} / {}", r.stalled, r.stalled_closed_4008)
        }),
        ("connect s", |r| format!("{:.1}", r.connect_secs)),
        ("subscribe s", |r| format!("{:.1}", r.subscribe_secs)),
        ("RSS before MiB", |r| mib(r.memory.before.rss_kib)),
        ("RSS half idle MiB", |r| mib(r.memory.half_idle.rss_kib)),
        ("RSS idle MiB", |r| mib(r.memory.idle.rss_kib)),
        ("RSS subscribed MiB", |r| mib(r.memory.subscribed.rss_kib)),
        ("RSS after load MiB", |r| mib(r.memory.after_load.rss_kib)),
        ("RSS peak MiB", |r| mib(r.memory.after_load.peak_rss_kib)),
        ("KiB/conn idle", |r| {
            format!("{:.2}", r.memory.kib_per_idle_connection)
        }),
        ("KiB/conn idle, marginal", |r| {
            format!("{:.2}", r.memory.marginal_kib_per_idle_connection)
        }),
        ("KiB/conn subscribed", |r| {
            format!("{:.2}", r.memory.kib_per_subscribed_connection)
        }),
        ("commands/s", |r| format!("{:.1}", r.load.commands_per_sec)),
        ("frames/s", |r| format!("{:.0}", r.load.delivered_per_sec)),
        ("other events/cmd/conn", |r| {
            format!("{:.2}", r.load.side_events_per_command)
        }),
        ("delivery p50 ms", |r| {
            format!("{:.1}", r.load.delivery.p50_ms)
        }),
        ("delivery p90 ms", |r| {
            format!("{:.1}", r.load.delivery.p90_ms)
        }),
        ("delivery p99 ms", |r| {
            format!("{:.1}", r.load.delivery.p99_ms)
        }),
        ("delivery max ms", |r| {
            format!("{:.1}", r.load.delivery.max_ms)
        }),
        ("missing", |r| r.loss.missing_frames.to_string()),
        ("duplicate", |r| r.loss.duplicate_frames.to_string()),
        ("ended", |r| r.loss.connections_ended.to_string()),
        ("unexpected", |r| r.loss.unexpected_frames.to_string()),
        ("answer ms", |r| pair(&r.load.command_answer)),
        ("first delivery ms", |r| pair(&r.load.first_delivery)),
        ("spread ms", |r| pair(&r.load.spread)),
        ("send delay ms", |r| {
            format!("{:.1}", r.load.max_send_delay_ms)
        }),
        ("server CPU", |r| cpu(r, |c| c.database_cores)),
        ("bench CPU", |r| cpu(r, |c| c.bench_process_cores)),
        ("other CPU", |r| cpu(r, |c| c.other_cores)),
        ("server µs/frame", |r| {
            per_frame(r.load.server_cpu_us_per_frame)
        }),
        ("bench µs/frame", |r| {
            per_frame(r.load.bench_cpu_us_per_frame)
        }),
        ("load avg", |r| r.load_average.brief()),
    ];
    let labels: Vec<String> = runs.iter().map(RunResult::label).collect();
    let header: Vec<&str> = std::iter::once("")
        .chain(labels.iter().map(String::as_str))
        .collect();
    let mut table = Table::new(&header);
    for (name, cell) in rows {
        table.row(
            std::iter::once(name.to_owned())
                .chain(runs.iter().map(cell))
                .collect(),
        );
    }
    table
}

/// The project's targets per run, and, with the Node peer measured, its
/// p99 and memory per subscribed socket against half the peer's.
fn targets_table(runs: &[RunResult]) -> Table {
    let mut table = Table::new(&["run", "target", "measured", "met"]);
    let met = |ok: bool| if ok { "yes" } else { "NO" }.to_owned();
    let peer = runs.iter().find(|run| run.target == Target::NodePeer);
    for run in runs {
        let idle = run.memory.kib_per_idle_connection;
        let p99 = run.load.delivery.p99_ms;
        let missing = run.loss.missing_frames;
        let mut targets = vec![
            (
                format!("idle KiB/conn <= {TARGET_IDLE_KIB}"),
                format!("{idle:.2}"),
                idle <= TARGET_IDLE_KIB,
            ),
            (
                format!("p99 <= {TARGET_P99_MS} ms"),
                format!("{p99:.1}"),
                p99 <= TARGET_P99_MS,
            ),
            (
                "no loss".to_owned(),
                format!(
                    "{missing} missing, {} duplicate, {} ended",
                    run.loss.duplicate_frames, run.loss.connections_ended
                ),
                run.lossless(),
            ),
        ];
        if let (Target::Project, Some(peer)) = (run.target, peer) {
            let (peer_p99, peer_kib) = (
                peer.load.delivery.p99_ms,
                peer.memory.kib_per_subscribed_connection,
            );
            let kib = run.memory.kib_per_subscribed_connection;
            targets.push((
                format!("p99 <= half the Node peer's {peer_p99:.1} ms"),
                format!("{p99:.1} ({:.2}x)", p99 / peer_p99),
                p99 <= peer_p99 / 2.0,
            ));
            targets.push((
                format!("KiB/conn subscribed <= half the Node peer's {peer_kib:.2}"),
                format!("{kib:.2} ({:.2}x)", kib / peer_kib),
                kib <= peer_kib / 2.0,
            ));
        }
        for (target, measured, ok) in targets {
            table.row(vec![run.label(), target, measured, met(ok)]);
        }
    }
    table
}

/// The soft limit of open files of this process (the server inherits it).
fn open_file_limit() -> Result<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    let Some(line) = limits.lines().find(|l| l.starts_with("Max open files")) else {
        bail!("no open-file limit in /proc/self/limits");
    };
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()
        .unwrap_or_default();
    Ok(soft.parse().unwrap_or(usize::MAX))
}
