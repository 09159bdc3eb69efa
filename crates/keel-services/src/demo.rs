//! The demo catalog that a fresh Keel starts with: 60 products in 7 families, 312 variants with
//! size and colour options, prices in USD, EUR and GBP, an 11-node category tree, 5 collections,
//! placeholder images served by Keel itself, and stock in two locations.
//!
//! Everything is derived from fixed tables and a small deterministic generator, so every fresh
//! database gets the same catalog (handy for docs, tests and benchmarks). It is written in one
//! transaction: a failed seed leaves nothing behind.

use crate::{Result, now};
use keel_domain::catalog::ProductStatus;
use keel_domain::catalog::view::{Category, Collection};
use keel_domain::{
    CategoryId, CollectionId, Currency, ImageId, Money, OptionId, ProductId, StockLocationId, VariantId,
};
use keel_store::catalog::{self as repo, ImageRecord, OptionRecord, ProductRecord, VariantRecord};
use keel_store::{Db, inventory};
use serde_json::json;

/// (handle, name, parent handle)
const CATEGORIES: &[(&str, &str, Option<&str>)] = &[
    ("apparel", "Apparel", None),
    ("tops", "Tops", Some("apparel")),
    ("t-shirts", "T-Shirts", Some("tops")),
    ("hoodies", "Hoodies & Sweatshirts", Some("tops")),
    ("bottoms", "Bottoms", Some("apparel")),
    ("accessories", "Accessories", None),
    ("bags", "Bags", Some("accessories")),
    ("hats", "Hats", Some("accessories")),
    ("home", "Home", None),
    ("mugs", "Mugs", Some("home")),
    ("posters", "Posters", Some("home")),
];

const COLLECTIONS: &[(&str, &str, &str)] = &[
    ("new-arrivals", "New Arrivals", "The latest additions to the shop."),
    ("bestsellers", "Bestsellers", "What everyone is buying."),
    ("summer", "Summer Edit", "Light pieces for warm days."),
    ("essentials", "Essentials", "Everyday basics that never go out of style."),
    ("gifts", "Gift Ideas", "Presents for friends and family."),
];

struct Family {
    category: &'static str,
    names: &'static [&'static str],
    /// Base price in US cents.
    base_price: i64,
    weight_grams: i32,
    options: &'static [(&'static str, &'static [&'static str])],
    /// Each product of the family takes this many colours from [`COLOURS`].
    colours: usize,
    tags: &'static [&'static str],
}

const COLOURS: &[&str] = &["Black", "White", "Navy", "Olive", "Sand", "Burgundy", "Grey", "Sky"];

