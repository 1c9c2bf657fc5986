//! A JSON body extractor whose rejections are problem+json: malformed JSON
//! and wrong or unknown fields are 400 naming the field, bodies over the
//! limit are 413.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Like `axum::Json`, with Bomizzel's error answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejected(rejection)),
        }
    }
}

fn rejected(rejection: JsonRejection) -> ApiError {
    let detail = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => {
            let field = unknown_field(&detail);
            ApiError::bad_request("invalid_field", detail).with_field_if_known(field)
        }
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request("malformed_json", detail),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON with Content-Type: application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the body is larger than the 1 MiB limit",
        ),
        other => ApiError::bad_request("invalid_body", other.body_text()),
    }
}

/// serde says "unknown field `x`, expected …"; pull out `x`.
pub(crate) fn unknown_field(detail: &str) -> Option<String> {
    let rest = detail.split("unknown field `").nth(1)?;
    rest.split('`').next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::unknown_field;

    #[test]
    fn finds_the_unknown_field_in_serde_messages() {
        assert_eq!(
            unknown_field("Failed to deserialize: unknown field `colour`, expected `title`"),
            Some("colour".into())
        );
        assert_eq!(unknown_field("missing field `title`"), None);
    }
}
