//! From configuration to a serving process: open the database, migrate, seed an empty catalog,
//! build the router, serve until a shutdown signal, drain, close.

use crate::config::Config;
use crate::telemetry;
use anyhow::Context;
use keel_api::tls::PeerAddr;
use keel_services::Services;
use keel_services::demo::{self, SeedProgress, SeedSummary};
use std::future::Future;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Connects to the configured database and brings its schema up to date.
pub async fn open(config: &Config) -> anyhow::Result<Services> {
    let db_config = config.db();
    let db = keel_services::Db::connect(&db_config).await.with_context(|| match &db_config.url {
        Some(_) => "cannot connect to PostgreSQL (KEEL_DATABASE_URL)".to_string(),
        None => format!("cannot open the SQLite database at {}", db_config.sqlite_path.display()),
    })?;
    db.migrate().await.context("database migration failed")?;
    if db_config.url.is_some() && config.secret_key.is_none() {
        tracing::warn!(
            "KEEL_SECRET_KEY is not set: secrets stored in PostgreSQL are sealed with the key file in the data \
             directory; every node sharing this database must use the same key (set KEEL_SECRET_KEY)"
        );
    }
    let options = keel_services::ServiceOptions {
        webhooks_allow_private: config.webhooks_allow_private,
        identity: config.identity(),
        oidc_providers: config.oidc_providers.clone(),
        secrets: config.secrets()?,
        providers: keel_services::providers::Providers {
            payments: vec![Arc::new(paysim(config).await?)],
            manual_payments: config.manual_payments,
            ..keel_services::providers::Providers::default()
        },
        files: file_store(config),
        auto_capture: config.auto_capture,
    };
    Ok(Services::with_options(db, options))
}

/// The `paysim` payment provider: the configured simulator, or one started in this process on a
/// loopback port (the zero-configuration demo; its payments live as long as the process).
async fn paysim(config: &Config) -> anyhow::Result<keel_services::payments::Paysim> {
    let url = match &config.paysim_url {
        Some(url) => url.clone(),
        None => {
            let listener = TcpListener::bind("127.0.0.1:0").await.context("cannot start the embedded paysim")?;
            let url = format!("http://{}", listener.local_addr()?);
            let sim = paysim::Config { secret_key: config.paysim_secret_key.clone(), ..paysim::Config::default() };
            tokio::spawn(async move {
                if let Err(e) = paysim::serve(listener, sim).await {
                    tracing::error!(error = %e, "the embedded paysim stopped");
                }
            });
            tracing::info!(%url, "embedded payment simulator (paysim) started");
            url
        }
    };
    Ok(keel_services::payments::Paysim::new(&url, &config.paysim_secret_key))
}

/// Seeds the demo catalog if the database has no products. Returns what was written, if anything.
pub async fn seed_if_empty(
    services: &Services,
    progress: impl FnMut(SeedProgress),
) -> anyhow::Result<Option<SeedSummary>> {
    if !demo::catalog_is_empty(&services.db).await? {
        return Ok(None);
    }
    Ok(Some(demo::seed_demo(&services.db, progress).await?))
}

/// Builds the HTTP application for these services; `events` is the bus the node follows (its
/// state shows in readiness).
pub fn router(services: Services, config: &Config, events: Option<keel_platform::bus::EventBus>) -> axum::Router {
    let handle = telemetry::metrics_handle();
    let api = keel_api::ApiConfig { event_bus: events, ..config.api() };
    keel_api::router(services, &api, Some(Arc::new(move || handle.render())))
}

