//! Promotions: discounts by code or automatic, with dates, customer groups, a currency for their
//! amounts, and usage limits in total and per customer. The arithmetic is the domain's
//! ([`keel_domain::promotions::apply`]); here is which promotions are candidates for a cart, why
//! a code is refused, and the race-free redemption that checkout performs.
//!
//! A code is refused with 422 and a code saying why: `promotion_not_found` (unknown or draft),
//! `promotion_not_started`, `promotion_expired`, `promotion_exhausted` (its total limit is
//! used up), `promotion_limit_reached` (this customer's limit), `promotion_not_eligible` (not
//! for the customer's groups, or for another currency). A held code that stops applying later
//! (its end passed, say) stays on the cart, shown with `applied: false` and the same reason.

use crate::price_lists::check_groups;
use crate::{Result, ServiceError, now};
use chrono::{DateTime, Utc};
use keel_domain::catalog::Label;
use keel_domain::promotions::{self as engine, Benefit, ItemFilter, PromoLine};
use keel_domain::{
    CategoryId, CollectionId, Currency, CustomerGroupId, Money, ProductId, PromotionId, ValidationErrors, VariantId,
};
use keel_store::{Conn, Db, JsonColumn, promotions as repo};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The most codes one cart holds.
pub const MAX_CODES_PER_CART: i64 = 5;

/// What a promotion does, as stored: its targets, benefit and minimum.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Rule {
    items: Option<ItemFilter>,
    benefit: Benefit,
    min_subtotal: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
pub enum PromotionStatus {
    Active,
    /// Being prepared (or paused): it never applies, and its code is unknown to shoppers.
    Draft,
}

impl PromotionStatus {
    fn as_str(self) -> &'static str {
        match self {
            PromotionStatus::Active => "active",
            PromotionStatus::Draft => "draft",
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct Promotion {
    pub id: PromotionId,
    /// What shoppers enter (upper-case); absent for an automatic promotion.
    #[schema(example = "WELCOME10")]
    pub code: Option<String>,
    pub name: String,
    pub status: PromotionStatus,
    /// Applies to every eligible cart without a code.
    pub automatic: bool,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// The currency of its amounts (`amount_off`, spend tiers, `min_subtotal`); it applies only
    /// to carts in it. Absent: any currency.
    pub currency: Option<String>,
    /// The lines it targets; absent: the whole order.
    pub items: Option<ItemFilter>,
    pub benefit: Benefit,
    /// The target lines' subtotal must reach this (minor units of `currency`).
    pub min_subtotal: Option<i64>,
    /// Applies alone, and only when it gives more than every combinable promotion together.
    pub exclusive: bool,
    /// Combinable promotions apply highest first, each on what the earlier ones left.
    pub priority: i32,
    /// Only members of these groups get it; empty: everyone.
    pub customer_group_ids: Vec<CustomerGroupId>,
    /// Redemptions allowed in all (checkout counts them); absent: no limit.
    pub usage_limit: Option<u32>,
    /// Redemptions allowed per customer (by account, or by email for guests).
    pub per_customer_limit: Option<u32>,
    /// Redemptions so far.
    pub usage_count: u32,
    /// How many customers have redeemed it (single promotion reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customers_redeemed: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[derive(async_graphql::InputObject)]
pub struct PromotionInput {
    /// 3 to 40 letters, digits, `-` or `_` (stored upper-case); absent: automatic.
    pub code: Option<String>,
    pub name: String,
    /// Default `active`.
    pub status: Option<PromotionStatus>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Needed with `amount_off`, `spend_tiers` or `min_subtotal`.
    pub currency: Option<String>,
    pub items: Option<ItemFilter>,
    pub benefit: Benefit,
    pub min_subtotal: Option<i64>,
    #[serde(default)]
    #[graphql(default)]
    pub exclusive: bool,
    /// -1000 to 1000 (default 0).
    #[serde(default)]
    #[graphql(default)]
    pub priority: i32,
    #[serde(default)]
    #[graphql(default)]
    pub customer_group_ids: Vec<CustomerGroupId>,
    pub usage_limit: Option<u32>,
    pub per_customer_limit: Option<u32>,
}

/// Promotion changes; absent fields stay, `null` clears an optional one.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionPatch {
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<String>)]
    pub code: Option<Option<String>>,
    pub name: Option<String>,
    pub status: Option<PromotionStatus>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub starts_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<String>)]
    pub currency: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<ItemFilter>)]
    pub items: Option<Option<ItemFilter>>,
    pub benefit: Option<Benefit>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<i64>)]
    pub min_subtotal: Option<Option<i64>>,
    pub exclusive: Option<bool>,
    pub priority: Option<i32>,
    pub customer_group_ids: Option<Vec<CustomerGroupId>>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<u32>)]
    pub usage_limit: Option<Option<u32>>,
    #[serde(default, deserialize_with = "crate::double_option")]
    #[schema(value_type = Option<u32>)]
    pub per_customer_limit: Option<Option<u32>>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeInput {
    #[schema(example = "WELCOME10")]
    pub code: String,
}

