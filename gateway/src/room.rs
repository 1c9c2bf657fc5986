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

use bomizzel_identity::{Caller, IdentityResult, Role, Shared, directory, ticket};
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
    if matches!(caller.role, Role::Admin | Role::Analyst) {
        return Ok(true);
    }
    let in_team =
        |team: &str| caller.role == Role::Agent && caller.team_ids.iter().any(|t| t == team);
    let allowed = match room.kind {
        RoomKind::User => room.id == caller.user_id,
        RoomKind::Team => in_team(&room.id),
        RoomKind::Company => {
            caller.role == Role::Customer && caller.company_id.as_deref() == Some(room.id.as_str())
        }
        RoomKind::Queue => match directory::team_of_queue(state.store.database(), &room.id).await {
            Ok(team) => team.is_some_and(|team| in_team(&team)),
            Err(error) if error.outage().is_some() => return Err(error),
            Err(_) => false,
        },
        RoomKind::Ticket => {
            let Ok(id) = Uuid::parse_str(&room.id) else {
                return Ok(false);
            };
            match ticket::load(&state.store, id, None).await {
                Ok(ticket) if ticket.exists() => match caller.role {
                    Role::Customer => caller.company_id.as_deref() == Some(ticket.company_id()),
                    _ => in_team(ticket.team_id()),
                },
                Err(error) if error.outage().is_some() => return Err(error),
                _ => false,
            }
        }
    };
    Ok(allowed)
}

/// The rooms a user is put in by default (Socket.IO connections): their own
/// room, and their teams' and those teams' queues' rooms for agents, their
/// company's room for customers.
pub async fn default_rooms(state: &Shared, caller: &Caller) -> Vec<String> {
    let mut rooms = vec![format!("user:{}", caller.user_id)];
    match caller.role {
        Role::Customer => rooms.extend(caller.company_id.iter().map(|c| format!("company:{c}"))),
        Role::Agent => {
            rooms.extend(caller.team_ids.iter().map(|team| format!("team:{team}")));
            let queues = directory::queues_of_member(state.store.database(), &caller.user_id).await;
            rooms.extend(queues.into_iter().flatten().map(|q| format!("queue:{q}")));
        }
        // Auditors read the log over HTTP; live, only their own room.
        Role::Admin | Role::Analyst | Role::Auditor => {}
    }
    rooms
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
