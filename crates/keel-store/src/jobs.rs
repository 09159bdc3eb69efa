//! The job queue's table. Every state change is one conditional statement, so two workers can
//! never both own a job:
//!
//! - **claim**: pending and due → running, leased to one worker until `locked_until`. On
//!   PostgreSQL the candidates are picked `FOR UPDATE SKIP LOCKED`, so concurrent workers take
//!   different jobs without waiting on each other; SQLite has one writer at a time.
//! - **heartbeat** extends a lease; **complete**, **fail** and **release** end one — each only if
//!   the caller still holds it (`locked_by`), so a worker whose lease expired cannot overwrite the
//!   outcome of the worker that took the job over.
//! - **recover** hands jobs whose lease expired (their worker died) back to `pending`, or to
//!   `dead` when they are out of attempts.

use crate::{Conn, Result, StoreError};
use chrono::{DateTime, Utc};
use keel_domain::JobId;
use sea_query::{Expr, ExprTrait, Iden, LockBehavior, LockType, OnConflict, Order, Query, UpdateStatement};
use sqlx::types::Json;

#[derive(Iden, Clone, Copy)]
enum Jobs {
    Table,
    Id,
    Queue,
    Kind,
    Payload,
    Priority,
    State,
    RunAt,
    Attempts,
    MaxAttempts,
    LockedBy,
    LockedUntil,
    LastError,
    UniqueKey,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
    Traceparent,
}

pub const PENDING: &str = "pending";
pub const RUNNING: &str = "running";
pub const COMPLETED: &str = "completed";
pub const DEAD: &str = "dead";
pub const DISCARDED: &str = "discarded";

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: JobId,
    pub queue: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub priority: i32,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i32,
    /// While a job with this key is pending or running, enqueuing another is a no-op.
    pub unique_key: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The W3C trace context of the work that enqueued it: its run joins that trace.
    pub traceparent: Option<String>,
}

/// A job as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub queue: String,
    pub kind: String,
    pub payload: Json<serde_json::Value>,
    pub priority: i32,
    pub state: String,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub unique_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub traceparent: Option<String>,
}

impl JobRow {
    pub fn job_id(&self) -> Result<JobId> {
        JobId::parse(&self.id).map_err(|_| StoreError::Corrupt(format!("job id {:?}", self.id)))
    }
}

const ALL: [Jobs; 17] = [
    Jobs::Id,
    Jobs::Queue,
    Jobs::Kind,
    Jobs::Payload,
    Jobs::Priority,
    Jobs::State,
    Jobs::RunAt,
    Jobs::Attempts,
    Jobs::MaxAttempts,
    Jobs::LockedBy,
    Jobs::LockedUntil,
    Jobs::LastError,
    Jobs::UniqueKey,
    Jobs::CreatedAt,
    Jobs::UpdatedAt,
    Jobs::FinishedAt,
    Jobs::Traceparent,
];

/// Enqueues a job in the caller's transaction. Returns false when its unique key is held by a
/// live job (nothing is written then).
pub async fn enqueue(c: &mut Conn<'_>, job: &NewJob) -> Result<bool> {
    let stmt = Query::insert()
        .into_table(Jobs::Table)
        .columns([
            Jobs::Id,
            Jobs::Queue,
            Jobs::Kind,
            Jobs::Payload,
            Jobs::Priority,
            Jobs::State,
            Jobs::RunAt,
            Jobs::MaxAttempts,
            Jobs::UniqueKey,
            Jobs::CreatedAt,
            Jobs::UpdatedAt,
            Jobs::Traceparent,
        ])
        .values_panic([
            job.id.to_string().into(),
            job.queue.clone().into(),
            job.kind.clone().into(),
            job.payload.clone().into(),
            job.priority.into(),
            PENDING.into(),
            job.run_at.into(),
            job.max_attempts.into(),
            job.unique_key.clone().into(),
            job.created_at.into(),
            job.created_at.into(),
            job.traceparent.clone().into(),
        ])
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .to_owned();
    let inserted = c.execute(&stmt).await? == 1;
    if inserted {
        c.signal_jobs(&job.queue).await?;
    }
    Ok(inserted)
}

