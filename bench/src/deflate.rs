//! What permessage-deflate on `/ws` (`--ws-deflate`) costs and saves:
//! the same clients, all offering the extension as browsers do, against
//! the server without and with the setting, one run each on a fresh
//! server (SQLite).
//!
//! A run opens C connections (64 handshakes at a time), subscribes each
//! to the one queue, then sends R priority changes per second for D
//! seconds through the API, each one frame to every connection, and
//! waits until every connection has every change (or 10 s). Reported per
//! run: the bytes a client read from its socket per change (frame
//! headers included: what crosses the wire), the frames' text per change,
//! the server's RSS growth per subscribed connection, and its CPU time
//! per frame delivered.
//!
//! ```text
//! cargo build --release --bin bomizzel
//! cargo run --release -p bomizzel-bench -- deflate --connections 1000
//! ```

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use bomizzel_identity::Role;
use clap::Args;
use futures::{SinkExt, StreamExt, stream};
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use yawc::{Frame, OpCode, Options, WebSocket};

use crate::fanout::LoadShape;
use crate::fanout::server::{self, Api, Server, Settings};
use crate::harness::Load;
use crate::report::{CpuSampler, CpuUsage, Machine, Table, write_json};

const SETUP_CONCURRENCY: usize = 64;
const SETTLE: Duration = Duration::from_secs(2);
const DRAIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Args)]
pub struct DeflateArgs {
    #[command(flatten)]
    load: LoadShape,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/bench/deflate.json")]
    out: PathBuf,
}

#[derive(Debug, Serialize)]
struct Report {
    benchmark: &'static str,
    machine: Machine,
    connections: usize,
    rate: u32,
    duration_secs: u64,
    runs: Vec<RunResult>,
}

#[derive(Debug, Serialize)]
struct RunResult {
    deflate: bool,
    /// Change frames received over all connections.
    frames: u64,
    /// Frames expected: acknowledged changes times connections.
    expected_frames: u64,
    wire_bytes_per_frame: f64,
    text_bytes_per_frame: f64,
    server_kib_per_subscribed_connection: f64,
    server_cpu_us_per_frame: Option<f64>,
    cpu: Option<CpuUsage>,
    load_average: Load,
}

pub async fn run(args: DeflateArgs) -> Result<()> {
    let binary = crate::fanout::server_binary(args.load.server_binary.as_deref())?;
    let mut runs = Vec::new();
    for deflate in [false, true] {
        let data_dir = tempfile::Builder::new()
            .prefix("bomizzel-deflate-")
            .tempdir()?;
        let settings = Settings {
            deflate,
            ..Settings::default()
        };
        let server = Server::start(&binary, data_dir.path(), None, settings).await?;
        runs.push(measure(&args, &server, deflate).await?);
    }
    let mut table = Table::new(&["", "deflate off", "deflate on"]);
    type Cell = fn(&RunResult) -> String;
    let rows: [(&str, Cell); 5] = [
        ("frames / expected", |r| {
            format!("{} / {}", r.frames, r.expected_frames)
        }),
        ("wire bytes per frame", |r| {
            format!("{:.1}", r.wire_bytes_per_frame)
        }),
        ("text bytes per frame", |r| {
            format!("{:.1}", r.text_bytes_per_frame)
        }),
        ("server KiB per connection", |r| {
            format!("{:.2}", r.server_kib_per_subscribed_connection)
        }),
        ("server CPU µs per frame", |r| {
            r.server_cpu_us_per_frame
                .map_or_else(|| "-".to_owned(), |us| format!("{us:.2}"))
        }),
    ];
    for (name, cell) in rows {
        let mut row = vec![name.to_owned()];
        row.extend(runs.iter().map(cell));
        table.row(row);
    }
    println!("{table}");
    let report = Report {
        benchmark: "deflate",
        machine: Machine::describe(),
        connections: usize::try_from(args.load.connections)?,
        rate: args.load.rate,
        duration_secs: args.load.duration_secs,
        runs,
    };
    write_json(&args.out, &report)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

async fn measure(args: &DeflateArgs, server: &Server, deflate: bool) -> Result<RunResult> {
    let api = Api::new(&server.base_url)?;
    let tickets = api.seed(args.load.rate as usize).await?;
    tokio::time::sleep(SETTLE).await;
    let before = server.memory()?;
    let token = server::token(server::AGENT, Role::Agent)?;
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let clients: Vec<Client> = stream::iter(0..args.load.connections)
        .map(|_| Client::subscribe(&address, &token))
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    tokio::time::sleep(SETTLE).await;
    let subscribed = server.memory()?;
    eprintln!(
        "deflate {}: {} connections subscribed, RSS {} KiB",
        if deflate { "on" } else { "off" },
        clients.len(),
        subscribed.rss_kib
    );

    let counts = Arc::new(Counts::default());
    let readers: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(client.read(Arc::clone(&counts))))
        .collect();
    let load_average = Load::start();
    let cpu = CpuSampler::start(vec![server.pid()]);
    let started = Instant::now();
    let acknowledged = change(&api, &tickets, args).await;
    let expected = acknowledged * readers.len() as u64;
    let deadline = Instant::now() + DRAIN;
    while counts.frames.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu.finish();
    let load_average = load_average.finish();
    for reader in readers {
        reader.abort();
    }
    let frames = counts.frames.load(Ordering::Relaxed);
    let per_frame = |bytes: &AtomicU64| bytes.load(Ordering::Relaxed) as f64 / frames.max(1) as f64;
    let growth = subscribed.rss_kib.saturating_sub(before.rss_kib) as f64;
    Ok(RunResult {
        deflate,
        frames,
        expected_frames: expected,
        wire_bytes_per_frame: per_frame(&counts.wire_bytes),
        text_bytes_per_frame: per_frame(&counts.text_bytes),
        server_kib_per_subscribed_connection: growth / args.load.connections as f64,
        server_cpu_us_per_frame: cpu
            .as_ref()
            .map(|c| c.database_cores * secs * 1e6 / frames.max(1) as f64),
        cpu,
        load_average,
    })
}

