//! Each ticket's version as customers count it (`room_feed_tickets`): the
//! number of its events the visibility policy shows them. The feed's
//! customer changes carry it, so that a customer cannot count the internal
//! comments and moves hidden from them. Part of the feed projection: it is
//! emptied and replayed with it.

use std::collections::HashMap;

use bomizzel_domain::visibility::shown_to_customers;

use crate::db::ReadModelTx;
use crate::event::ProjectedEvent;
use crate::sql::{Args, Value, chunks, fetch_in_tx, insert_rows, on_conflict_update};

const COLUMNS: [&str; 2] = ["ticket_id", "customer_version"];

/// For each event of `events`, in order, its ticket's customer version
/// after it; the new counts are stored in the same transaction.
pub(super) async fn advance(
    tx: &mut ReadModelTx<'_>,
    events: &[ProjectedEvent],
) -> Result<Vec<u64>, sqlx::Error> {
    let mut counts = load(tx, events).await?;
    let mut touched = Vec::new();
    let versions = events
        .iter()
        .map(|event| {
            let ticket = event.event.ticket_id().to_string();
            let count = counts.entry(ticket.clone()).or_insert(0);
            if shown_to_customers(&event.event) {
                *count += 1;
                touched.push(ticket);
            }
            *count
        })
        .collect();
    touched.sort_unstable();
    touched.dedup();
    store(tx, &touched, &counts).await?;
    Ok(versions)
}

/// The stored counts of the tickets of `events`.
async fn load(
    tx: &mut ReadModelTx<'_>,
    events: &[ProjectedEvent],
) -> Result<HashMap<String, u64>, sqlx::Error> {
    let mut tickets: Vec<String> = events
        .iter()
        .map(|event| event.event.ticket_id().to_string())
        .collect();
    tickets.sort_unstable();
    tickets.dedup();
    let mut counts = HashMap::with_capacity(tickets.len());
    for chunk in chunks(&tickets, 1) {
        let mut args = Args::for_tx(tx);
        let sql = format!(
            "SELECT ticket_id, customer_version FROM room_feed_tickets WHERE ticket_id IN ({})",
            args.push_all(chunk.iter().map(String::as_str))
        );
        let rows: Vec<(String, i64)> = fetch_in_tx(tx, &sql, &args).await?;
        counts.extend(
            rows.into_iter()
                .map(|(ticket, count)| (ticket, u64::try_from(count).unwrap_or(0))),
        );
    }
    Ok(counts)
}

/// Stores the counts of `touched` tickets, one upsert per chunk of rows.
async fn store(
    tx: &mut ReadModelTx<'_>,
    touched: &[String],
    counts: &HashMap<String, u64>,
) -> Result<(), sqlx::Error> {
    let rows = touched
        .iter()
        .flat_map(|ticket| {
            let count = counts.get(ticket).copied().unwrap_or(0);
            [
                Value::from(ticket.as_str()),
                Value::from(i64::try_from(count).unwrap_or(i64::MAX)),
            ]
        })
        .collect();
    let upsert = on_conflict_update(
        &["ticket_id"],
        "customer_version = excluded.customer_version",
    );
    insert_rows(tx, "room_feed_tickets", &COLUMNS, &upsert, rows).await
}
