//! Presence: who is viewing, replying or noting on a ticket, and which
//! agents of a team are online. Ephemeral by design: presence is not a
//! ticket change, never goes into the event log, and a restart forgets it.
//!
//! Each node holds its own connections' entries ([`Presence::enter`],
//! [`Presence::announce`], [`Presence::leave`]) and, on PostgreSQL, the
//! other nodes' lists of the same rooms, relayed by `NOTIFY` on
//! [`CHANNEL`] (`presence_relay.rs`). A room's list is the union over the
//! nodes, one entry per user (their heaviest activity). Rooms whose list
//! changed are announced on [`Presence::changes`]; the gateway sends each
//! reader their view of it, and `GET /api/tickets/{id}/presence` answers
//! the same view. What a viewer is shown is the domain's policy
//! (`visibility::presence`).
//!
//! Lifetimes, kept by [`Presence::tick`] (run by the relay every 100 ms):
//! typing (`replying`, `noting`) falls back to `viewing` when not renewed
//! within [`PresenceSettings::typing`]; a connection not heard from within
//! the lease is left off the lists (a silent drop) until it speaks again;
//! another node not heard from within the lease takes its members with it.
//! A connection's announcements are applied at most once per
//! [`PresenceSettings::min_interval`]: in between, the latest one waits
//! (coalesced), so no client can flood a room.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bomizzel_domain::visibility::presence::{Activity, Present, Shown};
use bomizzel_domain::{Ticket, Viewer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::time::Instant;
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use crate::auth::{Caller, Role};

/// The PostgreSQL channel nodes tell each other their presence on.
pub const CHANNEL: &str = "bomizzel_presence";

/// A connection, as its node numbers it.
pub type ConnId = u64;

/// How long presence lasts without a renewal.
#[derive(Debug, Clone, Copy)]
pub struct PresenceSettings {
    /// A connection (or node) not heard from for this long is gone.
    pub lease: Duration,
    /// `replying` and `noting` fall back to `viewing` this long after the
    /// last renewal.
    pub typing: Duration,
    /// A connection's announcements are applied at most this often.
    pub min_interval: Duration,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            typing: Duration::from_secs(10),
            min_interval: Duration::from_millis(250),
        }
    }
}

/// Where a ticket is: who may see it (company, team) and the queue whose
/// board counts its viewers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    pub company_id: String,
    pub team_id: String,
    pub queue_id: String,
}

impl Routing {
    pub fn of(ticket: &Ticket) -> Self {
        Self {
            company_id: ticket.company_id().to_owned(),
            team_id: ticket.team_id().to_owned(),
            queue_id: ticket.queue_id().to_owned(),
        }
    }

    /// The room of the ticket's queue, whose board shows viewer counts.
    fn queue_room(&self) -> String {
        format!("queue:{}", self.queue_id)
    }
}

/// Who a connection is, for the lists it appears on.
#[derive(Debug, Clone)]
pub struct Who {
    pub caller: Arc<Caller>,
    /// The directory's name, or the user id for users it does not know.
    pub name: String,
    /// Whether customers may be shown the name.
    pub name_public: bool,
    /// Whether the connection must be heard from within the lease to stay
    /// listed (`/ws`); Socket.IO drops silent sockets by itself.
    pub leased: bool,
}

/// One user on one room's list: what nodes tell each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user: String,
    pub name: String,
    pub role: Role,
    pub activity: Activity,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    #[serde(default)]
    pub name_public: bool,
}

impl Member {
    /// The member as `viewer` is shown them, if at all.
    fn shown_to(&self, viewer: &Viewer<'_>) -> Option<Value> {
        let present = Present {
            is_staff: self.role.is_staff(),
            activity: self.activity,
            name_public: self.name_public,
        };
        let since = self
            .since
            .format(&time::format_description::well_known::Rfc3339)
            .ok();
        match viewer.shown_presence(present) {
            Shown::Nothing => None,
            Shown::Role => {
                Some(json!({ "role": self.role, "activity": self.activity, "since": since }))
            }
            Shown::Whole => Some(json!({
                "user": self.user, "name": self.name, "role": self.role,
                "activity": self.activity, "since": since,
            })),
        }
    }
}

