//! Reading the tickets read model: one ticket, its comments, and filtered, sorted, paginated
//! lists, with or without a full-text search (joined from the `ticket_search` read model).
//! Pagination is by key (the sort key and `created_position` of the page's last row), not by
//! offset: rows written between page fetches never shift the next page, and a ticket whose sort
//! key does not change is seen exactly once. In creation order that is every ticket.

use bomizzel_domain::Status;
use bomizzel_store::Database;
use time::OffsetDateTime;
use uuid::Uuid;

use super::cursor::{Cursor, CursorError, SortKey};
use super::filter::{
    AssigneeFilter, Direction, ListedTicket, MAX_LIMIT, Page, SortField, TicketFilter, TicketPage,
    Visibility,
};
use super::row::{
    COMMENT_COLUMNS, CommentRow, StoredComment, StoredTicket, TICKET_COLUMNS, TicketRow,
    decode_column, decode_rows,
};
use super::sla::DueTimes;
use crate::search::query::Texts;
use crate::sql::{Args, fetch, fetch_in_tx};
use crate::{search, snapshot};

/// Why a list was refused.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The caller's cursor (a 400 for the API).
    #[error("invalid cursor: {0}")]
    Cursor(#[from] CursorError),
    /// The caller's limit (a 400 for the API).
    #[error("limit must be between 1 and {MAX_LIMIT}, got {0}")]
    Limit(u32),
    /// Relevance orders a search's hits; without a search there is none.
    #[error("sort by relevance needs a search (q)")]
    RelevanceWithoutSearch,
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

/// The id of the ticket numbered `number`, once the read model has it.
pub async fn id_of_number(database: &Database, number: i64) -> Result<Option<Uuid>, sqlx::Error> {
    let mut args = Args::for_database(database);
    let sql = format!(
        "SELECT id FROM tickets WHERE number = {}",
        args.push(number)
    );
    let found: Vec<(String,)> = fetch(database, &sql, &args).await?;
    Ok(found.into_iter().find_map(|(id,)| id.parse().ok()))
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

/// A listed row: the ticket, its key in the list's order as text (see
/// [`SortKey::parse`]) and, in relevance order, its best matching text.
#[derive(Debug, sqlx::FromRow)]
struct ListedRow {
    #[sqlx(flatten)]
    ticket: StoredTicket,
    sort_key: String,
    hit_doc: Option<i64>,
    /// In relevance order, how many texts were ranked.
    ranked: Option<i64>,
}

/// One page of the tickets matching `filter`, in `page.sort` order after
/// `page.after`; SLA states and the `sla_due` order use `due` at `now`.
pub async fn list(
    database: &Database,
    filter: &TicketFilter,
    page: &Page,
    due: &DueTimes,
    now: OffsetDateTime,
) -> Result<TicketPage, ListError> {
    if !(1..=MAX_LIMIT).contains(&page.limit) {
        return Err(ListError::Limit(page.limit));
    }
    if page.sort.field == SortField::Relevance && filter.search.is_none() {
        return Err(ListError::RelevanceWithoutSearch);
    }
    let after = page
        .after
        .as_deref()
        .map(|cursor| Cursor::decode(cursor, page.sort))
        .transpose()?;
    if searches_for_nothing(filter) {
        // Nothing to look for matches nothing.
        let position = read_position(database).await?;
        return Ok(TicketPage {
            items: Vec::new(),
            next_cursor: None,
            position,
        });
    }

    let ranked = page.sort.field == SortField::Relevance;
    // The rows and the position they are at, from one snapshot.
    let mut tx = snapshot::begin(database).await?;
    let position = snapshot::position(&mut tx, super::NAME).await?;
    // Relevance ranks the newest candidates: looked for in ever wider
    // windows of the newest positions until one holds them all.
    let mut windows = match (&filter.search, ranked) {
        (Some(search), true) => {
            Some(search::query::Windows::plan(database, &mut tx, search, filter, position).await?)
        }
        _ => None,
    };
    let listed: Vec<ListedRow> = loop {
        let (sql, args) = page_sql(database, filter, page, due, now, after.as_ref(), &windows);
        let listed: Vec<ListedRow> = fetch_in_tx(&mut tx, &sql, &args).await?;
        // No row: no candidate in the window (or none after the page's
        // cursor), so the window widens as for a rare word: the whole
        // index gives the answer either way.
        let found = listed.first().and_then(|row| row.ranked).unwrap_or(0);
        let enough = found == search::RANKED_CANDIDATES;
        if enough || !windows.as_mut().is_some_and(|windows| windows.widen(found)) {
            break listed;
        }
    };
    tx.commit().await?;

    let more = listed.len() > page.limit as usize;
    let mut rows = Vec::with_capacity(listed.len());
    let mut docs = Vec::new();
    let mut last = None;
    for row in listed.into_iter().take(page.limit as usize) {
        let ticket = TicketRow::try_from(row.ticket)?;
        last = Some((row.sort_key, ticket.created_position));
        docs.extend(row.hit_doc);
        rows.push(ticket);
    }
    let next_cursor = match last.filter(|_| more) {
        Some((key, created)) => {
            let key = decode_column("sort_key", SortKey::parse(page.sort.field, &key))?;
            Some(Cursor::after(page.sort, key, created).encode())
        }
        None => None,
    };
    let mut snippets = match &filter.search {
        Some(search) => {
            let ids: Vec<String> = rows.iter().map(|row| row.id.to_string()).collect();
            let texts = if ranked {
                Texts::Keyed(&docs)
            } else {
                Texts::OfTickets(&ids)
            };
            search::query::snippets(database, search, texts).await?
        }
        None => Default::default(),
    };
    let items = rows
        .into_iter()
        .map(|ticket| ListedTicket {
            snippet: snippets.remove(&ticket.id.to_string()),
            ticket,
        })
        .collect();
    Ok(TicketPage {
        items,
        next_cursor,
        position,
    })
}

/// The SQL of one page of `filter` in `page.sort` order after `after`, and
/// its values; in relevance order (with `windows`), ranking the texts of
/// the current window.
fn page_sql<'a>(
    database: &Database,
    filter: &'a TicketFilter,
    page: &Page,
    due: &DueTimes,
    now: OffsetDateTime,
    after: Option<&Cursor>,
    windows: &Option<search::query::Windows>,
) -> (String, Args<'a>) {
    let mut args = Args::for_database(database);
    let key = sort_key_sql(database, page.sort.field, due);
    let (from, mut conditions) = match (&filter.search, windows) {
        (Some(search), Some(windows)) => {
            let floor = windows.floor();
            let matched = search::query::push_match(database, search, filter, &mut args);
            let conditions = filter_and_time_conditions(filter, due, now, &mut args);
            let from = search::query::ranked_sql(
                database,
                search,
                &matched,
                &conditions,
                floor,
                &mut args,
            );
            (from, Vec::new())
        }
        _ => from_and_conditions(database, filter, due, now, &mut args),
    };
    conditions.extend(after.map(|cursor| after_condition(cursor, &key, &mut args)));
    let where_clause = where_clause(&conditions);
    let direction = match page.sort.direction {
        Direction::Asc => "ASC",
        Direction::Desc => "DESC",
    };
    let order = if page.sort.field.is_unique() {
        format!("{key} {direction}")
    } else {
        format!("{key} {direction}, created_position {direction}")
    };
    // One row more than asked says whether there is a next page.
    let limit = args.push(i64::from(page.limit) + 1);
    let sql = if windows.is_some() {
        // The page of the ranked tickets is chosen first, by their keys
        // alone, and only its rows are read whole: the 500 ranked tickets'
        // rows (descriptions and all) were read to keep 51.
        format!(
            "SELECT {TICKET_COLUMNS}, CAST(page.page_key AS TEXT) AS sort_key, \
             page.hit_doc AS hit_doc, page.ranked AS ranked \
             FROM (SELECT hits.hit_ticket AS page_ticket, hits.hit_doc AS hit_doc, \
             hits.ranked AS ranked, {key} AS page_key, tickets.created_position AS page_created \
             FROM {from} {where_clause} ORDER BY {order} LIMIT {limit}) page \
             JOIN tickets ON tickets.id = page.page_ticket \
             ORDER BY page.page_key {direction}, page.page_created {direction}"
        )
    } else {
        format!(
            "SELECT {TICKET_COLUMNS}, CAST({key} AS TEXT) AS sort_key, \
             CAST(NULL AS BIGINT) AS hit_doc, CAST(NULL AS BIGINT) AS ranked \
             FROM {from} {where_clause} \
             ORDER BY {order} LIMIT {limit}"
        )
    };
    (sql, prepared_unless_timed(filter, args))
}

/// How many tickets match `filter` (SLA states at `now`), and the read
/// model's position the count is consistent with.
pub async fn count(
    database: &Database,
    filter: &TicketFilter,
    due: &DueTimes,
    now: OffsetDateTime,
) -> Result<(i64, i64), sqlx::Error> {
    if searches_for_nothing(filter) {
        return Ok((0, read_position(database).await?));
    }
    let mut args = Args::for_database(database);
    let (from, conditions) = from_and_conditions(database, filter, due, now, &mut args);
    let sql = format!(
        "SELECT COUNT(*) AS matching FROM {from} {}",
        where_clause(&conditions)
    );
    let args = prepared_unless_timed(filter, args);
    let mut tx = snapshot::begin(database).await?;
    let position = snapshot::position(&mut tx, super::NAME).await?;
    let counted: Vec<(i64,)> = fetch_in_tx(&mut tx, &sql, &args).await?;
    tx.commit().await?;
    Ok((counted.first().map_or(0, |(count,)| *count), position))
}

/// Whether `filter` searches for no word at all, which matches nothing.
fn searches_for_nothing(filter: &TicketFilter) -> bool {
    filter
        .search
        .as_ref()
        .is_some_and(|search| search::query::words(&search.text).is_empty())
}

/// The `FROM` and the `WHERE` conditions of `filter` (its search: every
/// matching ticket), its values added to `args`.
fn from_and_conditions<'a>(
    database: &Database,
    filter: &'a TicketFilter,
    due: &DueTimes,
    now: OffsetDateTime,
    args: &mut Args<'a>,
) -> (String, Vec<String>) {
    let mut conditions: Vec<String> = filter
        .search
        .iter()
        .map(|search| search::query::matching_sql(database, search, filter, args))
        .collect();
    conditions.extend(filter_and_time_conditions(filter, due, now, args));
    ("tickets".to_owned(), conditions)
}

