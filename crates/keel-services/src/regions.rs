//! Regions (markets): a currency, the countries sold to, whether prices include tax, and the
//! stock locations that serve it. A country belongs to at most one region.

use crate::{Result, ServiceError, now};
use chrono::{DateTime, Utc};
use keel_domain::catalog::Label;
use keel_domain::{Currency, RegionId, StockLocationId, ValidationErrors};
use keel_store::{Db, regions as repo};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct Region {
    pub id: RegionId,
    #[schema(example = "Europe")]
    pub name: String,
    #[schema(example = "EUR")]
    pub currency: String,
    /// Whether prices in this region include tax (gross) or exclude it (net).
    pub tax_inclusive: bool,
    /// The default tax rate in basis points (2000 = 20 %).
    #[schema(example = 2000)]
    pub tax_rate: u32,
    /// ISO 3166-1 alpha-2 codes.
    #[schema(example = json!(["DE", "FR"]))]
    pub countries: Vec<String>,
    /// The stock locations that serve this region.
    pub location_ids: Vec<StockLocationId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionInput {
    pub name: String,
    pub currency: String,
    #[serde(default)]
    pub tax_inclusive: bool,
    /// Basis points, 0 to 10 000 (default 0).
    #[serde(default)]
    pub tax_rate: u32,
    pub countries: Vec<String>,
    #[serde(default)]
    pub location_ids: Vec<StockLocationId>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionPatch {
    pub name: Option<String>,
    pub currency: Option<String>,
    pub tax_inclusive: Option<bool>,
    pub tax_rate: Option<u32>,
    pub countries: Option<Vec<String>>,
    pub location_ids: Option<Vec<StockLocationId>>,
}

/// A shipping option as staff manage it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct ShippingOption {
    pub id: keel_domain::ShippingOptionId,
    pub region_id: RegionId,
    pub name: String,
    /// The flat rate (used when there are no weight tiers), in the region's currency.
    pub amount: i64,
    /// Free when the discounted items subtotal reaches this.
    pub free_over: Option<i64>,
    /// Rates by weight: the first tier holding the cart's weight applies.
    pub tiers: Vec<keel_domain::pricing::WeightTier>,
    /// The fulfillment provider that prices it.
    pub provider: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingOptionInput {
    #[schema(example = "Standard")]
    pub name: String,
    #[serde(default)]
    pub amount: i64,
    pub free_over: Option<i64>,
    #[serde(default)]
    pub tiers: Vec<keel_domain::pricing::WeightTier>,
    /// The fulfillment provider that prices it (default `manual`: the amounts above).
    pub provider: Option<String>,
    /// The provider's own settings.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

fn option_of(o: keel_store::shipping::OptionRow) -> Result<ShippingOption> {
    let bad = |raw: &str| ServiceError::Internal(format!("stored id {raw:?}"));
    Ok(ShippingOption {
        id: keel_domain::ShippingOptionId::parse(&o.id).map_err(|_| bad(&o.id))?,
        region_id: RegionId::parse(&o.region_id).map_err(|_| bad(&o.region_id))?,
        name: o.name,
        amount: o.amount,
        free_over: o.free_over,
        tiers: serde_json::from_value(o.tiers.0).unwrap_or_default(),
        provider: o.provider,
        data: o.data.0,
    })
}

/// A tax rate rule of a region.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaxRateRule {
    pub id: keel_domain::TaxRateId,
    pub region_id: RegionId,
    #[schema(example = "DE")]
    pub country_code: String,
    pub province: Option<String>,
    /// Applies only to products of this tax class (e.g. `books`).
    pub tax_class: Option<String>,
    /// Basis points.
    pub rate: u32,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRateInput {
    pub country_code: String,
    pub province: Option<String>,
    pub tax_class: Option<String>,
    /// Basis points, 0 to 10 000.
    pub rate: u32,
    #[serde(default)]
    pub name: String,
}

fn tax_rule_of(r: keel_store::tax::RateRow) -> Result<TaxRateRule> {
    let bad = |raw: &str| ServiceError::Internal(format!("stored id {raw:?}"));
    Ok(TaxRateRule {
        id: keel_domain::TaxRateId::parse(&r.id).map_err(|_| bad(&r.id))?,
        region_id: RegionId::parse(&r.region_id).map_err(|_| bad(&r.region_id))?,
        country_code: r.country_code,
        province: r.province,
        tax_class: r.tax_class,
        rate: u32::try_from(r.rate).unwrap_or(0),
        name: r.name,
    })
}

/// A tax class name: lower-case letters, digits, `_` and `-`, 1 to 50.
fn check_class(errors: &mut ValidationErrors, field: &str, raw: Option<&str>) -> Option<String> {
    let raw = raw?.trim().to_ascii_lowercase();
    let ok = (1..=50).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        errors.add(field, "must be 1 to 50 lower-case letters, digits, `_` or `-`");
    }
    Some(raw)
}

fn region_of(r: repo::RegionRecord) -> Result<Region> {
    let bad = |raw: &str| ServiceError::Internal(format!("stored id {raw:?}"));
    Ok(Region {
        id: RegionId::parse(&r.row.id).map_err(|_| bad(&r.row.id))?,
        name: r.row.name,
        currency: r.row.currency,
        tax_inclusive: r.row.tax_inclusive,
        tax_rate: u32::try_from(r.row.tax_rate).unwrap_or(0),
        countries: r.countries,
        location_ids: r
            .location_ids
            .iter()
            .map(|l| StockLocationId::parse(l).map_err(|_| bad(l)))
            .collect::<Result<_>>()?,
        created_at: r.row.created_at,
        updated_at: r.row.updated_at,
    })
}

fn check_countries(errors: &mut ValidationErrors, countries: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in countries {
        let code = c.trim().to_ascii_uppercase();
        if code.len() != 2 || !code.chars().all(|ch| ch.is_ascii_uppercase()) {
            errors.add("countries", format!("{c:?} is not an ISO 3166-1 alpha-2 code"));
        } else if !out.contains(&code) {
            out.push(code);
        }
    }
    if out.is_empty() && errors.is_empty() {
        errors.add("countries", "a region needs at least one country");
    }
    out
}

fn conflict(err: keel_store::StoreError) -> ServiceError {
    match err {
        keel_store::StoreError::Conflict { key: "region.country" } => ServiceError::Conflict {
            code: "country_taken",
            field: "countries",
            message: "a country can belong to one region only".into(),
        },
        keel_store::StoreError::ForeignKey => ServiceError::invalid("location_ids", "no such stock location"),
        other => other.into(),
    }
}

#[derive(Clone)]
pub struct RegionService {
    db: Db,
    providers: crate::providers::Providers,
}

impl RegionService {
    pub fn new(db: Db, providers: crate::providers::Providers) -> Self {
        RegionService { db, providers }
    }

    pub async fn list(&self) -> Result<Vec<Region>> {
        let mut conn = self.db.read().await?;
        repo::list(&mut conn.conn(), None).await?.into_iter().map(region_of).collect()
    }

    /// The region a shopper's request names (`?region_id=`): an unknown one is a validation
    /// error on `region_id`, not a 404 of the thing being read.
    pub async fn named(&self, id: RegionId) -> Result<Region> {
        match self.get(id).await {
            Err(ServiceError::NotFound { .. }) => Err(ServiceError::invalid("region_id", "no such region")),
            other => other,
        }
    }

    pub async fn get(&self, id: RegionId) -> Result<Region> {
        let mut conn = self.db.read().await?;
        let found = repo::list(&mut conn.conn(), Some(&id.to_string())).await?.into_iter().next();
        region_of(found.ok_or(ServiceError::NotFound { entity: "region" })?)
    }

    pub async fn create(&self, input: RegionInput) -> Result<Region> {
        let mut errors = ValidationErrors::new();
        let name = errors.check("name", Label::parse(&input.name, 100)).map(Label::into_string);
        let currency = errors.check("currency", Currency::parse(&input.currency).map_err(|e| e.to_string()));
        let countries = check_countries(&mut errors, &input.countries);
        if input.tax_rate > 10_000 {
            errors.add("tax_rate", "must be 0 to 10000 basis points");
        }
        let (name, currency) = match errors.finish(|| (name, currency))? {
            (Some(n), Some(c)) => (n, c),
            _ => return Err(ServiceError::invalid("name", "is required")),
        };
        let at = now();
        let record = repo::RegionRecord {
            row: repo::RegionRow {
                id: RegionId::new().to_string(),
                name,
                currency: currency.code().to_string(),
                tax_inclusive: input.tax_inclusive,
                tax_rate: input.tax_rate.min(10_000) as i32,
                created_at: at,
                updated_at: at,
            },
            countries,
            location_ids: input.location_ids.iter().map(ToString::to_string).collect(),
        };
        let mut tx = self.db.begin().await?;
        repo::insert(&mut tx.conn(), &record).await.map_err(conflict)?;
        let id = record.row.id.clone();
        let region = region_of(record)?;
        crate::events::record_entity(&mut tx.conn(), "region.created", "region", &id, &region).await?;
        tx.commit().await?;
        Ok(region)
    }

    pub async fn update(&self, id: RegionId, patch: RegionPatch) -> Result<Region> {
        let mut tx = self.db.begin().await?;
        let found = repo::list(&mut tx.conn(), Some(&id.to_string())).await?.into_iter().next();
        let mut record = found.ok_or(ServiceError::NotFound { entity: "region" })?;
        let mut errors = ValidationErrors::new();
        if let Some(name) = &patch.name
            && let Some(name) = errors.check("name", Label::parse(name, 100))
        {
            record.row.name = name.into_string();
        }
        if let Some(currency) = &patch.currency
            && let Some(currency) = errors.check("currency", Currency::parse(currency).map_err(|e| e.to_string()))
        {
            record.row.currency = currency.code().to_string();
        }
        if let Some(countries) = &patch.countries {
            record.countries = check_countries(&mut errors, countries);
        }
        match patch.tax_rate {
            Some(rate) if rate > 10_000 => errors.add("tax_rate", "must be 0 to 10000 basis points"),
            Some(rate) => record.row.tax_rate = rate as i32,
            None => {}
        }
        errors.finish(|| ())?;
        if let Some(inclusive) = patch.tax_inclusive {
            record.row.tax_inclusive = inclusive;
        }
        if let Some(locations) = &patch.location_ids {
            record.location_ids = locations.iter().map(ToString::to_string).collect();
        }
        record.row.updated_at = now();
        repo::update(&mut tx.conn(), &record.row).await?;
        repo::set_members(&mut tx.conn(), &record.row.id, &record.countries, &record.location_ids)
            .await
            .map_err(conflict)?;
        let region = region_of(record)?;
        crate::events::record_entity(&mut tx.conn(), "region.updated", "region", &id.to_string(), &region).await?;
        tx.commit().await?;
        Ok(region)
    }

    pub async fn shipping_options(&self, region: RegionId) -> Result<Vec<ShippingOption>> {
        self.get(region).await?;
        let mut conn = self.db.read().await?;
        keel_store::shipping::list(&mut conn.conn(), Some(&region.to_string()))
            .await?
            .into_iter()
            .map(option_of)
            .collect()
    }

    pub async fn add_shipping_option(&self, region: RegionId, input: ShippingOptionInput) -> Result<ShippingOption> {
        self.get(region).await?;
        let mut errors = ValidationErrors::new();
        let name = errors.check("name", Label::parse(&input.name, 100)).map(Label::into_string);
        if input.amount < 0 || input.free_over.is_some_and(|f| f < 0) {
            errors.add("amount", "amounts must be 0 or more");
        }
        if input.tiers.iter().any(|t| t.max_grams <= 0 || t.amount < 0) {
            errors.add("tiers", "each tier needs max_grams above 0 and an amount of 0 or more");
        }
        let provider = input.provider.clone().unwrap_or_else(|| "manual".into());
        if self.providers.fulfillment(&provider).is_none() {
            errors.add("provider", "no fulfillment provider has this name");
        }
        let data = input.data.clone().unwrap_or_else(|| serde_json::json!({}));
        if !data.is_object() || data.to_string().len() > 4096 {
            errors.add("data", "must be an object of at most 4 KiB");
        }
        let name = errors.finish(|| name)?.unwrap_or_default();
        let at = now();
        let row = keel_store::shipping::OptionRow {
            id: keel_domain::ShippingOptionId::new().to_string(),
            region_id: region.to_string(),
            name,
            amount: input.amount,
            free_over: input.free_over,
            tiers: keel_store::JsonColumn(serde_json::json!(input.tiers)),
            provider,
            data: keel_store::JsonColumn(data),
            created_at: at,
            updated_at: at,
        };
        let mut tx = self.db.begin().await?;
        keel_store::shipping::insert(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        option_of(row)
    }

    pub async fn delete_shipping_option(&self, id: keel_domain::ShippingOptionId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !keel_store::shipping::delete(&mut tx.conn(), &id.to_string()).await? {
            return Err(ServiceError::NotFound { entity: "shipping option" });
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn tax_rates(&self, region: RegionId) -> Result<Vec<TaxRateRule>> {
        self.get(region).await?;
        let mut conn = self.db.read().await?;
        keel_store::tax::of_region(&mut conn.conn(), &region.to_string()).await?.into_iter().map(tax_rule_of).collect()
    }

    pub async fn add_tax_rate(&self, region: RegionId, input: TaxRateInput) -> Result<TaxRateRule> {
        self.get(region).await?;
        let mut errors = ValidationErrors::new();
        let country = input.country_code.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
            errors.add("country_code", "must be an ISO 3166-1 alpha-2 code");
        }
        let province = input.province.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(str::to_ascii_uppercase);
        if province.as_ref().is_some_and(|p| p.len() > 10) {
            errors.add("province", "must be at most 10 characters (an ISO 3166-2 subdivision code)");
        }
        let class = check_class(&mut errors, "tax_class", input.tax_class.as_deref());
        if input.rate > 10_000 {
            errors.add("rate", "must be 0 to 10000 basis points");
        }
        errors.finish(|| ())?;
        let row = keel_store::tax::RateRow {
            id: keel_domain::TaxRateId::new().to_string(),
            region_id: region.to_string(),
            country_code: country,
            province,
            tax_class: class,
            rate: input.rate as i32,
            name: input.name.trim().chars().take(100).collect(),
            created_at: now(),
        };
        let mut tx = self.db.begin().await?;
        keel_store::tax::insert(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        tax_rule_of(row)
    }

    pub async fn delete_tax_rate(&self, id: keel_domain::TaxRateId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !keel_store::tax::delete(&mut tx.conn(), &id.to_string()).await? {
            return Err(ServiceError::NotFound { entity: "tax rate" });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets or clears (`None`) a product's tax class.
    pub async fn set_product_tax_class(
        &self,
        product: keel_domain::ProductId,
        class: Option<&str>,
    ) -> Result<Option<String>> {
        let mut errors = ValidationErrors::new();
        let class = check_class(&mut errors, "tax_class", class);
        errors.finish(|| ())?;
        let mut tx = self.db.begin().await?;
        keel_store::catalog::find_product(&mut tx.conn(), product)
            .await?
            .ok_or(ServiceError::NotFound { entity: "product" })?;
        keel_store::tax::set_product_class(&mut tx.conn(), &product.to_string(), class.as_deref()).await?;
        tx.commit().await?;
        Ok(class)
    }

    pub async fn delete(&self, id: RegionId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !repo::delete(&mut tx.conn(), &id.to_string()).await? {
            return Err(ServiceError::NotFound { entity: "region" });
        }
        crate::events::record_deleted(&mut tx.conn(), "region", &id.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }
}
