//! Restart storm: the real server restarted (SIGTERM, then started again on
//! the same address and data, as a deploy does) while thousands of `/ws`
//! clients follow a busy room; every client reconnects at once, as clients
//! in the field do, and resumes from its last offset.
//!
//! A run starts `bomizzel serve` on SQLite in a temporary directory, seeds
//! the fan-out fixture (one queue, one agent, R tickets), and opens every
//! client at once (itself a storm). Each client subscribes `queue:<id>`,
//! keeps the offsets it receives, and whenever its connection ends
//! connects again at once (every 50 ms while refused) and subscribes from
//! its last offset. R priority changes per second go through the API for
//! the whole run; the server is restarted after `--before-secs`. At the
//! end every client must hold exactly the room feed's changes after its
//! first offset, read from the database: none missing, none twice, in order.
//!
//! ```text
//! cargo build --release --bin bomizzel -p bomizzel-bench
//! target/release/bomizzel-bench storm --clients 2000
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bomizzel_identity::Role;
use bomizzel_projections::{checkpoint, feed};
use bomizzel_store::EventStore;
use clap::Args;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::fanout::client::Protocol;
use crate::fanout::server::{self, Api, Server, Settings};
use crate::harness::Load;
use crate::report::{Machine, Table, write_json};

/// Longest wait for every client to be subscribed, and for the last changes.
const DEADLINE: Duration = Duration::from_secs(120);
/// A refused client tries again after this.
const RETRY: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Args)]
pub struct StormArgs {
    /// Clients following the room.
    #[arg(long, default_value_t = 2000)]
    clients: usize,
    /// Commands per second, each a change in the room.
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// Seconds of load before the restart.
    #[arg(long, default_value_t = 10)]
    before_secs: u64,
    /// Seconds of load after every client resumed.
    #[arg(long, default_value_t = 10)]
    after_secs: u64,
    /// The `bomizzel` binary; by default the one next to this executable.
    #[arg(long)]
    server_binary: Option<PathBuf>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/bench/storm.json")]
    out: PathBuf,
}

#[derive(Debug, Serialize)]
struct StormResult {
    clients: usize,
    /// All clients opened at once: until every one had subscribed.
    first_storm_secs: f64,
    /// SIGTERM until the new process listens.
    restart_secs: f64,
    /// SIGTERM until every client had subscribed again.
    all_resumed_secs: f64,
    /// Connection attempts refused or failed, all clients, whole run.
    failed_connects: usize,
    commands_acknowledged: usize,
    commands_failed: usize,
    /// Changes checked against the feed, all clients.
    changes_checked: usize,
    missing: usize,
    duplicate: usize,
    out_of_order: usize,
    server_rss_kib_after: u64,
    load_average: Load,
    machine: Machine,
}

/// What one client received.
#[derive(Debug, Default)]
struct Received {
    first: Option<i64>,
    offsets: Vec<i64>,
    failed_connects: usize,
}

/// Counts shared by the clients.
#[derive(Debug)]
struct Progress {
    subscribed: AtomicUsize,
    /// Each client's last offset received.
    last: Vec<AtomicI64>,
}

