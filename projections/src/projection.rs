//! The contract between the runner and a read model.

use async_trait::async_trait;

use crate::db::ReadModelTx;
use crate::error::ProjectionError;
use crate::event::ProjectedEvent;

/// A read model built from the event log. The runner calls [`apply`] with
/// consecutive batches inside a transaction that also moves the
/// projection's checkpoint, so each event takes effect exactly once.
///
/// [`apply`]: Projection::apply
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Stable name: the checkpoint's key and the CLI's argument.
    fn name(&self) -> &'static str;

    /// The tables this projection owns, emptied before a rebuild (children
    /// before parents).
    fn tables(&self) -> &'static [&'static str];

    /// Applies `events` (in position order) to the read model.
    async fn apply(
        &self,
        tx: &mut ReadModelTx<'_>,
        events: &[ProjectedEvent],
    ) -> Result<(), ProjectionError>;
}
