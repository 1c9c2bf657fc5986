//! Presence under load: `--clients` `/ws` clients, each a user of its own,
//! spread over `--tickets` ticket rooms, each client changing its activity
//! (replying, then viewing, then replying…) every `--period-ms`. Measured:
//! how long a change takes to reach the other clients of its room (from
//! the sender's frame to each receiver's list that shows it), and the
//! server's CPU per announcement. The real server binary runs as a child
//! process, on SQLite (presence never touches the database).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bomizzel_identity::Role;
use clap::Args;
use futures::{SinkExt, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::fanout::server::{self, Api, Server, Settings};
use crate::harness::{Load, count_bar, time_bar};
use crate::report::{CpuSampler, CpuUsage, Latency, LatencySummary, Machine, Table, write_json};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SETUP_CONCURRENCY: usize = 64;
const WARMUP: Duration = Duration::from_secs(5);
/// The activities a client takes turns with.
const ACTIVITIES: [&str; 2] = ["replying", "viewing"];

#[derive(Debug, Args)]
pub struct PresenceArgs {
    /// Clients, each a user of its own.
    #[arg(long, default_value_t = 2000)]
    clients: usize,
    /// Ticket rooms they are spread over.
    #[arg(long, default_value_t = 200)]
    tickets: usize,
    /// Each client changes its activity this often, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    period_ms: u64,
    /// How long changes are measured, in seconds (after a 5 s warm-up).
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// The `bomizzel` binary to start; by default the one next to this
    /// benchmark's executable.
    #[arg(long)]
    server_binary: Option<PathBuf>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/bench/presence.json")]
    out: PathBuf,
}

#[derive(Debug, Serialize)]
struct Report {
    benchmark: &'static str,
    machine: Machine,
    clients: usize,
    tickets: usize,
    period_ms: u64,
    duration_secs: u64,
    /// Announcements sent in the measured window.
    announcements: u64,
    announcements_per_sec: f64,
    /// Lists received by clients in the measured window.
    lists_received: u64,
    /// From an announcement to each other client of the room seeing it.
    propagation: LatencySummary,
    cpu: Option<CpuUsage>,
    /// The server's CPU time per announcement (its lists to every member
    /// of the room included).
    server_cpu_us_per_announcement: Option<f64>,
    load: Load,
}

/// What every client announced last, by client: when (µs since the start)
/// and which activity (index into [`ACTIVITIES`]), packed as `µs << 1 | activity`.
struct Announced(Vec<AtomicU64>);

impl Announced {
    fn record(&self, client: usize, at_us: u64, activity: usize) {
        self.0[client].store(at_us << 1 | activity as u64, Ordering::Release);
    }

    fn last(&self, client: usize) -> (u64, usize) {
        let packed = self.0[client].load(Ordering::Acquire);
        (packed >> 1, (packed & 1) as usize)
    }
}

fn user(client: usize) -> String {
    format!("presence-{client}")
}

pub async fn run(args: PresenceArgs) -> Result<()> {
    ensure!(
        args.tickets > 0 && args.clients >= args.tickets,
        "at least one client per ticket"
    );
    let binary = crate::fanout::server_binary(args.server_binary.as_deref())?;
    let data_dir = tempfile::tempdir()?;
    let mut server = Server::start(&binary, data_dir.path(), None, Settings::default()).await?;
    let api = Api::new(&server.base_url)?;
    let tickets = api.seed(args.tickets).await?;
    let clients = connect_all(&server.base_url, &tickets, args.clients).await?;
    server.ensure_running()?;

    let start = Instant::now();
    let announced = Arc::new(Announced(
        (0..args.clients).map(|_| AtomicU64::new(0)).collect(),
    ));
    let period = Duration::from_millis(args.period_ms);
    let measured = Duration::from_secs(args.duration_secs);
    let window = (start + WARMUP, start + WARMUP + measured);
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(client, ws)| {
            let announced = Arc::clone(&announced);
            let phase = period.mul_f64(client as f64 / args.clients as f64);
            tokio::spawn(drive(ws, client, start, phase, period, window, announced))
        })
        .collect();
    let progress = time_bar("presence".into(), WARMUP + measured);
    tokio::time::sleep(WARMUP).await;
    let load = Load::start();
    let cpu = CpuSampler::start(vec![server.pid()]);
    let ticker = tokio::spawn({
        let progress = progress.clone();
        async move {
            loop {
                progress.set_position(start.elapsed().as_millis() as u64);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });
    tokio::time::sleep(measured).await;
    let cpu = cpu.finish();
    let load = load.finish();
    ticker.abort();
    progress.finish_and_clear();
    let mut propagation = Latency::default();
    let (mut announcements, mut lists) = (0, 0);
    for task in tasks {
        let outcome = task.await??;
        propagation.merge(&outcome.latency);
        announcements += outcome.announcements;
        lists += outcome.lists;
    }
    server.ensure_running()?;
    let seconds = measured.as_secs_f64();
    let report = Report {
        benchmark: "presence",
        machine: Machine::describe(),
        clients: args.clients,
        tickets: args.tickets,
        period_ms: args.period_ms,
        duration_secs: args.duration_secs,
        announcements,
        announcements_per_sec: announcements as f64 / seconds,
        lists_received: lists,
        propagation: propagation.summary(),
        server_cpu_us_per_announcement: cpu
            .as_ref()
            .map(|c| c.database_cores * seconds * 1e6 / announcements.max(1) as f64),
        cpu,
        load,
    };
    print_summary(&report);
    write_json(&args.out, &report)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

fn print_summary(report: &Report) {
    let mut table = Table::new(&[
        "clients",
        "tickets",
        "announcements/s",
        "lists/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "server CPU",
        "µs/announcement",
        "load",
    ]);
    let seconds = report.duration_secs as f64;
    table.row(vec![
        report.clients.to_string(),
        report.tickets.to_string(),
        format!("{:.0}", report.announcements_per_sec),
        format!("{:.0}", report.lists_received as f64 / seconds),
        format!("{:.1}", report.propagation.p50_ms),
        format!("{:.1}", report.propagation.p99_ms),
        format!("{:.1}", report.propagation.max_ms),
        report
            .cpu
            .as_ref()
            .map_or("?".into(), |c| format!("{:.2} cores", c.database_cores)),
        report
            .server_cpu_us_per_announcement
            .map_or("?".into(), |us| format!("{us:.0}")),
        report.load.brief(),
    ]);
    println!("{table}");
}

/// Opens every client as its own user (an admin: no directory needed) in
/// the room of ticket `client % tickets`, and waits for its first list.
async fn connect_all(
    base_url: &str,
    tickets: &[String],
    clients: usize,
) -> Result<Vec<(Ws, String)>> {
    let progress = count_bar("connect".into(), clients as u64);
    let opened = futures::stream::iter(0..clients)
        .map(|client| {
            let room = format!("ticket:{}", tickets[client % tickets.len()]);
            let progress = progress.clone();
            async move {
                let ws = open(base_url, &user(client), &room).await?;
                progress.inc(1);
                Ok::<_, anyhow::Error>((ws, room))
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await;
    progress.finish_and_clear();
    opened
}

async fn open(base_url: &str, user: &str, room: &str) -> Result<Ws> {
    let token = server::token(user, Role::Admin)?;
    let mut request =
        format!("{}/ws", base_url.replacen("http://", "ws://", 1)).into_client_request()?;
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}"))?,
    );
    let (mut ws, _) = connect_async(request).await?;
    ws.send(Message::text(
        json!({ "type": "subscribe", "room": room }).to_string(),
    ))
    .await?;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .context("no presence list in time")?
            .context("closed while joining")??;
        if let Message::Text(text) = message
            && serde_json::from_str::<Value>(&text)?["type"] == "presence"
        {
            return Ok(ws);
        }
    }
}

struct Outcome {
    latency: Latency,
    announcements: u64,
    lists: u64,
}

/// One client: announces every `period` (from `phase` on) and reads lists,
/// timing each other member's change it sees against when they sent it.
async fn drive(
    (mut ws, room): (Ws, String),
    client: usize,
    start: Instant,
    phase: Duration,
    period: Duration,
    window: (Instant, Instant),
    announced: Arc<Announced>,
) -> Result<Outcome> {
    let mut outcome = Outcome {
        latency: Latency::default(),
        announcements: 0,
        lists: 0,
    };
    let mut next = tokio::time::Instant::from_std(start + phase);
    let mut turn = 0usize;
    // What this client last saw each other member doing.
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let measuring = |at: Instant| at >= window.0 && at < window.1;
    while Instant::now() < window.1 {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {
                turn += 1;
                let activity = turn % 2;
                let now = Instant::now();
                announced.record(client, now.duration_since(start).as_micros() as u64, activity);
                let frame = json!({ "type": "presence", "room": room, "activity": ACTIVITIES[activity] });
                ws.send(Message::text(frame.to_string())).await?;
                if measuring(now) {
                    outcome.announcements += 1;
                }
                next += period;
            }
            message = ws.next() => {
                let Some(message) = message else { anyhow::bail!("client {client}: the server closed") };
                let Message::Text(text) = message? else { continue };
                let now = Instant::now();
                let frame: Value = serde_json::from_str(&text)?;
                if frame["type"] != "presence" {
                    continue;
                }
                if measuring(now) {
                    outcome.lists += 1;
                }
                for member in frame["members"].as_array().into_iter().flatten() {
                    let Some(other) = member["user"].as_str().and_then(|u| u.strip_prefix("presence-")).and_then(|n| n.parse::<usize>().ok()) else { continue };
                    let Some(activity) = ACTIVITIES.iter().position(|a| member["activity"] == *a) else { continue };
                    if other == client || seen.insert(other, activity) == Some(activity) {
                        continue;
                    }
                    let (sent_us, sent_activity) = announced.last(other);
                    if sent_activity == activity && measuring(now) {
                        let sent = start + Duration::from_micros(sent_us);
                        outcome.latency.record(now.saturating_duration_since(sent));
                    }
                }
            }
        }
    }
    Ok(outcome)
}
