//! Customer groups and their members; price lists and their prices.

use crate::{Conn, Result};
use chrono::{DateTime, Utc};
use sea_query::{Cond, Expr, ExprTrait, Iden, OnConflict, Order, Query};
use sqlx::types::Json;

#[derive(Iden)]
enum CustomerGroups {
    Table,
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum CustomerGroupMembers {
    Table,
    GroupId,
    CustomerId,
}

#[derive(Iden)]
enum PriceLists {
    Table,
    Id,
    Name,
    Status,
    StartsAt,
    EndsAt,
    CustomerGroupIds,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum PriceListPrices {
    Table,
    PriceListId,
    VariantId,
    Currency,
    MinQuantity,
    Amount,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRow {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const GROUP_COLUMNS: [CustomerGroups; 4] =
    [CustomerGroups::Id, CustomerGroups::Name, CustomerGroups::CreatedAt, CustomerGroups::UpdatedAt];

pub async fn insert_group(c: &mut Conn<'_>, g: &GroupRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(CustomerGroups::Table)
        .columns(GROUP_COLUMNS)
        .values_panic([g.id.clone().into(), g.name.clone().into(), g.created_at.into(), g.updated_at.into()])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn update_group(c: &mut Conn<'_>, g: &GroupRow) -> Result<bool> {
    let stmt = Query::update()
        .table(CustomerGroups::Table)
        .values([(CustomerGroups::Name, g.name.clone().into()), (CustomerGroups::UpdatedAt, g.updated_at.into())])
        .and_where(Expr::col(CustomerGroups::Id).eq(g.id.clone()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn delete_group(c: &mut Conn<'_>, id: &str) -> Result<bool> {
    let stmt =
        Query::delete().from_table(CustomerGroups::Table).and_where(Expr::col(CustomerGroups::Id).eq(id)).to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Every group by name, or one when `id` is given.
pub async fn list_groups(c: &mut Conn<'_>, id: Option<&str>) -> Result<Vec<GroupRow>> {
    let mut q = Query::select()
        .columns(GROUP_COLUMNS)
        .from(CustomerGroups::Table)
        .order_by(CustomerGroups::Name, Order::Asc)
        .to_owned();
    if let Some(id) = id {
        q.and_where(Expr::col(CustomerGroups::Id).eq(id));
    }
    c.fetch_all(&q).await
}

/// How many members each group has.
pub async fn member_counts(c: &mut Conn<'_>) -> Result<Vec<(String, i64)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        group_id: String,
        members: i64,
    }
    let q = Query::select()
        .column(CustomerGroupMembers::GroupId)
        .expr_as(Expr::col(CustomerGroupMembers::CustomerId).count(), "members")
        .from(CustomerGroupMembers::Table)
        .group_by_col(CustomerGroupMembers::GroupId)
        .to_owned();
    let rows: Vec<Row> = c.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|r| (r.group_id, r.members)).collect())
}

/// Adds customers to a group (those already in it stay).
pub async fn add_members(c: &mut Conn<'_>, group_id: &str, customer_ids: &[String]) -> Result<()> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let mut stmt = Query::insert()
        .into_table(CustomerGroupMembers::Table)
        .columns([CustomerGroupMembers::GroupId, CustomerGroupMembers::CustomerId])
        .on_conflict(
            OnConflict::columns([CustomerGroupMembers::GroupId, CustomerGroupMembers::CustomerId])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    for id in customer_ids {
        stmt.values_panic([group_id.into(), id.clone().into()]);
    }
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn remove_member(c: &mut Conn<'_>, group_id: &str, customer_id: &str) -> Result<bool> {
    let stmt = Query::delete()
        .from_table(CustomerGroupMembers::Table)
        .and_where(Expr::col(CustomerGroupMembers::GroupId).eq(group_id))
        .and_where(Expr::col(CustomerGroupMembers::CustomerId).eq(customer_id))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// A page of a group's member ids, in id order after `after`.
pub async fn members(c: &mut Conn<'_>, group_id: &str, after: Option<&str>, limit: u64) -> Result<Vec<String>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        customer_id: String,
    }
    let mut q = Query::select()
        .column(CustomerGroupMembers::CustomerId)
        .from(CustomerGroupMembers::Table)
        .and_where(Expr::col(CustomerGroupMembers::GroupId).eq(group_id))
        .order_by(CustomerGroupMembers::CustomerId, Order::Asc)
        .limit(limit)
        .to_owned();
    if let Some(after) = after {
        q.and_where(Expr::col(CustomerGroupMembers::CustomerId).gt(after));
    }
    let rows: Vec<Row> = c.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|r| r.customer_id).collect())
}

/// The groups a customer belongs to.
pub async fn groups_of(c: &mut Conn<'_>, customer_id: &str) -> Result<Vec<String>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        group_id: String,
    }
    let q = Query::select()
        .column(CustomerGroupMembers::GroupId)
        .from(CustomerGroupMembers::Table)
        .and_where(Expr::col(CustomerGroupMembers::CustomerId).eq(customer_id))
        .to_owned();
    let rows: Vec<Row> = c.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|r| r.group_id).collect())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub customer_group_ids: Json<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const LIST_COLUMNS: [PriceLists; 8] = [
    PriceLists::Id,
    PriceLists::Name,
    PriceLists::Status,
    PriceLists::StartsAt,
    PriceLists::EndsAt,
    PriceLists::CustomerGroupIds,
    PriceLists::CreatedAt,
    PriceLists::UpdatedAt,
];

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PriceRow {
    pub price_list_id: String,
    pub variant_id: String,
    pub currency: String,
    pub min_quantity: i32,
    pub amount: i64,
}

fn groups_json(l: &ListRow) -> serde_json::Value {
    serde_json::Value::from(l.customer_group_ids.0.clone())
}

pub async fn insert_list(c: &mut Conn<'_>, l: &ListRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(PriceLists::Table)
        .columns(LIST_COLUMNS)
        .values_panic([
            l.id.clone().into(),
            l.name.clone().into(),
            l.status.clone().into(),
            l.starts_at.into(),
            l.ends_at.into(),
            groups_json(l).into(),
            l.created_at.into(),
            l.updated_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn update_list(c: &mut Conn<'_>, l: &ListRow) -> Result<bool> {
    let stmt = Query::update()
        .table(PriceLists::Table)
        .values([
            (PriceLists::Name, l.name.clone().into()),
            (PriceLists::Status, l.status.clone().into()),
            (PriceLists::StartsAt, l.starts_at.into()),
            (PriceLists::EndsAt, l.ends_at.into()),
            (PriceLists::CustomerGroupIds, groups_json(l).into()),
            (PriceLists::UpdatedAt, l.updated_at.into()),
        ])
        .and_where(Expr::col(PriceLists::Id).eq(l.id.clone()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn delete_list(c: &mut Conn<'_>, id: &str) -> Result<bool> {
    let stmt = Query::delete().from_table(PriceLists::Table).and_where(Expr::col(PriceLists::Id).eq(id)).to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Every price list, newest first, or one when `id` is given.
pub async fn list_lists(c: &mut Conn<'_>, id: Option<&str>) -> Result<Vec<ListRow>> {
    let mut q =
        Query::select().columns(LIST_COLUMNS).from(PriceLists::Table).order_by(PriceLists::Id, Order::Desc).to_owned();
    if let Some(id) = id {
        q.and_where(Expr::col(PriceLists::Id).eq(id));
    }
    c.fetch_all(&q).await
}

const PRICE_COLUMNS: [PriceListPrices; 5] = [
    PriceListPrices::PriceListId,
    PriceListPrices::VariantId,
    PriceListPrices::Currency,
    PriceListPrices::MinQuantity,
    PriceListPrices::Amount,
];

/// Replaces a list's prices with `prices` (in one statement each way).
pub async fn replace_prices(c: &mut Conn<'_>, list_id: &str, prices: &[PriceRow]) -> Result<()> {
    let delete = Query::delete()
        .from_table(PriceListPrices::Table)
        .and_where(Expr::col(PriceListPrices::PriceListId).eq(list_id))
        .to_owned();
    c.execute(&delete).await?;
    for chunk in prices.chunks(500) {
        let mut stmt = Query::insert().into_table(PriceListPrices::Table).columns(PRICE_COLUMNS).to_owned();
        for p in chunk {
            stmt.values_panic([
                list_id.into(),
                p.variant_id.clone().into(),
                p.currency.clone().into(),
                p.min_quantity.into(),
                p.amount.into(),
            ]);
        }
        c.execute(&stmt).await?;
    }
    Ok(())
}

/// A list's prices, by variant, currency and minimum quantity.
pub async fn prices_of(c: &mut Conn<'_>, list_id: &str) -> Result<Vec<PriceRow>> {
    let q = Query::select()
        .columns(PRICE_COLUMNS)
        .from(PriceListPrices::Table)
        .and_where(Expr::col(PriceListPrices::PriceListId).eq(list_id))
        .order_by(PriceListPrices::VariantId, Order::Asc)
        .order_by(PriceListPrices::Currency, Order::Asc)
        .order_by(PriceListPrices::MinQuantity, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

/// A running list's price for one of the variants asked about.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunningPrice {
    pub price_list_id: String,
    pub variant_id: String,
    pub min_quantity: i32,
    pub amount: i64,
    pub customer_group_ids: Json<Vec<String>>,
}

/// The prices in `currency` that running lists (active, started, not ended at `at`) hold for
/// these variants: one statement whatever the number of variants.
pub async fn running_prices(
    c: &mut Conn<'_>,
    variant_ids: &[String],
    currency: &str,
    at: DateTime<Utc>,
) -> Result<Vec<RunningPrice>> {
    if variant_ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .column((PriceListPrices::Table, PriceListPrices::PriceListId))
        .column((PriceListPrices::Table, PriceListPrices::VariantId))
        .column((PriceListPrices::Table, PriceListPrices::MinQuantity))
        .column((PriceListPrices::Table, PriceListPrices::Amount))
        .column((PriceLists::Table, PriceLists::CustomerGroupIds))
        .from(PriceListPrices::Table)
        .inner_join(
            PriceLists::Table,
            Expr::col((PriceLists::Table, PriceLists::Id))
                .equals((PriceListPrices::Table, PriceListPrices::PriceListId)),
        )
        .and_where(Expr::col((PriceListPrices::Table, PriceListPrices::VariantId)).is_in(variant_ids.iter().cloned()))
        .and_where(Expr::col((PriceListPrices::Table, PriceListPrices::Currency)).eq(currency))
        .and_where(Expr::col((PriceLists::Table, PriceLists::Status)).eq("active"))
        .cond_where(running_at(at))
        .order_by((PriceListPrices::Table, PriceListPrices::PriceListId), Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

/// Started (or no start) and not yet ended (or no end) at `at`.
fn running_at(at: DateTime<Utc>) -> Cond {
    Cond::all()
        .add(
            Cond::any()
                .add(Expr::col((PriceLists::Table, PriceLists::StartsAt)).is_null())
                .add(Expr::col((PriceLists::Table, PriceLists::StartsAt)).lte(at)),
        )
        .add(
            Cond::any()
                .add(Expr::col((PriceLists::Table, PriceLists::EndsAt)).is_null())
                .add(Expr::col((PriceLists::Table, PriceLists::EndsAt)).gt(at)),
        )
}
