//! Presence lists for ticket and team rooms: whenever a room's list
//! changes (on this node or another), every connection of this node in the
//! room is sent the whole list as its reader is shown it, a latest-value
//! `presence` frame. Who is shown what is the visibility policy's
//! (`visibility::presence`), applied by `identity::presence`; a reader who
//! may no longer see the ticket gets nothing. Readers of one kind (staff,
//! customers) are shown the same list, so each list is serialised at most
//! twice. A ticket's queue room gets the board's counts
//! (`presence_counts`, staff only) whenever one of its tickets' lists
//! changes.
//!
//! A team room's list is sent at most once a second (a change after a quiet
//! second goes at once, later ones together when the second is over). Who
//! is online changes with every connection that comes or goes, and after a
//! restart all of a team's connections come back at once: each arrival's
//! list sent to every member is quadratic in the team's connections (5,000
//! sockets of one team took minutes to connect). Ticket rooms, where an
//! agent sees a colleague start replying, are sent at once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bomizzel_projections::metrics::MetricsCoalescer;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::frame::Frame;
use crate::hub::{Hub, Outbound};
use crate::protocol;

/// A team room's list is sent at most this often.
const TEAM_LIST_INTERVAL: Duration = Duration::from_secs(1);

/// Sends changed lists until `shutdown`.
pub(crate) async fn run(hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
    let presence = hub.state.presence.clone();
    let mut changes = presence.changes();
    // Spaces out pushes per room as it does queue metrics.
    let mut teams = MetricsCoalescer::new(TEAM_LIST_INTERVAL);
    loop {
        let changed = tokio::select! {
            changed = changes.recv() => match received(&hub, &mut changes, changed) {
                Some(rooms) => rooms,
                None => return,
            },
            () = due(teams.next_due()) => BTreeSet::new(),
            _ = crate::stopped(&mut shutdown) => return,
        };
        let (team_rooms, mut rooms): (BTreeSet<String>, BTreeSet<String>) = changed
            .into_iter()
            .partition(|room| room.starts_with("team:"));
        let now = Instant::now();
        teams.touch(team_rooms, now);
        rooms.extend(teams.due(now));
        for room in rooms {
            push(&hub, &room);
        }
    }
}

/// The rooms whose lists changed: `first` and whatever else is waiting;
/// `None` once presence is gone.
fn received(
    hub: &Hub,
    changes: &mut broadcast::Receiver<String>,
    first: Result<String, RecvError>,
) -> Option<BTreeSet<String>> {
    let mut rooms = BTreeSet::new();
    let mut received = Some(first);
    while let Some(changed) = received.take() {
        match changed {
            Ok(room) => {
                rooms.insert(room);
            }
            // Too far behind to know which: every room with readers here.
            Err(RecvError::Lagged(_)) => rooms.extend(hub.presence_rooms()),
            Err(RecvError::Closed) => return None,
        }
        received = changes.try_recv().ok().map(Ok);
    }
    Some(rooms)
}

/// Resolves at `at`; never without one.
async fn due(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends `room`'s list to each connection of this node in it, or a
/// queue's board counts to the staff in its room.
fn push(hub: &Hub, room: &str) {
    if let Some(queue) = room.strip_prefix("queue:") {
        push_counts(hub, room, queue);
        return;
    }
    let presence = &hub.state.presence;
    // One frame per kind of reader: [customers, staff].
    let mut frames: [Option<Option<Arc<Frame>>>; 2] = [None, None];
    for (reader, queue) in hub.readers(room) {
        let viewer = reader.viewer();
        // Judged per reader: an agent of the team the ticket left may still
        // be in the room.
        if !presence.may_view(room, &viewer) {
            continue;
        }
        let frame = frames[usize::from(viewer.is_staff())].get_or_insert_with(|| {
            presence
                .view(room, &viewer, None)
                .map(|members| Arc::new(protocol::presence(room, &members).into()))
        });
        if let Some(frame) = frame {
            // A full queue is handled by the next change's dispatch.
            let _ = queue.try_send(Outbound::Latest(Arc::clone(frame)));
        }
    }
}

/// The board counts of `queue`, now.
pub(crate) fn counts_frame(hub: &Hub, room: &str, queue: &str) -> Arc<Frame> {
    let counts = hub.state.presence.queue_counts(queue);
    Arc::new(protocol::presence_counts(room, &counts).into())
}

fn push_counts(hub: &Hub, room: &str, queue: &str) {
    let watchers = hub.staff_queues(room);
    if watchers.is_empty() {
        return;
    }
    let frame = counts_frame(hub, room, queue);
    for watcher in watchers {
        // A full queue is handled by the next change's dispatch.
        let _ = watcher.try_send(Outbound::Latest(Arc::clone(&frame)));
    }
}
