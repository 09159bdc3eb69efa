//! The admin API as an integration or a staff tool uses it, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use reqwest::Method;
use serde_json::{Value, json};

fn shirt(handle: &str, sku_prefix: &str) -> Value {
    json!({
        "title": "Linen Shirt",
        "handle": handle,
        "description": "Breathable linen.",
        "status": "published",
        "options": [{"name": "Size", "values": ["S", "M"]}],
        "variants": [
            {"sku": format!("{sku_prefix}-S"), "options": {"Size": "S"}, "prices": [{"amount": 4900, "currency": "USD"}, {"amount": 4500, "currency": "eur"}]},
            {"sku": format!("{sku_prefix}-M"), "options": {"Size": "M"}, "prices": [{"amount": 4900, "currency": "USD"}], "weight_grams": 250}
        ],
        "images": [{"url": "https://cdn.example.com/linen.jpg", "alt": "Linen shirt"}],
        "tags": ["Linen", "summer", "linen"],
        "metadata": {"origin": "PT"}
    })
}

backend_tests! {
    #[demo = false]
    async fn admin_routes_need_a_key_with_the_permission(app) {
        let response = app.http.post(app.url("/v1/admin/products")).json(&shirt("a", "A")).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let (_, problem) = common::json_of(response).await;
        assert_eq!(problem["code"], "unauthenticated");

        let wrong = app.http.get(app.url("/v1/admin/products")).bearer_auth("keel_sk_not-a-real-key").send().await.unwrap();
        assert_eq!(wrong.status(), 401);

        let reader = app.create_key(&["products:read"]).await;
        let listed = app.http.get(app.url("/v1/admin/products")).bearer_auth(&reader).send().await.unwrap();
        assert_eq!(listed.status(), 200);
        assert_eq!(listed.headers()["cache-control"], "private, no-store");
        let refused = app.http.post(app.url("/v1/admin/products")).bearer_auth(&reader).json(&shirt("a", "A")).send().await.unwrap();
        assert_eq!(refused.status(), 403);
        let (_, problem) = common::json_of(refused).await;
        assert_eq!(problem["code"], "forbidden");
        assert!(problem["detail"].as_str().unwrap().contains("products:write"));
    }

    #[demo = false]
    async fn creates_a_product_with_variants_and_prices(app) {
        let (status, product) = app.admin_json(Method::POST, "/v1/admin/products", Some(shirt("linen-shirt", "LIN"))).await;
        assert_eq!(status, 201, "{product}");
        assert!(product["id"].as_str().unwrap().starts_with("prod_"));
        assert_eq!(product["handle"], "linen-shirt");
        assert_eq!(product["tags"], json!(["linen", "summer"]), "tags are lower-cased and de-duplicated");
        assert_eq!(product["metadata"], json!({"origin": "PT"}));
        let variants = product["variants"].as_array().unwrap();
        assert_eq!(variants.len(), 2);
        assert_eq!(variants[0]["title"], "S", "default title from the option values");
        assert_eq!(variants[0]["prices"], json!([{"amount": 4500, "currency": "EUR"}, {"amount": 4900, "currency": "USD"}]));
        assert_eq!(variants[1]["weight_grams"], 250);

        // Shoppers see it at once.
        let (status, seen) = app.get_json("/v1/store/products/linen-shirt").await;
        assert_eq!(status, 200);
        assert_eq!(seen["id"], product["id"]);

        // A handle is derived from the title when none is given.
        let mut derived = shirt("x", "DER");
        derived.as_object_mut().unwrap().remove("handle");
        derived["title"] = json!("Linen Shirt (Blue)");
        let (status, product) = app.admin_json(Method::POST, "/v1/admin/products", Some(derived)).await;
        assert_eq!(status, 201, "{product}");
        assert_eq!(product["handle"], "linen-shirt-blue");
    }

    #[demo = false]
    async fn duplicate_handles_and_skus_conflict(app) {
        let (status, _) = app.admin_json(Method::POST, "/v1/admin/products", Some(shirt("linen-shirt", "LIN"))).await;
        assert_eq!(status, 201);
        let (status, problem) = app.admin_json(Method::POST, "/v1/admin/products", Some(shirt("linen-shirt", "OTHER"))).await;
        assert_eq!(status, 409, "{problem}");
        assert_eq!(problem["code"], "handle_taken");
        assert_eq!(problem["errors"][0]["field"], "handle");
        let (status, problem) = app.admin_json(Method::POST, "/v1/admin/products", Some(shirt("other-shirt", "LIN"))).await;
        assert_eq!(status, 409, "{problem}");
        assert_eq!(problem["code"], "sku_taken");

        // Nothing of the refused product was written.
        let (_, list) = app.admin_json(Method::GET, "/v1/admin/products", None).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
    }

    #[demo = false]
    async fn invalid_fields_are_listed_one_by_one(app) {
        let body = json!({
            "title": "  ",
            "handle": "Not A Handle",
            "options": [{"name": "Size", "values": ["S", "S"]}],
            "variants": [
                {"sku": "has space", "options": {"Size": "XL"}, "prices": [{"amount": -1, "currency": "USD"}, {"amount": 1, "currency": "DOGE"}]},
                {"sku": "OK-1", "options": {"Size": "S"}, "prices": []},
                {"sku": "OK-1", "options": {"Size": "S"}}
            ],
            "images": [{"url": "javascript:alert(1)"}],
            "metadata": [1, 2]
        });
        let (status, problem) = app.admin_json(Method::POST, "/v1/admin/products", Some(body)).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["code"], "validation_failed");
        let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        for expected in [
            "title", "handle", "options[0].values[1]", "variants[0].sku", "variants[0].options",
            "variants[0].prices[0].amount", "variants[0].prices[1].currency", "variants[2].sku",
            "variants[2].options", "images[0].url", "metadata",
        ] {
            assert!(fields.contains(&expected), "missing {expected} in {fields:?}");
        }

        // Wrong JSON types are 422 with the path; broken JSON is 400; no JSON content type is 415.
        let (status, problem) = app.admin_json(Method::POST, "/v1/admin/products", Some(json!({"title": 5}))).await;
        assert_eq!(status, 422);
        assert_eq!(problem["errors"][0]["field"], "title");
        let (status, problem) = app.admin_json(Method::POST, "/v1/admin/products", Some(json!({"title": "x", "colour": "red"}))).await;
        assert_eq!(status, 422, "unknown fields are refused: {problem}");
        let broken = app.admin(Method::POST, "/v1/admin/products").header("content-type", "application/json").body("{\"title\":").send().await.unwrap();
        assert_eq!(broken.status(), 400);
        assert_eq!(broken.headers()["content-type"], "application/problem+json");
        let untyped = app.admin(Method::POST, "/v1/admin/products").body("{}").send().await.unwrap();
        assert_eq!(untyped.status(), 415);
        assert_eq!(untyped.headers()["content-type"], "application/problem+json");
    }

    #[demo = false]
    async fn updates_archives_and_manages_variants(app) {
        let (_, product) = app.admin_json(Method::POST, "/v1/admin/products", Some(shirt("linen-shirt", "LIN"))).await;
        let id = product["id"].as_str().unwrap().to_string();

        let (status, updated) = app.admin_json(Method::PATCH, &format!("/v1/admin/products/{id}"), Some(json!({"title": "Linen Shirt II", "tags": ["new"]}))).await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["title"], "Linen Shirt II");
        assert_eq!(updated["tags"], json!(["new"]));
        assert_eq!(updated["images"], product["images"], "absent lists are kept");
        assert_ne!(updated["updated_at"], product["updated_at"]);

        let (status, variant) = app.admin_json(Method::POST, &format!("/v1/admin/products/{id}/variants"), Some(json!({"sku": "LIN-L", "options": {"Size": "S"}}))).await;
        assert_eq!(status, 422, "same options as another variant: {variant}");
        let (status, problem) = app.admin_json(Method::POST, &format!("/v1/admin/products/{id}/variants"), Some(json!({"sku": "LIN-S", "options": {}}))).await;
        assert_eq!(status, 422, "{problem}");

        let (status, variant) = app.admin_json(Method::PATCH, &format!("/v1/admin/variants/{}", product["variants"][0]["id"].as_str().unwrap()), Some(json!({"sku": "LIN-SMALL", "prices": [{"amount": 3900, "currency": "GBP"}]}))).await;
        assert_eq!(status, 200, "{variant}");
        assert_eq!(variant["sku"], "LIN-SMALL");
        assert_eq!(variant["prices"], json!([{"amount": 3900, "currency": "GBP"}]), "prices replace the set");

        let vid = product["variants"][1]["id"].as_str().unwrap();
        let (status, variant) = app.admin_json(Method::PUT, &format!("/v1/admin/variants/{vid}/prices"), Some(json!([{"amount": 100, "currency": "JPY"}, {"amount": 5000, "currency": "USD"}]))).await;
        assert_eq!(status, 200, "{variant}");
        assert_eq!(variant["prices"].as_array().unwrap().len(), 2);
        let (status, _) = app.admin_json(Method::PUT, &format!("/v1/admin/variants/{vid}/prices"), Some(json!([{"amount": 1, "currency": "USD"}, {"amount": 2, "currency": "USD"}]))).await;
        assert_eq!(status, 422, "one price per currency");

        let (status, _) = app.admin_json(Method::DELETE, &format!("/v1/admin/variants/{vid}"), None).await;
        assert_eq!(status, 204);
        let (status, _) = app.admin_json(Method::GET, &format!("/v1/admin/variants/{vid}"), None).await;
        assert_eq!(status, 404);
        let (status, _) = app.admin_json(Method::DELETE, &format!("/v1/admin/variants/{vid}"), None).await;
        assert_eq!(status, 404);

        let (status, archived) = app.admin_json(Method::POST, &format!("/v1/admin/products/{id}/archive"), None).await;
        assert_eq!(status, 200);
        assert_eq!(archived["status"], "archived");
        let (status, _) = app.get_json("/v1/store/products/linen-shirt").await;
        assert_eq!(status, 404, "archived products leave the store");
        let (status, still) = app.admin_json(Method::GET, "/v1/admin/products/linen-shirt", None).await;
        assert_eq!(status, 200);
        assert_eq!(still["status"], "archived");
        let (_, archived_only) = app.admin_json(Method::GET, "/v1/admin/products?status=archived", None).await;
        assert_eq!(archived_only["data"].as_array().unwrap().len(), 1);

        let (status, _) = app.admin_json(Method::PATCH, "/v1/admin/products/prod_01m882rvxcewhv1k4che3z9z31", Some(json!({"title": "x"}))).await;
        assert_eq!(status, 404);
        let (status, _) = app.admin_json(Method::PATCH, "/v1/admin/products/not-an-id", Some(json!({"title": "x"}))).await;
        assert_eq!(status, 404);
    }

    #[demo = false]
    async fn manages_the_category_tree_and_collections(app) {
        let (status, root) = app.admin_json(Method::POST, "/v1/admin/categories", Some(json!({"name": "Garden"}))).await;
        assert_eq!(status, 201, "{root}");
        assert_eq!(root["handle"], "garden");
        let root_id = root["id"].as_str().unwrap();
        let (status, child) = app.admin_json(Method::POST, "/v1/admin/categories", Some(json!({"name": "Tools", "parent_id": root_id}))).await;
        assert_eq!(status, 201);
        let child_id = child["id"].as_str().unwrap();
        let (status, problem) = app.admin_json(Method::POST, "/v1/admin/categories", Some(json!({"name": "Garden"}))).await;
        assert_eq!(status, 409, "{problem}");
        let (status, problem) = app.admin_json(Method::PATCH, &format!("/v1/admin/categories/{root_id}"), Some(json!({"parent_id": child_id}))).await;
        assert_eq!(status, 422, "a cycle: {problem}");
        assert_eq!(problem["errors"][0]["field"], "parent_id");
        let (status, problem) = app.admin_json(Method::DELETE, &format!("/v1/admin/categories/{root_id}"), None).await;
        assert_eq!(status, 409, "{problem}");
        assert_eq!(problem["code"], "category_has_children");

        let (status, collection) = app.admin_json(Method::POST, "/v1/admin/collections", Some(json!({"title": "Spring"}))).await;
        assert_eq!(status, 201);
        let collection_id = collection["id"].as_str().unwrap();

        let mut body = shirt("rake", "RAKE");
        body["category_ids"] = json!([child_id]);
        body["collection_ids"] = json!([collection_id]);
        let (status, product) = app.admin_json(Method::POST, "/v1/admin/products", Some(body)).await;
        assert_eq!(status, 201, "{product}");
        let (_, garden) = app.get_json("/v1/store/products?category=garden").await;
        assert_eq!(garden["data"].as_array().unwrap().len(), 1, "the parent category includes its children's products");
        let (_, spring) = app.get_json("/v1/store/products?collection=spring").await;
        assert_eq!(spring["data"].as_array().unwrap().len(), 1);

        let mut body = shirt("unknown-refs", "UNK");
        body["category_ids"] = json!(["pcat_01m882rvxcewhv1k4che3z9z31"]);
        let (status, problem) = app.admin_json(Method::POST, "/v1/admin/products", Some(body)).await;
        assert_eq!(status, 422);
        assert_eq!(problem["errors"][0]["field"], "category_ids[0]");

        let (status, renamed) = app.admin_json(Method::PATCH, &format!("/v1/admin/collections/{collection_id}"), Some(json!({"title": "Spring 2027"}))).await;
        assert_eq!(status, 200);
        assert_eq!(renamed["handle"], "spring");
        let (status, _) = app.admin_json(Method::DELETE, &format!("/v1/admin/collections/{collection_id}"), None).await;
        assert_eq!(status, 204);
        let (_, product) = app.get_json("/v1/store/products/rake").await;
        assert_eq!(product["collections"], json!([]), "products leave a deleted collection");
        let (status, _) = app.admin_json(Method::DELETE, &format!("/v1/admin/categories/{child_id}"), None).await;
        assert_eq!(status, 204);
        let (status, _) = app.admin_json(Method::DELETE, &format!("/v1/admin/categories/{root_id}"), None).await;
        assert_eq!(status, 204);
    }

    #[demo = false]
    async fn idempotency_keys_make_retries_safe(app) {
        let send = |key: &'static str, body: Value| {
            app.admin(Method::POST, "/v1/admin/products").header("idempotency-key", key).json(&body).send()
        };
        let first = send("create-linen-1", shirt("linen-shirt", "LIN")).await.unwrap();
        assert_eq!(first.status(), 201);
        assert!(!first.headers().contains_key("idempotent-replayed"));
        let (_, created) = common::json_of(first).await;

        let retry = send("create-linen-1", shirt("linen-shirt", "LIN")).await.unwrap();
        assert_eq!(retry.status(), 201, "the first answer, not a 409 for the taken handle");
        assert_eq!(retry.headers()["idempotent-replayed"], "true");
        let (_, replayed) = common::json_of(retry).await;
        assert_eq!(replayed, created);

        let reused = send("create-linen-1", shirt("other-shirt", "OTH")).await.unwrap();
        assert_eq!(reused.status(), 422);
        let (_, problem) = common::json_of(reused).await;
        assert_eq!(problem["code"], "idempotency_key_reused");

        // Keys belong to their caller: another key's identical request runs (and meets the taken handle).
        let other = app.create_key(&["products:write"]).await;
        let theirs = app.http.post(app.url("/v1/admin/products")).bearer_auth(&other).header("idempotency-key", "create-linen-1").json(&shirt("linen-shirt", "LIN")).send().await.unwrap();
        assert_eq!(theirs.status(), 409);

        // Racing duplicates: one effect, every answer is that effect or "still running".
        let mut racers = tokio::task::JoinSet::new();
        for _ in 0..8 {
            racers.spawn(async move {
                let r = app.admin(Method::POST, "/v1/admin/categories").header("idempotency-key", "race-1").json(&json!({"name": "Raced"})).send().await.unwrap();
                r.status().as_u16()
            });
        }
        let statuses = racers.join_all().await;
        assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
        assert!(statuses.contains(&201));
        let (_, categories) = app.admin_json(Method::GET, "/v1/admin/categories", None).await;
        assert_eq!(categories["data"].as_array().unwrap().len(), 1, "created once");

        let (_, list) = app.admin_json(Method::GET, "/v1/admin/products", None).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
    }
}
