//! Payment providers: the [`PaymentProvider`] trait checkout and orders talk to, the `paysim`
//! adapter (a real HTTP client of the payment-intents API that `paysim` simulates locally), and
//! `manual` (pay on invoice or on delivery: no external call).
//!
//! Every call that changes money carries an idempotency key derived from Keel's own ids (the
//! checkout, the refund), so a retry after a timeout never charges or refunds twice.

use crate::providers::BoxFuture;
use keel_domain::Currency;
use serde_json::{Value, json};
use std::time::Duration;

/// What checkout asks a provider to authorise.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub amount: i64,
    pub currency: Currency,
    /// The shopper's payment method from the front end (a card token).
    pub token: Option<String>,
    /// Keel's checkout id: the provider's idempotency key and a metadata field, so a payment can
    /// be found again after a crash.
    pub checkout_id: String,
    pub cart_id: String,
}

/// The outcome of an authorisation that got an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// The money is held; `reference` is the provider's id for it.
    Held { reference: String },
    /// The provider refused: `code` is its reason (`insufficient_funds`, `expired_card`, …).
    Declined { code: String, message: String },
}

/// A payment as the provider knows it (for recovery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPayment {
    pub reference: String,
    /// `held` (authorised, not captured), `captured`, `voided`, `failed`, `pending`.
    pub status: String,
    pub amount: i64,
}

/// What a provider's webhook says happened to a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookChange {
    /// The money was captured (at the provider, e.g. from its dashboard).
    Captured { amount: i64 },
    /// The authorisation was released.
    Voided,
    /// Anything Keel does not act on (it is acknowledged all the same).
    Other,
}

/// A verified webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The provider's event id (a redelivery carries the same one).
    pub id: String,
    pub kind: String,
    /// The payment it is about (the provider's reference).
    pub reference: String,
    pub change: WebhookChange,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PaymentError {
    /// No answer, a timeout or a server error: the outcome is unknown; retry or look it up.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request itself (a bug or a state conflict).
    #[error("payment provider refused the request: {0}")]
    Refused(String),
}

pub trait PaymentProvider: Send + Sync {
    /// The name shoppers choose (`{"payment": {"provider": …}}`).
    fn id(&self) -> &str;
    fn authorize<'a>(&'a self, request: &'a AuthorizeRequest) -> BoxFuture<'a, Result<Authorization, PaymentError>>;
    /// Captures what is held (`amount`: part of it; the rest is released).
    fn capture<'a>(&'a self, reference: &'a str, amount: Option<i64>) -> BoxFuture<'a, Result<(), PaymentError>>;
    /// Releases what is held.
    fn void<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<(), PaymentError>>;
    /// Refunds part of what was captured; `key` makes a retry harmless. Returns the refund's id.
    fn refund<'a>(
        &'a self,
        reference: &'a str,
        amount: i64,
        key: &'a str,
    ) -> BoxFuture<'a, Result<String, PaymentError>>;
    /// The payments made for a checkout, to settle after a crash.
    fn find_by_checkout<'a>(
        &'a self,
        checkout_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ProviderPayment>, PaymentError>>;
    /// The header its webhooks carry their signature in.
    fn signature_header(&self) -> &'static str {
        "webhook-signature"
    }
    /// Checks a webhook's signature (the provider's header value) and reads the event. A
    /// provider without webhooks refuses every one.
    fn verify_webhook(&self, signature: Option<&str>, body: &[u8]) -> Result<WebhookEvent, PaymentError> {
        let _ = (signature, body);
        Err(PaymentError::Refused(format!("{} sends no webhooks", self.id())))
    }
}

/// Pay on invoice or on delivery: always "held", nothing to call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Manual;

impl PaymentProvider for Manual {
    fn id(&self) -> &str {
        "manual"
    }

    fn authorize<'a>(&'a self, request: &'a AuthorizeRequest) -> BoxFuture<'a, Result<Authorization, PaymentError>> {
        Box::pin(async move { Ok(Authorization::Held { reference: format!("manual_{}", request.checkout_id) }) })
    }

    fn capture<'a>(&'a self, _: &'a str, _: Option<i64>) -> BoxFuture<'a, Result<(), PaymentError>> {
        Box::pin(async { Ok(()) })
    }

