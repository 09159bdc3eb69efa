//! Domain events through the transactional outbox: written with the change, relayed in order,
//! never lost — on the in-process bus (both engines) and on a real NATS JetStream server that is
//! killed and restarted while events are pending.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use keel_platform::bus::{EventBus, NatsConfig};
use keel_worker::relay::{self, RelayConfig};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

fn product(handle: &str) -> serde_json::Value {
    json!({"title": "Event Shirt", "handle": handle, "status": "published",
           "variants": [{"sku": format!("EVT-{handle}"), "prices": [{"amount": 1000, "currency": "USD"}]}]})
}

async fn unpublished(app: &common::TestApp) -> i64 {
    let mut conn = app.services.db.read().await.unwrap();
    keel_store::outbox::unpublished_count(&mut conn.conn()).await.unwrap()
}

fn fast_relay() -> RelayConfig {
    RelayConfig { batch: 50, poll_interval: Duration::from_millis(200), leadership_retry: Duration::from_millis(100) }
}

backend_tests! {
    #[demo = false]
    async fn changes_are_published_in_order_through_the_outbox(app) {
        let bus = EventBus::local();
        let mut events = bus.subscribe_local().unwrap();
        let relay = relay::start(app.services.db.clone(), bus, fast_relay());

        let (status, created) = app.admin_json(Method::POST, "/v1/admin/products", Some(product("evt-shirt"))).await;
        assert_eq!(status, 201);
        let id = created["id"].as_str().unwrap();
        let (status, _) = app.admin_json(Method::PATCH, &format!("/v1/admin/products/{id}"), Some(json!({"title": "Event Shirt II"}))).await;
        assert_eq!(status, 200);
        let variant = created["variants"][0]["id"].as_str().unwrap();
        let (status, _) = app.admin_json(Method::PUT, &format!("/v1/admin/variants/{variant}/prices"), Some(json!([{"amount": 900, "currency": "USD"}]))).await;
        assert_eq!(status, 200);
        let (status, _) = app.admin_json(Method::POST, &format!("/v1/admin/products/{id}/archive"), None).await;
        assert_eq!(status, 200);
        // A refused change writes no event.
        let (status, _) = app.admin_json(Method::POST, "/v1/admin/products", Some(product("evt-shirt"))).await;
        assert_eq!(status, 409);

        let mut received = Vec::new();
        while received.len() < 4 {
            let event = tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("an event within 10 s").unwrap();
            received.push(event);
        }
        let types: Vec<&str> = received.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, ["product.created", "product.updated", "product.updated", "product.archived"]);
        assert!(received.iter().all(|e| e.aggregate.kind == "product" && e.aggregate.id == id));
        assert_eq!(received[1].data["title"], "Event Shirt II", "events carry the product as it became");
        assert_eq!(received[2].data["variants"][0]["prices"][0]["amount"], 900);
        let ids: std::collections::HashSet<_> = received.iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), 4, "every event has its own id");
        let envelope = serde_json::to_value(&*received[0]).unwrap();
        for field in ["id", "type", "version", "occurred_at", "aggregate", "data"] {
            assert!(envelope.get(field).is_some(), "the envelope has {field}");
        }

        relay.shutdown().await;
        assert_eq!(unpublished(app).await, 0);
        // The relay is gone (and with it the bus); anything still buffered would be a fifth event.
        assert!(events.try_recv().is_err(), "the refused change published nothing");
    }
}

backend_tests! {
    #[demo = false]
    async fn no_event_is_lost_when_nats_restarts(app) {
        let Some(mut nats) = common::servers::Server::nats().await else { return };
        let stream = format!("KEEL_TEST_{}", uuid::Uuid::new_v4().simple());
        let config = NatsConfig { url: nats.url(), stream: stream.clone(), subject_prefix: format!("test.{stream}"), publish_timeout: Duration::from_secs(2) };
        let bus = EventBus::nats(config.clone()).await.unwrap();
        let relay = relay::start(app.services.db.clone(), bus, fast_relay());

        let (_, created) = app.admin_json(Method::POST, "/v1/admin/products", Some(product("nats-shirt"))).await;
        let id = created["id"].as_str().unwrap().to_string();
        let until = Instant::now() + Duration::from_secs(20);
        while unpublished(app).await > 0 {
            assert!(Instant::now() < until, "the first event was not published");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // The broker dies; changes go on and their events wait in the outbox.
        nats.kill();
        for n in 0..5 {
            let (status, _) = app.admin_json(Method::PATCH, &format!("/v1/admin/products/{id}"), Some(json!({"title": format!("Title {n}")}))).await;
            assert_eq!(status, 200);
        }
        assert!(unpublished(app).await >= 5, "events wait while NATS is down");

        // It comes back (same store): the relay drains the outbox.
        nats.spawn().await;
        let until = Instant::now() + Duration::from_secs(60);
        while unpublished(app).await > 0 {
            assert!(Instant::now() < until, "events still waiting after NATS came back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        relay.shutdown().await;

        // Read the whole stream: all six events, in order, none twice.
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let consumer = js
            .get_stream(&stream)
            .await
            .unwrap()
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut messages = consumer.fetch().max_messages(100).expires(Duration::from_secs(2)).messages().await.unwrap();
        let mut titles = Vec::new();
        let mut ids = std::collections::HashSet::new();
        use futures_util::StreamExt;
        while let Some(message) = messages.next().await {
            let message = message.unwrap();
            let event: keel_domain::event::Event = serde_json::from_slice(&message.payload).unwrap();
            assert!(ids.insert(event.id), "event {} delivered twice", event.id);
            assert_eq!(event.aggregate.id, id);
            titles.push(event.data["title"].as_str().unwrap().to_string());
            message.ack().await.unwrap();
        }
        assert_eq!(titles, ["Event Shirt", "Title 0", "Title 1", "Title 2", "Title 3", "Title 4"]);
    }
}
