//! Faults injected under load, each scenario ending with the same checks
//! (`common::checks`): every command acknowledged is in the log exactly
//! once (clients retry with their `Idempotency-Key` until it is), the read
//! models equal a rebuild from the log, every client that kept its offsets
//! has per room exactly the feed's changes after its first offset, and the
//! server is ready again without a hand on it.
//!
//! The database goes away through a proxy (`common::fault_proxy`) between
//! this test's server and PostgreSQL, never for the machine's PostgreSQL.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bomizzel_projections::feed;
use bomizzel_store::EventStore;
use bomizzel_store::testing::suites::{self, Skip, Suite};
use common::app::{Backend, TestApp};
use common::checks::{self, Seen};
use common::fault_proxy::{Fault, FaultProxy};
use common::sio::{self, SioClient};
use common::ws::WsClient;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// How long an outage lasts in the scenario.
const OUTAGE: Duration = Duration::from_secs(10);
/// What the server promises: answered within this while the database is away.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);
/// What the server promises: ready again within this after it returns.
const READY_WITHIN: Duration = Duration::from_secs(5);

/// How long clients may take to follow their rooms on a loaded machine.
const FOLLOWING_WITHIN: Duration = Duration::from_secs(60);

/// What the command workers saw.
#[derive(Debug, Default)]
struct Answers {
    /// Idempotency keys of commands answered 2xx (after retries).
    acknowledged: Vec<String>,
    /// Failed attempts by status, retried with the same key.
    failed: BTreeMap<u16, usize>,
    /// The longest wait for a failed attempt's answer.
    slowest_failure: Duration,
}

/// The server nodes of a scenario (one, or several on one database).
type Nodes = Arc<Vec<TestApp>>;

