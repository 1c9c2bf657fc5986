//! What the server bounds by itself, whatever clients send: metric label
//! sets, and how long an HTTP connection may take to send a request head or
//! sit idle. The real binary on its own database, raw TCP where a well-behaved
//! client library would not misbehave.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use common::app::{Backend, TestApp};
use common::ws::WsClient;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEADLINE: Duration = Duration::from_secs(20);

/// The server's `host:port`.
fn address(app: &TestApp) -> String {
    app.server.base_url.trim_start_matches("http://").to_owned()
}

/// Sends `request` on a new connection and reads until the server closes it.
async fn exchange(address: &str, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).await.expect("connects");
    stream.write_all(request).await.expect("request written");
    let mut answer = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes in time")
        .expect("the answer reads");
    answer
}

/// A server that closes connections without a complete request head
/// after 1 s.
async fn impatient_server() -> TestApp {
    TestApp::start(Backend::Sqlite, &["--http-header-timeout", "1s"]).await
}

/// Reads until the server closes `stream`, and says after how long.
async fn closed_by_server(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        let read = tokio::time::timeout(DEADLINE, stream.read(&mut buffer))
            .await
            .expect("the server closes the connection in time");
        if matches!(read, Ok(0) | Err(_)) {
            return started.elapsed();
        }
    }
}

/// Reads one response to `GET /healthz` (headers and the whole body).
async fn read_response(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .and_then(|length| length.parse::<usize>().ok())
                .expect("a content-length");
            if body.len() >= length {
                return text;
            }
        }
        let read = tokio::time::timeout(DEADLINE, stream.read(&mut buffer))
            .await
            .expect("the response comes in time")
            .expect("the response reads");
        assert_ne!(read, 0, "closed mid-response: {text}");
        answer.extend_from_slice(&buffer[..read]);
    }
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let app = impatient_server().await;
    let mut silent = TcpStream::connect(address(&app)).await.unwrap();
    let after = closed_by_server(&mut silent).await;
    assert!(after < Duration::from_secs(5), "closed after {after:?}");
}

#[tokio::test]
async fn a_request_head_dripped_slowly_is_closed() {
    let app = impatient_server().await;
    let mut dripping = TcpStream::connect(address(&app)).await.unwrap();
    dripping
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    // One header every 200 ms: each arrives well within the timeout, the
    // head as a whole never does.
    for n in 0.. {
        assert!(started.elapsed() < DEADLINE, "still open after {n} headers");
        tokio::select! {
            read = dripping.read(&mut buffer) => {
                assert!(matches!(read, Ok(0) | Err(_)), "answered a head never finished");
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                let header = format!("x-drip-{n}: {n}\r\n");
                if dripping.write_all(header.as_bytes()).await.is_err() {
                    break;
                }
            }
        }
    }
    let after = started.elapsed();
    assert!(after < Duration::from_secs(5), "closed after {after:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = impatient_server().await;
    let mut idle = TcpStream::connect(address(&app)).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_response(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let after = closed_by_server(&mut idle).await;
    assert!(after < Duration::from_secs(5), "closed after {after:?}");
}

#[tokio::test]
async fn requests_and_websockets_outlive_the_header_timeout() {
    let app = impatient_server().await;
    let health = app.client.get(app.server.url("/healthz")).send().await;
    assert_eq!(health.unwrap().status(), 200);
    let (mut client, ready) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    assert_eq!(ready["user"], "agent-1");
    // Past the header timeout: an upgraded connection is no longer HTTP's.
    assert!(
        client
            .next_within(Duration::from_millis(1500))
            .await
            .is_none(),
        "the WebSocket stays open and quiet"
    );
    client.send(json!({ "type": "ping" })).await;
    client.next_of("pong").await;
}

#[tokio::test]
async fn running_out_of_file_descriptors_does_not_wedge_the_server() {
    let workdir = tempfile::tempdir().unwrap();
    let server =
        Server::start_with_open_files(workdir.path(), &[], &["--http-header-timeout", "1s"], 128);
    let address = server.base_url.trim_start_matches("http://").to_owned();
    // More silent sockets than the server may hold open files.
    let mut silent = Vec::new();
    for _ in 0..130 {
        silent.push(TcpStream::connect(&address).await.unwrap());
    }
    let health = reqwest::Client::new()
        .get(server.url("/healthz"))
        .timeout(DEADLINE)
        .send()
        .await
        .expect("/healthz answers once the silent sockets are closed");
    assert_eq!(health.status(), 200);
    assert!(
        server.logged("accept failed"),
        "the server did run out of file descriptors"
    );
    drop(silent);
}

async fn metrics_page(app: &TestApp) -> String {
    app.client
        .get(app.server.url("/metrics"))
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("a text body")
}

#[tokio::test]
async fn invented_method_names_never_become_metric_labels() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let address = address(&app);
    let before = metrics_page(&app).await.len();

    let padding = "X".repeat(2000);
    for n in 0..200 {
        let request = format!(
            "JUNK{n:04}{padding} /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        );
        let answer = exchange(&address, request.as_bytes()).await;
        assert!(answer.starts_with(b"HTTP/1.1 "), "request {n} was answered");
    }

    let page = metrics_page(&app).await;
    assert!(!page.contains("JUNK"), "an invented method became a label");
    assert!(
        page.contains(r#"method="other""#),
        "invented methods count as `other`"
    );
    // One more label set (`other`, the route, the status), not 200 of 2 KB names.
    assert!(
        page.len() < before + 16 * 1024,
        "/metrics grew from {before} to {} bytes",
        page.len()
    );
}

/// A body over the limit is refused with 413 before it is read to its end,
/// and that connection closes; a client reusing connections (as reqwest
/// does) must get 413 every time, not a connection closed under its next
/// request.
#[tokio::test]
async fn a_body_over_the_limit_is_answered_413_every_time() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let huge = "x".repeat(3 << 20);
    for attempt in 0..10 {
        let body = json!({ "id": "initech", "name": huge });
        let response = app
            .request(reqwest::Method::POST, "/api/companies", Some("admin-1"))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|error| panic!("attempt {attempt}: {error:?}"));
        assert_eq!(response.status(), 413, "attempt {attempt}");
    }
}
