//! The one error type of the HTTP layer and its `application/problem+json`
//! form. Internal failures are logged with their cause and answered with a
//! generic message: nothing of the database or the stack leaks to clients.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bomizzel_domain::{DomainError, Refusal};
use bomizzel_identity::IdentityError;
use bomizzel_store::StoreError;
use bomizzel_store::health::{Outage, outage_of};
use serde::Serialize;

/// An error answered to the client: HTTP status, a stable machine `code`,
/// a human `detail`, and the offending field when there is one.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    pub retry_after_secs: Option<u64>,
}

/// The problem+json body (RFC 9457).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable URI of the problem kind: `/problems/{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            retry_after_secs: None,
        }
    }

    /// Tells the client when to try again (`Retry-After`).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Names the offending field when the cause says which.
    pub fn with_field_if_known(mut self, field: Option<impl Into<String>>) -> Self {
        self.field = field.map(Into::into);
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many commands; retry in {retry_after_secs} s"),
            )
        }
    }

    /// The database's outage: retryable, and not logged here (the health
    /// monitor reports an outage once; a full disk is the operator's alarm).
    pub fn outage(outage: Outage) -> Self {
        match outage {
            Outage::Unreachable => Self {
                retry_after_secs: Some(1),
                ..Self::unavailable(
                    "database_unavailable",
                    "the database cannot be reached; retry shortly (with the same Idempotency-Key for commands)",
                )
            },
            Outage::StorageFull => Self {
                retry_after_secs: Some(30),
                ..Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage_full",
                    "the server's disk is full; nothing was saved; retry later",
                )
            },
        }
    }

    /// A database error: an outage is answered as one, anything else is
    /// internal.
    pub fn database(error: sqlx::Error) -> Self {
        match outage_of(&error) {
            Some(outage) => Self::outage(outage),
            None => Self::internal(error),
        }
    }

    /// Logs `error` with its whole chain and answers 500 without it.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        let error = error.into();
        tracing::error!(error = format!("{error:#}"), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it has been logged",
        )
    }

    fn problem(&self) -> Problem {
        Problem {
            kind: format!("/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            code: self.code.to_owned(),
            detail: self.detail.clone(),
            field: self.field.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The HTTP status of a refused command, by kind (`DomainError::refusal`
/// maps every variant to one).
fn domain_status(error: &DomainError) -> StatusCode {
    match error.refusal() {
        Refusal::Missing => StatusCode::NOT_FOUND,
        Refusal::Conflict => StatusCode::CONFLICT,
        Refusal::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let status = domain_status(&error);
        Self::new(status, error.code(), error.to_string()).with_field_if_known(error.field())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { .. } => Self::conflict("version_conflict", error.to_string()),
            StoreError::IdempotencyKeyReused { .. } => {
                Self::unprocessable("idempotency_key_reused", error.to_string())
            }
            other => match other.outage() {
                Some(outage) => Self::outage(outage),
                None => Self::internal(other),
            },
        }
    }
}

/// By variant: a refused token is 401 with its code; a store error is
/// answered as the store's own; anything else is internal.
impl From<IdentityError> for ApiError {
    fn from(error: IdentityError) -> Self {
        match error {
            IdentityError::Unauthorized { code, detail } => Self::unauthorized(code, detail),
            IdentityError::Store(error) => error.into(),
            IdentityError::Database(error) => Self::database(error),
            IdentityError::Unreachable => Self::outage(Outage::Unreachable),
            IdentityError::Undecodable(_) => Self::internal(error),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::database(error)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use bomizzel_domain::Status;

    use super::*;

    #[test]
    fn refused_commands_become_problems_by_variant() {
        let cases = [
            (DomainError::NotFound, 404, "not_found", None),
            (
                DomainError::InvalidTransition {
                    from: Status::Closed,
                    to: Status::Waiting,
                },
                409,
                "invalid_transition",
                None,
            ),
            (DomainError::TicketClosed, 409, "ticket_closed", None),
            (DomainError::AlreadyExists, 409, "already_exists", None),
            (
                DomainError::TitleLength { got: 0 },
                422,
                "validation_failed",
                Some("title"),
            ),
            (
                DomainError::IdLength {
                    field: "queue_id",
                    got: 99,
                },
                422,
                "validation_failed",
                Some("queue_id"),
            ),
        ];
        for (error, status, code, field) in cases {
            let api = ApiError::from(error);
            assert_eq!(
                (api.status.as_u16(), api.code, api.field.as_deref()),
                (status, code, field)
            );
        }
    }

    #[test]
    fn identity_errors_become_problems_by_variant() {
        let cases = [
            (
                IdentityError::Unauthorized {
                    code: "user_disabled",
                    detail: "disabled".into(),
                },
                401,
                "user_disabled",
            ),
            (
                IdentityError::Store(StoreError::Conflict {
                    stream_id: "t".into(),
                    expected: 1,
                    actual: 2,
                }),
                409,
                "version_conflict",
            ),
            (
                IdentityError::Database(sqlx::Error::RowNotFound),
                500,
                "internal",
            ),
        ];
        for (error, status, code) in cases {
            let api = ApiError::from(error);
            assert_eq!((api.status.as_u16(), api.code), (status, code));
        }
    }
}
