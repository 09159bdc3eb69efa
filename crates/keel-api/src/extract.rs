//! Request extractors whose rejections are problem+json: a malformed body, query string or path
//! becomes a clear 4xx naming what was wrong, never axum's plain-text default or a 500.

use crate::problem::ApiError;
use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keel_domain::FieldError;

/// A JSON body; syntax errors are 400, wrong shapes 422 with the field path.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A query string; anything that does not parse is a 400 naming the parameter.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Path parameters; a value that cannot be an id of the right kind cannot exist, so it is a 404.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// serde_path_to_error messages read `path.to.field: what went wrong`; split them.
fn field_error(message: &str) -> Option<FieldError> {
    let (field, rest) = message.split_once(": ")?;
    if field.is_empty() || field.contains(' ') {
        return None;
    }
    Some(FieldError { field: field.to_string(), message: rest.to_string() })
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                let inner = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_else(|| e.body_text());
                let errors = field_error(&inner).into_iter().collect();
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", inner).with_errors(errors)
            }
            JsonRejection::JsonSyntaxError(e) => {
                let inner = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_else(|| e.body_text());
                ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("the body is not valid JSON: {inner}"))
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body with `Content-Type: application/json`",
            ),
            other => {
                let status = other.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    return crate::problem::for_status(status);
                }
                ApiError::new(status, "bad_request", other.body_text())
            }
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        let text = match &rejection {
            QueryRejection::FailedToDeserializeQueryString(e) => {
                std::error::Error::source(e).map(ToString::to_string).unwrap_or_else(|| e.body_text())
            }
            other => other.body_text(),
        };
        let errors: Vec<FieldError> = field_error(&text).into_iter().collect();
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", format!("invalid query string: {text}"))
            .with_errors(errors)
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            PathRejection::FailedToDeserializePathParams(_) => ApiError::not_found("resource"),
            other => {
                tracing::error!(error = %other.body_text(), "path extraction failed");
                crate::problem::for_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_serde_paths() {
        let e = super::field_error("limit: invalid digit found in string").unwrap();
        assert_eq!(e.field, "limit");
        assert!(super::field_error("expected value at line 1").is_none());
    }
}
