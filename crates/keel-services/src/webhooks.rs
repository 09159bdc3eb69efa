//! Webhooks: endpoints that receive Keel's events over HTTP, signed the Standard Webhooks way.
//!
//! Recording an event enqueues a fan-out job (in the same transaction); the fan-out creates one
//! delivery per matching endpoint — at most one per endpoint and event, whatever the retries — and
//! a delivery job for each. A delivery POSTs the event envelope with
//! `webhook-id` (the event id: the same on every retry, so receivers deduplicate by it),
//! `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 over
//! `id.timestamp.body` with the endpoint secret). Every attempt is logged with its status,
//! latency and the start of the response. A failed attempt is retried by the job queue with
//! backoff; an endpoint failing [`DISABLE_AFTER`] times in a row is disabled, with the reason.

use crate::jobs::{JobSpec, enqueue};
use crate::{Result, ServiceError, now};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use keel_domain::event::Event;
use keel_domain::{AttemptId, DeliveryId, EventId, ValidationErrors, WebhookId};
use keel_platform::http::{self, OutboundConfig};
use keel_platform::secrets::SecretBox;
use keel_store::JsonColumn as Json;
use keel_store::webhooks::{self as repo, AttemptRow, DeliveryRow, EndpointRow};
use keel_store::{Conn, Db, outbox};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

pub const FANOUT_JOB: &str = "webhooks.fanout";
pub const DELIVER_JOB: &str = "webhooks.deliver";
pub const QUEUE: &str = "webhooks";
/// Consecutive failed attempts after which an endpoint is disabled.
pub const DISABLE_AFTER: i32 = 15;
/// Attempts per delivery before it is given up (the job goes to the dead letters).
pub const DELIVERY_ATTEMPTS: i32 = 8;

/// A new endpoint.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookCreate {
    #[schema(example = "https://hooks.example.com/keel")]
    pub url: String,
    /// Event types to receive, e.g. `["product.updated"]`; `["*"]` for all.
    #[schema(example = json!(["product.updated"]))]
    pub events: Vec<String>,
    #[serde(default)]
    pub description: String,
}

/// Changes to an endpoint; absent fields stay. Enabling clears the failure count.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookUpdate {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// An endpoint as the admin API shows it (the secret only on creation).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub consecutive_failures: i32,
    /// The signing secret (`whsec_…`): returned when the endpoint is created, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    pub state: String,
    pub attempts: Vec<Attempt>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub attempt: i32,
    /// The HTTP status, absent when no response came.
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// The Standard Webhooks signature of a message.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = secret.strip_prefix("whsec_").and_then(|k| STANDARD.decode(k).ok()).unwrap_or_default();
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&key) else { return String::new() };
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

