//! Products and variants in GraphQL, and the dataloaders behind their relations.
//!
//! A product node may be *bare* (its row only) or *whole* (with every relation, as the REST API
//! returns it). A bare node's relations go through the request's [`CatalogLoader`], keyed by
//! (product, relation); a variant's stock and shopper price too, keyed by variant. A product
//! list primes the loader for its whole page from what the query selects, so the page costs one
//! statement per selected relation however many products it holds, and nothing for relations
//! nobody asked for.

use super::error::OrGql;
use super::{GqlResult, caller};
use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{Context, Enum, InputObject, Lookahead, Object};
use keel_domain::catalog::view::{
    CalculatedPrice, Category, CategoryRef, Collection, CollectionRef, Image, Product, ProductOption, Variant,
};
use keel_domain::catalog::{OptionValues, ProductStatus};
use keel_domain::{Currency, Money, ProductId, RegionId, VariantId};
use keel_services::catalog::{Audience, MAX_PAGE_SIZE, ProductListParams, ProductPart, ProductRelations};
use keel_services::regions::Region;
use keel_services::{ServiceError, Services};
use std::collections::HashMap;
use std::sync::Arc;

type Relations = Arc<ProductRelations>;

/// Batches catalog reads for one request: product relations, variant stock and shopper prices.
pub(crate) struct CatalogLoader {
    services: std::sync::Arc<Services>,
    /// Regions read during this request (a query names one; its stock batch needs it again).
    regions: std::sync::Mutex<HashMap<RegionId, Arc<Region>>>,
}

impl CatalogLoader {
    /// A region, read once per request (an unknown one is a validation error, as in REST).
    async fn region(&self, id: RegionId) -> GqlResult<Arc<Region>> {
        if let Some(region) = self.regions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&id) {
            return Ok(region.clone());
        }
        let region = Arc::new(self.services.regions.named(id).await.gql()?);
        self.regions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, region.clone());
        Ok(region)
    }
}

/// A product's relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RelationKey(ProductId, ProductPart);

/// Whether a variant can be bought now from a region's locations (all without a region).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct StockKey(VariantId, Option<RegionId>);

/// A variant's shopper price in a currency, from its base price there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PriceKey(VariantId, Currency, Option<i64>);

impl Loader<RelationKey> for CatalogLoader {
    type Value = Relations;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[RelationKey]) -> Result<HashMap<RelationKey, Relations>, Self::Error> {
        let mut ids: Vec<ProductId> = keys.iter().map(|k| k.0).collect();
        ids.sort();
        ids.dedup();
        let mut parts: Vec<ProductPart> = keys.iter().map(|k| k.1).collect();
        parts.sort();
        parts.dedup();
        let found = self.services.catalog.relations(&ids, &parts).await.gql()?;
        let shared: HashMap<ProductId, Relations> = found.into_iter().map(|(id, r)| (id, Arc::new(r))).collect();
        Ok(keys.iter().filter_map(|k| shared.get(&k.0).map(|r| (*k, r.clone()))).collect())
    }
}

impl Loader<StockKey> for CatalogLoader {
    type Value = bool;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[StockKey]) -> Result<HashMap<StockKey, bool>, Self::Error> {
        let mut by_region: HashMap<Option<RegionId>, Vec<VariantId>> = HashMap::new();
        for key in keys {
            by_region.entry(key.1).or_default().push(key.0);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (region_id, variants) in by_region {
            let region = match region_id {
                Some(id) => Some(self.region(id).await?),
                None => None,
            };
            let stock = self.services.inventory.in_stock_in(&variants, region.as_deref()).await.gql()?;
            out.extend(stock.into_iter().map(|(variant, yes)| (StockKey(variant, region_id), yes)));
        }
        Ok(out)
    }
}

impl Loader<PriceKey> for CatalogLoader {
    type Value = CalculatedPrice;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[PriceKey]) -> Result<HashMap<PriceKey, CalculatedPrice>, Self::Error> {
        let mut by_currency: HashMap<Currency, Vec<(VariantId, Option<i64>)>> = HashMap::new();
        for key in keys {
            by_currency.entry(key.1).or_default().push((key.0, key.2));
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (currency, variants) in by_currency {
            let prices = self.services.price_lists.calculated_prices(&variants, currency).await.gql()?;
            for (variant, base) in variants {
                if let Some(price) = prices.get(&variant) {
                    out.insert(PriceKey(variant, currency, base), price.clone());
                }
            }
        }
        Ok(out)
    }
}

