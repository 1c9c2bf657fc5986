//! The [`Ticket`] aggregate: state rebuilt from a ticket's events and its [`Aggregate`]
//! implementation. Deciding what a command does lives in `decide`; this file applies events.

mod decide;
#[cfg(test)]
mod tests;

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::command::TicketCommand;
use crate::error::DomainError;
use crate::event::{TicketEvent, TicketRoute};
use crate::priority::Priority;
use crate::status::Status;

/// A help-desk ticket as of its latest applied event. Serializes to the JSON the API returns.
///
/// Fields are read-only: state changes only by applying events, so that what is stored is
/// exactly what was decided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    id: Uuid,
    #[serde(default)]
    number: u64,
    title: String,
    description: String,
    company_id: String,
    requester_id: String,
    queue_id: String,
    team_id: String,
    assignee_id: Option<String>,
    status: Status,
    priority: Priority,
    tags: Vec<String>,
    comment_count: u32,
    version: u64,
    /// Events customers are shown (see [`crate::visibility`]).
    #[serde(default)]
    customer_version: u64,
}

impl Ticket {
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The short number it was given when it was opened.
    pub fn number(&self) -> u64 {
        self.number
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn company_id(&self) -> &str {
        &self.company_id
    }

    pub fn requester_id(&self) -> &str {
        &self.requester_id
    }

    pub fn queue_id(&self) -> &str {
        &self.queue_id
    }

    pub fn team_id(&self) -> &str {
        &self.team_id
    }

    pub fn assignee_id(&self) -> Option<&str> {
        self.assignee_id.as_deref()
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// Normalized tags (see [`crate::validate::tags`]), in the order they were given.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    pub fn comment_count(&self) -> u32 {
        self.comment_count
    }

    /// Number of events applied; the stream's last sequence number.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of applied events that customers are shown: the version a
    /// customer sees, which does not reveal how many events are hidden.
    pub fn customer_version(&self) -> u64 {
        self.customer_version
    }

    /// Whether the ticket was created. Every stream starts with `TicketCreated` (any other
    /// command on a missing ticket is refused), so any applied event means it exists.
    pub fn exists(&self) -> bool {
        self.version > 0
    }

    /// Where the ticket is routed now.
    pub fn route(&self) -> TicketRoute {
        TicketRoute {
            company_id: self.company_id.clone(),
            requester_id: self.requester_id.clone(),
            queue_id: self.queue_id.clone(),
            team_id: self.team_id.clone(),
            assignee_id: self.assignee_id.clone(),
        }
    }
}

/// The state after applying `events` in order; the state at version N is the fold of the
/// stream's first N events.
pub fn fold(events: impl IntoIterator<Item = TicketEvent>) -> Ticket {
    events
        .into_iter()
        .fold(Ticket::default(), |mut ticket, event| {
            ticket.apply(event);
            ticket
        })
}

impl Aggregate for Ticket {
    const TYPE: &'static str = "ticket";
    type Command = TicketCommand;
    type Event = TicketEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if let Some(event) = self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        let shown_to_customers = crate::visibility::shown_to_customers(&event);
        match event {
            TicketEvent::TicketCreated {
                ticket_id,
                number,
                title,
                description,
                company_id,
                requester_id,
                queue_id,
                team_id,
                priority,
                status,
                tags,
            } => {
                *self = Ticket {
                    id: ticket_id,
                    number,
                    title,
                    description,
                    company_id,
                    requester_id,
                    queue_id,
                    team_id,
                    assignee_id: None,
                    status,
                    priority,
                    tags,
                    comment_count: 0,
                    version: self.version,
                    customer_version: self.customer_version,
                };
            }
            TicketEvent::TicketAssigned { assignee_id, .. } => self.assignee_id = Some(assignee_id),
            TicketEvent::TicketUnassigned { .. } => self.assignee_id = None,
            TicketEvent::TicketStatusChanged { to, .. } => self.status = to,
            TicketEvent::TicketPriorityChanged { to, .. } => self.priority = to,
            TicketEvent::TicketUpdated {
                title,
                description,
                tags,
                ..
            } => {
                if let Some(title) = title {
                    self.title = title.to;
                }
                if let Some(description) = description {
                    self.description = description.to;
                }
                if let Some(tags) = tags {
                    self.tags = tags.to;
                }
            }
            TicketEvent::TicketMoved {
                to_queue_id,
                to_team_id,
                ..
            } => {
                self.queue_id = to_queue_id;
                self.team_id = to_team_id;
            }
            // Saturating: four billion comments is not a case worth a panic in replay.
            TicketEvent::CommentAdded { .. } => {
                self.comment_count = self.comment_count.saturating_add(1);
            }
        }
        self.version += 1;
        if shown_to_customers {
            self.customer_version += 1;
        }
    }
}
