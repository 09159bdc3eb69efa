//! Carts: lines of variants priced in a region's currency, with the amounts the shopper will pay
//! computed by the domain's cart arithmetic (`keel_domain::pricing`) at every read.
//!
//! Access: a cart made while signed in belongs to that customer and is reachable only with their
//! session; an anonymous cart is reachable by its id alone, which carries 122 random bits. Any
//! other caller gets 404, never 403, so ids cannot be probed.
//!
//! Stock: adding or raising a line checks what the region's stock locations can sell (untracked
//! and backorderable variants have no limit); more than that is 409 `insufficient_stock`. The
//! stock is reserved at checkout, not here.
//!
//! Prices: each line pays the cheapest of its base price and the running price lists' prices
//! that apply to it (the customer's groups, the line's quantity); then promotions — automatic
//! ones and the codes the cart holds — discount lines and shipping (`crate::promotions`).

use crate::identity::CustomerPrincipal;
use crate::inventory::InventoryService;
use crate::promotions::{self, CartContext, CartPromotion, CodeInput};
use crate::providers::{Providers, RateRequest, TaxLine, TaxRequest};
use crate::{Result, ServiceError, now};
use chrono::{DateTime, Utc};
use keel_domain::identity::Email;
use keel_domain::pricing::{self, TaxMode, TaxRate};
use keel_domain::promotions::PromoLine;
use keel_domain::{
    CartId, CartLineId, Currency, CustomerId, Money, PriceListId, ProductId, PromotionId, RegionId, ShippingOptionId,
    VariantId,
};
use keel_store::{Conn, Db, JsonColumn, carts as repo, regions};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most of one variant a cart may hold.
pub const MAX_QUANTITY: u32 = 1000;
/// The most lines a cart may hold.
pub const MAX_LINES: usize = 200;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct CartLine {
    pub id: CartLineId,
    pub variant_id: VariantId,
    pub product_id: ProductId,
    /// The product's title.
    pub product_title: String,
    /// The variant's title (`Default` for a product without options).
    pub title: String,
    pub sku: String,
    pub quantity: u32,
    /// What one unit costs: the cheapest applicable price.
    pub unit_price: Money,
    /// The base price, when a price list's lower price applies (show it struck through).
    pub compare_at_unit_price: Option<Money>,
    /// The price list whose price applies, if any.
    pub price_list_id: Option<PriceListId>,
    /// unit price × quantity, as listed.
    pub subtotal: Money,
    pub discount_total: Money,
    /// The tax in (tax-inclusive regions) or on (exclusive) this line.
    pub tax_total: Money,
    pub total: Money,
    /// False when the variant has no price in the cart's currency any more (it is left out of
    /// the totals, and checkout will refuse it).
    pub purchasable: bool,
}

