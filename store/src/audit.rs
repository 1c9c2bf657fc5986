//! Reading the log as an auditor does: every event as the bytes the hash
//! chains cover plus its stored links ([`AuditEvent`]), the chain's head,
//! one stream's history, and the walk that checks it all ([`verify`]).
//! Also the migration step that gives events written before the chains
//! existed their links ([`fill_missing_links`]).

pub mod verify;

use std::collections::HashMap;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::chain::{Encoded, GENESIS, Hash, nanos, stored, to_hex};
use crate::error::{Result, StoreError};
use crate::on_write;
use crate::store::{Database, EventStore};

/// An event as stored, with what the chains cover exactly as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub position: i64,
    pub stream_id: String,
    pub version: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub event_id: String,
    pub recorded_at: OffsetDateTime,
    pub payload: String,
    pub metadata: String,
    /// `None` when the row has no link (never for events the writer wrote
    /// with hashing).
    pub hash: Option<Hash>,
    pub stream_hash: Option<Hash>,
}

impl AuditEvent {
    /// The fields the chains hash, in the canonical encoding's terms.
    pub fn encoded(&self) -> Encoded<'_> {
        Encoded {
            position: self.position,
            stream_id: &self.stream_id,
            version: self.version,
            event_type: &self.event_type,
            schema_version: self.schema_version,
            event_id: &self.event_id,
            recorded_at_ns: nanos(self.recorded_at),
            payload: &self.payload,
            metadata: &self.metadata,
        }
    }

    /// One line of an export (docs/audit.md): the hashed fields as stored
    /// (payload and metadata as their JSON text), the links, the link
    /// before it in the log (`previous_hash`), and the actor for people.
    pub fn export_line(&self, previous_hash: Option<&Hash>) -> Value {
        let actor = serde_json::from_str::<Value>(&self.metadata)
            .ok()
            .and_then(|metadata| metadata.get("actor").cloned())
            .unwrap_or(Value::Null);
        let recorded_at = self
            .recorded_at
            .format(&Rfc3339)
            .unwrap_or_else(|_| self.recorded_at.to_string());
        json!({
            "position": self.position,
            "stream_id": self.stream_id,
            "version": self.version,
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "event_id": self.event_id,
            "recorded_at": recorded_at,
            "actor": actor,
            "payload": self.payload,
            "metadata": self.metadata,
            "previous_hash": previous_hash.map(to_hex),
            "hash": self.hash.as_ref().map(to_hex),
            "stream_hash": self.stream_hash.as_ref().map(to_hex),
        })
    }
}

/// The audit columns, the time as RFC 3339 text on both backends (to the
/// microsecond PostgreSQL keeps).
const SQLITE_COLUMNS: &str = "position, stream_id, version, event_type, event_version, \
     event_id, payload, metadata, recorded_at, hash, stream_hash";
const POSTGRES_COLUMNS: &str = "position, stream_id, version, event_type, event_version, \
     event_id::text AS event_id, payload::text AS payload, metadata::text AS metadata, \
     to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
       AS recorded_at, \
     hash, stream_hash";

/// A row of the audit columns as either backend hands it over.
#[derive(Debug, sqlx::FromRow)]
struct AuditRow {
    position: i64,
    stream_id: String,
    version: i64,
    event_type: String,
    event_version: i32,
    event_id: String,
    payload: String,
    metadata: String,
    recorded_at: String,
    hash: Option<Vec<u8>>,
    stream_hash: Option<Vec<u8>>,
}

impl AuditRow {
    fn decode(self) -> Result<AuditEvent> {
        let recorded_at = OffsetDateTime::parse(&self.recorded_at, &Rfc3339).map_err(|e| {
            StoreError::Corrupt {
                stream_id: self.stream_id.clone(),
                position: self.position,
                reason: format!("recorded_at: {e}"),
            }
        })?;
        Ok(AuditEvent {
            position: self.position,
            stream_id: self.stream_id,
            version: self.version,
            event_type: self.event_type,
            schema_version: self.event_version,
            event_id: self.event_id,
            payload: self.payload,
            metadata: self.metadata,
            recorded_at,
            hash: stored(self.hash),
            stream_hash: stored(self.stream_hash),
        })
    }
}

