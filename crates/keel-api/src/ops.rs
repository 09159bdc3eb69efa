//! Operations endpoints: liveness, readiness and Prometheus metrics.

use crate::AppState;
use crate::problem::{ApiError, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `postgres` or `sqlite`.
    pub database: &'static str,
}

/// Readiness: the database answers. 503 while it does not.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Readiness),
        (status = 503, description = "The database is unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    match state.services.db.ping().await {
        Ok(()) => Ok(Json(Readiness { status: "ready", database: state.services.db.engine().as_str() })),
        Err(err) => {
            tracing::warn!(%err, "readiness check failed");
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "the database is unreachable"))
        }
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    for pool in state.services.db.pool_stats() {
        let labels = [("pool", pool.name)];
        metrics::gauge!("db_pool_connections", &labels).set(f64::from(pool.size));
        metrics::gauge!("db_pool_idle_connections", &labels).set(f64::from(pool.idle));
        metrics::gauge!("db_pool_max_connections", &labels).set(f64::from(pool.max));
    }
    metrics::counter!("db_statements_total").absolute(state.services.db.statements_executed());
    let body = state.metrics.as_ref().map(|render| render()).unwrap_or_default();
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}
