//! Whether the database answers, known at once by everyone who asks.
//!
//! When PostgreSQL goes away (connections refused, or a network path that
//! swallows packets), every query waits for the pool's acquire timeout or
//! for TCP to give up, which is seconds to minutes. A monitor probing on a
//! connection of its own notices within a second instead, so the front
//! doors can answer "unavailable, retry shortly" at once, `/readyz` can say
//! why, and the outage is logged once when it starts and once when it ends
//! rather than by every failing query (see [`Unavailable`]).
//!
//! SQLite is a file in this process: it has no outage of this kind, and
//! its health is always up (a full disk is `StoreError::StorageFull`).

use std::fmt;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::{oneshot, watch};

/// How often the monitor asks the database while it answers.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// A probe that gets no answer within this counts as an outage: with the
/// interval, an outage is noticed within ~0.75 s.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// What the monitor last found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Up,
    Down { since: Instant, reason: String },
}

/// A cheap-to-clone view of the database's availability.
#[derive(Debug, Clone)]
pub struct Health {
    state: watch::Receiver<Availability>,
}

impl Health {
    /// Always up: the SQLite case.
    pub(crate) fn always_up() -> Self {
        let (_, state) = watch::channel(Availability::Up);
        Self { state }
    }

    /// Starts a monitor of the PostgreSQL database at `options`; it stops
    /// when `stop` is dropped.
    pub(crate) fn monitor(options: PgConnectOptions, stop: oneshot::Receiver<()>) -> Self {
        let (sender, state) = watch::channel(Availability::Up);
        tokio::spawn(async move {
            tokio::select! {
                () = probe_forever(options, &sender) => {}
                _ = stop => {}
            }
        });
        Self { state }
    }

    /// `Some(availability)` while the database is known to be down.
    pub fn outage(&self) -> Option<Availability> {
        let now = self.state.borrow().clone();
        (now != Availability::Up).then_some(now)
    }

    /// `work`'s output, or `None` when the database is down or found down
    /// before `work` is done: callers answer "retry shortly" at once
    /// instead of waiting for queries the database will not answer.
    pub async fn unless_down<F: Future>(&self, work: F) -> Option<F::Output> {
        if self.outage().is_some() {
            return None;
        }
        tokio::select! {
            output = work => Some(output),
            () = self.went_down() => None,
        }
    }

    /// Resolves when the database is found down (at once if it is now).
    pub async fn went_down(&self) {
        let mut state = self.state.clone();
        if state
            .wait_for(|now| *now != Availability::Up)
            .await
            .is_err()
        {
            std::future::pending::<()>().await;
        }
    }
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Up => f.write_str("the database answers"),
            Self::Down { since, reason } => write!(
                f,
                "the database has not answered for {:.1} s: {reason}",
                since.elapsed().as_secs_f64()
            ),
        }
    }
}

async fn probe_forever(options: PgConnectOptions, state: &watch::Sender<Availability>) {
    let mut connection = None;
    loop {
        let found = probe(&options, &mut connection).await;
        record(state, found);
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// One probe: `SELECT 1` on the monitor's connection. A kept connection
/// that fails quickly (its backend was terminated) is replaced and asked
/// again at once, so one killed connection is not taken for an outage; no
/// answer within the timeout is one.
async fn probe(
    options: &PgConnectOptions,
    connection: &mut Option<PgConnection>,
) -> Result<(), String> {
    if let Some(kept) = connection.as_mut() {
        match tokio::time::timeout(PROBE_TIMEOUT, kept.ping()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(_)) => *connection = None,
            Err(_) => {
                *connection = None;
                return Err("no answer to a probe".into());
            }
        }
    }
    let opened = tokio::time::timeout(PROBE_TIMEOUT, async {
        let mut fresh = PgConnection::connect_with(options).await?;
        fresh.ping().await?;
        Ok::<_, sqlx::Error>(fresh)
    })
    .await;
    match opened {
        Ok(Ok(fresh)) => {
            *connection = Some(fresh);
            Ok(())
        }
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("no answer when connecting".into()),
    }
}

/// Moves the state and logs the transitions, and only those.
fn record(state: &watch::Sender<Availability>, found: Result<(), String>) {
    state.send_if_modified(|now| match (&*now, found) {
        (Availability::Up, Err(reason)) => {
            tracing::error!(%reason, "the database is unreachable; commands answer 503 until it is back");
            *now = Availability::Down {
                since: Instant::now(),
                reason,
            };
            true
        }
        (Availability::Down { since, .. }, Ok(())) => {
            tracing::info!(
                after_s = since.elapsed().as_secs_f64(),
                "the database is reachable again"
            );
            *now = Availability::Up;
            true
        }
        _ => false,
    });
}

/// Why a query failed when the fault is the database's, not the
/// request's or the data's: callers answer these as retryable (503, 507),
/// retry them in the background, and log them quietly, since the monitor
/// or the operator's disk alarm reports the outage itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// The database cannot be reached now (or is shutting down).
    Unreachable,
    /// The disk under the database is full (SQLite's `SQLITE_FULL`).
    StorageFull,
}

/// The one classification of database errors into outages.
pub fn outage_of(error: &sqlx::Error) -> Option<Outage> {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => Some(Outage::Unreachable),
        sqlx::Error::Database(error) => {
            let code = error.code()?;
            match code.as_ref() {
                // SQLite: SQLITE_FULL; a write refused for its size (EFBIG)
                // surfaces as SQLITE_IOERR_WRITE.
                "13" | "778" => Some(Outage::StorageFull),
                // PostgreSQL: disk full.
                "53100" => Some(Outage::StorageFull),
                // PostgreSQL: connection exceptions, shutdowns, too many connections.
                code if code.starts_with("08") || code.starts_with("57P") || code == "53300" => {
                    Some(Outage::Unreachable)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Logs a failed database operation at WARN, or at DEBUG when `$outage`
/// (an `Option<Outage>`) says the database itself is away: the outage is
/// reported once by the monitor, not by every query that meets it.
#[macro_export]
macro_rules! warn_unless_outage {
    ($outage:expr, $($arg:tt)+) => {
        if $outage.is_some() {
            ::tracing::debug!($($arg)+)
        } else {
            ::tracing::warn!($($arg)+)
        }
    };
}
