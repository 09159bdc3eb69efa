//! Job-queue throughput: enqueue N no-op jobs, start W competing worker instances, and time how
//! long until every job has run. Run by `bench/jobs.sh`; prints one JSON line.
//!
//!   cargo run --release -p keel --example job_throughput -- --workers 4 --jobs 5000 [--database-url postgres://…]

use keel::config::Config;
use keel_services::jobs::{JobSpec, enqueue};
use keel_worker::{Registry, Worker, WorkerConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let workers: usize = arg("--workers").map_or(Ok(1), |v| v.parse())?;
    let jobs: u64 = arg("--jobs").map_or(Ok(5000), |v| v.parse())?;
    let concurrency: usize = arg("--concurrency").map_or(Ok(4), |v| v.parse())?;
    let dir = tempfile::tempdir()?;
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        database_url: arg("--database-url"),
        db_max_connections: 16,
        ..Config::default()
    };
    let services = keel::app::open(&config).await?;

    let enqueue_started = Instant::now();
    for chunk in 0..jobs.div_ceil(500) {
        let mut tx = services.db.begin().await?;
        for n in chunk * 500..((chunk + 1) * 500).min(jobs) {
            enqueue(&mut tx.conn(), JobSpec::new("noop", serde_json::json!({ "n": n }))).await?;
        }
        tx.commit().await?;
    }
    let enqueue_secs = enqueue_started.elapsed().as_secs_f64();

    let done = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(tokio::sync::Notify::new());
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let (done, finished) = (done.clone(), finished.clone());
        let registry =
            Registry::new().queue("default", concurrency, Duration::from_secs(60)).handle("noop", move |_| {
                let (done, finished) = (done.clone(), finished.clone());
                async move {
                    if done.fetch_add(1, Ordering::SeqCst) + 1 == jobs {
                        finished.notify_one();
                    }
                    Ok(())
                }
            });
        let config = WorkerConfig { id: format!("bench-{w}"), ..WorkerConfig::default() };
        handles.push(Worker::start(services.db.clone(), registry, config).await?);
    }
    tokio::time::timeout(Duration::from_secs(600), finished.notified()).await?;
    let run_secs = started.elapsed().as_secs_f64();
    for h in handles {
        h.shutdown().await;
    }
    println!(
        "{}",
        serde_json::json!({
            "engine": services.db.engine().as_str(),
            "workers": workers,
            "concurrency_per_worker": concurrency,
            "jobs": jobs,
            "enqueue_per_sec": (jobs as f64 / enqueue_secs).round(),
            "jobs_per_sec": (jobs as f64 / run_secs).round(),
        })
    );
    services.db.close().await;
    Ok(())
}
