//! Price lists, customer groups and promotions, black-box on SQLite and PostgreSQL: the cheapest
//! applicable price wins (sales with dates, group prices, quantity tiers); automatic promotions
//! by category and exclusivity; redemption limits hold under concurrent checkouts.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{TestApp, json_of};
use keel_domain::pricing::TaxRate;
use keel_domain::{CartId, PromotionId, RegionId};
use keel_services::providers::{
    BoxFuture, FulfillmentProvider, Providers, RateRequest, TaxProvider, TaxRates, TaxRequest,
};
use keel_services::{ServiceError, ServiceOptions, Services};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

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

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// A published product with one untracked variant priced `usd` cents.
async fn product(app: &TestApp, sku: &str, usd: i64, extra: Value) -> (String, String) {
    let mut body = json!({"title": format!("Item {sku}"), "status": "published",
        "variants": [{"sku": sku, "prices": [{"amount": usd, "currency": "USD"}]}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, product) = app.admin_json(Method::POST, "/v1/admin/products", Some(body)).await;
    assert_eq!(status, 201, "{product}");
    let variant = product["variants"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/admin/variants/{variant}/inventory");
    assert_eq!(app.admin_json(Method::PATCH, &path, Some(json!({"manage_inventory": false}))).await.0, 200);
    (id(&product), variant)
}

/// A USD cart (the customer's when `token` is given) holding `quantity` of `variant`.
async fn cart_with(app: &TestApp, token: Option<&str>, lines: &[(&str, u32)]) -> (String, Value) {
    let (status, cart) = send(app, Method::POST, "/v1/store/carts", token, Some(json!({"currency": "USD"}))).await;
    assert_eq!(status, 201, "{cart}");
    let cart_id = id(&cart);
    let mut cart = cart;
    for (variant, quantity) in lines {
        let path = format!("/v1/store/carts/{cart_id}/line-items");
        let (status, body) =
            send(app, Method::POST, &path, token, Some(json!({"variant_id": variant, "quantity": quantity}))).await;
        assert_eq!(status, 200, "{body}");
        cart = body;
    }
    (cart_id, cart)
}

async fn customer(app: &TestApp, email: &str) -> (String, String) {
    let body = json!({"email": email, "password": "correct horse battery"});
    let (status, created) = send(app, Method::POST, "/v1/store/customers", None, Some(body.clone())).await;
    assert_eq!(status, 201, "{created}");
    let (_, pair) = send(app, Method::POST, "/v1/store/auth/token", None, Some(body)).await;
    (id(&created), pair["access_token"].as_str().unwrap().to_string())
}

/// A tax service that charges 7 % on everything shipped to the US, and the table elsewhere.
struct SalesTaxService;

impl TaxProvider for SalesTaxService {
    fn id(&self) -> &str {
        "sales_tax_service"
    }

    fn rates<'a>(&'a self, request: &'a TaxRequest) -> BoxFuture<'a, keel_services::Result<TaxRates>> {
        Box::pin(async move {
            if request.country_code.as_deref() == Some("US") {
                Ok(TaxRates { lines: vec![TaxRate(700); request.lines.len()], shipping: TaxRate(700) })
            } else {
                Ok(keel_services::providers::RateTable::resolve(request))
            }
        })
    }
}

/// A carrier that charges per item, as its option's `data` says; no service to Alaska.
struct PerItem;

impl FulfillmentProvider for PerItem {
    fn id(&self) -> &str {
        "per_item"
    }

    fn calculate<'a>(&'a self, request: &'a RateRequest) -> BoxFuture<'a, keel_services::Result<Option<i64>>> {
        Box::pin(async move {
            let alaska = request.address.as_ref().is_some_and(|a| a["province"] == "AK");
            let each = request.data["per_item"].as_i64().unwrap_or(0);
            Ok((!alaska).then(|| each * i64::from(request.item_count)))
        })
    }
}

backend_tests! {
    #[demo = true]
    async fn tax_and_fulfillment_providers_plug_in(app) {
        let (_, tee) = product(app, "PROVIDED-TEE", 2000, json!({})).await;
        let (_, regions) = app.get_json("/v1/store/regions").await;
        let us = regions["data"].as_array().unwrap().iter().find(|r| r["currency"] == "USD").unwrap()["id"].as_str().unwrap().to_string();
        let option = json!({"name": "Courier", "provider": "per_item", "data": {"per_item": 250}});
        // This install has no `per_item` provider.
        let path = format!("/v1/admin/regions/{us}/shipping-options");
        let (status, problem) = app.admin_json(Method::POST, &path, Some(option.clone())).await;
        assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("provider")), "{problem}");
        // Another install over the same database, with both providers.
        let services = Services::with_options(app.services.db.clone(), ServiceOptions {
            providers: Providers { tax: Arc::new(SalesTaxService), fulfillment: vec![Arc::new(PerItem)], ..Providers::default() },
            ..ServiceOptions::default()
        });
        let region = RegionId::parse(&us).unwrap();
        let courier = services.regions.add_shipping_option(region, serde_json::from_value(option).unwrap()).await.unwrap();
        assert_eq!(courier.provider, "per_item");
        let cart = services.carts.create(serde_json::from_value(json!({"region_id": us})).unwrap(), None).await.unwrap();
        let id: CartId = cart.id;
        services.carts.add_line(id, None, serde_json::from_value(json!({"variant_id": tee, "quantity": 3})).unwrap()).await.unwrap();
        let address = |province: &str| serde_json::from_value(json!({"shipping_address": {"line1": "1 Main St", "city": "Springfield", "province": province, "country_code": "US"}})).unwrap();
        services.carts.update(id, None, address("IL")).await.unwrap();
        let options = services.carts.shipping_options(id, None).await.unwrap();
        let priced = options.iter().find(|o| o.name == "Courier").unwrap();
        assert_eq!(priced.price.amount, 750, "3 items × 2.50");
        let cart = services.carts.choose_shipping(id, None, serde_json::from_value(json!({"option_id": courier.id})).unwrap()).await.unwrap();
        // 3 × 20.00 = 60.00 + 7 % = 4.20; courier 7.50 + 7 % = 0.525 → 0.53.
        assert_eq!((cart.tax_total.amount, cart.shipping_total.amount, cart.total.amount), (420 + 53, 750, 6000 + 420 + 750 + 53));
        // The carrier does not serve Alaska: the option drops out of the cart.
        let cart = services.carts.update(id, None, address("AK")).await.unwrap();
        assert_eq!((cart.shipping_option_id, cart.shipping_total.amount), (None, 0));
        assert!(!services.carts.shipping_options(id, None).await.unwrap().iter().any(|o| o.name == "Courier"));
        // The default install cannot price the option, so never offers it.
        let (_, offered) = app.get_json(&format!("/v1/store/carts/{id}/shipping-options")).await;
        assert!(!offered["data"].as_array().unwrap().iter().any(|o| o["name"] == "Courier"), "{offered}");
    }

    #[demo = true]
    async fn the_cheapest_applicable_price_wins(app) {
        let (_, tee) = product(app, "LIST-TEE", 2000, json!({})).await;
        let (status, vip) = app.admin_json(Method::POST, "/v1/admin/customer-groups", Some(json!({"name": "VIP"}))).await;
        assert_eq!(status, 201, "{vip}");
        assert_eq!(app.admin_json(Method::POST, "/v1/admin/customer-groups", Some(json!({"name": "VIP"}))).await.0, 409);
        let now = chrono::Utc::now();
        let day = chrono::Duration::days(1);
        let price = |amount: i64, min: u32| json!([{"variant_id": tee, "amount": amount, "currency": "USD", "min_quantity": min}]);
        let lists = [
            json!({"name": "Sale", "starts_at": now - day, "ends_at": now + day, "prices": price(1800, 1)}),
            json!({"name": "VIP prices", "customer_group_ids": [vip["id"]], "prices": price(1500, 1)}),
            json!({"name": "Bulk", "prices": price(1600, 3)}),
            json!({"name": "Draft", "status": "draft", "prices": price(100, 1)}),
            json!({"name": "Last week", "starts_at": now - day * 8, "ends_at": now - day, "prices": price(1000, 1)}),
            json!({"name": "Next week", "starts_at": now + day * 7, "prices": price(1100, 1)}),
        ];
        let mut ids = Vec::new();
        for list in lists {
            let (status, created) = app.admin_json(Method::POST, "/v1/admin/price-lists", Some(list)).await;
            assert_eq!(status, 201, "{created}");
            ids.push(id(&created));
        }
        // Product pages show the sale price in a region's currency (not the group's price).
        let (_, regions) = app.get_json("/v1/store/regions").await;
        let us = regions["data"].as_array().unwrap().iter().find(|r| r["currency"] == "USD").unwrap()["id"].as_str().unwrap().to_string();
        let (_, page) = app.get_json(&format!("/v1/store/products/item-list-tee?region_id={us}")).await;
        let shown = &page["variants"][0]["calculated_price"];
        assert_eq!((amount(&shown["amount"]), amount(&shown["original"])), (1800, 2000), "{page}");
        assert_eq!(shown["price_list_id"].as_str(), Some(ids[0].as_str()));
        let (_, page) = app.get_json("/v1/store/products/item-list-tee").await;
        assert!(page["variants"][0].get("calculated_price").is_none(), "no region, no calculated price");
        // Anyone, one unit: the running sale.
        let (cart_id, cart) = cart_with(app, None, &[(&tee, 1)]).await;
        let line = &cart["lines"][0];
        assert_eq!((amount(&line["unit_price"]), amount(&line["compare_at_unit_price"])), (1800, 2000));
        assert_eq!(line["price_list_id"].as_str(), Some(ids[0].as_str()));
        assert_eq!(amount(&cart["total"]), 1800);
        // Three units reach the bulk tier.
        let path = format!("/v1/store/carts/{cart_id}/line-items/{}", line["id"].as_str().unwrap());
        let (_, cart) = send(app, Method::PATCH, &path, None, Some(json!({"quantity": 3}))).await;
        assert_eq!((amount(&cart["lines"][0]["unit_price"]), amount(&cart["total"])), (1600, 4800));
        // A VIP member gets the group's price; another customer does not.
        let (member, member_token) = customer(app, "vip@example.com").await;
        let (_, other_token) = customer(app, "plain@example.com").await;
        let members = format!("/v1/admin/customer-groups/{}/customers", id(&vip));
        let (status, group) = app.admin_json(Method::POST, &members, Some(json!({"customer_ids": [member]}))).await;
        assert_eq!((status, group["customer_count"].as_i64()), (200, Some(1)), "{group}");
        let (_, page) = app.admin_json(Method::GET, &members, None).await;
        assert_eq!(page["data"], json!([member]));
        let (_, cart) = cart_with(app, Some(&member_token), &[(&tee, 1)]).await;
        assert_eq!(amount(&cart["lines"][0]["unit_price"]), 1500);
        let (_, cart) = cart_with(app, Some(&other_token), &[(&tee, 1)]).await;
        assert_eq!(amount(&cart["lines"][0]["unit_price"]), 1800);
        // Ending the sale leaves the base price; the list reads back with its prices.
        let sale = format!("/v1/admin/price-lists/{}", ids[0]);
        let (status, patched) = app.admin_json(Method::PATCH, &sale, Some(json!({"ends_at": null, "status": "draft"}))).await;
        assert_eq!((status, patched["ends_at"].is_null(), patched["prices"][0]["amount"].as_i64()), (200, true, Some(1800)));
        let (_, cart) = app.get_json(&format!("/v1/store/carts/{cart_id}")).await;
        assert_eq!(amount(&cart["lines"][0]["unit_price"]), 1600, "three units: the bulk tier still applies");
        // Bad input: an end before the start, an unknown variant or group.
        let bad = [
            json!({"name": "Backwards", "starts_at": now, "ends_at": now - day}),
            json!({"name": "Ghost", "prices": [{"variant_id": "var_01m882rvxcewhv1k4che3z9z31", "amount": 1, "currency": "USD"}]}),
            json!({"name": "Nobody", "customer_group_ids": ["cgrp_01m882rvxcewhv1k4che3z9z31"]}),
            json!({"name": "Twice", "prices": [price(1, 1)[0].clone(), price(2, 1)[0].clone()]}),
        ];
        for body in bad {
            let (status, problem) = app.admin_json(Method::POST, "/v1/admin/price-lists", Some(body.clone())).await;
            assert_eq!(status, 422, "{body} → {problem}");
        }
    }

    #[demo = true]
    async fn automatic_promotions_target_categories_and_the_best_exclusive_wins(app) {
        let (status, category) = app.admin_json(Method::POST, "/v1/admin/categories", Some(json!({"name": "Hats", "handle": "promo-hats"}))).await;
        assert_eq!(status, 201, "{category}");
        let (_, hat) = product(app, "PROMO-HAT", 3000, json!({"category_ids": [category["id"]]})).await;
        let (_, mug) = product(app, "PROMO-MUG", 1000, json!({})).await;
        let promotion = |body: Value| async move {
            let (status, created) = app.admin_json(Method::POST, "/v1/admin/promotions", Some(body)).await;
            assert_eq!(status, 201, "{created}");
            created
        };
        let hats = promotion(json!({"name": "Hats 20 % off", "items": {"categories": [category["id"]]},
            "benefit": {"type": "percent_off", "basis_points": 2000}})).await;
        assert_eq!(hats["automatic"], true);
        let (_, cart) = cart_with(app, None, &[(&hat, 1), (&mug, 1)]).await;
        assert_eq!([amount(&cart["lines"][0]["discount_total"]), amount(&cart["lines"][1]["discount_total"])], [600, 0]);
        let shown = &cart["promotions"][0];
        assert_eq!((shown["code"].is_null(), shown["applied"].as_bool(), amount(&shown["discount"])), (true, Some(true), 600));
        // An exclusive promotion applies alone, and only when it gives more: 10 % of 4000 = 400
        // loses to 600; 25 % = 1000 wins.
        let exclusive = promotion(json!({"name": "Everything", "exclusive": true, "currency": "USD", "min_subtotal": 2000,
            "benefit": {"type": "percent_off", "basis_points": 1000}})).await;
        let (cart_id, cart) = cart_with(app, None, &[(&hat, 1), (&mug, 1)]).await;
        assert_eq!(amount(&cart["discount_total"]), 600);
        let path = format!("/v1/admin/promotions/{}", id(&exclusive));
        assert_eq!(app.admin_json(Method::PATCH, &path, Some(json!({"benefit": {"type": "percent_off", "basis_points": 2500}}))).await.0, 200);
        let (_, cart) = app.get_json(&format!("/v1/store/carts/{cart_id}")).await;
        assert_eq!(amount(&cart["discount_total"]), 1000);
        assert_eq!(cart["promotions"].as_array().unwrap().len(), 1, "{}", cart["promotions"]);
        assert_eq!(cart["promotions"][0]["promotion_id"], exclusive["id"]);
        // Below its minimum it does not apply; the category promotion is back.
        let (_, cart) = cart_with(app, None, &[(&mug, 1)]).await;
        assert_eq!(amount(&cart["discount_total"]), 0);
        // Invalid promotions are refused.
        for bad in [
            json!({"name": "No currency", "benefit": {"type": "amount_off", "amount": 500}}),
            json!({"name": "Too much", "benefit": {"type": "percent_off", "basis_points": 20000}}),
            json!({"code": "x", "name": "Short code", "benefit": {"type": "free_shipping"}}),
            json!({"name": "Wrong ids", "items": {"products": ["var_01m882rvxcewhv1k4che3z9z31"]}, "benefit": {"type": "free_shipping"}}),
        ] {
            assert_eq!(app.admin_json(Method::POST, "/v1/admin/promotions", Some(bad.clone())).await.0, 422, "{bad}");
        }
        let taken = json!({"code": "WELCOME10", "name": "Again", "benefit": {"type": "free_shipping"}});
        let (status, problem) = app.admin_json(Method::POST, "/v1/admin/promotions", Some(taken)).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("code_taken")));
    }

    #[demo = false]
    async fn redemption_limits_hold_under_concurrent_checkouts(app) {
        let promotions = &app.services.promotions;
        let limited = promotions
            .create(serde_json::from_value(json!({"code": "FIRST5", "name": "First five", "usage_limit": 5,
                "benefit": {"type": "percent_off", "basis_points": 1000}})).unwrap())
            .await
            .unwrap();
        // 20 customers check out at once; five win.
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let service = promotions.clone();
                let id: PromotionId = limited.id;
                tokio::spawn(async move { service.redeem(&[id], &format!("customer-{i}")).await })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => won += 1,
                Err(ServiceError::Conflict { code: "promotion_exhausted", .. }) => {}
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        assert_eq!(won, 5);
        let (status, usage) = app.admin_json(Method::GET, &format!("/v1/admin/promotions/{}", limited.id), None).await;
        assert_eq!(status, 200);
        assert_eq!((usage["usage_count"].as_i64(), usage["customers_redeemed"].as_i64()), (Some(5), Some(5)));

        // One customer checks out ten times at once with a limit of two per customer; the
        // refused attempts leave the total count untouched.
        let personal = promotions
            .create(serde_json::from_value(json!({"code": "TWICE", "name": "Twice each", "per_customer_limit": 2,
                "benefit": {"type": "free_shipping"}})).unwrap())
            .await
            .unwrap();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let service = promotions.clone();
                let id = personal.id;
                tokio::spawn(async move { service.redeem(&[id], "customer-a").await })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => won += 1,
                Err(ServiceError::Conflict { code: "promotion_limit_reached", .. }) => {}
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        assert_eq!(won, 2);
        let again = promotions.get(personal.id).await.unwrap();
        assert_eq!((again.usage_count, again.customers_redeemed), (2, Some(1)));
        promotions.redeem(&[personal.id], "customer-b").await.unwrap();
    }
}
