//! The floor: what fan-out costs on this machine with nothing but
//! WebSockets. `fanout --floor` runs, after each `/ws` run, the same load
//! (the same clients, connections, rate and frames) against this bare
//! tokio-tungstenite broadcaster instead of the project: no
//! authentication, rooms, log or projections; each change is written to
//! every connection, several queued changes in one flush, as the project
//! does. The server CPU per frame of the two, measured the same way,
//! gives the project's overhead over the floor as a ratio.
//!
//! The broadcaster is this executable's hidden `floor-server` subcommand,
//! a process of its own so that its CPU and memory are read from `/proc`
//! as the project's are. It speaks just enough of `/ws` for the clients:
//! `ready` on connect, `subscribed` for every `subscribe`. The benchmark
//! writes each change frame, already made, as one line on its stdin.

use std::io::Write;
use std::process::ChildStdin;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Changes a slow connection may fall behind before it misses some (the
/// project's `--ws-send-queue` in the benchmark).
const BACKLOG: usize = super::server::SEND_QUEUE as usize;

/// A change frame as the project sends it, for a floor run with no
/// project run before it to copy one from.
const SAMPLE_FRAME: &str = r#"{"type":"event","offset":1,"position":1,"event":"ticket:priority_changed","rooms":["queue:fanout-queue","team:fanout-team","company:fanout-company"],"data":{"ticket_id":"t","version":2,"priority":"high","previous":"medium","at":"2026-01-01T00:00:00.000000Z","by":"fanout-admin"}}"#;

/// Serves until stdin closes (the benchmark ended or died).
pub async fn serve() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    let (changes, _) = broadcast::channel(BACKLOG);
    let publisher = changes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(connection(tcp, publisher.subscribe()));
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        // No receivers yet is not an error: nobody to send to.
        let _ = changes.send(Message::text(line));
    }
    Ok(())
}

/// One connection: the same buffer sizes as the project's `/ws`.
async fn connection(tcp: TcpStream, mut changes: broadcast::Receiver<Message>) {
    let config = WebSocketConfig::default()
        .read_buffer_size(512)
        .write_buffer_size(4096);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let ready = json!({ "type": "ready", "user": "floor", "offset": 0 }).to_string();
    if sink.send(Message::text(ready)).await.is_err() {
        return;
    }
    loop {
        let sent = tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => match subscribed(&text) {
                    Some(answer) => sink.send(Message::text(answer)).await,
                    None => Ok(()),
                },
                Some(Ok(_)) => Ok(()),
                _ => return,
            },
            change = changes.recv() => match change {
                Ok(frame) => {
                    let mut fed = sink.feed(frame).await;
                    while let (Ok(()), Ok(frame)) = (&fed, changes.try_recv()) {
                        fed = sink.feed(frame).await;
                    }
                    match fed {
                        Ok(()) => sink.flush().await,
                        failed => failed,
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => Ok(()),
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if sent.is_err() {
            return;
        }
    }
}

/// The answer to a `subscribe` frame.
fn subscribed(text: &str) -> Option<String> {
    let frame: Value = serde_json::from_str(text).ok()?;
    (frame["type"] == "subscribe").then(|| {
        json!({ "type": "subscribed", "room": frame["room"], "recovered": false, "reason": "no_offset" })
            .to_string()
    })
}

/// The benchmark's side: makes each change's frame from a template and
/// hands it to the broadcaster.
#[derive(Debug, Clone)]
pub struct Control {
    stdin: Arc<Mutex<ChildStdin>>,
    template: Arc<Value>,
}

impl Control {
    /// `template`: a change frame the project sent in this run, so that
    /// the floor's frames have its size; a sample otherwise.
    pub fn new(stdin: ChildStdin, template: Option<&str>) -> Result<Self> {
        let template = serde_json::from_str(template.unwrap_or(SAMPLE_FRAME))
            .context("a change frame to copy")?;
        Ok(Self {
            stdin: Arc::new(Mutex::new(stdin)),
            template: Arc::new(template),
        })
    }

    /// Sends the change that takes `ticket` to `version` (command `i`).
    pub fn publish(&self, i: usize, ticket: &str, version: u64) -> Result<()> {
        let mut frame = Value::clone(&self.template);
        frame["offset"] = json!(i + 1);
        frame["position"] = json!(i + 1);
        frame["data"]["ticket_id"] = json!(ticket);
        frame["data"]["version"] = json!(version);
        let mut line = frame.to_string();
        line.push('\n');
        let mut stdin = self.stdin.lock().unwrap_or_else(|p| p.into_inner());
        stdin
            .write_all(line.as_bytes())
            .context("the floor server is gone")
    }
}
