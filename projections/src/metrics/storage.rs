//! The projection's SQL: loading the stored facts of a batch's tickets and writing a batch's
//! changes, each in a few multi-row statements rather than one per event.

use std::collections::HashMap;

use bomizzel_domain::Priority;

use crate::db::ReadModelTx;
use crate::on_tx;

use super::batch::BatchChanges;
use super::facts::{DurationKind, DurationRow, HourCounts, HourKey, TicketFacts};

/// How many rows of `columns` values one statement carries. PostgreSQL pays a round trip per
/// statement, so its statements are big (well below its 65,535 parameters). SQLite has no round
/// trip, but finding a `$N` parameter by name is linear in the number of parameters (binding a
/// statement is quadratic), so its statements stay small.
fn rows_per_statement(tx: &ReadModelTx<'_>, columns: usize) -> usize {
    let parameters = match tx {
        ReadModelTx::Sqlite(..) => 200,
        ReadModelTx::Postgres(_) => 10_000,
    };
    parameters / columns
}

/// `$first, $first+1, ...`: `count` numbered placeholders.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, $2), ($3, $4)`: `rows` tuples of `columns` placeholders.
fn value_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", placeholders(row * columns + 1, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns of a ticket's facts, in the order `upsert_facts` binds them and
/// [`StoredFactsRow`] reads them.
const FACTS_COLUMNS: [&str; 11] = [
    "ticket_id",
    "queue_id",
    "status",
    "priority",
    "assignee_id",
    "created_at_unix",
    "first_assigned_at_unix",
    "first_assigned_priority",
    "resolved_at_unix",
    "reopen_count",
    "updated_position",
];

type StoredFactsRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    i64,
    i64,
);

/// The stored facts of `ticket_ids`, by ticket id; tickets without a row are absent.
pub(super) async fn load_facts(
    tx: &mut ReadModelTx<'_>,
    ticket_ids: &[String],
) -> Result<HashMap<String, TicketFacts>, sqlx::Error> {
    let mut stored = HashMap::with_capacity(ticket_ids.len());
    for chunk in ticket_ids.chunks(rows_per_statement(tx, 1)) {
        let sql = format!(
            "SELECT {} FROM queue_ticket_facts WHERE ticket_id IN ({})",
            FACTS_COLUMNS.join(", "),
            placeholders(1, chunk.len())
        );
        let rows: Vec<StoredFactsRow> = on_tx!(&mut *tx, connection => {
            // Planned afresh each time: a plan cached while the table was small would scan it.
            let mut query = sqlx::query_as(&sql).persistent(false);
            for ticket_id in chunk {
                query = query.bind(ticket_id);
            }
            query.fetch_all(connection).await?
        });
        for row in rows {
            let facts = facts_from_row(row)?;
            stored.insert(facts.ticket_id.clone(), facts);
        }
    }
    Ok(stored)
}

fn facts_from_row(
    (
        ticket_id,
        queue_id,
        status,
        priority,
        assignee_id,
        created_at_unix,
        first_assigned_at_unix,
        first_assigned_priority,
        resolved_at_unix,
        reopen_count,
        updated_position,
    ): StoredFactsRow,
) -> Result<TicketFacts, sqlx::Error> {
    let decode = |error| sqlx::Error::Decode(Box::new(error));
    Ok(TicketFacts {
        ticket_id,
        queue_id,
        status: status.parse().map_err(decode)?,
        priority: priority.parse().map_err(decode)?,
        assignee_id,
        created_at_unix,
        first_assigned_at_unix,
        first_assigned_priority: first_assigned_priority
            .map(|name| name.parse())
            .transpose()
            .map_err(decode)?,
        resolved_at_unix,
        reopen_count,
        updated_position,
    })
}

/// Writes the changes of one batch.
pub(super) async fn write(
    tx: &mut ReadModelTx<'_>,
    changes: &BatchChanges,
) -> Result<(), sqlx::Error> {
    for chunk in changes
        .facts
        .chunks(rows_per_statement(tx, FACTS_COLUMNS.len()))
    {
        upsert_facts(tx, chunk).await?;
    }
    for chunk in changes
        .durations
        .chunks(rows_per_statement(tx, DURATION_COLUMNS.len()))
    {
        upsert_durations(tx, chunk).await?;
    }
    for chunk in changes
        .cleared_durations
        .chunks(rows_per_statement(tx, DURATION_KEY_COLUMNS.len()))
    {
        delete_durations(tx, chunk).await?;
    }
    for chunk in changes
        .hours
        .chunks(rows_per_statement(tx, HOUR_COLUMNS.len()))
    {
        add_to_hours(tx, chunk).await?;
    }
    let maybe_emptied: Vec<&HourKey> = changes
        .hours
        .iter()
        .filter(|(_, change)| change.has_decrease())
        .map(|(key, _)| key)
        .collect();
    for chunk in maybe_emptied.chunks(rows_per_statement(tx, HOUR_KEY_COLUMNS.len())) {
        delete_empty_hours(tx, chunk).await?;
    }
    Ok(())
}

/// `INSERT INTO table (columns) VALUES (...), ... ON CONFLICT (key) DO UPDATE SET on_conflict`
/// for `rows` rows.
fn upsert_sql(
    table: &str,
    columns: &[&str],
    key: &[&str],
    rows: usize,
    on_conflict: &str,
) -> String {
    format!(
        "INSERT INTO {table} ({}) VALUES {} ON CONFLICT ({}) DO UPDATE SET {on_conflict}",
        columns.join(", "),
        value_rows(rows, columns.len()),
        key.join(", "),
    )
}

