//! The audit trail over HTTP, for auditors only (the visibility policy's
//! `Viewer::may_read_audit_trail`): a ticket's every event and the
//! directory's history as JSON lines with their hashes, and the chain's
//! head. Each line is the event exactly as stored, so the shipped script
//! (`tools/audit_verify.py`, docs/audit.md) re-computes the hashes with no
//! database and no trust in this server.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bomizzel_identity::Caller;
use bomizzel_store::audit::AuditEvent;
use bomizzel_store::chain::to_hex;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Path;
use crate::tickets::parse_id;

/// The media type of the exports: one JSON object per line.
const JSON_LINES: &str = "application/x-ndjson";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ticket_trail))
        .routes(routes!(directory_trail))
        .routes(routes!(chain_head))
}

fn require_auditor(caller: &Caller) -> ApiResult<()> {
    if caller.viewer().may_read_audit_trail() {
        Ok(())
    } else {
        Err(ApiError::forbidden("the audit trail is for auditors"))
    }
}

async fn json_lines(state: &AppState, events: &[AuditEvent]) -> ApiResult<Response> {
    let mut body = String::new();
    for line in state.store.export_lines(events).await? {
        body.push_str(&line.to_string());
        body.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, JSON_LINES)], body).into_response())
}

/// Every event of a ticket as stored, with position, version, actor, time
/// and both hashes, one JSON object per line (auditors). Internal comments
/// and routing are included: nothing is redacted, or the hashes would not
/// match.
#[utoipa::path(get, path = "/api/audit/tickets/{id}", tag = "audit",
    params(("id" = String, Path)),
    responses(
        (status = 200, content_type = "application/x-ndjson", body = String,
         description = "one event per line (docs/audit.md)"),
        (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn ticket_trail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_auditor(&caller)?;
    let id = parse_id(&id)?;
    let events = state.store.audit_stream(&id.to_string()).await?;
    if events.is_empty() {
        return Err(ApiError::not_found("no such ticket"));
    }
    json_lines(&state, &events).await
}

/// Every change to the directory (users, roles, teams, memberships,
/// queues, disabled users, ended sessions) with the acting user, one JSON
/// object per line in log order (auditors).
#[utoipa::path(get, path = "/api/audit/directory", tag = "audit",
    responses(
        (status = 200, content_type = "application/x-ndjson", body = String,
         description = "one event per line (docs/audit.md)"),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn directory_trail(caller: Caller, State(state): State<AppState>) -> ApiResult<Response> {
    require_auditor(&caller)?;
    let events = state.store.audit_directory().await?;
    json_lines(&state, &events).await
}

/// The newest event's position and hash: the anchor an auditor keeps.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainHead {
    pub position: i64,
    /// SHA-256, 64 hexadecimal digits; absent only for a log whose chain a
    /// migration has not filled in.
    pub hash: Option<String>,
}

/// The chain's head (auditors); 404 while the log is empty.
#[utoipa::path(get, path = "/api/audit/head", tag = "audit",
    responses((status = 200, body = ChainHead), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn chain_head(caller: Caller, State(state): State<AppState>) -> ApiResult<Json<ChainHead>> {
    require_auditor(&caller)?;
    let (position, hash) = state
        .store
        .chain_head()
        .await?
        .ok_or_else(|| ApiError::not_found("the log is empty"))?;
    Ok(Json(ChainHead {
        position,
        hash: hash.as_ref().map(to_hex),
    }))
}
