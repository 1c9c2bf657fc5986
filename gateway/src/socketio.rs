//! `/socket.io/`: the same rooms, authorization, replay and fan-out as
//! `GET /ws`, for Socket.IO front ends (socketioxide; WebSocket and polling
//! transports).
//!
//! - Handshake `auth: {token, offset?, offsets?: {room: n}, epoch?}`. A
//!   missing, bad or expired token is refused with a `connect_error` whose
//!   message starts with the reason code (`token_missing`, `invalid_token`,
//!   `token_expired`, …). Authorization is checked on every (re)connect;
//!   Socket.IO's connection-state recovery is not used. While the database
//!   is away the default rooms of an agent (its queues) are unknown: the
//!   handshake is refused as `database_unavailable`, to be retried.
//! - On connect the socket joins its default rooms (`room::default_rooms`),
//!   each replayed from `offsets[room]`, else from `offset`, then gets
//!   `ready {user, epoch, offset, rooms: {room: {recovered, reason}}}`.
//! - `subscribe {room, offset?, epoch?}` / `unsubscribe {room}` answer via
//!   the ack: `{ok, recovered, reason?}`.
//! - Bad events are treated as bad `/ws` frames: malformed arguments (ack
//!   `{ok: false, reason: "bad_request", message}`), unknown events and
//!   refused subscribes or refreshes each count, and more than
//!   `max_errors_per_minute` in a minute end the socket with 1008.
//! - `presence {room, activity}` announces `viewing`, `replying`, `noting`
//!   or `left` in a ticket room (ack `{ok}`); lists arrive as `presence
//!   {room, members}`, as on `/ws`.
//! - Changes arrive as `socket.emit(event, {offset, position, rooms, data})`;
//!   `queue:metrics_updated` has `offset: null`.
//! - The server ends a socket with `closing {code, reason}` then a
//!   disconnect (token expired 4001, too slow 4008, shutdown 1001, …);
//!   `refresh {token}` before expiry extends it. Too slow is, as on `/ws`,
//!   a session queue that overflowed while the socket's buffer was full; a
//!   client that stopped reading gets both once it reads again, unless the
//!   heartbeat, which cannot pass a full buffer either, has cut it first.
//!
//! Each socket has one task that owns its [`Session`] and its hub queue;
//! event handlers talk to it through a channel.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{OriginalUri, Request};
use axum::http::{HeaderValue, Uri};
use bomizzel_identity::Caller;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use socketioxide::extract::{AckSender, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{SendError, SocketError, SocketIo};
use tokio::sync::{mpsc, oneshot, watch};

use crate::dormant::{self, Rare};
use crate::frame::SocketIoEvent;
use crate::hub::{ConnId, Hub, Outbound};
use crate::limits::{BadFrames, ConnectionSlot, TOO_MANY_CONNECTIONS, UserConnections};
use crate::protocol::{self, close};
use crate::session::{self, Closing, Expiry, Refusal, Session, Transport, verify};

/// The first and the longest pause before trying again to put a message
/// in a socket's full buffer.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LONGEST_PAUSE: Duration = Duration::from_millis(200);

#[derive(Clone)]
struct Context {
    hub: Arc<Hub>,
    connections: Arc<UserConnections>,
    shutdown: watch::Receiver<bool>,
}

/// The handshake's `auth` object.
#[derive(Debug, Default, Clone, Deserialize)]
struct Handshake {
    #[serde(default)]
    token: Option<String>,
    /// One offset for every default room.
    #[serde(default)]
    offset: Option<Value>,
    /// Offsets per room; win over `offset`.
    #[serde(default)]
    offsets: HashMap<String, Value>,
    #[serde(default)]
    epoch: Option<String>,
}

/// What the middleware learnt, for the connect handler.
#[derive(Clone)]
struct Admitted {
    token: String,
    caller: Caller,
    expires_at: i64,
    handshake: Handshake,
    /// The caller's default rooms, read before the client is told it is
    /// connected: while the database is away an agent's queues are
    /// unknown, and the handshake is refused as `database_unavailable`.
    rooms: Vec<String>,
    /// Shared only because extensions must be `Clone`; the session task
    /// holds the one that counts.
    slot: Arc<ConnectionSlot>,
    /// The session task's end of the socket's command line, taken once.
    commands: Arc<std::sync::Mutex<Option<mpsc::Receiver<Box<Command>>>>>,
}

#[derive(Debug, Deserialize)]
struct SubscribeArgs {
    room: String,
    #[serde(default)]
    offset: Option<Value>,
    #[serde(default)]
    epoch: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RoomArgs {
    room: String,
}

#[derive(Debug, Deserialize)]
struct PresenceArgs {
    room: String,
    activity: String,
}

#[derive(Debug, Deserialize)]
struct RefreshArgs {
    token: String,
}

enum Command {
    Subscribe(SubscribeArgs, oneshot::Sender<Value>),
    Unsubscribe(String, oneshot::Sender<Value>),
    Refresh(String, oneshot::Sender<Value>),
    Presence(PresenceArgs, oneshot::Sender<Value>),
    /// An event the socket cannot act on; the text says what was expected.
    Malformed(&'static str, oneshot::Sender<Value>),
}

/// The socket's line to its session task; removed on disconnect, which
/// ends the task. Commands travel boxed: a channel allocates its first
/// block of 32 slots up front, and rare commands should not cost every
/// socket 32 full-size slots (~2.8 KiB).
#[derive(Clone)]
struct Commands(mpsc::Sender<Box<Command>>);

/// A refused handshake; its text is the `connect_error` message.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        Self(format!("{}: {}", refusal.code, refusal.message))
    }
}

/// Where Socket.IO is served.
const SOCKET_IO_PATH: &str = "/socket.io";

/// Gives a `/socket.io/` request a head of its own. socketioxide keeps a
/// copy of each socket's handshake request (headers, URI, extensions) for
/// the socket's lifetime, and what hyper parsed are slices of the
/// connection's read buffer: they kept that whole buffer (~16 KiB) alive
/// per socket. Copies hold only their own bytes.
pub(crate) async fn detach_request_head(mut request: Request) -> Request {
    if !request.uri().path().starts_with(SOCKET_IO_PATH) {
        return request;
    }
    for value in request.headers_mut().values_mut() {
        if let Ok(copy) = HeaderValue::from_bytes(value.as_bytes()) {
            *value = copy;
        }
    }
    if let Ok(uri) = Uri::try_from(request.uri().to_string()) {
        // The router has already kept the URI as it came, too.
        request.extensions_mut().insert(OriginalUri(uri.clone()));
        *request.uri_mut() = uri;
    }
    request
}

/// How often a socket is pinged; it has the rest of the presence lease to
/// answer, so a silent socket is dropped within the lease after it was last
/// heard (and leaves presence lists with it). The first ping goes out with
/// the handshake, and a client that starts on polling answers it only once
/// its upgrade to WebSocket is done: when every client reconnects at once
/// that took over 10 s here (2,000 at once), and the 10 s a 20 s interval
/// left them cost most of those sockets. A third of the lease to the
/// interval leaves two thirds (20 s) to answer.
fn ping_interval(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(500))
}

