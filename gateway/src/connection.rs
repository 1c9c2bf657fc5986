//! One `GET /ws` connection: authentication, the JSON frames, heartbeats,
//! token expiry and refresh. Rooms, replay then live, cursors and
//! membership re-checks are the shared [`Session`] (`session.rs`); this
//! file is only the WebSocket transport of it.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use bomizzel_identity::Caller;
use futures::{FutureExt, SinkExt, Stream, StreamExt};
use serde_json::Value;
use tokio::sync::watch;

use crate::dormant::{self, Rare};
use crate::hub::{Hub, Outbound};
use crate::limits::{BadFrames, ConnectionSlot, TOO_MANY_CONNECTIONS, UserConnections};
use crate::protocol::{self, ClientFrame, close};
use crate::session::{Closing, Expiry, Refusal, Session, Transport, verify};

/// The connection's two directions, as axum's `Message`s whichever
/// WebSocket implementation carries them: axum's own, or the one that
/// speaks permessage-deflate (`deflate.rs`).
pub(crate) type Sink = Pin<Box<dyn futures::Sink<Message, Error = axum::Error> + Send>>;
pub(crate) type Incoming = Pin<Box<dyn Stream<Item = Result<Message, axum::Error>> + Send>>;

/// The WebSocket side of a session: JSON text frames.
struct Frames {
    sink: Sink,
    bad_frames: BadFrames,
    last_heard: Instant,
    write_deadline: Duration,
}

impl Transport for Frames {
    async fn feed(&mut self, outbound: &Outbound) -> Result<(), Closing> {
        let frame = outbound.frame().text().clone();
        let deadline = self.write_deadline;
        within(deadline, self.sink.feed(Message::Text(frame))).await
    }

    async fn flush(&mut self) -> Result<(), Closing> {
        within(self.write_deadline, self.sink.flush()).await
    }
}

/// Waits for a write at most `deadline`: a client that stopped reading
/// fills the socket's buffers, and the write would never complete, holding
/// the connection (and its queue) forever. It is then too slow, as when its
/// queue overflows. Most writes only fill the WebSocket's buffer and are
/// done at once: they are not timed.
async fn within(
    deadline: Duration,
    write: impl Future<Output = Result<(), axum::Error>>,
) -> Result<(), Closing> {
    let mut write = std::pin::pin!(write);
    let written = match write.as_mut().now_or_never() {
        Some(written) => written,
        None => tokio::time::timeout(deadline, write)
            .await
            .map_err(|_| Closing::stalled())?,
    };
    written.map_err(|_| Closing::send_failed())
}

impl Frames {
    async fn say(&mut self, text: String) -> Result<(), Closing> {
        let deadline = self.write_deadline;
        within(deadline, self.sink.send(Message::Text(text.into()))).await
    }

    /// Answers a refused frame with an error frame; too many of the
    /// client's doing close the connection.
    async fn reject(&mut self, refusal: Refusal) -> Result<(), Closing> {
        if refusal.by_client {
            self.bad_frames.count()?;
        }
        self.say(protocol::error(refusal.code, &refusal.message))
            .await
    }
}