pub async fn run(args: StormArgs) -> Result<()> {
    let binary = crate::fanout::server_binary(args.server_binary.as_deref())?;
    let data_dir = tempfile::Builder::new()
        .prefix("bomizzel-storm-")
        .tempdir()?;
    let mut server = Server::start(&binary, data_dir.path(), None, Settings::default()).await?;
    let api = Api::new(&server.base_url)?;
    let tickets = api.seed(args.rate as usize).await?;
    let token = server::token(server::AGENT, Role::Agent)?;
    let room = format!("queue:{}", server::QUEUE);
    let progress = Arc::new(Progress {
        subscribed: AtomicUsize::new(0),
        last: (0..args.clients).map(|_| AtomicI64::new(0)).collect(),
    });
    let (stop_commands, commands_stopped) = watch::channel(false);
    let (stop_clients, clients_stopped) = watch::channel(false);
    eprintln!("storm: {} clients connecting at once", args.clients);
    let started = Instant::now();
    let clients: Vec<_> = (0..args.clients)
        .map(|n| {
            tokio::spawn(follow(
                n,
                (server.base_url.clone(), token.clone(), room.clone()),
                Arc::clone(&progress),
                clients_stopped.clone(),
            ))
        })
        .collect();
    until_subscribed(&progress, args.clients).await?;
    let first_storm_secs = started.elapsed().as_secs_f64();

    let load_average = Load::start();
    let commands = tokio::spawn(drive(api, tickets, args.rate, commands_stopped));
    tokio::time::sleep(Duration::from_secs(args.before_secs)).await;
    eprintln!("storm: restarting the server");
    let restarted = Instant::now();
    server.restart().await?;
    let restart_secs = restarted.elapsed().as_secs_f64();
    until_subscribed(&progress, 2 * args.clients).await?;
    let all_resumed_secs = restarted.elapsed().as_secs_f64();
    eprintln!(
        "storm: all {} resumed after {all_resumed_secs:.2} s",
        args.clients
    );
    tokio::time::sleep(Duration::from_secs(args.after_secs)).await;
    let _ = stop_commands.send(true);
    let (acknowledged, failed) = commands.await?;
    let load_average = load_average.finish();

    let url = format!("sqlite://{}", data_dir.path().join("bomizzel.db").display());
    let store = EventStore::connect(&url).await?;
    until_delivered(&store, &progress).await?;
    let _ = stop_clients.send(true);
    let mut received = Vec::with_capacity(clients.len());
    for client in clients {
        received.push(client.await?);
    }
    let mut result = StormResult {
        clients: args.clients,
        first_storm_secs,
        restart_secs,
        all_resumed_secs,
        failed_connects: received.iter().map(|r| r.failed_connects).sum(),
        commands_acknowledged: acknowledged,
        commands_failed: failed,
        changes_checked: 0,
        missing: 0,
        duplicate: 0,
        out_of_order: 0,
        server_rss_kib_after: server.memory()?.rss_kib,
        load_average,
        machine: Machine::describe(),
    };
    check(&store, &room, &received, &mut result).await?;
    println!("{}", table(&result));
    write_json(&args.out, &result)?;
    println!("wrote {}", args.out.display());
    ensure!(
        result.missing == 0 && result.duplicate == 0 && result.out_of_order == 0,
        "changes were lost, repeated or reordered"
    );
    Ok(())
}

