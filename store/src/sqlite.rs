//! The event log in an embedded SQLite file: WAL with `synchronous=FULL`, so
//! an acknowledged append survives a crash or power loss. One writer
//! connection takes `BEGIN IMMEDIATE`, which also serialises writers of other
//! processes that open the same file.
//!
//! Within this process, every write transaction (the event writer's and the
//! projections') first takes the file's [`write_lock`]: waiters then queue
//! and wake the moment the lock frees, instead of polling in SQLite's busy
//! handler, which sleeps in steps of up to 100 ms.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Row};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::chain::stored;
use crate::error::{Result, StoreError};
use crate::model::{AppendRequest, Appended, RecordedEvent};
use crate::plan::{Chaining, LogState, Plan, StoredKey};
use crate::row::{StoredRow, decode_all};
use crate::writer::{BatchCommitter, BatchOutcome, LogConnection, append_within};

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

const READ_CONNECTIONS: u32 = 4;
const SELECT_EVENTS: &str = "SELECT position, stream_id, version, event_type, event_version, \
     payload, metadata, event_id, recorded_at FROM events";

pub(crate) fn options(url: &str) -> Result<SqliteConnectOptions> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        .pragma("temp_store", "memory")
        .thread_name(|id| format!("sqlite-pool-{id}"));
    let directory = options.get_filename().parent().map(ToOwned::to_owned);
    if let Some(directory) = directory.filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(&directory)
            .map_err(|e| StoreError::Database(std::sync::Arc::new(sqlx::Error::Io(e))))?;
    }
    Ok(options)
}

pub(crate) async fn connect(
    options: &SqliteConnectOptions,
    chaining: Chaining,
) -> Result<(SqlitePool, SqliteCommitter)> {
    // No ping when lending a connection: sqlx pings it again when taking it
    // back, and each ping is a round trip to the connection's thread (a third
    // of a pooled read's). An embedded connection has no network to lose
    // between the two.
    let pool = SqlitePoolOptions::new()
        .max_connections(READ_CONNECTIONS)
        .test_before_acquire(false)
        .connect_with(options.clone())
        .await?;
    // Named apart from the pool's, so that a per-thread profile tells the
    // log's writes from reads (comm names hold 15 bytes).
    let options = options.clone().thread_name(|id| format!("sqlite-log-{id}"));
    let connection = SqliteConnection::connect_with(&options).await?;
    let write_lock = file_write_lock(&options);
    Ok((
        pool,
        SqliteCommitter {
            options,
            connection: Some(connection),
            write_lock,
            chaining,
        },
    ))
}

/// The in-process lock that every write transaction on `pool`'s file takes
/// before `BEGIN IMMEDIATE` (see the module documentation).
pub fn write_lock(pool: &SqlitePool) -> Arc<tokio::sync::Mutex<()>> {
    file_write_lock(&pool.connect_options())
}

fn file_write_lock(options: &SqliteConnectOptions) -> Arc<tokio::sync::Mutex<()>> {
    type Locks = std::sync::Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>;
    static LOCKS: LazyLock<Locks> = LazyLock::new(Default::default);
    let file = options.get_filename();
    let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
    let mut locks = LOCKS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(locks.entry(file).or_default())
}

/// Writes decided batches through its own connection.
#[derive(Debug)]
pub(crate) struct SqliteCommitter {
    options: SqliteConnectOptions,
    /// Opened again by the batch after a failure: a failed `COMMIT` (a full
    /// disk) can leave SQLite's transaction rolled back behind the driver's
    /// back, and the driver then refuses to begin another one.
    connection: Option<SqliteConnection>,
    write_lock: Arc<tokio::sync::Mutex<()>>,
    chaining: Chaining,
}

impl BatchCommitter for SqliteCommitter {
    async fn commit(&mut self, requests: &[AppendRequest]) -> Result<BatchOutcome> {
        let _write = self.write_lock.lock().await;
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => self
                .connection
                .insert(SqliteConnection::connect_with(&self.options).await?),
        };
        let outcome = write(connection, requests, self.chaining).await;
        if outcome.is_err() {
            self.connection = None;
        }
        outcome
    }
}