/// The tower layer serving `/socket.io/`.
pub(crate) fn layer(
    hub: Arc<Hub>,
    connections: Arc<UserConnections>,
    shutdown: watch::Receiver<bool>,
) -> SocketIoLayer {
    let lease = hub.state.presence.settings().lease;
    let (layer, io) = SocketIo::builder()
        .req_path(SOCKET_IO_PATH)
        .max_buffer_size(hub.settings.send_queue.max(128))
        .max_payload(hub.settings.max_frame_bytes as u64)
        // As for `/ws`: allocated per connection up front, clients send small frames.
        .ws_read_buffer_size(512)
        .ping_interval(ping_interval(lease))
        .ping_timeout(lease.saturating_sub(ping_interval(lease)))
        .with_state(Context {
            hub,
            connections,
            shutdown,
        })
        .build_layer();
    io.ns("/", on_connect.with(authenticate));
    layer
}

async fn authenticate(
    socket: SocketRef,
    State(context): State<Context>,
    TryData(auth): TryData<Handshake>,
) -> Result<(), Refused> {
    let handshake = auth.unwrap_or_default();
    let Some(token) = handshake.token.clone().filter(|t| !t.is_empty()) else {
        metrics::counter!("ws_auth_failures_total").increment(1);
        return Err(Refused(
            "token_missing: the handshake needs auth: {token}".into(),
        ));
    };
    let hub = &context.hub;
    if let (Some(allowed), Some(origin)) = (
        &hub.settings.allowed_origin,
        socket.req_parts().headers.get(axum::http::header::ORIGIN),
    ) && origin.to_str().ok() != Some(allowed.trim_end_matches('/'))
    {
        return Err(Refused("origin_not_allowed: origin not allowed".into()));
    }
    let (caller, expires_at) = verify(hub, &token).await.map_err(|refusal| {
        tracing::info!(code = refusal.code, "socket.io authentication failed");
        metrics::counter!("ws_auth_failures_total").increment(1);
        Refused::from(refusal)
    })?;
    let rooms = session::default_rooms(hub, &caller).await?;
    let Some(slot) = context.connections.acquire(&caller.user_id) else {
        let refusal = context.connections.refusal();
        return Err(Refused(format!("{TOO_MANY_CONNECTIONS}: {refusal}")));
    };
    let commands = listen(&socket);
    socket.extensions.insert(Admitted {
        slot: Arc::new(slot),
        token,
        caller,
        expires_at,
        handshake,
        rooms,
        commands: Arc::new(std::sync::Mutex::new(Some(commands))),
    });
    Ok(())
}

