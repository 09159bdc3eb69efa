//! Cart arithmetic: line amounts, tax (inclusive or exclusive), discounts and their allocation
//! to lines, and cart totals. Pure functions over integer minor units; the rules are written out
//! in docs/PRICING.md, whose worked examples the tests check.
//!
//! The rules, in order, for each line:
//!
//! 1. `subtotal = unit_price × quantity` (the price as listed: gross in a tax-inclusive region,
//!    net in a tax-exclusive one).
//! 2. `discount` is the line's share of every discount, at most its subtotal.
//! 3. `taxable = subtotal − discount`.
//! 4. Tax is computed **per line** and rounded half away from zero to the minor unit:
//!    exclusive: `tax = round(taxable × rate)`, `total = taxable + tax`;
//!    inclusive: `tax = round(taxable × rate / (1 + rate))`, `total = taxable`.
//! 5. The cart's amounts are the sums of its lines' (plus shipping, taxed the same way).
//!
//! A discount over several lines is split in proportion to their subtotals by the largest
//! remainder method, so the shares sum to the discount exactly and a refund of one line later
//! returns exactly what that line was charged.

use serde::Serialize;

/// A tax rate in basis points (1 900 = 19 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct TaxRate(pub u32);

/// Whether listed prices include tax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TaxMode {
    Inclusive,
    Exclusive,
}

/// `numerator / denominator`, rounded half away from zero (for non-negative inputs: half up).
fn div_round(numerator: i128, denominator: i128) -> i64 {
    let q = numerator / denominator;
    let r = numerator % denominator;
    let rounded = if 2 * r.abs() >= denominator.abs() { q + numerator.signum() * denominator.signum() } else { q };
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// `amount × basis_points / 10 000`, rounded half up: a percentage of an amount.
pub fn percent_of(amount: i64, basis_points: u32) -> i64 {
    div_round(i128::from(amount) * i128::from(basis_points), 10_000)
}

/// The tax contained in, or added to, `taxable`.
pub fn tax_of(taxable: i64, rate: TaxRate, mode: TaxMode) -> i64 {
    match mode {
        TaxMode::Exclusive => percent_of(taxable, rate.0),
        TaxMode::Inclusive => div_round(i128::from(taxable) * i128::from(rate.0), 10_000 + i128::from(rate.0)),
    }
}

/// A tax rate that applies in a country, optionally only in one province and only to one
/// product tax class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateRule {
    pub country_code: String,
    pub province: Option<String>,
    pub tax_class: Option<String>,
    pub rate: TaxRate,
}

/// The rate for a product of `class` shipped to `country`/`province`: the most specific matching
/// rule wins — a rule for the product's class beats a general one, then a province's rule beats
/// the country's (ties: the lower rate); with no matching rule, the region's `default`. Matching
/// ignores case.
pub fn resolve_rate(
    rules: &[RateRule],
    country: Option<&str>,
    province: Option<&str>,
    class: Option<&str>,
    default: TaxRate,
) -> TaxRate {
    let Some(country) = country else { return default };
    let same = |a: &str, b: Option<&str>| b.is_some_and(|b| a.eq_ignore_ascii_case(b));
    rules
        .iter()
        .filter(|r| r.country_code.eq_ignore_ascii_case(country))
        .filter(|r| r.province.as_deref().is_none_or(|p| same(p, province)))
        .filter(|r| r.tax_class.as_deref().is_none_or(|c| same(c, class)))
        .max_by(|a, b| {
            let score = |r: &RateRule| (r.tax_class.is_some(), r.province.is_some());
            score(a).cmp(&score(b)).then(b.rate.cmp(&a.rate))
        })
        .map_or(default, |r| r.rate)
}

/// One line's amounts, all in minor units of the cart's currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LineAmounts {
    /// Unit price × quantity, as listed.
    pub subtotal: i64,
    pub discount: i64,
    /// The tax in (inclusive) or on (exclusive) the discounted amount.
    pub tax: i64,
    /// What the line costs the shopper.
    pub total: i64,
}

