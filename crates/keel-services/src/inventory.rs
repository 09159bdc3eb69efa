//! Inventory: stock levels per variant and location (on hand, reserved, available = on hand −
//! reserved), tracking flags, reservations held by carts and orders, and a movement log.
//!
//! A reservation takes stock from one location with a single conditional update that succeeds
//! only where enough is available, so concurrent reservations can never over-reserve; releasing
//! gives it back the same way. Setting a level below what is reserved there is refused. A level
//! falling to or below its variant's low-stock threshold records an `inventory.low_stock` event.

use crate::{Result, ServiceError, events, now};
use chrono::{DateTime, Utc};
use keel_domain::{MovementId, ReservationId, StockLocationId, VariantId};
use keel_store::{Conn, Db, inventory as repo};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct StockLevel {
    pub location_id: StockLocationId,
    pub location_code: String,
    pub on_hand: i64,
    pub reserved: i64,
    /// `on_hand - reserved`.
    pub available: i64,
    pub updated_at: DateTime<Utc>,
}

/// A variant's stock as staff see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct VariantInventory {
    pub variant_id: VariantId,
    /// Whether stock is counted at all (false: always available).
    pub manage_inventory: bool,
    /// Whether it may be sold beyond what is available.
    pub allow_backorder: bool,
    pub low_stock_threshold: Option<i64>,
    pub levels: Vec<StockLevel>,
    /// Summed over every location.
    pub available: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct StockLocation {
    pub id: StockLocationId,
    pub code: String,
    pub name: String,
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct Movement {
    pub id: MovementId,
    pub location_id: StockLocationId,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    /// Why: `set`, `adjustment`, `reserve`, `release`, `expire`, or a staff-given reason.
    pub reason: String,
    /// What caused it (a reservation's owner, for instance).
    pub reference: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
#[graphql(name = "StockLevelInput")]
pub struct SetLevel {
    /// The new on-hand quantity (0 or more; not below what is reserved there).
    pub on_hand: i64,
    /// Default: the default stock location.
    pub location_id: Option<StockLocationId>,
    /// Recorded in the movement log (default `set`).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemSettings {
    pub manage_inventory: Option<bool>,
    pub allow_backorder: Option<bool>,
    /// Record `inventory.low_stock` when available falls to this or below; `null` clears.
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<i64>)]
    pub low_stock_threshold: Option<Option<i64>>,
}

/// Who holds a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    Cart(&'a str),
    Order(&'a str),
}

impl Owner<'_> {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            Owner::Cart(id) => ("cart", id),
            Owner::Order(id) => ("order", id),
        }
    }
}

/// A held reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: ReservationId,
    pub variant_id: VariantId,
    pub location_id: StockLocationId,
    pub quantity: i64,
}

fn parse<T>(raw: &str, parse: impl Fn(&str) -> std::result::Result<T, keel_domain::id::InvalidId>) -> Result<T> {
    parse(raw).map_err(|_| ServiceError::Internal(format!("stored id {raw:?}")))
}

fn insufficient() -> ServiceError {
    ServiceError::Conflict {
        code: "insufficient_stock",
        field: "quantity",
        message: "not enough stock is available".to_string(),
    }
}

/// A variant running low.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LowStock {
    pub variant_id: VariantId,
    pub product_id: keel_domain::ProductId,
    pub sku: String,
    pub title: String,
    /// On hand minus reserved, over every location.
    pub available: i64,
    /// Its low-stock threshold (or the default asked for).
    pub threshold: i64,
}

#[derive(Clone)]
pub struct InventoryService {
    db: Db,
}

impl InventoryService {
    pub fn new(db: Db) -> Self {
        InventoryService { db }
    }

    pub async fn locations(&self) -> Result<Vec<StockLocation>> {
        let mut conn = self.db.read().await?;
        repo::list_locations(&mut conn.conn())
            .await?
            .into_iter()
            .map(|l| {
                Ok(StockLocation {
                    id: parse(&l.id, StockLocationId::parse)?,
                    code: l.code,
                    name: l.name,
                    is_default: l.is_default,
                })
            })
            .collect()
    }

    async fn variant_exists(c: &mut Conn<'_>, id: VariantId) -> Result<()> {
        keel_store::catalog::find_variant(c, id).await?.map(|_| ()).ok_or(ServiceError::NotFound { entity: "variant" })
    }

