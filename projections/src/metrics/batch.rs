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