/// Why an announcement was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The connection is not in the room.
    NotInRoom,
    /// Activities are announced in ticket rooms only.
    NotATicketRoom,
}

/// One connection's part in one room.
#[derive(Debug, Clone)]
struct Local {
    /// `None` once the client said `left` (still in the room, not listed).
    activity: Option<Activity>,
    since: OffsetDateTime,
    renewed: Instant,
}

#[derive(Debug)]
struct Conn {
    who: Who,
    heard: Instant,
    /// Not heard from within the lease: left off every list.
    silent: bool,
    /// When an announcement of this connection was last applied.
    applied: Option<Instant>,
    /// Announcements waiting for the rate limit, per room (`None`: left).
    pending: HashMap<String, Option<Activity>>,
}

#[derive(Debug, Default)]
struct RoomState {
    /// Ticket rooms: who may see the ticket now.
    routing: Option<Routing>,
    local: HashMap<ConnId, Local>,
    /// Other nodes' lists of this room.
    remote: HashMap<Uuid, Vec<Member>>,
    /// Ticks this room has been empty through.
    empty_ticks: u8,
}

#[derive(Debug, Default)]
struct Registry {
    rooms: HashMap<String, RoomState>,
    connections: HashMap<ConnId, Conn>,
    /// Other nodes, when last heard from.
    nodes: HashMap<Uuid, Instant>,
}

/// This node's presence registry; cheap to clone.
#[derive(Debug, Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    node: Uuid,
    settings: PresenceSettings,
    registry: Mutex<Registry>,
    /// Rooms whose list changed, for the gateway.
    changes: broadcast::Sender<String>,
    /// Rooms whose local part changed, for the other nodes.
    outgoing: mpsc::UnboundedSender<String>,
    outgoing_receiver: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
}

/// The kind of presence a room has, from its name.
fn room_kind(room: &str) -> Option<&'static str> {
    ["ticket:", "team:"]
        .into_iter()
        .find(|kind| room.starts_with(kind))
}

impl Presence {
    pub fn new(settings: PresenceSettings) -> Self {
        let (changes, _) = broadcast::channel(16 * 1024);
        let (outgoing, receiver) = mpsc::unbounded_channel();
        Self {
            inner: Arc::new(Inner {
                node: Uuid::new_v4(),
                settings,
                registry: Mutex::new(Registry::default()),
                changes,
                outgoing,
                outgoing_receiver: Mutex::new(Some(receiver)),
            }),
        }
    }

    pub fn settings(&self) -> PresenceSettings {
        self.inner.settings
    }

    pub(crate) fn node(&self) -> Uuid {
        self.inner.node
    }

    /// Rooms whose list changed, as they change.
    pub fn changes(&self) -> broadcast::Receiver<String> {
        self.inner.changes.subscribe()
    }

