//! Checkpoints: each projection's position in the log, its state and its
//! generation (bumped by every rebuild, so a runner working on an older
//! generation notices and stops instead of mixing old and new).

use std::fmt;
use std::str::FromStr;

use bomizzel_store::Database;
use time::OffsetDateTime;

use crate::db::{self, ReadModelTx};
use crate::error::ProjectionError;
use crate::projection::Projection;
use crate::sql::{Args, execute, key_matches};
use crate::{on_pool, on_tx};

/// Where a projection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Behind the head by at least a batch.
    CatchingUp,
    /// Caught up and following new events.
    Live,
    /// Emptied by a rebuild and not caught up yet: its read model is
    /// incomplete and queries answer 503.
    Rebuilding,
    /// Stopped at an event it cannot apply; `error` says which.
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CatchingUp => "catching_up",
            Self::Live => "live",
            Self::Rebuilding => "rebuilding",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        [Self::CatchingUp, Self::Live, Self::Rebuilding, Self::Failed]
            .into_iter()
            .find(|state| state.as_str() == value)
            .ok_or_else(|| format!("unknown projection state {value:?}"))
    }
}

/// A projection's stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub name: String,
    pub position: i64,
    pub state: State,
    pub generation: i64,
    pub error: Option<String>,
}

type CheckpointRow = (String, i64, String, i64, Option<String>);

fn from_row((name, position, state, generation, error): CheckpointRow) -> Checkpoint {
    Checkpoint {
        name,
        position,
        // An unknown state can only come from a newer version; treat it as failed so it is looked at.
        state: state.parse().unwrap_or(State::Failed),
        generation,
        error,
    }
}

const SELECT: &str = "SELECT name, position, state, generation, error FROM projection_checkpoints";

/// Loads `name`'s checkpoint, creating it at position 0 the first time.
pub async fn load(database: &Database, name: &str) -> Result<Checkpoint, ProjectionError> {
    let now = OffsetDateTime::now_utc();
    let row: CheckpointRow = on_pool!(database, pool => {
        sqlx::query(
            "INSERT INTO projection_checkpoints (name, position, state, generation, updated_at) \
             VALUES ($1, 0, 'catching_up', 1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now)
        .execute(pool)
        .await?;
        sqlx::query_as(&format!("{SELECT} WHERE name = $1"))
            .bind(name)
            .fetch_one(pool)
            .await?
    });
    Ok(from_row(row))
}

/// Every stored checkpoint, by name.
pub async fn all(database: &Database) -> Result<Vec<Checkpoint>, ProjectionError> {
    let rows: Vec<CheckpointRow> = on_pool!(database, pool => {
        sqlx::query_as(&format!("{SELECT} ORDER BY name")).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(from_row).collect())
}

/// Moves each of `checkpoints` that `target` gives a place (its position
/// and state) to it inside the batch's transaction, only if nobody else
/// moved it meanwhile; returns them all in their order. One statement moves
/// all that go to the same place (a shared runner's batch moves all its
/// members in one): on SQLite each statement is a round trip to the
/// connection's thread.
pub(crate) async fn advance(
    tx: &mut ReadModelTx<'_>,
    checkpoints: Vec<Checkpoint>,
    target: impl Fn(&Checkpoint) -> Option<(i64, State)>,
) -> Result<Vec<Checkpoint>, ProjectionError> {
    let now = OffsetDateTime::now_utc();
    let targets: Vec<Option<(i64, State)>> = checkpoints.iter().map(&target).collect();
    let mut places: Vec<(i64, State)> = Vec::new();
    for place in targets.iter().flatten() {
        if !places.contains(place) {
            places.push(*place);
        }
    }
    for (position, state) in places {
        let from: Vec<&Checkpoint> = checkpoints
            .iter()
            .zip(&targets)
            .filter(|(_, to)| **to == Some((position, state)))
            .map(|(from, _)| from)
            .collect();
        move_together(tx, &from, position, state, now).await?;
    }
    Ok(checkpoints
        .into_iter()
        .zip(targets)
        .map(|(from, to)| match to {
            Some((position, state)) => Checkpoint {
                position,
                state,
                error: None,
                ..from
            },
            None => from,
        })
        .collect())
}

/// Moves every one of `from` to `position` and `state` in one statement;
/// superseded when any of them is no longer where it was read.
async fn move_together(
    tx: &mut ReadModelTx<'_>,
    from: &[&Checkpoint],
    position: i64,
    state: State,
    now: OffsetDateTime,
) -> Result<(), ProjectionError> {
    let mut args = Args::for_tx(tx);
    let sql = format!(
        "UPDATE projection_checkpoints SET position = {}, state = {}, error = NULL, \
         updated_at = {} WHERE {}",
        args.push(position),
        args.push(state.as_str()),
        args.push(now),
        key_matches(
            &mut args,
            &["name", "position", "generation"],
            from.iter().map(|checkpoint| {
                [
                    checkpoint.name.as_str().into(),
                    checkpoint.position.into(),
                    checkpoint.generation.into(),
                ]
            }),
        )
    );
    if execute(tx, &sql, &args).await? != from.len() as u64 {
        let names: Vec<&str> = from
            .iter()
            .map(|checkpoint| checkpoint.name.as_str())
            .collect();
        return Err(ProjectionError::Superseded(names.join("+")));
    }
    Ok(())
}

/// Records that the projection stopped at an event it cannot apply.
pub(crate) async fn fail(
    database: &Database,
    from: &Checkpoint,
    error: &ProjectionError,
) -> Result<(), ProjectionError> {
    let now = OffsetDateTime::now_utc();
    on_pool!(database, pool => {
        sqlx::query(
            "UPDATE projection_checkpoints SET state = 'failed', error = $1, updated_at = $2 \
             WHERE name = $3 AND generation = $4",
        )
        .bind(error.to_string())
        .bind(now)
        .bind(&from.name)
        .bind(from.generation)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Empties the projection's tables and sends its checkpoint back to 0 in
/// one transaction, starting a new generation in state `rebuilding`.
pub async fn reset(
    database: &Database,
    projection: &dyn Projection,
) -> Result<(), ProjectionError> {
    load(database, projection.name()).await?;
    let now = OffsetDateTime::now_utc();
    let mut tx = db::begin(database).await?;
    for table in projection.tables() {
        on_tx!(&mut tx, connection => {
            sqlx::query(&format!("DELETE FROM {table}")).execute(connection).await?;
        });
    }
    on_tx!(&mut tx, connection => {
        sqlx::query(
            "UPDATE projection_checkpoints SET position = 0, state = 'rebuilding', \
             generation = generation + 1, error = NULL, updated_at = $1 WHERE name = $2",
        )
        .bind(now)
        .bind(projection.name())
        .execute(connection)
        .await?;
    });
    tx.commit().await?;
    Ok(())
}
