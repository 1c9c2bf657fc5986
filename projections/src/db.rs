//! One SQL text for both backends. Read-model SQL is written once with `$N`
//! placeholders (which SQLite accepts too) in the dialect both share; the
//! [`on_tx!`](crate::on_tx) and [`on_pool!`](crate::on_pool) macros expand it
//! once per backend, so each expansion is checked against its own driver.
//! SQL whose text is built at run time (multi-row writes, `IN (...)` lists,
//! optional filters) goes through `crate::sql` instead, which writes `?`
//! placeholders on SQLite.
//!
//! `begin` opens a write transaction on the shared pool; it lives here,
//! with [`ReadModelTx`], so that the runner and the modules it drives
//! (`checkpoint`, the feed's retention) all depend on this module rather
//! than on each other.

use bomizzel_store::Database;
use sqlx::{Postgres, Sqlite, Transaction};
use tokio::sync::OwnedMutexGuard;

/// A read-model transaction on either backend.
#[derive(Debug)]
pub enum ReadModelTx<'c> {
    /// A write transaction holds the file's in-process write lock
    /// ([`bomizzel_store::sqlite_write_lock`]) until it ends.
    Sqlite(Transaction<'c, Sqlite>, Option<OwnedMutexGuard<()>>),
    Postgres(Transaction<'c, Postgres>),
}

impl ReadModelTx<'_> {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            // The lock is released only once the commit is through.
            Self::Sqlite(tx, _write) => tx.commit().await,
            Self::Postgres(tx) => tx.commit().await,
        }
    }
}

/// A write transaction on the shared pool; on SQLite it takes the write lock
/// up front so that reading then writing cannot fail half-way.
pub(crate) async fn begin(database: &Database) -> Result<ReadModelTx<'static>, sqlx::Error> {
    Ok(match database {
        Database::Sqlite(pool) => {
            let write = bomizzel_store::sqlite_write_lock(pool).lock_owned().await;
            ReadModelTx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?, Some(write))
        }
        Database::Postgres(pool) => ReadModelTx::Postgres(pool.begin().await?),
    })
}

/// Runs `$body` with `$conn` bound to the transaction's connection
/// (`&mut *$conn` is an executor) on whichever backend `$tx` is.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::db::ReadModelTx::Sqlite(transaction, _) => {
                let $conn = &mut **transaction;
                $body
            }
            $crate::db::ReadModelTx::Postgres(transaction) => {
                let $conn = &mut **transaction;
                $body
            }
        }
    };
}

/// Runs `$body` with `$pool` bound to the store's pool on whichever backend
/// `$database` (a `bomizzel_store::Database`) is.
#[macro_export]
macro_rules! on_pool {
    ($database:expr, $pool:ident => $body:expr) => {
        match $database {
            bomizzel_store::Database::Sqlite($pool) => $body,
            bomizzel_store::Database::Postgres($pool) => $body,
        }
    };
}
