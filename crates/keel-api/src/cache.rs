//! The catalog's response cache: public store reads answered from memory.
//!
//! A public catalog answer (product list, product page, categories, collections, regions)
//! depends only on its URL, so it is kept whole — status, headers, body and strong ETag —
//! keyed by path and query, and tagged with what it shows: each product (`p:prod_…`) and
//! variant (`v:var_…`), `lists` for product lists, and implicitly everything else. Committed
//! events drop what they affect, on this node at commit time (an event hook on the database) and
//! on every other node when the event arrives from the bus:
//!
//! | event | drops |
//! | --- | --- |
//! | `product.*` | the product's pages and every product list |
//! | `inventory.availability_changed` | answers showing the variant (its `in_stock` flipped) |
//! | `category.*`, `collection.*`, `price_list.*`, `region.*` | everything |
//! | `search.updated` (in process: the search index took changes in) | search answers |
//!
//! With Redis configured a second tier sits behind the node's memory ([`SharedTier`]): a miss
//! here is answered from what any node loaded, and each node sends the events it hears to
//! Redis as new tag versions. Search answers stay per node (each node has its own index).
//!
//! Answers name their products in `Surrogate-Key` and `Cache-Tag`, so a CDN in front (which
//! `s-maxage` lets keep them) can be purged by product too. Personal routes never pass here.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keel_domain::catalog::view::Product;
use keel_domain::event::Event;
use keel_platform::cache::{CacheConfig, Loaded, Outcome, SharedTier, TaggedCache, TierRead};
use std::sync::Arc;
use tracing::Instrument;

/// Tags a response carries for the cache (a response extension set by the handler).
#[derive(Debug, Clone, Default)]
pub struct CacheTags(pub Vec<String>);

impl CacheTags {
    /// Search answers: dropped when the search index has taken a change in (`search.updated`),
    /// not when the change commits (the index follows a moment later).
    pub const SEARCH: &'static str = "search";

    /// Tags for answers showing `products` (`list`: a product list, which any product change may
    /// alter).
    pub fn of_products<'a>(products: impl IntoIterator<Item = &'a Product>, list: bool) -> CacheTags {
        let mut tags = Vec::new();
        if list {
            tags.push(LISTS.to_string());
        }
        for product in products {
            tags.push(format!("p:{}", product.id));
            tags.extend(product.variants.iter().map(|v| format!("v:{}", v.id)));
        }
        CacheTags(tags)
    }
}

const LISTS: &str = "lists";

/// The surrogate keys a CDN purges by: the products shown, and `product-list` on lists.
fn surrogate_keys(tags: &[String]) -> Vec<&str> {
    tags.iter()
        .filter_map(|t| match t.as_str() {
            LISTS => Some("product-list"),
            CacheTags::SEARCH => Some("search"),
            t => t.strip_prefix("p:"),
        })
        .collect()
}

/// One kept answer.
pub struct CachedResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// Came from the shared tier.
    shared: bool,
}

/// The response cache of one node (cheap to clone).
#[derive(Clone)]
pub struct ResponseCache {
    cache: TaggedCache<Arc<CachedResponse>>,
    tier: Option<SharedTier>,
}

/// The tier's name in Redis, with the version of [`encode`]'s format: a node that writes another
/// format uses other keys, so nodes of two releases side by side never misread each other.
const TIER: &str = "http-shared-v1";

/// What an event makes stale.
enum Stale {
    Tags(Vec<String>),
    All,
    /// Search answers, on this node only.
    Search,
}

fn stale(event: &Event) -> Option<Stale> {
    let (kind, _) = event.event_type.split_once('.').unwrap_or((event.event_type.as_str(), ""));
    match kind {
        "product" => Some(Stale::Tags(vec![format!("p:{}", event.aggregate.id), LISTS.to_string()])),
        "inventory" if event.event_type == "inventory.availability_changed" => {
            Some(Stale::Tags(vec![format!("v:{}", event.aggregate.id)]))
        }
        // `bus.resync`: events may have been missed.
        "category" | "collection" | "price_list" | "region" | "bus" => Some(Stale::All),
        "search" => Some(Stale::Search),
        _ => None,
    }
}

impl ResponseCache {
    /// A node's cache, with a second tier in `shared` Redis when one is given.
    pub fn new(config: CacheConfig, shared: Option<keel_platform::redis::Redis>) -> ResponseCache {
        let weigh = |r: &Arc<CachedResponse>| u32::try_from(r.body.len() + 512).unwrap_or(u32::MAX);
        let cache = TaggedCache::new("http", config, weigh);
        let tier = shared.filter(|_| cache.enabled()).map(|redis| SharedTier::new(redis, TIER, config.ttl));
        // A starting node cannot know what it missed while it was down (an invalidation lost
        // while Redis was unreachable, a `keel seed`): it drops the shared tier once.
        if let Some(tier) = &tier {
            tier.invalidate_all();
        }
        ResponseCache { cache, tier }
    }

