//! The black-box test harness: boots the real Keel router on a random port against a fresh
//! database — a SQLite file in a temporary directory, or a uniquely named PostgreSQL database that
//! is dropped afterwards — and talks to it over HTTP.
//!
//! `backend_tests! { fn name(app) { … } }` turns one async test body into two tests, `sqlite` and
//! `postgres`, so every API behaviour is proven on both engines. PostgreSQL comes from
//! `KEEL_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`); when it cannot
//! be reached the PostgreSQL variant prints that it did NOT run, unless `CI=true`, where it fails.

#![allow(dead_code)]

pub mod process;
pub mod servers;
pub mod shop;

use keel::config::Config;
use keel_services::Services;
use sqlx::Connection;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn admin_database_url() -> String {
    std::env::var("KEEL_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The NATS server shared by the suites (`KEEL_TEST_NATS_URL`, default the local one), or `None`
/// when it is unreachable outside CI.
pub async fn nats_url() -> Option<String> {
    let url = std::env::var("KEEL_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    match async_nats::ConnectOptions::new().connection_timeout(std::time::Duration::from_secs(2)).connect(&url).await {
        Ok(_) => Some(url),
        Err(e) if in_ci() => panic!("CI=true but NATS at {url} is unreachable: {e}"),
        Err(e) => {
            eprintln!("NATS suite NOT RUN: cannot reach {url} ({e}); set KEEL_TEST_NATS_URL");
            None
        }
    }
}

/// A Redis URL and a fresh key prefix for one test, or `None` when Redis is unavailable outside CI.
pub async fn redis() -> Option<(String, String)> {
    let url = std::env::var("KEEL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let answered = async {
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), answered).await {
        Ok(Ok(_)) => Some((url, format!("keel_test_{}:", uuid::Uuid::new_v4().simple()))),
        outcome if in_ci() => panic!("CI=true but Redis at {url} is unreachable: {outcome:?}"),
        _ => {
            eprintln!("Redis suite NOT RUN: cannot reach {url}; set KEEL_TEST_REDIS_URL");
            None
        }
    }
}

/// Deletes a test's Redis keys (those under `prefix`).
pub async fn drop_redis_keys(url: &str, prefix: &str) {
    let client = redis::Client::open(url).expect("redis url");
    let mut conn = client.get_multiplexed_async_connection().await.expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.expect("keys");
    if !keys.is_empty() {
        redis::cmd("DEL").arg(keys).query_async::<i64>(&mut conn).await.expect("del");
    }
}

/// Deletes a test's JetStream stream.
pub async fn drop_stream(url: &str, stream: &str) {
    let client = async_nats::connect(url).await.expect("nats");
    let _ = async_nats::jetstream::new(client).delete_stream(stream).await;
}

/// A private database for one test; PostgreSQL ones are dropped by [`Database::drop_now`].
pub struct Database {
    pub config: Config,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl Database {
    /// Creates the database, or `None` when PostgreSQL is unavailable outside CI.
    pub async fn create(backend: Backend) -> Option<Database> {
        let dir = tempfile::tempdir().expect("temp dir");
        // Tests deliver webhooks to receivers on 127.0.0.1.
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            db_max_connections: 8,
            webhooks_allow_private: true,
            // Suites sign in and call far faster than any shopper; the limits have their own suite.
            rate_limits: false,
            ..Config::default()
        };
        let mut pg_name = None;
        if backend == Backend::Postgres {
            let admin = admin_database_url();
            let mut conn = match sqlx::PgConnection::connect(&admin).await {
                Ok(c) => c,
                Err(e) if in_ci() => panic!("CI=true but PostgreSQL at {admin} is unreachable: {e}"),
                Err(e) => {
                    eprintln!("PostgreSQL suite NOT RUN: cannot reach {admin} ({e}); set KEEL_TEST_DATABASE_URL");
                    return None;
                }
            };
            let name = format!("keel_test_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_string();
            config.database_url = Some(format!("{base}/{name}"));
            pg_name = Some(name);
        }
        Some(Database { config, pg_name, _dir: dir })
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.config.db().sqlite_path
    }

    pub async fn drop_now(&self) {
        if let Some(name) = &self.pg_name {
            let mut conn = sqlx::PgConnection::connect(&admin_database_url()).await.expect("admin connection");
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut conn)
                .await
                .expect("drop test database");
        }
    }
}

/// A running Keel on a random port.
pub struct TestApp {
    pub backend: Backend,
    pub base: String,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub services: Services,
    /// A key with every permission.
    pub admin_key: String,
    pub config: Config,
    worker: tokio::sync::Mutex<Option<keel_worker::WorkerHandle>>,
    _node: keel::app::ApiNode,
    stop: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    server: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl TestApp {
    /// Boots Keel on `db`, with the demo catalog when `demo` is set.
    pub async fn spawn(db: &Database, backend: Backend, demo: bool) -> TestApp {
        Self::spawn_with(db, backend, demo, |_| {}).await
    }

    /// Boots Keel with configuration changed by `tweak`.
    pub async fn spawn_with(db: &Database, backend: Backend, demo: bool, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::spawn_on(db, backend, demo, listener, tweak).await
    }

    /// Boots Keel on a listener bound beforehand (when its address must be known first).
    pub async fn spawn_on(
        db: &Database,
        backend: Backend,
        demo: bool,
        listener: tokio::net::TcpListener,
        tweak: impl FnOnce(&mut Config),
    ) -> TestApp {
        keel_platform::http::install_crypto();
        let mut config = db.config.clone();
        tweak(&mut config);
        let services = keel::app::open(&config).await.expect("open database");
        if demo {
            keel::app::seed_if_empty(&services, |_| {}).await.expect("seed");
        }
        let admin_key = services.api_keys.create("test admin", &[]).await.expect("api key").secret;
        let node = keel::app::start_api_node(&services, &config).await.expect("api node");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server_services = services.clone();
        let server_config = config.clone();
        let scheme = if config.tls_cert.is_some() { "https" } else { "http" };
        let events = node.bus();
        let server = tokio::spawn(async move {
            keel::app::serve(listener, server_services, &server_config, events, async {
                let _ = stopped.await;
            })
            .await
            .expect("server");
        });
        TestApp {
            backend,
            base: format!("{scheme}://{addr}"),
            addr,
            http: reqwest::Client::new(),
            services,
            admin_key,
            config,
            worker: tokio::sync::Mutex::new(None),
            _node: node,
            stop: std::sync::Mutex::new(Some(stop)),
            server: std::sync::Mutex::new(Some(server)),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        json_of(self.get(path).await).await
    }

    /// POSTs JSON anonymously (the store API) and answers the status and the JSON body.
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        json_of(self.http.post(self.url(path)).json(&body).send().await.expect("request")).await
    }

    /// A request to the admin API with the all-permissions key.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(&self.admin_key)
    }

    pub async fn admin_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.admin(method, path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        json_of(req.send().await.expect("request")).await
    }

    pub async fn create_key(&self, permissions: &[&str]) -> String {
        let perms: Vec<String> = permissions.iter().map(|p| p.to_string()).collect();
        self.services.api_keys.create("test key", &perms).await.expect("key").secret
    }

    /// Runs a worker (every job Keel knows) beside the server, until the app stops.
    pub async fn start_worker(&self) {
        let registry = keel::app::worker_registry(&self.services, &self.config).expect("registry");
        let worker =
            keel_worker::Worker::start(self.services.db.clone(), registry, self.config.worker()).await.expect("worker");
        *self.worker.lock().await = Some(worker);
    }

    /// Waits (up to 30 s) for the worker to deliver a mail to `to` whose text contains `needle`,
    /// and returns it (quoted-printable soft breaks undone). Mail lands as `.eml` files.
    pub async fn wait_for_mail(&self, to: &str, needle: &str) -> String {
        let dir = self.config.data_dir.join("mail");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut wakeups = self.services.db.job_wakeups().await.expect("wake-ups");
        loop {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for entry in entries.flatten() {
                    let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                    let text = text.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
                    if text.contains(&format!("To: {to}")) && text.contains(needle) {
                        return text;
                    }
                }
            }
            assert!(std::time::Instant::now() < deadline, "no mail to {to} containing {needle:?} within 30 s");
            // Wake when jobs change (or after a short poll).
            wakeups.wait(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Tells the server to shut down gracefully, without waiting.
    pub fn signal_stop(&self) {
        if let Some(stop) = self.stop.lock().expect("lock").take() {
            let _ = stop.send(());
        }
    }

    /// Stops the server (and worker) gracefully and waits until it has.
    pub async fn stop(&self) {
        if let Some(worker) = self.worker.lock().await.take() {
            worker.shutdown().await;
        }
        self.signal_stop();
        let server = self.server.lock().expect("lock").take();
        if let Some(server) = server {
            let _ = server.await;
        }
    }
}

pub async fn json_of(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    (status, value)
}

/// Runs `test` against a fresh app on `backend`, then stops it and drops its database — also
/// when the test panics (the panic is re-raised afterwards).
pub async fn run<F, Fut>(backend: Backend, demo: bool, test: F)
where
    F: FnOnce(&'static TestApp) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    run_with(backend, demo, |_| {}, test).await
}

/// [`run`] with configuration changed by `tweak`.
pub async fn run_with<F, Fut>(backend: Backend, demo: bool, tweak: impl FnOnce(&mut Config), test: F)
where
    F: FnOnce(&'static TestApp) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = Database::create(backend).await else { return };
    let app: &'static TestApp = Box::leak(Box::new(TestApp::spawn_with(&db, backend, demo, tweak).await));
    then_clean_up(test(app), async {
        app.stop().await;
        app.services.db.close().await;
        db.drop_now().await;
    })
    .await;
}

/// Runs `test` in a task of its own, so that a failure is caught, then `cleanup` whatever the
/// outcome (databases, streams and keys are never left behind); a failure is raised again after.
pub async fn then_clean_up(test: impl Future<Output = ()> + Send + 'static, cleanup: impl Future<Output = ()>) {
    let outcome = tokio::spawn(test).await;
    cleanup.await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// One async test body, run as two tests: on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! backend_tests {
    ($(#[demo = $demo:literal] async fn $name:ident($app:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body($app: &'static $crate::common::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::common::run($crate::common::Backend::Sqlite, $demo, body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::common::run($crate::common::Backend::Postgres, $demo, body).await;
            }
        }
    )*};
}

/// An SMTP server that accepts every message and keeps its DATA.
pub struct SmtpSink {
    pub port: u16,
    pub messages: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    signal: std::sync::Arc<tokio::sync::Notify>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let signal = std::sync::Arc::new(tokio::sync::Notify::new());
        let (m, s) = (messages.clone(), signal.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (m, s) = (m.clone(), s.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(read));
                    write.write_all(b"220 sink ESMTP ready\r\n").await.unwrap();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" | "HELO" => b"250-sink greets you\r\n250 8BITMIME\r\n",
                            "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                            "DATA" => {
                                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await.unwrap();
                                let mut data = String::new();
                                while let Ok(Some(l)) = lines.next_line().await {
                                    if l == "." {
                                        break;
                                    }
                                    data.push_str(&l);
                                    data.push('\n');
                                }
                                m.lock().unwrap().push(data);
                                s.notify_waiters();
                                b"250 queued\r\n"
                            }
                            "QUIT" => {
                                write.write_all(b"221 bye\r\n").await.unwrap();
                                return;
                            }
                            _ => b"502 not implemented\r\n",
                        };
                        write.write_all(reply).await.unwrap();
                    }
                });
            }
        });
        SmtpSink { port, messages, signal }
    }

    /// The first message `matches` accepts, waiting up to 30 s for it.
    pub async fn wait_for(&self, matches: impl Fn(&str) -> bool) -> Option<String> {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let notified = self.signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(m) = self.messages.lock().unwrap().iter().find(|m| matches(m)).cloned() {
                return Some(m);
            }
            let left = until.checked_duration_since(std::time::Instant::now())?;
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    /// The first message, waiting up to 30 s for it.
    pub async fn wait_for_message(&self) -> String {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let notified = self.signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(m) = self.messages.lock().unwrap().first().cloned() {
                return m;
            }
            let left = until.checked_duration_since(std::time::Instant::now()).expect("no mail arrived");
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}
