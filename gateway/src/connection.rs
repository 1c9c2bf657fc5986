//! One WebSocket connection: authentication, subscriptions with replay then
//! live, per-room cursors, heartbeats, token expiry, membership re-checks.
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

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bomizzel_api::{Caller, auth};
use bomizzel_projections::feed;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc, watch};

use crate::hub::{ConnId, Delivery, Hub, Outbound};
use crate::protocol::{self, ClientFrame, close};
use crate::room::{self, Room, RoomKind};

const REPLAY_BATCH: u32 = 500;
/// Queued frames written before one flush.
const WRITE_BATCH: usize = 64;

type Sink = SplitSink<WebSocket, Message>;

/// Why a connection ends.
struct Closing {
    code: u16,
    reason: &'static str,
}

impl Closing {
    fn new(code: u16, reason: &'static str) -> Self {
        Self { code, reason }
    }
}

struct Session {
    hub: Arc<Hub>,
    id: ConnId,
    token: String,
    caller: Caller,
    expires_at: i64,
    queue: mpsc::Receiver<Outbound>,
    cursors: HashMap<String, i64>,
    errors: VecDeque<Instant>,
    last_heard: Instant,
}

/// Serves one upgraded connection until it closes.
pub(crate) async fn serve(
    hub: Arc<Hub>,
    socket: WebSocket,
    header_token: Option<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut sink, mut stream) = socket.split();
    let (token, caller, expires_at) =
        match authenticate(&hub, &mut sink, &mut stream, header_token).await {
            Ok(authenticated) => authenticated,
            Err(closing) => {
                finish(&mut sink, closing).await;
                return;
            }
        };
    let (id, queue) = hub.connect(caller.role.is_staff());
    tracing::info!(connection = id, user = %caller.user_id, "websocket connected");
    let mut session = Session {
        hub: Arc::clone(&hub),
        id,
        token,
        caller,
        expires_at,
        queue,
        cursors: HashMap::new(),
        errors: VecDeque::new(),
        last_heard: Instant::now(),
    };
    let mut directory = hub.state.directory_changes.subscribe();
    let closing = session
        .run(&mut sink, &mut stream, &mut directory, &mut shutdown)
        .await;
    hub.disconnect(id);
    tracing::info!(
        connection = id,
        code = closing.code,
        reason = closing.reason,
        "websocket closed"
    );
    finish(&mut sink, closing).await;
}

