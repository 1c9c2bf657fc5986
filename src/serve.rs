//! The server's lifecycle: open the store, serve HTTP, shut down gracefully
//! on SIGTERM or ctrl-c (stop accepting, finish requests in flight).

use anyhow::Context;
use bomizzel_api::{AppState, RateLimit};
use bomizzel_projections::{Runner, RunnerSettings, registry};
use bomizzel_store::EventStore;
use tokio::sync::watch;

use bomizzel_api::Role;
use bomizzel_api::auth::claims_for;

use crate::cli::{ServeArgs, TokenArgs};
use crate::config::Config;

/// Opens the event store, applying migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<EventStore> {
    EventStore::open(&config.database_url)
        .await
        .with_context(|| format!("cannot open database {}", config.redacted_database_url()))
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    open_store(config).await?;
    tracing::info!(database = %config.redacted_database_url(), "migrations applied");
    Ok(())
}

pub async fn serve(config: &Config, args: ServeArgs) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let (stop_projections, shutdown) = watch::channel(false);
    let projections: Vec<_> = registry::all()
        .into_iter()
        .map(|projection| {
            let runner = Runner::new(store.clone(), projection, RunnerSettings::default());
            tokio::spawn(runner.run(shutdown.clone()))
        })
        .collect();
    let rate_limit = RateLimit {
        per_second: args.rate_limit_per_second,
        burst: args.rate_limit_burst,
    };
    let state = AppState::new(store, config.keys.clone(), rate_limit);
    let app = bomizzel_api::router(state, args.frontend_url.as_deref());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(
        database = %config.redacted_database_url(),
        "listening on http://{address}"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")?;
    // Runners stop between batches, so every checkpoint matches its read model.
    stop_projections.send_replace(true);
    for runner in projections {
        runner.await.context("a projection runner panicked")?;
    }
    tracing::info!("shut down");
    Ok(())
}

/// Resolves on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested");
}

/// Prints a token for `args` signed with the configured secret.
pub fn token(config: &Config, args: TokenArgs) -> anyhow::Result<()> {
    if args.role == Role::Customer && args.company.is_none() {
        anyhow::bail!("a customer token needs --company");
    }
    let ttl = time::Duration::try_from(args.ttl).context("--ttl is too long")?;
    let claims = claims_for(&args.sub, args.role, args.company, ttl);
    let token = config.keys.mint(&claims).map_err(anyhow::Error::msg)?;
    println!("{token}");
    Ok(())
}
