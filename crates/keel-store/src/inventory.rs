//! Stock locations, stock levels per variant and location, tracking flags, reservations and the
//! movement log.
//!
//! Every change of `reserved` is one conditional statement — `reserved + q` only where
//! `on_hand - reserved >= q`, `reserved - q` only where `reserved >= q` — so no interleaving of
//! requests, on either engine, can make available stock negative.

use crate::{Conn, Result};
use chrono::{DateTime, Utc};
use keel_domain::{StockLocationId, VariantId};
use sea_query::{Expr, ExprTrait, Iden, OnConflict, Order, Query};

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

#[derive(Iden)]
enum InventoryItems {
    Table,
    VariantId,
    ManageInventory,
    AllowBackorder,
    LowStockThreshold,
    UpdatedAt,
}

#[derive(Iden)]
enum InventoryReservations {
    Table,
    Id,
    VariantId,
    LocationId,
    Quantity,
    OwnerKind,
    OwnerId,
    ExpiresAt,
    CreatedAt,
}

#[derive(Iden)]
enum InventoryMovements {
    Table,
    Id,
    VariantId,
    LocationId,
    OnHandDelta,
    ReservedDelta,
    Reason,
    Reference,
    At,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LocationRow {
    pub id: String,
    pub code: String,
    pub name: String,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

/// Every stock location, the default first.
pub async fn list_locations(c: &mut Conn<'_>) -> Result<Vec<LocationRow>> {
    let q = Query::select()
        .columns([
            StockLocations::Id,
            StockLocations::Code,
            StockLocations::Name,
            StockLocations::IsDefault,
            StockLocations::CreatedAt,
        ])
        .from(StockLocations::Table)
        .order_by(StockLocations::IsDefault, Order::Desc)
        .order_by(StockLocations::Code, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LevelRow {
    pub variant_id: String,
    pub location_id: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub updated_at: DateTime<Utc>,
}

/// The levels of these variants, at `locations` when given (else everywhere).
pub async fn levels_of(
    c: &mut Conn<'_>,
    variant_ids: &[String],
    locations: Option<&[String]>,
) -> Result<Vec<LevelRow>> {
    if variant_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Query::select()
        .columns([
            InventoryLevels::VariantId,
            InventoryLevels::LocationId,
            InventoryLevels::OnHand,
            InventoryLevels::Reserved,
            InventoryLevels::UpdatedAt,
        ])
        .from(InventoryLevels::Table)
        .and_where(Expr::col(InventoryLevels::VariantId).is_in(variant_ids.iter().cloned()))
        .order_by(InventoryLevels::VariantId, Order::Asc)
        .order_by(InventoryLevels::LocationId, Order::Asc)
        .to_owned();
    if let Some(locations) = locations {
        q.and_where(Expr::col(InventoryLevels::LocationId).is_in(locations.iter().cloned()));
    }
    c.fetch_all(&q).await
}

/// Sets one level's on-hand quantity, unless that would fall below what is reserved there.
/// Returns the previous on-hand quantity (0 for a new level), or `None` when refused.
pub async fn set_on_hand(
    c: &mut Conn<'_>,
    variant: &str,
    location: &str,
    on_hand: i64,
    at: DateTime<Utc>,
) -> Result<Option<i64>> {
    let current = levels_of(c, &[variant.to_string()], Some(&[location.to_string()])).await?;
    let Some(level) = current.first() else {
        let stmt = Query::insert()
            .into_table(InventoryLevels::Table)
            .columns([
                InventoryLevels::VariantId,
                InventoryLevels::LocationId,
                InventoryLevels::OnHand,
                InventoryLevels::Reserved,
                InventoryLevels::UpdatedAt,
            ])
            .values_panic([variant.into(), location.into(), on_hand.into(), 0i64.into(), at.into()])
            .to_owned();
        c.execute(&stmt).await?;
        return Ok(Some(0));
    };
    let stmt = Query::update()
        .table(InventoryLevels::Table)
        .values([(InventoryLevels::OnHand, on_hand.into()), (InventoryLevels::UpdatedAt, at.into())])
        .and_where(Expr::col(InventoryLevels::VariantId).eq(variant))
        .and_where(Expr::col(InventoryLevels::LocationId).eq(location))
        .and_where(Expr::col(InventoryLevels::Reserved).lte(on_hand))
        .to_owned();
    Ok((c.execute(&stmt).await? == 1).then_some(level.on_hand))
}

/// Reserves `quantity` at one level if that much is available there. One statement.
pub async fn reserve(
    c: &mut Conn<'_>,
    variant: &str,
    location: &str,
    quantity: i64,
    at: DateTime<Utc>,
) -> Result<bool> {
    let stmt = Query::update()
        .table(InventoryLevels::Table)
        .values([
            (InventoryLevels::Reserved, Expr::col(InventoryLevels::Reserved).add(quantity)),
            (InventoryLevels::UpdatedAt, Expr::val(at)),
        ])
        .and_where(Expr::col(InventoryLevels::VariantId).eq(variant))
        .and_where(Expr::col(InventoryLevels::LocationId).eq(location))
        .and_where(Expr::col(InventoryLevels::OnHand).sub(Expr::col(InventoryLevels::Reserved)).gte(quantity))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// Gives `quantity` back to one level (never below zero reserved). One statement.
pub async fn unreserve(
    c: &mut Conn<'_>,
    variant: &str,
    location: &str,
    quantity: i64,
    at: DateTime<Utc>,
) -> Result<bool> {
    let stmt = Query::update()
        .table(InventoryLevels::Table)
        .values([
            (InventoryLevels::Reserved, Expr::col(InventoryLevels::Reserved).sub(quantity)),
            (InventoryLevels::UpdatedAt, Expr::val(at)),
        ])
        .and_where(Expr::col(InventoryLevels::VariantId).eq(variant))
        .and_where(Expr::col(InventoryLevels::LocationId).eq(location))
        .and_where(Expr::col(InventoryLevels::Reserved).gte(quantity))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemRow {
    pub variant_id: String,
    pub manage_inventory: bool,
    pub allow_backorder: bool,
    pub low_stock_threshold: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

pub async fn items_of(c: &mut Conn<'_>, variant_ids: &[String]) -> Result<Vec<ItemRow>> {
    if variant_ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .columns([
            InventoryItems::VariantId,
            InventoryItems::ManageInventory,
            InventoryItems::AllowBackorder,
            InventoryItems::LowStockThreshold,
            InventoryItems::UpdatedAt,
        ])
        .from(InventoryItems::Table)
        .and_where(Expr::col(InventoryItems::VariantId).is_in(variant_ids.iter().cloned()))
        .to_owned();
    c.fetch_all(&q).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LowStockRow {
    pub variant_id: String,
    pub available: i64,
    pub threshold: i64,
}

/// Counted variants whose stock, summed over every location, is at or below their low-stock
/// threshold (`default_threshold` where none is set): the lowest first.
pub async fn low_stock(c: &mut Conn<'_>, default_threshold: i64, limit: u64) -> Result<Vec<LowStockRow>> {
    use sea_query::{Alias, Func};
    let level = |col: InventoryLevels| Expr::col((InventoryLevels::Table, col));
    let item = |col: InventoryItems| Expr::col((InventoryItems::Table, col));
    let available = || {
        Expr::expr(Func::cast_as(
            level(InventoryLevels::OnHand).sub(level(InventoryLevels::Reserved)).sum(),
            Alias::new("BIGINT"),
        ))
    };
    let threshold =
        || Expr::expr(Func::coalesce([item(InventoryItems::LowStockThreshold), Expr::val(default_threshold)]));
    let q = Query::select()
        .expr_as(level(InventoryLevels::VariantId), "variant_id")
        .expr_as(available(), "available")
        .expr_as(threshold(), "threshold")
        .from(InventoryLevels::Table)
        .left_join(
            InventoryItems::Table,
            item(InventoryItems::VariantId).equals((InventoryLevels::Table, InventoryLevels::VariantId)),
        )
        .and_where(item(InventoryItems::ManageInventory).is_null().or(item(InventoryItems::ManageInventory).eq(true)))
        .group_by_col((InventoryLevels::Table, InventoryLevels::VariantId))
        .group_by_col((InventoryItems::Table, InventoryItems::LowStockThreshold))
        .and_having(available().lte(threshold()))
        .order_by_expr(available(), Order::Asc)
        .order_by((InventoryLevels::Table, InventoryLevels::VariantId), Order::Asc)
        .limit(limit)
        .to_owned();
    c.fetch_all(&q).await
}

pub async fn upsert_item(c: &mut Conn<'_>, item: &ItemRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(InventoryItems::Table)
        .columns([
            InventoryItems::VariantId,
            InventoryItems::ManageInventory,
            InventoryItems::AllowBackorder,
            InventoryItems::LowStockThreshold,
            InventoryItems::UpdatedAt,
        ])
        .values_panic([
            item.variant_id.clone().into(),
            item.manage_inventory.into(),
            item.allow_backorder.into(),
            item.low_stock_threshold.into(),
            item.updated_at.into(),
        ])
        .on_conflict(
            OnConflict::column(InventoryItems::VariantId)
                .update_columns([
                    InventoryItems::ManageInventory,
                    InventoryItems::AllowBackorder,
                    InventoryItems::LowStockThreshold,
                    InventoryItems::UpdatedAt,
                ])
                .to_owned(),
        )
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReservationRow {
    pub id: String,
    pub variant_id: String,
    pub location_id: String,
    pub quantity: i64,
    pub owner_kind: String,
    pub owner_id: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const RESERVATION_COLUMNS: [InventoryReservations; 8] = [
    InventoryReservations::Id,
    InventoryReservations::VariantId,
    InventoryReservations::LocationId,
    InventoryReservations::Quantity,
    InventoryReservations::OwnerKind,
    InventoryReservations::OwnerId,
    InventoryReservations::ExpiresAt,
    InventoryReservations::CreatedAt,
];

pub async fn insert_reservation(c: &mut Conn<'_>, r: &ReservationRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(InventoryReservations::Table)
        .columns(RESERVATION_COLUMNS)
        .values_panic([
            r.id.clone().into(),
            r.variant_id.clone().into(),
            r.location_id.clone().into(),
            r.quantity.into(),
            r.owner_kind.clone().into(),
            r.owner_id.clone().into(),
            r.expires_at.into(),
            r.created_at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// Removes a reservation and returns it (once: a second call finds nothing).
pub async fn take_reservation(c: &mut Conn<'_>, id: &str) -> Result<Option<ReservationRow>> {
    let stmt = Query::delete()
        .from_table(InventoryReservations::Table)
        .and_where(Expr::col(InventoryReservations::Id).eq(id))
        .returning(Query::returning().columns(RESERVATION_COLUMNS))
        .to_owned();
    c.fetch_optional(&stmt).await
}

/// Reservations whose expiry has passed, oldest first.
pub async fn expired_reservations(c: &mut Conn<'_>, now: DateTime<Utc>, limit: u64) -> Result<Vec<ReservationRow>> {
    let q = Query::select()
        .columns(RESERVATION_COLUMNS)
        .from(InventoryReservations::Table)
        .and_where(Expr::col(InventoryReservations::ExpiresAt).lt(now))
        .order_by(InventoryReservations::ExpiresAt, Order::Asc)
        .limit(limit)
        .to_owned();
    c.fetch_all(&q).await
}

pub async fn reservations_of(c: &mut Conn<'_>, variant_id: &str) -> Result<Vec<ReservationRow>> {
    let q = Query::select()
        .columns(RESERVATION_COLUMNS)
        .from(InventoryReservations::Table)
        .and_where(Expr::col(InventoryReservations::VariantId).eq(variant_id))
        .order_by(InventoryReservations::CreatedAt, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MovementRow {
    pub id: String,
    pub variant_id: String,
    pub location_id: String,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub reason: String,
    pub reference: Option<String>,
    pub at: DateTime<Utc>,
}

const MOVEMENT_COLUMNS: [InventoryMovements; 8] = [
    InventoryMovements::Id,
    InventoryMovements::VariantId,
    InventoryMovements::LocationId,
    InventoryMovements::OnHandDelta,
    InventoryMovements::ReservedDelta,
    InventoryMovements::Reason,
    InventoryMovements::Reference,
    InventoryMovements::At,
];

pub async fn insert_movement(c: &mut Conn<'_>, m: &MovementRow) -> Result<()> {
    let stmt = Query::insert()
        .into_table(InventoryMovements::Table)
        .columns(MOVEMENT_COLUMNS)
        .values_panic([
            m.id.clone().into(),
            m.variant_id.clone().into(),
            m.location_id.clone().into(),
            m.on_hand_delta.into(),
            m.reserved_delta.into(),
            m.reason.clone().into(),
            m.reference.clone().into(),
            m.at.into(),
        ])
        .to_owned();
    c.execute(&stmt).await?;
    Ok(())
}

/// A variant's movements, newest first.
pub async fn movements_of(c: &mut Conn<'_>, variant_id: &str, limit: u64) -> Result<Vec<MovementRow>> {
    let q = Query::select()
        .columns(MOVEMENT_COLUMNS)
        .from(InventoryMovements::Table)
        .and_where(Expr::col(InventoryMovements::VariantId).eq(variant_id))
        .order_by(InventoryMovements::Id, Order::Desc)
        .limit(limit)
        .to_owned();
    c.fetch_all(&q).await
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

/// The reservations an owner holds.
pub async fn reservations_by_owner(c: &mut Conn<'_>, kind: &str, owner_id: &str) -> Result<Vec<ReservationRow>> {
    let q = Query::select()
        .columns(RESERVATION_COLUMNS)
        .from(InventoryReservations::Table)
        .and_where(Expr::col(InventoryReservations::OwnerKind).eq(kind))
        .and_where(Expr::col(InventoryReservations::OwnerId).eq(owner_id))
        .order_by(InventoryReservations::Id, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

/// Ships reserved stock out of one level: on hand and reserved both drop by `quantity`, in one
/// conditional statement (false: the level does not hold that much reserved).
pub async fn consume(
    c: &mut Conn<'_>,
    variant: &str,
    location: &str,
    quantity: i64,
    at: DateTime<Utc>,
) -> Result<bool> {
    let stmt = Query::update()
        .table(InventoryLevels::Table)
        .values([
            (InventoryLevels::OnHand, Expr::col(InventoryLevels::OnHand).sub(quantity)),
            (InventoryLevels::Reserved, Expr::col(InventoryLevels::Reserved).sub(quantity)),
            (InventoryLevels::UpdatedAt, Expr::val(at)),
        ])
        .and_where(Expr::col(InventoryLevels::VariantId).eq(variant))
        .and_where(Expr::col(InventoryLevels::LocationId).eq(location))
        .and_where(Expr::col(InventoryLevels::Reserved).gte(quantity))
        .and_where(Expr::col(InventoryLevels::OnHand).gte(quantity))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}

/// The movements that refer to `reference` (an order's sales, say), oldest first.
pub async fn movements_by_reference(c: &mut Conn<'_>, reference: &str) -> Result<Vec<MovementRow>> {
    let q = Query::select()
        .columns(MOVEMENT_COLUMNS)
        .from(InventoryMovements::Table)
        .and_where(Expr::col(InventoryMovements::Reference).eq(reference))
        .order_by(InventoryMovements::At, Order::Asc)
        .order_by(InventoryMovements::Id, Order::Asc)
        .to_owned();
    c.fetch_all(&q).await
}

/// Puts `quantity` back on hand at one level (goods returned to the shelf). One statement.
pub async fn restock(
    c: &mut Conn<'_>,
    variant: &str,
    location: &str,
    quantity: i64,
    at: DateTime<Utc>,
) -> Result<bool> {
    let stmt = Query::update()
        .table(InventoryLevels::Table)
        .values([
            (InventoryLevels::OnHand, Expr::col(InventoryLevels::OnHand).add(quantity)),
            (InventoryLevels::UpdatedAt, Expr::val(at)),
        ])
        .and_where(Expr::col(InventoryLevels::VariantId).eq(variant))
        .and_where(Expr::col(InventoryLevels::LocationId).eq(location))
        .to_owned();
    Ok(c.execute(&stmt).await? == 1)
}
