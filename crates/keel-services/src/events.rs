//! Recording domain events. A service calls [`record`] inside the transaction that makes the
//! change, so the event is stored if and only if the change commits (the transactional outbox);
//! the worker's relay then publishes it to the event bus, and a fan-out job (enqueued in the same
//! transaction) hands it to the webhook endpoints that want it.

use crate::{Result, now};
use keel_domain::EventId;
use keel_domain::event::{AggregateRef, Event};
use keel_store::{Conn, outbox};

/// Appends `event_type` about the aggregate (`kind`, `id`) with `data` to the outbox.
pub async fn record(
    c: &mut Conn<'_>,
    event_type: &str,
    kind: &str,
    id: &str,
    data: serde_json::Value,
) -> Result<Event> {
    let event = Event {
        id: EventId::new(),
        event_type: event_type.to_string(),
        version: 1,
        occurred_at: now(),
        aggregate: AggregateRef { kind: kind.to_string(), id: id.to_string() },
        data,
    };
    outbox::append(c, &event, keel_platform::trace::current().as_deref()).await?;
    crate::webhooks::schedule_fan_out(c, &event).await?;
    Ok(event)
}

/// Records `event_type` carrying `entity` as it now is (or, for a deletion, `{"id": …}`).
pub async fn record_entity(
    c: &mut Conn<'_>,
    event_type: &str,
    kind: &str,
    id: &str,
    entity: &impl serde::Serialize,
) -> Result<()> {
    let data = serde_json::to_value(entity).map_err(|e| crate::ServiceError::Internal(e.to_string()))?;
    record(c, event_type, kind, id, data).await?;
    Ok(())
}

/// Records `{kind}.deleted` for the aggregate `id`.
pub async fn record_deleted(c: &mut Conn<'_>, kind: &str, id: &str) -> Result<()> {
    record(c, &format!("{kind}.deleted"), kind, id, serde_json::json!({ "id": id })).await?;
    Ok(())
}
