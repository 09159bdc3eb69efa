//! Background jobs: what a use case calls to get slow or external work done reliably.
//!
//! [`JobSpec`] describes a job; [`enqueue`] writes it in the caller's transaction, so the job
//! exists if and only if the change that asked for it committed. Workers (the `keel-worker`
//! crate) run jobs at least once; a handler must therefore be idempotent in effect. The admin
//! side (list, inspect, retry or discard dead jobs) lives here too.

use crate::{Result, ServiceError, now};
use chrono::{DateTime, Utc};
use keel_domain::JobId;
use keel_store::jobs::{self as repo, JobRow, NewJob};
use keel_store::{Conn, Db};
use serde::Serialize;

pub const DEFAULT_QUEUE: &str = "default";
pub const DEFAULT_MAX_ATTEMPTS: i32 = 8;

/// A job to enqueue: a kind (which handler runs it), a JSON payload, and how to schedule it.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub kind: String,
    pub payload: serde_json::Value,
    pub queue: String,
    pub priority: i32,
    pub run_at: Option<DateTime<Utc>>,
    pub max_attempts: i32,
    pub unique_key: Option<String>,
}

impl JobSpec {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        JobSpec {
            kind: kind.into(),
            payload,
            queue: DEFAULT_QUEUE.into(),
            priority: 0,
            run_at: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            unique_key: None,
        }
    }

    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Higher runs first among due jobs of a queue.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Not before this time.
    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    /// Attempts before the job is dead-lettered (at least 1).
    pub fn max_attempts(mut self, attempts: i32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// While a job with this key is pending or running, enqueuing another is a no-op.
    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }
}

impl JobSpec {
    /// The row to store for this spec, created at `at` (due then unless scheduled later).
    pub fn into_record(self, at: DateTime<Utc>) -> NewJob {
        NewJob {
            id: JobId::new(),
            queue: self.queue,
            kind: self.kind,
            payload: self.payload,
            priority: self.priority,
            run_at: self.run_at.unwrap_or(at),
            max_attempts: self.max_attempts,
            unique_key: self.unique_key,
            created_at: at,
            traceparent: keel_platform::trace::current(),
        }
    }
}

/// Enqueues `spec` inside the caller's transaction. `None` when its unique key is taken.
pub async fn enqueue(c: &mut Conn<'_>, spec: JobSpec) -> Result<Option<JobId>> {
    let job = spec.into_record(now());
    Ok(repo::enqueue(c, &job).await?.then_some(job.id))
}

/// A job as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: JobId,
    pub queue: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub priority: i32,
    /// `pending`, `running`, `completed`, `dead` or `discarded`.
    pub state: String,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub unique_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The trace this job belongs to (the request that enqueued it), when traces are exported.
    pub trace_id: Option<String>,
}

impl TryFrom<JobRow> for Job {
    type Error = ServiceError;
    fn try_from(r: JobRow) -> Result<Job> {
        Ok(Job {
            id: r.job_id()?,
            queue: r.queue,
            kind: r.kind,
            payload: r.payload.0,
            priority: r.priority,
            state: r.state,
            run_at: r.run_at,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            last_error: r.last_error,
            locked_by: r.locked_by,
            locked_until: r.locked_until,
            unique_key: r.unique_key,
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
            trace_id: r.traceparent.as_deref().and_then(keel_platform::trace::trace_id_of).map(str::to_string),
        })
    }
}

/// Jobs per queue and state, for metrics and dashboards.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueDepth {
    pub queue: String,
    pub state: String,
    pub count: i64,
}

#[derive(Clone)]
pub struct JobService {
    db: Db,
}

impl JobService {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Enqueues in a transaction of its own (when there is no surrounding change).
    pub async fn enqueue_now(&self, spec: JobSpec) -> Result<Option<JobId>> {
        let mut tx = self.db.begin().await?;
        let id = enqueue(&mut tx.conn(), spec).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn get(&self, id: JobId) -> Result<Job> {
        let mut conn = self.db.read().await?;
        repo::find(&mut conn.conn(), id).await?.ok_or(ServiceError::NotFound { entity: "job" })?.try_into()
    }

    /// Newest first; `before` is the last id of the previous page.
    pub async fn list(
        &self,
        state: Option<&str>,
        queue: Option<&str>,
        before: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<Job>> {
        if let Some(s) = state
            && ![repo::PENDING, repo::RUNNING, repo::COMPLETED, repo::DEAD, repo::DISCARDED].contains(&s)
        {
            return Err(ServiceError::invalid("state", "must be pending, running, completed, dead or discarded"));
        }
        let mut conn = self.db.read().await?;
        let rows = repo::list(&mut conn.conn(), state, queue, before, u64::from(limit)).await?;
        rows.into_iter().map(Job::try_from).collect()
    }

    /// Puts a dead or discarded job back in its queue with fresh attempts.
    pub async fn retry(&self, id: JobId) -> Result<Job> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let job = repo::find(&mut c, id).await?.ok_or(ServiceError::NotFound { entity: "job" })?;
        if !repo::retry(&mut c, id, now()).await? {
            return Err(ServiceError::Conflict {
                code: "job_not_retryable",
                field: "state",
                message: format!("only dead or discarded jobs can be retried; this one is {}", job.state),
            });
        }
        let job = repo::find(&mut c, id).await?.ok_or(ServiceError::NotFound { entity: "job" })?;
        tx.commit().await?;
        job.try_into()
    }

    /// Discards a dead or pending job so it never runs.
    pub async fn discard(&self, id: JobId) -> Result<Job> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let job = repo::find(&mut c, id).await?.ok_or(ServiceError::NotFound { entity: "job" })?;
        if !repo::discard(&mut c, id, now()).await? {
            return Err(ServiceError::Conflict {
                code: "job_not_discardable",
                field: "state",
                message: format!("only dead or pending jobs can be discarded; this one is {}", job.state),
            });
        }
        let job = repo::find(&mut c, id).await?.ok_or(ServiceError::NotFound { entity: "job" })?;
        tx.commit().await?;
        job.try_into()
    }

    /// Events waiting in the outbox, and when the oldest of them occurred (the relay's lag).
    pub async fn outbox_lag(&self) -> Result<(i64, Option<DateTime<Utc>>)> {
        let mut conn = self.db.read().await?;
        let waiting = keel_store::outbox::unpublished_count(&mut conn.conn()).await?;
        let oldest = if waiting > 0 { keel_store::outbox::oldest_unpublished(&mut conn.conn()).await? } else { None };
        Ok((waiting, oldest))
    }

    pub async fn depth(&self) -> Result<Vec<QueueDepth>> {
        let mut conn = self.db.read().await?;
        Ok(repo::depth(&mut conn.conn())
            .await?
            .into_iter()
            .map(|d| QueueDepth { queue: d.queue, state: d.state, count: d.count })
            .collect())
    }
}