impl LogConnection for SqliteConnection {
    async fn read_state(&mut self, requests: &[AppendRequest]) -> Result<LogState> {
        read_state(self, requests).await
    }

    async fn insert(&mut self, plan: &Plan<'_>) -> Result<()> {
        insert(self, plan).await
    }
}

async fn write(
    connection: &mut SqliteConnection,
    requests: &[AppendRequest],
    chaining: Chaining,
) -> Result<BatchOutcome> {
    let mut transaction = connection.begin_with("BEGIN IMMEDIATE").await?;
    let outcome = append_within(&mut *transaction, requests, chaining).await?;
    transaction.commit().await?;
    Ok(outcome)
}

async fn read_state(
    connection: &mut SqliteConnection,
    requests: &[AppendRequest],
) -> Result<LogState> {
    let streams: Vec<&str> = requests.iter().map(|r| r.stream_id.as_str()).collect();
    // The head (the row without a stream) and each stream's version, with
    // the links a batch continues, in one query: every query is a round
    // trip to the connection's thread. Index probes only (the head by the
    // primary key, each stream's last event by its (stream_id, version)
    // key), rather than a scan of every event of the batch's streams.
    let rows = sqlx::query(
        "SELECT NULL, position, hash FROM \
           (SELECT position, hash FROM events ORDER BY position DESC LIMIT 1) \
         UNION ALL \
         SELECT s.value, e.version, e.stream_hash \
         FROM (SELECT DISTINCT value FROM json_each(?1)) s \
         JOIN events e ON e.stream_id = s.value \
           AND e.version = (SELECT MAX(version) FROM events WHERE stream_id = s.value)",
    )
    .bind(json_array(&streams))
    .fetch_all(&mut *connection)
    .await?;
    let mut state = LogState::default();
    for row in rows {
        let hash = stored(row.get(2));
        match row.get::<Option<String>, _>(0) {
            None => {
                state.head = row.get(1);
                state.head_hash = hash;
            }
            Some(stream) => {
                state
                    .stream_versions
                    .insert(stream.clone(), row.get::<i64, _>(1) as u64);
                if let Some(hash) = hash {
                    state.stream_hashes.insert(stream, hash);
                }
            }
        }
    }
    let keys: Vec<&str> = requests
        .iter()
        .filter_map(|r| r.idempotency_key())
        .collect();
    if !keys.is_empty() {
        state.keys = read_keys(connection, &keys).await?;
    }
    Ok(state)
}

async fn read_keys(
    connection: &mut SqliteConnection,
    keys: &[&str],
) -> Result<HashMap<String, StoredKey>> {
    let rows = sqlx::query(
        "SELECT key, stream_id, first_position, last_position, version FROM idempotency_keys \
         WHERE key IN (SELECT value FROM json_each(?1))",
    )
    .bind(json_array(keys))
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let stored = StoredKey {
                stream_id: row.get(1),
                appended: Appended {
                    first_position: row.get(2),
                    last_position: row.get(3),
                    version: row.get::<i64, _>(4) as u64,
                    duplicate: true,
                },
            };
            (row.get(0), stored)
        })
        .collect())
}

/// SQLite binds at most 32,766 values in one statement.
const MAX_BOUND_VALUES: usize = 32_766;

