//! Folds a batch of events into what to write: the new facts of each ticket it touches, the
//! durations that changed or went away, and the net change to each hourly bucket (new
//! contributions minus stored ones, so a move or a reopen takes a ticket out of the buckets it
//! was counted in). Pure, like `facts`.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::ProjectionError;
use crate::event::ProjectedEvent;

use super::facts::{DurationKind, DurationRow, HourCounts, HourKey, TicketFacts, changes_metrics};

/// What one batch changes in the read model.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct BatchChanges {
    /// The facts after the batch of every ticket it touched, by ticket id.
    pub facts: Vec<TicketFacts>,
    /// Durations that are new or differ from the stored ones.
    pub durations: Vec<DurationRow>,
    /// Stored durations the tickets no longer have (a reopen clears the resolution).
    pub cleared_durations: Vec<(String, DurationKind)>,
    /// Non-zero changes to hourly buckets.
    pub hours: Vec<(HourKey, HourCounts)>,
}

/// The tickets whose stored facts the batch needs: every ticket it changes, created ones
/// included, so that a second creation of a stored ticket is caught.
pub(super) fn tickets_to_load(events: &[ProjectedEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|event| changes_metrics(&event.event))
        .map(|event| event.event.ticket_id().to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Applies `events` to the `stored` facts of the tickets they touch (see [`tickets_to_load`]).
pub(super) fn fold(
    stored: &HashMap<String, TicketFacts>,
    events: &[ProjectedEvent],
) -> Result<BatchChanges, ProjectionError> {
    let mut touched: BTreeMap<String, TicketFacts> = BTreeMap::new();
    for event in events.iter().filter(|event| changes_metrics(&event.event)) {
        let ticket_id = event.event.ticket_id().to_string();
        if let Some(created) = TicketFacts::from_creation(event) {
            if touched.contains_key(&ticket_id) || stored.contains_key(&ticket_id) {
                return Err(rejected(event, "the ticket was already created"));
            }
            touched.insert(ticket_id, created);
            continue;
        }
        let facts = match touched.entry(ticket_id) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => match stored.get(entry.key()) {
                Some(facts) => entry.insert(facts.clone()),
                None => return Err(rejected(event, "the ticket was never created")),
            },
        };
        facts.apply(event);
    }

    let mut changes = BatchChanges::default();
    let mut hours = BTreeMap::new();
    for (ticket_id, after) in &touched {
        let before = stored.get(ticket_id);
        if let Some(before) = before {
            before.add_to_hours(&mut hours, -1);
        }
        after.add_to_hours(&mut hours, 1);
        for kind in DurationKind::ALL {
            let stored_duration = before.and_then(|before| before.duration(kind));
            match after.duration(kind) {
                Some(duration) if stored_duration.as_ref() != Some(&duration) => {
                    changes.durations.push(duration);
                }
                None if stored_duration.is_some() => {
                    changes.cleared_durations.push((ticket_id.clone(), kind));
                }
                _ => {}
            }
        }
    }
    changes.facts = touched.into_values().collect();
    changes.hours = hours
        .into_iter()
        .filter(|(_, change)| !change.is_zero())
        .collect();
    Ok(changes)
}

fn rejected(event: &ProjectedEvent, reason: &str) -> ProjectionError {
    ProjectionError::Rejected {
        position: event.position,
        reason: format!(
            "queue metrics of ticket {}: {reason}",
            event.event.ticket_id()
        ),
    }
}

#[cfg(test)]
mod tests {
    use bomizzel_domain::{Priority, Status, TicketCommand, TicketEvent};
    use bomizzel_store::Metadata;
    use time::macros::datetime;
    use uuid::Uuid;

    use super::*;
    use crate::metrics::facts::hour_start;

    /// The events `commands` append to ticket `n` (created in `q-a` at 10:00, then one command a
    /// minute), numbered from position `first`.
    fn script(n: u128, first: i64, commands: Vec<TicketCommand>) -> Vec<ProjectedEvent> {
        let id = Uuid::from_u128(n);
        let create = TicketCommand::Create {
            id,
            number: n as u64,
            title: "printer".into(),
            description: String::new(),
            company_id: "c-1".into(),
            requester_id: "u-1".into(),
            queue_id: "q-a".into(),
            team_id: "t-1".into(),
            priority: Priority::High,
            tags: vec![],
        };
        let mut history: Vec<TicketEvent> = Vec::new();
        let mut events = Vec::new();
        for (index, command) in std::iter::once(create).chain(commands).enumerate() {
            let ticket = bomizzel_domain::fold(history.clone());
            let event = ticket
                .decide(command)
                .expect("accepted")
                .expect("changes something");
            history.push(event.clone());
            let mut metadata = Metadata::new("agent-1", "agent");
            metadata.occurred_at =
                datetime!(2024-03-05 10:00 UTC) + time::Duration::minutes(index as i64);
            events.push(ProjectedEvent {
                position: first + index as i64,
                stream_id: id.to_string(),
                version: index as u64 + 1,
                event,
                metadata,
                recorded_at: datetime!(2024-03-05 12:00 UTC),
            });
        }
        events
    }

    fn assign() -> TicketCommand {
        TicketCommand::Assign {
            assignee_id: "agent-1".into(),
        }
    }

    fn status(status: Status) -> TicketCommand {
        TicketCommand::ChangeStatus { status }
    }

    #[test]
    fn a_ticket_created_moved_and_reopened_in_one_batch_counts_where_it_ends() {
        let move_to_b = TicketCommand::Move {
            queue_id: "q-b".into(),
            team_id: "t-2".into(),
        };
        let events = script(
            1,
            1,
            vec![
                assign(),
                status(Status::Resolved),
                move_to_b,
                status(Status::Open),
            ],
        );
        let changes = fold(&HashMap::new(), &events).expect("folds");

        let [facts] = changes.facts.as_slice() else {
            panic!("one ticket: {changes:?}")
        };
        assert_eq!(facts.queue_id, "q-b");
        assert_eq!(facts.status, Status::Open);
        assert_eq!(facts.resolved_at_unix, None);
        assert_eq!(facts.reopen_count, 1);
        assert_eq!(facts.updated_position, 5);
        assert_eq!(changes.durations.len(), 1, "{changes:?}");
        assert_eq!(changes.durations[0].kind, DurationKind::FirstAssignment);
        assert_eq!(changes.durations[0].queue_id, "q-b");
        assert_eq!(changes.durations[0].secs, 60);
        assert!(changes.cleared_durations.is_empty());
        let hour = hour_start(datetime!(2024-03-05 10:00 UTC).unix_timestamp());
        let counts = HourCounts {
            created: 1,
            first_assigned: 1,
            resolved: 0,
        };
        assert_eq!(changes.hours, vec![(("q-b".to_string(), hour), counts)]);
    }

    #[test]
    fn a_later_batch_takes_back_what_the_stored_facts_counted() {
        let events = script(1, 1, vec![assign(), status(Status::Resolved)]);
        let first = fold(&HashMap::new(), &events[..3]).expect("first batch");
        let stored: HashMap<String, TicketFacts> = first
            .facts
            .into_iter()
            .map(|facts| (facts.ticket_id.clone(), facts))
            .collect();
        let reopen = script(
            1,
            1,
            vec![assign(), status(Status::Resolved), status(Status::Open)],
        );

        let changes = fold(&stored, &reopen[3..]).expect("second batch");
        let ticket_id = Uuid::from_u128(1).to_string();
        assert_eq!(
            changes.cleared_durations,
            vec![(ticket_id, DurationKind::Resolution)]
        );
        assert!(changes.durations.is_empty(), "first assignment unchanged");
        let hour = hour_start(datetime!(2024-03-05 10:00 UTC).unix_timestamp());
        let counts = HourCounts {
            created: 0,
            first_assigned: 0,
            resolved: -1,
        };
        assert_eq!(changes.hours, vec![(("q-a".to_string(), hour), counts)]);
        assert!(changes.hours[0].1.has_decrease());
    }

    #[test]
    fn edits_and_comments_change_nothing() {
        let comment = TicketCommand::AddComment {
            comment_id: Uuid::from_u128(7),
            author_id: "agent-1".into(),
            body: "looking".into(),
            internal: false,
        };
        let rename = TicketCommand::Update {
            title: Some("scanner".into()),
            description: None,
            tags: None,
        };
        let events = script(1, 1, vec![comment, rename]);
        assert!(tickets_to_load(&events[1..]).is_empty());
        assert_eq!(
            fold(&HashMap::new(), &events[1..]).expect("folds"),
            BatchChanges::default()
        );
    }

    #[test]
    fn events_of_a_ticket_never_created_or_created_twice_are_rejected() {
        let events = script(1, 1, vec![assign()]);
        let unknown = fold(&HashMap::new(), &events[1..]).expect_err("unknown ticket");
        assert!(
            matches!(unknown, ProjectionError::Rejected { position: 2, .. }),
            "{unknown}"
        );

        let stored: HashMap<String, TicketFacts> = fold(&HashMap::new(), &events[..1])
            .expect("created")
            .facts
            .into_iter()
            .map(|facts| (facts.ticket_id.clone(), facts))
            .collect();
        let twice = fold(&stored, &events[..1]).expect_err("second creation");
        assert!(
            matches!(twice, ProjectionError::Rejected { position: 1, .. }),
            "{twice}"
        );
    }
}
