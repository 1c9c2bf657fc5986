//! The rows of the tickets read model as readers get them ([`TicketRow`], [`CommentRow`]:
//! serialized as the API returns them) and as they are stored (plain column types).

use std::fmt::Display;

use bomizzel_domain::{Priority, Status};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// The columns of `tickets` that make a [`TicketRow`], in [`StoredTicket`]'s order.
pub(super) const TICKET_COLUMNS: &str = "id, number, title, description, company_id, requester_id, \
     queue_id, team_id, assignee_id, status, priority, tags, public_comment_count, \
     internal_comment_count, version, customer_version, created_position, updated_position, created_at, \
     updated_at, first_assigned_at, first_assigned_rank, resolved_at, closed_at";

/// The columns of `ticket_comments`, in [`StoredComment`]'s order.
pub(super) const COMMENT_COLUMNS: &str =
    "ticket_id, comment_id, author_id, body, internal, position, created_at";

/// A ticket as of the last event applied to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketRow {
    pub id: Uuid,
    /// The short number it was given when opened.
    pub number: i64,
    pub title: String,
    pub description: String,
    pub company_id: String,
    pub requester_id: String,
    pub queue_id: String,
    pub team_id: String,
    /// `None` while unassigned.
    pub assignee_id: Option<String>,
    pub status: Status,
    pub priority: Priority,
    /// Normalized (lowercase) tags in the order they were given.
    pub tags: Vec<String>,
    pub public_comment_count: i64,
    /// Comments visible to agents only; the API hides this count from customers.
    pub internal_comment_count: i64,
    /// The ticket's stream version: the number of events it has.
    pub version: i64,
    /// The events customers are shown (the visibility policy): the version
    /// the API gives customers.
    pub customer_version: i64,
    /// Position of the event that created the ticket: unique, never changes.
    pub created_position: i64,
    /// Position of the ticket's latest event (any kind, comments included).
    pub updated_position: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When it was first assigned; kept when it is unassigned later.
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_assigned_at: Option<OffsetDateTime>,
    /// Its priority's rank when it was first assigned: the first-response
    /// target that applies (see `sla`).
    #[serde(skip)]
    pub first_assigned_rank: Option<i64>,
    /// When it last became `resolved`; cleared when it is reopened, kept when it is closed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    /// When it last became `closed`; cleared when it is reopened.
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
}

/// A comment on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommentRow {
    pub ticket_id: Uuid,
    /// Chosen by the client; a retried command can record the same id twice.
    pub comment_id: Uuid,
    pub author_id: String,
    pub body: String,
    /// Visible to agents only.
    pub internal: bool,
    /// Position of the `CommentAdded` event: unique, orders a ticket's comments.
    pub position: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl TicketRow {
    /// Its standing resolution: when it was resolved, or closed without
    /// being resolved; `None` while open (both are cleared on reopening).
    pub fn done_at(&self) -> Option<OffsetDateTime> {
        self.resolved_at.or(self.closed_at)
    }
}

/// The integer `tickets.priority_rank` sorts by: low 1, medium 2, high 3, urgent 4.
pub(super) fn priority_rank(priority: Priority) -> i64 {
    match priority {
        Priority::Low => 1,
        Priority::Medium => 2,
        Priority::High => 3,
        Priority::Urgent => 4,
    }
}

/// A `tickets` row as the database returns it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct StoredTicket {
    id: String,
    number: i64,
    title: String,
    description: String,
    company_id: String,
    requester_id: String,
    queue_id: String,
    team_id: String,
    assignee_id: Option<String>,
    status: String,
    priority: String,
    tags: String,
    public_comment_count: i64,
    internal_comment_count: i64,
    version: i64,
    customer_version: i64,
    created_position: i64,
    updated_position: i64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    first_assigned_at: Option<OffsetDateTime>,
    first_assigned_rank: Option<i64>,
    resolved_at: Option<OffsetDateTime>,
    closed_at: Option<OffsetDateTime>,
}

impl TryFrom<StoredTicket> for TicketRow {
    type Error = sqlx::Error;

    fn try_from(stored: StoredTicket) -> Result<Self, Self::Error> {
        Ok(Self {
            id: decode_column("tickets.id", stored.id.parse())?,
            number: stored.number,
            title: stored.title,
            description: stored.description,
            company_id: stored.company_id,
            requester_id: stored.requester_id,
            queue_id: stored.queue_id,
            team_id: stored.team_id,
            assignee_id: stored.assignee_id,
            status: decode_column("tickets.status", stored.status.parse())?,
            priority: decode_column("tickets.priority", stored.priority.parse())?,
            tags: decode_column("tickets.tags", serde_json::from_str(&stored.tags))?,
            public_comment_count: stored.public_comment_count,
            internal_comment_count: stored.internal_comment_count,
            version: stored.version,
            customer_version: stored.customer_version,
            created_position: stored.created_position,
            updated_position: stored.updated_position,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
            first_assigned_at: stored.first_assigned_at,
            first_assigned_rank: stored.first_assigned_rank,
            resolved_at: stored.resolved_at,
            closed_at: stored.closed_at,
        })
    }
}

/// A `ticket_comments` row as the database returns it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct StoredComment {
    ticket_id: String,
    comment_id: String,
    author_id: String,
    body: String,
    internal: bool,
    position: i64,
    created_at: OffsetDateTime,
}

impl TryFrom<StoredComment> for CommentRow {
    type Error = sqlx::Error;

    fn try_from(stored: StoredComment) -> Result<Self, Self::Error> {
        Ok(Self {
            ticket_id: decode_column("ticket_comments.ticket_id", stored.ticket_id.parse())?,
            comment_id: decode_column("ticket_comments.comment_id", stored.comment_id.parse())?,
            author_id: stored.author_id,
            body: stored.body,
            internal: stored.internal,
            position: stored.position,
            created_at: stored.created_at,
        })
    }
}

/// Converts stored rows, failing on the first that does not decode.
pub(super) fn decode_rows<S, R>(stored: Vec<S>) -> Result<Vec<R>, sqlx::Error>
where
    R: TryFrom<S, Error = sqlx::Error>,
{
    stored.into_iter().map(R::try_from).collect()
}

/// A stored value that does not parse is a decode error naming its column.
pub(super) fn decode_column<T, E: Display>(
    column: &str,
    parsed: Result<T, E>,
) -> Result<T, sqlx::Error> {
    parsed.map_err(|error| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: error.to_string().into(),
    })
}
