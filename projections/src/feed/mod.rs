//! Read model: the room feed (projection `room_feed`), what the gateway
//! replays to clients and tails live.
//!
//! Each event becomes one or more changes ([`change`]); each change gets the
//! feed's next `offset` (previous + 1, in projection order), so that a
//! client can resume between two changes of one event that go to the same
//! room (a `user:ticket_assigned` and a `notification:created`, say). Within
//! a room offsets strictly increase. `room_feed_rooms` indexes the changes
//! by room for per-room replay.
//!
//! `room_feed_tickets` holds each ticket's version as customers count it
//! ([`customer_versions`]).
//!
//! `room_feed_meta` holds the feed's `epoch`, its `last_offset` (the head)
//! and `trimmed_through`. The epoch is a new random id whenever the feed
//! starts over: the migration that creates the feed gives it its first one,
//! and a rebuild empties the row, so the projection finds none and starts a
//! new one. Offsets restart with a rebuild, so a client cursor is only
//! meaningful with the epoch it was read under.

mod change;
mod customer_versions;
mod read;
mod retention;

use async_trait::async_trait;
use uuid::Uuid;

use crate::db::ReadModelTx;
use crate::error::ProjectionError;
use crate::event::ProjectedEvent;
use crate::notifications::plan;
use crate::on_tx;
use crate::projection::Projection;
use crate::sql::{Args, Value, execute, insert_rows};

pub use change::Audience;
pub use read::{FeedChange, FeedMeta, head, meta, recoverable, replay, since};
pub use retention::{DEFAULT_RETENTION, trim};

const CHANGE_COLUMNS: [&str; 8] = [
    "\"offset\"",
    "position",
    "event",
    "rooms",
    "audience",
    "payload",
    "created_at",
    "created_unix",
];
const ROOM_COLUMNS: [&str; 2] = ["room", "\"offset\""];

/// Builds `room_feed`, `room_feed_rooms` and `room_feed_meta`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoomFeedProjection;

/// The room feed projection's name (its checkpoint key).
pub const NAME: &str = "room_feed";

#[async_trait]
impl Projection for RoomFeedProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "room_feed_rooms",
            "room_feed",
            "room_feed_meta",
            "room_feed_tickets",
        ]
    }

    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[ProjectedEvent],
    ) -> Result<(), ProjectionError> {
        if events.is_empty() {
            return Ok(());
        }
        let stored: Option<(String, i64)> = on_tx!(&mut *tx, connection => {
            sqlx::query_as("SELECT epoch, last_offset FROM room_feed_meta WHERE id = 1")
                .fetch_optional(connection)
                .await?
        });
        let mut offset = stored.as_ref().map_or(0, |(_, last)| *last);
        let epoch = match stored {
            Some((epoch, _)) => epoch,
            None => Uuid::new_v4().simple().to_string(),
        };

        let mut change_values = Vec::new();
        let mut room_rows = Vec::new();
        let feed_tickets = customer_versions::advance(tx, events).await?;
        let planned = plan(tx, events).await?;
        for ((event, notifications), ticket) in events.iter().zip(planned).zip(feed_tickets) {
            let rejected = |error: serde_json::Error| ProjectionError::Rejected {
                position: event.position,
                reason: format!("feed change cannot be serialized: {error}"),
            };
            let changes = change::changes(event, ticket, &notifications);
            for change in changes.map_err(rejected)? {
                offset += 1;
                room_rows.extend(change.rooms.iter().map(|room| (room.clone(), offset)));
                change_values.extend([
                    Value::from(offset),
                    event.position.into(),
                    change.event.into(),
                    serde_json::to_string(&change.rooms)
                        .map_err(rejected)?
                        .into(),
                    change.audience.as_str().into(),
                    change.payload.to_string().into(),
                    event.occurred_at().into(),
                    event.occurred_at().unix_timestamp().into(),
                ]);
            }
        }
        insert_rows(tx, "room_feed", &CHANGE_COLUMNS, "", change_values).await?;
        // In key order: each index page is then written once per batch, not
        // once per row (measured: up to twice as fast on large batches).
        room_rows.sort_unstable();
        let room_values = room_rows
            .into_iter()
            .flat_map(|(room, offset)| [Value::from(room), offset.into()])
            .collect();
        insert_rows(tx, "room_feed_rooms", &ROOM_COLUMNS, "", room_values).await?;
        execute(
            tx,
            "INSERT INTO room_feed_meta (id, epoch, last_offset, trimmed_through) \
             VALUES (1, $1, $2, 0) \
             ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, last_offset = excluded.last_offset",
            &Args::numbered([epoch.into(), offset.into()]),
        )
        .await?;
        Ok(())
    }
}
