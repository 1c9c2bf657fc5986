//! Rooms and who may join them.
//!
//! | room | who may join |
//! |---|---|
//! | `user:<id>` | that user; admins and analysts |
//! | `team:<id>` | agents of the team; admins and analysts |
//! | `queue:<id>` | agents of the queue's team; admins and analysts |
//! | `ticket:<id>` | agents of the ticket's team; customers of its company; admins and analysts |
//! | `company:<id>` | customers of the company; admins and analysts |
//!
//! Checked on every subscribe and resume, and again when the user's
//! memberships change.

use std::fmt;

use bomizzel_identity::presence::Routing;
use bomizzel_identity::{Caller, IdentityError, IdentityResult, Role, Shared, directory, ticket};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomKind {
    User,
    Team,
    Queue,
    Ticket,
    Company,
}

/// A parsed room name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub kind: RoomKind,
    pub id: String,
}

const ID_MAX: usize = 64;

impl Room {
    pub fn parse(name: &str) -> Result<Self, String> {
        let (kind, id) = name
            .split_once(':')
            .ok_or_else(|| format!("room {name:?} is not of the form kind:id"))?;
        let kind = match kind {
            "user" => RoomKind::User,
            "team" => RoomKind::Team,
            "queue" => RoomKind::Queue,
            "ticket" => RoomKind::Ticket,
            "company" => RoomKind::Company,
            other => {
                return Err(format!(
                    "unknown room kind {other:?}: expected user, team, queue, ticket or company"
                ));
            }
        };
        if id.is_empty() || id.len() > ID_MAX {
            return Err(format!("room id must be 1-{ID_MAX} characters"));
        }
        Ok(Self {
            kind,
            id: id.to_owned(),
        })
    }
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            RoomKind::User => "user",
            RoomKind::Team => "team",
            RoomKind::Queue => "queue",
            RoomKind::Ticket => "ticket",
            RoomKind::Company => "company",
        };
        write!(f, "{kind}:{}", self.id)
    }
}

/// Whether `caller` may be in `room`. A room whose ticket or queue cannot
/// be found is not joinable; a database outage is an error, not a denial,
/// so the client is told to retry rather than that it may not.
pub async fn may_join(state: &Shared, caller: &Caller, room: &Room) -> IdentityResult<bool> {
    Ok(admit(state, caller, room).await?.is_some())
}

/// Whether `caller` may be in `room` and, for a ticket's room, where the
/// ticket is now (presence lists are judged by it): `None` when refused,
/// an error when the database could not say.
pub async fn admit(
    state: &Shared,
    caller: &Caller,
    room: &Room,
) -> IdentityResult<Option<Option<Routing>>> {
    if room.kind == RoomKind::Ticket {
        return Ok(admit_to_ticket(state, caller, &room.id).await?.map(Some));
    }
    if matches!(caller.role, Role::Admin | Role::Analyst) {
        return Ok(Some(None));
    }
    let allowed = match room.kind {
        RoomKind::User => room.id == caller.user_id,
        RoomKind::Team => in_team(caller, &room.id),
        RoomKind::Company => {
            caller.role == Role::Customer && caller.company_id.as_deref() == Some(room.id.as_str())
        }
        RoomKind::Queue => match state.directory.team_of_queue(&room.id).await {
            Ok(team) => team.is_some_and(|team| in_team(caller, &team)),
            Err(error) if error.outage().is_some() => return Err(error),
            Err(_) => false,
        },
        RoomKind::Ticket => false,
    };
    Ok(allowed.then_some(None))
}

fn in_team(caller: &Caller, team: &str) -> bool {
    caller.role == Role::Agent && caller.team_ids.iter().any(|t| t == team)
}

/// The ticket's routing if `caller` may be in its room.
async fn admit_to_ticket(
    state: &Shared,
    caller: &Caller,
    id: &str,
) -> IdentityResult<Option<Routing>> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    let ticket = match ticket::load(&state.store, id, None).await {
        Ok(ticket) => ticket,
        Err(error) if error.outage().is_some() => return Err(error),
        Err(_) => return Ok(None),
    };
    let allowed = ticket.exists()
        && match caller.role {
            Role::Admin | Role::Analyst => true,
            Role::Customer => caller.company_id.as_deref() == Some(ticket.company_id()),
            Role::Agent => in_team(caller, ticket.team_id()),
            // Auditors read the log over HTTP; live, only their own room.
            Role::Auditor => false,
        };
    Ok(allowed.then(|| Routing::of(&ticket)))
}

/// The rooms a user is put in by default (Socket.IO connections): their own
/// room, and their teams' and those teams' queues' rooms for agents, their
/// company's room for customers. An error when an agent's queues cannot be
/// read (at once while the database is known to be away): a list without
/// them would look complete.
pub async fn default_rooms(state: &Shared, caller: &Caller) -> IdentityResult<Vec<String>> {
    let mut rooms = vec![format!("user:{}", caller.user_id)];
    match caller.role {
        Role::Customer => rooms.extend(caller.company_id.iter().map(|c| format!("company:{c}"))),
        Role::Agent => {
            rooms.extend(caller.team_ids.iter().map(|team| format!("team:{team}")));
            let queues = directory::queues_of_member(state.store.database(), &caller.user_id);
            let queues = state.store.health().unless_down(queues).await;
            let queues = queues.ok_or(IdentityError::Unreachable)??;
            rooms.extend(queues.into_iter().map(|q| format!("queue:{q}")));
        }
        // Auditors read the log over HTTP; live, only their own room.
        Role::Admin | Role::Analyst | Role::Auditor => {}
    }
    Ok(rooms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_rooms() {
        let room = Room::parse("queue:42").unwrap();
        assert_eq!(room.kind, RoomKind::Queue);
        assert_eq!(room.to_string(), "queue:42");
        assert!(Room::parse("queue").is_err());
        assert!(
            Room::parse("lobby:1")
                .unwrap_err()
                .contains("unknown room kind")
        );
        assert!(Room::parse("user:").is_err());
        assert!(Room::parse(&format!("user:{}", "x".repeat(65))).is_err());
    }
}
