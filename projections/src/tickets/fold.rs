//! Folds a batch of events into the rows it touches, in memory and without I/O, so that a
//! batch costs one read of the tickets it continues and a few multi-row writes, whatever its
//! size.

use std::collections::{HashMap, HashSet};

use bomizzel_domain::visibility::shown_to_customers;
use bomizzel_domain::{Status, TicketEvent};
use time::OffsetDateTime;
use uuid::Uuid;

use super::row::{CommentRow, TicketRow, priority_rank};
use crate::error::ProjectionError;
use crate::event::ProjectedEvent;

/// What a batch changes.
#[derive(Debug, Default)]
pub(super) struct BatchChanges {
    /// Every ticket the batch touched, as it is after the batch.
    pub(super) tickets: HashMap<Uuid, TicketRow>,
    /// Tickets whose tags were set: their `ticket_tags` rows are replaced.
    pub(super) retagged: HashSet<Uuid>,
    /// Tickets created in this batch: nothing of theirs is stored yet.
    pub(super) created: HashSet<Uuid>,
    /// New comments, in position order.
    pub(super) comments: Vec<CommentRow>,
}

/// Applies `events` (in position order) to `stored`, the rows of the tickets the batch
/// continues ([`continued_tickets`](crate::event::continued_tickets)).
pub(super) fn fold(
    stored: Vec<TicketRow>,
    events: &[ProjectedEvent],
) -> Result<BatchChanges, ProjectionError> {
    let mut changes = BatchChanges {
        tickets: stored.into_iter().map(|row| (row.id, row)).collect(),
        ..BatchChanges::default()
    };
    for event in events {
        changes.apply(event)?;
    }
    Ok(changes)
}

impl BatchChanges {
    fn apply(&mut self, projected: &ProjectedEvent) -> Result<(), ProjectionError> {
        let at = projected.occurred_at();
        match &projected.event {
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
                let row = TicketRow {
                    id: *ticket_id,
                    number: i64::try_from(*number).map_err(|_| {
                        rejected(projected, "the ticket number does not fit a BIGINT")
                    })?,
                    title: title.clone(),
                    description: description.clone(),
                    company_id: company_id.clone(),
                    requester_id: requester_id.clone(),
                    queue_id: queue_id.clone(),
                    team_id: team_id.clone(),
                    assignee_id: None,
                    status: *status,
                    priority: *priority,
                    tags: tags.clone(),
                    public_comment_count: 0,
                    internal_comment_count: 0,
                    version: stream_version(projected)?,
                    customer_version: 1,
                    created_position: projected.position,
                    updated_position: projected.position,
                    created_at: at,
                    updated_at: at,
                    first_assigned_at: None,
                    first_assigned_rank: None,
                    resolved_at: None,
                    closed_at: None,
                };
                if self.tickets.insert(*ticket_id, row).is_some() {
                    return Err(rejected(projected, "the ticket was already created"));
                }
                self.retagged.insert(*ticket_id);
                self.created.insert(*ticket_id);
            }
            TicketEvent::TicketAssigned { .. } => {
                let row = touch(&mut self.tickets, projected)?;
                if row.first_assigned_at.is_none() {
                    row.first_assigned_at = Some(at);
                    row.first_assigned_rank = Some(priority_rank(row.priority));
                }
            }
            TicketEvent::TicketUnassigned { .. } | TicketEvent::TicketMoved { .. } => {
                // The route (assignee, queue, team) is all they change.
                touch(&mut self.tickets, projected)?;
            }
            TicketEvent::TicketStatusChanged { to, .. } => {
                set_status(touch(&mut self.tickets, projected)?, *to, at);
            }
            TicketEvent::TicketPriorityChanged { to, .. } => {
                touch(&mut self.tickets, projected)?.priority = *to;
            }
            TicketEvent::TicketUpdated {
                ticket_id,
                title,
                description,
                tags,
                ..
            } => {
                let row = touch(&mut self.tickets, projected)?;
                if let Some(change) = title {
                    row.title.clone_from(&change.to);
                }
                if let Some(change) = description {
                    row.description.clone_from(&change.to);
                }
                if let Some(change) = tags {
                    row.tags.clone_from(&change.to);
                    self.retagged.insert(*ticket_id);
                }
            }
            TicketEvent::CommentAdded {
                ticket_id,
                comment_id,
                author_id,
                body,
                internal,
                ..
            } => {
                let row = touch(&mut self.tickets, projected)?;
                if *internal {
                    row.internal_comment_count += 1;
                } else {
                    row.public_comment_count += 1;
                }
                self.comments.push(CommentRow {
                    ticket_id: *ticket_id,
                    comment_id: *comment_id,
                    author_id: author_id.clone(),
                    body: body.clone(),
                    internal: *internal,
                    position: projected.position,
                    created_at: at,
                });
            }
        }
        Ok(())
    }
}

/// The row of an existing ticket after what every event records: where it is routed after
/// the event (so assignments and moves need nothing more), version and update time. Company
/// and requester are the creation's for good: the upsert never rewrites them.
fn touch<'a>(
    tickets: &'a mut HashMap<Uuid, TicketRow>,
    projected: &ProjectedEvent,
) -> Result<&'a mut TicketRow, ProjectionError> {
    let version = stream_version(projected)?;
    let row = tickets
        .get_mut(&projected.event.ticket_id())
        .ok_or_else(|| rejected(projected, "the ticket was never created"))?;
    let route = projected.event.route();
    row.queue_id = route.queue_id;
    row.team_id = route.team_id;
    row.assignee_id = route.assignee_id;
    row.version = version;
    if shown_to_customers(&projected.event) {
        row.customer_version += 1;
    }
    row.updated_position = projected.position;
    row.updated_at = projected.occurred_at();
    Ok(row)
}

/// Resolution and closing times follow the status: each is set when the ticket enters its
/// status and cleared when it is reopened (a resolved ticket that is closed keeps `resolved_at`).
fn set_status(row: &mut TicketRow, status: Status, at: OffsetDateTime) {
    row.status = status;
    match status {
        Status::Resolved => row.resolved_at = Some(at),
        Status::Closed => row.closed_at = Some(at),
        Status::Open | Status::InProgress | Status::Waiting => {
            row.resolved_at = None;
            row.closed_at = None;
        }
    }
}

fn stream_version(projected: &ProjectedEvent) -> Result<i64, ProjectionError> {
    i64::try_from(projected.version)
        .map_err(|_| rejected(projected, "the stream version does not fit a BIGINT"))
}

fn rejected(projected: &ProjectedEvent, reason: &str) -> ProjectionError {
    ProjectionError::Rejected {
        position: projected.position,
        reason: format!(
            "{} on ticket {}: {reason}",
            projected.event.event_type_name(),
            projected.stream_id
        ),
    }
}