    /// The rooms whose local part changed, for the relay; taken once.
    pub(crate) fn take_outgoing(&self) -> Option<mpsc::UnboundedReceiver<String>> {
        self.inner.outgoing_receiver.lock().ok()?.take()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn changed(&self, room: &str) {
        metrics::counter!("presence_updates_total").increment(1);
        self.changed_remotely(room);
        let _ = self.inner.outgoing.send(room.to_owned());
    }

    /// A remote node's list changed: this node's readers are told (those
    /// of the ticket's queue too), the other nodes already know.
    fn changed_remotely(&self, room: &str) {
        let queue = self.routing(room).map(|routing| routing.queue_room());
        for room in std::iter::once(room.to_owned()).chain(queue) {
            let _ = self.inner.changes.send(room);
        }
    }

    /// Where the ticket of `room` is, as this node knows.
    pub fn routing(&self, room: &str) -> Option<Routing> {
        self.registry().rooms.get(room)?.routing.clone()
    }

    /// Whether `room` has presence at all: ticket and team rooms.
    pub fn tracks(room: &str) -> bool {
        room_kind(room).is_some()
    }

    /// Connection `conn` joined `room`: it counts as viewing a ticket, or
    /// online in a team, until it says otherwise.
    pub fn enter(&self, conn: ConnId, room: &str, routing: Option<Routing>, who: &Who) {
        let Some(kind) = room_kind(room) else {
            return;
        };
        let activity = if kind == "team:" {
            Activity::Online
        } else {
            Activity::Viewing
        };
        {
            let mut registry = self.registry();
            let now = Instant::now();
            registry.connections.entry(conn).or_insert_with(|| Conn {
                who: who.clone(),
                heard: now,
                silent: false,
                applied: None,
                pending: HashMap::new(),
            });
            let state = registry.rooms.entry(room.to_owned()).or_default();
            if routing.is_some() {
                state.routing = routing;
            }
            state.local.insert(
                conn,
                Local {
                    activity: Some(activity),
                    since: OffsetDateTime::now_utc(),
                    renewed: now,
                },
            );
        }
        self.changed(room);
    }

    /// The client announced `activity` (`None`: left) in `room`. Applied at
    /// once unless the connection's last announcement was applied less
    /// than the minimum interval ago; then it waits, replacing any
    /// announcement still waiting for the room.
    pub fn announce(
        &self,
        conn: ConnId,
        room: &str,
        activity: Option<Activity>,
    ) -> Result<(), Refused> {
        self.announce_at(conn, room, activity, Instant::now())
    }

    fn announce_at(
        &self,
        conn: ConnId,
        room: &str,
        activity: Option<Activity>,
        now: Instant,
    ) -> Result<(), Refused> {
        if !room.starts_with("ticket:") {
            return Err(Refused::NotATicketRoom);
        }
        let mut registry = self.registry();
        let in_room = registry
            .rooms
            .get(room)
            .is_some_and(|state| state.local.contains_key(&conn));
        let Some(connection) = registry.connections.get_mut(&conn).filter(|_| in_room) else {
            return Err(Refused::NotInRoom);
        };
        let min_interval = self.inner.settings.min_interval;
        if connection
            .applied
            .is_some_and(|applied| now < applied + min_interval)
        {
            connection.pending.insert(room.to_owned(), activity);
            return Ok(());
        }
        let changed = apply(&mut registry, conn, room, activity, now);
        drop(registry);
        if changed {
            self.changed(room);
        }
        Ok(())
    }

    /// The connection left `room` (unsubscribed or evicted).
    pub fn leave(&self, conn: ConnId, room: &str) {
        let removed = {
            let mut registry = self.registry();
            if let Some(connection) = registry.connections.get_mut(&conn) {
                connection.pending.remove(room);
            }
            remove_local(&mut registry, conn, room)
        };
        if removed {
            self.changed(room);
        }
    }

    /// The connection closed: it leaves every room at once.
    pub fn disconnect(&self, conn: ConnId) {
        let rooms = {
            let mut registry = self.registry();
            if registry.connections.remove(&conn).is_none() {
                return;
            }
            let rooms: Vec<String> = registry
                .rooms
                .iter()
                .filter(|(_, state)| state.local.contains_key(&conn))
                .map(|(room, _)| room.clone())
                .collect();
            for room in &rooms {
                remove_local(&mut registry, conn, room);
            }
            rooms
        };
        for room in rooms {
            self.changed(&room);
        }
    }

    /// The client of a leased connection spoke: it stays listed (again).
    pub fn heard(&self, conn: ConnId) {
        self.heard_at(conn, Instant::now());
    }

    fn heard_at(&self, conn: ConnId, now: Instant) {
        let back = {
            let mut registry = self.registry();
            let Some(connection) = registry.connections.get_mut(&conn) else {
                return;
            };
            connection.heard = now;
            std::mem::replace(&mut connection.silent, false)
        };
        if back {
            self.touch_rooms_of(conn);
        }
    }

    /// Who the connection is changed (token refresh, directory change):
    /// its lists are judged again.
    pub fn update_who(&self, conn: ConnId, who: &Who) {
        {
            let mut registry = self.registry();
            let Some(connection) = registry.connections.get_mut(&conn) else {
                return;
            };
            connection.who = who.clone();
        }
        self.touch_rooms_of(conn);
    }

    fn touch_rooms_of(&self, conn: ConnId) {
        let rooms: Vec<String> = self
            .registry()
            .rooms
            .iter()
            .filter(|(_, state)| state.local.contains_key(&conn))
            .map(|(room, _)| room.clone())
            .collect();
        for room in rooms {
            self.changed(&room);
        }
    }

    /// The ticket rooms among `rooms` that have members on this node.
    pub fn tracked_tickets<'a>(&self, rooms: impl Iterator<Item = &'a str>) -> Vec<String> {
        let registry = self.registry();
        rooms
            .filter(|room| room.starts_with("ticket:"))
            .filter(|room| {
                registry
                    .rooms
                    .get(*room)
                    .is_some_and(|state| !state.local.is_empty())
            })
            .map(str::to_owned)
            .collect()
    }

