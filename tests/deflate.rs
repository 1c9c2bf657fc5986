//! permessage-deflate on `/ws` (`--ws-deflate`, RFC 7692): negotiated with
//! a client that offers it, whose frames then arrive compressed and
//! correct; plain frames for a client that does not offer it; and never
//! agreed while the setting is off (the default).

mod common;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bomizzel_store::testing::fresh_postgres_database;
use common::app::{Backend, TestApp};
use common::ws::WsClient;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use yawc::{Frame, OpCode, Options, WebSocket};

const DEADLINE: Duration = Duration::from_secs(20);
/// What browsers offer.
const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// The head of the server's answer to a `/ws` upgrade offering
/// `extensions`, lowercased: raw HTTP, so the test sees exactly what the
/// server agreed to.
async fn upgrade_answer(base_url: &str, extensions: Option<&str>) -> String {
    let address = base_url.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(address).await.expect("server reachable");
    let mut request = format!(
        "GET /ws HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    if let Some(offer) = extensions {
        request.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tokio::time::timeout(DEADLINE, tcp.read_exact(&mut byte))
            .await
            .expect("an answer in time")
            .expect("the answer's head");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().to_ascii_lowercase()
}

/// A socket that counts the bytes its client reads: what came over the wire.
struct Counted {
    tcp: TcpStream,
    read: Arc<AtomicUsize>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        self.read
            .fetch_add(buf.filled().len() - before, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// A client that offers permessage-deflate, authenticated by its first
/// frame, and the counter of the bytes it reads.
async fn compressing_client(app: &TestApp, user: &str) -> (WebSocket<Counted>, Arc<AtomicUsize>) {
    let address = app.server.base_url.trim_start_matches("http://");
    let read = Arc::new(AtomicUsize::new(0));
    let tcp = TcpStream::connect(address).await.expect("server reachable");
    let counted = Counted {
        tcp,
        read: Arc::clone(&read),
    };
    let url = format!("ws://{address}/ws").parse().unwrap();
    let options = Options::default().with_low_latency_compression();
    let mut socket = WebSocket::handshake(url, counted, options)
        .await
        .expect("upgraded");
    let auth = json!({ "type": "auth", "token": app.token(user) });
    socket.send(Frame::text(auth.to_string())).await.unwrap();
    next_of(&mut socket, "ready").await;
    (socket, read)
}

/// Frames until one of type `kind`, which is returned, and the length
/// of every text frame read until then, that one included.
async fn next_of(socket: &mut WebSocket<Counted>, kind: &str) -> (Value, usize) {
    let mut text_bytes = 0;
    loop {
        let frame = tokio::time::timeout(DEADLINE, socket.next())
            .await
            .expect("a frame in time")
            .expect("the connection stays open");
        if frame.opcode() != OpCode::Text {
            continue;
        }
        text_bytes += frame.payload().len();
        let value: Value = serde_json::from_slice(frame.payload()).expect("a JSON frame");
        if value["type"] == kind {
            return (value, text_bytes);
        }
    }
}

/// A comment long enough that its frame must shrink if it is deflated.
fn long_comment() -> String {
    "The printer is on fire again, please send someone with an extinguisher. ".repeat(40)
}

async fn compressed_frames_arrive_whole(backend: Backend) {
    let app = TestApp::start(backend, &["--ws-deflate"]).await;
    let answer = upgrade_answer(&app.server.base_url, Some(OFFER)).await;
    assert!(answer.starts_with("http/1.1 101"), "{answer}");
    assert!(
        answer.contains(
            "sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        ),
        "{answer}"
    );

    let (mut client, read) = compressing_client(&app, "agent-1").await;
    let subscribe = json!({ "type": "subscribe", "room": "queue:queue-1" });
    client
        .send(Frame::text(subscribe.to_string()))
        .await
        .unwrap();
    next_of(&mut client, "subscribed").await;
    let read_before = read.load(Ordering::Relaxed);
    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    let body = long_comment();
    app.comment("agent-1", &id, &body, false).await;
    let mut text_bytes = 0;
    let commented = loop {
        let (event, bytes) = next_of(&mut client, "event").await;
        text_bytes += bytes;
        if event["event"] == "ticket:commented" {
            break event;
        }
    };
    assert_eq!(commented["data"]["ticket_id"], id.as_str());
    assert_eq!(commented["data"]["body"], body.as_str(), "{commented}");
    // Uncompressed, the wire would carry more than the frames' text.
    let wire_bytes = read.load(Ordering::Relaxed) - read_before;
    assert!(
        wire_bytes * 2 < text_bytes,
        "{text_bytes} bytes of frames took {wire_bytes} bytes on the wire"
    );
}

#[tokio::test]
async fn compressed_frames_arrive_whole_on_sqlite() {
    compressed_frames_arrive_whole(Backend::Sqlite).await;
}

#[tokio::test]
async fn compressed_frames_arrive_whole_on_postgres() {
    let Some(url) = fresh_postgres_database("deflate_compressed_frames").await else {
        return;
    };
    compressed_frames_arrive_whole(Backend::Postgres(url)).await;
}

/// With the setting on, a client that does not offer the extension gets
/// plain frames, next to one that does.
#[tokio::test]
async fn a_client_without_the_extension_gets_plain_frames() {
    let app = TestApp::start(Backend::Sqlite, &["--ws-deflate"]).await;
    let answer = upgrade_answer(&app.server.base_url, None).await;
    assert!(answer.starts_with("http/1.1 101"), "{answer}");
    assert!(!answer.contains("sec-websocket-extensions"), "{answer}");

    let (mut plain, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    plain.subscribe("queue:queue-1", None).await;
    let (mut compressing, _) = compressing_client(&app, "agent-1").await;
    let subscribe = json!({ "type": "subscribe", "room": "queue:queue-1" });
    compressing
        .send(Frame::text(subscribe.to_string()))
        .await
        .unwrap();
    next_of(&mut compressing, "subscribed").await;

    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    let body = long_comment();
    app.comment("agent-1", &id, &body, false).await;
    let events = plain
        .events_until(|events| events.iter().any(|e| e["event"] == "ticket:commented"))
        .await;
    let commented = events.last().unwrap();
    assert_eq!(commented["data"]["body"], body.as_str(), "{commented}");
    let created = next_of(&mut compressing, "event").await.0;
    assert_eq!(created["event"], "ticket:created");
    assert_eq!(created["offset"], events[0]["offset"]);
}

/// Off by default: an offer is not agreed to.
#[tokio::test]
async fn the_extension_is_off_by_default() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let answer = upgrade_answer(&app.server.base_url, Some(OFFER)).await;
    assert!(answer.starts_with("http/1.1 101"), "{answer}");
    assert!(!answer.contains("sec-websocket-extensions"), "{answer}");
}
