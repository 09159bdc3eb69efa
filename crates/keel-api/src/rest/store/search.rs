//! Store search: full-text with typo tolerance, facets, filters and sorts; autocomplete.

use crate::AppState;
use crate::cache::CacheTags;
use crate::extract::ApiQuery;
use crate::problem::{ApiError, Problem};
use axum::extract::State;
use axum::{Extension, Json};
use keel_services::search::{SearchPage, SearchParams, Suggestions};
use serde::Deserialize;

/// Search published products.
///
/// Finds products by title, description, tags, SKU, category, collection and option values,
/// forgiving a typo per word and completing the last word. Returns a page of products, facet
/// counts over every result (categories, collections, price ranges, option values, stock) and
/// the total; pass `next_cursor` back as `cursor` for the next page.
#[utoipa::path(
    get, path = "/v1/store/search", tag = "store", operation_id = "store_search",
    params(SearchParams),
    responses(
        (status = 200, description = "A page of results with facets", body = SearchPage),
        (status = 422, description = "Invalid parameter value", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<(Extension<CacheTags>, Json<SearchPage>), ApiError> {
    let region = match params.region_id {
        Some(id) => Some(state.services.regions.named(id).await?),
        None => None,
    };
    let currency = region.as_ref().map_or("USD", |r| r.currency.as_str());
    let (mut data, facets, total, next_cursor) = state.services.search.search(&params, currency).await?;
    super::catalog::for_region(&state, &mut data, params.region_id).await?;
    let mut tags = CacheTags::of_products(&data, false);
    tags.0.push(CacheTags::SEARCH.to_string());
    Ok((Extension(tags), Json(SearchPage { data, facets, total, next_cursor })))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestQuery {
    /// What the shopper has typed so far.
    pub q: String,
    /// How many suggestions, 1 to 20 (default 8).
    pub limit: Option<u32>,
}

/// Suggest products as the shopper types (autocomplete).
#[utoipa::path(
    get, path = "/v1/store/search/suggest", tag = "store", operation_id = "store_search_suggest",
    params(SuggestQuery),
    responses(
        (status = 200, description = "Products whose titles complete the text", body = Suggestions),
        (status = 422, description = "Invalid parameter value", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn suggest(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SuggestQuery>,
) -> Result<(Extension<CacheTags>, Json<Suggestions>), ApiError> {
    let data = state.services.search.suggest(&query.q, query.limit.unwrap_or(8)).await?;
    Ok((Extension(CacheTags(vec![CacheTags::SEARCH.to_string()])), Json(Suggestions { data })))
}
