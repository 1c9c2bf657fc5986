//! How one event becomes the changes the room feed stores: event names,
//! rooms, audience and payloads. Pure; the projection numbers and stores
//! what this returns.
//!
//! Every payload carries `ticket_id`, `number` (the ticket's short number)
//! and `version` (the ticket's version after the event, as its audience
//! counts it) plus the fields the event changed. What customers are shown is the visibility policy's
//! (`bomizzel_domain::visibility`): events it hides from them and fields it
//! keeps from them make a `staff` change with everything and, unless the
//! event is hidden, a `customer` change with the rest for the rooms
//! customers may join (ticket and company), carrying the customer version.
//! Otherwise the change is one `all` change for every room.

use std::str::FromStr;

use bomizzel_domain::visibility::{remove_staff_only_fields, shown_to_customers};
use bomizzel_domain::{TicketEvent, TicketRoute};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::customer_versions::FeedTicket;
use crate::event::ProjectedEvent;
use crate::notifications::{Notification, parse_named};

/// Who may receive a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Agents, admins and analysts only.
    Staff,
    /// Customers only (the staff get a fuller twin of the change).
    Customer,
    /// Everyone in the rooms.
    All,
}

impl Audience {
    pub const ALL: [Audience; 3] = [Audience::Staff, Audience::Customer, Audience::All];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Staff => "staff",
            Audience::Customer => "customer",
            Audience::All => "all",
        }
    }

    /// Whether agents, admins and analysts get changes for this audience.
    pub fn reaches_staff(self) -> bool {
        self != Audience::Customer
    }

    /// Whether customers get changes for this audience.
    pub fn reaches_customers(self) -> bool {
        self != Audience::Staff
    }
}

impl FromStr for Audience {
    type Err = String;
    fn from_str(input: &str) -> Result<Self, String> {
        parse_named("feed audience", &Self::ALL, Self::as_str, input)
    }
}

/// One change before the projection gives it an offset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewChange {
    pub event: &'static str,
    pub rooms: Vec<String>,
    pub audience: Audience,
    pub payload: Value,
}

/// The changes `event` makes, in the order clients receive them: the
/// ticket's own change(s), then the assignee's `user:ticket_assigned`, then
/// one `notification:created` per entry of `notifications` (the event's
/// inbox notifications, same ids). `ticket` is the ticket after the event
/// as the feed knows it: its number and its version as customers count it.
pub(crate) fn changes(
    event: &ProjectedEvent,
    ticket: FeedTicket,
    notifications: &[Notification],
) -> Result<Vec<NewChange>, serde_json::Error> {
    let customer_version = ticket.customer_version;
    let mut changes = Changes {
        event,
        customer_version,
        number: ticket.number,
        list: Vec::new(),
    };
    let rooms = TicketRooms::of(&event.event);
    match &event.event {
        TicketEvent::TicketCreated {
            title,
            description,
            company_id,
            requester_id,
            queue_id,
            team_id,
            priority,
            status,
            tags,
            ..
        } => changes.ticket(
            "ticket:created",
            &rooms,
            fields(json!({
                "title": title,
                "description": description,
                "company_id": company_id,
                "requester_id": requester_id,
                "priority": priority,
                "status": status,
                "assignee_id": null,
                "queue_id": queue_id,
                "team_id": team_id,
                "tags": tags,
            })),
        ),
        TicketEvent::TicketAssigned {
            assignee_id,
            previous_assignee_id,
            company_id,
            requester_id,
            queue_id,
            team_id,
            ..
        } => {
            let assignment = json!({
                "assignee_id": assignee_id,
                "previous_assignee_id": previous_assignee_id,
            });
            changes.ticket("ticket:assigned", &rooms, fields(assignment.clone()));
            // The assignee is staff: give them the routing to place the ticket.
            let mut routed = fields(assignment);
            routed.extend(fields(json!({
                "company_id": company_id,
                "requester_id": requester_id,
                "queue_id": queue_id,
                "team_id": team_id,
            })));
            changes.push(
                "user:ticket_assigned",
                vec![format!("user:{assignee_id}")],
                Audience::Staff,
                event.version,
                routed,
            );
        }
        // An unassignment is an assignment to nobody: clients keep one handler.
        TicketEvent::TicketUnassigned {
            previous_assignee_id,
            ..
        } => changes.ticket(
            "ticket:assigned",
            &rooms,
            fields(json!({ "assignee_id": null, "previous_assignee_id": previous_assignee_id })),
        ),
        TicketEvent::TicketStatusChanged { from, to, .. } => changes.ticket(
            "ticket:status_changed",
            &rooms,
            fields(json!({ "from": from, "to": to })),
        ),
        TicketEvent::TicketPriorityChanged { from, to, .. } => changes.ticket(
            "ticket:priority_changed",
            &rooms,
            fields(json!({ "from": from, "to": to })),
        ),
        TicketEvent::TicketUpdated {
            title,
            description,
            tags,
            ..
        } => {
            let mut edited = Map::new();
            if let Some(change) = title {
                edited.insert("title".into(), json!(change.to));
            }
            if let Some(change) = description {
                edited.insert("description".into(), json!(change.to));
            }
            if let Some(change) = tags {
                edited.insert("tags".into(), json!(change.to));
            }
            changes.ticket("ticket:updated", &rooms, edited);
        }
        TicketEvent::TicketMoved {
            from_queue_id,
            from_team_id,
            to_queue_id,
            to_team_id,
            ..
        } => changes.ticket(
            "ticket:updated",
            &rooms,
            fields(json!({
                "from_queue_id": from_queue_id,
                "from_team_id": from_team_id,
                "queue_id": to_queue_id,
                "team_id": to_team_id,
            })),
        ),
        TicketEvent::CommentAdded {
            comment_id,
            author_id,
            body,
            internal,
            ..
        } => {
            let comment = fields(json!({
                "comment_id": comment_id,
                "author_id": author_id,
                "body": body,
                "internal": internal,
            }));
            changes.ticket("ticket:commented", &rooms, comment);
        }
    }
    let requester = event.event.route().requester_id;
    for notification in notifications {
        let payload = fields(serde_json::to_value(notification)?);
        // Requesters count versions as customers do (see `notifications::rules`).
        let version = if notification.user_id == requester {
            customer_version
        } else {
            event.version
        };
        changes.push(
            "notification:created",
            vec![format!("user:{}", notification.user_id)],
            Audience::All,
            version,
            payload,
        );
    }
    Ok(changes.list)
}

