//! Turning a stored row back into a [`RecordedEvent`], with every decoding
//! failure reported against its stream and position instead of panicking or
//! skipping the row.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::model::{Metadata, RecordedEvent};

/// A row as both backends can hand it over; the JSON columns arrive as text
/// so that both decode them the same way.
#[derive(Debug)]
pub(crate) struct StoredRow {
    pub position: i64,
    pub stream_id: String,
    pub version: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: String,
    pub metadata: String,
    pub event_id: Result<Uuid, String>,
    pub recorded_at: Result<OffsetDateTime, String>,
}

impl StoredRow {
    pub fn decode(self) -> Result<RecordedEvent> {
        let corrupt = |reason: String| StoreError::Corrupt {
            stream_id: self.stream_id.clone(),
            position: self.position,
            reason,
        };
        let payload = serde_json::from_str(&self.payload)
            .map_err(|e| corrupt(format!("payload is not valid JSON: {e}")))?;
        let metadata: Metadata = serde_json::from_str(&self.metadata)
            .map_err(|e| corrupt(format!("metadata is malformed: {e}")))?;
        let event_id = self
            .event_id
            .clone()
            .map_err(|e| corrupt(format!("event_id: {e}")))?;
        let recorded_at = self
            .recorded_at
            .clone()
            .map_err(|e| corrupt(format!("recorded_at: {e}")))?;
        let version = u64::try_from(self.version)
            .map_err(|_| corrupt(format!("negative version {}", self.version)))?;
        Ok(RecordedEvent {
            position: self.position,
            stream_id: self.stream_id,
            version,
            event_type: self.event_type,
            schema_version: self.schema_version,
            payload,
            metadata,
            event_id,
            recorded_at,
        })
    }
}

pub(crate) fn decode_all(rows: Vec<StoredRow>) -> Result<Vec<RecordedEvent>> {
    rows.into_iter().map(StoredRow::decode).collect()
}