/// Prices one line. `discount` is clamped to `[0, subtotal]`.
pub fn line(unit_price: i64, quantity: u32, discount: i64, rate: TaxRate, mode: TaxMode) -> LineAmounts {
    let subtotal = unit_price.max(0).saturating_mul(i64::from(quantity));
    let discount = discount.clamp(0, subtotal);
    let taxable = subtotal - discount;
    let tax = tax_of(taxable, rate, mode);
    let total = match mode {
        TaxMode::Exclusive => taxable + tax,
        TaxMode::Inclusive => taxable,
    };
    LineAmounts { subtotal, discount, tax, total }
}

/// Splits `amount` over `weights` in proportion, by the largest remainder method: the parts sum
/// to `amount` exactly (when `amount ≤ Σ weights`, no part exceeds its weight); ties go to the
/// earlier weight. `amount` is clamped to `[0, Σ weights]`.
pub fn allocate(amount: i64, weights: &[i64]) -> Vec<i64> {
    let total: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    if total == 0 {
        return vec![0; weights.len()];
    }
    let amount = i128::from(amount).clamp(0, total);
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = amount * i128::from((*w).max(0));
        parts.push(exact / total);
        remainders.push((exact % total, i));
    }
    let mut left = amount - parts.iter().sum::<i128>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts.into_iter().map(|p| i64::try_from(p).unwrap_or(i64::MAX)).collect()
}

/// One weight tier of a shipping rate: up to `max_grams` costs `amount`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema, async_graphql::SimpleObject,
)]
pub struct WeightTier {
    pub max_grams: i64,
    pub amount: i64,
}

/// What a shipping option costs for a cart: free when `free_over` is set and the discounted
/// items subtotal reaches it; else the first weight tier that holds the cart's weight (tiers
/// sorted by weight), or the flat `amount` when there are no tiers. `None`: the cart is heavier
/// than the last tier, so the option does not apply.
pub fn shipping_price(
    amount: i64,
    free_over: Option<i64>,
    tiers: &[WeightTier],
    items: i64,
    grams: i64,
) -> Option<i64> {
    if free_over.is_some_and(|threshold| items >= threshold) {
        return Some(0);
    }
    if tiers.is_empty() {
        return Some(amount.max(0));
    }
    let mut sorted = tiers.to_vec();
    sorted.sort_by_key(|t| t.max_grams);
    sorted.iter().find(|t| grams <= t.max_grams).map(|t| t.amount.max(0))
}

/// A cart's amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CartAmounts {
    pub subtotal: i64,
    pub discount_total: i64,
    pub shipping_total: i64,
    pub tax_total: i64,
    pub total: i64,
}

/// A price-list price that might apply to a line (its list is running: active, started, not
/// ended — the caller picks those).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListPrice<'a> {
    pub list: &'a str,
    pub amount: i64,
    /// The line's quantity must reach this (quantity tiers: 10+ at a lower price).
    pub min_quantity: u32,
    /// The customer groups the list is for; empty: everyone.
    pub groups: &'a [String],
}

/// The unit price a line pays: **the cheapest** of its base price and every list price that
/// applies to it — the list is for everyone or for one of the customer's `groups`, and the
/// line's `quantity` reaches the price's minimum. A tie keeps the base price (then the first
/// list). Returns the amount and the winning list, if a list won; `None` without a base price
/// (a variant must have a price in the currency to be sold in it).
pub fn unit_price<'a>(
    base: Option<i64>,
    lists: &[ListPrice<'a>],
    quantity: u32,
    groups: &[String],
) -> Option<(i64, Option<&'a str>)> {
    let base = base?;
    let applies = |p: &&ListPrice<'a>| {
        quantity >= p.min_quantity && (p.groups.is_empty() || p.groups.iter().any(|g| groups.contains(g)))
    };
    let best = lists.iter().filter(applies).min_by_key(|p| p.amount);
    Some(match best {
        Some(p) if p.amount < base => (p.amount.max(0), Some(p.list)),
        _ => (base, None),
    })
}

