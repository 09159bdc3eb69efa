//! Admin job routes: see the queue, inspect a job, retry or discard a dead one.

use crate::AppState;
use crate::auth::{Authorized, JobsRead, JobsWrite};
use crate::extract::{ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use axum::Json;
use axum::extract::State;
use keel_domain::JobId;
use keel_services::jobs::{Job, QueueDepth};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobListParams {
    /// `pending`, `running`, `completed`, `dead` (the dead-letter queue) or `discarded`.
    pub state: Option<String>,
    pub queue: Option<String>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<JobId>,
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobList {
    pub data: Vec<Job>,
    pub next_cursor: Option<String>,
}

/// List jobs, newest first; `state=dead` is the dead-letter queue.
#[utoipa::path(
    get, path = "/v1/admin/jobs", tag = "admin", operation_id = "admin_list_jobs",
    params(JobListParams),
    security(("admin" = ["jobs:read"])),
    responses(
        (status = 200, description = "A page of jobs", body = JobList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid state or limit", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_jobs(
    _: Authorized<JobsRead>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<JobListParams>,
) -> Result<Json<JobList>, ApiError> {
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(keel_services::ServiceError::invalid("limit", "must be between 1 and 100").into());
    }
    let jobs = state.services.jobs.list(params.state.as_deref(), params.queue.as_deref(), params.cursor, limit).await?;
    let next_cursor = (jobs.len() == limit as usize).then(|| jobs.last().map(|j| j.id.to_string())).flatten();
    Ok(Json(JobList { data: jobs, next_cursor }))
}

/// Get a job with its attempts and last error.
#[utoipa::path(
    get, path = "/v1/admin/jobs/{id}", tag = "admin", operation_id = "admin_get_job",
    params(("id" = JobId, Path)),
    security(("admin" = ["jobs:read"])),
    responses(
        (status = 200, description = "The job", body = Job),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_job(
    _: Authorized<JobsRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<JobId>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(state.services.jobs.get(id).await?))
}

/// Put a dead or discarded job back in its queue with fresh attempts.
#[utoipa::path(
    post, path = "/v1/admin/jobs/{id}/retry", tag = "admin", operation_id = "admin_retry_job",
    params(("id" = JobId, Path)),
    security(("admin" = ["jobs:write"])),
    responses(
        (status = 200, description = "The job, pending again", body = Job),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is not dead or discarded", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn retry_job(
    _: Authorized<JobsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<JobId>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(state.services.jobs.retry(id).await?))
}

/// Discard a dead or pending job so it never runs.
#[utoipa::path(
    post, path = "/v1/admin/jobs/{id}/discard", tag = "admin", operation_id = "admin_discard_job",
    params(("id" = JobId, Path)),
    security(("admin" = ["jobs:write"])),
    responses(
        (status = 200, description = "The discarded job", body = Job),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is running or finished", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn discard_job(
    _: Authorized<JobsWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<JobId>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(state.services.jobs.discard(id).await?))
}

/// How many jobs each queue holds per state: pending, running and dead (failed for good; see
/// `GET /v1/admin/jobs?state=dead`).
#[utoipa::path(
    get, path = "/v1/admin/jobs/summary", tag = "admin", operation_id = "admin_job_summary",
    security(("admin" = ["jobs:read"])),
    responses((status = 200, description = "Counts per queue and state", body = crate::rest::ListOf<QueueDepth>))
)]
pub async fn job_summary(
    _: Authorized<JobsRead>,
    State(state): State<AppState>,
) -> Result<Json<crate::rest::ListOf<QueueDepth>>, ApiError> {
    Ok(Json(crate::rest::ListOf { data: state.services.jobs.depth().await? }))
}
