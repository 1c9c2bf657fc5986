//! The projection's I/O inside the batch transaction: load the tickets a batch continues, then
//! write back what the fold changed with multi-row upserts.

use time::OffsetDateTime;
use uuid::Uuid;

use super::fold::BatchChanges;
use super::row::{StoredTicket, TICKET_COLUMNS, TicketRow, decode_rows, priority_rank};
use crate::db::ReadModelTx;
use crate::sql::{
    Args, Value, execute, fetch_in_tx, in_lists, insert_rows, on_conflict_update, set_excluded,
};

/// Columns written by the upsert, in the order of [`ticket_values`].
const UPSERT_COLUMNS: [&str; 30] = [
    "id",
    "number",
    "title",
    "title_folded",
    "description",
    "company_id",
    "requester_id",
    "queue_id",
    "team_id",
    "assignee_id",
    "status",
    "priority",
    "priority_rank",
    "tags",
    "public_comment_count",
    "internal_comment_count",
    "version",
    "customer_version",
    "created_position",
    "updated_position",
    "created_at",
    "updated_at",
    "first_assigned_at",
    "resolved_at",
    "closed_at",
    "created_unix",
    "updated_unix",
    "first_assigned_unix",
    "first_assigned_rank",
    "done_unix",
];

/// Columns a ticket's later events never change. Leaving them out of the upsert's `SET`
/// spares their indexes the rewrite.
const IMMUTABLE_COLUMNS: [&str; 7] = [
    "id",
    "number",
    "created_unix",
    "company_id",
    "requester_id",
    "created_position",
    "created_at",
];

/// Loads the stored rows of `ids` (those that exist).
pub(super) async fn load(
    tx: &mut ReadModelTx<'_>,
    ids: &[Uuid],
) -> Result<Vec<TicketRow>, sqlx::Error> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in in_lists(ids) {
        let mut args = Args::for_tx(tx);
        let list = args.push_set(chunk.iter().map(Uuid::to_string));
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id IN ({list})");
        let stored: Vec<StoredTicket> = fetch_in_tx(tx, &sql, &args).await?;
        rows.extend(decode_rows(stored)?);
    }
    Ok(rows)
}

/// Writes a folded batch: upserts its tickets, replaces the tags of retagged ones and inserts
/// the new comments.
pub(super) async fn save(
    tx: &mut ReadModelTx<'_>,
    changes: BatchChanges,
) -> Result<(), sqlx::Error> {
    let tickets: Vec<TicketRow> = changes.tickets.into_values().collect();
    insert_rows(
        tx,
        "tickets",
        &UPSERT_COLUMNS,
        &on_conflict_update(&["id"], &set_excluded(&UPSERT_COLUMNS, &IMMUTABLE_COLUMNS)),
        tickets.iter().flat_map(ticket_values).collect(),
    )
    .await?;

    // Only tickets stored before the batch can have tags to replace: a rebuild, whose
    // tickets are mostly created in the batch that retags them, deletes next to nothing.
    let stale: Vec<String> = changes
        .retagged
        .difference(&changes.created)
        .map(Uuid::to_string)
        .collect();
    for chunk in in_lists(&stale) {
        let mut args = Args::for_tx(tx);
        let list = args.push_set(chunk.iter().map(String::as_str));
        let sql = format!("DELETE FROM ticket_tags WHERE ticket_id IN ({list})");
        execute(tx, &sql, &args).await?;
    }
    let tags: Vec<Value<'_>> = tickets
        .iter()
        .filter(|ticket| changes.retagged.contains(&ticket.id))
        .flat_map(|ticket| {
            let id = ticket.id.to_string();
            ticket
                .tags
                .iter()
                .flat_map(move |tag| [Value::from(id.clone()), tag.as_str().into()])
        })
        .collect();
    insert_rows(
        tx,
        "ticket_tags",
        &["ticket_id", "tag"],
        // Tags are deduplicated by the domain; this keeps an odd old event from failing the batch.
        "ON CONFLICT (ticket_id, tag) DO NOTHING",
        tags,
    )
    .await?;

    let comments = changes
        .comments
        .iter()
        .flat_map(|comment| {
            [
                Value::from(comment.position),
                comment.ticket_id.to_string().into(),
                comment.comment_id.to_string().into(),
                comment.author_id.as_str().into(),
                comment.body.as_str().into(),
                comment.internal.into(),
                comment.created_at.into(),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "ticket_comments",
        &[
            "position",
            "ticket_id",
            "comment_id",
            "author_id",
            "body",
            "internal",
            "created_at",
        ],
        "",
        comments,
    )
    .await
}

fn ticket_values(ticket: &TicketRow) -> [Value<'_>; UPSERT_COLUMNS.len()] {
    [
        ticket.id.to_string().into(),
        ticket.number.into(),
        ticket.title.as_str().into(),
        // Folded here rather than with SQL's LOWER(), which only folds ASCII on SQLite.
        ticket.title.to_lowercase().into(),
        ticket.description.as_str().into(),
        ticket.company_id.as_str().into(),
        ticket.requester_id.as_str().into(),
        ticket.queue_id.as_str().into(),
        ticket.team_id.as_str().into(),
        ticket.assignee_id.as_deref().into(),
        ticket.status.as_str().into(),
        ticket.priority.as_str().into(),
        priority_rank(ticket.priority).into(),
        serde_json::Value::from(ticket.tags.as_slice())
            .to_string()
            .into(),
        ticket.public_comment_count.into(),
        ticket.internal_comment_count.into(),
        ticket.version.into(),
        ticket.customer_version.into(),
        ticket.created_position.into(),
        ticket.updated_position.into(),
        ticket.created_at.into(),
        ticket.updated_at.into(),
        ticket.first_assigned_at.into(),
        ticket.resolved_at.into(),
        ticket.closed_at.into(),
        ticket.created_at.unix_timestamp().into(),
        ticket.updated_at.unix_timestamp().into(),
        ticket
            .first_assigned_at
            .map(OffsetDateTime::unix_timestamp)
            .into(),
        ticket.first_assigned_rank.into(),
        ticket.done_at().map(OffsetDateTime::unix_timestamp).into(),
    ]
}