/// Claims up to `limit` due jobs of `queue` for `worker`, leased until `lease_until`.
pub async fn claim(
    c: &mut Conn<'_>,
    queue: &str,
    worker: &str,
    limit: u64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<JobRow>> {
    let candidates = Query::select()
        .column(Jobs::Id)
        .from(Jobs::Table)
        .and_where(Expr::col(Jobs::Queue).eq(queue))
        .and_where(Expr::col(Jobs::State).eq(PENDING))
        .and_where(Expr::col(Jobs::RunAt).lte(now))
        .order_by(Jobs::Priority, Order::Desc)
        .order_by(Jobs::RunAt, Order::Asc)
        .order_by(Jobs::Id, Order::Asc)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let stmt = Query::update()
        .table(Jobs::Table)
        .values([
            (Jobs::State, RUNNING.into()),
            (Jobs::LockedBy, worker.into()),
            (Jobs::LockedUntil, lease_until.into()),
            (Jobs::Attempts, Expr::col(Jobs::Attempts).add(1)),
            (Jobs::UpdatedAt, now.into()),
        ])
        .and_where(Expr::col(Jobs::Id).in_subquery(candidates))
        .returning(Query::returning().columns(ALL))
        .to_owned();
    let mut rows: Vec<JobRow> = c.fetch_all(&stmt).await?;
    // RETURNING gives no order; hand jobs out in the order they were chosen.
    rows.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.run_at.cmp(&b.run_at)).then(a.id.cmp(&b.id)));
    Ok(rows)
}

fn held_by(stmt: &mut UpdateStatement, id: JobId, worker: &str) {
    stmt.and_where(Expr::col(Jobs::Id).eq(id.to_string()))
        .and_where(Expr::col(Jobs::State).eq(RUNNING))
        .and_where(Expr::col(Jobs::LockedBy).eq(worker));
}

/// Extends a lease. Returns false when the worker no longer holds the job.
pub async fn heartbeat(c: &mut Conn<'_>, id: JobId, worker: &str, lease_until: DateTime<Utc>) -> Result<bool> {
    let mut stmt = Query::update().table(Jobs::Table).value(Jobs::LockedUntil, lease_until).to_owned();
    held_by(&mut stmt, id, worker);
    Ok(c.execute(&stmt).await? == 1)
}

/// Marks a held job completed. Returns false when the worker no longer holds it. `locked_by`
/// keeps the worker that ran it, for operators.
pub async fn complete(c: &mut Conn<'_>, id: JobId, worker: &str, now: DateTime<Utc>) -> Result<bool> {
    let mut stmt = Query::update()
        .table(Jobs::Table)
        .values([
            (Jobs::State, COMPLETED.into()),
            (Jobs::LockedUntil, Option::<DateTime<Utc>>::None.into()),
            (Jobs::UpdatedAt, now.into()),
            (Jobs::FinishedAt, now.into()),
        ])
        .to_owned();
    held_by(&mut stmt, id, worker);
    Ok(c.execute(&stmt).await? == 1)
}

/// Records a failed attempt: back to `pending` at `retry_at`, or `dead` when `retry_at` is `None`.
pub async fn fail(
    c: &mut Conn<'_>,
    id: JobId,
    worker: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let (state, run_at, finished) = match retry_at {
        Some(at) => (PENDING, Expr::val(at), Option::<DateTime<Utc>>::None),
        None => (DEAD, Expr::col(Jobs::RunAt), Some(now)),
    };
    let error: String = error.chars().take(2000).collect();
    let mut stmt = Query::update()
        .table(Jobs::Table)
        .values([
            (Jobs::State, state.into()),
            (Jobs::RunAt, run_at),
            (Jobs::LastError, error.into()),
            (Jobs::LockedBy, Option::<String>::None.into()),
            (Jobs::LockedUntil, Option::<DateTime<Utc>>::None.into()),
            (Jobs::UpdatedAt, now.into()),
            (Jobs::FinishedAt, finished.into()),
        ])
        .to_owned();
    held_by(&mut stmt, id, worker);
    Ok(c.execute(&stmt).await? == 1)
}

/// Gives a held job back untouched (graceful shutdown): pending again, the attempt not counted.
pub async fn release(c: &mut Conn<'_>, id: JobId, worker: &str, now: DateTime<Utc>) -> Result<bool> {
    let mut stmt = Query::update()
        .table(Jobs::Table)
        .values([
            (Jobs::State, PENDING.into()),
            (Jobs::Attempts, Expr::col(Jobs::Attempts).sub(1)),
            (Jobs::LockedBy, Option::<String>::None.into()),
            (Jobs::LockedUntil, Option::<DateTime<Utc>>::None.into()),
            (Jobs::UpdatedAt, now.into()),
        ])
        .to_owned();
    held_by(&mut stmt, id, worker);
    Ok(c.execute(&stmt).await? == 1)
}

