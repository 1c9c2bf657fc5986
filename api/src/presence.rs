//! `GET /api/tickets/{id}/presence`: who is viewing, replying or noting on
//! a ticket, over every node, as the caller is shown it: the list `/ws`
//! and Socket.IO members of the ticket's room receive live. Presence is
//! not in the event log; the list is the nodes' memory of it
//! (`identity::presence`).

use axum::Json;
use axum::extract::State;
use bomizzel_identity::Caller;
use bomizzel_identity::presence::Routing;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::access;
use crate::commands;
use crate::error::{ApiResult, Problem};
use crate::extract::Path;
use crate::tickets;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ticket_presence))
}

/// Who is on a ticket now: `{room, members: [{user, name, role, activity,
/// since}]}`; customers see staff only while they reply, by role.
#[utoipa::path(get, path = "/api/tickets/{id}/presence", tag = "tickets", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn ticket_presence(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = tickets::parse_id(&id)?;
    let ticket = commands::load(&state.store, id, None).await?;
    access::require_visible(&caller, &ticket)?;
    let room = format!("ticket:{id}");
    let routing = Routing::of(&ticket);
    let members = state
        .presence
        .view(&room, &caller.viewer(), Some(&routing))
        .unwrap_or_default();
    Ok(Json(json!({ "room": room, "members": members })))
}
