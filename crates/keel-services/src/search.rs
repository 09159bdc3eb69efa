//! Catalog search: the embedded index ([`keel_platform::search`]) kept in step with the catalog.
//!
//! At start a node builds its index from the database (published products, with their
//! categories' ancestors, option values, lowest price per currency and whether anything is in
//! stock). From then on it follows events — its own as they commit, other nodes' through the bus —
//! and re-indexes what they name in small batches: `product.*` the product,
//! `inventory.availability_changed` the variant's product, category and collection changes
//! everything (prices in the index are the variants' own; price lists apply when results are
//! shown for a region). After each batch it announces `search.updated` to this process's event
//! hooks (the response cache drops cached search answers then, not before). Queries and indexing
//! run on blocking threads, off the async runtime's workers.

use crate::catalog::{Audience, CatalogService, ProductListParams, ProductPart};
use crate::inventory::InventoryService;
use crate::{Result, ServiceError};
use keel_domain::catalog::ProductStatus;
use keel_domain::catalog::view::{Category, Product};
use keel_domain::event::Event;
use keel_domain::{ProductId, VariantId};
use keel_platform::circuit::{Breaker, Transition};
use keel_platform::search::{Facets, SearchDoc, SearchIndex, SearchQuery, SearchSort, Suggestion};
use keel_store::Db;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

/// The event announced after the index changed (in process only, never in the outbox).
pub const SEARCH_UPDATED: &str = "search.updated";

pub const MAX_LIMIT: u32 = 100;

/// Query parameters of a search.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to find in titles, descriptions, tags, SKUs, categories and option values; a word
    /// may be one or two letters off, and the last may be unfinished. Empty: browse.
    pub q: Option<String>,
    /// Category handles, comma-separated (any of them; sub-categories included).
    pub category: Option<String>,
    /// Collection handles, comma-separated (any of them).
    pub collection: Option<String>,
    /// Option values as `Name:Value`, separated by `;` (e.g. `Size:M;Size:L;Colour:Black`): values
    /// of one option are alternatives, different options must all match.
    pub options: Option<String>,
    /// Lowest price at least this (minor units, in `currency`).
    pub price_min: Option<i64>,
    /// Lowest price at most this (minor units, in `currency`).
    pub price_max: Option<i64>,
    /// The currency of price filters, facets and sorting (default: the region's, else USD).
    pub currency: Option<String>,
    /// Only products with something in stock (`true`) or nothing (`false`).
    pub in_stock: Option<bool>,
    /// `relevance` (default; newest first without `q`), `price`, `-price` or `newest`.
    pub sort: Option<String>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Variants' `in_stock` and `calculated_price` for this region (as in the product list).
    pub region_id: Option<keel_domain::RegionId>,
}

/// A page of search results.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchPage {
    pub data: Vec<Product>,
    /// Counts over all results (every filter applied), for refining the search.
    #[schema(value_type = Object)]
    pub facets: Facets,
    /// How many products match.
    pub total: usize,
    pub next_cursor: Option<String>,
}

/// Autocomplete suggestions.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Suggestions {
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Suggestion>,
}

#[derive(Default)]
struct Pending {
    products: HashSet<ProductId>,
    variants: HashSet<VariantId>,
    all: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        !self.all && self.products.is_empty() && self.variants.is_empty()
    }
}

struct Inner {
    db: Db,
    catalog: CatalogService,
    inventory: InventoryService,
    index: RwLock<Option<Arc<SearchIndex>>>,
    pending: Mutex<Pending>,
    wake: Notify,
    /// Queries that fail or overrun [`QUERY_TIMEOUT`] open this, and search then answers 503 at
    /// once for a few seconds: a sick index costs browsing and checkout nothing.
    breaker: Breaker,
    /// Fault injection for the degradation tests: each query first sleeps this long.
    injected_delay_ms: AtomicU64,
    /// Queries running on blocking threads. A query past its time limit cannot be stopped, so
    /// this bounds how many threads a hanging index can hold; more queries are refused at once.
    in_flight: Arc<tokio::sync::Semaphore>,
}

/// Queries that may run at once on one node.
const MAX_IN_FLIGHT: usize = 16;

/// The longest a query may take before it counts as failed (the caller gets a 503).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Search over the catalog (cheap to clone).
#[derive(Clone)]
pub struct SearchService {
    inner: Arc<Inner>,
}

impl SearchService {
    pub fn new(db: Db, catalog: CatalogService, inventory: InventoryService) -> SearchService {
        SearchService {
            inner: Arc::new(Inner {
                db,
                catalog,
                inventory,
                index: RwLock::default(),
                pending: Mutex::default(),
                wake: Notify::new(),
                breaker: Breaker::new(3, Duration::from_secs(5)),
                injected_delay_ms: AtomicU64::new(0),
                in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
            }),
        }
    }

