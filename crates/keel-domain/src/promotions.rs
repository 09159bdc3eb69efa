//! The promotion engine's arithmetic: which discounts a cart gets from a set of promotions, and
//! how each is split over the lines. Pure functions over minor units; storage, codes, dates and
//! usage limits are the services' (they decide which promotions are candidates).
//!
//! Rules (docs/PRICING.md states them for shoppers and merchants):
//!
//! 1. A promotion targets the whole order or the items matching a filter (products, variants,
//!    categories, collections: any match), and may need a minimum items subtotal.
//! 2. Combinable promotions apply one after another — higher `priority` first, then by id — each
//!    on what the earlier ones left of its target lines, so discounts never exceed a line.
//! 3. An exclusive promotion applies alone. The shopper gets whichever is larger: every
//!    combinable promotion together, or the best single exclusive one.
//! 4. Each promotion's discount is split over its target lines in proportion to what remains of
//!    them (largest remainder), so the parts sum to the discount exactly.

use crate::pricing::{allocate, percent_of};
use serde::{Deserialize, Serialize};

/// A cart line as promotions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoLine {
    pub product: String,
    pub variant: String,
    pub categories: Vec<String>,
    pub collections: Vec<String>,
    pub unit_price: i64,
    pub quantity: u32,
}

impl PromoLine {
    pub fn subtotal(&self) -> i64 {
        self.unit_price.max(0).saturating_mul(i64::from(self.quantity))
    }
}

/// Which lines a promotion looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemFilter {
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub variants: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub collections: Vec<String>,
}

crate::graphql_json!(ItemFilter, Benefit);

impl ItemFilter {
    /// Whether a line matches (an empty filter matches every line).
    pub fn matches(&self, line: &PromoLine) -> bool {
        let empty = self.products.is_empty()
            && self.variants.is_empty()
            && self.categories.is_empty()
            && self.collections.is_empty();
        empty
            || self.products.contains(&line.product)
            || self.variants.contains(&line.variant)
            || line.categories.iter().any(|c| self.categories.contains(c))
            || line.collections.iter().any(|c| self.collections.contains(c))
    }
}

/// What a promotion gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Benefit {
    /// A percentage (basis points) off the target lines.
    PercentOff { basis_points: u32 },
    /// A fixed amount off the target lines together (at most what they cost).
    AmountOff { amount: i64 },
    /// Shipping costs nothing.
    FreeShipping,
    /// For every `buy` units of the target items, `get` more units (the cheapest ones) are
    /// discounted by `basis_points` (10 000: free).
    BuyXGetY { buy: u32, get: u32, basis_points: u32 },
    /// A percentage off the target lines by spend: the highest tier whose threshold the target
    /// subtotal reaches.
    SpendTiers { tiers: Vec<SpendTier> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpendTier {
    pub threshold: i64,
    pub basis_points: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    pub id: String,
    /// Target lines; `None`: the whole order.
    pub items: Option<ItemFilter>,
    pub benefit: Benefit,
    /// The target lines' subtotal must reach this.
    pub min_subtotal: Option<i64>,
    pub exclusive: bool,
    pub priority: i32,
}

/// One promotion's effect on a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub promotion: String,
    /// The discount on each line, in the order of the cart's lines.
    pub lines: Vec<i64>,
    pub shipping: i64,
}

impl Applied {
    pub fn total(&self) -> i64 {
        self.lines.iter().sum::<i64>() + self.shipping
    }
}

/// The discount `benefit` gives on target lines with `remaining` amounts left, per line.
fn discount_of(benefit: &Benefit, lines: &[PromoLine], targets: &[usize], remaining: &[i64]) -> Vec<i64> {
    let weights: Vec<i64> = targets.iter().map(|&i| remaining[i]).collect();
    let base: i64 = weights.iter().sum();
    let mut per_line = vec![0; lines.len()];
    let spread = |amount: i64, per_line: &mut Vec<i64>| {
        for (&i, part) in targets.iter().zip(allocate(amount, &weights)) {
            per_line[i] = part;
        }
    };
    match benefit {
        Benefit::PercentOff { basis_points } => spread(percent_of(base, (*basis_points).min(10_000)), &mut per_line),
        Benefit::AmountOff { amount } => spread((*amount).clamp(0, base), &mut per_line),
        Benefit::FreeShipping => {}
        Benefit::SpendTiers { tiers } => {
            let full: i64 = targets.iter().map(|&i| lines[i].subtotal()).sum();
            let best = tiers.iter().filter(|t| full >= t.threshold).max_by_key(|t| t.threshold);
            if let Some(tier) = best {
                spread(percent_of(base, tier.basis_points.min(10_000)), &mut per_line);
            }
        }
        Benefit::BuyXGetY { buy, get, basis_points } => {
            if *buy == 0 || *get == 0 {
                return per_line;
            }
            // Every unit of the target items, cheapest first; one in each (buy + get) group
            // beyond the first `buy` is discounted — the cheapest units get the discount.
            let mut units: Vec<(i64, usize)> = targets
                .iter()
                .flat_map(|&i| std::iter::repeat_n((lines[i].unit_price, i), lines[i].quantity as usize))
                .collect();
            units.sort();
            let total_units = units.len() as u32;
            let free_units = total_units / (buy + get) * get;
            for &(price, i) in units.iter().take(free_units as usize) {
                per_line[i] += percent_of(price, (*basis_points).min(10_000));
            }
            for &i in targets {
                per_line[i] = per_line[i].min(remaining[i]);
            }
        }
    }
    per_line
}

