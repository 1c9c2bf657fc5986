//! Ticket commands (`POST /api/tickets`, `/assign`, `/status`, `/priority`,
//! `/comments`, `/move`, `PATCH`, `/bulk`) and the per-ticket queries that
//! read the ticket's own events (state at a version, history).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bomizzel_domain::{Priority, Status, Ticket, TicketCommand, TicketEvent};
use bomizzel_identity::{Caller, Role};
use bomizzel_projections::tickets::Sla;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::access::{self, Action};
use crate::commands::{self, CommandContext, Executed, Idempotency};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Path, Query};
use crate::headers::etag;
use crate::json::JsonBody;
use crate::snapshot;

/// Most tickets one bulk request may change.
const BULK_MAX: usize = 1000;
/// Bulk commands in flight at once; the group-commit writer batches them.
const BULK_CONCURRENCY: usize = 64;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_ticket))
        .routes(routes!(get_ticket, update_ticket))
        .routes(routes!(history))
        .routes(routes!(assign))
        .routes(routes!(change_status))
        .routes(routes!(change_priority))
        .routes(routes!(add_comment))
        .routes(routes!(move_ticket))
        .routes(routes!(bulk))
}

/// A ticket as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    pub id: Uuid,
    /// Its short number, given when it was opened.
    pub number: u64,
    pub title: String,
    pub description: String,
    pub company_id: String,
    pub requester_id: String,
    /// Staff only, like `team_id`, `tags` and `comment_count` (the
    /// visibility policy): customers do not see routing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    pub assignee_id: Option<String>,
    #[schema(value_type = String, example = "open")]
    pub status: Status,
    #[schema(value_type = String, example = "medium")]
    pub priority: Priority,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Staff only: customers do not learn how many internal comments exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment_count: Option<u32>,
    /// The ticket's version as the caller counts it: for customers, the
    /// number of its events they are shown.
    pub version: u64,
    /// Position of the event this command appended; absent when nothing changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
    /// Staff only: first-response and resolution due times and states
    /// (`GET /api/tickets/{id}`; command answers leave it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub sla: Option<Sla>,
    /// An assignment's answer when the ticket had another assignee: whom it
    /// was taken from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_from: Option<String>,
}

impl TicketView {
    /// Every field, with the version as `caller` counts it; [`answer`]
    /// leaves out what the visibility policy keeps from them.
    fn of(ticket: &Ticket, caller: &Caller, position: Option<i64>) -> Self {
        Self {
            id: ticket.id(),
            number: ticket.number(),
            title: ticket.title().to_owned(),
            description: ticket.description().to_owned(),
            company_id: ticket.company_id().to_owned(),
            requester_id: ticket.requester_id().to_owned(),
            queue_id: Some(ticket.queue_id().to_owned()),
            team_id: Some(ticket.team_id().to_owned()),
            assignee_id: ticket.assignee_id().map(str::to_owned),
            status: ticket.status(),
            priority: ticket.priority(),
            tags: Some(ticket.tags().to_vec()),
            comment_count: Some(ticket.comment_count()),
            version: caller.viewer().version_of(ticket),
            position,
            sla: None,
            taken_from: None,
        }
    }
}

/// A command's answer: the ticket after it as `caller` may see it, with
/// its version as ETag.
fn answer(status: StatusCode, executed: &Executed, caller: &Caller) -> Response {
    shown_view(
        status,
        TicketView::of(&executed.ticket, caller, executed.position),
        caller,
    )
}

/// `view` as `caller` may see it, with its version as ETag.
fn shown_view(status: StatusCode, view: TicketView, caller: &Caller) -> Response {
    let version = view.version;
    let mut shown = serde_json::to_value(view).unwrap_or_default();
    if let Some(object) = shown.as_object_mut() {
        caller.viewer().redact(object);
    }
    let mut response = (status, Json(shown)).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

pub(crate) fn parse_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| {
        ApiError::bad_request("invalid_id", format!("{id:?} is not a ticket id (a UUID)"))
            .with_field("id")
    })
}

