//! What the server bounds by itself, whatever clients send: metric label
//! sets, and how long an HTTP connection may take to send a request head or
//! sit idle. The real binary on its own database, raw TCP where a well-behaved
//! client library would not misbehave.

mod common;

use std::time::Duration;

use common::app::{Backend, TestApp};
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
