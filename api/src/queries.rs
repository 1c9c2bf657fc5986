//! Queries on the read models: the ticket list, a ticket's comments, queue
//! metrics and the notification inbox. While a read model is being rebuilt
//! its queries answer 503 rather than a half-built answer.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

use bomizzel_identity::{Caller, Role};
use bomizzel_projections::tickets::{self, Page, Sort, TicketFilter};
use bomizzel_projections::{State as ProjectionState, checkpoint, metrics, notifications, search};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::access;
use crate::commands;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Path, Query};
use crate::listing::{self, ListQuery, Paging};
use crate::snapshot;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tickets))
        .routes(routes!(ticket_comments))
        .routes(routes!(queue_metrics))
        .routes(routes!(queue_hourly))
        .routes(routes!(list_notifications))
        .routes(routes!(unread_count))
        .routes(routes!(mark_read))
        .routes(routes!(mark_all_read))
}

/// 503 while read model `name` is being rebuilt.
pub(crate) async fn require_built(state: &AppState, name: &str) -> ApiResult<()> {
    let found = checkpoint::load(state.store.database(), name)
        .await
        .map_err(ApiError::internal)?;
    if found.state == ProjectionState::Rebuilding {
        return Err(ApiError::unavailable(
            "read_model_rebuilding",
            format!("the {name} read model is being rebuilt; try again shortly"),
        ));
    }
    Ok(())
}

fn bad_query(field: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", detail).with_field(field)
}

/// List the tickets the caller may see: filtered, searched, sorted, a
/// page at a time. Each item carries its SLA (staff) and, with `q`, a
/// `snippet` of the best matching text.
#[utoipa::path(get, path = "/api/tickets", tag = "tickets", params(ListQuery, Paging),
    responses((status = 200, description = "`{items, next_cursor}`", body = Object), (status = 400, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = [])))]
async fn list_tickets(
    caller: Caller,
    State(state): State<AppState>,
    Query(parameters): Query<BTreeMap<String, String>>,
) -> ApiResult<Response> {
    let (query, own) = listing::split_query(parameters, &["cursor", "limit"])?;
    let (filter, sort) = query.resolve(&caller)?;
    let paging = listing::paging(&own)?;
    list_answer(&state, &caller, &filter, sort, paging).await
}

/// One page of `filter` in `sort` order as the caller may see it, with the
/// feed offset it is consistent with.
pub(crate) async fn list_answer(
    state: &AppState,
    caller: &Caller,
    filter: &TicketFilter,
    sort: Sort,
    paging: Paging,
) -> ApiResult<Response> {
    require_built(state, tickets::NAME).await?;
    if filter.search.is_some() {
        require_built(state, search::NAME).await?;
    }
    let mut page = Page::first(sort).with_limit(paging.limit.unwrap_or(tickets::DEFAULT_LIMIT));
    page.after = paging.cursor;
    let now = OffsetDateTime::now_utc();
    let found = tickets::query::list(state.store.database(), filter, &page, &state.due_times, now)
        .await
        .map_err(listing::list_error)?;
    let items: Vec<Value> = found
        .items
        .iter()
        .map(|listed| listing::shown(state, caller, listed, now))
        .collect();
    let feed = snapshot::feed_headers(state, found.position).await?;
    let body = serde_json::json!({ "items": items, "next_cursor": found.next_cursor });
    Ok((feed, Json(body)).into_response())
}

/// A ticket's comments, oldest first; customers get the public ones only.
#[utoipa::path(get, path = "/api/tickets/{id}/comments", tag = "tickets", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn ticket_comments(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = Uuid::parse_str(&id).map_err(|_| {
        ApiError::bad_request("invalid_id", format!("{id:?} is not a ticket id (a UUID)"))
    })?;
    let ticket = commands::load(&state.store, id, None).await?;
    access::require_visible(&caller, &ticket)?;
    require_built(&state, tickets::NAME).await?;
    let comments =
        tickets::query::comments(state.store.database(), id, caller.role.is_staff()).await?;
    Ok(Json(serde_json::to_value(comments).unwrap_or_default()))
}

