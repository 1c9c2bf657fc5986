//! A write transaction that both changes tables of its own and appends to
//! the log, so that the change and its event commit together or not at
//! all. The directory's changes use it: the tables stay what permission
//! checks read at once, and the log still holds every change with its
//! actor.
//!
//! It appends through the same decide-and-write code as the group-commit
//! writer (`append_within`), under the same lock (SQLite: the file's write
//! lock and `BEGIN IMMEDIATE`; PostgreSQL: the append advisory lock, taken
//! at the first append and held to the end), so positions stay dense and
//! the hash chains continue from the writer's last batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Postgres, Sqlite, Transaction};
use tokio::sync::{OwnedMutexGuard, watch};

use crate::error::{Result, StoreError};
use crate::model::{AppendRequest, Appended};
use crate::plan::Chaining;
use crate::store::Database;
use crate::writer::{advance, append_within};
use crate::{postgres, sqlite};

/// The transaction's connection, for the caller's own statements
/// ([`on_write!`](crate::on_write) runs one body on either backend).
#[derive(Debug)]
pub enum WriteConnection {
    /// Holds the file's in-process write lock until the transaction ends.
    Sqlite(Transaction<'static, Sqlite>, OwnedMutexGuard<()>),
    Postgres(Transaction<'static, Postgres>),
}

/// See the module documentation.
#[derive(Debug)]
pub struct WriteTx {
    connection: WriteConnection,
    head: watch::Sender<i64>,
    chaining: Chaining,
    /// The last position this transaction appended.
    appended: Option<i64>,
    /// The store's count of committed write transactions.
    table_writes: Arc<AtomicU64>,
}

impl WriteTx {
    pub(crate) async fn begin(
        database: &Database,
        head: watch::Sender<i64>,
        chaining: Chaining,
        table_writes: Arc<AtomicU64>,
    ) -> Result<Self> {
        let connection = match database {
            Database::Sqlite(pool) => {
                let write = sqlite::write_lock(pool).lock_owned().await;
                WriteConnection::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?, write)
            }
            Database::Postgres(pool) => WriteConnection::Postgres(pool.begin().await?),
        };
        Ok(Self {
            connection,
            head,
            chaining,
            appended: None,
            table_writes,
        })
    }

    /// Takes the append lock now rather than at the first append (on
    /// SQLite it is held from the start): for work that must see the log
    /// as no one else is changing it.
    pub async fn lock_appends(&mut self) -> Result<()> {
        if let WriteConnection::Postgres(tx) = &mut self.connection {
            postgres::lock_appends(tx).await?;
        }
        Ok(())
    }

    /// The connection, for statements of the caller's own.
    pub fn connection(&mut self) -> &mut WriteConnection {
        &mut self.connection
    }

    /// Appends one command's events in this transaction, as
    /// [`EventStore::append`](crate::EventStore::append) would.
    pub async fn append(&mut self, request: AppendRequest) -> Result<Appended> {
        let requests = [request];
        let (outcomes, last) = match &mut self.connection {
            WriteConnection::Sqlite(tx, _) => {
                append_within(&mut **tx, &requests, self.chaining).await?
            }
            WriteConnection::Postgres(tx) => {
                append_within(&mut **tx, &requests, self.chaining).await?
            }
        };
        self.appended = last.or(self.appended);
        outcomes
            .into_iter()
            .next()
            .unwrap_or(Err(StoreError::Closed))
    }

    /// Commits, then counts the write
    /// ([`EventStore::table_writes`](crate::EventStore::table_writes)) and
    /// wakes this process's tailers (other nodes hear of it through the
    /// append's NOTIFY). The commit runs on a task of its own, so a caller
    /// dropped mid-commit (a request whose client left) cannot leave a
    /// commit uncounted.
    pub async fn commit(self) -> Result<()> {
        match tokio::spawn(self.commit_and_count()).await {
            Ok(committed) => committed,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(StoreError::Closed),
        }
    }

    async fn commit_and_count(self) -> Result<()> {
        let committed = match self.connection {
            // The lock is released only once the commit is through.
            WriteConnection::Sqlite(tx, _write) => tx.commit().await,
            WriteConnection::Postgres(tx) => tx.commit().await,
        };
        // Counted even when the commit failed: it may have committed.
        self.table_writes.fetch_add(1, Ordering::AcqRel);
        committed?;
        if let Some(position) = self.appended {
            advance(&self.head, position);
        }
        Ok(())
    }
}

/// Runs `$body` with `$conn` bound to the [`WriteTx`]'s connection
/// (`&mut *$conn` is an executor) on whichever backend it is.
#[macro_export]
macro_rules! on_write {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx.connection() {
            $crate::WriteConnection::Sqlite(transaction, _) => {
                let $conn = &mut **transaction;
                $body
            }
            $crate::WriteConnection::Postgres(transaction) => {
                let $conn = &mut **transaction;
                $body
            }
        }
    };
}
