//! Checkout: a saga from a cart to an order, with a compensation for every step and a log
//! (`checkouts`) that records the step reached, keyed by the cart and the client's
//! `Idempotency-Key` (docs/CHECKOUT.md).
//!
//! 1. **Start** (one transaction): the cart is re-priced (prices, promotions, tax, shipping),
//!    checked (email, shipping address, shipping method, lines), the key claimed, and every
//!    line's stock reserved for the checkout by conditional updates — or nothing at all
//!    (409 `insufficient_stock`).
//! 2. **Authorise** the total with the payment provider, idempotently (the checkout id is the
//!    provider's idempotency key). Declined: the reservations are released, 402
//!    `payment_declined`, the cart stays usable. No answer: released as well, and the payment
//!    is looked up and voided if it was held after all.
//! 3. **Place** (one transaction): the order with its sequential number and lines, the reserved
//!    stock turned into sold stock, the promotions' usage counted (race-free), the payment
//!    linked, the cart completed and `order.placed` in the outbox. If this fails (a promotion
//!    used up meanwhile), the authorisation is voided and the stock released.
//!
//! A process that dies between steps leaves its checkout at `reserved` or `authorized`; the
//! worker's recovery job ([`CheckoutService::recover`]) voids what was held and releases the
//! stock, so no money stays held without an order.

use crate::carts::{CartService, ensure_active};
use crate::identity::CustomerPrincipal;
use crate::inventory::{InventoryService, Owner};
use crate::payments::{Authorization, AuthorizeRequest, PaymentError};
use crate::providers::Providers;
use crate::{Result, ServiceError, events, now};
use chrono::{DateTime, Utc};
use keel_domain::{CartId, Currency, CustomerId, Money, OrderId, PromotionId};
use keel_store::{Conn, Db, JsonColumn, orders as repo};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;

