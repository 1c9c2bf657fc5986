//! The directory's HTTP routes: companies, teams (with members), queues
//! (each of one team) and users. Admins create, list and update it;
//! everyone's permissions are read from it (`bomizzel_identity::directory`,
//! which also keeps the session and disable records written here). A membership change is announced so the
//! gateway can re-check the rooms of that user's connections. Admins also
//! end a user's sessions and disable or enable a user; those are announced
//! too, and the gateway closes the user's sockets on every node. Every
//! change is appended to the log as an event of the entity's own stream,
//! in the transaction that writes the tables, with the acting admin.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bomizzel_domain::directory::{DirectoryEvent, Entity};
use bomizzel_domain::validate;
use bomizzel_identity::directory::{disable, enable, record, revoke_sessions, user_name};
use bomizzel_identity::{Caller, Role};
use bomizzel_projections::on_pool;
use bomizzel_store::{WriteTx, on_write};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::json::JsonBody;

const NAME_MAX_CHARS: usize = 200;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_company, list_companies))
        .routes(routes!(update_company))
        .routes(routes!(create_team, list_teams))
        .routes(routes!(update_team))
        .routes(routes!(create_queue, list_queues))
        .routes(routes!(update_queue))
        .routes(routes!(create_user, list_users))
        .routes(routes!(update_user))
        .routes(routes!(revoke_user_sessions))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
}

pub(crate) fn require_admin(caller: &Caller) -> ApiResult<()> {
    if caller.is(Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::forbidden("only admins manage the directory"))
    }
}

fn valid_name(name: &str) -> ApiResult<String> {
    validate::single_line("name", name)?;
    let chars = name.trim().chars().count();
    if chars == 0 || chars > NAME_MAX_CHARS {
        return Err(ApiError::unprocessable(
            "validation_failed",
            format!("name must be 1-{NAME_MAX_CHARS} characters (got {chars})"),
        )
        .with_field("name"));
    }
    Ok(name.trim().to_owned())
}

fn valid_id(field: &'static str, id: Option<&str>) -> ApiResult<String> {
    match id {
        None => Ok(uuid::Uuid::now_v7().to_string()),
        Some(id) => validate::id(field, id)
            .map(|()| id.to_owned())
            .map_err(ApiError::from),
    }
}

/// Maps a unique or foreign-key violation to 409 / 422; anything else is internal.
fn write_error(error: sqlx::Error, what: &str) -> ApiError {
    if let sqlx::Error::Database(db) = &error {
        if db.is_unique_violation() {
            return ApiError::conflict("already_exists", format!("{what} already exists"));
        }
        if db.is_foreign_key_violation() {
            return ApiError::unprocessable(
                "unknown_reference",
                format!("{what} refers to something that does not exist"),
            );
        }
    }
    ApiError::database(error)
}

// ---- companies and teams: a name and an id --------------------------------

/// A company or team.
#[derive(Debug, Serialize, ToSchema)]
pub struct Named {
    pub id: String,
    pub name: String,
}

/// A team and its members.
#[derive(Debug, Serialize, ToSchema)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub member_ids: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNamed {
    /// Optional; a UUID is generated when absent.
    pub id: Option<String>,
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    pub name: String,
}

/// Companies and teams: a name and an id, each in its table and streams.
#[derive(Debug, Clone, Copy)]
enum NamedKind {
    Company,
    Team,
}

impl NamedKind {
    fn table(self) -> &'static str {
        match self {
            Self::Company => "companies",
            Self::Team => "teams",
        }
    }

    fn entity(self) -> Entity {
        match self {
            Self::Company => Entity::Company,
            Self::Team => Entity::Team,
        }
    }

    fn created(self, name: String) -> DirectoryEvent {
        match self {
            Self::Company => DirectoryEvent::CompanyCreated { name },
            Self::Team => DirectoryEvent::TeamCreated { name },
        }
    }

    fn renamed(self, name: String) -> DirectoryEvent {
        match self {
            Self::Company => DirectoryEvent::CompanyRenamed { name },
            Self::Team => DirectoryEvent::TeamRenamed { name },
        }
    }
}

