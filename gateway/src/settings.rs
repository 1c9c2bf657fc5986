//! The gateway's limits and timings; every one protects the other clients.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// A connection must authenticate within this time.
    pub auth_deadline: Duration,
    /// The server pings this often; below the presence lease, so that a
    /// live but quiet client stays on presence lists.
    pub heartbeat: Duration,
    /// A peer silent for this long is dropped.
    pub idle_timeout: Duration,
    /// Frames queued for one connection; a full queue closes it with 4008.
    pub send_queue: usize,
    /// A write to a client that makes no progress for this long closes
    /// the connection with 4008: a client that stopped reading fills the
    /// socket's buffers, and its writes never complete.
    pub write_deadline: Duration,
    /// permessage-deflate on `/ws` for clients that offer it (`deflate.rs`).
    pub deflate: bool,
    /// Rooms one connection may be in.
    pub max_rooms: usize,
    /// Live connections one user may hold on this node, `/ws` and
    /// Socket.IO together.
    pub max_connections_per_user: usize,
    /// Largest frame a client may send.
    pub max_frame_bytes: usize,
    /// Bad frames tolerated per minute before closing with 1008.
    pub max_errors_per_minute: u32,
    /// Allowed `Origin` of browser connections (FRONTEND_URL); any when unset.
    pub allowed_origin: Option<String>,
    /// How often the hub looks at the feed when no wake-up comes.
    pub poll_interval: Duration,
    /// Queue metrics are pushed at most this often per queue.
    pub metrics_min_interval: Duration,
    /// Every queue with subscribers gets fresh metrics this often, for the
    /// figures that move with the clock (METRICS_UPDATE_INTERVAL).
    pub metrics_refresh: Duration,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            auth_deadline: Duration::from_secs(10),
            heartbeat: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            send_queue: 1024,
            write_deadline: Duration::from_secs(10),
            deflate: false,
            max_rooms: 100,
            max_connections_per_user: 20,
            max_frame_bytes: 64 * 1024,
            max_errors_per_minute: 10,
            allowed_origin: None,
            poll_interval: Duration::from_millis(500),
            metrics_min_interval: Duration::from_secs(1),
            metrics_refresh: Duration::from_secs(5 * 60),
        }
    }
}
