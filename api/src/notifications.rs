//! Reading a ticket's notifications together: `POST
//! /api/notifications/tickets/{id}/read` marks the caller's unread
//! notifications about one ticket read, as a client does when its user
//! opens the ticket or clears its group in the inbox (one change of a
//! ticket seldom comes alone). The rest of the inbox routes are with the
//! other read-model queries (`queries.rs`).

use axum::Json;
use axum::extract::State;
use bomizzel_identity::Caller;
use bomizzel_projections::notifications;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Path;
use crate::tickets;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(mark_ticket_read))
}

/// Mark the caller's unread notifications about ticket `id` read; answers
/// how many were marked. Only the caller's own inbox changes, so a ticket
/// they cannot see marks nothing and tells them nothing.
#[utoipa::path(post, path = "/api/notifications/tickets/{id}/read", tag = "notifications",
    params(("id" = String, Path, description = "the ticket's id (UUID)")),
    responses((status = 200, description = "`{marked}`", body = Object), (status = 400, body = Problem)),
    security(("bearer" = [])))]
async fn mark_ticket_read(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let ticket = tickets::parse_id(&id)?;
    let marked = notifications::mark_ticket_read(
        state.store.database(),
        &caller.user_id,
        &ticket.to_string(),
    )
    .await
    .map_err(ApiError::internal)?;
    Ok(Json(json!({ "marked": marked })))
}