/// Adds a fresh loader (with a per-request cache) to a request.
pub(crate) fn with_loaders(
    request: async_graphql::Request,
    services: &std::sync::Arc<Services>,
) -> async_graphql::Request {
    request.data(DataLoader::with_cache(
        CatalogLoader { services: services.clone(), regions: Default::default() },
        tokio::spawn,
        HashMapCache::default(),
    ))
}

fn loader<'a>(ctx: &Context<'a>) -> &'a DataLoader<CatalogLoader, HashMapCache> {
    ctx.data_unchecked::<DataLoader<CatalogLoader, HashMapCache>>()
}

/// Who reads the catalog, and for which region (stock and shopper prices).
#[derive(Clone)]
pub(crate) struct Scope {
    pub audience: Audience,
    pub region: Option<Arc<Region>>,
}

impl Scope {
    fn currency(&self) -> Option<Currency> {
        self.region.as_ref().and_then(|r| Currency::parse(&r.currency).ok())
    }
}

/// A product.
pub(crate) struct ProductNode {
    product: Product,
    /// Every relation is in `product` (a single read); otherwise they come from the loader.
    whole: bool,
    scope: Scope,
}

impl ProductNode {
    pub(crate) fn whole(product: Product, scope: Scope) -> Self {
        ProductNode { product, whole: true, scope }
    }

    async fn relations(&self, ctx: &Context<'_>, part: ProductPart) -> GqlResult<Relations> {
        let found = loader(ctx).load_one(RelationKey(self.product.id, part)).await?;
        Ok(found.unwrap_or_default())
    }
}

#[Object(name = "Product")]
impl ProductNode {
    async fn id(&self) -> ProductId {
        self.product.id
    }
    async fn handle(&self) -> &str {
        &self.product.handle
    }
    async fn title(&self) -> &str {
        &self.product.title
    }
    async fn subtitle(&self) -> Option<&str> {
        self.product.subtitle.as_deref()
    }
    async fn description(&self) -> &str {
        &self.product.description
    }
    /// Only `PUBLISHED` products are visible in the store schema.
    async fn status(&self) -> ProductStatus {
        self.product.status
    }
    /// URL of the first image, if any.
    async fn thumbnail(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        if self.whole {
            return Ok(self.product.thumbnail.clone());
        }
        Ok(self.relations(ctx, ProductPart::Images).await?.images.first().map(|i| i.url.clone()))
    }
    async fn options(&self, ctx: &Context<'_>) -> GqlResult<Vec<ProductOption>> {
        if self.whole {
            return Ok(self.product.options.clone());
        }
        Ok(self.relations(ctx, ProductPart::Options).await?.options.clone())
    }
    async fn variants(&self, ctx: &Context<'_>) -> GqlResult<Vec<VariantNode>> {
        let variants = if self.whole {
            self.product.variants.clone()
        } else {
            self.relations(ctx, ProductPart::Variants).await?.variants.clone()
        };
        Ok(variants.into_iter().map(|variant| VariantNode { variant, scope: self.scope.clone() }).collect())
    }
    async fn images(&self, ctx: &Context<'_>) -> GqlResult<Vec<Image>> {
        if self.whole {
            return Ok(self.product.images.clone());
        }
        Ok(self.relations(ctx, ProductPart::Images).await?.images.clone())
    }
    async fn categories(&self, ctx: &Context<'_>) -> GqlResult<Vec<CategoryRef>> {
        if self.whole {
            return Ok(self.product.categories.clone());
        }
        Ok(self.relations(ctx, ProductPart::Categories).await?.categories.clone())
    }
    async fn collections(&self, ctx: &Context<'_>) -> GqlResult<Vec<CollectionRef>> {
        if self.whole {
            return Ok(self.product.collections.clone());
        }
        Ok(self.relations(ctx, ProductPart::Collections).await?.collections.clone())
    }
    async fn tags(&self, ctx: &Context<'_>) -> GqlResult<Vec<String>> {
        if self.whole {
            return Ok(self.product.tags.clone());
        }
        Ok(self.relations(ctx, ProductPart::Tags).await?.tags.clone())
    }
    /// Free-form JSON object for integrations.
    async fn metadata(&self) -> &serde_json::Value {
        &self.product.metadata
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.product.created_at
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.product.updated_at
    }
}