/// `a = excluded.a, ...` for the `columns` not in `key`: the upsert replaces the row.
fn replace_all(columns: &[&str], key: &[&str]) -> String {
    columns
        .iter()
        .filter(|column| !key.contains(column))
        .map(|column| format!("{column} = excluded.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(a = $1 AND b = $2) OR (a = $3 AND b = $4)`: rows matching one of `rows` keys, which both
/// backends answer with one primary-key lookup per key.
fn key_matches(key: &[&str], rows: usize) -> String {
    (0..rows)
        .map(|row| {
            let equalities = key
                .iter()
                .enumerate()
                .map(|(index, column)| format!("{column} = ${}", row * key.len() + index + 1))
                .collect::<Vec<_>>()
                .join(" AND ");
            format!("({equalities})")
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

async fn upsert_facts(tx: &mut ReadModelTx<'_>, facts: &[TicketFacts]) -> Result<(), sqlx::Error> {
    let key = ["ticket_id"];
    let sql = upsert_sql(
        "queue_ticket_facts",
        &FACTS_COLUMNS,
        &key,
        facts.len(),
        &replace_all(&FACTS_COLUMNS, &key),
    );
    on_tx!(tx, connection => {
        let mut query = sqlx::query(&sql);
        for ticket in facts {
            query = query
                .bind(&ticket.ticket_id)
                .bind(&ticket.queue_id)
                .bind(ticket.status.as_str())
                .bind(ticket.priority.as_str())
                .bind(&ticket.assignee_id)
                .bind(ticket.created_at_unix)
                .bind(ticket.first_assigned_at_unix)
                .bind(ticket.first_assigned_priority.map(Priority::as_str))
                .bind(ticket.resolved_at_unix)
                .bind(ticket.reopen_count)
                .bind(ticket.updated_position);
        }
        query.execute(connection).await?;
    });
    Ok(())
}

/// Columns of a duration, in the order `upsert_durations` binds them; the key comes first.
const DURATION_COLUMNS: [&str; 5] = ["ticket_id", "kind", "queue_id", "secs", "sla_priority"];
const DURATION_KEY_COLUMNS: [&str; 2] = ["ticket_id", "kind"];

async fn upsert_durations(
    tx: &mut ReadModelTx<'_>,
    durations: &[DurationRow],
) -> Result<(), sqlx::Error> {
    let sql = upsert_sql(
        "queue_ticket_durations",
        &DURATION_COLUMNS,
        &DURATION_KEY_COLUMNS,
        durations.len(),
        &replace_all(&DURATION_COLUMNS, &DURATION_KEY_COLUMNS),
    );
    on_tx!(tx, connection => {
        let mut query = sqlx::query(&sql);
        for duration in durations {
            query = query
                .bind(&duration.ticket_id)
                .bind(duration.kind.as_str())
                .bind(&duration.queue_id)
                .bind(duration.secs)
                .bind(duration.sla_priority.map(Priority::as_str));
        }
        query.execute(connection).await?;
    });
    Ok(())
}

async fn delete_durations(
    tx: &mut ReadModelTx<'_>,
    keys: &[(String, DurationKind)],
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "DELETE FROM queue_ticket_durations WHERE {}",
        key_matches(&DURATION_KEY_COLUMNS, keys.len())
    );
    on_tx!(tx, connection => {
        let mut query = sqlx::query(&sql).persistent(false);
        for (ticket_id, kind) in keys {
            query = query.bind(ticket_id).bind(kind.as_str());
        }
        query.execute(connection).await?;
    });
    Ok(())
}

/// Columns of an hourly bucket, in the order `add_to_hours` binds them; the key comes first.
const HOUR_COLUMNS: [&str; 5] = [
    "queue_id",
    "hour_unix",
    "created",
    "first_assigned",
    "resolved",
];
const HOUR_KEY_COLUMNS: [&str; 2] = ["queue_id", "hour_unix"];

async fn add_to_hours(
    tx: &mut ReadModelTx<'_>,
    changes: &[(HourKey, HourCounts)],
) -> Result<(), sqlx::Error> {
    let sql = upsert_sql(
        "queue_hourly",
        &HOUR_COLUMNS,
        &HOUR_KEY_COLUMNS,
        changes.len(),
        "created = queue_hourly.created + excluded.created, \
         first_assigned = queue_hourly.first_assigned + excluded.first_assigned, \
         resolved = queue_hourly.resolved + excluded.resolved",
    );
    on_tx!(tx, connection => {
        let mut query = sqlx::query(&sql);
        for ((queue_id, hour_unix), change) in changes {
            query = query
                .bind(queue_id)
                .bind(*hour_unix)
                .bind(change.created)
                .bind(change.first_assigned)
                .bind(change.resolved);
        }
        query.execute(connection).await?;
    });
    Ok(())
}

/// Buckets left with nothing are deleted, so that a bucket exists exactly when some ticket
/// counts in it, however the events were batched.
async fn delete_empty_hours(
    tx: &mut ReadModelTx<'_>,
    keys: &[&HourKey],
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "DELETE FROM queue_hourly WHERE created = 0 AND first_assigned = 0 AND resolved = 0 \
         AND ({})",
        key_matches(&HOUR_KEY_COLUMNS, keys.len())
    );
    on_tx!(tx, connection => {
        let mut query = sqlx::query(&sql).persistent(false);
        for (queue_id, hour_unix) in keys {
            query = query.bind(queue_id).bind(*hour_unix);
        }
        query.execute(connection).await?;
    });
    Ok(())
}