fn view(row: EndpointRow, secret: Option<String>) -> Result<Webhook> {
    Ok(Webhook {
        id: WebhookId::parse(&row.id).map_err(|e| ServiceError::Internal(e.to_string()))?,
        url: row.url,
        description: row.description,
        events: row.event_types.0,
        enabled: row.enabled,
        disabled_reason: row.disabled_reason,
        consecutive_failures: row.consecutive_failures,
        secret,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn check_events(errors: &mut ValidationErrors, events: &[String]) {
    if events.is_empty() {
        errors.add("events", "list at least one event type, or \"*\"");
    }
    for (i, e) in events.iter().enumerate() {
        let ok = e == "*"
            || (!e.is_empty()
                && e.len() <= 100
                && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_' || b == b'*'));
        if !ok {
            errors.add(format!("events[{i}]"), "an event type such as \"product.updated\", \"product.*\" or \"*\"");
        }
    }
}

/// Whether an endpoint subscribed to `types` wants `event_type` (`*`, `product.*`, exact).
pub fn matches(types: &[String], event_type: &str) -> bool {
    types.iter().any(|t| {
        t == "*" || t == event_type || t.strip_suffix(".*").is_some_and(|p| event_type.starts_with(&format!("{p}.")))
    })
}

#[derive(Clone)]
pub struct WebhookService {
    db: Db,
    outbound: OutboundConfig,
    secrets: SecretBox,
}

/// The associated data endpoint secrets are sealed with.
const SECRET_PURPOSE: &str = "webhook.secret";

impl WebhookService {
    pub fn new(db: Db, allow_private: bool, secrets: SecretBox) -> Self {
        Self { db, outbound: OutboundConfig { allow_private, timeout: Duration::from_secs(10) }, secrets }
    }

    pub async fn create(&self, input: &WebhookCreate) -> Result<Webhook> {
        let mut errors = ValidationErrors::new();
        if let Err(e) = http::check_url(&input.url, self.outbound.allow_private) {
            errors.add("url", e.to_string());
        }
        check_events(&mut errors, &input.events);
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let at = now();
        let secret = new_secret();
        let row = EndpointRow {
            id: WebhookId::new().to_string(),
            url: input.url.clone(),
            description: input.description.chars().take(500).collect(),
            event_types: Json(input.events.clone()),
            // Stored sealed with the server key; only signing opens it.
            secret: self.secrets.seal_str(SECRET_PURPOSE, &secret),
            enabled: true,
            disabled_reason: None,
            consecutive_failures: 0,
            created_at: at,
            updated_at: at,
        };
        let mut tx = self.db.begin().await?;
        repo::insert_endpoint(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        view(row, Some(secret))
    }

    pub async fn update(&self, id: WebhookId, patch: &WebhookUpdate) -> Result<Webhook> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let mut row =
            repo::find_endpoint(&mut c, &id.to_string()).await?.ok_or(ServiceError::NotFound { entity: "webhook" })?;
        let mut errors = ValidationErrors::new();
        if let Some(url) = &patch.url {
            if let Err(e) = http::check_url(url, self.outbound.allow_private) {
                errors.add("url", e.to_string());
            }
            row.url = url.clone();
        }
        if let Some(events) = &patch.events {
            check_events(&mut errors, events);
            row.event_types = Json(events.clone());
        }
        if let Some(d) = &patch.description {
            row.description = d.chars().take(500).collect();
        }
        if let Some(enabled) = patch.enabled {
            if enabled && !row.enabled {
                row.consecutive_failures = 0;
                row.disabled_reason = None;
            }
            row.enabled = enabled;
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        row.updated_at = now();
        repo::update_endpoint(&mut c, &row).await?;
        tx.commit().await?;
        view(row, None)
    }

    pub async fn delete(&self, id: WebhookId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !repo::delete_endpoint(&mut tx.conn(), &id.to_string()).await? {
            return Err(ServiceError::NotFound { entity: "webhook" });
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn get(&self, id: WebhookId) -> Result<Webhook> {
        let mut conn = self.db.read().await?;
        let row = repo::find_endpoint(&mut conn.conn(), &id.to_string())
            .await?
            .ok_or(ServiceError::NotFound { entity: "webhook" })?;
        view(row, None)
    }

    pub async fn list(&self) -> Result<Vec<Webhook>> {
        let mut conn = self.db.read().await?;
        repo::list_endpoints(&mut conn.conn()).await?.into_iter().map(|r| view(r, None)).collect()
    }

    /// The latest deliveries of an endpoint with their attempts (newest first).
    pub async fn deliveries(&self, id: WebhookId, limit: u32) -> Result<Vec<Delivery>> {
        let mut conn = self.db.read().await?;
        let mut c = conn.conn();
        repo::find_endpoint(&mut c, &id.to_string()).await?.ok_or(ServiceError::NotFound { entity: "webhook" })?;
        let rows = repo::list_deliveries(&mut c, &id.to_string(), u64::from(limit)).await?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let attempts = repo::list_attempts(&mut c, &ids).await?;
        rows.into_iter()
            .map(|r| {
                Ok(Delivery {
                    id: DeliveryId::parse(&r.id).map_err(|e| ServiceError::Internal(e.to_string()))?,
                    event_id: EventId::parse(&r.event_id).map_err(|e| ServiceError::Internal(e.to_string()))?,
                    event_type: r.event_type,
                    state: r.state,
                    attempts: attempts
                        .iter()
                        .filter(|(d, _)| *d == r.id)
                        .map(|(_, a)| Attempt {
                            attempt: a.attempt,
                            status: a.status,
                            latency_ms: a.latency_ms,
                            response_excerpt: a.response_excerpt.clone(),
                            error: a.error.clone(),
                            at: a.at,
                        })
                        .collect(),
                    created_at: r.created_at,
                })
            })
            .collect()
    }

    /// Fan-out job: one delivery (and delivery job) per enabled endpoint that wants the event.
    pub async fn fan_out(&self, event_id: EventId) -> Result<usize> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let Some(event) = outbox::find(&mut c, event_id).await? else { return Ok(0) };
        let mut created = 0;
        for endpoint in repo::list_endpoints(&mut c).await? {
            if !endpoint.enabled || !matches(&endpoint.event_types.0, &event.event_type) {
                continue;
            }
            let at = now();
            let delivery = DeliveryRow {
                id: DeliveryId::new().to_string(),
                endpoint_id: endpoint.id.clone(),
                event_id: event.id.to_string(),
                event_type: event.event_type.clone(),
                state: "pending".into(),
                attempts: 0,
                last_status: None,
                created_at: at,
                updated_at: at,
            };
            // A fan-out that runs twice finds its deliveries already there and adds none.
            if repo::insert_delivery(&mut c, &delivery).await? {
                let job = JobSpec::new(DELIVER_JOB, serde_json::json!({ "delivery_id": delivery.id }))
                    .queue(QUEUE)
                    .max_attempts(DELIVERY_ATTEMPTS)
                    .unique_key(format!("webhook:{}", delivery.id));
                enqueue(&mut c, job).await?;
                created += 1;
            }
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Delivery job: one attempt. `Err` asks the job queue to retry later; on the job's
    /// `last_attempt` a failure marks the delivery `failed` (the job then goes to the dead letters).
    pub async fn deliver(&self, delivery_id: &str, last_attempt: bool) -> Result<()> {
        let (delivery, endpoint, event) = {
            let mut conn = self.db.read().await?;
            let mut c = conn.conn();
            let Some(delivery) = repo::find_delivery(&mut c, delivery_id).await? else { return Ok(()) };
            let Some(endpoint) = repo::find_endpoint(&mut c, &delivery.endpoint_id).await? else { return Ok(()) };
            let event_id = EventId::parse(&delivery.event_id).map_err(|e| ServiceError::Internal(e.to_string()))?;
            let Some(event) = outbox::find(&mut c, event_id).await? else { return Ok(()) };
            (delivery, endpoint, event)
        };
        if delivery.state == "succeeded" {
            return Ok(());
        }
        if !endpoint.enabled {
            self.finish(&delivery, &endpoint, "failed", None, 0, None, Some("the endpoint is disabled".into())).await?;
            return Ok(());
        }
        let (status, latency, excerpt, error) = self.attempt(&endpoint, &event).await;
        let success = status.is_some_and(|s| (200..300).contains(&s));
        let state = match (success, last_attempt) {
            (true, _) => "succeeded",
            (false, true) => "failed",
            (false, false) => "pending",
        };
        self.finish(&delivery, &endpoint, state, status, latency, excerpt, error.clone()).await?;
        if success {
            Ok(())
        } else {
            Err(ServiceError::Unavailable(match (status, error) {
                (Some(s), _) => format!("the endpoint answered {s}"),
                (None, Some(e)) => e,
                (None, None) => "no answer".into(),
            }))
        }
    }

    async fn attempt(
        &self,
        endpoint: &EndpointRow,
        event: &Event,
    ) -> (Option<i32>, i32, Option<String>, Option<String>) {
        let body = match serde_json::to_vec(event) {
            Ok(b) => b,
            Err(e) => return (None, 0, None, Some(e.to_string())),
        };
        let secret = match self.secrets.open_str(SECRET_PURPOSE, &endpoint.secret) {
            Ok(secret) => secret,
            Err(e) => return (None, 0, None, Some(format!("cannot open the endpoint's secret: {e}"))),
        };
        let timestamp = now().timestamp();
        let id = event.id.to_string();
        let headers = [
            ("webhook-id", id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", sign(&secret, &id, timestamp, &body)),
            ("user-agent", "Keel-Webhooks/1".to_string()),
        ];
        let started = Instant::now();
        let result = http::post(&endpoint.url, &headers, body, &self.outbound).await;
        let latency = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        match result {
            Ok(r) => (Some(i32::from(r.status)), latency, Some(r.excerpt), None),
            Err(e) => (None, latency, None, Some(e.to_string())),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        delivery: &DeliveryRow,
        endpoint: &EndpointRow,
        state: &str,
        status: Option<i32>,
        latency_ms: i32,
        excerpt: Option<String>,
        error: Option<String>,
    ) -> Result<()> {
        let at = now();
        let attempt = AttemptRow {
            id: AttemptId::new().to_string(),
            attempt: delivery.attempts + 1,
            status,
            latency_ms,
            response_excerpt: excerpt,
            error,
            at,
        };
        let success = state == "succeeded";
        let reason = format!(
            "disabled after {DISABLE_AFTER} failed attempts in a row (last: {})",
            status.map_or_else(|| attempt.error.clone().unwrap_or_default(), |s| format!("HTTP {s}"))
        );
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        repo::record_attempt(&mut c, &delivery.id, state, &attempt).await?;
        if status.is_some() || attempt.error.is_some() {
            repo::record_endpoint_outcome(&mut c, &endpoint.id, success, DISABLE_AFTER, &reason, at).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Called by [`crate::events::record`]: schedules the fan-out of a new event, in its transaction.
pub(crate) async fn schedule_fan_out(c: &mut Conn<'_>, event: &Event) -> Result<()> {
    let job = JobSpec::new(FANOUT_JOB, serde_json::json!({ "event_id": event.id.to_string() }))
        .queue(QUEUE)
        .unique_key(format!("fanout:{}", event.id));
    enqueue(c, job).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_exact_wildcard_and_prefix() {
        let types = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches(&types(&["*"]), "order.placed"));
        assert!(matches(&types(&["product.*"]), "product.updated"));
        assert!(!matches(&types(&["product.*"]), "productx.updated"));
        assert!(matches(&types(&["product.updated"]), "product.updated"));
        assert!(!matches(&types(&["product.updated"]), "product.created"));
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // From the Standard Webhooks specification's test vectors.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