/// Serves on `listener` until `shutdown` resolves, then lets in-flight requests finish (up to
/// the configured grace period). With a TLS certificate and key configured, serves HTTPS only.
pub async fn serve(
    listener: TcpListener,
    services: Services,
    config: &Config,
    events: Option<keel_platform::bus::EventBus>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = router(services.clone(), config, events).into_make_service_with_connect_info::<PeerAddr>();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopping = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, draining in-flight requests");
        let _ = stop_tx.send(true);
    };
    let server: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> =
        match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                let tls = keel_api::tls::server_config(cert, key).map_err(anyhow::Error::msg)?;
                let listener = keel_api::tls::TlsListener::new(listener, tls)?;
                Box::pin(axum::serve(listener, app).with_graceful_shutdown(stopping).into_future())
            }
            _ => Box::pin(axum::serve(listener, app).with_graceful_shutdown(stopping).into_future()),
        };
    let mut stop_rx2 = stop_rx.clone();
    tokio::select! {
        result = server => result.context("server error")?,
        // Draining may not outlast the grace period.
        () = async move {
            let _ = stop_rx2.wait_for(|stopped| *stopped).await;
            tokio::time::sleep(grace).await;
        } => tracing::warn!("grace period over; abandoning requests still in flight"),
    }
    drop(stop_rx);
    Ok(())
}

/// Which parts of Keel a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The HTTP API and a worker in one process (the default).
    All,
    /// Only the HTTP API.
    Api,
    /// Only a worker: runs background jobs and schedules, serves no HTTP.
    Worker,
}

/// The configured mailer: SMTP when `KEEL_SMTP_URL` is set, else `.eml` files in the data dir.
pub fn mailer(config: &Config) -> anyhow::Result<keel_platform::mail::Mailer> {
    Ok(match &config.smtp_url {
        Some(url) => keel_platform::mail::Mailer::smtp(url, &config.mail_from)?,
        None => keel_platform::mail::Mailer::files(config.data_dir.join("mail"), &config.mail_from)?,
    })
}

