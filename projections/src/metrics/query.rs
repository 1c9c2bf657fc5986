//! Reading the queue metrics: [`queue_metrics`] computes a queue's dashboard figures at a given
//! instant (the `queue:metrics_updated` payload and the body of `GET /api/queues/{id}/metrics`),
//! [`hourly`] returns its hourly buckets for analysts.
//!
//! Every read is planned afresh (`persistent(false)`): the best plan depends on the queue's
//! size, and a plan cached while a table was small would go on scanning it once it is big.

use bomizzel_domain::{Priority, Status};
use bomizzel_store::Database;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};

use crate::db::ReadModelTx;
use crate::{on_pool, on_tx};

use super::facts::{DurationKind, is_done};
use super::sla::SlaTargets;

const DAY_SECS: i64 = 86_400;

/// A queue's figures at `computed_at`, over the tickets in the queue at that time (a moved
/// ticket counts in its new queue only). Durations are in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueMetrics {
    pub queue_id: String,
    /// The instant the figures are for, in UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub computed_at: OffsetDateTime,
    /// Tickets in an open status (open, in_progress or waiting).
    pub open_total: i64,
    pub open_by_status: OpenByStatus,
    pub open_by_priority: OpenByPriority,
    /// Open tickets with no assignee.
    pub unassigned_open: i64,
    /// Age of the oldest open ticket; `None` when nothing is open.
    pub oldest_open_age_secs: Option<i64>,
    /// Tickets created during the UTC day of `computed_at`.
    pub created_today: i64,
    /// Tickets whose standing resolution happened during the UTC day of `computed_at`.
    pub resolved_today: i64,
    /// From creation to first assignment, over every ticket of the queue ever assigned.
    pub first_assignment: DurationStats,
    /// From creation to the standing resolution, over every resolved or closed ticket.
    pub resolution: DurationStats,
    pub sla: SlaBreaches,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenByStatus {
    pub open: i64,
    pub in_progress: i64,
    pub waiting: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenByPriority {
    pub low: i64,
    pub medium: i64,
    pub high: i64,
    pub urgent: i64,
}

/// Count, mean and median of a duration; mean and median are `None` when the count is 0.
/// The median of an even count is the mean of the two middle values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DurationStats {
    pub count: i64,
    pub mean_secs: Option<f64>,
    pub median_secs: Option<f64>,
}

/// First assignments that missed their target. A ticket counts at most once: either it was
/// first assigned late, or it is open, was never assigned, and has waited past its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaBreaches {
    /// Tickets first assigned more than the target of their priority at that time after creation.
    pub late_first_assignment: i64,
    /// Open tickets never assigned and older than the target of their current priority.
    pub unassigned_past_target: i64,
    pub total: i64,
    /// The targets these counts use.
    pub targets: SlaTargets,
}

/// One `queue_hourly` row: what happened to the queue's tickets in the UTC hour starting at
/// `hour_unix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourlyBucket {
    pub hour_unix: i64,
    pub created: i64,
    pub first_assigned: i64,
    pub resolved: i64,
}

/// The figures of `queue_id` at `now`, read from one snapshot so that they agree with each
/// other. An unknown queue has all counts 0.
pub async fn queue_metrics(
    database: &Database,
    queue_id: &str,
    now: OffsetDateTime,
    sla: &SlaTargets,
) -> Result<QueueMetrics, sqlx::Error> {
    let now_unix = now.unix_timestamp();
    let day_start = now_unix - now_unix.rem_euclid(DAY_SECS);
    let mut snapshot = begin_snapshot(database).await?;
    let open = open_tickets(&mut snapshot, queue_id, now_unix, sla).await?;
    let (created_today, resolved_today) =
        created_and_resolved(&mut snapshot, queue_id, day_start, day_start + DAY_SECS).await?;
    let first_assignment =
        duration_stats(&mut snapshot, queue_id, DurationKind::FirstAssignment).await?;
    let resolution = duration_stats(&mut snapshot, queue_id, DurationKind::Resolution).await?;
    let late_first_assignment = late_first_assignments(&mut snapshot, queue_id, sla).await?;
    snapshot.commit().await?;

    Ok(QueueMetrics {
        queue_id: queue_id.to_owned(),
        computed_at: now.to_offset(UtcOffset::UTC),
        open_total: open.total,
        open_by_status: open.by_status,
        open_by_priority: open.by_priority,
        unassigned_open: open.unassigned,
        oldest_open_age_secs: open.oldest_created_at_unix.map(|at| (now_unix - at).max(0)),
        created_today,
        resolved_today,
        first_assignment,
        resolution,
        sla: SlaBreaches {
            late_first_assignment,
            unassigned_past_target: open.unassigned_past_target,
            total: late_first_assignment + open.unassigned_past_target,
            targets: *sla,
        },
    })
}

