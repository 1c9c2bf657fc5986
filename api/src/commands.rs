//! Running a ticket command: take the ticket (as this node last folded
//! it, or from its events), let the aggregate decide, append at the
//! version it decided on. A version conflict is retried a few times unless
//! the client pinned a version with `If-Match` (then it is 409).
//!
//! An `Idempotency-Key` is bound to the request it first came with: its
//! `Fingerprint` (method, route template and a digest of the canonical
//! body) is stored in the events' metadata, in the same transaction as the
//! key. A retry of that request answers with the first result and appends
//! nothing, but only after the caller passed the same permission check as
//! a fresh request against the ticket as it is now; the key reused on
//! another route, ticket or body is 422 `idempotency_key_reused`.

use bomizzel_domain::{Ticket, TicketCommand, TicketEvent};
use bomizzel_identity::{Caller, Tickets};
use bomizzel_store::{
    AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, RecordedAnswer, StoreError,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Loading a ticket is the identity layer's (the gateway's room checks
/// load tickets too); re-exported for the handlers that load one here.
pub use bomizzel_identity::ticket::{load, load_latest, load_until};

/// Attempts before a contended command gives up with 409.
const CONFLICT_ATTEMPTS: usize = 5;

/// Request-level facts a command carries into its events' metadata.
#[derive(Debug, Clone, Default)]
pub struct CommandContext {
    pub correlation_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// The version the client expects the ticket to be at.
    pub if_match: Option<u64>,
    /// `METHOD /route/{template}` of the request.
    pub route: String,
    /// When the command happened, if not now: set only by an in-process
    /// caller through the [`OccurredAt`] request extension.
    pub occurred_at: Option<time::OffsetDateTime>,
}

/// A request extension that dates a command in the past. No HTTP client
/// can set an extension; the demo inserts it in the requests it sends to
/// the router in-process, so its sample tickets have a history (ages, SLA
/// states, hourly figures) from the first minute.
#[derive(Debug, Clone, Copy)]
pub struct OccurredAt(pub time::OffsetDateTime);

/// What an idempotency key is bound to: the request's method and route
/// template, and a SHA-256 of its body as parsed and serialised again (so
/// whitespace, key order and spelled-out defaults do not matter). The
/// ticket id is the key's stream and is compared on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    route: String,
    body_sha256: String,
}

const BODY_DIGEST: &str = " body-sha256=";

impl Fingerprint {
    fn of(context: &CommandContext, body: &impl Serialize) -> ApiResult<Self> {
        let canonical = serde_json::to_vec(body).map_err(ApiError::internal)?;
        let body_sha256 = Sha256::digest(&canonical)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Ok(Self {
            route: context.route.clone(),
            body_sha256,
        })
    }

    /// The form stored in the metadata.
    fn encode(&self) -> String {
        format!("{}{BODY_DIGEST}{}", self.route, self.body_sha256)
    }

    fn decode(stored: &str) -> Option<Self> {
        let (route, body_sha256) = stored.rsplit_once(BODY_DIGEST)?;
        Some(Self {
            route: route.to_owned(),
            body_sha256: body_sha256.to_owned(),
        })
    }

    /// 422 unless `first` was recorded for this route and body. Keys stored
    /// before fingerprints existed carry none and are taken as retries.
    fn require_same(&self, first: &RecordedAnswer) -> ApiResult<()> {
        let Some(recorded) = first.metadata.request_fingerprint.as_deref() else {
            return Ok(());
        };
        let recorded = Self::decode(recorded).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "malformed request fingerprint {recorded:?}"
            ))
        })?;
        if recorded.route != self.route {
            return Err(key_reused(format!(
                "this Idempotency-Key was first used for {}, not {}",
                recorded.route, self.route
            )));
        }
        if recorded.body_sha256 != self.body_sha256 {
            return Err(key_reused(
                "this Idempotency-Key was first used with another request body".into(),
            ));
        }
        Ok(())
    }
}

fn key_reused(detail: String) -> ApiError {
    ApiError::unprocessable("idempotency_key_reused", detail)
}

