//! The admin panel and the demo storefront as HTTP: their files served from the binary under a
//! strict CSP, the panel's cookie session with its CSRF token, and the switches that turn each off.
//! (What they do in a browser is `browser.rs`.)

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::TestApp;
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;

const PASSWORD: &str = "a long staff passphrase";

/// Signs in through the panel's session endpoint: the cookies to send back and the CSRF token.
async fn panel_sign_in(app: &TestApp, email: &str) -> (String, String) {
    let res = app
        .http
        .post(app.url("/admin/session"))
        .header("x-keel-csrf", "-")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookies: Vec<String> =
        res.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    for cookie in &cookies {
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    }
    assert!(cookies.iter().any(|c| c.starts_with("keel_admin_refresh=") && c.contains("Path=/admin/session")));
    let jar = cookies.iter().map(|c| c.split(';').next().unwrap()).collect::<Vec<_>>().join("; ");
    let body: serde_json::Value = res.json().await.unwrap();
    (jar, body["csrf_token"].as_str().unwrap().to_string())
}

backend_tests! {
    #[demo = true]
    async fn the_panel_and_the_storefront_are_served_from_the_binary_under_a_strict_csp(app) {
        for path in ["/admin/", "/demo/", "/demo/product.html"] {
            let res = app.get(path).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            let csp = res.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
            assert!(csp.contains("script-src 'self'") && csp.contains("style-src 'self';"), "{path}: {csp}");
            assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
            let etag = res.headers()["etag"].clone();
            let again = app.http.get(app.url(path)).header("if-none-match", etag).send().await.unwrap();
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        }
        let script = app.get("/admin/app.js").await;
        assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
        assert_eq!(app.get("/admin").await.url().path(), "/admin/", "redirected to the panel");
        let res = app.get("/admin/nope.js").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        // Dot segments sent as they are (an HTTP client would resolve them first).
        for path in ["/demo/../admin/app.js", "/demo/%2e%2e/admin/app.js", "/demo/a/%2E%2E/%2E%2E/admin/app.js"] {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
            let request = format!("GET {path} HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {}", answer.lines().next().unwrap_or(""));
        }
    }

    #[demo = false]
    async fn the_panel_session_is_a_cookie_whose_changes_need_the_csrf_token(app) {
        let owner = app.services.staff.create("owner@example.com", PASSWORD, "Owner", "owner").await.unwrap();
        let (jar, csrf) = panel_sign_in(app, "owner@example.com").await;

        // Without the custom header, no sign-in: a cross-site form cannot send one.
        let forged = app.http.post(app.url("/admin/session")).json(&json!({"email": "owner@example.com", "password": PASSWORD})).send().await.unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);

        // The cookie reads the admin API like a token…
        let me = app.http.get(app.url("/v1/admin/auth/me")).header(COOKIE, &jar).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::OK);
        assert_eq!(me.json::<serde_json::Value>().await.unwrap()["id"], owner.id.to_string());
        let current = app.http.get(app.url("/admin/session")).header(COOKIE, &jar).send().await.unwrap();
        assert_eq!(current.json::<serde_json::Value>().await.unwrap()["csrf_token"], csrf.as_str());

        // The admin GraphQL endpoint does not take the cookie at all.
        let graphql = app
            .http
            .post(app.url("/v1/admin/graphql"))
            .header(COOKIE, &jar)
            .header("x-keel-csrf", &csrf)
            .json(&json!({"query": "{ products(first: 1) { edges { node { id } } } }"}))
            .send()
            .await
            .unwrap();
        let answer = graphql.json::<serde_json::Value>().await.unwrap();
        assert_eq!(answer["errors"][0]["extensions"]["code"], "unauthenticated", "{answer}");

        // …but a change needs the session's CSRF token: none or a wrong one is refused, unchanged.
        let body = json!({"title": "Summer", "handle": "summer"});
        for token in [None, Some("0123456789abcdef0123456789abcdef")] {
            let mut req = app.http.post(app.url("/v1/admin/collections")).header(COOKIE, &jar).json(&body);
            if let Some(token) = token {
                req = req.header("x-keel-csrf", token);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
            assert_eq!(res.json::<serde_json::Value>().await.unwrap()["code"], "csrf_failed");
        }
        let (_, list) = app.admin_json(Method::GET, "/v1/admin/collections", None).await;
        assert!(list["data"].as_array().unwrap().is_empty(), "nothing was created");
        let made = app
            .http
            .post(app.url("/v1/admin/collections"))
            .header(COOKIE, &jar)
            .header("x-keel-csrf", &csrf)
            .header("idempotency-key", "panel-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(made.status(), StatusCode::CREATED);
        // The audit log names the staff member behind the cookie.
        let (_, audit) = app.admin_json(Method::GET, "/v1/admin/audit-log?limit=5", None).await;
        assert!(
            audit["data"].as_array().unwrap().iter().any(|e| e["actor_id"] == owner.id.to_string()),
            "{audit}"
        );

        // Signing out ends the session: the cookie no longer works.
        let out = app.http.delete(app.url("/admin/session")).header(COOKIE, &jar).header("x-keel-csrf", &csrf).send().await.unwrap();
        assert_eq!(out.status(), StatusCode::NO_CONTENT);
        let cleared: Vec<_> = out.headers().get_all(SET_COOKIE).iter().map(|c| c.to_str().unwrap().to_string()).collect();
        assert_eq!(cleared.len(), 2, "{cleared:?}");
        assert!(cleared.iter().all(|c| c.contains("Max-Age=0")), "{cleared:?}");
        let after = app.http.get(app.url("/v1/admin/auth/me")).header(COOKIE, &jar).send().await.unwrap();
        assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    }

    #[demo = false]
    async fn a_refresh_cookie_renews_the_session_once(app) {
        app.services.staff.create("owner@example.com", PASSWORD, "Owner", "owner").await.unwrap();
        let (jar, _) = panel_sign_in(app, "owner@example.com").await;
        let refresh = || app.http.post(app.url("/admin/session/refresh")).header(COOKIE, &jar).header("x-keel-csrf", "-").send();
        let first = refresh().await.unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        let renewed: Vec<String> = first.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
        assert!(renewed.iter().any(|c| c.starts_with("keel_admin=") && !c.contains("Max-Age=0")));
        // A refresh token works once.
        assert_eq!(refresh().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        // Without the page's header, no refresh at all (a cross-site form cannot send one).
        let (jar, _) = panel_sign_in(app, "owner@example.com").await;
        let forged = app.http.post(app.url("/admin/session/refresh")).header(COOKIE, &jar).send().await.unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    }

    #[demo = false]
    async fn a_read_only_staff_member_can_look_but_not_change(app) {
        app.services.staff.create("reader@example.com", PASSWORD, "Reader", "read_only").await.unwrap();
        let (jar, csrf) = panel_sign_in(app, "reader@example.com").await;
        let list = app.http.get(app.url("/v1/admin/products")).header(COOKIE, &jar).send().await.unwrap();
        assert_eq!(list.status(), StatusCode::OK);
        let res = app
            .http
            .post(app.url("/v1/admin/collections"))
            .header(COOKIE, &jar)
            .header("x-keel-csrf", &csrf)
            .json(&json!({"title": "Nope", "handle": "nope"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(res.json::<serde_json::Value>().await.unwrap()["code"], "forbidden");
    }
}

/// Reached over HTTPS (`KEEL_PUBLIC_URL=https://…`, a proxy ending TLS), the cookies are `Secure`
/// and carry the `__Host-`/`__Secure-` prefixes, so neither plain HTTP nor a sibling subdomain
/// gets or plants them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_https_the_session_cookies_are_secure_and_host_bound() {
    let db = common::Database::create(common::Backend::Sqlite).await.unwrap();
    let app = common::TestApp::spawn_with(&db, common::Backend::Sqlite, false, |c| {
        c.public_url = "https://shop.example".into();
    })
    .await;
    app.services.staff.create("owner@example.com", PASSWORD, "Owner", "owner").await.unwrap();
    let res = app
        .http
        .post(app.url("/admin/session"))
        .header("x-keel-csrf", "-")
        .json(&json!({"email": "owner@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let cookies: Vec<String> =
        res.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert!(cookies.iter().all(|c| c.contains("; Secure")), "{cookies:?}");
    let access = cookies.iter().find(|c| c.starts_with("__Host-keel_admin=")).expect("a __Host- access cookie");
    assert!(access.contains("Path=/;"), "{access}");
    assert!(cookies.iter().any(|c| c.starts_with("__Secure-keel_admin_refresh=")), "{cookies:?}");
    let jar = access.split(';').next().unwrap();
    let me = app.http.get(app.url("/v1/admin/auth/me")).header(COOKIE, jar).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    // The unprefixed name means nothing here.
    let plain = jar.replacen("__Host-", "", 1);
    let me = app.http.get(app.url("/v1/admin/auth/me")).header(COOKIE, plain).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storefront_and_the_panel_can_be_switched_off() {
    let db = common::Database::create(common::Backend::Sqlite).await.unwrap();
    let app = common::TestApp::spawn_with(&db, common::Backend::Sqlite, false, |c| {
        c.storefront = false;
        c.admin_panel = false;
    })
    .await;
    for path in ["/demo/", "/admin/", "/admin/session"] {
        assert_eq!(app.get(path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Nor does the admin API take a panel cookie any more.
    app.services.staff.create("owner@example.com", PASSWORD, "Owner", "owner").await.unwrap();
    let pair = app.services.staff.login("owner@example.com", PASSWORD, None).await.unwrap();
    let cookie = format!("keel_admin={}", pair.access_token);
    let me = app.http.get(app.url("/v1/admin/auth/me")).header(COOKIE, cookie).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    // The API itself is still there.
    assert_eq!(app.get("/v1/store/products").await.status(), StatusCode::OK);
    app.stop().await;
}
