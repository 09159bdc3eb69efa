//! Login and reset throttling: failed attempts counted per account and per client address, in
//! the database (shared by every node), with a lock that doubles with each further failure.
//!
//! While a key is locked every attempt is answered 429 with `Retry-After`, before any password
//! is checked — also for the right password, and the same for unknown accounts, so a lock tells
//! an attacker nothing about which emails exist.

use crate::{Result, ServiceError, now};
use chrono::Duration;
use keel_store::{Db, identity as repo};

#[derive(Debug, Clone)]
pub struct ThrottleOptions {
    /// Failures of one account before it locks.
    pub account_failures: i32,
    /// Failures from one client address (over all accounts) before it locks.
    pub address_failures: i32,
    /// The first lock; each further failure doubles it, up to `max_lock`.
    pub base_lock: Duration,
    pub max_lock: Duration,
    /// Failures older than this are forgotten.
    pub window: Duration,
}

impl Default for ThrottleOptions {
    fn default() -> Self {
        ThrottleOptions {
            account_failures: 5,
            address_failures: 20,
            base_lock: Duration::seconds(30),
            max_lock: Duration::minutes(15),
            window: Duration::hours(1),
        }
    }
}

/// The keys one attempt counts against: an account (scope + email) and a client address.
#[derive(Debug, Clone)]
pub struct Attempt {
    account: String,
    address: Option<String>,
}

impl Attempt {
    /// `scope` separates kinds of attempts (`customer-login`, `staff-login`, `reset`).
    pub fn new(scope: &str, email: &str, client: Option<std::net::IpAddr>) -> Attempt {
        Attempt {
            account: format!("{scope}:{}", email.trim().to_lowercase()),
            address: client.map(|ip| format!("addr:{ip}")),
        }
    }

    fn keys(&self) -> Vec<String> {
        std::iter::once(self.account.clone()).chain(self.address.clone()).collect()
    }
}

#[derive(Clone)]
pub struct Throttle {
    db: Db,
    options: ThrottleOptions,
}

/// How long a key stays locked after `failures` failures (none below the threshold).
pub fn lock_for(options: &ThrottleOptions, failures: i32, threshold: i32) -> Option<Duration> {
    if failures < threshold {
        return None;
    }
    let doublings = (failures - threshold).min(20) as u32;
    let secs = options.base_lock.num_seconds().saturating_mul(1i64 << doublings);
    Some(Duration::seconds(secs.min(options.max_lock.num_seconds())))
}

impl Throttle {
    pub fn new(db: Db, options: ThrottleOptions) -> Self {
        Throttle { db, options }
    }

    /// Refuses the attempt while any of its keys is locked.
    pub async fn check(&self, attempt: &Attempt) -> Result<()> {
        let at = now();
        let mut conn = self.db.read().await?;
        if let Some(until) = repo::locked_until(&mut conn.conn(), &attempt.keys(), at).await? {
            let secs = (until - at).num_milliseconds().max(0) as u64;
            return Err(ServiceError::Throttled { retry_after_secs: secs.div_ceil(1000).max(1) });
        }
        Ok(())
    }

    /// Counts a failure against the account and the address, locking whichever crossed its limit.
    pub async fn failed(&self, attempt: &Attempt) -> Result<()> {
        let at = now();
        let window_start = at - self.options.window;
        let mut tx = self.db.begin().await?;
        let mut keys = vec![(attempt.account.as_str(), self.options.account_failures)];
        if let Some(address) = &attempt.address {
            keys.push((address.as_str(), self.options.address_failures));
        }
        for (key, threshold) in keys {
            let failures = repo::record_failure(&mut tx.conn(), key, at, window_start).await?;
            if let Some(lock) = lock_for(&self.options, failures, threshold) {
                repo::lock(&mut tx.conn(), key, at + lock).await?;
                tracing::warn!(key, failures, lock_secs = lock.num_seconds(), "authentication throttled");
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Forgets the account's failures after a success (the address keeps its count).
    pub async fn succeeded(&self, attempt: &Attempt) -> Result<()> {
        let mut tx = self.db.begin().await?;
        repo::clear_failures(&mut tx.conn(), &attempt.account).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_double_from_the_threshold_up_to_the_maximum() {
        let o = ThrottleOptions::default();
        assert_eq!(lock_for(&o, 4, 5), None);
        assert_eq!(lock_for(&o, 5, 5), Some(Duration::seconds(30)));
        assert_eq!(lock_for(&o, 6, 5), Some(Duration::seconds(60)));
        assert_eq!(lock_for(&o, 8, 5), Some(Duration::seconds(240)));
        assert_eq!(lock_for(&o, 50, 5), Some(Duration::minutes(15)));
    }
}
