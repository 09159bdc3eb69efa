//! The in-process cache: a bounded, tagged store with single-flight loading.
//!
//! Each entry carries tags (`p:prod_…`, `v:var_…`, …) naming what it was computed from;
//! [`TaggedCache::invalidate`] drops every entry carrying one of the given tags, at once (a
//! `get` after it returns never sees them). Entries are bounded by total weight (bytes) with
//! TinyLFU admission (moka) and live at most a time-to-live, a safety net behind the
//! event-driven invalidation.
//!
//! **Single flight.** Concurrent misses of one key run one load; the others wait for its result
//! (and take over if the loading request is dropped). **No stale fills.** A load that overlaps
//! an invalidation is served but not stored: it may have read what the invalidation was about.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How big a cache may grow and how long an entry may live.
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    /// Total weight (bytes, as the cache's weigher counts them); 0 turns the cache off.
    pub max_bytes: u64,
    pub ttl: Duration,
}

/// What a load produced: the value, and the tags to store it under (`None`: serve it, do not
/// keep it — an error, a personal answer).
pub struct Loaded<V> {
    pub value: V,
    pub tags: Option<Vec<String>>,
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    /// This caller ran the load.
    Miss,
    /// Another caller's load, running when this one asked.
    Coalesced,
    /// Caching is off.
    Bypass,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Coalesced => "coalesced",
            Outcome::Bypass => "bypass",
        }
    }
}

#[derive(Clone)]
struct Stored<V> {
    value: V,
    tags: Arc<[Arc<str>]>,
    /// Tells this entry from a later one under the same key (see the eviction listener).
    serial: u64,
}

type TagIndex = HashMap<Arc<str>, HashMap<Arc<str>, u64>>;

/// Loads in flight, by key, with the generation they started in: what concurrent misses wait on.
type Inflight<V> = HashMap<Arc<str>, (u64, Arc<OnceCell<Loaded<V>>>)>;

/// Removes a load from the in-flight map when its last caller leaves: finished, or abandoned
/// (the client went away) with nobody else waiting to take it over.
struct InflightGuard<'a, V> {
    inner: &'a Inner<V>,
    key: Arc<str>,
    cell: Arc<OnceCell<Loaded<V>>>,
}

impl<V> Drop for InflightGuard<'_, V> {
    fn drop(&mut self) {
        let mut inflight = self.inner.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        let ours = inflight.get(&self.key).is_some_and(|(_, c)| Arc::ptr_eq(c, &self.cell));
        // The map and this guard hold two references: more means another caller still waits.
        if ours && (self.cell.initialized() || Arc::strong_count(&self.cell) <= 2) {
            inflight.remove(&self.key);
        }
    }
}

struct Inner<V> {
    name: &'static str,
    entries: Option<moka::sync::Cache<Arc<str>, Stored<V>>>,
    /// tag → keys (with their entry's serial) carrying it.
    tags: Arc<Mutex<TagIndex>>,
    /// Bumped by every invalidation: a load that saw it change does not store its result.
    generation: AtomicU64,
    serials: AtomicU64,
    inflight: Mutex<Inflight<V>>,
}

/// A tagged cache of `V` (cheap to clone: share it).
pub struct TaggedCache<V> {
    inner: Arc<Inner<V>>,
}

/// A handle that does not keep the cache alive (for hooks registered elsewhere).
pub struct WeakTaggedCache<V>(std::sync::Weak<Inner<V>>);

impl<V> WeakTaggedCache<V> {
    pub fn upgrade(&self) -> Option<TaggedCache<V>> {
        self.0.upgrade().map(|inner| TaggedCache { inner })
    }
}

impl<V> Clone for TaggedCache<V> {
    fn clone(&self) -> Self {
        TaggedCache { inner: self.inner.clone() }
    }
}

