//! The real `keel` binary, as a person runs it: zero-config start with the demo catalog, API
//! keys from the CLI, clear configuration errors, and a clean exit on SIGTERM.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::process::{Lines, Reaped, free_port, keel};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod reqwest {
    pub use ::reqwest::*;
    /// A tiny blocking facade over the async client, for these process-level tests.
    pub fn blocking_client() -> Blocking {
        keel_platform::http::install_crypto();
        Blocking {
            rt: tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
            client: Client::new(),
        }
    }
    pub struct Blocking {
        rt: tokio::runtime::Runtime,
        client: Client,
    }
    pub struct Get<'a>(&'a Blocking, String, Option<String>);
    impl Blocking {
        pub fn get(&self, url: &str) -> Get<'_> {
            Get(self, url.to_string(), None)
        }
    }
    impl Get<'_> {
        pub fn bearer(mut self, token: &str) -> Self {
            self.2 = Some(token.to_string());
            self
        }
        pub fn send(self) -> Result<(StatusCode, String)> {
            self.0.rt.block_on(async {
                let mut req = self.0.client.get(&self.1).timeout(std::time::Duration::from_secs(5));
                if let Some(t) = &self.2 {
                    req = req.bearer_auth(t);
                }
                let r = req.send().await?;
                let status = r.status();
                Ok((status, r.text().await?))
            })
        }
    }
}

#[test]
fn starts_with_no_configuration_serves_the_demo_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = keel()
        .current_dir(dir.path())
        .env("KEEL_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let stdout = Lines::of(child.stdout.take().unwrap());
    let mut stderr = Lines::of(child.stderr.take().unwrap());
    assert!(stderr.wait_for("Keel is serving", Duration::from_secs(60)), "keel did not start: {:?}", stderr.seen);
    assert!(dir.path().join("data/keel.db").exists(), "SQLite file in ./data by default");

    // The container health check: `keel probe` asks the node at KEEL_ADDR.
    let probe = |path: &str, addr: &str| {
        keel().current_dir(dir.path()).env("KEEL_ADDR", addr).args(["probe", "--path", path]).output().unwrap()
    };
    assert!(probe("/healthz", &format!("127.0.0.1:{port}")).status.success());
    let missing = probe("/no-such-page", &format!("127.0.0.1:{port}"));
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("404"));
    assert!(!probe("/healthz", &format!("127.0.0.1:{}", free_port())).status.success(), "nothing listens there");

    let client = reqwest::blocking_client();
    let (status, body) = client.get(&format!("{base}/v1/store/products?limit=100")).send().unwrap();
    assert_eq!(status, 200);
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 59);

    // An API key made from the CLI (against the same database) works at once.
    let output = keel()
        .current_dir(dir.path())
        .args(["apikey", "create", "--name", "ci", "--permission", "products:read"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).unwrap();
    let secret = printed.lines().last().unwrap().trim().to_string();
    assert!(secret.starts_with("keel_sk_"), "the secret is alone on the last line: {printed}");
    let (status, _) = client.get(&format!("{base}/v1/admin/products")).bearer(&secret).send().unwrap();
    assert_eq!(status, 200);

    // SIGTERM: stop accepting, drain, exit 0.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    let logs = stdout.rest();
    assert!(logs.iter().any(|l| l.contains("shutting down")), "{logs:?}");
    let stderr = stderr.rest();
    assert!(stderr.iter().any(|l| l.contains("/docs")), "start-up says where the docs are: {stderr:?}");
}

