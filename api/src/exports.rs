//! Exports for analysts (`/api/exports/…`): the ticket list, the hourly
//! queue buckets and one ticket's history, as CSV (RFC 4180: fields quoted
//! when they hold a comma, a quote or a line break, quotes doubled, CRLF
//! line ends; UTF-8 with a header row) or, with `format=jsonl`, one JSON
//! object a line. Columns are in docs/read-models.md.
//!
//! Streamed: the answer's body is produced a page at a time (keyset pages
//! of the read model, as the list pages), so the server holds one page
//! whatever the export's size. A long export is not one snapshot: it reads
//! page after page, in creation order, and a ticket is written once, as
//! it was when its page was read.
//!
//! Who may export: staff. Customers are refused (403); every export is
//! the caller's view (the same visibility and filters as the list, queue
//! figures of the queues they may read). Once the body has started, a
//! failure can only cut it short: the error is logged and the connection
//! closed, so a client sees an incomplete transfer, never a short file
//! that looks whole.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bomizzel_identity::{Caller, Role, directory};
use bomizzel_projections::metrics;
use bomizzel_projections::on_pool;
use bomizzel_projections::tickets::{
    self, Direction, ListedTicket, MAX_LIMIT, Page, Sort, SortField, TicketFilter,
};
use futures::{Stream, StreamExt, stream};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Query;
use crate::listing::{self, ListQuery};
use crate::queries::{require_built, require_queue_reader};
use crate::tickets::{HistoryEntry, history_entries, resolve_reference};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_tickets))
        .routes(routes!(export_queue_hourly))
        .routes(routes!(export_history))
}

/// The two forms of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Jsonl,
}

impl Format {
    fn parse(value: Option<&str>) -> ApiResult<Self> {
        match value {
            None | Some("csv") => Ok(Self::Csv),
            Some("jsonl") => Ok(Self::Jsonl),
            Some(other) => Err(ApiError::bad_request(
                "invalid_query",
                format!("format must be csv or jsonl, not {other:?}"),
            )
            .with_field("format")),
        }
    }
}

/// Staff export; customers do not.
fn require_staff(caller: &Caller) -> ApiResult<()> {
    if caller.role.is_staff() {
        Ok(())
    } else {
        Err(ApiError::forbidden("exports are for staff"))
    }
}

/// One CSV record: fields quoted when they must be (RFC 4180), CRLF-ended.
pub(crate) fn csv_record<S: AsRef<str>>(fields: &[S]) -> String {
    let mut line = String::new();
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            line.push(',');
        }
        let field = field.as_ref();
        if field.contains([',', '"', '\r', '\n']) {
            line.push('"');
            line.push_str(&field.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(field);
        }
    }
    line.push_str("\r\n");
    line
}

