//! [`Ticket::decide`]: turns a command into at most one event, or refuses it. Synchronous and
//! pure, so the rules read (and test) without the framework; `handle` only forwards to it.
//!
//! Checks run in this order, which fixes the error a caller sees when several apply:
//! 1. existence: `Create` on an existing ticket is `AlreadyExists`; any other command on a
//!    missing ticket is `NotFound`;
//! 2. a closed ticket is frozen: only `ChangeStatus` gets through (and the status machine only
//!    lets it reopen); everything else, comments included and even a command that would change
//!    nothing, is `TicketClosed`;
//! 3. input validation (see [`crate::validate`]), then the status machine;
//! 4. a command that changes nothing is accepted with no event.

use uuid::Uuid;

use super::Ticket;
use crate::command::TicketCommand;
use crate::error::DomainError;
use crate::event::{Change, TicketEvent};
use crate::priority::Priority;
use crate::status::{Status, can_transition};
use crate::validate;

/// The outcome of an accepted command: the event to append, or `None` when nothing changes.
type Decision = Result<Option<TicketEvent>, DomainError>;

impl Ticket {
    /// What `command` does to this ticket: `Ok(Some(event))` to append, `Ok(None)` when it
    /// changes nothing, `Err` when refused. Does not modify the ticket.
    pub fn decide(&self, command: TicketCommand) -> Decision {
        match command {
            TicketCommand::Create { .. } if self.exists() => Err(DomainError::AlreadyExists),
            TicketCommand::Create {
                id,
                number,
                title,
                description,
                company_id,
                requester_id,
                queue_id,
                team_id,
                priority,
                tags,
            } => {
                validate::title(&title)?;
                validate::description(&description)?;
                validate::id("company_id", &company_id)?;
                validate::id("requester_id", &requester_id)?;
                validate::id("queue_id", &queue_id)?;
                validate::id("team_id", &team_id)?;
                let tags = validate::tags(&tags)?;
                Ok(Some(TicketEvent::TicketCreated {
                    ticket_id: id,
                    number,
                    title,
                    description,
                    company_id,
                    requester_id,
                    queue_id,
                    team_id,
                    priority,
                    status: Status::Open,
                    tags,
                }))
            }
            _ if !self.exists() => Err(DomainError::NotFound),
            TicketCommand::ChangeStatus { status } => self.change_status(status),
            _ if self.status == Status::Closed => Err(DomainError::TicketClosed),
            TicketCommand::Assign { assignee_id } => self.assign(assignee_id),
            TicketCommand::Unassign => Ok(self.unassign()),
            TicketCommand::ChangePriority { priority } => Ok(self.change_priority(priority)),
            TicketCommand::Update {
                title,
                description,
                tags,
            } => self.update(title, description, tags),
            TicketCommand::AddComment {
                comment_id,
                author_id,
                body,
                internal,
            } => self.add_comment(comment_id, author_id, body, internal),
            TicketCommand::Move { queue_id, team_id } => self.move_to(queue_id, team_id),
        }
    }

    fn change_status(&self, to: Status) -> Decision {
        if to == self.status {
            return Ok(None);
        }
        if !can_transition(self.status, to) {
            return Err(DomainError::InvalidTransition {
                from: self.status,
                to,
            });
        }
        Ok(Some(TicketEvent::TicketStatusChanged {
            ticket_id: self.id,
            from: self.status,
            to,
            route: self.route(),
        }))
    }

    fn assign(&self, assignee_id: String) -> Decision {
        validate::id("assignee_id", &assignee_id)?;
        if self.assignee_id.as_ref() == Some(&assignee_id) {
            return Ok(None);
        }
        Ok(Some(TicketEvent::TicketAssigned {
            ticket_id: self.id,
            assignee_id,
            previous_assignee_id: self.assignee_id.clone(),
            company_id: self.company_id.clone(),
            requester_id: self.requester_id.clone(),
            queue_id: self.queue_id.clone(),
            team_id: self.team_id.clone(),
        }))
    }

    fn unassign(&self) -> Option<TicketEvent> {
        let previous_assignee_id = self.assignee_id.clone()?;
        Some(TicketEvent::TicketUnassigned {
            ticket_id: self.id,
            previous_assignee_id,
            company_id: self.company_id.clone(),
            requester_id: self.requester_id.clone(),
            queue_id: self.queue_id.clone(),
            team_id: self.team_id.clone(),
        })
    }

    fn change_priority(&self, to: Priority) -> Option<TicketEvent> {
        (to != self.priority).then(|| TicketEvent::TicketPriorityChanged {
            ticket_id: self.id,
            from: self.priority,
            to,
            route: self.route(),
        })
    }

    /// Tags are compared after normalization and in order: `["a", "b"]` to `["b", "a"]` is a
    /// change, `["a"]` to `[" A "]` is not.
    fn update(
        &self,
        title: Option<String>,
        description: Option<String>,
        tags: Option<Vec<String>>,
    ) -> Decision {
        if let Some(title) = &title {
            validate::title(title)?;
        }
        if let Some(description) = &description {
            validate::description(description)?;
        }
        let tags = tags.as_deref().map(validate::tags).transpose()?;

        let title = Change::between(&self.title, title);
        let description = Change::between(&self.description, description);
        let tags = Change::between(&self.tags, tags);
        if title.is_none() && description.is_none() && tags.is_none() {
            return Ok(None);
        }
        Ok(Some(TicketEvent::TicketUpdated {
            ticket_id: self.id,
            title,
            description,
            tags,
            route: self.route(),
        }))
    }

    fn add_comment(
        &self,
        comment_id: Uuid,
        author_id: String,
        body: String,
        internal: bool,
    ) -> Decision {
        validate::id("author_id", &author_id)?;
        validate::comment_body(&body)?;
        Ok(Some(TicketEvent::CommentAdded {
            ticket_id: self.id,
            comment_id,
            author_id,
            body,
            internal,
            route: self.route(),
        }))
    }

    /// Same queue with a different team is still a move: the queue changed hands.
    fn move_to(&self, queue_id: String, team_id: String) -> Decision {
        validate::id("queue_id", &queue_id)?;
        validate::id("team_id", &team_id)?;
        if queue_id == self.queue_id && team_id == self.team_id {
            return Ok(None);
        }
        Ok(Some(TicketEvent::TicketMoved {
            ticket_id: self.id,
            from_queue_id: self.queue_id.clone(),
            from_team_id: self.team_id.clone(),
            to_queue_id: queue_id,
            to_team_id: team_id,
            company_id: self.company_id.clone(),
            requester_id: self.requester_id.clone(),
            assignee_id: self.assignee_id.clone(),
        }))
    }
}
