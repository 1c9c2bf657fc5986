//! Directory changes (memberships, logout, revoked sessions, disabled
//! users) reach the gateway of every node, so that the user's open sockets
//! are re-checked wherever they are connected: at once on this node, and
//! through PostgreSQL `NOTIFY` on the others.
//!
//! Every change goes through [`DirectoryChanges::publish`]: it sends to
//! this node's sockets and, on PostgreSQL, notifies the others on
//! [`CHANNEL`]. Each node runs one relay ([`DirectoryChanges::start_relay`])
//! that feeds the other nodes' notifications into its own broadcast. When
//! the relay's connection breaks, changes may have been missed: once it
//! listens again, every connection of the node re-checks.

use bomizzel_store::Database;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::error::IdentityResult;

/// The PostgreSQL channel of directory changes. Payload: `NODE:USER_ID`.
pub const CHANNEL: &str = "bomizzel_directory";

/// Pause before listening again after the relay's connection broke.
const RELISTEN_BACKOFF: std::time::Duration = std::time::Duration::from_millis(500);

/// Whose sessions a change may have ended or whose rooms it may have taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryChange {
    User(String),
    /// Changes may have been missed: everyone re-checks.
    Everyone,
}

impl DirectoryChange {
    /// Whether a connection of `user_id` must re-check.
    pub fn concerns(&self, user_id: &str) -> bool {
        match self {
            Self::User(user) => user == user_id,
            Self::Everyone => true,
        }
    }
}

/// This node's directory changes: publish one, or subscribe to all.
#[derive(Debug, Clone)]
pub struct DirectoryChanges {
    local: broadcast::Sender<DirectoryChange>,
    /// Tells this node's own notifications from the others'.
    node: Uuid,
    database: Database,
}

impl DirectoryChanges {
    pub fn new(database: Database) -> Self {
        let (local, _) = broadcast::channel(1024);
        Self {
            local,
            node: Uuid::new_v4(),
            database,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<DirectoryChange> {
        self.local.subscribe()
    }

    /// Announces that `user_id`'s memberships or sessions changed, on every
    /// node. Call it after the change committed.
    pub async fn publish(&self, user_id: &str) -> IdentityResult<()> {
        let _ = self.local.send(DirectoryChange::User(user_id.to_owned()));
        if let Database::Postgres(pool) = &self.database {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(format!("{}:{user_id}", self.node))
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// On PostgreSQL, listens to the other nodes' changes (listening
    /// before this returns, so nothing published after is missed) and
    /// relays them to this node's sockets until `shutdown`.
    pub async fn start_relay(
        &self,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Option<JoinHandle<()>>, sqlx::Error> {
        let Database::Postgres(pool) = &self.database else {
            return Ok(None);
        };
        let listener = listen(pool).await?;
        let relay = Relay {
            changes: self.clone(),
            pool: pool.clone(),
            shutdown,
        };
        Ok(Some(tokio::spawn(relay.run(listener))))
    }

    /// The change another node announced in `payload`; `None` for this
    /// node's own (already sent) and for malformed payloads.
    fn foreign(&self, payload: &str) -> Option<DirectoryChange> {
        let (node, user_id) = payload.split_once(':')?;
        (node != self.node.to_string()).then(|| DirectoryChange::User(user_id.to_owned()))
    }
}

#[derive(Debug)]
struct Relay {
    changes: DirectoryChanges,
    pool: PgPool,
    shutdown: watch::Receiver<bool>,
}

impl Relay {
    async fn run(mut self, mut listener: PgListener) {
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                _ = self.shutdown.wait_for(|stop| *stop) => return,
            };
            match received {
                Ok(Some(notification)) => {
                    if let Some(change) = self.changes.foreign(notification.payload()) {
                        let _ = self.changes.local.send(change);
                    }
                }
                Ok(None) | Err(_) => {
                    tracing::warn!("directory notifications interrupted; listening again");
                    let Some(again) = self.listen_again().await else {
                        return;
                    };
                    listener = again;
                    let _ = self.changes.local.send(DirectoryChange::Everyone);
                }
            }
        }
    }

    /// A new listener, retried until it listens; `None` on shutdown.
    async fn listen_again(&mut self) -> Option<PgListener> {
        loop {
            let attempt = tokio::select! {
                attempt = listen(&self.pool) => attempt,
                _ = self.shutdown.wait_for(|stop| *stop) => return None,
            };
            match attempt {
                Ok(listener) => return Some(listener),
                Err(error) => {
                    bomizzel_store::warn_unless_outage!(bomizzel_store::health::outage_of(&error), %error, "cannot listen for directory changes");
                    tokio::select! {
                        () = tokio::time::sleep(RELISTEN_BACKOFF) => {}
                        _ = self.shutdown.wait_for(|stop| *stop) => return None,
                    }
                }
            }
        }
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_concerns_its_user_or_everyone() {
        let change = DirectoryChange::User("u-1".into());
        assert!(change.concerns("u-1"));
        assert!(!change.concerns("u-2"));
        assert!(DirectoryChange::Everyone.concerns("u-2"));
    }
}
