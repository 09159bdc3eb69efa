//! Email through the job queue to a real SMTP server (a minimal sink run by the test, speaking
//! SMTP over TCP), and the embedded default that writes `.eml` files.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::SmtpSink;
use keel_services::mail::{Template, send_later};
use std::time::{Duration, Instant};

fn fast_worker() -> keel_worker::WorkerConfig {
    keel_worker::WorkerConfig {
        id: "mail-test".into(),
        poll_interval: Duration::from_millis(200),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        shutdown_grace: Duration::from_millis(200),
        ..keel_worker::WorkerConfig::default()
    }
}

fn order_data() -> serde_json::Value {
    serde_json::json!({"name": "Ada", "order_number": "1042", "total": "$54.00",
        "lines": [{"title": "Linen Shirt", "quantity": 2, "total": "$49.00"}]})
}

backend_tests! {
    #[demo = false]
    async fn an_order_confirmation_reaches_the_smtp_server(app) {
        let sink = SmtpSink::start().await;
        let config = keel::config::Config { smtp_url: Some(format!("smtp://127.0.0.1:{}", sink.port)), ..app.config.clone() };
        let worker = keel_worker::Worker::start(app.services.db.clone(), keel::app::worker_registry(&app.services, &config).unwrap(), fast_worker()).await.unwrap();

        let mut tx = app.services.db.begin().await.unwrap();
        send_later(&mut tx.conn(), "ada@example.com", Template::OrderConfirmation, order_data(), Some("order-confirmation:1042".into())).await.unwrap();
        // The same use case retried does not mail twice.
        send_later(&mut tx.conn(), "ada@example.com", Template::OrderConfirmation, order_data(), Some("order-confirmation:1042".into())).await.unwrap();
        tx.commit().await.unwrap();

        let message = sink.wait_for_message().await;
        worker.shutdown().await;
        assert!(message.contains("Subject: Order 1042 confirmed"), "{message}");
        assert!(message.contains("To: ada@example.com"), "{message}");
        assert!(message.contains("From: Keel <no-reply@keel.localhost>"), "{message}");
        assert!(message.contains("multipart/alternative"), "{message}");
        assert!(message.contains("Content-Type: text/plain"), "{message}");
        assert!(message.contains("Content-Type: text/html"), "{message}");
        assert!(message.matches("Linen Shirt").count() >= 2, "the line is in both parts: {message}");
        assert_eq!(sink.messages.lock().unwrap().len(), 1, "one message for one unique key");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_mail_is_written_as_eml_files() {
    let db = common::Database::create(common::Backend::Sqlite).await.unwrap();
    let app = common::TestApp::spawn(&db, common::Backend::Sqlite, false).await;
    let worker = keel_worker::Worker::start(
        app.services.db.clone(),
        keel::app::worker_registry(&app.services, &db.config).unwrap(),
        fast_worker(),
    )
    .await
    .unwrap();
    let mut tx = app.services.db.begin().await.unwrap();
    send_later(&mut tx.conn(), "grace@example.com", Template::Welcome, serde_json::json!({"name": "Grace"}), None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let dir = db.config.data_dir.join("mail");
    let until = Instant::now() + Duration::from_secs(30);
    let file = loop {
        if let Some(entry) = std::fs::read_dir(&dir).ok().and_then(|mut d| d.next()) {
            break entry.unwrap().path();
        }
        assert!(Instant::now() < until, "no .eml file was written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    worker.shutdown().await;
    app.stop().await;
    assert_eq!(file.extension().unwrap(), "eml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("Subject: Welcome!") && text.contains("To: grace@example.com"), "{text}");
}
