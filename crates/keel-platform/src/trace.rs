//! Distributed tracing: OpenTelemetry spans exported over OTLP/HTTP (protobuf), and W3C trace
//! context (`traceparent`) carried in and out — across HTTP requests, payment calls, webhooks,
//! the outbox and the job queue — so that a checkout is one trace from the request to the last
//! job it caused.
//!
//! Spans are ordinary `tracing` spans. With an OTLP endpoint configured, [`Telemetry::install`]
//! adds a layer that turns them into OpenTelemetry spans; without one nothing is exported and no
//! span data is built beyond what the log lines need. Either way every request and job span
//! carries a `trace_id` field, so every log line written inside it names its trace: the
//! OpenTelemetry trace id when tracing is on, else the caller's (from `traceparent`) or a new one.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry};

/// The W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";

/// Whether spans are exported (an OpenTelemetry layer is installed in this process).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// How spans leave the process.
#[derive(Debug, Clone)]
pub struct TraceConfig {
    /// The collector's OTLP/HTTP base URL (`http://collector:4318`) or its full traces URL
    /// (ending in `/v1/traces`). `None`: no export.
    pub otlp_endpoint: Option<String>,
    /// `service.name` on every span.
    pub service_name: String,
    /// Which spans are exported, as an `EnvFilter` directive (`info,keel_store=debug` exports the
    /// SQL spans too).
    pub filter: String,
}

/// Log output formats: human-readable lines, or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The installed telemetry; [`Telemetry::shutdown`] flushes spans not yet exported.
pub struct Telemetry {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the process-wide subscriber: log lines to stdout (filtered by `log_filter`) and,
    /// with an endpoint, span export. Must run inside a Tokio runtime when exporting (the
    /// exporter sends on it). A second call installs nothing (tests start several apps).
    pub fn install(log_filter: &str, format: LogFormat, trace: &TraceConfig) -> Telemetry {
        let filter = EnvFilter::try_new(log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
        let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stdout);
        let fmt: Box<dyn Layer<Registry> + Send + Sync> = match format {
            LogFormat::Json => fmt.json().flatten_event(true).with_current_span(true).with_filter(filter).boxed(),
            LogFormat::Text => fmt.with_filter(filter).boxed(),
        };
        let (otel, provider) = match otlp_layer(trace) {
            Ok(Some((layer, provider))) => (Some(layer), Some(provider)),
            Ok(None) => (None, None),
            Err(err) => {
                eprintln!("OTLP trace export disabled: {err}");
                (None, None)
            }
        };
        let exporting = otel.is_some();
        let layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = std::iter::once(fmt).chain(otel).collect();
        if tracing_subscriber::registry().with(layers).try_init().is_err() {
            return Telemetry { provider: None };
        }
        if exporting {
            opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
            EXPORTING.store(true, Ordering::Relaxed);
        }
        Telemetry { provider }
    }

    /// Exports what is still buffered (waits up to 5 s).
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let _ = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(Duration::from_secs(5))).await;
        }
    }
}

type OtelLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn otlp_layer(trace: &TraceConfig) -> Result<Option<(OtelLayer, opentelemetry_sdk::trace::SdkTracerProvider)>, String> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    let Some(endpoint) = &trace.otlp_endpoint else { return Ok(None) };
    let endpoint = traces_url(endpoint)?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| "no Tokio runtime".to_string())?;
    crate::http::install_crypto();
    let client = reqwest_client::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("OTLP client: {e}"))?;
    let client = ExportClient { client, runtime };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(trace.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let filter = EnvFilter::try_new(&trace.filter).map_err(|e| format!("KEEL_TRACE_FILTER: {e}"))?;
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("keel"))
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_filter(filter)
        .boxed();
    Ok(Some((layer, provider)))
}