impl<V: Clone + Send + Sync + 'static> TaggedCache<V> {
    /// A cache named `name` (its metrics label) weighing each value with `weigh`.
    pub fn new(name: &'static str, config: CacheConfig, weigh: fn(&V) -> u32) -> Self {
        let tags: Arc<Mutex<TagIndex>> = Arc::default();
        let entries = (config.max_bytes > 0).then(|| {
            let index = tags.clone();
            moka::sync::Cache::builder()
                .max_capacity(config.max_bytes)
                .weigher(move |key: &Arc<str>, stored: &Stored<V>| {
                    weigh(&stored.value).saturating_add(u32::try_from(key.len()).unwrap_or(u32::MAX))
                })
                .time_to_live(config.ttl)
                .eviction_listener(move |key: Arc<Arc<str>>, stored: Stored<V>, _cause| {
                    forget(&index, &key, &stored);
                })
                .build()
        });
        TaggedCache {
            inner: Arc::new(Inner {
                name,
                entries,
                tags,
                generation: AtomicU64::new(0),
                serials: AtomicU64::new(0),
                inflight: Mutex::default(),
            }),
        }
    }

    pub fn downgrade(&self) -> WeakTaggedCache<V> {
        WeakTaggedCache(Arc::downgrade(&self.inner))
    }

    pub fn enabled(&self) -> bool {
        self.inner.entries.is_some()
    }

    /// The value under `key`, or what `load` makes of a miss (run once for concurrent misses).
    pub async fn get_or_load<F, Fut>(&self, key: &str, load: F) -> (V, Outcome)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Loaded<V>>,
    {
        let inner = &*self.inner;
        let Some(entries) = &inner.entries else {
            return (load().await.value, Outcome::Bypass);
        };
        if let Some(stored) = entries.get(key) {
            self.count(Outcome::Hit);
            return (stored.value, Outcome::Hit);
        }
        let key: Arc<str> = Arc::from(key);
        let generation = inner.generation.load(Ordering::Acquire);
        // Join a load only if it started after the last invalidation: one that started before may
        // be reading what changed.
        let cell = {
            let mut inflight = inner.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            match inflight.get(&key) {
                Some((g, cell)) if *g == generation => cell.clone(),
                _ => {
                    let cell: Arc<OnceCell<Loaded<V>>> = Arc::default();
                    inflight.insert(key.clone(), (generation, cell.clone()));
                    cell
                }
            }
        };
        let guard = InflightGuard { inner, key: key.clone(), cell };
        let ran = AtomicBool::new(false);
        let loaded = guard
            .cell
            .get_or_init(|| async {
                ran.store(true, Ordering::Relaxed);
                let loaded = load().await;
                if let Some(tags) = &loaded.tags
                    && inner.generation.load(Ordering::Acquire) == generation
                {
                    self.store(entries, key.clone(), loaded.value.clone(), tags, generation);
                }
                loaded
            })
            .await;
        let outcome = if ran.load(Ordering::Relaxed) { Outcome::Miss } else { Outcome::Coalesced };
        self.count(outcome);
        (loaded.value.clone(), outcome)
    }

    /// Keeps a loaded value. An invalidation that overlaps this (it bumps the generation before
    /// it drops anything) is caught by the check after the insert, so nothing stale survives it.
    fn store(
        &self,
        entries: &moka::sync::Cache<Arc<str>, Stored<V>>,
        key: Arc<str>,
        value: V,
        tags: &[String],
        generation: u64,
    ) {
        let serial = self.inner.serials.fetch_add(1, Ordering::Relaxed);
        let tags: Arc<[Arc<str>]> = tags.iter().map(|t| Arc::from(t.as_str())).collect();
        let stored = Stored { value, tags: tags.clone(), serial };
        entries.insert(key.clone(), stored);
        {
            let mut index = self.inner.tags.lock().unwrap_or_else(PoisonError::into_inner);
            for tag in tags.iter() {
                index.entry(tag.clone()).or_default().insert(key.clone(), serial);
            }
        }
        if self.inner.generation.load(Ordering::Acquire) != generation {
            entries.invalidate(&key);
        }
    }

    /// Drops every entry carrying one of `tags`.
    pub fn invalidate<S: AsRef<str>>(&self, tags: &[S]) {
        let inner = &*self.inner;
        let Some(entries) = &inner.entries else { return };
        inner.generation.fetch_add(1, Ordering::AcqRel);
        let mut keys: Vec<Arc<str>> = Vec::new();
        {
            let mut index = inner.tags.lock().unwrap_or_else(PoisonError::into_inner);
            for tag in tags {
                if let Some(tagged) = index.remove(tag.as_ref()) {
                    keys.extend(tagged.into_keys());
                }
            }
        }
        for key in &keys {
            entries.invalidate(key);
        }
        metrics::counter!("keel_cache_invalidations_total", "cache" => inner.name, "scope" => "tags").increment(1);
    }

    /// Drops every entry.
    pub fn invalidate_all(&self) {
        let inner = &*self.inner;
        let Some(entries) = &inner.entries else { return };
        {
            // Bump and clear together: a load that saw the new generation indexes its entry
            // after the clear, so its tags survive.
            let mut index = inner.tags.lock().unwrap_or_else(PoisonError::into_inner);
            inner.generation.fetch_add(1, Ordering::AcqRel);
            index.clear();
        }
        entries.invalidate_all();
        metrics::counter!("keel_cache_invalidations_total", "cache" => inner.name, "scope" => "all").increment(1);
    }

    /// Entries and their total weight (approximate: moka counts lazily).
    pub fn size(&self) -> (u64, u64) {
        match &self.inner.entries {
            Some(entries) => {
                entries.run_pending_tasks();
                (entries.entry_count(), entries.weighted_size())
            }
            None => (0, 0),
        }
    }

    fn count(&self, outcome: Outcome) {
        metrics::counter!("keel_cache_lookups_total", "cache" => self.inner.name, "result" => outcome.as_str())
            .increment(1);
    }
}

