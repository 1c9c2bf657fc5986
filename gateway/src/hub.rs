//! The hub: one per node. It tails the room feed from the shared database
//! and hands each change to every connection of this node that is in one
//! of the change's rooms and may see its audience — once per connection,
//! as one frame serialised once and shared. Queues whose tickets changed
//! are handed to the metrics push (`metrics_push.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bomizzel_domain::Viewer;
use bomizzel_identity::presence::Routing;
use bomizzel_identity::{Caller, Shared, ticket};
use bomizzel_projections::feed::{self, FeedChange};
use bomizzel_store::Database;
use sqlx::postgres::PgListener;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::frame::Frame;
use crate::metrics_push::LatestFrames;
use crate::protocol;
use crate::settings::GatewaySettings;

pub type ConnId = u64;

/// One feed change on its way to connections.
#[derive(Debug)]
pub struct Delivery {
    pub offset: i64,
    pub rooms: Vec<String>,
    /// Serialised once for every connection that gets it.
    pub frame: Frame,
}

impl Delivery {
    /// `change` as `viewer` is given it: with the rooms the visibility
    /// policy lists to them (the same for every viewer of one
    /// [`Viewer::is_staff`]).
    pub fn for_viewer(change: &FeedChange, viewer: Viewer<'_>) -> Self {
        let rooms: Vec<String> = change
            .rooms
            .iter()
            .filter(|room| viewer.lists_room(room))
            .cloned()
            .collect();
        Self {
            offset: change.offset,
            frame: protocol::event(
                change.offset,
                change.position,
                &change.event,
                &rooms,
                change.payload.get(),
            )
            .into(),
            rooms,
        }
    }
}

/// What the hub puts in a connection's queue.
///
/// Two pointers' worth: a queue allocates its first block of slots up
/// front, so a small item keeps connections cheap.
#[derive(Debug, Clone)]
pub enum Outbound {
    Change(Arc<Delivery>),
    /// A latest-value frame (queue metrics, presence): no offset.
    Latest(Arc<Frame>),
}

impl Outbound {
    pub fn frame(&self) -> &Frame {
        match self {
            Self::Change(delivery) => &delivery.frame,
            Self::Latest(frame) => frame,
        }
    }
}

struct Entry {
    /// Created by the connection's first join: a queue costs ~1 KiB (its
    /// shared state and first block of slots), which an idle connection
    /// need not hold.
    sender: Option<mpsc::Sender<Outbound>>,
    /// Who reads the connection, as of its latest token and directory
    /// check: every change is checked against them.
    reader: Arc<Caller>,
}

/// Whether `viewer` gets `change`: its audience, and the visibility
/// policy's check of the rooms it is routed to (a ticket that moved to
/// another team's queue stops reaching the old team's agents at once,
/// whatever rooms they are in).
pub(crate) fn reaches(viewer: Viewer<'_>, change: &FeedChange) -> bool {
    let audience = if viewer.is_staff() {
        change.audience.reaches_staff()
    } else {
        change.audience.reaches_customers()
    };
    audience && viewer.may_receive(&change.rooms)
}

#[derive(Default)]
struct Registry {
    by_room: HashMap<String, HashSet<ConnId>>,
    connections: HashMap<ConnId, Entry>,
    /// Offset of the last change handed to connections.
    dispatched: i64,
}

