//! Queries on the read models: the ticket list, a ticket's comments, queue
//! metrics and the notification inbox. While a read model is being rebuilt
//! its queries answer 503 rather than a half-built answer.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bomizzel_domain::{Priority, Status, Viewer};
use bomizzel_identity::{Caller, Role, directory};
use bomizzel_projections::tickets::{
    self, AssigneeFilter, Direction, ListError, Page, Sort, SortField, TicketFilter, TicketRow,
    Visibility,
};
use bomizzel_projections::{State as ProjectionState, checkpoint, metrics, notifications};
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
async fn require_built(state: &AppState, name: &str) -> ApiResult<()> {
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

/// Parses a comma-separated list of `T`s.
fn parse_list<T: std::str::FromStr<Err = impl std::fmt::Display>>(
    field: &'static str,
    value: Option<&str>,
) -> ApiResult<Vec<T>> {
    value
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse()
                .map_err(|e| bad_query(field, format!("{field}: {e}")))
        })
        .collect()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketListQuery {
    /// Comma-separated statuses, e.g. `open,in_progress`.
    pub status: Option<String>,
    /// Comma-separated priorities.
    pub priority: Option<String>,
    pub queue: Option<String>,
    pub team: Option<String>,
    /// A user id, or `unassigned`.
    pub assignee: Option<String>,
    pub company: Option<String>,
    pub requester: Option<String>,
    pub tag: Option<String>,
    /// Text in the title (case-insensitive).
    pub q: Option<String>,
    /// `created`, `updated` or `priority`, with `-` in front for descending
    /// (default `-created`, newest first).
    pub sort: Option<String>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1-200, default 50.
    pub limit: Option<u32>,
}

fn parse_sort(sort: Option<&str>) -> ApiResult<Sort> {
    let Some(sort) = sort else {
        return Ok(Sort::default());
    };
    let (direction, field) = match sort.strip_prefix('-') {
        Some(field) => (Direction::Desc, field),
        None => (Direction::Asc, sort),
    };
    let field = SortField::ALL
        .into_iter()
        .find(|f| f.as_str() == field)
        .ok_or_else(|| {
            bad_query(
                "sort",
                format!(
                    "sort must be created, updated or priority (optionally with -), not {sort:?}"
                ),
            )
        })?;
    Ok(Sort::new(field, direction))
}

/// The SQL form of the visibility policy's `Viewer::may_see`.
fn visibility(caller: &Caller) -> Visibility {
    match caller.viewer() {
        Viewer::Desk { .. } | Viewer::Auditor { .. } => Visibility::All,
        Viewer::Agent { team_ids, .. } => Visibility::Teams(team_ids.to_vec()),
        Viewer::Customer { company_id, .. } => {
            Visibility::Company(company_id.unwrap_or_default().to_owned())
        }
    }
}

/// A read-model row as `caller` may see it: without the fields the
/// visibility policy keeps from them, with the version they count.
fn shown(caller: &Caller, row: &TicketRow) -> Value {
    let viewer = caller.viewer();
    let mut value = serde_json::to_value(row).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        let version = viewer.counted_version(row.version, row.customer_version);
        object.insert("version".into(), version.into());
        object.remove("customer_version");
        viewer.redact(object);
    }
    value
}

/// A filter on a field the visibility policy hides from the caller would
/// tell them its value: refused.
fn staff_only_filter<T>(
    caller: &Caller,
    parameter: &'static str,
    field: &str,
    value: Option<T>,
) -> ApiResult<Option<T>> {
    if value.is_some() && !caller.viewer().may_filter_by(field) {
        return Err(bad_query(
            parameter,
            format!("{parameter} is not a filter customers may use"),
        ));
    }
    Ok(value)
}

/// List the tickets the caller may see, filtered, sorted, a page at a time.
#[utoipa::path(get, path = "/api/tickets", tag = "tickets", params(TicketListQuery),
    responses((status = 200, description = "`{items, next_cursor}`", body = Object), (status = 400, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = [])))]
async fn list_tickets(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<TicketListQuery>,
) -> ApiResult<Response> {
    require_built(&state, "tickets").await?;
    let filter = TicketFilter {
        statuses: parse_list::<Status>("status", query.status.as_deref())?,
        priorities: parse_list::<Priority>("priority", query.priority.as_deref())?,
        queue_id: staff_only_filter(&caller, "queue", "queue_id", query.queue)?,
        team_id: staff_only_filter(&caller, "team", "team_id", query.team)?,
        assignee: query.assignee.map(|a| {
            if a == "unassigned" {
                AssigneeFilter::Unassigned
            } else {
                AssigneeFilter::User(a)
            }
        }),
        company_id: query.company,
        requester_id: query.requester,
        tag: staff_only_filter(&caller, "tag", "tags", query.tag)?,
        q: query.q,
        visibility: visibility(&caller),
    };
    let mut page = Page::first(parse_sort(query.sort.as_deref())?)
        .with_limit(query.limit.unwrap_or(tickets::DEFAULT_LIMIT));
    page.after = query.cursor;
    let found = tickets::query::list(state.store.database(), &filter, &page)
        .await
        .map_err(|error| match error {
            ListError::Cursor(e) => bad_query("cursor", e.to_string()),
            ListError::Limit(_) => bad_query("limit", error.to_string()),
            ListError::Database(e) => ApiError::database(e),
        })?;
    let items: Vec<Value> = found.items.iter().map(|row| shown(&caller, row)).collect();
    let feed = snapshot::feed_headers(&state, found.position).await?;
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
    require_built(&state, "tickets").await?;
    let comments =
        tickets::query::comments(state.store.database(), id, caller.role.is_staff()).await?;
    Ok(Json(serde_json::to_value(comments).unwrap_or_default()))
}

/// Staff of the queue's team, admins and analysts may read its metrics.
async fn require_queue_reader(state: &AppState, caller: &Caller, queue_id: &str) -> ApiResult<()> {
    let team = directory::team_of_queue(state.store.database(), queue_id)
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
