//! The ticket list's question, shared by `GET /api/tickets`, saved views
//! and the tickets export: which tickets (filters and full-text search)
//! and in which order, parsed from query parameters and checked against
//! the caller; and a listed ticket as the caller may see it.
//!
//! Which filters a caller may use is the visibility policy's
//! (`Viewer::may_filter_by`): a filter or order on a field hidden from them
//! would tell them its value, so it is refused (400 `invalid_query`).
//! What a search may match is the policy's too
//! (`Viewer::searches_internal_comments`).

use std::collections::BTreeMap;

use bomizzel_domain::{Priority, Status, Viewer};
use bomizzel_identity::Caller;
use bomizzel_projections::tickets::{
    AssigneeFilter, Direction, ListError, ListedTicket, Search, SlaState, Sort, SortField,
    TicketFilter, TimeRange, Visibility,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::json::unknown_field;

/// Filters, search and order of a ticket list; every parameter is
/// optional and they combine (all must match).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated statuses, e.g. `open,in_progress`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Comma-separated priorities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// A queue id (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// A team id (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// A user id, `me`, or `none` (also `unassigned`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// A tag (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Full-text search over title, description and comments (all words
    /// must match, stemmed); the list is ranked by relevance and each item
    /// carries a `snippet`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Text in the title (case-insensitive substring).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Created at or after this time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_from: Option<String>,
    /// Created before this time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_to: Option<String>,
    /// Last changed at or after this time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_from: Option<String>,
    /// Last changed before this time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_to: Option<String>,
    /// Comma-separated SLA states: `breached`, `due_soon`, `ok` (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla: Option<String>,
    /// `created`, `updated`, `priority`, `sla_due` (staff only),
    /// `relevance` (with `q`), `title` (case-insensitive), `requester` and
    /// `assignee` (by user id; unassigned last) or `status` (workflow order:
    /// open, in_progress, waiting, resolved, closed), with `-` in front for
    /// descending; ties go by creation, in the same direction. Default
    /// `-relevance` with `q`, else `-created` (newest first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
}

/// A page of a list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1-200, default 50.
    pub limit: Option<u32>,
}

/// Splits a query string's parameters into the list's and the `extra`
/// ones (e.g. `cursor`, `limit`, `format`) the route takes besides.
pub(crate) fn split_query(
    mut parameters: BTreeMap<String, String>,
    extra: &[&str],
) -> ApiResult<(ListQuery, BTreeMap<String, String>)> {
    let own = extra
        .iter()
        .filter_map(|name| parameters.remove_entry(*name))
        .collect();
    let list = ListQuery::from_map(parameters)?;
    Ok((list, own))
}

/// The `limit` and `cursor` of a route's own parameters.
pub(crate) fn paging(own: &BTreeMap<String, String>) -> ApiResult<Paging> {
    let limit = own
        .get("limit")
        .map(|limit| {
            limit
                .parse()
                .map_err(|_| bad_query("limit", format!("limit must be a number, not {limit:?}")))
        })
        .transpose()?;
    Ok(Paging {
        cursor: own.get("cursor").cloned(),
        limit,
    })
}

fn bad_query(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", detail).with_field(field)
}

/// Parses a comma-separated list of `T`s.
fn parse_list<T: std::str::FromStr<Err = impl std::fmt::Display>>(
    field: &'static str,
    value: Option<&str>,
) -> ApiResult<Vec<T>> {
    value
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse()
                .map_err(|e| bad_query(field, format!("{field}: {e}")))
        })
        .collect()
}

fn parse_time(field: &'static str, value: Option<&str>) -> ApiResult<Option<i64>> {
    value
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339)
                .map(OffsetDateTime::unix_timestamp)
                .map_err(|_| {
                    bad_query(
                        field,
                        format!("{field} must be an RFC 3339 time, not {text:?}"),
                    )
                })
        })
        .transpose()
}

impl ListQuery {
    /// The list's parameters from a map of them; an unknown one is 400
    /// naming it.
    pub(crate) fn from_map(parameters: BTreeMap<String, String>) -> ApiResult<Self> {
        let object = parameters
            .into_iter()
            .map(|(name, value)| (name, Value::String(value)))
            .collect();
        serde_json::from_value(Value::Object(object)).map_err(|error| {
            let detail = error.to_string();
            match unknown_field(&detail) {
                Some(field) => bad_query(&field, format!("unknown parameter {field:?}")),
                None => ApiError::bad_request("invalid_query", detail),
            }
        })
    }

