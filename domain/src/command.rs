//! [`TicketCommand`]: what callers ask a ticket to do. The API layer generates ids and resolves
//! directory data (e.g. the team owning a queue); the aggregate only validates and decides.

use uuid::Uuid;

use crate::priority::Priority;
use crate::status::Status;

/// A request to change one ticket. Handling appends at most one event; a command that would
/// change nothing appends none and still succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketCommand {
    /// Open a new ticket. `id` is a UUIDv7 from the caller and must equal the aggregate id the
    /// command is executed against (`id.to_string()`). Tags are normalized (see
    /// [`crate::validate::tags`]); the ticket starts `open` and unassigned.
    Create {
        id: Uuid,
        /// Its short number, allocated by the caller from the store's
        /// counter (`EventStore::next_ticket_number`).
        number: u64,
        title: String,
        description: String,
        company_id: String,
        requester_id: String,
        queue_id: String,
        team_id: String,
        priority: Priority,
        tags: Vec<String>,
    },
    /// Give the ticket to an agent (replacing any current assignee).
    Assign {
        assignee_id: String,
    },
    /// Remove the assignee.
    Unassign,
    /// Move through the status machine (see [`Status`]). The only command a closed ticket
    /// accepts, to reopen it.
    ChangeStatus {
        status: Status,
    },
    ChangePriority {
        priority: Priority,
    },
    /// Edit text and tags; `None` leaves a field as it is. `tags` replaces the whole list.
    Update {
        title: Option<String>,
        description: Option<String>,
        tags: Option<Vec<String>>,
    },
    /// Add a comment. `internal` comments are visible to agents only. `comment_id` is generated
    /// by the caller; the aggregate does not remember it, so a retried command adds a second
    /// comment.
    AddComment {
        comment_id: Uuid,
        author_id: String,
        body: String,
        internal: bool,
    },
    /// Move to another queue; `team_id` is the team owning that queue. The assignee is kept:
    /// the domain does not know team membership, so the API unassigns separately if needed.
    Move {
        queue_id: String,
        team_id: String,
    },
}
