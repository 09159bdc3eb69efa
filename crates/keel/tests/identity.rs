//! Identity and access, black-box over HTTP on SQLite and PostgreSQL: customer sessions, throttling,
//! object-level authorisation, password reset and email verification through the real job queue
//! and mailer, staff roles and invitations, API keys, the audit log, privacy export and erasure,
//! and the admin route walk (403 without the route's permission).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{TestApp, json_of};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    json_of(app.http.post(app.url(path)).json(&body).send().await.unwrap()).await
}

async fn with_token(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    json_of(req.send().await.unwrap()).await
}

async fn register(app: &TestApp, email: &str) -> Value {
    let (status, body) =
        post(app, "/v1/store/customers", json!({"email": email, "password": PASSWORD, "first_name": "Ada"})).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    post(app, "/v1/store/auth/token", json!({"email": email, "password": password})).await
}

async fn customer_token(app: &TestApp, email: &str) -> String {
    register(app, email).await;
    let (status, pair) = login(app, email, PASSWORD).await;
    assert_eq!(status, 200, "{pair}");
    pair["access_token"].as_str().unwrap().to_string()
}

/// The single-use token in a mailed link.
fn token_in(mail: &str) -> String {
    let start = mail.find("keel_tk_").expect("a token in the mail");
    mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect()
}