/// Sums lines and a shipping line (already priced with [`line`]).
///
/// The parts add up like an invoice: `shipping_total` is the shipping as listed (before its
/// discount), `discount_total` and `tax_total` include the shipping's, so
/// `total = subtotal − discount_total + shipping_total (+ tax_total when prices exclude tax)`.
pub fn cart(lines: &[LineAmounts], shipping: Option<LineAmounts>) -> CartAmounts {
    let sum = |f: fn(&LineAmounts) -> i64| lines.iter().map(f).sum::<i64>();
    CartAmounts {
        subtotal: sum(|l| l.subtotal),
        discount_total: sum(|l| l.discount) + shipping.map_or(0, |s| s.discount),
        shipping_total: shipping.map_or(0, |s| s.subtotal),
        tax_total: sum(|l| l.tax) + shipping.map_or(0, |s| s.tax),
        total: sum(|l| l.total) + shipping.map_or(0, |s| s.total),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(percent_of(250, 1000), 25);
        assert_eq!(percent_of(5, 1000), 1, "0.5 rounds up");
        assert_eq!(percent_of(4, 1000), 0);
        assert_eq!(div_round(-5, 10), -1);
    }

    #[test]
    fn the_most_specific_rate_wins() {
        let rule = |country: &str, province: Option<&str>, class: Option<&str>, rate| RateRule {
            country_code: country.into(),
            province: province.map(Into::into),
            tax_class: class.map(Into::into),
            rate: TaxRate(rate),
        };
        let rules = [
            rule("DE", None, None, 1900),
            rule("DE", None, Some("books"), 700),
            rule("CA", None, None, 500),
            rule("CA", Some("ON"), None, 1300),
            rule("CA", Some("ON"), Some("books"), 500),
        ];
        let default = TaxRate(2000);
        assert_eq!(resolve_rate(&rules, Some("de"), None, None, default), TaxRate(1900));
        assert_eq!(resolve_rate(&rules, Some("DE"), None, Some("books"), default), TaxRate(700));
        assert_eq!(
            resolve_rate(&rules, Some("DE"), None, Some("food"), default),
            TaxRate(1900),
            "no food rule: the country's"
        );
        assert_eq!(resolve_rate(&rules, Some("CA"), Some("ON"), None, default), TaxRate(1300));
        assert_eq!(resolve_rate(&rules, Some("CA"), Some("QC"), None, default), TaxRate(500));
        assert_eq!(resolve_rate(&rules, Some("CA"), Some("on"), Some("books"), default), TaxRate(500));
        assert_eq!(resolve_rate(&rules, Some("FR"), None, None, default), default);
        assert_eq!(
            resolve_rate(&rules, None, None, Some("books"), default),
            default,
            "no address yet: the region's rate"
        );
    }

    #[test]
    fn shipping_prices() {
        let tiers = [WeightTier { max_grams: 2000, amount: 990 }, WeightTier { max_grams: 500, amount: 490 }];
        assert_eq!(shipping_price(599, None, &[], 100, 0), Some(599));
        assert_eq!(shipping_price(599, Some(5000), &[], 5000, 0), Some(0), "free from the threshold on");
        assert_eq!(shipping_price(599, Some(5000), &[], 4999, 0), Some(599));
        assert_eq!(shipping_price(0, None, &tiers, 100, 400), Some(490));
        assert_eq!(shipping_price(0, None, &tiers, 100, 501), Some(990));
        assert_eq!(shipping_price(0, None, &tiers, 100, 2001), None, "too heavy");
    }

    #[test]
    fn allocation_by_largest_remainder() {
        assert_eq!(allocate(100, &[100, 100, 100]), vec![34, 33, 33]);
        assert_eq!(allocate(10, &[500, 300, 200]), vec![5, 3, 2]);
        assert_eq!(allocate(1000, &[100, 200]), vec![100, 200], "clamped to the weights");
        assert_eq!(allocate(5, &[0, 0]), vec![0, 0]);
    }

    /// The rows of a Markdown table under `heading`, as cells.
    fn table(doc: &str, heading: &str) -> Vec<Vec<String>> {
        let section = doc.split(heading).nth(1).expect("the section exists");
        section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect())
            .collect()
    }

    fn number(cell: &str) -> i64 {
        cell.parse().unwrap_or_else(|_| panic!("{cell:?} is not a number"))
    }

    #[test]
    fn the_worked_examples_in_docs_pricing_hold() {
        let doc = include_str!("../../../docs/PRICING.md");
        let lines = table(doc, "## Worked examples: one line");
        assert!(lines.len() >= 10);
        for row in lines {
            let mode = if row[1] == "inclusive" { TaxMode::Inclusive } else { TaxMode::Exclusive };
            let got =
                line(number(&row[2]), number(&row[3]) as u32, number(&row[4]), TaxRate(number(&row[5]) as u32), mode);
            let want = LineAmounts {
                subtotal: number(&row[6]),
                discount: number(&row[7]),
                tax: number(&row[8]),
                total: number(&row[9]),
            };
            assert_eq!(got, want, "example {}", row[0]);
        }
        let allocations = table(doc, "## Worked examples: allocating a discount");
        assert!(allocations.len() >= 5);
        for row in allocations {
            let weights: Vec<i64> = row[1].split(',').map(|c| number(c.trim())).collect();
            let shares: Vec<i64> = row[2].split(',').map(|c| number(c.trim())).collect();
            assert_eq!(allocate(number(&row[0]), &weights), shares, "allocating {}", row[0]);
        }
    }

    #[test]
    fn the_shipping_examples_in_docs_pricing_hold() {
        let doc = include_str!("../../../docs/PRICING.md");
        let rows = table(doc, "## Where the rates come from");
        assert!(rows.len() >= 5);
        for row in rows {
            let free_over = (row[1] != "—").then(|| number(&row[1]));
            let tiers: Vec<WeightTier> = if row[2] == "—" {
                Vec::new()
            } else {
                row[2]
                    .split(',')
                    .map(|t| {
                        let (g, a) = t.split_once(':').unwrap();
                        WeightTier { max_grams: number(g.trim()), amount: number(a.trim()) }
                    })
                    .collect()
            };
            let want = (row[5] != "does not apply").then(|| number(&row[5]));
            assert_eq!(
                shipping_price(number(&row[0]), free_over, &tiers, number(&row[3]), number(&row[4])),
                want,
                "{row:?}"
            );
        }
    }

    #[test]
    fn the_price_list_examples_in_docs_pricing_hold() {
        let doc = include_str!("../../../docs/PRICING.md");
        let rows = table(doc, "## Which price a line pays");
        assert!(rows.len() >= 7);
        for row in rows {
            // "1500 from 1 for vip, 1800 from 1"
            let parsed: Vec<(i64, u32, Vec<String>)> = if row[1] == "—" {
                Vec::new()
            } else {
                row[1]
                    .split(',')
                    .map(|p| {
                        let words: Vec<&str> = p.split_whitespace().collect();
                        let groups = if words.len() > 3 { vec![words[4].to_string()] } else { Vec::new() };
                        (number(words[0]), number(words[2]) as u32, groups)
                    })
                    .collect()
            };
            let lists: Vec<ListPrice> = parsed
                .iter()
                .map(|(amount, min, groups)| ListPrice { list: "list", amount: *amount, min_quantity: *min, groups })
                .collect();
            let groups: Vec<String> = if row[3] == "—" { Vec::new() } else { vec![row[3].clone()] };
            let (paid, _) = unit_price(Some(number(&row[0])), &lists, number(&row[2]) as u32, &groups).unwrap();
            assert_eq!(paid, number(&row[4]), "{row:?}");
        }
    }

    proptest! {
        #[test]
        fn allocation_sums_exactly_and_never_exceeds_a_weight(
            weights in prop::collection::vec(0i64..1_000_000, 1..50),
            share in 0u32..=10_000,
        ) {
            let total: i64 = weights.iter().sum();
            let amount = percent_of(total, share);
            let parts = allocate(amount, &weights);
            prop_assert_eq!(parts.iter().sum::<i64>(), amount);
            for (p, w) in parts.iter().zip(&weights) {
                prop_assert!(*p >= 0 && p <= w);
            }
        }

        #[test]
        fn a_line_is_consistent_and_never_negative(
            unit in 0i64..10_000_000,
            qty in 1u32..1000,
            discount in -1_000i64..20_000_000,
            rate in 0u32..5000,
        ) {
            for mode in [TaxMode::Exclusive, TaxMode::Inclusive] {
                let l = line(unit, qty, discount, TaxRate(rate), mode);
                prop_assert!(l.discount >= 0 && l.discount <= l.subtotal);
                prop_assert!(l.tax >= 0 && l.total >= 0);
                match mode {
                    TaxMode::Exclusive => prop_assert_eq!(l.total, l.subtotal - l.discount + l.tax),
                    TaxMode::Inclusive => {
                        prop_assert_eq!(l.total, l.subtotal - l.discount);
                        prop_assert!(l.tax <= l.total);
                    }
                }
            }
        }

        #[test]
        fn inclusive_and_exclusive_agree_on_net_and_gross(net in 0i64..10_000_000, rate in 0u32..5000) {
            // A net price grossed up, then read back as an inclusive price, gives the same net
            // and the same tax, to the minor unit.
            let exclusive = line(net, 1, 0, TaxRate(rate), TaxMode::Exclusive);
            let inclusive = line(exclusive.total, 1, 0, TaxRate(rate), TaxMode::Inclusive);
            prop_assert_eq!(inclusive.total, exclusive.total);
            prop_assert!((inclusive.tax - exclusive.tax).abs() <= 1);
        }

        #[test]
        fn the_chosen_unit_price_is_the_cheapest_that_applies(
            base in 0i64..100_000,
            prices in prop::collection::vec((0i64..100_000, 1u32..20, any::<bool>()), 0..6),
            quantity in 1u32..30,
            member in any::<bool>(),
        ) {
            let vip = vec!["vip".to_string()];
            let names: Vec<String> = (0..prices.len()).map(|i| format!("list{i}")).collect();
            let lists: Vec<ListPrice> = prices.iter().zip(&names).map(|((amount, min, grouped), name)| ListPrice {
                list: name, amount: *amount, min_quantity: *min, groups: if *grouped { &vip } else { &[] },
            }).collect();
            let groups = if member { vip.clone() } else { vec![] };
            let (amount, list) = unit_price(Some(base), &lists, quantity, &groups).unwrap();
            prop_assert!(amount <= base);
            for p in &lists {
                let open = p.groups.is_empty() || member;
                if open && quantity >= p.min_quantity {
                    prop_assert!(amount <= p.amount, "{} applies and is cheaper than {}", p.amount, amount);
                }
            }
            match list {
                None => prop_assert_eq!(amount, base),
                Some(name) => {
                    let p = lists.iter().find(|p| p.list == name).unwrap();
                    prop_assert!(p.amount == amount && quantity >= p.min_quantity && (p.groups.is_empty() || member));
                }
            }
        }

        #[test]
        fn cart_totals_are_the_sums_of_lines(
            lines in prop::collection::vec((0i64..100_000, 1u32..20, 0u32..3000), 1..50),
            discount_share in 0u32..=10_000,
            inclusive in any::<bool>(),
            shipping_discount in 0i64..600,
        ) {
            let mode = if inclusive { TaxMode::Inclusive } else { TaxMode::Exclusive };
            let subtotals: Vec<i64> = lines.iter().map(|(u, q, _)| u * i64::from(*q)).collect();
            let discount = percent_of(subtotals.iter().sum(), discount_share);
            let shares = allocate(discount, &subtotals);
            let priced: Vec<LineAmounts> =
                lines.iter().zip(&shares).map(|((u, q, r), d)| line(*u, *q, *d, TaxRate(*r), mode)).collect();
            let shipping = line(499, 1, shipping_discount, TaxRate(2000), mode);
            let c = cart(&priced, Some(shipping));
            prop_assert_eq!(c.discount_total, discount + shipping.discount);
            prop_assert_eq!(c.total, priced.iter().map(|l| l.total).sum::<i64>() + shipping.total);
            prop_assert_eq!(c.tax_total, priced.iter().map(|l| l.tax).sum::<i64>() + shipping.tax);
            prop_assert_eq!(c.shipping_total, 499);
            // The parts add up like an invoice.
            let added_tax = if inclusive { 0 } else { c.tax_total };
            prop_assert_eq!(c.total, c.subtotal - c.discount_total + c.shipping_total + added_tax);
            prop_assert!(c.total >= 0);
        }
    }
}