/// A purchasable variant of a product.
pub(crate) struct VariantNode {
    variant: Variant,
    scope: Scope,
}

#[Object(name = "Variant")]
impl VariantNode {
    async fn id(&self) -> VariantId {
        self.variant.id
    }
    async fn product_id(&self) -> ProductId {
        self.variant.product_id
    }
    async fn sku(&self) -> &str {
        &self.variant.sku
    }
    async fn title(&self) -> &str {
        &self.variant.title
    }
    /// The variant's value for each product option, by option name.
    async fn options(&self) -> &OptionValues {
        &self.variant.options
    }
    /// One price per currency.
    async fn prices(&self) -> &[Money] {
        &self.variant.prices
    }
    async fn barcode(&self) -> Option<&str> {
        self.variant.barcode.as_deref()
    }
    async fn weight_grams(&self) -> Option<i32> {
        self.variant.weight_grams
    }
    /// Store only: whether it can be bought now from the region's stock locations (all without a
    /// region): tracked stock available, backorder allowed, or stock not tracked.
    async fn in_stock(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> {
        if self.scope.audience == Audience::Admin {
            return Ok(None);
        }
        let region = self.scope.region.as_ref().map(|r| r.id);
        Ok(loader(ctx).load_one(StockKey(self.variant.id, region)).await?)
    }
    /// Store only, with a region: what one unit costs a shopper there now — the base price or a
    /// running price list's lower price for everyone (group prices show in carts).
    async fn calculated_price(&self, ctx: &Context<'_>) -> GqlResult<Option<CalculatedPrice>> {
        let Some(key) = self.price_key() else { return Ok(None) };
        Ok(loader(ctx).load_one(key).await?)
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.variant.created_at
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.variant.updated_at
    }
}

impl VariantNode {
    fn price_key(&self) -> Option<PriceKey> {
        if self.scope.audience == Audience::Admin {
            return None;
        }
        let currency = self.scope.currency()?;
        let base = self.variant.prices.iter().find(|p| p.currency == currency).map(|p| p.amount);
        Some(PriceKey(self.variant.id, currency, base))
    }
}

/// The order of a product list.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ProductSort {
    #[default]
    CreatedDesc,
    CreatedAsc,
    TitleAsc,
    TitleDesc,
    /// By the cheapest variant price in `currency`; products without one come last.
    PriceAsc,
    PriceDesc,
}

impl ProductSort {
    fn as_rest(self) -> &'static str {
        match self {
            ProductSort::CreatedDesc => "-created",
            ProductSort::CreatedAsc => "created",
            ProductSort::TitleAsc => "title",
            ProductSort::TitleDesc => "-title",
            ProductSort::PriceAsc => "price",
            ProductSort::PriceDesc => "-price",
        }
    }
}

/// Which products to list.
#[derive(InputObject, Default)]
pub(crate) struct ProductFilter {
    /// Only products in this category or its descendants (by handle).
    category: Option<String>,
    /// Only products in this collection (by handle).
    collection: Option<String>,
    /// Case-insensitive match on the title.
    q: Option<String>,
    /// Admin only: only products with this status.
    status: Option<ProductStatus>,
}

/// The page size a connection asks for: 1 to 100, 20 when not given.
pub(crate) fn page_size(first: Option<i32>) -> GqlResult<u32> {
    let first = first.unwrap_or(20);
    match u32::try_from(first) {
        Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        _ => Err(ServiceError::invalid("first", format!("must be between 1 and {MAX_PAGE_SIZE}"))).gql(),
    }
}

/// The region a query names, if any.
async fn region(ctx: &Context<'_>, id: Option<RegionId>) -> GqlResult<Option<Arc<Region>>> {
    match id {
        Some(id) => Ok(Some(loader(ctx).loader().region(id).await?)),
        None => Ok(None),
    }
}