/// `http://host:4318` → `http://host:4318/v1/traces`; a URL already naming the path is kept.
pub fn traces_url(endpoint: &str) -> Result<String, String> {
    let url = url::Url::parse(endpoint).map_err(|e| format!("KEEL_OTLP_ENDPOINT {endpoint:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("KEEL_OTLP_ENDPOINT {endpoint:?}: not an http(s) URL"));
    }
    Ok(if url.path().ends_with("/v1/traces") {
        endpoint.to_string()
    } else {
        format!("{}/v1/traces", endpoint.trim_end_matches('/'))
    })
}

/// The exporter's HTTP client: the workspace's reqwest, driven on the application's runtime (the
/// batch exporter calls from its own thread, outside any runtime).
#[derive(Debug)]
struct ExportClient {
    client: reqwest_client::Client,
    runtime: tokio::runtime::Handle,
}

type ExportFuture<'a> = Pin<
    Box<
        dyn Future<
                Output = Result<opentelemetry_http::Response<opentelemetry_http::Bytes>, opentelemetry_http::HttpError>,
            > + Send
            + 'a,
    >,
>;

impl opentelemetry_http::HttpClient for ExportClient {
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> ExportFuture<'async_trait>
    where
        Self: 'async_trait,
        'life0: 'async_trait,
    {
        let client = self.client.clone();
        let task = self.runtime.spawn(async move {
            let request = reqwest_client::Request::try_from(request)?;
            let response = client.execute(request).await?;
            let mut answer = opentelemetry_http::Response::builder().status(response.status().as_u16());
            for (name, value) in response.headers() {
                answer = answer.header(name.as_str(), value.as_bytes());
            }
            let body = response.bytes().await?;
            Ok::<_, opentelemetry_http::HttpError>(answer.body(body)?)
        });
        Box::pin(async move { task.await? })
    }
}

/// Whether spans are exported: fields only a trace needs (span names, routes, status codes)
/// need not be recorded otherwise, which keeps the request path's log spans cheap.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The `traceparent` of the current span, to carry the trace into a job, an event or an
/// outgoing request. Without export it names the trace the enclosing request or job span kept
/// (its id and the caller's sampling flags, with a fresh span id), so its log lines and those of
/// what it causes share the id; `None` outside such a span.
pub fn current() -> Option<String> {
    if !EXPORTING.load(Ordering::Relaxed) {
        return kept_traceparent();
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&Span::current().context(), &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Headers that carry the current trace to the service being called (empty when not exporting).
pub fn outgoing_headers() -> Vec<(&'static str, String)> {
    current().map(|value| vec![(TRACEPARENT, value)]).unwrap_or_default()
}

/// Sends an outgoing request inside `span` (a client span, which should declare an empty
/// `http.response.status_code` field): the current trace goes with it as `traceparent`, and the
/// answer's status is recorded on the span.
pub async fn send(
    request: reqwest_client::RequestBuilder,
    span: Span,
) -> Result<reqwest_client::Response, reqwest_client::Error> {
    use tracing::Instrument;
    async move {
        let mut request = request;
        for (name, value) in outgoing_headers() {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        Span::current().record("http.response.status_code", response.status().as_u16());
        Ok(response)
    }
    .instrument(span)
    .await
}

/// Makes `span` (a root: a request, a job, a relayed event) a child of the remote span named by
/// `traceparent`, and records its `trace_id` field: the trace it belongs to. Without export the
/// trace id is the caller's, or a new random one.
pub fn continue_trace(span: &Span, traceparent: Option<&str>) {
    let trace_id = if EXPORTING.load(Ordering::Relaxed) {
        if let Some(value) = traceparent {
            let carrier = HashMap::from([(TRACEPARENT.to_string(), value.to_string())]);
            let parent = TraceContextPropagator::new().extract(&carrier);
            if parent.span().span_context().is_valid() {
                let _ = span.set_parent(parent);
            }
        }
        let id = span.context().span().span_context().trace_id();
        if id == opentelemetry::trace::TraceId::INVALID {
            // The span is not exported (filtered out): still name the caller's trace.
            traceparent.and_then(trace_id_of).map_or_else(new_trace_id, str::to_string)
        } else {
            id.to_string()
        }
    } else {
        // The caller's trace and sampling decision, kept to go on with whatever this span causes.
        let caller = traceparent.filter(|t| trace_id_of(t).is_some());
        let trace_id = caller.and_then(trace_id_of).map_or_else(new_trace_id, str::to_string);
        let flags = caller.and_then(|t| t.rsplit('-').next()).unwrap_or("01").to_string();
        keep_trace(span, KeptTrace { trace_id: trace_id.clone(), flags });
        trace_id
    };
    span.record("trace_id", trace_id.as_str());
}

/// The trace a request, job or relayed-event span belongs to, kept in the span's extensions when
/// spans are not exported: its id and the caller's sampling flags, for [`current`].
struct KeptTrace {
    trace_id: String,
    flags: String,
}

/// Keeps `trace` on `span` (nothing when no layer enabled the span).
fn keep_trace(span: &Span, trace: KeptTrace) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(span) = dispatch.downcast_ref::<Registry>().and_then(|r| r.span(id)) {
            span.extensions_mut().replace(trace);
        }
    });
}

/// The `traceparent` for the trace kept by the current span or the nearest enclosing one that
/// has one, with a fresh span id.
fn kept_traceparent() -> Option<String> {
    Span::current().with_subscriber(|(id, dispatch)| {
        let span = dispatch.downcast_ref::<Registry>()?.span(id)?;
        span.scope().find_map(|s| {
            let extensions = s.extensions();
            let kept = extensions.get::<KeptTrace>()?;
            Some(format!("00-{}-{:016x}-{}", kept.trace_id, rand::random::<u64>().max(1), kept.flags))
        })
    })?
}

/// The trace id of a well-formed `traceparent` (`00-{32 hex}-{16 hex}-{2 hex}`, not all zeros).
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex =
        |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let ok = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && span.bytes().any(|b| b != b'0');
    ok.then_some(trace)
}

fn new_trace_id() -> String {
    format!("{:032x}", rand::random::<u128>().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_is_read_only_when_well_formed() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id_of(good), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn new_trace_ids_are_distinct_hex() {
        let a = new_trace_id();
        let b = new_trace_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(trace_id_of(&format!("00-{a}-00f067aa0ba902b7-01")).is_some());
    }

    #[test]
    fn the_traces_path_is_added_once() {
        assert_eq!(traces_url("http://c:4318").unwrap(), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/").unwrap(), "http://c:4318/v1/traces");
        assert_eq!(traces_url("https://c/otlp/v1/traces").unwrap(), "https://c/otlp/v1/traces");
        assert!(traces_url("c:4318").is_err());
    }
}