fn rate_limit(state: &AppState, caller: &Caller) -> ApiResult<()> {
    state.limiter.check(&caller.user_id)
}

/// Runs one command on ticket `id` for the caller, with the checks of
/// `action`; `body` is the request's, which an idempotency key is bound to.
async fn run(
    state: &AppState,
    caller: &Caller,
    context: &CommandContext,
    id: Uuid,
    action: Action,
    body: &impl Serialize,
    command: impl Fn(&Ticket) -> ApiResult<TicketCommand>,
) -> ApiResult<Executed> {
    commands::execute(
        &state.tickets,
        id,
        caller,
        context,
        Idempotency::of(&state.store, caller, context, body).await?,
        |ticket| access::require_allowed(caller, ticket, action),
        command,
    )
    .await
}

async fn run_answer(
    state: &AppState,
    caller: &Caller,
    context: &CommandContext,
    id: &str,
    action: Action,
    body: &impl Serialize,
    command: impl Fn(&Ticket) -> ApiResult<TicketCommand>,
) -> ApiResult<Response> {
    rate_limit(state, caller)?;
    let executed = run(state, caller, context, parse_id(id)?, action, body, command).await?;
    Ok(answer(StatusCode::OK, &executed, caller))
}

// ---- create -------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub queue_id: String,
    #[schema(value_type = Option<String>, example = "high")]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Required for staff; customers always open tickets for their own company.
    pub company_id: Option<String>,
    /// Who asked; defaults to the caller.
    pub requester_id: Option<String>,
}

/// Open a ticket.
#[utoipa::path(post, path = "/api/tickets", tag = "tickets", request_body = CreateTicket,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    responses((status = 201, body = TicketView), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn create_ticket(
    caller: Caller,
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<CreateTicket>,
) -> ApiResult<Response> {
    rate_limit(&state, &caller)?;
    access::require_may_set_on_create(&caller, &body.tags, body.priority)?;
    let idempotency = Idempotency::of(&state.store, &caller, &context, &body).await?;
    let company_id = match (caller.role, body.company_id) {
        (Role::Customer, _) => caller.company_id.clone().unwrap_or_default(),
        (_, Some(company)) => company,
        (_, None) => {
            return Err(
                ApiError::unprocessable("validation_failed", "company_id is required")
                    .with_field("company_id"),
            );
        }
    };
    let team_id = state
        .directory
        .team_of_queue(&body.queue_id)
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_queue",
                format!("no queue with id {:?}", body.queue_id),
            )
            .with_field("queue_id")
        })?;
    access::require_may_create(&caller, &team_id, &company_id)?;
    let requester_id = match (caller.role, body.requester_id) {
        (Role::Customer, _) | (_, None) => caller.user_id.clone(),
        (_, Some(requester)) => requester,
    };
    // A retried create reuses the ticket (id and number) of its first answer.
    let (id, number) = match idempotency.first_stream() {
        Some(stream) => (parse_id(stream)?, 0),
        None => new_ticket(&state).await?,
    };
    let command = TicketCommand::Create {
        id,
        number,
        title: body.title,
        description: body.description,
        company_id,
        requester_id,
        queue_id: body.queue_id,
        team_id,
        priority: body.priority.unwrap_or_default(),
        tags: body.tags,
    };
    // A fresh create has no ticket yet; a retried one answers only while
    // the caller still sees the ticket it created.
    let executed = commands::execute(
        &state.tickets,
        id,
        &caller,
        &context,
        idempotency,
        |ticket| {
            if ticket.exists() {
                access::require_visible(&caller, ticket)
            } else {
                Ok(())
            }
        },
        |_| Ok(command.clone()),
    )
    .await?;
    let mut response = answer(StatusCode::CREATED, &executed, &caller);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/tickets/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The id and number of a ticket about to be opened. Its stream is known
