//! Webhooks end to end: an admin registers an endpoint, a product changes, and a real HTTP
//! receiver on 127.0.0.1 gets the event, signed the Standard Webhooks way — after a first answer
//! of 500, through the job queue's retry. Every attempt is in the delivery log.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A webhook receiver: answers 500 to the first request, 200 after; keeps what it got.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    signal: Arc<tokio::sync::Notify>,
}

impl Receiver {
    async fn start() -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let signal = Arc::new(tokio::sync::Notify::new());
        let (g, s) = (got.clone(), signal.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (g, s) = (g.clone(), s.clone());
                async move {
                    let n = {
                        let mut got = g.lock().unwrap();
                        got.push(Received { headers, body: body.to_vec() });
                        got.len()
                    };
                    s.notify_waiters();
                    if n == 1 { (StatusCode::INTERNAL_SERVER_ERROR, "try again") } else { (StatusCode::OK, "thanks") }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, got, signal }
    }

    async fn wait_for(&self, n: usize, deadline: Duration) -> Vec<Received> {
        let until = Instant::now() + deadline;
        loop {
            let notified = self.signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            let left = until.checked_duration_since(Instant::now()).expect("webhook requests did not arrive in time");
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

/// Verifies a Standard Webhooks signature independently of Keel's code.
fn verify(secret: &str, r: &Received) -> bool {
    let id = r.headers["webhook-id"].to_str().unwrap();
    let ts = r.headers["webhook-timestamp"].to_str().unwrap();
    let key = base64::engine::general_purpose::STANDARD.decode(secret.trim_start_matches("whsec_")).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    r.headers["webhook-signature"].to_str().unwrap().split(' ').any(|s| s == expected)
}

fn fast_worker() -> keel_worker::WorkerConfig {
    keel_worker::WorkerConfig {
        id: "webhook-test".into(),
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(200),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        shutdown_grace: Duration::from_millis(200),
    }
}

backend_tests! {
    #[demo = false]
    async fn a_product_change_reaches_a_signed_webhook_after_a_retry(app) {
        let receiver = Receiver::start().await;
        let (status, hook) = app.admin_json(Method::POST, "/v1/admin/webhooks", Some(json!({"url": receiver.url, "events": ["product.updated"]}))).await;
        assert_eq!(status, 201, "{hook}");
        let secret = hook["secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("whsec_"));
        let hook_id = hook["id"].as_str().unwrap().to_string();
        let (_, listed) = app.admin_json(Method::GET, "/v1/admin/webhooks", None).await;
        assert!(listed["data"][0].get("secret").is_none(), "the secret is shown only at creation");

        let config = keel::config::Config { webhooks_allow_private: true, ..app.config.clone() };
        let worker = keel_worker::Worker::start(app.services.db.clone(), keel::app::worker_registry(&app.services, &config).unwrap(), fast_worker()).await.unwrap();

        let (_, product) = app.admin_json(Method::POST, "/v1/admin/products", Some(json!({"title": "Hooked", "status": "published"}))).await;
        let id = product["id"].as_str().unwrap();
        let (status, _) = app.admin_json(Method::PATCH, &format!("/v1/admin/products/{id}"), Some(json!({"title": "Hooked II"}))).await;
        assert_eq!(status, 200);

        let got = receiver.wait_for(2, Duration::from_secs(30)).await;
        assert_eq!(got.len(), 2, "product.created is not subscribed; product.updated came twice (500, then 200)");
        for r in &got {
            assert!(verify(&secret, r), "signature does not verify");
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["type"], "product.updated");
            assert_eq!(body["data"]["title"], "Hooked II");
            assert_eq!(r.headers["webhook-id"], body["id"].as_str().unwrap(), "the message id is the event id");
        }
        assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"], "a retry keeps its id");

        // The delivery log shows both attempts.
        let until = Instant::now() + Duration::from_secs(20);
        let deliveries = loop {
            let (_, d) = app.admin_json(Method::GET, &format!("/v1/admin/webhooks/{hook_id}/deliveries"), None).await;
            if d["data"][0]["state"] == "succeeded" {
                break d;
            }
            assert!(Instant::now() < until, "delivery never succeeded: {d}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        worker.shutdown().await;
        assert_eq!(deliveries["data"].as_array().unwrap().len(), 1);
        let attempts = deliveries["data"][0]["attempts"].as_array().unwrap();
        assert_eq!(attempts.iter().map(|a| a["status"].as_i64().unwrap()).collect::<Vec<_>>(), [500, 200]);
        assert_eq!(attempts[0]["response_excerpt"], "try again");
        assert!(attempts[1]["latency_ms"].as_i64().unwrap() >= 0);

        // Sustained failure disables the endpoint, with the reason; enabling it again resets it.
        for _ in 0..keel_services::webhooks::DISABLE_AFTER {
            let mut tx = app.services.db.begin().await.unwrap();
            keel_store::webhooks::record_endpoint_outcome(&mut tx.conn(), &hook_id, false, keel_services::webhooks::DISABLE_AFTER, "failing", keel_services::now()).await.unwrap();
            tx.commit().await.unwrap();
        }
        let (_, disabled) = app.admin_json(Method::GET, &format!("/v1/admin/webhooks/{hook_id}"), None).await;
        assert_eq!(disabled["enabled"], false);
        assert_eq!(disabled["disabled_reason"], "failing");
        let (_, enabled) = app.admin_json(Method::PATCH, &format!("/v1/admin/webhooks/{hook_id}"), Some(json!({"enabled": true}))).await;
        assert_eq!(enabled["enabled"], true);
        assert_eq!(enabled["consecutive_failures"], 0);
    }

    #[demo = false]
    async fn bad_webhook_registrations_are_refused(app) {
        for (body, field) in [
            (json!({"url": "ftp://example.com/x", "events": ["*"]}), "url"),
            (json!({"url": "https://example.com/x", "events": []}), "events"),
            (json!({"url": "https://example.com/x", "events": ["Product Updated"]}), "events[0]"),
        ] {
            let (status, problem) = app.admin_json(Method::POST, "/v1/admin/webhooks", Some(body)).await;
            assert_eq!(status, 422, "{problem}");
            assert_eq!(problem["errors"][0]["field"], field);
        }
        let reader = app.create_key(&["webhooks:read"]).await;
        let refused = app.http.post(app.url("/v1/admin/webhooks")).bearer_auth(&reader).json(&json!({"url": "https://example.com/x", "events": ["*"]})).send().await.unwrap();
        assert_eq!(refused.status(), 403);
    }
}

/// Without `KEEL_WEBHOOKS_ALLOW_PRIVATE`, private and loopback targets are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_are_refused_by_default() {
    let mut db = common::Database::create(common::Backend::Sqlite).await.unwrap();
    db.config.webhooks_allow_private = false;
    let app = common::TestApp::spawn(&db, common::Backend::Sqlite, false).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost/x",
        "http://10.0.0.8/x",
        "http://[::1]/x",
    ] {
        let (status, problem) =
            app.admin_json(Method::POST, "/v1/admin/webhooks", Some(json!({"url": url, "events": ["*"]}))).await;
        assert_eq!(status, 422, "{url}: {problem}");
        assert!(problem["errors"][0]["message"].as_str().unwrap().contains("not a public address"), "{problem}");
    }
    app.stop().await;
}
