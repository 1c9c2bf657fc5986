//! SLA due times of a ticket: when its first response (first assignment, as
//! the queue metrics count it) and its resolution are due, and whether they
//! were met, are pending or are breached. One definition, in two forms: for
//! a row in Rust ([`DueTimes::assess`], what every ticket answer carries),
//! and as SQL over the `tickets` columns ([`DueTimes::state_condition`],
//! [`DueTimes::due_key_sql`], what the list filters and sorts by); the
//! tests below hold the two to the same answers.
//!
//! - First response: due `target(priority)` after creation, with the
//!   priority the ticket had when first assigned (its current one while
//!   unassigned); met by the first assignment, or by the resolution of a
//!   ticket resolved without one.
//! - Resolution: due `target(current priority)` after creation; met by the
//!   standing resolution (resolved, or closed without being resolved); a
//!   reopened ticket is pending again.
//! - A target met late is `missed`; a pending one past its due time is
//!   `breached`, one due within the due-soon threshold is `due_soon`.
//! - The ticket's state: `breached` if either target was missed or is
//!   breached, else `due_soon` if either is, else `ok`. Its due time (the
//!   `sla_due` sort) is the earliest pending due time, none when both are met.
//!
//! The targets come from configuration, not from events: the due times are
//! computed when asked, so changing a target changes every answer at once
//! and a rebuild is never needed.

use std::fmt::Write;
use std::str::FromStr;

use serde::Serialize;
use time::OffsetDateTime;

use super::row::{TicketRow, priority_rank};
use crate::metrics::SlaTargets;
use crate::notifications::parse_named;

/// The key of tickets with nothing pending in the `sla_due` sort: after
/// every due time.
pub(super) const NOTHING_DUE: i64 = i64::MAX;

/// The targets and the due-soon threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTimes {
    /// From creation to first assignment (the queue metrics' targets).
    pub first_response: SlaTargets,
    /// From creation to resolution.
    pub resolution: SlaTargets,
    /// A pending target due within this many seconds is `due_soon`.
    pub due_soon_secs: i64,
}

impl Default for DueTimes {
    fn default() -> Self {
        Self {
            first_response: SlaTargets::default(),
            resolution: SlaTargets::from_minutes(4 * 60, 24 * 60, 3 * 24 * 60, 7 * 24 * 60),
            due_soon_secs: 30 * 60,
        }
    }
}

/// A ticket's state against its targets, as the list filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaState {
    Breached,
    DueSoon,
    Ok,
}

impl SlaState {
    pub const ALL: [SlaState; 3] = [Self::Breached, Self::DueSoon, Self::Ok];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Breached => "breached",
            Self::DueSoon => "due_soon",
            Self::Ok => "ok",
        }
    }
}

impl FromStr for SlaState {
    type Err = String;
    fn from_str(input: &str) -> Result<Self, String> {
        parse_named("SLA state", &Self::ALL, Self::as_str, input)
    }
}

/// One target's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    /// Met in time.
    Met,
    /// Met after its due time.
    Missed,
    /// Not met, due later than the due-soon threshold.
    Pending,
    /// Not met, due within the threshold.
    DueSoon,
    /// Not met, past its due time.
    Breached,
}

/// One target of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    pub state: TargetState,
}

/// A ticket's SLA, as its answers carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sla {
    pub first_response: Target,
    pub resolution: Target,
    pub state: SlaState,
    /// The earliest pending due time; `None` when both targets are met.
    #[serde(with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
}

impl DueTimes {
    /// The SLA of `row` at `now`.
    pub fn assess(&self, row: &TicketRow, now: OffsetDateTime) -> Sla {
        let now = now.unix_timestamp();
        let created = row.created_at.unix_timestamp();
        let rank = priority_rank(row.priority);
        let done = row.done_at().map(OffsetDateTime::unix_timestamp);
        let first_response_due = created
            + target(
                &self.first_response,
                row.first_assigned_rank.unwrap_or(rank),
            );
        let first_response_met = row
            .first_assigned_at
            .map(OffsetDateTime::unix_timestamp)
            .or(done);
        let resolution_due = created + target(&self.resolution, rank);
        let first_response = self.target(first_response_due, first_response_met, now);
        let resolution = self.target(resolution_due, done, now);
        let states = [first_response.state, resolution.state];
        let state = if states
            .iter()
            .any(|s| matches!(s, TargetState::Missed | TargetState::Breached))
        {
            SlaState::Breached
        } else if states.contains(&TargetState::DueSoon) {
            SlaState::DueSoon
        } else {
            SlaState::Ok
        };
        let due = match (first_response_met, done) {
            (None, _) => Some(first_response_due.min(resolution_due)),
            (Some(_), None) => Some(resolution_due),
            (Some(_), Some(_)) => None,
        };
        Sla {
            first_response,
            resolution,
            state,
            due_at: due.map(at_unix),
        }
    }

