//! Running a ticket command: load the ticket's events, let the aggregate
//! decide, append at the version it decided on. A version conflict is
//! retried a few times unless the client pinned a version with `If-Match`
//! (then it is 409). An `Idempotency-Key` seen before answers with the first
//! result and appends nothing.

use bomizzel_domain::{Ticket, TicketCommand, TicketEvent};
use bomizzel_store::{AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StoreError};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// Attempts before a contended command gives up with 409.
const CONFLICT_ATTEMPTS: usize = 5;

/// Request-level facts a command carries into its events' metadata.
#[derive(Debug, Clone, Default)]
pub struct CommandContext {
    pub correlation_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// The version the client expects the ticket to be at.
    pub if_match: Option<u64>,
}

/// The outcome of a command.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The ticket after the command.
    pub ticket: Ticket,
    /// Position of the appended event; `None` when nothing changed.
    pub position: Option<i64>,
}

/// Loads ticket `id` as of its latest event (or `version`), with its
/// events' decode errors reported as internal.
pub async fn load(store: &EventStore, id: Uuid, version: Option<u64>) -> ApiResult<Ticket> {
    load_until(store, id, |ticket| Some(ticket.version()) == version).await
}

/// Loads ticket `id` as of the first event after which `reached` holds,
/// or as of its latest event.
pub async fn load_until(
    store: &EventStore,
    id: Uuid,
    reached: impl Fn(&Ticket) -> bool,
) -> ApiResult<Ticket> {
    let mut ticket = Ticket::default();
    for recorded in store.read_stream(&id.to_string(), 1).await? {
        let event = TicketEvent::decode(
            &recorded.event_type,
            recorded.schema_version,
            recorded.payload,
        )
        .map_err(ApiError::internal)?;
        cqrs_apply(&mut ticket, event);
        if reached(&ticket) {
            break;
        }
    }
    Ok(ticket)
}

/// Runs the command `decide` builds for ticket `id`, after `authorize`
/// accepted the caller for the ticket as it is.
pub async fn execute(
    store: &EventStore,
    id: Uuid,
    caller: &Caller,
    context: &CommandContext,
    authorize: impl Fn(&Ticket) -> ApiResult<()>,
    command: impl Fn(&Ticket) -> ApiResult<TicketCommand>,
) -> ApiResult<Executed> {
    let key = context
        .idempotency_key
        .as_ref()
        .map(|key| format!("{}:{key}", caller.user_id));
    if let Some(key) = &key
        && let Some(first) = replay(store, key, id).await?
    {
        return Ok(first);
    }
    for _ in 0..CONFLICT_ATTEMPTS {
        let ticket = load(store, id, None).await?;
        authorize(&ticket)?;
        // `If-Match` holds the version as the caller counts it.
        let seen = caller.viewer().version_of(&ticket);
        if let Some(expected) = context.if_match
            && expected != seen
        {
            return Err(stale(id, expected, Some(seen)));
        }
        let Some(event) = ticket.decide(command(&ticket)?)? else {
            return Ok(Executed {
                ticket,
                position: None,
            });
        };
        match append(store, &ticket, &event, caller, context, key.clone()).await {
            Ok(appended) if appended.duplicate => {
                return replay(store, key.as_deref().unwrap_or_default(), id)
                    .await?
                    .ok_or_else(|| {
                        ApiError::internal(anyhow::anyhow!("idempotency answer vanished"))
                    });
            }
            Ok(appended) => {
                let mut ticket = ticket;
                cqrs_apply(&mut ticket, event);
                return Ok(Executed {
                    ticket,
                    position: Some(appended.last_position),
                });
            }
            Err(StoreError::Conflict { .. }) if context.if_match.is_some() => {
                return Err(stale(id, seen, None));
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::conflict(
        "version_conflict",
        format!("ticket {id} is changing too fast; try again"),
    ))
}

fn cqrs_apply(ticket: &mut Ticket, event: TicketEvent) {
    use cqrs_es::Aggregate;
    ticket.apply(event);
}

/// `If-Match: expected` no longer holds; `actual` is the version the
/// caller would see now, when known.
fn stale(id: Uuid, expected: u64, actual: Option<u64>) -> ApiError {
    let detail = match actual {
        Some(actual) => format!("ticket {id} is at version {actual}, not {expected} (If-Match)"),
        None => format!("ticket {id} changed after version {expected} (If-Match)"),
    };
    ApiError::conflict("version_conflict", detail)
}

async fn append(
    store: &EventStore,
    ticket: &Ticket,
    event: &TicketEvent,
    caller: &Caller,
    context: &CommandContext,
    idempotency_key: Option<String>,
) -> Result<bomizzel_store::Appended, StoreError> {
    let mut metadata = Metadata::new(caller.user_id.clone(), caller.role.as_str());
    metadata.correlation_id = context.correlation_id.clone();
    metadata.idempotency_key = idempotency_key;
    store
        .append(AppendRequest {
            stream_id: event.ticket_id().to_string(),
            expected_version: ExpectedVersion::Exact(ticket.version()),
            events: vec![NewEvent {
                event_type: event.event_type_name().to_owned(),
                schema_version: event.schema_version(),
                payload: event.to_payload(),
            }],
            metadata,
        })
        .await
}

/// The first answer for `key`, rebuilt from the ticket as of that answer.
async fn replay(store: &EventStore, key: &str, id: Uuid) -> ApiResult<Option<Executed>> {
    let Some((stream_id, first)) = store.recorded_answer(key).await? else {
        return Ok(None);
    };
    if stream_id != id.to_string() {
        return Err(ApiError::unprocessable(
            "idempotency_key_reused",
            format!("this Idempotency-Key was first used for ticket {stream_id}"),
        ));
    }
    Ok(Some(Executed {
        ticket: load(store, id, Some(first.version)).await?,
        position: Some(first.last_position),
    }))
}
