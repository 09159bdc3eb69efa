//! paysim over real HTTP: payment intents, captures, refunds, declines, idempotency, signed
//! webhooks and injected failures.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;

struct Sim {
    base: String,
    http: reqwest_client::Client,
}

impl Sim {
    async fn start(config: paysim::Config) -> Sim {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(paysim::serve(listener, config));
        Sim { base, http: reqwest_client::Client::new() }
    }

    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (u16, Value, bool) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth("sk_test_paysim")
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        let res = req.send().await.unwrap();
        let replayed = res.headers().get("idempotent-replayed").is_some();
        (res.status().as_u16(), serde_json::from_slice(&res.bytes().await.unwrap()).unwrap(), replayed)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let res = self.http.get(format!("{}{path}", self.base)).bearer_auth("sk_test_paysim").send().await.unwrap();
        (res.status().as_u16(), serde_json::from_slice(&res.bytes().await.unwrap()).unwrap())
    }
}

/// A webhook receiver that checks each signature and passes the events on.
async fn receiver(secret: &'static str) -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let header = headers["paysim-signature"].to_str().unwrap().to_string();
                let t: i64 = header.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
                assert_eq!(header, paysim::signature(secret, t, &body), "signature over t.body");
                tx.send(serde_json::from_slice::<Value>(&body).unwrap()).unwrap();
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("an event within 10 s").unwrap()
}

