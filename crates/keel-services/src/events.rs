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
    outbox::append(c, &event).await?;
    crate::webhooks::schedule_fan_out(c, &event).await?;
    Ok(event)
}
