//! The notifications a batch of events produces, shared by the inbox and
//! the room feed so both agree on every recipient and id.
//!
//! New tickets notify their team's members as listed in the directory's
//! `team_members` table *when the event is projected*: memberships are not
//! events, so a rebuild uses the memberships of its own time, and the inbox
//! and the feed may differ if memberships change between their runs.

use std::collections::{BTreeSet, HashMap};

use bomizzel_domain::TicketEvent;

use crate::db::ReadModelTx;
use crate::event::ProjectedEvent;
use crate::notifications::notification::Notification;
use crate::notifications::rules::recipients;
use crate::sql::{Args, fetch_in_tx, in_lists};

/// For each event of `events`, in order, the notifications it produces.
pub(crate) async fn plan(
    tx: &mut ReadModelTx<'_>,
    events: &[ProjectedEvent],
) -> Result<Vec<Vec<Notification>>, sqlx::Error> {
    let members = team_members(tx, events).await?;
    Ok(events
        .iter()
        .map(|event| {
            let team = match &event.event {
                TicketEvent::TicketCreated { team_id, .. } => members.get(team_id),
                _ => None,
            };
            recipients(event, team.map_or(&[], Vec::as_slice))
                .into_iter()
                .map(|recipient| Notification::new(event, recipient))
                .collect()
        })
        .collect())
}

/// The members of every team that gets a new ticket in `events`, by team,
/// each list sorted by user id.
async fn team_members(
    tx: &mut ReadModelTx<'_>,
    events: &[ProjectedEvent],
) -> Result<HashMap<String, Vec<String>>, sqlx::Error> {
    let teams: Vec<&str> = events
        .iter()
        .filter_map(|event| match &event.event {
            TicketEvent::TicketCreated { team_id, .. } => Some(team_id.as_str()),
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut members: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in in_lists(&teams) {
        let mut args = Args::for_tx(tx);
        let sql = format!(
            "SELECT team_id, user_id FROM team_members WHERE team_id IN ({}) \
             ORDER BY team_id, user_id",
            args.push_set(chunk.iter().copied())
        );
        let rows: Vec<(String, String)> = fetch_in_tx(tx, &sql, &args).await?;
        for (team, user) in rows {
            members.entry(team).or_default().push(user);
        }
    }
    Ok(members)
}