/// How long checkout's reservations last if nothing settles them.
const RESERVATION_MINUTES: i64 = 15;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
pub struct PaymentInput {
    /// `paysim` (cards; test tokens such as `tok_visa`) or `manual` (pay on invoice/delivery).
    #[schema(example = "paysim")]
    pub provider: String,
    /// The payment method from the front end (a card token).
    #[schema(example = "tok_visa")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
pub struct CheckoutInput {
    pub payment: PaymentInput,
    /// The total the shopper saw, in minor units: if the cart now costs something else (a price
    /// or promotion changed), checkout stops with 409 `cart_changed`.
    pub expected_total: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct OrderLine {
    pub id: keel_domain::OrderLineId,
    pub variant_id: keel_domain::VariantId,
    pub product_id: keel_domain::ProductId,
    pub title: String,
    pub sku: String,
    pub quantity: u32,
    pub unit_price: Money,
    pub subtotal: Money,
    pub discount_total: Money,
    pub tax_total: Money,
    pub total: Money,
    /// Units shipped so far.
    pub fulfilled_quantity: u32,
    /// Units and money refunded so far.
    pub refunded_quantity: u32,
    pub refunded_total: Money,
    /// Units sent back (returns requested).
    pub returned_quantity: u32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct Order {
    pub id: OrderId,
    /// Human-readable and sequential (1001, 1002, …).
    pub number: i64,
    /// `placed`, then `completed` (everything delivered) or `canceled` (`canceling` while the
    /// payment is being given back).
    pub status: String,
    /// `authorized`, `captured`, `voided`, `partially_refunded`, `refunded`.
    pub payment_status: String,
    /// `not_fulfilled`, `partially_fulfilled`, `fulfilled`.
    pub fulfillment_status: String,
    pub customer_id: Option<CustomerId>,
    pub email: String,
    pub currency: Currency,
    pub tax_inclusive: bool,
    pub lines: Vec<OrderLine>,
    pub subtotal: Money,
    pub discount_total: Money,
    pub shipping_total: Money,
    pub tax_total: Money,
    pub total: Money,
    pub refunded_total: Money,
    #[schema(value_type = Object)]
    pub shipping_address: Value,
    #[schema(value_type = Option<Object>)]
    pub billing_address: Option<Value>,
    /// The shipping option chosen: `{option_id, name}`.
    #[schema(value_type = Object)]
    pub shipping: Value,
    /// The promotions that applied: `[{promotion_id, code, name, discount}]`.
    #[schema(value_type = Vec<Object>)]
    pub promotions: Value,
    pub created_at: DateTime<Utc>,
}

/// An order row and its lines as the API shows them.
pub(crate) fn order_view(row: repo::OrderRow, lines: Vec<repo::LineRow>) -> Result<Order> {
    let currency = Currency::parse(&row.currency).map_err(|_| ServiceError::stored("currency"))?;
    let money = |amount| Money::new(amount, currency);
    Ok(Order {
        id: OrderId::parse(&row.id).map_err(|_| ServiceError::stored("order id"))?,
        number: row.number,
        status: row.status,
        payment_status: row.payment_status,
        fulfillment_status: row.fulfillment_status,
        customer_id: row
            .customer_id
            .as_deref()
            .map(CustomerId::parse)
            .transpose()
            .map_err(|_| ServiceError::stored("customer"))?,
        email: row.email,
        currency,
        tax_inclusive: row.tax_inclusive,
        lines: lines
            .into_iter()
            .map(|l| {
                Ok(OrderLine {
                    id: keel_domain::OrderLineId::parse(&l.id).map_err(|_| ServiceError::stored("line id"))?,
                    variant_id: keel_domain::VariantId::parse(&l.variant_id)
                        .map_err(|_| ServiceError::stored("variant id"))?,
                    product_id: keel_domain::ProductId::parse(&l.product_id)
                        .map_err(|_| ServiceError::stored("product id"))?,
                    title: l.title,
                    sku: l.sku,
                    quantity: u32::try_from(l.quantity).unwrap_or(0),
                    unit_price: money(l.unit_price),
                    subtotal: money(l.subtotal),
                    discount_total: money(l.discount_total),
                    tax_total: money(l.tax_total),
                    total: money(l.total),
                    fulfilled_quantity: u32::try_from(l.fulfilled_quantity).unwrap_or(0),
                    refunded_quantity: u32::try_from(l.refunded_quantity).unwrap_or(0),
                    refunded_total: money(l.refunded_total),
                    returned_quantity: u32::try_from(l.returned_quantity).unwrap_or(0),
                })
            })
            .collect::<Result<_>>()?,
        subtotal: money(row.subtotal),
        discount_total: money(row.discount_total),
        shipping_total: money(row.shipping_total),
        tax_total: money(row.tax_total),
        total: money(row.total),
        refunded_total: money(row.refunded_total),
        shipping_address: row.shipping_address.0,
        billing_address: row.billing_address.map(|a| a.0),
        shipping: row.shipping.0,
        promotions: row.promotions.0,
        created_at: row.created_at,
    })
}

/// An order with its lines.
pub(crate) async fn load_order(c: &mut Conn<'_>, id: &str) -> Result<Option<Order>> {
    let Some(row) = repo::find_order(c, id).await? else { return Ok(None) };
    let lines = repo::lines_of(c, std::slice::from_ref(&row.id)).await?;
    Ok(Some(order_view(row, lines)?))
}

/// An address as printed lines: name, street, town, country.
fn address_lines(address: &Value) -> Vec<String> {
    let text = |key: &str| address[key].as_str().unwrap_or_default().trim().to_string();
    let name = format!("{} {}", text("first_name"), text("last_name")).trim().to_string();
    let town = [text("postal_code"), text("city"), text("province")]
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    [name, text("company"), text("line1"), text("line2"), town, text("country_code")]
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect()
}

/// The invoice of an order (its number is the order's).
fn invoice_of(order: &Order) -> crate::documents::Invoice {
    let ship_to = address_lines(&order.shipping_address);
    let bill_to = order.billing_address.as_ref().map_or_else(|| ship_to.clone(), address_lines);
    let mut bill_to = bill_to;
    bill_to.push(order.email.clone());
    let tax_label = if order.tax_inclusive { "Tax included" } else { "Tax" };
    crate::documents::Invoice {
        number: order.number.to_string(),
        issued_on: order.created_at.format("%Y-%m-%d").to_string(),
        seller: vec!["Keel Demo Shop".into(), "1 Commerce Way".into(), "Springfield".into()],
        bill_to,
        ship_to,
        lines: order
            .lines
            .iter()
            .map(|l| crate::documents::InvoiceLine {
                description: l.title.clone(),
                sku: l.sku.clone(),
                quantity: i64::from(l.quantity),
                unit_price: l.unit_price,
                total: l.subtotal,
            })
            .collect(),
        subtotal: order.subtotal,
        discount: order.discount_total,
        shipping: order.shipping_total,
        taxes: vec![(tax_label.to_string(), order.tax_total)],
        total: order.total,
    }
}

/// Whether the tests' failpoint `name` is set (`KEEL_FAILPOINT`, read once per process).
fn failpoint(name: &str) -> bool {
    static SET: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SET.get_or_init(|| std::env::var("KEEL_FAILPOINT").ok()).as_deref() == Some(name)
}

/// What a failed checkout answered, kept to answer its replays the same way.
fn stored_error(err: &ServiceError) -> Option<Value> {
    match err {
        ServiceError::PaymentDeclined { reason, message } => {
            Some(json!({"kind": "declined", "code": reason, "message": message}))
        }
        ServiceError::Conflict { code, message, .. } => {
            Some(json!({"kind": "conflict", "code": code, "message": message}))
        }
        ServiceError::Unavailable(m) => Some(json!({"kind": "unavailable", "message": m})),
        _ => None,
    }
}

fn replayed_error(stored: &Value) -> ServiceError {
    let message = stored["message"].as_str().unwrap_or_default().to_string();
    match stored["kind"].as_str() {
        Some("declined") => {
            ServiceError::PaymentDeclined { reason: stored["code"].as_str().unwrap_or("declined").to_string(), message }
        }
        Some("conflict") => {
            let code = match stored["code"].as_str() {
                Some("insufficient_stock") => "insufficient_stock",
                Some("promotion_exhausted") => "promotion_exhausted",
                Some("promotion_limit_reached") => "promotion_limit_reached",
                Some("cart_changed") => "cart_changed",
                _ => "checkout_failed",
            };
            ServiceError::Conflict { code, field: "", message }
        }
        _ => ServiceError::Unavailable(message),
    }
}

/// Whether a hash of the request matches (the same key with another body is refused).
fn request_hash(input: &CheckoutInput) -> String {
    let bytes = serde_json::to_vec(input).unwrap_or_default();
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone)]
pub struct CheckoutService {
    db: Db,
    carts: CartService,
    providers: Providers,
    files: keel_platform::files::FileStore,
    /// Set when payments are captured as soon as the order is placed.
    capture_with: Option<crate::orders::OrderService>,
}

/// What the first step hands to the next ones.
struct Started {
    checkout: repo::CheckoutRow,
    cart: crate::carts::Cart,
    applied: Vec<PromotionId>,
    customer_key: String,
    /// The units reserved (untracked and backordered lines reserve none).
    reserved_units: i64,
}

impl CheckoutService {
    pub fn new(
        db: Db,
        carts: CartService,
        providers: Providers,
        files: keel_platform::files::FileStore,
        capture_with: Option<crate::orders::OrderService>,
    ) -> Self {
        CheckoutService { db, carts, providers, files, capture_with }
    }

