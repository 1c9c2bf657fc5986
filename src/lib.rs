//! Composition root of Bomizzel: configuration, the command line and the
//! server's lifecycle. Business rules live in the crates it wires together.

mod audit;
pub mod cli;
mod closing;
mod config;
mod http;
mod projections;
mod serve;
mod telemetry;
mod token;

use std::process::ExitCode;

use cli::{AuditCommand, Cli, Command, ProjectionsCommand};

/// Runs one command line to completion.
pub fn run(cli: Cli) -> ExitCode {
    telemetry::init(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let config = config::Config::from_cli(&cli)?;
        match cli.command {
            Command::Serve(serve) => serve::serve(&config, serve).await,
            Command::Migrate => serve::migrate(&config).await,
            Command::Token(args) => token::print(&config, args),
            Command::Projections(ProjectionsCommand::Status) => {
                projections::status(&serve::open_store(&config).await?).await
            }
            Command::Projections(ProjectionsCommand::Rebuild { name }) => {
                projections::rebuild(&serve::open_store(&config).await?, &name).await
            }
            Command::Audit(command) => {
                // No migration: an audit reads the log as it finds it.
                let store = bomizzel_store::EventStore::connect(&config.database_url).await?;
                match command {
                    AuditCommand::Verify { from, anchor } => {
                        audit::verify(&store, from, anchor).await
                    }
                    AuditCommand::Head => audit::head(&store).await,
                    AuditCommand::Export { from, to } => audit::export(&store, from, to).await,
                }
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