    /// The filter and order this asks for, for `caller`: 400 for what
    /// does not parse or what the visibility policy keeps from them.
    pub(crate) fn resolve(&self, caller: &Caller) -> ApiResult<(TicketFilter, Sort)> {
        let viewer = caller.viewer();
        let staff_only = |parameter: &'static str, field: &str, value: &Option<String>| {
            if value.is_some() && !viewer.may_filter_by(field) {
                return Err(bad_query(
                    parameter,
                    format!("{parameter} is not a filter customers may use"),
                ));
            }
            Ok(value.clone())
        };
        let filter = TicketFilter {
            statuses: parse_list::<Status>("status", self.status.as_deref())?,
            priorities: parse_list::<Priority>("priority", self.priority.as_deref())?,
            queue_id: staff_only("queue", "queue_id", &self.queue)?,
            team_id: staff_only("team", "team_id", &self.team)?,
            assignee: self.assignee.as_deref().map(|assignee| match assignee {
                "none" | "unassigned" => AssigneeFilter::Unassigned,
                "me" => AssigneeFilter::User(caller.user_id.clone()),
                user => AssigneeFilter::User(user.to_owned()),
            }),
            company_id: self.company.clone(),
            requester_id: self.requester.clone(),
            tag: staff_only("tag", "tags", &self.tag)?,
            q: self.title.clone(),
            search: self.q.clone().map(|text| Search {
                text,
                internal_comments: viewer.searches_internal_comments(),
            }),
            created: TimeRange {
                from: parse_time("created_from", self.created_from.as_deref())?,
                to: parse_time("created_to", self.created_to.as_deref())?,
            },
            updated: TimeRange {
                from: parse_time("updated_from", self.updated_from.as_deref())?,
                to: parse_time("updated_to", self.updated_to.as_deref())?,
            },
            sla: parse_list::<SlaState>("sla", staff_only("sla", "sla", &self.sla)?.as_deref())?,
            visibility: visibility(&viewer),
        };
        let sort = self.sort(&viewer, filter.search.is_some())?;
        Ok((filter, sort))
    }

    fn sort(&self, viewer: &Viewer<'_>, searching: bool) -> ApiResult<Sort> {
        let Some(sort) = self.sort.as_deref() else {
            let field = if searching {
                SortField::Relevance
            } else {
                SortField::Created
            };
            return Ok(Sort::new(field, Direction::Desc));
        };
        let (direction, name) = match sort.strip_prefix('-') {
            Some(name) => (Direction::Desc, name),
            None => (Direction::Asc, sort),
        };
        let field = SortField::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = SortField::ALL.iter().map(|f| f.as_str()).collect();
                bad_query(
                    "sort",
                    format!(
                        "sort must be one of {} (optionally with -), not {sort:?}",
                        names.join(", ")
                    ),
                )
            })?;
        if field
            .reveals_field()
            .is_some_and(|hidden| !viewer.may_filter_by(hidden))
        {
            return Err(bad_query(
                "sort",
                format!("customers may not sort by {name}"),
            ));
        }
        Ok(Sort::new(field, direction))
    }
}

/// The SQL form of the visibility policy's `Viewer::may_see`.
pub(crate) fn visibility(viewer: &Viewer<'_>) -> Visibility {
    match *viewer {
        Viewer::Desk { .. } | Viewer::Auditor { .. } => Visibility::All,
        Viewer::Agent { team_ids, .. } => Visibility::Teams(team_ids.to_vec()),
        Viewer::Customer { company_id, .. } => {
            Visibility::Company(company_id.unwrap_or_default().to_owned())
        }
    }
}

/// A listed ticket as `caller` may see it: its SLA at `now` and its search
/// snippet added, the fields the visibility policy keeps from them
/// removed, with the version they count.
pub(crate) fn shown(
    state: &AppState,
    caller: &Caller,
    listed: &ListedTicket,
    now: OffsetDateTime,
) -> Value {
    let viewer = caller.viewer();
    let row = &listed.ticket;
    let mut value = serde_json::to_value(row).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        let version = viewer.counted_version(row.version, row.customer_version);
        object.insert("version".into(), version.into());
        object.remove("customer_version");
        let sla = state.due_times.assess(row, now);
        object.insert("sla".into(), serde_json::to_value(sla).unwrap_or_default());
        if let Some(snippet) = &listed.snippet {
            object.insert("snippet".into(), snippet.clone().into());
        }
        viewer.redact(object);
    }
    value
}

/// A list error as the caller's 400, or a server error.
pub(crate) fn list_error(error: ListError) -> ApiError {
    match error {
        ListError::Cursor(e) => bad_query("cursor", e.to_string()),
        ListError::Limit(_) => bad_query("limit", error.to_string()),
        ListError::RelevanceWithoutSearch => bad_query("sort", error.to_string()),
        ListError::Database(e) => ApiError::database(e),
    }
}