#[test]
fn invalid_configuration_fails_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value, expect) in [
        ("KEEL_ADDR", "not-an-address", "KEEL_ADDR"),
        ("KEEL_DATABASE_URL", "mysql://localhost/x", "KEEL_DATABASE_URL"),
        ("KEEL_DB_MAX_CONNECTIONS", "lots", "db_max_connections"),
        ("KEEL_LOG_FORMAT", "xml", "log_format"),
        ("KEEL_OTLP_ENDPOINT", "collector:4318", "KEEL_OTLP_ENDPOINT"),
    ] {
        let output = keel().current_dir(dir.path()).env(key, value).arg("migrate").output().unwrap();
        assert!(!output.status.success(), "{key}={value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.to_lowercase().contains(&expect.to_lowercase()), "{key}: {stderr}");
    }
    // An optional address set to nothing (a template's `KEEL_OTLP_ENDPOINT=`) is simply unset.
    let output = keel()
        .current_dir(dir.path())
        .env("KEEL_OTLP_ENDPOINT", "")
        .env("KEEL_REDIS_URL", " ")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn prints_the_openapi_document() {
    let output = keel().arg("openapi").output().unwrap();
    assert!(output.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/v1/store/products"].is_object());
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let output =
        keel().current_dir(dir.path()).env("KEEL_LOG_FORMAT", "json").args(["seed", "--demo"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("60/60 products"), "seeding shows progress: {stderr}");
    let again = keel().current_dir(dir.path()).args(["seed", "--demo"]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has products"));
}

/// Several `keel serve --role worker` processes share one PostgreSQL queue: every job runs, both
/// processes take part, and each stops cleanly on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_processes_share_one_postgres_queue() {
    let Some(db) = common::Database::create(common::Backend::Postgres).await else { return };
    let url = db.config.database_url.clone().unwrap();
    let services = keel::app::open(&db.config).await.unwrap();
    let total = 300;
    let mut tx = services.db.begin().await.unwrap();
    for n in 0..total {
        let spec = keel_services::jobs::JobSpec::new(keel::app::NOOP, serde_json::json!({ "n": n }));
        keel_services::jobs::enqueue(&mut tx.conn(), spec).await.unwrap();
    }
    tx.commit().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut workers = Vec::new();
    let metrics_port = free_port();
    for n in 0..2 {
        let mut command = keel();
        if n == 0 {
            command.env("KEEL_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"));
        }
        let mut child = command
            .current_dir(dir.path())
            .env("KEEL_DATABASE_URL", &url)
            .env("KEEL_DEMO_SEED", "false")
            .env("KEEL_WORKER_CONCURRENCY", "2")
            .args(["serve", "--role", "worker"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Lines::of(child.stderr.take().unwrap());
        let stdout = Lines::of(child.stdout.take().unwrap());
        workers.push((child, stdout, stderr));
    }
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let left = services.jobs.depth().await.unwrap().iter().map(|d| d.count).sum::<i64>();
        if left == 0 {
            break;
        }
        assert!(Instant::now() < until, "{left} jobs still queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = services.jobs.list(Some("completed"), None, None, 100).await.unwrap();
    let mut runners: Vec<String> = Vec::new();
    let mut before = None;
    let mut completed = 0;
    loop {
        let page = services.jobs.list(Some("completed"), None, before, 100).await.unwrap();
        // Recurring maintenance jobs may complete too when the run crosses a minute: count ours.
        let ours: Vec<_> = page.iter().filter(|j| j.kind == keel::app::NOOP).collect();
        completed += ours.len();
        runners.extend(
            ours.iter().filter_map(|j| j.locked_by.as_ref().map(|w| w.split(':').nth(1).unwrap_or("").to_string())),
        );
        match page.last() {
            Some(last) if page.len() == 100 => before = Some(last.id),
            _ => break,
        }
    }
    assert!(!done.is_empty());
    assert_eq!(completed, total, "every job completed once");
    runners.sort();
    runners.dedup();
    assert_eq!(runners.len(), 2, "both worker processes ran jobs: {runners:?}");
    // The first worker reports its own work to Prometheus.
    assert!(workers[0].2.wait_for("worker metrics on", Duration::from_secs(10)));
    let metrics =
        ::reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("jobs_completed_total{queue=\"default\",kind=\"system.noop\"}"), "{metrics}");

    for (mut child, stdout, _stderr) in workers {
        let pid = child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        assert!(child.wait().unwrap().success());
        let logs = stdout.rest();
        assert!(logs.iter().any(|l| l.contains("letting running jobs finish")), "{logs:?}");
    }
    services.db.close().await;
    db.drop_now().await;
}

/// Two worker processes side by side; the one running a job is killed with SIGKILL in the middle
/// of it: once its lease expires, the other finishes the job. The effect lands once: the receiver sees the delivery twice
/// with one `webhook-id` and, deduplicating by it as receivers must, acts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_job_is_finished_by_another_worker() {
    let Some(mut db) = common::Database::create(common::Backend::Postgres).await else { return };
    let url = db.config.database_url.clone().unwrap();
    // Every node shares the key that seals webhook secrets.
    let secret_key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    db.config.secret_key = Some(secret_key.to_string());
    let db = std::sync::Arc::new(db);
    let test = killed_mid_job(db.clone(), url, secret_key);
    common::then_clean_up(test, async { db.drop_now().await }).await;
}

async fn killed_mid_job(db: std::sync::Arc<common::Database>, url: String, secret_key: &'static str) {
    let services = keel::app::open(&db.config).await.unwrap();

    // The receiver hangs on its first request (the worker will die waiting) and accepts the rest.
    let requests: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let arrived = std::sync::Arc::new(tokio::sync::Notify::new());
    let (r, a) = (requests.clone(), arrived.clone());
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let (r, a) = (r.clone(), a.clone());
            async move {
                let id = headers["webhook-id"].to_str().unwrap().to_string();
                let first = {
                    let mut got = r.lock().unwrap();
                    got.push(id);
                    got.len() == 1
                };
                a.notify_waiters();
                if first {
                    std::future::pending::<()>().await;
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let input = keel_services::webhooks::WebhookCreate {
        url: hook_url,
        events: vec!["product.*".into()],
        description: String::new(),
    };
    let hook = services.webhooks.create(&input).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let worker = |name: &str| {
        keel()
            .current_dir(dir.path())
            .env("KEEL_DATABASE_URL", &url)
            .env("KEEL_DEMO_SEED", "false")
            .env("KEEL_WORKER_LEASE_SECS", "3")
            .env("KEEL_WEBHOOKS_ALLOW_PRIVATE", "true")
            .env("KEEL_SECRET_KEY", secret_key)
            .env("HOSTNAME", name)
            .args(["serve", "--role", "worker"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Both workers run side by side; whichever takes the delivery is killed in the middle of it.
    let mut workers = vec![("first", Reaped(worker("first"))), ("second", Reaped(worker("second")))];
    let create = serde_json::from_value(serde_json::json!({"title": "Killed Mid-Job", "status": "published"})).unwrap();
    services.catalog.create_product(&create).await.unwrap();

    // Wait for the first delivery attempt to be in flight.
    let until = Instant::now() + Duration::from_secs(60);
    while requests.lock().unwrap().is_empty() {
        let notified = arrived.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if !requests.lock().unwrap().is_empty() {
            break;
        }
        let left = until.checked_duration_since(Instant::now()).expect("no worker delivered");
        let _ = tokio::time::timeout(left, notified).await;
    }
    let running = services.jobs.list(Some("running"), Some(keel_services::webhooks::QUEUE), None, 100).await.unwrap();
    let job = running.into_iter().find(|j| j.kind == keel_services::webhooks::DELIVER_JOB).expect("the delivery runs");
    let holder = job.locked_by.as_deref().unwrap().split(':').next().unwrap().to_string();
    let at = workers.iter().position(|(name, _)| *name == holder).expect("held by one of the two workers");
    drop(workers.remove(at)); // SIGKILL
    let (survivor, other) = workers.remove(0);

    // The other worker, running all along, takes the job over once the dead one's lease expires.
    let until = Instant::now() + Duration::from_secs(60);
    // Done means the delivery job is recorded completed (the delivery row turns succeeded a
    // moment earlier, inside the job).
    let deliver = loop {
        let jobs =
            services.jobs.list(Some("completed"), Some(keel_services::webhooks::QUEUE), None, 100).await.unwrap();
        if let Some(job) = jobs.into_iter().find(|j| j.kind == keel_services::webhooks::DELIVER_JOB) {
            break job;
        }
        assert!(Instant::now() < until, "the other worker never finished the delivery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(other);
    let deliveries = services.webhooks.deliveries(hook.id, 10).await.unwrap();
    let delivery = deliveries.into_iter().find(|d| d.state == "succeeded").expect("the delivery succeeded");

    let seen = requests.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "delivered twice (at least once), {seen:?}");
    let distinct: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), 1, "both carry the same webhook-id, so the receiver acts once");
    assert_eq!(delivery.event_id.to_string(), seen[0]);
    assert_eq!(deliver.attempts, 2, "the killed run counted as an attempt");
    assert!(deliver.locked_by.as_deref().unwrap().starts_with(&format!("{survivor}:")), "finished by the other worker");
    services.db.close().await;
}

#[tokio::test]
async fn user_create_makes_a_staff_member_who_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let create = |email: &str, password: &str, role: &str| {
        let mut child = keel()
            .current_dir(dir.path())
            .env("KEEL_DATA_DIR", dir.path())
            .env("KEEL_DEMO_SEED", "false")
            .args(["user", "create", "--email", email, "--password-stdin", "--role", role])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let output = create("Owner@Example.com", "a long passphrase", "owner");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("owner@example.com") && stdout.contains("with role owner"), "{stdout}");

    let weak = create("weak@example.com", "short", "owner");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password"), "{}", String::from_utf8_lossy(&weak.stderr));
    let unknown = create("x@example.com", "a long passphrase", "emperor");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("emperor"));

    let config = keel::config::Config { data_dir: dir.path().to_path_buf(), ..keel::config::Config::default() };
    let services = keel::app::open(&config).await.unwrap();
    let pair = services.staff.login("owner@example.com", "a long passphrase", None).await.unwrap();
    let principal = services.staff.authenticate(&pair.access_token).await.unwrap();
    assert_eq!(principal.label(), "owner@example.com");
    assert_eq!(principal.grant, keel_domain::permission::Grant::All);
    services.db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_killed_after_authorising_leaves_no_money_held() {
    let Some(mut db) = common::Database::create(common::Backend::Postgres).await else { return };
    let url = db.config.database_url.clone().unwrap();
    // paysim runs in this test process, so it outlives the Keel process that dies.
    let (services, paysim_url) = common::shop::shop_with_paysim(&mut db).await;

    // A cart ready to check out, for the one unit in stock.
    let variant = common::shop::variant_in_stock(&services, "CRASH-1", 1).await;
    let cart = common::shop::ready_cart(&services, variant, "crash@example.com").await;

    // The API process dies right after the payment is authorised.
    let dir = tempfile::tempdir().unwrap();
    let process = |role: &str, failpoint: bool| {
        let mut cmd = keel();
        cmd.current_dir(dir.path())
            .env("KEEL_DATABASE_URL", &url)
            .env("KEEL_DEMO_SEED", "false")
            .env("KEEL_PAYSIM_URL", &paysim_url)
            .env("KEEL_CHECKOUT_STALL_SECS", "0")
            .env("KEEL_ADDR", "127.0.0.1:0")
            .args(["serve", "--role", role])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if failpoint {
            cmd.env("KEEL_FAILPOINT", "checkout.after_authorize");
        }
        cmd.spawn().unwrap()
    };
    let mut api = process("api", true);
    // The output is read until the end: a closed pipe would kill the process on its next log.
    let mut api_output = Lines::of(api.stderr.take().unwrap());
    let port = api_output.serving_port();
    let client = ::reqwest::Client::new();
    let answer = client
        .post(format!("http://127.0.0.1:{port}/v1/store/carts/{cart}/checkout"))
        .header("Idempotency-Key", "crash-1")
        .json(&serde_json::json!({"payment": {"provider": "paysim", "token": "tok_visa"}}))
        .send()
        .await;
    assert!(answer.is_err(), "the process died before answering: {answer:?}");
    assert!(!api.wait().unwrap().success());
    drop(api_output);

    // Money is held and the unit reserved, with no order.
    let checkout = {
        let mut conn = services.db.read().await.unwrap();
        keel_store::orders::find_checkout(&mut conn.conn(), &cart.to_string(), "crash-1").await.unwrap().unwrap()
    };
    assert_eq!((checkout.step.as_str(), checkout.order_id.as_deref()), ("authorized", None));
    let paysim = services.providers.payment("paysim").unwrap();
    let held = paysim.find_by_checkout(&checkout.id).await.unwrap();
    assert_eq!(held.iter().map(|p| p.status.as_str()).collect::<Vec<_>>(), ["held"]);
    assert_eq!(services.inventory.inventory(variant).await.unwrap().levels.iter().map(|l| l.reserved).sum::<i64>(), 1);

    // A worker settles it: the authorisation voided, the unit back on sale, the cart usable.
    let mut worker = process("worker", false);
    let job =
        keel_services::jobs::JobSpec::new(keel::app::RECOVER_CHECKOUTS, serde_json::json!({})).queue("maintenance");
    services.jobs.enqueue_now(job).await.unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let step = {
            let mut conn = services.db.read().await.unwrap();
            keel_store::orders::find_checkout(&mut conn.conn(), &cart.to_string(), "crash-1")
                .await
                .unwrap()
                .unwrap()
                .step
        };
        if step == "failed" {
            break;
        }
        assert!(Instant::now() < until, "the worker never settled the checkout");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.kill().unwrap();
    worker.wait().unwrap();
    let after = paysim.find_by_checkout(&checkout.id).await.unwrap();
    assert_eq!(after.iter().map(|p| p.status.as_str()).collect::<Vec<_>>(), ["voided"]);
    let levels = services.inventory.inventory(variant).await.unwrap().levels;
    assert_eq!((levels.iter().map(|l| l.reserved).sum::<i64>(), levels.iter().map(|l| l.on_hand).sum::<i64>()), (0, 1));
    assert!(services.carts.get(cart, None).await.is_ok());
    services.db.close().await;
    db.drop_now().await;
}
