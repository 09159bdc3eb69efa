//! Keel's HTTP edge: the REST API (`/v1/store`, `/v1/admin`), its OpenAPI document and docs page,
//! health and metrics endpoints, and the middleware every request passes through.
//!
//! Handlers are thin: extract (with problem+json rejections) → authorise → call a service →
//! respond. No SQL and no business rule lives here. Every API route is registered through
//! `utoipa_axum`'s `routes!`, so a route cannot exist without appearing in `/openapi.json`; the few
//! routes that are not API (the docs page and its assets, demo images) are listed in
//! [`NON_API_ROUTES`].

mod audit;
pub mod auth;
pub mod cache;
mod docs;
pub mod extract;
pub mod graphql;
mod idempotency;
mod media;
pub mod middleware;
mod ops;
pub mod problem;
pub mod ratelimit;
pub mod rest;
pub mod tls;
pub mod web;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::routing::get;
use keel_services::Services;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes served outside the OpenAPI document: documentation and demo media, not API.
pub const NON_API_ROUTES: &[&str] = &[
    "/openapi.json",
    "/docs",
    "/docs/assets/swagger-ui-bundle.js",
    "/docs/assets/swagger-ui.css",
    "/docs/assets/init.js",
    "/media/demo/{file}",
    "/graphql",
    "/graphql/assets/{file}",
    "/v1/admin/graphql",
    "/admin",
    "/admin/",
    "/admin/{*file}",
    "/admin/session",
    "/admin/session/refresh",
    "/demo",
    "/demo/",
    "/demo/{*file}",
];

/// HTTP settings from configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    /// Allowed CORS origins; `["*"]` for any, empty for none.
    pub cors_origins: Vec<String>,
    /// `max-age` of public catalog responses, in seconds.
    pub catalog_max_age_secs: u32,
    pub catalog_s_maxage_secs: u32,
    /// The in-process cache of public catalog answers.
    pub cache: keel_platform::cache::CacheConfig,
    /// Rate limits per class (`None`: off).
    pub rate_limits: Option<ratelimit::RateLimits>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ratelimit::IpRange>,
    /// Served over TLS: answers carry `Strict-Transport-Security`.
    pub tls: bool,
    pub graphql: graphql::GraphqlConfig,
    /// Redis, when configured: the response cache's shared tier and the rate limits' counts.
    pub redis: Option<keel_platform::redis::Redis>,
    /// The event bus this node follows (NATS), for readiness.
    pub event_bus: Option<keel_platform::bus::EventBus>,
    /// Serve the admin panel at `/admin`.
    pub admin_panel: bool,
    /// Mark the panel's cookies `Secure` (and name them `__Host-…`): Keel is reached over HTTPS,
    /// its own TLS or a proxy's.
    pub secure_cookies: bool,
    /// Serve the demo storefront at `/demo`.
    pub storefront: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            body_limit_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            cors_origins: Vec::new(),
            catalog_max_age_secs: 60,
            catalog_s_maxage_secs: 300,
            cache: keel_platform::cache::CacheConfig { max_bytes: 32 * 1024 * 1024, ttl: Duration::from_secs(300) },
            rate_limits: Some(ratelimit::RateLimits::default()),
            trusted_proxies: Vec::new(),
            tls: false,
            graphql: graphql::GraphqlConfig::default(),
            redis: None,
            event_bus: None,
            admin_panel: true,
            storefront: true,
            secure_cookies: false,
        }
    }
}

/// Renders the process's metrics in Prometheus text format.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// What every handler can reach: one shared allocation, so the clone each request and each
/// middleware layer makes is one reference count (cloning a struct of `Arc`s per request showed
/// up as a few percent of a cached read's CPU, contended counters included).
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

pub struct AppStateInner {
    pub services: Arc<Services>,
    pub metrics: Option<MetricsRender>,
    pub config: Arc<ApiConfig>,
    openapi_json: Arc<String>,
    graphql: graphql::Schemas,
    /// The response cache's shared tier, for readiness.
    cache_tier: Option<keel_platform::cache::SharedTier>,
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keel",
        description = "Keel's REST API. `/v1/store` serves shoppers: public catalog reads, and \
            customer accounts (`Authorization: Bearer <customer access token>` from \
            `POST /v1/store/auth/token`). `/v1/admin` serves staff and integrations: \
            `Authorization: Bearer <staff access token or API key>` holding the permission each \
            operation names. Errors are RFC 9457 \
            `application/problem+json`. Money is `{\"amount\": <minor units>, \"currency\": \"EUR\"}`. \
            Lists are keyset-paginated with `limit` and an opaque `cursor`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&Conventions),
    tags(
        (name = "store", description = "Public catalog and customer accounts for shoppers"),
        (name = "admin", description = "Catalog, customers, access, jobs and webhooks for staff and API keys (permission per operation)"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

/// Documents what every operation shares: the API key scheme, and `Idempotency-Key` on each
/// mutating admin operation.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/admin") {
                continue;
            }
            for op in [&mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten() {
                let param = ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(utoipa::openapi::Required::False)
                    .description(Some("Makes a retry safe: the first response is stored for 24 h and replayed for the same key and request (`Idempotent-Replayed: true`); the same key with another request is a 422."))
                    .schema(Some(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String).max_length(Some(255))))
                    .build();
                op.parameters.get_or_insert_with(Vec::new).push(param.into());
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A staff access token (`POST /v1/admin/auth/token` or OpenID Connect) or an API key; the scopes listed on an operation are the permissions it needs."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "customer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A customer access token from `POST /v1/store/auth/token`."))
                    .build(),
            ),
        );
    }
}

