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
    match state.services.jobs.depth().await {
        Ok(depths) => {
            // Every (queue, state) seen gets a value each scrape, 0 included, so a drained queue
            // reads 0 rather than its last non-zero depth.
            static SEEN: std::sync::Mutex<std::collections::BTreeSet<String>> =
                std::sync::Mutex::new(std::collections::BTreeSet::new());
            let queues = match SEEN.lock() {
                Ok(mut seen) => {
                    seen.extend(depths.iter().map(|d| d.queue.clone()));
                    seen.clone()
                }
                Err(_) => depths.iter().map(|d| d.queue.clone()).collect(),
            };
            for queue in queues {
                for job_state in ["pending", "running", "dead"] {
                    let count = depths.iter().find(|d| d.queue == queue && d.state == job_state).map_or(0, |d| d.count);
                    let labels = [("queue", queue.clone()), ("state", job_state.to_string())];
                    metrics::gauge!("jobs_queue_depth", &labels).set(count as f64);
                }
            }
        }
        Err(err) => tracing::warn!(%err, "could not read the job queue depth"),
    }
    let body = state.metrics.as_ref().map(|render| render()).unwrap_or_default();
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}
