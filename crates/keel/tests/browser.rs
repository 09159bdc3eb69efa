//! The admin panel and the demo storefront in a real browser: `e2e/run.mjs` (Playwright driving
//! Debian's Chromium) against the real `keel` binary with the demo catalog, the embedded payment
//! simulator and an SMTP server that keeps what it receives.
//!
//! Needs Node.js, `npm ci --prefix e2e` and Chromium: without them the test says `NOT RUN`, and
//! under `CI=true` it fails instead.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::process::{Lines, Reaped, keel};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e")
}

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists())
}

fn create_staff(dir: &Path, email: &str, password: &str, role: &str) {
    let out = keel()
        .current_dir(dir)
        .env("KEEL_DEMO_SEED", "false")
        .args(["user", "create", "--email", email, "--password", password, "--role", role])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopper_staff_and_read_only_journeys_in_headless_chromium() {
    let (Some(browser), true) = (chromium(), e2e_dir().join("node_modules/playwright-core").exists()) else {
        assert!(
            !common::in_ci(),
            "CI=true but the browser tests cannot run: install chromium and `npm ci --prefix e2e`"
        );
        eprintln!("browser tests NOT RUN: install chromium and run `npm ci --prefix e2e`");
        return;
    };
    let sink = common::SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (staff, reader, password) = ("owner@example.com", "reader@example.com", "a long staff passphrase");
    // The staff members first (the database is created by the first command to open it).
    create_staff(dir.path(), staff, password, "owner");
    create_staff(dir.path(), reader, password, "read_only");

    let mut node = Reaped(
        keel()
            .current_dir(dir.path())
            .env("KEEL_ADDR", "127.0.0.1:0")
            .env("KEEL_SMTP_URL", format!("smtp://127.0.0.1:{}", sink.port))
            // The walk-through signs in a few times from one address: no throttling here.
            .env("KEEL_RATE_LIMITS", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut output = Lines::of(node.0.stderr.take().unwrap());
    let base = format!("http://127.0.0.1:{}", output.serving_port());

    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-artifacts");
    let run = tokio::process::Command::new("node")
        .arg("--test-reporter=spec")
        .arg("--test")
        .arg(e2e_dir().join("run.mjs"))
        .env("KEEL_URL", &base)
        .env("STAFF_EMAIL", staff)
        .env("STAFF_PASSWORD", password)
        .env("READER_EMAIL", reader)
        .env("READER_PASSWORD", password)
        .env("CHROMIUM", browser)
        .env("ARTIFACTS", &artifacts)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), run).await.expect("the browser tests finish").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    println!("screenshots: {}", artifacts.display());
    assert!(out.status.success(), "the browser tests failed (output above)");

    // The shopper got the order confirmation by email.
    let expect = stdout.lines().find_map(|l| l.trim().strip_prefix("MAIL-EXPECT ")).expect("the shopper's order");
    let (email, number) = expect.split_once(' ').unwrap();
    let mail = sink.wait_for(|m| m.contains(email) && m.contains("confirmed") && m.contains(number)).await;
    assert!(mail.is_some(), "no confirmation of order {number} reached {email}");
    drop(node);
}
