//! Who is notified of an event, how loudly and why: the one place these
//! rules live, shared by the inbox and the room feed's
//! `notification:created` changes.
//!
//! - high: a ticket assigned to you; a ticket you requested or hold becomes
//!   urgent.
//! - medium: other status and priority changes on tickets you requested or
//!   hold; a new ticket in your team's queue.
//! - low: other updates (edits, comments, moves, unassignment) on tickets
//!   you requested or hold. Losing a ticket to another assignee counts as
//!   being unassigned.
//!
//! Never: the actor of the event (about their own change), or the requester
//! about an event the visibility policy hides from customers (an internal
//! comment, a move, a tags-only edit): requesters are treated as customers,
//! whatever their role, so nothing hidden leaks through their inbox. One
//! recipient gets at most one notification per event, the loudest that
//! applies.

use std::fmt;
use std::str::FromStr;

use bomizzel_domain::visibility::shown_to_customers;
use bomizzel_domain::{Priority, TicketEvent};
use serde::Serialize;

use crate::event::ProjectedEvent;

/// How loudly a notification asks for attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Browser notification: it needs you now.
    High,
    /// Toast: worth knowing while you work.
    Medium,
    /// In-app only.
    Low,
}

/// What happened, from the recipient's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    TicketAssigned,
    TicketUrgent,
    StatusChanged,
    PriorityChanged,
    TicketCreated,
    TicketUpdated,
    TicketCommented,
    TicketMoved,
    TicketUnassigned,
}

/// One user to notify about one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: String,
    pub level: Level,
    pub kind: Kind,
}

/// The users to notify about `event`, in a stable order. `team_members` are
/// the members of the ticket's team, used for new tickets only.
pub fn recipients(event: &ProjectedEvent, team_members: &[String]) -> Vec<Recipient> {
    let mut list = RecipientList {
        actor: event.actor(),
        requester_sees: shown_to_customers(&event.event),
        recipients: Vec::new(),
    };
    match &event.event {
        TicketEvent::TicketCreated { .. } => {
            for member in team_members {
                list.add(member, Level::Medium, Kind::TicketCreated);
            }
        }
        TicketEvent::TicketAssigned {
            assignee_id,
            previous_assignee_id,
            ..
        } => {
            list.add(assignee_id, Level::High, Kind::TicketAssigned);
            if let Some(previous) = previous_assignee_id {
                list.add(previous, Level::Low, Kind::TicketUnassigned);
            }
        }
        TicketEvent::TicketUnassigned {
            requester_id,
            previous_assignee_id,
            ..
        } => list.add_watchers(
            requester_id,
            Some(previous_assignee_id),
            Level::Low,
            Kind::TicketUnassigned,
        ),
        TicketEvent::TicketStatusChanged { route, .. } => list.add_watchers(
            &route.requester_id,
            route.assignee_id.as_ref(),
            Level::Medium,
            Kind::StatusChanged,
        ),
        TicketEvent::TicketPriorityChanged { to, route, .. } => {
            let (level, kind) = if *to == Priority::Urgent {
                (Level::High, Kind::TicketUrgent)
            } else {
                (Level::Medium, Kind::PriorityChanged)
            };
            list.add_watchers(&route.requester_id, route.assignee_id.as_ref(), level, kind);
        }
        TicketEvent::TicketUpdated { route, .. } => list.add_watchers(
            &route.requester_id,
            route.assignee_id.as_ref(),
            Level::Low,
            Kind::TicketUpdated,
        ),
        TicketEvent::TicketMoved {
            requester_id,
            assignee_id,
            ..
        } => list.add_watchers(
            requester_id,
            assignee_id.as_ref(),
            Level::Low,
            Kind::TicketMoved,
        ),
        TicketEvent::CommentAdded { route, .. } => list.add_watchers(
            &route.requester_id,
            route.assignee_id.as_ref(),
            Level::Low,
            Kind::TicketCommented,
        ),
    }
    list.recipients
}

/// Recipients without the actor and without duplicates (the first, loudest
/// rule for a user wins).
struct RecipientList<'a> {
    actor: &'a str,
    /// Whether the event is one the requester may hear of.
    requester_sees: bool,
    recipients: Vec<Recipient>,
}

impl RecipientList<'_> {
    fn add(&mut self, user_id: &str, level: Level, kind: Kind) {
        let known = self.recipients.iter().any(|r| r.user_id == user_id);
        if user_id != self.actor && !known {
            self.recipients.push(Recipient {
                user_id: user_id.to_owned(),
                level,
                kind,
            });
        }
    }

    /// The ticket's requester (when the event is one customers see), then
    /// whoever holds it.
    fn add_watchers(&mut self, requester: &str, holder: Option<&String>, level: Level, kind: Kind) {
        if self.requester_sees {
            self.add(requester, level, kind);
        }
        if let Some(holder) = holder {
            self.add(holder, level, kind);
        }
    }
}

impl Level {
    pub const ALL: [Level; 3] = [Level::High, Level::Medium, Level::Low];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::High => "high",
            Level::Medium => "medium",
            Level::Low => "low",
        }
    }
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::TicketAssigned,
        Kind::TicketUrgent,
        Kind::StatusChanged,
        Kind::PriorityChanged,
        Kind::TicketCreated,
        Kind::TicketUpdated,
        Kind::TicketCommented,
        Kind::TicketMoved,
        Kind::TicketUnassigned,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TicketAssigned => "ticket_assigned",
            Kind::TicketUrgent => "ticket_urgent",
            Kind::StatusChanged => "status_changed",
            Kind::PriorityChanged => "priority_changed",
            Kind::TicketCreated => "ticket_created",
            Kind::TicketUpdated => "ticket_updated",
            Kind::TicketCommented => "ticket_commented",
            Kind::TicketMoved => "ticket_moved",
            Kind::TicketUnassigned => "ticket_unassigned",
        }
    }
}

/// Parses one of `all` by its stored name.
pub(crate) fn parse_named<T: Copy>(
    what: &str,
    all: &[T],
    name: fn(T) -> &'static str,
    input: &str,
) -> Result<T, String> {
    all.iter()
        .copied()
        .find(|value| name(*value) == input)
        .ok_or_else(|| format!("unknown {what} {input:?}"))
}

impl FromStr for Level {
    type Err = String;
    fn from_str(input: &str) -> Result<Self, String> {
        parse_named("notification level", &Self::ALL, Self::as_str, input)
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(input: &str) -> Result<Self, String> {
        parse_named("notification kind", &Self::ALL, Self::as_str, input)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