/// Shared by every connection of this node.
pub struct Hub {
    pub(crate) state: Shared,
    pub(crate) settings: GatewaySettings,
    /// Queues whose tickets changed, for the metrics push.
    touched: mpsc::UnboundedSender<Vec<String>>,
    /// Each queue's metrics frame for connections joining its room.
    pub(crate) latest_metrics: LatestFrames,
    /// Ticket rooms with presence whose tickets changed, for `follow_routing`.
    moved: mpsc::UnboundedSender<Vec<String>>,
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    epoch: Mutex<String>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// Starts the hub at the feed's current head; it runs until `shutdown`.
    /// The queues its changes touch are sent on `touched`.
    pub async fn start(
        state: Shared,
        settings: GatewaySettings,
        feed_committed: watch::Receiver<i64>,
        touched: mpsc::UnboundedSender<Vec<String>>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Self>, bomizzel_projections::ProjectionError> {
        let meta = feed::meta(state.store.database()).await?;
        let (epoch, head) = meta.map_or((String::new(), 0), |m| (m.epoch, m.head));
        let (moved, changed_tickets) = mpsc::unbounded_channel();
        tokio::spawn(follow_routing(state.clone(), changed_tickets));
        let hub = Arc::new(Self {
            touched,
            latest_metrics: LatestFrames::default(),
            moved,
            state,
            settings,
            registry: Mutex::new(Registry {
                dispatched: head,
                ..Registry::default()
            }),
            next_id: AtomicU64::new(1),
            epoch: Mutex::new(epoch),
        });
        tokio::spawn(Arc::clone(&hub).tail(feed_committed, shutdown));
        Ok(hub)
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain maps behind; keep serving.
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The feed's head for a `ready`: read from the database, or while it
    /// is away the offset through which this node has handed out changes,
    /// so that a client is answered at once.
    pub(crate) async fn head(&self) -> i64 {
        let health = self.state.store.health();
        match health
            .unless_down(feed::head(self.state.store.database()))
            .await
        {
            Some(Ok(head)) => head,
            _ => self.registry().dispatched,
        }
    }

    pub fn epoch(&self) -> String {
        self.epoch.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Registers a connection read by `reader`.
    pub fn connect(&self, reader: Arc<Caller>) -> ConnId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            sender: None,
            reader,
        };
        self.registry().connections.insert(id, entry);
        metrics::gauge!("ws_connections").increment(1.0);
        id
    }

    /// The connection's token was refreshed or its user's directory facts
    /// changed: later changes are checked against `reader`.
    pub fn update_reader(&self, id: ConnId, reader: Arc<Caller>) {
        if let Some(entry) = self.registry().connections.get_mut(&id) {
            entry.reader = reader;
        }
    }

    pub fn disconnect(&self, id: ConnId) {
        let mut registry = self.registry();
        if registry.connections.remove(&id).is_some() {
            metrics::gauge!("ws_connections").decrement(1.0);
        }
        registry.by_room.retain(|_, members| {
            if members.remove(&id) {
                metrics::gauge!("ws_room_memberships").decrement(1.0);
            }
            !members.is_empty()
        });
    }

    /// Whether the connection is no longer handed changes: dropped as too
    /// slow (or ended with the feed's epoch).
    pub(crate) fn dropped(&self, id: ConnId) -> bool {
        !self.registry().connections.contains_key(&id)
    }

    /// Puts the connection in `room` and returns the offset through which
    /// changes have already been handed out: later ones arrive in its
    /// queue, which the connection's first join creates and returns.
    pub fn join(&self, id: ConnId, room: &str) -> (i64, Option<mpsc::Receiver<Outbound>>) {
        let mut registry = self.registry();
        let queue = registry
            .connections
            .get_mut(&id)
            .filter(|entry| entry.sender.is_none())
            .map(|entry| {
                let (sender, receiver) = mpsc::channel(self.settings.send_queue);
                entry.sender = Some(sender);
                receiver
            });
        if registry
            .by_room
            .entry(room.to_owned())
            .or_default()
            .insert(id)
        {
            metrics::gauge!("ws_room_memberships").increment(1.0);
        }
        (registry.dispatched, queue)
    }

    pub fn leave(&self, id: ConnId, room: &str) {
        let mut registry = self.registry();
        if let Some(members) = registry.by_room.get_mut(room) {
            if members.remove(&id) {
                metrics::gauge!("ws_room_memberships").decrement(1.0);
            }
            if members.is_empty() {
                registry.by_room.remove(room);
            }
        }
    }

    /// Hands `change` to each connection in any of its rooms that it
    /// reaches, once.
    fn dispatch(&self, change: &FeedChange) {
        // Built on first use: one for staff, one for customers.
        let mut deliveries: [Option<Arc<Delivery>>; 2] = [None, None];
        let mut registry = self.registry();
        let mut recipients: Vec<ConnId> = change
            .rooms
            .iter()
            .filter_map(|room| registry.by_room.get(room))
            .flatten()
            .copied()
            .collect();
        recipients.sort_unstable();
        recipients.dedup();
        let mut slow = Vec::new();
        for id in recipients {
            // A connection in a room has a queue: its first join made it.
            let Some(entry) = registry.connections.get(&id) else {
                continue;
            };
            let Some(sender) = &entry.sender else {
                continue;
            };
            let viewer = entry.reader.viewer();
            if !reaches(viewer, change) {
                continue;
            }
            let delivery = deliveries[usize::from(viewer.is_staff())]
                .get_or_insert_with(|| Arc::new(Delivery::for_viewer(change, viewer)));
            if sender
                .try_send(Outbound::Change(Arc::clone(delivery)))
                .is_err()
            {
                slow.push(id);
            }
        }
        registry.dispatched = change.offset;
        drop(registry);
        // Dropping a slow connection's sender ends its queue: it closes with 4008.
        for id in slow {
            tracing::info!(connection = id, "slow consumer dropped");
            metrics::counter!("ws_slow_consumers_dropped_total").increment(1);
            self.disconnect(id);
        }
    }

    /// Follows the feed: wakes on this node's projection commits, on other
    /// nodes' NOTIFYs (PostgreSQL), or every poll interval.
    async fn tail(
        self: Arc<Self>,
        mut committed: watch::Receiver<i64>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut notified = listen_for_feed(self.state.store.database()).await;
        loop {
            let after = self.registry().dispatched;
            match feed::since(self.state.store.database(), after, 1000).await {
                Ok(changes) if !changes.is_empty() => {
                    self.follow_presence(&changes);
                    let mut touched = Vec::new();
                    for change in &changes {
                        self.dispatch(change);
                        touched.extend(
                            change
                                .rooms
                                .iter()
                                .filter_map(|r| r.strip_prefix("queue:"))
                                .map(str::to_owned),
                        );
                    }
                    if !touched.is_empty() {
                        // The push may have stopped with the server: nothing to tell.
                        let _ = self.touched.send(touched);
                    }
                    continue;
                }
                Ok(_) => self.check_epoch().await,
                Err(error) => {
                    bomizzel_store::warn_unless_outage!(error.outage(), %error, "cannot read the room feed")
                }
            }
            tokio::select! {
                _ = committed.changed() => {}
                _ = next_notification(&mut notified) => {}
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = crate::stopped(&mut shutdown) => return,
            }
        }
    }

    /// Tickets that changed and have presence on this node are looked up
    /// again (`follow_routing`): one that moved takes the members who may
    /// no longer see it off its list.
    fn follow_presence(&self, changes: &[FeedChange]) {
        let rooms = changes
            .iter()
            .flat_map(|c| c.rooms.iter().map(String::as_str));
        let tickets = self.state.presence.tracked_tickets(rooms);
        if !tickets.is_empty() {
            // The follower ends only with the hub.
            let _ = self.moved.send(tickets);
        }
    }

    /// A rebuilt feed starts a new epoch from offset 0: follow it.
    async fn check_epoch(&self) {
        let Ok(Some(meta)) = feed::meta(self.state.store.database()).await else {
            return;
        };
        let mut epoch = self.epoch.lock().unwrap_or_else(|p| p.into_inner());
        if epoch.is_empty() {
            // This node started while a rebuild had emptied the feed: nothing to forget.
            *epoch = meta.epoch;
        } else if *epoch != meta.epoch {
            // Offsets of the old epoch mean nothing now: every connection is
            // ended (their queues close) and resumes, learning recovered:false.
            tracing::info!(epoch = %meta.epoch, "room feed has a new epoch");
            *epoch = meta.epoch;
            let mut registry = self.registry();
            registry.dispatched = meta.head;
            registry.connections.clear();
            registry.by_room.clear();
        }
    }

    /// The queues some connection of this node watches.
    pub(crate) fn watched_queues(&self) -> Vec<String> {
        self.registry()
            .by_room
            .keys()
            .filter_map(|room| room.strip_prefix("queue:"))
            .map(str::to_owned)
            .collect()
    }

    /// The rooms with presence (or board counts) that some connection of
    /// this node is in.
    pub(crate) fn presence_rooms(&self) -> Vec<String> {
        self.registry()
            .by_room
            .keys()
            .filter(|room| bomizzel_identity::Presence::tracks(room) || room.starts_with("queue:"))
            .cloned()
            .collect()
    }

    /// The readers and queues of the connections in `room`.
    pub(crate) fn readers(&self, room: &str) -> Vec<(Arc<Caller>, mpsc::Sender<Outbound>)> {
        let registry = self.registry();
        let Some(members) = registry.by_room.get(room) else {
            return Vec::new();
        };
        members
            .iter()
            .filter_map(|id| registry.connections.get(id))
            .filter_map(|entry| Some((Arc::clone(&entry.reader), entry.sender.clone()?)))
            .collect()
    }

    /// The queues of the staff connections in `room`.
    pub(crate) fn staff_queues(&self, room: &str) -> Vec<mpsc::Sender<Outbound>> {
        self.readers(room)
            .into_iter()
            .filter(|(reader, _)| reader.role.is_staff())
            .map(|(_, queue)| queue)
            .collect()
    }
}

/// Tells presence where changed tickets are now, one batch after another
/// (in order, so an older load never overwrites a newer one), without
/// holding up the dispatch.
async fn follow_routing(state: Shared, mut changed: mpsc::UnboundedReceiver<Vec<String>>) {
    while let Some(mut rooms) = changed.recv().await {
        while let Ok(more) = changed.try_recv() {
            rooms.extend(more);
        }
        rooms.sort_unstable();
        rooms.dedup();
        for room in rooms {
            let id = room
                .strip_prefix("ticket:")
                .and_then(|id| Uuid::parse_str(id).ok());
            if let Some(id) = id
                && let Ok(ticket) = ticket::load(&state.store, id, None).await
                && ticket.exists()
            {
                state.presence.set_routing(&room, Routing::of(&ticket));
            }
        }
    }
}

/// On PostgreSQL, a listener for projection commits of any node.
async fn listen_for_feed(database: &Database) -> Option<PgListener> {
    let Database::Postgres(pool) = database else {
        return None;
    };
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener
        .listen(bomizzel_projections::PROJECTION_CHANNEL)
        .await
        .ok()?;
    Some(listener)
}

/// Resolves when a room-feed commit is announced; never without a listener.
async fn next_notification(listener: &mut Option<PgListener>) {
    match listener {
        Some(listener) => loop {
            match listener.recv().await {
                Ok(notification) if is_feed_commit(notification.payload()) => return,
                Ok(_) => {}
                Err(_) => return,
            }
        },
        None => std::future::pending().await,
    }
}

/// Whether a projection-commit NOTIFY (`name:position`) is the room feed's.
fn is_feed_commit(payload: &str) -> bool {
    payload
        .split_once(':')
        .is_some_and(|(name, _)| name == feed::NAME)
}
