//! Each searchable text carries its scope as words of a column of its own:
//! its ticket's team, company and the ticket itself. A search ANDs the
//! scope words of the list's visibility and team or company filters into
//! its match, so the index walks only texts the caller may see: an agent's
//! search reads their teams' texts, not every match of the words (most of
//! which another team's tickets hold) to drop them one by one after a
//! ticket lookup.
//!
//! The scope words only narrow what is read: the list's conditions on
//! `tickets` still decide what is visible, so a text whose scope lags a
//! move can be missed for a moment but never shown to whom it should not.
//!
//! A scope word is a kind's two letters and each byte of the id as three
//! digits: one token for FTS5's tokenizer, ending in a digit so that no
//! stemmer changes it, and unlike any word of a ticket's text.

use crate::tickets::{TicketFilter, Visibility};

/// What a scope word names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Team,
    Company,
    Ticket,
}

/// The scope word naming `id` as a `kind`.
pub(crate) fn word(kind: Kind, id: &str) -> String {
    let prefix = match kind {
        Kind::Team => "zt",
        Kind::Company => "zc",
        Kind::Ticket => "zk",
    };
    let mut word = String::with_capacity(prefix.len() + 3 * id.len());
    word.push_str(prefix);
    for byte in id.bytes() {
        word.push_str(&format!("{byte:03}"));
    }
    word
}

/// The scope column of a text of `ticket`, in `team` and `company`.
pub(crate) fn column(ticket: &str, team: &str, company: &str) -> String {
    format!(
        "{} {} {}",
        word(Kind::Team, team),
        word(Kind::Company, company),
        word(Kind::Ticket, ticket)
    )
}

/// The scope words a text must hold to be listed for `filter`: every
/// group must match, by any of its words. Empty: any text.
pub(crate) fn required(filter: &TicketFilter) -> Vec<Vec<String>> {
    let mut groups = Vec::new();
    match &filter.visibility {
        Visibility::All => {}
        Visibility::Company(company) => groups.push(vec![word(Kind::Company, company)]),
        Visibility::Teams(teams) => {
            groups.push(teams.iter().map(|team| word(Kind::Team, team)).collect())
        }
    }
    groups.extend(
        filter
            .team_id
            .iter()
            .map(|team| vec![word(Kind::Team, team)]),
    );
    groups.extend(
        filter
            .company_id
            .iter()
            .map(|company| vec![word(Kind::Company, company)]),
    );
    // No team at all: the list's conditions answer nothing, and an empty
    // group would match any text.
    groups.retain(|group| !group.is_empty());
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_one_unstemmable_token_per_id() {
        assert_eq!(word(Kind::Team, "t-1"), "zt116045049");
        assert_ne!(word(Kind::Team, "ab"), word(Kind::Company, "ab"));
        assert_ne!(word(Kind::Team, "t-1"), word(Kind::Team, "t-10"));
        assert!(
            word(Kind::Ticket, "é")
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
    }

    #[test]
    fn a_filter_requires_its_visibility_and_team_and_company() {
        let filter = TicketFilter {
            team_id: Some("t-2".into()),
            ..TicketFilter::visible_to(Visibility::Teams(vec!["t-1".into(), "t-2".into()]))
        };
        assert_eq!(
            required(&filter),
            [
                vec![word(Kind::Team, "t-1"), word(Kind::Team, "t-2")],
                vec![word(Kind::Team, "t-2")]
            ]
        );
        assert!(required(&TicketFilter::visible_to(Visibility::Teams(vec![]))).is_empty());
        assert!(required(&TicketFilter::default()).is_empty());
    }
}
