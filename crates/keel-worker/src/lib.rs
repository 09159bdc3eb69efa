//! Keel's worker: runs background jobs from the database queue.
//!
//! A [`Registry`] maps job kinds to handlers and says which queues this worker serves, with a
//! concurrency limit and a timeout per queue. [`Worker::start`] runs one loop per queue:
//!
//! 1. hand jobs whose lease expired (their worker died) back to the queue;
//! 2. claim as many due jobs as there are free slots, leased to this worker;
//! 3. run each in its own task, renewing the lease while it runs, bounded by the queue timeout;
//! 4. record the outcome: completed, retried later with exponential backoff and jitter, or dead
//!    after its last attempt;
//! 5. when nothing is due, wait for a wake-up (PostgreSQL `LISTEN`, or a commit in this process)
//!    or the slow poll interval — never a busy poll.
//!
//! Delivery is at least once: a job whose worker dies mid-run runs again elsewhere, so handlers
//! must be idempotent in effect. On shutdown a worker stops claiming, lets running jobs finish
//! for a grace period, then gives back those still running.

pub mod relay;

use chrono::Utc;
use keel_domain::JobId;
use keel_domain::retry::backoff;
use keel_domain::schedule::Cron;
use keel_services::jobs::JobSpec;
use keel_store::Db;
use keel_store::jobs::{self as repo, JobRow};
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

/// What a handler gets: the job's identity, attempt number and payload.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub id: JobId,
    pub queue: String,
    pub kind: String,
    /// 1 on the first run.
    pub attempt: i32,
    pub payload: serde_json::Value,
}

/// A failed run. The message is stored on the job (`last_error`).
#[derive(Debug, Clone)]
pub struct JobError(pub String);

impl<E: std::fmt::Display> From<E> for JobError {
    fn from(err: E) -> Self {
        JobError(err.to_string())
    }
}

pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
type Handler = Arc<dyn Fn(JobContext) -> JobFuture + Send + Sync>;

/// How one queue is worked.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub name: String,
    /// Jobs of this queue running at once in this worker.
    pub concurrency: usize,
    /// A run taking longer fails (and is retried).
    pub timeout: Duration,
}

/// Handlers by job kind, the queues to serve, and recurring schedules.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
    queues: Vec<QueueConfig>,
    schedules: Vec<Schedule>,
}

/// A job enqueued once per period of a cron expression, however many workers run.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub cron: Cron,
    pub job: JobSpec,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `queue` with up to `concurrency` jobs at once, each bounded by `timeout`.
    pub fn queue(mut self, name: &str, concurrency: usize, timeout: Duration) -> Self {
        self.queues.retain(|q| q.name != name);
        self.queues.push(QueueConfig { name: name.to_string(), concurrency: concurrency.max(1), timeout });
        self
    }

    /// Enqueues `job` at every occurrence of `cron` (UTC). One worker fires each period; a period
    /// missed while no worker ran is fired once, late, not once per missed period.
    pub fn schedule(mut self, name: &str, cron: Cron, job: JobSpec) -> Self {
        self.schedules.retain(|s| s.name != name);
        self.schedules.push(Schedule { name: name.to_string(), cron, job });
        self
    }

    /// Runs jobs of `kind` with `handler`.
    pub fn handle<F, Fut>(mut self, kind: &str, handler: F) -> Self
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        self.handlers.insert(kind.to_string(), Arc::new(move |ctx| Box::pin(handler(ctx))));
        self
    }
}

/// Timing of a worker.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Identifies this worker in `locked_by` (host, process, a random part).
    pub id: String,
    /// How long a claimed job stays ours without a heartbeat.
    pub lease: Duration,
    /// The slow poll when no wake-up arrives.
    pub poll_interval: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long running jobs may finish after shutdown is asked for.
    pub shutdown_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            id: default_worker_id(),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(5),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// `hostname:pid:random`, unique among live workers.
pub fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    format!("{host}:{}:{:08x}", std::process::id(), rand::rng().random::<u32>())
}

