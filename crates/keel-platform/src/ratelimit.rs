//! Rate limits: the generic cell rate algorithm (GCRA), in process or shared through Redis.
//!
//! A quota of `limit` requests per `window` lets a client spend the whole quota at once and then
//! refills it evenly (one request per `window / limit`). Per key, GCRA keeps a single instant —
//! the theoretical arrival time (TAT) of the next request — so a check is one map update with no
//! timers and no counters to reset. A request is allowed when `TAT + interval - now ≤ window`.
//!
//! In process the state lives in sharded maps; keys whose quota is whole again are swept out as
//! the maps grow, so memory follows the number of recently active clients. With Redis
//! ([`Limiter::shared`]) every node counts against the same TATs, kept by a script that reads
//! Redis's clock (one clock for all nodes) and expires each key when its quota is whole; when
//! Redis fails the node counts in process until it answers again.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub window: Duration,
}

impl Quota {
    /// Parses `LIMIT/SECONDS`, e.g. `600/60` (600 requests a minute): a window of at most a
    /// week, and at most a thousand requests a second (an interval of a millisecond or more, which
    /// the shared counts keep exactly).
    pub fn parse(text: &str) -> Result<Quota, String> {
        let bad =
            || format!("{text:?} is not a quota such as \"600/60\" (requests per seconds, a window of 1 s to a week)");
        let (limit, secs) = text.trim().split_once('/').ok_or_else(bad)?;
        let limit: u32 = limit.trim().parse().map_err(|_| bad())?;
        let secs: u64 = secs.trim().trim_end_matches('s').parse().map_err(|_| bad())?;
        if limit == 0 || secs == 0 || secs > 7 * 24 * 3600 || u64::from(limit) > secs * 1_000 {
            return Err(bad());
        }
        Ok(Quota { limit, window: Duration::from_secs(secs) })
    }

    fn interval(&self) -> Duration {
        self.window / self.limit
    }
}

/// What a check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests left right now.
    pub remaining: u32,
    /// Until the quota is whole again.
    pub reset: Duration,
    /// Until the next request would be allowed (zero when this one was).
    pub retry_after: Duration,
}

/// Computes a GCRA decision from the stored TAT (`None`: a new key); returns the new TAT to store
/// when the request is allowed.
pub fn gcra(quota: Quota, tat: Option<Duration>, now: Duration) -> (Decision, Option<Duration>) {
    let interval = quota.interval();
    let tat = tat.map_or(now, |t| t.max(now));
    let next = tat + interval;
    let ahead = next - now;
    if ahead > quota.window {
        let decision = Decision { allowed: false, remaining: 0, reset: tat - now, retry_after: ahead - quota.window };
        return (decision, None);
    }
    let left = quota.window - ahead;
    let remaining = if interval.is_zero() { quota.limit } else { (left.as_nanos() / interval.as_nanos()) as u32 };
    (Decision { allowed: true, remaining, reset: ahead, retry_after: Duration::ZERO }, Some(next))
}

const SHARDS: usize = 16;

#[derive(Default)]
struct Shard {
    tats: HashMap<String, Duration>,
    /// Sweep again when the map reaches this size (twice what the last sweep kept, at least
    /// `sweep_at`): sweeping stays amortised constant per request however many keys are live.
    next_sweep: usize,
}
/// A shard is swept of whole quotas when it grows past this many keys.
const SWEEP_AT: usize = 4096;

/// GCRA state of this process.
pub struct LocalLimiter {
    epoch: Instant,
    shards: Vec<Mutex<Shard>>,
    hasher: std::collections::hash_map::RandomState,
    sweep_at: usize,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        LocalLimiter {
            epoch: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            sweep_at: SWEEP_AT,
        }
    }
}

impl LocalLimiter {
    /// Counts one request of `key` against `quota`.
    pub fn check(&self, key: &str, quota: Quota) -> Decision {
        self.check_at(key, quota, self.epoch.elapsed())
    }

    fn check_at(&self, key: &str, quota: Quota, now: Duration) -> Decision {
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let (decision, next) = gcra(quota, shard.tats.get(key).copied(), now);
        if let Some(next) = next {
            match shard.tats.get_mut(key) {
                Some(tat) => *tat = next,
                None => {
                    if shard.tats.len() >= shard.next_sweep.max(self.sweep_at) {
                        // A TAT in the past means a whole quota: forgetting the key changes nothing.
                        shard.tats.retain(|_, tat| *tat > now);
                        shard.next_sweep = (shard.tats.len() * 2).max(self.sweep_at);
                    }
                    shard.tats.insert(key.to_string(), next);
                }
            }
        }
        decision
    }
}

