//! Redis, the shared state of several api nodes: the response cache's second tier
//! ([`crate::cache::SharedTier`]) and the rate limits' counters ([`crate::ratelimit::Limiter`]).
//!
//! Nothing here is the source of truth, so Redis is allowed to fail: every call is bounded by a
//! timeout, and a failed call opens a short circuit (calls fail at once for a second, then one is
//! let through to try again) so a stopped or slow Redis costs a request at most one timeout
//! and then nothing. Callers fall back to their in-process state meanwhile.
//!
//! Keys live under a prefix (`KEEL_REDIS_PREFIX`, `keel:` by default) so several shops, or
//! several test runs, can share one Redis. Scripts reach keys they build from the prefix, so a
//! Redis Cluster would need the prefix to be a hash tag (`{keel}:`).

use crate::circuit::{Breaker, Transition};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, ScriptInvocation};
use std::sync::Arc;
use std::time::Duration;

/// Where Redis is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://host:port/db` (Redis 6.2 or later: the scripts read its clock).
    pub url: String,
    /// Put before every key.
    pub prefix: String,
    /// The longest a call may take before it counts as failed.
    pub timeout: Duration,
}

/// Redis could not answer (down, slow, or refused the call): use the in-process fallback.
#[derive(Debug, thiserror::Error)]
#[error("Redis is unavailable")]
pub struct Unavailable;

/// How long calls fail at once after a failure.
const OPEN_FOR: Duration = Duration::from_secs(1);

/// A connection to Redis shared by the whole process (cheap to clone).
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
    circuit: Breaker,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Whether `url` is an address this client can connect to (`redis://…`).
pub fn check_url(url: &str) -> Result<(), String> {
    redis::Client::open(url).map(|_| ()).map_err(|e| e.to_string())
}

impl Redis {
    /// A client for `config` that connects on first use (and reconnects after failures), so a
    /// node starts while Redis is down and begins sharing once it is up.
    pub fn connect(config: &RedisConfig) -> Result<Redis, redis::RedisError> {
        let client = redis::Client::open(config.url.as_str())?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config)?;
        Ok(Redis {
            conn,
            prefix: Arc::from(config.prefix.as_str()),
            timeout: config.timeout,
            circuit: Breaker::new(1, OPEN_FOR),
        })
    }

    /// `suffix` under this client's prefix.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// Runs a script (by its hash, loading it when Redis does not know it yet). `op` names the
    /// call in metrics and logs.
    pub async fn run<T: FromRedisValue>(
        &self,
        op: &'static str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, Unavailable> {
        if !self.circuit.allow() {
            metrics::counter!("keel_redis_calls_total", "op" => op, "result" => "skipped").increment(1);
            return Err(Unavailable);
        }
        let mut conn = self.conn.clone();
        let result = tokio::time::timeout(self.timeout, invocation.invoke_async::<T>(&mut conn)).await;
        match result {
            Ok(Ok(value)) => {
                metrics::counter!("keel_redis_calls_total", "op" => op, "result" => "ok").increment(1);
                self.healthy();
                Ok(value)
            }
            Ok(Err(err)) => Err(self.failed(op, &err.to_string())),
            Err(_) => Err(self.failed(op, "timed out")),
        }
    }

    /// Whether calls fail at once now (a recent failure).
    pub fn circuit_is_open(&self) -> bool {
        self.circuit.is_open()
    }

    /// Runs a script that is not on a request's path (a cache invalidation): it waits longer
    /// (ten times the timeout, at least a second), ignores the circuit and does not open it, so
    /// one slow request-path call does not make it fail, nor its failure the requests'.
    pub async fn run_background<T: FromRedisValue>(
        &self,
        op: &'static str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, Unavailable> {
        let mut conn = self.conn.clone();
        let patience = (self.timeout * 10).max(Duration::from_secs(1));
        let outcome = match tokio::time::timeout(patience, invocation.invoke_async::<T>(&mut conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("timed out".to_string()),
        };
        let result = if outcome.is_ok() { "ok" } else { "error" };
        metrics::counter!("keel_redis_calls_total", "op" => op, "result" => result).increment(1);
        outcome.map_err(|why| {
            tracing::warn!(op, why, "Redis failed");
            Unavailable
        })
    }

    /// Whether Redis answers now (readiness).
    pub async fn ping(&self) -> Result<(), Unavailable> {
        let mut conn = self.conn.clone();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(self.timeout, ping.query_async::<String>(&mut conn)).await {
            Ok(Ok(_)) => {
                self.healthy();
                Ok(())
            }
            Ok(Err(err)) => Err(self.failed("ping", &err.to_string())),
            Err(_) => Err(self.failed("ping", "timed out")),
        }
    }

    fn failed(&self, op: &'static str, why: &str) -> Unavailable {
        metrics::counter!("keel_redis_calls_total", "op" => op, "result" => "error").increment(1);
        if self.circuit.failure() == Transition::Opened {
            tracing::warn!(op, why, "Redis failed: using in-process state until it answers again");
        } else {
            tracing::debug!(op, why, "Redis failed again");
        }
        Unavailable
    }

    /// Closes the circuit after a call succeeded.
    fn healthy(&self) {
        if self.circuit.success() == Transition::Closed {
            tracing::info!("Redis answers again");
        }
    }
}
