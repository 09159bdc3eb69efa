//! The catalog: products, variants, prices, categories and collections.
//!
//! Store reads see published products only; admin reads see every status. Every write runs in
//! one transaction, so a product is never half-created: its variants, prices, images and
//! memberships commit together or not at all.

mod cursor;
pub mod input;

use crate::{Result, ServiceError, now};
use input::*;
use keel_domain::catalog::view::{Category, Collection, Product, Variant};
use keel_domain::catalog::{Label, ProductStatus};
use keel_domain::{CategoryId, CollectionId, Currency, ImageId, OptionId, ProductId, ValidationErrors, VariantId};
use keel_store::catalog::{
    self as repo, ImageRecord, OptionRecord, ProductFilter, ProductRecord, ProductSort, VariantRecord,
};
pub use keel_store::catalog::{ProductPart, ProductRelations};
use keel_store::{Conn, Db};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Who is reading: shoppers see published products only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Store,
    Admin,
}

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// Query parameters of a product list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductListParams {
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only products in this category or its descendants (by handle).
    pub category: Option<String>,
    /// Only products in this collection (by handle).
    pub collection: Option<String>,
    /// Case-insensitive match on the title.
    pub q: Option<String>,
    /// `created`, `title` or `price`, with a leading `-` for descending (default `-created`).
    pub sort: Option<String>,
    /// Currency whose prices `sort=price` compares (default USD).
    pub currency: Option<String>,
    /// Admin only: only products with this status.
    pub status: Option<ProductStatus>,
    /// Store only: variants' `in_stock` counts this region's stock locations (default: all), and
    /// their `calculated_price` is in its currency.
    pub region_id: Option<keel_domain::RegionId>,
}

/// A page of products.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProductList {
    pub data: Vec<Product>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A page of products with a cursor per product (for connections whose every edge has one).
#[derive(Debug, Clone)]
pub struct ProductPage {
    pub products: Vec<Product>,
    /// Each product's cursor: the page after it starts from it.
    pub cursors: Vec<String>,
    pub next_cursor: Option<String>,
}

#[derive(Clone)]
pub struct CatalogService {
    db: Db,
}

fn not_found(entity: &'static str) -> ServiceError {
    ServiceError::NotFound { entity }
}

impl CatalogService {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn list_products(&self, audience: Audience, params: &ProductListParams) -> Result<ProductList> {
        let page = self.product_page(audience, params, &ProductPart::ALL).await?;
        Ok(ProductList { data: page.products, next_cursor: page.next_cursor })
    }