/// Gives an admitted socket its event handlers and command line, before
/// the client is told it is connected: socketioxide sends `connect` first
/// and runs the connect handler in a task of its own, so a client that
/// emits at once (`subscribe` right after `connect`) would otherwise meet
/// a socket with no handler, and its event, ack included, was dropped.
/// Events that come before the session task runs wait in the line.
fn listen(socket: &SocketRef) -> mpsc::Receiver<Box<Command>> {
    let (commands, receiver) = mpsc::channel(16);
    socket.extensions.insert(Commands(commands));
    socket.on("subscribe", on_subscribe);
    socket.on("unsubscribe", on_unsubscribe);
    socket.on("refresh", on_refresh);
    socket.on("presence", on_presence);
    socket.on_fallback(on_unknown);
    socket.on_disconnect(on_disconnect);
    receiver
}

async fn on_connect(socket: SocketRef, State(context): State<Context>) {
    let admitted = socket.extensions.remove::<Admitted>();
    let receiver = admitted
        .as_ref()
        .and_then(|admitted| admitted.commands.lock().ok()?.take());
    let (Some(admitted), Some(receiver)) = (admitted, receiver) else {
        let _ = socket.disconnect();
        return;
    };
    tokio::spawn(serve(context, socket, admitted, receiver));
}

/// Dropping the line ends the session task.
async fn on_disconnect(socket: SocketRef) {
    socket.extensions.remove::<Commands>();
}

/// Hands a command to the socket's session task and acks its answer.
async fn ask(
    socket: &SocketRef,
    ack: AckSender,
    command: impl FnOnce(oneshot::Sender<Value>) -> Command,
) {
    let (reply, answer) = oneshot::channel();
    let answer = match socket.extensions.get::<Commands>() {
        Some(Commands(commands)) if commands.send(Box::new(command(reply))).await.is_ok() => answer
            .await
            .unwrap_or_else(|_| json!({ "ok": false, "reason": "closed" })),
        _ => json!({ "ok": false, "reason": "closed" }),
    };
    let _ = ack.send(&answer);
}

/// Hands a malformed event to the session task, which counts it.
async fn malformed(socket: &SocketRef, ack: AckSender, expected: &'static str) {
    ask(socket, ack, |reply| Command::Malformed(expected, reply)).await;
}

