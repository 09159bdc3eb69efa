//! The Redis-backed parts against a real Redis: the response cache's shared tier (versions,
//! refused stale stores, fences) and the shared GCRA counts; and both with Redis unreachable.
//! Each test works under its own key prefix and deletes it afterwards.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use keel_platform::cache::{SharedTier, TierHealth, TierRead};
use keel_platform::ratelimit::{Limiter, Quota};
use keel_platform::redis::{Redis, RedisConfig};
use std::time::Duration;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A client under a fresh prefix, or `None` when Redis is unavailable outside CI.
async fn redis() -> Option<(Redis, String)> {
    let url = std::env::var("KEEL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("keel_test_{}:", uuid_like());
    let redis = Redis::connect(&RedisConfig { url: url.clone(), prefix, timeout: Duration::from_secs(2) }).unwrap();
    match redis.ping().await {
        Ok(()) => Some((redis, url)),
        Err(_) if in_ci() => panic!("CI=true but Redis at {url} is unreachable"),
        Err(_) => {
            eprintln!("Redis suite NOT RUN: cannot reach {url}; set KEEL_TEST_REDIS_URL");
            None
        }
    }
}

fn uuid_like() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    format!("{:016x}", h.finish())
}

/// Deletes every key under the client's prefix.
async fn clean(redis: &Redis) {
    let script =
        redis::Script::new("for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 0");
    let mut call = script.prepare_invoke();
    call.arg(redis.key("*"));
    redis.run::<i64>("test_clean", &call).await.unwrap();
}

/// A Redis nobody listens on.
fn unreachable() -> Redis {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("redis://127.0.0.1:{port}");
    Redis::connect(&RedisConfig { url, prefix: "keel_test_down:".into(), timeout: Duration::from_millis(200) }).unwrap()
}

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| t.to_string()).collect()
}

async fn miss(tier: &SharedTier, key: &str) -> keel_platform::cache::TierGeneration {
    match tier.get(key).await {
        TierRead::Miss(generation) => generation,
        TierRead::Hit(v) => panic!("{key}: a hit ({:?})", String::from_utf8_lossy(&v)),
        TierRead::Skipped => panic!("{key}: skipped"),
    }
}

async fn hit(tier: &SharedTier, key: &str) -> String {
    match tier.get(key).await {
        TierRead::Hit(v) => String::from_utf8(v).unwrap(),
        TierRead::Miss(_) => panic!("{key}: a miss"),
        TierRead::Skipped => panic!("{key}: skipped"),
    }
}

/// Waits (bounded) until the tier is read again after an invalidation, and returns that read.
async fn settled(tier: &SharedTier, key: &str) -> TierRead {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tier.get(key).await {
            TierRead::Skipped => {
                assert!(tokio::time::Instant::now() < deadline, "the tier stayed fenced");
                tokio::task::yield_now().await;
            }
            read => return read,
        }
    }
}

#[tokio::test]
async fn entries_are_shared_until_a_tag_they_carry_gets_a_new_version() {
    let Some((redis, _)) = redis().await else { return };
    // Two nodes' tiers on one Redis.
    let a = SharedTier::new(redis.clone(), "t", Duration::from_secs(60));
    let b = SharedTier::new(redis.clone(), "t", Duration::from_secs(60));

    let seen = miss_after_start(&a).await;
    a.put("/p/1", seen, b"one", &tags(&["p:1", "lists"])).await;
    let seen = miss(&a, "/p/2").await;
    a.put("/p/2", seen, b"two", &tags(&["p:2"])).await;
    assert_eq!(hit(&b, "/p/1").await, "one", "another node reads what this one stored");

    b.invalidate(None, tags(&["p:1"]));
    // The fence is up at once on the invalidating node: no read of the tier until Redis has it.
    assert!(matches!(b.get("/p/2").await, TierRead::Skipped));
    assert!(matches!(settled(&b, "/p/1").await, TierRead::Miss(_)), "the entry carrying p:1 is stale");
    assert_eq!(hit(&a, "/p/2").await, "two", "an entry without the tag stays");

    b.invalidate_all();
    assert!(matches!(settled(&b, "/p/2").await, TierRead::Miss(_)), "invalidate_all reaches every entry");
    clean(&redis).await;
}

#[tokio::test]
async fn an_event_heard_by_every_node_lands_once() {
    let Some((redis, _)) = redis().await else { return };
    let a = SharedTier::new(redis.clone(), "t", Duration::from_secs(60));
    let b = SharedTier::new(redis.clone(), "t", Duration::from_secs(60));
    a.invalidate_all();
    let _ = settled(&a, "/x").await;

    // A commits an event and sends it; an entry is stored after it landed.
    a.invalidate(Some("evt_1"), tags(&["p:1"]));
    let seen = match settled(&a, "/p/1").await {
        TierRead::Miss(seen) => seen,
        _ => panic!("a miss"),
    };
    a.put("/p/1", seen, b"after the change", &tags(&["p:1"])).await;
    // B hears the same event later (from the bus): its fence lifts, the fresh entry stays.
    b.invalidate(Some("evt_1"), tags(&["p:1"]));
    assert!(matches!(b.get("/p/1").await, TierRead::Skipped), "fenced until Redis acknowledged");
    match settled(&b, "/p/1").await {
        TierRead::Hit(v) => assert_eq!(v, b"after the change"),
        _ => panic!("the event bumped the versions twice"),
    }
    clean(&redis).await;
}

