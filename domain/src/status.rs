//! Ticket [`Status`] and the status machine deciding which changes are allowed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::parse::{ParseValueError, parse_named};

/// Where a ticket is in its life cycle.
///
/// The status machine ([`can_transition`]); rows are the current status, columns the target,
/// `✓` = allowed, `·` = refused with `invalid_transition`, `–` = same status (not a transition:
/// asking for the current status changes nothing and appends no event):
///
/// | from \ to     | open | in_progress | waiting | resolved | closed |
/// |---------------|:----:|:-----------:|:-------:|:--------:|:------:|
/// | `open`        |  –   |      ✓      |    ✓    |    ✓     |   ✓    |
/// | `in_progress` |  ✓   |      –      |    ✓    |    ✓     |   ✓    |
/// | `waiting`     |  ✓   |      ✓      |    –    |    ✓     |   ✓    |
/// | `resolved`    |  ✓   |      ✓      |    ·    |    –     |   ✓    |
/// | `closed`      |  ✓   |      ·      |    ·    |    ·     |   –    |
///
/// A resolved ticket is either confirmed (closed) or reopened (open / in_progress); it does not
/// go back to waiting on the customer. A closed ticket can only be reopened, and while closed it
/// refuses every other command (see [`crate::DomainError::TicketClosed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// New or reopened; waiting for an agent. Every ticket starts here.
    #[default]
    Open,
    /// An agent is working on it.
    InProgress,
    /// Waiting for the requester or a third party.
    Waiting,
    /// An answer was given; the requester may confirm (close) or reopen.
    Resolved,
    /// Done. Read-only until reopened.
    Closed,
}

impl Status {
    /// Every status, in life-cycle order.
    pub const ALL: [Status; 5] = [
        Status::Open,
        Status::InProgress,
        Status::Waiting,
        Status::Resolved,
        Status::Closed,
    ];

    /// The wire name, identical to the serde representation.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Waiting => "waiting",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }
}

/// Whether the status machine allows moving from `from` to `to` (see the table on [`Status`]).
/// `false` when `from == to`: that is not a transition.
pub fn can_transition(from: Status, to: Status) -> bool {
    use Status::{Closed, InProgress, Open, Resolved, Waiting};
    matches!(
        (from, to),
        (Open, InProgress | Waiting | Resolved | Closed)
            | (InProgress, Open | Waiting | Resolved | Closed)
            | (Waiting, Open | InProgress | Resolved | Closed)
            | (Resolved, Open | InProgress | Closed)
            | (Closed, Open)
    )
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = ParseValueError;

    /// Accepts exactly the wire names (`open`, `in_progress`, ...), case-sensitive like serde.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        parse_named("status", input, &Self::ALL, Self::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::{Closed, InProgress, Open, Resolved, Waiting};

    #[test]
    fn transitions_match_the_documented_table() {
        let allowed = [
            (Open, InProgress),
            (Open, Waiting),
            (Open, Resolved),
            (Open, Closed),
            (InProgress, Open),
            (InProgress, Waiting),
            (InProgress, Resolved),
            (InProgress, Closed),
            (Waiting, Open),
            (Waiting, InProgress),
            (Waiting, Resolved),
            (Waiting, Closed),
            (Resolved, Open),
            (Resolved, InProgress),
            (Resolved, Closed),
            (Closed, Open),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                assert_eq!(
                    can_transition(from, to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn staying_in_the_same_status_is_not_a_transition() {
        for status in Status::ALL {
            assert!(!can_transition(status, status), "{status}");
        }
    }

    #[test]
    fn every_status_is_reachable_from_open() {
        let mut reached = vec![Open];
        let mut index = 0;
        while let Some(&from) = reached.get(index) {
            for to in Status::ALL {
                if can_transition(from, to) && !reached.contains(&to) {
                    reached.push(to);
                }
            }
            index += 1;
        }
        assert_eq!(reached.len(), Status::ALL.len());
    }

    #[test]
    fn display_from_str_and_serde_use_the_same_names() {
        for status in Status::ALL {
            let name = status.to_string();
            assert_eq!(name.parse::<Status>(), Ok(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::String(name)
            );
        }
        assert_eq!(InProgress.to_string(), "in_progress");
    }

    #[test]
    fn parsing_an_unknown_status_lists_the_valid_ones() {
        let error = "In_Progress".parse::<Status>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid status \"In_Progress\": expected one of open, in_progress, waiting, resolved, closed"
        );
    }
}
