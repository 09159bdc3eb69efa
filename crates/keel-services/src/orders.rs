//! Orders after checkout, for staff: search, detail with payments and a timeline, capture and
//! cancel. Money moves at the provider first (idempotently: its keys derive from Keel's ids) and
//! is recorded after, with the order's change, its stock and its event in one transaction.

use crate::checkout::{Order, load_order};
use crate::inventory::InventoryService;
use crate::payments::PaymentError;
use crate::providers::Providers;
use crate::{Result, ServiceError, events, now};
use chrono::{DateTime, Utc};
use keel_domain::{Currency, Money, OrderId, PaymentId};
use keel_store::{Db, orders as repo};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Payment {
    pub id: PaymentId,
    pub provider: String,
    /// The provider's id for it.
    pub reference: Option<String>,
    pub amount: Money,
    /// `authorized`, `captured`, `voided`, `refunded`.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// One thing that happened to an order (its events, oldest first).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    #[schema(example = "order.placed")]
    pub event: String,
    pub at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub data: Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderDetail {
    #[serde(flatten)]
    pub order: Order,
    pub payments: Vec<Payment>,
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureInput {
    /// Minor units; absent: everything authorised. Less releases the rest.
    pub amount: Option<i64>,
}

fn internal(what: &str) -> ServiceError {
    ServiceError::Internal(format!("stored {what}"))
}

fn provider_error(e: PaymentError) -> ServiceError {
    match e {
        PaymentError::Unavailable(m) => ServiceError::Unavailable(m),
        PaymentError::Refused(m) => ServiceError::Conflict { code: "payment_refused", field: "", message: m },
    }
}

fn payment_of(p: repo::PaymentRow) -> Result<Payment> {
    let currency = Currency::parse(&p.currency).map_err(|_| internal("currency"))?;
    Ok(Payment {
        id: PaymentId::parse(&p.id).map_err(|_| internal("payment id"))?,
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

impl OrderService {
    pub fn new(db: Db, providers: Providers) -> Self {
        OrderService { db, providers }
    }

    /// Orders newest first, by status and by part of the email.
    pub async fn search(
        &self,
        status: Option<&str>,
        email: Option<&str>,
        before: Option<OrderId>,
        limit: u64,
    ) -> Result<Vec<Order>> {
        let mut conn = self.db.read().await?;
        let mut c = conn.conn();
        let before = before.map(|b| b.to_string());
        let rows = repo::search(&mut c, status, email, before.as_deref(), limit).await?;
        let mut out = Vec::with_capacity(rows.len());
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let lines = repo::lines_of(&mut c, &ids).await?;
        for row in rows {
            let mine: Vec<repo::LineRow> = lines.iter().filter(|l| l.order_id == row.id).cloned().collect();
            out.push(crate::checkout::order_view(row, mine)?);
        }
        Ok(out)
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
        Ok(OrderDetail { order, payments, timeline })
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
    pub async fn capture(&self, id: OrderId, input: CaptureInput) -> Result<OrderDetail> {
        let (order, payment) = self.with_payment(id).await?;
        let Some(mut payment) = payment.filter(|p| p.status == "authorized" && order.status == "placed") else {
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
        provider.capture(&reference, Some(amount)).await.map_err(provider_error)?;
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
    pub async fn cancel(&self, id: OrderId) -> Result<OrderDetail> {
        let (order, payment) = self.with_payment(id).await?;
        if order.status != "placed" {
            return Err(ServiceError::Conflict {
                code: "not_cancelable",
                field: "",
                message: format!("a {} order cannot be canceled", order.status),
            });
        }
        let mut payment = payment.ok_or_else(|| ServiceError::Conflict {
            code: "no_payment",
            field: "",
            message: "this order has no payment to settle".into(),
        })?;
        let provider = self
            .providers
            .payment(&payment.provider)
            .ok_or_else(|| ServiceError::Unavailable(format!("provider {} is not installed", payment.provider)))?;
        let reference = payment.reference.clone().unwrap_or_default();
        let refund = if payment.status == "captured" {
            let key = format!("cancel-{id}");
            Some(provider.refund(&reference, payment.amount, &key).await.map_err(provider_error)?)
        } else {
            provider.void(&reference).await.map_err(provider_error)?;
            None
        };
        let at = now();
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        if !repo::transition(&mut c, &id.to_string(), "placed", "canceled", at).await? {
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
