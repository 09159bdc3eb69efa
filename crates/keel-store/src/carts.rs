//! Carts and their lines (one line per variant: adding a variant again raises its quantity).

use crate::{Conn, Result};
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Iden, OnConflict, Order, Query};
use sqlx::types::Json;

#[derive(Iden)]
enum Carts {
    Table,
    Id,
    RegionId,
    Currency,
    CustomerId,
    Email,
    ShippingAddress,
    BillingAddress,
    Status,
    ShippingOptionId,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum CartLines {
    Table,
    Id,
    CartId,
    VariantId,
    Quantity,
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CartRow {
    pub id: String,
    pub region_id: String,
    pub currency: String,
    pub customer_id: Option<String>,
    pub email: Option<String>,
    pub shipping_address: Option<Json<serde_json::Value>>,
    pub billing_address: Option<Json<serde_json::Value>>,
    pub status: String,
    pub shipping_option_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LineRow {
    pub id: String,
    pub cart_id: String,
    pub variant_id: String,
    pub quantity: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CART_COLUMNS: [Carts; 11] = [
    Carts::Id,
    Carts::RegionId,
    Carts::Currency,
    Carts::CustomerId,
    Carts::Email,
    Carts::ShippingAddress,
    Carts::BillingAddress,
    Carts::Status,
    Carts::ShippingOptionId,
    Carts::CreatedAt,
    Carts::UpdatedAt,
];

const LINE_COLUMNS: [CartLines; 6] = [
    CartLines::Id,
    CartLines::CartId,
    CartLines::VariantId,
    CartLines::Quantity,
    CartLines::CreatedAt,
    CartLines::UpdatedAt,
];

pub async fn insert(c: &mut Conn<'_>, r: &CartRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(Carts::Table)
        .columns(CART_COLUMNS)
        .values_panic([
            r.id.clone().into(),
            r.region_id.clone().into(),
            r.currency.clone().into(),
            r.customer_id.clone().into(),
            r.email.clone().into(),
            r.shipping_address.as_ref().map(|j| j.0.clone()).into(),
            r.billing_address.as_ref().map(|j| j.0.clone()).into(),
            r.status.clone().into(),
            r.shipping_option_id.clone().into(),
            r.created_at.into(),
            r.updated_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn find(c: &mut Conn<'_>, id: &str) -> Result<Option<CartRow>> {
    c.fetch_optional(
        &Query::select().columns(CART_COLUMNS).from(Carts::Table).and_where(Expr::col(Carts::Id).eq(id)).to_owned(),
    )
    .await
}

pub async fn update(c: &mut Conn<'_>, r: &CartRow) -> Result<bool> {
    let stmt = Query::update()
        .table(Carts::Table)
        .values([
            (Carts::RegionId, r.region_id.clone().into()),
            (Carts::Currency, r.currency.clone().into()),
            (Carts::CustomerId, r.customer_id.clone().into()),
            (Carts::Email, r.email.clone().into()),
            (Carts::ShippingAddress, r.shipping_address.as_ref().map(|j| j.0.clone()).into()),
            (Carts::BillingAddress, r.billing_address.as_ref().map(|j| j.0.clone()).into()),
            (Carts::Status, r.status.clone().into()),
            (Carts::ShippingOptionId, r.shipping_option_id.clone().into()),
            (Carts::UpdatedAt, r.updated_at.into()),
        ])
        .and_where(Expr::col(Carts::Id).eq(r.id.clone()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn lines(c: &mut Conn<'_>, cart_id: &str) -> Result<Vec<LineRow>> {
    let q = Query::select()
        .columns(LINE_COLUMNS)
        .from(CartLines::Table)
        .and_where(Expr::col(CartLines::CartId).eq(cart_id))
        .order_by(CartLines::CreatedAt, Order::Asc)
        .order_by(CartLines::Id, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

/// Adds `quantity` of a variant: a new line, or more on the variant's existing line.
pub async fn add_quantity(c: &mut Conn<'_>, line: &LineRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(CartLines::Table)
        .columns(LINE_COLUMNS)
        .values_panic([
            line.id.clone().into(),
            line.cart_id.clone().into(),
            line.variant_id.clone().into(),
            line.quantity.into(),
            line.created_at.into(),
            line.updated_at.into(),
        ])
        .on_conflict(
            OnConflict::columns([CartLines::CartId, CartLines::VariantId])
                .values([
                    (CartLines::Quantity, Expr::col((CartLines::Table, CartLines::Quantity)).add(line.quantity)),
                    (CartLines::UpdatedAt, Expr::val(line.updated_at)),
                ])
                .to_owned(),
        )
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn set_quantity(
    c: &mut Conn<'_>,
    cart_id: &str,
    line_id: &str,
    quantity: i32,
    at: DateTime<Utc>,
) -> Result<bool> {
    let stmt = Query::update()
        .table(CartLines::Table)
        .values([(CartLines::Quantity, quantity.into()), (CartLines::UpdatedAt, at.into())])
        .and_where(Expr::col(CartLines::Id).eq(line_id))
        .and_where(Expr::col(CartLines::CartId).eq(cart_id))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn delete_line(c: &mut Conn<'_>, cart_id: &str, line_id: &str) -> Result<bool> {
    let stmt = Query::delete()
        .from_table(CartLines::Table)
        .and_where(Expr::col(CartLines::Id).eq(line_id))
        .and_where(Expr::col(CartLines::CartId).eq(cart_id))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// The customer's most recently changed active cart in a region, other than `except`.
pub async fn latest_of_customer(
    c: &mut Conn<'_>,
    customer_id: &str,
    region_id: &str,
    except: &str,
) -> Result<Option<CartRow>> {
    let q = Query::select()
        .columns(CART_COLUMNS)
        .from(Carts::Table)
        .and_where(Expr::col(Carts::CustomerId).eq(customer_id))
        .and_where(Expr::col(Carts::RegionId).eq(region_id))
        .and_where(Expr::col(Carts::Status).eq("active"))
        .and_where(Expr::col(Carts::Id).ne(except))
        .order_by(Carts::UpdatedAt, Order::Desc)
        .limit(1)
        .to_owned();
    c.fetch_optional(&q).await
}

pub async fn delete(c: &mut Conn<'_>, id: &str) -> Result<bool> {
    Ok(c.execute(&Query::delete().from_table(Carts::Table).and_where(Expr::col(Carts::Id).eq(id)).to_owned()).await?
        == 1)
}