    /// The ticket of `room` is routed as `routing` now (it may have moved).
    pub fn set_routing(&self, room: &str, routing: Routing) {
        let before = {
            let mut registry = self.registry();
            let Some(state) = registry.rooms.get_mut(room) else {
                return;
            };
            state.routing.replace(routing.clone())
        };
        if before.as_ref() == Some(&routing) {
            return;
        }
        self.changed(room);
        // The board it left stops counting it.
        if let Some(before) = before.filter(|before| before.queue_id != routing.queue_id) {
            let _ = self.inner.changes.send(before.queue_room());
        }
    }

    /// How many are on each ticket of `queue_id` this node knows of, per
    /// activity, for the queue's board (staff only): `{ticket id:
    /// {viewing, replying, noting}}`.
    pub fn queue_counts(&self, queue_id: &str) -> Map<String, Value> {
        let registry = self.registry();
        let mut counts = Map::new();
        for (room, state) in &registry.rooms {
            let (Some(routing), Some(id)) = (&state.routing, room.strip_prefix("ticket:")) else {
                continue;
            };
            if routing.queue_id != queue_id {
                continue;
            }
            let members = union(&registry, room, state);
            if members.is_empty() {
                continue;
            }
            let mut by_activity = Map::new();
            for activity in Activity::ANNOUNCED {
                let n = members.iter().filter(|m| m.activity == activity).count();
                by_activity.insert(activity.as_str().to_owned(), n.into());
            }
            counts.insert(id.to_owned(), Value::Object(by_activity));
        }
        counts
    }

    /// Whether `viewer` may see `room`'s list: a ticket's, if they may see
    /// the ticket as this node knows it (a team's: its room's members).
    pub fn may_view(&self, room: &str, viewer: &Viewer<'_>) -> bool {
        let registry = self.registry();
        let routing = registry
            .rooms
            .get(room)
            .and_then(|state| state.routing.as_ref());
        may_view(room, viewer, routing)
    }

    /// `room`'s list as `viewer` is shown it, or `None` when the viewer may
    /// not see the room's ticket. `routing` is the ticket's, when the
    /// caller just loaded it; otherwise the one this node knows.
    pub fn view(
        &self,
        room: &str,
        viewer: &Viewer<'_>,
        routing: Option<&Routing>,
    ) -> Option<Vec<Value>> {
        let registry = self.registry();
        let state = registry.rooms.get(room);
        let routing = routing.or_else(|| state?.routing.as_ref());
        if !may_view(room, viewer, routing) {
            return None;
        }
        let Some(state) = state else {
            return Some(Vec::new());
        };
        let members = union(&registry, room, state);
        Some(
            members
                .iter()
                .filter_map(|member| member.shown_to(viewer))
                .collect(),
        )
    }

    /// The users on any team room's list, over every node: the agents
    /// online now, for the directory's answers.
    pub fn online_users(&self) -> HashSet<String> {
        let registry = self.registry();
        registry
            .rooms
            .iter()
            .filter(|(room, _)| room.starts_with("team:"))
            .flat_map(|(room, state)| union(&registry, room, state))
            .map(|member| member.user)
            .collect()
    }

    /// This node's members of `room`, for the other nodes.
    pub(crate) fn local_members(&self, room: &str) -> Vec<Member> {
        let registry = self.registry();
        registry
            .rooms
            .get(room)
            .map(|state| local_members(&registry, room, state))
            .unwrap_or_default()
    }

