//! Regions and inventory, black-box on SQLite and PostgreSQL: the demo markets, setting stock
//! levels through the admin API, `in_stock` in store responses per region, tracking flags,
//! low-stock events, and reservations that never over-reserve under concurrency.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use keel_domain::VariantId;
use keel_services::ServiceError;
use keel_services::inventory::{InventoryService, Owner};
use reqwest::Method;
use serde_json::{Value, json};

async fn first_variant(app: &common::TestApp) -> (String, String) {
    let (_, product) = app.get_json("/v1/store/products/classic-tee").await;
    (product["id"].as_str().unwrap().to_string(), product["variants"][0]["id"].as_str().unwrap().to_string())
}

fn region<'a>(regions: &'a Value, currency: &str) -> &'a Value {
    regions["data"].as_array().unwrap().iter().find(|r| r["currency"] == currency).unwrap()
}

async fn location_id(app: &common::TestApp, code: &str) -> String {
    let (_, locations) = app.admin_json(Method::GET, "/v1/admin/stock-locations", None).await;
    locations["data"].as_array().unwrap().iter().find(|l| l["code"] == code).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

backend_tests! {
    #[demo = true]
    async fn demo_regions_and_stock_levels_through_the_admin_api(app) {
        let (status, regions) = app.get_json("/v1/store/regions").await;
        assert_eq!(status, 200);
        assert_eq!(regions["data"].as_array().unwrap().len(), 3);
        let (us, eu, uk) = (region(&regions, "USD"), region(&regions, "EUR"), region(&regions, "GBP"));
        assert_eq!((us["tax_inclusive"].as_bool(), eu["tax_inclusive"].as_bool(), uk["tax_inclusive"].as_bool()), (Some(false), Some(true), Some(true)));
        assert_eq!(us["countries"], json!(["US"]));
        assert!(eu["countries"].as_array().unwrap().contains(&json!("DE")));

        let (_, variant) = first_variant(app).await;
        let path = format!("/v1/admin/variants/{variant}/inventory");
        let (status, set) = app.admin_json(Method::PUT, &path, Some(json!({"on_hand": 7}))).await;
        assert_eq!(status, 200, "{set}");
        let main = set["levels"].as_array().unwrap().iter().find(|l| l["location_code"] == "main").unwrap();
        assert_eq!((main["on_hand"].as_i64(), main["available"].as_i64()), (Some(7), Some(7)));
        let eu_location = location_id(app, "eu").await;
        let (_, set) = app.admin_json(Method::PUT, &path, Some(json!({"on_hand": 2, "location_id": eu_location, "reason": "recount"}))).await;
        assert_eq!(set["available"], 9);
        let (_, movements) = app.admin_json(Method::GET, &format!("{path}/movements"), None).await;
        assert_eq!(movements["data"][0]["reason"], "recount");

        assert_eq!(app.admin_json(Method::PUT, &path, Some(json!({"on_hand": -1}))).await.0, 422);
        assert_eq!(app.admin_json(Method::PUT, &path, Some(json!({"on_hand": 1, "location_id": "sloc_00000000000000000000000000"}))).await.0, 422);
        let unknown = format!("/v1/admin/variants/{}/inventory", VariantId::new());
        assert_eq!(app.admin_json(Method::PUT, &unknown, Some(json!({"on_hand": 1}))).await.0, 404);
        // Store answers never show quantities.
        let (_, product) = app.get_json("/v1/store/products/classic-tee").await;
        assert!(!product.to_string().contains("on_hand"));

        // A country already in a region cannot join another.
        let (status, problem) = app.admin_json(Method::POST, "/v1/admin/regions", Some(json!({"name": "North America", "currency": "USD", "countries": ["US", "CA"]}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("country_taken")));
        let (status, canada) = app.admin_json(Method::POST, "/v1/admin/regions", Some(json!({"name": "Canada", "currency": "CAD", "countries": ["ca"]}))).await;
        assert_eq!((status, canada["countries"][0].as_str()), (201, Some("CA")));
        assert_eq!(app.admin_json(Method::POST, "/v1/admin/regions", Some(json!({"name": "Nowhere", "currency": "XYZ", "countries": []}))).await.0, 422);
    }

    #[demo = true]
    async fn in_stock_follows_levels_flags_and_the_regions_locations(app) {
        let (_, variant) = first_variant(app).await;
        let path = format!("/v1/admin/variants/{variant}/inventory");
        let eu_location = location_id(app, "eu").await;
        let (_, regions) = app.get_json("/v1/store/regions").await;
        let (us, eu) = (region(&regions, "USD")["id"].as_str().unwrap().to_string(), region(&regions, "EUR")["id"].as_str().unwrap().to_string());
        let variant_ref: &'static str = Box::leak(variant.clone().into_boxed_str());
        let in_stock = |region: Option<String>| async move {
            let url = match region { Some(r) => format!("/v1/store/products/classic-tee?region_id={r}"), None => "/v1/store/products/classic-tee".into() };
            let (status, product) = app.get_json(&url).await;
            assert_eq!(status, 200, "{product}");
            product["variants"].as_array().unwrap().iter().find(|v| v["id"] == variant_ref).unwrap()["in_stock"].as_bool().unwrap()
        };

        // Stock only in the EU warehouse: the EU region can buy it, the US region (main only) cannot.
        app.admin_json(Method::PUT, &path, Some(json!({"on_hand": 0}))).await;
        app.admin_json(Method::PUT, &path, Some(json!({"on_hand": 3, "location_id": eu_location}))).await;
        assert!(in_stock(Some(eu.clone())).await);
        assert!(!in_stock(Some(us.clone())).await);
        assert!(in_stock(None).await);
        app.admin_json(Method::PUT, &path, Some(json!({"on_hand": 0, "location_id": eu_location}))).await;
        assert!(!in_stock(None).await);
        // Lists carry the flag too, and an unknown region is refused.
        let (_, list) = app.get_json(&format!("/v1/store/products?limit=50&region_id={us}")).await;
        assert!(list["data"][0]["variants"][0]["in_stock"].is_boolean());
        let (status, problem) = app.get_json(&format!("/v1/store/products?region_id={}", keel_domain::RegionId::new())).await;
        assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("region_id")));

        // Backorders, or no tracking at all, keep it buyable at zero.
        let (_, item) = app.admin_json(Method::PATCH, &path, Some(json!({"allow_backorder": true}))).await;
        assert_eq!(item["allow_backorder"], true);
        assert!(in_stock(Some(us.clone())).await);
        app.admin_json(Method::PATCH, &path, Some(json!({"allow_backorder": false, "manage_inventory": false}))).await;
        assert!(in_stock(Some(us.clone())).await);

        // Falling to the low-stock threshold records an event.
        app.admin_json(Method::PATCH, &path, Some(json!({"manage_inventory": true, "low_stock_threshold": 5}))).await;
        app.admin_json(Method::PUT, &path, Some(json!({"on_hand": 4}))).await;
        let mut conn = app.services.db.read().await.unwrap();
        let events = keel_store::outbox::for_aggregate(&mut conn.conn(), "variant", &variant).await.unwrap();
        assert!(events.iter().any(|e| e.event_type == "inventory.low_stock"), "{events:?}");
    }

    #[demo = true]
    async fn concurrent_reservations_never_over_reserve(app) {
        let (_, variant) = first_variant(app).await;
        let path = format!("/v1/admin/variants/{variant}/inventory");
        let eu_location = location_id(app, "eu").await;
        app.admin_json(Method::PUT, &path, Some(json!({"on_hand": 0, "location_id": eu_location}))).await;
        app.admin_json(Method::PUT, &path, Some(json!({"on_hand": 10}))).await;
        let variant_id = VariantId::parse(&variant).unwrap();

        // 40 carts race for 10 units, one each, each in its own transaction.
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let db = app.services.db.clone();
                tokio::spawn(async move {
                    let owner = format!("cart_{i}");
                    let mut tx = db.begin().await.unwrap();
                    let result = InventoryService::reserve(&mut tx.conn(), Owner::Cart(&owner), variant_id, 1, None, None).await;
                    if result.is_ok() {
                        tx.commit().await.unwrap();
                    }
                    result
                })
            })
            .collect();
        let mut won = Vec::new();
        let mut refused = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(Some(reservation)) => won.push(reservation),
                Err(ServiceError::Conflict { code: "insufficient_stock", .. }) => refused += 1,
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        assert_eq!((won.len(), refused), (10, 30));
        let (_, stock) = app.admin_json(Method::GET, &path, None).await;
        assert_eq!(stock["available"], 0);
        let main = stock["levels"].as_array().unwrap().iter().find(|l| l["location_code"] == "main").unwrap().clone();
        assert_eq!((main["on_hand"].as_i64(), main["reserved"].as_i64()), (Some(10), Some(10)));
        // On hand cannot drop below what is reserved.
        let (status, problem) = app.admin_json(Method::PUT, &path, Some(json!({"on_hand": 9}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("below_reserved")));

        // Releasing gives stock back, once.
        let mut tx = app.services.db.begin().await.unwrap();
        for r in &won {
            assert!(InventoryService::release(&mut tx.conn(), r.id, "release").await.unwrap());
            assert!(!InventoryService::release(&mut tx.conn(), r.id, "release").await.unwrap());
        }
        tx.commit().await.unwrap();
        let (_, stock) = app.admin_json(Method::GET, &path, None).await;
        assert_eq!(stock["available"], 10);
        let (_, movements) = app.admin_json(Method::GET, &format!("{path}/movements"), None).await;
        let reasons: Vec<&str> = movements["data"].as_array().unwrap().iter().map(|m| m["reason"].as_str().unwrap()).collect();
        assert_eq!(reasons.iter().filter(|r| **r == "reserve").count(), 10);
        assert_eq!(reasons.iter().filter(|r| **r == "release").count(), 10);

        // Expired reservations are released by the maintenance job's service call.
        let past = keel_services::now() - chrono::Duration::minutes(1);
        let mut tx = app.services.db.begin().await.unwrap();
        InventoryService::reserve(&mut tx.conn(), Owner::Cart("stale"), variant_id, 4, None, Some(past)).await.unwrap().unwrap();
        tx.commit().await.unwrap();
        assert_eq!(app.admin_json(Method::GET, &path, None).await.1["available"], 6);
        assert_eq!(app.services.inventory.expire_reservations().await.unwrap(), 1);
        assert_eq!(app.admin_json(Method::GET, &path, None).await.1["available"], 10);
    }
}
