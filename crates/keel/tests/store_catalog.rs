//! The store API as a shopper's front end sees it, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use serde_json::Value;
use std::collections::HashSet;

/// Follows `next_cursor` from `first` to the end, returning every product in order.
async fn walk(app: &common::TestApp, first: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = first.to_string();
    loop {
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                let sep = if first.contains('?') { '&' } else { '?' };
                path = format!("{first}{sep}cursor={cursor}");
            }
            None => return out,
        }
        assert!(out.len() < 1000, "pagination does not end");
    }
}

fn min_usd(product: &Value) -> i64 {
    product["variants"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["prices"].as_array().unwrap().iter())
        .filter(|p| p["currency"] == "USD")
        .map(|p| p["amount"].as_i64().unwrap())
        .min()
        .unwrap_or(i64::MAX)
}

backend_tests! {
    #[demo = true]
    async fn pages_through_every_published_product_once(app) {
        let (status, page) = app.get_json("/v1/store/products").await;
        assert_eq!(status, 200);
        assert_eq!(page["data"].as_array().unwrap().len(), 20, "default page size");
        let all = walk(app, "/v1/store/products?limit=7").await;
        let unique: HashSet<&str> = all.iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(unique.len(), all.len(), "no product twice");
        assert_eq!(all.len(), 59, "the demo has 60 products, one of them a draft");
        assert!(all.iter().all(|p| p["status"] == "published"));
        // Newest first by default: ids are time-ordered.
        let listed: Vec<&str> = all.iter().map(|p| p["id"].as_str().unwrap()).collect();
        let mut sorted = listed.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(listed, sorted);
    }

    #[demo = true]
    async fn a_product_carries_variants_prices_and_relations(app) {
        let (_, page) = app.get_json("/v1/store/products?limit=100").await;
        let tee = page["data"].as_array().unwrap().iter().find(|p| p["handle"] == "classic-tee").expect("classic tee").clone();
        assert_eq!(tee["variants"].as_array().unwrap().len(), 8, "4 sizes × 2 colours");
        for variant in tee["variants"].as_array().unwrap() {
            let currencies: HashSet<&str> = variant["prices"].as_array().unwrap().iter().map(|p| p["currency"].as_str().unwrap()).collect();
            assert_eq!(currencies, HashSet::from(["USD", "EUR", "GBP"]));
            assert!(variant["prices"][0]["amount"].is_i64(), "money is integer minor units");
            assert!(variant["options"]["Size"].is_string() && variant["options"]["Color"].is_string());
        }
        assert_eq!(tee["categories"][0]["handle"], "t-shirts");
        assert_eq!(tee["images"].as_array().unwrap().len(), 2);
        assert_eq!(tee["thumbnail"], tee["images"][0]["url"]);

        let (status, by_handle) = app.get_json("/v1/store/products/classic-tee").await;
        assert_eq!(status, 200);
        let (status, by_id) = app.get_json(&format!("/v1/store/products/{}", tee["id"].as_str().unwrap())).await;
        assert_eq!(status, 200);
        assert_eq!(by_handle, by_id);
        assert_eq!(by_handle, tee, "the detail is the list entry");

        let image = app.get(tee["thumbnail"].as_str().unwrap()).await;
        assert_eq!(image.status(), 200);
        assert_eq!(image.headers()["content-type"], "image/svg+xml");
    }

    #[demo = true]
    async fn drafts_and_unknown_products_are_not_found(app) {
        let (status, problem) = app.get_json("/v1/store/products/vintage-map-poster").await;
        assert_eq!(status, 404, "the demo's draft is hidden: {problem}");
        assert_eq!(problem["code"], "not_found");
        let (status, _) = app.get_json("/v1/store/products/prod_01m882rvxcewhv1k4che3z9z31").await;
        assert_eq!(status, 404);
        let (status, _) = app.get_json("/v1/store/products/no-such-thing").await;
        assert_eq!(status, 404);
    }

    #[demo = true]
    async fn filters_by_category_subtree_collection_and_title(app) {
        let apparel = walk(app, "/v1/store/products?category=apparel&limit=50").await;
        let (_, tree) = app.get_json("/v1/store/categories").await;
        let subtree = ["apparel", "tops", "t-shirts", "hoodies", "bottoms"];
        assert_eq!(apparel.len(), 12 + 8 + 8, "tees, hoodies and bottoms");
        for p in &apparel {
            let handle = p["categories"][0]["handle"].as_str().unwrap();
            assert!(subtree.contains(&handle), "{handle} is not under apparel");
        }
        assert!(tree["data"].as_array().unwrap().len() >= 8);

        let hoodies = walk(app, "/v1/store/products?category=hoodies").await;
        assert_eq!(hoodies.len(), 8);
        let (_, none) = app.get_json("/v1/store/products?category=no-such-category").await;
        assert_eq!(none["data"].as_array().unwrap().len(), 0);

        let (_, collections) = app.get_json("/v1/store/collections").await;
        assert_eq!(collections["data"].as_array().unwrap().len(), 5);
        let summer = walk(app, "/v1/store/products?collection=summer").await;
        assert!(!summer.is_empty());
        assert!(summer.iter().all(|p| p["collections"].as_array().unwrap().iter().any(|c| c["handle"] == "summer")));

        let tees = walk(app, "/v1/store/products?q=TEE").await;
        assert_eq!(tees.len(), 12, "case-insensitive title match");
        let (_, literal) = app.get_json("/v1/store/products?q=%25").await;
        assert_eq!(literal["data"].as_array().unwrap().len(), 0, "% is matched literally");
    }

    #[demo = true]
    async fn sorts_by_title_and_price_across_pages(app) {
        let by_title = walk(app, "/v1/store/products?sort=title&limit=9").await;
        let titles: Vec<&str> = by_title.iter().map(|p| p["title"].as_str().unwrap()).collect();
        let mut sorted = titles.clone();
        sorted.sort_unstable();
        assert_eq!(titles, sorted);
        assert_eq!(titles.len(), 59);

        let by_price = walk(app, "/v1/store/products?sort=price&limit=8").await;
        let prices: Vec<i64> = by_price.iter().map(min_usd).collect();
        assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
        assert_eq!(prices.len(), 59);

        let by_price_desc = walk(app, "/v1/store/products?sort=-price&currency=EUR&limit=11").await;
        assert_eq!(by_price_desc.len(), 59);
        let eur = |p: &Value| p["variants"].as_array().unwrap().iter().flat_map(|v| v["prices"].as_array().unwrap().iter()).filter(|m| m["currency"] == "EUR").map(|m| m["amount"].as_i64().unwrap()).min().unwrap();
        let prices: Vec<i64> = by_price_desc.iter().map(eur).collect();
        assert!(prices.windows(2).all(|w| w[0] >= w[1]), "{prices:?}");
    }

    #[demo = true]
    async fn bad_query_parameters_are_client_errors(app) {
        for (query, status, field) in [
            ("limit=abc", 400, "limit"),
            ("limit=-1", 400, "limit"),
            ("limit=0", 422, "limit"),
            ("limit=101", 422, "limit"),
            ("sort=cheapest", 422, "sort"),
            ("currency=XYZ", 422, "currency"),
            ("cursor=garbage", 422, "cursor"),
            ("status=draft", 422, "status"),
            ("unknown=1", 400, ""),
        ] {
            let response = app.get(&format!("/v1/store/products?{query}")).await;
            assert_eq!(response.status().as_u16(), status, "{query}");
            assert_eq!(response.headers()["content-type"], "application/problem+json", "{query}");
            let (_, problem) = common::json_of(response).await;
            assert_eq!(problem["status"], status);
            assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
            if !field.is_empty() {
                assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
            }
        }
        // A cursor belongs to its sort.
        let (_, page) = app.get_json("/v1/store/products?sort=title&limit=2").await;
        let cursor = page["next_cursor"].as_str().unwrap();
        let (status, _) = app.get_json(&format!("/v1/store/products?sort=price&cursor={cursor}")).await;
        assert_eq!(status, 422);
    }

    #[demo = true]
    async fn catalog_reads_revalidate_with_etags(app) {
        let first = app.get("/v1/store/products/classic-tee").await;
        assert_eq!(first.status(), 200);
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "a strong ETag: {etag}");
        assert!(first.headers()["cache-control"].to_str().unwrap().starts_with("public"));

        let again = app.http.get(app.url("/v1/store/products/classic-tee")).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304);
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert!(again.bytes().await.unwrap().is_empty());

        let stale = app.http.get(app.url("/v1/store/products/classic-tee")).header("if-none-match", "\"stale\"").send().await.unwrap();
        assert_eq!(stale.status(), 200);

        // A change to the product changes its tag.
        let (_, product) = app.get_json("/v1/store/products/classic-tee").await;
        let id = product["id"].as_str().unwrap();
        let (status, _) = app.admin_json(reqwest::Method::PATCH, &format!("/v1/admin/products/{id}"), Some(serde_json::json!({"title": "Classic Tee 2"}))).await;
        assert_eq!(status, 200);
        let changed = app.http.get(app.url("/v1/store/products/classic-tee")).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(changed.status(), 200);
        assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);

        // Compressed bodies carry their own strong tag, and revalidate too.
        let gz = app.http.get(app.url("/v1/store/products?limit=50")).header("accept-encoding", "gzip").send().await.unwrap();
        assert_eq!(gz.headers()["content-encoding"], "gzip");
        let gz_tag = gz.headers()["etag"].to_str().unwrap().to_string();
        assert!(gz_tag.ends_with("-gzip\""), "{gz_tag}");
        let gz_again = app.http.get(app.url("/v1/store/products?limit=50")).header("accept-encoding", "gzip").header("if-none-match", &gz_tag).send().await.unwrap();
        assert_eq!(gz_again.status(), 304);
        assert_eq!(gz_again.headers()["etag"].to_str().unwrap(), gz_tag);
    }
}
