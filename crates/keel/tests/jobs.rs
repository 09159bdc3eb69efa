//! The job queue's contract, proven on SQLite and on PostgreSQL with real worker loops: every job
//! runs, none runs twice at once, priorities and schedules are kept, failures retry with backoff
//! and end in the dead-letter state, unique keys deduplicate, a dead worker's job is taken over,
//! and shutdown gives back what is still running.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use keel_services::jobs::{JobSpec, enqueue};
use keel_worker::{JobError, Registry, Worker, WorkerConfig};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What handlers saw, and a signal on each change.
#[derive(Default)]
struct Recorder {
    runs: Mutex<Vec<Run>>,
    changed: Notify,
}

#[derive(Debug, Clone)]
struct Run {
    payload: serde_json::Value,
    attempt: i32,
    at: Instant,
}

impl Recorder {
    fn record(&self, payload: serde_json::Value, attempt: i32) {
        self.runs.lock().unwrap().push(Run { payload, attempt, at: Instant::now() });
        self.changed.notify_waiters();
    }

    fn runs(&self) -> Vec<Run> {
        self.runs.lock().unwrap().clone()
    }

    /// Waits until `cond` holds over the runs, failing after `deadline`.
    async fn wait_for(&self, deadline: Duration, what: &str, cond: impl Fn(&[Run]) -> bool) {
        let until = Instant::now() + deadline;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if cond(&self.runs.lock().unwrap()) {
                return;
            }
            let left =
                until.checked_duration_since(Instant::now()).unwrap_or_else(|| panic!("timed out waiting for {what}"));
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

/// Polls the database until `cond` holds for the job's state, failing after `deadline`.
async fn wait_for_job(
    app: &common::TestApp,
    id: keel_domain::JobId,
    deadline: Duration,
    cond: impl Fn(&keel_services::jobs::Job) -> bool,
) -> keel_services::jobs::Job {
    let until = Instant::now() + deadline;
    loop {
        let job = app.services.jobs.get(id).await.unwrap();
        if cond(&job) {
            return job;
        }
        assert!(Instant::now() < until, "job never reached the expected state: {job:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn fast(id: &str) -> WorkerConfig {
    WorkerConfig {
        id: id.to_string(),
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(200),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        shutdown_grace: Duration::from_millis(100),
    }
}

fn recording(recorder: &Arc<Recorder>, kind: &str, concurrency: usize) -> Registry {
    let r = recorder.clone();
    Registry::new().queue("default", concurrency, Duration::from_secs(10)).handle(kind, move |ctx| {
        let r = r.clone();
        async move {
            r.record(ctx.payload, ctx.attempt);
            Ok(())
        }
    })
}

async fn enqueue_all(app: &common::TestApp, specs: Vec<JobSpec>) -> Vec<Option<keel_domain::JobId>> {
    let mut tx = app.services.db.begin().await.unwrap();
    let mut ids = Vec::new();
    for spec in specs {
        ids.push(enqueue(&mut tx.conn(), spec).await.unwrap());
    }
    tx.commit().await.unwrap();
    ids
}

backend_tests! {
    #[demo = false]
    async fn every_job_runs_once_across_competing_workers(app) {
        let recorder = Arc::new(Recorder::default());
        let mut workers = Vec::new();
        for w in 0..4 {
            workers.push(Worker::start(app.services.db.clone(), recording(&recorder, "count", 4), fast(&format!("w{w}"))).await.unwrap());
        }
        let total = 200;
        enqueue_all(app, (0..total).map(|n| JobSpec::new("count", json!({"n": n}))).collect()).await;
        recorder.wait_for(Duration::from_secs(60), "every job to run", |runs| runs.len() >= total).await;
        // Let the queue settle: every job completed, none left pending or running.
        let until = Instant::now() + Duration::from_secs(30);
        while app.services.jobs.depth().await.unwrap().iter().any(|d| d.count > 0) {
            assert!(Instant::now() < until, "jobs left in the queue");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for w in workers {
            w.shutdown().await;
        }
        let mut seen: Vec<i64> = recorder.runs().iter().map(|r| r.payload["n"].as_i64().unwrap()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..total as i64).collect::<Vec<_>>(), "each job exactly once");
    }

    #[demo = false]
    async fn priorities_first_and_scheduled_jobs_not_before_their_time(app) {
        let recorder = Arc::new(Recorder::default());
        let due_at = keel_services::now() + chrono::Duration::milliseconds(400);
        let enqueued = Instant::now();
        enqueue_all(app, vec![
            JobSpec::new("p", json!({"name": "low-1"})),
            JobSpec::new("p", json!({"name": "low-2"})),
            JobSpec::new("p", json!({"name": "later"})).run_at(due_at).priority(100),
            JobSpec::new("p", json!({"name": "high"})).priority(10),
        ]).await;
        let worker = Worker::start(app.services.db.clone(), recording(&recorder, "p", 1), fast("solo")).await.unwrap();
        recorder.wait_for(Duration::from_secs(20), "four runs", |runs| runs.len() == 4).await;
        worker.shutdown().await;
        let runs = recorder.runs();
        let order: Vec<&str> = runs.iter().map(|r| r.payload["name"].as_str().unwrap()).collect();
        assert_eq!(order, ["high", "low-1", "low-2", "later"]);
        assert!(runs[3].at.duration_since(enqueued) >= Duration::from_millis(390), "the scheduled job ran early");
    }

    #[demo = false]
    async fn failures_retry_with_backoff_then_dead_letter_and_can_be_retried(app) {
        let recorder = Arc::new(Recorder::default());
        let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (r, h) = (recorder.clone(), healthy.clone());
        let registry = Registry::new().queue("default", 2, Duration::from_secs(10)).handle("flaky", move |ctx| {
            let (r, h) = (r.clone(), h.clone());
            async move {
                r.record(ctx.payload, ctx.attempt);
                if h.load(std::sync::atomic::Ordering::SeqCst) { Ok(()) } else { Err(JobError("provider said no".into())) }
            }
        });
        let worker = Worker::start(app.services.db.clone(), registry, fast("retrier")).await.unwrap();
        let id = enqueue_all(app, vec![JobSpec::new("flaky", json!({})).max_attempts(3)]).await[0].unwrap();
        let dead = wait_for_job(app, id, Duration::from_secs(20), |j| j.state == "dead").await;
        assert_eq!(dead.attempts, 3);
        assert_eq!(dead.last_error.as_deref(), Some("provider said no"));
        let runs = recorder.runs();
        assert_eq!(runs.iter().map(|r| r.attempt).collect::<Vec<_>>(), [1, 2, 3]);
        // Backoff: 20 ms then 40 ms nominal, each at least 75% of that.
        assert!(runs[1].at - runs[0].at >= Duration::from_millis(15));
        assert!(runs[2].at - runs[1].at >= Duration::from_millis(30));

        // An operator retries the dead job once the cause is fixed.
        healthy.store(true, std::sync::atomic::Ordering::SeqCst);
        let retried = app.services.jobs.retry(id).await.unwrap();
        assert_eq!(retried.state, "pending");
        assert_eq!(retried.attempts, 0);
        let done = wait_for_job(app, id, Duration::from_secs(20), |j| j.state == "completed").await;
        assert_eq!(done.attempts, 1);
        worker.shutdown().await;
        assert!(app.services.jobs.retry(id).await.is_err(), "a completed job is not retried");
    }

    #[demo = false]
    async fn unique_keys_deduplicate_live_jobs(app) {
        let ids = enqueue_all(app, vec![
            JobSpec::new("u", json!({"n": 1})).unique_key("reindex:catalog"),
            JobSpec::new("u", json!({"n": 2})).unique_key("reindex:catalog"),
        ]).await;
        assert!(ids[0].is_some());
        assert!(ids[1].is_none(), "a second live job with the same key is not enqueued");
        let recorder = Arc::new(Recorder::default());
        let worker = Worker::start(app.services.db.clone(), recording(&recorder, "u", 1), fast("u")).await.unwrap();
        wait_for_job(app, ids[0].unwrap(), Duration::from_secs(20), |j| j.state == "completed").await;
        let again = enqueue_all(app, vec![JobSpec::new("u", json!({"n": 3})).unique_key("reindex:catalog")]).await;
        assert!(again[0].is_some(), "once the job is done the key is free again");
        recorder.wait_for(Duration::from_secs(20), "the second job", |runs| runs.len() == 2).await;
        worker.shutdown().await;
    }

    #[demo = false]
    async fn a_dead_workers_job_is_taken_over_after_its_lease(app) {
        let id = enqueue_all(app, vec![JobSpec::new("t", json!({"order": "ord_1"}))]).await[0].unwrap();
        // A worker claims the job and dies: its lease (already in the past here) is never renewed.
        let now = keel_services::now();
        let mut tx = app.services.db.begin().await.unwrap();
        let claimed = keel_store::jobs::claim(&mut tx.conn(), "default", "ghost", 10, now, now - chrono::Duration::seconds(1)).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(claimed.len(), 1);

        let recorder = Arc::new(Recorder::default());
        let worker = Worker::start(app.services.db.clone(), recording(&recorder, "t", 1), fast("heir")).await.unwrap();
        let done = wait_for_job(app, id, Duration::from_secs(20), |j| j.state == "completed").await;
        worker.shutdown().await;
        assert_eq!(done.attempts, 2, "the lost run counts as an attempt");
        assert_eq!(recorder.runs().len(), 1);
        assert_eq!(recorder.runs()[0].attempt, 2);
    }

    #[demo = false]
    async fn timeouts_fail_a_run_and_shutdown_gives_running_jobs_back(app) {
        let started = Arc::new(Notify::new());
        let s = started.clone();
        let registry = Registry::new()
            .queue("default", 1, Duration::from_secs(60))
            .queue("slow", 1, Duration::from_millis(50))
            .handle("hang", move |_| {
                let s = s.clone();
                async move {
                    s.notify_one();
                    std::future::pending::<()>().await;
                    Ok(())
                }
            });
        let worker = Worker::start(app.services.db.clone(), registry, fast("quitter")).await.unwrap();
        let ids = enqueue_all(app, vec![
            JobSpec::new("hang", json!({})).queue("slow").max_attempts(1),
            JobSpec::new("hang", json!({})),
        ]).await;
        let timed_out = wait_for_job(app, ids[0].unwrap(), Duration::from_secs(20), |j| j.state == "dead").await;
        assert!(timed_out.last_error.unwrap().contains("timed out"));

        let hanging = ids[1].unwrap();
        wait_for_job(app, hanging, Duration::from_secs(20), |j| j.state == "running").await;
        worker.shutdown().await;
        let given_back = app.services.jobs.get(hanging).await.unwrap();
        assert_eq!(given_back.state, "pending", "{given_back:?}");
        assert_eq!(given_back.attempts, 0, "a run cut short by shutdown is not counted");
        assert!(given_back.locked_by.is_none());
        let _ = started;
    }
}

mod admin_api {
    use super::*;
    use reqwest::Method;

    backend_tests! {
        #[demo = false]
        async fn operators_see_the_dead_letter_queue_and_retry_or_discard(app) {
            let registry = Registry::new().queue("mail", 1, Duration::from_secs(5)).handle("smtp", |_| async { Err(JobError("connection refused".into())) });
            let worker = Worker::start(app.services.db.clone(), registry, fast("mailer")).await.unwrap();
            let ids = enqueue_all(app, vec![
                JobSpec::new("smtp", json!({"to": "a@example.com"})).queue("mail").max_attempts(1),
                JobSpec::new("smtp", json!({})).queue("later").run_at(keel_services::now() + chrono::Duration::hours(1)),
            ]).await;
            let dead = ids[0].unwrap();
            wait_for_job(app, dead, Duration::from_secs(20), |j| j.state == "dead").await;
            worker.shutdown().await;

            let (status, page) = app.admin_json(Method::GET, "/v1/admin/jobs?state=dead", None).await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["data"].as_array().unwrap().len(), 1);
            assert_eq!(page["data"][0]["id"], dead.to_string());
            assert_eq!(page["data"][0]["last_error"], "connection refused");
            let (status, _) = app.admin_json(Method::GET, "/v1/admin/jobs?state=zombie", None).await;
            assert_eq!(status, 422);

            let metrics = app.get("/metrics").await.text().await.unwrap();
            assert!(metrics.contains(r#"jobs_queue_depth{queue="mail",state="dead"} 1"#), "{metrics}");

            let reader = app.create_key(&["jobs:read"]).await;
            let refused = app.http.post(app.url(&format!("/v1/admin/jobs/{dead}/retry"))).bearer_auth(&reader).send().await.unwrap();
            assert_eq!(refused.status(), 403);

            let (status, job) = app.admin_json(Method::POST, &format!("/v1/admin/jobs/{dead}/retry"), None).await;
            assert_eq!(status, 200, "{job}");
            assert_eq!(job["state"], "pending");
            let (status, job) = app.admin_json(Method::POST, &format!("/v1/admin/jobs/{dead}/discard"), None).await;
            assert_eq!(status, 200, "{job}");
            assert_eq!(job["state"], "discarded");
            let (status, problem) = app.admin_json(Method::POST, &format!("/v1/admin/jobs/{dead}/discard"), None).await;
            assert_eq!(status, 409);
            assert_eq!(problem["code"], "job_not_discardable");

            let (_, all) = app.admin_json(Method::GET, "/v1/admin/jobs?limit=1", None).await;
            let cursor = all["next_cursor"].as_str().unwrap();
            let (_, rest) = app.admin_json(Method::GET, &format!("/v1/admin/jobs?limit=1&cursor={cursor}"), None).await;
            assert_eq!(rest["data"].as_array().unwrap().len(), 1);
            assert_ne!(rest["data"][0]["id"], all["data"][0]["id"]);
            let (status, _) = app.admin_json(Method::GET, "/v1/admin/jobs/job_01m882rvxcewhv1k4che3z9z31", None).await;
            assert_eq!(status, 404);
        }
    }
}

mod schedules {
    use super::*;
    use keel_domain::schedule::Cron;

    fn scheduled(recorder: &Arc<Recorder>) -> Registry {
        recording(recorder, "report", 2).schedule(
            "nightly-report",
            Cron::parse("0 3 * * *").unwrap(),
            JobSpec::new("report", json!({})),
        )
    }

    async fn make_due(app: &common::TestApp) {
        let now = keel_services::now();
        let mut tx = app.services.db.begin().await.unwrap();
        assert!(
            keel_store::schedules::set_next_run(
                &mut tx.conn(),
                "nightly-report",
                now - chrono::Duration::minutes(5),
                now
            )
            .await
            .unwrap()
        );
        tx.commit().await.unwrap();
    }

    backend_tests! {
        #[demo = false]
        async fn a_schedule_fires_once_per_period_however_many_workers_run(app) {
            let recorder = Arc::new(Recorder::default());
            // The first worker registers the schedule (next due at 03:00).
            Worker::start(app.services.db.clone(), scheduled(&recorder), fast("registrar")).await.unwrap().shutdown().await;
            for period in 1..=2 {
                // The period comes due, as if the clock had reached it, and four workers start
                // at once: each one's first pass finds the schedule due, and they race for it.
                make_due(app).await;
                let mut starting = tokio::task::JoinSet::new();
                for w in 0..4 {
                    let registry = scheduled(&recorder);
                    let db = app.services.db.clone();
                    starting.spawn(async move { Worker::start(db, registry, fast(&format!("p{period}w{w}"))).await.unwrap() });
                }
                let workers = starting.join_all().await;
                recorder.wait_for(Duration::from_secs(20), "the period's run", |runs| runs.len() == period).await;
                for w in workers {
                    w.shutdown().await;
                }
                assert_eq!(recorder.runs().len(), period, "exactly one run per period");
            }

            let (_, jobs) = app.admin_json(reqwest::Method::GET, "/v1/admin/jobs?limit=100", None).await;
            let fired = jobs["data"].as_array().unwrap().iter().filter(|j| j["kind"] == "report").count();
            assert_eq!(fired, 2, "one job per period: {jobs}");
            let mut conn = app.services.db.read().await.unwrap();
            let row = keel_store::schedules::find(&mut conn.conn(), "nightly-report").await.unwrap().unwrap();
            assert!(row.next_run_at > keel_services::now(), "advanced to the next 03:00");
        }
    }
}
