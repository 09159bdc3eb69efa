//! Redis as the shared layer of several api nodes, seen from outside: one node answers from what
//! another loaded (`x-keel-cache: shared`), a change made on one node reaches the other within a
//! second though both had the answer, every node counts against the same rate limits, and a
//! node whose Redis is unreachable keeps serving from its own memory and counts.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn read(app: &common::TestApp, path: &str) -> (String, Value) {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    let cache = response.headers().get("x-keel-cache").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (cache, response.json().await.unwrap())
}

fn usd(product: &Value) -> i64 {
    let prices = product["variants"][0]["prices"].as_array().unwrap();
    prices.iter().find(|p| p["currency"] == "USD").unwrap()["amount"].as_i64().unwrap()
}

/// Waits (up to 5 s) until the Redis key's value (a string, or the hash field `c` of an entry)
/// satisfies `ok`, and answers it.
async fn until_redis(url: &str, key: &str, ok: impl Fn(Option<&str>) -> bool) -> Option<String> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let kind: String = redis::cmd("TYPE").arg(key).query_async(&mut conn).await.unwrap();
        let value: Option<String> = match kind.as_str() {
            "hash" => redis::cmd("HGET").arg(key).arg("c").query_async(&mut conn).await.unwrap(),
            _ => redis::cmd("GET").arg(key).query_async(&mut conn).await.unwrap(),
        };
        if ok(value.as_deref()) {
            return value;
        }
        assert!(Instant::now() < deadline, "{key} never became what the test waits for");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Two api nodes on one PostgreSQL, NATS and Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_cached_answers_and_a_change_reaches_every_node() {
    let Some(nats) = common::nats_url().await else { return };
    let Some((redis, prefix)) = common::redis().await else { return };
    let Some(db) = common::Database::create(common::Backend::Postgres).await else { return };
    let stream = format!("KEEL_TEST_{}", uuid::Uuid::new_v4().simple());
    let tweak = |c: &mut keel::config::Config| {
        c.nats_url = Some(nats.clone());
        c.nats_stream = stream.clone();
        c.nats_subject_prefix = format!("test.{stream}");
        c.redis_url = Some(redis.clone());
        c.redis_prefix = prefix.clone();
    };
    // Each node drops the shared tier once as it starts (it bumps the counter): wait for both.
    let counter = format!("{prefix}http-shared-v1:gen");
    let a = common::TestApp::spawn_with(&db, common::Backend::Postgres, true, tweak).await;
    let after_a: i64 = until_redis(&redis, &counter, |v| v.is_some()).await.unwrap().parse().unwrap();
    let b = common::TestApp::spawn_with(&db, common::Backend::Postgres, false, tweak).await;
    until_redis(&redis, &counter, |v| v.is_some_and(|v| v.parse::<i64>().unwrap() > after_a)).await;
    let bus = keel::app::event_bus(&a.config).await.unwrap();
    let relay = keel_worker::relay::start(
        a.services.db.clone(),
        bus,
        keel_worker::relay::RelayConfig {
            batch: 50,
            poll_interval: Duration::from_millis(500),
            leadership_retry: Duration::from_millis(100),
        },
    );

    let checks = async {
        let path = "/v1/store/products/classic-tee";
        let (cache, before) = read(&a, path).await;
        assert_eq!(cache, "miss");
        // A stores its answer in Redis after answering.
        until_redis(&redis, &format!("{prefix}http-shared-v1:e:{path}"), |v| v.is_some()).await;
        // Node B has never loaded it: the answer comes from what A stored in Redis.
        let (cache, on_b) = read(&b, path).await;
        assert_eq!(cache, "shared");
        assert_eq!(on_b, before);
        assert_eq!(read(&b, path).await.0, "hit", "then from B's own memory");
        assert_ne!(usd(&before), 4242);

        let variant = before["variants"][0]["id"].as_str().unwrap();
        let prices = Some(json!([{"amount": 4242, "currency": "USD"}]));
        let (status, _) = a.admin_json(Method::PUT, &format!("/v1/admin/variants/{variant}/prices"), prices).await;
        assert_eq!(status, 200);
        let changed = Instant::now();
        assert_eq!(usd(&read(&a, path).await.1), 4242, "the changing node serves the change at once");
        loop {
            let (_, seen) = read(&b, path).await;
            if usd(&seen) == 4242 {
                break;
            }
            assert!(changed.elapsed() < Duration::from_secs(1), "node B still serves the old price after 1 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!("node B served the change {:?} after node A made it", changed.elapsed());
    };
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(checks)).await;

    relay.shutdown().await;
    a.stop().await;
    b.stop().await;
    common::drop_stream(&nats, &stream).await;
    common::drop_redis_keys(&redis, &prefix).await;
    db.drop_now().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Two nodes (each on its own database: only Redis joins them) count one client together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_counts_against_the_same_rate_limit() {
    let Some((redis, prefix)) = common::redis().await else { return };
    let tweak = |c: &mut keel::config::Config| {
        c.rate_limits = true;
        c.rate_limit_default = "6/60".into();
        c.redis_url = Some(redis.clone());
        c.redis_prefix = prefix.clone();
    };
    let (db_a, db_b) = (
        common::Database::create(common::Backend::Sqlite).await.unwrap(),
        common::Database::create(common::Backend::Sqlite).await.unwrap(),
    );
    let a = common::TestApp::spawn_with(&db_a, common::Backend::Sqlite, false, tweak).await;
    let b = common::TestApp::spawn_with(&db_b, common::Backend::Sqlite, false, tweak).await;

    for (i, node) in [&a, &a, &a, &b, &b, &b].into_iter().enumerate() {
        let response = node.get("/v1/store/regions").await;
        assert_eq!(response.status(), 200, "request {i}");
        let state = response.headers()["ratelimit"].to_str().unwrap().to_string();
        assert!(state.starts_with(&format!("\"default\";r={};", 5 - i)), "request {i}: {state}");
    }
    let refused = a.get("/v1/store/regions").await;
    assert_eq!(refused.status(), 429, "the seventh request is over the quota both nodes share");
    assert_eq!(refused.headers()["retry-after"], "10");
    assert_eq!(b.get("/v1/store/regions").await.status(), 429);

    a.stop().await;
    b.stop().await;
    common::drop_redis_keys(&redis, &prefix).await;
}

/// Redis configured but unreachable: the node serves and caches from memory and limits in
/// process.
#[tokio::test]
async fn a_node_whose_redis_is_unreachable_keeps_serving() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let db = common::Database::create(common::Backend::Sqlite).await.unwrap();
    let app = common::TestApp::spawn_with(&db, common::Backend::Sqlite, true, |c| {
        c.redis_url = Some(format!("redis://127.0.0.1:{port}"));
        c.rate_limits = true;
        c.rate_limit_default = "3/60".into();
    })
    .await;
    let path = "/v1/store/products/classic-tee";
    assert_eq!(read(&app, path).await.0, "miss");
    assert_eq!(read(&app, path).await.0, "hit");
    assert_eq!(read(&app, path).await.0, "hit");
    assert_eq!(app.get(path).await.status(), 429, "the in-process count still limits");
    app.stop().await;
}
