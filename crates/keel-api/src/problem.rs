//! RFC 9457 problem details: the one shape of every error Keel answers with.
//!
//! [`ApiError`] is what handlers return. It renders as `application/problem+json` with `type`,
//! `title`, `status`, `detail`, a stable machine-readable `code`, and for validation failures an
//! `errors` list naming each field. Internal errors are logged with their cause and shown to the
//! client as a bare 500: never a stack trace or a database message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_domain::FieldError;
use keel_services::ServiceError;
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The body of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem (relative to the server).
    #[schema(example = "/problems/validation_failed")]
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(example = "Validation failed")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "2 fields are invalid")]
    pub detail: String,
    /// Stable, machine-readable error code.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// For validation failures: each rejected field and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An error a handler returns; converted to problem+json at the edge.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds until a retry may succeed (`Retry-After`), for 429 and 503 answers.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, code, detail: detail.into(), errors: Vec::new(), retry_after: None }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this route needs valid credentials: send `Authorization: Bearer <token or API key>`",
        )
    }

    /// The problem body, for tests and for rendering.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            errors: self.errors.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.problem())).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        // An error is never cached, by the client or anything between.
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Invalid(errors) => {
                let errors = errors.into_errors();
                let detail = match errors.as_slice() {
                    [one] => format!("{}: {}", one.field, one.message),
                    many => format!("{} fields are invalid", many.len()),
                };
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail).with_errors(errors)
            }
            ServiceError::NotFound { entity } => ApiError::not_found(entity),
            ServiceError::Conflict { code, field, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message.clone()).with_errors(field_error(field, message))
            }
            ServiceError::Refused { code, field, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message.clone())
                    .with_errors(field_error(field, message))
            }
            ServiceError::PaymentDeclined { reason, message } => {
                ApiError::new(StatusCode::PAYMENT_REQUIRED, "payment_declined", format!("{message} ({reason})"))
                    .with_errors(vec![FieldError { field: "payment".into(), message: reason }])
            }
            ServiceError::Unauthenticated => ApiError::unauthenticated(),
            ServiceError::Forbidden(detail) => ApiError::forbidden(detail),
            ServiceError::Throttled { retry_after_secs } => {
                let mut err = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    format!("too many failed attempts; retry in {retry_after_secs} s"),
                );
                err.retry_after = Some(retry_after_secs);
                err
            }
            ServiceError::Unavailable(cause) => {
                tracing::warn!(%cause, "dependency unavailable");
                let mut err = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "a dependency is unavailable; retry shortly",
                );
                err.retry_after = Some(5);
                err
            }
            ServiceError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an unexpected error occurred")
            }
        }
    }
}

/// The field a refusal names, as a one-entry `errors` list (none for an empty field).
fn field_error(field: &str, message: String) -> Vec<FieldError> {
    if field.is_empty() { vec![] } else { vec![FieldError { field: field.to_string(), message }] }
}

/// The problem for a bare status produced outside a handler (unknown route, wrong method,
/// body too large, timeout, panic).
pub fn for_status(status: StatusCode) -> ApiError {
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no route matches this path"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this path does not accept this method"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is larger than the limit"),
        StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => {
            ("timeout", "the request took too long and was abandoned")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send the body as application/json"),
        s if s.is_server_error() => ("internal", "an unexpected error occurred"),
        _ => ("http_error", "the request could not be served"),
    };
    ApiError::new(status, code, detail)
}
