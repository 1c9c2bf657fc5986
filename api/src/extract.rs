//! Query-string and path extractors whose rejections are problem+json, as
//! [`crate::json::JsonBody`] is for bodies: axum's own `Query` and `Path`
//! answer `text/plain`, and every error of this API is an [`ApiError`].
//! They keep axum's names so that a handler only swaps its import.
//!
//! - A query string that does not fit (unknown parameter, `version=-1`) is
//!   400 `invalid_query` naming the parameter where serde says which.
//! - A path parameter that does not fit (not UTF-8 once decoded) is 400
//!   `invalid_path` naming the parameter.

use axum::extract::FromRequestParts;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::json::unknown_field;

/// Like `axum::extract::Query`, with Bomizzel's error answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

/// Like `axum::extract::Path`, with Bomizzel's error answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejected(&rejection)),
        }
    }
}

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_rejected(rejection)),
        }
    }
}

fn query_rejected(rejection: &QueryRejection) -> ApiError {
    let detail = rejection.body_text();
    let field = query_field(&detail);
    ApiError::bad_request("invalid_query", detail).with_field_if_known(field)
}

/// The parameter a query-string error is about: serde names it in
/// backticks (unknown or missing field) or as the path before `: `.
fn query_field(detail: &str) -> Option<String> {
    let reason = detail
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(detail);
    if let Some(field) = unknown_field(reason) {
        return Some(field);
    }
    if let Some(missing) = reason.split("missing field `").nth(1) {
        return missing.split('`').next().map(str::to_owned);
    }
    let (path, _) = reason.split_once(": ")?;
    let is_name = !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    is_name.then(|| path.to_owned())
}

fn path_rejected(rejection: PathRejection) -> ApiError {
    match rejection {
        PathRejection::FailedToDeserializePathParams(error) => {
            let detail = error.body_text();
            let field = match error.into_kind() {
                ErrorKind::ParseErrorAtKey { key, .. }
                | ErrorKind::InvalidUtf8InPathParam { key }
                | ErrorKind::DeserializeError { key, .. } => Some(key),
                _ => None,
            };
            ApiError::bad_request("invalid_path", detail).with_field_if_known(field)
        }
        // Routes and handlers disagree: a bug, not the client's doing.
        other => ApiError::internal(anyhow::anyhow!(other.body_text())),
    }
}

#[cfg(test)]
mod tests {
    use super::query_field;

    #[test]
    fn finds_the_parameter_in_query_string_errors() {
        let prefix = "Failed to deserialize query string: ";
        let cases = [
            ("version: invalid digit found in string", Some("version")),
            ("unknown field `colour`, expected `status`", Some("colour")),
            ("missing field `since`", Some("since")),
            ("invalid type: map, expected u64", None),
        ];
        for (reason, field) in cases {
            let detail = format!("{prefix}{reason}");
            assert_eq!(query_field(&detail).as_deref(), field, "{detail}");
        }
    }
}