/// Removes an evicted entry's key from the tag index, unless a later entry took its place.
fn forget<V>(index: &Mutex<TagIndex>, key: &Arc<str>, stored: &Stored<V>) {
    let mut index = index.lock().unwrap_or_else(PoisonError::into_inner);
    for tag in stored.tags.iter() {
        if let Some(keys) = index.get_mut(tag) {
            if keys.get(key) == Some(&stored.serial) {
                keys.remove(key);
            }
            if keys.is_empty() {
                index.remove(tag);
            }
        }
    }
}

/// The second tier of a tagged cache, in Redis and shared by every node: a node's miss is
/// answered from what another node loaded, so a new or restarted node, or a key cold on this
/// node, costs the database nothing.
///
/// **Invalidation by versions.** An invalidation gives each of its tags a new version (the next
/// value of a global counter, never reused); an entry records its tags' versions when it is
/// stored and is served only while they are all unchanged. `*` is every entry's implicit tag
/// (`invalidate_all`). A store is refused when any invalidation happened since the read that
/// missed (the load may have read what changed), the in-process cache's rule.
///
/// **Fences.** Events reach every node (committed here, or from the bus), and every node sends
/// their invalidation to Redis. Until its own has landed a node does not read the tier, so what
/// it serves after an event is never older than the event. A failed invalidation leaves the
/// tier unread until a later `invalidate_all` goes through (retried every second).
#[derive(Clone)]
pub struct SharedTier {
    redis: crate::redis::Redis,
    name: &'static str,
    ttl: Duration,
    /// `{prefix}{name}:t:` (tag versions) and `{prefix}{name}:gen` (the counter).
    tag_prefix: Arc<str>,
    counter: Arc<str>,
    state: Arc<TierState>,
}

