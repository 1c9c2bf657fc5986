//! Read model: queue metrics, for dashboards and analysts (see docs/read-models/metrics.md).
//!
//! [`QueueMetricsProjection`] keeps one row of facts per ticket in the queue it is in now
//! (`queue_ticket_facts`), its durations to first assignment and to resolution
//! (`queue_ticket_durations`, indexed for means, medians and SLA counts), and the facts rolled
//! up per UTC hour (`queue_hourly`); times are the events' `occurred_at` in unix seconds.
//! [`queue_metrics`] and [`hourly`] read them; [`touched_queues`] and [`MetricsCoalescer`] drive
//! the live `queue:metrics_updated` pushes.
//!
//! Definitions:
//! - first assignment: the first `TicketAssigned` of the ticket, whatever came after; its SLA
//!   target is the one of the priority the ticket had then;
//! - resolution: the move to `resolved`, or to `closed` when the ticket was not resolved
//!   (resolved then closed keeps the resolve time). A reopen clears it; the next resolve sets it
//!   again, still measured from creation, so a reopened ticket counts once, with its final
//!   resolution;
//! - hourly buckets count the facts, not the events: a move takes the ticket's counts to the
//!   new queue, a reopen takes its resolution out of the bucket it was in.

mod batch;
mod facts;
mod live;
mod query;
mod sla;
mod storage;

use async_trait::async_trait;

use crate::db::ReadModelTx;
use crate::error::ProjectionError;
use crate::event::ProjectedEvent;
use crate::projection::Projection;

pub use live::{MetricsCoalescer, touched_queues};
pub use query::{
    DurationStats, HourlyBucket, OpenByPriority, OpenByStatus, QueueMetrics, SlaBreaches, hourly,
    queue_metrics,
};
pub use sla::SlaTargets;

/// Projects the log into `queue_ticket_facts`, `queue_ticket_durations` and `queue_hourly`.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueMetricsProjection;

#[async_trait]
impl Projection for QueueMetricsProjection {
    fn name(&self) -> &'static str {
        "queue_metrics"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "queue_hourly",
            "queue_ticket_durations",
            "queue_ticket_facts",
        ]
    }

    /// One read of the touched tickets' facts, a fold in memory, then a few multi-row upserts.
    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[ProjectedEvent],
    ) -> Result<(), ProjectionError> {
        let stored = storage::load_facts(tx, &batch::tickets_to_load(events)).await?;
        let changes = batch::fold(&stored, events)?;
        storage::write(tx, &changes).await?;
        Ok(())
    }
}
