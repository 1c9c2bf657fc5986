//! Latest-value queue metrics for `queue:` rooms (`queue:metrics_updated`):
//! pushed when a queue's tickets changed, at most once per queue per
//! interval, and for every watched queue each refresh period (figures that
//! move with the clock). Apart from the hub's change fan-out because they
//! are nothing like changes: no offset, never replayed, recomputed from the
//! read model rather than forwarded, and only for staff.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use bomizzel_identity::Shared;
use bomizzel_projections::metrics::{MetricsCoalescer, queue_metrics};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::hub::{Hub, Outbound};
use crate::protocol;

/// The `queue:metrics_updated` frame for `queue_id`, now.
pub(crate) async fn frame(state: &Shared, queue_id: &str) -> Option<Utf8Bytes> {
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
    if let Some(frame) = frame(&hub.state, queue).await {
        let frame = Arc::new(frame);
        for watcher in watchers {
            // A full queue is handled by the next change's dispatch.
            let _ = watcher.try_send(Outbound::Latest(Arc::clone(&frame)));
        }
    }
}
