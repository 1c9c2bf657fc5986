//! A WebSocket client of `/ws` for tests, with waits that have deadlines.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, client_async, connect_async};

const DEADLINE: Duration = Duration::from_secs(20);

#[derive(Debug)]
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// An upgrade the server refused: its status, content type and JSON body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

/// How a connection ended, as far as the client saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Closed(u16),
    Dropped,
}

impl WsClient {
    /// Connects with the token in the upgrade's Authorization header and
    /// waits for `ready`.
    pub async fn connect(base_url: &str, token: &str) -> (Self, Value) {
        Self::try_connect(base_url, token)
            .await
            .expect("websocket connects")
    }

    /// Like [`WsClient::connect`], or how the server refused the upgrade
    /// (status 0 when nothing answered).
    pub async fn try_connect(base_url: &str, token: &str) -> Result<(Self, Value), Refused> {
        Self::try_connect_reading(base_url, token, None).await
    }

    /// Like [`WsClient::try_connect`], with the client socket's receive
    /// buffer at `receive_buffer` bytes when given: a client that stops
    /// reading then backs up into the server after a few frames, rather
    /// than after the megabytes loopback buffers would take.
    pub async fn try_connect_reading(
        base_url: &str,
        token: &str,
        receive_buffer: Option<u32>,
    ) -> Result<(Self, Value), Refused> {
        let mut request = ws_url(base_url).into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let nothing_answered = |error: String| Refused {
            status: 0,
            content_type: String::new(),
            body: Value::String(error),
        };
        let address = base_url.trim_start_matches("http://");
        let address = tokio::net::lookup_host(address)
            .await
            .map_err(|e| nothing_answered(e.to_string()))?
            .next()
            .expect("an address");
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(bytes) = receive_buffer {
            socket.set_recv_buffer_size(bytes).unwrap();
        }
        let tcp = socket
            .connect(address)
            .await
            .map_err(|e| nothing_answered(e.to_string()))?;
        let stream = match client_async(request, MaybeTlsStream::Plain(tcp)).await {
            Ok((stream, _)) => stream,
            Err(tungstenite::Error::Http(response)) => return Err(refused(&response)),
            Err(error) => return Err(nothing_answered(error.to_string())),
        };
        let mut client = Self { stream };
        loop {
            match client.next().await {
                Ok(frame) if frame["type"] == "ready" => return Ok((client, frame)),
                Ok(_) => {}
                Err(ended) => {
                    return Err(nothing_answered(format!("ended before ready: {ended:?}")));
                }
            }
        }
    }

    /// Connects without credentials (the first frame must authenticate).
    pub async fn connect_bare(base_url: &str) -> Self {
        let (stream, _) = connect_async(ws_url(base_url))
            .await
            .expect("websocket connects");
        Self { stream }
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Message::Text(frame.to_string().into()))
            .await
            .expect("frame sent");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("frame sent");
    }

    /// The next JSON frame, or how the connection ended.
    pub async fn next(&mut self) -> Result<Value, Ended> {
        loop {
            let message = tokio::time::timeout(DEADLINE, self.stream.next())
                .await
                .expect("a frame arrives in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Ok(serde_json::from_str(&text).expect("JSON frame"));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(Ended::Closed(frame.map_or(1005, |f| f.code.into())));
                }
                Some(Ok(_)) => continue,
                _ => return Err(Ended::Dropped),
            }
        }
    }

    /// The next JSON frame if one comes within `wait`: `None` on silence,
    /// `Some(Err)` when the connection ended.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Result<Value, Ended>> {
        let message = tokio::time::timeout(wait, self.stream.next()).await.ok()?;
        Some(match message {
            Some(Ok(Message::Text(text))) => Ok(serde_json::from_str(&text).expect("JSON frame")),
            Some(Ok(Message::Close(frame))) => {
                Err(Ended::Closed(frame.map_or(1005, |f| f.code.into())))
            }
            // Pings and pongs: nothing for the caller yet.
            Some(Ok(_)) => return None,
            _ => Err(Ended::Dropped),
        })
    }

    /// Skips frames until one of `kind` comes.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self
                .next()
                .await
                .unwrap_or_else(|ended| panic!("ended ({ended:?}) waiting for {kind}"));
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Subscribes and collects the replayed events until `subscribed`.
    pub async fn subscribe(&mut self, room: &str, since: Option<i64>) -> (Vec<Value>, Value) {
        self.subscribe_in_epoch(room, since, None).await
    }

    /// Like `subscribe`, naming the epoch `since` was read under.
    pub async fn subscribe_in_epoch(
        &mut self,
        room: &str,
        since: Option<i64>,
        epoch: Option<&str>,
    ) -> (Vec<Value>, Value) {
        match self.try_subscribe(room, since, epoch).await {
            Ok(joined) => joined,
            Err(Some(error)) => panic!("subscribe to {room} refused: {error}"),
            Err(None) => panic!("the connection ended subscribing to {room}"),
        }
    }

    /// Like `subscribe_in_epoch`; `Err` holds the error frame, or `None`
    /// when the connection ended.
    pub async fn try_subscribe(
        &mut self,
        room: &str,
        since: Option<i64>,
        epoch: Option<&str>,
    ) -> Result<(Vec<Value>, Value), Option<Value>> {
        self.send(json!({ "type": "subscribe", "room": room, "since": since, "epoch": epoch }))
            .await;
        let mut events = Vec::new();
        loop {
            let frame = self.next().await.map_err(|_| None)?;
            match frame["type"].as_str() {
                Some("subscribed") => return Ok((events, frame)),
                // Latest-value frames (queue metrics) carry no offset and are not history.
                Some("event") if frame["offset"].is_null() => {}
                Some("event") => events.push(frame),
                Some("error") => return Err(Some(frame)),
                _ => {}
            }
        }
    }

    /// Collects `event` frames (with offsets) until `done` says enough (with a deadline).
    pub async fn events_until(&mut self, done: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
        self.more_events(Vec::new(), done).await
    }

    /// Like `events_until`, starting from events already received (a replay).
    pub async fn more_events(
        &mut self,
        mut events: Vec<Value>,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Vec<Value> {
        while !done(&events) {
            let frame = self
                .next()
                .await
                .unwrap_or_else(|ended| panic!("ended ({ended:?}) after {events:?}"));
            if frame["type"] == "event" && !frame["offset"].is_null() {
                events.push(frame);
            }
        }
        events
    }

    /// Waits for the server to end the connection.
    pub async fn ended(&mut self) -> Ended {
        loop {
            if let Err(ended) = self.next().await {
                return ended;
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

fn refused(response: &tungstenite::handshake::client::Response) -> Refused {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    Refused {
        status: response.status().as_u16(),
        content_type: content_type.to_owned(),
        body: serde_json::from_slice(response.body().as_deref().unwrap_or_default())
            .unwrap_or(Value::Null),
    }
}

fn ws_url(base_url: &str) -> String {
    format!("{}/ws", base_url.replacen("http://", "ws://", 1))
}
