//! Saved views (`/api/views`): a named ticket-list question (the list's
//! filters, search and order) that a user keeps, optionally shared with
//! one of their teams, and the list and counts it answers.
//!
//! A view stores its query parameters, not a resolved filter: each use
//! resolves them for the caller using it, so `assignee=me` is whoever looks
//! and visibility is always the caller's own (a shared view never shows a
//! team member more than their own list would).
//!
//! Keeping counts live: `GET /api/views/counts` answers every view's count
//! with the feed offset it is consistent with (`Bomizzel-Feed-Offset`); a
//! client in the rooms its views cover (its teams' or company's) counts
//! again when a `ticket:*` change arrives after that offset, at most once
//! per interval it chooses. Counts are not pushed: whether a change moves a
//! ticket in or out of a view depends on the whole filter, which only the
//! read model answers.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bomizzel_domain::validate;
use bomizzel_identity::{Caller, Role};
use bomizzel_projections::on_pool;
use bomizzel_projections::tickets::{self, query::count};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Path, Query};
use crate::json::JsonBody;
use crate::listing::{self, ListQuery, Paging};
use crate::queries::{list_answer, require_built};
use crate::snapshot;

const NAME_MAX_CHARS: usize = 200;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_view, list_views))
        .routes(routes!(view_counts))
        .routes(routes!(get_view, update_view, delete_view))
        .routes(routes!(view_tickets))
}

/// A saved view.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct View {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    /// Shared with this team's members; `null` = the owner's alone.
    pub team_id: Option<String>,
    pub query: ListQuery,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewView {
    pub name: String,
    /// One of the caller's teams (staff); customers' views are their own.
    pub team_id: Option<String>,
    /// The list's parameters, as `GET /api/tickets` takes them.
    #[serde(default)]
    pub query: ListQuery,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewChange {
    pub name: Option<String>,
    /// A team to share with, or `null` to stop sharing; absent = unchanged.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub team_id: Option<Option<String>>,
    pub query: Option<ListQuery>,
}

/// A field that is present, even as `null`, is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

fn valid_name(name: &str) -> ApiResult<String> {
    let trimmed = name.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > NAME_MAX_CHARS {
        return Err(ApiError::unprocessable(
            "validation_failed",
            format!("name must be 1-{NAME_MAX_CHARS} characters"),
        )
        .with_field("name"));
    }
    validate::single_line("name", trimmed).map_err(ApiError::from)?;
    Ok(trimmed.to_owned())
}

/// 422 unless the caller may share with `team`: a team of theirs (any
/// team for admins); customers share with nobody.
fn check_team(caller: &Caller, team: Option<&String>) -> ApiResult<()> {
    let allowed = match (team, caller.role) {
        (None, _) => true,
        (Some(_), Role::Admin) => true,
        (Some(team), Role::Agent) => caller.team_ids.contains(team),
        (Some(_), Role::Analyst | Role::Auditor | Role::Customer) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "validation_failed",
            "a view can be shared with a team of yours only",
        )
        .with_field("team_id"))
    }
}

/// Whether `caller` may use `view`: theirs, or shared with a team of theirs.
fn may_use(caller: &Caller, view: &View) -> bool {
    view.owner_id == caller.user_id
        || view
            .team_id
            .as_ref()
            .is_some_and(|team| caller.team_ids.contains(team))
}

type ViewRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    OffsetDateTime,
    OffsetDateTime,
);

const VIEW_COLUMNS: &str = "id, name, owner_id, team_id, query, created_at, updated_at";

fn view_of(row: ViewRow) -> ApiResult<View> {
    let (id, name, owner_id, team_id, query, created_at, updated_at) = row;
    Ok(View {
        query: serde_json::from_str(&query).map_err(ApiError::internal)?,
        id,
        name,
        owner_id,
        team_id,
        created_at,
        updated_at,
    })
}

/// The views `caller` may use: their own and their teams' shared ones.
async fn usable_views(state: &AppState, caller: &Caller) -> ApiResult<Vec<View>> {
    let rows: Vec<ViewRow> = on_pool!(state.store.database(), pool => {
        sqlx::query_as(&format!(
            "SELECT {VIEW_COLUMNS} FROM saved_views WHERE owner_id = $1 OR team_id IS NOT NULL \
             ORDER BY name, id"
        ))
        .bind(&caller.user_id)
        .fetch_all(pool)
        .await?
    });
    let views = rows
        .into_iter()
        .map(view_of)
        .collect::<ApiResult<Vec<View>>>()?;
    Ok(views
        .into_iter()
        .filter(|view| may_use(caller, view))
        .collect())
}

