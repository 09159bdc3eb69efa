//! The event bus: where the outbox relay publishes domain events.
//!
//! - **Local** (the default): a tokio broadcast channel inside the process. Subscribers that lag
//!   too far behind miss events (they are told so); with no subscriber an event simply goes nowhere.
//! - **NATS JetStream** (`KEEL_NATS_URL`): a durable stream (created if absent) holding every
//!   subject under the configured prefix, one subject per event type (`keel.events.product.updated`).
//!   A node starts while NATS is down: the stream is made sure of on the first publish or
//!   subscription that reaches the server (and again after a failed one: a stream lost with the
//!   server's storage comes back), and until then events wait in the outbox. A server that answers
//!   but refuses the stream (JetStream off, overlapping subjects, permissions) is logged as an
//!   error and reported down by readiness.
//!   Each message carries `Nats-Msg-Id` = the event id, so a republish after a crash is dropped by
//!   the server's duplicate window; consumers deduplicate by event id beyond it. A publish succeeds
//!   only once the server has stored the message (the JetStream ack).

use async_nats::jetstream;
use futures_util::StreamExt;
use keel_domain::event::Event;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    stream: Arc<StreamState>,
}

#[derive(Default)]
struct StreamState {
    /// The stream is known to exist (made sure of since the last failure).
    ready: AtomicBool,
    /// The connected server refused to set the stream up.
    refused: AtomicBool,
}

