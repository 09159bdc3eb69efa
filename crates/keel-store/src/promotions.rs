//! Promotions, the codes a cart holds, and redemptions: usage counted in total on the promotion
//! and per customer in `promotion_redemptions`, each by one conditional statement so that limits
//! hold under any concurrency.

use crate::{Conn, Result};
use chrono::{DateTime, Utc};
use sea_query::{Cond, Expr, ExprTrait, Iden, OnConflict, Order, Query};
use sqlx::types::Json;

#[derive(Iden)]
enum Promotions {
    Table,
    Id,
    Code,
    Name,
    Status,
    StartsAt,
    EndsAt,
    Currency,
    Rule,
    Exclusive,
    Priority,
    CustomerGroupIds,
    UsageLimit,
    PerCustomerLimit,
    UsageCount,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum CartPromotions {
    Table,
    CartId,
    PromotionId,
    CreatedAt,
}

#[derive(Iden)]
enum PromotionRedemptions {
    Table,
    PromotionId,
    CustomerKey,
    Count,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PromotionRow {
    pub id: String,
    /// Upper-cased; `None`: automatic.
    pub code: Option<String>,
    pub name: String,
    pub status: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// The currency its amounts are in (`None`: it has none, e.g. a percentage).
    pub currency: Option<String>,
    /// Targets, benefit and minimum, as the services define them.
    pub rule: Json<serde_json::Value>,
    pub exclusive: bool,
    pub priority: i32,
    pub customer_group_ids: Json<Vec<String>>,
    pub usage_limit: Option<i32>,
    pub per_customer_limit: Option<i32>,
    pub usage_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: [Promotions; 16] = [
    Promotions::Id,
    Promotions::Code,
    Promotions::Name,
    Promotions::Status,
    Promotions::StartsAt,
    Promotions::EndsAt,
    Promotions::Currency,
    Promotions::Rule,
    Promotions::Exclusive,
    Promotions::Priority,
    Promotions::CustomerGroupIds,
    Promotions::UsageLimit,
    Promotions::PerCustomerLimit,
    Promotions::UsageCount,
    Promotions::CreatedAt,
    Promotions::UpdatedAt,
];

fn qualified() -> Vec<(Promotions, Promotions)> {
    COLUMNS.into_iter().map(|c| (Promotions::Table, c)).collect()
}

fn editable(p: &PromotionRow) -> Vec<(Promotions, sea_query::SimpleExpr)> {
    vec![
        (Promotions::Code, p.code.clone().into()),
        (Promotions::Name, p.name.clone().into()),
        (Promotions::Status, p.status.clone().into()),
        (Promotions::StartsAt, p.starts_at.into()),
        (Promotions::EndsAt, p.ends_at.into()),
        (Promotions::Currency, p.currency.clone().into()),
        (Promotions::Rule, p.rule.0.clone().into()),
        (Promotions::Exclusive, p.exclusive.into()),
        (Promotions::Priority, p.priority.into()),
        (Promotions::CustomerGroupIds, serde_json::Value::from(p.customer_group_ids.0.clone()).into()),
        (Promotions::UsageLimit, p.usage_limit.into()),
        (Promotions::PerCustomerLimit, p.per_customer_limit.into()),
        (Promotions::UpdatedAt, p.updated_at.into()),
    ]
}

pub async fn insert(c: &mut Conn<'_>, p: &PromotionRow) -> Result<()> {
    let mut values: Vec<(Promotions, sea_query::SimpleExpr)> = vec![(Promotions::Id, p.id.clone().into())];
    values.extend(editable(p));
    values.push((Promotions::UsageCount, p.usage_count.into()));
    values.push((Promotions::CreatedAt, p.created_at.into()));
    let (columns, exprs): (Vec<_>, Vec<_>) = values.into_iter().unzip();
    let stmt = Query::insert().into_table(Promotions::Table).columns(columns).values_panic(exprs).to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Saves the editable fields (not the usage count, which only redemptions change).
pub async fn update(c: &mut Conn<'_>, p: &PromotionRow) -> Result<bool> {
    let stmt = Query::update()
        .table(Promotions::Table)
        .values(editable(p))
        .and_where(Expr::col(Promotions::Id).eq(p.id.clone()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn delete(c: &mut Conn<'_>, id: &str) -> Result<bool> {
    let stmt = Query::delete().from_table(Promotions::Table).and_where(Expr::col(Promotions::Id).eq(id)).to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn find(c: &mut Conn<'_>, id: &str) -> Result<Option<PromotionRow>> {
    c.fetch_optional(
        &Query::select()
            .columns(COLUMNS)
            .from(Promotions::Table)
            .and_where(Expr::col(Promotions::Id).eq(id))
            .to_owned(),
    )
    .await
}

pub async fn find_by_code(c: &mut Conn<'_>, code: &str) -> Result<Option<PromotionRow>> {
    c.fetch_optional(
        &Query::select()
            .columns(COLUMNS)
            .from(Promotions::Table)
            .and_where(Expr::col(Promotions::Code).eq(code))
            .to_owned(),
    )
    .await
}

/// A page of promotions, newest first, before the id `before`.
pub async fn list(c: &mut Conn<'_>, before: Option<&str>, limit: u64) -> Result<Vec<PromotionRow>> {
    let mut q = Query::select()
        .columns(COLUMNS)
        .from(Promotions::Table)
        .order_by(Promotions::Id, Order::Desc)
        .limit(limit)
        .to_owned();
    if let Some(id) = before {
        q.and_where(Expr::col(Promotions::Id).lt(id));
    }
    c.fetch_all(&q).await
}

/// Running at `at`: active, started (or no start), not ended (or no end).
fn running_at(at: DateTime<Utc>) -> Cond {
    Cond::all()
        .add(Expr::col((Promotions::Table, Promotions::Status)).eq("active"))
        .add(
            Cond::any()
                .add(Expr::col((Promotions::Table, Promotions::StartsAt)).is_null())
                .add(Expr::col((Promotions::Table, Promotions::StartsAt)).lte(at)),
        )
        .add(
            Cond::any()
                .add(Expr::col((Promotions::Table, Promotions::EndsAt)).is_null())
                .add(Expr::col((Promotions::Table, Promotions::EndsAt)).gt(at)),
        )
}

/// The promotions a cart is a candidate for at `at`: automatic ones running in its currency (or
/// in none), and the ones whose codes it holds (whatever their state: the services explain why
/// a held code no longer applies). One statement.
pub async fn candidates(
    c: &mut Conn<'_>,
    cart_id: &str,
    currency: &str,
    at: DateTime<Utc>,
) -> Result<Vec<PromotionRow>> {
    let held = Query::select()
        .column(CartPromotions::PromotionId)
        .from(CartPromotions::Table)
        .and_where(Expr::col(CartPromotions::CartId).eq(cart_id))
        .to_owned();
    let automatic = running_at(at).add(Expr::col((Promotions::Table, Promotions::Code)).is_null()).add(
        Cond::any()
            .add(Expr::col((Promotions::Table, Promotions::Currency)).is_null())
            .add(Expr::col((Promotions::Table, Promotions::Currency)).eq(currency)),
    );
    let q = Query::select()
        .columns(qualified())
        .from(Promotions::Table)
        .cond_where(Cond::any().add(automatic).add(Expr::col((Promotions::Table, Promotions::Id)).in_subquery(held)))
        .order_by((Promotions::Table, Promotions::Id), Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

/// Puts a code's promotion on a cart (again: no change).
pub async fn hold(c: &mut Conn<'_>, cart_id: &str, promotion_id: &str, at: DateTime<Utc>) -> Result<()> {
    let stmt = Query::insert()
        .into_table(CartPromotions::Table)
        .columns([CartPromotions::CartId, CartPromotions::PromotionId, CartPromotions::CreatedAt])
        .values_panic([cart_id.into(), promotion_id.into(), at.into()])
        .on_conflict(OnConflict::columns([CartPromotions::CartId, CartPromotions::PromotionId]).do_nothing().to_owned())
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn release(c: &mut Conn<'_>, cart_id: &str, promotion_id: &str) -> Result<bool> {
    let stmt = Query::delete()
        .from_table(CartPromotions::Table)
        .and_where(Expr::col(CartPromotions::CartId).eq(cart_id))
        .and_where(Expr::col(CartPromotions::PromotionId).eq(promotion_id))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Moves the codes one cart holds to another (a cart merged on sign-in).
pub async fn move_held(c: &mut Conn<'_>, from: &str, to: &str, at: DateTime<Utc>) -> Result<()> {
    #[derive(sqlx::FromRow)]
    struct Row {
        promotion_id: String,
    }
    let held: Vec<Row> = c
        .fetch_all(
            &Query::select()
                .column(CartPromotions::PromotionId)
                .from(CartPromotions::Table)
                .and_where(Expr::col(CartPromotions::CartId).eq(from))
                .to_owned(),
        )
        .await?;
    for row in held {
        hold(c, to, &row.promotion_id, at).await?;
    }
    Ok(())
}

/// How often `customer_key` has redeemed each of these promotions.
pub async fn redemptions_of(
    c: &mut Conn<'_>,
    customer_key: &str,
    promotion_ids: &[String],
) -> Result<Vec<(String, i32)>> {
    if promotion_ids.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        promotion_id: String,
        count: i32,
    }
    let q = Query::select()
        .columns([PromotionRedemptions::PromotionId, PromotionRedemptions::Count])
        .from(PromotionRedemptions::Table)
        .and_where(Expr::col(PromotionRedemptions::CustomerKey).eq(customer_key))
        .and_where(Expr::col(PromotionRedemptions::PromotionId).is_in(promotion_ids.iter().cloned()))
        .to_owned();
    let rows: Vec<Row> = c.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|r| (r.promotion_id, r.count)).collect())
}

/// Counts one use of a promotion, if its total limit allows: one conditional update, so that
/// concurrent redemptions never pass the limit. False: the limit is reached.
pub async fn count_use(c: &mut Conn<'_>, promotion_id: &str) -> Result<bool> {
    let stmt = Query::update()
        .table(Promotions::Table)
        .value(Promotions::UsageCount, Expr::col(Promotions::UsageCount).add(1))
        .and_where(Expr::col(Promotions::Id).eq(promotion_id))
        .cond_where(
            Cond::any()
                .add(Expr::col(Promotions::UsageLimit).is_null())
                .add(Expr::col(Promotions::UsageCount).lt(Expr::col(Promotions::UsageLimit))),
        )
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Counts one use by a customer, if `limit` (per customer) allows: an insert or a conditional
/// increment in one statement. False: this customer has used it `limit` times.
pub async fn count_customer_use(
    c: &mut Conn<'_>,
    promotion_id: &str,
    customer_key: &str,
    limit: Option<i32>,
) -> Result<bool> {
    let mut upsert = OnConflict::columns([PromotionRedemptions::PromotionId, PromotionRedemptions::CustomerKey])
        .value(
            PromotionRedemptions::Count,
            Expr::col((PromotionRedemptions::Table, PromotionRedemptions::Count)).add(1),
        )
        .to_owned();
    if let Some(limit) = limit {
        if limit < 1 {
            return Ok(false);
        }
        upsert.action_and_where(Expr::col((PromotionRedemptions::Table, PromotionRedemptions::Count)).lt(limit));
    }
    let stmt = Query::insert()
        .into_table(PromotionRedemptions::Table)
        .columns([PromotionRedemptions::PromotionId, PromotionRedemptions::CustomerKey, PromotionRedemptions::Count])
        .values_panic([promotion_id.into(), customer_key.into(), 1i32.into()])
        .on_conflict(upsert)
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Gives back one use (an order cancelled before it shipped, say).
pub async fn uncount_use(c: &mut Conn<'_>, promotion_id: &str, customer_key: &str) -> Result<()> {
    let total = Query::update()
        .table(Promotions::Table)
        .value(Promotions::UsageCount, Expr::col(Promotions::UsageCount).sub(1))
        .and_where(Expr::col(Promotions::Id).eq(promotion_id))
        .and_where(Expr::col(Promotions::UsageCount).gt(0))
        .to_owned();
    c.execute(&total).await?;
    let personal = Query::update()
        .table(PromotionRedemptions::Table)
        .value(PromotionRedemptions::Count, Expr::col(PromotionRedemptions::Count).sub(1))
        .and_where(Expr::col(PromotionRedemptions::PromotionId).eq(promotion_id))
        .and_where(Expr::col(PromotionRedemptions::CustomerKey).eq(customer_key))
        .and_where(Expr::col(PromotionRedemptions::Count).gt(0))
        .to_owned();
    c.execute(&personal).await?;
    Ok(())
}

/// How many customers have redeemed a promotion.
pub async fn redeemers(c: &mut Conn<'_>, promotion_id: &str) -> Result<i64> {
    c.fetch_i64(
        &Query::select()
            .expr(Expr::col(PromotionRedemptions::CustomerKey).count())
            .from(PromotionRedemptions::Table)
            .and_where(Expr::col(PromotionRedemptions::PromotionId).eq(promotion_id))
            .and_where(Expr::col(PromotionRedemptions::Count).gt(0))
            .to_owned(),
    )
    .await
}