/// Hands jobs whose lease expired back to `pending` (or `dead` when out of attempts).
/// Returns how many were recovered.
pub async fn recover_expired(c: &mut Conn<'_>, now: DateTime<Utc>) -> Result<u64> {
    let expired = |stmt: &mut UpdateStatement| {
        stmt.and_where(Expr::col(Jobs::State).eq(RUNNING)).and_where(Expr::col(Jobs::LockedUntil).lt(now));
    };
    let message = "the worker running this job stopped (its lease expired)";
    let mut to_dead = Query::update()
        .table(Jobs::Table)
        .values([
            (Jobs::State, DEAD.into()),
            (Jobs::LastError, message.into()),
            (Jobs::LockedBy, Option::<String>::None.into()),
            (Jobs::LockedUntil, Option::<DateTime<Utc>>::None.into()),
            (Jobs::UpdatedAt, now.into()),
            (Jobs::FinishedAt, now.into()),
        ])
        .and_where(Expr::col(Jobs::Attempts).gte(Expr::col(Jobs::MaxAttempts)))
        .to_owned();
    expired(&mut to_dead);
    let mut to_pending = Query::update()
        .table(Jobs::Table)
        .values([
            (Jobs::State, PENDING.into()),
            (Jobs::LastError, message.into()),
            (Jobs::RunAt, now.into()),
            (Jobs::LockedBy, Option::<String>::None.into()),
            (Jobs::LockedUntil, Option::<DateTime<Utc>>::None.into()),
            (Jobs::UpdatedAt, now.into()),
        ])
        .to_owned();
    expired(&mut to_pending);
    Ok(c.execute(&to_dead).await? + c.execute(&to_pending).await?)
}

pub async fn find(c: &mut Conn<'_>, id: JobId) -> Result<Option<JobRow>> {
    let q = Query::select().columns(ALL).from(Jobs::Table).and_where(Expr::col(Jobs::Id).eq(id.to_string())).to_owned();
    c.fetch_optional(&q).await
}

/// Lists jobs newest first, optionally of one state and queue, after a given id (keyset).
pub async fn list(
    c: &mut Conn<'_>,
    state: Option<&str>,
    queue: Option<&str>,
    before: Option<JobId>,
    limit: u64,
) -> Result<Vec<JobRow>> {
    let mut q = Query::select().columns(ALL).from(Jobs::Table).to_owned();
    if let Some(state) = state {
        q.and_where(Expr::col(Jobs::State).eq(state));
    }
    if let Some(queue) = queue {
        q.and_where(Expr::col(Jobs::Queue).eq(queue));
    }
    if let Some(id) = before {
        q.and_where(Expr::col(Jobs::Id).lt(id.to_string()));
    }
    q.order_by(Jobs::Id, Order::Desc).limit(limit);
    c.fetch_all(&q).await
}

/// Puts a dead or discarded job back in its queue with fresh attempts.
pub async fn retry(c: &mut Conn<'_>, id: JobId, now: DateTime<Utc>) -> Result<bool> {
    let stmt = Query::update()
        .table(Jobs::Table)
        .values([
            (Jobs::State, PENDING.into()),
            (Jobs::Attempts, 0.into()),
            (Jobs::RunAt, now.into()),
            (Jobs::FinishedAt, Option::<DateTime<Utc>>::None.into()),
            (Jobs::UpdatedAt, now.into()),
        ])
        .and_where(Expr::col(Jobs::Id).eq(id.to_string()))
        .and_where(Expr::col(Jobs::State).is_in([DEAD, DISCARDED]))
        .to_owned();
    let retried = c.execute(&stmt).await? == 1;
    if retried && let Some(job) = find(c, id).await? {
        c.signal_jobs(&job.queue).await?;
    }
    Ok(retried)
}

/// Discards a dead or pending job (an operator's decision); it will not run.
pub async fn discard(c: &mut Conn<'_>, id: JobId, now: DateTime<Utc>) -> Result<bool> {
    let stmt = Query::update()
        .table(Jobs::Table)
        .values([(Jobs::State, DISCARDED.into()), (Jobs::FinishedAt, now.into()), (Jobs::UpdatedAt, now.into())])
        .and_where(Expr::col(Jobs::Id).eq(id.to_string()))
        .and_where(Expr::col(Jobs::State).is_in([DEAD, PENDING]))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DepthRow {
    pub queue: String,
    pub state: String,
    pub count: i64,
}

/// How many jobs each queue holds in each state (for metrics).
pub async fn depth(c: &mut Conn<'_>) -> Result<Vec<DepthRow>> {
    let q = Query::select()
        .columns([Jobs::Queue, Jobs::State])
        .expr_as(Expr::col(Jobs::Id).count(), "count")
        .from(Jobs::Table)
        .and_where(Expr::col(Jobs::State).is_in([PENDING, RUNNING, DEAD]))
        .group_by_columns([Jobs::Queue, Jobs::State])
        .to_owned();
    c.fetch_all(&q).await
}
