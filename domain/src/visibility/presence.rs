//! Who is shown on a presence list ("who is viewing or replying on this
//! ticket", "who of the team is around"), part of the one visibility
//! policy so that `/ws`, Socket.IO and `GET /api/tickets/{id}/presence`
//! show the same list to the same viewer.
//!
//! - Presence on a ticket is for those who may see the ticket: a member is
//!   listed only while [`Viewer::may_see`] holds for them, and only viewers
//!   who may see it are shown the list. Losing access (a move, a membership
//!   change) takes a member off the list with the access itself.
//! - Staff are shown every member with name and activity, customers
//!   included.
//! - A customer is shown staff only while they are `replying`, as their
//!   role (no user, no name unless the member's name is public), never
//!   `viewing` or `noting` (an internal note is staff business), and no
//!   other customers.
//! - A team's list (`online` entries) holds the team's agents.
//!
//! Pure like the rest of the policy; `tests` below are its table.

use serde::{Deserialize, Serialize};

use super::Viewer;

/// What a member is doing. Ordered by weight: a user present through
/// several connections is listed with the heaviest of their activities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// Connected to a team's room (the team's "who's around").
    Online,
    /// Has the ticket open.
    Viewing,
    /// Writing an internal note.
    Noting,
    /// Writing a reply the customer will read.
    Replying,
}

impl Activity {
    /// The activities a client may announce in a ticket's room.
    pub const ANNOUNCED: [Activity; 3] = [Activity::Viewing, Activity::Replying, Activity::Noting];

    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Online => "online",
            Activity::Viewing => "viewing",
            Activity::Noting => "noting",
            Activity::Replying => "replying",
        }
    }

    /// An activity a client announces, by its name.
    pub fn announced(name: &str) -> Option<Self> {
        Self::ANNOUNCED
            .into_iter()
            .find(|activity| activity.as_str() == name)
    }

    /// Typing activities lapse back to viewing unless renewed.
    pub fn is_typing(self) -> bool {
        matches!(self, Activity::Noting | Activity::Replying)
    }
}

/// One member of a presence list, as far as the policy needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Present {
    pub is_staff: bool,
    pub activity: Activity,
    /// The directory lets customers see this member's name.
    pub name_public: bool,
}

/// How much of a member a viewer is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Not listed at all.
    Nothing,
    /// Role, activity and since: no user id, no name.
    Role,
    /// User id, name, role, activity and since.
    Whole,
}

impl Viewer<'_> {
    /// How much of `member` the viewer is shown on the presence list of a
    /// ticket the viewer may see.
    pub fn shown_presence(&self, member: Present) -> Shown {
        if self.is_staff() {
            return Shown::Whole;
        }
        match (member.is_staff, member.activity, member.name_public) {
            (true, Activity::Replying, true) => Shown::Whole,
            (true, Activity::Replying, false) => Shown::Role,
            _ => Shown::Nothing,
        }
    }

    /// Whether the viewer belongs on `team_id`'s list of who is online:
    /// agents of the team.
    pub fn online_in_team(&self, team_id: &str) -> bool {
        matches!(self, Viewer::Agent { team_ids, .. } if team_ids.iter().any(|team| team == team_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAMS: &[String] = &[];

    fn agent(teams: &[String]) -> Viewer<'_> {
        Viewer::Agent {
            user_id: "agent-1",
            team_ids: teams,
        }
    }

    fn customer() -> Viewer<'static> {
        Viewer::Customer {
            user_id: "cust-1",
            company_id: Some("acme"),
        }
    }

    fn desk() -> Viewer<'static> {
        Viewer::Desk { user_id: "admin-1" }
    }

    fn staff(activity: Activity, name_public: bool) -> Present {
        Present {
            is_staff: true,
            activity,
            name_public,
        }
    }

    fn a_customer(activity: Activity) -> Present {
        Present {
            is_staff: false,
            activity,
            name_public: true,
        }
    }

    #[test]
    fn who_is_shown_whom() {
        use Activity::*;
        let rows: &[(Viewer<'_>, Present, Shown)] = &[
            // Staff see everyone, customers included.
            (agent(TEAMS), staff(Viewing, false), Shown::Whole),
            (agent(TEAMS), staff(Noting, false), Shown::Whole),
            (agent(TEAMS), staff(Replying, false), Shown::Whole),
            (agent(TEAMS), a_customer(Viewing), Shown::Whole),
            (agent(TEAMS), a_customer(Replying), Shown::Whole),
            (desk(), staff(Noting, false), Shown::Whole),
            (desk(), a_customer(Viewing), Shown::Whole),
            // Customers: staff only while replying, by role unless named publicly.
            (customer(), staff(Replying, false), Shown::Role),
            (customer(), staff(Replying, true), Shown::Whole),
            (customer(), staff(Viewing, true), Shown::Nothing),
            (customer(), staff(Noting, true), Shown::Nothing),
            (customer(), staff(Noting, false), Shown::Nothing),
            (customer(), staff(Online, true), Shown::Nothing),
            // ... and never other customers.
            (customer(), a_customer(Viewing), Shown::Nothing),
            (customer(), a_customer(Replying), Shown::Nothing),
        ];
        for (viewer, member, shown) in rows {
            assert_eq!(
                viewer.shown_presence(*member),
                *shown,
                "{viewer:?} shown {member:?}"
            );
        }
    }

    #[test]
    fn team_lists_hold_the_teams_agents() {
        let teams = ["t-1".to_owned()];
        assert!(agent(&teams).online_in_team("t-1"));
        assert!(!agent(&teams).online_in_team("t-2"));
        assert!(!desk().online_in_team("t-1"));
        assert!(!customer().online_in_team("t-1"));
    }

    #[test]
    fn clients_announce_viewing_replying_and_noting_only() {
        assert_eq!(Activity::announced("replying"), Some(Activity::Replying));
        assert_eq!(Activity::announced("noting"), Some(Activity::Noting));
        assert_eq!(Activity::announced("viewing"), Some(Activity::Viewing));
        assert_eq!(Activity::announced("online"), None);
        assert_eq!(Activity::announced("left"), None);
        assert!(Activity::Replying > Activity::Noting && Activity::Noting > Activity::Viewing);
    }
}
