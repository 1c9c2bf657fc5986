//! `GET /api/tickets/{id}/presence`: who is viewing, replying or noting on
//! a ticket, over every node, as the caller is shown it: the list `/ws`
//! and Socket.IO members of the ticket's room receive live. Presence is
//! not in the event log; the list is the nodes' memory of it
//! (`identity::presence`). And `PUT /api/users/{id}/public-name`, the
//! directory's mark that lets customers see a user's name there.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bomizzel_identity::Caller;
use bomizzel_identity::directory::set_name_public;
use bomizzel_identity::presence::Routing;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::JsonBody;
use crate::access;
use crate::commands;
use crate::directory;
use crate::error::{ApiResult, Problem};
use crate::extract::Path;
use crate::tickets;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ticket_presence))
        .routes(routes!(set_public_name))
}

/// Whether customers may see the user's name on presence lists.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicName {
    pub public: bool,
}

/// Let customers see a user's name on presence lists ("Bob is
/// replying"), or show only the role again (admin). Live lists follow.
#[utoipa::path(put, path = "/api/users/{id}/public-name", tag = "directory", request_body = PublicName,
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn set_public_name(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PublicName>,
) -> ApiResult<StatusCode> {
    directory::require_admin(&caller)?;
    directory::require_user(&state, &id).await?;
    set_name_public(state.store.database(), &id, body.public).await?;
    // The user's connections look up how they appear again.
    state.directory_changes.publish(&id).await?;
    Ok(StatusCode::NO_CONTENT)
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