    fn target(&self, due: i64, met: Option<i64>, now: i64) -> Target {
        let state = match met {
            Some(met) if met <= due => TargetState::Met,
            Some(_) => TargetState::Missed,
            None if now > due => TargetState::Breached,
            None if due - now <= self.due_soon_secs => TargetState::DueSoon,
            None => TargetState::Pending,
        };
        Target {
            due_at: at_unix(due),
            state,
        }
    }

    /// SQL true for the tickets in `state` at `now` (unix seconds). Only
    /// numbers from configuration and the clock are written into it.
    pub(super) fn state_condition(&self, state: SlaState, now: i64) -> String {
        let soon = now.saturating_add(self.due_soon_secs);
        let (fr_due, fr_met, res_due) = self.expressions();
        let breached = format!(
            "(COALESCE({fr_met}, {now}) > {fr_due} OR COALESCE(done_unix, {now}) > {res_due})"
        );
        let due_soon = format!(
            "(({fr_met}) IS NULL AND {fr_due} <= {soon} OR done_unix IS NULL AND {res_due} <= {soon})"
        );
        match state {
            SlaState::Breached => breached,
            SlaState::DueSoon => format!("(NOT {breached} AND {due_soon})"),
            SlaState::Ok => format!("(NOT {breached} AND NOT {due_soon})"),
        }
    }

    /// SQL for the `sla_due` sort key: the earliest pending due time in
    /// unix seconds, [`NOTHING_DUE`] when both targets are met.
    pub(super) fn due_key_sql(&self) -> String {
        let (fr_due, fr_met, res_due) = self.expressions();
        // While the first response is pending the resolution is too (it
        // would have met the first response), so the earlier of the two.
        format!(
            "(CASE WHEN ({fr_met}) IS NULL AND {fr_due} < {res_due} THEN {fr_due} \
             WHEN done_unix IS NULL THEN {res_due} ELSE {NOTHING_DUE} END)"
        )
    }

    /// The first response's due time and when it was met, and the
    /// resolution's due time, as SQL over `tickets`.
    fn expressions(&self) -> (String, String, String) {
        let fr_due = format!(
            "(created_unix + {})",
            targets_sql(
                &self.first_response,
                "COALESCE(first_assigned_rank, priority_rank)"
            )
        );
        let fr_met = "COALESCE(first_assigned_unix, done_unix)".to_owned();
        let res_due = format!(
            "(created_unix + {})",
            targets_sql(&self.resolution, "priority_rank")
        );
        (fr_due, fr_met, res_due)
    }
}

fn target(targets: &SlaTargets, rank: i64) -> i64 {
    i64::from(match rank {
        4 => targets.urgent_secs,
        3 => targets.high_secs,
        2 => targets.medium_secs,
        _ => targets.low_secs,
    })
}

/// `CASE rank WHEN 4 THEN urgent ... END` with the targets written in.
fn targets_sql(targets: &SlaTargets, rank: &str) -> String {
    let mut sql = format!("(CASE {rank}");
    for rank in [4, 3, 2] {
        let _ = write!(sql, " WHEN {rank} THEN {}", target(targets, rank));
    }
    let _ = write!(sql, " ELSE {} END)", target(targets, 1));
    sql
}

