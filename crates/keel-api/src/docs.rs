//! The OpenAPI document and the interactive docs page, served offline.
//!
//! The Swagger UI assets (from the `swagger-ui-dist` npm package, see `assets/swagger-ui/LICENSE`)
//! are compiled into the binary: `/docs` works with no network and loads nothing from a CDN.

use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

const SWAGGER_JS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui.css");

const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Keel API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/init.js"></script>
</body>
</html>
"#;

/// Kept in its own file so the page works under a CSP without `unsafe-inline`.
const INIT: &str = r##"window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"##;

pub async fn openapi_json(State(state): State<AppState>) -> Response {
    let mut response = state.openapi_json.as_ref().clone().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The docs page (under the strict CSP every HTML answer gets: `middleware::security_headers`).
pub async fn docs_page() -> Response {
    Html(INDEX).into_response()
}

fn asset(body: &'static [u8], content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    response
}

pub async fn swagger_js() -> Response {
    asset(SWAGGER_JS, "text/javascript; charset=utf-8")
}

pub async fn swagger_css() -> Response {
    asset(SWAGGER_CSS, "text/css; charset=utf-8")
}

pub async fn init_js() -> Response {
    asset(INIT.as_bytes(), "text/javascript; charset=utf-8")
}
