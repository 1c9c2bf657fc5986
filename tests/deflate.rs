//! permessage-deflate on `/ws` (`--ws-deflate`, RFC 7692): agreed with a
//! client that offers it, whose frames then arrive compressed and whole;
//! plain frames for a client that does not offer it; and never agreed
//! while the setting is off (the default).
//!
//! The client here speaks WebSocket by hand (the upgrade, frames, and
//! inflating with `flate2`), so what is checked is the bytes the server
//! sent, not one library's reading of another's.

mod common;

use std::time::Duration;

use bomizzel_store::testing::fresh_postgres_database;
use common::app::{Backend, TestApp};
use flate2::{Decompress, FlushDecompress};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEADLINE: Duration = Duration::from_secs(20);
/// What browsers offer.
const OFFER: &str = "permessage-deflate; client_max_window_bits";
const AGREED: &str = "sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover";
const OPCODE_TEXT: u8 = 0x1;
/// The tail RFC 7692 removes from each compressed message.
const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A text frame as it came: its JSON, whether it was compressed (RSV1),
/// and its size on the wire, header included.
#[derive(Debug)]
struct Received {
    json: Value,
    compressed: bool,
    wire_bytes: usize,
}

struct RawClient {
    tcp: TcpStream,
    /// The head of the server's answer to the upgrade, lowercased.
    answer: String,
}

impl RawClient {
    /// Upgrades `/ws`, offering `extensions`, and signs in with an `auth`
    /// frame as `user`.
    async fn connect(app: &TestApp, user: &str, extensions: Option<&str>) -> Self {
        let address = app.server.base_url.trim_start_matches("http://");
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
        while !head.ends_with(b"\r\n\r\n") {
            head.push(within_deadline(tcp.read_u8()).await);
        }
        let answer = String::from_utf8(head).unwrap().to_ascii_lowercase();
        assert!(answer.starts_with("http/1.1 101"), "{answer}");
        let mut client = Self { tcp, answer };
        client
            .send(json!({ "type": "auth", "token": app.token(user) }))
            .await;
        client.next_of("ready").await;
        client
    }

    fn agreed_to_deflate(&self) -> bool {
        let agreed = self.answer.contains(AGREED);
        assert_eq!(
            agreed,
            self.answer.contains("sec-websocket-extensions"),
            "{}",
            self.answer
        );
        agreed
    }

    /// A masked text frame (mask key 0: the payload goes as it is),
    /// never compressed: compressing is the client's choice.
    async fn send(&mut self, frame: Value) {
        let payload = frame.to_string().into_bytes();
        let mut bytes = vec![0x80 | OPCODE_TEXT];
        match u16::try_from(payload.len()) {
            Ok(length) if length < 126 => bytes.push(0x80 | length as u8),
            Ok(length) => {
                bytes.push(0x80 | 126);
                bytes.extend_from_slice(&length.to_be_bytes());
            }
            Err(_) => panic!("test frames are small"),
        }
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&payload);
        self.tcp.write_all(&bytes).await.unwrap();
    }

    /// The next text frame (pings are skipped).
    async fn next(&mut self) -> Received {
        loop {
            let first = within_deadline(self.tcp.read_u8()).await;
            let length = within_deadline(self.tcp.read_u8()).await;
            assert_eq!(length & 0x80, 0, "server frames are not masked");
            let (length, header) = match length {
                126 => (u64::from(within_deadline(self.tcp.read_u16()).await), 4),
                127 => (within_deadline(self.tcp.read_u64()).await, 10),
                short => (u64::from(short), 2),
            };
            let mut payload = vec![0; usize::try_from(length).unwrap()];
            within_deadline(self.tcp.read_exact(&mut payload)).await;
            assert_eq!(first & 0x80, 0x80, "messages come in one frame");
            if first & 0x0f != OPCODE_TEXT {
                continue;
            }
            let wire_bytes = header + payload.len();
            let compressed = first & 0x40 != 0;
            if compressed {
                payload = inflate(&payload);
            }
            return Received {
                json: serde_json::from_slice(&payload).expect("a JSON frame"),
                compressed,
                wire_bytes,
            };
        }
    }

    async fn next_of(&mut self, kind: &str) -> Received {
        loop {
            let received = self.next().await;
            if received.json["type"] == kind {
                return received;
            }
        }
    }

    /// Subscribes to `room` and waits for the answer.
    async fn subscribe(&mut self, room: &str) {
        self.send(json!({ "type": "subscribe", "room": room }))
            .await;
        self.next_of("subscribed").await;
    }

    /// Frames until the `ticket:commented` change, which is returned.
    async fn commented(&mut self) -> Received {
        loop {
            let received = self.next_of("event").await;
            if received.json["event"] == "ticket:commented" {
                return received;
            }
        }
    }
}

