//! The protocol-independent half of a gateway connection, shared by `GET /ws`
//! (`connection.rs`) and Socket.IO (`socketio.rs`): who the caller is, which
//! rooms it is in, subscriptions with replay then live, per-room cursors,
//! membership re-checks, presence in ticket and team rooms. The protocol
//! supplies a [`Transport`] that puts
//! admitted changes on the wire.
//!
//! Exactly-once across the replay/live switch: joining a room returns the
//! offset P through which the hub has already handed out changes; later
//! changes arrive in this connection's queue. Queued changes up to P are
//! delivered first, the room's history in (since, P] is replayed from the
//! database, and newer queued changes are held until the replay is done.
//! Each room keeps a cursor (the client has every change of the room up to
//! it); a change is sent only if it is past the cursor of every subscribed
//! room it belongs to, so it reaches the client once and, within a room, in
//! increasing order.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bomizzel_domain::visibility::presence::Activity;
use bomizzel_identity::presence::{self, Presence, Routing, Who};
use bomizzel_identity::{Caller, IdentityError, auth, directory};
use bomizzel_projections::feed;
use bomizzel_store::Outage;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::time::Sleep;

use crate::hub::{self, ConnId, Delivery, Hub, Outbound};
use crate::protocol::close;
use crate::room::{self, Room, RoomKind};
use crate::{metrics_push, presence_push};

const REPLAY_BATCH: u32 = 500;
/// Queued changes written before one flush.
const WRITE_BATCH: usize = 64;

/// Why a connection ends: a WebSocket close code and reason (Socket.IO
/// clients get both in a `closing` event before the disconnect).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closing {
    pub code: u16,
    pub reason: &'static str,
}

impl Closing {
    pub fn new(code: u16, reason: &'static str) -> Self {
        Self { code, reason }
    }

    pub fn send_failed() -> Self {
        Self::new(close::GOING_AWAY, "send failed")
    }

    /// The hub dropped the connection: its queue overflowed.
    pub fn too_slow() -> Self {
        Self::new(
            close::SLOW_CONSUMER,
            "too slow: resume from your last offset",
        )
    }

    /// A write made no progress within the write deadline: the client
    /// stopped reading. Too slow as well.
    pub fn stalled() -> Self {
        metrics::counter!("ws_stalled_writes_total").increment(1);
        Self::new(
            close::SLOW_CONSUMER,
            "stopped reading: resume from your last offset",
        )
    }
}

/// Puts admitted changes on the wire of one protocol.
pub(crate) trait Transport: Send {
    /// Writes one change or latest-value message; may buffer until `flush`.
    fn feed(&mut self, outbound: &Outbound) -> impl Future<Output = Result<(), Closing>> + Send;
    fn flush(&mut self) -> impl Future<Output = Result<(), Closing>> + Send;
}

/// Follows the token's expiry with one timer per connection, moved only
/// when a refresh extends the token (a timer made anew on every pass of a
/// connection's loop would cost a timer-wheel entry each time).
pub(crate) struct Expiry {
    timed: i64,
}

impl Expiry {
    /// The follower and its timer, which the caller pins.
    pub fn start(session: &Session) -> (Self, Sleep) {
        let timer = tokio::time::sleep(session.until_expiry());
        let expiry = Self {
            timed: session.expires_at,
        };
        (expiry, timer)
    }

    /// Moves `timer` if the session's token changed since.
    pub fn follow(&mut self, session: &Session, timer: Pin<&mut Sleep>) {
        if session.expires_at != self.timed {
            self.timed = session.expires_at;
            timer.reset(tokio::time::Instant::now() + session.until_expiry());
        }
    }
}

/// A request the session refused; the connection stays.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub code: &'static str,
    pub message: String,
    /// The client's doing (a bad frame, a forbidden room), which counts
    /// towards the bad-frame limit; not so when the server failed and the
    /// client should simply retry.
    pub by_client: bool,
}

impl Refusal {
    /// The client asked for something wrong.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            by_client: true,
        }
    }

    /// The server could not answer now; the client may retry.
    fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            by_client: false,
            ..Self::new(code, message)
        }
    }
}