#[derive(Default)]
struct TierState {
    /// Invalidations sent and not yet acknowledged.
    fences: std::sync::atomic::AtomicUsize,
    /// Invalidations that failed, and how many of them a later `invalidate_all` has covered:
    /// while they differ the tier may hold stale entries.
    failures: AtomicU64,
    healed: AtomicU64,
    healing: AtomicBool,
}

/// Lowers a fence when dropped.
struct Fence<'a>(&'a TierState);

impl Drop for Fence<'_> {
    fn drop(&mut self) {
        self.0.fences.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the tier had.
pub enum TierRead {
    Hit(Vec<u8>),
    /// Not there (or stale): load it, then [`SharedTier::put`] with this generation.
    Miss(TierGeneration),
    /// Not read: fenced, dirty or Redis unavailable.
    Skipped,
}

/// Whether a [`SharedTier`] is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierHealth {
    Ready,
    /// An invalidation is on its way to Redis.
    Fenced,
    /// An invalidation failed; unread until an `invalidate_all` goes through.
    Dirty,
}

/// The invalidation counter seen by a miss.
pub struct TierGeneration(Vec<u8>);

// Without the counter (a Redis that lost its state, such as one restarted without persistence)
// nothing stored before is trusted: the read makes it anew, as an `invalidate_all` does (from
// Redis's clock, above any value it had, and `*` bumped), so the tier is used again at once
// rather than after the next change.
const TIER_GET: &str = r"
local g = redis.call('GET', ARGV[2])
if not g then
  local t = redis.call('TIME')
  redis.call('SET', ARGV[2], string.format('%d%06d', tonumber(t[1]), tonumber(t[2])), 'NX')
  redis.call('SET', ARGV[1] .. '*', redis.call('INCR', ARGV[2]))
  return {0, redis.call('GET', ARGV[2])}
end
local check = redis.call('HGET', KEYS[1], 'c')
if check then
  local fresh = true
  for tag, version in string.gmatch(check, '([^|=]+)=([^|]*)') do
    if (redis.call('GET', ARGV[1] .. tag) or '0') ~= version then fresh = false break end
  end
  if fresh then return {1, redis.call('HGET', KEYS[1], 'b')} end
end
return {0, g}
";

