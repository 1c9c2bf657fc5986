//! Reading the tickets read model: one ticket, its comments, and filtered, sorted, paginated
//! lists. Pagination is by key (the sort key and `created_position` of the page's last row),
//! not by offset: rows written between page fetches never shift the next page, and a ticket
//! whose sort key does not change is seen exactly once. In creation order that is every ticket.

use bomizzel_store::Database;
use uuid::Uuid;

use super::cursor::{Cursor, CursorError};
use super::filter::{
    AssigneeFilter, Direction, MAX_LIMIT, Page, TicketFilter, TicketPage, Visibility,
};
use super::row::{
    COMMENT_COLUMNS, CommentRow, StoredComment, StoredTicket, TICKET_COLUMNS, TicketRow,
    decode_rows,
};
use crate::snapshot;
use crate::sql::{Args, fetch, fetch_in_tx};

/// Why a list was refused.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The caller's cursor (a 400 for the API).
    #[error("invalid cursor: {0}")]
    Cursor(#[from] CursorError),
    /// The caller's limit (a 400 for the API).
    #[error("limit must be between 1 and {MAX_LIMIT}, got {0}")]
    Limit(u32),
    #[error("read-model database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The ticket `id`, if it exists.
pub async fn get(database: &Database, id: Uuid) -> Result<Option<TicketRow>, sqlx::Error> {
    let mut args = Args::for_database(database);
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = {}",
        args.push(id.to_string())
    );
    let stored: Vec<StoredTicket> = fetch(database, &sql, &args).await?;
    Ok(decode_rows(stored)?.pop())
}

/// The comments of ticket `id`, oldest first; internal ones only if `include_internal`.
pub async fn comments(
    database: &Database,
    id: Uuid,
    include_internal: bool,
) -> Result<Vec<CommentRow>, sqlx::Error> {
    let mut args = Args::for_database(database);
    let mut sql = format!(
        "SELECT {COMMENT_COLUMNS} FROM ticket_comments WHERE ticket_id = {}",
        args.push(id.to_string())
    );
    if !include_internal {
        sql.push_str(&format!(" AND internal = {}", args.push(false)));
    }
    sql.push_str(" ORDER BY position");
    let stored: Vec<StoredComment> = fetch(database, &sql, &args).await?;
    decode_rows(stored)
}

/// One page of the tickets matching `filter`, in `page.sort` order after `page.after`.
pub async fn list(
    database: &Database,
    filter: &TicketFilter,
    page: &Page,
) -> Result<TicketPage, ListError> {
    if !(1..=MAX_LIMIT).contains(&page.limit) {
        return Err(ListError::Limit(page.limit));
    }
    let after = page
        .after
        .as_deref()
        .map(|cursor| Cursor::decode(cursor, page.sort))
        .transpose()?;

    let mut args = Args::for_database(database);
    let mut conditions = filter_conditions(filter, &mut args);
    conditions.extend(after.map(|cursor| after_condition(&cursor, &mut args)));
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let direction = match page.sort.direction {
        Direction::Asc => "ASC",
        Direction::Desc => "DESC",
    };
    let column = page.sort.field.column();
    let order = if page.sort.field.is_unique() {
        format!("{column} {direction}")
    } else {
        format!("{column} {direction}, created_position {direction}")
    };
    // One row more than asked says whether there is a next page.
    let limit = args.push(i64::from(page.limit) + 1);
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets {where_clause} ORDER BY {order} LIMIT {limit}"
    );
    // The rows and the position they are at, from one snapshot.
    let mut tx = snapshot::begin(database).await?;
    let position = snapshot::position(&mut tx, super::NAME).await?;
    let stored: Vec<StoredTicket> = fetch_in_tx(&mut tx, &sql, &args).await?;
    tx.commit().await?;
    let mut items: Vec<TicketRow> = decode_rows(stored)?;

    let more = items.len() > page.limit as usize;
    items.truncate(page.limit as usize);
    let next_cursor = items
        .last()
        .filter(|_| more)
        .map(|last| Cursor::after(page.sort, last).encode());
    Ok(TicketPage {
        items,
        next_cursor,
        position,
    })
}

/// The `WHERE` conditions for `filter`, its values added to `args`.
fn filter_conditions<'a>(filter: &'a TicketFilter, args: &mut Args<'a>) -> Vec<String> {
    let mut conditions = Vec::new();
    let mut equals = |column: &str, value: &'a Option<String>, args: &mut Args<'a>| {
        if let Some(value) = value {
            conditions.push(format!("{column} = {}", args.push(value.as_str())));
        }
    };
    equals("queue_id", &filter.queue_id, args);
    equals("team_id", &filter.team_id, args);
    equals("company_id", &filter.company_id, args);
    equals("requester_id", &filter.requester_id, args);
    if !filter.statuses.is_empty() {
        let list = args.push_all(filter.statuses.iter().map(|status| status.as_str()));
        conditions.push(format!("status IN ({list})"));
    }
    if !filter.priorities.is_empty() {
        let list = args.push_all(filter.priorities.iter().map(|priority| priority.as_str()));
        conditions.push(format!("priority IN ({list})"));
    }
    match &filter.assignee {
        Some(AssigneeFilter::User(user)) => {
            conditions.push(format!("assignee_id = {}", args.push(user.as_str())));
        }
        Some(AssigneeFilter::Unassigned) => conditions.push("assignee_id IS NULL".into()),
        None => {}
    }
    if let Some(tag) = &filter.tag {
        let tag = args.push(tag.trim().to_lowercase());
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM ticket_tags WHERE ticket_tags.ticket_id = tickets.id \
             AND ticket_tags.tag = {tag})"
        ));
    }
    if let Some(text) = &filter.q {
        let pattern = args.push(format!("%{}%", escape_like(&text.to_lowercase())));
        conditions.push(format!("title_folded LIKE {pattern} ESCAPE '\\'"));
    }
    match &filter.visibility {
        Visibility::All => {}
        Visibility::Company(company) => {
            conditions.push(format!("company_id = {}", args.push(company.as_str())));
        }
        Visibility::Teams(teams) if teams.is_empty() => conditions.push("1 = 0".into()),
        Visibility::Teams(teams) => {
            let list = args.push_all(teams.iter().map(String::as_str));
            conditions.push(format!("team_id IN ({list})"));
        }
    }
    conditions
}

/// Rows strictly after `cursor` in its sort order.
fn after_condition(cursor: &Cursor, args: &mut Args<'_>) -> String {
    let operator = match cursor.sort.direction {
        Direction::Asc => ">",
        Direction::Desc => "<",
    };
    let column = cursor.sort.field.column();
    let key = args.push(cursor.key);
    if cursor.sort.field.is_unique() {
        format!("{column} {operator} {key}")
    } else {
        let created = args.push(cursor.created_position);
        format!("({column}, created_position) {operator} ({key}, {created})")
    }
}

/// `text` with LIKE's wildcards and escape character escaped, so it matches literally.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}
