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
//! Numbers increase in the order they are drawn. A create that fails after
//! drawing (refused, conflict) leaves a gap; two creates on different
//! nodes may commit in the other order than they drew. Tickets opened
//! before numbers existed are numbered by `bomizzel_domain`'s upcast (the
//! position of their created event); migration 0011 starts the counter
//! above every position then in the log.

use crate::error::Result;
use crate::sqlite;
use crate::store::{Database, EventStore};

impl EventStore {
    /// The next ticket number (1, 2, 3, ... on a fresh log).
    pub async fn next_ticket_number(&self) -> Result<u64> {
        let number: i64 = match self.database() {
            Database::Sqlite(pool) => {
                let lock = sqlite::write_lock(pool);
                let _held = lock.lock().await;
                // Run to its end, not to its first row: the update commits
                // when the statement completes, and a commit that fails (a
                // full disk) must fail the draw. Stopped at its row, the
                // statement's failed commit went unseen and the number was
                // handed out again, to another ticket.
                let drawn: Vec<i64> = sqlx::query_scalar(
                    "UPDATE ticket_number_counter SET last = last + 1 WHERE id = 1 RETURNING last",
                )
                .fetch_all(pool)
                .await?;
                drawn.first().copied().ok_or(sqlx::Error::RowNotFound)?
            }
            Database::Postgres(pool) => {
                sqlx::query_scalar("SELECT nextval('ticket_numbers')")
                    .fetch_one(pool)
                    .await?
            }
        };
        Ok(u64::try_from(number).unwrap_or_default())
    }
}