async fn finish(sink: &mut Sink, closing: Closing) {
    let frame = CloseFrame {
        code: closing.code,
        reason: Utf8Bytes::from_static(closing.reason),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = sink.close().await;
}

/// The token from the upgrade's header, or from a first `auth` frame sent
/// within the deadline.
async fn authenticate(
    hub: &Hub,
    sink: &mut Sink,
    stream: &mut SplitStream<WebSocket>,
    header_token: Option<String>,
) -> Result<(String, Caller, i64), Closing> {
    let token = match header_token {
        Some(token) => token,
        None => {
            let first = tokio::time::timeout(hub.settings.auth_deadline, stream.next()).await;
            let text = match first {
                Ok(Some(Ok(Message::Text(text)))) => text,
                Err(_) => return Err(Closing::new(close::UNAUTHORIZED, "no auth frame in time")),
                _ => return Err(Closing::new(close::UNAUTHORIZED, "expected an auth frame")),
            };
            match serde_json::from_str::<ClientFrame>(&text) {
                Ok(ClientFrame::Auth { token }) => token,
                _ => {
                    let _ = send(
                        sink,
                        protocol::error(
                            "auth_required",
                            "the first frame must be {\"type\":\"auth\",\"token\":…}",
                        ),
                    )
                    .await;
                    return Err(Closing::new(close::UNAUTHORIZED, "expected an auth frame"));
                }
            }
        }
    };
    match verify(hub, &token).await {
        Ok((caller, expires_at)) => Ok((token, caller, expires_at)),
        Err(error) => {
            tracing::info!(code = error.code, "websocket authentication failed");
            metrics::counter!("ws_auth_failures_total").increment(1);
            let _ = send(sink, protocol::error(error.code, &error.detail)).await;
            let code = if error.code == "token_expired" {
                close::TOKEN_EXPIRED
            } else {
                close::UNAUTHORIZED
            };
            Err(Closing::new(code, "authentication failed"))
        }
    }
}

async fn verify(hub: &Hub, token: &str) -> Result<(Caller, i64), bomizzel_api::error::ApiError> {
    let expires_at = hub.state.keys.verify(token)?.exp;
    let caller = auth::authenticate(&hub.state, token).await?;
    Ok((caller, expires_at))
}

async fn send(sink: &mut Sink, text: String) -> Result<(), axum::Error> {
    sink.send(Message::Text(text.into())).await
}

impl Session {
    async fn run(
        &mut self,
        sink: &mut Sink,
        stream: &mut SplitStream<WebSocket>,
        directory: &mut broadcast::Receiver<String>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Closing {
        let head = feed::head(self.hub.state.store.database())
            .await
            .unwrap_or(0);
        let ready = protocol::ready(&self.caller.user_id, &self.hub.epoch(), head);
        if send(sink, ready).await.is_err() {
            return Closing::new(close::GOING_AWAY, "send failed");
        }
        let mut heartbeat = tokio::time::interval(self.hub.settings.heartbeat);
        heartbeat.tick().await;
        loop {
            let expiry = Duration::from_secs(
                u64::try_from(self.expires_at - OffsetDateTime::now_utc().unix_timestamp())
                    .unwrap_or(0),
            );
            let step = tokio::select! {
                incoming = stream.next() => match incoming {
                    Some(Ok(message)) => self.on_message(sink, message).await,
                    _ => Err(Closing::new(close::GOING_AWAY, "peer went away")),
                },
                outbound = self.queue.recv() => match outbound {
                    Some(first) => self.write_queued(sink, first).await,
                    None => Err(Closing::new(close::SLOW_CONSUMER, "too slow: resume from your last offset")),
                },
                _ = heartbeat.tick() => self.heartbeat(sink).await,
                _ = tokio::time::sleep(expiry) => Err(Closing::new(close::TOKEN_EXPIRED, "token expired")),
                changed = directory.recv() => match changed {
                    Ok(user) if user == self.caller.user_id => self.recheck(sink).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => self.recheck(sink).await,
                    _ => Ok(()),
                },
                _ = crate::stopped(shutdown) => Err(Closing::new(close::GOING_AWAY, "server shutting down")),
            };
            if let Err(closing) = step {
                return closing;
            }
        }
    }

    async fn heartbeat(&mut self, sink: &mut Sink) -> Result<(), Closing> {
        if self.last_heard.elapsed() > self.hub.settings.idle_timeout {
            return Err(Closing::new(close::GOING_AWAY, "no sign of life"));
        }
        sink.send(Message::Ping(Default::default()))
            .await
            .map_err(|_| Closing::new(close::GOING_AWAY, "send failed"))
    }

    /// Writes `first` and whatever else is queued, then flushes once.
    async fn write_queued(&mut self, sink: &mut Sink, first: Outbound) -> Result<(), Closing> {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(outbound) = next.take() {
            if let Some(frame) = self.admit_outbound(outbound) {
                sink.feed(Message::Text(frame))
                    .await
                    .map_err(|_| Closing::new(close::GOING_AWAY, "send failed"))?;
                written += 1;
            }
            if written < WRITE_BATCH {
                next = self.queue.try_recv().ok();
            }
        }
        sink.flush()
            .await
            .map_err(|_| Closing::new(close::GOING_AWAY, "send failed"))
    }

    fn admit_outbound(&mut self, outbound: Outbound) -> Option<Utf8Bytes> {
        match outbound {
            Outbound::Change(delivery) => self.admit(&delivery).then(|| delivery.frame.clone()),
            Outbound::Latest(frame) => Some(frame),
        }
    }

    /// Whether the client lacks this change; if so, moves the cursors of
    /// its subscribed rooms to it.
    fn admit(&mut self, delivery: &Delivery) -> bool {
        let rooms: Vec<&String> = delivery
            .rooms
            .iter()
            .filter(|room| self.cursors.contains_key(*room))
            .collect();
        let new = !rooms.is_empty()
            && rooms
                .iter()
                .all(|room| self.cursors[*room] < delivery.offset);
        if new {
            for room in rooms {
                self.cursors.insert(room.clone(), delivery.offset);
            }
        }
        new
    }

    async fn on_message(&mut self, sink: &mut Sink, message: Message) -> Result<(), Closing> {
        self.last_heard = Instant::now();
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return Err(Closing::new(1000, "bye")),
            Message::Ping(_) | Message::Pong(_) => return Ok(()),
            Message::Binary(_) => {
                return self
                    .reject(sink, "unsupported_frame", "frames are JSON text")
                    .await;
            }
        };
        let frame = match serde_json::from_str::<ClientFrame>(&text) {
            Ok(frame) => frame,
            Err(error) => {
                return self
                    .reject(sink, "malformed_frame", &error.to_string())
                    .await;
            }
        };
        match frame {
            ClientFrame::Auth { token } => self.refresh(sink, token).await,
            ClientFrame::Subscribe { room, since, epoch } => {
                self.subscribe(sink, &room, since.as_ref(), epoch).await
            }
            ClientFrame::Unsubscribe { room } => {
                self.cursors.remove(&room);
                self.hub.leave(self.id, &room);
                self.say(sink, protocol::unsubscribed(&room, "requested"))
                    .await
            }
            ClientFrame::Ping => self.say(sink, protocol::pong()).await,
            ClientFrame::Pong => Ok(()),
        }
    }

    async fn say(&mut self, sink: &mut Sink, text: String) -> Result<(), Closing> {
        send(sink, text)
            .await
            .map_err(|_| Closing::new(close::GOING_AWAY, "send failed"))
    }

    /// Answers a bad frame with an error frame; too many close the connection.
    async fn reject(&mut self, sink: &mut Sink, code: &str, message: &str) -> Result<(), Closing> {
        let now = Instant::now();
        self.errors.push_back(now);
        while self
            .errors
            .front()
            .is_some_and(|at| now.duration_since(*at) > Duration::from_secs(60))
        {
            self.errors.pop_front();
        }
        if self.errors.len() > self.hub.settings.max_errors_per_minute as usize {
            return Err(Closing::new(close::POLICY, "too many bad frames"));
        }
        self.say(sink, protocol::error(code, message)).await
    }

    /// A new token for the same user extends the connection's life.
    async fn refresh(&mut self, sink: &mut Sink, token: String) -> Result<(), Closing> {
        match verify(&self.hub, &token).await {
            Ok((caller, _)) if caller.user_id != self.caller.user_id => {
                self.reject(
                    sink,
                    "user_mismatch",
                    "a refreshed token must be for the same user",
                )
                .await
            }
            Ok((caller, expires_at)) => {
                self.token = token;
                self.caller = caller;
                self.expires_at = expires_at;
                let ready = protocol::ready(
                    &self.caller.user_id,
                    &self.hub.epoch(),
                    feed::head(self.hub.state.store.database())
                        .await
                        .unwrap_or(0),
                );
                self.say(sink, ready).await
            }
            Err(error) => self.reject(sink, error.code, &error.detail).await,
        }
    }

    /// The user's memberships or sessions changed: re-check everything.
    async fn recheck(&mut self, sink: &mut Sink) -> Result<(), Closing> {
        let token = self.token.clone();
        match auth::authenticate(&self.hub.state, &token).await {
            Ok(caller) => self.caller = caller,
            Err(_) => return Err(Closing::new(close::TOKEN_EXPIRED, "session ended")),
        }
        let rooms: Vec<String> = self.cursors.keys().cloned().collect();
        for name in rooms {
            let allowed = match Room::parse(&name) {
                Ok(room) => room::may_join(&self.hub.state, &self.caller, &room).await,
                Err(_) => false,
            };
            if !allowed {
                self.cursors.remove(&name);
                self.hub.leave(self.id, &name);
                tracing::info!(connection = self.id, room = %name, "evicted from room");
                self.say(sink, protocol::unsubscribed(&name, "forbidden"))
                    .await?;
            }
        }
        Ok(())
    }

    async fn subscribe(
        &mut self,
        sink: &mut Sink,
        name: &str,
        since: Option<&Value>,
        epoch: Option<String>,
    ) -> Result<(), Closing> {
        let room = match Room::parse(name) {
            Ok(room) => room,
            Err(message) => return self.reject(sink, "invalid_room", &message).await,
        };
        let since = match protocol::parse_since(since) {
            Ok(since) => since,
            Err(message) => return self.reject(sink, "invalid_offset", message).await,
        };
        if !self.cursors.contains_key(name) && self.cursors.len() >= self.hub.settings.max_rooms {
            let message = format!(
                "at most {} rooms per connection",
                self.hub.settings.max_rooms
            );
            return self.reject(sink, "too_many_rooms", &message).await;
        }
        if !room::may_join(&self.hub.state, &self.caller, &room).await {
            tracing::info!(connection = self.id, room = name, "room refused");
            return self
                .reject(sink, "forbidden", &format!("you may not join {name}"))
                .await;
        }
        let database = self.hub.state.store.database();
        let meta = feed::meta(database).await.ok().flatten();
        let (feed_epoch, head, trimmed) = meta.map_or((String::new(), 0, 0), |m| {
            (m.epoch, m.head, m.trimmed_through)
        });
        if since.is_some_and(|since| since > head) {
            return self
                .reject(
                    sink,
                    "offset_ahead",
                    &format!("since is ahead of the feed's head {head}"),
                )
                .await;
        }
        let recovery = match since {
            None => Err("no_offset"),
            Some(_) if epoch.is_some_and(|e| e != feed_epoch) => Err("epoch_changed"),
            Some(since) if since < trimmed => Err("history_trimmed"),
            Some(since) => Ok(since),
        };

        let through = self.hub.join(self.id, name);
        let held = self.deliver_queued_through(sink, through).await?;
        if room.kind == RoomKind::Queue
            && self.caller.role.is_staff()
            && let Some(frame) = self.hub.metrics_frame(&room.id).await
        {
            self.say(sink, frame.to_string()).await?;
        }
        if let Ok(since) = recovery {
            self.cursors.insert(name.to_owned(), since);
            self.replay(sink, name, since, through).await?;
        }
        let cursor = self.cursors.get(name).copied().unwrap_or(0).max(through);
        self.cursors.insert(name.to_owned(), cursor);
        tracing::debug!(connection = self.id, room = name, "joined room");
        self.say(
            sink,
            protocol::subscribed(name, recovery.is_ok(), recovery.err()),
        )
        .await?;
        for outbound in held {
            if let Some(frame) = self.admit_outbound(outbound) {
                send(sink, frame.to_string())
                    .await
                    .map_err(|_| Closing::new(close::GOING_AWAY, "send failed"))?;
            }
        }
        Ok(())
    }

    /// Sends what is queued up to offset `through` and returns (holds) what
    /// came later, to be sent after the replay.
    async fn deliver_queued_through(
        &mut self,
        sink: &mut Sink,
        through: i64,
    ) -> Result<Vec<Outbound>, Closing> {
        let mut held = Vec::new();
        while let Ok(outbound) = self.queue.try_recv() {
            match &outbound {
                Outbound::Change(delivery) if delivery.offset > through => held.push(outbound),
                _ => {
                    if let Some(frame) = self.admit_outbound(outbound) {
                        send(sink, frame.to_string())
                            .await
                            .map_err(|_| Closing::new(close::GOING_AWAY, "send failed"))?;
                    }
                }
            }
        }
        Ok(held)
    }

    /// Sends the room's changes in (since, through] that this client may see.
    async fn replay(
        &mut self,
        sink: &mut Sink,
        room: &str,
        since: i64,
        through: i64,
    ) -> Result<(), Closing> {
        let database = self.hub.state.store.database().clone();
        let rooms = [room.to_owned()];
        let staff = self.caller.role.is_staff();
        let mut after = since;
        while after < through {
            let batch = match feed::replay(&database, &rooms, after, REPLAY_BATCH).await {
                Ok(batch) if batch.is_empty() => return Ok(()),
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, room, "replay failed");
                    return Err(Closing::new(
                        1011,
                        "replay failed: resume from your last offset",
                    ));
                }
            };
            for change in batch {
                if change.offset > through {
                    return Ok(());
                }
                after = change.offset;
                let visible = if staff {
                    change.audience.reaches_staff()
                } else {
                    change.audience.reaches_customers()
                };
                if !visible {
                    continue;
                }
                let delivery = Delivery {
                    offset: change.offset,
                    frame: protocol::event(
                        change.offset,
                        change.position,
                        &change.event,
                        &change.rooms,
                        change.payload.get(),
                    )
                    .into(),
                    rooms: change.rooms,
                };
                if self.admit(&delivery) {
                    send(sink, delivery.frame.to_string())
                        .await
                        .map_err(|_| Closing::new(close::GOING_AWAY, "send failed"))?;
                }
            }
        }
        Ok(())
    }
}
