//! paysim: a local simulator of a card payment provider, with an HTTP API shaped like the
//! mainstream "payment intents" APIs, so that Keel's payment adapter talks real HTTP in the demo
//! and in tests without an account anywhere.
//!
//! # API (JSON in and out, `Authorization: Bearer <secret key>`)
//!
//! - `POST /v1/payment_intents` `{amount, currency, payment_method, capture_method?, metadata?}`
//!   creates and confirms an intent. `capture_method: "manual"` authorises only
//!   (`requires_capture`); `"automatic"` (default) captures at once (`succeeded`).
//! - `GET /v1/payment_intents/{id}`; `GET /v1/payment_intents?metadata_key=&metadata_value=`.
//! - `POST /v1/payment_intents/{id}/capture` `{amount_to_capture?}` (partial capture releases
//!   the rest); `POST /v1/payment_intents/{id}/cancel` (voids an authorisation).
//! - `POST /v1/refunds` `{payment_intent, amount?}` (partial refunds up to what was captured).
//! - Every `POST` honours `Idempotency-Key`: the same key and body replays the first answer
//!   (`Idempotent-Replayed: true`); the same key with another body is a 400.
//!
//! Test card tokens (`payment_method`): `tok_visa` and `tok_mastercard` succeed; `tok_declined`
//! (`card_declined` / `generic_decline`), `tok_insufficient_funds` (`card_declined` /
//! `insufficient_funds`) and `tok_expired` (`expired_card`) are declined with 402; `tok_async`
//! stays `processing` for [`Config::async_delay`] and then succeeds, announced by webhook;
//! `tok_error` answers 500 without creating anything.
//!
//! Errors look like `{"error": {"type", "code", "decline_code"?, "message", "payment_intent"?}}`.
//!
//! # Webhooks
//!
//! Every state change is an event `{id, type, created, data: {object}}` POSTed to
//! [`Config::webhook_url`] with `Paysim-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" under the webhook secret>`, retried a few times on failure. Types:
//! `payment_intent.amount_capturable_updated`, `payment_intent.succeeded`,
//! `payment_intent.payment_failed`, `payment_intent.canceled`, `charge.refunded`.
//!
//! # Faults
//!
//! [`Config::latency`] delays every API call; [`Config::failure_rate`] answers that share of API
//! calls with 503 before any effect, for fault tests.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The key clients must send as `Authorization: Bearer …`.
    pub secret_key: String,
    /// Where events go (none: no webhooks).
    pub webhook_url: Option<String>,
    /// The key webhook signatures are made with.
    pub webhook_secret: String,
    /// Added to every API call.
    pub latency: Duration,
    /// The share (0 to 1) of API calls answered 503 before any effect.
    pub failure_rate: f64,
    /// How long a `tok_async` payment stays `processing`.
    pub async_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            secret_key: "sk_test_paysim".into(),
            webhook_url: None,
            webhook_secret: "whsec_paysim".into(),
            latency: Duration::ZERO,
            failure_rate: 0.0,
            async_delay: Duration::from_millis(200),
        }
    }
}

#[derive(Default)]
struct Store {
    intents: HashMap<String, Value>,
    /// Creation order, for lists.
    order: Vec<String>,
    /// Idempotency key → (request fingerprint, status, body).
    replies: HashMap<String, (String, u16, Value)>,
}

/// A running simulator's shared state.
#[derive(Clone)]
pub struct Paysim {
    config: Arc<Config>,
    store: Arc<Mutex<Store>>,
    http: reqwest_client::Client,
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn new_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..24).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    format!("{prefix}_{tail}")
}

fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> (StatusCode, Value) {
    (status, json!({"error": {"type": kind, "code": code, "message": message}}))
}

/// The `Paysim-Signature` header value for a body.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

impl Paysim {
    pub fn new(config: Config) -> Self {
        // rustls with ring is the TLS stack (webhook targets may be https); installing it again
        // is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest_client::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest_client::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Paysim { config: Arc::new(config), store: Arc::new(Mutex::new(Store::default())), http }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends an event about `object` to the webhook URL, retrying a few times, in the background.
    fn emit(&self, kind: &str, object: Value) {
        let Some(url) = self.config.webhook_url.clone() else { return };
        let event = json!({"id": new_id("evt"), "type": kind, "created": now(), "data": {"object": object}});
        let body = event.to_string();
        let (http, secret) = (self.http.clone(), self.config.webhook_secret.clone());
        tokio::spawn(async move {
            for backoff_ms in [100u64, 500, 2000, 5000] {
                let signed = signature(&secret, now(), body.as_bytes());
                let sent = http
                    .post(&url)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header("Paysim-Signature", signed)
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => return,
                    Ok(r) => tracing::warn!(status = %r.status(), "webhook refused; retrying"),
                    Err(e) => tracing::warn!(error = %e, "webhook failed; retrying"),
                }
                tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
            }
        });
    }