/// Whether the connection's nodes select `path` (through `edges { node }` or `nodes`).
fn selects(look: &Lookahead<'_>, path: &[&str]) -> bool {
    let mut via_edges = look.field("edges").field("node");
    let mut via_nodes = look.field("nodes");
    for name in path {
        via_edges = via_edges.field(name);
        via_nodes = via_nodes.field(name);
    }
    via_edges.exists() || via_nodes.exists()
}

pub(crate) struct ProductArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub filter: Option<ProductFilter>,
    pub sort: Option<ProductSort>,
    pub currency: Option<Currency>,
    pub region_id: Option<RegionId>,
}

/// A page of products as a Relay connection, with the loader primed for what the query selects.
pub(crate) async fn product_connection(
    ctx: &Context<'_>,
    audience: Audience,
    args: ProductArgs,
) -> GqlResult<Connection<String, ProductNode>> {
    let services = &caller(ctx).services;
    let limit = page_size(args.first)?;
    let filter = args.filter.unwrap_or_default();
    let region = region(ctx, args.region_id).await?;
    let params = ProductListParams {
        limit: Some(limit),
        cursor: args.after.clone(),
        category: filter.category,
        collection: filter.collection,
        q: filter.q,
        sort: Some(args.sort.unwrap_or_default().as_rest().to_string()),
        currency: args.currency.map(|c| c.code().to_string()),
        status: filter.status,
        region_id: None,
    };
    let page = services.catalog.product_page(audience, &params, &[]).await.gql()?;
    let scope = Scope { audience, region };

    // Prime the loader for the whole page: one batch per relation level.
    let look = ctx.look_ahead();
    let wanted: Vec<ProductPart> = [
        (ProductPart::Variants, &["variants"][..]),
        (ProductPart::Options, &["options"]),
        (ProductPart::Images, &["images"]),
        (ProductPart::Images, &["thumbnail"]),
        (ProductPart::Tags, &["tags"]),
        (ProductPart::Categories, &["categories"]),
        (ProductPart::Collections, &["collections"]),
    ]
    .into_iter()
    .filter(|(_, path)| selects(&look, path))
    .map(|(part, _)| part)
    .collect();
    let keys: Vec<RelationKey> =
        page.products.iter().flat_map(|p| wanted.iter().map(|part| RelationKey(p.id, *part))).collect();
    let relations = loader(ctx).load_many(keys).await?;
    if audience == Audience::Store && wanted.contains(&ProductPart::Variants) {
        let variants: Vec<VariantNode> = relations
            .iter()
            .filter(|(k, _)| k.1 == ProductPart::Variants)
            .flat_map(|(_, r)| r.variants.iter())
            .map(|v| VariantNode { variant: v.clone(), scope: scope.clone() })
            .collect();
        if selects(&look, &["variants", "inStock"]) {
            let region = scope.region.as_ref().map(|r| r.id);
            loader(ctx).load_many(variants.iter().map(|v| StockKey(v.variant.id, region))).await?;
        }
        if selects(&look, &["variants", "calculatedPrice"]) {
            loader(ctx).load_many(variants.iter().filter_map(VariantNode::price_key)).await?;
        }
    }

    let mut connection = Connection::new(args.after.is_some(), page.next_cursor.is_some());
    connection.edges.extend(
        page.products
            .into_iter()
            .zip(page.cursors)
            .map(|(product, cursor)| Edge::new(cursor, ProductNode { product, whole: false, scope: scope.clone() })),
    );
    Ok(connection)
}

/// One product by id or handle.
pub(crate) async fn one_product(
    ctx: &Context<'_>,
    audience: Audience,
    id: Option<ProductId>,
    handle: Option<String>,
    region_id: Option<RegionId>,
) -> GqlResult<ProductNode> {
    let services = &caller(ctx).services;
    let key = match (id, handle) {
        (Some(id), None) => id.to_string(),
        (None, Some(handle)) => handle,
        _ => return Err(ServiceError::invalid("id", "give either `id` or `handle`")).gql(),
    };
    let region = region(ctx, region_id).await?;
    let product = services.catalog.get_product(audience, &key).await.gql()?;
    Ok(ProductNode::whole(product, Scope { audience, region }))
}

