//! The directory's records that decide who a caller is and what they
//! belong to: teams and their queues, ended sessions and disabled users.
//! Both front doors read them (permissions, rooms) and `api`'s admin
//! routes write the session and disable records through here, so the SQL
//! that grants or ends access is in one place. Every write also appends
//! its change to the log in the same transaction ([`record`]), with the
//! acting user, so the log tells who could do what when.

use bomizzel_domain::directory::{DirectoryEvent, Entity, stream_id};
use bomizzel_projections::on_pool;
use bomizzel_store::{
    AppendRequest, Database, EventStore, ExpectedVersion, Metadata, NewEvent, WriteTx, on_write,
};
use time::OffsetDateTime;

use crate::error::IdentityResult;

/// What permission checks need to know about a token's subject.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CallerFacts {
    pub team_ids: Vec<String>,
    pub not_before_unix: Option<i64>,
    /// An admin disabled the user: every token is refused.
    pub disabled: bool,
}

/// One round trip: a row per team of the user (one row with no team when
/// there is none), each carrying the session and disable records.
pub(crate) async fn caller_facts(
    database: &Database,
    user_id: &str,
) -> IdentityResult<CallerFacts> {
    let rows: Vec<(Option<String>, Option<i64>, bool)> = on_pool!(database, pool => {
        sqlx::query_as(
            "SELECT m.team_id, \
             (SELECT not_before_unix FROM revoked_sessions WHERE user_id = me.id), \
             EXISTS (SELECT 1 FROM disabled_users WHERE user_id = me.id) \
             FROM (SELECT CAST($1 AS TEXT) AS id) me \
             LEFT JOIN team_members m ON m.user_id = me.id ORDER BY m.team_id",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?
    });
    let (not_before_unix, disabled) = rows
        .first()
        .map_or((None, false), |(_, not_before, disabled)| {
            (*not_before, *disabled)
        });
    Ok(CallerFacts {
        team_ids: rows.into_iter().filter_map(|(team, _, _)| team).collect(),
        not_before_unix,
        disabled,
    })
}

/// The team that owns `queue_id`, or `None` when there is no such queue.
pub(crate) async fn team_of_queue(
    database: &Database,
    queue_id: &str,
) -> IdentityResult<Option<String>> {
    Ok(on_pool!(database, pool => {
        sqlx::query_scalar("SELECT team_id FROM queues WHERE id = $1")
            .bind(queue_id)
            .fetch_optional(pool)
            .await?
    }))
}

/// The queues of the teams `user_id` belongs to, in one query.
pub async fn queues_of_member(database: &Database, user_id: &str) -> IdentityResult<Vec<String>> {
    Ok(on_pool!(database, pool => {
        sqlx::query_scalar(
            "SELECT q.id FROM queues q JOIN team_members m ON m.team_id = q.team_id \
             WHERE m.user_id = $1 ORDER BY q.id",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?
    }))
}

/// The directory name of `user_id`, if the directory knows the user.
pub async fn user_name(database: &Database, user_id: &str) -> IdentityResult<Option<String>> {
    Ok(on_pool!(database, pool => {
        sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await?
    }))
}

/// Refuses tokens of `user_id` issued before `$2`; binds the user id.
const REVOKE_SESSIONS: &str = "INSERT INTO revoked_sessions (user_id, not_before_unix) \
     VALUES ($1, $2) \
     ON CONFLICT (user_id) DO UPDATE SET not_before_unix = excluded.not_before_unix";

/// Now, rounded up: a token issued earlier in this very second is refused too.
fn revoked_before() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp() + 1
}

/// Appends `event` to the stream of `entity` `id` in `tx`, by `actor`: a
/// directory change and its table writes commit together.
pub async fn record(
    tx: &mut WriteTx,
    actor: &Metadata,
    entity: Entity,
    id: &str,
    event: DirectoryEvent,
) -> IdentityResult<()> {
    let (event_type, payload) = event.to_stored();
    tx.append(AppendRequest {
        stream_id: stream_id(entity, id),
        expected_version: ExpectedVersion::Any,
        events: vec![NewEvent {
            event_type,
            schema_version: 1,
            payload,
        }],
        metadata: actor.clone(),
    })
    .await?;
    Ok(())
}

/// Refuses tokens of `user_id` issued before now (logout, or an admin
/// ending their sessions).
pub async fn revoke_sessions(
    store: &EventStore,
    actor: &Metadata,
    user_id: &str,
) -> IdentityResult<()> {
    let not_before_unix = revoked_before();
    let mut tx = store.begin_write().await?;
    on_write!(tx, connection => {
        sqlx::query(REVOKE_SESSIONS)
            .bind(user_id)
            .bind(not_before_unix)
            .execute(&mut *connection)
            .await?;
    });
    let revoked = DirectoryEvent::SessionsRevoked { not_before_unix };
    record(&mut tx, actor, Entity::User, user_id, revoked).await?;
    Ok(tx.commit().await?)
}

/// Refuses every token of `user_id`, old or new, and ends their sessions
/// in the same transaction, so enabling them again lets in only tokens
/// issued after this.
pub async fn disable(store: &EventStore, actor: &Metadata, user_id: &str) -> IdentityResult<()> {
    let not_before_unix = revoked_before();
    let mut tx = store.begin_write().await?;
    on_write!(tx, connection => {
        sqlx::query(
            "INSERT INTO disabled_users (user_id, disabled_at) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(OffsetDateTime::now_utc())
        .execute(&mut *connection)
        .await?;
        sqlx::query(REVOKE_SESSIONS)
            .bind(user_id)
            .bind(not_before_unix)
            .execute(&mut *connection)
            .await?;
    });
    record(
        &mut tx,
        actor,
        Entity::User,
        user_id,
        DirectoryEvent::UserDisabled,
    )
    .await?;
    let revoked = DirectoryEvent::SessionsRevoked { not_before_unix };
    record(&mut tx, actor, Entity::User, user_id, revoked).await?;
    Ok(tx.commit().await?)
}

/// Accepts `user_id`'s tokens again (those issued after the disable).
pub async fn enable(store: &EventStore, actor: &Metadata, user_id: &str) -> IdentityResult<()> {
    let mut tx = store.begin_write().await?;
    on_write!(tx, connection => {
        sqlx::query("DELETE FROM disabled_users WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *connection)
            .await?;
    });
    record(
        &mut tx,
        actor,
        Entity::User,
        user_id,
        DirectoryEvent::UserEnabled,
    )
    .await?;
    Ok(tx.commit().await?)
}

/// How `user_id` appears on presence lists: the directory's name (`None`
/// for a user it does not know) and whether customers may see it.
pub async fn presence_name(
    database: &Database,
    user_id: &str,
) -> IdentityResult<(Option<String>, bool)> {
    Ok(on_pool!(database, pool => {
        sqlx::query_as(
            "SELECT (SELECT name FROM users WHERE id = $1), \
             EXISTS (SELECT 1 FROM public_names WHERE user_id = $1)",
        )
        .bind(user_id)
        .fetch_one(pool)
        .await?
    }))
}

/// Marks `user_id`'s name public to customers on presence lists, or not.
pub async fn set_name_public(
    database: &Database,
    user_id: &str,
    public: bool,
) -> IdentityResult<()> {
    on_pool!(database, pool => {
        if public {
            sqlx::query("INSERT INTO public_names (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING")
                .bind(user_id)
                .execute(pool)
                .await?;
        } else {
            sqlx::query("DELETE FROM public_names WHERE user_id = $1")
                .bind(user_id)
                .execute(pool)
                .await?;
        }
    });
    Ok(())
}