async fn insert_named(
    state: &AppState,
    caller: &Caller,
    kind: NamedKind,
    body: NewNamed,
) -> ApiResult<Named> {
    let id = valid_id("id", body.id.as_deref())?;
    let name = valid_name(&body.name)?;
    let now = OffsetDateTime::now_utc();
    let table = kind.table();
    let mut tx = state.store.begin_write().await?;
    on_write!(tx, connection => {
        sqlx::query(&format!("INSERT INTO {table} (id, name, created_at) VALUES ($1, $2, $3)"))
            .bind(&id)
            .bind(&name)
            .bind(now)
            .execute(&mut *connection)
            .await
            .map_err(|e| write_error(e, &format!("{table} {id}")))?;
    });
    let created = kind.created(name.clone());
    record(&mut tx, &caller.as_actor(), kind.entity(), &id, created).await?;
    tx.commit().await?;
    Ok(Named { id, name })
}

async fn rename_named(
    state: &AppState,
    caller: &Caller,
    kind: NamedKind,
    id: &str,
    body: Rename,
) -> ApiResult<Named> {
    let name = valid_name(&body.name)?;
    let table = kind.table();
    let mut tx = state.store.begin_write().await?;
    let updated = on_write!(tx, connection => {
        sqlx::query(&format!("UPDATE {table} SET name = $1 WHERE id = $2"))
            .bind(&name)
            .bind(id)
            .execute(&mut *connection)
            .await?
            .rows_affected()
    });
    if updated == 0 {
        return Err(ApiError::not_found(format!("no {table} with id {id}")));
    }
    let renamed = kind.renamed(name.clone());
    record(&mut tx, &caller.as_actor(), kind.entity(), id, renamed).await?;
    tx.commit().await?;
    Ok(Named {
        id: id.to_owned(),
        name,
    })
}

async fn select_named(state: &AppState, table: &str) -> ApiResult<Vec<(String, String)>> {
    Ok(on_pool!(state.store.database(), pool => {
        sqlx::query_as(&format!("SELECT id, name FROM {table} ORDER BY id"))
            .fetch_all(pool)
            .await?
    }))
}

