//! Presence end to end: who is viewing, replying or noting on a ticket and
//! who of a team is online, on `/ws`, Socket.IO and
//! `GET /api/tickets/{id}/presence`, on one node and across two.

mod common;

use std::time::{Duration, Instant};

use common::app::{Backend, TestApp};
use common::fault_proxy::{Fault, FaultProxy};
use common::sio::{SioClient, blocking, client_installed};
use common::ws::WsClient;
use reqwest::Method;
use serde_json::{Value, json};

/// SQLite, and PostgreSQL unless its tests are skipped.
async fn backends(test: &str) -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if let Some(url) = bomizzel_store::testing::fresh_postgres_database(test).await {
        backends.push(Backend::Postgres(url));
    }
    backends
}

/// `(user, activity)` of each member, in list order.
fn who(members: &[Value]) -> Vec<(String, String)> {
    members
        .iter()
        .map(|m| {
            let user = m["user"].as_str().unwrap_or("?");
            (
                user.to_owned(),
                m["activity"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

fn has(members: &[Value], user: &str, activity: &str) -> bool {
    members
        .iter()
        .any(|m| m["user"] == user && m["activity"] == activity)
}

fn lacks(members: &[Value], user: &str) -> bool {
    !members.iter().any(|m| m["user"] == user)
}

async fn announce(client: &mut WsClient, room: &str, activity: &str) {
    client
        .send(json!({ "type": "presence", "room": room, "activity": activity }))
        .await;
}

/// A client of `user` in `room`, and the first list it was sent.
async fn join(app: &TestApp, user: &str, room: &str) -> (WsClient, Vec<Value>) {
    let (mut client, _) = WsClient::connect(&app.server.base_url, &app.token(user)).await;
    client.subscribe(room, None).await;
    let members = client
        .presence_until(room, |m| {
            has(m, user, "viewing") || room.starts_with("team:")
        })
        .await;
    (client, members)
}

/// A server (with `extra` arguments), a ticket of team 1, and the agent
/// and the admin in its room, each having seen the other arrive.
struct Pair {
    app: TestApp,
    id: String,
    room: String,
    agent: WsClient,
    admin: WsClient,
}

async fn agent_and_admin_on_a_ticket(extra: &[&str]) -> Pair {
    let app = TestApp::start(Backend::Sqlite, extra).await;
    let (id, room) = ticket_of_team_1(&app).await;
    let (mut agent, _) = join(&app, "agent-1", &room).await;
    let (admin, seen) = join(&app, "admin-1", &room).await;
    assert!(has(&seen, "agent-1", "viewing"), "{seen:?}");
    agent
        .presence_until(&room, |m| has(m, "admin-1", "viewing"))
        .await;
    Pair {
        app,
        id,
        room,
        agent,
        admin,
    }
}

/// `client` (of `user`) closes; `watcher` sees `user` leave `room` within
/// a second.
async fn closes_and_leaves_at_once(
    client: WsClient,
    watcher: &mut WsClient,
    room: &str,
    user: &str,
) {
    client.close().await;
    let closed = Instant::now();
    watcher.presence_until(room, |m| lacks(m, user)).await;
    assert!(
        closed.elapsed() < Duration::from_secs(1),
        "{:?}",
        closed.elapsed()
    );
}

/// A new ticket of team 1's queue: its id and its room.
async fn ticket_of_team_1(app: &TestApp) -> (String, String) {
    let id = app.open_ticket("agent-1", "queue-1", "acme").await;
    let room = format!("ticket:{id}");
    (id, room)
}

async fn presence_over_http(app: &TestApp, id: &str, user: &str) -> (u16, Value) {
    app.call(
        Method::GET,
        &format!("/api/tickets/{id}/presence"),
        user,
        None,
    )
    .await
}

#[tokio::test]
async fn joining_sends_the_list_and_every_activity_reaches_the_room() {
    for backend in backends("joining_sends_the_list_and_every_activity_reaches_the_room").await {
        let app = TestApp::start(backend, &[]).await;
        let (id, room) = ticket_of_team_1(&app).await;
        let (mut agent, first) = join(&app, "agent-1", &room).await;
        assert_eq!(who(&first), [("agent-1".into(), "viewing".into())]);
        assert_eq!(first[0]["name"], "agent-1");
        assert_eq!(first[0]["role"], "agent");
        assert!(first[0]["since"].is_string(), "{first:?}");

        let (mut admin, snapshot) = join(&app, "admin-1", &room).await;
        assert!(has(&snapshot, "agent-1", "viewing"), "{snapshot:?}");
        agent
            .presence_until(&room, |m| has(m, "admin-1", "viewing"))
            .await;

        for activity in ["replying", "noting", "viewing"] {
            announce(&mut admin, &room, activity).await;
            agent
                .presence_until(&room, |m| has(m, "admin-1", activity))
                .await;
        }
        let (status, body) = presence_over_http(&app, &id, "agent-1").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["room"], room.as_str());
        let listed = body["members"].as_array().unwrap();
        assert!(
            has(listed, "admin-1", "viewing") && has(listed, "agent-1", "viewing"),
            "{body}"
        );

        announce(&mut admin, &room, "left").await;
        let members = agent.presence_until(&room, |m| lacks(m, "admin-1")).await;
        assert_eq!(who(&members), [("agent-1".into(), "viewing".into())]);

        let (_customer, _) = join_customer(&app, &room).await;
        agent
            .presence_until(&room, |m| has(m, "cust-acme", "viewing"))
            .await;
    }
}

/// A customer client in `room` and its first list (which shows no staff
/// unless someone is replying).
async fn join_customer(app: &TestApp, room: &str) -> (WsClient, Vec<Value>) {
    let (mut client, _) = WsClient::connect(&app.server.base_url, &app.token("cust-acme")).await;
    client.subscribe(room, None).await;
    let members = client.presence_until(room, |_| true).await;
    (client, members)
}

#[tokio::test]
async fn customers_see_staff_only_while_they_reply_and_only_by_role() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (id, room) = ticket_of_team_1(&app).await;
    let (mut agent, _) = join(&app, "agent-1", &room).await;
    let (mut customer, first) = join_customer(&app, &room).await;
    assert_eq!(first, Vec::<Value>::new(), "a viewing agent is not shown");
    agent
        .presence_until(&room, |m| has(m, "cust-acme", "viewing"))
        .await;

    announce(&mut agent, &room, "replying").await;
    let shown = customer.presence_until(&room, |m| !m.is_empty()).await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["role"], "agent");
    assert_eq!(shown[0]["activity"], "replying");
    assert!(
        shown[0].get("user").is_none() && shown[0].get("name").is_none(),
        "{shown:?}"
    );
    let (status, body) = presence_over_http(&app, &id, "cust-acme").await;
    assert_eq!(status, 200);
    assert_eq!(body["members"], json!(shown));

    announce(&mut agent, &room, "noting").await;
    customer.presence_until(&room, <[Value]>::is_empty).await;
    let (_, body) = presence_over_http(&app, &id, "cust-acme").await;
    assert_eq!(
        body["members"],
        json!([]),
        "noting is never shown to customers"
    );

    // Nobody sees presence on a ticket they may not see.
    for outsider in ["cust-globex", "agent-2"] {
        let (status, _) = presence_over_http(&app, &id, outsider).await;
        assert_eq!(status, 404, "{outsider}");
    }
    let (status, _) = presence_over_http(&app, "not-a-uuid", "agent-1").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_moved_ticket_takes_the_old_teams_agents_off_its_list() {
    let Pair {
        app,
        id,
        room,
        mut agent,
        mut admin,
    } = agent_and_admin_on_a_ticket(&[]).await;

    app.move_ticket(&id, "queue-2").await;
    admin.presence_until(&room, |m| lacks(m, "agent-1")).await;
    let (status, _) = presence_over_http(&app, &id, "agent-1").await;
    assert_eq!(status, 404);

    // The old team's agent, still in the room, is told nothing more.
    announce(&mut admin, &room, "replying").await;
    admin
        .presence_until(&room, |m| has(m, "admin-1", "replying"))
        .await;
    let deadline = Instant::now() + Duration::from_millis(500);
    while let Some(frame) = agent
        .next_within(deadline.saturating_duration_since(Instant::now()))
        .await
    {
        let frame = frame.expect("still connected");
        assert!(
            !(frame["type"] == "presence"
                && has(frame["members"].as_array().unwrap(), "admin-1", "replying")),
            "the old team still sees presence: {frame}"
        );
    }
}

#[tokio::test]
async fn losing_a_team_takes_the_agent_off_the_list() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (_, room) = ticket_of_team_1(&app).await;
    let (_agent, _) = join(&app, "agent-1", &room).await;
    let (mut admin, first) = join(&app, "admin-1", &room).await;
    assert!(has(&first, "agent-1", "viewing"), "{first:?}");
    app.set_teams("agent-1", &["team-2"]).await;
    admin.presence_until(&room, |m| lacks(m, "agent-1")).await;
}

/// Revoked sessions close the agent's sockets, and the agent is off the list.
#[tokio::test]
async fn revoked_sessions_take_the_agent_off_the_list() {
    let Pair {
        app,
        id: _,
        room,
        agent: _agent,
        mut admin,
    } = agent_and_admin_on_a_ticket(&[]).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/users/agent-1/sessions/revoke",
            "admin-1",
            None,
        )
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    admin.presence_until(&room, |m| lacks(m, "agent-1")).await;
}

/// Asserts that `user`, gone silent now, leaves the list `watcher` sees
/// within `within`.
async fn leaves_within(watcher: &mut WsClient, room: &str, user: &str, within: Duration) {
    let silent_since = Instant::now();
    watcher.presence_until(room, |m| lacks(m, user)).await;
    let gone_after = silent_since.elapsed();
    assert!(gone_after <= within, "{user} left after {gone_after:?}");
}

#[tokio::test]
async fn members_leave_on_close_at_once_and_on_a_silent_drop_within_the_lease() {
    let lease = Duration::from_secs(3);
    let Pair {
        app,
        id: _,
        room,
        agent,
        mut admin,
    } = agent_and_admin_on_a_ticket(&["--presence-lease", "3s"]).await;
    closes_and_leaves_at_once(agent, &mut admin, &room, "agent-1").await;

    // A client that stops reading answers no ping and says nothing: silent.
    let (silent, _) = join(&app, "agent-1", &room).await;
    admin
        .presence_until(&room, |m| has(m, "agent-1", "viewing"))
        .await;
    leaves_within(&mut admin, &room, "agent-1", lease + Duration::from_secs(1)).await;
    drop(silent);
}

#[tokio::test]
async fn typing_falls_back_to_viewing_unless_renewed() {
    let Pair {
        app: _app,
        id: _,
        room,
        mut agent,
        mut admin,
    } = agent_and_admin_on_a_ticket(&["--presence-typing", "1s"]).await;
    announce(&mut admin, &room, "replying").await;
    agent
        .presence_until(&room, |m| has(m, "admin-1", "replying"))
        .await;
    let typed = Instant::now();
    agent
        .presence_until(&room, |m| has(m, "admin-1", "viewing"))
        .await;
    let lapsed_after = typed.elapsed();
    assert!(
        lapsed_after >= Duration::from_millis(800) && lapsed_after < Duration::from_secs(3),
        "{lapsed_after:?}"
    );
}

#[tokio::test]
async fn a_flood_of_announcements_is_coalesced() {
    let Pair {
        app: _app,
        id: _,
        room,
        mut agent,
        mut admin,
    } = agent_and_admin_on_a_ticket(&[]).await;
    let started = Instant::now();
    for n in 0..100 {
        let activity = if n % 2 == 0 { "replying" } else { "noting" };
        announce(&mut admin, &room, activity).await;
    }
    // The last word wins, after a handful of lists rather than a hundred.
    let mut lists = 0;
    agent
        .presence_until(&room, |m| {
            lists += 1;
            has(m, "admin-1", "noting")
        })
        .await;
    // At most one list per interval of 250 ms, and the first at once.
    let allowed = 2 + (started.elapsed().as_millis() / 250) as u32;
    assert!(
        lists <= allowed,
        "{lists} lists for 100 announcements in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_presence_frames_are_refused() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (_, room) = ticket_of_team_1(&app).await;
    let (mut agent, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    announce(&mut agent, &room, "viewing").await;
    assert_eq!(agent.next_of("error").await["code"], "not_subscribed");
    agent.subscribe(&room, None).await;
    announce(&mut agent, &room, "dancing").await;
    assert_eq!(agent.next_of("error").await["code"], "invalid_activity");
    agent.subscribe("team:team-1", None).await;
    announce(&mut agent, "team:team-1", "replying").await;
    assert_eq!(agent.next_of("error").await["code"], "invalid_room");
}

#[tokio::test]
async fn a_team_room_lists_its_agents_online() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (agent, online) = join(&app, "agent-1", "team:team-1").await;
    assert_eq!(who(&online), [("agent-1".into(), "online".into())]);
    // Admins may watch a team's room but are not one of its agents.
    let (mut admin, _) = WsClient::connect(&app.server.base_url, &app.token("admin-1")).await;
    admin.subscribe("team:team-1", None).await;
    let seen = admin.presence_until("team:team-1", |m| !m.is_empty()).await;
    assert_eq!(who(&seen), [("agent-1".into(), "online".into())]);
    agent.close().await;
    admin
        .presence_until("team:team-1", <[Value]>::is_empty)
        .await;
}

/// Two nodes on one PostgreSQL: one list, converging within a second.
#[tokio::test]
async fn two_nodes_converge_on_one_list_within_a_second() {
    let Some((first, second)) =
        TestApp::two_nodes("two_nodes_converge_on_one_list_within_a_second").await
    else {
        return;
    };
    let (id, room) = ticket_of_team_1(&first).await;
    let (mut agent, _) = join(&first, "agent-1", &room).await;
    let joined = Instant::now();
    let (mut admin, seen) = join(&second, "admin-1", &room).await;
    assert!(has(&seen, "agent-1", "viewing"), "{seen:?}");
    agent
        .presence_until(&room, |m| has(m, "admin-1", "viewing"))
        .await;
    assert!(
        joined.elapsed() < Duration::from_secs(2),
        "{:?}",
        joined.elapsed()
    );

    let mut worst = Duration::ZERO;
    for activity in ["replying", "noting", "viewing", "replying"] {
        let sent = Instant::now();
        announce(&mut admin, &room, activity).await;
        agent
            .presence_until(&room, |m| has(m, "admin-1", activity))
            .await;
        worst = worst.max(sent.elapsed());
        // (Announcements closer than the rate limit's interval wait for
        // it: the figure includes that wait.)
    }
    println!("slowest propagation between the nodes: {worst:?}");
    assert!(
        worst < Duration::from_secs(1),
        "slowest propagation {worst:?}"
    );
    let (status, body) = presence_over_http(&first, &id, "agent-1").await;
    assert_eq!(status, 200);
    assert!(
        has(body["members"].as_array().unwrap(), "admin-1", "replying"),
        "{body}"
    );

    closes_and_leaves_at_once(admin, &mut agent, &room, "admin-1").await;
}

/// A node that dies without a word takes its members off the other
/// nodes' lists within the lease.
#[tokio::test]
async fn a_dead_nodes_members_leave_within_the_lease() {
    let Some(url) = bomizzel_store::testing::fresh_postgres_database(
        "a_dead_nodes_members_leave_within_the_lease",
    )
    .await
    else {
        return;
    };
    let lease = ["--presence-lease", "3s"];
    let first = TestApp::start(Backend::Postgres(url.clone()), &lease).await;
    let second = TestApp::start_without_seeding(Backend::Postgres(url), &lease).await;
    let (_, room) = ticket_of_team_1(&first).await;
    let (mut agent, _) = join(&first, "agent-1", &room).await;
    let (admin, _) = join(&second, "admin-1", &room).await;
    agent
        .presence_until(&room, |m| has(m, "admin-1", "viewing"))
        .await;
    // Dropping a server kills it (SIGKILL): it says goodbye to nobody.
    drop(second);
    let killed = Instant::now();
    agent.presence_until(&room, |m| lacks(m, "admin-1")).await;
    assert!(
        killed.elapsed() <= Duration::from_secs(4),
        "{:?}",
        killed.elapsed()
    );
    drop(admin);
}

/// A `/ws` agent and a Socket.IO admin on one node, a third on another:
/// one list, the same payload on both protocols.
#[tokio::test]
async fn socketio_and_ws_clients_share_one_list() {
    if !client_installed("socketio_and_ws_clients_share_one_list") {
        return;
    }
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (_, room) = ticket_of_team_1(&app).await;
    let (mut agent, _) = join(&app, "agent-1", &room).await;
    let (base, token, sio_room) = (
        app.server.base_url.clone(),
        app.token("admin-1"),
        room.clone(),
    );
    let (socket, first) = blocking(move || {
        let mut socket = SioClient::connect(&base, &token, None);
        socket.ready();
        // The list may come before the ack or after it.
        let wanted = |l: &Value| {
            l["event"] == "presence"
                && l["arg"]["room"] == sio_room.as_str()
                && has(
                    l["arg"]["members"].as_array().unwrap(),
                    "admin-1",
                    "viewing",
                )
        };
        socket.send("subscribe", json!({ "room": sio_room }));
        let (before, ack) = socket.until(|l| l["type"] == "ack");
        assert_eq!(ack["ack"]["ok"], true, "{ack}");
        let list = match before.into_iter().find(wanted) {
            Some(list) => list,
            None => socket.until(wanted).1,
        };
        (socket, list["arg"].clone())
    })
    .await;
    assert!(
        has(first["members"].as_array().unwrap(), "agent-1", "viewing"),
        "{first}"
    );
    agent
        .presence_until(&room, |m| has(m, "admin-1", "viewing"))
        .await;

    let sio_room = room.clone();
    let socket = blocking(move || {
        let mut socket = socket;
        let ack = socket.emit(
            "presence",
            json!({ "room": sio_room, "activity": "replying" }),
        );
        assert_eq!(ack, json!({ "ok": true }));
        let refused = socket.emit(
            "presence",
            json!({ "room": sio_room, "activity": "juggling" }),
        );
        assert_eq!(refused["reason"], "invalid_activity", "{refused}");
        socket
    })
    .await;
    agent
        .presence_until(&room, |m| has(m, "admin-1", "replying"))
        .await;

    announce(&mut agent, &room, "noting").await;
    let sio_room = room.clone();
    let seen = blocking(move || {
        let (_, list) = socket.until(|l| {
            l["event"] == "presence"
                && has(l["arg"]["members"].as_array().unwrap(), "agent-1", "noting")
        });
        socket.disconnect();
        list["arg"].clone()
    })
    .await;
    assert_eq!(seen["room"], sio_room.as_str());
    agent.presence_until(&room, |m| lacks(m, "admin-1")).await;
}

/// A queue's board is told how many are on each of its tickets.
#[tokio::test]
async fn a_queue_room_counts_who_is_on_each_ticket() {
    let app = TestApp::start(Backend::Sqlite, &[]).await;
    let (id, room) = ticket_of_team_1(&app).await;
    let (mut board, _) = WsClient::connect(&app.server.base_url, &app.token("agent-1")).await;
    board.subscribe("queue:queue-1", None).await;
    let counts = |frame: &Value| frame["tickets"][id.as_str()].clone();
    let (mut admin, _) = join(&app, "admin-1", &room).await;
    let viewing = json!({ "viewing": 1, "replying": 0, "noting": 0 });
    let frame = next_counts(&mut board, |f| counts(f) == viewing).await;
    assert_eq!(frame["room"], "queue:queue-1");
    announce(&mut admin, &room, "replying").await;
    next_counts(&mut board, |f| counts(f)["replying"] == 1).await;
    admin.close().await;
    next_counts(&mut board, |f| counts(f).is_null()).await;
}

/// The next `presence_counts` frame that `wanted` accepts.
async fn next_counts(client: &mut WsClient, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = client.next_of("presence_counts").await;
        if wanted(&frame) {
            return frame;
        }
    }
}

/// `/metrics` counts presence: members held and list changes.
#[tokio::test]
async fn metrics_count_presence_members_and_updates() {
    let Pair {
        app,
        agent: _agent,
        admin: _admin,
        ..
    } = agent_and_admin_on_a_ticket(&[]).await;
    let metric = |text: &str, name: &str| {
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().last()?.parse::<f64>().ok())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = app.metrics().await;
        let members = metric(&text, "presence_members");
        let updates = metric(&text, "presence_updates_total");
        if members == Some(2.0) && updates.is_some_and(|n| n >= 2.0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "presence metrics: {members:?} {updates:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Once the directory marks an agent's name public, customers see who is
/// replying; the mark is the admin's to set.
#[tokio::test]
async fn a_public_name_is_shown_to_customers() {
    for backend in backends("a_public_name_is_shown_to_customers").await {
        let app = TestApp::start(backend, &[]).await;
        let (_, room) = ticket_of_team_1(&app).await;
        let (mut agent, _) = join(&app, "agent-1", &room).await;
        let (mut customer, _) = join_customer(&app, &room).await;
        let public = |user: &str| format!("/api/users/{user}/public-name");
        let mark = Some(json!({ "public": true }));
        let (status, _) = app
            .call(Method::PUT, &public("agent-1"), "agent-1", mark.clone())
            .await;
        assert_eq!(status, 403);
        let (status, _) = app
            .call(Method::PUT, &public("nobody"), "admin-1", mark.clone())
            .await;
        assert_eq!(status, 404);
        let (status, body) = app
            .call(Method::PUT, &public("agent-1"), "admin-1", mark)
            .await;
        assert_eq!(status, 204, "{body}");

        announce(&mut agent, &room, "replying").await;
        let shown = customer.presence_until(&room, |m| !m.is_empty()).await;
        assert_eq!(shown[0]["user"], "agent-1", "{shown:?}");
        assert_eq!(shown[0]["name"], "agent-1");
        assert_eq!(shown[0]["activity"], "replying");

        let unmark = Some(json!({ "public": false }));
        let (status, _) = app
            .call(Method::PUT, &public("agent-1"), "admin-1", unmark)
            .await;
        assert_eq!(status, 204);
        let shown = customer
            .presence_until(&room, |m| m.len() == 1 && m[0].get("user").is_none())
            .await;
        assert_eq!(shown[0]["role"], "agent");
    }
}

/// A Socket.IO client whose network goes silent (a proxy between it and
/// the server swallows every byte): its ping goes unanswered and it leaves
/// the list within the lease, as a `/ws` client does.
#[tokio::test]
async fn a_silent_socketio_client_leaves_within_the_lease() {
    if !client_installed("a_silent_socketio_client_leaves_within_the_lease") {
        return;
    }
    let lease = Duration::from_secs(3);
    let app = TestApp::start(Backend::Sqlite, &["--presence-lease", "3s"]).await;
    let (_, room) = ticket_of_team_1(&app).await;
    let (mut agent, _) = join(&app, "agent-1", &room).await;
    let server: std::net::SocketAddr = app
        .server
        .base_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = FaultProxy::start(server).await;
    let (base, token, sio_room) = (
        format!("http://{}", proxy.address),
        app.token("admin-1"),
        room.clone(),
    );
    let socket = blocking(move || {
        let mut socket = SioClient::connect(&base, &token, None);
        socket.ready();
        socket.send("subscribe", json!({ "room": sio_room }));
        let (_, ack) = socket.until(|l| l["type"] == "ack");
        assert_eq!(ack["ack"]["ok"], true, "{ack}");
        socket
    })
    .await;
    agent
        .presence_until(&room, |m| has(m, "admin-1", "viewing"))
        .await;

    proxy.set(Fault::Blackhole);
    leaves_within(&mut agent, &room, "admin-1", lease + Duration::from_secs(2)).await;
    drop(socket);
}
