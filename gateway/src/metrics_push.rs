//! Latest-value queue metrics for `queue:` rooms (`queue:metrics_updated`):
//! pushed when a queue's tickets changed, at most once per queue per
//! interval, and for every watched queue each refresh period (figures that
//! move with the clock). Apart from the hub's change fan-out because they
//! are nothing like changes: no offset, never replayed, recomputed from the
//! read model rather than forwarded, and only for staff.
//!
//! A connection joining a queue's room is sent the queue's latest frame.
//! The frame is computed once and shared ([`LatestFrames`]) until the queue
//! changes or a `metrics_min_interval` has passed: computing it takes a
//! transaction and five queries, and after a restart every agent of a
//! queue joins its room at once, most of them twice (a default room, then
//! the client's own `subscribe`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bomizzel_identity::Shared;
use bomizzel_projections::metrics::{MetricsCoalescer, queue_metrics};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::frame::Frame;
use crate::hub::{Hub, Outbound};
use crate::protocol;

/// Each queue's latest frame, with a generation that moves whenever the
/// queue changes.
#[derive(Default)]
pub(crate) struct LatestFrames {
    queues: Mutex<HashMap<String, Arc<Queue>>>,
}

#[derive(Default)]
struct Queue {
    generation: AtomicU64,
    /// Held while the frame is computed: those who come meanwhile wait
    /// for it instead of computing it again.
    latest: tokio::sync::Mutex<Option<Latest>>,
}

struct Latest {
    frame: Arc<Frame>,
    /// Of the queue, read before the frame was computed: a change during
    /// the computation makes it stale.
    generation: u64,
    computed_at: Instant,
}

impl LatestFrames {
    /// `queues` changed: their frames are stale.
    fn touch(&self, queues: &[String]) {
        let known = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        for queue in queues.iter().filter_map(|queue| known.get(queue)) {
            queue.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn queue(&self, queue_id: &str) -> Arc<Queue> {
        let mut known = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(known.entry(queue_id.to_owned()).or_default())
    }
}

/// The latest `queue:metrics_updated` frame of `queue_id`: the one already
/// computed if the queue has not changed since and it is younger than
/// `metrics_min_interval`, else a new one.
pub(crate) async fn latest(hub: &Hub, queue_id: &str) -> Option<Arc<Frame>> {
    let queue = hub.latest_metrics.queue(queue_id);
    let mut latest = queue.latest.lock().await;
    let generation = queue.generation.load(Ordering::Acquire);
    let now = Instant::now();
    if let Some(latest) = latest.as_ref().filter(|latest| {
        latest.generation == generation
            && now.duration_since(latest.computed_at) < hub.settings.metrics_min_interval
    }) {
        return Some(Arc::clone(&latest.frame));
    }
    let frame = Arc::new(frame(&hub.state, queue_id).await?);
    *latest = Some(Latest {
        frame: Arc::clone(&frame),
        generation,
        computed_at: now,
    });
    Some(frame)
}

/// The `queue:metrics_updated` frame for `queue_id`, now.
async fn frame(state: &Shared, queue_id: &str) -> Option<Frame> {
    let now = OffsetDateTime::now_utc();
    match queue_metrics(state.store.database(), queue_id, now, &state.sla).await {
        Ok(figures) => {
            let data = serde_json::to_value(&figures).ok()?;
            let room = format!("queue:{queue_id}");
            Some(protocol::latest("queue:metrics_updated", &room, &data).into())
        }
        Err(error) => {
            bomizzel_store::warn_unless_outage!(bomizzel_store::health::outage_of(&error), %error, queue = queue_id, "cannot compute queue metrics");
            None
        }
    }
}

/// Pushes due metrics to the staff in each queue's room until `shutdown`:
/// queues the hub reports on `touched`, at most once per queue per
/// interval, and every watched queue each refresh period.
pub(crate) async fn run(
    hub: Arc<Hub>,
    mut touched: mpsc::UnboundedReceiver<Vec<String>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut coalescer = MetricsCoalescer::new(hub.settings.metrics_min_interval);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut refresh = tokio::time::interval(hub.settings.metrics_refresh);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(queues) = touched.recv() => {
                // Before any push of the change, so that a connection that
                // joins after that push is not sent a frame from before it.
                hub.latest_metrics.touch(&queues);
                coalescer.touch(queues, Instant::now());
                continue;
            }
            _ = refresh.tick() => coalescer.touch(hub.watched_queues(), Instant::now()),
            _ = crate::stopped(&mut shutdown) => return,
        }
        for queue in coalescer.due(Instant::now()) {
            push(&hub, &queue).await;
        }
    }
}

/// Sends `queue`'s metrics to the staff in its room, if any.
async fn push(hub: &Hub, queue: &str) {
    let watchers = hub.staff_queues(&format!("queue:{queue}"));
    if watchers.is_empty() {
        return;
    }
    if let Some(frame) = latest(hub, queue).await {
        for watcher in watchers {
            // A full queue is handled by the next change's dispatch.
            let _ = watcher.try_send(Outbound::Latest(Arc::clone(&frame)));
        }
    }
}
