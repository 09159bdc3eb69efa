//! The GraphQL API, black-box on SQLite and PostgreSQL: the whole shopper flow ends in an order
//! through GraphQL alone; a product reads the same through REST and GraphQL; a page of products
//! costs the same statements for 5 and 50 products; costly queries are refused before they run;
//! the admin schema checks the REST permissions; GraphiQL works offline; the SDL is reviewed.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{TestApp, json_of};
use reqwest::Method;
use serde_json::{Map, Value, json};

/// Posts a GraphQL request; the HTTP status must be 200 (GraphQL errors travel in the body).
async fn gql_at(app: &TestApp, path: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut req = app.http.post(app.url(path)).json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let (status, body) = json_of(req.send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn store(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> Value {
    gql_at(app, "/graphql", token, query, variables).await
}

async fn admin(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> Value {
    gql_at(app, "/v1/admin/graphql", token, query, variables).await
}

/// The data of an answer that must have no errors.
fn data(body: Value) -> Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

/// The `extensions.code` of an answer's first error.
fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        if ch.is_ascii_uppercase() {
            out.push('_');
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// A GraphQL answer in REST's spelling: snake_case keys and lower-case `status` values.
/// `verbatim` names the keys whose values are free-form JSON (kept as they are).
fn as_rest(value: &Value, verbatim: &[&str]) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = snake(k);
                let v = match v {
                    _ if verbatim.contains(&key.as_str()) => v.clone(),
                    Value::String(s) if key == "status" => Value::String(s.to_ascii_lowercase()),
                    _ => as_rest(v, verbatim),
                };
                out.insert(key, v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| as_rest(v, verbatim)).collect()),
        other => other.clone(),
    }
}

const PRODUCT_FIELDS: &str = "id handle title subtitle description status thumbnail
    options { id name values }
    variants { id productId sku title options prices { amount currency } barcode weightGrams inStock
        calculatedPrice { amount { amount currency } original { amount currency } priceListId } createdAt updatedAt }
    images { id url alt } categories { id handle name } collections { id handle title } tags metadata
    createdAt updatedAt";

/// REST omits `in_stock`/`calculated_price` when absent where GraphQL answers null; both write
/// RFC 3339 UTC timestamps, REST with `Z` and GraphQL with `+00:00`: the same instant.
fn normalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, v| !(v.is_null() && (k == "in_stock" || k == "calculated_price")));
            for (k, v) in map.iter_mut() {
                if let (true, Some(text)) = (k.ends_with("_at"), v.as_str()) {
                    let instant = chrono::DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&chrono::Utc);
                    *v = Value::String(instant.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
                } else {
                    normalize(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

backend_tests! {
    #[demo = true]
    async fn search_answers_as_rest_does(app) {
        let (status, rest) = app.get_json("/v1/store/search?q=clasic&options=Size:M&sort=price&limit=5").await;
        assert_eq!(status, 200, "{rest}");
        let query = "query($input: SearchInput!) { search(input: $input, first: 5) { total nextCursor facets products { handle variants { sku } } } }";
        let input = json!({"input": {"q": "clasic", "options": ["Size:M"], "sort": "price"}});
        let answer = store(app, None, query, input).await;
        let found = &answer["data"]["search"];
        assert_eq!(found["total"], rest["total"], "{answer}");
        assert!(rest["total"].as_u64().unwrap() >= 1, "the typo finds something: {rest}");
        assert_eq!(found["facets"], rest["facets"]);
        assert_eq!(found["nextCursor"], rest["next_cursor"]);
        let handles = |list: &Value| list.as_array().unwrap().iter().map(|p| p["handle"].clone()).collect::<Vec<_>>();
        assert_eq!(handles(&found["products"]), handles(&rest["data"]));
        let bad = store(app, None, "{ search(input: {sort: \"cheapest\"}) { total } }", json!({})).await;
        assert_eq!(code(&bad), "validation_failed", "{bad}");
    }

    #[demo = true]
    async fn a_product_reads_the_same_through_rest_and_graphql(app) {
        let (_, regions) = app.get_json("/v1/store/regions").await;
        let europe = regions["data"].as_array().unwrap().iter().find(|r| r["currency"] == "EUR").unwrap()["id"].clone();
        let europe = europe.as_str().unwrap();
        for region in [None, Some(europe)] {
            let suffix = region.map(|r| format!("?region_id={r}")).unwrap_or_default();
            let (status, rest) = app.get_json(&format!("/v1/store/products/classic-tee{suffix}")).await;
            assert_eq!(status, 200);
            let query = format!("query($region: ID) {{ product(handle: \"classic-tee\", regionId: $region) {{ {PRODUCT_FIELDS} }} }}");
            let mut graphql = as_rest(&data(store(app, None, &query, json!({"region": region})).await)["product"], &["metadata", "options"]);
            normalize(&mut graphql);
            let mut rest = rest;
            normalize(&mut rest);
            assert_eq!(graphql, rest, "product detail differs (region {region:?})");

            // A whole page too, with the same order and cursors.
            let (_, page) = app.get_json(&format!("/v1/store/products?limit=20{}", suffix.replace('?', "&"))).await;
            let query = format!("query($region: ID) {{ products(first: 20, regionId: $region) {{ edges {{ node {{ {PRODUCT_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}");
            let answer = data(store(app, None, &query, json!({"region": region})).await);
            let mut nodes: Value = answer["products"]["edges"].as_array().unwrap().iter().map(|e| as_rest(&e["node"], &["metadata", "options"])).collect();
            normalize(&mut nodes);
            let mut rest_page = page["data"].clone();
            normalize(&mut rest_page);
            assert_eq!(nodes, rest_page, "product page differs (region {region:?})");
            assert_eq!(answer["products"]["pageInfo"]["endCursor"], page["next_cursor"]);
            assert_eq!(answer["products"]["pageInfo"]["hasNextPage"], true);
        }
        // With a region, money is the region's: calculated prices in EUR.
        let query = "query($region: ID) { product(handle: \"classic-tee\", regionId: $region) { variants { calculatedPrice { amount { currency } } } } }";
        let answer = data(store(app, None, query, json!({"region": europe})).await);
        assert_eq!(answer["product"]["variants"][0]["calculatedPrice"]["amount"]["currency"], "EUR");
    }

    #[demo = true]
    async fn a_page_of_products_costs_the_same_statements_for_5_and_50(app) {
        let query = "query($n: Int, $region: ID) { products(first: $n, regionId: $region) { edges { node {
            id title thumbnail
            variants { id sku prices { amount currency } inStock calculatedPrice { amount { amount } } }
            images { url alt } categories { handle name } collections { handle } options { name values } tags
        } } } }";
        let (_, regions) = app.get_json("/v1/store/regions").await;
        let region = regions["data"][0]["id"].as_str().unwrap().to_string();
        let mut costs = Vec::new();
        for n in [5, 50] {
            let before = app.services.db.statements_executed();
            let answer = data(store(app, None, query, json!({"n": n, "region": region})).await);
            costs.push(app.services.db.statements_executed() - before);
            let edges = answer["products"]["edges"].as_array().unwrap();
            assert_eq!(edges.len(), n as usize);
            assert!(edges.iter().all(|e| !e["node"]["variants"].as_array().unwrap().is_empty()));
            assert!(edges.iter().all(|e| e["node"]["variants"][0]["inStock"].is_boolean()));
        }
        assert_eq!(costs[0], costs[1], "50 products must cost what 5 cost: {costs:?}");
        // Region (3), page (1), 6 relations (variants take 2 with prices), stock (2), prices (1):
        // what the REST page with a region costs.
        assert!(costs[0] <= 14, "{} statements", costs[0]);
        // Only what is selected is read: titles alone are one statement.
        let before = app.services.db.statements_executed();
        data(store(app, None, "{ products(first: 50) { edges { node { title } } } }", json!({})).await);
        assert_eq!(app.services.db.statements_executed() - before, 1);
    }

    #[demo = true]
    async fn a_shopper_orders_through_graphql_alone(app) {
        let registered = data(store(app, None, "mutation($input: RegisterInput!) { register(input: $input) { id email } }",
            json!({"input": {"email": "gql@example.com", "password": "correct horse battery", "firstName": "Ada"}})).await);
        assert_eq!(registered["register"]["email"], "gql@example.com");
        let tokens = data(store(app, None, "mutation { logIn(email: \"gql@example.com\", password: \"correct horse battery\") { accessToken tokenType } }", json!({})).await);
        let token = tokens["logIn"]["accessToken"].as_str().unwrap().to_string();
        let token = Some(token.as_str());
        let me = data(store(app, token, "{ me { email firstName } }", json!({})).await);
        assert_eq!(me["me"]["firstName"], "Ada");

        // Browse: a product with two variants in stock, in dollars.
        let page = data(store(app, None, "{ products(first: 5, filter: {category: \"t-shirts\"}) { edges { node { handle variants { id inStock prices { amount currency } } } } } }", json!({})).await);
        let variants = page["products"]["edges"][0]["node"]["variants"].as_array().unwrap().clone();
        assert!(variants.len() >= 2 && variants.iter().all(|v| v["inStock"] == true));
        let usd = |v: &Value| v["prices"].as_array().unwrap().iter().find(|p| p["currency"] == "USD").unwrap()["amount"].as_i64().unwrap();

        let cart = data(store(app, token, "mutation { createCart(input: {currency: \"USD\"}) { id currency } }", json!({})).await);
        let cart_id = cart["createCart"]["id"].as_str().unwrap().to_string();
        let add = "mutation($cart: ID!, $variant: ID!, $q: Int!) { addCartLine(cartId: $cart, variantId: $variant, quantity: $q) { lines { id quantity } subtotal { amount } } }";
        data(store(app, token, add, json!({"cart": cart_id, "variant": variants[0]["id"], "q": 2})).await);
        let cart = data(store(app, token, add, json!({"cart": cart_id, "variant": variants[1]["id"], "q": 1})).await);
        assert_eq!(cart["addCartLine"]["subtotal"]["amount"].as_i64().unwrap(), 2 * usd(&variants[0]) + usd(&variants[1]));
        // Change and remove a line.
        let line = cart["addCartLine"]["lines"][1]["id"].clone();
        let update = "mutation($cart: ID!, $line: ID!) { updateCartLine(cartId: $cart, lineId: $line, quantity: 3) { lines { quantity } } }";
        let cart = data(store(app, token, update, json!({"cart": cart_id, "line": line})).await);
        assert_eq!(cart["updateCartLine"]["lines"][1]["quantity"], 3);
        let remove = "mutation($cart: ID!, $line: ID!) { removeCartLine(cartId: $cart, lineId: $line) { lines { id } } }";
        let cart = data(store(app, token, remove, json!({"cart": cart_id, "line": line})).await);
        assert_eq!(cart["removeCartLine"]["lines"].as_array().unwrap().len(), 1);

        // A code that does not exist gives REST's code; WELCOME10 applies.
        let apply = "mutation($cart: ID!, $code: String!) { applyPromotion(cartId: $cart, code: $code) { discountTotal { amount } promotions { code applied } } }";
        let refused = store(app, token, apply, json!({"cart": cart_id, "code": "NOPE"})).await;
        assert_eq!(code(&refused), "promotion_not_found", "{refused}");
        let applied = data(store(app, token, apply, json!({"cart": cart_id, "code": "WELCOME10"})).await);
        assert_eq!(applied["applyPromotion"]["promotions"][0]["applied"], true);
        assert!(applied["applyPromotion"]["discountTotal"]["amount"].as_i64().unwrap() > 0);
        let removed = data(store(app, token, "mutation($cart: ID!) { removePromotion(cartId: $cart, code: \"WELCOME10\") { promotions { code } } }", json!({"cart": cart_id})).await);
        assert_eq!(removed["removePromotion"]["promotions"], json!([]));
        data(store(app, token, apply, json!({"cart": cart_id, "code": "WELCOME10"})).await);

        let address = json!({"line1": "1 Main St", "city": "Springfield", "province": "IL", "country_code": "US"});
        let update = "mutation($cart: ID!, $input: CartUpdateInput!) { updateCart(cartId: $cart, input: $input) { email shippingAddress } }";
        let cart = data(store(app, token, update, json!({"cart": cart_id, "input": {"email": "gql@example.com", "shippingAddress": address}})).await);
        assert_eq!(cart["updateCart"]["shippingAddress"]["city"], "Springfield");
        let options = data(store(app, token, "query($cart: ID!) { shippingOptions(cartId: $cart) { id name price { amount } } }", json!({"cart": cart_id})).await);
        let standard = options["shippingOptions"].as_array().unwrap().iter().find(|o| o["name"] == "Standard").unwrap()["id"].clone();
        let cart = data(store(app, token, "mutation($cart: ID!, $option: ID!) { setShippingMethod(cartId: $cart, optionId: $option) { total { amount } shippingOptionId } }", json!({"cart": cart_id, "option": standard})).await);
        assert_eq!(cart["setShippingMethod"]["shippingOptionId"], standard);
        let total = cart["setShippingMethod"]["total"]["amount"].as_i64().unwrap();

        // A declined card is REST's 402 code, and the cart stays usable.
        let checkout = "mutation($cart: ID!, $key: String!, $token: String!) { checkout(cartId: $cart, idempotencyKey: $key, input: {payment: {provider: \"paysim\", token: $token}}) { id number status paymentStatus total { amount } lines { sku quantity } } }";
        let declined = store(app, token, checkout, json!({"cart": cart_id, "key": "gql-declined", "token": "tok_declined"})).await;
        assert_eq!(code(&declined), "payment_declined", "{declined}");
        assert_eq!(declined["errors"][0]["extensions"]["status"], 402);
        let order = data(store(app, token, checkout, json!({"cart": cart_id, "key": "gql-1", "token": "tok_visa"})).await);
        let order = &order["checkout"];
        assert_eq!((order["status"].as_str(), order["paymentStatus"].as_str()), (Some("placed"), Some("authorized")));
        assert_eq!(order["total"]["amount"].as_i64().unwrap(), total);
        // A retry with the same key is the same order; the cart is done.
        let again = data(store(app, token, checkout, json!({"cart": cart_id, "key": "gql-1", "token": "tok_visa"})).await);
        assert_eq!(again["checkout"]["id"], order["id"]);
        let done = store(app, token, checkout, json!({"cart": cart_id, "key": "gql-2", "token": "tok_visa"})).await;
        assert_eq!(code(&done), "cart_completed");

        // The order is the customer's: in their list, and not readable anonymously.
        let mine = data(store(app, token, "{ orders(first: 10) { edges { node { id number } } pageInfo { hasNextPage } } }", json!({})).await);
        assert_eq!(mine["orders"]["edges"][0]["node"]["id"], order["id"]);
        let one = data(store(app, token, "query($id: ID!) { order(id: $id) { number email } }", json!({"id": order["id"]})).await);
        assert_eq!(one["order"]["number"], order["number"]);
        let anonymous = store(app, None, "query($id: ID!) { order(id: $id) { number } }", json!({"id": order["id"]})).await;
        assert_eq!(code(&anonymous), "not_found");
        let logged_out = data(store(app, token, "mutation { logOut { ok } }", json!({})).await);
        assert_eq!(logged_out["logOut"]["ok"], true);
        let refused = store(app, token, "{ me { email } }", json!({})).await;
        assert_eq!(code(&refused), "unauthenticated");
        assert!(refused["data"].is_null());
    }

    #[demo = true]
    async fn the_admin_schema_checks_the_rest_permissions(app) {
        let list = "{ products(first: 3, filter: {status: PUBLISHED}) { edges { node { id status } } } }";
        assert_eq!(code(&admin(app, None, list, json!({})).await), "unauthenticated");
        let other = app.create_key(&["orders:read"]).await;
        let refused = admin(app, Some(&other), list, json!({})).await;
        assert_eq!((code(&refused), refused["errors"][0]["extensions"]["status"].as_i64()), ("forbidden", Some(403)));
        let reader = app.create_key(&["products:read"]).await;
        let page = data(admin(app, Some(&reader), list, json!({})).await);
        assert_eq!(page["products"]["edges"].as_array().unwrap().len(), 3);

        let create = "mutation($input: ProductCreateInput!) { createProduct(input: $input) { id handle status variants { sku prices { amount currency } } } }";
        let input = json!({"input": {"title": "GraphQL Mug", "handle": "graphql-mug", "status": "PUBLISHED",
            "variants": [{"sku": "GQL-MUG", "prices": [{"amount": 1500, "currency": "EUR"}]}]}});
        assert_eq!(code(&admin(app, Some(&reader), create, input.clone()).await), "forbidden");
        let created = data(admin(app, Some(&app.admin_key), create, input.clone()).await);
        assert_eq!(created["createProduct"]["variants"][0]["prices"][0]["amount"], 1500);
        // The same refusal as REST for a taken handle, with the field named.
        let again = admin(app, Some(&app.admin_key), create, input).await;
        assert_eq!(code(&again), "handle_taken");
        assert_eq!(again["errors"][0]["extensions"]["errors"][0]["field"], "handle");
        let (status, problem) = app.admin_json(Method::POST, "/v1/admin/products", Some(json!({"title": "GraphQL Mug", "handle": "graphql-mug"}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("handle_taken")));
        // Validation errors list every field, as REST does.
        let invalid = admin(app, Some(&app.admin_key), create, json!({"input": {"title": "", "variants": [{"sku": "", "prices": []}]}})).await;
        assert_eq!(code(&invalid), "validation_failed");
        assert!(invalid["errors"][0]["extensions"]["errors"].as_array().unwrap().len() >= 2, "{invalid}");

        // The change is in REST and in the audit log.
        let id = created["createProduct"]["id"].as_str().unwrap();
        let (status, product) = app.admin_json(Method::GET, &format!("/v1/admin/products/{id}"), None).await;
        assert_eq!((status, product["handle"].as_str()), (200, Some("graphql-mug")));
        let (_, audit) = app.admin_json(Method::GET, "/v1/admin/audit-log?limit=5", None).await;
        assert!(audit["data"].as_array().unwrap().iter().any(|e| e["action"] == "POST /v1/admin/graphql#createProduct"), "{audit}");

        // Inventory and orders through the same guards.
        let variant = product["variants"][0]["id"].as_str().unwrap();
        let set = "mutation($v: ID!) { setStockLevel(variantId: $v, input: {onHand: 7}) { available levels { onHand } } }";
        assert_eq!(code(&admin(app, Some(&reader), set, json!({"v": variant})).await), "forbidden");
        let stock = data(admin(app, Some(&app.admin_key), set, json!({"v": variant})).await);
        assert_eq!(stock["setStockLevel"]["available"], 7);
        let orders = data(admin(app, Some(&app.admin_key), "{ orders(first: 5) { edges { node { id } } } customers(first: 5) { edges { node { email } } } promotions(first: 5) { edges { node { code benefit } } } }", json!({})).await);
        assert!(orders["promotions"]["edges"].as_array().unwrap().iter().any(|e| e["node"]["benefit"]["type"] == "percent_off"));
    }
}

/// Every field of the admin schema, with the permission its REST twin needs.
const ADMIN_FIELDS: &[(&str, &str, &str)] = &[
    ("products", "{ products { edges { cursor } } }", "products:read"),
    ("product", "{ product(handle: \"x\") { id } }", "products:read"),
    ("categories", "{ categories { edges { cursor } } }", "products:read"),
    ("collections", "{ collections { edges { cursor } } }", "products:read"),
    ("variantInventory", "query($v: ID!) { variantInventory(variantId: $v) { available } }", "inventory:read"),
    ("stockLocations", "{ stockLocations { id } }", "inventory:read"),
    ("regions", "{ regions { id } }", "settings:read"),
    ("orders", "{ orders { edges { cursor } } }", "orders:read"),
    ("order", "query($o: ID!) { order(id: $o) { id } }", "orders:read"),
    ("customers", "{ customers { edges { cursor } } }", "customers:read"),
    ("customer", "query($c: ID!) { customer(id: $c) { id } }", "customers:read"),
    ("promotions", "{ promotions { edges { cursor } } }", "promotions:read"),
    ("promotion", "query($pr: ID!) { promotion(id: $pr) { id } }", "promotions:read"),
    ("createProduct", "mutation { createProduct(input: {title: \"x\"}) { id } }", "products:write"),
    ("updateProduct", "mutation($p: ID!) { updateProduct(id: $p, input: {}) { id } }", "products:write"),
    ("archiveProduct", "mutation($p: ID!) { archiveProduct(id: $p) { id } }", "products:write"),
    ("setVariantPrices", "mutation($v: ID!) { setVariantPrices(variantId: $v, prices: []) { id } }", "products:write"),
    (
        "setStockLevel",
        "mutation($v: ID!) { setStockLevel(variantId: $v, input: {onHand: 1}) { available } }",
        "inventory:write",
    ),
    ("captureOrder", "mutation($o: ID!) { captureOrder(id: $o) { id } }", "orders:write"),
    ("cancelOrder", "mutation($o: ID!) { cancelOrder(id: $o) { id } }", "orders:write"),
    ("fulfillOrder", "mutation($o: ID!) { fulfillOrder(id: $o, input: {lines: []}) { id } }", "orders:write"),
    ("refundOrder", "mutation($o: ID!) { refundOrder(id: $o, input: {}) { id } }", "orders:write"),
    (
        "createPromotion",
        "mutation { createPromotion(input: {name: \"x\", benefit: {type: \"free_shipping\"}}) { id } }",
        "promotions:write",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_field_needs_its_rest_permission() {
    common::run(common::Backend::Sqlite, false, |app| async move {
        // The table covers the whole admin schema.
        let schema = data(admin(app, None, "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }", json!({})).await);
        let mut fields: Vec<String> = ["queryType", "mutationType"]
            .iter()
            .flat_map(|t| schema["__schema"][t]["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_string()))
            .collect();
        fields.sort();
        let mut covered: Vec<String> = ADMIN_FIELDS.iter().map(|(name, _, _)| name.to_string()).collect();
        covered.sort();
        assert_eq!(fields, covered);

        let vars = json!({"v": keel_domain::VariantId::new(), "o": keel_domain::OrderId::new(),
            "c": keel_domain::CustomerId::new(), "p": keel_domain::ProductId::new(), "pr": keel_domain::PromotionId::new()});
        let bystander = app.create_key(&["audit:read"]).await;
        for (name, query, permission) in ADMIN_FIELDS {
            let answer = admin(app, None, query, vars.clone()).await;
            assert_eq!(code(&answer), "unauthenticated", "{name} without credentials: {answer}");
            let answer = admin(app, Some(&bystander), query, vars.clone()).await;
            assert_eq!(code(&answer), "forbidden", "{name} without {permission}: {answer}");
            let holder = app.create_key(&[permission]).await;
            let answer = admin(app, Some(&holder), query, vars.clone()).await;
            let refused = answer["errors"][0]["extensions"]["code"].as_str().unwrap_or_default();
            assert!(!["unauthenticated", "forbidden"].contains(&refused), "{name} with {permission}: {answer}");
        }
        // A header that is not a bearer token is refused, as in REST.
        let req = app.http.post(app.url("/v1/admin/graphql")).header("Authorization", "Basic abc").json(&json!({"query": "{ regions { id } }"}));
        let (status, answer) = json_of(req.send().await.unwrap()).await;
        assert_eq!((status, code(&answer)), (200, "unauthenticated"));
    })
    .await;
}

mod limits {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn costly_queries_are_refused_before_they_run() {
        common::run(common::Backend::Sqlite, true, |app| async move {
            // 50 levels deep: refused on the parsed document, before validation.
            let deep = format!("{{ {} id {} }}", "products { ".repeat(50), "} ".repeat(50));
            let before = app.services.db.statements_executed();
            let answer = store(app, None, &deep, json!({})).await;
            assert_eq!(code(&answer), "query_too_deep", "{answer}");
            assert!(answer["errors"][0]["message"].as_str().unwrap().contains("15 levels"));
            // 1,000 aliases.
            let aliases =
                format!("{{ {} }}", (0..1000).map(|i| format!("a{i}: regions {{ id }}")).collect::<Vec<_>>().join(" "));
            let answer = store(app, None, &aliases, json!({})).await;
            assert_eq!(code(&answer), "too_many_aliases", "{answer}");
            assert_eq!(app.services.db.statements_executed(), before, "a refused query must not reach the database");
            // Fragments that spread others twice, thirty levels down (2³⁰ fields expanded), are
            // measured once per fragment and refused.
            let doubling: String =
                (1..30).map(|i| format!(" fragment F{i} on StoreQuery {{ ...F{n} ...F{n} }}", n = i + 1)).collect();
            let fan_out = format!("{{ ...F1 }}{doubling} fragment F30 on StoreQuery {{ regions {{ id }} }}");
            let answer = store(app, None, &fan_out, json!({})).await;
            assert_eq!(code(&answer), "query_too_complex", "{answer}");
            // Fragments that spread each other are refused, and the server stays up.
            let cycle = "{ ...A } fragment A on StoreQuery { regions { id } ...B } fragment B on StoreQuery { ...A }";
            assert_eq!(code(&store(app, None, cycle, json!({})).await), "invalid_query");
            assert_eq!(app.get("/healthz").await.status(), 200);
            // Too many fields per page: 100 products × every field.
            let wide = format!("{{ products(first: 100) {{ edges {{ node {{ {PRODUCT_FIELDS} }} }} }} }}");
            let answer = store(app, None, &wide, json!({})).await;
            assert_eq!(code(&answer), "query_too_complex", "{answer}");
            // Pages hold at most 100.
            let answer = store(app, None, "{ products(first: 101) { edges { node { id } } } }", json!({})).await;
            assert_eq!(
                (code(&answer), answer["errors"][0]["extensions"]["errors"][0]["field"].as_str()),
                ("validation_failed", Some("first"))
            );
            // A query that does not fit the schema, and an argument of the wrong form.
            assert_eq!(code(&store(app, None, "{ nope }", json!({})).await), "invalid_query");
            let answer = store(app, None, "{ cart(id: \"not-an-id\") { id } }", json!({})).await;
            assert_eq!(code(&answer), "invalid_argument", "{answer}");
            // A body over the limit, and one that is not a GraphQL request, are HTTP errors.
            let big = json!({"query": format!("{{ regions {{ id }} }} #{}", "x".repeat(70 * 1024))});
            let (status, problem) = json_of(app.http.post(app.url("/graphql")).json(&big).send().await.unwrap()).await;
            assert_eq!((status, problem["code"].as_str()), (413, Some("payload_too_large")));
            let (status, problem) =
                json_of(app.http.post(app.url("/graphql")).body("[1, 2]").send().await.unwrap()).await;
            assert_eq!((status, problem["code"].as_str()), (400, Some("bad_request")));
        })
        .await;
    }

    /// Depth that only fragments reveal: a valid query whose every fragment is shallow.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn depth_hidden_in_fragments_is_counted() {
        common::run_with(common::Backend::Sqlite, true, |c| c.graphql_max_depth = 4, |app| async move {
            let query = "{ ...A } fragment A on StoreQuery { products { ...B } }
                fragment B on ProductConnection { edges { ...C } } fragment C on ProductEdge { node { ...D } }
                fragment D on Product { variants { ...E } } fragment E on Variant { prices { amount } }";
            let answer = store(app, None, query, json!({})).await;
            assert_eq!(code(&answer), "query_too_deep", "{answer}");
            assert!(answer["errors"][0]["message"].as_str().unwrap().contains("4 levels"), "{answer}");
            // Inline fragments add no depth: four levels of fields pass.
            let inline = "{ products(first: 1) { edges { ... on ProductEdge { node { ... @include(if: true) { id } } } } } }";
            let answer = data(store(app, None, inline, json!({})).await);
            assert_eq!(answer["products"]["edges"].as_array().unwrap().len(), 1);
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn persisted_queries_and_switchable_introspection() {
        common::run_with(
            common::Backend::Sqlite,
            true,
            |c| c.graphql_introspection = false,
            |app| async move {
                use sha2::Digest;
                let query = "{ regions { name currency } }";
                let hash = format!("{:x}", sha2::Sha256::digest(query.as_bytes()));
                let persisted = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
                let send = |body: Value| async move {
                    json_of(app.http.post(app.url("/graphql")).json(&body).send().await.unwrap()).await.1
                };
                // Unknown hash: the client then sends the query once with its hash.
                let answer = send(json!({"extensions": persisted})).await;
                assert_eq!(code(&answer), "persisted_query_not_found");
                let answer = send(json!({"query": query, "extensions": persisted})).await;
                assert_eq!(answer["data"]["regions"].as_array().unwrap().len(), 3);
                let answer = send(json!({"extensions": persisted})).await;
                assert_eq!(answer["data"]["regions"].as_array().unwrap().len(), 3, "{answer}");
                // A hash that does not match its query is refused.
                let wrong = json!({"query": "{ regions { id } }", "extensions": persisted});
                let answer = send(wrong).await;
                assert_eq!(code(&answer), "persisted_query_mismatch", "{answer}");
                // Introspection is off by configuration: the schema reads as null.
                let query = "{ __schema { types { name } } __type(name: \"Product\") { name } }";
                let answer = store(app, None, query, json!({})).await;
                assert_eq!(answer["data"], json!({"__schema": null, "__type": null}), "{answer}");
                // Operations are counted by name.
                let answer = store(app, None, "query Regions { regions { name } }", json!({})).await;
                assert!(answer["errors"].is_null(), "{answer}");
                let metrics = app.get("/metrics").await.text().await.unwrap();
                let counted = r#"keel_graphql_operations_total{schema="store",operation="Regions",outcome="ok"}"#;
                assert!(metrics.contains(counted), "{metrics}");
            },
        )
        .await;
    }
}

/// GraphiQL's own introspection query (graphql-js 16 `getIntrospectionQuery()`) fits the limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_can_introspect_within_the_limits() {
    common::run(common::Backend::Sqlite, false, |app| async move {
        let query = include_str!("fixtures/introspection.graphql");
        let schema = data(store(app, None, query, json!({})).await);
        assert!(schema["__schema"]["types"].as_array().unwrap().iter().any(|t| t["name"] == "Product"));
        let schema = data(admin(app, None, query, json!({})).await);
        assert!(schema["__schema"]["types"].as_array().unwrap().iter().any(|t| t["name"] == "OrderDetail"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_is_served_offline() {
    common::run(common::Backend::Sqlite, false, |app| async move {
        for (path, endpoint) in
            [("/graphql", "data-endpoint=\"/graphql\""), ("/v1/admin/graphql", "data-endpoint=\"/v1/admin/graphql\"")]
        {
            let page = app.get(path).await;
            assert_eq!(page.status(), 200);
            let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
            assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe-eval"), "{csp}");
            // GraphiQL's stylesheet carries its fonts and icons as data: URLs.
            assert!(csp.contains("font-src 'self' data:") && csp.contains("img-src 'self' data:"), "{csp}");
            let html = page.text().await.unwrap();
            assert!(html.contains(endpoint), "{html}");
            // Every script and stylesheet comes from Keel itself.
            for asset in html.split(['"']).filter(|s| s.starts_with("/graphql/assets/")) {
                let res = app.get(asset).await;
                assert_eq!(res.status(), 200, "{asset}");
                assert!(res.bytes().await.unwrap().len() > 100, "{asset}");
            }
            assert!(!html.contains("http://") && !html.contains("https://"), "{html}");
        }
        assert_eq!(app.get("/graphql/assets/nope.js").await.status(), 404);
    })
    .await;
}

/// `docs/schema.graphql` is the committed SDL; regenerate with `KEEL_UPDATE_SNAPSHOTS=1 cargo test`.
#[test]
fn committed_schema_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema.graphql");
    let generated = keel_api::graphql::sdl();
    if std::env::var("KEEL_UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/schema.graphql is stale: run `KEEL_UPDATE_SNAPSHOTS=1 cargo test -p keel --test graphql`"
    );
}
