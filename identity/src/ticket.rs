//! A ticket as its own stream tells it, folded from its events. Both front
//! doors check callers against the ticket as it is now (a command's
//! permission, who may join a ticket's room), so both read it here rather
//! than from a read model that may lag.

use bomizzel_domain::{Ticket, TicketEvent};
use bomizzel_store::EventStore;
use cqrs_es::Aggregate;
use uuid::Uuid;

use crate::error::IdentityResult;

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