async fn staff_token(app: &TestApp, email: &str, role: &str) -> String {
    app.services.staff.create(email, PASSWORD, "Staff", role).await.unwrap();
    let (status, pair) = post(app, "/v1/admin/auth/token", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(status, 200, "{pair}");
    pair["access_token"].as_str().unwrap().to_string()
}

backend_tests! {
    #[demo = false]
    async fn register_login_me_refresh_logout(app) {
        let created = register(app, " Ada@Example.com ").await;
        assert_eq!(created["email"], "ada@example.com");
        assert_eq!(created["email_verified"], false);
        assert!(created.get("password_hash").is_none() && !created.to_string().contains("argon2"));

        let (status, dup) = post(app, "/v1/store/customers", json!({"email": "ada@example.com", "password": PASSWORD})).await;
        assert_eq!((status, dup["code"].as_str()), (409, Some("email_taken")));
        let (status, weak) = post(app, "/v1/store/customers", json!({"email": "bob@example.com", "password": "short"})).await;
        assert_eq!(status, 422);
        assert_eq!(weak["errors"][0]["field"], "password");

        let (status, pair) = login(app, "ada@example.com", PASSWORD).await;
        assert_eq!(status, 200);
        assert_eq!(pair["token_type"], "Bearer");
        assert_eq!(pair["expires_in"], 900);
        let access = pair["access_token"].as_str().unwrap();
        let refresh = pair["refresh_token"].as_str().unwrap();
        assert!(access.starts_with("keel_at_") && refresh.starts_with("keel_rt_"));

        let (status, me) = with_token(app, Method::GET, "/v1/store/customers/me", access, None).await;
        assert_eq!((status, me["email"].as_str()), (200, Some("ada@example.com")));
        let response = app.http.get(app.url("/v1/store/customers/me")).bearer_auth(access).send().await.unwrap();
        assert_eq!(response.headers()["cache-control"], "private, no-store");

        let (status, me) = with_token(app, Method::PATCH, "/v1/store/customers/me", access, Some(json!({"last_name": "Lovelace", "phone": "+44 20 7946 0000"}))).await;
        assert_eq!((status, me["last_name"].as_str(), me["first_name"].as_str()), (200, Some("Lovelace"), Some("Ada")));

        // Refresh rotates both tokens; the old refresh token works no more, and replaying it
        // ends the session (both of its new tokens stop working).
        let (status, next) = post(app, "/v1/store/auth/refresh", json!({"refresh_token": refresh})).await;
        assert_eq!(status, 200);
        let next_access = next["access_token"].as_str().unwrap().to_string();
        let left = next["refresh_expires_in"].as_i64().unwrap();
        assert!(left <= pair["refresh_expires_in"].as_i64().unwrap() && left > 30 * 24 * 3600 - 60, "refreshing does not extend the session: {left}");
        assert_ne!(next_access, access);
        assert_eq!(with_token(app, Method::GET, "/v1/store/customers/me", &next_access, None).await.0, 200);
        assert_eq!(post(app, "/v1/store/auth/refresh", json!({"refresh_token": refresh})).await.0, 401);
        assert_eq!(with_token(app, Method::GET, "/v1/store/customers/me", &next_access, None).await.0, 401, "a replayed refresh token revokes its session");
        assert_eq!(post(app, "/v1/store/auth/refresh", json!({"refresh_token": next["refresh_token"]})).await.0, 401);

        // Logout: the token stops working at once.
        let (_, pair) = login(app, "ada@example.com", PASSWORD).await;
        let access = pair["access_token"].as_str().unwrap();
        assert_eq!(with_token(app, Method::DELETE, "/v1/store/auth/token", access, None).await.0, 204);
        let (status, problem) = with_token(app, Method::GET, "/v1/store/customers/me", access, None).await;
        assert_eq!((status, problem["code"].as_str()), (401, Some("unauthenticated")));
        assert_eq!(post(app, "/v1/store/auth/refresh", json!({"refresh_token": pair["refresh_token"]})).await.0, 401);
        assert_eq!(app.get("/v1/store/customers/me").await.status(), 401);
    }

    #[demo = false]
    async fn wrong_passwords_are_throttled_and_unknown_emails_look_the_same(app) {
        register(app, "ada@example.com").await;
        let (status, wrong) = login(app, "ada@example.com", "not the password").await;
        let (status2, unknown) = login(app, "nobody@example.com", "not the password").await;
        assert_eq!((status, status2), (401, 401));
        assert_eq!(wrong, unknown, "a wrong password and an unknown email answer alike");

        for _ in 1..5 {
            assert_eq!(login(app, "ada@example.com", "not the password").await.0, 401);
        }
        let response = app.http.post(app.url("/v1/store/auth/token"))
            .json(&json!({"email": "ada@example.com", "password": "not the password"})).send().await.unwrap();
        assert_eq!(response.status(), 429);
        let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=30).contains(&retry), "{retry}");
        let (_, problem) = json_of(response).await;
        assert_eq!(problem["code"], "too_many_attempts");
        // Locked means locked: the right password waits too. Other accounts are not affected.
        assert_eq!(login(app, "ada@example.com", PASSWORD).await.0, 429);
        register(app, "bob@example.com").await;
        assert_eq!(login(app, "bob@example.com", PASSWORD).await.0, 200);
        // Password resets are throttled per email as well, answering 202 for any email until then.
        for _ in 0..5 {
            assert_eq!(post(app, "/v1/store/auth/password-reset", json!({"email": "nobody@example.com"})).await.0, 202);
        }
        assert_eq!(post(app, "/v1/store/auth/password-reset", json!({"email": "nobody@example.com"})).await.0, 429);
    }

    #[demo = false]
    async fn a_customer_cannot_reach_another_customers_data(app) {
        let a = customer_token(app, "a@example.com").await;
        let b = customer_token(app, "b@example.com").await;
        let (status, address) = with_token(app, Method::POST, "/v1/store/customers/me/addresses", &a,
            Some(json!({"line1": "1 Main St", "city": "Berlin", "country_code": "de", "postal_code": "10115"}))).await;
        assert_eq!(status, 201, "{address}");
        assert_eq!((address["country_code"].as_str(), address["is_default"].as_bool()), (Some("DE"), Some(true)));
        let path = format!("/v1/store/customers/me/addresses/{}", address["id"].as_str().unwrap());

        assert_eq!(with_token(app, Method::GET, &path, &a, None).await.0, 200);
        let (status, problem) = with_token(app, Method::GET, &path, &b, None).await;
        assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
        assert_eq!(with_token(app, Method::PATCH, &path, &b, Some(json!({"city": "Paris"}))).await.0, 404);
        assert_eq!(with_token(app, Method::DELETE, &path, &b, None).await.0, 404);
        let (_, list) = with_token(app, Method::GET, "/v1/store/customers/me/addresses", &b, None).await;
        assert_eq!(list["data"], json!([]));
        let (_, still) = with_token(app, Method::GET, &path, &a, None).await;
        assert_eq!(still["city"], "Berlin", "B's attempts changed nothing");
        let (_, me_b) = with_token(app, Method::GET, "/v1/store/customers/me", &b, None).await;
        assert_eq!(me_b["email"], "b@example.com");

        // Tokens do not cross the store/admin line.
        assert_eq!(with_token(app, Method::GET, "/v1/admin/products", &a, None).await.0, 401);
        let staff = staff_token(app, "owner@example.com", "owner").await;
        assert_eq!(with_token(app, Method::GET, "/v1/store/customers/me", &staff, None).await.0, 401);
        assert_eq!(with_token(app, Method::GET, "/v1/store/customers/me", &app.admin_key, None).await.0, 401);

        // Invalid address input is a 422 naming the fields.
        let (status, problem) = with_token(app, Method::POST, "/v1/store/customers/me/addresses", &a, Some(json!({"city": "Berlin", "country_code": "Germany"}))).await;
        assert_eq!(status, 422);
        let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&"line1") && fields.contains(&"country_code"), "{fields:?}");
    }

    #[demo = false]
    async fn password_reset_and_email_verification_by_mail(app) {
        app.start_worker().await;
        register(app, "ada@example.com").await;
        let (_, pair) = login(app, "ada@example.com", PASSWORD).await;
        let old_session = pair["access_token"].as_str().unwrap().to_string();

        // Verification link from the registration mail.
        let mail = app.wait_for_mail("ada@example.com", "Confirm your email address").await;
        let verify = token_in(&mail);
        assert_eq!(post(app, "/v1/store/auth/verify-email", json!({"token": verify})).await.0, 204);
        assert_eq!(post(app, "/v1/store/auth/verify-email", json!({"token": verify})).await.0, 422, "single use");
        let (_, me) = with_token(app, Method::GET, "/v1/store/customers/me", &old_session, None).await;
        assert_eq!(me["email_verified"], true);

        // Unknown and known emails get the same answer; only the known one gets mail.
        assert_eq!(post(app, "/v1/store/auth/password-reset", json!({"email": "nobody@example.com"})).await.0, 202);
        assert_eq!(post(app, "/v1/store/auth/password-reset", json!({"email": "ADA@example.com"})).await.0, 202);
        let mail = app.wait_for_mail("ada@example.com", "Reset your password").await;
        let token = token_in(&mail);
        assert_ne!(token, verify);

        let (status, weak) = post(app, "/v1/store/auth/password-reset/confirm", json!({"token": token, "password": "short"})).await;
        assert_eq!((status, weak["errors"][0]["field"].as_str()), (422, Some("password")));
        assert_eq!(post(app, "/v1/store/auth/password-reset/confirm", json!({"token": token, "password": "a brand new secret"})).await.0, 204);
        assert_eq!(post(app, "/v1/store/auth/password-reset/confirm", json!({"token": token, "password": "another new secret"})).await.0, 422, "single use");
        assert_eq!(post(app, "/v1/store/auth/password-reset/confirm", json!({"token": "keel_tk_forged", "password": "another new secret"})).await.0, 422);

        assert_eq!(with_token(app, Method::GET, "/v1/store/customers/me", &old_session, None).await.0, 401, "a reset ends every session");
        assert_eq!(login(app, "ada@example.com", PASSWORD).await.0, 401);
        assert_eq!(login(app, "ada@example.com", "a brand new secret").await.0, 200);
        assert!(!app.config.data_dir.join("mail").read_dir().unwrap().any(|e| {
            std::fs::read_to_string(e.unwrap().path()).unwrap().contains("To: nobody@example.com")
        }), "no mail to an unknown address");
    }

    #[demo = false]
    async fn password_change_export_and_erasure(app) {
        let token = customer_token(app, "ada@example.com").await;
        with_token(app, Method::POST, "/v1/store/customers/me/addresses", &token,
            Some(json!({"line1": "1 Main St", "city": "Berlin", "country_code": "DE"}))).await;

        let (status, problem) = with_token(app, Method::POST, "/v1/store/customers/me/password", &token,
            Some(json!({"current_password": "wrong one here", "new_password": "a brand new secret"}))).await;
        assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("current_password")));
        let (status, pair) = with_token(app, Method::POST, "/v1/store/customers/me/password", &token,
            Some(json!({"current_password": PASSWORD, "new_password": "a brand new secret"}))).await;
        assert_eq!(status, 200);
        assert_eq!(with_token(app, Method::GET, "/v1/store/customers/me", &token, None).await.0, 401, "other sessions end");
        let token = pair["access_token"].as_str().unwrap().to_string();

        let (status, export) = with_token(app, Method::GET, "/v1/store/customers/me/export", &token, None).await;
        assert_eq!(status, 200);
        assert_eq!(export["customer"]["email"], "ada@example.com");
        assert_eq!(export["addresses"][0]["city"], "Berlin");
        assert!(export["orders"].is_array());
        let id = export["customer"]["id"].as_str().unwrap().to_string();
        assert_eq!(app.admin_json(Method::GET, &format!("/v1/admin/customers/{id}"), None).await.0, 200);

        assert_eq!(with_token(app, Method::DELETE, "/v1/store/customers/me", &token, None).await.0, 204);
        assert_eq!(with_token(app, Method::GET, "/v1/store/customers/me", &token, None).await.0, 401);
        assert_eq!(login(app, "ada@example.com", "a brand new secret").await.0, 401);
        assert_eq!(app.admin_json(Method::GET, &format!("/v1/admin/customers/{id}"), None).await.0, 404);
        let (_, listed) = app.admin_json(Method::GET, "/v1/admin/customers?email=ada", None).await;
        assert_eq!(listed["data"], json!([]));
        // Nothing personal is left in the row; the email is free again.
        let mut conn = app.services.db.read().await.unwrap();
        let row = keel_store::identity::find_customer(&mut conn.conn(), &id).await.unwrap().unwrap();
        drop(conn);
        assert_eq!((row.status.as_str(), row.first_name, row.password_hash), ("erased", None, None));
        assert!(!row.email.contains("ada"));
        register(app, "ada@example.com").await;
    }

    #[demo = true]
    async fn staff_roles_invitations_keys_and_the_audit_log(app) {
        app.start_worker().await;
        let owner = staff_token(app, "owner@example.com", "owner").await;
        let (status, me) = with_token(app, Method::GET, "/v1/admin/auth/me", &owner, None).await;
        assert_eq!((status, me["kind"].as_str(), me["permissions"][0].as_str()), (200, Some("staff"), Some("*")));

        // A staff member changes their password: their other sessions end.
        let second = post(app, "/v1/admin/auth/token", json!({"email": "owner@example.com", "password": PASSWORD})).await.1;
        let second = second["access_token"].as_str().unwrap().to_string();
        let (status, pair) = with_token(app, Method::POST, "/v1/admin/auth/password", &second,
            Some(json!({"current_password": PASSWORD, "new_password": "an even longer passphrase"}))).await;
        assert_eq!(status, 200, "{pair}");
        assert_eq!(with_token(app, Method::GET, "/v1/admin/auth/me", &owner, None).await.0, 401);
        let owner = pair["access_token"].as_str().unwrap().to_string();
        assert_eq!(with_token(app, Method::POST, "/v1/admin/auth/password", &app.admin_key,
            Some(json!({"current_password": "x", "new_password": "an even longer passphrase"}))).await.0, 422);

        // Invite a catalog manager; they accept through the mailed link.
        let (status, invitation) = with_token(app, Method::POST, "/v1/admin/invitations", &owner,
            Some(json!({"email": "grace@example.com", "role": "catalog_manager"}))).await;
        assert_eq!(status, 201, "{invitation}");
        let mail = app.wait_for_mail("grace@example.com", "invites you").await;
        let (status, pair) = post(app, "/v1/admin/auth/invitations/accept",
            json!({"token": token_in(&mail), "password": PASSWORD, "name": "Grace"})).await;
        assert_eq!(status, 201, "{pair}");
        let grace = pair["access_token"].as_str().unwrap().to_string();
        assert_eq!(with_token(app, Method::GET, "/v1/admin/products?limit=1", &grace, None).await.0, 200);
        let (status, problem) = with_token(app, Method::GET, "/v1/admin/staff", &grace, None).await;
        assert_eq!((status, problem["code"].as_str()), (403, Some("forbidden")));

        // Nobody grants more than they hold.
        let admin = staff_token(app, "admin@example.com", "admin").await;
        let (status, _) = with_token(app, Method::POST, "/v1/admin/invitations", &admin,
            Some(json!({"email": "eve@example.com", "role": "owner"}))).await;
        assert_eq!(status, 403, "only owners make owners");
        let (status, _) = with_token(app, Method::POST, "/v1/admin/api-keys", &admin, Some(json!({"name": "all", "permissions": ["*"]}))).await;
        assert_eq!(status, 403);

        // A custom role; built-ins are fixed; the last owner stays.
        let (status, role) = with_token(app, Method::POST, "/v1/admin/roles", &owner,
            Some(json!({"name": "merchandiser", "permissions": ["products:read", "products:write"]}))).await;
        assert_eq!((status, role["builtin"].as_bool()), (201, Some(false)));
        assert_eq!(with_token(app, Method::POST, "/v1/admin/roles", &owner, Some(json!({"name": "bad", "permissions": ["products:fly"]}))).await.0, 422);
        assert_eq!(with_token(app, Method::PATCH, "/v1/admin/roles/owner", &owner, Some(json!({"description": "x"}))).await.0, 409);
        let (_, staff) = with_token(app, Method::GET, "/v1/admin/staff", &owner, None).await;
        let id_of = |email: &str| staff["data"].as_array().unwrap().iter().find(|s| s["email"] == email).unwrap()["id"].as_str().unwrap().to_string();
        let (status, problem) = with_token(app, Method::PATCH, &format!("/v1/admin/staff/{}", id_of("owner@example.com")), &owner, Some(json!({"role": "admin"}))).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("last_owner")));
        let (status, moved) = with_token(app, Method::PATCH, &format!("/v1/admin/staff/{}", id_of("grace@example.com")), &owner, Some(json!({"role": "merchandiser"}))).await;
        assert_eq!((status, moved["role"].as_str()), (200, Some("merchandiser")));
        assert_eq!(with_token(app, Method::DELETE, "/v1/admin/roles/merchandiser", &owner, None).await.0, 409, "still held");

        // Disabling a member ends their session at once.
        assert_eq!(with_token(app, Method::PATCH, &format!("/v1/admin/staff/{}", id_of("grace@example.com")), &owner, Some(json!({"status": "disabled"}))).await.0, 200);
        assert_eq!(with_token(app, Method::GET, "/v1/admin/products?limit=1", &grace, None).await.0, 401);

        // API keys: scoped, listed by prefix with last use, revocable.
        let (status, key) = with_token(app, Method::POST, "/v1/admin/api-keys", &owner,
            Some(json!({"name": "ERP sync", "permissions": ["products:read"]}))).await;
        assert_eq!(status, 201);
        let secret = key["secret"].as_str().unwrap().to_string();
        assert_eq!(with_token(app, Method::GET, "/v1/admin/products?limit=1", &secret, None).await.0, 200);
        assert_eq!(with_token(app, Method::POST, "/v1/admin/products", &secret, Some(json!({}))).await.0, 403);
        let (_, keys) = with_token(app, Method::GET, "/v1/admin/api-keys", &owner, None).await;
        let listed = keys["data"].as_array().unwrap().iter().find(|k| k["id"] == key["id"]).unwrap().clone();
        assert!(secret.starts_with(listed["prefix"].as_str().unwrap()));
        assert!(listed["last_used_at"].is_string() && listed.get("secret").is_none());
        let (status, revoked) = with_token(app, Method::DELETE, &format!("/v1/admin/api-keys/{}", key["id"].as_str().unwrap()), &owner, None).await;
        assert_eq!((status, revoked["revoked_at"].is_string()), (200, true));
        assert_eq!(with_token(app, Method::GET, "/v1/admin/products?limit=1", &secret, None).await.0, 401);

        // The audit log: who, what, when, before and after; secrets redacted.
        let (_, products) = with_token(app, Method::GET, "/v1/admin/products?limit=1", &owner, None).await;
        let product = &products["data"][0];
        let path = format!("/v1/admin/products/{}", product["id"].as_str().unwrap());
        assert_eq!(with_token(app, Method::PATCH, &path, &owner, Some(json!({"title": "Renamed by the owner"}))).await.0, 200);
        let (status, log) = with_token(app, Method::GET, "/v1/admin/audit-log?limit=100", &owner, None).await;
        assert_eq!(status, 200);
        let entries = log["data"].as_array().unwrap();
        let rename = entries.iter().find(|e| e["path"] == path.as_str()).expect("the rename is logged");
        assert_eq!(rename["actor"], "owner@example.com");
        assert_eq!(rename["action"], "PATCH /v1/admin/products/{id}");
        assert_eq!(rename["before"]["title"], product["title"]);
        assert_eq!(rename["after"]["title"], "Renamed by the owner");
        let key_entry = entries.iter().find(|e| e["action"] == "POST /v1/admin/api-keys" && e["status"] == 201).unwrap();
        assert_eq!(key_entry["after"]["secret"], "[redacted]");
        assert!(!log.to_string().contains(&secret));
        let sign_in = entries.iter().find(|e| e["action"] == "sign-in /v1/admin/auth/invitations/accept").expect("sign-ins are logged");
        assert_eq!(sign_in["actor"], "grace@example.com");
        assert!(entries.iter().any(|e| e["action"] == "sign-in /v1/admin/auth/token" && e["actor"] == "owner@example.com"));
        assert_eq!(with_token(app, Method::GET, "/v1/admin/audit-log", &admin, None).await.0, 200);
        assert_eq!(with_token(app, Method::GET, "/v1/admin/audit-log", &grace, None).await.0, 401);
    }

    #[demo = false]
    async fn every_admin_route_refuses_a_principal_without_its_permission(app) {
        let doc = keel_api::openapi();
        let mut checked = 0;
        for (path, item) in &doc.paths.paths {
            let ops = [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let security = serde_json::to_value(&op.security).unwrap();
                let scopes: Vec<String> = security.as_array().into_iter().flatten()
                    .filter_map(|s| s.get("admin")).flat_map(|s| s.as_array().cloned().unwrap_or_default())
                    .map(|s| s.as_str().unwrap().to_string()).collect();
                if path.starts_with("/v1/admin") && security.is_null() {
                    assert!(path.starts_with("/v1/admin/auth/"), "{method} {path} is an admin route without security");
                }
                let [needed] = scopes.as_slice() else { continue };
                let concrete = path.split('/').map(|seg| if seg.starts_with('{') { "x" } else { seg }).collect::<Vec<_>>().join("/");
                let others: Vec<&str> = keel_domain::permission::Permission::ALL.iter().map(|p| p.as_str()).filter(|p| p != needed).collect();
                let without = app.create_key(&others).await;
                let only = app.create_key(&[needed.as_str()]).await;
                let has_body = method != Method::GET && method != Method::DELETE;
                let call = |key: String| {
                    let req = app.http.request(method.clone(), app.url(&concrete)).bearer_auth(key);
                    let req = if has_body { req.json(&json!({})) } else { req };
                    async move { req.send().await.unwrap().status().as_u16() }
                };
                assert_eq!(call(without).await, 403, "{method} {path} without {needed}");
                let with = call(only).await;
                if method == Method::GET && !path.contains('{') {
                    // A list needs nothing but the permission: it must succeed.
                    assert_eq!(with, 200, "{method} {path} with only {needed}");
                } else {
                    // Past authorisation, the made-up id or empty body decides (404, 422, …).
                    assert!(with != 401 && with != 403, "{method} {path} with only {needed}: {with}");
                }
                checked += 1;
            }
        }
        assert!(checked >= 40, "only {checked} admin operations checked");
    }
}

