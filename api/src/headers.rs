//! The request headers commands read: `If-Match`, `Idempotency-Key` and the
//! request id that becomes the events' correlation id (and the in-process
//! `OccurredAt` extension).

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::commands::{CommandContext, OccurredAt};
use crate::error::ApiError;

pub const REQUEST_ID: &str = "x-request-id";
const IDEMPOTENCY_KEY_MAX: usize = 200;

impl<S: Send + Sync> FromRequestParts<S> for CommandContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self {
            correlation_id: header(&parts.headers, REQUEST_ID)?.map(str::to_owned),
            idempotency_key: idempotency_key(&parts.headers)?,
            if_match: if_match(&parts.headers)?,
            route: route(parts),
            occurred_at: parts.extensions.get::<OccurredAt>().map(|at| at.0),
        })
    }
}

/// `METHOD /route/{template}`: the route as declared, not the path with
/// its ids.
fn route(parts: &Parts) -> String {
    let path = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(|| parts.uri.path(), MatchedPath::as_str);
    format!("{} {path}", parts.method)
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    headers
        .get(name)
        .map(|value| {
            value.to_str().map_err(|_| {
                ApiError::bad_request("invalid_header", format!("{name} must be visible ASCII"))
            })
        })
        .transpose()
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(key) = header(headers, "idempotency-key")? else {
        return Ok(None);
    };
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX {
        return Err(ApiError::bad_request(
            "invalid_header",
            format!("Idempotency-Key must be 1-{IDEMPOTENCY_KEY_MAX} characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// `If-Match: "3"` (the ETag of `GET /api/tickets/{id}`), also without quotes.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = header(headers, "if-match")? else {
        return Ok(None);
    };
    value
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_header",
                format!("If-Match must be a ticket version such as \"3\", not {value:?}"),
            )
        })
}

/// The ETag for a ticket version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}