    /// Checks a cart out (see the module docs). Returns the order and whether this answers a
    /// replay of an earlier request with the same key.
    #[tracing::instrument(name = "checkout.checkout", skip_all, fields(cart_id = %cart_id))]
    pub async fn checkout(
        &self,
        cart_id: CartId,
        who: Option<CustomerPrincipal>,
        key: &str,
        input: CheckoutInput,
    ) -> Result<(Order, bool)> {
        if key.is_empty() || key.len() > 255 {
            return Err(ServiceError::invalid("Idempotency-Key", "send a key of 1 to 255 characters"));
        }
        let provider = self
            .providers
            .payment(&input.payment.provider)
            .ok_or_else(|| ServiceError::invalid("payment.provider", "no payment provider has this name"))?;
        let started = match self.start(cart_id, who, key, &input).await? {
            Ok(started) => started,
            Err(order) => return Ok((order, true)),
        };
        let checkout_id = started.checkout.id.clone();
        let request = AuthorizeRequest {
            amount: started.cart.total.amount,
            currency: started.cart.currency,
            token: input.payment.token.clone(),
            checkout_id: checkout_id.clone(),
            cart_id: started.cart.id.to_string(),
        };
        let reference = match provider.authorize(&request).await {
            Ok(Authorization::Held { reference }) => reference,
            Ok(Authorization::Declined { code, message }) => {
                let err = ServiceError::PaymentDeclined { reason: code, message };
                return Err(self.fail(&started.checkout, "reserved", err).await);
            }
            Err(PaymentError::Refused(why)) => {
                // The provider answered, refusing the request itself: nothing is held.
                let err = ServiceError::PaymentDeclined { reason: "refused".into(), message: why };
                return Err(self.fail(&started.checkout, "reserved", err).await);
            }
            Err(first) => {
                // The outcome is unknown. Asking again with the same key learns it if the first
                // request got through (the provider answers it again); if not, the checkout
                // stays `reserved` and the recovery job settles it once the provider answers:
                // the stock stays held while it is unknown whether money was taken.
                match provider.authorize(&request).await {
                    Ok(Authorization::Held { reference }) => reference,
                    Ok(Authorization::Declined { code, message }) => {
                        let err = ServiceError::PaymentDeclined { reason: code, message };
                        return Err(self.fail(&started.checkout, "reserved", err).await);
                    }
                    Err(_) => return Err(ServiceError::Unavailable(first.to_string())),
                }
            }
        };
        let payment = match self.authorized(&started, provider.id(), &reference).await {
            Ok(payment) => payment,
            Err(err) => {
                // The recovery job took this checkout over meanwhile: give the money back.
                let _ = provider.void(&reference).await;
                return Err(err);
            }
        };
        if failpoint("checkout.after_authorize") {
            tracing::error!("failpoint checkout.after_authorize: the process stops here");
            std::process::abort();
        }
        match self.place(&started, payment).await {
            // Manual payments are settled by staff, never captured automatically.
            Ok(order) if provider.id() == "manual" => Ok((order, false)),
            Ok(order) => match &self.capture_with {
                // The order stands either way: a capture that fails now is left for staff.
                Some(orders) => match orders.capture(order.id, crate::orders::CaptureInput::default()).await {
                    Ok(detail) => Ok((detail.order, false)),
                    Err(e) => {
                        tracing::warn!(order = %order.id, error = %e, "automatic capture failed; the payment stays authorised");
                        Ok((order, false))
                    }
                },
                None => Ok((order, false)),
            },
            Err(err) => {
                // Give the money back first; the stock and the log follow only once it is.
                if provider.void(&reference).await.is_ok() {
                    return Err(self.fail(&started.checkout, "authorized", err).await);
                }
                Err(err)
            }
        }
    }