/// The lines a promotion targets, or `None` when its minimum is not met (then it gives nothing,
/// free shipping included).
fn applies(p: &Promotion, lines: &[PromoLine]) -> Option<Vec<usize>> {
    let targets: Vec<usize> =
        (0..lines.len()).filter(|&i| p.items.as_ref().is_none_or(|f| f.matches(&lines[i]))).collect();
    let subtotal: i64 = targets.iter().map(|&i| lines[i].subtotal()).sum();
    if p.min_subtotal.is_some_and(|min| subtotal < min) {
        return None;
    }
    Some(targets)
}

/// Applies promotions in order to what remains, returning each one that gave something.
fn apply_in_order(lines: &[PromoLine], shipping: i64, promotions: &[&Promotion]) -> Vec<Applied> {
    let mut remaining: Vec<i64> = lines.iter().map(PromoLine::subtotal).collect();
    let mut shipping_left = shipping.max(0);
    let mut out = Vec::new();
    for p in promotions {
        let Some(targets) = applies(p, lines) else { continue };
        let free_shipping = matches!(p.benefit, Benefit::FreeShipping);
        if targets.is_empty() && !(free_shipping && p.items.is_none()) {
            continue;
        }
        let per_line = discount_of(&p.benefit, lines, &targets, &remaining);
        let ship = if free_shipping { shipping_left } else { 0 };
        for (r, d) in remaining.iter_mut().zip(&per_line) {
            *r -= d;
        }
        shipping_left -= ship;
        let applied = Applied { promotion: p.id.clone(), lines: per_line, shipping: ship };
        if applied.total() > 0 {
            out.push(applied);
        }
    }
    out
}

