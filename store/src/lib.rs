//! The append-only event log of Bomizzel on SQLite (embedded default) and
//! PostgreSQL (several nodes).
//!
//! Invariant everything else rests on: positions are dense and become
//! visible in order, so a reader that has seen position P never later finds
//! a newly committed event at a position <= P. Projection checkpoints and
//! client cursors are plain positions because of it.
//!
//! Appends go through one group-commit writer per store ([`writer`]), which
//! decides a whole batch against the stored stream versions and idempotency
//! keys ([`plan`]) and writes it in one transaction, with each event's
//! links in the two hash chains ([`chain`]) that [`audit`] verifies.

pub mod audit;
pub mod chain;
mod cqrs;
mod error;
pub mod health;
mod model;
mod numbers;
mod plan;
mod postgres;
mod row;
mod sqlite;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod write_tx;
mod writer;

pub use cqrs::CqrsRepository;
pub use error::{Result, StoreError};
pub use health::{Availability, Health, Outage};
pub use model::{
    AppendRequest, Appended, ExpectedVersion, Metadata, NewEvent, RecordedAnswer, RecordedEvent,
};
pub use plan::Chaining;
pub use postgres::CHANNEL as POSTGRES_NOTIFY_CHANNEL;
pub use sqlite::write_lock as sqlite_write_lock;
pub use store::{Database, EventStore};
pub use write_tx::{WriteConnection, WriteTx};