    fn save(&self, intent: &Value) {
        let id = intent["id"].as_str().unwrap_or_default().to_string();
        let mut store = self.store();
        if store.intents.insert(id.clone(), intent.clone()).is_none() {
            store.order.push(id);
        }
    }

    fn intent(&self, id: &str) -> Option<Value> {
        self.store().intents.get(id).cloned()
    }

    /// Changes an intent under the lock, so concurrent calls see each other's changes (no double
    /// capture or refund); `None` when there is no such intent.
    fn update<R>(&self, id: &str, change: impl FnOnce(&mut Value) -> R) -> Option<R> {
        self.store().intents.get_mut(id).map(change)
    }
}

/// The simulator's routes.
pub fn router(paysim: Paysim) -> Router {
    Router::new()
        .route("/v1/payment_intents", post(create_intent).get(list_intents))
        .route("/v1/payment_intents/{id}", get(get_intent))
        .route("/v1/payment_intents/{id}/capture", post(capture_intent))
        .route("/v1/payment_intents/{id}/cancel", post(cancel_intent))
        .route("/v1/refunds", post(create_refund))
        .with_state(paysim)
}

/// Serves the simulator on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, config: Config) -> std::io::Result<()> {
    axum::serve(listener, router(Paysim::new(config))).await
}

/// Auth, latency and injected failures, before any effect. `None`: go on.
async fn gate(paysim: &Paysim, headers: &HeaderMap) -> Option<(StatusCode, Value)> {
    if !paysim.config.latency.is_zero() {
        tokio::time::sleep(paysim.config.latency).await;
    }
    let key = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if key != Some(paysim.config.secret_key.as_str()) {
        return Some(error(StatusCode::UNAUTHORIZED, "invalid_request_error", "invalid_api_key", "invalid API key"));
    }
    if paysim.config.failure_rate > 0.0 && rand::rng().random_bool(paysim.config.failure_rate.clamp(0.0, 1.0)) {
        return Some(error(StatusCode::SERVICE_UNAVAILABLE, "api_error", "service_unavailable", "try again later"));
    }
    None
}

/// Runs a POST under its idempotency key: a replay answers the first response.
async fn idempotent<F, Fut>(paysim: &Paysim, headers: &HeaderMap, route: &str, body: Value, run: F) -> Response
where
    F: FnOnce(Value) -> Fut,
    Fut: Future<Output = (StatusCode, Value)>,
{
    if let Some(failed) = gate(paysim, headers).await {
        return (failed.0, Json(failed.1)).into_response();
    }
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    let fingerprint = format!("{route} {body}");
    if let Some(key) = &key {
        // Look up and claim the key under one lock, so two concurrent requests with it cannot
        // both run.
        let mut store = paysim.store();
        match store.replies.get(key).cloned() {
            Some((seen, _, _)) if seen != fingerprint => {
                let (status, body) = error(
                    StatusCode::BAD_REQUEST,
                    "idempotency_error",
                    "idempotency_key_in_use",
                    "this key was used with another request",
                );
                return (status, Json(body)).into_response();
            }
            Some((_, 0, _)) => {
                let (status, body) = error(
                    StatusCode::CONFLICT,
                    "idempotency_error",
                    "request_in_progress",
                    "a request with this key is running",
                );
                return (status, Json(body)).into_response();
            }
            Some((_, status, reply)) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                return (status, [("idempotent-replayed", "true")], Json(reply)).into_response();
            }
            None => {
                store.replies.insert(key.clone(), (fingerprint.clone(), 0, Value::Null));
            }
        }
    }
    let (status, reply) = run(body).await;
    if let Some(key) = key {
        let mut store = paysim.store();
        if status.is_server_error() {
            // Server errors are not remembered: the client may retry them.
            store.replies.remove(&key);
        } else {
            store.replies.insert(key, (fingerprint, status.as_u16(), reply.clone()));
        }
    }
    (status, Json(reply)).into_response()
}