/// Serves one upgraded connection until it closes. `slot` is the user's
/// connection slot when the upgrade's header token already took it.
pub(crate) async fn serve(
    hub: Arc<Hub>,
    connections: Arc<UserConnections>,
    (mut sink, mut stream): (Sink, Incoming),
    header_token: Option<String>,
    slot: Option<ConnectionSlot>,
    shutdown: watch::Receiver<bool>,
) {
    let (token, caller, expires_at) =
        match Box::pin(authenticate(&hub, &mut sink, &mut stream, header_token)).await {
            Ok(authenticated) => authenticated,
            Err(closing) => {
                finish(&mut sink, &mut stream, closing, hub.settings.write_deadline).await;
                return;
            }
        };
    let Some(_slot) = slot.or_else(|| connections.acquire(&caller.user_id)) else {
        let _ = send(
            &mut sink,
            protocol::error(TOO_MANY_CONNECTIONS, &connections.refusal()),
        )
        .await;
        let closing = Closing::new(close::TOO_MANY_CONNECTIONS, "too many connections");
        finish(&mut sink, &mut stream, closing, hub.settings.write_deadline).await;
        return;
    };
    let mut session = Session::open(Arc::clone(&hub), token, caller, expires_at, true);
    let id = session.id;
    tracing::info!(connection = id, user = %session.caller.user_id, "websocket connected");
    let mut frames = Frames {
        sink,
        bad_frames: BadFrames::new(hub.settings.max_errors_per_minute),
        last_heard: Instant::now(),
        write_deadline: hub.settings.write_deadline,
    };
    let mut rare = Rare {
        directory: dormant::directory_changes(hub.state.directory_changes.subscribe()),
        shutdown: dormant::shutdown(shutdown),
    };
    let closing = run(&mut session, &mut frames, &mut stream, &mut rare).await;
    drop(session);
    tracing::info!(
        connection = id,
        code = closing.code,
        reason = closing.reason,
        "websocket closed"
    );
    finish(
        &mut frames.sink,
        &mut stream,
        closing,
        hub.settings.write_deadline,
    )
    .await;
}

/// Sends the close frame and reads on until the client's own close, within
/// `deadline`: behind a stalled client's backlog it may never pass, and the
/// connection is then just dropped. Frames the client sent meanwhile are
/// read and dropped: a socket closed with unread data is reset, and the
/// reset could discard the close frame before the client reads it.
async fn finish(sink: &mut Sink, stream: &mut Incoming, closing: Closing, deadline: Duration) {
    let frame = CloseFrame {
        code: closing.code,
        reason: Utf8Bytes::from_static(closing.reason),
    };
    let close = async {
        sink.send(Message::Close(Some(frame))).await?;
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
        sink.close().await
    };
    let _ = tokio::time::timeout(deadline, close).await;
}

/// The token from the upgrade's header, or from a first `auth` frame sent
/// within the deadline.
async fn authenticate(
    hub: &Hub,
    sink: &mut Sink,
    stream: &mut Incoming,
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
        Err(refusal) => {
            tracing::info!(code = refusal.code, "websocket authentication failed");
            metrics::counter!("ws_auth_failures_total").increment(1);
            let _ = send(sink, protocol::error(refusal.code, &refusal.message)).await;
            let code = if refusal.code == "token_expired" {
                close::TOKEN_EXPIRED
            } else {
                close::UNAUTHORIZED
            };
            Err(Closing::new(code, "authentication failed"))
        }
    }
}

async fn send(sink: &mut Sink, text: String) -> Result<(), axum::Error> {
    sink.send(Message::Text(text.into())).await
}

async fn run(
    session: &mut Session,
    frames: &mut Frames,
    stream: &mut Incoming,
    rare: &mut Rare,
) -> Closing {
    let head = Box::pin(session.hub.head()).await;
    let ready = protocol::ready(&session.caller.user_id, &session.hub.epoch(), head);
    if frames.say(ready).await.is_err() {
        return Closing::send_failed();
    }
    let mut heartbeat = tokio::time::interval(session.hub.settings.heartbeat);
    heartbeat.tick().await;
    let (mut expiry, timer) = Expiry::start(session);
    tokio::pin!(timer);
    loop {
        expiry.follow(session, timer.as_mut());
        // Rare paths (incoming frames, membership re-checks) are boxed: a
        // task's size is its largest await point, and an idle connection
        // should only pay for the loop below.
        let step = tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(message)) => Box::pin(on_message(session, frames, message)).await,
                Some(Err(error)) => Err(read_failed(error)),
                None => Err(Closing::new(close::GOING_AWAY, "peer went away")),
            },
            outbound = session.next_queued() => match outbound {
                Some(first) => session.write_queued(frames, first).await,
                None => Err(Closing::too_slow()),
            },
            _ = heartbeat.tick() => heartbeat_step(session, frames).await,
            _ = &mut timer => Err(Closing::new(close::TOKEN_EXPIRED, "token expired")),
            Some(changed) = rare.directory.next() => match changed {
                Ok(change) if change.concerns(&session.caller.user_id) => Box::pin(recheck(session, frames)).await,
                Err(_) => Box::pin(recheck(session, frames)).await,
                _ => Ok(()),
            },
            _ = rare.shutdown.next() => Err(Closing::new(close::GOING_AWAY, "server shutting down")),
        };
        if let Err(closing) = step {
            return closing;
        }
    }
}