/// The jobs this build of Keel knows how to run, and its recurring schedules.
pub fn worker_registry(services: &Services, config: &Config) -> anyhow::Result<keel_worker::Registry> {
    use keel_domain::schedule::Cron;
    use keel_services::jobs::JobSpec;
    let concurrency = config.worker_concurrency;
    let db = services.db.clone();
    let mut registry = keel_worker::Registry::new()
        .queue(keel_services::jobs::DEFAULT_QUEUE, concurrency, Duration::from_secs(300))
        .queue("maintenance", 1, Duration::from_secs(600))
        .handle(PURGE_IDENTITY, {
            let db = services.db.clone();
            move |_| {
                let db = db.clone();
                async move {
                    // Sessions and single-use tokens a day past their end, OIDC logins past theirs.
                    let before = keel_services::now() - chrono::Duration::days(1);
                    let mut tx = db.begin().await?;
                    let sessions = keel_store::identity::purge_sessions(&mut tx.conn(), before).await?;
                    let other = keel_store::identity::purge_stale(&mut tx.conn(), before).await?;
                    tx.commit().await?;
                    tracing::info!(sessions, other, "expired sessions and tokens purged");
                    Ok(())
                }
            }
        })
        .handle(RECOVER_CHECKOUTS, {
            let checkout = services.checkout.clone();
            let stall = chrono::Duration::seconds(config.checkout_stall_secs.max(0));
            move |_| {
                let checkout = checkout.clone();
                async move {
                    let settled = checkout.recover(stall).await?;
                    if settled > 0 {
                        tracing::warn!(settled, "interrupted checkouts settled: payments voided, stock released");
                    }
                    Ok(())
                }
            }
        })
        .handle(EXPIRE_RESERVATIONS, {
            let inventory = services.inventory.clone();
            move |_| {
                let inventory = inventory.clone();
                async move {
                    let released = inventory.expire_reservations().await?;
                    if released > 0 {
                        tracing::info!(released, "expired stock reservations released");
                    }
                    Ok(())
                }
            }
        })
        .handle(PURGE_IDEMPOTENCY_KEYS, move |_| {
            let db = db.clone();
            async move {
                let before = keel_services::now() - keel_services::idempotency::KEY_LIFETIME;
                let mut tx = db.begin().await?;
                let purged = keel_store::idempotency::purge_older_than(&mut tx.conn(), before).await?;
                tx.commit().await?;
                tracing::info!(purged, "expired idempotency keys purged");
                Ok(())
            }
        })
        // A job that does nothing: for measuring the queue itself.
        .handle(NOOP, |_| async { Ok(()) })
        .queue(keel_services::webhooks::QUEUE, concurrency, Duration::from_secs(60));
    let webhooks = services.webhooks.clone();
    registry = registry.handle(keel_services::webhooks::FANOUT_JOB, move |ctx| {
        let webhooks = webhooks.clone();
        async move {
            let id = ctx.payload["event_id"].as_str().unwrap_or_default();
            let id = keel_domain::EventId::parse(id).map_err(|e| keel_worker::JobError(format!("bad payload: {e}")))?;
            webhooks.fan_out(id).await?;
            Ok(())
        }
    });
    let webhooks = services.webhooks.clone();
    registry = registry.handle(keel_services::webhooks::DELIVER_JOB, move |ctx| {
        let webhooks = webhooks.clone();
        async move {
            let last_attempt = ctx.attempt >= keel_services::webhooks::DELIVERY_ATTEMPTS;
            webhooks.deliver(ctx.payload["delivery_id"].as_str().unwrap_or_default(), last_attempt).await?;
            Ok(())
        }
    });
    let mailer = mailer(config)?;
    let secrets = config.secrets()?;
    registry = registry.queue(keel_services::mail::QUEUE, concurrency, Duration::from_secs(120)).handle(
        keel_services::mail::SEND_JOB,
        move |ctx| {
            let mailer = mailer.clone();
            let secrets = secrets.clone();
            async move {
                let template = serde_json::from_value(ctx.payload["template"].clone())?;
                let to = ctx.payload["to"].as_str().unwrap_or_default();
                let data = keel_services::mail::payload_data(&ctx.payload, &secrets)?;
                let mail = keel_services::mail::render(template, to, &data)?;
                mailer.send(&mail).await?;
                Ok(())
            }
        },
    );
    if let Ok(hourly) = Cron::parse("17 * * * *") {
        registry = registry.schedule(
            PURGE_IDEMPOTENCY_KEYS,
            hourly,
            JobSpec::new(PURGE_IDEMPOTENCY_KEYS, serde_json::json!({})).queue("maintenance"),
        );
    }
    if let Ok(every_minute) = Cron::parse("* * * * *") {
        registry = registry
            .schedule(
                EXPIRE_RESERVATIONS,
                every_minute.clone(),
                JobSpec::new(EXPIRE_RESERVATIONS, serde_json::json!({})).queue("maintenance"),
            )
            .schedule(
                RECOVER_CHECKOUTS,
                every_minute,
                JobSpec::new(RECOVER_CHECKOUTS, serde_json::json!({})).queue("maintenance"),
            );
    }
    if let Ok(hourly) = Cron::parse("43 * * * *") {
        registry = registry.schedule(
            PURGE_IDENTITY,
            hourly,
            JobSpec::new(PURGE_IDENTITY, serde_json::json!({})).queue("maintenance"),
        );
    }
    let files = file_store(config);
    registry = registry.queue(keel_services::documents::QUEUE, 1, Duration::from_secs(120)).handle(
        keel_services::documents::RENDER_INVOICE_JOB,
        move |ctx| {
            let files = files.clone();
            async move {
                let invoice: keel_services::documents::Invoice = serde_json::from_value(ctx.payload)?;
                keel_services::documents::render_invoice(&files, &invoice).await?;
                Ok(())
            }
        },
    );
    Ok(registry)
}

/// Where generated documents are kept: `{data_dir}/files`.
pub fn file_store(config: &Config) -> keel_platform::files::FileStore {
    keel_platform::files::FileStore::local(config.data_dir.join("files"))
}

/// Deletes idempotency keys past their 24 h lifetime (hourly).
pub const PURGE_IDEMPOTENCY_KEYS: &str = "maintenance.purge_idempotency_keys";
/// Releases stock reservations past their expiry (every minute).
pub const EXPIRE_RESERVATIONS: &str = "maintenance.expire_reservations";
/// Settles checkouts a crashed process left unfinished (every minute; see
/// `KEEL_CHECKOUT_STALL_SECS`).
pub const RECOVER_CHECKOUTS: &str = "maintenance.recover_checkouts";
/// Deletes expired sessions, tokens and OpenID logins (hourly).
pub const PURGE_IDENTITY: &str = "maintenance.purge_identity";
/// Does nothing (benchmarks).
pub const NOOP: &str = "system.noop";