/// to be empty (the id is new), so the create is decided without reading
/// it; the append at version 0 confirms that.
async fn new_ticket(state: &AppState) -> ApiResult<(Uuid, u64)> {
    let id = Uuid::now_v7();
    let number = state.store.next_ticket_number().await?;
    state.tickets.remember(id, Ticket::default());
    Ok((id, number))
}

// ---- per-ticket commands ------------------------------------------------------

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// The new assignee, or null to unassign.
    pub assignee_id: Option<String>,
}

/// Assign a ticket to a member of its team (a colleague or oneself), or
/// unassign it with `assignee_id: null`. When the ticket had another
/// assignee the answer's `taken_from` names them.
#[utoipa::path(post, path = "/api/tickets/{id}/assign", tag = "tickets", request_body = Assign,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = TicketView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn assign(
    caller: Caller,
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Assign>,
) -> ApiResult<Response> {
    rate_limit(&state, &caller)?;
    let assignment = Assignment::of(&state, body.assignee_id.clone()).await?;
    let taken_from = std::sync::Mutex::new(None);
    let executed = run(
        &state,
        &caller,
        &context,
        parse_id(&id)?,
        Action::Manage,
        &body,
        |ticket| {
            let command = assignment.command(ticket)?;
            let previous = ticket
                .assignee_id()
                .filter(|previous| Some(*previous) != body.assignee_id.as_deref());
            *taken_from.lock().unwrap_or_else(|e| e.into_inner()) = previous.map(str::to_owned);
            Ok(command)
        },
    )
    .await?;
    let mut view = TicketView::of(&executed.ticket, &caller, executed.position);
    if executed.position.is_some() {
        view.taken_from = taken_from.into_inner().unwrap_or_else(|e| e.into_inner());
    }
    Ok(shown_view(StatusCode::OK, view, &caller))
}

/// An assignment (or unassignment) and the teams of the assignee, who must
/// be a member of the ticket's team: anyone else could not even see it.
struct Assignment {
    assignee_id: Option<String>,
    team_ids: Vec<String>,
}

impl Assignment {
    async fn of(state: &AppState, assignee_id: Option<String>) -> ApiResult<Self> {
        let team_ids = match &assignee_id {
            Some(assignee) => state.directory.caller_facts(assignee).await?.team_ids,
            None => Vec::new(),
        };
        Ok(Self {
            assignee_id,
            team_ids,
        })
    }