#[tokio::test]
async fn authorise_capture_partially_and_refund() {
    let (url, mut events) = receiver("whsec_test").await;
    let sim = Sim::start(paysim::Config {
        webhook_url: Some(url),
        webhook_secret: "whsec_test".into(),
        ..Default::default()
    })
    .await;
    let (status, intent, _) = sim
        .post(
            "/v1/payment_intents",
            None,
            json!({"amount": 5000, "currency": "EUR", "payment_method": "tok_visa",
            "capture_method": "manual", "metadata": {"cart_id": "cart_1"}}),
        )
        .await;
    assert_eq!(
        (status, intent["status"].as_str(), intent["amount_capturable"].as_i64()),
        (200, Some("requires_capture"), Some(5000))
    );
    let id = intent["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("pi_"));
    assert_eq!(next_event(&mut events).await["type"], "payment_intent.amount_capturable_updated");
    let (status, captured, _) =
        sim.post(&format!("/v1/payment_intents/{id}/capture"), None, json!({"amount_to_capture": 4000})).await;
    assert_eq!(
        (status, captured["status"].as_str(), captured["amount_received"].as_i64()),
        (200, Some("succeeded"), Some(4000))
    );
    let succeeded = next_event(&mut events).await;
    assert_eq!(
        (succeeded["type"].as_str(), succeeded["data"]["object"]["id"].as_str()),
        (Some("payment_intent.succeeded"), Some(id.as_str()))
    );
    // Captured once only; refunds up to what was captured.
    assert_eq!(sim.post(&format!("/v1/payment_intents/{id}/capture"), None, json!({})).await.0, 400);
    let (status, refund, _) = sim.post("/v1/refunds", None, json!({"payment_intent": id, "amount": 1500})).await;
    assert_eq!((status, refund["amount"].as_i64(), refund["status"].as_str()), (200, Some(1500), Some("succeeded")));
    let (status, problem, _) = sim.post("/v1/refunds", None, json!({"payment_intent": id, "amount": 2501})).await;
    assert_eq!((status, problem["error"]["code"].as_str()), (400, Some("amount_too_large")));
    assert_eq!(next_event(&mut events).await["type"], "charge.refunded");
    let (_, read) = sim.get(&format!("/v1/payment_intents/{id}")).await;
    assert_eq!(read["amount_refunded"], 1500);
    let (_, found) = sim.get("/v1/payment_intents?metadata_key=cart_id&metadata_value=cart_1").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn declines_say_why_and_authorisations_can_be_voided() {
    let sim = Sim::start(paysim::Config::default()).await;
    for (token, code, decline) in [
        ("tok_declined", "card_declined", Some("generic_decline")),
        ("tok_insufficient_funds", "card_declined", Some("insufficient_funds")),
        ("tok_expired", "expired_card", None),
    ] {
        let (status, body, _) = sim
            .post("/v1/payment_intents", None, json!({"amount": 100, "currency": "usd", "payment_method": token}))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str(), body["error"]["decline_code"].as_str()),
            (402, Some(code), decline),
            "{token}"
        );
        assert_eq!(body["error"]["payment_intent"]["status"], "requires_payment_method");
    }
    let (status, body, _) = sim
        .post("/v1/payment_intents", None, json!({"amount": 100, "currency": "usd", "payment_method": "tok_error"}))
        .await;
    assert_eq!((status, body["error"]["type"].as_str()), (500, Some("api_error")));
    let (_, intent, _) = sim
        .post(
            "/v1/payment_intents",
            None,
            json!({"amount": 700, "currency": "usd", "payment_method": "tok_visa", "capture_method": "manual"}),
        )
        .await;
    let id = intent["id"].as_str().unwrap();
    let (status, voided, _) = sim.post(&format!("/v1/payment_intents/{id}/cancel"), None, json!({})).await;
    assert_eq!(
        (status, voided["status"].as_str(), voided["amount_capturable"].as_i64()),
        (200, Some("canceled"), Some(0))
    );
    assert_eq!(
        sim.post(&format!("/v1/payment_intents/{id}/capture"), None, json!({})).await.0,
        400,
        "a voided authorisation cannot be captured"
    );
    // Without the key, nothing.
    let res = sim.http.get(format!("{}/v1/payment_intents/{id}", sim.base)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_other_bodies() {
    let sim = Sim::start(paysim::Config::default()).await;
    let body =
        json!({"amount": 2500, "currency": "gbp", "payment_method": "tok_visa", "metadata": {"cart_id": "cart_2"}});
    let (_, first, replayed) = sim.post("/v1/payment_intents", Some("key-1"), body.clone()).await;
    assert!(!replayed);
    let (status, again, replayed) = sim.post("/v1/payment_intents", Some("key-1"), body).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(again["id"], first["id"]);
    let (_, found) = sim.get("/v1/payment_intents?metadata_key=cart_id&metadata_value=cart_2").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1, "one charge");
    let (status, problem, _) = sim
        .post(
            "/v1/payment_intents",
            Some("key-1"),
            json!({"amount": 1, "currency": "gbp", "payment_method": "tok_visa"}),
        )
        .await;
    assert_eq!((status, problem["error"]["type"].as_str()), (400, Some("idempotency_error")));
}

#[tokio::test]
async fn asynchronous_payments_settle_by_webhook() {
    let (url, mut events) = receiver("whsec_paysim").await;
    let sim = Sim::start(paysim::Config {
        webhook_url: Some(url),
        async_delay: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    let (status, intent, _) = sim
        .post("/v1/payment_intents", None, json!({"amount": 900, "currency": "usd", "payment_method": "tok_async"}))
        .await;
    assert_eq!((status, intent["status"].as_str()), (200, Some("processing")));
    let event = next_event(&mut events).await;
    assert_eq!(
        (event["type"].as_str(), event["data"]["object"]["status"].as_str()),
        (Some("payment_intent.succeeded"), Some("succeeded"))
    );
    let (_, read) = sim.get(&format!("/v1/payment_intents/{}", intent["id"].as_str().unwrap())).await;
    assert_eq!(read["amount_received"], 900);
}

#[tokio::test]
async fn injected_failures_happen_before_any_effect() {
    let sim = Sim::start(paysim::Config { failure_rate: 1.0, ..Default::default() }).await;
    let (status, body, _) = sim
        .post("/v1/payment_intents", Some("k"), json!({"amount": 100, "currency": "usd", "payment_method": "tok_visa"}))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("service_unavailable")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_key_make_one_payment() {
    let sim = std::sync::Arc::new(
        Sim::start(paysim::Config { latency: Duration::from_millis(20), ..Default::default() }).await,
    );
    let body =
        json!({"amount": 500, "currency": "usd", "payment_method": "tok_visa", "metadata": {"cart_id": "cart_race"}});
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (sim, body) = (sim.clone(), body.clone());
            tokio::spawn(async move { sim.post("/v1/payment_intents", Some("same-key"), body).await.0 })
        })
        .collect();
    for task in tasks {
        let status = task.await.unwrap();
        assert!(status == 200 || status == 409, "{status}");
    }
    let (_, found) = sim.get("/v1/payment_intents?metadata_key=cart_id&metadata_value=cart_race").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
}
