//! Deciding a group-commit batch: which appends go in, at which positions,
//! and which are conflicts or idempotent repeats. Pure, so both backends
//! share one set of rules and the rules are unit-tested without a database.

use std::collections::HashMap;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::chain::{Encoded, GENESIS, Hash, nanos};
use crate::error::{Result, StoreError};
use crate::model::{AppendRequest, Appended, ExpectedVersion, NewEvent};

/// The first answer recorded for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredKey {
    pub stream_id: String,
    pub appended: Appended,
}

/// What the database says before the batch is decided, read under the
/// append lock.
#[derive(Debug, Default)]
pub(crate) struct LogState {
    pub head: i64,
    /// The `hash` of the event at `head`; `None` when it has none yet (a
    /// log whose chain a migration has not filled in).
    pub head_hash: Option<Hash>,
    pub stream_versions: HashMap<String, u64>,
    /// The `stream_hash` of each stream's last event, where it has one.
    pub stream_hashes: HashMap<String, Hash>,
    pub keys: HashMap<String, StoredKey>,
}

impl LogState {
    /// The state of an empty log: the chains start at [`GENESIS`].
    fn previous_hash(&self) -> Option<Hash> {
        if self.head == 0 {
            Some(GENESIS)
        } else {
            self.head_hash
        }
    }

    fn previous_stream_hash(&self, stream_id: &str) -> Option<Hash> {
        match self.stream_versions.get(stream_id) {
            None | Some(0) => Some(GENESIS),
            Some(_) => self.stream_hashes.get(stream_id).copied(),
        }
    }
}

/// Whether the writer computes the hash chains. `Unhashed` exists only so
/// the append benchmark can measure what hashing costs: a log written so
/// has no chain and fails `audit verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Chaining {
    #[default]
    Hashed,
    Unhashed,
}

/// An event's two links, computed by the writer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Links {
    pub hash: Hash,
    pub stream_hash: Hash,
}

/// One row to insert into `events`.
#[derive(Debug)]
pub(crate) struct EventRow<'a> {
    pub position: i64,
    pub stream_id: &'a str,
    pub version: i64,
    pub event: &'a NewEvent,
    /// The payload's JSON text, as stored and hashed.
    pub payload: String,
    pub metadata: &'a str,
    pub event_id: Uuid,
    /// `None` when the store writes without hashing ([`Chaining::Unhashed`]).
    pub links: Option<Links>,
}

impl EventRow<'_> {
    /// The row as the chains encode it.
    fn encoded<'r>(&'r self, event_id: &'r str, recorded_at: OffsetDateTime) -> Encoded<'r> {
        Encoded {
            position: self.position,
            stream_id: self.stream_id,
            version: self.version,
            event_type: &self.event.event_type,
            schema_version: self.event.schema_version,
            event_id,
            recorded_at_ns: nanos(recorded_at),
            payload: &self.payload,
            metadata: self.metadata,
        }
    }
}

/// One row to insert into `idempotency_keys`.
#[derive(Debug)]
pub(crate) struct KeyRow<'a> {
    pub key: &'a str,
    pub stream_id: &'a str,
    pub appended: Appended,
}

/// The decided batch: rows to write and the answer for each request, in
/// request order.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub events: Vec<EventRow<'a>>,
    pub keys: Vec<KeyRow<'a>>,
    pub outcomes: Vec<Result<Appended>>,
    pub recorded_at: OffsetDateTime,
}

impl Plan<'_> {
    /// The position of the last event this batch writes, if any.
    pub fn last_position(&self) -> Option<i64> {
        self.events.last().map(|row| row.position)
    }
}

/// `now`, to the microsecond: the precision both backends store, so that
/// the time hashed is the time read back.
fn recorded_now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

/// Each request's metadata as the JSON text stored with its events.
pub(crate) fn metadata_json(requests: &[AppendRequest]) -> Result<Vec<String>> {
    requests
        .iter()
        .map(|r| {
            serde_json::to_string(&r.metadata)
                .map_err(|e| StoreError::InvalidMetadata(e.to_string()))
        })
        .collect()
}

/// Decides `requests` in order against `state`, as if each had been
/// committed alone: a later request sees the versions and keys of the
/// earlier ones in the same batch. With [`Chaining::Hashed`] every event
/// gets its links; a log without a chain to continue fails the batch.
pub(crate) fn plan<'a>(
    requests: &'a [AppendRequest],
    metadata_json: &'a [String],
    mut state: LogState,
    chaining: Chaining,
) -> Result<Plan<'a>> {
    let mut plan = Plan {
        events: Vec::new(),
        keys: Vec::new(),
        outcomes: Vec::with_capacity(requests.len()),
        recorded_at: recorded_now(),
    };
    for (request, metadata) in requests.iter().zip(metadata_json) {
        let outcome = decide(request, &state);
        if let Ok(appended) = &outcome
            && !appended.duplicate
        {
            record(
                &mut plan, &mut state, request, metadata, *appended, chaining,
            )?;
        }
        plan.outcomes.push(outcome);
    }
    Ok(plan)
}

