//! Changes to the directory as events of the log: who was given or lost
//! access, when and by whom, so that "who could see this ticket when" is
//! answerable from the log alone. Each directory entity (company, team,
//! queue, user) has a stream of its own, named by [`stream_id`]; ticket
//! streams are UUIDs, so the two never collide, and projections of tickets
//! pass over directory streams ([`is_directory_stream`]).
//!
//! The directory's tables are written in the same transaction as these
//! events (see ARCHITECTURE.md); the events are the record, the tables
//! what permission checks read.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What every directory stream's id starts with.
pub const STREAM_PREFIX: &str = "directory:";

/// The directory's kinds of entity, each with streams of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Company,
    Team,
    Queue,
    User,
}

/// The stream of one directory entity: `directory:user:alice`.
pub fn stream_id(entity: Entity, id: &str) -> String {
    let kind = match entity {
        Entity::Company => "company",
        Entity::Team => "team",
        Entity::Queue => "queue",
        Entity::User => "user",
    };
    format!("{STREAM_PREFIX}{kind}:{id}")
}

/// Whether `stream_id` is a directory entity's stream rather than a ticket's.
pub fn is_directory_stream(stream_id: &str) -> bool {
    stream_id.starts_with(STREAM_PREFIX)
}

/// One change to the directory. The acting admin (or, for a logout, the
/// user) is the event's metadata actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectoryEvent {
    CompanyCreated {
        name: String,
    },
    CompanyRenamed {
        name: String,
    },
    TeamCreated {
        name: String,
    },
    TeamRenamed {
        name: String,
    },
    /// A queue was created or changed: its name and the team that owns
    /// (and whose agents see) its tickets.
    QueueSaved {
        name: String,
        team_id: String,
    },
    /// A user was created or changed: the whole of what grants access.
    UserSaved {
        name: String,
        role: String,
        company_id: Option<String>,
        team_ids: Vec<String>,
    },
    /// Tokens issued before `not_before_unix` are refused (logout, or an
    /// admin ending the user's sessions).
    SessionsRevoked {
        not_before_unix: i64,
    },
    /// Every token of the user is refused until enabled again.
    UserDisabled,
    UserEnabled,
}

impl DirectoryEvent {
    /// The event's type and payload as the log stores them.
    pub fn to_stored(&self) -> (String, Value) {
        match serde_json::to_value(self) {
            Ok(Value::Object(tagged)) => match tagged.into_iter().next() {
                Some((event_type, payload)) => (event_type, payload),
                None => (String::new(), Value::Object(Map::new())),
            },
            Ok(Value::String(event_type)) => (event_type, Value::Object(Map::new())),
            _ => (String::new(), Value::Object(Map::new())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_stored_as_their_type_and_a_payload_object() {
        let saved = DirectoryEvent::QueueSaved {
            name: "Billing".into(),
            team_id: "t1".into(),
        };
        assert_eq!(
            saved.to_stored(),
            (
                "QueueSaved".to_owned(),
                json!({ "name": "Billing", "team_id": "t1" })
            )
        );
        assert_eq!(
            DirectoryEvent::UserDisabled.to_stored(),
            ("UserDisabled".to_owned(), json!({}))
        );
    }

    #[test]
    fn directory_streams_are_told_apart_from_tickets() {
        let stream = stream_id(Entity::User, "alice");
        assert_eq!(stream, "directory:user:alice");
        assert!(is_directory_stream(&stream));
        assert!(!is_directory_stream("0190a0c4-0000-7000-8000-000000000001"));
    }
}
