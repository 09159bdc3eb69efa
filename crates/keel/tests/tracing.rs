//! Traces leave Keel over OTLP/HTTP and read back as one tree: a checkout whose request carries a
//! W3C `traceparent` is exported as the HTTP span, the checkout service, its SQL statements, the
//! payment call, the outbox relay's publish and the jobs it caused — all in the caller's trace.
//! The collector here is a real OTLP/HTTP endpoint decoding the protobuf the exporter sends. The
//! trace leaves Keel too: the payment provider and the webhook receiver get a `traceparent` naming
//! the client span that called them.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::routing::post;
use common::process::{Lines, Reaped, api_key, keel};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One exported span, as the collector decoded it.
#[derive(Debug, Clone)]
struct Received {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    service: String,
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<tokio::sync::Notify>,
}

async fn export(State(collector): State<Collector>, body: Bytes) -> axum::http::StatusCode {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return axum::http::StatusCode::BAD_REQUEST;
    };
    let mut spans = collector.spans.lock().unwrap();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| a.value.as_ref())
            .map(|v| format!("{:?}", v.value))
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                spans.push(Received {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    name: span.name,
                    service: service.clone(),
                });
            }
        }
    }
    collector.arrived.notify_waiters();
    axum::http::StatusCode::OK
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A request's path and the `traceparent` it carried.
type Call = (String, Option<String>);

/// Every request a server received.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<Call>>>);

impl Calls {
    async fn record(State(calls): State<Calls>, request: Request, next: Next) -> axum::response::Response {
        let traceparent = request.headers().get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_string);
        calls.0.lock().unwrap().push((request.uri().path().to_string(), traceparent));
        next.run(request).await
    }

    /// Serves `app` on a free loopback port, recording each request; its base URL.
    async fn serve(&self, app: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = app.layer(axum::middleware::from_fn_with_state(self.clone(), Calls::record));
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// The `traceparent`s received on `path`.
    fn on(&self, path: &str) -> Vec<Option<String>> {
        self.0.lock().unwrap().iter().filter(|(p, _)| p == path).map(|(_, t)| t.clone()).collect()
    }
}

impl Collector {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().route("/v1/traces", post(export)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// The spans of `trace` once `done` holds for them (or a panic after 60 s).
    async fn wait(&self, trace: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let arrived = self.arrived.notified();
            let spans: Vec<Received> =
                self.spans.lock().unwrap().iter().filter(|s| s.trace_id == trace).cloned().collect();
            if done(&spans) {
                return spans;
            }
            let left = until.checked_duration_since(Instant::now());
            let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
            assert!(left.is_some(), "the trace never completed; it has {names:?}");
            let _ = tokio::time::timeout(left.unwrap_or_default(), arrived).await;
        }
    }
}

async fn call(client: &reqwest::Client, method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    assert!(response.status().is_success(), "{url}: {}", response.status());
    response.json().await.unwrap()
}

