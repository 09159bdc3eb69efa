//! Orders and their lines, payments, and the checkout saga's log.

use crate::{Conn, Result};
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Func, Iden, Order, Query};
use sqlx::types::Json;

#[derive(Iden)]
enum Sequences {
    Table,
    Name,
    Value,
}

#[derive(Iden, Clone, Copy)]
enum Orders {
    Table,
    Id,
    Number,
    CartId,
    CustomerId,
    Email,
    CustomerKey,
    RegionId,
    Currency,
    TaxInclusive,
    Status,
    PaymentStatus,
    Subtotal,
    DiscountTotal,
    ShippingTotal,
    TaxTotal,
    Total,
    ShippingAddress,
    BillingAddress,
    Shipping,
    Promotions,
    FulfillmentStatus,
    RefundedTotal,
    ShippingRefunded,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum OrderLines {
    Table,
    Id,
    OrderId,
    Position,
    VariantId,
    ProductId,
    Title,
    Sku,
    Quantity,
    UnitPrice,
    Subtotal,
    DiscountTotal,
    TaxTotal,
    Total,
    FulfilledQuantity,
    RefundedQuantity,
    RefundedTotal,
    ReturnedQuantity,
}

#[derive(Iden)]
enum Payments {
    Table,
    Id,
    CheckoutId,
    OrderId,
    Provider,
    Reference,
    Amount,
    Currency,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum Checkouts {
    Table,
    Id,
    CartId,
    IdempotencyKey,
    RequestHash,
    Provider,
    Step,
    OrderId,
    Error,
    CreatedAt,
    UpdatedAt,
}

/// The next number of a sequence (one conditional increment: concurrent callers get distinct
/// numbers, and a rolled-back transaction gives its number back).
pub async fn next_number(c: &mut Conn<'_>, name: &str) -> Result<i64> {
    #[derive(sqlx::FromRow)]
    struct Row {
        value: i64,
    }
    let stmt = Query::update()
        .table(Sequences::Table)
        .value(Sequences::Value, Expr::col(Sequences::Value).add(1))
        .and_where(Expr::col(Sequences::Name).eq(name))
        .returning(Query::returning().column(Sequences::Value))
        .to_owned();
    let row: Option<Row> = c.fetch_optional(&stmt).await?;
    row.map(|r| r.value).ok_or_else(|| crate::StoreError::Corrupt(format!("no sequence {name}")))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub id: String,
    pub number: i64,
    pub cart_id: String,
    pub customer_id: Option<String>,
    pub email: String,
    /// Whom its promotion redemptions were counted against.
    pub customer_key: String,
    pub region_id: String,
    pub currency: String,
    pub tax_inclusive: bool,
    pub status: String,
    pub payment_status: String,
    pub subtotal: i64,
    pub discount_total: i64,
    pub shipping_total: i64,
    pub tax_total: i64,
    pub total: i64,
    pub shipping_address: Json<serde_json::Value>,
    pub billing_address: Option<Json<serde_json::Value>>,
    /// The chosen option: `{option_id, name, paid}` (`paid`: what the shopper paid for it, after
    /// its discount and with its tax).
    pub shipping: Json<serde_json::Value>,
    /// The promotions that applied: `[{promotion_id, code, name, discount}]`.
    pub promotions: Json<serde_json::Value>,
    /// `not_fulfilled`, `partially_fulfilled`, `fulfilled`.
    pub fulfillment_status: String,
    pub refunded_total: i64,
    pub shipping_refunded: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ORDER_COLUMNS: [Orders; 25] = [
    Orders::Id,
    Orders::Number,
    Orders::CartId,
    Orders::CustomerId,
    Orders::Email,
    Orders::CustomerKey,
    Orders::RegionId,
    Orders::Currency,
    Orders::TaxInclusive,
    Orders::Status,
    Orders::PaymentStatus,
    Orders::Subtotal,
    Orders::DiscountTotal,
    Orders::ShippingTotal,
    Orders::TaxTotal,
    Orders::Total,
    Orders::ShippingAddress,
    Orders::BillingAddress,
    Orders::Shipping,
    Orders::Promotions,
    Orders::FulfillmentStatus,
    Orders::RefundedTotal,
    Orders::ShippingRefunded,
    Orders::CreatedAt,
    Orders::UpdatedAt,
];

pub async fn insert_order(c: &mut Conn<'_>, o: &OrderRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(Orders::Table)
        .columns(ORDER_COLUMNS)
        .values_panic([
            o.id.clone().into(),
            o.number.into(),
            o.cart_id.clone().into(),
            o.customer_id.clone().into(),
            o.email.clone().into(),
            o.customer_key.clone().into(),
            o.region_id.clone().into(),
            o.currency.clone().into(),
            o.tax_inclusive.into(),
            o.status.clone().into(),
            o.payment_status.clone().into(),
            o.subtotal.into(),
            o.discount_total.into(),
            o.shipping_total.into(),
            o.tax_total.into(),
            o.total.into(),
            o.shipping_address.0.clone().into(),
            o.billing_address.as_ref().map(|a| a.0.clone()).into(),
            o.shipping.0.clone().into(),
            o.promotions.0.clone().into(),
            o.fulfillment_status.clone().into(),
            o.refunded_total.into(),
            o.shipping_refunded.into(),
            o.created_at.into(),
            o.updated_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

fn select_orders() -> sea_query::SelectStatement {
    Query::select().columns(ORDER_COLUMNS).from(Orders::Table).to_owned()
}

pub async fn find_order(c: &mut Conn<'_>, id: &str) -> Result<Option<OrderRow>> {
    c.fetch_optional(&select_orders().and_where(Expr::col(Orders::Id).eq(id)).to_owned()).await
}

/// A customer's orders, newest first, before the id `before`.
pub async fn orders_of(c: &mut Conn<'_>, customer_id: &str, before: Option<&str>, limit: u64) -> Result<Vec<OrderRow>> {
    let mut q = select_orders()
        .and_where(Expr::col(Orders::CustomerId).eq(customer_id))
        .order_by(Orders::Id, Order::Desc)
        .limit(limit)
        .to_owned();
    if let Some(id) = before {
        q.and_where(Expr::col(Orders::Id).lt(id));
    }
    c.fetch_all(&q).await
}

pub async fn set_payment_status(c: &mut Conn<'_>, id: &str, status: &str, at: DateTime<Utc>) -> Result<bool> {
    let stmt = Query::update()
        .table(Orders::Table)
        .values([(Orders::PaymentStatus, status.into()), (Orders::UpdatedAt, at.into())])
        .and_where(Expr::col(Orders::Id).eq(id))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LineRow {
    pub id: String,
    pub order_id: String,
    pub position: i32,
    pub variant_id: String,
    pub product_id: String,
    pub title: String,
    pub sku: String,
    pub quantity: i32,
    pub unit_price: i64,
    pub subtotal: i64,
    pub discount_total: i64,
    pub tax_total: i64,
    pub total: i64,
    pub fulfilled_quantity: i32,
    pub refunded_quantity: i32,
    pub refunded_total: i64,
    pub returned_quantity: i32,
}

const LINE_COLUMNS: [OrderLines; 17] = [
    OrderLines::Id,
    OrderLines::OrderId,
    OrderLines::Position,
    OrderLines::VariantId,
    OrderLines::ProductId,
    OrderLines::Title,
    OrderLines::Sku,
    OrderLines::Quantity,
    OrderLines::UnitPrice,
    OrderLines::Subtotal,
    OrderLines::DiscountTotal,
    OrderLines::TaxTotal,
    OrderLines::Total,
    OrderLines::FulfilledQuantity,
    OrderLines::RefundedQuantity,
    OrderLines::RefundedTotal,
    OrderLines::ReturnedQuantity,
];

pub async fn insert_lines(c: &mut Conn<'_>, lines: &[LineRow]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut stmt = Query::insert().into_table(OrderLines::Table).columns(LINE_COLUMNS).to_owned();
    for l in lines {
        stmt.values_panic([
            l.id.clone().into(),
            l.order_id.clone().into(),
            l.position.into(),
            l.variant_id.clone().into(),
            l.product_id.clone().into(),
            l.title.clone().into(),
            l.sku.clone().into(),
            l.quantity.into(),
            l.unit_price.into(),
            l.subtotal.into(),
            l.discount_total.into(),
            l.tax_total.into(),
            l.total.into(),
            l.fulfilled_quantity.into(),
            l.refunded_quantity.into(),
            l.refunded_total.into(),
            l.returned_quantity.into(),
        ]);
    }
    c.execute(&stmt).await?;
    Ok(())
}

/// The lines of these orders, in order and position.
pub async fn lines_of(c: &mut Conn<'_>, order_ids: &[String]) -> Result<Vec<LineRow>> {
    if order_ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .columns(LINE_COLUMNS)
        .from(OrderLines::Table)
        .and_where(Expr::col(OrderLines::OrderId).is_in(order_ids.iter().cloned()))
        .order_by(OrderLines::OrderId, Order::Asc)
        .order_by(OrderLines::Position, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: String,
    pub checkout_id: String,
    pub order_id: Option<String>,
    pub provider: String,
    /// The provider's id for it (a payment intent), once it has one.
    pub reference: Option<String>,
    pub amount: i64,
    pub currency: String,
    /// `authorized`, `captured`, `voided`, `failed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const PAYMENT_COLUMNS: [Payments; 10] = [
    Payments::Id,
    Payments::CheckoutId,
    Payments::OrderId,
    Payments::Provider,
    Payments::Reference,
    Payments::Amount,
    Payments::Currency,
    Payments::Status,
    Payments::CreatedAt,
    Payments::UpdatedAt,
];

pub async fn insert_payment(c: &mut Conn<'_>, p: &PaymentRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(Payments::Table)
        .columns(PAYMENT_COLUMNS)
        .values_panic([
            p.id.clone().into(),
            p.checkout_id.clone().into(),
            p.order_id.clone().into(),
            p.provider.clone().into(),
            p.reference.clone().into(),
            p.amount.into(),
            p.currency.clone().into(),
            p.status.clone().into(),
            p.created_at.into(),
            p.updated_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn update_payment(c: &mut Conn<'_>, p: &PaymentRow) -> Result<bool> {
    let stmt = Query::update()
        .table(Payments::Table)
        .values([
            (Payments::OrderId, p.order_id.clone().into()),
            (Payments::Reference, p.reference.clone().into()),
            (Payments::Amount, p.amount.into()),
            (Payments::Status, p.status.clone().into()),
            (Payments::UpdatedAt, p.updated_at.into()),
        ])
        .and_where(Expr::col(Payments::Id).eq(p.id.clone()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn payment_of_checkout(c: &mut Conn<'_>, checkout_id: &str) -> Result<Option<PaymentRow>> {
    let q = Query::select()
        .columns(PAYMENT_COLUMNS)
        .from(Payments::Table)
        .and_where(Expr::col(Payments::CheckoutId).eq(checkout_id))
        .to_owned();
    c.fetch_optional(&q).await
}

pub async fn payments_of_order(c: &mut Conn<'_>, order_id: &str) -> Result<Vec<PaymentRow>> {
    let q = Query::select()
        .columns(PAYMENT_COLUMNS)
        .from(Payments::Table)
        .and_where(Expr::col(Payments::OrderId).eq(order_id))
        .order_by(Payments::Id, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckoutRow {
    pub id: String,
    pub cart_id: String,
    pub idempotency_key: String,
    pub request_hash: String,
    /// The payment provider it uses.
    pub provider: String,
    /// `started` → `reserved` → `authorized` → `completed`; or `failed` (compensated).
    pub step: String,
    pub order_id: Option<String>,
    /// For `failed`: `{status, code, message}` to answer replays with.
    pub error: Option<Json<serde_json::Value>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CHECKOUT_COLUMNS: [Checkouts; 10] = [
    Checkouts::Id,
    Checkouts::CartId,
    Checkouts::IdempotencyKey,
    Checkouts::RequestHash,
    Checkouts::Provider,
    Checkouts::Step,
    Checkouts::OrderId,
    Checkouts::Error,
    Checkouts::CreatedAt,
    Checkouts::UpdatedAt,
];

pub async fn insert_checkout(c: &mut Conn<'_>, r: &CheckoutRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(Checkouts::Table)
        .columns(CHECKOUT_COLUMNS)
        .values_panic([
            r.id.clone().into(),
            r.cart_id.clone().into(),
            r.idempotency_key.clone().into(),
            r.request_hash.clone().into(),
            r.provider.clone().into(),
            r.step.clone().into(),
            r.order_id.clone().into(),
            r.error.as_ref().map(|e| e.0.clone()).into(),
            r.created_at.into(),
            r.updated_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn find_checkout(c: &mut Conn<'_>, cart_id: &str, key: &str) -> Result<Option<CheckoutRow>> {
    let q = Query::select()
        .columns(CHECKOUT_COLUMNS)
        .from(Checkouts::Table)
        .and_where(Expr::col(Checkouts::CartId).eq(cart_id))
        .and_where(Expr::col(Checkouts::IdempotencyKey).eq(key))
        .to_owned();
    c.fetch_optional(&q).await
}

/// Moves a checkout from step `from` to `to` (false: it was not at `from`, so another process
/// moved it first).
pub async fn advance(c: &mut Conn<'_>, r: &CheckoutRow, from: &str) -> Result<bool> {
    let stmt = Query::update()
        .table(Checkouts::Table)
        .values([
            (Checkouts::Step, r.step.clone().into()),
            (Checkouts::OrderId, r.order_id.clone().into()),
            (Checkouts::Error, r.error.as_ref().map(|e| e.0.clone()).into()),
            (Checkouts::UpdatedAt, r.updated_at.into()),
        ])
        .and_where(Expr::col(Checkouts::Id).eq(r.id.clone()))
        .and_where(Expr::col(Checkouts::Step).eq(from))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Checkouts left in an unfinished step since before `before` (a crashed process), oldest first.
pub async fn stalled(c: &mut Conn<'_>, before: DateTime<Utc>, limit: u64) -> Result<Vec<CheckoutRow>> {
    let q = Query::select()
        .columns(CHECKOUT_COLUMNS)
        .from(Checkouts::Table)
        .and_where(Expr::col(Checkouts::Step).is_in(["started", "reserved", "authorized", "recovering"]))
        .and_where(Expr::col(Checkouts::UpdatedAt).lt(before))
        .order_by(Checkouts::UpdatedAt, Order::Asc)
        .limit(limit)
        .to_owned();
    c.fetch_all(&q).await
}

/// Admin order search: newest first, before the id `before`; by status and by (part of) email.
/// When orders were placed: from (inclusive) and to (exclusive), either open.
#[derive(Debug, Clone, Copy, Default)]
pub struct Placed {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl Placed {
    fn apply(&self, q: &mut sea_query::SelectStatement) {
        if let Some(from) = self.from {
            q.and_where(Expr::col(Orders::CreatedAt).gte(from));
        }
        if let Some(to) = self.to {
            q.and_where(Expr::col(Orders::CreatedAt).lt(to));
        }
    }
}

pub async fn search(
    c: &mut Conn<'_>,
    status: Option<&str>,
    email: Option<&str>,
    placed: Placed,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<OrderRow>> {
    let mut q = select_orders().order_by(Orders::Id, Order::Desc).limit(limit).to_owned();
    placed.apply(&mut q);
    if let Some(status) = status {
        q.and_where(Expr::col(Orders::Status).eq(status));
    }
    if let Some(email) = email {
        let pattern = format!("%{}%", crate::catalog::escape_like(&email.to_ascii_lowercase()));
        q.and_where(Expr::col(Orders::Email).like(sea_query::LikeExpr::new(pattern).escape('\\')));
    }
    if let Some(id) = before {
        q.and_where(Expr::col(Orders::Id).lt(id));
    }
    c.fetch_all(&q).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SummaryRow {
    pub currency: String,
    pub orders: i64,
    pub revenue: i64,
    pub refunded: i64,
}

/// Orders placed in the period and what they brought in, per currency (canceled orders left out).
pub async fn summary(c: &mut Conn<'_>, placed: Placed) -> Result<Vec<SummaryRow>> {
    let bigint = || sea_query::Alias::new("BIGINT");
    let mut q = Query::select()
        .column(Orders::Currency)
        .expr_as(Expr::col(Orders::Id).count(), "orders")
        .expr_as(Func::cast_as(Func::coalesce([Expr::col(Orders::Total).sum(), Expr::val(0)]), bigint()), "revenue")
        .expr_as(
            Func::cast_as(Func::coalesce([Expr::col(Orders::RefundedTotal).sum(), Expr::val(0)]), bigint()),
            "refunded",
        )
        .from(Orders::Table)
        .and_where(Expr::col(Orders::Status).ne("canceled"))
        .group_by_col(Orders::Currency)
        .order_by(Orders::Currency, Order::Asc)
        .to_owned();
    placed.apply(&mut q);
    c.fetch_all(&q).await
}

/// Moves an order from status `from` to `to` (false: it was not at `from`).
pub async fn transition(c: &mut Conn<'_>, id: &str, from: &str, to: &str, at: DateTime<Utc>) -> Result<bool> {
    let stmt = Query::update()
        .table(Orders::Table)
        .values([(Orders::Status, to.into()), (Orders::UpdatedAt, at.into())])
        .and_where(Expr::col(Orders::Id).eq(id))
        .and_where(Expr::col(Orders::Status).eq(from))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Counts `quantity` more of a line as shipped, if that does not pass the line's quantity.
pub async fn fulfill_line(c: &mut Conn<'_>, order_id: &str, line_id: &str, quantity: i32) -> Result<bool> {
    let stmt = Query::update()
        .table(OrderLines::Table)
        .value(OrderLines::FulfilledQuantity, Expr::col(OrderLines::FulfilledQuantity).add(quantity))
        .and_where(Expr::col(OrderLines::Id).eq(line_id))
        .and_where(Expr::col(OrderLines::OrderId).eq(order_id))
        .and_where(Expr::col(OrderLines::FulfilledQuantity).add(quantity).lte(Expr::col(OrderLines::Quantity)))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Counts `quantity` units and `amount` of a line as refunded, if neither passes the line's.
pub async fn refund_line(c: &mut Conn<'_>, order_id: &str, line_id: &str, quantity: i32, amount: i64) -> Result<bool> {
    let stmt = Query::update()
        .table(OrderLines::Table)
        .values([
            (OrderLines::RefundedQuantity, Expr::col(OrderLines::RefundedQuantity).add(quantity)),
            (OrderLines::RefundedTotal, Expr::col(OrderLines::RefundedTotal).add(amount)),
        ])
        .and_where(Expr::col(OrderLines::Id).eq(line_id))
        .and_where(Expr::col(OrderLines::OrderId).eq(order_id))
        .and_where(Expr::col(OrderLines::RefundedQuantity).add(quantity).lte(Expr::col(OrderLines::Quantity)))
        .and_where(Expr::col(OrderLines::RefundedTotal).add(amount).lte(Expr::col(OrderLines::Total)))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Adds a refund to the order's total refunded (and marks its shipping refunded), if that does
/// not pass what was paid or refund the shipping twice.
/// `cap`: what was captured (never refund more than that).
pub async fn add_refunded(
    c: &mut Conn<'_>,
    order_id: &str,
    amount: i64,
    shipping: bool,
    cap: i64,
    at: DateTime<Utc>,
) -> Result<bool> {
    let mut stmt = Query::update()
        .table(Orders::Table)
        .values([
            (Orders::RefundedTotal, Expr::col(Orders::RefundedTotal).add(amount)),
            (Orders::UpdatedAt, Expr::val(at)),
        ])
        .and_where(Expr::col(Orders::Id).eq(order_id))
        .and_where(Expr::col(Orders::RefundedTotal).add(amount).lte(Expr::col(Orders::Total)))
        .and_where(Expr::col(Orders::RefundedTotal).add(amount).lte(cap))
        .to_owned();
    if shipping {
        stmt.value(Orders::ShippingRefunded, true);
        stmt.and_where(Expr::col(Orders::ShippingRefunded).eq(false));
    }
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn set_fulfillment_status(c: &mut Conn<'_>, order_id: &str, status: &str, at: DateTime<Utc>) -> Result<()> {
    let stmt = Query::update()
        .table(Orders::Table)
        .values([(Orders::FulfillmentStatus, status.into()), (Orders::UpdatedAt, at.into())])
        .and_where(Expr::col(Orders::Id).eq(order_id))
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

#[derive(Iden)]
enum Fulfillments {
    Table,
    Id,
    OrderId,
    LocationId,
    Status,
    Carrier,
    TrackingNumber,
    Lines,
    CreatedAt,
    DeliveredAt,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FulfillmentRow {
    pub id: String,
    pub order_id: String,
    pub location_id: Option<String>,
    /// `shipped`, `delivered`.
    pub status: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// `[{line_id, quantity}]`.
    pub lines: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

const FULFILLMENT_COLUMNS: [Fulfillments; 9] = [
    Fulfillments::Id,
    Fulfillments::OrderId,
    Fulfillments::LocationId,
    Fulfillments::Status,
    Fulfillments::Carrier,
    Fulfillments::TrackingNumber,
    Fulfillments::Lines,
    Fulfillments::CreatedAt,
    Fulfillments::DeliveredAt,
];

pub async fn insert_fulfillment(c: &mut Conn<'_>, f: &FulfillmentRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(Fulfillments::Table)
        .columns(FULFILLMENT_COLUMNS)
        .values_panic([
            f.id.clone().into(),
            f.order_id.clone().into(),
            f.location_id.clone().into(),
            f.status.clone().into(),
            f.carrier.clone().into(),
            f.tracking_number.clone().into(),
            f.lines.0.clone().into(),
            f.created_at.into(),
            f.delivered_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn fulfillments_of(c: &mut Conn<'_>, order_id: &str) -> Result<Vec<FulfillmentRow>> {
    let q = Query::select()
        .columns(FULFILLMENT_COLUMNS)
        .from(Fulfillments::Table)
        .and_where(Expr::col(Fulfillments::OrderId).eq(order_id))
        .order_by(Fulfillments::Id, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

/// Marks a shipped fulfillment delivered (false: no such shipped fulfillment of this order).
pub async fn deliver(c: &mut Conn<'_>, order_id: &str, id: &str, at: DateTime<Utc>) -> Result<bool> {
    let stmt = Query::update()
        .table(Fulfillments::Table)
        .values([(Fulfillments::Status, "delivered".into()), (Fulfillments::DeliveredAt, at.into())])
        .and_where(Expr::col(Fulfillments::Id).eq(id))
        .and_where(Expr::col(Fulfillments::OrderId).eq(order_id))
        .and_where(Expr::col(Fulfillments::Status).eq("shipped"))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

#[derive(Iden)]
enum Refunds {
    Table,
    Id,
    OrderId,
    PaymentId,
    Amount,
    Reason,
    Lines,
    Shipping,
    Reference,
    Status,
    CreatedAt,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefundRow {
    pub id: String,
    pub order_id: String,
    pub payment_id: String,
    pub amount: i64,
    pub reason: Option<String>,
    /// `[{line_id, quantity, amount}]`.
    pub lines: Json<serde_json::Value>,
    pub shipping: bool,
    /// The provider's id for it.
    pub reference: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

const REFUND_COLUMNS: [Refunds; 10] = [
    Refunds::Id,
    Refunds::OrderId,
    Refunds::PaymentId,
    Refunds::Amount,
    Refunds::Reason,
    Refunds::Lines,
    Refunds::Shipping,
    Refunds::Reference,
    Refunds::Status,
    Refunds::CreatedAt,
];

pub async fn insert_refund(c: &mut Conn<'_>, r: &RefundRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(Refunds::Table)
        .columns(REFUND_COLUMNS)
        .values_panic([
            r.id.clone().into(),
            r.order_id.clone().into(),
            r.payment_id.clone().into(),
            r.amount.into(),
            r.reason.clone().into(),
            r.lines.0.clone().into(),
            r.shipping.into(),
            r.reference.clone().into(),
            r.status.clone().into(),
            r.created_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn refunds_of(c: &mut Conn<'_>, order_id: &str) -> Result<Vec<RefundRow>> {
    let q = Query::select()
        .columns(REFUND_COLUMNS)
        .from(Refunds::Table)
        .and_where(Expr::col(Refunds::OrderId).eq(order_id))
        .order_by(Refunds::Id, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

/// Records how a pending refund ended.
pub async fn settle_refund(c: &mut Conn<'_>, id: &str, status: &str, reference: Option<&str>) -> Result<()> {
    let stmt = Query::update()
        .table(Refunds::Table)
        .values([(Refunds::Status, status.into()), (Refunds::Reference, reference.map(str::to_string).into())])
        .and_where(Expr::col(Refunds::Id).eq(id))
        .and_where(Expr::col(Refunds::Status).eq("pending"))
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Moves a line's refund counters back (`quantity` and `amount` are negative).
pub async fn unrefund_line(c: &mut Conn<'_>, order_id: &str, line_id: &str, quantity: i32, amount: i64) -> Result<()> {
    let stmt = Query::update()
        .table(OrderLines::Table)
        .values([
            (OrderLines::RefundedQuantity, Expr::col(OrderLines::RefundedQuantity).add(quantity)),
            (OrderLines::RefundedTotal, Expr::col(OrderLines::RefundedTotal).add(amount)),
        ])
        .and_where(Expr::col(OrderLines::Id).eq(line_id))
        .and_where(Expr::col(OrderLines::OrderId).eq(order_id))
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Moves an order's refunded total back after a refund failed.
pub async fn unrefund_order(
    c: &mut Conn<'_>,
    order_id: &str,
    amount: i64,
    shipping: bool,
    at: DateTime<Utc>,
) -> Result<()> {
    let mut stmt = Query::update()
        .table(Orders::Table)
        .values([
            (Orders::RefundedTotal, Expr::col(Orders::RefundedTotal).sub(amount)),
            (Orders::UpdatedAt, Expr::val(at)),
        ])
        .and_where(Expr::col(Orders::Id).eq(order_id))
        .to_owned();
    if shipping {
        stmt.value(Orders::ShippingRefunded, false);
    }
    c.execute(&stmt).await?;
    Ok(())
}

#[derive(Iden)]
enum ProviderEvents {
    Table,
    Provider,
    EventId,
    ReceivedAt,
}

/// Records a provider's webhook event as handled; false if it already was.
pub async fn first_delivery(c: &mut Conn<'_>, provider: &str, event_id: &str, at: DateTime<Utc>) -> Result<bool> {
    let stmt = Query::insert()
        .into_table(ProviderEvents::Table)
        .columns([ProviderEvents::Provider, ProviderEvents::EventId, ProviderEvents::ReceivedAt])
        .values_panic([provider.into(), event_id.into(), at.into()])
        .on_conflict(
            sea_query::OnConflict::columns([ProviderEvents::Provider, ProviderEvents::EventId]).do_nothing().to_owned(),
        )
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// The payment a provider knows by `reference`.
pub async fn payment_by_reference(c: &mut Conn<'_>, provider: &str, reference: &str) -> Result<Option<PaymentRow>> {
    let q = Query::select()
        .columns(PAYMENT_COLUMNS)
        .from(Payments::Table)
        .and_where(Expr::col(Payments::Provider).eq(provider))
        .and_where(Expr::col(Payments::Reference).eq(reference))
        .to_owned();
    c.fetch_optional(&q).await
}

/// Takes a stalled checkout over for recovery: moves it from `from` to `recovering` (false: a
/// live process or another recoverer moved it first).
pub async fn claim(c: &mut Conn<'_>, id: &str, from: &str, at: DateTime<Utc>) -> Result<bool> {
    let stmt = Query::update()
        .table(Checkouts::Table)
        .values([(Checkouts::Step, "recovering".into()), (Checkouts::UpdatedAt, at.into())])
        .and_where(Expr::col(Checkouts::Id).eq(id))
        .and_where(Expr::col(Checkouts::Step).eq(from))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Counts `quantity` more of a line as returned, if that does not pass what was shipped.
pub async fn return_line(c: &mut Conn<'_>, order_id: &str, line_id: &str, quantity: i32) -> Result<bool> {
    let stmt = Query::update()
        .table(OrderLines::Table)
        .value(OrderLines::ReturnedQuantity, Expr::col(OrderLines::ReturnedQuantity).add(quantity))
        .and_where(Expr::col(OrderLines::Id).eq(line_id))
        .and_where(Expr::col(OrderLines::OrderId).eq(order_id))
        .and_where(Expr::col(OrderLines::ReturnedQuantity).add(quantity).lte(Expr::col(OrderLines::FulfilledQuantity)))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

#[derive(Iden)]
enum Returns {
    Table,
    Id,
    OrderId,
    Status,
    Lines,
    Reason,
    CreatedAt,
    ReceivedAt,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReturnRow {
    pub id: String,
    pub order_id: String,
    /// `requested`, `received`.
    pub status: String,
    /// `[{line_id, quantity}]`.
    pub lines: Json<serde_json::Value>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
}

const RETURN_COLUMNS: [Returns; 7] = [
    Returns::Id,
    Returns::OrderId,
    Returns::Status,
    Returns::Lines,
    Returns::Reason,
    Returns::CreatedAt,
    Returns::ReceivedAt,
];

pub async fn insert_return(c: &mut Conn<'_>, r: &ReturnRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(Returns::Table)
        .columns(RETURN_COLUMNS)
        .values_panic([
            r.id.clone().into(),
            r.order_id.clone().into(),
            r.status.clone().into(),
            r.lines.0.clone().into(),
            r.reason.clone().into(),
            r.created_at.into(),
            r.received_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn returns_of(c: &mut Conn<'_>, order_id: &str) -> Result<Vec<ReturnRow>> {
    let q = Query::select()
        .columns(RETURN_COLUMNS)
        .from(Returns::Table)
        .and_where(Expr::col(Returns::OrderId).eq(order_id))
        .order_by(Returns::Id, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

/// Marks a requested return received (false: no such requested return on this order).
pub async fn receive_return(
    c: &mut Conn<'_>,
    order_id: &str,
    id: &str,
    at: DateTime<Utc>,
) -> Result<Option<ReturnRow>> {
    let stmt = Query::update()
        .table(Returns::Table)
        .values([(Returns::Status, "received".into()), (Returns::ReceivedAt, at.into())])
        .and_where(Expr::col(Returns::Id).eq(id))
        .and_where(Expr::col(Returns::OrderId).eq(order_id))
        .and_where(Expr::col(Returns::Status).eq("requested"))
        .returning(Query::returning().columns(RETURN_COLUMNS))
        .to_owned();
    c.fetch_optional(&stmt).await
}

/// Saves an edited line's quantity and amounts (before it ships: nothing counted on it yet), if
/// it still holds `was` units.
pub async fn update_line_amounts(c: &mut Conn<'_>, l: &LineRow, was: i32) -> Result<bool> {
    let stmt = Query::update()
        .table(OrderLines::Table)
        .values([
            (OrderLines::Quantity, l.quantity.into()),
            (OrderLines::Subtotal, l.subtotal.into()),
            (OrderLines::DiscountTotal, l.discount_total.into()),
            (OrderLines::TaxTotal, l.tax_total.into()),
            (OrderLines::Total, l.total.into()),
        ])
        .and_where(Expr::col(OrderLines::Id).eq(l.id.clone()))
        .and_where(Expr::col(OrderLines::Quantity).eq(was))
        .and_where(Expr::col(OrderLines::FulfilledQuantity).eq(0))
        .and_where(Expr::col(OrderLines::RefundedQuantity).eq(0))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn delete_line(c: &mut Conn<'_>, order_id: &str, line_id: &str) -> Result<bool> {
    let stmt = Query::delete()
        .from_table(OrderLines::Table)
        .and_where(Expr::col(OrderLines::Id).eq(line_id))
        .and_where(Expr::col(OrderLines::OrderId).eq(order_id))
        .and_where(Expr::col(OrderLines::FulfilledQuantity).eq(0))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Saves an edited order's amounts, if it has neither shipped nor been refunded meanwhile.
pub async fn update_totals(c: &mut Conn<'_>, o: &OrderRow) -> Result<bool> {
    let stmt = Query::update()
        .table(Orders::Table)
        .values([
            (Orders::Subtotal, o.subtotal.into()),
            (Orders::DiscountTotal, o.discount_total.into()),
            (Orders::TaxTotal, o.tax_total.into()),
            (Orders::Total, o.total.into()),
            (Orders::UpdatedAt, o.updated_at.into()),
        ])
        .and_where(Expr::col(Orders::Id).eq(o.id.clone()))
        .and_where(Expr::col(Orders::Status).eq("placed"))
        .and_where(Expr::col(Orders::FulfillmentStatus).eq("not_fulfilled"))
        .and_where(Expr::col(Orders::RefundedTotal).eq(0))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Takes the order's row lock for the rest of the transaction (PostgreSQL; SQLite serialises
/// writers anyway), so staff actions on one order run one after another.
pub async fn lock_order(c: &mut Conn<'_>, id: &str, at: DateTime<Utc>) -> Result<bool> {
    let stmt = Query::update()
        .table(Orders::Table)
        .value(Orders::UpdatedAt, at)
        .and_where(Expr::col(Orders::Id).eq(id))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Moves a payment from status `from` to `to` (false: it was not at `from`).
pub async fn payment_transition(c: &mut Conn<'_>, id: &str, from: &str, to: &str, at: DateTime<Utc>) -> Result<bool> {
    let stmt = Query::update()
        .table(Payments::Table)
        .values([(Payments::Status, to.into()), (Payments::UpdatedAt, at.into())])
        .and_where(Expr::col(Payments::Id).eq(id))
        .and_where(Expr::col(Payments::Status).eq(from))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}
