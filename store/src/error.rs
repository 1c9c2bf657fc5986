//! What can go wrong in the event store.

use std::sync::Arc;

/// Errors of the event store. Cloneable because one failed group commit
/// answers every command of its batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error(
        "version conflict on stream {stream_id}: expected version {expected}, but it is at {actual}"
    )]
    Conflict {
        stream_id: String,
        expected: u64,
        actual: u64,
    },
    #[error("idempotency key {key:?} was first used for stream {first_stream}, not {stream_id}")]
    IdempotencyKeyReused {
        key: String,
        first_stream: String,
        stream_id: String,
    },
    #[error("an append needs at least one event (stream {stream_id})")]
    EmptyAppend { stream_id: String },
    #[error("event at position {position} of stream {stream_id} cannot be decoded: {reason}")]
    Corrupt {
        stream_id: String,
        position: i64,
        reason: String,
    },
    #[error(
        "the log's hash chain ends before position {position}: run `bomizzel migrate` to fill it in"
    )]
    ChainIncomplete { position: i64 },
    #[error("metadata cannot be stored: {0}")]
    InvalidMetadata(String),
    #[error("unsupported database url {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("the event store is shut down")]
    Closed,
    #[error("database error: {0}")]
    Database(Arc<sqlx::Error>),
    #[error("migration failed: {0}")]
    Migration(Arc<sqlx::migrate::MigrateError>),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(Arc::new(error))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(Arc::new(error))
    }
}

impl StoreError {
    /// Whether this is the database's outage rather than the request's fault.
    pub fn outage(&self) -> Option<crate::health::Outage> {
        match self {
            Self::Database(error) => crate::health::outage_of(error),
            _ => None,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
