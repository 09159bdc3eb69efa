//! The event bus: where the outbox relay publishes domain events.
//!
//! - **Local** (the default): a tokio broadcast channel inside the process. Subscribers that lag
//!   too far behind miss events (they are told so); with no subscriber an event simply goes nowhere.
//! - **NATS JetStream** (`KEEL_NATS_URL`): a durable stream (created if absent) holding every
//!   subject under the configured prefix, one subject per event type (`keel.events.product.updated`).
//!   Each message carries `Nats-Msg-Id` = the event id, so a republish after a crash is dropped by
//!   the server's duplicate window; consumers deduplicate by event id beyond it. A publish succeeds
//!   only once the server has stored the message (the JetStream ack).

use async_nats::jetstream;
use keel_domain::event::Event;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot reach the event bus: {0}")]
    Unavailable(String),
    #[error("cannot encode an event: {0}")]
    Encode(String),
}

/// Where NATS events go.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    pub url: String,
    /// The JetStream stream (created if absent).
    pub stream: String,
    /// Subjects are `{prefix}.{event type}`.
    pub subject_prefix: String,
    /// How long one publish may wait for the server's ack.
    pub publish_timeout: Duration,
}

#[derive(Clone)]
pub enum EventBus {
    Local(broadcast::Sender<Arc<Event>>),
    Nats(Box<NatsBus>),
}

#[derive(Clone)]
pub struct NatsBus {
    jetstream: jetstream::Context,
    config: NatsConfig,
}

impl EventBus {
    /// The in-process bus.
    pub fn local() -> EventBus {
        EventBus::Local(broadcast::channel(4096).0)
    }

    /// Connects to NATS and makes sure the stream exists. The client reconnects by itself when the
    /// server goes away; publishing fails (and the outbox keeps the events) until it is back.
    pub async fn nats(config: NatsConfig) -> Result<EventBus, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name("keel")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(config.url.as_str())
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        let mut jetstream = jetstream::new(client);
        jetstream.set_timeout(config.publish_timeout);
        let stream = jetstream::stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            storage: jetstream::stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        jetstream.get_or_create_stream(stream).await.map_err(|e| BusError::Unavailable(e.to_string()))?;
        Ok(EventBus::Nats(Box::new(NatsBus { jetstream, config })))
    }

    /// Publishes one event; `Ok` means the bus has it.
    pub async fn publish(&self, event: &Event) -> Result<(), BusError> {
        match self {
            EventBus::Local(tx) => {
                // No subscriber is not an error: nobody in this process listens for events.
                let _ = tx.send(Arc::new(event.clone()));
                Ok(())
            }
            EventBus::Nats(bus) => bus.publish(event).await,
        }
    }

    /// Subscribes to the in-process bus (`None` on NATS: consume the stream instead).
    pub fn subscribe_local(&self) -> Option<broadcast::Receiver<Arc<Event>>> {
        match self {
            EventBus::Local(tx) => Some(tx.subscribe()),
            EventBus::Nats(_) => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            EventBus::Local(_) => "local",
            EventBus::Nats(_) => "nats",
        }
    }
}

impl NatsBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let payload = serde_json::to_vec(event).map_err(|e| BusError::Encode(e.to_string()))?;
        let subject = format!("{}.{}", self.config.subject_prefix, event.event_type);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", event.id.to_string().as_str());
        let ack = self
            .jetstream
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        ack.await.map_err(|e| BusError::Unavailable(e.to_string()))?;
        Ok(())
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }
}
