//! The real socket.io-client from npm (tests/socketio/client.mjs, installed
//! with `npm ci --prefix tests/socketio`), driven line by line: for the
//! Socket.IO suites (`tests/socketio.rs`, `tests/presence.rs`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bomizzel_store::testing::suites::{self, Suite};
use serde_json::{Value, json};

pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/socketio")
}

pub const SUITE: Suite = Suite {
    name: "Socket.IO",
    require_variable: "BOMIZZEL_REQUIRE_SOCKETIO",
};

/// Whether the pinned socket.io-client is installed, after installing it
/// from its lockfile where node and npm are present. Without it the test
/// says it was skipped, unless `BOMIZZEL_REQUIRE_SOCKETIO=1` (set by CI)
/// makes that a failure.
pub fn client_installed(test: &str) -> bool {
    let installed = suites::npm_client(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        "tests/socketio",
        "socket.io-client",
    );
    if let Err(why) = &installed {
        suites::skip(&SUITE, test, why);
    }
    installed.is_ok()
}

/// One `node client.mjs` process: its JSON lines, and its stdin to send
/// events with acks (closing stdin disconnects).
pub struct SioClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Value>,
}

impl SioClient {
    pub fn start(
        base_url: &str,
        token: Option<&str>,
        offset: Option<i64>,
        transports: &str,
    ) -> Self {
        let offset = offset.map_or("-".to_owned(), |o| o.to_string());
        Self::spawn(base_url, token.unwrap_or("-"), &offset, transports)
    }

    /// Connects over WebSocket with `auth: {token, offsets}`: each room
    /// resumes from its own offset.
    pub fn resume(base_url: &str, token: &str, offsets: &BTreeMap<String, i64>) -> Self {
        let offsets = serde_json::to_string(offsets).expect("offsets serialise");
        Self::spawn(base_url, token, &offsets, "websocket")
    }

    fn spawn(base_url: &str, token: &str, offset: &str, transports: &str) -> Self {
        let dir = client_dir();
        let mut child = Command::new("node")
            .arg(dir.join("client.mjs"))
            .args([base_url, token, offset, transports])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs (Node.js 20 is needed for the Socket.IO tests)");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| panic!("client printed a non-JSON line: {line}"));
                if send.send(value).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
        }
    }

    pub fn connect(base_url: &str, token: &str, offset: Option<i64>) -> Self {
        Self::start(base_url, Some(token), offset, "websocket")
    }

    pub fn next(&self) -> Value {
        self.lines
            .recv_timeout(DEADLINE)
            .expect("the client prints a line in time")
    }

    /// The next line within `wait`, or `None` on silence or once the
    /// client has exited.
    pub fn next_within(&self, wait: Duration) -> Option<Value> {
        self.lines.recv_timeout(wait).ok()
    }

    /// Whether the client process has exited (after `connect_error`, or
    /// when its socket ended).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().expect("wait works").is_some()
    }

    /// Lines until one that `stop` accepts; returns those before it and it.
    pub fn until(&self, stop: impl Fn(&Value) -> bool) -> (Vec<Value>, Value) {
        let mut before = Vec::new();
        let deadline = Instant::now() + DEADLINE;
        loop {
            assert!(Instant::now() < deadline, "gave up after {before:?}");
            let line = self.next();
            if stop(&line) {
                return (before, line);
            }
            before.push(line);
        }
    }

    /// Change events before `ready` (the replay), and `ready`.
    pub fn ready(&self) -> (Vec<Value>, Value) {
        let (before, ready) = self.until(|l| l["type"] == "event" && l["event"] == "ready");
        (changes(&before), ready["arg"].clone())
    }

    /// The next `n` change events.
    pub fn changes(&self, n: usize) -> Vec<Value> {
        let mut got = Vec::new();
        while got.len() < n {
            let line = self.next();
            got.extend(changes(&[line]));
        }
        got
    }

    /// Emits `event` with an ack and returns the ack.
    pub fn emit(&mut self, event: &str, arg: Value) -> Value {
        self.send(event, arg);
        let (_, ack) = self.until(|l| l["type"] == "ack");
        ack["ack"].clone()
    }

    /// Emits `event` with an ack, without waiting for it.
    pub fn send(&mut self, event: &str, arg: Value) {
        let stdin = self.stdin.as_mut().expect("still connected");
        writeln!(stdin, "{}", json!({ "emit": event, "arg": arg })).expect("stdin writes");
    }

    /// Disconnects and waits for the process.
    pub fn disconnect(mut self) {
        self.stdin.take();
        let deadline = Instant::now() + DEADLINE;
        while self.child.try_wait().expect("wait works").is_none() {
            assert!(Instant::now() < deadline, "the client does not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SioClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The feed changes among client lines: events with an `offset` field.
pub fn changes(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l["type"] == "event" && l["arg"]["offset"].is_i64())
        .map(|l| json!({ "event": l["event"], "offset": l["arg"]["offset"], "rooms": l["arg"]["rooms"], "data": l["arg"]["data"] }))
        .collect()
}

/// Runs blocking client I/O off the async test's thread.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("no panic")
}