/// A room joined: whether its history since the client's offset was
/// replayed, and the live changes held back until the client is told.
#[derive(Debug)]
pub(crate) struct Joined {
    pub recovered: bool,
    pub reason: Option<&'static str>,
    held: Vec<Outbound>,
}

/// One authenticated connection's rooms and cursors.
pub(crate) struct Session {
    pub hub: Arc<Hub>,
    pub id: ConnId,
    pub token: String,
    /// Shared with the hub, which checks every change against it.
    pub caller: Arc<Caller>,
    pub expires_at: i64,
    /// Created by the first join (see `Hub::join`).
    queue: Option<mpsc::Receiver<Outbound>>,
    cursors: HashMap<String, i64>,
    /// Whether the client must be heard from within the presence lease to
    /// stay on presence lists (`/ws`; Socket.IO drops silent sockets).
    leased: bool,
    /// Who this connection is on presence lists, looked up on first need.
    who: Option<Who>,
}

/// Verifies `token`: the caller and the token's expiry (unix seconds).
pub(crate) async fn verify(hub: &Hub, token: &str) -> Result<(Caller, i64), Refusal> {
    let expires_at = hub.state.keys.verify(token).map_err(token_refused)?.exp;
    let caller = auth::authenticate(&hub.state, token)
        .await
        .map_err(token_refused)?;
    Ok((caller, expires_at))
}

/// What a client is told when its token is refused: the refusal's code and
/// detail. Failures of the server are logged and answered generically.
fn token_refused(error: IdentityError) -> Refusal {
    match error {
        IdentityError::Unauthorized { code, detail } => Refusal::new(code, detail),
        IdentityError::Database(_)
        | IdentityError::Store(_)
        | IdentityError::Unreachable
        | IdentityError::Undecodable(_) => {
            let outage = error.outage();
            database_refusal(&error, outage, "cannot authenticate a connection")
        }
    }
}

/// The rooms `caller` joins on connecting (Socket.IO), or why they cannot
/// be read now (the database is away).
pub(crate) async fn default_rooms(hub: &Hub, caller: &Caller) -> Result<Vec<String>, Refusal> {
    room::default_rooms(&hub.state, caller)
        .await
        .map_err(|error| {
            let outage = error.outage();
            database_refusal(&error, outage, "cannot read default rooms")
        })
}

fn outage_refusal() -> Refusal {
    Refusal::unavailable(
        "database_unavailable",
        "the database cannot be reached; retry shortly",
    )
}

/// What a client is told when the database failed its request: retry
/// shortly. An outage is reported by the store's health monitor; any
/// other failure is logged here.
fn database_refusal(error: &dyn std::fmt::Display, outage: Option<Outage>, what: &str) -> Refusal {
    if outage.is_some() {
        return outage_refusal();
    }
    tracing::error!(%error, "{what}");
    Refusal::unavailable("internal", "an internal error occurred; it has been logged")
}

impl Session {
    /// Registers the connection with the hub. `leased`: see [`Session::heard`].
    pub fn open(
        hub: Arc<Hub>,
        token: String,
        caller: Caller,
        expires_at: i64,
        leased: bool,
    ) -> Self {
        let caller = Arc::new(caller);
        let id = hub.connect(Arc::clone(&caller));
        Self {
            hub,
            id,
            token,
            caller,
            expires_at,
            queue: None,
            cursors: HashMap::new(),
            leased,
            who: None,
        }
    }

    /// The client spoke: a leased connection stays on presence lists.
    pub fn heard(&self) {
        self.hub.state.presence.heard(self.id);
    }

