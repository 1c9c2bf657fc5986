//! Lets a cqrs-es `CqrsFramework` run on this event store: a
//! `PersistedEventRepository` that maps cqrs-es's serialized events onto the
//! log's rows. cqrs-es keeps payloads externally tagged
//! (`{"TicketCreated": {…}}`); the log keeps the type in its own column and
//! the bare payload, so the adapter wraps and unwraps the tag. Snapshots are
//! not kept: streams are short and loads read them whole.

use std::collections::HashMap;

use cqrs_es::Aggregate;
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::StoreError;
use crate::model::{AppendRequest, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use crate::store::EventStore;

/// Events read per query when replaying the whole log.
const REPLAY_BATCH: u32 = 1000;

/// The cqrs-es view of an [`EventStore`].
#[derive(Debug, Clone)]
pub struct CqrsRepository {
    store: EventStore,
}

impl CqrsRepository {
    pub fn new(store: EventStore) -> Self {
        Self { store }
    }
}

impl PersistedEventRepository for CqrsRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.get_last_events::<A>(aggregate_id, 0).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let events = self
            .store
            .read_stream(aggregate_id, last_sequence as u64 + 1)
            .await
            .map_err(persistence_error)?;
        Ok(events.into_iter().map(serialized::<A>).collect())
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        _aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        Ok(None)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        _snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        let request = AppendRequest {
            stream_id: first.aggregate_id.clone(),
            expected_version: ExpectedVersion::Exact(first.sequence.saturating_sub(1) as u64),
            events: events.iter().map(new_event).collect(),
            metadata: metadata(&first.metadata),
        };
        self.store
            .append(request)
            .await
            .map(drop)
            .map_err(persistence_error)
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        let events = self.get_events::<A>(aggregate_id).await?;
        let (mut feed, stream) = ReplayStream::new(events.len().max(1));
        for event in events {
            feed.push(Ok(event)).await?;
        }
        Ok(stream)
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        let (mut feed, stream) = ReplayStream::new(REPLAY_BATCH as usize);
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut after = 0;
            loop {
                let batch = match store.read_all(after, REPLAY_BATCH).await {
                    Ok(batch) if batch.is_empty() => return,
                    Ok(batch) => batch,
                    Err(error) => {
                        let _ = feed.push(Err(persistence_error(error))).await;
                        return;
                    }
                };
                for event in batch {
                    after = event.position;
                    if feed.push(Ok(serialized::<A>(event))).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(stream)
    }
}

fn serialized<A: Aggregate>(event: RecordedEvent) -> SerializedEvent {
    let metadata = serde_json::to_value(&event.metadata).unwrap_or(Value::Null);
    let mut tagged = serde_json::Map::new();
    tagged.insert(event.event_type.clone(), event.payload);
    SerializedEvent {
        aggregate_id: event.stream_id,
        sequence: event.version as usize,
        aggregate_type: A::TYPE.to_owned(),
        event_type: event.event_type,
        event_version: event.schema_version.to_string(),
        payload: Value::Object(tagged),
        metadata,
    }
}

fn new_event(event: &SerializedEvent) -> NewEvent {
    let payload = match &event.payload {
        Value::Object(tagged) if tagged.len() == 1 => tagged
            .get(&event.event_type)
            .cloned()
            .unwrap_or_else(|| event.payload.clone()),
        other => other.clone(),
    };
    NewEvent {
        event_type: event.event_type.clone(),
        schema_version: event.event_version.parse().unwrap_or(1),
        payload,
    }
}

/// cqrs-es metadata is a string map; missing actor and role mean the system.
fn metadata(value: &Value) -> Metadata {
    let map: HashMap<String, String> = serde_json::from_value(value.clone()).unwrap_or_default();
    let field = |name: &str| map.get(name).cloned();
    Metadata {
        actor: field("actor").unwrap_or_else(|| "system".into()),
        role: field("role").unwrap_or_else(|| "system".into()),
        correlation_id: field("correlation_id"),
        causation_id: field("causation_id"),
        idempotency_key: field("idempotency_key"),
        request_fingerprint: field("request_fingerprint"),
        occurred_at: field("occurred_at")
            .and_then(|at| OffsetDateTime::parse(&at, &Rfc3339).ok())
            .unwrap_or_else(OffsetDateTime::now_utc),
    }
}

fn persistence_error(error: StoreError) -> PersistenceError {
    match error {
        StoreError::Conflict { .. } => PersistenceError::OptimisticLockError,
        other => PersistenceError::UnknownError(Box::new(other)),
    }
}
