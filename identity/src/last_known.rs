//! The directory facts last read for each user, for authenticating while
//! the database is unreachable.
//!
//! Clients reconnect when a database outage breaks something else on the
//! way (a load balancer, a restart of this node), and a `/ws` or Socket.IO
//! client that cannot authenticate cannot even be told to retry its
//! subscribes later. Facts change only by directory writes, which cannot
//! commit while the database is away; so during an outage (and only then:
//! [`Outage::Unreachable`]) a user this node has seen is authenticated with
//! what it last read. When the database returns, the directory relay
//! listens again and has every connection re-check against the database.
//! A user this node never saw is answered `database_unavailable`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bomizzel_store::Outage;

use crate::directory::CallerFacts;
use crate::error::IdentityResult;

/// Users remembered at most; past it the memory starts over (an outage
/// then refuses users not seen since, which is safe).
const MAX_USERS: usize = 100_000;

#[derive(Debug, Clone, Default)]
pub struct LastKnownFacts {
    facts: Arc<Mutex<HashMap<String, CallerFacts>>>,
}

impl LastKnownFacts {
    /// `read` (a fresh directory read) remembered, or during an outage the
    /// facts last read for `user_id`.
    pub(crate) fn remember_or_recall(
        &self,
        user_id: &str,
        read: IdentityResult<CallerFacts>,
    ) -> IdentityResult<CallerFacts> {
        let mut facts = self.facts.lock().unwrap_or_else(|e| e.into_inner());
        match read {
            Ok(read) => {
                // Every request authenticates: copy only what changed.
                if facts.get(user_id) != Some(&read) {
                    if facts.len() >= MAX_USERS && !facts.contains_key(user_id) {
                        facts.clear();
                    }
                    facts.insert(user_id.to_owned(), read.clone());
                }
                Ok(read)
            }
            Err(error) if error.outage() == Some(Outage::Unreachable) => {
                facts.get(user_id).cloned().ok_or(error)
            }
            Err(error) => Err(error),
        }
    }
}