/// A request's idempotency: the caller's namespaced key (when it sent
/// one), the request it binds the key to, and the first answer recorded for
/// the key, looked up once per request.
#[derive(Debug)]
pub struct Idempotency {
    key: Option<String>,
    fingerprint: Fingerprint,
    first: Option<RecordedAnswer>,
}

impl Idempotency {
    /// Looks up the caller's key, if any; 422 when it was first used for
    /// another route or body.
    pub async fn of(
        store: &EventStore,
        caller: &Caller,
        context: &CommandContext,
        body: &impl Serialize,
    ) -> ApiResult<Self> {
        let fingerprint = Fingerprint::of(context, body)?;
        let key = context
            .idempotency_key
            .as_ref()
            .map(|key| format!("{}:{key}", caller.user_id));
        let first = match &key {
            Some(key) => first_answer(store, key, &fingerprint).await?,
            None => None,
        };
        Ok(Self {
            key,
            fingerprint,
            first,
        })
    }

    /// The ticket this request was first answered for, when it is a retry.
    pub fn first_stream(&self) -> Option<&str> {
        self.first.as_ref().map(|first| first.stream_id.as_str())
    }
}

/// The first answer recorded for `key`, if any, after checking that it was
/// recorded for the request `fingerprint` describes.
async fn first_answer(
    store: &EventStore,
    key: &str,
    fingerprint: &Fingerprint,
) -> ApiResult<Option<RecordedAnswer>> {
    let Some(first) = store.recorded_answer(key).await? else {
        return Ok(None);
    };
    fingerprint.require_same(&first)?;
    Ok(Some(first))
}

/// The outcome of a command.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The ticket after the command.
    pub ticket: Ticket,
    /// Position of the appended event; `None` when nothing changed.
    pub position: Option<i64>,
}

/// Runs the command `decide` builds for ticket `id`, after `authorize`
/// accepted the caller for the ticket as it is; a retry of a keyed request
/// gets its first answer instead.
///
/// The first attempt decides on the ticket as this node last folded it,
/// when it has it ([`Tickets`]); only an append at its version confirms
/// that decision, and every other outcome is decided again on the ticket
/// read from its stream.
pub async fn execute(
    tickets: &Tickets,
    id: Uuid,
    caller: &Caller,
    context: &CommandContext,
    idempotency: Idempotency,
    authorize: impl Fn(&Ticket) -> ApiResult<()>,
    command: impl Fn(&Ticket) -> ApiResult<TicketCommand>,
) -> ApiResult<Executed> {
    let store = tickets.store();
    let Idempotency {
        key,
        fingerprint,
        first,
    } = idempotency;
    if let Some(first) = first {
        return replay(store, first, id, &authorize).await;
    }
    let binding = key.clone().map(|key| (key, fingerprint.encode()));
    let decide = Decide {
        id,
        caller,
        context,
        binding: &binding,
        authorize: &authorize,
        command: &command,
    };
    let mut cached = tickets.cached(id);
    let mut reads = 0;
    loop {
        let from_cache = cached.is_some();
        let ticket = match cached.take() {
            Some(ticket) => ticket,
            None if reads == CONFLICT_ATTEMPTS => return Err(too_fast(id)),
            None => {
                reads += 1;
                tickets.load(id).await?
            }
        };
        match decide.attempt(store, ticket).await? {
            Attempt::Appended(executed) => {
                tickets.remember(id, executed.ticket.clone());
                return Ok(executed);
            }
            Attempt::Duplicate => {
                // Another request with this key committed first.
                let first = first_answer(store, key.as_deref().unwrap_or_default(), &fingerprint)
                    .await?
                    .ok_or_else(|| {
                        ApiError::internal(anyhow::anyhow!("idempotency answer vanished"))
                    })?;
                return replay(store, first, id, &authorize).await;
            }
            // Not confirmed by an append: decide again on the stream's ticket.
            _ if from_cache => {}
            Attempt::Unchanged(executed) => return Ok(executed),
            Attempt::Refused(error) => return Err(error),
            Attempt::Conflict { seen } if context.if_match.is_some() => {
                return Err(stale(id, seen, None));
            }
            Attempt::Conflict { .. } => {}
        }
    }
}

