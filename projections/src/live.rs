//! Which runners keep the live projections going.
//!
//! On SQLite every write transaction takes the file's one write lock, so
//! five runners meant five transactions per batch queued on it ahead of the
//! commands' appends, each reading and decoding the same new events. There
//! the projections share one runner ([`Grouping::Together`]): one read and
//! one transaction per batch for all of them. PostgreSQL has no such lock;
//! see [`Grouping::for_database`].

use std::sync::Arc;

use bomizzel_store::{Database, EventStore};

use crate::{Projection, Runner, RunnerSettings};

/// Whether live projections share runners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Projections with equal settings share one runner.
    Together,
    /// One runner per projection.
    Separate,
}

impl Grouping {
    /// Together on SQLite; on PostgreSQL separate: its runners' transactions
    /// do not serialise, and measured side by side (ARCHITECTURE.md) one
    /// runner for all did not pay.
    pub fn for_database(database: &Database) -> Self {
        match database {
            Database::Sqlite(_) => Self::Together,
            Database::Postgres(_) => Self::Separate,
        }
    }
}

/// The runners that keep `projections` live, each with its settings. When
/// grouped, projections with equal settings share a runner, so one given a
/// pace of its own (held behind the others, or crashing on purpose) still
/// runs alone.
pub fn live_runners(
    store: &EventStore,
    projections: Vec<(Arc<dyn Projection>, RunnerSettings)>,
    grouping: Grouping,
) -> Vec<Runner> {
    let mut groups: Vec<(RunnerSettings, Vec<Arc<dyn Projection>>)> = Vec::new();
    for (projection, settings) in projections {
        let shared = groups
            .iter_mut()
            .find(|(pace, _)| grouping == Grouping::Together && *pace == settings);
        match shared {
            Some((_, members)) => members.push(projection),
            None => groups.push((settings, vec![projection])),
        }
    }
    groups
        .into_iter()
        .map(|(settings, members)| Runner::together(store.clone(), members, settings))
        .collect()
}