/// What an api node runs beside its HTTP server: with NATS, the follower that brings other
/// nodes' events to this node's caches and search index (its own are heard as they commit); and
/// the search index. Dropping it stops the follower.
pub struct ApiNode {
    follower: Option<tokio::task::JoinHandle<()>>,
    bus: Option<keel_platform::bus::EventBus>,
}

impl ApiNode {
    /// The NATS bus this node follows, if any.
    pub fn bus(&self) -> Option<keel_platform::bus::EventBus> {
        self.bus.clone()
    }
}

impl Drop for ApiNode {
    fn drop(&mut self) {
        if let Some(follower) = self.follower.take() {
            follower.abort();
        }
    }
}

/// Starts what an api node needs before it serves: the event follower first (so nothing that
/// changes while the index builds is missed), then the search index, built from the database.
pub async fn start_api_node(services: &Services, config: &Config) -> anyhow::Result<ApiNode> {
    let (follower, bus) = match config.nats() {
        Some(_) => {
            let db = services.db.clone();
            let bus = event_bus(config).await?;
            (Some(bus.follow(move |event| db.dispatch_event(&event)).await?), Some(bus))
        }
        None => {
            if services.db.engine() == keel_services::Engine::Postgres {
                tracing::info!(
                    "no KEEL_NATS_URL: this node hears only its own changes; run several nodes on one database with NATS so their caches and search indexes follow each other"
                );
            }
            (None, None)
        }
    };
    let node = ApiNode { follower, bus };
    let started = std::time::Instant::now();
    let count = services.search.start(Some(config.search_dir())).await.context("cannot build the search index")?;
    tracing::info!(products = count, ms = started.elapsed().as_millis() as u64, "search index ready");
    Ok(node)
}

/// Runs `role` until `shutdown` resolves, then stops each part gracefully.
pub async fn run(
    role: Role,
    listener: Option<TcpListener>,
    services: Services,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (worker, relay) = match role {
        Role::All | Role::Worker => {
            let registry = worker_registry(&services, config)?;
            let worker = keel_worker::Worker::start(services.db.clone(), registry, config.worker()).await?;
            let bus = event_bus(config).await?;
            let relay = keel_worker::relay::start(services.db.clone(), bus, keel_worker::relay::RelayConfig::default());
            (Some(worker), Some(relay))
        }
        Role::Api => (None, None),
    };
    match (role, listener) {
        (Role::Worker, _) => {
            let metrics = match &config.metrics_addr {
                Some(addr) => Some(worker_metrics(addr).await?),
                None => None,
            };
            shutdown.await;
            tracing::info!("shutting down: letting running jobs finish");
            if let Some(metrics) = metrics {
                metrics.abort();
            }
        }
        (_, Some(listener)) => {
            let node = start_api_node(&services, config).await?;
            serve(listener, services.clone(), config, node.bus(), shutdown).await?
        }
        (_, None) => anyhow::bail!("the {role:?} role needs a listener"),
    }
    if let Some(relay) = relay {
        relay.shutdown().await;
    }
    if let Some(worker) = worker {
        worker.shutdown().await;
    }
    services.db.close().await;
    Ok(())
}

/// A worker's own small HTTP server on `addr`: `/healthz` and `/metrics` (its jobs and relay
/// counters live in this process, so Prometheus scrapes each worker).
async fn worker_metrics(addr: &str) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener =
        TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (KEEL_METRICS_ADDR)"))?;
    let local = listener.local_addr()?;
    let handle = telemetry::metrics_handle();
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .route("/metrics", axum::routing::get(move || std::future::ready(handle.render())));
    tracing::info!(addr = %local, "worker metrics served");
    eprintln!("Keel worker metrics on http://{local}/metrics");
    Ok(tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(%err, "the worker's metrics server stopped");
        }
    }))
}

/// The configured event bus: NATS JetStream when `KEEL_NATS_URL` is set, else in-process.
pub async fn event_bus(config: &Config) -> anyhow::Result<keel_platform::bus::EventBus> {
    Ok(match config.nats() {
        Some(nats) => keel_platform::bus::EventBus::nats(nats).await.context("cannot set up NATS (KEEL_NATS_URL)")?,
        None => keel_platform::bus::EventBus::local(),
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