fn decide(request: &AppendRequest, state: &LogState) -> Result<Appended> {
    let stream_id = &request.stream_id;
    if let Some(key) = request.idempotency_key()
        && let Some(stored) = state.keys.get(key)
    {
        if stored.stream_id != *stream_id {
            return Err(StoreError::IdempotencyKeyReused {
                key: key.to_owned(),
                first_stream: stored.stream_id.clone(),
                stream_id: stream_id.clone(),
            });
        }
        return Ok(Appended {
            duplicate: true,
            ..stored.appended
        });
    }
    if request.events.is_empty() {
        return Err(StoreError::EmptyAppend {
            stream_id: stream_id.clone(),
        });
    }
    let actual = state.stream_versions.get(stream_id).copied().unwrap_or(0);
    if let ExpectedVersion::Exact(expected) = request.expected_version
        && expected != actual
    {
        return Err(StoreError::Conflict {
            stream_id: stream_id.clone(),
            expected,
            actual,
        });
    }
    let count = request.events.len() as i64;
    Ok(Appended {
        first_position: state.head + 1,
        last_position: state.head + count,
        version: actual + count as u64,
        duplicate: false,
    })
}

fn record<'a>(
    plan: &mut Plan<'a>,
    state: &mut LogState,
    request: &'a AppendRequest,
    metadata: &'a str,
    appended: Appended,
    chaining: Chaining,
) -> Result<()> {
    let first_version = appended.version as i64 - request.events.len() as i64 + 1;
    for (offset, event) in request.events.iter().enumerate() {
        let mut row = EventRow {
            position: appended.first_position + offset as i64,
            stream_id: &request.stream_id,
            version: first_version + offset as i64,
            event,
            payload: serde_json::to_string(&event.payload).map_err(|e| {
                StoreError::InvalidMetadata(format!("payload cannot be stored: {e}"))
            })?,
            metadata,
            event_id: Uuid::now_v7(),
            links: None,
        };
        if chaining == Chaining::Hashed {
            row.links = Some(link(&row, plan.recorded_at, state)?);
        }
        state.head = row.position;
        state
            .stream_versions
            .insert(request.stream_id.clone(), row.version as u64);
        plan.events.push(row);
    }
    if let Some(key) = request.idempotency_key() {
        plan.keys.push(KeyRow {
            key,
            stream_id: &request.stream_id,
            appended,
        });
        state.keys.insert(
            key.to_owned(),
            StoredKey {
                stream_id: request.stream_id.clone(),
                appended,
            },
        );
    }
    Ok(())
}

