//! The client side: opening and subscribing many connections, keeping them
//! alive between the steps, then reading all of them with a few tasks and
//! recording every change frame against the command that caused it.
//!
//! Every protocol is one WebSocket per client (tokio-tungstenite with a
//! small read buffer). [`Protocol`] holds what differs: the URL, the
//! handshake, how a subscription is asked for and answered, heartbeats the
//! client must answer, and how a message reads. Everything else (setup
//! concurrency, the idle keepers, the readers and their accounting) is
//! shared, whichever server is on the other end: the project's `/ws` and
//! `/socket.io/`, the floor, or the Node peer.
//!
//! [`Command`] is what the load sends: a frame counts for latency and loss
//! only if it is that command's ticket event and names a command of the
//! [`Plan`]; every other event (notifications, queue metrics) is counted by
//! name, as the work it is.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use futures::{SinkExt, Stream, StreamExt, TryFutureExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, client_async_with_config};

use super::socketio_client;
use crate::report::Latency;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Handshakes (or subscriptions) in flight at once while setting up.
const SETUP_CONCURRENCY: usize = 64;
/// Connections opened (or subscribed) before they are handed to a keeper:
/// none waits unread for long, so Engine.IO's heartbeat never times out.
const SETUP_CHUNK: usize = 500;
/// Longest wait for one connection's handshake or subscription answer.
const SETUP_DEADLINE: Duration = Duration::from_secs(30);
/// Frames are a few hundred bytes: a small read buffer keeps 10,000 clients
/// in this process cheap (tungstenite's default is 128 KiB each).
const READ_BUFFER: usize = 8 * 1024;
/// The version a ticket's first priority change creates (its creation is 1).
const FIRST_CHANGE_VERSION: u64 = 2;
/// The title of a ticket the load opens, before its command's number.
const TITLE_PREFIX: &str = "fan-out command ";

/// How the clients talk to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Protocol {
    /// `GET /ws`: the token in the Authorization header, then JSON frames;
    /// no rooms until `subscribe`.
    #[serde(rename = "websocket")]
    WebSocket,
    /// `/socket.io/` over its WebSocket transport, `auth: {token}`; the
    /// default rooms are joined on connect ([`socketio_client`]).
    #[serde(rename = "socketio")]
    SocketIo,
    /// The Node peer's Socket.IO 4 server (`fanout --peer-dir`): the same
    /// client, but no `ready` follows the connect and no room is joined
    /// before `subscribe` but the user's own.
    #[serde(rename = "socketio-node")]
    NodeSocketIo,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WebSocket => "websocket",
            Self::SocketIo | Self::NodeSocketIo => "socketio",
        })
    }
}

impl Protocol {
    /// The upgrade request of one connection, signed in with `token`.
    pub(crate) fn request(self, base_url: &str, token: &str) -> Result<Request> {
        let base = base_url.replacen("http://", "ws://", 1);
        match self {
            Self::WebSocket => {
                let mut request = format!("{base}/ws").into_client_request()?;
                let authorization = HeaderValue::from_str(&format!("Bearer {token}"))?;
                request.headers_mut().insert("authorization", authorization);
                Ok(request)
            }
            Self::SocketIo | Self::NodeSocketIo => {
                Ok(socketio_client::url(&base).into_client_request()?)
            }
        }
    }

    /// From the open WebSocket to the server's `ready`.
    async fn handshake(self, ws: &mut Ws, token: &str) -> Result<()> {
        match self {
            Self::WebSocket => await_frame(ws, "ready").await,
            Self::SocketIo => {
                socketio_client::connect(ws, token).await?;
                socketio_client::await_ready(ws).await
            }
            Self::NodeSocketIo => socketio_client::connect(ws, token).await,
        }
    }

    /// Subscribes to `room` and waits for the answer.
    async fn subscribe(self, ws: &mut Ws, room: &str) -> Result<()> {
        match self {
            Self::WebSocket => {
                let frame = json!({ "type": "subscribe", "room": room }).to_string();
                ws.send(Message::text(frame)).await?;
                await_frame(ws, "subscribed").await
            }
            Self::SocketIo | Self::NodeSocketIo => socketio_client::subscribe(ws, room).await,
        }
    }

