//! Invoice PDFs rendered by a job and read back with a real PDF text extractor (`pdftotext`).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use keel_domain::{Currency, Money};
use keel_services::documents::{Invoice, InvoiceLine, invoice_key, render_invoice_later};
use std::time::{Duration, Instant};

fn invoice() -> Invoice {
    let eur = |a| Money::new(a, Currency::EUR);
    Invoice {
        number: "INV-2026-1042".into(),
        issued_on: "2026-11-25".into(),
        seller: vec!["Keel Demo Shop".into(), "1 Harbour Street".into(), "Lisboa, Portugal".into()],
        bill_to: vec!["Ada Lovelace".into(), "12 Analytical Row".into(), "London".into()],
        ship_to: vec!["Ada Lovelace".into(), "12 Analytical Row".into(), "London".into()],
        lines: vec![
            InvoiceLine {
                description: "Linen Shirt — M / Sky".into(),
                sku: "LINEN-M-SKY".into(),
                quantity: 2,
                unit_price: eur(4500),
                total: eur(9000),
            },
            InvoiceLine {
                description: "Enamel Mug → Blue".into(),
                sku: "ENAMEL-MUG-STD".into(),
                quantity: 1,
                unit_price: eur(1800),
                total: eur(1800),
            },
        ],
        subtotal: eur(10800),
        discount: eur(1000),
        shipping: eur(495),
        taxes: vec![("VAT 23% (included)".into(), eur(1925))],
        total: eur(10295),
    }
}

backend_tests! {
    #[demo = false]
    async fn an_invoice_job_stores_a_pdf_with_its_number_and_totals(app) {
        let Some(pdftotext) = ["/usr/bin/pdftotext", "/usr/local/bin/pdftotext"].into_iter().find(|p| std::path::Path::new(p).exists()) else {
            assert!(!common::in_ci(), "CI=true but pdftotext is not installed (apt-get install poppler-utils)");
            eprintln!("PDF text check NOT RUN: pdftotext is not installed");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let config = keel::config::Config { data_dir: dir.path().to_path_buf(), ..keel::config::Config::default() };
        let worker_config = keel_worker::WorkerConfig { poll_interval: Duration::from_millis(200), ..keel_worker::WorkerConfig::default() };
        let worker = keel_worker::Worker::start(app.services.db.clone(), keel::app::worker_registry(&app.services, &config).unwrap(), worker_config).await.unwrap();
        let mut tx = app.services.db.begin().await.unwrap();
        render_invoice_later(&mut tx.conn(), &invoice()).await.unwrap();
        tx.commit().await.unwrap();

        let store = keel::app::file_store(&config);
        let key = invoice_key("INV-2026-1042");
        let until = Instant::now() + Duration::from_secs(30);
        let pdf = loop {
            if let Some(bytes) = store.get(&key).await.unwrap() {
                break bytes;
            }
            assert!(Instant::now() < until, "the invoice was not rendered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        worker.shutdown().await;
        assert!(pdf.starts_with(b"%PDF-"));
        let path = dir.path().join("invoice.pdf");
        if let Ok(copy) = std::env::var("KEEL_KEEP_INVOICE") {
            std::fs::write(copy, &pdf).unwrap();
        }
        std::fs::write(&path, &pdf).unwrap();
        let out = std::process::Command::new(pdftotext).args(["-layout"]).arg(&path).arg("-").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        for expected in ["INVOICE", "INV-2026-1042", "Ada Lovelace", "LINEN-M-SKY", "90.00 EUR", "108.00 EUR", "-10.00 EUR", "4.95 EUR", "VAT 23% (included)", "19.25 EUR", "102.95 EUR"] {
            assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
        }
        assert!(text.contains("Linen Shirt — M / Sky"), "typographic dashes are in WinAnsi:\n{text}");
        assert!(text.contains("Enamel Mug ? Blue"), "characters outside WinAnsi print as '?':\n{text}");
    }
}