    /// A page of products with the relations in `parts` (none: bare products, whose relations
    /// [`Self::relations`] loads later for the whole page at once).
    pub async fn product_page(
        &self,
        audience: Audience,
        params: &ProductListParams,
        parts: &[ProductPart],
    ) -> Result<ProductPage> {
        let mut errors = ValidationErrors::new();
        let limit = params.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            errors.add("limit", format!("must be between 1 and {MAX_PAGE_SIZE}"));
        }
        let sort_text = params.sort.as_deref().unwrap_or("-created");
        let (descending, field) = match sort_text.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, sort_text),
        };
        let currency = match &params.currency {
            Some(c) => errors.check("currency", Currency::parse(c)).unwrap_or(Currency::USD),
            None => Currency::USD,
        };
        let sort = match field {
            "created" => Some(ProductSort::Created),
            "title" => Some(ProductSort::Title),
            "price" => Some(ProductSort::Price(currency)),
            _ => {
                errors.add("sort", "must be created, title or price, optionally with a leading -");
                None
            }
        };
        // A cursor is bound to its sort, including the price currency.
        let cursor_scope = match sort {
            Some(ProductSort::Price(c)) => format!("{sort_text}:{c}"),
            _ => sort_text.to_string(),
        };
        let after = match &params.cursor {
            Some(c) => errors.check("cursor", cursor::decode(&cursor_scope, c)),
            None => None,
        };
        if params.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            errors.add("q", "must be at most 200 characters");
        }
        let statuses = match (audience, params.status) {
            (Audience::Store, Some(_)) => {
                errors.add("status", "is not a filter of the store API");
                vec![]
            }
            (Audience::Store, None) => vec![ProductStatus::Published],
            (Audience::Admin, Some(s)) => vec![s],
            (Audience::Admin, None) => vec![],
        };
        let Some(sort) = sort else { return Err(errors.into()) };
        if !errors.is_empty() {
            return Err(errors.into());
        }

        let mut conn = self.db.read().await?;
        let mut c = conn.conn();
        let category_ids = match &params.category {
            Some(handle) => Some(category_and_descendants(&mut c, handle).await?),
            None => None,
        };
        let collection_id = match &params.collection {
            Some(handle) => match repo::list_collections(&mut c).await?.into_iter().find(|col| col.handle == *handle) {
                Some(col) => Some(col.id),
                // An unknown collection matches nothing, like an unknown category.
                None => return Ok(ProductPage { products: vec![], cursors: vec![], next_cursor: None }),
            },
            None => None,
        };
        let filter = ProductFilter {
            statuses,
            category_ids,
            collection_id,
            title_contains: params.q.clone().filter(|q| !q.trim().is_empty()),
            sort,
            descending,
            after,
            limit: u64::from(limit),
            parts: parts.to_vec(),
        };
        let page = repo::list_products(&mut c, &filter).await?;
        Ok(ProductPage {
            cursors: page
                .products
                .iter()
                .zip(&page.keys)
                .map(|(p, key)| cursor::encode(&cursor_scope, p.id, key))
                .collect(),
            products: page.products,
            next_cursor: page.next.map(|(id, key)| cursor::encode(&cursor_scope, id, &key)),
        })
    }

    /// The relations in `parts` of these products, one statement per relation for all of them.
    pub async fn relations(
        &self,
        ids: &[ProductId],
        parts: &[ProductPart],
    ) -> Result<HashMap<ProductId, ProductRelations>> {
        let raw: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let mut conn = self.db.read().await?;
        let mut found = repo::relations(&mut conn.conn(), &raw, parts).await?;
        Ok(ids.iter().map(|id| (*id, found.remove(&id.to_string()).unwrap_or_default())).collect())
    }

    /// Finds a product by id (`prod_…`) or handle.
    pub async fn get_product(&self, audience: Audience, id_or_handle: &str) -> Result<Product> {
        let mut conn = self.db.read().await?;
        let product = match ProductId::parse(id_or_handle) {
            Ok(id) => repo::find_product(&mut conn.conn(), id).await?,
            Err(_) => repo::find_product_by_handle(&mut conn.conn(), id_or_handle).await?,
        };
        match product {
            Some(p) if audience == Audience::Admin || p.status == ProductStatus::Published => Ok(p),
            _ => Err(not_found("product")),
        }
    }

    pub async fn create_product(&self, input: &ProductCreate) -> Result<Product> {
        let mut errors = ValidationErrors::new();
        let title = check_title(&mut errors, "title", &input.title);
        let handle = handle_or_slug(&mut errors, input.handle.as_deref(), &input.title);
        let subtitle = input.subtitle.as_deref().and_then(|s| errors.check("subtitle", Label::parse(s, 500)));
        let description = check_description(&mut errors, &input.description);
        let metadata = check_metadata(&mut errors, input.metadata.as_ref());
        let tags = check_tags(&mut errors, &input.tags);
        let images = check_images(&mut errors, &input.images);
        let options = check_options(&mut errors, &input.options);
        if input.variants.len() > 500 {
            errors.add("variants", "at most 500 variants");
        }
        let variants: Vec<(usize, CheckedVariant)> = input
            .variants
            .iter()
            .enumerate()
            .filter_map(|(i, v)| check_variant(&mut errors, &format!("variants[{i}]"), v, &options).map(|c| (i, c)))
            .collect();
        check_variant_uniqueness(&mut errors, &variants);

        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        check_memberships(&mut c, &mut errors, &input.category_ids, &input.collection_ids).await?;
        let (Some(title), Some(handle)) = (title, handle) else { return Err(errors.into()) };
        if !errors.is_empty() {
            return Err(errors.into());
        }

        let at = now();
        let id = ProductId::new();
        repo::insert_product(
            &mut c,
            &ProductRecord {
                id,
                handle: handle.as_str().to_string(),
                title,
                subtitle: subtitle.map(Label::into_string),
                description,
                status: input.status,
                metadata,
                created_at: at,
                updated_at: at,
            },
        )
        .await?;
        let option_records: Vec<OptionRecord> =
            options.into_iter().map(|(name, values)| OptionRecord { id: OptionId::new(), name, values }).collect();
        repo::replace_options(&mut c, id, &option_records).await?;
        let variant_records: Vec<VariantRecord> = variants
            .into_iter()
            .map(|(position, v)| VariantRecord {
                id: VariantId::new(),
                product_id: id,
                sku: v.sku,
                title: v.title,
                options: v.options,
                barcode: v.barcode,
                weight_grams: v.weight_grams,
                position: i32::try_from(position).unwrap_or(i32::MAX),
                prices: v.prices,
                created_at: at,
                updated_at: at,
            })
            .collect();
        repo::insert_variants(&mut c, &variant_records).await?;
        repo::replace_images(&mut c, id, &image_records(images)).await?;
        repo::replace_tags(&mut c, id, &tags).await?;
        repo::replace_product_categories(&mut c, id, &dedup(&input.category_ids)).await?;
        repo::replace_product_collections(&mut c, id, &dedup(&input.collection_ids)).await?;
        let product = repo::find_product(&mut c, id).await?.ok_or_else(|| not_found("product"))?;
        product_event(&mut c, "product.created", &product).await?;
        tx.commit().await?;
        tracing::info!(product_id = %id, handle = %product.handle, "product created");
        Ok(product)
    }

    pub async fn update_product(&self, id: ProductId, patch: &ProductUpdate) -> Result<Product> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let current = repo::find_product(&mut c, id).await?.ok_or_else(|| not_found("product"))?;

        let mut errors = ValidationErrors::new();
        let title = match &patch.title {
            Some(t) => check_title(&mut errors, "title", t),
            None => Some(current.title.clone()),
        };
        let handle = match &patch.handle {
            Some(h) => errors.check("handle", keel_domain::catalog::Handle::parse(h)).map(|h| h.as_str().to_string()),
            None => Some(current.handle.clone()),
        };
        let subtitle = match &patch.subtitle {
            Some(s) if s.trim().is_empty() => None,
            Some(s) => errors.check("subtitle", Label::parse(s, 500)).map(Label::into_string),
            None => current.subtitle.clone(),
        };
        let description = match &patch.description {
            Some(d) => check_description(&mut errors, d),
            None => current.description.clone(),
        };
        let metadata = match &patch.metadata {
            Some(m) => check_metadata(&mut errors, Some(m)),
            None => current.metadata.clone(),
        };
        let tags = patch.tags.as_ref().map(|t| check_tags(&mut errors, t));
        let images = patch.images.as_ref().map(|i| check_images(&mut errors, i));
        check_memberships(
            &mut c,
            &mut errors,
            patch.category_ids.as_deref().unwrap_or_default(),
            patch.collection_ids.as_deref().unwrap_or_default(),
        )
        .await?;
        let (Some(title), Some(handle)) = (title, handle) else { return Err(errors.into()) };
        if !errors.is_empty() {
            return Err(errors.into());
        }

        let record = ProductRecord {
            id,
            handle,
            title,
            subtitle,
            description,
            status: patch.status.unwrap_or(current.status),
            metadata,
            created_at: current.created_at,
            updated_at: now(),
        };
        repo::update_product(&mut c, &record).await?;
        if let Some(tags) = tags {
            repo::replace_tags(&mut c, id, &tags).await?;
        }
        if let Some(images) = images {
            repo::replace_images(&mut c, id, &image_records(images)).await?;
        }
        if let Some(ids) = &patch.category_ids {
            repo::replace_product_categories(&mut c, id, &dedup(ids)).await?;
        }
        if let Some(ids) = &patch.collection_ids {
            repo::replace_product_collections(&mut c, id, &dedup(ids)).await?;
        }
        let product = repo::find_product(&mut c, id).await?.ok_or_else(|| not_found("product"))?;
        let kind = if product.status == ProductStatus::Archived && current.status != ProductStatus::Archived {
            "product.archived"
        } else {
            "product.updated"
        };
        product_event(&mut c, kind, &product).await?;
        tx.commit().await?;
        Ok(product)
    }

    /// Archives a product: it leaves the store API but keeps its data (orders will refer to it).
    pub async fn archive_product(&self, id: ProductId) -> Result<Product> {
        let patch = ProductUpdate { status: Some(ProductStatus::Archived), ..ProductUpdate::default() };
        self.update_product(id, &patch).await
    }

    pub async fn add_variant(&self, product_id: ProductId, input: &VariantInput) -> Result<Variant> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let product = repo::find_product(&mut c, product_id).await?.ok_or_else(|| not_found("product"))?;
        let options = product_options(&product);
        let mut errors = ValidationErrors::new();
        let checked = check_variant(&mut errors, "variant", input, &options);
        if let Some(v) = &checked
            && product.variants.iter().any(|existing| !v.options.is_empty() && existing.options == v.options)
        {
            errors.add("options", "another variant of this product has the same option values");
        }
        let Some(v) = checked.filter(|_| errors.is_empty()) else { return Err(errors.into()) };
        let at = now();
        let record = VariantRecord {
            id: VariantId::new(),
            product_id,
            sku: v.sku,
            title: v.title,
            options: v.options,
            barcode: v.barcode,
            weight_grams: v.weight_grams,
            position: repo::next_variant_position(&mut c, product_id).await?,
            prices: v.prices,
            created_at: at,
            updated_at: at,
        };
        repo::insert_variants(&mut c, std::slice::from_ref(&record)).await?;
        repo::touch_product(&mut c, product_id, at).await?;
        let variant = repo::find_variant(&mut c, record.id).await?.ok_or_else(|| not_found("variant"))?;
        product_changed(&mut c, product_id).await?;
        tx.commit().await?;
        Ok(variant)
    }

    pub async fn get_variant(&self, id: VariantId) -> Result<Variant> {
        let mut conn = self.db.read().await?;
        repo::find_variant(&mut conn.conn(), id).await?.ok_or_else(|| not_found("variant"))
    }

    pub async fn update_variant(&self, id: VariantId, patch: &VariantUpdate) -> Result<Variant> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let current = repo::find_variant(&mut c, id).await?.ok_or_else(|| not_found("variant"))?;
        let product = repo::find_product(&mut c, current.product_id).await?.ok_or_else(|| not_found("product"))?;
        let merged = VariantInput {
            sku: patch.sku.clone().unwrap_or_else(|| current.sku.clone()),
            title: patch.title.clone().or_else(|| Some(current.title.clone())),
            options: patch.options.clone().unwrap_or_else(|| current.options.clone()),
            prices: patch.prices.clone().unwrap_or_default(),
            barcode: patch.barcode.clone().or_else(|| current.barcode.clone()),
            weight_grams: patch.weight_grams.or(current.weight_grams),
        };
        let mut errors = ValidationErrors::new();
        let options = product_options(&product);
        let checked = check_variant(&mut errors, "variant", &merged, &options);
        if let Some(v) = &checked
            && product.variants.iter().any(|o| o.id != id && !v.options.is_empty() && o.options == v.options)
        {
            errors.add("options", "another variant of this product has the same option values");
        }
        let Some(v) = checked.filter(|_| errors.is_empty()) else { return Err(errors.into()) };
        let at = now();
        let record = VariantRecord {
            id,
            product_id: current.product_id,
            sku: v.sku,
            title: v.title,
            options: v.options,
            barcode: v.barcode,
            weight_grams: v.weight_grams,
            position: 0,
            prices: v.prices,
            created_at: current.created_at,
            updated_at: at,
        };
        repo::update_variant(&mut c, &record).await?;
        if patch.prices.is_some() {
            replace_prices(&mut c, id, &record.prices).await?;
        }
        repo::touch_product(&mut c, current.product_id, at).await?;
        let variant = repo::find_variant(&mut c, id).await?.ok_or_else(|| not_found("variant"))?;
        product_changed(&mut c, current.product_id).await?;
        tx.commit().await?;
        Ok(variant)
    }

    /// Replaces a variant's whole price set.
    pub async fn set_variant_prices(&self, id: VariantId, prices: &[PriceInput]) -> Result<Variant> {
        let mut errors = ValidationErrors::new();
        let prices = check_prices(&mut errors, "prices", prices);
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let current = repo::find_variant(&mut c, id).await?.ok_or_else(|| not_found("variant"))?;
        replace_prices(&mut c, id, &prices).await?;
        repo::touch_product(&mut c, current.product_id, now()).await?;
        let variant = repo::find_variant(&mut c, id).await?.ok_or_else(|| not_found("variant"))?;
        product_changed(&mut c, current.product_id).await?;
        tx.commit().await?;
        Ok(variant)
    }

    pub async fn delete_variant(&self, id: VariantId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let current = repo::find_variant(&mut c, id).await?.ok_or_else(|| not_found("variant"))?;
        repo::delete_variant(&mut c, id).await?;
        repo::touch_product(&mut c, current.product_id, now()).await?;
        product_changed(&mut c, current.product_id).await?;
        tx.commit().await?;
        Ok(())
    }

    // -- categories --------------------------------------------------------------------------

    pub async fn list_categories(&self) -> Result<Vec<Category>> {
        let mut conn = self.db.read().await?;
        Ok(repo::list_categories(&mut conn.conn()).await?)
    }

    pub async fn get_category(&self, id: CategoryId) -> Result<Category> {
        self.list_categories().await?.into_iter().find(|c| c.id == id).ok_or_else(|| not_found("category"))
    }

    pub async fn create_category(&self, input: &CategoryInput) -> Result<Category> {
        self.save_category(None, input).await
    }

    pub async fn update_category(&self, id: CategoryId, input: &CategoryInput) -> Result<Category> {
        self.save_category(Some(id), input).await
    }

    async fn save_category(&self, id: Option<CategoryId>, input: &CategoryInput) -> Result<Category> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let all = repo::list_categories(&mut c).await?;
        let current = match id {
            Some(id) => Some(all.iter().find(|c| c.id == id).cloned().ok_or_else(|| not_found("category"))?),
            None => None,
        };
        let mut errors = ValidationErrors::new();
        let (name, handle) = label_and_handle(
            &mut errors,
            ("name", input.name.as_deref()),
            input.handle.as_deref(),
            current.as_ref().map(|c| (c.name.as_str(), c.handle.as_str())),
        );
        let parent_id = input.parent_id.or(current.as_ref().and_then(|c| c.parent_id));
        if let Some(parent) = parent_id {
            if !all.iter().any(|c| c.id == parent) {
                errors.add("parent_id", "no such category");
            } else if let Some(me) = id
                && creates_cycle(&all, me, parent)
            {
                errors.add("parent_id", "would make the category its own ancestor");
            }
        }
        let (Some(name), Some(handle)) = (name, handle) else { return Err(errors.into()) };
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let at = now();
        let category = Category {
            id: id.unwrap_or_default(),
            handle,
            name,
            description: input
                .description
                .clone()
                .or_else(|| current.as_ref().map(|c| c.description.clone()))
                .unwrap_or_default(),
            parent_id,
            position: input.position.or(current.as_ref().map(|c| c.position)).unwrap_or(0),
            created_at: current.as_ref().map_or(at, |c| c.created_at),
            updated_at: at,
        };
        repo::upsert_category(&mut c, &category, current.is_none()).await?;
        let kind = if current.is_none() { "category.created" } else { "category.updated" };
        crate::events::record_entity(&mut c, kind, "category", &category.id.to_string(), &category).await?;
        tx.commit().await?;
        Ok(category)
    }

    /// Deletes a category that has no children (products simply leave it).
    pub async fn delete_category(&self, id: CategoryId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let all = repo::list_categories(&mut c).await?;
        if !all.iter().any(|cat| cat.id == id) {
            return Err(not_found("category"));
        }
        if all.iter().any(|cat| cat.parent_id == Some(id)) {
            return Err(ServiceError::Conflict {
                code: "category_has_children",
                field: "id",
                message: "move or delete the sub-categories first".into(),
            });
        }
        repo::delete_category(&mut c, id).await?;
        crate::events::record_deleted(&mut c, "category", &id.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }

    // -- collections -------------------------------------------------------------------------

    pub async fn list_collections(&self) -> Result<Vec<Collection>> {
        let mut conn = self.db.read().await?;
        Ok(repo::list_collections(&mut conn.conn()).await?)
    }

    pub async fn get_collection(&self, id: CollectionId) -> Result<Collection> {
        self.list_collections().await?.into_iter().find(|c| c.id == id).ok_or_else(|| not_found("collection"))
    }

    pub async fn create_collection(&self, input: &CollectionInput) -> Result<Collection> {
        self.save_collection(None, input).await
    }

    pub async fn update_collection(&self, id: CollectionId, input: &CollectionInput) -> Result<Collection> {
        self.save_collection(Some(id), input).await
    }

    async fn save_collection(&self, id: Option<CollectionId>, input: &CollectionInput) -> Result<Collection> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let current = match id {
            Some(id) => Some(
                repo::list_collections(&mut c)
                    .await?
                    .into_iter()
                    .find(|col| col.id == id)
                    .ok_or_else(|| not_found("collection"))?,
            ),
            None => None,
        };
        let mut errors = ValidationErrors::new();
        let (title, handle) = label_and_handle(
            &mut errors,
            ("title", input.title.as_deref()),
            input.handle.as_deref(),
            current.as_ref().map(|c| (c.title.as_str(), c.handle.as_str())),
        );
        let (Some(title), Some(handle)) = (title, handle) else { return Err(errors.into()) };
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let at = now();
        let collection = Collection {
            id: id.unwrap_or_default(),
            handle,
            title,
            description: input
                .description
                .clone()
                .or_else(|| current.as_ref().map(|c| c.description.clone()))
                .unwrap_or_default(),
            created_at: current.as_ref().map_or(at, |c| c.created_at),
            updated_at: at,
        };
        repo::upsert_collection(&mut c, &collection, current.is_none()).await?;
        let kind = if current.is_none() { "collection.created" } else { "collection.updated" };
        crate::events::record_entity(&mut c, kind, "collection", &collection.id.to_string(), &collection).await?;
        tx.commit().await?;
        Ok(collection)
    }

    pub async fn delete_collection(&self, id: CollectionId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !repo::delete_collection(&mut tx.conn(), id).await? {
            return Err(not_found("collection"));
        }
        crate::events::record_deleted(&mut tx.conn(), "collection", &id.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The label (name or title) and handle of a category or collection being created (`current` is
/// `None`) or changed: a given value is checked, an absent one kept, and a new one without a handle
/// gets one derived from its label.
fn label_and_handle(
    errors: &mut ValidationErrors,
    (label_field, label): (&str, Option<&str>),
    handle: Option<&str>,
    current: Option<(&str, &str)>,
) -> (Option<String>, Option<String>) {
    let label = match (label, current) {
        (Some(l), _) => errors.check(label_field, Label::parse(l, 200)).map(Label::into_string),
        (None, Some((cur, _))) => Some(cur.to_string()),
        (None, None) => {
            errors.add(label_field, "is required");
            None
        }
    };
    let handle = match (handle, current) {
        (Some(h), _) => errors.check("handle", keel_domain::catalog::Handle::parse(h)).map(|h| h.as_str().to_string()),
        (None, Some((_, cur))) => Some(cur.to_string()),
        (None, None) => label.as_deref().and_then(|l| handle_or_slug(errors, None, l)).map(|h| h.as_str().to_string()),
    };
    (label, handle)
}

/// Records a product event carrying the product as it now is.
async fn product_event(c: &mut Conn<'_>, event_type: &str, product: &Product) -> Result<()> {
    let data = serde_json::to_value(product).map_err(|e| ServiceError::Internal(e.to_string()))?;
    crate::events::record(c, event_type, "product", &product.id.to_string(), data).await?;
    Ok(())
}

/// After a variant or price change: `product.updated` with the product as it now is.
async fn product_changed(c: &mut Conn<'_>, id: ProductId) -> Result<()> {
    let product = repo::find_product(c, id).await?.ok_or_else(|| not_found("product"))?;
    product_event(c, "product.updated", &product).await
}

fn product_options(product: &Product) -> Vec<(String, Vec<String>)> {
    product.options.iter().map(|o| (o.name.clone(), o.values.clone())).collect()
}

fn image_records(images: Vec<(String, Option<String>)>) -> Vec<ImageRecord> {
    images.into_iter().map(|(url, alt)| ImageRecord { id: ImageId::new(), url, alt }).collect()
}

fn dedup<T: PartialEq + Copy>(ids: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(id) {
            out.push(*id);
        }
    }
    out
}

async fn replace_prices(c: &mut Conn<'_>, id: VariantId, prices: &[keel_domain::Money]) -> Result<()> {
    let keep: Vec<Currency> = prices.iter().map(|p| p.currency).collect();
    if keep.is_empty() {
        repo::delete_prices_except(c, id, &[]).await?;
    } else {
        repo::delete_prices_except(c, id, &keep).await?;
        let rows: Vec<_> = prices.iter().map(|p| (id, *p)).collect();
        repo::upsert_prices(c, &rows).await?;
    }
    Ok(())
}

/// Checks that category and collection ids exist (both tables are small).
async fn check_memberships(
    c: &mut Conn<'_>,
    errors: &mut ValidationErrors,
    category_ids: &[CategoryId],
    collection_ids: &[CollectionId],
) -> Result<()> {
    if !category_ids.is_empty() {
        let known = repo::list_categories(c).await?;
        for (i, id) in category_ids.iter().enumerate() {
            if !known.iter().any(|k| k.id == *id) {
                errors.add(format!("category_ids[{i}]"), "no such category");
            }
        }
    }
    if !collection_ids.is_empty() {
        let known = repo::list_collections(c).await?;
        for (i, id) in collection_ids.iter().enumerate() {
            if !known.iter().any(|k| k.id == *id) {
                errors.add(format!("collection_ids[{i}]"), "no such collection");
            }
        }
    }
    Ok(())
}

/// The category with this handle and all its descendants; empty when the handle is unknown.
async fn category_and_descendants(c: &mut Conn<'_>, handle: &str) -> Result<Vec<CategoryId>> {
    let all = repo::list_categories(c).await?;
    let Some(root) = all.iter().find(|cat| cat.handle == handle) else { return Ok(vec![]) };
    let mut ids = vec![root.id];
    let mut i = 0;
    while i < ids.len() {
        let parent = ids[i];
        ids.extend(all.iter().filter(|cat| cat.parent_id == Some(parent)).map(|cat| cat.id));
        i += 1;
    }
    Ok(ids)
}

/// Whether making `parent` the parent of `category` would close a loop in the tree.
fn creates_cycle(all: &[Category], category: CategoryId, parent: CategoryId) -> bool {
    let mut cursor = Some(parent);
    let mut steps = 0;
    while let Some(current) = cursor {
        if current == category || steps > all.len() {
            return true;
        }
        cursor = all.iter().find(|c| c.id == current).and_then(|c| c.parent_id);
        steps += 1;
    }
    false
}