async fn on_subscribe(socket: SocketRef, ack: AckSender, TryData(args): TryData<SubscribeArgs>) {
    match args {
        Ok(args) => ask(&socket, ack, |reply| Command::Subscribe(args, reply)).await,
        Err(_) => malformed(&socket, ack, "expected {room, offset?, epoch?}").await,
    }
}

async fn on_unsubscribe(socket: SocketRef, ack: AckSender, TryData(args): TryData<RoomArgs>) {
    match args {
        Ok(args) => ask(&socket, ack, |reply| Command::Unsubscribe(args.room, reply)).await,
        Err(_) => malformed(&socket, ack, "expected {room}").await,
    }
}

async fn on_refresh(socket: SocketRef, ack: AckSender, TryData(args): TryData<RefreshArgs>) {
    match args {
        Ok(args) => ask(&socket, ack, |reply| Command::Refresh(args.token, reply)).await,
        Err(_) => malformed(&socket, ack, "expected {token}").await,
    }
}

async fn on_presence(socket: SocketRef, ack: AckSender, TryData(args): TryData<PresenceArgs>) {
    match args {
        Ok(args) => ask(&socket, ack, |reply| Command::Presence(args, reply)).await,
        Err(_) => malformed(&socket, ack, "expected {room, activity}").await,
    }
}

async fn on_unknown(socket: SocketRef, ack: AckSender) {
    let expected = "unknown event: expected subscribe, unsubscribe, presence or refresh";
    malformed(&socket, ack, expected).await;
}

/// Emits admitted changes as Socket.IO events, and counts the socket's bad
/// events (`/ws` counts bad frames in its transport too).
struct Emitter {
    socket: SocketRef,
    bad_frames: BadFrames,
    hub: Arc<Hub>,
    /// The session's connection, as the hub knows it.
    id: ConnId,
}

/// Why a message could not be put in a socket's buffer.
enum Unsent {
    /// `give_up` said to stop waiting for room.
    GaveUp,
    Failed,
}

/// Sends with `send` once the socket's buffer has room: while it is full
/// (the client reads slower than it is sent to, or not at all), tries again
/// after a pause that grows, unless `give_up` says otherwise.
async fn when_room(
    mut send: impl FnMut() -> Result<(), SocketError>,
    give_up: impl Fn() -> bool,
) -> Result<(), Unsent> {
    let mut pause = FIRST_PAUSE;
    loop {
        match send() {
            Ok(()) => return Ok(()),
            Err(SocketError::InternalChannelFull) if !give_up() => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            Err(SocketError::InternalChannelFull) => return Err(Unsent::GaveUp),
            Err(SocketError::Closed) => return Err(Unsent::Failed),
        }
    }
}

/// The socket error of an emit; a message that does not serialise is none
/// of the socket's doing, and fails like a closed socket.
fn emitted(sent: Result<(), SendError>) -> Result<(), SocketError> {
    match sent {
        Err(SendError::Socket(error)) => Err(error),
        Err(_) => Err(SocketError::Closed),
        Ok(()) => Ok(()),
    }
}

impl Emitter {
    /// Emits, waiting while the socket's buffer is full (replays can be
    /// long). The client is too slow, as on `/ws`, when its session's queue
    /// overflows meanwhile and the hub drops it, or when the buffer stays
    /// full for the write deadline.
    async fn emit<T: ?Sized + Serialize>(&self, event: &str, data: &T) -> Result<(), Closing> {
        let send = || emitted(self.socket.emit(event, data));
        let since = Instant::now();
        let deadline = self.hub.settings.write_deadline;
        let give_up = || since.elapsed() > deadline || self.hub.dropped(self.id);
        match when_room(send, give_up).await {
            Ok(()) => Ok(()),
            Err(Unsent::GaveUp) => Err(Closing::too_slow()),
            Err(Unsent::Failed) => Err(Closing::send_failed()),
        }
    }
}

