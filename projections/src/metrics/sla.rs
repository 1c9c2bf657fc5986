//! [`SlaTargets`]: how soon after creation a ticket of each priority must be first assigned.

use bomizzel_domain::Priority;
use serde::{Deserialize, Serialize};

/// Longest wait from creation to first assignment, in seconds, per priority. A ticket waiting
/// exactly its target is on time; one second more is a breach.
///
/// Built from configuration: fields left out of a deserialized config keep their default
/// (urgent 15 min, high 1 h, medium 4 h, low 24 h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlaTargets {
    pub urgent_secs: u32,
    pub high_secs: u32,
    pub medium_secs: u32,
    pub low_secs: u32,
}

impl Default for SlaTargets {
    fn default() -> Self {
        Self::from_minutes(15, 60, 4 * 60, 24 * 60)
    }
}

impl SlaTargets {
    /// Targets given in minutes, as the command-line flags take them.
    pub fn from_minutes(urgent: u32, high: u32, medium: u32, low: u32) -> Self {
        let secs = |minutes: u32| minutes.saturating_mul(60);
        Self {
            urgent_secs: secs(urgent),
            high_secs: secs(high),
            medium_secs: secs(medium),
            low_secs: secs(low),
        }
    }

    /// The target of `priority`, in seconds.
    pub fn target_secs(&self, priority: Priority) -> i64 {
        i64::from(match priority {
            Priority::Urgent => self.urgent_secs,
            Priority::High => self.high_secs,
            Priority::Medium => self.medium_secs,
            Priority::Low => self.low_secs,
        })
    }
}