const FAMILIES: &[Family] = &[
    Family {
        category: "t-shirts",
        names: &[
            "Classic Tee",
            "Organic Cotton Tee",
            "Pocket Tee",
            "V-Neck Tee",
            "Long Sleeve Tee",
            "Striped Tee",
            "Mountain Graphic Tee",
            "Wave Graphic Tee",
            "Raglan Tee",
            "Heavyweight Tee",
            "Linen Tee",
            "Slub Tee",
        ],
        base_price: 2500,
        weight_grams: 180,
        options: &[("Size", &["S", "M", "L", "XL"])],
        colours: 2,
        tags: &["cotton", "tee"],
    },
    Family {
        category: "hoodies",
        names: &[
            "Everyday Hoodie",
            "Zip Hoodie",
            "Fleece Crewneck",
            "Oversized Hoodie",
            "Tech Hoodie",
            "Quarter-Zip Sweatshirt",
            "Vintage Wash Hoodie",
            "Recycled Fleece Hoodie",
        ],
        base_price: 6500,
        weight_grams: 550,
        options: &[("Size", &["S", "M", "L", "XL"])],
        colours: 2,
        tags: &["fleece", "warm"],
    },
    Family {
        category: "bottoms",
        names: &[
            "Slim Chinos",
            "Relaxed Joggers",
            "Cargo Pants",
            "Denim Jeans",
            "Linen Trousers",
            "Sweat Shorts",
            "Chino Shorts",
            "Track Pants",
        ],
        base_price: 5900,
        weight_grams: 450,
        options: &[("Size", &["30", "32", "34", "36"])],
        colours: 2,
        tags: &["pants"],
    },
    Family {
        category: "bags",
        names: &[
            "Canvas Tote",
            "Daypack",
            "Weekender Duffel",
            "Crossbody Bag",
            "Laptop Sleeve",
            "Roll-Top Backpack",
            "Market Bag",
            "Sling Pack",
        ],
        base_price: 4500,
        weight_grams: 700,
        options: &[],
        colours: 3,
        tags: &["carry"],
    },
    Family {
        category: "hats",
        names: &[
            "Wool Beanie",
            "Baseball Cap",
            "Bucket Hat",
            "Trucker Cap",
            "Sun Hat",
            "Fisherman Beanie",
            "Five-Panel Cap",
            "Corduroy Cap",
        ],
        base_price: 2200,
        weight_grams: 120,
        options: &[],
        colours: 3,
        tags: &["headwear"],
    },
    Family {
        category: "mugs",
        names: &[
            "Enamel Mug",
            "Stoneware Mug",
            "Travel Mug",
            "Espresso Cup",
            "Latte Bowl",
            "Camp Mug",
            "Glass Mug",
            "Speckled Mug",
        ],
        base_price: 1800,
        weight_grams: 350,
        options: &[("Size", &["Regular", "Large"])],
        colours: 0,
        tags: &["kitchen"],
    },
    Family {
        category: "posters",
        names: &[
            "Alpine Poster",
            "Ocean Poster",
            "City Lights Poster",
            "Botanical Poster",
            "Desert Poster",
            "Northern Lights Poster",
            "Forest Poster",
            "Vintage Map Poster",
        ],
        base_price: 2000,
        weight_grams: 200,
        options: &[("Size", &["A3", "A2", "A1"])],
        colours: 0,
        tags: &["art", "print"],
    },
];

/// A small deterministic generator (64-bit LCG): the same catalog on every fresh database.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound.max(1)
    }
}

/// What the seed reports while it works.
#[derive(Debug, Clone, Copy)]
pub enum SeedProgress {
    Products { done: usize, total: usize },
    Committing,
}

/// What a seed wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedSummary {
    pub products: usize,
    pub variants: usize,
    pub categories: usize,
    pub collections: usize,
    pub locations: usize,
    pub regions: usize,
}

/// Whether the database has no products yet (a fresh install gets the demo catalog).
pub async fn catalog_is_empty(db: &Db) -> Result<bool> {
    let mut conn = db.read().await?;
    Ok(repo::count_products(&mut conn.conn()).await? == 0)
}

/// Converts a US price into a shop price in another currency, ending in 99 minor units.
fn local_price(usd_cents: i64, rate_percent: i64) -> i64 {
    let raw = usd_cents * rate_percent / 100;
    ((raw + 50) / 100).max(1) * 100 - 1
}

/// A variant's prices from its US price in cents: USD ending in 99, EUR and GBP converted.
fn shop_prices(usd_cents: i64) -> Vec<Money> {
    vec![
        Money::new(usd_cents - 1, Currency::USD),
        Money::new(local_price(usd_cents, 92), Currency::EUR),
        Money::new(local_price(usd_cents, 79), Currency::GBP),
    ]
}