/// A promotion on a cart: a code it holds, or an automatic promotion that applies.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
pub struct CartPromotion {
    pub promotion_id: PromotionId,
    pub code: Option<String>,
    pub name: String,
    /// Whether it gives the cart something now.
    pub applied: bool,
    /// What it takes off (lines and shipping), before tax effects.
    pub discount: Money,
    /// Why a held code gives nothing: a refusal code (`promotion_expired` …), or
    /// `promotion_not_applicable` (its targets or minimum are not in the cart, or a better
    /// exclusive promotion won).
    pub reason: Option<String>,
}

fn rule_of(row: &repo::PromotionRow) -> Result<Rule> {
    serde_json::from_value(row.rule.0.clone()).map_err(|_| ServiceError::stored("promotion rule"))
}

fn view(row: repo::PromotionRow, customers_redeemed: Option<i64>) -> Result<Promotion> {
    let rule = rule_of(&row)?;
    Ok(Promotion {
        id: PromotionId::parse(&row.id).map_err(|_| ServiceError::stored("promotion id"))?,
        automatic: row.code.is_none(),
        code: row.code,
        name: row.name,
        status: if row.status == "draft" { PromotionStatus::Draft } else { PromotionStatus::Active },
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        currency: row.currency,
        items: rule.items,
        benefit: rule.benefit,
        min_subtotal: rule.min_subtotal,
        exclusive: row.exclusive,
        priority: row.priority,
        customer_group_ids: row
            .customer_group_ids
            .0
            .iter()
            .map(|g| CustomerGroupId::parse(g).map_err(|_| ServiceError::stored("group id")))
            .collect::<Result<_>>()?,
        usage_limit: row.usage_limit.and_then(|l| u32::try_from(l).ok()),
        per_customer_limit: row.per_customer_limit.and_then(|l| u32::try_from(l).ok()),
        usage_count: u32::try_from(row.usage_count).unwrap_or(0),
        customers_redeemed,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A code as stored: trimmed and upper-cased.
fn normal_code(raw: &str) -> String {
    raw.trim().to_ascii_uppercase()
}

fn check_code(errors: &mut ValidationErrors, raw: &str) -> String {
    let code = normal_code(raw);
    let ok = (3..=40).contains(&code.len()) && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        errors.add("code", "must be 3 to 40 letters, digits, '-' or '_'");
    }
    code
}

fn check_filter(errors: &mut ValidationErrors, filter: &ItemFilter) {
    let bad = |ids: &[String], ok: &dyn Fn(&str) -> bool| ids.iter().any(|i| !ok(i));
    if bad(&filter.products, &|i| ProductId::parse(i).is_ok())
        || bad(&filter.variants, &|i| VariantId::parse(i).is_ok())
        || bad(&filter.categories, &|i| CategoryId::parse(i).is_ok())
        || bad(&filter.collections, &|i| CollectionId::parse(i).is_ok())
    {
        errors.add("items", "holds an id of the wrong kind (products: prod_…, variants: var_…, categories: pcat_…, collections: pcol_…)");
    }
    let count = filter.products.len() + filter.variants.len() + filter.categories.len() + filter.collections.len();
    if count > 1000 {
        errors.add("items", "names at most 1000 ids");
    }
}

fn check_benefit(errors: &mut ValidationErrors, benefit: &Benefit) {
    let percent = |bp: u32| (1..=10_000).contains(&bp);
    match benefit {
        Benefit::PercentOff { basis_points } if !percent(*basis_points) => {
            errors.add("benefit.basis_points", "must be 1 to 10000 (0.01 % to 100 %)")
        }
        Benefit::AmountOff { amount } if *amount <= 0 => errors.add("benefit.amount", "must be positive"),
        Benefit::BuyXGetY { buy, get, basis_points } if *buy == 0 || *get == 0 || !percent(*basis_points) => {
            errors.add("benefit", "buy and get must be at least 1, basis_points 1 to 10000")
        }
        Benefit::SpendTiers { tiers }
            if tiers.is_empty()
                || tiers.len() > 20
                || tiers.iter().any(|t| t.threshold < 0 || !percent(t.basis_points)) =>
        {
            errors.add("benefit.tiers", "1 to 20 tiers, thresholds not negative, basis_points 1 to 10000")
        }
        _ => {}
    }
}

/// Checks a whole promotion (after a patch, too) and returns its stored form. `groups_changed`:
/// check that the groups exist (a patch that leaves them alone keeps any since deleted, which
/// simply match nobody).
async fn check(c: &mut Conn<'_>, input: &PromotionInput, groups_changed: bool) -> Result<repo::PromotionRow> {
    let mut errors = ValidationErrors::new();
    let code = input.code.as_deref().map(|raw| check_code(&mut errors, raw));
    let name = match Label::parse(&input.name, 200) {
        Ok(l) => l.as_str().to_string(),
        Err(e) => {
            errors.add("name", e.to_string());
            String::new()
        }
    };
    if let (Some(s), Some(e)) = (input.starts_at, input.ends_at)
        && e <= s
    {
        errors.add("ends_at", "must be after starts_at");
    }
    let currency = match input.currency.as_deref().map(|c| Currency::parse(c.trim())) {
        Some(Ok(c)) => Some(c.code().to_string()),
        Some(Err(e)) => {
            errors.add("currency", e.to_string());
            None
        }
        None => None,
    };
    let needs_currency =
        matches!(input.benefit, Benefit::AmountOff { .. } | Benefit::SpendTiers { .. }) || input.min_subtotal.is_some();
    if needs_currency && input.currency.is_none() {
        errors.add("currency", "is needed for amounts (amount_off, spend_tiers, min_subtotal)");
    }
    if input.min_subtotal.is_some_and(|m| m < 0) {
        errors.add("min_subtotal", "must not be negative");
    }
    if let Some(filter) = &input.items {
        check_filter(&mut errors, filter);
    }
    check_benefit(&mut errors, &input.benefit);
    if !(-1000..=1000).contains(&input.priority) {
        errors.add("priority", "must be -1000 to 1000");
    }
    if input.per_customer_limit == Some(0) {
        errors.add("per_customer_limit", "must be at least 1 (use status draft to pause a promotion)");
    }
    let groups = if groups_changed {
        check_groups(c, &mut errors, &input.customer_group_ids).await?
    } else {
        input.customer_group_ids.iter().map(ToString::to_string).collect()
    };
    errors.into_result()?;
    let rule = Rule { items: input.items.clone(), benefit: input.benefit.clone(), min_subtotal: input.min_subtotal };
    let at = now();
    let limit = |l: Option<u32>| l.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
    Ok(repo::PromotionRow {
        id: PromotionId::new().to_string(),
        code,
        name,
        status: input.status.unwrap_or(PromotionStatus::Active).as_str().into(),
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        currency,
        rule: JsonColumn(serde_json::to_value(&rule).map_err(|e| ServiceError::Internal(e.to_string()))?),
        exclusive: input.exclusive,
        priority: input.priority,
        customer_group_ids: JsonColumn(groups),
        usage_limit: limit(input.usage_limit),
        per_customer_limit: limit(input.per_customer_limit),
        usage_count: 0,
        created_at: at,
        updated_at: at,
    })
}

/// Why a promotion does not apply to a cart now.
fn refusal(
    row: &repo::PromotionRow,
    at: DateTime<Utc>,
    currency: &str,
    groups: &[String],
    used_by_customer: i32,
) -> Option<(&'static str, String)> {
    if row.status != "active" {
        return Some(("promotion_not_found", "no promotion has this code".into()));
    }
    if row.starts_at.is_some_and(|s| at < s) {
        return Some(("promotion_not_started", "this code is not valid yet".into()));
    }
    if row.ends_at.is_some_and(|e| at >= e) {
        return Some(("promotion_expired", "this code has expired".into()));
    }
    if row.usage_limit.is_some_and(|l| row.usage_count >= l) {
        return Some(("promotion_exhausted", "this code has been used up".into()));
    }
    if row.per_customer_limit.is_some_and(|l| used_by_customer >= l) {
        return Some(("promotion_limit_reached", "you have already used this code as often as allowed".into()));
    }
    let groups_ok = row.customer_group_ids.0.is_empty() || row.customer_group_ids.0.iter().any(|g| groups.contains(g));
    if !groups_ok {
        return Some(("promotion_not_eligible", "this code is not available for your account".into()));
    }
    if let Some(c) = &row.currency
        && c != currency
    {
        return Some(("promotion_not_eligible", format!("this code is only for orders in {c}")));
    }
    None
}

/// Who a cart's redemptions count against: its customer, else its email.
pub fn customer_key(customer_id: Option<&str>, email: Option<&str>) -> Option<String> {
    match (customer_id, email) {
        (Some(id), _) => Some(id.to_string()),
        (None, Some(email)) => Some(format!("email:{}", email.to_ascii_lowercase())),
        _ => None,
    }
}

/// A cart as promotions see it.
pub struct CartContext<'a> {
    pub cart_id: &'a str,
    pub currency: Currency,
    pub customer_key: Option<String>,
    pub groups: &'a [String],
}

/// What promotions give a cart: each line's discount, the shipping discount, and the promotions
/// to show.
pub struct Outcome {
    pub line_discounts: Vec<i64>,
    pub shipping_discount: i64,
    pub promotions: Vec<CartPromotion>,
    /// The promotions that gave something (checkout redeems these).
    pub applied: Vec<PromotionId>,
}

/// Evaluates every candidate promotion for a cart with these lines and this shipping price:
/// a fixed number of statements (candidates, and redemptions when a limit is per customer;
/// categories and collections when a promotion targets them).
pub async fn evaluate(
    c: &mut Conn<'_>,
    cart: &CartContext<'_>,
    lines: &mut [PromoLine],
    shipping: i64,
) -> Result<Outcome> {
    let at = now();
    let rows = repo::candidates(c, cart.cart_id, cart.currency.code(), at).await?;
    let limited: Vec<String> = rows.iter().filter(|r| r.per_customer_limit.is_some()).map(|r| r.id.clone()).collect();
    let used: HashMap<String, i32> = match &cart.customer_key {
        Some(key) if !limited.is_empty() => repo::redemptions_of(c, key, &limited).await?.into_iter().collect(),
        _ => HashMap::new(),
    };
    let mut eligible = Vec::new();
    let mut refused = HashMap::new();
    for row in &rows {
        match refusal(row, at, cart.currency.code(), cart.groups, used.get(&row.id).copied().unwrap_or(0)) {
            Some((code, _)) => {
                refused.insert(row.id.clone(), code);
            }
            None => {
                let rule = rule_of(row)?;
                eligible.push(engine::Promotion {
                    id: row.id.clone(),
                    items: rule.items,
                    benefit: rule.benefit,
                    min_subtotal: rule.min_subtotal,
                    exclusive: row.exclusive,
                    priority: row.priority,
                });
            }
        }
    }
    let by_grouping = eligible
        .iter()
        .any(|p| p.items.as_ref().is_some_and(|f| !f.categories.is_empty() || !f.collections.is_empty()));
    if by_grouping {
        let products: Vec<String> = lines.iter().map(|l| l.product.clone()).collect();
        let groupings = keel_store::catalog::groupings(c, &products).await?;
        for line in lines.iter_mut() {
            if let Some((categories, collections)) = groupings.get(&line.product) {
                line.categories.clone_from(categories);
                line.collections.clone_from(collections);
            }
        }
    }
    let results = engine::apply(lines, shipping, &eligible);
    let mut line_discounts = vec![0; lines.len()];
    let mut shipping_discount = 0;
    for a in &results {
        for (d, part) in line_discounts.iter_mut().zip(&a.lines) {
            *d += part;
        }
        shipping_discount += a.shipping;
    }
    let mut promotions = Vec::new();
    let mut applied = Vec::new();
    for row in &rows {
        let result = results.iter().find(|a| a.promotion == row.id);
        if row.code.is_none() && result.is_none() {
            continue;
        }
        let id = PromotionId::parse(&row.id).map_err(|_| ServiceError::stored("promotion id"))?;
        if result.is_some() {
            applied.push(id);
        }
        promotions.push(CartPromotion {
            promotion_id: id,
            code: row.code.clone(),
            name: row.name.clone(),
            applied: result.is_some(),
            discount: Money::new(result.map_or(0, engine::Applied::total), cart.currency),
            reason: match result {
                Some(_) => None,
                None => Some(refused.get(&row.id).copied().unwrap_or("promotion_not_applicable").to_string()),
            },
        });
    }
    Ok(Outcome { line_discounts, shipping_discount, promotions, applied })
}

/// Puts a code on a cart after checking that it may apply now (422 with the reason if not).
pub async fn hold_code(c: &mut Conn<'_>, cart: &CartContext<'_>, raw: &str) -> Result<()> {
    let code = normal_code(raw);
    let refuse = |code: &'static str, message: String| ServiceError::Refused { code, field: "code", message };
    let row = repo::find_by_code(c, &code)
        .await?
        .ok_or_else(|| refuse("promotion_not_found", "no promotion has this code".into()))?;
    let used = match (&cart.customer_key, row.per_customer_limit) {
        (Some(key), Some(_)) => {
            repo::redemptions_of(c, key, std::slice::from_ref(&row.id)).await?.first().map_or(0, |r| r.1)
        }
        _ => 0,
    };
    if let Some((code, message)) = refusal(&row, now(), cart.currency.code(), cart.groups, used) {
        return Err(refuse(code, message));
    }
    let held = repo::candidates(c, cart.cart_id, cart.currency.code(), now()).await?;
    let already = held.iter().any(|p| p.id == row.id);
    let codes = held.iter().filter(|p| p.code.is_some()).count() as i64;
    if !already && codes >= MAX_CODES_PER_CART {
        return Err(ServiceError::invalid("code", format!("a cart holds at most {MAX_CODES_PER_CART} codes")));
    }
    repo::hold(c, cart.cart_id, &row.id, now()).await?;
    Ok(())
}

/// Takes a code off a cart (404 when the cart does not hold it).
pub async fn release_code(c: &mut Conn<'_>, cart_id: &str, raw: &str) -> Result<()> {
    let not_held = || ServiceError::NotFound { entity: "promotion code on this cart" };
    let row = repo::find_by_code(c, &normal_code(raw)).await?.ok_or_else(not_held)?;
    if !repo::release(c, cart_id, &row.id).await? {
        return Err(not_held());
    }
    Ok(())
}

/// Counts one redemption of each promotion for a customer, inside the caller's (checkout's)
/// transaction: conditional updates, so limits hold however many checkouts race. A promotion
/// whose limit was reached meanwhile fails the whole call with 409 `promotion_exhausted` (or
/// `promotion_limit_reached`), and the caller's transaction rolls back.
pub async fn redeem(c: &mut Conn<'_>, promotions: &[PromotionId], customer_key: &str) -> Result<()> {
    for id in promotions {
        let id = id.to_string();
        let row = repo::find(c, &id).await?.ok_or(ServiceError::NotFound { entity: "promotion" })?;
        if !repo::count_use(c, &id).await? {
            return Err(ServiceError::Conflict {
                code: "promotion_exhausted",
                field: "code",
                message: format!("{} has been used up", row.code.as_deref().unwrap_or(&row.name)),
            });
        }
        if !repo::count_customer_use(c, &id, customer_key, row.per_customer_limit).await? {
            return Err(ServiceError::Conflict {
                code: "promotion_limit_reached",
                field: "code",
                message: format!("{} was already used as often as allowed", row.code.as_deref().unwrap_or(&row.name)),
            });
        }
    }
    Ok(())
}

#[derive(Clone)]
pub struct PromotionService {
    db: Db,
}

impl PromotionService {
    pub fn new(db: Db) -> Self {
        PromotionService { db }
    }

    pub async fn list(&self, before: Option<PromotionId>, limit: u64) -> Result<(Vec<Promotion>, bool)> {
        let mut conn = self.db.read().await?;
        let before = before.map(|b| b.to_string());
        let mut rows = repo::list(&mut conn.conn(), before.as_deref(), limit + 1).await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        Ok((rows.into_iter().map(|r| view(r, None)).collect::<Result<_>>()?, more))
    }

    async fn load(c: &mut Conn<'_>, id: PromotionId) -> Result<Promotion> {
        let row = repo::find(c, &id.to_string()).await?.ok_or(ServiceError::NotFound { entity: "promotion" })?;
        let redeemers = repo::redeemers(c, &row.id).await?;
        view(row, Some(redeemers))
    }

    pub async fn get(&self, id: PromotionId) -> Result<Promotion> {
        let mut conn = self.db.read().await?;
        Self::load(&mut conn.conn(), id).await
    }

    pub async fn create(&self, input: PromotionInput) -> Result<Promotion> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let row = check(&mut c, &input, true).await?;
        repo::insert(&mut c, &row).await?;
        let id = PromotionId::parse(&row.id).map_err(|_| ServiceError::stored("promotion id"))?;
        let out = Self::load(&mut c, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn update(&self, id: PromotionId, patch: PromotionPatch) -> Result<Promotion> {
        let mut tx = self.db.begin().await?;
        let mut c = tx.conn();
        let current = Self::load(&mut c, id).await?;
        let groups_changed = patch.customer_group_ids.is_some();
        let pick = |new: Option<Option<u32>>, old: Option<u32>| new.unwrap_or(old);
        let input = PromotionInput {
            code: patch.code.unwrap_or(current.code),
            name: patch.name.unwrap_or(current.name),
            status: Some(patch.status.unwrap_or(current.status)),
            starts_at: patch.starts_at.unwrap_or(current.starts_at),
            ends_at: patch.ends_at.unwrap_or(current.ends_at),
            currency: patch.currency.unwrap_or(current.currency),
            items: patch.items.unwrap_or(current.items),
            benefit: patch.benefit.unwrap_or(current.benefit),
            min_subtotal: patch.min_subtotal.unwrap_or(current.min_subtotal),
            exclusive: patch.exclusive.unwrap_or(current.exclusive),
            priority: patch.priority.unwrap_or(current.priority),
            customer_group_ids: patch.customer_group_ids.unwrap_or(current.customer_group_ids),
            usage_limit: pick(patch.usage_limit, current.usage_limit),
            per_customer_limit: pick(patch.per_customer_limit, current.per_customer_limit),
        };
        if input.usage_limit.is_some_and(|limit| limit < current.usage_count) {
            return Err(ServiceError::invalid(
                "usage_limit",
                format!("it has been used {} times already; set at least that", current.usage_count),
            ));
        }
        let mut row = check(&mut c, &input, groups_changed).await?;
        row.id = id.to_string();
        repo::update(&mut c, &row).await?;
        let out = Self::load(&mut c, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn delete(&self, id: PromotionId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !repo::delete(&mut tx.conn(), &id.to_string()).await? {
            return Err(ServiceError::NotFound { entity: "promotion" });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Redeems promotions for a customer in a transaction of its own (see [`redeem`]); checkout
    /// calls [`redeem`] inside its order transaction instead.
    pub async fn redeem(&self, promotions: &[PromotionId], customer_key: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        redeem(&mut tx.conn(), promotions, customer_key).await?;
        tx.commit().await?;
        Ok(())
    }
}