    fn void<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), PaymentError>> {
        Box::pin(async { Ok(()) })
    }

    fn refund<'a>(&'a self, _: &'a str, _: i64, key: &'a str) -> BoxFuture<'a, Result<String, PaymentError>> {
        Box::pin(async move { Ok(format!("manual_refund_{key}")) })
    }

    fn find_by_checkout<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<ProviderPayment>, PaymentError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// The `paysim` adapter: payment intents over HTTP, authorised with manual capture.
#[derive(Clone)]
pub struct Paysim {
    base: String,
    secret_key: String,
    webhook_secret: String,
    http: reqwest_client::Client,
}

/// How old a webhook's timestamp may be (replays of older ones are refused).
const WEBHOOK_TOLERANCE_SECS: i64 = 300;

impl Paysim {
    /// Webhooks must be signed with `webhook_secret` (default `whsec_paysim`, the simulator's).
    pub fn with_webhook_secret(mut self, webhook_secret: &str) -> Self {
        self.webhook_secret = webhook_secret.to_string();
        self
    }

    pub fn new(base_url: &str, secret_key: &str) -> Self {
        keel_platform::http::install_crypto();
        let http = reqwest_client::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest_client::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Paysim {
            base: base_url.trim_end_matches('/').to_string(),
            secret_key: secret_key.to_string(),
            webhook_secret: "whsec_paysim".into(),
            http,
        }
    }

    /// One API call: the status and the JSON body. Transport failures and 5xx are `Unavailable`.
    async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value), PaymentError> {
        let url = format!("{}{path}", self.base);
        let mut req = if method == "GET" { self.http.get(url) } else { self.http.post(url) };
        req = req.bearer_auth(&self.secret_key);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            req = req.header("Content-Type", "application/json").body(body.to_string());
        }
        let span = tracing::info_span!(
            "payment.call",
            otel.name = %format!("paysim {method}"),
            otel.kind = "client",
            http.request.method = method,
            url.path = path,
            http.response.status_code = tracing::field::Empty,
        );
        let res = keel_platform::trace::send(req, span).await.map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await.map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status >= 500 {
            return Err(PaymentError::Unavailable(format!("{status}: {}", body["error"]["message"])));
        }
        Ok((status, body))
    }

    fn refused(body: &Value) -> PaymentError {
        PaymentError::Refused(format!("{}: {}", body["error"]["code"], body["error"]["message"]))
    }
}

fn status_of(intent: &Value) -> &'static str {
    match intent["status"].as_str() {
        Some("requires_capture") => "held",
        Some("succeeded") => "captured",
        Some("canceled") => "voided",
        Some("processing") => "pending",
        _ => "failed",
    }
}

impl PaymentProvider for Paysim {
    fn id(&self) -> &str {
        "paysim"
    }

    fn authorize<'a>(&'a self, r: &'a AuthorizeRequest) -> BoxFuture<'a, Result<Authorization, PaymentError>> {
        Box::pin(async move {
            let body = json!({
                "amount": r.amount,
                "currency": r.currency.code().to_ascii_lowercase(),
                "payment_method": r.token.clone().unwrap_or_default(),
                "capture_method": "manual",
                "metadata": {"checkout_id": r.checkout_id, "cart_id": r.cart_id},
            });
            let (status, body) = self.call("POST", "/v1/payment_intents", Some(&r.checkout_id), Some(body)).await?;
            match status {
                200 if body["status"] == "requires_capture" || body["status"] == "processing" => {
                    Ok(Authorization::Held { reference: body["id"].as_str().unwrap_or_default().to_string() })
                }
                402 => Ok(Authorization::Declined {
                    code: body["error"]["decline_code"]
                        .as_str()
                        .or(body["error"]["code"].as_str())
                        .unwrap_or("declined")
                        .to_string(),
                    message: body["error"]["message"].as_str().unwrap_or("the payment was declined").to_string(),
                }),
                // An unknown test token, say: the shopper's payment method is unusable.
                400 => Ok(Authorization::Declined {
                    code: body["error"]["code"].as_str().unwrap_or("invalid").to_string(),
                    message: body["error"]["message"].as_str().unwrap_or("the payment method was refused").to_string(),
                }),
                _ => Err(Self::refused(&body)),
            }
        })
    }