    async fn inventory_in(c: &mut Conn<'_>, variant: VariantId) -> Result<VariantInventory> {
        let ids = [variant.to_string()];
        let locations: HashMap<String, String> =
            repo::list_locations(c).await?.into_iter().map(|l| (l.id, l.code)).collect();
        let item = repo::items_of(c, &ids).await?.into_iter().next();
        let mut levels = Vec::new();
        for l in repo::levels_of(c, &ids, None).await? {
            levels.push(StockLevel {
                location_id: parse(&l.location_id, StockLocationId::parse)?,
                location_code: locations.get(&l.location_id).cloned().unwrap_or_default(),
                on_hand: l.on_hand,
                reserved: l.reserved,
                available: l.on_hand - l.reserved,
                updated_at: l.updated_at,
            });
        }
        Ok(VariantInventory {
            variant_id: variant,
            manage_inventory: item.as_ref().is_none_or(|i| i.manage_inventory),
            allow_backorder: item.as_ref().is_some_and(|i| i.allow_backorder),
            low_stock_threshold: item.as_ref().and_then(|i| i.low_stock_threshold),
            available: levels.iter().map(|l| l.available).sum(),
            levels,
        })
    }

    pub async fn inventory(&self, variant: VariantId) -> Result<VariantInventory> {
        let mut conn = self.db.read().await?;
        Self::variant_exists(&mut conn.conn(), variant).await?;
        Self::inventory_in(&mut conn.conn(), variant).await
    }