/// A shipping option as a cart sees it: its price for this cart.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct CartShippingOption {
    pub id: ShippingOptionId,
    pub name: String,
    /// What it costs this cart (before tax in tax-exclusive regions).
    pub price: Money,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingChoice {
    pub option_id: ShippingOptionId,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct Cart {
    pub id: CartId,
    pub region_id: RegionId,
    pub currency: Currency,
    /// Whether prices (and so `subtotal`) include tax.
    pub tax_inclusive: bool,
    pub customer_id: Option<CustomerId>,
    pub email: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub shipping_address: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub billing_address: Option<Value>,
    pub lines: Vec<CartLine>,
    /// The chosen shipping option, if any.
    pub shipping_option_id: Option<ShippingOptionId>,
    /// The codes the cart holds and the automatic promotions that apply.
    pub promotions: Vec<CartPromotion>,
    pub subtotal: Money,
    pub discount_total: Money,
    pub shipping_total: Money,
    pub tax_total: Money,
    pub total: Money,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
#[graphql(name = "CartCreateInput")]
pub struct CartCreate {
    /// The region (default: the one selling in `currency`, else the first region).
    pub region_id: Option<RegionId>,
    #[schema(example = "EUR")]
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
#[graphql(name = "CartLineInput")]
pub struct LineAdd {
    pub variant_id: VariantId,
    /// 1 to 1000.
    pub quantity: u32,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineUpdate {
    /// 1 to 1000.
    pub quantity: u32,
}

/// Cart changes; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
#[graphql(name = "CartUpdateInput")]
pub struct CartPatch {
    pub email: Option<String>,
    /// `{line1, city, country_code, …}` as in the address book.
    #[schema(value_type = Option<Object>)]
    pub shipping_address: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub billing_address: Option<Value>,
    /// Moves the cart to another region (and its currency).
    pub region_id: Option<RegionId>,
}

fn not_found() -> ServiceError {
    ServiceError::NotFound { entity: "cart" }
}

fn insufficient() -> ServiceError {
    ServiceError::Conflict {
        code: "insufficient_stock",
        field: "quantity",
        message: "not enough stock is available".into(),
    }
}

/// A checked-out cart answers reads but takes no more changes.
pub(crate) fn ensure_active(cart: &repo::CartRow) -> Result<()> {
    if cart.status == "active" {
        return Ok(());
    }
    Err(ServiceError::Conflict {
        code: "cart_completed",
        field: "",
        message: "this cart has been checked out; start a new cart".into(),
    })
}

fn check_quantity(quantity: u32) -> Result<i32> {
    if quantity == 0 || quantity > MAX_QUANTITY {
        return Err(ServiceError::invalid("quantity", format!("must be 1 to {MAX_QUANTITY}")));
    }
    Ok(quantity as i32)
}

/// An address for a cart: an object with at least `line1`, `city` and a two-letter
/// `country_code` (upper-cased here).
fn check_address(field: &str, value: &Value) -> Result<Value> {
    let Some(map) = value.as_object() else {
        return Err(ServiceError::invalid(field, "must be an object"));
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let country = text("country_code").filter(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()));
    if text("line1").is_none() || text("city").is_none() || country.is_none() {
        return Err(ServiceError::invalid(field, "needs line1, city and a two-letter country_code"));
    }
    if value.to_string().len() > 4096 {
        return Err(ServiceError::invalid(field, "is too large"));
    }
    let mut out = map.clone();
    out.insert("country_code".into(), Value::String(country.unwrap_or_default().to_ascii_uppercase()));
    Ok(Value::Object(out))
}

#[derive(Clone)]
pub struct CartService {
    db: Db,
    providers: Providers,
}

impl CartService {
    pub fn new(db: Db, providers: Providers) -> Self {
        CartService { db, providers }
    }

    /// The cart, if `who` may reach it.
    pub(crate) async fn reachable(
        c: &mut Conn<'_>,
        id: CartId,
        who: Option<CustomerPrincipal>,
    ) -> Result<repo::CartRow> {
        let cart = repo::find(c, &id.to_string()).await?.ok_or_else(not_found)?;
        match &cart.customer_id {
            None => Ok(cart),
            Some(owner) if who.is_some_and(|w| w.customer_id.to_string() == *owner) => Ok(cart),
            Some(_) => Err(not_found()),
        }
    }

    async fn region(c: &mut Conn<'_>, id: &str) -> Result<regions::RegionRecord> {
        regions::list(c, Some(id))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::invalid("region_id", "no such region"))
    }

    pub async fn create(&self, input: CartCreate, who: Option<CustomerPrincipal>) -> Result<Cart> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let all = regions::list(&mut c, None).await?;
        let region = match (&input.region_id, &input.currency) {
            (Some(id), _) => all.into_iter().find(|r| r.row.id == id.to_string()),
            (None, Some(currency)) => {
                let code = currency.trim().to_ascii_uppercase();
                all.into_iter().find(|r| r.row.currency == code)
            }
            (None, None) => all.into_iter().next(),
        }
        .ok_or_else(|| ServiceError::invalid("region_id", "no region matches; see GET /v1/store/regions"))?;
        let at = now();
        let row = repo::CartRow {
            id: CartId::unguessable().to_string(),
            region_id: region.row.id.clone(),
            currency: region.row.currency.clone(),
            customer_id: who.map(|w| w.customer_id.to_string()),
            email: None,
            shipping_address: None,
            billing_address: None,
            status: "active".into(),
            shipping_option_id: None,
            created_at: at,
            updated_at: at,
        };
        repo::insert(&mut c, &row).await?;
        let cart = self.view(&mut c, row).await?;
        tx.commit().await?;
        Ok(cart)
    }

    pub async fn get(&self, id: CartId, who: Option<CustomerPrincipal>) -> Result<Cart> {
        let mut conn = self.db.read().await?;
        let mut c = conn.conn();
        let row = Self::reachable(&mut c, id, who).await?;
        self.view(&mut c, row).await
    }

    /// Checks that `quantity` of `variant` in total can be sold in the cart's region; answers the
    /// region (read for this, and needed again to price the cart).
    async fn check_stock(
        c: &mut Conn<'_>,
        cart: &repo::CartRow,
        variant: VariantId,
        quantity: i64,
    ) -> Result<regions::RegionRecord> {
        let region = Self::region(c, &cart.region_id).await?;
        let locations = (!region.location_ids.is_empty()).then_some(region.location_ids.as_slice());
        match InventoryService::sellable(c, variant, locations).await? {
            Some(available) if available < quantity => Err(insufficient()),
            _ => Ok(region),
        }
    }

    #[tracing::instrument(name = "carts.add_line", skip_all, fields(cart_id = %id))]
    pub async fn add_line(&self, id: CartId, who: Option<CustomerPrincipal>, input: LineAdd) -> Result<Cart> {
        let quantity = check_quantity(input.quantity)?;
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let mut cart = Self::reachable(&mut c, id, who).await?;
        ensure_active(&cart)?;
        let variant = keel_store::catalog::find_variant(&mut c, input.variant_id)
            .await?
            .ok_or_else(|| ServiceError::invalid("variant_id", "no such variant"))?;
        // The product's row only: its relations are not needed to know it is for sale.
        let published = keel_store::catalog::find_product_with(&mut c, variant.product_id, &[])
            .await?
            .is_some_and(|p| p.status == keel_domain::catalog::ProductStatus::Published);
        if !published {
            return Err(ServiceError::invalid("variant_id", "no such variant"));
        }
        if !variant.prices.iter().any(|p| p.currency.code() == cart.currency) {
            return Err(ServiceError::Conflict {
                code: "no_price",
                field: "variant_id",
                message: format!("this variant has no price in {}", cart.currency),
            });
        }
        let lines = repo::lines(&mut c, &cart.id).await?;
        let existing = lines.iter().find(|l| l.variant_id == input.variant_id.to_string()).map_or(0, |l| l.quantity);
        if existing == 0 && lines.len() >= MAX_LINES {
            return Err(ServiceError::invalid("variant_id", format!("a cart holds at most {MAX_LINES} lines")));
        }
        let total = existing + quantity;
        if total as u32 > MAX_QUANTITY {
            return Err(ServiceError::invalid("quantity", format!("a line holds at most {MAX_QUANTITY}")));
        }
        let region = Self::check_stock(&mut c, &cart, input.variant_id, i64::from(total)).await?;
        let at = now();
        let line = repo::LineRow {
            id: CartLineId::new().to_string(),
            cart_id: cart.id.clone(),
            variant_id: input.variant_id.to_string(),
            quantity,
            created_at: at,
            updated_at: at,
        };
        repo::add_quantity(&mut c, &line).await?;
        cart.updated_at = at;
        repo::update(&mut c, &cart).await?;
        let view = self.priced_in(&mut c, cart, Some(region)).await?.0;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn update_line(
        &self,
        id: CartId,
        who: Option<CustomerPrincipal>,
        line: CartLineId,
        input: LineUpdate,
    ) -> Result<Cart> {
        let quantity = check_quantity(input.quantity)?;
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let mut cart = Self::reachable(&mut c, id, who).await?;
        ensure_active(&cart)?;
        let lines = repo::lines(&mut c, &cart.id).await?;
        let current =
            lines.iter().find(|l| l.id == line.to_string()).ok_or(ServiceError::NotFound { entity: "cart line" })?;
        let variant =
            VariantId::parse(&current.variant_id).map_err(|_| ServiceError::Internal("stored variant id".into()))?;
        let region = if quantity > current.quantity {
            Some(Self::check_stock(&mut c, &cart, variant, i64::from(quantity)).await?)
        } else {
            None
        };
        let at = now();
        repo::set_quantity(&mut c, &cart.id, &line.to_string(), quantity, at).await?;
        cart.updated_at = at;
        repo::update(&mut c, &cart).await?;
        let view = self.priced_in(&mut c, cart, region).await?.0;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn delete_line(&self, id: CartId, who: Option<CustomerPrincipal>, line: CartLineId) -> Result<Cart> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let mut cart = Self::reachable(&mut c, id, who).await?;
        ensure_active(&cart)?;
        if !repo::delete_line(&mut c, &cart.id, &line.to_string()).await? {
            return Err(ServiceError::NotFound { entity: "cart line" });
        }
        cart.updated_at = now();
        repo::update(&mut c, &cart).await?;
        let view = self.view(&mut c, cart).await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn update(&self, id: CartId, who: Option<CustomerPrincipal>, patch: CartPatch) -> Result<Cart> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let mut cart = Self::reachable(&mut c, id, who).await?;
        ensure_active(&cart)?;
        if let Some(email) = &patch.email {
            cart.email = Some(Email::parse(email).map_err(|m| ServiceError::invalid("email", m))?.into_string());
        }
        if let Some(address) = &patch.shipping_address {
            cart.shipping_address = Some(JsonColumn(check_address("shipping_address", address)?));
        }
        if let Some(address) = &patch.billing_address {
            cart.billing_address = Some(JsonColumn(check_address("billing_address", address)?));
        }
        if let Some(region_id) = patch.region_id {
            let region = Self::region(&mut c, &region_id.to_string()).await?;
            if cart.region_id != region.row.id {
                // Another region's shipping options do not apply.
                cart.shipping_option_id = None;
            }
            cart.region_id = region.row.id;
            cart.currency = region.row.currency;
        }
        cart.updated_at = now();
        repo::update(&mut c, &cart).await?;
        let view = self.view(&mut c, cart).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// A signed-in customer takes an anonymous cart (after signing in on a device that shopped
    /// anonymously). When they already have an active cart in the same region, the anonymous
    /// cart's lines merge into it (quantities add up) and the anonymous cart is gone; otherwise
    /// the anonymous cart becomes theirs. Their own cart answers as it is; another customer's is
    /// 404. Stock is checked again at checkout.
    pub async fn claim(&self, id: CartId, who: CustomerPrincipal) -> Result<Cart> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let mut cart = Self::reachable(&mut c, id, Some(who)).await?;
        ensure_active(&cart)?;
        let customer = who.customer_id.to_string();
        if cart.customer_id.is_some() {
            return self.view(&mut c, cart).await;
        }
        let at = now();
        let target = match repo::latest_of_customer(&mut c, &customer, &cart.region_id, &cart.id).await? {
            Some(mut existing) => {
                for line in repo::lines(&mut c, &cart.id).await? {
                    let moved = repo::LineRow {
                        id: CartLineId::new().to_string(),
                        cart_id: existing.id.clone(),
                        updated_at: at,
                        ..line
                    };
                    repo::add_quantity(&mut c, &moved).await?;
                }
                keel_store::promotions::move_held(&mut c, &cart.id, &existing.id, at).await?;
                repo::delete(&mut c, &cart.id).await?;
                existing.email = existing.email.or(cart.email);
                existing.shipping_address = existing.shipping_address.or(cart.shipping_address);
                existing.billing_address = existing.billing_address.or(cart.billing_address);
                existing
            }
            None => {
                cart.customer_id = Some(customer);
                cart
            }
        };
        let mut target = target;
        target.updated_at = at;
        repo::update(&mut c, &target).await?;
        let view = self.view(&mut c, target).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Puts a promotion code on the cart, if it may apply now (422 with the reason if not).
    pub async fn apply_code(&self, id: CartId, who: Option<CustomerPrincipal>, input: CodeInput) -> Result<Cart> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let mut cart = Self::reachable(&mut c, id, who).await?;
        ensure_active(&cart)?;
        let groups = Self::groups(&mut c, &cart).await?;
        let context = CartContext {
            cart_id: &cart.id,
            currency: Currency::parse(&cart.currency).map_err(|_| ServiceError::Internal("stored currency".into()))?,
            customer_key: promotions::customer_key(cart.customer_id.as_deref(), cart.email.as_deref()),
            groups: &groups,
        };
        promotions::hold_code(&mut c, &context, &input.code).await?;
        cart.updated_at = now();
        repo::update(&mut c, &cart).await?;
        let view = self.view(&mut c, cart).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Takes a promotion code off the cart (404 if it does not hold it).
    pub async fn remove_code(&self, id: CartId, who: Option<CustomerPrincipal>, code: &str) -> Result<Cart> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let mut cart = Self::reachable(&mut c, id, who).await?;
        ensure_active(&cart)?;
        promotions::release_code(&mut c, &cart.id, code).await?;
        cart.updated_at = now();
        repo::update(&mut c, &cart).await?;
        let view = self.view(&mut c, cart).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// The region's shipping options that apply to the cart, with their price for it.
    pub async fn shipping_options(
        &self,
        id: CartId,
        who: Option<CustomerPrincipal>,
    ) -> Result<Vec<CartShippingOption>> {
        let mut conn = self.db.read().await?;
        let mut c = conn.conn();
        let row = Self::reachable(&mut c, id, who).await?;
        let priced = self.discounted(&mut c, &row).await?;
        let currency = priced.currency;
        let mut out = Vec::new();
        for option in keel_store::shipping::list(&mut c, Some(&row.region_id)).await? {
            if let Some(price) = self.option_price(&option, &priced, &row).await? {
                out.push(CartShippingOption {
                    id: ShippingOptionId::parse(&option.id)
                        .map_err(|_| ServiceError::Internal("stored option id".into()))?,
                    name: option.name,
                    price: Money::new(price, currency),
                });
            }
        }
        Ok(out)
    }

    /// Chooses a shipping option of the cart's region that applies to it.
    pub async fn choose_shipping(
        &self,
        id: CartId,
        who: Option<CustomerPrincipal>,
        choice: ShippingChoice,
    ) -> Result<Cart> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let mut cart = Self::reachable(&mut c, id, who).await?;
        ensure_active(&cart)?;
        let priced = self.discounted(&mut c, &cart).await?;
        let options = keel_store::shipping::list(&mut c, Some(&cart.region_id)).await?;
        let option = options
            .iter()
            .find(|o| o.id == choice.option_id.to_string())
            .ok_or_else(|| ServiceError::invalid("option_id", "not a shipping option of the cart's region"))?;
        if self.option_price(option, &priced, &cart).await?.is_none() {
            return Err(ServiceError::invalid(
                "option_id",
                "this option does not apply to the cart (too heavy, or not to this address)",
            ));
        }
        cart.shipping_option_id = Some(option.id.clone());
        cart.updated_at = now();
        repo::update(&mut c, &cart).await?;
        let view = self.view(&mut c, cart).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// The lines priced with their discounts (to price shipping options).
    async fn discounted(&self, c: &mut Conn<'_>, row: &repo::CartRow) -> Result<Priced> {
        let groups = Self::groups(c, row).await?;
        let mut priced = self.price_lines(c, row, &groups, None).await?;
        self.discount(c, row, &groups, &mut priced, None).await?;
        Ok(priced)
    }

    /// What an option costs the cart as priced, by its fulfillment provider (`None`: it does
    /// not apply, or its provider is not installed).
    async fn option_price(
        &self,
        option: &keel_store::shipping::OptionRow,
        priced: &Priced,
        row: &repo::CartRow,
    ) -> Result<Option<i64>> {
        let Some(provider) = self.providers.fulfillment(&option.provider) else {
            return Ok(None);
        };
        let (items, grams) = priced.items_and_weight();
        let request = RateRequest {
            option_id: option.id.clone(),
            option_name: option.name.clone(),
            currency: priced.currency,
            amount: option.amount,
            free_over: option.free_over,
            tiers: serde_json::from_value(option.tiers.0.clone()).unwrap_or_default(),
            data: option.data.0.clone(),
            items_subtotal: items,
            item_count: priced.lines.iter().filter(|l| l.line.purchasable).map(|l| l.line.quantity).sum(),
            grams,
            address: row.shipping_address.as_ref().map(|a| a.0.clone()),
        };
        provider.calculate(&request).await
    }

    /// The customer groups of the cart's customer (none for an anonymous cart).
    async fn groups(c: &mut Conn<'_>, row: &repo::CartRow) -> Result<Vec<String>> {
        Ok(match &row.customer_id {
            Some(customer) => keel_store::price_lists::groups_of(c, customer).await?,
            None => Vec::new(),
        })
    }

    /// Prices the cart's lines before promotions: a fixed number of statements whatever its size.
    async fn price_lines(
        &self,
        c: &mut Conn<'_>,
        row: &repo::CartRow,
        groups: &[String],
        region: Option<regions::RegionRecord>,
    ) -> Result<Priced> {
        let region = match region {
            Some(region) => region,
            None => Self::region(c, &row.region_id).await?,
        };
        let currency = Currency::parse(&row.currency).map_err(|_| ServiceError::stored("currency"))?;
        let mode = if region.row.tax_inclusive { TaxMode::Inclusive } else { TaxMode::Exclusive };
        let default_rate = TaxRate(u32::try_from(region.row.tax_rate).unwrap_or(0));
        let line_rows = repo::lines(c, &row.id).await?;
        let ids: Vec<VariantId> = line_rows.iter().filter_map(|l| VariantId::parse(&l.variant_id).ok()).collect();
        let variants = keel_store::catalog::find_variants(c, &ids).await?;
        let variant_ids: Vec<String> = line_rows.iter().map(|l| l.variant_id.clone()).collect();
        let list_prices =
            keel_store::price_lists::running_prices(c, &variant_ids, currency.code(), crate::now()).await?;
        // Rates follow the shipping address (its country and province) and each product's class,
        // by the tax provider (built-in: the region's rate table).
        let table: Vec<pricing::RateRule> = keel_store::tax::of_region(c, &row.region_id)
            .await?
            .into_iter()
            .map(|r| pricing::RateRule {
                country_code: r.country_code,
                province: r.province,
                tax_class: r.tax_class,
                rate: TaxRate(u32::try_from(r.rate).unwrap_or(0)),
            })
            .collect();
        let products: Vec<String> = variants.iter().map(|v| v.product_id.to_string()).collect();
        let classes: std::collections::HashMap<String, String> =
            keel_store::tax::product_classes(c, &products).await?.into_iter().collect();
        let titles = keel_store::catalog::product_titles(c, &products).await?;
        let address = row.shipping_address.as_ref().map(|a| &a.0);
        let text = |key: &str| address.and_then(|a| a[key].as_str()).map(str::to_string);
        let mut request = TaxRequest {
            region_id: row.region_id.clone(),
            currency,
            mode,
            country_code: text("country_code"),
            province: text("province"),
            lines: Vec::with_capacity(line_rows.len()),
            table,
            default_rate,
        };
        let money = |amount| Money::new(amount, currency);
        let mut lines = Vec::with_capacity(line_rows.len());
        for l in &line_rows {
            let variant = variants
                .iter()
                .find(|v| v.id.to_string() == l.variant_id)
                .ok_or_else(|| ServiceError::stored("cart line"))?;
            let base = variant.prices.iter().find(|p| p.currency == currency).map(|p| p.amount);
            let quantity = u32::try_from(l.quantity).unwrap_or(0);
            let candidates: Vec<pricing::ListPrice> = list_prices
                .iter()
                .filter(|p| p.variant_id == l.variant_id)
                .map(|p| pricing::ListPrice {
                    list: &p.price_list_id,
                    amount: p.amount,
                    min_quantity: u32::try_from(p.min_quantity).unwrap_or(1),
                    groups: &p.customer_group_ids.0,
                })
                .collect();
            let chosen = pricing::unit_price(base, &candidates, quantity, groups);
            let price = chosen.map(|(amount, _)| amount);
            let list = chosen.and_then(|(_, list)| list);
            request.lines.push(TaxLine {
                product_id: variant.product_id.to_string(),
                variant_id: variant.id.to_string(),
                tax_class: classes.get(&variant.product_id.to_string()).cloned(),
                quantity,
                subtotal: price.unwrap_or(0).saturating_mul(i64::from(quantity)),
            });
            let line = CartLine {
                id: CartLineId::parse(&l.id).map_err(|_| ServiceError::stored("line id"))?,
                variant_id: variant.id,
                product_id: variant.product_id,
                product_title: titles.get(&variant.product_id.to_string()).cloned().unwrap_or_default(),
                title: variant.title.clone(),
                sku: variant.sku.clone(),
                quantity,
                unit_price: money(price.unwrap_or(0)),
                compare_at_unit_price: list.and(base).map(money),
                price_list_id: list
                    .map(PriceListId::parse)
                    .transpose()
                    .map_err(|_| ServiceError::stored("price list id"))?,
                subtotal: money(0),
                discount_total: money(0),
                tax_total: money(0),
                total: money(0),
                purchasable: price.is_some(),
            };
            lines.push(PricedLine {
                line,
                amounts: pricing::LineAmounts::default(),
                grams: variant.weight_grams,
                rate: default_rate,
            });
        }
        let rates = self.providers.tax.rates(&request).await?;
        if rates.lines.len() != lines.len() {
            return Err(ServiceError::Internal(format!(
                "tax provider {} answered for other lines",
                self.providers.tax.id()
            )));
        }
        for (line, rate) in lines.iter_mut().zip(rates.lines) {
            line.rate = rate;
            line.set_discount(0, mode);
        }
        Ok(Priced { region, currency, mode, rate: rates.shipping, lines })
    }

    /// Applies promotions to priced lines (and to `option`'s shipping price, when given), and
    /// returns the shipping line and the promotions to show. Free-shipping thresholds look at
    /// the items after their discounts.
    async fn discount(
        &self,
        c: &mut Conn<'_>,
        row: &repo::CartRow,
        groups: &[String],
        priced: &mut Priced,
        option: Option<&keel_store::shipping::OptionRow>,
    ) -> Result<(Option<pricing::LineAmounts>, Vec<CartPromotion>, Vec<PromotionId>)> {
        let context = CartContext {
            cart_id: &row.id,
            currency: priced.currency,
            customer_key: promotions::customer_key(row.customer_id.as_deref(), row.email.as_deref()),
            groups,
        };
        let buyable: Vec<usize> = (0..priced.lines.len()).filter(|&i| priced.lines[i].line.purchasable).collect();
        let mut promo_lines: Vec<PromoLine> = buyable
            .iter()
            .map(|&i| {
                let l = &priced.lines[i].line;
                PromoLine {
                    product: l.product_id.to_string(),
                    variant: l.variant_id.to_string(),
                    categories: Vec::new(),
                    collections: Vec::new(),
                    unit_price: l.unit_price.amount,
                    quantity: l.quantity,
                }
            })
            .collect();
        let mut ship = match option {
            Some(o) => self.option_price(o, priced, row).await?,
            None => None,
        };
        let mut outcome = promotions::evaluate(c, &context, &mut promo_lines, ship.unwrap_or(0)).await?;
        for _ in 0..2 {
            for (k, &i) in buyable.iter().enumerate() {
                priced.lines[i].set_discount(outcome.line_discounts[k], priced.mode);
            }
            let after = match option {
                Some(o) => self.option_price(o, priced, row).await?,
                None => None,
            };
            if after == ship {
                break;
            }
            // The discounts moved the items across a free-shipping threshold: evaluate again
            // with the shipping price they lead to.
            ship = after;
            outcome = promotions::evaluate(c, &context, &mut promo_lines, ship.unwrap_or(0)).await?;
        }
        // The outcome shown is the one applied: its line discounts, and shipping priced for the
        // lines as they now stand (free shipping takes all of it).
        for (k, &i) in buyable.iter().enumerate() {
            priced.lines[i].set_discount(outcome.line_discounts[k], priced.mode);
        }
        let ship = match option {
            Some(o) => self.option_price(o, priced, row).await?,
            None => None,
        };
        let shipping = ship.map(|price| {
            let free = if outcome.shipping_discount > 0 { price } else { 0 };
            pricing::line(price, 1, free, priced.rate, priced.mode)
        });
        Ok((shipping, outcome.promotions, outcome.applied))
    }

    /// The whole cart with its amounts, shipping included.
    async fn view(&self, c: &mut Conn<'_>, row: repo::CartRow) -> Result<Cart> {
        Ok(self.priced(c, row).await?.0)
    }

    /// The whole cart, and the promotions that gave it something (checkout redeems them).
    pub(crate) async fn priced(&self, c: &mut Conn<'_>, row: repo::CartRow) -> Result<(Cart, Vec<PromotionId>)> {
        self.priced_in(c, row, None).await
    }

    /// [`Self::priced`] with the cart's region when the caller has read it already.
    async fn priced_in(
        &self,
        c: &mut Conn<'_>,
        row: repo::CartRow,
        region: Option<regions::RegionRecord>,
    ) -> Result<(Cart, Vec<PromotionId>)> {
        let groups = Self::groups(c, &row).await?;
        let mut priced = self.price_lines(c, &row, &groups, region).await?;
        let option = match &row.shipping_option_id {
            Some(id) => keel_store::shipping::list(c, Some(&row.region_id)).await?.into_iter().find(|o| o.id == *id),
            None => None,
        };
        let (shipping, promotions, applied) = self.discount(c, &row, &groups, &mut priced, option.as_ref()).await?;
        let amounts: Vec<pricing::LineAmounts> = priced.lines.iter().map(|l| l.amounts).collect();
        let totals = pricing::cart(&amounts, shipping);
        let currency = priced.currency;
        let money = |amount| Money::new(amount, currency);
        let cart = Cart {
            id: CartId::parse(&row.id).map_err(|_| ServiceError::stored("cart id"))?,
            region_id: RegionId::parse(&row.region_id).map_err(|_| ServiceError::stored("region id"))?,
            currency,
            tax_inclusive: priced.region.row.tax_inclusive,
            customer_id: row
                .customer_id
                .as_deref()
                .map(CustomerId::parse)
                .transpose()
                .map_err(|_| ServiceError::stored("customer id"))?,
            email: row.email,
            shipping_address: row.shipping_address.map(|j| j.0),
            billing_address: row.billing_address.map(|j| j.0),
            shipping_option_id: match (&row.shipping_option_id, shipping) {
                (Some(id), Some(_)) => {
                    Some(ShippingOptionId::parse(id).map_err(|_| ServiceError::stored("option id"))?)
                }
                _ => None,
            },
            promotions,
            lines: priced.lines.into_iter().map(|l| l.line).collect(),
            subtotal: money(totals.subtotal),
            discount_total: money(totals.discount_total),
            shipping_total: money(totals.shipping_total),
            tax_total: money(totals.tax_total),
            total: money(totals.total),
            created_at: row.created_at,
            updated_at: row.updated_at,
        };
        Ok((cart, applied))
    }
}

/// A cart's lines priced in its region.
struct Priced {
    region: keel_store::regions::RegionRecord,
    currency: Currency,
    mode: TaxMode,
    /// The rate for shipping and products without a class, at the cart's address.
    rate: TaxRate,
    lines: Vec<PricedLine>,
}

struct PricedLine {
    line: CartLine,
    amounts: pricing::LineAmounts,
    grams: Option<i32>,
    rate: TaxRate,
}

impl PricedLine {
    /// Prices the line with this discount (none for a line that cannot be bought).
    fn set_discount(&mut self, discount: i64, mode: TaxMode) {
        let l = &mut self.line;
        let quantity = if l.purchasable { l.quantity } else { 0 };
        let a = pricing::line(l.unit_price.amount, quantity, discount, self.rate, mode);
        let money = |amount| Money::new(amount, l.unit_price.currency);
        (l.subtotal, l.discount_total, l.tax_total, l.total) =
            (money(a.subtotal), money(a.discount), money(a.tax), money(a.total));
        self.amounts = a;
    }
}

impl Priced {
    /// The purchasable items' discounted subtotal, and their weight in grams.
    fn items_and_weight(&self) -> (i64, i64) {
        let buyable = || self.lines.iter().filter(|l| l.line.purchasable);
        let items = buyable().map(|l| l.amounts.subtotal - l.amounts.discount).sum();
        let grams = buyable().map(|l| i64::from(l.line.quantity) * i64::from(l.grams.unwrap_or(0))).sum();
        (items, grams)
    }
}
