//! The outbox relay: publishes committed events to the event bus, in the order they were written.
//!
//! One relay leads at a time across all processes (a PostgreSQL advisory lock), so events of one
//! aggregate are never published out of order by two relays racing. The leader reads the oldest
//! unpublished events, publishes them one by one and marks the published prefix. When the bus is
//! unreachable it stops at the first failure — later events wait behind it, none is skipped — and
//! tries again with growing pauses (up to 30 s). A crash between publishing and marking means the
//! event is published again: delivery is at least once, and consumers deduplicate by event id.

use keel_domain::retry::backoff;
use keel_platform::bus::EventBus;
use keel_store::{Db, outbox};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// How the relay paces itself.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub batch: u64,
    /// The slow poll when no wake-up arrives.
    pub poll_interval: Duration,
    /// How often a follower tries to become the leader.
    pub leadership_retry: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig { batch: 200, poll_interval: Duration::from_secs(5), leadership_retry: Duration::from_secs(5) }
    }
}

pub struct RelayHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RelayHandle {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts relaying the outbox of `db` to `bus`.
pub fn start(db: Db, bus: EventBus, config: RelayConfig) -> RelayHandle {
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(run(db, bus, config, stopped));
    RelayHandle { stop, task }
}

async fn run(db: Db, bus: EventBus, config: RelayConfig, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        match db.try_relay_leadership().await {
            Ok(Some(_leadership)) => {
                tracing::info!(bus = bus.kind(), "leading the outbox relay");
                if let Err(err) = lead(&db, &bus, &config, &mut stop).await {
                    tracing::warn!(%err, "outbox relay stopped leading");
                }
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(%err, "could not contend for the outbox relay"),
        }
        tokio::select! {
            () = tokio::time::sleep(config.leadership_retry) => {}
            _ = stop.changed() => {}
        }
    }
}

/// The span of one event's publication: part of the trace of the change that wrote it.
fn publish_span(pending: &outbox::Unpublished) -> tracing::Span {
    let span = tracing::info_span!(
        "outbox.publish",
        otel.name = %format!("publish {}", pending.event.event_type),
        otel.kind = "producer",
        event_id = %pending.event.id,
        event_type = %pending.event.event_type,
        trace_id = tracing::field::Empty,
    );
    keel_platform::trace::continue_trace(&span, pending.traceparent.as_deref());
    span
}

async fn lead(
    db: &Db,
    bus: &EventBus,
    config: &RelayConfig,
    stop: &mut watch::Receiver<bool>,
) -> keel_store::Result<()> {
    let mut wakeups = db.job_wakeups().await?;
    let mut failures: u32 = 0;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let batch = {
            let mut conn = db.read().await?;
            outbox::unpublished(&mut conn.conn(), config.batch).await?
        };
        let full = batch.len() as u64 == config.batch;
        let mut published = Vec::with_capacity(batch.len());
        let mut failure = None;
        for pending in &batch {
            match bus.publish(&pending.event).instrument(publish_span(pending)).await {
                Ok(()) => published.push(pending.seq),
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        if !published.is_empty() {
            let mut tx = db.begin().await?;
            outbox::mark_published(&mut tx.conn(), &published, keel_services::now()).await?;
            tx.commit().await?;
            metrics::counter!("outbox_events_published_total").increment(published.len() as u64);
        }
        let pause = match failure {
            Some(err) => {
                failures += 1;
                let wait = backoff(failures, Duration::from_millis(200), Duration::from_secs(30), 0.5);
                tracing::warn!(%err, retry_in = ?wait, waiting = batch.len() - published.len(), "event bus unavailable; events wait in the outbox");
                Some(wait)
            }
            None => {
                failures = 0;
                // A full batch means more are waiting: go on at once.
                if full { None } else { Some(Duration::ZERO) }
            }
        };
        match pause {
            None => {}
            Some(wait) if wait.is_zero() => {
                tokio::select! {
                    () = wakeups.wait(config.poll_interval) => {}
                    _ = stop.changed() => {}
                }
            }
            Some(wait) => {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}
