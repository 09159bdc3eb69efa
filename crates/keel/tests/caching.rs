//! The catalog's response cache, seen from outside: answers come from memory (no SQL) until an
//! event says what they show has changed — at once on the node that made the change, and within
//! a second on another node through NATS. Public answers carry shared-cache headers and
//! surrogate keys; personal ones are never cached.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// GETs `path`: (x-keel-cache, etag, body).
async fn cached(app: &common::TestApp, path: &str) -> (String, String, Value) {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let (cache, etag) = (header("x-keel-cache"), header("etag"));
    (cache, etag, response.json().await.unwrap())
}

fn usd(variant: &Value) -> i64 {
    variant["prices"].as_array().unwrap().iter().find(|p| p["currency"] == "USD").unwrap()["amount"].as_i64().unwrap()
}

backend_tests! {
    #[demo = true]
    async fn catalog_answers_come_from_memory_until_an_event_drops_them(app) {
        let (_, list) = app.get_json("/v1/store/products?limit=2").await;
        let (a, b) = (list["data"][0].clone(), list["data"][1].clone());
        let a_path = format!("/v1/store/products/{}", a["handle"].as_str().unwrap());
        let b_path = format!("/v1/store/products/{}", b["handle"].as_str().unwrap());
        let variant = a["variants"][0]["id"].as_str().unwrap().to_string();

        // First read: computed and kept, with headers for shared caches and CDNs.
        let response = app.get(&a_path).await;
        let headers = response.headers().clone();
        assert_eq!(headers["x-keel-cache"], "miss");
        let control = headers["cache-control"].to_str().unwrap();
        assert!(control.contains("public") && control.contains("s-maxage="), "{control}");
        assert_eq!(headers["surrogate-key"].to_str().unwrap(), a["id"].as_str().unwrap());
        assert_eq!(headers["cache-tag"].to_str().unwrap(), a["id"].as_str().unwrap());
        let etag = headers["etag"].to_str().unwrap().to_string();

        // Second read: from memory, no SQL, same representation; a revalidation is a 304.
        let before = app.services.db.statements_executed();
        let (cache, again, _) = cached(app, &a_path).await;
        assert_eq!((cache.as_str(), again.as_str()), ("hit", etag.as_str()));
        assert_eq!(app.services.db.statements_executed(), before, "a hit runs no SQL");
        let revalidated = app.http.get(app.url(&a_path)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(revalidated.status(), 304);
        let (cache, _, _) = cached(app, "/v1/store/products?limit=2").await;
        assert_eq!(cache, "hit");
        let (cache, _, _) = cached(app, &b_path).await;
        assert_eq!(cache, "miss");

        // A price change shows at once, in the product and in lists; other products stay cached.
        let (status, _) = app
            .admin_json(Method::PUT, &format!("/v1/admin/variants/{variant}/prices"), Some(json!([{"amount": 4242, "currency": "USD"}])))
            .await;
        assert_eq!(status, 200);
        let (cache, new_etag, product) = cached(app, &a_path).await;
        assert_eq!(cache, "miss");
        assert_ne!(new_etag, etag);
        assert_eq!(usd(&product["variants"][0]), 4242);
        let (cache, _, list) = cached(app, "/v1/store/products?limit=2").await;
        assert_eq!(cache, "miss");
        assert_eq!(usd(&list["data"][0]["variants"][0]), 4242);
        let (cache, _, _) = cached(app, &b_path).await;
        assert_eq!(cache, "hit", "a change to one product leaves another's page cached");

        // Stock running out flips in_stock (an inventory event drops the answers showing it).
        let (_, _, product) = cached(app, &a_path).await;
        assert_eq!(product["variants"][0]["in_stock"], true);
        let inventory = format!("/v1/admin/variants/{variant}/inventory");
        let (_, levels) = app.admin_json(Method::GET, &inventory, None).await;
        for level in levels["levels"].as_array().unwrap() {
            let body = json!({"on_hand": 0, "location_id": level["location_id"]});
            let (status, _) = app.admin_json(Method::PUT, &inventory, Some(body)).await;
            assert_eq!(status, 200);
        }
        let (cache, _, product) = cached(app, &a_path).await;
        assert_eq!(cache, "miss");
        assert_eq!(product["variants"][0]["in_stock"], false);

        // A category rename reaches the category list.
        let (_, categories) = app.get_json("/v1/store/categories").await;
        let category = categories["data"][0]["id"].as_str().unwrap().to_string();
        // (An invalidation still in flight from the stock change — the search indexer's signal —
        // keeps a load that overlaps it from being kept: the list is cached within a few asks.)
        let mut kept = false;
        for _ in 0..20 {
            if cached(app, "/v1/store/categories").await.0 == "hit" {
                kept = true;
                break;
            }
        }
        assert!(kept, "the category list is kept");
        let (status, _) =
            app.admin_json(Method::PATCH, &format!("/v1/admin/categories/{category}"), Some(json!({"name": "Renamed"}))).await;
        assert_eq!(status, 200);
        let (cache, _, categories) = cached(app, "/v1/store/categories").await;
        assert_eq!(cache, "miss");
        assert!(categories["data"].as_array().unwrap().iter().any(|c| c["name"] == "Renamed"));

        // Errors are not kept; personal answers never pass the cache.
        for _ in 0..2 {
            let response = app.get("/v1/store/products/no-such-product").await;
            assert_eq!(response.status(), 404);
            assert_eq!(response.headers()["x-keel-cache"], "miss");
        }
        let (_, cart) = common::json_of(app.http.post(app.url("/v1/store/carts")).json(&json!({})).send().await.unwrap()).await;
        let response = app.get(&format!("/v1/store/carts/{}", cart["id"].as_str().unwrap())).await;
        assert_eq!(response.headers()["cache-control"], "private, no-store");
        assert!(response.headers().get("x-keel-cache").is_none());
    }
}

/// Two api nodes on one PostgreSQL, events relayed through NATS: a price changed through node A
/// is served by node B within a second, though B had the product cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_node_reaches_another_nodes_cache_within_a_second() {
    let Some(nats) = common::nats_url().await else { return };
    let Some(db) = common::Database::create(common::Backend::Postgres).await else { return };
    let stream = format!("KEEL_TEST_{}", uuid::Uuid::new_v4().simple());
    let tweak = |c: &mut keel::config::Config| {
        c.nats_url = Some(nats.clone());
        c.nats_stream = stream.clone();
        c.nats_subject_prefix = format!("test.{stream}");
    };
    let a = common::TestApp::spawn_with(&db, common::Backend::Postgres, true, tweak).await;
    let b = common::TestApp::spawn_with(&db, common::Backend::Postgres, false, tweak).await;
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
        let (_, list) = b.get_json("/v1/store/products?limit=1").await;
        let product = list["data"][0].clone();
        let path = format!("/v1/store/products/{}", product["id"].as_str().unwrap());
        let variant = product["variants"][0]["id"].as_str().unwrap().to_string();
        cached(&b, &path).await;
        let (cache, _, before) = cached(&b, &path).await;
        assert_eq!(cache, "hit");
        assert_ne!(usd(&before["variants"][0]), 777);

        let prices = Some(json!([{"amount": 777, "currency": "USD"}]));
        let (status, _) = a.admin_json(Method::PUT, &format!("/v1/admin/variants/{variant}/prices"), prices).await;
        assert_eq!(status, 200);
        let changed = Instant::now();
        // Node B is watched from outside, as a shopper would: poll until it shows the change.
        loop {
            let (_, _, seen) = cached(&b, &path).await;
            if usd(&seen["variants"][0]) == 777 {
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
    db.drop_now().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