/// An export's answer: `body` streamed under `name` (`tickets` → `tickets.csv`).
fn streamed(
    name: &str,
    format: Format,
    body: impl Stream<Item = Result<Bytes, ApiError>> + Send + 'static,
) -> Response {
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8; header=present", "csv"),
        Format::Jsonl => ("application/x-ndjson; charset=utf-8", "jsonl"),
    };
    let body = body.map(|chunk| {
        chunk.map_err(|error| {
            tracing::error!(code = error.code, detail = %error.detail, "export cut short");
            std::io::Error::other(error.detail)
        })
    });
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(disposition) =
        HeaderValue::from_str(&format!("attachment; filename=\"{name}.{extension}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    response
}

/// `rows` as one chunk of `format`, with `header` first in CSV.
fn chunk(format: Format, header: Option<&[&str]>, rows: Vec<(Vec<String>, Value)>) -> Bytes {
    let mut text = String::new();
    if let (Format::Csv, Some(header)) = (format, header) {
        text.push_str(&csv_record(header));
    }
    for (fields, object) in rows {
        match format {
            Format::Csv => text.push_str(&csv_record(&fields)),
            Format::Jsonl => {
                text.push_str(&object.to_string());
                text.push('\n');
            }
        }
    }
    Bytes::from(text)
}

fn rfc3339(at: Option<OffsetDateTime>) -> String {
    at.and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

// ---- tickets -----------------------------------------------------------------

/// The columns of `tickets.csv`, in order.
pub(crate) const TICKET_COLUMNS: [&str; 22] = [
    "number",
    "id",
    "title",
    "status",
    "priority",
    "company_id",
    "requester_id",
    "queue_id",
    "team_id",
    "assignee_id",
    "tags",
    "public_comment_count",
    "internal_comment_count",
    "created_at",
    "updated_at",
    "first_assigned_at",
    "resolved_at",
    "closed_at",
    "sla_state",
    "first_response_due_at",
    "resolution_due_at",
    "sla_due_at",
];

/// A ticket's CSV fields (as [`TICKET_COLUMNS`]) and JSON line.
fn ticket_fields(
    state: &AppState,
    caller: &Caller,
    listed: &ListedTicket,
    now: OffsetDateTime,
) -> (Vec<String>, Value) {
    let row = &listed.ticket;
    let sla = state.due_times.assess(row, now);
    let fields = vec![
        row.number.to_string(),
        row.id.to_string(),
        row.title.clone(),
        row.status.as_str().to_owned(),
        row.priority.as_str().to_owned(),
        row.company_id.clone(),
        row.requester_id.clone(),
        row.queue_id.clone(),
        row.team_id.clone(),
        row.assignee_id.clone().unwrap_or_default(),
        row.tags.join(";"),
        row.public_comment_count.to_string(),
        row.internal_comment_count.to_string(),
        rfc3339(Some(row.created_at)),
        rfc3339(Some(row.updated_at)),
        rfc3339(row.first_assigned_at),
        rfc3339(row.resolved_at),
        rfc3339(row.closed_at),
        sla.state.as_str().to_owned(),
        rfc3339(Some(sla.first_response.due_at)),
        rfc3339(Some(sla.resolution.due_at)),
        rfc3339(sla.due_at),
    ];
    (fields, listing::shown(state, caller, listed, now))
}

/// The tickets the list's filters select (not `q`, `sort`: creation order),
/// every one the caller may see, streamed.
#[utoipa::path(get, path = "/api/exports/tickets.csv", tag = "exports", params(ListQuery, ("format" = Option<String>, Query, description = "`csv` (default) or `jsonl`")),
    responses((status = 200, description = "CSV (or JSON lines) of tickets", content_type = "text/csv"), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn export_tickets(
    caller: Caller,
    State(state): State<AppState>,
    Query(parameters): Query<BTreeMap<String, String>>,
) -> ApiResult<Response> {
    require_staff(&caller)?;
    require_built(&state, tickets::NAME).await?;
    let (query, own) = listing::split_query(parameters, &["format"])?;
    let format = Format::parse(own.get("format").map(String::as_str))?;
    if query.q.is_some() || query.sort.is_some() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "an export is every matching ticket in creation order: no q or sort",
        ));
    }
    let (filter, _) = query.resolve(&caller)?;
    let rows = ticket_pages(state, caller, filter, format);
    Ok(streamed("tickets", format, rows))
}

/// Where a streamed export of tickets is.
struct TicketExport {
    state: AppState,
    caller: Caller,
    filter: TicketFilter,
    format: Format,
    page: Option<Page>,
    first: bool,
}

fn ticket_pages(
    state: AppState,
    caller: Caller,
    filter: TicketFilter,
    format: Format,
) -> impl Stream<Item = Result<Bytes, ApiError>> + Send + 'static {
    let page = Page::first(Sort::new(SortField::Created, Direction::Asc)).with_limit(MAX_LIMIT);
    let export = TicketExport {
        state,
        caller,
        filter,
        format,
        page: Some(page),
        first: true,
    };
    stream::unfold(export, |mut export| async move {
        let page = export.page.take()?;
        let now = OffsetDateTime::now_utc();
        let found = tickets::query::list(
            export.state.store.database(),
            &export.filter,
            &page,
            &export.state.due_times,
            now,
        )
        .await;
        let found = match found {
            Ok(found) => found,
            Err(error) => return Some((Err(listing::list_error(error)), export)),
        };
        export.page = found.next_cursor.map(|cursor| page.after(cursor));
        let rows = found
            .items
            .iter()
            .map(|listed| ticket_fields(&export.state, &export.caller, listed, now))
            .collect();
        let header = export.first.then_some(&TICKET_COLUMNS[..]);
        export.first = false;
        Some((Ok(chunk(export.format, header, rows)), export))
    })
}

// ---- queue hourly ------------------------------------------------------------

#[derive(Debug, serde::Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HourlyExportQuery {
    /// One queue; default every queue the caller may read.
    queue: Option<String>,
    /// Unix seconds; default 30 days before `to`.
    from: Option<i64>,
    /// Unix seconds; default now.
    to: Option<i64>,
    /// `csv` (default) or `jsonl`.
    format: Option<String>,
}

const HOURLY_COLUMNS: [&str; 6] = [
    "queue_id",
    "hour_start",
    "hour_unix",
    "created",
    "first_assigned",
    "resolved",
];

/// The queues `caller` may read the figures of, by id.
async fn readable_queues(state: &AppState, caller: &Caller) -> ApiResult<Vec<String>> {
    Ok(match caller.role {
        Role::Admin | Role::Analyst | Role::Auditor => on_pool!(state.store.database(), pool => {
            sqlx::query_scalar("SELECT id FROM queues ORDER BY id")
                .fetch_all(pool)
                .await?
        }),
        Role::Agent => {
            let mut queues =
                directory::queues_of_member(state.store.database(), &caller.user_id).await?;
            queues.sort();
            queues
        }
        Role::Customer => Vec::new(),
    })
}

