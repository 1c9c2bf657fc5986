//! Keeps a node's presence moving: ticks its lifetimes every 100 ms and,
//! on PostgreSQL, tells the other nodes its lists and hears theirs with
//! `NOTIFY` on [`CHANNEL`], so that every node holds the union.
//!
//! Messages (JSON): `{"node","room","routing","members"}` is the sender's
//! whole list of a room (empty when it has nobody there) and where its
//! ticket is, sent when it changes;
//! `{"node","alive":true}` is sent every third of the lease, and a node
//! not heard from within the lease is forgotten with its members;
//! `{"node","hello":true}`, sent when a node starts listening, has every
//! other node send its lists again.

use std::collections::BTreeSet;
use std::time::Duration;

use bomizzel_store::Database;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::listen::{listen, listen_again};
use crate::presence::{CHANNEL, Member, Presence, Routing};

/// How often lifetimes are checked.
const TICK: Duration = Duration::from_millis(100);
/// PostgreSQL refuses NOTIFY payloads from 8000 bytes.
const MAX_PAYLOAD: usize = 7900;

#[derive(Debug, Serialize, Deserialize)]
struct Message {
    node: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    routing: Option<Routing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    members: Option<Vec<Member>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    alive: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    hello: bool,
}

impl Message {
    fn from(node: Uuid) -> Self {
        Self {
            node,
            room: None,
            routing: None,
            members: None,
            alive: false,
            hello: false,
        }
    }
}

impl Presence {
    /// Runs this node's presence until `shutdown`: lifetimes and, on
    /// PostgreSQL, the relay with the other nodes (listening before this
    /// returns).
    pub async fn start(
        &self,
        database: &Database,
        shutdown: watch::Receiver<bool>,
    ) -> Result<JoinHandle<()>, sqlx::Error> {
        let outgoing = self.take_outgoing();
        let relay = match (database, outgoing) {
            (Database::Postgres(pool), Some(outgoing)) => {
                let listener = listen(pool, CHANNEL).await?;
                let relay = Relay {
                    presence: self.clone(),
                    pool: pool.clone(),
                    shutdown: shutdown.clone(),
                };
                relay.send(vec![hello(self.node())]).await;
                Some((relay, listener, outgoing))
            }
            _ => None,
        };
        let presence = self.clone();
        Ok(tokio::spawn(async move {
            match relay {
                Some((relay, listener, outgoing)) => {
                    tokio::join!(ticks(presence, shutdown), relay.run(listener, outgoing));
                }
                None => ticks(presence, shutdown).await,
            }
        }))
    }
}

fn hello(node: Uuid) -> String {
    let message = Message {
        hello: true,
        ..Message::from(node)
    };
    serde_json::to_string(&message).unwrap_or_default()
}

async fn ticks(presence: Presence, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => presence.tick(),
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// What woke the relay.
enum Step {
    /// A notification, or `None` when the listener broke.
    Received(Option<sqlx::postgres::PgNotification>),
    /// This node's list of a room changed.
    Changed(String),
    /// Time to say this node is alive.
    Alive,
}

struct Relay {
    presence: Presence,
    pool: PgPool,
    shutdown: watch::Receiver<bool>,
}

impl Relay {
    async fn run(
        mut self,
        mut listener: PgListener,
        mut outgoing: mpsc::UnboundedReceiver<String>,
    ) {
        let mut alive = tokio::time::interval(self.presence.settings().lease / 3);
        let mut shutdown = self.shutdown.clone();
        loop {
            let step = tokio::select! {
                received = listener.try_recv() => Step::Received(received.ok().flatten()),
                Some(room) = outgoing.recv() => Step::Changed(room),
                _ = alive.tick() => Step::Alive,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            match step {
                Step::Received(Some(notification)) => self.receive(notification.payload()).await,
                Step::Received(None) => {
                    tracing::warn!("presence notifications interrupted; listening again");
                    let Some(again) = listen_again(&self.pool, CHANNEL, &mut self.shutdown).await
                    else {
                        return;
                    };
                    listener = again;
                    self.send(vec![hello(self.presence.node())]).await;
                }
                Step::Changed(room) => {
                    let mut rooms = BTreeSet::from([room]);
                    while let Ok(room) = outgoing.try_recv() {
                        rooms.insert(room);
                    }
                    self.publish(rooms.into_iter()).await;
                }
                Step::Alive => {
                    let message = Message {
                        alive: true,
                        ..Message::from(self.presence.node())
                    };
                    self.send(vec![serde_json::to_string(&message).unwrap_or_default()])
                        .await;
                }
            }
        }
    }

    async fn receive(&self, payload: &str) {
        let Ok(message) = serde_json::from_str::<Message>(payload) else {
            tracing::warn!("undecodable presence notification");
            return;
        };
        if message.node == self.presence.node() {
            return;
        }
        if message.hello {
            self.publish(self.presence.local_rooms().into_iter()).await;
        }
        match (message.room, message.members) {
            (Some(room), Some(members)) => {
                self.presence
                    .remote_list(message.node, &room, message.routing, members);
            }
            _ => self.presence.remote_alive(message.node),
        }
    }

    /// Sends this node's list of each room.
    async fn publish(&self, rooms: impl Iterator<Item = String>) {
        let node = self.presence.node();
        let payloads = rooms
            .map(|room| {
                let mut members = self.presence.local_members(&room);
                let routing = self.presence.routing(&room);
                loop {
                    let message = Message {
                        room: Some(room.clone()),
                        routing: routing.clone(),
                        members: Some(members.clone()),
                        ..Message::from(node)
                    };
                    let payload = serde_json::to_string(&message).unwrap_or_default();
                    if payload.len() <= MAX_PAYLOAD || members.is_empty() {
                        return payload;
                    }
                    tracing::warn!(room, "presence list too long to relay whole; trimmed");
                    members.truncate(members.len() / 2);
                }
            })
            .collect();
        self.send(payloads).await;
    }

    /// NOTIFYs every payload in one statement.
    async fn send(&self, payloads: Vec<String>) {
        let sent = sqlx::query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
            .bind(CHANNEL)
            .bind(&payloads)
            .execute(&self.pool)
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "cannot relay presence to the other nodes");
        }
    }
}