    /// Rooms with members on this node, for a node that just started.
    pub(crate) fn local_rooms(&self) -> Vec<String> {
        self.registry()
            .rooms
            .iter()
            .filter(|(_, state)| !state.local.is_empty())
            .map(|(room, _)| room.clone())
            .collect()
    }

    /// Another node's list of `room`.
    pub(crate) fn remote_list(
        &self,
        node: Uuid,
        room: &str,
        routing: Option<Routing>,
        members: Vec<Member>,
    ) {
        {
            let mut registry = self.registry();
            registry.nodes.insert(node, Instant::now());
            let state = registry.rooms.entry(room.to_owned()).or_default();
            if state.routing.is_none() {
                state.routing = routing;
            }
            if members.is_empty() {
                state.remote.remove(&node);
            } else {
                state.remote.insert(node, members);
            }
        }
        self.changed_remotely(room);
    }

    /// Another node is alive.
    pub(crate) fn remote_alive(&self, node: Uuid) {
        self.registry().nodes.insert(node, Instant::now());
    }

    /// Applies what is due: waiting announcements, lapsed typing, silent
    /// connections and nodes gone quiet.
    pub fn tick(&self) {
        self.tick_at(Instant::now());
    }

    fn tick_at(&self, now: Instant) {
        let settings = self.inner.settings;
        let mut changed = Vec::new();
        let mut remote_changed = Vec::new();
        {
            let mut registry = self.registry();
            apply_due(&mut registry, now, settings.min_interval, &mut changed);
            lapse_typing(&mut registry, now, settings.typing, &mut changed);
            silence(&mut registry, now, settings.lease, &mut changed);
            drop_empty_rooms(&mut registry);
            forget_nodes(&mut registry, now, settings.lease, &mut remote_changed);
            let members: usize = registry
                .rooms
                .values()
                .map(|state| {
                    state
                        .local
                        .values()
                        .filter(|l| l.activity.is_some())
                        .count()
                })
                .sum();
            metrics::gauge!("presence_members").set(members as f64);
        }
        for room in changed {
            self.changed(&room);
        }
        for room in remote_changed {
            self.changed_remotely(&room);
        }
    }
}

/// Sets a connection's activity in a room; whether its list changed. A
/// renewal of the same activity only moves the typing deadline.
fn apply(
    registry: &mut Registry,
    conn: ConnId,
    room: &str,
    activity: Option<Activity>,
    now: Instant,
) -> bool {
    let Some(local) = registry
        .rooms
        .get_mut(room)
        .and_then(|state| state.local.get_mut(&conn))
    else {
        return false;
    };
    local.renewed = now;
    if local.activity == activity {
        return false;
    }
    local.activity = activity;
    local.since = OffsetDateTime::now_utc();
    if let Some(connection) = registry.connections.get_mut(&conn) {
        connection.applied = Some(now);
    }
    true
}

/// Takes the connection off the room. A room left empty stays until the
/// next tick, so that who is told of the change (its queue's board) can
/// still be found.
fn remove_local(registry: &mut Registry, conn: ConnId, room: &str) -> bool {
    registry
        .rooms
        .get_mut(room)
        .is_some_and(|state| state.local.remove(&conn).is_some())
}

fn apply_due(
    registry: &mut Registry,
    now: Instant,
    min_interval: Duration,
    changed: &mut Vec<String>,
) {
    let due: Vec<(ConnId, String, Option<Activity>)> = registry
        .connections
        .iter_mut()
        .filter(|(_, c)| !c.pending.is_empty() && c.applied.is_none_or(|a| now >= a + min_interval))
        .flat_map(|(id, c)| {
            c.pending
                .drain()
                .map(move |(room, activity)| (*id, room, activity))
        })
        .collect();
    for (conn, room, activity) in due {
        if apply(registry, conn, &room, activity, now) {
            changed.push(room);
        }
    }
}

