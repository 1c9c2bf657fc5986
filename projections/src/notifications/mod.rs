//! Read model: the notifications inbox (projection `notifications`).
//!
//! Each event notifies the users [`recipients`] names (high, medium or low
//! level); each notification is one row of `notifications`, keyed by
//! `(user_id, position)`, with the deterministic id `"<position>-<user_id>"`.
//! Rows are written a batch at a time with multi-row inserts. Whether a user
//! has read it is
//! the user's doing, not an event's, so read marks live in
//! `notification_reads`, which this projection does not own: a rebuild
//! recreates the same ids and keeps every read mark.
//!
//! The same rules feed the room feed's `notification:created` changes
//! (see [`crate::feed`]), through [`plan`].

mod inbox;
mod notification;
mod plan;
mod rules;

use async_trait::async_trait;

use crate::db::ReadModelTx;
use crate::error::ProjectionError;
use crate::event::ProjectedEvent;
use crate::projection::Projection;
use crate::sql::{Value, insert_rows};

pub use inbox::{InboxPage, mark_all_read, mark_read, mark_ticket_read, page, unread_count};
pub use notification::{Notification, notification_id};
pub(crate) use plan::plan;
pub(crate) use rules::parse_named;
pub use rules::{Kind, Level, Recipient, recipients};

const COLUMNS: [&str; 8] = [
    "user_id",
    "position",
    "id",
    "level",
    "kind",
    "ticket_id",
    "title",
    "created_at",
];

/// The notifications projection's name (its checkpoint key).
pub const NAME: &str = "notifications";

/// Builds the `notifications` table.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotificationsProjection;

#[async_trait]
impl Projection for NotificationsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["notifications"]
    }

    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[ProjectedEvent],
    ) -> Result<(), ProjectionError> {
        let mut values = Vec::new();
        for notification in plan(tx, events).await?.into_iter().flatten() {
            values.extend([
                Value::from(notification.user_id),
                notification.position.into(),
                notification.id.into(),
                notification.level.as_str().into(),
                notification.kind.as_str().into(),
                notification.ticket_id.into(),
                notification.title.into(),
                notification.created_at.into(),
            ]);
        }
        insert_rows(tx, "notifications", &COLUMNS, "", values).await?;
        Ok(())
    }
}
