//! The audit layer on the admin API: every successful change (POST, PUT, PATCH, DELETE answered
//! 2xx by an authenticated principal) is recorded with who made it, the route, and the resource
//! before and after.
//!
//! "Before" is what a `GET` of the same path answered just before the change (when the resource
//! has a `GET` and the caller may read it); "after" is the change's JSON answer. Both are kept
//! only up to 64 KiB, with secrets redacted by the audit service. Recording happens after the
//! answer is ready; a failure to record is logged, and never turns a done change into an error.

use crate::AppState;
use crate::auth::AuditSlot;
use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use keel_services::identity::audit::Change;
use serde_json::Value;
use tower::ServiceExt;

const MAX_BODY: usize = 64 * 1024;

/// The audit middleware's state: the app state, and the admin routes (unaudited) for "before"
/// reads.
#[derive(Clone)]
pub struct AuditState {
    pub app: AppState,
    pub reads: Router,
}

pub(crate) fn json_of(bytes: &[u8]) -> Option<Value> {
    if bytes.is_empty() || bytes.len() > MAX_BODY {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

/// A `GET` of the same resource, as the same caller.
fn read_of(req: &Request) -> Option<Request> {
    let mut get = Request::builder().method(Method::GET).uri(req.uri().clone());
    if let Some(auth) = req.headers().get(header::AUTHORIZATION) {
        get = get.header(header::AUTHORIZATION, auth.clone());
    }
    get.body(Body::empty()).ok()
}

async fn read_before(state: &AuditState, get: Option<Request>) -> Option<Value> {
    let response = state.reads.clone().oneshot(get?).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let bytes = axum::body::to_bytes(response.into_body(), MAX_BODY).await.ok()?;
    json_of(&bytes)
}

pub async fn audit(State(state): State<AuditState>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    if !matches!(method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
        return next.run(req).await;
    }
    let slot = AuditSlot::default();
    req.extensions_mut().insert(slot.clone());
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| req.uri().path().to_string(), |m| m.as_str().to_string());
    let path = req.uri().path().to_string();
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let before = if matches!(method, Method::PUT | Method::PATCH | Method::DELETE) {
        let get = read_of(&req);
        read_before(&state, get).await
    } else {
        None
    };

    let response = next.run(req).await;
    let Some(principal) = slot.0.get().cloned() else {
        return response; // unauthenticated, or a sign-in route: nobody to record
    };
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::error!(%err, "could not read a response body for the audit log");
            return Response::from_parts(parts, Body::empty());
        }
    };
    let change = Change {
        method: method.to_string(),
        route,
        path,
        status: parts.status.as_u16(),
        before,
        after: json_of(&bytes),
        request_id,
    };
    if let Err(err) = state.app.services.audit.record(&principal, change).await {
        tracing::error!(%err, "could not write the audit log");
    }
    Response::from_parts(parts, Body::from(bytes))
}