    /// What to send back right away, if `text` is a heartbeat (WebSocket
    /// pings are answered by tungstenite itself).
    fn answer(self, text: &str) -> Option<&'static str> {
        match self {
            Self::WebSocket => None,
            Self::SocketIo | Self::NodeSocketIo => socketio_client::answer(text),
        }
    }

    fn decode(self, text: &str) -> Incoming<'_> {
        match self {
            Self::WebSocket => match serde_json::from_str::<Frame<'_>>(text) {
                Ok(Frame {
                    kind: "event",
                    name,
                    offset,
                    data,
                }) => Incoming::Event(Event { name, offset, data }),
                _ => Incoming::Other,
            },
            Self::SocketIo | Self::NodeSocketIo => socketio_client::decode(text),
        }
    }
}

/// A text message as the readers see it, whatever the protocol.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// A change, or a latest value (`offset` null).
    Event(Event<'a>),
    /// The server ends the session, saying why.
    Ending(String),
    /// Anything else.
    Other,
}

#[derive(Debug)]
pub struct Event<'a> {
    /// `ticket:created`, `notification:created`, …
    pub name: &'a str,
    pub offset: Option<i64>,
    pub data: Option<ChangeData<'a>>,
}

/// The fields of a change's `data` that name its command: the ticket and
/// the version a change gave it, or the title a creation gave it.
#[derive(Debug, Deserialize)]
pub struct ChangeData<'a> {
    #[serde(default, borrow)]
    pub ticket_id: Option<&'a str>,
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(default, borrow)]
    pub title: Option<Cow<'a, str>>,
}

/// What each command of the load does, through the server's HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// Sets a seeded ticket's priority (high, low, high, …): one
    /// `ticket:priority_changed`, named by ticket and version.
    Priority,
    /// Opens a ticket (`POST /api/tickets`, all the Node peer has): one
    /// `ticket:created`, named by its title.
    Create,
}

impl Command {
    /// The event that carries a command's change.
    pub fn event(self) -> &'static str {
        match self {
            Self::Priority => "ticket:priority_changed",
            Self::Create => "ticket:created",
        }
    }
}

/// A `/ws` frame's fields the readers look at.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(rename = "event", default, borrow)]
    name: &'a str,
    #[serde(default)]
    offset: Option<i64>,
    #[serde(default, borrow)]
    data: Option<ChangeData<'a>>,
}

