//! A notification as the inbox stores it and the API returns it, and how
//! one is made from an event and a recipient (id, title, time).

use bomizzel_domain::{Priority, TicketEvent};
use serde::Serialize;
use time::OffsetDateTime;

use crate::event::ProjectedEvent;
use crate::notifications::rules::{Kind, Level, Recipient};

/// Longest ticket title quoted in a notification's title, in characters.
const QUOTED_TITLE_MAX_CHARS: usize = 80;

/// One entry of a user's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// `"<position>-<user_id>"`: stable across rebuilds, so read marks kept
    /// apart from the projection find their notification again.
    pub id: String,
    pub user_id: String,
    pub level: Level,
    pub kind: Kind,
    pub ticket_id: String,
    /// A short human text, e.g. "Status changed from Open to Resolved".
    pub title: String,
    /// The event's position in the log; newest first in the inbox.
    pub position: i64,
    /// When the event happened (its metadata's `occurred_at`).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the user read it, if they did.
    #[serde(with = "time::serde::rfc3339::option")]
    pub read_at: Option<OffsetDateTime>,
}

impl Notification {
    /// The unread notification telling `recipient` about `event`.
    pub fn new(event: &ProjectedEvent, recipient: Recipient) -> Self {
        Self {
            id: notification_id(event.position, &recipient.user_id),
            title: title(&event.event, recipient.kind),
            user_id: recipient.user_id,
            level: recipient.level,
            kind: recipient.kind,
            ticket_id: event.event.ticket_id().to_string(),
            position: event.position,
            created_at: event.occurred_at(),
            read_at: None,
        }
    }
}

/// The id of the notification telling `user_id` about the event at `position`.
pub fn notification_id(position: i64, user_id: &str) -> String {
    format!("{position}-{user_id}")
}

/// A short human text for a notification of `kind` about `event`.
fn title(event: &TicketEvent, kind: Kind) -> String {
    match event {
        TicketEvent::TicketCreated { title, .. } => format!("New ticket: {}", quote(title)),
        TicketEvent::TicketAssigned { .. } if kind == Kind::TicketUnassigned => {
            "Ticket reassigned to someone else".to_owned()
        }
        TicketEvent::TicketAssigned { .. } => "Ticket assigned to you".to_owned(),
        TicketEvent::TicketUnassigned { .. } => "Ticket unassigned".to_owned(),
        TicketEvent::TicketStatusChanged { from, to, .. } => {
            format!("Status changed from {} to {}", spoken(from), spoken(to))
        }
        TicketEvent::TicketPriorityChanged { from, to, .. } if *to == Priority::Urgent => {
            format!("Ticket is now urgent (was {})", spoken(from))
        }
        TicketEvent::TicketPriorityChanged { from, to, .. } => {
            format!("Priority changed from {} to {}", spoken(from), spoken(to))
        }
        TicketEvent::TicketUpdated {
            title: Some(change),
            ..
        } => format!("Ticket renamed to {}", quote(&change.to)),
        TicketEvent::TicketUpdated { .. } => "Ticket details updated".to_owned(),
        TicketEvent::TicketMoved { .. } => "Ticket moved to another queue".to_owned(),
        TicketEvent::CommentAdded { internal: true, .. } => "New internal comment".to_owned(),
        TicketEvent::CommentAdded { .. } => "New comment".to_owned(),
    }
}

/// A status or priority as people read it: `in_progress` is "In progress"
/// (notification titles are shown to people as they are).
fn spoken(name: impl std::fmt::Display) -> String {
    let words = name.to_string().replace('_', " ");
    let mut chars = words.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// `text` in quotes, cut to [`QUOTED_TITLE_MAX_CHARS`].
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTED_TITLE_MAX_CHARS) {
        Some((cut, _)) => format!("\"{}…\"", &text[..cut]),
        None => format!("\"{text}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_titles_are_cut_on_a_character_boundary() {
        let long = "é".repeat(QUOTED_TITLE_MAX_CHARS + 5);
        let quoted = quote(&long);
        assert_eq!(quoted.chars().count(), QUOTED_TITLE_MAX_CHARS + 3);
        assert!(quoted.ends_with("…\""));
        assert_eq!(quote("short"), "\"short\"");
    }

    #[test]
    fn statuses_and_priorities_read_as_words() {
        assert_eq!(spoken(bomizzel_domain::Status::InProgress), "In progress");
        assert_eq!(spoken(Priority::Urgent), "Urgent");
    }
}