#[derive(Debug, Deserialize)]
struct CreateIntent {
    amount: i64,
    currency: String,
    payment_method: String,
    #[serde(default)]
    capture_method: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

async fn create_intent(State(paysim): State<Paysim>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let p = paysim.clone();
    idempotent(&paysim, &headers, "create", body, |body| async move {
        let input: CreateIntent = match serde_json::from_value(body) {
            Ok(i) => i,
            Err(e) => {
                return error(StatusCode::BAD_REQUEST, "invalid_request_error", "parameter_invalid", &e.to_string());
            }
        };
        if input.amount <= 0 || input.currency.len() != 3 {
            return error(StatusCode::BAD_REQUEST, "invalid_request_error", "parameter_invalid", "amount or currency");
        }
        let manual = match input.capture_method.as_deref() {
            None | Some("automatic") => false,
            Some("manual") => true,
            Some(_) => {
                return error(StatusCode::BAD_REQUEST, "invalid_request_error", "parameter_invalid", "capture_method");
            }
        };
        let decline = |code: &str, decline_code: Option<&str>, message: &str| {
            (code.to_string(), decline_code.map(str::to_string), message.to_string())
        };
        let outcome = match input.payment_method.as_str() {
            "tok_visa" | "tok_mastercard" => Ok(false),
            "tok_async" => Ok(true),
            "tok_declined" => Err(decline("card_declined", Some("generic_decline"), "Your card was declined.")),
            "tok_insufficient_funds" => {
                Err(decline("card_declined", Some("insufficient_funds"), "Your card has insufficient funds."))
            }
            "tok_expired" => Err(decline("expired_card", None, "Your card has expired.")),
            "tok_error" => {
                return error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "processing_error", "an error occurred");
            }
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "resource_missing",
                    "no such payment method",
                );
            }
        };
        let mut intent = json!({
            "id": new_id("pi"),
            "object": "payment_intent",
            "amount": input.amount,
            "currency": input.currency.to_ascii_lowercase(),
            "capture_method": if manual { "manual" } else { "automatic" },
            "payment_method": input.payment_method,
            "metadata": input.metadata,
            "amount_capturable": 0,
            "amount_received": 0,
            "amount_refunded": 0,
            "last_payment_error": null,
            "created": now(),
        });
        match outcome {
            Err((code, decline_code, message)) => {
                intent["status"] = json!("requires_payment_method");
                let detail =
                    json!({"type": "card_error", "code": code, "decline_code": decline_code, "message": message});
                intent["last_payment_error"] = detail.clone();
                p.save(&intent);
                p.emit("payment_intent.payment_failed", intent.clone());
                let mut err = detail;
                err["payment_intent"] = intent;
                (StatusCode::PAYMENT_REQUIRED, json!({"error": err}))
            }
            Ok(true) => {
                intent["status"] = json!("processing");
                p.save(&intent);
                let (later, id, delay) =
                    (p.clone(), intent["id"].as_str().unwrap_or_default().to_string(), p.config.async_delay);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let settled = later.update(&id, |intent| {
                        (intent["status"] == "processing").then(|| (authorised(intent, manual), intent.clone()))
                    });
                    if let Some(Some((kind, intent))) = settled {
                        later.emit(kind, intent);
                    }
                });
                (StatusCode::OK, intent)
            }
            Ok(false) => {
                let settled = authorised(&mut intent, manual);
                p.save(&intent);
                p.emit(settled, intent.clone());
                (StatusCode::OK, intent)
            }
        }
    })
    .await
}

/// The answer to a change of an intent: 404 without it, 400 when its state refuses the
/// change, else what `done` makes of the result.
fn answer<T>(
    outcome: Option<Result<T, (&str, &str)>>,
    done: impl FnOnce(T) -> (StatusCode, Value),
) -> (StatusCode, Value) {
    match outcome {
        None => error(StatusCode::NOT_FOUND, "invalid_request_error", "resource_missing", "no such payment intent"),
        Some(Err((code, message))) => error(StatusCode::BAD_REQUEST, "invalid_request_error", code, message),
        Some(Ok(value)) => done(value),
    }
}

