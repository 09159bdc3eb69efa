//! Webhook endpoints, their deliveries (one per endpoint and event) and the attempt log.

use crate::{Conn, Result};
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Iden, OnConflict, Order, Query};
use sqlx::types::Json;

#[derive(Iden)]
enum WebhookEndpoints {
    Table,
    Id,
    Url,
    Description,
    EventTypes,
    Secret,
    Enabled,
    DisabledReason,
    ConsecutiveFailures,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum WebhookDeliveries {
    Table,
    Id,
    EndpointId,
    EventId,
    EventType,
    State,
    Attempts,
    LastStatus,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum WebhookAttempts {
    Table,
    Id,
    DeliveryId,
    Attempt,
    Status,
    LatencyMs,
    ResponseExcerpt,
    Error,
    At,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub description: String,
    pub event_types: Json<Vec<String>>,
    pub secret: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub consecutive_failures: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ENDPOINT_COLUMNS: [WebhookEndpoints; 10] = [
    WebhookEndpoints::Id,
    WebhookEndpoints::Url,
    WebhookEndpoints::Description,
    WebhookEndpoints::EventTypes,
    WebhookEndpoints::Secret,
    WebhookEndpoints::Enabled,
    WebhookEndpoints::DisabledReason,
    WebhookEndpoints::ConsecutiveFailures,
    WebhookEndpoints::CreatedAt,
    WebhookEndpoints::UpdatedAt,
];

pub async fn insert_endpoint(c: &mut Conn<'_>, e: &EndpointRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(WebhookEndpoints::Table)
        .columns(ENDPOINT_COLUMNS)
        .values_panic([
            e.id.clone().into(),
            e.url.clone().into(),
            e.description.clone().into(),
            serde_json::json!(e.event_types.0).into(),
            e.secret.clone().into(),
            e.enabled.into(),
            e.disabled_reason.clone().into(),
            e.consecutive_failures.into(),
            e.created_at.into(),
            e.updated_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Rewrites an endpoint's settings (url, description, event types, enabled state, secret).
pub async fn update_endpoint(c: &mut Conn<'_>, e: &EndpointRow) -> Result<bool> {
    let stmt = Query::update()
        .table(WebhookEndpoints::Table)
        .values([
            (WebhookEndpoints::Url, e.url.clone().into()),
            (WebhookEndpoints::Description, e.description.clone().into()),
            (WebhookEndpoints::EventTypes, serde_json::json!(e.event_types.0).into()),
            (WebhookEndpoints::Secret, e.secret.clone().into()),
            (WebhookEndpoints::Enabled, e.enabled.into()),
            (WebhookEndpoints::DisabledReason, e.disabled_reason.clone().into()),
            (WebhookEndpoints::ConsecutiveFailures, e.consecutive_failures.into()),
            (WebhookEndpoints::UpdatedAt, e.updated_at.into()),
        ])
        .and_where(Expr::col(WebhookEndpoints::Id).eq(e.id.clone()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn delete_endpoint(c: &mut Conn<'_>, id: &str) -> Result<bool> {
    let stmt = Query::delete()
        .from_table(WebhookEndpoints::Table)
        .and_where(Expr::col(WebhookEndpoints::Id).eq(id))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn find_endpoint(c: &mut Conn<'_>, id: &str) -> Result<Option<EndpointRow>> {
    let q = Query::select()
        .columns(ENDPOINT_COLUMNS)
        .from(WebhookEndpoints::Table)
        .and_where(Expr::col(WebhookEndpoints::Id).eq(id))
        .to_owned();
    c.fetch_optional(&q).await
}

pub async fn list_endpoints(c: &mut Conn<'_>) -> Result<Vec<EndpointRow>> {
    let q = Query::select()
        .columns(ENDPOINT_COLUMNS)
        .from(WebhookEndpoints::Table)
        .order_by(WebhookEndpoints::Id, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

/// Records the outcome of an attempt on the endpoint: a success resets the failure count; a
/// failure increments it and, at `disable_after`, disables the endpoint with `reason`.
pub async fn record_endpoint_outcome(
    c: &mut Conn<'_>,
    id: &str,
    success: bool,
    disable_after: i32,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let stmt = if success {
        Query::update()
            .table(WebhookEndpoints::Table)
            .values([(WebhookEndpoints::ConsecutiveFailures, 0.into()), (WebhookEndpoints::UpdatedAt, now.into())])
            .and_where(Expr::col(WebhookEndpoints::Id).eq(id))
            .to_owned()
    } else {
        Query::update()
            .table(WebhookEndpoints::Table)
            .values([
                (WebhookEndpoints::ConsecutiveFailures, Expr::col(WebhookEndpoints::ConsecutiveFailures).add(1)),
                (WebhookEndpoints::UpdatedAt, now.into()),
            ])
            .and_where(Expr::col(WebhookEndpoints::Id).eq(id))
            .to_owned()
    };
    c.execute(&stmt).await?;
    if !success {
        let disable = Query::update()
            .table(WebhookEndpoints::Table)
            .values([(WebhookEndpoints::Enabled, false.into()), (WebhookEndpoints::DisabledReason, reason.into())])
            .and_where(Expr::col(WebhookEndpoints::Id).eq(id))
            .and_where(Expr::col(WebhookEndpoints::Enabled).eq(true))
            .and_where(Expr::col(WebhookEndpoints::ConsecutiveFailures).gte(disable_after))
            .to_owned();
        c.execute(&disable).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub state: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const DELIVERY_COLUMNS: [WebhookDeliveries; 9] = [
    WebhookDeliveries::Id,
    WebhookDeliveries::EndpointId,
    WebhookDeliveries::EventId,
    WebhookDeliveries::EventType,
    WebhookDeliveries::State,
    WebhookDeliveries::Attempts,
    WebhookDeliveries::LastStatus,
    WebhookDeliveries::CreatedAt,
    WebhookDeliveries::UpdatedAt,
];

/// Creates a delivery unless one exists for this endpoint and event. Returns whether it did.
pub async fn insert_delivery(c: &mut Conn<'_>, d: &DeliveryRow) -> Result<bool> {
    let stmt = Query::insert()
        .into_table(WebhookDeliveries::Table)
        .columns(DELIVERY_COLUMNS)
        .values_panic([
            d.id.clone().into(),
            d.endpoint_id.clone().into(),
            d.event_id.clone().into(),
            d.event_type.clone().into(),
            d.state.clone().into(),
            d.attempts.into(),
            d.last_status.into(),
            d.created_at.into(),
            d.updated_at.into(),
        ])
        .on_conflict(
            OnConflict::columns([WebhookDeliveries::EndpointId, WebhookDeliveries::EventId]).do_nothing().to_owned(),
        )
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn find_delivery(c: &mut Conn<'_>, id: &str) -> Result<Option<DeliveryRow>> {
    let q = Query::select()
        .columns(DELIVERY_COLUMNS)
        .from(WebhookDeliveries::Table)
        .and_where(Expr::col(WebhookDeliveries::Id).eq(id))
        .to_owned();
    c.fetch_optional(&q).await
}

pub async fn list_deliveries(c: &mut Conn<'_>, endpoint_id: &str, limit: u64) -> Result<Vec<DeliveryRow>> {
    let q = Query::select()
        .columns(DELIVERY_COLUMNS)
        .from(WebhookDeliveries::Table)
        .and_where(Expr::col(WebhookDeliveries::EndpointId).eq(endpoint_id))
        .order_by(WebhookDeliveries::Id, Order::Desc)
        .limit(limit)
        .to_owned();
    c.fetch_all(&q).await
}

/// Records an attempt and the delivery's new state, in one go.
pub async fn record_attempt(c: &mut Conn<'_>, delivery_id: &str, state: &str, a: &AttemptRow) -> Result<()> {
    let insert = Query::insert()
        .into_table(WebhookAttempts::Table)
        .columns([
            WebhookAttempts::Id,
            WebhookAttempts::DeliveryId,
            WebhookAttempts::Attempt,
            WebhookAttempts::Status,
            WebhookAttempts::LatencyMs,
            WebhookAttempts::ResponseExcerpt,
            WebhookAttempts::Error,
            WebhookAttempts::At,
        ])
        .values_panic([
            a.id.clone().into(),
            delivery_id.into(),
            a.attempt.into(),
            a.status.into(),
            a.latency_ms.into(),
            a.response_excerpt.clone().into(),
            a.error.clone().into(),
            a.at.into(),
        ])
        .to_owned();
    c.execute(&insert).await?;
    let update = Query::update()
        .table(WebhookDeliveries::Table)
        .values([
            (WebhookDeliveries::State, state.into()),
            (WebhookDeliveries::Attempts, a.attempt.into()),
            (WebhookDeliveries::LastStatus, a.status.into()),
            (WebhookDeliveries::UpdatedAt, a.at.into()),
        ])
        .and_where(Expr::col(WebhookDeliveries::Id).eq(delivery_id))
        .to_owned();
    c.execute(&update).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: String,
    pub attempt: i32,
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

pub async fn list_attempts(c: &mut Conn<'_>, delivery_ids: &[String]) -> Result<Vec<(String, AttemptRow)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        delivery_id: String,
        #[sqlx(flatten)]
        attempt: AttemptRow,
    }
    if delivery_ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .columns([
            WebhookAttempts::DeliveryId,
            WebhookAttempts::Id,
            WebhookAttempts::Attempt,
            WebhookAttempts::Status,
            WebhookAttempts::LatencyMs,
            WebhookAttempts::ResponseExcerpt,
            WebhookAttempts::Error,
            WebhookAttempts::At,
        ])
        .from(WebhookAttempts::Table)
        .and_where(Expr::col(WebhookAttempts::DeliveryId).is_in(delivery_ids.iter().cloned()))
        .order_by(WebhookAttempts::DeliveryId, Order::Asc)
        .order_by(WebhookAttempts::Attempt, Order::Asc)
        .to_owned();
    let rows: Vec<Row> = c.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|r| (r.delivery_id, r.attempt)).collect())
}