/// Hourly buckets (created, first assigned, resolved) per queue and UTC
/// hour, queue after queue.
#[utoipa::path(get, path = "/api/exports/queue_hourly.csv", tag = "exports", params(HourlyExportQuery),
    responses((status = 200, description = "CSV (or JSON lines) of hourly buckets", content_type = "text/csv"), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn export_queue_hourly(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<HourlyExportQuery>,
) -> ApiResult<Response> {
    require_staff(&caller)?;
    require_built(&state, "queue_metrics").await?;
    let format = Format::parse(query.format.as_deref())?;
    let to = query
        .to
        .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp());
    let from = query.from.unwrap_or(to - 30 * 24 * 3600);
    if from > to {
        return Err(
            ApiError::bad_request("invalid_query", "from must not be after to").with_field("from"),
        );
    }
    let queues = match query.queue {
        Some(queue) => {
            require_queue_reader(&state, &caller, &queue).await?;
            vec![queue]
        }
        None => readable_queues(&state, &caller).await?,
    };
    let rows = stream::iter(queues.into_iter().enumerate()).then(move |(index, queue)| {
        let state = state.clone();
        async move {
            let buckets = metrics::hourly(state.store.database(), &queue, from, to)
                .await
                .map_err(ApiError::internal)?;
            let rows = buckets
                .into_iter()
                .map(|bucket| {
                    let hour = OffsetDateTime::from_unix_timestamp(bucket.hour_unix).ok();
                    let object = serde_json::json!({
                        "queue_id": queue,
                        "hour_start": rfc3339(hour),
                        "hour_unix": bucket.hour_unix,
                        "created": bucket.created,
                        "first_assigned": bucket.first_assigned,
                        "resolved": bucket.resolved,
                    });
                    let fields = vec![
                        queue.clone(),
                        rfc3339(hour),
                        bucket.hour_unix.to_string(),
                        bucket.created.to_string(),
                        bucket.first_assigned.to_string(),
                        bucket.resolved.to_string(),
                    ];
                    (fields, object)
                })
                .collect();
            Ok(chunk(
                format,
                (index == 0).then_some(&HOURLY_COLUMNS[..]),
                rows,
            ))
        }
    });
    Ok(streamed("queue_hourly", format, rows))
}

// ---- history -----------------------------------------------------------------

#[derive(Debug, serde::Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HistoryExportQuery {
    /// The ticket's id or number.
    ticket: String,
    /// `csv` (default) or `jsonl`.
    format: Option<String>,
}

const HISTORY_COLUMNS: [&str; 9] = [
    "position",
    "version",
    "type",
    "actor",
    "role",
    "correlation_id",
    "occurred_at",
    "recorded_at",
    "data",
];

fn history_fields(entry: HistoryEntry) -> (Vec<String>, Value) {
    let fields = vec![
        entry.position.to_string(),
        entry.version.to_string(),
        entry.event_type.clone(),
        entry.actor.clone(),
        entry.role.clone(),
        entry.correlation_id.clone().unwrap_or_default(),
        rfc3339(Some(entry.occurred_at)),
        rfc3339(Some(entry.recorded_at)),
        entry.data.to_string(),
    ];
    (fields, serde_json::to_value(entry).unwrap_or_default())
}

/// Every event of one ticket, with who did it and when (an auditor's
/// record), as the caller may see them.
#[utoipa::path(get, path = "/api/exports/history.csv", tag = "exports", params(HistoryExportQuery),
    responses((status = 200, description = "CSV (or JSON lines) of the ticket's events", content_type = "text/csv"), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn export_history(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<HistoryExportQuery>,
) -> ApiResult<Response> {
    require_staff(&caller)?;
    let format = Format::parse(query.format.as_deref())?;
    let id = resolve_reference(&state, &query.ticket).await?;
    let rows = history_entries(&state, &caller, id)
        .await?
        .into_iter()
        .map(history_fields)
        .collect();
    let body = chunk(format, Some(&HISTORY_COLUMNS[..]), rows);
    Ok(streamed(
        "history",
        format,
        stream::once(async move { Ok(body) }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_must_be_quoted() {
        assert_eq!(csv_record(&["a", "b c", ""]), "a,b c,\r\n");
        assert_eq!(
            csv_record(&["x,y", "say \"hi\"", "two\nlines", "cr\r"]),
            "\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\"\r\n"
        );
        assert_eq!(csv_record(&["é ü 😀"]), "é ü 😀\r\n");
    }
}
