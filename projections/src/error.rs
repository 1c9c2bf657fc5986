//! How projecting can fail, and which failures are worth retrying.

use bomizzel_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The event cannot be read as a domain event: the projection stops
    /// here and says so, it never skips it.
    #[error("event at position {position} of stream {stream_id} cannot be decoded: {reason}")]
    Undecodable {
        position: i64,
        stream_id: String,
        reason: String,
    },
    /// The read model refuses the event (a rule of the projection): the
    /// projection stops here and says so.
    #[error("event at position {position} cannot be applied: {reason}")]
    Rejected { position: i64, reason: String },
    /// Someone else (another node or a rebuild) moved the checkpoint; this
    /// batch was rolled back and the runner reloads.
    #[error("checkpoint of projection {0} was moved by another runner")]
    Superseded(String),
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    #[error("read-model database: {0}")]
    Database(#[from] sqlx::Error),
}

impl ProjectionError {
    /// Whether this is the database's outage: retried, and logged quietly.
    pub fn outage(&self) -> Option<bomizzel_store::Outage> {
        match self {
            Self::Store(error) => error.outage(),
            Self::Database(error) => bomizzel_store::health::outage_of(error),
            _ => None,
        }
    }

    /// Failures that stop the projection until someone looks at it.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Undecodable { .. }
                | Self::Rejected { .. }
                | Self::Store(StoreError::Corrupt { .. })
        )
    }
}
