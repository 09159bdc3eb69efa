//! How long the cart arithmetic takes for a 50-line cart with 3 promotions: promotion allocation,
//! per-line tax and the cart sums, repeated and timed. Prints one JSON object.
//!
//!   cargo run --release -p keel-domain --example cart_compute

use keel_domain::pricing::{self, TaxMode, TaxRate};
use keel_domain::promotions::{self, Benefit, ItemFilter, PromoLine, Promotion};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let lines: Vec<PromoLine> = (0..50)
        .map(|i| PromoLine {
            product: format!("prod_{}", i % 17),
            variant: format!("var_{i}"),
            categories: vec![format!("cat_{}", i % 5)],
            collections: vec![],
            unit_price: 499 + (i as i64 * 137) % 9000,
            quantity: 1 + (i as u32 % 4),
        })
        .collect();
    let promotion = |id: &str, benefit, items, exclusive| Promotion {
        id: id.into(),
        items,
        benefit,
        min_subtotal: None,
        exclusive,
        priority: 0,
    };
    let promos = vec![
        promotion("ten_percent", Benefit::PercentOff { basis_points: 1000 }, None, false),
        promotion(
            "category_b2g1",
            Benefit::BuyXGetY { buy: 2, get: 1, basis_points: 10_000 },
            Some(ItemFilter { categories: vec!["cat_2".into()], ..ItemFilter::default() }),
            false,
        ),
        promotion("five_off", Benefit::AmountOff { amount: 500 }, None, true),
    ];
    let compute = || {
        let applied = promotions::apply(&lines, 599, &promos);
        let priced: Vec<pricing::LineAmounts> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let discount = applied.iter().map(|a| a.lines[i]).sum();
                pricing::line(l.unit_price, l.quantity, discount, TaxRate(2000), TaxMode::Inclusive)
            })
            .collect();
        let shipping_discount: i64 = applied.iter().map(|a| a.shipping).sum();
        pricing::cart(&priced, Some(pricing::line(599, 1, shipping_discount, TaxRate(2000), TaxMode::Inclusive)))
    };
    for _ in 0..1000 {
        black_box(compute());
    }
    let runs = 20_000u32;
    let started = Instant::now();
    for _ in 0..runs {
        black_box(compute());
    }
    let per_cart_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
    let totals = compute();
    println!(
        "{{\"lines\": 50, \"promotions\": 3, \"runs\": {runs}, \"per_cart_us\": {per_cart_us:.2}, \"total\": {}, \"discount_total\": {}}}",
        totals.total, totals.discount_total
    );
}