const TIER_PUT: &str = r"
local g = redis.call('GET', ARGV[2])
if not g or g ~= ARGV[3] then return 0 end
local check = {'*=' .. (redis.call('GET', ARGV[1] .. '*') or '0')}
for i = 6, #ARGV do
  check[#check + 1] = ARGV[i] .. '=' .. (redis.call('GET', ARGV[1] .. ARGV[i]) or '0')
end
redis.call('HSET', KEYS[1], 'b', ARGV[5], 'c', table.concat(check, '|'))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
";

// ARGV[3]: the event's key when it may arrive more than once (every node sends the events it
// hears): the first lands, later ones are acknowledged without bumping again. Version keys do
// not expire (one per product and variant at most), so a version is never forgotten. A lost
// counter starts again from Redis's clock in microseconds, above any value it had before, so no
// version is ever given out twice.
const TIER_INVALIDATE: &str = r"
if ARGV[3] ~= '' and not redis.call('SET', ARGV[3], '1', 'NX', 'PX', 600000) then return 0 end
if not redis.call('GET', ARGV[2]) then
  local t = redis.call('TIME')
  redis.call('SET', ARGV[2], string.format('%d%06d', tonumber(t[1]), tonumber(t[2])))
end
local g = redis.call('INCR', ARGV[2])
for i = 4, #ARGV do
  redis.call('SET', ARGV[1] .. ARGV[i], g)
end
return g
";

static TIER_SCRIPTS: std::sync::LazyLock<[redis::Script; 3]> = std::sync::LazyLock::new(|| {
    [redis::Script::new(TIER_GET), redis::Script::new(TIER_PUT), redis::Script::new(TIER_INVALIDATE)]
});

/// Keys longer than this are not shared (they stay in the in-process tier).
const TIER_MAX_KEY: usize = 512;

impl SharedTier {
    /// A tier named `name` (its key space and metrics label) whose entries live at most `ttl`.
    pub fn new(redis: crate::redis::Redis, name: &'static str, ttl: Duration) -> SharedTier {
        let tag_prefix = Arc::from(redis.key(&format!("{name}:t:")));
        let counter = Arc::from(redis.key(&format!("{name}:gen")));
        SharedTier { redis, name, ttl, tag_prefix, counter, state: Arc::default() }
    }

    /// Whether reads use the tier now, or why not.
    pub fn health(&self) -> TierHealth {
        if self.state.failures.load(Ordering::Acquire) != self.state.healed.load(Ordering::Acquire) {
            TierHealth::Dirty
        } else if self.state.fences.load(Ordering::Acquire) != 0 {
            TierHealth::Fenced
        } else {
            TierHealth::Ready
        }
    }

    fn usable(&self) -> bool {
        self.health() == TierHealth::Ready
    }

    /// The entry under `key`, if it is there and fresh.
    pub async fn get(&self, key: &str) -> TierRead {
        if !self.usable() || key.len() > TIER_MAX_KEY {
            return self.counted(TierRead::Skipped);
        }
        let mut call = TIER_SCRIPTS[0].prepare_invoke();
        call.key(self.redis.key(&format!("{}:e:{key}", self.name))).arg(&*self.tag_prefix).arg(&*self.counter);
        let read = match self.redis.run::<(i64, Vec<u8>)>("cache_get", &call).await {
            Ok((1, value)) => TierRead::Hit(value),
            Ok((_, generation)) => TierRead::Miss(TierGeneration(generation)),
            Err(_) => TierRead::Skipped,
        };
        // A fence raised while the read ran: its answer may predate the event.
        if matches!(read, TierRead::Hit(_)) && !self.usable() {
            return self.counted(TierRead::Skipped);
        }
        self.counted(read)
    }

    fn counted(&self, read: TierRead) -> TierRead {
        let result = match &read {
            TierRead::Hit(_) => "hit",
            TierRead::Miss(_) => "miss",
            TierRead::Skipped => "skipped",
        };
        metrics::counter!("keel_cache_lookups_total", "cache" => self.name, "result" => result).increment(1);
        read
    }

    /// Stores what a miss loaded, unless anything was invalidated since the miss. Tags holding
    /// `|` or `=` cannot be recorded: such an entry is not shared.
    pub async fn put(&self, key: &str, generation: TierGeneration, value: &[u8], tags: &[String]) {
        if !self.usable() || key.len() > TIER_MAX_KEY || tags.iter().any(|t| t.contains(['|', '=']) || t.is_empty()) {
            return;
        }
        let mut call = TIER_SCRIPTS[1].prepare_invoke();
        call.key(self.redis.key(&format!("{}:e:{key}", self.name)))
            .arg(&*self.tag_prefix)
            .arg(&*self.counter)
            .arg(generation.0)
            .arg(self.ttl.as_millis() as u64)
            .arg(value);
        for tag in tags {
            call.arg(tag.as_str());
        }
        let _ = self.redis.run::<i64>("cache_put", &call).await;
    }

    /// Gives `tags` new versions because of the event `event` (its id: every node sends the
    /// events it hears, and the first to land does it for all). Reads on this node skip the tier
    /// until Redis has them.
    pub fn invalidate(&self, event: Option<&str>, tags: Vec<String>) {
        // Raised before anything is spawned: a read on this node after this call skips the tier.
        self.state.fences.fetch_add(1, Ordering::AcqRel);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.state.failures.fetch_add(1, Ordering::AcqRel);
            self.state.fences.fetch_sub(1, Ordering::AcqRel);
            return;
        };
        let tier = self.clone();
        let event = event.map(|id| self.redis.key(&format!("{}:ev:{id}", self.name)));
        runtime.spawn(async move {
            // Dropped when the task ends however it ends, so no fence stays up.
            let _fence = Fence(&tier.state);
            // Invalidations are not urgent but must land: one retry before giving the tier up.
            for _ in 0..2 {
                if tier.send_invalidation(event.as_deref(), &tags).await {
                    return;
                }
            }
            tier.state.failures.fetch_add(1, Ordering::AcqRel);
            tier.heal();
        });
    }

    /// Drops every entry (gives `*`, every entry's tag, a new version).
    pub fn invalidate_all(&self) {
        self.invalidate(None, vec!["*".to_string()]);
    }

    async fn send_invalidation(&self, event: Option<&str>, tags: &[String]) -> bool {
        let mut call = TIER_SCRIPTS[2].prepare_invoke();
        call.arg(&*self.tag_prefix).arg(&*self.counter).arg(event.unwrap_or(""));
        for tag in tags {
            call.arg(tag.as_str());
        }
        self.redis.run_background::<i64>("cache_invalidate", &call).await.is_ok()
    }

    /// Retries `invalidate_all` every second until one goes through after the last failure,
    /// then reads the tier again.
    fn heal(&self) {
        if self.state.healing.swap(true, Ordering::AcqRel) {
            return;
        }
        let tier = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let seen = tier.state.failures.load(Ordering::Acquire);
                if !tier.send_invalidation(None, &["*".to_string()]).await {
                    continue;
                }
                tier.state.healed.store(seen, Ordering::Release);
                tier.state.healing.store(false, Ordering::Release);
                if tier.state.failures.load(Ordering::Acquire) == seen {
                    tracing::info!(cache = tier.name, "shared cache tier in use again");
                    return;
                }
                // Another invalidation failed meanwhile: go on, unless a new healer took over.
                if tier.state.healing.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> TaggedCache<String> {
        TaggedCache::new("test", CacheConfig { max_bytes: 1 << 20, ttl: Duration::from_secs(60) }, |v| v.len() as u32)
    }

    fn loaded(value: &str, tags: &[&str]) -> Loaded<String> {
        Loaded { value: value.to_string(), tags: Some(tags.iter().map(|t| t.to_string()).collect()) }
    }

    #[tokio::test]
    async fn a_hit_after_a_miss_and_a_tag_drops_what_carries_it() {
        let cache = cache();
        let (v, o) = cache.get_or_load("a", || async { loaded("1", &["p:1", "lists"]) }).await;
        assert_eq!((v.as_str(), o), ("1", Outcome::Miss));
        let (_, o) = cache.get_or_load("b", || async { loaded("2", &["p:2"]) }).await;
        assert_eq!(o, Outcome::Miss);
        let (v, o) = cache.get_or_load("a", || async { loaded("x", &[]) }).await;
        assert_eq!((v.as_str(), o), ("1", Outcome::Hit));

        cache.invalidate(&["p:1"]);
        let (v, o) = cache.get_or_load("a", || async { loaded("3", &["p:1"]) }).await;
        assert_eq!((v.as_str(), o), ("3", Outcome::Miss));
        let (v, o) = cache.get_or_load("b", || async { loaded("x", &[]) }).await;
        assert_eq!((v.as_str(), o), ("2", Outcome::Hit), "an entry without the tag stays");

        cache.invalidate_all();
        let (_, o) = cache.get_or_load("b", || async { loaded("4", &["p:2"]) }).await;
        assert_eq!(o, Outcome::Miss);
    }

    #[tokio::test]
    async fn untagged_results_are_served_but_not_kept() {
        let cache = cache();
        let (_, o) = cache.get_or_load("a", || async { Loaded { value: "404".to_string(), tags: None } }).await;
        assert_eq!(o, Outcome::Miss);
        let (v, o) = cache.get_or_load("a", || async { loaded("200", &[]) }).await;
        assert_eq!((v.as_str(), o), ("200", Outcome::Miss));
    }

    #[tokio::test]
    async fn a_load_overlapping_an_invalidation_is_not_kept() {
        let cache = cache();
        let (v, _) = cache
            .get_or_load("a", || async {
                // The data changed while this load was reading it.
                cache.invalidate(&["p:1"]);
                loaded("stale", &["p:1"])
            })
            .await;
        assert_eq!(v, "stale", "the caller still gets its answer");
        let (v, o) = cache.get_or_load("a", || async { loaded("fresh", &["p:1"]) }).await;
        assert_eq!((v.as_str(), o), ("fresh", Outcome::Miss));
    }

    #[tokio::test]
    async fn concurrent_misses_run_one_load() {
        let cache = cache();
        let loads = AtomicU64::new(0);
        let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
        let one = |_: usize| {
            let mut gate = gate_rx.clone();
            let (cache, loads) = (&cache, &loads);
            async move {
                cache
                    .get_or_load("k", || async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        let _ = gate.wait_for(|open| *open).await;
                        loaded("v", &["t"])
                    })
                    .await
            }
        };
        let all = futures_util::future::join_all((0..16).map(one));
        let open = async {
            // Every caller is queued on the one load once the load has started.
            while loads.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
            for _ in 0..64 {
                tokio::task::yield_now().await;
            }
            gate_tx.send(true).unwrap();
        };
        let (results, ()) = tokio::join!(all, open);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(results.iter().filter(|(_, o)| *o == Outcome::Miss).count(), 1);
        assert!(results.iter().all(|(v, _)| v == "v"));
    }

    #[tokio::test]
    async fn an_abandoned_load_leaves_nothing_behind_and_a_later_load_runs() {
        let cache = cache();
        let pending = cache.get_or_load("k", std::future::pending::<Loaded<String>>);
        // Polled once (the load starts), then dropped: the client went away.
        assert!(tokio::time::timeout(Duration::ZERO, pending).await.is_err());
        assert!(cache.inner.inflight.lock().unwrap().is_empty(), "no in-flight entry is left");
        let (v, o) = cache.get_or_load("k", || async { loaded("v", &["t"]) }).await;
        assert_eq!((v.as_str(), o), ("v", Outcome::Miss));
    }

    #[tokio::test]
    async fn a_request_after_an_invalidation_does_not_join_a_load_from_before_it() {
        let cache = cache();
        let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
        let mut gate = gate_rx.clone();
        let old = cache.get_or_load("k", || async move {
            let _ = gate.wait_for(|open| *open).await;
            loaded("old", &["p:1"])
        });
        let new = async {
            // The old load is running; then the data changes.
            tokio::task::yield_now().await;
            cache.invalidate(&["p:1"]);
            let fresh = cache.get_or_load("k", || async { loaded("new", &["p:1"]) }).await;
            gate_tx.send(true).unwrap();
            fresh
        };
        let ((old_value, _), (new_value, new_outcome)) = tokio::join!(old, new);
        assert_eq!(old_value, "old");
        assert_eq!((new_value.as_str(), new_outcome), ("new", Outcome::Miss));
        let (kept, o) = cache.get_or_load("k", || async { loaded("x", &[]) }).await;
        assert_eq!((kept.as_str(), o), ("new", Outcome::Hit), "the overlapping old load was not kept");
    }

    #[tokio::test]
    async fn off_means_every_read_loads() {
        let cache: TaggedCache<String> =
            TaggedCache::new("off", CacheConfig { max_bytes: 0, ttl: Duration::from_secs(1) }, |v| v.len() as u32);
        let (_, o) = cache.get_or_load("a", || async { loaded("1", &["t"]) }).await;
        assert_eq!(o, Outcome::Bypass);
        let (v, o) = cache.get_or_load("a", || async { loaded("2", &["t"]) }).await;
        assert_eq!((v.as_str(), o), ("2", Outcome::Bypass));
    }
}
