//! The browser faces Keel ships in its binary: the admin panel at `/admin` and the demo storefront
//! at `/demo`.
//!
//! Both are static files under `crates/keel-api/web/` compiled in by `build.rs`: plain HTML, CSS
//! and JavaScript modules, no build step, nothing from a CDN. They call the same REST API as any
//! other client — the storefront the public Store API, the panel the admin API — so every rule
//! and permission is the API's. The panel signs in through [`session`], which keeps the staff
//! token in an `HttpOnly` cookie and guards every change with a CSRF token.

pub mod session;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;
use std::sync::LazyLock;

mod files {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// The policy of the panel's and the storefront's pages: scripts and styles from Keel only (no
/// inline script or style at all), images from Keel or any HTTPS address (product images are
/// URLs), requests to Keel only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
    connect-src 'self'; font-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: HeaderValue,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    files::FILES
        .iter()
        .map(|(path, body)| {
            let hash = xxhash_rust::xxh3::xxh3_64(body);
            let etag = HeaderValue::from_str(&format!("\"{hash:016x}\"")).expect("hex is a valid header");
            (*path, Asset { body, content_type: content_type(path), etag })
        })
        .collect()
});

/// Answers one compiled-in file, revalidated by its ETag on every use (the names carry no
/// version, so a new binary's files are picked up at once).
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.get(path) else {
        return crate::problem::ApiError::not_found("page").into_response();
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == asset.etag.to_str().unwrap_or_default()));
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { Body::from(asset.body).into_response() };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::ETAG, asset.etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if asset.content_type.starts_with("text/html") {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    response
}

/// A file of one of the two sites: `site/` alone is its `index.html`; no path leaves the site.
fn site_file(site: &str, file: &str, headers: &HeaderMap) -> Response {
    let file = if file.is_empty() || file.ends_with('/') { format!("{file}index.html") } else { file.to_string() };
    if file.split('/').any(|part| part == ".." || part.is_empty()) {
        return crate::problem::ApiError::not_found("page").into_response();
    }
    serve(&format!("{site}/{file}"), headers)
}

pub async fn admin_root() -> Redirect {
    Redirect::permanent("/admin/")
}

pub async fn admin_index(headers: HeaderMap) -> Response {
    site_file("admin", "", &headers)
}

pub async fn admin_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    site_file("admin", &file, &headers)
}

pub async fn demo_root() -> Redirect {
    Redirect::permanent("/demo/")
}

pub async fn demo_index(headers: HeaderMap) -> Response {
    site_file("demo", "", &headers)
}

pub async fn demo_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    site_file("demo", &file, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sites_are_compiled_in_with_their_types() {
        assert_eq!(ASSETS["admin/index.html"].content_type, "text/html; charset=utf-8");
        assert_eq!(ASSETS["demo/index.html"].content_type, "text/html; charset=utf-8");
        assert!(ASSETS.keys().any(|k| k.starts_with("admin/") && k.ends_with(".js")));
        assert!(ASSETS.keys().any(|k| k.starts_with("demo/") && k.ends_with(".css")));
    }

    #[test]
    fn no_path_leaves_its_site() {
        let headers = HeaderMap::new();
        for file in ["../admin/index.html", "a//b", "..", "x/../../etc"] {
            assert_eq!(site_file("demo", file, &headers).status(), StatusCode::NOT_FOUND, "{file}");
        }
    }

    #[test]
    fn no_page_has_inline_script_or_style() {
        for (path, asset) in ASSETS.iter().filter(|(p, _)| p.ends_with(".html")) {
            let text = std::str::from_utf8(asset.body).unwrap();
            assert!(!text.contains("<script>") && !text.contains("style=\"") && !text.contains("<style"), "{path}");
            assert!(!text.contains(" on") || !regex_like_handler(text), "{path} has an inline event handler");
        }
    }

    /// `onclick=` and friends: what a strict CSP would refuse.
    fn regex_like_handler(text: &str) -> bool {
        text.match_indices(" on").any(|(i, _)| {
            let rest = &text[i + 3..];
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        })
    }
}