/// Writes the demo catalog. Call on an empty catalog only: handles and SKUs would collide.
pub async fn seed_demo(db: &Db, mut progress: impl FnMut(SeedProgress)) -> Result<SeedSummary> {
    let at = now();
    let mut rng = Lcg(0x6b65_656c);
    let mut tx = db.begin().await?;
    let mut c = tx.conn();
    let mut summary = SeedSummary::default();

    let mut category_ids: Vec<(&str, CategoryId)> = Vec::new();
    for (position, (handle, name, parent)) in CATEGORIES.iter().enumerate() {
        let id = CategoryId::new();
        let parent_id = parent.and_then(|p| category_ids.iter().find(|(h, _)| *h == p).map(|(_, id)| *id));
        let category = Category {
            id,
            handle: handle.to_string(),
            name: name.to_string(),
            description: format!("{name} from the Keel demo shop."),
            parent_id,
            position: i32::try_from(position).unwrap_or(0),
            created_at: at,
            updated_at: at,
        };
        repo::upsert_category(&mut c, &category, true).await?;
        category_ids.push((handle, id));
        summary.categories += 1;
    }
    let mut collection_ids: Vec<CollectionId> = Vec::new();
    for (handle, title, description) in COLLECTIONS {
        let collection = Collection {
            id: CollectionId::new(),
            handle: handle.to_string(),
            title: title.to_string(),
            description: description.to_string(),
            created_at: at,
            updated_at: at,
        };
        repo::upsert_collection(&mut c, &collection, true).await?;
        collection_ids.push(collection.id);
        summary.collections += 1;
    }
    let main = StockLocationId::new();
    let eu = StockLocationId::new();
    inventory::insert_location(&mut c, main, "main", "Main warehouse", true, at).await?;
    inventory::insert_location(&mut c, eu, "eu", "EU warehouse", false, at).await?;
    summary.locations = 2;
    // Three markets: the US sells net of tax from the main warehouse; the EU and the UK sell
    // tax-inclusive, the EU from both warehouses (its own first).
    let eu_countries = ["AT", "BE", "DE", "DK", "ES", "FI", "FR", "IE", "IT", "NL", "PL", "PT", "SE"];
    // Default rates: none in the US (sales tax by state comes with tax rates), 20 % VAT in the
    // EU and the UK.
    for (name, currency, inclusive, rate, countries, locations) in [
        ("United States", "USD", false, 0, &["US"][..], vec![main]),
        ("Europe", "EUR", true, 2000, &eu_countries[..], vec![eu, main]),
        ("United Kingdom", "GBP", true, 2000, &["GB"][..], vec![main]),
    ] {
        let record = keel_store::regions::RegionRecord {
            row: keel_store::regions::RegionRow {
                id: keel_domain::RegionId::new().to_string(),
                name: name.into(),
                currency: currency.into(),
                tax_inclusive: inclusive,
                tax_rate: rate,
                created_at: at,
                updated_at: at,
            },
            countries: countries.iter().map(|c| c.to_string()).collect(),
            location_ids: locations.iter().map(ToString::to_string).collect(),
        };
        keel_store::regions::insert(&mut c, &record).await?;
        summary.regions += 1;
        // Standard shipping, free over a threshold, and express.
        let (standard, free_over, express) = match currency {
            "USD" => (599, 5000, 1499),
            "EUR" => (490, 5000, 1290),
            _ => (399, 4000, 999),
        };
        for (option, amount, free) in [("Standard", standard, Some(free_over)), ("Express", express, None)] {
            let row = keel_store::shipping::OptionRow {
                id: keel_domain::ShippingOptionId::new().to_string(),
                region_id: record.row.id.clone(),
                name: option.into(),
                amount,
                free_over: free,
                tiers: keel_store::JsonColumn(serde_json::json!([])),
                provider: "manual".into(),
                data: keel_store::JsonColumn(serde_json::json!({})),
                created_at: at,
                updated_at: at,
            };
            keel_store::shipping::insert(&mut c, &row).await?;
        }
    }

    // Two codes to try: 10 % off the order, once per customer; free shipping.
    for (code, name, benefit, per_customer) in [
        ("WELCOME10", "10 % off your first order", json!({"type": "percent_off", "basis_points": 1000}), Some(1)),
        ("FREESHIP", "Free shipping", json!({"type": "free_shipping"}), None),
    ] {
        let row = keel_store::promotions::PromotionRow {
            id: keel_domain::PromotionId::new().to_string(),
            code: Some(code.into()),
            name: name.into(),
            status: "active".into(),
            starts_at: None,
            ends_at: None,
            currency: None,
            rule: keel_store::JsonColumn(json!({"items": null, "benefit": benefit, "min_subtotal": null})),
            exclusive: false,
            priority: 0,
            customer_group_ids: keel_store::JsonColumn(Vec::new()),
            usage_limit: None,
            per_customer_limit: per_customer,
            usage_count: 0,
            created_at: at,
            updated_at: at,
        };
        keel_store::promotions::insert(&mut c, &row).await?;
    }

    let total: usize = FAMILIES.iter().map(|f| f.names.len()).sum();
    let mut levels = Vec::new();
    for family in FAMILIES {
        let category = category_ids.iter().find(|(h, _)| *h == family.category).map(|(_, id)| *id);
        for (index, name) in family.names.iter().enumerate() {
            let id = ProductId::new();
            let handle = keel_domain::catalog::Handle::slugify(name)
                .map_err(|e| crate::ServiceError::Internal(e.to_string()))?;
            let handle = handle.as_str().to_string();
            let start = usize::try_from(rng.next(COLOURS.len() as u64)).unwrap_or(0);
            let colours: Vec<String> =
                (0..family.colours).map(|i| COLOURS[(start + i) % COLOURS.len()].to_string()).collect();
            let mut options: Vec<OptionRecord> = family
                .options
                .iter()
                .map(|(n, values)| OptionRecord {
                    id: OptionId::new(),
                    name: n.to_string(),
                    values: values.iter().map(|v| v.to_string()).collect(),
                })
                .collect();
            if !colours.is_empty() {
                options.push(OptionRecord { id: OptionId::new(), name: "Color".into(), values: colours });
            }
            // Every combination of option values is a variant.
            let mut combos: Vec<Vec<(String, String)>> = vec![vec![]];
            for option in &options {
                combos = combos
                    .into_iter()
                    .flat_map(|combo| {
                        option.values.iter().map(move |v| {
                            let mut next = combo.clone();
                            next.push((option.name.clone(), v.clone()));
                            next
                        })
                    })
                    .collect();
            }
            let base = family.base_price + i64::try_from(rng.next(6)).unwrap_or(0) * 500;
            let variants: Vec<VariantRecord> = combos
                .iter()
                .enumerate()
                .map(|(position, combo)| {
                    // Bigger sizes cost a little more.
                    let usd = base + i64::try_from(position / family.colours.max(1)).unwrap_or(0) * 100;
                    let sku_tail: Vec<String> = combo.iter().map(|(_, v)| v.to_uppercase().replace(' ', "")).collect();
                    let title = if combo.is_empty() {
                        "Default".to_string()
                    } else {
                        combo.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(" / ")
                    };
                    VariantRecord {
                        id: VariantId::new(),
                        product_id: id,
                        sku: format!(
                            "{}-{}",
                            handle.to_uppercase(),
                            if sku_tail.is_empty() { "STD".into() } else { sku_tail.join("-") }
                        ),
                        title,
                        options: combo.iter().cloned().collect(),
                        barcode: Some(format!("400{:010}", rng.next(10_000_000_000))),
                        weight_grams: Some(family.weight_grams),
                        position: i32::try_from(position).unwrap_or(0),
                        prices: shop_prices(usd),
                        created_at: at,
                        updated_at: at,
                    }
                })
                .collect();
            for v in &variants {
                levels.push((v.id, main, i64::try_from(rng.next(40)).unwrap_or(0)));
                levels.push((v.id, eu, i64::try_from(rng.next(25)).unwrap_or(0)));
            }
            summary.variants += variants.len();
            let status = if index == family.names.len() - 1 && family.category == "posters" {
                ProductStatus::Draft
            } else {
                ProductStatus::Published
            };
            repo::insert_product(
                &mut c,
                &ProductRecord {
                    id,
                    handle: handle.clone(),
                    title: name.to_string(),
                    subtitle: None,
                    description: format!(
                        "The {name} is part of the Keel demo catalog: well made, fairly priced and built to last."
                    ),
                    status,
                    metadata: serde_json::json!({"demo": true}),
                    created_at: at,
                    updated_at: at,
                },
            )
            .await?;
            repo::replace_options(&mut c, id, &options).await?;
            repo::insert_variants(&mut c, &variants).await?;
            let images: Vec<ImageRecord> = (1..=2)
                .map(|n| ImageRecord {
                    id: ImageId::new(),
                    url: format!("/media/demo/{handle}-{n}.svg"),
                    alt: Some(format!("{name}, view {n}")),
                })
                .collect();
            repo::replace_images(&mut c, id, &images).await?;
            let tags: Vec<String> = family.tags.iter().map(|t| t.to_string()).collect();
            repo::replace_tags(&mut c, id, &tags).await?;
            repo::replace_product_categories(&mut c, id, category.as_slice()).await?;
            let in_collection: Vec<CollectionId> = collection_ids
                .iter()
                .enumerate()
                .filter(|(i, _)| (summary.products + i) % 3 == 0)
                .map(|(_, id)| *id)
                .collect();
            repo::replace_product_collections(&mut c, id, &in_collection).await?;
            summary.products += 1;
            progress(SeedProgress::Products { done: summary.products, total });
        }
    }
    inventory::set_levels(&mut c, &levels, at).await?;
    progress(SeedProgress::Committing);
    tx.commit().await?;
    Ok(summary)
}

