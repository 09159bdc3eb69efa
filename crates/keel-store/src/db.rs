//! Opening the database and running sea-query statements on either engine.
//!
//! [`Db`] holds the pools. On PostgreSQL one pool serves reads and writes. On SQLite (WAL mode)
//! reads use a pool of connections while writes go through a single-connection pool: SQLite allows
//! one writer at a time, and queuing writers in-process is fairer and faster than letting them
//! spin on `SQLITE_BUSY`. Write transactions start with `BEGIN IMMEDIATE` so that a second
//! process (say `keel seed` beside a running server) waits on the busy timeout instead of failing
//! half-way through a transaction.

use crate::{Result, StoreError};
use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};
use sea_query_sqlx::SqlxBinder;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, SqliteConnection, SqlitePool};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing::Instrument;

use keel_domain::event::Event;

/// Hears about events as they happen: committed by this process ([`Tx::commit`]) or arriving
/// from another node ([`Db::dispatch_event`]). Called synchronously on the committing task, so it
/// must be quick (invalidate a cache, wake a task); returning `false` unregisters it.
pub type EventHook = Arc<dyn Fn(&Event) -> bool + Send + Sync>;

/// The registered [`EventHook`]s.
#[derive(Clone, Default)]
struct Hooks(Arc<std::sync::RwLock<Vec<EventHook>>>);

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").finish_non_exhaustive()
    }
}

impl Hooks {
    fn dispatch(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let mut done: Vec<EventHook> = Vec::new();
        for hook in self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            if !events.iter().all(|event| hook(event)) {
                done.push(hook.clone());
            }
        }
        if !done.is_empty() {
            let mut hooks = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            hooks.retain(|hook| !done.iter().any(|d| Arc::ptr_eq(hook, d)));
        }
    }
}

/// Which engine a [`Db`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Sqlite,
}

impl Engine {
    pub fn as_str(&self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Sqlite => "sqlite",
        }
    }
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `postgres://…`, or `None` for a SQLite file at `sqlite_path`.
    pub url: Option<String>,
    pub sqlite_path: PathBuf,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// A row type that decodes from both engines' rows (derive `sqlx::FromRow` on a struct of types
/// both engines support: `String`, `i64`, `i32`, `bool`, `Option<…>`, `DateTime<Utc>`, `Json<…>`).
pub trait Record: for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin {}
impl<T> Record for T where T: for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin {}

#[derive(Debug, Clone)]
enum Pools {
    Postgres(PgPool),
    Sqlite { read: SqlitePool, write: SqlitePool },
}

/// Connection pools for the configured engine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pools: Pools,
    /// Statements run through this `Db` so far: a metric, and how tests prove there is no N+1.
    statements: Arc<AtomicU64>,
    /// Bumped after a transaction that enqueued jobs commits: wakes this process's workers.
    jobs_committed: Arc<tokio::sync::watch::Sender<u64>>,
    hooks: Hooks,
}

/// Proof of leading the outbox relay; dropping it closes the lock's connection.
pub struct Leadership {
    _conn: Option<PgConnection>,
}

/// What a connection tracks while it is used.
#[derive(Debug)]
struct ConnMeta {
    statements: Arc<AtomicU64>,
    jobs_enqueued: std::sync::atomic::AtomicBool,
    /// Events written to the outbox through this connection, announced when it commits.
    events: std::sync::Mutex<Vec<Event>>,
}

impl ConnMeta {
    fn new(statements: &Arc<AtomicU64>) -> Self {
        ConnMeta { statements: statements.clone(), jobs_enqueued: false.into(), events: Default::default() }
    }

    fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// Wakes a worker when jobs may be waiting: PostgreSQL `LISTEN` (jobs enqueued by any process),
/// plus this process's own commits. A worker also polls slowly, in case a signal is missed.
pub struct JobWakeups {
    local: tokio::sync::watch::Receiver<u64>,
    listener: Option<sqlx::postgres::PgListener>,
}

/// The PostgreSQL channel that job enqueues and outbox events notify.
pub const JOBS_CHANNEL: &str = "keel_work";

impl JobWakeups {
    /// Returns when a job was enqueued since the last call, or after `max` at the latest.
    pub async fn wait(&mut self, max: Duration) {
        let local = self.local.changed();
        match &mut self.listener {
            Some(listener) => {
                tokio::select! {
                    _ = local => {}
                    _ = listener.recv() => {}
                    () = tokio::time::sleep(max) => {}
                }
            }
            None => {
                let _ = tokio::time::timeout(max, local).await;
            }
        }
    }
}

/// Pool sizes, for the metrics endpoint.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub name: &'static str,
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

impl Db {
    fn with_pools(pools: Pools) -> Db {
        Db {
            pools,
            statements: Arc::default(),
            jobs_committed: Arc::new(tokio::sync::watch::Sender::new(0)),
            hooks: Hooks::default(),
        }
    }