    /// The command for `ticket`; 422 `assignee_not_in_team` unless the
    /// assignee is a member of its team.
    fn command(&self, ticket: &Ticket) -> ApiResult<TicketCommand> {
        let Some(assignee_id) = &self.assignee_id else {
            return Ok(TicketCommand::Unassign);
        };
        if !self.team_ids.iter().any(|team| team == ticket.team_id()) {
            return Err(ApiError::unprocessable(
                "assignee_not_in_team",
                format!("{assignee_id} is not a member of the ticket's team"),
            )
            .with_field("assignee_id"));
        }
        Ok(TicketCommand::Assign {
            assignee_id: assignee_id.clone(),
        })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStatus {
    #[schema(value_type = String, example = "in_progress")]
    pub status: Status,
}

/// Change a ticket's status (see the status machine in the docs).
#[utoipa::path(post, path = "/api/tickets/{id}/status", tag = "tickets", request_body = ChangeStatus,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = TicketView), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn change_status(
    caller: Caller,
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ChangeStatus>,
) -> ApiResult<Response> {
    let status = body.status;
    run_answer(
        &state,
        &caller,
        &context,
        &id,
        Action::SetStatus(status),
        &body,
        |_| Ok(TicketCommand::ChangeStatus { status }),
    )
    .await
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePriority {
    #[schema(value_type = String, example = "urgent")]
    pub priority: Priority,
}

/// Change a ticket's priority.
#[utoipa::path(post, path = "/api/tickets/{id}/priority", tag = "tickets", request_body = ChangePriority,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = TicketView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn change_priority(
    caller: Caller,
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ChangePriority>,
) -> ApiResult<Response> {
    let priority = body.priority;
    run_answer(
        &state,
        &caller,
        &context,
        &id,
        Action::Manage,
        &body,
        |_| Ok(TicketCommand::ChangePriority { priority }),
    )
    .await
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddComment {
    pub body: String,
    /// Internal comments are seen by staff only.
    #[serde(default)]
    pub internal: bool,
}

/// Comment on a ticket, publicly or internally.
#[utoipa::path(post, path = "/api/tickets/{id}/comments", tag = "tickets", request_body = AddComment,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = TicketView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn add_comment(
    caller: Caller,
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AddComment>,
) -> ApiResult<Response> {
    let comment_id = Uuid::now_v7();
    let author_id = caller.user_id.clone();
    run_answer(
        &state,
        &caller,
        &context,
        &id,
        Action::Comment {
            internal: body.internal,
        },
        &body,
        |_| {
            Ok(TicketCommand::AddComment {
                comment_id,
                author_id: author_id.clone(),
                body: body.body.clone(),
                internal: body.internal,
            })
        },
    )
    .await
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveTicket {
    pub queue_id: String,
}

/// Move a ticket to another queue (and that queue's team).
#[utoipa::path(post, path = "/api/tickets/{id}/move", tag = "tickets", request_body = MoveTicket,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = TicketView), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn move_ticket(
    caller: Caller,
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MoveTicket>,
) -> ApiResult<Response> {
    let command = move_command(&state, &body.queue_id).await?;
    run_answer(
        &state,
        &caller,
        &context,
        &id,
        Action::Manage,
        &body,
        |_| Ok(command.clone()),
    )
    .await
}

async fn move_command(state: &AppState, queue_id: &str) -> ApiResult<TicketCommand> {
    let team_id = state
        .directory
        .team_of_queue(queue_id)
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable("unknown_queue", format!("no queue with id {queue_id:?}"))
                .with_field("queue_id")
        })?;
    Ok(TicketCommand::Move {
        queue_id: queue_id.to_owned(),
        team_id,
    })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicket {
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// Edit a ticket's title, description or tags.
#[utoipa::path(patch, path = "/api/tickets/{id}", tag = "tickets", request_body = UpdateTicket,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = TicketView), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn update_ticket(
    caller: Caller,
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateTicket>,
) -> ApiResult<Response> {
    run_answer(
        &state,
        &caller,
        &context,
        &id,
        Action::Manage,
        &body,
        |_| {
            Ok(TicketCommand::Update {
                title: body.title.clone(),
                description: body.description.clone(),
                tags: body.tags.clone(),
            })
        },
    )
    .await
}

// ---- bulk ---------------------------------------------------------------------

/// One action applied to every ticket of a bulk request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BulkAction {
    Assign {
        assignee_id: Option<String>,
    },
    Status {
        #[schema(value_type = String)]
        status: Status,
    },
    Priority {
        #[schema(value_type = String)]
        priority: Priority,
    },
    Move {
        queue_id: String,
    },
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub ticket_ids: Vec<String>,
    pub action: BulkAction,
}

/// The outcome for one ticket of a bulk request.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    pub ticket_id: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
    /// On failure: the HTTP status this ticket alone would have had.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResponse {
    pub succeeded: usize,
    pub failed: usize,
    pub results: Vec<BulkResult>,
}

/// Apply one action to up to 1,000 tickets; each is appended on its own and
/// reported on its own.
#[utoipa::path(post, path = "/api/tickets/bulk", tag = "tickets", request_body = BulkRequest,
    responses((status = 200, body = BulkResponse), (status = 400, body = Problem)),
    security(("bearer" = [])))]