/// Links `row` to the chains as `state` leaves them, and moves them on.
fn link(row: &EventRow<'_>, recorded_at: OffsetDateTime, state: &mut LogState) -> Result<Links> {
    let incomplete = || StoreError::ChainIncomplete {
        position: row.position,
    };
    let previous = state.previous_hash().ok_or_else(incomplete)?;
    let previous_in_stream = state
        .previous_stream_hash(row.stream_id)
        .ok_or_else(incomplete)?;
    let event_id = row.event_id.to_string();
    let encoded = row.encoded(&event_id, recorded_at);
    let links = Links {
        hash: encoded.link(&previous),
        stream_hash: encoded.link(&previous_in_stream),
    };
    state.head_hash = Some(links.hash);
    state
        .stream_hashes
        .insert(row.stream_id.to_owned(), links.stream_hash);
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Metadata;
    use serde_json::json;

    fn request(
        stream: &str,
        expected: ExpectedVersion,
        events: usize,
        key: Option<&str>,
    ) -> AppendRequest {
        let mut metadata = Metadata::new("u1", "agent");
        metadata.idempotency_key = key.map(str::to_owned);
        AppendRequest {
            stream_id: stream.to_owned(),
            expected_version: expected,
            events: (0..events)
                .map(|i| NewEvent {
                    event_type: "Test".into(),
                    schema_version: 1,
                    payload: json!({ "i": i }),
                })
                .collect(),
            metadata,
        }
    }

    fn decide_all(requests: &[AppendRequest], state: LogState) -> Vec<Result<Appended>> {
        let metadata = vec![String::new(); requests.len()];
        plan(requests, &metadata, state, Chaining::Hashed)
            .unwrap()
            .outcomes
    }

    #[test]
    fn positions_are_dense_and_versions_follow_each_stream() {
        let requests = [
            request("a", ExpectedVersion::Exact(0), 2, None),
            request("b", ExpectedVersion::Any, 1, None),
            request("a", ExpectedVersion::Exact(2), 1, None),
        ];
        let metadata = vec![String::new(); 3];
        let state = LogState {
            head: 10,
            head_hash: Some([7; 32]),
            ..LogState::default()
        };
        let plan = plan(&requests, &metadata, state, Chaining::Hashed).unwrap();
        let rows: Vec<_> = plan
            .events
            .iter()
            .map(|r| (r.position, r.stream_id, r.version))
            .collect();
        assert_eq!(
            rows,
            vec![(11, "a", 1), (12, "a", 2), (13, "b", 1), (14, "a", 3)]
        );
        assert_eq!(plan.last_position(), Some(14));
    }

    #[test]
    fn second_append_at_the_same_expected_version_conflicts() {
        let requests = [
            request("a", ExpectedVersion::Exact(0), 1, None),
            request("a", ExpectedVersion::Exact(0), 1, None),
        ];
        let outcomes = decide_all(&requests, LogState::default());
        assert!(outcomes[0].is_ok());
        let error = outcomes[1].as_ref().unwrap_err().to_string();
        assert_eq!(
            error,
            "version conflict on stream a: expected version 0, but it is at 1"
        );
    }

    #[test]
    fn a_repeated_key_returns_the_first_answer_and_writes_nothing() {
        let requests = [
            request("a", ExpectedVersion::Any, 2, Some("k")),
            request("a", ExpectedVersion::Any, 2, Some("k")),
        ];
        let metadata = vec![String::new(); 2];
        let plan = plan(&requests, &metadata, LogState::default(), Chaining::Hashed).unwrap();
        let first = plan.outcomes[0].clone().unwrap();
        let second = plan.outcomes[1].clone().unwrap();
        assert!(!first.duplicate && second.duplicate);
        assert_eq!(
            (first.first_position, first.last_position, first.version),
            (1, 2, 2)
        );
        assert_eq!(
            (second.first_position, second.last_position, second.version),
            (1, 2, 2)
        );
        assert_eq!(plan.events.len(), 2);
        assert_eq!(plan.keys.len(), 1);
    }

    #[test]
    fn a_key_reused_on_another_stream_is_refused() {
        let requests = [
            request("a", ExpectedVersion::Any, 1, Some("k")),
            request("b", ExpectedVersion::Any, 1, Some("k")),
        ];
        let outcomes = decide_all(&requests, LogState::default());
        assert!(matches!(
            outcomes[1],
            Err(StoreError::IdempotencyKeyReused { .. })
        ));
    }

    #[test]
    fn a_conflicting_request_does_not_consume_its_key() {
        let requests = [
            request("a", ExpectedVersion::Exact(5), 1, Some("k")),
            request("a", ExpectedVersion::Exact(0), 1, Some("k")),
        ];
        let outcomes = decide_all(&requests, LogState::default());
        assert!(matches!(outcomes[0], Err(StoreError::Conflict { .. })));
        assert!(!outcomes[1].as_ref().unwrap().duplicate);
    }

    #[test]
    fn an_empty_append_is_refused() {
        let outcomes = decide_all(
            &[request("a", ExpectedVersion::Any, 0, None)],
            LogState::default(),
        );
        assert!(matches!(outcomes[0], Err(StoreError::EmptyAppend { .. })));
    }

    #[test]
    fn each_event_links_to_the_previous_one_of_the_log_and_of_its_stream() {
        let requests = [
            request("a", ExpectedVersion::Exact(0), 2, None),
            request("b", ExpectedVersion::Exact(0), 1, None),
        ];
        let metadata = vec![String::new(); 2];
        let plan = plan(&requests, &metadata, LogState::default(), Chaining::Hashed).unwrap();
        let links: Vec<Links> = plan.events.iter().map(|r| r.links.unwrap()).collect();
        let ids: Vec<String> = plan.events.iter().map(|r| r.event_id.to_string()).collect();
        let [first, second, third] =
            [0, 1, 2].map(|i| plan.events[i].encoded(&ids[i], plan.recorded_at));
        assert_eq!(links[0].hash, first.link(&GENESIS));
        assert_eq!(links[0].stream_hash, links[0].hash);
        assert_eq!(links[1].hash, second.link(&links[0].hash));
        assert_eq!(links[1].stream_hash, second.link(&links[0].stream_hash));
        assert_eq!(links[2].hash, third.link(&links[1].hash));
        assert_eq!(links[2].stream_hash, third.link(&GENESIS));
    }

    #[test]
    fn a_log_without_a_chain_to_continue_is_refused_rather_than_chained_from_nothing() {
        let requests = [request("a", ExpectedVersion::Any, 1, None)];
        let metadata = vec![String::new()];
        let state = LogState {
            head: 7,
            ..LogState::default()
        };
        let error = plan(&requests, &metadata, state, Chaining::Hashed).unwrap_err();
        assert!(matches!(error, StoreError::ChainIncomplete { position: 8 }));
        let unhashed = LogState {
            head: 7,
            ..LogState::default()
        };
        let plan = plan(&requests, &metadata, unhashed, Chaining::Unhashed).unwrap();
        assert!(plan.events[0].links.is_none());
    }
}