fn lapse_typing(
    registry: &mut Registry,
    now: Instant,
    typing: Duration,
    changed: &mut Vec<String>,
) {
    for (room, state) in &mut registry.rooms {
        let mut lapsed = false;
        for local in state.local.values_mut() {
            if local.activity.is_some_and(Activity::is_typing) && now >= local.renewed + typing {
                local.activity = Some(Activity::Viewing);
                local.since = OffsetDateTime::now_utc();
                lapsed = true;
            }
        }
        if lapsed {
            changed.push(room.clone());
        }
    }
}

fn silence(registry: &mut Registry, now: Instant, lease: Duration, changed: &mut Vec<String>) {
    let silenced: Vec<ConnId> = registry
        .connections
        .iter_mut()
        .filter(|(_, c)| c.who.leased && !c.silent && now >= c.heard + lease)
        .map(|(id, c)| {
            c.silent = true;
            *id
        })
        .collect();
    for conn in silenced {
        changed.extend(
            registry
                .rooms
                .iter()
                .filter(|(_, state)| state.local.contains_key(&conn))
                .map(|(room, _)| room.clone()),
        );
    }
}

fn forget_nodes(registry: &mut Registry, now: Instant, lease: Duration, changed: &mut Vec<String>) {
    let gone: Vec<Uuid> = registry
        .nodes
        .iter()
        .filter(|(_, heard)| now >= **heard + lease)
        .map(|(node, _)| *node)
        .collect();
    for node in gone {
        tracing::info!(%node, "presence of a silent node forgotten");
        registry.nodes.remove(&node);
        for (room, state) in &mut registry.rooms {
            if state.remote.remove(&node).is_some() {
                changed.push(room.clone());
            }
        }
    }
}

/// Forgets rooms nobody has been in for a tick (kept that long so that
/// whoever is told of the change can still find where the ticket is).
fn drop_empty_rooms(registry: &mut Registry) {
    registry.rooms.retain(|_, state| {
        if !state.local.is_empty() || !state.remote.is_empty() {
            state.empty_ticks = 0;
            return true;
        }
        state.empty_ticks += 1;
        state.empty_ticks < 2
    });
}

/// This node's members of a room: connections listed (not silent, not
/// left) whose reader may be on the list, one entry per user.
fn local_members(registry: &Registry, room: &str, state: &RoomState) -> Vec<Member> {
    let mut members = Vec::new();
    for (conn, local) in &state.local {
        let (Some(activity), Some(connection)) = (local.activity, registry.connections.get(conn))
        else {
            continue;
        };
        let who = &connection.who;
        if connection.silent || !listed(&who.caller.viewer(), room, state.routing.as_ref()) {
            continue;
        }
        members.push(Member {
            user: who.caller.user_id.clone(),
            name: who.name.clone(),
            role: who.caller.role,
            activity,
            since: local.since,
            name_public: who.name_public,
        });
    }
    merge_by_user(members)
}

/// Whether a member with this reader belongs on `room`'s list: in a
/// ticket room while they may see the ticket, in a team room if they are
/// one of its agents.
fn listed(viewer: &Viewer<'_>, room: &str, routing: Option<&Routing>) -> bool {
    if let Some(team) = room.strip_prefix("team:") {
        return viewer.online_in_team(team);
    }
    routing.is_some_and(|routing| viewer.may_see(&routing.company_id, &routing.team_id))
}

/// Whether `viewer` may see `room`'s list, the ticket being at `routing`.
fn may_view(room: &str, viewer: &Viewer<'_>, routing: Option<&Routing>) -> bool {
    !room.starts_with("ticket:")
        || routing.is_some_and(|routing| viewer.may_see(&routing.company_id, &routing.team_id))
}

/// The room's list over every node.
fn union(registry: &Registry, room: &str, state: &RoomState) -> Vec<Member> {
    let mut members = local_members(registry, room, state);
    members.extend(state.remote.values().flatten().cloned());
    merge_by_user(members)
}