/// How long a follower waits for its first subscription before going on without it (it keeps
/// trying in the background; a node does not wait for a NATS that is down).
const FIRST_SUBSCRIPTION_WAIT: Duration = Duration::from_secs(2);

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl EventBus {
    /// The in-process bus.
    pub fn local() -> EventBus {
        EventBus::Local(broadcast::channel(4096).0)
    }

    /// A client of NATS. A server that is down now is not an error: the client connects (and
    /// reconnects whenever the server goes away) in the background, and publishing fails — the
    /// outbox keeps the events — until it is there.
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
        Ok(EventBus::Nats(Box::new(NatsBus { jetstream, config, stream: Arc::default() })))
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

    /// Whether NATS is usable now: connected, and not refusing the stream (`None` for the
    /// in-process bus).
    pub fn is_connected(&self) -> Option<bool> {
        match self {
            EventBus::Local(_) => None,
            EventBus::Nats(bus) => Some(bus.connected() && !bus.stream.refused.load(Ordering::Acquire)),
        }
    }

    /// Subscribes to the in-process bus (`None` on NATS: consume the stream instead).
    pub fn subscribe_local(&self) -> Option<broadcast::Receiver<Arc<Event>>> {
        match self {
            EventBus::Local(tx) => Some(tx.subscribe()),
            EventBus::Nats(_) => None,
        }
    }

    /// Calls `each` with every event published from now on, by any node, until the returned task
    /// is aborted: the in-process broadcast, or on NATS an ordered ephemeral consumer that
    /// delivers new messages only (no acks; it recreates itself after a gap, and the task
    /// reconnects with growing pauses when the server goes away). What a follower does must be
    /// harmless to repeat: delivery is at least once.
    pub async fn follow(
        &self,
        each: impl Fn(Event) + Send + Sync + 'static,
    ) -> Result<tokio::task::JoinHandle<()>, BusError> {
        match self {
            EventBus::Local(tx) => {
                let mut rx = tx.subscribe();
                Ok(tokio::spawn(async move {
                    loop {
                        match rx.recv().await {
                            Ok(event) => each((*event).clone()),
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                tracing::warn!(missed = n, "an event follower fell behind the in-process bus");
                            }
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                    }
                }))
            }
            EventBus::Nats(bus) => {
                let bus = bus.clone();
                let first = match tokio::time::timeout(FIRST_SUBSCRIPTION_WAIT, bus.ordered_messages()).await {
                    Ok(Ok(stream)) => Some(stream),
                    Ok(Err(err)) => {
                        tracing::warn!(%err, "cannot subscribe to events yet; retrying");
                        None
                    }
                    Err(_) => {
                        tracing::warn!("NATS does not answer yet; subscribing to events in the background");
                        None
                    }
                };
                Ok(tokio::spawn(async move {
                    // Without a first subscription, what this node kept before it subscribes may
                    // be changed by other nodes meanwhile: its first subscription is a resume.
                    let mut resumed = first.is_none();
                    let mut messages = first;
                    let mut attempt = 0u32;
                    loop {
                        if let Some(mut stream) = messages.take() {
                            if resumed {
                                // Events published while unsubscribed are not replayed: tell the
                                // follower to treat everything as changed.
                                each(Event::resync());
                            }
                            resumed = true;
                            attempt = 0;
                            while let Some(message) = stream.next().await {
                                match message {
                                    Ok(message) => match serde_json::from_slice::<Event>(&message.payload) {
                                        Ok(event) => each(event),
                                        Err(err) => tracing::warn!(%err, "an undecodable event on the bus"),
                                    },
                                    Err(err) => {
                                        tracing::warn!(%err, "event subscription interrupted");
                                        break;
                                    }
                                }
                            }
                        }
                        attempt = attempt.saturating_add(1);
                        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt.min(25)))).await;
                        match bus.ordered_messages().await {
                            Ok(stream) => messages = Some(stream),
                            Err(err) => tracing::warn!(%err, "cannot resubscribe to events yet"),
                        }
                    }
                }))
            }
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
    fn connected(&self) -> bool {
        self.jetstream.client().connection_state() == async_nats::connection::State::Connected
    }

    /// Creates the stream unless this node already knows it exists.
    async fn ensure_stream(&self) -> Result<(), BusError> {
        if self.stream.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let stream = jetstream::stream::Config {
            name: self.config.stream.clone(),
            subjects: vec![format!("{}.>", self.config.subject_prefix)],
            storage: jetstream::stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        match self.jetstream.get_or_create_stream(stream).await {
            Ok(_) => {
                self.stream.ready.store(true, Ordering::Release);
                if self.stream.refused.swap(false, Ordering::AcqRel) {
                    tracing::info!(stream = %self.config.stream, "the NATS event stream is set up");
                }
                Ok(())
            }
            Err(err) => {
                // Answered, and refused: a setting to fix, not an outage to wait out.
                if self.connected() && !self.stream.refused.swap(true, Ordering::AcqRel) {
                    tracing::error!(%err, stream = %self.config.stream, "NATS refuses the event stream: check that JetStream is on and no other stream takes its subjects");
                }
                Err(BusError::Unavailable(err.to_string()))
            }
        }
    }

    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        self.ensure_stream().await?;
        let payload = serde_json::to_vec(event).map_err(|e| BusError::Encode(e.to_string()))?;
        let subject = format!("{}.{}", self.config.subject_prefix, event.event_type);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", event.id.to_string().as_str());
        // Consumers outside Keel can continue the trace of the change that caused the event.
        for (name, value) in crate::trace::outgoing_headers() {
            headers.insert(name, value.as_str());
        }
        let sent = match self.jetstream.publish_with_headers(subject, headers, payload.into()).await {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        // After a failure the stream is made sure of again: the server may have lost it.
        sent.map_err(|e| {
            self.stream.ready.store(false, Ordering::Release);
            BusError::Unavailable(e)
        })
    }

    async fn ordered_messages(&self) -> Result<jetstream::consumer::pull::Ordered, BusError> {
        self.ensure_stream().await?;
        let unavailable = |e: &dyn std::fmt::Display| {
            self.stream.ready.store(false, Ordering::Release);
            BusError::Unavailable(e.to_string())
        };
        let stream = self.jetstream.get_stream(&self.config.stream).await.map_err(|e| unavailable(&e))?;
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                deliver_policy: jetstream::consumer::DeliverPolicy::New,
                filter_subject: format!("{}.>", self.config.subject_prefix),
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(&e))?;
        consumer.messages().await.map_err(|e| unavailable(&e))
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }
}
