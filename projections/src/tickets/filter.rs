//! What a ticket list asks for: filters and the visibility scope ([`TicketFilter`]), and how
//! to walk the result ([`Page`], [`Sort`]).

use std::fmt;

use bomizzel_domain::{Priority, Status};
use serde::{Deserialize, Serialize};

use super::row::TicketRow;
use super::sla::SlaState;

/// Rows per page when the caller does not say.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most rows one page returns.
pub const MAX_LIMIT: u32 = 200;

/// Which tickets to list. Every field that is set must match; `Default` lists everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFilter {
    /// Any of these statuses; empty = any status.
    pub statuses: Vec<Status>,
    /// Any of these priorities; empty = any priority.
    pub priorities: Vec<Priority>,
    pub queue_id: Option<String>,
    pub team_id: Option<String>,
    pub assignee: Option<AssigneeFilter>,
    pub company_id: Option<String>,
    pub requester_id: Option<String>,
    /// Tickets carrying this tag, normalized like the domain's tags (trimmed, lowercase).
    pub tag: Option<String>,
    /// Case-insensitive substring of the title (`%` and `_` match themselves).
    pub q: Option<String>,
    /// Words of the title, description or comments (full-text search):
    /// the list is then ranked by relevance unless another sort is asked.
    pub search: Option<Search>,
    /// Created at or after / before these unix seconds.
    pub created: TimeRange,
    /// Last changed at or after / before these unix seconds.
    pub updated: TimeRange,
    /// In any of these SLA states; empty = any.
    pub sla: Vec<SlaState>,
    /// What the caller may see, on top of the filters.
    pub visibility: Visibility,
}

/// A full-text search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// The words, all of which must match (stemmed where the backend can).
    pub text: String,
    /// Whether internal comments may match (staff); never for customers.
    pub internal_comments: bool,
}

/// A half-open range of unix seconds, `[from, to)`; an unset end is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl TicketFilter {
    /// No filter, restricted to what `visibility` allows.
    pub fn visible_to(visibility: Visibility) -> Self {
        Self {
            visibility,
            ..Self::default()
        }
    }
}

/// Whose tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Assigned to this user.
    User(String),
    /// Assigned to nobody.
    Unassigned,
}

/// The tickets a caller may see, whatever the filters say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Visibility {
    /// Every ticket (admins, analysts).
    #[default]
    All,
    /// Tickets of one company (customers).
    Company(String),
    /// Tickets routed to any of these teams (agents); no team = no ticket.
    Teams(Vec<String>),
}

/// The key a list is ordered by. Ties (same priority, due time, relevance, title, status,
/// requester or assignee) are broken by creation order, in the same direction. A ticket whose
/// key changes while a client pages moves, so it can show again or be passed over; every
/// other ticket is seen exactly once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    /// Creation order (the ticket number's). A ticket's place never changes.
    #[default]
    Created,
    /// Order of the latest event (comments included).
    Updated,
    /// Priority, then creation.
    Priority,
    /// The earliest pending SLA due time (see `sla`), tickets with nothing due last.
    SlaDue,
    /// Full-text relevance (only with a search).
    Relevance,
    /// The title, case-insensitively: by the projection's lowercased title, compared by code
    /// point on both backends.
    Title,
    /// The requester's user id (code point order).
    Requester,
    /// The workflow order of `Status::ALL` (open first, closed last).
    Status,
    /// The assignee's user id (code point order), unassigned tickets last.
    Assignee,
}

impl SortField {
    pub const ALL: [SortField; 9] = [
        Self::Created,
        Self::Updated,
        Self::Priority,
        Self::SlaDue,
        Self::Relevance,
        Self::Title,
        Self::Requester,
        Self::Status,
        Self::Assignee,
    ];

    /// The name the API uses, identical to the serde representation.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Priority => "priority",
            Self::SlaDue => "sla_due",
            Self::Relevance => "relevance",
            Self::Title => "title",
            Self::Requester => "requester",
            Self::Status => "status",
            Self::Assignee => "assignee",
        }
    }

    /// Whether no two tickets share the key, so it needs no tie-breaker.
    pub(super) fn is_unique(self) -> bool {
        matches!(self, Self::Created | Self::Updated)
    }

    /// Whether the key is text (else an integer): what a cursor carries.
    pub(super) fn has_text_key(self) -> bool {
        matches!(self, Self::Title | Self::Requester | Self::Assignee)
    }

    /// The ticket field a viewer learns by this order, for the visibility policy to allow
    /// (see `Viewer::may_filter_by`); `None` for orders every viewer may use.
    pub fn reveals_field(self) -> Option<&'static str> {
        match self {
            Self::Created | Self::Updated | Self::Relevance => None,
            Self::Priority => Some("priority"),
            Self::SlaDue => Some("sla"),
            Self::Title => Some("title"),
            Self::Requester => Some("requester_id"),
            Self::Status => Some("status"),
            Self::Assignee => Some("assignee_id"),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Asc,
    /// Newest (or most urgent) first.
    #[default]
    Desc,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Self::Asc, Self::Desc];

    /// The name the API uses, identical to the serde representation.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// A list's order. The default is newest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Sort {
    pub field: SortField,
    pub direction: Direction,
}

impl Sort {
    pub fn new(field: SortField, direction: Direction) -> Self {
        Self { field, direction }
    }
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field.as_str(), self.direction.as_str())
    }
}

/// Which page of a list: its order, where the previous page ended and how many rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub sort: Sort,
    /// The previous page's `next_cursor`; `None` for the first page. A cursor only continues
    /// the sort it was issued for.
    pub after: Option<String>,
    /// 1 to [`MAX_LIMIT`].
    pub limit: u32,
}

impl Page {
    /// The first page of `sort`, with [`DEFAULT_LIMIT`] rows.
    pub fn first(sort: Sort) -> Self {
        Self {
            sort,
            after: None,
            limit: DEFAULT_LIMIT,
        }
    }

    /// The same list continued after `cursor`.
    pub fn after(&self, cursor: impl Into<String>) -> Self {
        Self {
            after: Some(cursor.into()),
            ..self.clone()
        }
    }

    pub fn with_limit(self, limit: u32) -> Self {
        Self { limit, ..self }
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::first(Sort::default())
    }
}

/// A ticket of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTicket {
    pub ticket: TicketRow,
    /// With a search: the best matching text, matches in `<mark>…</mark>`.
    pub snippet: Option<String>,
}

/// One page of tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketPage {
    pub items: Vec<ListedTicket>,
    /// Pass it as [`Page::after`] for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// The read model's position the page was read at (see `snapshot`).
    pub position: i64,
}
