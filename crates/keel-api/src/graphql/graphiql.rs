//! GraphiQL, served offline: `GET /graphql` (store schema) and `GET /v1/admin/graphql` (admin
//! schema; put the token in GraphiQL's headers tab as `{"Authorization": "Bearer …"}`; it is not
//! kept in the browser's storage).
//!
//! The assets (GraphiQL 3 and React 18 UMD builds from npm, see `assets/graphiql/LICENSE`) are
//! compiled into the binary; the page loads nothing from a CDN and runs under Keel's strict CSP
//! (no inline scripts).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};

const ASSETS: &[(&str, &[u8], &str)] = &[
    ("graphiql.min.js", include_bytes!("../../assets/graphiql/graphiql.min.js"), "text/javascript; charset=utf-8"),
    ("graphiql.min.css", include_bytes!("../../assets/graphiql/graphiql.min.css"), "text/css; charset=utf-8"),
    (
        "react.production.min.js",
        include_bytes!("../../assets/graphiql/react.production.min.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "react-dom.production.min.js",
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
        "text/javascript; charset=utf-8",
    ),
    ("init.js", INIT.as_bytes(), "text/javascript; charset=utf-8"),
];

/// Starts GraphiQL against the endpoint the page names (kept in a file for the CSP).
const INIT: &str = r#"const root = document.getElementById("graphiql");
const fetcher = GraphiQL.createFetcher({ url: root.dataset.endpoint });
ReactDOM.render(
  React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true, shouldPersistHeaders: false }),
  root,
);
"#;

fn page(endpoint: &str, title: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="stylesheet" href="/graphql/assets/graphiql.min.css">
  <style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
  <div id="graphiql" data-endpoint="{endpoint}">Loading GraphiQL…</div>
  <script src="/graphql/assets/react.production.min.js"></script>
  <script src="/graphql/assets/react-dom.production.min.js"></script>
  <script src="/graphql/assets/graphiql.min.js"></script>
  <script src="/graphql/assets/init.js"></script>
</body>
</html>
"#
    )
}

/// The GraphiQL page for the schema served at the same path.
pub async fn graphiql_page(uri: Uri) -> Response {
    let admin = uri.path().starts_with("/v1/admin");
    let html =
        if admin { page("/v1/admin/graphql", "Keel admin GraphQL") } else { page("/graphql", "Keel store GraphQL") };
    // The strict CSP every HTML answer gets (`middleware::security_headers`) fits: scripts and
    // styles from Keel only, and the stylesheet's fonts as data: URLs.
    Html(html).into_response()
}

pub async fn graphiql_asset(Path(file): Path<String>) -> Response {
    let Some((_, body, content_type)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return crate::problem::for_status(StatusCode::NOT_FOUND).into_response();
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    response
}
