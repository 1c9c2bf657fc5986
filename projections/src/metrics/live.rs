//! Support for the live `queue:metrics_updated` stream: which queues a batch of events changes
//! ([`touched_queues`]) and when to push each one ([`MetricsCoalescer`]). Both are pure; the
//! gateway owns the clock and the sending.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use bomizzel_domain::TicketEvent;
use tokio::time::Instant;

use crate::event::ProjectedEvent;

use super::facts::changes_metrics;

/// The queues whose figures `events` change: the ticket's queue for every event that changes
/// a metric, both queues for a move. Text edits and comments touch none.
pub fn touched_queues(events: &[ProjectedEvent]) -> BTreeSet<String> {
    let mut queues = BTreeSet::new();
    for event in events.iter().filter(|event| changes_metrics(&event.event)) {
        if let TicketEvent::TicketMoved { from_queue_id, .. } = &event.event {
            queues.insert(from_queue_id.clone());
        }
        queues.insert(event.event.route().queue_id);
    }
    queues
}

/// Spaces out metric pushes: at most one push per queue per `min_interval` (one second by
/// default). A queue touched when it was not pushed recently is due at once; touched again
/// within the interval, it is due once when the interval is over, however many touches came.
/// A touch is never dropped.
///
/// Use: [`touch`](Self::touch) with the queues of each committed batch, then push what
/// [`due`](Self::due) returns, and sleep until [`next_due`](Self::next_due) (or the next batch).
#[derive(Debug, Clone)]
pub struct MetricsCoalescer {
    min_interval: Duration,
    /// Queues waiting for a push, with the instant they become due.
    pending: BTreeMap<String, Instant>,
    /// When each queue was last pushed, kept for one interval only.
    last_push: HashMap<String, Instant>,
}

impl Default for MetricsCoalescer {
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

impl MetricsCoalescer {
    pub fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            pending: BTreeMap::new(),
            last_push: HashMap::new(),
        }
    }

    /// Records that `queues` changed at `now`.
    pub fn touch(&mut self, queues: impl IntoIterator<Item = String>, now: Instant) {
        for queue in queues {
            if self.pending.contains_key(&queue) {
                continue;
            }
            let due_at = match self.last_push.get(&queue) {
                Some(pushed) => (*pushed + self.min_interval).max(now),
                None => now,
            };
            self.pending.insert(queue, due_at);
        }
    }

    /// The queues to push at `now`, in name order; they count as pushed at `now`.
    pub fn due(&mut self, now: Instant) -> Vec<String> {
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, due_at)| **due_at <= now)
            .map(|(queue, _)| queue.clone())
            .collect();
        let min_interval = self.min_interval;
        self.last_push
            .retain(|_, pushed| *pushed + min_interval > now);
        for queue in &due {
            self.pending.remove(queue);
            self.last_push.insert(queue.clone(), now);
        }
        due
    }

    /// When the earliest pending queue becomes due; `None` when nothing is pending.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending.values().min().copied()
    }
}
