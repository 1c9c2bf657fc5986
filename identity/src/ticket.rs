//! A ticket as its own stream tells it, folded from its events. Both front
//! doors check callers against the ticket as it is now (a command's
//! permission, who may join a ticket's room), so both read it here rather
//! than from a read model that may lag.
//!
//! [`Tickets`] keeps the tickets this node's commands folded last, so a
//! command on a ticket it knows is decided without reading the stream.
//! A cached ticket may be behind the stream (another node, or another path,
//! appended since); it is only ever trusted through the append that
//! follows: the append names the version the ticket was decided at and
//! fails with a conflict unless the stream is still at it, and a stream at
//! that version holds exactly the events the cached ticket was folded from.
//! Whatever a command would answer without such an append (nothing to
//! change, refused, a stale `If-Match`) is decided again on the ticket read
//! from its stream.

use std::sync::{Arc, Mutex};

use bomizzel_domain::{Ticket, TicketEvent};
use bomizzel_store::EventStore;
use cqrs_es::Aggregate;
use hashlink::LruCache;
use uuid::Uuid;

use crate::error::IdentityResult;

/// How many folded tickets a node keeps: a few hundred bytes each, at
/// most ~80 KB with the longest description (~160 MB for all of them).
const CACHED_TICKETS: usize = 2_048;

/// The event store and the tickets this node's commands folded last.
#[derive(Debug, Clone)]
pub struct Tickets {
    store: EventStore,
    folded: Arc<Mutex<LruCache<Uuid, Ticket>>>,
}

impl Tickets {
    pub fn new(store: EventStore) -> Self {
        Self {
            store,
            folded: Arc::new(Mutex::new(LruCache::new(CACHED_TICKETS))),
        }
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Ticket `id` as this node last folded it, if it has: possibly behind
    /// the stream, so only for a decision an append at its version confirms.
    pub fn cached(&self, id: Uuid) -> Option<Ticket> {
        self.folded().get(&id).cloned()
    }

    /// Keeps `ticket`, as it is at its version, for the next command on it.
    pub fn remember(&self, id: Uuid, ticket: Ticket) {
        self.folded().insert(id, ticket);
    }

    /// Ticket `id` read from its stream, which is kept for the next command.
    pub async fn load(&self, id: Uuid) -> IdentityResult<Ticket> {
        let ticket = load(&self.store, id, None).await?;
        self.remember(id, ticket.clone());
        Ok(ticket)
    }

    fn folded(&self) -> std::sync::MutexGuard<'_, LruCache<Uuid, Ticket>> {
        self.folded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Loads ticket `id` as of its latest event (or `version`). A ticket
/// without events is `Ticket::default()`: ask `exists()`.
pub async fn load(store: &EventStore, id: Uuid, version: Option<u64>) -> IdentityResult<Ticket> {
    load_until(store, id, |ticket| Some(ticket.version()) == version).await
}

/// Loads ticket `id` as of the first event after which `reached` holds,
/// or as of its latest event.
pub async fn load_until(
    store: &EventStore,
    id: Uuid,
    reached: impl Fn(&Ticket) -> bool,
) -> IdentityResult<Ticket> {
    Ok(fold_stream(store, id, reached).await?.0)
}

/// Ticket `id` as of its latest event, and that event's position (0 for a
/// ticket that does not exist): what an answer read from the stream is
/// consistent with.
pub async fn load_latest(store: &EventStore, id: Uuid) -> IdentityResult<(Ticket, i64)> {
    fold_stream(store, id, |_| false).await
}

async fn fold_stream(
    store: &EventStore,
    id: Uuid,
    reached: impl Fn(&Ticket) -> bool,
) -> IdentityResult<(Ticket, i64)> {
    let mut ticket = Ticket::default();
    let mut position = 0;
    for recorded in store.read_stream(&id.to_string(), 1).await? {
        let event = TicketEvent::decode(
            &recorded.event_type,
            recorded.schema_version,
            recorded.payload,
            recorded.position,
        )?;
        ticket.apply(event);
        position = recorded.position;
        if reached(&ticket) {
            break;
        }
    }
    Ok((ticket, position))
}
