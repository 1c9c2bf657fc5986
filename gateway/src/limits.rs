//! Limits one client cannot push past, whichever protocol it speaks, so that
//! it cannot take what the other clients need:
//!
//! - [`UserConnections`]: live connections per user on this node, `/ws` and
//!   Socket.IO counted together (one leaked token must not hold thousands
//!   of sockets). A slot is an RAII guard: it frees itself when the
//!   connection's task ends, however it ends.
//! - [`BadFrames`]: bad frames (malformed, refused) a connection may send
//!   per minute before it is closed with 1008; both protocols answer a bad
//!   frame with an error and count it here.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::protocol::close;
use crate::session::Closing;

/// Why a connection over the per-user cap is refused: the `code` of the
/// 429 problem, of the `/ws` error frame, and the prefix of Socket.IO's
/// `connect_error` message.
pub(crate) const TOO_MANY_CONNECTIONS: &str = "too_many_connections";

/// Live connections per user id.
#[derive(Debug)]
pub(crate) struct UserConnections {
    max_per_user: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One connection's place in its user's count; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    owner: Arc<UserConnections>,
    user: String,
}

impl UserConnections {
    pub fn new(max_per_user: usize) -> Arc<Self> {
        Arc::new(Self {
            max_per_user,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection of `user`, or `None` at the cap.
    pub fn acquire(self: &Arc<Self>, user: &str) -> Option<ConnectionSlot> {
        let mut open = self.open();
        let count = open.entry(user.to_owned()).or_default();
        if *count >= self.max_per_user {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            owner: Arc::clone(self),
            user: user.to_owned(),
        })
    }

    /// Why a connection was refused, for the client.
    pub fn refusal(&self) -> String {
        format!(
            "at most {} connections per user are allowed; close one first",
            self.max_per_user
        )
    }

    fn open(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        // A panic while counting leaves the map consistent: keep using it.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open();
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// The bad frames of one connection in the last minute.
#[derive(Debug)]
pub(crate) struct BadFrames {
    max_per_minute: u32,
    seen: VecDeque<Instant>,
}

impl BadFrames {
    const WINDOW: Duration = Duration::from_secs(60);

    pub fn new(max_per_minute: u32) -> Self {
        Self {
            max_per_minute,
            seen: VecDeque::new(),
        }
    }

    /// Counts one bad frame; too many within a minute end the connection.
    pub fn count(&mut self) -> Result<(), Closing> {
        let now = Instant::now();
        self.seen.push_back(now);
        while self
            .seen
            .front()
            .is_some_and(|at| now.duration_since(*at) > Self::WINDOW)
        {
            self.seen.pop_front();
        }
        if self.seen.len() > self.max_per_minute as usize {
            return Err(Closing::new(close::POLICY, "too many bad frames"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_user_and_freed_on_drop() {
        let connections = UserConnections::new(2);
        let first = connections.acquire("a");
        let second = connections.acquire("a");
        assert!(first.is_some() && second.is_some());
        assert!(connections.acquire("a").is_none());
        assert!(connections.acquire("b").is_some(), "other users unaffected");
        drop(first);
        assert!(connections.acquire("a").is_some());
    }

    #[test]
    fn the_bad_frame_after_the_allowance_closes_with_1008() {
        let mut bad = BadFrames::new(3);
        for _ in 0..3 {
            assert!(bad.count().is_ok());
        }
        assert_eq!(bad.count().map_err(|c| c.code), Err(close::POLICY));
    }
}
