//! Orders after checkout, for staff: search, detail with payments and a timeline, capture and
//! cancel. Money moves at the provider first (idempotently: its keys derive from Keel's ids) and
//! is recorded after, with the order's change, its stock and its event in one transaction.

use crate::checkout::{Order, load_order};
use crate::inventory::InventoryService;
use crate::payments::PaymentError;
use crate::providers::Providers;
use crate::{Result, ServiceError, events, now};
use chrono::{DateTime, Utc};
use keel_domain::{
    Currency, FulfillmentId, Money, OrderId, OrderLineId, PaymentId, RefundId, ReturnId, StockLocationId,
};
use keel_store::{Db, orders as repo};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct Payment {
    pub id: PaymentId,
    pub provider: String,
    /// The provider's id for it.
    pub reference: Option<String>,
    pub amount: Money,
    /// `authorized` (`capturing` while the provider captures), `captured`, `voided`, `refunded`.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// One thing that happened to an order (its events, oldest first).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct TimelineEntry {
    #[schema(example = "order.placed")]
    pub event: String,
    pub at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub data: Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct OrderDetail {
    #[serde(flatten)]
    #[graphql(flatten)]
    pub order: Order,
    pub payments: Vec<Payment>,
    pub fulfillments: Vec<Fulfillment>,
    pub returns: Vec<Return>,
    pub refunds: Vec<Refund>,
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
pub struct CaptureInput {
    /// Minor units; absent: everything authorised. Less releases the rest.
    pub amount: Option<i64>,
}

fn provider_error(e: PaymentError) -> ServiceError {
    match e {
        PaymentError::Unavailable(m) => ServiceError::Unavailable(m),
        PaymentError::Refused(m) => ServiceError::Conflict { code: "payment_refused", field: "", message: m },
    }
}

fn payment_of(p: repo::PaymentRow) -> Result<Payment> {
    let currency = Currency::parse(&p.currency).map_err(|_| ServiceError::stored("currency"))?;
    Ok(Payment {
        id: PaymentId::parse(&p.id).map_err(|_| ServiceError::stored("payment id"))?,
        provider: p.provider,
        reference: p.reference,
        amount: Money::new(p.amount, currency),
        status: p.status,
        created_at: p.created_at,
    })
}

#[derive(Clone)]
pub struct OrderService {
    db: Db,
    providers: Providers,
}

pub use repo::Placed;

fn check_period(placed: Placed) -> Result<()> {
    match (placed.from, placed.to) {
        (Some(from), Some(to)) if from > to => {
            Err(ServiceError::invalid("placed_from", "must not be after `placed_to`"))
        }
        _ => Ok(()),
    }
}

/// Orders of one currency in a period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderSummary {
    /// Orders placed (canceled ones left out).
    pub orders: i64,
    /// Their totals summed.
    pub revenue: Money,
    /// What was refunded on them so far.
    pub refunded: Money,
}

impl OrderService {
    pub fn new(db: Db, providers: Providers) -> Self {
        OrderService { db, providers }
    }

    /// Orders newest first, by status, by part of the email and by when they were placed.
    pub async fn search(
        &self,
        status: Option<&str>,
        email: Option<&str>,
        placed: Placed,
        before: Option<OrderId>,
        limit: u64,
    ) -> Result<Vec<Order>> {
        check_period(placed)?;
        let mut conn = self.db.read().await?;
        let mut c = conn.conn();
        let before = before.map(|b| b.to_string());
        let rows = repo::search(&mut c, status, email, placed, before.as_deref(), limit).await?;
        let mut out = Vec::with_capacity(rows.len());
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let lines = repo::lines_of(&mut c, &ids).await?;
        for row in rows {
            let mine: Vec<repo::LineRow> = lines.iter().filter(|l| l.order_id == row.id).cloned().collect();
            out.push(crate::checkout::order_view(row, mine)?);
        }
        Ok(out)
    }

    /// How many orders were placed in the period and what they brought in, per currency
    /// (canceled orders left out; refunds shown beside, not subtracted).
    pub async fn summary(&self, placed: Placed) -> Result<Vec<OrderSummary>> {
        check_period(placed)?;
        let mut conn = self.db.read().await?;
        let rows = repo::summary(&mut conn.conn(), placed).await?;
        rows.into_iter()
            .map(|r| {
                let currency = Currency::parse(&r.currency).map_err(|_| ServiceError::stored("order currency"))?;
                Ok(OrderSummary {
                    orders: r.orders,
                    revenue: Money::new(r.revenue, currency),
                    refunded: Money::new(r.refunded, currency),
                })
            })
            .collect()
    }

    pub async fn detail(&self, id: OrderId) -> Result<OrderDetail> {
        let mut conn = self.db.read().await?;
        let mut c = conn.conn();
        let key = id.to_string();
        let order = load_order(&mut c, &key).await?.ok_or(ServiceError::NotFound { entity: "order" })?;
        let payments =
            repo::payments_of_order(&mut c, &key).await?.into_iter().map(payment_of).collect::<Result<_>>()?;
        let timeline = keel_store::outbox::for_aggregate(&mut c, "order", &key)
            .await?
            .into_iter()
            .map(|e| TimelineEntry { event: e.event_type, at: e.occurred_at, data: e.data })
            .collect();
        let fulfillments =
            repo::fulfillments_of(&mut c, &key).await?.into_iter().map(fulfillment_of).collect::<Result<_>>()?;
        let refunds = repo::refunds_of(&mut c, &key)
            .await?
            .into_iter()
            .map(|r| refund_of(r, order.currency))
            .collect::<Result<_>>()?;
        let returns = repo::returns_of(&mut c, &key).await?.into_iter().map(return_of).collect::<Result<_>>()?;
        Ok(OrderDetail { order, payments, fulfillments, returns, refunds, timeline })
    }

    /// The order and its live payment (authorised or captured), if any.
    async fn with_payment(&self, id: OrderId) -> Result<(Order, Option<repo::PaymentRow>)> {
        let mut conn = self.db.read().await?;
        let mut c = conn.conn();
        let order = load_order(&mut c, &id.to_string()).await?.ok_or(ServiceError::NotFound { entity: "order" })?;
        let payment = repo::payments_of_order(&mut c, &id.to_string())
            .await?
            .into_iter()
            .find(|p| p.status == "authorized" || p.status == "captured");
        Ok((order, payment))
    }

    /// Captures an order's authorised payment (all of it, or `amount`).
    #[tracing::instrument(name = "orders.capture", skip_all, fields(order_id = %id))]
    pub async fn capture(&self, id: OrderId, input: CaptureInput) -> Result<OrderDetail> {
        let (order, payment) = self.with_payment(id).await?;
        let open = order.status == "placed" || order.status == "completed";
        let Some(mut payment) = payment.filter(|p| p.status == "authorized" && open) else {
            return Err(ServiceError::Conflict {
                code: "not_capturable",
                field: "",
                message: format!(
                    "nothing authorised to capture on this {} order ({})",
                    order.status, order.payment_status
                ),
            });
        };
        let amount = input.amount.unwrap_or(payment.amount);
        if amount <= 0 || amount > payment.amount {
            return Err(ServiceError::invalid("amount", format!("must be 1 to {}", payment.amount)));
        }
        let provider = self
            .providers
            .payment(&payment.provider)
            .ok_or_else(|| ServiceError::Unavailable(format!("provider {} is not installed", payment.provider)))?;
        let reference = payment.reference.clone().unwrap_or_default();
        // Claim the payment first, so an edit cannot lower the total while the provider
        // captures the old one.
        let claimed = {
            let mut tx = self.db.begin().await?;
            let mut c = tx.conn();
            repo::lock_order(&mut c, &id.to_string(), now()).await?;
            let claimed = repo::payment_transition(&mut c, &payment.id, "authorized", "capturing", now()).await?;
            tx.commit().await?;
            claimed
        };
        if !claimed {
            return Err(ServiceError::Conflict {
                code: "not_capturable",
                field: "",
                message: "the payment changed meanwhile".into(),
            });
        }
        if let Err(e) = provider.capture(&reference, Some(amount)).await {
            let mut tx = self.db.begin().await?;
            repo::payment_transition(&mut tx.conn(), &payment.id, "capturing", "authorized", now()).await?;
            tx.commit().await?;
            return Err(provider_error(e));
        }
        let at = now();
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        payment.status = "captured".into();
        payment.amount = amount;
        payment.updated_at = at;
        repo::update_payment(&mut c, &payment).await?;
        repo::set_payment_status(&mut c, &id.to_string(), "captured", at).await?;
        let captured = Money::new(amount, order.currency);
        events::record(&mut c, "order.paid", "order", &id.to_string(), json!({"order_id": id, "amount": captured}))
            .await?;
        tx.commit().await?;
        self.detail(id).await
    }

    /// Cancels an order that has not shipped: the payment voided (or refunded if captured), the
    /// sold stock put back where it left from.
    #[tracing::instrument(name = "orders.cancel", skip_all, fields(order_id = %id))]
    pub async fn cancel(&self, id: OrderId) -> Result<OrderDetail> {
        let key = id.to_string();
        // Claim the order (placed → canceling) while nothing shipped or was refunded, so no
        // shipment, capture or edit slips in while the money is given back.
        let (order, payment) = {
            let mut tx = self.db.begin().await?;
            let mut c = tx.conn();
            repo::lock_order(&mut c, &key, now()).await?;
            let order = load_order(&mut c, &key).await?.ok_or(ServiceError::NotFound { entity: "order" })?;
            if order.status != "placed"
                || order.fulfillment_status != "not_fulfilled"
                || order.refunded_total.amount > 0
            {
                return Err(ServiceError::Conflict {
                    code: "not_cancelable",
                    field: "",
                    message: format!(
                        "a {} order that is {} with {} refunded cannot be canceled (refund it instead)",
                        order.status, order.fulfillment_status, order.refunded_total
                    ),
                });
            }
            let payment = repo::payments_of_order(&mut c, &key)
                .await?
                .into_iter()
                .find(|p| p.status == "authorized" || p.status == "captured")
                .ok_or_else(|| ServiceError::Conflict {
                    code: "no_payment",
                    field: "",
                    message: "this order has no payment to settle".into(),
                })?;
            repo::transition(&mut c, &key, "placed", "canceling", now()).await?;
            tx.commit().await?;
            (order, payment)
        };
        let mut payment = payment;
        let provider = self
            .providers
            .payment(&payment.provider)
            .ok_or_else(|| ServiceError::Unavailable(format!("provider {} is not installed", payment.provider)))?;
        let reference = payment.reference.clone().unwrap_or_default();
        let settled = if payment.status == "captured" {
            provider.refund(&reference, payment.amount, &format!("cancel-{id}")).await.map(Some)
        } else {
            provider.void(&reference).await.map(|()| None)
        };
        let refund = match settled {
            Ok(refund) => refund,
            Err(e) => {
                let mut tx = self.db.begin().await?;
                repo::transition(&mut tx.conn(), &key, "canceling", "placed", now()).await?;
                tx.commit().await?;
                return Err(provider_error(e));
            }
        };
        let at = now();
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        if !repo::transition(&mut c, &id.to_string(), "canceling", "canceled", at).await? {
            return Err(ServiceError::Conflict {
                code: "not_cancelable",
                field: "",
                message: "the order changed meanwhile".into(),
            });
        }
        payment.status = if refund.is_some() { "refunded" } else { "voided" }.into();
        payment.updated_at = at;
        repo::update_payment(&mut c, &payment).await?;
        repo::set_payment_status(&mut c, &id.to_string(), &payment.status, at).await?;
        let units = InventoryService::restock_sales(&mut c, &format!("order:{id}")).await?;
        // The promotions it used count as unused again.
        let key = repo::find_order(&mut c, &id.to_string()).await?.map(|o| o.customer_key).unwrap_or_default();
        for p in order.promotions.as_array().into_iter().flatten() {
            if let Some(promotion) = p["promotion_id"].as_str() {
                keel_store::promotions::uncount_use(&mut c, promotion, &key).await?;
            }
        }
        if let Some(refund_id) = &refund {
            let amount = Money::new(payment.amount, order.currency);
            let data = json!({"order_id": id, "refund_id": refund_id, "amount": amount});
            events::record(&mut c, "refund.created", "order", &id.to_string(), data).await?;
        }
        events::record(&mut c, "order.canceled", "order", &id.to_string(), json!({"order_id": id, "restocked": units}))
            .await?;
        tx.commit().await?;
        self.detail(id).await
    }
}

/// Some units of an order line.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::SimpleObject, async_graphql::InputObject)]
#[graphql(input_name = "LineQuantityInput")]
pub struct LineQuantity {
    pub line_id: OrderLineId,
    pub quantity: u32,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
pub struct FulfillmentInput {
    pub lines: Vec<LineQuantity>,
    /// Where it ships from.
    pub location_id: Option<StockLocationId>,
    #[schema(example = "DHL")]
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// Email the shopper the tracking details (default true).
    #[serde(default = "yes")]
    #[graphql(default = true)]
    pub notify: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct Fulfillment {
    pub id: FulfillmentId,
    pub location_id: Option<StockLocationId>,
    /// `shipped`, `delivered`.
    pub status: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub lines: Vec<LineQuantity>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
pub struct RefundInput {
    /// Units of lines to refund: each at its share of what the line cost after discounts and
    /// with its tax (the last units get exactly what remains, so shares sum to the line).
    #[serde(default)]
    #[graphql(default)]
    pub lines: Vec<LineQuantity>,
    /// Refund the shipping too (once).
    #[serde(default)]
    #[graphql(default)]
    pub shipping: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct Refund {
    pub id: RefundId,
    pub amount: Money,
    pub reason: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub lines: Value,
    pub shipping: bool,
    /// `succeeded`, `pending` (the provider has not confirmed yet), `failed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

fn fulfillment_of(f: repo::FulfillmentRow) -> Result<Fulfillment> {
    Ok(Fulfillment {
        id: FulfillmentId::parse(&f.id).map_err(|_| ServiceError::stored("fulfillment id"))?,
        location_id: f
            .location_id
            .as_deref()
            .map(StockLocationId::parse)
            .transpose()
            .map_err(|_| ServiceError::stored("location"))?,
        status: f.status,
        carrier: f.carrier,
        tracking_number: f.tracking_number,
        lines: serde_json::from_value(f.lines.0).map_err(|_| ServiceError::stored("fulfillment lines"))?,
        created_at: f.created_at,
        delivered_at: f.delivered_at,
    })
}

fn refund_of(r: repo::RefundRow, currency: Currency) -> Result<Refund> {
    Ok(Refund {
        id: RefundId::parse(&r.id).map_err(|_| ServiceError::stored("refund id"))?,
        amount: Money::new(r.amount, currency),
        reason: r.reason,
        lines: r.lines.0,
        shipping: r.shipping,
        status: r.status,
        created_at: r.created_at,
    })
}

/// What refunding `quantity` of a line gives back: its share of the line's total, and exactly
/// what remains for the last units.
pub fn line_refund(total: i64, quantity: u32, refunded_quantity: u32, refunded_total: i64, refund: u32) -> i64 {
    let left_units = quantity.saturating_sub(refunded_quantity);
    if refund >= left_units {
        return (total - refunded_total).max(0);
    }
    let share = i128::from(total) * i128::from(refund) / i128::from(quantity.max(1));
    i64::try_from(share).unwrap_or(0).min(total - refunded_total).max(0)
}

impl OrderService {
    /// Acts on a payment provider's webhook: verified by its signature, handled once per event
    /// id (a redelivery is acknowledged and changes nothing). A capture or void done at the
    /// provider is mirrored on the payment and its order.
    #[tracing::instrument(name = "orders.provider_webhook", skip_all, fields(provider = %provider))]
    pub async fn provider_webhook(&self, provider: &str, headers: &[(String, String)], body: &[u8]) -> Result<()> {
        let p = self.providers.payment(provider).ok_or(ServiceError::NotFound { entity: "payment provider" })?;
        let header = p.signature_header();
        let signature = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(header)).map(|(_, v)| v.as_str());
        let event = p.verify_webhook(signature, body).map_err(|e| ServiceError::Refused {
            code: "webhook_refused",
            field: "",
            message: e.to_string(),
        })?;
        let at = now();
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        if !repo::first_delivery(&mut c, provider, &event.id, at).await? {
            return Ok(());
        }
        let payment = repo::payment_by_reference(&mut c, provider, &event.reference).await?;
        if let Some(mut payment) = payment.filter(|p| p.status == "authorized")
            && let Some(order_id) = payment.order_id.clone()
        {
            let (status, event_type) = match event.change {
                crate::payments::WebhookChange::Captured { amount } => {
                    payment.amount = amount.min(payment.amount).max(0);
                    ("captured", "order.paid")
                }
                crate::payments::WebhookChange::Voided => ("voided", "payment.voided"),
                crate::payments::WebhookChange::Other => ("", ""),
            };
            if !status.is_empty() {
                payment.status = status.into();
                payment.updated_at = at;
                repo::update_payment(&mut c, &payment).await?;
                repo::set_payment_status(&mut c, &order_id, status, at).await?;
                let currency = Currency::parse(&payment.currency).map_err(|_| ServiceError::stored("currency"))?;
                let data = json!({"order_id": order_id, "amount": Money::new(payment.amount, currency),
                    "source": provider, "provider_event": event.id});
                events::record(&mut c, event_type, "order", &order_id, data).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Ships some units of an order (all must fit what is not yet shipped).
    #[tracing::instrument(name = "orders.fulfill", skip_all, fields(order_id = %id))]
    pub async fn fulfill(&self, id: OrderId, input: FulfillmentInput) -> Result<OrderDetail> {
        if input.lines.is_empty() || input.lines.iter().any(|l| l.quantity == 0) {
            return Err(ServiceError::invalid("lines", "name at least one line, each with a quantity of 1 or more"));
        }
        let text = |raw: &Option<String>, max: usize| {
            raw.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(|t| t.chars().take(max).collect::<String>())
        };
        let key = id.to_string();
        let at = now();
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        repo::lock_order(&mut c, &key, at).await?;
        let order = load_order(&mut c, &key).await?.ok_or(ServiceError::NotFound { entity: "order" })?;
        if order.status != "placed" {
            return Err(ServiceError::Conflict {
                code: "not_fulfillable",
                field: "",
                message: format!("a {} order cannot ship", order.status),
            });
        }
        for line in &input.lines {
            let quantity = i32::try_from(line.quantity).unwrap_or(i32::MAX);
            if !repo::fulfill_line(&mut c, &key, &line.line_id.to_string(), quantity).await? {
                return Err(ServiceError::Conflict {
                    code: "over_fulfilled",
                    field: "lines",
                    message: format!("line {} has fewer units left to ship, or is not on this order", line.line_id),
                });
            }
        }
        let fulfillment = repo::FulfillmentRow {
            id: FulfillmentId::new().to_string(),
            order_id: key.clone(),
            location_id: input.location_id.map(|l| l.to_string()),
            status: "shipped".into(),
            carrier: text(&input.carrier, 100),
            tracking_number: text(&input.tracking_number, 200),
            lines: keel_store::JsonColumn(
                serde_json::to_value(&input.lines).map_err(|e| ServiceError::Internal(e.to_string()))?,
            ),
            created_at: at,
            delivered_at: None,
        };
        repo::insert_fulfillment(&mut c, &fulfillment).await?;
        let lines = repo::lines_of(&mut c, std::slice::from_ref(&key)).await?;
        let shipped: i64 = lines.iter().map(|l| i64::from(l.fulfilled_quantity)).sum();
        let ordered: i64 = lines.iter().map(|l| i64::from(l.quantity)).sum();
        let status = if shipped >= ordered { "fulfilled" } else { "partially_fulfilled" };
        repo::set_fulfillment_status(&mut c, &key, status, at).await?;
        let data = json!({"order_id": id, "fulfillment_id": fulfillment.id, "lines": input.lines,
            "carrier": fulfillment.carrier, "tracking_number": fulfillment.tracking_number});
        events::record(&mut c, "fulfillment.created", "order", &key, data).await?;
        if status == "fulfilled" {
            events::record(&mut c, "order.fulfilled", "order", &key, json!({"order_id": id})).await?;
        }
        if input.notify {
            let mail = json!({"order_number": order.number.to_string(),
                "carrier": fulfillment.carrier.clone().unwrap_or_else(|| "our carrier".into()),
                "tracking_number": fulfillment.tracking_number.clone().unwrap_or_else(|| "not available".into())});
            let unique = Some(format!("shipping:{}", fulfillment.id));
            crate::mail::send_later(&mut c, &order.email, crate::mail::Template::ShippingNotification, mail, unique)
                .await?;
        }
        tx.commit().await?;
        self.detail(id).await
    }

    /// Marks a shipment delivered.
    pub async fn deliver(&self, id: OrderId, fulfillment: FulfillmentId) -> Result<OrderDetail> {
        let at = now();
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        repo::lock_order(&mut c, &id.to_string(), at).await?;
        if !repo::deliver(&mut c, &id.to_string(), &fulfillment.to_string(), at).await? {
            return Err(ServiceError::NotFound { entity: "shipped fulfillment" });
        }
        let data = json!({"order_id": id, "fulfillment_id": fulfillment});
        events::record(&mut c, "fulfillment.delivered", "order", &id.to_string(), data).await?;
        // Everything shipped and delivered: the order is complete.
        let key = id.to_string();
        let shipped_all = repo::find_order(&mut c, &key).await?.is_some_and(|o| o.fulfillment_status == "fulfilled");
        let delivered_all = repo::fulfillments_of(&mut c, &key).await?.iter().all(|f| f.status == "delivered");
        if shipped_all && delivered_all && repo::transition(&mut c, &key, "placed", "completed", at).await? {
            events::record(&mut c, "order.completed", "order", &key, json!({"order_id": id})).await?;
        }
        tx.commit().await?;
        self.detail(id).await
    }

    /// Refunds units of lines and/or the shipping of a captured order. The counters move first
    /// (conditional updates: never more than a line or the order holds), then the money at the
    /// provider (idempotent by the refund's id), then the refund is recorded as succeeded; if
    /// the provider refuses, the counters move back.
    #[tracing::instrument(name = "orders.refund", skip_all, fields(order_id = %id))]
    pub async fn refund(&self, id: OrderId, input: RefundInput) -> Result<OrderDetail> {
        if input.lines.is_empty() && !input.shipping {
            return Err(ServiceError::invalid("lines", "name lines to refund, or the shipping"));
        }
        if input.lines.iter().any(|l| l.quantity == 0) {
            return Err(ServiceError::invalid("lines", "each quantity must be 1 or more"));
        }
        let key = id.to_string();
        let at = now();
        let refund_id = RefundId::new().to_string();
        let (order, payment, amount, parts) = {
            let mut tx = self.db.begin().await?;
            let mut c = tx.conn();
            repo::lock_order(&mut c, &key, at).await?;
            let row = repo::find_order(&mut c, &key).await?.ok_or(ServiceError::NotFound { entity: "order" })?;
            let payment = repo::payments_of_order(&mut c, &key).await?.into_iter().find(|p| p.status == "captured");
            let Some(payment) = payment.filter(|_| row.status != "canceled") else {
                return Err(ServiceError::Conflict {
                    code: "not_refundable",
                    field: "",
                    message: "only a captured, not canceled order can be refunded (cancel an uncaptured one)".into(),
                });
            };
            let lines = repo::lines_of(&mut c, std::slice::from_ref(&key)).await?;
            let mut parts = Vec::new();
            let mut amount = 0;
            for wanted in &input.lines {
                let line = lines.iter().find(|l| l.id == wanted.line_id.to_string()).ok_or_else(|| {
                    ServiceError::invalid("lines", format!("line {} is not on this order", wanted.line_id))
                })?;
                let share = line_refund(
                    line.total,
                    u32::try_from(line.quantity).unwrap_or(0),
                    u32::try_from(line.refunded_quantity).unwrap_or(0),
                    line.refunded_total,
                    wanted.quantity,
                );
                let quantity = i32::try_from(wanted.quantity).unwrap_or(i32::MAX);
                if !repo::refund_line(&mut c, &key, &line.id, quantity, share).await? {
                    return Err(ServiceError::Conflict {
                        code: "over_refunded",
                        field: "lines",
                        message: format!("line {} has fewer units left to refund", wanted.line_id),
                    });
                }
                parts.push(json!({"line_id": wanted.line_id, "quantity": wanted.quantity, "amount": share}));
                amount += share;
            }
            if input.shipping {
                // What the shopper paid for shipping: after its discount, with its tax.
                amount += row.shipping.0["paid"].as_i64().unwrap_or(0).max(0);
            }
            if amount <= 0 {
                return Err(ServiceError::invalid("lines", "nothing left to refund"));
            }
            if !repo::add_refunded(&mut c, &key, amount, input.shipping, payment.amount, at).await? {
                return Err(ServiceError::Conflict {
                    code: "over_refunded",
                    field: "shipping",
                    message: "that would refund more than was paid, or the shipping twice".into(),
                });
            }
            let refund = repo::RefundRow {
                id: refund_id.clone(),
                order_id: key.clone(),
                payment_id: payment.id.clone(),
                amount,
                reason: input.reason.as_deref().map(|r| r.chars().take(500).collect()),
                lines: keel_store::JsonColumn(Value::Array(parts.clone())),
                shipping: input.shipping,
                reference: None,
                status: "pending".into(),
                created_at: at,
            };
            repo::insert_refund(&mut c, &refund).await?;
            tx.commit().await?;
            (row, payment, amount, parts)
        };
        let provider = self
            .providers
            .payment(&payment.provider)
            .ok_or_else(|| ServiceError::Unavailable(format!("provider {} is not installed", payment.provider)))?;
        let outcome = provider.refund(payment.reference.as_deref().unwrap_or_default(), amount, &refund_id).await;
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        match outcome {
            Ok(reference) => {
                repo::settle_refund(&mut c, &refund_id, "succeeded", Some(&reference)).await?;
                let fully = order.refunded_total + amount >= payment.amount;
                let status = if fully { "refunded" } else { "partially_refunded" };
                repo::set_payment_status(&mut c, &key, status, at).await?;
                let currency = Currency::parse(&order.currency).map_err(|_| ServiceError::stored("currency"))?;
                let data = json!({"order_id": id, "refund_id": refund_id, "amount": Money::new(amount, currency),
                    "lines": parts, "shipping": input.shipping});
                events::record(&mut c, "refund.created", "order", &key, data).await?;
                tx.commit().await?;
                self.detail(id).await
            }
            Err(e) => {
                // Nothing was given back: the counters return to what they were.
                repo::settle_refund(&mut c, &refund_id, "failed", None).await?;
                for part in &parts {
                    let line = part["line_id"].as_str().unwrap_or_default();
                    let quantity = -i32::try_from(part["quantity"].as_i64().unwrap_or(0)).unwrap_or(0);
                    repo::unrefund_line(&mut c, &key, line, quantity, -part["amount"].as_i64().unwrap_or(0)).await?;
                }
                repo::unrefund_order(&mut c, &key, amount, input.shipping, at).await?;
                tx.commit().await?;
                Err(provider_error(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::line_refund;

    #[test]
    fn unit_refunds_of_a_line_sum_to_what_it_cost() {
        // 3 units for 10.00 after discounts: 3.33, 3.33, and the last unit gets the 3.34 left.
        let first = line_refund(1000, 3, 0, 0, 1);
        let second = line_refund(1000, 3, 1, first, 1);
        let last = line_refund(1000, 3, 2, first + second, 1);
        assert_eq!((first, second, last), (333, 333, 334));
        assert_eq!(line_refund(1000, 3, 0, 0, 3), 1000);
        assert_eq!(line_refund(1000, 3, 3, 1000, 1), 0, "nothing left");
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnInput {
    /// Units of shipped lines coming back.
    pub lines: Vec<LineQuantity>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveInput {
    /// Put the units back on sale (default true; false for damaged goods).
    #[serde(default = "yes")]
    pub restock: bool,
    /// Refund the units (default true; needs a captured payment).
    #[serde(default = "yes")]
    pub refund: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct Return {
    pub id: ReturnId,
    /// `requested`, `received`.
    pub status: String,
    pub lines: Vec<LineQuantity>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
}

fn return_of(r: repo::ReturnRow) -> Result<Return> {
    Ok(Return {
        id: ReturnId::parse(&r.id).map_err(|_| ServiceError::stored("return id"))?,
        status: r.status,
        lines: serde_json::from_value(r.lines.0).map_err(|_| ServiceError::stored("return lines"))?,
        reason: r.reason,
        created_at: r.created_at,
        received_at: r.received_at,
    })
}

impl OrderService {
    /// Records units of shipped lines as coming back (never more than shipped).
    pub async fn request_return(&self, id: OrderId, input: ReturnInput) -> Result<OrderDetail> {
        if input.lines.is_empty() || input.lines.iter().any(|l| l.quantity == 0) {
            return Err(ServiceError::invalid("lines", "name at least one line, each with a quantity of 1 or more"));
        }
        let key = id.to_string();
        let at = now();
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        repo::find_order(&mut c, &key).await?.ok_or(ServiceError::NotFound { entity: "order" })?;
        for line in &input.lines {
            let quantity = i32::try_from(line.quantity).unwrap_or(i32::MAX);
            if !repo::return_line(&mut c, &key, &line.line_id.to_string(), quantity).await? {
                return Err(ServiceError::Conflict {
                    code: "over_returned",
                    field: "lines",
                    message: format!("line {} has fewer shipped units left to return", line.line_id),
                });
            }
        }
        let row = repo::ReturnRow {
            id: ReturnId::new().to_string(),
            order_id: key.clone(),
            status: "requested".into(),
            lines: keel_store::JsonColumn(
                serde_json::to_value(&input.lines).map_err(|e| ServiceError::Internal(e.to_string()))?,
            ),
            reason: input.reason.as_deref().map(|r| r.chars().take(500).collect()),
            created_at: at,
            received_at: None,
        };
        repo::insert_return(&mut c, &row).await?;
        events::record(
            &mut c,
            "return.requested",
            "order",
            &key,
            json!({"order_id": id, "return_id": row.id, "lines": input.lines}),
        )
        .await?;
        tx.commit().await?;
        self.detail(id).await
    }

    /// Receives a requested return: the units back on sale where they left from (unless
    /// `restock` is false), then refunded (unless `refund` is false).
    pub async fn receive_return(&self, id: OrderId, return_id: ReturnId, input: ReceiveInput) -> Result<OrderDetail> {
        let key = id.to_string();
        let at = now();
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        repo::lock_order(&mut c, &key, at).await?;
        if input.refund {
            // A refund that cannot happen stops the receipt, so it can be retried as a whole.
            let captured = repo::payments_of_order(&mut c, &key).await?.iter().any(|p| p.status == "captured");
            let canceled = repo::find_order(&mut c, &key).await?.is_some_and(|o| o.status == "canceled");
            if !captured || canceled {
                return Err(ServiceError::Conflict {
                    code: "not_refundable",
                    field: "refund",
                    message: "the payment is not captured; receive with \"refund\": false, or capture first".into(),
                });
            }
        }
        let received = repo::receive_return(&mut c, &key, &return_id.to_string(), at)
            .await?
            .ok_or(ServiceError::NotFound { entity: "requested return" })?;
        let lines: Vec<LineQuantity> =
            serde_json::from_value(received.lines.0).map_err(|_| ServiceError::stored("return lines"))?;
        let order_lines = repo::lines_of(&mut c, std::slice::from_ref(&key)).await?;
        let mut restocked = 0;
        if input.restock {
            for line in &lines {
                let Some(ordered) = order_lines.iter().find(|l| l.id == line.line_id.to_string()) else { continue };
                let reference = format!("order:{id}");
                if InventoryService::restock_returned(&mut c, &reference, &ordered.variant_id, i64::from(line.quantity))
                    .await?
                {
                    restocked += i64::from(line.quantity);
                }
            }
        }
        let data = json!({"order_id": id, "return_id": return_id, "restocked": restocked});
        events::record(&mut c, "return.received", "order", &key, data).await?;
        tx.commit().await?;
        if input.refund {
            let refund = RefundInput { lines, shipping: false, reason: Some(format!("return {return_id}")) };
            return self.refund(id, refund).await;
        }
        self.detail(id).await
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderEdit {
    /// New, lower quantities for lines (0 removes the line).
    pub lines: Vec<LineQuantity>,
}

/// What `removed` of `quantity` units take off an amount: their share, as refunds compute it.
fn share_of(amount: i64, quantity: u32, removed: u32) -> i64 {
    line_refund(amount, quantity, 0, 0, removed)
}

impl OrderService {
    /// Edits an order before anything ships: lowers line quantities (0 removes a line). The
    /// removed units go back on hand; each amount of a line drops by the removed units' share
    /// (discounts and tax with it); the order's totals follow, and the payment, which must
    /// still be only authorised, will capture the new total. A captured order is refunded
    /// instead.
    pub async fn edit(&self, id: OrderId, input: OrderEdit) -> Result<OrderDetail> {
        if input.lines.is_empty() {
            return Err(ServiceError::invalid("lines", "name at least one line"));
        }
        let key = id.to_string();
        let at = now();
        let mut seen = std::collections::HashSet::new();
        if !input.lines.iter().all(|l| seen.insert(l.line_id)) {
            return Err(ServiceError::invalid("lines", "name each line once"));
        }
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        repo::lock_order(&mut c, &key, at).await?;
        let mut order = repo::find_order(&mut c, &key).await?.ok_or(ServiceError::NotFound { entity: "order" })?;
        let mut payment = repo::payments_of_order(&mut c, &key).await?.into_iter().find(|p| p.status == "authorized");
        let editable =
            order.status == "placed" && order.fulfillment_status == "not_fulfilled" && order.refunded_total == 0;
        if !editable || payment.is_none() {
            return Err(ServiceError::Conflict {
                code: "not_editable",
                field: "",
                message: "only a placed order with its payment still authorised and nothing shipped can be edited"
                    .into(),
            });
        }
        let lines = repo::lines_of(&mut c, std::slice::from_ref(&key)).await?;
        let emptied =
            lines.iter().all(|l| input.lines.iter().any(|w| w.line_id.to_string() == l.id && w.quantity == 0));
        if emptied {
            return Err(ServiceError::invalid("lines", "an edit keeps at least one line (cancel the order instead)"));
        }
        let mut changes = Vec::new();
        for wanted in &input.lines {
            let mut line = lines.iter().find(|l| l.id == wanted.line_id.to_string()).cloned().ok_or_else(|| {
                ServiceError::invalid("lines", format!("line {} is not on this order", wanted.line_id))
            })?;
            let quantity = u32::try_from(line.quantity).unwrap_or(0);
            if wanted.quantity >= quantity {
                return Err(ServiceError::invalid(
                    "lines",
                    "an edit can only lower quantities (add items with a new order)",
                ));
            }
            let removed = quantity - wanted.quantity;
            let (subtotal, discount, tax) = (
                share_of(line.subtotal, quantity, removed),
                share_of(line.discount_total, quantity, removed),
                share_of(line.tax_total, quantity, removed),
            );
            // The total's share follows from the others, so the line still adds up.
            let total = subtotal - discount + if order.tax_inclusive { 0 } else { tax };
            order.subtotal -= subtotal;
            order.discount_total -= discount;
            order.tax_total -= tax;
            order.total -= total;
            let done = if wanted.quantity == 0 {
                repo::delete_line(&mut c, &key, &line.id).await?
            } else {
                line.quantity = i32::try_from(wanted.quantity).unwrap_or(0);
                line.subtotal -= subtotal;
                line.discount_total -= discount;
                line.tax_total -= tax;
                line.total -= total;
                repo::update_line_amounts(&mut c, &line, i32::try_from(quantity).unwrap_or(0)).await?
            };
            if !done {
                return Err(ServiceError::Conflict {
                    code: "not_editable",
                    field: "lines",
                    message: "the line changed meanwhile".into(),
                });
            }
            InventoryService::restock_returned(&mut c, &format!("order:{id}"), &line.variant_id, i64::from(removed))
                .await?;
            changes.push(json!({"line_id": wanted.line_id, "from": quantity, "to": wanted.quantity, "amount": total}));
        }
        order.updated_at = at;
        if !repo::update_totals(&mut c, &order).await? {
            return Err(ServiceError::Conflict {
                code: "not_editable",
                field: "",
                message: "the order changed meanwhile".into(),
            });
        }
        if let Some(payment) = payment.as_mut() {
            payment.amount = order.total;
            payment.updated_at = at;
            repo::update_payment(&mut c, payment).await?;
        }
        let currency = Currency::parse(&order.currency).map_err(|_| ServiceError::stored("currency"))?;
        let data = json!({"order_id": id, "changes": changes, "total": Money::new(order.total, currency)});
        events::record(&mut c, "order.edited", "order", &key, data).await?;
        tx.commit().await?;
        self.detail(id).await
    }
}
