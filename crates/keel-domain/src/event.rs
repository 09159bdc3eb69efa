//! Domain events and their envelope: what Keel tells the outside world happened.
//!
//! The JSON envelope is stable and versioned:
//!
//! ```json
//! {"id": "evt_…", "type": "product.updated", "version": 1, "occurred_at": "2026-11-25T10:00:00Z",
//!  "aggregate": {"type": "product", "id": "prod_…"}, "data": {…}}
//! ```
//!
//! `id` is unique per event: delivery is at least once, so consumers deduplicate by it. `version`
//! is the version of `data`'s shape for this `type`; a breaking change bumps it.

use crate::EventId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    pub aggregate: AggregateRef,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Signals that live only inside a process (never written to the outbox or sent to webhooks).
impl Event {
    /// A signal with no aggregate and no data.
    pub fn signal(event_type: &str) -> Event {
        Event {
            id: EventId::new(),
            event_type: event_type.to_string(),
            version: 1,
            occurred_at: Utc::now(),
            aggregate: AggregateRef { kind: String::new(), id: String::new() },
            data: serde_json::Value::Null,
        }
    }

    /// `bus.resync`: events may have been missed (the bus subscription was interrupted), so
    /// whatever follows them should treat everything as changed.
    pub fn resync() -> Event {
        Event::signal(RESYNC)
    }
}

pub const RESYNC: &str = "bus.resync";

/// The thing an event is about; events of one aggregate are delivered in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AggregateRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}