#[tokio::test]
async fn a_failed_invalidation_leaves_the_tier_unread_until_one_for_everything_lands() {
    let Some((redis, url)) = redis().await else { return };
    let (tier, mut conn) = tier_holding_one_entry(&redis, &url).await;
    assert_eq!(hit(&tier, "/p/1").await, "one");

    // The counter is broken (not a number): invalidations fail inside Redis.
    let counter = redis.key("t:gen");
    redis::cmd("SET").arg(&counter).arg("not a number").query_async::<()>(&mut conn).await.unwrap();
    tier.invalidate(None, tags(&["p:1"]));
    wait_for(&tier, TierHealth::Dirty).await;
    assert!(matches!(tier.get("/p/1").await, TierRead::Skipped), "a tier that missed an invalidation is not read");

    // Repaired: the next retry (every second) bumps `*`, and every older entry is stale.
    redis::cmd("DEL").arg(&counter).query_async::<()>(&mut conn).await.unwrap();
    wait_for(&tier, TierHealth::Ready).await;
    assert!(matches!(tier.get("/p/1").await, TierRead::Miss(_)));
    clean(&redis).await;
}

/// A started tier holding `/p/1` = `one` (tagged `p:1`), and a connection of the test's own to
/// the same Redis, for breaking it.
async fn tier_holding_one_entry(
    redis: &keel_platform::redis::Redis,
    url: &str,
) -> (SharedTier, redis::aio::MultiplexedConnection) {
    let tier = SharedTier::new(redis.clone(), "t", Duration::from_secs(60));
    let seen = miss_after_start(&tier).await;
    tier.put("/p/1", seen, b"one", &tags(&["p:1"])).await;
    let client = redis::Client::open(url).unwrap();
    (tier, client.get_multiplexed_async_connection().await.unwrap())
}

/// A miss on a tier whose counter exists (a starting node's `invalidate_all` creates it).
async fn miss_after_start(tier: &SharedTier) -> keel_platform::cache::TierGeneration {
    tier.invalidate_all();
    match settled(tier, "/p/1").await {
        TierRead::Miss(seen) => seen,
        _ => panic!("a miss"),
    }
}