/// Runs `$sql` (with `{columns}` for the audit columns) bound to `$binds`
/// on either backend and decodes every row.
macro_rules! audit_query {
    ($database:expr, $sql:expr, $($bind:expr),* $(,)?) => {{
        let rows: Vec<AuditRow> = match $database {
            Database::Sqlite(pool) => {
                let sql = $sql.replace("{columns}", SQLITE_COLUMNS);
                sqlx::query_as(&sql)$(.bind($bind))*.fetch_all(pool).await?
            }
            Database::Postgres(pool) => {
                let sql = $sql.replace("{columns}", POSTGRES_COLUMNS);
                sqlx::query_as(&sql)$(.bind($bind))*.fetch_all(pool).await?
            }
        };
        rows.into_iter().map(AuditRow::decode).collect::<Result<Vec<_>>>()
    }};
}

impl EventStore {
    /// The events at positions `from..=to`, in position order.
    pub async fn audit_range(&self, from: i64, to: i64) -> Result<Vec<AuditEvent>> {
        audit_query!(
            self.database(),
            "SELECT {columns} FROM events WHERE position >= $1 AND position <= $2 ORDER BY position",
            from,
            to
        )
    }

    /// Every event of `stream_id`, in version order.
    pub async fn audit_stream(&self, stream_id: &str) -> Result<Vec<AuditEvent>> {
        audit_query!(
            self.database(),
            "SELECT {columns} FROM events WHERE stream_id = $1 ORDER BY version",
            stream_id
        )
    }

    /// Every event of the directory's streams, in position order.
    pub async fn audit_directory(&self) -> Result<Vec<AuditEvent>> {
        audit_query!(
            self.database(),
            "SELECT {columns} FROM events WHERE stream_id LIKE 'directory:%' ORDER BY position",
        )
    }

    /// `events` as export lines ([`AuditEvent::export_line`]), each with
    /// the stored hash of the event before it in the log.
    pub async fn export_lines(&self, events: &[AuditEvent]) -> Result<Vec<Value>> {
        let unpreceded: Vec<i64> = events
            .iter()
            .enumerate()
            .filter(|(i, e)| *i == 0 || events[i - 1].position != e.position - 1)
            .map(|(_, e)| e.position - 1)
            .collect();
        let mut previous = HashMap::new();
        for chunk in unpreceded.chunks(500) {
            previous.extend(self.hashes_at(chunk).await?);
        }
        Ok(events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                let before = match i {
                    0 => None,
                    _ => events[i - 1]
                        .hash
                        .filter(|_| events[i - 1].position == event.position - 1),
                };
                let before = before.or_else(|| previous.get(&(event.position - 1)).copied());
                let before = before.or((event.position == 1).then_some(GENESIS));
                event.export_line(before.as_ref())
            })
            .collect())
    }

    /// The stored `hash` at each of `positions` (those that have one).
    pub async fn hashes_at(&self, positions: &[i64]) -> Result<HashMap<i64, Hash>> {
        let list = positions
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!("SELECT position, hash FROM events WHERE position IN ({list})");
        let rows: Vec<(i64, Option<Vec<u8>>)> = if positions.is_empty() {
            Vec::new()
        } else {
            match self.database() {
                Database::Sqlite(pool) => sqlx::query_as(&sql).fetch_all(pool).await?,
                Database::Postgres(pool) => sqlx::query_as(&sql).fetch_all(pool).await?,
            }
        };
        Ok(rows
            .into_iter()
            .filter_map(|(position, hash)| Some((position, stored(hash)?)))
            .collect())
    }

    /// The newest event's position and stored `hash`: what an auditor
    /// keeps elsewhere as an anchor. `None` for an empty log.
    pub async fn chain_head(&self) -> Result<Option<(i64, Option<Hash>)>> {
        const SQL: &str = "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1";
        let row: Option<(i64, Option<Vec<u8>>)> = match self.database() {
            Database::Sqlite(pool) => sqlx::query_as(SQL).fetch_optional(pool).await?,
            Database::Postgres(pool) => sqlx::query_as(SQL).fetch_optional(pool).await?,
        };
        Ok(row.map(|(position, hash)| (position, stored(hash))))
    }

    /// Each stream's last version and `stream_hash` before `position`: where
    /// a walk that starts there picks up the stream chains.
    pub async fn stream_heads_before(&self, position: i64) -> Result<StreamHeads> {
        const SQL: &str = "SELECT e.stream_id, e.version, e.stream_hash FROM events e \
             JOIN (SELECT stream_id, MAX(version) AS version FROM events \
                   WHERE position < $1 GROUP BY stream_id) last \
             ON last.stream_id = e.stream_id AND last.version = e.version";
        let rows: Vec<(String, i64, Option<Vec<u8>>)> = match self.database() {
            Database::Sqlite(pool) => sqlx::query_as(SQL).bind(position).fetch_all(pool).await?,
            Database::Postgres(pool) => sqlx::query_as(SQL).bind(position).fetch_all(pool).await?,
        };
        Ok(rows
            .into_iter()
            .map(|(stream, version, hash)| (stream, (version, stored(hash))))
            .collect())
    }
}

