//! The gateway's queries: the feed's epoch and head, per-room replay after a
//! client's offset, and the whole feed after a node's offset for live
//! tailing.
//!
//! Both return every audience; the gateway drops what a connection may not
//! see ([`Audience::reaches_staff`], [`Audience::reaches_customers`]) and
//! pages on by the last offset *returned*, not the last delivered.

use std::collections::BTreeSet;

use bomizzel_store::Database;
use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::error::ProjectionError;
use crate::feed::change::Audience;
use crate::on_pool;
use crate::sql::{Args, fetch, in_lists};

/// One change of the feed, ready to send.
#[derive(Debug, Clone, Serialize)]
pub struct FeedChange {
    /// The feed's sequence number: dense, increasing, per epoch.
    pub offset: i64,
    /// The position of the event the change comes from.
    pub position: i64,
    /// What clients listen for, e.g. `ticket:assigned`.
    pub event: String,
    /// `ticket:<id>`, `queue:<id>`, `team:<id>`, `company:<id>`, `user:<id>`.
    pub rooms: Vec<String>,
    pub audience: Audience,
    /// JSON object with at least `ticket_id` and `version`, kept as stored
    /// text so it is forwarded without parsing.
    pub payload: Box<RawValue>,
    /// When the event happened.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The feed's identity and bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedMeta {
    /// Changes with each rebuild: a cursor from another epoch is void.
    pub epoch: String,
    /// The last offset given to a change (0 before the first).
    pub head: i64,
    /// Every change up to this offset has been trimmed away.
    pub trimmed_through: i64,
}

type ChangeRow = (i64, i64, String, String, String, String, OffsetDateTime);

/// Rooms per union query: SQLite allows at most 500 terms in a compound
/// SELECT.
const ROOMS_PER_QUERY: usize = 100;

const CHANGE_COLUMNS: &str =
    "f.\"offset\", f.position, f.event, f.rooms, f.audience, f.payload, f.created_at";

/// The feed's epoch and bounds; `None` until the projection has applied an
/// event since the feed was created or rebuilt.
pub async fn meta(database: &Database) -> Result<Option<FeedMeta>, ProjectionError> {
    let row: Option<(String, i64, i64)> = on_pool!(database, pool => {
        sqlx::query_as("SELECT epoch, last_offset, trimmed_through FROM room_feed_meta WHERE id = 1")
            .fetch_optional(pool)
            .await?
    });
    Ok(row.map(|(epoch, head, trimmed_through)| FeedMeta {
        epoch,
        head,
        trimmed_through,
    }))
}

/// The last offset given to a change (0 for an empty feed).
pub async fn head(database: &Database) -> Result<i64, ProjectionError> {
    Ok(meta(database).await?.map_or(0, |meta| meta.head))
}

/// Whether a client that has seen every change up to `since` can resume by
/// replay: nothing after it has been trimmed. (The gateway also compares
/// the client's epoch with [`FeedMeta::epoch`].)
pub async fn recoverable(database: &Database, since: i64) -> Result<bool, ProjectionError> {
    let trimmed_through = meta(database).await?.map_or(0, |meta| meta.trimmed_through);
    Ok(since >= trimmed_through)
}

/// The changes for any of `rooms` after `after_offset`, in offset order, each
/// once however many of the rooms it goes to; at most `limit`.
///
/// Reads at most `limit` index entries per room (a union of per-room range
/// scans, not one scan of every entry of every room after the offset), then
/// the changes themselves. A trim running meanwhile can take changes away:
/// check [`recoverable`] for `after_offset` after replaying, not before.
pub async fn replay(
    database: &Database,
    rooms: &[String],
    after_offset: i64,
    limit: u32,
) -> Result<Vec<FeedChange>, ProjectionError> {
    let mut offsets = BTreeSet::new();
    for chunk in rooms.chunks(ROOMS_PER_QUERY) {
        offsets.extend(room_offsets(database, chunk, after_offset, limit).await?);
    }
    let offsets: Vec<i64> = offsets.into_iter().take(limit as usize).collect();
    let mut changes = Vec::with_capacity(offsets.len());
    for chunk in in_lists(&offsets) {
        let mut args = Args::for_database(database);
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM room_feed f WHERE f.\"offset\" IN ({}) \
             ORDER BY f.\"offset\"",
            args.push_set(chunk.iter().copied())
        );
        let rows: Vec<ChangeRow> = fetch(database, &sql, &args).await?;
        for row in rows {
            changes.push(from_row(row)?);
        }
    }
    Ok(changes)
}

/// The first `limit` offsets after `after_offset` of any of `rooms`.
async fn room_offsets(
    database: &Database,
    rooms: &[String],
    after_offset: i64,
    limit: u32,
) -> Result<Vec<i64>, ProjectionError> {
    let per_room: Vec<String> = (0..rooms.len())
        .map(|index| {
            format!(
                "SELECT \"offset\" FROM (SELECT r.\"offset\" FROM room_feed_rooms r \
                 WHERE r.room = ${} AND r.\"offset\" > $1 ORDER BY r.\"offset\" LIMIT $2) room_{index}",
                index + 3
            )
        })
        .collect();
    let sql = format!(
        "SELECT \"offset\" FROM ({}) picked ORDER BY \"offset\" LIMIT $2",
        per_room.join(" UNION ")
    );
    Ok(on_pool!(database, pool => {
        let mut query = sqlx::query_scalar(&sql).bind(after_offset).bind(i64::from(limit));
        for room in rooms {
            query = query.bind(room);
        }
        query.fetch_all(pool).await?
    }))
}

/// Every change after `after_offset`, in offset order, at most `limit`: what
/// a gateway node tails.
pub async fn since(
    database: &Database,
    after_offset: i64,
    limit: u32,
) -> Result<Vec<FeedChange>, ProjectionError> {
    let sql = format!(
        "SELECT {CHANGE_COLUMNS} FROM room_feed f WHERE f.\"offset\" > $1 \
         ORDER BY f.\"offset\" LIMIT $2"
    );
    let rows: Vec<ChangeRow> = on_pool!(database, pool => {
        sqlx::query_as(&sql)
            .bind(after_offset)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
    });
    rows.into_iter().map(from_row).collect()
}

fn from_row(
    (offset, position, event, rooms, audience, payload, created_at): ChangeRow,
) -> Result<FeedChange, ProjectionError> {
    let undecodable = |reason: String| sqlx::Error::Decode(reason.into());
    Ok(FeedChange {
        offset,
        position,
        event,
        rooms: serde_json::from_str(&rooms).map_err(|e| undecodable(e.to_string()))?,
        audience: audience.parse().map_err(undecodable)?,
        payload: RawValue::from_string(payload).map_err(|e| undecodable(e.to_string()))?,
        created_at,
    })
}