/// The buckets of `queue_id` whose hour starts in `[from_unix, to_unix)`, oldest first. Hours
/// in which nothing happened have no bucket.
pub async fn hourly(
    database: &Database,
    queue_id: &str,
    from_unix: i64,
    to_unix: i64,
) -> Result<Vec<HourlyBucket>, sqlx::Error> {
    let rows: Vec<(i64, i64, i64, i64)> = on_pool!(database, pool => {
        sqlx::query_as(
            "SELECT hour_unix, created, first_assigned, resolved FROM queue_hourly \
             WHERE queue_id = $1 AND hour_unix >= $2 AND hour_unix < $3 ORDER BY hour_unix",
        )
        .persistent(false)
        .bind(queue_id)
        .bind(from_unix)
        .bind(to_unix)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(hour_unix, created, first_assigned, resolved)| HourlyBucket {
                hour_unix,
                created,
                first_assigned,
                resolved,
            },
        )
        .collect())
}

/// A read-only transaction whose queries all see the same committed state.
async fn begin_snapshot(database: &Database) -> Result<ReadModelTx<'static>, sqlx::Error> {
    Ok(match database {
        // A deferred transaction on a WAL database reads one snapshot from its first read on.
        Database::Sqlite(pool) => ReadModelTx::Sqlite(pool.begin().await?, None),
        Database::Postgres(pool) => {
            let mut transaction = pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *transaction)
                .await?;
            ReadModelTx::Postgres(transaction)
        }
    })
}

/// `CASE <column> WHEN 'low' THEN $first ... END`: the SLA target of the priority in
/// `column`, bound by [`target_binds`] from placeholder `$first` on.
fn target_of(column: &str, first: usize) -> String {
    let arms = Priority::ALL
        .iter()
        .enumerate()
        .map(|(index, priority)| format!("WHEN '{priority}' THEN ${}", first + index))
        .collect::<Vec<_>>()
        .join(" ");
    format!("CASE {column} {arms} END")
}

/// The values for [`target_of`]'s placeholders, in order.
fn target_binds(sla: &SlaTargets) -> [i64; 4] {
    Priority::ALL.map(|priority| sla.target_secs(priority))
}

