//! The shapes that go into and come out of the event log.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// An event to append: its type, schema version and JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_type: String,
    /// Schema version of `payload`, so readers can upcast older shapes.
    pub schema_version: i32,
    pub payload: Value,
}

/// Who did it, why and when; stored with every event of one append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub actor: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// What the request that carried `idempotency_key` was, in the caller's
    /// terms (the API: method, route and a digest of the body). Stored with
    /// the events, so a later use of the key can tell a retry of that
    /// request from the key reused for another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_fingerprint: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
}

impl Metadata {
    /// Metadata for `actor` acting in `role`, occurring now.
    pub fn new(actor: impl Into<String>, role: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            role: role.into(),
            correlation_id: None,
            causation_id: None,
            idempotency_key: None,
            request_fingerprint: None,
            occurred_at: OffsetDateTime::now_utc(),
        }
    }
}

/// The stream version an append expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version is.
    Any,
    /// The stream must be at exactly this version; `Exact(0)` means it must not exist yet.
    Exact(u64),
}

/// One command's events for one stream, appended atomically.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub stream_id: String,
    pub expected_version: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub metadata: Metadata,
}

impl AppendRequest {
    /// The idempotency key travels in the metadata so that auditors see it too.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.metadata.idempotency_key.as_deref()
    }
}

/// What an append wrote: the positions of its first and last event and the
/// stream's version afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub first_position: i64,
    pub last_position: i64,
    pub version: u64,
    /// True when the idempotency key had been seen: nothing was written and
    /// this is the first append's answer.
    pub duplicate: bool,
}

/// The first answer recorded for an idempotency key: the stream it was
/// used on, what that append wrote, and its metadata (with the request
/// fingerprint the key was first used with).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedAnswer {
    pub stream_id: String,
    pub appended: Appended,
    pub metadata: Metadata,
}

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Global, dense position in commit order.
    pub position: i64,
    pub stream_id: String,
    /// Position within the stream, from 1.
    pub version: u64,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: Value,
    pub metadata: Metadata,
    pub event_id: Uuid,
    pub recorded_at: OffsetDateTime,
}
