//! `bomizzel-bench`: benchmarks of the Bomizzel event store and server.
//!
//! Each subcommand is one benchmark in its own module; they share the
//! throw-away databases of [`backend`] and the histograms, tables and JSON
//! output of [`report`]. `rebuild`, `lag` and `http` also share the
//! simulated help desk of [`workload`] and the per-backend runs, machine
//! load notes and verdicts of [`harness`]. Build in release mode (`http`
//! starts the `bomizzel` binary found next to this one):
//!
//! ```text
//! cargo build --release -p bomizzel-bench -p bomizzel
//! target/release/bomizzel-bench append --backend both --concurrency 1,64
//! target/release/bomizzel-bench rebuild --backend both --events 1000000
//! target/release/bomizzel-bench lag --backend both --rate 1000 --duration-secs 20
//! target/release/bomizzel-bench http --backend both --connections 64 --duration-secs 20
//! target/release/bomizzel-bench storm --clients 2000
//! target/release/bomizzel-bench presence --clients 2000 --tickets 200 --period-ms 2000
//! target/release/bomizzel-bench fanout --connections 10000 --floor
//! target/release/bomizzel-bench deflate --connections 1000
//! ```

mod append;
mod backend;
mod deflate;
mod fanout;
mod finding;
mod harness;
mod http;
mod lag;
mod presence;
mod rebuild;
mod report;
mod storm;
mod workload;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "bomizzel-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Append throughput and latency: N concurrent appenders, one ticket
    /// stream each, against a fresh database per run.
    Append(append::AppendArgs),
    /// Projection rebuild speed: generate a log of realistic ticket
    /// lifecycles, then rebuild every projection from zero, timed.
    Rebuild(rebuild::RebuildArgs),
    /// Projection lag: every projection running live while commands are
    /// appended at a steady rate; time from an append's return to each
    /// projection's commit of it.
    Lag(lag::LagArgs),
    /// HTTP command throughput and latency of the real server binary,
    /// started as a child process, under keep-alive connections sending a
    /// realistic command mix.
    Http(http::HttpArgs),
    /// Fan-out of the real server binary over WebSocket or Socket.IO:
    /// server memory per connection, and latency and loss of changes
    /// reaching thousands of subscribed connections.
    Fanout(fanout::FanoutArgs),
    /// Finding tickets at size: full-text search and filtered lists through
    /// the real server, the search projection's rebuild speed, and a
    /// streamed export's rows/s and server memory.
    Finding(finding::FindingArgs),
    /// Restart storm: the real server restarted under thousands of `/ws`
    /// clients that all reconnect at once and resume from their offsets.
    Storm(storm::StormArgs),
    /// Presence of the real server binary: thousands of `/ws` clients on
    /// hundreds of ticket rooms changing their activity; propagation
    /// latency and server CPU per change.
    Presence(presence::PresenceArgs),
    /// permessage-deflate on `/ws`: bytes on the wire, server memory and
    /// CPU per frame without and with `--ws-deflate`.
    Deflate(deflate::DeflateArgs),
    /// The bare broadcaster `fanout --floor` starts (see `fanout/floor.rs`).
    #[command(hide = true)]
    FloorServer,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The store reports failed group commits through tracing; show them,
    // but not sqlx's slow-statement notes (DROP DATABASE is slow on purpose).
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("warn,sqlx::query=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Append(args) => append::run(args).await,
        Command::Rebuild(args) => rebuild::run(args).await,
        Command::Lag(args) => lag::run(args).await,
        Command::Http(args) => http::run(args).await,
        Command::Fanout(args) => fanout::run(args).await,
        Command::Finding(args) => finding::run(args).await,
        Command::Storm(args) => storm::run(args).await,
        Command::Presence(args) => presence::run(args).await,
        Command::Deflate(args) => deflate::run(args).await,
        Command::FloorServer => fanout::floor::serve().await,
    }
}
