//! Transport security: HTTPS with rustls from a certificate made by the test, HSTS over TLS only,
//! and the security headers every answer carries (a strict CSP on HTML pages).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{Backend, Database, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_a_configured_certificate_and_sends_hsts() {
    keel_platform::http::install_crypto();
    let db = Database::create(Backend::Sqlite).await.unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let app = TestApp::spawn_with(&db, Backend::Sqlite, false, |c| {
        c.tls_cert = Some(cert_path.clone());
        c.tls_key = Some(key_path.clone());
    })
    .await;
    assert!(app.base.starts_with("https://"));

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = trusting.get(format!("https://localhost:{}/healthz", app.addr.port())).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000; includeSubDomains");

    // A client that does not trust the certificate fails the handshake; plain HTTP gets nothing.
    let strict = reqwest::Client::new();
    assert!(strict.get(format!("https://localhost:{}/healthz", app.addr.port())).send().await.is_err());
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{}/healthz", app.addr.port())).send().await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    // The server keeps serving after failed handshakes.
    assert_eq!(
        trusting.get(format!("https://localhost:{}/healthz", app.addr.port())).send().await.unwrap().status(),
        200
    );
    app.stop().await;
}

backend_tests! {
    #[demo = false]
    async fn answers_carry_security_headers_and_html_a_strict_csp(app) {
        let api = app.get("/v1/store/products").await;
        for (name, value) in [("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer"), ("x-frame-options", "DENY")] {
            assert_eq!(api.headers()[name], value, "{name}");
        }
        assert!(api.headers().get("strict-transport-security").is_none(), "no HSTS over plain HTTP");
        assert!(api.headers().get("content-security-policy").is_none());
        let docs = app.get("/docs").await;
        let csp = docs.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"), "{csp}");
        let problem = app.get("/v1/nothing-here").await;
        assert_eq!(problem.status(), 404);
        assert_eq!(problem.headers()["x-content-type-options"], "nosniff");
    }
}
