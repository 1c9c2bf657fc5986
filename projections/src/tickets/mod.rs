//! Read model `tickets`: one row per ticket with its current state (`tickets`), its tags for
//! filtering (`ticket_tags`) and its comments (`ticket_comments`), and the queries the API
//! lists and shows tickets with ([`query`]).
//!
//! A batch is applied with one read of the tickets it continues, an in-memory fold (`fold`)
//! and multi-row upserts (`write`); times come from the events' metadata and ids from the
//! events, so live batches and a rebuild give the same rows.

mod cursor;
mod filter;
mod fold;
pub mod query;
mod row;
pub mod sla;
mod write;

use async_trait::async_trait;

pub use cursor::CursorError;
pub use filter::{
    AssigneeFilter, DEFAULT_LIMIT, Direction, ListedTicket, MAX_LIMIT, Page, Search, Sort,
    SortField, TicketFilter, TicketPage, TimeRange, Visibility,
};
pub use query::ListError;
pub use row::{CommentRow, TicketRow};
pub use sla::{DueTimes, Sla, SlaState};

use crate::db::ReadModelTx;
use crate::error::ProjectionError;
use crate::event::{ProjectedEvent, continued_tickets};
use crate::projection::Projection;

/// The tickets projection's name (its checkpoint key).
pub const NAME: &str = "tickets";

/// Keeps the `tickets`, `ticket_tags` and `ticket_comments` tables.
#[derive(Debug, Clone, Copy, Default)]
pub struct TicketsProjection;

#[async_trait]
impl Projection for TicketsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["ticket_comments", "ticket_tags", "tickets"]
    }

    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[ProjectedEvent],
    ) -> Result<(), ProjectionError> {
        let stored = write::load(tx, &continued_tickets(events)).await?;
        let changes = fold::fold(stored, events)?;
        write::save(tx, changes).await?;
        Ok(())
    }
}