backend_tests! {
    #[demo = false]
    async fn secrets_read_back_by_keel_are_sealed_at_rest(app) {
        // A reset link travels through the job queue sealed: the payload never holds the token.
        register(app, "ada@example.com").await;
        assert_eq!(post(app, "/v1/store/auth/password-reset", json!({"email": "ada@example.com"})).await.0, 202);
        let (status, jobs) = app.admin_json(Method::GET, "/v1/admin/jobs?queue=mail&limit=100", None).await;
        assert_eq!(status, 200);
        let text = jobs.to_string();
        assert!(text.contains("sealed_data") && text.contains("ks1."), "{text}");
        assert!(!text.contains("keel_tk_"), "a mail job holds a token in clear");

        // Webhook signing secrets are sealed in their column.
        let (status, hook) = app.admin_json(Method::POST, "/v1/admin/webhooks",
            Some(json!({"url": "https://example.com/hooks", "events": ["product.created"]}))).await;
        assert_eq!(status, 201, "{hook}");
        assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"));
        let mut conn = app.services.db.read().await.unwrap();
        let row = keel_store::webhooks::find_endpoint(&mut conn.conn(), hook["id"].as_str().unwrap()).await.unwrap().unwrap();
        assert!(row.secret.starts_with("ks1.") && !row.secret.contains(hook["secret"].as_str().unwrap()));

        // A stored idempotent answer (here: a new API key's secret) is sealed, and replays intact.
        let create = || app.admin(Method::POST, "/v1/admin/api-keys").header("idempotency-key", "key-1").json(&json!({"name": "sync", "permissions": ["products:read"]}));
        let (status, first) = json_of(create().send().await.unwrap()).await;
        assert_eq!(status, 201);
        let replay = create().send().await.unwrap();
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
        let (_, again) = json_of(replay).await;
        assert_eq!(again["secret"], first["secret"]);
        let scope = keel_services::idempotency::scope_for_credential(&format!("Bearer {}", app.admin_key));
        let stored = keel_store::idempotency::find(&mut conn.conn(), &scope, "key-1").await.unwrap().unwrap();
        let body = stored.response_body.unwrap();
        assert!(body.starts_with("ks1.") && !body.contains(first["secret"].as_str().unwrap()));
    }
}
