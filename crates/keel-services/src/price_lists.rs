//! Customer groups, and price lists: sale prices with start and end dates, prices for customer
//! groups, and quantity tiers, which override base prices while they run. A cart line pays the
//! cheapest price that applies to it ([`keel_domain::pricing::unit_price`]; docs/PRICING.md).

use crate::{Result, ServiceError, now};
use chrono::{DateTime, Utc};
use keel_domain::catalog::Label;
use keel_domain::pricing;
use keel_domain::{Currency, CustomerGroupId, CustomerId, Money, PriceListId, ValidationErrors, VariantId};
use keel_store::{Conn, Db, JsonColumn, price_lists as repo};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// The most prices one list holds.
pub const MAX_PRICES: usize = 10_000;
/// The most customers added to a group in one request.
pub const MAX_MEMBERS_PER_CALL: usize = 1000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct CustomerGroup {
    pub id: CustomerGroupId,
    #[schema(example = "Wholesale")]
    pub name: String,
    pub customer_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerGroupInput {
    #[schema(example = "Wholesale")]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMembers {
    /// Up to 1000 customers to add.
    pub customer_ids: Vec<CustomerId>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupMemberPage {
    pub data: Vec<CustomerId>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceListStatus {
    /// Its prices apply between `starts_at` and `ends_at`.
    Active,
    /// Being prepared: its prices never apply.
    Draft,
}

impl PriceListStatus {
    fn as_str(self) -> &'static str {
        match self {
            PriceListStatus::Active => "active",
            PriceListStatus::Draft => "draft",
        }
    }
}

/// One price of a list: a variant's price in a currency from a quantity on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPrice {
    pub variant_id: VariantId,
    /// Minor units of `currency`.
    #[schema(example = 1500)]
    pub amount: i64,
    #[schema(example = "EUR")]
    pub currency: String,
    /// The line's quantity must reach this (1 when absent).
    #[serde(default = "one")]
    pub min_quantity: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PriceList {
    pub id: PriceListId,
    #[schema(example = "Black Friday")]
    pub name: String,
    pub status: PriceListStatus,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// The groups whose members get these prices; empty: every shopper.
    pub customer_group_ids: Vec<CustomerGroupId>,
    pub prices: Vec<ListPrice>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceListInput {
    pub name: String,
    /// Default `active`.
    pub status: Option<PriceListStatus>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub customer_group_ids: Vec<CustomerGroupId>,
    #[serde(default)]
    pub prices: Vec<ListPrice>,
}

/// Price list changes; absent fields stay, `null` clears a date, `prices` replaces them all.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceListPatch {
    pub name: Option<String>,
    pub status: Option<PriceListStatus>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub starts_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub customer_group_ids: Option<Vec<CustomerGroupId>>,
    pub prices: Option<Vec<ListPrice>>,
}

fn group_of(r: repo::GroupRow, counts: &HashMap<String, i64>) -> Result<CustomerGroup> {
    Ok(CustomerGroup {
        id: CustomerGroupId::parse(&r.id).map_err(|_| ServiceError::stored("group id"))?,
        customer_count: counts.get(&r.id).copied().unwrap_or(0),
        name: r.name,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

fn list_of(r: repo::ListRow, prices: Vec<repo::PriceRow>) -> Result<PriceList> {
    Ok(PriceList {
        id: PriceListId::parse(&r.id).map_err(|_| ServiceError::stored("price list id"))?,
        name: r.name,
        status: if r.status == "draft" { PriceListStatus::Draft } else { PriceListStatus::Active },
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        customer_group_ids: r
            .customer_group_ids
            .0
            .iter()
            .map(|g| CustomerGroupId::parse(g).map_err(|_| ServiceError::stored("group id")))
            .collect::<Result<_>>()?,
        prices: prices
            .into_iter()
            .map(|p| {
                Ok(ListPrice {
                    variant_id: VariantId::parse(&p.variant_id).map_err(|_| ServiceError::stored("variant id"))?,
                    amount: p.amount,
                    currency: p.currency,
                    min_quantity: u32::try_from(p.min_quantity).unwrap_or(1),
                })
            })
            .collect::<Result<_>>()?,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

fn check_name(errors: &mut ValidationErrors, raw: &str) -> String {
    match Label::parse(raw, 200) {
        Ok(label) => label.as_str().to_string(),
        Err(e) => {
            errors.add("name", e.to_string());
            String::new()
        }
    }
}

fn check_dates(errors: &mut ValidationErrors, starts: Option<DateTime<Utc>>, ends: Option<DateTime<Utc>>) {
    if let (Some(s), Some(e)) = (starts, ends)
        && e <= s
    {
        errors.add("ends_at", "must be after starts_at");
    }
}

/// Checks that every group exists.
pub(crate) async fn check_groups(
    c: &mut Conn<'_>,
    errors: &mut ValidationErrors,
    ids: &[CustomerGroupId],
) -> Result<Vec<String>> {
    let known: HashSet<String> = repo::list_groups(c, None).await?.into_iter().map(|g| g.id).collect();
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    if ids.iter().any(|id| !known.contains(id)) {
        errors.add("customer_group_ids", "names a group that does not exist");
    }
    Ok(ids)
}

/// Checks prices: known variants, real currencies, no duplicates.
async fn check_prices(
    c: &mut Conn<'_>,
    errors: &mut ValidationErrors,
    prices: &[ListPrice],
) -> Result<Vec<repo::PriceRow>> {
    if prices.len() > MAX_PRICES {
        errors.add("prices", format!("a list holds at most {MAX_PRICES} prices"));
        return Ok(Vec::new());
    }
    let ids: Vec<VariantId> = prices.iter().map(|p| p.variant_id).collect::<HashSet<_>>().into_iter().collect();
    let found = keel_store::catalog::find_variants(c, &ids).await?;
    if found.len() != ids.len() {
        errors.add("prices", "names a variant that does not exist");
    }
    let mut seen = HashSet::new();
    let mut rows = Vec::with_capacity(prices.len());
    for (i, p) in prices.iter().enumerate() {
        let currency = match Currency::parse(p.currency.trim()) {
            Ok(c) => c.code().to_string(),
            Err(e) => {
                errors.add(format!("prices[{i}].currency"), e.to_string());
                continue;
            }
        };
        if p.amount < 0 {
            errors.add(format!("prices[{i}].amount"), "must not be negative");
        }
        if !(1..=100_000).contains(&p.min_quantity) {
            errors.add(format!("prices[{i}].min_quantity"), "must be 1 to 100000");
        }
        if !seen.insert((p.variant_id, currency.clone(), p.min_quantity)) {
            errors.add(format!("prices[{i}]"), "repeats a variant, currency and minimum quantity");
        }
        rows.push(repo::PriceRow {
            price_list_id: String::new(),
            variant_id: p.variant_id.to_string(),
            currency,
            min_quantity: i32::try_from(p.min_quantity).unwrap_or(1),
            amount: p.amount,
        });
    }
    Ok(rows)
}

#[derive(Clone)]
pub struct PriceListService {
    db: Db,
}

impl PriceListService {
    pub fn new(db: Db) -> Self {
        PriceListService { db }
    }

    pub async fn groups(&self) -> Result<Vec<CustomerGroup>> {
        let mut conn = self.db.read().await?;
        let mut c = conn.conn();
        let counts: HashMap<String, i64> = repo::member_counts(&mut c).await?.into_iter().collect();
        repo::list_groups(&mut c, None).await?.into_iter().map(|g| group_of(g, &counts)).collect()
    }

    async fn load_group(c: &mut Conn<'_>, id: CustomerGroupId) -> Result<CustomerGroup> {
        let row = repo::list_groups(c, Some(&id.to_string()))
            .await?
            .into_iter()
            .next()
            .ok_or(ServiceError::NotFound { entity: "customer group" })?;
        let counts: HashMap<String, i64> = repo::member_counts(c).await?.into_iter().collect();
        group_of(row, &counts)
    }

    pub async fn group(&self, id: CustomerGroupId) -> Result<CustomerGroup> {
        let mut conn = self.db.read().await?;
        Self::load_group(&mut conn.conn(), id).await
    }

    pub async fn create_group(&self, input: CustomerGroupInput) -> Result<CustomerGroup> {
        let mut errors = ValidationErrors::new();
        let name = check_name(&mut errors, &input.name);
        errors.into_result()?;
        let at = now();
        let row = repo::GroupRow { id: CustomerGroupId::new().to_string(), name, created_at: at, updated_at: at };
        let mut tx = self.db.begin().await?;
        repo::insert_group(&mut tx.conn(), &row).await?;
        tx.commit().await?;
        group_of(row, &HashMap::new())
    }

    pub async fn rename_group(&self, id: CustomerGroupId, input: CustomerGroupInput) -> Result<CustomerGroup> {
        let mut errors = ValidationErrors::new();
        let name = check_name(&mut errors, &input.name);
        errors.into_result()?;
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let mut group = Self::load_group(&mut c, id).await?;
        let row = repo::GroupRow { id: id.to_string(), name, created_at: group.created_at, updated_at: now() };
        repo::update_group(&mut c, &row).await?;
        tx.commit().await?;
        (group.name, group.updated_at) = (row.name, row.updated_at);
        Ok(group)
    }

    /// Deletes a group; price lists and promotions naming it stop applying to its members.
    pub async fn delete_group(&self, id: CustomerGroupId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !repo::delete_group(&mut tx.conn(), &id.to_string()).await? {
            return Err(ServiceError::NotFound { entity: "customer group" });
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn add_members(&self, id: CustomerGroupId, input: GroupMembers) -> Result<CustomerGroup> {
        if input.customer_ids.len() > MAX_MEMBERS_PER_CALL {
            return Err(ServiceError::invalid("customer_ids", format!("at most {MAX_MEMBERS_PER_CALL} at once")));
        }
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        Self::load_group(&mut c, id).await?;
        let ids: Vec<String> = input.customer_ids.iter().map(ToString::to_string).collect();
        repo::add_members(&mut c, &id.to_string(), &ids).await.map_err(|e| match e {
            keel_store::StoreError::ForeignKey => {
                ServiceError::invalid("customer_ids", "names a customer that does not exist")
            }
            other => other.into(),
        })?;
        let group = Self::load_group(&mut c, id).await?;
        tx.commit().await?;
        Ok(group)
    }

    pub async fn remove_member(&self, id: CustomerGroupId, customer: CustomerId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !repo::remove_member(&mut tx.conn(), &id.to_string(), &customer.to_string()).await? {
            return Err(ServiceError::NotFound { entity: "group member" });
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn members(&self, id: CustomerGroupId, after: Option<CustomerId>, limit: u64) -> Result<GroupMemberPage> {
        let mut conn = self.db.read().await?;
        let mut c = conn.conn();
        Self::load_group(&mut c, id).await?;
        let after = after.map(|a| a.to_string());
        let mut ids = repo::members(&mut c, &id.to_string(), after.as_deref(), limit + 1).await?;
        let more = ids.len() as u64 > limit;
        ids.truncate(limit as usize);
        let data: Vec<CustomerId> = ids
            .iter()
            .map(|i| CustomerId::parse(i).map_err(|_| ServiceError::stored("customer id")))
            .collect::<Result<_>>()?;
        Ok(GroupMemberPage { next_cursor: if more { data.last().map(ToString::to_string) } else { None }, data })
    }

    /// Fills each variant's `calculated_price` in `currency` for an anonymous shopper buying one:
    /// the base price or the cheapest running list price for everyone. One statement for any
    /// page; variants without a base price in the currency get none.
    pub async fn annotate(
        &self,
        products: &mut [keel_domain::catalog::view::Product],
        currency: Currency,
    ) -> Result<()> {
        let variants: Vec<(VariantId, Option<i64>)> = products
            .iter()
            .flat_map(|p| &p.variants)
            .map(|v| (v.id, v.prices.iter().find(|p| p.currency == currency).map(|p| p.amount)))
            .collect();
        let mut prices = self.calculated_prices(&variants, currency).await?;
        for variant in products.iter_mut().flat_map(|p| p.variants.iter_mut()) {
            variant.calculated_price = prices.remove(&variant.id);
        }
        Ok(())
    }

    /// What one unit of each variant (with its base price in `currency`, if any) costs a shopper
    /// now: the base price, or a running price list's lower price for everyone. Variants with
    /// neither are left out.
    pub async fn calculated_prices(
        &self,
        variants: &[(VariantId, Option<i64>)],
        currency: Currency,
    ) -> Result<HashMap<VariantId, keel_domain::catalog::view::CalculatedPrice>> {
        let ids: Vec<String> = variants.iter().map(|(id, _)| id.to_string()).collect();
        let mut conn = self.db.read().await?;
        let running = repo::running_prices(&mut conn.conn(), &ids, currency.code(), now()).await?;
        let mut out = HashMap::with_capacity(variants.len());
        for &(variant, base) in variants {
            let id = variant.to_string();
            let lists: Vec<pricing::ListPrice> = running
                .iter()
                .filter(|p| p.variant_id == id)
                .map(|p| pricing::ListPrice {
                    list: &p.price_list_id,
                    amount: p.amount,
                    min_quantity: u32::try_from(p.min_quantity).unwrap_or(1),
                    groups: &p.customer_group_ids.0,
                })
                .collect();
            if let Some((amount, list)) = pricing::unit_price(base, &lists, 1, &[]) {
                let price_list_id =
                    list.map(PriceListId::parse).transpose().map_err(|_| ServiceError::stored("price list id"))?;
                out.insert(
                    variant,
                    keel_domain::catalog::view::CalculatedPrice {
                        amount: Money::new(amount, currency),
                        original: Money::new(base.unwrap_or(amount), currency),
                        price_list_id,
                    },
                );
            }
        }
        Ok(out)
    }

    pub async fn lists(&self) -> Result<Vec<PriceList>> {
        let mut conn = self.db.read().await?;
        let mut c = conn.conn();
        // Lists are few; their prices are not shown in the list view.
        repo::list_lists(&mut c, None).await?.into_iter().map(|l| list_of(l, Vec::new())).collect()
    }

    async fn load(c: &mut Conn<'_>, id: PriceListId) -> Result<PriceList> {
        let row = repo::list_lists(c, Some(&id.to_string()))
            .await?
            .into_iter()
            .next()
            .ok_or(ServiceError::NotFound { entity: "price list" })?;
        let prices = repo::prices_of(c, &row.id).await?;
        list_of(row, prices)
    }

    pub async fn get(&self, id: PriceListId) -> Result<PriceList> {
        let mut conn = self.db.read().await?;
        Self::load(&mut conn.conn(), id).await
    }

    pub async fn create(&self, input: PriceListInput) -> Result<PriceList> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let mut errors = ValidationErrors::new();
        let name = check_name(&mut errors, &input.name);
        check_dates(&mut errors, input.starts_at, input.ends_at);
        let groups = check_groups(&mut c, &mut errors, &input.customer_group_ids).await?;
        let prices = check_prices(&mut c, &mut errors, &input.prices).await?;
        errors.into_result()?;
        let at = now();
        let id = PriceListId::new();
        let row = repo::ListRow {
            id: id.to_string(),
            name,
            status: input.status.unwrap_or(PriceListStatus::Active).as_str().into(),
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            customer_group_ids: JsonColumn(groups),
            created_at: at,
            updated_at: at,
        };
        repo::insert_list(&mut c, &row).await?;
        repo::replace_prices(&mut c, &row.id, &prices).await?;
        let list = Self::load(&mut c, id).await?;
        crate::events::record_entity(&mut c, "price_list.created", "price_list", &row.id, &list).await?;
        tx.commit().await?;
        Ok(list)
    }

    pub async fn update(&self, id: PriceListId, patch: PriceListPatch) -> Result<PriceList> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let mut row = repo::list_lists(&mut c, Some(&id.to_string()))
            .await?
            .into_iter()
            .next()
            .ok_or(ServiceError::NotFound { entity: "price list" })?;
        let mut errors = ValidationErrors::new();
        if let Some(name) = &patch.name {
            row.name = check_name(&mut errors, name);
        }
        if let Some(status) = patch.status {
            row.status = status.as_str().into();
        }
        if let Some(starts) = patch.starts_at {
            row.starts_at = starts;
        }
        if let Some(ends) = patch.ends_at {
            row.ends_at = ends;
        }
        check_dates(&mut errors, row.starts_at, row.ends_at);
        if let Some(groups) = &patch.customer_group_ids {
            row.customer_group_ids = JsonColumn(check_groups(&mut c, &mut errors, groups).await?);
        }
        let prices = match &patch.prices {
            Some(prices) => Some(check_prices(&mut c, &mut errors, prices).await?),
            None => None,
        };
        errors.into_result()?;
        row.updated_at = now();
        repo::update_list(&mut c, &row).await?;
        if let Some(prices) = prices {
            repo::replace_prices(&mut c, &row.id, &prices).await?;
        }
        let list = Self::load(&mut c, id).await?;
        crate::events::record_entity(&mut c, "price_list.updated", "price_list", &row.id, &list).await?;
        tx.commit().await?;
        Ok(list)
    }

    pub async fn delete(&self, id: PriceListId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !repo::delete_list(&mut tx.conn(), &id.to_string()).await? {
            return Err(ServiceError::NotFound { entity: "price list" });
        }
        crate::events::record_deleted(&mut tx.conn(), "price_list", &id.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }
}
