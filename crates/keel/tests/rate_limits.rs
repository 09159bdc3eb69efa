//! Rate limits seen from outside: a client that exceeds its class's quota gets a 429 problem
//! with `Retry-After`, and every limited answer states the policy and what is left of it.
//! Credentials and addresses have separate quotas; behind a trusted proxy the forwarded client
//! address counts.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use serde_json::json;

fn limited(config: &mut keel::config::Config) {
    config.rate_limits = true;
    config.rate_limit_default = "5/60".into();
    config.rate_limit_auth = "3/60".into();
    config.rate_limit_checkout = "2/60".into();
    config.trusted_proxies = "127.0.0.1".into();
}

async fn run_limited<F, Fut>(backend: common::Backend, test: F)
where
    F: FnOnce(&'static common::TestApp) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    common::run_with(backend, false, limited, test).await;
}

async fn quota_is_spent_then_refused(app: &'static common::TestApp) {
    // Five calls of the default class from one address: allowed, counting down.
    for left in (0..5).rev() {
        let response = app.get("/v1/store/products").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-policy"], "\"default\";q=5;w=60");
        let state = response.headers()["ratelimit"].to_str().unwrap().to_string();
        assert!(state.starts_with(&format!("\"default\";r={left};t=")), "{state}");
    }
    // The sixth is refused, with a problem and the time to wait.
    let refused = app.get("/v1/store/products").await;
    assert_eq!(refused.status(), 429);
    let headers = refused.headers().clone();
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry), "one request comes back every 12 s: {retry}");
    assert_eq!(headers["ratelimit-policy"], "\"default\";q=5;w=60");
    assert!(headers["ratelimit"].to_str().unwrap().starts_with("\"default\";r=0;t="));
    assert_eq!(headers["content-type"], "application/problem+json");
    let (_, problem) = common::json_of(refused).await;
    assert_eq!(problem["code"], "rate_limited");
    assert_eq!(problem["status"], 429);

    // Health and metrics are never limited.
    assert_eq!(app.get("/healthz").await.status(), 200);
    // Another client behind the trusted proxy has its own quota.
    let other =
        app.http.get(app.url("/v1/store/products")).header("x-forwarded-for", "203.0.113.7").send().await.unwrap();
    assert_eq!(other.status(), 200);
    assert!(other.headers()["ratelimit"].to_str().unwrap().starts_with("\"default\";r=4;"));
    // An invented token buys no extra quota: the address's still applies.
    let forged = app.http.get(app.url("/v1/store/products")).bearer_auth("made-up-token").send().await.unwrap();
    assert_eq!(forged.status(), 429);
    // A credential has its own quota too (an API key here, from a fresh address): spending it
    // from several addresses draws on one quota.
    for (from, left) in [("192.0.2.50", 4), ("192.0.2.51", 3)] {
        let key =
            app.admin(reqwest::Method::GET, "/v1/admin/products").header("x-forwarded-for", from).send().await.unwrap();
        assert_eq!(key.status(), 200);
        let state = key.headers()["ratelimit"].to_str().unwrap().to_string();
        assert!(state.starts_with(&format!("\"default\";r={left};")), "{from}: {state}");
    }

    // Sign-ins have their own, stricter class, per address, whatever the outcome.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = app
            .http
            .post(app.url("/v1/store/auth/token"))
            .header("x-forwarded-for", "198.51.100.9")
            .json(&json!({"email": "nobody@example.com", "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        assert!(response.headers()["ratelimit-policy"].to_str().unwrap().starts_with("\"auth\";q=3;"));
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[3], 429, "{statuses:?}");
    assert!(statuses[..3].iter().all(|s| *s != 429), "{statuses:?}");

    // Through GraphQL, each sign-in counts in the auth class too, even four in one document:
    // the request passes the default class, the fourth sign-in is refused as REST would refuse it.
    let sign_in = |alias: &str| {
        format!(r#"{alias}: logIn(email: "nobody@example.com", password: "wrong password") {{ accessToken }}"#)
    };
    let query = format!("mutation {{ {} }}", ["a", "b", "c", "d"].map(sign_in).join(" "));
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("x-forwarded-for", "198.51.100.10")
        .json(&json!({"query": query}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, body) = common::json_of(response).await;
    let codes: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["extensions"]["code"].as_str().unwrap()).collect();
    assert_eq!(codes.iter().filter(|c| **c == "rate_limited").count(), 1, "{codes:?}");
    assert_eq!(codes.len(), 4, "the other three fail as wrong passwords: {codes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_quota_gets_429_with_the_headers_sqlite() {
    run_limited(common::Backend::Sqlite, quota_is_spent_then_refused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_quota_gets_429_with_the_headers_postgres() {
    run_limited(common::Backend::Postgres, quota_is_spent_then_refused).await;
}
