//! Properties of the data layer seen from outside: no N+1 statements, concurrent writers and
//! readers on both engines, and two migration sets that describe the same schema.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use reqwest::Method;
use serde_json::json;
use sqlx::Connection;
use std::collections::BTreeSet;

/// Statements one GET costs, measured on the app's own database handle.
async fn statements_for(app: &common::TestApp, path: &str) -> u64 {
    let before = app.services.db.statements_executed();
    let (status, _) = app.get_json(path).await;
    assert_eq!(status, 200, "{path}");
    app.services.db.statements_executed() - before
}

backend_tests! {
    #[demo = true]
    async fn a_page_costs_the_same_statements_whatever_its_size(app) {
        let five = statements_for(app, "/v1/store/products?limit=5").await;
        let fifty = statements_for(app, "/v1/store/products?limit=50").await;
        assert_eq!(five, fifty, "a page of 50 must not cost more statements than a page of 5");
        // 8 for the page and its relations, 2 for the variants' stock (flags and levels).
        assert!(five <= 10, "{five} statements for a page");
        let sorted = statements_for(app, "/v1/store/products?limit=50&sort=price&category=apparel").await;
        assert!(sorted <= 11, "{sorted} statements with a category filter and price sort");
        let detail = statements_for(app, "/v1/store/products/classic-tee").await;
        assert!(detail <= 10, "{detail} statements for a product page");
        // A region adds its own lookup (3) and the running price lists' prices (1), whatever the
        // page size.
        let (_, regions) = app.get_json("/v1/store/regions").await;
        let region = regions["data"][0]["id"].as_str().unwrap().to_string();
        let five = statements_for(app, &format!("/v1/store/products?limit=5&region_id={region}")).await;
        let fifty = statements_for(app, &format!("/v1/store/products?limit=50&region_id={region}")).await;
        assert_eq!(five, fifty);
        assert!(five <= 14, "{five} statements for a page with a region");
    }

    #[demo = false]
    async fn concurrent_writers_and_readers_all_succeed(app) {
        let mut writers = tokio::task::JoinSet::new();
        let mut readers = tokio::task::JoinSet::new();
        for i in 0..16 {
            let body = json!({
                "title": format!("Concurrent {i}"),
                "status": "published",
                "variants": [{"sku": format!("CONC-{i}"), "prices": [{"amount": 100 + i, "currency": "USD"}]}]
            });
            writers.spawn(async move { app.admin_json(Method::POST, "/v1/admin/products", Some(body)).await.0 });
            readers.spawn(async move { app.get_json("/v1/store/products?limit=100").await.0 });
        }
        let written = writers.join_all().await;
        let read = readers.join_all().await;
        assert!(written.iter().all(|s| *s == 201), "{written:?}");
        assert!(read.iter().all(|s| *s == 200), "{read:?}");
        let (_, page) = app.get_json("/v1/store/products?limit=100").await;
        assert_eq!(page["data"].as_array().unwrap().len(), 16);
    }
}

#[tokio::test]
async fn both_migration_sets_describe_the_same_tables_and_columns() {
    let sqlite_db = common::Database::create(common::Backend::Sqlite).await.unwrap();
    let services = keel::app::open(&sqlite_db.config).await.unwrap();
    services.db.close().await;
    let mut sqlite =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", sqlite_db.sqlite_path().display())).await.unwrap();
    let sqlite_columns: BTreeSet<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut sqlite)
    .await
    .unwrap()
    .into_iter()
    .collect();

    let Some(pg_db) = common::Database::create(common::Backend::Postgres).await else { return };
    let services = keel::app::open(&pg_db.config).await.unwrap();
    services.db.close().await;
    let mut pg = sqlx::PgConnection::connect(pg_db.config.database_url.as_deref().unwrap()).await.unwrap();
    let pg_columns: BTreeSet<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut pg)
    .await
    .unwrap()
    .into_iter()
    .collect();
    drop(pg);
    pg_db.drop_now().await;

    assert!(sqlite_columns.len() > 50, "{} columns", sqlite_columns.len());
    let only_sqlite: Vec<_> = sqlite_columns.difference(&pg_columns).collect();
    let only_pg: Vec<_> = pg_columns.difference(&sqlite_columns).collect();
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "only in SQLite: {only_sqlite:?}; only in PostgreSQL: {only_pg:?}"
    );
}

/// During a rolling deployment the previous release's nodes start on a database the new release
/// has already migrated (expand): a newer migration they do not know is no reason to refuse. A
/// migration unknown to the binary but older than its newest is: another build made it.
#[tokio::test]
async fn a_node_starts_on_a_database_a_newer_release_has_migrated_and_not_on_another_builds() {
    for backend in [common::Backend::Sqlite, common::Backend::Postgres] {
        let Some(db) = common::Database::create(backend).await else { return };
        let db = std::sync::Arc::new(db);
        let test = {
            let db = db.clone();
            async move {
                let services = keel::app::open(&db.config).await.unwrap();
                services.db.close().await;
                let latest = keel_store::latest_migration();
                mark_applied(&db, backend, latest + 1).await;
                let again = keel::app::open(&db.config).await.expect("the older binary starts");
                let product = serde_json::from_value(json!({"title": "After expand", "status": "published"})).unwrap();
                again.catalog.create_product(&product).await.expect("and works on the expanded schema");
                again.db.close().await;

                mark_applied(&db, backend, 0).await;
                let Err(refused) = keel::app::open(&db.config).await else {
                    panic!("started on another build's schema")
                };
                assert!(format!("{refused:#}").contains("another build"), "{refused:#}");
            }
        };
        common::then_clean_up(test, async { db.drop_now().await }).await;
    }
}

/// Records `version` as applied, as a binary that knows it would have.
async fn mark_applied(db: &common::Database, backend: common::Backend, version: i64) {
    let insert = format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ({version}, 'another release', TRUE, X'00', 0)"
    );
    match backend {
        common::Backend::Sqlite => {
            let url = format!("sqlite://{}", db.sqlite_path().display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(insert)).execute(&mut c).await.unwrap();
        }
        common::Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(db.config.database_url.as_deref().unwrap()).await.unwrap();
            let insert = insert.replace("X'00'", "'\\x00'::bytea");
            sqlx::query(sqlx::AssertSqlSafe(insert)).execute(&mut c).await.unwrap();
        }
    }
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let mut db = common::Database::create(common::Backend::Sqlite).await.unwrap();
    db.config.cors_origins = "https://shop.example".into();
    let app = common::TestApp::spawn(&db, common::Backend::Sqlite, false).await;
    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, app.url("/v1/store/products"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let allowed = preflight("https://shop.example").await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://shop.example");
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(!refused.headers().contains_key("access-control-allow-origin"));
    app.stop().await;
}