/// View `id` if `caller` may use it; 404 otherwise, like a missing one.
async fn usable_view(state: &AppState, caller: &Caller, id: &str) -> ApiResult<View> {
    let row: Option<ViewRow> = on_pool!(state.store.database(), pool => {
        sqlx::query_as(&format!("SELECT {VIEW_COLUMNS} FROM saved_views WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    row.map(view_of)
        .transpose()?
        .filter(|view| may_use(caller, view))
        .ok_or_else(|| ApiError::not_found(format!("no view {id}")))
}

/// View `id` if `caller` owns it: 404 if they may not use it, 403 if they
/// may use but not change it.
async fn owned_view(state: &AppState, caller: &Caller, id: &str) -> ApiResult<View> {
    let view = usable_view(state, caller, id).await?;
    if view.owner_id == caller.user_id {
        Ok(view)
    } else {
        Err(ApiError::forbidden("only its owner changes a view"))
    }
}

/// Save a view of the ticket list.
#[utoipa::path(post, path = "/api/views", tag = "views", request_body = NewView,
    responses((status = 201, body = View), (status = 400, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn create_view(
    caller: Caller,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewView>,
) -> ApiResult<(StatusCode, Json<View>)> {
    let name = valid_name(&body.name)?;
    check_team(&caller, body.team_id.as_ref())?;
    body.query.resolve(&caller)?;
    let now = OffsetDateTime::now_utc();
    let view = View {
        id: Uuid::now_v7().to_string(),
        name,
        owner_id: caller.user_id.clone(),
        team_id: body.team_id,
        query: body.query,
        created_at: now,
        updated_at: now,
    };
    let query = serde_json::to_string(&view.query).map_err(ApiError::internal)?;
    on_pool!(state.store.database(), pool => {
        sqlx::query(&format!(
            "INSERT INTO saved_views ({VIEW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&view.id)
        .bind(&view.name)
        .bind(&view.owner_id)
        .bind(&view.team_id)
        .bind(&query)
        .bind(view.created_at)
        .bind(view.updated_at)
        .execute(pool)
        .await?;
    });
    Ok((StatusCode::CREATED, Json(view)))
}

/// The caller's views and those shared with their teams, by name.
#[utoipa::path(get, path = "/api/views", tag = "views",
    responses((status = 200, body = [View])), security(("bearer" = [])))]
async fn list_views(caller: Caller, State(state): State<AppState>) -> ApiResult<Json<Vec<View>>> {
    Ok(Json(usable_views(&state, &caller).await?))
}

/// One view.
#[utoipa::path(get, path = "/api/views/{id}", tag = "views", params(("id" = String, Path)),
    responses((status = 200, body = View), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn get_view(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<View>> {
    Ok(Json(usable_view(&state, &caller, &id).await?))
}

/// Rename a view, share or unshare it, or change its question (owner).
#[utoipa::path(patch, path = "/api/views/{id}", tag = "views", params(("id" = String, Path)), request_body = ViewChange,
    responses((status = 200, body = View), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn update_view(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ViewChange>,
) -> ApiResult<Json<View>> {
    let mut view = owned_view(&state, &caller, &id).await?;
    if let Some(name) = body.name {
        view.name = valid_name(&name)?;
    }
    if let Some(team) = body.team_id {
        check_team(&caller, team.as_ref())?;
        view.team_id = team;
    }
    if let Some(query) = body.query {
        query.resolve(&caller)?;
        view.query = query;
    }
    view.updated_at = OffsetDateTime::now_utc();
    let query = serde_json::to_string(&view.query).map_err(ApiError::internal)?;
    on_pool!(state.store.database(), pool => {
        sqlx::query(
            "UPDATE saved_views SET name = $2, team_id = $3, query = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(&view.id)
        .bind(&view.name)
        .bind(&view.team_id)
        .bind(&query)
        .bind(view.updated_at)
        .execute(pool)
        .await?;
    });
    Ok(Json(view))
}

/// Delete a view (owner).
#[utoipa::path(delete, path = "/api/views/{id}", tag = "views", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
async fn delete_view(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let view = owned_view(&state, &caller, &id).await?;
    on_pool!(state.store.database(), pool => {
        sqlx::query("DELETE FROM saved_views WHERE id = $1")
            .bind(&view.id)
            .execute(pool)
            .await?;
    });
    Ok(StatusCode::NO_CONTENT)
}

/// The view's ticket list, for the caller, a page at a time (as
/// `GET /api/tickets` with the view's parameters).
#[utoipa::path(get, path = "/api/views/{id}/tickets", tag = "views", params(("id" = String, Path), Paging),
    responses((status = 200, description = "`{items, next_cursor}`", body = Object), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn view_tickets(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(parameters): Query<BTreeMap<String, String>>,
) -> ApiResult<Response> {
    let view = usable_view(&state, &caller, &id).await?;
    let (extra, own) = listing::split_query(parameters, &["cursor", "limit"])?;
    if extra != ListQuery::default() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "a view's list takes cursor and limit only; its filters are the view's",
        ));
    }
    let (filter, sort) = view.query.resolve(&caller)?;
    list_answer(&state, &caller, &filter, sort, listing::paging(&own)?).await
}

/// How many tickets one view lists.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewCount {
    pub id: String,
    pub count: i64,
}

/// Every usable view's ticket count, with the feed offset the counts are
/// consistent with (`Bomizzel-Feed-Offset`): count again after changes
/// past it to keep counts live.
#[utoipa::path(get, path = "/api/views/counts", tag = "views",
    responses((status = 200, body = [ViewCount]), (status = 503, body = Problem)), security(("bearer" = [])))]
async fn view_counts(caller: Caller, State(state): State<AppState>) -> ApiResult<Response> {
    require_built(&state, tickets::NAME).await?;
    let now = OffsetDateTime::now_utc();
    let mut counts = Vec::new();
    // The counts are at least as new as the oldest position read.
    let mut oldest = i64::MAX;
    for view in usable_views(&state, &caller).await? {
        let (filter, _) = view.query.resolve(&caller)?;
        let (count, position) = count(state.store.database(), &filter, &state.due_times, now)
            .await
            .map_err(ApiError::internal)?;
        oldest = oldest.min(position);
        counts.push(ViewCount { id: view.id, count });
    }
    let position = if counts.is_empty() { 0 } else { oldest };
    let feed = snapshot::feed_headers(&state, position).await?;
    Ok((feed, Json(counts)).into_response())
}