/// What one attempt at a command came to.
enum Attempt {
    /// Appended at the version the ticket was decided at.
    Appended(Executed),
    /// The command changes nothing.
    Unchanged(Executed),
    /// Refused for the ticket it was decided on.
    Refused(ApiError),
    /// The stream moved past version `seen` (as the caller counts it).
    Conflict { seen: u64 },
    /// The idempotency key was recorded by another request meanwhile.
    Duplicate,
}

/// One command's rules, for each ticket it is decided on.
struct Decide<'a, A, C> {
    id: Uuid,
    caller: &'a Caller,
    context: &'a CommandContext,
    binding: &'a Option<(String, String)>,
    authorize: &'a A,
    command: &'a C,
}

impl<A, C> Decide<'_, A, C>
where
    A: Fn(&Ticket) -> ApiResult<()>,
    C: Fn(&Ticket) -> ApiResult<TicketCommand>,
{
    /// Decides the command on `ticket` and appends at its version; `Err`
    /// only for a failure of the store, not of the decision.
    async fn attempt(&self, store: &EventStore, ticket: Ticket) -> ApiResult<Attempt> {
        // `If-Match` holds the version as the caller counts it.
        let seen = self.caller.viewer().version_of(&ticket);
        let event = match self.decision(&ticket, seen) {
            Ok(Some(event)) => event,
            Ok(None) => {
                return Ok(Attempt::Unchanged(Executed {
                    ticket,
                    position: None,
                }));
            }
            Err(refused) => return Ok(Attempt::Refused(refused)),
        };
        let binding = self.binding.clone();
        match append(store, &ticket, &event, self.caller, self.context, binding).await {
            Ok(appended) if appended.duplicate => Ok(Attempt::Duplicate),
            Ok(appended) => {
                let mut ticket = ticket;
                cqrs_apply(&mut ticket, event);
                Ok(Attempt::Appended(Executed {
                    ticket,
                    position: Some(appended.last_position),
                }))
            }
            Err(StoreError::Conflict { .. }) => Ok(Attempt::Conflict { seen }),
            Err(other) => Err(other.into()),
        }
    }

    /// The event the command decides on `ticket`, seen by the caller at
    /// version `seen`.
    fn decision(&self, ticket: &Ticket, seen: u64) -> ApiResult<Option<TicketEvent>> {
        (self.authorize)(ticket)?;
        if let Some(expected) = self.context.if_match
            && expected != seen
        {
            return Err(stale(self.id, expected, Some(seen)));
        }
        Ok(ticket.decide((self.command)(ticket)?)?)
    }
}

fn too_fast(id: Uuid) -> ApiError {
    ApiError::conflict(
        "version_conflict",
        format!("ticket {id} is changing too fast; try again"),
    )
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
    idempotency: Option<(String, String)>,
) -> Result<bomizzel_store::Appended, StoreError> {
    let mut metadata = Metadata::new(caller.user_id.clone(), caller.role.as_str());
    metadata.correlation_id = context.correlation_id.clone();
    if let Some(occurred_at) = context.occurred_at {
        metadata.occurred_at = occurred_at;
    }
    if let Some((key, fingerprint)) = idempotency {
        metadata.idempotency_key = Some(key);
        metadata.request_fingerprint = Some(fingerprint);
    }
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

/// The first answer of a key, for ticket `id`, rebuilt from the ticket as
/// of that answer: only for a caller `authorize` accepts for the ticket as
/// it is now, as a fresh request would be.
async fn replay(
    store: &EventStore,
    first: RecordedAnswer,
    id: Uuid,
    authorize: impl Fn(&Ticket) -> ApiResult<()>,
) -> ApiResult<Executed> {
    if first.stream_id != id.to_string() {
        return Err(key_reused(format!(
            "this Idempotency-Key was first used for ticket {}",
            first.stream_id
        )));
    }
    authorize(&load(store, id, None).await?)?;
    Ok(Executed {
        ticket: load(store, id, Some(first.appended.version)).await?,
        position: Some(first.appended.last_position),
    })
}