impl Transport for Emitter {
    /// The frame's Socket.IO form was built once for every socket: the
    /// socket only copies its JSON into the packet.
    async fn feed(&mut self, outbound: &Outbound) -> Result<(), Closing> {
        let SocketIoEvent { name, arg } = outbound.frame().socketio();
        self.emit(name, arg.as_ref()).await
    }

    async fn flush(&mut self) -> Result<(), Closing> {
        Ok(())
    }
}

fn answer(recovered: bool, reason: Option<&str>) -> Value {
    let mut answer = Map::new();
    answer.insert("ok".into(), true.into());
    answer.insert("recovered".into(), recovered.into());
    if let Some(reason) = reason {
        answer.insert("reason".into(), reason.into());
    }
    Value::Object(answer)
}

fn refused(refusal: &Refusal) -> Value {
    json!({ "ok": false, "recovered": false, "reason": refusal.code, "message": refusal.message })
}

/// Subscribes one room: the ack's answer, or why not.
async fn subscribe(
    session: &mut Session,
    emitter: &mut Emitter,
    room: &str,
    offset: Option<&Value>,
    epoch: Option<&str>,
) -> Result<Result<Value, Refusal>, Closing> {
    let since = match protocol::parse_since(offset) {
        Ok(since) => since,
        Err(message) => return Ok(Err(Refusal::new("invalid_offset", message))),
    };
    match session.subscribe(emitter, room, since, epoch).await? {
        Ok(joined) => {
            let answer = answer(joined.recovered, joined.reason);
            session.release(emitter, joined).await?;
            Ok(Ok(answer))
        }
        Err(refusal) => Ok(Err(refusal)),
    }
}

/// The socket's session task: default rooms, then commands and live changes
/// until the socket goes or the session ends.
async fn serve(
    context: Context,
    socket: SocketRef,
    admitted: Admitted,
    mut commands: mpsc::Receiver<Box<Command>>,
) {
    let hub = Arc::clone(&context.hub);
    let Admitted {
        token,
        caller,
        expires_at,
        handshake,
        rooms,
        slot: _slot,
        commands: _,
    } = admitted;
    let mut session = Session::open(Arc::clone(&hub), token, caller, expires_at, false);
    let id = session.id;
    tracing::info!(connection = id, user = %session.caller.user_id, transport = ?socket.transport_type(), "socket.io connected");
    let mut emitter = Emitter {
        socket: socket.clone(),
        bad_frames: BadFrames::new(hub.settings.max_errors_per_minute),
        hub: Arc::clone(&hub),
        id,
    };
    let mut rare = Rare {
        directory: dormant::directory_changes(hub.state.directory_changes.subscribe()),
        shutdown: dormant::shutdown(context.shutdown.clone()),
    };
    let closing = run(
        &mut session,
        &mut emitter,
        (handshake, rooms),
        &mut commands,
        &mut rare,
    )
    .await;
    drop(session);
    if let Some(closing) = closing {
        tracing::info!(
            connection = id,
            code = closing.code,
            reason = closing.reason,
            "socket.io session ended"
        );
        end(&socket, closing).await;
    } else {
        tracing::info!(connection = id, "socket.io disconnected");
    }
}

/// Tells the client why its socket ends, then disconnects it. A client
/// that stopped reading has a full buffer: both wait for room, until it
/// reads again or its heartbeat, which cannot be sent either, closes the
/// socket. A socket must not stay connected without its session: a client
/// that read again would wait for changes that never come.
async fn end(socket: &SocketRef, closing: Closing) {
    let closing = json!({ "code": closing.code, "reason": closing.reason });
    let gone = || !socket.connected();
    let told = when_room(|| emitted(socket.emit("closing", &closing)), gone).await;
    if told.is_ok() {
        let _ = when_room(|| socket.clone().disconnect(), gone).await;
    }
}