/// The `WHERE` conditions of `filter` but its search, over `tickets`.
fn filter_and_time_conditions<'a>(
    filter: &'a TicketFilter,
    due: &DueTimes,
    now: OffsetDateTime,
    args: &mut Args<'a>,
) -> Vec<String> {
    let mut conditions = filter_conditions(filter, args);
    conditions.extend(time_conditions(filter, args));
    if !filter.sla.is_empty() {
        let now = now.unix_timestamp();
        let states: Vec<String> = filter
            .sla
            .iter()
            .map(|state| due.state_condition(*state, now))
            .collect();
        conditions.push(format!("({})", states.join(" OR ")));
    }
    conditions
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

/// SLA conditions write the clock into the text: such statements are not
/// worth keeping prepared.
fn prepared_unless_timed<'a>(filter: &TicketFilter, args: Args<'a>) -> Args<'a> {
    if filter.sla.is_empty() {
        args
    } else {
        args.planned_each_time()
    }
}

/// The tickets read model's position, read alone.
async fn read_position(database: &Database) -> Result<i64, sqlx::Error> {
    let mut tx = snapshot::begin(database).await?;
    let position = snapshot::position(&mut tx, super::NAME).await?;
    tx.commit().await?;
    Ok(position)
}

/// The SQL of a list's sort key. Text keys compare by code point on both backends (SQLite's
/// `BINARY`, PostgreSQL's `"C"`), so a list has one order whichever runs it.
fn sort_key_sql(database: &Database, field: SortField, due: &DueTimes) -> String {
    let text = |expression: &str| match database {
        Database::Sqlite(_) => format!("({expression})"),
        Database::Postgres(_) => format!("({expression}) COLLATE \"C\""),
    };
    match field {
        SortField::Created => "created_position".into(),
        SortField::Updated => "updated_position".into(),
        SortField::Priority => "priority_rank".into(),
        SortField::SlaDue => due.due_key_sql(),
        SortField::Relevance => "hits.rank_key".into(),
        SortField::Title => text("title_folded"),
        SortField::Requester => text("requester_id"),
        // `0` before an assignee's id and `1` alone for nobody: unassigned sorts last.
        SortField::Assignee => {
            text("CASE WHEN assignee_id IS NULL THEN '1' ELSE '0' || assignee_id END")
        }
        SortField::Status => status_rank_sql(),
    }
}

