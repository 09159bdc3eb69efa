//! Shipping options per region.

use crate::{Conn, Result};
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Iden, Order, Query};
use sqlx::types::Json;

#[derive(Iden)]
enum ShippingOptions {
    Table,
    Id,
    RegionId,
    Name,
    Amount,
    FreeOver,
    Tiers,
    Provider,
    Data,
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OptionRow {
    pub id: String,
    pub region_id: String,
    pub name: String,
    pub amount: i64,
    pub free_over: Option<i64>,
    pub tiers: Json<serde_json::Value>,
    pub provider: String,
    pub data: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: [ShippingOptions; 10] = [
    ShippingOptions::Id,
    ShippingOptions::RegionId,
    ShippingOptions::Name,
    ShippingOptions::Amount,
    ShippingOptions::FreeOver,
    ShippingOptions::Tiers,
    ShippingOptions::Provider,
    ShippingOptions::Data,
    ShippingOptions::CreatedAt,
    ShippingOptions::UpdatedAt,
];

pub async fn insert(c: &mut Conn<'_>, r: &OptionRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(ShippingOptions::Table)
        .columns(COLUMNS)
        .values_panic([
            r.id.clone().into(),
            r.region_id.clone().into(),
            r.name.clone().into(),
            r.amount.into(),
            r.free_over.into(),
            r.tiers.0.clone().into(),
            r.provider.clone().into(),
            r.data.0.clone().into(),
            r.created_at.into(),
            r.updated_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// A region's options (all regions' when `None`), cheapest flat rate first.
pub async fn list(c: &mut Conn<'_>, region_id: Option<&str>) -> Result<Vec<OptionRow>> {
    let mut q = Query::select()
        .columns(COLUMNS)
        .from(ShippingOptions::Table)
        .order_by(ShippingOptions::Amount, Order::Asc)
        .order_by(ShippingOptions::Id, Order::Asc)
        .to_owned();
    if let Some(region) = region_id {
        q.and_where(Expr::col(ShippingOptions::RegionId).eq(region));
    }
    c.fetch_all(&q).await
}

pub async fn delete(c: &mut Conn<'_>, id: &str) -> Result<bool> {
    let stmt =
        Query::delete().from_table(ShippingOptions::Table).and_where(Expr::col(ShippingOptions::Id).eq(id)).to_owned();
    Ok(c.execute(&stmt).await? == 1)
}
