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

pub type IdentityResult<T> = Result<T, IdentityError>;
