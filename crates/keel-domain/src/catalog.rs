//! The catalog's value types: handles, SKUs, titles, product status and option values.
//!
//! Each type parses from raw input once and is trusted afterwards; the error messages are the
//! ones a client sees in a 422 answer, so they say what was expected.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A URL-safe, unique name such as `linen-shirt`: lower-case letters, digits and single hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Handle(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandleError {
    #[error("must be 1 to 200 characters")]
    Length,
    #[error("must be lower-case letters, digits and single hyphens, like \"linen-shirt\"")]
    Charset,
}

impl Handle {
    pub fn parse(raw: &str) -> Result<Self, HandleError> {
        if raw.is_empty() || raw.len() > 200 {
            return Err(HandleError::Length);
        }
        let valid_chars = raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_chars || raw.starts_with('-') || raw.ends_with('-') || raw.contains("--") {
            return Err(HandleError::Charset);
        }
        Ok(Self(raw.to_string()))
    }

    /// Derives a handle from a title: `"Linen Shirt (Blue)"` → `linen-shirt-blue`.
    pub fn slugify(title: &str) -> Result<Self, HandleError> {
        let mut slug = String::with_capacity(title.len());
        for ch in title.chars().flat_map(char::to_lowercase) {
            if ch.is_ascii_alphanumeric() {
                slug.push(ch);
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let slug = slug.trim_end_matches('-');
        Self::parse(&slug.chars().take(200).collect::<String>())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stock keeping unit: 1–100 visible ASCII characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Sku(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be 1 to 100 visible ASCII characters without spaces")]
pub struct SkuError;

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, SkuError> {
        let ok = !raw.is_empty() && raw.len() <= 100 && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok { Ok(Self(raw.to_string())) } else { Err(SkuError) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Human-readable text with bounds: titles, names, option values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Label(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be 1 to {max} characters and not blank")]
pub struct LabelError {
    pub max: usize,
}

impl Label {
    /// Trims surrounding whitespace and checks `1..=max` characters remain.
    pub fn parse(raw: &str, max: usize) -> Result<Self, LabelError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.chars().count() > max {
            return Err(LabelError { max });
        }
        Ok(Self(trimmed.to_string()))
    }

    pub fn title(raw: &str) -> Result<Self, LabelError> {
        Self::parse(raw, 500)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Where a product is in its life: only `published` products are visible in the store API.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema, async_graphql::Enum,
)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    #[default]
    Draft,
    Published,
    Archived,
}

impl ProductStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProductStatus::Draft => "draft",
            ProductStatus::Published => "published",
            ProductStatus::Archived => "archived",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "draft" => Some(ProductStatus::Draft),
            "published" => Some(ProductStatus::Published),
            "archived" => Some(ProductStatus::Archived),
            _ => None,
        }
    }
}

/// A variant's choice per option, by option name: `{"Size": "M", "Color": "Blue"}`.
pub type OptionValues = BTreeMap<String, String>;

/// Checks that a variant's option values name exactly the product's options, each with one of
/// that option's values. Returns the offending option name in the error.
pub fn check_variant_options(product_options: &[(String, Vec<String>)], values: &OptionValues) -> Result<(), String> {
    for (name, allowed) in product_options {
        match values.get(name) {
            None => return Err(format!("missing a value for option \"{name}\"")),
            Some(v) if !allowed.contains(v) => {
                return Err(format!("\"{v}\" is not a value of option \"{name}\" (expected one of {allowed:?})"));
            }
            Some(_) => {}
        }
    }
    if let Some(unknown) = values.keys().find(|k| !product_options.iter().any(|(n, _)| n == *k)) {
        return Err(format!("the product has no option \"{unknown}\""));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_lowercase_slugs() {
        assert!(Handle::parse("linen-shirt-2").is_ok());
        assert_eq!(Handle::parse(""), Err(HandleError::Length));
        assert_eq!(Handle::parse("Linen"), Err(HandleError::Charset));
        assert_eq!(Handle::parse("a--b"), Err(HandleError::Charset));
        assert_eq!(Handle::parse("-a"), Err(HandleError::Charset));
    }

    #[test]
    fn slugify_makes_a_valid_handle() {
        assert_eq!(Handle::slugify("Linen Shirt (Blue)").unwrap().as_str(), "linen-shirt-blue");
        assert!(Handle::slugify("!!!").is_err());
    }

    #[test]
    fn skus_refuse_spaces() {
        assert!(Sku::parse("TS-BLK-M").is_ok());
        assert!(Sku::parse("TS BLK").is_err());
        assert!(Sku::parse("").is_err());
    }

    #[test]
    fn variant_options_must_match_the_products() {
        let options = vec![("Size".to_string(), vec!["S".to_string(), "M".to_string()])];
        let ok: OptionValues = [("Size".to_string(), "M".to_string())].into();
        assert!(check_variant_options(&options, &ok).is_ok());
        let wrong: OptionValues = [("Size".to_string(), "XL".to_string())].into();
        assert!(check_variant_options(&options, &wrong).unwrap_err().contains("XL"));
        let extra: OptionValues =
            [("Size".to_string(), "M".to_string()), ("Fit".to_string(), "Slim".to_string())].into();
        assert!(check_variant_options(&options, &extra).unwrap_err().contains("Fit"));
        assert!(check_variant_options(&options, &OptionValues::new()).is_err());
    }
}

/// The catalog as read: a product with everything a product page needs.
pub mod view {
    use super::{OptionValues, ProductStatus};
    use crate::{CategoryId, CollectionId, ImageId, Money, OptionId, ProductId, VariantId};
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
    pub struct Product {
        pub id: ProductId,
        pub handle: String,
        pub title: String,
        pub subtitle: Option<String>,
        pub description: String,
        pub status: ProductStatus,
        /// URL of the first image, if any.
        pub thumbnail: Option<String>,
        pub options: Vec<ProductOption>,
        pub variants: Vec<Variant>,
        pub images: Vec<Image>,
        pub categories: Vec<CategoryRef>,
        pub collections: Vec<CollectionRef>,
        pub tags: Vec<String>,
        /// Free-form JSON object for integrations.
        #[schema(value_type = Object)]
        pub metadata: serde_json::Value,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, async_graphql::SimpleObject)]
    pub struct ProductOption {
        pub id: OptionId,
        pub name: String,
        pub values: Vec<String>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
    pub struct Variant {
        pub id: VariantId,
        pub product_id: ProductId,
        pub sku: String,
        pub title: String,
        /// The variant's value for each product option, by option name.
        #[schema(value_type = std::collections::BTreeMap<String, String>)]
        pub options: OptionValues,
        /// One price per currency.
        pub prices: Vec<Money>,
        pub barcode: Option<String>,
        pub weight_grams: Option<i32>,
        /// Store only: whether it can be bought now (tracked stock available, backorder allowed,
        /// or stock not tracked). Quantities are in the admin inventory API.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub in_stock: Option<bool>,
        /// Store only, with a region: what one unit costs a shopper there now — the base price
        /// or a running price list's lower price for everyone (group prices show in carts).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub calculated_price: Option<CalculatedPrice>,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }

    /// A variant's price for a shopper in a region.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, async_graphql::SimpleObject)]
    pub struct CalculatedPrice {
        pub amount: Money,
        /// The base price (higher than `amount` when a price list applies).
        pub original: Money,
        pub price_list_id: Option<crate::PriceListId>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, async_graphql::SimpleObject)]
    pub struct Image {
        pub id: ImageId,
        pub url: String,
        pub alt: Option<String>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, async_graphql::SimpleObject)]
    pub struct CategoryRef {
        pub id: CategoryId,
        pub handle: String,
        pub name: String,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, async_graphql::SimpleObject)]
    pub struct CollectionRef {
        pub id: CollectionId,
        pub handle: String,
        pub title: String,
    }

    /// A node of the category tree.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, async_graphql::SimpleObject)]
    pub struct Category {
        pub id: CategoryId,
        pub handle: String,
        pub name: String,
        pub description: String,
        pub parent_id: Option<CategoryId>,
        pub position: i32,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, async_graphql::SimpleObject)]
    pub struct Collection {
        pub id: CollectionId,
        pub handle: String,
        pub title: String,
        pub description: String,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
}
