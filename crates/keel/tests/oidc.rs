//! Staff sign-in through OpenID Connect, end to end against a real OpenID Provider: the
//! certified `oidc-provider` package (tests/oidc-provider), driven through its login and consent
//! pages over HTTP like a browser. Needs Node.js and `npm ci --prefix tests/oidc-provider`; under
//! CI a missing provider fails the test.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{Backend, Database, TestApp, in_ci, json_of};
use keel_services::oidc::OidcProviderConfig;
use reqwest::{Client, Url, header, redirect::Policy};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const SECRET: &str = "keel-test-secret";

/// A running provider; killed on drop.
struct Provider {
    issuer: String,
    _child: tokio::process::Child,
}

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc-provider")
}

/// Starts the provider with Keel's callback as its one redirect URI; `None` (outside CI) when
/// Node.js or the package is missing.
async fn start_provider(callback: &str) -> Option<Provider> {
    let dir = provider_dir();
    if !dir.join("node_modules/oidc-provider").exists() {
        assert!(!in_ci(), "CI=true but tests/oidc-provider is not installed (npm ci --prefix tests/oidc-provider)");
        eprintln!("OIDC test NOT RUN: run `npm ci --prefix tests/oidc-provider`");
        return None;
    }
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join("provider.mjs"))
        .env("PORT", "0")
        .env("CLIENT_ID", "keel")
        .env("CLIENT_SECRET", SECRET)
        .env("REDIRECT_URI", callback)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("provider starts")
        .unwrap()
        .unwrap();
    let issuer = line.strip_prefix("listening on ").expect("the ready line").trim().to_string();
    Some(Provider { issuer, _child: child })
}

