//! Who reads the audit trail: every event of every stream exactly as
//! stored, with its hashes, directory changes included. It is shown whole
//! or not at all, since redacting an event (a customer's view) would break
//! the hashes that prove it; so only auditors, who see everything anyway,
//! read it.

use super::Viewer;

impl Viewer<'_> {
    /// Whether the viewer may read the audit trail: ticket exports, the
    /// directory's history and the chain head.
    pub fn may_read_audit_trail(&self) -> bool {
        matches!(self, Viewer::Auditor { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_auditors_read_the_audit_trail() {
        let teams = ["t1".to_owned()];
        let table = [
            (Viewer::Auditor { user_id: "u" }, true),
            (Viewer::Desk { user_id: "u" }, false),
            (
                Viewer::Agent {
                    user_id: "u",
                    team_ids: &teams,
                },
                false,
            ),
            (
                Viewer::Customer {
                    user_id: "u",
                    company_id: Some("c"),
                },
                false,
            ),
        ];
        for (viewer, expected) in table {
            assert_eq!(viewer.may_read_audit_trail(), expected, "{viewer:?}");
        }
    }

    #[test]
    fn auditors_see_every_ticket_and_every_field_as_staff() {
        let auditor = Viewer::Auditor { user_id: "u" };
        assert!(auditor.is_staff());
        assert!(auditor.may_see("any-company", "any-team"));
    }
}
