//! A shop set up through the services, for the tests that drive Keel processes: paysim run by
//! the test (so it outlives any Keel process), a scarce variant, carts ready to check out.

/// Services on `db` with a paysim run by this test process (so it outlives any Keel process),
/// the demo catalog seeded; and paysim's URL.
pub async fn shop_with_paysim(db: &mut super::Database) -> (keel_services::Services, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let paysim_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(paysim::serve(listener, paysim::Config::default()));
    db.config.paysim_url = Some(paysim_url.clone());
    let services = keel::app::open(&db.config).await.unwrap();
    keel::app::seed_if_empty(&services, |_| {}).await.unwrap();
    (services, paysim_url)
}

/// A published variant priced USD 25.00 with `on_hand` in stock.
pub async fn variant_in_stock(services: &keel_services::Services, sku: &str, on_hand: i64) -> keel_domain::VariantId {
    let product = serde_json::from_value(serde_json::json!({"title": format!("Scarce {sku}"), "status": "published",
        "variants": [{"sku": sku, "prices": [{"amount": 2500, "currency": "USD"}]}]}))
    .unwrap();
    let variant = services.catalog.create_product(&product).await.unwrap().variants[0].id;
    let level = serde_json::from_value(serde_json::json!({"on_hand": on_hand})).unwrap();
    services.inventory.set_level(variant, level).await.unwrap();
    variant
}

/// A USD cart with one unit of `variant`, an email, an address and a shipping option.
pub async fn ready_cart(
    services: &keel_services::Services,
    variant: keel_domain::VariantId,
    email: &str,
) -> keel_domain::CartId {
    fn json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }
    let carts = &services.carts;
    let cart = carts.create(json(serde_json::json!({"currency": "USD"})), None).await.unwrap().id;
    carts.add_line(cart, None, json(serde_json::json!({"variant_id": variant, "quantity": 1}))).await.unwrap();
    let details = serde_json::json!({"email": email,
        "shipping_address": {"line1": "1 Main St", "city": "Springfield", "country_code": "US"}});
    carts.update(cart, None, json(details)).await.unwrap();
    let option = carts.shipping_options(cart, None).await.unwrap().remove(0);
    carts.choose_shipping(cart, None, json(serde_json::json!({"option_id": option.id}))).await.unwrap();
    cart
}