/// The open statuses as an SQL list: `'open', 'in_progress', 'waiting'`.
fn open_statuses() -> String {
    Status::ALL
        .iter()
        .filter(|status| !is_done(**status))
        .map(|status| format!("'{status}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Default)]
struct OpenTickets {
    total: i64,
    by_status: OpenByStatus,
    by_priority: OpenByPriority,
    unassigned: i64,
    unassigned_past_target: i64,
    oldest_created_at_unix: Option<i64>,
}

async fn open_tickets(
    snapshot: &mut ReadModelTx<'_>,
    queue_id: &str,
    now_unix: i64,
    sla: &SlaTargets,
) -> Result<OpenTickets, sqlx::Error> {
    let sql = format!(
        "SELECT status, priority, COUNT(*), \
         COALESCE(SUM(CASE WHEN assignee_id IS NULL THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN first_assigned_at_unix IS NULL \
             AND $2 - created_at_unix > {} THEN 1 ELSE 0 END), 0), \
         MIN(created_at_unix) \
         FROM queue_ticket_facts WHERE queue_id = $1 AND status IN ({}) \
         GROUP BY status, priority",
        target_of("priority", 3),
        open_statuses()
    );
    let rows: Vec<(String, String, i64, i64, i64, i64)> = on_tx!(snapshot, connection => {
        let mut query = sqlx::query_as(&sql)
            .persistent(false)
            .bind(queue_id)
            .bind(now_unix);
        for target in target_binds(sla) {
            query = query.bind(target);
        }
        query.fetch_all(connection).await?
    });

    let decode = |error| sqlx::Error::Decode(Box::new(error));
    let mut open = OpenTickets::default();
    for (status, priority, count, unassigned, past_target, oldest) in rows {
        match status.parse().map_err(decode)? {
            Status::Open => open.by_status.open += count,
            Status::InProgress => open.by_status.in_progress += count,
            Status::Waiting => open.by_status.waiting += count,
            Status::Resolved | Status::Closed => continue,
        }
        match priority.parse().map_err(decode)? {
            Priority::Low => open.by_priority.low += count,
            Priority::Medium => open.by_priority.medium += count,
            Priority::High => open.by_priority.high += count,
            Priority::Urgent => open.by_priority.urgent += count,
        }
        open.total += count;
        open.unassigned += unassigned;
        open.unassigned_past_target += past_target;
        open.oldest_created_at_unix = Some(
            open.oldest_created_at_unix
                .map_or(oldest, |earlier| earlier.min(oldest)),
        );
    }
    Ok(open)
}

/// Sums of the hourly buckets in `[from_unix, to_unix)`: (created, resolved).
async fn created_and_resolved(
    snapshot: &mut ReadModelTx<'_>,
    queue_id: &str,
    from_unix: i64,
    to_unix: i64,
) -> Result<(i64, i64), sqlx::Error> {
    Ok(on_tx!(snapshot, connection => {
        sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(created), 0) AS BIGINT), \
             CAST(COALESCE(SUM(resolved), 0) AS BIGINT) FROM queue_hourly \
             WHERE queue_id = $1 AND hour_unix >= $2 AND hour_unix < $3",
        )
        .persistent(false)
        .bind(queue_id)
        .bind(from_unix)
        .bind(to_unix)
        .fetch_one(connection)
        .await?
    }))
}

/// Count and mean from one aggregate, the median from at most two values read in index order
/// at the middle offset: cheap for queues of tens of thousands of tickets.
async fn duration_stats(
    snapshot: &mut ReadModelTx<'_>,
    queue_id: &str,
    kind: DurationKind,
) -> Result<DurationStats, sqlx::Error> {
    let (count, sum): (i64, i64) = on_tx!(&mut *snapshot, connection => {
        sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(secs), 0) AS BIGINT) \
             FROM queue_ticket_durations WHERE queue_id = $1 AND kind = $2",
        )
        .persistent(false)
        .bind(queue_id)
        .bind(kind.as_str())
        .fetch_one(connection)
        .await?
    });
    if count == 0 {
        return Ok(DurationStats::default());
    }
    let middle: Vec<i64> = on_tx!(snapshot, connection => {
        sqlx::query_scalar(
            "SELECT secs FROM queue_ticket_durations WHERE queue_id = $1 AND kind = $2 \
             ORDER BY secs LIMIT $3 OFFSET $4",
        )
        .persistent(false)
        .bind(queue_id)
        .bind(kind.as_str())
        .bind(2 - count % 2)
        .bind((count - 1) / 2)
        .fetch_all(connection)
        .await?
    });
    Ok(DurationStats {
        count,
        mean_secs: Some(sum as f64 / count as f64),
        median_secs: mean(&middle),
    })
}

fn mean(values: &[i64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<i64>() as f64 / values.len() as f64)
}

async fn late_first_assignments(
    snapshot: &mut ReadModelTx<'_>,
    queue_id: &str,
    sla: &SlaTargets,
) -> Result<i64, sqlx::Error> {
    let sql = format!(
        "SELECT COALESCE(SUM(CASE WHEN secs > {} THEN 1 ELSE 0 END), 0) \
         FROM queue_ticket_durations WHERE queue_id = $1 AND kind = $2",
        target_of("sla_priority", 3)
    );
    Ok(on_tx!(snapshot, connection => {
        let mut query = sqlx::query_scalar(&sql)
            .persistent(false)
            .bind(queue_id)
            .bind(DurationKind::FirstAssignment.as_str());
        for target in target_binds(sla) {
            query = query.bind(target);
        }
        query.fetch_one(connection).await?
    }))
}