/// Runs the session; `None` when the client went away.
async fn run(
    session: &mut Session,
    emitter: &mut Emitter,
    joining: (Handshake, Vec<String>),
    commands: &mut mpsc::Receiver<Box<Command>>,
    rare: &mut Rare,
) -> Option<Closing> {
    // Everything but the loop is boxed: a task's size is its largest await
    // point, and a connected socket should only pay for the loop below.
    match Box::pin(join_default_rooms(session, emitter, joining)).await {
        Ok(true) => {}
        Ok(false) => return None,
        Err(closing) => return Some(closing),
    }
    let (mut expiry, timer) = Expiry::start(session);
    tokio::pin!(timer);
    loop {
        expiry.follow(session, timer.as_mut());
        let step = tokio::select! {
            command = commands.recv() => match command {
                Some(command) => Box::pin(on_command(session, emitter, *command)).await,
                None => return None,
            },
            outbound = session.next_queued() => match outbound {
                Some(first) => session.write_queued(emitter, first).await,
                None => Err(Closing::too_slow()),
            },
            _ = &mut timer => Err(Closing::new(close::TOKEN_EXPIRED, "token expired")),
            Some(changed) = rare.directory.next() => match changed {
                Ok(change) if change.concerns(&session.caller.user_id) => Box::pin(recheck(session, emitter)).await,
                Err(_) => Box::pin(recheck(session, emitter)).await,
                _ => Ok(()),
            },
            _ = rare.shutdown.next() => Err(Closing::new(close::GOING_AWAY, "server shutting down")),
        };
        if let Err(closing) = step {
            if !emitter.socket.connected() {
                return None;
            }
            return Some(closing);
        }
    }
}

/// Joins the caller's default `rooms` from the handshake's offsets and
/// sends `ready`; `false` when the client is gone.
async fn join_default_rooms(
    session: &mut Session,
    emitter: &mut Emitter,
    (handshake, rooms): (Handshake, Vec<String>),
) -> Result<bool, Closing> {
    let mut joined = Map::new();
    for name in rooms {
        let offset = handshake.offsets.get(&name).or(handshake.offset.as_ref());
        let outcome =
            subscribe(session, emitter, &name, offset, handshake.epoch.as_deref()).await?;
        joined.insert(name, outcome.unwrap_or_else(|refusal| refused(&refusal)));
    }
    let head = session.hub.head().await;
    let ready = json!({
        "user": session.caller.user_id,
        "epoch": session.hub.epoch(),
        "offset": head,
        "rooms": joined,
    });
    Ok(emitter.emit("ready", &ready).await.is_ok())
}

async fn recheck(session: &mut Session, emitter: &mut Emitter) -> Result<(), Closing> {
    for room in session.recheck().await? {
        emitter
            .emit(
                "unsubscribed",
                &json!({ "room": room, "reason": "forbidden" }),
            )
            .await?;
    }
    Ok(())
}

/// Runs one command and acks its answer; a refusal of the client's doing
/// counts as a bad frame.
async fn on_command(
    session: &mut Session,
    emitter: &mut Emitter,
    command: Command,
) -> Result<(), Closing> {
    let (outcome, reply) = match command {
        Command::Subscribe(args, reply) => {
            let room = &args.room;
            let offset = args.offset.as_ref();
            let outcome = subscribe(session, emitter, room, offset, args.epoch.as_deref()).await?;
            (outcome, reply)
        }
        Command::Unsubscribe(room, reply) => {
            let was_in = session.unsubscribe(&room);
            let answer = json!({ "ok": true, "recovered": false, "was_subscribed": was_in });
            (Ok(answer), reply)
        }
        Command::Refresh(token, reply) => {
            let outcome = session.refresh(token).await.map(|()| json!({ "ok": true }));
            (outcome, reply)
        }
        Command::Presence(args, reply) => {
            let outcome = session
                .announce(&args.room, &args.activity)
                .map(|()| json!({ "ok": true }));
            (outcome, reply)
        }
        Command::Malformed(expected, reply) => (Err(Refusal::new("bad_request", expected)), reply),
    };
    let answer = match outcome {
        Ok(answer) => answer,
        Err(refusal) => {
            if refusal.by_client {
                emitter.bad_frames.count()?;
            }
            refused(&refusal)
        }
    };
    let _ = reply.send(answer);
    Ok(())
}