/// A page of a short list held in memory (categories, collections), with ids as cursors.
pub(crate) fn list_connection<T: async_graphql::OutputType>(
    items: Vec<T>,
    id: impl Fn(&T) -> String,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<Connection<String, T>> {
    let limit = page_size(first)? as usize;
    let start = match &after {
        Some(cursor) => match items.iter().position(|item| id(item) == *cursor) {
            Some(i) => i + 1,
            None => return Err(crate::rest::invalid_cursor()).gql(),
        },
        None => 0,
    };
    let has_next = items.len() > start + limit;
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    Ok(super::connection_of(page, start > 0, has_next, id))
}

pub(crate) async fn categories(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<Connection<String, Category>> {
    let all = caller(ctx).services.catalog.list_categories().await.gql()?;
    list_connection(all, |c| c.id.to_string(), first, after)
}

pub(crate) async fn collections(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<Connection<String, Collection>> {
    let all = caller(ctx).services.catalog.list_collections().await.gql()?;
    list_connection(all, |c| c.id.to_string(), first, after)
}

/// What a shopper searches for (the REST search's parameters).
#[derive(Debug, Default, InputObject)]
#[graphql(name = "SearchInput")]
pub(crate) struct SearchInput {
    /// Words to find; a word may be a letter or two off, the last may be unfinished.
    pub q: Option<String>,
    /// Category handles (any of them; sub-categories included).
    #[graphql(default)]
    pub categories: Vec<String>,
    /// Collection handles (any of them).
    #[graphql(default)]
    pub collections: Vec<String>,
    /// Option values as `Name:Value` (values of one option are alternatives).
    #[graphql(default)]
    pub options: Vec<String>,
    /// Lowest price at least this, in minor units of `currency`.
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    /// Default: the region's currency, else USD.
    pub currency: Option<Currency>,
    pub in_stock: Option<bool>,
    /// `relevance` (default), `price`, `-price` or `newest`.
    pub sort: Option<String>,
}

/// A page of search results.
pub(crate) struct SearchResult {
    products: Vec<ProductNode>,
    facets: keel_platform::search::Facets,
    total: usize,
    next_cursor: Option<String>,
}

#[Object]
impl SearchResult {
    async fn products(&self) -> &[ProductNode] {
        &self.products
    }

    /// Counts over every result, as in `GET /v1/store/search`: categories, collections, price
    /// ranges, option values, stock.
    async fn facets(&self) -> async_graphql::Json<&keel_platform::search::Facets> {
        async_graphql::Json(&self.facets)
    }

    async fn total(&self) -> usize {
        self.total
    }

    /// Pass as `after` for the next page; null on the last page.
    async fn next_cursor(&self) -> Option<&str> {
        self.next_cursor.as_deref()
    }
}

/// Searches published products through the same service as `GET /v1/store/search`.
pub(crate) async fn search(
    ctx: &Context<'_>,
    input: SearchInput,
    first: Option<i32>,
    after: Option<String>,
    region_id: Option<RegionId>,
) -> GqlResult<SearchResult> {
    let services = &caller(ctx).services;
    let limit = page_size(first)?;
    let region = region(ctx, region_id).await?;
    let join = |values: &[String], sep: &str| (!values.is_empty()).then(|| values.join(sep));
    let params = keel_services::search::SearchParams {
        q: input.q,
        category: join(&input.categories, ","),
        collection: join(&input.collections, ","),
        options: join(&input.options, ";"),
        price_min: input.price_min,
        price_max: input.price_max,
        currency: input.currency.map(|c| c.code().to_string()),
        in_stock: input.in_stock,
        sort: input.sort,
        limit: Some(limit),
        cursor: after,
        region_id: None,
    };
    let currency = region.as_ref().map_or("USD", |r| r.currency.as_str());
    let (products, facets, total, next_cursor) = services.search.search(&params, currency).await.gql()?;
    let scope = Scope { audience: Audience::Store, region };
    let products = products.into_iter().map(|p| ProductNode::whole(p, scope.clone())).collect();
    Ok(SearchResult { products, facets, total, next_cursor })
}