fn api_routes(config: &ApiConfig, state: Option<(AppState, cache::ResponseCache)>) -> OpenApiRouter<AppState> {
    let public_catalog = HeaderValue::from_str(&format!(
        "public, max-age={}, s-maxage={}",
        config.catalog_max_age_secs, config.catalog_s_maxage_secs
    ))
    .unwrap_or(HeaderValue::from_static("public, max-age=60"));
    let private =
        || SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    let mut store = rest::store::catalog_router();
    if let Some((_, cache)) = &state {
        store = store.layer(axum::middleware::from_fn_with_state(cache.clone(), cache::respond));
    }
    let store = store
        .layer(axum::middleware::from_fn(middleware::etag))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, public_catalog));
    let accounts = rest::store::account_router().layer(private());
    let mut admin = rest::admin::router();
    if let Some((state, _)) = state {
        let reads = rest::admin::router().split_for_parts().0.with_state(state.clone());
        admin = admin
            .layer(axum::middleware::from_fn_with_state(audit::AuditState { app: state.clone(), reads }, audit::audit))
            .layer(axum::middleware::from_fn_with_state(state, idempotency::idempotency));
    }
    // The panel's cookie stands in for the Authorization header (outermost: idempotency and the
    // audit see the staff member it names).
    if config.admin_panel {
        admin = admin.layer(axum::middleware::from_fn_with_state(config.secure_cookies, web::session::cookie_auth));
    }
    let admin = admin.layer(private());
    let ops = OpenApiRouter::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(store).merge(accounts).merge(admin).merge(ops)
}

/// The OpenAPI document of every API route (what `/openapi.json` serves and `keel openapi` prints).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes(&ApiConfig::default(), None).into_openapi()
}

/// Builds the whole HTTP application.
pub fn router(services: Services, config: &ApiConfig, metrics: Option<MetricsRender>) -> Router {
    let openapi_json = openapi().to_pretty_json().unwrap_or_else(|_| "{}".to_string());
    let cache = cache::ResponseCache::new(config.cache, config.redis.clone());
    let state = AppState(Arc::new(AppStateInner {
        services: Arc::new(services),
        metrics,
        config: Arc::new(config.clone()),
        openapi_json: Arc::new(openapi_json),
        graphql: graphql::Schemas::new(&config.graphql),
        cache_tier: cache.tier().cloned(),
    }));
    cache.follow(&state.services.db);
    let (api, _) = api_routes(config, Some((state.clone(), cache))).split_for_parts();

    let non_api = Router::new()
        .route(NON_API_ROUTES[0], get(docs::openapi_json))
        .route(NON_API_ROUTES[1], get(docs::docs_page))
        .route(NON_API_ROUTES[2], get(docs::swagger_js))
        .route(NON_API_ROUTES[3], get(docs::swagger_css))
        .route(NON_API_ROUTES[4], get(docs::init_js))
        .route(NON_API_ROUTES[5], get(media::demo_image))
        .route(NON_API_ROUTES[6], get(graphql::graphiql_page).post(graphql::store_endpoint))
        .route(NON_API_ROUTES[7], get(graphql::graphiql_asset))
        .route(NON_API_ROUTES[8], get(graphql::graphiql_page).post(graphql::admin_endpoint));
    let non_api = if config.admin_panel {
        use web::session;
        let session_routes = get(session::current).post(session::sign_in).delete(session::sign_out).layer(no_store());
        non_api
            .route(NON_API_ROUTES[9], get(web::admin_root))
            .route(NON_API_ROUTES[10], get(web::admin_index))
            .route(NON_API_ROUTES[11], get(web::admin_file))
            .route(NON_API_ROUTES[12], session_routes)
            .route(NON_API_ROUTES[13], axum::routing::post(session::refresh).layer(no_store()))
    } else {
        non_api
    };
    let non_api = if config.storefront {
        non_api
            .route(NON_API_ROUTES[14], get(web::demo_root))
            .route(NON_API_ROUTES[15], get(web::demo_index))
            .route(NON_API_ROUTES[16], get(web::demo_file))
    } else {
        non_api
    };

    let request_id = HeaderName::from_static("x-request-id");
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http().make_span_with(middleware::request_span).on_response(middleware::record_status),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(axum::middleware::from_fn_with_state(config.tls, middleware::security_headers))
        .layer(axum::middleware::from_fn(middleware::problem_for_bare_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(cors(config))
        .layer(axum::middleware::from_fn_with_state(
            ratelimit::Edge::new(config.trusted_proxies.clone(), config.rate_limits, config.redis.clone()),
            ratelimit::edge,
        ))
        .layer(axum::middleware::from_fn(middleware::etag_encoding))
        .layer(CompressionLayer::new().gzip(true))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, config.request_timeout))
        .layer(DefaultBodyLimit::max(config.body_limit_bytes));

    api.merge(non_api)
        .fallback(|| async { problem::for_status(StatusCode::NOT_FOUND) })
        .route_layer(axum::middleware::from_fn(middleware::record_metrics))
        .layer(layers)
        .with_state(state)
}

/// Answers no cache may keep (sessions, tokens).
fn no_store() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

fn cors(config: &ApiConfig) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("tracestate"),
        ])
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("ratelimit"),
            HeaderName::from_static("ratelimit-policy"),
        ])
        .max_age(Duration::from_secs(600));
    if config.cors_origins.iter().any(|o| o == "*") {
        return base.allow_origin(AllowOrigin::any());
    }
    let origins: Vec<HeaderValue> = config.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    base.allow_origin(AllowOrigin::list(origins))
}