    /// Registers `hook` to hear about every event committed through this handle (and its clones)
    /// from now on, and every event passed to [`Db::dispatch_event`].
    pub fn on_event(&self, hook: EventHook) {
        self.hooks.0.write().unwrap_or_else(std::sync::PoisonError::into_inner).push(hook);
    }

    /// Announces an event that happened elsewhere (another node's, from the event bus) to the
    /// registered hooks.
    pub fn dispatch_event(&self, event: &Event) {
        self.hooks.dispatch(std::slice::from_ref(event));
    }

    /// Subscribes to job wake-ups (for a worker).
    pub async fn job_wakeups(&self) -> Result<JobWakeups> {
        let listener = match &self.pools {
            Pools::Postgres(pool) => {
                let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
                listener.listen(JOBS_CHANNEL).await?;
                Some(listener)
            }
            Pools::Sqlite { .. } => None,
        };
        Ok(JobWakeups { local: self.jobs_committed.subscribe(), listener })
    }

    /// Tries to become the one outbox relay among all processes sharing this database: a
    /// PostgreSQL session advisory lock, held by a connection of its own for as long as the
    /// returned guard lives (and released by the server if the process dies). On SQLite, the
    /// single-node mode, the caller always leads.
    pub async fn try_relay_leadership(&self) -> Result<Option<Leadership>> {
        match &self.pools {
            Pools::Postgres(pool) => {
                let mut conn = pool.acquire().await?.detach();
                let won: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(7316281)").fetch_one(&mut conn).await?;
                Ok(won.then_some(Leadership { _conn: Some(conn) }))
            }
            Pools::Sqlite { .. } => Ok(Some(Leadership { _conn: None })),
        }
    }

    /// Opens the pools (creating the SQLite file if needed). Does not migrate.
    pub async fn connect(config: &DbConfig) -> Result<Db> {
        match &config.url {
            Some(url) => {
                let options = PgConnectOptions::from_str(url).map_err(StoreError::Unavailable)?;
                let pool = PgPoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(config.acquire_timeout)
                    .connect_with(options)
                    .await
                    .map_err(StoreError::Unavailable)?;
                Ok(Db::with_pools(Pools::Postgres(pool)))
            }
            None => {
                if let Some(dir) = config.sqlite_path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(&config.sqlite_path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(config.acquire_timeout)
                    .connect_with(options.clone())
                    .await
                    .map_err(StoreError::Unavailable)?;
                let read = SqlitePoolOptions::new()
                    .max_connections(config.max_connections.max(1))
                    .acquire_timeout(config.acquire_timeout)
                    .connect_with(options.read_only(true))
                    .await
                    .map_err(StoreError::Unavailable)?;
                Ok(Db::with_pools(Pools::Sqlite { read, write }))
            }
        }
    }

    pub fn engine(&self) -> Engine {
        match self.pools {
            Pools::Postgres(_) => Engine::Postgres,
            Pools::Sqlite { .. } => Engine::Sqlite,
        }
    }

    /// Runs the pending migrations for this engine.
    pub async fn migrate(&self) -> Result<()> {
        // The versions applied so far (none on a fresh database), checked against this binary's
        // before anything runs.
        const APPLIED: &str = "SELECT version FROM _sqlx_migrations WHERE success";
        let applied: Vec<i64> = match &self.pools {
            Pools::Postgres(pool) => {
                let exists: bool =
                    sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await?;
                if exists { sqlx::query_scalar(APPLIED).fetch_all(pool).await? } else { Vec::new() }
            }
            Pools::Sqlite { write, .. } => {
                let exists: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations')")
                        .fetch_one(write)
                        .await?;
                if exists { sqlx::query_scalar(APPLIED).fetch_all(write).await? } else { Vec::new() }
            }
        };
        let newer = crate::migrate::check_applied(&applied).map_err(StoreError::Schema)?;
        match &self.pools {
            Pools::Postgres(pool) => crate::migrate::postgres().run(pool).await?,
            Pools::Sqlite { write, .. } => crate::migrate::sqlite().run(write).await?,
        }
        if !newer.is_empty() {
            tracing::warn!(
                ?newer,
                known = crate::migrate::latest_version(),
                "the database is migrated by a newer release (its expand step): serving on it, as a rolling deployment does"
            );
        }
        Ok(())
    }

    /// A pooled connection for reads (several statements may share it).
    pub async fn read(&self) -> Result<PooledConn> {
        let raw = match &self.pools {
            Pools::Postgres(pool) => RawPooled::Postgres(pool.acquire().await?),
            Pools::Sqlite { read, .. } => RawPooled::Sqlite(read.acquire().await?),
        };
        Ok(PooledConn { raw, meta: ConnMeta::new(&self.statements) })
    }

    /// Starts a write transaction; nothing is visible to others until [`Tx::commit`].
    pub async fn begin(&self) -> Result<Tx> {
        let raw = match &self.pools {
            Pools::Postgres(pool) => RawTx::Postgres(pool.begin().await?),
            Pools::Sqlite { write, .. } => RawTx::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
        };
        Ok(Tx {
            raw,
            meta: ConnMeta::new(&self.statements),
            jobs_committed: self.jobs_committed.clone(),
            hooks: self.hooks.clone(),
        })
    }

    /// How many statements have run through this database handle (and its clones).
    pub fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Checks that the database answers (readiness probe).
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.read().await?;
        let one: i64 = conn.conn().scalar_raw("SELECT 1").await?;
        debug_assert_eq!(one, 1);
        Ok(())
    }

