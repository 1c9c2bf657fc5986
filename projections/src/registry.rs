//! The projections the service runs, by name.

use std::sync::Arc;

use crate::Projection;
use crate::feed::RoomFeedProjection;
use crate::metrics::QueueMetricsProjection;
use crate::notifications::NotificationsProjection;
use crate::search::SearchProjection;
use crate::tickets::TicketsProjection;

/// Every projection, in the order they are started and rebuilt.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(TicketsProjection),
        Arc::new(QueueMetricsProjection),
        Arc::new(NotificationsProjection),
        Arc::new(RoomFeedProjection),
        Arc::new(SearchProjection),
    ]
}

/// The projection called `name`, if there is one.
pub fn by_name(name: &str) -> Option<Arc<dyn Projection>> {
    all()
        .into_iter()
        .find(|projection| projection.name() == name)
}

/// Names of every projection, for error messages and help.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|projection| projection.name()).collect()
}
