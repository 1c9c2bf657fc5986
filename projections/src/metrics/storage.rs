//! The projection's SQL: loading the stored facts of a batch's tickets and writing a batch's
//! changes, each in a few multi-row statements rather than one per event.
//! Their texts, placeholders and sizes come from [`crate::sql`] (`?` on SQLite, where `$N` makes
//! binding quadratic); deletes by key are cut to [`key_chunks`] because SQLite refuses `OR`
//! chains nested deeper than 1,000.

use std::collections::HashMap;

use bomizzel_domain::Priority;

use crate::db::ReadModelTx;
use crate::sql::{
    Args, Value, execute, fetch_in_tx, in_lists, insert_rows, key_chunks, key_matches,
    on_conflict_update, set_excluded,
};

use super::batch::BatchChanges;
use super::facts::{DurationKind, DurationRow, HourCounts, HourKey, TicketFacts};

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
    for chunk in in_lists(ticket_ids) {
        // Planned afresh each time: a plan cached while the table was small would scan it.
        let mut args = Args::for_tx(tx).planned_each_time();
        let sql = format!(
            "SELECT {} FROM queue_ticket_facts WHERE ticket_id IN ({})",
            FACTS_COLUMNS.join(", "),
            args.push_set(chunk.iter().map(String::as_str))
        );
        let rows: Vec<StoredFactsRow> = fetch_in_tx(tx, &sql, &args).await?;
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
    upsert_facts(tx, &changes.facts).await?;
    upsert_durations(tx, &changes.durations).await?;
    for chunk in key_chunks(&changes.cleared_durations, DURATION_KEY_COLUMNS.len()) {
        delete_durations(tx, chunk).await?;
    }
    add_to_hours(tx, &changes.hours).await?;
    let maybe_emptied: Vec<&HourKey> = changes
        .hours
        .iter()
        .filter(|(_, change)| change.has_decrease())
        .map(|(key, _)| key)
        .collect();
    for chunk in key_chunks(&maybe_emptied, HOUR_KEY_COLUMNS.len()) {
        delete_empty_hours(tx, chunk).await?;
    }
    Ok(())
}

async fn upsert_facts(tx: &mut ReadModelTx<'_>, facts: &[TicketFacts]) -> Result<(), sqlx::Error> {
    let key = ["ticket_id"];
    let values = facts
        .iter()
        .flat_map(|ticket| {
            [
                Value::from(ticket.ticket_id.as_str()),
                ticket.queue_id.as_str().into(),
                ticket.status.as_str().into(),
                ticket.priority.as_str().into(),
                ticket.assignee_id.as_deref().into(),
                ticket.created_at_unix.into(),
                ticket.first_assigned_at_unix.into(),
                ticket.first_assigned_priority.map(Priority::as_str).into(),
                ticket.resolved_at_unix.into(),
                ticket.reopen_count.into(),
                ticket.updated_position.into(),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "queue_ticket_facts",
        &FACTS_COLUMNS,
        &on_conflict_update(&key, &set_excluded(&FACTS_COLUMNS, &key)),
        values,
    )
    .await
}

/// Columns of a duration, in the order `upsert_durations` binds them; the key comes first.
const DURATION_COLUMNS: [&str; 5] = ["ticket_id", "kind", "queue_id", "secs", "sla_priority"];
const DURATION_KEY_COLUMNS: [&str; 2] = ["ticket_id", "kind"];

async fn upsert_durations(
    tx: &mut ReadModelTx<'_>,
    durations: &[DurationRow],
) -> Result<(), sqlx::Error> {
    let values = durations
        .iter()
        .flat_map(|duration| {
            [
                Value::from(duration.ticket_id.as_str()),
                duration.kind.as_str().into(),
                duration.queue_id.as_str().into(),
                duration.secs.into(),
                duration.sla_priority.map(Priority::as_str).into(),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "queue_ticket_durations",
        &DURATION_COLUMNS,
        &on_conflict_update(
            &DURATION_KEY_COLUMNS,
            &set_excluded(&DURATION_COLUMNS, &DURATION_KEY_COLUMNS),
        ),
        values,
    )
    .await
}

async fn delete_durations(
    tx: &mut ReadModelTx<'_>,
    keys: &[(String, DurationKind)],
) -> Result<(), sqlx::Error> {
    let mut args = Args::for_tx(tx).planned_each_time();
    let matches = key_matches(
        &mut args,
        &DURATION_KEY_COLUMNS,
        keys.iter()
            .map(|(ticket_id, kind)| [ticket_id.as_str().into(), kind.as_str().into()]),
    );
    let sql = format!("DELETE FROM queue_ticket_durations WHERE {matches}");
    execute(tx, &sql, &args).await?;
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
    let values = changes
        .iter()
        .flat_map(|((queue_id, hour_unix), change)| {
            [
                Value::from(queue_id.as_str()),
                (*hour_unix).into(),
                change.created.into(),
                change.first_assigned.into(),
                change.resolved.into(),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "queue_hourly",
        &HOUR_COLUMNS,
        &on_conflict_update(
            &HOUR_KEY_COLUMNS,
            "created = queue_hourly.created + excluded.created, \
             first_assigned = queue_hourly.first_assigned + excluded.first_assigned, \
             resolved = queue_hourly.resolved + excluded.resolved",
        ),
        values,
    )
    .await
}

/// Buckets left with nothing are deleted, so that a bucket exists exactly when some ticket
/// counts in it, however the events were batched.
async fn delete_empty_hours(
    tx: &mut ReadModelTx<'_>,
    keys: &[&HourKey],
) -> Result<(), sqlx::Error> {
    let mut args = Args::for_tx(tx).planned_each_time();
    let matches = key_matches(
        &mut args,
        &HOUR_KEY_COLUMNS,
        keys.iter()
            .map(|(queue_id, hour_unix)| [queue_id.as_str().into(), (*hour_unix).into()]),
    );
    let sql = format!(
        "DELETE FROM queue_hourly WHERE created = 0 AND first_assigned = 0 AND resolved = 0 \
         AND ({matches})"
    );
    execute(tx, &sql, &args).await?;
    Ok(())
}