    /// Sets the on-hand quantity at a location (the default one unless named).
    pub async fn set_level(&self, variant: VariantId, input: SetLevel) -> Result<VariantInventory> {
        if input.on_hand < 0 {
            return Err(ServiceError::invalid("on_hand", "must be 0 or more"));
        }
        let reason = input.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).unwrap_or("set");
        if reason.chars().count() > 200 {
            return Err(ServiceError::invalid("reason", "must be at most 200 characters"));
        }
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        Self::variant_exists(&mut c, variant).await?;
        let locations = repo::list_locations(&mut c).await?;
        let location = match input.location_id {
            Some(id) => locations.iter().find(|l| l.id == id.to_string()),
            None => locations.iter().find(|l| l.is_default),
        }
        .ok_or_else(|| ServiceError::invalid("location_id", "no such stock location"))?
        .id
        .clone();
        let at = now();
        let previous = repo::set_on_hand(&mut c, &variant.to_string(), &location, input.on_hand, at).await?.ok_or(
            ServiceError::Conflict {
                code: "below_reserved",
                field: "on_hand",
                message: "on hand cannot fall below the quantity reserved at this location".into(),
            },
        )?;
        let movement = repo::MovementRow {
            id: MovementId::new().to_string(),
            variant_id: variant.to_string(),
            location_id: location.clone(),
            on_hand_delta: input.on_hand - previous,
            reserved_delta: 0,
            reason: reason.to_string(),
            reference: None,
            at,
        };
        Self::record_movement(&mut c, &movement).await?;
        let inventory = Self::inventory_in(&mut c, variant).await?;
        Self::note_low_stock(&mut c, &inventory).await?;
        tx.commit().await?;
        Ok(inventory)
    }

    /// Logs a movement; when it takes a location's available stock to zero or back above it
    /// (what the store's `in_stock` shows), records `inventory.availability_changed` so caches
    /// and the search index follow. Most movements flip nothing and cost one extra read.
    async fn record_movement(c: &mut Conn<'_>, movement: &repo::MovementRow) -> Result<()> {
        repo::insert_movement(c, movement).await?;
        let delta = movement.on_hand_delta - movement.reserved_delta;
        if delta == 0 {
            return Ok(());
        }
        let ids = [movement.variant_id.clone()];
        let location = [movement.location_id.clone()];
        let after: i64 = repo::levels_of(c, &ids, Some(&location)).await?.iter().map(|l| l.on_hand - l.reserved).sum();
        if (after > 0) != (after - delta > 0) {
            Self::availability_changed(c, &movement.variant_id, Some(&movement.location_id), after).await?;
        }
        Ok(())
    }

    async fn availability_changed(
        c: &mut Conn<'_>,
        variant: &str,
        location: Option<&str>,
        available: i64,
    ) -> Result<()> {
        let data = serde_json::json!({"variant_id": variant, "location_id": location, "available": available});
        events::record(c, "inventory.availability_changed", "variant", variant, data).await?;
        Ok(())
    }

    async fn note_low_stock(c: &mut Conn<'_>, inventory: &VariantInventory) -> Result<()> {
        if let Some(threshold) = inventory.low_stock_threshold
            && inventory.manage_inventory
            && inventory.available <= threshold
        {
            let data = serde_json::json!({"variant_id": inventory.variant_id, "available": inventory.available, "threshold": threshold});
            events::record(c, "inventory.low_stock", "variant", &inventory.variant_id.to_string(), data).await?;
        }
        Ok(())
    }

    /// Changes how a variant's stock is kept.
    pub async fn update_item(&self, variant: VariantId, settings: ItemSettings) -> Result<VariantInventory> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        Self::variant_exists(&mut c, variant).await?;
        let current = Self::inventory_in(&mut c, variant).await?;
        let threshold = settings.low_stock_threshold.unwrap_or(current.low_stock_threshold);
        if threshold.is_some_and(|t| t < 0) {
            return Err(ServiceError::invalid("low_stock_threshold", "must be 0 or more"));
        }
        let item = repo::ItemRow {
            variant_id: variant.to_string(),
            manage_inventory: settings.manage_inventory.unwrap_or(current.manage_inventory),
            allow_backorder: settings.allow_backorder.unwrap_or(current.allow_backorder),
            low_stock_threshold: threshold,
            updated_at: now(),
        };
        repo::upsert_item(&mut c, &item).await?;
        let inventory = Self::inventory_in(&mut c, variant).await?;
        if item.manage_inventory != current.manage_inventory || item.allow_backorder != current.allow_backorder {
            Self::availability_changed(&mut c, &item.variant_id, None, inventory.available).await?;
        }
        tx.commit().await?;
        Ok(inventory)
    }

    /// Counted variants at or below their low-stock threshold (`default_threshold` where none is
    /// set), summed over every location, the lowest first.
    pub async fn low_stock(&self, default_threshold: i64, limit: u64) -> Result<Vec<LowStock>> {
        let mut conn = self.db.read().await?;
        let mut c = conn.conn();
        let rows = repo::low_stock(&mut c, default_threshold, limit).await?;
        let ids: Vec<VariantId> = rows.iter().filter_map(|r| VariantId::parse(&r.variant_id).ok()).collect();
        let variants: HashMap<String, _> = keel_store::catalog::find_variants(&mut c, &ids)
            .await?
            .into_iter()
            .map(|v| (v.id.to_string(), v))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let v = variants.get(&r.variant_id)?;
                Some(LowStock {
                    variant_id: v.id,
                    product_id: v.product_id,
                    sku: v.sku.clone(),
                    title: v.title.clone(),
                    available: r.available,
                    threshold: r.threshold,
                })
            })
            .collect())
    }

    pub async fn movements(&self, variant: VariantId, limit: u64) -> Result<Vec<Movement>> {
        let mut conn = self.db.read().await?;
        Self::variant_exists(&mut conn.conn(), variant).await?;
        repo::movements_of(&mut conn.conn(), &variant.to_string(), limit)
            .await?
            .into_iter()
            .map(|m| {
                Ok(Movement {
                    id: parse(&m.id, MovementId::parse)?,
                    location_id: parse(&m.location_id, StockLocationId::parse)?,
                    on_hand_delta: m.on_hand_delta,
                    reserved_delta: m.reserved_delta,
                    reason: m.reason,
                    reference: m.reference,
                    at: m.at,
                })
            })
            .collect()
    }

    /// Reserves `quantity` of a variant for `owner`, from the first of `locations` (all, default
    /// first, when `None`) that has it all available, in the caller's transaction. An untracked
    /// variant needs no reservation (`Ok(None)`); not enough anywhere is `insufficient_stock`.
    pub async fn reserve(
        c: &mut Conn<'_>,
        owner: Owner<'_>,
        variant: VariantId,
        quantity: i64,
        locations: Option<&[String]>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Option<Reservation>> {
        if quantity <= 0 {
            return Err(ServiceError::invalid("quantity", "must be at least 1"));
        }
        let id = variant.to_string();
        let item = repo::items_of(c, std::slice::from_ref(&id)).await?.into_iter().next();
        if item.as_ref().is_some_and(|i| !i.manage_inventory) {
            return Ok(None);
        }
        let order: Vec<String> = match locations {
            Some(l) => l.to_vec(),
            None => repo::list_locations(c).await?.into_iter().map(|l| l.id).collect(),
        };
        let at = now();
        for location in order {
            if repo::reserve(c, &id, &location, quantity, at).await? {
                let (kind, owner_id) = owner.parts();
                let reservation = repo::ReservationRow {
                    id: ReservationId::new().to_string(),
                    variant_id: id.clone(),
                    location_id: location.clone(),
                    quantity,
                    owner_kind: kind.into(),
                    owner_id: owner_id.into(),
                    expires_at,
                    created_at: at,
                };
                repo::insert_reservation(c, &reservation).await?;
                Self::record_movement(c, &movement_of(&reservation, quantity, "reserve", at)).await?;
                return Ok(Some(Reservation {
                    id: parse(&reservation.id, ReservationId::parse)?,
                    variant_id: variant,
                    location_id: parse(&location, StockLocationId::parse)?,
                    quantity,
                }));
            }
        }
        if item.is_some_and(|i| i.allow_backorder) {
            return Ok(None);
        }
        Err(insufficient())
    }

    /// Releases a reservation (once; releasing it again does nothing). `reason`: `release`,
    /// `expire`, …
    pub async fn release(c: &mut Conn<'_>, id: ReservationId, reason: &str) -> Result<bool> {
        let Some(r) = repo::take_reservation(c, &id.to_string()).await? else { return Ok(false) };
        let at = now();
        if !repo::unreserve(c, &r.variant_id, &r.location_id, r.quantity, at).await? {
            return Err(ServiceError::Internal(format!("reservation {} held more than its level records", r.id)));
        }
        Self::record_movement(c, &movement_of(&r, -r.quantity, reason, at)).await?;
        Ok(true)
    }

    /// Releases every reservation `owner` holds, in the caller's transaction; returns how many.
    pub async fn release_owner(c: &mut Conn<'_>, owner: Owner<'_>, reason: &str) -> Result<usize> {
        let (kind, id) = owner.parts();
        let held = repo::reservations_by_owner(c, kind, id).await?;
        let mut released = 0;
        for r in held {
            if Self::release(c, parse(&r.id, ReservationId::parse)?, reason).await? {
                released += 1;
            }
        }
        Ok(released)
    }

    /// Turns `owner`'s reservations into sold stock (on hand and reserved both drop), in the
    /// caller's transaction, logged as `sale` movements referring to `reference`.
    /// Returns the units consumed (the caller checks they are all it reserved: reservations
    /// that expired meanwhile are gone).
    pub async fn consume_owner(c: &mut Conn<'_>, owner: Owner<'_>, reference: &str) -> Result<i64> {
        let (kind, id) = owner.parts();
        let at = now();
        let mut units = 0;
        for r in repo::reservations_by_owner(c, kind, id).await? {
            let Some(taken) = repo::take_reservation(c, &r.id).await? else { continue };
            if !repo::consume(c, &taken.variant_id, &taken.location_id, taken.quantity, at).await? {
                return Err(ServiceError::Internal(format!("reservation {} held more than its level records", r.id)));
            }
            let mut movement = movement_of(&taken, -taken.quantity, "sale", at);
            movement.on_hand_delta = -taken.quantity;
            movement.reference = Some(reference.to_string());
            Self::record_movement(c, &movement).await?;
            units += taken.quantity;
        }
        Ok(units)
    }

    /// Puts back on hand what was sold under `reference` (a canceled order): one `restock`
    /// movement per sale, to the location it left from. Returns the units restocked.
    pub async fn restock_sales(c: &mut Conn<'_>, reference: &str) -> Result<i64> {
        let at = now();
        let mut units = 0;
        let movements = repo::movements_by_reference(c, reference).await?;
        // Units already back (returns, edits) are not restocked again.
        let back = |variant: &str, location: &str| -> i64 {
            movements
                .iter()
                .filter(|m| m.reason == "return" && m.variant_id == variant && m.location_id == location)
                .map(|m| m.on_hand_delta)
                .sum()
        };
        for sale in movements.iter().filter(|m| m.reason == "sale").cloned() {
            let quantity = -sale.on_hand_delta - back(&sale.variant_id, &sale.location_id);
            if quantity <= 0 || !repo::restock(c, &sale.variant_id, &sale.location_id, quantity, at).await? {
                continue;
            }
            Self::record_movement(
                c,
                &repo::MovementRow {
                    id: MovementId::new().to_string(),
                    variant_id: sale.variant_id,
                    location_id: sale.location_id,
                    on_hand_delta: quantity,
                    reserved_delta: 0,
                    reason: "restock".into(),
                    reference: Some(reference.to_string()),
                    at,
                },
            )
            .await?;
            units += quantity;
        }
        Ok(units)
    }

    /// Puts `quantity` of a variant sold under `reference` back on hand, at the location its
    /// sale left from (a return received). Returns whether it found where.
    pub async fn restock_returned(c: &mut Conn<'_>, reference: &str, variant: &str, quantity: i64) -> Result<bool> {
        let sale = repo::movements_by_reference(c, reference)
            .await?
            .into_iter()
            .find(|m| m.reason == "sale" && m.variant_id == variant);
        let Some(sale) = sale else { return Ok(false) };
        let at = now();
        if !repo::restock(c, variant, &sale.location_id, quantity, at).await? {
            return Ok(false);
        }
        let movement = repo::MovementRow {
            id: MovementId::new().to_string(),
            variant_id: variant.to_string(),
            location_id: sale.location_id,
            on_hand_delta: quantity,
            reserved_delta: 0,
            reason: "return".into(),
            reference: Some(reference.to_string()),
            at,
        };
        Self::record_movement(c, &movement).await?;
        Ok(true)
    }

    /// Releases reservations past their expiry (a job runs this); returns how many.
    pub async fn expire_reservations(&self) -> Result<usize> {
        let mut tx = self.db.begin().await?;
        let expired = repo::expired_reservations(&mut tx.conn(), now(), 500).await?;
        let mut released = 0;
        for r in &expired {
            if Self::release(&mut tx.conn(), parse(&r.id, ReservationId::parse)?, "expire").await? {
                released += 1;
            }
        }
        tx.commit().await?;
        Ok(released)
    }

    /// How many of a variant can be sold at `locations` (all when `None`): `None` when there is
    /// no limit (untracked, or backorders allowed).
    pub async fn sellable(c: &mut Conn<'_>, variant: VariantId, locations: Option<&[String]>) -> Result<Option<i64>> {
        let ids = [variant.to_string()];
        let item = repo::items_of(c, &ids).await?.into_iter().next();
        if item.is_some_and(|i| !i.manage_inventory || i.allow_backorder) {
            return Ok(None);
        }
        Ok(Some(repo::levels_of(c, &ids, locations).await?.iter().map(|l| l.on_hand - l.reserved).sum()))
    }

    /// Whether each variant can be bought now at `locations` (all when `None`): untracked,
    /// backorderable, or with stock available. One pair of statements for any number of variants.
    pub async fn in_stock(
        &self,
        variants: &[VariantId],
        locations: Option<&[String]>,
    ) -> Result<HashMap<VariantId, bool>> {
        let ids: Vec<String> = variants.iter().map(ToString::to_string).collect();
        let mut conn = self.db.read().await?;
        let items: HashMap<String, repo::ItemRow> =
            repo::items_of(&mut conn.conn(), &ids).await?.into_iter().map(|i| (i.variant_id.clone(), i)).collect();
        let mut available: HashMap<String, i64> = HashMap::new();
        for level in repo::levels_of(&mut conn.conn(), &ids, locations).await? {
            *available.entry(level.variant_id).or_default() += level.on_hand - level.reserved;
        }
        Ok(variants
            .iter()
            .zip(&ids)
            .map(|(v, id)| {
                let item = items.get(id);
                let free = item.is_some_and(|i| !i.manage_inventory || i.allow_backorder);
                (*v, free || available.get(id).copied().unwrap_or(0) > 0)
            })
            .collect())
    }
}

