//! The room-feed offset an HTTP read is consistent with, for clients that
//! reload from the API and go on live: `Bomizzel-Feed-Offset` and
//! `Bomizzel-Feed-Epoch` on the ticket list, a ticket and the inbox.
//! Subscribing from that offset, the client misses no change the answer
//! lacks and gets none twice that it has (why that holds is in the
//! projections' `snapshot` module).
//!
//! The feed may be a little behind the read model the answer came from;
//! the answer waits for it, a bounded while.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bomizzel_projections::snapshot::{FeedPoint, feed_offset_through};
use tokio::time::Instant;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

pub const FEED_OFFSET: HeaderName = HeaderName::from_static("bomizzel-feed-offset");
pub const FEED_EPOCH: HeaderName = HeaderName::from_static("bomizzel-feed-epoch");

/// Longest wait for the feed to reach a read model's position.
const FEED_WAIT: Duration = Duration::from_secs(2);
const FEED_POLL: Duration = Duration::from_millis(5);

/// The headers naming the feed offset consistent with an answer read at
/// event `position`; 503 if the feed does not get there in time.
pub async fn feed_headers(state: &AppState, position: i64) -> ApiResult<HeaderMap> {
    let point = feed_point(state, position).await?;
    let mut headers = HeaderMap::new();
    headers.insert(FEED_OFFSET, HeaderValue::from(point.offset));
    if let Ok(epoch) = HeaderValue::from_str(&point.epoch) {
        headers.insert(FEED_EPOCH, epoch);
    }
    Ok(headers)
}

async fn feed_point(state: &AppState, position: i64) -> ApiResult<FeedPoint> {
    let deadline = Instant::now() + FEED_WAIT;
    loop {
        let found = feed_offset_through(state.store.database(), position).await?;
        if let Some(point) = found {
            return Ok(point);
        }
        if Instant::now() >= deadline {
            return Err(ApiError::unavailable(
                "feed_behind",
                "the room feed is behind this answer's read model; try again shortly",
            )
            .retry_after(1));
        }
        tokio::time::sleep(FEED_POLL).await;
    }
}
