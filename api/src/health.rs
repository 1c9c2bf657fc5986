//! Liveness and readiness probes for load balancers and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use bomizzel_projections::{State as ProjectionState, checkpoint};

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up and serving HTTP.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers and no projection has stopped on an
/// event it cannot apply; otherwise 503 with the reason, so traffic goes
/// elsewhere and operators see which projection stopped where.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let found = tokio::try_join!(
        async { state.store.head().await.map_err(|e| e.to_string()) },
        async {
            checkpoint::all(state.store.database())
                .await
                .map_err(|e| e.to_string())
        },
    );
    let (head, checkpoints) = match found {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
            );
        }
    };
    let projections: Vec<Value> = checkpoints
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "state": c.state.as_str(),
                "position": c.position,
                "lag": head - c.position,
                "error": c.error,
            })
        })
        .collect();
    let failed = checkpoints
        .iter()
        .any(|c| c.state == ProjectionState::Failed);
    let (status, word) = if failed {
        (StatusCode::SERVICE_UNAVAILABLE, "degraded")
    } else {
        (StatusCode::OK, "ready")
    };
    let body = json!({ "status": word, "head": head, "projections": projections });
    (status, Json(body))
}
