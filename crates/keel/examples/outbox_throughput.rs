//! Outbox relay throughput: append N events, start the relay towards the configured bus (NATS
//! JetStream with `--nats-url`, else in-process) and time until every event is published.
//! Run by `bench/outbox.sh`; prints one JSON line.

use keel::config::Config;
use keel_platform::bus::{EventBus, NatsConfig};
use keel_worker::relay::{self, RelayConfig};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    keel_platform::http::install_crypto();
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let events: u64 = arg("--events").map_or(Ok(5000), |v| v.parse())?;
    let dir = tempfile::tempdir()?;
    let config =
        Config { data_dir: dir.path().to_path_buf(), database_url: arg("--database-url"), ..Config::default() };
    let services = keel::app::open(&config).await?;
    let stream = format!("KEEL_BENCH_{}", std::process::id());
    let bus = match arg("--nats-url") {
        Some(url) => {
            let nats = NatsConfig {
                url,
                stream: stream.clone(),
                subject_prefix: format!("bench.{stream}"),
                publish_timeout: Duration::from_secs(5),
            };
            EventBus::nats(nats).await?
        }
        None => EventBus::local(),
    };
    for chunk in 0..events.div_ceil(500) {
        let mut tx = services.db.begin().await?;
        for n in chunk * 500..((chunk + 1) * 500).min(events) {
            let data = serde_json::json!({ "n": n, "title": "A product title of ordinary length" });
            let event = keel_domain::event::Event {
                id: keel_domain::EventId::new(),
                event_type: "product.updated".into(),
                version: 1,
                occurred_at: keel_services::now(),
                aggregate: keel_domain::event::AggregateRef { kind: "product".into(), id: format!("prod_{n}") },
                data,
            };
            keel_store::outbox::append(&mut tx.conn(), &event, None).await?;
        }
        tx.commit().await?;
    }
    let started = Instant::now();
    let relay = relay::start(services.db.clone(), bus.clone(), RelayConfig::default());
    loop {
        let mut conn = services.db.read().await?;
        if keel_store::outbox::unpublished_count(&mut conn.conn()).await? == 0 {
            break;
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    relay.shutdown().await;
    if let EventBus::Nats(nats) = &bus {
        let _ = nats.jetstream().delete_stream(&stream).await;
    }
    println!(
        "{}",
        serde_json::json!({"engine": services.db.engine().as_str(), "bus": bus.kind(), "events": events, "events_per_sec": (events as f64 / secs).round()})
    );
    services.db.close().await;
    Ok(())
}
