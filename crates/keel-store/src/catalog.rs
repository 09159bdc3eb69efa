//! Catalog tables: products with their options, variants, prices, images, tags, categories and
//! collections.
//!
//! Lists load a page of products with one statement, then every relation of the whole page with
//! one statement each (variants, prices, options, images, tags, categories, collections): the
//! number of statements never grows with the page size. Pagination is by keyset, never OFFSET.

use crate::{Conn, Result, StoreError};
use chrono::{DateTime, Utc};
use keel_domain::catalog::view::{
    Category, CategoryRef, Collection, CollectionRef, Image, Product, ProductOption, Variant,
};
use keel_domain::catalog::{OptionValues, ProductStatus};
use keel_domain::{CategoryId, CollectionId, Currency, ImageId, Money, OptionId, ProductId, VariantId};
use sea_query::{Expr, ExprTrait, Func, Iden, LikeExpr, OnConflict, Order, Query, SelectStatement};
use sqlx::types::Json;
use std::collections::HashMap;

#[derive(Iden)]
pub(crate) enum Products {
    Table,
    Id,
    Handle,
    Title,
    Subtitle,
    Description,
    Status,
    Metadata,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden, Clone, Copy)]
enum ProductTags {
    Table,
    ProductId,
    Tag,
}

#[derive(Iden, Clone, Copy)]
enum ProductOptions {
    Table,
    Id,
    ProductId,
    Name,
    Position,
    OptionValues,
}

#[derive(Iden)]
pub(crate) enum ProductVariants {
    Table,
    Id,
    ProductId,
    Sku,
    Title,
    OptionValues,
    Barcode,
    WeightGrams,
    Position,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum VariantPrices {
    Table,
    VariantId,
    Currency,
    Amount,
}

#[derive(Iden, Clone, Copy)]
enum ProductImages {
    Table,
    Id,
    ProductId,
    Url,
    Alt,
    Position,
}

#[derive(Iden)]
enum Categories {
    Table,
    Id,
    Handle,
    Name,
    Description,
    ParentId,
    Position,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden, Clone, Copy)]
enum ProductCategories {
    Table,
    ProductId,
    CategoryId,
}

#[derive(Iden)]
enum Collections {
    Table,
    Id,
    Handle,
    Title,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden, Clone, Copy)]
