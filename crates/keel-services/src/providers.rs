//! Extension points for what an outside service may compute: tax rates ([`TaxProvider`]) and
//! shipping rates ([`FulfillmentProvider`]). Keel ships a built-in of each — the region's rate
//! table, and `manual` shipping options (flat, weight tiers, free over a threshold) — and a shop
//! plugs in others through [`crate::ServiceOptions`].
//!
//! Providers answer rates, not amounts: tax is then computed and rounded per line by the
//! domain's documented rules (docs/PRICING.md), so every provider's figures add up the same way.

use crate::Result;
use keel_domain::Currency;
use keel_domain::pricing::{self, RateRule, TaxMode, TaxRate, WeightTier};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future, for provider methods called through `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One cart line as a tax provider sees it.
#[derive(Debug, Clone)]
pub struct TaxLine {
    pub product_id: String,
    pub variant_id: String,
    pub tax_class: Option<String>,
    pub quantity: u32,
    /// The line's subtotal before discounts, in minor units.
    pub subtotal: i64,
}

/// What a tax provider is asked for a cart.
#[derive(Debug, Clone)]
pub struct TaxRequest {
    pub region_id: String,
    pub currency: Currency,
    pub mode: TaxMode,
    /// The shipping address's country and province, once known.
    pub country_code: Option<String>,
    pub province: Option<String>,
    pub lines: Vec<TaxLine>,
    /// The region's own rate table and default rate (the built-in provider uses them; another
    /// may fall back to them).
    pub table: Vec<RateRule>,
    pub default_rate: TaxRate,
}

/// A tax provider's answer: one rate per line, in order, and the rate for shipping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxRates {
    pub lines: Vec<TaxRate>,
    pub shipping: TaxRate,
}

pub trait TaxProvider: Send + Sync {
    /// A stable name for logs and configuration.
    fn id(&self) -> &str;
    /// The rates for a cart. An error (a provider down) fails the cart read with 503 rather
    /// than showing wrong amounts.
    fn rates<'a>(&'a self, request: &'a TaxRequest) -> BoxFuture<'a, Result<TaxRates>>;
}

/// The built-in tax provider: the region's rate table, most specific rule first (country and
/// province and product class, …, the region's default).
#[derive(Debug, Clone, Copy, Default)]
pub struct RateTable;

impl RateTable {
    /// The rates by the table, without the async wrapper.
    pub fn resolve(request: &TaxRequest) -> TaxRates {
        let rate = |class: Option<&str>| {
            pricing::resolve_rate(
                &request.table,
                request.country_code.as_deref(),
                request.province.as_deref(),
                class,
                request.default_rate,
            )
        };
        TaxRates { lines: request.lines.iter().map(|l| rate(l.tax_class.as_deref())).collect(), shipping: rate(None) }
    }
}

impl TaxProvider for RateTable {
    fn id(&self) -> &str {
        "rate_table"
    }

    fn rates<'a>(&'a self, request: &'a TaxRequest) -> BoxFuture<'a, Result<TaxRates>> {
        Box::pin(async move { Ok(Self::resolve(request)) })
    }
}

/// What a fulfillment provider is asked to price: one shipping option for one cart.
#[derive(Debug, Clone)]
pub struct RateRequest {
    pub option_id: String,
    pub option_name: String,
    pub currency: Currency,
    /// The option's own settings (`amount`, `free_over`, `tiers` for `manual`; anything a
    /// provider documents, stored as `data`).
    pub amount: i64,
    pub free_over: Option<i64>,
    pub tiers: Vec<WeightTier>,
    pub data: serde_json::Value,
    /// The purchasable items after discounts, their count and weight.
    pub items_subtotal: i64,
    pub item_count: u32,
    pub grams: i64,
    /// The shipping address, once known.
    pub address: Option<serde_json::Value>,
}

pub trait FulfillmentProvider: Send + Sync {
    /// The name shipping options refer to (`provider`).
    fn id(&self) -> &str;
    /// The option's price for this cart in minor units, or `None` when it does not apply
    /// (too heavy, no service to that address).
    fn calculate<'a>(&'a self, request: &'a RateRequest) -> BoxFuture<'a, Result<Option<i64>>>;
}

/// The built-in fulfillment provider: flat rate, weight tiers, free over a threshold
/// ([`pricing::shipping_price`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Manual;

impl Manual {
    pub fn price(request: &RateRequest) -> Option<i64> {
        pricing::shipping_price(
            request.amount,
            request.free_over,
            &request.tiers,
            request.items_subtotal,
            request.grams,
        )
    }
}

impl FulfillmentProvider for Manual {
    fn id(&self) -> &str {
        "manual"
    }

    fn calculate<'a>(&'a self, request: &'a RateRequest) -> BoxFuture<'a, Result<Option<i64>>> {
        Box::pin(async move { Ok(Self::price(request)) })
    }
}

/// The providers a Keel install uses.
#[derive(Clone)]
pub struct Providers {
    pub tax: Arc<dyn TaxProvider>,
    /// `manual` is always there; these come in addition.
    pub fulfillment: Vec<Arc<dyn FulfillmentProvider>>,
    /// Card and other providers (`paysim`, …).
    pub payments: Vec<Arc<dyn crate::payments::PaymentProvider>>,
    /// Offer `manual` payment (on invoice or on delivery: orders placed unpaid). Off by default,
    /// since anyone could then place orders without paying.
    pub manual_payments: bool,
}

impl Default for Providers {
    fn default() -> Self {
        Providers { tax: Arc::new(RateTable), fulfillment: Vec::new(), payments: Vec::new(), manual_payments: false }
    }
}

impl Providers {
    /// The fulfillment provider named `id`.
    pub fn fulfillment(&self, id: &str) -> Option<&dyn FulfillmentProvider> {
        if id == "manual" {
            return Some(&Manual);
        }
        self.fulfillment.iter().find(|p| p.id() == id).map(|p| p.as_ref())
    }

    /// The payment provider named `id`.
    pub fn payment(&self, id: &str) -> Option<&dyn crate::payments::PaymentProvider> {
        if id == "manual" {
            return self.manual_payments.then_some(&crate::payments::Manual as &dyn crate::payments::PaymentProvider);
        }
        self.payments.iter().find(|p| p.id() == id).map(|p| p.as_ref())
    }
}
