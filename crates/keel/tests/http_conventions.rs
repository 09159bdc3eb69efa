//! Conventions every route keeps: problem+json errors, request ids, health, readiness, metrics.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use reqwest::Method;

backend_tests! {
    #[demo = false]
    async fn errors_outside_handlers_are_problems_too(app) {
        let unknown = app.get("/v1/store/nothing-here").await;
        assert_eq!(unknown.status(), 404);
        assert_eq!(unknown.headers()["content-type"], "application/problem+json");
        let (_, problem) = common::json_of(unknown).await;
        assert_eq!(problem["code"], "not_found");
        assert_eq!(problem["status"], 404);
        assert_eq!(problem["type"], "/problems/not_found");

        let wrong_method = app.http.delete(app.url("/v1/store/products")).send().await.unwrap();
        assert_eq!(wrong_method.status(), 405);
        assert_eq!(wrong_method.headers()["content-type"], "application/problem+json");
        assert!(wrong_method.headers().contains_key("allow"));

        let huge = format!("{{\"title\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
        let too_big = app.admin(Method::POST, "/v1/admin/products").header("content-type", "application/json").body(huge).send().await.unwrap();
        assert_eq!(too_big.status(), 413);
        assert_eq!(too_big.headers()["content-type"], "application/problem+json");
    }

    #[demo = false]
    async fn request_ids_are_echoed_or_made(app) {
        let mine = app.http.get(app.url("/healthz")).header("x-request-id", "trace-me-42").send().await.unwrap();
        assert_eq!(mine.headers()["x-request-id"], "trace-me-42");
        let made = app.get("/healthz").await;
        let id = made.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 36, "a UUID: {id}");
    }

    #[demo = false]
    async fn health_readiness_and_metrics(app) {
        let (status, health) = app.get_json("/healthz").await;
        assert_eq!(status, 200);
        assert_eq!(health["status"], "ok");
        let (status, ready) = app.get_json("/readyz").await;
        assert_eq!(status, 200);
        let engine = match app.backend {
            common::Backend::Sqlite => "sqlite",
            common::Backend::Postgres => "postgres",
        };
        assert_eq!(ready["database"], engine);

        app.get("/v1/store/products").await;
        app.get("/v1/store/products/does-not-exist").await;
        let metrics = app.get("/metrics").await;
        assert!(metrics.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = metrics.text().await.unwrap();
        assert!(text.contains(r#"http_requests_total{method="GET",route="/v1/store/products",status="200"}"#), "{text}");
        assert!(text.contains(r#"route="/v1/store/products/{id_or_handle}",status="404""#), "labels use the route template");
        assert!(text.contains("http_request_duration_seconds_bucket"), "latency is a histogram");
        assert!(text.contains("db_pool_connections{pool="), "pool gauges");
    }

    #[demo = false]
    async fn readiness_fails_when_the_database_is_gone(app) {
        app.services.db.close().await;
        let (status, problem) = app.get_json("/readyz").await;
        assert_eq!(status, 503);
        assert_eq!(problem["code"], "not_ready");
        let (status, _) = app.get_json("/healthz").await;
        assert_eq!(status, 200, "liveness does not depend on the database");
    }
}

/// Graceful shutdown: a request already being served when the signal comes still gets its full
/// answer; the server then exits and accepts nothing new. `Expect: 100-continue` tells us, without
/// guessing at timing, the moment the handler has started reading the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_requests_in_flight() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    let db = common::Database::create(common::Backend::Sqlite).await.unwrap();
    let app = common::TestApp::spawn(&db, common::Backend::Sqlite, false).await;
    let body = r#"{"name": "Drained"}"#;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/admin/categories HTTP/1.1\r\nhost: keel\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
        app.admin_key,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("HTTP/1.1 100"), "{line}");
    reader.read_line(&mut line).await.unwrap(); // the blank line after 100 Continue

    // The handler is now waiting for the body. Signal shutdown, and wait until the server has
    // stopped accepting connections, so the request is provably in flight during the shutdown.
    app.signal_stop();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(app.addr).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "the server kept accepting after the signal");
        tokio::task::yield_now().await;
    }

    reader.get_mut().write_all(body.as_bytes()).await.unwrap();
    let mut response = String::new();
    reader.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.contains("\"handle\":\"drained\""), "{response}");
    app.stop().await;
}
