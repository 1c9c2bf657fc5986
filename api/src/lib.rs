//! The HTTP face of Bomizzel. Handlers translate HTTP into commands on the
//! ticket aggregate and reads of read models, and back; permission rules
//! live in [`access`], error mapping in [`error`]. Who the caller is and
//! what the directory says about them come from `bomizzel_identity`, which
//! the gateway shares.

pub mod access;
mod audit;
mod auth;
mod availability;
pub mod commands;
pub mod directory;
pub mod error;
mod exports;
pub mod extract;
mod headers;
mod health;
pub mod json;
pub mod limit;
mod listing;
mod notifications;
mod presence;
mod queries;
mod session;
pub mod snapshot;
pub mod telemetry;
mod tickets;
mod views;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::get;
use bomizzel_identity::Shared;
use bomizzel_projections::tickets::DueTimes;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

pub use json::JsonBody;
pub use limit::{CommandLimiter, RateLimit};

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What every handler can reach: what the gateway shares, and the HTTP
/// door's own rate limiter and due times. axum clones it for each
/// extractor of every request, so it is one `Arc` (a deep clone of the
/// token keys' validation sets and every shared handle was ~3% of the
/// runtime threads' CPU under a create load).
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppParts>);

#[derive(Debug)]
pub struct AppParts {
    pub shared: Shared,
    pub limiter: CommandLimiter,
    /// SLA targets (the first-response ones are also the queue metrics')
    /// and the due-soon threshold of ticket answers and list filters.
    pub due_times: DueTimes,
}

impl AppState {
    /// Over `shared` as the server built it (presence settings included).
    pub fn new(shared: Shared, rate_limit: RateLimit, due_times: DueTimes) -> Self {
        Self(Arc::new(AppParts {
            shared,
            limiter: CommandLimiter::new(rate_limit),
            due_times,
        }))
    }
}

/// Handlers reach the parts as `state.limiter`, `state.due_times`, ...
impl Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// ... and the shared ones as `state.store`, `state.keys`, ...
impl Deref for AppParts {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Bomizzel", description = "Help desk backend: tickets, live rooms, read models."),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The documented routes and their OpenAPI description.
pub fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(tickets::routes())
        .merge(queries::routes())
        .merge(presence::routes())
        .merge(notifications::routes())
        .merge(directory::routes())
        .merge(session::routes())
        .merge(views::routes())
        .merge(exports::routes())
        .merge(audit::routes())
        .split_for_parts()
}

/// All routes of the service, with request ids, tracing, body limit, CORS
/// for `frontend_url` and metrics.
pub fn router(state: AppState, frontend_url: Option<&str>) -> Router {
    // Install the recorder before the first request is counted.
    telemetry::prometheus();
    let (api, openapi) = api_routes();
    let openapi_json = serde_json::to_value(&openapi).unwrap_or_default();
    let request_id = HeaderName::from_static(headers::REQUEST_ID);
    let api = api.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        availability::guard,
    ));
    Router::new()
        .merge(api)
        .merge(health::routes())
        .route("/metrics", get(telemetry::render))
        .route("/openapi.json", get(move || async move { axum::Json(openapi_json) }))
        .with_state(state)
        .layer(axum::middleware::from_fn(telemetry::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors(frontend_url))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        // 5xx answers are logged where they arise (internal errors) or
        // once per outage (the store's health monitor), not once more here.
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)).make_span_with(|request: &axum::http::Request<_>| {
            let id = request
                .headers()
                .get(headers::REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            // The path only: query strings and headers (tokens) stay out of logs.
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

fn cors(frontend_url: Option<&str>) -> CorsLayer {
    let origin = frontend_url
        .and_then(|url| HeaderValue::from_str(url.trim_end_matches('/')).ok())
        .map_or_else(
            || AllowOrigin::list([]),
            |origin| AllowOrigin::list([origin]),
        );
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            snapshot::FEED_OFFSET,
            snapshot::FEED_EPOCH,
        ])
        .max_age(Duration::from_secs(600))
}
