//! Store catalog routes: products, categories, collections.

use crate::AppState;
use crate::cache::CacheTags;
use crate::extract::{ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::rest::ListOf;
use axum::extract::State;
use axum::{Extension, Json};
use keel_domain::catalog::view::{Category, Collection, Product};
use keel_domain::{Currency, RegionId};
use keel_services::ServiceError;
use keel_services::catalog::{Audience, ProductList, ProductListParams};
use keel_services::regions::Region;
use serde::Deserialize;

/// List published products.
///
/// Keyset-paginated: pass `next_cursor` back as `cursor` for the next page.
#[utoipa::path(
    get, path = "/v1/store/products", tag = "store", operation_id = "store_list_products",
    params(ProductListParams),
    responses(
        (status = 200, description = "A page of products", body = ProductList),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameter value", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_products(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ProductListParams>,
) -> Result<(Extension<CacheTags>, Json<ProductList>), ApiError> {
    let mut list = state.services.catalog.list_products(Audience::Store, &params).await?;
    for_region(&state, &mut list.data, params.region_id).await?;
    Ok((Extension(CacheTags::of_products(&list.data, true)), Json(list)))
}

/// Fills what depends on the shopper's region: `in_stock` (its stock locations; all without a
/// region) and, with a region, `calculated_price` in its currency. An unknown region is a 422.
pub(super) async fn for_region(
    state: &AppState,
    products: &mut [Product],
    region: Option<RegionId>,
) -> Result<(), ApiError> {
    let services = &state.services;
    let region = match region {
        Some(id) => Some(services.regions.named(id).await?),
        None => None,
    };
    services.inventory.annotate(products, region.as_ref()).await?;
    if let Some(region) = region {
        let currency =
            Currency::parse(&region.currency).map_err(|_| ServiceError::Internal("stored currency".into()))?;
        services.price_lists.annotate(products, currency).await?;
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Variants' `in_stock` counts this region's stock locations (default: all), and their
    /// `calculated_price` is in its currency.
    pub region_id: Option<RegionId>,
}

/// Get a published product by id or handle.
#[utoipa::path(
    get, path = "/v1/store/products/{id_or_handle}", tag = "store", operation_id = "store_get_product",
    params(("id_or_handle" = String, Path, description = "A product id (`prod_…`) or handle"), ProductQuery),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 404, description = "No published product with this id or handle", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(
    State(state): State<AppState>,
    ApiPath(id_or_handle): ApiPath<String>,
    ApiQuery(query): ApiQuery<ProductQuery>,
) -> Result<(Extension<CacheTags>, Json<Product>), ApiError> {
    let product = state.services.catalog.get_product(Audience::Store, &id_or_handle).await?;
    let mut products = [product];
    for_region(&state, &mut products, query.region_id).await?;
    let [product] = products;
    Ok((Extension(CacheTags::of_products([&product], false)), Json(product)))
}

/// The regions (markets) the shop sells to: currency, countries, tax-inclusive pricing.
#[utoipa::path(
    get, path = "/v1/store/regions", tag = "store", operation_id = "store_list_regions",
    responses((status = 200, description = "Every region", body = ListOf<Region>))
)]
pub async fn list_regions(State(state): State<AppState>) -> Result<Json<ListOf<Region>>, ApiError> {
    Ok(Json(ListOf { data: state.services.regions.list().await? }))
}

/// List the category tree (flat, each with its `parent_id`).
#[utoipa::path(
    get, path = "/v1/store/categories", tag = "store", operation_id = "store_list_categories",
    responses((status = 200, description = "Every category", body = ListOf<Category>))
)]
pub async fn list_categories(State(state): State<AppState>) -> Result<Json<ListOf<Category>>, ApiError> {
    Ok(Json(ListOf { data: state.services.catalog.list_categories().await? }))
}

/// List collections.
#[utoipa::path(
    get, path = "/v1/store/collections", tag = "store", operation_id = "store_list_collections",
    responses((status = 200, description = "Every collection", body = ListOf<Collection>))
)]
pub async fn list_collections(State(state): State<AppState>) -> Result<Json<ListOf<Collection>>, ApiError> {
    Ok(Json(ListOf { data: state.services.catalog.list_collections().await? }))
}
