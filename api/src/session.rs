//! `POST /api/auth/logout`: ends every session of the caller. Tokens issued
//! before now are refused from then on, and the gateway closes the user's
//! open connections.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Caller;
use crate::directory;
use crate::error::ApiResult;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(logout))
}

/// End all of the caller's sessions.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn logout(caller: Caller, State(state): State<AppState>) -> ApiResult<StatusCode> {
    directory::revoke_sessions(state.store.database(), &caller.user_id).await?;
    let _ = state.directory_changes.send(caller.user_id);
    Ok(StatusCode::NO_CONTENT)
}