async fn bulk(
    caller: Caller,
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<BulkRequest>,
) -> ApiResult<Json<BulkResponse>> {
    if body.ticket_ids.is_empty() || body.ticket_ids.len() > BULK_MAX {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!(
                "ticket_ids must hold 1-{BULK_MAX} ids (got {})",
                body.ticket_ids.len()
            ),
        )
        .with_field("ticket_ids"));
    }
    rate_limit(&state, &caller)?;
    let (action, command) = match &body.action {
        BulkAction::Assign { assignee_id } => (
            Action::Manage,
            BulkCommand::Assign(Assignment::of(&state, assignee_id.clone()).await?),
        ),
        BulkAction::Status { status } => (
            Action::SetStatus(*status),
            BulkCommand::Same(TicketCommand::ChangeStatus { status: *status }),
        ),
        BulkAction::Priority { priority } => (
            Action::Manage,
            BulkCommand::Same(TicketCommand::ChangePriority {
                priority: *priority,
            }),
        ),
        BulkAction::Move { queue_id } => (
            Action::Manage,
            BulkCommand::Same(move_command(&state, queue_id).await?),
        ),
    };
    // Each ticket is its own command; an idempotency key would collide
    // across them, so there is none and no body to bind it to.
    let context = CommandContext {
        idempotency_key: None,
        if_match: None,
        ..context
    };
    let results: Vec<BulkResult> = futures::stream::iter(body.ticket_ids)
        .map(|ticket_id| {
            let (state, caller, context, command) = (&state, &caller, &context, &command);
            async move {
                let outcome = match parse_id(&ticket_id) {
                    Ok(id) => {
                        run(state, caller, context, id, action, &(), |ticket| {
                            command.for_ticket(ticket)
                        })
                        .await
                    }
                    Err(error) => Err(error),
                };
                bulk_result(caller, ticket_id, outcome)
            }
        })
        .buffered(BULK_CONCURRENCY)
        .collect()
        .await;
    let succeeded = results.iter().filter(|r| r.ok).count();
    Ok(Json(BulkResponse {
        failed: results.len() - succeeded,
        succeeded,
        results,
    }))
}

/// What a bulk request does to each ticket.
enum BulkCommand {
    /// An assignment, checked against each ticket's team.
    Assign(Assignment),
    /// The same command for every ticket.
    Same(TicketCommand),
}

impl BulkCommand {
    fn for_ticket(&self, ticket: &Ticket) -> ApiResult<TicketCommand> {
        match self {
            Self::Assign(assignment) => assignment.command(ticket),
            Self::Same(command) => Ok(command.clone()),
        }
    }
}

fn bulk_result(caller: &Caller, ticket_id: String, outcome: ApiResult<Executed>) -> BulkResult {
    match outcome {
        Ok(executed) => BulkResult {
            ticket_id,
            ok: true,
            version: Some(caller.viewer().version_of(&executed.ticket)),
            position: executed.position,
            status: None,
            code: None,
            detail: None,
        },
        Err(error) => BulkResult {
            ticket_id,
            ok: false,
            version: None,
            position: None,
            status: Some(error.status.as_u16()),
            code: Some(error.code.to_owned()),
            detail: Some(error.detail),
        },
    }
}

// ---- per-ticket queries -------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// The ticket as it was at this version.
    pub version: Option<u64>,
}

/// The ticket `reference` names: its id (a UUID) or its number. A number
/// is looked up in the tickets read model, which has it a moment after the
/// ticket is opened; an unknown number is 404 like an unknown id.
pub(crate) async fn resolve_reference(state: &AppState, reference: &str) -> ApiResult<Uuid> {
    let Some(number) = reference
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0 && reference.bytes().all(|b| b.is_ascii_digit()))
    else {
        return Uuid::parse_str(reference).map_err(|_| {
            ApiError::bad_request(
                "invalid_id",
                format!("{reference:?} is neither a ticket id (a UUID) nor a ticket number"),
            )
            .with_field("id")
        });
    };
    bomizzel_projections::tickets::query::id_of_number(state.store.database(), number)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("no such ticket"))
}