    pub fn pool_stats(&self) -> Vec<PoolStats> {
        let stat = |name, size: u32, idle: usize, max| PoolStats {
            name,
            size,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max,
        };
        match &self.pools {
            Pools::Postgres(p) => vec![stat("main", p.size(), p.num_idle(), p.options().get_max_connections())],
            Pools::Sqlite { read, write } => vec![
                stat("read", read.size(), read.num_idle(), read.options().get_max_connections()),
                stat("write", write.size(), write.num_idle(), write.options().get_max_connections()),
            ],
        }
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        match &self.pools {
            Pools::Postgres(p) => p.close().await,
            Pools::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
        }
    }
}

enum RawPooled {
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
}

/// A connection checked out of a pool.
pub struct PooledConn {
    raw: RawPooled,
    meta: ConnMeta,
}

impl PooledConn {
    pub fn conn(&mut self) -> Conn<'_> {
        let raw = match &mut self.raw {
            RawPooled::Postgres(c) => RawConn::Postgres(c),
            RawPooled::Sqlite(c) => RawConn::Sqlite(c),
        };
        Conn { raw, meta: &self.meta }
    }
}

enum RawTx {
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

/// A write transaction. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    raw: RawTx,
    meta: ConnMeta,
    jobs_committed: Arc<tokio::sync::watch::Sender<u64>>,
    hooks: Hooks,
}

impl Tx {
    pub fn conn(&mut self) -> Conn<'_> {
        let raw = match &mut self.raw {
            RawTx::Postgres(t) => RawConn::Postgres(t),
            RawTx::Sqlite(t) => RawConn::Sqlite(t),
        };
        Conn { raw, meta: &self.meta }
    }

    pub async fn commit(self) -> Result<()> {
        match self.raw {
            RawTx::Postgres(t) => t.commit().await?,
            RawTx::Sqlite(t) => t.commit().await?,
        }
        if self.meta.jobs_enqueued.load(Ordering::Relaxed) {
            self.jobs_committed.send_modify(|n| *n = n.wrapping_add(1));
        }
        self.hooks.dispatch(&self.meta.take_events());
        Ok(())
    }
}

enum RawConn<'c> {
    Postgres(&'c mut PgConnection),
    Sqlite(&'c mut SqliteConnection),
}

/// A borrowed connection of either engine: what every repository function runs on.
pub struct Conn<'c> {
    raw: RawConn<'c>,
    meta: &'c ConnMeta,
}

