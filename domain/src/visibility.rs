//! Who sees what of a ticket: the one visibility policy. The HTTP answers,
//! the room feed, the gateway and notifications all ask this module, so a
//! customer is shown the same ticket whichever way they look at it.
//!
//! - Admins, analysts and auditors see every ticket, agents the tickets of
//!   their teams, customers their company's tickets. Only auditors read
//!   the audit trail ([`audit`]).
//! - Customers never see a ticket's routing (queue and team, before and
//!   after a move), its tags, its comment counts or its SLA due times
//!   ([`STAFF_ONLY_FIELDS`]),
//!   nor internal comments, moves and tags-only edits as events
//!   ([`shown_to_customers`]). They are not told such events happened:
//!   their version of a ticket counts only the events they see
//!   ([`Ticket::customer_version`]), and the rooms a change lists for them
//!   are only the kinds they may join ([`is_customer_room`]).
//!
//! Pure: no I/O, so every rule is unit-tested as a table (`tests` below).

use serde_json::{Map, Value};

use crate::event::TicketEvent;
use crate::ticket::Ticket;

/// Fields of a ticket (or of an event's data) that only staff see.
pub const STAFF_ONLY_FIELDS: [&str; 8] = [
    "queue_id",
    "team_id",
    "tags",
    "from_queue_id",
    "from_team_id",
    "comment_count",
    "internal_comment_count",
    "sla",
];

/// Who is looking, as far as visibility goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer<'a> {
    /// Admins and analysts: every ticket, every field.
    Desk { user_id: &'a str },
    /// Auditors: every ticket, every field, and the audit trail
    /// ([`audit`]); read-only.
    Auditor { user_id: &'a str },
    /// An agent: the tickets of their teams, every field.
    Agent {
        user_id: &'a str,
        team_ids: &'a [String],
    },
    /// A customer: their company's tickets, what [`shown_to_customers`]
    /// lets through. A customer without a company sees no ticket.
    Customer {
        user_id: &'a str,
        company_id: Option<&'a str>,
    },
}

impl Viewer<'_> {
    /// Staff see internal comments, routing and tags.
    pub fn is_staff(&self) -> bool {
        !matches!(self, Viewer::Customer { .. })
    }

    fn user_id(&self) -> &str {
        match self {
            Viewer::Desk { user_id }
            | Viewer::Auditor { user_id }
            | Viewer::Agent { user_id, .. }
            | Viewer::Customer { user_id, .. } => user_id,
        }
    }

    /// Whether the viewer may see a ticket of `company_id` routed to `team_id`.
    pub fn may_see(&self, company_id: &str, team_id: &str) -> bool {
        match self {
            Viewer::Desk { .. } | Viewer::Auditor { .. } => true,
            Viewer::Agent { team_ids, .. } => team_ids.iter().any(|team| team == team_id),
            Viewer::Customer {
                company_id: mine, ..
            } => *mine == Some(company_id),
        }
    }

    /// Whether the viewer may see `ticket` as it is now.
    pub fn may_see_ticket(&self, ticket: &Ticket) -> bool {
        ticket.exists() && self.may_see(ticket.company_id(), ticket.team_id())
    }

    /// Whether `event` belongs in the viewer's history of a ticket they see.
    pub fn sees_event(&self, event: &TicketEvent) -> bool {
        self.is_staff() || shown_to_customers(event)
    }

    /// Removes from a ticket (or an event's data) the fields the viewer may
    /// not see.
    pub fn redact(&self, object: &mut Map<String, Value>) {
        if !self.is_staff() {
            remove_staff_only_fields(object);
        }
    }

    /// Whether the viewer may filter or sort tickets by `field` (a ticket
    /// field name): filtering by a hidden field would reveal it.
    pub fn may_filter_by(&self, field: &str) -> bool {
        self.is_staff() || !STAFF_ONLY_FIELDS.contains(&field)
    }

    /// The ticket's version as the viewer counts it.
    pub fn version_of(&self, ticket: &Ticket) -> u64 {
        self.counted_version(ticket.version(), ticket.customer_version())
    }

    /// Of a ticket's stream version and its customer version, the one the
    /// viewer is given.
    pub fn counted_version<N>(&self, version: N, customer_version: N) -> N {
        if self.is_staff() {
            version
        } else {
            customer_version
        }
    }

    /// Whether `room` may be listed to the viewer among a change's rooms:
    /// customers are listed only the kinds they may join
    /// ([`is_customer_room`]); depends on [`Viewer::is_staff`] alone.
    pub fn lists_room(&self, room: &str) -> bool {
        self.is_staff() || is_customer_room(room)
    }

    /// Whether a change routed to `rooms` may reach the viewer: a change of
    /// a ticket lists its team's and company's rooms, so this is
    /// [`Viewer::may_see`] of the ticket as the change left it. A change to
    /// the viewer's own `user:` room (their notifications) always may.
    pub fn may_receive<R: AsRef<str>>(&self, rooms: &[R]) -> bool {
        let own = |room: &str| room.strip_prefix("user:") == Some(self.user_id());
        rooms.iter().map(AsRef::as_ref).any(|room| {
            own(room)
                || match self {
                    Viewer::Desk { .. } | Viewer::Auditor { .. } => true,
                    Viewer::Agent { team_ids, .. } => room
                        .strip_prefix("team:")
                        .is_some_and(|team| team_ids.iter().any(|t| t == team)),
                    Viewer::Customer { company_id, .. } => {
                        company_id.is_some() && room.strip_prefix("company:") == *company_id
                    }
                }
        })
    }
}

/// Whether customers are shown `event` at all: not internal comments, not
/// moves (routing), not edits of tags alone.
pub fn shown_to_customers(event: &TicketEvent) -> bool {
    !matches!(
        event,
        TicketEvent::CommentAdded { internal: true, .. }
            | TicketEvent::TicketMoved { .. }
            | TicketEvent::TicketUpdated {
                title: None,
                description: None,
                ..
            }
    )
}

/// What customers are shown of a ticket or of an event's data.
pub fn remove_staff_only_fields(object: &mut Map<String, Value>) {
    for field in STAFF_ONLY_FIELDS {
        object.remove(field);
    }
}

/// Whether a room may be listed to customers: the kinds they may join
/// (`ticket:`, `company:`, `user:`). Queue and team rooms are routing.
pub fn is_customer_room(room: &str) -> bool {
    ["ticket:", "company:", "user:"]
        .iter()
        .any(|kind| room.starts_with(kind))
}

pub mod audit;
mod finding;
pub mod presence;

#[cfg(test)]
mod tests;