impl InventoryService {
    /// Whether each variant can be bought now from the region's stock locations (all without a
    /// region), in one statement.
    pub async fn in_stock_in(
        &self,
        variants: &[VariantId],
        region: Option<&crate::regions::Region>,
    ) -> Result<HashMap<VariantId, bool>> {
        let locations = region.map(|r| r.location_ids.iter().map(ToString::to_string).collect::<Vec<_>>());
        self.in_stock(variants, locations.as_deref()).await
    }

    /// Fills each variant's `in_stock` for the store, counting `region`'s stock locations (all
    /// when `None`). A fixed number of statements for any page.
    pub async fn annotate(
        &self,
        products: &mut [keel_domain::catalog::view::Product],
        region: Option<&crate::regions::Region>,
    ) -> Result<()> {
        let variants: Vec<VariantId> = products.iter().flat_map(|p| p.variants.iter().map(|v| v.id)).collect();
        let stock = self.in_stock_in(&variants, region).await?;
        for variant in products.iter_mut().flat_map(|p| p.variants.iter_mut()) {
            variant.in_stock = stock.get(&variant.id).copied();
        }
        Ok(())
    }
}

fn movement_of(r: &repo::ReservationRow, delta: i64, reason: &str, at: DateTime<Utc>) -> repo::MovementRow {
    repo::MovementRow {
        id: MovementId::new().to_string(),
        variant_id: r.variant_id.clone(),
        location_id: r.location_id.clone(),
        on_hand_delta: 0,
        reserved_delta: delta,
        reason: reason.to_string(),
        reference: Some(format!("{}:{}", r.owner_kind, r.owner_id)),
        at,
    }
}
