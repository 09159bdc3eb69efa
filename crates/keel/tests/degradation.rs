//! Keel keeps serving when a dependency fails, and says so. Each test stops a real service (a
//! Redis or NATS process of its own) or makes search hang, checks that browsing and changes go on
//! and that readiness answers `degraded`, then brings the dependency back and sees it recover.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use async_nats::jetstream;
use common::servers::Server;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn readiness(app: &common::TestApp) -> Value {
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "the database answers, so the node is ready to serve: {body}");
    body
}

/// Polls readiness until `ok` holds for it (or panics after `within`).
async fn until_ready(app: &common::TestApp, within: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + within;
    loop {
        let body = readiness(app).await;
        if ok(&body) {
            return body;
        }
        assert!(Instant::now() < until, "readiness never became what the test waits for: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn first_product(app: &common::TestApp) -> Value {
    let (status, list) = app.get_json("/v1/store/products?limit=1").await;
    assert_eq!(status, 200, "{list}");
    list["data"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_stopped_a_node_serves_from_its_own_memory_and_recovers_when_it_returns() {
    let Some(mut redis) = Server::redis().await else { return };
    let url = redis.url();
    let tweak = move |c: &mut keel::config::Config| {
        c.redis_url = Some(url);
        c.rate_limits = true;
        c.rate_limit_default = "20/1".into();
    };
    common::run_with(common::Backend::Sqlite, true, tweak, move |app| async move {
        // (The node drops the shared tier once as it starts: `fenced` until Redis confirms.)
        let ready = until_ready(app, Duration::from_secs(10), |b| {
            b["status"] == "ready" && b["checks"]["cache_tier"] == "ready"
        })
        .await;
        assert_eq!(
            (ready["checks"]["redis"].as_str(), ready["checks"]["cache_tier"].as_str()),
            (Some("up"), Some("ready"))
        );
        let product = first_product(app).await;
        let id = product["id"].as_str().unwrap().to_string();

        redis.kill();
        // Reads and writes go on; a change is seen at once (this node's own cache follows it).
        let detail = format!("/v1/store/products/{id}");
        let (status, _) = app.get_json(&detail).await;
        assert_eq!(status, 200);
        let (status, body) = app
            .admin_json(Method::PATCH, &format!("/v1/admin/products/{id}"), Some(json!({"title": "Redis-free"})))
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = app.get_json(&detail).await;
        assert_eq!((status, body["title"].as_str()), (200, Some("Redis-free")));
        // Rate limits still hold, counted in this process.
        let mut limited = false;
        for _ in 0..100 {
            if app.get("/v1/store/categories").await.status() == 429 {
                limited = true;
                break;
            }
        }
        assert!(limited, "the in-process limiter takes over");
        let degraded = until_ready(app, Duration::from_secs(5), |b| b["status"] == "degraded").await;
        assert_eq!(degraded["checks"]["redis"], "down", "{degraded}");

        // Redis comes back (empty): readiness recovers and the shared tier is used again.
        redis.spawn().await;
        let ready = until_ready(app, Duration::from_secs(15), |b| b["status"] == "ready").await;
        assert_eq!(ready["checks"]["redis"], "up");
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            // (The limiter may still hold this client back for a moment.)
            let (status, body) = app.get_json(&detail).await;
            if status != 429 {
                assert_eq!((status, body["title"].as_str()), (200, Some("Redis-free")));
                break;
            }
            assert!(Instant::now() < until, "still limited");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Redis restarts empty again, with no change in between: answers are shared through it
        // again without waiting for a change to renew what it lost.
        redis.kill();
        redis.spawn().await;
        let mut conn = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let until = Instant::now() + Duration::from_secs(15);
        for limit in 1.. {
            // A page not read before, so the node looks in the shared tier and stores it there.
            let page = format!("/v1/store/products?limit={limit}");
            app.get(&page).await;
            // (Stored just after the answer: any page stored since the restart will do.)
            let stored: Vec<String> =
                redis::cmd("KEYS").arg("keel:http-shared-v1:e:*").query_async(&mut conn).await.unwrap();
            if !stored.is_empty() {
                break;
            }
            assert!(Instant::now() < until, "the shared tier is not used after Redis came back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nats_stopped_events_wait_in_the_outbox_and_readiness_says_degraded() {
    let Some(mut nats) = Server::nats().await else { return };
    let url = nats.url();
    let stream = format!("KEEL_TEST_{}", uuid::Uuid::new_v4().simple());
    let tweak = move |c: &mut keel::config::Config| {
        c.nats_url = Some(url);
        c.nats_stream = stream.clone();
        c.nats_subject_prefix = format!("test.{stream}");
    };
    common::run_with(common::Backend::Postgres, true, tweak, move |app| async move {
        let bus = keel::app::event_bus(&app.config).await.unwrap();
        let relay_config = keel_worker::relay::RelayConfig {
            poll_interval: Duration::from_millis(100),
            leadership_retry: Duration::from_millis(100),
            ..Default::default()
        };
        let relay = keel_worker::relay::start(app.services.db.clone(), bus, relay_config);
        let ready = until_ready(app, Duration::from_secs(10), |b| b["status"] == "ready").await;
        assert_eq!(ready["checks"]["nats"], "up");
        let id = first_product(app).await["id"].as_str().unwrap().to_string();

        nats.kill();
        for n in 0..3 {
            let patch = json!({"title": format!("Offline {n}")});
            let (status, body) = app.admin_json(Method::PATCH, &format!("/v1/admin/products/{id}"), Some(patch)).await;
            assert_eq!(status, 200, "changes go on while NATS is down: {body}");
        }
        let (status, body) = app.get_json(&format!("/v1/store/products/{id}")).await;
        assert_eq!((status, body["title"].as_str()), (200, Some("Offline 2")));
        let waiting = {
            let mut conn = app.services.db.read().await.unwrap();
            keel_store::outbox::unpublished_count(&mut conn.conn()).await.unwrap()
        };
        assert!(waiting >= 3, "the events wait in the outbox");
        let degraded = until_ready(app, Duration::from_secs(10), |b| b["status"] == "degraded").await;
        assert_eq!(degraded["checks"]["nats"], "down");

        nats.spawn().await;
        until_ready(app, Duration::from_secs(30), |b| b["status"] == "ready").await;
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let waiting = {
                let mut conn = app.services.db.read().await.unwrap();
                keel_store::outbox::unpublished_count(&mut conn.conn()).await.unwrap()
            };
            if waiting == 0 {
                break;
            }
            assert!(Instant::now() < until, "{waiting} events still wait after NATS came back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        relay.shutdown().await;
    })
    .await;
}

/// A node (re)started while NATS is down — a pod rescheduled during the outage — starts and
/// serves, says it is degraded, keeps its events in the outbox and hands them over once NATS is
/// there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_while_nats_is_down_serves_and_publishes_once_it_returns() {
    use common::process::{Lines, Reaped, api_key, keel};
    let Some(mut nats) = Server::nats().await else { return };
    nats.kill();
    let stream = format!("KEEL_TEST_{}", uuid::Uuid::new_v4().simple());
    let dir = tempfile::tempdir().unwrap();
    let key = api_key(dir.path(), "products:write");
    let mut node = Reaped(
        keel()
            .current_dir(dir.path())
            .env("KEEL_ADDR", "127.0.0.1:0")
            .env("KEEL_NATS_URL", nats.url())
            .env("KEEL_NATS_STREAM", &stream)
            .env("KEEL_NATS_SUBJECT_PREFIX", format!("test.{stream}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut output = Lines::of(node.0.stderr.take().unwrap());
    let base = format!("http://127.0.0.1:{}", output.serving_port());
    // The node does not wait for NATS: its first answers come within seconds.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let ready = || async {
        let response = client.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(response.status(), 200, "the database answers, so the node serves");
        response.json::<Value>().await.unwrap()
    };
    let body = ready().await;
    assert_eq!((body["status"].as_str(), body["checks"]["nats"].as_str()), (Some("degraded"), Some("down")), "{body}");

    // Changes go on; their events wait.
    let products: Value =
        client.get(format!("{base}/v1/store/products?limit=1")).send().await.unwrap().json().await.unwrap();
    let id = products["data"][0]["id"].as_str().unwrap().to_string();
    let patch = json!({"title": "Changed before NATS"});
    let changed =
        client.patch(format!("{base}/v1/admin/products/{id}")).bearer_auth(&key).json(&patch).send().await.unwrap();
    assert_eq!(changed.status(), 200);

    // NATS starts: the node connects, makes its stream and publishes what waited.
    nats.spawn().await;
    let jetstream = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let until = Instant::now() + Duration::from_secs(60);
    let subject = format!("test.{stream}.product.updated");
    loop {
        // The newest product.updated on the stream is the change made while NATS was down.
        let last = match jetstream.get_stream(&stream).await {
            Ok(s) => s.get_last_raw_message_by_subject(&subject).await.ok(),
            Err(_) => None,
        };
        let event: Value = last.map_or(Value::Null, |m| serde_json::from_slice(&m.payload).unwrap());
        if event["aggregate"]["id"] == id.as_str() {
            break;
        }
        assert!(Instant::now() < until, "the waiting event never reached NATS: {event}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let until = Instant::now() + Duration::from_secs(30);
    while ready().await["status"] != "ready" {
        assert!(Instant::now() < until, "readiness never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(node);
    drop(output);
    common::drop_stream(&nats.url(), &stream).await;
}

/// A NATS that answers but refuses Keel's stream (here another stream already takes its subjects)
/// is a setting to fix: readiness says NATS is down instead of waiting silently, and once the
/// conflict is gone the node subscribes and reports it up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_that_refuses_the_stream_is_reported_down_until_it_accepts_it() {
    let Some(nats) = Server::nats().await else { return };
    let url = nats.url();
    let jetstream = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    let stream = format!("KEEL_TEST_{}", uuid::Uuid::new_v4().simple());
    let squatter = jetstream::stream::Config {
        name: format!("{stream}_OTHER"),
        subjects: vec![format!("test.{stream}.>")],
        ..Default::default()
    };
    jetstream.create_stream(squatter).await.unwrap();
    let tweak = {
        let stream = stream.clone();
        move |c: &mut keel::config::Config| {
            c.nats_url = Some(url);
            c.nats_stream = stream.clone();
            c.nats_subject_prefix = format!("test.{stream}");
        }
    };
    common::run_with(common::Backend::Sqlite, true, tweak, move |app| async move {
        let refused = until_ready(app, Duration::from_secs(10), |b| b["checks"]["nats"] == "down").await;
        assert_eq!(refused["status"], "degraded", "{refused}");
        first_product(app).await; // the shop goes on

        jetstream.delete_stream(format!("{stream}_OTHER")).await.unwrap();
        let ready = until_ready(app, Duration::from_secs(30), |b| b["status"] == "ready").await;
        assert_eq!(ready["checks"]["nats"], "up");
        assert!(jetstream.get_stream(&stream).await.is_ok(), "the node made its stream");
        drop(nats);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_search_is_cut_off_and_isolated_while_browsing_and_carts_go_on() {
    common::run(common::Backend::Sqlite, true, |app| async move {
        let (status, _) = app.get_json("/v1/store/search?q=shirt").await;
        assert_eq!(status, 200);

        // Every query now hangs longer than search's time limit.
        app.services.search.inject_delay(keel_services::search::QUERY_TIMEOUT * 3);
        // (Each query is new: a cached answer would not reach the index at all.)
        for n in 0..3 {
            let started = Instant::now();
            let response = app.get(&format!("/v1/store/search?q=shirt&limit={}", n + 1)).await;
            assert_eq!(response.status(), 503);
            assert!(response.headers().contains_key("retry-after"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], "unavailable");
            assert!(started.elapsed() < keel_services::search::QUERY_TIMEOUT * 2, "the query was cut off at its limit");
        }
        // The circuit is open: search fails at once, and the rest of the shop does not notice.
        let started = Instant::now();
        assert_eq!(app.get("/v1/store/search/suggest?q=sh").await.status(), 503);
        assert_eq!(app.get("/v1/store/search?q=shirt&limit=9").await.status(), 503);
        assert!(started.elapsed() < Duration::from_millis(500), "an open circuit answers at once");
        assert_eq!(readiness(app).await["checks"]["search"], "open");
        assert_eq!(readiness(app).await["status"], "degraded");
        let product = first_product(app).await;
        let (status, _) = app.get_json(&format!("/v1/store/products/{}", product["id"].as_str().unwrap())).await;
        assert_eq!(status, 200);
        let (status, cart) = app.post_json("/v1/store/carts", json!({"currency": "USD"})).await;
        assert_eq!(status, 201, "{cart}");
        let variant = product["variants"][0]["id"].clone();
        let line = json!({"variant_id": variant, "quantity": 1});
        let (status, body) =
            app.post_json(&format!("/v1/store/carts/{}/line-items", cart["id"].as_str().unwrap()), line).await;
        assert_eq!(status, 200, "adding to the cart does not need search: {body}");

        // Healthy again: after the open period a trial query succeeds and search is back.
        app.services.search.inject_delay(Duration::ZERO);
        let until = Instant::now() + Duration::from_secs(20);
        let mut n = 10;
        while app.get(&format!("/v1/store/search?q=shirt&limit={n}")).await.status() != 200 {
            n += 1;
            assert!(Instant::now() < until, "search never came back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ready = readiness(app).await;
        assert_eq!((ready["status"].as_str(), ready["checks"]["search"].as_str()), (Some("ready"), Some("up")));
    })
    .await;
}
