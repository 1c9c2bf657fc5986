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

use serde_json::value::RawValue;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Row};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::model::{AppendRequest, Appended, RecordedEvent};
use crate::plan::{LogState, Plan, StoredKey, plan};
use crate::row::{StoredRow, decode_all};
use crate::writer::{BatchCommitter, BatchOutcome};

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
        .foreign_keys(true);
    let directory = options.get_filename().parent().map(ToOwned::to_owned);
    if let Some(directory) = directory.filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(&directory)
            .map_err(|e| StoreError::Database(std::sync::Arc::new(sqlx::Error::Io(e))))?;
    }
    Ok(options)
}

pub(crate) async fn connect(
    options: &SqliteConnectOptions,
) -> Result<(SqlitePool, SqliteCommitter)> {
    let pool = SqlitePoolOptions::new()
        .max_connections(READ_CONNECTIONS)
        .connect_with(options.clone())
        .await?;
    let connection = SqliteConnection::connect_with(options).await?;
    let write_lock = file_write_lock(options);
    Ok((
        pool,
        SqliteCommitter {
            connection,
            write_lock,
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
    connection: SqliteConnection,
    write_lock: Arc<tokio::sync::Mutex<()>>,
}

impl BatchCommitter for SqliteCommitter {
    async fn commit(&mut self, requests: &[AppendRequest]) -> Result<BatchOutcome> {
        let metadata = crate::plan::metadata_json(requests)?;
        let _write = self.write_lock.lock().await;
        let mut transaction = self.connection.begin_with("BEGIN IMMEDIATE").await?;
        let state = read_state(&mut transaction, requests).await?;
        let plan = plan(requests, &metadata, state);
        insert(&mut transaction, &plan).await?;
        transaction.commit().await?;
        let head = plan.last_position();
        Ok((plan.outcomes, head))
    }
}

async fn read_state(
    connection: &mut SqliteConnection,
    requests: &[AppendRequest],
) -> Result<LogState> {
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
        .fetch_one(&mut *connection)
        .await?;
    let streams: Vec<&str> = requests.iter().map(|r| r.stream_id.as_str()).collect();
    let stream_versions = sqlx::query(
        // One index probe per stream (MAX over the (stream_id, version) key),
        // rather than a scan of every event of the batch's streams.
        "SELECT s.value, (SELECT MAX(e.version) FROM events e WHERE e.stream_id = s.value) \
         FROM (SELECT DISTINCT value FROM json_each(?1)) s",
    )
    .bind(json_array(&streams))
    .fetch_all(&mut *connection)
    .await?
    .into_iter()
    .filter_map(|row| {
        Some((
            row.get::<String, _>(0),
            row.get::<Option<i64>, _>(1)? as u64,
        ))
    })
    .collect::<HashMap<_, _>>();
    let keys: Vec<&str> = requests
        .iter()
        .filter_map(|r| r.idempotency_key())
        .collect();
    let keys = if keys.is_empty() {
        HashMap::new()
    } else {
        read_keys(connection, &keys).await?
    };
    Ok(LogState {
        head,
        stream_versions,
        keys,
    })
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

/// One statement per table whatever the batch size: the rows travel as
/// one JSON array that SQLite unpacks with `json_each`.
async fn insert(connection: &mut SqliteConnection, plan: &Plan<'_>) -> Result<()> {
    if plan.events.is_empty() {
        return Ok(());
    }
    let recorded_at = format_time(plan.recorded_at)?;
    let mut events = Vec::with_capacity(plan.events.len());
    for row in &plan.events {
        let metadata: &RawValue = serde_json::from_str(row.metadata)
            .map_err(|e| StoreError::InvalidMetadata(e.to_string()))?;
        events.push(serde_json::json!([
            row.position,
            row.stream_id,
            row.version,
            row.event.event_type,
            row.event.schema_version,
            row.event.payload,
            metadata,
            row.event_id,
            recorded_at,
        ]));
    }
    sqlx::query(
        "INSERT INTO events (position, stream_id, version, event_type, event_version, \
         payload, metadata, event_id, recorded_at) \
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, \
         value -> 5, value -> 6, value ->> 7, value ->> 8 FROM json_each(?1)",
    )
    .bind(serde_json::Value::Array(events).to_string())
    .execute(&mut *connection)
    .await?;
    if !plan.keys.is_empty() {
        let keys: Vec<_> = plan
            .keys
            .iter()
            .map(|k| {
                serde_json::json!([
                    k.key,
                    k.stream_id,
                    k.appended.first_position,
                    k.appended.last_position,
                    k.appended.version,
                    recorded_at,
                ])
            })
            .collect();
        sqlx::query(
            "INSERT INTO idempotency_keys (key, stream_id, first_position, last_position, \
             version, recorded_at) SELECT value ->> 0, value ->> 1, value ->> 2, \
             value ->> 3, value ->> 4, value ->> 5 FROM json_each(?1)",
        )
        .bind(serde_json::Value::Array(keys).to_string())
        .execute(&mut *connection)
        .await?;
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
        let (pool, committer) = connect(&file_options(directory.path(), "a.db"))
            .await
            .expect("opens");
        let (again, _) = connect(&file_options(directory.path(), "a.db"))
            .await
            .expect("opens");
        let (other, _) = connect(&file_options(directory.path(), "b.db"))
            .await
            .expect("opens");
        assert!(Arc::ptr_eq(&write_lock(&pool), &committer.write_lock));
        assert!(Arc::ptr_eq(&write_lock(&pool), &write_lock(&again)));
        assert!(!Arc::ptr_eq(&write_lock(&pool), &write_lock(&other)));
    }
}