struct Shared {
    db: Db,
    registry: Registry,
    config: WorkerConfig,
    /// Jobs this worker holds right now (to give back on a hard stop).
    held: Mutex<HashSet<JobId>>,
}

/// A running worker; [`WorkerHandle::shutdown`] stops it gracefully.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    loops: JoinSet<()>,
}

impl WorkerHandle {
    /// Stops claiming, lets running jobs finish within the grace period, gives back the rest.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.loops.join_next().await.is_some() {}
    }
}

pub struct Worker;

impl Worker {
    /// Starts one loop per queue of `registry`.
    pub async fn start(db: Db, registry: Registry, config: WorkerConfig) -> keel_store::Result<WorkerHandle> {
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared { db, registry, config, held: Mutex::new(HashSet::new()) });
        let mut loops = JoinSet::new();
        for queue in shared.registry.queues.clone() {
            let wakeups = shared.db.job_wakeups().await?;
            loops.spawn(run_queue(shared.clone(), queue, wakeups, stopped.clone()));
        }
        if !shared.registry.schedules.is_empty() {
            register_schedules(&shared).await?;
            loops.spawn(run_scheduler(shared.clone(), stopped.clone()));
        }
        tracing::info!(worker = %shared.config.id, queues = shared.registry.queues.len(), "worker started");
        Ok(WorkerHandle { stop, loops })
    }
}

async fn run_queue(
    shared: Arc<Shared>,
    queue: QueueConfig,
    mut wakeups: keel_store::JobWakeups,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(queue.concurrency));
    let mut running: JoinSet<()> = JoinSet::new();
    let mut last_recovery: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        while running.try_join_next().is_some() {}
        // Expired leases are rare; looking for them every few seconds is plenty.
        let recovery_due = last_recovery.is_none_or(|t| t.elapsed() >= shared.config.lease / 4);
        if recovery_due {
            last_recovery = Some(Instant::now());
            if let Err(err) = recover(&shared.db).await {
                tracing::warn!(%err, queue = %queue.name, "could not recover expired jobs");
            }
        }
        let free = slots.available_permits();
        let mut claimed = 0;
        if free > 0 {
            match claim(&shared, &queue.name, free).await {
                Ok(jobs) => {
                    claimed = jobs.len();
                    for job in jobs {
                        let Ok(permit) = slots.clone().try_acquire_owned() else { break };
                        let shared = shared.clone();
                        let timeout = queue.timeout;
                        let span = job_span(&job);
                        running.spawn(
                            async move {
                                run_job(&shared, job, timeout).await;
                                drop(permit);
                            }
                            .instrument(span),
                        );
                    }
                }
                Err(err) => tracing::warn!(%err, queue = %queue.name, "could not claim jobs"),
            }
        }
        if claimed > 0 && claimed == free {
            // Every slot is busy: wait for one to free (or for shutdown).
            tokio::select! {
                _ = running.join_next() => {}
                _ = stop.changed() => {}
            }
        } else if claimed == 0 {
            tokio::select! {
                () = wakeups.wait(shared.config.poll_interval) => {}
                _ = running.join_next(), if !running.is_empty() => {}
                _ = stop.changed() => {}
            }
        }
    }
    // Shutdown: no new claims; running jobs get the grace period, then are given back.
    let drained =
        tokio::time::timeout(shared.config.shutdown_grace, async { while running.join_next().await.is_some() {} })
            .await;
    if drained.is_err() {
        running.abort_all();
        while running.join_next().await.is_some() {}
        let held: Vec<JobId> = shared.held.lock().map(|h| h.iter().copied().collect()).unwrap_or_default();
        for id in held {
            if let Err(err) = release(&shared, id).await {
                tracing::warn!(%err, job_id = %id, "could not give back a job at shutdown; its lease will expire");
            }
        }
    }
}

async fn recover(db: &Db) -> keel_store::Result<()> {
    let mut tx = db.begin().await?;
    let n = repo::recover_expired(&mut tx.conn(), keel_services::now()).await?;
    tx.commit().await?;
    if n > 0 {
        tracing::warn!(jobs = n, "recovered jobs whose worker stopped");
        metrics::counter!("jobs_recovered_total").increment(n);
    }
    Ok(())
}

