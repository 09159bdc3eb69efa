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
//! Answers name their products in `Surrogate-Key` and `Cache-Tag`, so a CDN in front (which
//! `s-maxage` lets keep them) can be purged by product too. Personal routes never pass here.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keel_domain::catalog::view::Product;
use keel_domain::event::Event;
use keel_platform::cache::{CacheConfig, Loaded, Outcome, TaggedCache};
use std::sync::Arc;

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
}

/// The response cache of one node (cheap to clone).
#[derive(Clone)]
pub struct ResponseCache {
    cache: TaggedCache<Arc<CachedResponse>>,
}

impl ResponseCache {
    pub fn new(config: CacheConfig) -> ResponseCache {
        let weigh = |r: &Arc<CachedResponse>| u32::try_from(r.body.len() + 512).unwrap_or(u32::MAX);
        ResponseCache { cache: TaggedCache::new("http", config, weigh) }
    }

    /// Drops what `event` makes stale.
    pub fn apply(&self, event: &Event) {
        let (kind, _) = event.event_type.split_once('.').unwrap_or((event.event_type.as_str(), ""));
        match kind {
            "product" => self.cache.invalidate(&[format!("p:{}", event.aggregate.id), LISTS.to_string()]),
            "inventory" if event.event_type == "inventory.availability_changed" => {
                self.cache.invalidate(&[format!("v:{}", event.aggregate.id)]);
            }
            // `bus.resync`: events may have been missed.
            "category" | "collection" | "price_list" | "region" | "bus" => self.cache.invalidate_all(),
            "search" => self.cache.invalidate(&[CacheTags::SEARCH]),
            _ => {}
        }
    }

    /// Follows the events committed through `db` (and those dispatched to it from the bus) for
    /// as long as this cache lives.
    pub fn follow(&self, db: &keel_services::Db) {
        let cache = self.cache.downgrade();
        db.on_event(Arc::new(move |event| match cache.upgrade() {
            Some(cache) => {
                ResponseCache { cache }.apply(event);
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
    let (kept, outcome) = cache.cache.get_or_load(&key, || load(req, next)).await;
    let mut response = Response::new(Body::from(kept.body.clone()));
    *response.status_mut() = kept.status;
    *response.headers_mut() = kept.headers.clone();
    let label = match outcome {
        Outcome::Hit => "hit",
        Outcome::Coalesced => "coalesced",
        Outcome::Miss | Outcome::Bypass => "miss",
    };
    response.headers_mut().insert(X_CACHE, HeaderValue::from_static(label));
    response
}

/// Which way an answer came: `hit`, `miss` or `coalesced` (waited for another request's load).
pub const X_CACHE: HeaderName = HeaderName::from_static("x-keel-cache");

async fn load(req: Request, next: Next) -> Loaded<Arc<CachedResponse>> {
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
                value: Arc::new(CachedResponse { status: parts.status, headers: parts.headers, body }),
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
        value: Arc::new(CachedResponse { status: parts.status, headers: parts.headers, body }),
        tags: if keep { Some(tags.map(|t| t.0).unwrap_or_default()) } else { None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrogate_keys_name_products_and_lists() {
        let tags = vec!["lists".to_string(), "p:prod_1".into(), "v:var_1".into(), "p:prod_2".into()];
        assert_eq!(surrogate_keys(&tags), ["product-list", "prod_1", "prod_2"]);
    }
}
