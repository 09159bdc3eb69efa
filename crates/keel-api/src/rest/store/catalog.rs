//! Store catalog routes: products, categories, collections.

use crate::AppState;
use crate::extract::{ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::rest::ListOf;
use axum::Json;
use axum::extract::State;
use keel_domain::catalog::view::{Category, Collection, Product};
use keel_services::catalog::{Audience, ProductList, ProductListParams};

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
) -> Result<Json<ProductList>, ApiError> {
    Ok(Json(state.services.catalog.list_products(Audience::Store, &params).await?))
}

/// Get a published product by id or handle.
#[utoipa::path(
    get, path = "/v1/store/products/{id_or_handle}", tag = "store", operation_id = "store_get_product",
    params(("id_or_handle" = String, Path, description = "A product id (`prod_…`) or handle")),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 404, description = "No published product with this id or handle", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(
    State(state): State<AppState>,
    ApiPath(id_or_handle): ApiPath<String>,
) -> Result<Json<Product>, ApiError> {
    Ok(Json(state.services.catalog.get_product(Audience::Store, &id_or_handle).await?))
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
