//! Regions (markets): currency, countries, tax-inclusive pricing and serving stock locations.

use crate::{Conn, Result};
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait, Iden, Order, Query};

#[derive(Iden)]
enum Regions {
    Table,
    Id,
    Name,
    Currency,
    TaxInclusive,
    TaxRate,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum RegionCountries {
    Table,
    CountryCode,
    RegionId,
}

#[derive(Iden)]
enum RegionLocations {
    Table,
    RegionId,
    LocationId,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RegionRow {
    pub id: String,
    pub name: String,
    pub currency: String,
    pub tax_inclusive: bool,
    /// The default tax rate, in basis points.
    pub tax_rate: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A region with its countries and stock locations.
#[derive(Debug, Clone)]
pub struct RegionRecord {
    pub row: RegionRow,
    pub countries: Vec<String>,
    pub location_ids: Vec<String>,
}

const COLUMNS: [Regions; 7] = [
    Regions::Id,
    Regions::Name,
    Regions::Currency,
    Regions::TaxInclusive,
    Regions::TaxRate,
    Regions::CreatedAt,
    Regions::UpdatedAt,
];

/// Inserts a region with its countries and locations (a country already in another region is a
/// unique violation: `region.country`).
pub async fn insert(c: &mut Conn<'_>, r: &RegionRecord) -> Result<()> {
    let stmt = Query::insert()
        .into_table(Regions::Table)
        .columns(COLUMNS)
        .values_panic([
            r.row.id.clone().into(),
            r.row.name.clone().into(),
            r.row.currency.clone().into(),
            r.row.tax_inclusive.into(),
            r.row.tax_rate.into(),
            r.row.created_at.into(),
            r.row.updated_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    set_members(c, &r.row.id, &r.countries, &r.location_ids).await
}

/// Replaces a region's countries and locations.
pub async fn set_members(c: &mut Conn<'_>, id: &str, countries: &[String], locations: &[String]) -> Result<()> {
    c.execute(
        &Query::delete()
            .from_table(RegionCountries::Table)
            .and_where(Expr::col(RegionCountries::RegionId).eq(id))
            .to_owned(),
    )
    .await?;
    c.execute(
        &Query::delete()
            .from_table(RegionLocations::Table)
            .and_where(Expr::col(RegionLocations::RegionId).eq(id))
            .to_owned(),
    )
    .await?;
    if !countries.is_empty() {
        let mut stmt = Query::insert()
            .into_table(RegionCountries::Table)
            .columns([RegionCountries::CountryCode, RegionCountries::RegionId])
            .to_owned();
        for country in countries {
            stmt.values_panic([country.clone().into(), id.into()]);
        }
        c.execute(&stmt).await?;
    }
    if !locations.is_empty() {
        let mut stmt = Query::insert()
            .into_table(RegionLocations::Table)
            .columns([RegionLocations::RegionId, RegionLocations::LocationId])
            .to_owned();
        for location in locations {
            stmt.values_panic([id.into(), location.clone().into()]);
        }
        c.execute(&stmt).await?;
    }
    Ok(())
}

pub async fn update(c: &mut Conn<'_>, r: &RegionRow) -> Result<bool> {
    let stmt = Query::update()
        .table(Regions::Table)
        .values([
            (Regions::Name, r.name.clone().into()),
            (Regions::Currency, r.currency.clone().into()),
            (Regions::TaxInclusive, r.tax_inclusive.into()),
            (Regions::TaxRate, r.tax_rate.into()),
            (Regions::UpdatedAt, r.updated_at.into()),
        ])
        .and_where(Expr::col(Regions::Id).eq(r.id.clone()))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

pub async fn delete(c: &mut Conn<'_>, id: &str) -> Result<bool> {
    Ok(c.execute(&Query::delete().from_table(Regions::Table).and_where(Expr::col(Regions::Id).eq(id)).to_owned())
        .await?
        == 1)
}

/// Every region (or the one with `id`), with members, in three statements.
pub async fn list(c: &mut Conn<'_>, id: Option<&str>) -> Result<Vec<RegionRecord>> {
    let mut q = Query::select().columns(COLUMNS).from(Regions::Table).order_by(Regions::Name, Order::Asc).to_owned();
    if let Some(id) = id {
        q.and_where(Expr::col(Regions::Id).eq(id));
    }
    let rows: Vec<RegionRow> = c.fetch_all(&q).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    #[derive(sqlx::FromRow)]
    struct Pair {
        region_id: String,
        value: String,
    }
    let countries: Vec<Pair> = c
        .fetch_all(
            &Query::select()
                .column(RegionCountries::RegionId)
                .expr_as(Expr::col(RegionCountries::CountryCode), sea_query::Alias::new("value"))
                .from(RegionCountries::Table)
                .and_where(Expr::col(RegionCountries::RegionId).is_in(ids.clone()))
                .order_by(RegionCountries::CountryCode, Order::Asc)
                .to_owned(),
        )
        .await?;
    let locations: Vec<Pair> = c
        .fetch_all(
            &Query::select()
                .column(RegionLocations::RegionId)
                .expr_as(Expr::col(RegionLocations::LocationId), sea_query::Alias::new("value"))
                .from(RegionLocations::Table)
                .and_where(Expr::col(RegionLocations::RegionId).is_in(ids))
                .order_by(RegionLocations::LocationId, Order::Asc)
                .to_owned(),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| RegionRecord {
            countries: countries.iter().filter(|p| p.region_id == row.id).map(|p| p.value.clone()).collect(),
            location_ids: locations.iter().filter(|p| p.region_id == row.id).map(|p| p.value.clone()).collect(),
            row,
        })
        .collect())
}