async fn claim(shared: &Shared, queue: &str, limit: usize) -> keel_store::Result<Vec<JobRow>> {
    let now = keel_services::now();
    let lease_until = now + chrono::Duration::from_std(shared.config.lease).unwrap_or(chrono::Duration::seconds(30));
    let mut tx = shared.db.begin().await?;
    let jobs = repo::claim(&mut tx.conn(), queue, &shared.config.id, limit as u64, now, lease_until).await?;
    tx.commit().await?;
    if let Ok(mut held) = shared.held.lock() {
        for job in &jobs {
            if let Ok(id) = job.job_id() {
                held.insert(id);
            }
        }
    }
    Ok(jobs)
}

async fn release(shared: &Shared, id: JobId) -> keel_store::Result<()> {
    let mut tx = shared.db.begin().await?;
    repo::release(&mut tx.conn(), id, &shared.config.id, keel_services::now()).await?;
    tx.commit().await
}

/// The span of one run of a job: part of the trace of the request that enqueued it.
fn job_span(job: &JobRow) -> tracing::Span {
    let span = tracing::info_span!(
        "job",
        otel.name = %format!("job {}", job.kind),
        otel.kind = "consumer",
        job_id = %job.id,
        kind = %job.kind,
        queue = %job.queue,
        attempt = job.attempts,
        trace_id = tracing::field::Empty,
    );
    keel_platform::trace::continue_trace(&span, job.traceparent.as_deref());
    span
}

async fn run_job(shared: &Arc<Shared>, job: JobRow, timeout: Duration) {
    let Ok(id) = job.job_id() else { return };
    let ctx = JobContext {
        id,
        queue: job.queue.clone(),
        kind: job.kind.clone(),
        attempt: job.attempts,
        payload: job.payload.0.clone(),
    };
    let started = Instant::now();
    let heartbeat = tokio::spawn(keep_lease(shared.clone(), id));
    let outcome = match shared.registry.handlers.get(&job.kind).cloned() {
        None => Err(JobError(format!("no handler for job kind {:?} in this worker", job.kind))),
        Some(handler) => match tokio::time::timeout(timeout, handler(ctx)).await {
            Ok(result) => result,
            Err(_) => Err(JobError(format!("timed out after {timeout:?}"))),
        },
    };
    heartbeat.abort();
    let elapsed = started.elapsed().as_secs_f64();
    let labels = [("queue", job.queue.clone()), ("kind", job.kind.clone())];
    let recorded = match &outcome {
        Ok(()) => {
            tracing::debug!(seconds = elapsed, "job completed");
            metrics::histogram!("jobs_run_duration_seconds", &labels).record(elapsed);
            metrics::counter!("jobs_completed_total", &labels).increment(1);
            finish(shared, id, None, None).await
        }
        Err(JobError(message)) => {
            metrics::counter!("jobs_failed_total", &labels).increment(1);
            let retry_at = (job.attempts < job.max_attempts).then(|| {
                let attempt = u32::try_from(job.attempts).unwrap_or(1);
                let wait = backoff(
                    attempt,
                    shared.config.backoff_base,
                    shared.config.backoff_max,
                    rand::rng().random::<f64>(),
                );
                Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60))
            });
            if retry_at.is_none() {
                tracing::error!(job_id = %id, kind = %job.kind, attempts = job.attempts, error = %message, "job is dead after its last attempt");
                metrics::counter!("jobs_dead_total", &labels).increment(1);
            } else {
                tracing::warn!(job_id = %id, kind = %job.kind, attempt = job.attempts, error = %message, "job failed; will retry");
            }
            finish(shared, id, Some(message.as_str()), retry_at).await
        }
    };
    match recorded {
        Ok(true) => {}
        Ok(false) => tracing::warn!(job_id = %id, "the job's lease was lost before its outcome was recorded"),
        Err(err) => tracing::error!(%err, job_id = %id, "could not record a job's outcome; its lease will expire"),
    }
    if let Ok(mut held) = shared.held.lock() {
        held.remove(&id);
    }
}