    /// The shared tier, when there is one.
    pub fn tier(&self) -> Option<&SharedTier> {
        self.tier.as_ref()
    }

    /// Drops what `event` makes stale. The shared tier is fenced first, so no read here between
    /// the two can refill this node from it.
    pub fn apply(&self, event: &Event) {
        match stale(event) {
            Some(Stale::Tags(tags)) => {
                if let Some(tier) = &self.tier {
                    tier.invalidate(Some(&event.id.to_string()), tags.clone());
                }
                self.cache.invalidate(&tags);
            }
            Some(Stale::All) => {
                if let Some(tier) = &self.tier {
                    // `bus.resync` is this node's own news: never deduplicated.
                    let event = (event.event_type != keel_domain::event::RESYNC).then(|| event.id.to_string());
                    tier.invalidate(event.as_deref(), vec!["*".to_string()]);
                }
                self.cache.invalidate_all();
            }
            Some(Stale::Search) => self.cache.invalidate(&[CacheTags::SEARCH]),
            None => {}
        }
    }

    /// Follows the events committed through `db` (and those dispatched to it from the bus) for
    /// as long as this cache lives.
    pub fn follow(&self, db: &keel_services::Db) {
        let cache = self.cache.downgrade();
        let tier = self.tier.clone();
        db.on_event(Arc::new(move |event| match cache.upgrade() {
            Some(cache) => {
                ResponseCache { cache, tier: tier.clone() }.apply(event);
                true
            }
            None => false,
        }));
    }
}

/// The middleware: answers a public catalog GET from the cache, or runs the handler once for all
/// concurrent askers and keeps its answer when the handler tagged it.
pub async fn respond(State(cache): State<ResponseCache>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET || !cache.cache.enabled() {
        return next.run(req).await;
    }
    let key = req.uri().path_and_query().map_or_else(|| req.uri().path().to_string(), |pq| pq.as_str().to_string());
    // Search answers depend on this node's index: never shared, so not looked for either.
    let tier = cache.tier.as_ref().filter(|_| !req.uri().path().starts_with("/v1/store/search"));
    // Debug level: exported with traces (the default trace filter), not logged by default.
    let span = tracing::debug_span!("cache", otel.name = "response cache", cache.outcome = tracing::field::Empty);
    let (kept, outcome) = cache.cache.get_or_load(&key, || load(req, next, tier, &key)).instrument(span.clone()).await;
    let mut response = Response::new(Body::from(kept.body.clone()));
    *response.status_mut() = kept.status;
    *response.headers_mut() = kept.headers.clone();
    let label = match outcome {
        Outcome::Hit => "hit",
        Outcome::Coalesced => "coalesced",
        Outcome::Miss if kept.shared => "shared",
        Outcome::Miss | Outcome::Bypass => "miss",
    };
    span.record("cache.outcome", label);
    response.headers_mut().insert(X_CACHE, HeaderValue::from_static(label));
    response
}

/// Which way an answer came: `hit`, `miss`, `coalesced` (waited for another request's load) or
/// `shared` (from the shared tier).
pub const X_CACHE: HeaderName = HeaderName::from_static("x-keel-cache");

/// Asks the shared tier, then the handler; what the handler answers goes to the tier too.
async fn load(req: Request, next: Next, tier: Option<&SharedTier>, key: &str) -> Loaded<Arc<CachedResponse>> {
    let mut generation = None;
    if let Some(tier) = tier {
        match tier.get(key).await {
            TierRead::Hit(bytes) => match decode(&bytes) {
                Some((kept, tags)) => return Loaded { value: Arc::new(kept), tags: Some(tags) },
                None => tracing::warn!(key, "an entry of the shared cache tier does not decode"),
            },
            TierRead::Miss(seen) => generation = Some(seen),
            TierRead::Skipped => {}
        }
    }
    let loaded = run_handler(req, next).await;
    if let (Some(tier), Some(generation), Some(tags)) = (tier, generation, &loaded.tags)
        && !tags.iter().any(|t| t == CacheTags::SEARCH)
    {
        let (tier, key, tags, bytes) = (tier.clone(), key.to_string(), tags.clone(), encode(&loaded.value, tags));
        tokio::spawn(async move { tier.put(&key, generation, &bytes, &tags).await });
    }
    loaded
}

