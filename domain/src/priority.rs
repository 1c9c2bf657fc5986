//! Ticket [`Priority`], ordered so that sorting puts `urgent` last (`max()` is the most urgent).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::parse::{ParseValueError, parse_named};

/// How soon a ticket needs attention. `Ord` follows urgency: `Low < Medium < High < Urgent`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    /// The default when the caller has no opinion.
    #[default]
    Medium,
    High,
    Urgent,
}

impl Priority {
    /// Every priority, least urgent first.
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Medium,
        Priority::High,
        Priority::Urgent,
    ];

    /// The wire name, identical to the serde representation.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = ParseValueError;

    /// Accepts exactly the wire names (`low`, `medium`, `high`, `urgent`), case-sensitive like serde.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        parse_named("priority", input, &Self::ALL, Self::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgent_is_the_highest_and_low_the_lowest() {
        assert_eq!(Priority::ALL.iter().max(), Some(&Priority::Urgent));
        assert_eq!(Priority::ALL.iter().min(), Some(&Priority::Low));
        assert!(Priority::ALL.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn display_from_str_and_serde_use_the_same_names() {
        for priority in Priority::ALL {
            let name = priority.to_string();
            assert_eq!(name.parse::<Priority>(), Ok(priority));
            assert_eq!(
                serde_json::to_value(priority).unwrap(),
                serde_json::Value::String(name)
            );
        }
    }

    #[test]
    fn parsing_an_unknown_priority_lists_the_valid_ones() {
        let error = "critical".parse::<Priority>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid priority \"critical\": expected one of low, medium, high, urgent"
        );
    }
}
