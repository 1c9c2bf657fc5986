//! The event log in PostgreSQL, shared by any number of nodes. A batch takes
//! a transaction-scoped advisory lock before it reads the head and assigns
//! positions, so batches commit one after another and positions become
//! visible in order. Commits are announced with NOTIFY so that tailers on
//! every node wake up.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, Row};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use crate::chain::{Hash, stored};
use crate::error::Result;
use crate::model::{AppendRequest, Appended, RecordedEvent};
use crate::plan::{Chaining, Links, LogState, Plan, StoredKey};
use crate::row::{StoredRow, decode_all};
use crate::writer::{BatchCommitter, BatchOutcome, LogConnection, advance, append_within};

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The NOTIFY channel; its payload is the last position of the batch.
pub const CHANNEL: &str = "bomizzel_events";
const POOL_CONNECTIONS: u32 = 16;
const SELECT_EVENTS: &str = "SELECT position, stream_id, version, event_type, event_version, \
     payload::text, metadata::text, event_id, recorded_at FROM events";

/// Read models live in their own schema; the search path lets the same SQL
/// name their tables unqualified on both backends.
const SEARCH_PATH: &str = "public,read_models";

pub(crate) async fn connect(
    url: &str,
    chaining: Chaining,
) -> Result<(PgPool, PostgresCommitter, PgConnectOptions)> {
    let options = PgConnectOptions::from_str(url)?.options([("search_path", SEARCH_PATH)]);
    let pool = PgPoolOptions::new()
        .max_connections(POOL_CONNECTIONS)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.clone())
        .await?;
    let committer = PostgresCommitter {
        options: options.clone(),
        chaining,
        connection: None,
    };
    Ok((pool, committer, options))
}

/// Writes decided batches through a connection of its own. A pooled
/// connection would cost two more round trips per batch (the pool pings a
/// connection when it is taken and when it is given back); the append
/// benchmark gained 10-35% without them.
#[derive(Debug)]
pub(crate) struct PostgresCommitter {
    options: PgConnectOptions,
    chaining: Chaining,
    /// Opened by the first batch, and again by the batch after a failure,
    /// which may have left it broken.
    connection: Option<PgConnection>,
}

impl BatchCommitter for PostgresCommitter {
    async fn commit(&mut self, requests: &[AppendRequest]) -> Result<BatchOutcome> {
        let outcome = self.write(requests).await;
        if outcome.is_err() {
            // The transaction may have left the connection mid-statement or
            // broken; the next batch starts on a fresh one.
            self.connection = None;
        }
        outcome
    }
}

impl PostgresCommitter {
    async fn write(&mut self, requests: &[AppendRequest]) -> Result<BatchOutcome> {
        let chaining = self.chaining;
        let connection = self.begin().await?;
        let outcome = append_within(connection, requests, chaining).await?;
        sqlx::query("COMMIT").execute(&mut *connection).await?;
        Ok(outcome)
    }

    /// Begins a transaction on the writer's connection, opening one if
    /// needed. A connection that broke since the last batch (the database
    /// restarted, the socket was cut) fails here, before anything is
    /// written, and is replaced once.
    async fn begin(&mut self) -> Result<&mut PgConnection> {
        if let Some(mut connection) = self.connection.take()
            && sqlx::query("BEGIN").execute(&mut connection).await.is_ok()
        {
            return Ok(self.connection.insert(connection));
        }
        let mut connection = PgConnection::connect_with(&self.options).await?;
        sqlx::query("BEGIN").execute(&mut connection).await?;
        Ok(self.connection.insert(connection))
    }
}

/// Takes the append lock (as `events_lock_and_read` does) until the
/// transaction ends.
pub(crate) async fn lock_appends(transaction: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(7346021)")
        .execute(transaction)
        .await?;
    Ok(())
}

impl LogConnection for PgConnection {
    async fn read_state(&mut self, requests: &[AppendRequest]) -> Result<LogState> {
        read_state(self, requests).await
    }

    async fn insert(&mut self, plan: &Plan<'_>) -> Result<()> {
        insert(self, plan).await
    }
}

async fn read_state(
    transaction: &mut PgConnection,
    requests: &[AppendRequest],
) -> Result<LogState> {
    let streams: Vec<&str> = requests.iter().map(|r| r.stream_id.as_str()).collect();
    let keys: Vec<&str> = requests
        .iter()
        .filter_map(|r| r.idempotency_key())
        .collect();
    let rows = sqlx::query("SELECT * FROM events_lock_and_read($1, $2)")
        .bind(&streams)
        .bind(&keys)
        .fetch_all(&mut *transaction)
        .await?;
    let mut state = LogState::default();
    for row in rows {
        let kind: &str = row.get(0);
        match kind {
            "head" => {
                state.head = row.get(4);
                state.head_hash = stored(row.get(6));
            }
            "stream" => {
                let stream: String = row.get(1);
                if let Some(hash) = stored(row.get(6)) {
                    state.stream_hashes.insert(stream.clone(), hash);
                }
                state
                    .stream_versions
                    .insert(stream, row.get::<i64, _>(5) as u64);
            }
            _ => {
                let stored = StoredKey {
                    stream_id: row.get(2),
                    appended: Appended {
                        first_position: row.get(3),
                        last_position: row.get(4),
                        version: row.get::<i64, _>(5) as u64,
                        duplicate: true,
                    },
                };
                state.keys.insert(row.get(1), stored);
            }
        }
    }
    Ok(state)
}