/// Marks a confirmed intent authorised (manual capture) or paid; returns the event type.
fn authorised(intent: &mut Value, manual: bool) -> &'static str {
    let amount = intent["amount"].clone();
    if manual {
        intent["status"] = json!("requires_capture");
        intent["amount_capturable"] = amount;
        "payment_intent.amount_capturable_updated"
    } else {
        intent["status"] = json!("succeeded");
        intent["amount_received"] = amount;
        "payment_intent.succeeded"
    }
}

async fn get_intent(State(paysim): State<Paysim>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some((status, body)) = gate(&paysim, &headers).await {
        return (status, Json(body)).into_response();
    }
    match paysim.intent(&id) {
        Some(intent) => Json(intent).into_response(),
        None => {
            let (status, body) =
                error(StatusCode::NOT_FOUND, "invalid_request_error", "resource_missing", "no such payment intent");
            (status, Json(body)).into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    metadata_key: Option<String>,
    metadata_value: Option<String>,
}

async fn list_intents(State(paysim): State<Paysim>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    if let Some((status, body)) = gate(&paysim, &headers).await {
        return (status, Json(body)).into_response();
    }
    let store = paysim.store();
    let data: Vec<Value> = store
        .order
        .iter()
        .rev()
        .filter_map(|id| store.intents.get(id))
        .filter(|i| match (&q.metadata_key, &q.metadata_value) {
            (Some(k), Some(v)) => i["metadata"][k] == *v,
            (Some(k), None) => !i["metadata"][k].is_null(),
            _ => true,
        })
        .cloned()
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

async fn capture_intent(
    State(paysim): State<Paysim>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let body = body.map_or(json!({}), |Json(b)| b);
    let p = paysim.clone();
    idempotent(&paysim, &headers, &format!("capture {id}"), body, |body| async move {
        let outcome = p.update(&id, |intent| {
            if intent["status"] != "requires_capture" {
                return Err(("payment_intent_unexpected_state", "not capturable"));
            }
            let capturable = intent["amount_capturable"].as_i64().unwrap_or(0);
            let amount = body["amount_to_capture"].as_i64().unwrap_or(capturable);
            if amount <= 0 || amount > capturable {
                return Err(("amount_too_large", "more than capturable"));
            }
            intent["status"] = json!("succeeded");
            intent["amount_received"] = json!(amount);
            intent["amount_capturable"] = json!(0);
            Ok(intent.clone())
        });
        answer(outcome, |intent| {
            p.emit("payment_intent.succeeded", intent.clone());
            (StatusCode::OK, intent)
        })
    })
    .await
}

async fn cancel_intent(
    State(paysim): State<Paysim>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let body = body.map_or(json!({}), |Json(b)| b);
    let p = paysim.clone();
    idempotent(&paysim, &headers, &format!("cancel {id}"), body, |_| async move {
        let outcome = p.update(&id, |intent| {
            let cancellable = ["requires_capture", "requires_payment_method", "processing"];
            if !cancellable.iter().any(|s| intent["status"] == *s) {
                return Err(("payment_intent_unexpected_state", "not cancellable"));
            }
            intent["status"] = json!("canceled");
            intent["amount_capturable"] = json!(0);
            Ok(intent.clone())
        });
        answer(outcome, |intent| {
            p.emit("payment_intent.canceled", intent.clone());
            (StatusCode::OK, intent)
        })
    })
    .await
}

async fn create_refund(State(paysim): State<Paysim>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let p = paysim.clone();
    idempotent(&paysim, &headers, "refund", body, |body| async move {
        let id = body["payment_intent"].as_str().unwrap_or_default().to_string();
        let outcome = p.update(&id, |intent| {
            if intent["status"] != "succeeded" {
                return Err(("charge_not_captured", "nothing captured"));
            }
            let refunded = intent["amount_refunded"].as_i64().unwrap_or(0);
            let left = intent["amount_received"].as_i64().unwrap_or(0) - refunded;
            let amount = body["amount"].as_i64().unwrap_or(left);
            if amount <= 0 || amount > left {
                return Err(("amount_too_large", "more than is left to refund"));
            }
            intent["amount_refunded"] = json!(refunded + amount);
            Ok((amount, intent.clone()))
        });
        answer(outcome, |(amount, intent)| {
            let refund = json!({"id": new_id("re"), "object": "refund", "payment_intent": id, "amount": amount,
                "currency": intent["currency"], "status": "succeeded", "created": now()});
            p.emit("charge.refunded", intent);
            (StatusCode::OK, refund)
        })
    })
    .await
}
