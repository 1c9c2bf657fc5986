//! The HTTP face of Bomizzel. Handlers translate HTTP into store and
//! read-model calls and back; they hold no business rules of their own.

mod health;

use axum::Router;
use bomizzel_store::EventStore;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: EventStore,
}

/// All routes of the service.
pub fn router(state: AppState) -> Router {
    Router::new().merge(health::routes()).with_state(state)
}
