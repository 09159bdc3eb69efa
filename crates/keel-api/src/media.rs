//! Placeholder product images for the demo catalog, drawn as SVG on request, so the demo needs
//! no image files and no network. `/media/demo/linen-shirt-1.svg` → a tile with the name on it.

use crate::problem::ApiError;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const PALETTE: &[(&str, &str)] = &[
    ("#1f3a5f", "#f4d35e"),
    ("#2a9d8f", "#f1faee"),
    ("#e76f51", "#264653"),
    ("#6d597a", "#ffe8d6"),
    ("#344e41", "#dad7cd"),
    ("#9d0208", "#ffba08"),
];

pub async fn demo_image(Path(file): Path<String>) -> Result<Response, ApiError> {
    let Some(stem) = file.strip_suffix(".svg") else { return Err(ApiError::not_found("image")) };
    let valid = !stem.is_empty() && stem.len() <= 120 && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid {
        return Err(ApiError::not_found("image"));
    }
    let hash = stem.bytes().fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
    let (bg, fg) = PALETTE[hash as usize % PALETTE.len()];
    // The stem is letters, digits and hyphens only, so it is safe inside the SVG text.
    let label = stem.replace('-', " ");
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="800" height="800" viewBox="0 0 800 800"><rect width="800" height="800" fill="{bg}"/><circle cx="400" cy="340" r="150" fill="{fg}" opacity="0.35"/><text x="400" y="620" font-family="sans-serif" font-size="40" fill="{fg}" text-anchor="middle">{label}</text></svg>"#
    );
    let mut response = svg.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400, immutable"));
    Ok(response)
}