/// A status's place in the workflow (`Status::ALL`'s order) as SQL.
fn status_rank_sql() -> String {
    let ranks: String = Status::ALL
        .iter()
        .enumerate()
        .map(|(rank, status)| format!(" WHEN '{}' THEN {rank}", status.as_str()))
        .collect();
    format!("(CASE status{ranks} END)")
}

/// The created and updated ranges, on the unix-second columns.
fn time_conditions(filter: &TicketFilter, args: &mut Args<'_>) -> Vec<String> {
    let mut conditions = Vec::new();
    for (column, range) in [
        ("created_unix", filter.created),
        ("updated_unix", filter.updated),
    ] {
        if let Some(from) = range.from {
            conditions.push(format!("{column} >= {}", args.push(from)));
        }
        if let Some(to) = range.to {
            conditions.push(format!("{column} < {}", args.push(to)));
        }
    }
    conditions
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

/// Rows strictly after `cursor` in its sort order, whose key is `key_sql`.
fn after_condition(cursor: &Cursor, key_sql: &str, args: &mut Args<'_>) -> String {
    let operator = match cursor.sort.direction {
        Direction::Asc => ">",
        Direction::Desc => "<",
    };
    let key = match &cursor.key {
        SortKey::Number(number) => args.push(*number),
        SortKey::Text(text) => args.push(text.clone()),
    };
    if cursor.sort.field.is_unique() {
        format!("{key_sql} {operator} {key}")
    } else {
        let created = args.push(cursor.created_position);
        format!("({key_sql}, created_position) {operator} ({key}, {created})")
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
