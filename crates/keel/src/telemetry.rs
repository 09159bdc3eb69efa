//! Logs, traces and metrics set-up. Logs go to stdout through `tracing` (text or JSON lines),
//! spans to an OpenTelemetry collector when `KEEL_OTLP_ENDPOINT` is set (see
//! [`keel_platform::trace`]); metrics are recorded through the `metrics` facade into a
//! Prometheus recorder that `/metrics` renders.

use crate::config::Config;
use keel_platform::trace::{Telemetry, TraceConfig};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Installs the global log and trace subscriber (once; later calls install nothing). Call it
/// inside the Tokio runtime; shut the result down before exiting to flush the last spans.
pub fn install(config: &Config) -> Telemetry {
    let tracing = TraceConfig {
        otlp_endpoint: config.otlp_endpoint.clone(),
        service_name: config.service_name.clone(),
        filter: config.trace_filter.clone(),
    };
    Telemetry::install(&config.log, config.log_format, &tracing)
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed; then this handle renders nothing new.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
