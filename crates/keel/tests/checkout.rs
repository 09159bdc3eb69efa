//! Checkout, black-box on SQLite and PostgreSQL with the embedded paysim: guest and customer
//! orders end to end, declined cards (402, stock released, cart usable), idempotent replays (one
//! order, one charge), and no overselling when many checkouts race for a few units.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{SmtpSink, TestApp, json_of};
use reqwest::Method;
use serde_json::{Value, json};

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, bool) {
    let mut req = app.http.request(method, app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let replayed = res.headers().get("idempotent-replayed").is_some();
    let (status, body) = json_of(res).await;
    (status, body, replayed)
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

fn amount(v: &Value) -> i64 {
    v["amount"].as_i64().unwrap()
}

/// A published variant priced USD 20.00 with `stock` on hand.
async fn variant_with_stock(app: &TestApp, sku: &str, stock: i64) -> String {
    let (status, product) = app
        .admin_json(
            Method::POST,
            "/v1/admin/products",
            Some(json!({"title": format!("Checkout {sku}"), "status": "published",
            "variants": [{"sku": sku, "prices": [{"amount": 2000, "currency": "USD"}]}]})),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let variant = product["variants"][0]["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .admin_json(Method::PUT, &format!("/v1/admin/variants/{variant}/inventory"), Some(json!({"on_hand": stock})))
        .await;
    assert_eq!(status, 200);
    variant
}

async fn stock(app: &TestApp, variant: &str) -> (i64, i64) {
    let (_, inventory) = app.admin_json(Method::GET, &format!("/v1/admin/variants/{variant}/inventory"), None).await;
    let on_hand = inventory["levels"].as_array().unwrap().iter().map(|l| l["on_hand"].as_i64().unwrap()).sum();
    let reserved = inventory["levels"].as_array().unwrap().iter().map(|l| l["reserved"].as_i64().unwrap()).sum();
    (on_hand, reserved)
}

/// A USD cart ready to check out: `quantity` of `variant`, email, address, Standard shipping.
async fn ready_cart(app: &TestApp, token: Option<&str>, variant: &str, quantity: u32) -> String {
    let (status, cart, _) =
        send(app, Method::POST, "/v1/store/carts", token, None, Some(json!({"currency": "USD"}))).await;
    assert_eq!(status, 201, "{cart}");
    let id = cart["id"].as_str().unwrap().to_string();
    let (status, body, _) = send(
        app,
        Method::POST,
        &format!("/v1/store/carts/{id}/line-items"),
        token,
        None,
        Some(json!({"variant_id": variant, "quantity": quantity})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = send(
        app,
        Method::PATCH,
        &format!("/v1/store/carts/{id}"),
        token,
        None,
        Some(json!({"email": "shopper@example.com",
        "shipping_address": {"line1": "1 Main St", "city": "Springfield", "province": "IL", "country_code": "US"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, options, _) =
        send(app, Method::GET, &format!("/v1/store/carts/{id}/shipping-options"), token, None, None).await;
    let standard = options["data"].as_array().unwrap().iter().find(|o| o["name"] == "Standard").unwrap()["id"].clone();
    let (status, body, _) = send(
        app,
        Method::POST,
        &format!("/v1/store/carts/{id}/shipping-method"),
        token,
        None,
        Some(json!({"option_id": standard})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    id
}

fn visa() -> Value {
    json!({"payment": {"provider": "paysim", "token": "tok_visa"}})
}

/// The payments paysim holds for a cart's checkout with this key.
async fn charges(app: &TestApp, cart: &str, key: &str) -> Vec<keel_services::payments::ProviderPayment> {
    let mut conn = app.services.db.read().await.unwrap();
    let checkout = keel_store::orders::find_checkout(&mut conn.conn(), cart, key).await.unwrap().unwrap();
    app.services.providers.payment("paysim").unwrap().find_by_checkout(&checkout.id).await.unwrap()
}

backend_tests! {
    #[demo = true]
    async fn the_dashboard_figures_count_orders_revenue_low_stock_and_dead_jobs(app) {
        let start = chrono::Utc::now() - chrono::Duration::seconds(1);
        let variant = variant_with_stock(app, "DASH-TEE", 9).await;
        let mut placed = Vec::new();
        for n in 0..3 {
            let cart = ready_cart(app, None, &variant, 2).await;
            let path = format!("/v1/store/carts/{cart}/checkout");
            let (status, order, _) = send(app, Method::POST, &path, None, Some(&format!("dash-{n}")), Some(visa())).await;
            assert_eq!(status, 201, "{order}");
            placed.push(order);
        }
        let (status, _) =
            app.admin_json(Method::POST, &format!("/v1/admin/orders/{}/cancel", placed[2]["id"].as_str().unwrap()), None).await;
        assert_eq!(status, 200);
        let since = urlencode(&start.to_rfc3339());
        // Today's orders: the two kept, their totals summed; the canceled one left out.
        let (status, summary) = app.admin_json(Method::GET, &format!("/v1/admin/orders/summary?placed_from={since}"), None).await;
        assert_eq!(status, 200, "{summary}");
        let usd = summary["data"].as_array().unwrap().iter().find(|s| s["revenue"]["currency"] == "USD").unwrap();
        assert_eq!(usd["orders"], 2);
        assert_eq!(amount(&usd["revenue"]), amount(&placed[0]["total"]) + amount(&placed[1]["total"]));
        let later = urlencode(&(chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
        let (_, none) = app.admin_json(Method::GET, &format!("/v1/admin/orders/summary?placed_from={later}"), None).await;
        assert!(none["data"].as_array().unwrap().is_empty(), "{none}");
        // The order list filters by the same period.
        let (_, list) = app.admin_json(Method::GET, &format!("/v1/admin/orders?placed_from={since}&limit=100"), None).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 3);
        let (_, list) = app.admin_json(Method::GET, &format!("/v1/admin/orders?placed_to={since}&limit=100"), None).await;
        assert!(list["data"].as_array().unwrap().iter().all(|o| !placed.iter().any(|p| p["id"] == o["id"])));
        let (status, problem) = app.admin_json(Method::GET, &format!("/v1/admin/orders?placed_from={later}&placed_to={since}"), None).await;
        assert_eq!(status, 422, "{problem}");
        let (status, _) = app.admin_json(Method::GET, "/v1/admin/orders?placed_from=yesterday", None).await;
        assert_eq!(status, 400);

        // Low stock: 9 − 4 sold (the canceled order's 2 came back) = 5, at the default threshold of 5.
        let low = |threshold: i64| {
            let variant = variant.clone();
            async move {
                let path = format!("/v1/admin/inventory/low-stock?threshold={threshold}&limit=100");
                let (status, body) = app.admin_json(Method::GET, &path, None).await;
                assert_eq!(status, 200, "{body}");
                body["data"].as_array().unwrap().iter().find(|v| v["variant_id"] == variant.as_str()).cloned()
            }
        };
        let entry = low(5).await.expect("at the threshold");
        assert_eq!((entry["available"].as_i64(), entry["sku"].as_str()), (Some(5), Some("DASH-TEE")));
        assert!(low(4).await.is_none(), "above a lower threshold");
        // The variant's own threshold wins over the default.
        let (status, _) = app.admin_json(Method::PATCH, &format!("/v1/admin/variants/{variant}/inventory"), Some(json!({"low_stock_threshold": 7}))).await;
        assert_eq!(status, 200);
        assert_eq!(low(0).await.expect("under its own threshold")["threshold"], 7);
        let reader = app.create_key(&["orders:read"]).await;
        let refused = app.http.get(app.url("/v1/admin/inventory/low-stock")).bearer_auth(&reader).send().await.unwrap();
        assert_eq!(refused.status(), 403);

        // Jobs per queue and state.
        let (status, jobs) = app.admin_json(Method::GET, "/v1/admin/jobs/summary", None).await;
        assert_eq!(status, 200, "{jobs}");
        let depth = jobs["data"].as_array().unwrap();
        // The orders' mail and webhook jobs wait for a worker (none runs here).
        assert!(depth.iter().any(|d| d["state"] == "pending" && d["count"].as_i64().unwrap() > 0), "{jobs}");
        assert!(depth.iter().all(|d| d["count"].as_i64().unwrap() > 0 && d["queue"].is_string()), "{jobs}");
    }

    #[demo = true]
    async fn a_guest_checks_out_once_whatever_the_retries(app) {
        let variant = variant_with_stock(app, "CHK-TEE", 5).await;
        let cart = ready_cart(app, None, &variant, 2).await;
        let codes = format!("/v1/store/carts/{cart}/promotions");
        let (_, priced, _) = send(app, Method::POST, &codes, None, None, Some(json!({"code": "WELCOME10"}))).await;
        // 2 × 20.00 − 10 % = 36.00, under the 50.00 threshold: Standard 5.99.
        assert_eq!(amount(&priced["total"]), 3600 + 599);
        let path = format!("/v1/store/carts/{cart}/checkout");
        let (status, problem, _) = send(app, Method::POST, &path, None, None, Some(visa())).await;
        assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("Idempotency-Key")), "{problem}");
        let mut body = visa();
        body["expected_total"] = json!(4199);
        let (status, order, replayed) = send(app, Method::POST, &path, None, Some("key-1"), Some(body.clone())).await;
        assert_eq!((status, replayed), (201, false), "{order}");
        assert!(order["id"].as_str().unwrap().starts_with("order_"));
        assert!(order["number"].as_i64().unwrap() > 1000);
        assert_eq!((order["status"].as_str(), order["payment_status"].as_str()), (Some("placed"), Some("authorized")));
        assert_eq!((amount(&order["total"]), amount(&order["discount_total"])), (4199, 400));
        assert_eq!(order["lines"][0]["quantity"], 2);
        assert_eq!(order["promotions"][0]["code"], "WELCOME10");
        assert_eq!(order["shipping"]["name"], "Standard");
        // The stock left the warehouse; nothing stays reserved.
        assert_eq!(stock(app, &variant).await, (3, 0));
        // A retry with the same key: the same order, one charge.
        let (status, again, replayed) = send(app, Method::POST, &path, None, Some("key-1"), Some(body.clone())).await;
        assert_eq!((status, replayed, again["id"].clone()), (201, true, order["id"].clone()));
        let held = charges(app, &cart, "key-1").await;
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!((held[0].status.as_str(), held[0].amount), ("held", 4199));
        // The same key with another body is refused; a new key finds the cart checked out.
        let (status, problem, _) = send(app, Method::POST, &path, None, Some("key-1"), Some(visa())).await;
        assert_eq!((status, problem["code"].as_str()), (422, Some("idempotency_key_reused")));
        let (status, problem, _) = send(app, Method::POST, &path, None, Some("key-2"), Some(visa())).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("cart_completed")));
        let (status, problem, _) = send(app, Method::POST, &format!("/v1/store/carts/{cart}/line-items"), None, None, Some(json!({"variant_id": variant, "quantity": 1}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("cart_completed")));
        // The guest reads the order with its email, and only with it.
        let order_path = format!("/v1/store/orders/{}", order["id"].as_str().unwrap());
        let (status, read, _) = send(app, Method::GET, &format!("{order_path}?email=Shopper@Example.com"), None, None, None).await;
        assert_eq!((status, read["number"].clone()), (200, order["number"].clone()));
        assert_eq!(send(app, Method::GET, &order_path, None, None, None).await.0, 404);
        assert_eq!(send(app, Method::GET, &format!("{order_path}?email=other@example.com"), None, None, None).await.0, 404);
    }

    #[demo = true]
    async fn the_confirmation_mail_and_the_invoice_reach_only_the_shopper(app) {
        let sink = SmtpSink::start().await;
        let config = keel::config::Config { smtp_url: Some(format!("smtp://127.0.0.1:{}", sink.port)), ..app.config.clone() };
        let registry = keel::app::worker_registry(&app.services, &config).unwrap();
        let worker = keel_worker::Worker::start(app.services.db.clone(), registry, config.worker()).await.unwrap();
        let variant = variant_with_stock(app, "CHK-MAIL", 1).await;
        let cart = ready_cart(app, None, &variant, 1).await;
        let (status, order, _) = send(app, Method::POST, &format!("/v1/store/carts/{cart}/checkout"), None, Some("mail-1"), Some(visa())).await;
        assert_eq!(status, 201, "{order}");
        let number = order["number"].as_i64().unwrap();
        let message = sink.wait_for_message().await;
        assert!(message.contains(&format!("Subject: Order {number} confirmed")), "{message}");
        assert!(message.contains("To: shopper@example.com") && message.contains("Checkout CHK-MAIL"), "{message}");
        // The invoice is rendered by the worker, then served to the order's owner only.
        let path = format!("/v1/store/orders/{}/invoice", order["id"].as_str().unwrap());
        let owner = format!("{path}?email=shopper@example.com");
        let mut wakeups = app.services.db.job_wakeups().await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let pdf = loop {
            let res = app.http.get(app.url(&owner)).send().await.unwrap();
            if res.status() == 200 {
                assert_eq!(res.headers()["content-type"], "application/pdf");
                break res.bytes().await.unwrap();
            }
            assert!(std::time::Instant::now() < deadline, "no invoice within 30 s");
            wakeups.wait(std::time::Duration::from_millis(100)).await;
        };
        worker.shutdown().await;
        assert!(pdf.starts_with(b"%PDF-") && pdf.len() > 500);
        assert_eq!(app.http.get(app.url(&path)).send().await.unwrap().status(), 404);
        assert_eq!(app.http.get(app.url(&format!("{path}?email=someone@example.com"))).send().await.unwrap().status(), 404);
    }

    #[demo = true]
    async fn staff_capture_and_cancel_with_the_money_and_stock_following(app) {
        let variant = variant_with_stock(app, "CHK-ADMIN", 4).await;
        let mut orders = Vec::new();
        for key in ["a", "b"] {
            let cart = ready_cart(app, None, &variant, 2).await;
            let (status, order, _) = send(app, Method::POST, &format!("/v1/store/carts/{cart}/checkout"), None, Some(key), Some(visa())).await;
            assert_eq!(status, 201, "{order}");
            orders.push(order);
        }
        assert_eq!(stock(app, &variant).await, (0, 0));
        let (status, page) = app.admin_json(Method::GET, "/v1/admin/orders?email=shopper@", None).await;
        assert_eq!((status, page["data"].as_array().unwrap().len()), (200, 2));
        assert_eq!(page["data"][0]["id"], orders[1]["id"], "newest first");
        // Capture the first order's payment.
        let first = format!("/v1/admin/orders/{}", orders[0]["id"].as_str().unwrap());
        let (status, detail) = app.admin_json(Method::POST, &format!("{first}/capture"), Some(json!({"amount": 999_999}))).await;
        assert_eq!(status, 422, "{detail}");
        let (status, detail) = app.admin_json(Method::POST, &format!("{first}/capture"), Some(json!({}))).await;
        assert_eq!((status, detail["payment_status"].as_str(), detail["payments"][0]["status"].as_str()), (200, Some("captured"), Some("captured")), "{detail}");
        let (status, problem) = app.admin_json(Method::POST, &format!("{first}/capture"), Some(json!({}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("not_capturable")));
        let reference = detail["payments"][0]["reference"].as_str().unwrap().to_string();
        // Cancel both: the captured one is refunded, the authorised one voided; stock comes back.
        let (status, canceled) = app.admin_json(Method::POST, &format!("{first}/cancel"), None).await;
        assert_eq!((status, canceled["status"].as_str(), canceled["payment_status"].as_str()), (200, Some("canceled"), Some("refunded")), "{canceled}");
        let events: Vec<&str> = canceled["timeline"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
        assert_eq!(events, ["order.placed", "order.paid", "refund.created", "order.canceled"]);
        let second = format!("/v1/admin/orders/{}", orders[1]["id"].as_str().unwrap());
        let (_, canceled) = app.admin_json(Method::POST, &format!("{second}/cancel"), None).await;
        assert_eq!(canceled["payment_status"], "voided");
        assert_eq!(stock(app, &variant).await, (4, 0));
        let (status, problem) = app.admin_json(Method::POST, &format!("{second}/cancel"), None).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("not_cancelable")));
        // paysim agrees: one payment refunded in full, the other voided.
        let paysim = app.services.providers.payment("paysim").unwrap();
        let mut conn = app.services.db.read().await.unwrap();
        let payments = keel_store::orders::payments_of_order(&mut conn.conn(), orders[1]["id"].as_str().unwrap()).await.unwrap();
        let checkout = payments[0].checkout_id.clone();
        drop(conn);
        assert_eq!(paysim.find_by_checkout(&checkout).await.unwrap()[0].status, "voided");
        assert!(paysim.refund(&reference, 1, "again").await.is_err(), "nothing left to refund");
    }

    #[demo = true]
    async fn partial_shipments_and_refunds_by_line_and_shipping(app) {
        app.start_worker().await;
        let variant = variant_with_stock(app, "CHK-SHIP", 2).await;
        let cart = ready_cart(app, None, &variant, 2).await;
        send(app, Method::POST, &format!("/v1/store/carts/{cart}/promotions"), None, None, Some(json!({"code": "WELCOME10"}))).await;
        let (_, order, _) = send(app, Method::POST, &format!("/v1/store/carts/{cart}/checkout"), None, Some("ship"), Some(visa())).await;
        // 2 × 20.00 − 10 % = 36.00 on the line, Standard shipping 5.99.
        assert_eq!((amount(&order["lines"][0]["total"]), amount(&order["shipping_total"]), amount(&order["total"])), (3600, 599, 4199));
        let path = format!("/v1/admin/orders/{}", order["id"].as_str().unwrap());
        let line = order["lines"][0]["id"].clone();
        let (status, problem) = app.admin_json(Method::POST, &format!("{path}/refunds"), Some(json!({"shipping": true}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("not_refundable")), "capture first");
        assert_eq!(app.admin_json(Method::POST, &format!("{path}/capture"), Some(json!({}))).await.0, 200);
        // Two shipments of one unit each; a third does not fit.
        let ship = |quantity: u32, tracking: &str| json!({"lines": [{"line_id": line, "quantity": quantity}], "carrier": "DHL", "tracking_number": tracking});
        let (status, detail) = app.admin_json(Method::POST, &format!("{path}/fulfillments"), Some(ship(1, "TRACK-1"))).await;
        assert_eq!((status, detail["fulfillment_status"].as_str()), (200, Some("partially_fulfilled")), "{detail}");
        let mail = app.wait_for_mail("shopper@example.com", "TRACK-1").await;
        assert!(mail.contains(&format!("Order {} has shipped", order["number"])), "{mail}");
        let (status, problem) = app.admin_json(Method::POST, &format!("{path}/fulfillments"), Some(ship(2, "TRACK-X"))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("over_fulfilled")));
        let (_, detail) = app.admin_json(Method::POST, &format!("{path}/fulfillments"), Some(ship(1, "TRACK-2"))).await;
        assert_eq!((detail["fulfillment_status"].as_str(), detail["lines"][0]["fulfilled_quantity"].as_i64()), (Some("fulfilled"), Some(2)));
        let first = detail["fulfillments"][0]["id"].as_str().unwrap().to_string();
        let second = detail["fulfillments"][1]["id"].as_str().unwrap().to_string();
        let (status, detail) = app.admin_json(Method::POST, &format!("{path}/fulfillments/{first}/deliver"), None).await;
        assert_eq!((status, detail["fulfillments"][0]["status"].as_str(), detail["status"].as_str()), (200, Some("delivered"), Some("placed")));
        assert_eq!(app.admin_json(Method::POST, &format!("{path}/fulfillments/{first}/deliver"), None).await.0, 404);
        let (_, detail) = app.admin_json(Method::POST, &format!("{path}/fulfillments/{second}/deliver"), None).await;
        assert_eq!(detail["status"], "completed", "everything shipped and delivered");
        let (status, problem) = app.admin_json(Method::POST, &format!("{path}/cancel"), None).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("not_cancelable")), "shipped orders are refunded, not canceled");
        // One unit back (its share of the discounted line) and the shipping, then the last unit.
        let (status, detail) = app.admin_json(Method::POST, &format!("{path}/refunds"), Some(json!({"lines": [{"line_id": line, "quantity": 1}], "shipping": true, "reason": "damaged"}))).await;
        assert_eq!(status, 200, "{detail}");
        assert_eq!((amount(&detail["refunded_total"]), detail["payment_status"].as_str()), (1800 + 599, Some("partially_refunded")));
        let (status, problem) = app.admin_json(Method::POST, &format!("{path}/refunds"), Some(json!({"lines": [{"line_id": line, "quantity": 2}]}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("over_refunded")));
        let (status, problem) = app.admin_json(Method::POST, &format!("{path}/refunds"), Some(json!({"shipping": true}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("over_refunded")), "the shipping only once");
        let (_, detail) = app.admin_json(Method::POST, &format!("{path}/refunds"), Some(json!({"lines": [{"line_id": line, "quantity": 1}]}))).await;
        assert_eq!((amount(&detail["refunded_total"]), detail["payment_status"].as_str()), (4199, Some("refunded")));
        let refunds: Vec<i64> = detail["refunds"].as_array().unwrap().iter().map(|r| amount(&r["amount"])).collect();
        assert_eq!(refunds, [2399, 1800]);
        let events: Vec<&str> = detail["timeline"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
        assert_eq!(events, ["order.placed", "order.paid", "fulfillment.created", "fulfillment.created", "order.fulfilled",
            "fulfillment.delivered", "fulfillment.delivered", "order.completed", "refund.created", "refund.created"]);
        // paysim has given everything back.
        let reference = detail["payments"][0]["reference"].as_str().unwrap();
        assert!(app.services.providers.payment("paysim").unwrap().refund(reference, 1, "more").await.is_err());
    }

    #[demo = true]
    async fn provider_webhooks_are_verified_and_applied_once(app) {
        let variant = variant_with_stock(app, "CHK-HOOK", 1).await;
        let cart = ready_cart(app, None, &variant, 1).await;
        let (_, order, _) = send(app, Method::POST, &format!("/v1/store/carts/{cart}/checkout"), None, Some("hook"), Some(visa())).await;
        let path = format!("/v1/admin/orders/{}", order["id"].as_str().unwrap());
        let (_, detail) = app.admin_json(Method::GET, &path, None).await;
        let reference = detail["payments"][0]["reference"].as_str().unwrap().to_string();
        // Captured from the provider's side; its webhook tells Keel.
        app.services.providers.payment("paysim").unwrap().capture(&reference, None).await.unwrap();
        let total = amount(&order["total"]);
        let body = json!({"id": "evt_captured_1", "type": "payment_intent.succeeded", "created": 0,
            "data": {"object": {"id": reference, "status": "succeeded", "amount_received": total}}}).to_string();
        let deliver = |body: String, signature: Option<String>| async move {
            let mut req = app.http.post(app.url("/v1/payments/paysim/webhook")).header("content-type", "application/json").body(body);
            if let Some(signature) = signature {
                req = req.header("Paysim-Signature", signature);
            }
            json_of(req.send().await.unwrap()).await
        };
        let now = chrono::Utc::now().timestamp();
        let signed = paysim::signature("whsec_paysim", now, body.as_bytes());
        let (status, problem) = deliver(body.replace("succeeded\"", "canceled\""), Some(signed.clone())).await;
        assert_eq!((status, problem["code"].as_str()), (422, Some("webhook_refused")), "a tampered body");
        assert_eq!(deliver(body.clone(), None).await.0, 422, "no signature");
        let stale = paysim::signature("whsec_paysim", now - 3600, body.as_bytes());
        assert_eq!(deliver(body.clone(), Some(stale)).await.0, 422, "an old delivery replayed");
        assert_eq!(deliver(body.clone(), Some(signed.clone())).await.0, 204);
        assert_eq!(deliver(body.clone(), Some(signed)).await.0, 204, "a redelivery is acknowledged");
        let (_, detail) = app.admin_json(Method::GET, &path, None).await;
        assert_eq!(detail["payment_status"], "captured");
        let paid = detail["timeline"].as_array().unwrap().iter().filter(|e| e["event"] == "order.paid").count();
        assert_eq!(paid, 1, "applied once");
        let (status, _) = json_of(app.http.post(app.url("/v1/payments/bitcoin/webhook")).body("{}").send().await.unwrap()).await;
        assert_eq!(status, 404);
    }

    #[demo = true]
    async fn returns_restock_and_refund_what_came_back(app) {
        let variant = variant_with_stock(app, "CHK-RETURN", 3).await;
        let cart = ready_cart(app, None, &variant, 3).await;
        let (_, order, _) = send(app, Method::POST, &format!("/v1/store/carts/{cart}/checkout"), None, Some("ret"), Some(visa())).await;
        let path = format!("/v1/admin/orders/{}", order["id"].as_str().unwrap());
        let line = order["lines"][0]["id"].clone();
        app.admin_json(Method::POST, &format!("{path}/capture"), Some(json!({}))).await;
        let (status, problem) = app.admin_json(Method::POST, &format!("{path}/returns"), Some(json!({"lines": [{"line_id": line, "quantity": 1}]}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("over_returned")), "nothing shipped yet");
        app.admin_json(Method::POST, &format!("{path}/fulfillments"), Some(json!({"lines": [{"line_id": line, "quantity": 2}], "notify": false}))).await;
        assert_eq!(stock(app, &variant).await, (0, 0));
        let (status, detail) = app.admin_json(Method::POST, &format!("{path}/returns"), Some(json!({"lines": [{"line_id": line, "quantity": 2}], "reason": "too small"}))).await;
        assert_eq!((status, detail["lines"][0]["returned_quantity"].as_i64()), (200, Some(2)), "{detail}");
        let returned = detail["returns"][0]["id"].as_str().unwrap().to_string();
        assert_eq!(app.admin_json(Method::POST, &format!("{path}/returns"), Some(json!({"lines": [{"line_id": line, "quantity": 1}]}))).await.0, 409);
        // Received: both units back on sale, and refunded at their share (3 × 20.00 = 60.00: 40.00).
        let (status, detail) = app.admin_json(Method::POST, &format!("{path}/returns/{returned}/receive"), Some(json!({}))).await;
        assert_eq!(status, 200, "{detail}");
        assert_eq!(detail["returns"][0]["status"], "received");
        assert_eq!((amount(&detail["refunded_total"]), detail["payment_status"].as_str()), (4000, Some("partially_refunded")));
        assert_eq!(stock(app, &variant).await, (2, 0));
        assert_eq!(app.admin_json(Method::POST, &format!("{path}/returns/{returned}/receive"), Some(json!({}))).await.0, 404, "received once");
        let events: Vec<&str> = detail["timeline"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
        assert!(events.ends_with(&["return.requested", "return.received", "refund.created"]), "{events:?}");
    }

    #[demo = true]
    async fn an_order_edited_before_shipping_captures_the_new_total(app) {
        let variant = variant_with_stock(app, "CHK-EDIT", 3).await;
        let cart = ready_cart(app, None, &variant, 3).await;
        send(app, Method::POST, &format!("/v1/store/carts/{cart}/promotions"), None, None, Some(json!({"code": "WELCOME10"}))).await;
        let (_, order, _) = send(app, Method::POST, &format!("/v1/store/carts/{cart}/checkout"), None, Some("edit"), Some(visa())).await;
        // 3 × 20.00 − 10 % = 54.00, over the free-shipping threshold.
        assert_eq!(amount(&order["total"]), 5400);
        let path = format!("/v1/admin/orders/{}", order["id"].as_str().unwrap());
        let line = order["lines"][0]["id"].clone();
        let (status, _) = app.admin_json(Method::POST, &format!("{path}/edits"), Some(json!({"lines": [{"line_id": line, "quantity": 3}]}))).await;
        assert_eq!(status, 422, "only lower");
        let (status, detail) = app.admin_json(Method::POST, &format!("{path}/edits"), Some(json!({"lines": [{"line_id": line, "quantity": 1}]}))).await;
        assert_eq!(status, 200, "{detail}");
        assert_eq!((detail["lines"][0]["quantity"].as_i64(), amount(&detail["lines"][0]["total"]), amount(&detail["total"])), (Some(1), 1800, 1800));
        assert_eq!((amount(&detail["discount_total"]), amount(&detail["payments"][0]["amount"])), (200, 1800));
        assert_eq!(stock(app, &variant).await, (2, 0), "the two units are back on sale");
        let (_, captured) = app.admin_json(Method::POST, &format!("{path}/capture"), Some(json!({}))).await;
        assert_eq!((captured["payments"][0]["status"].as_str(), amount(&captured["payments"][0]["amount"])), (Some("captured"), 1800));
        let (status, problem) = app.admin_json(Method::POST, &format!("{path}/edits"), Some(json!({"lines": [{"line_id": line, "quantity": 0}]}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("not_editable")), "captured: refund instead");
        let events: Vec<&str> = captured["timeline"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
        assert_eq!(events, ["order.placed", "order.edited", "order.paid"]);
        // Edited, then canceled: every unit is back once, not the edited ones twice.
        let other = variant_with_stock(app, "CHK-EDIT-2", 3).await;
        let cart = ready_cart(app, None, &other, 3).await;
        let (_, order, _) = send(app, Method::POST, &format!("/v1/store/carts/{cart}/checkout"), None, Some("edit-2"), Some(visa())).await;
        let path = format!("/v1/admin/orders/{}", order["id"].as_str().unwrap());
        let line = order["lines"][0]["id"].clone();
        let both = json!({"lines": [{"line_id": line, "quantity": 1}, {"line_id": line, "quantity": 2}]});
        assert_eq!(app.admin_json(Method::POST, &format!("{path}/edits"), Some(both)).await.0, 422, "a line named twice");
        assert_eq!(app.admin_json(Method::POST, &format!("{path}/edits"), Some(json!({"lines": [{"line_id": line, "quantity": 0}]}))).await.0, 422, "cancel instead of emptying");
        app.admin_json(Method::POST, &format!("{path}/edits"), Some(json!({"lines": [{"line_id": line, "quantity": 1}]}))).await;
        assert_eq!(stock(app, &other).await, (2, 0));
        let (status, canceled) = app.admin_json(Method::POST, &format!("{path}/cancel"), None).await;
        assert_eq!((status, canceled["status"].as_str()), (200, Some("canceled")), "{canceled}");
        assert_eq!(stock(app, &other).await, (3, 0));
    }

    #[demo = true]
    async fn a_promotion_used_up_meanwhile_voids_the_payment_and_frees_the_stock(app) {
        let variant = variant_with_stock(app, "CHK-LIMIT", 10).await;
        let (status, promotion) = app.admin_json(Method::POST, "/v1/admin/promotions", Some(json!({"code": "FIRSTTWO", "name": "First two",
            "usage_limit": 2, "benefit": {"type": "percent_off", "basis_points": 5000}}))).await;
        assert_eq!(status, 201, "{promotion}");
        let mut carts = Vec::new();
        for _ in 0..5 {
            let cart = ready_cart(app, None, &variant, 1).await;
            let (status, body, _) = send(app, Method::POST, &format!("/v1/store/carts/{cart}/promotions"), None, None, Some(json!({"code": "FIRSTTWO"}))).await;
            assert_eq!(status, 200, "{body}");
            carts.push(cart);
        }
        let tasks: Vec<_> = carts
            .iter()
            .map(|cart| {
                let path = format!("/v1/store/carts/{cart}/checkout");
                tokio::spawn(async move { send(app, Method::POST, &path, None, Some("limit"), Some(visa())).await })
            })
            .collect();
        let mut placed = 0;
        for task in tasks {
            let (status, body, _) = task.await.unwrap();
            match (status, body["code"].as_str()) {
                (201, _) => {
                    assert_eq!(amount(&body["discount_total"]), 1000, "{body}");
                    placed += 1;
                }
                (409, Some("promotion_exhausted")) => {}
                other => panic!("unexpected answer {other:?}: {body}"),
            }
        }
        assert_eq!(placed, 2, "the limit holds at checkout");
        let (_, usage) = app.admin_json(Method::GET, &format!("/v1/admin/promotions/{}", promotion["id"].as_str().unwrap()), None).await;
        assert_eq!(usage["usage_count"], 2);
        assert_eq!(stock(app, &variant).await, (8, 0), "the refused checkouts' reservations are released");
        // The refused checkouts' authorisations were voided at paysim.
        let paysim = app.services.providers.payment("paysim").unwrap();
        for cart in &carts {
            let mut conn = app.services.db.read().await.unwrap();
            let checkout = keel_store::orders::find_checkout(&mut conn.conn(), cart, "limit").await.unwrap();
            drop(conn);
            // Refused before reserving (the code was already used up when it started): nothing
            // was logged, nothing reached paysim.
            let Some(checkout) = checkout else { continue };
            let at_paysim = paysim.find_by_checkout(&checkout.id).await.unwrap();
            let expected = if checkout.step == "completed" { "held" } else { "voided" };
            assert_eq!(at_paysim.iter().map(|p| p.status.as_str()).collect::<Vec<_>>(), [expected], "{}", checkout.step);
        }
        // A cart refused for it still works, and shows why its code no longer applies.
        let mut refused = None;
        for cart in &carts {
            let mut conn = app.services.db.read().await.unwrap();
            let checkout = keel_store::orders::find_checkout(&mut conn.conn(), cart, "limit").await.unwrap();
            if checkout.is_none_or(|c| c.step == "failed") {
                refused = Some(cart.clone());
            }
        }
        let (status, cart, _) = send(app, Method::GET, &format!("/v1/store/carts/{}", refused.unwrap()), None, None, None).await;
        assert_eq!((status, cart["promotions"][0]["reason"].as_str()), (200, Some("promotion_exhausted")), "{cart}");
    }

    #[demo = true]
    async fn a_declined_card_releases_the_stock_and_leaves_the_cart_usable(app) {
        let variant = variant_with_stock(app, "CHK-DECLINE", 2).await;
        let cart = ready_cart(app, None, &variant, 2).await;
        let path = format!("/v1/store/carts/{cart}/checkout");
        let declined = json!({"payment": {"provider": "paysim", "token": "tok_insufficient_funds"}});
        let (status, problem, _) = send(app, Method::POST, &path, None, Some("try-1"), Some(declined.clone())).await;
        assert_eq!((status, problem["code"].as_str()), (402, Some("payment_declined")), "{problem}");
        assert_eq!(problem["errors"][0]["message"], "insufficient_funds");
        assert_eq!(stock(app, &variant).await, (2, 0), "the reservation is released");
        // The replay answers the same refusal without calling the provider again.
        let (status, again, _) = send(app, Method::POST, &path, None, Some("try-1"), Some(declined)).await;
        assert_eq!((status, again["code"].as_str()), (402, Some("payment_declined")));
        assert_eq!(charges(app, &cart, "try-1").await.len(), 1);
        // The cart still works, and a good card places the order.
        let (status, _, _) = send(app, Method::GET, &format!("/v1/store/carts/{cart}"), None, None, None).await;
        assert_eq!(status, 200);
        let (status, order, _) = send(app, Method::POST, &path, None, Some("try-2"), Some(visa())).await;
        assert_eq!(status, 201, "{order}");
        assert_eq!(stock(app, &variant).await, (0, 0));
        // Not ready or not payable: clear 4xx answers, nothing reserved.
        let other = variant_with_stock(app, "CHK-NOTREADY", 1).await;
        let (_, bare, _) = send(app, Method::POST, "/v1/store/carts", None, None, Some(json!({"currency": "USD"}))).await;
        let bare = bare["id"].as_str().unwrap().to_string();
        send(app, Method::POST, &format!("/v1/store/carts/{bare}/line-items"), None, None, Some(json!({"variant_id": other, "quantity": 1}))).await;
        let (status, problem, _) = send(app, Method::POST, &format!("/v1/store/carts/{bare}/checkout"), None, Some("k"), Some(visa())).await;
        assert_eq!(status, 422, "{problem}");
        let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["email", "shipping_address", "shipping_option_id"]);
        let ready = ready_cart(app, None, &other, 1).await;
        let (status, problem, _) = send(app, Method::POST, &format!("/v1/store/carts/{ready}/checkout"), None, Some("k"), Some(json!({"payment": {"provider": "bitcoin"}}))).await;
        assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("payment.provider")));
        let (status, problem, _) = send(app, Method::POST, &format!("/v1/store/carts/{ready}/checkout"), None, Some("k2"), Some(json!({"payment": {"provider": "paysim", "token": "tok_visa"}, "expected_total": 1}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("cart_changed")));
        assert_eq!(stock(app, &other).await, (1, 0));
    }

    #[demo = true]
    async fn a_customer_sees_their_orders_and_no_one_elses(app) {
        let variant = variant_with_stock(app, "CHK-MINE", 3).await;
        let mut tokens = Vec::new();
        for email in ["ann@example.com", "bob@example.com"] {
            let body = json!({"email": email, "password": "correct horse battery"});
            assert_eq!(send(app, Method::POST, "/v1/store/customers", None, None, Some(body.clone())).await.0, 201);
            let (_, pair, _) = send(app, Method::POST, "/v1/store/auth/token", None, None, Some(body)).await;
            tokens.push(pair["access_token"].as_str().unwrap().to_string());
        }
        let cart = ready_cart(app, Some(&tokens[0]), &variant, 1).await;
        let manual = json!({"payment": {"provider": "manual"}});
        let (status, problem, _) = send(app, Method::POST, &format!("/v1/store/carts/{cart}/checkout"), Some(&tokens[0]), Some("ann-0"), Some(manual)).await;
        assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("payment.provider")), "manual payment is off unless configured");
        let (status, order, _) = send(app, Method::POST, &format!("/v1/store/carts/{cart}/checkout"), Some(&tokens[0]), Some("ann-1"), Some(visa())).await;
        assert_eq!(status, 201, "{order}");
        assert!(order["customer_id"].as_str().unwrap().starts_with("cus_"));
        let (status, mine, _) = send(app, Method::GET, "/v1/store/orders", Some(&tokens[0]), None, None).await;
        assert_eq!((status, mine["data"].as_array().unwrap().len()), (200, 1));
        assert_eq!(mine["data"][0]["id"], order["id"]);
        let (_, theirs, _) = send(app, Method::GET, "/v1/store/orders", Some(&tokens[1]), None, None).await;
        assert_eq!(theirs["data"].as_array().unwrap().len(), 0);
        let path = format!("/v1/store/orders/{}", order["id"].as_str().unwrap());
        assert_eq!(send(app, Method::GET, &path, Some(&tokens[0]), None, None).await.0, 200);
        assert_eq!(send(app, Method::GET, &path, Some(&tokens[1]), None, None).await.0, 404);
        assert_eq!(send(app, Method::GET, &format!("{path}?email=ann@example.com"), None, None, None).await.0, 404, "a customer's order needs their session");
        assert_eq!(send(app, Method::GET, "/v1/store/orders", None, None, None).await.0, 401);
        // The invoice, once rendered, is Ann's alone.
        app.start_worker().await;
        let invoice = format!("{path}/invoice");
        let mut wakeups = app.services.db.job_wakeups().await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while app.http.get(app.url(&invoice)).bearer_auth(&tokens[0]).send().await.unwrap().status() != 200 {
            assert!(std::time::Instant::now() < deadline, "no invoice within 30 s");
            wakeups.wait(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(app.http.get(app.url(&invoice)).bearer_auth(&tokens[1]).send().await.unwrap().status(), 404);
        assert_eq!(app.http.get(app.url(&format!("{invoice}?email=ann@example.com"))).send().await.unwrap().status(), 404);
    }

    #[demo = true]
    async fn concurrent_checkouts_never_oversell(app) {
        let variant = variant_with_stock(app, "CHK-RACE", 3).await;
        let mut carts = Vec::new();
        for _ in 0..12 {
            carts.push(ready_cart(app, None, &variant, 1).await);
        }
        let tasks: Vec<_> = carts
            .iter()
            .map(|cart| {
                let path = format!("/v1/store/carts/{cart}/checkout");
                tokio::spawn(async move { send(app, Method::POST, &path, None, Some("race"), Some(visa())).await })
            })
            .collect();
        let mut placed = 0;
        let mut refused = 0;
        for task in tasks {
            let (status, body, _) = task.await.unwrap();
            match (status, body["code"].as_str()) {
                (201, _) => placed += 1,
                (409, Some("insufficient_stock")) => refused += 1,
                other => panic!("unexpected answer {other:?}: {body}"),
            }
        }
        assert_eq!((placed, refused), (3, 9));
        assert_eq!(stock(app, &variant).await, (0, 0), "never below zero, nothing left reserved");
        // The refused checkouts never reached the provider.
        for cart in &carts {
            let mut conn = app.services.db.read().await.unwrap();
            let checkout = keel_store::orders::find_checkout(&mut conn.conn(), cart, "race").await.unwrap();
            if let Some(checkout) = checkout {
                assert_eq!(checkout.step, "completed");
            }
        }
    }
}

/// The payment provider is down during checkout: 503, nothing charged, and the stock stays held
/// until the provider is back and the recovery job has made sure no payment was taken.
async fn provider_outage(backend: common::Backend) {
    // A port with nothing listening: connections are refused until paysim starts on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let tweak_url = url.clone();
    common::run_with(
        backend,
        true,
        move |c| c.paysim_url = Some(tweak_url),
        move |app| async move {
            let variant = variant_with_stock(app, "CHK-OUTAGE", 1).await;
            let cart = ready_cart(app, None, &variant, 1).await;
            let (status, problem, _) = send(
                app,
                Method::POST,
                &format!("/v1/store/carts/{cart}/checkout"),
                None,
                Some("down-1"),
                Some(visa()),
            )
            .await;
            assert_eq!((status, problem["code"].as_str()), (503, Some("unavailable")), "{problem}");
            assert_eq!(stock(app, &variant).await, (1, 1), "held while it is unknown whether money was taken");
            // Still down: the recovery job cannot settle it yet.
            assert_eq!(app.services.checkout.recover(chrono::Duration::zero()).await.unwrap(), 0);
            // The provider is back: recovery finds no payment, releases the stock, and the cart can
            // be checked out.
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            tokio::spawn(paysim::serve(listener, paysim::Config::default()));
            assert_eq!(app.services.checkout.recover(chrono::Duration::zero()).await.unwrap(), 1);
            assert_eq!(stock(app, &variant).await, (1, 0));
            let (status, again, _) = send(
                app,
                Method::POST,
                &format!("/v1/store/carts/{cart}/checkout"),
                None,
                Some("down-1"),
                Some(visa()),
            )
            .await;
            assert_eq!(
                (status, again["code"].as_str()),
                (503, Some("unavailable")),
                "the failed attempt answers the same"
            );
            let (status, order, _) = send(
                app,
                Method::POST,
                &format!("/v1/store/carts/{cart}/checkout"),
                None,
                Some("down-2"),
                Some(visa()),
            )
            .await;
            assert_eq!(status, 201, "{order}");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_outage_charges_nothing_and_is_settled_later_sqlite() {
    provider_outage(common::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_outage_charges_nothing_and_is_settled_later_postgres() {
    provider_outage(common::Backend::Postgres).await;
}

/// With `KEEL_AUTO_CAPTURE`, the order comes back paid.
async fn auto_capture(backend: common::Backend) {
    common::run_with(
        backend,
        true,
        |c| c.auto_capture = true,
        |app| async move {
            let variant = variant_with_stock(app, "CHK-AUTO", 1).await;
            let cart = ready_cart(app, None, &variant, 1).await;
            let (status, order, _) =
                send(app, Method::POST, &format!("/v1/store/carts/{cart}/checkout"), None, Some("auto"), Some(visa()))
                    .await;
            assert_eq!((status, order["payment_status"].as_str()), (201, Some("captured")), "{order}");
            let (_, detail) =
                app.admin_json(Method::GET, &format!("/v1/admin/orders/{}", order["id"].as_str().unwrap()), None).await;
            let events: Vec<&str> =
                detail["timeline"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
            assert_eq!(events, ["order.placed", "order.paid"]);
            let mut conn = app.services.db.read().await.unwrap();
            let checkout = keel_store::orders::find_checkout(&mut conn.conn(), &cart, "auto").await.unwrap().unwrap();
            drop(conn);
            let at_paysim =
                app.services.providers.payment("paysim").unwrap().find_by_checkout(&checkout.id).await.unwrap();
            assert_eq!(at_paysim[0].status, "captured");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_capture_answers_a_paid_order_sqlite() {
    auto_capture(common::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_capture_answers_a_paid_order_postgres() {
    auto_capture(common::Backend::Postgres).await;
}
