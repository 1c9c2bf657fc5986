//! The WebSocket side: opening and subscribing many connections, then
//! reading all of them with a few tasks and recording every change frame
//! against the command that caused it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt, TryFutureExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

use crate::report::Latency;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Handshakes (or subscriptions) in flight at once while setting up.
const SETUP_CONCURRENCY: usize = 64;
/// Longest wait for one connection's `ready` or `subscribed`.
const SETUP_DEADLINE: Duration = Duration::from_secs(30);
/// Frames are a few hundred bytes: a small read buffer keeps 10,000 clients
/// in this process cheap (tungstenite's default is 128 KiB each).
const READ_BUFFER: usize = 8 * 1024;
/// The version a ticket's first priority change creates (its creation is 1).
const FIRST_CHANGE_VERSION: u64 = 2;

/// Opens `count` connections to `/ws` with `token` in the Authorization
/// header, each waiting for its `ready`.
pub async fn open(base_url: &str, token: &str, count: usize) -> Result<Vec<Ws>> {
    let url = format!("{}/ws", base_url.replacen("http://", "ws://", 1));
    let authorization = HeaderValue::from_str(&format!("Bearer {token}"))?;
    futures::stream::iter(0..count)
        .map(|n| {
            let (url, authorization) = (url.clone(), authorization.clone());
            async move {
                let mut request = url.into_client_request()?;
                request.headers_mut().insert("authorization", authorization);
                let config = WebSocketConfig::default()
                    .read_buffer_size(READ_BUFFER)
                    .write_buffer_size(0);
                let (mut ws, _) = tokio::time::timeout(
                    SETUP_DEADLINE,
                    connect_async_with_config(request, Some(config), true),
                )
                .await
                .context("no handshake in time")??;
                await_frame(&mut ws, "ready").await?;
                anyhow::Ok(ws)
            }
            .map_err(move |error: anyhow::Error| error.context(format!("connection #{n}")))
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

/// Subscribes every connection to `room`, each waiting for its `subscribed`.
pub async fn subscribe(connections: Vec<Ws>, room: &str) -> Result<Vec<Ws>> {
    let frame = json!({ "type": "subscribe", "room": room }).to_string();
    futures::stream::iter(connections)
        .map(|mut ws| {
            let frame = frame.clone();
            async move {
                ws.send(Message::Text(frame.into())).await?;
                await_frame(&mut ws, "subscribed").await?;
                anyhow::Ok(ws)
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

/// Skips frames until one of type `kind`; an `error` frame or the end of
/// the connection fails.
async fn await_frame(ws: &mut Ws, kind: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + SETUP_DEADLINE;
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .with_context(|| format!("no {kind} frame in time"))?;
        match message {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text)?;
                match frame["type"].as_str() {
                    Some(found) if found == kind => return Ok(()),
                    Some("error") => bail!("waiting for {kind}: {frame}"),
                    _ => {}
                }
            }
            Some(Ok(Message::Close(close))) => bail!("closed waiting for {kind}: {close:?}"),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error).context(format!("waiting for {kind}")),
            None => bail!("ended waiting for {kind}"),
        }
    }
}

/// The commands of a run, shared by the driver (which stamps send times)
/// and the readers (which look them up).
#[derive(Debug)]
pub struct Plan {
    /// Times are microseconds since this instant.
    pub base: Instant,
    /// Per command: its send time + 1, or 0 while not sent.
    sent: Vec<AtomicU64>,
    /// Ticket id -> its place; command `i` changes ticket `i % tickets`.
    tickets: HashMap<String, usize>,
    /// Frames of new changes received, over all connections.
    pub unique_frames: AtomicU64,
}

impl Plan {
    pub fn new(tickets: &[String], commands: usize) -> Self {
        Self {
            base: Instant::now(),
            sent: (0..commands).map(|_| AtomicU64::new(0)).collect(),
            tickets: tickets
                .iter()
                .enumerate()
                .map(|(k, id)| (id.clone(), k))
                .collect(),
            unique_frames: AtomicU64::new(0),
        }
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

    /// The command whose change made `ticket` reach `version`.
    fn command_of(&self, ticket: &str, version: u64) -> Option<usize> {
        let k = *self.tickets.get(ticket)?;
        let round = usize::try_from(version.checked_sub(FIRST_CHANGE_VERSION)?).ok()?;
        let i = round * self.tickets.len() + k;
        (i < self.commands()).then_some(i)
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
    /// Latest-value frames (queue metrics, `"offset": null`).
    pub latest_frames: u64,
    /// Frames that match no sent command, or are not JSON events.
    pub unexpected_frames: u64,
}

/// The fields of a frame the readers look at.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default)]
    offset: Option<i64>,
    #[serde(default, borrow)]
    data: Option<ChangeData<'a>>,
}

#[derive(Deserialize)]
struct ChangeData<'a> {
    #[serde(default, borrow)]
    ticket_id: Option<&'a str>,
    #[serde(default)]
    version: Option<u64>,
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
            latest_frames: 0,
            unexpected_frames: 0,
        }
    }

    /// Reads `connections` until `stop` turns true, all in this one task.
    pub async fn read(
        plan: Arc<Plan>,
        connections: Vec<Ws>,
        mut stop: watch::Receiver<bool>,
    ) -> Self {
        let mut log = Self::new(connections.len(), plan.commands());
        let mut all = futures::stream::select_all(
            connections
                .into_iter()
                .enumerate()
                .map(|(n, ws)| ws.map(move |message| (n, message))),
        );
        loop {
            let next = tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => break,
                next = all.next() => next,
            };
            match next {
                Some((n, Ok(Message::Text(text)))) => log.on_frame(&plan, n, &text),
                Some((n, Ok(Message::Close(close)))) => {
                    log.connections[n].ended = Some(match close {
                        Some(close) => {
                            format!("closed {}: {}", u16::from(close.code), close.reason)
                        }
                        None => "closed".to_owned(),
                    });
                }
                Some((_, Ok(_))) => {}
                Some((n, Err(error))) => {
                    log.connections[n]
                        .ended
                        .get_or_insert_with(|| error.to_string());
                }
                None => {
                    let _ = stop.wait_for(|stop| *stop).await;
                    break;
                }
            }
        }
        log
    }

    fn on_frame(&mut self, plan: &Plan, n: usize, text: &str) {
        let now = plan.now();
        let Ok(frame) = serde_json::from_str::<Frame<'_>>(text) else {
            self.unexpected_frames += 1;
            return;
        };
        if frame.kind == "event" && frame.offset.is_none() {
            self.latest_frames += 1;
            return;
        }
        let command = match (frame.kind, frame.data) {
            (
                "event",
                Some(ChangeData {
                    ticket_id: Some(ticket),
                    version: Some(version),
                }),
            ) => plan.command_of(ticket, version),
            _ => None,
        };
        let Some((i, sent)) = command.and_then(|i| Some((i, plan.sent_at(i)?))) else {
            self.unexpected_frames += 1;
            return;
        };
        if !self.connections[n].mark(i) {
            self.connections[n].duplicates += 1;
            return;
        }
        plan.unique_frames.fetch_add(1, Ordering::Relaxed);
        self.delivery
            .record(Duration::from_micros(now.saturating_sub(sent)));
        self.first[i] = self.first[i].min(now);
        self.last[i] = self.last[i].max(now);
    }
}