/// Each stream's last version and its `stream_hash` (if it has one).
pub type StreamHeads = HashMap<String, (i64, Option<Hash>)>;

/// Events filled in per statement round by [`fill_missing_links`].
const FILL_PAGE: i64 = 1_000;

/// Gives every event without links its `hash` and `stream_hash`, in
/// position order, continuing the chains from the events before it. Runs
/// under the append lock in one transaction, and the links are a function
/// of the stored rows alone, so nodes that migrate at once agree and
/// appends wait until the chain is whole. Does nothing on a log whose
/// every event is linked.
pub async fn fill_missing_links(store: &EventStore) -> Result<()> {
    let mut tx = store.begin_write().await?;
    tx.lock_appends().await?;
    // Events without links are only ever a prefix of the log: the writer
    // refuses to continue a chain that has none. So the first event says.
    let first: Option<i64> = on_write!(tx, connection => {
        sqlx::query_scalar(
            "SELECT position FROM events WHERE position = (SELECT MIN(position) FROM events) \
             AND (hash IS NULL OR stream_hash IS NULL)",
        )
        .fetch_optional(&mut *connection)
        .await?
    });
    let Some(first) = first else {
        return Ok(());
    };
    tracing::info!(
        from = first,
        "filling in the hash chains of events written before them"
    );
    let mut previous = match store.hashes_at(&[first - 1]).await?.get(&(first - 1)) {
        Some(hash) => *hash,
        None => GENESIS,
    };
    let mut streams = store.stream_heads_before(first).await?;
    let mut from = first;
    loop {
        let page = store.audit_range(from, from + FILL_PAGE - 1).await?;
        let Some(last) = page.last().map(|event| event.position) else {
            break;
        };
        for event in &page {
            let encoded = event.encoded();
            let previous_in_stream = match streams.get(&event.stream_id) {
                Some((_, Some(hash))) => *hash,
                _ => GENESIS,
            };
            previous = encoded.link(&previous);
            let stream_hash = encoded.link(&previous_in_stream);
            streams.insert(event.stream_id.clone(), (event.version, Some(stream_hash)));
            on_write!(tx, connection => {
                sqlx::query("UPDATE events SET hash = $1, stream_hash = $2 WHERE position = $3")
                    .bind(previous.to_vec())
                    .bind(stream_hash.to_vec())
                    .bind(event.position)
                    .execute(&mut *connection)
                    .await?;
            });
        }
        from = last + 1;
    }
    tx.commit().await
}
