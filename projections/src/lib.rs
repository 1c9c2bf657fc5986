//! Projections: the runner that turns the event log into read models, and
//! the read models themselves.
//!
//! Invariant: a read model and its projection's checkpoint change in the
//! same transaction, so after any crash each event has taken effect exactly
//! once. An event a projection cannot apply stops that projection (state
//! `failed`, with the event's position); it is never skipped.

pub mod checkpoint;
pub mod db;
mod error;
mod event;
pub mod live;
mod projection;
pub mod registry;
mod runner;
pub mod snapshot;
mod sql;

pub use checkpoint::{Checkpoint, State};
pub use db::ReadModelTx;
pub use error::ProjectionError;
pub use event::ProjectedEvent;
pub use live::{Grouping, live_runners};
pub use projection::Projection;
pub use runner::{PROJECTION_CHANNEL, REBUILD_BATCH_SIZE, Runner, RunnerSettings};
#[cfg(feature = "testing")]
pub mod testing;

pub mod feed;
pub mod metrics;
pub mod notifications;
pub mod search;
pub mod tickets;