    /// The client announced `activity` (`viewing`, `replying`, `noting`
    /// or `left`) in `room`.
    pub fn announce(&self, room: &str, activity: &str) -> Result<(), Refusal> {
        let activity = match activity {
            "left" => None,
            other => Some(Activity::announced(other).ok_or_else(|| {
                Refusal::new(
                    "invalid_activity",
                    "activity must be viewing, replying, noting or left",
                )
            })?),
        };
        self.hub
            .state
            .presence
            .announce(self.id, room, activity)
            .map_err(|refused| match refused {
                presence::Refused::NotInRoom => {
                    Refusal::new("not_subscribed", format!("subscribe to {room} first"))
                }
                presence::Refused::NotATicketRoom => {
                    Refusal::new("invalid_room", "activities are announced in ticket rooms")
                }
            })
    }

    /// Puts the connection on `room`'s presence list.
    async fn enter_presence(&mut self, room: &str, routing: Option<Routing>) {
        if !Presence::tracks(room) {
            return;
        }
        let who = match &self.who {
            Some(who) => who.clone(),
            None => self.who.insert(self.look_up_who().await).clone(),
        };
        self.hub.state.presence.enter(self.id, room, routing, &who);
    }

    /// Who this connection is on presence lists, as the directory says now.
    async fn look_up_who(&self) -> Who {
        let database = self.hub.state.store.database();
        let user_id = &self.caller.user_id;
        let (name, name_public) = directory::presence_name(database, user_id)
            .await
            .unwrap_or_default();
        Who {
            caller: Arc::clone(&self.caller),
            name: name.unwrap_or_else(|| user_id.clone()),
            name_public,
            leased: self.leased,
        }
    }

    /// Time left until the token expires.
    pub fn until_expiry(&self) -> Duration {
        Duration::from_secs(
            u64::try_from(self.expires_at - OffsetDateTime::now_utc().unix_timestamp())
                .unwrap_or(0),
        )
    }

    /// The next change or latest-value frame for this connection: `None`
    /// once the hub has dropped it as too slow, and never ready before it
    /// joins a room.
    pub async fn next_queued(&mut self) -> Option<Outbound> {
        match &mut self.queue {
            Some(queue) => queue.recv().await,
            None => std::future::pending().await,
        }
    }

    fn try_next_queued(&mut self) -> Option<Outbound> {
        self.queue.as_mut()?.try_recv().ok()
    }

    /// Writes `first` and whatever else is queued, then flushes once.
    pub async fn write_queued<T: Transport>(
        &mut self,
        transport: &mut T,
        first: Outbound,
    ) -> Result<(), Closing> {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(outbound) = next.take() {
            if self.admit_outbound(&outbound) {
                transport.feed(&outbound).await?;
                written += 1;
            }
            if written < WRITE_BATCH {
                next = self.try_next_queued();
            }
        }
        transport.flush().await
    }

    fn admit_outbound(&mut self, outbound: &Outbound) -> bool {
        match outbound {
            Outbound::Change(delivery) => self.admit(delivery),
            Outbound::Latest(_) => true,
        }
    }

    /// Whether the client lacks this change; if so, moves the cursors of
    /// its subscribed rooms to it.
    fn admit(&mut self, delivery: &Delivery) -> bool {
        // On the fan-out's hot path: no allocation, no cloned room names.
        let mut subscribed = false;
        for cursor in delivery
            .rooms
            .iter()
            .filter_map(|room| self.cursors.get(room))
        {
            if *cursor >= delivery.offset {
                return false;
            }
            subscribed = true;
        }
        if subscribed {
            for room in &delivery.rooms {
                if let Some(cursor) = self.cursors.get_mut(room) {
                    *cursor = delivery.offset;
                }
            }
        }
        subscribed
    }

    pub fn unsubscribe(&mut self, room: &str) -> bool {
        self.hub.leave(self.id, room);
        self.hub.state.presence.leave(self.id, room);
        self.cursors.remove(room).is_some()
    }

    /// Replaces the token with a new one for the same user.
    pub async fn refresh(&mut self, token: String) -> Result<(), Refusal> {
        let (caller, expires_at) = verify(&self.hub, &token).await?;
        if caller.user_id != self.caller.user_id {
            return Err(Refusal::new(
                "user_mismatch",
                "a refreshed token must be for the same user",
            ));
        }
        self.token = token;
        self.set_caller(caller);
        self.refresh_who().await;
        self.expires_at = expires_at;
        Ok(())
    }

