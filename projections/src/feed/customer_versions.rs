//! What the feed remembers of each ticket (`room_feed_tickets`): its
//! version as customers count it, the number of its events the visibility
//! policy shows them, which the feed's customer changes carry so that a
//! customer cannot count the internal comments and moves hidden from them;
//! and its ticket number, which every change of the ticket carries. Part of
//! the feed projection: it is emptied and replayed with it.

use std::collections::HashMap;

use bomizzel_domain::TicketEvent;
use bomizzel_domain::visibility::shown_to_customers;
use uuid::Uuid;

use crate::db::ReadModelTx;
use crate::event::{ProjectedEvent, continued_tickets};
use crate::sql::{Args, Value, fetch_in_tx, in_lists, insert_rows, on_conflict_update};

const COLUMNS: [&str; 3] = ["ticket_id", "customer_version", "number"];

/// A ticket as the feed knows it after one of its events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FeedTicket {
    /// Its version as customers count it.
    pub customer_version: u64,
    pub number: u64,
}

/// For each event of `events`, in order, its ticket after it; the new
/// counts are stored in the same transaction.
pub(super) async fn advance(
    tx: &mut ReadModelTx<'_>,
    events: &[ProjectedEvent],
) -> Result<Vec<FeedTicket>, sqlx::Error> {
    let mut counts = load(tx, events).await?;
    let mut touched = Vec::new();
    let versions = events
        .iter()
        .map(|event| {
            let ticket = event.event.ticket_id().to_string();
            let known = counts.entry(ticket.clone()).or_default();
            if let TicketEvent::TicketCreated { number, .. } = &event.event {
                known.number = *number;
            }
            if shown_to_customers(&event.event) {
                known.customer_version += 1;
                touched.push(ticket);
            }
            *known
        })
        .collect();
    touched.sort_unstable();
    touched.dedup();
    store(tx, &touched, &counts).await?;
    Ok(versions)
}

/// What is stored of the tickets `events` continue (a ticket created among
/// them has nothing stored yet).
async fn load(
    tx: &mut ReadModelTx<'_>,
    events: &[ProjectedEvent],
) -> Result<HashMap<String, FeedTicket>, sqlx::Error> {
    let tickets: Vec<String> = continued_tickets(events)
        .iter()
        .map(Uuid::to_string)
        .collect();
    let mut counts = HashMap::with_capacity(tickets.len());
    for chunk in in_lists(&tickets) {
        let mut args = Args::for_tx(tx);
        let sql = format!(
            "SELECT ticket_id, customer_version, number FROM room_feed_tickets \
             WHERE ticket_id IN ({})",
            args.push_set(chunk.iter().map(String::as_str))
        );
        let rows: Vec<(String, i64, i64)> = fetch_in_tx(tx, &sql, &args).await?;
        counts.extend(rows.into_iter().map(|(ticket, count, number)| {
            let known = FeedTicket {
                customer_version: u64::try_from(count).unwrap_or(0),
                number: u64::try_from(number).unwrap_or(0),
            };
            (ticket, known)
        }));
    }
    Ok(counts)
}

/// Stores what is known of `touched` tickets, one upsert per chunk of rows.
async fn store(
    tx: &mut ReadModelTx<'_>,
    touched: &[String],
    counts: &HashMap<String, FeedTicket>,
) -> Result<(), sqlx::Error> {
    let rows = touched
        .iter()
        .flat_map(|ticket| {
            let known = counts.get(ticket).copied().unwrap_or_default();
            [
                Value::from(ticket.as_str()),
                Value::from(i64::try_from(known.customer_version).unwrap_or(i64::MAX)),
                Value::from(i64::try_from(known.number).unwrap_or(i64::MAX)),
            ]
        })
        .collect();
    let upsert = on_conflict_update(
        &["ticket_id"],
        "customer_version = excluded.customer_version, number = excluded.number",
    );
    insert_rows(tx, "room_feed_tickets", &COLUMNS, &upsert, rows).await
}