/// Multi-row `INSERT … VALUES` with bound values: one statement per table
/// for any batch this writer makes, and no JSON for SQLite to unpack (the
/// batch used to travel as one JSON array through `json_each`, which cost
/// a sixth of the writer's time).
async fn insert(connection: &mut SqliteConnection, plan: &Plan<'_>) -> Result<()> {
    if plan.events.is_empty() {
        return Ok(());
    }
    let recorded_at = format_time(plan.recorded_at)?;
    let event_ids: Vec<String> = plan.events.iter().map(|r| r.event_id.to_string()).collect();
    let rows: Vec<_> = plan.events.iter().zip(&event_ids).collect();
    for chunk in rows.chunks(MAX_BOUND_VALUES / 11) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO events (position, stream_id, version, event_type, event_version, \
             payload, metadata, event_id, recorded_at, hash, stream_hash) ",
        );
        insert.push_values(chunk, |mut values, (row, event_id)| {
            values
                .push_bind(row.position)
                .push_bind(row.stream_id)
                .push_bind(row.version)
                .push_bind(row.event.event_type.as_str())
                .push_bind(row.event.schema_version)
                .push_bind(row.payload.as_str())
                .push_bind(row.metadata)
                .push_bind(event_id.as_str())
                .push_bind(recorded_at.as_str())
                .push_bind(row.links.map(|links| links.hash.to_vec()))
                .push_bind(row.links.map(|links| links.stream_hash.to_vec()));
        });
        insert.build().execute(&mut *connection).await?;
    }
    for chunk in plan.keys.chunks(MAX_BOUND_VALUES / 6) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO idempotency_keys (key, stream_id, first_position, last_position, \
             version, recorded_at) ",
        );
        insert.push_values(chunk, |mut values, key| {
            values
                .push_bind(key.key)
                .push_bind(key.stream_id)
                .push_bind(key.appended.first_position)
                .push_bind(key.appended.last_position)
                .push_bind(key.appended.version as i64)
                .push_bind(recorded_at.as_str());
        });
        insert.build().execute(&mut *connection).await?;
    }
    Ok(())
}

fn json_array(items: &[&str]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

fn format_time(at: OffsetDateTime) -> Result<String> {
    at.format(&Rfc3339)
        .map_err(|e| StoreError::InvalidMetadata(format!("time {at} cannot be stored: {e}")))
}

fn stored_row(row: &sqlx::sqlite::SqliteRow) -> StoredRow {
    let event_id: String = row.get(7);
    let recorded_at: String = row.get(8);
    StoredRow {
        position: row.get(0),
        stream_id: row.get(1),
        version: row.get(2),
        event_type: row.get(3),
        schema_version: row.get(4),
        payload: row.get(5),
        metadata: row.get(6),
        event_id: Uuid::parse_str(&event_id).map_err(|e| e.to_string()),
        recorded_at: OffsetDateTime::parse(&recorded_at, &Rfc3339).map_err(|e| e.to_string()),
    }
}

pub(crate) async fn read_all(
    pool: &SqlitePool,
    after: i64,
    limit: u32,
) -> Result<Vec<RecordedEvent>> {
    let rows = sqlx::query(&format!(
        "{SELECT_EVENTS} WHERE position > ?1 ORDER BY position LIMIT ?2"
    ))
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    decode_all(rows.iter().map(stored_row).collect())
}

pub(crate) async fn read_stream(
    pool: &SqlitePool,
    stream_id: &str,
    from_version: u64,
) -> Result<Vec<RecordedEvent>> {
    let rows = sqlx::query(&format!(
        "{SELECT_EVENTS} WHERE stream_id = ?1 AND version >= ?2 ORDER BY version"
    ))
    .bind(stream_id)
    .bind(from_version as i64)
    .fetch_all(pool)
    .await?;
    decode_all(rows.iter().map(stored_row).collect())
}

pub(crate) async fn head(pool: &SqlitePool) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(pool)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_options(directory: &std::path::Path, name: &str) -> SqliteConnectOptions {
        options(&format!("sqlite://{}", directory.join(name).display())).expect("valid options")
    }

    #[tokio::test]
    async fn every_writer_of_a_file_shares_one_lock() {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let (pool, committer) = connect(&file_options(directory.path(), "a.db"), Chaining::Hashed)
            .await
            .expect("opens");
        let (again, _) = connect(&file_options(directory.path(), "a.db"), Chaining::Hashed)
            .await
            .expect("opens");
        let (other, _) = connect(&file_options(directory.path(), "b.db"), Chaining::Hashed)
            .await
            .expect("opens");
        assert!(Arc::ptr_eq(&write_lock(&pool), &committer.write_lock));
        assert!(Arc::ptr_eq(&write_lock(&pool), &write_lock(&again)));
        assert!(!Arc::ptr_eq(&write_lock(&pool), &write_lock(&other)));
    }
}
