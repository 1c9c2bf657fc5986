//! The server's lifecycle: open the store, serve HTTP, shut down gracefully
//! on SIGTERM or ctrl-c (stop accepting, finish requests in flight).

use anyhow::Context;
use bomizzel_api::{AppState, RateLimit};
use bomizzel_gateway::{Gateway, GatewaySettings};
use bomizzel_identity::{Presence, PresenceSettings, Shared};
use bomizzel_projections::feed;
use bomizzel_projections::metrics::SlaTargets;
use bomizzel_projections::tickets::DueTimes;
use bomizzel_projections::{Grouping, RunnerSettings, live_runners, registry};
use bomizzel_store::EventStore;
use tokio::sync::watch;

use crate::cli::ServeArgs;
use crate::config::Config;
use crate::http;

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
    let (stop, shutdown) = watch::channel(false);
    let projections = registry::all()
        .into_iter()
        .map(|projection| {
            let settings = runner_settings(&args, projection.name());
            (projection, settings)
        })
        .collect();
    let grouping = Grouping::for_database(store.database());
    let runners = live_runners(&store, projections, grouping);
    let feed_committed = runners
        .iter()
        .find_map(|runner| runner.committed_by(feed::NAME))
        .context("the room feed projection is not registered")?;
    let mut background: Vec<_> = runners
        .into_iter()
        .map(|runner| tokio::spawn(runner.run(shutdown.clone())))
        .collect();
    let retention = time::Duration::days(i64::from(args.feed_retention_days));
    background.push(tokio::spawn(trim_feed(
        store.clone(),
        retention,
        shutdown.clone(),
    )));

    let rate_limit = RateLimit {
        per_second: args.rate_limit_per_second,
        burst: args.rate_limit_burst,
    };
    let due_times = DueTimes {
        first_response: SlaTargets::from_minutes(
            args.sla_urgent_minutes,
            args.sla_high_minutes,
            args.sla_medium_minutes,
            args.sla_low_minutes,
        ),
        resolution: SlaTargets::from_minutes(
            args.sla_resolution_urgent_minutes,
            args.sla_resolution_high_minutes,
            args.sla_resolution_medium_minutes,
            args.sla_resolution_low_minutes,
        ),
        due_soon_secs: i64::from(args.sla_due_soon_minutes) * 60,
    };
    let presence = PresenceSettings {
        lease: args.presence_lease,
        typing: args.presence_typing,
        ..PresenceSettings::default()
    };
    let mut shared = Shared::new(store, config.keys.clone(), due_times.first_response);
    shared.presence = Presence::new(presence);
    let state = AppState::new(shared, rate_limit, due_times);
    // Lifetimes, and other nodes' presence (PostgreSQL).
    let presence_task = state
        .presence
        .start(state.store.database(), shutdown.clone())
        .await
        .context("cannot listen for presence")?;
    background.push(presence_task);
    // Other nodes' directory changes reach this node's sockets (PostgreSQL).
    let relay = state
        .directory_changes
        .start_relay(shutdown.clone())
        .await
        .context("cannot listen for directory changes")?;
    background.extend(relay);
    let gateway_settings = GatewaySettings {
        allowed_origin: args.frontend_url.clone(),
        send_queue: args.ws_send_queue,
        write_deadline: args.ws_write_deadline,
        max_rooms: args.ws_max_rooms,
        deflate: args.ws_deflate,
        max_connections_per_user: args.ws_max_connections_per_user,
        metrics_refresh: std::time::Duration::from_secs(args.metrics_update_interval.max(1) * 60),
        heartbeat: GatewaySettings::default()
            .heartbeat
            .min(presence.lease * 2 / 3),
        ..GatewaySettings::default()
    };
    let gateway = Gateway::start(
        state.shared.clone(),
        gateway_settings,
        feed_committed,
        shutdown.clone(),
    )
    .await
    .context("cannot start the gateway")?;
    let mut app = bomizzel_api::router(state.clone(), args.frontend_url.as_deref())
        .merge(bomizzel_console::routes());
    if args.demo {
        app = app.merge(bomizzel_console::demo::start(state, shutdown.clone()).await?);
    }
    let app = gateway.serve_within(app);
    let listener =
        http::bind(args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(
        database = %config.redacted_database_url(),
        "listening on http://{address}"
    );
    tokio::join!(
        shutdown_signal(stop.clone()),
        http::serve(
            listener,
            app,
            http::ConnectionSettings {
                header_timeout: args.http_header_timeout,
                send_buffer: args.socket_send_buffer,
            },
            shutdown.clone(),
        ),
    );
    // Runners stop between batches, so every checkpoint matches its read model.
    stop.send_replace(true);
    for task in background {
        task.await.context("a background task panicked")?;
    }
    tracing::info!("shut down");
    Ok(())
}

fn runner_settings(args: &ServeArgs, projection: &str) -> RunnerSettings {
    fn named<T: Copy>(settings: &[(String, T)], projection: &str) -> Option<T> {
        settings
            .iter()
            .find(|(name, _)| name == projection)
            .map(|(_, value)| *value)
    }
    RunnerSettings {
        batch_delay: named(&args.projection_delay, projection).unwrap_or_default(),
        crash_after_batch: named(&args.projection_crash_after, projection),
        ..RunnerSettings::default()
    }
}

/// Trims room-feed history older than `retention`, hourly.
async fn trim_feed(
    store: EventStore,
    retention: time::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = every_hour.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let cutoff = time::OffsetDateTime::now_utc() - retention;
        match feed::trim(store.database(), cutoff).await {
            Ok(0) => {}
            Ok(trimmed) => tracing::info!(trimmed, "trimmed room feed history"),
            Err(error) => tracing::warn!(%error, "cannot trim the room feed"),
        }
    }
}

/// Resolves on ctrl-c or SIGTERM, and tells WebSocket connections to close
/// (graceful HTTP shutdown waits for them).
async fn shutdown_signal(stop: watch::Sender<bool>) {
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
    stop.send_replace(true);
}
