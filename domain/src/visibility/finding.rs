//! What finding tickets may reveal: full-text search and the ticket list's
//! filters answer with tickets, so what makes a ticket match must be
//! something the viewer may read, or the match itself tells them.
//!
//! - A search matches a ticket's title, description and comments; internal
//!   comments only for staff ([`Viewer::searches_internal_comments`]), so a
//!   word written only in an internal comment never finds a ticket for a
//!   customer, nor shows in their snippet.
//! - A list may be filtered or sorted by a field only by viewers who see
//!   that field ([`Viewer::may_filter_by`]): customers neither filter by
//!   queue, team, tag or SLA state nor sort by SLA due time.
//! - Which tickets are listed at all is [`Viewer::may_see`], as everywhere.

use super::Viewer;

impl Viewer<'_> {
    /// Whether internal comments may make a ticket match the viewer's
    /// search (and appear in its snippet): staff only.
    pub fn searches_internal_comments(&self) -> bool {
        self.is_staff()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_staff_search_internal_comments() {
        let teams = ["t-1".to_owned()];
        let viewers = [
            (Viewer::Desk { user_id: "admin" }, true),
            (
                Viewer::Agent {
                    user_id: "agent",
                    team_ids: &teams,
                },
                true,
            ),
            (
                Viewer::Customer {
                    user_id: "customer",
                    company_id: Some("acme"),
                },
                false,
            ),
        ];
        for (viewer, expected) in viewers {
            assert_eq!(viewer.searches_internal_comments(), expected, "{viewer:?}");
            assert_eq!(viewer.may_filter_by("sla"), expected, "{viewer:?}");
        }
    }
}