/// Builds a cart with requests outside any trace, then checks it out in the caller's trace (its
/// `traceparent` is `00-{trace}-{caller_span}-{flags}`).
async fn check_out(client: &reqwest::Client, base: &str, trace: &str, caller_span: &str, flags: &str) {
    let products = call(client, reqwest::Method::GET, &format!("{base}/v1/store/products?limit=1"), None).await;
    let variant = products["data"][0]["variants"][0]["id"].as_str().unwrap().to_string();
    let cart = call(client, reqwest::Method::POST, &format!("{base}/v1/store/carts"), Some(json!({"currency": "USD"})))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let carts = format!("{base}/v1/store/carts/{cart}");
    let line = json!({"variant_id": variant, "quantity": 1});
    call(client, reqwest::Method::POST, &format!("{carts}/line-items"), Some(line)).await;
    let details = json!({"email": "traced@example.com",
        "shipping_address": {"line1": "1 Main St", "city": "Springfield", "province": "IL", "country_code": "US"}});
    call(client, reqwest::Method::PATCH, &carts, Some(details)).await;
    let options = call(client, reqwest::Method::GET, &format!("{carts}/shipping-options"), None).await;
    let option = options["data"][0]["id"].clone();
    call(client, reqwest::Method::POST, &format!("{carts}/shipping-method"), Some(json!({"option_id": option}))).await;
    let answer = client
        .post(format!("{carts}/checkout"))
        .header("traceparent", format!("00-{trace}-{caller_span}-{flags}"))
        .header("Idempotency-Key", format!("traced-{trace}"))
        .json(&json!({"payment": {"provider": "paysim", "token": "tok_visa"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
}

/// Whether a JSON log line with `message` names `trace`.
fn logged_in_trace(lines: &[String], message: &str, trace: &str) -> bool {
    lines.iter().any(|l| {
        let line: Value = serde_json::from_str(l).unwrap_or(Value::Null);
        line["message"] == message && l.contains(&format!("\"trace_id\":\"{trace}\""))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_is_one_trace_from_the_request_to_its_jobs() {
    keel_platform::http::install_crypto();
    let collector = Collector::default();
    let endpoint = collector.start().await;
    // The payment provider and a webhook receiver, both noting the trace each call carries.
    let paysim = Calls::default();
    let paysim_url = paysim.serve(paysim::router(paysim::Paysim::new(paysim::Config::default()))).await;
    let receiver = Calls::default();
    let receiver_url = receiver.serve(axum::Router::new().route("/hook", post(|| async { "ok" }))).await;

    let dir = tempfile::tempdir().unwrap();
    // An API key made from the CLI, to subscribe the receiver to placed orders.
    let key = api_key(dir.path(), "webhooks:write");
    let mut node = Reaped(
        keel()
            .current_dir(dir.path())
            .env("KEEL_ADDR", "127.0.0.1:0")
            .env("KEEL_PAYSIM_URL", &paysim_url)
            .env("KEEL_WEBHOOKS_ALLOW_PRIVATE", "true")
            .env("KEEL_OTLP_ENDPOINT", &endpoint)
            .env("KEEL_SERVICE_NAME", "keel-under-test")
            .env("KEEL_LOG_FORMAT", "json")
            .env("KEEL_LOG", "info,tower_http=debug,keel_worker=debug")
            // Export batches every 100 ms rather than every 5 s.
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let logs = Lines::of(node.0.stdout.take().unwrap());
    let mut output = Lines::of(node.0.stderr.take().unwrap());
    let base = format!("http://127.0.0.1:{}", output.serving_port());

    let client = reqwest::Client::new();
    let hook = json!({"url": format!("{receiver_url}/hook"), "events": ["order.placed"]});
    let subscribed =
        client.post(format!("{base}/v1/admin/webhooks")).bearer_auth(&key).json(&hook).send().await.unwrap();
    assert_eq!(subscribed.status(), 201, "{}", subscribed.text().await.unwrap());

    // The checkout, as part of a trace the caller started.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    check_out(&client, &base, trace, caller_span, "01").await;

    let has = |spans: &[Received], prefix: &str| spans.iter().any(|s| s.name.starts_with(prefix));
    let spans = collector
        .wait(trace, |spans| {
            [
                "POST /v1/store/carts/{id}/checkout",
                "checkout.checkout",
                "paysim POST",
                "publish order.",
                "job mail.send",
                "job webhooks.deliver",
            ]
            .iter()
            .all(|name| has(spans, name))
        })
        .await;

    // One tree: every span's parent is in the trace, and its root is the caller's span.
    let by_id: HashMap<&str, &Received> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let chain = |span: &Received| {
        let mut names = vec![span.name.clone()];
        let mut parent = span.parent.as_str();
        while let Some(p) = by_id.get(parent) {
            names.push(p.name.clone());
            parent = p.parent.as_str();
        }
        assert_eq!(parent, caller_span, "{} does not lead back to the caller: {names:?}", span.name);
        names
    };
    let find = |prefix: &str| spans.iter().find(|s| s.name.starts_with(prefix)).unwrap();
    let http = find("POST /v1/store/carts/{id}/checkout");
    assert_eq!(http.parent, caller_span);
    assert!(spans.iter().all(|s| s.service.contains("keel-under-test")), "service.name on every span");
    let service = find("checkout.checkout");
    assert_eq!(service.parent, http.span_id, "the service runs in the request");
    let payment = chain(find("paysim POST"));
    assert!(payment.contains(&"checkout.checkout".to_string()), "the payment call is made by the service: {payment:?}");
    let sql: Vec<_> = spans.iter().filter(|s| ["SELECT", "INSERT", "UPDATE"].contains(&s.name.as_str())).collect();
    assert!(
        sql.iter().any(|s| chain(s).contains(&"checkout.checkout".to_string())),
        "SQL statements under the service"
    );
    let publish = chain(find("publish order."));
    assert!(publish.contains(&"checkout.checkout".to_string()), "the event was written by the checkout: {publish:?}");
    let job = chain(find("job mail.send"));
    assert!(job.contains(&"checkout.checkout".to_string()), "the job was enqueued by the checkout: {job:?}");
    for span in &spans {
        chain(span);
    }

    // The called services were told the trace: each saw a `traceparent` naming this trace and the
    // client span that made the call.
    let outgoing = |calls: Vec<Option<String>>, span: &str| {
        let client = spans.iter().filter(|s| s.name == span).map(|s| format!("00-{trace}-{}-01", s.span_id));
        let client: Vec<String> = client.collect();
        let traced: Vec<&String> = calls.iter().flatten().filter(|t| client.contains(t)).collect();
        assert!(!traced.is_empty(), "no call named a {span} span of the trace: {calls:?}, spans {client:?}");
    };
    outgoing(paysim.on("/v1/payment_intents"), "paysim POST");
    let delivered = chain(find("job webhooks.deliver"));
    assert!(
        delivered.contains(&"checkout.checkout".to_string()),
        "the delivery was caused by the checkout: {delivered:?}"
    );
    outgoing(receiver.on("/hook"), "POST");

    // The log lines written inside the request and inside the job name the trace.
    drop(node);
    let lines = logs.rest();
    assert!(logged_in_trace(&lines, "started processing request", trace), "the request's log line names the trace");
    assert!(logged_in_trace(&lines, "job completed", trace), "the job's log line names the trace");
    drop(output);
}

/// With no collector, the log lines still tie a request to the jobs it caused: the caller's trace
/// id rides on the jobs as it does when spans are exported, and on to the payment provider with
/// the caller's sampling decision (here: not sampled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_export_a_request_and_its_jobs_log_one_trace_id() {
    keel_platform::http::install_crypto();
    let paysim = Calls::default();
    let paysim_url = paysim.serve(paysim::router(paysim::Paysim::new(paysim::Config::default()))).await;
    let dir = tempfile::tempdir().unwrap();
    let mut node = Reaped(
        keel()
            .current_dir(dir.path())
            .env("KEEL_ADDR", "127.0.0.1:0")
            .env("KEEL_PAYSIM_URL", &paysim_url)
            .env("KEEL_LOG_FORMAT", "json")
            .env("KEEL_LOG", "info,tower_http=debug,keel_worker=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut logs = Lines::of(node.0.stdout.take().unwrap());
    let mut output = Lines::of(node.0.stderr.take().unwrap());
    let base = format!("http://127.0.0.1:{}", output.serving_port());
    let trace = "0af7651916cd43dd8448eb211c80319c";
    check_out(&reqwest::Client::new(), &base, trace, "b7ad6b7169203331", "00").await;
    let told = paysim.on("/v1/payment_intents");
    assert!(
        told.iter().flatten().any(|t| t.starts_with(&format!("00-{trace}-")) && t.ends_with("-00")),
        "the payment call carries the caller's trace and decision: {told:?}"
    );
    let job_logged = |line: &str| logged_in_trace(&[line.to_string()], "job completed", trace);
    assert!(logs.wait_until(job_logged, Duration::from_secs(60)), "no job logged the caller's trace");
    assert!(logged_in_trace(&logs.seen, "started processing request", trace), "the request's log line names the trace");
    drop(node);
    drop(output);
}
