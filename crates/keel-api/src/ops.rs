//! Operations endpoints: liveness, readiness and Prometheus metrics.

use crate::AppState;
use crate::problem::{ApiError, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_platform::cache::TierHealth;
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// `ready`, or `degraded` when an optional dependency is down: the node still serves, on
    /// its in-process fallbacks (local cache and rate limits; events wait in the outbox; search
    /// answers 503 while its circuit is open).
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `postgres` or `sqlite`.
    pub database: &'static str,
    /// Each dependency's state. `redis` and `nats`: `up`, `down` or `off` (not configured);
    /// `cache_tier` (the shared cache in Redis): `ready`, `fenced` (an invalidation in flight),
    /// `dirty` (an invalidation failed; the tier is bypassed until it is healed) or `off`;
    /// `search`: `up` or `open` (failing queries opened its circuit).
    #[schema(value_type = Object, example = json!({"database": "up", "redis": "up", "cache_tier": "ready", "nats": "up", "search": "up"}))]
    pub checks: BTreeMap<&'static str, &'static str>,
}

/// Readiness: the database answers (else 503, so a load balancer takes the node out). An
/// optional dependency that is down makes the answer `degraded`, still 200: the node serves.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "The database answers; `status` says whether every optional dependency does too", body = Readiness),
        (status = 503, description = "The database is unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    if let Err(err) = state.services.db.ping().await {
        tracing::warn!(%err, "readiness check failed");
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "the database is unreachable"));
    }
    let mut checks = BTreeMap::from([("database", "up")]);
    let redis = match &state.config.redis {
        Some(redis) if redis.ping().await.is_ok() => "up",
        Some(_) => "down",
        None => "off",
    };
    checks.insert("redis", redis);
    let tier = match state.cache_tier.as_ref().map(keel_platform::cache::SharedTier::health) {
        Some(TierHealth::Ready) => "ready",
        Some(TierHealth::Fenced) => "fenced",
        Some(TierHealth::Dirty) => "dirty",
        None => "off",
    };
    checks.insert("cache_tier", tier);
    let nats = match state.config.event_bus.as_ref().and_then(keel_platform::bus::EventBus::is_connected) {
        Some(true) => "up",
        Some(false) => "down",
        None => "off",
    };
    checks.insert("nats", nats);
    checks.insert("search", if state.services.search.is_failing() { "open" } else { "up" });
    let degraded = redis == "down" || tier == "dirty" || nats == "down" || checks["search"] == "open";
    Ok(Json(Readiness {
        status: if degraded { "degraded" } else { "ready" },
        database: state.services.db.engine().as_str(),
        checks,
    }))
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
    match state.services.jobs.outbox_lag().await {
        Ok((waiting, oldest)) => {
            metrics::gauge!("outbox_unpublished_events").set(waiting as f64);
            let age = oldest.map_or(0.0, |at| (keel_services::now() - at).num_milliseconds().max(0) as f64 / 1000.0);
            metrics::gauge!("outbox_lag_seconds").set(age);
        }
        Err(err) => tracing::warn!(%err, "could not read the outbox lag"),
    }
    let body = state.metrics.as_ref().map(|render| render()).unwrap_or_default();
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}