/// Signs `login` in on the provider's development pages and consents, starting from
/// `authorize_url`, like a browser would. Returns the provider's final redirect to the callback
/// (`…/callback?code=…&state=…&iss=…`) without requesting it. (See tests/oidc-provider/DRIVING.md.)
async fn drive_provider_login(authorize_url: &str, login: &str) -> String {
    let http = Client::builder().redirect(Policy::none()).timeout(Duration::from_secs(10)).build().unwrap();
    let start = Url::parse(authorize_url).unwrap();
    let callback = start.query_pairs().find(|(k, _)| k == "redirect_uri").map(|(_, v)| v.into_owned()).unwrap();
    let mut cookies: BTreeMap<String, String> = BTreeMap::new();
    let mut url = start;
    let mut form: Option<Vec<(&str, &str)>> = None;
    for _ in 0..12 {
        let request = match form.take() {
            None => http.get(url.clone()),
            Some(fields) => {
                let mut encoder = Url::parse("http://form.invalid/").unwrap();
                encoder.query_pairs_mut().extend_pairs(fields);
                http.post(url.clone())
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(encoder.query().unwrap_or_default().to_string())
            }
        };
        let cookie_header = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let request = if cookie_header.is_empty() { request } else { request.header(header::COOKIE, cookie_header) };
        let response = request.send().await.unwrap();
        for set_cookie in response.headers().get_all(header::SET_COOKIE) {
            let set_cookie = set_cookie.to_str().unwrap();
            let (pair, attributes) = set_cookie.split_once(';').unwrap_or((set_cookie, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.to_ascii_lowercase().contains("expires=thu, 01 jan 1970") {
                cookies.remove(name.trim());
            } else {
                cookies.insert(name.trim().to_string(), value.trim().to_string());
            }
        }
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers().get(header::LOCATION).unwrap().to_str().unwrap();
            let next = url.join(location).unwrap();
            if next.as_str().starts_with(&callback) {
                return next.to_string();
            }
            url = next;
            continue;
        }
        let page = response.text().await.unwrap();
        assert!(status.is_success(), "provider answered {status} at {url}: {page}");
        if let Some(action) = page.split("action=\"").nth(1).and_then(|rest| rest.split('"').next()) {
            url = url.join(&action.replace("&amp;", "&")).unwrap();
        }
        form = Some(if page.contains(r#"name="prompt" value="login""#) {
            vec![("prompt", "login"), ("login", login), ("password", "any-password")]
        } else if page.contains(r#"name="prompt" value="consent""#) {
            vec![("prompt", "consent")]
        } else {
            panic!("unexpected provider page at {url}: {page}")
        });
    }
    panic!("no redirect to {callback} after 12 steps")
}

/// Starts a Keel sign-in at `/login` as a browser: returns Keel's cookie and the provider URL.
async fn begin(app: &TestApp, http: &Client) -> (String, String) {
    let response = http.get(app.url("/v1/admin/auth/oidc/corp/login")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_string();
    let location = response.headers()[header::LOCATION].to_str().unwrap().to_string();
    let params: HashMap<String, String> = Url::parse(&location).unwrap().query_pairs().into_owned().collect();
    assert_eq!(params["code_challenge_method"], "S256");
    assert!(params.contains_key("nonce") && params.contains_key("state"));
    (cookie, location)
}

async fn sign_in_through_the_provider(backend: Backend) {
    keel_platform::http::install_crypto();
    let Some(db) = Database::create(backend).await else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let keel = listener.local_addr().unwrap();
    let callback = format!("http://{keel}/v1/admin/auth/oidc/corp/callback");
    let Some(provider) = start_provider(&callback).await else { return };
    let config = OidcProviderConfig {
        name: "corp".into(),
        issuer: provider.issuer.clone(),
        client_id: "keel".into(),
        client_secret: Some(SECRET.into()),
        redirect_url: callback.clone(),
        scopes: vec!["email".into(), "profile".into(), "groups".into()],
        role_claim: "groups".into(),
        role_map: [
            ("keel-admins".to_string(), "admin".to_string()),
            ("keel-support".to_string(), "support".to_string()),
        ]
        .into(),
        default_role: None,
    };
    let app = TestApp::spawn_on(&db, backend, false, listener, |c| c.oidc_providers = vec![config]).await;
    let http = Client::builder().redirect(Policy::none()).build().unwrap();

    let (_, providers) = app.get_json("/v1/admin/auth/oidc").await;
    assert_eq!(providers["data"], serde_json::json!(["corp"]));

    // alice is in keel-admins: she becomes an admin staff member and gets a session.
    let (cookie, authorize) = begin(&app, &http).await;
    let back = drive_provider_login(&authorize, "alice").await;
    let response = http.get(&back).header(header::COOKIE, &cookie).send().await.unwrap();
    let (status, pair) = json_of(response).await;
    assert_eq!(status, 200, "{pair}");
    let token = pair["access_token"].as_str().unwrap();
    let me = app.http.get(app.url("/v1/admin/auth/me")).bearer_auth(token).send().await.unwrap();
    let (_, me) = json_of(me).await;
    assert_eq!(me["staff"]["email"], "alice@example.test");
    assert_eq!(me["staff"]["role"], "admin");
    // Begun from the admin panel, the callback signs the panel in (its cookies) and goes back to it.
    let panel = http.get(app.url("/v1/admin/auth/oidc/corp/login?panel=true")).send().await.unwrap();
    let begun: Vec<String> = panel
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    assert_eq!(begun.len(), 2, "{begun:?}");
    let authorize_panel = panel.headers()[header::LOCATION].to_str().unwrap().to_string();
    let back_panel = drive_provider_login(&authorize_panel, "alice").await;
    let landed = http.get(&back_panel).header(header::COOKIE, begun.join("; ")).send().await.unwrap();
    assert_eq!(landed.status(), 303);
    assert_eq!(landed.headers()[header::LOCATION], "/admin/");
    let set: Vec<String> =
        landed.headers().get_all(header::SET_COOKIE).iter().map(|c| c.to_str().unwrap().to_string()).collect();
    let session = set.iter().find(|c| c.starts_with("keel_admin=")).expect("the panel's session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"), "{session}");
    let jar = session.split(';').next().unwrap();
    let me = app.http.get(app.url("/v1/admin/auth/me")).header(header::COOKIE, jar).send().await.unwrap();
    assert_eq!(json_of(me).await.1["staff"]["email"], "alice@example.test");

    // The same answer again (a replayed callback) is refused: the state worked once.
    let (status, _) = json_of(http.get(&back).header(header::COOKIE, &cookie).send().await.unwrap()).await;
    assert_eq!(status, 403);

    // A callback from another browser (no cookie, or another login's cookie) is refused.
    let (_, authorize) = begin(&app, &http).await;
    let back = drive_provider_login(&authorize, "alice").await;
    let (status, problem) = json_of(http.get(&back).send().await.unwrap()).await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("forbidden")));
    let (status, _) = json_of(http.get(&back).header(header::COOKIE, &cookie).send().await.unwrap()).await;
    assert_eq!(status, 403);

    // A forged code with a real state fails the exchange; a made-up state is refused.
    let (cookie, authorize) = begin(&app, &http).await;
    let back = drive_provider_login(&authorize, "alice").await;
    let mut forged = Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = forged.query_pairs().into_owned().collect();
    forged.query_pairs_mut().clear().extend_pairs(
        pairs.iter().map(|(k, v)| if k == "code" { (k.as_str(), "forged") } else { (k.as_str(), v.as_str()) }),
    );
    assert_eq!(http.get(forged.as_str()).header(header::COOKIE, &cookie).send().await.unwrap().status(), 403);
    let made_up = format!("{callback}?code=x&state=made-up");
    assert_eq!(http.get(&made_up).header(header::COOKIE, &cookie).send().await.unwrap().status(), 403);

    // bob maps to support; carol's groups map to no role, so she is refused.
    let (cookie, authorize) = begin(&app, &http).await;
    let back = drive_provider_login(&authorize, "bob").await;
    let (status, pair) = json_of(http.get(&back).header(header::COOKIE, &cookie).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let bob = pair["access_token"].as_str().unwrap();
    let staff = app.http.get(app.url("/v1/admin/staff")).bearer_auth(bob).send().await.unwrap();
    assert_eq!(staff.status(), 403, "support cannot list staff");
    let (cookie, authorize) = begin(&app, &http).await;
    let back = drive_provider_login(&authorize, "carol").await;
    let (status, problem) = json_of(http.get(&back).header(header::COOKIE, &cookie).send().await.unwrap()).await;
    assert_eq!(status, 403);
    assert!(problem["detail"].as_str().unwrap().contains("no Keel role"), "{problem}");

    // alice's second sign-in reuses her account.
    let (cookie, authorize) = begin(&app, &http).await;
    let back = drive_provider_login(&authorize, "alice").await;
    assert_eq!(http.get(&back).header(header::COOKIE, &cookie).send().await.unwrap().status(), 200);
    let (_, list) = app.admin_json(reqwest::Method::GET, "/v1/admin/staff", None).await;
    let emails: Vec<&str> = list["data"].as_array().unwrap().iter().map(|s| s["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["alice@example.test", "bob@example.test"]);

    app.stop().await;
    app.services.db.close().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_through_a_real_openid_provider_sqlite() {
    sign_in_through_the_provider(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_through_a_real_openid_provider_postgres() {
    sign_in_through_the_provider(Backend::Postgres).await;
}