/// Generated products are written this many to a transaction.
const BULK_BATCH: usize = 500;

const ADJECTIVES: &[&str] = &[
    "Classic", "Organic", "Vintage", "Urban", "Alpine", "Coastal", "Everyday", "Heritage", "Modern", "Rugged", "Soft",
    "Light", "Heavy", "Recycled", "Tailored", "Relaxed", "Studio", "Field", "Harbor", "Summit",
];
const BULK_SIZES: &[&str] = &["XS", "S", "M", "L", "XL"];

/// Adds `count` generated products to the catalog (for measuring Keel at scale): each in one of
/// the demo families' categories, with five sizes as variants, prices in three currencies and
/// stock in the default location. Needs the demo catalog (its categories, collections and
/// locations) in place. Written in transactions of a few hundred products, so the work shows
/// progress and a failure keeps the batches before it (whole products only). Run it while no
/// server runs, or restart the servers after it: it writes no events.
pub async fn seed_products(db: &Db, count: usize, mut progress: impl FnMut(SeedProgress)) -> Result<SeedSummary> {
    let at = now();
    let (start, categories, collections, location) = {
        let mut conn = db.read().await?;
        let mut c = conn.conn();
        let start = usize::try_from(repo::count_products(&mut c).await?).unwrap_or(0);
        let categories = repo::list_categories(&mut c).await?;
        let collections = repo::list_collections(&mut c).await?;
        let locations = inventory::list_locations(&mut c).await?;
        (start, categories, collections, locations.into_iter().next())
    };
    let location: StockLocationId = location
        .and_then(|l| l.id.parse().ok())
        .ok_or_else(|| crate::ServiceError::Internal("seed the demo catalog first: no stock location".into()))?;
    let category_of = |family: &Family| categories.iter().find(|c| c.handle == family.category).map(|c| c.id);
    let mut rng = Lcg(0x6275_6c6b ^ start as u64);
    let mut summary = SeedSummary::default();
    let mut n = 0;
    while n < count {
        let mut tx = db.begin().await?;
        let mut c = tx.conn();
        let mut levels = Vec::new();
        for _ in 0..BULK_BATCH.min(count - n) {
            let serial = start + n;
            let family = &FAMILIES[serial % FAMILIES.len()];
            let base_name = family.names[(serial / FAMILIES.len()) % family.names.len()];
            let adjective = ADJECTIVES[usize::try_from(rng.next(ADJECTIVES.len() as u64)).unwrap_or(0)];
            let title = format!("{adjective} {base_name} {serial}");
            let handle = keel_domain::catalog::Handle::slugify(&title)
                .map_err(|e| crate::ServiceError::Internal(e.to_string()))?
                .as_str()
                .to_string();
            let id = ProductId::new();
            let colour = COLOURS[serial % COLOURS.len()];
            let options = vec![
                OptionRecord {
                    id: OptionId::new(),
                    name: "Size".into(),
                    values: BULK_SIZES.iter().map(|s| s.to_string()).collect(),
                },
                OptionRecord { id: OptionId::new(), name: "Color".into(), values: vec![colour.to_string()] },
            ];
            let base = family.base_price + i64::try_from(rng.next(20)).unwrap_or(0) * 100;
            let variants: Vec<VariantRecord> = BULK_SIZES
                .iter()
                .enumerate()
                .map(|(position, size)| {
                    let usd = base + i64::try_from(position).unwrap_or(0) * 100;
                    VariantRecord {
                        id: VariantId::new(),
                        product_id: id,
                        sku: format!("{}-{size}", handle.to_uppercase()),
                        title: format!("{size} / {colour}"),
                        options: [("Size".to_string(), size.to_string()), ("Color".to_string(), colour.to_string())]
                            .into(),
                        barcode: None,
                        weight_grams: Some(family.weight_grams),
                        position: i32::try_from(position).unwrap_or(0),
                        prices: shop_prices(usd),
                        created_at: at,
                        updated_at: at,
                    }
                })
                .collect();
            levels.extend(variants.iter().map(|v| (v.id, location, i64::try_from(rng.next(50)).unwrap_or(0))));
            repo::insert_product(
                &mut c,
                &ProductRecord {
                    id,
                    handle: handle.clone(),
                    title: title.clone(),
                    subtitle: None,
                    description: format!(
                        "The {title} in {colour}: one of many generated products that show how Keel behaves with a large catalog."
                    ),
                    status: ProductStatus::Published,
                    metadata: serde_json::json!({"generated": true}),
                    created_at: at,
                    updated_at: at,
                },
            )
            .await?;
            repo::replace_options(&mut c, id, &options).await?;
            repo::insert_variants(&mut c, &variants).await?;
            // The demo family member's picture.
            let picture = base_name.to_lowercase().replace([' ', '&'], "-");
            let image = ImageRecord {
                id: ImageId::new(),
                url: format!("/media/demo/{picture}-1.svg"),
                alt: Some(title.clone()),
            };
            repo::replace_images(&mut c, id, &[image]).await?;
            repo::replace_tags(&mut c, id, &family.tags.iter().map(|t| t.to_string()).collect::<Vec<_>>()).await?;
            repo::replace_product_categories(&mut c, id, category_of(family).as_slice()).await?;
            if !collections.is_empty() && serial % 4 == 0 {
                repo::replace_product_collections(&mut c, id, &[collections[serial % collections.len()].id]).await?;
            }
            summary.products += 1;
            summary.variants += variants.len();
            n += 1;
        }
        inventory::set_levels(&mut c, &levels, at).await?;
        tx.commit().await?;
        progress(SeedProgress::Products { done: n, total: count });
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_prices_end_in_99() {
        assert_eq!(local_price(2500, 92), 2299);
        assert_eq!(local_price(2500, 79), 1999);
        assert_eq!(local_price(10, 92), 99);
    }

    #[test]
    fn the_tables_describe_the_promised_catalog() {
        let products: usize = FAMILIES.iter().map(|f| f.names.len()).sum();
        let variants: usize = FAMILIES
            .iter()
            .map(|f| f.names.len() * f.options.iter().map(|(_, v)| v.len()).product::<usize>() * f.colours.max(1))
            .sum();
        assert!(products >= 50, "{products} products");
        assert!(variants >= 200, "{variants} variants");
        assert!(CATEGORIES.len() >= 8);
        assert_eq!(COLLECTIONS.len(), 5);
    }
}
