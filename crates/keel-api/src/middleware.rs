//! Cross-cutting HTTP behaviour: metrics, security headers, problem+json for bare errors, ETags.

use crate::problem;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// The span of one request: every log line inside it names the request id and the trace id.
/// A caller's `traceparent` makes it part of the caller's trace; its name is the route template
/// (`GET /v1/store/products/{id}`), never the raw path.
pub fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
    let route = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
    if matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        // Probes and scrapes: a log span, never an exported trace.
        return tracing::debug_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id);
    }
    let span = tracing::info_span!(
        "http",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %id,
        trace_id = tracing::field::Empty,
        otel.name = tracing::field::Empty,
        otel.kind = "server",
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    if keel_platform::trace::exporting() {
        match route {
            Some(route) => {
                span.record("http.route", route);
                span.record("otel.name", format!("{} {route}", req.method()));
            }
            None => {
                span.record("otel.name", req.method().as_str());
            }
        }
    }
    let parent = req.headers().get(keel_platform::trace::TRACEPARENT).and_then(|v| v.to_str().ok());
    keel_platform::trace::continue_trace(&span, parent);
    span
}

/// Records the answer's status on the request span (for the exported trace).
pub fn record_status<B>(response: &axum::http::Response<B>, latency: std::time::Duration, span: &tracing::Span) {
    tracing::debug!(
        status = response.status().as_u16(),
        latency_ms = latency.as_millis() as u64,
        "finished processing request"
    );
    if keel_platform::trace::exporting() {
        span.record("http.response.status_code", response.status().as_u16());
    }
}

/// Counts requests and records their latency by method, route template and status.
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    // The route template (`/v1/store/products/{id}`), never the raw path: labels must stay few.
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

/// The Content-Security-Policy of HTML pages: only Keel's own scripts, styles and images; no
/// framing, no plugins, no foreign form targets. (Inline styles are allowed: the API docs page
/// sets them from its script.)
pub const HTML_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// Headers every answer carries: no MIME sniffing, no referrer leaks, no framing; a strict CSP on
/// HTML pages; HSTS when served over TLS.
pub async fn security_headers(State(tls): State<bool>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let is_html = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if is_html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(HTML_CSP));
    }
    if tls {
        headers
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    response
}

/// Turns any error response that is not already problem+json (unknown route, 405, 413, timeout,
/// panic) into one, keeping its status and headers such as `Allow` or `Retry-After`.
pub async fn problem_for_bare_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(problem::PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let fresh = problem::for_status(status).into_response();
    let (fresh_parts, body) = fresh.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &fresh_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, body)
}

const GZIP_SUFFIX: &str = "-gzip\"";

/// Strong ETags over the response body, and `304 Not Modified` when `If-None-Match` matches.
///
/// Runs inside compression, so the tag names the identity body; [`etag_encoding`] (outside
/// compression) marks tags of compressed bodies, keeping a strong tag per representation.
pub async fn etag(req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return next.run(req).await;
    }
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
    let response = next.run(req).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // A cached answer comes with the tag computed when it was kept.
    if let Some(tag) = parts.headers.get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_string) {
        if if_none_match.as_ref().and_then(|v| v.to_str().ok()).is_some_and(|v| matches_etag(v, &tag)) {
            return not_modified(parts);
        }
        return Response::from_parts(parts, body);
    }
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(err) => {
            tracing::error!(%err, "could not buffer a response for its ETag");
            return problem::for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response();
        }
    };
    let tag = format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(&bytes));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        parts.headers.insert(header::ETAG, value);
    }
    if if_none_match.as_ref().and_then(|v| v.to_str().ok()).is_some_and(|v| matches_etag(v, &tag)) {
        return not_modified(parts);
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn not_modified(mut parts: axum::http::response::Parts) -> Response {
    parts.status = StatusCode::NOT_MODIFIED;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    Response::from_parts(parts, Body::empty())
}

/// `If-None-Match` uses weak comparison: `W/` prefixes are ignored, `*` matches anything.
fn matches_etag(header_value: &str, tag: &str) -> bool {
    header_value.split(',').map(str::trim).any(|candidate| {
        let candidate = candidate.strip_prefix("W/").unwrap_or(candidate);
        candidate == "*" || candidate == tag
    })
}

/// Around compression: appends `-gzip` to the ETag of a gzip-encoded body, and strips it from
/// `If-None-Match` on the way in so the inner [`etag`] compares identity tags.
pub async fn etag_encoding(mut req: Request, next: Next) -> Response {
    let mut client_had_gzip_tag = false;
    if let Some(value) = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        client_had_gzip_tag = value.contains(GZIP_SUFFIX);
        let stripped = value.replace(GZIP_SUFFIX, "\"");
        if let Ok(v) = HeaderValue::from_str(&stripped) {
            req.headers_mut().insert(header::IF_NONE_MATCH, v);
        }
    }
    let mut response = next.run(req).await;
    let encoded = response.headers().contains_key(header::CONTENT_ENCODING)
        || (response.status() == StatusCode::NOT_MODIFIED && client_had_gzip_tag);
    if encoded
        && let Some(tag) = response.headers().get(header::ETAG).and_then(|v| v.to_str().ok())
        && let Some(stem) = tag.strip_suffix('"')
        && let Ok(v) = HeaderValue::from_str(&format!("{stem}{GZIP_SUFFIX}"))
    {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::matches_etag;

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert!(matches_etag("\"a\"", "\"a\""));
        assert!(matches_etag("W/\"a\"", "\"a\""));
        assert!(matches_etag("\"b\", \"a\"", "\"a\""));
        assert!(matches_etag("*", "\"a\""));
        assert!(!matches_etag("\"b\"", "\"a\""));
    }
}