/// Events, keys and the NOTIFY go in one statement, one round trip.
async fn insert(transaction: &mut sqlx::PgConnection, plan: &Plan<'_>) -> Result<()> {
    let Some(last_position) = plan.last_position() else {
        return Ok(());
    };
    let events = &plan.events;
    let keys = &plan.keys;
    let hashes = |link: fn(&Links) -> Hash| -> Vec<Option<Vec<u8>>> {
        events
            .iter()
            .map(|r| r.links.as_ref().map(|l| link(l).to_vec()))
            .collect()
    };
    sqlx::query(
        "WITH new_events AS ( \
           INSERT INTO events (position, stream_id, version, event_type, event_version, \
             payload, metadata, event_id, recorded_at, hash, stream_hash) \
           SELECT p, s, v, t, sv, pl::json, md::json, id, $9, h, sh FROM UNNEST( \
             $1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::int4[], $6::text[], \
             $7::text[], $8::uuid[], $17::bytea[], $18::bytea[]) \
             AS x(p, s, v, t, sv, pl, md, id, h, sh)), \
         new_keys AS ( \
           INSERT INTO idempotency_keys (key, stream_id, first_position, last_position, \
             version, recorded_at) \
           SELECT k, s, f, l, v, $9 FROM UNNEST( \
             $10::text[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[]) \
             AS y(k, s, f, l, v)) \
         SELECT pg_notify($15, $16)",
    )
    .bind(events.iter().map(|r| r.position).collect::<Vec<_>>())
    .bind(events.iter().map(|r| r.stream_id).collect::<Vec<_>>())
    .bind(events.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|r| r.event.event_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|r| r.event.schema_version)
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|r| r.payload.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(events.iter().map(|r| r.metadata).collect::<Vec<_>>())
    .bind(events.iter().map(|r| r.event_id).collect::<Vec<Uuid>>())
    .bind(plan.recorded_at)
    .bind(keys.iter().map(|k| k.key).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.stream_id).collect::<Vec<_>>())
    .bind(
        keys.iter()
            .map(|k| k.appended.first_position)
            .collect::<Vec<_>>(),
    )
    .bind(
        keys.iter()
            .map(|k| k.appended.last_position)
            .collect::<Vec<_>>(),
    )
    .bind(
        keys.iter()
            .map(|k| k.appended.version as i64)
            .collect::<Vec<_>>(),
    )
    .bind(CHANNEL)
    .bind(last_position.to_string())
    .bind(hashes(|l| l.hash))
    .bind(hashes(|l| l.stream_hash))
    .execute(&mut *transaction)
    .await?;
    Ok(())
}

/// Follows NOTIFYs from every node and moves `head` forward, until `stop`
/// fires or its sender is dropped. Listens before returning, so an append
/// made after the store opened is never missed; notifications lost while
/// reconnecting only delay tailers until their polling fallback.
pub(crate) async fn start_listener(
    pool: PgPool,
    head: watch::Sender<i64>,
    mut stop: oneshot::Receiver<()>,
) -> Result<()> {
    let mut listener = listen(&pool).await?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stop => return,
                received = listener.recv() => match received {
                    Ok(notification) => {
                        if let Ok(position) = notification.payload().parse() {
                            advance(&head, position);
                        }
                    }
                    Err(error) => {
                        // recv() reconnects on its next call.
                        crate::warn_unless_outage!(crate::health::outage_of(&error), %error, "event notifications interrupted");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
            }
        }
    });
    Ok(())
}

async fn listen(pool: &PgPool) -> Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

fn stored_row(row: &PgRow) -> StoredRow {
    StoredRow {
        position: row.get(0),
        stream_id: row.get(1),
        version: row.get(2),
        event_type: row.get(3),
        schema_version: row.get(4),
        payload: row.get(5),
        metadata: row.get(6),
        event_id: Ok(row.get(7)),
        recorded_at: Ok(row.get(8)),
    }
}

pub(crate) async fn read_all(pool: &PgPool, after: i64, limit: u32) -> Result<Vec<RecordedEvent>> {
    let rows = sqlx::query(&format!(
        "{SELECT_EVENTS} WHERE position > $1 ORDER BY position LIMIT $2"
    ))
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    decode_all(rows.iter().map(stored_row).collect())
}

pub(crate) async fn read_stream(
    pool: &PgPool,
    stream_id: &str,
    from_version: u64,
) -> Result<Vec<RecordedEvent>> {
    let rows = sqlx::query(&format!(
        "{SELECT_EVENTS} WHERE stream_id = $1 AND version >= $2 ORDER BY version"
    ))
    .bind(stream_id)
    .bind(from_version as i64)
    .fetch_all(pool)
    .await?;
    decode_all(rows.iter().map(stored_row).collect())
}

pub(crate) async fn head(pool: &PgPool) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(pool)
            .await?,
    )
}
