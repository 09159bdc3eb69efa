//! A circuit breaker for calls to something that may fail or hang (Redis, the search index, a
//! recommendation service): after `threshold` failures in a row it opens, and calls fail at once
//! for `open_for`; then one call is let through to try again, and its outcome closes the circuit
//! or opens it for another period. Lock-free: one atomic for the open deadline, one counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A shared breaker (cheap to clone; clones share their state).
#[derive(Clone, Debug)]
pub struct Breaker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    open_for: Duration,
    threshold: u32,
    /// Failures in a row.
    failures: AtomicU32,
    /// Milliseconds since `started` until which calls fail at once (0: closed).
    open_until: AtomicU64,
}

/// What a recorded outcome changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    /// The circuit was closed and now is open.
    Opened,
    /// The circuit was open and a call succeeded.
    Closed,
}

impl Breaker {
    /// Opens after `threshold` failures in a row (at least 1), for `open_for` each time.
    pub fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            inner: Arc::new(Inner {
                started: Instant::now(),
                open_for,
                threshold: threshold.max(1),
                failures: AtomicU32::new(0),
                open_until: AtomicU64::new(0),
            }),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn period_ms(&self) -> u64 {
        u64::try_from(self.inner.open_for.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// Whether a call may go ahead now. Past the open period one caller wins the right to try;
    /// the others keep failing fast until its outcome is recorded.
    pub fn allow(&self) -> bool {
        let until = self.inner.open_until.load(Ordering::Relaxed);
        if until == 0 {
            return true;
        }
        let now = self.now_ms();
        now >= until
            && self
                .inner
                .open_until
                .compare_exchange(until, now + self.period_ms(), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Whether calls fail at once now.
    pub fn is_open(&self) -> bool {
        self.inner.open_until.load(Ordering::Relaxed) > self.now_ms()
    }

    /// Whether the last `threshold` calls failed and none has succeeded since (stays true through
    /// the trial period, unlike [`Breaker::is_open`]).
    pub fn is_tripped(&self) -> bool {
        self.inner.failures.load(Ordering::Relaxed) >= self.inner.threshold
    }

    /// Records a failed call.
    pub fn failure(&self) -> Transition {
        let failures = self.inner.failures.fetch_add(1, Ordering::AcqRel).saturating_add(1);
        if failures < self.inner.threshold {
            return Transition::None;
        }
        let was = self.inner.open_until.swap(self.now_ms() + self.period_ms(), Ordering::AcqRel);
        if was == 0 { Transition::Opened } else { Transition::None }
    }

    /// Records a successful call.
    pub fn success(&self) -> Transition {
        // Loads first: the common case (closed, no failures) writes nothing shared.
        if self.inner.failures.load(Ordering::Relaxed) != 0 {
            self.inner.failures.store(0, Ordering::Release);
        }
        if self.inner.open_until.load(Ordering::Relaxed) != 0 && self.inner.open_until.swap(0, Ordering::AcqRel) != 0 {
            return Transition::Closed;
        }
        Transition::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_lets_one_call_try_after_the_period() {
        let breaker = Breaker::new(2, Duration::from_millis(30));
        assert!(breaker.allow());
        assert_eq!(breaker.failure(), Transition::None);
        assert!(breaker.allow() && !breaker.is_open(), "one failure is below the threshold");
        assert_eq!(breaker.failure(), Transition::Opened);
        assert!(!breaker.allow() && breaker.is_open());
        assert_eq!(breaker.failure(), Transition::None, "already open");

        let until = Instant::now() + Duration::from_secs(5);
        while !breaker.allow() {
            assert!(Instant::now() < until, "the open period never ended");
            std::thread::yield_now();
        }
        assert!(!breaker.allow(), "only one caller tries while the trial is out");
        assert!(breaker.is_tripped(), "still failing until the trial succeeds");
        assert_eq!(breaker.success(), Transition::Closed);
        assert!(breaker.allow() && !breaker.is_open() && !breaker.is_tripped());
        assert_eq!(breaker.failure(), Transition::None, "the count started again after the success");
    }
}