/// The rooms a ticket's change goes to: everyone's, and the subset
/// customers may join.
struct TicketRooms {
    all: Vec<String>,
    customer: Vec<String>,
}

impl TicketRooms {
    /// The ticket's, its queue's and team's (before and after a move) and
    /// its company's rooms.
    fn of(event: &TicketEvent) -> Self {
        let TicketRoute {
            company_id,
            queue_id,
            team_id,
            ..
        } = event.route();
        let ticket = format!("ticket:{}", event.ticket_id());
        let company = format!("company:{company_id}");
        let mut all = vec![ticket.clone()];
        if let TicketEvent::TicketMoved {
            from_queue_id,
            from_team_id,
            ..
        } = event
        {
            all.push(format!("queue:{from_queue_id}"));
            all.push(format!("team:{from_team_id}"));
        }
        for room in [
            format!("queue:{queue_id}"),
            format!("team:{team_id}"),
            company.clone(),
        ] {
            if !all.contains(&room) {
                all.push(room);
            }
        }
        Self {
            all,
            customer: vec![ticket, company],
        }
    }
}

/// The changes of one event as they are built.
struct Changes<'a> {
    event: &'a ProjectedEvent,
    customer_version: u64,
    number: u64,
    list: Vec<NewChange>,
}

impl Changes<'_> {
    /// A change of the ticket with `fields`, split by audience where the
    /// visibility policy hides something from customers (see the module doc).
    fn ticket(&mut self, name: &'static str, rooms: &TicketRooms, fields: Map<String, Value>) {
        let version = self.event.version;
        let customer = shown_to_customers(&self.event.event).then(|| {
            let mut shown = fields.clone();
            remove_staff_only_fields(&mut shown);
            shown
        });
        match customer {
            Some(shown) if shown.len() == fields.len() && self.customer_version == version => {
                self.push(name, rooms.all.clone(), Audience::All, version, fields);
            }
            customer => {
                self.push(name, rooms.all.clone(), Audience::Staff, version, fields);
                if let Some(shown) = customer {
                    let rooms = rooms.customer.clone();
                    self.push(
                        name,
                        rooms,
                        Audience::Customer,
                        self.customer_version,
                        shown,
                    );
                }
            }
        }
    }

    /// Adds a change whose payload is `fields` after `ticket_id`, `number` and `version`.
    fn push(
        &mut self,
        name: &'static str,
        rooms: Vec<String>,
        audience: Audience,
        version: u64,
        fields: Map<String, Value>,
    ) {
        let mut payload = Map::new();
        payload.insert("ticket_id".into(), json!(self.event.event.ticket_id()));
        payload.insert("number".into(), json!(self.number));
        payload.insert("version".into(), json!(version));
        payload.extend(fields);
        self.list.push(NewChange {
            event: name,
            rooms,
            audience,
            payload: Value::Object(payload),
        });
    }
}

/// The fields of a JSON object (empty for anything else).
fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