enum ProductCollections {
    Table,
    ProductId,
    CollectionId,
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

fn parse_id<T>(value: &str, parse: impl Fn(&str) -> Result<T, keel_domain::id::InvalidId>) -> Result<T> {
    parse(value).map_err(|_| corrupt("id", value))
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// A product's own columns, as written.
#[derive(Debug, Clone)]
pub struct ProductRecord {
    pub id: ProductId,
    pub handle: String,
    pub title: String,
    pub subtitle: Option<String>,
    pub description: String,
    pub status: ProductStatus,
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct OptionRecord {
    pub id: OptionId,
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct VariantRecord {
    pub id: VariantId,
    pub product_id: ProductId,
    pub sku: String,
    pub title: String,
    pub options: OptionValues,
    pub barcode: Option<String>,
    pub weight_grams: Option<i32>,
    pub position: i32,
    pub prices: Vec<Money>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct ImageRecord {
    pub id: ImageId,
    pub url: String,
    pub alt: Option<String>,
}

pub async fn insert_product(c: &mut Conn<'_>, p: &ProductRecord) -> Result<()> {
    let stmt = Query::insert()
        .into_table(Products::Table)
        .columns([
            Products::Id,
            Products::Handle,
            Products::Title,
            Products::Subtitle,
            Products::Description,
            Products::Status,
            Products::Metadata,
            Products::CreatedAt,
            Products::UpdatedAt,
        ])
        .values_panic([
            p.id.to_string().into(),
            p.handle.clone().into(),
            p.title.clone().into(),
            p.subtitle.clone().into(),
            p.description.clone().into(),
            p.status.as_str().into(),
            p.metadata.clone().into(),
            p.created_at.into(),
            p.updated_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Rewrites a product's own columns. Returns false when the product does not exist.
pub async fn update_product(c: &mut Conn<'_>, p: &ProductRecord) -> Result<bool> {
    let stmt = Query::update()
        .table(Products::Table)
        .values([
            (Products::Handle, p.handle.clone().into()),
            (Products::Title, p.title.clone().into()),
            (Products::Subtitle, p.subtitle.clone().into()),
            (Products::Description, p.description.clone().into()),
            (Products::Status, p.status.as_str().into()),
            (Products::Metadata, p.metadata.clone().into()),
            (Products::UpdatedAt, p.updated_at.into()),
        ])
        .and_where(Expr::col(Products::Id).eq(p.id.to_string()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Marks a product as changed without touching its columns (after a variant or price change).
pub async fn touch_product(c: &mut Conn<'_>, id: ProductId, at: DateTime<Utc>) -> Result<()> {
    let stmt = Query::update()
        .table(Products::Table)
        .value(Products::UpdatedAt, at)
        .and_where(Expr::col(Products::Id).eq(id.to_string()))
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Replaces the rows of a product's child `table` (owned through its `owner` column) with `rows`:
/// one delete, then one multi-row insert of `columns`, whatever the number of rows.
async fn replace_children<T: Iden + Copy + 'static>(
    c: &mut Conn<'_>,
    table: T,
    owner: T,
    product: ProductId,
    columns: &[T],
    rows: Vec<Vec<Expr>>,
) -> Result<()> {
    let delete = Query::delete().from_table(table).and_where(Expr::col(owner).eq(product.to_string())).to_owned();
    c.execute(&delete).await?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = Query::insert().into_table(table).columns(columns.iter().copied()).to_owned();
    for row in rows {
        insert.values_panic(row);
    }
    c.execute(&insert).await?;
    Ok(())
}

pub async fn replace_options(c: &mut Conn<'_>, product: ProductId, options: &[OptionRecord]) -> Result<()> {
    use ProductOptions as O;
    let rows = options
        .iter()
        .enumerate()
        .map(|(position, option)| {
            vec![
                option.id.to_string().into(),
                product.to_string().into(),
                option.name.clone().into(),
                position_value(position),
                serde_json::json!(option.values).into(),
            ]
        })
        .collect();
    replace_children(
        c,
        O::Table,
        O::ProductId,
        product,
        &[O::Id, O::ProductId, O::Name, O::Position, O::OptionValues],
        rows,
    )
    .await
}

fn position_value(position: usize) -> sea_query::Expr {
    i32::try_from(position).unwrap_or(i32::MAX).into()
}

/// Inserts variants with their prices (two statements, whatever their number).
pub async fn insert_variants(c: &mut Conn<'_>, variants: &[VariantRecord]) -> Result<()> {
    if variants.is_empty() {
        return Ok(());
    }
    let mut insert = Query::insert()
        .into_table(ProductVariants::Table)
        .columns([
            ProductVariants::Id,
            ProductVariants::ProductId,
            ProductVariants::Sku,
            ProductVariants::Title,
            ProductVariants::OptionValues,
            ProductVariants::Barcode,
            ProductVariants::WeightGrams,
            ProductVariants::Position,
            ProductVariants::CreatedAt,
            ProductVariants::UpdatedAt,
        ])
        .to_owned();
    for v in variants {
        insert.values_panic([
            v.id.to_string().into(),
            v.product_id.to_string().into(),
            v.sku.clone().into(),
            v.title.clone().into(),
            serde_json::json!(v.options).into(),
            v.barcode.clone().into(),
            v.weight_grams.into(),
            v.position.into(),
            v.created_at.into(),
            v.updated_at.into(),
        ]);
    }
    c.execute(&insert).await?;
    let prices: Vec<(VariantId, Money)> =
        variants.iter().flat_map(|v| v.prices.iter().map(move |p| (v.id, *p))).collect();
    upsert_prices(c, &prices).await
}

/// Rewrites a variant's own columns (not its prices). Returns false when it does not exist.
pub async fn update_variant(c: &mut Conn<'_>, v: &VariantRecord) -> Result<bool> {
    let stmt = Query::update()
        .table(ProductVariants::Table)
        .values([
            (ProductVariants::Sku, v.sku.clone().into()),
            (ProductVariants::Title, v.title.clone().into()),
            (ProductVariants::OptionValues, serde_json::json!(v.options).into()),
            (ProductVariants::Barcode, v.barcode.clone().into()),
            (ProductVariants::WeightGrams, v.weight_grams.into()),
            (ProductVariants::UpdatedAt, v.updated_at.into()),
        ])
        .and_where(Expr::col(ProductVariants::Id).eq(v.id.to_string()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn delete_variant(c: &mut Conn<'_>, id: VariantId) -> Result<bool> {
    let stmt = Query::delete()
        .from_table(ProductVariants::Table)
        .and_where(Expr::col(ProductVariants::Id).eq(id.to_string()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Sets prices, replacing the amount of a currency a variant already has.
pub async fn upsert_prices(c: &mut Conn<'_>, prices: &[(VariantId, Money)]) -> Result<()> {
    if prices.is_empty() {
        return Ok(());
    }
    let mut insert = Query::insert()
        .into_table(VariantPrices::Table)
        .columns([VariantPrices::VariantId, VariantPrices::Currency, VariantPrices::Amount])
        .on_conflict(
            OnConflict::columns([VariantPrices::VariantId, VariantPrices::Currency])
                .update_column(VariantPrices::Amount)
                .to_owned(),
        )
        .to_owned();
    for (variant, money) in prices {
        insert.values_panic([variant.to_string().into(), money.currency.code().into(), money.amount.into()]);
    }
    c.execute(&insert).await?;
    Ok(())
}

/// Removes a variant's prices in currencies not in `keep`.
pub async fn delete_prices_except(c: &mut Conn<'_>, variant: VariantId, keep: &[Currency]) -> Result<()> {
    let mut stmt = Query::delete()
        .from_table(VariantPrices::Table)
        .and_where(Expr::col(VariantPrices::VariantId).eq(variant.to_string()))
        .to_owned();
    if !keep.is_empty() {
        stmt.and_where(Expr::col(VariantPrices::Currency).is_not_in(keep.iter().map(|c| c.code().to_string())));
    }
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn replace_images(c: &mut Conn<'_>, product: ProductId, images: &[ImageRecord]) -> Result<()> {
    use ProductImages as I;
    let rows = images
        .iter()
        .enumerate()
        .map(|(position, image)| {
            vec![
                image.id.to_string().into(),
                product.to_string().into(),
                image.url.clone().into(),
                image.alt.clone().into(),
                position_value(position),
            ]
        })
        .collect();
    replace_children(c, I::Table, I::ProductId, product, &[I::Id, I::ProductId, I::Url, I::Alt, I::Position], rows)
        .await
}

pub async fn replace_tags(c: &mut Conn<'_>, product: ProductId, tags: &[String]) -> Result<()> {
    use ProductTags as T;
    let rows = tags.iter().map(|tag| vec![product.to_string().into(), tag.clone().into()]).collect();
    replace_children(c, T::Table, T::ProductId, product, &[T::ProductId, T::Tag], rows).await
}

/// Sets the categories a product is in. An unknown category id is a [`StoreError::ForeignKey`].
pub async fn replace_product_categories(c: &mut Conn<'_>, product: ProductId, ids: &[CategoryId]) -> Result<()> {
    use ProductCategories as P;
    let rows = ids.iter().map(|id| vec![product.to_string().into(), id.to_string().into()]).collect();
    replace_children(c, P::Table, P::ProductId, product, &[P::ProductId, P::CategoryId], rows).await
}

/// Sets the collections a product is in. An unknown collection id is a [`StoreError::ForeignKey`].
pub async fn replace_product_collections(c: &mut Conn<'_>, product: ProductId, ids: &[CollectionId]) -> Result<()> {
    use ProductCollections as P;
    let rows = ids.iter().map(|id| vec![product.to_string().into(), id.to_string().into()]).collect();
    replace_children(c, P::Table, P::ProductId, product, &[P::ProductId, P::CollectionId], rows).await
}

// ---------------------------------------------------------------------------------------------
// Reading products
// ---------------------------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: String,
    handle: String,
    title: String,
    subtitle: Option<String>,
    description: String,
    status: String,
    metadata: Json<serde_json::Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Only selected when sorting by price: the cheapest variant price in the sort currency.
    #[sqlx(default)]
    sort_price: Option<i64>,
}

/// The order of a product list. Ties are broken by id in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductSort {
    /// By creation time (ids are time-ordered UUIDv7, so this is the id order).
    Created,
    Title,
    /// By the cheapest variant price in this currency; products without one come last.
    Price(Currency),
}

/// The sort key of the last row of a page, from which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Created,
    Title(String),
    Price(i64),
}

/// Which products to list, in which order, from where.
#[derive(Debug, Clone)]
pub struct ProductFilter {
    /// Only these statuses (empty: any).
    pub statuses: Vec<ProductStatus>,
    /// Only products in one of these categories (`Some(vec![])` matches nothing).
    pub category_ids: Option<Vec<CategoryId>>,
    pub collection_id: Option<CollectionId>,
    /// Case-insensitive substring of the title.
    pub title_contains: Option<String>,
    pub sort: ProductSort,
    pub descending: bool,
    /// Continue after this product (its id and sort key).
    pub after: Option<(ProductId, SortKey)>,
    pub limit: u64,
    /// Which relations to load with the page (`ProductPart::ALL` for whole products; none for
    /// bare rows whose relations a caller loads later with [`relations`]).
    pub parts: Vec<ProductPart>,
}

/// A page of products and, when more follow, the key of the last one.
#[derive(Debug)]
pub struct ProductPage {
    pub products: Vec<Product>,
    /// Each product's sort key, in page order (for a cursor per product).
    pub keys: Vec<SortKey>,
    pub next: Option<(ProductId, SortKey)>,
}

/// One relation of a product, loaded for a whole page of products by one statement (variants:
/// two, with their prices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProductPart {
    Variants,
    Options,
    Images,
    Tags,
    Categories,
    Collections,
}

impl ProductPart {
    pub const ALL: [ProductPart; 6] = [
        ProductPart::Variants,
        ProductPart::Options,
        ProductPart::Images,
        ProductPart::Tags,
        ProductPart::Categories,
        ProductPart::Collections,
    ];
}

/// A product's relations (those not asked for stay empty).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductRelations {
    pub variants: Vec<Variant>,
    pub options: Vec<ProductOption>,
    pub images: Vec<Image>,
    pub tags: Vec<String>,
    pub categories: Vec<CategoryRef>,
    pub collections: Vec<CollectionRef>,
}

/// Sorting by price needs a product's cheapest price in a currency, which no column holds; a
/// correlated subquery computes it (a missing price sorts last in either direction).
fn min_price_expr(currency: Currency, missing: i64) -> Expr {
    let sub = Query::select()
        .expr(Expr::col((VariantPrices::Table, VariantPrices::Amount)).min())
        .from(VariantPrices::Table)
        .inner_join(
            ProductVariants::Table,
            Expr::col((ProductVariants::Table, ProductVariants::Id))
                .equals((VariantPrices::Table, VariantPrices::VariantId)),
        )
        .and_where(
            Expr::col((ProductVariants::Table, ProductVariants::ProductId)).equals((Products::Table, Products::Id)),
        )
        .and_where(Expr::col((VariantPrices::Table, VariantPrices::Currency)).eq(currency.code()))
        .to_owned();
    Func::coalesce([Expr::SubQuery(None, Box::new(sub.into())), Expr::val(missing)]).into()
}

/// A `LIKE` pattern matching `raw` anywhere (lower-cased, wildcards escaped with `\\`).
pub(crate) fn escape_like(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 2);
    out.push('%');
    for ch in raw.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// Lists a page of products with their relations.
pub async fn list_products(c: &mut Conn<'_>, filter: &ProductFilter) -> Result<ProductPage> {
    let mut q = product_select();
    if !filter.statuses.is_empty() {
        q.and_where(Expr::col((Products::Table, Products::Status)).is_in(filter.statuses.iter().map(|s| s.as_str())));
    }
    if let Some(ids) = &filter.category_ids {
        let sub = Query::select()
            .column(ProductCategories::ProductId)
            .from(ProductCategories::Table)
            .and_where(Expr::col(ProductCategories::CategoryId).is_in(ids.iter().map(|i| i.to_string())))
            .to_owned();
        q.and_where(Expr::col((Products::Table, Products::Id)).in_subquery(sub));
    }
    if let Some(id) = filter.collection_id {
        let sub = Query::select()
            .column(ProductCollections::ProductId)
            .from(ProductCollections::Table)
            .and_where(Expr::col(ProductCollections::CollectionId).eq(id.to_string()))
            .to_owned();
        q.and_where(Expr::col((Products::Table, Products::Id)).in_subquery(sub));
    }
    if let Some(text) = &filter.title_contains {
        q.and_where(
            Expr::expr(Func::lower(Expr::col((Products::Table, Products::Title))))
                .like(LikeExpr::new(escape_like(text)).escape('\\')),
        );
    }

    let order = if filter.descending { Order::Desc } else { Order::Asc };
    let id_col = Expr::col((Products::Table, Products::Id));
    // Keyset condition: strictly after the last row in (key, id) order.
    let after_id = filter.after.as_ref().map(|(id, _)| id.to_string());
    let beyond = |e: Expr, v: Expr| if filter.descending { e.lt(v) } else { e.gt(v) };
    match filter.sort {
        ProductSort::Created => {
            if let Some(id) = &after_id {
                q.and_where(beyond(id_col.clone(), Expr::val(id.clone())));
            }
        }
        ProductSort::Title => {
            let title = Expr::col((Products::Table, Products::Title));
            if let (Some(id), Some((_, SortKey::Title(t)))) = (&after_id, &filter.after) {
                q.and_where(
                    beyond(title.clone(), Expr::val(t.clone()))
                        .or(title.clone().eq(t.clone()).and(beyond(id_col.clone(), Expr::val(id.clone())))),
                );
            }
            q.order_by_expr(title, order.clone());
        }
        ProductSort::Price(currency) => {
            let missing = i64::MAX;
            let price = min_price_expr(currency, missing);
            q.expr_as(price.clone(), "sort_price");
            if let (Some(id), Some((_, SortKey::Price(p)))) = (&after_id, &filter.after) {
                q.and_where(
                    beyond(price.clone(), Expr::val(*p))
                        .or(price.clone().eq(*p).and(beyond(id_col.clone(), Expr::val(id.clone())))),
                );
            }
            q.order_by_expr(price, order.clone());
        }
    }
    q.order_by_expr(id_col, order);
    q.limit(filter.limit + 1);

    let mut rows: Vec<ProductRow> = c.fetch_all(&q).await?;
    let has_more = rows.len() as u64 > filter.limit;
    rows.truncate(usize::try_from(filter.limit).unwrap_or(usize::MAX));
    let keys: Vec<SortKey> = rows
        .iter()
        .map(|row| match filter.sort {
            ProductSort::Created => SortKey::Created,
            ProductSort::Title => SortKey::Title(row.title.clone()),
            ProductSort::Price(_) => SortKey::Price(row.sort_price.unwrap_or(i64::MAX)),
        })
        .collect();
    let next = match (has_more, rows.last(), keys.last()) {
        (true, Some(last), Some(key)) => Some((parse_id(&last.id, ProductId::parse)?, key.clone())),
        _ => None,
    };
    let products = assemble(c, rows, &filter.parts).await?;
    Ok(ProductPage { products, keys, next })
}

fn product_select() -> SelectStatement {
    Query::select()
        .columns([
            (Products::Table, Products::Id),
            (Products::Table, Products::Handle),
            (Products::Table, Products::Title),
            (Products::Table, Products::Subtitle),
            (Products::Table, Products::Description),
            (Products::Table, Products::Status),
            (Products::Table, Products::Metadata),
            (Products::Table, Products::CreatedAt),
            (Products::Table, Products::UpdatedAt),
        ])
        .from(Products::Table)
        .to_owned()
}

/// Finds one product by id.
pub async fn find_product(c: &mut Conn<'_>, id: ProductId) -> Result<Option<Product>> {
    find_product_with(c, id, &ProductPart::ALL).await
}

/// Finds one product by id with only the relations in `parts` (none: one statement, for a
/// status check).
pub async fn find_product_with(c: &mut Conn<'_>, id: ProductId, parts: &[ProductPart]) -> Result<Option<Product>> {
    let q = product_select().and_where(Expr::col((Products::Table, Products::Id)).eq(id.to_string())).to_owned();
    one_product(c, q, parts).await
}

/// Finds one product by handle.
pub async fn find_product_by_handle(c: &mut Conn<'_>, handle: &str) -> Result<Option<Product>> {
    let q = product_select().and_where(Expr::col((Products::Table, Products::Handle)).eq(handle)).to_owned();
    one_product(c, q, &ProductPart::ALL).await
}

async fn one_product(c: &mut Conn<'_>, q: SelectStatement, parts: &[ProductPart]) -> Result<Option<Product>> {
    let rows: Vec<ProductRow> = c.fetch_all(&q).await?;
    Ok(assemble(c, rows, parts).await?.into_iter().next())
}

#[derive(sqlx::FromRow)]
struct VariantRow {
    id: String,
    product_id: String,
    sku: String,
    title: String,
    option_values: Json<OptionValues>,
    barcode: Option<String>,
    weight_grams: Option<i32>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct PriceRow {
    variant_id: String,
    currency: String,
    amount: i64,
}

#[derive(sqlx::FromRow)]
struct OptionRow {
    id: String,
    product_id: String,
    name: String,
    option_values: Json<Vec<String>>,
}

#[derive(sqlx::FromRow)]
struct ImageRow {
    id: String,
    product_id: String,
    url: String,
    alt: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TagRow {
    product_id: String,
    tag: String,
}

#[derive(sqlx::FromRow)]
struct RefRow {
    product_id: String,
    id: String,
    handle: String,
    name: String,
}

/// Builds the views of a page of product rows with the relations in `parts`.
async fn assemble(c: &mut Conn<'_>, rows: Vec<ProductRow>, parts: &[ProductPart]) -> Result<Vec<Product>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut relations = relations(c, &ids, parts).await?;
    rows.into_iter()
        .map(|row| {
            let status = ProductStatus::parse(&row.status).ok_or_else(|| corrupt("product status", &row.status))?;
            let r = relations.remove(&row.id).unwrap_or_default();
            Ok(Product {
                id: parse_id(&row.id, ProductId::parse)?,
                handle: row.handle,
                title: row.title,
                subtitle: row.subtitle,
                description: row.description,
                status,
                thumbnail: r.images.first().map(|i| i.url.clone()),
                options: r.options,
                variants: r.variants,
                images: r.images,
                categories: r.categories,
                collections: r.collections,
                tags: r.tags,
                metadata: row.metadata.0,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
        })
        .collect()
}

/// Loads the relations in `parts` of the products `ids`: one statement per relation for all of
/// them, whatever their number.
pub async fn relations(
    c: &mut Conn<'_>,
    ids: &[String],
    parts: &[ProductPart],
) -> Result<HashMap<String, ProductRelations>> {
    let mut by_product: HashMap<String, ProductRelations> =
        ids.iter().map(|id| (id.clone(), ProductRelations::default())).collect();
    if ids.is_empty() {
        return Ok(by_product);
    }
    let ids = ids.to_vec();
    let mut parts = parts.to_vec();
    parts.sort();
    parts.dedup();
    for part in parts {
        match part {
            ProductPart::Variants => {
                for v in load_variants(c, Expr::col(ProductVariants::ProductId).is_in(ids.clone())).await? {
                    if let Some(p) = by_product.get_mut(&v.product_id.to_string()) {
                        p.variants.push(v);
                    }
                }
            }
            ProductPart::Options => {
                let options: Vec<OptionRow> = c
                    .fetch_all(
                        &Query::select()
                            .columns([
                                ProductOptions::Id,
                                ProductOptions::ProductId,
                                ProductOptions::Name,
                                ProductOptions::OptionValues,
                            ])
                            .from(ProductOptions::Table)
                            .and_where(Expr::col(ProductOptions::ProductId).is_in(ids.clone()))
                            .order_by(ProductOptions::ProductId, Order::Asc)
                            .order_by(ProductOptions::Position, Order::Asc)
                            .to_owned(),
                    )
                    .await?;
                for o in options {
                    if let Some(p) = by_product.get_mut(&o.product_id) {
                        p.options.push(ProductOption {
                            id: parse_id(&o.id, OptionId::parse)?,
                            name: o.name,
                            values: o.option_values.0,
                        });
                    }
                }
            }
            ProductPart::Images => {
                let images: Vec<ImageRow> = c
                    .fetch_all(
                        &Query::select()
                            .columns([
                                ProductImages::Id,
                                ProductImages::ProductId,
                                ProductImages::Url,
                                ProductImages::Alt,
                            ])
                            .from(ProductImages::Table)
                            .and_where(Expr::col(ProductImages::ProductId).is_in(ids.clone()))
                            .order_by(ProductImages::ProductId, Order::Asc)
                            .order_by(ProductImages::Position, Order::Asc)
                            .to_owned(),
                    )
                    .await?;
                for i in images {
                    if let Some(p) = by_product.get_mut(&i.product_id) {
                        p.images.push(Image { id: parse_id(&i.id, ImageId::parse)?, url: i.url, alt: i.alt });
                    }
                }
            }
            ProductPart::Tags => {
                let tags: Vec<TagRow> = c
                    .fetch_all(
                        &Query::select()
                            .columns([ProductTags::ProductId, ProductTags::Tag])
                            .from(ProductTags::Table)
                            .and_where(Expr::col(ProductTags::ProductId).is_in(ids.clone()))
                            .order_by(ProductTags::Tag, Order::Asc)
                            .to_owned(),
                    )
                    .await?;
                for t in tags {
                    if let Some(p) = by_product.get_mut(&t.product_id) {
                        p.tags.push(t.tag);
                    }
                }
            }
            ProductPart::Categories => {
                let categories: Vec<RefRow> = c
                    .fetch_all(
                        &Query::select()
                            .column((ProductCategories::Table, ProductCategories::ProductId))
                            .columns([
                                (Categories::Table, Categories::Id),
                                (Categories::Table, Categories::Handle),
                                (Categories::Table, Categories::Name),
                            ])
                            .from(ProductCategories::Table)
                            .inner_join(
                                Categories::Table,
                                Expr::col((Categories::Table, Categories::Id))
                                    .equals((ProductCategories::Table, ProductCategories::CategoryId)),
                            )
                            .and_where(
                                Expr::col((ProductCategories::Table, ProductCategories::ProductId)).is_in(ids.clone()),
                            )
                            .order_by((Categories::Table, Categories::Position), Order::Asc)
                            .order_by((Categories::Table, Categories::Handle), Order::Asc)
                            .to_owned(),
                    )
                    .await?;
                for r in categories {
                    if let Some(p) = by_product.get_mut(&r.product_id) {
                        p.categories.push(CategoryRef {
                            id: parse_id(&r.id, CategoryId::parse)?,
                            handle: r.handle,
                            name: r.name,
                        });
                    }
                }
            }
            ProductPart::Collections => {
                let collections: Vec<RefRow> = c
                    .fetch_all(
                        &Query::select()
                            .column((ProductCollections::Table, ProductCollections::ProductId))
                            .columns([(Collections::Table, Collections::Id), (Collections::Table, Collections::Handle)])
                            .expr_as(Expr::col((Collections::Table, Collections::Title)), "name")
                            .from(ProductCollections::Table)
                            .inner_join(
                                Collections::Table,
                                Expr::col((Collections::Table, Collections::Id))
                                    .equals((ProductCollections::Table, ProductCollections::CollectionId)),
                            )
                            .and_where(
                                Expr::col((ProductCollections::Table, ProductCollections::ProductId))
                                    .is_in(ids.clone()),
                            )
                            .order_by((Collections::Table, Collections::Handle), Order::Asc)
                            .to_owned(),
                    )
                    .await?;
                for r in collections {
                    if let Some(p) = by_product.get_mut(&r.product_id) {
                        p.collections.push(CollectionRef {
                            id: parse_id(&r.id, CollectionId::parse)?,
                            handle: r.handle,
                            title: r.name,
                        });
                    }
                }
            }
        }
    }
    Ok(by_product)
}

/// Loads variants matching `condition` with their prices, in product then position order.
async fn load_variants(c: &mut Conn<'_>, condition: Expr) -> Result<Vec<Variant>> {
    let rows: Vec<VariantRow> = c
        .fetch_all(
            &Query::select()
                .columns([
                    ProductVariants::Id,
                    ProductVariants::ProductId,
                    ProductVariants::Sku,
                    ProductVariants::Title,
                    ProductVariants::OptionValues,
                    ProductVariants::Barcode,
                    ProductVariants::WeightGrams,
                    ProductVariants::CreatedAt,
                    ProductVariants::UpdatedAt,
                ])
                .from(ProductVariants::Table)
                .and_where(condition)
                .order_by(ProductVariants::ProductId, Order::Asc)
                .order_by(ProductVariants::Position, Order::Asc)
                .order_by(ProductVariants::Id, Order::Asc)
                .to_owned(),
        )
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let prices: Vec<PriceRow> = c
        .fetch_all(
            &Query::select()
                .columns([VariantPrices::VariantId, VariantPrices::Currency, VariantPrices::Amount])
                .from(VariantPrices::Table)
                .and_where(Expr::col(VariantPrices::VariantId).is_in(rows.iter().map(|r| r.id.clone())))
                .order_by(VariantPrices::Currency, Order::Asc)
                .to_owned(),
        )
        .await?;
    let mut prices_by_variant: HashMap<String, Vec<Money>> = HashMap::new();
    for p in prices {
        let currency = Currency::parse(&p.currency).map_err(|_| corrupt("currency", &p.currency))?;
        prices_by_variant.entry(p.variant_id).or_default().push(Money::new(p.amount, currency));
    }
    rows.into_iter()
        .map(|r| {
            Ok(Variant {
                id: parse_id(&r.id, VariantId::parse)?,
                product_id: parse_id(&r.product_id, ProductId::parse)?,
                prices: prices_by_variant.remove(&r.id).unwrap_or_default(),
                sku: r.sku,
                title: r.title,
                options: r.option_values.0,
                barcode: r.barcode,
                weight_grams: r.weight_grams,
                in_stock: None,
                calculated_price: None,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

/// Variants by id (with their prices), in one pair of statements.
pub async fn find_variants(c: &mut Conn<'_>, ids: &[VariantId]) -> Result<Vec<Variant>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    load_variants(c, Expr::col(ProductVariants::Id).is_in(ids.iter().map(ToString::to_string))).await
}

pub async fn find_variant(c: &mut Conn<'_>, id: VariantId) -> Result<Option<Variant>> {
    Ok(load_variants(c, Expr::col(ProductVariants::Id).eq(id.to_string())).await?.into_iter().next())
}

/// The next free position for a new variant of a product.
pub async fn next_variant_position(c: &mut Conn<'_>, product: ProductId) -> Result<i32> {
    let q = Query::select()
        .expr(Func::coalesce([Expr::col(ProductVariants::Position).max(), Expr::val(-1)]))
        .from(ProductVariants::Table)
        .and_where(Expr::col(ProductVariants::ProductId).eq(product.to_string()))
        .to_owned();
    let max = c.fetch_i64(&q).await?;
    Ok(i32::try_from(max + 1).unwrap_or(i32::MAX))
}

/// Counts products by status (for the seed's idempotence check and for dashboards).
pub async fn count_products(c: &mut Conn<'_>) -> Result<i64> {
    c.fetch_i64(&Query::select().expr(Expr::col(Products::Id).count()).from(Products::Table).to_owned()).await
}

// ---------------------------------------------------------------------------------------------
// Categories and collections
// ---------------------------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct CategoryRow {
    id: String,
    handle: String,
    name: String,
    description: String,
    parent_id: Option<String>,
    position: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl CategoryRow {
    fn into_view(self) -> Result<Category> {
        Ok(Category {
            id: parse_id(&self.id, CategoryId::parse)?,
            parent_id: self.parent_id.as_deref().map(|p| parse_id(p, CategoryId::parse)).transpose()?,
            handle: self.handle,
            name: self.name,
            description: self.description,
            position: self.position,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Every category, parents before children is not guaranteed; ordered by position then handle.
pub async fn list_categories(c: &mut Conn<'_>) -> Result<Vec<Category>> {
    let rows: Vec<CategoryRow> = c
        .fetch_all(
            &Query::select()
                .columns([
                    Categories::Id,
                    Categories::Handle,
                    Categories::Name,
                    Categories::Description,
                    Categories::ParentId,
                    Categories::Position,
                    Categories::CreatedAt,
                    Categories::UpdatedAt,
                ])
                .from(Categories::Table)
                .order_by(Categories::Position, Order::Asc)
                .order_by(Categories::Handle, Order::Asc)
                .to_owned(),
        )
        .await?;
    rows.into_iter().map(CategoryRow::into_view).collect()
}

pub async fn upsert_category(c: &mut Conn<'_>, cat: &Category, insert: bool) -> Result<bool> {
    if insert {
        let stmt = Query::insert()
            .into_table(Categories::Table)
            .columns([
                Categories::Id,
                Categories::Handle,
                Categories::Name,
                Categories::Description,
                Categories::ParentId,
                Categories::Position,
                Categories::CreatedAt,
                Categories::UpdatedAt,
            ])
            .values_panic([
                cat.id.to_string().into(),
                cat.handle.clone().into(),
                cat.name.clone().into(),
                cat.description.clone().into(),
                cat.parent_id.map(|p| p.to_string()).into(),
                cat.position.into(),
                cat.created_at.into(),
                cat.updated_at.into(),
            ])
            .to_owned();
        return Ok(c.execute(&stmt).await? == 1);
    }
    let stmt = Query::update()
        .table(Categories::Table)
        .values([
            (Categories::Handle, cat.handle.clone().into()),
            (Categories::Name, cat.name.clone().into()),
            (Categories::Description, cat.description.clone().into()),
            (Categories::ParentId, cat.parent_id.map(|p| p.to_string()).into()),
            (Categories::Position, cat.position.into()),
            (Categories::UpdatedAt, cat.updated_at.into()),
        ])
        .and_where(Expr::col(Categories::Id).eq(cat.id.to_string()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn delete_category(c: &mut Conn<'_>, id: CategoryId) -> Result<bool> {
    let stmt = Query::delete()
        .from_table(Categories::Table)
        .and_where(Expr::col(Categories::Id).eq(id.to_string()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

#[derive(sqlx::FromRow)]
struct CollectionRow {
    id: String,
    handle: String,
    title: String,
    description: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

pub async fn list_collections(c: &mut Conn<'_>) -> Result<Vec<Collection>> {
    let rows: Vec<CollectionRow> = c
        .fetch_all(
            &Query::select()
                .columns([
                    Collections::Id,
                    Collections::Handle,
                    Collections::Title,
                    Collections::Description,
                    Collections::CreatedAt,
                    Collections::UpdatedAt,
                ])
                .from(Collections::Table)
                .order_by(Collections::Handle, Order::Asc)
                .to_owned(),
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Collection {
                id: parse_id(&r.id, CollectionId::parse)?,
                handle: r.handle,
                title: r.title,
                description: r.description,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

pub async fn upsert_collection(c: &mut Conn<'_>, col: &Collection, insert: bool) -> Result<bool> {
    if insert {
        let stmt = Query::insert()
            .into_table(Collections::Table)
            .columns([
                Collections::Id,
                Collections::Handle,
                Collections::Title,
                Collections::Description,
                Collections::CreatedAt,
                Collections::UpdatedAt,
            ])
            .values_panic([
                col.id.to_string().into(),
                col.handle.clone().into(),
                col.title.clone().into(),
                col.description.clone().into(),
                col.created_at.into(),
                col.updated_at.into(),
            ])
            .to_owned();
        return Ok(c.execute(&stmt).await? == 1);
    }
    let stmt = Query::update()
        .table(Collections::Table)
        .values([
            (Collections::Handle, col.handle.clone().into()),
            (Collections::Title, col.title.clone().into()),
            (Collections::Description, col.description.clone().into()),
            (Collections::UpdatedAt, col.updated_at.into()),
        ])
        .and_where(Expr::col(Collections::Id).eq(col.id.to_string()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn delete_collection(c: &mut Conn<'_>, id: CollectionId) -> Result<bool> {
    let stmt = Query::delete()
        .from_table(Collections::Table)
        .and_where(Expr::col(Collections::Id).eq(id.to_string()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// The category and collection ids of each product (for promotions that target them), in two
/// statements: `(product, categories, collections)`.
pub async fn groupings(
    c: &mut Conn<'_>,
    product_ids: &[String],
) -> Result<HashMap<String, (Vec<String>, Vec<String>)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        product_id: String,
        group_id: String,
    }
    let mut out: HashMap<String, (Vec<String>, Vec<String>)> = HashMap::new();
    if product_ids.is_empty() {
        return Ok(out);
    }
    let categories: Vec<Row> = c
        .fetch_all(
            &Query::select()
                .column(ProductCategories::ProductId)
                .expr_as(Expr::col(ProductCategories::CategoryId), "group_id")
                .from(ProductCategories::Table)
                .and_where(Expr::col(ProductCategories::ProductId).is_in(product_ids.iter().cloned()))
                .to_owned(),
        )
        .await?;
    for r in categories {
        out.entry(r.product_id).or_default().0.push(r.group_id);
    }
    let collections: Vec<Row> = c
        .fetch_all(
            &Query::select()
                .column(ProductCollections::ProductId)
                .expr_as(Expr::col(ProductCollections::CollectionId), "group_id")
                .from(ProductCollections::Table)
                .and_where(Expr::col(ProductCollections::ProductId).is_in(product_ids.iter().cloned()))
                .to_owned(),
        )
        .await?;
    for r in collections {
        out.entry(r.product_id).or_default().1.push(r.group_id);
    }
    Ok(out)
}

/// The titles of these products, by id (one statement).
pub async fn product_titles(c: &mut Conn<'_>, product_ids: &[String]) -> Result<HashMap<String, String>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        title: String,
    }
    if product_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<Row> = c
        .fetch_all(
            &Query::select()
                .columns([Products::Id, Products::Title])
                .from(Products::Table)
                .and_where(Expr::col(Products::Id).is_in(product_ids.iter().cloned()))
                .to_owned(),
        )
        .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.title)).collect())
}