/// One entry per user: their heaviest activity, the earliest since of it;
/// ordered by since, then user.
fn merge_by_user(members: Vec<Member>) -> Vec<Member> {
    let mut by_user: HashMap<String, Member> = HashMap::new();
    for member in members {
        match by_user.get_mut(&member.user) {
            Some(kept)
                if (member.activity, std::cmp::Reverse(member.since))
                    <= (kept.activity, std::cmp::Reverse(kept.since)) => {}
            _ => {
                by_user.insert(member.user.clone(), member);
            }
        }
    }
    let mut merged: Vec<Member> = by_user.into_values().collect();
    merged.sort_by(|a, b| (a.since, &a.user).cmp(&(b.since, &b.user)));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(user: &str, role: Role, teams: &[&str], company: Option<&str>) -> Who {
        Who {
            caller: Arc::new(Caller {
                user_id: user.into(),
                role,
                company_id: company.map(str::to_owned),
                team_ids: teams.iter().map(|t| (*t).to_owned()).collect(),
            }),
            name: format!("{user} name"),
            name_public: false,
            leased: true,
        }
    }

    fn routing(team: &str) -> Routing {
        Routing {
            company_id: "acme".into(),
            team_id: team.into(),
            queue_id: format!("{team}-queue"),
        }
    }

    const ROOM: &str = "ticket:t";

    fn staff_view(presence: &Presence) -> Vec<(String, String)> {
        let teams = ["team-1".to_owned()];
        let viewer = Viewer::Agent {
            user_id: "viewer",
            team_ids: &teams,
        };
        presence
            .view(ROOM, &viewer, None)
            .unwrap_or_default()
            .iter()
            .map(|m| {
                (
                    m["user"].as_str().unwrap().to_owned(),
                    m["activity"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn list(entries: &[(&str, &str)]) -> Vec<(String, String)> {
        entries
            .iter()
            .map(|(u, a)| ((*u).to_owned(), (*a).to_owned()))
            .collect()
    }

    fn agent_bob() -> Who {
        who("bob", Role::Agent, &["team-1"], None)
    }

    #[test]
    fn one_entry_per_user_with_their_heaviest_activity() {
        let presence = Presence::new(PresenceSettings::default());
        let bob = agent_bob();
        presence.enter(1, ROOM, Some(routing("team-1")), &bob);
        presence.enter(2, ROOM, None, &bob);
        presence
            .announce(2, ROOM, Some(Activity::Replying))
            .unwrap();
        assert_eq!(staff_view(&presence), list(&[("bob", "replying")]));
        presence.disconnect(2);
        assert_eq!(staff_view(&presence), list(&[("bob", "viewing")]));
        presence.announce(1, ROOM, None).unwrap();
        assert_eq!(staff_view(&presence), list(&[]));
    }

    #[test]
    fn announcements_are_coalesced_per_connection() {
        let presence = Presence::new(PresenceSettings::default());
        let start = Instant::now();
        presence.enter(1, ROOM, Some(routing("team-1")), &agent_bob());
        for activity in [
            Activity::Replying,
            Activity::Noting,
            Activity::Viewing,
            Activity::Noting,
        ] {
            presence
                .announce_at(1, ROOM, Some(activity), start)
                .unwrap();
        }
        assert_eq!(staff_view(&presence), list(&[("bob", "replying")]));
        presence.tick_at(start + Duration::from_millis(200));
        assert_eq!(staff_view(&presence), list(&[("bob", "replying")]));
        presence.tick_at(start + Duration::from_millis(250));
        assert_eq!(staff_view(&presence), list(&[("bob", "noting")]));
    }

    #[test]
    fn typing_lapses_to_viewing_and_silence_leaves_the_list() {
        let presence = Presence::new(PresenceSettings::default());
        let start = Instant::now();
        presence.enter(1, ROOM, Some(routing("team-1")), &agent_bob());
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        presence
            .announce_at(1, ROOM, Some(Activity::Replying), at(1))
            .unwrap();
        presence
            .announce_at(1, ROOM, Some(Activity::Replying), at(9))
            .unwrap();
        presence.tick_at(at(18));
        assert_eq!(
            staff_view(&presence),
            list(&[("bob", "replying")]),
            "renewed at 9 s"
        );
        presence.tick_at(at(19));
        assert_eq!(staff_view(&presence), list(&[("bob", "viewing")]));
        presence.heard_at(1, at(20));
        presence.tick_at(at(49));
        assert_eq!(
            staff_view(&presence),
            list(&[("bob", "viewing")]),
            "heard at 20 s"
        );
        presence.tick_at(at(50));
        assert_eq!(staff_view(&presence), list(&[]), "not heard for 30 s");
        presence.heard_at(1, at(51));
        assert_eq!(staff_view(&presence), list(&[("bob", "viewing")]));
    }

    #[test]
    fn members_who_lose_access_leave_the_list() {
        let presence = Presence::new(PresenceSettings::default());
        presence.enter(1, ROOM, Some(routing("team-1")), &agent_bob());
        presence.enter(
            2,
            ROOM,
            None,
            &who("cust", Role::Customer, &[], Some("acme")),
        );
        assert_eq!(
            staff_view(&presence),
            list(&[("bob", "viewing"), ("cust", "viewing")])
        );
        presence.set_routing(ROOM, routing("team-2"));
        let old_team = ["team-1".to_owned()];
        let agent = Viewer::Agent {
            user_id: "v",
            team_ids: &old_team,
        };
        assert_eq!(presence.view(ROOM, &agent, None), None);
        assert!(!presence.may_view(ROOM, &agent));
        let desk = Viewer::Desk { user_id: "admin" };
        let users: Vec<Value> = presence
            .view(ROOM, &desk, None)
            .unwrap()
            .iter()
            .map(|m| m["user"].clone())
            .collect();
        assert_eq!(users, vec![json!("cust")]);
    }

    #[test]
    fn the_list_is_the_union_over_nodes_until_a_node_falls_silent() {
        let presence = Presence::new(PresenceSettings::default());
        let other = Uuid::new_v4();
        let remote = Member {
            user: "alice".into(),
            name: "Alice".into(),
            role: Role::Agent,
            activity: Activity::Replying,
            since: OffsetDateTime::UNIX_EPOCH,
            name_public: false,
        };
        let start = Instant::now();
        presence.remote_list(other, ROOM, Some(routing("team-1")), vec![remote]);
        presence.enter(1, ROOM, Some(routing("team-1")), &agent_bob());
        assert_eq!(
            staff_view(&presence),
            list(&[("alice", "replying"), ("bob", "viewing")])
        );
        let counts = presence.queue_counts("team-1-queue");
        assert_eq!(
            counts["t"],
            json!({ "viewing": 1, "replying": 1, "noting": 0 })
        );
        assert!(presence.queue_counts("team-2-queue").is_empty());
        let later = start + Duration::from_secs(31);
        presence.heard_at(1, later);
        presence.tick_at(later);
        assert_eq!(
            staff_view(&presence),
            list(&[("bob", "viewing")]),
            "a silent node is forgotten"
        );
    }

    #[test]
    fn online_users_are_those_on_a_team_list_of_any_node() {
        let presence = Presence::new(PresenceSettings::default());
        presence.enter(1, "team:team-1", None, &agent_bob());
        presence.enter(
            2,
            ROOM,
            Some(routing("team-1")),
            &who("carol", Role::Agent, &["team-1"], None),
        );
        let alice = Member {
            user: "alice".into(),
            name: "Alice".into(),
            role: Role::Agent,
            activity: Activity::Online,
            since: OffsetDateTime::UNIX_EPOCH,
            name_public: false,
        };
        presence.remote_list(Uuid::new_v4(), "team:team-2", None, vec![alice]);
        let online = presence.online_users();
        assert_eq!(
            online
                .iter()
                .map(String::as_str)
                .collect::<std::collections::BTreeSet<_>>(),
            ["alice", "bob"].into(),
            "on a ticket only is not online in a team"
        );
        presence.disconnect(1);
        assert!(!presence.online_users().contains("bob"));
    }

    #[test]
    fn announcing_needs_the_room() {
        let presence = Presence::new(PresenceSettings::default());
        assert_eq!(
            presence.announce(1, ROOM, Some(Activity::Replying)),
            Err(Refused::NotInRoom)
        );
        assert_eq!(
            presence.announce(1, "team:x", Some(Activity::Replying)),
            Err(Refused::NotATicketRoom)
        );
    }
}