    fn index(&self) -> Result<Arc<SearchIndex>> {
        self.inner
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| ServiceError::Unavailable("search is not running on this node".into()))
    }

    /// Runs a query on a blocking thread, bounded by [`QUERY_TIMEOUT`] and the circuit breaker.
    async fn guarded<T, E, F>(&self, query: F) -> Result<T>
    where
        T: Send + 'static,
        E: std::fmt::Display,
        F: FnOnce(&SearchIndex) -> std::result::Result<T, E> + Send + 'static,
    {
        let breaker = &self.inner.breaker;
        if !breaker.allow() {
            metrics::counter!("search_queries_total", "result" => "rejected").increment(1);
            return Err(ServiceError::Unavailable("search is failing; the circuit is open".into()));
        }
        let index = self.index()?;
        let Ok(permit) = self.inner.in_flight.clone().try_acquire_owned() else {
            metrics::counter!("search_queries_total", "result" => "rejected").increment(1);
            return Err(ServiceError::Unavailable(format!("{MAX_IN_FLIGHT} searches are already running")));
        };
        let delay = Duration::from_millis(self.inner.injected_delay_ms.load(Ordering::Relaxed));
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            query(&index).map_err(|e| e.to_string())
        });
        let (result, outcome) = match tokio::time::timeout(QUERY_TIMEOUT, task).await {
            Ok(Ok(Ok(value))) => (Ok(value), "ok"),
            Ok(Ok(Err(cause))) => (Err(ServiceError::Internal(cause)), "error"),
            Ok(Err(join)) => (Err(ServiceError::Internal(join.to_string())), "error"),
            Err(_) => (Err(ServiceError::Unavailable(format!("a search query overran {QUERY_TIMEOUT:?}"))), "timeout"),
        };
        metrics::counter!("search_queries_total", "result" => outcome).increment(1);
        let transition = if result.is_ok() { breaker.success() } else { breaker.failure() };
        match transition {
            Transition::Opened => tracing::warn!("search is failing: answering 503 until a trial query succeeds"),
            Transition::Closed => tracing::info!("search answers again"),
            Transition::None => {}
        }
        result
    }

    /// Whether failing queries opened the circuit and no query has succeeded since (search answers
    /// 503 at once while it is open).
    pub fn is_failing(&self) -> bool {
        self.inner.breaker.is_tripped()
    }

    /// Makes every query first sleep `delay` (fault injection for tests; zero turns it off).
    pub fn inject_delay(&self, delay: Duration) {
        self.inner.injected_delay_ms.store(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Opens the index (in `dir`, or in memory when `dir` is `None` or held by another process),
    /// builds it from the database, and keeps it in step with the catalog from then on.
    pub async fn start(&self, dir: Option<PathBuf>) -> Result<usize> {
        let index = tokio::task::spawn_blocking(move || match dir {
            Some(dir) => SearchIndex::open(Some(&dir)).or_else(|err| {
                tracing::warn!(%err, dir = %dir.display(), "search index directory unusable; indexing in memory");
                SearchIndex::open(None)
            }),
            None => SearchIndex::open(None),
        })
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let index = Arc::new(index);
        // Listen first: what changes while the index is being built is noted, and applied after.
        let weak = Arc::downgrade(&self.inner);
        self.inner.db.on_event(Arc::new(move |event| match weak.upgrade() {
            Some(inner) => {
                note(&inner, event);
                true
            }
            None => false,
        }));
        let count = self.rebuild_into(&index, |_| {}).await?;
        *self.inner.index.write().unwrap_or_else(PoisonError::into_inner) = Some(index);
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move { follow(weak).await });
        Ok(count)
    }

    /// Rebuilds the index in `dir` from the database, for a node that is not running (one that
    /// runs holds the directory and rebuilds it itself at start).
    pub async fn rebuild_in(&self, dir: PathBuf, progress: impl FnMut(usize) + Send + 'static) -> Result<usize> {
        let index = tokio::task::spawn_blocking(move || SearchIndex::open(Some(&dir)))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?
            .map_err(|e| ServiceError::Unavailable(format!("{e} (is a Keel node running on this data directory?)")))?;
        self.rebuild_into(&Arc::new(index), progress).await
    }

    /// Rebuilds the running index from the database (calling `progress` with products done).
    pub async fn rebuild(&self, progress: impl FnMut(usize) + Send + 'static) -> Result<usize> {
        let index = self.index()?;
        let n = self.rebuild_into(&index, progress).await?;
        self.inner.db.dispatch_event(&updated_event());
        Ok(n)
    }

    async fn rebuild_into(
        &self,
        index: &Arc<SearchIndex>,
        progress: impl FnMut(usize) + Send + 'static,
    ) -> Result<usize> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::result::Result<SearchDoc, String>>(256);
        let writer = {
            let index = index.clone();
            tokio::task::spawn_blocking(move || index.replace_all(std::iter::from_fn(|| rx.blocking_recv()), progress))
        };
        // A failure part-way is sent on, so the writer abandons the rebuild instead of committing
        // half a catalog.
        let produced: Result<()> = async {
            let categories = self.inner.catalog.list_categories().await?;
            let mut params = ProductListParams { limit: Some(100), ..ProductListParams::default() };
            loop {
                let page = self.inner.catalog.product_page(Audience::Store, &params, &ProductPart::ALL).await?;
                for doc in self.documents(page.products, &categories).await? {
                    if tx.send(Ok(doc)).await.is_err() {
                        return Ok(());
                    }
                }
                match page.next_cursor {
                    Some(cursor) => params.cursor = Some(cursor),
                    None => return Ok(()),
                }
            }
        }
        .await;
        if let Err(e) = &produced {
            let _ = tx.send(Err(e.to_string())).await;
        }
        drop(tx);
        writer
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// Index documents for these (published) products: one stock query for all of them.
    async fn documents(&self, products: Vec<Product>, categories: &[Category]) -> Result<Vec<SearchDoc>> {
        let variants: Vec<VariantId> = products.iter().flat_map(|p| p.variants.iter().map(|v| v.id)).collect();
        let stock = self.inner.inventory.in_stock(&variants, None).await?;
        let by_id: HashMap<_, _> = categories.iter().map(|c| (c.id, c)).collect();
        products
            .into_iter()
            .map(|product| {
                let mut cats = Vec::new();
                for direct in &product.categories {
                    let mut at = by_id.get(&direct.id).copied();
                    let mut guard = 0;
                    while let Some(c) = at {
                        cats.push((c.handle.clone(), c.name.clone()));
                        at = c.parent_id.and_then(|p| by_id.get(&p).copied());
                        guard += 1;
                        if guard > 64 {
                            break;
                        }
                    }
                }
                let mut prices: HashMap<String, i64> = HashMap::new();
                for price in product.variants.iter().flat_map(|v| v.prices.iter()) {
                    let code = price.currency.code().to_string();
                    let lowest = prices.entry(code).or_insert(price.amount);
                    *lowest = (*lowest).min(price.amount);
                }
                let payload = serde_json::to_string(&product).map_err(|e| ServiceError::Internal(e.to_string()))?;
                Ok(SearchDoc {
                    id: product.id.to_string(),
                    handle: product.handle.clone(),
                    title: product.title.clone(),
                    description: product.description.clone(),
                    tags: product.tags.clone(),
                    skus: product.variants.iter().map(|v| v.sku.clone()).collect(),
                    categories: cats,
                    collections: product.collections.iter().map(|c| (c.handle.clone(), c.title.clone())).collect(),
                    options: product
                        .variants
                        .iter()
                        .flat_map(|v| v.options.iter().map(|(n, val)| (n.clone(), val.clone())))
                        .collect(),
                    prices: prices.into_iter().collect(),
                    in_stock: product.variants.iter().any(|v| stock.get(&v.id).copied().unwrap_or(false)),
                    created: product.created_at.timestamp_micros(),
                    payload,
                })
            })
            .collect()
    }

    /// Re-indexes what `pending` names.
    async fn apply(&self, pending: Pending) -> Result<()> {
        if pending.all {
            self.rebuild(|_| {}).await?;
            return Ok(());
        }
        let mut products = pending.products;
        for variant in pending.variants {
            match self.inner.catalog.get_variant(variant).await {
                Ok(v) => {
                    products.insert(v.product_id);
                }
                Err(ServiceError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let mut found = Vec::new();
        let mut removals = Vec::new();
        for id in products {
            match self.inner.catalog.get_product(Audience::Admin, &id.to_string()).await {
                Ok(p) if p.status == ProductStatus::Published => found.push(p),
                Ok(_) | Err(ServiceError::NotFound { .. }) => removals.push(id.to_string()),
                Err(e) => return Err(e),
            }
        }
        let categories = self.inner.catalog.list_categories().await?;
        let docs = self.documents(found, &categories).await?;
        let index = self.index()?;
        tokio::task::spawn_blocking(move || index.apply(&docs, &removals))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        self.inner.db.dispatch_event(&updated_event());
        Ok(())
    }

    /// Searches published products (blocking work on a blocking thread).
    pub async fn search(
        &self,
        params: &SearchParams,
        default_currency: &str,
    ) -> Result<(Vec<Product>, Facets, usize, Option<String>)> {
        let mut errors = keel_domain::ValidationErrors::new();
        let limit = params.limit.unwrap_or(20);
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.add("limit", format!("must be between 1 and {MAX_LIMIT}"));
        }
        let offset = match &params.cursor {
            Some(c) => errors.check("cursor", decode_cursor(c)).unwrap_or(0),
            None => 0,
        };
        let sort = match params.sort.as_deref().unwrap_or("relevance") {
            "relevance" => SearchSort::Relevance,
            "price" => SearchSort::PriceAscending,
            "-price" => SearchSort::PriceDescending,
            "newest" | "-created" => SearchSort::Newest,
            _ => {
                errors.add("sort", "one of relevance, price, -price, newest");
                SearchSort::Relevance
            }
        };
        let currency = match &params.currency {
            Some(c) => errors
                .check("currency", keel_domain::Currency::parse(c).map_err(|e| e.to_string()))
                .map(|c| c.code().to_string())
                .unwrap_or_default(),
            None => default_currency.to_string(),
        };
        let mut options = Vec::new();
        for pair in params.options.as_deref().unwrap_or("").split(';').map(str::trim).filter(|p| !p.is_empty()) {
            match pair.split_once(':') {
                Some((n, v)) if !n.trim().is_empty() && !v.trim().is_empty() => {
                    options.push((n.trim().to_string(), v.trim().to_string()));
                }
                _ => errors.add("options", format!("{pair:?} is not Name:Value")),
            }
        }
        let text = params.q.clone().unwrap_or_default();
        if text.chars().count() > 200 {
            errors.add("q", "must be at most 200 characters");
        }
        errors.into_result()?;
        let list = |s: &Option<String>| -> Vec<String> {
            s.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
        };
        let query = SearchQuery {
            text,
            categories: list(&params.category),
            collections: list(&params.collection),
            options,
            currency,
            price_min: params.price_min,
            price_max: params.price_max,
            in_stock: params.in_stock,
            sort,
            offset,
            limit: limit as usize,
        };
        let results = self.guarded(move |index| index.search(&query)).await?;
        let products = results
            .hits
            .iter()
            .map(|json| serde_json::from_str::<Product>(json).map_err(|e| ServiceError::Internal(e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let next = offset + products.len();
        let next_cursor = (next < results.total && !products.is_empty()).then(|| encode_cursor(next));
        Ok((products, results.facets, results.total, next_cursor))
    }

    /// Up to `limit` titles completing what was typed so far.
    pub async fn suggest(&self, text: &str, limit: u32) -> Result<Vec<Suggestion>> {
        if text.chars().count() > 100 {
            return Err(ServiceError::invalid("q", "must be at most 100 characters"));
        }
        if !(1..=20).contains(&limit) {
            return Err(ServiceError::invalid("limit", "must be between 1 and 20"));
        }
        let text = text.to_string();
        self.guarded(move |index| index.suggest(&text, limit as usize)).await
    }
}

fn encode_cursor(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("search:{offset}"))
}

fn decode_cursor(cursor: &str) -> std::result::Result<usize, String> {
    use base64::Engine;
    let bad = || "not a cursor from this search".to_string();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    text.strip_prefix("search:").and_then(|n| n.parse::<usize>().ok()).filter(|n| *n <= 100_000).ok_or_else(bad)
}

fn updated_event() -> Event {
    Event::signal(SEARCH_UPDATED)
}

/// Notes what an event makes stale (called as events commit or arrive: quick, no IO).
fn note(inner: &Inner, event: &Event) {
    let kind = event.event_type.split('.').next().unwrap_or("");
    let mut pending = inner.pending.lock().unwrap_or_else(PoisonError::into_inner);
    match kind {
        "product" => {
            if let Ok(id) = ProductId::parse(&event.aggregate.id) {
                pending.products.insert(id);
            }
        }
        "inventory" if event.event_type == "inventory.availability_changed" => {
            if let Ok(id) = VariantId::parse(&event.aggregate.id) {
                pending.variants.insert(id);
            }
        }
        "category" | "collection" | "bus" => pending.all = true,
        _ => return,
    }
    drop(pending);
    inner.wake.notify_one();
}

/// The indexer: applies what events noted, a batch at a time, for as long as the service lives.
async fn follow(weak: std::sync::Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let notified = inner.wake.notified();
        let pending = std::mem::take(&mut *inner.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if pending.is_empty() {
            // Wake on the next note, or look again (the service may be gone) after a while.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), notified).await;
            continue;
        }
        drop(notified);
        let service = SearchService { inner };
        if let Err(err) = service.apply(pending).await {
            tracing::warn!(%err, "search index update failed; rebuilding");
            service.inner.pending.lock().unwrap_or_else(PoisonError::into_inner).all = true;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}