async fn finish(
    shared: &Shared,
    id: JobId,
    error: Option<&str>,
    retry_at: Option<chrono::DateTime<Utc>>,
) -> keel_store::Result<bool> {
    let now = keel_services::now();
    let mut tx = shared.db.begin().await?;
    let done = match error {
        None => repo::complete(&mut tx.conn(), id, &shared.config.id, now).await?,
        Some(message) => repo::fail(&mut tx.conn(), id, &shared.config.id, message, retry_at, now).await?,
    };
    tx.commit().await?;
    Ok(done)
}

/// Renews the lease every third of its length while the job runs.
async fn keep_lease(shared: Arc<Shared>, id: JobId) {
    let every = shared.config.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let until = keel_services::now()
            + chrono::Duration::from_std(shared.config.lease).unwrap_or(chrono::Duration::seconds(30));
        match renew(&shared, id, until).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job_id = %id, "lost the lease of a running job");
                return;
            }
            Err(err) => tracing::warn!(%err, job_id = %id, "could not renew a job's lease"),
        }
    }
}

async fn renew(shared: &Shared, id: JobId, until: chrono::DateTime<Utc>) -> keel_store::Result<bool> {
    let mut tx = shared.db.begin().await?;
    let ok = repo::heartbeat(&mut tx.conn(), id, &shared.config.id, until).await?;
    tx.commit().await?;
    Ok(ok)
}

/// Writes each schedule's row (a new or changed expression starts at its next occurrence).
async fn register_schedules(shared: &Shared) -> keel_store::Result<()> {
    let now = keel_services::now();
    let mut tx = shared.db.begin().await?;
    for s in &shared.registry.schedules {
        let next = s.cron.next_after(now).unwrap_or(now + chrono::Duration::days(365));
        keel_store::schedules::register(&mut tx.conn(), &s.name, s.cron.as_str(), next, now).await?;
    }
    tx.commit().await
}

/// Fires due schedules, then sleeps until the earliest next one (at most a minute, so schedules
/// changed by another node are noticed): no polling every second.
async fn run_scheduler(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let names: Vec<String> = shared.registry.schedules.iter().map(|s| s.name.clone()).collect();
    loop {
        if *stop.borrow() {
            return;
        }
        let wait = match fire_due(&shared, &names).await {
            Ok(Some(earliest)) => (earliest - keel_services::now()).to_std().unwrap_or(Duration::ZERO),
            Ok(None) => Duration::from_secs(60),
            Err(err) => {
                tracing::warn!(%err, "could not fire job schedules");
                shared.config.poll_interval
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait.min(Duration::from_secs(60))) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Fires every due schedule (advance + enqueue in one transaction); returns the earliest next time.
async fn fire_due(shared: &Shared, names: &[String]) -> keel_store::Result<Option<chrono::DateTime<Utc>>> {
    let now = keel_services::now();
    let mut tx = shared.db.begin().await?;
    let mut c = tx.conn();
    let mut earliest: Option<chrono::DateTime<Utc>> = None;
    for row in keel_store::schedules::list(&mut c, names).await? {
        let mut next_time = row.next_run_at;
        if row.next_run_at <= now
            && let Some(schedule) = shared.registry.schedules.iter().find(|s| s.name == row.name)
        {
            let next = schedule.cron.next_after(now).unwrap_or(now + chrono::Duration::days(365));
            if keel_store::schedules::advance(&mut c, &row.name, row.next_run_at, next, now).await? {
                let key = format!("schedule:{}:{}", row.name, row.next_run_at.timestamp());
                let job = schedule.job.clone().unique_key(key).into_record(now);
                keel_store::jobs::enqueue(&mut c, &job).await?;
                tracing::info!(schedule = %row.name, due = %row.next_run_at, "schedule fired");
            }
            next_time = next;
        }
        earliest = Some(earliest.map_or(next_time, |e| e.min(next_time)));
    }
    tx.commit().await?;
    Ok(earliest)
}