/// A ticket, now or as it was at `?version=N`. `{id}` is the ticket's id
/// or its number.
#[utoipa::path(get, path = "/api/tickets/{id}", tag = "tickets",
    params(("id" = String, Path, description = "the ticket's id (UUID) or number"), VersionQuery),
    responses((status = 200, body = TicketView, headers(("ETag" = String))), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn get_ticket(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<VersionQuery>,
) -> ApiResult<Response> {
    let id = resolve_reference(&state, &id).await?;
    let (current, position) = commands::load_latest(&state.store, id).await?;
    access::require_visible(&caller, &current)?;
    let viewer = caller.viewer();
    let latest = viewer.version_of(&current);
    let ticket = match query.version {
        None => {
            let feed = snapshot::feed_headers(&state, position).await?;
            let mut view = TicketView::of(&current, &caller, None);
            view.sla = current_sla(&state, id).await?;
            return Ok((feed, shown_view(StatusCode::OK, view, &caller)).into_response());
        }
        Some(version) if version == 0 || version > latest => {
            return Err(ApiError::not_found(format!(
                "ticket {id} has versions 1 to {latest}, not {version}"
            )));
        }
        Some(version) => {
            commands::load_until(&state.store, id, |t| viewer.version_of(t) == version).await?
        }
    };
    let executed = Executed {
        ticket,
        position: None,
    };
    Ok(answer(StatusCode::OK, &executed, &caller))
}

/// Ticket `id`'s SLA now, from the tickets read model (which has every
/// ticket a moment after it is opened; until then there is none to give).
async fn current_sla(state: &AppState, id: Uuid) -> ApiResult<Option<Sla>> {
    let row = bomizzel_projections::tickets::query::get(state.store.database(), id).await?;
    let now = OffsetDateTime::now_utc();
    Ok(row.map(|row| state.due_times.assess(&row, now)))
}

/// One event of a ticket's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub position: i64,
    pub version: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub actor: String,
    pub role: String,
    /// The request id of the command that caused the event.
    pub correlation_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: OffsetDateTime,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Every event of a ticket with actor, time and position (auditors).
/// Customers see neither internal comments nor routing and tags, and their
/// entries are numbered by the events they are shown (their versions).
#[utoipa::path(get, path = "/api/tickets/{id}/history", tag = "tickets",
    params(("id" = String, Path)),
    responses((status = 200, body = [HistoryEntry]), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn history(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<HistoryEntry>>> {
    Ok(Json(
        history_entries(&state, &caller, parse_id(&id)?).await?,
    ))
}

/// The history of ticket `id` as `caller` may see it; 404 unless visible.
pub(crate) async fn history_entries(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<Vec<HistoryEntry>> {
    let current = commands::load(&state.store, id, None).await?;
    access::require_visible(caller, &current)?;
    let viewer = caller.viewer();
    let events = state.store.read_stream(&id.to_string(), 1).await?;
    let mut entries = Vec::with_capacity(events.len());
    for recorded in events {
        let event = TicketEvent::decode(
            &recorded.event_type,
            recorded.schema_version,
            recorded.payload.clone(),
            recorded.position,
        )
        .map_err(ApiError::internal)?;
        if !viewer.sees_event(&event) {
            continue;
        }
        let mut data = event.to_payload();
        if let Some(object) = data.as_object_mut() {
            viewer.redact(object);
        }
        let shown = u64::try_from(entries.len()).unwrap_or(u64::MAX) + 1;
        entries.push(HistoryEntry {
            position: recorded.position,
            version: viewer.counted_version(recorded.version, shown),
            event_type: recorded.event_type,
            actor: recorded.metadata.actor,
            role: recorded.metadata.role,
            correlation_id: recorded.metadata.correlation_id,
            occurred_at: recorded.metadata.occurred_at,
            recorded_at: recorded.recorded_at,
            data,
        });
    }
    Ok(entries)
}
