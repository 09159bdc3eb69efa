//! Retry timing: exponential backoff with jitter, so that many jobs failing together (a provider
//! outage) do not all retry in the same instant.

use std::time::Duration;

/// The wait before retry number `attempt` (1 for the first retry): `base × 2^(attempt−1)`, capped
/// at `max`, then spread by ±25% using `jitter` (a number in `[0, 1)`; 0.5 means no spread).
pub fn backoff(attempt: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(32);
    let raw = base.saturating_mul(1u32 << exponent.min(31)).min(max);
    let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
    raw.mul_f64(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn doubles_each_attempt_until_the_cap() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        assert_eq!(backoff(1, base, max, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(2, base, max, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(5, base, max, 0.5), Duration::from_secs(16));
        assert_eq!(backoff(30, base, max, 0.5), max);
    }

    proptest! {
        #[test]
        fn stays_within_a_quarter_of_the_nominal_wait_and_under_the_cap(attempt in 1u32..100, jitter in 0.0f64..1.0) {
            let base = Duration::from_millis(100);
            let max = Duration::from_secs(3600);
            let nominal = base.saturating_mul(1u32 << (attempt - 1).min(31)).min(max);
            let wait = backoff(attempt, base, max, jitter);
            prop_assert!(wait <= max);
            prop_assert!(wait >= nominal.mul_f64(0.75) - Duration::from_nanos(1));
            prop_assert!(wait <= nominal.mul_f64(1.25) + Duration::from_nanos(1));
        }
    }
}