    fn capture<'a>(&'a self, reference: &'a str, amount: Option<i64>) -> BoxFuture<'a, Result<(), PaymentError>> {
        Box::pin(async move {
            let body = amount.map_or(json!({}), |a| json!({"amount_to_capture": a}));
            let key = format!("capture-{reference}");
            let (status, body) =
                self.call("POST", &format!("/v1/payment_intents/{reference}/capture"), Some(&key), Some(body)).await?;
            if status == 200 { Ok(()) } else { Err(Self::refused(&body)) }
        })
    }

    fn void<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<(), PaymentError>> {
        Box::pin(async move {
            let key = format!("void-{reference}");
            let (status, body) = self
                .call("POST", &format!("/v1/payment_intents/{reference}/cancel"), Some(&key), Some(json!({})))
                .await?;
            if status == 200 { Ok(()) } else { Err(Self::refused(&body)) }
        })
    }

    fn refund<'a>(
        &'a self,
        reference: &'a str,
        amount: i64,
        key: &'a str,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        Box::pin(async move {
            let body = json!({"payment_intent": reference, "amount": amount});
            let (status, body) = self.call("POST", "/v1/refunds", Some(key), Some(body)).await?;
            if status == 200 {
                Ok(body["id"].as_str().unwrap_or_default().to_string())
            } else {
                Err(Self::refused(&body))
            }
        })
    }

    fn signature_header(&self) -> &'static str {
        "paysim-signature"
    }

    fn verify_webhook(&self, signature: Option<&str>, body: &[u8]) -> Result<WebhookEvent, PaymentError> {
        use hmac::Mac;
        let refused = |why: &str| PaymentError::Refused(format!("webhook refused: {why}"));
        let header = signature.ok_or_else(|| refused("no Paysim-Signature header"))?;
        let mut timestamp = None;
        let mut given = None;
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
                Some(("v1", v)) => given = Some(v.to_string()),
                _ => {}
            }
        }
        let (timestamp, given) = timestamp.zip(given).ok_or_else(|| refused("malformed signature"))?;
        if (chrono::Utc::now().timestamp() - timestamp).abs() > WEBHOOK_TOLERANCE_SECS {
            return Err(refused("timestamp outside the tolerance"));
        }
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.webhook_secret.as_bytes())
            .map_err(|_| refused("bad secret"))?;
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        if !crate::identity::constant_time_eq(&expected, &given) {
            return Err(refused("signature mismatch"));
        }
        let event: Value = serde_json::from_slice(body).map_err(|_| refused("not JSON"))?;
        let object = &event["data"]["object"];
        let kind = event["type"].as_str().unwrap_or_default().to_string();
        let change = match kind.as_str() {
            "payment_intent.succeeded" => {
                WebhookChange::Captured { amount: object["amount_received"].as_i64().unwrap_or(0) }
            }
            "payment_intent.canceled" => WebhookChange::Voided,
            _ => WebhookChange::Other,
        };
        Ok(WebhookEvent {
            id: event["id"].as_str().ok_or_else(|| refused("no event id"))?.to_string(),
            kind,
            reference: object["id"].as_str().unwrap_or_default().to_string(),
            change,
        })
    }

    fn find_by_checkout<'a>(
        &'a self,
        checkout_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ProviderPayment>, PaymentError>> {
        Box::pin(async move {
            let path = format!("/v1/payment_intents?metadata_key=checkout_id&metadata_value={checkout_id}");
            let (status, body) = self.call("GET", &path, None, None).await?;
            if status != 200 {
                return Err(Self::refused(&body));
            }
            Ok(body["data"]
                .as_array()
                .map(|all| {
                    all.iter()
                        .map(|i| ProviderPayment {
                            reference: i["id"].as_str().unwrap_or_default().to_string(),
                            status: status_of(i).to_string(),
                            amount: i["amount"].as_i64().unwrap_or(0),
                        })
                        .collect()
                })
                .unwrap_or_default())
        })
    }
}