/// A message compressed with no context taken over: raw deflate of the
/// payload with the removed tail put back.
fn inflate(compressed: &[u8]) -> Vec<u8> {
    let mut input = compressed.to_vec();
    input.extend_from_slice(&DEFLATE_TAIL);
    let mut output = Vec::with_capacity(1 << 20);
    Decompress::new(false)
        .decompress_vec(&input, &mut output, FlushDecompress::Sync)
        .expect("a deflate stream");
    output
}

async fn within_deadline<T>(read: impl Future<Output = std::io::Result<T>>) -> T {
    tokio::time::timeout(DEADLINE, read)
        .await
        .expect("the server answers in time")
        .expect("the connection stays open")
}

/// A comment long enough that its frame must shrink if it is deflated.
fn long_comment() -> String {
    "The printer is on fire again, please send someone with an extinguisher. ".repeat(40)
}

/// Opens a ticket in `queue-1` and comments on it; returns the comment.
async fn comment_on_a_new_ticket(app: &TestApp) -> String {
    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    let body = long_comment();
    app.comment("agent-1", &id, &body, false).await;
    body
}

async fn compressed_frames_arrive_whole(backend: Backend) {
    let app = TestApp::start(backend, &["--ws-deflate"]).await;
    let mut client = RawClient::connect(&app, "agent-1", Some(OFFER)).await;
    assert!(client.agreed_to_deflate(), "{}", client.answer);
    client.subscribe("queue:queue-1").await;
    let body = comment_on_a_new_ticket(&app).await;
    let commented = client.commented().await;
    assert_eq!(commented.json["data"]["body"], body.as_str());
    assert!(commented.compressed);
    let text_bytes = commented.json.to_string().len();
    assert!(
        commented.wire_bytes * 4 < text_bytes,
        "a {text_bytes}-byte frame took {} bytes on the wire",
        commented.wire_bytes
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
    let mut plain = RawClient::connect(&app, "agent-1", None).await;
    let mut compressing = RawClient::connect(&app, "agent-1", Some(OFFER)).await;
    assert!(!plain.agreed_to_deflate());
    assert!(compressing.agreed_to_deflate());
    plain.subscribe("queue:queue-1").await;
    compressing.subscribe("queue:queue-1").await;
    let body = comment_on_a_new_ticket(&app).await;
    let (plain, compressed) = (plain.commented().await, compressing.commented().await);
    assert_eq!(plain.json, compressed.json);
    assert_eq!(plain.json["data"]["body"], body.as_str());
    assert!(!plain.compressed && compressed.compressed);
}

/// Off by default: an offer is not agreed to, and frames go plain.
#[tokio::test]
async fn the_extension_is_off_by_default() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let mut client = RawClient::connect(&app, "agent-1", Some(OFFER)).await;
    assert!(!client.agreed_to_deflate());
    client.subscribe("queue:queue-1").await;
    let body = comment_on_a_new_ticket(&app).await;
    let commented = client.commented().await;
    assert_eq!(commented.json["data"]["body"], body.as_str());
    assert!(!commented.compressed);
}