/// Renders `$stmt` for the connection's engine and runs `$body` on it, binding every value, in
/// a `sql` span (debug level: exported with traces, not logged by default) naming the statement.
macro_rules! dispatch {
    ($conn:expr, $stmt:expr, |$sql:ident, $values:ident, $c:ident| $body:expr) => {{
        $conn.meta.statements.fetch_add(1, Ordering::Relaxed);
        match &mut $conn.raw {
            RawConn::Postgres($c) => {
                let ($sql, $values) = $stmt.build_sqlx(PostgresQueryBuilder);
                let span = sql_span("postgresql", &$sql);
                async { Ok::<_, StoreError>($body) }.instrument(span).await?
            }
            RawConn::Sqlite($c) => {
                let ($sql, $values) = $stmt.build_sqlx(SqliteQueryBuilder);
                let span = sql_span("sqlite", &$sql);
                async { Ok::<_, StoreError>($body) }.instrument(span).await?
            }
        }
    }};
}

fn sql_span(system: &'static str, sql: &str) -> tracing::Span {
    // Statements outside any operation (a worker's poll, a lease heartbeat) would each be a
    // trace of their own: they are not traced.
    if tracing::Span::current().is_none() {
        return tracing::Span::none();
    }
    let verb = sql.split_ascii_whitespace().next().unwrap_or("SQL");
    tracing::debug_span!("sql", otel.name = verb, otel.kind = "client", db.system = system, db.statement = sql)
}

impl Conn<'_> {
    pub fn engine(&self) -> Engine {
        match self.raw {
            RawConn::Postgres(_) => Engine::Postgres,
            RawConn::Sqlite(_) => Engine::Sqlite,
        }
    }

    pub async fn fetch_all<T: Record>(&mut self, stmt: &impl SqlxBinder) -> Result<Vec<T>> {
        Ok(dispatch!(self, stmt, |sql, values, c| {
            sqlx::query_as_with::<_, T, _>(AssertSqlSafe(sql), values).fetch_all(&mut **c).await?
        }))
    }

    pub async fn fetch_optional<T: Record>(&mut self, stmt: &impl SqlxBinder) -> Result<Option<T>> {
        Ok(dispatch!(self, stmt, |sql, values, c| {
            sqlx::query_as_with::<_, T, _>(AssertSqlSafe(sql), values).fetch_optional(&mut **c).await?
        }))
    }

    /// Runs a statement whose first column of its one row is an integer (`COUNT(*)`, `SELECT 1`).
    pub async fn fetch_i64(&mut self, stmt: &impl SqlxBinder) -> Result<i64> {
        Ok(dispatch!(self, stmt, |sql, values, c| {
            sqlx::query_scalar_with::<_, i64, _>(AssertSqlSafe(sql), values).fetch_one(&mut **c).await?
        }))
    }

    /// Runs an insert, update or delete; returns the number of rows it touched.
    pub async fn execute(&mut self, stmt: &impl SqlxBinder) -> Result<u64> {
        Ok(dispatch!(self, stmt, |sql, values, c| {
            sqlx::query_with(AssertSqlSafe(sql), values).execute(&mut **c).await?.rows_affected()
        }))
    }

    /// Records that this transaction enqueued work (a job on `queue`, or an outbox event): on
    /// PostgreSQL every listening worker is notified when it commits (`NOTIFY` is transactional);
    /// in-process workers are woken by [`Tx::commit`].
    pub(crate) async fn signal_jobs(&mut self, queue: &str) -> Result<()> {
        self.meta.jobs_enqueued.store(true, Ordering::Relaxed);
        if let RawConn::Postgres(c) = &mut self.raw {
            self.meta.statements.fetch_add(1, Ordering::Relaxed);
            sqlx::query("SELECT pg_notify($1, $2)").bind(JOBS_CHANNEL).bind(queue).execute(&mut **c).await?;
        }
        Ok(())
    }

    /// Remembers an event written to the outbox, to announce it to this process's
    /// [`EventHook`]s once the transaction commits. (Events are written in transactions; one
    /// written through a bare pooled connection is not announced.)
    pub(crate) fn note_event(&self, event: &Event) {
        self.meta.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(event.clone());
    }

    /// A fixed statement with no parameters (health checks only).
    async fn scalar_raw(&mut self, sql: &'static str) -> Result<i64> {
        Ok(match &mut self.raw {
            RawConn::Postgres(c) => sqlx::query_scalar::<_, i32>(sql).fetch_one(&mut **c).await?.into(),
            RawConn::Sqlite(c) => sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut **c).await?,
        })
    }
}
