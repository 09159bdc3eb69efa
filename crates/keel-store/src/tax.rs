//! Tax rates per region, country, province and product tax class; products' tax classes.

use crate::{Conn, Result};
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Iden, OnConflict, Order, Query};

#[derive(Iden)]
enum TaxRates {
    Table,
    Id,
    RegionId,
    CountryCode,
    Province,
    TaxClass,
    Rate,
    Name,
    CreatedAt,
}

#[derive(Iden)]
enum ProductTaxClasses {
    Table,
    ProductId,
    TaxClass,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RateRow {
    pub id: String,
    pub region_id: String,
    pub country_code: String,
    pub province: Option<String>,
    pub tax_class: Option<String>,
    pub rate: i32,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: [TaxRates; 8] = [
    TaxRates::Id,
    TaxRates::RegionId,
    TaxRates::CountryCode,
    TaxRates::Province,
    TaxRates::TaxClass,
    TaxRates::Rate,
    TaxRates::Name,
    TaxRates::CreatedAt,
];

pub async fn insert(c: &mut Conn<'_>, r: &RateRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(TaxRates::Table)
        .columns(COLUMNS)
        .values_panic([
            r.id.clone().into(),
            r.region_id.clone().into(),
            r.country_code.clone().into(),
            r.province.clone().into(),
            r.tax_class.clone().into(),
            r.rate.into(),
            r.name.clone().into(),
            r.created_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

pub async fn of_region(c: &mut Conn<'_>, region_id: &str) -> Result<Vec<RateRow>> {
    let q = Query::select()
        .columns(COLUMNS)
        .from(TaxRates::Table)
        .and_where(Expr::col(TaxRates::RegionId).eq(region_id))
        .order_by(TaxRates::CountryCode, Order::Asc)
        .order_by(TaxRates::Id, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

pub async fn delete(c: &mut Conn<'_>, id: &str) -> Result<bool> {
    Ok(c.execute(&Query::delete().from_table(TaxRates::Table).and_where(Expr::col(TaxRates::Id).eq(id)).to_owned())
        .await?
        == 1)
}

/// Sets (or with `None` clears) a product's tax class.
pub async fn set_product_class(c: &mut Conn<'_>, product_id: &str, class: Option<&str>) -> Result<()> {
    match class {
        Some(class) => {
            let stmt = Query::insert()
                .into_table(ProductTaxClasses::Table)
                .columns([ProductTaxClasses::ProductId, ProductTaxClasses::TaxClass])
                .values_panic([product_id.into(), class.into()])
                .on_conflict(
                    OnConflict::column(ProductTaxClasses::ProductId)
                        .update_column(ProductTaxClasses::TaxClass)
                        .to_owned(),
                )
                .to_owned();
            c.execute(&stmt).await?;
        }
        None => {
            let stmt = Query::delete()
                .from_table(ProductTaxClasses::Table)
                .and_where(Expr::col(ProductTaxClasses::ProductId).eq(product_id))
                .to_owned();
            c.execute(&stmt).await?;
        }
    }
    Ok(())
}

/// The tax classes of these products (those without one are absent).
pub async fn product_classes(c: &mut Conn<'_>, product_ids: &[String]) -> Result<Vec<(String, String)>> {
    if product_ids.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        product_id: String,
        tax_class: String,
    }
    let q = Query::select()
        .columns([ProductTaxClasses::ProductId, ProductTaxClasses::TaxClass])
        .from(ProductTaxClasses::Table)
        .and_where(Expr::col(ProductTaxClasses::ProductId).is_in(product_ids.iter().cloned()))
        .to_owned();
    let rows: Vec<Row> = c.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|r| (r.product_id, r.tax_class)).collect())
}