/// Opens `count` connections, `SETUP_CONCURRENCY` at a time, each through
/// its handshake.
async fn open(
    protocol: Protocol,
    receive_buffer: Option<u32>,
    base_url: &str,
    token: &str,
    count: usize,
) -> Result<Vec<Ws>> {
    let address = tokio::net::lookup_host(base_url.trim_start_matches("http://"))
        .await?
        .next()
        .context("the server's address")?;
    futures::stream::iter(0..count)
        .map(|n| {
            async move {
                let request = protocol.request(base_url, token)?;
                let config = WebSocketConfig::default()
                    .read_buffer_size(READ_BUFFER)
                    .write_buffer_size(0);
                let connect = async {
                    let socket = tokio::net::TcpSocket::new_v4()?;
                    if let Some(bytes) = receive_buffer {
                        socket.set_recv_buffer_size(bytes)?;
                    }
                    socket.set_nodelay(true)?;
                    let tcp = socket.connect(address).await?;
                    let stream = MaybeTlsStream::Plain(tcp);
                    anyhow::Ok(client_async_with_config(request, stream, Some(config)).await?)
                };
                let (mut ws, _) = tokio::time::timeout(SETUP_DEADLINE, connect)
                    .await
                    .context("no handshake in time")??;
                protocol.handshake(&mut ws, token).await?;
                anyhow::Ok(ws)
            }
            .map_err(move |error: anyhow::Error| error.context(format!("connection #{n}")))
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

/// Subscribes every connection to `room`, `SETUP_CONCURRENCY` at a time.
async fn subscribe(protocol: Protocol, connections: Vec<Ws>, room: &str) -> Result<Vec<Ws>> {
    futures::stream::iter(connections)
        .map(|mut ws| async move {
            protocol.subscribe(&mut ws, room).await?;
            anyhow::Ok(ws)
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

/// Skips `/ws` frames until one of type `kind`; an `error` frame fails.
async fn await_frame(ws: &mut Ws, kind: &str) -> Result<()> {
    await_text(ws, Protocol::WebSocket, kind, |text| {
        let frame: Value = serde_json::from_str(text)?;
        match frame["type"].as_str() {
            Some(found) if found == kind => Ok(Some(())),
            Some("error") => bail!("{frame}"),
            _ => Ok(None),
        }
    })
    .await
}

/// Reads `ws`, answering heartbeats, until `accept` takes a text message
/// (`Some`) or fails; the end of the connection or `SETUP_DEADLINE` fails.
pub async fn await_text<T>(
    ws: &mut Ws,
    protocol: Protocol,
    what: &str,
    mut accept: impl FnMut(&str) -> Result<Option<T>>,
) -> Result<T> {
    let deadline = tokio::time::Instant::now() + SETUP_DEADLINE;
    let mut messages = std::pin::pin!(answering(ws, protocol));
    loop {
        let message = tokio::time::timeout_at(deadline, messages.next())
            .await
            .with_context(|| format!("no {what} in time"))?;
        match message {
            Some(Ok(Message::Text(text))) => {
                if let Some(found) =
                    accept(text.as_str()).with_context(|| format!("waiting for {what}"))?
                {
                    return Ok(found);
                }
            }
            Some(Ok(Message::Close(close))) => bail!("closed waiting for {what}: {close:?}"),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error).context(format!("waiting for {what}")),
            None => bail!("ended waiting for {what}"),
        }
    }
}

/// `ws`'s messages, with the protocol's heartbeats answered on the way.
fn answering(ws: &mut Ws, protocol: Protocol) -> impl Stream<Item = Result<Message, WsError>> + '_ {
    futures::stream::unfold(Some(ws), move |ws| async move {
        let ws = ws?;
        loop {
            let message = ws.next().await?;
            if let Ok(Message::Text(text)) = &message
                && let Some(reply) = protocol.answer(text)
            {
                if let Err(error) = ws.send(Message::text(reply)).await {
                    return Some((Err(error), None));
                }
                continue;
            }
            return Some((message, Some(ws)));
        }
    })
}

/// Reads `connections` together in this task until `stop` turns true,
/// answering heartbeats, and hands every other message to `on_message`
/// with its connection's index.
async fn poll_all(
    connections: &mut [Ws],
    protocol: Protocol,
    mut stop: watch::Receiver<bool>,
    mut on_message: impl FnMut(usize, Result<Message, WsError>),
) {
    let mut all = futures::stream::select_all(
        connections
            .iter_mut()
            .enumerate()
            .map(|(n, ws)| Box::pin(answering(ws, protocol).map(move |message| (n, message)))),
    );
    loop {
        let next = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break,
            next = all.next() => next,
        };
        match next {
            Some((n, message)) => on_message(n, message),
            None => {
                let _ = stop.wait_for(|stop| *stop).await;
                break;
            }
        }
    }
}

/// Why a connection ended, if `message` says it did.
fn ending(message: &Result<Message, WsError>) -> Option<String> {
    match message {
        Ok(Message::Close(Some(close))) => Some(format!(
            "closed {}: {}",
            u16::from(close.code),
            close.reason
        )),
        Ok(Message::Close(None)) => Some("closed".to_owned()),
        Ok(_) => None,
        Err(error) => Some(error.to_string()),
    }
}

/// Reads a connection that stopped reading, answering heartbeats, until it
/// ends or `deadline`: why it ended (`closed 4008: …` when the server closed
/// it as too slow, by a WebSocket close or Socket.IO's `closing`), or
/// `None` if it did not.
pub async fn read_to_end(
    protocol: Protocol,
    mut ws: Ws,
    deadline: tokio::time::Instant,
) -> Option<String> {
    let mut messages = std::pin::pin!(answering(&mut ws, protocol));
    loop {
        let message = tokio::time::timeout_at(deadline, messages.next())
            .await
            .ok()?;
        let Some(message) = message else {
            return Some("ended".to_owned());
        };
        if let Ok(Message::Text(text)) = &message {
            match protocol.decode(text) {
                Incoming::Ending(why) => return Some(why),
                _ => continue,
            }
        }
        if let Some(why) = ending(&message) {
            return Some(why);
        }
    }
}

/// The connections while nothing else reads them (between setup steps and
/// during the memory readings): each group is read by a task of its own,
/// which answers heartbeats, until taken back. Other messages are dropped.
#[derive(Debug)]
pub struct Idle {
    protocol: Protocol,
    /// Each client socket's receive buffer, set before it connects; `None`
    /// leaves it to the kernel's autotuning.
    receive_buffer: Option<u32>,
    groups: VecDeque<Keeper>,
}

#[derive(Debug)]
struct Keeper {
    stop: watch::Sender<bool>,
    /// The group, with how many of them ended and the first reason.
    task: JoinHandle<(Vec<Ws>, usize, Option<String>)>,
}

impl Idle {
    pub fn new(protocol: Protocol, receive_buffer: Option<u32>) -> Self {
        Self {
            protocol,
            receive_buffer,
            groups: VecDeque::new(),
        }
    }

    fn keep(&mut self, mut connections: Vec<Ws>) {
        let (stop, stopped) = watch::channel(false);
        let protocol = self.protocol;
        let task = tokio::spawn(async move {
            let (mut ended, mut reason) = (0, None);
            poll_all(&mut connections, protocol, stopped, |_, message| {
                if let Some(why) = ending(&message) {
                    ended += 1;
                    reason.get_or_insert(why);
                }
            })
            .await;
            (connections, ended, reason)
        });
        self.groups.push_back(Keeper { stop, task });
    }

    /// Takes back the oldest group; fails if any of it ended meanwhile.
    async fn take(&mut self) -> Result<Vec<Ws>> {
        let Keeper { stop, task } = self.groups.pop_front().context("no connections kept")?;
        stop.send_replace(true);
        let (connections, ended, reason) = task.await.context("a keeper panicked")?;
        if ended > 0 {
            bail!(
                "{ended} idle connections ended, the first: {}",
                reason.unwrap_or_default()
            );
        }
        Ok(connections)
    }

    /// Opens `count` more connections with `token`, kept from their
    /// handshake on.
    pub async fn open(&mut self, base_url: &str, token: &str, count: usize) -> Result<()> {
        let mut left = count;
        while left > 0 {
            let chunk = left.min(SETUP_CHUNK);
            let opened = open(self.protocol, self.receive_buffer, base_url, token, chunk).await?;
            self.keep(opened);
            left -= chunk;
        }
        Ok(())
    }

    /// Subscribes every connection to `room`, one group at a time.
    pub async fn subscribe(&mut self, room: &str) -> Result<()> {
        for _ in 0..self.groups.len() {
            let group = self.take().await?;
            let group = subscribe(self.protocol, group, room).await?;
            self.keep(group);
        }
        Ok(())
    }

    /// Every connection, for the readers.
    pub async fn take_all(mut self) -> Result<Vec<Ws>> {
        let mut all = Vec::new();
        while !self.groups.is_empty() {
            all.extend(self.take().await?);
        }
        Ok(all)
    }
}

/// The commands of a run, shared by the driver (which stamps send times)
/// and the readers (which look them up).
#[derive(Debug)]
pub struct Plan {
    /// Times are microseconds since this instant.
    pub base: Instant,
    command: Command,
    /// Per command: its send time + 1, or 0 while not sent.
    sent: Vec<AtomicU64>,
    /// Ticket id -> its place; command `i` changes ticket `i % tickets`.
    tickets: HashMap<String, usize>,
    /// Frames of new changes received, over all connections.
    pub unique_frames: AtomicU64,
    /// The first change frame received, as sent.
    pub sample_frame: OnceLock<String>,
}

impl Plan {
    pub fn new(command: Command, tickets: &[String], commands: usize) -> Self {
        Self {
            base: Instant::now(),
            command,
            sent: (0..commands).map(|_| AtomicU64::new(0)).collect(),
            tickets: tickets
                .iter()
                .enumerate()
                .map(|(k, id)| (id.clone(), k))
                .collect(),
            unique_frames: AtomicU64::new(0),
            sample_frame: OnceLock::new(),
        }
    }

    pub fn command(&self) -> Command {
        self.command
    }

    pub fn commands(&self) -> usize {
        self.sent.len()
    }

    /// Microseconds since `base`.
    pub fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Notes that command `i` is being sent now. Done before the request
    /// goes out, so any frame it causes finds the time.
    pub fn stamp_sent(&self, i: usize) -> u64 {
        let now = self.now();
        self.sent[i].store(now + 1, Ordering::Release);
        now
    }

    pub fn sent_at(&self, i: usize) -> Option<u64> {
        self.sent[i].load(Ordering::Acquire).checked_sub(1)
    }

    /// The version command `i` gives its ticket.
    pub fn version_of(&self, i: usize) -> u64 {
        (i / self.tickets.len()) as u64 + FIRST_CHANGE_VERSION
    }

    /// The title of the ticket command `i` opens (`Command::Create`).
    pub fn title_of(i: usize) -> String {
        format!("{TITLE_PREFIX}{i}")
    }

    /// The command whose change `event` is, if it is one of this plan's.
    fn command_of(&self, event: &Event<'_>) -> Option<usize> {
        if event.name != self.command.event() {
            return None;
        }
        let data = event.data.as_ref()?;
        let i = match self.command {
            Command::Priority => self.command_of_version(data.ticket_id?, data.version?)?,
            Command::Create => data
                .title
                .as_deref()?
                .strip_prefix(TITLE_PREFIX)?
                .parse()
                .ok()?,
        };
        (i < self.commands()).then_some(i)
    }

    /// The command whose change made `ticket` reach `version`.
    fn command_of_version(&self, ticket: &str, version: u64) -> Option<usize> {
        let k = *self.tickets.get(ticket)?;
        let round = usize::try_from(version.checked_sub(FIRST_CHANGE_VERSION)?).ok()?;
        Some(round * self.tickets.len() + k)
    }
}

/// What one connection received.
#[derive(Debug)]
pub struct ConnectionLog {
    /// One bit per command: its change arrived.
    got: Vec<u64>,
    pub duplicates: u64,
    /// How the connection ended, if it did.
    pub ended: Option<String>,
}

impl ConnectionLog {
    fn new(commands: usize) -> Self {
        Self {
            got: vec![0; commands.div_ceil(64)],
            duplicates: 0,
            ended: None,
        }
    }

    /// Marks command `i` received; false if it already was.
    fn mark(&mut self, i: usize) -> bool {
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        let new = self.got[word] & bit == 0;
        self.got[word] |= bit;
        new
    }

    pub fn has(&self, i: usize) -> bool {
        self.got[i / 64] & (1u64 << (i % 64)) != 0
    }
}

/// What one reader task saw over its share of the connections.
#[derive(Debug)]
pub struct ReaderLog {
    pub connections: Vec<ConnectionLog>,
    /// Receive time minus send time of every new change frame.
    pub delivery: Latency,
    /// Per command: earliest and latest receive time (µs since `base`).
    pub first: Vec<u64>,
    pub last: Vec<u64>,
    /// Events other than the commands' ticket events (notifications,
    /// queue metrics, …), by name.
    pub side_events: BTreeMap<String, u64>,
    /// Frames that match no sent command, or are not events.
    pub unexpected_frames: u64,
}

impl ReaderLog {
    fn new(connections: usize, commands: usize) -> Self {
        Self {
            connections: (0..connections)
                .map(|_| ConnectionLog::new(commands))
                .collect(),
            delivery: Latency::default(),
            first: vec![u64::MAX; commands],
            last: vec![0; commands],
            side_events: BTreeMap::new(),
            unexpected_frames: 0,
        }
    }

    /// Reads `connections` until `stop` turns true, all in this one task.
    pub async fn read(
        plan: Arc<Plan>,
        protocol: Protocol,
        mut connections: Vec<Ws>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let mut log = Self::new(connections.len(), plan.commands());
        poll_all(
            &mut connections,
            protocol,
            stop,
            |n, message| match &message {
                Ok(Message::Text(text)) => log.on_text(&plan, protocol, n, text),
                _ => {
                    if let Some(why) = ending(&message) {
                        log.connections[n].ended.get_or_insert(why);
                    }
                }
            },
        )
        .await;
        log
    }

    fn on_text(&mut self, plan: &Plan, protocol: Protocol, n: usize, text: &str) {
        let now = plan.now();
        let event = match protocol.decode(text) {
            Incoming::Event(event) => event,
            Incoming::Ending(why) => {
                self.connections[n].ended.get_or_insert(why);
                return;
            }
            Incoming::Other => {
                self.unexpected_frames += 1;
                return;
            }
        };
        if event.offset.is_none() || event.name != plan.command.event() {
            match self.side_events.get_mut(event.name) {
                Some(count) => *count += 1,
                None => {
                    self.side_events.insert(event.name.to_owned(), 1);
                }
            }
            return;
        }
        let command = plan.command_of(&event);
        let Some((i, sent)) = command.and_then(|i| Some((i, plan.sent_at(i)?))) else {
            self.unexpected_frames += 1;
            return;
        };
        if !self.connections[n].mark(i) {
            self.connections[n].duplicates += 1;
            return;
        }
        plan.unique_frames.fetch_add(1, Ordering::Relaxed);
        plan.sample_frame.get_or_init(|| text.to_owned());
        self.delivery
            .record(Duration::from_micros(now.saturating_sub(sent)));
        self.first[i] = self.first[i].min(now);
        self.last[i] = self.last[i].max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_websocket_frames() {
        let change = r#"{"type":"event","event":"ticket:priority_changed","offset":9,"rooms":["queue:q"],"data":{"ticket_id":"t","version":3}}"#;
        let Incoming::Event(event) = Protocol::WebSocket.decode(change) else {
            panic!("not an event");
        };
        assert_eq!(event.name, "ticket:priority_changed");
        assert_eq!(event.offset, Some(9));
        let data = event.data.expect("data");
        assert_eq!((data.ticket_id, data.version), (Some("t"), Some(3)));
        assert!(matches!(
            Protocol::WebSocket.decode(r#"{"type":"subscribed","room":"queue:q"}"#),
            Incoming::Other
        ));
        assert_eq!(Protocol::WebSocket.answer("2"), None);
        assert_eq!(Protocol::SocketIo.answer("2"), Some("3"));
    }

    /// A change event of `name` with `data`, as the readers see it.
    fn event<'a>(name: &'a str, data: &'a str) -> Event<'a> {
        Event {
            name,
            offset: Some(1),
            data: serde_json::from_str(data).ok(),
        }
    }

    #[test]
    fn plan_names_priority_changes_by_ticket_and_version() {
        let plan = Plan::new(Command::Priority, &["a".to_owned(), "b".to_owned()], 5);
        let changed = |data| plan.command_of(&event("ticket:priority_changed", data));
        assert_eq!(plan.version_of(0), 2);
        assert_eq!(plan.version_of(3), 3);
        assert_eq!(changed(r#"{"ticket_id":"b","version":3}"#), Some(3));
        assert_eq!(changed(r#"{"ticket_id":"a","version":4}"#), Some(4));
        assert_eq!(changed(r#"{"ticket_id":"b","version":4}"#), None);
        assert_eq!(changed(r#"{"ticket_id":"c","version":2}"#), None);
        assert_eq!(changed(r#"{"ticket_id":"a","version":1}"#), None);
        let notification = event("notification:created", r#"{"ticket_id":"a","version":2}"#);
        assert_eq!(plan.command_of(&notification), None);
    }

    #[test]
    fn plan_names_creations_by_title() {
        let plan = Plan::new(Command::Create, &["lane".to_owned()], 5);
        let created = |title: &str| {
            let data = json!({ "ticket_id": "any", "version": 1, "title": title }).to_string();
            plan.command_of(&event("ticket:created", &data))
        };
        assert_eq!(created(&Plan::title_of(4)), Some(4));
        assert_eq!(created(&Plan::title_of(5)), None);
        assert_eq!(created("fan-out ticket 0"), None);
        let data = json!({ "title": Plan::title_of(1) }).to_string();
        assert_eq!(plan.command_of(&event("ticket:updated", &data)), None);
    }
}
