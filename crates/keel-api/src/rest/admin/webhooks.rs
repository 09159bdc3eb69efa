//! Admin webhook routes: register endpoints, change or remove them, read their delivery log.

use crate::AppState;
use crate::auth::{Authorized, WebhooksRead, WebhooksWrite};
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::rest::ListOf;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_domain::WebhookId;
use keel_services::webhooks::{Delivery, Webhook, WebhookCreate, WebhookUpdate};

/// List webhook endpoints.
#[utoipa::path(
    get, path = "/v1/admin/webhooks", tag = "admin", operation_id = "admin_list_webhooks",
    security(("admin" = ["webhooks:read"])),
    responses((status = 200, description = "Every endpoint", body = ListOf<Webhook>))
)]
pub async fn list_webhooks(
    _: Authorized<WebhooksRead>,
    State(state): State<AppState>,
) -> Result<Json<ListOf<Webhook>>, ApiError> {
    Ok(Json(ListOf { data: state.services.webhooks.list().await? }))
}

/// Register an endpoint; the answer carries its signing `secret`, shown only this once.
#[utoipa::path(
    post, path = "/v1/admin/webhooks", tag = "admin", operation_id = "admin_create_webhook",
    request_body = WebhookCreate,
    security(("admin" = ["webhooks:write"])),
    responses(
        (status = 201, description = "Created, with its secret", body = Webhook),
        (status = 422, description = "Invalid URL (or a private address) or event types", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_webhook(
    _: Authorized<WebhooksWrite>,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<WebhookCreate>,
) -> Result<(StatusCode, Json<Webhook>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.services.webhooks.create(&input).await?)))
}

/// Get an endpoint (without its secret).
#[utoipa::path(
    get, path = "/v1/admin/webhooks/{id}", tag = "admin", operation_id = "admin_get_webhook",
    params(("id" = WebhookId, Path)),
    security(("admin" = ["webhooks:read"])),
    responses(
        (status = 200, description = "The endpoint", body = Webhook),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_webhook(
    _: Authorized<WebhooksRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(state.services.webhooks.get(id).await?))
}

/// Change an endpoint; `enabled: true` re-enables a disabled one.
#[utoipa::path(
    patch, path = "/v1/admin/webhooks/{id}", tag = "admin", operation_id = "admin_update_webhook",
    params(("id" = WebhookId, Path)),
    request_body = WebhookUpdate,
    security(("admin" = ["webhooks:write"])),
    responses(
        (status = 200, description = "The endpoint", body = Webhook),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_webhook(
    _: Authorized<WebhooksWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<WebhookId>,
    ApiJson(patch): ApiJson<WebhookUpdate>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(state.services.webhooks.update(id, &patch).await?))
}

/// Remove an endpoint and its delivery log.
#[utoipa::path(
    delete, path = "/v1/admin/webhooks/{id}", tag = "admin", operation_id = "admin_delete_webhook",
    params(("id" = WebhookId, Path)),
    security(("admin" = ["webhooks:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_webhook(
    _: Authorized<WebhooksWrite>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<StatusCode, ApiError> {
    state.services.webhooks.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The latest 50 deliveries of an endpoint, each with every attempt (status, latency, response).
#[utoipa::path(
    get, path = "/v1/admin/webhooks/{id}/deliveries", tag = "admin", operation_id = "admin_list_webhook_deliveries",
    params(("id" = WebhookId, Path)),
    security(("admin" = ["webhooks:read"])),
    responses(
        (status = 200, description = "Deliveries, newest first", body = ListOf<Delivery>),
        (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_deliveries(
    _: Authorized<WebhooksRead>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<Json<ListOf<Delivery>>, ApiError> {
    Ok(Json(ListOf { data: state.services.webhooks.deliveries(id, 50).await? }))
}