    /// Step 1. `Err(order)`: a replay of a completed checkout.
    async fn start(
        &self,
        cart_id: CartId,
        who: Option<CustomerPrincipal>,
        key: &str,
        input: &CheckoutInput,
    ) -> Result<std::result::Result<Started, Order>> {
        let hash = request_hash(input);
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let row = CartService::reachable(&mut c, cart_id, who).await?;
        if let Some(existing) = repo::find_checkout(&mut c, &row.id, key).await? {
            if existing.request_hash != hash {
                return Err(ServiceError::Refused {
                    code: "idempotency_key_reused",
                    field: "Idempotency-Key",
                    message: "this key was used for another checkout request".into(),
                });
            }
            return match existing.step.as_str() {
                "completed" => {
                    let id = existing.order_id.as_deref().ok_or_else(|| ServiceError::stored("checkout order"))?;
                    Ok(Err(load_order(&mut c, id).await?.ok_or_else(|| ServiceError::stored("order"))?))
                }
                "failed" => Err(replayed_error(&existing.error.map(|e| e.0).unwrap_or_default())),
                _ => Err(ServiceError::Conflict {
                    code: "checkout_in_progress",
                    field: "",
                    message: "a checkout with this key is in progress; retry shortly".into(),
                }),
            };
        }
        ensure_active(&row)?;
        let region_locations: Vec<String> = keel_store::regions::list(&mut c, Some(&row.region_id))
            .await?
            .into_iter()
            .next()
            .map(|r| r.location_ids)
            .unwrap_or_default();
        let customer_key = crate::promotions::customer_key(row.customer_id.as_deref(), row.email.as_deref());
        let (cart, applied) = self.carts.priced(&mut c, row.clone()).await?;
        let mut errors = keel_domain::ValidationErrors::new();
        if cart.email.is_none() {
            errors.add("email", "the cart needs an email address");
        }
        if cart.shipping_address.is_none() {
            errors.add("shipping_address", "the cart needs a shipping address");
        }
        if cart.shipping_option_id.is_none() {
            errors.add("shipping_option_id", "choose a shipping method that applies to the cart");
        }
        if cart.lines.is_empty() {
            errors.add("lines", "the cart is empty");
        }
        if cart.lines.iter().any(|l| !l.purchasable) {
            errors.add("lines", "a line has no price in the cart's currency any more; remove it");
        }
        errors.into_result()?;
        // A code the shopper entered that no longer applies (used up, expired meanwhile) stops
        // checkout rather than charging the full price: they remove it or try again.
        if let Some(held) = cart.promotions.iter().find(|p| p.code.is_some() && !p.applied) {
            let code = match held.reason.as_deref() {
                Some("promotion_exhausted") => Some("promotion_exhausted"),
                Some("promotion_expired") => Some("promotion_expired"),
                Some("promotion_limit_reached") => Some("promotion_limit_reached"),
                Some("promotion_not_applicable") => None,
                _ => Some("cart_changed"),
            };
            if let Some(code) = code {
                return Err(ServiceError::Conflict {
                    code,
                    field: "promotions",
                    message: format!(
                        "the code {} no longer applies; remove it or try again",
                        held.code.as_deref().unwrap_or_default()
                    ),
                });
            }
        }
        if input.expected_total.is_some_and(|t| t != cart.total.amount) {
            return Err(ServiceError::Conflict {
                code: "cart_changed",
                field: "expected_total",
                message: format!("the cart now costs {} {}; review it and try again", cart.total.amount, cart.currency),
            });
        }
        let at = now();
        let checkout = repo::CheckoutRow {
            id: keel_domain::CheckoutId::new().to_string(),
            cart_id: row.id.clone(),
            idempotency_key: key.to_string(),
            request_hash: hash,
            provider: input.payment.provider.clone(),
            step: "reserved".into(),
            order_id: None,
            error: None,
            created_at: at,
            updated_at: at,
        };
        repo::insert_checkout(&mut c, &checkout).await.map_err(|e| match e {
            keel_store::StoreError::Conflict { .. } => ServiceError::Conflict {
                code: "checkout_in_progress",
                field: "",
                message: "a checkout with this key is in progress; retry shortly".into(),
            },
            other => other.into(),
        })?;
        let expires = at + chrono::Duration::minutes(RESERVATION_MINUTES);
        let locations = (!region_locations.is_empty()).then_some(region_locations.as_slice());
        let mut reserved_units = 0;
        for line in &cart.lines {
            let reservation = InventoryService::reserve(
                &mut c,
                Owner::Order(&checkout.id),
                line.variant_id,
                i64::from(line.quantity),
                locations,
                Some(expires),
            )
            .await?;
            reserved_units += reservation.map_or(0, |r| r.quantity);
        }
        tx.commit().await?;
        let customer_key = customer_key.unwrap_or_else(|| format!("checkout:{}", checkout.id));
        Ok(Ok(Started { checkout, cart, applied, customer_key, reserved_units }))
    }