async fn until_subscribed(progress: &Progress, count: usize) -> Result<()> {
    let started = Instant::now();
    while progress.subscribed.load(Ordering::SeqCst) < count {
        ensure!(
            started.elapsed() < DEADLINE,
            "{} of {count} subscriptions after {DEADLINE:?}",
            progress.subscribed.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Waits until the feed has every event and every client its last change.
async fn until_delivered(store: &EventStore, progress: &Progress) -> Result<()> {
    let started = Instant::now();
    let head = store.head().await?;
    loop {
        let position = checkpoint::load(store.database(), feed::NAME)
            .await?
            .position;
        let offset = feed::meta(store.database()).await?.map_or(0, |m| m.head);
        let behind = progress
            .last
            .iter()
            .filter(|last| last.load(Ordering::SeqCst) < offset)
            .count();
        if position >= head && behind == 0 {
            return Ok(());
        }
        ensure!(
            started.elapsed() < DEADLINE,
            "{behind} clients behind the feed's head {offset} after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Client `n`: follows `room`, reconnecting at once whenever its
/// connection ends and resuming from its last offset, until `stop`.
async fn follow(
    n: usize,
    (base_url, token, room): (String, String, String),
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> Received {
    let mut received = Received::default();
    loop {
        if *stop.borrow() {
            return received;
        }
        let request = Protocol::WebSocket
            .request(&base_url, &token)
            .expect("a request");
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(request).await else {
            received.failed_connects += 1;
            tokio::time::sleep(RETRY).await;
            continue;
        };
        loop {
            let message = tokio::select! {
                message = ws.next() => message,
                _ = stop.changed() => return received,
            };
            let Some(Ok(Message::Text(text))) = message else {
                break;
            };
            let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            match frame["type"].as_str() {
                Some("ready") => {
                    let ready_at = frame["offset"].as_i64().unwrap_or(0);
                    let since = *received
                        .offsets
                        .last()
                        .unwrap_or(received.first.get_or_insert(ready_at));
                    let subscribe = json!({ "type": "subscribe", "room": room, "since": since });
                    if ws.send(Message::text(subscribe.to_string())).await.is_err() {
                        break;
                    }
                }
                Some("subscribed") => {
                    progress.subscribed.fetch_add(1, Ordering::SeqCst);
                }
                Some("event") => {
                    if let Some(offset) = frame["offset"].as_i64() {
                        received.offsets.push(offset);
                        progress.last[n].store(offset, Ordering::SeqCst);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Priority changes, `rate` per second round robin over `tickets`, until
/// `stop`; how many were acknowledged and how many failed (while the
/// server restarted).
async fn drive(
    api: Api,
    tickets: Vec<String>,
    rate: u32,
    stop: watch::Receiver<bool>,
) -> (usize, usize) {
    let mut every = tokio::time::interval(Duration::from_secs(1) / rate);
    let (mut acknowledged, mut failed) = (0, 0);
    for n in 0.. {
        every.tick().await;
        if *stop.borrow() {
            break;
        }
        let priority = if (n / tickets.len()).is_multiple_of(2) {
            "high"
        } else {
            "low"
        };
        match api
            .change_priority(&tickets[n % tickets.len()], priority)
            .await
        {
            Ok(_) => acknowledged += 1,
            Err(_) => failed += 1,
        }
    }
    (acknowledged, failed)
}

/// Compares each client's offsets with the feed's changes after its first.
async fn check(
    store: &EventStore,
    room: &str,
    received: &[Received],
    result: &mut StormResult,
) -> Result<()> {
    let all = feed::replay(store.database(), &[room.to_owned()], 0, u32::MAX)
        .await
        .context("reading the room feed")?;
    let feed: Vec<i64> = all
        .iter()
        .filter(|c| c.audience.reaches_staff())
        .map(|c| c.offset)
        .collect();
    for client in received {
        let first = client.first.unwrap_or(0);
        let expected: Vec<i64> = feed.iter().copied().filter(|o| *o > first).collect();
        let got = &client.offsets;
        let unique: std::collections::BTreeSet<i64> = got.iter().copied().collect();
        result.changes_checked += expected.len();
        result.duplicate += got.len() - unique.len();
        result.out_of_order += got.windows(2).filter(|w| w[0] >= w[1]).count();
        result.missing += expected.iter().filter(|o| !unique.contains(o)).count();
    }
    Ok(())
}

fn table(result: &StormResult) -> Table {
    let mut table = Table::new(&["restart storm", "measured"]);
    let rows = [
        ("clients", result.clients.to_string()),
        (
            "first storm: all subscribed s",
            format!("{:.2}", result.first_storm_secs),
        ),
        (
            "restart: SIGTERM to listening s",
            format!("{:.2}", result.restart_secs),
        ),
        (
            "restart: all resumed s",
            format!("{:.2}", result.all_resumed_secs),
        ),
        (
            "failed connect attempts",
            result.failed_connects.to_string(),
        ),
        (
            "commands ok / failed",
            format!(
                "{} / {}",
                result.commands_acknowledged, result.commands_failed
            ),
        ),
        ("changes checked", result.changes_checked.to_string()),
        ("missing", result.missing.to_string()),
        ("duplicate", result.duplicate.to_string()),
        ("out of order", result.out_of_order.to_string()),
        (
            "server RSS after MiB",
            format!("{:.1}", result.server_rss_kib_after as f64 / 1024.0),
        ),
        ("load avg", result.load_average.brief()),
    ];
    for (name, value) in rows {
        table.row(vec![name.to_owned(), value]);
    }
    table
}