    fn set_caller(&mut self, caller: Caller) {
        self.caller = Arc::new(caller);
        self.hub.update_reader(self.id, Arc::clone(&self.caller));
    }

    /// The directory may have changed how this connection appears on
    /// presence lists (teams, name, whether customers see it).
    async fn refresh_who(&mut self) {
        if self.who.is_some() {
            let who = self.look_up_who().await;
            self.hub.state.presence.update_who(self.id, &who);
            self.who = Some(who);
        }
    }

    /// The user's memberships or sessions changed: re-check everything.
    /// Returns the rooms the caller was evicted from.
    pub async fn recheck(&mut self) -> Result<Vec<String>, Closing> {
        match auth::authenticate(&self.hub.state, &self.token).await {
            Ok(caller) => self.set_caller(caller),
            Err(_) => return Err(Closing::new(close::TOKEN_EXPIRED, "session ended")),
        }
        self.refresh_who().await;
        let rooms: Vec<String> = self.cursors.keys().cloned().collect();
        let mut evicted = Vec::new();
        for name in rooms {
            // During an outage the room is kept: nothing can change the
            // directory meanwhile, and the relay re-checks when it returns.
            let allowed = match Room::parse(&name) {
                Ok(room) => room::may_join(&self.hub.state, &self.caller, &room)
                    .await
                    .unwrap_or(true),
                Err(_) => false,
            };
            if !allowed {
                self.unsubscribe(&name);
                tracing::info!(connection = self.id, room = %name, "evicted from room");
                evicted.push(name);
            }
        }
        Ok(evicted)
    }

    /// Joins room `name` with replay from `since` (when the client has an
    /// offset of `epoch`), then live. Changes up to the join are written
    /// through `transport`; newer ones are held in the answer: send them
    /// with [`Session::release`] once the client has been told.
    pub async fn subscribe<T: Transport>(
        &mut self,
        transport: &mut T,
        name: &str,
        since: Option<i64>,
        epoch: Option<&str>,
    ) -> Result<Result<Joined, Refusal>, Closing> {
        let room = match Room::parse(name) {
            Ok(room) => room,
            Err(message) => return Ok(Err(Refusal::new("invalid_room", message))),
        };
        if !self.cursors.contains_key(name) && self.cursors.len() >= self.hub.settings.max_rooms {
            let message = format!(
                "at most {} rooms per connection",
                self.hub.settings.max_rooms
            );
            return Ok(Err(Refusal::new("too_many_rooms", message)));
        }
        let health = self.hub.state.store.health().clone();
        let admitted = room::admit(&self.hub.state, &self.caller, &room);
        let Some(admitted) = health.unless_down(admitted).await else {
            return Ok(Err(outage_refusal()));
        };
        let routing = match admitted {
            Ok(Some(routing)) => routing,
            Ok(None) => {
                tracing::info!(connection = self.id, room = name, "room refused");
                return Ok(Err(Refusal::new(
                    "forbidden",
                    format!("you may not join {name}"),
                )));
            }
            Err(error) => {
                let outage = error.outage();
                return Ok(Err(database_refusal(&error, outage, "cannot check a room")));
            }
        };
        let meta = health.unless_down(feed::meta(self.hub.state.store.database()));
        let Some(meta) = meta.await else {
            return Ok(Err(outage_refusal()));
        };
        let meta = match meta {
            Ok(meta) => meta,
            Err(error) => {
                if error.outage().is_some() {
                    return Ok(Err(outage_refusal()));
                }
                tracing::warn!(%error, room = name, "cannot read the room feed's head");
                return Ok(Err(Refusal::unavailable(
                    "feed_unavailable",
                    "the room feed cannot be read right now; subscribe again shortly",
                )));
            }
        };
        let (feed_epoch, head, trimmed) = meta.map_or((String::new(), 0, 0), |m| {
            (m.epoch, m.head, m.trimmed_through)
        });
        if since.is_some_and(|since| since > head) {
            return Ok(Err(Refusal::new(
                "offset_ahead",
                format!("since is ahead of the feed's head {head}"),
            )));
        }
        let recovery = match since {
            None => Err("no_offset"),
            Some(_) if epoch.is_some_and(|e| e != feed_epoch) => Err("epoch_changed"),
            Some(since) if since < trimmed => Err("history_trimmed"),
            Some(since) => Ok(since),
        };

        let (through, queue) = self.hub.join(self.id, name);
        if queue.is_some() {
            self.queue = queue;
        }
        let held = self.deliver_queued_through(transport, through).await?;
        if room.kind == RoomKind::Queue && self.caller.role.is_staff() {
            if let Some(frame) = metrics_push::latest(&self.hub, &room.id).await {
                transport.feed(&Outbound::Latest(frame)).await?;
            }
            let counts = presence_push::counts_frame(&self.hub, name, &room.id);
            transport.feed(&Outbound::Latest(counts)).await?;
        }
        if let Ok(since) = recovery {
            self.cursors.insert(name.to_owned(), since);
            self.replay(transport, name, since, through).await?;
        }
        let cursor = self.cursors.get(name).copied().unwrap_or(0).max(through);
        self.cursors.insert(name.to_owned(), cursor);
        transport.flush().await?;
        self.enter_presence(name, routing).await;
        tracing::debug!(connection = self.id, room = name, "joined room");
        Ok(Ok(Joined {
            recovered: recovery.is_ok(),
            reason: recovery.err(),
            held,
        }))
    }