/// Sends the changes on a fixed schedule, round robin over the tickets
/// (one in flight per ticket); returns how many were acknowledged.
async fn change(api: &Api, tickets: &[String], args: &DeflateArgs) -> u64 {
    let period = Duration::from_secs(1) / args.load.rate;
    let rounds = args.load.duration_secs as usize;
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = tickets
        .iter()
        .enumerate()
        .map(|(k, ticket)| {
            let (api, ticket) = (api.clone(), ticket.clone());
            let offset = period * u32::try_from(k).unwrap_or(0);
            tokio::spawn(async move {
                let mut acknowledged = 0;
                for round in 0..rounds {
                    let due = start + offset + Duration::from_secs(round as u64);
                    tokio::time::sleep_until(due).await;
                    let priority = server::alternating_priority(round);
                    if api.change_priority(&ticket, priority).await.is_ok() {
                        acknowledged += 1;
                    }
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged = 0;
    for task in tasks {
        acknowledged += task.await.unwrap_or(0);
    }
    acknowledged
}

#[derive(Debug, Default)]
struct Counts {
    frames: AtomicU64,
    wire_bytes: AtomicU64,
    text_bytes: AtomicU64,
}

/// One connection, offering permessage-deflate, subscribed to the queue.
struct Client {
    socket: WebSocket<Counting>,
    wire_bytes: Arc<AtomicU64>,
}

impl Client {
    async fn subscribe(address: &str, token: &str) -> Result<Self> {
        let tcp = TcpStream::connect(address).await?;
        let wire_bytes = Arc::new(AtomicU64::new(0));
        let counting = Counting {
            tcp,
            read: Arc::clone(&wire_bytes),
        };
        let url = format!("ws://{address}/ws").parse()?;
        let options = Options::default().with_low_latency_compression();
        let mut socket = WebSocket::handshake(url, counting, options).await?;
        let auth = json!({ "type": "auth", "token": token }).to_string();
        socket.send(Frame::text(auth)).await?;
        let subscribe = json!({ "type": "subscribe", "room": format!("queue:{}", server::QUEUE) });
        socket.send(Frame::text(subscribe.to_string())).await?;
        loop {
            let frame = tokio::time::timeout(DRAIN, socket.next())
                .await
                .context("no answer to subscribe")?
                .context("closed before subscribed")?;
            if frame.opcode() == OpCode::Text && frame.as_str().contains(r#""type":"subscribed""#) {
                break;
            }
        }
        wire_bytes.store(0, Ordering::Relaxed);
        Ok(Self { socket, wire_bytes })
    }

    /// Counts change frames (with an offset; queue metrics ride along
    /// uncounted) and their bytes until aborted.
    async fn read(mut self, counts: Arc<Counts>) {
        let mut counted_wire = 0;
        while let Some(frame) = self.socket.next().await {
            let text = frame.as_str();
            if frame.opcode() != OpCode::Text
                || !text.contains(r#""offset":"#)
                || text.contains(r#""offset":null"#)
            {
                continue;
            }
            counts.frames.fetch_add(1, Ordering::Relaxed);
            counts
                .text_bytes
                .fetch_add(text.len() as u64, Ordering::Relaxed);
            let wire = self.wire_bytes.load(Ordering::Relaxed);
            counts
                .wire_bytes
                .fetch_add(wire - counted_wire, Ordering::Relaxed);
            counted_wire = wire;
        }
    }
}

/// A socket that counts what its client reads: the bytes on the wire.
struct Counting {
    tcp: TcpStream,
    read: Arc<AtomicU64>,
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        self.read.fetch_add(read, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
