//! The facts kept per ticket ([`TicketFacts`]), how each event changes them, and what follows
//! from them: the ticket's durations and its contribution to the hourly buckets. Pure: loading
//! and writing rows is `storage`'s job.

use std::collections::BTreeMap;

use bomizzel_domain::{Priority, Status, TicketEvent};

use crate::event::ProjectedEvent;

const HOUR_SECS: i64 = 3600;

/// Start of the UTC hour containing `unix` (unix time has no leap seconds, so every hour is
/// 3600 seconds and starts at a multiple of it).
pub(super) fn hour_start(unix: i64) -> i64 {
    unix - unix.rem_euclid(HOUR_SECS)
}

/// Whether `event` changes any metric: text edits and comments do not.
pub(super) fn changes_metrics(event: &TicketEvent) -> bool {
    !matches!(
        event,
        TicketEvent::TicketUpdated { .. } | TicketEvent::CommentAdded { .. }
    )
}

/// Resolved and closed tickets have a standing resolution; the other statuses are open.
pub(super) fn is_done(status: Status) -> bool {
    matches!(status, Status::Resolved | Status::Closed)
}

/// What the metrics need to know about one ticket (a row of `queue_ticket_facts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TicketFacts {
    pub ticket_id: String,
    /// The queue the ticket is in now.
    pub queue_id: String,
    pub status: Status,
    pub priority: Priority,
    pub assignee_id: Option<String>,
    pub created_at_unix: i64,
    /// The first assignment ever made; reassignments and unassignments leave it.
    pub first_assigned_at_unix: Option<i64>,
    /// The priority at the first assignment, whose SLA target that assignment is held to.
    pub first_assigned_priority: Option<Priority>,
    /// When the standing resolution happened: the move to `resolved`, or to `closed` for a
    /// ticket closed without being resolved. Cleared by a reopen.
    pub resolved_at_unix: Option<i64>,
    /// Moves from resolved or closed back to an open status.
    pub reopen_count: i64,
    /// Log position of the last event that changed these facts.
    pub updated_position: i64,
}

impl TicketFacts {
    /// The facts of the ticket `event` creates, or `None` when it is not a creation.
    pub(super) fn from_creation(event: &ProjectedEvent) -> Option<Self> {
        let TicketEvent::TicketCreated {
            ticket_id,
            queue_id,
            priority,
            status,
            ..
        } = &event.event
        else {
            return None;
        };
        Some(Self {
            ticket_id: ticket_id.to_string(),
            queue_id: queue_id.clone(),
            status: *status,
            priority: *priority,
            assignee_id: None,
            created_at_unix: event.occurred_at().unix_timestamp(),
            first_assigned_at_unix: None,
            first_assigned_priority: None,
            resolved_at_unix: None,
            reopen_count: 0,
            updated_position: event.position,
        })
    }

    /// Applies a later event of this ticket (its creation is [`TicketFacts::from_creation`]).
    pub(super) fn apply(&mut self, event: &ProjectedEvent) {
        let at = event.occurred_at().unix_timestamp();
        match &event.event {
            TicketEvent::TicketAssigned { assignee_id, .. } => {
                self.assignee_id = Some(assignee_id.clone());
                if self.first_assigned_at_unix.is_none() {
                    self.first_assigned_at_unix = Some(at);
                    self.first_assigned_priority = Some(self.priority);
                }
            }
            TicketEvent::TicketUnassigned { .. } => self.assignee_id = None,
            TicketEvent::TicketStatusChanged { to, .. } => self.change_status(*to, at),
            TicketEvent::TicketPriorityChanged { to, .. } => self.priority = *to,
            TicketEvent::TicketMoved { to_queue_id, .. } => self.queue_id = to_queue_id.clone(),
            TicketEvent::TicketCreated { .. }
            | TicketEvent::TicketUpdated { .. }
            | TicketEvent::CommentAdded { .. } => return,
        }
        self.updated_position = event.position;
    }

    fn change_status(&mut self, to: Status, at: i64) {
        if is_done(to) {
            // resolved -> closed keeps the time of the resolve: that is when the answer came.
            self.resolved_at_unix.get_or_insert(at);
        } else if self.resolved_at_unix.take().is_some() {
            self.reopen_count += 1;
        }
        self.status = to;
    }

    /// Seconds from creation to the first assignment.
    fn first_assignment_secs(&self) -> Option<i64> {
        self.first_assigned_at_unix
            .map(|at| self.secs_since_creation(at))
    }

    /// Seconds from creation to the standing resolution.
    fn resolution_secs(&self) -> Option<i64> {
        self.resolved_at_unix.map(|at| self.secs_since_creation(at))
    }

    /// Clocks of different nodes may disagree by a little: a duration is never negative.
    fn secs_since_creation(&self, at: i64) -> i64 {
        (at - self.created_at_unix).max(0)
    }

    /// The ticket's duration of `kind` (a `queue_ticket_durations` row), if it has one.
    pub(super) fn duration(&self, kind: DurationKind) -> Option<DurationRow> {
        let (secs, sla_priority) = match kind {
            DurationKind::FirstAssignment => {
                (self.first_assignment_secs()?, self.first_assigned_priority)
            }
            DurationKind::Resolution => (self.resolution_secs()?, None),
        };
        Some(DurationRow {
            ticket_id: self.ticket_id.clone(),
            kind,
            queue_id: self.queue_id.clone(),
            secs,
            sla_priority,
        })
    }

    /// Adds `sign` times this ticket's contribution to the hourly buckets of its queue.
    pub(super) fn add_to_hours(&self, hours: &mut BTreeMap<HourKey, HourCounts>, sign: i64) {
        let mut add = |at: i64, counter: fn(&mut HourCounts) -> &mut i64| {
            let key = (self.queue_id.clone(), hour_start(at));
            *counter(hours.entry(key).or_default()) += sign;
        };
        add(self.created_at_unix, |counts| &mut counts.created);
        if let Some(at) = self.first_assigned_at_unix {
            add(at, |counts| &mut counts.first_assigned);
        }
        if let Some(at) = self.resolved_at_unix {
            add(at, |counts| &mut counts.resolved);
        }
    }
}

/// What a `queue_ticket_durations` row measures, from the ticket's creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DurationKind {
    /// To the first assignment.
    FirstAssignment,
    /// To the standing resolution.
    Resolution,
}

impl DurationKind {
    pub(super) const ALL: [Self; 2] = [Self::FirstAssignment, Self::Resolution];

    /// The name stored in the `kind` column.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::FirstAssignment => "first_assignment",
            Self::Resolution => "resolution",
        }
    }
}

/// A row of `queue_ticket_durations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DurationRow {
    pub ticket_id: String,
    pub kind: DurationKind,
    pub queue_id: String,
    pub secs: i64,
    /// For first assignments, the priority whose SLA target applies.
    pub sla_priority: Option<Priority>,
}

/// A bucket of `queue_hourly`: queue id and start of the UTC hour.
pub(super) type HourKey = (String, i64);

/// The counters of a `queue_hourly` bucket, or a change to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct HourCounts {
    pub created: i64,
    pub first_assigned: i64,
    pub resolved: i64,
}

impl HourCounts {
    pub(super) fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    /// Whether adding this change can empty a bucket.
    pub(super) fn has_decrease(&self) -> bool {
        self.created < 0 || self.first_assigned < 0 || self.resolved < 0
    }
}
