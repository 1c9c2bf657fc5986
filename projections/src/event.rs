//! Events as projections see them: decoded into the domain's types, with
//! their position and envelope.

use std::collections::HashSet;

use bomizzel_domain::TicketEvent;
use bomizzel_store::{Metadata, RecordedEvent};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ProjectionError;

/// A decoded event of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectedEvent {
    pub position: i64,
    pub stream_id: String,
    /// The ticket's version after this event.
    pub version: u64,
    pub event: TicketEvent,
    pub metadata: Metadata,
    pub recorded_at: OffsetDateTime,
}

impl ProjectedEvent {
    /// Decodes one stored event; an event that cannot be decoded is an error
    /// naming its stream and position, never skipped.
    pub fn decode(recorded: RecordedEvent) -> Result<Self, ProjectionError> {
        let event = TicketEvent::decode(
            &recorded.event_type,
            recorded.schema_version,
            recorded.payload,
            recorded.position,
        )
        .map_err(|error| ProjectionError::Undecodable {
            position: recorded.position,
            stream_id: recorded.stream_id.clone(),
            reason: error.to_string(),
        })?;
        Ok(Self {
            position: recorded.position,
            stream_id: recorded.stream_id,
            version: recorded.version,
            event,
            metadata: recorded.metadata,
            recorded_at: recorded.recorded_at,
        })
    }

    /// When the command that caused the event happened.
    pub fn occurred_at(&self) -> OffsetDateTime {
        self.metadata.occurred_at
    }

    /// The user whose command caused the event.
    pub fn actor(&self) -> &str {
        &self.metadata.actor
    }
}

/// The tickets a batch continues, whose stored rows a projection loads
/// before folding it: those whose first event in the batch is not their
/// creation. A creation is its stream's first event (appended at version
/// 0), so nothing of a ticket created in the batch is stored yet.
pub(crate) fn continued_tickets(events: &[ProjectedEvent]) -> Vec<Uuid> {
    let mut seen = HashSet::new();
    events
        .iter()
        .filter(|event| seen.insert(event.event.ticket_id()))
        .filter(|event| !matches!(event.event, TicketEvent::TicketCreated { .. }))
        .map(|event| event.event.ticket_id())
        .collect()
}
