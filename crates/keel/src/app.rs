//! From configuration to a serving process: open the database, migrate, seed an empty catalog,
//! build the router, serve until a shutdown signal, drain, close.

use crate::config::Config;
use crate::telemetry;
use anyhow::Context;
use keel_services::Services;
use keel_services::demo::{self, SeedProgress, SeedSummary};
use std::future::Future;
use std::net::SocketAddr;
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
    Ok(Services::new(db))
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

/// Builds the HTTP application for these services.
pub fn router(services: Services, config: &Config) -> axum::Router {
    let handle = telemetry::metrics_handle();
    keel_api::router(services, &config.api(), Some(Arc::new(move || handle.render())))
}

/// Serves on `listener` until `shutdown` resolves, then lets in-flight requests finish (up to
/// the configured grace period) and closes the database pools.
pub async fn serve(
    listener: TcpListener,
    services: Services,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = router(services.clone(), config);
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(
        async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, draining in-flight requests");
            let _ = stop_tx.send(true);
        },
    );
    let mut stop_rx2 = stop_rx.clone();
    tokio::select! {
        result = server => result.context("server error")?,
        // Draining may not outlast the grace period.
        () = async move {
            let _ = stop_rx2.wait_for(|stopped| *stopped).await;
            tokio::time::sleep(grace).await;
        } => tracing::warn!("grace period over; abandoning requests still in flight"),
    }
    services.db.close().await;
    drop(stop_rx);
    Ok(())
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