/// One command worker: creates tickets and comments on them, each with an
/// idempotency key, retrying a failed attempt with the same key after the
/// `Retry-After` it was given, or on the next node when its node is gone,
/// until `stop`.
async fn commands(
    nodes: Nodes,
    mut node: usize,
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Answers>>,
) {
    let mut ticket: Option<String> = None;
    let mut step = 0;
    while !stop.load(Ordering::SeqCst) {
        let key = Uuid::new_v4().to_string();
        // Each ticket: opened, commented on three times, resolved.
        let (path, body) = match (&ticket, step % 5) {
            (Some(id), 1..=3) => (
                format!("/api/tickets/{id}/comments"),
                json!({ "body": "Still broken", "internal": step % 2 == 0 }),
            ),
            (Some(id), 4) => (
                format!("/api/tickets/{id}/status"),
                json!({ "status": "resolved" }),
            ),
            _ => (
                "/api/tickets".to_owned(),
                json!({ "title": "Printer on fire", "description": "Smoke",
                        "queue_id": "queue-1", "company_id": "acme", "tags": ["printer"] }),
            ),
        };
        step += 1;
        loop {
            let sent = Instant::now();
            let attempt = nodes[node]
                .request(Method::POST, &path, Some("admin-1"))
                .header("Idempotency-Key", &key)
                .json(&body)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            let waited = sent.elapsed();
            let retry_in = match attempt {
                Ok(response) if response.status().is_success() => {
                    let answer: Value = response.json().await.unwrap();
                    if path == "/api/tickets" {
                        ticket = answer["id"].as_str().map(str::to_owned);
                    }
                    answers.lock().unwrap().acknowledged.push(key);
                    break;
                }
                Ok(response) => {
                    let status = response.status();
                    assert!(
                        status == StatusCode::SERVICE_UNAVAILABLE
                            || status == StatusCode::INSUFFICIENT_STORAGE,
                        "{path}: {status} {}",
                        response.text().await.unwrap_or_default()
                    );
                    let retry_after = response.headers()["retry-after"]
                        .to_str()
                        .unwrap()
                        .parse::<u64>()
                        .unwrap();
                    let mut answers = answers.lock().unwrap();
                    *answers.failed.entry(status.as_u16()).or_default() += 1;
                    answers.slowest_failure = answers.slowest_failure.max(waited);
                    Duration::from_secs(retry_after).min(Duration::from_millis(300))
                }
                // No answer (counted as status 0): the node may be gone;
                // the key settles it.
                Err(_) => {
                    *answers.lock().unwrap().failed.entry(0).or_default() += 1;
                    node = (node + 1) % nodes.len();
                    Duration::from_millis(100)
                }
            };
            tokio::time::sleep(retry_in).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the followers of a scenario share.
#[derive(Debug, Default)]
struct Following {
    /// `/ws` sessions that subscribed every room of theirs.
    sessions: AtomicUsize,
    /// Socket.IO sessions that got `ready` with every default room joined.
    socketio_sessions: AtomicUsize,
    /// Set by the test: stalled followers read again.
    released: tokio::sync::watch::Sender<bool>,
}

/// A client that keeps its offsets: follows `rooms`, and whenever its
/// connection ends connects again (to the next node when its node is gone)
/// and resumes from them, until `stop`. A `stalled` one stops reading
/// after its first subscribe until the test releases it, with a small
/// receive buffer so that the server notices. Returns what it saw and how
/// often its connection ended before `stop`.
async fn follower(
    nodes: Nodes,
    mut node: usize,
    (user, rooms): (&'static str, Vec<String>),
    stalled: bool,
    following: Arc<Following>,
    stop: Arc<AtomicBool>,
) -> (Seen, usize) {
    let mut seen = Seen::default();
    let mut ended = 0;
    let receive_buffer = stalled.then_some(4096);
    'sessions: while !stop.load(Ordering::SeqCst) {
        let app = &nodes[node];
        let Ok((mut ws, ready)) =
            WsClient::try_connect_reading(&app.server.base_url, &app.token(user), receive_buffer)
                .await
        else {
            node = (node + 1) % nodes.len();
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        for room in &rooms {
            seen.follow(room, ready["offset"].as_i64().unwrap());
        }
        for room in &rooms {
            match ws.try_subscribe(room, Some(seen.since(room)), None).await {
                Ok((replayed, _)) => replayed.iter().for_each(|event| seen.record(event)),
                Err(error) => {
                    // The database is away: resume again shortly.
                    if let Some(error) = error {
                        assert_eq!(error["code"], "database_unavailable", "{error}");
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    continue 'sessions;
                }
            }
        }
        following.sessions.fetch_add(1, Ordering::SeqCst);
        if stalled {
            let mut released = following.released.subscribe();
            let _ = released.wait_for(|released| *released).await;
        }
        while !stop.load(Ordering::SeqCst) {
            match ws.next_within(Duration::from_millis(100)).await {
                Some(Ok(frame)) if frame["type"] == "event" && !frame["offset"].is_null() => {
                    seen.record(&frame)
                }
                Some(Ok(_)) | None => {}
                Some(Err(_)) => {
                    ended += 1;
                    continue 'sessions;
                }
            }
        }
    }
    (seen, ended)
}

/// `/readyz`'s answer, which must come within [`ANSWER_WITHIN`].
async fn readiness(app: &TestApp) -> reqwest::Response {
    let asked = Instant::now();
    let response = app
        .request(Method::GET, "/readyz", None)
        .send()
        .await
        .unwrap();
    assert!(
        asked.elapsed() <= ANSWER_WITHIN,
        "/readyz took {:?}",
        asked.elapsed()
    );
    response
}

/// A stock socket.io-client following `user`'s default `rooms` (joined
/// on connect, each from its own offset in the handshake).
struct SioFollow {
    user: &'static str,
    rooms: Vec<String>,
    /// The stalled one's network: after its first `ready` it stops
    /// reading (its bytes held, with a small buffer towards the server)
    /// until the test releases it.
    stall: Option<FaultProxy>,
    /// Where the stalled one waits for its release.
    runtime: tokio::runtime::Handle,
}

/// What a Socket.IO follower saw.
#[derive(Debug)]
struct SioOutcome {
    user: &'static str,
    seen: Seen,
    /// Sessions that got `ready` with every room joined.
    sessions: usize,
    /// Sessions the server or the network ended before the stop.
    ended: usize,
    /// `closing` codes the server sent before ending a session.
    closing: Vec<i64>,
}

/// How one session of a Socket.IO follower ended.
enum SioEnd {
    Stopped,
    /// The server ended it, or its connection went.
    Ended,
    /// No connection (`connect_error`): the node may be gone.
    Refused,
    /// A default room could not be joined (the database is away): connect again.
    Retry,
}

/// Follows `follow.rooms` over Socket.IO from offset 0 (their history is
/// replayed before `ready`) and whenever its socket ends connects again
/// (to the next node when its node refuses) with each room's newest
/// offset, until `stop`.
fn socketio_follower(
    nodes: Nodes,
    mut node: usize,
    follow: SioFollow,
    following: Arc<Following>,
    stop: Arc<AtomicBool>,
) -> SioOutcome {
    let mut outcome = SioOutcome {
        user: follow.user,
        seen: Seen::default(),
        sessions: 0,
        ended: 0,
        closing: Vec::new(),
    };
    for room in &follow.rooms {
        outcome.seen.follow(room, 0);
    }
    while !stop.load(Ordering::SeqCst) {
        let base = match &follow.stall {
            Some(proxy) => format!("http://{}", proxy.address),
            None => nodes[node].server.base_url.clone(),
        };
        let offsets = follow
            .rooms
            .iter()
            .map(|room| (room.clone(), outcome.seen.since(room)))
            .collect();
        let token = nodes[node].token(follow.user);
        let mut socket = SioClient::resume(&base, &token, &offsets);
        let session = socketio_session(&mut socket, &follow, &mut outcome, &following, &stop);
        // A client's pause before connecting again: longer after a refusal.
        let pause = match session {
            SioEnd::Stopped => break,
            SioEnd::Ended => {
                outcome.ended += 1;
                100
            }
            SioEnd::Refused => {
                node = (node + 1) % nodes.len();
                300
            }
            SioEnd::Retry => 300,
        };
        std::thread::sleep(Duration::from_millis(pause));
    }
    outcome
}

/// Reads one Socket.IO session: its replay, `ready`, live changes, and how
/// it ends. A stalled follower stalls after its first `ready`.
fn socketio_session(
    socket: &mut SioClient,
    follow: &SioFollow,
    outcome: &mut SioOutcome,
    following: &Following,
    stop: &AtomicBool,
) -> SioEnd {
    while !stop.load(Ordering::SeqCst) {
        let Some(line) = socket.next_within(Duration::from_millis(100)) else {
            if socket.exited() {
                return SioEnd::Refused;
            }
            continue;
        };
        match (line["type"].as_str(), line["event"].as_str()) {
            (Some("connect_error"), _) => return SioEnd::Refused,
            (Some("disconnect"), _) => return SioEnd::Ended,
            (_, Some("closing")) => outcome.closing.push(line["arg"]["code"].as_i64().unwrap()),
            (_, Some("ready")) => {
                let joined = &line["arg"]["rooms"];
                for room in &follow.rooms {
                    let answer = &joined[room.as_str()];
                    if answer["ok"] == false {
                        assert_eq!(answer["reason"], "database_unavailable", "{line}");
                        return SioEnd::Retry;
                    }
                    assert_eq!(answer["recovered"], true, "{room} resumed: {line}");
                }
                outcome.sessions += 1;
                following.socketio_sessions.fetch_add(1, Ordering::SeqCst);
                if let Some(proxy) = follow.stall.as_ref().filter(|_| outcome.sessions == 1) {
                    proxy.set(Fault::Blackhole);
                    let mut released = following.released.subscribe();
                    let _ = follow
                        .runtime
                        .block_on(released.wait_for(|released| *released));
                    proxy.set(Fault::None);
                }
            }
            _ => sio::changes(std::slice::from_ref(&line))
                .iter()
                .for_each(|change| outcome.seen.record(change)),
        }
    }
    SioEnd::Stopped
}

/// Polls `/readyz` until it answers 200; how long that took.
async fn until_ready(app: &TestApp) -> Duration {
    let started = Instant::now();
    loop {
        let response = readiness(app).await;
        if response.status() == StatusCode::OK {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < READY_WITHIN,
            "not ready again in {READY_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// While the database is away (the fault has lasted a second, so the
/// server knows): a command is answered 503 with `Retry-After`, `/readyz`
/// 503 with its reason, both within [`ANSWER_WITHIN`]; a new `/ws`
/// connection is ready and its subscribe is answered with a retryable
/// error; so is a new Socket.IO connection (when `socketio`), within
/// [`ANSWER_WITHIN`]: how long the slower Socket.IO answer took.
async fn assert_answers_during_outage(app: &TestApp, socketio: bool) -> Option<Duration> {
    let asked = Instant::now();
    let (status, problem) = open_probe_ticket(app, "Down?").await;
    assert!(
        asked.elapsed() <= ANSWER_WITHIN,
        "a command took {:?}",
        asked.elapsed()
    );
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["code"], "database_unavailable");

    let response = readiness(app).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["reason"].as_str().unwrap().contains("database"),
        "{body}"
    );

    let (mut ws, ready) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    let refused = ws.try_subscribe("team:team-1", Some(0), None).await;
    let error = refused.expect_err("no subscribe while the database is away");
    assert_eq!(error.unwrap()["code"], "database_unavailable");
    ws.close().await;

    if !socketio {
        return None;
    }
    Some(assert_socketio_answers_during_outage(app).await)
}

/// While the database is away, new Socket.IO connections are answered
/// within [`ANSWER_WITHIN`]: a customer's is ready, each default room
/// refused with the retryable `database_unavailable`; an agent's, whose
/// default rooms include queues only the database knows, is refused with
/// that error. Returns how long the slower answer took.
async fn assert_socketio_answers_during_outage(app: &TestApp) -> Duration {
    let mut slowest = Duration::ZERO;
    for user in ["cust-acme", "agent-1"] {
        let (base, token) = (app.server.base_url.clone(), app.token(user));
        let answer = sio::blocking(move || {
            let socket = SioClient::connect(&base, &token, Some(0));
            let (_, answer) =
                socket.until(|line| line["event"] == "ready" || line["type"] == "connect_error");
            answer
        })
        .await;
        // Timed by the client from opening the socket.
        let waited = Duration::from_millis(answer["ms"].as_u64().unwrap());
        assert!(waited <= ANSWER_WITHIN, "{user}: answered in {waited:?}");
        slowest = slowest.max(waited);
        if user == "agent-1" {
            assert_eq!(answer["type"], "connect_error", "{answer}");
            let message = answer["message"].as_str().unwrap();
            assert!(message.starts_with("database_unavailable"), "{answer}");
            continue;
        }
        for room in socketio_rooms(user) {
            let joined = &answer["arg"]["rooms"][&room];
            assert_eq!(joined["reason"], "database_unavailable", "{room}: {answer}");
        }
    }
    slowest
}

/// What the server logs when the database goes and when it is back.
const OUTAGE_LINES: [&str; 2] = [
    "the database is unreachable",
    "the database is reachable again",
];

/// Waits until the server has logged `count` lines containing `text` (its
/// log is read by another thread, a moment behind).
async fn until_logged(app: &TestApp, text: &str, count: usize) {
    let started = Instant::now();
    while app.server.logged_count(text) < count {
        assert!(
            started.elapsed() < READY_WITHIN,
            "{text:?} logged {} times, not {count}",
            app.server.logged_count(text)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Terminates every backend of `database` but its own, every 500 ms, for
/// `period`: PostgreSQL restarting its connections under the server.
async fn terminate_backends(admin_url: &str, database: &str, period: Duration) -> usize {
    let admin = sqlx::PgPool::connect(admin_url).await.unwrap();
    let until = Instant::now() + period;
    let mut terminated = 0;
    while Instant::now() < until {
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(database)
        .fetch_all(&admin)
        .await
        .unwrap();
        terminated += killed.len();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    admin.close().await;
    terminated
}

fn upstream_of(url: &str) -> SocketAddr {
    let host = url.split('@').nth(1).unwrap().split('/').next().unwrap();
    host.parse().expect("the test database URL names IP:port")
}

/// Commands and following clients running against the nodes until stopped.
struct Load {
    nodes: Nodes,
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Answers>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    following: Arc<Following>,
    followers: Vec<(&'static str, tokio::task::JoinHandle<(Seen, usize)>)>,
    socketio: Vec<tokio::task::JoinHandle<SioOutcome>>,
    _halt: Halt,
}

/// Stops the followers however the test ends, a failed assertion too: the
/// runtime waits for blocking Socket.IO followers before it shuts down.
struct Halt {
    stop: Arc<AtomicBool>,
    following: Arc<Following>,
}

impl Drop for Halt {
    fn drop(&mut self) {
        self.following.released.send_replace(true);
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Who follows rooms in a scenario.
#[derive(Debug, Clone, Copy)]
struct Followers {
    /// `/ws` clients of an agent, a customer and an admin in turn.
    ws: usize,
    /// How many of the first of them stop reading until released.
    ws_stalled: usize,
    /// Whether one more stock socket.io-client of the agent stops reading
    /// until released, besides the agent's and the customer's that read.
    socketio_stalled: bool,
}

impl Followers {
    /// Nine `/ws` clients and the two Socket.IO readers.
    const STEADY: Self = Self {
        ws: 9,
        ws_stalled: 0,
        socketio_stalled: false,
    };
}

/// What the load saw, once its checks passed.
struct Outcome {
    answers: Answers,
    /// Per `/ws` follower, in start order: connections that ended before the stop.
    ended: Vec<usize>,
    /// The Socket.IO followers, readers first.
    socketio: Vec<SioOutcome>,
}

/// The default rooms of the users whose stock socket.io-clients follow.
fn socketio_rooms(user: &str) -> Vec<String> {
    let rooms: &[&str] = match user {
        "agent-1" => &["user:agent-1", "team:team-1", "queue:queue-1"],
        "cust-acme" => &["user:cust-acme", "company:acme"],
        other => panic!("no default rooms written down for {other}"),
    };
    rooms.iter().map(|room| room.to_string()).collect()
}

impl Load {
    /// Four command workers, nine `/ws` clients following rooms of an
    /// agent, a customer and an admin, and stock socket.io-clients of the
    /// agent and the customer following their default rooms, all spread
    /// over the nodes. `test` names the test if Socket.IO must be skipped.
    async fn start(test: &str, nodes: &Nodes) -> Self {
        Self::with_followers(test, nodes, Followers::STEADY).await
    }

    /// Like [`Load::start`] with these followers.
    async fn with_followers(test: &str, nodes: &Nodes, who: Followers) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Answers::default()));
        let workers = (0..4)
            .map(|n| {
                let node = n % nodes.len();
                tokio::spawn(commands(nodes.clone(), node, stop.clone(), answers.clone()))
            })
            .collect();
        let followed = [
            (
                "agent-1",
                vec!["team:team-1".to_owned(), "queue:queue-1".to_owned()],
            ),
            ("cust-acme", vec!["company:acme".to_owned()]),
            ("admin-1", vec!["queue:queue-1".to_owned()]),
        ];
        let following = Arc::new(Following::default());
        let followers = followed
            .iter()
            .cycle()
            .take(who.ws)
            .enumerate()
            .map(|(n, (user, rooms))| {
                let handle = tokio::spawn(follower(
                    nodes.clone(),
                    n % nodes.len(),
                    (*user, rooms.clone()),
                    n < who.ws_stalled,
                    following.clone(),
                    stop.clone(),
                ));
                (*user, handle)
            })
            .collect();
        let halt = Halt {
            stop: stop.clone(),
            following: following.clone(),
        };
        let mut load = Self {
            nodes: nodes.clone(),
            stop,
            answers,
            workers,
            following,
            followers,
            socketio: Vec::new(),
            _halt: halt,
        };
        if sio::client_installed(test) {
            for (n, user) in ["agent-1", "cust-acme"].into_iter().enumerate() {
                load.follow_socketio(n % nodes.len(), user, None);
            }
            if who.socketio_stalled {
                let server = nodes[0].server.base_url.trim_start_matches("http://");
                let server = server.parse().expect("the server's address");
                let proxy = FaultProxy::start_reading(server, 4096).await;
                load.follow_socketio(0, "agent-1", Some(proxy));
            }
        }
        load
    }

    /// Starts a stock socket.io-client of `user` on `node`'s side.
    fn follow_socketio(&mut self, node: usize, user: &'static str, stall: Option<FaultProxy>) {
        let follow = SioFollow {
            user,
            rooms: socketio_rooms(user),
            stall,
            runtime: tokio::runtime::Handle::current(),
        };
        let (nodes, following, stop) = (
            self.nodes.clone(),
            self.following.clone(),
            self.stop.clone(),
        );
        self.socketio.push(tokio::task::spawn_blocking(move || {
            socketio_follower(nodes, node, follow, following, stop)
        }));
    }

    /// Waits until `sessions` (one of [`Following`]'s counts) reaches
    /// `count`; how long that took.
    async fn until(&self, sessions: &AtomicUsize, count: usize, within: Duration) -> Duration {
        let started = Instant::now();
        while sessions.load(Ordering::SeqCst) < count {
            assert!(
                started.elapsed() < within,
                "{} of {count} sessions in {within:?}",
                sessions.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        started.elapsed()
    }

    /// Waits until every Socket.IO follower is following, and the load
    /// has run a moment.
    async fn until_following(&self) {
        self.until_socketio_sessions(self.socketio.len(), FOLLOWING_WITHIN)
            .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    /// Waits until `/ws` followers have subscribed `count` sessions in all.
    async fn until_sessions(&self, count: usize, within: Duration) -> Duration {
        self.until(&self.following.sessions, count, within).await
    }

    /// Waits until Socket.IO followers have had `count` sessions in all.
    async fn until_socketio_sessions(&self, count: usize, within: Duration) -> Duration {
        self.until(&self.following.socketio_sessions, count, within)
            .await
    }

    fn failed(&self, status: u16) -> usize {
        self.answers
            .lock()
            .unwrap()
            .failed
            .get(&status)
            .copied()
            .unwrap_or(0)
    }

    /// Stops the load and runs the end-of-scenario checks against the
    /// database at `url` (the server's own, not through a fault): every
    /// acknowledged command once in the log, every follower of either
    /// protocol exactly once per room, and, with the server stopped, the
    /// read models equal to a rebuild. Returns what the load saw.
    async fn stop_and_check(self, url: &str) -> Outcome {
        self.following.released.send_replace(true);
        self.stop.store(true, Ordering::SeqCst);
        for worker in self.workers {
            worker.await.unwrap();
        }
        let answers = std::mem::take(&mut *self.answers.lock().unwrap());
        // Few when hundreds of clients share two cores with the suite.
        assert!(
            answers.acknowledged.len() > 20,
            "commands flowed: {}",
            answers.acknowledged.len()
        );
        let store = EventStore::connect(url).await.unwrap();
        checks::assert_each_key_once(&store, &answers.acknowledged).await;
        checks::caught_up(&store, feed::NAME).await;
        let mut followers = Vec::new();
        let mut ended = Vec::new();
        for (user, handle) in self.followers {
            let (seen, ends) = handle.await.unwrap();
            followers.push((user, seen));
            ended.push(ends);
        }
        let mut socketio = Vec::new();
        for handle in self.socketio {
            socketio.push(handle.await.unwrap());
        }
        let mut nodes = Arc::into_inner(self.nodes).expect("no task holds the nodes");
        nodes.retain_mut(|node| !node.server.exited());
        let mut changes = 0;
        for (user, mut seen) in followers {
            changes += checks::assert_exactly_once(&nodes[0], &store, user, &mut seen).await;
        }
        for follower in &mut socketio {
            let (user, seen) = (follower.user, &mut follower.seen);
            changes += checks::assert_exactly_once(&nodes[0], &store, user, seen).await;
        }
        assert!(changes > 100, "changes checked: {changes}");
        // Stopped, not dropped: a node owns the SQLite file being checked.
        for node in &nodes {
            assert!(node.server.stop().success());
        }
        let workdir = tempfile::tempdir().unwrap();
        checks::assert_read_models_equal_rebuild(&store, url, workdir.path()).await;
        Outcome {
            answers,
            ended,
            socketio,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_away_and_back_under_load_loses_nothing() {
    let test = "postgres_away_and_back_under_load_loses_nothing";
    let Some(url) = bomizzel_store::testing::fresh_postgres_database(test).await else {
        return;
    };
    let upstream = upstream_of(&url);
    let proxy = FaultProxy::start(upstream).await;
    let nodes: Nodes = Arc::new(vec![
        TestApp::start(Backend::Postgres(proxy.proxied_url(&url, upstream)), &[]).await,
    ]);
    let app = &nodes[0];
    let load = Load::start(test, &nodes).await;
    load.until_following().await;

    // Connections terminated under the server, again and again.
    let admin_url = url.rsplit_once('/').unwrap().0.to_owned() + "/postgres";
    let database = url.rsplit_once('/').unwrap().1.to_owned();
    let terminated = terminate_backends(&admin_url, &database, Duration::from_secs(5)).await;
    assert!(terminated > 5, "backends terminated: {terminated}");
    let failed_by_terminations = load.failed(503);

    // Unreachable two ways: packets swallowed, then connections refused.
    let (mut recoveries, mut socketio_answers) = (Vec::new(), Vec::new());
    for fault in [Fault::Blackhole, Fault::Refuse] {
        // Said once when it goes and once when it is back (the monitor
        // may also have taken a reconnect slowed by the terminations, on a
        // loaded machine, for an outage: counted per outage).
        let said = OUTAGE_LINES.map(|text| app.server.logged_count(text));
        proxy.set(fault);
        tokio::time::sleep(ANSWER_WITHIN).await;
        socketio_answers.extend(assert_answers_during_outage(app, !load.socketio.is_empty()).await);
        tokio::time::sleep(OUTAGE - ANSWER_WITHIN).await;
        proxy.set(Fault::None);
        recoveries.push((fault, until_ready(app).await));
        for (text, before) in OUTAGE_LINES.into_iter().zip(said) {
            until_logged(app, text, before + 1).await;
            assert_eq!(
                app.server.logged_count(text),
                before + 1,
                "{fault:?}: {text:?}"
            );
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let said = OUTAGE_LINES.map(|text| app.server.logged_count(text));
    drop(nodes);
    let answers = load.stop_and_check(&url).await.answers;
    println!(
        "terminated {terminated} backends ({failed_by_terminations} commands answered 503 meanwhile); \
         acknowledged {}, failed attempts {:?}, slowest failure {:?}, ready again after {recoveries:?}; \
         new Socket.IO connections answered within {socketio_answers:?}; outages logged in all {said:?}",
        answers.acknowledged.len(),
        answers.failed,
        answers.slowest_failure
    );
    assert!(
        answers.failed.get(&503).is_some_and(|n| *n > 0),
        "the outage was met"
    );
    assert!(
        answers.slowest_failure <= ANSWER_WITHIN,
        "a failed command waited {:?}",
        answers.slowest_failure
    );
}

/// A small filesystem of the test's own (a tmpfs), unmounted when dropped;
/// `None` (the test skipped) where the sandbox does not allow mounting.
struct SmallDisk {
    directory: tempfile::TempDir,
}

const MOUNTING: Suite = Suite {
    name: "disk-full",
    require_variable: "BOMIZZEL_REQUIRE_MOUNT",
};

impl SmallDisk {
    fn mount(test: &str, megabytes: u32) -> Option<Self> {
        let directory = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(directory.path())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(Self { directory }),
            failed => {
                let why = match failed {
                    Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                    Err(error) => error.to_string(),
                };
                let skip = Skip::new(
                    format!("cannot mount a small tmpfs: {why}"),
                    "run the tests as root, where `mount -t tmpfs` is allowed",
                );
                suites::skip(&MOUNTING, test, &skip);
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.directory.path()
    }

    /// Writes a file until the disk is full; removing it frees the space.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.directory.path())
            .status();
    }
}

/// Sends commands until one is answered 2xx; how long that took.
/// The body of a ticket an agent opens to ask whether commands are served.
fn probe_ticket(title: &str) -> Value {
    json!({ "title": title, "description": "x", "queue_id": "queue-1", "company_id": "acme" })
}

/// Opens a [`probe_ticket`] as an agent: the answer's status and body.
async fn open_probe_ticket(app: &TestApp, title: &str) -> (u16, Value) {
    app.call(
        Method::POST,
        "/api/tickets",
        "agent-1",
        Some(probe_ticket(title)),
    )
    .await
}

async fn until_a_command_succeeds(app: &TestApp) -> Duration {
    let started = Instant::now();
    let body = probe_ticket("Space?");
    let key = Uuid::new_v4().to_string();
    loop {
        let response = app
            .request(Method::POST, "/api/tickets", Some("agent-1"))
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await
            .unwrap();
        if response.status().is_success() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < READY_WITHIN,
            "no command succeeded in {READY_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_disk_full_under_load_loses_nothing() {
    let test = "sqlite_disk_full_under_load_loses_nothing";
    let Some(disk) = SmallDisk::mount(test, 32) else {
        return;
    };
    let data_dir = disk.path().to_str().unwrap().to_owned();
    let nodes: Nodes = Arc::new(vec![
        TestApp::start(Backend::Sqlite, &["--data-dir", &data_dir]).await,
    ]);
    let app = &nodes[0];
    let load = Load::start(test, &nodes).await;
    load.until_following().await;

    let filler = disk.fill();
    let full_since = Instant::now();
    while load.failed(507) == 0 {
        assert!(
            full_since.elapsed() < Duration::from_secs(30),
            "the full disk was never met"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A write can still fit while the disk is full (SQLite reuses space
    // its files already hold), so a caller is asked until one is refused:
    // the refusal must be the clear one, never another error.
    loop {
        let (status, problem) = open_probe_ticket(app, "Full?").await;
        if status == 507 {
            assert_eq!(problem["code"], "storage_full");
            break;
        }
        assert!(
            (200..300).contains(&status),
            "{status} {problem} {:?}",
            app.server.lines_containing("ERROR")
        );
        assert!(
            full_since.elapsed() < Duration::from_secs(30),
            "no command was refused as storage_full while the disk was full"
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::remove_file(filler).unwrap();
    let recovered = until_a_command_succeeds(app).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(nodes);

    let url = format!("sqlite://{data_dir}/bomizzel.db");
    let answers = load.stop_and_check(&url).await.answers;
    let store = EventStore::connect(&url).await.unwrap();
    let bomizzel_store::Database::Sqlite(pool) = store.database() else {
        unreachable!()
    };
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    println!(
        "acknowledged {}, failed attempts {:?}, slowest failure {:?}, a command succeeded {recovered:?} after space was freed",
        answers.acknowledged.len(),
        answers.failed,
        answers.slowest_failure
    );
}

/// Ticket numbers drawn while the disk fills up are either kept (the
/// counter moved past them) or refused, never handed out while the counter
/// stays put: they would be handed out again, to other tickets. Swept over
/// the last kilobytes of free space, where some writes fit and others not.
#[tokio::test]
async fn a_ticket_number_drawn_on_a_full_disk_is_never_drawn_again() {
    let Some(disk) = SmallDisk::mount(
        "a_ticket_number_drawn_on_a_full_disk_is_never_drawn_again",
        4,
    ) else {
        return;
    };
    let url = format!("sqlite://{}/numbers.db", disk.path().display());
    let store = EventStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let bomizzel_store::Database::Sqlite(pool) = store.database().clone() else {
        unreachable!()
    };
    let filler = disk.fill();
    let full = std::fs::metadata(&filler).unwrap().len();
    let (mut drawn, mut refused) = (Vec::new(), 0);
    for free in (0..64 * 1024).step_by(512) {
        std::fs::File::options()
            .write(true)
            .open(&filler)
            .unwrap()
            .set_len(full - free)
            .unwrap();
        match store.draw_ticket_numbers(3).await {
            Ok(block) => drawn.extend(block),
            Err(_) => refused += 1,
        }
        let counter: i64 = sqlx::query_scalar("SELECT last FROM ticket_number_counter")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(
            Some(counter as u64),
            drawn.last().copied().or(Some(0)),
            "{free} bytes free: drawn {drawn:?}, the counter stands at {counter}"
        );
    }
    assert!(
        refused > 0 && !drawn.is_empty(),
        "{refused} refused, drawn {drawn:?}"
    );
}

/// What the server promises: a lost node's projections run elsewhere within this.
const LEADERSHIP_WITHIN: Duration = Duration::from_secs(5);

/// How many projections the node behind `app` has taken the lead of.
fn leads(app: &TestApp) -> usize {
    app.server.logged_count("this node runs the projection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_lost_under_load_loses_nothing() {
    let test = "a_node_lost_under_load_loses_nothing";
    let Some(url) = bomizzel_store::testing::fresh_postgres_database(test).await else {
        return;
    };
    let projections = bomizzel_projections::registry::all().len();
    let leader = TestApp::start(Backend::Postgres(url.clone()), &[]).await;
    let started = Instant::now();
    while leads(&leader) < projections {
        assert!(
            started.elapsed() < READY_WITHIN,
            "the first node leads every projection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let nodes: Nodes = Arc::new(vec![
        leader,
        TestApp::start_without_seeding(Backend::Postgres(url.clone()), &[]).await,
        TestApp::start_without_seeding(Backend::Postgres(url.clone()), &[]).await,
    ]);
    let load = Load::start(test, &nodes).await;
    load.until_following().await;

    nodes[0].server.sigkill();
    let killed = Instant::now();
    while leads(&nodes[1]) + leads(&nodes[2]) < projections {
        assert!(
            killed.elapsed() < LEADERSHIP_WITHIN,
            "leadership did not move in {LEADERSHIP_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let moved = killed.elapsed();
    // The Socket.IO follower of the killed node resumes on another one.
    let followers = load.socketio.len();
    load.until_socketio_sessions(followers + 1, FOLLOWING_WITHIN)
        .await;
    let resumed = killed.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(nodes);
    let outcome = load.stop_and_check(&url).await;
    if let Some(on_killed) = outcome.socketio.first() {
        assert!(
            on_killed.ended >= 1 && on_killed.sessions >= 2,
            "{on_killed:?}"
        );
    }
    println!(
        "every projection led elsewhere {moved:?} after the SIGKILL; the Socket.IO client of the \
         killed node resumed on another {:?} after it; acknowledged {}, failed attempts {:?}",
        resumed,
        outcome.answers.acknowledged.len(),
        outcome.answers.failed,
    );
}

/// Clients of the CI-sized restart storm (the benchmark runs 2,000).
const STORM_CLIENTS: usize = 300;
/// Clients of the CI-sized slow-consumer scenario, and how many stall.
const CONSUMERS: usize = 200;
const STALLED: usize = 20;

fn sqlite_url(app: &TestApp) -> String {
    format!(
        "sqlite://{}",
        app.workdir().join("data/bomizzel.db").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_with_every_client_reconnecting_at_once_loses_nothing() {
    let test = "a_restart_with_every_client_reconnecting_at_once_loses_nothing";
    let extra = ["--ws-max-connections-per-user", "1000"];
    let nodes: Nodes = Arc::new(vec![TestApp::start(Backend::Sqlite, &extra).await]);
    let url = sqlite_url(&nodes[0]);
    let who = Followers {
        ws: STORM_CLIENTS,
        ..Followers::STEADY
    };
    let load = Load::with_followers(test, &nodes, who).await;
    load.until_sessions(STORM_CLIENTS, FOLLOWING_WITHIN).await;
    load.until_following().await;

    let restarted = Instant::now();
    nodes[0].server.restart();
    let back_after = restarted.elapsed();
    let storm = load
        .until_sessions(2 * STORM_CLIENTS, FOLLOWING_WITHIN)
        .await;
    // The Socket.IO followers resume too, with their offsets.
    let followers = load.socketio.len();
    load.until_socketio_sessions(2 * followers, FOLLOWING_WITHIN)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(nodes);
    let outcome = load.stop_and_check(&url).await;
    for follower in &outcome.socketio {
        assert!(
            follower.ended >= 1 && follower.sessions >= 2,
            "{follower:?}"
        );
    }
    println!(
        "restart took {back_after:?}; all {STORM_CLIENTS} clients resumed {storm:?} after it; \
         acknowledged {}, failed attempts {:?}",
        outcome.answers.acknowledged.len(),
        outcome.answers.failed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_consumers_are_closed_and_resume_without_holding_up_the_others() {
    let test = "slow_consumers_are_closed_and_resume_without_holding_up_the_others";
    let extra = [
        "--ws-max-connections-per-user",
        "1000",
        "--ws-send-queue",
        "64",
        "--socket-send-buffer",
        "16384",
    ];
    let nodes: Nodes = Arc::new(vec![TestApp::start(Backend::Sqlite, &extra).await]);
    let url = sqlite_url(&nodes[0]);
    let who = Followers {
        ws: CONSUMERS,
        ws_stalled: STALLED,
        socketio_stalled: true,
    };
    let load = Load::with_followers(test, &nodes, who).await;
    load.until_sessions(CONSUMERS, FOLLOWING_WITHIN).await;
    load.until_following().await;
    let stalled_since = Instant::now();
    let socketio_stalled = usize::from(load.socketio.len() == 3);
    let server = &nodes[0].server;
    while let_go(server) < (STALLED, socketio_stalled) {
        assert!(
            stalled_since.elapsed() < FOLLOWING_WITHIN,
            "stalled clients let go (/ws, Socket.IO): {:?}",
            let_go(server)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dropped_after = stalled_since.elapsed();
    load.following.released.send_replace(true);
    // The stalled Socket.IO client gets its backlog, learns that it was
    // closed and resumes.
    let sessions = load.socketio.len() + socketio_stalled;
    let resumed = load
        .until_socketio_sessions(sessions, FOLLOWING_WITHIN)
        .await;
    // Each stalled `/ws` client reads its backlog, finds its connection
    // ended and resumes: a second session each.
    load.until_sessions(CONSUMERS + STALLED, FOLLOWING_WITHIN)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(nodes);
    let outcome = load.stop_and_check(&url).await;
    // A stalled client sees its 4008 close frame only if it fits behind
    // the backlog; otherwise its connection just ends. Either way it ended.
    let (stalled, others) = outcome.ended.split_at(STALLED);
    assert!(
        stalled.iter().all(|ends| *ends >= 1),
        "stalled ones ended: {stalled:?}"
    );
    assert!(
        others.iter().all(|ends| *ends == 0),
        "readers never ended: {others:?}"
    );
    let (readers, stalled) = outcome.socketio.split_at(2.min(outcome.socketio.len()));
    assert!(
        readers.iter().all(|reader| reader.ended == 0),
        "Socket.IO readers never ended: {readers:?}"
    );
    for stalled in stalled {
        assert!(stalled.ended >= 1 && stalled.sessions >= 2, "{stalled:?}");
        assert!(
            stalled.closing.iter().all(|code| *code == 4008),
            "{stalled:?}"
        );
    }
    println!(
        "{STALLED} stalled /ws clients dropped as too slow and {socketio_stalled} stalled \
         Socket.IO client let go within {dropped_after:?}, all resumed exactly once (Socket.IO \
         {resumed:?} after its release, told {:?}); the other {} /ws and {} Socket.IO clients \
         never closed",
        stalled.iter().map(|s| &s.closing).collect::<Vec<_>>(),
        others.len(),
        readers.len()
    );
}

/// How many stalled clients the server has let go, per protocol: `/ws`
/// connections the hub dropped as too slow or closed when a write passed
/// its deadline, and Socket.IO sessions that ended (closed 4008 when the
/// hub dropped them or their buffer stayed full past the deadline, or cut
/// by their heartbeat, which cannot pass a full buffer either, whichever
/// came first).
fn let_go(server: &common::Server) -> (usize, usize) {
    let connections = |text: &str| -> HashSet<u64> {
        server
            .lines_containing(text)
            .iter()
            .filter_map(|line| connection_of(line))
            .collect()
    };
    let socketio = connections("socket.io connected");
    let mut ws = connections("slow consumer dropped");
    ws.extend(connections("stopped reading"));
    let ws = ws.difference(&socketio).count();
    let ended =
        ["socket.io session ended", "socket.io disconnected"].map(|text| server.logged_count(text));
    (ws, ended.iter().sum())
}

/// The connection a log line names (`connection=N`), its colours aside.
fn connection_of(line: &str) -> Option<u64> {
    let mut plain = String::new();
    let mut rest = line;
    while let Some((before, after)) = rest.split_once('\u{1b}') {
        plain.push_str(before);
        rest = after.split_once('m').map_or("", |(_, after)| after);
    }
    plain.push_str(rest);
    let (_, id) = plain.split_once("connection=")?;
    id.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}
