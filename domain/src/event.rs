//! [`TicketEvent`]: the facts recorded about a ticket. Each event carries everything a reader
//! needs (the ticket's routing ids included), so projections building rooms and notifications
//! never look anything up. Store (de)serialization lives in `codec`, upcasting in `upcast`.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::priority::Priority;
use crate::status::Status;

/// Where a ticket is routed at the time of an event: who owns it, who asked, who works on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRoute {
    pub company_id: String,
    pub requester_id: String,
    pub queue_id: String,
    pub team_id: String,
    pub assignee_id: Option<String>,
}

/// The old and new value of an edited field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change<T> {
    pub from: T,
    pub to: T,
}

impl<T: PartialEq + Clone> Change<T> {
    /// The change from `current` to `proposed`, or `None` when nothing is proposed or it is
    /// equal to the current value.
    pub(crate) fn between(current: &T, proposed: Option<T>) -> Option<Self> {
        proposed.filter(|to| to != current).map(|to| Change {
            from: current.clone(),
            to,
        })
    }
}

/// Something that happened to a ticket.
///
/// Serialized with serde as an object tagged by `"event_type"` (the variant name), which suits
/// pushing events to clients as they are. The store instead keeps the tag and the schema
/// version in their own columns: see [`TicketEvent::to_payload`] and [`TicketEvent::decode`].
/// Routing ids the event does not change are the ticket's at the time; the ones it changes come
/// as pairs (`previous_assignee_id`/`assignee_id`, `from_queue_id`/`to_queue_id`, ...).
/// [`TicketEvent::route`] gives the route after the event, whatever the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event_type")]
pub enum TicketEvent {
    /// Schema version 3. Version 2 had no `number` (the upcast gives it the
    /// position of the event: see `upcast`); version 1 also called
    /// `requester_id` `customer_id` and had no tags.
    TicketCreated {
        ticket_id: Uuid,
        /// The ticket's short number: unique, increasing, given once when it
        /// is opened (a customer can quote it on the phone).
        number: u64,
        title: String,
        description: String,
        company_id: String,
        requester_id: String,
        queue_id: String,
        team_id: String,
        priority: Priority,
        /// Always [`Status::Open`]; recorded so the event reads on its own.
        status: Status,
        tags: Vec<String>,
    },
    TicketAssigned {
        ticket_id: Uuid,
        assignee_id: String,
        previous_assignee_id: Option<String>,
        company_id: String,
        requester_id: String,
        queue_id: String,
        team_id: String,
    },
    TicketUnassigned {
        ticket_id: Uuid,
        previous_assignee_id: String,
        company_id: String,
        requester_id: String,
        queue_id: String,
        team_id: String,
    },
    TicketStatusChanged {
        ticket_id: Uuid,
        from: Status,
        to: Status,
        #[serde(flatten)]
        route: TicketRoute,
    },
    TicketPriorityChanged {
        ticket_id: Uuid,
        from: Priority,
        to: Priority,
        #[serde(flatten)]
        route: TicketRoute,
    },
    /// Only the fields that changed are `Some`; at least one is.
    TicketUpdated {
        ticket_id: Uuid,
        title: Option<Change<String>>,
        description: Option<Change<String>>,
        tags: Option<Change<Vec<String>>>,
        #[serde(flatten)]
        route: TicketRoute,
    },
    TicketMoved {
        ticket_id: Uuid,
        from_queue_id: String,
        from_team_id: String,
        to_queue_id: String,
        to_team_id: String,
        company_id: String,
        requester_id: String,
        assignee_id: Option<String>,
    },
    CommentAdded {
        ticket_id: Uuid,
        comment_id: Uuid,
        author_id: String,
        body: String,
        /// Visible to agents only.
        internal: bool,
        #[serde(flatten)]
        route: TicketRoute,
    },
}

impl TicketEvent {
    /// The ticket this event belongs to.
    pub fn ticket_id(&self) -> Uuid {
        match self {
            TicketEvent::TicketCreated { ticket_id, .. }
            | TicketEvent::TicketAssigned { ticket_id, .. }
            | TicketEvent::TicketUnassigned { ticket_id, .. }
            | TicketEvent::TicketStatusChanged { ticket_id, .. }
            | TicketEvent::TicketPriorityChanged { ticket_id, .. }
            | TicketEvent::TicketUpdated { ticket_id, .. }
            | TicketEvent::TicketMoved { ticket_id, .. }
            | TicketEvent::CommentAdded { ticket_id, .. } => *ticket_id,
        }
    }

    /// Where the ticket is routed once this event is applied (new assignee after an
    /// assignment, new queue after a move): the rooms a projection should notify.
    pub fn route(&self) -> TicketRoute {
        match self {
            TicketEvent::TicketCreated {
                company_id,
                requester_id,
                queue_id,
                team_id,
                ..
            } => route_of(company_id, requester_id, queue_id, team_id, None),
            TicketEvent::TicketAssigned {
                assignee_id,
                company_id,
                requester_id,
                queue_id,
                team_id,
                ..
            } => route_of(
                company_id,
                requester_id,
                queue_id,
                team_id,
                Some(assignee_id),
            ),
            TicketEvent::TicketUnassigned {
                company_id,
                requester_id,
                queue_id,
                team_id,
                ..
            } => route_of(company_id, requester_id, queue_id, team_id, None),
            TicketEvent::TicketMoved {
                to_queue_id,
                to_team_id,
                company_id,
                requester_id,
                assignee_id,
                ..
            } => route_of(
                company_id,
                requester_id,
                to_queue_id,
                to_team_id,
                assignee_id.as_ref(),
            ),
            TicketEvent::TicketStatusChanged { route, .. }
            | TicketEvent::TicketPriorityChanged { route, .. }
            | TicketEvent::TicketUpdated { route, .. }
            | TicketEvent::CommentAdded { route, .. } => route.clone(),
        }
    }
}

fn route_of(
    company_id: &str,
    requester_id: &str,
    queue_id: &str,
    team_id: &str,
    assignee_id: Option<&String>,
) -> TicketRoute {
    TicketRoute {
        company_id: company_id.to_owned(),
        requester_id: requester_id.to_owned(),
        queue_id: queue_id.to_owned(),
        team_id: team_id.to_owned(),
        assignee_id: assignee_id.cloned(),
    }
}

impl DomainEvent for TicketEvent {
    fn event_type(&self) -> String {
        self.event_type_name().to_owned()
    }

    fn event_version(&self) -> String {
        self.schema_version().to_string()
    }
}
