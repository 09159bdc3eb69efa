//! What clients send to change the catalog, and how it is checked.
//!
//! The structs here are the admin API's request bodies. `validate_*` turns them into store
//! records, collecting every field error with its path (`variants[1].sku`) so a client can fix
//! all of them at once.

use keel_domain::catalog::{Handle, Label, OptionValues, ProductStatus, Sku, check_variant_options};
use keel_domain::{CategoryId, CollectionId, Currency, Money, ValidationErrors};
use serde::Deserialize;
use std::collections::HashSet;
use utoipa::ToSchema;

/// A new product with its options, variants and prices.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
#[graphql(name = "ProductCreateInput")]
pub struct ProductCreate {
    #[schema(example = "Linen Shirt")]
    pub title: String,
    /// URL name; derived from the title when absent.
    #[schema(example = "linen-shirt")]
    pub handle: Option<String>,
    pub subtitle: Option<String>,
    #[serde(default)]
    #[graphql(default)]
    pub description: String,
    #[serde(default)]
    #[graphql(default)]
    pub status: ProductStatus,
    #[serde(default)]
    #[graphql(default)]
    pub options: Vec<OptionInput>,
    #[serde(default)]
    #[graphql(default)]
    pub variants: Vec<VariantInput>,
    #[serde(default)]
    #[graphql(default)]
    pub images: Vec<ImageInput>,
    #[serde(default)]
    #[graphql(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[graphql(default)]
    pub category_ids: Vec<CategoryId>,
    #[serde(default)]
    #[graphql(default)]
    pub collection_ids: Vec<CollectionId>,
    /// Free-form JSON object.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// Changes to a product; absent fields stay as they are. Lists given replace the stored ones.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
#[graphql(name = "ProductUpdateInput")]
pub struct ProductUpdate {
    pub title: Option<String>,
    pub handle: Option<String>,
    pub subtitle: Option<String>,
    pub description: Option<String>,
    pub status: Option<ProductStatus>,
    pub images: Option<Vec<ImageInput>>,
    pub tags: Option<Vec<String>>,
    pub category_ids: Option<Vec<CategoryId>>,
    pub collection_ids: Option<Vec<CollectionId>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
pub struct OptionInput {
    #[schema(example = "Size")]
    pub name: String,
    #[schema(example = json!(["S", "M", "L"]))]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
pub struct VariantInput {
    #[schema(example = "LINEN-M-BLUE")]
    pub sku: String,
    /// Defaults to the option values joined, e.g. "M / Blue".
    pub title: Option<String>,
    /// The variant's value for each product option.
    #[serde(default)]
    #[graphql(default)]
    #[schema(value_type = std::collections::BTreeMap<String, String>, example = json!({"Size": "M"}))]
    pub options: OptionValues,
    #[serde(default)]
    #[graphql(default)]
    pub prices: Vec<PriceInput>,
    pub barcode: Option<String>,
    pub weight_grams: Option<i32>,
}

/// Changes to a variant; `prices`, when given, replaces the whole price set.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
#[graphql(name = "VariantUpdateInput")]
pub struct VariantUpdate {
    pub sku: Option<String>,
    pub title: Option<String>,
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    pub options: Option<OptionValues>,
    pub prices: Option<Vec<PriceInput>>,
    pub barcode: Option<String>,
    pub weight_grams: Option<i32>,
}

/// A price in a currency's minor unit: `{"amount": 1999, "currency": "EUR"}` is €19.99.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
pub struct PriceInput {
    pub amount: i64,
    #[schema(example = "EUR")]
    pub currency: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
pub struct ImageInput {
    #[schema(example = "https://cdn.example.com/linen-shirt.jpg")]
    pub url: String,
    pub alt: Option<String>,
}

/// A new category, or the changes to one (`name` is required on create).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryInput {
    pub name: Option<String>,
    pub handle: Option<String>,
    pub description: Option<String>,
    /// The parent category; absent for a top-level category.
    pub parent_id: Option<CategoryId>,
    pub position: Option<i32>,
}

/// A new collection, or the changes to one (`title` is required on create).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionInput {
    pub title: Option<String>,
    pub handle: Option<String>,
    pub description: Option<String>,
}

pub(crate) fn handle_or_slug(errors: &mut ValidationErrors, handle: Option<&str>, title: &str) -> Option<Handle> {
    match handle {
        Some(h) => errors.check("handle", Handle::parse(h)),
        None => {
            errors.check("handle", Handle::slugify(title).map_err(|_| "cannot be derived from the title; give one"))
        }
    }
}

pub(crate) fn check_title(errors: &mut ValidationErrors, field: &str, raw: &str) -> Option<String> {
    errors.check(field, Label::title(raw)).map(Label::into_string)
}

pub(crate) fn check_description(errors: &mut ValidationErrors, raw: &str) -> String {
    if raw.chars().count() > 20_000 {
        errors.add("description", "must be at most 20000 characters");
    }
    raw.trim().to_string()
}

pub(crate) fn check_metadata(errors: &mut ValidationErrors, value: Option<&serde_json::Value>) -> serde_json::Value {
    match value {
        None => serde_json::json!({}),
        Some(v @ serde_json::Value::Object(_)) => {
            if v.to_string().len() > 16_384 {
                errors.add("metadata", "must serialise to at most 16 KiB");
            }
            v.clone()
        }
        Some(_) => {
            errors.add("metadata", "must be a JSON object");
            serde_json::json!({})
        }
    }
}

pub(crate) fn check_tags(errors: &mut ValidationErrors, tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        if let Some(label) = errors.check(format!("tags[{i}]"), Label::parse(tag, 64)) {
            let t = label.into_string().to_lowercase();
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    if out.len() > 50 {
        errors.add("tags", "at most 50 tags");
    }
    out
}

pub(crate) fn check_images(errors: &mut ValidationErrors, images: &[ImageInput]) -> Vec<(String, Option<String>)> {
    if images.len() > 50 {
        errors.add("images", "at most 50 images");
    }
    images
        .iter()
        .enumerate()
        .filter_map(|(i, img)| {
            let url = img.url.trim();
            let ok = (url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/'))
                && url.len() <= 2048
                && !url.chars().any(char::is_whitespace);
            if !ok {
                errors.add(
                    format!("images[{i}].url"),
                    "must be an http(s) URL or an absolute path, at most 2048 characters",
                );
                return None;
            }
            Some((url.to_string(), img.alt.clone()))
        })
        .collect()
}

pub(crate) fn check_options(errors: &mut ValidationErrors, options: &[OptionInput]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (i, option) in options.iter().enumerate() {
        let Some(name) = errors.check(format!("options[{i}].name"), Label::parse(&option.name, 100)) else {
            continue;
        };
        let name = name.into_string();
        if out.iter().any(|(n, _)| *n == name) {
            errors.add(format!("options[{i}].name"), format!("duplicate option \"{name}\""));
            continue;
        }
        let mut values: Vec<String> = Vec::new();
        for (j, v) in option.values.iter().enumerate() {
            if let Some(v) = errors.check(format!("options[{i}].values[{j}]"), Label::parse(v, 100)) {
                let v = v.into_string();
                if values.contains(&v) {
                    errors.add(format!("options[{i}].values[{j}]"), format!("duplicate value \"{v}\""));
                } else {
                    values.push(v);
                }
            }
        }
        if values.is_empty() {
            errors.add(format!("options[{i}].values"), "must list at least one value");
        }
        out.push((name, values));
    }
    out
}

/// Checks prices: known currency, non-negative, at most one per currency.
pub(crate) fn check_prices(errors: &mut ValidationErrors, path: &str, prices: &[PriceInput]) -> Vec<Money> {
    let mut out: Vec<Money> = Vec::new();
    for (i, price) in prices.iter().enumerate() {
        let Some(currency) = errors.check(format!("{path}[{i}].currency"), Currency::parse(&price.currency)) else {
            continue;
        };
        if price.amount < 0 {
            errors.add(format!("{path}[{i}].amount"), "must be zero or more (minor units)");
            continue;
        }
        if out.iter().any(|m| m.currency == currency) {
            errors.add(format!("{path}[{i}].currency"), format!("more than one price in {currency}"));
            continue;
        }
        out.push(Money::new(price.amount, currency));
    }
    out
}

/// A variant's checked fields (before ids and timestamps are given).
pub(crate) struct CheckedVariant {
    pub sku: String,
    pub title: String,
    pub options: OptionValues,
    pub prices: Vec<Money>,
    pub barcode: Option<String>,
    pub weight_grams: Option<i32>,
}

pub(crate) fn check_variant(
    errors: &mut ValidationErrors,
    path: &str,
    input: &VariantInput,
    product_options: &[(String, Vec<String>)],
) -> Option<CheckedVariant> {
    let sku = errors.check(format!("{path}.sku"), Sku::parse(&input.sku));
    if let Err(message) = check_variant_options(product_options, &input.options) {
        errors.add(format!("{path}.options"), message);
    }
    let prices = check_prices(errors, &format!("{path}.prices"), &input.prices);
    let title = match &input.title {
        Some(t) => check_title(errors, &format!("{path}.title"), t),
        None => Some(default_variant_title(product_options, &input.options)),
    };
    check_weight(errors, &format!("{path}.weight_grams"), input.weight_grams);
    let barcode = check_barcode(errors, &format!("{path}.barcode"), input.barcode.as_deref());
    Some(CheckedVariant {
        sku: sku?.as_str().to_string(),
        title: title?,
        options: input.options.clone(),
        prices,
        barcode,
        weight_grams: input.weight_grams,
    })
}

pub(crate) fn check_weight(errors: &mut ValidationErrors, field: &str, weight: Option<i32>) {
    if weight.is_some_and(|w| w < 0) {
        errors.add(field, "must be zero or more grams");
    }
}

pub(crate) fn check_barcode(errors: &mut ValidationErrors, field: &str, barcode: Option<&str>) -> Option<String> {
    let barcode = barcode.map(str::trim).filter(|b| !b.is_empty())?;
    if barcode.len() > 64 || !barcode.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        errors.add(field, "must be at most 64 letters, digits or hyphens");
        return None;
    }
    Some(barcode.to_string())
}

/// "M / Blue" from the option values in the product's option order; "Default" without options.
pub(crate) fn default_variant_title(product_options: &[(String, Vec<String>)], values: &OptionValues) -> String {
    let parts: Vec<&str> =
        product_options.iter().filter_map(|(name, _)| values.get(name).map(String::as_str)).collect();
    if parts.is_empty() { "Default".to_string() } else { parts.join(" / ") }
}

/// Checks that no two variants of a request share a SKU or the same option combination.
/// `variants` pairs each checked variant with its index in the request, for the error paths.
pub(crate) fn check_variant_uniqueness(errors: &mut ValidationErrors, variants: &[(usize, CheckedVariant)]) {
    let mut skus = HashSet::new();
    let mut combos = HashSet::new();
    for (i, v) in variants {
        if !skus.insert(v.sku.as_str()) {
            errors.add(format!("variants[{i}].sku"), format!("SKU \"{}\" appears twice in the request", v.sku));
        }
        if !v.options.is_empty() && !combos.insert(&v.options) {
            errors.add(format!("variants[{i}].options"), "another variant has the same option values");
        }
    }
}
