//! Carts, black-box on SQLite and PostgreSQL: totals in each demo region against hand-computed
//! amounts, merged lines, stock limits (409 `insufficient_stock`), and who may reach a cart.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{TestApp, json_of};
use reqwest::Method;
use serde_json::{Value, json};

/// A published product with one variant priced USD 20.00, EUR 24.00, GBP 19.99 and 5 in stock.
async fn cart_tee(app: &TestApp, sku: &str, prices: Value) -> String {
    let (status, product) = app
        .admin_json(
            Method::POST,
            "/v1/admin/products",
            Some(json!({"title": format!("Cart Tee {sku}"), "status": "published", "variants": [{"sku": sku, "prices": prices}]})),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let variant = product["variants"][0]["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .admin_json(Method::PUT, &format!("/v1/admin/variants/{variant}/inventory"), Some(json!({"on_hand": 5})))
        .await;
    assert_eq!(status, 200);
    variant
}

async fn send(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    json_of(req.send().await.unwrap()).await
}

fn amount(v: &Value) -> i64 {
    v["amount"].as_i64().unwrap()
}

async fn region_id(app: &TestApp, currency: &str) -> String {
    let (_, regions) = app.get_json("/v1/store/regions").await;
    regions["data"].as_array().unwrap().iter().find(|r| r["currency"] == currency).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn customer(app: &TestApp, email: &str) -> String {
    let body = json!({"email": email, "password": "correct horse battery"});
    assert_eq!(send(app, Method::POST, "/v1/store/customers", None, Some(body.clone())).await.0, 201);
    let (_, pair) = send(app, Method::POST, "/v1/store/auth/token", None, Some(body)).await;
    pair["access_token"].as_str().unwrap().to_string()
}

backend_tests! {
    #[demo = true]
    async fn totals_match_hand_computed_amounts_in_each_region(app) {
        let tee = cart_tee(app, "CART-TEE", json!([{"amount": 2000, "currency": "USD"}, {"amount": 2400, "currency": "EUR"}, {"amount": 1999, "currency": "GBP"}])).await;
        let cap = cart_tee(app, "CART-CAP", json!([{"amount": 900, "currency": "USD"}, {"amount": 1250, "currency": "EUR"}, {"amount": 1000, "currency": "GBP"}])).await;
        // (currency, [tee line total, cap line total], tax total, cart total)
        //   US: net prices, no default tax:       2 × 2000 + 900           = 4900, tax 0
        //   EU: gross prices, 20 % inside:        4800 + 1250 = 6050; tax 4800/6 = 800, 1250/6 = 208.33 → 208
        //   UK: gross prices, 20 % inside:        3998 + 1000 = 4998; tax 3998/6 = 666.33 → 666, 1000/6 = 166.67 → 167
        for (currency, tee_total, cap_total, tax, total) in [("USD", 4000, 900, 0, 4900), ("EUR", 4800, 1250, 1008, 6050), ("GBP", 3998, 1000, 833, 4998)] {
            let region = region_id(app, currency).await;
            let (status, cart) = send(app, Method::POST, "/v1/store/carts", None, Some(json!({"region_id": region}))).await;
            assert_eq!(status, 201, "{cart}");
            assert_eq!(cart["currency"], currency);
            let id = cart["id"].as_str().unwrap().to_string();
            assert!(id.starts_with("cart_"));
            let lines = format!("/v1/store/carts/{id}/line-items");
            send(app, Method::POST, &lines, None, Some(json!({"variant_id": tee, "quantity": 1}))).await;
            send(app, Method::POST, &lines, None, Some(json!({"variant_id": tee, "quantity": 1}))).await;
            let (status, cart) = send(app, Method::POST, &lines, None, Some(json!({"variant_id": cap, "quantity": 1}))).await;
            assert_eq!(status, 200, "{cart}");
            let items = cart["lines"].as_array().unwrap();
            assert_eq!(items.len(), 2, "adding the same variant twice merges lines");
            assert_eq!(items[0]["quantity"], 2);
            assert_eq!((amount(&items[0]["total"]), amount(&items[1]["total"])), (tee_total, cap_total), "{currency}");
            assert_eq!(amount(&cart["tax_total"]), tax, "{currency}");
            assert_eq!(amount(&cart["total"]), total, "{currency}");
            assert_eq!(amount(&cart["discount_total"]) + amount(&cart["shipping_total"]), 0);
            let line_sum: i64 = items.iter().map(|l| amount(&l["total"])).sum();
            assert_eq!(line_sum, amount(&cart["total"]));
            assert_eq!(cart["total"]["currency"], currency);
            // The cart reads back the same.
            let (_, again) = app.get_json(&format!("/v1/store/carts/{id}")).await;
            assert_eq!(again["total"], cart["total"]);
        }
    }

    #[demo = true]
    async fn a_code_and_shipping_give_hand_computed_totals_in_each_region(app) {
        let tee = cart_tee(app, "CODE-TEE", json!([{"amount": 2000, "currency": "USD"}, {"amount": 2400, "currency": "EUR"}, {"amount": 1999, "currency": "GBP"}])).await;
        let cap = cart_tee(app, "CODE-CAP", json!([{"amount": 900, "currency": "USD"}, {"amount": 1250, "currency": "EUR"}, {"amount": 1000, "currency": "GBP"}])).await;
        // WELCOME10 takes 10 % off the items, split over the lines in proportion (largest
        // remainder); Express shipping is taxed like the lines.
        //   US: 4900 − 490 (400 + 90) = 4410, Express 1499, no tax             → 5909
        //   EU: 6050 − 605 (480 + 125) = 5445; tax 4320/6 = 720, 1125/6 = 187.5 → 188;
        //       Express 1290 with 215 tax inside                                 → 6735, tax 1123
        //   UK: 4998 − 500 (10 % = 499.8 → 500; 399.96 → 400, 100.04 → 100) = 4498;
        //       tax 3598/6 = 599.67 → 600, 900/6 = 150; Express 999, 166.5 → 167 → 5497, tax 917
        let cases = [
            ("USD", 490, [3600, 810], 1499, 0, 5909),
            ("EUR", 605, [4320, 1125], 1290, 1123, 6735),
            ("GBP", 500, [3598, 900], 999, 917, 5497),
        ];
        for (currency, discount, line_totals, express, tax, total) in cases {
            let region = region_id(app, currency).await;
            let (_, cart) = send(app, Method::POST, "/v1/store/carts", None, Some(json!({"region_id": region}))).await;
            let id = cart["id"].as_str().unwrap().to_string();
            let lines = format!("/v1/store/carts/{id}/line-items");
            send(app, Method::POST, &lines, None, Some(json!({"variant_id": tee, "quantity": 2}))).await;
            send(app, Method::POST, &lines, None, Some(json!({"variant_id": cap, "quantity": 1}))).await;
            let codes = format!("/v1/store/carts/{id}/promotions");
            let (status, cart) = send(app, Method::POST, &codes, None, Some(json!({"code": " welcome10 "}))).await;
            assert_eq!(status, 200, "{cart}");
            assert_eq!(amount(&cart["discount_total"]), discount, "{currency}");
            assert_eq!((cart["promotions"][0]["code"].as_str(), cart["promotions"][0]["applied"].as_bool()), (Some("WELCOME10"), Some(true)));
            assert_eq!(amount(&cart["promotions"][0]["discount"]), discount);
            let (_, options) = app.get_json(&format!("/v1/store/carts/{id}/shipping-options")).await;
            let option = options["data"].as_array().unwrap().iter().find(|o| o["name"] == "Express").unwrap()["id"].clone();
            let (status, cart) = send(app, Method::POST, &format!("/v1/store/carts/{id}/shipping-method"), None, Some(json!({"option_id": option}))).await;
            assert_eq!(status, 200, "{cart}");
            let items = cart["lines"].as_array().unwrap();
            let discounts: i64 = items.iter().map(|l| amount(&l["discount_total"])).sum();
            assert_eq!(discounts, discount, "the line shares sum to the discount exactly");
            assert_eq!([amount(&items[0]["total"]), amount(&items[1]["total"])], line_totals, "{currency}");
            assert_eq!(amount(&cart["shipping_total"]), express, "{currency}");
            assert_eq!(amount(&cart["tax_total"]), tax, "{currency}");
            assert_eq!(amount(&cart["total"]), total, "{currency}");
            // A second code: free shipping takes the shipping off as well.
            let (status, cart) = send(app, Method::POST, &codes, None, Some(json!({"code": "FREESHIP"}))).await;
            assert_eq!(status, 200, "{cart}");
            // The shipping is still listed; its discount is in the discount total.
            assert_eq!((amount(&cart["shipping_total"]), amount(&cart["total"])), (express, total - express), "{currency}");
            assert_eq!(amount(&cart["discount_total"]), discount + express);
            let (status, again) = send(app, Method::POST, &codes, None, Some(json!({"code": "WELCOME10"}))).await;
            assert_eq!((status, again["total"].clone()), (200, cart["total"].clone()), "entering a held code again changes nothing");
            // Taking the first code off restores the items' prices.
            let (status, cart) = send(app, Method::DELETE, &format!("{codes}/welcome10"), None, None).await;
            assert_eq!(status, 200, "{cart}");
            assert_eq!(amount(&cart["discount_total"]), express);
            assert_eq!(send(app, Method::DELETE, &format!("{codes}/WELCOME10"), None, None).await.0, 404, "no longer held");
        }
    }

    #[demo = true]
    async fn codes_are_refused_with_a_reason(app) {
        let tee = cart_tee(app, "REFUSE-TEE", json!([{"amount": 2000, "currency": "USD"}])).await;
        let (_, cart) = send(app, Method::POST, "/v1/store/carts", None, Some(json!({"currency": "USD"}))).await;
        let id = cart["id"].as_str().unwrap().to_string();
        send(app, Method::POST, &format!("/v1/store/carts/{id}/line-items"), None, Some(json!({"variant_id": tee, "quantity": 1}))).await;
        let (status, group) = app.admin_json(Method::POST, "/v1/admin/customer-groups", Some(json!({"name": "VIP"}))).await;
        assert_eq!(status, 201, "{group}");
        let day = chrono::Duration::days(1);
        let now = chrono::Utc::now();
        let promotions = [
            ("EXPIRED", json!({"starts_at": now - day * 10, "ends_at": now - day}), "promotion_expired"),
            ("LATER", json!({"starts_at": now + day}), "promotion_not_started"),
            ("USEDUP", json!({"usage_limit": 0}), "promotion_exhausted"),
            ("VIPONLY", json!({"customer_group_ids": [group["id"]]}), "promotion_not_eligible"),
            ("EUROS", json!({"currency": "EUR", "benefit": {"type": "amount_off", "amount": 500}}), "promotion_not_eligible"),
            ("PAUSED", json!({"status": "draft"}), "promotion_not_found"),
        ];
        for (code, extra, _) in &promotions {
            let mut body = json!({"code": code, "name": code, "benefit": {"type": "percent_off", "basis_points": 1500}});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let (status, created) = app.admin_json(Method::POST, "/v1/admin/promotions", Some(body)).await;
            assert_eq!(status, 201, "{created}");
        }
        let codes = format!("/v1/store/carts/{id}/promotions");
        for (code, _, reason) in promotions.iter().chain([&("NOSUCHCODE", json!({}), "promotion_not_found")]) {
            let (status, problem) = send(app, Method::POST, &codes, None, Some(json!({"code": code}))).await;
            assert_eq!((status, problem["code"].as_str()), (422, Some(*reason)), "{code}: {problem}");
            assert_eq!(problem["errors"][0]["field"], "code");
        }
        let (_, cart) = app.get_json(&format!("/v1/store/carts/{id}")).await;
        assert_eq!((amount(&cart["discount_total"]), cart["promotions"].as_array().unwrap().len()), (0, 0));
        // A held code that ends later stays on the cart, no longer applied, saying why.
        let (_, held) = app.admin_json(Method::POST, "/v1/admin/promotions", Some(json!({"code": "SOON-OVER", "name": "Soon over", "benefit": {"type": "percent_off", "basis_points": 1000}}))).await;
        let (_, cart) = send(app, Method::POST, &codes, None, Some(json!({"code": "soon-over"}))).await;
        assert_eq!(amount(&cart["discount_total"]), 200);
        let (status, patched) = app.admin_json(Method::PATCH, &format!("/v1/admin/promotions/{}", held["id"].as_str().unwrap()), Some(json!({"ends_at": chrono::Utc::now()}))).await;
        assert_eq!(status, 200, "{patched}");
        let (_, cart) = app.get_json(&format!("/v1/store/carts/{id}")).await;
        let shown = &cart["promotions"][0];
        assert_eq!((shown["code"].as_str(), shown["applied"].as_bool(), shown["reason"].as_str()), (Some("SOON-OVER"), Some(false), Some("promotion_expired")));
        assert_eq!((amount(&cart["discount_total"]), amount(&cart["total"])), (0, 2000));
    }

    #[demo = true]
    async fn shipping_options_are_priced_for_the_cart_and_taxed_like_lines(app) {
        let tee = cart_tee(app, "SHIP-TEE", json!([{"amount": 2000, "currency": "USD"}, {"amount": 2400, "currency": "EUR"}])).await;
        // US: 2 × 20.00 = 40.00, under the 50.00 free-shipping threshold: Standard costs 5.99.
        let (_, cart) = send(app, Method::POST, "/v1/store/carts", None, Some(json!({"currency": "USD"}))).await;
        let id = cart["id"].as_str().unwrap().to_string();
        send(app, Method::POST, &format!("/v1/store/carts/{id}/line-items"), None, Some(json!({"variant_id": tee, "quantity": 2}))).await;
        let (status, options) = app.get_json(&format!("/v1/store/carts/{id}/shipping-options")).await;
        assert_eq!(status, 200);
        let option = |name: &str| options["data"].as_array().unwrap().iter().find(|o| o["name"] == name).unwrap().clone();
        assert_eq!(amount(&option("Standard")["price"]), 599);
        assert_eq!(amount(&option("Express")["price"]), 1499);
        let (status, cart) = send(app, Method::POST, &format!("/v1/store/carts/{id}/shipping-method"), None, Some(json!({"option_id": option("Standard")["id"]}))).await;
        assert_eq!(status, 200, "{cart}");
        assert_eq!((amount(&cart["shipping_total"]), amount(&cart["total"])), (599, 4599));
        // A third tee passes the threshold: Standard becomes free.
        let (_, cart) = send(app, Method::POST, &format!("/v1/store/carts/{id}/line-items"), None, Some(json!({"variant_id": tee, "quantity": 1}))).await;
        assert_eq!((amount(&cart["shipping_total"]), amount(&cart["total"])), (0, 6000));

        // EU: 2 × 24.00 = 48.00 gross; Express 12.90 includes 20 % VAT (2.15): tax 8.00 + 2.15.
        let (_, eu) = send(app, Method::POST, "/v1/store/carts", None, Some(json!({"currency": "EUR"}))).await;
        let eu_id = eu["id"].as_str().unwrap().to_string();
        send(app, Method::POST, &format!("/v1/store/carts/{eu_id}/line-items"), None, Some(json!({"variant_id": tee, "quantity": 2}))).await;
        let (_, eu_options) = app.get_json(&format!("/v1/store/carts/{eu_id}/shipping-options")).await;
        let express = eu_options["data"].as_array().unwrap().iter().find(|o| o["name"] == "Express").unwrap()["id"].clone();
        let (_, eu) = send(app, Method::POST, &format!("/v1/store/carts/{eu_id}/shipping-method"), None, Some(json!({"option_id": express}))).await;
        assert_eq!((amount(&eu["shipping_total"]), amount(&eu["tax_total"]), amount(&eu["total"])), (1290, 800 + 215, 4800 + 1290));
        // Another region's option is refused.
        let (status, problem) = send(app, Method::POST, &format!("/v1/store/carts/{id}/shipping-method"), None, Some(json!({"option_id": express}))).await;
        assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("option_id")));

        // Weight tiers from the admin API: too heavy a cart does not see the option.
        let (_, regions) = app.get_json("/v1/store/regions").await;
        let us = regions["data"].as_array().unwrap().iter().find(|r| r["currency"] == "USD").unwrap()["id"].as_str().unwrap().to_string();
        let (status, tiered) = app.admin_json(Method::POST, &format!("/v1/admin/regions/{us}/shipping-options"),
            Some(json!({"name": "Freight", "tiers": [{"max_grams": 1000, "amount": 700}]}))).await;
        assert_eq!(status, 201, "{tiered}");
        let (_, options) = app.get_json(&format!("/v1/store/carts/{id}/shipping-options")).await;
        assert!(options["data"].as_array().unwrap().iter().any(|o| o["name"] == "Freight"), "weightless items fit the first tier");
        let (status, heavy) = app.admin_json(Method::POST, "/v1/admin/products", Some(json!({"title": "Anvil", "status": "published",
            "variants": [{"sku": "ANVIL", "weight_grams": 5000, "prices": [{"amount": 100, "currency": "USD"}]}]}))).await;
        assert_eq!(status, 201, "{heavy}");
        let anvil = heavy["variants"][0]["id"].as_str().unwrap().to_string();
        app.admin_json(Method::PATCH, &format!("/v1/admin/variants/{anvil}/inventory"), Some(json!({"manage_inventory": false}))).await;
        send(app, Method::POST, &format!("/v1/store/carts/{id}/line-items"), None, Some(json!({"variant_id": anvil, "quantity": 1}))).await;
        let (_, options) = app.get_json(&format!("/v1/store/carts/{id}/shipping-options")).await;
        assert!(!options["data"].as_array().unwrap().iter().any(|o| o["name"] == "Freight"), "5 kg is beyond the last tier");
    }

    #[demo = true]
    async fn tax_follows_the_address_country_province_and_product_class(app) {
        // A tax-exclusive region selling to Canada: 5 % federal, 13 % in Ontario, books 5 % there.
        let (status, region) = app.admin_json(Method::POST, "/v1/admin/regions",
            Some(json!({"name": "Canada", "currency": "CAD", "countries": ["CA"], "tax_rate": 0}))).await;
        assert_eq!(status, 201, "{region}");
        let region = region["id"].as_str().unwrap().to_string();
        let rates = format!("/v1/admin/regions/{region}/tax-rates");
        for rate in [json!({"country_code": "ca", "rate": 500, "name": "GST"}),
                     json!({"country_code": "CA", "province": "on", "rate": 1300, "name": "HST"}),
                     json!({"country_code": "CA", "province": "ON", "tax_class": "books", "rate": 500, "name": "HST books rebate"})] {
            assert_eq!(app.admin_json(Method::POST, &rates, Some(rate)).await.0, 201);
        }
        assert_eq!(app.admin_json(Method::POST, &rates, Some(json!({"country_code": "Canada", "rate": 20000}))).await.0, 422);
        let (_, product) = app.admin_json(Method::POST, "/v1/admin/products", Some(json!({"title": "Atlas", "status": "published",
            "variants": [{"sku": "ATLAS", "prices": [{"amount": 4000, "currency": "CAD"}]}]}))).await;
        let book = product["variants"][0]["id"].as_str().unwrap().to_string();
        app.admin_json(Method::PATCH, &format!("/v1/admin/variants/{book}/inventory"), Some(json!({"manage_inventory": false}))).await;
        let shirt = cart_tee(app, "CA-TEE", json!([{"amount": 2000, "currency": "CAD"}])).await;

        let (_, cart) = send(app, Method::POST, "/v1/store/carts", None, Some(json!({"region_id": region}))).await;
        let id = cart["id"].as_str().unwrap().to_string();
        send(app, Method::POST, &format!("/v1/store/carts/{id}/line-items"), None, Some(json!({"variant_id": book, "quantity": 1}))).await;
        let (_, cart) = send(app, Method::POST, &format!("/v1/store/carts/{id}/line-items"), None, Some(json!({"variant_id": shirt, "quantity": 1}))).await;
        assert_eq!(amount(&cart["tax_total"]), 0, "no address yet: the region's default rate");
        let address = |province: &str| json!({"shipping_address": {"line1": "1 King St", "city": "Toronto", "province": province, "country_code": "CA"}});
        let (_, cart) = send(app, Method::PATCH, &format!("/v1/store/carts/{id}"), None, Some(address("QC"))).await;
        // Quebec: the country's 5 % on both: 200 + 100.
        assert_eq!((amount(&cart["tax_total"]), amount(&cart["total"])), (300, 6300));
        let (_, cart) = send(app, Method::PATCH, &format!("/v1/store/carts/{id}"), None, Some(address("ON"))).await;
        // Ontario: 13 % on both until the book has its class: 520 + 260.
        assert_eq!(amount(&cart["tax_total"]), 780);
        let (status, _) = app.admin_json(Method::PUT, &format!("/v1/admin/products/{}/tax-class", product["id"].as_str().unwrap()), Some(json!({"tax_class": "books"}))).await;
        assert_eq!(status, 200);
        let (_, cart) = app.get_json(&format!("/v1/store/carts/{id}")).await;
        // Ontario with the book's class: 5 % on the book (200), 13 % on the shirt (260).
        assert_eq!((amount(&cart["tax_total"]), amount(&cart["total"])), (460, 6460));
    }

    #[demo = true]
    async fn stock_limits_and_line_changes(app) {
        let tee = cart_tee(app, "CART-TEE", json!([{"amount": 2000, "currency": "USD"}])).await;
        let (_, cart) = send(app, Method::POST, "/v1/store/carts", None, Some(json!({"currency": "usd"}))).await;
        let id = cart["id"].as_str().unwrap().to_string();
        let lines = format!("/v1/store/carts/{id}/line-items");
        let (status, cart) = send(app, Method::POST, &lines, None, Some(json!({"variant_id": tee, "quantity": 4}))).await;
        assert_eq!(status, 200);
        let (status, problem) = send(app, Method::POST, &lines, None, Some(json!({"variant_id": tee, "quantity": 2}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("insufficient_stock")), "4 + 2 > 5");
        let line = format!("{lines}/{}", cart["lines"][0]["id"].as_str().unwrap());
        assert_eq!(send(app, Method::PATCH, &line, None, Some(json!({"quantity": 5}))).await.0, 200);
        assert_eq!(send(app, Method::PATCH, &line, None, Some(json!({"quantity": 6}))).await.0, 409);
        assert_eq!(send(app, Method::PATCH, &line, None, Some(json!({"quantity": 0}))).await.0, 422);
        // Backorders lift the limit.
        app.admin_json(Method::PATCH, &format!("/v1/admin/variants/{tee}/inventory"), Some(json!({"allow_backorder": true}))).await;
        assert_eq!(send(app, Method::PATCH, &line, None, Some(json!({"quantity": 50}))).await.0, 200);

        // An EU cart cannot take a variant priced in dollars only; unknown variants are refused.
        let (_, eu) = send(app, Method::POST, "/v1/store/carts", None, Some(json!({"currency": "EUR"}))).await;
        let eu_lines = format!("/v1/store/carts/{}/line-items", eu["id"].as_str().unwrap());
        let (status, problem) = send(app, Method::POST, &eu_lines, None, Some(json!({"variant_id": tee, "quantity": 1}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("no_price")));
        let unknown = keel_domain::VariantId::new().to_string();
        assert_eq!(send(app, Method::POST, &eu_lines, None, Some(json!({"variant_id": unknown, "quantity": 1}))).await.0, 422);

        let (status, cart) = send(app, Method::DELETE, &line, None, None).await;
        assert_eq!((status, cart["lines"].as_array().unwrap().len(), amount(&cart["total"])), (200, 0, 0));
        assert_eq!(send(app, Method::DELETE, &line, None, None).await.0, 404);

        // Email and addresses; a bad email is a 422.
        let path = format!("/v1/store/carts/{id}");
        assert_eq!(send(app, Method::PATCH, &path, None, Some(json!({"email": "not an email"}))).await.0, 422);
        let (status, cart) = send(app, Method::PATCH, &path, None, Some(json!({"email": "Ada@Example.com",
            "shipping_address": {"line1": "1 Main St", "city": "Berlin", "country_code": "de"}}))).await;
        assert_eq!((status, cart["email"].as_str(), cart["shipping_address"]["country_code"].as_str()), (200, Some("ada@example.com"), Some("DE")));
        assert_eq!(send(app, Method::PATCH, &path, None, Some(json!({"shipping_address": {"city": "Berlin"}}))).await.0, 422);
        let response = app.get(&path).await;
        assert_eq!(response.headers()["cache-control"], "private, no-store");
    }

    #[demo = true]
    async fn a_customers_cart_is_theirs_alone(app) {
        let a = customer(app, "a@example.com").await;
        let b = customer(app, "b@example.com").await;
        let (status, cart) = send(app, Method::POST, "/v1/store/carts", Some(&a), Some(json!({}))).await;
        assert_eq!(status, 201);
        assert!(cart["customer_id"].is_string());
        let path = format!("/v1/store/carts/{}", cart["id"].as_str().unwrap());
        assert_eq!(send(app, Method::GET, &path, Some(&a), None).await.0, 200);
        let (status, problem) = send(app, Method::GET, &path, Some(&b), None).await;
        assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
        assert_eq!(send(app, Method::GET, &path, None, None).await.0, 404, "an owned cart needs its owner's token");
        assert_eq!(send(app, Method::PATCH, &path, Some(&b), Some(json!({"email": "b@example.com"}))).await.0, 404);
        assert_eq!(send(app, Method::GET, &path, Some("keel_at_forged"), None).await.0, 401);
        // An anonymous cart is reachable by its id; a made-up id is not found.
        let (_, anonymous) = send(app, Method::POST, "/v1/store/carts", None, Some(json!({}))).await;
        assert_eq!(send(app, Method::GET, &format!("/v1/store/carts/{}", anonymous["id"].as_str().unwrap()), Some(&b), None).await.0, 200);
        assert_eq!(send(app, Method::GET, &format!("/v1/store/carts/{}", keel_domain::CartId::unguessable()), None, None).await.0, 404);
    }

    #[demo = true]
    async fn an_anonymous_cart_merges_into_the_customers_on_sign_in(app) {
        let tee = cart_tee(app, "CLAIM-TEE", json!([{"amount": 2000, "currency": "USD"}])).await;
        let cap = cart_tee(app, "CLAIM-CAP", json!([{"amount": 900, "currency": "USD"}])).await;
        let a = customer(app, "a@example.com").await;
        // The customer's cart from another device: one tee.
        let (_, owned) = send(app, Method::POST, "/v1/store/carts", Some(&a), Some(json!({"currency": "USD"}))).await;
        let owned_id = owned["id"].as_str().unwrap().to_string();
        send(app, Method::POST, &format!("/v1/store/carts/{owned_id}/line-items"), Some(&a), Some(json!({"variant_id": tee, "quantity": 1}))).await;
        // Shopping anonymously: a tee and a cap.
        let (_, anonymous) = send(app, Method::POST, "/v1/store/carts", None, Some(json!({"currency": "USD"}))).await;
        let anon_id = anonymous["id"].as_str().unwrap().to_string();
        let lines = format!("/v1/store/carts/{anon_id}/line-items");
        send(app, Method::POST, &lines, None, Some(json!({"variant_id": tee, "quantity": 1}))).await;
        send(app, Method::POST, &lines, None, Some(json!({"variant_id": cap, "quantity": 2}))).await;

        let claim = format!("/v1/store/carts/{anon_id}/claim");
        assert_eq!(send(app, Method::POST, &claim, None, None).await.0, 401);
        let (status, merged) = send(app, Method::POST, &claim, Some(&a), None).await;
        assert_eq!(status, 200, "{merged}");
        assert_eq!(merged["id"], owned_id.as_str(), "merged into the customer's cart");
        let quantities: Vec<(String, i64)> = merged["lines"].as_array().unwrap().iter()
            .map(|l| (l["variant_id"].as_str().unwrap().to_string(), l["quantity"].as_i64().unwrap())).collect();
        assert_eq!(quantities, vec![(tee.clone(), 2), (cap.clone(), 2)]);
        assert_eq!(amount(&merged["total"]), 2 * 2000 + 2 * 900);
        assert_eq!(send(app, Method::GET, &format!("/v1/store/carts/{anon_id}"), None, None).await.0, 404, "the anonymous cart is gone");

        // With no cart of their own, the anonymous cart becomes theirs; nobody else can claim it after.
        let b = customer(app, "b@example.com").await;
        let (_, fresh) = send(app, Method::POST, "/v1/store/carts", None, Some(json!({"currency": "USD"}))).await;
        let fresh_claim = format!("/v1/store/carts/{}/claim", fresh["id"].as_str().unwrap());
        let (status, taken) = send(app, Method::POST, &fresh_claim, Some(&b), None).await;
        assert_eq!((status, taken["id"].as_str()), (200, fresh["id"].as_str()));
        assert!(taken["customer_id"].is_string());
        assert_eq!(send(app, Method::POST, &fresh_claim, Some(&a), None).await.0, 404);
    }
}
