//! Errors of this crate: refused commands ([`DomainError`]) and unreadable stored events
//! ([`DecodeError`]). Unknown status or priority names are `parse`'s, which `status`
//! uses: this module depends on `status`, not the other way round.

use thiserror::Error;

use crate::limits::{
    COMMENT_BODY_MAX_CHARS, DESCRIPTION_MAX_CHARS, ID_MAX_CHARS, MAX_TAGS, TAG_MAX_CHARS,
    TITLE_MAX_CHARS,
};
use crate::status::Status;

/// Why a command was refused. When `handle` returns one, no event was appended.
///
/// [`DomainError::code`] is a stable machine code; the suggested HTTP mapping is:
///
/// | code                 | HTTP | variants                                |
/// |----------------------|------|-----------------------------------------|
/// | `validation_failed`  | 422  | input rules (see [`DomainError::field`]) |
/// | `invalid_transition` | 409  | [`DomainError::InvalidTransition`]      |
/// | `ticket_closed`      | 409  | [`DomainError::TicketClosed`]           |
/// | `already_exists`     | 409  | [`DomainError::AlreadyExists`]          |
/// | `not_found`          | 404  | [`DomainError::NotFound`]               |
///
/// Lengths are counted in Unicode scalar values (`char`s), not bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("title must be 1-{max} characters (got {got})", max = TITLE_MAX_CHARS)]
    TitleLength { got: usize },
    #[error("title must not be blank")]
    TitleBlank,
    #[error("description must be at most {max} characters (got {got})", max = DESCRIPTION_MAX_CHARS)]
    DescriptionTooLong { got: usize },
    /// `got` counts distinct tags after normalization.
    #[error("at most {max} tags allowed (got {got})", max = MAX_TAGS)]
    TooManyTags { got: usize },
    /// `got` is the length of the offending tag after trimming and lowercasing.
    #[error("tag must be 1-{max} characters (got {got})", max = TAG_MAX_CHARS)]
    TagLength { got: usize },
    #[error("comment body must be 1-{max} characters (got {got})", max = COMMENT_BODY_MAX_CHARS)]
    CommentBodyLength { got: usize },
    #[error("comment body must not be blank")]
    CommentBodyBlank,
    /// `field` holds a control character (U+0000-U+001F); multi-line text
    /// may have line breaks and tabs.
    #[error("{field} must not contain control characters{allowed}", allowed = if *multi_line { " other than line breaks and tabs" } else { "" })]
    ControlCharacter {
        field: &'static str,
        multi_line: bool,
    },
    /// `field` is the command field holding the id, e.g. `assignee_id`.
    #[error("{field} must be 1-{max} characters (got {got})", max = ID_MAX_CHARS)]
    IdLength { field: &'static str, got: usize },
    #[error("invalid status transition from {from} to {to}")]
    InvalidTransition { from: Status, to: Status },
    #[error("ticket already exists")]
    AlreadyExists,
    #[error("ticket does not exist")]
    NotFound,
    /// Any command but a status change on a closed ticket.
    #[error("ticket is closed: reopen it first")]
    TicketClosed,
}

/// What kind of refusal an error is, for whoever answers the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The command breaks an input rule: fix the request.
    Invalid,
    /// The ticket's state does not allow it now.
    Conflict,
    /// There is no such ticket.
    Missing,
}

impl DomainError {
    /// The kind of refusal, by variant: a new variant does not compile
    /// until it is given one.
    pub fn refusal(&self) -> Refusal {
        match self {
            DomainError::NotFound => Refusal::Missing,
            DomainError::InvalidTransition { .. }
            | DomainError::TicketClosed
            | DomainError::AlreadyExists => Refusal::Conflict,
            DomainError::TitleLength { .. }
            | DomainError::TitleBlank
            | DomainError::DescriptionTooLong { .. }
            | DomainError::TooManyTags { .. }
            | DomainError::TagLength { .. }
            | DomainError::CommentBodyLength { .. }
            | DomainError::CommentBodyBlank
            | DomainError::ControlCharacter { .. }
            | DomainError::IdLength { .. } => Refusal::Invalid,
        }
    }