/// What a cart gets from `promotions` (the candidates: valid now, codes entered, limits not
/// reached), by the rules above. `shipping` is the chosen shipping price.
pub fn apply(lines: &[PromoLine], shipping: i64, promotions: &[Promotion]) -> Vec<Applied> {
    let mut ordered: Vec<&Promotion> = promotions.iter().collect();
    ordered.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    let combinable: Vec<&Promotion> = ordered.iter().copied().filter(|p| !p.exclusive).collect();
    let together = apply_in_order(lines, shipping, &combinable);
    let best_alone = ordered
        .iter()
        .filter(|p| p.exclusive)
        .map(|p| apply_in_order(lines, shipping, &[p]))
        .max_by_key(|a| a.iter().map(Applied::total).sum::<i64>());
    let sum = |a: &[Applied]| a.iter().map(Applied::total).sum::<i64>();
    match best_alone {
        Some(alone) if sum(&alone) > sum(&together) => alone,
        _ => together,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(product: &str, price: i64, qty: u32) -> PromoLine {
        PromoLine {
            product: product.into(),
            variant: format!("{product}-v"),
            categories: vec![],
            collections: vec![],
            unit_price: price,
            quantity: qty,
        }
    }

    fn promo(id: &str, benefit: Benefit) -> Promotion {
        Promotion { id: id.into(), items: None, benefit, min_subtotal: None, exclusive: false, priority: 0 }
    }

    #[test]
    fn percent_and_amount_stack_on_what_remains() {
        let lines = [line("a", 1000, 2), line("b", 500, 1)];
        let applied = apply(
            &lines,
            0,
            &[
                promo("p10", Benefit::PercentOff { basis_points: 1000 }),
                promo("z5", Benefit::AmountOff { amount: 500 }),
            ],
        );
        assert_eq!(applied[0].lines, vec![200, 50]);
        assert_eq!(applied[1].lines.iter().sum::<i64>(), 500);
        assert_eq!(applied.iter().map(Applied::total).sum::<i64>(), 750);
    }

    #[test]
    fn buy_two_get_one_free_discounts_the_cheapest_unit() {
        let lines = [line("a", 1000, 2), line("b", 400, 1)];
        let applied = apply(&lines, 0, &[promo("b2g1", Benefit::BuyXGetY { buy: 2, get: 1, basis_points: 10_000 })]);
        assert_eq!(applied[0].lines, vec![0, 400]);
    }

    #[test]
    fn an_exclusive_promotion_wins_only_when_it_gives_more() {
        let lines = [line("a", 10_000, 1)];
        let mut big = promo("vip", Benefit::PercentOff { basis_points: 3000 });
        big.exclusive = true;
        let small =
            [promo("a", Benefit::PercentOff { basis_points: 1000 }), promo("b", Benefit::AmountOff { amount: 500 })];
        let mut all = small.to_vec();
        all.push(big.clone());
        let applied = apply(&lines, 0, &all);
        assert_eq!((applied.len(), applied[0].promotion.as_str(), applied[0].total()), (1, "vip", 3000));
        big.benefit = Benefit::PercentOff { basis_points: 1000 };
        all[2] = big;
        let applied = apply(&lines, 0, &all);
        assert_eq!(applied.iter().map(Applied::total).sum::<i64>(), 1000 + 500, "the combinable pair gives more");
    }

    #[test]
    fn targets_minimums_tiers_and_free_shipping() {
        let mut lines = vec![line("shirt", 3000, 1), line("book", 2000, 1)];
        lines[1].categories = vec!["books".into()];
        let mut books = promo("books", Benefit::PercentOff { basis_points: 5000 });
        books.items = Some(ItemFilter { categories: vec!["books".into()], ..ItemFilter::default() });
        assert_eq!(apply(&lines, 0, &[books.clone()])[0].lines, vec![0, 1000]);
        books.min_subtotal = Some(2500);
        assert!(apply(&lines, 0, &[books]).is_empty(), "the books alone are under the minimum");
        let tiers = promo(
            "tiers",
            Benefit::SpendTiers {
                tiers: vec![
                    SpendTier { threshold: 4000, basis_points: 1000 },
                    SpendTier { threshold: 10_000, basis_points: 2000 },
                ],
            },
        );
        assert_eq!(apply(&lines, 0, &[tiers])[0].total(), 500);
        let ship = apply(&lines, 599, &[promo("ship", Benefit::FreeShipping)]);
        assert_eq!((ship[0].shipping, ship[0].lines.iter().sum::<i64>()), (599, 0));
        let mut over = promo("ship-over", Benefit::FreeShipping);
        over.min_subtotal = Some(10_000);
        assert!(apply(&lines, 599, &[over]).is_empty(), "free shipping over 100.00 needs 100.00 of items");
    }

    fn arb_benefit() -> impl Strategy<Value = Benefit> {
        prop_oneof![
            (0u32..=10_000).prop_map(|basis_points| Benefit::PercentOff { basis_points }),
            (0i64..50_000).prop_map(|amount| Benefit::AmountOff { amount }),
            Just(Benefit::FreeShipping),
            (1u32..4, 1u32..3, 0u32..=10_000).prop_map(|(buy, get, basis_points)| Benefit::BuyXGetY {
                buy,
                get,
                basis_points
            }),
        ]
    }

    proptest! {
        #[test]
        fn discounts_never_exceed_what_they_apply_to(
            prices in prop::collection::vec((1i64..20_000, 1u32..5), 1..20),
            benefits in prop::collection::vec((arb_benefit(), any::<bool>(), -3i32..3), 0..5),
            shipping in 0i64..2000,
        ) {
            let lines: Vec<PromoLine> = prices.iter().enumerate().map(|(i, (p, q))| line(&format!("p{}", i % 3), *p, *q)).collect();
            let promotions: Vec<Promotion> = benefits.into_iter().enumerate()
                .map(|(i, (benefit, exclusive, priority))| Promotion { id: format!("x{i}"), items: None, benefit, min_subtotal: None, exclusive, priority })
                .collect();
            let applied = apply(&lines, shipping, &promotions);
            for (i, l) in lines.iter().enumerate() {
                let taken: i64 = applied.iter().map(|a| a.lines[i]).sum();
                prop_assert!(taken >= 0 && taken <= l.subtotal(), "line {} discounted {} of {}", i, taken, l.subtotal());
            }
            let shipping_taken: i64 = applied.iter().map(|a| a.shipping).sum();
            prop_assert!((0..=shipping).contains(&shipping_taken));
            for a in &applied {
                prop_assert!(a.lines.iter().all(|d| *d >= 0) && a.total() > 0);
            }
        }
    }
}
