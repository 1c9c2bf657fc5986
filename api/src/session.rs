//! The caller's own session: `GET /api/me` says who the token belongs to
//! (what a client needs to pick its view and its rooms), and
//! `POST /api/auth/logout` ends every session of the caller: tokens issued
//! before now are refused from then on, and the gateway closes the user's
//! open connections.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bomizzel_identity::{Caller, Role, directory};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiResult;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(logout))
}

/// The caller as the server sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    /// From the directory; `null` for a token subject the directory does not know.
    pub name: Option<String>,
    pub role: Role,
    pub company_id: Option<String>,
    pub team_ids: Vec<String>,
    /// The queues of the caller's teams.
    pub queue_ids: Vec<String>,
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn me(caller: Caller, State(state): State<AppState>) -> ApiResult<Json<Me>> {
    let database = state.store.database();
    let name = directory::user_name(database, &caller.user_id).await?;
    let queue_ids = directory::queues_of_member(database, &caller.user_id).await?;
    Ok(Json(Me {
        id: caller.user_id,
        name,
        role: caller.role,
        company_id: caller.company_id,
        team_ids: caller.team_ids,
        queue_ids,
    }))
}

/// End all of the caller's sessions.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn logout(caller: Caller, State(state): State<AppState>) -> ApiResult<StatusCode> {
    directory::revoke_sessions(&state.store, &caller.as_actor(), &caller.user_id).await?;
    state.directory_changes.publish(&caller.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