/// A frame over the size limit closes with 1009; any other read error
/// means the peer is gone.
fn read_failed(error: axum::Error) -> Closing {
    match error.into_inner().downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => {
            Closing::new(close::MESSAGE_TOO_BIG, "frame too big")
        }
        _ => Closing::new(close::GOING_AWAY, "peer went away"),
    }
}

async fn heartbeat_step(session: &Session, frames: &mut Frames) -> Result<(), Closing> {
    if frames.last_heard.elapsed() > session.hub.settings.idle_timeout {
        return Err(Closing::new(close::GOING_AWAY, "no sign of life"));
    }
    let deadline = frames.write_deadline;
    within(
        deadline,
        frames.sink.send(Message::Ping(Default::default())),
    )
    .await
}

async fn recheck(session: &mut Session, frames: &mut Frames) -> Result<(), Closing> {
    for room in session.recheck().await? {
        frames
            .say(protocol::unsubscribed(&room, "forbidden"))
            .await?;
    }
    Ok(())
}

async fn on_message(
    session: &mut Session,
    frames: &mut Frames,
    message: Message,
) -> Result<(), Closing> {
    frames.last_heard = Instant::now();
    session.heard();
    let text = match message {
        Message::Text(text) => text,
        Message::Close(_) => return Err(Closing::new(1000, "bye")),
        Message::Ping(_) | Message::Pong(_) => return Ok(()),
        Message::Binary(_) => {
            let refused = Refusal::new("unsupported_frame", "frames are JSON text");
            return frames.reject(refused).await;
        }
    };
    let frame = match serde_json::from_str::<ClientFrame>(&text) {
        Ok(frame) => frame,
        Err(error) => {
            return frames
                .reject(Refusal::new("malformed_frame", error.to_string()))
                .await;
        }
    };
    match frame {
        ClientFrame::Auth { token } => match session.refresh(token).await {
            Ok(()) => {
                let head = session.hub.head().await;
                let ready = protocol::ready(&session.caller.user_id, &session.hub.epoch(), head);
                frames.say(ready).await
            }
            Err(refused) => frames.reject(refused).await,
        },
        ClientFrame::Subscribe { room, since, epoch } => {
            subscribe(session, frames, &room, since.as_ref(), epoch.as_deref()).await
        }
        ClientFrame::Unsubscribe { room } => {
            session.unsubscribe(&room);
            frames.say(protocol::unsubscribed(&room, "requested")).await
        }
        ClientFrame::Presence { room, activity } => match session.announce(&room, &activity) {
            Ok(()) => Ok(()),
            Err(refused) => frames.reject(refused).await,
        },
        ClientFrame::Ping => frames.say(protocol::pong()).await,
        ClientFrame::Pong => Ok(()),
    }
}

async fn subscribe(
    session: &mut Session,
    frames: &mut Frames,
    name: &str,
    since: Option<&Value>,
    epoch: Option<&str>,
) -> Result<(), Closing> {
    let since = match protocol::parse_since(since) {
        Ok(since) => since,
        Err(message) => {
            return frames.reject(Refusal::new("invalid_offset", message)).await;
        }
    };
    match session.subscribe(frames, name, since, epoch).await? {
        Ok(joined) => {
            frames
                .say(protocol::subscribed(name, joined.recovered, joined.reason))
                .await?;
            session.release(frames, joined).await
        }
        Err(refused) => frames.reject(refused).await,
    }
}