    /// Sends the live changes a subscribe held back.
    pub async fn release<T: Transport>(
        &mut self,
        transport: &mut T,
        joined: Joined,
    ) -> Result<(), Closing> {
        for outbound in joined.held {
            if self.admit_outbound(&outbound) {
                transport.feed(&outbound).await?;
            }
        }
        transport.flush().await
    }

    /// Sends what is queued up to offset `through` and returns (holds) what
    /// came later, to be sent after the replay.
    async fn deliver_queued_through<T: Transport>(
        &mut self,
        transport: &mut T,
        through: i64,
    ) -> Result<Vec<Outbound>, Closing> {
        let mut held = Vec::new();
        while let Some(outbound) = self.try_next_queued() {
            match &outbound {
                Outbound::Change(delivery) if delivery.offset > through => held.push(outbound),
                _ => {
                    if self.admit_outbound(&outbound) {
                        transport.feed(&outbound).await?;
                    }
                }
            }
        }
        Ok(held)
    }

    /// Sends the room's changes in (since, through] that this client may see.
    async fn replay<T: Transport>(
        &mut self,
        transport: &mut T,
        room: &str,
        since: i64,
        through: i64,
    ) -> Result<(), Closing> {
        let database = self.hub.state.store.database().clone();
        let health = self.hub.state.store.health().clone();
        let rooms = [room.to_owned()];
        let mut after = since;
        while after < through {
            let batch = health
                .unless_down(feed::replay(&database, &rooms, after, REPLAY_BATCH))
                .await;
            let batch = match batch {
                Some(Ok(batch)) if batch.is_empty() => return Ok(()),
                Some(Ok(batch)) => batch,
                failed => {
                    if let Some(Err(error)) = failed {
                        bomizzel_store::warn_unless_outage!(error.outage(), %error, room, "replay failed");
                    }
                    return Err(Closing::new(
                        close::INTERNAL_ERROR,
                        "replay failed: resume from your last offset",
                    ));
                }
            };
            for change in batch {
                if change.offset > through {
                    return Ok(());
                }
                after = change.offset;
                let viewer = self.caller.viewer();
                if !hub::reaches(viewer, &change) {
                    continue;
                }
                let delivery = Delivery::for_viewer(&change, viewer);
                if self.admit(&delivery) {
                    transport
                        .feed(&Outbound::Change(Arc::new(delivery)))
                        .await?;
                }
            }
            transport.flush().await?;
        }
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.hub.state.presence.disconnect(self.id);
        self.hub.disconnect(self.id);
    }
}