    /// Step 2's record: the payment held, the checkout `authorized`.
    async fn authorized(&self, started: &Started, provider: &str, reference: &str) -> Result<repo::PaymentRow> {
        let at = now();
        let payment = repo::PaymentRow {
            id: keel_domain::PaymentId::new().to_string(),
            checkout_id: started.checkout.id.clone(),
            order_id: None,
            provider: provider.to_string(),
            reference: Some(reference.to_string()),
            amount: started.cart.total.amount,
            currency: started.cart.currency.code().to_string(),
            status: "authorized".into(),
            created_at: at,
            updated_at: at,
        };
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        repo::insert_payment(&mut c, &payment).await?;
        let next = repo::CheckoutRow { step: "authorized".into(), updated_at: at, ..started.checkout.clone() };
        if !repo::advance(&mut c, &next, "reserved").await? {
            return Err(ServiceError::Conflict {
                code: "checkout_in_progress",
                field: "",
                message: "this checkout was settled by another process".into(),
            });
        }
        tx.commit().await?;
        Ok(payment)
    }

    /// Step 3: the order, in one transaction.
    async fn place(&self, started: &Started, mut payment: repo::PaymentRow) -> Result<Order> {
        let cart = &started.cart;
        let at = now();
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let number = repo::next_number(&mut c, "order_number").await?;
        let order_id = OrderId::new().to_string();
        let promotions: Vec<Value> = cart
            .promotions
            .iter()
            .filter(|p| p.applied)
            .map(|p| json!({"promotion_id": p.promotion_id, "code": p.code, "name": p.name, "discount": p.discount}))
            .collect();
        let option_name = match &cart.shipping_option_id {
            Some(id) => keel_store::shipping::list(&mut c, Some(&cart.region_id.to_string()))
                .await?
                .into_iter()
                .find(|o| o.id == id.to_string())
                .map(|o| o.name),
            None => None,
        };
        let row = repo::OrderRow {
            id: order_id.clone(),
            number,
            cart_id: cart.id.to_string(),
            customer_id: cart.customer_id.map(|c| c.to_string()),
            email: cart.email.clone().unwrap_or_default(),
            customer_key: started.customer_key.clone(),
            region_id: cart.region_id.to_string(),
            currency: cart.currency.code().to_string(),
            tax_inclusive: cart.tax_inclusive,
            status: "placed".into(),
            payment_status: "authorized".into(),
            subtotal: cart.subtotal.amount,
            discount_total: cart.discount_total.amount,
            shipping_total: cart.shipping_total.amount,
            tax_total: cart.tax_total.amount,
            total: cart.total.amount,
            shipping_address: JsonColumn(cart.shipping_address.clone().unwrap_or_default()),
            billing_address: cart.billing_address.clone().map(JsonColumn),
            shipping: JsonColumn(json!({"option_id": cart.shipping_option_id, "name": option_name,
                "paid": cart.total.amount - cart.lines.iter().map(|l| l.total.amount).sum::<i64>()})),
            promotions: JsonColumn(Value::Array(promotions)),
            fulfillment_status: "not_fulfilled".into(),
            refunded_total: 0,
            shipping_refunded: false,
            created_at: at,
            updated_at: at,
        };
        repo::insert_order(&mut c, &row).await.map_err(|e| match e {
            keel_store::StoreError::Conflict { .. } => ServiceError::Conflict {
                code: "cart_completed",
                field: "",
                message: "this cart has already been checked out".into(),
            },
            other => other.into(),
        })?;
        let lines: Vec<repo::LineRow> = cart
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| repo::LineRow {
                id: keel_domain::OrderLineId::new().to_string(),
                order_id: order_id.clone(),
                position: i32::try_from(i).unwrap_or(i32::MAX),
                variant_id: l.variant_id.to_string(),
                product_id: l.product_id.to_string(),
                title: if l.title.is_empty() || l.title == "Default" {
                    l.product_title.clone()
                } else {
                    format!("{} – {}", l.product_title, l.title)
                },
                sku: l.sku.clone(),
                quantity: i32::try_from(l.quantity).unwrap_or(i32::MAX),
                unit_price: l.unit_price.amount,
                subtotal: l.subtotal.amount,
                discount_total: l.discount_total.amount,
                tax_total: l.tax_total.amount,
                total: l.total.amount,
                fulfilled_quantity: 0,
                refunded_quantity: 0,
                refunded_total: 0,
                returned_quantity: 0,
            })
            .collect();
        repo::insert_lines(&mut c, &lines).await?;
        let sold =
            InventoryService::consume_owner(&mut c, Owner::Order(&started.checkout.id), &format!("order:{order_id}"))
                .await?;
        if sold != started.reserved_units {
            return Err(ServiceError::Conflict {
                code: "reservation_expired",
                field: "",
                message: "the stock held for this checkout was released meanwhile; check out again".into(),
            });
        }
        crate::promotions::redeem(&mut c, &started.applied, &started.customer_key).await?;
        payment.order_id = Some(order_id.clone());
        payment.updated_at = at;
        repo::update_payment(&mut c, &payment).await?;
        let mut cart_row =
            keel_store::carts::find(&mut c, &cart.id.to_string()).await?.ok_or_else(|| ServiceError::stored("cart"))?;
        cart_row.status = "completed".into();
        cart_row.updated_at = at;
        keel_store::carts::update(&mut c, &cart_row).await?;
        let next = repo::CheckoutRow {
            step: "completed".into(),
            order_id: Some(order_id.clone()),
            updated_at: at,
            ..started.checkout.clone()
        };
        if !repo::advance(&mut c, &next, "authorized").await? {
            return Err(ServiceError::Conflict {
                code: "checkout_in_progress",
                field: "",
                message: "this checkout was settled by another process".into(),
            });
        }
        let order = order_view(row, lines)?;
        let data = json!({"order_id": order.id, "number": order.number, "email": order.email,
            "total": order.total, "customer_id": order.customer_id});
        events::record(&mut c, "order.placed", "order", &order_id, data).await?;
        let lines: Vec<Value> = order
            .lines
            .iter()
            .map(|l| json!({"title": l.title, "quantity": l.quantity, "total": l.total.to_string()}))
            .collect();
        let mail = json!({"order_number": order.number.to_string(), "total": order.total.to_string(), "lines": lines});
        let unique = Some(format!("order-confirmation:{order_id}"));
        crate::mail::send_later(&mut c, &order.email, crate::mail::Template::OrderConfirmation, mail, unique).await?;
        crate::documents::render_invoice_later(&mut c, &invoice_of(&order)).await?;
        tx.commit().await?;
        Ok(order)
    }