    /// Stable machine-readable code, for API responses and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::InvalidTransition { .. } => "invalid_transition",
            DomainError::AlreadyExists => "already_exists",
            DomainError::NotFound => "not_found",
            DomainError::TicketClosed => "ticket_closed",
            _ => "validation_failed",
        }
    }

    /// The command field a `validation_failed` error is about (`title`, `description`, `tags`,
    /// `body`, or an id field such as `queue_id`), so a client can highlight it. `None` for
    /// the other codes.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            DomainError::TitleLength { .. } | DomainError::TitleBlank => Some("title"),
            DomainError::DescriptionTooLong { .. } => Some("description"),
            DomainError::TooManyTags { .. } | DomainError::TagLength { .. } => Some("tags"),
            DomainError::CommentBodyLength { .. } | DomainError::CommentBodyBlank => Some("body"),
            DomainError::IdLength { field, .. } | DomainError::ControlCharacter { field, .. } => {
                Some(field)
            }
            DomainError::InvalidTransition { .. }
            | DomainError::AlreadyExists
            | DomainError::NotFound
            | DomainError::TicketClosed => None,
        }
    }
}

/// Why a stored event could not be turned back into a [`crate::TicketEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("unknown event type {event_type:?} (known: {known})")]
    UnknownEventType { event_type: String, known: String },
    #[error(
        "unsupported schema version {schema_version} for {event_type} (this build reads versions 1 to {current})"
    )]
    UnsupportedSchemaVersion {
        event_type: String,
        schema_version: i32,
        current: i32,
    },
    /// `message` is serde's explanation, e.g. "missing field `title`".
    #[error("malformed {event_type} payload (schema version {schema_version}): {message}")]
    MalformedPayload {
        event_type: String,
        schema_version: i32,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let cases = [
            (DomainError::TitleLength { got: 0 }, "validation_failed"),
            (DomainError::TitleBlank, "validation_failed"),
            (
                DomainError::DescriptionTooLong { got: 20_001 },
                "validation_failed",
            ),
            (DomainError::TooManyTags { got: 21 }, "validation_failed"),
            (DomainError::TagLength { got: 0 }, "validation_failed"),
            (
                DomainError::CommentBodyLength { got: 0 },
                "validation_failed",
            ),
            (DomainError::CommentBodyBlank, "validation_failed"),
            (
                DomainError::IdLength {
                    field: "queue_id",
                    got: 0,
                },
                "validation_failed",
            ),
            (
                DomainError::InvalidTransition {
                    from: Status::Closed,
                    to: Status::Waiting,
                },
                "invalid_transition",
            ),
            (DomainError::AlreadyExists, "already_exists"),
            (DomainError::NotFound, "not_found"),
            (DomainError::TicketClosed, "ticket_closed"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "{error}");
            assert_eq!(
                error.field().is_some(),
                code == "validation_failed",
                "{error}"
            );
        }
    }

    #[test]
    fn validation_errors_name_their_field() {
        assert_eq!(DomainError::TitleBlank.field(), Some("title"));
        assert_eq!(DomainError::TagLength { got: 51 }.field(), Some("tags"));
        assert_eq!(DomainError::CommentBodyBlank.field(), Some("body"));
        let id_error = DomainError::IdLength {
            field: "assignee_id",
            got: 65,
        };
        assert_eq!(id_error.field(), Some("assignee_id"));
        assert_eq!(
            id_error.to_string(),
            "assignee_id must be 1-64 characters (got 65)"
        );
    }

    #[test]
    fn messages_state_the_rule_and_the_offending_value() {
        assert_eq!(
            DomainError::TitleLength { got: 0 }.to_string(),
            "title must be 1-200 characters (got 0)"
        );
        assert_eq!(
            DomainError::DescriptionTooLong { got: 20_001 }.to_string(),
            "description must be at most 20000 characters (got 20001)"
        );
        assert_eq!(
            DomainError::TooManyTags { got: 21 }.to_string(),
            "at most 20 tags allowed (got 21)"
        );
        assert_eq!(
            DomainError::TagLength { got: 51 }.to_string(),
            "tag must be 1-50 characters (got 51)"
        );
        assert_eq!(
            DomainError::CommentBodyLength { got: 10_001 }.to_string(),
            "comment body must be 1-10000 characters (got 10001)"
        );
        assert_eq!(
            DomainError::InvalidTransition {
                from: Status::Closed,
                to: Status::InProgress
            }
            .to_string(),
            "invalid status transition from closed to in_progress"
        );
        assert_eq!(
            DomainError::TicketClosed.to_string(),
            "ticket is closed: reopen it first"
        );
        assert_eq!(DomainError::NotFound.to_string(), "ticket does not exist");
        assert_eq!(
            DomainError::AlreadyExists.to_string(),
            "ticket already exists"
        );
    }
}