async fn wait_for(tier: &SharedTier, health: TierHealth) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tier.health() != health {
        assert!(tokio::time::Instant::now() < deadline, "the tier never became {health:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Redis that lost the counter (a restart without persistence, an eviction) is not trusted with
/// what it kept; the read that finds the counter gone renews it as an `invalidate_all` would, so
/// the tier is in use again at once, without waiting for the next change.
#[tokio::test]
async fn without_its_counter_nothing_kept_is_trusted_and_the_tier_starts_again() {
    let Some((redis, url)) = redis().await else { return };
    let (tier, mut conn) = tier_holding_one_entry(&redis, &url).await;
    let before: i64 = redis::cmd("GET").arg(redis.key("t:gen")).query_async(&mut conn).await.unwrap();
    // Redis lost the counter but kept the entry.
    redis::cmd("DEL").arg(redis.key("t:gen")).query_async::<()>(&mut conn).await.unwrap();
    let seen = miss(&tier, "/p/1").await;
    let renewed: i64 = redis::cmd("GET").arg(redis.key("t:gen")).query_async(&mut conn).await.unwrap();
    assert!(renewed > before, "the renewed counter never gives out a version again: {renewed} <= {before}");
    tier.put("/p/1", seen, b"two", &tags(&["p:1"])).await;
    assert!(matches!(tier.get("/p/1").await, TierRead::Hit(v) if v == b"two"), "what is stored after is served");
    clean(&redis).await;
}

/// A store whose miss came before the counter was lost is refused: its load may predate changes
/// whose invalidations Redis no longer knows.
#[tokio::test]
async fn a_load_from_before_the_counter_was_lost_is_not_stored() {
    let Some((redis, url)) = redis().await else { return };
    let (tier, mut conn) = tier_holding_one_entry(&redis, &url).await;
    let seen = match settled(&tier, "/p/2").await {
        TierRead::Miss(seen) => seen,
        _ => panic!("a miss"),
    };
    redis::cmd("DEL").arg(redis.key("t:gen")).query_async::<()>(&mut conn).await.unwrap();
    assert!(matches!(tier.get("/p/1").await, TierRead::Miss(_)), "the entry kept is not trusted");
    tier.put("/p/2", seen, b"old", &tags(&["p:2"])).await;
    assert!(matches!(tier.get("/p/2").await, TierRead::Miss(_)), "the earlier load is not stored");
    clean(&redis).await;
}

/// A Redis that accepts connections and never answers: the first call waits its timeout, then
/// the circuit is open and calls fail without sending anything.
#[tokio::test]
async fn a_silent_redis_costs_one_timeout_then_nothing() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    let url = format!("redis://127.0.0.1:{port}");
    // A timeout far longer than a call that does not wait for it.
    let silent =
        Redis::connect(&RedisConfig { url, prefix: "keel_test_silent:".into(), timeout: Duration::from_secs(3) })
            .unwrap();
    let limiter = Limiter::shared(silent.clone());
    let quota = Quota { limit: 2, window: Duration::from_secs(60) };
    let key = vec!["default|ip:203.0.113.10".to_string()];
    assert!(limiter.check(&key, quota).await.allowed, "counted in process when Redis does not answer");
    assert!(silent.circuit_is_open());
    let open = std::time::Instant::now();
    assert!(limiter.check(&key, quota).await.allowed);
    assert!(!limiter.check(&key, quota).await.allowed, "the in-process quota applies");
    assert!(open.elapsed() < Duration::from_secs(1), "calls while the circuit is open do not wait for Redis");
}

#[tokio::test]
async fn a_load_that_overlapped_an_invalidation_is_not_stored() {
    let Some((redis, _)) = redis().await else { return };
    let a = SharedTier::new(redis.clone(), "t", Duration::from_secs(60));
    let b = SharedTier::new(redis.clone(), "t", Duration::from_secs(60));

    // A misses and starts loading; meanwhile B hears of a change to something else entirely.
    let seen = miss_after_start(&a).await;
    b.invalidate(None, tags(&["p:9"]));
    assert!(matches!(settled(&b, "/other").await, TierRead::Miss(_)));
    a.put("/p/1", seen, b"maybe stale", &tags(&["p:1"])).await;
    assert!(matches!(a.get("/p/1").await, TierRead::Miss(_)), "refused: the load may have read the change");

    // A load that starts after the invalidation is stored.
    let seen = miss(&a, "/p/1").await;
    a.put("/p/1", seen, b"fresh", &tags(&["p:1"])).await;
    assert_eq!(hit(&b, "/p/1").await, "fresh");
    clean(&redis).await;
}

#[tokio::test]
async fn with_redis_unreachable_the_tier_is_skipped_and_stays_skipped_after_a_lost_invalidation() {
    let down = SharedTier::new(unreachable(), "t", Duration::from_secs(60));
    assert!(matches!(down.get("/p/1").await, TierRead::Skipped));
    down.invalidate(None, tags(&["p:1"]));
    assert_eq!(down.health(), TierHealth::Fenced);
    // The invalidation cannot land: the tier is not read again until an invalidate_all does.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while down.health() != TierHealth::Dirty {
        assert!(tokio::time::Instant::now() < deadline, "the failed invalidation was not noticed");
        tokio::task::yield_now().await;
    }
    assert!(matches!(down.get("/p/1").await, TierRead::Skipped));
}

#[tokio::test]
async fn nodes_sharing_redis_share_one_quota() {
    let Some((redis, _)) = redis().await else { return };
    let a = Limiter::shared(redis.clone());
    let b = Limiter::shared(redis.clone());
    let quota = Quota { limit: 5, window: Duration::from_secs(60) };
    let key = vec!["default|ip:203.0.113.7".to_string()];
    for i in 0..3 {
        let d = a.check(&key, quota).await;
        assert!(d.allowed, "request {i} on A");
        assert_eq!(d.remaining, 4 - i);
    }
    for i in 3..5 {
        assert!(b.check(&key, quota).await.allowed, "request {i} on B");
    }
    let refused = b.check(&key, quota).await;
    assert!(!refused.allowed, "the sixth request, on either node, is over the shared quota");
    assert!(!a.check(&key, quota).await.allowed);
    // One request per 12 s refills: the next is allowed within one interval.
    assert!(refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(12), "{refused:?}");
    assert!(refused.reset <= Duration::from_secs(60) && refused.reset > Duration::from_secs(48), "{refused:?}");

    // A second key (a credential) is counted after the first and the tighter answers.
    let both = vec!["default|ip:198.51.100.1".to_string(), "default|cred:1".to_string()];
    for _ in 0..4 {
        a.check(&both[1..], quota).await;
    }
    let d = a.check(&both, quota).await;
    assert!(d.allowed);
    assert_eq!(d.remaining, 0, "the credential has one left of five, the address four");
    clean(&redis).await;
}

#[tokio::test]
async fn with_redis_unreachable_each_node_counts_in_process() {
    let limiter = Limiter::shared(unreachable());
    let quota = Quota { limit: 2, window: Duration::from_secs(60) };
    let key = vec!["auth|ip:203.0.113.9".to_string()];
    assert!(limiter.check(&key, quota).await.allowed);
    assert!(limiter.check(&key, quota).await.allowed);
    assert!(!limiter.check(&key, quota).await.allowed, "the in-process count still limits");
}
