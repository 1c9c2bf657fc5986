//! Retention of the room feed: old changes are deleted from the front, and
//! `trimmed_through` records how far, so the gateway can tell a client that
//! its cursor is too old to resume ([`super::recoverable`]).
//!
//! The feed is always a contiguous run of offsets after `trimmed_through`:
//! trimming stops at the first change young enough to keep, even if a later
//! one is older (event times come from the commands' clocks).

use std::collections::BTreeSet;

use bomizzel_store::Database;
use time::{Duration, OffsetDateTime};

use crate::db::{ReadModelTx, begin};
use crate::error::ProjectionError;
use crate::on_tx;
use crate::sql::{Args, execute, in_lists};

/// How long changes are kept unless configured otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::days(7);

/// Most offsets deleted in one transaction, so that trimming a large
/// backlog never holds the write lock for long.
const SLICE: i64 = 10_000;

/// Deletes the changes that happened before `older_than`, from the oldest
/// on, and raises `trimmed_through`; returns how many changes went.
pub async fn trim(database: &Database, older_than: OffsetDateTime) -> Result<u64, ProjectionError> {
    let cutoff = older_than.unix_timestamp();
    let mut deleted = 0;
    loop {
        let mut tx = begin(database).await?;
        let slice = trim_slice(&mut tx, cutoff).await?;
        tx.commit().await?;
        deleted += slice.deleted;
        if slice.finished {
            return Ok(deleted);
        }
    }
}

/// What one transaction of trimming did.
struct Slice {
    deleted: u64,
    /// Nothing more is old enough to go.
    finished: bool,
}

async fn trim_slice(tx: &mut ReadModelTx<'_>, cutoff: i64) -> Result<Slice, ProjectionError> {
    let bounds: Option<(String, i64, i64)> = on_tx!(&mut *tx, connection => {
        sqlx::query_as("SELECT epoch, trimmed_through, last_offset FROM room_feed_meta WHERE id = 1")
            .fetch_optional(connection)
            .await?
    });
    let Some((epoch, trimmed_through, last_offset)) = bounds else {
        return Ok(Slice {
            deleted: 0,
            finished: true,
        });
    };
    let slice_end = last_offset.min(trimmed_through + SLICE);
    let first_kept: Option<i64> = on_tx!(&mut *tx, connection => {
        sqlx::query_scalar(
            "SELECT MIN(\"offset\") FROM room_feed \
             WHERE \"offset\" > $1 AND \"offset\" <= $2 AND created_unix >= $3",
        )
        .bind(trimmed_through)
        .bind(slice_end)
        .bind(cutoff)
        .fetch_one(connection)
        .await?
    });
    let through = first_kept.map_or(slice_end, |kept| kept - 1);
    let finished = first_kept.is_some() || through == last_offset;
    if through <= trimmed_through {
        return Ok(Slice {
            deleted: 0,
            finished,
        });
    }

    // Claims the slice first: on PostgreSQL the row lock keeps a rebuild or
    // another trim from changing the feed under this transaction, and a
    // feed that changed since the read above is left alone.
    let claimed = execute(
        tx,
        "UPDATE room_feed_meta SET trimmed_through = $1 \
         WHERE id = 1 AND epoch = $2 AND trimmed_through = $3",
        &Args::numbered([through.into(), epoch.into(), trimmed_through.into()]),
    )
    .await?;
    if claimed == 0 {
        return Ok(Slice {
            deleted: 0,
            finished: true,
        });
    }

    let room_lists: Vec<String> = on_tx!(&mut *tx, connection => {
        sqlx::query_scalar("SELECT rooms FROM room_feed WHERE \"offset\" > $1 AND \"offset\" <= $2")
            .bind(trimmed_through)
            .bind(through)
            .fetch_all(connection)
            .await?
    });
    let mut rooms = BTreeSet::new();
    for list in room_lists {
        let listed: Vec<String> = serde_json::from_str(&list)
            .map_err(|error| sqlx::Error::Decode(error.to_string().into()))?;
        rooms.extend(listed);
    }
    let rooms: Vec<String> = rooms.into_iter().collect();
    // By room, so each delete is a range of the (room, offset) key.
    for chunk in in_lists(&rooms) {
        let mut args = Args::for_tx(tx);
        let sql = format!(
            "DELETE FROM room_feed_rooms WHERE room IN ({}) AND \"offset\" <= {}",
            args.push_set(chunk.iter().map(String::as_str)),
            args.push(through)
        );
        execute(tx, &sql, &args).await?;
    }
    let deleted = execute(
        tx,
        "DELETE FROM room_feed WHERE \"offset\" <= $1",
        &Args::numbered([through.into()]),
    )
    .await?;
    Ok(Slice { deleted, finished })
}
