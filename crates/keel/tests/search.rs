//! Store search as a shopper's front end sees it, on SQLite and PostgreSQL: typo tolerance,
//! autocomplete, facets whose counts match the filtered results, pagination, and an index that
//! follows admin changes (price, stock) within a second.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

async fn search(app: &common::TestApp, query: &str) -> Value {
    let (status, body) = app.get_json(&format!("/v1/store/search?{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn handles(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|p| p["handle"].as_str().unwrap().to_string()).collect()
}

/// Polls the store (as a shopper would) until `check` holds, for at most a second.
async fn within_a_second(app: &common::TestApp, query: &str, check: impl Fn(&Value) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if check(&search(app, query).await) {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(1), "search did not follow within 1 s: {query}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

backend_tests! {
    #[demo = true]
    async fn a_typo_still_finds_the_product_and_suggestions_complete_words(app) {
        let (_, tee) = app.get_json("/v1/store/products/classic-tee").await;
        let title = tee["title"].as_str().unwrap().to_lowercase();
        assert!(title.contains("classic"), "{title}");
        // Exact, then one letter missing, one swapped, one wrong.
        for q in ["classic", "clasic", "calssic", "classix"] {
            let found = handles(&search(app, &format!("q={q}")).await);
            assert!(found.contains(&"classic-tee".to_string()), "{q}: {found:?}");
        }
        let exact = search(app, "q=classic%20tee").await;
        assert_eq!(handles(&exact)[0], "classic-tee", "the exact match ranks first");
        assert!(search(app, "q=qwxzv").await["total"] == 0);

        let (status, suggestions) = app.get_json("/v1/store/search/suggest?q=clas").await;
        assert_eq!(status, 200);
        let suggested: Vec<&str> = suggestions["data"].as_array().unwrap().iter().map(|s| s["handle"].as_str().unwrap()).collect();
        assert!(suggested.contains(&"classic-tee"), "{suggested:?}");

        for bad in ["limit=0", "sort=cheapest", "options=Size", "currency=EURO", "cursor=nope", "colour=red"] {
            let (status, problem) = app.get_json(&format!("/v1/store/search?{bad}")).await;
            assert!(status == 422 || status == 400, "{bad}: {status}");
            assert!(problem["code"].is_string(), "{bad}: {problem}");
        }
    }

    #[demo = true]
    async fn facet_counts_match_the_filtered_results(app) {
        let all = search(app, "limit=100").await;
        let total = all["total"].as_u64().unwrap();
        assert!(total >= 50, "the demo catalog is browsable: {total}");
        let facets = &all["facets"];
        let mut checked = 0;
        for category in facets["categories"].as_array().unwrap() {
            let value = category["value"].as_str().unwrap();
            let filtered = search(app, &format!("category={value}&limit=100")).await;
            assert_eq!(filtered["total"], category["count"], "category {value}");
            assert_eq!(filtered["data"].as_array().unwrap().len() as u64, category["count"].as_u64().unwrap().min(100));
            checked += 1;
        }
        for collection in facets["collections"].as_array().unwrap() {
            let value = collection["value"].as_str().unwrap();
            assert_eq!(search(app, &format!("collection={value}")).await["total"], collection["count"], "collection {value}");
            checked += 1;
        }
        for (name, values) in facets["options"].as_object().unwrap() {
            for v in values.as_array().unwrap() {
                let value = v["value"].as_str().unwrap();
                let query = format!("options={}", urlencode(&format!("{name}:{value}")));
                assert_eq!(search(app, &query).await["total"], v["count"], "{name}={value}");
                checked += 1;
            }
        }
        for bucket in facets["price"].as_array().unwrap() {
            let mut query = format!("price_min={}", bucket["min"]);
            if let Some(max) = bucket["max"].as_i64() {
                query.push_str(&format!("&price_max={}", max - 1));
            }
            assert_eq!(search(app, &query).await["total"], bucket["count"], "price {bucket}");
            checked += 1;
        }
        assert_eq!(search(app, "in_stock=true").await["total"], facets["in_stock"]["true"]);
        assert!(checked > 10, "the demo has facets to check: {checked}");

        // Facets of a filtered search count within it; two filters combine.
        let category = facets["categories"][0]["value"].as_str().unwrap();
        let narrowed = search(app, &format!("category={category}")).await;
        let inner = &narrowed["facets"]["categories"];
        assert_eq!(inner.as_array().unwrap().iter().find(|c| c["value"] == category).unwrap()["count"], narrowed["total"]);

        // Pages walk every result once.
        let mut seen = HashSet::new();
        let mut query = "limit=7&sort=price".to_string();
        let mut last = i64::MIN;
        loop {
            let page = search(app, &query).await;
            for product in page["data"].as_array().unwrap() {
                assert!(seen.insert(product["id"].as_str().unwrap().to_string()), "a product twice");
                let low = product["variants"].as_array().unwrap().iter()
                    .flat_map(|v| v["prices"].as_array().unwrap().iter())
                    .filter(|p| p["currency"] == "USD").map(|p| p["amount"].as_i64().unwrap()).min();
                if let Some(low) = low {
                    assert!(low >= last, "sorted by lowest USD price");
                    last = low;
                }
            }
            match page["next_cursor"].as_str() {
                Some(cursor) => query = format!("limit=7&sort=price&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(seen.len() as u64, total);
    }

    #[demo = true]
    async fn an_admin_change_reaches_search_within_a_second(app) {
        let (_, tee) = app.get_json("/v1/store/products/classic-tee").await;
        let variants = tee["variants"].as_array().unwrap().clone();
        // Every variant at one unusual price: the product's lowest price is that.
        for v in &variants {
            let path = format!("/v1/admin/variants/{}/prices", v["id"].as_str().unwrap());
            let (status, _) = app.admin_json(Method::PUT, &path, Some(json!([{"amount": 123_457, "currency": "USD"}]))).await;
            assert_eq!(status, 200);
        }
        let took = within_a_second(app, "price_min=123457&price_max=123457", |page| handles(page) == ["classic-tee"]).await;
        eprintln!("price change searchable after {took:?}");
        let (_, product) = app.get_json("/v1/store/products/classic-tee").await;
        assert_eq!(product["variants"][0]["prices"][0]["amount"], 123_457, "and in the store API");

        // Out of stock everywhere: it moves to in_stock=false.
        for v in &variants {
            let inventory = format!("/v1/admin/variants/{}/inventory", v["id"].as_str().unwrap());
            let (_, levels) = app.admin_json(Method::GET, &inventory, None).await;
            for level in levels["levels"].as_array().unwrap() {
                let (status, _) = app.admin_json(Method::PUT, &inventory, Some(json!({"on_hand": 0, "location_id": level["location_id"]}))).await;
                assert_eq!(status, 200);
            }
        }
        within_a_second(app, "q=classic&in_stock=false", |page| handles(page).contains(&"classic-tee".to_string())).await;

        // Archived: gone from search.
        let id = tee["id"].as_str().unwrap();
        let (status, _) = app.admin_json(Method::POST, &format!("/v1/admin/products/{id}/archive"), None).await;
        assert_eq!(status, 200);
        within_a_second(app, "q=classic", |page| !handles(page).contains(&"classic-tee".to_string())).await;
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
