//! Liveness and readiness probes for load balancers and orchestrators.

use std::time::Duration;

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

/// How long `/readyz` waits for the database.
const PROBE_DEADLINE: Duration = Duration::from_millis(800);

fn unavailable(reason: String) -> (StatusCode, Json<Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "reason": reason })),
    )
}

/// The process is up and serving HTTP.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers and no projection has stopped on an
/// event it cannot apply; otherwise 503 with the reason, so traffic goes
/// elsewhere and operators see which projection stopped where. Answers
/// within [`PROBE_DEADLINE`] whatever the database does: a probe that
/// hangs is itself a failure, and orchestrators time probes out.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if let Some(outage) = state.store.health().outage() {
        return unavailable(outage.to_string());
    }
    let found = tokio::time::timeout(PROBE_DEADLINE, async {
        tokio::try_join!(
            async { state.store.head().await.map_err(|e| e.to_string()) },
            async {
                checkpoint::all(state.store.database())
                    .await
                    .map_err(|e| e.to_string())
            },
        )
    })
    .await;
    let (head, checkpoints) = match found {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => return unavailable(format!("the database failed a query: {error}")),
        Err(_) => {
            return unavailable(format!(
                "the database did not answer within {PROBE_DEADLINE:?}"
            ));
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
