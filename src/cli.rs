//! The command line: every flag has an environment fallback.

use std::net::SocketAddr;
use std::path::PathBuf;

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

    #[command(subcommand)]
    pub command: Command,
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
    /// Inspect or rebuild the projections that build the read models.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
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
}
