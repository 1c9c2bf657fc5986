//! The one error type of this layer. It says what went wrong, not how to
//! answer it: `api` turns it into problem+json, the gateway into refusals
//! and close codes, each by variant in one place.

use bomizzel_domain::DecodeError;
use bomizzel_store::StoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum IdentityError {
    /// The token, or its user, is refused. `code` is stable and reaches
    /// clients (`token_expired`, `token_revoked`, `user_disabled`, ...).
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    #[error("directory query failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store's health monitor knows the database is away, so it was
    /// not asked.
    #[error("the database cannot be reached")]
    Unreachable,
    /// A ticket's stored event cannot be read back.
    #[error("a stored ticket event cannot be decoded: {0}")]
    Undecodable(#[from] DecodeError),
}

impl IdentityError {
    pub(crate) fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            detail: detail.into(),
        }
    }
}

impl IdentityError {
    /// Whether this is the database's outage rather than the caller's fault.
    pub fn outage(&self) -> Option<bomizzel_store::Outage> {
        match self {
            Self::Database(error) => bomizzel_store::health::outage_of(error),
            Self::Store(error) => error.outage(),
            Self::Unreachable => Some(bomizzel_store::Outage::Unreachable),
            _ => None,
        }
    }
}

pub type IdentityResult<T> = Result<T, IdentityError>;
