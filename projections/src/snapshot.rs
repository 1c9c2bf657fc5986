//! Reads a client may use as a snapshot, and the room-feed offset each is
//! consistent with.
//!
//! The read models and the room feed are separate projections at separate
//! positions. A client that reloads a read model and resumes the feed from
//! some offset misses changes if the offset is past what the read model
//! has, and sees changes twice if it is before. So a snapshot read takes
//! its rows and its projection's position `P` in one read transaction
//! ([`begin`], [`position`]), and [`feed_offset_through`] names the offset
//! `N` with exactly the changes of events at or before `P` up to it: the
//! feed numbers changes in event order, so every later change is from a
//! later event, which the snapshot does not have.

use bomizzel_store::Database;

use crate::db::ReadModelTx;
use crate::feed;
use crate::on_tx;

/// A room-feed offset, with the epoch it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPoint {
    pub epoch: String,
    pub offset: i64,
}

/// A read transaction that sees one committed state throughout: SQLite's
/// deferred transaction reads one WAL snapshot from its first statement,
/// PostgreSQL's repeatable read one snapshot from its first query.
pub(crate) async fn begin(database: &Database) -> Result<ReadModelTx<'static>, sqlx::Error> {
    Ok(match database {
        Database::Sqlite(pool) => ReadModelTx::Sqlite(pool.begin_with("BEGIN").await?, None),
        Database::Postgres(pool) => ReadModelTx::Postgres(
            pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?,
        ),
    })
}

/// Projection `name`'s position as the transaction sees it (0 before its
/// first batch).
pub(crate) async fn position(tx: &mut ReadModelTx<'_>, name: &str) -> Result<i64, sqlx::Error> {
    let found: Option<(i64,)> = on_tx!(&mut *tx, connection => {
        sqlx::query_as("SELECT position FROM projection_checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(connection)
            .await?
    });
    Ok(found.map_or(0, |(position,)| position))
}

/// The feed offset consistent with read models at event `position`, or
/// `None` while the feed has not reached it yet (ask again shortly).
pub async fn feed_offset_through(
    database: &Database,
    position: i64,
) -> Result<Option<FeedPoint>, sqlx::Error> {
    let mut tx = begin(database).await?;
    if self::position(&mut tx, feed::NAME).await? < position {
        return Ok(None);
    }
    let found: (Option<String>, Option<i64>, Option<i64>) = on_tx!(&mut tx, connection => {
        sqlx::query_as(
            "SELECT (SELECT epoch FROM room_feed_meta WHERE id = 1), \
                    (SELECT trimmed_through FROM room_feed_meta WHERE id = 1), \
                    (SELECT \"offset\" FROM room_feed WHERE position <= $1 \
                     ORDER BY \"offset\" DESC LIMIT 1)",
        )
        .bind(position)
        .fetch_one(connection)
        .await?
    });
    tx.commit().await?;
    let (epoch, trimmed_through, offset) = found;
    // Nothing left at or before `position`: it is all trimmed (or there
    // was nothing yet), and the history a resume needs starts after that.
    let offset = offset.or(trimmed_through).unwrap_or(0);
    Ok(Some(FeedPoint {
        epoch: epoch.unwrap_or_default(),
        offset,
    }))
}