/// Create a company (admin).
#[utoipa::path(post, path = "/api/companies", tag = "directory", request_body = NewNamed,
    responses((status = 201, body = Named), (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_company(
    caller: Caller,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewNamed>,
) -> ApiResult<(StatusCode, Json<Named>)> {
    require_admin(&caller)?;
    Ok((
        StatusCode::CREATED,
        Json(insert_named(&state, &caller, NamedKind::Company, body).await?),
    ))
}

/// List companies (admin).
#[utoipa::path(get, path = "/api/companies", tag = "directory", responses((status = 200, body = [Named])), security(("bearer" = [])))]
async fn list_companies(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<Named>>> {
    require_admin(&caller)?;
    let rows = select_named(&state, NamedKind::Company.table()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(id, name)| Named { id, name })
            .collect(),
    ))
}

/// Rename a company (admin).
#[utoipa::path(patch, path = "/api/companies/{id}", tag = "directory", request_body = Rename,
    params(("id" = String, Path)), responses((status = 200, body = Named), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_company(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Rename>,
) -> ApiResult<Json<Named>> {
    require_admin(&caller)?;
    Ok(Json(
        rename_named(&state, &caller, NamedKind::Company, &id, body).await?,
    ))
}

/// Create a team (admin).
#[utoipa::path(post, path = "/api/teams", tag = "directory", request_body = NewNamed,
    responses((status = 201, body = Named), (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_team(
    caller: Caller,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewNamed>,
) -> ApiResult<(StatusCode, Json<Named>)> {
    require_admin(&caller)?;
    Ok((
        StatusCode::CREATED,
        Json(insert_named(&state, &caller, NamedKind::Team, body).await?),
    ))
}

/// List teams with their members (admin).
#[utoipa::path(get, path = "/api/teams", tag = "directory", responses((status = 200, body = [Team])), security(("bearer" = [])))]
async fn list_teams(caller: Caller, State(state): State<AppState>) -> ApiResult<Json<Vec<Team>>> {
    require_admin(&caller)?;
    let teams = select_named(&state, NamedKind::Team.table()).await?;
    let members: Vec<(String, String)> = on_pool!(state.store.database(), pool => {
        sqlx::query_as("SELECT team_id, user_id FROM team_members ORDER BY team_id, user_id")
            .fetch_all(pool)
            .await?
    });
    Ok(Json(
        teams
            .into_iter()
            .map(|(id, name)| Team {
                member_ids: members
                    .iter()
                    .filter(|(team, _)| *team == id)
                    .map(|(_, user)| user.clone())
                    .collect(),
                id,
                name,
            })
            .collect(),
    ))
}

/// Rename a team (admin).
#[utoipa::path(patch, path = "/api/teams/{id}", tag = "directory", request_body = Rename,
    params(("id" = String, Path)), responses((status = 200, body = Named), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_team(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Rename>,
) -> ApiResult<Json<Named>> {
    require_admin(&caller)?;
    Ok(Json(
        rename_named(&state, &caller, NamedKind::Team, &id, body).await?,
    ))
}

// ---- queues ------------------------------------------------------------------

/// A queue, owned by one team.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Queue {
    pub id: String,
    pub name: String,
    pub team_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQueue {
    pub id: Option<String>,
    pub name: String,
    pub team_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueChange {
    pub name: Option<String>,
    pub team_id: Option<String>,
}

/// Create a queue of a team (admin).
#[utoipa::path(post, path = "/api/queues", tag = "directory", request_body = NewQueue,
    responses((status = 201, body = Queue), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_queue(
    caller: Caller,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewQueue>,
) -> ApiResult<(StatusCode, Json<Queue>)> {
    require_admin(&caller)?;
    let queue = Queue {
        id: valid_id("id", body.id.as_deref())?,
        name: valid_name(&body.name)?,
        team_id: body.team_id,
    };
    let now = OffsetDateTime::now_utc();
    let mut tx = state.store.begin_write().await?;
    on_write!(tx, connection => {
        sqlx::query("INSERT INTO queues (id, name, team_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&queue.id)
            .bind(&queue.name)
            .bind(&queue.team_id)
            .bind(now)
            .execute(&mut *connection)
            .await
            .map_err(|e| write_error(e, &format!("queue {} of team {}", queue.id, queue.team_id)))?;
    });
    record_queue(&mut tx, &caller, &queue).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(queue)))
}

/// List queues. Any signed-in user may list them: they name ticket routes.
#[utoipa::path(get, path = "/api/queues", tag = "directory", responses((status = 200, body = [Queue])), security(("bearer" = [])))]
async fn list_queues(
    _caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<Queue>>> {
    Ok(Json(on_pool!(state.store.database(), pool => {
        sqlx::query_as("SELECT id, name, team_id FROM queues ORDER BY id")
            .fetch_all(pool)
            .await?
    })))
}

/// Rename a queue or give it to another team (admin).
#[utoipa::path(patch, path = "/api/queues/{id}", tag = "directory", request_body = QueueChange,
    params(("id" = String, Path)), responses((status = 200, body = Queue), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_queue(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<QueueChange>,
) -> ApiResult<Json<Queue>> {
    require_admin(&caller)?;
    let name = body.name.as_deref().map(valid_name).transpose()?;
    let mut tx = state.store.begin_write().await?;
    let found: Option<Queue> = on_write!(tx, connection => {
        sqlx::query_as(
            "UPDATE queues SET name = COALESCE($1, name), team_id = COALESCE($2, team_id) \
             WHERE id = $3 RETURNING id, name, team_id",
        )
        .bind(name)
        .bind(body.team_id)
        .bind(&id)
        .fetch_optional(&mut *connection)
        .await
        .map_err(|e| write_error(e, &format!("queue {id}")))?
    });
    let queue = found.ok_or_else(|| ApiError::not_found(format!("no queue with id {id}")))?;
    record_queue(&mut tx, &caller, &queue).await?;
    tx.commit().await?;
    Ok(Json(queue))
}

/// The queue as it now is, in its stream.
async fn record_queue(tx: &mut WriteTx, caller: &Caller, queue: &Queue) -> ApiResult<()> {
    let saved = DirectoryEvent::QueueSaved {
        name: queue.name.clone(),
        team_id: queue.team_id.clone(),
    };
    Ok(record(tx, &caller.as_actor(), Entity::Queue, &queue.id, saved).await?)
}

// ---- users -------------------------------------------------------------------

/// A user; `id` is the `sub` of their tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub company_id: Option<String>,
    pub team_ids: Vec<String>,
}

/// A user as `GET /api/users` lists them: with whether they are online.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedUser {
    #[serde(flatten)]
    pub user: User,
    /// Connected now, on any node: on the presence list of one of their
    /// teams' rooms (see README, Presence).
    pub online: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub company_id: Option<String>,
    #[serde(default)]
    pub team_ids: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub company_id: Option<String>,
    pub team_ids: Option<Vec<String>>,
}

fn check_user(user: &User) -> ApiResult<()> {
    validate::id("id", &user.id).map_err(ApiError::from)?;
    if user.role == Role::Customer && user.company_id.is_none() {
        return Err(
            ApiError::unprocessable("validation_failed", "a customer needs a company_id")
                .with_field("company_id"),
        );
    }
    if user.role == Role::Customer && !user.team_ids.is_empty() {
        return Err(ApiError::unprocessable(
            "validation_failed",
            "customers cannot belong to teams",
        )
        .with_field("team_ids"));
    }
    Ok(())
}

/// Writes `user` and replaces their memberships, with the change's event,
/// in one transaction.
async fn save_user(state: &AppState, caller: &Caller, user: &User, insert: bool) -> ApiResult<()> {
    check_user(user)?;
    let now = OffsetDateTime::now_utc();
    let what = format!("user {}", user.id);
    let mut tx = state.store.begin_write().await?;
    on_write!(tx, connection => {
        let saved = if insert {
            sqlx::query("INSERT INTO users (id, name, role, company_id, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&user.id)
                .bind(&user.name)
                .bind(user.role.as_str())
                .bind(&user.company_id)
                .bind(now)
        } else {
            sqlx::query("UPDATE users SET name = $2, role = $3, company_id = $4 WHERE id = $1")
                .bind(&user.id)
                .bind(&user.name)
                .bind(user.role.as_str())
                .bind(&user.company_id)
        };
        saved.execute(&mut *connection).await.map_err(|e| write_error(e, &what))?;
        sqlx::query("DELETE FROM team_members WHERE user_id = $1")
            .bind(&user.id)
            .execute(&mut *connection)
            .await?;
        for team in &user.team_ids {
            sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)")
                .bind(team)
                .bind(&user.id)
                .execute(&mut *connection)
                .await
                .map_err(|e| write_error(e, &format!("membership of {} in team {team}", user.id)))?;
        }
    });
    let saved = DirectoryEvent::UserSaved {
        name: user.name.clone(),
        role: user.role.as_str().to_owned(),
        company_id: user.company_id.clone(),
        team_ids: user.team_ids.clone(),
    };
    record(&mut tx, &caller.as_actor(), Entity::User, &user.id, saved).await?;
    tx.commit().await?;
    // Connections of this user may have lost rooms: let the gateway re-check.
    Ok(state.directory_changes.publish(&user.id).await?)
}

async fn load_user(state: &AppState, id: &str) -> ApiResult<Option<User>> {
    let row: Option<(String, String, String, Option<String>)> = on_pool!(state.store.database(), pool => {
        sqlx::query_as("SELECT id, name, role, company_id FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    let Some((id, name, role, company_id)) = row else {
        return Ok(None);
    };
    let team_ids = state.directory.caller_facts(&id).await?.team_ids;
    Ok(Some(User {
        role: role
            .parse()
            .map_err(|e: String| ApiError::internal(anyhow::anyhow!(e)))?,
        id,
        name,
        company_id,
        team_ids,
    }))
}

/// Create a user (admin).
#[utoipa::path(post, path = "/api/users", tag = "directory", request_body = NewUser,
    responses((status = 201, body = User), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_user(
    caller: Caller,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    require_admin(&caller)?;
    let user = User {
        id: body.id,
        name: valid_name(&body.name)?,
        role: body.role,
        company_id: body.company_id,
        team_ids: body.team_ids,
    };
    save_user(&state, &caller, &user, true).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Only the members of this team. Agents must give one of their own
    /// teams: they are listed its staff, to assign a ticket to a colleague.
    pub team: Option<String>,
}

/// List users with their teams and whether they are online: every user for
/// admins; for an agent, the staff of one of their teams (`?team=`), whom
/// they may assign that team's tickets to.
#[utoipa::path(get, path = "/api/users", tag = "directory", params(UsersQuery),
    responses((status = 200, body = [ListedUser]), (status = 400, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_users(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<UsersQuery>,
) -> ApiResult<Json<Vec<ListedUser>>> {
    let staff_only = match (caller.role, &query.team) {
        (Role::Admin, _) => false,
        (Role::Agent, Some(team)) if caller.team_ids.contains(team) => true,
        (Role::Agent, Some(_)) => {
            return Err(ApiError::forbidden(
                "agents list the members of their own teams",
            ));
        }
        (Role::Agent, None) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "agents list the members of one of their teams: give ?team=",
            )
            .with_field("team"));
        }
        _ => return Err(ApiError::forbidden("only admins and agents list users")),
    };
    let rows: Vec<(String, String, String, Option<String>)> = on_pool!(state.store.database(), pool => {
        sqlx::query_as("SELECT id, name, role, company_id FROM users ORDER BY id")
            .fetch_all(pool)
            .await?
    });
    let members: Vec<(String, String)> = on_pool!(state.store.database(), pool => {
        sqlx::query_as("SELECT user_id, team_id FROM team_members ORDER BY team_id")
            .fetch_all(pool)
            .await?
    });
    let online = state.presence.online_users();
    let mut users = Vec::with_capacity(rows.len());
    for (id, name, role, company_id) in rows {
        let team_ids: Vec<String> = members
            .iter()
            .filter(|(user, _)| *user == id)
            .map(|(_, team)| team.clone())
            .collect();
        if query
            .team
            .as_ref()
            .is_some_and(|team| !team_ids.contains(team))
        {
            continue;
        }
        let role: Role = role
            .parse()
            .map_err(|e: String| ApiError::internal(anyhow::anyhow!(e)))?;
        if staff_only && !role.is_staff() {
            continue;
        }
        users.push(ListedUser {
            online: online.contains(&id),
            user: User {
                team_ids,
                role,
                id,
                name,
                company_id,
            },
        });
    }
    Ok(Json(users))
}

/// Change a user's name, role, company or teams (admin).
#[utoipa::path(patch, path = "/api/users/{id}", tag = "directory", request_body = UserChange,
    params(("id" = String, Path)), responses((status = 200, body = User), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_user(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UserChange>,
) -> ApiResult<Json<User>> {
    require_admin(&caller)?;
    let mut user = load_user(&state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user with id {id}")))?;
    if let Some(name) = body.name {
        user.name = valid_name(&name)?;
    }
    if let Some(role) = body.role {
        user.role = role;
    }
    if body.company_id.is_some() {
        user.company_id = body.company_id;
    }
    if let Some(team_ids) = body.team_ids {
        user.team_ids = team_ids;
    }
    save_user(&state, &caller, &user, false).await?;
    Ok(Json(user))
}

// ---- sessions and access ----------------------------------------------------

/// 404 unless the directory knows user `id`.
pub(crate) async fn require_user(state: &AppState, id: &str) -> ApiResult<()> {
    match user_name(state.store.database(), id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("no user with id {id}"))),
    }
}

/// End every session of a user (admin): tokens issued before now are
/// refused, and the user's open sockets close with 4001 on every node.
#[utoipa::path(post, path = "/api/users/{id}/sessions/revoke", tag = "directory",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn revoke_user_sessions(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    require_user(&state, &id).await?;
    revoke_sessions(&state.store, &caller.as_actor(), &id).await?;
    state.directory_changes.publish(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disable a user (admin): every token of theirs, old or new, is refused
/// with 401 `user_disabled` and their open sockets close with 4001 on
/// every node. Their sessions end too, so enabling them again lets in only
/// tokens issued after the disable.
#[utoipa::path(post, path = "/api/users/{id}/disable", tag = "directory",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn disable_user(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    require_user(&state, &id).await?;
    if caller.user_id == id {
        return Err(ApiError::unprocessable(
            "cannot_disable_self",
            "admins cannot disable themselves",
        ));
    }
    disable(&state.store, &caller.as_actor(), &id).await?;
    state.directory_changes.publish(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enable a disabled user again (admin): tokens issued after the disable
/// are accepted again.
#[utoipa::path(post, path = "/api/users/{id}/enable", tag = "directory",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn enable_user(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    require_user(&state, &id).await?;
    enable(&state.store, &caller.as_actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