fn at_unix(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use bomizzel_domain::{Priority, Status};
    use time::Duration;
    use uuid::Uuid;

    use super::*;

    const NOW: i64 = 1_000_000;

    /// A ticket created `age` seconds before [`NOW`] at `priority`.
    fn ticket(n: u128, age: i64, priority: Priority) -> TicketRow {
        let created = at_unix(NOW - age);
        TicketRow {
            id: Uuid::from_u128(n),
            number: n as i64,
            title: "t".into(),
            description: String::new(),
            company_id: "c".into(),
            requester_id: "r".into(),
            queue_id: "q".into(),
            team_id: "t".into(),
            assignee_id: None,
            status: Status::Open,
            priority,
            tags: vec![],
            public_comment_count: 0,
            internal_comment_count: 0,
            version: 1,
            customer_version: 1,
            created_position: n as i64,
            updated_position: n as i64,
            created_at: created,
            updated_at: created,
            first_assigned_at: None,
            first_assigned_rank: None,
            resolved_at: None,
            closed_at: None,
        }
    }

    fn assigned(mut row: TicketRow, after: i64, rank: i64) -> TicketRow {
        row.first_assigned_at = Some(row.created_at + Duration::seconds(after));
        row.first_assigned_rank = Some(rank);
        row
    }

    fn resolved(mut row: TicketRow, after: i64) -> TicketRow {
        row.status = Status::Resolved;
        row.resolved_at = Some(row.created_at + Duration::seconds(after));
        row
    }

    /// Targets: first response 100 s (urgent) .. 400 s (low), resolution
    /// 1,000 .. 4,000 s; due soon within 50 s.
    fn due_times() -> DueTimes {
        let secs = |u, h, m, l| SlaTargets {
            urgent_secs: u,
            high_secs: h,
            medium_secs: m,
            low_secs: l,
        };
        DueTimes {
            first_response: secs(100, 200, 300, 400),
            resolution: secs(1000, 2000, 3000, 4000),
            due_soon_secs: 50,
        }
    }

    fn cases() -> Vec<(TicketRow, SlaState)> {
        use Priority::*;
        vec![
            (ticket(1, 10, Urgent), SlaState::Ok),
            (ticket(2, 60, Urgent), SlaState::DueSoon),
            (ticket(3, 101, Urgent), SlaState::Breached),
            (assigned(ticket(4, 500, Urgent), 90, 4), SlaState::Ok),
            (assigned(ticket(5, 500, Urgent), 110, 4), SlaState::Breached),
            // Assigned while low (400 s), urgent now: judged as low.
            (assigned(ticket(6, 500, Urgent), 300, 1), SlaState::Ok),
            (assigned(ticket(7, 960, Urgent), 10, 4), SlaState::DueSoon),
            (
                resolved(assigned(ticket(8, 5000, Low), 10, 1), 3999),
                SlaState::Ok,
            ),
            (
                resolved(assigned(ticket(9, 5000, Low), 10, 1), 4001),
                SlaState::Breached,
            ),
            // Resolved without an assignment: that met the first response too.
            (resolved(ticket(10, 5000, Medium), 250), SlaState::Ok),
            (resolved(ticket(11, 5000, Medium), 301), SlaState::Breached),
        ]
    }

    #[test]
    fn states_follow_the_targets() {
        let due = due_times();
        for (row, expected) in cases() {
            assert_eq!(
                due.assess(&row, at_unix(NOW)).state,
                expected,
                "ticket {}",
                row.number
            );
        }
        let fresh = due.assess(&ticket(1, 10, Priority::Urgent), at_unix(NOW));
        assert_eq!(fresh.first_response.state, TargetState::Pending);
        assert_eq!(fresh.due_at, Some(at_unix(NOW - 10 + 100)));
        let done = due.assess(&cases()[7].0, at_unix(NOW));
        assert_eq!(done.due_at, None);
    }

    /// The SQL twin answers as `assess` does, on a table with the columns
    /// of `tickets` the SQL reads.
    #[tokio::test]
    async fn the_sql_agrees_with_assess() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        sqlx::query(
            "CREATE TABLE tickets (number INTEGER, created_unix INTEGER, priority_rank INTEGER, \
             first_assigned_unix INTEGER, first_assigned_rank INTEGER, done_unix INTEGER)",
        )
        .execute(&pool)
        .await
        .unwrap();
        let due = due_times();
        for (row, _) in cases() {
            sqlx::query("INSERT INTO tickets VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(row.number)
                .bind(row.created_at.unix_timestamp())
                .bind(priority_rank(row.priority))
                .bind(row.first_assigned_at.map(OffsetDateTime::unix_timestamp))
                .bind(row.first_assigned_rank)
                .bind(row.done_at().map(OffsetDateTime::unix_timestamp))
                .execute(&pool)
                .await
                .unwrap();
        }
        for state in SlaState::ALL {
            let sql = format!(
                "SELECT number FROM tickets WHERE {} ORDER BY number",
                due.state_condition(state, NOW)
            );
            let found: Vec<i64> = sqlx::query_scalar(&sql).fetch_all(&pool).await.unwrap();
            let expected: Vec<i64> = cases()
                .iter()
                .filter(|(row, _)| due.assess(row, at_unix(NOW)).state == state)
                .map(|(row, _)| row.number)
                .collect();
            assert_eq!(found, expected, "{state:?}");
        }
        let sql = format!(
            "SELECT number, {} FROM tickets ORDER BY number",
            due.due_key_sql()
        );
        let keys: Vec<(i64, i64)> = sqlx::query_as(&sql).fetch_all(&pool).await.unwrap();
        for ((number, key), (row, _)) in keys.into_iter().zip(cases()) {
            let expected = due
                .assess(&row, at_unix(NOW))
                .due_at
                .map_or(NOTHING_DUE, OffsetDateTime::unix_timestamp);
            assert_eq!(key, expected, "ticket {number}");
        }
    }
}
