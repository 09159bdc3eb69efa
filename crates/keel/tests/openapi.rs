//! The OpenAPI document: generated from the handlers, complete, committed, and browsable offline.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use serde_json::Value;
use std::path::Path;

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().and_then(Path::parent).expect("workspace root")
}

fn document() -> Value {
    serde_json::from_str(&keel_api::openapi().to_pretty_json().unwrap()).unwrap()
}

#[test]
fn is_openapi_3_1_with_schemas_for_every_body() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "Keel");
    let text = doc.to_string();
    // Every $ref points at a schema that exists.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
    // Admin operations name the permission they need.
    let create = &doc["paths"]["/v1/admin/products"]["post"];
    assert_eq!(create["security"][0]["admin"][0], "products:write");
}

/// `docs/openapi.json` is the committed copy; regenerate with `KEEL_UPDATE_SNAPSHOTS=1 cargo test`.
#[test]
fn committed_document_is_current() {
    let path = workspace_root().join("docs/openapi.json");
    let generated = keel_api::openapi().to_pretty_json().unwrap() + "\n";
    if std::env::var("KEEL_UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run `KEEL_UPDATE_SNAPSHOTS=1 cargo test -p keel --test openapi`"
    );
}

/// Routes can only be added through `utoipa_axum::routes!` (and so appear in the document); the
/// only plain `.route(` calls allowed are the non-API ones listed in `NON_API_ROUTES`.
#[test]
fn no_route_bypasses_the_document() {
    let src = workspace_root().join("crates/keel-api/src");
    let mut stack = vec![src];
    let mut plain_routes = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let count = text.matches(".route(NON_API_ROUTES[").count();
                plain_routes += count;
                assert_eq!(
                    text.matches(".route(").count(),
                    count,
                    "{} registers a route outside the OpenAPI document",
                    path.display()
                );
            }
        }
    }
    assert_eq!(plain_routes, keel_api::NON_API_ROUTES.len());
}

backend_tests! {
    #[demo = true]
    async fn every_documented_operation_is_served(app) {
        let doc = document();
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let concrete = path
                    .replace("{id_or_handle}", "classic-tee")
                    .replace("{id}", "prod_01m882rvxcewhv1k4che3z9z31");
                let request = app.http.request(method.to_uppercase().parse().unwrap(), app.url(&concrete)).bearer_auth(&app.admin_key);
                let request = if method == "get" || method == "delete" { request } else { request.json(&serde_json::json!({})) };
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let (_, body) = common::json_of(response).await;
                let unrouted = status == 405 || (status == 404 && body["detail"] == "no route matches this path");
                assert!(!unrouted, "{method} {path} is documented but not routed ({status})");
                operations += 1;
            }
        }
        assert!(operations >= 25, "{operations} operations");
        let (status, served) = app.get_json("/openapi.json").await;
        assert_eq!(status, 200);
        assert_eq!(served, doc, "the served document is the generated one");
    }

    #[demo = false]
    async fn the_docs_page_loads_only_local_assets(app) {
        let page = app.get("/docs").await;
        assert_eq!(page.status(), 200);
        assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
        let html = page.text().await.unwrap();
        assert!(!html.contains("http://") && !html.contains("https://"), "no external URL in the page");
        let mut assets = 0;
        for attr in ["src=\"", "href=\""] {
            for part in html.split(attr).skip(1) {
                let url = part.split('"').next().unwrap();
                let asset = app.get(url).await;
                assert_eq!(asset.status(), 200, "{url}");
                assert!(asset.bytes().await.unwrap().len() > 20, "{url} has content");
                assets += 1;
            }
        }
        assert_eq!(assets, 3, "stylesheet, bundle, init script");
    }
}

/// Headless Chromium (Debian's `chromium`) loads `/docs` and Swagger UI renders every documented
/// path from Keel's own assets — on a machine whose network is closed, so nothing came from a CDN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_renders_in_a_real_browser() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists());
    let Some(chromium) = chromium else {
        assert!(!common::in_ci(), "CI=true but Chromium is not installed (apt-get install chromium)");
        eprintln!("browser test NOT RUN: Chromium is not installed (apt-get install chromium)");
        return;
    };
    let db = common::Database::create(common::Backend::Sqlite).await.unwrap();
    let app = common::TestApp::spawn(&db, common::Backend::Sqlite, false).await;
    let profile = tempfile::tempdir().unwrap();
    let url = app.url("/docs");
    let output = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
            // Swagger UI renders only the operations in view once a document is large: a window
            // tall enough for every one of them.
            "--window-size=1280,40000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&url)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    app.stop().await;
    let dom = String::from_utf8_lossy(&output.stdout);
    let doc = document();
    for path in doc["paths"].as_object().unwrap().keys() {
        assert!(dom.contains(&format!("data-path=\"{path}\"")), "Swagger UI did not render {path}");
    }
}
