//! Stock locations and stock levels per variant and location.
//!
//! For now the demo seed fills these tables; reservations and adjustments arrive with the
//! inventory module.

use crate::{Conn, Result};
use chrono::{DateTime, Utc};
use keel_domain::{StockLocationId, VariantId};
use sea_query::{Iden, OnConflict, Query};

#[derive(Iden)]
enum StockLocations {
    Table,
    Id,
    Code,
    Name,
    IsDefault,
    CreatedAt,
}

#[derive(Iden)]
enum InventoryLevels {
    Table,
    VariantId,
    LocationId,
    OnHand,
    Reserved,
    UpdatedAt,
}

pub async fn insert_location(
    c: &mut Conn<'_>,
    id: StockLocationId,
    code: &str,
    name: &str,
    is_default: bool,
    at: DateTime<Utc>,
) -> Result<()> {
    let stmt = Query::insert()
        .into_table(StockLocations::Table)
        .columns([
            StockLocations::Id,
            StockLocations::Code,
            StockLocations::Name,
            StockLocations::IsDefault,
            StockLocations::CreatedAt,
        ])
        .values_panic([id.to_string().into(), code.into(), name.into(), is_default.into(), at.into()])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Sets on-hand quantities, keeping any reservation already recorded.
pub async fn set_levels(
    c: &mut Conn<'_>,
    levels: &[(VariantId, StockLocationId, i64)],
    at: DateTime<Utc>,
) -> Result<()> {
    if levels.is_empty() {
        return Ok(());
    }
    let mut insert = Query::insert()
        .into_table(InventoryLevels::Table)
        .columns([
            InventoryLevels::VariantId,
            InventoryLevels::LocationId,
            InventoryLevels::OnHand,
            InventoryLevels::Reserved,
            InventoryLevels::UpdatedAt,
        ])
        .on_conflict(
            OnConflict::columns([InventoryLevels::VariantId, InventoryLevels::LocationId])
                .update_columns([InventoryLevels::OnHand, InventoryLevels::UpdatedAt])
                .to_owned(),
        )
        .to_owned();
    for (variant, location, on_hand) in levels {
        insert.values_panic([
            variant.to_string().into(),
            location.to_string().into(),
            (*on_hand).into(),
            0i64.into(),
            at.into(),
        ]);
    }
    c.execute(&insert).await?;
    Ok(())
}