/// Staff of the queue's team, admins and analysts may read its metrics.
pub(crate) async fn require_queue_reader(
    state: &AppState,
    caller: &Caller,
    queue_id: &str,
) -> ApiResult<()> {
    let team = state
        .directory
        .team_of_queue(queue_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no queue {queue_id}")))?;
    let allowed = match caller.role {
        Role::Admin | Role::Analyst | Role::Auditor => true,
        Role::Agent => caller.team_ids.contains(&team),
        Role::Customer => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "queue metrics are for the queue's team, admins and analysts",
        ))
    }
}

/// A queue's live figures: open tickets by status and priority, unassigned,
/// created and resolved today, time to first assignment, resolution time,
/// oldest open ticket, SLA breaches.
#[utoipa::path(get, path = "/api/queues/{id}/metrics", tag = "metrics", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn queue_metrics(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_queue_reader(&state, &caller, &id).await?;
    require_built(&state, "queue_metrics").await?;
    let figures = metrics::queue_metrics(
        state.store.database(),
        &id,
        OffsetDateTime::now_utc(),
        &state.sla,
    )
    .await?;
    Ok(Json(serde_json::to_value(figures).unwrap_or_default()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HourlyQuery {
    /// Unix seconds; default 24 hours before `to`.
    pub from: Option<i64>,
    /// Unix seconds; default now.
    pub to: Option<i64>,
}

/// Hourly buckets (created, first assigned, resolved) of a queue, for analysts.
#[utoipa::path(get, path = "/api/queues/{id}/metrics/hourly", tag = "metrics", params(("id" = String, Path), HourlyQuery),
    responses((status = 200, body = Object), (status = 403, body = Problem)), security(("bearer" = [])))]
async fn queue_hourly(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HourlyQuery>,
) -> ApiResult<Json<Value>> {
    require_queue_reader(&state, &caller, &id).await?;
    require_built(&state, "queue_metrics").await?;
    let to = query
        .to
        .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp());
    let from = query.from.unwrap_or(to - 24 * 3600);
    if from > to {
        return Err(bad_query("from", "from must not be after to"));
    }
    let buckets = metrics::hourly(state.store.database(), &id, from, to).await?;
    Ok(Json(serde_json::to_value(buckets).unwrap_or_default()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// Only unread notifications.
    #[serde(default)]
    pub unread: bool,
    /// Notifications older than this position (paging).
    pub before: Option<i64>,
    /// 1-200, default 50.
    pub limit: Option<u32>,
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/notifications", tag = "notifications", params(InboxQuery),
    responses((status = 200, body = Object)), security(("bearer" = [])))]
async fn list_notifications(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<InboxQuery>,
) -> ApiResult<Response> {
    require_built(&state, "notifications").await?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad_query("limit", "limit must be between 1 and 200"));
    }
    let found = notifications::page(
        state.store.database(),
        &caller.user_id,
        query.unread,
        query.before,
        limit,
    )
    .await
    .map_err(ApiError::internal)?;
    let feed = snapshot::feed_headers(&state, found.position).await?;
    Ok((feed, Json(found.items)).into_response())
}

/// How many of the caller's notifications are unread.
#[utoipa::path(get, path = "/api/notifications/unread-count", tag = "notifications",
    responses((status = 200, body = Object)), security(("bearer" = [])))]
async fn unread_count(caller: Caller, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let count = notifications::unread_count(state.store.database(), &caller.user_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({ "unread": count })))
}

/// Mark one of the caller's notifications read.
#[utoipa::path(post, path = "/api/notifications/{id}/read", tag = "notifications", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn mark_read(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let found = notifications::mark_read(state.store.database(), &caller.user_id, &id)
        .await
        .map_err(ApiError::internal)?;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no notification {id}")))
    }
}

/// Mark all of the caller's notifications read.
#[utoipa::path(post, path = "/api/notifications/read-all", tag = "notifications",
    responses((status = 200, body = Object)), security(("bearer" = [])))]
async fn mark_all_read(caller: Caller, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let marked = notifications::mark_all_read(state.store.database(), &caller.user_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({ "marked": marked })))
}
