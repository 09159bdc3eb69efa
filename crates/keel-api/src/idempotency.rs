//! The `Idempotency-Key` header on mutating requests: a retry gets the first response back
//! (marked `Idempotent-Replayed: true`) instead of a second effect.
//!
//! A key is scoped to the caller's credential. The same key with another body or path is a 422;
//! a retry while the first request still runs is a 409 with `Retry-After`. Server errors are not
//! stored, so a request that failed on our side can be retried with the same key.

use crate::AppState;
use crate::problem::{ApiError, for_status};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keel_services::idempotency::{Claim, fingerprint, scope_for_credential};

pub const HEADER: &str = "idempotency-key";

pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mutating = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    let key = req.headers().get(HEADER).map(|v| v.to_str().map(str::to_string));
    let credential = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (Some(key), Some(credential), true) = (key, credential, mutating) else {
        // No key, or no credential (the route will answer 401 itself): nothing to remember.
        return next.run(req).await;
    };
    let Ok(key) = key else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key must be visible ASCII",
        )
        .into_response();
    };

    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, state.config.body_limit_bytes).await else {
        return for_status(StatusCode::PAYLOAD_TOO_LARGE).into_response();
    };
    let path = parts.uri.path_and_query().map_or(parts.uri.path(), |p| p.as_str());
    let scope = scope_for_credential(&credential);
    let request_hash = fingerprint(parts.method.as_str(), path, &bytes);
    let service = &state.services.idempotency;

    match service.claim(&scope, &key, &request_hash).await {
        Err(err) => ApiError::from(err).into_response(),
        Ok(Claim::Mismatch) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request; use a new key",
        )
        .into_response(),
        Ok(Claim::InFlight) => {
            let mut response = ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still running; retry shortly",
            )
            .into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Ok(Claim::Replay { status, content_type, body }) => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            if let Some(v) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
                response.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
        Ok(Claim::Fresh) => {
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            if response.status().is_server_error() {
                if let Err(err) = service.release(&scope, &key).await {
                    tracing::error!(%err, "could not release an idempotency key after a server error");
                }
                return response;
            }
            let (parts, body) = response.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
                return for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response();
            };
            let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let text = String::from_utf8_lossy(&bytes);
            if let Err(err) = service.complete(&scope, &key, parts.status.as_u16(), content_type, &text).await {
                // The effect happened; failing to remember it must not hide the answer.
                tracing::error!(%err, "could not store the response of an idempotent request");
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}