async fn run_handler(req: Request, next: Next) -> Loaded<Arc<CachedResponse>> {
    let response = next.run(req).await;
    let (mut parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(%err, "could not buffer a catalog response");
            let (parts, body) =
                crate::problem::for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response().into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            return Loaded {
                value: Arc::new(CachedResponse { status: parts.status, headers: parts.headers, body, shared: false }),
                tags: None,
            };
        }
    };
    let tags = parts.extensions.remove::<CacheTags>();
    if parts.status == StatusCode::OK {
        // The strong tag the ETag middleware would compute, computed once per kept answer.
        let etag = format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(&body));
        if let Ok(value) = HeaderValue::from_str(&etag) {
            parts.headers.insert(header::ETAG, value);
        }
        if let Some(tags) = &tags {
            let keys = surrogate_keys(&tags.0);
            if let Ok(value) = HeaderValue::from_str(&keys.join(" ")) {
                parts.headers.insert(HeaderName::from_static("surrogate-key"), value);
            }
            if let Ok(value) = HeaderValue::from_str(&keys.join(",")) {
                parts.headers.insert(HeaderName::from_static("cache-tag"), value);
            }
        }
    }
    let keep = parts.status == StatusCode::OK;
    Loaded {
        value: Arc::new(CachedResponse { status: parts.status, headers: parts.headers, body, shared: false }),
        tags: if keep { Some(tags.map(|t| t.0).unwrap_or_default()) } else { None },
    }
}

/// The version of [`encode`]'s format (also in the tier's name, [`TIER`]).
const FORMAT: u8 = 1;

/// A kept answer and its tags as bytes for the shared tier: the format, the status, then
/// length-prefixed header names and values and tags, then the body.
fn encode(kept: &CachedResponse, tags: &[String]) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    let mut out = Vec::with_capacity(kept.body.len() + 512);
    out.push(FORMAT);
    out.extend_from_slice(&kept.status.as_u16().to_le_bytes());
    out.extend_from_slice(&(kept.headers.len() as u32).to_le_bytes());
    for (name, value) in &kept.headers {
        put(&mut out, name.as_str().as_bytes());
        put(&mut out, value.as_bytes());
    }
    out.extend_from_slice(&(tags.len() as u32).to_le_bytes());
    for tag in tags {
        put(&mut out, tag.as_bytes());
    }
    out.extend_from_slice(&kept.body);
    out
}

fn decode(bytes: &[u8]) -> Option<(CachedResponse, Vec<String>)> {
    struct Reader<'a>(&'a [u8]);
    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
            self.0 = rest;
            Some(head)
        }
        fn count(&mut self) -> Option<usize> {
            Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
        }
        fn field(&mut self) -> Option<&'a [u8]> {
            let n = self.count()?;
            self.take(n)
        }
    }
    let mut r = Reader(bytes);
    if r.take(1)? != [FORMAT] {
        return None;
    }
    let status = StatusCode::from_u16(u16::from_le_bytes(r.take(2)?.try_into().ok()?)).ok()?;
    let mut headers = HeaderMap::new();
    for _ in 0..r.count()? {
        let name = HeaderName::from_bytes(r.field()?).ok()?;
        let value = HeaderValue::from_bytes(r.field()?).ok()?;
        headers.append(name, value);
    }
    let mut tags = Vec::new();
    for _ in 0..r.count()? {
        tags.push(String::from_utf8(r.field()?.to_vec()).ok()?);
    }
    let body = Bytes::copy_from_slice(r.0);
    Some((CachedResponse { status, headers, body, shared: true }, tags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrogate_keys_name_products_and_lists() {
        let tags = vec!["lists".to_string(), "p:prod_1".into(), "v:var_1".into(), "p:prod_2".into()];
        assert_eq!(surrogate_keys(&tags), ["product-list", "prod_1", "prod_2"]);
    }

    #[test]
    fn kept_answers_survive_the_trip_through_bytes() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.append(header::VARY, HeaderValue::from_static("accept"));
        headers.append(header::VARY, HeaderValue::from_static("origin"));
        let kept =
            CachedResponse { status: StatusCode::OK, headers, body: Bytes::from_static(b"{\"a\":1}"), shared: false };
        let tags = vec!["lists".to_string(), "p:prod_1".into()];
        let bytes = encode(&kept, &tags);
        let (back, back_tags) = decode(&bytes).expect("decodes");
        assert_eq!(
            (back.status, &back.headers, &back.body, back.shared),
            (kept.status, &kept.headers, &kept.body, true)
        );
        assert_eq!(back_tags, tags);
        // Anything cut short is refused, never misread.
        for n in 0..bytes.len() - kept.body.len() {
            assert!(decode(&bytes[..n]).is_none(), "{n} bytes");
        }
    }
}