    /// Compensates a checkout at step `from`: its reservations released, the log `failed` with
    /// the error (answered again to replays). Returns the error to answer.
    async fn fail(&self, checkout: &repo::CheckoutRow, from: &str, err: ServiceError) -> ServiceError {
        let result: Result<()> = async {
            let mut tx = self.db.begin().await?;
            let mut c = tx.conn();
            InventoryService::release_owner(&mut c, Owner::Order(&checkout.id), "checkout failed").await?;
            if let Some(mut payment) = repo::payment_of_checkout(&mut c, &checkout.id).await? {
                payment.status = "voided".into();
                payment.updated_at = now();
                repo::update_payment(&mut c, &payment).await?;
            }
            let next = repo::CheckoutRow {
                step: "failed".into(),
                error: stored_error(&err).map(JsonColumn),
                updated_at: now(),
                ..checkout.clone()
            };
            // Only the process that moves the log compensates; another already did (or the
            // order was placed), so this transaction rolls back.
            if repo::advance(&mut c, &next, from).await? {
                tx.commit().await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            // The recovery job settles it later; the shopper still hears what went wrong.
            tracing::warn!(checkout = %checkout.id, error = %e, "compensation deferred to recovery");
        }
        err
    }

    /// Voids every payment the provider holds for a checkout.
    async fn void_all(
        &self,
        provider: &dyn crate::payments::PaymentProvider,
        checkout_id: &str,
    ) -> Result<(), PaymentError> {
        for payment in provider.find_by_checkout(checkout_id).await? {
            if payment.status == "held" || payment.status == "pending" {
                provider.void(&payment.reference).await?;
            }
        }
        Ok(())
    }

    /// Settles checkouts a crashed process left unfinished for more than `older_than`: voids
    /// what their provider holds and releases their stock. Returns how many it settled. The
    /// worker runs this every minute.
    pub async fn recover(&self, older_than: chrono::Duration) -> Result<usize> {
        let stalled = {
            let mut conn = self.db.read().await?;
            repo::stalled(&mut conn.conn(), now() - older_than, 100).await?
        };
        let mut settled = 0;
        for checkout in stalled {
            // Take it over first, so a live process that was only slow notices and backs off.
            let claimed = {
                let mut tx = self.db.begin().await?;
                let claimed = repo::claim(&mut tx.conn(), &checkout.id, &checkout.step, now()).await?;
                tx.commit().await?;
                claimed
            };
            if !claimed {
                continue;
            }
            let voided = match self.providers.payment(&checkout.provider) {
                Some(provider) => self.void_all(provider, &checkout.id).await,
                None => Err(PaymentError::Unavailable(format!("provider {} is not installed", checkout.provider))),
            };
            if let Err(e) = voided {
                tracing::warn!(checkout = %checkout.id, error = %e, "cannot settle an interrupted checkout yet");
                continue;
            }
            let err = ServiceError::Unavailable("the checkout was interrupted; nothing was charged".into());
            self.fail(&checkout, "recovering", err).await;
            settled += 1;
        }
        Ok(settled)
    }

    /// An order for its owner: the customer who placed it, or (for a guest order) whoever knows
    /// its id and email. Anyone else gets 404.
    pub async fn order(&self, id: OrderId, who: Option<CustomerPrincipal>, email: Option<&str>) -> Result<Order> {
        let mut conn = self.db.read().await?;
        let order =
            load_order(&mut conn.conn(), &id.to_string()).await?.ok_or(ServiceError::NotFound { entity: "order" })?;
        let mine = match order.customer_id {
            Some(owner) => who.is_some_and(|w| w.customer_id == owner),
            None => email.is_some_and(|e| e.trim().eq_ignore_ascii_case(&order.email)),
        };
        if mine { Ok(order) } else { Err(ServiceError::NotFound { entity: "order" }) }
    }

    /// An order's invoice PDF, for whoever may read the order (see [`Self::order`]). 404 until
    /// the worker has rendered it (moments after the order is placed).
    pub async fn invoice(&self, id: OrderId, who: Option<CustomerPrincipal>, email: Option<&str>) -> Result<Vec<u8>> {
        let order = self.order(id, who, email).await?;
        let key = crate::documents::invoice_key(&order.number.to_string());
        self.files
            .get(&key)
            .await
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?
            .ok_or(ServiceError::NotFound { entity: "invoice (it is being prepared; retry shortly)" })
    }

    /// A customer's orders, newest first.
    pub async fn orders_of(&self, who: CustomerPrincipal, before: Option<OrderId>, limit: u64) -> Result<Vec<Order>> {
        let mut conn = self.db.read().await?;
        let mut c = conn.conn();
        let before = before.map(|b| b.to_string());
        let rows = repo::orders_of(&mut c, &who.customer_id.to_string(), before.as_deref(), limit).await?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut lines = repo::lines_of(&mut c, &ids).await?;
        rows.into_iter()
            .map(|r| {
                let (mine, rest): (Vec<_>, Vec<_>) = lines.drain(..).partition(|l| l.order_id == r.id);
                lines = rest;
                order_view(r, mine)
            })
            .collect()
    }
}
