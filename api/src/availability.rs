//! Answers API requests at once while the database is away.
//!
//! Without it every request during an outage waits for the pool's acquire
//! timeout (10 s) or for TCP to give up, then fails as an internal error:
//! clients cannot tell "retry now" from "broken", and requests pile up.
//! With it a request arriving during an outage is answered 503
//! `database_unavailable` with `Retry-After` before touching the database,
//! and one already in flight when the store's health monitor notices the
//! outage is answered the same way then, within a second of it. A command
//! answered so may still commit once the database returns: clients retry
//! with the same `Idempotency-Key` and get its first answer.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bomizzel_store::Outage;

use crate::AppState;
use crate::error::ApiError;

pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.store.health().unless_down(next.run(request)).await {
        Some(response) => response,
        None => ApiError::outage(Outage::Unreachable).into_response(),
    }
}
