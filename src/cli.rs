//! The command line: every flag has an environment fallback.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "bomizzel", version, about = "Bomizzel help desk backend")]
pub struct Cli {
    /// Database: `sqlite://PATH` or `postgres://USER@HOST/DB`. Default: a
    /// SQLite file in the data directory.
    #[arg(long, env = "BOMIZZEL_DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Where the embedded database and generated secrets are kept.
    #[arg(long, env = "BOMIZZEL_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// Log lines as human-readable text or as JSON objects.
    #[arg(long, env = "BOMIZZEL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// How tokens are verified (and minted, with a shared secret).
#[derive(Debug, clap::Args)]
pub struct AuthArgs {
    /// HS256 shared secret. When neither this nor a public key is given, a
    /// random secret is generated once and kept in the data directory.
    #[arg(
        long,
        env = "BOMIZZEL_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,

    /// PEM file of an RS256 or ES256 public key; tokens are then verified
    /// with it (and cannot be minted here).
    #[arg(
        long,
        env = "BOMIZZEL_JWT_PUBLIC_KEY",
        global = true,
        conflicts_with = "jwt_secret"
    )]
    pub jwt_public_key: Option<PathBuf>,

    /// Required `iss` claim, when set.
    #[arg(long, env = "BOMIZZEL_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim, when set.
    #[arg(long, env = "BOMIZZEL_JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, then serve HTTP until SIGTERM or ctrl-c.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a signed token for the configured secret.
    Token(TokenArgs),
    /// Inspect or rebuild the projections that build the read models.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Check and export the log's hash chains (docs/audit.md).
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the log and recompute its hash chains: exit 0 when intact,
    /// otherwise non-zero with the first position that fails and why.
    Verify {
        /// Start at this position, trusting the stored hash before it.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..))]
        from: i64,
        /// A head kept earlier (`bomizzel audit head`): the chain must
        /// reach HASH at POSITION, proving nothing up to it was rewritten.
        #[arg(long, value_name = "POSITION:HASH")]
        anchor: Option<bomizzel_store::audit::verify::Anchor>,
    },
    /// Print the newest POSITION:HASH, to keep elsewhere as an anchor.
    Head,
    /// Write the events FROM..=TO (default: to the head) as JSON lines,
    /// verifiable offline with tools/audit_verify.py.
    Export {
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..))]
        from: i64,
        #[arg(long)]
        to: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Each projection's position, the log's head, the lag and the state.
    Status,
    /// Empty a read model and replay the whole log into it.
    Rebuild {
        /// A projection's name, or `all`.
        name: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the log says which).
    #[arg(long, env = "BOMIZZEL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// How long a connection may take to send a complete request head
    /// (e.g. 10s, 500ms); also how long a keep-alive connection may wait
    /// for its next request. Silent or dripping connections are closed.
    #[arg(long, env = "BOMIZZEL_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub http_header_timeout: std::time::Duration,

    /// Kernel send buffer per connection in bytes (default: the kernel's
    /// autotuning). A client that stops reading holds up to this much of
    /// the server's memory in the kernel before the WebSocket send queue
    /// fills and the client is closed as too slow (4008).
    #[arg(long, env = "BOMIZZEL_SOCKET_SEND_BUFFER")]
    pub socket_send_buffer: Option<usize>,

    /// Origin of the web front end allowed by CORS, e.g. http://localhost:3000.
    #[arg(long, env = "FRONTEND_URL")]
    pub frontend_url: Option<String>,

    /// Commands per second each user may send, after the burst.
    #[arg(long, env = "BOMIZZEL_RATE_LIMIT_PER_SECOND", default_value_t = NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN))]
    pub rate_limit_per_second: NonZeroU32,

    /// Commands each user may send at once above the steady rate.
    #[arg(long, env = "BOMIZZEL_RATE_LIMIT_BURST", default_value_t = NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN))]
    pub rate_limit_burst: NonZeroU32,

    /// Minutes between pushes of every watched queue's metrics, for the
    /// figures that move with the clock.
    #[arg(long, env = "METRICS_UPDATE_INTERVAL", default_value_t = 5)]
    pub metrics_update_interval: u64,

    /// SLA target for first assignment of urgent tickets, in minutes.
    #[arg(long, env = "BOMIZZEL_SLA_URGENT_MINUTES", default_value_t = 15)]
    pub sla_urgent_minutes: u32,
    /// SLA target for high-priority tickets, in minutes.
    #[arg(long, env = "BOMIZZEL_SLA_HIGH_MINUTES", default_value_t = 60)]
    pub sla_high_minutes: u32,
    /// SLA target for medium-priority tickets, in minutes.
    #[arg(long, env = "BOMIZZEL_SLA_MEDIUM_MINUTES", default_value_t = 240)]
    pub sla_medium_minutes: u32,
    /// SLA target for low-priority tickets, in minutes.
    #[arg(long, env = "BOMIZZEL_SLA_LOW_MINUTES", default_value_t = 1440)]
    pub sla_low_minutes: u32,
    /// SLA resolution target of urgent tickets, in minutes.
    #[arg(
        long,
        env = "BOMIZZEL_SLA_RESOLUTION_URGENT_MINUTES",
        default_value_t = 240
    )]
    pub sla_resolution_urgent_minutes: u32,
    /// SLA resolution target of high-priority tickets, in minutes.
    #[arg(
        long,
        env = "BOMIZZEL_SLA_RESOLUTION_HIGH_MINUTES",
        default_value_t = 1440
    )]
    pub sla_resolution_high_minutes: u32,
    /// SLA resolution target of medium-priority tickets, in minutes.
    #[arg(
        long,
        env = "BOMIZZEL_SLA_RESOLUTION_MEDIUM_MINUTES",
        default_value_t = 4320
    )]
    pub sla_resolution_medium_minutes: u32,
    /// SLA resolution target of low-priority tickets, in minutes.
    #[arg(
        long,
        env = "BOMIZZEL_SLA_RESOLUTION_LOW_MINUTES",
        default_value_t = 10080
    )]
    pub sla_resolution_low_minutes: u32,
    /// A pending SLA target due within this many minutes is `due_soon`.
    #[arg(long, env = "BOMIZZEL_SLA_DUE_SOON_MINUTES", default_value_t = 30)]
    pub sla_due_soon_minutes: u32,

    /// Days of room-feed history kept for clients that resume.
    #[arg(long, env = "BOMIZZEL_FEED_RETENTION_DAYS", default_value_t = 7)]
    pub feed_retention_days: u32,

    /// Holds projection NAME behind the others by pausing DURATION before
    /// each of its batches (NAME=DURATION, repeatable). For tests of what
    /// clients see while read models disagree; never in service.
    #[arg(long, value_name = "NAME=DURATION", value_parser = parse_named::<Duration>, hide = true)]
    pub projection_delay: Vec<(String, Duration)>,

    /// Aborts the process after projection NAME applied its Nth batch,
    /// before its checkpoint moves (NAME=N). For crash tests; never in
    /// service.
    #[arg(long, value_name = "NAME=N", value_parser = parse_named::<u64>, hide = true)]
    pub projection_crash_after: Vec<(String, u64)>,

    /// How long presence lasts unrenewed: a silent connection or node
    /// leaves the lists after it (the server pings at least every two thirds
    /// of it).
    /// For tests of presence lifetimes; never in service.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, hide = true)]
    pub presence_lease: Duration,

    /// How long `replying` and `noting` last without a renewal. For tests;
    /// never in service.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, hide = true)]
    pub presence_typing: Duration,

    /// Frames queued per WebSocket connection before it is closed as too slow (4008).
    #[arg(long, env = "BOMIZZEL_WS_SEND_QUEUE", default_value_t = 1024)]
    pub ws_send_queue: usize,

    /// How long a write to a live connection (`/ws` or Socket.IO) may make
    /// no progress (e.g. 10s, 500ms) before the client is closed as too
    /// slow (4008): a client that stopped reading holds its write forever.
    #[arg(long, env = "BOMIZZEL_WS_WRITE_DEADLINE", default_value = "10s", value_parser = positive_duration)]
    pub ws_write_deadline: Duration,

    /// Negotiate permessage-deflate (RFC 7692) on `/ws` with clients that
    /// offer it: fewer bytes on the wire for more CPU per frame.
    #[arg(long, env = "BOMIZZEL_WS_DEFLATE")]
    pub ws_deflate: bool,

    /// Rooms one WebSocket connection may be in.
    #[arg(long, env = "BOMIZZEL_WS_MAX_ROOMS", default_value_t = 100)]
    pub ws_max_rooms: usize,

    /// Live connections one user may hold on this node, `/ws` and Socket.IO
    /// together; more are refused (429, close code 4029 or a
    /// `too_many_connections` connect_error).
    #[arg(
        long,
        env = "BOMIZZEL_WS_MAX_CONNECTIONS_PER_USER",
        default_value_t = 20
    )]
    pub ws_max_connections_per_user: usize,

    /// Demo mode: seed a demo directory and let anyone sign in as its users
    /// from the console (and simulate activity). Never with real data.
    #[arg(long, env = "BOMIZZEL_DEMO")]
    pub demo: bool,
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The user id (`sub` claim).
    #[arg(long)]
    pub sub: String,
    /// customer, agent, admin, analyst or auditor.
    #[arg(long)]
    pub role: bomizzel_identity::Role,
    /// The customer's company (required for customers).
    #[arg(long)]
    pub company: Option<String>,
    /// How long the token is valid, e.g. 15m, 1h, 7d.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: std::time::Duration,
}

/// A duration above zero (a zero deadline would close every connection).
fn positive_duration(value: &str) -> Result<Duration, String> {
    match Duration::parse(value)? {
        Duration::ZERO => Err("must be more than zero".into()),
        duration => Ok(duration),
    }
}

/// `NAME=VALUE` for hidden per-projection settings.
fn parse_named<T: ParseSetting>(value: &str) -> Result<(String, T), String> {
    let (name, setting) = value
        .split_once('=')
        .ok_or_else(|| format!("{value:?} is not NAME=VALUE"))?;
    Ok((name.to_owned(), T::parse(setting)?))
}

trait ParseSetting: Sized {
    fn parse(value: &str) -> Result<Self, String>;
}

impl ParseSetting for Duration {
    fn parse(value: &str) -> Result<Self, String> {
        humantime::parse_duration(value).map_err(|e| e.to_string())
    }
}

impl ParseSetting for u64 {
    fn parse(value: &str) -> Result<Self, String> {
        value.parse().map_err(|e| format!("{value:?}: {e}"))
    }
}
