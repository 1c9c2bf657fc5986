//! Ticket numbers: short, unique, increasing numbers handed out before a
//! ticket is opened and recorded in its `TicketCreated` event.
//!
//! The number is drawn from a counter in the database rather than derived
//! at the append: appends are decided by the group-commit writer, which
//! knows streams and positions but no event's meaning, and a command is
//! decided (and its payload written) before the writer sees it. A counter
//! is unique across every node on one database: a PostgreSQL sequence
//! (`ticket_numbers`) is atomic across sessions, and on SQLite the counter
//! row is updated by one statement under the file's write lock.
//!
//! On SQLite each store handle draws [`SQLITE_BLOCK`] numbers at a time and
//! hands them out one by one from memory: a draw there is a write
//! transaction with an fsync under the file's write lock, which the event
//! writer and every projection wait for, so drawing once per create cost
//! more than the create's own append. A number is handed out once (it
//! leaves the block when it is), and a block is only used once its draw
//! committed. PostgreSQL's sequence takes no lock and no fsync, so there
//! each create draws its own number and nodes sharing a database keep
//! numbering in one sequence (processes sharing a SQLite file would
//! interleave their blocks).
//!
//! Numbers increase in the order they are handed out. A create that fails
//! after drawing (refused, conflict) leaves a gap, and so do the numbers
//! left in a block when a SQLite process stops. Tickets opened before
//! numbers existed are numbered by `bomizzel_domain`'s upcast (the
//! position of their created event); migration 0011 starts the counter
//! above every position then in the log.

use tokio::sync::Mutex;

use crate::error::Result;
use crate::sqlite;
use crate::store::{Database, EventStore};

/// How many numbers one draw takes from SQLite's counter.
const SQLITE_BLOCK: u32 = 32;

/// Numbers drawn and not handed out yet, highest first.
#[derive(Debug, Default)]
pub(crate) struct Drawn(Mutex<Vec<u64>>);

impl EventStore {
    /// The next ticket number (1, 2, 3, ... on a fresh log with one node).
    /// Only SQLite's blocks are handed out under a lock: PostgreSQL's
    /// creates draw from the sequence side by side.
    pub async fn next_ticket_number(&self) -> Result<u64> {
        if let Database::Postgres(_) = self.database() {
            return first_of(self.draw_ticket_numbers(1).await?);
        }
        let mut drawn = self.drawn_numbers().0.lock().await;
        if drawn.is_empty() {
            let mut block = self.draw_ticket_numbers(SQLITE_BLOCK).await?;
            block.sort_unstable_by(|a, b| b.cmp(a));
            *drawn = block;
        }
        first_of(drawn.pop())
    }

    /// Takes `count` numbers from the counter: committed, so no other draw
    /// on any node gets them.
    pub async fn draw_ticket_numbers(&self, count: u32) -> Result<Vec<u64>> {
        let drawn: Vec<i64> = match self.database() {
            Database::Sqlite(pool) => {
                let lock = sqlite::write_lock(pool);
                let _held = lock.lock().await;
                // Run to its end, not to its first row: the update commits
                // when the statement completes, and a commit that fails (a
                // full disk) must fail the draw. Stopped at its row, the
                // statement's failed commit went unseen and the numbers
                // were handed out again, to other tickets.
                let last: Vec<i64> = sqlx::query_scalar(
                    "UPDATE ticket_number_counter SET last = last + $1 WHERE id = 1 RETURNING last",
                )
                .bind(i64::from(count))
                .fetch_all(pool)
                .await?;
                let last = last.first().copied().ok_or(sqlx::Error::RowNotFound)?;
                (last - i64::from(count) + 1..=last).collect()
            }
            Database::Postgres(pool) => {
                sqlx::query_scalar("SELECT nextval('ticket_numbers') FROM generate_series(1, $1)")
                    .bind(i64::from(count))
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(drawn
            .into_iter()
            .map(|number| u64::try_from(number).unwrap_or_default())
            .collect())
    }
}

/// The number a draw gave, or an error if it gave none.
fn first_of(numbers: impl IntoIterator<Item = u64>) -> Result<u64> {
    numbers
        .into_iter()
        .next()
        .ok_or_else(|| sqlx::Error::RowNotFound.into())
}