/// The same algorithm as [`gcra`] over several keys at once, in Redis: stops at the first key that
/// refuses. Times in microseconds from Redis's clock.
const REDIS_GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local out = {}
for _, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local ahead = tat + interval - now
  if ahead > window then
    out[#out + 1] = {0, 0, tat - now, ahead - window}
    return out
  end
  redis.call('SET', key, string.format('%.0f', tat + interval), 'PX', math.floor(ahead / 1000) + 1)
  local remaining = 0
  if interval > 0 then remaining = math.floor((window - ahead) / interval) end
  out[#out + 1] = {1, remaining, ahead, 0}
end
return out
";

static REDIS_SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| redis::Script::new(REDIS_GCRA));

/// Counts requests in process, or in Redis when one is configured.
#[derive(Default)]
pub struct Limiter {
    local: LocalLimiter,
    shared: Option<crate::redis::Redis>,
}

impl Limiter {
    /// A limiter sharing its counts with every node through `redis`.
    pub fn shared(redis: crate::redis::Redis) -> Limiter {
        Limiter { local: LocalLimiter::default(), shared: Some(redis) }
    }

    /// Counts one request against each of `keys` in turn, stopping at the first that refuses;
    /// answers the refusal, or the tightest of the allowances.
    pub async fn check(&self, keys: &[String], quota: Quota) -> Decision {
        if let Some(redis) = &self.shared {
            let mut call = REDIS_SCRIPT.prepare_invoke();
            for key in keys {
                call.key(redis.key(&format!("rl:{key}")));
            }
            call.arg(quota.interval().as_micros() as u64).arg(quota.window.as_micros() as u64);
            if let Ok(answers) = redis.run::<Vec<(i64, i64, i64, i64)>>("rate_limit", &call).await {
                let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
                return tightest(answers.into_iter().map(|(allowed, remaining, reset, retry)| Decision {
                    allowed: allowed == 1,
                    remaining: u32::try_from(remaining).unwrap_or(0),
                    reset: micros(reset),
                    retry_after: micros(retry),
                }));
            }
        }
        let mut decisions = Vec::with_capacity(keys.len());
        for key in keys {
            let decision = self.local.check(key, quota);
            decisions.push(decision);
            if !decision.allowed {
                break;
            }
        }
        tightest(decisions)
    }
}

/// The refusal among `decisions` if there is one, else the one with the fewest requests left.
fn tightest(decisions: impl IntoIterator<Item = Decision>) -> Decision {
    let mut tightest: Option<Decision> = None;
    for d in decisions {
        tightest = match tightest {
            Some(t) if !t.allowed || (d.allowed && t.remaining <= d.remaining) => Some(t),
            _ => Some(d),
        };
    }
    // No key at all: nothing was counted.
    tightest.unwrap_or(Decision {
        allowed: true,
        remaining: u32::MAX,
        reset: Duration::ZERO,
        retry_after: Duration::ZERO,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Quota = Quota { limit: 60, window: Duration::from_secs(60) };

    #[test]
    fn a_burst_of_the_whole_quota_then_one_per_interval() {
        let limiter = LocalLimiter::default();
        let t0 = Duration::from_secs(100);
        for i in 0..60 {
            let d = limiter.check_at("k", MINUTE, t0);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 59 - i);
        }
        let refused = limiter.check_at("k", MINUTE, t0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        assert_eq!(refused.reset, Duration::from_secs(60));
        // Another key has its own quota.
        assert!(limiter.check_at("other", MINUTE, t0).allowed);
        // One interval later, exactly one more.
        let later = t0 + Duration::from_secs(1);
        assert!(limiter.check_at("k", MINUTE, later).allowed);
        assert!(!limiter.check_at("k", MINUTE, later).allowed);
        // A whole window later, the whole quota again.
        let d = limiter.check_at("k", MINUTE, later + Duration::from_secs(60));
        assert!(d.allowed);
        assert_eq!(d.remaining, 59);
    }

    #[test]
    fn quotas_parse_from_config() {
        assert_eq!(Quota::parse("600/60").unwrap(), Quota { limit: 600, window: Duration::from_secs(60) });
        assert_eq!(Quota::parse(" 5 / 1s ").unwrap(), Quota { limit: 5, window: Duration::from_secs(1) });
        for bad in ["", "60", "0/60", "60/0", "x/60", "60/y", "1/18446744073709551615", "2000000000/1", "1001/1"] {
            assert!(Quota::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sweeping_forgets_only_whole_quotas() {
        const SWEEP_AT: usize = 64;
        let limiter = LocalLimiter { sweep_at: SWEEP_AT, ..LocalLimiter::default() };
        let t0 = Duration::from_secs(10);
        for i in 0..(SWEEP_AT * SHARDS * 2) {
            limiter.check_at(&format!("k{i}"), MINUTE, t0);
        }
        // Much later every quota is whole: the old keys go as new ones arrive.
        let later = t0 + Duration::from_secs(120);
        let fresh = SWEEP_AT * SHARDS * 4;
        for i in 0..fresh {
            limiter.check_at(&format!("n{i}"), MINUTE, later);
        }
        let total: usize = limiter.shards.iter().map(|s| s.lock().unwrap().tats.len()).sum();
        assert!(total <= fresh * 5 / 4, "{total} keys kept of {} seen", fresh + SWEEP_AT * SHARDS * 2);
        // A key still spending its quota survives a sweep.
        let busy = Quota { limit: 1, window: Duration::from_secs(3600) };
        assert!(limiter.check_at("busy", busy, later).allowed);
        for i in 0..(SWEEP_AT * SHARDS * 8) {
            limiter.check_at(&format!("m{i}"), MINUTE, later + Duration::from_secs(120));
        }
        assert!(!limiter.check_at("busy", busy, later + Duration::from_secs(120)).allowed);
    }
}
